//! Fly.io app secrets and machine updates, through the Machines API as
//! fly-go's `flaps` client speaks it. A secret write is staged: machines
//! read it only when they are updated with `min_secrets_version` at least
//! the version the write answered, so `roll` updates each started machine
//! in turn (lease, update with its own config, wait until it is started
//! again, release). Errors are `{"error": "…"}` with the `fly-request-id`
//! header, which every message here carries.

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};

use super::Age;
use crate::http::retry::{detail, refused_with, Policy, Refused, Reply};
use crate::http::{self, segment, Call};
use crate::names;
use crate::secret::{random_hex, Secret};

/// fly-go `flaps.NonceHeader`.
const NONCE_HEADER: &str = "fly-machine-lease-nonce";
/// Token prefixes fly-go's `tokens.Parse` reads as macaroons.
const MACAROON_PREFIXES: [&str; 3] = ["fm1r_", "fm1a_", "fm2_"];
/// Longest one machine may take to be started again (flyctl's default
/// `--wait-timeout`), further bounded by the run's deadline.
const MACHINE_WAIT: Duration = Duration::from_secs(300);
/// The longest `timeout` one wait request asks for (fly-go clamps to 1..60 s).
const WAIT_REQUEST: Duration = Duration::from_secs(60);
/// Pause before asking again for a lease someone else holds.
const LEASE_RETRY: Duration = Duration::from_secs(1);
const LEASE_RETRY_MAX: Duration = Duration::from_secs(8);
/// The least-privilege token that is enough, for error messages.
const DEPLOY_TOKEN: &str = "fly tokens create deploy -a";

/// A client for one Fly API token.
pub struct Fly {
    agent: ureq::Agent,
    base: String,
    /// The token without a scheme.
    token: Secret,
    /// `FlyV1` or `Bearer`.
    scheme: &'static str,
    policy: Policy,
}

/// What a roll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rolled {
    /// Machines updated and started again, in order (their ids).
    pub updated: Vec<String>,
    /// Machines left alone, with their state: they pick up the secret when
    /// they are next updated.
    pub left_alone: Vec<(String, String)>,
}

/// A machine as the list answers it (the fields an update needs).
#[derive(Debug, Clone, Deserialize)]
struct Machine {
    id: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    config: Option<Value>,
}

/// A machine's identity after an update: what the wait asks for.
#[derive(Debug, Deserialize)]
struct Updated {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    instance_id: Option<String>,
}

impl Fly {
    /// A leading `Bearer ` or `FlyV1 ` is stripped; a macaroon token
    /// (`fm1r_`, `fm1a_`, `fm2_`, commas kept) is sent as `FlyV1`, anything
    /// else as `Bearer` (fly-go `tokens.FlapsHeader`).
    pub fn new(api_url: &str, token: Secret, policy: Policy) -> Fly {
        let raw = token.expose().trim();
        let bare = ["Bearer ", "FlyV1 "]
            .iter()
            .find_map(|prefix| raw.strip_prefix(prefix))
            .unwrap_or(raw)
            .trim();
        let macaroon = bare
            .split(',')
            .any(|part| MACAROON_PREFIXES.iter().any(|p| part.trim().starts_with(p)));
        // Each macaroon alone is secret too: an echo of one is scrubbed.
        for part in bare.split(',') {
            Secret::new(part.trim());
        }
        Fly {
            agent: http::agent(),
            base: api_url.trim_end_matches('/').to_owned(),
            token: Secret::new(bare),
            scheme: if macaroon { "FlyV1" } else { "Bearer" },
            policy,
        }
    }

    /// Preflight: the app exists and the token sees it.
    pub fn check_app(&self, app: &str) -> Result<()> {
        let what = format!("reading Fly app {app}");
        self.call("GET", app, "", None, Vec::new(), &what)?;
        Ok(())
    }

    /// When the secret was last written: `Missing` when it does not exist,
    /// `Untracked` when Fly's answer gives no time (`updated_at` is optional
    /// in fly-go's `AppSecret`).
    pub fn updated_at(&self, app: &str, name: &str) -> Result<Age> {
        let what = format!("reading Fly secret {name} of app {app}");
        let route = format!("/secrets/{}", segment(name));
        let answer = match self.call("GET", app, &route, None, Vec::new(), &what) {
            Ok(answer) => answer,
            Err(e) if refused_with(&e, 404) => return Ok(Age::Missing),
            Err(e) => return Err(e),
        };
        #[derive(Deserialize)]
        struct Metadata {
            updated_at: Option<String>,
        }
        let metadata: Metadata = answer.parse(&what, "Fly", "a secret")?;
        let Some(updated_at) = metadata.updated_at else {
            return Ok(Age::Untracked);
        };
        let at = humantime::parse_rfc3339_weak(updated_at.trim())
            .map_err(|_| anyhow!("{what}: Fly's `updated_at` is not an RFC 3339 time"))?;
        Ok(Age::WrittenAt(at))
    }

