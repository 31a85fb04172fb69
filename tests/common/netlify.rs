//! A fake Netlify API: sites, site environment variables and builds, as
//! strict as the sources allow.
//!
//! Routes (netlify/open-api `swagger.yml` @ 650803172c55, host
//! api.netlify.com, basePath `/api/v1`; statuses from
//! netlify/terraform-provider-netlify `openapi.json` @ 96104f1b26d4):
//! - `GET    /api/v1/sites/{site_id}` (getSite): the site with `id`,
//!   `name`, `account_id`, `account_slug`, `build_settings` (`repo_url`
//!   when a repository is linked, `{}` otherwise).
//! - `GET    /api/v1/accounts/{account_id}/env/{key}?site_id=` (getEnvVar):
//!   200 the `envVar` (`key`, `scopes`, `values[]` of `{id, context,
//!   value, context_parameter}`, `is_secret`, `updated_at`); 404 none.
//!   "With secrets, only the local development context values are readable
//!   from the UI, API, and CLI" (swagger `is_secret`): a secret's other
//!   values come back without `value`.
//! - `POST   /api/v1/accounts/{account_id}/env?site_id=` (createEnvVars):
//!   an array of `{key, scopes?, values: [envVarValue], is_secret?}`; 201
//!   the created `envVar`s; 409 "key already exists on site/team".
//! - `PATCH  /api/v1/accounts/{account_id}/env/{key}?site_id=`
//!   (setEnvVarValue): `{context, context_parameter?, value, is_secret?}`,
//!   "updates or creates a new value for an existing environment
//!   variable"; 201 the `envVar` (swagger; the provider lists 200).
//! - `PUT    /api/v1/accounts/{account_id}/env/{key}?site_id=`
//!   (updateEnvVar): "existing values will be replaced by values provided".
//!   Accepted and recorded ([`FakeNetlify::puts`]): the action must never
//!   send it, since it drops every context it does not name.
//! - `DELETE /api/v1/accounts/{account_id}/env/{key}?site_id=`
//!   (deleteEnvVar): 204; 404 none.
//! - `POST   /api/v1/sites/{site_id}/builds` (createSiteBuild): a build of
//!   the production branch from the linked repository; the body is empty,
//!   a zip or multipart (no JSON). 200 the `build`.
//!
//! `account_id` is the site's `account_slug`, as netlify/cli's
//! `env-set.ts` passes it; another account answers 404. `context` is one of
//! swagger's enum (`all`, `dev`, `dev-server`, `branch-deploy`,
//! `deploy-preview`, `production`, `branch`), `branch` only with a
//! `context_parameter` ("`branch` must be provided with a value in
//! `context_parameter`"); scopes are swagger's enum plus the
//! `post_processing` the API answers (netlify/cli `src/utils/env/index.ts`).
//! Errors are swagger's `error`: `{"code", "message"}`. Auth is
//! `Authorization: Bearer <token>` (securityDefinitions; the provider's
//! `bearerAuth`): otherwise 401.
//!
//! Refusals read from netlify/cli `env-set.ts` (client-side there, 422
//! here, the provider's "catchall"): a secret value for context `all` or
//! `dev` ("To set a secret environment variable value, please specify a
//! non-development context"), a secret in the `post-processing` scope.
//! Assumptions beyond the sources, each a refusal the action must never
//! meet: a request without `site_id` (account-level variables are not
//! faked) answers 422; a value given twice for one context answers 422; a
//! PATCH of one context of a variable that has an `all` value answers 422;
//! a build of a site without a linked repository answers 422 (Netlify
//! builds sites from their repository; the message is ours).
//!
//! Netlify sends `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
//! `X-RateLimit-Reset` (Unix seconds) and no `Retry-After`:
//! [`FakeNetlify::rate_limit`] answers 429 so.

use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::{json, Value};

use super::server::{lock, random_bytes, Fault, FaultAction, Journal, Recorded, Reply, Server};

pub const CONTEXTS: [&str; 7] = [
    "all",
    "dev",
    "dev-server",
    "branch-deploy",
    "deploy-preview",
    "production",
    "branch",
];
pub const SCOPES: [&str; 5] = ["builds", "functions", "runtime", "post-processing", "post_processing"];

