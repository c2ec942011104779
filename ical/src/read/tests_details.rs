//! Tests of the reservation details each booking platform's events carry: the shapes each
//! platform writes, what is never kept, the real Airbnb export and the hand-written Booking.com
//! and VRBO feeds.

use chrono::{NaiveDate, TimeZone, Utc};

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures");

fn options(producer: Producer) -> ParseOptions {
    let now = Utc.with_ymd_and_hms(2022, 1, 1, 0, 0, 0).unwrap();
    let mut options = ParseOptions::new(producer, chrono_tz::UTC, now);
    options.to = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    options
}

/// The items of a feed file (a path under `tests/fixtures`) as `producer` wrote it.
fn read_fixture(producer: Producer, path: &str) -> Vec<BusyItem> {
    let bytes = std::fs::read(format!("{FIXTURES}/{path}")).unwrap();
    let parsed = parse(&bytes, &options(producer));
    assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
    parsed.busy
}

/// The details of one all-day event with this SUMMARY and DESCRIPTION (as written, escapes and
/// all), as `producer` wrote it.
fn details_of(producer: Producer, summary: &str, description: Option<&str>) -> ItemDetails {
    let description = description.map(|d| format!("DESCRIPTION:{d}\r\n")).unwrap_or_default();
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:one\r\n\
         DTSTART;VALUE=DATE:20260301\r\nDTEND;VALUE=DATE:20260304\r\n\
         SUMMARY:{summary}\r\n{description}END:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    let mut parsed = parse(ics.as_bytes(), &options(producer));
    assert_eq!(parsed.busy.len(), 1, "{:?}", parsed.skipped);
    parsed.busy.remove(0).details
}

fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

/// Details expected, field by field.
#[derive(Debug, Default)]
struct Given {
    reservation_code: Option<String>,
    reservation_url: Option<String>,
    phone_last_digits: Option<String>,
    guests: Option<u32>,
}

impl From<Given> for ItemDetails {
    fn from(g: Given) -> Self {
        ItemDetails::new(
            g.reservation_code.as_deref(),
            g.reservation_url.as_deref(),
            g.phone_last_digits.as_deref(),
            g.guests,
        )
    }
}

impl PartialEq<Given> for ItemDetails {
    fn eq(&self, given: &Given) -> bool {
        *self
            == ItemDetails::new(
                given.reservation_code.as_deref(),
                given.reservation_url.as_deref(),
                given.phone_last_digits.as_deref(),
                given.guests,
            )
    }
}

fn day(m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, m, d).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Airbnb.

#[test]
fn an_airbnb_description_gives_the_code_url_and_phone_digits() {
    let d = details_of(
        Producer::Airbnb,
        "Reserved",
        Some(
            "Reservation URL: https://www.airbnb.com/hosting/reservations/details/HMABCDEF12\\n\
             Phone Number (Last 4 Digits): 1234",
        ),
    );
    assert_eq!(
        d,
        Given {
            reservation_code: some("HMABCDEF12"),
            reservation_url: some("https://www.airbnb.com/hosting/reservations/details/HMABCDEF12"),
            phone_last_digits: some("1234"),
            guests: None,
        }
    );
}

#[test]
fn a_reservation_link_folded_in_the_middle_is_read_whole() {
    let ics = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x@airbnb.com\r\n\
               DTSTART;VALUE=DATE:20260301\r\nDTEND;VALUE=DATE:20260303\r\n\
               DESCRIPTION:Reservation URL: https://www.airbnb.com/hosting/reservations/\r\n \
               details/HMJFH948WM\\nPhone Number (Last 4 Digits): 0675\r\n\
               SUMMARY:Reserved\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let parsed = parse(ics.as_bytes(), &options(Producer::Airbnb));
    let d = &parsed.busy[0].details;
    assert_eq!(d.reservation_code(), Some("HMJFH948WM"));
    assert_eq!(
        d.reservation_url(),
        Some("https://www.airbnb.com/hosting/reservations/details/HMJFH948WM")
    );
    assert_eq!(d.phone_last_digits(), Some("0675"));
}

