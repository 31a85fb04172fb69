//! The whole action on one machine, no accounts needed.
//!
//! `cargo run --example sandbox` starts fake Turso and GitHub API servers on
//! 127.0.0.1 (the ones the integration tests use: real HTTP, real JWTs, real
//! sealed boxes), runs the real binary against them with the environment
//! the Actions runner gives a step, and prints what happened, step by step:
//! an invalidating rotation, then a scheduled roll (`rotate-after`) that
//! leaves the previous token working, dispatches to a consumer repository
//! and sends a signed webhook, then a run with nothing due, then a run into
//! a Cloudflare Worker and a Vercel project with a redeploy. Tokens are shown
//! only as SHA-256 fingerprints.
//!
//! `cargo run --example sandbox -- --serve` leaves the fakes running and
//! prints the commands to run the binary by hand against them; Ctrl-C stops
//! them.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use common::fly::FakeFly;
use common::world::{World, API_TOKEN, GH_TOKEN};
use common::{FakeCloudflare, FakeNetlify, FakeVercel, Scope, Webhook};
use support::{display_path, fingerprint, shell_quote};

const ORG: &str = "acme";
const GROUP: &str = "prod";
const REPO: &str = "acme/app";
const SECRET: &str = "TURSO_AUTH_TOKEN";
const DATABASE: &str = "app-db";
const ENVIRONMENT: &str = "production";
const EXPIRATION: &str = "15d";
const REASON: &str = "sandbox: the weekly rotation";
const PROBE: &str = "TURSO_ROTATE_PROBE";

const USAGE: &str = "\
Usage: cargo run --example sandbox [-- --serve]

  (no flag)  run one rotation against local fake Turso and GitHub APIs and
             print every step (tokens only as SHA-256 fingerprints)
  --serve    leave the fakes running and print the commands to run the
             binary by hand against them; Ctrl-C stops them
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let serve = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => false,
        ["--serve"] => true,
        ["-h" | "--help"] => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprint!("sandbox: unexpected arguments {args:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "sandbox: building the binary (cargo build --bin turso-rotate{})…",
        if support::release() { " --release" } else { "" }
    );
    let bin = match support::build_binary() {
        Ok(bin) => bin,
        Err(e) => {
            eprintln!("sandbox: {e}");
            return ExitCode::FAILURE;
        }
    };
    if serve {
        serve_forever(&bin)
    } else {
        tour(&bin)
    }
}

/// Failed expectations, reported at the end (the tour goes on, to show as
/// much as it can).
#[derive(Default)]
struct Checks(Vec<String>);

impl Checks {
    /// `✓ what` or `✗ what`, remembered when false.
    fn check(&mut self, ok: bool, what: &str) -> &'static str {
        if !ok {
            self.0.push(what.to_owned());
        }
        if ok {
            "✓"
        } else {
            "✗"
        }
    }
}

fn heading(n: usize, title: &str) {
    println!("\n{n}. {title}");
}

