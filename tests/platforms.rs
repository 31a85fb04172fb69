//! Where apps run (SPEC, "Where apps run: Cloudflare Workers and Vercel
//! targets"), end to end: the real binary writes the new token into a
//! Workers secret (`cloudflare:ACCOUNT:SCRIPT:NAME`) and a Vercel project
//! variable (`vercel:PROJECT:NAME[:TARGETS]`), proves write access to both
//! before Turso rotates, stops on what it must not touch, hands the token
//! on when a write after the rotation fails, and redeploys a Vercel
//! project (`dispatch: vercel:PROJECT`).
//!
//! The first tests check the fakes themselves (the rules read from
//! Cloudflare's and Vercel's own clients, see `tests/common/cloudflare.rs`
//! and `tests/common/vercel.rs`): the rest mean nothing if those are wrong.

mod common;

use std::collections::BTreeSet;

use serde_json::{json, Value};

use common::cloudflare::{self, FakeCloudflare};
use common::vercel::{self, now_ms, EnvVar, FakeVercel};
use common::world::{World, API_TOKEN, GH_TOKEN};
use common::{Fault, FaultAction, Recorded, RunResult, Runner};

const CF_TOKEN: &str = "cf-api-token-0123456789abcdefXYZ";
const VERCEL_TOKEN: &str = "vercel-token-0123456789abcdefXYZ";
const ACCOUNT: &str = "023e105f4ecef8ad9ca31a8372d0c353";
const SCRIPT: &str = "api";
const PROJECT: &str = "web";
const NAME: &str = "TURSO_AUTH_TOKEN";
const PROBE: &str = "TURSO_ROTATE_PROBE";
const VERCEL_TARGET: &str = "vercel:web:TURSO_AUTH_TOKEN";
const DAY_MS: u64 = 86_400_000;

fn worker_target() -> String {
    format!("cloudflare:{ACCOUNT}:{SCRIPT}:{NAME}")
}

/// The usual world (Turso group `prod`, GitHub `acme/app`) plus a Worker
/// `api` and a Vercel project `web`, all in one journal.
struct Platforms {
    world: World,
    cloudflare: FakeCloudflare,
    vercel: FakeVercel,
}

impl Platforms {
    fn new() -> Platforms {
        Platforms::with_vercel(FakeVercel::start(VERCEL_TOKEN))
    }

    fn with_vercel(vercel: FakeVercel) -> Platforms {
        let world = World::new();
        let cloudflare = FakeCloudflare::start(CF_TOKEN).with_journal(&world.journal);
        cloudflare.add_worker(ACCOUNT, SCRIPT);
        let vercel = vercel.with_journal(&world.journal);
        vercel.add_project(PROJECT);
        Platforms {
            world,
            cloudflare,
            vercel,
        }
    }

    /// The world's runner writing to `secrets` (one target a line), with
    /// both platform tokens and URLs, every token in the leak scan.
    fn runner(&self, secrets: &str) -> Runner {
        self.world
            .runner()
            .secrets(&[API_TOKEN, GH_TOKEN, CF_TOKEN, VERCEL_TOKEN])
            .input("secret-name", "")
            .input("secrets", secrets)
            .input("cloudflare-api-token", CF_TOKEN)
            .input("vercel-token", VERCEL_TOKEN)
            .input("vercel-team", "")
            .input("cloudflare-api-url", &self.cloudflare.api_url())
            .input("vercel-api-url", &self.vercel.api_url())
    }

    /// [`Platforms::runner`] for the `groups` input (`group=TARGET` a line),
    /// with every group it names beyond `prod` added to Turso.
    fn groups_runner(&self, groups: &str) -> Runner {
        for line in groups.lines() {
            let group = line.split_once('=').map_or(line, |(g, _)| g).trim();
            if group != "prod" {
                self.world.turso.add_group(group);
            }
        }
        self.runner("").input("group", "").input("groups", groups)
    }

    /// Index in the journal of the first request to `label` that `pred` accepts.
    fn position(&self, label: &str, pred: impl Fn(&Recorded) -> bool) -> Option<usize> {
        self.world
            .journal
            .entries()
            .iter()
            .position(|(l, r)| *l == label && pred(r))
    }

    fn rotate_position(&self) -> usize {
        self.world
            .journal
            .position("turso", "POST", "/auth/rotate")
            .unwrap_or_else(|| panic!("no rotation: {:?}", self.world.journal.calls()))
    }

    /// Requests to either platform that change something.
    fn platform_writes(&self) -> usize {
        ["PUT", "POST", "PATCH", "DELETE"]
            .iter()
            .map(|m| self.cloudflare.count(m, "/") + self.vercel.count(m, "/"))
            .sum()
    }

    fn all_requests(&self) -> usize {
        self.world.requests() + self.cloudflare.requests().len() + self.vercel.requests().len()
    }
}

/// A JSON body whose `field` is `value`.
fn body_has(r: &Recorded, field: &str, value: &str) -> bool {
    r.json().is_some_and(|b| b[field] == value)
}

/// `target` of a recorded JSON body, as a set.
fn target_set(body: &Value) -> BTreeSet<String> {
    body["target"]
        .as_array()
        .unwrap_or_else(|| panic!("no target array: {body}"))
        .iter()
        .map(|t| t.as_str().expect("a target is a string").to_string())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The `results` entry for `target`.
fn entry(result: &RunResult, target: &str) -> Value {
    entry_where(result, "target", target)
}

/// The first `results` entry whose `field` is `value`.
fn entry_where(result: &RunResult, field: &str, value: &str) -> Value {
    result.results_entry(field, value)
}

/// Every `::error::` line, joined: where the platform's words must show.
fn errors(result: &RunResult) -> String {
    commands(result, "::error::")
}

/// Every line of stdout that starts with `prefix` (a workflow command), joined.
fn commands(result: &RunResult, prefix: &str) -> String {
    result
        .stdout
        .lines()
        .filter(|l| l.starts_with(prefix))
        .collect::<Vec<_>>()
        .join("\n")
}

fn no_leak(result: &RunResult, token: Option<&str>) {
    let mut secrets = vec![API_TOKEN, GH_TOKEN, CF_TOKEN, VERCEL_TOKEN];
    secrets.extend(token);
    result.assert_no_leak(&secrets);
}

// ---------------------------------------------------------------------------
// The fakes themselves.

/// (status, JSON body) of one request with a bearer token.
fn call(method: &str, url: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let agent = common::test_agent();
    let auth = format!("Bearer {token}");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let response = match method {
        "GET" => agent.get(url).header("Authorization", &auth).call(),
        "DELETE" => agent.delete(url).header("Authorization", &auth).call(),
        _ => {
            let builder = match method {
                "PUT" => agent.put(url),
                "POST" => agent.post(url),
                "PATCH" => agent.patch(url),
                other => panic!("no {other}"),
            };
            builder
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(body)
        }
    };
    let mut response = response.expect("response");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().expect("text body");
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
    )
}

