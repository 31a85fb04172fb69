//! The usual setup of an end-to-end test: both fakes sharing one journal,
//! organization `acme` with group `prod`, repository `acme/app`, and a
//! runner with the inputs a typical workflow gives.

use std::path::PathBuf;

use super::{FakeGitHub, FakeTurso, Fault, FaultAction, Journal, RunResult, Runner, Scope};

pub const API_TOKEN: &str = "turso-api-token-0123456789";
pub const GH_TOKEN: &str = "ghp_writesecrets0123456789";

/// Both fakes sharing one journal, and a runner with the usual inputs.
pub struct World {
    pub turso: FakeTurso,
    pub github: FakeGitHub,
    pub journal: Journal,
    /// The binary under test.
    pub bin: PathBuf,
}

impl World {
    /// In an integration test, where cargo names the binary.
    pub fn new() -> World {
        match option_env!("CARGO_BIN_EXE_turso-rotate") {
            Some(bin) => World::with_bin(PathBuf::from(bin)),
            None => panic!("only integration tests know the binary's path: use World::with_bin"),
        }
    }

    pub fn with_bin(bin: PathBuf) -> World {
        let journal = Journal::new();
        let turso = FakeTurso::start("acme", API_TOKEN).with_journal(&journal);
        turso.add_group("prod");
        let github = FakeGitHub::start(GH_TOKEN).with_journal(&journal);
        github.add_repo("acme/app");
        World {
            turso,
            github,
            journal,
            bin,
        }
    }

    pub fn runner(&self) -> Runner {
        Runner::new(self.bin.clone())
            .secrets(&[API_TOKEN, GH_TOKEN])
            .env("GITHUB_API_URL", &self.github.api_url())
            .input("organization", "acme")
            .input("group", "prod")
            .input("api-token", API_TOKEN)
            .input("secret-name", "TURSO_AUTH_TOKEN")
            .input("github-token", GH_TOKEN)
            .input("turso-api-url", &self.turso.url())
            // Declared inputs the workflow leaves out arrive empty.
            .input("expiration", "")
            .input("dry-run", "")
    }

    /// A runner for the `groups` input: `group` and `secret-name` left empty.
    pub fn groups_runner(&self, groups: &str) -> Runner {
        self.runner()
            .input("group", "")
            .input("secret-name", "")
            .input("groups", groups)
    }

    /// Every write of `secret` (in any scope) fails with HTTP 500.
    pub fn fail_writes(&self, secret: &str) {
        self.github
            .fault(Fault::new("PUT", secret, FaultAction::status(500, "{}")).always());
    }

    /// Every write of the usual secret gets `action` (e.g. hangs).
    pub fn fail_writes_with(&self, action: FaultAction) {
        self.github
            .fault(Fault::new("PUT", "/TURSO_AUTH_TOKEN", action).always());
    }

    pub fn secret(&self) -> Option<String> {
        self.github.secret(Scope::repo("acme/app"), "TURSO_AUTH_TOKEN")
    }

    pub fn writes(&self) -> usize {
        self.turso.count("POST", "/auth/") + self.github.count("PUT", "/") + self.github.count("DELETE", "/")
    }

    pub fn requests(&self) -> usize {
        self.turso.requests().len() + self.github.requests().len()
    }
}

/// Fails if the API tokens, or `token`, show anywhere but the mask line.
pub fn leaks(result: &RunResult, token: Option<&str>) {
    let mut secrets = vec![API_TOKEN, GH_TOKEN];
    secrets.extend(token);
    result.assert_no_leak(&secrets);
}