fn tour(bin: &Path) -> ExitCode {
    let started = Instant::now();
    let mut checks = Checks::default();
    println!("turso-rotate sandbox: one rotation against fake Turso and GitHub APIs on 127.0.0.1");
    println!("(tokens appear only as fingerprints: sha256: and the first 12 hex digits of their SHA-256)");

    let world = World::with_bin(bin.to_path_buf());
    world.turso.add_database(GROUP, DATABASE);
    let db = world.turso.database_url(DATABASE);
    heading(1, "The fakes");
    println!(
        "   Turso API   {}  organization `{ORG}`, group `{GROUP}`, database `{DATABASE}` (libSQL at {db})",
        world.turso.url()
    );
    println!("   GitHub API  {}  repository {REPO}", world.github.api_url());
    let old = world.turso.issue_token(GROUP);
    let (status, _) = select_one(&db, &old);
    println!(
        "   An \"old\" token of group `{GROUP}`, issued before the run: {}; SELECT 1 with it: HTTP {status} {}",
        fingerprint(&old),
        checks.check(status == 200, "the old token works before the run")
    );
    // Budgets count the binary's requests only.
    world.turso.clear_requests();
    world.journal.clear();

    heading(2, "The run, as the Actions runner starts a step");
    println!("   {}", display_path(bin));
    println!("   GITHUB_ACTIONS=true, fresh GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, GITHUB_WORKSPACE,");
    println!("   GITHUB_REPOSITORY={REPO}, GITHUB_API_URL={}", world.github.api_url());
    println!("   INPUT_ORGANIZATION={ORG}  INPUT_GROUP={GROUP}  INPUT_SECRET-NAME={SECRET}");
    println!("   INPUT_EXPIRATION={EXPIRATION}  INPUT_REASON={REASON}");
    println!("   INPUT_TURSO-API-URL={}", world.turso.url());
    println!("   INPUT_API-TOKEN={API_TOKEN}  INPUT_GITHUB-TOKEN={GH_TOKEN}  (sandbox-only values)");
    let result = world
        .runner()
        .input("expiration", EXPIRATION)
        .input("reason", REASON)
        .run();
    let token = result.output("token").map(str::to_owned);
    let mut secrets: Vec<String> = result.masked();
    secrets.extend(token.clone());
    secrets.push(old.clone());
    let scrub = |text: &str| scrub(text, &secrets);
    println!(
        "   exit code {} after {:.0} ms {}",
        result.code.map_or("none (killed)".to_owned(), |c| c.to_string()),
        result.elapsed.as_secs_f64() * 1000.0,
        checks.check(result.code == Some(0), "the run exits 0")
    );

    heading(3, "What it printed (stdout: workflow commands; stderr: its log)");
    for line in result.stdout.lines() {
        println!("   stdout | {}", scrub(line));
    }
    for line in result.stderr.lines() {
        println!("   stderr | {}", scrub(line));
    }
    let Some(token) = token else {
        println!("\nThe run produced no `token` output; nothing more to show.");
        return finish(&checks, started);
    };

    heading(
        4,
        "Its requests, in order (budget: 3 Turso + 4 GitHub, one connection per API)",
    );
    for (i, (label, request)) in world.journal.entries().iter().enumerate() {
        println!("   {}. {label:<6} {}", i + 1, request.line());
    }
    let turso = (world.turso.requests().len(), world.turso.connections());
    let github = (world.github.requests().len(), world.github.connections());
    println!(
        "   Turso: {} requests over {} connection(s); GitHub: {} requests over {} connection(s) {}",
        turso.0,
        turso.1,
        github.0,
        github.1,
        checks.check(turso == (3, 1) && github == (4, 1), "the request budget holds")
    );

    heading(5, "Rotation: libSQL /v2/pipeline, SELECT 1 on the group's database");
    let (status, body) = select_one(&db, &old);
    println!(
        "   old token {}: HTTP {status} {} {}",
        fingerprint(&old),
        body.trim(),
        checks.check(status == 401, "the old token is rejected after the run")
    );
    let (status, body) = select_one(&db, &token);
    let first = serde_json::from_str::<Value>(&body).map_or(Value::Null, |b| b["results"][0]["type"].clone());
    println!(
        "   new token {}: HTTP {status}, results[0].type = {first} {}",
        fingerprint(&token),
        checks.check(status == 200 && first == "ok", "the new token runs SELECT 1")
    );
    let rotations = world.turso.rotations(GROUP);
    println!(
        "   group `{GROUP}` was rotated {rotations} time(s) {}",
        checks.check(rotations == 1, "exactly one rotation")
    );

    heading(6, "The new token's claims");
    let claims = world.turso.claims(&token);
    let iat = claims["iat"].as_u64();
    let exp = claims["exp"].as_u64();
    println!("   iat  {}", iat.map_or("-".into(), time));
    let expected = humantime::parse_duration(EXPIRATION).map(|d| d.as_secs()).ok();
    let lifetime = iat.zip(exp).map(|(i, e)| e - i);
    println!(
        "   exp  {} ({}; expiration {EXPIRATION}) {}",
        exp.map_or("none".into(), time),
        lifetime.map_or("never expires".into(), |s| format!(
            "{} days after iat",
            s as f64 / 86_400.0
        )),
        checks.check(
            lifetime.is_some() && lifetime == expected,
            "the token expires after 15d"
        )
    );
    let expires_output = result
        .output("expires-at")
        .and_then(|t| humantime::parse_rfc3339(t).ok())
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs());
    println!(
        "       output expires-at = {} {}",
        result.output("expires-at").unwrap_or("(missing)"),
        checks.check(
            expires_output.is_some() && expires_output == exp,
            "expires-at matches exp"
        )
    );
    let access = match claims["a"].as_str() {
        Some("rw") => "rw (full-access)",
        Some("ro") => "ro (read-only)",
        _ => "?",
    };
    println!("   a    {access}");
    let gid = claims["gid"].as_str().unwrap_or("?");
    println!(
        "   gid  {gid} (group `{GROUP}`'s uuid) {}",
        checks.check(gid == world.turso.group_uuid(GROUP), "gid is the group's uuid")
    );

    heading(7, "The secret, opened by the fake GitHub with its private key");
    let stored = world.secret();
    let stored_fp = stored.as_deref().map_or("(no secret)".to_owned(), fingerprint);
    println!(
        "   {SECRET} in {REPO}: {stored_fp}, token output: {} {}",
        fingerprint(&token),
        checks.check(stored.as_deref() == Some(&token), "the secret holds the token")
    );
    let names = world.github.secret_names(&Scope::repo(REPO));
    println!(
        "   secrets of {REPO} now: {} (the write-access probe {PROBE} was deleted) {}",
        names.join(", "),
        checks.check(!names.iter().any(|n| n == PROBE), "the probe was deleted")
    );

    heading(
        8,
        "$GITHUB_OUTPUT, as the runner parses it (the token as its fingerprint)",
    );
    for (name, value) in &result.outputs {
        println!("   {name} = {}", scrub(value));
    }

    heading(9, "$GITHUB_STEP_SUMMARY");
    for line in result.summary.lines() {
        println!("   {}", scrub(line));
    }
    result.assert_no_leak(&[API_TOKEN, GH_TOKEN, &token]);
    println!("\n   No token in stdout (but the ::add-mask:: line), stderr, the summary or the job's files ✓");
    roll(&world, &db, &token, &mut checks);
    platforms(&world, &mut checks);
    fly_and_netlify(&world, &mut checks);
    finish(&checks, started)
}

