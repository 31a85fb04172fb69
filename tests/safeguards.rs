//! Edge cases around the contract: time kept after rotation, secondary rate
//! limits, outputs and recovery where no output can be read, inputs that
//! must be refused, and text that must never echo a token.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::world::{World, API_TOKEN, GH_TOKEN};
use common::{Fault, FaultAction, Scope};

#[test]
fn a_group_is_not_rotated_without_time_left_to_write_its_token() {
    let world = World::new();
    world.github.fault(Fault::new(
        "GET",
        "/public-key",
        FaultAction::status_with(429, "{}", &[("Retry-After", "3")]),
    ));
    let result = world.runner().input("timeout", "4s").run();
    result.assert_exit(1);
    assert_eq!(world.turso.rotations("prod"), 0, "the group was left untouched");
    let error = result.error_line();
    assert!(
        error.contains("not rotated") && error.contains("Tokens invalidated: no"),
        "{error}"
    );
}

#[test]
fn a_refused_rotate_call_left_the_tokens_alive() {
    let world = World::new();
    world.turso.deny("/auth/rotate");
    let result = world.runner().run();
    result.assert_exit(1);
    let error = result.error_line();
    assert!(
        error.contains("Tokens invalidated: no") && error.contains("group:rotate-creds"),
        "{error}"
    );
}

#[test]
fn secondary_rate_limit_and_rate_limit_reset_inside_the_deadline_are_waited_for() {
    let world = World::new();
    world.github.fault(Fault::new(
        "PUT",
        "TURSO_AUTH_TOKEN",
        FaultAction::status_with(
            403,
            r#"{"message":"You have exceeded a secondary rate limit."}"#,
            &[("Retry-After", "1")],
        ),
    ));
    let reset = (SystemTime::now() + Duration::from_secs(1))
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    world.github.fault(Fault::new(
        "GET",
        "/public-key",
        FaultAction::status_with(
            403,
            r#"{"message":"API rate limit exceeded"}"#,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", &reset.to_string()),
            ],
        ),
    ));
    let result = world.runner().run();
    result.assert_exit(0);
    assert!(result.stderr.contains("secondary rate limit") && result.stderr.contains("rate limit exhausted"));
    assert_eq!(
        world
            .github
            .secret(Scope::repo("acme/app"), "TURSO_AUTH_TOKEN")
            .as_deref(),
        result.output("token")
    );
}

#[test]
fn the_summary_says_how_long_the_group_was_without_a_valid_secret() {
    let world = World::new();
    let result = world.runner().run();
    result.assert_exit(0);
    let row = result
        .summary
        .lines()
        .find(|l| l.contains("| written |"))
        .expect("a written row");
    let window = row.trim_end_matches(" |").rsplit("| ").next().unwrap();
    let seconds: f64 = window.trim_end_matches('s').parse().unwrap_or_else(|_| panic!("{row}"));
    assert!((0.0..5.0).contains(&seconds), "{row}");
}

#[test]
fn the_organization_probe_is_visible_to_no_repository() {
    let world = World::new();
    world
        .runner()
        .input("scope", "organization")
        .input("visibility", "all")
        .run()
        .assert_exit(0);
    let probe = world
        .github
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT" && r.path.ends_with("/TURSO_ROTATE_PROBE"))
        .expect("a probe");
    let body = probe.json().unwrap();
    assert_eq!(body["visibility"], "selected");
    assert_eq!(body["selected_repository_ids"], serde_json::json!([]));
}

#[test]
fn groups_outputs_are_per_group_and_a_failed_write_is_still_recoverable() {
    let world = World::new();
    world.turso.add_group("staging");
    world.fail_writes("TURSO_STAGING_TOKEN");
    let result = world
        .groups_runner("staging=TURSO_STAGING_TOKEN")
        .input("max-attempts", "1")
        .run();
    result.assert_exit(1);
    assert_eq!(
        result.output("token"),
        None,
        "`groups` names its outputs token-<group>, even for one group"
    );
    let token = result.output("token-staging").expect("the token is handed on");
    assert!(
        result.error_line().contains("masked `token-staging` output"),
        "{}",
        result.stdout
    );
    assert!(world.turso.token_valid("staging", token));
}

#[test]
fn without_an_outputs_file_the_token_goes_to_the_token_file() {
    let world = World::new();
    world.fail_writes("TURSO_AUTH_TOKEN");
    let result = world
        .runner()
        .remove_env("GITHUB_OUTPUT")
        .input("max-attempts", "1")
        .run();
    result.assert_exit(1);
    let path = result.workspace.join("turso-rotate-prod.token");
    let saved = result
        .files
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, b)| String::from_utf8_lossy(b).trim().to_owned());
    let saved = saved.expect("the token file");
    assert!(world.turso.token_valid("prod", &saved));
    assert!(result.error_line().contains("token file"), "{}", result.stdout);
}

#[test]
fn a_failing_audit_file_does_not_hide_the_state_of_the_group() {
    let world = World::new();
    world.fail_writes("TURSO_AUTH_TOKEN");
    let result = world.runner().input("audit-file", ".").input("max-attempts", "1").run();
    result.assert_exit(1);
    assert!(result.stdout.contains("Tokens invalidated: yes"), "{}", result.stdout);
    assert!(
        result.stdout.contains("appending to the audit file"),
        "{}",
        result.stdout
    );
}

#[test]
fn inputs_that_must_be_refused() {
    let world = World::new();
    world.turso.add_group("staging");
    world.turso.add_database("prod", "users");
    let groups = world
        .groups_runner("prod=TURSO_PROD\nstaging=TURSO_STAGING")
        .input("database-url", &world.turso.database_url("users"))
        .run();
    groups.assert_exit(2);
    assert!(groups.error_line().contains("`database-url`"));

    let same_secret = world.groups_runner("prod=TURSO_TOKEN\nstaging=turso_token").run();
    same_secret.assert_exit(2);

    let probe_name = world.runner().input("secret-name", "turso_rotate_probe").run();
    probe_name.assert_exit(2);
    assert!(probe_name.error_line().contains("reserved"));
    assert!(world.turso.requests().is_empty() && world.github.requests().is_empty());
}

#[test]
fn no_token_is_echoed_by_the_command_line() {
    let world = World::new();
    let off = world.runner().outside_actions().arg("--show-token=false").run();
    off.assert_exit(0);
    assert!(!off.stdout.contains("\"token\""), "{}", off.stdout);

    // A stray value, or a flag taken for a value: refused without echoing it.
    let stray = world.runner().arg("--show-token").arg(GH_TOKEN).run();
    stray.assert_exit(2);
    let swallowed = world
        .runner()
        .arg("--github-token")
        .arg("--api-token")
        .arg(API_TOKEN)
        .run();
    swallowed.assert_exit(2);
    assert!(swallowed.error_line().contains("--github-token needs a value"));
}

#[test]
fn a_long_error_body_cannot_leak_a_prefix_of_a_token() {
    let world = World::new();
    let padding = "x".repeat(290);
    world.turso.fault(Fault::new(
        "GET",
        "/groups/prod",
        FaultAction::status(500, &format!(r#"{{"error":"{padding} Bearer {API_TOKEN}"}}"#)),
    ));
    let result = world.runner().input("max-attempts", "1").run();
    result.assert_exit(1);
    assert!(!result.stdout.contains(&API_TOKEN[..7]), "{}", result.stdout);
}
