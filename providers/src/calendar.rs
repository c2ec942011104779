//! Provider-neutral types: what crosses the `CalendarProvider` boundary.
//!
//! google-calendar3 and graph-rs-sdk types never leave `google.rs` and `microsoft.rs`; the jobs and
//! the front speak only these.

use chrono::{DateTime, Utc};
use kalends_core::calendar_item::CalendarItem;
use kalends_core::domain::BookingStatus;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use kalends_core::domain::{Provider, Span, TimeZone};

/// A stored access token is refreshed when it has less than this left (a connection's
/// token in `session`; a shared application token must outlive it, `microsoft::tenant`).
pub const REFRESH_MARGIN: std::time::Duration = std::time::Duration::from_secs(300);

/// An access token for one call; never logged (`SecretString` redacts `Debug`).
///
/// An application's token (Microsoft 365 app-only access) is nobody's own: it names the mailbox
/// it acts on, and the calls go to that user's calendars (`/users/{id}/…`) instead of the
/// token holder's (`/me/…`).
#[derive(Clone, Debug)]
pub struct AccessToken {
    secret: SecretString,
    mailbox: Option<String>,
}

impl AccessToken {
    /// Wraps a token string.
    pub fn new(token: impl Into<String>) -> Self {
        Self::from(SecretString::from(token.into()))
    }

    /// The same token acting on `mailbox` (a user id or userPrincipalName).
    pub fn for_mailbox(self, mailbox: impl Into<String>) -> Self {
        Self { mailbox: Some(mailbox.into()), ..self }
    }

    /// The bearer token.
    pub fn secret(&self) -> &SecretString {
        &self.secret
    }

    /// The mailbox an application's token acts on; `None` for the holder's own.
    pub fn mailbox(&self) -> Option<&str> {
        self.mailbox.as_deref()
    }
}

impl From<SecretString> for AccessToken {
    fn from(secret: SecretString) -> Self {
        Self { secret, mailbox: None }
    }
}

/// What a code exchange or a refresh returns.
#[derive(Clone, Debug)]
pub struct TokenSet {
    /// Bearer token for API calls.
    pub access_token: SecretString,
    /// Present on the first exchange; Microsoft returns a new one on every refresh, Google none.
    pub refresh_token: Option<SecretString>,
    /// When the access token stops working.
    pub expires_at: DateTime<Utc>,
    /// Scopes granted (may be fewer than asked for).
    pub scopes: Vec<String>,
    /// The account's e-mail address if the token response carried an OpenID id_token.
    pub id_token_email: Option<String>,
}

/// Who the connected account is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccountIdentity {
    /// The account's e-mail address (or user principal name).
    pub email: String,
    /// Display name, when the provider gives one.
    pub name: Option<String>,
}

/// A calendar of the connected account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteCalendar {
    /// The provider's id (`primary` is never returned; the real id is).
    pub id: String,
    /// Its name as the provider shows it.
    pub name: String,
    /// The account's main calendar.
    pub primary: bool,
    /// Whether Kalends may write events into it.
    pub writable: bool,
    /// Its IANA zone, when known.
    pub time_zone: Option<String>,
}

impl From<RemoteCalendar> for kalends_core::domain::ConnectionCalendar {
    /// The calendar as a connection keeps it.
    fn from(c: RemoteCalendar) -> Self {
        Self { id: c.id, name: c.name, primary: c.primary, writable: c.writable }
    }
}

/// The idempotency key of a pushed event: one booking in one connection's calendar.
///
/// Google gets it as the event id (base32hex), Microsoft as the `transactionId`; a retried
/// create can therefore never make a second event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EventKey {
    /// The booking.
    pub booking_id: Uuid,
    /// The connection whose calendar holds the event.
    pub connection_id: Uuid,
}

