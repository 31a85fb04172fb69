//! The run's result, built once by the rotation, and its renderings: step
//! outputs, the job summary, the state message after a failure and the
//! audit line. Each rendering is one function of the same value, so what
//! the outputs say and what the summary says cannot drift apart.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};

use crate::apis::turso::Expiry;
use crate::apis::Age;
use crate::files;
use crate::inputs::{GroupPlan, Inputs, Mode, NotifyFormat, Target};
use crate::secret::Secret;
use crate::workflow::{self, Workflow};

/// What happened to one group.
#[derive(Debug)]
pub struct GroupOutcome {
    pub plan: GroupPlan,
    /// When the rotate call answered: the old tokens died then. Never set
    /// in `mode: roll`.
    pub rotated_at: Option<SystemTime>,
    /// When the new token was created.
    pub created_at: Option<SystemTime>,
    /// Without `rotated_at`: the rotate call surely had no effect (never
    /// sent, or refused with a 4xx), rather than an unknown one.
    pub untouched: bool,
    /// With `rotate-after`: each target and when it was last written
    /// (`None`: missing).
    pub last_written: Vec<(Target, Age)>,
    /// Every target was younger than `rotate-after`: nothing was done.
    pub not_due: bool,
    pub token: Option<Secret>,
    /// The new token's expiry, read once from its `exp` claim.
    pub expiry: Expiry,
    /// Failure of preflight, rotate or create (not of a write).
    pub error: Option<String>,
    /// The new token failed `SELECT 1`.
    pub unverified: Option<String>,
    /// Each target attempted and the error writing it, if any.
    pub writes: Vec<(Target, Option<String>)>,
    /// Rotate answered -> last secret written.
    pub window: Option<Duration>,
    /// The rotate call's answer was lost (its error): it may have
    /// invalidated the old tokens, so the run went on as if it had.
    pub invalidation_lost: Option<String>,
    /// Where the new token was handed on as soon as it existed.
    pub handed: Option<Handed>,
}

impl GroupOutcome {
    pub fn new(plan: &GroupPlan) -> Self {
        GroupOutcome {
            plan: plan.clone(),
            rotated_at: None,
            created_at: None,
            untouched: false,
            last_written: Vec::new(),
            not_due: false,
            token: None,
            expiry: Expiry::Never,
            error: None,
            unverified: None,
            writes: Vec::new(),
            window: None,
            invalidation_lost: None,
            handed: None,
        }
    }

    /// A group nothing was done to, for `reason`.
    pub fn untouched(plan: &GroupPlan, reason: String) -> Self {
        GroupOutcome {
            untouched: true,
            error: Some(reason),
            ..GroupOutcome::new(plan)
        }
    }

    /// A group left alone: every target is younger than `rotate-after`.
    pub fn not_due(plan: &GroupPlan, last_written: Vec<(Target, Age)>) -> Self {
        GroupOutcome {
            not_due: true,
            last_written,
            ..GroupOutcome::new(plan)
        }
    }

    pub fn group(&self) -> &str {
        &self.plan.group
    }

    /// Not due, or every target written with a token that passed verification.
    pub fn ok(&self) -> bool {
        self.not_due
            || (self.error.is_none()
                && self.unverified.is_none()
                && self.invalidation_lost.is_none()
                && self.all_written())
    }

    /// `true`, `false`, or `unknown` when the rotate call's answer was lost.
    pub fn invalidated(&self) -> &'static str {
        match (self.rotated_at, &self.invalidation_lost) {
            (Some(_), Some(_)) => "unknown",
            (Some(_), None) => "true",
            (None, _) => "false",
        }
    }

    /// Every target holds the new token.
    fn all_written(&self) -> bool {
        self.writes.len() == self.plan.targets.len() && self.writes.iter().all(|(_, e)| e.is_none())
    }

    /// A target's error; one not attempted shares its group's.
    fn target_error(&self, target: &Target) -> Option<String> {
        if self.not_due {
            return None;
        }
        match self.writes.iter().find(|(t, _)| t == target) {
            Some((_, e)) => e.clone(),
            // (In a roll, a token that failed verification is not written.)
            None => Some(
                self.error
                    .clone()
                    .or_else(|| self.unverified.clone())
                    .unwrap_or_else(|| "not attempted".to_owned()),
            ),
        }
    }
}

/// A dispatch or notification sent after the writes, and its error.
#[derive(Debug)]
pub struct Delivery {
    /// `dispatch:<entry>` or `notify:<host>`.
    pub target: String,
    pub error: Option<String>,
}

/// Whether the run fails: a group that is not ok, or a delivery that failed.
pub fn failed(outcomes: &[GroupOutcome], deliveries: &[Delivery]) -> bool {
    !outcomes.iter().all(GroupOutcome::ok) || deliveries.iter().any(|d| d.error.is_some())
}

