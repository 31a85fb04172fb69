//! Durations as inputs write them (`7d`, `2w1d30m`), and the bounds of the
//! retry policy: attempts per request and the run's deadline.

use std::time::Duration;

use super::error::{bad, BadInput};
use super::raw::Raw;

/// Durations like `7d` or `2w1d30m`: number+unit pairs, units w d h m s in
/// that order, each at most once.
pub fn parse_duration(text: &str) -> Option<Duration> {
    const UNITS: [(char, u64); 5] = [('w', 604_800), ('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];
    let mut total: u64 = 0;
    let mut next_unit = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let pos = UNITS.iter().position(|(u, _)| *u == c)?;
        if number.is_empty() || pos < next_unit || number.len() > 9 {
            return None;
        }
        total = total.checked_add(number.parse::<u64>().ok()?.checked_mul(UNITS[pos].1)?)?;
        next_unit = pos + 1;
        number.clear();
    }
    (number.is_empty() && total > 0).then(|| Duration::from_secs(total))
}

/// Bounds of the retry policy.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Attempts per request, including the first.
    pub max_attempts: u32,
    /// Deadline for the whole run.
    pub timeout: Duration,
}

/// `max-attempts` and `timeout`.
pub(super) fn limits(raw: &Raw) -> Result<Limits, BadInput> {
    let max_attempts = match raw.get("max-attempts") {
        None => 4,
        Some(text) => match text.parse::<u32>() {
            Ok(n @ 1..=10) => n,
            _ => {
                return bad(format!(
                    "Input `max-attempts`: '{text}' is not valid. Expected a whole number from 1 to 10."
                ))
            }
        },
    };
    let timeout = match raw.get("timeout") {
        None => Duration::from_secs(100),
        Some(text) => match text.parse::<u64>().ok().map(Duration::from_secs).or_else(|| parse_duration(&text)) {
            Some(d) if (Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&d) => d,
            _ => return bad(format!("Input `timeout`: '{text}' is not valid. Expected seconds or a duration like `90s` or `5m`, from 1s to 1h.")),
        },
    };
    Ok(Limits { max_attempts, timeout })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(
            parse_duration("2w1d30m"),
            Some(Duration::from_secs(2 * 604_800 + 86_400 + 1_800))
        );
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        for bad in [
            "",
            "7",
            "d",
            "1d2w",
            "1d1d",
            "7days",
            "-1d",
            "0d",
            "1.5h",
            "99999999999w",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