#[test]
fn an_older_airbnb_export_gives_the_phones_last_four_digits_and_never_the_email() {
    let d = details_of(
        Producer::Airbnb,
        "Jane Doe",
        Some(
            "CHECKIN: 03/01/2026\\nCHECKOUT: 03/04/2026\\nNIGHTS: 3\\nPHONE: +1 555 123 4567\\n\
             EMAIL: jane.1234@guest.airbnb.com\\nPROPERTY: Sea view",
        ),
    );
    assert_eq!(d, Given { phone_last_digits: some("4567"), ..Default::default() });
}

#[test]
fn a_full_phone_number_keeps_only_its_last_four_digits() {
    for (written, kept) in [
        ("Phone: +44 (0)20 7946 0958", "0958"),
        ("PHONE: 555-0100", "0100"),
        ("Phone Number (Last 4 Digits): 1234", "1234"),
        ("Phone Number (Last 4 Digits): 12", "12"),
    ] {
        let d = details_of(Producer::Airbnb, "Reserved", Some(written));
        assert_eq!(d.phone_last_digits(), Some(kept), "{written}");
    }
}

#[test]
fn a_phone_line_without_digits_gives_no_digits() {
    let d = details_of(Producer::Airbnb, "Reserved", Some("Phone: not shared"));
    assert_eq!(d.phone_last_digits(), None);
}

#[test]
fn an_airbnb_block_has_no_details() {
    let d = details_of(Producer::Airbnb, "Airbnb (Not available)", None);
    assert!(d.is_empty());
}

#[test]
fn airbnbs_country_sites_are_its_own() {
    for host in ["airbnb.co.uk", "www.airbnb.com.au", "www.airbnb.fr", "AIRBNB.COM"] {
        let d = details_of(
            Producer::Airbnb,
            "Reserved",
            Some(&format!(
                "Reservation URL: https://{host}/hosting/reservations/details/HM12345678"
            )),
        );
        assert_eq!(d.reservation_code(), Some("HM12345678"), "{host}");
        assert!(d.reservation_url().is_some(), "{host}");
    }
}

#[test]
fn the_guests_are_read_where_the_feed_counts_them() {
    for written in ["Guests: 2", "NUMBER OF GUESTS: 2", "2 guests", "Number of guests = 2"] {
        let d = details_of(Producer::Airbnb, "Reserved", Some(written));
        assert_eq!(d.guests(), Some(2), "{written}");
    }
    for written in ["Guests: many", "Guest: Jane", "Guests: 0", "Guests: 123456"] {
        let d = details_of(Producer::Airbnb, "Reserved", Some(written));
        assert_eq!(d.guests(), None, "{written}");
    }
}

// ---------------------------------------------------------------------------------------------
// What is never kept.

#[test]
fn a_url_on_another_host_is_not_kept() {
    for url in [
        "https://example.com/hosting/reservations/details/HMABCDEF12",
        "https://airbnb.com.example.net/hosting/reservations/details/HMABCDEF12",
        "https://notairbnb.com/hosting/reservations/details/HMABCDEF12",
        "https://www.airbnb.com@example.com/hosting/reservations/details/HMABCDEF12",
        "https://airbnb.co.com/hosting/reservations/details/HMABCDEF12",
        "https://www.vrbo.com/reservations/HMABCDEF12",
    ] {
        let d = details_of(Producer::Airbnb, "Reserved", Some(&format!("Reservation URL: {url}")));
        assert_eq!(d, ItemDetails::default(), "{url}");
    }
}

#[test]
fn a_code_is_read_from_a_links_path_not_its_query() {
    let url = "https://www.airbnb.com?next=/reservations/HMABCDEF12";
    let d = details_of(Producer::Airbnb, "Reserved", Some(&format!("Reservation URL: {url}")));
    assert_eq!(d, Given { reservation_url: some(url), ..Default::default() });
}

