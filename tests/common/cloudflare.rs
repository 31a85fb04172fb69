//! A fake Cloudflare API for Workers secrets, as strict as the sources
//! allow.
//!
//! Routes, served under [`BASE_PATH`] (`/client/v4`, as
//! `https://api.cloudflare.com/client/v4` is), from cloudflare-typescript's
//! `src/resources/workers/scripts/secrets.ts`:
//! - `GET    /accounts/{account_id}/workers/scripts/{script}/secrets`: `result` lists `[{name, type}]`;
//! - `PUT    /accounts/{account_id}/workers/scripts/{script}/secrets` with
//!   `{name, text, type: "secret_text"}` (or `type: "secret_key"` with
//!   `format` and `usages`): creates or replaces; `result` is `{name, type}`;
//! - `GET    …/secrets/{secret_name}`: `{name, type}`, the value omitted;
//! - `DELETE …/secrets/{secret_name}` (`url_encoded` query allowed): `result` null.
//!
//! Every answer is Cloudflare's envelope `{success, errors: [{code, message}],
//! messages, result}`; success is HTTP 2xx *and* `success: true`, and
//! [`FakeCloudflare::answer_unsuccessfully`] makes a 200 with
//! `success: false`. Error codes, where a source names them:
//! - 10007 "This Worker does not exist on your account." for an unknown
//!   script (workers-sdk `packages/deploy-helpers/src/deploy/helpers/worker-not-found-error.ts`,
//!   whose message this is). The fake **never creates a Worker** on a PUT
//!   to an unknown script: that is wrangler's `secret put` fallback
//!   (`createDraftWorker` in `packages/wrangler/src/secret/index.ts`), not
//!   the API's, and the action must not do it.
//! - 10215 while the script's latest version is not fully deployed (a
//!   gradual deployment): wrangler's `VERSION_NOT_DEPLOYED_ERR_CODE`, same
//!   file. The message is wrangler's test mock's, deliberately without the
//!   words "gradual deployment": the action must add them itself.
//! - 10053 a non-secret binding of that name exists, 10054 the secret is
//!   over 5 kB, 10056 `workers.api.error.binding_not_found` on a missing
//!   secret (wrangler-legacy `src/commands/secret.rs` and its issue #1662).
//! - 10000 "Authentication error" for a token that is not accepted, or one
//!   that may only read (workers-sdk's tests use this code and text).
//!
//! Assumptions beyond the sources: an unknown account answers 403 10000 (a
//! token reaches only its own accounts); a malformed body answers 400 with
//! code 10001 (the code Cloudflare uses is not in the sources); 10215
//! answers HTTP 400 (wrangler's mock answers 200 with `success: false`:
//! both are failures under the envelope rule).
//!
//! Each secret change deploys a new version of the Worker, so every
//! successful PUT and DELETE counts one deployment
//! ([`FakeCloudflare::deployments`]).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::server::{lock, path_segments, Fault, FaultAction, Journal, Recorded, Reply, Server};

/// Where the API lives on the fake's host, as on `api.cloudflare.com`.
pub const BASE_PATH: &str = "/client/v4";
/// The largest secret text the API takes (wrangler-legacy: "it must be 5kB or less").
pub const MAX_SECRET_BYTES: usize = 5 * 1024;

pub const AUTHENTICATION_ERROR: u32 = 10000;
pub const INVALID_BODY: u32 = 10001;
pub const SCRIPT_NOT_FOUND: u32 = 10007;
pub const BINDING_NAME_TAKEN: u32 = 10053;
pub const SECRET_TOO_LARGE: u32 = 10054;
pub const BINDING_NOT_FOUND: u32 = 10056;
pub const VERSION_NOT_DEPLOYED: u32 = 10215;

const KEY_FORMATS: [&str; 4] = ["raw", "pkcs8", "spki", "jwk"];

/// A secret binding as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerSecret {
    pub name: String,
    /// `secret_text` or `secret_key`.
    pub kind: String,
    /// The value of a `secret_text` (kept for assertions; never answered).
    pub text: Option<String>,
}

#[derive(Default)]
struct Script {
    secrets: BTreeMap<String, WorkerSecret>,
    /// Other bindings (`plain_text` vars…): name -> type.
    bindings: BTreeMap<String, String>,
    deployments: usize,
    /// The latest version is not fully deployed: secret writes answer 10215.
    gradual: bool,
}

struct State {
    token: String,
    read_only_tokens: BTreeSet<String>,
    /// account id -> script name -> script
    accounts: BTreeMap<String, BTreeMap<String, Script>>,
    /// Successful PUTs per secret name, every script together.
    writes: BTreeMap<String, usize>,
}

/// The fake Cloudflare API. Derefs to [`Server`] for `url()`, `fault()`,
/// `requests()`, `count()` and the rest of the shared plumbing.
pub struct FakeCloudflare {
    server: Server,
    state: Arc<Mutex<State>>,
}

impl Deref for FakeCloudflare {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.server
    }
}

