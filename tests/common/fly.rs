//! A fake Fly Machines API (apps, app secrets, machine updates), as strict
//! as the owner's client shows it to be.
//!
//! Sources (see `/api/fly.json`, transcribed from them): superfly/fly-go
//! `flaps/` at 22d6e518f42d, `secrets_types.go`, `machine_types.go`,
//! `tokens/tokens.go`; superfly/docs `machines/api/machines-resource`.
//! - Authorization (fly-go `tokens.Parse`/`FlapsHeader`): a token whose
//!   comma-separated parts start `fm1r_`, `fm1a_` or `fm2_` is a macaroon
//!   sent as `FlyV1 <token>` (commas kept); anything else `Bearer <token>`.
//!   The wrong scheme, or another token, answers 401.
//! - `GET /v1/apps/{app}` (flaps_apps.go GetApp): the app; an app of an
//!   organization the token cannot see 403 ([`FakeFly::add_foreign_app`]),
//!   a name nobody holds 404.
//! - `GET/POST/DELETE /v1/apps/{app}/secrets/{name}` (flaps_secrets.go,
//!   secrets_types.go): POST takes `{"value"}` (a string, required) and
//!   answers 201 `SetAppSecretResp` (`name, digest, created_at,
//!   updated_at, version`); DELETE answers `{version}`; each write raises
//!   the app's secrets `version` by one; GET gives the metadata without
//!   the value, 404 for none. A write is staged: no machine changes.
//! - `GET /v1/apps/{app}/machines` (flaps_machines.go List): `[Machine]`.
//! - `POST …/machines/{id}/lease[?ttl=]` (AcquireLease): 201
//!   `MachineLease` `{status, data: {nonce, expires_at, owner, version}}`;
//!   409 while anyone holds it. `DELETE …/lease` (ReleaseLease) needs the
//!   holder's `fly-machine-lease-nonce`.
//! - `POST …/machines/{id}` (Update, `LaunchMachineInput`): `config`
//!   required (the docs: no partial updates), `region` immutable; on a
//!   leased machine the nonce header must be the lease's. The fake also
//!   requires the lease (the product always takes one), an unchanged
//!   `config` (an update must not change what runs) and
//!   `min_secrets_version` no higher than the app's secrets version (a
//!   version that does not exist could never be read). Answers the machine
//!   with a new `version` and `instance_id`; the machine then runs with the
//!   app's current secrets ([`FakeFly::secrets_seen`]).
//! - `GET …/machines/{id}/wait?state=&version=|instance_id=&timeout=`
//!   (flaps_machines_wait.go; the docs' `instance_id`): `timeout` 1..60 s;
//!   the version asked for must be the machine's current one; a machine
//!   that does not reach the state holds the request `timeout` seconds and
//!   answers 408 ([`FakeFly::never_comes_back`]).
//! - Errors are `{"error": "…"}` (flaps_error.go); every answer carries a
//!   `fly-request-id` (flaps.go reads it into `FlapsError`), also the
//!   faults made by [`FakeFly::rate_limit`] and [`FakeFly::non_json_error`].

use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use super::server::{lock, path_segments, Fault, FaultAction, Recorded, Reply, Server};

pub const REQUEST_ID_HEADER: &str = "fly-request-id";
pub const NONCE_HEADER: &str = "fly-machine-lease-nonce";

#[derive(Clone, Debug)]
struct StoredSecret {
    value: String,
    created_at: String,
    updated_at: String,
}

#[derive(Clone, Debug)]
pub struct Machine {
    pub id: String,
    pub state: String,
    pub region: String,
    pub config: Value,
    pub version: String,
    pub instance_id: String,
    /// The secrets version the running machine was last started with.
    pub secrets_seen: u64,
    lease: Option<String>,
    /// Lease requests still to be refused as held by someone else.
    held_elsewhere: usize,
    /// After an update the machine never reaches `started`.
    stuck: bool,
}

#[derive(Default)]
struct App {
    foreign: bool,
    secrets: BTreeMap<String, StoredSecret>,
    secrets_version: u64,
    machines: Vec<Machine>,
    /// The update answers `instance_id` only (older API answers).
    instance_id_only: bool,
}

