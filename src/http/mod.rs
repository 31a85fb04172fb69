//! The blocking HTTP edge (`ureq`) shared by the Turso Platform API and the
//! libSQL check: one agent, so requests to one host reuse one connection,
//! with timeouts and a bounded body read.

pub mod proxy;
mod resolve;
pub mod retry;
pub mod tls;

use std::io::Read;
use std::time::Duration;

use anyhow::Result;

use crate::secret::Secret;
use retry::{Policy, Reply, Transport, CONNECT_TIMEOUT, MAX_BODY};

/// One agent for the run; error statuses come back as replies so their
/// bodies reach the error message.
pub fn agent() -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .http_status_as_error(false)
        // Neither API redirects; a redirect is reported, never followed.
        .max_redirects(0)
        .user_agent(crate::names::USER_AGENT)
        // Not ureq's own reading of the proxy variables: each request gets
        // the proxy `proxy::route` picks for its URL (never one for loopback).
        .proxy(None)
        .tls_config(crate::http::tls::ureq_config())
        // ureq's default buffers are 128 KiB each, zero-filled byte by byte
        // per connection. The APIs' answer heads are a few KiB: a head is
        // held up to 16 KiB (longer is reported as too big), so the input
        // buffer holds just over that. The output one holds only our small
        // request heads (bodies go through in pieces).
        .max_response_header_size(16 * 1024)
        .input_buffer_size(17 * 1024)
        .output_buffer_size(4 * 1024)
        .build();
    ureq::Agent::with_parts(
        config,
        ureq::unversioned::transport::DefaultConnector::default(),
        resolve::Cached::default(),
    )
}

/// A request, retried by `policy` while the failure is transient.
pub struct Call<'a> {
    pub method: &'a str,
    pub url: String,
    pub bearer: Option<&'a Secret>,
    /// Further headers (a webhook's signature).
    pub headers: Vec<(&'static str, String)>,
    /// JSON, sent as these exact bytes (a signature covers them).
    pub body: Option<String>,
}

impl<'a> Call<'a> {
    /// A request with a bearer token and an optional JSON body.
    pub fn json(method: &'a str, url: String, bearer: &'a Secret, body: Option<serde_json::Value>) -> Self {
        Call {
            method,
            url,
            bearer: Some(bearer),
            headers: Vec::new(),
            body: body.map(|b| b.to_string()),
        }
    }

    pub fn send(&self, agent: &ureq::Agent, policy: &Policy, what: &str) -> Result<Reply> {
        policy.send(what, |timeout| self.attempt(agent, timeout))
    }

    fn attempt(&self, agent: &ureq::Agent, timeout: Duration) -> Result<Reply, Transport> {
        let mut request = ureq::http::Request::builder()
            .method(self.method)
            .uri(&self.url)
            .header("Accept", "application/json");
        if let Some(bearer) = self.bearer {
            request = request.header("Authorization", format!("Bearer {}", bearer.expose()));
        }
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        let result = match &self.body {
            Some(body) => run(
                agent,
                request.header("Content-Type", "application/json").body(body.clone()),
                timeout,
            ),
            // A bodiless POST sends `Content-Length: 0`, not an empty chunked body.
            None if self.method == "POST" => run(agent, request.body(Vec::<u8>::new()), timeout),
            None => run(agent, request.body(()), timeout),
        };
        let mut response = result?;
        let mut bytes = Vec::new();
        response
            .body_mut()
            .as_reader()
            .take(MAX_BODY)
            .read_to_end(&mut bytes)
            .map_err(|e| Transport::lost(format!("reading the response: {e}")))?;
        let headers = response.headers();
        Ok(Reply::from_parts(
            response.status().as_u16(),
            String::from_utf8_lossy(&bytes).into_owned(),
            |name| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned),
        ))
    }
}

fn run<S: ureq::AsSendBody>(
    agent: &ureq::Agent,
    request: ureq::http::Result<ureq::http::Request<S>>,
    timeout: Duration,
) -> Result<ureq::http::Response<ureq::Body>, Transport> {
    let request = request.map_err(|e| Transport::unsent(format!("building the request: {e}")))?;
    let proxy = crate::http::proxy::route(request.uri()).map(|route| route.ureq);
    agent
        .run(
            agent
                .configure_request(request)
                .timeout_global(Some(timeout))
                .proxy(proxy)
                .build(),
        )
        .map_err(|e| match unsent(&e) {
            true => Transport::unsent(describe(&e)),
            false => Transport::lost(describe(&e)),
        })
}

/// Whether the request never reached a server (no connection was made).
fn unsent(error: &ureq::Error) -> bool {
    use ureq::Timeout;
    match error {
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => true,
        ureq::Error::Timeout(Timeout::Resolve | Timeout::Connect) => true,
        ureq::Error::Io(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
        _ => false,
    }
}

/// A transport error in words, without anything the request carried.
fn describe(error: &ureq::Error) -> String {
    match error {
        ureq::Error::Timeout(what) => format!("timed out ({what})"),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::Io(e) => format!("connection error: {e}"),
        other => format!("request failed: {other}"),
    }
}

/// Percent-encodes one URL path segment, so no name is spliced raw into a path.
pub fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn segments_are_encoded() {
        assert_eq!(super::segment("Production 1/é"), "Production%201%2F%C3%A9");
        assert_eq!(super::segment("prod-eu_1.x"), "prod-eu_1.x");
    }
}