/// Sandbox-only platform credentials.
const CLOUDFLARE_TOKEN: &str = "cf-sandbox-token-0123456789";
const VERCEL_TOKEN: &str = "vercel-sandbox-token-0123456789";

/// Where apps run: one run writes a Worker secret and a Vercel variable,
/// then redeploys the Vercel project.
fn platforms(world: &World, checks: &mut Checks) {
    let cloudflare = FakeCloudflare::start(CLOUDFLARE_TOKEN).with_journal(&world.journal);
    cloudflare.add_worker("0123abcd", "api");
    let vercel = FakeVercel::start(VERCEL_TOKEN).with_journal(&world.journal);
    vercel.add_project("web");
    let live = vercel.add_live_deployment("web");
    heading(
        12,
        "Where apps run: a Cloudflare Worker secret and a Vercel variable, then a Vercel redeploy",
    );
    let result = world
        .runner()
        .secrets(&[API_TOKEN, GH_TOKEN, CLOUDFLARE_TOKEN, VERCEL_TOKEN])
        .input("secret-name", "")
        .input("github-token", "")
        .input(
            "secrets",
            &format!("cloudflare:0123abcd:api:{SECRET}\nvercel:web:{SECRET}"),
        )
        .input("dispatch", "vercel:web")
        .input("cloudflare-api-token", CLOUDFLARE_TOKEN)
        .input("cloudflare-api-url", &cloudflare.api_url())
        .input("vercel-token", VERCEL_TOKEN)
        .input("vercel-api-url", &vercel.api_url())
        .run();
    let token = result.output("token").unwrap_or_default().to_owned();
    println!(
        "   exit code {} (no github-token needed: no GitHub target) {}",
        result.code.map_or("none".to_owned(), |c| c.to_string()),
        checks.check(result.code == Some(0), "the platform run exits 0")
    );
    let worker = cloudflare.secret("0123abcd", "api", SECRET);
    println!(
        "   Worker `api` secret {SECRET}: {} ({} deployments: probe written, probe deleted, token written) {}",
        worker.as_deref().map_or("(none)".to_owned(), fingerprint),
        cloudflare.deployments("0123abcd", "api"),
        checks.check(worker.as_deref() == Some(token.as_str()), "the Worker holds the token")
    );
    for target in ["production", "preview"] {
        let value = vercel.value("web", SECRET, target);
        println!(
            "   Vercel `web` {SECRET} ({target}): {} {}",
            value.as_deref().map_or("(none)".to_owned(), fingerprint),
            checks.check(
                value.as_deref() == Some(token.as_str()),
                "the Vercel variable holds the token"
            )
        );
    }
    let redeploys = vercel.redeploys();
    for redeploy in &redeploys {
        println!(
            "   Vercel redeployed {} as {} (target {}) {}",
            redeploy.deployment_id.as_deref().unwrap_or("?"),
            redeploy.id,
            redeploy.target.as_deref().unwrap_or("?"),
            checks.check(
                redeploy.deployment_id.as_deref() == Some(live.as_str()),
                "the live deployment was rebuilt"
            )
        );
    }
    checks.check(redeploys.len() == 1, "one redeploy");
    println!(
        "   requests: Cloudflare {} (list, probe PUT and DELETE, write), Vercel {} (list, probe POST and DELETE, write, project, redeploy) {}",
        cloudflare.requests().len(),
        vercel.requests().len(),
        checks.check(
            cloudflare.requests().len() == 4 && vercel.requests().len() == 6,
            "4 Cloudflare and 4 + 2 Vercel requests"
        )
    );
}

