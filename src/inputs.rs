//! Action inputs: read once from `INPUT_*` variables (or `--flags`),
//! validated all together, and turned into one typed [`Inputs`] before any
//! network call. Nothing after this module sees a raw input string.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::names;
use crate::secret::Secret;

/// A bad input: the run stops with exit code 2 and no network call.
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

fn bad<T>(message: impl Into<String>) -> Result<T, BadInput> {
    Err(BadInput(message.into()))
}

/// One declared input: the table behind `--help`, the flag parser and `action.yml`.
pub struct InputSpec {
    pub name: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

/// Every input the action declares, in `action.yml` order.
pub const INPUTS: &[InputSpec] = &[
    InputSpec { name: "organization", default: "", help: "Turso organization slug (required)" },
    InputSpec { name: "group", default: "", help: "Turso group whose tokens are rotated (required unless `groups`)" },
    InputSpec { name: "groups", default: "", help: "Several groups, one per line: `group=SECRET` or `group=TARGET` (see `secrets`)" },
    InputSpec { name: "api-token", default: "", help: "Turso Platform API token (default: env TURSO_API_TOKEN)" },
    InputSpec { name: "expiration", default: "never", help: "New token lifetime: `never` or a duration like `7d`, `2w1d30m` (units w d h m s)" },
    InputSpec { name: "authorization", default: "full-access", help: "`full-access` or `read-only`" },
    InputSpec { name: "read-attach-databases", default: "", help: "Database names (comma or newline separated) granted `read_attach`" },
    InputSpec { name: "mode", default: "invalidate", help: "`invalidate`: kill every token of the group, then create one; `roll`: create and write a new expiring token, invalidate nothing" },
    InputSpec { name: "rotate-after", default: "", help: "A duration: rotate only when a target secret is missing or older than this" },
    InputSpec { name: "secret-name", default: "", help: "GitHub secret to write, e.g. TURSO_AUTH_TOKEN (required unless dry-run, `secrets` or `groups`)" },
    InputSpec { name: "secrets", default: "", help: "Several targets, one per line: `repo:NAME`, `env:ENVIRONMENT:NAME`, `org:NAME`, `dependabot:NAME`, `cloudflare:ACCOUNT_ID:SCRIPT:NAME`, `vercel:PROJECT:NAME[:TARGETS]`" },
    InputSpec { name: "scope", default: "repository", help: "Scope of `secret-name`: `repository`, `environment`, `organization` or `dependabot`" },
    InputSpec { name: "repository", default: "$GITHUB_REPOSITORY", help: "`owner/repo` whose secret is written (its owner for organization secrets)" },
    InputSpec { name: "environment", default: "", help: "Write an environment secret of this environment (implies scope `environment`)" },
    InputSpec { name: "visibility", default: "private", help: "Organization secrets: `all`, `private` or `selected`" },
    InputSpec { name: "selected-repositories", default: "", help: "Organization secrets with visibility `selected`: repository names (comma or newline separated)" },
    InputSpec { name: "github-token", default: "", help: "Token allowed to write the secret (required unless dry-run)" },
    InputSpec { name: "dry-run", default: "false", help: "Preflight only: check access, change nothing" },
    InputSpec { name: "database-url", default: "", help: "libsql:// or https:// URL of a database in the group: the new token must run `SELECT 1` before it is written" },
    InputSpec { name: "token-file", default: "./turso-rotate-<group>.token", help: "Outside Actions: where the new token goes (mode 0600) if the secret write fails" },
    InputSpec { name: "audit-file", default: "", help: "Append one JSON line per rotation to this file (never a token)" },
    InputSpec { name: "reason", default: "", help: "Why this rotation happens; shown in the summary and audit trail" },
    InputSpec { name: "dispatch", default: "", help: "Consumers to tell once the secrets are written, one per line: `repository:OWNER/REPO[:EVENT_TYPE]`, `workflow:OWNER/REPO/WORKFLOW_FILE@REF` or `vercel:PROJECT`" },
    InputSpec { name: "dispatch-token", default: "", help: "Token for `dispatch`, when another token than `github-token` must send it" },
    InputSpec { name: "notify-url", default: "", help: "Where one message about the run goes: a Slack incoming webhook, a Microsoft Teams Workflows URL, or any HTTPS endpoint" },
    InputSpec { name: "notify-secret", default: "", help: "Standard Webhooks signing secret (`whsec_…`) for a generic `notify-url`" },
    InputSpec { name: "notify-format", default: "auto", help: "`auto` (by host), `slack`, `teams` or `json`" },
    InputSpec { name: "notify-on", default: "always", help: "`always` or `failure`" },
    InputSpec { name: "max-attempts", default: "4", help: "Attempts per request for transient failures (1-10)" },
    InputSpec { name: "timeout", default: "100s", help: "Deadline for the whole run, e.g. `100s`, `2m`" },
    InputSpec { name: "turso-api-url", default: names::DEFAULT_TURSO_API_URL, help: "Turso Platform API base URL" },
    InputSpec { name: "cloudflare-api-token", default: "", help: "Cloudflare API token with the Workers Editor role, for `cloudflare:` targets (outside Actions: env CLOUDFLARE_API_TOKEN)" },
    InputSpec { name: "vercel-token", default: "", help: "Vercel access token, for `vercel:` targets and dispatches (outside Actions: env VERCEL_TOKEN)" },
    InputSpec { name: "vercel-team", default: "", help: "Vercel team id (`team_…`) or slug that owns the projects" },
    InputSpec { name: "cloudflare-api-url", default: names::DEFAULT_CLOUDFLARE_API_URL, help: "Cloudflare API base URL" },
    InputSpec { name: "vercel-api-url", default: names::DEFAULT_VERCEL_API_URL, help: "Vercel API base URL" },
];

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Help,
    Version,
    Run(Box<Inputs>),
}

