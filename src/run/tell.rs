//! Telling the consumers once the secrets are written: a dispatch per
//! `dispatch` entry, then one message to `notify-url` and one email to
//! `notify-email`. A running deployment
//! keeps the token it started with, so the outage after an invalidation
//! ends when the consumers redeploy. A delivery that fails undoes nothing.

use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::apis::email::{self, Email};
use crate::apis::github::GitHub;
use crate::apis::Writers;
use crate::http::retry::{detail, Policy};
use crate::http::{self, Call};
use crate::inputs::{self, Dispatch, EmailNotify, Inputs, Limits, Notify, NotifyFormat};
use crate::report::{self, Compliance, Delivery, GroupOutcome};
use crate::secret::random_hex;
use crate::workflow::{self, Workflow};

/// Time a notification may take when the run's deadline is (nearly) spent,
/// as after a preflight failure: the channel hears of the runs that went worst.
const NOTIFY_AFTER_FAILURE: Duration = Duration::from_secs(20);

/// Dispatches, once some secrets were written, then the notification and
/// the email, which tell of the `earlier` deliveries too (delete protection).
pub fn consumers(
    inputs: &Inputs,
    wf: &Workflow,
    policy: &Policy,
    github: Option<&GitHub>,
    writers: &Writers,
    outcomes: &[GroupOutcome],
    earlier: Vec<Delivery>,
) -> Vec<Delivery> {
    let mut deliveries = earlier;
    if !inputs.dispatch.is_empty() && report::written(outcomes).next().is_some() {
        let payload = report::dispatch_payload(inputs, wf, outcomes);
        deliveries.extend(dispatch(github, writers, &inputs.dispatch, &payload));
    }
    // The run's deadline may be spent: the messages get a short time of their own.
    let policy = match policy.remaining() >= NOTIFY_AFTER_FAILURE {
        true => *policy,
        false => short_policy(inputs),
    };
    if let Some(notify) = &inputs.notify {
        if !notify.only_on_failure || report::failed(outcomes, &deliveries) {
            let message = report::notification(inputs, wf, outcomes, &deliveries, notify.format);
            let target = format!("notify:{}", notify.host);
            deliveries.push(stopped(target).unwrap_or_else(|| self::notify(notify, &message, &policy)));
        }
    }
    if let Some(to) = &inputs.email {
        if !to.only_on_failure || report::failed(outcomes, &deliveries) {
            let (subject, body) = report::run_email(inputs, wf, outcomes, &deliveries);
            let target = format!("email:{}", to.smtp.host);
            deliveries.push(stopped(target).unwrap_or_else(|| self::email(to, subject, body, &policy)));
        }
    }
    deliveries
}

/// Told to stop (SIGINT, SIGTERM): a delivery not yet started is not sent,
/// and is reported so.
pub(super) fn stopped(target: String) -> Option<Delivery> {
    crate::stop::requested().then(|| Delivery {
        target,
        error: Some("not sent: the run was stopped (SIGINT or SIGTERM) before it".to_owned()),
    })
}

/// The notification and the email of a report run: with `notify-on:
/// failure`, only when a finding stands (something is due).
pub fn report(inputs: &Inputs, wf: &Workflow, policy: &Policy, compliance: &Compliance) -> Vec<Delivery> {
    let mut deliveries = Vec::new();
    let policy = match policy.remaining() >= NOTIFY_AFTER_FAILURE {
        true => *policy,
        false => short_policy(inputs),
    };
    let failed = |deliveries: &[Delivery]| compliance.failed() || deliveries.iter().any(|d| d.error.is_some());
    if let Some(notify) = &inputs.notify {
        if !notify.only_on_failure || failed(&deliveries) {
            let message = report::report_notification(inputs, wf, compliance, &deliveries, notify.format);
            deliveries.push(self::notify(notify, &message, &policy));
        }
    }
    if let Some(to) = &inputs.email {
        if !to.only_on_failure || failed(&deliveries) {
            let (subject, body) = report::report_email(inputs, wf, compliance, &deliveries);
            deliveries.push(self::email(to, subject, body, &policy));
        }
    }
    deliveries
}

/// A run that stopped in preflight fails too: the channel and the
/// recipients hear of it.
pub fn preflight_failure(inputs: &Inputs, wf: &Workflow, error: &anyhow::Error) {
    if inputs.dry_run || (inputs.notify.is_none() && inputs.email.is_none()) {
        return;
    }
    let outcomes: Vec<GroupOutcome> = inputs
        .plans
        .iter()
        .map(|plan| GroupOutcome::untouched(plan, format!("{error:#}")))
        .collect();
    // The run's deadline may be what stopped it: a short one of its own.
    let policy = short_policy(inputs);
    let mut deliveries = Vec::new();
    if let Some(notify) = &inputs.notify {
        let message = report::notification(inputs, wf, &outcomes, &[], notify.format);
        deliveries.push(self::notify(notify, &message, &policy));
    }
    if let Some(to) = &inputs.email {
        let (subject, body) = report::run_email(inputs, wf, &outcomes, &deliveries);
        deliveries.push(self::email(to, subject, body, &policy));
    }
    for error in deliveries.iter().filter_map(|d| d.error.as_ref()) {
        wf.annotate("warning", error);
    }
}

