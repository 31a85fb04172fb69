//! Preflight, before anything changes, per group: the group exists, each
//! target's scope is read once and each target's write decided from it,
//! with `rotate-after` when each target was last written, then (not in a
//! dry run) write access is proven once per scope. A failure of a group's
//! own resources stops that group; one every group shares stops the run.

use std::collections::BTreeMap;

use anyhow::Result;

use super::due;
use crate::apis::turso::database::Database;
use crate::apis::turso::Turso;
use crate::apis::{Age, Prepared, Read, ReadKey, Writers};
use crate::http::retry::{Policy, Refused};
use crate::inputs::{GroupPlan, Inputs, Subject, Target};
use crate::report;
use crate::workflow::{self, Workflow};

/// Prefix of every error that stops the run before anything changed.
pub const PREFLIGHT: &str = "preflight failed, nothing was rotated";

/// One group through preflight: its targets made ready, or why it stops.
pub struct Preflight<'a> {
    pub plan: &'a GroupPlan,
    pub targets: Vec<Prepared>,
    pub failed: Option<String>,
    /// With `rotate-after`: when each target was last written.
    pub last_written: Option<Vec<(Target, Age)>>,
    /// A database plan: what its preflight read (its group, its host).
    pub database: Option<Database>,
    /// `previous-token` was refused already before the run: it proves nothing.
    pub previous_refused: bool,
    /// With `delete-protection: ensure`: whether the group is protected.
    pub delete_protection: Option<bool>,
}

impl Preflight<'_> {
    /// The plan as the run names it: "database `users` of group `prod`"
    /// once preflight has read the database's group.
    pub fn resolved(&self) -> GroupPlan {
        let mut plan = self.plan.clone();
        if let (Subject::Database { group }, Some(db)) = (&mut plan.subject, &self.database) {
            *group = Some(db.group.clone());
        }
        plan
    }

    pub fn describe(&self) -> String {
        self.resolved().to_string()
    }

    /// Where `SELECT 1` runs: `database-url`, else a database's own host;
    /// none with `verify: false`.
    pub fn verify_url(&self, inputs: &Inputs) -> Option<String> {
        if !inputs.verify {
            return None;
        }
        inputs
            .database_url
            .clone()
            .or_else(|| self.database.as_ref().and_then(Database::url))
    }

    /// Preflight passed and, with `rotate-after`, a rotation is due.
    pub fn to_rotate(&self, inputs: &Inputs) -> bool {
        self.failed.is_none() && self.last_written.as_ref().is_none_or(|last| due::is_due(inputs, last))
    }
}

/// Everything up to the probe: the groups, their targets and their ages.
pub fn read<'a>(
    inputs: &'a Inputs,
    wf: &Workflow,
    turso: &Turso,
    writers: &Writers,
    policy: &Policy,
) -> Result<Vec<Preflight<'a>>> {
    let mut groups: Vec<Preflight> = inputs
        .plans
        .iter()
        .map(|plan| Preflight {
            plan,
            targets: Vec::new(),
            failed: None,
            last_written: None,
            database: None,
            previous_refused: false,
            delete_protection: None,
        })
        .collect();
    for group in &mut groups {
        let found = match group.plan.database() {
            None => turso.check_group(&group.plan.group, policy),
            Some(db) => turso.check_database(db, policy).map(|found| {
                group.database = Some(found);
            }),
        };
        match found {
            Ok(()) => workflow::log(&format!(
                "preflight: {} of organization `{}` found",
                group.describe(),
                inputs.organization
            )),
            Err(e) => group.failed = Some(group_failure(inputs, e)?),
        }
        if inputs.delete_protection && group.failed.is_none() {
            // A database's own setting is in its preflight answer.
            let known = group.database.as_ref().map(|db| db.delete_protection.unwrap_or(false));
            match known.map_or_else(|| turso.delete_protection(&group.plan.group, policy), Ok) {
                Ok(on) => group.delete_protection = Some(on),
                Err(e) => group.failed = Some(group_failure(inputs, e)?),
            }
        }
    }
    super::revocation::try_previous(inputs, wf, policy, &mut groups)?;
    read_targets(inputs, wf, writers, &mut groups)?;
    if inputs.rotate_after.is_some() {
        read_ages(inputs, wf, writers, &mut groups)?;
    }
    Ok(groups)
}

