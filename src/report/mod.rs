//! The run's result, built once by the rotation (`outcome.rs`), and its
//! renderings, one file each: step outputs, the job summary, the state
//! messages after a failure, the audit line, the dry run, the dispatch
//! payload and the notification formats. Each is a function of the same
//! value, so what the outputs say and what the summary says cannot drift
//! apart; none decides anything (what is due is decided in `run/due.rs`).

mod audit;
mod compliance;
mod dry_run;
mod email;
mod notify;
mod outcome;
mod outputs;
mod payload;
mod state;
mod summary;
#[cfg(test)]
mod tests;
mod text;

use std::time::SystemTime;

use crate::inputs::Inputs;
use crate::workflow::Workflow;

pub use compliance::{Compliance, ComplianceGroup, TargetState};
pub use dry_run::dry_run;
pub use email::{report_email, run_email};
pub use notify::{notification, report_notification};
pub use outcome::{failed, written, Delivery, DryRunGroup, GroupOutcome, Handed, Revocation};
pub use outputs::hand_on;
pub use payload::dispatch_payload;
pub use text::{rfc3339, short_duration};

/// Writes outputs, summary, state messages and the audit line for a run
/// that rotated (or tried to); returns the exit code. Only the rotation
/// decides it: a summary or audit file that cannot be written is a warning.
pub fn finish(inputs: &Inputs, wf: &Workflow, outcomes: &[GroupOutcome], deliveries: &[Delivery]) -> u8 {
    let now = SystemTime::now();
    outputs::write(inputs, wf, outcomes, deliveries);
    let handed = outputs::settle(wf, outcomes);
    if let Err(e) = wf.summary(&summary::summary(inputs, now, outcomes, deliveries)) {
        wf.annotate("warning", &format!("{e:#}"));
    }
    state::annotate(wf, outcomes, &handed, deliveries);
    audit::append(inputs, wf, now, outcomes);
    if failed(outcomes, deliveries) {
        crate::exit::FAILED
    } else {
        0
    }
}

/// Writes the outputs (`report` among them) and the summary of a report
/// run; returns the exit code: 1 when a finding stands or a delivery failed.
pub fn finish_report(inputs: &Inputs, wf: &Workflow, report: &Compliance, deliveries: &[Delivery]) -> u8 {
    let now = SystemTime::now();
    let results = report
        .groups
        .iter()
        .flat_map(|g| {
            g.plan
                .targets
                .iter()
                .map(move |t| outputs::result_json(&g.plan.group, t, false, g.error.clone()))
        })
        .chain(
            deliveries
                .iter()
                .map(|d| serde_json::json!({ "group": null, "target": d.target, "written": d.error.is_none(), "error": d.error })),
        )
        .collect();
    let mut values = outputs::outputs(None, None, false, results, false, "false");
    values.insert(
        "report".into(),
        serde_json::Value::String(compliance::json(report, now).to_string()),
    );
    if let Err(e) = wf.outputs(values, &[], false) {
        wf.annotate("warning", &format!("{e:#}"));
    }
    if let Err(e) = wf.summary(&compliance::summary(report, now, &inputs.organization, deliveries)) {
        wf.annotate("warning", &format!("{e:#}"));
    }
    if report.failed() || deliveries.iter().any(|d| d.error.is_some()) {
        crate::exit::FAILED
    } else {
        0
    }
}
