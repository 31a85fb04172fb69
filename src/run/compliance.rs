//! `mode: report`: reads and changes nothing. Once per run the API token's
//! own expiry; per group the group and its delete protection; per target
//! when it was last written (a GitHub secret's metadata, without its
//! scope's public key: read access is enough; a Worker's or Vercel
//! project's list once, whatever its targets). What is due and what else
//! must be acted on (the findings) is decided here; then the summary, the
//! `report` output, the notification and the email. And, in a rotation
//! with `delete-protection: ensure`, turning the group's protection on.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

use super::due;
use super::preflight::{group_failure, Preflight, PREFLIGHT};
use super::tell;
use crate::apis::turso::{ApiTokenExpiry, Expiry, Protected, Turso};
use crate::apis::{Age, Read, ReadKey, Writers};
use crate::http::retry::Policy;
use crate::inputs::{Inputs, Platform, Target};
use crate::report::{self, rfc3339, short_duration, Compliance, ComplianceGroup, Delivery, GroupOutcome, TargetState};
use crate::workflow::{self, Workflow};

/// Without `rotate-after`, an API token that expires within this is a finding.
const API_TOKEN_WARNING: Duration = Duration::from_secs(14 * 86_400);

/// The report run; returns the exit code. An `Err` is a failure every
/// group shares (the API token, the network, the deadline).
pub fn run(inputs: &Inputs, wf: &Workflow) -> Result<u8> {
    let policy = Policy::new(inputs.limits);
    let turso = Turso::new(&inputs.turso_api_url, &inputs.organization, inputs.api_token.clone());
    let writers = Writers::connect(inputs, policy).context(PREFLIGHT)?;
    let api_token = turso.api_token_expiry(&policy).context(PREFLIGHT)?;
    let mut findings = Vec::new();
    if let Some(finding) = api_token_finding(inputs, api_token) {
        findings.push(finding);
    }
    let mut reads = BTreeMap::new();
    let mut groups = Vec::new();
    for plan in &inputs.plans {
        let mut group = ComplianceGroup {
            plan: plan.clone(),
            delete_protection: None,
            error: None,
            targets: Vec::new(),
        };
        // A database's own delete protection is in its preflight answer.
        let read = match plan.database() {
            Some(db) => turso
                .check_database(db, &policy)
                .map(|found| found.delete_protection.unwrap_or(false)),
            None => turso
                .check_group(&plan.group, &policy)
                .and_then(|()| turso.delete_protection(&plan.group, &policy)),
        };
        match read {
            Ok(on) => group.delete_protection = Some(on),
            Err(e) => group.error = Some(group_failure(inputs, e)?),
        }
        for target in plan.targets.iter().filter(|_| group.error.is_none()) {
            match age(&writers, &mut reads, target) {
                Ok(age) => {
                    let age = due::judged(wf, target, age);
                    let due = due::target_is_due(inputs.rotate_after, age);
                    group.targets.push(TargetState {
                        target: target.clone(),
                        age,
                        due,
                    });
                }
                Err(e) => {
                    group.error = Some(group_failure(inputs, e)?);
                    break;
                }
            }
        }
        findings.extend(group_findings(inputs, wf, &group));
        groups.push(group);
    }
    let compliance = Compliance {
        api_token,
        previous_token: inputs.previous_token.as_ref().map(Expiry::of),
        groups,
        findings,
    };
    for finding in &compliance.findings {
        wf.annotate("error", finding);
    }
    if compliance.findings.is_empty() {
        workflow::log("report: nothing is due");
    }
    let deliveries = tell::report(inputs, wf, &policy, &compliance);
    Ok(report::finish_report(inputs, wf, &compliance, &deliveries))
}

/// When a target was last written, from as few requests as its platform
/// allows: one per GitHub secret, one list per Worker or Vercel project.
fn age(writers: &Writers, reads: &mut BTreeMap<ReadKey, Read>, target: &Target) -> Result<Age> {
    if target.scope.platform() == Platform::GitHub {
        let at = writers.github()?.updated_at(target)?;
        return Ok(at.map_or(Age::Missing, Age::WrittenAt));
    }
    let key = ReadKey::of(&target.scope);
    if !reads.contains_key(&key) {
        let read = writers.prepare(target)?;
        workflow::log(&format!("report: {key} read"));
        reads.insert(key.clone(), read);
    }
    writers.age(&reads[&key].for_target(target)?)
}

