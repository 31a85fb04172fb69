//! The safety revision (SPEC, Revisions 2026-11-29), end to end: the probe
//! value is text; no printed line holds `##[`; no server data makes the run
//! panic; `groups` preflight is per group; a token that fails verification
//! after an invalidation is still written; `database-url` carries no
//! credentials; the deadline never strands a group; bodiless POSTs send
//! `Content-Length: 0`; a renamed repository's 301 is followed once, on the
//! same host; `GH_TOKEN`/`GITHUB_TOKEN` outside Actions; files are written
//! safely (token file by rename, no symlinks followed, summary and audit
//! failures are warnings).

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::world::{World, GH_TOKEN};
use common::{FakeGitHub, Fault, FaultAction, RunResult, Scope};
use serde_json::{json, Value};

/// Server text that would stop the runner obeying commands (the runner also
/// reads the old `##[command]` syntax anywhere in a line).
const STOP_COMMANDS: &str = "x ##[stop-commands]abc";

fn assert_no_old_style_command(result: &RunResult, case: &str) {
    for (stream, text) in [("stdout", &result.stdout), ("stderr", &result.stderr)] {
        if let Some(line) = text.lines().find(|l| l.contains("##[")) {
            panic!("{case}: a line of {stream} holds `##[`: {line}");
        }
    }
}

fn warnings(result: &RunResult) -> Vec<String> {
    result
        .stdout
        .lines()
        .filter(|l| l.starts_with("::warning::"))
        .map(str::to_lowercase)
        .collect()
}

