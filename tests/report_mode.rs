//! `mode: report` end to end: it changes nothing (no request but reads
//! reaches any fake), a read-only GitHub token is enough, its `report`
//! output matches the state, and its exit code follows the findings. And
//! `delete-protection: ensure` in a rotation: the group is protected after
//! the writes, and a refusal fails the run with the secrets written.

mod common;

use std::time::{Duration, SystemTime};

use common::world::World;
use common::{RunResult, Runner, Scope};
use serde_json::{json, Value};

fn ago(secs: u64) -> SystemTime {
    SystemTime::now() - Duration::from_secs(secs)
}

fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

/// The usual world, the secret written `secs` ago, delete protection on,
/// and a GitHub token that can read secrets but not write them.
fn world_with_secret_written(secs: Option<u64>) -> World {
    let world = World::new();
    world.turso.set_delete_protection("prod", true);
    world
        .github
        .deny_writes("Resource not accessible by personal access token");
    if let Some(secs) = secs {
        let scope = Scope::repo("acme/app");
        world.github.set_secret(&scope, "TURSO_AUTH_TOKEN", "old-value");
        world
            .github
            .set_secret_updated_at(&scope, "TURSO_AUTH_TOKEN", &rfc3339(ago(secs)));
    }
    world
}

fn report_runner(world: &World) -> Runner {
    world.runner().input("mode", "report").input("rotate-after", "7d")
}

/// Runs a report and proves it changed nothing: only GETs reached the fakes.
fn run_report(world: &World, runner: Runner) -> (RunResult, Value) {
    let result = runner.run();
    let changing: Vec<String> = world
        .journal
        .entries()
        .iter()
        .filter(|(_, r)| r.method != "GET")
        .map(|(label, r)| format!("{label} {} {}", r.method, r.path))
        .collect();
    assert!(changing.is_empty(), "a report changed something: {changing:?}");
    assert_eq!(world.turso.rotations("prod"), 0);
    common::world::leaks(&result, None);
    let report = result
        .output("report")
        .unwrap_or_else(|| panic!("no `report` output\n{}", result.stdout));
    let report: Value = serde_json::from_str(report).expect("the report is JSON");
    (result, report)
}

fn target(report: &Value) -> &Value {
    &report["groups"][0]["targets"][0]
}

#[test]
fn nothing_due_changes_nothing_and_passes_with_a_read_only_token() {
    let world = world_with_secret_written(Some(86_400));
    let (result, report) = run_report(&world, report_runner(&world));
    result.assert_exit(0);
    let age = target(&report)["age-seconds"].as_u64().expect("an age");
    assert!((86_400..86_460).contains(&age), "{age}");
    let last = target(&report)["last-written"].as_str().unwrap().to_owned();
    assert_eq!(
        report,
        json!({
            "api-token-expires-at": null,
            "groups": [{"group": "prod", "delete-protection": true, "targets": [{
                "target": "repo:TURSO_AUTH_TOKEN", "exists": true, "last-written": last,
                "age-seconds": age, "due": false,
            }]}],
        })
    );
    assert_eq!(world.secret().as_deref(), Some("old-value"));
    // Turso: validate once, the group and its configuration; GitHub: the
    // secret's metadata only (no public key: nothing is sealed).
    assert_eq!(world.turso.requests().len(), 3, "{:?}", world.journal.calls());
    assert_eq!(world.github.requests().len(), 1, "{:?}", world.journal.calls());
    assert!(
        result.summary.contains("| Group | Target | Last written | Age | Due |"),
        "{}",
        result.summary
    );
    assert!(
        result
            .summary
            .contains("| prod | TURSO_AUTH_TOKEN in repository acme/app | "),
        "{}",
        result.summary
    );
    assert_eq!(result.output("rotated"), Some("false"));
    assert_eq!(result.output("token"), None);
}

#[test]
fn a_missing_secret_is_due_and_fails_the_report() {
    let world = world_with_secret_written(None);
    let (result, report) = run_report(&world, report_runner(&world));
    result.assert_exit(1);
    assert_eq!(
        target(&report),
        &json!({"target": "repo:TURSO_AUTH_TOKEN", "exists": false, "last-written": null, "age-seconds": null, "due": true})
    );
    assert!(result.error_line().contains("is due: missing"), "{}", result.stdout);
}

#[test]
fn a_secret_older_than_rotate_after_is_due() {
    let world = world_with_secret_written(Some(8 * 86_400));
    let (result, report) = run_report(&world, report_runner(&world));
    result.assert_exit(1);
    assert_eq!(target(&report)["exists"], json!(true));
    assert_eq!(target(&report)["due"], json!(true));
    assert!(result.summary.contains("| yes |"), "{}", result.summary);
}

#[test]
fn an_api_token_that_expires_soon_fails_the_report() {
    let world = world_with_secret_written(Some(86_400));
    let exp = SystemTime::now() + Duration::from_secs(3 * 86_400);
    let secs = exp.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    world.turso.set_api_token_exp(secs as i64);
    // Without `rotate-after`: within 14 days is a finding.
    let (result, report) = run_report(&world, world.runner().input("mode", "report"));
    result.assert_exit(1);
    assert_eq!(
        report["api-token-expires-at"],
        json!(rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)))
    );
    assert!(result.error_line().contains("the Turso API token"), "{}", result.stdout);

    // A month ahead is no finding.
    let world = world_with_secret_written(Some(86_400));
    world.turso.set_api_token_exp((secs + 30 * 86_400) as i64);
    let (result, _) = run_report(&world, world.runner().input("mode", "report"));
    result.assert_exit(0);
}

