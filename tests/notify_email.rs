//! Email end to end: the binary tells `notify-email` over a real SMTP
//! server (aiosmtpd) on loopback, over TLS from the start and over
//! STARTTLS, with AUTH: one message, the right subject and body, never a
//! token, never the `smtp-url`; a transient 451 is retried, a permanent 550
//! fails the run with the secrets written and an `email:HOST` result.

mod common;

use std::sync::OnceLock;

use common::ca::TestCa;
use common::smtp::{Mode, Received, Running, SmtpServer, Stage};
use common::world::{World, API_TOKEN, GH_TOKEN};
use common::{RunResult, Runner};
use serde_json::Value;

const USER: &str = "rotator@example.com";
const PASSWORD: &str = "s3cret:p@ss/word";
const PASSWORD_ENCODED: &str = "s3cret%3Ap%40ss%2Fword";

fn ca() -> &'static TestCa {
    static CA: OnceLock<TestCa> = OnceLock::new();
    CA.get_or_init(TestCa::new)
}

fn server(mode: Mode) -> SmtpServer {
    SmtpServer::new(mode).auth(USER, PASSWORD)
}

fn smtp_url(server: &Running) -> String {
    server.url_with(&format!("{}:{PASSWORD_ENCODED}@", USER.replace('@', "%40")))
}

/// The world's runner with email to two recipients via `server`; every
/// output is scanned for the password and the URL.
fn emailing(world: &World, server: &Running) -> Runner {
    let url = smtp_url(server);
    world
        .runner()
        .secrets(&[API_TOKEN, GH_TOKEN, PASSWORD, PASSWORD_ENCODED, &url])
        .env("SSL_CERT_FILE", &ca().file().display().to_string())
        .input("notify-email", "ops@example.com, oncall@example.org")
        .input("smtp-url", &url)
}

fn only_message(server: &Running) -> Received {
    let got = server.messages();
    assert_eq!(got.len(), 1, "one message: {got:?}");
    got.into_iter().next().unwrap()
}

fn email_result(result: &RunResult) -> Value {
    let results: Value = serde_json::from_str(result.output("results").expect("results")).unwrap();
    results
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["target"] == "email:127.0.0.1")
        .cloned()
        .unwrap_or_else(|| panic!("no email result: {results}"))
}

/// A rotation's message: to both, authenticated, encrypted, the facts and
/// the table, no token.
fn assert_rotation_message(got: &Received, result: &RunResult) {
    assert_eq!(got.rcpt_tos, ["ops@example.com", "oncall@example.org"]);
    assert_eq!(got.auth_user.as_deref(), Some(USER));
    assert!(got.tls, "encrypted");
    assert_eq!(got.mail_from, USER, "the sender defaults to the SMTP user");
    assert_eq!(
        got.header("Subject").as_deref(),
        Some("Turso tokens rotated: acme/prod")
    );
    assert!(
        got.header("Message-ID").is_some() && got.header("Date").is_some(),
        "{}",
        got.raw
    );
    let body = got.body();
    assert!(body.contains("Turso tokens rotated in acme"), "{body}");
    assert!(
        body.contains("Organization") && body.contains("TURSO_AUTH_TOKEN in repository acme/app"),
        "{body}"
    );
    let token = result.output("token").expect("a token");
    assert!(!got.raw.contains(token), "the token is in the email");
    let signature = token.rsplit('.').next().unwrap();
    assert!(!got.raw.contains(signature), "the token's signature is in the email");
}

#[test]
fn smtps_with_auth_delivers_one_message() {
    let world = World::new();
    let server = server(Mode::Tls).start(ca());
    let result = emailing(&world, &server).run();
    result.assert_exit(0);
    assert_rotation_message(&only_message(&server), &result);
    assert_eq!(email_result(&result)["error"], Value::Null);
    // (`%` is escaped as `%25` in a workflow command.)
    let masked = result.masked();
    assert!(
        masked.contains(&smtp_url(&server).replace('%', "%25")),
        "the URL is masked: {masked:?}"
    );
    assert!(
        masked.iter().any(|m| m == PASSWORD),
        "the password is masked: {masked:?}"
    );
    assert!(
        result.stderr.contains("via 127.0.0.1") || result.stdout.contains("via 127.0.0.1"),
        "{}",
        result.stderr
    );
}