/// Groups with at least one secret written: the ones consumers are told of.
pub fn written(outcomes: &[GroupOutcome]) -> impl Iterator<Item = &GroupOutcome> {
    outcomes.iter().filter(|o| o.writes.iter().any(|(_, e)| e.is_none()))
}

/// Where a new token was handed on.
#[derive(Debug, Clone)]
pub enum Handed {
    /// The masked step output of that name.
    Output(String),
    File(PathBuf),
    /// Saving it failed too: the error.
    Lost(String),
}

/// Writes outputs, summary, state messages and the audit line for a run
/// that rotated (or tried to); returns the exit code. Only the rotation
/// decides it: a summary or audit file that cannot be written is a warning.
pub fn finish(inputs: &Inputs, wf: &Workflow, outcomes: &[GroupOutcome], deliveries: &[Delivery]) -> u8 {
    let tokens: Vec<(String, &Secret)> = outcomes
        .iter()
        .filter_map(|o| Some((token_output(inputs, o.group()), o.token.as_ref()?)))
        .collect();
    let expires_at = match (inputs.per_group_outputs, outcomes.first()) {
        (false, Some(o)) => o.expiry.at(),
        _ => None,
    };
    let rotated_at = outcomes.iter().filter_map(|o| o.rotated_at.or(o.created_at)).min();
    let mut due = outcomes.iter().filter(|o| !o.not_due).peekable();
    let updated = due.peek().is_some() && due.all(GroupOutcome::all_written);
    let outputs = outputs(
        expires_at,
        rotated_at,
        updated,
        results(outcomes, deliveries),
        outcomes.iter().any(|o| o.token.is_some()),
        invalidated(outcomes),
    );
    if let Err(e) = wf.outputs(outputs, &tokens, inputs.show_token) {
        wf.annotate("warning", &format!("{e:#}"));
    }

    // A token that did not reach every secret stays where it was handed on
    // (the step output, or the token file); one that did leaves no file.
    let handed: Vec<Option<Handed>> = outcomes
        .iter()
        .map(|o| {
            let handed = o.handed.as_ref()?;
            if !o.all_written() {
                // Saved again, so that the message tells the truth even if
                // the file was removed meanwhile.
                return Some(match (handed, &o.token) {
                    (Handed::File(path), Some(token)) => match files::save_token(path, token) {
                        Ok(()) => Handed::File(path.clone()),
                        Err(e) => Handed::Lost(format!("{e:#}")),
                    },
                    (handed, _) => handed.clone(),
                });
            }
            if let Handed::File(path) = handed {
                match std::fs::remove_file(path) {
                    Ok(()) => workflow::log(&format!(
                        "group `{}`: every target holds the new token: token file {} removed",
                        o.group(),
                        path.display()
                    )),
                    Err(e) => wf.annotate(
                        "warning",
                        &format!(
                            "removing the token file {}: {e} (delete it: it holds a live token)",
                            path.display()
                        ),
                    ),
                }
            }
            None
        })
        .collect();
    if let Err(e) = wf.summary(&summary(inputs, outcomes, deliveries)) {
        wf.annotate("warning", &format!("{e:#}"));
    }
    for (outcome, handed) in outcomes.iter().zip(&handed) {
        if !outcome.ok() {
            wf.annotate("error", &failure_message(outcome, handed.as_ref()));
        }
    }
    let undelivered: Vec<String> = deliveries
        .iter()
        .filter_map(|d| Some(format!("{} ({})", d.target, d.error.as_deref()?)))
        .collect();
    if !undelivered.is_empty() {
        let groups: Vec<String> = written(outcomes).map(|o| format!("`{}`", o.group())).collect();
        let groups = if groups.is_empty() {
            "none".to_owned()
        } else {
            groups.join(", ")
        };
        wf.annotate(
            "error",
            &format!(
                "Not delivered: {}. Groups whose secrets were written: {groups}. Nothing was undone: consumers that were not told pick up the new token on their next deploy.",
                undelivered.join("; ")
            ),
        );
    }
    if let Some(path) = &inputs.audit_file {
        if let Err(e) = files::append_no_follow(path, &audit_lines(inputs, wf, outcomes)) {
            wf.annotate(
                "warning",
                &format!("appending to the audit file {}: {e:#}", path.display()),
            );
        }
    }
    if failed(outcomes, deliveries) {
        crate::EXIT_FAILED
    } else {
        0
    }
}

