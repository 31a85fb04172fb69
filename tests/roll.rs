//! Rotating on a schedule with no outage: `mode: roll` creates and writes
//! a new expiring token and invalidates nothing; `rotate-after` rotates a
//! group only when one of its secrets is missing or old enough.

mod common;

use std::time::{Duration, SystemTime};

use common::world::World;
use common::{Fault, FaultAction, Scope};
use serde_json::Value;

/// RFC 3339 for `days` ago, as GitHub's `updated_at` reads.
fn days_ago(days: u64) -> String {
    let at = SystemTime::now() - Duration::from_secs(days * 86_400);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// The repository secret exists, last written `days` ago.
fn secret_written_days_ago(world: &World, days: u64) {
    let scope = Scope::repo("acme/app");
    world.github.set_secret(&scope, "TURSO_AUTH_TOKEN", "old-value");
    world
        .github
        .set_secret_updated_at(&scope, "TURSO_AUTH_TOKEN", &days_ago(days));
}

#[test]
fn a_roll_writes_a_live_token_and_the_old_one_keeps_working() {
    let world = World::new();
    let old = world.turso.issue_token("prod");
    let result = world.runner().input("mode", "roll").input("expiration", "30d").run();
    result.assert_exit(0);

    let token = result.output("token").expect("token output");
    assert_eq!(world.secret().as_deref(), Some(token));
    assert!(world.turso.token_valid("prod", token), "the new token works");
    assert!(world.turso.token_valid("prod", &old), "the old token still works");
    assert_eq!(world.turso.count("POST", "/auth/rotate"), 0, "nothing invalidated");
    assert_eq!(world.turso.requests().len(), 2, "GET group and create");
    assert_eq!(world.github.requests().len(), 4, "key, probe PUT and DELETE, PUT");
    assert_eq!(result.output("rotated"), Some("true"));
    assert_eq!(result.output("invalidated"), Some("false"));
    let created = humantime::parse_rfc3339(result.output("rotated-at").unwrap()).unwrap();
    assert!(
        created.elapsed().unwrap() < Duration::from_secs(60),
        "rotated-at is the creation time"
    );
    assert!(!result.output("expires-at").unwrap().is_empty());
    assert!(
        result
            .summary
            .contains("old tokens not invalidated: they stay valid until they expire"),
        "{}",
        result.summary
    );
    assert!(
        result.summary.contains("| none |"),
        "no outage window:\n{}",
        result.summary
    );
}

#[test]
fn an_invalidation_says_so_in_its_outputs() {
    let world = World::new();
    let result = world.runner().run();
    result.assert_exit(0);
    assert_eq!(result.output("rotated"), Some("true"));
    assert_eq!(result.output("invalidated"), Some("true"));
    assert!(result.summary.contains("old tokens invalidated"), "{}", result.summary);
}

#[test]
fn a_roll_needs_an_expiration_longer_than_rotate_after() {
    let world = World::new();
    for (expiration, rotate_after, says) in [
        ("", "", "`expiration`"),
        ("never", "", "`expiration`"),
        ("5d", "7d", "longer than `rotate-after`"),
    ] {
        let result = world
            .runner()
            .input("mode", "roll")
            .input("expiration", expiration)
            .input("rotate-after", rotate_after)
            .run();
        result.assert_exit(2);
        assert!(result.error_line().contains(says), "{}", result.stdout);
    }
    assert_eq!(world.requests(), 0, "bad input calls nothing");
}

#[test]
fn an_expiration_under_twice_rotate_after_is_a_warning() {
    let world = World::new();
    let result = world
        .runner()
        .input("mode", "roll")
        .input("expiration", "10d")
        .input("rotate-after", "7d")
        .run();
    result.assert_exit(0);
    assert!(
        result
            .stdout
            .lines()
            .any(|l| l.starts_with("::warning::") && l.contains("twice")),
        "{}",
        result.stdout
    );
}

#[test]
fn a_secret_written_a_day_ago_is_not_due() {
    let world = World::new();
    secret_written_days_ago(&world, 1);
    let result = world.runner().input("rotate-after", "7d").run();
    result.assert_exit(0);
    assert_eq!(world.writes(), 0, "no rotate, create, probe or write");
    assert_eq!(world.turso.count("POST", "/"), 0);
    assert_eq!(
        world
            .github
            .secret(Scope::repo("acme/app"), "TURSO_AUTH_TOKEN")
            .as_deref(),
        Some("old-value")
    );
    assert_eq!(result.output("rotated"), Some("false"));
    assert_eq!(result.output("invalidated"), Some("false"));
    assert_eq!(result.output("token"), None, "no token");
    let row = result
        .summary
        .lines()
        .find(|l| l.contains("not due"))
        .unwrap_or_else(|| panic!("{}", result.summary));
    assert!(row.contains("TURSO_AUTH_TOKEN written 1d ago, next due "), "{row}");
    assert_eq!(
        world.github.count("GET", "/actions/secrets/TURSO_AUTH_TOKEN"),
        1,
        "one metadata read per target"
    );
}

#[test]
fn a_secret_written_eight_days_ago_is_rotated() {
    let world = World::new();
    secret_written_days_ago(&world, 8);
    let result = world.runner().input("rotate-after", "7d").run();
    result.assert_exit(0);
    assert_eq!(world.turso.rotations("prod"), 1);
    assert_eq!(world.secret().as_deref(), result.output("token"));
    assert_eq!(result.output("rotated"), Some("true"));
}

#[test]
fn a_missing_secret_is_due() {
    let world = World::new();
    let result = world.runner().input("rotate-after", "7d").run();
    result.assert_exit(0);
    assert_eq!(world.secret().as_deref(), result.output("token"));
    // Metadata is read after the key and before the probe: a run that is not due changes nothing.
    let journal = &world.journal;
    let metadata = journal.position("github", "GET", "/secrets/TURSO_AUTH_TOKEN").unwrap();
    assert!(journal.position("github", "GET", "/public-key").unwrap() < metadata);
    assert!(metadata < journal.position("github", "PUT", "TURSO_ROTATE_PROBE").unwrap());
}

#[test]
fn an_environment_secret_is_aged_by_its_own_metadata() {
    let world = World::new();
    world.github.add_environment("acme/app", "production");
    let scope = Scope::env("acme/app", "production");
    world.github.set_secret(&scope, "TURSO_AUTH_TOKEN", "old-value");
    world
        .github
        .set_secret_updated_at(&scope, "TURSO_AUTH_TOKEN", &days_ago(2));
    let result = world
        .runner()
        .input("environment", "production")
        .input("rotate-after", "7d")
        .run();
    result.assert_exit(0);
    assert_eq!(result.output("rotated"), Some("false"));
    assert_eq!(world.turso.rotations("prod"), 0);
}

#[test]
fn a_dry_run_says_whether_a_rotation_is_due() {
    let world = World::new();
    let runner = world.runner().input("rotate-after", "7d").input("dry-run", "true");
    secret_written_days_ago(&world, 1);
    let result = runner.run();
    result.assert_exit(0);
    assert!(result.summary.contains("not due"), "{}", result.summary);
    secret_written_days_ago(&world, 9);
    let result = runner.run();
    result.assert_exit(0);
    assert!(result.summary.contains("due, would write"), "{}", result.summary);
    assert_eq!(world.writes(), 0);
}

#[test]
fn with_groups_each_group_is_due_on_its_own() {
    let world = World::new();
    world.turso.add_group("staging");
    let scope = Scope::repo("acme/app");
    world.github.set_secret(&scope, "PROD_TOKEN", "old");
    world.github.set_secret_updated_at(&scope, "PROD_TOKEN", &days_ago(1));
    let result = world
        .groups_runner("prod=PROD_TOKEN\nstaging=STAGING_TOKEN")
        .input("mode", "roll")
        .input("expiration", "30d")
        .input("rotate-after", "7d")
        .run();
    result.assert_exit(0);
    assert_eq!(world.github.secret(scope.clone(), "PROD_TOKEN").as_deref(), Some("old"));
    let staging = world.github.secret(scope, "STAGING_TOKEN").expect("staging written");
    assert_eq!(Some(staging.as_str()), result.output("token-staging"));
    assert_eq!(result.output("token-prod"), None);
    let results: Value = serde_json::from_str(result.output("results").unwrap()).unwrap();
    assert_eq!(results[0]["written"], false);
    assert_eq!(results[0]["error"], Value::Null);
    assert_eq!(results[1]["written"], true);
}

#[test]
fn a_roll_never_writes_a_token_that_fails_verification() {
    let world = World::new();
    world.turso.add_group("other");
    world.turso.add_database("other", "elsewhere");
    let old = world.turso.issue_token("prod");
    let result = world
        .runner()
        .input("mode", "roll")
        .input("expiration", "30d")
        .input("database-url", &world.turso.database_url("elsewhere"))
        .input("timeout", "6s")
        .run();
    result.assert_exit(1);
    assert_eq!(
        world.secret(),
        None,
        "the old token still works: nothing unverified is written"
    );
    assert!(world.turso.token_valid("prod", &old));
    assert!(result.output("token").is_some(), "the new token is handed on");
    let error = result.error_line();
    assert!(
        error.contains("Tokens invalidated: no") && error.contains("secret written: no"),
        "{error}"
    );
    // Each target's result carries the verification error, not "not attempted".
    let results: Vec<serde_json::Value> = serde_json::from_str(result.output("results").unwrap()).unwrap();
    for entry in results {
        let error = entry["error"].as_str().unwrap_or_default();
        assert!(
            !error.contains("not attempted") && error.contains("SELECT 1"),
            "{entry}"
        );
        assert_eq!(entry["written"], false);
    }
}

#[test]
fn a_failed_metadata_read_stops_before_anything_changes() {
    let world = World::new();
    world.github.fault(
        Fault::new(
            "GET",
            "/actions/secrets/TURSO_AUTH_TOKEN",
            FaultAction::status(403, r#"{"message":"Resource not accessible by integration"}"#),
        )
        .always(),
    );
    let result = world.runner().input("rotate-after", "7d").run();
    result.assert_exit(1);
    assert_eq!(world.writes(), 0);
    assert!(result.error_line().contains("nothing was rotated"), "{}", result.stdout);
}
