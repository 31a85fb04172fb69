//! Telling the consumers (SPEC, "Telling the consumers"), end to end: once
//! the secrets are written, `dispatch` asks GitHub to redeploy (repository
//! or workflow dispatch) and `notify-url` gets one message about the run.
//! Neither carries a token, neither undoes a written secret when it fails,
//! and the webhook URL, a credential, is never printed.
//!
//! The first tests check the fakes themselves (GitHub's documented dispatch
//! rules, the Standard Webhooks receiver): the rest mean nothing if those
//! are wrong.

mod common;

use std::net::TcpListener;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use common::webhook::{self, Webhook};
use common::world::{leaks, World, API_TOKEN, GH_TOKEN};
use common::{Dispatch, FakeGitHub, Fault, FaultAction, RunResult, Scope};

/// A token allowed to send dispatches and nothing else.
const DISPATCH_TOKEN: &str = "ghp_dispatchonly0123456789";
/// The Standard Webhooks specification's example secret.
const NOTIFY_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// A Slack-like hook path: the last segment is the credential.
const HOOK_PATH: &str = "/hooks/T000/B000/XXXXsecretXXXX";
/// Pieces of a webhook URL that must never be printed.
const URL_SECRETS: [&str; 3] = ["XXXXsecretXXXX", "XYZsecret", "/hooks/T000"];
const DEFAULT_EVENT: &str = "turso-token-rotated";
/// The run URL the runner's defaults make (server, repository, run id).
const RUN_URL: &str = "https://github.com/acme/app/actions/runs/42";

/// The usual world, plus `acme/deploy`, the repository a redeploy goes to.
fn new_world() -> World {
    let world = World::new();
    world.github.add_repo("acme/deploy");
    world
}

/// A receiver at [`HOOK_PATH`] that logs into the world's journal.
fn receiver(world: &World) -> Webhook {
    Webhook::start(HOOK_PATH).with_journal(&world.journal)
}

/// The `results` output, parsed.
fn results(result: &RunResult) -> Vec<Value> {
    let text = result
        .output("results")
        .unwrap_or_else(|| panic!("no results output\n{}", result.stdout));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("results is not a JSON array ({e}): {text}"))
}

/// The `results` entry for `target`, checked for the shape of a consumer's
/// entry: no group, `written` as given, `error` null exactly when written.
fn consumer_entry(result: &RunResult, target: &str, written: bool) -> Value {
    let results = results(result);
    let entry = results
        .iter()
        .find(|e| e["target"] == target)
        .unwrap_or_else(|| panic!("no results entry for {target}: {results:?}"))
        .clone();
    assert!(
        entry["group"].is_null() || entry["group"] == "",
        "a consumer belongs to no group: {entry}"
    );
    assert_eq!(entry["written"], written, "{entry}");
    if written {
        assert_eq!(entry["error"], Value::Null, "{entry}");
    } else {
        assert!(
            entry["error"].as_str().is_some_and(|e| !e.is_empty()),
            "a failed delivery says why: {entry}"
        );
    }
    entry
}

/// Every `::error::` line of stdout.
fn error_lines(result: &RunResult) -> Vec<&str> {
    result.stdout.lines().filter(|l| l.starts_with("::error::")).collect()
}

/// Panics if `text` holds a token: the API tokens, the dispatch token, the
/// webhook secret, or the group token (whole or its JWT signature).
fn assert_no_token(text: &str, group_token: Option<&str>, what: &str) {
    let mut needles = vec![API_TOKEN, GH_TOKEN, DISPATCH_TOKEN, NOTIFY_SECRET];
    if let Some(token) = group_token {
        needles.push(token);
        needles.extend(token.rsplit('.').next().filter(|s| s.len() >= 16));
    }
    for (i, needle) in needles.iter().enumerate() {
        assert!(!text.contains(needle), "{what} holds secret #{i}: {text}");
    }
}

/// Every string inside a JSON value, depth first.
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::Object(map) => map.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

fn repository_dispatches(world: &World) -> Vec<Dispatch> {
    world
        .github
        .dispatches()
        .into_iter()
        .filter(|d| d.workflow.is_none())
        .collect()
}

