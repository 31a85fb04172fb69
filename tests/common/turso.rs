//! A fake Turso: the Platform API calls the action makes (groups, databases,
//! their configuration, `auth/validate`), and a libSQL `/v2/pipeline`
//! endpoint per database to verify tokens against (see `libsql.rs`, which
//! also says how the real libSQL server refuses and where that was read).
//!
//! Tokens are real HS256 JWTs. Group tokens are signed with a per-group key
//! and `groups/{g}/auth/rotate` really replaces it; database tokens are
//! signed with the database's own key, which `databases/{db}/auth/rotate`
//! replaces, leaving group tokens and other databases' tokens alive. A
//! database's endpoint takes both its group's key and its own. That is the
//! point of the fake: a test can hold a token from before the rotation and
//! see it die, and can check that the token the action wrote was created
//! *after* the rotation (one created before would be dead on arrival).
//!
//! Strict as Turso's OpenAPI (`turso.json`): `authorization` is
//! `full-access` or `read-only`, `expiration` `never` or `2w1d30m`-like,
//! bodies are typed (`CreateTokenInput`, `GroupConfigurationInput`,
//! `DatabaseConfigurationInput`, the latter from turso-docs
//! `api-reference/openapi.json` @ 2558aded557c, where it sits beside the
//! copied operations); known routes answer 405 to other methods, unknown
//! ones 404 `{"error"}`. The 400 of a database whose credentials cannot be
//! rotated alone has the wording turso-cli's own tests give it
//! (`{"error":"cannot rotate credentials for a single database in a
//! group"}`).

use std::collections::{BTreeMap, HashMap};
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::libsql::{self, decode_claims, now, sign, verify, LibsqlErrors};
use super::server::{lock, random_bytes, Journal, Recorded, Reply, Server};

pub(super) struct Group {
    pub(super) uuid: String,
    /// The current signing key; replacing it is what invalidates tokens.
    pub(super) key: [u8; 32],
    rotations: usize,
    /// The raw `exp` claim every token minted by the API carries, whatever
    /// `expiration` asked (see [`FakeTurso::set_exp_claim`]).
    exp_claim: Option<Value>,
    delete_protection: bool,
}

pub(super) struct Database {
    pub(super) group: String,
    /// `DbId`, and the `id` claim of the database's tokens.
    pub(super) id: String,
    /// The database's own signing key, replaced by its `auth/rotate`.
    pub(super) key: [u8; 32],
    rotations: usize,
    /// `127.0.0.1:PORT` of the database's own libSQL listener.
    host: String,
    single_rotation_refused: bool,
    /// The database's configuration, as `GET …/configuration` answers it.
    configuration: Value,
}

pub(super) struct State {
    org: String,
    api_token: String,
    /// `exp` of `GET /v1/auth/validate`.
    api_token_exp: i64,
    pub(super) groups: BTreeMap<String, Group>,
    pub(super) databases: BTreeMap<String, Database>,
    denied: Vec<(Option<String>, String)>,
    pub(super) propagation_delay: usize,
    /// pipeline calls seen per `Authorization` header, for `propagation_delay`
    pub(super) pipeline_calls: HashMap<String, usize>,
    pub(super) libsql_errors: LibsqlErrors,
}

/// The fake Turso server. Derefs to [`Server`] for `url()`, `fault()`,
/// `requests()`, `connections()` and the rest of the shared plumbing.
pub struct FakeTurso {
    server: Server,
    state: Arc<Mutex<State>>,
    /// Each database's own libSQL listener (its `Hostname`).
    hosts: Mutex<BTreeMap<String, Arc<Server>>>,
    journal: Mutex<Option<Journal>>,
}

impl Deref for FakeTurso {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.server
    }
}

