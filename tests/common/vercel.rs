//! A fake Vercel REST API: project environment variables and redeploys,
//! as strict as the sources allow.
//!
//! Routes (vercel/sdk `src/funcs/*.ts` and `src/models/*.ts`):
//! - `GET    /v10/projects/{idOrName}/env` (projectsFilterProjectEnvs):
//!   `{envs: [{id, key, type, target, gitBranch, value, decrypted,
//!   configurationId, createdAt, updatedAt, …}]}`; values are ciphertext
//!   unless `decrypt=true`, and a `sensitive` value never comes back. The
//!   answer may also come paged, `{envs, pagination: {count, next, prev}}`
//!   (one of the answer shapes the SDK's filterprojectenvsop.ts lists, with
//!   no request parameter to ask for the next page):
//!   [`FakeVercel::page_envs`] answers so.
//! - `POST   /v10/projects/{idOrName}/env[?upsert=true]` (projectsCreateProjectEnv):
//!   one object or an array of `{key, value, type, target, gitBranch?,
//!   comment?}`; 201 `{created, failed: [{error: {code, message, key,
//!   envVarKey, envVarId, target, gitBranch}}]}`. Request `type`s are
//!   `system`, `encrypted`, `plain`, `sensitive` (the SDK's request enum;
//!   `secret` exists only in answers, for legacy records).
//! - `PATCH  /v9/projects/{idOrName}/env/{id}` (projectsEditProjectEnv; the
//!   CLI's `update-env-record.ts` uses `/v10/…`, also taken): optional
//!   `key`, `target`, `gitBranch`, `type`, `value`, `comment`; 200 the record.
//! - `DELETE /v9/projects/{idOrName}/env/{id}` (projectsRemoveProjectEnv;
//!   `/v10/…` as the CLI's `remove-env-record.ts`): 200 the removed record.
//! - `GET    /v9/projects/{idOrName}` (projectsGetProject): `{id, name,
//!   targets: {production: {id, …}}}`.
//! - `POST   /v13/deployments[?forceNew=0|1]` (deploymentsCreateDeployment,
//!   and the CLI's `redeploy`): `{deploymentId, name, target}`; 200 the
//!   new deployment.
//!
//! Every call may carry `teamId` or `slug` (all the SDK's requests have
//! both query parameters). Errors are `{"error": {"code", "message"}}`
//! (Vercel's REST API errors page: `forbidden` "Not authorized",
//! `not_found`, `bad_request`, `rate_limited`).
//!
//! Conflicts, read from vercel/terraform-provider-vercel
//! (`client/environment_variable.go`, `client/error.go`): creating one
//! variable whose key already has a record with the same `gitBranch` and
//! an overlapping target answers **400 `ENV_CONFLICT`** in the error
//! envelope (with `key`, `envVarKey`, `target`, `gitBranch`); a batch
//! (array body) answers 201 and lists such items in `failed[]`, which the
//! provider treats as a failure. With `upsert=true` ("a new environment
//! variable will not be created if it already exists but, the existing
//! variable's value will be updated", SDK's projectsCreateProjectEnv doc):
//! a record with the same key, `gitBranch` and exactly the same targets is
//! updated in place; one whose targets overlap but differ cannot be
//! updated without touching targets the caller did not name, so it answers
//! 201 with an `ENV_CONFLICT` in `failed[]` and nothing created (our
//! reading: the sources show no other outcome, and `failed[]` in a 201 is
//! documented). Records whose targets do not overlap never conflict.
//!
//! Assumptions beyond the sources, each a refusal the action must never
//! meet: a `sensitive` value on `development` answers 400 `bad_request`
//! (the CLI refuses it client-side: "Sensitive Environment Variables are
//! not supported on the Development Environment"); `gitBranch` needs the
//! target to be exactly `["preview"]`; a record owned by an integration
//! (`configurationId` set) cannot be edited, upserted or deleted (400
//! `bad_request`); a token restricted to some targets
//! ([`FakeVercel::allow_targets`]) gets 403 `forbidden` on any write that
//! touches another target, and, without production, the list hides
//! production records and says how many (`hiddenProductionEnvCount`, an
//! answer shape in the SDK's filterprojectenvsop.ts).
//!
//! `withLatestCommit: true` on a redeploy is legal (SDK: "the sha from the
//! previous deployment's gitSource is removed forcing the latest commit to
//! be used"), so it is accepted and recorded ([`Redeploy::with_latest_commit`]):
//! the tests assert the action never sends it, since it would ship new code.

