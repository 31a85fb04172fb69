//! Every kind of target behind one small interface: prepare (read what a
//! write needs), age (for `rotate-after`), probe (prove write access) and
//! write. The rotation calls these and never asks which platform a target
//! is on; each platform's client lives in its own module.

use std::time::SystemTime;

use anyhow::{anyhow, Result};

use crate::cloudflare::Cloudflare;
use crate::github::{self, GitHub};
use crate::inputs::{Inputs, Platform, Target};
use crate::retry::Policy;
use crate::secret::Secret;
use crate::vercel::{self, Vercel};

/// When a target was last written, for `rotate-after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Age {
    /// It does not exist yet: due.
    Missing,
    WrittenAt(SystemTime),
    /// The platform keeps no timestamp (Cloudflare): left out of the decision.
    Untracked,
}

/// A target ready to be written.
#[derive(Debug, Clone)]
pub enum Prepared {
    GitHub(github::Prepared),
    Worker(Target),
    Vercel(vercel::Prepared),
}

impl Prepared {
    pub fn target(&self) -> &Target {
        match self {
            Prepared::GitHub(p) => &p.target,
            Prepared::Worker(target) => target,
            Prepared::Vercel(p) => &p.target,
        }
    }

    /// Another target of the same scope, from what was read for this one.
    pub fn for_target(&self, target: &Target) -> Result<Prepared> {
        Ok(match self {
            Prepared::GitHub(p) => Prepared::GitHub(p.for_target(target)),
            Prepared::Worker(_) => Prepared::Worker(target.clone()),
            Prepared::Vercel(p) => Prepared::Vercel(p.for_target(target)?),
        })
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

    /// Preflight for a scope's first target.
    pub fn prepare(&self, target: &Target) -> Result<Prepared> {
        Ok(match target.scope.platform() {
            Platform::GitHub => Prepared::GitHub(self.github()?.prepare(target)?),
            Platform::Cloudflare => {
                self.cloudflare()?.check(target)?;
                Prepared::Worker(target.clone())
            }
            Platform::Vercel => Prepared::Vercel(self.vercel()?.prepare(target)?),
        })
    }

    /// When the target was last written.
    pub fn age(&self, prepared: &Prepared) -> Result<Age> {
        Ok(match prepared {
            Prepared::GitHub(p) => self
                .github()?
                .updated_at(&p.target)?
                .map_or(Age::Missing, Age::WrittenAt),
            Prepared::Worker(_) => Age::Untracked,
            Prepared::Vercel(p) => p.updated_at().map_or(Age::Missing, Age::WrittenAt),
        })
    }

    /// Proves write access once per scope; a probe left behind is a warning.
    pub fn probe(&self, prepared: &Prepared) -> Result<Option<String>> {
        match prepared {
            Prepared::GitHub(p) => self.github()?.probe(p),
            Prepared::Worker(target) => self.cloudflare()?.probe(target),
            Prepared::Vercel(p) => self.vercel()?.probe(p),
        }
    }

    /// Writes the new token.
    pub fn write(&self, prepared: &Prepared, token: &Secret) -> Result<()> {
        let what = "writing the new token";
        match prepared {
            Prepared::GitHub(p) => self.github()?.write(p, token.expose().as_bytes(), what),
            Prepared::Worker(target) => self.cloudflare()?.write(target, token.expose(), what),
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
