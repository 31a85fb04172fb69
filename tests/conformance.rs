//! Every request the binary sends, held against what the API's owner says
//! a request must look like (the documents in `../shared/api`, checked by
//! `tests/common/openapi.rs`): representative runs against the fakes, then
//! each journal entry through the checker. A FAIL fails the test; NOTEs
//! (what the owner's server is shown to accept, what cannot be checked
//! here) are printed.

mod common;

use serde_json::json;

use common::fly::FakeFly;
use common::openapi::{Apis, Finding, Level};
use common::vercel::now_ms;
use common::world::{World, API_TOKEN, GH_TOKEN};
use common::{EnvVar, FakeCloudflare, FakeNetlify, FakeVercel, Journal, Recorded, Runner, Scope};

const CF_TOKEN: &str = "cf-api-token-0123456789abcdefXYZ";
const VERCEL_TOKEN: &str = "vercel-token-0123456789abcdefXYZ";
const ACCOUNT: &str = "023e105f4ecef8ad9ca31a8372d0c353";

/// The documents that describe what a fake, by its journal label, serves.
/// The fake Turso also serves each database's libSQL endpoint.
fn apis_of(label: &str) -> &'static [&'static str] {
    match label {
        "turso" => &["turso", "libsql"],
        "github" => &["github"],
        "cloudflare" => &["cloudflare"],
        "vercel" => &["vercel"],
        "fly" => &["fly"],
        "netlify" => &["netlify"],
        other => panic!("no API document for the fake labelled {other}"),
    }
}

/// Checks every request in `journal`: panics listing the FAILs, prints the
/// NOTEs, and returns them.
fn assert_conforms(journal: &Journal, run: &str) -> Vec<Finding> {
    let apis = Apis::load();
    let entries = journal.entries();
    assert!(!entries.is_empty(), "{run}: no requests at all");
    let findings: Vec<Finding> = entries
        .iter()
        .flat_map(|(label, req)| apis.check(apis_of(label), req))
        .collect();
    for finding in findings.iter().filter(|f| f.level == Level::Note) {
        println!("{run}: {finding}");
    }
    let failures: Vec<String> = findings
        .iter()
        .filter(|f| f.level == Level::Fail)
        .map(ToString::to_string)
        .collect();
    assert!(failures.is_empty(), "{run}:\n{}", failures.join("\n"));
    println!("{run}: {} requests conform", entries.len());
    findings
}

/// Runs `runner`, which must succeed, and checks what it sent; returns
/// the NOTEs.
fn run_and_check(world: &World, runner: Runner, run: &str) -> Vec<Finding> {
    world.journal.clear();
    runner.run().assert_exit(0);
    assert_conforms(&world.journal, run)
}

#[test]
fn github_secrets_in_every_scope() {
    let world = World::new();
    world.github.add_environment("acme/app", "Production EU");
    world.github.add_repo("acme/web");
    let runner = world
        .runner()
        .input("secret-name", "")
        .input(
            "secrets",
            "repo:TURSO_AUTH_TOKEN\nenv:Production EU:TURSO_AUTH_TOKEN\norg:TURSO_ORG_TOKEN\ndependabot:TURSO_AUTH_TOKEN",
        )
        .input("selected-repositories", "app, web");
    run_and_check(&world, runner, "every scope");
}

#[test]
fn a_roll_and_a_due_rotation() {
    let world = World::new();
    run_and_check(
        &world,
        world.runner().input("mode", "roll").input("expiration", "30d"),
        "roll",
    );

    // The secret exists now (the roll wrote it), its metadata is read first.
    world
        .github
        .set_secret_updated_at(&Scope::repo("acme/app"), "TURSO_AUTH_TOKEN", "2020-01-01T00:00:00Z");
    run_and_check(&world, world.runner().input("rotate-after", "7d"), "rotate-after");
}

#[test]
fn a_report_and_a_rotation_that_ensures_delete_protection() {
    let world = World::new();
    // Delete protection off: the rotation turns it on (PATCH), then the
    // report reads it (the secret, written by the rotation, is not due).
    run_and_check(
        &world,
        world.runner().input("delete-protection", "ensure"),
        "delete-protection",
    );
    world.journal.clear();
    run_and_check(
        &world,
        world.runner().input("mode", "report").input("rotate-after", "7d"),
        "report",
    );
}

