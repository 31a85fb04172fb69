//! Email: `turso_rotate::apis::email` against a real SMTP server (aiosmtpd) on
//! loopback, over TLS from the start and over STARTTLS, with AUTH, with
//! transient and permanent refusals; and how `smtp-url`, `smtp-from` and
//! `notify-email` are read.
//!
//! The client trusts the servers' CA through `SSL_CERT_FILE`, set once for
//! this process before any TLS use ([`ca`]): the roots are read once.

mod common;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::ca::TestCa;
use common::smtp::{Mode, Received, Running, SmtpServer, Stage};
use turso_rotate::apis::email::{self, Email, Security, Smtp};
use turso_rotate::http::retry::Policy;

const USER: &str = "rotator@example.com";
/// Has every character that must be percent-encoded in a URL's password.
const PASSWORD: &str = "p@ss:w/rd#%?é";
const PASSWORD_ENCODED: &str = "p%40ss%3Aw%2Frd%23%25%3F%C3%A9";

/// The one CA of this process, trusted through `SSL_CERT_FILE`.
fn ca() -> &'static TestCa {
    static CA: OnceLock<TestCa> = OnceLock::new();
    CA.get_or_init(|| {
        let ca = TestCa::new();
        std::env::set_var("SSL_CERT_FILE", ca.file());
        ca
    })
}

fn policy() -> Policy {
    Policy {
        max_attempts: 3,
        deadline: Instant::now() + Duration::from_secs(30),
    }
}

fn userinfo() -> String {
    format!("{}:{PASSWORD_ENCODED}@", USER.replace('@', "%40"))
}

fn message(subject: &str, to: &str) -> Email {
    Email {
        from: email::sender(
            None,
            &Smtp::parse(&format!("smtps://{}@h", USER.replace('@', "%40"))).unwrap(),
        )
        .unwrap(),
        to: email::recipients(to).unwrap(),
        subject: subject.to_owned(),
        body: "Group prod of acme was rotated.\nNothing to do.\n".to_owned(),
    }
}

/// Sends `email` to `server` with credentials, `smtp` adjusted by `adjust`.
fn send_to(server: &Running, email: &Email, adjust: impl FnOnce(&mut Smtp)) -> Result<email::Sent, String> {
    let mut smtp = Smtp::parse(&server.url_with(&userinfo())).expect("the server's URL");
    adjust(&mut smtp);
    let result = email::send(&smtp, email, &policy()).map_err(|e| format!("{e:#}"));
    if let Err(text) = &result {
        assert_no_password(text);
    }
    result
}

fn assert_no_password(text: &str) {
    for secret in [PASSWORD, PASSWORD_ENCODED, "p@ss", "w/rd"] {
        assert!(!text.contains(secret), "the password leaked: {text}");
    }
}

fn assert_delivered(got: &Received, to: &[&str]) {
    assert_eq!(got.mail_from, USER);
    assert_eq!(got.rcpt_tos, to);
    assert_eq!(got.auth_user.as_deref(), Some(USER), "authenticated as the user");
    assert!(got.tls, "the session was encrypted");
    assert!(got.body().contains("Group prod of acme was rotated."), "{}", got.raw);
    let date = got.header("Date").expect("a Date header");
    assert!(httpdate_like(&date), "Date: {date}");
}

/// RFC 5322: `Tue, 1 Jul 2025 10:00:00 +0000`.
fn httpdate_like(date: &str) -> bool {
    let parts: Vec<&str> = date.split_whitespace().collect();
    parts.len() == 6 && parts[0].ends_with(',') && parts[4].matches(':').count() == 2
}

#[test]
fn smtps_with_auth_delivers_one_message_to_all_recipients() {
    let server = SmtpServer::new(Mode::Tls).auth(USER, PASSWORD).start(ca());
    let first = message(
        "Turso tokens rotated: acme/prod",
        "ops@example.com, oncall@example.org\n",
    );
    let sent1 = send_to(&server, &first, |_| {}).expect("delivered");
    let sent2 = send_to(&server, &message("second", "ops@example.com"), |_| {}).expect("delivered");

    let got = server.messages();
    assert_eq!(got.len(), 2);
    assert_delivered(&got[0], &["ops@example.com", "oncall@example.org"]);
    assert_eq!(
        got[0].header("To").as_deref(),
        Some("ops@example.com, oncall@example.org")
    );
    assert_eq!(
        got[0].header("Subject").as_deref(),
        Some("Turso tokens rotated: acme/prod")
    );
    assert_eq!(got[0].header("From").as_deref(), Some(USER));
    let ids: Vec<String> = got
        .iter()
        .map(|m| m.header("Message-ID").expect("a Message-ID"))
        .collect();
    assert_eq!(ids, [sent1.message_id, sent2.message_id]);
    assert_ne!(ids[0], ids[1], "each message has its own id");
    assert!(
        ids[0].starts_with('<') && ids[0].ends_with("@example.com>"),
        "{}",
        ids[0]
    );
}