#[test]
fn fake_cloudflare_answers_as_the_workers_secrets_api() {
    let cf = FakeCloudflare::start(CF_TOKEN);
    cf.add_worker(ACCOUNT, SCRIPT);
    cf.add_binding(ACCOUNT, SCRIPT, "PLAIN", "plain_text");
    let secrets = format!("{}/accounts/{ACCOUNT}/workers/scripts/{SCRIPT}/secrets", cf.api_url());
    let put = |body: Value| call("PUT", &secrets, CF_TOKEN, Some(body));

    let (status, body) = put(json!({"name": NAME, "text": "v1", "type": "secret_text"}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(
        body["result"],
        json!({"name": NAME, "type": "secret_text"}),
        "no value back"
    );
    put(json!({"name": NAME, "text": "v2", "type": "secret_text"}));
    assert_eq!(cf.secret(ACCOUNT, SCRIPT, NAME).as_deref(), Some("v2"), "PUT replaces");
    for (bad, code) in [
        (json!({"text": "x", "type": "secret_text"}), cloudflare::INVALID_BODY),
        (
            json!({"name": "", "text": "x", "type": "secret_text"}),
            cloudflare::INVALID_BODY,
        ),
        (
            json!({"name": "A", "text": "x", "type": "plain_text"}),
            cloudflare::INVALID_BODY,
        ),
        (
            json!({"name": "A", "text": 7, "type": "secret_text"}),
            cloudflare::INVALID_BODY,
        ),
        (json!({"name": "A", "type": "secret_key"}), cloudflare::INVALID_BODY),
        (
            json!({"name": "PLAIN", "text": "x", "type": "secret_text"}),
            cloudflare::BINDING_NAME_TAKEN,
        ),
        (
            json!({"name": "A", "text": "x".repeat(5 * 1024 + 1), "type": "secret_text"}),
            cloudflare::SECRET_TOO_LARGE,
        ),
    ] {
        let (status, body) = put(bad.clone());
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["success"], false);
        assert_eq!(body["errors"][0]["code"], code, "{bad}: {body}");
    }

    let (status, body) = call("GET", &secrets, CF_TOKEN, None);
    assert_eq!(status, 200);
    assert_eq!(body["result"], json!([{"name": NAME, "type": "secret_text"}]));
    let (status, body) = call("DELETE", &format!("{secrets}/{NAME}?url_encoded=true"), CF_TOKEN, None);
    assert_eq!((status, &body["result"]), (200, &Value::Null), "{body}");
    let (status, body) = call("DELETE", &format!("{secrets}/{NAME}"), CF_TOKEN, None);
    assert_eq!(status, 404);
    assert_eq!(body["errors"][0]["code"], cloudflare::BINDING_NOT_FOUND);
    assert_eq!(cf.deployments(ACCOUNT, SCRIPT), 3, "two PUTs and a DELETE");

    // An unknown Worker is an error, never a new Worker.
    let missing = format!("{}/accounts/{ACCOUNT}/workers/scripts/nope/secrets", cf.api_url());
    for method in ["GET", "PUT"] {
        let body = json!({"name": NAME, "text": "x", "type": "secret_text"});
        let (status, answer) = call(method, &missing, CF_TOKEN, Some(body));
        assert_eq!(status, 404, "{method}");
        assert_eq!(answer["errors"][0]["code"], cloudflare::SCRIPT_NOT_FOUND);
        assert_eq!(
            answer["errors"][0]["message"],
            "This Worker does not exist on your account."
        );
    }
    assert_eq!(cf.workers(), [(ACCOUNT.to_string(), SCRIPT.to_string())]);

    cf.gradual_deployment(ACCOUNT, SCRIPT, true);
    let (status, body) = put(json!({"name": NAME, "text": "v3", "type": "secret_text"}));
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["code"], cloudflare::VERSION_NOT_DEPLOYED);
    cf.gradual_deployment(ACCOUNT, SCRIPT, false);

    cf.add_read_only_token("cf-read-only");
    assert_eq!(call("GET", &secrets, "cf-read-only", None).0, 200);
    let (status, body) = call(
        "PUT",
        &secrets,
        "cf-read-only",
        Some(json!({"name": "A", "text": "x", "type": "secret_text"})),
    );
    assert_eq!(status, 403);
    assert_eq!(
        body["errors"][0],
        json!({"code": 10000, "message": "Authentication error"})
    );
    assert_eq!(call("GET", &secrets, "wrong", None).0, 403);
    let other = format!("{}/accounts/0000/workers/scripts/{SCRIPT}/secrets", cf.api_url());
    assert_eq!(
        call("GET", &other, CF_TOKEN, None).0,
        403,
        "an account the token cannot reach"
    );
    let outside = format!("{}/accounts/{ACCOUNT}/workers/scripts/{SCRIPT}/secrets", cf.url());
    assert_eq!(
        call("GET", &outside, CF_TOKEN, None).0,
        404,
        "the base path is part of the URL"
    );

    cf.answer_unsuccessfully("GET", "/secrets", 10013, "workers.api.error.unknown", 1);
    let (status, body) = call("GET", &secrets, CF_TOKEN, None);
    assert_eq!((status, &body["success"]), (200, &json!(false)));
}

