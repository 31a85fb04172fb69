//! Every kind of target behind one small interface: prepare (read once per
//! scope, or per Vercel project, what the writes need), for_target (decide
//! each target's write from what was read), age (for `rotate-after`), probe
//! (prove write access) and write. The rotation calls these and never asks which platform a target
//! is on; each platform's client lives in its own module.

pub mod cloudflare;
pub mod email;
pub mod fly;
pub mod github;
pub mod libsql;
pub mod netlify;
pub mod seal;
pub mod turso;
pub mod vercel;

use std::time::SystemTime;

use anyhow::{anyhow, Result};

use crate::http::retry::Policy;
use crate::inputs::{Inputs, Platform, Scope, Target};
use crate::secret::Secret;
use cloudflare::Cloudflare;
use github::GitHub;
use vercel::Vercel;

/// When a target was last written, for `rotate-after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Age {
    /// It does not exist yet: due.
    Missing,
    WrittenAt(SystemTime),
    /// Written at a time ahead of the clock (a bad clock or timestamp): due.
    Ahead(SystemTime),
    /// It exists, but the platform keeps no timestamp (Cloudflare): left out
    /// of the decision.
    Untracked,
}

/// What preflight reads once and decides each target from.
#[derive(Debug, Clone)]
pub enum Read {
    /// A GitHub scope's public key.
    GitHub(github::Prepared),
    /// A Worker's secrets.
    Worker(cloudflare::Listing),
    /// A Vercel project's variables, every target set together.
    Vercel(vercel::Listing),
}

/// What is read once: a scope, except that a Vercel project's variables
/// are listed once whatever the targets they apply to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReadKey {
    Scope(Scope),
    VercelProject(String),
}

impl ReadKey {
    pub fn of(scope: &Scope) -> ReadKey {
        match scope {
            Scope::Vercel { project, .. } => ReadKey::VercelProject(project.clone()),
            other => ReadKey::Scope(other.clone()),
        }
    }
}

impl std::fmt::Display for ReadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadKey::Scope(scope) => write!(f, "{scope}"),
            ReadKey::VercelProject(project) => write!(f, "Vercel project {project}"),
        }
    }
}

impl Read {
    /// A target of what was read, decided from it: no further request. A
    /// refusal concerns this target alone (a Vercel variable's conflict).
    pub fn for_target(&self, target: &Target) -> Result<Prepared> {
        Ok(match self {
            Read::GitHub(p) => Prepared::GitHub(p.for_target(target)),
            Read::Worker(listing) => Prepared::Worker(listing.for_target(target)?),
            Read::Vercel(listing) => Prepared::Vercel(listing.for_target(target)?),
        })
    }
}

/// A target ready to be written.
#[derive(Debug, Clone)]
pub enum Prepared {
    GitHub(github::Prepared),
    Worker(cloudflare::Prepared),
    Vercel(vercel::Prepared),
}

impl Prepared {
    pub fn target(&self) -> &Target {
        match self {
            Prepared::GitHub(p) => &p.target,
            Prepared::Worker(p) => &p.target,
            Prepared::Vercel(p) => &p.target,
        }
    }

    /// Something the user should know about the write decided (a Vercel
    /// variable that is not sensitive).
    pub fn warning(&self) -> Option<String> {
        match self {
            Prepared::Vercel(p) => p.warning(),
            _ => None,
        }
    }
}

/// The clients of the platforms this run writes to.
pub struct Writers {
    pub github: Option<GitHub>,
    pub cloudflare: Option<Cloudflare>,
    pub vercel: Option<Vercel>,
}

impl Writers {
    /// Sets up a client per platform the inputs give a token for (GitHub's
    /// loads the CA roots: a broken image fails here, before any request).
    pub fn connect(inputs: &Inputs, policy: Policy) -> Result<Writers> {
        Ok(Writers {
            github: inputs.github.as_ref().map(|a| GitHub::connect(a, policy)).transpose()?,
            cloudflare: inputs
                .cloudflare
                .as_ref()
                .map(|a| Cloudflare::new(&a.api_url, a.token.clone(), policy)),
            vercel: inputs
                .vercel
                .as_ref()
                .map(|a| Vercel::new(&a.api_url, a.token.clone(), inputs.vercel_team.as_deref(), policy)),
        })
    }

    /// Whether this run can reach the target's platform (a dry run may
    /// lack a token, and then leaves those targets unchecked).
    pub fn reaches(&self, target: &Target) -> bool {
        match target.scope.platform() {
            Platform::GitHub => self.github.is_some(),
            Platform::Cloudflare => self.cloudflare.is_some(),
            Platform::Vercel => self.vercel.is_some(),
        }
    }

    /// Preflight: reads what the target's scope (or Vercel project) needs.
    pub fn prepare(&self, target: &Target) -> Result<Read> {
        Ok(match target.scope.platform() {
            Platform::GitHub => Read::GitHub(self.github()?.prepare(target)?),
            Platform::Cloudflare => Read::Worker(self.cloudflare()?.list(target)?),
            Platform::Vercel => Read::Vercel(self.vercel()?.list(target)?),
        })
    }

    /// When the target was last written. A Worker keeps no timestamp: its
    /// list tells only whether the secret exists.
    pub fn age(&self, prepared: &Prepared) -> Result<Age> {
        Ok(match prepared {
            Prepared::GitHub(p) => self
                .github()?
                .updated_at(&p.target)?
                .map_or(Age::Missing, Age::WrittenAt),
            Prepared::Worker(p) if p.present => Age::Untracked,
            Prepared::Worker(_) => Age::Missing,
            Prepared::Vercel(p) => p.updated_at().map_or(Age::Missing, Age::WrittenAt),
        })
    }

    /// Proves write access once per scope; a probe left behind is a warning.
    pub fn probe(&self, prepared: &Prepared) -> Result<Option<String>> {
        match prepared {
            Prepared::GitHub(p) => self.github()?.probe(p),
            Prepared::Worker(p) => self.cloudflare()?.probe(&p.target),
            Prepared::Vercel(p) => self.vercel()?.probe(p),
        }
    }

    /// Writes the new token.
    pub fn write(&self, prepared: &Prepared, token: &Secret) -> Result<()> {
        let what = "writing the new token";
        match prepared {
            Prepared::GitHub(p) => self.github()?.write(p, token.expose().as_bytes(), what),
            Prepared::Worker(p) => self.cloudflare()?.write(&p.target, token.expose(), what),
            Prepared::Vercel(p) => self.vercel()?.write(p, token.expose(), what),
        }
    }

    pub fn github(&self) -> Result<&GitHub> {
        self.github
            .as_ref()
            .ok_or_else(|| anyhow!("no `github-token` was given"))
    }

    pub fn cloudflare(&self) -> Result<&Cloudflare> {
        self.cloudflare
            .as_ref()
            .ok_or_else(|| anyhow!("no `cloudflare-api-token` was given"))
    }

    pub fn vercel(&self) -> Result<&Vercel> {
        self.vercel
            .as_ref()
            .ok_or_else(|| anyhow!("no `vercel-token` was given"))
    }
}
