//! The Turso Platform API: check the group, invalidate its tokens, mint a
//! new one. Errors carry the status, Turso's own `error` text and the
//! likely cause. The group's configuration and the API token's own
//! expiry are in `turso/safety.rs`.

pub mod database;
mod safety;

pub use safety::{ApiTokenExpiry, Protected};

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::retry::{detail, MayHaveActed, Policy, Refused, Reply};
use crate::http::{self, segment, Call};
use crate::inputs::{Authorization, Expiration};
use crate::secret::Secret;

/// Scopes a least-privilege API token needs, for the 403 hint.
const MINT_COMMAND: &str = "turso auth api-tokens mint NAME --org ORG --group GROUP --scope read --scope group:mint-token --scope group:rotate-creds";

/// The scopes of a least-privilege token for a database run.
pub(super) const DATABASE_MINT_COMMAND: &str =
    "turso auth api-tokens mint NAME --org ORG --scope read --scope db:rotate-creds --scope db:mint-token";

/// How errors name this API.
pub(super) const TURSO_API: &str = "the Turso API";

/// A client bound to one organization. Each call takes the retry policy
/// it must keep to: the rotate call keeps time back for what follows it.
pub struct Turso {
    agent: ureq::Agent,
    base: String,
    organization: String,
    token: Secret,
}

/// What the new token grants.
pub struct TokenRequest<'a> {
    pub expiration: &'a Expiration,
    pub authorization: Authorization,
    pub read_attach: &'a [String],
}

impl Turso {
    pub fn new(base: &str, organization: &str, token: Secret) -> Self {
        Turso {
            agent: http::agent(),
            base: base.to_owned(),
            organization: organization.to_owned(),
            token,
        }
    }

    /// Preflight: the API token works and the group exists.
    pub fn check_group(&self, group: &str, policy: &Policy) -> Result<()> {
        let what = format!("looking up group `{group}`");
        let reply = self.call(policy, "GET", group, "", None, &what, "read")?;
        #[derive(Deserialize)]
        struct Answer {
            #[allow(dead_code)]
            group: Value,
        }
        reply.parse::<Answer>(&what, TURSO_API, "`group`")?;
        Ok(())
    }

    /// Invalidates every token of the group that exists now.
    pub fn rotate(&self, group: &str, policy: &Policy) -> Result<()> {
        self.call(
            policy,
            "POST",
            group,
            "/auth/rotate",
            None,
            &format!("invalidating the tokens of group `{group}`"),
            "group:rotate-creds",
        )?;
        Ok(())
    }

    /// Mints a new group token; call after [`Turso::rotate`], which would kill it.
    pub fn create_token(&self, group: &str, request: &TokenRequest, policy: &Policy) -> Result<Secret> {
        self.mint(Route::Group(group), request, policy)
    }

    /// `auth/tokens` of a group or a database.
    pub(super) fn mint(&self, route: Route, request: &TokenRequest, policy: &Policy) -> Result<Secret> {
        let query = format!(
            "/auth/tokens?expiration={}&authorization={}",
            segment(request.expiration.as_query()),
            request.authorization.as_str()
        );
        let body = (!request.read_attach.is_empty())
            .then(|| json!({ "permissions": { "read_attach": { "databases": request.read_attach } } }));
        let (what, scope) = match route {
            Route::Group(group) => (format!("creating a token for group `{group}`"), "group:mint-token"),
            Route::Database(db) => (format!("creating a token for database `{db}`"), "db:mint-token"),
        };
        let reply = self.call_at(policy, "POST", route, &query, body, &what, scope)?;
        #[derive(Deserialize)]
        struct Answer {
            jwt: String,
        }
        let answer: Answer = reply.parse(&what, TURSO_API, "`jwt`")?;
        // A JWT is base64url parts joined by dots. Anything else is not
        // handed to the runner's mask command or to a secret.
        let token_like = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=' | '+' | '/');
        if answer.jwt.is_empty() || !answer.jwt.chars().all(token_like) {
            bail!("{what}: the Turso API returned no usable token (empty, or characters a JWT never has)");
        }
        Ok(Secret::new(answer.jwt))
    }

    #[allow(clippy::too_many_arguments)]
    fn call(
        &self,
        policy: &Policy,
        method: &str,
        group: &str,
        tail: &str,
        body: Option<Value>,
        what: &str,
        scope: &str,
    ) -> Result<Reply> {
        self.call_at(policy, method, Route::Group(group), tail, body, what, scope)
    }

