//! A string that must never be printed, and the one place that scrubs
//! every known secret out of text before it leaves the process.

use std::fmt;
use std::sync::Mutex;

/// Every secret value this process has seen; output is scrubbed against it.
static KNOWN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A token. `Debug` and `Display` print `***`; only [`Secret::expose`] gives
/// the value, so a stray `{:?}` in a log line cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value and registers it for redaction of all later output.
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        if value.len() >= 4 {
            let mut known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
            if !known.contains(&value) {
                known.push(value.clone());
            }
        }
        Secret(value)
    }

    /// The value itself, for an `Authorization` header or the sealed box.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Replaces every registered secret in `text` with `***`.
pub fn redact(text: &str) -> String {
    let known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = text.to_owned();
    for value in known.iter() {
        if out.contains(value.as_str()) {
            out = out.replace(value.as_str(), "***");
        }
    }
    out
}

/// `bytes` random bytes from the OS, as lower-case hex: printable text for
/// probe values, heredoc delimiters and temporary file names.
pub fn random_hex(bytes: usize) -> String {
    use crypto_box::aead::rand_core::RngCore;
    let mut raw = vec![0u8; bytes];
    crypto_box::aead::OsRng.fill_bytes(&mut raw);
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_and_redact_scrubs() {
        let s = Secret::new("tok-123456");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(redact("echo tok-123456 back"), "echo *** back");
    }
}
