//! Every kind of target behind one small interface: prepare (read once per
//! scope, or per Vercel project or Netlify site, what the writes need),
//! decide (each target's write, from what was read: a Netlify variable is
//! read per target), age (for `rotate-after`), probe
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

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::SystemTime;

use anyhow::{anyhow, Result};

use crate::http::retry::Policy;
use crate::inputs::{Inputs, Platform, Scope, Target};
use crate::secret::Secret;
use cloudflare::Cloudflare;
use fly::Fly;
use github::GitHub;
use netlify::Netlify;
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
    /// A Fly app the token sees.
    Fly(String),
    /// A Netlify site, every context together.
    Netlify(netlify::Site),
}

/// What is read once: a scope, except that a Vercel project's variables
/// are listed once whatever the targets they apply to, and a Netlify site
/// is looked up once whatever the contexts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReadKey {
    Scope(Scope),
    VercelProject(String),
    NetlifySite(String),
}

impl ReadKey {
    pub fn of(scope: &Scope) -> ReadKey {
        match scope {
            Scope::Vercel { project, .. } => ReadKey::VercelProject(project.clone()),
            Scope::Netlify { site, .. } => ReadKey::NetlifySite(site.clone()),
            other => ReadKey::Scope(other.clone()),
        }
    }

    /// What one probe proves: a scope, a Vercel project for its set of
    /// targets, a Netlify site whatever the contexts (the probe writes one).
    pub fn probe_of(scope: &Scope) -> ReadKey {
        match scope {
            Scope::Netlify { site, .. } => ReadKey::NetlifySite(site.clone()),
            other => ReadKey::Scope(other.clone()),
        }
    }
}

impl std::fmt::Display for ReadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadKey::Scope(scope) => write!(f, "{scope}"),
            ReadKey::VercelProject(project) => write!(f, "Vercel project {project}"),
            ReadKey::NetlifySite(site) => write!(f, "Netlify site {site}"),
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
            Read::Fly(app) => match &target.scope {
                Scope::Fly { app: a } if a == app => Prepared::Fly(target.clone()),
                _ => return Err(anyhow!("{target} is not a secret of Fly app {app}")),
            },
            Read::Netlify(site) => {
                return Err(anyhow!(
                    "{target}: Netlify site {} needs its variable read first",
                    site.id
                ))
            }
        })
    }
}

/// A target ready to be written.
#[derive(Debug, Clone)]
pub enum Prepared {
    GitHub(github::Prepared),
    Worker(cloudflare::Prepared),
    Vercel(vercel::Prepared),
    /// A Fly app secret (its app was found).
    Fly(Target),
    Netlify(netlify::Prepared),
}

impl Prepared {
    pub fn target(&self) -> &Target {
        match self {
            Prepared::GitHub(p) => &p.target,
            Prepared::Worker(p) => &p.target,
            Prepared::Vercel(p) => &p.target,
            Prepared::Fly(target) => target,
            Prepared::Netlify(p) => &p.target,
        }
    }

    /// Something the user should know about the write decided (a Vercel
    /// variable that is not sensitive, a Netlify one that is not secret).
    pub fn warning(&self) -> Option<String> {
        match self {
            Prepared::Vercel(p) => p.warning(),
            Prepared::Netlify(p) => p.warning(),
            _ => None,
        }
    }
}

