//! The Netlify client (SPEC, "Fly.io and Netlify targets": the
//! `netlify:SITE:NAME[:CONTEXTS]` and `dispatch: netlify:SITE` bullets)
//! against the fake Netlify API, through the library: site and variable
//! lookup, what stops before anything changes, the probe, one POST for a
//! new variable and one PATCH per context for an existing one (never PUT),
//! the non-secret warning, Netlify's rate limit, builds, and errors.
//! Every request is held against the shapes of `/work/shared/api/netlify.json`
//! (basePath `/api/v1`, bearer auth, `site_id` on every env route).

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use common::netlify::EnvVar;
use common::{FakeNetlify, Recorded};
use turso_rotate::apis::netlify::{Context, Netlify, Variable};
use turso_rotate::http::retry::Policy;
use turso_rotate::secret::Secret;

const TOKEN: &str = "nfp_fake_netlify_token_0123456789";
const SITE: &str = "5a1b2c3d-site";
const ACCOUNT: &str = "acme-team";
const KEY: &str = "TURSO_AUTH_TOKEN";
const PROBE: &str = "TURSO_ROTATE_PROBE";

fn policy() -> Policy {
    Policy {
        max_attempts: 4,
        deadline: Instant::now() + Duration::from_secs(30),
    }
}

/// A fake with the site (linked to a repository) and a client for it.
fn setup() -> (FakeNetlify, Netlify) {
    let fake = FakeNetlify::start(TOKEN);
    fake.add_site(SITE, "acme-web", ACCOUNT, Some("https://github.com/acme/web"));
    let client = Netlify::new(&fake.api_url(), Secret::new(TOKEN), policy());
    (fake, client)
}

/// Every request went to an operation of netlify.json, with its auth and
/// `site_id`, and no `PUT` (updateEnvVar) ever.
fn assert_conforms(fake: &FakeNetlify) {
    for req in fake.requests() {
        assert_eq!(
            req.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str()),
            "{}",
            req.line()
        );
        let segments = req.segments();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let known = match (req.method.as_str(), &segments[..]) {
            ("GET", ["api", "v1", "sites", _]) => true,
            ("POST", ["api", "v1", "sites", _, "builds"]) => req.body.is_empty(),
            ("POST", ["api", "v1", "accounts", _, "env"]) => create_body_ok(&req),
            ("PATCH", ["api", "v1", "accounts", _, "env", _]) => patch_body_ok(&req),
            ("GET" | "DELETE", ["api", "v1", "accounts", _, "env", _]) => req.body.is_empty(),
            _ => false,
        };
        assert!(
            known,
            "not an operation of netlify.json as used: {} {}",
            req.line(),
            req.body
        );
        if segments.get(2) == Some(&"accounts") {
            assert_eq!(req.query_param("site_id").as_deref(), Some(SITE), "{}", req.line());
            assert_eq!(segments[3], ACCOUNT, "the account segment is the site's account_slug");
        }
    }
    assert!(
        fake.puts().is_empty(),
        "PUT (updateEnvVar) drops the other contexts' values"
    );
}

/// createEnvVars: an array of `{key, is_secret: true, values: [{context, value}]}`.
fn create_body_ok(req: &Recorded) -> bool {
    let Some(Value::Array(items)) = req.json() else {
        return false;
    };
    items.iter().all(|item| {
        let keys: Vec<&String> = item.as_object().map(|o| o.keys().collect()).unwrap_or_default();
        keys.len() == 3
            && item["key"].is_string()
            && item["is_secret"] == json!(true)
            && item["values"].as_array().is_some_and(|values| {
                values.iter().all(|v| {
                    v.as_object().is_some_and(|o| o.len() == 2)
                        && v["value"].is_string()
                        && v["context"].as_str().and_then(Context::parse).is_some()
                })
            })
    })
}