struct State {
    authorization: String,
    apps: BTreeMap<String, App>,
    /// (app, machine, min_secrets_version) per accepted update, in order.
    updates: Vec<(String, String, u64)>,
    request_ids: Vec<String>,
    counter: u64,
}

/// The fake Fly Machines API. Derefs to [`Server`].
pub struct FakeFly {
    server: Server,
    state: Arc<Mutex<State>>,
}

impl Deref for FakeFly {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.server
    }
}

/// The header fly-go sends for `token`.
pub fn authorization_for(token: &str) -> String {
    let macaroon = token
        .split(',')
        .any(|p| ["fm1r_", "fm1a_", "fm2_"].iter().any(|m| p.trim().starts_with(m)));
    match macaroon {
        true => format!("FlyV1 {token}"),
        false => format!("Bearer {token}"),
    }
}

impl FakeFly {
    /// Accepts `token` under the scheme fly-go uses for it. Journal label `fly`.
    pub fn start(token: &str) -> FakeFly {
        let state = Arc::new(Mutex::new(State {
            authorization: authorization_for(token),
            apps: BTreeMap::new(),
            updates: Vec::new(),
            request_ids: Vec::new(),
            counter: 0,
        }));
        let server = {
            let state = Arc::clone(&state);
            Server::start("fly", move |req| handle(&state, req))
        };
        FakeFly { server, state }
    }

    /// What `fly-api-url` should be (paths are under `/v1`).
    pub fn api_url(&self) -> String {
        self.url()
    }

    pub fn add_app(&self, app: &str) -> &FakeFly {
        lock(&self.state).apps.entry(app.into()).or_default();
        self
    }

    /// An app in an organization the token cannot see: 403 everywhere.
    pub fn add_foreign_app(&self, app: &str) -> &FakeFly {
        lock(&self.state).apps.entry(app.into()).or_default().foreign = true;
        self
    }

    /// A machine in `state`, running with the app's secrets as they are.
    pub fn add_machine(&self, app: &str, id: &str, state: &str, region: &str) -> &FakeFly {
        let mut s = lock(&self.state);
        let n = next(&mut s);
        let app = s.apps.entry(app.into()).or_default();
        let seen = app.secrets_version;
        app.machines.push(Machine {
            id: id.into(),
            state: state.into(),
            region: region.into(),
            config: json!({ "image": format!("registry.fly.io/app:deployment-{id}"), "env": { "PORT": "8080" }, "guest": { "cpus": 1, "memory_mb": 256 } }),
            version: version_id(n),
            instance_id: format!("instance{n}"),
            secrets_seen: seen,
            lease: None,
            held_elsewhere: 0,
            stuck: false,
        });
        self
    }

    /// A secret that exists before the test.
    pub fn set_secret(&self, app: &str, name: &str, value: &str, updated_at: &str) -> &FakeFly {
        let mut s = lock(&self.state);
        let app = s.apps.entry(app.into()).or_default();
        app.secrets_version += 1;
        app.secrets.insert(
            name.into(),
            StoredSecret {
                value: value.into(),
                created_at: updated_at.into(),
                updated_at: updated_at.into(),
            },
        );
        self
    }

    /// The next `times` lease requests on the machine answer 409 (someone
    /// else holds it); `usize::MAX` for always.
    pub fn lease_held_elsewhere(&self, app: &str, id: &str, times: usize) -> &FakeFly {
        self.with_machine(app, id, |m| m.held_elsewhere = times);
        self
    }

    /// After its update the machine never reaches `started`.
    pub fn never_comes_back(&self, app: &str, id: &str) -> &FakeFly {
        self.with_machine(app, id, |m| m.stuck = true);
        self
    }

    /// Updates of the app's machines answer `instance_id` without `version`.
    pub fn answer_instance_id_only(&self, app: &str) -> &FakeFly {
        lock(&self.state).apps.entry(app.into()).or_default().instance_id_only = true;
        self
    }

