use chrono::{NaiveDate, TimeZone as _};
use icalendar::parser::{read_calendar, unfold};

use super::*;
use crate::domain::{BookingSpan, Customer, NewBooking};

// ------------------------------------------------------------------------------------- fixtures

fn at(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, mi, 0).unwrap()
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn zone(name: &str) -> TimeZone {
    name.parse().unwrap()
}

/// A haircut at 15:00 Johannesburg time (13:00 UTC).
fn booking() -> Booking {
    let span = BookingSpan::timed(
        at(2025, 3, 14, 13, 0),
        at(2025, 3, 14, 14, 30),
        zone("Africa/Johannesburg"),
    )
    .unwrap();
    Booking {
        id: Uuid::from_u128(0x0195_8a3c_0000_7000_8000_0000_0000_0001),
        tenant_id: Uuid::from_u128(7),
        data: NewBooking {
            external_id: None,
            resource_id: None,
            staff_ids: vec![],
            status: BookingStatus::Confirmed,
            title: "Haircut, wash; blow-dry".into(),
            description: Some("Bring your own\nproducts \\ or not".into()),
            location: Some("12 Beach Rd, Muizenberg".into()),
            customer: Some(Customer {
                name: "Ann Example".into(),
                email: Some("ann@example.com".parse().unwrap()),
                phone: None,
            }),
            span,
        },
        version: 3,
        created_at: at(2025, 3, 1, 8, 0),
        updated_at: at(2025, 3, 2, 9, 0),
    }
}

fn invite(booking: &Booking, kind: InviteKind, sequence: i64) -> Invite<'_> {
    Invite {
        booking,
        kind,
        sequence,
        dtstamp: at(2025, 3, 2, 9, 30),
        zone: zone("Europe/Berlin"),
        organizer: Party {
            email: "bookings@seabreeze.example",
            name: Some("Sea Breeze"),
            rsvp: false,
        },
        attendee: Party { email: "ann@example.com", name: Some("Ann Example"), rsvp: false },
        url: Some("https://kalends.example/i/abc/invite.ics"),
    }
}