/// One value of a variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvValue {
    pub id: String,
    pub context: String,
    pub context_parameter: Option<String>,
    pub value: String,
}

/// One site variable, its values kept in clear for assertions. Build one
/// with [`EnvVar::new`] to seed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvVar {
    pub key: String,
    pub is_secret: bool,
    pub scopes: Vec<String>,
    pub values: Vec<EnvValue>,
    /// RFC 3339, as the API answers it.
    pub updated_at: String,
}

impl EnvVar {
    /// A secret variable with no values yet, updated now, in every scope a
    /// secret may have.
    pub fn new(key: &str) -> EnvVar {
        EnvVar {
            key: key.into(),
            is_secret: true,
            scopes: vec!["builds".into(), "functions".into(), "runtime".into()],
            values: Vec::new(),
            updated_at: now(),
        }
    }

    /// A value for `context`.
    pub fn value(mut self, context: &str, value: &str) -> EnvVar {
        self.values.push(EnvValue {
            id: random_id(),
            context: context.into(),
            context_parameter: None,
            value: value.into(),
        });
        self
    }

    /// A value for one branch (`context: branch`).
    pub fn branch(mut self, branch: &str, value: &str) -> EnvVar {
        self.values.push(EnvValue {
            id: random_id(),
            context: "branch".into(),
            context_parameter: Some(branch.into()),
            value: value.into(),
        });
        self
    }

    /// Not a secret: its values are readable.
    pub fn plain(mut self) -> EnvVar {
        self.is_secret = false;
        self
    }

    pub fn updated_at(mut self, at: &str) -> EnvVar {
        self.updated_at = at.into();
        self
    }

    /// The value `context` holds (not a branch's).
    pub fn get(&self, context: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|v| v.context == context && v.context_parameter.is_none())
            .map(|v| v.value.as_str())
    }

    /// As the API shows it: a secret's values hidden but for `dev`.
    fn json(&self) -> Value {
        let values: Vec<Value> = self
            .values
            .iter()
            .map(|v| {
                let mut value = json!({"id": v.id, "context": v.context});
                if let Some(p) = &v.context_parameter {
                    value["context_parameter"] = json!(p);
                }
                if !self.is_secret || v.context == "dev" {
                    value["value"] = json!(v.value);
                }
                value
            })
            .collect();
        json!({
            "key": self.key,
            "scopes": self.scopes,
            "values": values,
            "is_secret": self.is_secret,
            "updated_at": self.updated_at,
            "updated_by": {"id": "user_fake", "full_name": "Fake User", "email": "fake@example.com"},
        })
    }
}

/// A build the fake accepted.
#[derive(Clone, Debug)]
pub struct Build {
    pub id: String,
    pub site_id: String,
    /// The query string as sent (`branch`, `clear_cache`…).
    pub query: String,
}

struct Site {
    id: String,
    name: String,
    account_slug: String,
    repo_url: Option<String>,
    vars: Vec<EnvVar>,
}

struct State {
    token: String,
    sites: Vec<Site>,
    builds: Vec<Build>,
    /// Every `PUT` (updateEnvVar) received.
    puts: Vec<Recorded>,
}

/// The fake Netlify API. Derefs to [`Server`] for `fault()`, `requests()`,
/// `count()` and the rest of the shared plumbing.
pub struct FakeNetlify {
    server: Server,
    state: Arc<Mutex<State>>,
}

impl Deref for FakeNetlify {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.server
    }
}

impl FakeNetlify {
    /// Accepts `Authorization: Bearer {token}`. Journal label: `netlify`.
    pub fn start(token: &str) -> FakeNetlify {
        let state = Arc::new(Mutex::new(State {
            token: token.into(),
            sites: Vec::new(),
            builds: Vec::new(),
            puts: Vec::new(),
        }));
        let server = {
            let state = Arc::clone(&state);
            Server::start("netlify", move |req| handle(&mut lock(&state), req))
        };
        FakeNetlify { server, state }
    }

    pub fn with_journal(self, journal: &Journal) -> FakeNetlify {
        self.server.set_journal(journal);
        self
    }

