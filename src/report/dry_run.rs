//! A dry run's outputs, summary and log: what would happen, and what was
//! not checked.

use std::time::SystemTime;

use crate::inputs::{Inputs, Mode};
use crate::workflow::{self, Workflow};

use super::outcome::DryRunGroup;
use super::outputs::{outputs, result_json};
use super::text::{ages, cell};

/// Outputs and summary of a dry run: what would happen, and what was not
/// checked. Groups whose preflight failed are reported as such.
pub fn dry_run(inputs: &Inputs, wf: &Workflow, groups: &[DryRunGroup], checked: bool, unchecked: &[&str]) -> u8 {
    let now = SystemTime::now();
    let results = results(inputs, now, groups);
    log_plans(inputs, groups, &results);
    let proof = proof(checked, unchecked);
    workflow::log(&format!("dry run: nothing was changed. {proof}"));
    let json = inputs
        .plans
        .iter()
        .zip(groups)
        .flat_map(|(plan, group)| {
            let error = group.failed.clone();
            plan.targets
                .iter()
                .map(move |t| result_json(&plan.group, t, false, error.clone()))
        })
        .collect();
    for written in [
        wf.outputs(outputs(None, None, false, json, false, "false"), &[], inputs.show_token),
        wf.summary(&summary(inputs, &results, &proof)),
    ] {
        if let Err(e) = written {
            wf.annotate("warning", &format!("{e:#}"));
        }
    }
    let mut code = 0;
    for (plan, group) in inputs.plans.iter().zip(groups) {
        if let Some(e) = &group.failed {
            wf.annotate("error", &format!("Group `{}`: {e}", plan.group));
            code = crate::exit::FAILED;
        }
    }
    code
}

/// Each group's result, its ages taken at `now`.
pub(super) fn results(inputs: &Inputs, now: SystemTime, groups: &[DryRunGroup]) -> Vec<String> {
    groups
        .iter()
        .map(|group| match (&group.failed, &group.last_written) {
            (Some(e), _) => format!("preflight failed: {e}"),
            (None, Some(last)) if !group.due => format!("not due: {}", ages(inputs, now, last)),
            (None, Some(last)) => format!("due, would write: {}", ages(inputs, now, last)),
            (None, None) => "would write".to_owned(),
        })
        .collect()
}

/// A log line per group whose preflight passed: what a rotation would do.
fn log_plans(inputs: &Inputs, groups: &[DryRunGroup], results: &[String]) {
    let old = match inputs.mode {
        Mode::Invalidate => "invalidate every token of",
        Mode::Roll | Mode::Report => "invalidate nothing in",
    };
    for ((plan, group), result) in inputs.plans.iter().zip(groups).zip(results) {
        if group.failed.is_none() {
            workflow::log(&format!(
                "dry run: group `{}`: {result}; a rotation would {old} the group and create a {} token (expiration {})",
                plan.group,
                inputs.authorization.as_str(),
                inputs.expiration.as_query()
            ));
        }
    }
}

/// What a dry run proved of the targets, and which were not checked.
pub(super) fn proof(checked: bool, unchecked: &[&str]) -> String {
    let missing: Vec<String> = unchecked.iter().map(|input| format!("`{input}`")).collect();
    let missing = missing.join(" or ");
    let read = "Targets were read, but write access was not proven: a dry run writes nothing, not even the probe.";
    match (missing.is_empty(), checked) {
        (false, true) => format!("{read} No {missing} was given: those targets were not checked."),
        (false, false) => format!("No {missing} was given: only the Turso side was checked."),
        (true, false) => "No target to check: only the Turso side was checked.".to_owned(),
        (true, true) => read.to_owned(),
    }
}

/// The dry run's job summary: a row per group and target.
pub(super) fn summary(inputs: &Inputs, results: &[String], proof: &str) -> String {
    let mut rows = String::new();
    for (plan, result) in inputs.plans.iter().zip(results) {
        for target in &plan.targets {
            rows.push_str(&format!(
                "| {} | `{}` | {} | {} |\n",
                inputs.organization,
                plan.group,
                cell(&target.to_string()),
                cell(result)
            ));
        }
    }
    format!(
        "### Turso token rotation: dry run\n\nNothing was changed. {proof}\n\n| Organization | Group | Secret | Result |\n|---|---|---|---|\n{rows}\n"
    )
}
