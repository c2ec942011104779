//! Event times: `{"date"}` or `{"dateTime","timeZone"}` as instants, and Google's timestamp form.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use super::ApiError;

/// `2025-03-01T10:00:00.000Z`, the form Google writes `created` and `updated` in.
pub(super) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An RFC 3339 value with its offset (query parameters such as `timeMin`).
pub(super) fn parse_instant(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value).ok().map(|at| at.with_timezone(&Utc))
}

/// The instant an `EventDateTime` stands for; an all-day `date` starts at midnight UTC (every
/// emulated calendar is in UTC).
pub(super) fn instant(value: &Value) -> Option<DateTime<Utc>> {
    if let Some(text) = value.get("dateTime").and_then(Value::as_str) {
        return parse_instant(text).or_else(|| utc_without_offset(text, value));
    }
    let date = value.get("date").and_then(Value::as_str)?;
    let day = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc())
}

/// `2025-03-01T10:00:00` is accepted when the zone named beside it is UTC.
fn utc_without_offset(text: &str, value: &Value) -> Option<DateTime<Utc>> {
    let zone = value.get("timeZone").and_then(Value::as_str)?;
    if !matches!(zone, "UTC" | "Etc/UTC" | "GMT") {
        return None;
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|at| at.and_utc())
}

/// The event's `[start, end)`, if both ends are readable.
pub(super) fn span(event: &Map<String, Value>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    Some((instant(event.get("start")?)?, instant(event.get("end")?)?))
}

/// Checks a written event's times as Google does: both present, readable, end not before start.
pub(super) fn validate(event: &Map<String, Value>) -> Result<(), ApiError> {
    let start = read_end(event, "start")?;
    let end = read_end(event, "end")?;
    if end < start {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "timeRangeEmpty",
            "The specified time range is empty.",
        ));
    }
    Ok(())
}

fn read_end(event: &Map<String, Value>, name: &str) -> Result<DateTime<Utc>, ApiError> {
    let value = event.get(name).filter(|value| !value.is_null()).ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "required",
            format!("Missing {name} time."),
        )
    })?;
    instant(value).ok_or_else(|| ApiError::invalid(format!("Invalid {name} time.")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_day_dates_and_offset_date_times_become_instants() {
        let date = serde_json::json!({"date": "2025-03-01"});
        assert_eq!(timestamp(instant(&date).unwrap()), "2025-03-01T00:00:00.000Z");
        let timed = serde_json::json!({"dateTime": "2025-03-01T10:00:00+01:00"});
        assert_eq!(timestamp(instant(&timed).unwrap()), "2025-03-01T09:00:00.000Z");
        let utc = serde_json::json!({"dateTime": "2025-03-01T10:00:00", "timeZone": "UTC"});
        assert_eq!(timestamp(instant(&utc).unwrap()), "2025-03-01T10:00:00.000Z");
        let zoned =
            serde_json::json!({"dateTime": "2025-03-01T10:00:00", "timeZone": "Europe/Zurich"});
        assert_eq!(instant(&zoned), None);
    }
}
