//! The rotation itself, in the contract's order: preflight both APIs (per
//! group), with `rotate-after` read when each secret was written, stop on a
//! dry run, prove write access, then per group invalidate (unless `mode:
//! roll`), create, mask, (verify), seal and write. Once a group's
//! tokens are invalidated, nothing is lost: the new token is always handed
//! on, and the state message says exactly what was done.

mod due;
pub mod tell;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};

use crate::apis::github::GitHub;
use crate::apis::libsql;
use crate::apis::turso::{Expiry, TokenRequest, Turso};
use crate::apis::vercel::Vercel;
use crate::apis::{Age, Prepared, Read, ReadKey, Writers};
use crate::http::retry::{may_have_acted, Policy, Refused};
use crate::inputs::{Expiration, GroupPlan, Inputs, Limits, Mode, Platform, Scope, Target};
use crate::report::{self, rfc3339, Delivery, GroupOutcome};
use crate::workflow::{self, Workflow};

/// Prefix of every error that stops the run before anything changed.
const PREFLIGHT: &str = "preflight failed, nothing was rotated";

/// Why a group was not started: the run was told to stop.
const STOPPED: &str = "not rotated: the run was stopped (SIGINT or SIGTERM) before this group was started";

/// Time kept for creating and writing once a group is rotated (at most half the run's).
const AFTER_ROTATE_RESERVE: Duration = Duration::from_secs(30);

/// Groups rotated at once: enough to clear an emergency quickly, few enough
/// to stay clear of both APIs' secondary rate limits.
const PARALLEL_GROUPS: usize = 4;

/// One group through preflight: its targets made ready, or why it stops.
struct Preflight<'a> {
    plan: &'a GroupPlan,
    targets: Vec<Prepared>,
    failed: Option<String>,
    /// With `rotate-after`: when each target was last written.
    last_written: Option<Vec<(Target, Age)>>,
}

impl Preflight<'_> {
    /// Preflight passed and, with `rotate-after`, a rotation is due.
    fn to_rotate(&self, inputs: &Inputs) -> bool {
        self.failed.is_none() && self.last_written.as_ref().is_none_or(|last| due::is_due(inputs, last))
    }
}

/// Runs the whole job; returns the exit code. An `Err` is a failure common
/// to every group, before any token was invalidated.
pub fn run(inputs: &Inputs, wf: &Workflow) -> Result<u8> {
    // A webhook URL is a credential: the runner hides it from every later line.
    // (Its path and query are the secret part: masking them hides the URL too.)
    if let Some(notify) = inputs.notify.as_ref().filter(|n| n.path.expose().len() > 1) {
        wf.mask(&notify.path);
    }
    let result = rotate(inputs, wf);
    // A run that stops in preflight fails too: the channel hears of it.
    if let (Err(e), Some(notify), false) = (&result, &inputs.notify, inputs.dry_run) {
        let outcomes: Vec<GroupOutcome> = inputs
            .plans
            .iter()
            .map(|plan| GroupOutcome::untouched(plan, format!("{e:#}")))
            .collect();
        let message = report::notification(inputs, wf, &outcomes, &[], notify.format);
        // The run's deadline may be what stopped it: a short one of its own.
        let policy = Policy::new(Limits {
            timeout: NOTIFY_AFTER_FAILURE,
            ..inputs.limits
        });
        if let Some(error) = tell::notify(notify, &message, &policy).error {
            wf.annotate("warning", &error);
        }
    }
    result
}

/// Time a notification may take when the run's deadline is (nearly) spent,
/// as after a preflight failure: the channel hears of the runs that went worst.
const NOTIFY_AFTER_FAILURE: Duration = Duration::from_secs(20);

/// The run's policy, or a short one of the notification's own when less
/// than that is left.
fn notify_policy(inputs: &Inputs, policy: &Policy) -> Policy {
    if policy.remaining() >= NOTIFY_AFTER_FAILURE {
        return *policy;
    }
    Policy::new(Limits {
        timeout: NOTIFY_AFTER_FAILURE,
        ..inputs.limits
    })
}

