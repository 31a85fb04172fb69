//! The consumers told once the secrets are written: `dispatch` entries
//! (GitHub events, Vercel redeploys, Fly machine updates, Netlify builds) and the one `notify-url` message.

use super::error::{bad, shown, BadInput};
use super::plans::GroupPlan;
use super::raw::Raw;
use super::targets::{fly_app, Platform, Scope};
use super::values::{host_of, lines, repo, slug, webhook_url, Repo};
use crate::secret::Secret;

/// The `repository_dispatch` event type unless an entry names one.
pub const DEFAULT_EVENT_TYPE: &str = "turso-token-rotated";

/// A consumer told once the secrets are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dispatch {
    /// `repository_dispatch` with this event type.
    Repository { repo: Repo, event_type: String },
    /// `workflow_dispatch` of a workflow file at a ref, with no inputs.
    Workflow { repo: Repo, file: String, git_ref: String },
    /// A redeploy of a Vercel project's live production deployment.
    Vercel { project: String },
    /// An update of a Fly app's started machines, so they read the new secrets.
    Fly { app: String },
    /// A build of a Netlify site's production branch.
    Netlify { site: String },
}

impl Dispatch {
    /// The entry as the `dispatch` input writes it.
    pub fn spec(&self) -> String {
        match self {
            Dispatch::Repository { repo, event_type } if event_type == DEFAULT_EVENT_TYPE => {
                format!("repository:{repo}")
            }
            Dispatch::Repository { repo, event_type } => format!("repository:{repo}:{event_type}"),
            Dispatch::Workflow { repo, file, git_ref } => format!("workflow:{repo}/{file}@{git_ref}"),
            Dispatch::Vercel { project } => format!("vercel:{project}"),
            Dispatch::Fly { app } => format!("fly:{app}"),
            Dispatch::Netlify { site } => format!("netlify:{site}"),
        }
    }

    pub fn platform(&self) -> Platform {
        match self {
            Dispatch::Vercel { .. } => Platform::Vercel,
            Dispatch::Fly { .. } => Platform::Fly,
            Dispatch::Netlify { .. } => Platform::Netlify,
            _ => Platform::GitHub,
        }
    }
}

/// The shape of the message to `notify-url`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyFormat {
    /// Slack's incoming-webhook JSON (Mattermost, Discord's `/slack` take it too).
    Slack,
    /// A message with one Adaptive Card, for Teams Workflows.
    Teams,
    /// `{"type", "timestamp", "data"}`, signed per Standard Webhooks with a secret.
    Json,
}

/// Where one message about the run goes.
#[derive(Debug, Clone)]
pub struct Notify {
    /// The URL is a credential: kept as a secret, never printed.
    pub url: Secret,
    /// Its path and query, the secret part, which a server may echo alone.
    pub path: Secret,
    /// Its host, the only part messages name.
    pub host: String,
    pub format: NotifyFormat,
    /// A Standard Webhooks signing secret, `whsec_` and the base64 key.
    pub secret: Option<Secret>,
    /// Only when the run fails.
    pub only_on_failure: bool,
}

/// The `dispatch` input: one consumer a line. `fly:APP` needs a
/// `fly:APP:…` target: the machines must have a new secrets version to read.
pub(super) fn dispatch(raw: &Raw, plans: &[GroupPlan]) -> Result<Vec<Dispatch>, BadInput> {
    let dispatch: Vec<Dispatch> = lines(raw.get("dispatch"))
        .iter()
        .map(|entry| dispatch_entry(entry))
        .collect::<Result<_, _>>()?;
    for d in &dispatch {
        if let Dispatch::Fly { app } = d {
            let written = plans
                .iter()
                .flat_map(|p| &p.targets)
                .any(|t| matches!(&t.scope, Scope::Fly { app: a } if a == app));
            if !written {
                return bad(format!("Input `dispatch`: `fly:{app}` needs a `fly:{app}:NAME` target in the same run: Fly machines are updated to read the secrets version a write answers."));
            }
        }
    }
    Ok(dispatch)
}

