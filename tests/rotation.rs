//! End to end: the real binary against the fake Turso and GitHub APIs, with
//! the environment the Actions runner gives it.

mod common;

use std::path::PathBuf;

use common::{FakeGitHub, FakeTurso, Fault, FaultAction, Journal, Runner, Scope};
use serde_json::Value;

use common::world::{leaks, World, API_TOKEN, GH_TOKEN};

#[test]
fn rotation_writes_the_new_token_into_the_secret() {
    let world = World::new();
    let old = world.turso.issue_token("prod");
    let result = world.runner().input("reason", "weekly").run();
    result.assert_exit(0);

    let token = result.output("token").expect("token output");
    assert_eq!(
        world.secret().as_deref(),
        Some(token),
        "the secret that landed is the token output"
    );
    assert!(world.turso.token_valid("prod", token), "the new token works");
    assert!(!world.turso.token_valid("prod", &old), "the old token was invalidated");
    assert_eq!(result.masked(), [token], "the token is masked, once");
    let mask_line = result.stdout.lines().position(|l| l.starts_with("::add-mask::"));
    assert_eq!(
        mask_line,
        Some(0),
        "the mask comes before any other stdout line:\n{}",
        result.stdout
    );

    assert_eq!(result.output("secret-updated"), Some("true"));
    assert_eq!(
        result.output("expires-at"),
        Some(""),
        "expiration `never` has no expiry"
    );
    let rotated_at = result.output("rotated-at").unwrap();
    assert!(
        humantime::parse_rfc3339(rotated_at).is_ok(),
        "rotated-at is RFC 3339: {rotated_at}"
    );
    let results: Value = serde_json::from_str(result.output("results").unwrap()).unwrap();
    assert_eq!(
        results,
        serde_json::json!([{"group": "prod", "target": "repo:TURSO_AUTH_TOKEN", "written": true, "error": null}])
    );

    for needle in ["acme", "`prod`", "TURSO_AUTH_TOKEN", "written", "weekly", "never"] {
        assert!(
            result.summary.contains(needle),
            "summary lacks {needle}:\n{}",
            result.summary
        );
    }
    leaks(&result, Some(token));
    // The probe was cleaned up and only the real secret remains.
    assert_eq!(
        world.github.secret_names(&Scope::repo("acme/app")),
        ["TURSO_AUTH_TOKEN"]
    );
}

#[test]
fn calls_happen_in_the_contract_order_within_the_request_budget() {
    let world = World::new();
    world.runner().run().assert_exit(0);
    let calls = world.journal.calls();
    let expected = [
        "turso GET /v1/organizations/acme/groups/prod",
        "github GET /repos/acme/app/actions/secrets/public-key",
        "github PUT /repos/acme/app/actions/secrets/TURSO_ROTATE_PROBE",
        "github DELETE /repos/acme/app/actions/secrets/TURSO_ROTATE_PROBE",
        "turso POST /v1/organizations/acme/groups/prod/auth/rotate",
        "turso POST /v1/organizations/acme/groups/prod/auth/tokens",
        "github PUT /repos/acme/app/actions/secrets/TURSO_AUTH_TOKEN",
    ];
    assert_eq!(calls, expected);
    assert_eq!(world.turso.connections(), 1, "one connection to Turso");
    assert_eq!(world.github.connections(), 1, "one connection to GitHub");
    let create = &world.turso.requests()[2];
    assert_eq!(create.query_param("expiration").as_deref(), Some("never"));
    assert_eq!(create.query_param("authorization").as_deref(), Some("full-access"));
}

#[test]
fn token_options_reach_the_api_and_the_outputs() {
    let world = World::new();
    let result = world
        .runner()
        .input("expiration", "7d")
        .input("authorization", "read-only")
        .input("read-attach-databases", "users, events")
        .run();
    result.assert_exit(0);
    let token = result.output("token").unwrap();
    let claims = world.turso.claims(token);
    assert_eq!(claims["a"], "ro");
    assert_eq!(claims["p"]["roa"]["ns"], serde_json::json!(["users", "events"]));
    let exp = claims["exp"].as_u64().unwrap();
    let expires_at = humantime::parse_rfc3339(result.output("expires-at").unwrap()).unwrap();
    assert_eq!(expires_at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(), exp);
    assert_eq!(exp - claims["iat"].as_u64().unwrap(), 7 * 86_400);
}

