//! Holds a recorded request against the API owner's description of it: the
//! trimmed OpenAPI 3 documents in `../shared/api` (see the README there).
//!
//! [`Api::check`] finds the operation (method and path template, matched
//! against the end of the path so a base path or a database URL's path may
//! come before it), then checks the path parameters (percent-decoded), the
//! query parameters, the headers named by the document's `x-check-headers`
//! and the JSON body against the operation's `requestBody` schema. What it
//! finds is a [`Finding`]: a FAIL where the document refuses the request, a
//! NOTE where the document's own extensions (`x-server-accepts-missing`,
//! `x-trimmed`) say the owner's server is more lenient, or where a rule
//! cannot be checked here.
//!
//! The schema subset is the one these documents use: `$ref`, `type`,
//! `nullable`, `enum`, `properties`, `required`, `additionalProperties`,
//! `minProperties`/`maxProperties`, `items`, `minItems`/`maxItems`,
//! `uniqueItems`, `minLength`/`maxLength`, `pattern`, `minimum`/`maximum`,
//! `oneOf`/`anyOf`/`allOf` and `x-exactly-one-of`. Values are never put in a
//! finding's text (bodies carry tokens): only where and which rule.

use std::fmt;
use std::path::PathBuf;

use regex::Regex;
use serde_json::{Map, Value};

use super::server::{percent_decode, Recorded};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Fail,
    Note,
}

/// One thing the checker found in one request.
#[derive(Clone, Debug)]
pub struct Finding {
    pub level: Level,
    /// The document's `x-api`.
    pub api: String,
    /// The operation matched, if any.
    pub operation: Option<String>,
    /// Where in the request: `/path/NAME`, `/query/NAME`, `/headers/NAME`,
    /// `/body/...` (a JSON pointer into the body) or `/route`.
    pub pointer: String,
    pub message: String,
    /// `METHOD /path?query` of the request.
    pub request: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Fail => "FAIL",
            Level::Note => "NOTE",
        };
        write!(
            f,
            "{level} {} {} at {}: {} ({})",
            self.api,
            self.operation.as_deref().unwrap_or("(no operation)"),
            self.pointer,
            self.message,
            self.request
        )
    }
}

/// What the schema walk collects, before it is tied to a request.
#[derive(Clone, Debug)]
struct Issue {
    level: Level,
    pointer: String,
    message: String,
}

fn fail(pointer: &str, message: impl Into<String>) -> Issue {
    Issue {
        level: Level::Fail,
        pointer: pointer.into(),
        message: message.into(),
    }
}

fn note(pointer: &str, message: impl Into<String>) -> Issue {
    Issue {
        level: Level::Note,
        pointer: pointer.into(),
        message: message.into(),
    }
}

fn fails(issues: &[Issue]) -> usize {
    issues.iter().filter(|i| i.level == Level::Fail).count()
}

/// One owner's document.
pub struct Api {
    pub name: String,
    doc: Value,
    /// The path of `servers[0].url` (`/client/v4`), without a trailing `/`.
    base: Vec<String>,
}

/// Every document in the shared directory, by `x-api`.
pub struct Apis(Vec<Api>);

impl Apis {
    /// The documents in `../shared/api` beside the crate (CI checks the
    /// shared directory out there); a worktree further down finds the one
    /// beside an ancestor.
    pub fn load() -> Apis {
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let dir = manifest
            .ancestors()
            .skip(1)
            .map(|a| a.join("shared/api"))
            .find(|d| d.is_dir())
            .unwrap_or_else(|| panic!("no shared/api beside {} or an ancestor", manifest.display()));
        let mut apis = Vec::new();
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                apis.push(Api::new(doc));
            }
        }
        apis.sort_by(|a, b| a.name.cmp(&b.name));
        Apis(apis)
    }

    pub fn get(&self, name: &str) -> &Api {
        self.0
            .iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("no API document with x-api {name}"))
    }

    /// Checks `req` against the first of `names` that has a route for its
    /// path; a request none of them has a route for is a FAIL.
    pub fn check(&self, names: &[&str], req: &Recorded) -> Vec<Finding> {
        for name in names {
            let api = self.get(name);
            if api.has_route(req) {
                return api.check(req);
            }
        }
        vec![Finding {
            level: Level::Fail,
            api: names.join("|"),
            operation: None,
            pointer: "/route".into(),
            message: "no operation of these APIs has this path".into(),
            request: req.line(),
        }]
    }
}

