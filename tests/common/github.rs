//! A fake GitHub REST API for Actions secrets, with real X25519 key pairs.
//!
//! It opens every sealed box it is sent and stores the plaintext, so a test
//! proves the action encrypted the right value for the right key, not
//! merely that it sent some base64. Each scope (repository, environment,
//! Dependabot, organization) has its own key pair and key id, as on GitHub,
//! so a value sealed for the wrong scope is refused with GitHub's 422. A
//! secret value is text: a plaintext that is not UTF-8 is refused too.
//!
//! It also takes the two dispatch calls that tell consumers of a secret to
//! redeploy (repository and workflow dispatch), with GitHub's documented
//! limits, and records each one it accepts.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use crypto_box::aead::OsRng;
use crypto_box::{PublicKey, SecretKey};
use serde_json::{json, Value};

use super::server::{lock, path_segments, Journal, Recorded, Reply, Server};

const DOCS: &str = "https://docs.github.com/rest";
/// The write-access probe's name, whose plaintext the fake remembers.
const PROBE_SECRET: &str = "TURSO_ROTATE_PROBE";

/// Where a secret lives. Owner, repository, organization and environment
/// names are compared case-insensitively, as GitHub does.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// `owner/name`: `/repos/{owner}/{repo}/actions/secrets/…`
    Repo(String),
    /// `owner/name` and the (decoded) environment name:
    /// `/repos/{owner}/{repo}/environments/{env}/secrets/…`
    Env(String, String),
    /// `owner/name`: `/repos/{owner}/{repo}/dependabot/secrets/…`
    Dependabot(String),
    /// organization login: `/orgs/{org}/actions/secrets/…`
    Org(String),
}

impl Scope {
    pub fn repo(repo: &str) -> Scope {
        Scope::Repo(repo.into())
    }

    pub fn env(repo: &str, env: &str) -> Scope {
        Scope::Env(repo.into(), env.into())
    }

    pub fn dependabot(repo: &str) -> Scope {
        Scope::Dependabot(repo.into())
    }

    pub fn org(org: &str) -> Scope {
        Scope::Org(org.into())
    }

    /// The case-folded form used as a map key.
    fn key(&self) -> Scope {
        match self {
            Scope::Repo(r) => Scope::Repo(r.to_lowercase()),
            Scope::Env(r, e) => Scope::Env(r.to_lowercase(), e.to_lowercase()),
            Scope::Dependabot(r) => Scope::Dependabot(r.to_lowercase()),
            Scope::Org(o) => Scope::Org(o.to_lowercase()),
        }
    }
}

/// The most top-level properties GitHub accepts in a repository
/// dispatch's `client_payload`.
pub const MAX_CLIENT_PAYLOAD_KEYS: usize = 10;
/// The most characters GitHub accepts in a repository dispatch's `event_type`.
pub const MAX_EVENT_TYPE_CHARS: usize = 100;
/// The most `inputs` GitHub accepts in a workflow dispatch.
pub const MAX_WORKFLOW_INPUTS: usize = 25;

/// A dispatch the fake accepted (answered 204).
#[derive(Clone, Debug)]
pub struct Dispatch {
    /// `owner/name` as the path spelled it.
    pub repo: String,
    /// `None` for a repository dispatch (`POST /repos/{o}/{r}/dispatches`);
    /// the workflow file (or id) for a workflow dispatch
    /// (`POST /repos/{o}/{r}/actions/workflows/{file}/dispatches`).
    pub workflow: Option<String>,
    /// The request body as sent.
    pub body: Value,
    /// The token of the `Authorization` header.
    pub token: String,
}

impl Dispatch {
    /// A repository dispatch's `event_type`.
    pub fn event_type(&self) -> Option<&str> {
        self.body.get("event_type").and_then(Value::as_str)
    }

    /// A repository dispatch's `client_payload`, if one was sent.
    pub fn client_payload(&self) -> Option<&Value> {
        self.body.get("client_payload")
    }

    /// A workflow dispatch's `ref`.
    pub fn git_ref(&self) -> Option<&str> {
        self.body.get("ref").and_then(Value::as_str)
    }
}

struct KeyPair {
    id: String,
    secret: SecretKey,
}