use std::collections::BTreeSet;
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::server::{lock, random_bytes, Journal, Recorded, Reply, Server};

pub const TARGETS: [&str; 3] = ["production", "preview", "development"];
/// The `type`s a create or edit request may carry.
pub const TYPES: [&str; 4] = ["system", "encrypted", "plain", "sensitive"];

/// One environment variable record, its value kept decrypted for
/// assertions. Build one with [`EnvVar::new`] to seed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvVar {
    /// Assigned by the fake when seeded or created.
    pub id: String,
    pub key: String,
    pub value: String,
    /// `type` in the API.
    pub kind: String,
    pub target: Vec<String>,
    pub git_branch: Option<String>,
    /// Non-null when an integration owns the record.
    pub configuration_id: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
    pub updated_at: u64,
}

impl EnvVar {
    /// An `encrypted` variable for these targets, created and updated now.
    pub fn new(key: &str, value: &str, targets: &[&str]) -> EnvVar {
        let now = now_ms();
        EnvVar {
            id: String::new(),
            key: key.into(),
            value: value.into(),
            kind: "encrypted".into(),
            target: targets.iter().map(|t| t.to_string()).collect(),
            git_branch: None,
            configuration_id: None,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn kind(mut self, kind: &str) -> EnvVar {
        self.kind = kind.into();
        self
    }

    pub fn git_branch(mut self, branch: &str) -> EnvVar {
        self.git_branch = Some(branch.into());
        self
    }

    /// Owned by an integration (e.g. `icfg_…`).
    pub fn configuration_id(mut self, id: &str) -> EnvVar {
        self.configuration_id = Some(id.into());
        self
    }

    pub fn updated_at(mut self, ms: u64) -> EnvVar {
        self.updated_at = ms;
        self
    }

    fn targets(&self) -> BTreeSet<&str> {
        self.target.iter().map(String::as_str).collect()
    }

    fn overlaps(&self, targets: &BTreeSet<&str>) -> bool {
        self.target.iter().any(|t| targets.contains(t.as_str()))
    }

    /// The record as the API shows it: the value as ciphertext unless
    /// `decrypt` (and never a sensitive one).
    fn json(&self, decrypt: bool) -> Value {
        let decrypted = decrypt && self.kind != "sensitive";
        let value = if decrypted {
            self.value.clone()
        } else {
            STANDARD.encode(random_bytes::<24>())
        };
        let mut record = json!({
            "id": self.id,
            "key": self.key,
            "type": self.kind,
            "target": self.target,
            "value": value,
            "decrypted": decrypted,
            "configurationId": self.configuration_id,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "createdBy": "usr_fake",
            "updatedBy": "usr_fake",
        });
        if let Some(branch) = &self.git_branch {
            record["gitBranch"] = json!(branch);
        }
        record
    }
}

/// A deployment the fake accepted on `POST /v13/deployments`.
#[derive(Clone, Debug)]
pub struct Redeploy {
    /// The new deployment's id.
    pub id: String,
    pub project_id: String,
    pub deployment_id: Option<String>,
    pub name: String,
    pub target: Option<String>,
    pub with_latest_commit: Option<bool>,
    /// The `forceNew` query parameter, if sent.
    pub force_new: Option<String>,
    /// The request body as sent.
    pub body: Value,
}

struct Project {
    id: String,
    name: String,
    envs: Vec<EnvVar>,
    /// Records listed verbatim after `envs` (shapes the API should not
    /// send but a test must survive); never written.
    raw: Vec<Value>,
    /// The deployment `targets.production` points at.
    live: Option<String>,
}

struct Deployment {
    id: String,
    project: String,
}

struct State {
    token: String,
    /// (team id, team slug): requests must name it.
    team: Option<(String, String)>,
    /// The targets the token's role may write.
    allowed: BTreeSet<String>,
    projects: Vec<Project>,
    deployments: Vec<Deployment>,
    redeploys: Vec<Redeploy>,
    /// key -> (code, message): creates of that key answer 201 with it in `failed[]`.
    failing: Vec<(String, String, String)>,
    /// The list answers pages of at most this many records.
    page_size: Option<usize>,
}

impl State {
    fn project(&mut self, id_or_name: &str) -> Option<&mut Project> {
        self.projects
            .iter_mut()
            .find(|p| p.id == id_or_name || p.name == id_or_name)
    }

    /// 403 unless the token may write every one of `targets`.
    fn may_write<'a>(&self, targets: impl IntoIterator<Item = &'a str>) -> Result<(), Reply> {
        match targets.into_iter().find(|t| !self.allowed.contains(*t)) {
            None => Ok(()),
            Some(t) => Err(error(
                403,
                "forbidden",
                &format!("You don't have permission to modify environment variables of the {t} environment."),
            )),
        }
    }
}

/// The fake Vercel API. Derefs to [`Server`] for `url()`, `fault()`,
/// `requests()`, `count()` and the rest of the shared plumbing.
pub struct FakeVercel {
    server: Server,
    state: Arc<Mutex<State>>,
}

impl Deref for FakeVercel {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.server
    }
}

