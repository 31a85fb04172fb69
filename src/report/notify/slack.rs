//! Slack's incoming-webhook JSON (Mattermost, Discord's `/slack` take it
//! too): the headline, a section per line, the reason and the run's link.

use serde_json::{json, Value};

use crate::workflow;

use super::content::{clip, left_out, Content, Format};

/// Slack: blocks in one message, characters in one section's text.
const SLACK_MAX_BLOCKS: usize = 50;
pub(in crate::report) const SLACK_MAX_TEXT: usize = 3000;

pub(super) struct Slack;

impl Format for Slack {
    fn message(&self, content: &Content) -> Value {
        let (inputs, wf, lines) = (content.inputs, content.wf, &content.lines);
        let section =
            |text: &str| json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SLACK_MAX_TEXT)}});
        let mut blocks = vec![section(&format!("*{}*", slack(&content.headline)))];
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
        json!({ "text": clip(&slack(&content.headline), SLACK_MAX_TEXT), "blocks": blocks })
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
