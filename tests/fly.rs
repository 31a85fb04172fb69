//! The Fly.io client against the fake Machines API, through the library
//! (`turso_rotate::apis::fly::Fly`): app check, secret age, probe, the staged
//! write's version, the Authorization scheme, and the roll of started
//! machines. Every request the client sent is held against the shapes of
//! `api/fly.json` (fly-go's flaps client) by [`assert_conforms`].

mod common;

use std::time::{Duration, Instant};

use common::fly::{authorization_for, FakeFly, NONCE_HEADER};
use common::Recorded;
use turso_rotate::apis::fly::{Fly, Rolled};
use turso_rotate::apis::Age;
use turso_rotate::http::retry::Policy;
use turso_rotate::secret::Secret;

const TOKEN: &str = "FlyV1 fm2_lJPECAAAAAAAAMq1,fm2_lJPEEAgBbWFjYXJvb24";
const BARE: &str = "fm2_lJPECAAAAAAAAMq1,fm2_lJPEEAgBbWFjYXJvb24";

fn policy(secs: u64) -> Policy {
    Policy {
        max_attempts: 4,
        deadline: Instant::now() + Duration::from_secs(secs),
    }
}

/// A fake with app `web` and the client for it.
fn setup(token: &str, secs: u64) -> (FakeFly, Fly) {
    let fake = FakeFly::start(token.trim_start_matches("FlyV1 ").trim_start_matches("Bearer "));
    fake.add_app("web");
    let fly = Fly::new(&fake.api_url(), Secret::new(token), policy(secs));
    (fake, fly)
}

fn message(result: anyhow::Result<impl std::fmt::Debug>) -> String {
    format!("{:#}", result.expect_err("an error"))
}