impl FakeVercel {
    /// Accepts `Authorization: Bearer {token}`, on a personal account (no
    /// team) with every target writable. Journal label: `vercel`.
    pub fn start(token: &str) -> FakeVercel {
        let state = Arc::new(Mutex::new(State {
            token: token.into(),
            team: None,
            allowed: TARGETS.iter().map(|t| t.to_string()).collect(),
            projects: Vec::new(),
            deployments: Vec::new(),
            redeploys: Vec::new(),
            failing: Vec::new(),
            page_size: None,
        }));
        let server = {
            let state = Arc::clone(&state);
            Server::start("vercel", move |req| handle(&mut lock(&state), req))
        };
        FakeVercel { server, state }
    }

    /// Log into a journal shared with the other fakes, for cross-API order.
    pub fn with_journal(self, journal: &Journal) -> FakeVercel {
        self.server.set_journal(journal);
        self
    }

    /// The projects belong to this team: every request must carry
    /// `teamId={id}` or `slug={slug}`, or gets 403 `forbidden`.
    pub fn with_team(self, id: &str, slug: &str) -> FakeVercel {
        lock(&self.state).team = Some((id.into(), slug.into()));
        self
    }

    /// What `vercel-api-url` should be.
    pub fn api_url(&self) -> String {
        self.url()
    }

    /// A project; returns its id (`prj_…`).
    pub fn add_project(&self, name: &str) -> String {
        let id = format!("prj_{}", random_id());
        lock(&self.state).projects.push(Project {
            id: id.clone(),
            name: name.into(),
            envs: Vec::new(),
            raw: Vec::new(),
            live: None,
        });
        id
    }

    /// Seeds a record as given (its id assigned here, returned), with no
    /// check at all: a test may set up what the API would refuse to create
    /// but what exists anyway (an integration's record…).
    pub fn add_env(&self, project: &str, mut env: EnvVar) -> String {
        let mut state = lock(&self.state);
        let project = state
            .project(project)
            .unwrap_or_else(|| panic!("add_project({project:?}) first"));
        env.id = random_id();
        let id = env.id.clone();
        project.envs.push(env);
        id
    }

    /// Lists `record` verbatim after the project's records, whatever its
    /// shape (a field missing, an odd `updatedAt`…). It is only listed: a
    /// write never finds it.
    pub fn add_raw_env(&self, project: &str, record: Value) {
        let mut state = lock(&self.state);
        let project = state
            .project(project)
            .unwrap_or_else(|| panic!("add_project({project:?}) first"));
        project.raw.push(record);
    }