#[test]
fn a_links_path_ends_at_its_query_or_fragment_wherever_they_fall() {
    // Unlabelled links are kept for a path naming a reservation, and give its last segment.
    for tail in ["", "?a=1", "#x", "?a=1#x", "#x?a=1", "?next=/other/HMZZZZZZZZ"] {
        let url = format!("https://www.airbnb.com/hosting/reservations/details/HMABCDEF12{tail}");
        let d = details_of(Producer::Airbnb, "Reserved", Some(&format!("See {url}")));
        let expected = Given {
            reservation_code: some("HMABCDEF12"),
            reservation_url: Some(url),
            ..Default::default()
        };
        assert_eq!(d, expected);
    }
    for url in [
        "https://www.airbnb.com/rooms/1?reservations=HMABCDEF12",
        "https://www.airbnb.com/r#/reservations/HMABCDEF12",
    ] {
        let d = details_of(Producer::Airbnb, "Reserved", Some(&format!("See {url}")));
        assert_eq!(d, ItemDetails::default(), "{url}");
    }
    // The code is the last segment that is not empty, under a segment naming reservations.
    for (path, code) in [
        ("/reservations/details/HMABCDEF12/", Some("HMABCDEF12")),
        ("//reservations//HMABCDEF12//", Some("HMABCDEF12")),
        ("/Reservations/HMABCDEF12", Some("HMABCDEF12")),
        ("/HMABCDEF12/reservations", None),
        ("/reservations", None),
    ] {
        let url = format!("https://www.airbnb.com{path}");
        let d = details_of(Producer::Airbnb, "Reserved", Some(&format!("See {url}")));
        assert_eq!(d.reservation_url(), Some(url.as_str()));
        assert_eq!(d.reservation_code(), code, "{url}");
    }
}

#[test]
fn a_link_that_is_not_https_is_not_kept() {
    let d = details_of(
        Producer::Airbnb,
        "Reserved",
        Some("Reservation URL: http://www.airbnb.com/hosting/reservations/details/HMABCDEF12"),
    );
    assert_eq!(d, ItemDetails::default());
}

#[test]
fn a_link_to_anything_but_a_reservation_is_not_kept() {
    let d = details_of(Producer::Airbnb, "Reserved", Some("See https://www.airbnb.com/rooms/1234"));
    assert_eq!(d, ItemDetails::default());
}

#[test]
fn an_overlong_code_or_link_is_not_kept() {
    let code = "HM".repeat(40);
    let d = details_of(Producer::Vrbo, "Reserved", Some(&format!("Reservation ID: {code}")));
    assert_eq!(d.reservation_code(), None);
    let path = "a".repeat(600);
    let d = details_of(
        Producer::Airbnb,
        "Reserved",
        Some(&format!("Reservation URL: https://www.airbnb.com/reservations/{path}")),
    );
    assert_eq!(d, ItemDetails::default());
}

#[test]
fn a_megabyte_of_description_stores_nothing_long() {
    let huge = format!("Reservation ID: {}\\nPhone: {}", "A1".repeat(500_000), "9".repeat(1 << 20));
    let d = details_of(Producer::Vrbo, "Reserved", Some(&huge));
    assert_eq!(d.reservation_code(), None);
    assert_eq!(d.phone_last_digits(), Some("9999"));
}

#[test]
fn a_description_of_many_links_and_labels_is_read_in_one_pass() {
    // Were each link or label to read the rest of its line again, this would take minutes.
    let many = "https://www.airbnb.com/rooms/1 phone guests Confirmation ".repeat(20_000);
    let d = details_of(Producer::Airbnb, "Reserved", Some(&many));
    assert_eq!(d, ItemDetails::default());
    let labelled = format!("{many}Reservation URL: https://www.airbnb.com/x/HM12345678");
    let d = details_of(Producer::Airbnb, "Reserved", Some(&labelled));
    assert_eq!(d.reservation_url(), Some("https://www.airbnb.com/x/HM12345678"));
    assert_eq!(d.reservation_code(), None, "the link names no reservation in its path");
}

