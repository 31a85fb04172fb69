//! The Turso Platform API for one database instead of its whole group:
//! read it (its group and its own host), invalidate its tokens alone, mint
//! a token of it, and read its allow rules when a verification fails.

use anyhow::Result;
use serde::Deserialize;

use super::{Route, TokenRequest, Turso, TURSO_API};
use crate::http::retry::{Policy, Refused};
use crate::secret::Secret;

/// What preflight learns of a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    /// Its group, which alone can rotate when the database cannot.
    pub group: String,
    /// Its own libSQL host (`Hostname`), where a token is verified.
    pub hostname: Option<String>,
    pub delete_protection: Option<bool>,
}

impl Database {
    /// The database's own libSQL endpoint: `https://{Hostname}`, or
    /// `http://` for a loopback host (a local server).
    pub fn url(&self) -> Option<String> {
        let host = self.hostname.as_deref()?.trim_end_matches('/');
        let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
        let valid = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':'));
        if !valid {
            return None;
        }
        let scheme = if crate::http::proxy::is_loopback(name) {
            "http"
        } else {
            "https"
        };
        Some(format!("{scheme}://{host}"))
    }
}

/// Turso's words for a database whose credentials rotate only with its group.
const ROTATES_WITH_GROUP: &str = "cannot rotate credentials for a single database";

impl Turso {
    /// Preflight: the API token works and the database exists.
    pub fn check_database(&self, db: &str, policy: &Policy) -> Result<Database> {
        let what = format!("looking up database `{db}`");
        let reply = self.call_at(policy, "GET", Route::Database(db), "", None, &what, "read")?;
        #[derive(Deserialize)]
        struct Answer {
            database: Fields,
        }
        #[derive(Deserialize)]
        struct Fields {
            group: String,
            #[serde(rename = "Hostname")]
            hostname: Option<String>,
            delete_protection: Option<bool>,
        }
        let answer: Answer = reply.parse(&what, TURSO_API, "`database` with its `group`")?;
        Ok(Database {
            group: answer.database.group,
            hostname: answer.database.hostname,
            delete_protection: answer.database.delete_protection,
        })
    }

    /// Invalidates every token of the database alone (its group's stay
    /// valid). A database whose group rotates only as a whole is refused
    /// with a 400 that changed nothing: the error says to rotate `group`.
    pub fn rotate_database(&self, db: &str, group: &str, policy: &Policy) -> Result<()> {
        let what = format!("invalidating the tokens of database `{db}`");
        let result = self.call_at(
            policy,
            "POST",
            Route::Database(db),
            "/auth/rotate",
            None,
            &what,
            "db:rotate-creds",
        );
        match result {
            Err(e) if e.downcast_ref::<Refused>().is_some_and(|r| r.status == 400 && r.message.contains(ROTATES_WITH_GROUP)) => {
                Err(anyhow::Error::new(Refused {
                    status: 400,
                    message: format!(
                        "{what}: HTTP 400: Turso cannot rotate the credentials of this database alone: group `{group}` rotates only as a whole (`group: {group}`, which kills every token of the group); nothing changed"
                    ),
                }))
            }
            other => other.map(|_| ()),
        }
    }

    /// Mints a new token of the database; call after [`Turso::rotate_database`].
    pub fn create_database_token(&self, db: &str, request: &TokenRequest, policy: &Policy) -> Result<Secret> {
        self.mint(Route::Database(db), request, policy)
    }

    /// The database's allow rules, when it has any: `allowed_ips` and
    /// `allowed_aws_vpc_ids` that may refuse the runner's address.
    pub fn allow_rules(&self, db: &str, policy: &Policy) -> Result<Vec<String>> {
        let what = format!("reading the configuration of database `{db}`");
        let reply = self.call_at(
            policy,
            "GET",
            Route::Database(db),
            "/configuration",
            None,
            &what,
            "read",
        )?;
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default)]
            allowed_ips: Option<Vec<String>>,
            #[serde(default)]
            allowed_aws_vpc_ids: Option<Vec<String>>,
        }
        let answer: Answer = reply.parse(&what, TURSO_API, "`allowed_ips`")?;
        let mut rules = Vec::new();
        for (name, list) in [
            ("allowed_ips", answer.allowed_ips),
            ("allowed_aws_vpc_ids", answer.allowed_aws_vpc_ids),
        ] {
            if list.is_some_and(|l| !l.is_empty()) {
                rules.push(name.to_owned());
            }
        }
        Ok(rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_host_takes_http() {
        let db = |host: &str| Database {
            group: "prod".into(),
            hostname: Some(host.into()),
            delete_protection: None,
        };
        assert_eq!(
            db("users-acme.turso.io").url().as_deref(),
            Some("https://users-acme.turso.io")
        );
        assert_eq!(db("127.0.0.1:8080").url().as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(db("evil/path?x").url(), None);
    }
}