#[test]
fn dry_run_checks_both_sides_and_writes_nothing() {
    let world = World::new();
    let result = world.runner().input("dry-run", "true").run();
    result.assert_exit(0);
    assert_eq!(
        world.writes(),
        0,
        "a dry run writes nothing:\n{:?}",
        world.journal.calls()
    );
    assert_eq!(world.github.count("GET", "/public-key"), 1, "the key is fetched");
    assert!(
        result.stderr.contains("write access was not proven"),
        "{}",
        result.stderr
    );
    assert!(result.summary.contains("dry run"), "{}", result.summary);
    assert_eq!(result.output("secret-updated"), Some("false"));
    leaks(&result, None);
}

#[test]
fn dry_run_without_a_github_token_checks_turso_alone() {
    let world = World::new();
    let result = world
        .runner()
        .input("dry-run", "true")
        .input("github-token", "")
        .input("secret-name", "")
        .run();
    result.assert_exit(0);
    assert!(world.github.requests().is_empty());
    assert_eq!(world.turso.requests().len(), 1);
    assert!(
        result.stderr.contains("only the Turso side was checked"),
        "{}",
        result.stderr
    );
}

#[test]
fn each_bad_input_exits_2_naming_it_without_a_request() {
    let world = World::new();
    let cases = [
        ("organization", "", "`organization`"),
        ("group", "prod/../../x", "`group`"),
        ("secret-name", "GITHUB_TOKEN", "`secret-name`"),
        ("secret-name", "", "`secret-name`"),
        ("expiration", "7 days", "`expiration`"),
        ("authorization", "admin", "`authorization`"),
        ("dry-run", "yes", "`dry-run`"),
        ("repository", "acme", "`repository`"),
        ("github-token", "", "`github-token`"),
        ("api-token", "", "`api-token`"),
        ("turso-api-url", "http://api.turso.example", "`turso-api-url`"),
        ("groups", "prod=A\nprod=B", "`groups`"),
    ];
    for (input, value, named) in cases {
        let runner = world.runner().input(input, value);
        let runner = if input == "groups" {
            runner.input("group", "").input("secret-name", "")
        } else {
            runner
        };
        let result = runner.run();
        result.assert_exit(2);
        let error = result
            .stdout
            .lines()
            .find(|l| l.starts_with("::error::"))
            .unwrap_or_default();
        assert!(error.contains(named), "{input}={value:?}: {}", result.stdout);
        assert_eq!(world.requests(), 0, "{input}={value:?} made a request");
        leaks(&result, None);
    }
    let flag = world.runner().arg("--no-such-flag").run();
    flag.assert_exit(2);
}

#[test]
fn preflight_failures_stop_before_rotation() {
    let cases: [(&str, &str, &str); 4] = [
        ("wrong group", "group", "not found"),
        ("bad api token", "api-token", "invalid or expired"),
        ("missing scope", "deny", "lacks the `read` scope"),
        ("bad github token", "github-token", "GitHub token is invalid"),
    ];
    for (case, what, expected) in cases {
        let world = World::new();
        let runner = match what {
            "group" => world.runner().input("group", "nope"),
            "api-token" => world.runner().input("api-token", "wrong-api-token"),
            "github-token" => world.runner().input("github-token", "wrong-gh-token"),
            _ => {
                world.turso.deny("/groups/prod");
                world.runner()
            }
        };
        let result = runner.run();
        result.assert_exit(1);
        assert!(result.stdout.contains(expected), "{case}: {}", result.stdout);
        assert!(
            result.stdout.contains("nothing was rotated"),
            "{case}: {}",
            result.stdout
        );
        assert_eq!(world.turso.rotations("prod"), 0, "{case}: rotated");
        assert_eq!(world.secret(), None);
        leaks(&result, None);
    }
}

#[test]
fn refused_write_probe_leaves_the_group_untouched() {
    let world = World::new();
    world.github.deny_writes("Resource not accessible by integration");
    let result = world.runner().run();
    result.assert_exit(1);
    assert_eq!(world.turso.rotations("prod"), 0);
    assert!(
        result
            .stdout
            .contains("GitHub App token lacks the permission repository Secrets: write"),
        "{}",
        result.stdout
    );
    assert!(result.stdout.contains("nothing was rotated"));
}

