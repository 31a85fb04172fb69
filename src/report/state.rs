//! The state messages after a failure: per group what was done, what was
//! not, and what to do; and what was not delivered.

use crate::workflow::Workflow;

use super::outcome::{written, Delivery, GroupOutcome, Handed, Revocation};

/// Annotates each failed group (with where its token was handed on,
/// `handed`, in the order of `outcomes`) and each delivery that failed.
pub(super) fn annotate(wf: &Workflow, outcomes: &[GroupOutcome], handed: &[Option<Handed>], deliveries: &[Delivery]) {
    for (outcome, handed) in outcomes.iter().zip(handed) {
        if !outcome.ok() {
            wf.annotate("error", &failure_message(outcome, handed.as_ref()));
        }
    }
    if let Some(message) = undelivered_message(outcomes, deliveries) {
        wf.annotate("error", &message);
    }
}

/// After a failure: what was done, what was not, and what to do.
pub(super) fn failure_message(outcome: &GroupOutcome, handed: Option<&Handed>) -> String {
    let group = subject(outcome);
    if outcome.token.is_none() {
        return tokenless_message(outcome);
    }
    let proven = outcome.revocation == Some(Revocation::Proven);
    let mut failed: Vec<String> = outcome
        .error
        .iter()
        .chain(&outcome.unverified)
        .chain(outcome.invalidation_lost.iter().filter(|_| !proven))
        .cloned()
        .collect();
    failed.extend(outcome.writes.iter().filter_map(|(_, e)| e.clone()));
    if outcome.revocation == Some(Revocation::StillAccepted) {
        failed.push(STILL_ACCEPTED.to_owned());
    }
    let written = secret_written(outcome);
    let (invalidated, rerun) = match (outcome.rotated_at, &outcome.invalidation_lost, outcome.revocation) {
        (Some(_), None, Some(Revocation::StillAccepted)) => (
            "yes by Turso's answer, but the previous token still works: the invalidation did not take effect",
            "it rotates again; if the previous token still works after that, ask Turso",
        ),
        (Some(_), _, Some(Revocation::StillAccepted)) => (
            "no (the previous token still works)",
            "it rotates again; if the previous token still works after that, ask Turso",
        ),
        (Some(_), _, Some(Revocation::Proven)) => (
            "yes (previous token refused: revocation proven)",
            "it rotates again (and that token dies with it)",
        ),
        (Some(_), Some(_), None) => (
            "unknown (invalidation outcome unknown: the rotate call's answer was lost, so it may have acted; the new token was written as if it had)",
            "it rotates again (and that token dies with it)",
        ),
        (Some(_), None, None) => ("yes", "it rotates again (and that token dies with it)"),
        (None, _, _) => (
            "no (mode roll: the old tokens stay valid until they expire)",
            "it creates another token",
        ),
    };
    let verified = match (&outcome.unverified, written.as_str()) {
        (None, _) => "",
        (Some(_), "no") => " The token failed verification and was not written.",
        (Some(_), _) => " The token failed verification and was written all the same: after the invalidation the secret held a dead token, so the new one can only be better; check `database-url`.",
    };
    let handed = handed.map_or_else(String::new, handed_text);
    format!(
        "{group}: {}. Tokens invalidated: {invalidated}; new token created: yes; secret written: {written}.{verified}{handed} Re-running the workflow is safe: {rerun}.",
        failed.join("; "),
    )
}

/// The error of a previous token that outlived the invalidation.
const STILL_ACCEPTED: &str =
    "the previous token still works after the invalidation: the invalidation did not take effect";

/// "Group `prod`", or "Database `users` of group `prod`".
fn subject(outcome: &GroupOutcome) -> String {
    let text = outcome.plan.to_string();
    let mut chars = text.chars();
    chars
        .next()
        .map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
}

/// A failed group that never got a new token.
fn tokenless_message(outcome: &GroupOutcome) -> String {
    let group = subject(outcome);
    let error = outcome.error.as_deref().unwrap_or_default();
    match outcome.rotated_at {
        None if outcome.untouched => format!(
            "{group}: {error}. Tokens invalidated: no; new token created: no; secret written: no. Nothing changed for this group: re-run the workflow."
        ),
        None => format!(
            "{group}: {error}. Tokens invalidated: unknown (the rotate call failed); new token created: no; secret written: no. Re-run the workflow: it is safe."
        ),
        Some(_) if outcome.invalidated() == "unknown" => format!(
            "{group}: {error}. Tokens invalidated: unknown (invalidation outcome unknown: the rotate call's answer was lost, so it may have acted); new token created: no; secret written: no. Deployments using the old token may fail until a new one is written: re-run the workflow, it is safe."
        ),
        Some(_) => format!(
            "{group}: {error}. Tokens invalidated: yes; new token created: no; secret written: no. Deployments using the old token fail until a new one is written: re-run the workflow, it is safe."
        ),
    }
}

/// `yes`, `no`, or `only <secrets>`: which secrets hold the new token.
fn secret_written(outcome: &GroupOutcome) -> String {
    let written: Vec<&str> = outcome
        .writes
        .iter()
        .filter(|(_, e)| e.is_none())
        .map(|(t, _)| t.secret.as_str())
        .collect();
    match (written.len(), outcome.plan.targets.len()) {
        (0, _) => "no".to_owned(),
        (n, all) if n == all => "yes".to_owned(),
        _ => format!("only {}", written.join(", ")),
    }
}

/// Where the new token waits, for a following step or a person.
fn handed_text(handed: &Handed) -> String {
    match handed {
        Handed::Output(name) => format!(
            " The new token is in this step's masked `{name}` output: a following step with `if: failure()` can store it."
        ),
        Handed::File(path) => format!(" The new token was saved to the token file {} (mode 0600).", path.display()),
        Handed::Lost(e) => format!(" Saving the new token to a file failed too ({e}): it is lost, re-run the workflow."),
    }
}

/// The deliveries that failed, and that nothing was undone; `None` when
/// every one was delivered.
fn undelivered_message(outcomes: &[GroupOutcome], deliveries: &[Delivery]) -> Option<String> {
    let undelivered: Vec<String> = deliveries
        .iter()
        .filter_map(|d| Some(format!("{} ({})", d.target, d.error.as_deref()?)))
        .collect();
    if undelivered.is_empty() {
        return None;
    }
    let groups: Vec<String> = written(outcomes).map(|o| format!("`{}`", o.group())).collect();
    let groups = if groups.is_empty() {
        "none".to_owned()
    } else {
        groups.join(", ")
    };
    Some(format!(
        "Not delivered: {}. Groups whose secrets were written: {groups}. Nothing was undone: consumers that were not told pick up the new token on their next deploy.",
        undelivered.join("; ")
    ))
}
