//! Fly.io and Netlify targets (SPEC, "Fly.io and Netlify targets"), end to
//! end: the real binary writes the new token into a Fly app secret
//! (`fly:APP:NAME`) and a Netlify site variable
//! (`netlify:SITE:NAME[:CONTEXTS]`), proves access to both before Turso
//! rotates, stops on what it must not touch, hands the token on when a
//! write fails, and makes the apps pick the value up (`dispatch: fly:APP`
//! rolls the started machines, `dispatch: netlify:SITE` starts a build).

mod common;

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use common::fly::FakeFly;
use common::netlify::EnvVar;
use common::world::{World, API_TOKEN, GH_TOKEN};
use common::{FakeNetlify, Fault, FaultAction, RunResult, Runner};

const FLY_TOKEN: &str = "fm2_lJPECAAAAAAAAMq1testtoken0123,fm2_lJPEEAgBbWFjYXJvb24";
const NETLIFY_TOKEN: &str = "nfp_netlifytoken0123456789abcdefXYZ";
const APP: &str = "web";
const SITE: &str = "5b6a0c3e-0000-4000-8000-0123456789ab";
const NAME: &str = "TURSO_AUTH_TOKEN";
const PROBE: &str = "TURSO_ROTATE_PROBE";

fn fly_target() -> String {
    format!("fly:{APP}:{NAME}")
}

fn netlify_target() -> String {
    format!("netlify:{SITE}:{NAME}")
}

/// The usual world plus a Fly app `web` and a Netlify site, one journal.
struct Apps {
    world: World,
    fly: FakeFly,
    netlify: FakeNetlify,
}

impl Apps {
    fn new() -> Apps {
        let world = World::new();
        let fly = FakeFly::start(FLY_TOKEN);
        fly.set_journal(&world.journal);
        fly.add_app(APP);
        let netlify = FakeNetlify::start(NETLIFY_TOKEN).with_journal(&world.journal);
        netlify.add_site(SITE, "web", "acme", Some("https://github.com/acme/web"));
        Apps { world, fly, netlify }
    }

    /// The world's runner writing to `secrets`, with both platforms'
    /// tokens and URLs, every token in the leak scan.
    fn runner(&self, secrets: &str) -> Runner {
        self.world
            .runner()
            .secrets(&[API_TOKEN, GH_TOKEN, FLY_TOKEN, NETLIFY_TOKEN])
            .input("secret-name", "")
            .input("secrets", secrets)
            .input("fly-api-token", FLY_TOKEN)
            .input("netlify-token", NETLIFY_TOKEN)
            .input("fly-api-url", &self.fly.api_url())
            .input("netlify-api-url", &self.netlify.api_url())
    }

    /// Index in the journal of the first `label` request `METHOD path…`.
    fn at(&self, label: &str, method: &str, path_contains: &str) -> usize {
        self.world
            .journal
            .position(label, method, path_contains)
            .unwrap_or_else(|| panic!("no {label} {method} {path_contains}: {:?}", self.world.journal.calls()))
    }

    fn platform_writes(&self) -> usize {
        ["POST", "PATCH", "PUT", "DELETE"]
            .iter()
            .map(|m| self.fly.count(m, "/") + self.netlify.count(m, "/"))
            .sum()
    }

    fn all_requests(&self) -> usize {
        self.world.requests() + self.fly.requests().len() + self.netlify.requests().len()
    }
}

/// The `results` entry for `target`.
fn entry(result: &RunResult, target: &str) -> Value {
    result.results_entry("target", target)
}

fn no_leak(result: &RunResult, token: Option<&str>) {
    let mut secrets = vec![API_TOKEN, GH_TOKEN, FLY_TOKEN, NETLIFY_TOKEN];
    secrets.extend(token);
    result.assert_no_leak(&secrets);
}

fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