#[test]
fn fake_vercel_answers_as_the_project_env_api() {
    let v = FakeVercel::start(VERCEL_TOKEN).with_team("team_abc", "acme");
    let project = v.add_project(PROJECT);
    let base = v.api_url();
    let env = format!("{base}/v10/projects/{PROJECT}/env?teamId=team_abc");
    let upsert = format!("{base}/v10/projects/{PROJECT}/env?upsert=true&slug=acme");
    let new = |key: &str, targets: &[&str]| json!({"key": key, "value": "v", "type": "sensitive", "target": targets});

    let (status, body) = call("POST", &env, VERCEL_TOKEN, Some(new("A", &["production", "preview"])));
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["failed"], json!([]));
    let id = body["created"]["id"].as_str().unwrap().to_string();
    assert_ne!(body["created"]["value"], "v", "a sensitive value never comes back");
    assert_eq!(v.value(&project, "A", "preview").as_deref(), Some("v"), "by id or name");

    // The same key on an overlapping target: 400 without upsert.
    let (status, body) = call("POST", &env, VERCEL_TOKEN, Some(new("A", &["preview"])));
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("ENV_CONFLICT")),
        "{body}"
    );
    // With upsert: the same targets are updated in place…
    let same = json!({"key": "A", "value": "v2", "type": "sensitive", "target": ["preview", "production"]});
    let (status, body) = call("POST", &upsert, VERCEL_TOKEN, Some(same));
    assert_eq!((status, &body["created"]["id"]), (201, &json!(id)), "{body}");
    assert_eq!(v.value(PROJECT, "A", "production").as_deref(), Some("v2"));
    // …overlapping but different ones are a 201 with failed[].
    let (status, body) = call("POST", &upsert, VERCEL_TOKEN, Some(new("A", &["preview"])));
    assert_eq!(status, 201);
    assert_eq!(body["failed"][0]["error"]["code"], "ENV_CONFLICT", "{body}");
    assert_eq!(body["failed"][0]["error"]["envVarId"], id.as_str());
    // A target that does not overlap is another record.
    let dev = json!({"key": "A", "value": "d", "type": "encrypted", "target": ["development"]});
    assert_eq!(call("POST", &env, VERCEL_TOKEN, Some(dev)).0, 201);
    assert_eq!(v.envs(PROJECT).len(), 2);

    for (bad, code) in [
        (
            json!({"value": "v", "type": "sensitive", "target": ["preview"]}),
            "MISSING_KEY",
        ),
        (
            json!({"key": "B", "value": "v", "type": "nope", "target": ["preview"]}),
            "bad_request",
        ),
        (
            json!({"key": "B", "value": "v", "type": "secret", "target": ["preview"]}),
            "bad_request",
        ),
        (
            json!({"key": "B", "value": "v", "type": "sensitive", "target": ["development"]}),
            "bad_request",
        ),
        (json!({"key": "B", "value": "v", "type": "sensitive"}), "MISSING_TARGET"),
        (
            json!({"key": "B", "type": "sensitive", "target": ["preview"]}),
            "MISSING_VALUE",
        ),
        (
            json!({"key": "B", "value": 1, "type": "sensitive", "target": ["preview"]}),
            "VALUE_INVALID_TYPE",
        ),
        (
            json!({"key": "B", "value": "v", "type": "sensitive", "target": ["production"], "gitBranch": "x"}),
            "bad_request",
        ),
    ] {
        let (status, body) = call("POST", &env, VERCEL_TOKEN, Some(bad.clone()));
        assert_eq!((status, &body["error"]["code"]), (400, &json!(code)), "{bad}: {body}");
    }

    let (status, body) = call("GET", &env, VERCEL_TOKEN, None);
    assert_eq!(status, 200);
    assert_eq!(body["envs"].as_array().unwrap().len(), 2);
    assert!(!body.to_string().contains("\"v2\""), "no decrypted value unless asked");
    let one = format!("{base}/v9/projects/{PROJECT}/env/{id}?teamId=team_abc");
    let (status, body) = call("PATCH", &one, VERCEL_TOKEN, Some(json!({"value": "v3"})));
    assert_eq!(status, 200, "{body}");
    assert_eq!(v.env(PROJECT, &id).unwrap().value, "v3");
    assert_eq!(call("DELETE", &one, VERCEL_TOKEN, None).0, 200);
    assert_eq!(call("DELETE", &one, VERCEL_TOKEN, None).0, 404);

    // The team, the token, the project.
    let no_team = format!("{base}/v10/projects/{PROJECT}/env");
    let (status, body) = call("GET", &no_team, VERCEL_TOKEN, None);
    assert_eq!((status, &body["error"]["code"]), (403, &json!("forbidden")));
    assert_eq!(call("GET", &env, "wrong", None).0, 403);
    let (status, body) = call(
        "GET",
        &format!("{base}/v10/projects/nope/env?teamId=team_abc"),
        VERCEL_TOKEN,
        None,
    );
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")));

    // A role that may write preview only.
    v.allow_targets(&["preview"]);
    let (status, body) = call("POST", &env, VERCEL_TOKEN, Some(new("C", &["production"])));
    assert_eq!((status, &body["error"]["code"]), (403, &json!("forbidden")));
    assert_eq!(call("POST", &env, VERCEL_TOKEN, Some(new("C", &["preview"]))).0, 201);
    v.allow_targets(&["production", "preview", "development"]);

    v.fail_creates("D", "ENV_CONFLICT", "refused");
    let (status, body) = call("POST", &upsert, VERCEL_TOKEN, Some(new("D", &["preview"])));
    assert_eq!(
        (status, &body["failed"][0]["error"]["code"]),
        (201, &json!("ENV_CONFLICT"))
    );
    assert!(body.get("created").is_none(), "{body}");

    // Redeploys.
    let live = v.add_live_deployment(PROJECT);
    let (_, body) = call(
        "GET",
        &format!("{base}/v9/projects/{PROJECT}?slug=acme"),
        VERCEL_TOKEN,
        None,
    );
    assert_eq!(body["targets"]["production"]["id"], live.as_str());
    assert_eq!(body["name"], PROJECT);
    let deployments = format!("{base}/v13/deployments?forceNew=1&teamId=team_abc");
    let redeploy = |id: &str| json!({"deploymentId": id, "name": PROJECT, "target": "production"});
    assert_eq!(
        call("POST", &deployments, VERCEL_TOKEN, Some(redeploy("dpl_nope"))).0,
        404
    );
    assert_eq!(
        call("POST", &deployments, VERCEL_TOKEN, Some(json!({"deploymentId": live}))).0,
        400
    );
    let (status, body) = call("POST", &deployments, VERCEL_TOKEN, Some(redeploy(&live)));
    assert_eq!(status, 200, "{body}");
    let redeploys = v.redeploys();
    assert_eq!(redeploys.len(), 1);
    assert_eq!(redeploys[0].deployment_id.as_deref(), Some(live.as_str()));
    assert_eq!(redeploys[0].force_new.as_deref(), Some("1"));
    assert_eq!(redeploys[0].with_latest_commit, None);
}

// ---------------------------------------------------------------------------
// The action against them.