    /// What `netlify-api-url` should be (ends in `/api/v1`).
    pub fn api_url(&self) -> String {
        format!("{}/api/v1", self.url())
    }

    /// A site of account `account_slug`, linked to `repo_url` or to none.
    pub fn add_site(&self, id: &str, name: &str, account_slug: &str, repo_url: Option<&str>) {
        lock(&self.state).sites.push(Site {
            id: id.into(),
            name: name.into(),
            account_slug: account_slug.into(),
            repo_url: repo_url.map(str::to_owned),
            vars: Vec::new(),
        });
    }

    /// Seeds a variable as given, with no check at all (a test may set up
    /// what the API would refuse to create but what exists anyway).
    pub fn add_var(&self, site: &str, var: EnvVar) {
        let mut state = lock(&self.state);
        let site = site_mut(&mut state, site);
        site.vars.retain(|v| v.key != var.key);
        site.vars.push(var);
    }

    /// The site's variable `key`, values in clear.
    pub fn var(&self, site: &str, key: &str) -> Option<EnvVar> {
        let mut state = lock(&self.state);
        site_mut(&mut state, site).vars.iter().find(|v| v.key == key).cloned()
    }

    /// Every `PUT` (updateEnvVar) received, which the action must never send.
    pub fn puts(&self) -> Vec<Recorded> {
        lock(&self.state).puts.clone()
    }

    /// Every build accepted, in order.
    pub fn builds(&self) -> Vec<Build> {
        lock(&self.state).builds.clone()
    }

    /// The next `times` requests with that method and path fragment answer
    /// 429 as Netlify does: rate-limit headers with the reset at
    /// `reset_unix` (seconds), no `Retry-After`.
    pub fn rate_limit(&self, method: &'static str, path_contains: &str, times: usize, reset_unix: u64) {
        let reset = reset_unix.to_string();
        let body = error_body(429, "Rate limit exceeded");
        let headers = [
            ("Content-Type", "application/json"),
            ("X-RateLimit-Limit", "500"),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", reset.as_str()),
        ];
        self.fault(Fault::new(method, path_contains, FaultAction::status_with(429, &body, &headers)).times(times));
    }
}

fn site_mut<'a>(state: &'a mut State, id: &str) -> &'a mut Site {
    state
        .sites
        .iter_mut()
        .find(|s| s.id == id)
        .unwrap_or_else(|| panic!("add_site({id:?}) first"))
}

/// Netlify's error body, as text (for faults).
pub fn error_body(code: u16, message: &str) -> String {
    json!({"code": code, "message": message}).to_string()
}

fn error(status: u16, message: &str) -> Reply {
    Reply::json(status, &json!({"code": status, "message": message}))
}

fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

fn random_id() -> String {
    random_bytes::<12>().iter().map(|b| format!("{b:02x}")).collect()
}

fn handle(state: &mut State, req: &Recorded) -> Reply {
    let authorized = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .is_some_and(|t| t == state.token);
    if !authorized {
        return error(401, "Access Denied: Invalid token");
    }
    let segments = req.segments();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (req.method.as_str(), &segments[..]) {
        ("GET", ["api", "v1", "sites", site]) => get_site(state, site),
        ("POST", ["api", "v1", "sites", site, "builds"]) => create_build(state, site, req),
        (method, ["api", "v1", "accounts", account, "env", rest @ ..]) => {
            let Some(site_id) = req.query_param("site_id") else {
                return error(422, "site_id is required: this API holds site variables only");
            };
            let Some(index) = state
                .sites
                .iter()
                .position(|s| s.id == site_id && s.account_slug == *account)
            else {
                return error(404, "Not Found");
            };
            match (method, rest) {
                ("POST", []) => create_vars(&mut state.sites[index], req),
                ("GET", [key]) => match state.sites[index].vars.iter().find(|v| v.key == *key) {
                    Some(var) => Reply::json(200, &var.json()),
                    None => error(404, "Not Found"),
                },
                ("PATCH", [key]) => set_value(&mut state.sites[index], key, req),
                ("PUT", [key]) => {
                    state.puts.push(req.clone());
                    update_var(&mut state.sites[index], key, req)
                }
                ("DELETE", [key]) => {
                    let vars = &mut state.sites[index].vars;
                    match vars.iter().position(|v| v.key == *key) {
                        Some(i) => {
                            vars.remove(i);
                            Reply::empty(204)
                        }
                        None => error(404, "Not Found"),
                    }
                }
                _ => error(404, "Not Found"),
            }
        }
        _ => error(404, "Not Found"),
    }
}