/// The clients of the platforms this run writes to.
pub struct Writers {
    pub github: Option<GitHub>,
    pub cloudflare: Option<Cloudflare>,
    pub vercel: Option<Vercel>,
    pub fly: Option<Fly>,
    pub netlify: Option<Netlify>,
    /// Per Fly app, the highest secrets version this run's writes answered:
    /// what `dispatch: fly:APP` asks the machines to read.
    fly_versions: Mutex<BTreeMap<String, u64>>,
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
            fly: inputs
                .fly
                .as_ref()
                .map(|a| Fly::new(&a.api_url, a.token.clone(), policy)),
            netlify: inputs
                .netlify
                .as_ref()
                .map(|a| Netlify::new(&a.api_url, a.token.clone(), policy)),
            fly_versions: Mutex::new(BTreeMap::new()),
        })
    }

    /// Whether this run can reach the target's platform (a dry run may
    /// lack a token, and then leaves those targets unchecked).
    pub fn reaches(&self, target: &Target) -> bool {
        match target.scope.platform() {
            Platform::GitHub => self.github.is_some(),
            Platform::Cloudflare => self.cloudflare.is_some(),
            Platform::Vercel => self.vercel.is_some(),
            Platform::Fly => self.fly.is_some(),
            Platform::Netlify => self.netlify.is_some(),
        }
    }

    /// Preflight: reads what the target's scope (or Vercel project, or
    /// Netlify site) needs.
    pub fn prepare(&self, target: &Target) -> Result<Read> {
        Ok(match &target.scope {
            Scope::Fly { app } => {
                self.fly()?.check_app(app)?;
                Read::Fly(app.clone())
            }
            Scope::Netlify { site, .. } => Read::Netlify(self.netlify()?.site(site)?),
            _ => match target.scope.platform() {
                Platform::Cloudflare => Read::Worker(self.cloudflare()?.list(target)?),
                Platform::Vercel => Read::Vercel(self.vercel()?.list(target)?),
                _ => Read::GitHub(self.github()?.prepare(target)?),
            },
        })
    }

    /// The target's write, decided from what was read; a Netlify variable
    /// is read here, one request per target (a value for `all` contexts or
    /// for a branch stops this target's groups before anything changes).
    pub fn decide(&self, read: &Read, target: &Target) -> Result<Prepared> {
        let (Read::Netlify(site), Scope::Netlify { contexts, .. }) = (read, &target.scope) else {
            return read.for_target(target);
        };
        Ok(Prepared::Netlify(netlify::Prepared {
            target: target.clone(),
            existing: self.netlify()?.variable(site, &target.secret)?,
            site: site.clone(),
            contexts: netlify::Context::of(*contexts),
        }))
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
            Prepared::Fly(target) => self.fly()?.updated_at(fly_app(target)?, &target.secret)?,
            Prepared::Netlify(p) => p.updated_at().map_or(Age::Missing, Age::WrittenAt),
        })
    }

    /// Proves write access once per scope; a probe left behind is a warning.
    pub fn probe(&self, prepared: &Prepared) -> Result<Option<String>> {
        match prepared {
            Prepared::GitHub(p) => self.github()?.probe(p),
            Prepared::Worker(p) => self.cloudflare()?.probe(&p.target),
            Prepared::Vercel(p) => self.vercel()?.probe(p),
            Prepared::Fly(target) => self.fly()?.probe(fly_app(target)?),
            Prepared::Netlify(p) => self.netlify()?.probe(&p.site),
        }
    }

    /// Writes the new token.
    pub fn write(&self, prepared: &Prepared, token: &Secret) -> Result<()> {
        let what = "writing the new token";
        match prepared {
            Prepared::GitHub(p) => self.github()?.write(p, token.expose().as_bytes(), what),
            Prepared::Worker(p) => self.cloudflare()?.write(&p.target, token.expose(), what),
            Prepared::Vercel(p) => self.vercel()?.write(p, token.expose(), what),
            Prepared::Fly(target) => {
                let app = fly_app(target)?;
                let version = self.fly()?.write(app, &target.secret, token.expose(), what)?;
                let mut versions = self.fly_versions.lock().unwrap_or_else(|e| e.into_inner());
                let highest = versions.entry(app.to_owned()).or_default();
                *highest = (*highest).max(version);
                Ok(())
            }
            // A variable that is not secret was warned of in preflight.
            Prepared::Netlify(p) => self
                .netlify()?
                .write(
                    &p.site,
                    &p.target.secret,
                    p.existing.as_ref(),
                    &p.contexts,
                    token.expose(),
                    what,
                )
                .map(|_| ()),
        }
    }

    /// The highest secrets version this run's writes of the Fly app
    /// answered; `None` when none of them was written.
    pub fn fly_version(&self, app: &str) -> Option<u64> {
        self.fly_versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(app)
            .copied()
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

    pub fn fly(&self) -> Result<&Fly> {
        self.fly.as_ref().ok_or_else(|| anyhow!("no `fly-api-token` was given"))
    }

    pub fn netlify(&self) -> Result<&Netlify> {
        self.netlify
            .as_ref()
            .ok_or_else(|| anyhow!("no `netlify-token` was given"))
    }
}

/// The app of a Fly target.
fn fly_app(target: &Target) -> Result<&str> {
    match &target.scope {
        Scope::Fly { app } => Ok(app),
        other => Err(anyhow!("{other} is not a Fly app")),
    }
}