#[test]
fn one_run_writes_a_github_secret_a_worker_secret_and_a_vercel_variable() {
    let p = Platforms::new();
    let secrets = format!("repo:{NAME}\n{}\n{VERCEL_TARGET}", worker_target());
    let result = p.runner(&secrets).run();
    result.assert_exit(0);
    let token = result.output("token").expect("token output");

    assert_eq!(p.world.secret().as_deref(), Some(token), "GitHub");
    assert_eq!(
        p.cloudflare.secret(ACCOUNT, SCRIPT, NAME).as_deref(),
        Some(token),
        "Worker"
    );
    for target in ["production", "preview"] {
        assert_eq!(
            p.vercel.value(PROJECT, NAME, target).as_deref(),
            Some(token),
            "Vercel {target}"
        );
    }
    assert!(p.world.turso.token_valid("prod", token), "the token written is live");
    assert_eq!(
        p.vercel.value(PROJECT, NAME, "development"),
        None,
        "development untouched"
    );
    let records = p.vercel.envs(PROJECT);
    assert_eq!(records.len(), 1, "the probe is gone: {records:?}");
    assert_eq!(records[0].kind, "sensitive");
    assert_eq!(records[0].git_branch, None);
    assert_eq!(p.cloudflare.secret_names(ACCOUNT, SCRIPT), [NAME], "the probe is gone");

    // Each platform's access is proven before Turso rotates.
    let rotate = p.rotate_position();
    let cf_list = p.position("cloudflare", |r| r.method == "GET" && r.path.ends_with("/secrets"));
    let cf_probe = p.position("cloudflare", |r| r.method == "PUT" && body_has(r, "name", PROBE));
    let cf_unprobe = p.position("cloudflare", |r| r.method == "DELETE" && r.path.ends_with(PROBE));
    let cf_write = p.position("cloudflare", |r| r.method == "PUT" && body_has(r, "name", NAME));
    let v_list = p.position("vercel", |r| r.method == "GET" && r.path == "/v10/projects/web/env");
    let v_probe = p.position("vercel", |r| r.method == "POST" && body_has(r, "key", PROBE));
    let v_unprobe = p.position("vercel", |r| {
        r.method == "DELETE" && r.path.starts_with("/v9/projects/web/env/")
    });
    let v_write = p.position("vercel", |r| r.method == "POST" && body_has(r, "key", NAME));
    for (what, at) in [
        ("cloudflare list", cf_list),
        ("cloudflare probe PUT", cf_probe),
        ("cloudflare probe DELETE", cf_unprobe),
        ("vercel list", v_list),
        ("vercel probe POST", v_probe),
        ("vercel probe DELETE", v_unprobe),
    ] {
        let at = at.unwrap_or_else(|| panic!("no {what}: {:?}", p.world.journal.calls()));
        assert!(at < rotate, "{what} after the rotation: {:?}", p.world.journal.calls());
    }
    assert!(cf_list < cf_probe && cf_probe < cf_unprobe);
    assert!(v_list < v_probe && v_probe < v_unprobe);
    assert!(cf_write.unwrap() > rotate && v_write.unwrap() > rotate);

    // What went over the wire.
    let put = &p.cloudflare.requests()[cf_index(&p, NAME)];
    assert_eq!(
        put.json(),
        Some(json!({"name": NAME, "text": token, "type": "secret_text"}))
    );
    let vercel_requests = p.vercel.requests();
    let probe = vercel_requests
        .iter()
        .find(|r| body_has(r, "key", PROBE))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(probe["type"], "sensitive");
    assert_eq!(
        target_set(&probe),
        set(&["production", "preview"]),
        "the probe covers our targets"
    );
    assert_ne!(probe["value"], token);
    let write = vercel_requests.iter().find(|r| body_has(r, "key", NAME)).unwrap();
    assert_eq!(write.query_param("upsert").as_deref(), Some("true"));
    let body = write.json().unwrap();
    assert_eq!((&body["value"], &body["type"]), (&json!(token), &json!("sensitive")));
    assert_eq!(target_set(&body), set(&["production", "preview"]));
    assert!(
        vercel_requests
            .iter()
            .all(|r| r.query_param("decrypt").as_deref() != Some("true")),
        "never asks for decrypted values"
    );

    // The request budget: 3 + 4 + 4 + 4.
    assert_eq!(p.world.turso.requests().len(), 3);
    assert_eq!(p.world.github.requests().len(), 4);
    assert_eq!(p.cloudflare.requests().len(), 4, "list, probe PUT and DELETE, PUT");
    assert_eq!(vercel_requests.len(), 4, "list, probe POST and DELETE, write");
    assert_eq!(
        p.cloudflare.deployments(ACCOUNT, SCRIPT),
        3,
        "each secret change deploys"
    );

    for target in [format!("repo:{NAME}"), worker_target(), VERCEL_TARGET.to_string()] {
        let e = entry(&result, &target);
        assert_eq!((&e["written"], &e["error"]), (&json!(true), &Value::Null), "{e}");
    }
    assert_eq!(result.output("secret-updated"), Some("true"));
    no_leak(&result, Some(token));
}

/// Index in the fake's own log of the PUT that wrote `name`.
fn cf_index(p: &Platforms, name: &str) -> usize {
    p.cloudflare
        .requests()
        .iter()
        .position(|r| r.method == "PUT" && body_has(r, "name", name))
        .unwrap_or_else(|| panic!("no PUT of {name}"))
}

#[test]
fn one_list_and_one_probe_per_worker_and_per_project() {
    let p = Platforms::new();
    let secrets = format!(
        "cloudflare:{ACCOUNT}:{SCRIPT}:A_TOKEN\ncloudflare:{ACCOUNT}:{SCRIPT}:B_TOKEN\nvercel:web:A_TOKEN\nvercel:web:B_TOKEN"
    );
    let result = p.runner(&secrets).run();
    result.assert_exit(0);
    let token = result.output("token").unwrap();
    for name in ["A_TOKEN", "B_TOKEN"] {
        assert_eq!(p.cloudflare.secret(ACCOUNT, SCRIPT, name).as_deref(), Some(token));
        assert_eq!(p.vercel.value(PROJECT, name, "production").as_deref(), Some(token));
    }
    assert_eq!(p.cloudflare.count("GET", "/secrets"), 1);
    assert_eq!(p.cloudflare.requests().len(), 5, "list, probe PUT and DELETE, 2 PUTs");
    assert_eq!(p.vercel.count("GET", "/env"), 1);
    assert_eq!(p.vercel.requests().len(), 5, "list, probe POST and DELETE, 2 writes");
}

#[test]
fn a_vercel_token_without_production_stops_the_run_before_rotation() {
    let p = Platforms::new();
    p.vercel.allow_targets(&["preview"]);
    let result = p.runner(VERCEL_TARGET).run();
    result.assert_exit(1);
    assert_eq!(p.world.turso.rotations("prod"), 0);
    assert_eq!(p.world.turso.count("POST", "/"), 0, "nothing created either");
    assert!(
        errors(&result).contains("forbidden"),
        "Vercel's code:\n{}",
        result.stdout
    );
    assert!(result.stdout.contains("nothing was rotated"), "{}", result.stdout);
    assert_eq!(p.vercel.envs(PROJECT), [], "nothing left behind");

    // The same token may write a preview-only variable.
    let result = p.runner(&format!("{VERCEL_TARGET}:preview")).run();
    result.assert_exit(0);
    let token = result.output("token").unwrap();
    assert_eq!(p.vercel.value(PROJECT, NAME, "preview").as_deref(), Some(token));
    assert_eq!(p.vercel.value(PROJECT, NAME, "production"), None);
    let e = entry(&result, &format!("{VERCEL_TARGET}:preview"));
    assert_eq!(e["written"], true, "{e}");
}

#[test]
fn a_worker_that_does_not_exist_stops_the_run_and_none_is_created() {
    let p = Platforms::new();
    let result = p.runner(&format!("cloudflare:{ACCOUNT}:missing:{NAME}")).run();
    result.assert_exit(1);
    assert_eq!(p.world.turso.rotations("prod"), 0);
    assert!(
        errors(&result).contains("10007"),
        "Cloudflare's code:\n{}",
        result.stdout
    );
    assert_eq!(p.cloudflare.workers(), [(ACCOUNT.to_string(), SCRIPT.to_string())]);
    assert_eq!(p.cloudflare.count("PUT", "/"), 0, "no secret PUT, no script upload");
    assert_eq!(p.cloudflare.requests().len(), 1, "the list said enough");
}

#[test]
fn a_gradual_deployment_on_the_write_is_named_and_the_token_is_handed_on() {
    let p = Platforms::new();
    // The probe passes; by the write, a gradual deployment has started.
    p.world.turso.on_request(
        "POST",
        "/auth/rotate",
        p.cloudflare.gradual_deployment_later(ACCOUNT, SCRIPT),
    );
    let result = p.runner(&worker_target()).input("max-attempts", "1").run();
    result.assert_exit(1);
    assert_eq!(p.world.turso.rotations("prod"), 1);
    let token = result.output("token").expect("the token is handed on");
    assert!(p.world.turso.token_valid("prod", token));
    assert_eq!(result.output("secret-updated"), Some("false"));
    assert_eq!(p.cloudflare.secret(ACCOUNT, SCRIPT, NAME), None);
    let errors = errors(&result);
    for words in ["10215", "gradual deployment", "finish or roll back"] {
        assert!(errors.contains(words), "{words}:\n{}", result.stdout);
    }
    let e = entry(&result, &worker_target());
    assert_eq!(e["written"], false);
    assert!(e["error"].as_str().is_some_and(|m| m.contains("10215")), "{e}");
    no_leak(&result, Some(token));
}

