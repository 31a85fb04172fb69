//! `previous-token`: proving the old token dead. It is tried once in
//! preflight (already refused: a warning, and it proves nothing), then
//! after the invalidation, the verification and every write (the proof
//! never delays a write) it must be refused, tried again while the change
//! propagates. A verification that fails says why, and for a database
//! whether its allow rules may refuse the runner.

use std::time::Duration;

use anyhow::Result;

use super::group::Group;
use super::preflight::{group_failure, Preflight};
use crate::apis::libsql::{self, Answer};
use crate::apis::turso::Expiry;
use crate::http::retry::Policy;
use crate::inputs::{GroupPlan, Inputs, Mode};
use crate::report::{GroupOutcome, Revocation};
use crate::workflow::{self, Workflow};

/// How long a previous token may still be accepted while the invalidation
/// reaches the database.
const PROPAGATION: Duration = Duration::from_secs(10);

/// Preflight: one `SELECT 1` with the previous token, before anything changes.
pub(super) fn try_previous(inputs: &Inputs, wf: &Workflow, policy: &Policy, groups: &mut [Preflight]) -> Result<()> {
    let Some(previous) = &inputs.previous_token else {
        return Ok(());
    };
    if inputs.mode == Mode::Roll {
        return Ok(());
    }
    for group in groups.iter_mut().filter(|g| g.failed.is_none()) {
        let Some(url) = group.verify_url(inputs) else {
            continue;
        };
        let what = format!("trying the previous token with SELECT 1 on {url}");
        match libsql::select_one(&url, previous, policy, &what) {
            Ok(Answer::Accepted) => workflow::log(&format!(
                "preflight: the previous token works on {url}: it must be refused once {} is invalidated",
                group.describe()
            )),
            Ok(Answer::Refused { status, cause }) => {
                group.previous_refused = true;
                wf.annotate(
                    "warning",
                    &format!("the previous token was already refused before this run (HTTP {status}: {cause}): it cannot prove the invalidation, and `revocation-proven` stays empty"),
                );
            }
            Err(e) => group.failed = Some(group_failure(inputs, e)?),
        }
    }
    Ok(())
}

/// After the run's writes: the previous token must now be refused. In a
/// roll it stays valid by design: only its expiry is read, for the summary.
pub(super) fn prove(rotation: &Group, pre: &Preflight, outcome: &mut GroupOutcome) {
    let inputs = rotation.inputs;
    let Some(previous) = &inputs.previous_token else {
        return;
    };
    if inputs.mode == Mode::Roll {
        outcome.previous_expiry = Some(Expiry::of(previous));
        return;
    }
    let Some(url) = pre.verify_url(inputs) else {
        return;
    };
    if pre.previous_refused || outcome.rotated_at.is_none() || crate::stop::requested() {
        return;
    }
    let who = outcome.plan.to_string();
    let what = format!("trying the previous token with SELECT 1 on {url}");
    let window = PROPAGATION.min(rotation.policy.remaining());
    match libsql::refused_within(&url, previous, rotation.policy, window, &what) {
        Ok(Answer::Refused { status, cause }) => {
            workflow::log(&format!(
                "{who}: previous token refused (HTTP {status}: {cause}): revocation proven"
            ));
            outcome.revocation = Some(Revocation::Proven);
        }
        Ok(Answer::Accepted) => outcome.revocation = Some(Revocation::StillAccepted),
        Err(e) => rotation.wf.annotate(
            "warning",
            &format!("{who}: the previous token could not be tried after the invalidation ({e:#}): revocation not proven, `revocation-proven` stays empty"),
        ),
    }
}

/// A verification error, and for a database with allow rules the hint
/// that they may refuse the runner (its configuration read once).
pub(super) fn explained(rotation: &Group, plan: &GroupPlan, error: anyhow::Error) -> String {
    let message = format!("{error:#}");
    let Some(db) = plan.database() else {
        return message;
    };
    match rotation.turso.allow_rules(db, rotation.policy) {
        Ok(rules) if !rules.is_empty() => format!(
            "{message}; database `{db}` has allow rules ({}) that may refuse this runner's address: set `verify: false`, or allow the runner",
            rules.join(", ")
        ),
        Ok(_) => message,
        Err(e) => {
            workflow::log(&format!("reading database `{db}`'s allow rules: {e:#}"));
            message
        }
    }
}