#[test]
fn one_run_writes_github_fly_and_netlify_then_rolls_the_machines_and_builds_the_site() {
    let a = Apps::new();
    a.fly
        .add_machine(APP, "m1", "started", "ams")
        .add_machine(APP, "m2", "started", "fra")
        .add_machine(APP, "m3", "stopped", "ams");
    let secrets = format!("repo:{NAME}\n{}\n{}", fly_target(), netlify_target());
    let result = a
        .runner(&secrets)
        .input("dispatch", &format!("fly:{APP}\nnetlify:{SITE}"))
        .run();
    result.assert_exit(0);
    let token = result.output("token").expect("token output");
    assert_eq!(a.world.secret().as_deref(), Some(token), "GitHub");
    assert_eq!(a.fly.secret(APP, NAME).as_deref(), Some(token), "Fly");
    let var = a.netlify.var(SITE, NAME).expect("the Netlify variable");
    assert_eq!(var.get("production"), Some(token), "Netlify production");
    assert_eq!(var.values.len(), 1, "production alone by default: {var:?}");
    assert!(var.is_secret);
    assert!(a.world.turso.token_valid("prod", token));
    assert_eq!(a.fly.secret(APP, PROBE), None, "the Fly probe is gone");
    assert!(a.netlify.var(SITE, PROBE).is_none(), "the Netlify probe is gone");
    assert!(a.netlify.puts().is_empty(), "never PUT");

    // Access and write proven before the rotation, the writes after it.
    let rotate = a.at("turso", "POST", "/auth/rotate");
    for (label, method, path) in [
        ("fly", "GET", "/v1/apps/web"),
        ("fly", "POST", "/secrets/TURSO_ROTATE_PROBE"),
        ("fly", "DELETE", "/secrets/TURSO_ROTATE_PROBE"),
        ("netlify", "GET", "/sites/"),
        ("netlify", "GET", "/env/TURSO_AUTH_TOKEN"),
        ("netlify", "POST", "/env"),
        ("netlify", "DELETE", "/env/TURSO_ROTATE_PROBE"),
    ] {
        assert!(
            a.at(label, method, path) < rotate,
            "{label} {method} {path} after the rotation"
        );
    }
    assert!(a.at("fly", "POST", "/secrets/TURSO_AUTH_TOKEN") > rotate);
    let netlify_write = a
        .netlify
        .requests()
        .iter()
        .position(|r| r.method == "POST" && r.json().is_some_and(|b| b[0]["key"] == NAME));
    let netlify_write = netlify_write.expect("the Netlify write");
    assert_eq!(
        a.netlify.requests()[netlify_write].json().unwrap(),
        json!([{"key": NAME, "is_secret": true, "values": [{"context": "production", "value": token}]}])
    );
    // The dispatches follow the writes.
    assert!(a.at("fly", "GET", "/machines") > a.at("fly", "POST", "/secrets/TURSO_AUTH_TOKEN"));
    assert!(a.at("netlify", "POST", "/builds") > rotate);

    // Machines: the started ones updated to read the version the write
    // answered, one at a time; the stopped one left alone and named.
    let version = a.fly.secrets_version(APP);
    assert_eq!(
        a.fly.updates(APP),
        [("m1".to_string(), version), ("m2".to_string(), version)]
    );
    assert_eq!(a.fly.secrets_seen(APP, "m1"), version);
    assert!(a.fly.secrets_seen(APP, "m3") < version, "the stopped machine untouched");
    assert!(a.fly.leased(APP).is_empty(), "every lease released");
    assert!(
        result.stderr.contains("m3 (stopped)") && result.stderr.contains("next updated"),
        "{}",
        result.stderr
    );
    assert_eq!(a.netlify.builds().len(), 1);

    // The request budget: Fly 4 + 1 + 4 per started machine, Netlify 2 + 2 + 1 + 1 build.
    assert_eq!(a.world.turso.requests().len(), 3);
    assert_eq!(a.world.github.requests().len(), 4);
    assert_eq!(a.fly.requests().len(), 4 + 1 + 4 * 2, "{:?}", a.world.journal.calls());
    assert_eq!(a.netlify.requests().len(), 4 + 1 + 1, "{:?}", a.world.journal.calls());

    for target in [format!("repo:{NAME}"), fly_target(), netlify_target()] {
        assert_eq!(entry(&result, &target)["written"], true);
    }
    for d in [format!("dispatch:fly:{APP}"), format!("dispatch:netlify:{SITE}")] {
        assert_eq!(entry(&result, &d)["error"], Value::Null, "{d}");
    }
    no_leak(&result, Some(token));
}