fn get_site(state: &State, id: &str) -> Reply {
    let Some(site) = state.sites.iter().find(|s| s.id == id) else {
        return error(404, "Not Found");
    };
    let build_settings = match &site.repo_url {
        Some(url) => json!({"provider": "github", "repo_url": url, "repo_branch": "main", "cmd": "npm run build"}),
        None => json!({}),
    };
    Reply::json(
        200,
        &json!({
            "id": site.id,
            "name": site.name,
            "url": format!("https://{}.netlify.app", site.name),
            "account_id": format!("acc_{}", site.account_slug),
            "account_name": site.account_slug,
            "account_slug": site.account_slug,
            "build_settings": build_settings,
        }),
    )
}

/// One `envVarValue` of a request, checked.
fn parse_value(value: &Value, is_secret: bool) -> Result<EnvValue, Reply> {
    let Some(value) = value.as_object() else {
        return Err(error(422, "values must be objects"));
    };
    let context = match value.get("context") {
        Some(Value::String(c)) if CONTEXTS.contains(&c.as_str()) => c.clone(),
        _ => {
            return Err(error(
                422,
                "context must be one of all, dev, dev-server, branch-deploy, deploy-preview, production, branch",
            ))
        }
    };
    let context_parameter = match value.get("context_parameter") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.is_empty() => None,
        Some(Value::String(p)) => Some(p.clone()),
        Some(_) => return Err(error(422, "context_parameter must be a string")),
    };
    if (context == "branch") != context_parameter.is_some() {
        return Err(error(
            422,
            "context branch must be given with a context_parameter, and only it",
        ));
    }
    let value_text = match value.get("value") {
        Some(Value::String(v)) => v.clone(),
        _ => return Err(error(422, "value must be a string")),
    };
    if is_secret && (context == "all" || context == "dev") {
        return Err(error(
            422,
            "To set a secret environment variable value, please specify a non-development context",
        ));
    }
    Ok(EnvValue {
        id: random_id(),
        context,
        context_parameter,
        value: value_text,
    })
}

fn parse_values(values: Option<&Value>, is_secret: bool) -> Result<Vec<EnvValue>, Reply> {
    let items = match values {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(error(422, "values must be an array")),
    };
    let mut out: Vec<EnvValue> = Vec::new();
    for item in items {
        let value = parse_value(item, is_secret)?;
        if out
            .iter()
            .any(|v| v.context == value.context && v.context_parameter == value.context_parameter)
        {
            return Err(error(422, "a context may have only one value"));
        }
        out.push(value);
    }
    Ok(out)
}

fn parse_scopes(scopes: Option<&Value>, is_secret: bool) -> Result<Vec<String>, Reply> {
    let Some(scopes) = scopes else {
        let all = ["builds", "functions", "runtime"];
        let mut out: Vec<String> = all.iter().map(|s| s.to_string()).collect();
        if !is_secret {
            out.push("post_processing".into());
        }
        return Ok(out);
    };
    let Some(items) = scopes.as_array() else {
        return Err(error(422, "scopes must be an array"));
    };
    let mut out = Vec::new();
    for item in items {
        match item.as_str() {
            Some(s) if SCOPES.contains(&s) => {
                if is_secret && s.starts_with("post") {
                    return Err(error(
                        422,
                        "Secret values cannot be used within the post-processing scope.",
                    ));
                }
                out.push(s.replace('-', "_"));
            }
            _ => {
                return Err(error(
                    422,
                    "scopes must be builds, functions, runtime or post-processing",
                ))
            }
        }
    }
    Ok(out)
}

fn parse_secret(value: Option<&Value>) -> Result<bool, Reply> {
    match value {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(error(422, "is_secret must be a boolean")),
    }
}