    /// The list answers in pages of at most `size` records, in the paged
    /// shape the API documents (`pagination: {count, next, prev}`, `next`
    /// set while records remain) and with no way to ask for the next page.
    pub fn page_envs(&self, size: usize) -> &FakeVercel {
        lock(&self.state).page_size = Some(size);
        self
    }

    /// Sets `updatedAt` (ms since the epoch) of every record of `key`.
    pub fn set_updated_at(&self, project: &str, key: &str, ms: u64) {
        let mut state = lock(&self.state);
        let project = state.project(project).unwrap_or_else(|| panic!("no project {project}"));
        let mut found = false;
        for env in project.envs.iter_mut().filter(|e| e.key == key) {
            env.updated_at = ms;
            found = true;
        }
        assert!(found, "no variable {key} in {}", project.name);
    }

    /// The decrypted value that `target` sees for `key` (the record
    /// without a git branch whose targets include it).
    pub fn value(&self, project: &str, key: &str, target: &str) -> Option<String> {
        let mut state = lock(&self.state);
        let project = state.project(project)?;
        project
            .envs
            .iter()
            .find(|e| e.key == key && e.git_branch.is_none() && e.target.iter().any(|t| t == target))
            .map(|e| e.value.clone())
    }

    /// Every record of the project, in creation order.
    pub fn envs(&self, project: &str) -> Vec<EnvVar> {
        lock(&self.state)
            .project(project)
            .map(|p| p.envs.clone())
            .unwrap_or_default()
    }

    /// The record with that id.
    pub fn env(&self, project: &str, id: &str) -> Option<EnvVar> {
        self.envs(project).into_iter().find(|e| e.id == id)
    }

    /// The token's role may write these targets only (roles grant
    /// production and preview separately).
    pub fn allow_targets(&self, targets: &[&str]) -> &FakeVercel {
        lock(&self.state).allowed = targets.iter().map(|t| t.to_string()).collect();
        self
    }

    /// Every create of `key` answers 201 with nothing created and this
    /// error in `failed[]`.
    pub fn fail_creates(&self, key: &str, code: &str, message: &str) -> &FakeVercel {
        lock(&self.state)
            .failing
            .push((key.into(), code.into(), message.into()));
        self
    }

    /// A production deployment that is live for the project
    /// (`targets.production.id`); returns its id (`dpl_…`).
    pub fn add_live_deployment(&self, project: &str) -> String {
        let id = format!("dpl_{}", random_id());
        let mut state = lock(&self.state);
        let p = state.project(project).unwrap_or_else(|| panic!("no project {project}"));
        p.live = Some(id.clone());
        let project_id = p.id.clone();
        state.deployments.push(Deployment {
            id: id.clone(),
            project: project_id,
        });
        id
    }

    /// Every deployment accepted, in order.
    pub fn redeploys(&self) -> Vec<Redeploy> {
        lock(&self.state).redeploys.clone()
    }
}

/// Vercel's error envelope, as text (for faults).
pub fn error_body(code: &str, message: &str) -> String {
    json!({"error": {"code": code, "message": message}}).to_string()
}

/// Now, in milliseconds since the Unix epoch, as `updatedAt` counts.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn random_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    random_bytes::<16>()
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(status, &json!({"error": {"code": code, "message": message}}))
}

