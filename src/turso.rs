//! The Turso Platform API: check the group, invalidate its tokens, mint a
//! new one. Errors carry the status, Turso's own `error` text and the
//! likely cause.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::{self, segment, Call};
use crate::inputs::{Authorization, Expiration};
use crate::retry::{detail, Policy, Refused, Reply};
use crate::secret::Secret;

/// Scopes a least-privilege API token needs, for the 403 hint.
const MINT_COMMAND: &str = "turso auth api-tokens mint NAME --org ORG --group GROUP --scope read --scope group:mint-token --scope group:rotate-creds";

/// How errors name this API.
const TURSO_API: &str = "the Turso API";

/// A client bound to one organization.
pub struct Turso {
    agent: ureq::Agent,
    base: String,
    organization: String,
    token: Secret,
    policy: Policy,
}

/// What the new token grants.
pub struct TokenRequest<'a> {
    pub expiration: &'a Expiration,
    pub authorization: Authorization,
    pub read_attach: &'a [String],
}

impl Turso {
    pub fn new(base: &str, organization: &str, token: Secret, policy: Policy) -> Self {
        Turso {
            agent: http::agent(),
            base: base.to_owned(),
            organization: organization.to_owned(),
            token,
            policy,
        }
    }

    /// Preflight: the API token works and the group exists.
    pub fn check_group(&self, group: &str) -> Result<()> {
        let what = format!("looking up group `{group}`");
        let reply = self.call("GET", group, "", None, &what, "read")?;
        #[derive(Deserialize)]
        struct Answer {
            #[allow(dead_code)]
            group: Value,
        }
        reply.parse::<Answer>(&what, TURSO_API, "`group`")?;
        Ok(())
    }

    /// Invalidates every token of the group that exists now.
    pub fn rotate(&self, group: &str) -> Result<()> {
        self.call(
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
    pub fn create_token(&self, group: &str, request: &TokenRequest) -> Result<Secret> {
        let query = format!(
            "/auth/tokens?expiration={}&authorization={}",
            segment(request.expiration.as_query()),
            request.authorization.as_str()
        );
        let body = (!request.read_attach.is_empty())
            .then(|| json!({ "permissions": { "read_attach": { "databases": request.read_attach } } }));
        let what = format!("creating a token for group `{group}`");
        let reply = self.call("POST", group, &query, body, &what, "group:mint-token")?;
        #[derive(Deserialize)]
        struct Answer {
            jwt: String,
        }
        let answer: Answer = reply.parse(&what, TURSO_API, "`jwt`")?;
        if answer.jwt.trim().is_empty() {
            bail!("{what}: the Turso API returned an empty token");
        }
        Ok(Secret::new(answer.jwt))
    }

    fn call(
        &self,
        method: &str,
        group: &str,
        tail: &str,
        body: Option<Value>,
        what: &str,
        scope: &str,
    ) -> Result<Reply> {
        let url = format!(
            "{}/v1/organizations/{}/groups/{}{tail}",
            self.base,
            segment(&self.organization),
            segment(group)
        );
        let call = Call {
            method,
            url,
            bearer: &self.token,
            body,
        };
        let reply = call
            .send(&self.agent, &self.policy, what)
            .with_context(|| format!("Turso API at {}", self.base))?;
        if reply.ok() {
            return Ok(reply);
        }
        let message = turso_error(&reply.body);
        let hint = match reply.status {
            401 => "the Turso API token is invalid or expired (input `api-token`)".to_owned(),
            403 => format!("the Turso API token lacks the `{scope}` scope for this group; a least-privilege token: `{MINT_COMMAND}`"),
            404 => format!("no group `{group}` in organization `{}`: check the `organization` and `group` inputs", self.organization),
            _ => "unexpected answer from the Turso API".to_owned(),
        };
        Err(Refused {
            status: reply.status,
            message: format!("{what}: HTTP {}{message}: {hint}", reply.status),
        }
        .into())
    }
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

/// The `exp` claim of a group token (a JWT), read without verifying it:
/// only to report when the token expires.
pub fn expiry(token: &Secret) -> Option<std::time::SystemTime> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let payload = token.expose().split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let exp = serde_json::from_slice::<Value>(&bytes).ok()?.get("exp")?.as_u64()?;
    Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(exp))
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
            expiry(&jwt(r#"{"a":"rw","exp":1767225600}"#)),
            Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600))
        );
        assert_eq!(expiry(&jwt(r#"{"a":"rw"}"#)), None);
        assert_eq!(expiry(&Secret::new("not-a-jwt")), None);
    }

    #[test]
    fn error_text_is_turso_own() {
        assert_eq!(turso_error(r#"{"error":"group not found"}"#), ": group not found");
        assert_eq!(turso_error("<html>bad gateway</html>"), ": <html>bad gateway</html>");
    }
}