/// Each scope (a GitHub public key, a Worker's list) and each Vercel
/// project (its list, whatever the targets) is read once, however many
/// secrets it holds; a read that failed fails every group that writes
/// there. Each target's write is then decided from what was read: a
/// conflict on one variable fails only the groups that write it. A dry run
/// without a platform's token leaves that platform's targets unchecked.
fn read_targets(inputs: &Inputs, wf: &Workflow, writers: &Writers, groups: &mut [Preflight]) -> Result<()> {
    let mut reads: BTreeMap<ReadKey, Result<Read, String>> = BTreeMap::new();
    for group in groups.iter_mut().filter(|g| g.failed.is_none()) {
        for target in group.plan.targets.iter().filter(|t| writers.reaches(t)) {
            let key = ReadKey::of(&target.scope);
            if !reads.contains_key(&key) {
                let read = match writers.prepare(target) {
                    Ok(read) => {
                        workflow::log(&format!("preflight: {key} read"));
                        Ok(read)
                    }
                    Err(e) => Err(group_failure(inputs, e)?),
                };
                reads.insert(key.clone(), read);
            }
            let ready = match &reads[&key] {
                Ok(read) => match writers.decide(read, target) {
                    Ok(ready) => Ok(ready),
                    Err(e) => Err(group_failure(inputs, e)?),
                },
                Err(message) => Err(message.clone()),
            };
            match ready {
                Ok(ready) => {
                    if let Some(warning) = ready.warning() {
                        wf.annotate("warning", &warning);
                    }
                    group.targets.push(ready);
                }
                Err(message) => {
                    group.failed = Some(message);
                    break;
                }
            }
        }
    }
    Ok(())
}

/// With `rotate-after`, a group is rotated only when a target is due; read
/// before the probe, so a run that is not due changes nothing.
fn read_ages(inputs: &Inputs, wf: &Workflow, writers: &Writers, groups: &mut [Preflight]) -> Result<()> {
    for group in groups.iter_mut().filter(|g| g.failed.is_none()) {
        let mut last_written = Vec::new();
        for ready in &group.targets {
            match writers.age(ready) {
                Ok(age) => last_written.push((ready.target().clone(), due::judged(wf, ready.target(), age))),
                Err(e) => {
                    group.failed = Some(group_failure(inputs, e)?);
                    break;
                }
            }
        }
        let due = due::is_due(inputs, &last_written);
        workflow::log(&format!(
            "preflight: group `{}` is {}due (rotate-after {})",
            group.plan.group,
            if due { "" } else { "not " },
            report::short_duration(inputs.rotate_after.unwrap_or_default())
        ));
        group.last_written = Some(last_written);
    }
    Ok(())
}

/// Proves write access once per scope; a refused probe stops the groups
/// that use it.
pub fn probe(inputs: &Inputs, wf: &Workflow, writers: &Writers, groups: &mut [Preflight]) -> Result<()> {
    let mut probes: BTreeMap<ReadKey, Option<String>> = BTreeMap::new();
    for group in groups.iter_mut().filter(|g| g.to_rotate(inputs)) {
        for ready in &group.targets {
            let scope = &ReadKey::probe_of(&ready.target().scope);
            if !probes.contains_key(scope) {
                let refused = match writers.probe(ready) {
                    Ok(warning) => {
                        if let Some(warning) = warning {
                            wf.annotate("warning", &warning);
                        }
                        workflow::log(&format!("preflight: write access to {scope} proven"));
                        None
                    }
                    Err(e) => Some(group_failure(inputs, e)?),
                };
                probes.insert(scope.clone(), refused);
            }
            if let Some(Some(refused)) = probes.get(scope) {
                group.failed = Some(refused.clone());
            }
        }
    }
    Ok(())
}

/// A preflight failure as one group's reason not to rotate, when it
/// concerns that group's own resources (a refusal: 403, 404, 422) and the
/// run has several groups. Anything else (the credentials, the network,
/// the deadline) every group shares: it stops the run.
pub(super) fn group_failure(inputs: &Inputs, error: anyhow::Error) -> Result<String> {
    let own = error.chain().any(|c| {
        c.downcast_ref::<Refused>()
            .is_some_and(|r| matches!(r.status, 403 | 404 | 422))
    });
    if inputs.per_group_outputs && own {
        Ok(format!("{PREFLIGHT}: {error:#}"))
    } else {
        Err(error.context(PREFLIGHT))
    }
}
