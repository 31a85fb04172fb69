//! The fake's libSQL side: the Hrana-over-HTTP `POST /v2/pipeline` of each
//! database, and the JWTs it checks.
//!
//! How the real server refuses, as read in tursodatabase/libsql at commit
//! f8fb14f3638e44edf3dbace489618c7768daee55:
//!
//! - `libsql-server/src/auth/errors.rs`: `AuthError`, its texts and its
//!   `code()` (`AUTH_HEADER_NOT_FOUND`, `AUTH_JWT_INVALID`,
//!   `AUTH_JWT_EXPIRED`, `AUTH_HTTP_HEADER_UNSUPPORTED_SCHEME`, …).
//! - `libsql-server/src/http/user/mod.rs`: the `Authenticated` extractor
//!   runs before the pipeline handler; no `Authorization` header (or one
//!   without a space) leaves the context empty, and
//!   `auth/user_auth_strategies/jwt.rs` then answers `AuthHeaderNotFound`;
//!   a scheme other than `Bearer` is `HttpAuthHeaderUnsupportedScheme`; a
//!   signature no key of the namespace verifies is `JwtInvalid` (checked
//!   before the expiry, so an old key's expired token is "invalid"); a past
//!   `exp` is `JwtExpired`.
//! - `libsql-server/src/error.rs`: `Error::AuthError` is displayed as
//!   ``Unauthorized: `{0}` `` and `ResponseError::format_err` answers
//!   `{"error": "<that text>"}` with 401: **the HTTP answer carries no
//!   `code`**. A token whose key is accepted but whose claims name another
//!   namespace passes authentication and fails at the statement
//!   (`auth/authenticated.rs` `has_right`, `connection/program.rs`):
//!   `Error::Forbidden`, 403, `{"error": "Authorization forbidden: Current
//!   session doesn't not have Read permission to namespace NS"}` (sic). A
//!   namespace that does not exist is 404 ``{"error": "Namespace `NS`
//!   doesn't exist"}``.
//! - The `code` appears in Hrana's own error objects,
//!   `proto::Error {message, code}` (`hrana/http/mod.rs`
//!   `stream_error_response`, `hrana/ws/session.rs` `ResponseError::Auth`
//!   displayed as `Authentication failed: {source}` with `source.code()`).
//!   [`LibsqlErrors::Coded`] answers the auth refusals in that shape, for a
//!   client that must read a `code` where one is given.
//!
//! Simplifications: tokens are HS256 (the real server takes EdDSA); the
//! expiry has no leeway (jsonwebtoken allows 60 s); `exp` that is not a
//! `u64` never expires (see `FakeTurso::set_exp_claim`).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::server::{Recorded, Reply};
use super::turso::State;

type HmacSha256 = Hmac<Sha256>;

/// The body shape of libSQL's 401 refusals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LibsqlErrors {
    /// The open-source server's HTTP answer: ``{"error": "Unauthorized:
    /// `The JWT is invalid`"}``.
    #[default]
    Text,
    /// Hrana's error object: `{"message": "Authentication failed: The JWT
    /// is invalid", "code": "AUTH_JWT_INVALID"}`.
    Coded,
}

/// Why the pipeline refused a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    HeaderNotFound,
    UnsupportedScheme,
    JwtInvalid,
    JwtExpired,
    /// Authenticated, but the claims name another namespace.
    Forbidden(String),
}

impl Refusal {
    fn reply(&self, shape: LibsqlErrors) -> Reply {
        let (text, code) = match self {
            Refusal::HeaderNotFound => ("Expected authorization header but none given", "AUTH_HEADER_NOT_FOUND"),
            Refusal::UnsupportedScheme => (
                "The authentication scheme in the `Authorization` HTTP header is not supported",
                "AUTH_HTTP_HEADER_UNSUPPORTED_SCHEME",
            ),
            Refusal::JwtInvalid => ("The JWT is invalid", "AUTH_JWT_INVALID"),
            Refusal::JwtExpired => ("The JWT has expired", "AUTH_JWT_EXPIRED"),
            Refusal::Forbidden(namespace) => {
                let text =
                    format!("Authorization forbidden: Current session doesn't not have Read permission to namespace {namespace}");
                return Reply::json(403, &json!({ "error": text }));
            }
        };
        match shape {
            LibsqlErrors::Text => Reply::json(401, &json!({ "error": format!("Unauthorized: `{text}`") })),
            LibsqlErrors::Coded => Reply::json(
                401,
                &json!({"message": format!("Authentication failed: {text}"), "code": code}),
            ),
        }
    }
}

