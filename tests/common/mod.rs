//! Test doubles shared by the integration tests and `examples/sandbox.rs`:
//! fake Turso, GitHub, Cloudflare, Vercel and Netlify servers and a webhook
//! receiver that speak real HTTP on loopback, and a runner that starts the
//! binary the way GitHub Actions does; a real SMTP server (aiosmtpd) with
//! a certificate from a CA the test makes.
//!
//! Each test uses a subset, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod ca;
pub mod cloudflare;
pub mod fly;
pub mod github;
pub mod libsql;
pub mod netlify;
pub mod openapi;
pub mod proxy;
pub mod runner;
pub mod server;
pub mod smtp;
pub mod turso;
pub mod vercel;
pub mod webhook;
pub mod world;

// Each test uses some of these; the rest would warn.
#[allow(unused_imports)]
pub use cloudflare::FakeCloudflare;
#[allow(unused_imports)]
pub use github::{Dispatch, FakeGitHub, Scope};
#[allow(unused_imports)]
pub use libsql::LibsqlErrors;
#[allow(unused_imports)]
pub use netlify::FakeNetlify;
#[allow(unused_imports)]
pub use runner::{parse_github_output, RunResult, Runner};
#[allow(unused_imports)]
pub use server::{Fault, FaultAction, Journal, Recorded, Reply, Server};
#[allow(unused_imports)]
pub use turso::FakeTurso;
#[allow(unused_imports)]
pub use vercel::{EnvVar, FakeVercel, Redeploy};
#[allow(unused_imports)]
pub use webhook::Webhook;

/// A plain HTTP client for tests that talk to a fake directly: error
/// statuses come back as answers, and nothing waits long.
pub fn test_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(5)))
        .build()
        .new_agent()
}

/// A name no other test of any process uses: for temporary files.
pub fn unique_tag() -> String {
    let bytes = server::random_bytes::<8>();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{hex}", std::process::id())
}
