//! Vercel project environment variables. A project's variables are listed
//! once (never decrypted), however many of its variables and target sets
//! the run writes, and the write is decided there for each variable:
//! create when no record of the name exists, PATCH the one record with
//! exactly our targets, and stop before anything changes on a record we
//! must not touch (an integration's, a branch's, or one whose targets
//! overlap ours but differ: Vercel would refuse or split it). Apps see a
//! new value only in a new deployment: `redeploy` rebuilds the live one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::retry::{detail, refused_with, Policy, Refused, Reply};
use crate::http::{self, segment, Call};
use crate::inputs::{Scope, Target, VercelTargets};
use crate::names;
use crate::secret::{random_hex, Secret};

/// A client for one Vercel token (and team).
pub struct Vercel {
    agent: ureq::Agent,
    base: String,
    token: Secret,
    /// `teamId=…` or `slug=…`, added to every call.
    team_query: Option<String>,
    policy: Policy,
}

/// One environment variable as the project lists it, read strictly: the
/// records of a name this run writes (and of the probe) must be whole.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub id: String,
    pub key: String,
    #[serde(deserialize_with = "one_or_many")]
    pub target: Vec<String>,
    #[serde(rename = "type")]
    pub kind: Kind,
    #[serde(default)]
    pub git_branch: Option<String>,
    /// Milliseconds since the epoch.
    pub updated_at: u64,
    /// Set when an integration owns the variable.
    #[serde(default)]
    pub configuration_id: Option<String>,
}

/// A record's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Sensitive,
    Encrypted,
    Plain,
    Secret,
    System,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Sensitive => "sensitive",
            Kind::Encrypted => "encrypted",
            Kind::Plain => "plain",
            Kind::Secret => "secret",
            Kind::System => "system",
        }
    }
}

/// A project's variables as listed once in preflight. Records of other
/// keys are read leniently: only a record of the name being decided must
/// be well-formed.
#[derive(Debug, Clone)]
pub struct Listing {
    project: String,
    records: Vec<Record>,
    /// (key, why) of records that are not well-formed.
    malformed: Vec<(String, String)>,
    /// Probe variables an earlier run left: deleted before this run's
    /// first probe of the project (shared by every target set's probe).
    leftovers: Arc<Mutex<Vec<Record>>>,
}

/// A target ready to write: what to do, decided from the project's list.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub target: Target,
    listing: Listing,
    /// The record to PATCH; `None` creates one.
    existing: Option<Record>,
}

impl Listing {
    /// Decides the write for `target` (a variable of this project) from the
    /// list; refuses, before anything changed, where a write would clash.
    pub fn for_target(&self, target: &Target) -> Result<Prepared> {
        let (project, _) = project_of(target)?;
        if project != self.project {
            return Err(anyhow!("{target} is not in Vercel project {}", self.project));
        }
        if let Some((_, why)) = self.malformed.iter().find(|(key, _)| *key == target.secret) {
            return Err(Refused {
                status: 422,
                message: format!(
                    "Vercel lists a record of variable {} in project {project} that this action cannot read ({why}): check it in the project's settings; nothing was changed",
                    target.secret
                ),
            }
            .into());
        }
        let existing = plan(target, &self.records)?;
        Ok(Prepared {
            target: target.clone(),
            listing: self.clone(),
            existing,
        })
    }
}

impl Prepared {
    /// When the variable was last written; `None` when it does not exist.
    pub fn updated_at(&self) -> Option<SystemTime> {
        let ms = self.existing.as_ref()?.updated_at;
        SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(ms))
    }

    /// A record that anyone with access to the project can read: written
    /// all the same, with this warning.
    pub fn warning(&self) -> Option<String> {
        let record = self.existing.as_ref().filter(|r| r.kind != Kind::Sensitive)?;
        Some(format!(
            "Vercel variable {} of project {} is of type `{}`, not `sensitive`: anyone with access to the project can read its value. The new token is written into it all the same; recreate it as sensitive (delete it and the next run creates it so).",
            record.key,
            self.listing.project,
            record.kind.as_str()
        ))
    }
}