#[test]
fn a_verified_token() {
    let world = World::new();
    world.turso.add_database("prod", "users");
    let runner = world
        .runner()
        .input("database-url", &world.turso.database_url("users"))
        .input("authorization", "read-only")
        .input("read-attach-databases", "users");
    let notes = run_and_check(&world, runner, "database-url");
    // The pipeline names its (absent) stream: `baton: null`, as the spec
    // writes it, not left to the server's leniency.
    assert!(notes.is_empty(), "{notes:?}");
}

#[test]
fn fly_and_netlify_targets_a_machine_roll_and_a_build() {
    const FLY_TOKEN: &str = "fm2_lJPECAAAAAAAAMq1conformance";
    const NETLIFY_TOKEN: &str = "nfp_conformance0123456789";
    let world = World::new();
    let fly = FakeFly::start(FLY_TOKEN);
    fly.set_journal(&world.journal);
    fly.add_app("web")
        .add_machine("web", "m1", "started", "ams")
        .add_machine("web", "m2", "stopped", "ams");
    let netlify = FakeNetlify::start(NETLIFY_TOKEN).with_journal(&world.journal);
    netlify.add_site("site-1", "web", "acme", Some("https://github.com/acme/web"));
    netlify.add_var(
        "site-1",
        common::netlify::EnvVar::new("OLD_TOKEN").value("production", "x"),
    );
    let runner = world
        .runner()
        .secrets(&[API_TOKEN, GH_TOKEN, FLY_TOKEN, NETLIFY_TOKEN])
        .input(
            "secrets",
            "fly:web:TURSO_AUTH_TOKEN\nnetlify:site-1:TURSO_AUTH_TOKEN:production,deploy-preview\nnetlify:site-1:OLD_TOKEN",
        )
        .input("secret-name", "")
        .input("fly-api-token", FLY_TOKEN)
        .input("netlify-token", NETLIFY_TOKEN)
        .input("fly-api-url", &fly.api_url())
        .input("netlify-api-url", &netlify.api_url())
        .input("dispatch", "fly:web\nnetlify:site-1");
    run_and_check(&world, runner, "fly and netlify");
    // With rotate-after, the ages are read too.
    run_and_check(
        &world,
        world
            .runner()
            .input("secret-name", "")
            .input("secrets", "fly:web:TURSO_AUTH_TOKEN\nnetlify:site-1:OLD_TOKEN")
            .input("fly-api-token", FLY_TOKEN)
            .input("netlify-token", NETLIFY_TOKEN)
            .input("fly-api-url", &fly.api_url())
            .input("netlify-api-url", &netlify.api_url())
            .input("rotate-after", "7d"),
        "fly and netlify, rotate-after",
    );
}

#[test]
fn a_database_rotation_proven_by_the_previous_token() {
    let world = World::new();
    world.turso.add_database("prod", "users");
    let previous = world.turso.issue_database_token("users");
    let runner = world
        .runner()
        .input("group", "")
        .input("database", "users")
        .input("previous-token", &previous)
        .secrets(&[API_TOKEN, GH_TOKEN, &previous]);
    run_and_check(&world, runner, "database");
    // A roll of the database mints without rotating. (The configuration
    // read after a failed verification is not in the trimmed document.)
    let runner = world
        .runner()
        .input("group", "")
        .input("database", "users")
        .input("mode", "roll")
        .input("expiration", "1d")
        .input("authorization", "read-only")
        .input("read-attach-databases", "users");
    run_and_check(&world, runner, "database roll");
}

#[test]
fn repository_and_workflow_dispatches() {
    let world = World::new();
    world.github.add_repo("acme/deploy");
    world.github.add_workflow("acme/deploy", "deploy.yml", &[]);
    let runner = world.runner().input(
        "dispatch",
        "repository:acme/deploy\nworkflow:acme/deploy/deploy.yml@main",
    );
    run_and_check(&world, runner, "dispatch");
    assert_eq!(world.github.dispatches().len(), 2, "{:?}", world.journal.calls());
}

