//! A webhook receiver, standing in for a Slack incoming webhook, a Teams
//! Workflows URL or any HTTPS endpoint that takes a run's notification.
//!
//! It answers only at its own path (and query, when it has one), as such
//! URLs are credentials: a Slack hook's path is its secret, a Teams URL
//! carries a `sig` query. Every message it takes is recorded with its
//! headers and body, and, given a `whsec_…` secret, checked against the
//! Standard Webhooks signature scheme (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 over "{id}.{timestamp}.{body}">`);
//! a message that does not verify is answered 401, as a real receiver
//! would. Faults (a 500 every time…) come from the shared [`Server`].

use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::server::{lock, Journal, Recorded, Reply, Server};

type HmacSha256 = Hmac<Sha256>;

/// How far a `webhook-timestamp` may be from the receiver's clock, as the
/// Standard Webhooks reference libraries allow by default.
pub const TOLERANCE_SECONDS: i64 = 300;

/// One POST the receiver took (right path, JSON body).
#[derive(Clone, Debug)]
pub struct Message {
    pub headers: Vec<(String, String)>,
    /// The raw body, as signed.
    pub body: String,
    /// When it arrived, by the receiver's clock.
    pub received: SystemTime,
    /// `None` when the receiver has no secret; otherwise whether the
    /// signature matched and the timestamp was within
    /// [`TOLERANCE_SECONDS`].
    pub verified: Option<bool>,
}

impl Message {
    /// The first header of that name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON (the receiver takes nothing else).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("the receiver only records JSON bodies")
    }

    /// `webhook-id`.
    pub fn id(&self) -> Option<&str> {
        self.header("webhook-id")
    }

    /// `webhook-timestamp`, in Unix seconds.
    pub fn timestamp(&self) -> Option<i64> {
        self.header("webhook-timestamp").and_then(|t| t.trim().parse().ok())
    }

    /// How far `webhook-timestamp` is from the arrival time, in seconds.
    pub fn clock_skew(&self) -> Option<i64> {
        Some((self.timestamp()? - unix(self.received)).abs())
    }
}

struct State {
    path: String,
    /// The query the URL carries (without `?`); requests must match it.
    query: String,
    /// The decoded key of the `whsec_` secret.
    key: Option<Vec<u8>>,
    status: u16,
    messages: Vec<Message>,
}

/// The receiver. Derefs to [`Server`] for `fault()`, `requests()` (which
/// also holds refused and faulted requests), `count()` and the rest.
pub struct Webhook {
    server: Server,
    state: Arc<Mutex<State>>,
}

impl Deref for Webhook {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.server
    }
}

impl Webhook {
    /// Listens on loopback and takes POSTs at `path_and_query` only (e.g.
    /// `/hooks/T000/B000/XXXXsecretXXXX` or `/workflows/1/run?sig=abc`);
    /// anything else gets Slack's 404 `no_service`. Answers 200 `ok`.
    pub fn start(path_and_query: &str) -> Webhook {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        assert!(path.starts_with('/'), "the path starts with /");
        let state = Arc::new(Mutex::new(State {
            path: path.into(),
            query: query.into(),
            key: None,
            status: 200,
            messages: Vec::new(),
        }));
        let server = {
            let state = Arc::clone(&state);
            Server::start("webhook", move |req| handle(&mut lock(&state), req))
        };
        Webhook { server, state }
    }

    /// Log into a journal shared with the other fakes, for cross-API order.
    pub fn with_journal(self, journal: &Journal) -> Webhook {
        self.server.set_journal(journal);
        self
    }

    /// Verify every message against this Standard Webhooks secret
    /// (`whsec_<base64 key>`); one that does not verify is answered 401.
    pub fn signed_with(self, secret: &str) -> Webhook {
        let key = secret_key(secret).unwrap_or_else(|| panic!("not a whsec_<base64> secret"));
        lock(&self.state).key = Some(key);
        self
    }

    /// Answer this 2xx status instead of 200 (Teams Workflows answer 202).
    pub fn answering(self, status: u16) -> Webhook {
        lock(&self.state).status = status;
        self
    }

    /// The full URL to give `notify-url`: path and query included.
    pub fn notify_url(&self) -> String {
        let state = lock(&self.state);
        if state.query.is_empty() {
            format!("{}{}", self.server.url(), state.path)
        } else {
            format!("{}{}?{}", self.server.url(), state.path, state.query)
        }
    }

    /// The messages taken (answered with the receiver's status or 401 for
    /// a bad signature), in arrival order. Faulted requests are not here.
    pub fn messages(&self) -> Vec<Message> {
        lock(&self.state).messages.clone()
    }
}

fn handle(state: &mut State, req: &Recorded) -> Reply {
    if req.path != state.path || req.query != state.query {
        return Reply::text(404, "no_service");
    }
    if req.method != "POST" {
        return Reply::text(405, "invalid_method");
    }
    let json_type = req
        .header("content-type")
        .is_some_and(|t| t.trim().to_ascii_lowercase().starts_with("application/json"));
    if !json_type {
        return Reply::text(415, "invalid_content_type");
    }
    if req.json().is_none() {
        return Reply::text(400, "invalid_payload");
    }
    let received = SystemTime::now();
    let verified = state.key.as_deref().map(|key| {
        let id = req.header("webhook-id").unwrap_or_default();
        let timestamp = req.header("webhook-timestamp").unwrap_or_default();
        let signatures = req.header("webhook-signature").unwrap_or_default();
        let fresh = timestamp
            .trim()
            .parse::<i64>()
            .is_ok_and(|t| (t - unix(received)).abs() <= TOLERANCE_SECONDS);
        !id.is_empty() && fresh && verify(key, id, timestamp, &req.body, signatures)
    });
    state.messages.push(Message {
        headers: req.headers.clone(),
        body: req.body.clone(),
        received,
        verified,
    });
    if verified == Some(false) {
        return Reply::text(401, "invalid signature");
    }
    Reply::text(state.status, "ok")
}

/// The key of a `whsec_<base64>` secret.
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    STANDARD.decode(secret.strip_prefix("whsec_")?).ok()
}

/// The Standard Webhooks signature of a message: `v1,<base64 HMAC-SHA256
/// over "{id}.{timestamp}.{body}">`.
pub fn sign(key: &[u8], id: &str, timestamp: &str, body: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Whether one of the space-separated `webhook-signature` entries is a
/// valid `v1` signature (compared in constant time).
pub fn verify(key: &[u8], id: &str, timestamp: &str, body: &str, signatures: &str) -> bool {
    signatures.split(' ').any(|entry| {
        let Some(signature) = entry.strip_prefix("v1,") else {
            return false;
        };
        let Ok(signature) = STANDARD.decode(signature) else {
            return false;
        };
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
        mac.verify_slice(&signature).is_ok()
    })
}

fn unix(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
