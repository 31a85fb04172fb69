//! One group's rotation, once its preflight passed: invalidate (unless
//! `mode: roll`), create, mask and hand the token on, verify, then write
//! every target, the targets on different APIs at the same time. Once the
//! old tokens may be dead, the new token is always created and handed on.

use std::time::{Duration, Instant, SystemTime};

use super::preflight::Preflight;
use crate::apis::libsql;
use crate::apis::turso::{Expiry, TokenRequest, Turso};
use crate::apis::{Prepared, Writers};
use crate::http::retry::{may_have_acted, Policy};
use crate::inputs::{GroupPlan, Inputs, Mode, Platform, Subject, Target};
use crate::report::{self, rfc3339, GroupOutcome};
use crate::secret::Secret;
use crate::workflow::{self, Workflow};

/// Time kept for creating and writing once a group is rotated (at most half the run's).
const AFTER_ROTATE_RESERVE: Duration = Duration::from_secs(30);

/// Why a group was not started: the run was told to stop.
const STOPPED: &str = "not rotated: the run was stopped (SIGINT or SIGTERM) before this group was started";

/// What one group's (or database's) rotation needs from the run.
pub struct Group<'a> {
    pub inputs: &'a Inputs,
    pub wf: &'a Workflow,
    pub policy: &'a Policy,
    pub turso: &'a Turso,
    pub writers: &'a Writers,
}

impl Group<'_> {
    /// Rotates a group (or database) that passed preflight into its
    /// prepared targets; then, with `previous-token`, proves the old token dead.
    pub fn rotate(&self, pre: &Preflight) -> GroupOutcome {
        let plan = pre.resolved();
        let mut outcome = self.rotate_plan(pre, &plan);
        super::revocation::prove(self, pre, &mut outcome);
        outcome
    }

    fn rotate_plan(&self, pre: &Preflight, plan: &GroupPlan) -> GroupOutcome {
        let targets = &pre.targets;
        let mut outcome = GroupOutcome::new(plan);
        // No attempt or wait of the rotate call, and no verification retry,
        // may use the time that creating and writing the token need.
        let reserve = (self.inputs.limits.timeout / 2).min(AFTER_ROTATE_RESERVE);
        let rotate_policy = self.policy.reserving(reserve);
        if rotate_policy.remaining().is_zero() {
            return GroupOutcome::untouched(
                plan,
                format!(
                    "not rotated: only {:.1}s were left before the run's deadline, too little to create and write a token (raise the `timeout` input)",
                    self.policy.remaining().as_secs_f64()
                ),
            );
        }
        if !crate::stop::may_change() {
            return GroupOutcome::untouched(plan, STOPPED.to_owned());
        }
        if !self.invalidate(&mut outcome, &rotate_policy) {
            return outcome;
        }
        let rotated = Instant::now();
        let Some(token) = self.create(&mut outcome) else {
            return outcome;
        };
        if let Some(url) = pre.verify_url(self.inputs) {
            match libsql::verify(&url, &token, &self.policy.reserving(reserve / 2)) {
                Ok(()) => workflow::log(&format!("{plan}: new token verified with SELECT 1 on {url}")),
                Err(e) => outcome.unverified = Some(super::revocation::explained(self, plan, e)),
            }
            // After an invalidation the secrets hold a dead token: a new one
            // that failed verification can only be better, so it is written
            // (and the run fails). In a roll the old token still works.
            if outcome.unverified.is_some() && self.inputs.mode == Mode::Roll {
                return outcome;
            }
        }
        outcome.writes = write_all(self.writers, &plan.to_string(), targets, &token);
        if outcome.writes.iter().all(|(_, e)| e.is_none()) {
            outcome.window = Some(rotated.elapsed());
        }
        outcome
    }

    /// The rotate call (not in a roll); false when the group stops here,
    /// the call surely having changed nothing. A call whose answer was lost
    /// may have acted: the run goes on as if it had.
    fn invalidate(&self, outcome: &mut GroupOutcome, policy: &Policy) -> bool {
        let who = outcome.plan.to_string();
        if self.inputs.mode == Mode::Roll {
            workflow::log(&format!("{who}: old tokens left valid until they expire (mode roll)"));
            return true;
        }
        let result = match &outcome.plan.subject {
            Subject::Database { group } => {
                self.turso
                    .rotate_database(outcome.group(), group.as_deref().unwrap_or_default(), policy)
            }
            Subject::Group => self.turso.rotate(outcome.group(), policy),
        };
        match result {
            Ok(()) => {
                outcome.rotated_at = Some(SystemTime::now());
                workflow::log(&format!("{who}: every existing token invalidated"));
                true
            }
            Err(e) if may_have_acted(&e) => {
                outcome.rotated_at = Some(SystemTime::now());
                self.wf.annotate(
                    "warning",
                    &format!("{who}: invalidation outcome unknown ({e:#}); creating and writing a new token as if the old ones were dead"),
                );
                outcome.invalidation_lost = Some(format!("{e:#}"));
                true
            }
            Err(e) => {
                outcome.untouched = true;
                outcome.error = Some(format!("{e:#}"));
                false
            }
        }
    }

    /// Creates the new token, masks it and hands it on at once.
    fn create(&self, outcome: &mut GroupOutcome) -> Option<Secret> {
        let (inputs, wf) = (self.inputs, self.wf);
        let who = outcome.plan.to_string();
        if crate::stop::requested() {
            outcome.error = Some(
                "no new token created: the run was stopped (SIGINT or SIGTERM) right after the invalidation".to_owned(),
            );
            return None;
        }
        let request = TokenRequest {
            expiration: &inputs.expiration,
            authorization: inputs.authorization,
            read_attach: &inputs.read_attach,
        };
        let created = match outcome.plan.database() {
            Some(db) => self.turso.create_database_token(db, &request, self.policy),
            None => self.turso.create_token(outcome.group(), &request, self.policy),
        };
        let token = match created {
            Ok(token) => token,
            Err(e) => {
                // Without an invalidation, a failed create changed nothing that matters.
                outcome.untouched = inputs.mode == Mode::Roll;
                outcome.error = Some(format!("{e:#}"));
                return None;
            }
        };
        outcome.created_at = Some(SystemTime::now());
        wf.mask(&token);
        outcome.expiry = Expiry::of(&token);
        let expires = match outcome.expiry {
            Expiry::Never => "never".to_owned(),
            Expiry::At(at) => rfc3339(Some(at)).unwrap_or_default(),
            Expiry::Unknown => {
                wf.annotate(
                    "warning",
                    &format!("{who}: the new token's `exp` claim is not a time this action can read: its expiry is unknown and `expires-at` is left empty"),
                );
                "at an unknown time".to_owned()
            }
        };
        workflow::log(&format!(
            "{who}: new {} token created, expires {expires}",
            inputs.authorization.as_str(),
        ));
        outcome.handed = Some(report::hand_on(inputs, wf, &outcome.plan, &token));
        outcome.token = Some(token.clone());
        Some(token)
    }
}