#[test]
fn cloudflare_and_vercel_targets_and_a_redeploy() {
    let world = World::new();
    let cloudflare = FakeCloudflare::start(CF_TOKEN).with_journal(&world.journal);
    cloudflare.add_worker(ACCOUNT, "api");
    let vercel = FakeVercel::start(VERCEL_TOKEN)
        .with_team("team_abc123", "acme")
        .with_journal(&world.journal);
    vercel.add_project("web");
    vercel.add_live_deployment("web");
    // One variable exists with exactly the targets (patched in place, and
    // its age read for `rotate-after`), the other is created.
    let month_ago = now_ms() - 30 * 86_400_000;
    let record = EnvVar::new("TURSO_AUTH_TOKEN", "old", &["preview", "production"]).kind("sensitive");
    vercel.add_env("web", record.updated_at(month_ago));
    let runner = world
        .runner()
        .secrets(&[API_TOKEN, GH_TOKEN, CF_TOKEN, VERCEL_TOKEN])
        .input("secret-name", "")
        .input(
            "secrets",
            &format!(
                "cloudflare:{ACCOUNT}:api:TURSO_AUTH_TOKEN\nvercel:web:TURSO_AUTH_TOKEN\nvercel:web:TURSO_DB_TOKEN"
            ),
        )
        .input("cloudflare-api-token", CF_TOKEN)
        .input("vercel-token", VERCEL_TOKEN)
        .input("vercel-team", "team_abc123")
        .input("rotate-after", "7d")
        .input("cloudflare-api-url", &cloudflare.api_url())
        .input("vercel-api-url", &vercel.api_url())
        .input("dispatch", "vercel:web");
    run_and_check(&world, runner, "platforms");
    assert_eq!(vercel.redeploys().len(), 1);
    assert_eq!(vercel.count("PATCH", "/env/"), 1, "{:?}", world.journal.calls());
}

// ---------------------------------------------------------------------------
// The checker itself: it must refuse what the documents refuse.

fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> Recorded {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Recorded {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        body: body.into(),
        remote_port: 0,
        at: std::time::Instant::now(),
    }
}

fn fails(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .filter(|f| f.level == Level::Fail)
        .map(|f| format!("{} {}", f.pointer, f.message))
        .collect()
}

const JSON: (&str, &str) = ("Content-Type", "application/json");
const BEARER: (&str, &str) = ("Authorization", "Bearer t");