struct Stored {
    value: String,
    visibility: Option<String>,
    selected: Option<Vec<u64>>,
    /// RFC 3339 UTC to the second, as GitHub's secret metadata gives them.
    created_at: String,
    updated_at: String,
}

struct Repo {
    full_name: String,
    id: u64,
}

struct State {
    token: String,
    base_path: String,
    /// lower-cased `owner/name` -> repository
    repos: BTreeMap<String, Repo>,
    /// lower-cased organization logins
    orgs: BTreeSet<String>,
    /// lower-cased (`owner/name`, environment)
    envs: BTreeSet<(String, String)>,
    keys: HashMap<Scope, KeyPair>,
    next_key_id: u64,
    /// (scope key, upper-cased name) -> secret
    secrets: BTreeMap<(Scope, String), Stored>,
    /// successful PUTs per upper-cased name, all scopes together
    writes: HashMap<String, usize>,
    deny_writes: Option<String>,
    /// lower-cased `owner/name` -> the `Location` its `GET /repos/…` answers
    /// with a 301 (a renamed or transferred repository)
    moved: BTreeMap<String, String>,
    /// The plaintext of the last `TURSO_ROTATE_PROBE` opened, accepted or not.
    last_probe: Option<Vec<u8>>,
    /// Tokens accepted on the two dispatch routes only (see
    /// [`FakeGitHub::allow_dispatch_token`]).
    dispatch_tokens: BTreeSet<String>,
    /// (lower-cased `owner/name`, workflow file) -> the inputs its
    /// `workflow_dispatch` trigger declares
    workflows: BTreeMap<(String, String), Vec<String>>,
    /// Every dispatch accepted, in arrival order.
    dispatches: Vec<Dispatch>,
}

impl State {
    /// The scope's key pair, made on first use as GitHub has one per scope.
    fn key_pair(&mut self, scope: &Scope) -> &KeyPair {
        let next = &mut self.next_key_id;
        self.keys.entry(scope.key()).or_insert_with(|| {
            *next += 1_000_003;
            KeyPair {
                id: next.to_string(),
                secret: SecretKey::generate(&mut OsRng),
            }
        })
    }

    fn scope_exists(&self, scope: &Scope) -> bool {
        match scope.key() {
            Scope::Repo(r) | Scope::Dependabot(r) => self.repos.contains_key(&r),
            Scope::Env(r, e) => self.envs.contains(&(r, e)),
            Scope::Org(o) => self.orgs.contains(&o),
        }
    }
}

/// The fake GitHub server. Derefs to [`Server`] for `url()`, `fault()`,
/// `requests()`, `connections()` and the rest of the shared plumbing.
pub struct FakeGitHub {
    server: Server,
    state: Arc<Mutex<State>>,
}

impl Deref for FakeGitHub {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.server
    }
}

impl FakeGitHub {
    /// Accepts `Authorization: Bearer {token}` or `token {token}`.
    pub fn start(token: &str) -> FakeGitHub {
        let state = Arc::new(Mutex::new(State {
            token: token.into(),
            base_path: String::new(),
            repos: BTreeMap::new(),
            orgs: BTreeSet::new(),
            envs: BTreeSet::new(),
            keys: HashMap::new(),
            next_key_id: 568_250_167_242_549_743,
            secrets: BTreeMap::new(),
            writes: HashMap::new(),
            deny_writes: None,
            moved: BTreeMap::new(),
            last_probe: None,
            dispatch_tokens: BTreeSet::new(),
            workflows: BTreeMap::new(),
            dispatches: Vec::new(),
        }));
        let server = {
            let state = Arc::clone(&state);
            Server::start("github", move |req| {
                handle(&mut lock(&state), req)
                    .with_header("X-RateLimit-Limit", "5000")
                    .with_header("X-RateLimit-Remaining", "4999")
                    .with_header("X-RateLimit-Used", "1")
            })
        };
        FakeGitHub { server, state }
    }

    /// Log into a journal shared with the other fake, for cross-API order.
    pub fn with_journal(self, journal: &Journal) -> FakeGitHub {
        self.server.set_journal(journal);
        self
    }