/// The step outputs other than tokens (SPEC's Outputs table).
fn outputs(
    expires_at: Option<SystemTime>,
    rotated_at: Option<SystemTime>,
    secret_updated: bool,
    results: Vec<Value>,
    rotated: bool,
    invalidated: &str,
) -> Map<String, Value> {
    let mut outputs = Map::new();
    outputs.insert("expires-at".into(), json!(rfc3339(expires_at).unwrap_or_default()));
    outputs.insert("rotated-at".into(), json!(rfc3339(rotated_at).unwrap_or_default()));
    outputs.insert("secret-updated".into(), json!(secret_updated.to_string()));
    outputs.insert("results".into(), Value::Array(results));
    outputs.insert("rotated".into(), json!(rotated.to_string()));
    outputs.insert("invalidated".into(), json!(invalidated));
    outputs
}

/// One group of a dry run: why its preflight failed, or with
/// `rotate-after` when its targets were last written.
pub struct DryRunGroup {
    pub failed: Option<String>,
    pub last_written: Option<Vec<(Target, Age)>>,
    /// A rotation is due (decided by the run).
    pub due: bool,
}

/// Outputs and summary of a dry run: what would happen, and what was not
/// checked. Groups whose preflight failed are reported as such.
pub fn dry_run(inputs: &Inputs, wf: &Workflow, groups: &[DryRunGroup], checked: bool, unchecked: &[&str]) -> u8 {
    let mut rows = String::new();
    let mut results = Vec::new();
    for (plan, group) in inputs.plans.iter().zip(groups) {
        let result = match (&group.failed, &group.last_written) {
            (Some(e), _) => format!("preflight failed: {e}"),
            (None, Some(last)) if !group.due => format!("not due: {}", ages(inputs, last)),
            (None, Some(last)) => format!("due, would write: {}", ages(inputs, last)),
            (None, None) => "would write".to_owned(),
        };
        for target in &plan.targets {
            rows.push_str(&format!(
                "| {} | `{}` | {} | {} |\n",
                inputs.organization,
                plan.group,
                cell(&target.to_string()),
                cell(&result)
            ));
            results.push(result_json(&plan.group, target, false, group.failed.clone()));
        }
        if group.failed.is_none() {
            let old = match inputs.mode {
                Mode::Invalidate => "invalidate every token of",
                Mode::Roll => "invalidate nothing in",
            };
            workflow::log(&format!(
                "dry run: group `{}`: {result}; a rotation would {old} the group and create a {} token (expiration {})",
                plan.group,
                inputs.authorization.as_str(),
                inputs.expiration.as_query()
            ));
        }
    }
    let mut proof = match checked {
        true => "Targets were read, but write access was not proven: a dry run writes nothing, not even the probe."
            .to_owned(),
        false => String::new(),
    };
    let missing: Vec<String> = unchecked.iter().map(|input| format!("`{input}`")).collect();
    match (missing.is_empty(), checked) {
        (false, true) => proof.push_str(&format!(
            " No {} was given: those targets were not checked.",
            missing.join(" or ")
        )),
        (false, false) => {
            proof = format!(
                "No {} was given: only the Turso side was checked.",
                missing.join(" or ")
            )
        }
        (true, false) => proof = "No target to check: only the Turso side was checked.".to_owned(),
        (true, true) => {}
    }
    workflow::log(&format!("dry run: nothing was changed. {proof}"));
    let outputs = outputs(None, None, false, results, false, "false");
    for written in [
        wf.outputs(outputs, &[], inputs.show_token),
        wf.summary(&format!(
            "### Turso token rotation: dry run\n\nNothing was changed. {proof}\n\n| Organization | Group | Secret | Result |\n|---|---|---|---|\n{rows}\n"
        )),
    ] {
        if let Err(e) = written {
            wf.annotate("warning", &format!("{e:#}"));
        }
    }
    let mut code = 0;
    for (plan, group) in inputs.plans.iter().zip(groups) {
        if let Some(e) = &group.failed {
            wf.annotate("error", &format!("Group `{}`: {e}", plan.group));
            code = crate::EXIT_FAILED;
        }
    }
    code
}

/// Each target's age and when it is next due, for the summary and logs.
fn ages(inputs: &Inputs, last_written: &[(Target, Age)]) -> String {
    last_written
        .iter()
        .map(|(target, at)| age(inputs, &target.secret, *at))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One secret's age and when it is next due.
fn age(inputs: &Inputs, secret: &str, age: Age) -> String {
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
        short_duration(at.elapsed().unwrap_or_default()),
        rfc3339(next).unwrap_or_else(|| "never".into())
    )
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

/// The run's `invalidated` output: `unknown` when any group's rotate call
/// lost its answer, else `true` when any group's tokens were invalidated.
fn invalidated(outcomes: &[GroupOutcome]) -> &'static str {
    let each: Vec<&str> = outcomes.iter().map(GroupOutcome::invalidated).collect();
    ["unknown", "true"]
        .into_iter()
        .find(|v| each.contains(v))
        .unwrap_or("false")
}

