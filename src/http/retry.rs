//! The one retry policy for both APIs: connection errors, timeouts, 429 and
//! 5xx are retried with exponential backoff and jitter, honouring
//! `Retry-After` and GitHub's rate-limit reset, bounded by attempts and by
//! the run's deadline. One log line per retry says what, why and how long.

use std::thread;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;
use crypto_box::aead::rand_core::RngCore;
use crypto_box::aead::OsRng;

use crate::inputs::Limits;
use crate::workflow;

/// Largest response body read; more is cut off so a hostile server cannot
/// make the process allocate without bound.
pub const MAX_BODY: u64 = 1 << 20;
/// Longest a single TCP connect may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a single request may take, further capped by the deadline.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The header a response's request id comes in (fly-go `headerFlyRequestId`).
pub const REQUEST_ID_HEADER: &str = "fly-request-id";
const BASE_DELAY: Duration = Duration::from_millis(500);
const MAX_DELAY: Duration = Duration::from_secs(10);

/// A response as both clients see it, whatever the HTTP crate.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// `Retry-After`, as a wait from now.
    pub retry_after: Option<Duration>,
    /// GitHub's `x-ratelimit-remaining: 0` with its reset, or any 429's
    /// `x-ratelimit-reset` (Netlify sends no `Retry-After`), as a wait from now.
    pub rate_limit_reset: Option<Duration>,
    /// `Location`, for a redirect (a renamed repository answers 301).
    pub location: Option<String>,
    /// The answer's request id (Fly's `fly-request-id`), for error messages.
    pub request_id: Option<String>,
    /// An earlier attempt's answer was lost (see [`MayHaveActed`]): this
    /// answer may describe the state that attempt left.
    pub after_lost: bool,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as `T`; otherwise an error naming what was expected. The body
    /// is not quoted: a successful answer may hold a token.
    pub fn parse<T: serde::de::DeserializeOwned>(&self, what: &str, api: &str, expected: &str) -> Result<T> {
        serde_json::from_str(&self.body)
            .map_err(|_| anyhow::anyhow!("{what}: unexpected answer from {api} (no {expected})"))
    }

    /// Builds the timing fields from header lookups.
    pub fn from_parts(status: u16, body: String, header: impl Fn(&str) -> Option<String>) -> Self {
        let retry_after = header("retry-after").and_then(|v| parse_retry_after(&v, SystemTime::now()));
        let exhausted = header("x-ratelimit-remaining").is_some_and(|v| v.trim() == "0");
        // A 429 without `Retry-After` (Netlify's) waits for the reset too.
        let rate_limit_reset = match exhausted || (status == 429 && retry_after.is_none()) {
            true => header("x-ratelimit-reset")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|reset| {
                    let now = SystemTime::now()
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .unwrap_or_default();
                    Duration::from_secs(reset)
                        .saturating_sub(now)
                        .saturating_add(Duration::from_secs(1))
                }),
            false => None,
        };
        Reply {
            status,
            body,
            retry_after,
            rate_limit_reset,
            location: header("location"),
            request_id: header(REQUEST_ID_HEADER),
            after_lost: false,
        }
    }

    /// Why this answer is worth another attempt, if it is.
    fn transient(&self) -> Option<String> {
        match self.status {
            403 | 429 if self.rate_limit_reset.is_some() => {
                Some(format!("HTTP {} (rate limit exhausted)", self.status))
            }
            // GitHub's secondary rate limit: 403 with a Retry-After, remaining not 0.
            403 if self.retry_after.is_some() => Some("HTTP 403 (secondary rate limit)".into()),
            429 => Some("HTTP 429 (too many requests)".into()),
            500..=599 => Some(format!("HTTP {}", self.status)),
            _ => None,
        }
    }
}

/// `Retry-After` as seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

/// Whether the error is a refusal with that status.
pub fn refused_with(error: &anyhow::Error, status: u16) -> bool {
    error
        .chain()
        .any(|c| c.downcast_ref::<Refused>().is_some_and(|r| r.status == status))
}

