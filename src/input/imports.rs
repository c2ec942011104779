//! An import's fields: the feed to register, and the changes to one (`/api/v1/imports` and the
//! console's add and edit forms).

use kalends_core::domain::{NewImport, Owner, Platform};
use kalends_core::store::ImportPatch;
use kalends_providers::feed::normalize_url;
use uuid::Uuid;

use super::FieldError;
use super::fields::Checker;

const PLATFORMS: &str = "must be airbnb, vrbo, booking_com, google, outlook or other";

/// A feed to import as submitted: exactly one of `resource_id` and `staff_id`.
#[derive(Clone, Copy, Debug)]
pub struct ImportFields<'a> {
    /// The resource whose dates the feed blocks.
    pub resource_id: Option<Uuid>,
    /// The staff member whose time the feed blocks.
    pub staff_id: Option<Uuid>,
    /// `airbnb`, `vrbo`, `booking_com`, `google`, `outlook` or `other`.
    pub platform: &'a str,
    /// The feed's address.
    pub url: &'a str,
    /// A label.
    pub name: Option<&'a str>,
    /// Minutes between runs, when given.
    pub interval_minutes: Option<u32>,
}

/// The import to register, or every field's problem at once. `default_interval`: the minutes
/// when none are given.
pub fn new_import(
    fields: ImportFields<'_>,
    default_interval: u32,
) -> Result<NewImport, Vec<FieldError>> {
    let mut c = Checker::default();
    let owner = Owner::from_columns(fields.resource_id, fields.staff_id);
    if owner.is_none() {
        c.fail("resource_id", "give exactly one of resource_id and staff_id");
    }
    let platform = check_platform(&mut c, fields.platform);
    let url = check_url(&mut c, fields.url);
    let interval_minutes =
        check_interval(&mut c, fields.interval_minutes.unwrap_or(default_interval));
    let name = c.optional_text("name", fields.name, 200);
    c.finish(|| NewImport {
        owner: owner.expect("checked"),
        platform: platform.expect("checked"),
        url: url.expect("checked"),
        name,
        interval_minutes,
    })
}

/// Changes to an import as submitted: each field only when given.
#[derive(Clone, Copy, Debug, Default)]
pub struct ImportChanges<'a> {
    /// New platform.
    pub platform: Option<&'a str>,
    /// New address.
    pub url: Option<&'a str>,
    /// New label (`Some(None)` clears it).
    pub name: Option<Option<&'a str>>,
    /// New interval.
    pub interval_minutes: Option<u32>,
    /// Pause (`true`) or resume (`false`).
    pub paused: Option<bool>,
}

/// The changes as the store takes them, or every field that is wrong.
pub fn import_patch(changes: ImportChanges<'_>) -> Result<ImportPatch, Vec<FieldError>> {
    let mut c = Checker::default();
    let platform = changes.platform.and_then(|p| check_platform(&mut c, p));
    let url = changes.url.and_then(|u| check_url(&mut c, u));
    let interval_minutes = changes.interval_minutes.map(|m| check_interval(&mut c, m));
    let name = changes.name.map(|n| c.optional_text("name", n, 200));
    c.finish(|| ImportPatch { url, platform, name, interval_minutes, paused: changes.paused })
}

fn check_url(c: &mut Checker, url: &str) -> Option<String> {
    match normalize_url(url) {
        Ok(url) => Some(url.to_string()),
        Err(e) => {
            c.fail("url", e.to_string());
            None
        }
    }
}

fn check_platform(c: &mut Checker, platform: &str) -> Option<Platform> {
    let parsed = Platform::parse(platform);
    if parsed.is_none() {
        c.fail("platform", PLATFORMS);
    }
    parsed
}

fn check_interval(c: &mut Checker, minutes: u32) -> u32 {
    if !(5..=1440).contains(&minutes) {
        c.fail("interval_minutes", "must be between 5 and 1440 (24 hours)");
    }
    minutes
}
