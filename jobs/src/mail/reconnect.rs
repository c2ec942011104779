//! The e-mail a staff member gets when their calendar connection died (a revoked grant, an
//! expired refresh token): a fresh settings link to connect it again.

use chrono::{DateTime, Utc};
use kalends_core::ical::write::Party;
use lettre::Message;
use lettre::message::MultiPart;

use super::page::Page;
use super::{Envelope, MailError};

/// What the e-mail says.
#[derive(Clone, Debug)]
pub struct ReconnectEmail<'a> {
    /// The tenant's name (the brand and the sender's name).
    pub tenant_name: &'a str,
    /// Kalends's sending address.
    pub from: Party<'a>,
    /// The staff member.
    pub to: Party<'a>,
    /// "Google Calendar" or "Microsoft Outlook".
    pub provider: &'a str,
    /// The connected account.
    pub account: &'a str,
    /// A signed settings link.
    pub link: &'a str,
    /// When the link stops working.
    pub link_expires_at: DateTime<Utc>,
    /// Now.
    pub now: DateTime<Utc>,
}

/// `Reconnect your {provider} calendar` as `multipart/alternative` text and HTML.
pub fn reconnect_message(email: &ReconnectEmail<'_>) -> Result<Message, MailError> {
    let subject = format!("Reconnect your {} calendar", email.provider);
    let page = Page {
        tenant: email.tenant_name,
        greeting_name: email.to.name,
        intro: format!(
            "{} can no longer put your bookings into {} ({}): the access was removed or has expired. \
             New bookings wait until you connect it again.",
            email.tenant_name, email.provider, email.account
        ),
        title: "Connect your calendar again",
        badge: None,
        facts: vec![(
            "Link valid until",
            email.link_expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        )],
        description: None,
        links: vec![("Open your calendar settings", email.link.to_owned())],
    };
    let body = MultiPart::alternative_plain_html(page.text(), page.html(&subject));
    Envelope {
        from: &email.from,
        from_name: email.tenant_name,
        reply_to: None,
        to: &email.to,
        subject: &subject,
        date: email.now,
    }
    .builder()?
    .multipart(body)
    .map_err(|e| MailError::permanent(format!("cannot build the reconnect email: {e}")))
}
