//! The alert e-mail to a tenant's `alert_emails`: one alert, or several raised within the digest
//! window as one message, each saying what happened, since when, what it affects and where to
//! look.

use chrono::{DateTime, Utc};
use kalends_ical::write::Party;
use lettre::Message;
use lettre::message::MultiPart;

use super::page::Page;
use super::{Envelope, MailError, mailbox};

/// One alert as the e-mail shows it.
#[derive(Clone, Debug)]
pub struct AlertItem<'a> {
    /// One line.
    pub summary: &'a str,
    /// `(label, value)`.
    pub facts: &'a [(String, String)],
    /// An absolute link to where to look.
    pub link: String,
}

/// What the e-mail says.
#[derive(Clone, Debug)]
pub struct AlertEmail<'a> {
    /// The tenant's name.
    pub tenant_name: &'a str,
    /// Kalends's sending address.
    pub from: Party<'a>,
    /// The tenant's `alert_emails` (at least one).
    pub to: &'a [String],
    /// The alerts, oldest first (at least one).
    pub alerts: &'a [AlertItem<'a>],
    /// Now.
    pub now: DateTime<Utc>,
}

/// The subject: the alert's line, or how many alerts a digest holds.
fn subject(email: &AlertEmail<'_>) -> String {
    match email.alerts {
        [one] => format!("Kalends alert: {}", one.summary),
        many => format!("Kalends: {} alerts", many.len()),
    }
}

/// Each alert as text: its line, its facts, its link.
fn description(alerts: &[AlertItem<'_>]) -> String {
    let blocks: Vec<String> = alerts
        .iter()
        .map(|a| {
            let mut lines = vec![a.summary.to_owned()];
            lines.extend(a.facts.iter().map(|(label, value)| format!("{label}: {value}")));
            lines.push(format!("Details: {}", a.link));
            lines.join("\n")
        })
        .collect();
    blocks.join("\n\n")
}

/// The alert e-mail, `multipart/alternative` text and HTML, to every address of `to`.
pub fn alert_message(email: &AlertEmail<'_>) -> Result<Message, MailError> {
    let (Some(first), Some(first_to)) = (email.alerts.first(), email.to.first()) else {
        return Err(MailError::permanent("an alert e-mail needs an alert and a recipient"));
    };
    let subject = subject(email);
    let description = description(email.alerts);
    let page = Page {
        tenant: email.tenant_name,
        greeting_name: None,
        intro: format!("Kalends noticed something that needs {}'s attention.", email.tenant_name),
        title: "What happened",
        badge: None,
        facts: vec![("Alerts", email.alerts.len().to_string())],
        description: Some(&description),
        links: vec![("Open in Kalends", first.link.clone())],
        links_title: None,
    };
    let body = MultiPart::alternative_plain_html(page.text(), page.html(&subject));
    let to = Party { email: first_to, name: None, rsvp: false };
    let mut builder = Envelope {
        from: &email.from,
        from_name: "Kalends",
        reply_to: None,
        to: &to,
        subject: &subject,
        date: email.now,
    }
    .builder()?;
    for other in &email.to[1..] {
        builder = builder.to(mailbox(None, other, "recipient")?);
    }
    builder
        .multipart(body)
        .map_err(|e| MailError::permanent(format!("cannot build the alert email: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_alerts_are_one_digest_to_every_address() {
        let facts = vec![("Failing since".to_owned(), "2026-11-23 10:00 UTC".to_owned())];
        let alerts = [
            AlertItem {
                summary: "Feed import failing: Airbnb",
                facts: &facts,
                link: "http://k/a".into(),
            },
            AlertItem {
                summary: "Feed import recovered: VRBO",
                facts: &[],
                link: "http://k/b".into(),
            },
        ];
        let to = ["ops@example.com".to_owned(), "owner@example.com".to_owned()];
        let email = AlertEmail {
            tenant_name: "Sea Breeze",
            from: Party { email: "kalends@example.com", name: None, rsvp: false },
            to: &to,
            alerts: &alerts,
            now: Utc::now(),
        };
        let text = String::from_utf8(alert_message(&email).unwrap().formatted()).unwrap();
        assert!(text.contains("Subject: Kalends: 2 alerts"), "{text}");
        assert!(text.contains("ops@example.com") && text.contains("owner@example.com"));
        assert!(text.contains("Failing since: 2026-11-23 10:00 UTC"), "{text}");
        assert!(text.contains("http://k/b"), "{text}");
    }
}
