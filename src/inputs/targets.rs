//! Where the new tokens go: target syntax (`secret-name`, `secrets`,
//! `groups`, `databases`), the scopes of each platform, and the plan of
//! every group (or database), with no secret named twice.

use std::fmt;
use std::path::{Path, PathBuf};

use super::error::{bad, shown, BadInput};
use super::raw::{Raw, Runner};
use super::values::{
    environment_name, file_path, lines, list, platform_name, repo, secret_name, slug, worker_script, Repo,
};
use crate::names;

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

    fn overlap(self, other: NetlifyContexts) -> bool {
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

/// What a plan rotates: a whole group's tokens, or one database's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Group,
    /// One database; `group` is its group, once preflight has read it.
    Database {
        group: Option<String>,
    },
}

/// One group (or database) to rotate and the secrets its new token goes to.
#[derive(Debug, Clone)]
pub struct GroupPlan {
    /// The group's name, or the database's: it names the `token-<name>`
    /// output and the token file.
    pub group: String,
    pub subject: Subject,
    pub targets: Vec<Target>,
    /// Outside Actions: where the token is saved if a write fails.
    pub token_file: PathBuf,
}

impl GroupPlan {
    /// The database rotated, if the plan rotates one.
    pub fn database(&self) -> Option<&str> {
        matches!(self.subject, Subject::Database { .. }).then_some(self.group.as_str())
    }

    /// The group: the one rotated, or the database's (once known).
    pub fn group_of(&self) -> Option<&str> {
        match &self.subject {
            Subject::Group => Some(&self.group),
            Subject::Database { group } => group.as_deref(),
        }
    }

    /// The plan's names for JSON: `group`, and `database` for a database.
    pub fn name_fields(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut fields = serde_json::Map::new();
        fields.insert("group".into(), self.group_of().into());
        if let Some(db) = self.database() {
            fields.insert("database".into(), db.into());
        }
        fields
    }
}

impl fmt::Display for GroupPlan {
    /// "group `prod`", or "database `users` of group `prod`".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.subject {
            Subject::Group => write!(f, "group `{}`", self.group),
            Subject::Database { group: Some(group) } => write!(f, "database `{}` of group `{group}`", self.group),
            Subject::Database { group: None } => write!(f, "database `{}`", self.group),
        }
    }
}

/// What a bare secret name (`secret-name`, `group=NAME`) resolves against.
struct TargetContext {
    repository: Option<Repo>,
    /// The scope a bare secret name goes to.
    default_scope: String,
    environment: Option<String>,
    visibility: Visibility,
}