/// setEnvVarValue: exactly `{context, value}`.
fn patch_body_ok(req: &Recorded) -> bool {
    req.json().is_some_and(|body| {
        body.as_object().is_some_and(|o| o.len() == 2)
            && body["value"].is_string()
            && body["context"].as_str().and_then(Context::parse).is_some()
    })
}

/// The secret variable with old production and deploy-preview values.
fn old_values() -> EnvVar {
    EnvVar::new(KEY)
        .value("production", "old-prod")
        .value("deploy-preview", "old-preview")
}

fn writes(fake: &FakeNetlify) -> Vec<String> {
    fake.requests()
        .iter()
        .filter(|r| r.method != "GET")
        .map(Recorded::line)
        .collect()
}

#[test]
fn the_site_and_the_variable_are_read() {
    let (fake, client) = setup();
    fake.add_var(SITE, old_values().updated_at("2026-11-20T08:30:00.000Z"));
    let site = client.site(SITE).unwrap();
    assert_eq!(site.account_slug, ACCOUNT);
    assert_eq!(site.repo_url.as_deref(), Some("https://github.com/acme/web"));
    let var = client.variable(&site, KEY).unwrap().expect("the variable exists");
    assert!(var.is_secret);
    assert!(var.has(Context::Production) && var.has(Context::DeployPreview));
    assert!(!var.has(Context::BranchDeploy));
    assert_eq!(
        var.updated_at,
        Some(UNIX_EPOCH + Duration::from_secs(1_795_163_400)),
        "updated_at, RFC 3339"
    );
    assert_eq!(client.variable(&site, "NOT_THERE").unwrap(), None, "404: none");
    let lines: Vec<String> = fake.requests().iter().map(Recorded::line).collect();
    assert_eq!(
        lines,
        [
            format!("GET /api/v1/sites/{SITE}"),
            format!("GET /api/v1/accounts/{ACCOUNT}/env/{KEY}?site_id={SITE}"),
            format!("GET /api/v1/accounts/{ACCOUNT}/env/NOT_THERE?site_id={SITE}"),
        ]
    );
    assert_conforms(&fake);
}

#[test]
fn a_value_for_all_contexts_or_one_branch_stops_before_anything_changes() {
    let (fake, client) = setup();
    let site = client.site(SITE).unwrap();
    for var in [
        EnvVar::new(KEY).plain().value("all", "shared"),
        EnvVar::new(KEY).value("production", "p").branch("staging", "s"),
    ] {
        fake.add_var(SITE, var.clone());
        let error = format!("{:#}", client.variable(&site, KEY).unwrap_err());
        assert!(error.contains("split it into a value per context"), "{error}");
        assert!(error.contains("nothing was changed"), "{error}");
        assert!(!error.contains("shared"), "a value is never quoted: {error}");
        assert_eq!(fake.var(SITE, KEY), Some(var), "untouched");
    }
    assert!(writes(&fake).is_empty(), "{:?}", writes(&fake));
}

#[test]
fn the_probe_creates_a_secret_production_value_then_deletes_it() {
    let (fake, client) = setup();
    let site = client.site(SITE).unwrap();
    fake.clear_requests();
    assert_eq!(client.probe(&site).unwrap(), None);
    assert_eq!(fake.var(SITE, PROBE), None, "deleted");
    let requests = fake.requests();
    let lines: Vec<String> = requests.iter().map(Recorded::line).collect();
    assert_eq!(
        lines,
        [
            format!("POST /api/v1/accounts/{ACCOUNT}/env?site_id={SITE}"),
            format!("DELETE /api/v1/accounts/{ACCOUNT}/env/{PROBE}?site_id={SITE}"),
        ]
    );
    let body = requests[0].json().unwrap();
    let value = body[0]["values"][0]["value"].as_str().unwrap().to_owned();
    assert!(
        value.len() >= 16 && value.chars().all(|c| c.is_ascii_alphanumeric()),
        "printable"
    );
    assert_eq!(
        body,
        json!([{"key": PROBE, "is_secret": true, "values": [{"context": "production", "value": value}]}])
    );
    assert_conforms(&fake);
}

