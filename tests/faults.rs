//! Fault injection: transient failures are retried, hung servers time out,
//! and once the group's tokens are dead nothing is lost.

mod common;

use std::time::Duration;

use common::world::{leaks, World, API_TOKEN, GH_TOKEN};
use common::{Fault, FaultAction};

#[test]
fn two_503s_then_success() {
    let world = World::new();
    world.turso.fault(
        Fault::new(
            "POST",
            "/auth/tokens",
            FaultAction::status(503, r#"{"error":"unavailable"}"#),
        )
        .times(2),
    );
    let result = world.runner().run();
    result.assert_exit(0);
    assert_eq!(world.turso.count("POST", "/auth/tokens"), 3);
    assert_eq!(
        result.stderr.matches("retrying creating a token").count(),
        2,
        "{}",
        result.stderr
    );
    assert!(result.stderr.contains("HTTP 503"));
    let token = result.output("token").unwrap();
    assert_eq!(world.secret().as_deref(), Some(token));
    assert!(world.turso.token_valid("prod", token));
    leaks(&result, Some(token));
}

#[test]
fn retry_after_is_honoured() {
    let world = World::new();
    world.github.fault(Fault::new(
        "PUT",
        "TURSO_AUTH_TOKEN",
        FaultAction::status_with(429, "{}", &[("Retry-After", "1")]),
    ));
    let result = world.runner().run();
    result.assert_exit(0);
    let puts: Vec<_> = world
        .github
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with("TURSO_AUTH_TOKEN"))
        .collect();
    assert_eq!(puts.len(), 2);
    let waited = puts[1].at.duration_since(puts[0].at);
    assert!(waited >= Duration::from_secs(1), "waited only {waited:?}");
    assert!(result.stderr.contains("in 1.0s"), "{}", result.stderr);
}

#[test]
fn rate_limit_reset_past_the_deadline_fails_in_preflight() {
    let world = World::new();
    let reset = (std::time::SystemTime::now() + Duration::from_secs(3600))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    world.github.fault(Fault::new(
        "GET",
        "/public-key",
        FaultAction::status_with(
            403,
            r#"{"message":"API rate limit exceeded"}"#,
            &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset)],
        ),
    ));
    let result = world.runner().run();
    result.assert_exit(1);
    assert!(result.elapsed < Duration::from_secs(10));
    assert!(
        result.stdout.contains("rate limit") && result.stdout.contains("nothing was rotated"),
        "{}",
        result.stdout
    );
    assert_eq!(world.turso.rotations("prod"), 0);
}

#[test]
fn a_server_that_never_answers_times_out_within_the_deadline() {
    for (api, method, path) in [("turso", "POST", "/auth/rotate"), ("github", "GET", "/public-key")] {
        let world = World::new();
        let server = if api == "turso" { &*world.turso } else { &*world.github };
        server.fault(Fault::new(method, path, FaultAction::Hang).always());
        let result = world
            .runner()
            .input("timeout", "4s")
            .timeout(Duration::from_secs(30))
            .run();
        result.assert_exit(1);
        assert!(
            result.elapsed < Duration::from_secs(8),
            "{api}: took {:?}",
            result.elapsed
        );
        assert!(
            result.stdout.contains("timed out") || result.stdout.contains("deadline"),
            "{api}: {}",
            result.stdout
        );
        let state = if api == "turso" {
            "Tokens invalidated: unknown"
        } else {
            "nothing was rotated"
        };
        assert!(result.stdout.contains(state), "{api}: {}", result.stdout);
        leaks(&result, None);
    }
}

