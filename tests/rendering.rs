//! What a terminal and a chat channel see (SPEC, "Secrets never leak,
//! commands are never injected"): server text is shown as text, control
//! characters and bidirectional overrides as escapes, in every log line,
//! annotation, error and the summary; and messages to Slack and Teams stay
//! inside those services' limits, failed groups first, the rest counted.

mod common;

use serde_json::{json, Value};

use common::webhook::Webhook;
use common::world::World;
use common::{Fault, FaultAction, RunResult};

/// An error text that would clear the screen, retitle the terminal window,
/// start a C1 control sequence and reverse the rest of the line.
const HOSTILE: &str = "group gone\x1b[2J\x1b]0;pwned\x07 \u{9b}31m red \u{202e}exe.txt";
/// The raw characters of [`HOSTILE`] that must never be printed.
const RAW: [char; 4] = ['\x1b', '\x07', '\u{9b}', '\u{202e}'];
/// How [`HOSTILE`]'s characters are printed instead.
const ESCAPED: [&str; 4] = ["\\x1b[2J", "\\x1b]0;pwned\\x07", "\\u{9b}31m", "\\u{202e}exe.txt"];

/// Slack's limits on one message: blocks, and characters of a section's text.
const SLACK_MAX_BLOCKS: usize = 50;
const SLACK_MAX_SECTION: usize = 3000;
/// Teams: the whole message body, in bytes.
const TEAMS_MAX_BYTES: usize = 28_672;

/// Panics if a raw [`RAW`] character reaches stdout, stderr or the summary.
fn assert_shown_as_text(result: &RunResult, case: &str) {
    for (place, text) in [
        ("stdout", &result.stdout),
        ("stderr", &result.stderr),
        ("the summary", &result.summary),
    ] {
        if let Some(c) = text.chars().find(|c| RAW.contains(c)) {
            panic!("{case}: {c:?} reaches {place} raw:\n{text:?}");
        }
    }
}

/// Panics unless every escape of [`HOSTILE`] shows in `text`.
fn assert_escapes(text: &str, place: &str) {
    for escape in ESCAPED {
        assert!(text.contains(escape), "{place} lacks {escape}:\n{text}");
    }
}

#[test]
fn server_text_with_terminal_controls_is_printed_as_escapes() {
    let world = World::new();
    let body = json!({ "error": HOSTILE }).to_string();
    // A 503 first: the retry line on stderr may quote it.
    world
        .turso
        .fault(Fault::new("GET", "/groups/gone", FaultAction::status(503, &body)));
    world
        .turso
        .fault(Fault::new("GET", "/groups/gone", FaultAction::status(404, &body)).always());
    world.github.fault(Fault::new(
        "GET",
        "/public-key",
        FaultAction::status(503, &json!({ "message": HOSTILE }).to_string()),
    ));
    let runner = world.groups_runner("prod=PROD_TOKEN\ngone=GONE_TOKEN");

    let result = runner.run();
    result.assert_exit(1);
    assert_shown_as_text(&result, "under Actions");
    let errors: Vec<&str> = result.stdout.lines().filter(|l| l.starts_with("::error::")).collect();
    assert_escapes(&errors.join("\n"), "the ::error:: annotation");
    assert_escapes(&result.summary, "the summary");
    assert!(
        result.summary.lines().filter(|l| l.starts_with("| acme |")).count() == 2,
        "the summary's table still has its rows:\n{}",
        result.summary
    );

    let result = runner.outside_actions().run();
    result.assert_exit(1);
    assert_shown_as_text(&result, "in a terminal");
    assert_escapes(&result.stderr, "stderr");
}

