//! Text every rendering shares: times, durations, table cells, a target's
//! age, and a group's line in a message.

use std::time::{Duration, SystemTime};

use crate::apis::turso::Expiry;
use crate::apis::Age;
use crate::inputs::{Inputs, Mode, Target};

use super::outcome::{GroupOutcome, Revocation};

/// RFC 3339 in UTC, to the second; `None` for a time RFC 3339 cannot
/// write (before 1970 or after 9999), so that formatting never panics.
pub fn rfc3339(time: Option<SystemTime>) -> Option<String> {
    let time = time?;
    let secs = time.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
    (secs <= crate::apis::turso::MAX_EXP).then(|| humantime::format_rfc3339_seconds(time).to_string())
}

/// `8d 3h`, `5h 12m`, `42s`: the two largest units.
pub fn short_duration(d: Duration) -> String {
    let units = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let secs = d.as_secs();
    let Some(first) = units.iter().position(|(n, _)| secs >= *n) else {
        return "0s".to_owned();
    };
    let mut parts = vec![format!("{}{}", secs / units[first].0, units[first].1)];
    if let Some((n, unit)) = units.get(first + 1) {
        let rest = secs % units[first].0 / n;
        if rest > 0 {
            parts.push(format!("{rest}{unit}"));
        }
    }
    parts.join(" ")
}

/// Text fit for one Markdown table cell.
pub(super) fn cell(text: &str) -> String {
    text.replace(['\r', '\n'], " ").replace('|', "\\|")
}

/// Each target's age at `now` and when it is next due, for the summary
/// and logs.
pub(super) fn ages(inputs: &Inputs, now: SystemTime, last_written: &[(Target, Age)]) -> String {
    last_written
        .iter()
        .map(|(target, at)| age(inputs, now, &target.secret, *at))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One secret's age at `now` and when it is next due.
pub(super) fn age(inputs: &Inputs, now: SystemTime, secret: &str, age: Age) -> String {
    let at = match age {
        Age::Missing => return format!("{secret} missing"),
        Age::Untracked => return format!("{secret} (its platform keeps no timestamp)"),
        Age::Ahead(at) => {
            let at = rfc3339(Some(at)).unwrap_or_else(|| "an unreadable time".into());
            return format!("{secret} written at {at}, ahead of the clock: due");
        }
        Age::WrittenAt(at) => at,
    };
    let next = at.checked_add(inputs.rotate_after.unwrap_or_default());
    format!(
        "{secret} written {} ago, next due {}",
        short_duration(now.duration_since(at).unwrap_or_default()),
        rfc3339(next).unwrap_or_else(|| "never".into())
    )
}

/// `rotated`, `failed` or `not due`.
pub(super) fn group_result(o: &GroupOutcome) -> &'static str {
    match (o.not_due, o.ok()) {
        (true, _) => "not due",
        (false, true) => "rotated",
        (false, false) => "failed",
    }
}

/// One line for a message: the run at a glance.
pub(super) fn headline(inputs: &Inputs, outcomes: &[GroupOutcome], run_failed: bool) -> String {
    let rotated = outcomes.iter().filter(|o| o.token.is_some()).count();
    let old = match inputs.mode {
        Mode::Invalidate => "old tokens invalidated",
        Mode::Roll => "old tokens valid until they expire",
        Mode::Report => "nothing changed",
    };
    match (run_failed, rotated) {
        (true, _) => format!("Turso token rotation in {} failed", inputs.organization),
        (false, 0) => format!("Turso tokens in {}: nothing was due", inputs.organization),
        (false, n) => format!("Turso tokens rotated in {}: {n} group(s), {old}", inputs.organization),
    }
}

/// One group in a message, its ages taken at `now`.
pub(super) fn group_line(inputs: &Inputs, now: SystemTime, o: &GroupOutcome) -> String {
    let group = match o.plan.database() {
        Some(_) => o.plan.to_string(),
        None => o.group().to_owned(),
    };
    if o.not_due {
        return format!("{group}: not due ({})", ages(inputs, now, &o.last_written));
    }
    let written: Vec<String> = o
        .writes
        .iter()
        .filter(|(_, e)| e.is_none())
        .map(|(t, _)| t.spec())
        .collect();
    let window = match (o.window, o.rotated_at) {
        (Some(w), Some(_)) => format!(", without a valid secret for {:.1}s", w.as_secs_f64()),
        _ => String::new(),
    };
    let expires = match o.expiry {
        Expiry::At(at) => format!(", expires {}", rfc3339(Some(at)).unwrap_or_default()),
        Expiry::Never if o.token.is_some() => ", never expires".to_owned(),
        _ => String::new(),
    };
    match (o.ok(), o.own_error()) {
        (true, _) => format!(
            "{group}: written to {}{expires}{window}{}",
            written.join(", "),
            revocation_text(o)
        ),
        (false, error) => format!(
            "{group}: failed: {}{}{}",
            error.cloned().unwrap_or_else(|| {
                o.writes
                    .iter()
                    .filter_map(|(_, e)| e.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            }),
            if written.is_empty() {
                String::new()
            } else {
                format!(" (written to {})", written.join(", "))
            },
            revocation_text(o)
        ),
    }
}

/// What the previous token proved, as summary and messages say it.
pub(super) fn revocation_text(o: &GroupOutcome) -> &'static str {
    match o.revocation {
        Some(Revocation::Proven) => "; previous token refused: revocation proven",
        Some(Revocation::StillAccepted) => "; the previous token still works: the invalidation did not take effect",
        None => "",
    }
}