impl FakeTurso {
    /// One organization, `org`, reachable with `Authorization: Bearer
    /// {api_token}`; add groups with [`FakeTurso::add_group`].
    pub fn start(org: &str, api_token: &str) -> FakeTurso {
        let state = Arc::new(Mutex::new(State {
            org: org.into(),
            api_token: api_token.into(),
            api_token_exp: -1,
            groups: BTreeMap::new(),
            databases: BTreeMap::new(),
            denied: Vec::new(),
            propagation_delay: 0,
            pipeline_calls: HashMap::new(),
            libsql_errors: LibsqlErrors::Text,
        }));
        let server = {
            let state = Arc::clone(&state);
            Server::start("turso", move |req| handle(&mut lock(&state), req))
        };
        FakeTurso {
            server,
            state,
            hosts: Mutex::new(BTreeMap::new()),
            journal: Mutex::new(None),
        }
    }

    /// Log into a journal shared with the other fake, for cross-API order
    /// (the databases' own listeners log there too, as `turso`).
    pub fn with_journal(self, journal: &Journal) -> FakeTurso {
        self.server.set_journal(journal);
        for host in lock(&self.hosts).values() {
            host.set_journal(journal);
        }
        *lock(&self.journal) = Some(journal.clone());
        self
    }

    /// A group with a fresh uuid and signing key, delete protection off.
    pub fn add_group(&self, name: &str) -> &FakeTurso {
        let uuid = uuid_v4();
        lock(&self.state).groups.insert(
            name.into(),
            Group {
                uuid,
                key: random_bytes(),
                rotations: 0,
                exp_claim: None,
                delete_protection: false,
            },
        );
        self
    }

    /// A database in `group`, served at [`FakeTurso::database_url`] and on
    /// a listener of its own, [`FakeTurso::database_host`] (its
    /// `Hostname`), both with `/v2/pipeline` under them.
    pub fn add_database(&self, group: &str, db: &str) -> &FakeTurso {
        assert!(lock(&self.state).groups.contains_key(group), "no group {group}");
        let host = {
            let state = Arc::clone(&self.state);
            let name = db.to_string();
            Server::start("turso", move |req| {
                let mut state = lock(&state);
                match req.segments().iter().map(String::as_str).collect::<Vec<_>>()[..] {
                    ["v2", "pipeline"] => libsql::pipeline(&mut state, &name, req),
                    _ => Reply::empty(404),
                }
            })
        };
        if let Some(journal) = &*lock(&self.journal) {
            host.set_journal(journal);
        }
        let database = Database {
            group: group.into(),
            id: uuid_v4(),
            key: random_bytes(),
            rotations: 0,
            host: format!("127.0.0.1:{}", host.port()),
            single_rotation_refused: false,
            configuration: json!({
                "size_limit": "0",
                "allow_attach": true,
                "block_reads": false,
                "block_writes": false,
                "delete_protection": false,
                "allowed_ips": [],
                "allowed_aws_vpc_ids": [],
            }),
        };
        lock(&self.state).databases.insert(db.into(), database);
        lock(&self.hosts).insert(db.into(), Arc::new(host));
        self
    }

    /// Where the database's libSQL endpoint is: stands in for
    /// `https://{db}-{org}.turso.io`, with `/v2/pipeline` under it.
    pub fn database_url(&self, db: &str) -> String {
        format!("{}/db/{db}", self.url())
    }

    /// The database's `Hostname` as `GET …/databases/{db}` answers it:
    /// `127.0.0.1:PORT`, a listener serving only that database's
    /// `/v2/pipeline` (so `http://{Hostname}` is its endpoint).
    pub fn database_host(&self, db: &str) -> String {
        self.with_database(db, |d| d.host.clone())
    }

    /// The database's own listener, for its requests and faults.
    pub fn database_server(&self, db: &str) -> Arc<Server> {
        let hosts = lock(&self.hosts);
        Arc::clone(hosts.get(db).unwrap_or_else(|| panic!("no database {db}")))
    }

