//! A listing's fields (`/api/v1/resources/{id}/listings` and the console's listing form).

use kalends_core::checklists::{ListingMode, ListingPlatform};
use kalends_store::NewListing;

use super::FieldError;
use super::fields::Checker;

/// A listing as submitted: all fields for a new one, any for a change.
#[derive(Clone, Copy, Debug, Default)]
pub struct ListingFields<'a> {
    /// The platform (`booking_com`, `makemytrip`, ...).
    pub platform: Option<&'a str>,
    /// `manual` or `ical`.
    pub mode: Option<&'a str>,
    /// The platform's own room name or id.
    pub room: Option<&'a str>,
    /// Notes.
    pub notes: Option<&'a str>,
}

/// The listing's new content over `current` (none for a new one: platform and mode are then
/// required), or every field's problem at once.
pub fn listing(
    fields: ListingFields<'_>,
    current: Option<&NewListing>,
) -> Result<NewListing, Vec<FieldError>> {
    let mut c = Checker::default();
    let platform = platform(&mut c, fields.platform, current);
    let mode = mode(&mut c, fields.mode, current);
    let room = match fields.room {
        Some(r) => c.optional_text("room", Some(r), 200),
        None => current.and_then(|cur| cur.room.clone()),
    };
    let notes = match fields.notes {
        Some(n) => c.optional_text("notes", Some(n), 2_000),
        None => current.and_then(|cur| cur.notes.clone()),
    };
    c.finish(|| NewListing {
        platform: platform.expect("checked"),
        mode: mode.expect("checked"),
        room,
        notes,
    })
}

fn platform(
    c: &mut Checker,
    given: Option<&str>,
    current: Option<&NewListing>,
) -> Option<ListingPlatform> {
    match (given, current) {
        (Some(p), _) => ListingPlatform::parse(p).or_else(|| {
            c.fail("platform", platform_message());
            None
        }),
        (None, Some(cur)) => Some(cur.platform),
        (None, None) => {
            c.fail("platform", "is required");
            None
        }
    }
}

fn mode(c: &mut Checker, given: Option<&str>, current: Option<&NewListing>) -> Option<ListingMode> {
    match (given, current) {
        (Some(m), _) => ListingMode::parse(m).or_else(|| {
            c.fail("mode", "must be manual or ical");
            None
        }),
        (None, Some(cur)) => Some(cur.mode),
        (None, None) => {
            c.fail("mode", "is required");
            None
        }
    }
}

/// What a platform that is none of the listing platforms is told.
pub fn platform_message() -> String {
    let names: Vec<&str> = ListingPlatform::ALL.iter().map(|p| p.as_str()).collect();
    format!("must be one of {}", names.join(", "))
}