    /// Proves write access: set the probe secret, then delete it. A probe
    /// written but not deleted is a warning, not a failure.
    pub fn probe(&self, app: &str) -> Result<Option<String>> {
        self.write(
            app,
            names::PROBE_SECRET,
            &random_hex(16),
            "proving write access by writing a probe",
        )?;
        let what = format!("deleting the probe secret {} of Fly app {app}", names::PROBE_SECRET);
        let route = format!("/secrets/{}", segment(names::PROBE_SECRET));
        match self.call("DELETE", app, &route, None, Vec::new(), &what) {
            Ok(_) => Ok(None),
            Err(e) if refused_with(&e, 404) => Ok(None),
            Err(e) => Ok(Some(format!(
                "{e:#} (delete it by hand: `fly secrets unset {} -a {app} --stage`; it holds a random value)",
                names::PROBE_SECRET
            ))),
        }
    }

    /// Sets the secret (staged: no machine restarts); returns the app's new
    /// secrets version, which a roll passes as `min_secrets_version`.
    pub fn write(&self, app: &str, name: &str, value: &str, what: &str) -> Result<u64> {
        let what = format!("{what} into Fly secret {name} of app {app}");
        let route = format!("/secrets/{}", segment(name));
        let answer = self.call("POST", app, &route, Some(json!({ "value": value })), Vec::new(), &what)?;
        #[derive(Deserialize)]
        struct Written {
            version: u64,
        }
        let written: Written = answer.parse(
            &what,
            "Fly",
            "secrets `version`: the secret was written, but machines cannot be told which version to read",
        )?;
        Ok(written.version)
    }

    /// Updates every started machine of the app, one at a time, so it reads
    /// secrets of at least `min_secrets_version`. Machines in other states
    /// are left alone. A machine that does not come back stops the roll;
    /// the error names the machines already updated.
    pub fn roll(&self, app: &str, min_secrets_version: u64) -> Result<Rolled> {
        let what = format!("listing the machines of Fly app {app}");
        let answer = self.call("GET", app, "/machines", None, Vec::new(), &what)?;
        let machines: Vec<Machine> = answer.parse(&what, "Fly", "machine list")?;
        let mut rolled = Rolled::default();
        let (started, others): (Vec<_>, Vec<_>) = machines.into_iter().partition(|m| m.state == "started");
        rolled.left_alone = others.into_iter().map(|m| (m.id, m.state)).collect();
        for (i, machine) in started.iter().enumerate() {
            // Told to stop: the machine in flight finishes, no next one starts.
            let result = match crate::stop::requested() {
                true => Err(anyhow!("the run was stopped (SIGINT or SIGTERM)")),
                false => self.update(app, machine, min_secrets_version),
            };
            if let Err(e) = result {
                let rest: Vec<&str> = started[i + 1..].iter().map(|m| m.id.as_str()).collect();
                return Err(e.context(format!(
                    "rolling Fly app {app} stopped at machine {}: updated: {}; not updated, still on the old secret: {}",
                    machine.id,
                    list(rolled.updated.iter().map(String::as_str)),
                    list(std::iter::once(machine.id.as_str()).chain(rest)),
                )));
            }
            rolled.updated.push(machine.id.clone());
        }
        Ok(rolled)
    }

    /// Lease, update, wait, release: one machine.
    fn update(&self, app: &str, machine: &Machine, min_secrets_version: u64) -> Result<()> {
        let id = &machine.id;
        let config = machine
            .config
            .clone()
            .ok_or_else(|| anyhow!("machine {id} of Fly app {app}: the list gave no `config` to update it with"))?;
        let until = Instant::now() + MACHINE_WAIT;
        let nonce = self.lease(app, id, until)?;
        let nonce_header = || vec![(NONCE_HEADER, nonce.clone())];
        let result = (|| {
            let what = format!("updating machine {id} of Fly app {app}");
            let body =
                json!({ "config": config, "region": machine.region, "min_secrets_version": min_secrets_version });
            let route = format!("/machines/{}", segment(id));
            let answer = self.call("POST", app, &route, Some(body), nonce_header(), &what)?;
            let updated: Updated = answer.parse(&what, "Fly", "machine")?;
            self.wait(app, id, &updated, until)
        })();
        let what = format!("releasing the lease on machine {id} of Fly app {app}");
        let route = format!("/machines/{}/lease", segment(id));
        let released = self.call("DELETE", app, &route, None, nonce_header(), &what);
        result?;
        // A lease not released expires on its own (its ttl): the machine is updated.
        if let Err(e) = released {
            crate::workflow::log(&format!("{e:#} (the lease expires on its own)"));
        }
        Ok(())
    }

