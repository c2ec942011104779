//! Customer e-mail as the jobs and the API use it: who sends (the tenant's name at Kalends's
//! sender address), the invite links, the rendered invitation, and sending with the outcome
//! classified.

use std::sync::Arc;
use std::time::Duration;

use crate::staff_sessions::{SettingsLink, new_link, sign_link};
use chrono::Utc;
use kalends_core::Config;
use kalends_core::config::SecretKey;
use kalends_core::domain::{Booking, Tenant, TimeZone};
use kalends_core::invite::{Invite, InviteKind, render, render_cancelled_notice};
use kalends_ical::write::Party;
use kalends_store::MessageKind;
use uuid::Uuid;

use crate::mail::{
    AlertEmail, AlertItem, InviteEmail, MailError, Mailer, ReminderEmail, SettingsLinkEmail,
    alert_message, invite_message, reminder_message, settings_link_message,
};

pub use crate::mail::LinkReason;

/// How long a settings link sent by e-mail works (one shown on a screen works 15 minutes).
pub const EMAILED_LINK_HOURS: i64 = 24;

/// How a send ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The server accepted it.
    Sent {
        /// Its Message-ID.
        message_id: String,
    },
    /// Nothing was sent; retrying later can work (4xx, no answer).
    Deferred(String),
    /// The server refused it for good (5xx), in its words.
    Refused(String),
}

/// Sends customer e-mail for every tenant.
#[derive(Clone, Debug)]
pub struct CustomerMail {
    mailer: Mailer,
    /// The address everything is sent from (`mail_from`'s address part).
    address: String,
    public_url: String,
    secret_key: Arc<SecretKey>,
    grace: chrono::Duration,
}

impl CustomerMail {
    /// SMTP when `smtp_url` is set, else `.eml` files in `data_dir/outbox`.
    pub fn from_config(config: &Config, secret_key: Arc<SecretKey>) -> Result<Self, MailError> {
        let mailer = match &config.smtp_url {
            Some(url) => Mailer::smtp(url, Duration::from_secs(config.mail.timeout_secs))?,
            None => Mailer::files(config.data_dir.join("outbox"))?,
        };
        Ok(Self {
            mailer,
            address: address_of(&config.mail_from).to_owned(),
            public_url: config.public_url.trim_end_matches('/').to_owned(),
            secret_key,
            grace: chrono::Duration::minutes(i64::from(config.mail.reminder_grace_minutes)),
        })
    }

    /// How late a reminder may still go out.
    pub fn reminder_grace(&self) -> chrono::Duration {
        self.grace
    }

    /// The public link to the booking's current invitation.
    pub fn invite_url(&self, booking_id: uuid::Uuid) -> String {
        let token = kalends_core::tokens::invite_token(&self.secret_key, booking_id);
        format!("{}/invite/{token}.ics", self.public_url)
    }

    /// The invitation as it stands (`REQUEST`, or `CANCEL` once cancelled), as `.ics` text.
    pub fn render_invite(
        &self,
        tenant: &Tenant,
        booking: &Booking,
        zone: TimeZone,
        kind: MessageKind,
        revision: i64,
    ) -> Option<String> {
        let url = self.invite_url(booking.id);
        let (organizer, attendee) = self.parties(tenant, booking)?;
        Some(render(&self.invite(booking, zone, kind, revision, organizer, attendee, &url)))
    }

    /// What the public link shows once the booking is cancelled: only that it is (see
    /// [`render_cancelled_notice`]); `None` without a customer address.
    pub fn render_cancelled_notice(
        &self,
        tenant: &Tenant,
        booking: &Booking,
        zone: TimeZone,
        revision: i64,
    ) -> Option<String> {
        let (organizer, attendee) = self.parties(tenant, booking)?;
        let invite =
            self.invite(booking, zone, MessageKind::Cancel, revision, organizer, attendee, "");
        Some(render_cancelled_notice(&invite))
    }

