//! The `api_json` target: JSON request bodies through the domain values they become.
//!
//! The request types of the JSON API (`BookingIn`, `BlockIn`, `ImportIn`, `FeedIn`, ...) live in
//! the `kalends` application crate, and building that crate under AFL instrumentation means
//! instrumenting the whole application (HTTP stack, provider SDKs) for every fuzz build. This
//! target instead drives what those types are checked with, in `kalends-core`: the settings body
//! (`PATCH /api/v1/settings` merges it into [`TenantSettings`] and deserializes that), and the
//! fallible constructors every body's fields go through (`TimeZone`, `Email`, the RFC 3339 and
//! `YYYY-MM-DD` forms of `BookingSpan`, the enum names of platforms, statuses and scopes).

use chrono::{DateTime, NaiveDate, Utc};
use kalends_core::domain::{
    BookingSpan, BookingStatus, Customer, Email, FeedProfile, Platform, TenantSettings, TimeZone,
};
use serde_json::{Map, Value};

/// At most this many string fields of a body are tried as values.
const MAX_FIELDS: usize = 64;

/// Reads `data` as a JSON body and checks what the API relies on.
pub fn check(data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Value::Object(patch) = &body {
        settings_patch(patch);
        booking_form(patch);
    }
    let _ = serde_json::from_value::<Customer>(body.clone());
    let mut strings = Vec::new();
    collect_strings(&body, &mut strings);
    for s in &strings {
        field(s);
    }
    for pair in strings.windows(2) {
        span(pair[0], pair[1], None);
    }
}

/// `PATCH /api/v1/settings`: known keys replace the stored values; what deserializes is stored as
/// JSON and must read back the same.
fn settings_patch(patch: &Map<String, Value>) {
    let Ok(Value::Object(mut merged)) = serde_json::to_value(TenantSettings::default()) else {
        panic!("default settings are an object");
    };
    for (key, value) in patch {
        if merged.contains_key(key) {
            merged.insert(key.clone(), value.clone());
        }
    }
    let Ok(settings) = serde_json::from_value::<TenantSettings>(Value::Object(merged)) else {
        return;
    };
    let stored = serde_json::to_vec(&settings).expect("settings serialize");
    let read: TenantSettings = serde_json::from_slice(&stored).expect("stored settings read back");
    assert_eq!(read, settings, "settings change when stored");
}

/// The time fields of a booking or block body.
fn booking_form(body: &Map<String, Value>) {
    let get = |k: &str| body.get(k).and_then(Value::as_str);
    let zone = get("time_zone").and_then(|z| z.trim().parse::<TimeZone>().ok());
    if let (Some(start), Some(end)) = (get("start"), get("end")) {
        span(start, end, zone);
    }
    if let (Some(start), Some(end)) = (get("start_date"), get("end_date")) {
        span(start, end, zone);
    }
}

/// One string field tried as each kind of value; what is accepted must round-trip.
fn field(s: &str) {
    if let Ok(zone) = s.trim().parse::<TimeZone>() {
        assert_eq!(zone.to_string().parse::<TimeZone>(), Ok(zone));
    }
    if let Ok(email) = s.parse::<Email>() {
        assert_eq!(email.as_str().parse::<Email>().as_ref(), Ok(&email));
        let json = serde_json::to_string(&email).expect("an email serializes");
        assert_eq!(serde_json::from_str::<Email>(&json).ok(), Some(email));
    }
    if let Some(p) = Platform::parse(s) {
        assert_eq!(Platform::parse(p.as_str()), Some(p));
    }
    if let Some(b) = BookingStatus::parse(s) {
        assert_eq!(BookingStatus::parse(b.as_str()), Some(b));
    }
    if let Some(f) = FeedProfile::parse(s) {
        assert_eq!(FeedProfile::parse(f.as_str()), Some(f));
    }
}

/// As the API reads `start`/`end` (RFC 3339 with offset) and `start_date`/`end_date`.
fn instant(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim()).ok().map(|t| t.with_timezone(&Utc))
}

fn date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok().filter(|_| s.trim().len() == 10)
}

/// Two fields as a timed or an all-day span; an accepted span covers a positive stretch of time
/// wherever it is shown.
fn span(start: &str, end: &str, zone: Option<TimeZone>) {
    let zone = zone.unwrap_or(TimeZone::UTC);
    let accepted = match (instant(start), instant(end), date(start), date(end)) {
        (Some(s), Some(e), _, _) => BookingSpan::timed(s, e, zone).ok(),
        (_, _, Some(s), Some(e)) => BookingSpan::all_day(s, e).ok(),
        _ => None,
    };
    let Some(span) = accepted else {
        return;
    };
    for home in [zone, TimeZone::UTC, "Pacific/Kiritimati".parse().unwrap()] {
        let (from, to) = span.utc_range(home);
        assert!(from < to, "{span:?} in {home} covers {from}..{to}");
    }
}

fn collect_strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    if out.len() >= MAX_FIELDS {
        return;
    }
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.iter().for_each(|(k, v)| {
            out.push(k);
            collect_strings(v, out);
        }),
        _ => {}
    }
}