/// Sandbox-only Fly and Netlify credentials.
const FLY_TOKEN: &str = "fm2_sandboxflytoken0123456789";
const NETLIFY_TOKEN: &str = "nfp_sandboxnetlifytoken0123456789";

/// Where apps run, continued: one run writes a GitHub secret, a Fly secret
/// and a Netlify variable, rolls the Fly machines and builds the site.
fn fly_and_netlify(world: &World, checks: &mut Checks) {
    let fly = FakeFly::start(FLY_TOKEN);
    fly.set_journal(&world.journal);
    fly.add_app("api")
        .add_machine("api", "m1", "started", "ams")
        .add_machine("api", "m2", "started", "fra")
        .add_machine("api", "m3", "stopped", "ams");
    let netlify = FakeNetlify::start(NETLIFY_TOKEN).with_journal(&world.journal);
    netlify.add_site("site-1", "web", "acme", Some("https://github.com/acme/web"));
    heading(
        13,
        "Fly.io and Netlify: a GitHub secret, a Fly secret and a Netlify variable, then a machine roll and a build",
    );
    let result = world
        .runner()
        .secrets(&[API_TOKEN, GH_TOKEN, FLY_TOKEN, NETLIFY_TOKEN])
        .input("secret-name", "")
        .input(
            "secrets",
            &format!("repo:{SECRET}\nfly:api:{SECRET}\nnetlify:site-1:{SECRET}"),
        )
        .input("dispatch", "fly:api\nnetlify:site-1")
        .input("fly-api-token", FLY_TOKEN)
        .input("fly-api-url", &fly.api_url())
        .input("netlify-token", NETLIFY_TOKEN)
        .input("netlify-api-url", &netlify.api_url())
        .run();
    let token = result.output("token").unwrap_or_default().to_owned();
    println!(
        "   exit code {} {}",
        result.code.map_or("none".to_owned(), |c| c.to_string()),
        checks.check(result.code == Some(0), "the Fly and Netlify run exits 0")
    );
    let github = world.secret();
    println!(
        "   GitHub {SECRET}: {} {}",
        github.as_deref().map_or("(none)".to_owned(), fingerprint),
        checks.check(
            github.as_deref() == Some(token.as_str()),
            "the GitHub secret holds the token"
        )
    );
    let secret = fly.secret("api", SECRET);
    println!(
        "   Fly app `api` secret {SECRET}: {} (secrets version {}) {}",
        secret.as_deref().map_or("(none)".to_owned(), fingerprint),
        fly.secrets_version("api"),
        checks.check(
            secret.as_deref() == Some(token.as_str()),
            "the Fly secret holds the token"
        )
    );
    let version = fly.secrets_version("api");
    for (id, min) in fly.updates("api") {
        println!(
            "   Fly machine {id} updated with min_secrets_version {min}, now reads version {} {}",
            fly.secrets_seen("api", &id),
            checks.check(min == version, "the machine reads the version the write answered")
        );
    }
    println!(
        "   Fly machine m3 (stopped) left alone: reads version {} until it is next updated {}",
        fly.secrets_seen("api", "m3"),
        checks.check(
            fly.updates("api").len() == 2 && fly.secrets_seen("api", "m3") < version,
            "only the started machines were updated"
        )
    );
    let value = netlify
        .var("site-1", SECRET)
        .and_then(|v| v.get("production").map(str::to_owned));
    println!(
        "   Netlify site `web` {SECRET} (production): {} {}",
        value.as_deref().map_or("(none)".to_owned(), fingerprint),
        checks.check(
            value.as_deref() == Some(token.as_str()),
            "the Netlify variable holds the token"
        )
    );
    println!(
        "   Netlify builds started: {} {}",
        netlify.builds().len(),
        checks.check(netlify.builds().len() == 1, "one Netlify build")
    );
    println!(
        "   requests: Fly {} (app, probe POST and DELETE, write, machines, 4 per started machine), Netlify {} (site, variable, probe POST and DELETE, write, build) {}",
        fly.requests().len(),
        netlify.requests().len(),
        checks.check(
            fly.requests().len() == 4 + 1 + 4 * 2 && netlify.requests().len() == 6,
            "4 + 1 + 8 Fly and 4 + 1 + 1 Netlify requests"
        )
    );
    result.assert_no_leak(&[API_TOKEN, GH_TOKEN, FLY_TOKEN, NETLIFY_TOKEN, &token]);
}