    /// The database's `DbId`, as its tokens' `id` claim carries it.
    pub fn database_id(&self, db: &str) -> String {
        self.with_database(db, |d| d.id.clone())
    }

    /// How many times the database's own `auth/rotate` succeeded.
    pub fn database_rotations(&self, db: &str) -> usize {
        self.with_database(db, |d| d.rotations)
    }

    /// `POST …/databases/{db}/auth/rotate` answers 400 `{"error": "cannot
    /// rotate credentials for a single database in a group"}` and changes
    /// nothing, as for a database whose group only rotates as a whole.
    pub fn refuse_single_rotation(&self, db: &str) -> &FakeTurso {
        self.with_database(db, |d| d.single_rotation_refused = true);
        self
    }

    /// The database's configuration as `GET …/databases/{db}/configuration`
    /// answers it (`delete_protection`, `allowed_ips`, …).
    pub fn database_configuration(&self, db: &str) -> Value {
        self.with_database(db, |d| d.configuration.clone())
    }

    /// The database's allow rules (`allowed_ips`, `allowed_aws_vpc_ids`).
    pub fn set_allow_rules(&self, db: &str, ips: &[&str], vpc_ids: &[&str]) -> &FakeTurso {
        self.with_database(db, |d| {
            d.configuration["allowed_ips"] = json!(ips);
            d.configuration["allowed_aws_vpc_ids"] = json!(vpc_ids);
        });
        self
    }

    /// The database's own delete protection (in its `GET` answer and its
    /// configuration).
    pub fn set_database_delete_protection(&self, db: &str, on: bool) -> &FakeTurso {
        self.with_database(db, |d| d.configuration["delete_protection"] = json!(on));
        self
    }

    /// The group's delete protection (`GET …/groups/{g}/configuration`).
    pub fn set_delete_protection(&self, group: &str, on: bool) -> &FakeTurso {
        self.with_group(group, |g| g.delete_protection = on);
        self
    }

    /// The group's delete protection now (after any `PATCH`).
    pub fn delete_protection(&self, group: &str) -> bool {
        self.with_group(group, |g| g.delete_protection)
    }

    /// `GET /v1/auth/validate` answers `{"exp": exp}` (`-1`, the default,
    /// for an API token that never expires).
    pub fn set_api_token_exp(&self, exp: i64) -> &FakeTurso {
        lock(&self.state).api_token_exp = exp;
        self
    }

    /// The body shape of the libSQL endpoints' 401 refusals.
    pub fn libsql_errors(&self, shape: LibsqlErrors) -> &FakeTurso {
        lock(&self.state).libsql_errors = shape;
        self
    }

    /// Answer 403 to Platform API requests whose target contains
    /// `path_contains`, as for an API token that lacks the scope.
    pub fn deny(&self, path_contains: &str) -> &FakeTurso {
        lock(&self.state).denied.push((None, path_contains.into()));
        self
    }

    /// As [`FakeTurso::deny`], for one method only: `deny_method("PATCH",
    /// "/configuration")` is an API token without `group:configure` (or
    /// `db:configure`) that still reads.
    pub fn deny_method(&self, method: &str, path_contains: &str) -> &FakeTurso {
        lock(&self.state)
            .denied
            .push((Some(method.to_ascii_uppercase()), path_contains.into()));
        self
    }

    /// The first `n` pipeline calls made with each token answer 401, as
    /// while a new signing key propagates.
    pub fn propagation_delay(&self, n: usize) -> &FakeTurso {
        lock(&self.state).propagation_delay = n;
        self
    }

    /// Signed with the group's *current* key and not expired.
    pub fn token_valid(&self, group: &str, jwt: &str) -> bool {
        self.with_group(group, |g| verify(&g.key, jwt))
    }

    /// Whether database `db`'s endpoint accepts `jwt` (a group token of its
    /// group or one of its own, current and not expired).
    pub fn token_valid_for(&self, db: &str, jwt: &str) -> bool {
        let state = lock(&self.state);
        assert!(state.databases.contains_key(db), "no database {db}");
        libsql::authenticate(&state, db, Some(&format!("Bearer {jwt}"))).is_ok()
    }

