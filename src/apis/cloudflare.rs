//! Cloudflare Workers secrets: list a Worker's secrets (the token reaches
//! the script), prove write access with the probe, write the secret. One
//! call creates or updates a secret and deploys a new version at once.
//! Answers come in Cloudflare's envelope: success is HTTP 2xx *and*
//! `success: true`; errors carry `errors[].code` and `message`.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::retry::{detail, refused_with, Policy, Refused, Reply};
use crate::http::{self, segment, Call};
use crate::inputs::{Scope, Target};
use crate::names;
use crate::secret::{random_hex, Secret};

/// Cloudflare's error code for a script that does not exist.
const NO_SUCH_WORKER: u64 = 10007;
/// Cloudflare's error code while a gradual deployment is in progress.
const GRADUAL_DEPLOYMENT: u64 = 10215;

/// A Worker's secrets as listed in preflight: names only (no values, no
/// timestamps).
#[derive(Debug, Clone)]
pub struct Listing {
    scope: Scope,
    names: BTreeSet<String>,
}

/// A Worker secret ready to write.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub target: Target,
    /// The list shows the secret: it exists (of an unknown age).
    pub present: bool,
}

impl Listing {
    /// A secret of this Worker, from the one list.
    pub fn for_target(&self, target: &Target) -> Result<Prepared> {
        if target.scope != self.scope {
            anyhow::bail!("{target} is not a secret of {}", self.scope);
        }
        Ok(Prepared {
            target: target.clone(),
            present: self.names.contains(&target.secret),
        })
    }
}

/// A client for one Cloudflare API token.
pub struct Cloudflare {
    agent: ureq::Agent,
    base: String,
    token: Secret,
    policy: Policy,
}

impl Cloudflare {
    pub fn new(base: &str, token: Secret, policy: Policy) -> Self {
        Cloudflare {
            agent: http::agent(),
            base: base.to_owned(),
            token,
            policy,
        }
    }

    /// Preflight: the token reaches the Worker's secrets; returns their
    /// names. A Worker that does not exist stops the run: writing a secret
    /// would not create one, and nothing here ever should.
    pub fn list(&self, target: &Target) -> Result<Listing> {
        let what = format!("listing the secrets of {}", target.scope);
        let reply = self.call("GET", target, "", None, &what)?;
        let answer: Value = reply.parse(&what, "Cloudflare", "`result` list")?;
        let Some(secrets) = answer["result"].as_array() else {
            anyhow::bail!("{what}: unexpected answer from Cloudflare (no `result` list)");
        };
        Ok(Listing {
            scope: target.scope.clone(),
            names: secrets
                .iter()
                .filter_map(|s| s["name"].as_str().map(str::to_owned))
                .collect(),
        })
    }

    /// Proves write access: PUT the probe secret, then DELETE it. Each
    /// change deploys a new version of the Worker (two deployments).
    pub fn probe(&self, target: &Target) -> Result<Option<String>> {
        let probe = Target {
            scope: target.scope.clone(),
            secret: names::PROBE_SECRET.to_owned(),
        };
        let value = random_hex(16);
        self.write(&probe, &value, "proving write access by writing a probe")?;
        let what = format!("deleting the probe secret {probe}");
        match self.call(
            "DELETE",
            &probe,
            &format!("/{}", segment(names::PROBE_SECRET)),
            None,
            &what,
        ) {
            Ok(_) => Ok(None),
            Err(e) if refused_with(&e, 404) => Ok(None),
            Err(e) => Ok(Some(format!(
                "{e:#} (delete {} from the Worker by hand; it holds a random value)",
                names::PROBE_SECRET
            ))),
        }
    }

    /// Creates or updates the secret (`secret_text`).
    pub fn write(&self, target: &Target, value: &str, what: &str) -> Result<()> {
        let body = json!({ "name": target.secret, "text": value, "type": "secret_text" });
        let what = format!("{what} into {target}");
        self.call("PUT", target, "", Some(body), &what)?;
        Ok(())
    }

    /// One request to `…/workers/scripts/{script}/secrets{tail}`; an error
    /// names Cloudflare's own codes and the likely cause.
    fn call(&self, method: &str, target: &Target, tail: &str, body: Option<Value>, what: &str) -> Result<Reply> {
        let Scope::Worker { account, script } = &target.scope else {
            anyhow::bail!("{what}: {} is not a Cloudflare Worker", target.scope);
        };
        let url = format!(
            "{}/accounts/{}/workers/scripts/{}/secrets{tail}",
            self.base,
            segment(account),
            segment(script)
        );
        let reply = Call::json(method, url, &self.token, body)
            .send(&self.agent, &self.policy, what)
            .with_context(|| format!("Cloudflare API at {}", self.base))?;
        let envelope: Option<Envelope> = serde_json::from_str(&reply.body).ok();
        let success = envelope.as_ref().is_some_and(|e| e.success);
        if reply.ok() && success {
            return Ok(reply);
        }
        let errors = envelope.map(|e| e.errors).unwrap_or_default();
        let codes: Vec<u64> = errors.iter().filter_map(|e| e.code).collect();
        let message = match errors.is_empty() {
            true => detail(&reply.body),
            false => {
                let text: Vec<String> = errors
                    .iter()
                    .map(|e| format!("{} {}", e.code.map_or("?".into(), |c| c.to_string()), e.message))
                    .collect();
                detail(&text.join("; "))
            }
        };
        let hint = match reply.status {
            _ if codes.contains(&NO_SUCH_WORKER) => format!(
                "{} does not exist: check the account id and script name (a Worker is never created here)",
                target.scope
            ),
            _ if codes.contains(&GRADUAL_DEPLOYMENT) => {
                "a gradual deployment of this Worker is in progress: finish or roll back the gradual deployment first"
                    .to_owned()
            }
            401 | 403 => {
                "the Cloudflare API token lacks the Workers Editor role on this Worker (input `cloudflare-api-token`)"
                    .to_owned()
            }
            404 => format!("not found: check the account id and script of {}", target.scope),
            _ if reply.ok() => "Cloudflare answered without `success: true`".to_owned(),
            _ => "unexpected answer from Cloudflare".to_owned(),
        };
        // A missing Worker is the group's own problem, as a 404 is.
        let status = if codes.contains(&NO_SUCH_WORKER) {
            404
        } else {
            reply.status
        };
        Err(Refused {
            status,
            message: format!("{what}: HTTP {}{message}: {hint}", reply.status),
        }
        .into())
    }
}

/// Cloudflare's answer envelope.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    errors: Vec<ApiError>,
}

#[derive(Deserialize)]
struct ApiError {
    code: Option<u64>,
    #[serde(default)]
    message: String,
}
