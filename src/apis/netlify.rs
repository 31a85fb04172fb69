//! Netlify site environment variables. A variable is read once in
//! preflight (`GET …/env/{key}?site_id=`) and the write is decided there:
//! create it with one value per context, or set each context's value with
//! `PATCH` (setEnvVarValue), which leaves the other contexts' values alone.
//! `PUT` (updateEnvVar) is never sent: it replaces every value. A variable
//! with one value for `all` contexts, or a value for one branch, stops the
//! run before anything changes. Sites see a new value only in a new deploy:
//! `build` starts one.

use std::fmt;
use std::time::SystemTime;

use anyhow::{anyhow, Context as _, Result};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::retry::{detail, refused_with, Policy, Refused, Reply};
use crate::http::{self, segment, Call};
use crate::inputs::{NetlifyContexts, Target};
use crate::names;
use crate::secret::{random_hex, Secret};
use crate::workflow;

/// A deploy context a value is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Context {
    Production,
    DeployPreview,
    BranchDeploy,
}

impl Context {
    pub const ALL: [Context; 3] = [Context::Production, Context::DeployPreview, Context::BranchDeploy];

    /// The API's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Context::Production => "production",
            Context::DeployPreview => "deploy-preview",
            Context::BranchDeploy => "branch-deploy",
        }
    }

    /// `production`, `deploy-preview` or `branch-deploy`.
    pub fn parse(text: &str) -> Option<Context> {
        Context::ALL.into_iter().find(|c| c.name() == text)
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A site, as preflight found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub id: String,
    pub name: String,
    /// The account path segment of every environment variable route (the
    /// Netlify CLI passes it as `accountId`).
    pub account_slug: String,
    /// `build_settings.repo_url`: `None` when no repository is linked.
    pub repo_url: Option<String>,
}

/// An existing site variable. Values are never kept: a secret's do not
/// come back, and nothing here needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub key: String,
    pub is_secret: bool,
    /// Every context that holds a value (`production`, `dev`, …), as named
    /// by the API.
    pub contexts: Vec<String>,
    /// When a value was last written; `None` when absent or unreadable.
    pub updated_at: Option<SystemTime>,
}

impl Variable {
    /// Whether `context` holds a value.
    pub fn has(&self, context: Context) -> bool {
        self.contexts.iter().any(|c| c == context.name())
    }
}

impl Context {
    /// The contexts a target names, in the API's words.
    pub fn of(contexts: NetlifyContexts) -> Vec<Context> {
        contexts.names().into_iter().filter_map(Context::parse).collect()
    }
}

/// A target's variable as preflight found it: the write is decided here.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub target: Target,
    pub site: Site,
    /// The variable, `None` when it does not exist yet.
    pub existing: Option<Variable>,
    pub contexts: Vec<Context>,
}

impl Prepared {
    /// When every context of ours was last written; `None` when the
    /// variable, or one of our contexts' values, is missing.
    pub fn updated_at(&self) -> Option<SystemTime> {
        let existing = self.existing.as_ref()?;
        match self.contexts.iter().all(|c| existing.has(*c)) {
            true => existing.updated_at,
            false => None,
        }
    }

    /// A variable that is not a secret is written all the same, with this.
    pub fn warning(&self) -> Option<String> {
        let existing = self.existing.as_ref()?;
        (!existing.is_secret).then(|| not_secret(&self.site, &existing.key))
    }
}

fn not_secret(site: &Site, key: &str) -> String {
    format!(
        "Netlify variable {key} of site {} is not a secret: its value is readable in the Netlify UI, API and CLI; delete it and let the next run create it as a secret",
        site_label(site)
    )
}

/// A client for one Netlify personal access token.
pub struct Netlify {
    agent: ureq::Agent,
    base: String,
    token: Secret,
    policy: Policy,
}

impl Netlify {
    /// `api_url` ends in `/api/v1` (`https://api.netlify.com/api/v1`).
    pub fn new(api_url: &str, token: Secret, policy: Policy) -> Self {
        Netlify {
            agent: http::agent(),
            base: api_url.trim_end_matches('/').to_owned(),
            token,
            policy,
        }
    }

