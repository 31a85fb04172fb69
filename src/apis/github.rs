//! The GitHub secret writer: fetch a scope's public key, prove write access
//! with a probe, write the sealed secret. Built on octocrab; its async
//! runtime stays inside this module, so callers see plain blocking calls.

use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context, Result};
use http_body_util::{BodyExt, Limited};
use octocrab::Octocrab;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::runtime::Runtime;

use crate::apis::seal::ScopeKey;
use crate::http::retry::{detail, Policy, Refused, Reply, Transport, CONNECT_TIMEOUT, MAX_BODY};
use crate::http::segment;
use crate::inputs::{Access, Dispatch, Scope, Target, Visibility};
use crate::names;

/// What a request needs, for the hint when it is refused.
pub struct Need {
    /// Where (`repository acme/app`), for a 404.
    place: String,
    /// The permission that grants it (SPEC's table).
    permission: &'static str,
}

impl Need {
    fn of(target: &Target) -> Need {
        Need {
            place: target.scope.to_string(),
            permission: permission(&target.scope),
        }
    }
}

/// A client on a current-thread runtime of its own.
pub struct GitHub {
    runtime: Runtime,
    client: Octocrab,
    policy: Policy,
    /// `scheme://host[:port]` of the API: a redirect is followed only there.
    origin: String,
}

/// A target ready to be written: its scope's key and, for an organization
/// secret, the repository ids its visibility names.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub target: Target,
    key: ScopeKey,
    repository_ids: Vec<u64>,
}

impl Prepared {
    /// Another secret of the same scope: same key, no second request.
    pub fn for_target(&self, target: &Target) -> Prepared {
        Prepared {
            target: target.clone(),
            ..self.clone()
        }
    }
}

