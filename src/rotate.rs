//! The rotation itself, in the contract's order: preflight both APIs, stop
//! on a dry run, prove write access, then per group invalidate, create,
//! mask, (verify), seal and write; then outputs, summary and audit trail.
//! Once a group's tokens are invalidated, nothing is lost: the new token
//! is always handed on, and the error says exactly what state things are in.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};

use crate::github::{GitHub, Prepared};
use crate::inputs::{GroupPlan, Inputs, Scope, Target};
use crate::libsql;
use crate::retry::{Policy, Refused};
use crate::secret::Secret;
use crate::turso::{self, TokenRequest, Turso};
use crate::workflow::{self, Workflow};

/// What happened to one group.
#[derive(Debug)]
struct GroupOutcome {
    group: String,
    /// When the rotate call answered: the old tokens died then.
    rotated_at: Option<SystemTime>,
    /// Without `rotated_at`: the rotate call surely had no effect (never
    /// sent, or refused with a 4xx), rather than an unknown one.
    untouched: bool,
    token: Option<Secret>,
    /// Failure of rotate, create or verify (not of a write).
    error: Option<String>,
    /// Each target and the error writing it, if any.
    writes: Vec<(Target, Option<String>)>,
    /// Rotate answered -> last secret written.
    window: Option<Duration>,
}

impl GroupOutcome {
    fn ok(&self) -> bool {
        self.error.is_none() && self.writes.iter().all(|(_, e)| e.is_none())
    }

    fn expires_at(&self) -> Option<SystemTime> {
        self.token.as_ref().and_then(turso::expiry)
    }
}

/// Runs the whole job; returns the exit code. An `Err` is a failure before
/// any token was invalidated.
pub fn run(inputs: &Inputs, wf: &Workflow) -> Result<u8> {
    let policy = Policy::new(inputs.limits);
    let turso = Turso::new(
        &inputs.turso_api_url,
        &inputs.organization,
        inputs.api_token.clone(),
        policy,
    );
    let preflight = "preflight failed, nothing was rotated";
    // Local set-up first (it loads the system's CA roots): a broken image
    // fails here, before any request.
    let github = match &inputs.github {
        Some(access) => Some(GitHub::connect(access, policy).context(preflight)?),
        None => None,
    };
    for plan in &inputs.plans {
        turso.check_group(&plan.group).context(preflight)?;
        workflow::log(&format!(
            "preflight: group `{}` of organization `{}` found",
            plan.group, inputs.organization
        ));
    }
    // One public key (and one probe) per scope, however many secrets it holds.
    let mut keys: BTreeMap<Scope, Prepared> = BTreeMap::new();
    let mut prepared: Vec<Vec<Prepared>> = vec![Vec::new(); inputs.plans.len()];
    if let Some(github) = &github {
        for (plan, ready_targets) in inputs.plans.iter().zip(&mut prepared) {
            for target in &plan.targets {
                let ready = match keys.get(&target.scope) {
                    Some(known) => known.for_target(target),
                    None => {
                        let ready = github.prepare(target).context(preflight)?;
                        workflow::log(&format!("preflight: public key of {} fetched", target.scope));
                        keys.insert(target.scope.clone(), ready.clone());
                        ready
                    }
                };
                ready_targets.push(ready);
            }
        }
    }

    if inputs.dry_run {
        return dry_run(inputs, wf, github.is_some());
    }
    let github = github.expect("inputs require a GitHub token unless dry-run");
    for ready in keys.values() {
        if let Some(warning) = github.probe(ready).context(preflight)? {
            wf.annotate("warning", &warning);
        }
        workflow::log(&format!("preflight: write access to {} proven", ready.target.scope));
    }

    let jobs: Vec<(&GroupPlan, &Vec<Prepared>)> = inputs.plans.iter().zip(&prepared).collect();
    let outcomes = in_parallel(&jobs, PARALLEL_GROUPS, |(plan, targets)| {
        rotate_group(inputs, wf, &policy, &turso, &github, plan, targets)
    });
    report(inputs, wf, &outcomes)
}

/// Time kept for creating and writing once a group is rotated (at most half the run's).
const AFTER_ROTATE_RESERVE: Duration = Duration::from_secs(30);

