//! The Markdown job summary: a row per group and target, a row per
//! delivery, never a token.

use std::time::SystemTime;

use crate::apis::turso::Expiry;
use crate::inputs::{Inputs, Mode};

use super::outcome::{invalidated, Delivery, GroupOutcome, Revocation};
use super::text::{age, cell, rfc3339};

/// The job summary of a run that rotated (or tried to), its ages taken at `now`.
pub(super) fn summary(inputs: &Inputs, now: SystemTime, outcomes: &[GroupOutcome], deliveries: &[Delivery]) -> String {
    let mut text = String::from("### Turso token rotation\n\n");
    if let Some(reason) = &inputs.reason {
        text.push_str(&format!("Reason: {}\n\n", cell(reason)));
    }
    // (An invalidation whose outcome is unknown is said even without a token.)
    if outcomes.iter().any(|o| o.token.is_some()) || invalidated(outcomes) == "unknown" {
        text.push_str(mode_line(inputs, outcomes));
    }
    text.push_str(&previous_token_lines(outcomes));
    text.push_str("| Organization | Group | Secret | Result | Expires | Rotated at | Without a valid secret |\n|---|---|---|---|---|---|---|\n");
    for o in outcomes {
        text.push_str(&group_rows(inputs, now, o));
    }
    text.push('\n');
    if !deliveries.is_empty() {
        text.push_str(&deliveries_table(deliveries));
    }
    text
}

/// What the mode did to the old tokens.
fn mode_line(inputs: &Inputs, outcomes: &[GroupOutcome]) -> &'static str {
    match inputs.mode {
        Mode::Invalidate if invalidated(outcomes) == "unknown" => {
            "Mode `invalidate`: **invalidation outcome unknown**: a rotate call's answer was lost, so the old tokens may or may not still work; the new token was written as if they were dead.\n\n"
        }
        Mode::Invalidate if outcomes.iter().any(|o| o.revocation == Some(Revocation::StillAccepted)) => {
            "Mode `invalidate`: Turso answered that the old tokens were invalidated, **but the previous token still works**: the invalidation did not take effect.\n\n"
        }
        Mode::Invalidate => "Mode `invalidate`: old tokens invalidated.\n\n",
        Mode::Roll => "Mode `roll`: old tokens not invalidated: they stay valid until they expire.\n\n",
        Mode::Report => "",
    }
}

/// What `previous-token` proved (or, in a roll, when it expires).
fn previous_token_lines(outcomes: &[GroupOutcome]) -> String {
    let mut text = String::new();
    for o in outcomes {
        match (o.revocation, o.previous_expiry) {
            (Some(Revocation::Proven), _) => text.push_str("Proof: previous token refused: revocation proven.\n\n"),
            (Some(Revocation::StillAccepted), _) => {
                text.push_str("**The previous token still works**: the invalidation did not take effect.\n\n")
            }
            (None, Some(expiry)) => text.push_str(&format!(
                "Previous token: not invalidated (mode `roll`), {}.\n\n",
                match expiry {
                    Expiry::Never => "it never expires: run an `invalidate` rotation to retire it".to_owned(),
                    Expiry::At(at) => format!("it expires {}", rfc3339(Some(at)).unwrap_or_default()),
                    Expiry::Unknown => "its expiry is unknown".to_owned(),
                }
            )),
            (None, None) => {}
        }
    }
    text
}

/// A group's rows: one per target, or one for a group that wrote nothing.
fn group_rows(inputs: &Inputs, now: SystemTime, o: &GroupOutcome) -> String {
    rows(inputs, now, o)
        .into_iter()
        .map(|[org, group, target, result, expires, rotated, window]| {
            format!(
                "| {org} | {group} | {} | {} | {expires} | {rotated} | {window} |\n",
                cell(&target),
                cell(&result)
            )
        })
        .collect()
}

/// The table's header, as text.
pub(super) const HEADER: [&str; 7] = [
    "Organization",
    "Group",
    "Secret",
    "Result",
    "Expires",
    "Rotated at",
    "Without a valid secret",
];

/// A group's cells, unformatted: one row per target, or one for a group
/// that wrote nothing.
pub(super) fn rows(inputs: &Inputs, now: SystemTime, o: &GroupOutcome) -> Vec<[String; 7]> {
    let expires = match (&o.token, o.expiry) {
        (None, _) => "-".to_owned(),
        (Some(_), Expiry::Never) => "never".to_owned(),
        (Some(_), Expiry::Unknown) => "unknown".to_owned(),
        (Some(_), Expiry::At(at)) => rfc3339(Some(at)).unwrap_or_default(),
    };
    let rotated = rfc3339(o.made_at()).unwrap_or_else(|| "-".into());
    let window = match (o.window, inputs.mode) {
        (_, Mode::Roll) if o.token.is_some() => "none".to_owned(),
        (Some(w), _) => format!("{:.1}s", w.as_secs_f64()),
        (None, _) => "-".to_owned(),
    };
    target_results(inputs, now, o)
        .into_iter()
        .map(|(target, result)| {
            [
                inputs.organization.clone(),
                subject_cell(o),
                target,
                result,
                expires.clone(),
                rotated.clone(),
                window.clone(),
            ]
        })
        .collect()
}

/// "`prod`", or "database `users` of group `prod`".
fn subject_cell(o: &GroupOutcome) -> String {
    match o.plan.database() {
        Some(_) => o.plan.to_string(),
        None => format!("`{}`", o.group()),
    }
}

/// Each target of a group and its result.
fn target_results(inputs: &Inputs, now: SystemTime, o: &GroupOutcome) -> Vec<(String, String)> {
    if o.not_due {
        return o
            .last_written
            .iter()
            .map(|(t, at)| (t.to_string(), format!("not due: {}", age(inputs, now, &t.secret, *at))))
            .collect();
    }
    if o.writes.is_empty() {
        let error = o.own_error().map_or("", String::as_str);
        return vec![("-".into(), format!("failed: {error}"))];
    }
    o.writes
        .iter()
        .map(|(t, e)| {
            let result = match (e, &o.unverified) {
                (Some(e), _) => format!("failed: {e}"),
                (None, Some(_)) => "written (verification failed)".to_owned(),
                (None, None) => "written".to_owned(),
            };
            (t.to_string(), result)
        })
        .collect()
}

/// The consumers told, and how each delivery went.
pub(super) fn deliveries_table(deliveries: &[Delivery]) -> String {
    let mut text = String::from("| Consumer | Result |\n|---|---|\n");
    for d in deliveries {
        let result = d
            .error
            .as_ref()
            .map_or("delivered".to_owned(), |e| format!("failed: {e}"));
        text.push_str(&format!("| {} | {} |\n", cell(&d.target), cell(&result)));
    }
    text.push('\n');
    text
}
