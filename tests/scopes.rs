//! Beyond one repository secret: every secret scope, several targets for one
//! token, many groups at once, and the audit trail.

mod common;

use common::world::{leaks, World};
use common::{Fault, FaultAction, Scope};
use serde_json::Value;

#[test]
fn one_token_into_every_scope() {
    let world = World::new();
    world.github.add_environment("acme/app", "production");
    let web = world.github.add_repo("acme/web");
    let app = world.github.repo_id("acme/app").unwrap();
    let result = world
        .runner()
        .input("secret-name", "")
        .input(
            "secrets",
            "repo:TURSO_AUTH_TOKEN\nenv:production:TURSO_AUTH_TOKEN\norg:TURSO_ORG_TOKEN\ndependabot:TURSO_AUTH_TOKEN",
        )
        .input("selected-repositories", "app, web")
        .run();
    result.assert_exit(0);
    let token = result.output("token").unwrap();
    for (scope, name) in [
        (Scope::repo("acme/app"), "TURSO_AUTH_TOKEN"),
        (Scope::env("acme/app", "production"), "TURSO_AUTH_TOKEN"),
        (Scope::org("acme"), "TURSO_ORG_TOKEN"),
        (Scope::dependabot("acme/app"), "TURSO_AUTH_TOKEN"),
    ] {
        assert_eq!(
            world.github.secret(scope.clone(), name).as_deref(),
            Some(token),
            "{scope:?}"
        );
        assert_eq!(
            world.github.secret_names(&scope),
            [name],
            "{scope:?}: the probe was removed"
        );
    }
    assert_eq!(
        world.github.org_secret_visibility("TURSO_ORG_TOKEN").as_deref(),
        Some("selected")
    );
    assert_eq!(
        world.github.org_secret_repositories("TURSO_ORG_TOKEN"),
        Some(vec![app, web])
    );
    // Every public key is fetched in preflight, before the rotation.
    let rotate = world.journal.position("turso", "POST", "/auth/rotate").unwrap();
    let keys: Vec<usize> = world
        .journal
        .calls()
        .iter()
        .enumerate()
        .filter(|(_, c)| c.ends_with("/public-key"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(keys.len(), 4);
    assert!(keys.iter().all(|&k| k < rotate));
    let results: Vec<Value> = serde_json::from_str(result.output("results").unwrap()).unwrap();
    assert_eq!(results.len(), 4);
    assert!(results.iter().all(|r| r["written"] == true));
    leaks(&result, Some(token));
}

#[test]
fn organization_secret_visible_to_all() {
    let world = World::new();
    let result = world
        .runner()
        .input("scope", "organization")
        .input("visibility", "all")
        .run();
    result.assert_exit(0);
    assert_eq!(
        world.github.secret(Scope::org("acme"), "TURSO_AUTH_TOKEN").as_deref(),
        result.output("token")
    );
    assert_eq!(
        world.github.org_secret_visibility("TURSO_AUTH_TOKEN").as_deref(),
        Some("all")
    );
}

#[test]
fn many_groups_each_into_its_own_secret_and_one_failure_spares_the_others() {
    let world = World::new();
    for group in ["staging", "analytics"] {
        world.turso.add_group(group);
    }
    world
        .turso
        .fault(Fault::new("POST", "/groups/analytics/auth/tokens", FaultAction::status(500, "{}")).always());
    let result = world
        .groups_runner("prod=TURSO_PROD_TOKEN\nstaging = TURSO_STAGING_TOKEN\nanalytics=TURSO_ANALYTICS_TOKEN")
        .input("max-attempts", "1")
        .run();
    result.assert_exit(1);
    assert_eq!(
        result.output("token"),
        None,
        "with several groups there is no single `token`"
    );
    for (group, secret) in [("prod", "TURSO_PROD_TOKEN"), ("staging", "TURSO_STAGING_TOKEN")] {
        let token = result.output(&format!("token-{group}")).expect("token-<group> output");
        assert_eq!(
            world.github.secret(Scope::repo("acme/app"), secret).as_deref(),
            Some(token)
        );
        assert!(world.turso.token_valid(group, token));
    }
    assert_eq!(
        world.github.secret(Scope::repo("acme/app"), "TURSO_ANALYTICS_TOKEN"),
        None
    );
    assert_eq!(world.turso.rotations("analytics"), 1);
    assert_eq!(result.output("secret-updated"), Some("false"));
    let results: Vec<Value> = serde_json::from_str(result.output("results").unwrap()).unwrap();
    let written: Vec<(&str, bool)> = results
        .iter()
        .map(|r| (r["group"].as_str().unwrap(), r["written"].as_bool().unwrap()))
        .collect();
    assert_eq!(written, [("prod", true), ("staging", true), ("analytics", false)]);
    assert!(
        result.stdout.contains("::error::Group `analytics`"),
        "{}",
        result.stdout
    );
    for group in ["prod", "staging", "analytics"] {
        assert!(result.summary.contains(&format!("`{group}`")), "{}", result.summary);
    }
    let tokens: Vec<String> = ["prod", "staging"]
        .iter()
        .map(|g| result.output(&format!("token-{g}")).unwrap().to_owned())
        .collect();
    leaks(&result, None);
    for token in &tokens {
        result.assert_no_leak(&[token]);
    }
}

#[test]
fn audit_trail_records_who_why_and_what_without_a_token() {
    let world = World::new();
    let runner = world
        .runner()
        .input("audit-file", "audit/rotations.jsonl")
        .input("reason", "leaked in a log");
    runner.run().assert_exit(0);
    let result = runner.run();
    result.assert_exit(0);
    let path = result.workspace.join("audit/rotations.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "one line appended per rotation");
    let line = &lines[1];
    assert_eq!(line["actor"], "octocat");
    assert_eq!(line["run_url"], "https://github.com/acme/app/actions/runs/42");
    assert_eq!(line["organization"], "acme");
    assert_eq!(line["group"], "prod");
    assert_eq!(line["reason"], "leaked in a log");
    assert_eq!(line["result"], "rotated");
    assert!(humantime::parse_rfc3339(line["time"].as_str().unwrap()).is_ok());
    assert!(result.summary.contains("leaked in a log"));
    let token = result.output("token").unwrap();
    assert!(!text.contains(token));
    leaks(&result, Some(token));
}

#[test]
fn audit_file_outside_the_workspace_is_bad_input() {
    let world = World::new();
    let result = world.runner().input("audit-file", "/tmp/audit.jsonl").run();
    result.assert_exit(2);
    assert!(result.stdout.contains("`audit-file`"), "{}", result.stdout);
}
