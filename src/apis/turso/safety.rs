//! The group's own safety and the API token's: the group's delete
//! protection (read, and turned on with `delete-protection: ensure`), and
//! when the Platform API token itself expires (`GET /v1/auth/validate`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::json;

use super::{turso_error, Route, Turso, MAX_EXP, TURSO_API};
use crate::http::retry::{Policy, Refused};
use crate::http::Call;

/// What `delete-protection: ensure` protects: a group, or one database.
#[derive(Debug, Clone, Copy)]
pub enum Protected<'a> {
    Group(&'a str),
    Database(&'a str),
}

#[derive(Deserialize)]
struct Configuration {
    delete_protection: bool,
}

/// When the Platform API token expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiTokenExpiry {
    /// `exp` is `-1`: it never expires.
    Never,
    At(SystemTime),
}

impl Turso {
    /// Whether the group is protected from deletion
    /// (`GET …/groups/{group}/configuration`).
    pub fn delete_protection(&self, group: &str, policy: &Policy) -> Result<bool> {
        let what = format!("reading the configuration of group `{group}`");
        let reply = self.call(policy, "GET", group, "/configuration", None, &what, "read")?;
        let answer: Configuration = reply.parse(&what, TURSO_API, "`delete_protection`")?;
        Ok(answer.delete_protection)
    }

    /// Turns the group's (or one database's) delete protection on
    /// (`PATCH …/configuration`).
    pub fn protect_from_deletion(&self, subject: Protected, policy: &Policy) -> Result<()> {
        let (route, scope, what) = match subject {
            Protected::Group(group) => (
                Route::Group(group),
                "group:configure",
                format!("turning on delete protection of group `{group}`"),
            ),
            Protected::Database(db) => (
                Route::Database(db),
                "db:configure",
                format!("turning on delete protection of database `{db}`"),
            ),
        };
        let body = Some(json!({ "delete_protection": true }));
        let reply = self.call_at(policy, "PATCH", route, "/configuration", body, &what, scope)?;
        let answer: Configuration = reply.parse(&what, TURSO_API, "`delete_protection`")?;
        if !answer.delete_protection {
            bail!("{what}: the Turso API answered that delete protection is still off");
        }
        Ok(())
    }

    /// When the Platform API token itself expires (`GET /v1/auth/validate`).
    pub fn api_token_expiry(&self, policy: &Policy) -> Result<ApiTokenExpiry> {
        let what = "validating the Turso API token";
        let url = format!("{}/v1/auth/validate", self.base);
        let reply = Call::json("GET", url, &self.token, None)
            .send(&self.agent, policy, what)
            .with_context(|| format!("Turso API at {}", self.base))?;
        if !reply.ok() {
            let hint = match reply.status {
                401 => ": the Turso API token is invalid or expired (input `api-token`)",
                _ => "",
            };
            return Err(anyhow::Error::new(Refused {
                status: reply.status,
                message: format!("{what}: HTTP {}{}{hint}", reply.status, turso_error(&reply.body)),
            }));
        }
        #[derive(Deserialize)]
        struct Answer {
            exp: i64,
        }
        let answer: Answer = reply.parse(what, TURSO_API, "`exp`")?;
        match answer.exp {
            -1 => Ok(ApiTokenExpiry::Never),
            secs if (0..=MAX_EXP as i64).contains(&secs) => {
                Ok(ApiTokenExpiry::At(UNIX_EPOCH + Duration::from_secs(secs as u64)))
            }
            _ => bail!("{what}: the Turso API's `exp` is no time"),
        }
    }
}