/// Sends the run's one email to every recipient. Only the server's host is
/// ever named.
pub fn email(to: &EmailNotify, subject: String, body: String, policy: &Policy) -> Delivery {
    let message = Email {
        from: to.from.clone(),
        to: to.to.clone(),
        subject,
        body,
    };
    let host = &to.smtp.host;
    let result = email::send(&to.smtp, &message, policy).map(|sent| {
        workflow::log(&format!(
            "emailed {} recipient(s) via {host} (Message-ID {})",
            to.to.len(),
            sent.message_id
        ));
    });
    // Scrubbed: an SMTP server's text never carries a registered secret.
    let result = result.map_err(|e| anyhow!("{}", crate::secret::redact(&format!("{e:#}"))));
    Delivery::new(format!("email:{host}"), result)
}

/// The notification's own time, when the run's is spent.
fn short_policy(inputs: &Inputs) -> Policy {
    Policy::new(Limits {
        timeout: NOTIFY_AFTER_FAILURE,
        ..inputs.limits
    })
}

/// Sends every dispatch (`payload` to GitHub's); one delivery each.
pub fn dispatch(github: Option<&GitHub>, writers: &Writers, dispatches: &[Dispatch], payload: &Value) -> Vec<Delivery> {
    dispatches
        .iter()
        .map(|d| {
            if let Some(not_sent) = stopped(format!("dispatch:{}", d.spec())) {
                return not_sent;
            }
            let result = match d {
                Dispatch::Vercel { project } => writers.vercel().and_then(|v| v.redeploy(project)),
                Dispatch::Fly { app } => roll_fly(writers, app),
                Dispatch::Netlify { site } => writers.netlify().and_then(|n| n.build(site)),
                _ => github
                    .ok_or_else(|| anyhow!("no `github-token` was given"))
                    .and_then(|g| g.dispatch(d, payload)),
            };
            if result.is_ok() {
                workflow::log(&format!("dispatched {}", d.spec()));
            }
            Delivery::new(format!("dispatch:{}", d.spec()), result)
        })
        .collect()
}

/// Updates the app's started machines to read the highest secrets version
/// this run wrote; machines in other states are named, left alone.
fn roll_fly(writers: &Writers, app: &str) -> Result<()> {
    let fly = writers.fly()?;
    let Some(version) = writers.fly_version(app) else {
        return Err(anyhow!(
            "rolling Fly app {app}: no secret of the app was written, so there is no new secrets version to read"
        ));
    };
    let rolled = fly.roll(app, version)?;
    workflow::log(&format!(
        "Fly app {app}: machines updated to read secrets version {version}: {}",
        names(rolled.updated.iter().cloned())
    ));
    if !rolled.left_alone.is_empty() {
        workflow::log(&format!(
            "Fly app {app}: machines left alone, each picks up the secret when it is next updated: {}",
            names(rolled.left_alone.iter().map(|(id, state)| format!("{id} ({state})")))
        ));
    }
    Ok(())
}

/// `a, b` or `none`.
fn names(items: impl Iterator<Item = String>) -> String {
    let all: Vec<String> = items.collect();
    match all.is_empty() {
        true => "none".to_owned(),
        false => all.join(", "),
    }
}

/// POSTs `message` to the webhook. The generic JSON one always carries a
/// `webhook-id` and `webhook-timestamp`, signed per Standard Webhooks when
/// a secret is given. Only the URL's host is ever named.
pub fn notify(notify: &Notify, message: &Value, policy: &Policy) -> Delivery {
    // Scrubbed like every other rendering: an error quoted in the message
    // never carries a registered secret.
    let body = crate::secret::redact(&message.to_string());
    let what = format!("notifying {}", notify.host);
    // Made once, before the first attempt: every retry carries the same
    // id, timestamp and signature, so a receiver can drop a second delivery.
    let mut headers = Vec::new();
    if notify.format == NotifyFormat::Json {
        let id = format!("msg_{}", random_hex(16));
        let timestamp = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            .to_string();
        if let Some(key) = notify.secret.as_ref().and_then(inputs::signing_key) {
            headers.push((
                "webhook-signature",
                format!("v1,{}", sign(&key, &id, &timestamp, &body)),
            ));
        }
        headers.push(("webhook-id", id));
        headers.push(("webhook-timestamp", timestamp));
    }
    let call = Call {
        method: "POST",
        url: notify.url.expose().to_owned(),
        bearer: None,
        headers,
        body: Some(body),
    };
    let result = call.send(&http::agent(), policy, &what).and_then(|reply| {
        if reply.ok() {
            Ok(())
        } else {
            Err(anyhow!("{what}: HTTP {}{}", reply.status, detail(&reply.body)))
        }
    });
    if result.is_ok() {
        workflow::log(&format!("notified {}", notify.host));
    }
    Delivery::new(format!("notify:{}", notify.host), result)
}

/// Standard Webhooks: base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}`.
fn sign(key: &[u8], id: &str, timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

impl Delivery {
    fn new(target: String, result: Result<()>) -> Delivery {
        Delivery {
            target,
            error: result.err().map(|e| format!("{e:#}")),
        }
    }
}

#[cfg(test)]
mod tests {
    /// The example of the Standard Webhooks specification
    /// (github.com/standard-webhooks/standard-webhooks, spec/standard-webhooks.md).
    #[test]
    fn signature_matches_the_specification_example() {
        use base64::Engine;
        let key = super::B64.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = super::sign(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