#[test]
fn failed_entries_in_a_201_are_a_failed_write_and_the_token_is_handed_on() {
    let p = Platforms::new();
    p.vercel.fail_creates(
        NAME,
        "ENV_CONFLICT",
        "A variable with the name `TURSO_AUTH_TOKEN` already exists for the target production on branch undefined",
    );
    let result = p.runner(VERCEL_TARGET).input("max-attempts", "1").run();
    result.assert_exit(1);
    assert_eq!(p.world.turso.rotations("prod"), 1);
    let token = result.output("token").expect("the token is handed on");
    assert_eq!(result.output("secret-updated"), Some("false"));
    assert_eq!(p.vercel.value(PROJECT, NAME, "production"), None);
    assert!(errors(&result).contains("ENV_CONFLICT"), "{}", result.stdout);
    let e = entry(&result, VERCEL_TARGET);
    assert_eq!(e["written"], false, "{e}");
    no_leak(&result, Some(token));
}

#[test]
fn records_the_action_must_not_touch_stop_the_run_and_disjoint_ones_are_left_alone() {
    let cases = [
        (
            "integration",
            EnvVar::new(NAME, "from-integration", &["production", "preview"])
                .kind("encrypted")
                .configuration_id("icfg_0123456789"),
        ),
        ("overlap", EnvVar::new(NAME, "old", &["production", "development"])),
        ("branch", EnvVar::new(NAME, "old", &["preview"]).git_branch("feature")),
    ];
    // Each case is named by a word its error must use.
    for (case, record) in cases {
        let p = Platforms::new();
        let before = record.value.clone();
        let id = p.vercel.add_env(PROJECT, record);
        let result = p.runner(VERCEL_TARGET).run();
        result.assert_exit(1);
        assert_eq!(p.world.turso.rotations("prod"), 0, "{case}");
        assert_eq!(p.platform_writes(), 0, "{case}: not even the probe");
        assert_eq!(p.vercel.env(PROJECT, &id).map(|e| e.value), Some(before), "{case}");
        assert!(
            errors(&result).contains(NAME),
            "{case}: the conflict is named\n{}",
            result.stdout
        );
        if case == "integration-owned" {
            assert!(errors(&result).contains("integration"), "{}", result.stdout);
        }
    }

    // A record of the same name on development only is someone else's.
    let p = Platforms::new();
    let dev = p
        .vercel
        .add_env(PROJECT, EnvVar::new(NAME, "dev-value", &["development"]));
    let result = p.runner(VERCEL_TARGET).run();
    result.assert_exit(0);
    let token = result.output("token").unwrap();
    assert_eq!(p.vercel.env(PROJECT, &dev).unwrap().value, "dev-value");
    assert_eq!(p.vercel.value(PROJECT, NAME, "production").as_deref(), Some(token));
    assert_eq!(p.vercel.value(PROJECT, NAME, "preview").as_deref(), Some(token));
    assert_eq!(p.vercel.envs(PROJECT).len(), 2, "a new record beside it");
    assert_eq!(p.vercel.count("PATCH", "/"), 0);
}

#[test]
fn a_record_with_exactly_our_targets_is_patched_in_place() {
    let p = Platforms::new();
    let old = now_ms() - 30 * DAY_MS;
    let record = EnvVar::new(NAME, "old-token", &["preview", "production"])
        .kind("sensitive")
        .updated_at(old);
    let id = p.vercel.add_env(PROJECT, record);
    let result = p.runner(VERCEL_TARGET).run();
    result.assert_exit(0);
    let token = result.output("token").unwrap();

    let patches: Vec<Recorded> = p
        .vercel
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert_eq!(patches.len(), 1, "{:?}", p.world.journal.calls());
    assert_eq!(patches[0].path, format!("/v9/projects/{PROJECT}/env/{id}"));
    assert_eq!(patches[0].json(), Some(json!({"value": token})));
    assert!(p.position("vercel", |r| r.method == "PATCH").unwrap() > p.rotate_position());
    assert_eq!(
        p.vercel.count("POST", "/env"),
        1,
        "the probe is the only POST: {:?}",
        p.world.journal.calls()
    );
    assert_eq!(
        p.position("vercel", |r| body_has(r, "key", NAME) && r.method == "POST"),
        None
    );
    let record = p.vercel.env(PROJECT, &id).unwrap();
    assert_eq!(record.value, token);
    assert!(record.updated_at > old);
    assert_eq!(p.vercel.envs(PROJECT).len(), 1);
    assert_eq!(p.vercel.requests().len(), 4, "list, probe POST and DELETE, PATCH");
}

#[test]
fn a_vercel_redeploy_follows_the_write_and_a_refused_one_fails_the_run() {
    let p = Platforms::new();
    let live = p.vercel.add_live_deployment(PROJECT);
    let result = p.runner(VERCEL_TARGET).input("dispatch", "vercel:web").run();
    result.assert_exit(0);
    let token = result.output("token").unwrap();
    assert_eq!(p.vercel.value(PROJECT, NAME, "production").as_deref(), Some(token));

    let redeploys = p.vercel.redeploys();
    assert_eq!(redeploys.len(), 1, "{:?}", p.world.journal.calls());
    let redeploy = &redeploys[0];
    assert_eq!(
        redeploy.deployment_id.as_deref(),
        Some(live.as_str()),
        "the live deployment"
    );
    assert_eq!(redeploy.name, PROJECT);
    assert_eq!(redeploy.target.as_deref(), Some("production"));
    assert_eq!(redeploy.force_new.as_deref(), Some("1"));
    assert_ne!(redeploy.with_latest_commit, Some(true), "no new code ships");
    let write = p.position("vercel", |r| body_has(r, "key", NAME)).unwrap();
    let project = p
        .position("vercel", |r| r.method == "GET" && r.path == "/v9/projects/web")
        .unwrap();
    let deploy = p.position("vercel", |r| r.path == "/v13/deployments").unwrap();
    assert!(write < project && project < deploy, "{:?}", p.world.journal.calls());
    assert_eq!(p.vercel.requests().len(), 6, "4 for the variable, 2 for the redeploy");
    let e = entry(&result, "dispatch:vercel:web");
    assert_eq!((&e["written"], &e["error"]), (&json!(true), &Value::Null), "{e}");
    no_leak(&result, Some(token));

    // Refused: the variable stays written, the run fails.
    let p = Platforms::new();
    p.vercel.add_live_deployment(PROJECT);
    let refusal = vercel::error_body("forbidden", "You don't have permission to create a deployment.");
    p.vercel
        .fault(Fault::new("POST", "/v13/deployments", FaultAction::status(403, &refusal)).always());
    let result = p.runner(VERCEL_TARGET).input("dispatch", "vercel:web").run();
    result.assert_exit(1);
    let token = result.output("token").unwrap();
    assert_eq!(p.vercel.value(PROJECT, NAME, "production").as_deref(), Some(token));
    assert_eq!(result.output("secret-updated"), Some("true"));
    let e = entry(&result, "dispatch:vercel:web");
    assert_eq!(e["written"], false, "{e}");
    assert!(e["error"].as_str().is_some_and(|m| m.contains("forbidden")), "{e}");
    assert!(errors(&result).to_lowercase().contains("written"), "{}", result.stdout);
}