/// A target and the error writing it, if any.
type Written = (Target, Option<String>);

/// Writes every target: each API's targets one after the other over its one
/// connection (GitHub asks for serial mutating requests), the APIs at the
/// same time, so the outage window is the slowest API's writes, not the
/// sum. Results in the targets' order.
fn write_all(writers: &Writers, who: &str, targets: &[Prepared], token: &Secret) -> Vec<Written> {
    let mut platforms: Vec<Platform> = Vec::new();
    for ready in targets {
        let platform = ready.target().scope.platform();
        if !platforms.contains(&platform) {
            platforms.push(platform);
        }
    }
    let write_one = |ready: &Prepared| -> Written {
        let result = writers.write(ready, token);
        if result.is_ok() {
            workflow::log(&format!("{who}: secret {} written", ready.target()));
        }
        (ready.target().clone(), result.err().map(|e| format!("{e:#}")))
    };
    if platforms.len() < 2 {
        // One API: no thread to start.
        return targets.iter().map(write_one).collect();
    }
    let mut results: Vec<Option<Written>> = targets.iter().map(|_| None).collect();
    std::thread::scope(|scope| {
        let running: Vec<_> = platforms
            .iter()
            .map(|platform| {
                let mine = targets
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| t.target().scope.platform() == *platform);
                let write_one = &write_one;
                scope.spawn(move || mine.map(|(i, t)| (i, write_one(t))).collect::<Vec<_>>())
            })
            .collect();
        for handle in running {
            // Nothing a server sends makes a write panic; were one to, its
            // targets are reported unwritten rather than losing the run.
            for (i, result) in handle.join().unwrap_or_default() {
                results[i] = Some(result);
            }
        }
    });
    results
        .into_iter()
        .zip(targets)
        .map(|(result, ready)| {
            result.unwrap_or_else(|| {
                (
                    ready.target().clone(),
                    Some("not written: the write stopped".to_owned()),
                )
            })
        })
        .collect()
}