impl TargetContext {
    fn new(raw: &Raw, repository: Option<Repo>) -> Result<Self, BadInput> {
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
    fn target(&self, input: &str, spec: &str) -> Result<Target, BadInput> {
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

/// `secret-name`, `secrets` and `groups`, resolved into one plan a group.
pub(super) fn plans(raw: &Raw, runner: &Runner, dry_run: bool) -> Result<Vec<GroupPlan>, BadInput> {
    let repository = match raw.get("repository").or_else(|| raw.env(names::GITHUB_REPOSITORY)) {
        Some(r) => Some(repo("repository", &r)?),
        None => None,
    };
    let ctx = TargetContext::new(raw, repository)?;
    let subject = rotated(raw)?;
    let groups = groups(raw, &ctx, subject)?;
    each_secret_once(raw, &groups, dry_run)?;
    let subject = match subject {
        Rotated::Group | Rotated::Groups => Subject::Group,
        Rotated::Database | Rotated::Databases => Subject::Database { group: None },
    };
    with_token_files(
        raw,
        groups,
        subject,
        runner.actions,
        runner.workspace.as_deref(),
        dry_run,
    )
}

/// Which of `group`, `groups`, `database`, `databases` names what is rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rotated {
    Group,
    Groups,
    Database,
    Databases,
}

impl Rotated {
    const ALL: [(Rotated, &'static str); 4] = [
        (Rotated::Group, "group"),
        (Rotated::Groups, "groups"),
        (Rotated::Database, "database"),
        (Rotated::Databases, "databases"),
    ];

    fn input(self) -> &'static str {
        Rotated::ALL
            .iter()
            .find(|(r, _)| *r == self)
            .map_or("group", |(_, i)| i)
    }

    /// What one of its names is, in an error.
    fn noun(self) -> &'static str {
        match self {
            Rotated::Group | Rotated::Groups => "group",
            Rotated::Database | Rotated::Databases => "database",
        }
    }
}

/// Exactly one of `group`, `groups`, `database` and `databases`.
fn rotated(raw: &Raw) -> Result<Rotated, BadInput> {
    let given: Vec<(Rotated, &str)> = Rotated::ALL
        .into_iter()
        .filter(|(_, input)| raw.get(input).is_some())
        .collect();
    match given[..] {
        [] => bad("Input `group` is required: the Turso group whose tokens are rotated (or `database`, to rotate one database's)."),
        [(one, _)] => Ok(one),
        [(_, a), (_, b), ..] => bad(format!(
            "Inputs `{a}` and `{b}` conflict: give one of `group`, `groups`, `database` and `databases`."
        )),
    }
}

/// Each group and its targets: `group` with `secret-name` and `secrets`,
/// or `groups`, a line a group.
fn groups(raw: &Raw, ctx: &TargetContext, rotated: Rotated) -> Result<Vec<(String, Vec<Target>)>, BadInput> {
    let mut shared = Vec::new();
    if let Some(name) = raw.get("secret-name") {
        shared.push(ctx.target("secret-name", &name)?);
    }
    for line in lines(raw.get("secrets")) {
        shared.push(ctx.target("secrets", &line)?);
    }

    let mut plans: Vec<(String, Vec<Target>)> = Vec::new();
    let input = rotated.input();
    let value = raw.get(input).unwrap_or_default();
    match rotated {
        Rotated::Group | Rotated::Database => plans.push((slug(input, &value)?, shared)),
        Rotated::Groups | Rotated::Databases => {
            if !shared.is_empty() {
                let noun = rotated.noun();
                return bad(format!("Input `{input}` names each {noun}'s secret (`{noun}=SECRET`): leave `secret-name` and `secrets` empty."));
            }
            for line in lines(Some(value)) {
                let (name, target) = match line.split_once('=') {
                    Some((g, t)) => (slug(input, g.trim())?, vec![ctx.target(input, t.trim())?]),
                    None => (slug(input, &line)?, Vec::new()),
                };
                if plans.iter().any(|(g, _)| *g == name) {
                    return bad(format!("Input `{input}` names {} `{name}` twice: two runs for one {} at once can leave a dead token in the secret.", rotated.noun(), rotated.noun()));
                }
                plans.push((name, target));
            }
        }
    }
    Ok(plans)
}

/// Every group has a secret (unless dry-run), and no secret receives two tokens.
fn each_secret_once(raw: &Raw, plans: &[(String, Vec<Target>)], dry_run: bool) -> Result<(), BadInput> {
    let mut seen: Vec<&Target> = Vec::new();
    let noun = if raw.get("database").or_else(|| raw.get("databases")).is_some() {
        "database"
    } else {
        "group"
    };
    for (group, targets) in plans {
        if targets.is_empty() && !dry_run {
            return bad(format!("Input `secret-name` is required (no secret to write for {noun} `{group}`): the GitHub secret that receives the new token."));
        }
        for target in targets {
            if let Some(first) = seen.iter().find(|t| same_secret(t, target)) {
                return Err(named_twice(raw, first, target));
            }
            seen.push(target);
        }
    }
    Ok(())
}

/// The error for a secret two targets name, naming the input they came from.
fn named_twice(raw: &Raw, first: &Target, target: &Target) -> BadInput {
    let input = match (raw.get("groups"), raw.get("databases"), raw.get("secrets")) {
        (Some(_), _, _) => "groups",
        (None, Some(_), _) => "databases",
        (None, None, Some(_)) => "secrets",
        (None, None, None) => "secret-name",
    };
    let overlapping = match (&first.scope, &target.scope) {
        (Scope::Vercel { targets: a, .. }, Scope::Vercel { targets: b, .. }) if a != b => {
            Some("Vercel variable (their targets overlap)")
        }
        (Scope::Netlify { contexts: a, .. }, Scope::Netlify { contexts: b, .. }) if a != b => {
            Some("Netlify variable (their contexts overlap)")
        }
        _ => None,
    };
    BadInput(match overlapping {
        None => format!(
            "Input `{input}`: secret {} is named twice: each secret can receive only one token.",
            target.secret
        ),
        Some(what) => format!(
            "Input `{input}`: `{}` and `{}` are the same {what}: each secret can receive only one token.",
            first.spec(),
            target.spec()
        ),
    })
}

/// Each group's `token-file`, whose folder must take a token outside Actions.
fn with_token_files(
    raw: &Raw,
    plans: Vec<(String, Vec<Target>)>,
    subject: Subject,
    actions: bool,
    workspace: Option<&Path>,
    dry_run: bool,
) -> Result<Vec<GroupPlan>, BadInput> {
    let token_file = raw.get("token-file");
    if token_file.is_some() && plans.len() > 1 {
        return bad("Input `token-file` holds one token: leave it empty with `groups` or `databases` (each gets ./turso-rotate-<name>.token).");
    }
    plans
        .into_iter()
        .map(|(group, targets)| {
            let path = token_file
                .clone()
                .unwrap_or_else(|| format!("turso-rotate-{group}.token"));
            let token_file = file_path("token-file", &path, actions, workspace)?;
            // Outside Actions the file is where a token goes if a write fails:
            // its folder must take it before anything is rotated.
            if !actions && !dry_run {
                if let Err(e) = crate::files::check_folder(&token_file) {
                    return bad(format!(
                        "Input `token-file`: cannot create {} ({e}): a token that fails to reach its secret would be lost. Use a writable folder.",
                        shown(&token_file.display().to_string())
                    ));
                }
            }
            Ok(GroupPlan {
                token_file,
                group,
                subject: subject.clone(),
                targets,
            })
        })
        .collect()
}

/// Whether two targets are one secret. GitHub compares secret, owner,
/// repository and environment names without case; two Vercel targets of
/// one project and name whose target sets overlap are one variable.
fn same_secret(a: &Target, b: &Target) -> bool {
    match (&a.scope, &b.scope) {
        (Scope::Vercel { project: p, targets: t }, Scope::Vercel { project: q, targets: u }) => {
            p.eq_ignore_ascii_case(q)
                && a.secret.eq_ignore_ascii_case(&b.secret)
                && ((t.production && u.production) || (t.preview && u.preview))
        }
        (Scope::Netlify { site: p, contexts: t }, Scope::Netlify { site: q, contexts: u }) => {
            p.eq_ignore_ascii_case(q) && a.secret.eq_ignore_ascii_case(&b.secret) && t.overlap(*u)
        }
        _ => a.to_string().eq_ignore_ascii_case(&b.to_string()),
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