    /// The JWT's payload. Panics on anything that is not a JWT.
    pub fn claims(&self, jwt: &str) -> Value {
        decode_claims(jwt).unwrap_or_else(|| panic!("not a JWT with a JSON payload"))
    }

    /// A full-access token that never expires, issued outside the API: the
    /// "old" token a test holds to see rotation kill it.
    pub fn issue_token(&self, group: &str) -> String {
        let uuid = self.group_uuid(group);
        self.issue_token_with(group, &json!({"iat": now(), "gid": uuid, "a": "rw"}))
    }

    /// A token with these claims signed with the group's current key: an
    /// expired one (`"exp": 1`), one naming another database (`"id": …`,
    /// which a database's endpoint refuses with 403).
    pub fn issue_token_with(&self, group: &str, claims: &Value) -> String {
        self.with_group(group, |g| sign(&g.key, claims))
    }

    /// A full-access token of the database alone, signed with its current
    /// key, as its `auth/tokens` would mint.
    pub fn issue_database_token(&self, db: &str) -> String {
        self.with_database(db, |d| sign(&d.key, &json!({"iat": now(), "id": d.id, "a": "rw"})))
    }

    /// Every token `auth/tokens` mints for the group (and its databases)
    /// from now on carries this raw `exp` claim, whatever `expiration`
    /// asked for: a server's nonsense (`300000000000`, past year 9999;
    /// `18446744073709551615`; `1e30`; `-5`) that the binary must survive.
    /// The token stays valid for the fake unless the claim is a past `u64`.
    pub fn set_exp_claim(&self, group: &str, exp: Value) -> &FakeTurso {
        self.with_group(group, |g| g.exp_claim = Some(exp));
        self
    }

    /// How many times `auth/rotate` succeeded for the group.
    pub fn rotations(&self, group: &str) -> usize {
        lock(&self.state).groups.get(group).map_or(0, |g| g.rotations)
    }

    /// The group's uuid, as the tokens' `gid` claim carries it.
    pub fn group_uuid(&self, group: &str) -> String {
        self.with_group(group, |g| g.uuid.clone())
    }

    fn with_group<T>(&self, group: &str, f: impl FnOnce(&mut Group) -> T) -> T {
        let mut state = lock(&self.state);
        f(state
            .groups
            .get_mut(group)
            .unwrap_or_else(|| panic!("no group {group}")))
    }

    fn with_database<T>(&self, db: &str, f: impl FnOnce(&mut Database) -> T) -> T {
        let mut state = lock(&self.state);
        f(state
            .databases
            .get_mut(db)
            .unwrap_or_else(|| panic!("no database {db}")))
    }
}

fn handle(state: &mut State, req: &Recorded) -> Reply {
    let segments = req.segments();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    if let ["db", db, "v2", "pipeline"] = segments[..] {
        return libsql::pipeline(state, db, req);
    }
    if segments.first() != Some(&"v1") {
        return error(404, "not found");
    }
    if req.header("authorization") != Some(&format!("Bearer {}", state.api_token)) {
        return error(401, "token is invalid or expired");
    }
    let line = req.line();
    let denied = state
        .denied
        .iter()
        .any(|(method, path)| method.as_ref().is_none_or(|m| *m == req.method) && line.contains(path.as_str()));
    if denied {
        return error(403, "forbidden: the API token lacks the scope for this operation");
    }
    match segments[1..] {
        ["auth", "validate"] => match req.method.as_str() {
            "GET" => Reply::json(200, &json!({"exp": state.api_token_exp})),
            _ => error(405, "method not allowed"),
        },
        ["organizations", org, "groups", name, ref rest @ ..] if org == state.org => {
            group_route(state, name, rest, req)
        }
        ["organizations", org, "databases", name, ref rest @ ..] if org == state.org => {
            database_route(state, name, rest, req)
        }
        ["organizations", _, "groups", _, ..] => error(404, "group not found"),
        ["organizations", _, "databases", name, ..] => database_not_found(name),
        _ => error(404, "not found"),
    }
}