fn handle(state: &mut State, req: &Recorded) -> Reply {
    let authorized = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .is_some_and(|t| t == state.token);
    if !authorized {
        return Reply::json(
            403,
            &json!({"error": {"code": "forbidden", "message": "Not authorized", "invalidToken": true}}),
        );
    }
    let team_id = req.query_param("teamId");
    let slug = req.query_param("slug");
    let team_ok = match &state.team {
        Some((id, s)) => team_id.as_deref() == Some(id.as_str()) || slug.as_deref() == Some(s.as_str()),
        None => team_id.is_none() && slug.is_none(),
    };
    if !team_ok {
        return error(403, "forbidden", "Not authorized");
    }
    let segments = req.segments();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (req.method.as_str(), &segments[..]) {
        ("POST", ["v13", "deployments"]) => create_deployment(state, req),
        (method, ["v9" | "v10", "projects", project, rest @ ..]) => {
            let Some(index) = state
                .projects
                .iter()
                .position(|p| p.id == *project || p.name == *project)
            else {
                return error(404, "not_found", "Project not found");
            };
            match (method, rest, segments[0]) {
                ("GET", [], "v9") => get_project(state, index),
                ("GET", ["env"], "v10") => list_envs(state, index, req),
                ("POST", ["env"], "v10") => create_envs(state, index, req),
                ("PATCH", ["env", id], _) => edit_env(state, index, id, req),
                ("DELETE", ["env", id], _) => remove_env(state, index, id),
                _ => error(404, "not_found", "The requested endpoint was not found"),
            }
        }
        _ => error(404, "not_found", "The requested endpoint was not found"),
    }
}

fn get_project(state: &State, index: usize) -> Reply {
    let project = &state.projects[index];
    let targets = match &project.live {
        Some(id) => json!({"production": {
            "id": id,
            "alias": [format!("{}.vercel.app", project.name)],
            "readyState": "READY",
            "target": "production",
            "url": format!("{}-{}.vercel.app", project.name, id.trim_start_matches("dpl_").to_lowercase()),
        }}),
        None => json!({}),
    };
    Reply::json(
        200,
        &json!({
            "id": project.id,
            "name": project.name,
            "accountId": "team_or_user_fake",
            "framework": "nextjs",
            "targets": targets,
        }),
    )
}

fn list_envs(state: &State, index: usize, req: &Recorded) -> Reply {
    let decrypt = req.query_param("decrypt").as_deref() == Some("true");
    let hide_production = !state.allowed.contains("production");
    let envs = &state.projects[index].envs;
    let mut visible: Vec<Value> = envs
        .iter()
        .filter(|e| !(hide_production && e.target.iter().any(|t| t == "production")))
        .map(|e| e.json(decrypt))
        .collect();
    let hidden = envs.len() - visible.len();
    visible.extend(state.projects[index].raw.iter().cloned());
    let mut answer = json!({});
    if let Some(size) = state.page_size {
        // `next` is the `updatedAt` the following page would start from.
        let next = visible
            .get(size)
            .map(|e| e.get("updatedAt").filter(|u| u.is_u64()).cloned().unwrap_or(json!(1)));
        visible.truncate(size);
        answer["pagination"] = json!({"count": visible.len(), "next": next, "prev": null});
    }
    answer["envs"] = Value::Array(visible);
    if hide_production {
        answer["hiddenProductionEnvCount"] = json!(hidden);
    }
    Reply::json(200, &answer)
}

/// A create request's item, checked.
struct NewEnv {
    key: String,
    value: String,
    kind: String,
    target: Vec<String>,
    git_branch: Option<String>,
}

fn bad(code: &str, message: &str) -> Reply {
    error(400, code, message)
}

/// `target` as given: an array of known targets (`None` when absent).
fn parse_targets(value: Option<&Value>) -> Result<Option<Vec<String>>, Reply> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let Some(items) = value.as_array() else {
        return Err(bad("bad_request", "Invalid request: `target` should be array."));
    };
    let mut targets = Vec::new();
    for item in items {
        match item.as_str() {
            Some(t) if TARGETS.contains(&t) => targets.push(t.to_string()),
            _ => {
                return Err(bad(
                    "bad_request",
                    "Invalid request: `target` items should be equal to one of the allowed values \"production\", \"preview\", \"development\".",
                ))
            }
        }
    }
    Ok(Some(targets))
}

fn parse_type(value: Option<&Value>) -> Result<Option<String>, Reply> {
    match value {
        None => Ok(None),
        Some(Value::String(t)) if TYPES.contains(&t.as_str()) => Ok(Some(t.clone())),
        Some(_) => Err(bad(
            "bad_request",
            "Invalid request: `type` should be equal to one of the allowed values \"system\", \"encrypted\", \"plain\", \"sensitive\".",
        )),
    }
}