fn create_vars(site: &mut Site, req: &Recorded) -> Reply {
    let Some(Value::Array(items)) = req.json() else {
        return error(400, "the body must be an array of environment variables");
    };
    let mut news = Vec::new();
    for item in &items {
        let Some(item) = item.as_object() else {
            return error(400, "the body must be an array of environment variables");
        };
        let key = match item.get("key") {
            Some(Value::String(k)) if !k.is_empty() => k.clone(),
            _ => return error(422, "key is required"),
        };
        let is_secret = match parse_secret(item.get("is_secret")) {
            Ok(s) => s,
            Err(reply) => return reply,
        };
        let scopes = match parse_scopes(item.get("scopes"), is_secret) {
            Ok(s) => s,
            Err(reply) => return reply,
        };
        let values = match parse_values(item.get("values"), is_secret) {
            Ok(v) => v,
            Err(reply) => return reply,
        };
        if site.vars.iter().chain(&news).any(|v: &EnvVar| v.key == key) {
            return error(409, &format!("Environment variable {key} already exists"));
        }
        news.push(EnvVar {
            key,
            is_secret,
            scopes,
            values,
            updated_at: now(),
        });
    }
    let answer: Vec<Value> = news.iter().map(EnvVar::json).collect();
    site.vars.extend(news);
    Reply::json(201, &Value::Array(answer))
}

fn set_value(site: &mut Site, key: &str, req: &Recorded) -> Reply {
    let Some(var) = site.vars.iter_mut().find(|v| v.key == key) else {
        return error(404, "Not Found");
    };
    let Some(body @ Value::Object(_)) = req.json() else {
        return error(400, "the body must be an object");
    };
    let is_secret = match body.get("is_secret") {
        None => var.is_secret,
        other => match parse_secret(other) {
            Ok(s) => s,
            Err(reply) => return reply,
        },
    };
    let value = match parse_value(&body, is_secret) {
        Ok(v) => v,
        Err(reply) => return reply,
    };
    if value.context != "all" && var.values.iter().any(|v| v.context == "all") {
        return error(422, "the variable has a value for all contexts");
    }
    var.is_secret = is_secret;
    match var
        .values
        .iter_mut()
        .find(|v| v.context == value.context && v.context_parameter == value.context_parameter)
    {
        Some(existing) => existing.value = value.value,
        None => var.values.push(value),
    }
    var.updated_at = now();
    Reply::json(201, &var.json())
}

fn update_var(site: &mut Site, key: &str, req: &Recorded) -> Reply {
    let Some(position) = site.vars.iter().position(|v| v.key == key) else {
        return error(404, "Not Found");
    };
    let Some(body @ Value::Object(_)) = req.json() else {
        return error(400, "the body must be an object");
    };
    let is_secret = match parse_secret(body.get("is_secret")) {
        Ok(s) => s,
        Err(reply) => return reply,
    };
    let (scopes, values) = match (
        parse_scopes(body.get("scopes"), is_secret),
        parse_values(body.get("values"), is_secret),
    ) {
        (Ok(s), Ok(v)) => (s, v),
        (Err(reply), _) | (_, Err(reply)) => return reply,
    };
    let var = &mut site.vars[position];
    var.is_secret = is_secret;
    var.scopes = scopes;
    // "Existing values will be replaced by values provided."
    var.values = values;
    var.updated_at = now();
    Reply::json(200, &var.json())
}

fn create_build(state: &mut State, id: &str, req: &Recorded) -> Reply {
    let Some(site) = state.sites.iter().find(|s| s.id == id) else {
        return error(404, "Not Found");
    };
    let content_type = req.header("content-type").unwrap_or("");
    let zip = content_type.starts_with("application/zip") || content_type.starts_with("multipart/form-data");
    if !req.body.is_empty() && !zip {
        return error(
            400,
            "a build takes no body but a zip (application/zip or multipart/form-data)",
        );
    }
    if site.repo_url.is_none() && !zip {
        return error(422, "This site has no linked repository to build from");
    }
    let build = Build {
        id: random_id(),
        site_id: site.id.clone(),
        query: req.query.clone(),
    };
    state.builds.push(build.clone());
    Reply::json(
        200,
        &json!({"id": build.id, "deploy_id": random_id(), "sha": null, "done": false, "error": null, "created_at": now()}),
    )
}
