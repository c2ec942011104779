//! Dates and times as customers read them, in English: `Fri 14 Mar 2025, 15:00–16:30 SAST`.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use kalends_core::domain::{BookingSpan, TimeZone};

/// The zone a booking is shown in: a timed booking's own, else the resource's (`home`).
pub(crate) fn display_zone(span: &BookingSpan, home: TimeZone) -> Tz {
    span.shown_in(home).tz()
}

/// The whole span: `Fri 14 Mar 2025, 15:00–16:30 SAST`, `Fri 14 Mar 2025 (all day)`,
/// `Fri 14 Mar 2025 – Sun 16 Mar 2025 (3 days)`.
pub(crate) fn span(span: &BookingSpan, zone: Tz) -> String {
    match *span {
        BookingSpan::Timed { start, end, .. } => timed(start, end, zone),
        BookingSpan::AllDay { start, end } => all_day(start, end),
    }
}

/// The start, short: `Fri 14 Mar 2025 at 15:00` or `Fri 14 Mar 2025`.
pub(crate) fn start(span: &BookingSpan, zone: Tz) -> String {
    match *span {
        BookingSpan::Timed { start, .. } => {
            start.with_timezone(&zone).format("%a %-d %b %Y at %H:%M").to_string()
        }
        BookingSpan::AllDay { start, .. } => date(start),
    }
}

/// How soon the booking starts, seen at `now` in `zone`: `starts in 1 hour`,
/// `starts in 45 minutes`, `starts today at 15:00`, `starts tomorrow at 15:00`, `starts tomorrow`,
/// `starts on Fri 14 Mar at 15:00`. Minutes are rounded to fives, as reminders run a little late.
pub(crate) fn starts_in(span: &BookingSpan, zone: Tz, now: DateTime<Utc>) -> String {
    let today = now.with_timezone(&zone).date_naive();
    let (day, time) = match *span {
        BookingSpan::Timed { start, .. } => {
            if let Some(soon) = soon(start - now) {
                return soon;
            }
            let local = start.with_timezone(&zone);
            (local.date_naive(), Some(local.format(" at %H:%M").to_string()))
        }
        BookingSpan::AllDay { start, .. } => (start, None),
    };
    let time = time.unwrap_or_default();
    match (day - today).num_days() {
        ..=0 => format!("starts today{time}"),
        1 => format!("starts tomorrow{time}"),
        _ => format!("starts on {}{time}", day.format("%a %-d %b")),
    }
}

/// `starts now`, `starts in 45 minutes` or `starts in 1 hour` when under two hours away.
fn soon(ahead: TimeDelta) -> Option<String> {
    let minutes = (ahead.num_seconds() + 150).div_euclid(300) * 5;
    match minutes {
        ..=0 => Some("starts now".to_owned()),
        60 => Some("starts in 1 hour".to_owned()),
        1..120 => Some(format!("starts in {minutes} minutes")),
        _ => None,
    }
}

fn timed(start: DateTime<Utc>, end: DateTime<Utc>, zone: Tz) -> String {
    let (start, end) = (start.with_timezone(&zone), end.with_timezone(&zone));
    if start.date_naive() == end.date_naive() {
        format!("{}–{}", start.format("%a %-d %b %Y, %H:%M"), end.format("%H:%M %Z"))
    } else {
        format!(
            "{} – {}",
            start.format("%a %-d %b %Y, %H:%M"),
            end.format("%a %-d %b %Y, %H:%M %Z")
        )
    }
}

fn all_day(start: NaiveDate, end: NaiveDate) -> String {
    let days = (end - start).num_days();
    let last = end.pred_opt().unwrap_or(start);
    if days <= 1 {
        format!("{} (all day)", date(start))
    } else {
        format!("{} – {} ({days} days)", date(start), date(last))
    }
}

fn date(day: NaiveDate) -> String {
    day.format("%a %-d %b %Y").to_string()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn at(d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, d, h, mi, 0).unwrap()
    }

    fn haircut() -> BookingSpan {
        BookingSpan::timed(at(14, 13, 0), at(14, 14, 30), "Africa/Johannesburg".parse().unwrap())
            .unwrap()
    }

    #[test]
    fn timed_spans_read_in_the_zone_with_its_abbreviation() {
        let joburg = chrono_tz::Africa::Johannesburg;
        assert_eq!(span(&haircut(), joburg), "Fri 14 Mar 2025, 15:00–16:30 SAST");
        assert_eq!(span(&haircut(), chrono_tz::Europe::Berlin), "Fri 14 Mar 2025, 14:00–15:30 CET");
        assert_eq!(start(&haircut(), joburg), "Fri 14 Mar 2025 at 15:00");
        let overnight = BookingSpan::timed(at(14, 20, 0), at(15, 6, 0), TimeZone::UTC).unwrap();
        assert_eq!(
            span(&overnight, chrono_tz::UTC),
            "Fri 14 Mar 2025, 20:00 – Sat 15 Mar 2025, 06:00 UTC"
        );
    }

    #[test]
    fn all_day_spans_show_the_last_day_not_the_exclusive_end() {
        let day = |d| NaiveDate::from_ymd_opt(2025, 3, d).unwrap();
        let one = BookingSpan::all_day(day(14), day(15)).unwrap();
        assert_eq!(span(&one, chrono_tz::UTC), "Fri 14 Mar 2025 (all day)");
        let three = BookingSpan::all_day(day(14), day(17)).unwrap();
        assert_eq!(span(&three, chrono_tz::UTC), "Fri 14 Mar 2025 – Sun 16 Mar 2025 (3 days)");
        assert_eq!(start(&three, chrono_tz::UTC), "Fri 14 Mar 2025");
    }

    #[test]
    fn reminders_say_how_soon_in_words() {
        let joburg = chrono_tz::Africa::Johannesburg;
        let b = haircut();
        assert_eq!(starts_in(&b, joburg, at(14, 12, 0)), "starts in 1 hour");
        assert_eq!(starts_in(&b, joburg, at(14, 12, 1)), "starts in 1 hour");
        assert_eq!(starts_in(&b, joburg, at(14, 12, 15)), "starts in 45 minutes");
        assert_eq!(starts_in(&b, joburg, at(14, 11, 30)), "starts in 90 minutes");
        assert_eq!(starts_in(&b, joburg, at(14, 13, 1)), "starts now");
        assert_eq!(starts_in(&b, joburg, at(14, 6, 0)), "starts today at 15:00");
        assert_eq!(starts_in(&b, joburg, at(13, 13, 0)), "starts tomorrow at 15:00");
        // 23:30 in Johannesburg is already the 14th there.
        assert_eq!(starts_in(&b, joburg, at(13, 22, 30)), "starts today at 15:00");
        assert_eq!(starts_in(&b, joburg, at(11, 9, 0)), "starts on Fri 14 Mar at 15:00");
        let day = NaiveDate::from_ymd_opt(2025, 3, 14).unwrap();
        let stay = BookingSpan::all_day(day, day.succ_opt().unwrap()).unwrap();
        assert_eq!(starts_in(&stay, joburg, at(13, 8, 0)), "starts tomorrow");
    }
}