/// Lifetime of the new token, as the Turso API takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expiration {
    Never,
    /// The duration as given (`2w1d30m`) and its length.
    After(String, Duration),
}

impl Expiration {
    /// The value of the `expiration` query parameter.
    pub fn as_query(&self) -> &str {
        match self {
            Expiration::Never => "never",
            Expiration::After(text, _) => text,
        }
    }
}

/// What happens to the group's old tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `auth/rotate` kills every token of the group, then one is created.
    Invalidate,
    /// A new expiring token is created and written; old ones live until
    /// they expire, so no consumer has an outage.
    Roll,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Invalidate => "invalidate",
            Mode::Roll => "roll",
        }
    }
}

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
        }
    }

    pub fn platform(&self) -> Platform {
        match self {
            Dispatch::Vercel { .. } => Platform::Vercel,
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

/// Access the new token grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorization {
    FullAccess,
    ReadOnly,
}

impl Authorization {
    pub fn as_str(self) -> &'static str {
        match self {
            Authorization::FullAccess => "full-access",
            Authorization::ReadOnly => "read-only",
        }
    }
}

/// `owner/name` of a repository.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Repo {
    pub owner: String,
    pub name: String,
}

impl fmt::Display for Repo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

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
}

/// The platform a scope belongs to: each has its own client and token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    GitHub,
    Cloudflare,
    Vercel,
}

impl Scope {
    pub fn platform(&self) -> Platform {
        match self {
            Scope::Worker { .. } => Platform::Cloudflare,
            Scope::Vercel { .. } => Platform::Vercel,
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
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {}", self.secret, self.scope)
    }
}

/// One group to rotate and the secrets its new token goes to.
#[derive(Debug, Clone)]
pub struct GroupPlan {
    pub group: String,
    pub targets: Vec<Target>,
    /// Outside Actions: where the token is saved if a write fails.
    pub token_file: PathBuf,
}

/// Credentials and base URL of one platform's API.
#[derive(Debug, Clone)]
pub struct Access {
    pub token: Secret,
    pub api_url: String,
}

/// Bounds of the retry policy.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Attempts per request, including the first.
    pub max_attempts: u32,
    /// Deadline for the whole run.
    pub timeout: Duration,
}

/// Everything the run needs, validated.
#[derive(Debug)]
pub struct Inputs {
    /// Turso organization slug.
    pub organization: String,
    /// Groups to rotate, each with its targets; never empty, no group twice.
    pub plans: Vec<GroupPlan>,
    /// Turso Platform API token.
    pub api_token: Secret,
    pub expiration: Expiration,
    pub authorization: Authorization,
    /// Databases granted `read_attach`.
    pub read_attach: Vec<String>,
    pub mode: Mode,
    /// Rotate a group only when one of its secrets is missing or older.
    pub rotate_after: Option<Duration>,
    /// GitHub API, when a target or dispatch needs it (a dry run may go without).
    pub github: Option<Access>,
    pub dry_run: bool,
    /// Base URL of the Turso Platform API, without a trailing slash.
    pub turso_api_url: String,
    /// Database whose `SELECT 1` proves the new token works.
    pub database_url: Option<String>,
    pub audit_file: Option<PathBuf>,
    pub reason: Option<String>,
    /// `groups` was given: each token is the output `token-<group>`, never `token`.
    pub per_group_outputs: bool,
    pub limits: Limits,
    /// Consumers to tell once the secrets are written.
    pub dispatch: Vec<Dispatch>,
    /// GitHub access for the dispatches with `dispatch-token`, when not `github-token`'s.
    pub dispatcher: Option<Access>,
    pub notify: Option<Notify>,
    /// Cloudflare API, when a target needs it.
    pub cloudflare: Option<Access>,
    /// Vercel API, when a target or dispatch needs it.
    pub vercel: Option<Access>,
    /// Vercel team id (`team_…`) or slug.
    pub vercel_team: Option<String>,
    /// `--show-token`: print the token outside Actions.
    pub show_token: bool,
}

/// Raw input values: `--flags` first, then `INPUT_*` variables.
struct Raw<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    flags: BTreeMap<String, String>,
}

impl Raw<'_> {
    /// The trimmed value; empty counts as unset, as the runner sets every declared input.
    fn get(&self, name: &str) -> Option<String> {
        let value = match self.flags.get(name) {
            Some(v) => Some(v.clone()),
            None => (self.env)(&input_var(name)),
        }?;
        let value = value.trim();
        (!value.is_empty()).then(|| value.to_owned())
    }

    fn env(&self, name: &str) -> Option<String> {
        (self.env)(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }
}

/// The variable the runner sets for an input: upper-cased, spaces to `_`, hyphens kept.
pub fn input_var(name: &str) -> String {
    format!("{}{}", names::INPUT_PREFIX, name.to_uppercase().replace(' ', "_"))
}

/// Parses the command line and the environment into a [`Command`].
pub fn parse(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<Command, BadInput> {
    let mut flags = BTreeMap::new();
    let mut show_token = false;
    let mut args = args.iter().peekable();
    while let Some(arg) = args.next() {
        let Some(flag) = arg.strip_prefix("--") else {
            return match arg.as_str() {
                "-h" => Ok(Command::Help),
                "-V" => Ok(Command::Version),
                // Never echoed: a stray value may well be a token.
                _ => bad(
                    "Unexpected argument without a --flag before it. Inputs are given as --name value (see --help).",
                ),
            };
        };
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (flag, None),
        };
        match name {
            "help" => return Ok(Command::Help),
            "version" => return Ok(Command::Version),
            "show-token" => {
                show_token = match inline.as_deref() {
                    None | Some("true" | "True" | "TRUE") => true,
                    Some("false" | "False" | "FALSE") => false,
                    Some(_) => return bad("Flag --show-token takes no value (or `true`/`false`)."),
                };
                continue;
            }
            _ => {}
        }
        if !INPUTS.iter().any(|i| i.name == name) {
            return bad(format!("Unknown flag --{name} (see --help for the inputs)."));
        }
        let value = match inline {
            Some(v) => v,
            None if name == "dry-run" && args.peek().is_none_or(|a| a.starts_with("--")) => "true".into(),
            None => match args.next() {
                Some(v) if !v.starts_with("--") => v.clone(),
                _ => return bad(format!("Flag --{name} needs a value.")),
            },
        };
        flags.insert(name.to_owned(), value);
    }
    let raw = Raw { env, flags };
    let mut inputs = validate(&raw)?;
    inputs.show_token = show_token;
    Ok(Command::Run(Box::new(inputs)))
}

