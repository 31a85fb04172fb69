//! `mode: report`: what was read (each group's delete protection, each
//! target's last write, the API token's expiry) and what the run decided
//! from it (what is due, the findings), as data; and its renderings: the
//! `report` output, the summary's table, a message's lines. Nothing is
//! decided here (see `run/report.rs`).

use std::time::SystemTime;

use serde_json::{json, Value};

use crate::apis::turso::{ApiTokenExpiry, Expiry};
use crate::apis::Age;
use crate::inputs::{GroupPlan, Target};

use super::outcome::Delivery;
use super::text::{cell, rfc3339, short_duration};

/// What a report run read and decided.
#[derive(Debug)]
pub struct Compliance {
    /// The Turso API token's own expiry.
    pub api_token: ApiTokenExpiry,
    /// With `previous-token`: its expiry, from its `exp` claim.
    pub previous_token: Option<Expiry>,
    pub groups: Vec<ComplianceGroup>,
    /// What makes the report fail, one sentence each.
    pub findings: Vec<String>,
}

/// One group's state.
#[derive(Debug)]
pub struct ComplianceGroup {
    pub plan: GroupPlan,
    /// `None` when the group could not be read.
    pub delete_protection: Option<bool>,
    /// Why the group or a target could not be read.
    pub error: Option<String>,
    pub targets: Vec<TargetState>,
}

/// One target's state.
#[derive(Debug)]
pub struct TargetState {
    pub target: Target,
    pub age: Age,
    /// Decided by the run: missing, or older than `rotate-after`.
    pub due: bool,
}

impl TargetState {
    pub fn exists(&self) -> bool {
        self.age != Age::Missing
    }

    fn written_at(&self) -> Option<SystemTime> {
        match self.age {
            Age::WrittenAt(at) | Age::Ahead(at) => Some(at),
            Age::Missing | Age::Untracked => None,
        }
    }

    /// Whole seconds since the last write at `now` (0 for one ahead of the clock).
    fn age_seconds(&self, now: SystemTime) -> Option<u64> {
        self.written_at()
            .map(|at| now.duration_since(at).unwrap_or_default().as_secs())
    }
}

impl Compliance {
    /// Whether anything is due.
    pub fn due(&self) -> bool {
        self.groups.iter().flat_map(|g| &g.targets).any(|t| t.due)
    }

    /// Whether the report fails: a finding stands.
    pub fn failed(&self) -> bool {
        !self.findings.is_empty()
    }
}

/// The `report` output: SPEC's one JSON object.
pub fn json(c: &Compliance, now: SystemTime) -> Value {
    let expires = match c.api_token {
        ApiTokenExpiry::Never => Value::Null,
        ApiTokenExpiry::At(at) => json!(rfc3339(Some(at))),
    };
    json!({
        "api-token-expires-at": expires,
        "groups": c.groups.iter().map(|g| {
            let mut entry = json!({
            "delete-protection": g.delete_protection.unwrap_or(false),
            "targets": g.plan.targets.iter().map(|t| match g.targets.iter().find(|s| &s.target == t) {
                Some(s) => json!({
                    "target": t.spec(),
                    "exists": s.exists(),
                    "last-written": rfc3339(s.written_at()),
                    "age-seconds": s.age_seconds(now),
                    "due": s.due,
                }),
                // Not read (the group failed): nothing known, and not due.
                None => json!({"target": t.spec(), "exists": false, "last-written": null, "age-seconds": null, "due": false}),
            }).collect::<Vec<_>>(),
            });
            // SPEC: "group", or "database" for a database's plan.
            let key = if g.plan.database().is_some() { "database" } else { "group" };
            entry[key] = json!(g.plan.group);
            entry
        }).collect::<Vec<_>>(),
    })
}