fn rotate(inputs: &Inputs, wf: &Workflow) -> Result<u8> {
    crate::stop::listen(wf);
    let policy = Policy::new(inputs.limits);
    if let (Mode::Roll, Expiration::After(text, lifetime), Some(after)) =
        (inputs.mode, &inputs.expiration, inputs.rotate_after)
    {
        if *lifetime < after * 2 {
            wf.annotate(
                "warning",
                &format!("`expiration` ({text}) is less than twice `rotate-after`: one dropped or failed scheduled run lets the token in use expire. Twice or more is safer."),
            );
        }
    }
    let turso = Turso::new(&inputs.turso_api_url, &inputs.organization, inputs.api_token.clone());
    // Local set-up first (it loads the CA roots): a broken image fails
    // here, before any request.
    let writers = Writers::connect(inputs, policy).context(PREFLIGHT)?;
    let dispatcher = inputs
        .dispatcher
        .as_ref()
        .map(|access| GitHub::connect(access, policy))
        .transpose()
        .context(PREFLIGHT)?;
    let mut groups: Vec<Preflight> = inputs
        .plans
        .iter()
        .map(|plan| Preflight {
            plan,
            targets: Vec::new(),
            failed: None,
            last_written: None,
        })
        .collect();
    for group in &mut groups {
        match turso.check_group(&group.plan.group, &policy) {
            Ok(()) => workflow::log(&format!(
                "preflight: group `{}` of organization `{}` found",
                group.plan.group, inputs.organization
            )),
            Err(e) => group.failed = Some(group_failure(inputs, e)?),
        }
    }

    // Each scope (a GitHub public key, a Worker's list) and each Vercel
    // project (its list, whatever the targets) is read once, however many
    // secrets it holds; a read that failed fails every group that writes
    // there. Each target's write is then decided from what was read: a
    // conflict on one variable fails only the groups that write it. A dry
    // run without a platform's token leaves that platform's targets
    // unchecked.
    let mut reads: BTreeMap<ReadKey, Result<Read, String>> = BTreeMap::new();
    for group in groups.iter_mut().filter(|g| g.failed.is_none()) {
        for target in group.plan.targets.iter().filter(|t| writers.reaches(t)) {
            let key = ReadKey::of(&target.scope);
            let read = match reads.get(&key) {
                Some(read) => read,
                None => {
                    let read = match writers.prepare(target) {
                        Ok(read) => {
                            workflow::log(&format!("preflight: {key} read"));
                            Ok(read)
                        }
                        Err(e) => Err(group_failure(inputs, e)?),
                    };
                    reads.entry(key).or_insert(read)
                }
            };
            let ready = match read {
                Ok(read) => match read.for_target(target) {
                    Ok(ready) => Ok(ready),
                    Err(e) => Err(group_failure(inputs, e)?),
                },
                Err(message) => Err(message.clone()),
            };
            match ready {
                Ok(ready) => {
                    if let Some(warning) = ready.warning() {
                        wf.annotate("warning", &warning);
                    }
                    group.targets.push(ready);
                }
                Err(message) => {
                    group.failed = Some(message);
                    break;
                }
            }
        }
    }

    // With `rotate-after`, a group is rotated only when a target is due;
    // read before the probe, so a run that is not due changes nothing.
    if inputs.rotate_after.is_some() {
        for group in groups.iter_mut().filter(|g| g.failed.is_none()) {
            let mut last_written = Vec::new();
            for ready in &group.targets {
                match writers.age(ready) {
                    Ok(age) => last_written.push((ready.target().clone(), due::judged(wf, ready.target(), age))),
                    Err(e) => {
                        group.failed = Some(group_failure(inputs, e)?);
                        break;
                    }
                }
            }
            let due = due::is_due(inputs, &last_written);
            workflow::log(&format!(
                "preflight: group `{}` is {}due (rotate-after {})",
                group.plan.group,
                if due { "" } else { "not " },
                report::short_duration(inputs.rotate_after.unwrap_or_default())
            ));
            group.last_written = Some(last_written);
        }
    }

    if inputs.dry_run {
        let checked = groups.iter().any(|g| !g.targets.is_empty());
        let unchecked: Vec<&str> = [
            (inputs.github.is_none(), Platform::GitHub, "github-token"),
            (
                inputs.cloudflare.is_none(),
                Platform::Cloudflare,
                "cloudflare-api-token",
            ),
            (inputs.vercel.is_none(), Platform::Vercel, "vercel-token"),
        ]
        .into_iter()
        .filter(|(missing, platform, _)| {
            *missing
                && inputs
                    .plans
                    .iter()
                    .flat_map(|p| &p.targets)
                    .any(|t| t.scope.platform() == *platform)
        })
        .map(|(_, _, input)| input)
        .collect();
        let groups: Vec<report::DryRunGroup> = groups
            .into_iter()
            .map(|g| report::DryRunGroup {
                due: g.to_rotate(inputs),
                failed: g.failed,
                last_written: g.last_written,
            })
            .collect();
        return Ok(report::dry_run(inputs, wf, &groups, checked, &unchecked));
    }

    // Prove write access once per scope; a refused probe stops the groups that use it.
    let mut probes: BTreeMap<Scope, Option<String>> = BTreeMap::new();
    for group in groups.iter_mut().filter(|g| g.to_rotate(inputs)) {
        for ready in &group.targets {
            let scope = &ready.target().scope;
            if !probes.contains_key(scope) {
                let refused = match writers.probe(ready) {
                    Ok(warning) => {
                        if let Some(warning) = warning {
                            wf.annotate("warning", &warning);
                        }
                        workflow::log(&format!("preflight: write access to {scope} proven"));
                        None
                    }
                    Err(e) => Some(group_failure(inputs, e)?),
                };
                probes.insert(scope.clone(), refused);
            }
            if let Some(Some(refused)) = probes.get(scope) {
                group.failed = Some(refused.clone());
            }
        }
    }

    let outcomes = in_parallel(&groups, PARALLEL_GROUPS, |group| match &group.failed {
        Some(reason) => GroupOutcome::untouched(group.plan, reason.clone()),
        None if !group.to_rotate(inputs) => {
            GroupOutcome::not_due(group.plan, group.last_written.clone().unwrap_or_default())
        }
        None => rotate_group(inputs, wf, &policy, &turso, &writers, group.plan, &group.targets),
    });
    let dispatcher = dispatcher.as_ref().or(writers.github.as_ref());
    // Told to stop: nothing new starts, but the state and outputs are written.
    let deliveries = match crate::stop::requested() {
        true => Vec::new(),
        false => tell_consumers(inputs, wf, &policy, dispatcher, writers.vercel.as_ref(), &outcomes),
    };
    let code = report::finish(inputs, wf, &outcomes, &deliveries);
    if crate::stop::requested() {
        wf.annotate(
            "error",
            "the run was stopped by SIGINT or SIGTERM: it finished the requests in flight and the writes of tokens already created; the state of each group is above",
        );
        return Ok(crate::EXIT_FAILED);
    }
    Ok(code)
}