fn validate(raw: &Raw) -> Result<Inputs, BadInput> {
    let actions = raw.env(names::GITHUB_ACTIONS).as_deref() == Some("true");
    let workspace = raw.env(names::GITHUB_WORKSPACE).map(PathBuf::from);
    let dry_run = boolean(raw, "dry-run")?;

    let organization = slug(
        "organization",
        &required(raw, "organization", "your Turso organization slug")?,
    )?;
    let api_token = match raw.get("api-token").or_else(|| raw.env(names::TURSO_API_TOKEN)) {
        Some(t) => Secret::new(t),
        None => return bad("Input `api-token` is required (or set TURSO_API_TOKEN): a Turso Platform API token."),
    };
    let expiration = match raw.get("expiration") {
        None => Expiration::Never,
        Some(text) if text == "never" => Expiration::Never,
        Some(text) => match parse_duration(&text) {
            Some(d) => Expiration::After(text, d),
            None => return bad(format!("Input `expiration`: '{text}' is not a duration. Expected `never` or a duration like `7d` or `2w1d30m` (units w d h m s).")),
        },
    };
    let authorization = match raw.get("authorization").as_deref() {
        None | Some("full-access") => Authorization::FullAccess,
        Some("read-only") => Authorization::ReadOnly,
        Some(other) => {
            return bad(format!(
                "Input `authorization`: '{other}' is not valid. Expected `full-access` or `read-only`."
            ))
        }
    };
    let mode = match raw.get("mode").as_deref() {
        None | Some("invalidate") => Mode::Invalidate,
        Some("roll") => Mode::Roll,
        Some(other) => {
            return bad(format!(
                "Input `mode`: '{}' is not valid. Expected `invalidate` or `roll`.",
                shown(other)
            ))
        }
    };
    let rotate_after = match raw.get("rotate-after") {
        None => None,
        Some(text) => match parse_duration(&text) {
            Some(d) => Some(d),
            None => return bad(format!("Input `rotate-after`: '{}' is not a duration. Expected a duration like `7d` or `1w` (units w d h m s).", shown(&text))),
        },
    };
    if mode == Mode::Roll {
        match (&expiration, rotate_after) {
            (Expiration::Never, _) => return bad(
                "Input `expiration` must be a duration with `mode: roll`: a roll invalidates nothing, so only an expiry retires the old tokens (e.g. `expiration: 30d`).",
            ),
            (Expiration::After(text, lifetime), Some(after)) if *lifetime <= after => return bad(format!(
                "Input `expiration` ({text}) must be longer than `rotate-after` with `mode: roll`: the token would expire before the next rotation is due.",
            )),
            _ => {}
        }
    }
    let read_attach = list(raw.get("read-attach-databases"))
        .into_iter()
        .map(|db| slug("read-attach-databases", &db))
        .collect::<Result<Vec<_>, _>>()?;

    let repository = match raw.get("repository").or_else(|| raw.env(names::GITHUB_REPOSITORY)) {
        Some(r) => Some(repo("repository", &r)?),
        None => None,
    };
    let scope = TargetContext::new(raw, repository)?;
    let plans = plans(raw, &scope, dry_run, actions, workspace.as_deref())?;

    let dispatch = lines(raw.get("dispatch"))
        .iter()
        .map(|entry| dispatch_entry(entry))
        .collect::<Result<Vec<_>, _>>()?;
    let dispatch_token = raw.get("dispatch-token").map(Secret::new);
    // A platform's token is needed only when the run writes or dispatches
    // there (GitHub's dispatches need none with `dispatch-token`).
    let needs = |platform: Platform| {
        plans
            .iter()
            .flat_map(|p| &p.targets)
            .any(|t| t.scope.platform() == platform)
            || dispatch
                .iter()
                .any(|d| d.platform() == platform && (platform != Platform::GitHub || dispatch_token.is_none()))
    };
    let github_api_url = || {
        url(
            names::GITHUB_API_URL,
            &raw.env(names::GITHUB_API_URL)
                .unwrap_or_else(|| names::DEFAULT_GITHUB_API_URL.into()),
        )
    };
    // Outside Actions, as `gh` does: no token need be typed on a command line.
    let github_token = match actions {
        true => raw.get("github-token"),
        false => raw
            .get("github-token")
            .or_else(|| raw.env(names::GH_TOKEN))
            .or_else(|| raw.env(names::GITHUB_TOKEN)),
    };
    let github = match github_token {
        Some(_) if !needs(Platform::GitHub) => None,
        Some(token) => Some(Access {
            token: Secret::new(token),
            api_url: github_api_url()?,
        }),
        None if dry_run || !needs(Platform::GitHub) => None,
        None if actions => return bad("Input `github-token` is required: a token allowed to write secrets (the workflow's own GITHUB_TOKEN cannot; see README)."),
        None => return bad("Input `github-token` is required (or set GH_TOKEN or GITHUB_TOKEN): a token allowed to write secrets."),
    };
    let platform = |needed: bool, input: &str, env: &str, url_input: &str, default_url: &str| {
        // The platforms' own CLIs read these variables; under Actions only inputs count.
        let token = raw.get(input).or_else(|| (!actions).then(|| raw.env(env)).flatten());
        match token {
            Some(token) if needed => Ok(Some(Access {
                token: Secret::new(token),
                api_url: url(url_input, &raw.get(url_input).unwrap_or_else(|| default_url.into()))?,
            })),
            None if needed && !dry_run => bad(format!(
                "Input `{input}` is required{}: a target or dispatch of the run needs it.",
                if actions {
                    String::new()
                } else {
                    format!(" (or set {env})")
                }
            )),
            _ => Ok(None),
        }
    };
    let cloudflare = platform(
        needs(Platform::Cloudflare),
        "cloudflare-api-token",
        names::CLOUDFLARE_API_TOKEN,
        "cloudflare-api-url",
        names::DEFAULT_CLOUDFLARE_API_URL,
    )?;
    let vercel = platform(
        needs(Platform::Vercel),
        "vercel-token",
        names::VERCEL_TOKEN,
        "vercel-api-url",
        names::DEFAULT_VERCEL_API_URL,
    )?;
    let vercel_team = match raw.get("vercel-team") {
        Some(team) => Some(slug("vercel-team", &team)?),
        None => None,
    };

    let turso_api_url = url(
        "turso-api-url",
        &raw.get("turso-api-url")
            .unwrap_or_else(|| names::DEFAULT_TURSO_API_URL.into()),
    )?;
    let database_url = match raw.get("database-url") {
        Some(_) if plans.len() > 1 => return bad(
            "Input `database-url` names one database, of one group: it cannot verify the tokens of several `groups`.",
        ),
        Some(u) => Some(url("database-url", &u)?),
        None => None,
    };
    let audit_file = match raw.get("audit-file") {
        Some(p) => Some(file_path("audit-file", &p, actions, workspace.as_deref())?),
        None => None,
    };
    let max_attempts = match raw.get("max-attempts") {
        None => 4,
        Some(text) => match text.parse::<u32>() {
            Ok(n @ 1..=10) => n,
            _ => {
                return bad(format!(
                    "Input `max-attempts`: '{text}' is not valid. Expected a whole number from 1 to 10."
                ))
            }
        },
    };
    let timeout = match raw.get("timeout") {
        None => Duration::from_secs(100),
        Some(text) => match text.parse::<u64>().ok().map(Duration::from_secs).or_else(|| parse_duration(&text)) {
            Some(d) if (Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&d) => d,
            _ => return bad(format!("Input `timeout`: '{text}' is not valid. Expected seconds or a duration like `90s` or `5m`, from 1s to 1h.")),
        },
    };

    let dispatcher = match dispatch_token {
        Some(token) if dispatch.iter().any(|d| d.platform() == Platform::GitHub) => Some(Access {
            token,
            api_url: github_api_url()?,
        }),
        _ => None,
    };
    let notify = notify(raw)?;

    Ok(Inputs {
        organization,
        plans,
        api_token,
        expiration,
        authorization,
        read_attach,
        mode,
        rotate_after,
        github,
        dry_run,
        turso_api_url,
        database_url,
        audit_file,
        reason: raw.get("reason"),
        per_group_outputs: raw.get("groups").is_some(),
        limits: Limits { max_attempts, timeout },
        dispatch,
        dispatcher,
        notify,
        cloudflare,
        vercel,
        vercel_team,
        show_token: false,
    })
}

