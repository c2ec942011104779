//! The tolerant iCalendar reader (interface; implementation in progress).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Span;
use crate::domain::Platform;

/// What to read and how.
#[derive(Clone, Debug)]
pub struct ParseOptions {
    /// Occurrences overlapping `[from, to)` are returned.
    pub from: DateTime<Utc>,
    /// End of the window (exclusive).
    pub to: DateTime<Utc>,
    /// The zone for floating times when the file names none (`X-WR-TIMEZONE`).
    pub floating_zone: chrono_tz::Tz,
    /// The platform profile.
    pub platform: Platform,
    /// At most this many VEVENTs are read; the rest are skipped.
    pub max_events: usize,
}

/// What a feed holds.
#[derive(Clone, Debug, Default)]
pub struct ParsedFeed {
    /// VEVENT components found.
    pub events: usize,
    /// Events not imported, and why.
    pub skipped: Vec<Skipped>,
    /// Busy occurrences overlapping the window, sorted by start.
    pub busy: Vec<BusyItem>,
}

/// An event that was not imported.
#[derive(Clone, Debug, Serialize)]
pub struct Skipped {
    /// Its UID, when it had one.
    pub uid: Option<String>,
    /// Why it was skipped.
    pub reason: String,
}

/// One busy occurrence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusyItem {
    /// The event's UID (synthesised from its content when the file has none).
    pub uid: String,
    /// For an occurrence of a recurring event: its original start.
    pub recurrence_id: Option<String>,
    /// When it is busy.
    pub span: Span,
    /// The event's SUMMARY.
    pub summary: Option<String>,
    /// What the platform means by it.
    pub kind: ItemKind,
}

/// What an imported busy item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// A guest's reservation on the platform.
    Reservation,
    /// Dates closed by the host or the platform.
    Block,
    /// Any other busy event.
    Event,
}

/// Reads a feed. Never fails: what cannot be read is counted in `skipped`.
pub fn parse(_bytes: &[u8], _options: &ParseOptions) -> ParsedFeed {
    unimplemented!("the reader lands with issue 3")
}