/// Dispatches, once some secrets were written, then the notification.
fn tell_consumers(
    inputs: &Inputs,
    wf: &Workflow,
    policy: &Policy,
    github: Option<&GitHub>,
    vercel: Option<&Vercel>,
    outcomes: &[GroupOutcome],
) -> Vec<Delivery> {
    let mut deliveries = Vec::new();
    if !inputs.dispatch.is_empty() && report::written(outcomes).next().is_some() {
        let payload = report::dispatch_payload(inputs, wf, outcomes);
        deliveries.extend(tell::dispatch(github, vercel, &inputs.dispatch, &payload));
    }
    if let Some(notify) = &inputs.notify {
        if !notify.only_on_failure || report::failed(outcomes, &deliveries) {
            let message = report::notification(inputs, wf, outcomes, &deliveries, notify.format);
            deliveries.push(tell::notify(notify, &message, &notify_policy(inputs, policy)));
        }
    }
    deliveries
}

/// A preflight failure as one group's reason not to rotate, when it
/// concerns that group's own resources (a refusal: 403, 404, 422) and the
/// run has several groups. Anything else (the credentials, the network,
/// the deadline) every group shares: it stops the run.
fn group_failure(inputs: &Inputs, error: anyhow::Error) -> Result<String> {
    let own = error.chain().any(|c| {
        c.downcast_ref::<Refused>()
            .is_some_and(|r| matches!(r.status, 403 | 404 | 422))
    });
    if inputs.per_group_outputs && own {
        Ok(format!("{PREFLIGHT}: {error:#}"))
    } else {
        Err(error.context(PREFLIGHT))
    }
}