#[test]
fn platform_targets_alone_need_no_github_token() {
    let p = Platforms::new();
    let secrets = format!("{}\n{VERCEL_TARGET}", worker_target());
    let result = p.runner(&secrets).input("github-token", "").run();
    result.assert_exit(0);
    let token = result.output("token").unwrap();
    assert_eq!(p.cloudflare.secret(ACCOUNT, SCRIPT, NAME).as_deref(), Some(token));
    assert_eq!(p.vercel.value(PROJECT, NAME, "preview").as_deref(), Some(token));
    assert!(p.world.github.requests().is_empty(), "{:?}", p.world.journal.calls());
}

#[test]
fn bad_platform_inputs_exit_2_without_a_request() {
    let p = Platforms::new();
    let worker = worker_target();
    let cases: [(&str, &str, &str, &str); 9] = [
        ("cloudflare-api-token", "", &worker, "`cloudflare-api-token`"),
        ("vercel-token", "", VERCEL_TARGET, "`vercel-token`"),
        ("secrets", "vercel:web:TURSO_AUTH_TOKEN:development", "", "`secrets`"),
        (
            "secrets",
            "vercel:web:TURSO_AUTH_TOKEN:production,development",
            "",
            "`secrets`",
        ),
        ("secrets", "vercel:web:TURSO_AUTH_TOKEN:staging", "", "`secrets`"),
        ("secrets", "cloudflare:acct:api", "", "`secrets`"),
        (
            "cloudflare-api-url",
            "http://api.cloudflare.example/client/v4",
            &worker,
            "`cloudflare-api-url`",
        ),
        (
            "vercel-api-url",
            "http://api.vercel.example",
            VERCEL_TARGET,
            "`vercel-api-url`",
        ),
        ("dispatch", "vercel:web", "repo:TURSO_AUTH_TOKEN", "`vercel-token`"),
    ];
    for (input, value, secrets, named) in cases {
        let mut runner = p.runner(secrets).input(input, value);
        if input == "dispatch" {
            runner = runner.input("vercel-token", "");
        }
        let result = runner.run();
        result.assert_bad_input(named, &format!("{input}={value:?}"));
        assert_eq!(p.all_requests(), 0, "{input}={value:?} made a request");
    }
}

#[test]
fn vercel_team_goes_on_every_vercel_request() {
    for (team, param) in [("team_abc123", "teamId"), ("acme", "slug")] {
        let p = Platforms::with_vercel(FakeVercel::start(VERCEL_TOKEN).with_team("team_abc123", "acme"));
        p.vercel.add_live_deployment(PROJECT);
        let result = p
            .runner(VERCEL_TARGET)
            .input("vercel-team", team)
            .input("dispatch", "vercel:web")
            .run();
        result.assert_exit(0);
        let requests = p.vercel.requests();
        assert_eq!(requests.len(), 6, "{:?}", p.world.journal.calls());
        for r in &requests {
            assert_eq!(r.query_param(param).as_deref(), Some(team), "{}", r.line());
        }
    }

    // Without it, the team's project answers 403 in preflight.
    let p = Platforms::with_vercel(FakeVercel::start(VERCEL_TOKEN).with_team("team_abc123", "acme"));
    let result = p.runner(VERCEL_TARGET).run();
    result.assert_exit(1);
    assert_eq!(p.world.turso.rotations("prod"), 0);
    assert!(errors(&result).contains("forbidden"), "{}", result.stdout);
}

#[test]
fn rotate_after_ages_vercel_by_updated_at_and_leaves_cloudflare_out() {
    // Cloudflare keeps no timestamp: a group with only Worker targets is always due.
    let p = Platforms::new();
    p.cloudflare.set_secret(ACCOUNT, SCRIPT, NAME, "old-value");
    let result = p.runner(&worker_target()).input("rotate-after", "7d").run();
    result.assert_exit(0);
    assert_eq!(result.output("rotated"), Some("true"));
    assert_eq!(
        p.cloudflare.secret(ACCOUNT, SCRIPT, NAME).as_deref(),
        result.output("token")
    );

    // A Vercel variable written yesterday decides for the group: not due.
    let both = format!("{}\n{VERCEL_TARGET}", worker_target());
    let p = Platforms::new();
    p.cloudflare.set_secret(ACCOUNT, SCRIPT, NAME, "old-value");
    let id = p.vercel.add_env(
        PROJECT,
        EnvVar::new(NAME, "old-value", &["production", "preview"]).kind("sensitive"),
    );
    p.vercel.set_updated_at(PROJECT, NAME, now_ms() - DAY_MS);
    let result = p.runner(&both).input("rotate-after", "7d").run();
    result.assert_exit(0);
    assert_eq!(result.output("rotated"), Some("false"));
    assert_eq!(p.world.turso.count("POST", "/"), 0);
    assert_eq!(
        p.platform_writes(),
        0,
        "not due: no probe, no write\n{:?}",
        p.world.journal.calls()
    );
    assert_eq!(p.cloudflare.secret(ACCOUNT, SCRIPT, NAME).as_deref(), Some("old-value"));
    assert_eq!(p.vercel.env(PROJECT, &id).unwrap().value, "old-value");
    assert!(result.summary.contains("not due"), "{}", result.summary);

    // Eight days old: due, and both are written.
    p.vercel.set_updated_at(PROJECT, NAME, now_ms() - 8 * DAY_MS);
    let result = p.runner(&both).input("rotate-after", "7d").run();
    result.assert_exit(0);
    let token = result.output("token").unwrap();
    assert_eq!(p.vercel.env(PROJECT, &id).unwrap().value, token);
    assert_eq!(p.cloudflare.secret(ACCOUNT, SCRIPT, NAME).as_deref(), Some(token));
}

#[test]
fn a_cloudflare_429_is_retried_and_a_200_with_success_false_is_an_error() {
    let p = Platforms::new();
    let busy = cloudflare::error_body(971, "Please wait and consider throttling your request speed");
    p.cloudflare.fault(Fault::new(
        "GET",
        "/secrets",
        FaultAction::status_with(429, &busy, &[("Retry-After", "1")]),
    ));
    let result = p.runner(&worker_target()).run();
    result.assert_exit(0);
    assert_eq!(p.cloudflare.count("GET", "/secrets"), 2, "the list was retried");
    assert_eq!(
        p.cloudflare.secret(ACCOUNT, SCRIPT, NAME).as_deref(),
        result.output("token")
    );

    let p = Platforms::new();
    p.cloudflare
        .answer_unsuccessfully("PUT", "/secrets", 10023, "workers.api.error.secret_not_stored", 1);
    let result = p.runner(&worker_target()).run();
    result.assert_exit(1);
    assert_eq!(p.world.turso.rotations("prod"), 0, "the probe failed: nothing rotated");
    let errors = errors(&result);
    assert!(errors.contains("10023"), "Cloudflare's code:\n{}", result.stdout);
    assert!(
        errors.contains("workers.api.error.secret_not_stored"),
        "{}",
        result.stdout
    );
}

