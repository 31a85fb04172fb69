//! Action inputs: read once from `INPUT_*` variables (or `--flags`),
//! validated all together, and turned into one typed [`Inputs`] before any
//! network call. Nothing after this module sees a raw input string.
//!
//! The files follow the data: `spec` declares every input, `raw` reads
//! the raw words, `values` checks single values, and one file a family
//! (`turso`, `targets`, `access`, `consumers`, `durations`) turns its inputs
//! into typed parts; `validate` here calls them in order.

mod access;
mod consumers;
mod durations;
mod email;
mod error;
mod plans;
mod raw;
mod spec;
mod targets;
mod turso;
mod values;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

use crate::secret::Secret;

pub use access::Access;
pub use consumers::{signing_key, Dispatch, Notify, NotifyFormat, DEFAULT_EVENT_TYPE};
pub use durations::{parse_duration, Limits};
pub use email::EmailNotify;
pub use error::BadInput;
pub use plans::{GroupPlan, Subject};
pub use raw::input_var;
pub use spec::{help, InputSpec, INPUTS};
pub use targets::{NetlifyContexts, Platform, Scope, Target, VercelTargets, Visibility};
pub use turso::{Authorization, Expiration, Mode};
pub use values::{host_of, secret_name, slug, url, Repo};

use raw::{Args, Raw};
use values::{boolean, file_path, required};

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// `--help` or `-h`: print [`help`].
    Help,
    /// `--version` or `-V`.
    Version,
    /// Rotate with these inputs.
    Run(Box<Inputs>),
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
    /// Lifetime of each new token.
    pub expiration: Expiration,
    /// Access each new token grants.
    pub authorization: Authorization,
    /// Databases granted `read_attach`.
    pub read_attach: Vec<String>,
    /// What happens to the group's old tokens.
    pub mode: Mode,
    /// Rotate a group only when one of its secrets is missing or older.
    pub rotate_after: Option<Duration>,
    /// GitHub API, when a target or dispatch needs it (a dry run may go without).
    pub github: Option<Access>,
    /// Preflight only: check access, change nothing.
    pub dry_run: bool,
    /// Base URL of the Turso Platform API, without a trailing slash.
    pub turso_api_url: String,
    /// Database whose `SELECT 1` proves the new token works.
    pub database_url: Option<String>,
    /// `verify: false`: no `SELECT 1`, not even on a database's own host.
    pub verify: bool,
    /// The token this run replaces, to prove it dead after the invalidation.
    pub previous_token: Option<Secret>,
    /// Where one JSON line per rotation is appended.
    pub audit_file: Option<PathBuf>,
    /// Why this rotation happens, for the summary and audit trail.
    pub reason: Option<String>,
    /// `groups` or `databases` was given: each token is the output
    /// `token-<group>` (`token-<database>`), never `token`.
    pub per_group_outputs: bool,
    /// Attempts per request and the run's deadline.
    pub limits: Limits,
    /// Consumers to tell once the secrets are written.
    pub dispatch: Vec<Dispatch>,
    /// GitHub access for the dispatches with `dispatch-token`, when not `github-token`'s.
    pub dispatcher: Option<Access>,
    /// Where one message about the run goes.
    pub notify: Option<Notify>,
    /// Cloudflare API, when a target needs it.
    pub cloudflare: Option<Access>,
    /// Vercel API, when a target or dispatch needs it.
    pub vercel: Option<Access>,
    /// Vercel team id (`team_…`) or slug.
    pub vercel_team: Option<String>,
    /// Fly Machines API, when a target or dispatch needs it.
    pub fly: Option<Access>,
    /// Netlify API, when a target or dispatch needs it.
    pub netlify: Option<Access>,
    /// `--show-token`: print the token outside Actions.
    pub show_token: bool,
    /// `delete-protection: ensure`: the group's delete protection is turned
    /// on after the writes (in `mode: report`, its absence is a finding).
    pub delete_protection: bool,
    /// Where one email about the run goes.
    pub email: Option<EmailNotify>,
}

/// Parses the command line and the environment into a [`Command`].
pub fn parse(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<Command, BadInput> {
    let (flags, show_token) = match raw::args(args)? {
        Args::Help => return Ok(Command::Help),
        Args::Version => return Ok(Command::Version),
        Args::Run { flags, show_token } => (flags, show_token),
    };
    let mut inputs = validate(&Raw::new(env, flags))?;
    inputs.show_token = show_token;
    Ok(Command::Run(Box::new(inputs)))
}

/// Every input, family by family, in the order their errors are reported.
fn validate(raw: &Raw) -> Result<Inputs, BadInput> {
    let runner = raw.runner();
    let dry_run = boolean(raw, "dry-run")?;
    let organization = slug(
        "organization",
        &required(raw, "organization", "your Turso organization slug")?,
    )?;
    let api_token = turso::api_token(raw)?;
    let token = turso::new_token(raw)?;
    let plans = plans::plans(raw, &runner, dry_run)?;
    let dispatch = consumers::dispatch(raw, &plans)?;
    let dispatch_token = raw.get("dispatch-token").map(Secret::new);
    let needs = |platform| access::needs(&plans, &dispatch, dispatch_token.is_some(), platform);
    let platforms = access::platforms(raw, &runner, dry_run, needs)?;
    let turso_api_url = turso::api_url(raw)?;
    let database_url = turso::database_url(raw, plans.len())?;
    // `verify` defaults to `true`: unset is on.
    let verify = raw.get("verify").is_none() || boolean(raw, "verify")?;
    let previous_token = turso::previous_token(raw, &plans, database_url.is_some(), verify, token.mode)?;
    let audit_file = match raw.get("audit-file") {
        Some(p) => Some(file_path(
            "audit-file",
            &p,
            runner.actions,
            runner.workspace.as_deref(),
        )?),
        None => None,
    };
    let limits = durations::limits(raw)?;
    let dispatcher = access::dispatcher(raw, dispatch_token, &dispatch)?;
    let notify = consumers::notify(raw)?;
    let delete_protection = turso::delete_protection(raw)?;
    let email = email::email(raw, consumers::only_on_failure(raw.get("notify-on").as_deref())?)?;

    Ok(Inputs {
        organization,
        plans,
        api_token,
        expiration: token.expiration,
        authorization: token.authorization,
        read_attach: token.read_attach,
        mode: token.mode,
        rotate_after: token.rotate_after,
        github: platforms.github,
        dry_run,
        turso_api_url,
        database_url,
        verify,
        previous_token,
        audit_file,
        reason: raw.get("reason"),
        per_group_outputs: raw.get("groups").or_else(|| raw.get("databases")).is_some(),
        limits,
        dispatch,
        dispatcher,
        notify,
        cloudflare: platforms.cloudflare,
        vercel: platforms.vercel,
        vercel_team: platforms.vercel_team,
        fly: platforms.fly,
        netlify: platforms.netlify,
        show_token: false,
        delete_protection,
        email,
    })
}
