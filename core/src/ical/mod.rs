//! Reading and writing iCalendar (RFC 5545): the tolerant reader behind feed imports and
//! `kalends ics check`, and the writer behind exported feeds and customer invites.

pub mod read;
pub mod write;

#[cfg(test)]
mod properties;

use chrono::{DateTime, NaiveDate, Utc};

pub use read::{
    BusyItem, DEFAULT_MAX_WORK, ItemKind, ParseOptions, ParsedFeed, Skipped, TooMuchWork, parse,
    read,
};

/// When an event takes place: whole days, or two instants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Span {
    /// Whole days from `start` to `end`, exclusive (`end` is the check-out day).
    AllDay {
        /// First day.
        start: NaiveDate,
        /// The day after the last.
        end: NaiveDate,
    },
    /// From `start` to `end` (exclusive).
    Timed {
        /// Start instant.
        start: DateTime<Utc>,
        /// End instant, never before `start`.
        end: DateTime<Utc>,
    },
}
