//! Answers that were lost, runs that are stopped, clocks that are wrong
//! (SPEC, "Answers that were lost, requests that act once, and signals"):
//! a rotate call that acted but whose answer never came back still ends
//! with a new token written and the outcome `unknown`; the token is handed
//! on the moment it exists; SIGTERM before any change stops the run with
//! nothing changed, after it the run finishes what it must; the failure
//! notification survives a spent deadline.

mod common;

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use common::world::{World, API_TOKEN, GH_TOKEN};
use common::{FakeCloudflare, Fault, FaultAction, Journal, Scope, Webhook};

const HOOK_PATH: &str = "/hooks/rotation";

/// Waits (bounded) until `ready` holds; panics when it never does.
fn wait_for(what: &str, ready: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_secs(20);
    while !ready() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// The secret's write has reached the fake GitHub.
fn written(journal: &Journal) -> bool {
    journal.position("github", "PUT", "/TURSO_AUTH_TOKEN").is_some()
}

fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) with a child's pid that is still running (the runner
    // reaps it only after this thread is joined).
    let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal})");
}

#[test]
fn a_rotate_call_that_acted_but_lost_every_answer_still_ends_with_a_new_token_written() {
    let world = World::new();
    let old = world.turso.issue_token("prod");
    // Every attempt invalidates, then the gateway answers 502.
    world
        .turso
        .fault(Fault::new("POST", "/auth/rotate", FaultAction::after_acting(502)).always());
    let result = world.runner().input("max-attempts", "2").run();
    result.assert_exit(1);
    assert!(!world.turso.token_valid("prod", &old), "the rotate call acted");
    let token = result.output("token").expect("the new token is handed on");
    assert!(world.turso.token_valid("prod", token), "the new token is alive");
    assert_eq!(world.secret().as_deref(), Some(token), "and written");
    assert_eq!(result.output("invalidated"), Some("unknown"));
    assert_eq!(result.output("secret-updated"), Some("true"));
    let error = result.error_line();
    assert!(error.contains("invalidation outcome unknown"), "{error}");
    assert!(!result.stdout.contains("Nothing changed"), "{}", result.stdout);
    assert!(
        result.summary.contains("invalidation outcome unknown"),
        "{}",
        result.summary
    );
}

