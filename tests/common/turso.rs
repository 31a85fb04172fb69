//! A fake Turso: the Platform API calls the action makes, and a libSQL
//! `/v2/pipeline` endpoint per database to verify tokens against.
//!
//! Tokens are real HS256 JWTs signed with a per-group key, and `auth/rotate`
//! really replaces that key. That is the point of the fake: a test can hold a
//! token from before the rotation and see it die, and can check that the
//! token the action wrote was created *after* the rotation (one created
//! before would be dead on arrival).

use std::collections::{BTreeMap, HashMap};
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::server::{lock, random_bytes, Journal, Recorded, Reply, Server};

type HmacSha256 = Hmac<Sha256>;

struct Group {
    uuid: String,
    /// The current signing key; replacing it is what invalidates tokens.
    key: [u8; 32],
    rotations: usize,
    /// The raw `exp` claim every token minted by the API carries, whatever
    /// `expiration` asked (see [`FakeTurso::set_exp_claim`]).
    exp_claim: Option<Value>,
}

struct State {
    org: String,
    api_token: String,
    groups: BTreeMap<String, Group>,
    /// database name -> group name
    databases: BTreeMap<String, String>,
    denied: Vec<String>,
    propagation_delay: usize,
    /// pipeline calls seen per token, for `propagation_delay`
    pipeline_calls: HashMap<String, usize>,
}

/// The fake Turso server. Derefs to [`Server`] for `url()`, `fault()`,
/// `requests()`, `connections()` and the rest of the shared plumbing.
pub struct FakeTurso {
    server: Server,
    state: Arc<Mutex<State>>,
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
            groups: BTreeMap::new(),
            databases: BTreeMap::new(),
            denied: Vec::new(),
            propagation_delay: 0,
            pipeline_calls: HashMap::new(),
        }));
        let server = {
            let state = Arc::clone(&state);
            Server::start("turso", move |req| handle(&mut lock(&state), req))
        };
        FakeTurso { server, state }
    }

    /// Log into a journal shared with the other fake, for cross-API order.
    pub fn with_journal(self, journal: &Journal) -> FakeTurso {
        self.server.set_journal(journal);
        self
    }

    /// A group with a fresh uuid and signing key.
    pub fn add_group(&self, name: &str) -> &FakeTurso {
        let uuid = uuid_v4();
        lock(&self.state).groups.insert(
            name.into(),
            Group {
                uuid,
                key: random_bytes(),
                rotations: 0,
                exp_claim: None,
            },
        );
        self
    }

    /// A database in `group`, served at [`FakeTurso::database_url`].
    pub fn add_database(&self, group: &str, db: &str) -> &FakeTurso {
        let mut state = lock(&self.state);
        assert!(state.groups.contains_key(group), "no group {group}");
        state.databases.insert(db.into(), group.into());
        drop(state);
        self
    }

    /// Where the database's libSQL endpoint is: stands in for
    /// `https://{db}-{org}.turso.io`, with `/v2/pipeline` under it.
    pub fn database_url(&self, db: &str) -> String {
        format!("{}/db/{db}", self.url())
    }

    /// Answer 403 to Platform API requests whose target contains
    /// `path_contains`, as for an API token that lacks the scope.
    pub fn deny(&self, path_contains: &str) -> &FakeTurso {
        lock(&self.state).denied.push(path_contains.into());
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
        let state = lock(&self.state);
        let group = state.groups.get(group).unwrap_or_else(|| panic!("no group {group}"));
        verify(group, jwt)
    }

    /// The JWT's payload. Panics on anything that is not a JWT.
    pub fn claims(&self, jwt: &str) -> Value {
        decode_claims(jwt).unwrap_or_else(|| panic!("not a JWT with a JSON payload"))
    }

    /// A full-access token that never expires, issued outside the API: the
    /// "old" token a test holds to see rotation kill it.
    pub fn issue_token(&self, group: &str) -> String {
        let state = lock(&self.state);
        let group = state.groups.get(group).unwrap_or_else(|| panic!("no group {group}"));
        sign(&group.key, &json!({"iat": now(), "gid": group.uuid, "a": "rw"}))
    }

    /// Every token `auth/tokens` mints for the group from now on carries
    /// this raw `exp` claim, whatever `expiration` asked for: a server's
    /// nonsense (`300000000000`, past year 9999; `18446744073709551615`;
    /// `1e30`; `-5`) that the binary must survive. The token stays valid
    /// for the fake unless the claim is a past `u64`.
    pub fn set_exp_claim(&self, group: &str, exp: Value) -> &FakeTurso {
        let mut state = lock(&self.state);
        let group = state
            .groups
            .get_mut(group)
            .unwrap_or_else(|| panic!("no group {group}"));
        group.exp_claim = Some(exp);
        drop(state);
        self
    }

    /// How many times `auth/rotate` succeeded for the group.
    pub fn rotations(&self, group: &str) -> usize {
        lock(&self.state).groups.get(group).map_or(0, |g| g.rotations)
    }

    /// The group's uuid, as the tokens' `gid` claim carries it.
    pub fn group_uuid(&self, group: &str) -> String {
        lock(&self.state)
            .groups
            .get(group)
            .map(|g| g.uuid.clone())
            .unwrap_or_else(|| panic!("no group {group}"))
    }
}