impl GitHub {
    pub fn connect(access: &Access, policy: Policy) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the GitHub client's runtime")?;
        // octocrab's worker task needs a running runtime when it is built.
        let client = runtime
            .block_on(async {
                crate::http::tls::github_client(access.api_url.as_str(), access.token.expose(), CONNECT_TIMEOUT)
            })
            .map_err(|e| {
                let hint = match format!("{e:#}") {
                    text if text.contains("root CA") => format!(
                        "{text}; install a CA bundle (/etc/ssl/certs/ca-certificates.crt) or point SSL_CERT_FILE at one"
                    ),
                    text => text,
                };
                anyhow!("setting up the GitHub client for {}: {hint}", access.api_url)
            })?;
        Ok(GitHub {
            runtime,
            client,
            policy,
            origin: origin(&access.api_url).to_owned(),
        })
    }

    /// Preflight for one target: its scope's public key, and the ids of an
    /// organization secret's selected repositories.
    pub fn prepare(&self, target: &Target) -> Result<Prepared> {
        let what = format!("fetching the public key of {}", target.scope);
        let reply = self.call(
            "GET",
            &format!("{}/public-key", base_route(&target.scope)?),
            None,
            &what,
            &Need::of(target),
        )?;
        #[derive(Deserialize)]
        struct Key {
            key_id: String,
            key: String,
        }
        let key: Key = reply.parse(&what, "GitHub", "`key_id` and `key`")?;
        let key = ScopeKey::from_base64(key.key_id, &key.key).with_context(|| what.clone())?;
        let mut repository_ids = Vec::new();
        if let Scope::Organization(org, Visibility::Selected(names)) = &target.scope {
            for name in names {
                repository_ids.push(self.repository_id(org, name, target)?);
            }
        }
        Ok(Prepared {
            target: target.clone(),
            key,
            repository_ids,
        })
    }

    /// When the target secret was last written (`updated_at`), or `None`
    /// when it does not exist: for `rotate-after`.
    pub fn updated_at(&self, target: &Target) -> Result<Option<SystemTime>> {
        let what = format!("reading when secret {target} was last written");
        let reply = self.call_expecting("GET", &secret_route(target)?, None, &what, &Need::of(target), &[404])?;
        if reply.status == 404 {
            return Ok(None);
        }
        #[derive(Deserialize)]
        struct Metadata {
            updated_at: String,
        }
        let metadata: Metadata = reply.parse(&what, "GitHub", "`updated_at`")?;
        let at = humantime::parse_rfc3339_weak(metadata.updated_at.trim())
            .map_err(|_| anyhow!("{what}: GitHub's `updated_at` is not an RFC 3339 time"))?;
        Ok(Some(at))
    }

    /// Proves write access: PUT a random probe secret in the scope, then
    /// DELETE it. Reading the public key needs only read access, so it
    /// proves nothing. A probe left behind is a warning, returned as text.
    pub fn probe(&self, prepared: &Prepared) -> Result<Option<String>> {
        // A secret value is text: a strict server refuses a value that is not UTF-8.
        let value = crate::secret::random_hex(16);
        let probe = Prepared {
            target: Target {
                scope: prepared.target.scope.clone(),
                secret: names::PROBE_SECRET.to_owned(),
            },
            key: prepared.key.clone(),
            repository_ids: Vec::new(),
        };
        self.write(&probe, value.as_bytes(), "proving write access by writing a probe")?;
        let what = format!("deleting the probe secret {}", probe.target);
        // 404: a run overlapping on the same scope deleted it first; gone all the same.
        match self.call_expecting(
            "DELETE",
            &secret_route(&probe.target)?,
            None,
            &what,
            &Need::of(&probe.target),
            &[404],
        ) {
            Ok(_) => Ok(None),
            Err(e) => Ok(Some(format!(
                "{:#} (delete {} by hand; it holds a random value)",
                e,
                names::PROBE_SECRET
            ))),
        }
    }

    /// Seals `value` with the scope's key and writes it.
    pub fn write(&self, prepared: &Prepared, value: &[u8], what: &str) -> Result<()> {
        let mut body = json!({
            "encrypted_value": prepared.key.seal(value)?,
            "key_id": prepared.key.key_id,
        });
        if let Scope::Organization(_, visibility) = &prepared.target.scope {
            let probe = prepared.target.secret == names::PROBE_SECRET;
            let (name, ids) = match visibility {
                // The probe is visible to no repository.
                _ if probe => ("selected", Some(Vec::new())),
                Visibility::All => ("all", None),
                Visibility::Private => ("private", None),
                Visibility::Selected(_) => ("selected", Some(prepared.repository_ids.clone())),
            };
            body["visibility"] = json!(name);
            if let Some(ids) = ids {
                body["selected_repository_ids"] = json!(ids);
            }
        }
        let what = format!("{what} into secret {}", prepared.target);
        self.call(
            "PUT",
            &secret_route(&prepared.target)?,
            Some(body),
            &what,
            &Need::of(&prepared.target),
        )?;
        Ok(())
    }

    /// Tells a consumer that the secrets were written: `repository_dispatch`
    /// with `payload`, or `workflow_dispatch` with a ref and no inputs.
    pub fn dispatch(&self, dispatch: &Dispatch, payload: &Value) -> Result<()> {
        let (route, body, need) = match dispatch {
            Dispatch::Repository { repo, event_type } => (
                format!("/repos/{}/{}/dispatches", segment(&repo.owner), segment(&repo.name)),
                json!({ "event_type": event_type, "client_payload": payload }),
                Need {
                    place: format!("repository {repo}"),
                    permission: "Contents: write on that repository (classic PAT: `repo`)",
                },
            ),
            Dispatch::Workflow { repo, file, git_ref } => (
                format!(
                    "/repos/{}/{}/actions/workflows/{}/dispatches",
                    segment(&repo.owner),
                    segment(&repo.name),
                    segment(file)
                ),
                json!({ "ref": git_ref }),
                Need {
                    place: format!("workflow {file} of {repo}"),
                    permission: "Actions: write on that repository (classic PAT: `repo` and `workflow`)",
                },
            ),
            Dispatch::Vercel { .. } | Dispatch::Fly { .. } | Dispatch::Netlify { .. } => {
                return Err(anyhow!("{} is not a GitHub dispatch", dispatch.spec()))
            }
        };
        let what = format!("dispatching {}", dispatch.spec());
        self.call("POST", &route, Some(body), &what, &need)?;
        Ok(())
    }

    fn repository_id(&self, org: &str, name: &str, target: &Target) -> Result<u64> {
        let what = format!("resolving repository {org}/{name} for {}", target.secret);
        let reply = self.call(
            "GET",
            &format!("/repos/{}/{}", segment(org), segment(name)),
            None,
            &what,
            &Need::of(target),
        )?;
        #[derive(Deserialize)]
        struct Repository {
            id: u64,
        }
        let repo: Repository = reply.parse(&what, "GitHub", "`id`")?;
        Ok(repo.id)
    }

    /// One request with the shared retry policy; an error status becomes an
    /// error that names GitHub's message and the likely cause.
    fn call(&self, method: &str, route: &str, body: Option<Value>, what: &str, need: &Need) -> Result<Reply> {
        self.call_expecting(method, route, body, what, need, &[])
    }

    /// [`GitHub::call`], taking the statuses in `also_fine` as success too.
    fn call_expecting(
        &self,
        method: &str,
        route: &str,
        body: Option<Value>,
        what: &str,
        need: &Need,
        also_fine: &[u16],
    ) -> Result<Reply> {
        let mut reply = self
            .policy
            .send(what, |timeout| self.attempt(method, route, body.as_ref(), timeout))?;
        // A renamed repository answers a GET with 301 to its new location:
        // followed once, on the same host only (the token goes with it).
        if method == "GET" && reply.status == 301 {
            if let Some(moved) = reply.location.as_deref().and_then(|l| self.same_origin_route(l)) {
                reply = self
                    .policy
                    .send(what, |timeout| self.attempt(method, &moved, None, timeout))?;
            }
        }
        if reply.ok() || also_fine.contains(&reply.status) {
            return Ok(reply);
        }
        #[derive(Deserialize)]
        struct GitHubError {
            message: String,
        }
        let message = match serde_json::from_str::<GitHubError>(&reply.body) {
            Ok(e) => detail(&e.message),
            Err(_) => detail(&reply.body),
        };
        let message = message.trim_start_matches(": ");
        let hint = match reply.status {
            401 => "the GitHub token is invalid or expired (input `github-token`)".to_owned(),
            403 | 429 if message.contains("rate limit") => {
                "GitHub's rate limit for this token is spent: re-run once it resets".to_owned()
            }
            403 if message.contains("by integration") => format!(
                "the GitHub App token lacks the permission {} (the workflow's own GITHUB_TOKEN can never be given it: use a fine-grained PAT or a GitHub App token)",
                need.permission
            ),
            403 if message.contains("personal access token") => {
                format!("the personal access token lacks the permission {}", need.permission)
            }
            403 => format!("the GitHub token lacks the permission {}", need.permission),
            404 => format!(
                "not found: check that {} exists and that the token can see it (a token without access gets 404, not 403; it needs {})",
                need.place, need.permission
            ),
            422 => "GitHub refused the value".to_owned(),
            301 => "GitHub redirected to another host, which is never followed".to_owned(),
            _ => "unexpected answer from GitHub".to_owned(),
        };
        Err(Refused {
            status: reply.status,
            message: format!("{what}: HTTP {} {message}: {hint}", reply.status),
        }
        .into())
    }

    /// The path and query of `location` when it points at the API's own
    /// origin (or is a bare path), else `None`.
    fn same_origin_route(&self, location: &str) -> Option<String> {
        let route = match location.strip_prefix(self.origin.as_str()) {
            Some(rest) if rest.starts_with('/') => rest,
            Some(_) => return None,
            None if location.starts_with('/') && !location.starts_with("//") => location,
            None => return None,
        };
        route
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'#')
            .then(|| route.to_owned())
    }

    fn attempt(&self, method: &str, route: &str, body: Option<&Value>, timeout: Duration) -> Result<Reply, Transport> {
        let client = &self.client;
        self.runtime.block_on(async {
            let request = async {
                let response = match method {
                    "GET" => client._get(route).await,
                    "PUT" => client._put(route, body).await,
                    "POST" => client._post(route, body).await,
                    "DELETE" => client._delete(route, None::<&()>).await,
                    _ => unreachable!("no other method is used"),
                }
                .map_err(|e| Transport::lost(chain(&e)))?;
                let (parts, body) = response.into_parts();
                let body = match Limited::new(body, MAX_BODY as usize).collect().await {
                    Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
                    Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                        "(response body over 1 MiB, not read)".to_owned()
                    }
                    Err(e) => return Err(Transport::lost(format!("reading the response: {e}"))),
                };
                let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
                Ok(Reply::from_parts(parts.status.as_u16(), body, header))
            };
            match tokio::time::timeout(timeout, request).await {
                Ok(result) => result,
                Err(_) => Err(Transport::lost(format!(
                    "timed out after {:.0}s",
                    timeout.as_secs_f64()
                ))),
            }
        })
    }
}