impl FakeCloudflare {
    /// Accepts `Authorization: Bearer {token}` for reading and writing.
    /// Journal label: `cloudflare`.
    pub fn start(token: &str) -> FakeCloudflare {
        let state = Arc::new(Mutex::new(State {
            token: token.into(),
            read_only_tokens: BTreeSet::new(),
            accounts: BTreeMap::new(),
            writes: BTreeMap::new(),
        }));
        let server = {
            let state = Arc::clone(&state);
            Server::start("cloudflare", move |req| handle(&mut lock(&state), req))
        };
        FakeCloudflare { server, state }
    }

    /// Log into a journal shared with the other fakes, for cross-API order.
    pub fn with_journal(self, journal: &Journal) -> FakeCloudflare {
        self.server.set_journal(journal);
        self
    }

    /// What `cloudflare-api-url` should be: the URL plus `/client/v4`.
    pub fn api_url(&self) -> String {
        format!("{}{BASE_PATH}", self.url())
    }

    /// A Worker (script) in an account; the account exists from then on.
    pub fn add_worker(&self, account: &str, script: &str) -> &FakeCloudflare {
        lock(&self.state)
            .accounts
            .entry(account.into())
            .or_default()
            .entry(script.into())
            .or_default();
        self
    }

    /// A non-secret binding (e.g. `plain_text`) on a Worker: a secret PUT
    /// of that name answers 10053.
    pub fn add_binding(&self, account: &str, script: &str, name: &str, kind: &str) -> &FakeCloudflare {
        self.with_script(account, script, |s| {
            s.bindings.insert(name.into(), kind.into());
        });
        self
    }

    /// A secret that exists before the test; not a deployment.
    pub fn set_secret(&self, account: &str, script: &str, name: &str, text: &str) -> &FakeCloudflare {
        self.with_script(account, script, |s| {
            s.secrets.insert(
                name.into(),
                WorkerSecret {
                    name: name.into(),
                    kind: "secret_text".into(),
                    text: Some(text.into()),
                },
            );
        });
        self
    }

    /// The script's latest version is (`true`) or is no longer (`false`)
    /// in a gradual deployment: secret PUTs and DELETEs answer 10215.
    pub fn gradual_deployment(&self, account: &str, script: &str, in_progress: bool) -> &FakeCloudflare {
        self.with_script(account, script, |s| s.gradual = in_progress);
        self
    }

