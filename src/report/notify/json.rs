//! The generic webhook's JSON: `{"type", "timestamp", "data"}` with every
//! group and delivery in full. (It is signed where it is sent, in
//! `run/tell.rs`.)

use serde_json::{json, Value};

use crate::report::compliance;
use crate::report::outcome::{GroupOutcome, Revocation};
use crate::report::text::{group_result, rfc3339};

use super::content::{Content, Format};

pub(super) struct Json;

impl Format for Json {
    fn message(&self, content: &Content) -> Value {
        let (inputs, wf, outcomes) = (content.inputs, content.wf, content.outcomes);
        if let Some(report) = content.report {
            return json!({
                "type": if content.failed { "turso.token.report_failed" } else { "turso.token.report" },
                "timestamp": rfc3339(Some(content.now)),
                "data": {
                    "organization": inputs.organization,
                    "mode": inputs.mode.as_str(),
                    "reason": inputs.reason,
                    "actor": wf.actor,
                    "run_url": wf.run_url,
                    "report": compliance::json(report, content.now),
                    "findings": report.findings,
                    "deliveries": content.deliveries.iter().map(|d| json!({"target": d.target, "error": d.error})).collect::<Vec<_>>(),
                },
            });
        }
        json!({
            "type": if content.failed { "turso.token.rotation_failed" } else { "turso.token.rotated" },
            "timestamp": rfc3339(Some(content.now)),
            "data": {
                "organization": inputs.organization,
                "mode": inputs.mode.as_str(),
                // As the step output says: `unknown` when the answer was lost.
                "invalidated": crate::report::outcome::invalidated_json(outcomes),
                "reason": inputs.reason,
                "actor": wf.actor,
                "run_url": wf.run_url,
                "groups": outcomes.iter().map(group).collect::<Vec<_>>(),
                "deliveries": content.deliveries.iter().map(|d| json!({"target": d.target, "error": d.error})).collect::<Vec<_>>(),
            },
        })
    }
}

/// One group in full: its result, times, window and each target.
fn group(o: &GroupOutcome) -> Value {
    let mut value = json!({
        "group": o.group(),
        "result": group_result(o),
        "rotated_at": rfc3339(o.made_at()),
        "expires_at": rfc3339(o.expiry.at()),
        "window_seconds": o.window.filter(|_| o.rotated_at.is_some()).map(|w| (w.as_secs_f64() * 10.0).round() / 10.0),
        "error": o.own_error(),
        "targets": o.plan.targets.iter().map(|t| json!({
            "target": t.spec(),
            "written": o.wrote(t),
            "error": o.target_error(t),
        })).collect::<Vec<_>>(),
    });
    if let Some(revocation) = o.revocation {
        value["revocation_proven"] = Value::Bool(revocation == Revocation::Proven);
    }
    for (key, v) in o.plan.name_fields() {
        value[key] = v;
    }
    value
}
