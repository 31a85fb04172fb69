//! Where a new token goes: the target syntax of every platform (GitHub
//! scopes, `cloudflare:`, `vercel:`, `fly:`, `netlify:`) and its scopes.

use std::fmt;

use super::error::{bad, shown, BadInput};
use super::raw::Raw;
use super::values::{environment_name, list, platform_name, secret_name, slug, worker_script, Repo};

/// Who may read an organization secret.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Visibility {
    All,
    Private,
    /// Only these repositories (names in the organization).
    Selected(Vec<String>),
}

/// Where a secret lives. Each scope is prepared once (a GitHub public key,
/// a Worker's or a Vercel project's list) and proven writable once.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Repository(Repo),
    Environment(Repo, String),
    Dependabot(Repo),
    Organization(String, Visibility),
    /// A Cloudflare Worker's secrets.
    Worker {
        account: String,
        script: String,
    },
    /// A Vercel project's environment variables for these deployment targets.
    Vercel {
        project: String,
        targets: VercelTargets,
    },
    /// A Fly.io app's secrets.
    Fly {
        app: String,
    },
    /// A Netlify site's environment variables for these deploy contexts.
    Netlify {
        site: String,
        contexts: NetlifyContexts,
    },
}

/// The platform a scope belongs to: each has its own client and token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    GitHub,
    Cloudflare,
    Vercel,
    Fly,
    Netlify,
}

impl Scope {
    pub fn platform(&self) -> Platform {
        match self {
            Scope::Worker { .. } => Platform::Cloudflare,
            Scope::Vercel { .. } => Platform::Vercel,
            Scope::Fly { .. } => Platform::Fly,
            Scope::Netlify { .. } => Platform::Netlify,
            _ => Platform::GitHub,
        }
    }
}

/// Vercel deployment targets a variable applies to (never `development`:
/// Vercel keeps no sensitive value there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct VercelTargets {
    pub production: bool,
    pub preview: bool,
}

impl VercelTargets {
    /// As the API lists them: `["production", "preview"]`.
    pub fn names(self) -> Vec<&'static str> {
        [(self.production, "production"), (self.preview, "preview")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect()
    }
}

/// Netlify deploy contexts a variable's value is written for (default
/// `production` alone: a production token in builds of pull requests is a
/// leak waiting to happen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct NetlifyContexts {
    pub production: bool,
    pub deploy_preview: bool,
    pub branch_deploy: bool,
}

impl NetlifyContexts {
    /// As the API names them: `["production", "deploy-preview"]`.
    pub fn names(self) -> Vec<&'static str> {
        [
            (self.production, "production"),
            (self.deploy_preview, "deploy-preview"),
            (self.branch_deploy, "branch-deploy"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }

    pub(super) fn overlap(self, other: NetlifyContexts) -> bool {
        (self.production && other.production)
            || (self.deploy_preview && other.deploy_preview)
            || (self.branch_deploy && other.branch_deploy)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Repository(repo) => write!(f, "repository {repo}"),
            Scope::Environment(repo, env) => write!(f, "environment `{env}` of {repo}"),
            Scope::Dependabot(repo) => write!(f, "Dependabot secrets of {repo}"),
            Scope::Organization(org, _) => write!(f, "organization {org}"),
            Scope::Worker { account, script } => write!(f, "Cloudflare Worker {script} (account {account})"),
            Scope::Vercel { project, targets } => {
                write!(f, "Vercel project {project} ({})", targets.names().join(", "))
            }
            Scope::Fly { app } => write!(f, "Fly app {app}"),
            Scope::Netlify { site, contexts } => {
                write!(f, "Netlify site {site} ({})", contexts.names().join(", "))
            }
        }
    }
}

/// One secret to write.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    pub scope: Scope,
    pub secret: String,
}