    /// Serve under a path prefix, as GitHub Enterprise Server does under
    /// `/api/v3`; requests outside it get 404.
    pub fn with_base_path(self, prefix: &str) -> FakeGitHub {
        lock(&self.state).base_path = prefix.trim_end_matches('/').into();
        self
    }

    /// What `GITHUB_API_URL` should be: the URL plus any base path.
    pub fn api_url(&self) -> String {
        format!("{}{}", self.url(), lock(&self.state).base_path)
    }

    /// A repository (`owner/name`); its owner becomes a known organization
    /// too. Returns its id, as selected-repository lists use ids.
    pub fn add_repo(&self, full_name: &str) -> u64 {
        let (owner, _) = full_name.split_once('/').expect("owner/name");
        let mut state = lock(&self.state);
        let id = 1_296_269 + state.repos.len() as u64 * 7;
        state.repos.insert(
            full_name.to_lowercase(),
            Repo {
                full_name: full_name.into(),
                id,
            },
        );
        state.orgs.insert(owner.to_lowercase());
        id
    }

    /// Renames a repository added before, as GitHub does: it keeps its id,
    /// `GET /repos/{old}` answers 301 with `Location: {api_url}/repositories/{id}`
    /// and `GET /repositories/{id}` serves it under its new name. Returns the id.
    pub fn rename_repo(&self, old: &str, new: &str) -> u64 {
        let location = {
            let mut state = lock(&self.state);
            let repo = state
                .repos
                .remove(&old.to_lowercase())
                .unwrap_or_else(|| panic!("add_repo({old:?}) first"));
            let id = repo.id;
            state.repos.insert(
                new.to_lowercase(),
                Repo {
                    full_name: new.into(),
                    id,
                },
            );
            format!("/repositories/{id}")
        };
        let id = self.repo_id(new).expect("just renamed");
        self.redirect_repo(old, &format!("{}{location}", self.api_url()));
        id
    }

    /// `GET /repos/{full_name}` answers 301 Moved Permanently with this
    /// `Location` (and GitHub's body naming it), whatever it is: another
    /// host, or text that is no URL at all.
    pub fn redirect_repo(&self, full_name: &str, location: &str) -> &FakeGitHub {
        lock(&self.state)
            .moved
            .insert(full_name.to_lowercase(), location.into());
        self
    }

    pub fn repo_id(&self, full_name: &str) -> Option<u64> {
        lock(&self.state).repos.get(&full_name.to_lowercase()).map(|r| r.id)
    }

    /// An organization with no repositories yet.
    pub fn add_org(&self, org: &str) -> &FakeGitHub {
        lock(&self.state).orgs.insert(org.to_lowercase());
        self
    }

    /// An environment of a repository added before.
    pub fn add_environment(&self, repo: &str, env: &str) -> &FakeGitHub {
        let mut state = lock(&self.state);
        assert!(
            state.repos.contains_key(&repo.to_lowercase()),
            "add_repo({repo:?}) first"
        );
        state.envs.insert((repo.to_lowercase(), env.to_lowercase()));
        drop(state);
        self
    }

    /// Every secret PUT and DELETE answers 403 with this message (e.g.
    /// "Resource not accessible by integration"), while the public key can
    /// still be read: reading needs less permission than writing.
    pub fn deny_writes(&self, message: &str) -> &FakeGitHub {
        lock(&self.state).deny_writes = Some(message.into());
        self
    }

    pub fn allow_writes(&self) -> &FakeGitHub {
        lock(&self.state).deny_writes = None;
        self
    }

    /// Also accept `token` on the two dispatch routes, and only there: on
    /// any other route it is a valid token without the permission (403
    /// "Resource not accessible by personal access token"). The secrets
    /// token stays accepted everywhere. Lets a test prove which token a
    /// dispatch used (see [`Dispatch::token`]).
    pub fn allow_dispatch_token(&self, token: &str) -> &FakeGitHub {
        lock(&self.state).dispatch_tokens.insert(token.into());
        self
    }