/// A path template split into segments: literal, or `{name}`.
enum Segment {
    Literal(String),
    Param(String),
}

fn template(path: &str) -> Vec<Segment> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => Segment::Param(name.into()),
            None => Segment::Literal(s.into()),
        })
        .collect()
}

/// A matched route: its template, its path parameters (raw segments) and
/// the operations its path item has.
struct Route<'a> {
    template: &'a str,
    item: &'a Value,
    params: Vec<(String, String)>,
    literals: usize,
    len: usize,
}

impl Api {
    pub fn new(doc: Value) -> Api {
        let name = doc["x-api"].as_str().expect("every document has x-api").to_string();
        let base = doc["servers"][0]["url"]
            .as_str()
            .and_then(|url| url.split_once("://").map(|(_, rest)| rest))
            .and_then(|rest| rest.find('/').map(|i| rest[i..].to_string()))
            .map(|path| path.split('/').filter(|s| !s.is_empty()).map(String::from).collect())
            .unwrap_or_default();
        Api { name, doc, base }
    }

    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        let mut value = value;
        // A chain of $refs ends; a loop would be a broken document.
        for _ in 0..16 {
            match value.get("$ref").and_then(Value::as_str) {
                Some(r) => {
                    let pointer = r
                        .strip_prefix('#')
                        .unwrap_or_else(|| panic!("{}: external $ref {r}", self.name));
                    value = self
                        .doc
                        .pointer(pointer)
                        .unwrap_or_else(|| panic!("{}: dangling $ref {r}", self.name));
                }
                None => return value,
            }
        }
        panic!("{}: $ref loop", self.name)
    }

    /// The raw path's segments after the server's base path (when the path
    /// starts with it), `None` when a segment is empty (`//`, a trailing `/`).
    fn segments(&self, req: &Recorded) -> Option<Vec<String>> {
        let raw = req.path.strip_prefix('/').unwrap_or(&req.path);
        let segments: Vec<String> = raw.split('/').map(String::from).collect();
        if segments.iter().any(String::is_empty) {
            return None;
        }
        Some(match segments.strip_prefix(self.base.as_slice()) {
            Some(rest) if !self.base.is_empty() => rest.to_vec(),
            _ => segments,
        })
    }

    /// The most specific route whose template matches the end of the path.
    fn route(&self, req: &Recorded) -> Option<Route<'_>> {
        let segments = self.segments(req)?;
        let paths = self.doc["paths"].as_object()?;
        let mut best: Option<Route> = None;
        for (path, item) in paths {
            let template = template(path);
            if template.len() > segments.len() {
                continue;
            }
            let tail = &segments[segments.len() - template.len()..];
            let mut params = Vec::new();
            let matched = template.iter().zip(tail).all(|(t, s)| match t {
                Segment::Literal(l) => l == s,
                Segment::Param(name) => {
                    params.push((name.clone(), s.clone()));
                    true
                }
            });
            if !matched {
                continue;
            }
            let literals = template.iter().filter(|t| matches!(t, Segment::Literal(_))).count();
            let better = best
                .as_ref()
                .is_none_or(|b| (template.len(), literals) > (b.len, b.literals));
            if better {
                best = Some(Route {
                    template: path,
                    item,
                    params,
                    literals,
                    len: template.len(),
                });
            }
        }
        best
    }

    /// The `operationId` the request is, if it is one of this API's.
    pub fn operation(&self, req: &Recorded) -> Option<String> {
        self.issues(req).0
    }

    pub fn has_route(&self, req: &Recorded) -> bool {
        self.route(req).is_some()
    }

    /// Every finding for `req`.
    pub fn check(&self, req: &Recorded) -> Vec<Finding> {
        let (operation, issues) = self.issues(req);
        issues
            .into_iter()
            .map(|i| Finding {
                level: i.level,
                api: self.name.clone(),
                operation: operation.clone(),
                pointer: i.pointer,
                message: i.message,
                request: req.line(),
            })
            .collect()
    }

    fn issues(&self, req: &Recorded) -> (Option<String>, Vec<Issue>) {
        let Some(route) = self.route(req) else {
            return (None, vec![fail("/route", "no operation has this path")]);
        };
        let method = req.method.to_ascii_lowercase();
        let Some(op) = route.item.get(&method).filter(|_| method != "parameters") else {
            let methods: Vec<String> = route
                .item
                .as_object()
                .map(|o| {
                    o.keys()
                        .filter(|k| *k != "parameters")
                        .map(|k| k.to_uppercase())
                        .collect()
                })
                .unwrap_or_default();
            let message = format!("{} has no {} (only {})", route.template, req.method, methods.join(", "));
            return (None, vec![fail("/route", message)]);
        };
        let op = self.versioned(op, req);
        let id = op["operationId"].as_str().map(String::from);
        let mut issues = Vec::new();
        let params = self.parameters(route.item, &op);
        self.check_path(&route, &params, &mut issues);
        self.check_query(req, &params, &mut issues);
        self.check_headers(req, &mut issues);
        self.check_body(req, &op, &mut issues);
        (id, issues)
    }

    /// The operation as of the request's `X-GitHub-Api-Version`: GitHub's
    /// `x-github-breaking-changes` patch the operation for later versions.
    fn versioned(&self, op: &Value, req: &Recorded) -> Value {
        let mut op = op.clone();
        let Some(version) = req.header("x-github-api-version") else {
            return op;
        };
        let changes = op["x-github-breaking-changes"].as_array().cloned().unwrap_or_default();
        for change in changes
            .iter()
            .filter(|c| c["version"].as_str().is_some_and(|v| v <= version))
        {
            for patch in change["patch"].as_array().into_iter().flatten() {
                let path = patch["path"].as_str().unwrap_or_default();
                let (parent, key) = path.rsplit_once('/').unwrap_or(("", path));
                let key = key.replace("~1", "/").replace("~0", "~");
                let Some(Value::Object(parent)) = op.pointer_mut(parent) else {
                    continue;
                };
                match patch["op"].as_str() {
                    Some("remove") => {
                        parent.remove(&key);
                    }
                    Some("add" | "replace") => {
                        parent.insert(key, patch["value"].clone());
                    }
                    other => panic!("{}: unknown patch op {other:?}", self.name),
                }
            }
        }
        op
    }

    /// The path item's parameters overridden by the operation's, resolved.
    fn parameters<'a>(&'a self, item: &'a Value, op: &'a Value) -> Vec<Value> {
        let mut params: Vec<Value> = Vec::new();
        let lists = [item.get("parameters"), op.get("parameters")];
        for p in lists.into_iter().flatten().filter_map(Value::as_array).flatten() {
            let p = self.resolve(p).clone();
            params.retain(|q| !(q["name"] == p["name"] && q["in"] == p["in"]));
            params.push(p);
        }
        params
    }

    fn check_path(&self, route: &Route, params: &[Value], issues: &mut Vec<Issue>) {
        for (name, raw) in &route.params {
            let pointer = format!("/path/{name}");
            let Some(param) = params.iter().find(|p| p["in"] == "path" && p["name"] == name.as_str()) else {
                issues.push(fail(&pointer, "the document declares no such path parameter"));
                continue;
            };
            let value = percent_decode(raw);
            if value.is_empty() {
                issues.push(fail(&pointer, "empty"));
            }
            self.param_value(&param["schema"], &value, &pointer, issues);
        }
    }

    fn check_query(&self, req: &Recorded, params: &[Value], issues: &mut Vec<Issue>) {
        let pairs: Vec<(String, String)> = req
            .query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (
                    percent_decode(&k.replace('+', " ")),
                    percent_decode(&v.replace('+', " ")),
                )
            })
            .collect();
        let declared: Vec<&Value> = params.iter().filter(|p| p["in"] == "query").collect();
        for param in &declared {
            let name = param["name"].as_str().unwrap_or_default();
            let pointer = format!("/query/{name}");
            let values: Vec<&String> = pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v).collect();
            if values.is_empty() {
                if param["required"] == true {
                    issues.push(fail(&pointer, "required query parameter missing"));
                }
                continue;
            }
            let schema = self.resolve(&param["schema"]);
            if values.len() > 1 && schema["type"] != "array" {
                issues.push(fail(
                    &pointer,
                    format!("given {} times, the document takes one", values.len()),
                ));
            }
            if param["deprecated"] == true || schema["deprecated"] == true {
                issues.push(note(&pointer, "deprecated parameter"));
            }
            for value in values {
                self.param_value(schema, value, &pointer, issues);
            }
        }
        for (name, _) in &pairs {
            if !declared.iter().any(|p| p["name"] == name.as_str()) {
                issues.push(fail(
                    &format!("/query/{name}"),
                    "query parameter the operation does not declare",
                ));
            }
        }
    }

    /// A path or query value (always text on the wire) against its schema:
    /// text that reads as the schema's type is that type. A value the text
    /// fits several ways (`12` for `oneOf: [integer, string]`) is fine.
    fn param_value(&self, schema: &Value, text: &str, pointer: &str, issues: &mut Vec<Issue>) {
        let schema = self.resolve(schema);
        let candidates = [
            typed(text, "integer"),
            typed(text, "number"),
            typed(text, "boolean"),
            Some(Value::String(text.into())),
        ];
        let results: Vec<Vec<Issue>> = candidates
            .into_iter()
            .flatten()
            .map(|value| {
                let mut found = Vec::new();
                self.validate(schema, &value, pointer, &mut found, Mode::Param);
                found
            })
            .collect();
        let best = results.into_iter().min_by_key(|found| fails(found)).unwrap_or_default();
        issues.extend(best);
    }

    fn check_headers(&self, req: &Recorded, issues: &mut Vec<Issue>) {
        let Some(rules) = self.doc["x-check-headers"].as_object() else {
            return;
        };
        for (name, rule) in rules {
            let pointer = format!("/headers/{name}");
            let Some(value) = req.header(name) else {
                if rule["required"] == true {
                    issues.push(fail(&pointer, "required header missing"));
                }
                continue;
            };
            if let Some(allowed) = rule["enum"].as_array() {
                if !allowed.iter().any(|a| a.as_str() == Some(value)) {
                    issues.push(fail(&pointer, format!("not one of {}", Value::Array(allowed.clone()))));
                }
            }
            if let Some(pattern) = rule["pattern"].as_str() {
                self.pattern(pattern, value, &pointer, issues);
            }
        }
    }

    fn pattern(&self, pattern: &str, value: &str, pointer: &str, issues: &mut Vec<Issue>) {
        match Regex::new(pattern) {
            Ok(re) if re.is_match(value) => {}
            Ok(_) => issues.push(fail(pointer, format!("does not match the pattern {pattern}"))),
            Err(_) => issues.push(note(pointer, format!("pattern {pattern} not checkable here"))),
        }
    }

    fn check_body(&self, req: &Recorded, op: &Value, issues: &mut Vec<Issue>) {
        let Some(body) = op.get("requestBody").map(|b| self.resolve(b)) else {
            if !req.body.is_empty() {
                issues.push(fail("/body", "a body, where the operation takes none"));
            }
            return;
        };
        if req.body.is_empty() {
            if body["required"] == true {
                issues.push(fail("/body", "required request body missing"));
            }
            return;
        }
        let content_type = req.header("content-type").unwrap_or_default();
        let media = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let Some(media_entry) = body["content"].get(&media) else {
            let known: Vec<&String> = body["content"]
                .as_object()
                .map(|o| o.keys().collect())
                .unwrap_or_default();
            issues.push(fail(
                "/headers/content-type",
                format!("{media:?} is not one of {known:?}"),
            ));
            return;
        };
        if !media.ends_with("json") {
            return;
        }
        let Ok(value) = serde_json::from_str::<Value>(&req.body) else {
            issues.push(fail("/body", "not JSON"));
            return;
        };
        self.validate(&media_entry["schema"], &value, "/body", issues, Mode::Body);
    }

    /// `value` at `pointer` against `schema`.
    fn validate(&self, schema: &Value, value: &Value, pointer: &str, issues: &mut Vec<Issue>, mode: Mode) {
        let schema = self.resolve(schema);
        let Some(s) = schema.as_object() else {
            return;
        };
        let lenient = s.contains_key("x-trimmed");
        if value.is_null() && s.get("nullable") == Some(&Value::Bool(true)) {
            return;
        }
        if let Some(kind) = s.get("type") {
            let kinds: Vec<&str> = match kind {
                Value::Array(k) => k.iter().filter_map(Value::as_str).collect(),
                k => k.as_str().into_iter().collect(),
            };
            if !kinds.iter().any(|k| is_type(value, k)) {
                issues.push(fail(
                    pointer,
                    format!("{} where the document wants {}", type_of(value), kinds.join(" or ")),
                ));
                return;
            }
        }
        if let Some(allowed) = s.get("enum").and_then(Value::as_array) {
            if !allowed.contains(value) {
                let shown = if mode == Mode::Param {
                    format!("{value} ")
                } else {
                    String::new()
                };
                issues.push(fail(
                    pointer,
                    format!("{shown}not one of {}", Value::Array(allowed.clone())),
                ));
            }
        }
        for (key, list) in [("allOf", true), ("anyOf", false), ("oneOf", false)] {
            let Some(branches) = s.get(key).and_then(Value::as_array) else {
                continue;
            };
            let results: Vec<Vec<Issue>> = branches
                .iter()
                .map(|b| {
                    let mut found = Vec::new();
                    self.validate(b, value, pointer, &mut found, mode);
                    found
                })
                .collect();
            let passing: Vec<&Vec<Issue>> = results.iter().filter(|r| fails(r) == 0).collect();
            if list {
                results.iter().for_each(|r| issues.extend(r.iter().cloned()));
            } else if passing.is_empty() {
                let closest = results.iter().min_by_key(|r| fails(r)).cloned().unwrap_or_default();
                let why: Vec<String> = closest
                    .iter()
                    .filter(|i| i.level == Level::Fail)
                    .map(|i| format!("{}: {}", i.pointer, i.message))
                    .collect();
                issues.push(fail(
                    pointer,
                    format!("matches none of {key} (closest: {})", why.join("; ")),
                ));
            } else if key == "oneOf" && passing.len() > 1 && mode == Mode::Body {
                issues.push(fail(pointer, format!("matches {} branches of oneOf", passing.len())));
            } else {
                issues.extend(passing[0].iter().cloned());
            }
        }
        match value {
            Value::String(text) => {
                let chars = text.chars().count() as u64;
                counted(s, ("minLength", "maxLength"), chars, "characters", pointer, issues);
                if let Some(pattern) = s.get("pattern").and_then(Value::as_str) {
                    self.pattern(pattern, text, pointer, issues);
                }
            }
            Value::Number(n) => {
                let n = n.as_f64().unwrap_or_default();
                if s.get("minimum").and_then(Value::as_f64).is_some_and(|min| n < min) {
                    issues.push(fail(pointer, format!("below minimum {}", s["minimum"])));
                }
                if s.get("maximum").and_then(Value::as_f64).is_some_and(|max| n > max) {
                    issues.push(fail(pointer, format!("above maximum {}", s["maximum"])));
                }
            }
            Value::Array(items) => {
                let len = items.len() as u64;
                counted(s, ("minItems", "maxItems"), len, "items", pointer, issues);
                if s.get("uniqueItems") == Some(&Value::Bool(true))
                    && items.iter().enumerate().any(|(i, a)| items[..i].contains(a))
                {
                    issues.push(fail(pointer, "items repeat where uniqueItems"));
                }
                if let Some(item_schema) = s.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.validate(item_schema, item, &format!("{pointer}/{i}"), issues, mode);
                    }
                }
            }
            Value::Object(fields) => self.validate_object(s, fields, pointer, issues, mode, lenient),
            _ => {}
        }
    }

    fn validate_object(
        &self,
        s: &Map<String, Value>,
        fields: &Map<String, Value>,
        pointer: &str,
        issues: &mut Vec<Issue>,
        mode: Mode,
        lenient: bool,
    ) {
        let at = |key: &str| format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
        let accepts_missing: Vec<&str> = s
            .get("x-server-accepts-missing")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for key in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if fields.contains_key(key) {
                continue;
            }
            if accepts_missing.contains(&key) {
                issues.push(note(
                    &at(key),
                    "required field missing; the reference server accepts it missing",
                ));
            } else if lenient {
                issues.push(note(&at(key), "required field missing (schema trimmed)"));
            } else {
                issues.push(fail(&at(key), "required field missing"));
            }
        }
        let len = fields.len() as u64;
        counted(
            s,
            ("minProperties", "maxProperties"),
            len,
            "properties",
            pointer,
            issues,
        );
        if let Some(one) = s.get("x-exactly-one-of").and_then(Value::as_array) {
            let present = one
                .iter()
                .filter_map(Value::as_str)
                .filter(|k| fields.get(*k).is_some_and(|v| !v.is_null()))
                .count();
            if present != 1 {
                issues.push(fail(
                    pointer,
                    format!(
                        "{present} of {} present, exactly one must be",
                        Value::Array(one.clone())
                    ),
                ));
            }
        }
        let properties = s.get("properties").and_then(Value::as_object);
        for (key, field) in fields {
            if let Some(schema) = properties.and_then(|p| p.get(key)) {
                self.validate(schema, field, &at(key), issues, mode);
                continue;
            }
            match s.get("additionalProperties") {
                Some(Value::Bool(false)) if lenient => {
                    issues.push(note(&at(key), "field the document does not list (schema trimmed)"))
                }
                Some(Value::Bool(false)) => issues.push(fail(&at(key), "field the document does not allow")),
                Some(Value::Object(schema)) => {
                    self.validate(&Value::Object(schema.clone()), field, &at(key), issues, mode)
                }
                Some(_) => {}
                // Allowed by JSON Schema, but a misspelt field would pass
                // unseen: say so where the document lists the fields.
                None if properties.is_some() => {
                    issues.push(note(&at(key), "field the document does not list"));
                }
                None => {}
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A path or query value: text, shown in findings.
    Param,
    /// A JSON body: may carry tokens, never shown.
    Body,
}

fn typed(text: &str, kind: &str) -> Option<Value> {
    match kind {
        "integer" => text.parse::<i64>().ok().map(Value::from),
        "number" => text.parse::<f64>().ok().filter(|n| n.is_finite()).map(Value::from),
        "boolean" => match text {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        _ => None,
    }
}

fn is_type(value: &Value, kind: &str) -> bool {
    match kind {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "null" => value.is_null(),
        _ => true,
    }
}

fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A count (characters, items, properties) against the schema's lower and
/// upper bound keywords.
fn counted(
    s: &Map<String, Value>,
    (min, max): (&str, &str),
    n: u64,
    unit: &str,
    pointer: &str,
    issues: &mut Vec<Issue>,
) {
    if let Some(bound) = s.get(min).and_then(Value::as_u64).filter(|&b| n < b) {
        issues.push(fail(pointer, format!("{n} {unit}, fewer than {min} {bound}")));
    }
    if let Some(bound) = s.get(max).and_then(Value::as_u64).filter(|&b| n > b) {
        issues.push(fail(pointer, format!("{n} {unit}, more than {max} {bound}")));
    }
}