/// Groups rotated at once: enough to clear an emergency quickly, few enough
/// to stay clear of both APIs' secondary rate limits.
const PARALLEL_GROUPS: usize = 4;

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
    github: &GitHub,
    plan: &GroupPlan,
    targets: &[Prepared],
) -> GroupOutcome {
    let group = &plan.group;
    let mut outcome = GroupOutcome {
        group: group.clone(),
        rotated_at: None,
        untouched: false,
        token: None,
        error: None,
        writes: Vec::new(),
        window: None,
    };
    // Rotating with too little time left to create and write would strand the group.
    let reserve = (inputs.limits.timeout / 2).min(AFTER_ROTATE_RESERVE);
    if policy.remaining() < reserve {
        outcome.untouched = true;
        outcome.error = Some(format!(
            "not rotated: only {:.1}s were left before the run's deadline, too little to create and write a token (raise the `timeout` input)",
            policy.remaining().as_secs_f64()
        ));
        return outcome;
    }
    if let Err(e) = turso.rotate(group) {
        outcome.untouched = e
            .chain()
            .any(|c| c.downcast_ref::<Refused>().is_some_and(|r| r.status < 500));
        outcome.error = Some(format!("{e:#}"));
        return outcome;
    }
    let rotated = Instant::now();
    outcome.rotated_at = Some(SystemTime::now());
    workflow::log(&format!("group `{group}`: every existing token invalidated"));

    let request = TokenRequest {
        expiration: &inputs.expiration,
        authorization: inputs.authorization,
        read_attach: &inputs.read_attach,
    };
    let token = match turso.create_token(group, &request) {
        Ok(token) => token,
        Err(e) => {
            outcome.error = Some(format!("{e:#}"));
            return outcome;
        }
    };
    wf.mask(&token);
    workflow::log(&format!(
        "group `{group}`: new {} token created, expires {}",
        inputs.authorization.as_str(),
        rfc3339(turso::expiry(&token)).unwrap_or_else(|| "never".into())
    ));
    outcome.token = Some(token.clone());

    if let Some(url) = &inputs.database_url {
        if let Err(e) = libsql::verify(url, &token, policy) {
            outcome.error = Some(format!("{e:#}"));
            return outcome;
        }
        workflow::log(&format!("group `{group}`: new token verified with SELECT 1 on {url}"));
    }

    for ready in targets {
        let result = github.write(ready, token.expose().as_bytes(), "writing the new token");
        if result.is_ok() {
            workflow::log(&format!("group `{group}`: secret {} written", ready.target));
        }
        outcome
            .writes
            .push((ready.target.clone(), result.err().map(|e| format!("{e:#}"))));
    }
    if outcome.ok() {
        outcome.window = Some(rotated.elapsed());
    }
    outcome
}

/// After a failure: what was done, what was not, and what to do.
fn failure_message(outcome: &GroupOutcome, wf: &Workflow, output: &str) -> String {
    let group = &outcome.group;
    if outcome.token.is_none() {
        return match outcome.rotated_at {
            None if outcome.untouched => format!(
                "Group `{group}`: {}. Tokens invalidated: no; new token created: no; secret written: no. Nothing changed for this group: re-run the workflow.",
                outcome.error.as_deref().unwrap_or_default()
            ),
            None => format!(
                "Group `{group}`: {}. Tokens invalidated: unknown (the rotate call failed); new token created: no; secret written: no. Re-run the workflow: it is safe.",
                outcome.error.as_deref().unwrap_or_default()
            ),
            Some(_) => format!(
                "Group `{group}`: {}. Tokens invalidated: yes; new token created: no; secret written: no. Deployments using the old token fail until a new one is written: re-run the workflow, it is safe.",
                outcome.error.as_deref().unwrap_or_default()
            ),
        };
    }
    let failed: Vec<String> = match &outcome.error {
        Some(e) => vec![e.clone()],
        None => outcome.writes.iter().filter_map(|(_, e)| e.clone()).collect(),
    };
    let written: Vec<String> = outcome
        .writes
        .iter()
        .filter(|(_, e)| e.is_none())
        .map(|(t, _)| t.secret.clone())
        .collect();
    let handed = if wf.records_outputs() {
        format!("The new token is in this step's masked `{output}` output: a following step with `if: failure()` can store it.")
    } else {
        "The new token was saved to the token file named above.".to_owned()
    };
    format!(
        "Group `{group}`: {}. Tokens invalidated: yes; new token created: yes; secret written: {}. {handed} Re-running the workflow is safe: it rotates again (and that token dies with it).",
        failed.join("; "),
        if written.is_empty() { "no".to_owned() } else { format!("only {}", written.join(", ")) }
    )
}

