//! One plain-text message composed by hand (RFC 5322, MIME): lettre's
//! `builder` feature, which does this, costs far more binary than these
//! few headers. `Date`, `Message-ID`, `From`, `To`, `Subject` (RFC 2047
//! when not ASCII), `MIME-Version`, `Content-Type: text/plain;
//! charset=utf-8` and a quoted-printable body, CRLF line endings. (The
//! SMTP transport does the dot-stuffing.)

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use lettre::Address;

/// An address with an optional display name: `ops@example.com` or
/// `Ops Team <ops@example.com>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub name: Option<String>,
    pub email: Address,
}

impl Mailbox {
    pub fn new(name: Option<String>, email: Address) -> Mailbox {
        Mailbox { name, email }
    }
}

/// Not an address.
#[derive(Debug)]
pub struct NotAnAddress;

impl FromStr for Mailbox {
    type Err = NotAnAddress;

    fn from_str(text: &str) -> Result<Mailbox, NotAnAddress> {
        let text = text.trim();
        let Some(open) = text.rfind('<') else {
            return Ok(Mailbox::new(None, text.parse().map_err(|_| NotAnAddress)?));
        };
        let address = text[open + 1..].strip_suffix('>').ok_or(NotAnAddress)?;
        let name = text[..open].trim();
        let name = name.strip_prefix('"').and_then(|n| n.strip_suffix('"')).unwrap_or(name);
        if name.chars().any(|c| c.is_control() || c == '"') {
            return Err(NotAnAddress);
        }
        let name = (!name.is_empty()).then(|| name.to_owned());
        Ok(Mailbox::new(name, address.trim().parse().map_err(|_| NotAnAddress)?))
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            None => write!(f, "{}", self.email),
            Some(name) if name.is_ascii() => write!(f, "\"{}\" <{}>", name.replace('\\', "\\\\"), self.email),
            Some(name) => write!(f, "{} <{}>", encoded_words(name), self.email),
        }
    }
}

/// The message, headers and body, with CRLF line endings.
pub fn compose(
    from: &Mailbox,
    to: &[Mailbox],
    subject: &str,
    body: &str,
    message_id: &str,
    now: SystemTime,
) -> Vec<u8> {
    let to: Vec<String> = to.iter().map(ToString::to_string).collect();
    let subject = match subject.is_ascii() && !subject.contains("=?") {
        true => subject.replace(['\r', '\n'], " "),
        false => encoded_words(subject),
    };
    let mut text = String::new();
    for (name, value) in [
        ("Date", date(now)),
        ("Message-ID", message_id.to_owned()),
        ("From", from.to_string()),
        ("To", to.join(",\r\n ")),
        ("Subject", subject),
        ("MIME-Version", "1.0".to_owned()),
        ("Content-Type", "text/plain; charset=utf-8".to_owned()),
        ("Content-Transfer-Encoding", "quoted-printable".to_owned()),
    ] {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(&quoted_printable(body));
    text.into_bytes()
}

/// RFC 2047 `=?utf-8?b?…?=` words of at most 75 characters, folded.
fn encoded_words(text: &str) -> String {
    // 45 bytes of UTF-8 make 60 of base64: with `=?utf-8?b?` and `?=`, 72.
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    words.push(chunk);
    words
        .iter()
        .map(|w| format!("=?utf-8?b?{}?=", B64.encode(w)))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// Quoted-printable (RFC 2045): lines of at most 76 characters, CRLF.
fn quoted_printable(body: &str) -> String {
    let mut out = String::new();
    for line in body.lines() {
        let bytes = line.as_bytes();
        let mut width = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let last = i + 1 == bytes.len();
            let piece = match b {
                b'=' => "=3D".to_owned(),
                b' ' | b'\t' if last => format!("={b:02X}"),
                b' ' | b'\t' | 33..=126 => (b as char).to_string(),
                _ => format!("={b:02X}"),
            };
            // Room for a soft break (`=`) at the end of every line but the last.
            if width + piece.len() > 75 {
                out.push_str("=\r\n");
                width = 0;
            }
            width += piece.len();
            out.push_str(&piece);
        }
        out.push_str("\r\n");
    }
    out
}

/// RFC 5322's date: `Tue, 01 Jul 2025 10:00:00 +0000`.
fn date(now: SystemTime) -> String {
    let secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn date_is_rfc_5322() {
        let at = UNIX_EPOCH + Duration::from_secs(1_751_364_000);
        assert_eq!(date(at), "Tue, 01 Jul 2025 10:00:00 +0000");
        assert_eq!(
            date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "Tue, 29 Feb 2000 00:00:00 +0000"
        );
    }

    #[test]
    fn mailboxes_parse_and_print() {
        let m: Mailbox = "Ops Team <ops@example.com>".parse().unwrap();
        assert_eq!(m.name.as_deref(), Some("Ops Team"));
        assert_eq!(m.to_string(), "\"Ops Team\" <ops@example.com>");
        assert_eq!(
            "ops@example.com".parse::<Mailbox>().unwrap().to_string(),
            "ops@example.com"
        );
        assert!("not an address".parse::<Mailbox>().is_err());
        assert!("Ops <ops@example.com".parse::<Mailbox>().is_err());
        let m: Mailbox = "Équipe <ops@example.com>".parse().unwrap();
        assert!(m.to_string().starts_with("=?utf-8?b?"), "{m}");
    }

    #[test]
    fn a_subject_that_is_not_ascii_is_encoded() {
        let m: Mailbox = "a@example.com".parse().unwrap();
        let raw = compose(
            &m,
            &[m.clone()],
            "Tokens — ünïcode",
            "x\n",
            "<1@example.com>",
            UNIX_EPOCH,
        );
        let raw = String::from_utf8(raw).unwrap();
        let subject = raw.lines().find(|l| l.starts_with("Subject: ")).unwrap();
        let word = subject.trim_start_matches("Subject: =?utf-8?b?").trim_end_matches("?=");
        assert_eq!(B64.decode(word).unwrap(), "Tokens — ünïcode".as_bytes());
        assert!(raw.contains("\r\n\r\nx\r\n"));
    }

    #[test]
    fn quoted_printable_keeps_lines_short_and_escapes() {
        let line = "a=b ".to_owned() + &"é".repeat(40) + " ";
        let qp = quoted_printable(&line);
        assert!(qp.lines().all(|l| l.len() <= 76), "{qp}");
        assert!(qp.starts_with("a=3Db =C3=A9"), "{qp}");
        assert!(qp.trim_end().ends_with("=20"), "{qp}");
        let decoded = qp.replace("=\r\n", "");
        assert_eq!(decoded.matches("=C3=A9").count(), 40);
    }
}
