//! The HTTP plumbing both fakes share: a real TCP listener on loopback, a
//! request log, a cross-API journal and fault injection.
//!
//! The binary under test talks real HTTP/1.1 (octocrab over hyper, ureq), so
//! the fakes do too: anything less would not exercise its timeouts,
//! connection reuse or retry policy. Each fake supplies only a handler that
//! turns a [`Recorded`] request into a [`Reply`]; everything else lives here
//! once.

use std::collections::BTreeSet;
use std::io::Cursor;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crypto_box::aead::rand_core::RngCore;
use crypto_box::aead::OsRng;
use serde_json::Value;

/// How long a [`FaultAction::Hang`] holds a request at most. Far longer than
/// any client timeout the binary should use, so only its own timeout can end
/// the wait; the fake's drop releases it early.
const HANG_FOR: Duration = Duration::from_secs(600);

/// One request as the server saw it. Kept raw (path not decoded, body as
/// text) so tests can assert exactly what went over the wire.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// The raw (still percent-encoded) path, without the query string.
    pub path: String,
    /// The raw query string, without the `?`; empty when there is none.
    pub query: String,
    pub headers: Vec<(String, String)>,
    /// The body, lossily decoded as UTF-8.
    pub body: String,
    /// The client's port: one per TCP connection, so it tells connection
    /// reuse apart from reconnects.
    pub remote_port: u16,
    pub at: Instant,
}

impl Recorded {
    /// The first header of that name, compared case-insensitively as HTTP
    /// requires.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter, percent-decoded (`+` is a space, as in forms).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(&k.replace('+', " ")) == name).then(|| percent_decode(&v.replace('+', " ")))
        })
    }

    /// The path split into percent-decoded segments. Decoding happens after
    /// splitting, so an encoded `/` (`%2F`) stays inside its segment.
    pub fn segments(&self) -> Vec<String> {
        path_segments(&self.path)
    }

    /// The body parsed as JSON; `None` when empty or not JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// `METHOD /path?query`, for assertion messages.
    pub fn line(&self) -> String {
        if self.query.is_empty() {
            format!("{} {}", self.method, self.path)
        } else {
            format!("{} {}?{}", self.method, self.path, self.query)
        }
    }
}

/// What a handler answers.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: u16, value: &Value) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: value.to_string().into_bytes(),
        }
    }

    pub fn text(status: u16, text: &str) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
            body: text.as_bytes().to_vec(),
        }
    }

    /// No body at all (Turso's `auth/rotate` answers 200 like this).
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// What an injected fault does instead of the normal handler.
#[derive(Clone, Debug)]
pub enum FaultAction {
    /// Answer this status, body and extra headers (a 5xx, a 429 with
    /// `Retry-After`, a rate-limit 403…).
    Status {
        status: u16,
        body: String,
        headers: Vec<(String, String)>,
    },
    /// Accept the request and never answer, without blocking the server's
    /// other requests: only the client's own timeout ends it.
    Hang,
    /// Answer `bytes` bytes of binary noise that claims to be JSON, as a
    /// misbehaving proxy might: the client must neither choke on it nor
    /// paste it into its messages.
    Garbage { status: u16, bytes: usize },
    /// Do what the request asks (the normal handler runs and its effect
    /// stays), then lose the answer: reply `status` instead, as a gateway
    /// that timed out upstream does (502, 504).
    AfterActing { status: u16 },
    /// Wait this long, then answer as usual: a slow API, latency on demand.
    Delay(Duration),
}

impl FaultAction {
    /// The server acts on the request, then answers `status`.
    pub fn after_acting(status: u16) -> FaultAction {
        FaultAction::AfterActing { status }
    }

    /// A status with a body and no extra headers.
    pub fn status(status: u16, body: &str) -> FaultAction {
        FaultAction::Status {
            status,
            body: body.into(),
            headers: Vec::new(),
        }
    }