#[test]
fn delete_protection_off_is_a_warning_and_a_finding_only_with_ensure() {
    let world = world_with_secret_written(Some(86_400));
    world.turso.set_delete_protection("prod", false);
    let (result, report) = run_report(&world, report_runner(&world));
    result.assert_exit(0);
    assert_eq!(report["groups"][0]["delete-protection"], json!(false));
    assert!(
        result
            .stdout
            .lines()
            .any(|l| l.starts_with("::warning::") && l.contains("delete protection is off")),
        "{}",
        result.stdout
    );

    world.journal.clear();
    let (result, _) = run_report(&world, report_runner(&world).input("delete-protection", "ensure"));
    result.assert_exit(1);
    assert!(
        result.error_line().contains("delete protection is off"),
        "{}",
        result.stdout
    );
    assert!(!world.turso.delete_protection("prod"), "a report only reports");
}

#[test]
fn ensure_in_a_rotation_protects_the_group_after_the_writes() {
    let world = World::new();
    let result = world.runner().input("delete-protection", "ensure").run();
    result.assert_exit(0);
    assert!(world.turso.delete_protection("prod"));
    let written = world
        .journal
        .position("github", "PUT", "/TURSO_AUTH_TOKEN")
        .expect("written");
    let patched = world
        .journal
        .position("turso", "PATCH", "/configuration")
        .expect("patched");
    assert!(patched > written, "{:?}", world.journal.calls());
    assert!(world.journal.position("turso", "GET", "/configuration").unwrap() < written);
}

#[test]
fn a_refused_protection_fails_the_run_with_the_secrets_written() {
    let world = World::new();
    world.turso.deny_method("PATCH", "/configuration");
    let result = world.runner().input("delete-protection", "ensure").run();
    result.assert_exit(1);
    assert_eq!(
        world.secret().as_deref(),
        result.output("token"),
        "the secret holds the new token"
    );
    assert!(!world.turso.delete_protection("prod"));
    let results: Value = serde_json::from_str(result.output("results").unwrap()).unwrap();
    let entry = results
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["target"] == "delete-protection:prod")
        .unwrap_or_else(|| panic!("{results}"));
    assert_eq!(entry["written"], json!(false));
    assert!(entry["error"].as_str().unwrap().contains("group:configure"), "{entry}");
}

#[test]
fn a_protected_group_is_not_patched() {
    let world = World::new();
    world.turso.set_delete_protection("prod", true);
    world.runner().input("delete-protection", "ensure").run().assert_exit(0);
    assert_eq!(world.turso.count("PATCH", "/"), 0);
}

#[test]
fn a_run_with_nothing_due_does_not_turn_protection_on() {
    let world = World::new();
    let scope = Scope::repo("acme/app");
    world.github.set_secret(&scope, "TURSO_AUTH_TOKEN", "old-value");
    world
        .github
        .set_secret_updated_at(&scope, "TURSO_AUTH_TOKEN", &rfc3339(ago(3600)));
    let result = world
        .runner()
        .input("delete-protection", "ensure")
        .input("rotate-after", "7d")
        .run();
    result.assert_exit(0);
    assert_eq!(result.output("rotated"), Some("false"));
    assert_eq!(
        world.turso.count("PATCH", "/"),
        0,
        "a run that is not due changes nothing"
    );
    assert!(!world.turso.delete_protection("prod"));
}

#[test]
fn a_database_report_names_the_database_and_reads_its_own_protection() {
    let world = world_with_secret_written(Some(60));
    world.turso.add_database("prod", "users");
    world.turso.set_database_delete_protection("users", true);
    let runner = report_runner(&world).input("group", "").input("database", "users");
    let (result, report) = run_report(&world, runner);
    result.assert_exit(0);
    let entry = &report["groups"][0];
    assert_eq!(entry["database"], "users", "{report}");
    assert_eq!(entry["delete-protection"], true);
    assert!(entry.get("group").is_none(), "{report}");
    assert_eq!(
        world.turso.count("GET", "/configuration"),
        0,
        "a database's own setting is in its preflight answer"
    );
}

#[test]
fn ensure_in_a_database_rotation_protects_the_database() {
    let world = World::new();
    world.turso.add_database("prod", "users");
    let result = world
        .runner()
        .input("group", "")
        .input("database", "users")
        .input("delete-protection", "ensure")
        .run();
    result.assert_exit(0);
    assert_eq!(world.turso.database_configuration("users")["delete_protection"], true);
    assert_eq!(world.turso.count("PATCH", "/databases/users/configuration"), 1);
    assert_eq!(world.turso.count("PATCH", "/groups/"), 0, "the group is left as it is");
}

#[test]
fn a_report_gives_the_previous_token_expiry_and_never_prints_it() {
    let world = world_with_secret_written(Some(60));
    let previous = world.turso.issue_token("prod");
    let runner = report_runner(&world)
        .secrets(&[common::world::API_TOKEN, common::world::GH_TOKEN, &previous])
        .input("previous-token", &previous);
    let (result, _) = run_report(&world, runner);
    result.assert_exit(0);
    assert!(
        result.summary.contains("Previous token (`previous-token`): "),
        "{}",
        result.summary
    );
    assert_eq!(world.turso.count("POST", "/v2/pipeline"), 0, "a report tries no token");
}