/// Hands a new token on as soon as it exists, so that no stop, crash or
/// kill after its creation loses it: under Actions the masked step output
/// (written at once), elsewhere the token file (removed once every target
/// holds the token).
pub fn hand_on(inputs: &Inputs, wf: &Workflow, plan: &GroupPlan, token: &Secret) -> Handed {
    let name = token_output(inputs, &plan.group);
    if wf.records_outputs() {
        match wf.outputs(Map::new(), &[(name.clone(), token)], false) {
            Ok(()) => return Handed::Output(name),
            Err(e) => wf.annotate("warning", &format!("{e:#}")),
        }
    }
    let path = &plan.token_file;
    match files::save_token(path, token) {
        Ok(()) => {
            workflow::log(&format!(
                "group `{}`: new token saved to {} (mode 0600) until every target holds it",
                plan.group,
                path.display()
            ));
            Handed::File(path.clone())
        }
        Err(e) => Handed::Lost(format!("{e:#}")),
    }
}

/// The output that carries a group's token: `token`, or `token-<group>` with `groups`.
fn token_output(inputs: &Inputs, group: &str) -> String {
    if inputs.per_group_outputs {
        format!("token-{group}")
    } else {
        "token".to_owned()
    }
}

/// The `results` output: one object per group and target, then one per
/// delivery; never a token.
fn results(outcomes: &[GroupOutcome], deliveries: &[Delivery]) -> Vec<Value> {
    let targets = outcomes.iter().flat_map(|o| {
        o.plan.targets.iter().map(move |t| {
            let error = o.target_error(t);
            // A secret that holds a token which failed verification is written, with an error.
            let error = error.or_else(|| o.unverified.clone());
            let written = o.writes.iter().any(|(w, e)| w == t && e.is_none());
            result_json(o.group(), t, written, error)
        })
    });
    let deliveries = deliveries
        .iter()
        .map(|d| json!({ "group": null, "target": d.target, "written": d.error.is_none(), "error": d.error }));
    targets.chain(deliveries).collect()
}

fn result_json(group: &str, target: &Target, written: bool, error: Option<String>) -> Value {
    json!({ "group": group, "target": target.spec(), "written": written, "error": error })
}

/// `client_payload` of a repository dispatch: at most 10 top-level keys
/// (GitHub refuses more), what a deploy workflow needs, never a token.
pub fn dispatch_payload(inputs: &Inputs, wf: &Workflow, outcomes: &[GroupOutcome]) -> Value {
    let written: Vec<&GroupOutcome> = written(outcomes).collect();
    json!({
        "organization": inputs.organization,
        "groups": written.iter().map(|o| o.group()).collect::<Vec<_>>(),
        "mode": inputs.mode.as_str(),
        "invalidated": written.iter().any(|o| o.rotated_at.is_some()),
        "rotated-at": rfc3339(written.iter().filter_map(|o| o.rotated_at.or(o.created_at)).min()).unwrap_or_default(),
        "expires-at": rfc3339(written.iter().filter_map(|o| o.expiry.at()).min()).unwrap_or_default(),
        "secrets": written
            .iter()
            .flat_map(|o| o.writes.iter().filter(|(_, e)| e.is_none()).map(|(t, _)| t.spec()))
            .collect::<Vec<_>>(),
        "run-url": wf.run_url,
    })
}