/// The libSQL Hrana-over-HTTP pipeline of database `db`, enough to run
/// `SELECT 1`.
pub(super) fn pipeline(state: &mut State, db: &str, req: &Recorded) -> Reply {
    if req.method != "POST" {
        return Reply::text(405, "Method Not Allowed");
    }
    if let Err(refusal) = authenticate(state, db, req.header("authorization")) {
        return match refusal {
            None => Reply::json(404, &json!({ "error": format!("Namespace `{db}` doesn't exist") })),
            Some(refusal) => refusal.reply(state.libsql_errors),
        };
    }
    let token = req.header("authorization").unwrap_or("").to_string();
    let seen = state.pipeline_calls.entry(token).or_insert(0);
    *seen += 1;
    if *seen <= state.propagation_delay {
        return Refusal::JwtInvalid.reply(state.libsql_errors);
    }
    let Some(Value::Array(requests)) = req.json().map(|b| b["requests"].clone()) else {
        return Reply::text(400, "Invalid request body");
    };
    if requests.iter().any(|r| r["type"] == "close") {
        // Turso's own local server answers a `close` in a pipeline like this.
        return Reply::text(500, "Internal Server Error");
    }
    let results: Vec<Value> = requests.iter().map(execute).collect();
    Reply::json(200, &json!({"baton": null, "base_url": null, "results": results}))
}

/// What database `db`'s endpoint makes of this `Authorization` header:
/// `Err(None)` when there is no such database.
pub(super) fn authenticate(state: &State, db: &str, header: Option<&str>) -> Result<(), Option<Refusal>> {
    let database = state.databases.get(db).ok_or(None)?;
    let group = state.groups.get(&database.group).ok_or(None)?;
    let (scheme, token) = header
        .and_then(|h| h.split_once(' '))
        .ok_or(Some(Refusal::HeaderNotFound))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Some(Refusal::UnsupportedScheme));
    }
    // The namespace takes the group's key and its own.
    let claims = [&group.key, &database.key]
        .into_iter()
        .find_map(|key| signed_claims(key, token))
        .ok_or(Some(Refusal::JwtInvalid))?;
    if claims["exp"].as_u64().is_some_and(|exp| exp <= now()) {
        return Err(Some(Refusal::JwtExpired));
    }
    let names_other = |claim: &str, own: &str| claims[claim].as_str().is_some_and(|v| v != own);
    if names_other("id", &database.id) || names_other("gid", &group.uuid) {
        return Err(Some(Refusal::Forbidden(database.id.clone())));
    }
    Ok(())
}

/// `SELECT 1` succeeds; any other statement is an SQL error, which libSQL
/// reports inside a 200 answer.
fn execute(request: &Value) -> Value {
    let sql = request["stmt"]["sql"].as_str().unwrap_or("");
    let normalized = sql.trim().trim_end_matches(';').trim().to_ascii_lowercase();
    if request["type"] != "execute" || normalized != "select 1" {
        return json!({"type": "error", "error": {
            "message": format!("SQLite error: cannot run {sql:?} here"),
            "code": "SQLITE_ERROR",
        }});
    }
    json!({"type": "ok", "response": {"type": "execute", "result": {
        "cols": [{"name": "1", "decltype": null}],
        "rows": [[{"type": "integer", "value": "1"}]],
        "affected_row_count": 0,
        "last_insert_rowid": null,
        "replication_index": null,
        "rows_read": 0,
        "rows_written": 0,
        "query_duration_ms": 0.0,
    }}})
}

pub(super) fn sign(key: &[u8; 32], claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// The claims of a JWT `key` signed, expired or not.
pub(super) fn signed_claims(key: &[u8; 32], jwt: &str) -> Option<Value> {
    let (signing_input, signature) = jwt.rsplit_once('.')?;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    mac.verify_slice(&signature).ok()?;
    decode_claims(jwt)
}

/// Signed by `key` and not expired.
pub(super) fn verify(key: &[u8; 32], jwt: &str) -> bool {
    signed_claims(key, jwt).is_some_and(|claims| claims["exp"].as_u64().is_none_or(|exp| now() < exp))
}

pub(super) fn decode_claims(jwt: &str) -> Option<Value> {
    let payload = jwt.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

pub(super) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}
