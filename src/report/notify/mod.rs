//! The message to `notify-url`: one file per format (Slack, Teams, the
//! generic signed-webhook JSON), each rendering the same `Content`
//! through `Format`; `NotifyFormat` picks one. The signing lives with the
//! sending, in `run/tell.rs`.

mod content;
mod json;
mod slack;
mod teams;

use std::time::SystemTime;

use serde_json::Value;

use crate::inputs::{Inputs, NotifyFormat};
use crate::workflow::Workflow;

use super::compliance::Compliance;
use super::outcome::{Delivery, GroupOutcome};
use content::{Content, Format};

pub(super) use content::Content as MessageContent;

#[cfg(test)]
pub(super) use content::{left_out, Line};
#[cfg(test)]
pub(super) use slack::SLACK_MAX_TEXT;

/// The message to `notify-url`, in its format; never a token.
pub fn notification(
    inputs: &Inputs,
    wf: &Workflow,
    outcomes: &[GroupOutcome],
    deliveries: &[Delivery],
    format: NotifyFormat,
) -> Value {
    message(inputs, wf, outcomes, deliveries, format, SystemTime::now())
}

/// The message as sent at `now`.
pub(super) fn message(
    inputs: &Inputs,
    wf: &Workflow,
    outcomes: &[GroupOutcome],
    deliveries: &[Delivery],
    format: NotifyFormat,
    now: SystemTime,
) -> Value {
    let content = Content::new(inputs, wf, outcomes, deliveries, now);
    renderer(format).message(&content)
}

/// The message to `notify-url` about a report run.
pub fn report_notification(
    inputs: &Inputs,
    wf: &Workflow,
    report: &Compliance,
    deliveries: &[Delivery],
    format: NotifyFormat,
) -> Value {
    let content = Content::of_report(inputs, wf, report, deliveries, SystemTime::now());
    renderer(format).message(&content)
}

/// The rendering of `format`.
fn renderer(format: NotifyFormat) -> &'static dyn Format {
    match format {
        NotifyFormat::Slack => &slack::Slack,
        NotifyFormat::Teams => &teams::Teams,
        NotifyFormat::Json => &json::Json,
    }
}