    /// A workflow file of a repository added before, whose
    /// `workflow_dispatch` trigger declares `inputs`: only then does
    /// `POST /repos/{repo}/actions/workflows/{file}/dispatches` answer 204
    /// (404 for an unknown file, 422 for inputs it does not declare).
    pub fn add_workflow(&self, repo: &str, file: &str, inputs: &[&str]) -> &FakeGitHub {
        let mut state = lock(&self.state);
        assert!(
            state.repos.contains_key(&repo.to_lowercase()),
            "add_repo({repo:?}) first"
        );
        state.workflows.insert(
            (repo.to_lowercase(), file.into()),
            inputs.iter().map(|i| i.to_string()).collect(),
        );
        drop(state);
        self
    }

    /// Every dispatch accepted so far (repository and workflow), in order.
    /// Refused ones are only in [`Server::requests`].
    pub fn dispatches(&self) -> Vec<Dispatch> {
        lock(&self.state).dispatches.clone()
    }

    /// The scope's current `(key_id, public key)`, for sealing in tests.
    pub fn public_key(&self, scope: &Scope) -> (String, PublicKey) {
        let mut state = lock(&self.state);
        let pair = state.key_pair(scope);
        (pair.id.clone(), pair.secret.public_key())
    }

    /// Replace the scope's key pair, as GitHub may: a value sealed for the
    /// old key id is then refused.
    pub fn rotate_public_key(&self, scope: &Scope) {
        let mut state = lock(&self.state);
        state.keys.remove(&scope.key());
        state.key_pair(scope);
    }

    /// A secret that exists before the test (a later PUT answers 204).
    /// Not counted in [`FakeGitHub::secret_writes`].
    /// Its `created_at` and `updated_at` are now (see
    /// [`FakeGitHub::set_secret_updated_at`]).
    pub fn set_secret(&self, scope: &Scope, name: &str, value: &str) {
        let now = rfc3339_now();
        lock(&self.state).secrets.insert(
            (scope.key(), name.to_uppercase()),
            Stored {
                value: value.into(),
                visibility: matches!(scope, Scope::Org(_)).then(|| "private".into()),
                selected: None,
                created_at: now.clone(),
                updated_at: now,
            },
        );
    }

    /// Backdates (or postdates) an existing secret's `updated_at`, as
    /// `GET …/secrets/{name}` reports it, e.g. `2026-11-30T01:02:03Z`.
    /// Every successful PUT sets it to the current time again.
    pub fn set_secret_updated_at(&self, scope: &Scope, name: &str, rfc3339: &str) {
        let mut state = lock(&self.state);
        let stored = state
            .secrets
            .get_mut(&(scope.key(), name.to_uppercase()))
            .unwrap_or_else(|| panic!("no secret {name} in {scope:?}: set_secret first"));
        stored.updated_at = rfc3339.into();
    }

    /// A secret's `updated_at`, if it exists.
    pub fn secret_updated_at(&self, scope: &Scope, name: &str) -> Option<String> {
        lock(&self.state)
            .secrets
            .get(&(scope.key(), name.to_uppercase()))
            .map(|s| s.updated_at.clone())
    }

    /// The plaintext of the last `TURSO_ROTATE_PROBE` the fake opened (in
    /// any scope), whether or not it was accepted.
    pub fn last_probe_plaintext(&self) -> Option<Vec<u8>> {
        lock(&self.state).last_probe.clone()
    }

    /// The decrypted value of a secret, if it exists.
    pub fn secret(&self, scope: Scope, name: &str) -> Option<String> {
        lock(&self.state)
            .secrets
            .get(&(scope.key(), name.to_uppercase()))
            .map(|s| s.value.clone())
    }

    /// Names of the secrets in a scope (upper-cased, as GitHub lists them).
    pub fn secret_names(&self, scope: &Scope) -> Vec<String> {
        let key = scope.key();
        lock(&self.state)
            .secrets
            .keys()
            .filter(|(s, _)| *s == key)
            .map(|(_, n)| n.clone())
            .collect()
    }

    /// Successful PUTs of that secret name, across all scopes.
    pub fn secret_writes(&self, name: &str) -> usize {
        lock(&self.state).writes.get(&name.to_uppercase()).copied().unwrap_or(0)
    }

    /// The visibility of an organization secret (in any organization).
    pub fn org_secret_visibility(&self, name: &str) -> Option<String> {
        self.org_secret(name, |s| s.visibility.clone())
    }