impl Vercel {
    pub fn new(base: &str, token: Secret, team: Option<&str>, policy: Policy) -> Self {
        let team_query = team.map(|team| match team.starts_with("team_") {
            true => format!("teamId={}", segment(team)),
            false => format!("slug={}", segment(team)),
        });
        Vercel {
            agent: http::agent(),
            base: base.to_owned(),
            token,
            team_query,
            policy,
        }
    }

    /// Preflight, once per project: lists its variables. A list that is not
    /// complete, or a probe record that is not well-formed, stops here.
    pub fn list(&self, target: &Target) -> Result<Listing> {
        let (project, _) = project_of(target)?;
        let what = format!("listing the environment variables of Vercel project {project}");
        let reply = self.call("GET", &format!("/v10/projects/{}/env", segment(project)), None, &what)?;
        #[derive(Deserialize)]
        struct Answer {
            envs: Vec<Value>,
            #[serde(default)]
            pagination: Option<Value>,
        }
        let answer: Answer = reply.parse(&what, "Vercel", "`envs` list")?;
        if answer.pagination.as_ref().is_some_and(|p| !p["next"].is_null()) {
            return Err(Refused {
                status: 422,
                message: format!(
                    "{what}: Vercel answered one page of a longer list (`pagination.next` is set) and offers no way to ask for the rest: a record we cannot see could be an integration's, so project {project} is not written; nothing was changed"
                ),
            }
            .into());
        }
        let mut listing = Listing {
            project: project.to_owned(),
            records: Vec::new(),
            malformed: Vec::new(),
            leftovers: Arc::default(),
        };
        let mut leftovers = Vec::new();
        for env in answer.envs {
            // A record without a readable key cannot be one we write.
            let Some(key) = env["key"].as_str().map(str::to_owned) else {
                continue;
            };
            match (Record::deserialize(&env), key == names::PROBE_SECRET) {
                (Ok(record), true) => leftovers.push(record),
                (Ok(record), false) => listing.records.push(record),
                (Err(e), true) => {
                    return Err(Refused {
                        status: 422,
                        message: format!(
                            "{what}: Vercel lists a {} record that this action cannot read ({e}): delete it from the project by hand; nothing was changed",
                            names::PROBE_SECRET
                        ),
                    }
                    .into())
                }
                (Err(e), false) => listing.malformed.push((key, e.to_string())),
            }
        }
        listing.leftovers = Arc::new(Mutex::new(leftovers));
        Ok(listing)
    }

    /// Proves write access for these targets (roles grant production and
    /// preview apart): delete a probe an earlier run left (once per
    /// project), create the probe variable, then delete it.
    pub fn probe(&self, prepared: &Prepared) -> Result<Option<String>> {
        let (project, _) = project_of(&prepared.target)?;
        let leftovers = std::mem::take(&mut *prepared.listing.leftovers.lock().unwrap_or_else(|e| e.into_inner()));
        for leftover in leftovers {
            let what = format!(
                "deleting the probe variable {} ({}) an earlier run left in Vercel project {project}",
                names::PROBE_SECRET,
                leftover.target.join(", ")
            );
            let route = format!("/v9/projects/{}/env/{}", segment(project), segment(&leftover.id));
            match self.call("DELETE", &route, None, &what) {
                Err(e) if !refused_with(&e, 404) => return Err(e),
                _ => crate::workflow::log(&format!("preflight: {what}: done")),
            }
        }
        let probe = Target {
            scope: prepared.target.scope.clone(),
            secret: names::PROBE_SECRET.to_owned(),
        };
        let id = self.create(&probe, &random_hex(16), "proving write access by creating a probe")?;
        let what = format!("deleting the probe variable {probe}");
        let route = format!("/v9/projects/{}/env/{}", segment(project), segment(&id));
        match self.call("DELETE", &route, None, &what) {
            // (A 404 on a retry: the attempt whose answer was lost deleted it.)
            Ok(_) => Ok(None),
            Err(e) if refused_with(&e, 404) => Ok(None),
            Err(e) => Ok(Some(format!(
                "{e:#} (delete {} from the project by hand; it holds a random value)",
                names::PROBE_SECRET
            ))),
        }
    }

