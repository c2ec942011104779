//! Calendar connections: a staff member's Google or Microsoft account, linked through OAuth.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A calendar provider Kalends connects to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Google Calendar.
    Google,
    /// Microsoft Outlook / Exchange Online through Graph.
    Microsoft,
    /// Apple iCloud or any CalDAV server, with an app password.
    Caldav,
}

impl Provider {
    /// Every provider, in display order.
    pub const ALL: [Provider; 3] = [Provider::Google, Provider::Microsoft, Provider::Caldav];
    /// Those connected through OAuth (CalDAV connects through a form).
    pub const OAUTH: [Provider; 2] = [Provider::Google, Provider::Microsoft];

    /// The word used in URLs, the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Google => "google",
            Provider::Microsoft => "microsoft",
            Provider::Caldav => "caldav",
        }
    }

    /// The name people know it by.
    pub fn label(self) -> &'static str {
        match self {
            Provider::Google => "Google Calendar",
            Provider::Microsoft => "Microsoft Outlook",
            Provider::Caldav => "CalDAV",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "google" => Ok(Provider::Google),
            "microsoft" => Ok(Provider::Microsoft),
            "caldav" => Ok(Provider::Caldav),
            other => {
                Err(format!("unknown provider {other:?}: expected google, microsoft or caldav"))
            }
        }
    }
}

/// Whether a connection works.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Tokens work.
    Active,
    /// The grant is dead: the staff member must connect again; work for it is parked.
    NeedsReauth,
    /// Disconnected: tokens forgotten.
    Revoked,
    /// Something else keeps failing (see `last_error`).
    Error,
}

impl ConnectionStatus {
    /// The database and API word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::NeedsReauth => "needs_reauth",
            Self::Revoked => "revoked",
            Self::Error => "error",
        }
    }

    /// Parses the database word.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(Self::Active),
            "needs_reauth" => Some(Self::NeedsReauth),
            "revoked" => Some(Self::Revoked),
            "error" => Some(Self::Error),
            _ => None,
        }
    }
}

/// A calendar of a connected account, as last listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionCalendar {
    /// The provider's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The account's main calendar.
    pub primary: bool,
    /// Kalends may write into it.
    pub writable: bool,
}

/// A connection's provider tokens in the clear: as a provider hands them out, as the store seals
/// and opens them, and as a refresh keeps them between calls.
#[derive(Clone, Debug)]
pub struct ConnectionTokens {
    /// Bearer token.
    pub access_token: secrecy::SecretString,
    /// Refresh token; `None` on a refresh means "keep the one stored" (Google never rotates).
    pub refresh_token: Option<secrecy::SecretString>,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
}

/// A connection as the store keeps it (tokens stay sealed; see `SealedTokens`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    /// Id.
    pub id: Uuid,
    /// Owner.
    pub tenant_id: Uuid,
    /// The staff member who connected it.
    pub staff_id: Uuid,
    /// Google or Microsoft.
    pub provider: Provider,
    /// The account's address.
    pub account_email: String,
    /// Whether it works.
    pub status: ConnectionStatus,
    /// Where bookings are written.
    pub destination_calendar_id: Option<String>,
    /// Calendars whose busy times count.
    pub busy_calendar_ids: Vec<String>,
    /// The calendars the account had when last listed.
    pub calendars: Vec<ConnectionCalendar>,
    /// The staff member's default connection (bookings go there).
    pub is_default: bool,
    /// Busy times only (an organisation's busy-times-only tier): nothing is written into its
    /// calendar, which is never the default, and its busy times are read as free/busy.
    pub busy_only: bool,
    /// Last successful sync.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// Last failure, in words.
    pub last_error: Option<String>,
    /// When the access token expires.
    pub token_expires_at: Option<DateTime<Utc>>,
    /// Connected at.
    pub created_at: DateTime<Utc>,
    /// Changed at.
    pub updated_at: DateTime<Utc>,
}
