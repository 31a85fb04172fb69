//! The run's outcome as data: what happened to each group and to each
//! delivery, built once by the rotation. Every rendering reads it; none
//! decides anything.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::apis::turso::Expiry;
use crate::apis::Age;
use crate::inputs::{GroupPlan, Target};
use crate::secret::Secret;

/// What happened to one group.
#[derive(Debug)]
pub struct GroupOutcome {
    pub plan: GroupPlan,
    /// When the rotate call answered: the old tokens died then. Never set
    /// in `mode: roll`.
    pub rotated_at: Option<SystemTime>,
    /// When the new token was created.
    pub created_at: Option<SystemTime>,
    /// Without `rotated_at`: the rotate call surely had no effect (never
    /// sent, or refused with a 4xx), rather than an unknown one.
    pub untouched: bool,
    /// With `rotate-after`: each target and when it was last written
    /// (`None`: missing).
    pub last_written: Vec<(Target, Age)>,
    /// Every target was younger than `rotate-after`: nothing was done.
    pub not_due: bool,
    pub token: Option<Secret>,
    /// The new token's expiry, read once from its `exp` claim.
    pub expiry: Expiry,
    /// Failure of preflight, rotate or create (not of a write).
    pub error: Option<String>,
    /// The new token failed `SELECT 1`.
    pub unverified: Option<String>,
    /// Each target attempted and the error writing it, if any.
    pub writes: Vec<(Target, Option<String>)>,
    /// Rotate answered -> last secret written.
    pub window: Option<Duration>,
    /// The rotate call's answer was lost (its error): it may have
    /// invalidated the old tokens, so the run went on as if it had.
    pub invalidation_lost: Option<String>,
    /// Where the new token was handed on as soon as it existed.
    pub handed: Option<Handed>,
    /// With `previous-token`, after the invalidation: whether it was refused.
    pub revocation: Option<Revocation>,
    /// In a roll with `previous-token`: its expiry, from its `exp` claim.
    pub previous_expiry: Option<Expiry>,
}

/// What the previous token proved after the invalidation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// Refused (401/403): the old tokens are dead.
    Proven,
    /// Still accepted: the invalidation did not take effect.
    StillAccepted,
}

impl GroupOutcome {
    pub fn new(plan: &GroupPlan) -> Self {
        GroupOutcome {
            plan: plan.clone(),
            rotated_at: None,
            created_at: None,
            untouched: false,
            last_written: Vec::new(),
            not_due: false,
            token: None,
            expiry: Expiry::Never,
            error: None,
            unverified: None,
            writes: Vec::new(),
            window: None,
            invalidation_lost: None,
            handed: None,
            revocation: None,
            previous_expiry: None,
        }
    }

    /// A group nothing was done to, for `reason`.
    pub fn untouched(plan: &GroupPlan, reason: String) -> Self {
        GroupOutcome {
            untouched: true,
            error: Some(reason),
            ..GroupOutcome::new(plan)
        }
    }

    /// A group left alone: every target is younger than `rotate-after`.
    pub fn not_due(plan: &GroupPlan, last_written: Vec<(Target, Age)>) -> Self {
        GroupOutcome {
            not_due: true,
            last_written,
            ..GroupOutcome::new(plan)
        }
    }

    pub fn group(&self) -> &str {
        &self.plan.group
    }

    /// Not due, or every target written with a token that passed verification.
    pub fn ok(&self) -> bool {
        self.not_due
            || (self.error.is_none()
                && self.unverified.is_none()
                && (self.invalidation_lost.is_none() || self.revocation == Some(Revocation::Proven))
                && self.revocation != Some(Revocation::StillAccepted)
                && self.all_written())
    }