    /// Takes the machine's lease; one held by someone else (409) is asked
    /// for again until `until` or the run's deadline. Returns the nonce.
    fn lease(&self, app: &str, id: &str, until: Instant) -> Result<String> {
        let what = format!("taking the lease on machine {id} of Fly app {app}");
        let ttl = MACHINE_WAIT.as_secs() + 60;
        let route = format!("/machines/{}/lease?ttl={ttl}", segment(id));
        let mut pause = LEASE_RETRY;
        loop {
            match self.call("POST", app, &route, None, Vec::new(), &what) {
                Ok(answer) => {
                    #[derive(Deserialize)]
                    struct Lease {
                        data: Option<LeaseData>,
                    }
                    #[derive(Deserialize)]
                    struct LeaseData {
                        nonce: String,
                    }
                    let lease: Lease = answer.parse(&what, "Fly", "lease `data.nonce`")?;
                    return lease
                        .data
                        .map(|d| d.nonce)
                        .ok_or_else(|| anyhow!("{what}: unexpected answer from Fly (no lease `data.nonce`)"));
                }
                Err(e) if refused_with(&e, 409) => {
                    let left = until
                        .saturating_duration_since(Instant::now())
                        .min(self.policy.remaining());
                    if pause >= left {
                        return Err(e.context(format!(
                            "machine {id} of Fly app {app} is leased by someone else (a deploy in progress?) and was not released in time"
                        )));
                    }
                    crate::workflow::log(&format!(
                        "machine {id} of Fly app {app} is leased by someone else: asking again in {}s",
                        pause.as_secs()
                    ));
                    thread::sleep(pause);
                    pause = (pause * 2).min(LEASE_RETRY_MAX);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits until the machine is `started` with its new version (or
    /// instance id where the update answered only that), as fly-go does;
    /// each request asks for at most a minute, 408 asks again.
    fn wait(&self, app: &str, id: &str, updated: &Updated, until: Instant) -> Result<()> {
        let what = format!("waiting for machine {id} of Fly app {app} to be started again");
        let filter = match (&updated.version, &updated.instance_id) {
            (Some(v), _) if !v.is_empty() => format!("version={}", segment(v)),
            (_, Some(i)) if !i.is_empty() => format!("instance_id={}", segment(i)),
            _ => {
                return Err(anyhow!(
                    "{what}: the update answered neither `version` nor `instance_id`"
                ))
            }
        };
        loop {
            // Leave the request a little more time than the wait it asks for.
            let left = until
                .saturating_duration_since(Instant::now())
                .min(self.policy.request_timeout())
                .saturating_sub(Duration::from_secs(2))
                .min(WAIT_REQUEST);
            if left < Duration::from_secs(1) {
                return Err(anyhow!(
                    "{what}: it did not come back in time (see `fly machine status {id} -a {app}`)"
                ));
            }
            let route = format!(
                "/machines/{}/wait?state=started&{filter}&timeout={}",
                segment(id),
                left.as_secs()
            );
            match self.call("GET", app, &route, None, Vec::new(), &what) {
                Ok(_) => return Ok(()),
                Err(e) if refused_with(&e, 408) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// One request, retried by the policy; an error shows Fly's message,
    /// the status, the `fly-request-id` and the likely cause.
    fn call(
        &self,
        method: &str,
        app: &str,
        tail: &str,
        body: Option<Value>,
        mut headers: Vec<(&'static str, String)>,
        what: &str,
    ) -> Result<Reply> {
        headers.push(("Authorization", format!("{} {}", self.scheme, self.token.expose())));
        let call = Call {
            method,
            url: format!("{}/v1/apps/{}{tail}", self.base, segment(app)),
            bearer: None,
            headers,
            body: body.map(|b| b.to_string()),
        };
        let reply = call
            .send(&self.agent, &self.policy, what)
            .with_context(|| format!("Fly Machines API at {}", self.base))?;
        if reply.ok() {
            return Ok(reply);
        }
        let error = serde_json::from_str::<Value>(&reply.body).ok().map(|v| {
            [v["message"].as_str(), v["error"].as_str()]
                .into_iter()
                .flatten()
                .find(|s| !s.is_empty())
                .unwrap_or_default()
                .to_owned()
        });
        let message = match error {
            Some(error) => detail(&error),
            // Not JSON: the text as it came, scrubbed and cut short.
            None => detail(&reply.body),
        };
        let hint = match reply.status {
            401 => format!("the Fly token is invalid or expired (input `fly-api-token`; a deploy token is enough: `{DEPLOY_TOKEN} {app}`)"),
            403 => format!("the Fly token cannot see app {app}: it belongs to another organization, or the token is scoped to another app (input `fly-api-token`; `{DEPLOY_TOKEN} {app}` makes one for this app)"),
            404 if tail.is_empty() => format!("no Fly app is named {app}: check the app name in the target"),
            404 => format!("not found in Fly app {app}"),
            408 => "Fly's wait timed out".to_owned(),
            409 => "someone else holds the machine's lease".to_owned(),
            _ => "unexpected answer from Fly".to_owned(),
        };
        let id = reply
            .request_id
            .as_ref()
            .map(|id| format!(" (fly-request-id {})", crate::secret::redact(id)))
            .unwrap_or_default();
        Err(Refused {
            status: reply.status,
            message: format!("{what}: HTTP {}{message}{id}: {hint}", reply.status),
        }
        .into())
    }
}

/// `a, b` or `none`.
fn list<'a>(ids: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<&str> = ids.collect();
    if all.is_empty() {
        "none".to_owned()
    } else {
        all.join(", ")
    }
}