/// A consumer repository that redeploys on `turso-token-rotated`.
const CONSUMER: &str = "acme/web";
/// The sandbox webhook's signing secret (Standard Webhooks).
const WEBHOOK_SECRET: &str = "whsec_c2FuZGJveC1vbmx5LXdlYmhvb2sta2V5";

/// The scheduled set-up README recommends: `mode: roll` with
/// `rotate-after`, a dispatch and a signed notification.
fn roll(world: &World, db: &str, previous: &str, checks: &mut Checks) {
    world.github.add_repo(CONSUMER);
    let webhook = Webhook::start("/hooks/sandbox-secret-path").signed_with(WEBHOOK_SECRET);
    world.turso.clear_requests();
    world.github.clear_requests();
    heading(
        10,
        "A roll beside it: mode roll, expiration 30d, rotate-after 7d, a dispatch and a webhook",
    );
    let runner = world
        .runner()
        .input("mode", "roll")
        .input("expiration", "30d")
        .input("rotate-after", "7d")
        .input("dispatch", &format!("repository:{CONSUMER}"))
        .input("notify-url", &webhook.notify_url())
        .input("notify-secret", WEBHOOK_SECRET);
    // The secret was written moments ago: backdate it, as if a week had passed.
    let scope = Scope::repo(REPO);
    let week_ago = humantime::format_rfc3339_seconds(SystemTime::now() - Duration::from_secs(8 * 86_400));
    world
        .github
        .set_secret_updated_at(&scope, SECRET, &week_ago.to_string());
    let result = runner.run();
    let rolled = result.output("token").unwrap_or_default().to_owned();
    println!(
        "   exit code {}, rotated={}, invalidated={} {}",
        result.code.map_or("none".to_owned(), |c| c.to_string()),
        result.output("rotated").unwrap_or("?"),
        result.output("invalidated").unwrap_or("?"),
        checks.check(
            result.code == Some(0) && result.output("invalidated") == Some("false"),
            "the roll exits 0 and invalidates nothing"
        )
    );
    let (turso, github) = (world.turso.requests().len(), world.github.requests().len());
    println!(
        "   requests: Turso {turso} (look up, create), GitHub {github} (key, age, probe PUT and DELETE, write, dispatch) {}",
        checks.check(turso == 2 && github == 6, "a roll with rotate-after and a dispatch makes 2 + 6 requests")
    );
    let (old_status, _) = select_one(db, previous);
    let (new_status, _) = select_one(db, &rolled);
    println!(
        "   SELECT 1 with the previous token {}: HTTP {old_status}; with the rolled one {}: HTTP {new_status} {}",
        fingerprint(previous),
        fingerprint(&rolled),
        checks.check(
            old_status == 200 && new_status == 200,
            "both tokens work after a roll: no outage"
        )
    );
    println!(
        "   {SECRET} now holds {} {}",
        world.secret().as_deref().map_or("(nothing)".to_owned(), fingerprint),
        checks.check(
            world.secret().as_deref() == Some(rolled.as_str()),
            "the secret holds the rolled token"
        )
    );
    for dispatch in world.github.dispatches() {
        let payload = dispatch.client_payload();
        println!(
            "   {CONSUMER} got repository_dispatch `{}` with {}",
            dispatch.event_type().unwrap_or("?"),
            scrub(
                &payload.map_or(String::new(), Value::to_string),
                std::slice::from_ref(&rolled)
            )
        );
    }
    checks.check(world.github.dispatches().len() == 1, "one dispatch arrived");
    for message in webhook.messages() {
        let body = message.json();
        println!(
            "   webhook got `{}`, signature {} {}",
            body["type"].as_str().unwrap_or("?"),
            if message.verified == Some(true) {
                "verified"
            } else {
                "NOT verified"
            },
            checks.check(message.verified == Some(true), "the notification is signed")
        );
    }
    checks.check(webhook.messages().len() == 1, "one notification arrived");
    result.assert_no_leak(&[API_TOKEN, GH_TOKEN, &rolled, "/hooks/sandbox-secret-path"]);

    heading(11, "The next day's run: nothing is due");
    let result = runner.run();
    let due_row = result
        .summary
        .lines()
        .find(|l| l.contains("not due"))
        .unwrap_or("(no row)");
    println!("   {}", due_row.trim());
    println!(
        "   exit code {}, rotated={} {}",
        result.code.map_or("none".to_owned(), |c| c.to_string()),
        result.output("rotated").unwrap_or("?"),
        checks.check(
            result.code == Some(0) && result.output("rotated") == Some("false"),
            "a run that is not due changes nothing"
        )
    );
}