#[test]
fn a_refusal_after_a_lost_answer_is_never_nothing_changed() {
    let world = World::new();
    let old = world.turso.issue_token("prod");
    world
        .turso
        .fault(Fault::new("POST", "/auth/rotate", FaultAction::after_acting(504)));
    world.turso.fault(Fault::new(
        "POST",
        "/auth/rotate",
        FaultAction::status(409, r#"{"error":"a rotation is already in progress"}"#),
    ));
    let result = world.runner().run();
    result.assert_exit(1);
    assert!(!world.turso.token_valid("prod", &old));
    let token = result
        .output("token")
        .unwrap_or_else(|| panic!("no token\n{}", result.stdout));
    assert!(world.turso.token_valid("prod", token));
    assert_eq!(world.secret().as_deref(), Some(token));
    assert_eq!(result.output("invalidated"), Some("unknown"));
    assert!(!result.stdout.contains("Nothing changed"), "{}", result.stdout);
}

#[test]
fn a_rotate_call_refused_outright_changed_nothing() {
    let world = World::new();
    world.turso.fault(Fault::new(
        "POST",
        "/auth/rotate",
        FaultAction::status(403, r#"{"error":"forbidden"}"#),
    ));
    let result = world.runner().run();
    result.assert_exit(1);
    assert_eq!(result.output("invalidated"), Some("false"));
    assert!(result.error_line().contains("Nothing changed"), "{}", result.stdout);
    assert_eq!(world.turso.count("POST", "/auth/tokens"), 0);
}

#[test]
fn sigterm_before_any_change_stops_at_once_with_nothing_changed() {
    let world = World::new();
    world
        .github
        .fault(Fault::new("GET", "/public-key", FaultAction::Hang).always());
    let journal = world.journal.clone();
    let result = world.runner().run_while(move |pid| {
        wait_for("the public-key request", || {
            journal.position("github", "GET", "/public-key").is_some()
        });
        signal(pid, libc::SIGTERM);
    });
    result.assert_exit(1);
    assert!(
        result.elapsed < Duration::from_secs(20),
        "stopped at once: {:?}",
        result.elapsed
    );
    assert_eq!(world.turso.rotations("prod"), 0);
    assert_eq!(world.turso.count("POST", "/auth/tokens"), 0);
    assert!(result.error_line().contains("nothing was rotated"), "{}", result.stdout);
}

#[test]
fn sigterm_during_a_hung_write_finishes_it_and_hands_the_token_on() {
    let world = World::new();
    world.fail_writes_with(FaultAction::Hang);
    let journal = world.journal.clone();
    let result = world.runner().input("timeout", "6s").run_while(move |pid| {
        wait_for("the secret write", || written(&journal));
        signal(pid, libc::SIGTERM);
    });
    result.assert_exit(1);
    let token = result.output("token").expect("the token output");
    assert!(world.turso.token_valid("prod", token));
    assert_eq!(
        world.github.count("PUT", "/TURSO_AUTH_TOKEN"),
        1,
        "no new attempt after the signal"
    );
    assert!(
        result.stdout.contains("stopped by SIGINT or SIGTERM"),
        "{}",
        result.stdout
    );
    assert!(result.stdout.contains("Tokens invalidated: yes"), "{}", result.stdout);
}

#[test]
fn a_run_killed_after_the_creation_has_already_handed_the_token_on() {
    let world = World::new();
    world.fail_writes_with(FaultAction::Hang);
    let journal = world.journal.clone();
    let result = world.runner().run_while(move |pid| {
        wait_for("the secret write", || written(&journal));
        signal(pid, libc::SIGKILL);
    });
    assert_eq!(result.code, None, "killed");
    let token = result
        .output("token")
        .expect("the masked token output, written at once");
    assert!(world.turso.token_valid("prod", token));
}

/// The token file in `dir`, if there is one.
fn token_file(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join("turso-rotate-prod.token"))
        .ok()
        .map(|t| t.trim().to_owned())
}

#[test]
fn outside_actions_the_token_file_holds_the_token_until_every_target_does() {
    let world = World::new();
    world.fail_writes_with(FaultAction::Hang);
    let journal = world.journal.clone();
    let runner = world.runner().outside_actions();
    let workspace = runner.workspace().to_owned();
    let result = runner.run_while(move |pid| {
        wait_for("the secret write", || written(&journal));
        signal(pid, libc::SIGKILL);
    });
    assert_eq!(result.code, None, "killed");
    let saved = token_file(&workspace).expect("the token file, written at once");
    assert!(world.turso.token_valid("prod", &saved));

    // Once every target holds the token, no file is left behind.
    world.github.clear_faults();
    let runner = world.runner().outside_actions();
    let workspace = runner.workspace().to_owned();
    runner.run().assert_exit(0);
    assert_eq!(token_file(&workspace), None, "the token file is removed");
    assert!(world.secret().is_some_and(|s| world.turso.token_valid("prod", &s)));
}

#[test]
fn the_failure_notification_goes_out_after_the_writes_spent_the_deadline() {
    let world = World::new();
    let hook = Webhook::start(HOOK_PATH).with_journal(&world.journal);
    world.fail_writes_with(FaultAction::Hang);
    let result = world
        .runner()
        .input("timeout", "5s")
        .input("notify-url", &hook.notify_url())
        .run();
    result.assert_exit(1);
    let messages = hook.messages();
    assert_eq!(messages.len(), 1, "the channel hears of it\n{}", result.stderr);
    assert_eq!(messages[0].json()["type"], "turso.token.rotation_failed");
}

#[test]
fn a_delivery_failure_with_nothing_written_says_none() {
    let world = World::new();
    let hook = Webhook::start(HOOK_PATH).answering(400);
    world.github.fault(
        Fault::new(
            "PUT",
            "/TURSO_AUTH_TOKEN",
            FaultAction::status(422, r#"{"message":"no"}"#),
        )
        .always(),
    );
    let result = world.runner().input("notify-url", &hook.notify_url()).run();
    result.assert_exit(1);
    assert!(
        result.stdout.contains("Groups whose secrets were written: none"),
        "{}",
        result.stdout
    );
}

#[test]
fn a_secret_written_in_the_future_is_due_with_a_warning() {
    let world = World::new();
    let scope = Scope::repo("acme/app");
    world.github.set_secret(&scope, "TURSO_AUTH_TOKEN", "old");
    let ahead = humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(86_400)).to_string();
    world.github.set_secret_updated_at(&scope, "TURSO_AUTH_TOKEN", &ahead);
    let result = world.runner().input("rotate-after", "7d").run();
    result.assert_exit(0);
    assert_eq!(result.output("rotated"), Some("true"));
    assert_eq!(world.secret().as_deref(), result.output("token"));
    assert!(
        result
            .stdout
            .lines()
            .any(|l| l.starts_with("::warning::") && l.contains("ahead of this machine's clock")),
        "{}",
        result.stdout
    );
}

#[test]
fn dispatch_token_alone_sends_dispatches_for_a_run_without_github_targets() {
    const CF_TOKEN: &str = "cf-api-token-0123456789";
    const DISPATCH_TOKEN: &str = "ghp_dispatchonly0123456789";
    let world = World::new();
    world.github.add_repo("acme/deploy");
    world.github.allow_dispatch_token(DISPATCH_TOKEN);
    let cloudflare = FakeCloudflare::start(CF_TOKEN).with_journal(&world.journal);
    cloudflare.add_worker("0123456789abcdef0123456789abcdef", "api");
    let result = world
        .runner()
        .secrets(&[API_TOKEN, GH_TOKEN, CF_TOKEN, DISPATCH_TOKEN])
        .input("secret-name", "")
        .input("github-token", "")
        .input(
            "secrets",
            "cloudflare:0123456789abcdef0123456789abcdef:api:TURSO_AUTH_TOKEN",
        )
        .input("cloudflare-api-token", CF_TOKEN)
        .input("cloudflare-api-url", &cloudflare.api_url())
        .input("dispatch", "repository:acme/deploy")
        .input("dispatch-token", DISPATCH_TOKEN)
        .run();
    result.assert_exit(0);
    let dispatches = world.github.dispatches();
    assert_eq!(dispatches.len(), 1, "{}", result.stdout);
    assert_eq!(dispatches[0].token, DISPATCH_TOKEN);
    assert!(!result.stdout.contains("github-token") && !result.stderr.contains("github-token"));
}

#[test]
fn sigterm_during_a_report_stops_it_at_once_with_exit_1() {
    let world = World::new();
    world
        .github
        .fault(Fault::new("GET", "/TURSO_AUTH_TOKEN", FaultAction::Hang).always());
    let journal = world.journal.clone();
    let result = world.runner().input("mode", "report").run_while(move |pid| {
        wait_for("the secret's metadata read", || {
            journal.position("github", "GET", "/TURSO_AUTH_TOKEN").is_some()
        });
        signal(pid, libc::SIGTERM);
    });
    result.assert_exit(1);
    assert!(result.error_line().contains("nothing was rotated"), "{}", result.stdout);
}

#[test]
fn a_lost_rotate_answer_then_a_failed_create_says_unknown_everywhere() {
    let world = World::new();
    let hook = Webhook::start(HOOK_PATH).with_journal(&world.journal);
    world
        .turso
        .fault(Fault::new("POST", "/auth/rotate", FaultAction::after_acting(502)).always());
    world.turso.fault(
        Fault::new(
            "POST",
            "/auth/tokens",
            FaultAction::status(403, r#"{"error":"forbidden"}"#),
        )
        .always(),
    );
    let result = world
        .runner()
        .input("max-attempts", "2")
        .input("notify-url", &hook.notify_url())
        .run();
    result.assert_exit(1);
    assert_eq!(result.output("invalidated"), Some("unknown"));
    let error = result.error_line();
    assert!(error.contains("Tokens invalidated: unknown"), "{error}");
    assert!(
        result.summary.contains("invalidation outcome unknown"),
        "{}",
        result.summary
    );
    let messages = hook.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].json()["data"]["invalidated"],
        "unknown",
        "{}",
        messages[0].json()
    );
}

#[test]
fn sigterm_during_a_dispatch_sends_nothing_more_and_still_reports() {
    let world = World::new();
    world.github.add_repo("acme/deploy");
    let hook = Webhook::start(HOOK_PATH).with_journal(&world.journal);
    world
        .github
        .fault(Fault::new("POST", "/dispatches", FaultAction::Hang).always());
    let journal = world.journal.clone();
    let result = world
        .runner()
        .input("timeout", "6s")
        .input("dispatch", "repository:acme/deploy")
        .input("notify-url", &hook.notify_url())
        .run_while(move |pid| {
            wait_for("the dispatch", || {
                journal.position("github", "POST", "/dispatches").is_some()
            });
            signal(pid, libc::SIGTERM);
        });
    result.assert_exit(1);
    assert!(hook.messages().is_empty(), "nothing new starts after the signal");
    assert_eq!(
        result.output("secret-updated"),
        Some("true"),
        "the state is still written"
    );
    let notify = result.results_entry("target", &format!("notify:{}", "127.0.0.1"));
    assert!(
        notify["error"].as_str().unwrap_or_default().contains("not sent"),
        "{notify}"
    );
}
