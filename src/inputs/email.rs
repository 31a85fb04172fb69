//! Email to the people who must act: `notify-email` (the recipients),
//! `smtp-url` (the server, a credential) and `smtp-from` (the sender),
//! read into the plain values the SMTP client takes.

use lettre::message::Mailbox;

use super::error::{bad, BadInput};
use super::raw::Raw;
use crate::apis::email::{self, Smtp};
use crate::secret::Secret;

/// Where the run's one email goes, and how.
#[derive(Debug)]
pub struct EmailNotify {
    pub smtp: Smtp,
    /// The whole `smtp-url`, registered for redaction and masked under Actions.
    pub url: Secret,
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    /// `notify-on: failure`.
    pub only_on_failure: bool,
}

/// `notify-email`, `smtp-url` and `smtp-from`; none of them without the others.
pub(super) fn email(raw: &Raw, only_on_failure: bool) -> Result<Option<EmailNotify>, BadInput> {
    // Registered before anything can print it: the URL may hold a password.
    let url = raw.get("smtp-url").map(Secret::new);
    let from = raw.get("smtp-from");
    let Some(to) = raw.get("notify-email") else {
        return match (&url, &from) {
            (Some(_), _) => bad("Input `smtp-url` needs `notify-email`: the addresses to tell."),
            (None, Some(_)) => bad("Input `smtp-from` needs `notify-email`: the addresses to tell."),
            (None, None) => Ok(None),
        };
    };
    let to = email::recipients(&to).map_err(input)?;
    let Some(url) = url else {
        return bad("Input `notify-email` needs `smtp-url`: the SMTP server (`smtps://USER:PASSWORD@HOST` or `smtp://…` with STARTTLS).");
    };
    let smtp = Smtp::parse(url.expose()).map_err(input)?;
    let from = email::sender(from.as_deref(), &smtp).map_err(input)?;
    Ok(Some(EmailNotify {
        smtp,
        url,
        from,
        to,
        only_on_failure,
    }))
}

/// The SMTP client's message as an input error: "Input `smtp-url`: …".
fn input(e: BadInput) -> BadInput {
    match e.0.strip_prefix('`') {
        Some(rest) if !e.0.starts_with("Input") => BadInput(format!("Input `{rest}")),
        _ => e,
    }
}