fn group_route(state: &mut State, name: &str, rest: &[&str], req: &Recorded) -> Reply {
    let Some(group) = state.groups.get_mut(name) else {
        return error(404, "group not found");
    };
    match (req.method.as_str(), rest) {
        ("GET", []) => Reply::json(
            200,
            &json!({"group": {
                "name": name,
                "uuid": group.uuid,
                "locations": ["fra"],
                "primary": "fra",
                "archived": false,
                "delete_protection": group.delete_protection,
            }}),
        ),
        ("POST", ["auth", "rotate"]) => {
            group.key = random_bytes();
            group.rotations += 1;
            Reply::empty(200)
        }
        ("POST", ["auth", "tokens"]) => {
            let base = json!({"iat": now(), "gid": group.uuid});
            create_token(&group.key, base, group.exp_claim.as_ref(), req)
        }
        ("GET", ["configuration"]) => Reply::json(200, &json!({"delete_protection": group.delete_protection})),
        ("PATCH", ["configuration"]) => {
            let body = match configuration_input(req, &[("delete_protection", Kind::Bool)]) {
                Ok(body) => body,
                Err(reply) => return reply,
            };
            if let Some(on) = body["delete_protection"].as_bool() {
                group.delete_protection = on;
            }
            Reply::json(200, &json!({"delete_protection": group.delete_protection}))
        }
        (_, [] | ["auth", "rotate" | "tokens"] | ["configuration"]) => error(405, "method not allowed"),
        _ => error(404, "not found"),
    }
}

fn database_route(state: &mut State, name: &str, rest: &[&str], req: &Recorded) -> Reply {
    let Some(db) = state.databases.get_mut(name) else {
        return database_not_found(name);
    };
    let Some(group) = state.groups.get(&db.group) else {
        return database_not_found(name);
    };
    match (req.method.as_str(), rest) {
        ("GET", []) => Reply::json(
            200,
            &json!({"database": {
                "Name": name,
                "DbId": db.id,
                "Hostname": db.host,
                "block_reads": db.configuration["block_reads"],
                "block_writes": db.configuration["block_writes"],
                "regions": ["fra"],
                "primaryRegion": "fra",
                "group": db.group,
                "delete_protection": db.configuration["delete_protection"],
                "parent": null,
            }}),
        ),
        ("POST", ["auth", "rotate"]) if db.single_rotation_refused => {
            error(400, "cannot rotate credentials for a single database in a group")
        }
        ("POST", ["auth", "rotate"]) => {
            db.key = random_bytes();
            db.rotations += 1;
            Reply::empty(200)
        }
        ("POST", ["auth", "tokens"]) => {
            let base = json!({"iat": now(), "id": db.id});
            create_token(&db.key, base, group.exp_claim.as_ref(), req)
        }
        ("GET", ["configuration"]) => Reply::json(200, &db.configuration),
        ("PATCH", ["configuration"]) => {
            let fields = [
                ("size_limit", Kind::String),
                ("allow_attach", Kind::Bool),
                ("block_reads", Kind::Bool),
                ("block_writes", Kind::Bool),
                ("delete_protection", Kind::Bool),
                ("allowed_ips", Kind::Strings),
                ("allowed_aws_vpc_ids", Kind::Strings),
            ];
            let body = match configuration_input(req, &fields) {
                Ok(body) => body,
                Err(reply) => return reply,
            };
            for (field, _) in fields {
                if !body[field].is_null() {
                    db.configuration[field] = body[field].clone();
                }
            }
            Reply::json(200, &db.configuration)
        }
        (_, [] | ["auth", "rotate" | "tokens"] | ["configuration"]) => error(405, "method not allowed"),
        _ => error(404, "not found"),
    }
}