#[test]
fn smtp_upgrades_with_starttls_and_delivers() {
    let server = SmtpServer::new(Mode::StartTls).auth(USER, PASSWORD).start(ca());
    let email = message("Turso tokens rotated: acme/prod", "ops@example.com");
    // As for a remote host: STARTTLS is required, not merely used.
    send_to(&server, &email, |smtp| smtp.security = Security::StartTls).expect("delivered");
    let got = server.messages();
    assert_eq!(got.len(), 1);
    assert_delivered(&got[0], &["ops@example.com"]);
}

#[test]
fn a_remote_smtp_server_without_starttls_is_refused() {
    let server = SmtpServer::new(Mode::Plain).start(ca());
    let email = message("s", "ops@example.com");
    let error = send_to(&server, &email, |smtp| {
        smtp.security = Security::StartTls;
        smtp.user = None;
        smtp.password = None;
    })
    .expect_err("a plain session is refused");
    assert!(error.contains("STARTTLS") && error.contains("127.0.0.1"), "{error}");
    assert!(!error.contains("attempts"), "refused at once: {error}");
    assert!(server.messages().is_empty());
}

#[test]
fn a_loopback_smtp_server_may_stay_plain() {
    let server = SmtpServer::new(Mode::Plain).start(ca());
    let smtp = Smtp::parse(&server.url_with("")).unwrap();
    assert_eq!(smtp.security, Security::StartTlsIfOffered);
    email::send(&smtp, &message("s", "ops@example.com"), &policy()).expect("delivered");
    let got = server.messages();
    assert_eq!(got.len(), 1);
    assert!(!got[0].tls);
}

#[test]
fn a_transient_refusal_is_retried_then_delivered() {
    for stage in [Stage::Rcpt, Stage::Data] {
        let server = SmtpServer::new(Mode::Tls)
            .auth(USER, PASSWORD)
            .fault(stage, "451 4.3.0 Try again later", 1)
            .start(ca());
        send_to(&server, &message("s", "ops@example.com"), |_| {}).expect("delivered on the second attempt");
        assert_eq!(server.faults().len(), 1, "{stage:?}");
        let got = server.messages();
        assert_eq!(got.len(), 1, "{stage:?}");
        assert_delivered(&got[0], &["ops@example.com"]);
    }
}

#[test]
fn transient_refusals_are_retried_up_to_the_attempts() {
    let server = SmtpServer::new(Mode::Tls)
        .auth(USER, PASSWORD)
        .fault(Stage::Data, "451 4.3.0 Try again later", 0)
        .start(ca());
    let error = send_to(&server, &message("s", "ops@example.com"), |_| {}).expect_err("never accepted");
    assert_eq!(server.faults().len(), 3);
    assert!(error.contains("451") && error.contains("after 3 attempts"), "{error}");
}

#[test]
fn a_permanent_refusal_fails_at_once() {
    let server = SmtpServer::new(Mode::Tls)
        .auth(USER, PASSWORD)
        .fault(Stage::Rcpt, "550 5.1.1 No such user", 0)
        .start(ca());
    let error = send_to(&server, &message("s", "nobody@example.com"), |_| {}).expect_err("refused");
    assert_eq!(server.faults().len(), 1, "not retried");
    assert!(error.contains("550") && error.contains("No such user"), "{error}");
    assert!(error.contains("sending email via 127.0.0.1"), "{error}");
    assert!(server.messages().is_empty());
}

#[test]
fn a_wrong_password_fails_at_once_and_is_never_shown() {
    let server = SmtpServer::new(Mode::Tls).auth(USER, "another password").start(ca());
    let error = send_to(&server, &message("s", "ops@example.com"), |_| {}).expect_err("refused");
    assert!(error.contains("535"), "{error}");
    assert!(!error.contains("attempts"), "not retried: {error}");
    assert!(server.messages().is_empty());
}

#[test]
fn an_untrusted_certificate_fails_at_once() {
    ca();
    let stranger = TestCa::new();
    let server = SmtpServer::new(Mode::Tls).auth(USER, PASSWORD).start(&stranger);
    let error = send_to(&server, &message("s", "ops@example.com"), |_| {}).expect_err("refused");
    assert!(error.contains("TLS") && error.contains("127.0.0.1"), "{error}");
    assert!(!error.contains("attempts"), "not retried: {error}");
    assert!(server.messages().is_empty());
}

#[test]
fn a_refused_connection_is_retried_and_names_only_the_host() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let smtp = Smtp::parse(&format!("smtps://{}127.0.0.1:{port}", userinfo())).unwrap();
    let policy = Policy {
        max_attempts: 2,
        deadline: Instant::now() + Duration::from_secs(30),
    };
    let error = format!(
        "{:#}",
        email::send(&smtp, &message("s", "ops@example.com"), &policy).unwrap_err()
    );
    assert_no_password(&error);
    assert!(
        error.contains("after 2 attempts") && error.contains("via 127.0.0.1:"),
        "{error}"
    );
    assert!(!error.contains(USER), "{error}");
}

