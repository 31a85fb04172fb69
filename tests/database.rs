//! One database instead of the whole group (`database`, `databases`), and
//! `previous-token` proving the old token dead: the binary against the
//! fake Turso, whose databases have keys and hosts of their own.

mod common;

use serde_json::{json, Value};

use common::world::{World, API_TOKEN, GH_TOKEN};
use common::{Fault, FaultAction, LibsqlErrors, RunResult, Runner, Scope, Webhook};

/// Group `prod` with databases `users` and `orders`.
fn world() -> World {
    let world = World::new();
    world.turso.add_database("prod", "users");
    world.turso.add_database("prod", "orders");
    world
}

/// A run for database `users` instead of group `prod`.
fn database_runner(world: &World) -> Runner {
    world.runner().input("group", "").input("database", "users")
}

/// As [`database_runner`], with `previous` as `previous-token`, scanned for leaks.
fn with_previous(world: &World, previous: &str) -> Runner {
    database_runner(world)
        .input("previous-token", previous)
        .secrets(&[API_TOKEN, GH_TOKEN, previous])
}

fn audit_line(result: &RunResult) -> Value {
    let (_, bytes) = result
        .files
        .iter()
        .find(|(path, _)| path.ends_with("audit.jsonl"))
        .expect("the audit file");
    let text = String::from_utf8_lossy(bytes);
    serde_json::from_str(text.lines().last().expect("a line")).expect("JSON")
}

#[test]
fn a_database_rotation_kills_that_databases_tokens_only() {
    let world = world();
    let old = world.turso.issue_database_token("users");
    let other = world.turso.issue_database_token("orders");
    let group_token = world.turso.issue_token("prod");
    let result = database_runner(&world).input("audit-file", "audit.jsonl").run();
    result.assert_exit(0);

    assert_eq!(world.turso.database_rotations("users"), 1);
    assert_eq!(world.turso.rotations("prod"), 0, "the group was not rotated");
    assert!(
        !world.turso.token_valid_for("users", &old),
        "the database's old token is dead"
    );
    assert!(
        world.turso.token_valid_for("orders", &other),
        "another database's token lives"
    );
    assert!(
        world.turso.token_valid_for("users", &group_token),
        "the group's tokens live"
    );

    let token = result.output("token").expect("the token output");
    assert_eq!(
        world.secret().as_deref(),
        Some(token),
        "the secret holds the issued token"
    );
    assert!(world.turso.token_valid_for("users", token));
    assert_eq!(world.turso.claims(token)["id"], world.turso.database_id("users"));

    // Verified on the database's own host, with no `database-url`.
    assert_eq!(world.turso.database_server("users").count("POST", "/v2/pipeline"), 1);
    assert_eq!(world.turso.count("POST", "/v2/pipeline"), 0);
    assert!(result.stderr.contains("verified with SELECT 1"), "{}", result.stderr);

    // 3 Turso requests: the database, rotate, create.
    let calls: Vec<String> = world.turso.requests().iter().map(|r| r.line()).collect();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(
        calls[0].starts_with("GET /v1/organizations/acme/databases/users"),
        "{calls:?}"
    );
    assert!(calls[1].contains("/databases/users/auth/rotate"), "{calls:?}");
    assert!(calls[2].contains("/databases/users/auth/tokens"), "{calls:?}");

    assert!(
        result.summary.contains("database `users` of group `prod`"),
        "{}",
        result.summary
    );
    let audit = audit_line(&result);
    assert_eq!(
        (audit["database"].as_str(), audit["group"].as_str()),
        (Some("users"), Some("prod"))
    );
    assert_eq!(result.output("revocation-proven"), Some(""));
    common::world::leaks(&result, Some(token));
}

#[test]
fn a_database_roll_invalidates_nothing() {
    let world = world();
    let old = world.turso.issue_database_token("users");
    let result = database_runner(&world)
        .input("mode", "roll")
        .input("expiration", "7d")
        .run();
    result.assert_exit(0);
    assert_eq!(world.turso.database_rotations("users"), 0);
    assert!(world.turso.token_valid_for("users", &old));
    let token = result.output("token").unwrap();
    assert_eq!(world.turso.claims(token)["id"], world.turso.database_id("users"));
    assert_eq!(world.turso.requests().len(), 2, "the database and create");
    assert_eq!(result.output("invalidated"), Some("false"));
}

