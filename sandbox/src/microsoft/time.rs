//! Graph's `dateTimeTimeZone`: parsing what clients send and rendering what Graph answers.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone as _, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

/// A zone Graph accepts: `UTC` or an IANA name (Windows names are not emulated).
#[derive(Clone, Debug)]
pub(super) struct Zone {
    /// As the client spelled it (echoed back in `timeZone`).
    pub(super) name: String,
    tz: Tz,
}

impl Zone {
    /// UTC.
    pub(super) fn utc() -> Self {
        Self { name: "UTC".into(), tz: Tz::UTC }
    }

    /// Parses a `timeZone` value.
    pub(super) fn parse(name: &str) -> Option<Self> {
        let tz = match name {
            "UTC" | "utc" | "Etc/UTC" | "Coordinated Universal Time" => Tz::UTC,
            other => other.parse().ok()?,
        };
        Some(Self { name: name.to_owned(), tz })
    }

    /// The zone a response is rendered in: `Prefer: outlook.timezone`, else UTC.
    pub(super) fn of_response(prefer: Option<&str>) -> Self {
        prefer.and_then(Self::parse).unwrap_or_else(Self::utc)
    }

    /// The instant of a wall-clock time in this zone (the earlier one when ambiguous; a time in
    /// a DST gap moves forward an hour, as Exchange does).
    pub(super) fn to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        let tz = self.tz;
        tz.from_local_datetime(&local)
            .earliest()
            .or_else(|| tz.from_local_datetime(&(local + chrono::Duration::hours(1))).earliest())
            .map_or_else(|| local.and_utc(), |at| at.with_timezone(&Utc))
    }

    /// The wall-clock time of an instant in this zone.
    pub(super) fn local(&self, at: DateTime<Utc>) -> NaiveDateTime {
        at.with_timezone(&self.tz).naive_local()
    }
}

/// Parses a `dateTime` without offset (`2026-03-01T10:00:00`, fractions allowed); a trailing `Z`
/// or offset is converted to UTC wall-clock time, which Graph also tolerates.
pub(super) fn parse_local(text: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
        .ok()
        .or_else(|| DateTime::parse_from_rfc3339(text).ok().map(|at| at.naive_utc()))
}

/// Parses a query-string instant (`startDateTime`): ISO 8601 with an offset, or UTC without.
pub(super) fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .ok()
        .or_else(|| parse_local(text).map(|local| local.and_utc()))
}

/// `2026-03-01T10:00:00.0000000`: Graph's seven fractional digits.
pub(super) fn format_local(local: NaiveDateTime) -> String {
    format!(
        "{}.{:07}",
        local.format("%Y-%m-%dT%H:%M:%S"),
        local.and_utc().timestamp_subsec_nanos() / 100
    )
}

/// `{"dateTime","timeZone"}` of an instant shown in `zone`.
pub(super) fn render_instant(at: DateTime<Utc>, zone: &Zone) -> Value {
    json!({"dateTime": format_local(zone.local(at)), "timeZone": zone.name})
}

/// `{"dateTime","timeZone"}` of an all-day boundary: midnight, floating, named in `zone`.
pub(super) fn render_day(day: NaiveDate, zone: &Zone) -> Value {
    json!({"dateTime": format_local(day.and_time(NaiveTime::MIN)), "timeZone": zone.name})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_times_have_seven_fractional_digits_and_convert_through_iana_zones() {
        let local = parse_local("2026-03-01T10:00:00").unwrap();
        assert_eq!(format_local(local), "2026-03-01T10:00:00.0000000");
        let zurich = Zone::parse("Europe/Zurich").unwrap();
        assert_eq!(zurich.to_utc(local), parse_instant("2026-03-01T09:00:00Z").unwrap());
        assert_eq!(
            parse_local("2026-03-01T10:00:00.1234567").map(format_local),
            Some("2026-03-01T10:00:00.1234567".into())
        );
        assert!(Zone::parse("Mars/Olympus").is_none());
    }
}