/// An API token that expires within `rotate-after` (or 14 days) must be
/// replaced before the next scheduled run needs it.
fn api_token_finding(inputs: &Inputs, expiry: ApiTokenExpiry) -> Option<String> {
    let ApiTokenExpiry::At(at) = expiry else {
        workflow::log("report: the Turso API token never expires");
        return None;
    };
    let window = inputs.rotate_after.unwrap_or(API_TOKEN_WARNING);
    let left = at.duration_since(SystemTime::now()).unwrap_or_default();
    let at = rfc3339(Some(at)).unwrap_or_default();
    if left > window {
        workflow::log(&format!("report: the Turso API token expires {at}"));
        return None;
    }
    Some(format!(
        "the Turso API token (input `api-token`) expires {at}, within {}: mint a new one and update the secret",
        short_duration(window)
    ))
}

/// A group's findings: it could not be read, a target is due, or (with
/// `delete-protection: ensure`) it can be deleted. Delete protection off
/// is otherwise a warning.
fn group_findings(inputs: &Inputs, wf: &Workflow, group: &ComplianceGroup) -> Vec<String> {
    let name = &group.plan.group;
    let mut findings = Vec::new();
    if let Some(error) = &group.error {
        findings.push(format!("group `{name}`: not read: {error}"));
    }
    for state in group.targets.iter().filter(|t| t.due) {
        let why = match state.age {
            Age::Missing => "missing".to_owned(),
            Age::Ahead(_) => "last written ahead of the clock".to_owned(),
            Age::WrittenAt(at) => format!(
                "last written {} ago (rotate-after {})",
                short_duration(at.elapsed().unwrap_or_default()),
                short_duration(inputs.rotate_after.unwrap_or_default())
            ),
            Age::Untracked => "due".to_owned(),
        };
        findings.push(format!("group `{name}`: {} is due: {why}", state.target));
    }
    for state in group.targets.iter().filter(|t| !t.due) {
        workflow::log(&format!("report: group `{name}`: {} is not due", state.target));
    }
    if group.delete_protection == Some(false) {
        let text = format!(
            "{}: delete protection is off: it can be deleted with one call (`delete-protection: ensure` turns it on)",
            group.plan
        );
        if inputs.delete_protection {
            findings.push(text);
        } else {
            wf.annotate("warning", &text);
        }
    }
    findings
}

/// `delete-protection: ensure`, after the writes: each group whose
/// preflight found it unprotected is protected. A refusal undoes nothing:
/// like a failed dispatch, it fails the run (`results` entry
/// `delete-protection:GROUP`).
pub fn protect(turso: &Turso, policy: &Policy, groups: &[Preflight], outcomes: &[GroupOutcome]) -> Vec<Delivery> {
    // Only groups whose secrets were written: a run that was not due (or
    // failed) changes nothing more.
    let written: Vec<&str> = report::written(outcomes).map(GroupOutcome::group).collect();
    groups
        .iter()
        .filter(|g| g.failed.is_none() && g.delete_protection == Some(false))
        .filter(|g| written.contains(&g.plan.group.as_str()))
        .map(|g| {
            let group = &g.plan.group;
            if let Some(not_done) = super::tell::stopped(format!("delete-protection:{group}")) {
                return not_done;
            }
            let subject = match g.plan.database() {
                Some(db) => Protected::Database(db),
                None => Protected::Group(group),
            };
            let error = match turso.protect_from_deletion(subject, policy) {
                Ok(()) => {
                    workflow::log(&format!("group `{group}`: delete protection turned on"));
                    None
                }
                Err(e) => Some(format!("{e:#}")),
            };
            Delivery {
                target: format!("delete-protection:{group}"),
                error,
            }
        })
        .collect()
}
