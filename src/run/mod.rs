//! The rotation itself, in the contract's order: preflight (per group:
//! the group, each target's scope, with `rotate-after` when each target
//! was last written), stop on a dry run, prove write access, then rotate
//! the groups (invalidate unless `mode: roll`, create, mask, verify,
//! write), tell the consumers and report. Once a group's tokens are
//! invalidated, nothing is lost: the new token is always handed on, and
//! the state message says exactly what was done.

mod compliance;
mod due;
mod group;
mod preflight;
mod revocation;
pub mod tell;

use anyhow::{Context, Result};

use crate::apis::github::GitHub;
use crate::apis::turso::Turso;
use crate::apis::Writers;
use crate::http::retry::Policy;
use crate::inputs::{Expiration, Inputs, Mode, Platform};
use crate::report::{self, GroupOutcome};
use crate::workflow::Workflow;
use group::Group;
use preflight::{Preflight, PREFLIGHT};

/// Groups rotated at once: enough to clear an emergency quickly, few enough
/// to stay clear of both APIs' secondary rate limits.
const PARALLEL_GROUPS: usize = 4;

/// Runs the whole job; returns the exit code. An `Err` is a failure common
/// to every group, before any token was invalidated.
pub fn run(inputs: &Inputs, wf: &Workflow) -> Result<u8> {
    // A webhook URL is a credential: the runner hides it from every later line.
    // (Its path and query are the secret part: masking them hides the URL too.)
    if let Some(notify) = inputs.notify.as_ref().filter(|n| n.path.expose().len() > 1) {
        wf.mask(&notify.path);
    }
    if let Some(previous) = &inputs.previous_token {
        wf.mask(previous);
    }
    // So is an SMTP URL, and the password inside it.
    if let Some(email) = &inputs.email {
        wf.mask(&email.url);
        if let Some(password) = &email.smtp.password {
            wf.mask(password);
        }
    }
    // A report changes nothing, but stops the same way: at once, exit 1.
    crate::stop::listen(wf);
    let result = match inputs.mode {
        Mode::Report => compliance::run(inputs, wf),
        _ => rotate(inputs, wf),
    };
    if let Err(e) = &result {
        tell::preflight_failure(inputs, wf, e);
    }
    result
}

fn rotate(inputs: &Inputs, wf: &Workflow) -> Result<u8> {
    let policy = Policy::new(inputs.limits);
    warn_of_a_short_roll(inputs, wf);
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
    let mut groups = preflight::read(inputs, wf, &turso, &writers, &policy)?;
    if inputs.dry_run {
        return Ok(dry_run(inputs, wf, groups));
    }
    preflight::probe(inputs, wf, &writers, &mut groups)?;

    let rotation = Group {
        inputs,
        wf,
        policy: &policy,
        turso: &turso,
        writers: &writers,
    };
    let outcomes = in_parallel(&groups, PARALLEL_GROUPS, |group| match &group.failed {
        Some(reason) => GroupOutcome::untouched(group.plan, reason.clone()),
        None if !group.to_rotate(inputs) => {
            GroupOutcome::not_due(group.plan, group.last_written.clone().unwrap_or_default())
        }
        None => rotation.rotate(group),
    });
    let dispatcher = dispatcher.as_ref().or(writers.github.as_ref());
    // Told to stop, nothing new starts (each delivery is then reported not
    // sent), but the state and outputs are written.
    let protected = compliance::protect(&turso, &policy, &groups, &outcomes);
    let deliveries = tell::consumers(inputs, wf, &policy, dispatcher, &writers, &outcomes, protected);
    let code = report::finish(inputs, wf, &outcomes, &deliveries);
    if crate::stop::requested() {
        wf.annotate(
            "error",
            "the run was stopped by SIGINT or SIGTERM: it finished the requests in flight and the writes of tokens already created; the state of each group is above",
        );
        return Ok(crate::exit::FAILED);
    }
    Ok(code)
}

/// A roll whose tokens expire before two `rotate-after` periods pass
/// leaves no room for one dropped run.
fn warn_of_a_short_roll(inputs: &Inputs, wf: &Workflow) {
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
}

/// A dry run stops after preflight: what would happen, and which
/// platforms' targets were not checked for want of a token.
fn dry_run(inputs: &Inputs, wf: &Workflow, groups: Vec<Preflight>) -> u8 {
    let checked = groups.iter().any(|g| !g.targets.is_empty());
    let unchecked: Vec<&str> = [
        (inputs.github.is_none(), Platform::GitHub, "github-token"),
        (
            inputs.cloudflare.is_none(),
            Platform::Cloudflare,
            "cloudflare-api-token",
        ),
        (inputs.vercel.is_none(), Platform::Vercel, "vercel-token"),
        (inputs.fly.is_none(), Platform::Fly, "fly-api-token"),
        (inputs.netlify.is_none(), Platform::Netlify, "netlify-token"),
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
    report::dry_run(inputs, wf, &groups, checked, &unchecked)
}

/// `f` over `items` on up to `workers` threads, results in input order.
fn in_parallel<T: Sync, R: Send>(items: &[T], workers: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() < 2 || workers < 2 {
        // No thread to start for one group.
        return items.iter().map(f).collect();
    }
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