#[test]
fn smtp_url_schemes_ports_and_credentials() {
    let smtp = Smtp::parse(&format!("smtps://{}mail.example.com", userinfo())).unwrap();
    assert_eq!(smtp.security, Security::Tls);
    assert_eq!((smtp.host.as_str(), smtp.port), ("mail.example.com", 465));
    assert_eq!(smtp.user.as_deref(), Some(USER));
    assert_eq!(smtp.password.as_ref().map(|p| p.expose()), Some(PASSWORD));
    assert_no_password(&format!("{smtp:?}"));

    let smtp = Smtp::parse("smtp://Mail.Example.com:2525").unwrap();
    assert_eq!(smtp.security, Security::StartTls);
    assert_eq!((smtp.host.as_str(), smtp.port), ("mail.example.com", 2525));
    assert!(smtp.user.is_none() && smtp.password.is_none());
    assert_eq!(Smtp::parse("smtp://mail.example.com").unwrap().port, 587);
    assert_eq!(
        Smtp::parse("smtp://apikey@mail.example.com/").unwrap().user.as_deref(),
        Some("apikey")
    );

    for loopback in [
        "smtp://127.0.0.1:25",
        "smtp://localhost",
        "smtp://[::1]:25",
        "smtp://127.3.2.1",
    ] {
        assert_eq!(
            Smtp::parse(loopback).unwrap().security,
            Security::StartTlsIfOffered,
            "{loopback}"
        );
    }
    assert_eq!(Smtp::parse("smtp://[::1]").unwrap().host, "::1");
    assert_eq!(Smtp::parse("smtps://localhost").unwrap().security, Security::Tls);
    assert_eq!(Smtp::parse("smtp://10.0.0.1").unwrap().security, Security::StartTls);
}

#[test]
fn bad_smtp_urls_name_the_input_and_never_the_password() {
    for bad in [
        format!("https://{}mail.example.com", userinfo()),
        format!("smtp:{}mail.example.com", userinfo()),
        format!("smtps://{}", userinfo()),
        format!("smtps://{}mail.example.com:99999", userinfo()),
        format!("smtps://{}mail.example.com/path", userinfo()),
        format!("smtps://{}mail.example.com?tls=none", userinfo()),
        // Unencoded, the password's `/` and `#` end the authority.
        format!("smtps://{}:{PASSWORD}@mail.example.com", USER.replace('@', "%40")),
        "smtps://:secret-password@mail.example.com".to_owned(),
        "smtps://user:%FF%FEsecret@mail.example.com".to_owned(),
        "mail.example.com:465".to_owned(),
        String::new(),
    ] {
        let error = Smtp::parse(&bad).err().unwrap_or_else(|| panic!("accepted {bad}")).0;
        assert!(error.starts_with("`smtp-url`"), "{error}");
        assert_no_password(&error);
        assert!(!error.contains("secret"), "{error}");
    }
}

#[test]
fn the_sender_defaults_to_the_user_when_it_is_an_address() {
    let with_user = Smtp::parse(&format!("smtps://{}mail.example.com", userinfo())).unwrap();
    assert_eq!(email::sender(None, &with_user).unwrap().to_string(), USER);
    assert_eq!(email::sender(Some("  "), &with_user).unwrap().to_string(), USER);
    let from = email::sender(Some("Rotation <bot@example.org>"), &with_user).unwrap();
    assert_eq!(from.email.to_string(), "bot@example.org");

    for url in ["smtps://apikey:pw@mail.example.com", "smtps://mail.example.com"] {
        let smtp = Smtp::parse(url).unwrap();
        let error = email::sender(None, &smtp).unwrap_err().0;
        assert!(error.contains("`smtp-from` is required"), "{error}");
        assert_eq!(
            email::sender(Some("bot@example.org"), &smtp).unwrap().to_string(),
            "bot@example.org"
        );
    }
    let error = email::sender(Some("not an address"), &with_user).unwrap_err().0;
    assert!(error.starts_with("`smtp-from`"), "{error}");
}

#[test]
fn recipients_are_separated_by_commas_or_newlines() {
    let list = email::recipients("a@example.com,b@example.com\n\n c@example.org , a@example.com\n").unwrap();
    let list: Vec<String> = list.iter().map(|m| m.to_string()).collect();
    assert_eq!(list, ["a@example.com", "b@example.com", "c@example.org"]);
    assert!(email::recipients(" ,\n").unwrap_err().0.contains("`notify-email`"));
    let error = email::recipients("a@example.com, nobody").unwrap_err().0;
    assert!(error.contains("`notify-email`") && error.contains("nobody"), "{error}");
}