impl EventKey {
    /// 32 base32hex characters (`0-9a-v`), a valid Google event id: the first 20 bytes of
    /// SHA-256(booking ‖ connection).
    pub fn google_event_id(&self) -> String {
        const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
        let digest = self.digest();
        let mut out = String::with_capacity(32);
        let (mut buffer, mut bits) = (0u32, 0u32);
        for byte in &digest[..20] {
            buffer = (buffer << 8) | u32::from(*byte);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
            }
        }
        out
    }

    /// The provider's id of the event, known before the provider answered the create: Google's
    /// event id, CalDAV's resource name (`{uid}.ics`, the same key). `None` on Microsoft, whose
    /// ids are the provider's own (find the event by its booking property instead).
    pub fn known_remote_id(&self, provider: Provider) -> Option<String> {
        match provider {
            Provider::Google => Some(self.google_event_id()),
            Provider::Caldav => Some(format!("{}.ics", self.google_event_id())),
            Provider::Microsoft => None,
        }
    }

    /// A GUID-shaped transaction id for Microsoft Graph creates.
    pub fn transaction_id(&self) -> String {
        let digest = self.digest();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Uuid::from_bytes(bytes).hyphenated().to_string().to_uppercase()
    }

    fn digest(&self) -> [u8; 32] {
        use sha2::{Digest as _, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(b"kalends/event/v1");
        hasher.update(self.booking_id.as_bytes());
        hasher.update(self.connection_id.as_bytes());
        hasher.finalize().into()
    }
}

/// The event Kalends wants a calendar to hold for a booking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventDraft {
    /// Idempotency key; also tags the event as Kalends's (private extended property).
    pub key: EventKey,
    /// The tenant whose booking it is (tagged on the event with the booking and connection).
    pub tenant_id: Uuid,
    /// Title.
    pub summary: String,
    /// Body text.
    pub description: Option<String>,
    /// Where.
    pub location: Option<String>,
    /// When.
    pub time: Span,
    /// The zone a timed event is shown in (whole days ignore it).
    pub zone: TimeZone,
    /// A tentative booking shows as tentative.
    pub tentative: bool,
    /// The tenant's colour for the booking's status, a name or Google's id; Google maps it to
    /// its palette, Microsoft ignores it.
    pub colour: Option<String>,
    /// Popup reminders, minutes before the start (at most 5 are sent).
    pub reminder_minutes: Vec<u32>,
}

impl EventDraft {
    /// The event for a booking's calendar item (projected for a staff calendar) in the calendar
    /// of the connection `key` names.
    pub fn new(key: EventKey, tenant_id: Uuid, item: CalendarItem) -> Self {
        EventDraft {
            key,
            tenant_id,
            tentative: item.status == BookingStatus::Tentative,
            colour: item.colour,
            summary: item.title,
            description: item.description,
            location: item.location,
            time: item.span,
            zone: item.zone,
            reminder_minutes: item.reminder_minutes,
        }
    }
}

/// An event as the provider holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RemoteEvent {
    /// The provider's id.
    pub id: String,
    /// Title.
    pub summary: Option<String>,
    /// When.
    pub time: Span,
    /// The zone a timed event is shown in: the provider's, when it names an IANA zone, else UTC.
    pub zone: TimeZone,
    /// Whether it blocks time (not free/transparent, not declined, not cancelled).
    pub busy: bool,
    /// The booking, when Kalends created the event (read from the extended property).
    pub booking_id: Option<Uuid>,
    /// The connection that wrote it (extended property; absent on events written before
    /// Kalends tagged them with it).
    pub connection_id: Option<Uuid>,
    /// The tenant that wrote it (extended property; absent on older events too).
    pub tenant_id: Option<Uuid>,
    /// The idempotency key it was created with: Google's event id, Microsoft's
    /// `transactionId` (when the provider returns it).
    pub creation_key: Option<String>,
    /// The provider's version tag.
    pub etag: Option<String>,
}

/// Which connection wrote a Kalends event, as far as the event itself tells.
///
/// Several connections can write into one calendar (two staff members connected to a salon's
/// shared front-desk account): each may touch only its own events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writer {
    /// The connection asked about.
    This,
    /// Another connection (of this tenant or another one).
    Another,
    /// Written before events named their connection, and not created with this connection's
    /// key: only Kalends's own records can tell (the `booking_events` mapping).
    Unknown,
}

impl RemoteEvent {
    /// Who wrote this event, for `connection_id`: the connection property when the event has
    /// one; else [`Writer::This`] when it was created with the key derived from (booking,
    /// connection); else [`Writer::Unknown`]. An event without a booking is not Kalends's:
    /// [`Writer::Another`].
    pub fn writer(&self, connection_id: Uuid) -> Writer {
        let Some(booking_id) = self.booking_id else { return Writer::Another };
        if let Some(writer) = self.connection_id {
            return if writer == connection_id { Writer::This } else { Writer::Another };
        }
        let key = EventKey { booking_id, connection_id };
        let created = self.creation_key.as_deref().is_some_and(|created| {
            created == key.google_event_id() || created.eq_ignore_ascii_case(&key.transaction_id())
        });
        if created { Writer::This } else { Writer::Unknown }
    }

