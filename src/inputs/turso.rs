//! The Turso side: the Platform API and its token, the token a rotation
//! makes (lifetime, access, mode, when it is due), and the database that
//! proves it works.

use std::time::Duration;

use super::durations::parse_duration;
use super::error::{bad, shown, BadInput};
use super::plans::GroupPlan;
use super::raw::Raw;
use super::values::{list, slug, url};
use crate::names;
use crate::secret::Secret;

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
    /// Nothing changes and nothing is minted: each secret's age, the
    /// group's delete protection and the API token's expiry are reported.
    Report,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Invalidate => "invalidate",
            Mode::Roll => "roll",
            Mode::Report => "report",
        }
    }
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

/// `api-token`, or the `TURSO_API_TOKEN` variable.
pub(super) fn api_token(raw: &Raw) -> Result<Secret, BadInput> {
    match raw.get("api-token").or_else(|| raw.env(names::TURSO_API_TOKEN)) {
        Some(t) => Ok(Secret::new(t)),
        None => bad("Input `api-token` is required (or set TURSO_API_TOKEN): a Turso Platform API token."),
    }
}

/// The new token and when it is made.
pub(super) struct NewToken {
    pub expiration: Expiration,
    pub authorization: Authorization,
    /// Databases granted `read_attach`.
    pub read_attach: Vec<String>,
    pub mode: Mode,
    /// Rotate a group only when one of its secrets is missing or older.
    pub rotate_after: Option<Duration>,
}

/// `expiration`, `authorization`, `mode`, `rotate-after` and `read-attach-databases`.
pub(super) fn new_token(raw: &Raw) -> Result<NewToken, BadInput> {
    let expiration = expiration(raw)?;
    let authorization = authorization(raw)?;
    let mode = mode(raw)?;
    let rotate_after = rotate_after(raw)?;
    if mode == Mode::Roll {
        roll_retires_old_tokens(&expiration, rotate_after)?;
    }
    let read_attach = list(raw.get("read-attach-databases"))
        .into_iter()
        .map(|db| slug("read-attach-databases", &db))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NewToken {
        expiration,
        authorization,
        read_attach,
        mode,
        rotate_after,
    })
}

fn expiration(raw: &Raw) -> Result<Expiration, BadInput> {
    Ok(match raw.get("expiration") {
        None => Expiration::Never,
        Some(text) if text == "never" => Expiration::Never,
        Some(text) => match parse_duration(&text) {
            Some(d) => Expiration::After(text, d),
            None => return bad(format!("Input `expiration`: '{text}' is not a duration. Expected `never` or a duration like `7d` or `2w1d30m` (units w d h m s).")),
        },
    })
}

fn authorization(raw: &Raw) -> Result<Authorization, BadInput> {
    match raw.get("authorization").as_deref() {
        None | Some("full-access") => Ok(Authorization::FullAccess),
        Some("read-only") => Ok(Authorization::ReadOnly),
        Some(other) => bad(format!(
            "Input `authorization`: '{other}' is not valid. Expected `full-access` or `read-only`."
        )),
    }
}

fn mode(raw: &Raw) -> Result<Mode, BadInput> {
    match raw.get("mode").as_deref() {
        None | Some("invalidate") => Ok(Mode::Invalidate),
        Some("roll") => Ok(Mode::Roll),
        Some("report") => Ok(Mode::Report),
        Some(other) => bad(format!(
            "Input `mode`: '{}' is not valid. Expected `invalidate`, `roll` or `report`.",
            shown(other)
        )),
    }
}

fn rotate_after(raw: &Raw) -> Result<Option<Duration>, BadInput> {
    match raw.get("rotate-after") {
        None => Ok(None),
        Some(text) => match parse_duration(&text) {
            Some(d) => Ok(Some(d)),
            None => bad(format!("Input `rotate-after`: '{}' is not a duration. Expected a duration like `7d` or `1w` (units w d h m s).", shown(&text))),
        },
    }
}

/// A roll invalidates nothing: only an expiry, after the next rotation is
/// due, retires the old tokens.
fn roll_retires_old_tokens(expiration: &Expiration, rotate_after: Option<Duration>) -> Result<(), BadInput> {
    match (expiration, rotate_after) {
        (Expiration::Never, _) => bad(
            "Input `expiration` must be a duration with `mode: roll`: a roll invalidates nothing, so only an expiry retires the old tokens (e.g. `expiration: 30d`).",
        ),
        (Expiration::After(text, lifetime), Some(after)) if *lifetime <= after => bad(format!(
            "Input `expiration` ({text}) must be longer than `rotate-after` with `mode: roll`: the token would expire before the next rotation is due.",
        )),
        _ => Ok(()),
    }
}

/// `turso-api-url`, without a trailing slash.
pub(super) fn api_url(raw: &Raw) -> Result<String, BadInput> {
    url(
        "turso-api-url",
        &raw.get("turso-api-url")
            .unwrap_or_else(|| names::DEFAULT_TURSO_API_URL.into()),
    )
}

/// `database-url`: one database, so of one group only.
pub(super) fn database_url(raw: &Raw, groups: usize) -> Result<Option<String>, BadInput> {
    match raw.get("database-url") {
        Some(_) if groups > 1 => bad(
            "Input `database-url` names one database, of one group: it cannot verify the tokens of several `groups`.",
        ),
        Some(u) => Ok(Some(url("database-url", &u)?)),
        None => Ok(None),
    }
}

/// `previous-token`: the one token this run replaces, proven dead after an
/// invalidation on a database it worked on (`database-url`, or the
/// database's own host). A roll only reads its expiry.
pub(super) fn previous_token(
    raw: &Raw,
    plans: &[GroupPlan],
    database_url: bool,
    verify: bool,
    mode: Mode,
) -> Result<Option<Secret>, BadInput> {
    let Some(token) = raw.get("previous-token") else {
        return Ok(None);
    };
    // Registered for redaction before any error can be written.
    let token = Secret::new(token);
    // A roll and a report only read its expiry.
    if matches!(mode, Mode::Roll | Mode::Report) {
        return Ok(Some(token));
    }
    if plans.len() > 1 {
        return bad("Input `previous-token` is the one token this run replaces: it proves one `group` or `database` dead, not several.");
    }
    let has_host = plans.iter().all(|p| p.database().is_some());
    if !verify {
        return bad("Input `previous-token` is tried with `SELECT 1` on the database: `verify: false` turns that off. Leave `previous-token` empty, or `verify` on.");
    }
    if !database_url && !has_host {
        return bad("Input `previous-token` needs a database to try it on: give `database-url` (a database of the group), or rotate a `database`.");
    }
    Ok(Some(token))
}

/// `delete-protection`: `ensure` turns the group's delete protection on
/// (in `mode: report`, only reports it as a finding); `ignore` by default.
pub(super) fn delete_protection(raw: &Raw) -> Result<bool, BadInput> {
    match raw.get("delete-protection").as_deref() {
        None | Some("ignore") => Ok(false),
        Some("ensure") => Ok(true),
        Some(other) => bad(format!(
            "Input `delete-protection`: '{}' is not valid. Expected `ignore` or `ensure`.",
            shown(other)
        )),
    }
}