#[test]
fn a_leftover_probe_is_deleted_and_one_that_stays_is_a_warning() {
    let (fake, client) = setup();
    let site = client.site(SITE).unwrap();
    fake.add_var(SITE, EnvVar::new(PROBE).value("production", "left"));
    assert_eq!(client.probe(&site).unwrap(), None);
    assert_eq!(fake.var(SITE, PROBE), None);
    assert_eq!(fake.count("DELETE", PROBE), 2, "the leftover, then ours");

    fake.fault(common::Fault::new(
        "DELETE",
        PROBE,
        common::FaultAction::status(403, &common::netlify::error_body(403, "Forbidden")),
    ));
    let warning = client.probe(&site).unwrap().expect("a warning");
    assert!(
        warning.contains("delete TURSO_ROTATE_PROBE from the site by hand"),
        "{warning}"
    );
    assert!(warning.contains("Forbidden"), "{warning}");
    assert_conforms(&fake);
}

#[test]
fn a_new_variable_is_created_with_every_context_in_one_post() {
    let (fake, client) = setup();
    let site = client.site(SITE).unwrap();
    assert_eq!(client.variable(&site, KEY).unwrap(), None);
    fake.clear_requests();
    let warning = client
        .write(&site, KEY, None, &Context::ALL, "new-token-value", "writing the token")
        .unwrap();
    assert_eq!(warning, None);
    assert_eq!(
        writes(&fake),
        [format!("POST /api/v1/accounts/{ACCOUNT}/env?site_id={SITE}")]
    );
    let var = fake.var(SITE, KEY).unwrap();
    assert!(var.is_secret);
    for context in ["production", "deploy-preview", "branch-deploy"] {
        assert_eq!(var.get(context), Some("new-token-value"), "{context}");
    }
    assert_eq!(var.values.len(), 3);
    assert_conforms(&fake);
}

#[test]
fn an_existing_variable_gets_one_patch_per_context_and_keeps_the_others() {
    let (fake, client) = setup();
    fake.add_var(SITE, old_values().value("dev", "local-dev"));
    let site = client.site(SITE).unwrap();
    let existing = client.variable(&site, KEY).unwrap();
    fake.clear_requests();
    let contexts = [Context::Production, Context::BranchDeploy];
    let warning = client
        .write(
            &site,
            KEY,
            existing.as_ref(),
            &contexts,
            "new-token-value",
            "writing the token",
        )
        .unwrap();
    assert_eq!(warning, None);
    let patch = format!("PATCH /api/v1/accounts/{ACCOUNT}/env/{KEY}?site_id={SITE}");
    assert_eq!(writes(&fake), [patch.clone(), patch]);
    let bodies: Vec<Value> = fake.requests().iter().filter_map(Recorded::json).collect();
    assert_eq!(
        bodies,
        [
            json!({"context": "production", "value": "new-token-value"}),
            json!({"context": "branch-deploy", "value": "new-token-value"}),
        ]
    );
    let var = fake.var(SITE, KEY).unwrap();
    assert_eq!(var.get("production"), Some("new-token-value"));
    assert_eq!(
        var.get("branch-deploy"),
        Some("new-token-value"),
        "a context not yet set is added"
    );
    assert_eq!(var.get("deploy-preview"), Some("old-preview"), "other contexts kept");
    assert_eq!(var.get("dev"), Some("local-dev"), "other contexts kept");
    assert_conforms(&fake);
}

#[test]
fn a_variable_that_is_not_a_secret_is_written_with_a_warning() {
    let (fake, client) = setup();
    fake.add_var(SITE, EnvVar::new(KEY).plain().value("production", "old"));
    let site = client.site(SITE).unwrap();
    let existing: Variable = client.variable(&site, KEY).unwrap().unwrap();
    assert!(!existing.is_secret);
    let warning = client
        .write(
            &site,
            KEY,
            Some(&existing),
            &[Context::Production],
            "new-token-value",
            "writing",
        )
        .unwrap()
        .expect("a warning");
    assert!(warning.contains("is not a secret"), "{warning}");
    assert!(
        !warning.contains("new-token-value") && !warning.contains("old"),
        "{warning}"
    );
    assert_eq!(fake.var(SITE, KEY).unwrap().get("production"), Some("new-token-value"));
    assert_conforms(&fake);
}