/// The token file's content, trimmed, or `None` when there is no regular file.
fn token_file(path: &Path) -> Option<String> {
    let meta = fs::symlink_metadata(path).ok()?;
    meta.is_file()
        .then(|| fs::read_to_string(path).ok())
        .flatten()
        .map(|t| t.trim().to_owned())
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_probe_value_is_printable_text() {
    let world = World::new();
    let result = world.runner().run();
    result.assert_exit(0);
    let probe = world.github.last_probe_plaintext().expect("a probe was written");
    assert!(
        !probe.is_empty() && probe.iter().all(u8::is_ascii_graphic),
        "the probe is printable ASCII: {probe:?}"
    );
    assert_eq!(world.secret().as_deref(), result.output("token"));
}

#[test]
fn server_text_never_prints_an_old_style_command() {
    // A 503 whose body a retry line may quote, before the mask: the run goes on.
    let world = World::new();
    let turso_body = json!({ "error": STOP_COMMANDS }).to_string();
    let github_body = json!({ "message": STOP_COMMANDS }).to_string();
    world
        .turso
        .fault(Fault::new("GET", "/groups/prod", FaultAction::status(503, &turso_body)));
    world
        .github
        .fault(Fault::new("GET", "/public-key", FaultAction::status(503, &github_body)));
    let result = world.runner().run();
    result.assert_exit(0);
    assert_no_old_style_command(&result, "503 then success");
    assert_eq!(
        result.masked().len(),
        1,
        "the mask line is still printed:\n{}",
        result.stdout
    );

    // A final error body, under Actions and in a terminal.
    let world = World::new();
    world
        .turso
        .fault(Fault::new("GET", "/groups/prod", FaultAction::status(404, &turso_body)).always());
    for runner in [world.runner(), world.runner().outside_actions()] {
        let result = runner.run();
        result.assert_exit(1);
        assert_no_old_style_command(&result, "error body");
    }

    // A 301 whose Location is no URL.
    let world = World::new();
    world.github.redirect_repo("acme/app", STOP_COMMANDS);
    let result = world
        .runner()
        .input("scope", "organization")
        .input("selected-repositories", "app")
        .run();
    result.assert_exit(1);
    assert_no_old_style_command(&result, "Location header");
    assert_eq!(world.turso.rotations("prod"), 0);
}

#[test]
fn a_hostile_exp_claim_is_an_unknown_expiry_not_a_panic() {
    for exp in [json!(300_000_000_000u64), json!(u64::MAX), json!(1e30), json!(-5)] {
        let world = World::new();
        world.turso.set_exp_claim("prod", exp.clone());
        let result = world.runner().run();
        result.assert_exit(0);
        let token = result.output("token").expect("token output");
        assert_eq!(world.turso.claims(token)["exp"], exp);
        assert_eq!(world.secret().as_deref(), Some(token), "exp {exp}");
        assert_eq!(result.output("expires-at"), Some(""), "exp {exp}");
        assert!(
            warnings(&result)
                .iter()
                .any(|w| w.contains("expir") && w.contains("unknown")),
            "exp {exp}: no warning of an unknown expiry\n{}",
            result.stdout
        );
    }
}

#[test]
fn a_hostile_exp_claim_in_one_group_spares_the_others() {
    let world = World::new();
    world.turso.add_group("staging");
    world.turso.set_exp_claim("staging", json!(u64::MAX));
    let result = world
        .groups_runner("prod=TURSO_PROD_TOKEN\nstaging=TURSO_STAGING_TOKEN")
        .run();
    result.assert_exit(0);
    for (group, secret) in [("prod", "TURSO_PROD_TOKEN"), ("staging", "TURSO_STAGING_TOKEN")] {
        let token = result.output(&format!("token-{group}")).expect("token-<group>");
        assert_eq!(
            world.github.secret(Scope::repo("acme/app"), secret).as_deref(),
            Some(token),
            "{group}"
        );
    }
}

#[test]
fn the_token_file_directory_is_checked_before_any_rotation() {
    let world = World::new();
    let result = world
        .runner()
        .outside_actions()
        .input("token-file", "missing/dir/prod.token")
        .run();
    assert!(
        matches!(result.code, Some(1 | 2)),
        "exit {:?}\n{}",
        result.code,
        result.stderr
    );
    assert!(
        result.stderr.contains("missing/dir"),
        "the error names the path: {}",
        result.stderr
    );
    assert_eq!(world.turso.rotations("prod"), 0);
    assert_eq!(world.turso.count("POST", "/"), 0, "{:?}", world.journal.calls());
}

#[test]
fn a_saved_token_file_is_private_and_replaces_the_previous_one() {
    let world = World::new();
    world.fail_writes("TURSO_AUTH_TOKEN");
    let runner = world.runner().outside_actions().input("max-attempts", "1");
    let path = runner.workspace().join("turso-rotate-prod.token");
    let copy = runner.workspace().join("previous-copy.txt");
    fs::write(&path, "previous-token\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    fs::hard_link(&path, &copy).unwrap();
    let result = runner.run();
    result.assert_exit(1);
    let saved = token_file(&path).expect("a regular token file");
    assert!(world.turso.token_valid("prod", &saved), "the file holds the new token");
    assert_eq!(mode(&path), 0o600);
    assert_eq!(
        fs::read_to_string(&copy).unwrap(),
        "previous-token\n",
        "a new file was renamed over the path, not the old one rewritten"
    );
    assert!(
        result.stderr.contains("turso-rotate-prod.token") && result.stderr.contains("saved"),
        "{}",
        result.stderr
    );
}

#[test]
fn a_symlink_at_the_token_file_path_is_replaced_not_followed() {
    let world = World::new();
    world.fail_writes("TURSO_AUTH_TOKEN");
    let runner = world.runner().outside_actions().input("max-attempts", "1");
    let path = runner.workspace().join("turso-rotate-prod.token");
    let target = runner.workspace().join("precious.txt");
    fs::write(&target, "precious\n").unwrap();
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let result = runner.run();
    result.assert_exit(1);
    assert_eq!(
        fs::read_to_string(&target).unwrap(),
        "precious\n",
        "the link was followed"
    );
    let saved = token_file(&path).expect("the symlink was replaced by a regular file");
    assert!(world.turso.token_valid("prod", &saved));
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn the_failure_message_says_saved_only_when_the_token_was() {
    let world = World::new();
    world.fail_writes("TURSO_AUTH_TOKEN");
    let runner = world
        .runner()
        .outside_actions()
        .input("max-attempts", "1")
        .input("token-file", "tokens/prod.token");
    let dir = runner.workspace().join("tokens");
    fs::create_dir(&dir).unwrap();
    // The directory passes the preflight check, then vanishes before the save.
    let gone = dir.clone();
    world
        .github
        .on_request("PUT", "TURSO_AUTH_TOKEN", move || fs::remove_dir_all(gone).unwrap());
    let result = runner.run();
    result.assert_exit(1);
    assert_eq!(world.turso.rotations("prod"), 1);
    assert!(!dir.exists());
    for line in result.stderr.lines().filter(|l| l.starts_with("error:")) {
        for sentence in line.split(". ").filter(|s| s.contains("saved")) {
            assert!(
                sentence.contains("not") || sentence.contains("fail"),
                "claims a save that failed: {sentence}"
            );
        }
    }
}

#[test]
fn an_audit_file_symlink_is_not_followed_and_only_warns() {
    let world = World::new();
    let runner = world.runner().input("audit-file", "audit.jsonl");
    let target = runner.workspace().join("precious.txt");
    fs::write(&target, "precious\n").unwrap();
    std::os::unix::fs::symlink(&target, runner.workspace().join("audit.jsonl")).unwrap();
    let result = runner.run();
    result.assert_exit(0);
    assert_eq!(world.secret().as_deref(), result.output("token"));
    assert_eq!(
        fs::read_to_string(&target).unwrap(),
        "precious\n",
        "the link was followed"
    );
    assert!(
        warnings(&result).iter().any(|w| w.contains("audit")),
        "{}",
        result.stdout
    );
}

#[test]
fn a_long_retry_after_on_rotate_does_not_strand_the_group() {
    let world = World::new();
    world.turso.fault(Fault::new(
        "POST",
        "/auth/rotate",
        FaultAction::status_with(503, r#"{"error":"busy"}"#, &[("Retry-After", "16")]),
    ));
    let result = world.runner().input("timeout", "20s").run();
    result.assert_exit(1);
    assert_eq!(
        world.turso.count("POST", "/auth/rotate"),
        1,
        "no second rotate attempt that would leave too little time to create and write"
    );
    let error = result.error_line();
    assert!(
        !(error.contains("Tokens invalidated: yes") && error.contains("new token created: no")),
        "{error}"
    );
}

#[test]
fn verification_retries_leave_time_to_write_the_token() {
    let world = World::new();
    world.turso.add_group("other");
    world.turso.add_database("other", "elsewhere");
    // A database of another group refuses this group's token with 401, forever.
    let result = world
        .runner()
        .input("database-url", &world.turso.database_url("elsewhere"))
        .input("timeout", "20s")
        .run();
    result.assert_exit(1);
    let token = result.output("token").expect("token output");
    assert_eq!(
        world.secret().as_deref(),
        Some(token),
        "after an invalidation the new token can only be better than a dead one"
    );
    let error = result.error_line().to_lowercase();
    assert!(
        error.contains("verification") && error.contains("fail"),
        "says verification failed: {error}"
    );
    let started = world.journal.entries()[0].1.at;
    let write = world
        .github
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT" && r.path.ends_with("/TURSO_AUTH_TOKEN"))
        .expect("the secret was written");
    assert!(
        write.at.duration_since(started) < Duration::from_secs(20),
        "written {:?} after the first request",
        write.at.duration_since(started)
    );
}

#[test]
fn a_database_url_with_credentials_a_query_or_a_fragment_is_bad_input_and_not_echoed() {
    let world = World::new();
    for url in [
        "https://user:pw@db.example.com",
        "libsql://db-acme.turso.io?authToken=eyJhbGciOiJFZERTQSJ9.SECRETPART",
        "https://db-acme.turso.io/#authToken=SECRETPART",
    ] {
        let result = world.runner().input("database-url", url).input("timeout", "10s").run();
        result.assert_exit(2);
        assert!(result.error_line().contains("`database-url`"), "{}", result.stdout);
        assert_eq!(world.requests(), 0, "{url}: a request was made");
        for needle in ["SECRETPART", "pw@", "authToken"] {
            assert!(
                !result.stdout.contains(needle) && !result.stderr.contains(needle),
                "{url}: {needle} echoed"
            );
        }
    }
}

#[test]
fn an_unwritable_step_summary_is_a_warning() {
    let world = World::new();
    for unwritable in ["missing/summary.md", "."] {
        let runner = world.runner().input("audit-file", "audit.jsonl");
        let summary = runner.runner_temp().join(unwritable);
        let runner = runner.env("GITHUB_STEP_SUMMARY", summary.to_str().unwrap());
        let result = runner.run();
        result.assert_exit(0);
        assert_eq!(result.output("secret-updated"), Some("true"), "{unwritable}");
        assert_eq!(world.secret().as_deref(), result.output("token"));
        assert!(
            warnings(&result).iter().any(|w| w.contains("summary")),
            "{unwritable}: {}",
            result.stdout
        );
        let audit = fs::read_to_string(runner.workspace().join("audit.jsonl")).expect("the audit line");
        let line: Value = serde_json::from_str(audit.trim()).unwrap();
        assert_eq!(line["result"], "rotated");
    }
}

#[test]
fn an_unwritable_outputs_file_sends_the_token_to_the_token_file() {
    let world = World::new();
    world.fail_writes("TURSO_AUTH_TOKEN");
    let runner = world.runner().input("max-attempts", "1");
    let output = runner.runner_temp().join("missing/output");
    let runner = runner.env("GITHUB_OUTPUT", output.to_str().unwrap());
    let result = runner.run();
    result.assert_exit(1);
    let saved =
        token_file(&runner.workspace().join("turso-rotate-prod.token")).expect("the token file in the workspace");
    assert!(world.turso.token_valid("prod", &saved));
    assert_eq!(result.masked(), [saved]);
    assert!(result.stdout.contains("Tokens invalidated: yes"), "{}", result.stdout);
}

#[test]
fn groups_preflight_is_per_group_but_a_bad_api_token_stops_every_group() {
    let world = World::new();
    let result = world.groups_runner("prod=PROD_TOKEN\nmissing=MISSING_TOKEN").run();
    result.assert_exit(1);
    let token = result.output("token-prod").expect("prod was rotated");
    assert_eq!(
        world.github.secret(Scope::repo("acme/app"), "PROD_TOKEN").as_deref(),
        Some(token)
    );
    assert_eq!(world.github.secret(Scope::repo("acme/app"), "MISSING_TOKEN"), None);
    let results: Vec<Value> = serde_json::from_str(result.output("results").expect("results")).unwrap();
    let missing = results
        .iter()
        .find(|r| r["group"] == "missing")
        .expect("the missing group is reported");
    assert_eq!(missing["written"], false);
    assert!(missing["error"].as_str().is_some_and(|e| !e.is_empty()), "{missing}");
    assert!(
        result
            .stdout
            .lines()
            .any(|l| l.starts_with("::error::") && l.contains("`missing`")),
        "{}",
        result.stdout
    );

    // A failure common to all groups stops the run before any rotation.
    world.turso.add_group("staging");
    let result = world
        .groups_runner("prod=PROD_TOKEN\nstaging=STAGING_TOKEN")
        .input("api-token", "wrong-api-token")
        .run();
    result.assert_exit(1);
    assert_eq!(world.turso.rotations("prod"), 1, "prod was not rotated again");
    assert_eq!(world.turso.rotations("staging"), 0);
    assert!(result.stdout.contains("nothing was rotated"), "{}", result.stdout);
}

#[test]
fn outside_actions_the_github_token_falls_back_to_gh_token_then_github_token() {
    let world = World::new();
    let cases: [&[(&str, &str)]; 3] = [
        &[("GH_TOKEN", GH_TOKEN)],
        &[("GITHUB_TOKEN", GH_TOKEN)],
        &[("GH_TOKEN", GH_TOKEN), ("GITHUB_TOKEN", "ghs_not_this_one")],
    ];
    for vars in cases {
        let mut runner = world.runner().outside_actions().input("github-token", "");
        for (key, value) in vars {
            runner = runner.env(key, value);
        }
        let before = world.github.secret_writes("TURSO_AUTH_TOKEN");
        runner.run().assert_exit(0);
        assert_eq!(world.github.secret_writes("TURSO_AUTH_TOKEN"), before + 1, "{vars:?}");
    }

    // Under Actions a token comes from an input, never from the environment.
    world.turso.clear_requests();
    world.github.clear_requests();
    let result = world.runner().input("github-token", "").env("GH_TOKEN", GH_TOKEN).run();
    result.assert_exit(2);
    assert!(result.error_line().contains("`github-token`"), "{}", result.stdout);
    assert_eq!(world.requests(), 0);
}

#[test]
fn bodiless_posts_send_content_length_0() {
    let world = World::new();
    world.runner().run().assert_exit(0);
    for path in ["/auth/rotate", "/auth/tokens"] {
        let request = world
            .turso
            .requests()
            .into_iter()
            .find(|r| r.method == "POST" && r.path.ends_with(path))
            .expect("sent");
        assert_eq!(
            request.header("content-length"),
            Some("0"),
            "{path}: {:?}",
            request.headers
        );
        assert_eq!(
            request.header("transfer-encoding"),
            None,
            "{path}: {:?}",
            request.headers
        );
    }
}

#[test]
fn a_renamed_repository_is_followed_once_on_the_same_host_only() {
    let world = World::new();
    let id = world.github.add_repo("acme/old-name");
    world.github.rename_repo("acme/old-name", "acme/new-name");
    let result = world
        .runner()
        .input("scope", "organization")
        .input("selected-repositories", "old-name")
        .run();
    result.assert_exit(0);
    assert_eq!(world.github.org_secret_repositories("TURSO_AUTH_TOKEN"), Some(vec![id]));
    assert_eq!(world.github.count("GET", "/repos/acme/old-name"), 1);
    assert_eq!(world.github.count("GET", &format!("/repositories/{id}")), 1);

    // A Location on another host is not followed: the token would go there.
    let world = World::new();
    let elsewhere = FakeGitHub::start(GH_TOKEN);
    let moved = elsewhere.add_repo("acme/old-name");
    world.github.redirect_repo(
        "acme/old-name",
        &format!("http://localhost:{}/repositories/{moved}", elsewhere.port()),
    );
    let result = world
        .runner()
        .input("scope", "organization")
        .input("selected-repositories", "old-name")
        .run();
    result.assert_exit(1);
    assert!(elsewhere.requests().is_empty(), "the other host was called");
    assert_eq!(world.turso.rotations("prod"), 0);
    assert!(result.stdout.contains("nothing was rotated"), "{}", result.stdout);
}