fn finish(checks: &Checks, started: Instant) -> ExitCode {
    println!();
    if checks.0.is_empty() {
        println!("All checks passed in {:.1} s.", started.elapsed().as_secs_f64());
        println!("`cargo run --example sandbox -- --serve` keeps the fakes running to try the binary by hand.");
        ExitCode::SUCCESS
    } else {
        println!("FAILED: {}", checks.0.join("; "));
        ExitCode::FAILURE
    }
}

/// Leaves the fakes running and prints how to use them; Ctrl-C ends it.
fn serve_forever(bin: &Path) -> ExitCode {
    let world = World::with_bin(bin.to_path_buf());
    world.turso.add_group("staging");
    world.turso.add_database(GROUP, DATABASE);
    world.github.add_environment(REPO, ENVIRONMENT);
    let turso_url = world.turso.url();
    let github_url = world.github.api_url();
    let db = world.turso.database_url(DATABASE);
    let bin = shell_quote(&display_path(bin));

    println!("Fakes running on loopback (Ctrl-C stops them):");
    println!("  Turso API   {turso_url}  organization `{ORG}`, groups `{GROUP}` and `staging`,");
    println!("              database `{DATABASE}` of `{GROUP}` (libSQL: {db}/v2/pipeline)");
    println!("              API token {API_TOKEN}");
    println!("  GitHub API  {github_url}  repository {REPO}, environment `{ENVIRONMENT}`");
    println!("              token {GH_TOKEN}");
    println!("(Sandbox-only credentials: the fakes accept nothing else.)");
    println!();
    println!("As a plain CLI, in another terminal (from this directory):");
    println!();
    println!("  export TURSO_API_TOKEN={API_TOKEN} GITHUB_API_URL={github_url}");
    println!(
        "  {bin} --organization {ORG} --group {GROUP} --repository {REPO} --secret-name {SECRET} \
         --github-token {GH_TOKEN} --turso-api-url {turso_url} --expiration {EXPIRATION} --reason {}",
        shell_quote("trying the sandbox")
    );
    println!();
    println!("With the variables the Actions runner sets (`export INPUT_SECRET-NAME=…` is not valid");
    println!("in bash because of the hyphen; `env` takes such names):");
    println!();
    let vars = [
        ("GITHUB_API_URL", github_url.as_str()),
        ("GITHUB_REPOSITORY", REPO),
        ("INPUT_ORGANIZATION", ORG),
        ("INPUT_GROUP", GROUP),
        ("INPUT_API-TOKEN", API_TOKEN),
        ("INPUT_SECRET-NAME", SECRET),
        ("INPUT_GITHUB-TOKEN", GH_TOKEN),
        ("INPUT_TURSO-API-URL", turso_url.as_str()),
        ("INPUT_EXPIRATION", EXPIRATION),
    ];
    let vars: Vec<String> = vars.iter().map(|(k, v)| format!("'{k}={v}'")).collect();
    println!("  env {} {bin}", vars.join(" "));
    println!();
    println!("Then try, added to the first command (a flag given twice: the last one counts):");
    let database_flag = format!("--database-url {db}");
    let environment_flag = format!("--environment {ENVIRONMENT}");
    let tries = [
        ("--dry-run", "preflight only: nothing is rotated or written"),
        ("--expiration 3x", "a bad input: exit 2, no request is made"),
        ("--group nope", "preflight fails: exit 1, nothing is rotated"),
        ("--show-token", "the JSON outputs on stdout carry the new token"),
        (environment_flag.as_str(), "an environment secret instead"),
        (
            database_flag.as_str(),
            "the new token must run SELECT 1 before it is written",
        ),
    ];
    for (flag, what) in tries {
        println!("  {flag:<26} {what}");
    }
    println!("and check a token against the fake database:");
    println!(
        "  curl -s -H \"Authorization: Bearer $TOKEN\" -d '{{\"requests\":[{{\"type\":\"execute\",\"stmt\":{{\"sql\":\"SELECT 1\"}}}}]}}' {db}/v2/pipeline"
    );
    println!();
    println!("Requests as they arrive, and what changed (secret values as fingerprints):");
    watch(&world)
}

