//! Dates as people read them, in English. A stay is nights, not two midnights: every page,
//! e-mail and checklist that shows a whole-day range says it with [`nights`].

use chrono::{DateTime, Datelike as _, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;

/// Whole nights from `first` to `checkout` (exclusive, the day the guest leaves), seen on
/// `today`: `the night of Fri 27 Nov`, `3 nights, 27–30 Nov`, `2 nights, 30 Nov–2 Dec`. The year
/// shows when it is not `today`'s, or when the range crosses into another:
/// `3 nights, 30 Dec 2026–2 Jan 2027`.
pub fn nights(first: NaiveDate, checkout: NaiveDate, today: NaiveDate) -> String {
    let count = (checkout - first).num_days();
    let other_year = first.year() != today.year();
    if count <= 1 {
        let year = if other_year { first.format(" %Y").to_string() } else { String::new() };
        return format!("the night of {}{year}", first.format("%a %-d %b"));
    }
    let range = if first.year() != checkout.year() {
        format!("{}–{}", first.format("%-d %b %Y"), checkout.format("%-d %b %Y"))
    } else {
        let year = if other_year { checkout.format(" %Y").to_string() } else { String::new() };
        if first.month() == checkout.month() {
            format!("{}–{}{year}", first.day(), checkout.format("%-d %b"))
        } else {
            format!("{}–{}{year}", first.format("%-d %b"), checkout.format("%-d %b"))
        }
    };
    format!("{count} nights, {range}")
}

/// The nights a span of instants covers when it starts and ends at midnight in `zone` (how a
/// whole-day booking, block or overlap is stored): its first night and its check-out day.
/// `None` for a span that starts or ends within a day.
pub fn whole_days(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    zone: Tz,
) -> Option<(NaiveDate, NaiveDate)> {
    let (start, end) = (start.with_timezone(&zone), end.with_timezone(&zone));
    let midnight = |t: NaiveTime| t == NaiveTime::MIN;
    (midnight(start.time()) && midnight(end.time()) && start < end)
        .then(|| (start.date_naive(), end.date_naive()))
}

/// A span for a person, in `zone`: [`nights`] when it is whole days there, otherwise
/// `27 Nov 2026, 15:00 to 28 Nov 2026, 11:00`.
pub fn span(start: DateTime<Utc>, end: DateTime<Utc>, zone: Tz, today: NaiveDate) -> String {
    match whole_days(start, end, zone) {
        Some((first, checkout)) => nights(first, checkout, today),
        None => {
            let at = |t: DateTime<Utc>| t.with_timezone(&zone).format("%-d %b %Y, %H:%M");
            format!("{} to {}", at(start), at(end))
        }
    }
}

/// The owner's label and name: `("Resource", "Loft")` or `("Staff member", "Ana")`.
pub fn owner_fact(owner: crate::domain::Owner, name: &str) -> (String, String) {
    let label = match owner {
        crate::domain::Owner::Resource(_) => "Resource",
        crate::domain::Owner::Staff(_) => "Staff member",
    };
    (label.to_owned(), name.to_owned())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    const TODAY: (i32, u32, u32) = (2026, 11, 23);

    fn today() -> NaiveDate {
        d(TODAY.0, TODAY.1, TODAY.2)
    }

    #[test]
    fn one_night_is_the_night_of_its_day() {
        assert_eq!(nights(d(2026, 11, 27), d(2026, 11, 28), today()), "the night of Fri 27 Nov");
    }

    #[test]
    fn several_nights_are_counted_with_their_first_day_and_check_out() {
        assert_eq!(nights(d(2026, 11, 27), d(2026, 11, 30), today()), "3 nights, 27–30 Nov");
        assert_eq!(nights(d(2026, 11, 29), d(2026, 12, 2), today()), "3 nights, 29 Nov–2 Dec");
    }

    #[test]
    fn the_year_shows_when_it_is_not_this_one_or_the_range_crosses_into_the_next() {
        assert_eq!(nights(d(2027, 3, 5), d(2027, 3, 6), today()), "the night of Fri 5 Mar 2027");
        assert_eq!(nights(d(2027, 3, 5), d(2027, 3, 8), today()), "3 nights, 5–8 Mar 2027");
        assert_eq!(nights(d(2027, 3, 30), d(2027, 4, 2), today()), "3 nights, 30 Mar–2 Apr 2027");
        assert_eq!(
            nights(d(2026, 12, 30), d(2027, 1, 2), today()),
            "3 nights, 30 Dec 2026–2 Jan 2027"
        );
        // New Year's Eve is one night of this year, whatever day the guest leaves.
        assert_eq!(nights(d(2026, 12, 31), d(2027, 1, 1), today()), "the night of Thu 31 Dec");
    }

    #[test]
    fn midnights_in_the_zone_are_whole_days_and_other_times_are_instants() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let start = Utc.with_ymd_and_hms(2026, 11, 26, 23, 0, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2026, 11, 27, 23, 0, 0).unwrap();
        assert_eq!(span(start, end, berlin, today()), "the night of Fri 27 Nov");
        assert_eq!(whole_days(start, end, Tz::UTC), None, "not midnight in UTC");
        assert_eq!(span(start, end, Tz::UTC, today()), "26 Nov 2026, 23:00 to 27 Nov 2026, 23:00");
        assert_eq!(whole_days(start, start, berlin), None, "an empty span is no night");
    }
}
