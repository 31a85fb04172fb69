//! A message with one Adaptive Card, for Teams Workflows: as many lines as
//! fit in Teams' limit, and the count of the rest.

use serde_json::{json, Value};

use crate::workflow;

use super::content::{clip, left_out, Content, Format, Line};

/// Teams: bytes in the whole message body (28 KB).
const TEAMS_MAX_BYTES: usize = 28_672;
/// Characters in one line of a Teams card: a long error cannot crowd out
/// the rest of the message.
const TEAMS_MAX_TEXT: usize = 3000;

pub(super) struct Teams;

impl Format for Teams {
    fn message(&self, content: &Content) -> Value {
        let lines = &content.lines;
        let card = |shown: usize| card(content, &lines[..shown], left_out(&lines[shown..]));
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

/// One Adaptive Card with the headline, `lines`, the count of those left
/// out, and the run's facts.
fn card(content: &Content, lines: &[Line], left_out: Option<String>) -> Value {
    let (inputs, wf) = (content.inputs, content.wf);
    let text = |t: &str| clip(&workflow::printable(t), TEAMS_MAX_TEXT);
    let mut body = vec![
        json!({"type": "TextBlock", "text": text(&content.headline), "weight": "Bolder", "size": "Medium", "wrap": true}),
    ];
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
