//! Email to the people who must act: the `smtp-url` server, the `smtp-from`
//! sender and the `notify-email` recipients parsed into plain values, and
//! one message sent to all recipients over SMTP with lettre (blocking, no
//! connection pool, rustls with the run's one set of trusted roots).
//!
//! `smtps://` speaks TLS from the start (port 465 by default); `smtp://`
//! must upgrade with STARTTLS (port 587), and a server that does not offer
//! it is refused, except on a loopback host, where a plain session is
//! allowed (the tests' servers). SMTP 4xx replies and connection errors are
//! retried under the run's retry policy; 5xx replies and TLS failures are
//! final. Messages name only the host: never the URL or its password.

use std::io;
use std::net::IpAddr;
use std::str::FromStr;

use anyhow::{bail, Result};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{Address, SmtpTransport, Transport as _};
use percent_encoding::percent_decode_str;
use rustls::RootCertStore;

use crate::http::retry::{self, Policy, Reply, Transport};
use crate::inputs::BadInput;
use crate::secret::Secret;

/// Port of `smtps://` (TLS from the start, RFC 8314).
pub const SMTPS_PORT: u16 = 465;
/// Port of `smtp://` (submission, upgraded with STARTTLS).
pub const SUBMISSION_PORT: u16 = 587;

/// How the session is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `smtps://`: TLS from the first byte.
    Tls,
    /// `smtp://`: plain, then STARTTLS, which the server must offer.
    StartTls,
    /// `smtp://` to a loopback host: STARTTLS when the server offers it,
    /// otherwise plain (nothing leaves the machine).
    StartTlsIfOffered,
}

/// The SMTP server of `smtp-url`. `Debug` shows no password.
#[derive(Debug, Clone)]
pub struct Smtp {
    pub security: Security,
    /// Without brackets for IPv6; the only part of the URL messages name.
    pub host: String,
    pub port: u16,
    /// Percent-decoded.
    pub user: Option<String>,
    /// Percent-decoded; registered for redaction.
    pub password: Option<Secret>,
}

fn bad(why: &str) -> BadInput {
    BadInput(format!("`smtp-url`: {why}"))
}

impl Smtp {
    /// Parses `smtps://[USER[:PASSWORD]@]HOST[:PORT]` or `smtp://…`. Errors
    /// never quote the value: it holds a password.
    pub fn parse(value: &str) -> Result<Smtp, BadInput> {
        let value = value.trim();
        let url = url::Url::parse(value)
            .map_err(|_| bad("not a URL (expected smtps://[USER[:PASSWORD]@]HOST[:PORT] or smtp://…)"))?;
        let (security, default_port) = match url.scheme() {
            "smtps" => (Security::Tls, SMTPS_PORT),
            "smtp" => (Security::StartTls, SUBMISSION_PORT),
            _ => return Err(bad("the scheme must be smtps:// or smtp://")),
        };
        if !value[url.scheme().len()..].starts_with("://") {
            return Err(bad("expected smtps://HOST or smtp://HOST"));
        }
        let host = match url.host() {
            Some(url::Host::Domain(name)) if !name.is_empty() => name.to_ascii_lowercase(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(bad("no host")),
        };
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(bad(
                "nothing may follow the host and port (no path, `?` or `#`; percent-encode them in a password)",
            ));
        }
        let decode = |part: &str, what: &str| {
            percent_decode_str(part)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| bad(&format!("the {what} is not UTF-8 once percent-decoded")))
        };
        let user = match url.username() {
            "" => None,
            user => Some(decode(user, "user")?),
        };
        let password = match url.password() {
            None => None,
            Some(password) => Some(Secret::new(decode(password, "password")?)),
        };
        if password.is_some() && user.is_none() {
            return Err(bad("a password needs a user"));
        }
        let security = match security {
            Security::StartTls if is_loopback(&host) => Security::StartTlsIfOffered,
            other => other,
        };
        Ok(Smtp {
            security,
            port: url.port().unwrap_or(default_port),
            host,
            user,
            password,
        })
    }

    /// The user, when it is an email address: the default sender.
    pub fn user_address(&self) -> Option<Address> {
        self.user.as_deref().and_then(|u| Address::from_str(u).ok())
    }
}

