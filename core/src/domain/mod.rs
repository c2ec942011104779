//! The domain: values that cannot be built invalid, and the records the store keeps.
//!
//! Request bodies become these values through fallible constructors, so a `BookingSpan` always has
//! its start before its end and a `TimeZone` always names a real IANA zone.

mod booking;
mod connections;
mod feeds;
mod import_settings;
mod people;
mod settings;
mod values;

pub use booking::{
    Booking, BookingSpan, BookingStatus, Customer, Instants, MAX_BOOKING_DAYS, NewBooking,
    SpanError, local_midnight, span_instants,
};
pub use connections::{
    Connection, ConnectionCalendar, ConnectionStatus, ConnectionTokens, Provider,
};
pub use feeds::{
    Feed, FeedProfile, FeedScope, Import, ImportRun, ImportStatus, NewFeed, NewImport, Owner,
    Platform, RunCounts, RunOutcome,
};
pub use import_settings::{EndDateIs, Hold, ImportAs, ImportSettings, OnMissing};
/// When something takes place: the iCalendar library's time type, the one that crosses every
/// border (what a feed reader found, what a provider holds, what Kalends writes).
pub use kalends_ical::Span;
pub use people::{Block, NewBlock, NewResource, NewStaff, Resource, Staff, Tenant};
pub use settings::{ALERT_KINDS, EventPrivacy, ExternalEditPolicy, StatusColors, TenantSettings};
pub use values::{Email, TimeZone};