fn handle(state: &mut State, req: &Recorded) -> Reply {
    let segments = req.segments();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    if let ["db", db, "v2", "pipeline"] = segments[..] {
        return pipeline(state, db, req);
    }
    if segments.first() != Some(&"v1") {
        return error(404, "not found");
    }
    if req.header("authorization") != Some(&format!("Bearer {}", state.api_token)) {
        return error(401, "token is invalid or expired");
    }
    if state.denied.iter().any(|d| req.line().contains(d.as_str())) {
        return error(403, "forbidden: the API token lacks the scope for this operation");
    }
    let ["v1", "organizations", org, "groups", name, ref rest @ ..] = segments[..] else {
        return error(404, "not found");
    };
    if org != state.org || !state.groups.contains_key(name) {
        return error(404, "group not found");
    }
    match (req.method.as_str(), rest) {
        ("GET", []) => {
            let uuid = &state.groups[name].uuid;
            Reply::json(
                200,
                &json!({"group": {
                    "name": name,
                    "uuid": uuid,
                    "locations": ["fra"],
                    "primary": "fra",
                    "archived": false,
                }}),
            )
        }
        ("POST", ["auth", "rotate"]) => {
            let group = state.groups.get_mut(name).expect("checked above");
            group.key = random_bytes();
            group.rotations += 1;
            Reply::empty(200)
        }
        ("POST", ["auth", "tokens"]) => create_token(&state.groups[name], req),
        (_, [] | ["auth", "rotate" | "tokens"]) => error(405, "method not allowed"),
        _ => error(404, "not found"),
    }
}

fn create_token(group: &Group, req: &Recorded) -> Reply {
    let expiration = req.query_param("expiration");
    let Some(lifetime) = parse_expiration(expiration.as_deref().unwrap_or("never")) else {
        return error(400, "invalid expiration");
    };
    let access = match req.query_param("authorization").as_deref() {
        None | Some("full-access") => "rw",
        Some("read-only") => "ro",
        Some(_) => return error(400, "invalid authorization"),
    };
    let mut claims = json!({"iat": now(), "gid": group.uuid, "a": access});
    if let Some(seconds) = lifetime {
        claims["exp"] = json!(now() + seconds);
    }
    if let Some(exp) = &group.exp_claim {
        claims["exp"] = exp.clone();
    }
    if !req.body.trim().is_empty() {
        let Some(body) = req.json() else {
            return error(400, "invalid request body");
        };
        match &body["permissions"]["read_attach"]["databases"] {
            Value::Null => {}
            Value::Array(dbs) if dbs.iter().all(Value::is_string) => {
                claims["p"] = json!({"roa": {"ns": dbs}});
            }
            _ => return error(400, "invalid permissions"),
        }
    }
    Reply::json(200, &json!({"jwt": sign(&group.key, &claims)}))
}

/// The libSQL Hrana-over-HTTP pipeline, enough to run `SELECT 1`.
fn pipeline(state: &mut State, db: &str, req: &Recorded) -> Reply {
    if req.method != "POST" {
        return Reply::text(405, "Method Not Allowed");
    }
    let Some(group) = state.databases.get(db).and_then(|g| state.groups.get(g)) else {
        return Reply::text(404, "Namespace does not exist");
    };
    let token = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or("");
    let valid = verify(group, token) && decode_claims(token).is_some_and(|c| c["gid"] == group.uuid.as_str());
    if !valid {
        return Reply::text(401, "Unauthorized: the JWT is invalid or expired");
    }
    let seen = state.pipeline_calls.entry(token.to_string()).or_insert(0);
    *seen += 1;
    if *seen <= state.propagation_delay {
        return Reply::text(401, "Unauthorized: the JWT is invalid or expired");
    }
    let Some(Value::Array(requests)) = req.json().map(|b| b["requests"].clone()) else {
        return Reply::text(400, "Invalid request body");
    };
    if requests.iter().any(|r| r["type"] == "close") {
        // Turso's own local server answers a `close` in a pipeline like this.
        return Reply::text(500, "Internal Server Error");
    }
    let results: Vec<Value> = requests.iter().map(execute).collect();
    Reply::json(200, &json!({"baton": null, "base_url": null, "results": results}))
}

/// `SELECT 1` succeeds; any other statement is an SQL error, which libSQL
/// reports inside a 200 answer.
fn execute(request: &Value) -> Value {
    let sql = request["stmt"]["sql"].as_str().unwrap_or("");
    let normalized = sql.trim().trim_end_matches(';').trim().to_ascii_lowercase();
    if request["type"] != "execute" || normalized != "select 1" {
        return json!({"type": "error", "error": {
            "message": format!("SQLite error: cannot run {sql:?} here"),
            "code": "SQLITE_ERROR",
        }});
    }
    json!({"type": "ok", "response": {"type": "execute", "result": {
        "cols": [{"name": "1", "decltype": null}],
        "rows": [[{"type": "integer", "value": "1"}]],
        "affected_row_count": 0,
        "last_insert_rowid": null,
        "replication_index": null,
        "rows_read": 0,
        "rows_written": 0,
        "query_duration_ms": 0.0,
    }}})
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

fn sign(key: &[u8; 32], claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

fn verify(group: &Group, jwt: &str) -> bool {
    let Some((signing_input, signature)) = jwt.rsplit_once('.') else {
        return false;
    };
    let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(&group.key).expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    if mac.verify_slice(&signature).is_err() {
        return false;
    }
    let Some(claims) = decode_claims(jwt) else {
        return false;
    };
    claims["exp"].as_u64().is_none_or(|exp| now() < exp)
}

fn decode_claims(jwt: &str) -> Option<Value> {
    let payload = jwt.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
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