/// The message to `notify-url`, in its format; never a token.
pub fn notification(
    inputs: &Inputs,
    wf: &Workflow,
    outcomes: &[GroupOutcome],
    deliveries: &[Delivery],
    format: NotifyFormat,
) -> Value {
    let run_failed = failed(outcomes, deliveries);
    let groups: Vec<Value> = outcomes
        .iter()
        .map(|o| {
            json!({
                "group": o.group(),
                "result": group_result(o),
                "rotated_at": rfc3339(o.rotated_at.or(o.created_at)),
                "expires_at": rfc3339(o.expiry.at()),
                "window_seconds": o.window.filter(|_| o.rotated_at.is_some()).map(|w| (w.as_secs_f64() * 10.0).round() / 10.0),
                "error": o.error.as_ref().or(o.unverified.as_ref()),
                "targets": o.plan.targets.iter().map(|t| json!({
                    "target": t.spec(),
                    "written": o.writes.iter().any(|(w, e)| w == t && e.is_none()),
                    "error": o.target_error(t),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let headline = headline(inputs, outcomes, run_failed);
    // Failed groups first, then what was not delivered, then the rest:
    // what a chat message has no room for is counted at its end.
    let lines: Vec<Line> = outcomes
        .iter()
        .filter(|o| !o.ok())
        .map(|o| Line::group(group_line(inputs, o)))
        .chain(
            deliveries
                .iter()
                .filter_map(|d| Some(format!("{} not delivered: {}", d.target, d.error.as_deref()?)))
                .map(|text| Line { text, group: false }),
        )
        .chain(
            outcomes
                .iter()
                .filter(|o| o.ok())
                .map(|o| Line::group(group_line(inputs, o))),
        )
        .collect();
    match format {
        NotifyFormat::Json => json!({
            "type": if run_failed { "turso.token.rotation_failed" } else { "turso.token.rotated" },
            "timestamp": rfc3339(Some(SystemTime::now())),
            "data": {
                "organization": inputs.organization,
                "mode": inputs.mode.as_str(),
                "invalidated": outcomes.iter().any(|o| o.rotated_at.is_some()),
                "reason": inputs.reason,
                "actor": wf.actor,
                "run_url": wf.run_url,
                "groups": groups,
                "deliveries": deliveries.iter().map(|d| json!({"target": d.target, "error": d.error})).collect::<Vec<_>>(),
            },
        }),
        NotifyFormat::Slack => {
            let section =
                |text: &str| json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SLACK_MAX_TEXT)}});
            let mut blocks = vec![section(&format!("*{}*", slack(&headline)))];
            let mut context = Vec::new();
            if let Some(reason) = &inputs.reason {
                context.push(format!("Reason: {}", slack(reason)));
            }
            if let Some(url) = &wf.run_url {
                context.push(format!("<{}|Workflow run>", slack(url)));
            }
            let room = SLACK_MAX_BLOCKS - blocks.len() - usize::from(!context.is_empty());
            let shown = if lines.len() <= room { lines.len() } else { room - 1 };
            blocks.extend(lines[..shown].iter().map(|l| section(&slack(&l.text))));
            blocks.extend(left_out(&lines[shown..]).map(|more| section(&slack(&more))));
            if !context.is_empty() {
                blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": clip(&context.join(" · "), SLACK_MAX_TEXT)}]}));
            }
            json!({ "text": clip(&slack(&headline), SLACK_MAX_TEXT), "blocks": blocks })
        }
        NotifyFormat::Teams => {
            let card = |shown: usize| teams_card(inputs, wf, &headline, &lines[..shown], left_out(&lines[shown..]));
            let fits = |shown: usize| card(shown).to_string().len() < TEAMS_MAX_BYTES;
            if fits(lines.len()) {
                return card(lines.len());
            }
            // The most lines that fit with the count of the rest.
            let (mut fit, mut over) = (0, lines.len());
            while over - fit > 1 {
                let mid = (fit + over) / 2;
                if fits(mid) {
                    fit = mid;
                } else {
                    over = mid;
                }
            }
            card(fit)
        }
    }
}

/// Slack: blocks in one message, characters in one section's text.
const SLACK_MAX_BLOCKS: usize = 50;
const SLACK_MAX_TEXT: usize = 3000;
/// Teams: bytes in the whole message body (28 KB).
const TEAMS_MAX_BYTES: usize = 28_672;
/// Characters in one line of a Teams card: a long error cannot crowd out
/// the rest of the message.
const TEAMS_MAX_TEXT: usize = 3000;

/// One line of a chat message: a group's, or a delivery's.
struct Line {
    text: String,
    group: bool,
}

impl Line {
    fn group(text: String) -> Line {
        Line { text, group: true }
    }
}

/// The final line that counts what a message had no room for, if anything.
fn left_out(lines: &[Line]) -> Option<String> {
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
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// A Teams message: one Adaptive Card with the headline, `lines`, the
/// count of those left out, and the run's facts.
fn teams_card(inputs: &Inputs, wf: &Workflow, headline: &str, lines: &[Line], left_out: Option<String>) -> Value {
    let text = |t: &str| clip(&workflow::printable(t), TEAMS_MAX_TEXT);
    let mut body =
        vec![json!({"type": "TextBlock", "text": text(headline), "weight": "Bolder", "size": "Medium", "wrap": true})];
    body.extend(
        lines
            .iter()
            .map(|l| &l.text)
            .chain(&left_out)
            .map(|l| json!({"type": "TextBlock", "text": text(l), "wrap": true})),
    );
    let mut facts = vec![json!({"title": "Mode", "value": inputs.mode.as_str()})];
    if let Some(reason) = &inputs.reason {
        facts.push(json!({"title": "Reason", "value": text(reason)}));
    }
    if let Some(actor) = &wf.actor {
        facts.push(json!({"title": "Actor", "value": text(actor)}));
    }
    body.push(json!({"type": "FactSet", "facts": facts}));
    let actions: Vec<Value> = wf
        .run_url
        .iter()
        .map(|url| json!({"type": "Action.OpenUrl", "title": "Workflow run", "url": url}))
        .collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
                "actions": actions,
            },
        }],
    })
}

