//! An Airbnb-style calendar export, for the first run's demo: a platform's feed that Kalends
//! imports without any account. Its dates move with the calendar (a reservation from 4 to 7
//! days from today, the host's block from 20 to 23 days), so the demo stays alive.

use axum::Router;
use axum::extract::Path;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::{Duration, NaiveDate, Utc};

use crate::Sandbox;

pub(crate) fn router() -> Router<Sandbox> {
    Router::new().route("/ota/airbnb/{listing}", get(export))
}

async fn export(Path(listing): Path<String>) -> impl IntoResponse {
    let listing: String =
        listing.trim_end_matches(".ics").chars().filter(char::is_ascii_alphanumeric).collect();
    let today = Utc::now().date_naive();
    ([(header::CONTENT_TYPE, "text/calendar; charset=utf-8")], calendar(&listing, today))
}

/// The export as Airbnb writes it (CRLF, all-day events, "Reserved" and "Not available").
fn calendar(listing: &str, today: NaiveDate) -> String {
    let day = |n: i64| (today + Duration::days(n)).format("%Y%m%d").to_string();
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    format!(
        "BEGIN:VCALENDAR\r\nPRODID:-//Airbnb Inc//Hosting Calendar 1.0//EN\r\nCALSCALE:GREGORIAN\r\nVERSION:2.0\r\n\
         BEGIN:VEVENT\r\nDTEND;VALUE=DATE:{}\r\nDTSTART;VALUE=DATE:{}\r\nUID:demo-res-{listing}@airbnb.com\r\n\
         DTSTAMP:{stamp}\r\nSUMMARY:Reserved\r\nDESCRIPTION:Reservation URL: https://www.airbnb.com/hosting/reservations/\r\n details/DEMO\\nPhone Number (Last 4 Digits): 0000\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nDTEND;VALUE=DATE:{}\r\nDTSTART;VALUE=DATE:{}\r\nUID:demo-blk-{listing}@airbnb.com\r\n\
         DTSTAMP:{stamp}\r\nSUMMARY:Airbnb (Not available)\r\nEND:VEVENT\r\n\
         END:VCALENDAR\r\n",
        day(7),
        day(4),
        day(23),
        day(20)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_export_holds_a_reservation_next_week_and_a_block_later() {
        let today = NaiveDate::from_ymd_opt(2030, 3, 1).unwrap();
        let text = calendar("garden", today);
        assert!(text.contains("DTSTART;VALUE=DATE:20300305\r\n"));
        assert!(text.contains("DTEND;VALUE=DATE:20300308\r\n"));
        assert!(text.contains("SUMMARY:Airbnb (Not available)"));
        assert!(text.lines().all(|l| l.len() <= 75), "lines are folded within 75 octets");
    }
}