#[test]
fn starttls_with_auth_delivers_one_message() {
    let world = World::new();
    let server = server(Mode::StartTls).start(ca());
    let result = emailing(&world, &server)
        .input("smtp-from", "Turso Rotate <bot@example.com>")
        .run();
    result.assert_exit(0);
    let got = only_message(&server);
    assert!(got.tls, "upgraded with STARTTLS");
    assert_eq!(got.mail_from, "bot@example.com");
}

#[test]
fn a_transient_refusal_is_retried_and_delivered() {
    let world = World::new();
    let server = server(Mode::Tls)
        .fault(Stage::Data, "451 4.3.0 try again later", 1)
        .start(ca());
    let result = emailing(&world, &server).run();
    result.assert_exit(0);
    assert_eq!(server.faults().len(), 1, "refused once");
    assert_rotation_message(&only_message(&server), &result);
}

#[test]
fn a_permanent_refusal_fails_the_run_with_the_secrets_written() {
    let world = World::new();
    let server = server(Mode::Tls)
        .fault(Stage::Rcpt, "550 5.1.1 no such user", 10)
        .start(ca());
    let result = emailing(&world, &server).run();
    result.assert_exit(1);
    assert_eq!(
        world.secret().as_deref(),
        result.output("token"),
        "the secret was written"
    );
    let entry = email_result(&result);
    assert_eq!(entry["written"], Value::Bool(false));
    assert!(entry["error"].as_str().unwrap().contains("550"), "{entry}");
    assert!(server.messages().is_empty());
    assert_eq!(server.faults().len(), 1, "a 5xx is final: {:?}", server.faults());
}

#[test]
fn notify_on_failure_sends_nothing_for_a_run_that_went_well() {
    let world = World::new();
    let server = server(Mode::Tls).start(ca());
    emailing(&world, &server)
        .input("notify-on", "failure")
        .run()
        .assert_exit(0);
    assert!(server.messages().is_empty());
}

#[test]
fn a_report_with_something_due_says_so_in_the_subject() {
    let world = World::new();
    let server = server(Mode::Tls).start(ca());
    let result = emailing(&world, &server)
        .input("mode", "report")
        .input("rotate-after", "7d")
        .input("notify-on", "failure")
        .run();
    result.assert_exit(1);
    let got = only_message(&server);
    assert_eq!(
        got.header("Subject").as_deref(),
        Some("Turso tokens rotated: acme/prod due")
    );
    assert!(got.body().contains("is due: missing"), "{}", got.body());
    assert!(got.body().contains("Last written"), "{}", got.body());
}

#[test]
fn a_preflight_failure_is_emailed() {
    let world = World::new();
    world.turso.deny("/groups/prod");
    let server = server(Mode::Tls).start(ca());
    let result = emailing(&world, &server).run();
    result.assert_exit(1);
    let got = only_message(&server);
    assert_eq!(
        got.header("Subject").as_deref(),
        Some("Turso tokens rotated: acme/prod FAILED")
    );
    assert!(got.body().contains("preflight failed"), "{}", got.body());
}

#[test]
fn a_bad_smtp_url_is_bad_input_and_never_printed() {
    let world = World::new();
    for (url, case) in [
        (
            "https://user:hunter2secret@mail.example.com",
            "a scheme that is not SMTP",
        ),
        ("smtps://user:hunter2secret@mail.example.com/path", "a path"),
        ("smtps://:hunter2secret@mail.example.com", "a password without a user"),
    ] {
        let result = world
            .runner()
            .secrets(&[API_TOKEN, GH_TOKEN, "hunter2secret"])
            .input("notify-email", "ops@example.com")
            .input("smtp-url", url)
            .input("smtp-from", "bot@example.com")
            .run();
        result.assert_bad_input("smtp-url", case);
        assert!(!result.stdout.contains("hunter2"), "{case}: {}", result.stdout);
    }
    let result = world.runner().input("notify-email", "ops@example.com").run();
    result.assert_bad_input("smtp-url", "notify-email without smtp-url");
    let result = world
        .runner()
        .input("notify-email", "ops@example.com")
        .input("smtp-url", "smtps://relay.example.com")
        .run();
    result.assert_bad_input("smtp-from", "no sender");
    assert_eq!(world.requests(), 0, "bad input calls nothing");
}