/// A run of 80 groups, 30 of them failing with a long error, that tells
/// `notify-format` about it; returns the message received.
fn many_groups(format: &str) -> Value {
    let world = World::new();
    let mut groups = Vec::new();
    for n in 0..80 {
        // Failing and succeeding groups interleaved, so order is the action's.
        let group = if n % 8 < 3 {
            format!("bad-{n:02}")
        } else {
            format!("ok-{n:02}")
        };
        if group.starts_with("ok-") {
            world.turso.add_group(&group);
        }
        groups.push(format!("{group}={}", group.replace('-', "_").to_uppercase()));
    }
    // Three bytes a character in UTF-8: Teams' limit is in bytes.
    let long = json!({ "error": "群組不存在".repeat(60) }).to_string();
    world
        .turso
        .fault(Fault::new("GET", "/groups/bad-", FaultAction::status(404, &long)).always());
    let hook = Webhook::start("/hooks/T000/B000/XXXXsecretXXXX").with_journal(&world.journal);
    let result = world
        .groups_runner(&groups.join("\n"))
        .input("notify-url", &hook.notify_url())
        .input("notify-format", format)
        .run();
    result.assert_exit(1);
    let messages = hook.messages();
    assert_eq!(messages.len(), 1, "one message");
    assert_eq!(
        result.summary.matches("| acme |").count(),
        80,
        "the summary has every group"
    );
    if format == "teams" {
        let bytes = messages[0].body.len();
        assert!(bytes < TEAMS_MAX_BYTES, "a Teams message of {bytes} bytes");
    }
    messages[0].json()
}

/// The groups named, in order, by lines that start with a group name.
fn groups_named(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l.split_once(": ").map(|(g, _)| g.to_owned()))
        .filter(|g| g.starts_with("bad-") || g.starts_with("ok-"))
        .collect()
}

/// Failed groups first; every group named once at most; the final line
/// counts exactly the ones left out.
fn assert_failed_first_and_counted(lines: &[String], format: &str) {
    let named = groups_named(lines);
    let failed = named.iter().take_while(|g| g.starts_with("bad-")).count();
    assert_eq!(failed, 30.min(named.len()), "{format}: failed groups first: {named:?}");
    assert!(
        named[failed..].iter().all(|g| g.starts_with("ok-")),
        "{format}: {named:?}"
    );
    let mut unique = named.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), named.len(), "{format}: a group named twice: {named:?}");
    let more = lines
        .iter()
        .find_map(|l| l.strip_prefix("and ")?.split_once(" more groups: see the run"))
        .unwrap_or_else(|| panic!("{format}: no \"and N more groups\" line: {lines:#?}"));
    assert_eq!(
        more.0.parse::<usize>().ok(),
        Some(80 - named.len()),
        "{format}: {lines:#?}"
    );
    assert!(named.len() < 80, "{format}: the test means to overflow");
}

#[test]
fn a_slack_message_of_many_groups_stays_within_slacks_limits() {
    let body = many_groups("slack");
    let blocks = body["blocks"].as_array().expect("blocks");
    assert!(blocks.len() <= SLACK_MAX_BLOCKS, "{} blocks", blocks.len());
    let sections: Vec<String> = blocks
        .iter()
        .filter(|b| b["type"] == "section")
        .map(|b| b["text"]["text"].as_str().expect("a section's text").to_owned())
        .collect();
    for text in &sections {
        let chars = text.chars().count();
        assert!(chars <= SLACK_MAX_SECTION, "a section of {chars} characters");
    }
    assert_failed_first_and_counted(&sections, "slack");
}

#[test]
fn a_teams_message_of_many_groups_stays_under_28_kb() {
    let body = many_groups("teams");
    assert_eq!(body["type"], "message");
    let card = &body["attachments"][0]["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    let elements = card["body"].as_array().expect("the card's body");
    for element in elements {
        match element["type"].as_str() {
            Some("TextBlock") => assert!(element["text"].is_string(), "{element}"),
            Some("FactSet") => assert!(element["facts"].is_array(), "{element}"),
            other => panic!("an element of type {other:?}: {element}"),
        }
    }
    let texts: Vec<String> = elements
        .iter()
        .filter_map(|e| e["text"].as_str().map(str::to_owned))
        .collect();
    assert_failed_first_and_counted(&texts, "teams");
}