#[test]
fn the_checker_refuses_what_the_documents_refuse() {
    let apis = Apis::load();
    let github = ["github"];
    let put = "/repos/acme/app/actions/secrets/NAME";
    let good = json!({"encrypted_value": "c2VjcmV0", "key_id": "1"}).to_string();
    let checked = apis.check(&github, &request("PUT", put, &[JSON], &good));
    assert_eq!(fails(&checked), Vec::<String>::new());
    assert_eq!(
        apis.get("github")
            .operation(&request("PUT", put, &[JSON], &good))
            .as_deref(),
        Some("actions/create-or-update-repo-secret")
    );

    // A misspelt body field: the required one is missing, the other unlisted.
    let wrong = json!({"encrypted": "c2VjcmV0", "key_id": "1"}).to_string();
    let checked = apis.check(&github, &request("PUT", put, &[JSON], &wrong));
    assert_eq!(fails(&checked), ["/body/encrypted_value required field missing"]);
    assert!(checked
        .iter()
        .any(|f| f.level == Level::Note && f.pointer == "/body/encrypted"));
    // Not base64, a wrong type, a wrong enum value.
    let org = "/orgs/acme/actions/secrets/NAME";
    let wrong = json!({"encrypted_value": "no!", "key_id": 1, "visibility": "public"}).to_string();
    let checked = fails(&apis.check(&github, &request("PUT", org, &[JSON], &wrong)));
    assert_eq!(checked.len(), 3, "{checked:?}");
    // A body without its media type.
    assert_eq!(fails(&apis.check(&github, &request("PUT", put, &[], &good))).len(), 1);

    // A missing required query parameter (Cloudflare's script name as a
    // declared-required parameter is not one, so use a declared one on a
    // synthetic document).
    let doc = json!({
        "x-api": "synthetic",
        "paths": {"/things/{id}": {"get": {"operationId": "getThing", "parameters": [
            {"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}},
            {"name": "mode", "in": "query", "required": true, "schema": {"enum": ["a", "b"]}}
        ]}}}
    });
    let api = common::openapi::Api::new(doc);
    assert_eq!(
        fails(&api.check(&request("GET", "/things/7", &[], ""))),
        ["/query/mode required query parameter missing"]
    );
    assert_eq!(
        fails(&api.check(&request("GET", "/things/7?mode=a", &[], ""))),
        Vec::<String>::new()
    );
    assert_eq!(fails(&api.check(&request("GET", "/things/x?mode=c", &[], ""))).len(), 2);
    // An undeclared query parameter, and an enum the real document has.
    let turso = ["turso", "libsql"];
    let tokens = "/v1/organizations/acme/groups/prod/auth/tokens";
    let checked = fails(&apis.check(
        &turso,
        &request("POST", &format!("{tokens}?authorization=admin&exp=1"), &[BEARER], ""),
    ));
    assert_eq!(checked.len(), 2, "{checked:?}");

    // An unknown route, a known path with a method it lacks, a missing header.
    assert_eq!(
        fails(&apis.check(&github, &request("GET", "/repos/acme/app/hooks", &[], ""))).len(),
        1
    );
    assert_eq!(
        fails(&apis.check(&github, &request("PATCH", put, &[JSON], &good))).len(),
        1
    );
    assert_eq!(
        fails(&apis.check(&turso, &request("POST", tokens, &[], ""))),
        ["/headers/authorization required header missing"]
    );

    // libSQL: a missing baton is a NOTE (the server accepts it), a statement
    // with neither `sql` nor `sql_id` a FAIL.
    let pipeline = "/db/users/v2/pipeline";
    let body = json!({"requests": [{"type": "execute", "stmt": {"sql": "SELECT 1"}}]}).to_string();
    let checked = apis.check(&turso, &request("POST", pipeline, &[JSON], &body));
    assert_eq!(fails(&checked), Vec::<String>::new());
    assert!(
        checked
            .iter()
            .any(|f| f.level == Level::Note && f.pointer == "/body/baton"),
        "{checked:?}"
    );
    let body = json!({"baton": null, "requests": [{"type": "execute", "stmt": {}}]}).to_string();
    let checked = fails(&apis.check(&turso, &request("POST", pipeline, &[JSON], &body)));
    assert_eq!(checked.len(), 1, "{checked:?}");
}

/// Sends `req` to `url` (the fake's root) and returns the status.
fn send(url: &str, req: &Recorded) -> u16 {
    let agent = common::test_agent();
    let target = format!("{url}{}", req.line().split_once(' ').unwrap().1);
    let mut builder = http_request(&req.method, &target);
    for (k, v) in &req.headers {
        builder = builder.header(k, v);
    }
    let response = if req.body.is_empty() {
        builder.body(()).map(|r| agent.run(r))
    } else {
        builder.body(req.body.clone()).map(|r| agent.run(r))
    };
    response.expect("request").expect("response").status().as_u16()
}

fn http_request(method: &str, url: &str) -> ureq::http::request::Builder {
    ureq::http::Request::builder().method(method).uri(url)
}

/// What a document refuses, a fake refuses too (4xx): else the runs above
/// would prove nothing about what the binary may send. (Undeclared query
/// parameters are left out: GitHub and the others ignore them.)
#[test]
fn the_fakes_refuse_what_the_documents_refuse() {
    let apis = Apis::load();
    let world = World::new();
    world.turso.add_database("prod", "users");
    world.github.add_repo("acme/deploy");
    world.github.add_workflow("acme/deploy", "deploy.yml", &["a"]);
    world.github.add_org("acme");
    let cloudflare = FakeCloudflare::start(CF_TOKEN);
    cloudflare.add_worker(ACCOUNT, "api");
    let vercel = FakeVercel::start(VERCEL_TOKEN);
    vercel.add_project("web");
    let gh_auth = ("Authorization", format!("Bearer {GH_TOKEN}"));
    let gh = [JSON, (gh_auth.0, gh_auth.1.as_str())];
    let cf_auth = format!("Bearer {CF_TOKEN}");
    let cf = [JSON, ("Authorization", cf_auth.as_str())];
    let v_auth = format!("Bearer {VERCEL_TOKEN}");
    let v = [JSON, ("Authorization", v_auth.as_str())];
    let t_auth = format!("Bearer {API_TOKEN}");
    let t = [JSON, ("Authorization", t_auth.as_str())];
    let long = "e".repeat(101);
    let many = |n: usize| -> serde_json::Map<String, serde_json::Value> {
        (0..n).map(|i| (format!("k{i}"), json!("v"))).collect()
    };
    let (eleven, inputs) = (many(11), many(26));
    let cases: Vec<(&str, &str, Recorded)> = vec![
        ("github", "not base64", request("PUT", "/repos/acme/app/actions/secrets/X", &gh, &json!({"encrypted_value": "no!", "key_id": "1"}).to_string())),
        ("github", "no key_id", request("PUT", "/repos/acme/app/actions/secrets/X", &gh, &json!({"encrypted_value": "c2VjcmV0"}).to_string())),
        ("github", "org secret without visibility", request("PUT", "/orgs/acme/actions/secrets/X", &gh, &json!({"encrypted_value": "c2VjcmV0", "key_id": "1"}).to_string())),
        ("github", "event_type too long", request("POST", "/repos/acme/deploy/dispatches", &gh, &json!({"event_type": long}).to_string())),
        ("github", "eleven payload properties", request("POST", "/repos/acme/deploy/dispatches", &gh, &json!({"event_type": "x", "client_payload": eleven}).to_string())),
        ("github", "workflow dispatch without ref", request("POST", "/repos/acme/deploy/actions/workflows/deploy.yml/dispatches", &gh, &json!({"inputs": {"a": "1"}}).to_string())),
        ("turso", "unknown authorization", request("POST", "/v1/organizations/acme/groups/prod/auth/tokens?authorization=admin", &t, "")),
        ("turso", "a statement without sql", request("POST", "/db/users/v2/pipeline", &t, &json!({"baton": null, "requests": [{"type": "execute", "stmt": {}}]}).to_string())),
        ("cloudflare", "a secret without type", request("PUT", &format!("/client/v4/accounts/{ACCOUNT}/workers/scripts/api/secrets"), &cf, &json!({"name": "X", "text": "v"}).to_string())),
        ("vercel", "a variable without type", request("POST", "/v10/projects/web/env?upsert=true", &v, &json!({"key": "X", "value": "v", "target": ["production"]}).to_string())),
        ("vercel", "a patch with a field it does not allow", request("PATCH", "/v9/projects/web/env/nope", &v, &json!({"value": "v", "id": "x"}).to_string())),
        ("vercel", "a deployment field it does not allow", request("POST", "/v13/deployments", &v, &json!({"name": "web", "bogus": 1}).to_string())),
        ("vercel", "a deployment without name", request("POST", "/v13/deployments", &v, &json!({"deploymentId": "dpl_x"}).to_string())),
        ("cloudflare", "a script name with capitals", request("GET", &format!("/client/v4/accounts/{ACCOUNT}/workers/scripts/API/secrets"), &cf, "")),
        ("github", "26 workflow inputs", request("POST", "/repos/acme/deploy/actions/workflows/deploy.yml/dispatches", &gh, &json!({"ref": "main", "inputs": inputs}).to_string())),
        ("github", "repository ids as text", request("PUT", "/orgs/acme/actions/secrets/X", &gh, &json!({"encrypted_value": "c2VjcmV0", "key_id": "1", "visibility": "selected", "selected_repository_ids": ["1"]}).to_string())),
    ];
    let mut accepted = Vec::new();
    for (label, what, req) in &cases {
        let findings = apis.check(apis_of(label), req);
        assert!(!fails(&findings).is_empty(), "{what}: the document refuses it");
        let url = match *label {
            "github" => world.github.url(),
            "turso" => world.turso.url(),
            "cloudflare" => cloudflare.url(),
            _ => vercel.url(),
        };
        let status = send(&url, req);
        if !(400..500).contains(&status) {
            accepted.push(format!("{label}: {what}: HTTP {status}"));
        }
    }
    assert!(
        accepted.is_empty(),
        "fakes accept what the documents refuse:\n{}",
        accepted.join("\n")
    );
}