fn dry_run(inputs: &Inputs, wf: &Workflow, with_github: bool) -> Result<u8> {
    let mut rows = String::new();
    for plan in &inputs.plans {
        for target in &plan.targets {
            rows.push_str(&format!(
                "| {} | `{}` | {} | would write |\n",
                inputs.organization,
                plan.group,
                cell(&target.to_string())
            ));
        }
        workflow::log(&format!(
            "dry run: would invalidate every token of group `{}` and create a {} token (expiration {})",
            plan.group,
            inputs.authorization.as_str(),
            inputs.expiration.as_query()
        ));
    }
    let proof = if with_github {
        "GitHub public keys were read, but write access was not proven: a dry run writes nothing, not even the probe secret."
    } else {
        "No `github-token` was given: only the Turso side was checked."
    };
    workflow::log(&format!("dry run: nothing was changed. {proof}"));
    let results: Vec<Value> = inputs
        .plans
        .iter()
        .flat_map(|p| p.targets.iter().map(|t| result_json(&p.group, t, false, None)))
        .collect();
    let mut outputs = Map::new();
    outputs.insert("expires-at".into(), json!(""));
    outputs.insert("rotated-at".into(), json!(""));
    outputs.insert("secret-updated".into(), json!("false"));
    outputs.insert("results".into(), Value::Array(results));
    wf.outputs(outputs, &[], inputs.show_token)?;
    wf.summary(&format!(
        "### Turso token rotation: dry run\n\nNothing was changed. {proof}\n\n| Organization | Group | Secret | Result |\n|---|---|---|---|\n{rows}\n"
    ))?;
    Ok(0)
}

fn report(inputs: &Inputs, wf: &Workflow, outcomes: &[GroupOutcome]) -> Result<u8> {
    let mut tokens: Vec<(String, &Secret)> = Vec::new();
    for outcome in outcomes {
        if let Some(token) = &outcome.token {
            tokens.push((token_output(inputs, &outcome.group), token));
        }
    }
    // Where no step can read an output, a token that did not reach its secret goes to a file.
    for (outcome, plan) in outcomes.iter().zip(&inputs.plans) {
        if let (false, false, Some(token)) = (wf.records_outputs(), outcome.ok(), &outcome.token) {
            match save_token(&plan.token_file, token) {
                Ok(()) => workflow::log(&format!(
                    "group `{}`: new token saved to {} (mode 0600)",
                    outcome.group,
                    plan.token_file.display()
                )),
                Err(e) => wf.annotate(
                    "error",
                    &format!(
                        "group `{}`: saving the new token to {} failed: {e:#}",
                        outcome.group,
                        plan.token_file.display()
                    ),
                ),
            }
        }
    }

    // Outcomes come in plan order; a target not attempted shares its group's error.
    let results: Vec<Value> = outcomes
        .iter()
        .zip(&inputs.plans)
        .flat_map(|(o, plan)| {
            plan.targets.iter().map(move |t| {
                let error = match o.writes.iter().find(|(w, _)| w == t) {
                    Some((_, e)) => e.clone(),
                    None => Some(o.error.clone().unwrap_or_else(|| "not attempted".to_owned())),
                };
                result_json(&o.group, t, error.is_none(), error)
            })
        })
        .collect();
    let all_ok = outcomes.iter().all(GroupOutcome::ok);
    let mut outputs = Map::new();
    let first = &outcomes[0];
    outputs.insert(
        "expires-at".into(),
        json!(if !inputs.per_group_outputs {
            rfc3339(first.expires_at()).unwrap_or_default()
        } else {
            String::new()
        }),
    );
    outputs.insert(
        "rotated-at".into(),
        json!(rfc3339(outcomes.iter().filter_map(|o| o.rotated_at).min()).unwrap_or_default()),
    );
    outputs.insert("secret-updated".into(), json!(all_ok.to_string()));
    outputs.insert("results".into(), Value::Array(results));
    wf.outputs(outputs, &tokens, inputs.show_token)?;
    wf.summary(&summary(&inputs.organization, inputs.reason.as_deref(), outcomes))?;
    for outcome in outcomes.iter().filter(|o| !o.ok()) {
        wf.annotate(
            "error",
            &failure_message(outcome, wf, &token_output(inputs, &outcome.group)),
        );
    }
    let mut code = if all_ok { 0 } else { 1 };
    if let Some(path) = &inputs.audit_file {
        if let Err(e) = audit(path, inputs, wf, outcomes) {
            wf.annotate(
                "error",
                &format!("appending to the audit file {}: {e:#}", path.display()),
            );
            code = 1;
        }
    }
    Ok(code)
}

/// The output that carries a group's token: `token`, or `token-<group>` with `groups`.
fn token_output(inputs: &Inputs, group: &str) -> String {
    if inputs.per_group_outputs {
        format!("token-{group}")
    } else {
        "token".to_owned()
    }
}

fn result_json(group: &str, target: &Target, written: bool, error: Option<String>) -> Value {
    json!({ "group": group, "target": target.spec(), "written": written, "error": error })
}