/// `METHOD /path` per request, for order assertions.
fn calls(fake: &FakeFly) -> Vec<String> {
    fake.requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// Every request as fly-go's flaps client sends it (api/fly.json): the
/// Authorization rule of `x-check-headers`, a known route, its query
/// parameters and body fields, the nonce header where required.
fn assert_conforms(fake: &FakeFly) {
    for r in fake.requests() {
        let auth = r.header("authorization").unwrap_or_default();
        let macaroon = ["fm1r_", "fm1a_", "fm2_"];
        let ok = match auth.split_once(' ') {
            Some(("FlyV1", t)) => macaroon.iter().any(|m| t.starts_with(m)) && !t.contains(' '),
            Some(("Bearer", t)) => !macaroon.iter().any(|m| t.starts_with(m)) && !t.is_empty() && !t.contains(' '),
            _ => false,
        };
        assert!(
            ok,
            "{}: Authorization is neither `FlyV1 <macaroon>` nor `Bearer <token>`",
            r.line()
        );
        let segs = r.segments();
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let (allowed, body): (&[&str], Option<&[&str]>) = match (r.method.as_str(), &segs[..]) {
            ("GET", ["v1", "apps", _]) => (&[], None),
            ("GET", ["v1", "apps", _, "secrets", _]) => (&["version", "show_secrets"], None),
            ("POST", ["v1", "apps", _, "secrets", _]) => (&[], Some(&["value"])),
            ("DELETE", ["v1", "apps", _, "secrets", _]) => (&[], None),
            ("GET", ["v1", "apps", _, "machines"]) => (&["include_deleted", "region"], None),
            ("POST", ["v1", "apps", _, "machines", _, "lease"]) => (&["ttl"], None),
            ("DELETE", ["v1", "apps", _, "machines", _, "lease"]) => {
                assert!(
                    r.header(NONCE_HEADER).is_some(),
                    "{}: release without the nonce",
                    r.line()
                );
                (&[], None)
            }
            ("POST", ["v1", "apps", _, "machines", _]) => (&[], Some(UPDATE_FIELDS)),
            ("GET", ["v1", "apps", _, "machines", _, "wait"]) => {
                let state = r.query_param("state").unwrap_or_else(|| "started".into());
                assert!(["started", "stopped", "suspended", "destroyed", "failed", "settled"].contains(&state.as_str()));
                if let Some(t) = r.query_param("timeout") {
                    assert!(
                        t.parse::<u64>().is_ok_and(|t| (1..=60).contains(&t)),
                        "{}: timeout",
                        r.line()
                    );
                }
                (&["instance_id", "version", "from_event_id", "timeout", "state"], None)
            }
            _ => panic!("{}: not an operation of api/fly.json", r.line()),
        };
        for pair in r.query.split('&').filter(|p| !p.is_empty()) {
            let name = pair.split('=').next().unwrap_or_default();
            assert!(allowed.contains(&name), "{}: unknown query parameter {name}", r.line());
        }
        if r.query_param("ttl").is_some() {
            assert!(
                r.query_param("ttl").unwrap().parse::<u64>().is_ok(),
                "{}: ttl",
                r.line()
            );
        }
        match body {
            None => assert!(r.body.is_empty(), "{}: a body where none is sent", r.line()),
            Some(fields) => check_body(&r, fields),
        }
    }
}

/// LaunchMachineInput's JSON fields (machine_types.go) and the 2024 SDK's.
const UPDATE_FIELDS: &[&str] = &[
    "config",
    "region",
    "name",
    "skip_launch",
    "skip_service_registration",
    "skip_secrets",
    "min_secrets_version",
    "lease_ttl",
    "current_version",
    "lsvd",
];

fn check_body(r: &Recorded, fields: &[&str]) {
    let body = r.json().unwrap_or_else(|| panic!("{}: body is not JSON", r.line()));
    let object = body
        .as_object()
        .unwrap_or_else(|| panic!("{}: body is not an object", r.line()));
    for key in object.keys() {
        assert!(fields.contains(&key.as_str()), "{}: unknown field {key}", r.line());
    }
    assert_eq!(r.header("content-type"), Some("application/json"), "{}", r.line());
    if fields.contains(&"value") {
        assert!(body["value"].is_string(), "{}: `value` is required, a string", r.line());
    } else {
        assert!(body["config"].is_object(), "{}: `config` is required", r.line());
        assert!(
            body["min_secrets_version"].is_u64(),
            "{}: min_secrets_version",
            r.line()
        );
    }
}

#[test]
fn the_app_is_found_or_the_error_names_the_cause() {
    let (fake, fly) = setup(TOKEN, 20);
    fake.add_foreign_app("theirs");
    fly.check_app("web").unwrap();
    let missing = message(fly.check_app("nope"));
    assert!(
        missing.contains("HTTP 404") && missing.contains("no Fly app is named nope"),
        "{missing}"
    );
    let foreign = message(fly.check_app("theirs"));
    assert!(foreign.contains("HTTP 403"), "{foreign}");
    assert!(foreign.contains("fly tokens create deploy -a theirs"), "{foreign}");
    assert!(foreign.contains("cannot see app theirs"), "{foreign}");
    assert_conforms(&fake);
}

#[test]
fn the_authorization_scheme_follows_the_token() {
    for (given, sent) in [
        (TOKEN, format!("FlyV1 {BARE}")),
        (BARE, format!("FlyV1 {BARE}")),
        ("Bearer fo1_personal-token", "Bearer fo1_personal-token".to_owned()),
        ("plain-token-123", "Bearer plain-token-123".to_owned()),
    ] {
        let (fake, fly) = setup(given, 20);
        fly.check_app("web").unwrap();
        assert_eq!(
            fake.requests()[0].header("authorization"),
            Some(sent.as_str()),
            "{given}"
        );
        assert_conforms(&fake);
    }
    // The fake refuses the wrong scheme, as Fly does.
    let fake = FakeFly::start(BARE);
    fake.add_app("web");
    let answer = common::test_agent()
        .get(format!("{}/v1/apps/web", fake.api_url()))
        .header("Authorization", format!("Bearer {BARE}"))
        .call()
        .unwrap();
    assert_eq!(answer.status(), 401);
    assert_eq!(authorization_for("x_plain"), "Bearer x_plain");
}

#[test]
fn the_probe_is_written_and_deleted() {
    let (fake, fly) = setup(TOKEN, 20);
    assert_eq!(fly.probe("web").unwrap(), None);
    assert_eq!(
        calls(&fake),
        [
            "POST /v1/apps/web/secrets/TURSO_ROTATE_PROBE",
            "DELETE /v1/apps/web/secrets/TURSO_ROTATE_PROBE"
        ]
    );
    assert_eq!(fake.secret("web", "TURSO_ROTATE_PROBE"), None);
    assert_conforms(&fake);

    // A probe that could not be deleted is a warning that says what to do.
    fake.non_json_error("DELETE", "TURSO_ROTATE_PROBE", 403, "forbidden");
    let warning = fly.probe("web").unwrap().expect("a warning");
    assert!(
        warning.contains("fly secrets unset TURSO_ROTATE_PROBE -a web"),
        "{warning}"
    );
}

#[test]
fn the_write_is_staged_and_returns_the_version() {
    let (fake, fly) = setup(TOKEN, 20);
    fake.add_machine("web", "m1", "started", "iad");
    fake.set_secret("web", "TURSO_AUTH_TOKEN", "old", "2026-01-01T00:00:00.123456789Z");
    let before = fake.secrets_version("web");
    let seen = fake.secrets_seen("web", "m1");
    let Age::WrittenAt(age) = fly.updated_at("web", "TURSO_AUTH_TOKEN").unwrap() else {
        panic!("a time")
    };
    assert_eq!(
        humantime::format_rfc3339_seconds(age).to_string(),
        "2026-01-01T00:00:00Z"
    );
    assert_eq!(fly.updated_at("web", "OTHER").unwrap(), Age::Missing);

    let version = fly
        .write("web", "TURSO_AUTH_TOKEN", "new-token-value", "writing the token")
        .unwrap();
    assert_eq!(version, before + 1);
    assert_eq!(
        fake.secret("web", "TURSO_AUTH_TOKEN").as_deref(),
        Some("new-token-value")
    );
    assert_eq!(fake.secrets_seen("web", "m1"), seen, "a write restarts no machine");
    let post = fake.requests().pop().unwrap();
    assert_eq!(post.json().unwrap(), serde_json::json!({ "value": "new-token-value" }));
    assert_conforms(&fake);
}

#[test]
fn the_roll_updates_started_machines_one_at_a_time() {
    let (fake, fly) = setup("plain-token-123", 20);
    fake.add_machine("web", "m1", "started", "iad")
        .add_machine("web", "m2", "stopped", "iad")
        .add_machine("web", "m3", "started", "ams");
    let version = fly
        .write("web", "TURSO_AUTH_TOKEN", "new-token-value", "writing")
        .unwrap();
    let old = fake.machine("web", "m1");
    fake.clear_requests();

    let rolled = fly.roll("web", version).unwrap();
    assert_eq!(
        rolled,
        Rolled {
            updated: vec!["m1".into(), "m3".into()],
            left_alone: vec![("m2".into(), "stopped".into())],
        }
    );
    let mut expected = vec!["GET /v1/apps/web/machines".to_owned()];
    for m in ["m1", "m3"] {
        expected.extend([
            format!("POST /v1/apps/web/machines/{m}/lease"),
            format!("POST /v1/apps/web/machines/{m}"),
            format!("GET /v1/apps/web/machines/{m}/wait"),
            format!("DELETE /v1/apps/web/machines/{m}/lease"),
        ]);
    }
    assert_eq!(calls(&fake), expected, "1 + 4 requests per started machine");
    assert_eq!(
        fake.updates("web"),
        [("m1".to_owned(), version), ("m3".to_owned(), version)]
    );
    assert_eq!(fake.secrets_seen("web", "m1"), version);
    assert_eq!(fake.secrets_seen("web", "m3"), version);
    assert!(
        fake.secrets_seen("web", "m2") < version,
        "a stopped machine is left alone"
    );
    assert!(fake.leased("web").is_empty(), "every lease released");

    let requests = fake.requests();
    let update = &requests[2];
    assert_eq!(
        update.header(NONCE_HEADER),
        Some(format!("nonce-m1-{}", old.version).as_str())
    );
    let body = update.json().unwrap();
    assert_eq!(body["config"], old.config, "the machine's own config");
    assert_eq!(body["region"], "iad");
    let wait = &requests[3];
    let new = fake.machine("web", "m1");
    assert_ne!(new.version, old.version);
    assert_eq!(wait.query_param("state").as_deref(), Some("started"));
    assert_eq!(wait.query_param("version"), Some(new.version));
    assert!(wait.query_param("timeout").is_some());
    assert_conforms(&fake);
}

#[test]
fn the_wait_uses_the_instance_id_where_the_update_gives_only_that() {
    let (fake, fly) = setup(TOKEN, 20);
    fake.add_machine("web", "m1", "started", "iad")
        .answer_instance_id_only("web");
    let version = fly.write("web", "TURSO_AUTH_TOKEN", "v", "writing").unwrap();
    fly.roll("web", version).unwrap();
    let wait = fake.requests().into_iter().find(|r| r.path.ends_with("/wait")).unwrap();
    assert_eq!(
        wait.query_param("instance_id"),
        Some(fake.machine("web", "m1").instance_id)
    );
    assert_eq!(wait.query_param("version"), None);
    assert_conforms(&fake);
}

#[test]
fn a_lease_held_elsewhere_is_asked_for_again_then_fails() {
    let (fake, fly) = setup(TOKEN, 20);
    fake.add_machine("web", "m1", "started", "iad")
        .lease_held_elsewhere("web", "m1", 2);
    let version = fly.write("web", "TURSO_AUTH_TOKEN", "v", "writing").unwrap();
    fly.roll("web", version).unwrap();
    assert_eq!(fake.count("POST", "/machines/m1/lease"), 3);
    assert_eq!(fake.updates("web").len(), 1);
    assert_conforms(&fake);

    let (fake, fly) = setup(TOKEN, 4);
    fake.add_machine("web", "m1", "started", "iad")
        .lease_held_elsewhere("web", "m1", usize::MAX);
    let version = fly.write("web", "TURSO_AUTH_TOKEN", "v", "writing").unwrap();
    let started = Instant::now();
    let error = message(fly.roll("web", version));
    assert!(started.elapsed() < Duration::from_secs(5), "within the deadline");
    assert!(fake.count("POST", "/machines/m1/lease") >= 2, "asked again");
    assert!(
        error.contains("leased by someone else") && error.contains("HTTP 409"),
        "{error}"
    );
    assert!(error.contains("updated: none"), "{error}");
    assert!(fake.updates("web").is_empty());
}

#[test]
fn a_machine_that_does_not_come_back_stops_the_roll() {
    let (fake, fly) = setup(TOKEN, 6);
    fake.add_machine("web", "m1", "started", "iad")
        .add_machine("web", "m2", "started", "iad")
        .add_machine("web", "m3", "started", "iad")
        .never_comes_back("web", "m2");
    let version = fly.write("web", "TURSO_AUTH_TOKEN", "v", "writing").unwrap();
    let error = message(fly.roll("web", version));
    assert!(error.contains("stopped at machine m2"), "{error}");
    assert!(error.contains("updated: m1;"), "{error}");
    assert!(error.contains("still on the old secret: m2, m3"), "{error}");
    assert!(error.contains("fly machine status m2 -a web"), "{error}");
    assert_eq!(
        fake.updates("web").iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>(),
        ["m1", "m2"]
    );
    assert!(fake.secrets_seen("web", "m3") < version, "m3 keeps the old token");
    assert!(
        fake.leased("web").is_empty(),
        "the stuck machine's lease is released too"
    );
    assert_conforms(&fake);
}

#[test]
fn rate_limits_are_retried() {
    let (fake, fly) = setup(TOKEN, 20);
    fake.rate_limit("POST", "/secrets/TURSO_AUTH_TOKEN", 1);
    let version = fly.write("web", "TURSO_AUTH_TOKEN", "v", "writing").unwrap();
    assert_eq!(version, 1);
    assert_eq!(fake.count("POST", "/secrets/TURSO_AUTH_TOKEN"), 2);
    assert_conforms(&fake);
}

#[test]
fn errors_carry_the_request_id_and_never_the_token() {
    let (fake, fly) = setup(TOKEN, 20);
    let error = message(fly.check_app("nope"));
    let id = fake.request_ids().pop().unwrap();
    assert!(error.contains(&format!("fly-request-id {id}")), "{error}");
    assert!(error.contains("app nope not found"), "Fly's own message: {error}");

    // A body that is not JSON is shown as text with its status, scrubbed.
    let page = format!("<html><body>Bad request from {BARE}</body></html>");
    let id = fake.non_json_error("GET", "/v1/apps/web", 400, &page);
    let error = message(fly.check_app("web"));
    assert!(
        error.contains("HTTP 400") && error.contains("<html><body>Bad request from"),
        "{error}"
    );
    assert!(error.contains(&id), "{error}");
    for part in BARE.split(',') {
        assert!(!error.contains(part), "the token leaked: {error}");
    }
}

#[test]
fn a_secret_without_updated_at_has_no_age() {
    // fly-go's `AppSecret.UpdatedAt` is optional (`omitempty`).
    let (fake, fly) = setup(TOKEN, 20);
    fake.fault(common::Fault::new(
        "GET",
        "/secrets/TURSO_AUTH_TOKEN",
        common::FaultAction::status(200, r#"{"name":"TURSO_AUTH_TOKEN","digest":"d"}"#),
    ));
    assert_eq!(fly.updated_at("web", "TURSO_AUTH_TOKEN").unwrap(), Age::Untracked);
}