/// Logical content lines, after checking CRLF ends and the 75-octet limit.
fn lines(ics: &str) -> Vec<String> {
    assert!(ics.ends_with("\r\n"));
    for physical in ics[..ics.len() - 2].split("\r\n") {
        assert!(physical.len() <= 75, "{} octets: {physical:?}", physical.len());
        assert!(!physical.contains(['\r', '\n']), "bare line break in {physical:?}");
    }
    unfold(ics).split("\r\n").filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

/// The content lines of the property `name` outside the `VTIMEZONE`s.
fn prop(ics: &str, name: &str) -> Vec<String> {
    let mut in_zone = false;
    lines(ics)
        .into_iter()
        .filter(|l| {
            match l.as_str() {
                "BEGIN:VTIMEZONE" => in_zone = true,
                "END:VTIMEZONE" => in_zone = false,
                _ => {}
            }
            !in_zone && l.starts_with(name) && l[name.len()..].starts_with([':', ';'])
        })
        .collect()
}

/// The one value of `name` in the one `VEVENT`, as the `icalendar` crate reads it.
fn parsed_value(ics: &str, name: &str) -> String {
    let unfolded = unfold(ics);
    let calendar = read_calendar(&unfolded).unwrap_or_else(|e| panic!("{e}\n{ics}"));
    let events: Vec<_> =
        calendar.components.iter().filter(|c| c.name.as_str() == "VEVENT").collect();
    assert_eq!(events.len(), 1);
    let found: Vec<_> = events[0].properties.iter().filter(|p| p.name.as_str() == name).collect();
    assert_eq!(found.len(), 1, "{name} in {ics}");
    found[0].val.as_str().to_owned()
}

// ----------------------------------------------------------------------------------------- tests

#[test]
fn request_update_and_cancel_share_the_uid_and_carry_their_sequence() {
    let b = booking();
    let first = render(&invite(&b, InviteKind::Request, 0));
    let update = render(&invite(&b, InviteKind::Request, 1));
    let cancel = render(&invite(&b, InviteKind::Cancel, 2));
    let uid = format!("UID:{}", invite_uid(b.id));
    assert_eq!(uid, "UID:01958a3c-0000-7000-8000-000000000001@kalends");
    for (ics, sequence) in [(&first, 0), (&update, 1), (&cancel, 2)] {
        assert_eq!(prop(ics, "UID"), std::slice::from_ref(&uid));
        assert_eq!(prop(ics, "SEQUENCE"), [format!("SEQUENCE:{sequence}")]);
        assert_eq!(prop(ics, "DTSTAMP"), ["DTSTAMP:20250302T093000Z"]);
    }
}

#[test]
fn the_method_and_status_follow_the_kind() {
    let b = booking();
    let request = render(&invite(&b, InviteKind::Request, 0));
    assert_eq!(prop(&request, "METHOD"), ["METHOD:REQUEST"]);
    assert_eq!(prop(&request, "STATUS"), ["STATUS:CONFIRMED"]);
    let cancel = render(&invite(&b, InviteKind::Cancel, 1));
    assert_eq!(prop(&cancel, "METHOD"), ["METHOD:CANCEL"]);
    assert_eq!(prop(&cancel, "STATUS"), ["STATUS:CANCELLED"]);

    let mut tentative = booking();
    tentative.data.status = BookingStatus::Tentative;
    let ics = render(&invite(&tentative, InviteKind::Request, 0));
    assert_eq!(prop(&ics, "STATUS"), ["STATUS:TENTATIVE"]);
}

#[test]
fn organizer_and_attendee_follow_itip() {
    let b = booking();
    let ics = render(&invite(&b, InviteKind::Request, 0));
    assert_eq!(
        prop(&ics, "ORGANIZER"),
        ["ORGANIZER;CN=Sea Breeze:mailto:bookings@seabreeze.example"]
    );
    // The attendee is asked to reply even when the caller forgot to say so.
    assert_eq!(
        prop(&ics, "ATTENDEE"),
        [
            "ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Ann Example:mailto:ann@example.com"
        ]
    );
    assert_eq!(prop(&ics, "URL"), ["URL:https://kalends.example/i/abc/invite.ics"]);
    assert!(!ics.contains("X-WR-"), "an invite is not a feed");
    assert!(prop(&ics, "REFRESH-INTERVAL").is_empty());
}

#[test]
fn timed_bookings_are_written_in_their_own_zone_with_its_vtimezone() {
    let b = booking();
    let ics = render(&invite(&b, InviteKind::Request, 0));
    assert_eq!(prop(&ics, "DTSTART"), ["DTSTART;TZID=Africa/Johannesburg:20250314T150000"]);
    assert_eq!(prop(&ics, "DTEND"), ["DTEND;TZID=Africa/Johannesburg:20250314T163000"]);
    // One VTIMEZONE, for the booking's zone and not the resource's.
    assert_eq!(lines(&ics).iter().filter(|l| l.starts_with("TZID:")).count(), 1);
    assert!(ics.contains("\r\nTZID:Africa/Johannesburg\r\n"));
    assert_eq!(ics.matches("BEGIN:VTIMEZONE").count(), 1);
}

#[test]
fn all_day_bookings_are_dates_with_an_exclusive_end() {
    let mut b = booking();
    b.data.span = BookingSpan::all_day(day(2025, 12, 30), day(2026, 1, 2)).unwrap();
    let ics = render(&invite(&b, InviteKind::Request, 0));
    assert_eq!(prop(&ics, "DTSTART"), ["DTSTART;VALUE=DATE:20251230"]);
    assert_eq!(prop(&ics, "DTEND"), ["DTEND;VALUE=DATE:20260102"]);
    assert!(!ics.contains("BEGIN:VTIMEZONE"), "dates need no zone: {ics}");
    assert_eq!(parsed_value(&ics, "DTEND"), "20260102");
}

#[test]
fn text_is_escaped_and_reads_back_unchanged() {
    let b = booking();
    let ics = render(&invite(&b, InviteKind::Request, 0));
    assert_eq!(prop(&ics, "SUMMARY"), ["SUMMARY:Haircut\\, wash\\; blow-dry"]);
    assert_eq!(prop(&ics, "DESCRIPTION"), ["DESCRIPTION:Bring your own\\nproducts \\\\ or not"]);
    assert_eq!(prop(&ics, "LOCATION"), ["LOCATION:12 Beach Rd\\, Muizenberg"]);
    assert_eq!(parsed_value(&ics, "SUMMARY"), "Haircut, wash; blow-dry");
    assert_eq!(parsed_value(&ics, "LOCATION"), "12 Beach Rd, Muizenberg");
    assert_eq!(parsed_value(&ics, "UID"), invite_uid(b.id));
}

#[test]
fn blank_description_and_location_are_left_out() {
    let mut b = booking();
    b.data.description = Some("  ".into());
    b.data.location = None;
    let ics = render(&invite(&b, InviteKind::Cancel, 4));
    assert!(prop(&ics, "DESCRIPTION").is_empty());
    assert!(prop(&ics, "LOCATION").is_empty());
}

#[test]
fn long_non_ascii_titles_fold_and_reparse() {
    let mut b = booking();
    b.data.title = "Überraschungsparty für Zoë — Größe: XXL, mit Torte 🎂 ".repeat(4);
    let ics = render(&invite(&b, InviteKind::Request, 0));
    lines(&ics);
    assert!(parsed_value(&ics, "SUMMARY").starts_with("Überraschungsparty für Zoë"));
}

#[test]
fn every_invite_reads_back_with_the_required_itip_properties() {
    let b = booking();
    for kind in [InviteKind::Request, InviteKind::Cancel] {
        let ics = render(&invite(&b, kind, 1));
        for name in ["UID", "DTSTAMP", "DTSTART", "SEQUENCE", "SUMMARY", "ORGANIZER", "ATTENDEE"] {
            assert!(!parsed_value(&ics, name).is_empty(), "{name} missing for {kind:?}");
        }
    }
}
