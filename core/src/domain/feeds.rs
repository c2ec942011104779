//! Values shared by iCal feeds out and imports in.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The platform an imported feed comes from. It decides how the feed's events are read (an Airbnb
/// "Reserved" is a reservation, adjacent Booking.com "CLOSED - Not available" nights are one stay)
/// and which exported feeds must never echo them back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// Airbnb.
    Airbnb,
    /// VRBO / HomeAway.
    Vrbo,
    /// Booking.com.
    BookingCom,
    /// A Google Calendar secret address.
    Google,
    /// An Outlook / Microsoft 365 published calendar.
    Outlook,
    /// Any other iCalendar source.
    Other,
}

impl Platform {
    /// Every platform, in the order the API documents them.
    pub const ALL: [Platform; 6] = [
        Platform::Airbnb,
        Platform::Vrbo,
        Platform::BookingCom,
        Platform::Google,
        Platform::Outlook,
        Platform::Other,
    ];

    /// The API and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Airbnb => "airbnb",
            Self::Vrbo => "vrbo",
            Self::BookingCom => "booking_com",
            Self::Google => "google",
            Self::Outlook => "outlook",
            Self::Other => "other",
        }
    }

    /// Parses the API and database name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// The producer whose quirks the iCalendar reader applies to a feed from this platform.
impl From<Platform> for kalends_ical::Producer {
    fn from(platform: Platform) -> Self {
        match platform {
            Platform::Airbnb => Self::Airbnb,
            Platform::Vrbo => Self::Vrbo,
            Platform::BookingCom => Self::BookingCom,
            Platform::Google => Self::Google,
            Platform::Outlook => Self::Outlook,
            Platform::Other => Self::Other,
        }
    }
}

/// Whose calendar something belongs to: a resource or a staff member (in a job's JSON,
/// `{"resource": id}` or `{"staff": id}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Owner {
    /// A bookable thing (a property, a room).
    Resource(Uuid),
    /// A staff member.
    Staff(Uuid),
}

impl Owner {
    /// From the `resource_id` / `staff_id` column pair, exactly one of which is set.
    pub fn from_columns(resource_id: Option<Uuid>, staff_id: Option<Uuid>) -> Option<Self> {
        match (resource_id, staff_id) {
            (Some(id), None) => Some(Self::Resource(id)),
            (None, Some(id)) => Some(Self::Staff(id)),
            _ => None,
        }
    }

    /// The resource's or the staff member's id.
    pub fn id(self) -> Uuid {
        match self {
            Self::Resource(id) | Self::Staff(id) => id,
        }
    }

    /// The `resource_id` / `staff_id` column pair.
    pub fn columns(self) -> (Option<Uuid>, Option<Uuid>) {
        match self {
            Self::Resource(id) => (Some(id), None),
            Self::Staff(id) => (None, Some(id)),
        }
    }
}

/// What an exported feed covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedScope {
    /// One resource or one staff member.
    Owner(Owner),
    /// Everything of the tenant.
    Tenant,
}

impl FeedScope {
    /// The API and database name of the scope kind.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Owner(Owner::Resource(_)) => "resource",
            Self::Owner(Owner::Staff(_)) => "staff",
            Self::Tenant => "tenant",
        }
    }

    /// The resource or staff member, if the scope is one.
    pub fn owner(self) -> Option<Owner> {
        match self {
            Self::Owner(o) => Some(o),
            Self::Tenant => None,
        }
    }
}

/// How much an exported feed shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedProfile {
    /// Only that the time is taken, under the tenant's busy label: no personal data.
    Busy,
    /// Title, customer, contact and description.
    Details,
}

impl FeedProfile {
    /// The API and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Busy => "busy",
            Self::Details => "details",
        }
    }

    /// Parses the API and database name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Busy, Self::Details].into_iter().find(|p| p.as_str() == s)
    }
}

/// A feed to publish.
#[derive(Clone, Debug)]
pub struct NewFeed {
    /// What it covers.
    pub scope: FeedScope,
    /// How much it shows.
    pub profile: FeedProfile,
    /// Its calendar name (`X-WR-CALNAME`).
    pub name: String,
    /// The platform that subscribes to it: events imported from that platform are left out, so
    /// the platform never sees its own bookings echoed back as blocks.
    pub platform: Option<Platform>,
    /// Whether tentative bookings appear (as `STATUS:TENTATIVE` in `details`, as busy in `busy`).
    pub include_tentative: bool,
}

