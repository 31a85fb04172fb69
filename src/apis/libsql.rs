//! Proves a new token works before anyone depends on it: one `SELECT 1`
//! through the libSQL HTTP API (`/v2/pipeline`), retried briefly on 401/403
//! while the group's new key reaches the database.

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

/// Runs `SELECT 1` on `database_url` with `token`.
pub fn verify(database_url: &str, token: &Secret, policy: &Policy) -> Result<()> {
    let agent = http::agent();
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
    let what = format!("verifying the new token with SELECT 1 on {database_url}");
    let started = Instant::now();
    let mut wait = Duration::from_millis(500);
    loop {
        let reply = call.send(&agent, policy, &what)?;
        match reply.status {
            200 => {
                let body: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
                let first = &body["results"][0];
                if first["type"] == "ok" {
                    return Ok(());
                }
                let error = first["error"]["message"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| detail(&reply.body));
                bail!("{what}: the database answered but the query failed: {error}");
            }
            // Only while the key may still be propagating, and never into
            // the time kept for writing the token.
            401 | 403 if started.elapsed() + wait < PROPAGATION && wait < policy.remaining() => {
                workflow::log(&format!(
                    "{what}: HTTP {}, the new key may still be propagating; retrying in {:.1}s",
                    reply.status,
                    wait.as_secs_f64()
                ));
                thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(4));
            }
            401 | 403 => bail!(
                "{what}: HTTP {}{}: the database refuses the new token (is `database-url` a database of this group?)",
                reply.status,
                detail(&reply.body)
            ),
            status => bail!(
                "{what}: HTTP {status}{}: unexpected answer from the database",
                detail(&reply.body)
            ),
        }
    }
}