    /// The `selected_repository_ids` an organization secret was last
    /// written with, if any.
    pub fn org_secret_repositories(&self, name: &str) -> Option<Vec<u64>> {
        self.org_secret(name, |s| s.selected.clone())
    }

    fn org_secret<T>(&self, name: &str, f: impl Fn(&Stored) -> Option<T>) -> Option<T> {
        let name = name.to_uppercase();
        lock(&self.state)
            .secrets
            .iter()
            .find(|((scope, n), _)| matches!(scope, Scope::Org(_)) && *n == name)
            .and_then(|(_, s)| f(s))
    }
}

fn handle(state: &mut State, req: &Recorded) -> Reply {
    if req.header("user-agent").is_none_or(str::is_empty) {
        // GitHub refuses requests without a User-Agent, in plain text.
        return Reply::text(
            403,
            "Request forbidden by administrative rules. \
             Please make sure your request has a User-Agent header.",
        );
    }
    let token = req.header("authorization").and_then(|h| {
        let (scheme, token) = h.split_once(' ').unwrap_or((h, ""));
        (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")).then_some(token)
    });
    let path = req.path.strip_prefix(state.base_path.as_str());
    let segments = path.map(path_segments).unwrap_or_default();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let dispatch_route = req.method == "POST"
        && matches!(
            segments[..],
            ["repos", _, _, "dispatches"] | ["repos", _, _, "actions", "workflows", _, "dispatches"]
        );
    let token = match token {
        Some(t) if t == state.token => t.to_string(),
        Some(t) if state.dispatch_tokens.contains(t) && dispatch_route => t.to_string(),
        // A real token, without the permission for anything but dispatches.
        Some(t) if state.dispatch_tokens.contains(t) => {
            return message(403, "Resource not accessible by personal access token")
        }
        _ => return message(401, "Bad credentials"),
    };
    if path.is_none() {
        return message(404, "Not Found");
    }
    let (scope, rest) = match segments[..] {
        ["repos", owner, repo, "dispatches"] if req.method == "POST" => {
            return repository_dispatch(state, &format!("{owner}/{repo}"), token, req);
        }
        ["repos", owner, repo, "actions", "workflows", workflow, "dispatches"] if req.method == "POST" => {
            return workflow_dispatch(state, &format!("{owner}/{repo}"), workflow, token, req);
        }
        ["repos", owner, repo] if req.method == "GET" => {
            let full_name = format!("{owner}/{repo}").to_lowercase();
            if let Some(location) = state.moved.get(&full_name) {
                return moved(location);
            }
            return match state.repos.get(&full_name) {
                Some(r) => repo_json(r),
                None => message(404, "Not Found"),
            };
        }
        ["repositories", id] if req.method == "GET" => {
            let id = id.parse::<u64>().ok();
            return match state.repos.values().find(|r| Some(r.id) == id) {
                Some(r) => repo_json(r),
                None => message(404, "Not Found"),
            };
        }
        ["repos", owner, repo, "actions", "secrets", ref rest @ ..] => (Scope::Repo(format!("{owner}/{repo}")), rest),
        ["repos", owner, repo, "environments", env, "secrets", ref rest @ ..] => {
            (Scope::Env(format!("{owner}/{repo}"), env.into()), rest)
        }
        ["repos", owner, repo, "dependabot", "secrets", ref rest @ ..] => {
            (Scope::Dependabot(format!("{owner}/{repo}")), rest)
        }
        ["orgs", org, "actions", "secrets", ref rest @ ..] => (Scope::Org(org.into()), rest),
        _ => return message(404, "Not Found"),
    };
    if !state.scope_exists(&scope) {
        return message(404, "Not Found");
    }
    match (req.method.as_str(), rest) {
        ("GET", ["public-key"]) => {
            let pair = state.key_pair(&scope);
            let key = STANDARD.encode(pair.secret.public_key().as_bytes());
            Reply::json(200, &json!({"key_id": pair.id, "key": key}))
        }
        ("GET", [name]) => match state.secrets.get(&(scope.key(), name.to_uppercase())) {
            Some(stored) => {
                let mut body = json!({"name": name.to_uppercase(),
                                      "created_at": stored.created_at,
                                      "updated_at": stored.updated_at});
                if let Some(visibility) = &stored.visibility {
                    body["visibility"] = json!(visibility);
                }
                Reply::json(200, &body)
            }
            None => message(404, "Not Found"),
        },
        ("PUT" | "DELETE", [_]) if state.deny_writes.is_some() => {
            let text = state.deny_writes.clone().unwrap_or_default();
            message(403, &text)
        }
        ("PUT", [name]) => put_secret(state, &scope, name, req),
        ("DELETE", [name]) => match state.secrets.remove(&(scope.key(), name.to_uppercase())) {
            Some(_) => Reply::empty(204),
            None => message(404, "Not Found"),
        },
        _ => message(404, "Not Found"),
    }
}

fn put_secret(state: &mut State, scope: &Scope, name: &str, req: &Recorded) -> Reply {
    if !valid_secret_name(name) {
        return message(
            422,
            "Secret names can only contain alphanumeric characters ([a-z], [A-Z], [0-9]) \
             or underscores (_), must not start with a number, \
             and must not start with the GITHUB_ prefix.",
        );
    }
    let Some(body) = req.json() else {
        return message(400, "Problems parsing JSON");
    };
    for field in ["encrypted_value", "key_id"] {
        if !body[field].is_string() {
            return message(422, &format!("Invalid request.\n\n\"{field}\" wasn't supplied."));
        }
    }
    let (visibility, selected) = if matches!(scope, Scope::Org(_)) {
        match org_fields(state, &body) {
            Ok(fields) => fields,
            Err(reply) => return reply,
        }
    } else {
        (None, None)
    };
    let pair = state.key_pair(scope);
    let plaintext = (body["key_id"] == pair.id.as_str())
        .then(|| STANDARD.decode(body["encrypted_value"].as_str().unwrap_or("")))
        .and_then(Result::ok)
        .and_then(|sealed| pair.secret.unseal(&sealed).ok());
    let Some(plaintext) = plaintext else {
        return message(422, "Bad request - encrypted_value not properly encrypted");
    };
    let name = name.to_uppercase();
    if name == PROBE_SECRET {
        state.last_probe = Some(plaintext.clone());
    }
    // A secret value is text: GitHub cannot store bytes that are not UTF-8.
    let Ok(value) = String::from_utf8(plaintext) else {
        return message(422, "encrypted_value could not be decrypted");
    };
    *state.writes.entry(name.clone()).or_insert(0) += 1;
    let now = rfc3339_now();
    let key = (scope.key(), name);
    let created_at = state
        .secrets
        .get(&key)
        .map_or_else(|| now.clone(), |s| s.created_at.clone());
    let previous = state.secrets.insert(
        key,
        Stored {
            value,
            visibility,
            selected,
            created_at,
            updated_at: now,
        },
    );
    match previous {
        Some(_) => Reply::empty(204),
        None => Reply::json(201, &json!({})),
    }
}

/// `POST /repos/{owner}/{repo}/dispatches`, as documented: `event_type`
/// required, 1 to 100 characters; `client_payload` optional, an object of
/// at most 10 top-level properties; 204 with no body.
fn repository_dispatch(state: &mut State, repo: &str, token: String, req: &Recorded) -> Reply {
    if !state.repos.contains_key(&repo.to_lowercase()) {
        return message(404, "Not Found");
    }
    let Some(body) = req.json().filter(Value::is_object) else {
        return message(400, "Problems parsing JSON");
    };
    match &body["event_type"] {
        Value::Null => return message(422, "Invalid request.\n\n\"event_type\" wasn't supplied."),
        Value::String(e) if !e.is_empty() && e.chars().count() <= MAX_EVENT_TYPE_CHARS => {}
        _ => {
            return message(
                422,
                "Invalid request.\n\nevent_type must be a string of 1 to 100 characters.",
            )
        }
    }
    match body.get("client_payload") {
        None => {}
        Some(Value::Object(payload)) if payload.len() <= MAX_CLIENT_PAYLOAD_KEYS => {}
        Some(Value::Object(_)) => {
            return message(
                422,
                "Invalid request.\n\nclient_payload: too many properties (maximum 10).",
            )
        }
        Some(_) => return message(422, "Invalid request.\n\nclient_payload is not an object."),
    }
    state.dispatches.push(Dispatch {
        repo: repo.into(),
        workflow: None,
        body,
        token,
    });
    Reply::empty(204)
}

/// `POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches`,
/// as documented: the workflow must exist (and have a `workflow_dispatch`
/// trigger); `ref` required; `inputs` optional, an object whose keys the
/// workflow declares, at most 25; 204 with no body.
fn workflow_dispatch(state: &mut State, repo: &str, workflow: &str, token: String, req: &Recorded) -> Reply {
    if !state.repos.contains_key(&repo.to_lowercase()) {
        return message(404, "Not Found");
    }
    let Some(declared) = state.workflows.get(&(repo.to_lowercase(), workflow.to_string())) else {
        return message(404, "Not Found");
    };
    let Some(body) = req.json().filter(Value::is_object) else {
        return message(400, "Problems parsing JSON");
    };
    match &body["ref"] {
        Value::String(r) if !r.is_empty() => {}
        Value::Null => return message(422, "Invalid request.\n\n\"ref\" wasn't supplied."),
        _ => return message(422, "Invalid request.\n\nref must be a non-empty string."),
    }
    match body.get("inputs") {
        None => {}
        Some(Value::Object(inputs)) => {
            if inputs.len() > MAX_WORKFLOW_INPUTS {
                return message(422, "Invalid request.\n\ninputs: too many properties (maximum 25).");
            }
            let unexpected: Vec<&String> = inputs.keys().filter(|k| !declared.contains(k)).collect();
            if !unexpected.is_empty() {
                return message(422, &format!("Unexpected inputs provided: {unexpected:?}"));
            }
        }
        Some(_) => return message(422, "Invalid request.\n\ninputs is not an object."),
    }
    state.dispatches.push(Dispatch {
        repo: repo.into(),
        workflow: Some(workflow.into()),
        body,
        token,
    });
    Reply::empty(204)
}

type OrgFields = (Option<String>, Option<Vec<u64>>);

/// An organization secret's `visibility` (required) and
/// `selected_repository_ids` (ids of known repositories).
fn org_fields(state: &State, body: &Value) -> Result<OrgFields, Reply> {
    let visibility = match body["visibility"].as_str() {
        Some(v @ ("all" | "private" | "selected")) => v.to_string(),
        _ => {
            return Err(message(
                422,
                "Invalid request.\n\n\"visibility\" must be one of all, private, selected.",
            ))
        }
    };
    let selected = match &body["selected_repository_ids"] {
        Value::Null => None,
        Value::Array(ids) => {
            let known: BTreeSet<u64> = state.repos.values().map(|r| r.id).collect();
            let ids: Option<Vec<u64>> = ids
                .iter()
                .map(|id| id.as_u64().filter(|id| known.contains(id)))
                .collect();
            match ids {
                Some(ids) => Some(ids),
                None => return Err(message(422, "Invalid selected_repository_ids")),
            }
        }
        _ => return Err(message(422, "Invalid selected_repository_ids")),
    };
    Ok((Some(visibility), selected))
}

/// GitHub's rules: letters, digits and `_`, not starting with a digit, no
/// `GITHUB_` prefix (names are case-insensitive).
fn valid_secret_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.to_uppercase().starts_with("GITHUB_")
}

fn message(status: u16, text: &str) -> Reply {
    Reply::json(status, &json!({"message": text, "documentation_url": DOCS}))
}

fn repo_json(repo: &Repo) -> Reply {
    Reply::json(
        200,
        &json!({"id": repo.id, "full_name": repo.full_name, "private": true}),
    )
}

/// GitHub's answer for a renamed or transferred repository.
fn moved(location: &str) -> Reply {
    Reply::json(
        301,
        &json!({"message": "Moved Permanently",
                "url": location,
                "documentation_url": "https://docs.github.com/rest/guides/best-practices-for-using-the-rest-api#follow-redirects"}),
    )
    .with_header("Location", location)
}

/// Now, as GitHub writes times: RFC 3339 in UTC to the second.
fn rfc3339_now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}
