//! The step outputs (SPEC's Outputs table), and the new token handed on as
//! soon as it exists: the masked output, else the token file.

use std::time::SystemTime;

use serde_json::{json, Map, Value};

use crate::files;
use crate::inputs::{GroupPlan, Inputs, Target};
use crate::secret::Secret;
use crate::workflow::{self, Workflow};

use super::outcome::{invalidated, Delivery, GroupOutcome, Handed};
use super::text::rfc3339;

/// Writes the step outputs of a run that rotated (or tried to), tokens
/// among them; a failure to write them is a warning.
pub(super) fn write(inputs: &Inputs, wf: &Workflow, outcomes: &[GroupOutcome], deliveries: &[Delivery]) {
    let tokens: Vec<(String, &Secret)> = outcomes
        .iter()
        .filter_map(|o| Some((token_output(inputs, o.group()), o.token.as_ref()?)))
        .collect();
    let expires_at = match (inputs.per_group_outputs, outcomes.first()) {
        (false, Some(o)) => o.expiry.at(),
        _ => None,
    };
    let rotated_at = outcomes.iter().filter_map(GroupOutcome::made_at).min();
    let mut due = outcomes.iter().filter(|o| !o.not_due).peekable();
    let updated = due.peek().is_some() && due.all(GroupOutcome::all_written);
    let mut outputs = outputs(
        expires_at,
        rotated_at,
        updated,
        results(outcomes, deliveries),
        outcomes.iter().any(|o| o.token.is_some()),
        invalidated(outcomes),
    );
    // `previous-token` names one group or database: its proof is the run's.
    let proven = outcomes
        .iter()
        .map(GroupOutcome::revocation_proven)
        .find(|p| !p.is_empty());
    outputs.insert("revocation-proven".into(), json!(proven.unwrap_or_default()));
    if let Err(e) = wf.outputs(outputs, &tokens, inputs.show_token) {
        wf.annotate("warning", &format!("{e:#}"));
    }
}

/// The step outputs other than tokens.
pub(super) fn outputs(
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
    outputs.insert("revocation-proven".into(), json!(""));
    outputs
}

/// The `results` output: one object per group and target, then one per
/// delivery; never a token.
fn results(outcomes: &[GroupOutcome], deliveries: &[Delivery]) -> Vec<Value> {
    let targets = outcomes.iter().flat_map(|o| {
        o.plan.targets.iter().map(move |t| {
            let error = o.target_error(t);
            // A secret that holds a token which failed verification is written, with an error.
            let error = error.or_else(|| o.unverified.clone());
            let mut result = result_json(o.group(), t, o.wrote(t), error);
            if o.plan.database().is_some() {
                for (key, value) in o.plan.name_fields() {
                    result[key] = value;
                }
            }
            result
        })
    });
    let deliveries = deliveries
        .iter()
        .map(|d| json!({ "group": null, "target": d.target, "written": d.error.is_none(), "error": d.error }));
    targets.chain(deliveries).collect()
}

/// One target's object in `results`.
pub(super) fn result_json(group: &str, target: &Target, written: bool, error: Option<String>) -> Value {
    json!({ "group": group, "target": target.spec(), "written": written, "error": error })
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

/// At the end of the run, each group's handed-on token: one that did not
/// reach every secret stays where it was handed on (the step output, or the
/// token file); one that did leaves no file, and is `None`.
pub(super) fn settle(wf: &Workflow, outcomes: &[GroupOutcome]) -> Vec<Option<Handed>> {
    outcomes.iter().map(|o| settle_one(wf, o)).collect()
}

fn settle_one(wf: &Workflow, o: &GroupOutcome) -> Option<Handed> {
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
}

/// The output that carries a group's token: `token`, or `token-<group>` with `groups`.
fn token_output(inputs: &Inputs, group: &str) -> String {
    if inputs.per_group_outputs {
        format!("token-{group}")
    } else {
        "token".to_owned()
    }
}