#[test]
fn google_outlook_and_other_calendars_have_no_details() {
    let description = "Reservation URL: https://www.airbnb.com/hosting/reservations/details/\
                       HMABCDEF12\\nPhone: 1234\\nGuests: 2";
    for producer in [Producer::Google, Producer::Outlook, Producer::Other] {
        assert!(details_of(producer, "Reservation 1234567890", Some(description)).is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// Booking.com and VRBO.

#[test]
fn a_booking_com_closed_night_has_no_details() {
    assert!(details_of(Producer::BookingCom, "CLOSED - Not available", None).is_empty());
}

#[test]
fn a_booking_com_reservation_number_is_read_where_it_is_labelled() {
    for (summary, description) in [
        ("Reservation 1234567890", None),
        ("Booked", Some("Booking ID: 1234567890")),
        ("CLOSED - Not available", Some("Reservation #1234567890")),
    ] {
        let d = details_of(Producer::BookingCom, summary, description);
        assert_eq!(d.reservation_code(), Some("1234567890"), "{summary} {description:?}");
    }
}

#[test]
fn a_booking_com_code_is_a_number() {
    let d = details_of(Producer::BookingCom, "Booked", Some("Booking ID: HMABCDEF12"));
    assert_eq!(d.reservation_code(), None);
}

#[test]
fn a_vrbo_reservation_gives_its_id_and_link_but_not_the_guests_name() {
    let d = details_of(
        Producer::Vrbo,
        "Reserved - Jane Doe",
        Some("Reservation ID: HA-ABC123\\nhttps://www.homeaway.com/reservations/HA-ABC123"),
    );
    assert_eq!(
        d,
        Given {
            reservation_code: some("HA-ABC123"),
            reservation_url: some("https://www.homeaway.com/reservations/HA-ABC123"),
            ..Default::default()
        }
    );
    let serialized = serde_json::to_string(&d).unwrap();
    assert!(!serialized.contains("Jane"), "{serialized}");
}

#[test]
fn a_reservation_word_without_a_code_is_no_code() {
    for summary in ["Reserved - Jane Doe", "Reservation pending", "Reservation: Jane"] {
        assert_eq!(details_of(Producer::Vrbo, summary, None), ItemDetails::default(), "{summary}");
    }
}

#[test]
fn details_in_json_leave_out_what_the_feed_did_not_say() {
    let d: ItemDetails =
        Given { reservation_code: some("HA-ABC123"), guests: Some(2), ..Default::default() }.into();
    let json = serde_json::to_string(&d).unwrap();
    assert_eq!(json, r#"{"reservation_code":"HA-ABC123","guests":2}"#);
    assert_eq!(serde_json::from_str::<ItemDetails>(&json).unwrap(), d);
    assert_eq!(serde_json::from_str::<ItemDetails>("{}").unwrap(), ItemDetails::default());
}

#[test]
fn booking_com_nights_of_two_reservations_back_to_back_are_two_stays() {
    let busy = read_fixture(Producer::BookingCom, "ics-hand/booking_com_reservation_numbers.ics");
    let stays: Vec<(NaiveDate, NaiveDate, ItemKind, Option<&str>)> = busy
        .iter()
        .map(|b| match b.span {
            Span::AllDay { start, end } => (start, end, b.kind, b.details.reservation_code()),
            Span::Timed { .. } => panic!("{b:?} is timed"),
        })
        .collect();
    assert_eq!(
        stays,
        [
            (day(3, 2), day(3, 4), ItemKind::Reservation, Some("4012345678")),
            (day(3, 4), day(3, 5), ItemKind::Reservation, Some("4098765432")),
            (day(3, 10), day(3, 12), ItemKind::Block, None),
            (day(3, 20), day(3, 23), ItemKind::Reservation, Some("4055501234")),
        ]
    );
    assert_eq!(busy[3].details.guests(), Some(3));
    assert!(busy[2].details.is_empty());
}

#[test]
fn a_vrbo_feed_gives_its_reservation_ids_and_only_its_own_links() {
    let busy = read_fixture(Producer::Vrbo, "ics-hand/vrbo_reservation_ids.ics");
    assert_eq!(busy.len(), 3);
    assert_eq!(
        busy[0].details,
        Given {
            reservation_code: some("HA-ABC123"),
            reservation_url: some("https://www.vrbo.com/traveler/reservations/HA-ABC123"),
            phone_last_digits: None,
            guests: Some(2),
        }
    );
    assert_eq!(busy[0].summary.as_deref(), Some("Reserved - Jane Doe"));
    assert_eq!(
        busy[1].details,
        Given { reservation_code: some("HA-XYZ789"), ..Default::default() },
        "the link on example.com is not kept"
    );
    assert_eq!(busy[2].kind, ItemKind::Block);
    assert!(busy[2].details.is_empty());
}

// ---------------------------------------------------------------------------------------------
// The real Airbnb export.

#[test]
fn the_airbnb_export_gives_each_reservation_its_code_and_phone_digits() {
    let busy =
        read_fixture(Producer::Airbnb, "ics-real/files/airbnb_rical088_reserved_and_blocked.ics");
    let reservations: Vec<(&str, &str)> = busy
        .iter()
        .filter(|b| b.kind == ItemKind::Reservation)
        .map(|b| {
            let d = &b.details;
            let url = d.reservation_url().unwrap();
            let code = d.reservation_code().unwrap();
            assert_eq!(url, format!("https://www.airbnb.com/hosting/reservations/details/{code}"));
            assert_eq!(d.guests(), None);
            (code, d.phone_last_digits().unwrap())
        })
        .collect();
    assert_eq!(
        reservations,
        [
            ("HMMTAEZPCA", "5757"),
            ("HMJFH948WM", "0675"),
            ("HM2MYQTKM9", "0148"),
            ("HMY2QYAT42", "1016"),
            ("HMMWPAAMFE", "0996"),
            ("HMK8TMA2PF", "6985"),
            ("HMNTWP5BA8", "3269"),
            ("HMDJKWXS4H", "5774"),
        ]
    );
    let blocks = busy.iter().filter(|b| b.kind == ItemKind::Block);
    assert_eq!(blocks.clone().count(), 13);
    assert!(blocks.into_iter().all(|b| b.details.is_empty()));
}

#[test]
fn the_airbnb_export_read_as_another_producers_has_no_details() {
    let busy =
        read_fixture(Producer::Other, "ics-real/files/airbnb_rical088_reserved_and_blocked.ics");
    assert_eq!(busy.len(), 21);
    assert!(busy.iter().all(|b| b.details.is_empty()));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 2048,
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// Airbnb's own reservation text read apart (`details::airbnb_export`) gives what the scan
    /// gives, for that text, for texts that differ from it anywhere, and after any summary.
    #[test]
    fn airbnb_export_text_reads_as_the_scan_reads_it(
        code in proptest::prop_oneof!["[A-Z0-9]{8,10}", "[A-Za-z0-9_./-]{0,70}"],
        digits in proptest::prop_oneof!["[0-9]{4}", "[0-9 a]{0,6}"],
        edit in proptest::option::of((0usize..200, 0usize..3, "[\\\\nNRr:/ .9Aé-]")),
        summary in proptest::prop_oneof![
            proptest::strategy::Just("Reserved".to_owned()),
            proptest::strategy::Just("Airbnb (Not available)".to_owned()),
            "[A-Za-z :#0-9]{0,24}",
        ],
    ) {
        let mut text = format!(
            "Reservation URL: https://www.airbnb.com/hosting/reservations/details/{code}\\n\
             Phone Number (Last 4 Digits): {digits}"
        );
        if let Some((at, how, with)) = &edit {
            let at = (0..=(*at).min(text.len()))
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap();
            let next = text[at..].chars().next().map_or(at, |c| at + c.len_utf8());
            match how {
                0 => text.insert_str(at, with),
                1 => text.replace_range(at..next, with),
                _ => text.replace_range(at..next, ""),
            }
        }
        let (fast, slow) = (profiles::airbnb_shape(true), profiles::airbnb_shape(false));
        for texts in [vec![text.as_str()], vec![summary.as_str(), text.as_str()]] {
            proptest::prop_assert_eq!(
                details::read(&fast, texts.iter().copied()),
                details::read(&slow, texts.iter().copied())
            );
        }
        let plain = edit.is_none()
            && code.len() >= 8
            && code.bytes().all(|b| b.is_ascii_alphanumeric())
            && digits.len() == 4
            && digits.bytes().all(|b| b.is_ascii_digit());
        if plain {
            // The exporter's text itself is read apart, and has all three details.
            let found = details::airbnb_export(&fast, &text).unwrap();
            proptest::prop_assert!(
                found.reservation_url.is_some() && found.phone_last_digits.is_some()
            );
        }
    }
}