#[test]
fn environment_secret_with_an_encoded_name() {
    let world = World::new();
    world.github.add_environment("acme/app", "Production EU");
    let result = world.runner().input("environment", "Production EU").run();
    result.assert_exit(0);
    let token = result.output("token").unwrap();
    assert_eq!(
        world
            .github
            .secret(Scope::env("acme/app", "Production EU"), "TURSO_AUTH_TOKEN")
            .as_deref(),
        Some(token)
    );
    assert!(world
        .journal
        .calls()
        .iter()
        .any(|c| c.contains("/environments/Production%20EU/secrets/public-key")));
    assert_eq!(world.secret(), None, "no repository secret was written");
}

#[test]
fn enterprise_server_api_path_is_kept() {
    let journal = Journal::new();
    let turso = FakeTurso::start("acme", API_TOKEN).with_journal(&journal);
    turso.add_group("prod");
    let github = FakeGitHub::start(GH_TOKEN)
        .with_journal(&journal)
        .with_base_path("/api/v3");
    github.add_repo("acme/app");
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_turso-rotate"));
    let world = World {
        turso,
        github,
        journal,
        bin,
    };
    world.runner().run().assert_exit(0);
    assert!(world.secret().is_some());
}

#[test]
fn outside_actions_prints_json_without_the_token_unless_asked() {
    let world = World::new();
    let result = world.runner().outside_actions().run();
    result.assert_exit(0);
    assert!(result.masked().is_empty(), "no ::add-mask:: outside Actions");
    let json: Value = serde_json::from_str(result.stdout.trim()).expect("one JSON object on stdout");
    assert_eq!(json["secret-updated"], "true");
    assert!(json.get("token").is_none());
    let secret = world.secret().unwrap();
    leaks(&result, Some(&secret));

    let shown = world.runner().outside_actions().arg("--show-token").run();
    shown.assert_exit(0);
    let json: Value = serde_json::from_str(shown.stdout.trim()).unwrap();
    assert_eq!(json["token"].as_str(), world.secret().as_deref());
}

#[test]
fn flags_work_as_a_plain_cli() {
    let world = World::new();
    let result = Runner::new(PathBuf::from(env!("CARGO_BIN_EXE_turso-rotate")))
        .outside_actions()
        .env("GITHUB_API_URL", &world.github.api_url())
        .env("TURSO_API_TOKEN", API_TOKEN)
        .arg("--organization=acme")
        .arg("--group")
        .arg("prod")
        .arg("--secret-name")
        .arg("TURSO_AUTH_TOKEN")
        .arg("--repository")
        .arg("acme/app")
        .arg("--github-token")
        .arg(GH_TOKEN)
        .arg("--turso-api-url")
        .arg(&world.turso.url())
        .run();
    result.assert_exit(0);
    assert!(world.secret().is_some());

    let help = Runner::new(PathBuf::from(env!("CARGO_BIN_EXE_turso-rotate")))
        .arg("--help")
        .run();
    help.assert_exit(0);
    assert!(help.stdout.contains("--secret-name") && help.stdout.contains("--dry-run"));
    let version = Runner::new(PathBuf::from(env!("CARGO_BIN_EXE_turso-rotate")))
        .arg("--version")
        .run();
    assert!(version.stdout.starts_with("turso-rotate "));
}

#[test]
fn server_text_cannot_inject_workflow_commands() {
    let world = World::new();
    world.turso.fault(Fault::new(
        "GET",
        "/groups/prod",
        FaultAction::status(404, r#"{"error":"gone\n::set-output name=token::evil\r\n%0A"}"#),
    ));
    let result = world.runner().run();
    result.assert_exit(1);
    let commands: Vec<&str> = result.stdout.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(commands.len(), 1, "{}", result.stdout);
    assert!(
        commands[0].starts_with("::error::") && commands[0].contains("%25"),
        "{}",
        commands[0]
    );
    assert!(result.stderr.lines().all(|l| !l.starts_with("::")));
}
