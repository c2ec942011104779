//! "Add to calendar" links for people whose mail client ignores the invitation: Google
//! Calendar's event template and Outlook.com's compose deep link.

use chrono::{DateTime, NaiveDate, Utc};
use kalends_core::domain::{BookingSpan, NewBooking};

use super::non_blank;

/// What the links pre-fill.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EventLink<'a> {
    pub title: &'a str,
    pub span: &'a BookingSpan,
    pub details: Option<&'a str>,
    pub location: Option<&'a str>,
}

impl<'a> EventLink<'a> {
    /// The booking's title, span, description and location.
    pub(crate) fn of(booking: &'a NewBooking) -> Self {
        EventLink {
            title: &booking.title,
            span: &booking.span,
            details: non_blank(booking.description.as_deref()),
            location: non_blank(booking.location.as_deref()),
        }
    }
}

/// The `.ics` link when there is one, then Google Calendar and Outlook.com, labelled.
pub(crate) fn all(ics: Option<&str>, event: &EventLink<'_>) -> Vec<(&'static str, String)> {
    let mut links: Vec<_> =
        ics.map(|url| ("Apple / Outlook (.ics)", url.to_owned())).into_iter().collect();
    links.push(("Google Calendar", google(event)));
    links.push(("Outlook.com", outlook(event)));
    links
}

/// `https://calendar.google.com/calendar/render?action=TEMPLATE&text=..&dates=..&details=..&location=..`;
/// `dates` is `YYYYMMDDTHHMMSSZ/YYYYMMDDTHHMMSSZ`, or `YYYYMMDD/YYYYMMDD` (exclusive end) for
/// whole days.
pub(crate) fn google(event: &EventLink<'_>) -> String {
    let dates = match *event.span {
        BookingSpan::Timed { start, end, .. } => {
            format!("{}/{}", start.format("%Y%m%dT%H%M%SZ"), end.format("%Y%m%dT%H%M%SZ"))
        }
        BookingSpan::AllDay { start, end } => {
            format!("{}/{}", start.format("%Y%m%d"), end.format("%Y%m%d"))
        }
    };
    let mut params = vec![("action", "TEMPLATE"), ("text", event.title), ("dates", &dates)];
    params.extend(event.details.map(|d| ("details", d)));
    params.extend(event.location.map(|l| ("location", l)));
    with_query("https://calendar.google.com/calendar/render", &params)
}

/// `https://outlook.live.com/calendar/0/deeplink/compose?path=/calendar/action/compose&rru=addevent&subject=..&startdt=..&enddt=..&body=..&location=..`;
/// times in UTC (`2025-03-14T13:00:00Z`), or `allday=true` with dates (exclusive end).
pub(crate) fn outlook(event: &EventLink<'_>) -> String {
    let (start, end, all_day) = match *event.span {
        BookingSpan::Timed { start, end, .. } => (instant(start), instant(end), false),
        BookingSpan::AllDay { start, end } => (day(start), day(end), true),
    };
    let mut params = vec![
        ("path", "/calendar/action/compose"),
        ("rru", "addevent"),
        ("subject", event.title),
        ("startdt", &start),
        ("enddt", &end),
    ];
    if all_day {
        params.push(("allday", "true"));
    }
    params.extend(event.details.map(|d| ("body", d)));
    params.extend(event.location.map(|l| ("location", l)));
    with_query("https://outlook.live.com/calendar/0/deeplink/compose", &params)
}

fn instant(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn day(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// `base?k=v&..`, form-encoded.
fn with_query(base: &str, params: &[(&str, &str)]) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    format!("{base}?{query}")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use kalends_core::domain::TimeZone;
    use url::Url;

    use super::*;

    fn query(link: &str) -> Vec<(String, String)> {
        Url::parse(link)
            .unwrap()
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn timed_links_carry_utc_times_and_encoded_text() {
        let span = BookingSpan::timed(
            Utc.with_ymd_and_hms(2025, 3, 14, 13, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2025, 3, 14, 14, 30, 0).unwrap(),
            TimeZone::UTC,
        )
        .unwrap();
        let event = EventLink {
            title: "Cut & colour #1",
            span: &span,
            details: Some("Line one\nline two"),
            location: Some("12 Beach Rd"),
        };
        let google = google(&event);
        assert!(google.starts_with(
            "https://calendar.google.com/calendar/render?action=TEMPLATE&text=Cut+%26+colour+%231&"
        ));
        assert_eq!(query(&google)[2], ("dates".into(), "20250314T130000Z/20250314T143000Z".into()));
        assert_eq!(query(&google)[3], ("details".into(), "Line one\nline two".into()));
        let outlook = outlook(&event);
        assert!(outlook.starts_with("https://outlook.live.com/calendar/0/deeplink/compose?path=%2Fcalendar%2Faction%2Fcompose&rru=addevent&"));
        let pairs = query(&outlook);
        assert!(pairs.contains(&("startdt".into(), "2025-03-14T13:00:00Z".into())));
        assert!(pairs.contains(&("enddt".into(), "2025-03-14T14:30:00Z".into())));
        assert!(pairs.contains(&("location".into(), "12 Beach Rd".into())));
        assert!(!pairs.iter().any(|(k, _)| k == "allday"));
    }

    #[test]
    fn all_day_links_use_dates_with_an_exclusive_end() {
        let day = |d| NaiveDate::from_ymd_opt(2025, 3, d).unwrap();
        let span = BookingSpan::all_day(day(14), day(17)).unwrap();
        let event = EventLink { title: "Stay", span: &span, details: None, location: None };
        assert!(query(&google(&event)).contains(&("dates".into(), "20250314/20250317".into())));
        let pairs = query(&outlook(&event));
        assert!(pairs.contains(&("allday".into(), "true".into())));
        assert!(pairs.contains(&("startdt".into(), "2025-03-14".into())));
        assert!(pairs.contains(&("enddt".into(), "2025-03-17".into())));
        assert!(!pairs.iter().any(|(k, _)| k == "body" || k == "location"));
    }
}