    /// A call under `/v1/organizations/{org}/groups/{group}` or
    /// `…/databases/{db}`; an error names the likely cause.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn call_at(
        &self,
        policy: &Policy,
        method: &str,
        route: Route,
        tail: &str,
        body: Option<Value>,
        what: &str,
        scope: &str,
    ) -> Result<Reply> {
        let (kind, name) = match route {
            Route::Group(group) => ("groups", group),
            Route::Database(db) => ("databases", db),
        };
        let url = format!(
            "{}/v1/organizations/{}/{kind}/{}{tail}",
            self.base,
            segment(&self.organization),
            segment(name)
        );
        let reply = Call::json(method, url, &self.token, body)
            .send(&self.agent, policy, what)
            .with_context(|| format!("Turso API at {}", self.base))?;
        if reply.ok() {
            return Ok(reply);
        }
        let message = turso_error(&reply.body);
        let hint = match (reply.status, route) {
            (401, _) => "the Turso API token is invalid or expired (input `api-token`)".to_owned(),
            (403, Route::Group(_)) => format!("the Turso API token lacks the `{scope}` scope for this group; a least-privilege token: `{MINT_COMMAND}`"),
            (403, Route::Database(_)) => format!("the Turso API token lacks the `{scope}` scope for this database; a least-privilege token: `{DATABASE_MINT_COMMAND}`"),
            (404, Route::Group(group)) => format!("no group `{group}` in organization `{}`: check the `organization` and `group` inputs", self.organization),
            (404, Route::Database(db)) => format!("no database `{db}` in organization `{}`: check the `organization` and `database` inputs", self.organization),
            _ => "unexpected answer from the Turso API".to_owned(),
        };
        let refused = anyhow::Error::new(Refused {
            status: reply.status,
            message: format!("{what}: HTTP {}{message}: {hint}", reply.status),
        });
        // A refusal after a lost answer may describe what that attempt did.
        Err(match reply.after_lost {
            true => refused.context(MayHaveActed),
            false => refused,
        })
    }
}

/// Where a call goes: a group's routes or a database's.
#[derive(Debug, Clone, Copy)]
pub(super) enum Route<'a> {
    Group(&'a str),
    Database(&'a str),
}

/// Turso's `{"error": "..."}` text, or an excerpt of the body.
fn turso_error(body: &str) -> String {
    #[derive(Deserialize)]
    struct Error {
        error: String,
    }
    match serde_json::from_str::<Error>(body) {
        Ok(e) => detail(&e.error),
        Err(_) => detail(body),
    }
}

/// When a token expires, as its `exp` claim says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// No `exp` claim: the token never expires.
    Never,
    At(SystemTime),
    /// Not a readable JWT, or an `exp` that is no time (negative, past
    /// year 9999, not a whole number): reported as unknown, never a panic.
    Unknown,
}

/// Latest time RFC 3339 can write: 9999-12-31T23:59:59Z.
pub const MAX_EXP: u64 = 253_402_300_799;

impl Expiry {
    /// Reads the `exp` claim of a group token (a JWT) without verifying
    /// it: only to report when the token expires.
    pub fn of(token: &Secret) -> Expiry {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let claims = token
            .expose()
            .split('.')
            .nth(1)
            .and_then(|payload| URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok())
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
        let Some(claims) = claims.filter(Value::is_object) else {
            return Expiry::Unknown;
        };
        match claims.get("exp") {
            None | Some(Value::Null) => Expiry::Never,
            Some(exp) => match exp.as_u64().filter(|&secs| secs <= MAX_EXP) {
                Some(secs) => Expiry::At(UNIX_EPOCH + Duration::from_secs(secs)),
                None => Expiry::Unknown,
            },
        }
    }

    /// The time, when there is one.
    pub fn at(self) -> Option<SystemTime> {
        match self {
            Expiry::At(at) => Some(at),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    #[test]
    fn expiry_reads_the_exp_claim() {
        let jwt = |claims: &str| Secret::new(format!("eyJhbGciOiJFZERTQSJ9.{}.c2ln", URL_SAFE_NO_PAD.encode(claims)));
        assert_eq!(
            Expiry::of(&jwt(r#"{"a":"rw","exp":1767225600}"#)),
            Expiry::At(UNIX_EPOCH + Duration::from_secs(1_767_225_600))
        );
        assert_eq!(Expiry::of(&jwt(r#"{"a":"rw"}"#)), Expiry::Never);
        assert_eq!(Expiry::of(&Secret::new("not-a-jwt")), Expiry::Unknown);
    }

    #[test]
    fn an_exp_that_is_no_time_is_unknown() {
        let jwt = |claims: &str| Secret::new(format!("eyJhbGciOiJFZERTQSJ9.{}.c2ln", URL_SAFE_NO_PAD.encode(claims)));
        for exp in ["253402300800", "18446744073709551615", "1e30", "-5", "\"soon\"", "1.5"] {
            assert_eq!(
                Expiry::of(&jwt(&format!(r#"{{"exp":{exp}}}"#))),
                Expiry::Unknown,
                "{exp}"
            );
        }
        let last = Expiry::of(&jwt(r#"{"exp":253402300799}"#)).at();
        assert_eq!(
            last.map(|t| humantime::format_rfc3339_seconds(t).to_string())
                .as_deref(),
            Some("9999-12-31T23:59:59Z")
        );
    }

    #[test]
    fn error_text_is_turso_own() {
        assert_eq!(turso_error(r#"{"error":"group not found"}"#), ": group not found");
        assert_eq!(turso_error("<html>bad gateway</html>"), ": <html>bad gateway</html>");
    }
}
