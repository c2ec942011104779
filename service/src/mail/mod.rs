//! Customer email: the invitation, update and cancellation of a booking (iMIP, RFC 6047) with
//! its calendar part, the reminder before it starts, and the [`Mailer`] that sends them over
//! SMTP (lettre) or into `.eml` files.
//!
//! Building a message is pure; only [`Mailer::send`] does I/O. Nothing here logs a body or an
//! address.

mod alert;
mod invite;
mod links;
mod page;
mod reminder;
mod settings_link;
mod transport;
mod when;

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use kalends_ical::write::Party;
use lettre::message::{Mailbox, MessageBuilder};
use lettre::{Address, Message};

pub use alert::{AlertEmail, AlertItem, alert_message};
pub use invite::{InviteEmail, invite_message};
pub use reminder::{ReminderEmail, reminder_message};
pub use settings_link::{LinkReason, SettingsLinkEmail, settings_link_message};
pub use transport::{MailError, Mailer, Sent};

/// The headers every customer email has: From, Reply-To, To, Subject, Date and a Message-ID
/// on the sender's domain.
struct Envelope<'a> {
    from: &'a Party<'a>,
    /// The name to show when `from` has none.
    from_name: &'a str,
    reply_to: Option<&'a str>,
    to: &'a Party<'a>,
    subject: &'a str,
    date: DateTime<Utc>,
}

impl Envelope<'_> {
    fn builder(&self) -> Result<MessageBuilder, MailError> {
        let from_name = self.from.name.unwrap_or(self.from_name);
        let from = mailbox(Some(from_name), self.from.email, "sender")?;
        let to = mailbox(self.to.name, self.to.email, "recipient")?;
        let mut builder = Message::builder()
            .message_id(Some(new_message_id(from.email.domain())))
            .date(SystemTime::from(self.date))
            .from(from)
            .to(to)
            .subject(one_line(self.subject));
        if let Some(reply_to) = self.reply_to {
            let reply_to: Mailbox = reply_to
                .parse()
                .map_err(|e| MailError::permanent(format!("invalid Reply-To address: {e}")))?;
            builder = builder.reply_to(reply_to);
        }
        Ok(builder)
    }
}

/// A mailbox; `role` names it in the error, which leaves the address out.
fn mailbox(name: Option<&str>, email: &str, role: &str) -> Result<Mailbox, MailError> {
    let address: Address = email
        .trim()
        .parse()
        .map_err(|e| MailError::permanent(format!("invalid {role} address: {e}")))?;
    let name = name.map(one_line).filter(|n| !n.is_empty());
    Ok(Mailbox::new(name, address))
}

/// `<uuid@domain>`: unique, and on the sender's domain as RFC 5322 §3.6.4 suggests.
fn new_message_id(domain: &str) -> String {
    format!("<{}@{domain}>", uuid::Uuid::now_v7())
}

/// Header text on one line: control characters (line breaks) become spaces, runs collapse.
fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Trimmed text, or `None` when blank.
fn non_blank(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|t| !t.is_empty())
}