    /// The next `times` requests whose target contains `path` answer 429
    /// with `Retry-After: 1`.
    pub fn rate_limit(&self, method: &'static str, path: &str, times: usize) {
        let id = self.request_id();
        let body = json!({ "error": "rate limit exceeded" }).to_string();
        let headers = [("Retry-After", "1"), (REQUEST_ID_HEADER, id.as_str())];
        self.fault(Fault::new(method, path, FaultAction::status_with(429, &body, &headers)).times(times));
    }

    /// The next request whose target contains `path` answers `status` with
    /// a body that is not JSON (a proxy's page); returns its request id.
    pub fn non_json_error(&self, method: &'static str, path: &str, status: u16, text: &str) -> String {
        let id = self.request_id();
        let headers = [("Content-Type", "text/html"), (REQUEST_ID_HEADER, id.as_str())];
        self.fault(Fault::new(
            method,
            path,
            FaultAction::status_with(status, text, &headers),
        ));
        id
    }

    pub fn secret(&self, app: &str, name: &str) -> Option<String> {
        lock(&self.state)
            .apps
            .get(app)?
            .secrets
            .get(name)
            .map(|s| s.value.clone())
    }

    pub fn secrets_version(&self, app: &str) -> u64 {
        lock(&self.state).apps.get(app).map_or(0, |a| a.secrets_version)
    }

    /// Accepted updates: (machine, min_secrets_version), in order.
    pub fn updates(&self, app: &str) -> Vec<(String, u64)> {
        lock(&self.state)
            .updates
            .iter()
            .filter(|(a, _, _)| a == app)
            .map(|(_, m, v)| (m.clone(), *v))
            .collect()
    }

    /// The machine as it is now.
    pub fn machine(&self, app: &str, id: &str) -> Machine {
        let s = lock(&self.state);
        s.apps[app]
            .machines
            .iter()
            .find(|m| m.id == id)
            .expect("machine")
            .clone()
    }

    /// The secrets version the machine runs with.
    pub fn secrets_seen(&self, app: &str, id: &str) -> u64 {
        self.machine(app, id).secrets_seen
    }

    /// Machines whose lease is still held by the product.
    pub fn leased(&self, app: &str) -> Vec<String> {
        lock(&self.state).apps[app]
            .machines
            .iter()
            .filter(|m| m.lease.is_some())
            .map(|m| m.id.clone())
            .collect()
    }

    /// Every `fly-request-id` answered so far, in order.
    pub fn request_ids(&self) -> Vec<String> {
        lock(&self.state).request_ids.clone()
    }

    fn request_id(&self) -> String {
        issue_request_id(&mut lock(&self.state))
    }

    fn with_machine(&self, app: &str, id: &str, f: impl FnOnce(&mut Machine)) {
        let mut s = lock(&self.state);
        let machine = s
            .apps
            .get_mut(app)
            .and_then(|a| a.machines.iter_mut().find(|m| m.id == id))
            .expect("add the machine first");
        f(machine);
    }
}

/// A new `fly-request-id`, remembered for [`FakeFly::request_ids`].
fn issue_request_id(s: &mut State) -> String {
    let n = next(s);
    let id = format!("01FAKEREQ{n:08}-iad");
    s.request_ids.push(id.clone());
    id
}

fn next(s: &mut State) -> u64 {
    s.counter += 1;
    s.counter
}

/// A 26-character machine version id, as the API's (a ULID).
fn version_id(n: u64) -> String {
    format!("01HVERSION{n:016}")
}

fn now() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

fn error(status: u16, message: &str) -> Reply {
    Reply::json(status, &json!({ "error": message }))
}

fn handle(state: &Mutex<State>, req: &Recorded) -> Reply {
    let (reply, id, hold) = {
        let mut s = lock(state);
        let id = issue_request_id(&mut s);
        let (reply, hold) = route(&mut s, req);
        (reply, id, hold)
    };
    // A wait for a state that never comes holds the request, unlocked.
    if let Some(hold) = hold {
        thread::sleep(hold);
    }
    reply.with_header(REQUEST_ID_HEADER, &id)
}