fn parse_branch(value: Option<&Value>) -> Result<Option<String>, Reply> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(b)) if b.is_empty() => Ok(None),
        Some(Value::String(b)) => Ok(Some(b.clone())),
        Some(_) => Err(bad("bad_request", "Invalid request: `gitBranch` should be string.")),
    }
}

fn valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The rules a record must keep whether created or edited.
fn check_record(kind: &str, target: &[String], git_branch: Option<&str>) -> Result<(), Reply> {
    if kind == "sensitive" && target.iter().any(|t| t == "development") {
        return Err(bad(
            "bad_request",
            "Sensitive Environment Variables cannot be created in the Development Environment.",
        ));
    }
    if git_branch.is_some() && target != ["preview"] {
        return Err(bad(
            "bad_request",
            "A Git branch can only be set for the Preview Environment alone.",
        ));
    }
    Ok(())
}

fn parse_new(item: &Value) -> Result<NewEnv, Reply> {
    let Some(item) = item.as_object() else {
        return Err(bad(
            "bad_request",
            "Invalid request: the body should be an object or an array of objects.",
        ));
    };
    let key = match item.get("key") {
        None | Some(Value::Null) => return Err(bad("MISSING_KEY", "Missing `key`.")),
        Some(Value::String(k)) if k.is_empty() => return Err(bad("MISSING_KEY", "Missing `key`.")),
        Some(Value::String(k)) if k.len() > 256 => {
            return Err(bad("KEY_INVALID_LENGTH", "The `key` must be 256 characters or fewer."))
        }
        Some(Value::String(k)) if !valid_key(k) => {
            return Err(bad(
                "KEY_INVALID_CHARACTERS",
                "The name of your Environment Variable contains invalid characters. Only letters, digits and underscores are allowed. Furthermore, the name should not start with a digit.",
            ))
        }
        Some(Value::String(k)) => k.clone(),
        Some(_) => return Err(bad("bad_request", "Invalid request: `key` should be string.")),
    };
    let value = match item.get("value") {
        None | Some(Value::Null) => return Err(bad("MISSING_VALUE", "Missing `value`.")),
        Some(Value::String(v)) => v.clone(),
        Some(_) => return Err(bad("VALUE_INVALID_TYPE", "The `value` should be a string.")),
    };
    let Some(kind) = parse_type(item.get("type"))? else {
        return Err(bad("bad_request", "Invalid request: missing required property `type`."));
    };
    let target = match parse_targets(item.get("target"))? {
        Some(t) if !t.is_empty() => t,
        _ => return Err(bad("MISSING_TARGET", "Missing `target`.")),
    };
    let git_branch = parse_branch(item.get("gitBranch"))?;
    check_record(&kind, &target, git_branch.as_deref())?;
    if let Some(comment) = item.get("comment") {
        if !comment.is_string() {
            return Err(bad("bad_request", "Invalid request: `comment` should be string."));
        }
    }
    Ok(NewEnv {
        key,
        value,
        kind,
        target,
        git_branch,
    })
}

fn conflict_error(key: &str, target: &[String], git_branch: Option<&str>, env_var_id: &str) -> Value {
    json!({
        "code": "ENV_CONFLICT",
        "message": format!(
            "A variable with the name `{key}` already exists for the target {} on branch {}",
            target.join(","),
            git_branch.unwrap_or("undefined"),
        ),
        "key": key,
        "envVarKey": key,
        "envVarId": env_var_id,
        "target": target,
        "gitBranch": git_branch,
    })
}

fn integration_owned(key: &str) -> Reply {
    bad(
        "bad_request",
        &format!("The Environment Variable `{key}` is managed by an integration and cannot be changed here."),
    )
}

