//! The renderings of fixed outcomes: unit tests, and snapshots of the
//! summary and of each notification format (`snapshots/`).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::apis::turso::Expiry;
use crate::apis::Age;
use crate::inputs::{GroupPlan, Inputs, NotifyFormat, Repo, Scope, Subject, Target};
use crate::secret::Secret;
use crate::workflow::Workflow;

use super::notify::{left_out, message, Line, SLACK_MAX_TEXT};
use super::outcome::{Delivery, DryRunGroup, GroupOutcome, Handed};
use super::state::failure_message;
use super::summary::summary;
use super::{dry_run, notification};

/// A fixed moment, 2025-11-24T16:00:00Z: no snapshot depends on the clock.
fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000 + secs)
}

/// A token whose `exp` is 2025-12-09T16:00:00Z.
fn token() -> Secret {
    Secret::new("eyJhbGciOiJIUzI1NiJ9.eyJhIjoicnciLCJleHAiOjE3NjUyOTYwMDB9.c2ln")
}

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
        subject: Subject::Group,
        targets: targets.iter().map(|t| target(t)).collect(),
        token_file: PathBuf::from("t.token"),
    }
}

/// Inputs of a run in `organization`, with more variables (first: they
/// take the place of the usual ones; empty is unset).
fn inputs(organization: &str, more: &[(&str, &str)]) -> Inputs {
    let mut vars = more.to_vec();
    vars.extend([
        ("INPUT_ORGANIZATION", organization),
        ("INPUT_GROUP", "prod"),
        ("INPUT_API-TOKEN", "t0ken-x"),
        ("INPUT_DRY-RUN", "true"),
    ]);
    let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned());
    let crate::inputs::Command::Run(inputs) = crate::inputs::parse(&[], &lookup).unwrap() else {
        panic!("a run")
    };
    *inputs
}

fn inputs_with(organization: &str, reason: Option<&str>) -> Inputs {
    match reason {
        Some(reason) => inputs(organization, &[("INPUT_REASON", reason)]),
        None => inputs(organization, &[]),
    }
}