#[test]
fn one_app_check_one_site_lookup_and_one_probe_each_however_many_secrets() {
    let a = Apps::new();
    a.netlify.add_var(
        SITE,
        EnvVar::new("B_TOKEN")
            .value("production", "old")
            .value("deploy-preview", "old"),
    );
    let secrets = format!(
        "fly:{APP}:A_TOKEN\nfly:{APP}:B_TOKEN\nnetlify:{SITE}:A_TOKEN\nnetlify:{SITE}:B_TOKEN:production,deploy-preview"
    );
    let result = a.runner(&secrets).run();
    result.assert_exit(0);
    let token = result.output("token").unwrap();
    assert_eq!(a.fly.count("GET", "/v1/apps/web"), 1);
    assert_eq!(a.fly.count("POST", PROBE), 1);
    assert_eq!(a.fly.requests().len(), 1 + 2 + 2);
    assert_eq!(a.netlify.count("GET", "/sites/"), 1);
    assert_eq!(a.netlify.count("POST", "/env?"), 1 + 1, "one probe, one new variable");
    // An existing variable: one PATCH per context, its other values kept.
    assert_eq!(a.netlify.count("PATCH", "/env/B_TOKEN"), 2);
    assert_eq!(
        a.netlify.requests().len(),
        1 + 2 + 2 + 1 + 2,
        "{:?}",
        a.world.journal.calls()
    );
    let b = a.netlify.var(SITE, "B_TOKEN").unwrap();
    assert_eq!(
        (b.get("production"), b.get("deploy-preview")),
        (Some(token), Some(token))
    );
    assert_eq!(a.fly.secret(APP, "B_TOKEN").as_deref(), Some(token));
    no_leak(&result, Some(token));
}

#[test]
fn access_refused_stops_the_run_with_nothing_rotated() {
    let a = Apps::new();
    a.fly.add_foreign_app("other");
    for (target, expected) in [
        (format!("fly:other:{NAME}"), "403"),
        (format!("fly:missing:{NAME}"), "no Fly app is named missing"),
        (format!("netlify:nope:{NAME}"), "404"),
    ] {
        let result = a.runner(&target).run();
        result.assert_exit(1);
        assert_eq!(a.world.turso.rotations("prod"), 0, "{target}");
        assert_eq!(a.world.turso.count("POST", "/"), 0, "{target}: nothing created");
        assert!(result.error_line().contains(expected), "{target}: {}", result.stdout);
        assert!(result.stdout.contains("nothing was rotated"), "{}", result.stdout);
        no_leak(&result, None);
    }
    assert_eq!(a.platform_writes(), 0, "no probe either");
    // Fly's request id comes with its refusal.
    let result = a.runner(&format!("fly:other:{NAME}")).run();
    assert!(result.error_line().contains("fly-request-id"), "{}", result.stdout);
}

