//! Reading and writing iCalendar (RFC 5545): the tolerant reader behind feed imports and
//! `kalends ics check`, and the writer behind exported feeds and customer invites.

pub mod read;
pub mod write;

#[cfg(test)]
mod properties;

/// When an event takes place; the domain's one time type, named here for the reader and writer.
pub use crate::domain::Span;
pub use read::{
    BusyItem, DEFAULT_MAX_WORK, ItemKind, ParseOptions, ParsedFeed, ReadFromError, Skipped,
    TooMuchWork, parse, read, read_from,
};