fn route(s: &mut State, req: &Recorded) -> (Reply, Option<Duration>) {
    if req.header("authorization") != Some(s.authorization.as_str()) {
        let scheme = s.authorization.split(' ').next().unwrap_or_default().to_owned();
        return (
            error(
                401,
                &format!("unauthorized: expected the `{scheme}` authorization scheme and a valid token"),
            ),
            None,
        );
    }
    let segments = path_segments(&req.path);
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let ["v1", "apps", app, rest @ ..] = segs.as_slice() else {
        return (error(404, "not found"), None);
    };
    let Some(found) = s.apps.get_mut(*app) else {
        return (error(404, &format!("app {app} not found")), None);
    };
    if found.foreign {
        return (error(403, "unauthorized to access this app"), None);
    }
    let app_name = app.to_string();
    let method = req.method.as_str();
    match (method, rest) {
        ("GET", []) => (
            Reply::json(
                200,
                &json!({ "id": app_name, "name": app_name, "status": "deployed", "organization": { "name": "Org", "slug": "org" } }),
            ),
            None,
        ),
        (_, ["secrets", name]) => (secrets(found, method, name, req), None),
        ("GET", ["machines"]) => {
            let list: Vec<Value> = found.machines.iter().map(|m| machine_json(m, false)).collect();
            (Reply::json(200, &Value::Array(list)), None)
        }
        (_, ["machines", id, "lease"]) => (lease(found, method, id, req), None),
        ("POST", ["machines", id]) => {
            let reply = update(found, id, req);
            if reply.status == 200 {
                let v = req.json().and_then(|b| b["min_secrets_version"].as_u64()).unwrap_or(0);
                s.updates.push((app_name, id.to_string(), v));
            }
            (reply, None)
        }
        ("GET", ["machines", id, "wait"]) => wait(found, id, req),
        _ => (error(404, "not found"), None),
    }
}

fn secrets(app: &mut App, method: &str, name: &str, req: &Recorded) -> Reply {
    match method {
        "GET" => match app.secrets.get(name) {
            Some(secret) => Reply::json(
                200,
                &json!({ "name": name, "digest": digest(&secret.value), "created_at": secret.created_at, "updated_at": secret.updated_at }),
            ),
            None => error(404, &format!("secret {name} not found")),
        },
        "POST" => {
            let Some(value) = req.json().and_then(|b| b["value"].as_str().map(str::to_owned)) else {
                return error(400, "invalid request body: `value` (a string) is required");
            };
            app.secrets_version += 1;
            let at = now();
            let created_at = app.secrets.get(name).map_or(at.clone(), |s| s.created_at.clone());
            let answer = json!({ "name": name, "digest": digest(&value), "created_at": created_at, "updated_at": at, "version": app.secrets_version });
            app.secrets.insert(
                name.into(),
                StoredSecret {
                    value,
                    created_at,
                    updated_at: at,
                },
            );
            Reply::json(201, &answer)
        }
        "DELETE" => match app.secrets.remove(name) {
            Some(_) => {
                app.secrets_version += 1;
                Reply::json(200, &json!({ "version": app.secrets_version }))
            }
            None => error(404, &format!("secret {name} not found")),
        },
        _ => error(405, "method not allowed"),
    }
}

fn digest(value: &str) -> String {
    format!(
        "{:016x}",
        value
            .bytes()
            .fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
    )
}

fn machine_json(m: &Machine, instance_id_only: bool) -> Value {
    let mut v = json!({ "id": m.id, "name": format!("name-{}", m.id), "state": m.state, "region": m.region,
        "instance_id": m.instance_id, "version": m.version, "config": m.config, "created_at": "2026-01-01T00:00:00Z" });
    if instance_id_only {
        v.as_object_mut().expect("object").remove("version");
    }
    v
}