/// `scheme://host[:port]` of a base URL.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(slash) => &url[..after_scheme + slash],
        None => url,
    }
}

/// Route of a scope's secrets collection; names are percent-encoded.
fn base_route(scope: &Scope) -> Result<String> {
    Ok(match scope {
        Scope::Repository(r) => format!("/repos/{}/{}/actions/secrets", segment(&r.owner), segment(&r.name)),
        Scope::Environment(r, env) => {
            format!(
                "/repos/{}/{}/environments/{}/secrets",
                segment(&r.owner),
                segment(&r.name),
                segment(env)
            )
        }
        Scope::Dependabot(r) => format!("/repos/{}/{}/dependabot/secrets", segment(&r.owner), segment(&r.name)),
        Scope::Organization(org, _) => format!("/orgs/{}/actions/secrets", segment(org)),
        other @ (Scope::Worker { .. } | Scope::Vercel { .. } | Scope::Fly { .. } | Scope::Netlify { .. }) => {
            return Err(anyhow!("{other} is not a GitHub scope"))
        }
    })
}

fn secret_route(target: &Target) -> Result<String> {
    Ok(format!("{}/{}", base_route(&target.scope)?, segment(&target.secret)))
}

/// The permission a token needs to write secrets of this scope (SPEC's table).
pub fn permission(scope: &Scope) -> &'static str {
    match scope {
        Scope::Repository(_) => "repository Secrets: write (classic PAT: `repo`)",
        Scope::Environment(..) => "repository Environments: write and Secrets: write (classic PAT: `repo`)",
        Scope::Dependabot(_) => "repository Dependabot secrets: write (classic PAT: `repo`)",
        Scope::Organization(..) => {
            "organization Secrets: write, and Metadata: read for selected repositories (classic PAT: `admin:org`)"
        }
        Scope::Worker { .. } => "the Workers Editor role on that Worker (input `cloudflare-api-token`)",
        Scope::Vercel { .. } => "access to the project and its targets (input `vercel-token`)",
        Scope::Fly { .. } => "a deploy token of that app (input `fly-api-token`)",
        Scope::Netlify { .. } => "access to the site (input `netlify-token`)",
    }
}

/// An error and its causes on one line (octocrab's own text is terse).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