/// Prints each request the fakes receive and each change of a group's key or
/// a secret's value, forever.
fn watch(world: &World) -> ExitCode {
    let scopes = [Scope::repo(REPO), Scope::env(REPO, ENVIRONMENT)];
    let mut seen = 0;
    let mut rotations: BTreeMap<&str, usize> = BTreeMap::new();
    let mut values: BTreeMap<(String, String), String> = BTreeMap::new();
    loop {
        let entries = world.journal.entries();
        for (label, request) in entries.iter().skip(seen) {
            println!("  {label:<6} {}", request.line());
        }
        seen = entries.len();
        for group in [GROUP, "staging"] {
            let now = world.turso.rotations(group);
            if rotations.insert(group, now).unwrap_or(0) != now {
                println!("  -> group `{group}`: every token invalidated (rotation #{now})");
            }
        }
        for scope in &scopes {
            let place = match scope {
                Scope::Env(repo, env) => format!("environment `{env}` of {repo}"),
                _ => REPO.to_owned(),
            };
            for name in world.github.secret_names(scope) {
                let Some(value) = world.github.secret(scope.clone(), &name) else {
                    continue;
                };
                let print = fingerprint(&value);
                if values.insert((place.clone(), name.clone()), print.clone()).as_ref() != Some(&print) {
                    println!("  -> secret {name} in {place} now holds {print}");
                }
            }
        }
        thread::sleep(Duration::from_millis(200));
    }
}

/// `SELECT 1` through the database's libSQL pipeline: (status, body).
fn select_one(db: &str, token: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .new_agent();
    let response = agent
        .post(format!("{db}/v2/pipeline"))
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(r#"{"requests":[{"type":"execute","stmt":{"sql":"SELECT 1"}}]}"#);
    match response {
        Ok(mut response) => {
            let status = response.status().as_u16();
            (status, response.body_mut().read_to_string().unwrap_or_default())
        }
        Err(e) => (0, format!("request failed: {e}")),
    }
}

/// `text` with each secret (and a JWT's signature alone) replaced by its
/// fingerprint.
fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(secret.as_str(), &format!("<{}>", fingerprint(secret)));
        if let Some(signature) = secret.rsplit('.').next().filter(|s| s.len() >= 16 && *s != secret) {
            out = out.replace(signature, "<signature>");
        }
    }
    out
}

/// Seconds since the epoch as RFC 3339.
fn time(secs: u64) -> String {
    humantime::format_rfc3339_seconds(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}
