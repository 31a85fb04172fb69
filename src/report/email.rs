//! The email to `notify-email`: a subject that says the run's outcome at
//! a glance, and a plain-text body with the same facts as the
//! notification and the summary's table as text; never a token.

use std::time::SystemTime;

use crate::inputs::Inputs;
use crate::secret::redact;
use crate::workflow::{printable, Workflow};

use super::compliance::{self, Compliance};
use super::notify::MessageContent as Content;
use super::outcome::{Delivery, GroupOutcome};
use super::summary;

/// Subject and body of a run that rotated (or tried to).
pub fn run_email(
    inputs: &Inputs,
    wf: &Workflow,
    outcomes: &[GroupOutcome],
    deliveries: &[Delivery],
) -> (String, String) {
    email_at(inputs, wf, outcomes, deliveries, SystemTime::now())
}

pub(super) fn email_at(
    inputs: &Inputs,
    wf: &Workflow,
    outcomes: &[GroupOutcome],
    deliveries: &[Delivery],
    now: SystemTime,
) -> (String, String) {
    let content = Content::new(inputs, wf, outcomes, deliveries, now);
    let mut table = vec![summary::HEADER.map(String::from).to_vec()];
    table.extend(
        outcomes
            .iter()
            .flat_map(|o| summary::rows(inputs, now, o))
            // Plain text: the Markdown's code marks go.
            .map(|r| r.iter().map(|cell| cell.replace('`', "")).collect()),
    );
    render(&content, &table)
}

/// Subject and body of a report run.
pub fn report_email(inputs: &Inputs, wf: &Workflow, report: &Compliance, deliveries: &[Delivery]) -> (String, String) {
    report_email_at(inputs, wf, report, deliveries, SystemTime::now())
}

pub(super) fn report_email_at(
    inputs: &Inputs,
    wf: &Workflow,
    report: &Compliance,
    deliveries: &[Delivery],
    now: SystemTime,
) -> (String, String) {
    let content = Content::of_report(inputs, wf, report, deliveries, now);
    render(&content, &compliance::rows(report, now))
}

/// "Turso tokens rotated: ORG/GROUP", "… FAILED", "… due" for a report
/// with something due, "ORG: N groups" with several.
fn subject(content: &Content) -> String {
    let inputs = content.inputs;
    let name = match &inputs.plans[..] {
        [one] => format!("{}/{}", inputs.organization, one.group),
        many => format!("{}: {} groups", inputs.organization, many.len()),
    };
    let outcome = match content.report {
        Some(report) if report.due() => " due",
        Some(_) if content.failed => " FAILED",
        Some(_) => " nothing due",
        None if content.failed => " FAILED",
        None => "",
    };
    printable(&format!("Turso tokens rotated: {name}{outcome}"))
}

fn render(content: &Content, table: &[Vec<String>]) -> (String, String) {
    let mut body = format!("{}\n\n", content.headline);
    for line in &content.lines {
        body.push_str(&format!("- {}\n", line.text));
    }
    body.push('\n');
    body.push_str(&text_table(table));
    if !content.deliveries.is_empty() && content.report.is_none() {
        body.push('\n');
        for d in content.deliveries {
            let result = d
                .error
                .as_ref()
                .map_or("delivered".to_owned(), |e| format!("failed: {e}"));
            body.push_str(&format!("{}: {result}\n", d.target));
        }
    }
    body.push('\n');
    if let Some(reason) = &content.inputs.reason {
        body.push_str(&format!("Reason: {reason}\n"));
    }
    body.push_str(&format!("Mode: {}\n", content.inputs.mode.as_str()));
    if let Some(actor) = &content.wf.actor {
        body.push_str(&format!("Actor: {actor}\n"));
    }
    if let Some(url) = &content.wf.run_url {
        body.push_str(&format!("Workflow run: {url}\n"));
    }
    // Every line shown as text, and scrubbed of every registered secret.
    let body: String = body.lines().map(|l| printable(l) + "\n").collect();
    (redact(&subject(content)), redact(&body))
}

/// Rows as a plain-text table, each column as wide as its widest cell.
fn text_table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width = |i: usize| {
        rows.iter()
            .filter_map(|r| r.get(i))
            .map(|c| c.chars().count())
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..columns).map(width).collect();
    let mut text = String::new();
    for (n, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{:<w$}", c.replace(['\r', '\n'], " "), w = *w))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
        if n == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            text.push_str(&rule.join("  "));
            text.push('\n');
        }
    }
    text
}