    /// A status with headers, such as `Retry-After` or GitHub's rate-limit ones.
    pub fn status_with(status: u16, body: &str, headers: &[(&str, &str)]) -> FaultAction {
        FaultAction::Status {
            status,
            body: body.into(),
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }
}

/// A fault: the next `times` requests whose method is `method` (`"*"` for
/// any) and whose target (`path?query`) contains `path_contains` get
/// `action` instead of the normal answer.
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: &'static str,
    pub path_contains: String,
    /// How many more requests it applies to; `usize::MAX` means always.
    pub times: usize,
    pub action: FaultAction,
}

impl Fault {
    /// A fault that fires once; chain [`Fault::times`] or [`Fault::always`].
    pub fn new(method: &'static str, path_contains: &str, action: FaultAction) -> Fault {
        Fault {
            method,
            path_contains: path_contains.into(),
            times: 1,
            action,
        }
    }

    pub fn times(mut self, times: usize) -> Fault {
        self.times = times;
        self
    }

    pub fn always(self) -> Fault {
        self.times(usize::MAX)
    }

    fn matches(&self, req: &Recorded) -> bool {
        self.times > 0
            && (self.method == "*" || self.method.eq_ignore_ascii_case(&req.method))
            && req.line().contains(&self.path_contains)
    }
}