/// An API's final refusal (an error status after any retries): the status
/// tells callers whether the request can have had an effect.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refused {}

/// A failure to get any answer: worth retrying.
#[derive(Debug)]
pub struct Transport {
    pub why: String,
    /// No connection was made, so the server never saw the request.
    pub unsent: bool,
}

impl Transport {
    /// The request may have reached the server (a timeout, a dropped connection).
    pub fn lost(why: impl Into<String>) -> Self {
        Transport {
            why: why.into(),
            unsent: false,
        }
    }

    /// The request never left: no connection could be made.
    pub fn unsent(why: impl Into<String>) -> Self {
        Transport {
            why: why.into(),
            unsent: true,
        }
    }
}

/// In an error's chain: some attempt may have acted though no answer says
/// so (it timed out, its connection dropped, or it got a 5xx).
#[derive(Debug)]
pub struct MayHaveActed;

impl std::fmt::Display for MayHaveActed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an answer was lost, so the request may have taken effect")
    }
}

impl std::error::Error for MayHaveActed {}

/// Whether `error` says a request may have acted.
pub fn may_have_acted(error: &anyhow::Error) -> bool {
    // (anyhow finds a context type at any depth, a root cause too.)
    error.downcast_ref::<MayHaveActed>().is_some()
}

/// Attempts and deadline shared by every request of one run.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub max_attempts: u32,
    pub deadline: Instant,
}

impl Policy {
    pub fn new(limits: Limits) -> Self {
        Policy {
            max_attempts: limits.max_attempts,
            deadline: Instant::now() + limits.timeout,
        }
    }

    /// The same policy with a deadline `reserve` earlier: for a step that
    /// must leave that much time to the steps after it.
    pub fn reserving(&self, reserve: Duration) -> Policy {
        Policy {
            deadline: self.deadline.checked_sub(reserve).unwrap_or_else(Instant::now),
            ..*self
        }
    }

    /// Time left before the deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// The whole-request timeout for an attempt starting now.
    pub fn request_timeout(&self) -> Duration {
        REQUEST_TIMEOUT.min(self.remaining()).max(Duration::from_millis(100))
    }

    /// Sends with `attempt` until an answer that is not transient, and
    /// returns it (it may be an error status for the caller to explain).
    /// When an attempt's answer was lost, a final failure carries
    /// [`MayHaveActed`] and a final answer says `after_lost`.
    pub fn send(&self, what: &str, mut attempt: impl FnMut(Duration) -> Result<Reply, Transport>) -> Result<Reply> {
        let mut lost = false;
        let fail = |lost: bool, message: String| {
            if lost {
                anyhow::Error::new(MayHaveActed).context(message)
            } else {
                anyhow::anyhow!(message)
            }
        };
        let mut n = 1;
        loop {
            if self.remaining().is_zero() {
                return Err(fail(
                    lost,
                    format!("{what}: the run's deadline passed before an answer (raise the `timeout` input)"),
                ));
            }
            if n > 1 && crate::stop::requested() {
                return Err(fail(lost, format!("{what}: not tried again: the run was told to stop")));
            }
            let (why, wait) = match attempt(self.request_timeout()) {
                Ok(mut reply) => match reply.transient() {
                    None => {
                        reply.after_lost = lost;
                        return Ok(reply);
                    }
                    Some(why) => {
                        lost |= reply.status >= 500;
                        let hint = reply.rate_limit_reset.or(reply.retry_after);
                        if n >= self.max_attempts {
                            return Err(fail(
                                lost,
                                format!("{what}: {why} after {n} attempts{}", detail(&reply.body)),
                            ));
                        }
                        (why, hint)
                    }
                },
                Err(transport) => {
                    lost |= !transport.unsent;
                    let why = transport.why;
                    if n >= self.max_attempts {
                        return Err(fail(lost, format!("{what}: {why} after {n} attempts")));
                    }
                    (why, None)
                }
            };
            let wait = wait.unwrap_or_else(|| backoff(n));
            if wait >= self.remaining() {
                return Err(fail(
                    lost,
                    format!(
                        "{what}: {why}; the next attempt would be in {:.1}s, past the run's deadline ({:.1}s left)",
                        wait.as_secs_f64(),
                        self.remaining().as_secs_f64()
                    ),
                ));
            }
            workflow::log(&format!(
                "retrying {what} in {:.1}s (attempt {} of {}): {why}",
                wait.as_secs_f64(),
                n + 1,
                self.max_attempts
            ));
            thread::sleep(wait);
            n += 1;
        }
    }
}

