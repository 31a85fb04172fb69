//! What every notification says, whatever its format, and the one
//! interface each format renders it through.

use std::time::SystemTime;

use serde_json::Value;

use crate::inputs::Inputs;
use crate::workflow::Workflow;

use crate::report::compliance::{self, Compliance};
use crate::report::outcome::{failed, Delivery, GroupOutcome};
use crate::report::text::{group_line, headline};

/// One notification format: the message body for `content`.
pub(super) trait Format {
    fn message(&self, content: &Content) -> Value;
}

/// The run as a message tells it.
pub(in crate::report) struct Content<'a> {
    pub inputs: &'a Inputs,
    pub wf: &'a Workflow,
    pub outcomes: &'a [GroupOutcome],
    pub deliveries: &'a [Delivery],
    /// When the message is sent.
    pub now: SystemTime,
    pub failed: bool,
    pub headline: String,
    /// Failed groups first, then what was not delivered, then the rest:
    /// what a chat message has no room for is counted at its end.
    pub lines: Vec<Line>,
    /// `mode: report`: what it read and found (then `outcomes` is empty).
    pub report: Option<&'a Compliance>,
}

impl<'a> Content<'a> {
    pub fn new(
        inputs: &'a Inputs,
        wf: &'a Workflow,
        outcomes: &'a [GroupOutcome],
        deliveries: &'a [Delivery],
        now: SystemTime,
    ) -> Self {
        let failed = failed(outcomes, deliveries);
        let group = |o: &GroupOutcome| Line::group(group_line(inputs, now, o));
        let lines = outcomes
            .iter()
            .filter(|o| !o.ok())
            .map(group)
            .chain(
                deliveries
                    .iter()
                    .filter_map(|d| Some(format!("{} not delivered: {}", d.target, d.error.as_deref()?)))
                    .map(|text| Line { text, group: false }),
            )
            .chain(outcomes.iter().filter(|o| o.ok()).map(group))
            .collect();
        Content {
            inputs,
            wf,
            outcomes,
            deliveries,
            now,
            failed,
            headline: headline(inputs, outcomes, failed),
            lines,
            report: None,
        }
    }

    /// A report run as a message tells it: it fails when a finding stands.
    pub fn of_report(
        inputs: &'a Inputs,
        wf: &'a Workflow,
        report: &'a Compliance,
        deliveries: &'a [Delivery],
        now: SystemTime,
    ) -> Self {
        let lines = report
            .findings
            .iter()
            .map(|f| Line::group(f.clone()))
            .chain(
                deliveries
                    .iter()
                    .filter_map(|d| Some(format!("{} not delivered: {}", d.target, d.error.as_deref()?)))
                    .map(|text| Line { text, group: false }),
            )
            .chain(
                compliance::lines(report)
                    .into_iter()
                    .skip(report.findings.len())
                    .map(Line::group),
            )
            .collect();
        Content {
            inputs,
            wf,
            outcomes: &[],
            deliveries,
            now,
            failed: report.failed() || deliveries.iter().any(|d| d.error.is_some()),
            headline: compliance::headline(report, &inputs.organization),
            lines,
            report: Some(report),
        }
    }
}

/// One line of a chat message: a group's, or a delivery's.
pub(in crate::report) struct Line {
    pub text: String,
    pub group: bool,
}

impl Line {
    fn group(text: String) -> Line {
        Line { text, group: true }
    }
}

/// The final line that counts what a message had no room for, if anything.
pub(in crate::report) fn left_out(lines: &[Line]) -> Option<String> {
    let groups = lines.iter().filter(|l| l.group).count();
    let deliveries = lines.len() - groups;
    let count = |n: usize, one: &str, many: &str| match n {
        0 => None,
        1 => Some(format!("1 more {one}")),
        n => Some(format!("{n} more {many}")),
    };
    let parts: Vec<String> = count(groups, "group", "groups")
        .into_iter()
        .chain(count(deliveries, "delivery", "deliveries"))
        .collect();
    (!parts.is_empty()).then(|| format!("and {}: see the run", parts.join(" and ")))
}

/// `text` cut to at most `max` characters, the cut marked with `…`.
pub(super) fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}