/// Panics if a piece of the webhook URL shows anywhere the user can read:
/// stdout (the runner consumes `::add-mask::` lines), stderr, the summary,
/// the outputs, the job's files.
fn assert_url_not_printed(result: &RunResult, case: &str) {
    let stdout: Vec<&str> = result
        .stdout
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect();
    let mut places: Vec<(String, String)> = vec![
        ("stdout".into(), stdout.join("\n")),
        ("stderr".into(), result.stderr.clone()),
        ("the summary".into(), result.summary.clone()),
    ];
    for (name, value) in &result.outputs {
        places.push((format!("output {name}"), value.clone()));
    }
    for (path, content) in &result.files {
        places.push((
            format!("file {}", path.display()),
            String::from_utf8_lossy(content).into_owned(),
        ));
    }
    for needle in URL_SECRETS {
        for (place, text) in &places {
            assert!(
                !text.contains(needle),
                "{case}: the webhook URL ({needle}) shows in {place}:\n{text}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// The fakes themselves.

/// POSTs `body` as JSON with a bearer token; returns the status.
fn post(url: &str, token: &str, body: &Value) -> u16 {
    common::test_agent()
        .post(url)
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .expect("request")
        .status()
        .as_u16()
}

#[test]
fn fake_github_takes_repository_dispatches_as_documented() {
    let github = FakeGitHub::start(GH_TOKEN);
    github.add_repo("acme/deploy");
    let url = format!("{}/repos/acme/deploy/dispatches", github.url());
    let payload = |n: usize| Value::Object((0..n).map(|i| (format!("k{i}"), json!(i))).collect());
    let cases = [
        (json!({"event_type": "x"}), 204),
        (
            json!({"event_type": "e".repeat(100), "client_payload": payload(10)}),
            204,
        ),
        (json!({"event_type": "e".repeat(101)}), 422),
        (json!({"event_type": ""}), 422),
        (json!({"event_type": 7}), 422),
        (json!({"client_payload": {}}), 422),
        (json!({"event_type": "x", "client_payload": payload(11)}), 422),
        (json!({"event_type": "x", "client_payload": ["a"]}), 422),
    ];
    for (body, status) in &cases {
        assert_eq!(post(&url, GH_TOKEN, body), *status, "{body}");
    }
    let missing = format!("{}/repos/acme/nope/dispatches", github.url());
    assert_eq!(post(&missing, GH_TOKEN, &json!({"event_type": "x"})), 404);
    assert_eq!(post(&url, "wrong", &json!({"event_type": "x"})), 401);
    let accepted = github.dispatches();
    assert_eq!(accepted.len(), 2, "only the valid ones are recorded");
    assert_eq!(accepted[0].repo, "acme/deploy");
    assert_eq!(accepted[0].event_type(), Some("x"));
    assert_eq!(accepted[0].token, GH_TOKEN);
    assert_eq!(accepted[1].client_payload(), Some(&payload(10)));
}

#[test]
fn fake_github_takes_workflow_dispatches_as_documented() {
    let github = FakeGitHub::start(GH_TOKEN);
    github.add_repo("acme/deploy");
    github.add_workflow("acme/deploy", "deploy.yml", &[]);
    github.add_workflow("acme/deploy", "with-inputs.yml", &["environment"]);
    let url = |file: &str| format!("{}/repos/acme/deploy/actions/workflows/{file}/dispatches", github.url());
    let cases = [
        ("deploy.yml", json!({"ref": "main"}), 204),
        ("deploy.yml", json!({"ref": "main", "inputs": {}}), 204),
        (
            "deploy.yml",
            json!({"ref": "main", "inputs": {"organization": "acme"}}),
            422,
        ),
        ("deploy.yml", json!({"ref": ""}), 422),
        ("deploy.yml", json!({}), 422),
        (
            "with-inputs.yml",
            json!({"ref": "v1", "inputs": {"environment": "prod"}}),
            204,
        ),
        ("with-inputs.yml", json!({"ref": "v1", "inputs": "environment"}), 422),
        ("unknown.yml", json!({"ref": "main"}), 404),
    ];
    for (file, body, status) in &cases {
        assert_eq!(post(&url(file), GH_TOKEN, body), *status, "{file}: {body}");
    }
    let accepted = github.dispatches();
    assert_eq!(accepted.len(), 3);
    assert_eq!(accepted[0].workflow.as_deref(), Some("deploy.yml"));
    assert_eq!(accepted[0].git_ref(), Some("main"));
    assert_eq!(accepted[2].body["inputs"]["environment"], "prod");
}

#[test]
fn fake_github_takes_a_dispatch_token_for_dispatches_only() {
    let github = FakeGitHub::start(GH_TOKEN);
    github.add_repo("acme/deploy");
    github.add_workflow("acme/deploy", "deploy.yml", &[]);
    github.allow_dispatch_token(DISPATCH_TOKEN);
    let base = github.url();
    let repository = format!("{base}/repos/acme/deploy/dispatches");
    let workflow = format!("{base}/repos/acme/deploy/actions/workflows/deploy.yml/dispatches");
    assert_eq!(post(&repository, DISPATCH_TOKEN, &json!({"event_type": "x"})), 204);
    assert_eq!(post(&workflow, DISPATCH_TOKEN, &json!({"ref": "main"})), 204);
    assert_eq!(post(&repository, GH_TOKEN, &json!({"event_type": "x"})), 204);
    let tokens: Vec<String> = github.dispatches().into_iter().map(|d| d.token).collect();
    assert_eq!(tokens, [DISPATCH_TOKEN, DISPATCH_TOKEN, GH_TOKEN]);
    let key = common::test_agent()
        .get(format!("{base}/repos/acme/deploy/actions/secrets/public-key"))
        .header("Authorization", format!("Bearer {DISPATCH_TOKEN}"))
        .call()
        .expect("request");
    assert_eq!(key.status().as_u16(), 403, "the dispatch token cannot touch secrets");
}

#[test]
fn the_receiver_verifies_standard_webhooks_signatures() {
    // The example of the Standard Webhooks specification.
    let key = webhook::secret_key(NOTIFY_SECRET).unwrap();
    let (id, timestamp, body) = ("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", r#"{"test": 2432232314}"#);
    let expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    assert_eq!(webhook::sign(&key, id, timestamp, body), expected);
    assert!(webhook::verify(
        &key,
        id,
        timestamp,
        body,
        &format!("v1,bm90IGl0 {expected}")
    ));
    assert!(!webhook::verify(&key, id, timestamp, &body.replace('2', "3"), expected));
    assert!(!webhook::verify(&key, id, "1614265331", body, expected));

    let hook = Webhook::start("/hooks/T000/B000/XXXXsecretXXXX?sig=XYZsecret").signed_with(NOTIFY_SECRET);
    let send = |url: &str, id: &str, timestamp: &str, signature: &str| {
        common::test_agent()
            .post(url)
            .header("Content-Type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp)
            .header("webhook-signature", signature)
            .send(body)
            .expect("request")
            .status()
            .as_u16()
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let good = webhook::sign(&key, "msg_1", &now, body);
    assert_eq!(send(&hook.notify_url(), "msg_1", &now, &good), 200);
    assert_eq!(
        send(&hook.notify_url(), "msg_2", &now, &good),
        401,
        "signature of another id"
    );
    let old = webhook::sign(&key, "msg_3", timestamp, body);
    assert_eq!(
        send(&hook.notify_url(), "msg_3", timestamp, &old),
        401,
        "stale timestamp"
    );
    let without_query = hook.notify_url().replace("?sig=XYZsecret", "");
    assert_eq!(
        send(&without_query, "msg_1", &now, &good),
        404,
        "the query is part of the URL"
    );
    let verified: Vec<Option<bool>> = hook.messages().iter().map(|m| m.verified).collect();
    assert_eq!(verified, [Some(true), Some(false), Some(false)]);
    assert_eq!(hook.messages()[0].id(), Some("msg_1"));
    assert!(hook.messages()[0].clock_skew().unwrap() <= 1);
    assert_eq!(hook.requests().len(), 4);
}

// ---------------------------------------------------------------------------
// dispatch

#[test]
fn a_repository_dispatch_follows_the_secret_write_without_a_token() {
    let world = new_world();
    let result = world.runner().input("dispatch", "repository:acme/deploy").run();
    result.assert_exit(0);
    let token = result.output("token").expect("token output");
    assert_eq!(world.secret().as_deref(), Some(token));

    let dispatches = world.github.dispatches();
    assert_eq!(dispatches.len(), 1, "one dispatch: {:?}", world.journal.calls());
    let dispatch = &dispatches[0];
    assert_eq!(dispatch.repo, "acme/deploy");
    assert_eq!(dispatch.workflow, None);
    assert_eq!(dispatch.event_type(), Some(DEFAULT_EVENT));
    assert_eq!(dispatch.token, GH_TOKEN, "github-token sends it by default");

    let journal = &world.journal;
    let write = journal
        .position("github", "PUT", "/actions/secrets/TURSO_AUTH_TOKEN")
        .expect("the secret was written");
    let sent = journal
        .position("github", "POST", "/repos/acme/deploy/dispatches")
        .unwrap();
    assert!(write < sent, "dispatched before the write: {:?}", journal.calls());
    assert_eq!(world.github.count("POST", "/dispatches"), 1);

    let payload = dispatch
        .client_payload()
        .and_then(Value::as_object)
        .expect("a client_payload object");
    assert!(payload.len() <= 10, "GitHub refuses more than 10 keys: {payload:?}");
    assert_eq!(payload["organization"], "acme");
    assert_eq!(payload["groups"], json!(["prod"]));
    assert_eq!(payload["secrets"], json!(["repo:TURSO_AUTH_TOKEN"]));
    assert_eq!(payload["mode"], "invalidate");
    assert_eq!(payload["invalidated"], true);
    assert_eq!(payload["rotated-at"].as_str(), result.output("rotated-at"));
    assert_eq!(payload["expires-at"], "", "expiration never: no expiry");
    assert!(
        payload["run-url"].as_str().is_some_and(|u| u.starts_with(RUN_URL)),
        "{payload:?}"
    );
    assert_no_token(&dispatch.body.to_string(), Some(token), "the dispatch");

    consumer_entry(&result, "dispatch:repository:acme/deploy", true);
    assert_eq!(result.output("secret-updated"), Some("true"));
    leaks(&result, Some(token));
}

#[test]
fn a_custom_event_type_and_a_workflow_dispatch_with_a_ref_and_no_inputs() {
    let world = new_world();
    world.github.add_workflow("acme/deploy", "deploy.yml", &[]);
    let result = world
        .runner()
        .input(
            "dispatch",
            "repository:acme/deploy:redeploy-prod\nworkflow:acme/deploy/deploy.yml@main",
        )
        .run();
    result.assert_exit(0);

    let dispatches = world.github.dispatches();
    assert_eq!(dispatches.len(), 2, "{:?}", world.journal.calls());
    let repository = repository_dispatches(&world);
    assert_eq!(repository.len(), 1);
    assert_eq!(repository[0].event_type(), Some("redeploy-prod"));
    assert!(repository[0].client_payload().is_some());
    let workflow = dispatches
        .iter()
        .find(|d| d.workflow.is_some())
        .expect("a workflow dispatch");
    assert_eq!(workflow.repo, "acme/deploy");
    assert_eq!(workflow.workflow.as_deref(), Some("deploy.yml"));
    assert_eq!(
        workflow.body,
        json!({"ref": "main"}),
        "a workflow rejects inputs it does not declare"
    );

    consumer_entry(&result, "dispatch:repository:acme/deploy:redeploy-prod", true);
    consumer_entry(&result, "dispatch:workflow:acme/deploy/deploy.yml@main", true);
}

#[test]
fn dispatch_token_sends_the_dispatch_and_github_token_writes_the_secret() {
    let world = new_world();
    world.github.allow_dispatch_token(DISPATCH_TOKEN);
    let result = world
        .runner()
        .secrets(&[API_TOKEN, GH_TOKEN, DISPATCH_TOKEN])
        .input("dispatch", "repository:acme/deploy")
        .input("dispatch-token", DISPATCH_TOKEN)
        .run();
    result.assert_exit(0);
    let dispatches = world.github.dispatches();
    assert_eq!(dispatches.len(), 1);
    assert_eq!(dispatches[0].token, DISPATCH_TOKEN);
    assert_eq!(world.secret().as_deref(), result.output("token"));
    let write = world
        .github
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT" && r.path.ends_with("/TURSO_AUTH_TOKEN"))
        .expect("the secret write");
    assert!(
        write.header("authorization").is_some_and(|a| a.ends_with(GH_TOKEN)),
        "github-token writes the secret"
    );
}

#[test]
fn a_refused_dispatch_keeps_the_secret_and_names_the_permission() {
    let cases = [
        (
            "repository:acme/deploy",
            "/repos/acme/deploy/dispatches",
            "Contents: write",
        ),
        (
            "workflow:acme/deploy/deploy.yml@main",
            "/actions/workflows/deploy.yml/dispatches",
            "Actions: write",
        ),
    ];
    for (entry, path, permission) in cases {
        let world = new_world();
        world.github.add_workflow("acme/deploy", "deploy.yml", &[]);
        world.github.fault(
            Fault::new(
                "POST",
                path,
                FaultAction::status(
                    403,
                    r#"{"message":"Resource not accessible by personal access token","documentation_url":"https://docs.github.com/rest"}"#,
                ),
            )
            .always(),
        );
        let result = world.runner().input("dispatch", entry).run();
        result.assert_exit(1);
        let token = result.output("token").expect("token output");
        assert_eq!(
            world.secret().as_deref(),
            Some(token),
            "{entry}: the secret stays written"
        );
        assert_eq!(result.output("secret-updated"), Some("true"), "{entry}");
        assert_eq!(world.github.count("POST", path), 1, "{entry}: a 403 is not retried");
        consumer_entry(&result, &format!("dispatch:{entry}"), false);
        let errors = error_lines(&result);
        assert!(
            errors.iter().any(|l| l.contains(permission)),
            "{entry}: no error line names {permission}:\n{}",
            result.stdout
        );
        assert!(
            errors.iter().any(|l| l.to_lowercase().contains("written")),
            "{entry}: the state message says the secrets were written:\n{}",
            result.stdout
        );
        leaks(&result, Some(token));
    }
}

#[test]
fn malformed_dispatch_entries_are_bad_input() {
    let world = new_world();
    let hook = receiver(&world);
    let long = format!("repository:acme/deploy:{}", "e".repeat(101));
    let cases = [
        "repository:noslash",
        "repository:acme/deploy/extra",
        "workflow:acme/deploy/deploy.yml",
        "workflow:acme/deploy@main",
        "pipeline:x",
        "acme/deploy",
        long.as_str(),
        "repository:acme/deploy\nrepository:acme",
    ];
    for entry in cases {
        let result = world
            .runner()
            .input("dispatch", entry)
            .input("notify-url", &hook.notify_url())
            .run();
        result.assert_exit(2);
        assert!(
            result.error_line().contains("`dispatch`"),
            "{entry:?}: {}",
            result.stdout
        );
        assert_eq!(world.requests(), 0, "{entry:?}: {:?}", world.journal.calls());
        assert!(hook.requests().is_empty(), "{entry:?}: the webhook was called");
    }
}

#[test]
fn nothing_written_means_nothing_dispatched() {
    // Not due: the secret is a day old and rotate-after is a week.
    let world = new_world();
    let scope = Scope::repo("acme/app");
    world.github.set_secret(&scope, "TURSO_AUTH_TOKEN", "old-value");
    let yesterday = SystemTime::now() - Duration::from_secs(86_400);
    world.github.set_secret_updated_at(
        &scope,
        "TURSO_AUTH_TOKEN",
        &humantime::format_rfc3339_seconds(yesterday).to_string(),
    );
    let result = world
        .runner()
        .input("rotate-after", "7d")
        .input("dispatch", "repository:acme/deploy")
        .run();
    result.assert_exit(0);
    assert_eq!(result.output("rotated"), Some("false"));
    assert_eq!(
        world.github.count("POST", "/dispatches"),
        0,
        "{:?}",
        world.journal.calls()
    );

    // The write failed: consumers would only pick up the old secret.
    let world = new_world();
    world.fail_writes("TURSO_AUTH_TOKEN");
    let result = world
        .runner()
        .input("max-attempts", "1")
        .input("dispatch", "repository:acme/deploy")
        .run();
    result.assert_exit(1);
    assert_eq!(result.output("secret-updated"), Some("false"));
    assert_eq!(
        world.github.count("POST", "/dispatches"),
        0,
        "{:?}",
        world.journal.calls()
    );
}

#[test]
fn a_dispatch_names_only_the_groups_whose_secrets_were_written() {
    let world = new_world();
    world.turso.add_group("staging");
    world.fail_writes("STAGING_TOKEN");
    let result = world
        .groups_runner("prod=PROD_TOKEN\nstaging=STAGING_TOKEN")
        .input("max-attempts", "1")
        .input("dispatch", "repository:acme/deploy")
        .run();
    result.assert_exit(1);
    let dispatches = world.github.dispatches();
    assert_eq!(dispatches.len(), 1, "prod was written: {:?}", world.journal.calls());
    let payload = dispatches[0].client_payload().expect("a client_payload");
    assert_eq!(payload["groups"], json!(["prod"]));
    assert_eq!(payload["secrets"], json!(["repo:PROD_TOKEN"]));
    let last_write = world
        .journal
        .entries()
        .iter()
        .rposition(|(label, r)| *label == "github" && r.method == "PUT" && r.path.ends_with("_TOKEN"))
        .unwrap();
    let sent = world.journal.position("github", "POST", "/dispatches").unwrap();
    assert!(last_write < sent, "dispatched before every write was done");
    for group in ["prod", "staging"] {
        assert_no_token(
            &dispatches[0].body.to_string(),
            result.output(&format!("token-{group}")),
            group,
        );
    }
}

// ---------------------------------------------------------------------------
// notify-url

#[test]
fn a_signed_json_notification_describes_the_run() {
    let world = World::new();
    let hook = receiver(&world).signed_with(NOTIFY_SECRET);
    let runner = world
        .runner()
        .secrets(&[API_TOKEN, GH_TOKEN, NOTIFY_SECRET])
        .input("notify-url", &hook.notify_url())
        .input("notify-secret", NOTIFY_SECRET)
        .input("reason", "weekly");
    let result = runner.run();
    result.assert_exit(0);
    let token = result.output("token").expect("token output");

    assert_eq!(hook.requests().len(), 1, "exactly one POST");
    let message = &hook.messages()[0];
    assert_eq!(message.verified, Some(true), "the signature verifies: {message:?}");
    assert!(message.id().is_some_and(|id| !id.is_empty()));
    assert!(
        message.clock_skew().is_some_and(|s| s <= 60),
        "webhook-timestamp is now: {message:?}"
    );
    let body = message.json();
    assert_eq!(body["type"], "turso.token.rotated");
    let timestamp = body["timestamp"].as_str().unwrap_or_default();
    assert!(humantime::parse_rfc3339(timestamp).is_ok(), "timestamp: {body}");
    let data = &body["data"];
    assert_eq!(data["organization"], "acme");
    assert_eq!(data["mode"], "invalidate");
    assert_eq!(data["invalidated"], true);
    assert_eq!(data["reason"], "weekly");
    assert_eq!(data["actor"], "octocat");
    assert!(
        data["run_url"].as_str().is_some_and(|u| u.starts_with(RUN_URL)),
        "{data}"
    );
    let group = &data["groups"][0];
    assert_eq!(group["group"], "prod", "{data}");
    assert_eq!(group["result"], "rotated");
    assert_eq!(group["rotated_at"].as_str(), result.output("rotated-at"));
    assert!(group["window_seconds"].is_number(), "the outage window: {group}");
    assert_eq!(group["targets"][0]["target"], "repo:TURSO_AUTH_TOKEN");
    assert_eq!(group["targets"][0]["written"], true);
    assert_eq!(group["targets"][0]["error"], Value::Null);
    assert_no_token(&message.body, Some(token), "the notification");

    let write = world.journal.position("github", "PUT", "TURSO_AUTH_TOKEN").unwrap();
    let sent = world.journal.position("webhook", "POST", "/hooks/").unwrap();
    assert!(write < sent, "notified before the write");
    consumer_entry(&result, "notify:127.0.0.1", true);
    leaks(&result, Some(token));

    // A second run is a second message, with its own id.
    runner.run().assert_exit(0);
    let messages = hook.messages();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1].verified, Some(true));
    assert_ne!(messages[0].id(), messages[1].id(), "webhook-id is unique per message");
}

#[test]
fn a_notification_whose_answer_was_lost_is_sent_again_with_the_same_webhook_id() {
    // Deliveries are at least once: a receiver drops the second by its id.
    for signed in [true, false] {
        let world = World::new();
        let mut hook = receiver(&world);
        let mut runner = world.runner().input("notify-url", &hook.notify_url());
        if signed {
            hook = hook.signed_with(NOTIFY_SECRET);
            runner = runner
                .secrets(&[API_TOKEN, GH_TOKEN, NOTIFY_SECRET])
                .input("notify-secret", NOTIFY_SECRET);
        }
        hook.fault(Fault::new("POST", HOOK_PATH, FaultAction::after_acting(502)));
        let result = runner.run();
        result.assert_exit(0);
        let messages = hook.messages();
        assert_eq!(messages.len(), 2, "signed {signed}: taken, its answer lost, sent again");
        let id = messages[0].id().unwrap_or_default();
        assert!(
            id.starts_with("msg_") && id.len() > 4,
            "signed {signed}: webhook-id {id:?}"
        );
        for header in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            assert_eq!(
                messages[1].header(header),
                messages[0].header(header),
                "signed {signed}: {header} on the retry"
            );
        }
        assert!(messages[0].timestamp().is_some(), "signed {signed}: webhook-timestamp");
        assert_eq!(messages[1].body, messages[0].body, "signed {signed}");
        if signed {
            assert!(messages.iter().all(|m| m.verified == Some(true)), "{messages:?}");
        } else {
            assert_eq!(messages[0].header("webhook-signature"), None, "unsigned");
        }
        consumer_entry(&result, "notify:127.0.0.1", true);
    }
}

#[test]
fn notify_on_failure_is_silent_on_success_and_reports_a_failure() {
    let world = World::new();
    let hook = receiver(&world);
    let result = world
        .runner()
        .input("notify-url", &hook.notify_url())
        .input("notify-on", "failure")
        .run();
    result.assert_exit(0);
    assert!(hook.requests().is_empty(), "a successful run sends nothing");

    world.fail_writes("TURSO_AUTH_TOKEN");
    let result = world
        .runner()
        .input("notify-url", &hook.notify_url())
        .input("notify-on", "failure")
        .input("max-attempts", "1")
        .run();
    result.assert_exit(1);
    let messages = hook.messages();
    assert_eq!(messages.len(), 1, "one message for the failed run");
    let body = messages[0].json();
    assert_eq!(body["type"], "turso.token.rotation_failed");
    let group = &body["data"]["groups"][0];
    assert_eq!(group["group"], "prod");
    assert_eq!(group["result"], "failed");
    assert_eq!(group["targets"][0]["written"], false);
    assert!(
        group["targets"][0]["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{group}"
    );
    let token = result.output("token").expect("the token is handed on");
    assert_no_token(&messages[0].body, Some(token), "the failure notification");
}

#[test]
fn a_run_that_stops_in_preflight_is_reported_too() {
    let world = World::new();
    let hook = receiver(&world);
    let result = world
        .runner()
        .input("api-token", "turso-api-token-revoked-000")
        .input("notify-url", &hook.notify_url())
        .input("notify-on", "failure")
        .run();
    result.assert_exit(1);
    assert_eq!(world.turso.rotations("prod"), 0);
    let messages = hook.messages();
    assert_eq!(messages.len(), 1, "the channel hears of a preflight failure");
    let body = messages[0].json();
    assert_eq!(body["type"], "turso.token.rotation_failed");
    let group = &body["data"]["groups"][0];
    assert_eq!(group["result"], "failed");
    assert!(
        group["error"]
            .as_str()
            .is_some_and(|e| e.contains("nothing was rotated")),
        "{group}"
    );
}

#[test]
fn slack_and_teams_get_their_own_shapes() {
    // Slack: text plus blocks, server text escaped for mrkdwn.
    let world = World::new();
    let hook = Webhook::start("/services/T000/B000/XXXXsecretXXXX").with_journal(&world.journal);
    let result = world
        .runner()
        .input("notify-url", &hook.notify_url())
        .input("notify-format", "slack")
        .input("reason", "<script>&")
        .run();
    result.assert_exit(0);
    let messages = hook.messages();
    assert_eq!(messages.len(), 1);
    let body = messages[0].json();
    assert!(body["text"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
    let blocks = body["blocks"].as_array().expect("blocks");
    assert!(
        blocks
            .iter()
            .any(|b| b["type"] == "section" && b["text"]["type"] == "mrkdwn" && b["text"]["text"].is_string()),
        "a section block with mrkdwn text: {body}"
    );
    assert!(body.get("data").is_none(), "not the generic JSON shape: {body}");
    let text = strings(&body).join("\n");
    assert!(text.contains("&lt;script&gt;&amp;"), "the reason is escaped: {text}");
    assert!(!text.contains("<script>"), "raw server text in a Slack message: {text}");
    assert!(text.contains("prod"), "the group is named: {text}");
    assert_no_token(&messages[0].body, result.output("token"), "the Slack message");

    // Teams: a message with one Adaptive Card; Workflows answer 202.
    let world = World::new();
    let hook = Webhook::start("/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=XYZsecret")
        .answering(202)
        .with_journal(&world.journal);
    let result = world
        .runner()
        .input("notify-url", &hook.notify_url())
        .input("notify-format", "teams")
        .run();
    result.assert_exit(0);
    let messages = hook.messages();
    assert_eq!(messages.len(), 1);
    let body = messages[0].json();
    assert_eq!(body["type"], "message", "{body}");
    let attachments = body["attachments"].as_array().expect("attachments");
    assert_eq!(attachments.len(), 1, "{body}");
    assert_eq!(attachments[0]["contentType"], "application/vnd.microsoft.card.adaptive");
    let card = &attachments[0]["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    assert_eq!(card["$schema"], "http://adaptivecards.io/schemas/adaptive-card.json");
    assert!(card["body"].as_array().is_some_and(|b| !b.is_empty()), "{card}");
    assert!(strings(card).join("\n").contains("prod"), "the group is named: {card}");
    assert_no_token(&messages[0].body, result.output("token"), "the Teams message");
    consumer_entry(&result, "notify:127.0.0.1", true);
}

#[test]
fn an_undeliverable_notification_is_retried_then_fails_the_run_with_the_secret_written() {
    let world = World::new();
    let hook = receiver(&world);
    hook.fault(Fault::new("POST", HOOK_PATH, FaultAction::status(500, "internal_error")).always());
    let result = world
        .runner()
        .input("notify-url", &hook.notify_url())
        .input("max-attempts", "3")
        .run();
    result.assert_exit(1);
    let attempts = hook.requests().len();
    assert!((2..=3).contains(&attempts), "{attempts} POSTs for max-attempts 3");
    let token = result.output("token").expect("token output");
    assert_eq!(world.secret().as_deref(), Some(token), "the secret stays written");
    assert_eq!(result.output("secret-updated"), Some("true"));
    consumer_entry(&result, "notify:127.0.0.1", false);
    let errors = error_lines(&result);
    assert!(
        errors.iter().any(|l| l.contains("127.0.0.1")),
        "the error names the webhook's host:\n{}",
        result.stdout
    );
    assert!(
        errors.iter().any(|l| l.to_lowercase().contains("written")),
        "the state message says the secrets were written:\n{}",
        result.stdout
    );
    assert_url_not_printed(&result, "HTTP 500");
    leaks(&result, Some(token));
}

#[test]
fn the_webhook_url_is_never_printed() {
    let path = format!("{HOOK_PATH}?sig=XYZsecret");

    // Delivered.
    let world = World::new();
    let hook = Webhook::start(&path).with_journal(&world.journal);
    let result = world.runner().input("notify-url", &hook.notify_url()).run();
    result.assert_exit(0);
    assert_eq!(hook.messages().len(), 1, "the query is kept");
    consumer_entry(&result, "notify:127.0.0.1", true);
    assert_url_not_printed(&result, "delivered");

    // Refused, with the URL echoed in the body as some servers do.
    let world = World::new();
    let hook = Webhook::start(&path).with_journal(&world.journal);
    let echo = format!("no_service: {path}");
    hook.fault(Fault::new("POST", "/hooks/", FaultAction::status(404, &echo)).always());
    let result = world
        .runner()
        .input("notify-url", &hook.notify_url())
        .input("max-attempts", "2")
        .run();
    result.assert_exit(1);
    consumer_entry(&result, "notify:127.0.0.1", false);
    assert_url_not_printed(&result, "refused");

    // Nobody listening: the HTTP client's own error must not quote the URL.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let world = World::new();
    let result = world
        .runner()
        .input("notify-url", &format!("http://127.0.0.1:{port}{path}"))
        .input("max-attempts", "2")
        .run();
    result.assert_exit(1);
    assert_eq!(world.secret().as_deref(), result.output("token"));
    consumer_entry(&result, "notify:127.0.0.1", false);
    assert_url_not_printed(&result, "connection refused");
}

#[test]
fn bad_notify_inputs_exit_2_without_echoing_the_url() {
    let world = World::new();
    let hook = receiver(&world);
    let url = hook.notify_url();
    let cases = [
        (
            "notify-url",
            "http://hooks.example.com/hooks/T000/B000/XXXXsecretXXXX",
            "`notify-url`",
        ),
        (
            "notify-url",
            "ftp://127.0.0.1/hooks/T000/B000/XXXXsecretXXXX",
            "`notify-url`",
        ),
        ("notify-url", "not a url XXXXsecretXXXX", "`notify-url`"),
        ("notify-format", "xml", "`notify-format`"),
        ("notify-on", "sometimes", "`notify-on`"),
        ("notify-secret", "XXXXsecretXXXX", "`notify-secret`"),
        ("notify-secret", "whsec_!!XXXXsecretXXXX!!", "`notify-secret`"),
    ];
    for (input, value, named) in cases {
        let mut runner = world.runner().input(input, value);
        if input != "notify-url" {
            runner = runner.input("notify-url", &url);
        }
        let result = runner.run();
        result.assert_bad_input(named, &format!("{input}={value:?}"));
        assert_eq!(world.requests(), 0, "{input}={value:?} made a request");
        assert!(hook.requests().is_empty(), "{input}={value:?} notified");
        assert_url_not_printed(&result, &format!("{input}={value:?}"));
    }
}

#[test]
fn one_dispatch_and_one_notification_stay_within_the_budget() {
    let world = new_world();
    let hook = receiver(&world);
    let result = world
        .runner()
        .input("dispatch", "repository:acme/deploy")
        .input("notify-url", &hook.notify_url())
        .run();
    result.assert_exit(0);
    assert_eq!(world.turso.requests().len(), 3, "{:?}", world.journal.calls());
    assert_eq!(
        world.github.requests().len(),
        5,
        "key, probe PUT and DELETE, PUT, dispatch: {:?}",
        world.journal.calls()
    );
    assert_eq!(hook.requests().len(), 1);
    let journal = &world.journal;
    let write = journal.position("github", "PUT", "TURSO_AUTH_TOKEN").unwrap();
    let dispatch = journal.position("github", "POST", "/dispatches").unwrap();
    let notify = journal.position("webhook", "POST", "/hooks/").unwrap();
    assert!(
        write < dispatch && dispatch < notify,
        "write, dispatch, then the notification that reports it: {:?}",
        journal.calls()
    );
    let body = hook.messages()[0].json();
    assert_eq!(body["type"], "turso.token.rotated");
    assert_no_token(&hook.messages()[0].body, result.output("token"), "the notification");
}