    /// Preflight: the site, for its `account_slug`.
    pub fn site(&self, site_id: &str) -> Result<Site> {
        let what = format!("reading Netlify site {site_id}");
        let reply = self.call("GET", &format!("/sites/{}", segment(site_id)), None, &what)?;
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default)]
            id: Option<String>,
            #[serde(default)]
            name: Option<String>,
            #[serde(default)]
            account_slug: Option<String>,
            #[serde(default)]
            build_settings: Option<Value>,
        }
        let answer: Answer = reply.parse(&what, "Netlify", "site")?;
        let account_slug = answer
            .account_slug
            .filter(|s| !s.is_empty())
            .ok_or_else(|| anyhow!("{what}: unexpected answer from Netlify (no `account_slug`)"))?;
        let repo_url = answer
            .build_settings
            .as_ref()
            .and_then(|b| b["repo_url"].as_str())
            .filter(|u| !u.is_empty())
            .map(str::to_owned);
        Ok(Site {
            id: answer.id.unwrap_or_else(|| site_id.to_owned()),
            name: answer.name.unwrap_or_default(),
            account_slug,
            repo_url,
        })
    }

    /// Preflight: the site's variable `key` (404: none). A value for `all`
    /// contexts or for one branch is an error: such a variable cannot be
    /// replaced for some contexts only.
    pub fn variable(&self, site: &Site, key: &str) -> Result<Option<Variable>> {
        let what = format!("reading Netlify variable {key} of site {}", site_label(site));
        let reply = match self.call("GET", &env_route(site, Some(key)), None, &what) {
            Ok(reply) => reply,
            Err(e) if refused_with(&e, 404) => return Ok(None),
            Err(e) => return Err(e),
        };
        #[derive(Deserialize)]
        struct Value_ {
            #[serde(default)]
            context: Option<String>,
            #[serde(default)]
            context_parameter: Option<String>,
        }
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default)]
            values: Vec<Value_>,
            #[serde(default)]
            is_secret: bool,
            #[serde(default)]
            updated_at: Option<String>,
        }
        let answer: Answer = reply.parse(&what, "Netlify", "`values`")?;
        let mut contexts = Vec::new();
        for value in &answer.values {
            let context = value.context.as_deref().unwrap_or("all");
            let clash = match context {
                "all" => Some("has one value for all deploy contexts".to_owned()),
                "branch" => Some(format!(
                    "has a value for branch {}",
                    value.context_parameter.as_deref().unwrap_or("?")
                )),
                _ => None,
            };
            if let Some(clash) = clash {
                return Err(Refused {
                    status: 422,
                    message: format!(
                        "Netlify variable {key} of site {} {clash}: one value for several contexts cannot be replaced for some of them only; split it into a value per context (production, deploy-preview, branch-deploy) in Netlify first; nothing was changed",
                        site_label(site),
                    ),
                }
                .into());
            }
            contexts.push(context.to_owned());
        }
        let updated_at = answer
            .updated_at
            .as_deref()
            .and_then(|t| humantime::parse_rfc3339_weak(t.trim()).ok());
        Ok(Some(Variable {
            key: key.to_owned(),
            is_secret: answer.is_secret,
            contexts,
            updated_at,
        }))
    }

    /// Proves write access: create the probe variable (secret, production),
    /// then delete it. A probe left by an earlier run is deleted first. A
    /// probe that cannot be deleted is a warning (returned).
    pub fn probe(&self, site: &Site) -> Result<Option<String>> {
        let probe = names::PROBE_SECRET;
        let what = "proving write access by creating a probe";
        match self.create(site, probe, &[Context::Production], &random_hex(16), what) {
            Err(e) if refused_with(&e, 409) => {
                // A probe an earlier run left (409: the key exists): delete it, create once more.
                self.delete(site, probe)?;
                self.create(site, probe, &[Context::Production], &random_hex(16), what)?;
            }
            other => other?,
        }
        match self.delete(site, probe) {
            Ok(()) => Ok(None),
            Err(e) => Ok(Some(format!(
                "{e:#} (delete {probe} from the site by hand; it holds a random value)"
            ))),
        }
    }

    /// Writes `value` into `contexts`, as preflight decided: no variable,
    /// one POST with a value per context; a variable, one PATCH per
    /// context. A variable that is not a secret is written all the same,
    /// and the warning is returned.
    pub fn write(
        &self,
        site: &Site,
        key: &str,
        existing: Option<&Variable>,
        contexts: &[Context],
        value: &str,
        what: &str,
    ) -> Result<Option<String>> {
        let Some(existing) = existing else {
            match self.create(site, key, contexts, value, what) {
                // It exists now: an attempt whose answer was lost made it
                // (or someone did meanwhile): set each context's value.
                Err(e) if refused_with(&e, 409) => {
                    workflow::log(&format!(
                        "Netlify variable {key} of site {} exists now: setting its value per context",
                        site_label(site)
                    ));
                }
                other => return other.map(|()| None),
            }
            self.set_values(site, key, contexts, value, what)?;
            return Ok(None);
        };
        self.set_values(site, key, contexts, value, what)?;
        Ok((!existing.is_secret).then(|| not_secret(site, key)))
    }

    /// One `PATCH` per context: the other contexts' values stay (a `PUT`
    /// would drop them).
    fn set_values(&self, site: &Site, key: &str, contexts: &[Context], value: &str, what: &str) -> Result<()> {
        let route = env_route(site, Some(key));
        for context in contexts {
            let what = format!(
                "{what} into Netlify variable {key} ({context}) of site {}",
                site_label(site)
            );
            let body = json!({ "context": context.name(), "value": value });
            self.call("PATCH", &route, Some(body), &what)?;
        }
        Ok(())
    }

    /// Starts a build of the site's production branch, so it deploys with
    /// the new value. A site with no linked repository cannot be built so.
    pub fn build(&self, site_id: &str) -> Result<()> {
        let what = format!("starting a build of Netlify site {site_id}");
        match self.call("POST", &format!("/sites/{}/builds", segment(site_id)), None, &what) {
            Ok(_) => Ok(()),
            Err(e) if [400, 422].into_iter().any(|s| refused_with(&e, s)) => {
                // Netlify refuses a build of a site it does not build from a repository.
                match self.site(site_id) {
                    Ok(site) if site.repo_url.is_none() => Err(Refused {
                        status: 422,
                        message: format!(
                            "{what}: the site has no linked repository, so Netlify cannot rebuild it: dispatch the workflow that deploys it instead (`dispatch: workflow:OWNER/REPO/FILE@REF`)"
                        ),
                    }
                    .into()),
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// `POST …/env?site_id=`: one secret variable, one value per context.
    fn create(&self, site: &Site, key: &str, contexts: &[Context], value: &str, what: &str) -> Result<()> {
        let what = format!("{what} into Netlify variable {key} of site {}", site_label(site));
        let values: Vec<Value> = contexts
            .iter()
            .map(|c| json!({ "context": c.name(), "value": value }))
            .collect();
        let body = json!([{ "key": key, "is_secret": true, "values": values }]);
        self.call("POST", &env_route(site, None), Some(body), &what)?;
        Ok(())
    }

    fn delete(&self, site: &Site, key: &str) -> Result<()> {
        let what = format!("deleting the probe variable {key} of site {}", site_label(site));
        match self.call("DELETE", &env_route(site, Some(key)), None, &what) {
            Err(e) if refused_with(&e, 404) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// One request; an error names Netlify's message and the likely cause.
    fn call(&self, method: &str, route: &str, body: Option<Value>, what: &str) -> Result<Reply> {
        let url = format!("{}{route}", self.base);
        let reply = Call::json(method, url, &self.token, body)
            .send(&self.agent, &self.policy, what)
            .with_context(|| format!("Netlify API at {}", self.base))?;
        if reply.ok() {
            return Ok(reply);
        }
        let message = serde_json::from_str::<Value>(&reply.body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .filter(|m| !m.is_empty());
        let message = detail(&message.unwrap_or_else(|| reply.body.clone()));
        let hint = match reply.status {
            401 => "the Netlify token is invalid or expired (input `netlify-token`)",
            403 => "the Netlify token may not do this on the site (input `netlify-token`)",
            404 => "not found: check the site id and the token's team (input `netlify-token`)",
            409 => "the variable already exists",
            _ => "unexpected answer from Netlify",
        };
        Err(Refused {
            status: reply.status,
            message: format!("{what}: HTTP {}{message}: {hint}", reply.status),
        }
        .into())
    }
}

/// `/accounts/{account_slug}/env[/{key}]?site_id={id}`.
fn env_route(site: &Site, key: Option<&str>) -> String {
    let key = key.map(|k| format!("/{}", segment(k))).unwrap_or_default();
    format!(
        "/accounts/{}/env{key}?site_id={}",
        segment(&site.account_slug),
        segment(&site.id)
    )
}

/// The site's name, or its id.
fn site_label(site: &Site) -> &str {
    match site.name.is_empty() {
        true => &site.id,
        false => &site.name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_by_name() {
        for context in Context::ALL {
            assert_eq!(Context::parse(context.name()), Some(context));
        }
        assert_eq!(Context::parse("all"), None);
        assert_eq!(Context::parse("dev"), None);
    }

    #[test]
    fn routes_are_encoded() {
        let site = Site {
            id: "a b".into(),
            name: String::new(),
            account_slug: "team/x".into(),
            repo_url: None,
        };
        assert_eq!(env_route(&site, Some("K")), "/accounts/team%2Fx/env/K?site_id=a%20b");
    }
}