/// A published feed.
#[derive(Clone, Debug)]
pub struct Feed {
    /// Its id.
    pub id: Uuid,
    /// Its tenant.
    pub tenant_id: Uuid,
    /// Its settings.
    pub data: NewFeed,
    /// The per-feed value its URL token is derived from; replaced on rotation.
    pub nonce: Vec<u8>,
    /// SHA-256 of its URL token: tells which secret key (current or previous) made the token.
    pub token_hash: Vec<u8>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its settings or URL last changed.
    pub updated_at: DateTime<Utc>,
}

/// An .ics URL to poll.
#[derive(Clone)]
pub struct NewImport {
    /// Whose calendar the events block.
    pub owner: Owner,
    /// Where the feed comes from.
    pub platform: Platform,
    /// The URL (normalised: `webcal://` already became `https://`).
    pub url: String,
    /// A label.
    pub name: Option<String>,
    /// Minutes between runs (5 to 1440).
    pub interval_minutes: u32,
    /// How its feed is read.
    pub settings: super::ImportSettings,
}

/// Shows the URL's host alone: the platforms put the feed's secret in its path or query.
impl std::fmt::Debug for NewImport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewImport")
            .field("owner", &self.owner)
            .field("platform", &self.platform)
            .field("url", &crate::redact::url_host_only(&self.url))
            .field("name", &self.name)
            .field("interval_minutes", &self.interval_minutes)
            .field("settings", &self.settings)
            .finish()
    }
}

/// How an import is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    /// Not run yet.
    Pending,
    /// The last run worked.
    Ok,
    /// Several runs in a row failed.
    Failing,
}

impl ImportStatus {
    /// The database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ok => "ok",
            Self::Failing => "failing",
        }
    }

    /// Parses the database name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Ok, Self::Failing].into_iter().find(|p| p.as_str() == s)
    }
}

/// A registered import.
#[derive(Clone, Debug)]
pub struct Import {
    /// Its id.
    pub id: Uuid,
    /// Its tenant.
    pub tenant_id: Uuid,
    /// Its settings.
    pub data: NewImport,
    /// How it is doing.
    pub status: ImportStatus,
    /// Failed runs since the last success.
    pub consecutive_failures: u32,
    /// The validators of the last fetched body, for a conditional GET.
    pub etag: Option<String>,
    /// Likewise.
    pub last_modified: Option<String>,
    /// When the scheduler runs it next (not while it is paused).
    pub next_run_at: DateTime<Utc>,
    /// Since when the scheduler leaves it alone; `None` while it runs on its interval.
    pub paused_at: Option<DateTime<Utc>>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When its settings last changed.
    pub updated_at: DateTime<Utc>,
    /// Set while the mass-removal guard holds its runs.
    pub hold: Option<super::Hold>,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Fetched, read and stored.
    Ok,
    /// Nothing changed: the server answered 304, or sent the same bytes as the last run that
    /// was read (under the same settings that day), which are not read again.
    NotModified,
    /// Fetching or reading failed; nothing stored changed.
    Failed,
    /// Read, but it would have removed too many of the import's future items at once (the
    /// mass-removal guard): nothing stored changed.
    Held,
}

impl RunOutcome {
    /// The database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::NotModified => "not_modified",
            Self::Failed => "failed",
            Self::Held => "held",
        }
    }

    /// Parses the database name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Ok, Self::NotModified, Self::Failed, Self::Held]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// One run of an import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportRun {
    /// Its id.
    pub id: Uuid,
    /// The import.
    pub import_id: Uuid,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// How it ended.
    pub outcome: RunOutcome,
    /// The HTTP status of the last response, when there was one.
    pub http_status: Option<u16>,
    /// Counts against the previous run.
    pub counts: RunCounts,
    /// Events of the feed that were not imported.
    pub skipped: u32,
    /// Why it failed.
    pub error: Option<String>,
}

/// What a run changed, keyed by (UID, RECURRENCE-ID).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RunCounts {
    /// New items.
    pub added: u32,
    /// Items whose dates, kind or summary changed.
    pub updated: u32,
    /// Items gone from the feed.
    pub removed: u32,
    /// Items as before.
    pub unchanged: u32,
}
