//! The APIs the run writes to or dispatches through besides Turso's
//! (GitHub, Cloudflare, Vercel, Fly.io, Netlify): each one's token and base URL, asked for
//! only when a target or dispatch of the run needs that platform.

use super::consumers::Dispatch;
use super::error::{bad, BadInput};
use super::plans::GroupPlan;
use super::raw::{Raw, Runner};
use super::targets::Platform;
use super::values::{slug, url};
use crate::names;
use crate::secret::Secret;

/// Credentials and base URL of one platform's API.
#[derive(Debug, Clone)]
pub struct Access {
    pub token: Secret,
    pub api_url: String,
}

/// The platforms' APIs the run calls, each `None` when no target or dispatch needs it.
pub(super) struct Platforms {
    pub github: Option<Access>,
    pub cloudflare: Option<Access>,
    pub vercel: Option<Access>,
    pub fly: Option<Access>,
    pub netlify: Option<Access>,
    /// `vercel-team`.
    pub vercel_team: Option<String>,
}

/// The inputs of a platform other than GitHub.
struct PlatformInputs {
    /// The token's input.
    token: &'static str,
    /// The variable the platform's own CLI reads the token from.
    env: &'static str,
    /// The base URL's input, and its default.
    url: &'static str,
    default_url: &'static str,
}

const CLOUDFLARE: PlatformInputs = PlatformInputs {
    token: "cloudflare-api-token",
    env: names::CLOUDFLARE_API_TOKEN,
    url: "cloudflare-api-url",
    default_url: names::DEFAULT_CLOUDFLARE_API_URL,
};

const VERCEL: PlatformInputs = PlatformInputs {
    token: "vercel-token",
    env: names::VERCEL_TOKEN,
    url: "vercel-api-url",
    default_url: names::DEFAULT_VERCEL_API_URL,
};

const FLY: PlatformInputs = PlatformInputs {
    token: "fly-api-token",
    env: names::FLY_API_TOKEN,
    url: "fly-api-url",
    default_url: names::DEFAULT_FLY_API_URL,
};

const NETLIFY: PlatformInputs = PlatformInputs {
    token: "netlify-token",
    env: names::NETLIFY_AUTH_TOKEN,
    url: "netlify-api-url",
    default_url: names::DEFAULT_NETLIFY_API_URL,
};

/// Whether the run writes or dispatches on a platform (GitHub's dispatches
/// need no `github-token` with `dispatch-token`).
pub(super) fn needs(plans: &[GroupPlan], dispatch: &[Dispatch], dispatch_token: bool, platform: Platform) -> bool {
    plans
        .iter()
        .flat_map(|p| &p.targets)
        .any(|t| t.scope.platform() == platform)
        || dispatch
            .iter()
            .any(|d| d.platform() == platform && (platform != Platform::GitHub || !dispatch_token))
}

/// `github-token`, `cloudflare-api-token`, `vercel-token`, `fly-api-token`,
/// `netlify-token` (and their URLs) and `vercel-team`.
pub(super) fn platforms(
    raw: &Raw,
    runner: &Runner,
    dry_run: bool,
    needs: impl Fn(Platform) -> bool,
) -> Result<Platforms, BadInput> {
    let github = github(raw, runner.actions, dry_run, needs(Platform::GitHub))?;
    let cloudflare = platform(raw, runner.actions, dry_run, needs(Platform::Cloudflare), &CLOUDFLARE)?;
    let vercel = platform(raw, runner.actions, dry_run, needs(Platform::Vercel), &VERCEL)?;
    let fly = platform(raw, runner.actions, dry_run, needs(Platform::Fly), &FLY)?;
    let netlify = platform(raw, runner.actions, dry_run, needs(Platform::Netlify), &NETLIFY)?;
    let vercel_team = match raw.get("vercel-team") {
        Some(team) => Some(slug("vercel-team", &team)?),
        None => None,
    };
    Ok(Platforms {
        github,
        cloudflare,
        vercel,
        fly,
        netlify,
        vercel_team,
    })
}

/// `GITHUB_API_URL` as the runner sets it, or GitHub's own API.
fn github_api_url(raw: &Raw) -> Result<String, BadInput> {
    url(
        names::GITHUB_API_URL,
        &raw.env(names::GITHUB_API_URL)
            .unwrap_or_else(|| names::DEFAULT_GITHUB_API_URL.into()),
    )
}

fn github(raw: &Raw, actions: bool, dry_run: bool, needed: bool) -> Result<Option<Access>, BadInput> {
    // Outside Actions, as `gh` does: no token need be typed on a command line.
    let github_token = match actions {
        true => raw.get("github-token"),
        false => raw
            .get("github-token")
            .or_else(|| raw.env(names::GH_TOKEN))
            .or_else(|| raw.env(names::GITHUB_TOKEN)),
    };
    match github_token {
        Some(_) if !needed => Ok(None),
        Some(token) => Ok(Some(Access {
            token: Secret::new(token),
            api_url: github_api_url(raw)?,
        })),
        None if dry_run || !needed => Ok(None),
        None if actions => bad("Input `github-token` is required: a token allowed to write secrets (the workflow's own GITHUB_TOKEN cannot; see README)."),
        None => bad("Input `github-token` is required (or set GH_TOKEN or GITHUB_TOKEN): a token allowed to write secrets."),
    }
}

fn platform(
    raw: &Raw,
    actions: bool,
    dry_run: bool,
    needed: bool,
    inputs: &PlatformInputs,
) -> Result<Option<Access>, BadInput> {
    // The platforms' own CLIs read these variables; under Actions only inputs count.
    let token = raw
        .get(inputs.token)
        .or_else(|| (!actions).then(|| raw.env(inputs.env)).flatten());
    match token {
        Some(token) if needed => Ok(Some(Access {
            token: Secret::new(token),
            api_url: url(
                inputs.url,
                &raw.get(inputs.url).unwrap_or_else(|| inputs.default_url.into()),
            )?,
        })),
        None if needed && !dry_run => bad(format!(
            "Input `{}` is required{}: a target or dispatch of the run needs it.",
            inputs.token,
            if actions {
                String::new()
            } else {
                format!(" (or set {})", inputs.env)
            }
        )),
        _ => Ok(None),
    }
}

/// GitHub access for the dispatches when `dispatch-token` is given.
pub(super) fn dispatcher(
    raw: &Raw,
    dispatch_token: Option<Secret>,
    dispatch: &[Dispatch],
) -> Result<Option<Access>, BadInput> {
    match dispatch_token {
        Some(token) if dispatch.iter().any(|d| d.platform() == Platform::GitHub) => Ok(Some(Access {
            token,
            api_url: github_api_url(raw)?,
        })),
        _ => Ok(None),
    }
}
