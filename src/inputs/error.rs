//! A bad input, and the two helpers every family words its errors with.

use std::fmt;

/// A bad input: the run stops with exit code 2 and no network call.
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

pub(super) fn bad<T>(message: impl Into<String>) -> Result<T, BadInput> {
    Err(BadInput(message.into()))
}

/// An input value fit for an error line: one line, bounded, no secrets.
pub(super) fn shown(value: &str) -> String {
    // Scrubbed before it is cut, so that no prefix of a secret survives the cut.
    crate::secret::redact(value)
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(80)
        .collect()
}