fn lease(app: &mut App, method: &str, id: &str, req: &Recorded) -> Reply {
    let Some(m) = app.machines.iter_mut().find(|m| m.id == id) else {
        return error(404, &format!("machine {id} not found"));
    };
    match method {
        "POST" => {
            if let Some(ttl) = req.query_param("ttl") {
                if ttl.parse::<u64>().is_err() {
                    return error(400, "ttl must be an integer (seconds)");
                }
            }
            if m.held_elsewhere > 0 {
                if m.held_elsewhere != usize::MAX {
                    m.held_elsewhere -= 1;
                }
                return error(
                    409,
                    &format!(
                        "machine {id} lease currently held by deploy@example.com, expires at 2026-01-01T00:05:00Z"
                    ),
                );
            }
            if m.lease.is_some() {
                return error(409, &format!("machine {id} lease currently held by you"));
            }
            let nonce = format!("nonce-{}-{}", id, m.version);
            m.lease = Some(nonce.clone());
            Reply::json(
                201,
                &json!({ "status": "success", "data": { "nonce": nonce, "expires_at": 1_767_225_900, "owner": "rotate@example.com", "version": m.version } }),
            )
        }
        "DELETE" => match (req.header(NONCE_HEADER), &m.lease) {
            (None, _) => error(400, "fly-machine-lease-nonce header is required to release a lease"),
            (Some(n), Some(held)) if n == held => {
                m.lease = None;
                Reply::json(200, &json!({ "status": "success" }))
            }
            _ => error(409, "lease nonce does not match"),
        },
        _ => error(405, "method not allowed"),
    }
}

fn update(app: &mut App, id: &str, req: &Recorded) -> Reply {
    let (secrets_version, instance_id_only) = (app.secrets_version, app.instance_id_only);
    let Some(m) = app.machines.iter_mut().find(|m| m.id == id) else {
        return error(404, &format!("machine {id} not found"));
    };
    match (req.header(NONCE_HEADER), &m.lease) {
        (_, None) => {
            return error(
                412,
                "the machine must be leased for an update (fly-machine-lease-nonce)",
            )
        }
        (Some(n), Some(held)) if n == held => {}
        _ => {
            return error(
                409,
                &format!("machine {id} lease currently held: the fly-machine-lease-nonce header is missing or wrong"),
            )
        }
    }
    let Some(body) = req.json().filter(Value::is_object) else {
        return error(400, "invalid request body");
    };
    if !body["config"].is_object() {
        return error(400, "config is required: partial updates are not supported");
    }
    if body["config"] != m.config {
        return error(400, "fake: the update changes the machine's config");
    }
    if let Some(region) = body.get("region") {
        if region.as_str() != Some(m.region.as_str()) {
            return error(400, "region cannot be changed");
        }
    }
    let Some(min) = body["min_secrets_version"].as_u64() else {
        return error(400, "fake: min_secrets_version (an unsigned integer) is required");
    };
    if min > secrets_version {
        return error(
            400,
            &format!("min_secrets_version {min} is ahead of the app's secrets ({secrets_version})"),
        );
    }
    let n = m.version.len() as u64 + m.instance_id.len() as u64 + secrets_version * 1000 + min;
    m.version = version_id(n + 7_000_000);
    m.instance_id = format!("instance-updated-{n}");
    m.secrets_seen = secrets_version;
    m.state = if m.stuck { "starting".into() } else { "started".into() };
    Reply::json(200, &machine_json(m, instance_id_only))
}

fn wait(app: &mut App, id: &str, req: &Recorded) -> (Reply, Option<Duration>) {
    let Some(m) = app.machines.iter().find(|m| m.id == id) else {
        return (error(404, &format!("machine {id} not found")), None);
    };
    let timeout = match req.query_param("timeout").map(|t| t.parse::<u64>()) {
        None => 60,
        Some(Ok(t)) if (1..=60).contains(&t) => t,
        Some(_) => return (error(400, "timeout must be 1..60 seconds"), None),
    };
    let state = req.query_param("state").unwrap_or_else(|| "started".into());
    if !["started", "stopped", "suspended", "destroyed", "failed", "settled"].contains(&state.as_str()) {
        return (error(400, "invalid state"), None);
    }
    match (req.query_param("version"), req.query_param("instance_id")) {
        (Some(v), _) if v == m.version => {}
        (None, Some(i)) if i == m.instance_id => {}
        (None, None) => {}
        _ => {
            return (
                error(400, "fake: waiting for a version the machine does not have"),
                None,
            )
        }
    }
    if m.state != state {
        let message = format!(
            "deadline_exceeded: machine failed to reach desired state, {state}, current state: {}",
            m.state
        );
        return (error(408, &message), Some(Duration::from_secs(timeout)));
    }
    (
        Reply::json(200, &json!({ "ok": true, "state": m.state, "version": m.version })),
        None,
    )
}