#[test]
fn a_failed_write_hands_the_token_on() {
    for (label, target) in [("fly", fly_target()), ("netlify", netlify_target())] {
        let a = Apps::new();
        let refusal = FaultAction::status(422, r#"{"error": "refused", "code": 422, "message": "refused"}"#);
        match label {
            "fly" => a.fly.fault(Fault::new("POST", "/secrets/TURSO_AUTH_TOKEN", refusal)),
            _ => {
                // An existing variable is written with PATCH (the probe POSTs).
                a.netlify.add_var(SITE, EnvVar::new(NAME).value("production", "old"));
                a.netlify.fault(Fault::new("PATCH", "/env/TURSO_AUTH_TOKEN", refusal));
            }
        }
        let result = a.runner(&target).run();
        result.assert_exit(1);
        assert_eq!(a.world.turso.rotations("prod"), 1, "{label}");
        let token = result
            .output("token")
            .unwrap_or_else(|| panic!("{label}: token handed on"));
        assert!(a.world.turso.token_valid("prod", token));
        assert_eq!(result.output("secret-updated"), Some("false"));
        assert_eq!(entry(&result, &target)["written"], false, "{label}");
        no_leak(&result, Some(token));
    }
}

#[test]
fn a_429_is_retried() {
    let a = Apps::new();
    a.fly.rate_limit("POST", "/secrets/TURSO_AUTH_TOKEN", 1);
    let reset = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    a.netlify.rate_limit("GET", "/sites/", 1, reset);
    let result = a.runner(&format!("{}\n{}", fly_target(), netlify_target())).run();
    result.assert_exit(0);
    let token = result.output("token").unwrap();
    assert_eq!(a.fly.secret(APP, NAME).as_deref(), Some(token));
    assert_eq!(a.netlify.var(SITE, NAME).unwrap().get("production"), Some(token));
    assert_eq!(a.fly.count("POST", "/secrets/TURSO_AUTH_TOKEN"), 2);
    assert_eq!(a.netlify.count("GET", "/sites/"), 2);
    no_leak(&result, Some(token));
}

#[test]
fn a_machine_that_does_not_come_back_fails_the_dispatch_naming_the_updated_ones() {
    let a = Apps::new();
    a.fly
        .add_machine(APP, "m1", "started", "ams")
        .add_machine(APP, "m2", "started", "ams")
        .add_machine(APP, "m3", "started", "ams");
    a.fly.never_comes_back(APP, "m2");
    let result = a
        .runner(&fly_target())
        .input("dispatch", &format!("fly:{APP}"))
        .input("timeout", "12s")
        .run();
    result.assert_exit(1);
    let token = result.output("token").unwrap();
    assert_eq!(
        a.fly.secret(APP, NAME).as_deref(),
        Some(token),
        "the secret stays written"
    );
    assert_eq!(result.output("secret-updated"), Some("true"));
    let error = entry(&result, &format!("dispatch:fly:{APP}"))["error"]
        .as_str()
        .expect("the dispatch failed")
        .to_owned();
    assert!(error.contains("updated: m1"), "{error}");
    assert!(error.contains("m2, m3"), "the machines not updated: {error}");
    assert_eq!(a.fly.updates(APP).len(), 2, "m3 never updated");
    no_leak(&result, Some(token));
}

#[test]
fn a_netlify_value_for_all_contexts_or_a_branch_stops_before_anything_changes() {
    for var in [
        EnvVar::new(NAME).value("all", "old"),
        EnvVar::new(NAME).value("production", "old").branch("staging", "old"),
    ] {
        let a = Apps::new();
        a.netlify.add_var(SITE, var.clone());
        let result = a.runner(&format!("{}\n{}", fly_target(), netlify_target())).run();
        result.assert_exit(1);
        assert_eq!(a.world.turso.rotations("prod"), 0);
        assert_eq!(a.platform_writes(), 0, "no probe, no write");
        assert_eq!(a.netlify.var(SITE, NAME), Some(var));
        assert!(result.error_line().contains("split it"), "{}", result.stdout);
        no_leak(&result, None);
    }
}

#[test]
fn a_netlify_variable_that_is_not_secret_is_written_with_a_warning() {
    let a = Apps::new();
    a.netlify
        .add_var(SITE, EnvVar::new(NAME).value("production", "old").plain());
    let result = a.runner(&netlify_target()).run();
    result.assert_exit(0);
    let token = result.output("token").unwrap();
    assert_eq!(a.netlify.var(SITE, NAME).unwrap().get("production"), Some(token));
    assert!(
        result
            .stdout
            .lines()
            .any(|l| l.starts_with("::warning::") && l.contains("is not a secret")),
        "{}",
        result.stdout
    );
}

#[test]
fn bad_inputs_exit_2_without_a_request() {
    let a = Apps::new();
    let target = fly_target();
    let cases: Vec<(&str, Runner)> = vec![
        ("secrets", a.runner("fly:Web:TURSO_AUTH_TOKEN")),
        ("secrets", a.runner("fly:web")),
        ("secrets", a.runner(&format!("fly:web:{NAME}:x"))),
        ("secrets", a.runner("fly:web:1BAD")),
        ("secrets", a.runner(&format!("netlify:{SITE}:{NAME}:dev"))),
        ("secrets", a.runner(&format!("netlify:{SITE}:{NAME}:all"))),
        ("secrets", a.runner(&format!("netlify:a/b:{NAME}"))),
        ("secrets", a.runner(&format!("{target}\n{target}"))),
        (
            "secrets",
            a.runner(&format!(
                "netlify:{SITE}:{NAME}\nnetlify:{SITE}:{NAME}:production,branch-deploy"
            )),
        ),
        ("dispatch", a.runner(&target).input("dispatch", "fly:other")),
        ("dispatch", a.runner(&netlify_target()).input("dispatch", "fly:web")),
        ("dispatch", a.runner(&target).input("dispatch", "netlify:a/b")),
        ("fly-api-token", a.runner(&target).input("fly-api-token", "")),
        ("netlify-token", a.runner(&netlify_target()).input("netlify-token", "")),
        (
            "netlify-token",
            a.runner(&format!("repo:{NAME}"))
                .input("netlify-token", "")
                .input("dispatch", &format!("netlify:{SITE}")),
        ),
        (
            "fly-api-url",
            a.runner(&target).input("fly-api-url", "http://example.com"),
        ),
        (
            "netlify-api-url",
            a.runner(&netlify_target()).input("netlify-api-url", "ftp://x"),
        ),
    ];
    for (input, runner) in cases {
        let result = runner.run();
        result.assert_bad_input(input, input);
        no_leak(&result, None);
    }
    assert_eq!(a.all_requests(), 0);
    // Distinct contexts of one variable are two secrets, allowed.
    let result = a
        .runner(&format!("netlify:{SITE}:{NAME}\nnetlify:{SITE}:{NAME}:deploy-preview"))
        .input("dry-run", "true")
        .run();
    result.assert_exit(0);
}

#[test]
fn outside_actions_the_tokens_come_from_the_environment_and_a_dry_run_names_what_was_not_checked() {
    let a = Apps::new();
    let result = a
        .runner(&format!("repo:{NAME}\n{}\n{}", fly_target(), netlify_target()))
        .input("fly-api-token", "")
        .input("netlify-token", "")
        .input("dry-run", "true")
        .run();
    result.assert_exit(0);
    assert!(
        result
            .stderr
            .contains("No `fly-api-token` or `netlify-token` was given: those targets were not checked"),
        "{}\n{}",
        result.stdout,
        result.stderr
    );
    assert_eq!(a.fly.requests().len() + a.netlify.requests().len(), 0);

    let result = a
        .runner(&format!("{}\n{}", fly_target(), netlify_target()))
        .input("fly-api-token", "")
        .input("netlify-token", "")
        .outside_actions()
        .env("FLY_API_TOKEN", &format!("FlyV1 {FLY_TOKEN}"))
        .env("NETLIFY_AUTH_TOKEN", NETLIFY_TOKEN)
        .run();
    result.assert_exit(0);
    assert!(a.fly.secret(APP, NAME).is_some() && a.netlify.var(SITE, NAME).is_some());
}

#[test]
fn rotate_after_ages_fly_and_netlify_by_updated_at() {
    let a = Apps::new();
    let fresh = rfc3339(SystemTime::now() - Duration::from_secs(3600));
    a.fly.set_secret(APP, NAME, "old", &fresh);
    a.netlify
        .add_var(SITE, EnvVar::new(NAME).value("production", "old").updated_at(&fresh));
    let secrets = format!("{}\n{}", fly_target(), netlify_target());
    let result = a.runner(&secrets).input("rotate-after", "7d").run();
    result.assert_exit(0);
    assert_eq!(result.output("rotated"), Some("false"));
    assert_eq!(a.world.turso.rotations("prod"), 0);
    assert_eq!(a.platform_writes(), 0, "not due: not even the probe");
    // Budget with rotate-after: Fly app + secret metadata, Netlify site + variable.
    assert_eq!(a.fly.requests().len(), 2);
    assert_eq!(a.netlify.requests().len(), 2);

    let old = rfc3339(SystemTime::now() - Duration::from_secs(30 * 86_400));
    a.fly.set_secret(APP, NAME, "old", &old);
    let result = a.runner(&secrets).input("rotate-after", "7d").run();
    result.assert_exit(0);
    assert_eq!(result.output("rotated"), Some("true"));
    let token = result.output("token").unwrap();
    assert_eq!(a.fly.secret(APP, NAME).as_deref(), Some(token));
    assert_eq!(a.netlify.var(SITE, NAME).unwrap().get("production"), Some(token));
    no_leak(&result, Some(token));
}

#[test]
fn a_netlify_create_whose_answer_was_lost_is_completed_not_failed() {
    let a = Apps::new();
    // The variable's creation acts, then its answer is lost (a 502); the
    // retry finds it existing (409) and sets the value per context instead.
    a.netlify.fault_after(
        "DELETE",
        "/env/TURSO_ROTATE_PROBE",
        Fault::new("POST", "/env", FaultAction::after_acting(502)),
    );
    let result = a.runner(&netlify_target()).run();
    result.assert_exit(0);
    let token = result.output("token").expect("the token");
    let var = a.netlify.var(SITE, NAME).expect("the Netlify variable");
    assert_eq!(var.get("production"), Some(token));
    assert_eq!(
        a.netlify.count("POST", "/env?"),
        1 + 2,
        "the probe, the lost create, its retry"
    );
    assert_eq!(
        a.netlify.count("PATCH", "/env/TURSO_AUTH_TOKEN"),
        1,
        "then one PATCH per context"
    );
    no_leak(&result, Some(token));
}