impl Target {
    /// The target in the `secrets` input's grammar: `repo:NAME`, `env:ENV:NAME`, …
    pub fn spec(&self) -> String {
        match &self.scope {
            Scope::Repository(_) => format!("repo:{}", self.secret),
            Scope::Environment(_, env) => format!("env:{env}:{}", self.secret),
            Scope::Dependabot(_) => format!("dependabot:{}", self.secret),
            Scope::Organization(..) => format!("org:{}", self.secret),
            Scope::Worker { account, script } => format!("cloudflare:{account}:{script}:{}", self.secret),
            Scope::Vercel { project, targets } if targets.production && targets.preview => {
                format!("vercel:{project}:{}", self.secret)
            }
            Scope::Vercel { project, targets } => {
                format!("vercel:{project}:{}:{}", self.secret, targets.names().join(","))
            }
            Scope::Fly { app } => format!("fly:{app}:{}", self.secret),
            Scope::Netlify { site, contexts } if contexts.names() == ["production"] => {
                format!("netlify:{site}:{}", self.secret)
            }
            Scope::Netlify { site, contexts } => {
                format!("netlify:{site}:{}:{}", self.secret, contexts.names().join(","))
            }
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {}", self.secret, self.scope)
    }
}

/// What a bare secret name (`secret-name`, `group=NAME`) resolves against.
pub(super) struct TargetContext {
    repository: Option<Repo>,
    /// The scope a bare secret name goes to.
    default_scope: String,
    environment: Option<String>,
    visibility: Visibility,
}

impl TargetContext {
    pub(super) fn new(raw: &Raw, repository: Option<Repo>) -> Result<Self, BadInput> {
        let environment = raw.get("environment");
        if let Some(env) = &environment {
            environment_name("environment", env)?;
        }
        let default_scope = match (raw.get("scope"), &environment) {
            (None, Some(_)) => "environment".to_owned(),
            (None, None) => "repository".to_owned(),
            (Some(s), _) => s,
        };
        match (default_scope.as_str(), &environment) {
            ("repository" | "organization" | "dependabot", None) | ("environment", Some(_)) => {}
            ("environment", None) => return bad("Input `environment` is required with scope `environment`."),
            ("repository" | "organization" | "dependabot", Some(_)) => {
                return bad(format!("Input `environment` conflicts with scope `{default_scope}`: an environment secret has scope `environment`."))
            }
            (other, _) => {
                return bad(format!("Input `scope`: '{other}' is not valid. Expected `repository`, `environment`, `organization` or `dependabot`."))
            }
        }
        let selected = list(raw.get("selected-repositories"))
            .into_iter()
            .map(|name| slug("selected-repositories", &name))
            .collect::<Result<Vec<_>, _>>()?;
        let visibility = match (raw.get("visibility").as_deref(), selected.is_empty()) {
            (None, false) | (Some("selected"), false) => Visibility::Selected(selected),
            (Some("selected"), true) => {
                return bad("Input `selected-repositories` is required with visibility `selected`.")
            }
            (None | Some("private"), true) => Visibility::Private,
            (Some("all"), true) => Visibility::All,
            (Some("private" | "all"), false) => {
                return bad("Input `selected-repositories` needs visibility `selected`.")
            }
            (Some(other), _) => {
                return bad(format!(
                    "Input `visibility`: '{other}' is not valid. Expected `all`, `private` or `selected`."
                ))
            }
        };
        Ok(TargetContext {
            repository,
            default_scope,
            environment,
            visibility,
        })
    }

    fn repo(&self, input: &str) -> Result<Repo, BadInput> {
        match &self.repository {
            Some(r) => Ok(r.clone()),
            None => bad(format!("Input `repository` is required for `{input}` (GITHUB_REPOSITORY is not set either). Expected owner/name.")),
        }
    }