/// One `dispatch` line.
fn dispatch_entry(entry: &str) -> Result<Dispatch, BadInput> {
    let expected = "Expected `repository:OWNER/REPO[:EVENT_TYPE]`, `workflow:OWNER/REPO/WORKFLOW_FILE@REF`, `vercel:PROJECT`, `fly:APP` or `netlify:SITE`.";
    let wrong = || {
        bad(format!(
            "Input `dispatch`: '{}' is not a consumer. {expected}",
            shown(entry)
        ))
    };
    match entry.split_once(':') {
        Some(("repository", rest)) => {
            let (repo_text, event_type) = match rest.split_once(':') {
                Some((r, e)) => (r, e.trim()),
                None => (rest, DEFAULT_EVENT_TYPE),
            };
            let Ok(repo) = repo("dispatch", repo_text.trim()) else {
                return wrong();
            };
            // GitHub takes an event type of 1 to 100 characters.
            if event_type.is_empty() || event_type.chars().count() > 100 || event_type.chars().any(char::is_control) {
                return bad(format!(
                    "Input `dispatch`: the event type in '{}' must be 1 to 100 characters.",
                    shown(entry)
                ));
            }
            Ok(Dispatch::Repository {
                repo,
                event_type: event_type.to_owned(),
            })
        }
        Some(("vercel", project)) => match slug("dispatch", project.trim()) {
            Ok(project) => Ok(Dispatch::Vercel { project }),
            Err(_) => wrong(),
        },
        Some(("fly", app)) => match fly_app("dispatch", app.trim()) {
            Ok(app) => Ok(Dispatch::Fly { app }),
            Err(_) => wrong(),
        },
        Some(("netlify", site)) => match slug("dispatch", site.trim()) {
            Ok(site) => Ok(Dispatch::Netlify { site }),
            Err(_) => wrong(),
        },
        Some(("workflow", rest)) => {
            let Some((path, git_ref)) = rest.trim().rsplit_once('@') else {
                return wrong();
            };
            let mut parts = path.splitn(3, '/');
            let (Some(owner), Some(name), Some(file)) = (parts.next(), parts.next(), parts.next()) else {
                return wrong();
            };
            let valid_ref =
                !git_ref.is_empty() && git_ref.len() <= 255 && git_ref.chars().all(|c| c.is_ascii_graphic());
            match (
                repo("dispatch", &format!("{owner}/{name}")),
                slug("dispatch", file),
                valid_ref,
            ) {
                (Ok(repo), Ok(file), true) => Ok(Dispatch::Workflow {
                    repo,
                    file,
                    git_ref: git_ref.to_owned(),
                }),
                _ => wrong(),
            }
        }
        _ => wrong(),
    }
}

/// `notify-url` and the inputs that shape the message.
pub(super) fn notify(raw: &Raw) -> Result<Option<Notify>, BadInput> {
    let format = raw.get("notify-format");
    let secret = raw.get("notify-secret");
    let only_on_failure = only_on_failure(raw.get("notify-on").as_deref())?;
    let Some(text) = raw.get("notify-url") else {
        if secret.is_some() {
            return bad("Input `notify-secret` needs `notify-url`.");
        }
        return Ok(None);
    };
    // Registered before anything can print it: a webhook URL is a credential.
    let url = Secret::new(webhook_url(&text)?);
    let host = host_of(url.expose()).to_owned();
    let after_scheme = url.expose().split_once("://").map_or("", |(_, rest)| rest);
    let path = Secret::new(after_scheme.find(['/', '?']).map_or("", |i| &after_scheme[i..]));
    let format = notify_format(format.as_deref(), &host)?;
    let secret = notify_secret(secret, format)?;
    Ok(Some(Notify {
        url,
        path,
        host,
        format,
        secret,
        only_on_failure,
    }))
}

/// `notify-on`.
pub(super) fn only_on_failure(on: Option<&str>) -> Result<bool, BadInput> {
    match on {
        None | Some("always") => Ok(false),
        Some("failure") => Ok(true),
        Some(other) => bad(format!(
            "Input `notify-on`: '{}' is not valid. Expected `always` or `failure`.",
            shown(other)
        )),
    }
}

/// `notify-format`; `auto` goes by the host.
fn notify_format(format: Option<&str>, host: &str) -> Result<NotifyFormat, BadInput> {
    match format {
        None | Some("auto") => Ok(match host {
            "hooks.slack.com" => NotifyFormat::Slack,
            h if [".logic.azure.com", ".powerplatform.com", ".powerautomate.com"]
                .iter()
                .any(|suffix| h.ends_with(suffix)) =>
            {
                NotifyFormat::Teams
            }
            _ => NotifyFormat::Json,
        }),
        Some("slack") => Ok(NotifyFormat::Slack),
        Some("teams") => Ok(NotifyFormat::Teams),
        Some("json") => Ok(NotifyFormat::Json),
        Some(other) => bad(format!(
            "Input `notify-format`: '{}' is not valid. Expected `auto`, `slack`, `teams` or `json`.",
            shown(other)
        )),
    }
}

/// `notify-secret`: signs the `json` format only.
fn notify_secret(secret: Option<String>, format: NotifyFormat) -> Result<Option<Secret>, BadInput> {
    match secret {
        None => Ok(None),
        Some(_) if format != NotifyFormat::Json => {
            bad("Input `notify-secret` signs the `json` format only: Slack and Teams URLs carry their own secret.")
        }
        Some(secret) => {
            let secret = Secret::new(secret);
            if signing_key(&secret).is_none() {
                return bad(
                    "Input `notify-secret` is not a Standard Webhooks secret. Expected `whsec_` followed by base64.",
                );
            }
            Ok(Some(secret))
        }
    }
}

/// The key of a `whsec_` secret: the bytes its base64 stands for.
pub fn signing_key(secret: &Secret) -> Option<Vec<u8>> {
    use base64::Engine;
    let b64 = secret.expose().strip_prefix("whsec_")?;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()
        .filter(|key| !key.is_empty())
}
