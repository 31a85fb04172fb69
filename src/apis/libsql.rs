//! Proves a new token works before anyone depends on it, and an old one
//! dead: one `SELECT 1` through the libSQL HTTP API (`/v2/pipeline`),
//! retried briefly while a new key reaches the database. Every refusal
//! names its cause (libSQL's `code`, or its known texts).

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde_json::{json, Value};

use crate::http::retry::{detail, Policy};
use crate::http::{self, Call};
use crate::secret::Secret;
use crate::workflow;

/// How long a freshly minted token may be refused before it counts as broken.
const PROPAGATION: Duration = Duration::from_secs(20);

/// How a database answered one `SELECT 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The query ran: the token works.
    Accepted,
    /// HTTP 401 or 403: the token is refused, for `cause`.
    Refused { status: u16, cause: String },
}

/// One `SELECT 1` on `database_url` with `token`; any answer but an
/// accepted or refused token is an error that names its cause.
pub fn select_one(database_url: &str, token: &Secret, policy: &Policy, what: &str) -> Result<Answer> {
    // A single `execute` and no `close`: Turso's own server rejects `close`.
    // No stream yet: `baton` is null, as the Hrana over HTTP spec has it.
    let call = Call {
        method: "POST",
        url: format!("{database_url}/v2/pipeline"),
        bearer: Some(token),
        headers: Vec::new(),
        body: Some(
            json!({ "baton": null, "requests": [{ "type": "execute", "stmt": { "sql": "SELECT 1" } }] }).to_string(),
        ),
    };
    let reply = call.send(&http::agent(), policy, what)?;
    match reply.status {
        200 => {
            let body: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
            let first = &body["results"][0];
            if first["type"] == "ok" {
                return Ok(Answer::Accepted);
            }
            // Server text: scrubbed and cut short, as every error body is.
            let error = first["error"]["message"]
                .as_str()
                .map_or_else(|| detail(&reply.body), detail);
            bail!("{what}: the database answered but the query failed{error}");
        }
        status @ (401 | 403) => Ok(Answer::Refused {
            status,
            cause: cause(status, &reply.body),
        }),
        status => bail!(
            "{what}: HTTP {status}{}: {}",
            detail(&reply.body),
            cause(status, &reply.body)
        ),
    }
}

/// Runs `SELECT 1` on `database_url` with the new `token`, retried on
/// 401/403 while the new key propagates.
pub fn verify(database_url: &str, token: &Secret, policy: &Policy) -> Result<()> {
    let what = format!("verifying the new token with SELECT 1 on {database_url}");
    let started = Instant::now();
    let mut wait = Duration::from_millis(500);
    loop {
        match select_one(database_url, token, policy, &what)? {
            Answer::Accepted => return Ok(()),
            // Only while the key may still be propagating, and never into
            // the time kept for writing the token.
            Answer::Refused { status, cause }
                if started.elapsed() + wait < PROPAGATION && wait < policy.remaining() =>
            {
                workflow::log(&format!(
                    "{what}: HTTP {status} ({cause}), the new key may still be propagating; retrying in {:.1}s",
                    wait.as_secs_f64()
                ));
                thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(4));
            }
            Answer::Refused { status, cause } => {
                bail!("{what}: HTTP {status}: the database refuses the new token: {cause}")
            }
        }
    }
}

/// Whether the database refuses `token` within `window`: tried again while
/// it is accepted, as the invalidation reaches the database; the last
/// answer.
pub fn refused_within(
    database_url: &str,
    token: &Secret,
    policy: &Policy,
    window: Duration,
    what: &str,
) -> Result<Answer> {
    let started = Instant::now();
    let mut wait = Duration::from_millis(500);
    loop {
        let answer = select_one(database_url, token, policy, what)?;
        if answer != Answer::Accepted || started.elapsed() + wait >= window || wait >= policy.remaining() {
            return Ok(answer);
        }
        workflow::log(&format!(
            "{what}: still accepted, the invalidation may still be propagating; trying again in {:.1}s",
            wait.as_secs_f64()
        ));
        thread::sleep(wait);
        wait = (wait * 2).min(Duration::from_secs(4));
    }
}