#[test]
fn failed_write_after_rotation_hands_the_token_on_and_a_rerun_recovers() {
    let world = World::new();
    world.github.fault(
        Fault::new(
            "PUT",
            "TURSO_AUTH_TOKEN",
            FaultAction::status(502, r#"{"message":"Bad gateway"}"#),
        )
        .always(),
    );
    let runner = world.runner().input("max-attempts", "2");
    let result = runner.run();
    result.assert_exit(1);
    let token = result.output("token").expect("the token is still handed on");
    assert!(world.turso.token_valid("prod", token), "the handed-on token works");
    assert_eq!(result.output("secret-updated"), Some("false"));
    assert_eq!(result.masked(), [token]);
    let error = result.error_line();
    for needle in [
        "Tokens invalidated: yes",
        "new token created: yes",
        "secret written: no",
        "`token` output",
        "HTTP 502",
    ] {
        assert!(error.contains(needle), "{needle}: {error}");
    }
    assert_eq!(world.secret(), None);
    leaks(&result, Some(token));

    // Re-running the workflow is safe: it rotates again and writes.
    world.github.clear_faults();
    let rerun = runner.run();
    rerun.assert_exit(0);
    let new_token = rerun.output("token").unwrap();
    assert_eq!(world.secret().as_deref(), Some(new_token));
    assert!(world.turso.token_valid("prod", new_token));
    assert!(
        !world.turso.token_valid("prod", token),
        "the first run's token died with the re-run"
    );
}

#[test]
fn outside_actions_a_failed_write_saves_the_token_to_a_private_file() {
    let world = World::new();
    world.fail_writes("TURSO_AUTH_TOKEN");
    let runner = world.runner().outside_actions().input("max-attempts", "1");
    let result = runner.run();
    result.assert_exit(1);
    let path = result.workspace.join("turso-rotate-prod.token");
    let (_, saved) = result
        .files
        .iter()
        .find(|(p, _)| *p == path)
        .expect("token file written");
    let saved = String::from_utf8(saved.clone()).unwrap();
    assert!(world.turso.token_valid("prod", saved.trim()));
    assert!(result.stderr.contains("turso-rotate-prod.token"), "{}", result.stderr);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    result.assert_no_leak_except(&[API_TOKEN, GH_TOKEN, saved.trim()], &[&path]);
}

#[test]
fn create_failing_after_rotation_says_what_state_the_group_is_in() {
    let world = World::new();
    world
        .turso
        .fault(Fault::new("POST", "/auth/tokens", FaultAction::status(500, "{}")).always());
    let result = world.runner().input("max-attempts", "2").run();
    result.assert_exit(1);
    assert_eq!(world.turso.rotations("prod"), 1);
    assert!(result.output("token").is_none());
    assert_eq!(result.output("secret-updated"), Some("false"));
    let error = result.error_line();
    assert!(
        error.contains("Tokens invalidated: yes; new token created: no; secret written: no"),
        "{error}"
    );
    assert!(error.contains("re-run the workflow, it is safe"), "{error}");
}

#[test]
fn huge_garbage_bodies_are_a_clean_error() {
    for (api, method, path) in [("turso", "POST", "/auth/tokens"), ("github", "GET", "/public-key")] {
        let world = World::new();
        let server = if api == "turso" { &*world.turso } else { &*world.github };
        server.fault(
            Fault::new(
                method,
                path,
                FaultAction::Garbage {
                    status: 200,
                    bytes: 5 << 20,
                },
            )
            .always(),
        );
        let result = world.runner().run();
        result.assert_exit(1);
        assert!(result.stdout.contains("unexpected answer"), "{api}: {}", result.stdout);
        assert!(!result.stderr.contains("panicked"), "{api}: {}", result.stderr);
        assert!(result.stdout.len() < 4096, "{api}: the body is not echoed whole");
        leaks(&result, None);
    }
}

#[test]
fn error_bodies_that_echo_the_token_are_scrubbed() {
    let world = World::new();
    world.turso.fault(Fault::new(
        "GET",
        "/groups/prod",
        FaultAction::status(401, &format!(r#"{{"error":"bad header: Bearer {API_TOKEN}"}}"#)),
    ));
    let result = world.runner().run();
    result.assert_exit(1);
    assert!(result.stdout.contains("Bearer ***"), "{}", result.stdout);
    leaks(&result, None);
}

#[test]
fn a_probe_already_deleted_by_an_overlapping_run_is_no_warning_but_a_stuck_one_is() {
    let world = World::new();
    world.github.fault(Fault::new(
        "DELETE",
        "TURSO_ROTATE_PROBE",
        FaultAction::status(404, r#"{"message":"Not Found"}"#),
    ));
    let result = world.runner().run();
    result.assert_exit(0);
    assert!(!result.stdout.contains("::warning::"), "{}", result.stdout);

    world.github.fault(Fault::new(
        "DELETE",
        "TURSO_ROTATE_PROBE",
        FaultAction::status(403, r#"{"message":"Forbidden"}"#),
    ));
    let result = world.runner().run();
    result.assert_exit(0);
    let warning = result
        .stdout
        .lines()
        .find(|l| l.starts_with("::warning::"))
        .expect("a warning");
    assert!(warning.contains("delete TURSO_ROTATE_PROBE by hand"), "{warning}");
}