#[test]
fn a_429_waits_until_x_ratelimit_reset() {
    let (fake, client) = setup();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let reset = now + 2;
    fake.rate_limit("GET", "/sites/", 1, reset);
    let site = client.site(SITE).unwrap();
    assert_eq!(site.account_slug, ACCOUNT);
    assert!(
        SystemTime::now() >= UNIX_EPOCH + Duration::from_secs(reset),
        "the retry came before X-RateLimit-Reset"
    );
    assert_eq!(fake.count("GET", "/sites/"), 2);

    // A reset past the deadline fails at once, naming the rate limit.
    let short = Netlify::new(
        &fake.api_url(),
        Secret::new(TOKEN),
        Policy {
            max_attempts: 4,
            deadline: Instant::now() + Duration::from_secs(3),
        },
    );
    fake.rate_limit("GET", "/sites/", 1, now + 600);
    let started = Instant::now();
    let error = format!("{:#}", short.site(SITE).unwrap_err());
    assert!(error.contains("rate limit") && error.contains("deadline"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no wait that cannot end in time"
    );
}

#[test]
fn a_build_starts_for_a_linked_site_and_a_site_without_a_repository_says_what_to_do() {
    let (fake, client) = setup();
    client.build(SITE).unwrap();
    let builds = fake.builds();
    assert_eq!(builds.len(), 1);
    assert_eq!(builds[0].site_id, SITE);
    assert_eq!(builds[0].query, "", "no branch: the production branch");
    let post = fake.requests().pop().unwrap();
    assert_eq!(post.line(), format!("POST /api/v1/sites/{SITE}/builds"));
    assert_eq!(post.header("content-length"), Some("0"), "a bodiless POST");

    fake.add_site("drop-site", "drop", ACCOUNT, None);
    let error = format!("{:#}", client.build("drop-site").unwrap_err());
    assert!(error.contains("no linked repository"), "{error}");
    assert!(
        error.contains("dispatch the workflow that deploys it instead"),
        "{error}"
    );
    assert_eq!(fake.builds().len(), 1);
}

#[test]
fn errors_carry_netlify_message_and_never_the_token() {
    let (fake, _) = setup();
    let wrong = "nfp_wrong_token_that_must_not_show";
    let client = Netlify::new(&fake.api_url(), Secret::new(wrong), policy());
    let error = format!("{:#}", client.site(SITE).unwrap_err());
    assert!(error.contains("HTTP 401"), "{error}");
    assert!(
        error.contains("Access Denied: Invalid token"),
        "Netlify's message: {error}"
    );
    assert!(error.contains("`netlify-token`"), "names the input: {error}");
    assert!(!error.contains(wrong) && !error.contains(TOKEN), "{error}");

    let client = Netlify::new(&fake.api_url(), Secret::new(TOKEN), policy());
    let error = format!("{:#}", client.site("no-such-site").unwrap_err());
    assert!(
        error.contains("HTTP 404: Not Found") && error.contains("check the site id"),
        "{error}"
    );

    // A write Netlify refuses carries its message.
    let site = client.site(SITE).unwrap();
    fake.fault(common::Fault::new(
        "POST",
        "/env",
        common::FaultAction::status(422, &common::netlify::error_body(422, "Plan does not allow secrets")),
    ));
    let error = format!(
        "{:#}",
        client
            .write(&site, KEY, None, &[Context::Production], "new-token-value", "writing")
            .unwrap_err()
    );
    assert!(error.contains("HTTP 422: Plan does not allow secrets"), "{error}");
    assert!(!error.contains("new-token-value") && !error.contains(TOKEN), "{error}");
}