/// Why libSQL refused: its `code` where the body has one, else the
/// server's known `error` texts (its HTTP answers often carry only those).
pub fn cause(status: u16, body: &str) -> String {
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let code = parsed["code"]
        .as_str()
        .or_else(|| parsed["error"]["code"].as_str())
        .unwrap_or_default();
    let text = [&parsed["error"], &parsed["message"], &parsed["error"]["message"]]
        .into_iter()
        .find_map(Value::as_str)
        .unwrap_or(body);
    let by_code = match code {
        "AUTH_JWT_INVALID" => Some(INVALID),
        "AUTH_JWT_EXPIRED" => Some(EXPIRED),
        "AUTH_HEADER_NOT_FOUND" => Some(NO_TOKEN),
        "AUTH_HTTP_HEADER_UNSUPPORTED_SCHEME" | "AUTH_HTTP_HEADER_INVALID" | "AUTH_HEADER_MALFORMED" => Some(SCHEME),
        "AUTH_JWT_MISSING" => Some(NO_TOKEN),
        _ => None,
    };
    if let Some(cause) = by_code {
        return cause.to_owned();
    }
    let known = [
        ("The JWT is invalid", INVALID),
        ("The JWT has expired", EXPIRED),
        ("Expected authorization header but none given", NO_TOKEN),
        (
            "authentication scheme in the `Authorization` HTTP header is not supported",
            SCHEME,
        ),
        ("Authorization forbidden", FORBIDDEN),
    ];
    if let Some((_, cause)) = known.iter().find(|(t, _)| text.contains(t)) {
        return (*cause).to_owned();
    }
    match status {
        404 if text.contains("Namespace") => NO_DATABASE.to_owned(),
        401 => format!("refused without a known reason{}", code_text(code)),
        403 => FORBIDDEN.to_owned(),
        _ => format!("unexpected answer from the database{}", code_text(code)),
    }
}

fn code_text(code: &str) -> String {
    match code {
        "" => String::new(),
        code => format!(" (code {})", detail(code).trim_start_matches(": ")),
    }
}

const INVALID: &str = "the token is invalid or signed by an old key (invalidated by a rotation)";
const EXPIRED: &str = "the token has expired";
const NO_TOKEN: &str = "no token sent (no `Authorization` header reached the database)";
const SCHEME: &str = "the `Authorization` header is not `Bearer <token>`";
const FORBIDDEN: &str = "the token is for another database or group, or has too few permissions";
const NO_DATABASE: &str = "no such database at this URL (the namespace does not exist)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_their_cause_by_code_or_text() {
        let coded = |code: &str| format!(r#"{{"message":"Authentication failed: x","code":"{code}"}}"#);
        assert_eq!(cause(401, &coded("AUTH_JWT_INVALID")), INVALID);
        assert_eq!(cause(401, &coded("AUTH_JWT_EXPIRED")), EXPIRED);
        assert_eq!(cause(401, &coded("AUTH_HEADER_NOT_FOUND")), NO_TOKEN);
        assert_eq!(cause(401, r#"{"error":"Unauthorized: `The JWT is invalid`"}"#), INVALID);
        assert_eq!(
            cause(401, r#"{"error":"Unauthorized: `The JWT has expired`"}"#),
            EXPIRED
        );
        assert_eq!(
            cause(
                401,
                r#"{"error":"Unauthorized: `Expected authorization header but none given`"}"#
            ),
            NO_TOKEN
        );
        assert_eq!(
            cause(
                403,
                r#"{"error":"Authorization forbidden: Current session doesn't not have Read permission to namespace x"}"#
            ),
            FORBIDDEN
        );
        assert_eq!(cause(404, r#"{"error":"Namespace `x` doesn't exist"}"#), NO_DATABASE);
    }
}
