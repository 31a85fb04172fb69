//! The `client_payload` of a repository dispatch.

use serde_json::{json, Value};

use crate::inputs::Inputs;
use crate::workflow::Workflow;

use super::outcome::{invalidated_json, written, GroupOutcome};
use super::text::rfc3339;

/// `client_payload` of a repository dispatch: at most 10 top-level keys
/// (GitHub refuses more), what a deploy workflow needs, never a token.
pub fn dispatch_payload(inputs: &Inputs, wf: &Workflow, outcomes: &[GroupOutcome]) -> Value {
    let written: Vec<&GroupOutcome> = written(outcomes).collect();
    json!({
        "organization": inputs.organization,
        "groups": written.iter().map(|o| o.group()).collect::<Vec<_>>(),
        "mode": inputs.mode.as_str(),
        "invalidated": invalidated_json(written.iter().copied()),
        "rotated-at": rfc3339(written.iter().filter_map(|o| o.made_at()).min()).unwrap_or_default(),
        "expires-at": rfc3339(written.iter().filter_map(|o| o.expiry.at()).min()).unwrap_or_default(),
        "secrets": written
            .iter()
            .flat_map(|o| o.writes.iter().filter(|(_, e)| e.is_none()).map(|(t, _)| t.spec()))
            .collect::<Vec<_>>(),
        "run-url": wf.run_url,
    })
}
