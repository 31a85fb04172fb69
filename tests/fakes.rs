//! Self-test of the shared fakes, without the binary: if these fail, every
//! integration test built on them is meaningless.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use crypto_box::aead::OsRng;
use serde_json::{json, Value};

use common::{parse_github_output, FakeGitHub, FakeTurso, Fault, FaultAction, Journal, Runner, Scope};

/// (status, body) of a response.
fn read(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, String) {
    let mut response = response.expect("request");
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().expect("text body");
    (status, body)
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

const TURSO_KEY: &str = "turso-api-key";
const GH_TOKEN: &str = "ghp_test";

fn turso_post(agent: &ureq::Agent, url: &str, body: &str) -> (u16, String) {
    read(
        agent
            .post(url)
            .header("Authorization", format!("Bearer {TURSO_KEY}"))
            .header("Content-Type", "application/json")
            .send(body),
    )
}

fn select_one(agent: &ureq::Agent, db_url: &str, jwt: &str) -> (u16, String) {
    read(
        agent
            .post(format!("{db_url}/v2/pipeline"))
            .header("Authorization", format!("Bearer {jwt}"))
            .send(r#"{"requests":[{"type":"execute","stmt":{"sql":"SELECT 1"}}]}"#),
    )
}

#[test]
fn turso_rotation_kills_old_tokens() {
    let turso = FakeTurso::start("acme", TURSO_KEY);
    turso.add_group("prod").add_database("prod", "app");
    let agent = common::test_agent();
    let group_url = format!("{}/v1/organizations/acme/groups/prod", turso.url());

    let (status, body) = read(
        agent
            .get(&group_url)
            .header("Authorization", format!("Bearer {TURSO_KEY}"))
            .call(),
    );
    assert_eq!(status, 200);
    assert_eq!(json_of(&body)["group"]["uuid"], turso.group_uuid("prod"));
    let (status, _) = read(agent.get(&group_url).header("Authorization", "Bearer nope").call());
    assert_eq!(status, 401);
    let (status, body) = read(
        agent
            .get(format!("{}/v1/organizations/acme/groups/nope", turso.url()))
            .header("Authorization", format!("Bearer {TURSO_KEY}"))
            .call(),
    );
    assert_eq!(
        (status, json_of(&body)["error"].as_str()),
        (404, Some("group not found"))
    );

    let old = turso.issue_token("prod");
    assert!(turso.token_valid("prod", &old));
    assert_eq!(select_one(&agent, &turso.database_url("app"), &old).0, 200);

    let (status, body) = turso_post(&agent, &format!("{group_url}/auth/rotate"), "");
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(turso.rotations("prod"), 1);
    assert!(!turso.token_valid("prod", &old));
    assert_eq!(select_one(&agent, &turso.database_url("app"), &old).0, 401);

    let (status, body) = turso_post(
        &agent,
        &format!("{group_url}/auth/tokens?expiration=2w1d30m&authorization=read-only"),
        r#"{"permissions":{"read_attach":{"databases":["app"]}}}"#,
    );
    assert_eq!(status, 200, "{body}");
    let jwt = json_of(&body)["jwt"].as_str().unwrap().to_string();
    assert!(turso.token_valid("prod", &jwt));
    let claims = turso.claims(&jwt);
    assert_eq!(claims["a"], "ro");
    assert_eq!(claims["gid"], turso.group_uuid("prod"));
    assert_eq!(claims["p"], json!({"roa": {"ns": ["app"]}}));
    let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
    assert_eq!(lifetime, 15 * 86_400 + 30 * 60);

    let (status, body) = select_one(&agent, &turso.database_url("app"), &jwt);
    assert_eq!(status, 200);
    assert_eq!(json_of(&body)["results"][0]["type"], "ok");

    let (status, body) = turso_post(&agent, &format!("{group_url}/auth/tokens"), "");
    let never = json_of(&body)["jwt"].as_str().unwrap().to_string();
    assert_eq!(status, 200);
    assert!(turso.claims(&never).get("exp").is_none());
    assert_eq!(turso.claims(&never)["a"], "rw");
    let bad = turso_post(&agent, &format!("{group_url}/auth/tokens?expiration=7y"), "");
    assert_eq!(bad.0, 400);
}

#[test]
fn turso_pipeline_rejects_close_and_can_delay() {
    let turso = FakeTurso::start("acme", TURSO_KEY);
    turso.add_group("prod").add_database("prod", "app");
    turso.propagation_delay(2);
    let agent = common::test_agent();
    let jwt = turso.issue_token("prod");
    let db = turso.database_url("app");
    assert_eq!(select_one(&agent, &db, &jwt).0, 401);
    assert_eq!(select_one(&agent, &db, &jwt).0, 401);
    assert_eq!(select_one(&agent, &db, &jwt).0, 200);
    let (status, _) = read(
        agent
            .post(format!("{db}/v2/pipeline"))
            .header("Authorization", format!("Bearer {jwt}"))
            .send(r#"{"requests":[{"type":"execute","stmt":{"sql":"SELECT 1"}},{"type":"close"}]}"#),
    );
    assert_eq!(status, 500);
}

#[test]
fn github_opens_sealed_secrets() {
    let github = FakeGitHub::start(GH_TOKEN).with_base_path("/api/v3");
    github.add_repo("acme/app");
    github.add_environment("acme/app", "prod east");
    let agent = common::test_agent();
    let env_base = format!("{}/repos/acme/app/environments/prod%20east/secrets", github.api_url());

    let (status, body) = read(
        agent
            .get(format!("{env_base}/public-key"))
            .header("Authorization", format!("token {GH_TOKEN}"))
            .call(),
    );
    assert_eq!(status, 200, "{body}");
    let key = json_of(&body);
    let key_id = key["key_id"].as_str().unwrap().to_string();
    let public: [u8; 32] = STANDARD
        .decode(key["key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let public = crypto_box::PublicKey::from(public);
    assert_ne!(key_id, github.public_key(&Scope::repo("acme/app")).0);

    let put = |value: &str, key_id: &str| {
        let sealed = STANDARD.encode(public.seal(&mut OsRng, value.as_bytes()).unwrap());
        read(
            agent
                .put(format!("{env_base}/TURSO_AUTH_TOKEN"))
                .header("Authorization", format!("Bearer {GH_TOKEN}"))
                .send(json!({"encrypted_value": sealed, "key_id": key_id}).to_string()),
        )
    };
    assert_eq!(put("first", &key_id).0, 201);
    assert_eq!(put("second", &key_id).0, 204);
    let (status, body) = put("third", "1");
    assert_eq!(status, 422);
    assert!(body.contains("not properly encrypted"));
    assert_eq!(
        github
            .secret(Scope::env("acme/app", "prod east"), "TURSO_AUTH_TOKEN")
            .as_deref(),
        Some("second")
    );
    assert_eq!(github.secret_writes("TURSO_AUTH_TOKEN"), 2);
    assert_eq!(github.secret(Scope::repo("acme/app"), "TURSO_AUTH_TOKEN"), None);

    let (status, _) = read(
        agent
            .put(format!("{env_base}/GITHUB_TOKEN"))
            .header("Authorization", format!("Bearer {GH_TOKEN}"))
            .send("{}"),
    );
    assert_eq!(status, 422);

    github.deny_writes("Resource not accessible by integration");
    let (status, body) = put("fourth", &key_id);
    assert_eq!(status, 403);
    assert_eq!(json_of(&body)["message"], "Resource not accessible by integration");
    github.allow_writes();
    let delete = || {
        read(
            agent
                .delete(format!("{env_base}/TURSO_AUTH_TOKEN"))
                .header("Authorization", format!("Bearer {GH_TOKEN}"))
                .call(),
        )
        .0
    };
    assert_eq!(delete(), 204);
    assert_eq!(delete(), 404);

    let (status, body) = read(agent.get(format!("{env_base}/public-key")).call());
    assert_eq!(
        (status, json_of(&body)["message"].as_str()),
        (401, Some("Bad credentials"))
    );
    let (status, body) = read(
        agent
            .get(format!("{}/api/v3/repos/acme/app", github.url()))
            .header("Authorization", format!("Bearer {GH_TOKEN}"))
            .call(),
    );
    assert_eq!(status, 200);
    assert_eq!(json_of(&body)["id"], github.repo_id("acme/app").unwrap());
}

#[test]
fn github_org_secret_keeps_visibility() {
    let github = FakeGitHub::start(GH_TOKEN);
    let id = github.add_repo("acme/app");
    let (key_id, public) = github.public_key(&Scope::org("acme"));
    let sealed = STANDARD.encode(public.seal(&mut OsRng, b"v").unwrap());
    let url = format!("{}/orgs/acme/actions/secrets/TURSO_AUTH_TOKEN", github.url());
    let put = |body: Value| {
        read(
            common::test_agent()
                .put(&url)
                .header("Authorization", format!("Bearer {GH_TOKEN}"))
                .send(body.to_string()),
        )
        .0
    };
    assert_eq!(put(json!({"encrypted_value": sealed, "key_id": key_id})), 422);
    let body = json!({"encrypted_value": sealed, "key_id": key_id,
                      "visibility": "selected", "selected_repository_ids": [id]});
    assert_eq!(put(body), 201);
    assert_eq!(
        github.org_secret_visibility("turso_auth_token").as_deref(),
        Some("selected")
    );
    assert_eq!(github.org_secret_repositories("TURSO_AUTH_TOKEN"), Some(vec![id]));
    assert_eq!(
        github.secret(Scope::org("ACME"), "TURSO_AUTH_TOKEN").as_deref(),
        Some("v")
    );
}

#[test]
fn faults_count_down_and_journal_orders_both_apis() {
    let journal = Journal::new();
    let turso = FakeTurso::start("acme", TURSO_KEY).with_journal(&journal);
    turso.add_group("prod");
    let github = FakeGitHub::start(GH_TOKEN).with_journal(&journal);
    github.add_repo("acme/app");
    let agent = common::test_agent();

    turso.fault(Fault::new("POST", "/auth/rotate", FaultAction::status(503, "busy")).times(2));
    turso.fault(Fault::new(
        "*",
        "/auth/rotate",
        FaultAction::Garbage {
            status: 502,
            bytes: 100_000,
        },
    ));
    let rotate = format!("{}/v1/organizations/acme/groups/prod/auth/rotate", turso.url());
    let key = format!("{}/repos/acme/app/actions/secrets/public-key", github.url());

    let (status, _) = read(
        agent
            .get(&key)
            .header("Authorization", format!("Bearer {GH_TOKEN}"))
            .call(),
    );
    assert_eq!(status, 200);
    assert_eq!(turso_post(&agent, &rotate, "").0, 503);
    assert_eq!(turso.pending_faults(), 2);
    assert_eq!(turso_post(&agent, &rotate, "").0, 503);
    let mut garbage = agent
        .post(&rotate)
        .header("Authorization", format!("Bearer {TURSO_KEY}"))
        .send_empty()
        .unwrap();
    assert_eq!(garbage.status().as_u16(), 502);
    let bytes = garbage.body_mut().with_config().limit(1 << 20).read_to_vec().unwrap();
    assert_eq!(bytes.len(), 100_000);
    assert!(serde_json::from_slice::<Value>(&bytes).is_err());
    assert_eq!(turso.pending_faults(), 0);
    assert_eq!(turso_post(&agent, &rotate, "").0, 200);
    assert_eq!(turso.rotations("prod"), 1, "faulted requests never reach the handler");
    assert_eq!(turso.count("POST", "/auth/rotate"), 4, "faulted requests are recorded");

    let github_key = journal.position("github", "GET", "/public-key").unwrap();
    let first_rotate = journal.position("turso", "POST", "/auth/rotate").unwrap();
    assert!(github_key < first_rotate, "{:?}", journal.calls());
    assert_eq!(journal.entries().len(), 5);
    // One pooled agent: one connection per server.
    assert_eq!(turso.connections(), 1);
    assert_eq!(github.connections(), 1);
}

#[test]
fn hang_does_not_block_other_requests() {
    let turso = FakeTurso::start("acme", TURSO_KEY);
    turso.add_group("prod");
    turso.fault(Fault::new("GET", "/groups/prod", FaultAction::Hang));
    let url = format!("{}/v1/organizations/acme/groups/prod", turso.url());
    let hung = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(300)))
        .build()
        .new_agent();
    let started = Instant::now();
    assert!(hung.get(&url).call().is_err());
    assert!(started.elapsed() < Duration::from_secs(5));
    let (status, _) = read(
        common::test_agent()
            .get(&url)
            .header("Authorization", format!("Bearer {TURSO_KEY}"))
            .call(),
    );
    assert_eq!(status, 200);
    assert_eq!(turso.connections(), 2);
}

#[test]
fn raw_connections_are_counted() {
    let github = FakeGitHub::start(GH_TOKEN);
    for _ in 0..3 {
        let mut stream = TcpStream::connect(("127.0.0.1", github.port())).unwrap();
        stream
            .write_all(b"GET /repos/x/y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        // No User-Agent: refused, as GitHub does.
        assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    }
    assert_eq!(github.connections(), 3);
    assert_eq!(github.requests().len(), 3);
}

#[test]
fn outputs_parse_like_the_runner() {
    let text = "expires-at=\nsecret-updated=true\n\nresults<<ghadelimiter_1\n[{\"a\":1},\n{\"b\":\"x=y\"}]\nghadelimiter_1\ntoken=a=b\r\n";
    let outputs = parse_github_output(text).unwrap();
    assert_eq!(outputs["expires-at"], "");
    assert_eq!(outputs["secret-updated"], "true");
    assert_eq!(outputs["results"], "[{\"a\":1},\n{\"b\":\"x=y\"}]");
    assert_eq!(outputs["token"], "a=b");
    assert_eq!(outputs.len(), 4);
    assert_eq!(parse_github_output("a<<EOF\n\nEOF").unwrap()["a"], "");
    assert!(parse_github_output("just text\n").is_err());
    assert!(parse_github_output("a<<EOF\nvalue\n").is_err());
    assert!(parse_github_output("a<<EOF\nvalue").is_err());
    assert!(parse_github_output("=x\n").is_err());
}

/// The runner's plumbing, with `/bin/sh` standing in for the binary.
fn sh(script: &str) -> Runner {
    Runner::new("/bin/sh".into()).arg("-c").arg(script)
}

#[test]
fn runner_sets_up_a_step_and_reads_it_back() {
    let runner = sh(r#"
        echo "::add-mask::s3cr3t"
        printf 'token=s3cr3t\nnote<<EOF\ntwo\nlines\nEOF\n' >> "$GITHUB_OUTPUT"
        echo "| done |" >> "$GITHUB_STEP_SUMMARY"
        echo "$GITHUB_REPOSITORY $PWD" >&2
        exit 3
    "#);
    let result = runner.run();
    result.assert_exit(3);
    assert_eq!(result.output("token"), Some("s3cr3t"));
    assert_eq!(result.output("note"), Some("two\nlines"));
    assert_eq!(result.summary, "| done |\n");
    assert_eq!(result.masked(), vec!["s3cr3t".to_string()]);
    assert!(result.stderr.contains("acme/app"));
    assert!(result.stderr.trim_end().ends_with(&*result.workspace.to_string_lossy()));
    result.assert_no_leak(&["s3cr3t"]);

    // `env` itself, not through dash, which drops hyphenated variables.
    let env = Runner::new("/usr/bin/env".into())
        .input("secret-name", "X")
        .input("dry run", "true")
        .env("GITHUB_API_URL", "http://127.0.0.1:1")
        .remove_env("GITHUB_ACTOR")
        .run();
    let vars: Vec<&str> = env.stdout.lines().collect();
    for expected in [
        "INPUT_SECRET-NAME=X",
        "INPUT_DRY_RUN=true",
        "GITHUB_ACTIONS=true",
        "GITHUB_API_URL=http://127.0.0.1:1",
        "GITHUB_RUN_ID=42",
    ] {
        assert!(vars.contains(&expected), "{expected} missing from {vars:?}");
    }
    assert!(!vars.iter().any(|v| v.starts_with("GITHUB_ACTOR=")));
    assert!(!vars.iter().any(|v| v.starts_with("HOME=")), "env is cleared");

    let outside = sh("echo \"${GITHUB_ACTIONS:-none} ${GITHUB_OUTPUT:-none}\"")
        .outside_actions()
        .run();
    assert_eq!(outside.stdout, "none none\n");
    assert!(outside.outputs.is_empty());
}

#[test]
fn runner_catches_leaks_without_printing_them() {
    let leaky = sh("echo 'a.b.signature-part-0123456789' > leaked.txt").run();
    let message = panic_message(|| leaky.assert_no_leak(&["hdr.payload.signature-part-0123456789"]));
    assert!(message.contains("leaked.txt"), "{message}");
    assert!(!message.contains("signature-part"), "{message}");
    let path = leaky.workspace.join("leaked.txt");
    leaky.assert_no_leak_except(&["hdr.payload.signature-part-0123456789"], &[&path]);

    let bad_output = sh("echo 'not an output' >> \"$GITHUB_OUTPUT\"");
    assert!(panic_message(|| drop(bad_output.run())).contains("not an output"));

    let hung = sh("exec sleep 5").timeout(Duration::from_millis(200));
    let started = Instant::now();
    assert!(panic_message(|| drop(hung.run())).contains("killed"));
    assert!(started.elapsed() < Duration::from_secs(3));
}

fn panic_message(f: impl FnOnce()) -> String {
    let error = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("expected a panic");
    error
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| error.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}