fn database_not_found(name: &str) -> Reply {
    error(
        404,
        &format!("could not find database with name {name}: record not found"),
    )
}

#[derive(Clone, Copy)]
enum Kind {
    Bool,
    String,
    Strings,
}

/// A required JSON object whose listed fields, where present, have their
/// schema's type.
fn configuration_input(req: &Recorded, fields: &[(&str, Kind)]) -> Result<Value, Reply> {
    let Some(body @ Value::Object(_)) = req.json() else {
        return Err(error(400, "invalid request body: a JSON object is required"));
    };
    for (field, kind) in fields {
        let ok = match (&body[*field], kind) {
            (Value::Null, _) | (Value::Bool(_), Kind::Bool) | (Value::String(_), Kind::String) => true,
            (Value::Array(items), Kind::Strings) => items.iter().all(Value::is_string),
            _ => false,
        };
        if !ok {
            return Err(error(400, &format!("invalid request body: invalid {field}")));
        }
    }
    Ok(body)
}

/// `auth/tokens` of a group or a database: `base` claims plus `a`, `exp`
/// and `p`, signed with `key`.
fn create_token(key: &[u8; 32], mut claims: Value, exp_claim: Option<&Value>, req: &Recorded) -> Reply {
    let expiration = req.query_param("expiration");
    let Some(lifetime) = parse_expiration(expiration.as_deref().unwrap_or("never")) else {
        return error(400, "Invalid expiration format");
    };
    let access = match req.query_param("authorization").as_deref() {
        None | Some("full-access") => "rw",
        Some("read-only") => "ro",
        Some(_) => return error(400, "invalid authorization: must be full-access or read-only"),
    };
    claims["a"] = json!(access);
    if let Some(seconds) = lifetime {
        claims["exp"] = json!(now() + seconds);
    }
    if let Some(exp) = exp_claim {
        claims["exp"] = exp.clone();
    }
    if !req.body.trim().is_empty() {
        match token_permissions(req) {
            Ok(Some(dbs)) => claims["p"] = json!({"roa": {"ns": dbs}}),
            Ok(None) => {}
            Err(reply) => return reply,
        }
    }
    Reply::json(200, &json!({"jwt": sign(key, &claims)}))
}

/// `CreateTokenInput`: `{"permissions": {"read_attach": {"databases":
/// [string]}}}`, every level an object where present.
fn token_permissions(req: &Recorded) -> Result<Option<Vec<Value>>, Reply> {
    let invalid = || error(400, "invalid permissions");
    let Some(body @ Value::Object(_)) = req.json() else {
        return Err(error(400, "invalid request body"));
    };
    let object_or_null = |v: &Value| v.is_null() || v.is_object();
    let permissions = &body["permissions"];
    let read_attach = &permissions["read_attach"];
    if !object_or_null(permissions) || !object_or_null(read_attach) {
        return Err(invalid());
    }
    match &read_attach["databases"] {
        Value::Null => Ok(None),
        Value::Array(dbs) if dbs.iter().all(Value::is_string) => Ok(Some(dbs.clone())),
        _ => Err(invalid()),
    }
}

fn error(status: u16, message: &str) -> Reply {
    Reply::json(status, &json!({ "error": message }))
}

/// `never` -> `Some(None)`; `2w1d30m` -> `Some(Some(seconds))`; anything
/// else -> `None`.
fn parse_expiration(text: &str) -> Option<Option<u64>> {
    if text == "never" {
        return Some(None);
    }
    let mut total = 0u64;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            'w' => 7 * 86_400,
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        let n: u64 = digits.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        digits.clear();
    }
    (digits.is_empty() && !text.is_empty()).then_some(Some(total))
}

fn uuid_v4() -> String {
    let mut b: [u8; 16] = random_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
