//! The e-mail that carries a staff member's settings link: when their calendar connection died
//! (a revoked grant, an expired refresh token, a changed CalDAV password), or when the business
//! asks them to connect a calendar (the console's "E-mail a settings link").

use chrono::{DateTime, Utc};
use kalends_ical::write::Party;
use lettre::Message;
use lettre::message::MultiPart;

use super::page::Page;
use super::{Envelope, MailError};

/// Why the staff member gets the link.
#[derive(Clone, Copy, Debug)]
pub enum LinkReason<'a> {
    /// Their connection to `provider` ("Google Calendar", ...) as `account` died.
    Reconnect {
        /// "Google Calendar", "Microsoft Outlook", "CalDAV".
        provider: &'a str,
        /// The connected account.
        account: &'a str,
    },
    /// The business asks them to connect (or look at) their calendars.
    Connect,
}

/// What the e-mail says.
#[derive(Clone, Debug)]
pub struct SettingsLinkEmail<'a> {
    /// The tenant's name (the brand and the sender's name).
    pub tenant_name: &'a str,
    /// Kalends's sending address.
    pub from: Party<'a>,
    /// The staff member.
    pub to: Party<'a>,
    /// Why.
    pub reason: LinkReason<'a>,
    /// A signed settings link.
    pub link: &'a str,
    /// When the link stops working.
    pub link_expires_at: DateTime<Utc>,
    /// Now.
    pub now: DateTime<Utc>,
}

/// The link with a subject and an introduction for its reason, as `multipart/alternative` text
/// and HTML.
pub fn settings_link_message(email: &SettingsLinkEmail<'_>) -> Result<Message, MailError> {
    let (subject, intro, title) = match email.reason {
        LinkReason::Reconnect { provider, account } => (
            format!("Reconnect your {provider} calendar"),
            format!(
                "{} can no longer put your bookings into {provider} ({account}): the access was \
                 removed or has expired. New bookings wait until you connect it again.",
                email.tenant_name
            ),
            "Connect your calendar again",
        ),
        LinkReason::Connect => (
            format!("Connect your calendar to {}", email.tenant_name),
            format!(
                "{} puts the bookings assigned to you into your own calendar (Google, Microsoft \
                 Outlook, Apple iCloud or any CalDAV calendar) and keeps your busy times from \
                 being double-booked. Choose your calendar on your settings page.",
                email.tenant_name
            ),
            "Connect your calendar",
        ),
    };
    let page = Page {
        tenant: email.tenant_name,
        greeting_name: email.to.name,
        intro,
        title,
        badge: None,
        facts: vec![(
            "Link valid until",
            email.link_expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        )],
        description: None,
        links: vec![("Open your calendar settings", email.link.to_owned())],
        links_title: None,
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
    .map_err(|e| MailError::permanent(format!("cannot build the settings link email: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(reason: LinkReason<'_>) -> String {
        let now = "2026-11-22T10:00:00Z".parse().unwrap();
        let email = SettingsLinkEmail {
            tenant_name: "Sea Breeze",
            from: Party { email: "bookings@kalends.example", name: None, rsvp: false },
            to: Party { email: "ann@example.com", name: Some("Ann Lee"), rsvp: false },
            reason,
            link: "https://kalends.example/settings/abc",
            link_expires_at: now + chrono::Duration::hours(24),
            now,
        };
        let message = settings_link_message(&email).unwrap();
        // The text as a reader sees it: quoted-printable's soft line breaks joined.
        String::from_utf8(message.formatted()).unwrap().replace("=\r\n", "")
    }

    #[test]
    fn an_invitation_to_connect_names_the_business_and_carries_the_link() {
        let text = email(LinkReason::Connect);
        assert!(text.contains("Subject: Connect your calendar to Sea Breeze"), "{text}");
        assert!(text.contains("https://kalends.example/settings/abc"));
        assert!(text.contains("2026-11-23 10:00 UTC"), "says until when it works");
        assert!(!text.contains("Add to calendar"), "a settings link is not a calendar entry");
    }

    #[test]
    fn a_reconnect_names_the_provider_and_account() {
        let reason =
            LinkReason::Reconnect { provider: "Google Calendar", account: "ann@gmail.com" };
        let text = email(reason);
        assert!(text.contains("Subject: Reconnect your Google Calendar calendar"), "{text}");
        assert!(text.contains("ann@gmail.com"));
    }
}