fn create_envs(state: &mut State, index: usize, req: &Recorded) -> Reply {
    let upsert = req.query_param("upsert").as_deref() == Some("true");
    let (items, batch) = match req.json() {
        Some(Value::Array(items)) if !items.is_empty() => (items, true),
        Some(item @ Value::Object(_)) => (vec![item], false),
        _ => {
            return bad(
                "bad_request",
                "Invalid request: the body should be an object or an array of objects.",
            )
        }
    };
    let mut news = Vec::new();
    for item in &items {
        match parse_new(item) {
            Ok(new) => news.push(new),
            Err(reply) => return reply,
        }
    }
    for new in &news {
        if let Err(reply) = state.may_write(new.target.iter().map(String::as_str)) {
            return reply;
        }
    }
    let mut created = Vec::new();
    let mut failed = Vec::new();
    for new in news {
        if let Some((_, code, message)) = state.failing.iter().find(|(k, _, _)| *k == new.key) {
            failed.push(json!({"error": {
                "code": code, "message": message, "key": new.key, "envVarKey": new.key,
                "target": new.target, "gitBranch": new.git_branch,
            }}));
            continue;
        }
        let targets: BTreeSet<&str> = new.target.iter().map(String::as_str).collect();
        let envs = &mut state.projects[index].envs;
        let clashing: Vec<usize> = envs
            .iter()
            .enumerate()
            .filter(|(_, e)| e.key == new.key && e.git_branch == new.git_branch && e.overlaps(&targets))
            .map(|(i, _)| i)
            .collect();
        match clashing[..] {
            [] => {
                let now = now_ms();
                let env = EnvVar {
                    id: random_id(),
                    key: new.key,
                    value: new.value,
                    kind: new.kind,
                    target: new.target,
                    git_branch: new.git_branch,
                    configuration_id: None,
                    created_at: now,
                    updated_at: now,
                };
                created.push(env.json(false));
                envs.push(env);
            }
            [i] if upsert && envs[i].targets() == targets => {
                if envs[i].configuration_id.is_some() {
                    return integration_owned(&envs[i].key);
                }
                let env = &mut envs[i];
                env.value = new.value;
                env.kind = new.kind;
                env.updated_at = now_ms();
                created.push(env.json(false));
            }
            [i, ..] => {
                let conflict = conflict_error(&new.key, &new.target, new.git_branch.as_deref(), &envs[i].id);
                if !upsert && !batch {
                    return Reply::json(400, &json!({ "error": conflict }));
                }
                failed.push(json!({ "error": conflict }));
            }
        }
    }
    let mut body = Map::new();
    if batch {
        body.insert("created".into(), Value::Array(created));
    } else if let Some(one) = created.pop() {
        body.insert("created".into(), one);
    }
    body.insert("failed".into(), Value::Array(failed));
    Reply::json(201, &Value::Object(body))
}

fn edit_env(state: &mut State, index: usize, id: &str, req: &Recorded) -> Reply {
    let Some(position) = state.projects[index].envs.iter().position(|e| e.id == id) else {
        return error(404, "not_found", "Environment Variable not found");
    };
    let Some(Value::Object(body)) = req.json() else {
        return bad("bad_request", "Invalid request: the body should be an object.");
    };
    let current = state.projects[index].envs[position].clone();
    if current.configuration_id.is_some() {
        return integration_owned(&current.key);
    }
    let mut next = current.clone();
    match body.get("key") {
        None => {}
        Some(Value::String(k)) if valid_key(k) => next.key = k.clone(),
        Some(_) => {
            return bad(
                "KEY_INVALID_CHARACTERS",
                "The name of your Environment Variable contains invalid characters.",
            )
        }
    }
    match body.get("value") {
        None => {}
        Some(Value::String(v)) => next.value = v.clone(),
        Some(_) => return bad("VALUE_INVALID_TYPE", "The `value` should be a string."),
    }
    if let Some(kind) = match parse_type(body.get("type")) {
        Ok(kind) => kind,
        Err(reply) => return reply,
    } {
        next.kind = kind;
    }
    match parse_targets(body.get("target")) {
        Ok(Some(t)) if t.is_empty() => return bad("MISSING_TARGET", "Missing `target`."),
        Ok(Some(t)) => next.target = t,
        Ok(None) => {}
        Err(reply) => return reply,
    }
    if body.contains_key("gitBranch") {
        match parse_branch(body.get("gitBranch")) {
            Ok(branch) => next.git_branch = branch,
            Err(reply) => return reply,
        }
    }
    if let Err(reply) = check_record(&next.kind, &next.target, next.git_branch.as_deref()) {
        return reply;
    }
    let touched = current.target.iter().chain(&next.target).map(String::as_str);
    if let Err(reply) = state.may_write(touched) {
        return reply;
    }
    let targets: BTreeSet<&str> = next.target.iter().map(String::as_str).collect();
    let envs = &mut state.projects[index].envs;
    if let Some(other) = envs
        .iter()
        .find(|e| e.id != next.id && e.key == next.key && e.git_branch == next.git_branch && e.overlaps(&targets))
    {
        let conflict = conflict_error(&next.key, &next.target, next.git_branch.as_deref(), &other.id);
        return Reply::json(400, &json!({ "error": conflict }));
    }
    next.updated_at = now_ms();
    let answer = next.json(false);
    envs[position] = next;
    Reply::json(200, &answer)
}