    /// An action for [`Server::on_request`] that starts a gradual
    /// deployment of the script when it runs: e.g. at Turso's
    /// `auth/rotate`, so the preflight probe passes and the write after the
    /// rotation answers 10215.
    pub fn gradual_deployment_later(&self, account: &str, script: &str) -> impl FnOnce() + Send + 'static {
        let state = Arc::clone(&self.state);
        let (account, script) = (account.to_string(), script.to_string());
        move || {
            if let Some(s) = lock(&state).accounts.get_mut(&account).and_then(|a| a.get_mut(&script)) {
                s.gradual = true;
            }
        }
    }

    /// Also accept `token`, for GETs only: writes answer 403 10000.
    pub fn add_read_only_token(&self, token: &str) -> &FakeCloudflare {
        lock(&self.state).read_only_tokens.insert(token.into());
        self
    }

    /// The next `times` requests with `method` whose target contains
    /// `path_contains` answer HTTP 200 with `success: false` and this error.
    pub fn answer_unsuccessfully(
        &self,
        method: &'static str,
        path_contains: &str,
        code: u32,
        message: &str,
        times: usize,
    ) {
        let body = error_body(code, message);
        self.server
            .fault(Fault::new(method, path_contains, FaultAction::status(200, &body)).times(times));
    }

    /// The text of a `secret_text`, if the secret exists.
    pub fn secret(&self, account: &str, script: &str, name: &str) -> Option<String> {
        lock(&self.state)
            .accounts
            .get(account)
            .and_then(|a| a.get(script))
            .and_then(|s| s.secrets.get(name))
            .and_then(|s| s.text.clone())
    }

    /// The script's secret names, sorted.
    pub fn secret_names(&self, account: &str, script: &str) -> Vec<String> {
        lock(&self.state)
            .accounts
            .get(account)
            .and_then(|a| a.get(script))
            .map(|s| s.secrets.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Successful PUTs of that secret name, every script together.
    pub fn secret_writes(&self, name: &str) -> usize {
        lock(&self.state).writes.get(name).copied().unwrap_or(0)
    }

    /// Versions deployed by secret changes (each successful PUT or DELETE).
    pub fn deployments(&self, account: &str, script: &str) -> usize {
        lock(&self.state)
            .accounts
            .get(account)
            .and_then(|a| a.get(script))
            .map_or(0, |s| s.deployments)
    }

    /// Every Worker that exists, as (account, script): proves none was created.
    pub fn workers(&self) -> Vec<(String, String)> {
        lock(&self.state)
            .accounts
            .iter()
            .flat_map(|(a, scripts)| scripts.keys().map(move |s| (a.clone(), s.clone())))
            .collect()
    }

    fn with_script(&self, account: &str, script: &str, f: impl FnOnce(&mut Script)) {
        let mut state = lock(&self.state);
        let script = state
            .accounts
            .get_mut(account)
            .and_then(|a| a.get_mut(script))
            .unwrap_or_else(|| panic!("add_worker({account:?}, {script:?}) first"));
        f(script);
    }
}

/// Cloudflare's envelope for a failure, as text (for faults).
pub fn error_body(code: u32, message: &str) -> String {
    json!({
        "success": false,
        "errors": [{"code": code, "message": message}],
        "messages": [],
        "result": null,
    })
    .to_string()
}

fn success(result: Value) -> Reply {
    Reply::json(
        200,
        &json!({"success": true, "errors": [], "messages": [], "result": result}),
    )
}

fn failure(status: u16, code: u32, message: &str) -> Reply {
    Reply {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: error_body(code, message).into_bytes(),
    }
}

fn handle(state: &mut State, req: &Recorded) -> Reply {
    let Some(path) = req.path.strip_prefix(BASE_PATH) else {
        return failure(404, 7000, "No route for that URI");
    };
    let token = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default();
    let writes = if token == state.token {
        true
    } else if state.read_only_tokens.contains(token) {
        false
    } else {
        return failure(403, AUTHENTICATION_ERROR, "Authentication error");
    };
    let segments = path_segments(path);
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let ["accounts", account, "workers", "scripts", script, "secrets", ref rest @ ..] = segments[..] else {
        return failure(404, 7000, "No route for that URI");
    };
    let Some(scripts) = state.accounts.get_mut(account) else {
        return failure(403, AUTHENTICATION_ERROR, "Authentication error");
    };
    let Some(worker) = scripts.get_mut(script) else {
        return failure(404, SCRIPT_NOT_FOUND, "This Worker does not exist on your account.");
    };
    let changes = matches!(req.method.as_str(), "PUT" | "DELETE");
    if changes && !writes {
        return failure(403, AUTHENTICATION_ERROR, "Authentication error");
    }
    if changes && worker.gradual {
        return failure(400, VERSION_NOT_DEPLOYED, "latest is not deployed");
    }
    match (req.method.as_str(), rest) {
        ("GET", []) => success(Value::Array(worker.secrets.values().map(metadata).collect())),
        ("PUT", []) => put_secret(worker, &mut state.writes, req),
        ("GET", [name]) => match worker.secrets.get(*name) {
            Some(secret) => success(metadata(secret)),
            None => failure(404, BINDING_NOT_FOUND, "workers.api.error.binding_not_found"),
        },
        ("DELETE", [name]) => match worker.secrets.remove(*name) {
            Some(_) => {
                worker.deployments += 1;
                success(Value::Null)
            }
            None => failure(404, BINDING_NOT_FOUND, "workers.api.error.binding_not_found"),
        },
        _ => failure(405, 10405, "Method not allowed"),
    }
}

fn metadata(secret: &WorkerSecret) -> Value {
    json!({"name": secret.name, "type": secret.kind})
}

fn put_secret(worker: &mut Script, writes: &mut BTreeMap<String, usize>, req: &Recorded) -> Reply {
    let Some(Value::Object(body)) = req.json() else {
        return failure(400, INVALID_BODY, "Invalid request body: a JSON object is expected");
    };
    let name = match body.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() => name.clone(),
        _ => return failure(400, INVALID_BODY, "Invalid request body: `name` is required"),
    };
    let secret = match body.get("type").and_then(Value::as_str) {
        Some("secret_text") => match body.get("text") {
            Some(Value::String(text)) if text.len() > MAX_SECRET_BYTES => {
                return failure(400, SECRET_TOO_LARGE, "Secret is too large: it must be 5 kB or less")
            }
            Some(Value::String(text)) => WorkerSecret {
                name: name.clone(),
                kind: "secret_text".into(),
                text: Some(text.clone()),
            },
            _ => return failure(400, INVALID_BODY, "Invalid request body: `text` must be a string"),
        },
        Some("secret_key") => {
            let format_ok = body
                .get("format")
                .and_then(Value::as_str)
                .is_some_and(|f| KEY_FORMATS.contains(&f));
            let usages_ok = body.get("usages").is_some_and(Value::is_array);
            if !format_ok || !usages_ok {
                return failure(
                    400,
                    INVALID_BODY,
                    "Invalid request body: a secret_key needs `format` and `usages`",
                );
            }
            WorkerSecret {
                name: name.clone(),
                kind: "secret_key".into(),
                text: None,
            }
        }
        _ => {
            return failure(
                400,
                INVALID_BODY,
                "Invalid request body: `type` must be secret_text or secret_key",
            )
        }
    };
    if worker.bindings.contains_key(&name) {
        return failure(400, BINDING_NAME_TAKEN, &format!("global variable {name} already set"));
    }
    let answer = metadata(&secret);
    worker.secrets.insert(name.clone(), secret);
    worker.deployments += 1;
    *writes.entry(name).or_insert(0) += 1;
    success(answer)
}