/// A workflow run by `octocat`, with the run's link.
fn workflow() -> Workflow {
    let vars = [
        ("GITHUB_ACTOR", "octocat"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_REPOSITORY", "acme/app"),
        ("GITHUB_RUN_ID", "42"),
    ];
    Workflow::from_env(&|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
}

/// A group rotated and written to every target.
fn rotated(group: &str, targets: &[&str]) -> GroupOutcome {
    let plan = plan(group, targets);
    GroupOutcome {
        rotated_at: Some(at(0)),
        created_at: Some(at(1)),
        expiry: Expiry::of(&token()),
        token: Some(token()),
        writes: plan.targets.iter().map(|t| (t.clone(), None)).collect(),
        window: Some(Duration::from_millis(1_840)),
        ..GroupOutcome::new(&plan)
    }
}

/// A group rotated whose second target could not be written.
fn half_written() -> GroupOutcome {
    GroupOutcome {
        writes: vec![
            (target("A"), None),
            (target("B"), Some("HTTP 403: Resource not accessible".into())),
        ],
        handed: Some(Handed::Output("token".into())),
        ..rotated("prod", &["A", "B"])
    }
}

fn delivered(target: &str) -> Delivery {
    Delivery {
        target: target.into(),
        error: None,
    }
}

fn pretty(message: &Value) -> String {
    serde_json::to_string_pretty(message).unwrap()
}

#[test]
fn summary_table_has_a_row_per_target_and_escapes_cells() {
    let outcomes = [
        GroupOutcome {
            rotated_at: Some(at(0)),
            expiry: Expiry::of(&token()),
            token: Some(token()),
            writes: vec![(target("A"), None), (target("B"), Some("HTTP 500 | bad\nthing".into()))],
            ..GroupOutcome::new(&plan("prod", &["A", "B"]))
        },
        GroupOutcome {
            error: Some("HTTP 404".into()),
            ..GroupOutcome::new(&plan("dev", &["C"]))
        },
    ];
    let text = summary(&inputs_with("acme", Some("leak | in a log")), at(0), &outcomes, &[]);
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

#[test]
fn summary_of_a_rotation() {
    let inputs = inputs_with("acme", Some("weekly"));
    let outcomes = [rotated("prod", &["A", "B"])];
    let deliveries = [delivered("dispatch:acme/web"), delivered("notify:hooks.slack.com")];
    insta::assert_snapshot!(summary(&inputs, at(5), &outcomes, &deliveries));
}

#[test]
fn summary_and_state_of_a_failure_with_the_token_handed_on() {
    let inputs = inputs_with("acme", None);
    let outcome = half_written();
    let state = failure_message(&outcome, outcome.handed.as_ref());
    let text = summary(&inputs, at(5), &[outcome], &[]);
    insta::assert_snapshot!(format!("{text}---\n{state}\n"));
}

#[test]
fn summary_of_a_roll() {
    let inputs = inputs("acme", &[("INPUT_MODE", "roll"), ("INPUT_EXPIRATION", "30d")]);
    let outcomes = [GroupOutcome {
        rotated_at: None,
        window: None,
        ..rotated("prod", &["A"])
    }];
    insta::assert_snapshot!(summary(&inputs, at(5), &outcomes, &[]));
}

#[test]
fn summary_of_a_run_not_due() {
    let inputs = inputs("acme", &[("INPUT_ROTATE-AFTER", "7d")]);
    let last_written = vec![(target("A"), Age::WrittenAt(at(0))), (target("D"), Age::Untracked)];
    let outcomes = [GroupOutcome::not_due(
        &plan("prod", &["A", "B", "C", "D"]),
        last_written,
    )];
    insta::assert_snapshot!(summary(&inputs, at(3 * 86_400 + 7_200), &outcomes, &[]));
}

#[test]
fn summary_of_a_dry_run() {
    let inputs = inputs(
        "acme",
        &[
            ("INPUT_GROUP", ""),
            ("INPUT_GROUPS", "prod=A\nstage=C\nqa=D\ndev=B"),
            ("INPUT_ROTATE-AFTER", "7d"),
            ("GITHUB_REPOSITORY", "acme/app"),
        ],
    );
    let groups = [
        DryRunGroup {
            failed: None,
            last_written: Some(vec![(target("A"), Age::WrittenAt(at(0)))]),
            due: false,
        },
        DryRunGroup {
            failed: None,
            last_written: Some(vec![(target("C"), Age::Ahead(at(2 * 86_400)))]),
            due: true,
        },
        DryRunGroup {
            failed: None,
            last_written: Some(vec![(target("D"), Age::Missing)]),
            due: true,
        },
        DryRunGroup {
            failed: Some("HTTP 404: group not found".into()),
            last_written: None,
            due: true,
        },
    ];
    let results = dry_run::results(&inputs, at(86_400), &groups);
    let proof = dry_run::proof(true, &["cloudflare-api-token"]);
    insta::assert_snapshot!(dry_run::summary(&inputs, &results, &proof));
}

/// The message of each format, for a success and for a failure.
fn messages(format: NotifyFormat) -> (String, String) {
    let inputs = inputs_with("acme", Some("weekly"));
    let wf = workflow();
    let success = [rotated("prod", &["A"]), rotated("dev", &["B"])];
    let deliveries = [delivered("dispatch:acme/web")];
    let failure = [
        rotated("dev", &["B"]),
        half_written(),
        GroupOutcome::untouched(&plan("stage", &["C"]), "HTTP 404: group not found".into()),
    ];
    let undelivered = [Delivery {
        target: "dispatch:acme/web".into(),
        error: Some("HTTP 422".into()),
    }];
    (
        pretty(&message(&inputs, &wf, &success, &deliveries, format, at(5))),
        pretty(&message(&inputs, &wf, &failure, &undelivered, format, at(5))),
    )
}

#[test]
fn slack_messages() {
    let (success, failure) = messages(NotifyFormat::Slack);
    insta::assert_snapshot!("slack_success", success);
    insta::assert_snapshot!("slack_failure", failure);
}

#[test]
fn teams_messages() {
    let (success, failure) = messages(NotifyFormat::Teams);
    insta::assert_snapshot!("teams_success", success);
    insta::assert_snapshot!("teams_failure", failure);
}

#[test]
fn json_messages() {
    let (success, failure) = messages(NotifyFormat::Json);
    insta::assert_snapshot!("json_success", success);
    insta::assert_snapshot!("json_failure", failure);
}

/// Subject and body of an email, as one text.
fn email_text((subject, body): (String, String)) -> String {
    format!("Subject: {subject}\n\n{body}")
}

#[test]
fn email_of_a_rotation_and_of_a_failure() {
    let wf = workflow();
    let one = inputs_with("acme", Some("weekly"));
    let success = [rotated("prod", &["A"])];
    let deliveries = [delivered("notify:hooks.slack.com")];
    insta::assert_snapshot!(
        "email_success",
        email_text(super::email::email_at(&one, &wf, &success, &deliveries, at(5)))
    );
    let several = inputs(
        "acme",
        &[
            ("INPUT_GROUP", ""),
            ("INPUT_GROUPS", "prod=A\ndev=B\nstage=C"),
            ("INPUT_REPOSITORY", "acme/app"),
        ],
    );
    let failure = [
        rotated("dev", &["B"]),
        half_written(),
        GroupOutcome::untouched(&plan("stage", &["C"]), "HTTP 404: group not found".into()),
    ];
    let text = email_text(super::email::email_at(&several, &wf, &failure, &[], at(5)));
    assert!(
        text.starts_with("Subject: Turso tokens rotated: acme: 3 groups FAILED\n"),
        "{text}"
    );
    assert!(!text.contains(token().expose()), "never a token");
    insta::assert_snapshot!("email_failure", text);
}

/// A report: one target fresh, one missing, one on a platform without
/// timestamps; delete protection off, the API token expiring.
fn compliance() -> super::Compliance {
    use super::{ComplianceGroup, TargetState};
    let plan = plan("prod", &["FRESH", "GONE"]);
    super::Compliance {
        previous_token: None,
        api_token: crate::apis::turso::ApiTokenExpiry::At(at(3 * 86_400)),
        groups: vec![ComplianceGroup {
            delete_protection: Some(false),
            error: None,
            targets: vec![
                TargetState {
                    target: target("FRESH"),
                    age: Age::WrittenAt(at(0)),
                    due: false,
                },
                TargetState {
                    target: target("GONE"),
                    age: Age::Missing,
                    due: true,
                },
            ],
            plan,
        }],
        findings: vec!["group `prod`: GONE in repository acme/app is due: missing".into()],
    }
}

#[test]
fn a_report_as_output_summary_and_email() {
    let report = compliance();
    let now = at(86_400 + 3_600);
    insta::assert_snapshot!("report_output", pretty(&super::compliance::json(&report, now)));
    insta::assert_snapshot!("report_summary", super::compliance::summary(&report, now, "acme", &[]));
    let inputs = inputs("acme", &[("INPUT_MODE", "report")]);
    insta::assert_snapshot!(
        "report_email",
        email_text(super::email::report_email_at(&inputs, &workflow(), &report, &[], now))
    );
}