/// `rotated`, `failed` or `not due`.
fn group_result(o: &GroupOutcome) -> &'static str {
    match (o.not_due, o.ok()) {
        (true, _) => "not due",
        (false, true) => "rotated",
        (false, false) => "failed",
    }
}

/// One line for a message: the run at a glance.
fn headline(inputs: &Inputs, outcomes: &[GroupOutcome], run_failed: bool) -> String {
    let rotated = outcomes.iter().filter(|o| o.token.is_some()).count();
    let old = match inputs.mode {
        Mode::Invalidate => "old tokens invalidated",
        Mode::Roll => "old tokens valid until they expire",
    };
    match (run_failed, rotated) {
        (true, _) => format!("Turso token rotation in {} failed", inputs.organization),
        (false, 0) => format!("Turso tokens in {}: nothing was due", inputs.organization),
        (false, n) => format!("Turso tokens rotated in {}: {n} group(s), {old}", inputs.organization),
    }
}

/// One group in a message.
fn group_line(inputs: &Inputs, o: &GroupOutcome) -> String {
    let group = o.group();
    if o.not_due {
        return format!("{group}: not due ({})", ages(inputs, &o.last_written));
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
    match (o.ok(), o.error.as_ref().or(o.unverified.as_ref())) {
        (true, _) => format!("{group}: written to {}{expires}{window}", written.join(", ")),
        (false, error) => format!(
            "{group}: failed: {}{}",
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
            }
        ),
    }
}