    /// Whether `connection_id` wrote this event: [`Self::writer`], with an unknown writer
    /// settled by Kalends's own record of the events that connection wrote (`recorded`, the
    /// remote ids of its `booking_events`). Not recorded: not touched.
    pub fn is_written_by(
        &self,
        connection_id: Uuid,
        recorded: &std::collections::HashSet<String>,
    ) -> bool {
        match self.writer(connection_id) {
            Writer::This => true,
            Writer::Another => false,
            Writer::Unknown => recorded.contains(&self.id),
        }
    }
}

/// One entry of an incremental change list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// Created or modified.
    Upserted(RemoteEvent),
    /// Deleted or cancelled.
    Deleted {
        /// The provider's id of the event.
        id: String,
    },
}

/// What "changes since a cursor" answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeSet {
    /// The changes, and the cursor to ask from next time.
    Changes {
        /// In the provider's order.
        changes: Vec<Change>,
        /// Sync token (Google) or delta link (Microsoft).
        next_cursor: String,
    },
    /// The cursor is no longer valid (410): wipe and list the window again without one.
    FullSyncRequired,
}

/// A window of time asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
}

/// A busy interval from a free/busy query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BusyInterval {
    /// Start instant.
    pub start: DateTime<Utc>,
    /// End instant.
    pub end: DateTime<Utc>,
}

/// A push-notification channel (Google) or subscription (Microsoft).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Channel id (Google, chosen by Kalends) or subscription id (Microsoft).
    pub id: String,
    /// Google's `resourceId`, needed to stop the channel; none on Microsoft.
    pub resource_id: Option<String>,
    /// When the provider stops sending notifications unless renewed.
    pub expires_at: DateTime<Utc>,
}

/// What to subscribe to and where notifications go.
#[derive(Clone, Debug)]
pub struct SubscriptionRequest {
    /// Calendar watched (Google; Microsoft watches `me/events`).
    pub calendar_id: String,
    /// Our webhook (`{public_url}/webhooks/google` or `/webhooks/microsoft`).
    pub callback_url: String,
    /// Channel id to use (Google).
    pub channel_id: String,
    /// Secret echoed back with every notification (channel token / clientState).
    pub secret: SecretString,
    /// Requested expiry; providers may shorten it.
    pub expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_stable_base32hex_and_differ_per_connection() {
        let key = EventKey { booking_id: Uuid::from_u128(1), connection_id: Uuid::from_u128(2) };
        let id = key.google_event_id();
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'v').contains(&b)));
        assert_eq!(id, key.google_event_id());
        let other = EventKey { connection_id: Uuid::from_u128(3), ..key };
        assert_ne!(id, other.google_event_id());
        assert_ne!(key.transaction_id(), other.transaction_id());
        assert_eq!(key.transaction_id().len(), 36);
    }

    fn event(connection_id: Option<Uuid>, creation_key: Option<String>) -> RemoteEvent {
        RemoteEvent {
            id: "e1".into(),
            summary: None,
            time: Span::AllDay {
                start: chrono::NaiveDate::from_ymd_opt(2030, 1, 1).unwrap(),
                end: chrono::NaiveDate::from_ymd_opt(2030, 1, 2).unwrap(),
            },
            zone: TimeZone::UTC,
            busy: true,
            booking_id: Some(Uuid::from_u128(1)),
            connection_id,
            tenant_id: None,
            creation_key,
            etag: None,
        }
    }

    #[test]
    fn an_event_names_its_writer_by_property_else_by_the_key_it_was_created_with() {
        let (mine, theirs) = (Uuid::from_u128(2), Uuid::from_u128(3));
        assert_eq!(event(Some(mine), None).writer(mine), Writer::This);
        assert_eq!(event(Some(theirs), None).writer(mine), Writer::Another);
        // Older events carry no connection property: the creation key tells.
        let key = EventKey { booking_id: Uuid::from_u128(1), connection_id: mine };
        assert_eq!(event(None, Some(key.google_event_id())).writer(mine), Writer::This);
        assert_eq!(event(None, Some(key.transaction_id())).writer(mine), Writer::This);
        assert_eq!(event(None, Some(key.google_event_id())).writer(theirs), Writer::Unknown);
        assert_eq!(event(None, None).writer(mine), Writer::Unknown);
        let not_kalends = RemoteEvent { booking_id: None, ..event(Some(mine), None) };
        assert_eq!(not_kalends.writer(mine), Writer::Another);
    }
}