#[test]
fn a_vercel_429_is_retried() {
    let p = Platforms::new();
    let limited = vercel::error_body("rate_limited", "Rate limit exceeded");
    p.vercel.fault(Fault::new(
        "GET",
        "/v10/projects/web/env",
        FaultAction::status_with(429, &limited, &[("Retry-After", "1")]),
    ));
    let result = p.runner(VERCEL_TARGET).run();
    result.assert_exit(0);
    assert_eq!(p.vercel.count("GET", "/env"), 2, "the list was retried");
    assert_eq!(
        p.vercel.value(PROJECT, NAME, "production").as_deref(),
        result.output("token")
    );
}

#[test]
fn outside_actions_the_platform_tokens_come_from_the_environment() {
    let p = Platforms::new();
    let secrets = format!("{}\n{VERCEL_TARGET}", worker_target());
    let result = p
        .runner(&secrets)
        .outside_actions()
        .input("github-token", "")
        .input("cloudflare-api-token", "")
        .input("vercel-token", "")
        .env("CLOUDFLARE_API_TOKEN", CF_TOKEN)
        .env("VERCEL_TOKEN", VERCEL_TOKEN)
        .run();
    result.assert_exit(0);
    let json: Value = serde_json::from_str(result.stdout.trim()).expect("one JSON object on stdout");
    assert_eq!(json["secret-updated"], "true");
    let token = p.cloudflare.secret(ACCOUNT, SCRIPT, NAME).expect("the Worker secret");
    assert_eq!(
        p.vercel.value(PROJECT, NAME, "production").as_deref(),
        Some(token.as_str())
    );
    no_leak(&result, Some(&token));
}

// ---------------------------------------------------------------------------
// Vercel and Cloudflare, more exactly (SPEC, 2026-12-01).

#[test]
fn a_vercel_conflict_fails_only_the_groups_that_write_that_variable() {
    let p = Platforms::new();
    let owned = EnvVar::new("A_TOKEN", "from-integration", &["production", "preview"]).configuration_id("icfg_1");
    let owned = p.vercel.add_env(PROJECT, owned);
    let result = p
        .groups_runner("prod=vercel:web:A_TOKEN\nstaging=vercel:web:B_TOKEN\nedge=vercel:web:C_TOKEN:preview")
        .run();
    result.assert_exit(1);

    // The group whose variable is an integration's is untouched and named…
    assert_eq!(p.world.turso.rotations("prod"), 0);
    assert_eq!(p.world.turso.count("POST", "/groups/prod/"), 0);
    assert_eq!(p.vercel.env(PROJECT, &owned).unwrap().value, "from-integration");
    let e = entry_where(&result, "group", "prod");
    assert_eq!(e["written"], false, "{e}");
    assert!(
        e["error"]
            .as_str()
            .is_some_and(|m| m.contains("A_TOKEN") && m.contains("integration")),
        "{e}"
    );
    // …the groups writing other variables of the same project go on.
    let staging = result.output("token-staging").expect("staging was rotated");
    let edge = result.output("token-edge").expect("edge was rotated");
    for target in ["production", "preview"] {
        assert_eq!(p.vercel.value(PROJECT, "B_TOKEN", target).as_deref(), Some(staging));
    }
    assert_eq!(p.vercel.value(PROJECT, "C_TOKEN", "preview").as_deref(), Some(edge));
    assert_eq!(p.vercel.value(PROJECT, "C_TOKEN", "production"), None);

    // One list for the project, whatever the target sets: then a probe per
    // target set and the two writes.
    assert_eq!(p.vercel.count("GET", "/env"), 1, "{:?}", p.world.journal.calls());
    assert_eq!(p.vercel.requests().len(), 7, "{:?}", p.world.journal.calls());
    no_leak(&result, Some(staging));

    // With a single group, one conflicting variable still stops the run
    // before anything changes.
    let p = Platforms::new();
    p.vercel
        .add_env(PROJECT, EnvVar::new("A_TOKEN", "old", &["production", "development"]));
    let result = p.runner("vercel:web:A_TOKEN\nvercel:web:B_TOKEN").run();
    result.assert_exit(1);
    assert_eq!(p.world.turso.rotations("prod"), 0);
    assert_eq!(p.platform_writes(), 0, "not even the probe");
    assert!(errors(&result).contains("A_TOKEN"), "{}", result.stdout);
}

#[test]
fn overlapping_vercel_targets_of_one_variable_are_one_secret() {
    let p = Platforms::new();
    for (input, value) in [
        (
            "secrets",
            "vercel:web:DB_TOKEN:production\nvercel:web:DB_TOKEN:production,preview",
        ),
        ("secrets", "vercel:web:DB_TOKEN:preview\nvercel:web:DB_TOKEN"),
        (
            "groups",
            "prod=vercel:web:DB_TOKEN:production\nstaging=vercel:web:DB_TOKEN",
        ),
    ] {
        let runner = match input {
            "groups" => p.runner("").input("group", "").input("groups", value),
            _ => p.runner(value),
        };
        let result = runner.run();
        result.assert_bad_input(&format!("`{input}`"), value);
        assert!(result.error_line().contains("DB_TOKEN"), "{}", result.stdout);
        assert_eq!(p.all_requests(), 0, "{value} made a request");
    }

    // Targets apart are two variables.
    let result = p
        .runner("vercel:web:DB_TOKEN:production\nvercel:web:DB_TOKEN:preview")
        .run();
    result.assert_exit(0);
    let token = result.output("token").unwrap();
    assert_eq!(p.vercel.envs(PROJECT).len(), 2);
    for target in ["production", "preview"] {
        assert_eq!(p.vercel.value(PROJECT, "DB_TOKEN", target).as_deref(), Some(token));
    }
}

#[test]
fn a_worker_name_cloudflare_would_refuse_is_bad_input() {
    let p = Platforms::new();
    for script in ["Api", "-api", "api.v2", "api%2Fx", "ápi"] {
        let result = p.runner(&format!("cloudflare:{ACCOUNT}:{script}:{NAME}")).run();
        result.assert_bad_input("`secrets`", script);
        assert_eq!(p.all_requests(), 0, "{script} made a request");
    }
    p.cloudflare.add_worker(ACCOUNT, "_edge-api_2");
    let result = p.runner(&format!("cloudflare:{ACCOUNT}:_edge-api_2:{NAME}")).run();
    result.assert_exit(0);
    assert_eq!(
        p.cloudflare.secret(ACCOUNT, "_edge-api_2", NAME).as_deref(),
        result.output("token")
    );
}