/// One `dispatch` line.
fn dispatch_entry(entry: &str) -> Result<Dispatch, BadInput> {
    let expected =
        "Expected `repository:OWNER/REPO[:EVENT_TYPE]`, `workflow:OWNER/REPO/WORKFLOW_FILE@REF` or `vercel:PROJECT`.";
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
fn notify(raw: &Raw) -> Result<Option<Notify>, BadInput> {
    let format = raw.get("notify-format");
    let on = raw.get("notify-on");
    let secret = raw.get("notify-secret");
    let only_on_failure = match on.as_deref() {
        None | Some("always") => false,
        Some("failure") => true,
        Some(other) => {
            return bad(format!(
                "Input `notify-on`: '{}' is not valid. Expected `always` or `failure`.",
                shown(other)
            ))
        }
    };
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
    let format = match format.as_deref() {
        None | Some("auto") => match host.as_str() {
            "hooks.slack.com" => NotifyFormat::Slack,
            h if [".logic.azure.com", ".powerplatform.com", ".powerautomate.com"]
                .iter()
                .any(|suffix| h.ends_with(suffix)) =>
            {
                NotifyFormat::Teams
            }
            _ => NotifyFormat::Json,
        },
        Some("slack") => NotifyFormat::Slack,
        Some("teams") => NotifyFormat::Teams,
        Some("json") => NotifyFormat::Json,
        Some(other) => {
            return bad(format!(
                "Input `notify-format`: '{}' is not valid. Expected `auto`, `slack`, `teams` or `json`.",
                shown(other)
            ))
        }
    };
    let secret = match secret {
        None => None,
        Some(_) if format != NotifyFormat::Json => {
            return bad(
                "Input `notify-secret` signs the `json` format only: Slack and Teams URLs carry their own secret.",
            )
        }
        Some(secret) => {
            let secret = Secret::new(secret);
            if signing_key(&secret).is_none() {
                return bad(
                    "Input `notify-secret` is not a Standard Webhooks secret. Expected `whsec_` followed by base64.",
                );
            }
            Some(secret)
        }
    };
    Ok(Some(Notify {
        url,
        path,
        host,
        format,
        secret,
        only_on_failure,
    }))
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
            ["cloudflare" | "vercel", ..] => {
                return bad(format!("Input `{input}`: '{}' is not a target. Expected `cloudflare:ACCOUNT_ID:SCRIPT:NAME` or `vercel:PROJECT:NAME[:TARGETS]`.", shown(spec)))
            }
            _ => {}
        }
        let (kind, env, name) = match parts.as_slice() {
            [name] => (self.default_scope.as_str(), self.environment.as_deref(), *name),
            ["repo" | "repository", name] => ("repository", None, *name),
            ["org" | "organization", name] => ("organization", None, *name),
            ["dependabot", name] => ("dependabot", None, *name),
            ["env" | "environment", env, name] => ("environment", Some(*env), *name),
            _ => return bad(format!("Input `{input}`: '{}' is not a target. Expected `NAME`, `repo:NAME`, `env:ENVIRONMENT:NAME`, `org:NAME`, `dependabot:NAME`, `cloudflare:ACCOUNT_ID:SCRIPT:NAME` or `vercel:PROJECT:NAME[:TARGETS]`.", shown(spec))),
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

fn plans(
    raw: &Raw,
    ctx: &TargetContext,
    dry_run: bool,
    actions: bool,
    workspace: Option<&Path>,
) -> Result<Vec<GroupPlan>, BadInput> {
    let mut shared = Vec::new();
    if let Some(name) = raw.get("secret-name") {
        shared.push(ctx.target("secret-name", &name)?);
    }
    for line in lines(raw.get("secrets")) {
        shared.push(ctx.target("secrets", &line)?);
    }

    let mut plans: Vec<(String, Vec<Target>)> = Vec::new();
    match (raw.get("group"), raw.get("groups")) {
        (Some(_), Some(_)) => return bad("Inputs `group` and `groups` conflict: give one of them."),
        (None, None) => return bad("Input `group` is required: the Turso group whose tokens are rotated."),
        (Some(group), None) => plans.push((slug("group", &group)?, shared)),
        (None, Some(groups)) => {
            if !shared.is_empty() {
                return bad("Input `groups` names each group's secret (`group=SECRET`): leave `secret-name` and `secrets` empty.");
            }
            for line in lines(Some(groups)) {
                let (group, target) = match line.split_once('=') {
                    Some((g, t)) => (slug("groups", g.trim())?, vec![ctx.target("groups", t.trim())?]),
                    None => (slug("groups", &line)?, Vec::new()),
                };
                if plans.iter().any(|(g, _)| *g == group) {
                    return bad(format!("Input `groups` names group `{group}` twice: two runs for one group at once can leave a dead token in the secret."));
                }
                plans.push((group, target));
            }
        }
    }

    let mut seen: Vec<&Target> = Vec::new();
    for (group, targets) in &plans {
        if targets.is_empty() && !dry_run {
            return bad(format!("Input `secret-name` is required (no secret to write for group `{group}`): the GitHub secret that receives the new token."));
        }
        for target in targets {
            if let Some(first) = seen.iter().find(|t| same_secret(t, target)) {
                let input = match (raw.get("groups"), raw.get("secrets")) {
                    (Some(_), _) => "groups",
                    (None, Some(_)) => "secrets",
                    (None, None) => "secret-name",
                };
                let overlapping = matches!(
                    (&first.scope, &target.scope),
                    (Scope::Vercel { targets: a, .. }, Scope::Vercel { targets: b, .. }) if a != b
                );
                return bad(match overlapping {
                    false => format!(
                        "Input `{input}`: secret {} is named twice: each secret can receive only one token.",
                        target.secret
                    ),
                    true => format!(
                        "Input `{input}`: `{}` and `{}` are the same Vercel variable (their targets overlap): each secret can receive only one token.",
                        first.spec(),
                        target.spec()
                    ),
                });
            }
            seen.push(target);
        }
    }

    let token_file = raw.get("token-file");
    if token_file.is_some() && plans.len() > 1 {
        return bad("Input `token-file` holds one token: leave it empty with `groups` (each group gets ./turso-rotate-<group>.token).");
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
        _ => a.to_string().eq_ignore_ascii_case(&b.to_string()),
    }
}

fn required(raw: &Raw, name: &str, what: &str) -> Result<String, BadInput> {
    raw.get(name)
        .ok_or_else(|| BadInput(format!("Input `{name}` is required: {what}.")))
}

/// `true`/`false` as YAML writes them (`True`, `TRUE` too, like `core.getBooleanInput`).
fn boolean(raw: &Raw, name: &str) -> Result<bool, BadInput> {
    match raw.get(name).as_deref() {
        None | Some("false" | "False" | "FALSE") => Ok(false),
        Some("true" | "True" | "TRUE") => Ok(true),
        Some(other) => bad(format!(
            "Input `{name}`: '{other}' is not a boolean. Expected `true` or `false`."
        )),
    }
}

/// Items separated by commas or newlines, trimmed, empty ones dropped.
fn list(value: Option<String>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Non-empty lines, trimmed; `#` starts a comment line.
fn lines(value: Option<String>) -> Vec<String> {
    value
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|s| !s.is_empty() && !s.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Letters, digits, `-`, `_`, `.`; never `.` or `..`, so it cannot walk a URL path.
pub fn slug(input: &str, value: &str) -> Result<String, BadInput> {
    let ok = !value.is_empty()
        && value.len() <= 100
        && value != "."
        && value != ".."
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(value.to_owned())
    } else {
        bad(format!(
            "Input `{input}`: '{}' is not a valid name. Expected letters, digits, `-`, `_` and `.`.",
            shown(value)
        ))
    }
}

/// Cloudflare's rule for a Worker's name: `^[a-z0-9_][a-z0-9-_]*$`.
fn worker_script(input: &str, value: &str) -> Result<String, BadInput> {
    let ok = !value.is_empty()
        && !value.starts_with('-')
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'));
    if ok {
        Ok(value.to_owned())
    } else {
        bad(format!(
            "Input `{input}`: '{}' is not a Worker name. Expected lower-case letters, digits, `-` and `_`, not starting with `-`.",
            shown(value)
        ))
    }
}

/// GitHub's rules: letters, digits and `_`, not starting with a digit or `GITHUB_`.
pub fn secret_name(input: &str, value: &str) -> Result<String, BadInput> {
    let ok = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !value.to_ascii_uppercase().starts_with("GITHUB_");
    if value.eq_ignore_ascii_case(names::PROBE_SECRET) {
        return bad(format!(
            "Input `{input}`: {} is reserved for the write-access probe, which is written and deleted in every run.",
            names::PROBE_SECRET
        ));
    }
    if ok {
        Ok(value.to_owned())
    } else {
        bad(format!("Input `{input}`: '{}' is not a valid secret name. Expected letters, digits and `_`, not starting with a digit or GITHUB_.", shown(value)))
    }
}

/// A Worker secret's or Vercel variable's name: letters, digits and `_`,
/// not starting with a digit (what both platforms' apps read as a name).
fn platform_name(input: &str, value: &str) -> Result<String, BadInput> {
    if value.eq_ignore_ascii_case(names::PROBE_SECRET) {
        return secret_name(input, value);
    }
    let ok = value.len() <= 255
        && value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(value.to_owned())
    } else {
        bad(format!(
            "Input `{input}`: '{}' is not a valid variable name. Expected letters, digits and `_`, not starting with a digit.",
            shown(value)
        ))
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

fn repo(input: &str, value: &str) -> Result<Repo, BadInput> {
    match value.split_once('/') {
        Some((owner, name)) if slug(input, owner).is_ok() && slug(input, name).is_ok() => Ok(Repo {
            owner: owner.to_owned(),
            name: name.to_owned(),
        }),
        _ => bad(format!(
            "Input `{input}`: '{}' is not a repository. Expected owner/name.",
            shown(value)
        )),
    }
}

fn environment_name(input: &str, value: &str) -> Result<String, BadInput> {
    if value.is_empty() || value.len() > 255 || value.chars().any(char::is_control) {
        return bad(format!(
            "Input `{input}`: '{}' is not an environment name.",
            shown(value)
        ));
    }
    Ok(value.to_owned())
}

/// A base URL: `https://`, or `http://` for a loopback host only, so that no
/// token travels in clear over a network. `libsql://` means `https://`.
/// Credentials, a query or a fragment are refused: they are where tokens
/// hide (`?authToken=…`), and an error never echoes them.
pub fn url(input: &str, value: &str) -> Result<String, BadInput> {
    checked_url(input, value, false)
}

/// `notify-url`: as [`url`], but a query is kept (a Teams Workflows URL
/// carries its signature there). The whole URL is a credential.
fn webhook_url(value: &str) -> Result<String, BadInput> {
    checked_url("notify-url", value, true)
}

/// `host` of `scheme://host[:port]/…`, without the port.
pub fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host_port = rest.split(['/', '?', '#']).next().unwrap_or("");
    match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.rsplit_once(':').map_or(host_port, |(h, _)| h),
    }
}

fn checked_url(input: &str, value: &str, keep_query: bool) -> Result<String, BadInput> {
    let value = if keep_query { value } else { value.trim_end_matches('/') };
    let (scheme, rest) = value.split_once("://").unwrap_or(("", value));
    let host_port = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host_port.contains('@') || rest.contains('#') || (!keep_query && rest.contains('?')) {
        return bad(format!(
            "Input `{input}`: the URL carries credentials, a query or a fragment (not shown here). Expected https://HOST[/PATH] alone; a token goes in its own input."
        ));
    }
    let host = host_of(value);
    let valid_host = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':'));
    let loopback = matches!(host, "127.0.0.1" | "localhost" | "::1");
    let valid_path = rest.chars().all(|c| c.is_ascii_graphic());
    match scheme {
        _ if !valid_host || !valid_path => {}
        "https" => return Ok(value.to_owned()),
        "libsql" => return Ok(format!("https://{rest}")),
        "http" if loopback => return Ok(value.to_owned()),
        "http" => {
            return bad(format!(
                "Input `{input}`: http://{} is not a loopback host: a token would travel in clear. Use https://.",
                shown(host_port)
            ))
        }
        _ => {}
    }
    bad(format!(
        "Input `{input}`: not a URL ({}). Expected https://HOST[/PATH].",
        match scheme {
            "https" | "http" | "libsql" => "bad host or path",
            _ => "no https:// scheme",
        }
    ))
}