#[test]
fn a_database_that_rotates_only_with_its_group_changes_nothing() {
    let world = world();
    world.turso.refuse_single_rotation("users");
    let old = world.turso.issue_database_token("users");
    let result = database_runner(&world).run();
    result.assert_exit(1);
    assert!(world.turso.token_valid_for("users", &old));
    assert_eq!(world.turso.count("POST", "/auth/tokens"), 0, "no token minted");
    assert_eq!(world.secret(), None);
    let error = result.error_line();
    assert!(
        error.contains("group `prod`") && error.contains("`group: prod`"),
        "{error}"
    );
    assert!(error.contains("Nothing changed"), "{error}");
    assert!(error.contains("Database `users` of group `prod`"), "{error}");
}

#[test]
fn several_databases_each_have_their_token_output() {
    let world = world();
    let result = world
        .runner()
        .input("group", "")
        .input("secret-name", "")
        .input("databases", "users=TURSO_USERS_TOKEN\norders=TURSO_ORDERS_TOKEN")
        .run();
    result.assert_exit(0);
    for (db, secret) in [("users", "TURSO_USERS_TOKEN"), ("orders", "TURSO_ORDERS_TOKEN")] {
        let token = result.output(&format!("token-{db}")).expect("token-<database>");
        assert_eq!(
            world.github.secret(Scope::repo("acme/app"), secret).as_deref(),
            Some(token)
        );
        assert!(world.turso.token_valid_for(db, token));
        assert_eq!(world.turso.database_rotations(db), 1);
    }
    assert_eq!(result.output("token"), None);
    let results: Value = serde_json::from_str(result.output("results").unwrap()).unwrap();
    assert_eq!(results[0]["database"], "users");
    assert_eq!(results[0]["group"], "prod");
}

#[test]
fn what_is_rotated_is_named_once() {
    let world = world();
    let cases = [
        (
            "group and database",
            vec![("group", "prod"), ("database", "users")],
            "conflict",
        ),
        (
            "groups and databases",
            vec![("group", ""), ("groups", "prod=A"), ("databases", "users=B")],
            "conflict",
        ),
        (
            "database and databases",
            vec![("group", ""), ("database", "users"), ("databases", "orders=B")],
            "conflict",
        ),
        (
            "a database twice",
            vec![("group", ""), ("secret-name", ""), ("databases", "users=A\nusers=B")],
            "twice",
        ),
        (
            "not a slug",
            vec![("group", ""), ("database", "users/../x")],
            "database",
        ),
    ];
    for (case, inputs, named) in cases {
        let runner = inputs
            .into_iter()
            .fold(world.runner(), |r, (name, value)| r.input(name, value));
        let result = runner.run();
        result.assert_bad_input(named, case);
        assert_eq!(world.requests(), 0, "{case}: no request");
    }
}

#[test]
fn verify_false_turns_every_check_off() {
    let world = world();
    let result = database_runner(&world)
        .input("verify", "false")
        .input("database-url", &world.turso.database_url("users"))
        .run();
    result.assert_exit(0);
    assert_eq!(world.turso.database_server("users").count("POST", "/v2/pipeline"), 0);
    assert_eq!(world.turso.count("POST", "/v2/pipeline"), 0);
}

#[test]
fn a_refused_previous_token_proves_the_revocation() {
    let world = world();
    let previous = world.turso.issue_database_token("users");
    let hook = Webhook::start("/services/T000/B000/XXXXsecretXXXX");
    let result = with_previous(&world, &previous)
        .input("audit-file", "audit.jsonl")
        .input("notify-url", &hook.notify_url())
        .input("notify-format", "slack")
        .run();
    result.assert_exit(0);
    assert_eq!(result.output("revocation-proven"), Some("true"));
    let message = hook.messages()[0].json().to_string();
    assert!(
        message.contains("previous token refused: revocation proven"),
        "{message}"
    );
    assert!(
        result.summary.contains("previous token refused: revocation proven"),
        "{}",
        result.summary
    );
    assert_eq!(audit_line(&result)["revocation"], "proven");
    assert!(result.masked().contains(&previous), "the previous token is masked");
    // Tried once in preflight, once after the writes.
    let pipeline = world.turso.database_server("users").requests();
    let with_previous = pipeline
        .iter()
        .filter(|r| r.header("authorization") == Some(&format!("Bearer {previous}")))
        .count();
    assert_eq!(with_previous, 2);
    let write = world.journal.position("github", "PUT", "TURSO_AUTH_TOKEN").unwrap();
    let last = world.journal.entries().len() - 1;
    assert!(write < last, "the proof comes after the write");
}