#[test]
fn a_paged_vercel_list_stops_that_projects_preflight() {
    let p = Platforms::new();
    p.vercel.page_envs(1);
    p.vercel.add_env(PROJECT, EnvVar::new("OTHER", "x", &["production"]));
    p.vercel.add_env(PROJECT, EnvVar::new("MORE", "y", &["preview"]));
    let result = p.runner(VERCEL_TARGET).run();
    result.assert_exit(1);
    assert_eq!(p.world.turso.rotations("prod"), 0);
    assert_eq!(p.platform_writes(), 0, "not even the probe");
    let errors = errors(&result);
    assert!(
        errors.contains("web") && errors.contains("pagination"),
        "the project and why:\n{}",
        result.stdout
    );

    // With `groups`, the groups writing elsewhere go on.
    let p = Platforms::new();
    p.vercel.page_envs(1);
    p.vercel.add_env(PROJECT, EnvVar::new("OTHER", "x", &["production"]));
    p.vercel.add_env(PROJECT, EnvVar::new("MORE", "y", &["preview"]));
    let result = p
        .groups_runner(&format!("prod={VERCEL_TARGET}\nstaging=repo:{NAME}"))
        .run();
    result.assert_exit(1);
    assert_eq!(p.world.turso.rotations("prod"), 0);
    let token = result.output("token-staging").expect("staging was rotated");
    assert_eq!(p.world.secret().as_deref(), Some(token));

    // A page that holds everything (`next` null) is the whole list.
    let p = Platforms::new();
    p.vercel.page_envs(5);
    p.vercel.add_env(PROJECT, EnvVar::new("OTHER", "x", &["production"]));
    let result = p.runner(VERCEL_TARGET).run();
    result.assert_exit(0);
    assert_eq!(
        p.vercel.value(PROJECT, NAME, "production").as_deref(),
        result.output("token")
    );
}

#[test]
fn records_of_other_keys_are_read_leniently_and_ours_strictly() {
    let p = Platforms::new();
    for odd in [
        json!({"id": "o1", "key": "OTHER", "type": "brand-new", "target": ["production"], "updatedAt": "yesterday"}),
        json!({"key": "BARE"}),
        json!({"id": "o3", "target": "preview", "updatedAt": 1.5}),
        json!({"id": "o4", "key": "NULLS", "type": null, "target": null, "updatedAt": null}),
    ] {
        p.vercel.add_raw_env(PROJECT, odd);
    }
    let result = p.runner(VERCEL_TARGET).run();
    result.assert_exit(0);
    assert_eq!(
        p.vercel.value(PROJECT, NAME, "production").as_deref(),
        result.output("token")
    );

    let well_formed = json!({"id": "r1", "key": NAME, "type": "sensitive", "target": ["production", "preview"],
        "configurationId": null, "updatedAt": now_ms()});
    for (key, field, odd) in [
        (NAME, "updatedAt", json!("yesterday")),
        (NAME, "type", json!("brand-new")),
        (NAME, "target", Value::Null),
        (NAME, "id", Value::Null),
        (PROBE, "updatedAt", json!(-1)),
    ] {
        let p = Platforms::new();
        let mut record = well_formed.clone();
        record["key"] = json!(key);
        match odd {
            Value::Null => record.as_object_mut().unwrap().remove(field),
            odd => record.as_object_mut().unwrap().insert(field.into(), odd),
        };
        p.vercel.add_raw_env(PROJECT, record);
        let result = p.runner(VERCEL_TARGET).run();
        result.assert_exit(1);
        assert_eq!(p.world.turso.rotations("prod"), 0, "{key} {field}");
        assert_eq!(p.platform_writes(), 0, "{key} {field}: not even the probe");
        let errors = errors(&result);
        assert!(
            errors.contains(key) && errors.contains("cannot read"),
            "{key} {field}: a clear message\n{}",
            result.stdout
        );
    }
}

#[test]
fn a_probe_an_earlier_run_left_is_deleted_before_the_probe() {
    let p = Platforms::new();
    // Its targets overlap the probe's but differ: creating the probe would clash.
    let left = p
        .vercel
        .add_env(PROJECT, EnvVar::new(PROBE, "left-over", &["production", "development"]));

    // A dry run writes nothing, not even this delete.
    let result = p.runner(VERCEL_TARGET).input("dry-run", "true").run();
    result.assert_exit(0);
    assert!(p.vercel.env(PROJECT, &left).is_some());
    assert_eq!(p.platform_writes(), 0);

    let result = p.runner(VERCEL_TARGET).run();
    result.assert_exit(0);
    let token = result.output("token").unwrap();
    assert_eq!(p.vercel.value(PROJECT, NAME, "production").as_deref(), Some(token));
    let records = p.vercel.envs(PROJECT);
    assert_eq!(records.len(), 1, "only the variable is left: {records:?}");
    let delete = p
        .position("vercel", |r| r.method == "DELETE" && r.path.ends_with(&left))
        .unwrap_or_else(|| panic!("the leftover is deleted: {:?}", p.world.journal.calls()));
    let probe = p
        .position("vercel", |r| r.method == "POST" && body_has(r, "key", PROBE))
        .unwrap();
    assert!(delete < probe && probe < p.rotate_position());
    assert_eq!(
        p.vercel.requests().len(),
        1 + 5,
        "the dry run's list; then list, leftover DELETE, probe POST and DELETE, write"
    );
}

#[test]
fn a_vercel_variable_that_is_not_sensitive_is_written_with_a_warning() {
    for kind in ["encrypted", "plain"] {
        let p = Platforms::new();
        let id = p
            .vercel
            .add_env(PROJECT, EnvVar::new(NAME, "old", &["production", "preview"]).kind(kind));
        let result = p.runner(VERCEL_TARGET).run();
        result.assert_exit(0);
        let token = result.output("token").unwrap();
        assert_eq!(
            p.vercel.env(PROJECT, &id).unwrap().value,
            token,
            "{kind}: replaced in place"
        );
        assert_eq!(p.vercel.count("PATCH", &id), 1, "{kind}");
        assert_eq!(
            p.vercel.requests().len(),
            4,
            "{kind}: list, probe POST and DELETE, PATCH"
        );
        let warnings = commands(&result, "::warning::");
        for words in [NAME, kind, "anyone with access", "recreate it as sensitive"] {
            assert!(warnings.contains(words), "{kind}: {words}\n{}", result.stdout);
        }
    }
}

#[test]
fn with_rotate_after_a_missing_worker_secret_makes_its_group_due() {
    let both = format!("{}\n{VERCEL_TARGET}", worker_target());
    let p = Platforms::new();
    p.vercel.add_env(
        PROJECT,
        EnvVar::new(NAME, "old-value", &["production", "preview"]).kind("sensitive"),
    );
    p.vercel.set_updated_at(PROJECT, NAME, now_ms() - DAY_MS);
    let result = p.runner(&both).input("rotate-after", "7d").run();
    result.assert_exit(0);
    assert_eq!(result.output("rotated"), Some("true"), "{}", result.stdout);
    let token = result.output("token").unwrap();
    assert_eq!(p.cloudflare.secret(ACCOUNT, SCRIPT, NAME).as_deref(), Some(token));
    assert_eq!(p.vercel.value(PROJECT, NAME, "production").as_deref(), Some(token));
    assert_eq!(p.cloudflare.count("GET", "/"), 1, "the preflight list told");
}

#[test]
fn a_vercel_probe_deleted_by_an_attempt_whose_answer_was_lost_is_no_warning() {
    let p = Platforms::new();
    // The probe's DELETE acts, its answer is lost; the retry finds nothing (404).
    p.vercel
        .fault(Fault::new("DELETE", "/env/", FaultAction::after_acting(502)));
    let result = p.runner(VERCEL_TARGET).run();
    result.assert_exit(0);
    assert!(
        !result
            .stdout
            .lines()
            .any(|l| l.starts_with("::warning::") && l.contains("by hand")),
        "{}",
        result.stdout
    );
    assert_eq!(p.vercel.count("DELETE", "/env/"), 2);
}
