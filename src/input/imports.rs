//! An import's fields: the feed to register, and the changes to one (`/api/v1/imports` and the
//! console's add and edit forms).

use kalends_core::domain::{
    EndDateIs, ImportAs, ImportSettings, NewImport, OnMissing, Owner, Platform,
};
use kalends_providers::feed::normalize_url;
use kalends_store::{ImportPatch, SettingsPatch};
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
    /// How its feed is read, each setting only when given.
    pub settings: SettingsFields<'a>,
}

/// An import's reading settings as submitted: each only when given.
#[derive(Clone, Copy, Debug, Default)]
pub struct SettingsFields<'a> {
    /// `reservation` or `block` (`Some(None)`: the platform's default).
    pub import_as: Option<Option<&'a str>>,
    /// `checkout` or `last_night`.
    pub end_date_is: Option<&'a str>,
    /// -2 to 2.
    pub date_shift_days: Option<i64>,
    /// `remove` or `keep_and_alert`.
    pub on_missing: Option<&'a str>,
    /// 0 to 1.
    pub max_removed_share: Option<f64>,
}

/// The settings as the store takes them, each field's problem recorded in `c`.
fn check_settings(c: &mut Checker, fields: SettingsFields<'_>) -> SettingsPatch {
    fn named<T: Copy>(
        c: &mut Checker,
        field: &str,
        value: Option<&str>,
        parse: fn(&str) -> Option<T>,
        names: &str,
    ) -> Option<T> {
        let value = value?;
        let parsed = parse(value);
        if parsed.is_none() {
            c.fail(field, format!("must be {names}"));
        }
        parsed
    }
    let import_as = fields.import_as.map(|value| {
        named(c, "import_as", value, ImportAs::parse, "reservation or block (or null)")
    });
    let end_date_is =
        named(c, "end_date_is", fields.end_date_is, EndDateIs::parse, "checkout or last_night");
    let on_missing =
        named(c, "on_missing", fields.on_missing, OnMissing::parse, "remove or keep_and_alert");
    let date_shift_days = fields.date_shift_days.and_then(|days| {
        let days = i8::try_from(days).ok().filter(|d| ImportSettings::SHIFT_DAYS.contains(d));
        if days.is_none() {
            c.fail("date_shift_days", "must be a whole number of days from -2 to 2");
        }
        days
    });
    let max_removed_share = fields.max_removed_share.filter(|share| {
        let fits = (0.0..=1.0).contains(share);
        if !fits {
            c.fail("max_removed_share", "must be a share from 0 to 1 (0.5 is half)");
        }
        fits
    });
    SettingsPatch { import_as, end_date_is, date_shift_days, on_missing, max_removed_share }
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
    let mut settings = ImportSettings::default();
    check_settings(&mut c, fields.settings).apply(&mut settings);
    c.finish(|| NewImport {
        owner: owner.expect("checked"),
        platform: platform.expect("checked"),
        url: url.expect("checked"),
        name,
        interval_minutes,
        settings,
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
    /// New reading settings.
    pub settings: SettingsFields<'a>,
}

/// The changes as the store takes them, or every field that is wrong.
pub fn import_patch(changes: ImportChanges<'_>) -> Result<ImportPatch, Vec<FieldError>> {
    let mut c = Checker::default();
    let platform = changes.platform.and_then(|p| check_platform(&mut c, p));
    let url = changes.url.and_then(|u| check_url(&mut c, u));
    let interval_minutes = changes.interval_minutes.map(|m| check_interval(&mut c, m));
    let name = changes.name.map(|n| c.optional_text("name", n, 200));
    let settings = check_settings(&mut c, changes.settings);
    c.finish(|| ImportPatch {
        url,
        platform,
        name,
        interval_minutes,
        paused: changes.paused,
        settings,
    })
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