#[test]
fn a_previous_token_still_accepted_fails_the_run_after_every_write() {
    let world = world();
    // A group token outlives a database rotation: the proof must catch it.
    let previous = world.turso.issue_token("prod");
    let result = with_previous(&world, &previous).run();
    result.assert_exit(1);
    let token = result.output("token").unwrap();
    assert_eq!(world.secret().as_deref(), Some(token), "written all the same");
    assert_eq!(result.output("revocation-proven"), Some("false"));
    // From Turso's answer (SPEC); the previous token speaks through revocation-proven.
    assert_eq!(result.output("invalidated"), Some("true"));
    let error = result.error_line();
    assert!(error.contains("previous token still works"), "{error}");
    assert!(error.contains("did not take effect"), "{error}");
}

#[test]
fn a_previous_token_refused_before_the_run_proves_nothing() {
    let world = world();
    let previous = world.turso.issue_token_with("prod", &json!({"exp": 1}));
    let result = with_previous(&world, &previous).run();
    result.assert_exit(0);
    assert!(
        result
            .stdout
            .lines()
            .any(|l| l.starts_with("::warning::") && l.contains("already refused before this run")),
        "{}",
        result.stdout
    );
    assert_eq!(result.output("revocation-proven"), Some(""));
}

#[test]
fn the_previous_token_settles_a_lost_rotate_answer() {
    let world = world();
    let previous = world.turso.issue_database_token("users");
    world
        .turso
        .fault(Fault::new("POST", "/auth/rotate", FaultAction::after_acting(502)).always());
    let result = with_previous(&world, &previous).input("max-attempts", "2").run();
    result.assert_exit(0);
    assert_eq!(result.output("invalidated"), Some("true"));
    assert_eq!(result.output("revocation-proven"), Some("true"));
}

#[test]
fn a_previous_token_needs_a_database_to_try_it_on() {
    let world = world();
    let result = world
        .runner()
        .input("previous-token", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln")
        .run();
    result.assert_bad_input("previous-token", "a group with no database-url");
    assert!(result.error_line().contains("database-url"), "{}", result.error_line());
    assert_eq!(world.requests(), 0);
}

#[test]
fn a_roll_reads_the_previous_tokens_expiry_and_never_tries_it() {
    let world = world();
    let previous = world.turso.issue_token_with("prod", &json!({"exp": 4_102_444_800u64}));
    let result = with_previous(&world, &previous)
        .input("mode", "roll")
        .input("expiration", "7d")
        .run();
    result.assert_exit(0);
    assert!(result.summary.contains("2100-01-01T00:00:00Z"), "{}", result.summary);
    let server = world.turso.database_server("users");
    assert!(server
        .requests()
        .iter()
        .all(|r| r.header("authorization") != Some(&format!("Bearer {previous}"))));
}

/// The error of a verification that fails with the fake's refusals in `shape`.
fn verification_error(shape: LibsqlErrors, exp: Option<Value>, database_url: Option<&str>) -> String {
    let world = world();
    world.turso.libsql_errors(shape);
    if let Some(exp) = exp {
        world.turso.set_exp_claim("prod", exp);
    }
    let mut runner = database_runner(&world).input("timeout", "6s");
    if let Some(db) = database_url {
        runner = runner.input("database-url", &world.turso.database_url(db));
    }
    let result = runner.run();
    result.assert_exit(1);
    result.error_line().to_owned()
}

#[test]
fn each_refusal_of_the_verification_names_its_cause() {
    for shape in [LibsqlErrors::Text, LibsqlErrors::Coded] {
        // A token of `users` on `orders`: not signed by a key it knows.
        let invalid = verification_error(shape, None, Some("orders"));
        assert!(invalid.contains("signed by an old key"), "{shape:?}: {invalid}");
        let expired = verification_error(shape, Some(json!(1)), None);
        assert!(expired.contains("has expired"), "{shape:?}: {expired}");
        assert!(!expired.contains("old key"), "{shape:?}: {expired}");
    }
}

#[test]
fn a_failed_verification_names_the_databases_allow_rules() {
    let world = world();
    world.turso.set_allow_rules("users", &["10.0.0.0/8"], &[]);
    world.turso.database_server("users").fault(
        Fault::new(
            "POST",
            "/v2/pipeline",
            FaultAction::status(403, r#"{"error":"Authorization forbidden: address not allowed"}"#),
        )
        .always(),
    );
    let result = database_runner(&world).input("timeout", "6s").run();
    result.assert_exit(1);
    let error = result.error_line();
    assert!(error.contains("allow rules (allowed_ips)"), "{error}");
    assert!(error.contains("`verify: false`"), "{error}");
    assert_eq!(world.turso.count("GET", "/configuration"), 1, "read once");
}