    /// Writes the value as decided in preflight: PATCH the record, or create one.
    pub fn write(&self, prepared: &Prepared, value: &str, what: &str) -> Result<()> {
        match &prepared.existing {
            Some(record) => {
                let (project, _) = project_of(&prepared.target)?;
                let what = format!("{what} into {}", prepared.target);
                let route = format!("/v9/projects/{}/env/{}", segment(project), segment(&record.id));
                self.call("PATCH", &route, Some(json!({ "value": value })), &what)?;
            }
            None => {
                self.create(&prepared.target, value, what)?;
            }
        }
        Ok(())
    }

    /// Rebuilds the project's live production deployment (the same commit:
    /// no new code ships), so the app sees the new value.
    pub fn redeploy(&self, project: &str) -> Result<()> {
        let what = format!("redeploying Vercel project {project}");
        let reply = self.call("GET", &format!("/v9/projects/{}", segment(project)), None, &what)?;
        let answer: Value = reply.parse(&what, "Vercel", "project")?;
        let live = answer["targets"]["production"]["id"]
            .as_str()
            .ok_or_else(|| anyhow!("{what}: the project has no production deployment to rebuild"))?;
        let name = answer["name"].as_str().unwrap_or(project);
        let body = json!({ "deploymentId": live, "name": name, "target": "production" });
        self.call("POST", "/v13/deployments?forceNew=1", Some(body), &what)?;
        Ok(())
    }