/// Text for Slack's mrkdwn: shown as text, and `&`, `<`, `>` escaped as
/// Slack requires.
fn slack(text: &str) -> String {
    workflow::printable(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// After a failure: what was done, what was not, and what to do.
fn failure_message(outcome: &GroupOutcome, handed: Option<&Handed>) -> String {
    let group = outcome.group();
    let Some(_) = &outcome.token else {
        let error = outcome.error.as_deref().unwrap_or_default();
        return match outcome.rotated_at {
            None if outcome.untouched => format!(
                "Group `{group}`: {error}. Tokens invalidated: no; new token created: no; secret written: no. Nothing changed for this group: re-run the workflow."
            ),
            None => format!(
                "Group `{group}`: {error}. Tokens invalidated: unknown (the rotate call failed); new token created: no; secret written: no. Re-run the workflow: it is safe."
            ),
            Some(_) => format!(
                "Group `{group}`: {error}. Tokens invalidated: yes; new token created: no; secret written: no. Deployments using the old token fail until a new one is written: re-run the workflow, it is safe."
            ),
        };
    };
    let mut failed: Vec<String> = outcome
        .error
        .iter()
        .chain(&outcome.unverified)
        .chain(&outcome.invalidation_lost)
        .cloned()
        .collect();
    failed.extend(outcome.writes.iter().filter_map(|(_, e)| e.clone()));
    let written: Vec<&str> = outcome
        .writes
        .iter()
        .filter(|(_, e)| e.is_none())
        .map(|(t, _)| t.secret.as_str())
        .collect();
    let written = match (written.len(), outcome.plan.targets.len()) {
        (0, _) => "no".to_owned(),
        (n, all) if n == all => "yes".to_owned(),
        _ => format!("only {}", written.join(", ")),
    };
    let (invalidated, rerun) = match (outcome.rotated_at, &outcome.invalidation_lost) {
        (Some(_), Some(_)) => (
            "unknown (invalidation outcome unknown: the rotate call's answer was lost, so it may have acted; the new token was written as if it had)",
            "it rotates again (and that token dies with it)",
        ),
        (Some(_), None) => ("yes", "it rotates again (and that token dies with it)"),
        (None, _) => (
            "no (mode roll: the old tokens stay valid until they expire)",
            "it creates another token",
        ),
    };
    let verified = match (&outcome.unverified, written.as_str()) {
        (None, _) => "",
        (Some(_), "no") => " The token failed verification and was not written.",
        (Some(_), _) => " The token failed verification and was written all the same: after the invalidation the secret held a dead token, so the new one can only be better; check `database-url`.",
    };
    let handed = match handed {
        None => String::new(),
        Some(Handed::Output(name)) => format!(
            " The new token is in this step's masked `{name}` output: a following step with `if: failure()` can store it."
        ),
        Some(Handed::File(path)) => format!(" The new token was saved to the token file {} (mode 0600).", path.display()),
        Some(Handed::Lost(e)) => format!(" Saving the new token to a file failed too ({e}): it is lost, re-run the workflow."),
    };
    format!(
        "Group `{group}`: {}. Tokens invalidated: {invalidated}; new token created: yes; secret written: {written}.{verified}{handed} Re-running the workflow is safe: {rerun}.",
        failed.join("; "),
    )
}

/// The job summary: a row per group and target, never a token.
fn summary(inputs: &Inputs, outcomes: &[GroupOutcome], deliveries: &[Delivery]) -> String {
    let mut text = String::from("### Turso token rotation\n\n");
    if let Some(reason) = &inputs.reason {
        text.push_str(&format!("Reason: {}\n\n", cell(reason)));
    }
    if outcomes.iter().any(|o| o.token.is_some()) {
        text.push_str(match inputs.mode {
            Mode::Invalidate if invalidated(outcomes) == "unknown" => {
                "Mode `invalidate`: **invalidation outcome unknown**: a rotate call's answer was lost, so the old tokens may or may not still work; the new token was written as if they were dead.\n\n"
            }
            Mode::Invalidate => "Mode `invalidate`: old tokens invalidated.\n\n",
            Mode::Roll => "Mode `roll`: old tokens not invalidated: they stay valid until they expire.\n\n",
        });
    }
    text.push_str("| Organization | Group | Secret | Result | Expires | Rotated at | Without a valid secret |\n|---|---|---|---|---|---|---|\n");
    for o in outcomes {
        let expires = match (&o.token, o.expiry) {
            (None, _) => "-".to_owned(),
            (Some(_), Expiry::Never) => "never".to_owned(),
            (Some(_), Expiry::Unknown) => "unknown".to_owned(),
            (Some(_), Expiry::At(at)) => rfc3339(Some(at)).unwrap_or_default(),
        };
        let rotated = rfc3339(o.rotated_at.or(o.created_at)).unwrap_or_else(|| "-".into());
        let window = match (o.window, inputs.mode) {
            (_, Mode::Roll) if o.token.is_some() => "none".to_owned(),
            (Some(w), _) => format!("{:.1}s", w.as_secs_f64()),
            (None, _) => "-".to_owned(),
        };
        let rows: Vec<(String, String)> = if o.not_due {
            o.last_written
                .iter()
                .map(|(t, at)| (t.to_string(), format!("not due: {}", age(inputs, &t.secret, *at))))
                .collect()
        } else if o.writes.is_empty() {
            let error = o.error.as_deref().or(o.unverified.as_deref()).unwrap_or("");
            vec![("-".into(), format!("failed: {error}"))]
        } else {
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
        };
        for (target, result) in rows {
            text.push_str(&format!(
                "| {} | `{}` | {} | {} | {expires} | {rotated} | {window} |\n",
                inputs.organization,
                o.group(),
                cell(&target),
                cell(&result)
            ));
        }
    }
    text.push('\n');
    if !deliveries.is_empty() {
        text.push_str("| Consumer | Result |\n|---|---|\n");
        for d in deliveries {
            let result = d
                .error
                .as_ref()
                .map_or("delivered".to_owned(), |e| format!("failed: {e}"));
            text.push_str(&format!("| {} | {} |\n", cell(&d.target), cell(&result)));
        }
        text.push('\n');
    }
    text
}

/// Text fit for one Markdown table cell.
fn cell(text: &str) -> String {
    text.replace(['\r', '\n'], " ").replace('|', "\\|")
}

/// One JSON line per group for the audit trail, never a token.
fn audit_lines(inputs: &Inputs, wf: &Workflow, outcomes: &[GroupOutcome]) -> String {
    let mut lines = String::new();
    for o in outcomes {
        let line = json!({
            "time": rfc3339(Some(SystemTime::now())),
            "actor": wf.actor,
            "run_url": wf.run_url,
            "organization": inputs.organization,
            "group": o.group(),
            "reason": inputs.reason,
            "mode": inputs.mode.as_str(),
            "invalidated": o.invalidated(),
            "rotated_at": rfc3339(o.rotated_at.or(o.created_at)),
            "expires_at": rfc3339(o.expiry.at()),
            "targets": o.writes.iter().map(|(t, e)| json!({"target": t.spec(), "written": e.is_none()})).collect::<Vec<_>>(),
            "result": group_result(o),
            "error": o.error.as_ref().or(o.unverified.as_ref()),
        });
        lines.push_str(&crate::secret::redact(&line.to_string()));
        lines.push('\n');
    }
    lines
}

/// RFC 3339 in UTC, to the second; `None` for a time RFC 3339 cannot
/// write (before 1970 or after 9999), so that formatting never panics.
pub fn rfc3339(time: Option<SystemTime>) -> Option<String> {
    let time = time?;
    let secs = time.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
    (secs <= crate::apis::turso::MAX_EXP).then(|| humantime::format_rfc3339_seconds(time).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::{Repo, Scope};

    fn target(secret: &str) -> Target {
        Target {
            scope: Scope::Repository(Repo {
                owner: "acme".into(),
                name: "app".into(),
            }),
            secret: secret.into(),
        }
    }

    fn plan(group: &str, targets: &[&str]) -> GroupPlan {
        GroupPlan {
            group: group.into(),
            targets: targets.iter().map(|t| target(t)).collect(),
            token_file: PathBuf::from("t.token"),
        }
    }

    #[test]
    fn summary_table_has_a_row_per_target_and_escapes_cells() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
        let token = Secret::new("eyJhbGciOiJIUzI1NiJ9.eyJhIjoicnciLCJleHAiOjE3NjUyOTYwMDB9.c2ln");
        let outcomes = [
            GroupOutcome {
                rotated_at: Some(at),
                expiry: Expiry::of(&token),
                token: Some(token),
                writes: vec![(target("A"), None), (target("B"), Some("HTTP 500 | bad\nthing".into()))],
                ..GroupOutcome::new(&plan("prod", &["A", "B"]))
            },
            GroupOutcome {
                error: Some("HTTP 404".into()),
                ..GroupOutcome::new(&plan("dev", &["C"]))
            },
        ];
        let inputs_reason = "leak | in a log";
        let text = summary_with("acme", Some(inputs_reason), &outcomes);
        let expected = "### Turso token rotation\n\n\
            Reason: leak \\| in a log\n\n\
            Mode `invalidate`: old tokens invalidated.\n\n\
            | Organization | Group | Secret | Result | Expires | Rotated at | Without a valid secret |\n\
            |---|---|---|---|---|---|---|\n\
            | acme | `prod` | A in repository acme/app | written | 2025-12-09T16:00:00Z | 2025-11-24T16:00:00Z | - |\n\
            | acme | `prod` | B in repository acme/app | failed: HTTP 500 \\| bad thing | 2025-12-09T16:00:00Z | 2025-11-24T16:00:00Z | - |\n\
            | acme | `dev` | - | failed: HTTP 404 | - | - | - |\n\n";
        assert_eq!(text, expected);
        assert!(!text.contains("eyJ"), "never the token");
    }

    fn summary_with(organization: &str, reason: Option<&str>, outcomes: &[GroupOutcome]) -> String {
        summary(&inputs_with(organization, reason), outcomes, &[])
    }

    fn inputs_with(organization: &str, reason: Option<&str>) -> Inputs {
        let mut vars = vec![
            ("INPUT_ORGANIZATION", organization.to_owned()),
            ("INPUT_GROUP", "prod".to_owned()),
            ("INPUT_API-TOKEN", "t0ken-x".to_owned()),
            ("INPUT_DRY-RUN", "true".to_owned()),
        ];
        if let Some(reason) = reason {
            vars.push(("INPUT_REASON", reason.to_owned()));
        }
        let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone());
        let crate::inputs::Command::Run(inputs) = crate::inputs::parse(&[], &lookup).unwrap() else {
            panic!("a run")
        };
        *inputs
    }

    #[test]
    fn a_long_error_is_cut_to_one_slack_section_and_shown_as_text() {
        let outcome = GroupOutcome {
            error: Some(format!("\u{202e}{}", "x".repeat(5000))),
            ..GroupOutcome::new(&plan("prod", &["A"]))
        };
        let inputs = inputs_with("acme", Some("weekly"));
        let message = notification(&inputs, &Workflow::default(), &[outcome], &[], NotifyFormat::Slack);
        let texts: Vec<&str> = message["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|b| b["text"]["text"].as_str())
            .collect();
        let line = texts
            .iter()
            .find(|t| t.starts_with("prod: failed"))
            .expect("the group's line");
        assert_eq!(line.chars().count(), SLACK_MAX_TEXT, "{line}");
        assert!(line.ends_with('…') && line.contains("\\u{202e}") && !line.contains('\u{202e}'));
    }

    #[test]
    fn what_does_not_fit_is_counted() {
        let line = |group| Line {
            text: String::new(),
            group,
        };
        assert_eq!(left_out(&[]), None);
        assert_eq!(left_out(&[line(true)]).unwrap(), "and 1 more group: see the run");
        assert_eq!(
            left_out(&[line(true), line(true), line(false)]).unwrap(),
            "and 2 more groups and 1 more delivery: see the run"
        );
    }

    #[test]
    fn a_token_that_failed_verification_is_said_to_be_written_anyway() {
        let outcome = GroupOutcome {
            rotated_at: Some(SystemTime::now()),
            token: Some(Secret::new("tok-verify-1")),
            unverified: Some("verifying: HTTP 401".into()),
            writes: vec![(target("A"), None)],
            ..GroupOutcome::new(&plan("prod", &["A"]))
        };
        let message = failure_message(&outcome, None);
        assert!(message.contains("secret written: yes"), "{message}");
        assert!(message.contains("failed verification and was written"), "{message}");
        assert!(!outcome.ok());
    }
}