/// Exponential backoff with jitter: half fixed, half random.
fn backoff(attempt: u32) -> Duration {
    let full = BASE_DELAY
        .saturating_mul(1 << attempt.min(10).saturating_sub(1))
        .min(MAX_DELAY);
    let jitter = OsRng.next_u32() as f64 / u32::MAX as f64;
    full.mul_f64(0.5 + 0.5 * jitter)
}

/// A short, single-line excerpt of a response body for an error message.
pub fn detail(body: &str) -> String {
    // Scrubbed before it is cut, so that no prefix of a secret survives the cut.
    let text = crate::secret::redact(body)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if text.is_empty() {
        return String::new();
    }
    let cut: String = text.chars().take(300).collect();
    format!(": {cut}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:05 GMT", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        assert!(backoff(1) <= Duration::from_millis(500) && backoff(1) >= Duration::from_millis(250));
        assert!(backoff(3) >= Duration::from_secs(1));
        assert!(backoff(30) <= MAX_DELAY);
    }

    fn reply(status: u16, headers: &[(&str, &str)]) -> Reply {
        Reply::from_parts(status, String::new(), |name| {
            headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn what_is_transient() {
        assert!(reply(503, &[]).transient().is_some());
        assert!(reply(429, &[]).transient().is_some());
        assert!(reply(404, &[]).transient().is_none());
        assert!(reply(403, &[]).transient().is_none());
        assert!(
            reply(403, &[("retry-after", "60")]).transient().is_some(),
            "secondary rate limit"
        );
        assert!(
            reply(403, &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "0")])
                .transient()
                .is_some()
        );
    }

    #[test]
    fn a_429_waits_for_its_reset_without_remaining_0() {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let reset = (now + 5).to_string();
        let wait = reply(429, &[("x-ratelimit-reset", &reset)])
            .rate_limit_reset
            .expect("a wait");
        assert!(
            wait > Duration::from_secs(3) && wait <= Duration::from_secs(7),
            "{wait:?}"
        );
        // A 403 is GitHub's rate limit only with `x-ratelimit-remaining: 0`.
        assert!(reply(403, &[("x-ratelimit-reset", &reset)]).rate_limit_reset.is_none());
        assert_eq!(
            reply(200, &[("fly-request-id", "01J-abc")]).request_id.as_deref(),
            Some("01J-abc")
        );
    }

    #[test]
    fn gives_up_after_max_attempts() {
        let policy = Policy {
            max_attempts: 2,
            deadline: Instant::now() + Duration::from_secs(30),
        };
        let mut calls = 0;
        let result = policy.send("getting x", |_| {
            calls += 1;
            Ok(reply(503, &[("retry-after", "0")]))
        });
        assert_eq!(calls, 2);
        assert!(format!("{:#}", result.unwrap_err()).contains("after 2 attempts"));
    }

    #[test]
    fn a_wait_past_the_deadline_fails_at_once() {
        let policy = Policy {
            max_attempts: 5,
            deadline: Instant::now() + Duration::from_secs(2),
        };
        let result = policy.send("getting x", |_| Ok(reply(429, &[("retry-after", "60")])));
        assert!(format!("{:#}", result.unwrap_err()).contains("past the run's deadline"));
    }
}