/// The table every rendering shows: group, target, last written, age, due.
pub(super) fn rows(c: &Compliance, now: SystemTime) -> Vec<Vec<String>> {
    let mut rows = vec![["Group", "Target", "Last written", "Age", "Due"]
        .map(String::from)
        .to_vec()];
    for g in &c.groups {
        if let Some(error) = &g.error {
            if g.targets.is_empty() {
                rows.push(vec![
                    g.plan.group.clone(),
                    "-".into(),
                    format!("not read: {error}"),
                    "-".into(),
                    "-".into(),
                ]);
                continue;
            }
        }
        for s in &g.targets {
            let (last, age) = match (s.age, s.age_seconds(now)) {
                (Age::Missing, _) => ("missing".to_owned(), "-".to_owned()),
                (Age::Untracked, _) => ("exists (no timestamp kept)".to_owned(), "-".to_owned()),
                (Age::Ahead(_), _) => (
                    rfc3339(s.written_at()).unwrap_or_default() + " (ahead of the clock)",
                    "-".into(),
                ),
                (Age::WrittenAt(_), secs) => (
                    rfc3339(s.written_at()).unwrap_or_default(),
                    short_duration(std::time::Duration::from_secs(secs.unwrap_or_default())),
                ),
            };
            let due = if s.due { "yes" } else { "no" };
            rows.push(vec![g.plan.group.clone(), s.target.to_string(), last, age, due.into()]);
        }
    }
    rows
}

/// The step summary of a report.
pub(super) fn summary(c: &Compliance, now: SystemTime, organization: &str, deliveries: &[Delivery]) -> String {
    let mut text = format!("### Turso token report: {organization}\n\n");
    text.push_str(&format!("Turso API token: {}.\n\n", api_token_line(c)));
    if let Some(expiry) = c.previous_token {
        let when = match expiry {
            Expiry::Never => "never expires".to_owned(),
            Expiry::At(at) => format!("expires {}", rfc3339(Some(at)).unwrap_or_default()),
            Expiry::Unknown => "has an expiry this action cannot read".to_owned(),
        };
        text.push_str(&format!("Previous token (`previous-token`): {when}.\n\n"));
    }
    for g in &c.groups {
        let protection = match g.delete_protection {
            Some(true) => "on",
            Some(false) => "**off**",
            None => "unknown",
        };
        text.push_str(&format!("- Group `{}`: delete protection {protection}\n", g.plan.group));
    }
    text.push('\n');
    let rows = rows(c, now);
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        text.push_str(&format!("| {} |\n", cells.join(" | ")));
        if i == 0 {
            text.push_str(&format!("|{}\n", "---|".repeat(row.len())));
        }
    }
    text.push('\n');
    if c.findings.is_empty() {
        text.push_str("Nothing is due.\n\n");
    } else {
        text.push_str("Findings:\n\n");
        for f in &c.findings {
            text.push_str(&format!("- {}\n", cell(f)));
        }
        text.push('\n');
    }
    if !deliveries.is_empty() {
        text.push_str(&super::summary::deliveries_table(deliveries));
    }
    text
}

/// When the API token expires, in words.
fn api_token_line(c: &Compliance) -> String {
    match c.api_token {
        ApiTokenExpiry::Never => "never expires".to_owned(),
        ApiTokenExpiry::At(at) => format!("expires {}", rfc3339(Some(at)).unwrap_or_default()),
    }
}

/// The headline of a message about the report.
pub(super) fn headline(c: &Compliance, organization: &str) -> String {
    let due = c.groups.iter().flat_map(|g| &g.targets).filter(|t| t.due).count();
    match (c.failed(), due) {
        (false, _) => format!("Turso token report for {organization}: nothing is due"),
        (true, 0) => format!("Turso token report for {organization}: {} finding(s)", c.findings.len()),
        (true, n) => format!("Turso token report for {organization}: {n} secret(s) due"),
    }
}

/// A message's lines: the findings first, then each group's state.
pub(super) fn lines(c: &Compliance) -> Vec<String> {
    let mut lines = c.findings.clone();
    lines.push(format!("Turso API token: {}", api_token_line(c)));
    for g in &c.groups {
        let protection = match g.delete_protection {
            Some(true) => ", delete protection on",
            Some(false) => ", delete protection off",
            None => "",
        };
        let due = g.targets.iter().filter(|t| t.due).count();
        lines.push(format!(
            "{}: {} target(s), {due} due{protection}",
            g.plan.group,
            g.targets.len()
        ));
    }
    lines
}