    /// `POST …/env?upsert=true` with a sensitive value; returns the new
    /// record's id. A 201 whose `failed[]` is not empty is a failure.
    fn create(&self, target: &Target, value: &str, what: &str) -> Result<String> {
        let (project, targets) = project_of(target)?;
        let what = format!("{what} into {target}");
        let body = json!({ "key": target.secret, "value": value, "type": "sensitive", "target": targets.names() });
        let route = format!("/v10/projects/{}/env?upsert=true", segment(project));
        let reply = self.call("POST", &route, Some(body), &what)?;
        let answer: Value = reply.parse(&what, "Vercel", "`created`")?;
        if let Some(failed) = answer["failed"].as_array().filter(|f| !f.is_empty()) {
            let errors: Vec<String> = failed.iter().map(|f| vercel_error(&f["error"])).collect();
            return Err(Refused {
                status: reply.status,
                message: format!("{what}: Vercel created nothing{}", detail(&errors.join("; "))),
            }
            .into());
        }
        let created = match &answer["created"] {
            Value::Array(all) => all.first().cloned().unwrap_or(Value::Null),
            one => one.clone(),
        };
        created["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("{what}: unexpected answer from Vercel (no created `id`)"))
    }

    /// One request with the team query; an error names Vercel's code and
    /// message and the likely cause.
    fn call(&self, method: &str, route: &str, body: Option<Value>, what: &str) -> Result<Reply> {
        let url = match &self.team_query {
            Some(team) if route.contains('?') => format!("{}{route}&{team}", self.base),
            Some(team) => format!("{}{route}?{team}", self.base),
            None => format!("{}{route}", self.base),
        };
        let reply = Call::json(method, url, &self.token, body)
            .send(&self.agent, &self.policy, what)
            .with_context(|| format!("Vercel API at {}", self.base))?;
        if reply.ok() {
            return Ok(reply);
        }
        let error = serde_json::from_str::<Value>(&reply.body)
            .map(|v| vercel_error(&v["error"]))
            .ok()
            .filter(|e| !e.is_empty());
        let message = detail(&error.unwrap_or_else(|| reply.body.clone()));
        let hint = match reply.status {
            401 => "the Vercel token is invalid or expired (input `vercel-token`)",
            403 => "the Vercel token may not do this for the project and these targets (input `vercel-token`, and `vercel-team` for a team's project)",
            404 => "not found: check the project name or id (and `vercel-team`)",
            _ => "unexpected answer from Vercel",
        };
        Err(Refused {
            status: reply.status,
            message: format!("{what}: HTTP {}{message}: {hint}", reply.status),
        }
        .into())
    }
}

/// The record of `target`'s name to PATCH (`None`: create one), from the
/// project's variables; refuses where a write would clash.
fn plan(target: &Target, records: &[Record]) -> Result<Option<Record>> {
    let (project, targets) = project_of(target)?;
    let ours = targets.names();
    let mut existing = None;
    for record in records.iter().filter(|r| r.key == target.secret) {
        let overlaps = record.target.iter().any(|t| ours.contains(&t.as_str()));
        if !overlaps {
            continue; // another environment's variable: left alone
        }
        let same = record.target.len() == ours.len() && ours.iter().all(|t| record.target.iter().any(|r| r == t));
        let conflict = match (&record.configuration_id, &record.git_branch, same) {
            (Some(_), _, _) => Some("is owned by an integration"),
            (_, Some(_), _) => Some("is set for one Git branch"),
            (_, _, false) => Some("applies to targets that overlap ours but differ"),
            _ if existing.is_some() => Some("has several records for these targets"),
            _ => None,
        };
        if let Some(conflict) = conflict {
            return Err(Refused {
                status: 422,
                message: format!(
                    "Vercel variable {} of project {project} {conflict} ({}): change or remove it, or choose other targets; nothing was changed",
                    target.secret,
                    record.target.join(", ")
                ),
            }
            .into());
        }
        existing = Some(record.clone());
    }
    Ok(existing)
}

fn project_of(target: &Target) -> Result<(&str, VercelTargets)> {
    match &target.scope {
        Scope::Vercel { project, targets } => Ok((project, *targets)),
        other => Err(anyhow!("{other} is not a Vercel project")),
    }
}

/// Vercel's `{"code", "message"}` as one line.
fn vercel_error(error: &Value) -> String {
    [error["code"].as_str(), error["message"].as_str()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(": ")
}

/// `target` is an array in the API, a single string in older answers.
fn one_or_many<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(targets: VercelTargets) -> Target {
        Target {
            scope: Scope::Vercel {
                project: "web".into(),
                targets,
            },
            secret: "TURSO_AUTH_TOKEN".into(),
        }
    }

    fn record(id: &str, key: &str, targets: &[&str]) -> Record {
        Record {
            id: id.into(),
            key: key.into(),
            target: targets.iter().map(|t| t.to_string()).collect(),
            git_branch: None,
            kind: Kind::Sensitive,
            updated_at: 1_764_000_000_000,
            configuration_id: None,
        }
    }

    const BOTH: VercelTargets = VercelTargets {
        production: true,
        preview: true,
    };
    const PRODUCTION: VercelTargets = VercelTargets {
        production: true,
        preview: false,
    };

    #[test]
    fn the_write_is_decided_from_the_list() {
        let none = plan(&target(BOTH), &[record("a", "OTHER", &["production"])]).unwrap();
        assert!(none.is_none(), "no record of the name: create");
        let exact = plan(
            &target(BOTH),
            &[record("b", "TURSO_AUTH_TOKEN", &["preview", "production"])],
        )
        .unwrap();
        assert_eq!(exact.map(|r| r.id).as_deref(), Some("b"), "exactly our targets: PATCH");
        let apart = plan(
            &target(PRODUCTION),
            &[record("c", "TURSO_AUTH_TOKEN", &["preview", "development"])],
        )
        .unwrap();
        assert!(apart.is_none(), "no overlap: left alone, a new record");
    }

    #[test]
    fn clashing_records_stop_before_anything_changes() {
        let overlap = plan(
            &target(PRODUCTION),
            &[record("d", "TURSO_AUTH_TOKEN", &["production", "preview"])],
        );
        assert!(format!("{:#}", overlap.unwrap_err()).contains("overlap ours but differ"));
        let mut owned = record("e", "TURSO_AUTH_TOKEN", &["production", "preview"]);
        owned.configuration_id = Some("icfg_1".into());
        assert!(format!("{:#}", plan(&target(BOTH), &[owned]).unwrap_err()).contains("integration"));
        let mut branch = record("f", "TURSO_AUTH_TOKEN", &["preview"]);
        branch.git_branch = Some("feature".into());
        assert!(format!("{:#}", plan(&target(BOTH), &[branch]).unwrap_err()).contains("Git branch"));
    }
}