/// Whether `host` (as [`Smtp::host`] holds it) is this machine: 127.0.0.0/8,
/// `::1` (an IPv4-mapped loopback too) or `localhost`.
pub fn is_loopback(host: &str) -> bool {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(IpAddr::V6(ip)) => ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        Err(_) => {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    }
}

/// The sender: `smtp-from` when given, otherwise the SMTP user when it is an
/// address.
pub fn sender(smtp_from: Option<&str>, smtp: &Smtp) -> Result<Mailbox, BadInput> {
    match smtp_from.map(str::trim).filter(|v| !v.is_empty()) {
        Some(from) => Mailbox::from_str(from).map_err(|_| BadInput("`smtp-from`: not an email address".into())),
        None => smtp.user_address().map(|a| Mailbox::new(None, a)).ok_or_else(|| {
            BadInput("`smtp-from` is required: the `smtp-url` user is not an email address to send from".into())
        }),
    }
}

/// The recipients of `notify-email`: addresses separated by commas or
/// newlines.
pub fn recipients(value: &str) -> Result<Vec<Mailbox>, BadInput> {
    let mut list = Vec::new();
    for item in value.split([',', '\n']).map(str::trim).filter(|s| !s.is_empty()) {
        let mailbox = Mailbox::from_str(item).map_err(|_| {
            BadInput(format!(
                "`notify-email`: not an email address: {}",
                item.escape_default()
            ))
        })?;
        if !list.contains(&mailbox) {
            list.push(mailbox);
        }
    }
    if list.is_empty() {
        return Err(BadInput("`notify-email` names no address".into()));
    }
    Ok(list)
}

/// One plain-text message.
#[derive(Debug, Clone)]
pub struct Email {
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    pub subject: String,
    pub body: String,
}

/// What the server accepted.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The `Message-ID` header, with its angle brackets.
    pub message_id: String,
}

/// Sends `email` to all its recipients in one SMTP transaction, retrying
/// 4xx replies and connection errors under `policy`. The message has a
/// `Date` (lettre adds it) and a fresh `Message-ID` in the sender's domain.
pub fn send(smtp: &Smtp, email: &Email, policy: &Policy) -> Result<Sent> {
    let host = &smtp.host;
    let what = format!("sending email via {host}");
    let domain = email.from.email.domain();
    let message_id = format!("<{}@{}>", crate::secret::random_hex(16), domain);
    let mut builder = Message::builder()
        .from(email.from.clone())
        .subject(email.subject.as_str())
        .message_id(Some(message_id.clone()))
        .header(ContentType::TEXT_PLAIN);
    for to in &email.to {
        builder = builder.to(to.clone());
    }
    let message = match builder.body(email.body.clone()) {
        Ok(message) => message,
        Err(e) => bail!("{what}: the message cannot be built: {e}"),
    };
    let tls = tls(smtp)?;
    let mut refused = None;
    let reply = policy.send(&what, |timeout| {
        let mut transport = SmtpTransport::builder_dangerous(host.as_str())
            .port(smtp.port)
            .timeout(Some(timeout))
            .tls(tls.clone());
        if let (Some(user), password) = (&smtp.user, &smtp.password) {
            let password = password.as_ref().map(|p| p.expose().to_owned()).unwrap_or_default();
            transport = transport.credentials(Credentials::new(user.clone(), password));
        }
        match transport.build().send(&message) {
            Ok(_) => Ok(Reply::from_parts(250, String::new(), |_| None)),
            Err(e) => match classify(&e) {
                Outcome::Retry(transport) => Err(transport),
                Outcome::Final(why) => {
                    refused = Some(why);
                    // Not a success and not an HTTP status the policy retries.
                    Ok(Reply::from_parts(0, String::new(), |_| None))
                }
            },
        }
    })?;
    if let Some(why) = refused {
        bail!("{what}: {why}");
    }
    debug_assert!(reply.ok());
    Ok(Sent { message_id })
}