fn summary(organization: &str, reason: Option<&str>, outcomes: &[GroupOutcome]) -> String {
    let mut text = String::from("### Turso token rotation\n\n");
    if let Some(reason) = reason {
        text.push_str(&format!("Reason: {}\n\n", cell(reason)));
    }
    text.push_str("| Organization | Group | Secret | Result | Expires | Rotated at | Without a valid secret |\n|---|---|---|---|---|---|---|\n");
    for o in outcomes {
        let expires = match (&o.token, o.expires_at()) {
            (None, _) => "-".to_owned(),
            (Some(_), None) => "never".to_owned(),
            (Some(_), at) => rfc3339(at).unwrap_or_default(),
        };
        let rotated = rfc3339(o.rotated_at).unwrap_or_else(|| "-".into());
        let window = o.window.map_or("-".to_owned(), |w| format!("{:.1}s", w.as_secs_f64()));
        let rows: Vec<(String, String)> = if o.writes.is_empty() {
            vec![("-".into(), format!("failed: {}", o.error.as_deref().unwrap_or("")))]
        } else {
            o.writes
                .iter()
                .map(|(t, e)| {
                    (
                        t.to_string(),
                        e.as_ref().map_or("written".to_owned(), |e| format!("failed: {e}")),
                    )
                })
                .collect()
        };
        for (target, result) in rows {
            text.push_str(&format!(
                "| {} | `{}` | {} | {} | {expires} | {rotated} | {window} |\n",
                organization,
                o.group,
                cell(&target),
                cell(&result)
            ));
        }
    }
    text.push('\n');
    text
}

/// Text fit for one Markdown table cell.
fn cell(text: &str) -> String {
    text.replace(['\r', '\n'], " ").replace('|', "\\|")
}

fn audit(path: &std::path::Path, inputs: &Inputs, wf: &Workflow, outcomes: &[GroupOutcome]) -> Result<()> {
    use std::io::Write;
    let mut lines = String::new();
    for o in outcomes {
        let line = json!({
            "time": rfc3339(Some(SystemTime::now())),
            "actor": wf.actor,
            "run_url": wf.run_url,
            "organization": inputs.organization,
            "group": o.group,
            "reason": inputs.reason,
            "rotated_at": rfc3339(o.rotated_at),
            "expires_at": rfc3339(o.expires_at()),
            "targets": o.writes.iter().map(|(t, e)| json!({"target": t.spec(), "written": e.is_none()})).collect::<Vec<_>>(),
            "result": if o.ok() { "rotated" } else { "failed" },
            "error": o.error,
        });
        lines.push_str(&crate::secret::redact(&line.to_string()));
        lines.push('\n');
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(lines.as_bytes())?;
    Ok(())
}

/// Writes the token to a new file readable by its owner only.
fn save_token(path: &std::path::Path, token: &Secret) -> Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(token.expose().as_bytes())?;
    file.write_all(b"\n")?;
    Ok(())
}

/// RFC 3339 in UTC, to the second.
pub fn rfc3339(time: Option<SystemTime>) -> Option<String> {
    time.map(|t| humantime::format_rfc3339_seconds(t).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::Repo;

    fn target(secret: &str) -> Target {
        Target {
            scope: Scope::Repository(Repo {
                owner: "acme".into(),
                name: "app".into(),
            }),
            secret: secret.into(),
        }
    }

    #[test]
    fn summary_table_has_a_row_per_target_and_escapes_cells() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
        let outcomes = [
            GroupOutcome {
                group: "prod".into(),
                rotated_at: Some(at),
                untouched: false,
                token: Some(Secret::new(
                    "eyJhbGciOiJIUzI1NiJ9.eyJhIjoicnciLCJleHAiOjE3NjUyOTYwMDB9.c2ln",
                )),
                error: None,
                writes: vec![(target("A"), None), (target("B"), Some("HTTP 500 | bad\nthing".into()))],
                window: None,
            },
            GroupOutcome {
                group: "dev".into(),
                rotated_at: None,
                untouched: false,
                token: None,
                error: Some("HTTP 404".into()),
                writes: Vec::new(),
                window: None,
            },
        ];
        let text = summary("acme", Some("leak | in a log"), &outcomes);
        let expected = "### Turso token rotation\n\n\
            Reason: leak \\| in a log\n\n\
            | Organization | Group | Secret | Result | Expires | Rotated at | Without a valid secret |\n\
            |---|---|---|---|---|---|---|\n\
            | acme | `prod` | A in repository acme/app | written | 2025-12-09T16:00:00Z | 2025-11-24T16:00:00Z | - |\n\
            | acme | `prod` | B in repository acme/app | failed: HTTP 500 \\| bad thing | 2025-12-09T16:00:00Z | 2025-11-24T16:00:00Z | - |\n\
            | acme | `dev` | - | failed: HTTP 404 | - | - | - |\n\n";
        assert_eq!(text, expected);
        assert!(!text.contains("eyJ"), "never the token");
    }
}