    #[allow(clippy::too_many_arguments)]
    fn invite<'a>(
        &self,
        booking: &'a Booking,
        zone: TimeZone,
        kind: MessageKind,
        revision: i64,
        organizer: Party<'a>,
        attendee: Party<'a>,
        url: &'a str,
    ) -> Invite<'a> {
        Invite {
            booking,
            kind: if kind == MessageKind::Cancel {
                InviteKind::Cancel
            } else {
                InviteKind::Request
            },
            sequence: revision,
            dtstamp: Utc::now(),
            zone,
            organizer,
            attendee,
            // No link is no URL property, rather than an empty one.
            url: (!url.is_empty()).then_some(url),
        }
    }

    /// ORGANIZER (the tenant's name at Kalends's sender address: receivers compare it with
    /// From) and ATTENDEE (the customer); `None` without a customer address.
    fn parties<'a>(
        &'a self,
        tenant: &'a Tenant,
        booking: &'a Booking,
    ) -> Option<(Party<'a>, Party<'a>)> {
        let email = booking.data.customer.as_ref()?.email.as_ref()?;
        Some(self.parties_to(tenant, booking, email.as_str()))
    }

    /// [`CustomerMail::parties`] with the customer at `email`.
    fn parties_to<'a>(
        &'a self,
        tenant: &'a Tenant,
        booking: &'a Booking,
        email: &'a str,
    ) -> (Party<'a>, Party<'a>) {
        let name = tenant.settings.mail_from_name.as_deref().unwrap_or(&tenant.settings.name);
        let customer = booking.data.customer.as_ref().map(|c| c.name.as_str());
        (
            Party { email: &self.address, name: Some(name), rsvp: false },
            Party { email, name: customer, rsvp: true },
        )
    }

    /// Sends the invitation, update or cancellation of `revision`; `first` when the address has
    /// had no invitation (worded as one, not as an update, whatever `revision` is).
    pub async fn send_invite(
        &self,
        tenant: &Tenant,
        booking: &Booking,
        zone: TimeZone,
        kind: MessageKind,
        revision: i64,
        first: bool,
    ) -> Outcome {
        let url = self.invite_url(booking.id);
        let Some((organizer, attendee)) = self.parties(tenant, booking) else {
            return Outcome::Refused("the booking has no customer address".into());
        };
        let invite = self.invite(booking, zone, kind, revision, organizer, attendee, &url);
        self.deliver_invite(tenant, invite, first).await
    }

    /// Sends the cancellation of `revision` to `recipient`, an address the booking's customer
    /// no longer has: the event leaves the calendar it was sent to. It carries no link (which
    /// now shows the booking to its new address) and no customer name.
    pub async fn send_cancel_to(
        &self,
        tenant: &Tenant,
        booking: &Booking,
        zone: TimeZone,
        revision: i64,
        recipient: &str,
    ) -> Outcome {
        let (organizer, attendee) = self.parties_to(tenant, booking, recipient);
        // Not the new customer's name either: the old address may be someone else's.
        let attendee = Party { name: None, ..attendee };
        let invite =
            self.invite(booking, zone, MessageKind::Cancel, revision, organizer, attendee, "");
        self.deliver_invite(tenant, invite, false).await
    }

    /// Renders `invite` as the tenant's e-mail (`first`: see [`InviteEmail::first`]) and hands
    /// it to the server.
    async fn deliver_invite(&self, tenant: &Tenant, invite: Invite<'_>, first: bool) -> Outcome {
        let email = InviteEmail {
            invite,
            first,
            tenant_name: &tenant.settings.name,
            reply_to: tenant.settings.reply_to.as_deref(),
            customer_zone: None,
        };
        match invite_message(&email) {
            Ok(message) => self.deliver(message).await,
            Err(e) => outcome_of(e),
        }
    }

    /// Sends one reminder.
    pub async fn send_reminder(
        &self,
        tenant: &Tenant,
        booking: &Booking,
        zone: TimeZone,
        _reminder: &str,
    ) -> Outcome {
        let url = self.invite_url(booking.id);
        let Some((from, to)) = self.parties(tenant, booking) else {
            return Outcome::Refused("the booking has no customer address".into());
        };
        let email = ReminderEmail {
            booking,
            tenant_name: &tenant.settings.name,
            from,
            reply_to: tenant.settings.reply_to.as_deref(),
            to,
            zone,
            customer_zone: None,
            url: Some(&url),
            now: Utc::now(),
        };
        match reminder_message(&email) {
            Ok(message) => self.deliver(message).await,
            Err(e) => outcome_of(e),
        }
    }

    /// Tells a staff member their calendar connection died, with a settings link valid a day.
    pub async fn send_reconnect(
        &self,
        tenant: &Tenant,
        connection: &kalends_core::domain::Connection,
        staff_email: &str,
        staff_name: &str,
    ) -> Outcome {
        let reason = LinkReason::Reconnect {
            provider: connection.provider.label(),
            account: &connection.account_email,
        };
        // Sent on its own, not asked for: it ends no session (the staff member may be on the
        // settings page, connecting again).
        let lifetime = chrono::Duration::hours(EMAILED_LINK_HOURS);
        let staff_id = connection.staff_id;
        let link = sign_link(&self.secret_key, &self.public_url, tenant.id, staff_id, lifetime);
        self.send_settings_link(tenant, (staff_email, staff_name), reason, &link).await
    }

    /// A settings link someone asked to be e-mailed, valid for [`EMAILED_LINK_HOURS`]: the
    /// staff member's sessions opened before it end.
    pub async fn new_settings_link(
        &self,
        store: &kalends_store::Store,
        tenant_id: Uuid,
        staff_id: Uuid,
    ) -> Result<SettingsLink, kalends_store::StoreError> {
        let lifetime = chrono::Duration::hours(EMAILED_LINK_HOURS);
        new_link(store, &self.secret_key, &self.public_url, tenant_id, staff_id, lifetime).await
    }

    /// E-mails a staff member (`to`: address and name) `link` to their settings page, saying
    /// why.
    pub async fn send_settings_link(
        &self,
        tenant: &Tenant,
        to: (&str, &str),
        reason: LinkReason<'_>,
        link: &SettingsLink,
    ) -> Outcome {
        let now = Utc::now();
        let name = tenant.settings.mail_from_name.as_deref().unwrap_or(&tenant.settings.name);
        let email = SettingsLinkEmail {
            tenant_name: &tenant.settings.name,
            from: Party { email: &self.address, name: Some(name), rsvp: false },
            to: Party { email: to.0, name: Some(to.1), rsvp: false },
            reason,
            link: &link.url,
            link_expires_at: link.expires_at,
            now,
        };
        match settings_link_message(&email) {
            Ok(message) => self.deliver(message).await,
            Err(e) => outcome_of(e),
        }
    }

    /// E-mails the tenant's alerts (one, or several as a digest) to `to` (addresses of its
    /// `alert_emails`); a link given as a path is made absolute on the public URL.
    pub async fn send_alerts(
        &self,
        tenant: &Tenant,
        alerts: &[&kalends_store::Alert],
        to: &[String],
    ) -> Outcome {
        let items: Vec<AlertItem<'_>> = alerts
            .iter()
            .map(|a| AlertItem {
                summary: &a.summary,
                facts: &a.facts,
                link: if a.link.starts_with('/') {
                    format!("{}{}", self.public_url, a.link)
                } else {
                    a.link.clone()
                },
            })
            .collect();
        let email = AlertEmail {
            tenant_name: &tenant.settings.name,
            from: Party { email: &self.address, name: Some("Kalends"), rsvp: false },
            to,
            alerts: &items,
            now: Utc::now(),
        };
        match alert_message(&email) {
            Ok(message) => self.deliver(message).await,
            Err(e) => outcome_of(e),
        }
    }

    async fn deliver(&self, message: lettre::Message) -> Outcome {
        match self.mailer.send(message).await {
            Ok(sent) => Outcome::Sent { message_id: sent.message_id },
            Err(e) => outcome_of(e),
        }
    }
}

fn outcome_of(error: MailError) -> Outcome {
    match error {
        MailError::Transient(why) => Outcome::Deferred(why),
        MailError::Permanent { message, .. } => Outcome::Refused(message),
    }
}

/// `bookings@example.com` of `"Sea Breeze <bookings@example.com>"` (or of a bare address).
fn address_of(mail_from: &str) -> &str {
    match (mail_from.rfind('<'), mail_from.rfind('>')) {
        (Some(open), Some(close)) if open < close => mail_from[open + 1..close].trim(),
        _ => mail_from.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sender_address_is_taken_from_mail_from() {
        assert_eq!(address_of("Kalends <kalends@localhost>"), "kalends@localhost");
        assert_eq!(address_of("bookings@example.com"), "bookings@example.com");
    }
}