/// lettre's TLS setting for `smtp`, trusting the run's roots
/// ([`crate::http::tls::roots`]: `SSL_CERT_FILE` first).
fn tls(smtp: &Smtp) -> Result<Tls> {
    let parameters = || -> Result<TlsParameters> {
        let roots = crate::http::tls::roots()?;
        let mut builder = TlsParameters::builder(smtp.host.clone()).certificate_store(CertificateStore::None);
        for der in &roots.certs {
            // lettre refuses the whole store for one certificate it cannot
            // parse; the other clients skip such a certificate, as here.
            if RootCertStore::empty().add(der.clone()).is_ok() {
                if let Ok(cert) = Certificate::from_der(der.to_vec()) {
                    builder = builder.add_root_certificate(cert);
                }
            }
        }
        builder
            .build_rustls()
            .map_err(|e| anyhow::anyhow!("setting up TLS for {}: {e}", smtp.host))
    };
    Ok(match smtp.security {
        Security::Tls => Tls::Wrapper(parameters()?),
        Security::StartTls => Tls::Required(parameters()?),
        Security::StartTlsIfOffered => match parameters() {
            Ok(p) => Tls::Opportunistic(p),
            Err(_) => Tls::None,
        },
    })
}

enum Outcome {
    Retry(Transport),
    Final(String),
}

/// Which failures another attempt may cure: 4xx replies, connection and
/// network errors. A 5xx reply, a TLS failure (an untrusted certificate,
/// say) and what lettre itself refuses (no STARTTLS offered, no common
/// AUTH mechanism) are final.
fn classify(e: &lettre::transport::smtp::Error) -> Outcome {
    let server_text = || {
        use std::error::Error as _;
        e.source().map(|s| retry::detail(&s.to_string())).unwrap_or_default()
    };
    if let Some(code) = e.status() {
        let why = format!("SMTP {code}{}", server_text());
        return if e.is_transient() {
            // The server refused this attempt: nothing was accepted.
            Outcome::Retry(Transport::unsent(why))
        } else {
            Outcome::Final(why)
        };
    }
    if tls_failure(e) {
        return Outcome::Final(format!("TLS failed{}", server_text()));
    }
    let why = retry::detail(&e.to_string());
    let why = why.strip_prefix(": ").unwrap_or(&why).to_owned();
    if e.is_timeout() {
        Outcome::Retry(Transport::lost(why))
    } else if e.is_client() {
        let why = why.strip_prefix("internal client error: ").unwrap_or(&why);
        if why.contains("STARTTLS") {
            Outcome::Final(format!(
                "{why}: `smtp://` must upgrade with STARTTLS (`smtps://` is TLS from the start)"
            ))
        } else {
            Outcome::Final(why.to_owned())
        }
    } else if e.is_response() || e.is_tls() || e.is_transport_shutdown() {
        Outcome::Final(why)
    } else if e.to_string().starts_with("Connection") {
        // (lettre has no predicate for its `Connection` kind: the connect
        // itself failed, so the server saw nothing.)
        Outcome::Retry(Transport::unsent(why))
    } else {
        Outcome::Retry(Transport::lost(why))
    }
}

/// Whether rustls refused the session somewhere in `e`'s chain (lettre's
/// blocking stream reports a failed handshake as an I/O error).
fn tls_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(err) = source {
        if err.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(inner) = err.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            if tls_failure(inner) {
                return true;
            }
        }
        source = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "::ffff:127.0.0.1",
            "localhost",
            "LOCALHOST.",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["10.0.0.1", "smtp.example.com", "localhost.example.com", "::2"] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