    /// `true`, `false`, or `unknown` when the rotate call's answer was lost
    /// and no previous token settled it. It comes from Turso's answer; the
    /// previous token decides only where that answer was lost (SPEC:
    /// `revocation-proven` says whether the previous token still works).
    pub fn invalidated(&self) -> &'static str {
        match (self.rotated_at, &self.invalidation_lost, self.revocation) {
            (Some(_), None, _) => "true",
            (Some(_), Some(_), Some(Revocation::Proven)) => "true",
            (Some(_), Some(_), Some(Revocation::StillAccepted)) => "false",
            (Some(_), Some(_), None) => "unknown",
            (None, _, _) => "false",
        }
    }

    /// The `revocation-proven` output: `true`, `false`, or empty when
    /// nothing was proven either way.
    pub fn revocation_proven(&self) -> &'static str {
        match self.revocation {
            Some(Revocation::Proven) => "true",
            Some(Revocation::StillAccepted) => "false",
            None => "",
        }
    }

    /// Every target holds the new token.
    pub(super) fn all_written(&self) -> bool {
        self.writes.len() == self.plan.targets.len() && self.writes.iter().all(|(_, e)| e.is_none())
    }

    /// Whether `target` holds the new token.
    pub(super) fn wrote(&self, target: &Target) -> bool {
        self.writes.iter().any(|(w, e)| w == target && e.is_none())
    }

    /// When the token was made: the rotate call's answer, or in a roll the
    /// new token's creation.
    pub(super) fn made_at(&self) -> Option<SystemTime> {
        self.rotated_at.or(self.created_at)
    }

    /// The group's own error: preflight, rotate or create, else verification.
    pub(super) fn own_error(&self) -> Option<&String> {
        self.error.as_ref().or(self.unverified.as_ref())
    }

    /// A target's error; one not attempted shares its group's.
    pub(super) fn target_error(&self, target: &Target) -> Option<String> {
        if self.not_due {
            return None;
        }
        match self.writes.iter().find(|(t, _)| t == target) {
            Some((_, e)) => e.clone(),
            // (In a roll, a token that failed verification is not written.)
            None => Some(
                self.error
                    .clone()
                    .or_else(|| self.unverified.clone())
                    .unwrap_or_else(|| "not attempted".to_owned()),
            ),
        }
    }
}

/// A dispatch or notification sent after the writes, and its error.
#[derive(Debug)]
pub struct Delivery {
    /// `dispatch:<entry>` or `notify:<host>`.
    pub target: String,
    pub error: Option<String>,
}

/// Whether the run fails: a group that is not ok, or a delivery that failed.
pub fn failed(outcomes: &[GroupOutcome], deliveries: &[Delivery]) -> bool {
    !outcomes.iter().all(GroupOutcome::ok) || deliveries.iter().any(|d| d.error.is_some())
}

/// Groups with at least one secret written: the ones consumers are told of.
pub fn written(outcomes: &[GroupOutcome]) -> impl Iterator<Item = &GroupOutcome> {
    outcomes.iter().filter(|o| o.writes.iter().any(|(_, e)| e.is_none()))
}

/// The run's `invalidated`: `unknown` when any group's rotate call lost
/// its answer, else `true` when any group's tokens were invalidated.
pub(super) fn invalidated<'a>(outcomes: impl IntoIterator<Item = &'a GroupOutcome>) -> &'static str {
    let each: Vec<&str> = outcomes.into_iter().map(GroupOutcome::invalidated).collect();
    ["unknown", "true"]
        .into_iter()
        .find(|v| each.contains(v))
        .unwrap_or("false")
}

/// [`invalidated`] for a JSON message: a bool when known, else `"unknown"`.
pub(super) fn invalidated_json<'a>(outcomes: impl IntoIterator<Item = &'a GroupOutcome>) -> serde_json::Value {
    match invalidated(outcomes) {
        "unknown" => serde_json::Value::from("unknown"),
        known => serde_json::Value::from(known == "true"),
    }
}

/// Where a new token was handed on.
#[derive(Debug, Clone)]
pub enum Handed {
    /// The masked step output of that name.
    Output(String),
    File(PathBuf),
    /// Saving it failed too: the error.
    Lost(String),
}

/// One group of a dry run: why its preflight failed, or with
/// `rotate-after` when its targets were last written.
pub struct DryRunGroup {
    pub failed: Option<String>,
    pub last_written: Option<Vec<(Target, Age)>>,
    /// A rotation is due (decided by the run).
    pub due: bool,
}