    /// A target in the `secrets` grammar, or a bare name in the default scope.
    pub(super) fn target(&self, input: &str, spec: &str) -> Result<Target, BadInput> {
        let parts: Vec<&str> = spec.split(':').map(str::trim).collect();
        match parts.as_slice() {
            ["cloudflare", account, script, name] => {
                return Ok(Target {
                    scope: Scope::Worker {
                        account: slug(input, account)?,
                        script: worker_script(input, script)?,
                    },
                    secret: platform_name(input, name)?,
                })
            }
            ["vercel", project, name, rest @ ..] if rest.len() <= 1 => {
                return Ok(Target {
                    scope: Scope::Vercel {
                        project: slug(input, project)?,
                        targets: vercel_targets(input, rest.first().copied())?,
                    },
                    secret: platform_name(input, name)?,
                })
            }
            ["fly", app, name] => {
                return Ok(Target {
                    scope: Scope::Fly {
                        app: fly_app(input, app)?,
                    },
                    secret: platform_name(input, name)?,
                })
            }
            ["netlify", site, name, rest @ ..] if rest.len() <= 1 => {
                return Ok(Target {
                    scope: Scope::Netlify {
                        site: slug(input, site)?,
                        contexts: netlify_contexts(input, rest.first().copied())?,
                    },
                    secret: platform_name(input, name)?,
                })
            }
            ["cloudflare" | "vercel" | "fly" | "netlify", ..] => {
                return bad(format!("Input `{input}`: '{}' is not a target. Expected `cloudflare:ACCOUNT_ID:SCRIPT:NAME`, `vercel:PROJECT:NAME[:TARGETS]`, `fly:APP:NAME` or `netlify:SITE:NAME[:CONTEXTS]`.", shown(spec)))
            }
            _ => {}
        }
        let (kind, env, name) = match parts.as_slice() {
            [name] => (self.default_scope.as_str(), self.environment.as_deref(), *name),
            ["repo" | "repository", name] => ("repository", None, *name),
            ["org" | "organization", name] => ("organization", None, *name),
            ["dependabot", name] => ("dependabot", None, *name),
            ["env" | "environment", env, name] => ("environment", Some(*env), *name),
            _ => return bad(format!("Input `{input}`: '{}' is not a target. Expected `NAME`, `repo:NAME`, `env:ENVIRONMENT:NAME`, `org:NAME`, `dependabot:NAME`, `cloudflare:ACCOUNT_ID:SCRIPT:NAME`, `vercel:PROJECT:NAME[:TARGETS]`, `fly:APP:NAME` or `netlify:SITE:NAME[:CONTEXTS]`.", shown(spec))),
        };
        let secret = secret_name(input, name)?;
        let scope = match (kind, env) {
            ("environment", Some(env)) => Scope::Environment(self.repo(input)?, environment_name(input, env)?),
            ("dependabot", _) => Scope::Dependabot(self.repo(input)?),
            ("organization", _) => Scope::Organization(self.repo(input)?.owner, self.visibility.clone()),
            _ => Scope::Repository(self.repo(input)?),
        };
        Ok(Target { scope, secret })
    }
}

/// `production`, `preview` or both (the default); never `development`.
fn vercel_targets(input: &str, value: Option<&str>) -> Result<VercelTargets, BadInput> {
    let Some(value) = value else {
        return Ok(VercelTargets {
            production: true,
            preview: true,
        });
    };
    let mut targets = VercelTargets {
        production: false,
        preview: false,
    };
    for name in value.split(',').map(str::trim) {
        match name {
            "production" => targets.production = true,
            "preview" => targets.preview = true,
            "development" => return bad(format!(
                "Input `{input}`: Vercel target `development` cannot hold the token: Vercel keeps no sensitive value there. Use `production`, `preview` or `production,preview`."
            )),
            other => return bad(format!(
                "Input `{input}`: '{}' is not a Vercel target. Expected `production`, `preview` or `production,preview`.",
                shown(other)
            )),
        }
    }
    Ok(targets)
}

/// Fly's rule for app names: lower-case letters, digits and `-`, at most 63.
pub(super) fn fly_app(input: &str, value: &str) -> Result<String, BadInput> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && !value.starts_with('-')
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(value.to_owned())
    } else {
        bad(format!(
            "Input `{input}`: '{}' is not a Fly app name. Expected lower-case letters, digits and `-`.",
            shown(value)
        ))
    }
}

/// A comma list of `production`, `deploy-preview`, `branch-deploy`
/// (default `production`).
fn netlify_contexts(input: &str, value: Option<&str>) -> Result<NetlifyContexts, BadInput> {
    let mut contexts = NetlifyContexts {
        production: value.is_none(),
        deploy_preview: false,
        branch_deploy: false,
    };
    for name in value.into_iter().flat_map(|v| v.split(',')).map(str::trim) {
        match name {
            "production" => contexts.production = true,
            "deploy-preview" => contexts.deploy_preview = true,
            "branch-deploy" => contexts.branch_deploy = true,
            other => return bad(format!(
                "Input `{input}`: '{}' is not a Netlify deploy context for the token. Expected `production`, `deploy-preview` or `branch-deploy`, comma separated.",
                shown(other)
            )),
        }
    }
    Ok(contexts)
}