/// Under Actions a file must lie inside the workspace: the container sees
/// nothing else, and a file written elsewhere is lost with it.
fn file_path(input: &str, value: &str, actions: bool, workspace: Option<&Path>) -> Result<PathBuf, BadInput> {
    let path = Path::new(value);
    let base = match workspace {
        Some(w) if actions => w.to_path_buf(),
        _ => PathBuf::new(),
    };
    let mut full = if path.is_absolute() {
        PathBuf::new()
    } else {
        base.clone()
    };
    for part in path.components() {
        match part {
            Component::ParentDir => {
                if !full.pop() {
                    full.push("..");
                }
            }
            Component::CurDir => {}
            other => full.push(other),
        }
    }
    if actions && workspace.is_some() && !full.starts_with(&base) {
        return bad(format!("Input `{input}`: '{}' is outside $GITHUB_WORKSPACE ({}): a Docker action's container sees only the workspace. Use a path inside it.", shown(value), base.display()));
    }
    if full.as_os_str().is_empty() {
        return bad(format!("Input `{input}`: '{}' is not a file path.", shown(value)));
    }
    Ok(full)
}

/// Durations like `7d` or `2w1d30m`: number+unit pairs, units w d h m s in
/// that order, each at most once.
pub fn parse_duration(text: &str) -> Option<Duration> {
    const UNITS: [(char, u64); 5] = [('w', 604_800), ('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];
    let mut total: u64 = 0;
    let mut next_unit = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let pos = UNITS.iter().position(|(u, _)| *u == c)?;
        if number.is_empty() || pos < next_unit || number.len() > 9 {
            return None;
        }
        total = total.checked_add(number.parse::<u64>().ok()?.checked_mul(UNITS[pos].1)?)?;
        next_unit = pos + 1;
        number.clear();
    }
    (number.is_empty() && total > 0).then(|| Duration::from_secs(total))
}

/// An input value fit for an error line: one line, bounded, no secrets.
fn shown(value: &str) -> String {
    let one_line: String = value
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(80)
        .collect();
    crate::secret::redact(&one_line)
}

/// The `--help` text, generated from [`INPUTS`].
pub fn help() -> String {
    let mut out = format!(
        "{} {}\nRotate a Turso group's auth tokens and write the new token into a GitHub Actions secret.\n\n\
         Usage: turso-rotate [--INPUT VALUE]... [--show-token]\n\n\
         Each input is read from --INPUT or from the INPUT_<NAME> variable the Actions runner sets.\n\nInputs:\n",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION")
    );
    for input in INPUTS {
        let default = if input.default.is_empty() {
            String::new()
        } else {
            format!(" [default: {}]", input.default)
        };
        out.push_str(&format!("  --{:<24}{}{}\n", input.name, input.help, default));
    }
    out.push_str(
        "\nFlags:\n  --show-token              Outside Actions, include the new token in the printed outputs\n  \
         -h, --help                Print this help\n  -V, --version             Print the version\n\n\
         Exit codes: 0 done (or dry run passed), 1 a remote call failed, 2 bad input.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_env(vars: &[(&str, &str)], args: &[&str]) -> Result<Inputs, BadInput> {
        let vars: BTreeMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&args, &|name| vars.get(name).cloned())? {
            Command::Run(inputs) => Ok(*inputs),
            other => panic!("expected a run, got {other:?}"),
        }
    }

    const BASE: &[(&str, &str)] = &[
        ("INPUT_ORGANIZATION", "acme"),
        ("INPUT_GROUP", "prod"),
        ("INPUT_API-TOKEN", "api-secret"),
        ("INPUT_SECRET-NAME", "TURSO_AUTH_TOKEN"),
        ("INPUT_GITHUB-TOKEN", "gh-secret"),
        ("GITHUB_REPOSITORY", "acme/app"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut vars: Vec<_> = BASE
            .iter()
            .copied()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
            .collect();
        vars.extend_from_slice(extra);
        vars
    }

    fn error(extra: &[(&'static str, &'static str)]) -> String {
        parse_env(&with(extra), &[]).unwrap_err().0
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(
            parse_duration("2w1d30m"),
            Some(Duration::from_secs(2 * 604_800 + 86_400 + 1_800))
        );
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        for bad in [
            "",
            "7",
            "d",
            "1d2w",
            "1d1d",
            "7days",
            "-1d",
            "0d",
            "1.5h",
            "99999999999w",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn runner_variables_are_read_with_hyphens_kept() {
        let inputs = parse_env(BASE, &[]).unwrap();
        assert_eq!(inputs.organization, "acme");
        assert_eq!(inputs.plans[0].group, "prod");
        assert_eq!(inputs.api_token.expose(), "api-secret");
        assert_eq!(
            inputs.plans[0].targets,
            vec![Target {
                scope: Scope::Repository(Repo {
                    owner: "acme".into(),
                    name: "app".into()
                }),
                secret: "TURSO_AUTH_TOKEN".into()
            }]
        );
        assert_eq!(inputs.expiration, Expiration::Never);
        assert_eq!(inputs.authorization, Authorization::FullAccess);
        assert!(!inputs.dry_run);
        assert!(
            !format!("{inputs:?}").contains("api-secret"),
            "Debug must redact tokens"
        );
    }

    #[test]
    fn flags_override_and_empty_means_unset() {
        let inputs = parse_env(
            &with(&[
                ("INPUT_EXPIRATION", "  "),
                ("INPUT_API-TOKEN", ""),
                ("TURSO_API_TOKEN", "from-env"),
            ]),
            &["--group", "staging", "--authorization=read-only", "--dry-run"],
        )
        .unwrap();
        assert_eq!(inputs.plans[0].group, "staging");
        assert_eq!(inputs.expiration, Expiration::Never);
        assert_eq!(inputs.authorization, Authorization::ReadOnly);
        assert_eq!(inputs.api_token.expose(), "from-env");
        assert!(inputs.dry_run);
    }

    #[test]
    fn each_bad_input_names_itself() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("INPUT_ORGANIZATION", "")], "`organization`"),
            (&[("INPUT_GROUP", "../etc")], "`group`"),
            (&[("INPUT_GROUP", "..")], "`group`"),
            (&[("INPUT_SECRET-NAME", "GITHUB_TOKEN")], "`secret-name`"),
            (&[("INPUT_SECRET-NAME", "1ABC")], "`secret-name`"),
            (&[("INPUT_SECRET-NAME", "A-B")], "`secret-name`"),
            (&[("INPUT_EXPIRATION", "7 days")], "`expiration`"),
            (&[("INPUT_AUTHORIZATION", "admin")], "`authorization`"),
            (&[("INPUT_DRY-RUN", "yes")], "`dry-run`"),
            (&[("INPUT_REPOSITORY", "no-slash")], "`repository`"),
            (&[("INPUT_TURSO-API-URL", "http://example.com")], "`turso-api-url`"),
            (&[("INPUT_TURSO-API-URL", "ftp://x")], "`turso-api-url`"),
            (&[("INPUT_GITHUB-TOKEN", "")], "`github-token`"),
            (&[("INPUT_API-TOKEN", "")], "`api-token`"),
            (&[("INPUT_MAX-ATTEMPTS", "0")], "`max-attempts`"),
            (&[("INPUT_TIMEOUT", "forever")], "`timeout`"),
            (&[("INPUT_SCOPE", "enterprise")], "`scope`"),
            (&[("INPUT_SCOPE", "environment")], "`environment`"),
            (&[("INPUT_GROUPS", "a=X\nb=Y")], "`groups`"),
            (&[("INPUT_VISIBILITY", "public")], "`visibility`"),
            (&[("INPUT_MODE", "soft")], "`mode`"),
            (&[("INPUT_MODE", "roll")], "`expiration`"),
            (&[("INPUT_ROTATE-AFTER", "weekly")], "`rotate-after`"),
        ];
        for (extra, name) in cases {
            let message = error(extra);
            assert!(message.contains(name), "{extra:?}: {message}");
        }
    }

    #[test]
    fn a_roll_needs_an_expiration_longer_than_rotate_after() {
        let roll = |expiration, after| {
            parse_env(
                &with(&[
                    ("INPUT_MODE", "roll"),
                    ("INPUT_EXPIRATION", expiration),
                    ("INPUT_ROTATE-AFTER", after),
                ]),
                &[],
            )
        };
        assert!(roll("5d", "7d").unwrap_err().0.contains("longer than `rotate-after`"));
        assert!(roll("7d", "7d").is_err());
        let inputs = roll("30d", "7d").unwrap();
        assert_eq!(inputs.mode, Mode::Roll);
        assert_eq!(inputs.rotate_after, Some(Duration::from_secs(7 * 86_400)));
    }

    #[test]
    fn a_group_named_twice_is_bad_input() {
        let vars = [
            ("INPUT_ORGANIZATION", "acme"),
            ("INPUT_API-TOKEN", "t0ken"),
            ("INPUT_GITHUB-TOKEN", "gh-t0ken"),
            ("GITHUB_REPOSITORY", "acme/app"),
            ("INPUT_GROUPS", "prod=A\nstaging=B\nprod=C"),
        ];
        assert!(parse_env(&vars, &[]).unwrap_err().0.contains("twice"));
    }

    #[test]
    fn targets_of_every_scope() {
        let vars = with(&[
            ("INPUT_SECRET-NAME", ""),
            ("INPUT_SECRETS", "repo:A\nenv:Production 1:B\norg:C\ndependabot:D"),
            ("INPUT_SELECTED-REPOSITORIES", "app, web"),
        ]);
        let inputs = parse_env(&vars, &[]).unwrap();
        let scopes: Vec<String> = inputs.plans[0].targets.iter().map(|t| t.to_string()).collect();
        assert_eq!(
            scopes,
            [
                "A in repository acme/app",
                "B in environment `Production 1` of acme/app",
                "C in organization acme",
                "D in Dependabot secrets of acme/app"
            ]
        );
        assert!(
            matches!(&inputs.plans[0].targets[2].scope, Scope::Organization(_, Visibility::Selected(r)) if r == &["app", "web"])
        );
    }

    #[test]
    fn environment_implies_its_scope() {
        let inputs = parse_env(&with(&[("INPUT_ENVIRONMENT", "production")]), &[]).unwrap();
        assert!(matches!(&inputs.plans[0].targets[0].scope, Scope::Environment(_, e) if e == "production"));
    }

    #[test]
    fn the_notification_format_follows_the_host() {
        let format = |url: &'static str| {
            let inputs = parse_env(&with(&[("INPUT_NOTIFY-URL", url)]), &[]).unwrap();
            let notify = inputs.notify.expect("a notification");
            (notify.format, notify.host)
        };
        assert_eq!(
            format("https://hooks.slack.com/services/T0/B0/x").0,
            NotifyFormat::Slack
        );
        let (teams, host) =
            format("https://prod-01.westus.logic.azure.com:443/workflows/a/triggers/manual/paths/invoke?sig=x");
        assert_eq!(
            (teams, host.as_str()),
            (NotifyFormat::Teams, "prod-01.westus.logic.azure.com")
        );
        assert_eq!(
            format("https://default1.environment.api.powerplatform.com/p?sig=x").0,
            NotifyFormat::Teams
        );
        assert_eq!(format("https://hooks.example.com/turso").0, NotifyFormat::Json);
        // A look-alike host is not Slack.
        assert_eq!(format("https://hooks.slack.com.evil.example/x").0, NotifyFormat::Json);
        let error = parse_env(
            &with(&[
                ("INPUT_NOTIFY-URL", "https://hooks.example.com/t"),
                ("INPUT_NOTIFY-FORMAT", "slack"),
                ("INPUT_NOTIFY-SECRET", "whsec_a2V5"),
            ]),
            &[],
        )
        .unwrap_err()
        .0;
        assert!(error.contains("`notify-secret`"), "{error}");
    }

    #[test]
    fn urls_take_https_or_loopback_http() {
        assert_eq!(url("x", "https://api.turso.tech/").unwrap(), "https://api.turso.tech");
        assert_eq!(url("x", "http://127.0.0.1:8080").unwrap(), "http://127.0.0.1:8080");
        assert_eq!(url("x", "http://[::1]:9").unwrap(), "http://[::1]:9");
        assert_eq!(
            url("x", "libsql://db-acme.turso.io").unwrap(),
            "https://db-acme.turso.io"
        );
        assert!(url("x", "http://localhost.evil.com").is_err());
        assert!(url("x", "http://127.0.0.1@evil.com").is_err());
        assert!(url("x", "https://").is_err());
        for hidden in [
            "libsql://db-acme.turso.io?authToken=eyJSECRET",
            "https://user:pw-SECRET@db.example.com",
            "https://db.example.com/#SECRET",
        ] {
            let error = url("database-url", hidden).unwrap_err().0;
            assert!(error.contains("`database-url`") && !error.contains("SECRET"), "{error}");
        }
    }

    #[test]
    fn files_under_actions_stay_in_the_workspace() {
        let ws = Path::new("/github/workspace");
        assert_eq!(file_path("f", "a.jsonl", true, Some(ws)).unwrap(), ws.join("a.jsonl"));
        assert!(file_path("f", "../a.jsonl", true, Some(ws)).is_err());
        assert!(file_path("f", "/tmp/a", true, Some(ws)).is_err());
        assert_eq!(file_path("f", "/tmp/a", false, Some(ws)).unwrap(), Path::new("/tmp/a"));
    }

    #[test]
    fn help_lists_every_input() {
        let text = help();
        for input in INPUTS {
            assert!(text.contains(&format!("--{}", input.name)));
        }
    }
}