/// A log shared by several servers, so a test can assert the order of calls
/// *across* APIs (the GitHub public key is fetched before Turso rotates).
/// Each entry carries the label of the server that saw it.
#[derive(Clone, Debug, Default)]
pub struct Journal(Arc<Mutex<Vec<(&'static str, Recorded)>>>);

impl Journal {
    pub fn new() -> Journal {
        Journal::default()
    }

    pub fn entries(&self) -> Vec<(&'static str, Recorded)> {
        lock(&self.0).clone()
    }

    /// `"label METHOD /path"` per request, in arrival order (queries left
    /// out, so assertions stay short).
    pub fn calls(&self) -> Vec<String> {
        lock(&self.0)
            .iter()
            .map(|(label, r)| format!("{label} {} {}", r.method, r.path))
            .collect()
    }

    /// Index of the first request to server `label` with that method whose
    /// target contains `path_contains`.
    pub fn position(&self, label: &str, method: &str, path_contains: &str) -> Option<usize> {
        lock(&self.0)
            .iter()
            .position(|(l, r)| *l == label && r.method.eq_ignore_ascii_case(method) && r.line().contains(path_contains))
    }

    pub fn clear(&self) {
        lock(&self.0).clear();
    }

    fn push(&self, label: &'static str, req: &Recorded) {
        lock(&self.0).push((label, req.clone()));
    }
}

type Handler = dyn Fn(&Recorded) -> Reply + Send + Sync;

/// Something a test does at the moment a request arrives (see
/// [`Server::on_request`]).
struct Hook {
    method: &'static str,
    path_contains: String,
    action: Box<dyn FnOnce() + Send>,
}

impl Hook {
    fn matches(&self, req: &Recorded) -> bool {
        (self.method == "*" || self.method.eq_ignore_ascii_case(&req.method))
            && req.line().contains(&self.path_contains)
    }
}

struct Inner {
    label: &'static str,
    http: tiny_http::Server,
    handler: Box<Handler>,
    log: Mutex<Vec<Recorded>>,
    faults: Mutex<Vec<Fault>>,
    journal: Mutex<Option<Journal>>,
    hooks: Mutex<Vec<Hook>>,
    /// When each request was answered, keyed by its arrival and client port.
    answers: Mutex<Vec<((Instant, u16), Instant)>>,
    stopping: AtomicBool,
}

/// A loopback HTTP server that records every request, applies faults, and
/// hands the rest to its handler. Each request runs on its own thread, so a
/// hanging one never holds up the others. Dropping it stops the server and
/// releases hung requests.
pub struct Server {
    inner: Arc<Inner>,
    port: u16,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `127.0.0.1:0` (a free port, so tests can run in parallel) and
    /// starts serving. `label` names this server in a [`Journal`].
    pub fn start(label: &'static str, handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Server {
        let http = tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = http
            .server_addr()
            .to_ip()
            .expect("a TCP listener has an IP address")
            .port();
        let inner = Arc::new(Inner {
            label,
            http,
            handler: Box::new(handler),
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            journal: Mutex::new(None),
            hooks: Mutex::new(Vec::new()),
            answers: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
        });
        let acceptor = {
            let inner = Arc::clone(&inner);
            thread::Builder::new()
                .name(format!("fake-{label}"))
                .spawn(move || accept_loop(&inner))
                .expect("spawn acceptor thread")
        };
        Server {
            inner,
            port,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn label(&self) -> &'static str {
        self.inner.label
    }

    /// Also log every request from now on into `journal`.
    pub fn set_journal(&self, journal: &Journal) {
        *lock(&self.inner.journal) = Some(journal.clone());
    }

    /// Queue a fault. Faults are tried in the order they were added, before
    /// the normal handler.
    pub fn fault(&self, fault: Fault) {
        lock(&self.inner.faults).push(fault);
    }

    /// How many queued faults have not fired their last time yet.
    pub fn pending_faults(&self) -> usize {
        lock(&self.inner.faults).iter().filter(|f| f.times > 0).count()
    }

    /// Run `action` once, when the first request whose method is `method`
    /// (`"*"` for any) and whose target contains `path_contains` arrives,
    /// before it is answered: a test can change the world at an exact point
    /// of the run (e.g. remove a directory after the preflight checked it).
    pub fn on_request(&self, method: &'static str, path_contains: &str, action: impl FnOnce() + Send + 'static) {
        lock(&self.inner.hooks).push(Hook {
            method,
            path_contains: path_contains.into(),
            action: Box::new(action),
        });
    }

    /// Queue `fault` once a request matching `method` and `path_contains`
    /// arrives (after it is answered normally): a fault for a later request
    /// of the same route (the write after the probe, say).
    pub fn fault_after(&self, method: &'static str, path_contains: &str, fault: Fault) {
        let inner = Arc::clone(&self.inner);
        self.on_request(method, path_contains, move || lock(&inner.faults).push(fault));
    }

    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
    }

    /// Every request so far, faulted ones included, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.inner.log).clone()
    }

    /// How many requests had this method (`"*"` for any) and a target
    /// containing `path_contains`.
    pub fn count(&self, method: &str, path_contains: &str) -> usize {
        lock(&self.inner.log)
            .iter()
            .filter(|r| (method == "*" || r.method.eq_ignore_ascii_case(method)) && r.line().contains(path_contains))
            .count()
    }

    /// The number of distinct TCP connections that carried a request (one
    /// client port per connection).
    pub fn connections(&self) -> usize {
        lock(&self.inner.log)
            .iter()
            .map(|r| r.remote_port)
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// Forget the requests seen so far (not the journal), e.g. after a
    /// test's own setup calls, so budgets count the binary's calls only.
    pub fn clear_requests(&self) {
        lock(&self.inner.log).clear();
        lock(&self.inner.answers).clear();
    }

    /// When this server had its answer to `req` (one of its requests, from
    /// its log or a journal) ready to send; `None` while it has none.
    pub fn answered_at(&self, req: &Recorded) -> Option<Instant> {
        lock(&self.inner.answers)
            .iter()
            .find(|(key, _)| *key == (req.at, req.remote_port))
            .map(|(_, at)| *at)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        self.inner.http.unblock();
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(inner: &Arc<Inner>) {
    while !inner.stopping.load(Ordering::SeqCst) {
        match inner.http.recv() {
            Ok(request) => {
                let inner = Arc::clone(inner);
                thread::spawn(move || serve(&inner, request));
            }
            // `unblock()` (our drop) or a failed accept: the loop condition
            // tells them apart.
            Err(_) => continue,
        }
    }
}

fn serve(inner: &Inner, mut request: tiny_http::Request) {
    let mut body = Vec::new();
    // A body that cannot be read is recorded as whatever arrived.
    let _ = request.as_reader().read_to_end(&mut body);
    let url = request.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let recorded = Recorded {
        method: request.method().as_str().to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers: request
            .headers()
            .iter()
            .map(|h| (h.field.as_str().to_string(), h.value.as_str().to_string()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
        remote_port: request.remote_addr().map_or(0, |a| a.port()),
        at: Instant::now(),
    };
    lock(&inner.log).push(recorded.clone());
    if let Some(journal) = lock(&inner.journal).as_ref() {
        journal.push(inner.label, &recorded);
    }

    let hook = {
        let mut hooks = lock(&inner.hooks);
        let index = hooks.iter().position(|h| h.matches(&recorded));
        index.map(|i| hooks.remove(i))
    };
    if let Some(hook) = hook {
        (hook.action)();
    }

    let reply = match take_fault(inner, &recorded) {
        None => (inner.handler)(&recorded),
        Some(FaultAction::Status { status, body, headers }) => Reply {
            status,
            headers,
            body: body.into_bytes(),
        },
        Some(FaultAction::Garbage { status, bytes }) => Reply {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: garbage(bytes),
        },
        Some(FaultAction::AfterActing { status }) => {
            let _ = (inner.handler)(&recorded);
            Reply {
                status,
                headers: Vec::new(),
                body: b"<html><body>upstream timed out</body></html>".to_vec(),
            }
        }
        Some(FaultAction::Delay(delay)) => {
            thread::sleep(delay);
            (inner.handler)(&recorded)
        }
        Some(FaultAction::Hang) => {
            let until = Instant::now() + HANG_FOR;
            while Instant::now() < until && !inner.stopping.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(25));
            }
            // Dropping the request makes tiny_http close it with a 500.
            return;
        }
    };
    // Before it is sent, so a client that has the answer finds it recorded.
    lock(&inner.answers).push(((recorded.at, recorded.remote_port), Instant::now()));
    respond(request, reply);
}

/// The first matching fault, counted down (and forgotten once spent).
fn take_fault(inner: &Inner, req: &Recorded) -> Option<FaultAction> {
    let mut faults = lock(&inner.faults);
    let index = faults.iter().position(|f| f.matches(req))?;
    let fault = &mut faults[index];
    if fault.times != usize::MAX {
        fault.times -= 1;
    }
    let action = fault.action.clone();
    if fault.times == 0 {
        faults.remove(index);
    }
    Some(action)
}

fn respond(request: tiny_http::Request, reply: Reply) {
    let length = reply.body.len();
    let mut response = tiny_http::Response::new(
        tiny_http::StatusCode(reply.status),
        Vec::new(),
        Cursor::new(reply.body),
        Some(length),
        None,
    );
    for (name, value) in &reply.headers {
        let header = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes())
            .unwrap_or_else(|()| panic!("invalid reply header {name}: {value}"));
        response.add_header(header);
    }
    // The client may have given up (timeouts are part of the tests).
    let _ = request.respond(response);
}

/// Noise that is neither JSON nor UTF-8, different on every call.
fn garbage(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    OsRng.fill_bytes(&mut bytes);
    if let Some(first) = bytes.first_mut() {
        // 0xFF never starts JSON nor a UTF-8 character.
        *first = 0xFF;
    }
    bytes
}

/// `N` bytes from the OS's CSPRNG: key material and ids for the fakes.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A raw path split at `/` into percent-decoded segments, empty ones
/// dropped. Decoding after splitting keeps an encoded `/` in its segment.
pub fn path_segments(path: &str) -> Vec<String> {
    path.split('/').filter(|s| !s.is_empty()).map(percent_decode).collect()
}

/// Decodes `%XX` escapes; malformed escapes are kept as they are, and the
/// result is lossily UTF-8, which is all a fake needs.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Locks, ignoring poisoning: a test that panicked while holding a fake's
/// lock must not turn every later assertion into a second, confusing panic.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