/// `f` over `items` on up to `workers` threads, results in input order.
fn in_parallel<T: Sync, R: Send>(items: &[T], workers: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: std::sync::Mutex<Vec<Option<R>>> = std::sync::Mutex::new(items.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers.min(items.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(item) = items.get(i) else { break };
                let result = f(item);
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

fn rotate_group(
    inputs: &Inputs,
    wf: &Workflow,
    policy: &Policy,
    turso: &Turso,
    writers: &Writers,
    plan: &GroupPlan,
    targets: &[Prepared],
) -> GroupOutcome {
    let group = &plan.group;
    let mut outcome = GroupOutcome::new(plan);
    // No attempt or wait of the rotate call, and no verification retry,
    // may use the time that creating and writing the token need.
    let reserve = (inputs.limits.timeout / 2).min(AFTER_ROTATE_RESERVE);
    let rotate_policy = policy.reserving(reserve);
    if rotate_policy.remaining().is_zero() {
        return GroupOutcome::untouched(
            plan,
            format!(
                "not rotated: only {:.1}s were left before the run's deadline, too little to create and write a token (raise the `timeout` input)",
                policy.remaining().as_secs_f64()
            ),
        );
    }
    if !crate::stop::may_change() {
        return GroupOutcome::untouched(plan, STOPPED.to_owned());
    }
    match inputs.mode {
        Mode::Invalidate => match turso.rotate(group, &rotate_policy) {
            Ok(()) => {
                outcome.rotated_at = Some(SystemTime::now());
                workflow::log(&format!("group `{group}`: every existing token invalidated"));
            }
            // The call may have acted: go on as if it had, so the group is
            // never left without a token; the outcome stays unknown.
            Err(e) if may_have_acted(&e) => {
                outcome.rotated_at = Some(SystemTime::now());
                wf.annotate(
                    "warning",
                    &format!("group `{group}`: invalidation outcome unknown ({e:#}); creating and writing a new token as if the old ones were dead"),
                );
                outcome.invalidation_lost = Some(format!("{e:#}"));
            }
            Err(e) => {
                outcome.untouched = true;
                outcome.error = Some(format!("{e:#}"));
                return outcome;
            }
        },
        Mode::Roll => workflow::log(&format!(
            "group `{group}`: old tokens left valid until they expire (mode roll)"
        )),
    }
    let rotated = Instant::now();

    let request = TokenRequest {
        expiration: &inputs.expiration,
        authorization: inputs.authorization,
        read_attach: &inputs.read_attach,
    };
    if crate::stop::requested() {
        outcome.error = Some(
            "no new token created: the run was stopped (SIGINT or SIGTERM) right after the invalidation".to_owned(),
        );
        return outcome;
    }
    let token = match turso.create_token(group, &request, policy) {
        Ok(token) => token,
        Err(e) => {
            // Without an invalidation, a failed create changed nothing that matters.
            outcome.untouched = inputs.mode == Mode::Roll;
            outcome.error = Some(format!("{e:#}"));
            return outcome;
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
                &format!("group `{group}`: the new token's `exp` claim is not a time this action can read: its expiry is unknown and `expires-at` is left empty"),
            );
            "at an unknown time".to_owned()
        }
    };
    workflow::log(&format!(
        "group `{group}`: new {} token created, expires {expires}",
        inputs.authorization.as_str(),
    ));
    outcome.handed = Some(report::hand_on(inputs, wf, plan, &token));
    outcome.token = Some(token.clone());

    if let Some(url) = &inputs.database_url {
        match libsql::verify(url, &token, &policy.reserving(reserve / 2)) {
            Ok(()) => workflow::log(&format!("group `{group}`: new token verified with SELECT 1 on {url}")),
            Err(e) => outcome.unverified = Some(format!("{e:#}")),
        }
        // After an invalidation the secrets hold a dead token: a new one
        // that failed verification can only be better, so it is written
        // (and the run fails). In a roll the old token still works.
        if outcome.unverified.is_some() && inputs.mode == Mode::Roll {
            return outcome;
        }
    }

    for ready in targets {
        let result = writers.write(ready, &token);
        if result.is_ok() {
            workflow::log(&format!("group `{group}`: secret {} written", ready.target()));
        }
        outcome
            .writes
            .push((ready.target().clone(), result.err().map(|e| format!("{e:#}"))));
    }
    if outcome.writes.iter().all(|(_, e)| e.is_none()) {
        outcome.window = Some(rotated.elapsed());
    }
    outcome
}