fn remove_env(state: &mut State, index: usize, id: &str) -> Reply {
    let Some(position) = state.projects[index].envs.iter().position(|e| e.id == id) else {
        return error(404, "not_found", "Environment Variable not found");
    };
    let env = state.projects[index].envs[position].clone();
    if env.configuration_id.is_some() {
        return integration_owned(&env.key);
    }
    if let Err(reply) = state.may_write(env.target.iter().map(String::as_str)) {
        return reply;
    }
    state.projects[index].envs.remove(position);
    Reply::json(200, &env.json(false))
}

fn create_deployment(state: &mut State, req: &Recorded) -> Reply {
    let force_new = req.query_param("forceNew");
    if force_new.as_deref().is_some_and(|f| f != "0" && f != "1") {
        return bad(
            "bad_request",
            "Invalid request: `forceNew` should be equal to one of the allowed values \"0\", \"1\".",
        );
    }
    let Some(body @ Value::Object(_)) = req.json() else {
        return bad("bad_request", "Invalid request: the body should be an object.");
    };
    let name = match body.get("name") {
        Some(Value::String(n)) if !n.is_empty() => n.clone(),
        _ => return bad("bad_request", "Invalid request: missing required property `name`."),
    };
    let target = match body.get("target") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(t.clone()),
        Some(_) => return bad("bad_request", "Invalid request: `target` should be string."),
    };
    let with_latest_commit = match body.get("withLatestCommit") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return bad("bad_request", "Invalid request: `withLatestCommit` should be boolean."),
    };
    let deployment_id = match body.get("deploymentId") {
        None => None,
        Some(Value::String(d)) => Some(d.clone()),
        Some(_) => return bad("bad_request", "Invalid request: `deploymentId` should be string."),
    };
    let Some(from) = &deployment_id else {
        // Anything else needs `files` or `gitSource`, which no redeploy sends.
        return bad("missing_files", "Missing files");
    };
    let Some(project_id) = state
        .deployments
        .iter()
        .find(|d| d.id == *from)
        .map(|d| d.project.clone())
    else {
        return error(404, "not_found", "Deployment not found");
    };
    if target.as_deref() == Some("production") {
        if let Err(reply) = state.may_write(["production"]) {
            return reply;
        }
    }
    let id = format!("dpl_{}", random_id());
    state.deployments.push(Deployment {
        id: id.clone(),
        project: project_id.clone(),
    });
    state.redeploys.push(Redeploy {
        id: id.clone(),
        project_id: project_id.clone(),
        deployment_id,
        name: name.clone(),
        target: target.clone(),
        with_latest_commit,
        force_new,
        body,
    });
    Reply::json(
        200,
        &json!({
            "id": id,
            "name": name,
            "projectId": project_id,
            "target": target,
            "readyState": "QUEUED",
            "url": format!("{name}-{}.vercel.app", id.trim_start_matches("dpl_").to_lowercase()),
            "inspectorUrl": format!("https://vercel.com/fake/{name}/{}", id.trim_start_matches("dpl_")),
        }),
    )
}
