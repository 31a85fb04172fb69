//! The audit line: one JSON line per group appended to `audit-file`, never
//! a token.

use std::time::SystemTime;

use serde_json::json;

use crate::files;
use crate::inputs::Inputs;
use crate::workflow::Workflow;

use super::outcome::{GroupOutcome, Revocation};
use super::text::{group_result, rfc3339};

/// Appends the run's lines to `audit-file`, if one is given; a failure to
/// is a warning.
pub(super) fn append(inputs: &Inputs, wf: &Workflow, now: SystemTime, outcomes: &[GroupOutcome]) {
    let Some(path) = &inputs.audit_file else {
        return;
    };
    if let Err(e) = files::append_no_follow(path, &audit_lines(inputs, wf, now, outcomes)) {
        wf.annotate(
            "warning",
            &format!("appending to the audit file {}: {e:#}", path.display()),
        );
    }
}

/// One JSON line per group, stamped `now`.
pub(super) fn audit_lines(inputs: &Inputs, wf: &Workflow, now: SystemTime, outcomes: &[GroupOutcome]) -> String {
    let mut lines = String::new();
    for o in outcomes {
        let mut line = json!({
            "time": rfc3339(Some(now)),
            "actor": wf.actor,
            "run_url": wf.run_url,
            "organization": inputs.organization,
            "group": o.group(),
            "reason": inputs.reason,
            "mode": inputs.mode.as_str(),
            "invalidated": o.invalidated(),
            "rotated_at": rfc3339(o.made_at()),
            "expires_at": rfc3339(o.expiry.at()),
            "targets": o.writes.iter().map(|(t, e)| json!({"target": t.spec(), "written": e.is_none()})).collect::<Vec<_>>(),
            "result": group_result(o),
            "error": o.own_error(),
            "revocation": match o.revocation {
                Some(Revocation::Proven) => Some("proven"),
                Some(Revocation::StillAccepted) => Some("not proven: the previous token still works"),
                None => None,
            },
        });
        for (key, value) in o.plan.name_fields() {
            line[key] = value;
        }
        lines.push_str(&crate::secret::redact(&line.to_string()));
        lines.push('\n');
    }
    lines
}
