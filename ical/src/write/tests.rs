use std::path::PathBuf;
use std::process::Command;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use icalendar::parser::{Component, read_calendar, unfold};

use super::vtimezone::observances;
use super::*;
use crate::Span;

#[path = "../../../tests/support/peer.rs"]
mod peer;
use peer::peer;

// ------------------------------------------------------------------------------------- fixtures

fn at(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, mi, 0).unwrap()
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn head<'a>(method: Method, zones: &'a [Tz], years: RangeInclusive<i32>) -> CalendarHead<'a> {
    CalendarHead {
        method,
        name: "Studio A, Room 1",
        zone: chrono_tz::Europe::Berlin,
        zones,
        years,
        refresh: Some(TimeDelta::hours(1)),
    }
}

fn event<'a>(uid: &'a str, span: &'a Span, summary: &'a str) -> EventOut<'a> {
    EventOut {
        uid,
        span,
        zone: None,
        summary,
        description: None,
        location: None,
        status: EventStatus::Confirmed,
        sequence: 0,
        created: at(2025, 1, 2, 3, 4),
        last_modified: at(2025, 1, 3, 4, 5),
        dtstamp: at(2025, 1, 4, 5, 6),
        transparent: false,
        url: None,
        organizer: None,
        attendees: &[],
        categories: &[],
    }
}

fn one_event(event: &EventOut<'_>) -> String {
    let mut out = String::new();
    write_event(&mut out, event);
    out
}

/// Writes `X:` followed by `value` through `push`, and returns the folded line.
fn line_with(push: impl FnOnce(&mut Line<'_>)) -> String {
    let mut out = String::new();
    let mut line = Line::new(&mut out, "X");
    line.colon();
    push(&mut line);
    line.end();
    out
}

/// Physical lines, checked: CRLF after each, none longer than 75 octets, each valid UTF-8, no
/// CR or LF inside one.
fn physical_lines(ics: &str) -> Vec<&str> {
    assert!(ics.ends_with("\r\n"), "ends without CRLF: {ics:?}");
    let lines: Vec<&str> = ics[..ics.len() - 2].split("\r\n").collect();
    for line in &lines {
        assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
        assert!(!line.contains(['\r', '\n']), "bare CR or LF in {line:?}");
    }
    for raw in ics.as_bytes().split(|&b| b == b'\n') {
        assert!(std::str::from_utf8(raw).is_ok(), "a fold split a character: {raw:?}");
    }
    lines
}

/// Logical content lines (unfolded), without the CRLF.
fn content_lines(ics: &str) -> Vec<String> {
    physical_lines(ics);
    unfold(ics).split("\r\n").filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

fn value_of(ics: &str, name: &str) -> Vec<String> {
    content_lines(ics)
        .into_iter()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([':', ';']))
        .collect()
}

// ---------------------------------------------------------------------------------------- folding

#[test]
fn lines_of_74_and_75_octets_are_not_folded_76_is() {
    for (len, folded) in [(74, false), (75, false), (76, true)] {
        let out = line_with(|l| l.raw(&"a".repeat(len - 2)));
        assert_eq!(out.len(), len + 2 + if folded { 3 } else { 0 }, "{len}");
        let lines = physical_lines(&out);
        assert_eq!(lines.len(), if folded { 2 } else { 1 });
        if folded {
            assert_eq!(lines[0].len(), 75);
            assert_eq!(lines[1], " a");
        }
    }
}

#[test]
fn folds_never_split_a_utf8_character() {
    for filler in ["é", "日", "😀", "e\u{301}"] {
        for prefix in 60..=80 {
            let value = format!("{}{}", "a".repeat(prefix), filler.repeat(40));
            let out = line_with(|l| l.raw(&value));
            physical_lines(&out);
            assert_eq!(unfold(&out), format!("X:{value}\r\n"));
            let out = line_with(|l| l.text(&value));
            physical_lines(&out);
            assert_eq!(unfold(&out), format!("X:{value}\r\n"));
        }
    }
}

#[test]
fn continuation_lines_hold_74_octets_after_the_space() {
    let out = line_with(|l| l.raw(&"b".repeat(300)));
    let lines = physical_lines(&out);
    assert_eq!(lines[0].len(), 75);
    assert!(lines[1..lines.len() - 1].iter().all(|l| l.len() == 75 && l.starts_with(' ')));
}

#[test]
fn folds_never_split_an_escape_sequence() {
    for prefix in 60..=80 {
        let value = format!("{}{}", "a".repeat(prefix), ",;\\\n".repeat(30));
        let out = line_with(|l| l.text(&value));
        for line in physical_lines(&out) {
            let backslashes = line.bytes().rev().take_while(|&b| b == b'\\').count();
            assert_eq!(backslashes % 2, 0, "escape split at the end of {line:?}");
        }
    }
}

// --------------------------------------------------------------------------------------- escaping

#[test]
fn text_escapes_backslash_semicolon_comma_and_line_breaks() {
    let out = line_with(|l| l.text("a\\b;c,d\ne\r\nf\rg\u{7}h\ti:j\"k\u{7f}"));
    assert_eq!(out, "X:a\\\\b\\;c\\,d\\ne\\nf\\ngh\ti:j\"k\r\n");
}

#[test]
fn text_never_writes_a_raw_cr() {
    let out = line_with(|l| l.text("\r\r\n\n\r"));
    assert_eq!(out, "X:\\n\\n\\n\\n\r\n");
}

#[test]
fn parameter_values_are_quoted_or_cleaned() {
    let param = |value: &str| {
        let mut out = String::new();
        let mut line = Line::new(&mut out, "X");
        line.param("CN", value);
        line.colon();
        line.end();
        out
    };
    assert_eq!(param("Jane Doe"), "X;CN=Jane Doe:\r\n");
    assert_eq!(param("Doe, Jane"), "X;CN=\"Doe, Jane\":\r\n");
    assert_eq!(param("a:b;c"), "X;CN=\"a:b;c\":\r\n");
    assert_eq!(param("Jane \"JJ\" Doe"), "X;CN=Jane JJ Doe:\r\n");
    assert_eq!(param("\"Doe, J\"\r\nline"), "X;CN=\"Doe, J line\":\r\n");
}

#[test]
fn uris_lose_control_characters_and_encode_spaces() {
    assert_eq!(line_with(|l| l.uri("https://x.test/a b\r\n")), "X:https://x.test/a%20b\r\n");
}

// ----------------------------------------------------------------------------------------- events

#[test]
fn every_event_has_the_required_properties_once() {
    let span = Span::AllDay { start: day(2025, 3, 1), end: day(2025, 3, 5) };
    let out = one_event(&event("u1", &span, "Booked"));
    for name in [
        "UID",
        "DTSTAMP",
        "DTSTART",
        "DTEND",
        "SEQUENCE",
        "CREATED",
        "LAST-MODIFIED",
        "STATUS",
        "SUMMARY",
        "TRANSP",
    ] {
        assert_eq!(value_of(&out, name).len(), 1, "{name} in {out}");
    }
    assert_eq!(
        content_lines(&out),
        [
            "BEGIN:VEVENT",
            "UID:u1",
            "DTSTAMP:20250104T050600Z",
            "DTSTART;VALUE=DATE:20250301",
            "DTEND;VALUE=DATE:20250305",
            "SEQUENCE:0",
            "CREATED:20250102T030400Z",
            "LAST-MODIFIED:20250103T040500Z",
            "STATUS:CONFIRMED",
            "SUMMARY:Booked",
            "TRANSP:OPAQUE",
            "END:VEVENT",
        ]
    );
}

#[test]
fn timed_events_are_local_with_tzid_or_utc() {
    let span = Span::Timed { start: at(2025, 3, 1, 9, 0), end: at(2025, 3, 1, 10, 30) };
    let mut berlin = event("u", &span, "s");
    berlin.zone = Some(chrono_tz::Europe::Berlin);
    let out = one_event(&berlin);
    assert_eq!(value_of(&out, "DTSTART"), ["DTSTART;TZID=Europe/Berlin:20250301T100000"]);
    assert_eq!(value_of(&out, "DTEND"), ["DTEND;TZID=Europe/Berlin:20250301T113000"]);

    let out = one_event(&event("u", &span, "s"));
    assert_eq!(value_of(&out, "DTSTART"), ["DTSTART:20250301T090000Z"]);
    assert_eq!(value_of(&out, "DTEND"), ["DTEND:20250301T103000Z"]);
}

#[test]
fn ambiguous_local_times_are_written_in_utc() {
    // 2025-10-26 in Berlin: 02:00-03:00 happens twice (00:00-01:00Z and 01:00-02:00Z).
    let span = Span::Timed { start: at(2025, 10, 26, 0, 30), end: at(2025, 10, 26, 1, 30) };
    let mut e = event("u", &span, "s");
    e.zone = Some(chrono_tz::Europe::Berlin);
    let out = one_event(&e);
    assert_eq!(value_of(&out, "DTSTART"), ["DTSTART:20251026T003000Z"]);
    assert_eq!(value_of(&out, "DTEND"), ["DTEND:20251026T013000Z"]);
    let span = Span::Timed { start: at(2025, 10, 26, 2, 0), end: at(2025, 10, 26, 2, 1) };
    let e = EventOut { span: &span, ..e };
    assert_eq!(value_of(&one_event(&e), "DTSTART"), ["DTSTART;TZID=Europe/Berlin:20251026T030000"]);
}

#[test]
fn subseconds_are_dropped() {
    let start = at(2025, 3, 1, 9, 0) + TimeDelta::milliseconds(999);
    let span = Span::Timed { start, end: start + TimeDelta::hours(1) };
    let mut e = event("u", &span, "s");
    e.dtstamp = start;
    let out = one_event(&e);
    assert_eq!(value_of(&out, "DTSTART"), ["DTSTART:20250301T090000Z"]);
    assert_eq!(value_of(&out, "DTSTAMP"), ["DTSTAMP:20250301T090000Z"]);
}

#[test]
fn optional_properties_status_transparency_and_sequence() {
    let span = Span::AllDay { start: day(2025, 3, 1), end: day(2025, 3, 2) };
    let mut e = event("u", &span, "s");
    e.description = Some("Line 1\r\nLine 2; more, text");
    e.location = Some("Main St. 1, Berlin");
    e.url = Some("https://kalends.test/b/1");
    e.categories = &["Airbnb", "", "VIP, gold"];
    e.status = EventStatus::Tentative;
    e.transparent = true;
    e.sequence = 7;
    let out = one_event(&e);
    assert_eq!(value_of(&out, "DESCRIPTION"), ["DESCRIPTION:Line 1\\nLine 2\\; more\\, text"]);
    assert_eq!(value_of(&out, "LOCATION"), ["LOCATION:Main St. 1\\, Berlin"]);
    assert_eq!(value_of(&out, "URL"), ["URL:https://kalends.test/b/1"]);
    assert_eq!(value_of(&out, "CATEGORIES"), ["CATEGORIES:Airbnb,VIP\\, gold"]);
    assert_eq!(value_of(&out, "STATUS"), ["STATUS:TENTATIVE"]);
    assert_eq!(value_of(&out, "TRANSP"), ["TRANSP:TRANSPARENT"]);
    assert_eq!(value_of(&out, "SEQUENCE"), ["SEQUENCE:7"]);
    e.sequence = -3;
    assert_eq!(value_of(&one_event(&e), "SEQUENCE"), ["SEQUENCE:0"]);
    e.sequence = i64::MAX;
    assert_eq!(value_of(&one_event(&e), "SEQUENCE"), ["SEQUENCE:2147483647"]);
}

#[test]
fn invites_carry_organizer_and_attendees() {
    let span = Span::Timed { start: at(2025, 3, 1, 9, 0), end: at(2025, 3, 1, 10, 0) };
    let attendees = [
        Party { email: "jane@example.com", name: Some("Doe, Jane"), rsvp: true },
        Party { email: "bob@example.com", name: None, rsvp: false },
    ];
    let mut e = event("u", &span, "Haircut");
    e.organizer = Some(Party { email: "salon@example.com", name: Some("Salon"), rsvp: false });
    e.attendees = &attendees;
    let zones = [chrono_tz::Europe::Berlin];
    let ics = calendar(&head(Method::Request, &zones, 2025..=2025), &[e.clone()]);
    assert_eq!(value_of(&ics, "METHOD"), ["METHOD:REQUEST"]);
    assert!(!ics.contains("X-WR-"), "an invite is not a feed: {ics}");
    assert_eq!(value_of(&ics, "ORGANIZER"), ["ORGANIZER;CN=Salon:mailto:salon@example.com"]);
    assert_eq!(
        value_of(&ics, "ATTENDEE"),
        [
            "ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=\"Doe, Jane\":mailto:jane@example.com",
            "ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION:mailto:bob@example.com",
        ]
    );
    e.status = EventStatus::Cancelled;
    e.sequence = 1;
    let ics = calendar(&head(Method::Cancel, &zones, 2025..=2025), &[e]);
    assert_eq!(value_of(&ics, "METHOD"), ["METHOD:CANCEL"]);
    assert_eq!(value_of(&ics, "STATUS"), ["STATUS:CANCELLED"]);
    reparse(&ics);
}

// ------------------------------------------------------------------------------------ the calendar

#[test]
fn head_and_tail() {
    let zones = [chrono_tz::Europe::Berlin, chrono_tz::UTC, chrono_tz::Europe::Berlin];
    let mut out = String::new();
    write_head(&mut out, &head(Method::Publish, &zones, 2025..=2026));
    write_tail(&mut out);
    let lines = content_lines(&out);
    assert_eq!(
        lines[..9],
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Kalends//Kalends 0.1//EN",
            "CALSCALE:GREGORIAN",
            "METHOD:PUBLISH",
            "X-WR-CALNAME:Studio A\\, Room 1",
            "X-WR-TIMEZONE:Europe/Berlin",
            "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
            "X-PUBLISHED-TTL:PT1H",
        ]
    );
    assert_eq!(lines.last().unwrap(), "END:VCALENDAR");
    assert_eq!(value_of(&out, "TZID"), ["TZID:Europe/Berlin", "TZID:UTC"]);

    let mut quiet = head(Method::Publish, &[], 2025..=2025);
    quiet.refresh = None;
    let out = calendar(&quiet, &[]);
    assert!(
        value_of(&out, "REFRESH-INTERVAL").is_empty() && value_of(&out, "BEGIN")[1..].is_empty()
    );
}

#[test]
fn refresh_durations() {
    assert_eq!(duration(TimeDelta::hours(1)), "PT1H");
    assert_eq!(duration(TimeDelta::minutes(90)), "PT90M");
    assert_eq!(duration(TimeDelta::days(2)), "P2D");
    assert_eq!(duration(TimeDelta::seconds(61)), "PT61S");
    assert_eq!(duration(TimeDelta::zero()), "PT1S");
}

#[test]
fn output_is_deterministic_and_reparses() {
    let (spans, zones) = sample_spans();
    let events = sample_events(&spans);
    let head = head(Method::Publish, &zones, 2025..=2025);
    let first = calendar(&head, &events);
    assert_eq!(first, calendar(&head, &events));
    let parsed = reparse(&first);
    let vevents: Vec<&Component<'_>> =
        parsed.components.iter().filter(|c| c.name.as_str() == "VEVENT").collect();
    assert_eq!(vevents.len(), events.len());
    for (vevent, event) in vevents.iter().zip(&events) {
        let text = |name: &str| vevent.find_prop(name).unwrap().val.clone().unescape_text();
        assert_eq!(text("UID").as_str(), event.uid);
        assert_eq!(text("SUMMARY").as_str(), lf(event.summary));
        assert_eq!(text("STATUS").as_str(), event.status.as_str());
        if let Some(description) = event.description {
            assert_eq!(text("DESCRIPTION").as_str(), lf(description));
        }
    }
}

#[test]
fn streaming_in_pieces_equals_the_whole() {
    let (spans, zones) = sample_spans();
    let events = sample_events(&spans);
    let head = head(Method::Publish, &zones, 2025..=2025);
    let mut streamed = String::new();
    let mut buffer = String::new();
    write_head(&mut buffer, &head);
    streamed.push_str(&buffer);
    for event in &events {
        buffer.clear();
        write_event(&mut buffer, event);
        streamed.push_str(&buffer);
    }
    buffer.clear();
    write_tail(&mut buffer);
    streamed.push_str(&buffer);
    assert_eq!(streamed, calendar(&head, &events));
}

/// Reads `ics` back with the `icalendar` crate and returns the VCALENDAR.
fn reparse(ics: &str) -> icalendar::parser::Calendar<'static> {
    physical_lines(ics);
    let unfolded = unfold(ics);
    let parsed = read_calendar(&unfolded).unwrap_or_else(|e| panic!("{e}\n{ics}"));
    let owned = icalendar::parser::Calendar {
        properties: parsed.properties.iter().map(|p| own_property(p)).collect(),
        components: parsed.components.iter().map(own_component).collect(),
    };
    assert!(owned.properties.iter().any(|p| p.name.as_str() == "PRODID"));
    owned
}

fn own_component(c: &Component<'_>) -> Component<'static> {
    Component {
        name: c.name.to_owned(),
        properties: c.properties.iter().map(own_property).collect(),
        components: c.components.iter().map(own_component).collect(),
    }
}

fn own_property(p: &icalendar::parser::Property<'_>) -> icalendar::parser::Property<'static> {
    icalendar::parser::Property {
        name: p.name.to_owned(),
        val: p.val.to_owned(),
        params: p
            .params
            .iter()
            .map(|q| icalendar::parser::Parameter {
                key: q.key.to_owned(),
                val: q.val.as_ref().map(|v| v.to_owned()),
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------- samples

/// `text` with each line break as one LF, as a reader gives it back.
fn lf(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

const TRICKY: &str = "Zoë's 🎉 party; bring food, drinks & \\ backslashes\r\nline two\rline three — 日本語のテキスト";

fn sample_spans() -> (Vec<Span>, [Tz; 3]) {
    let spans = vec![
        Span::AllDay { start: day(2025, 3, 1), end: day(2025, 3, 5) },
        // Across the start of summer time in Berlin: 01:30 CET to 04:00 CEST.
        Span::Timed { start: at(2025, 3, 30, 0, 30), end: at(2025, 3, 30, 2, 0) },
        Span::Timed { start: at(2025, 7, 1, 8, 0), end: at(2025, 7, 1, 9, 15) },
        Span::Timed { start: at(2025, 12, 24, 23, 0), end: at(2025, 12, 25, 1, 0) },
        Span::AllDay { start: day(2025, 12, 31), end: day(2026, 1, 1) },
        Span::Timed { start: at(2025, 4, 5, 14, 0), end: at(2025, 4, 5, 17, 0) },
        Span::Timed { start: at(2025, 11, 2, 5, 30), end: at(2025, 11, 2, 7, 0) },
        // Repeated hour in Berlin: written in UTC.
        Span::Timed { start: at(2025, 10, 26, 0, 30), end: at(2025, 10, 26, 1, 30) },
    ];
    let zones =
        [chrono_tz::Europe::Berlin, chrono_tz::Australia::Sydney, chrono_tz::America::New_York];
    (spans, zones)
}

fn sample_events(spans: &[Span]) -> Vec<EventOut<'_>> {
    let zones = [
        None,
        Some(chrono_tz::Europe::Berlin),
        Some(chrono_tz::Europe::Berlin),
        None,
        None,
        Some(chrono_tz::Australia::Sydney),
        Some(chrono_tz::America::New_York),
        Some(chrono_tz::Europe::Berlin),
    ];
    let uids =
        ["all-day", "dst-start", "berlin", "utc", "cancelled", "sydney", "new-york", "repeated"];
    let mut events: Vec<EventOut<'_>> = spans
        .iter()
        .zip(zones)
        .zip(uids)
        .map(|((span, zone), uid)| EventOut { zone, ..event(uid, span, uid) })
        .collect();
    events[3].summary = TRICKY;
    events[3].description = Some(TRICKY);
    events[3].status = EventStatus::Tentative;
    events[4].status = EventStatus::Cancelled;
    events[4].uid = "a,b;c@kalends.test";
    events
}

/// What the peer validators must report for the sample feed: uid, status, start, end, all-day.
fn expected_peer_events() -> Vec<serde_json::Value> {
    let rows = [
        ("all-day", "CONFIRMED", "2025-03-01", "2025-03-05", true),
        ("dst-start", "CONFIRMED", "2025-03-30T00:30:00+00:00", "2025-03-30T02:00:00+00:00", false),
        ("berlin", "CONFIRMED", "2025-07-01T08:00:00+00:00", "2025-07-01T09:15:00+00:00", false),
        ("utc", "TENTATIVE", "2025-12-24T23:00:00+00:00", "2025-12-25T01:00:00+00:00", false),
        ("a,b;c@kalends.test", "CANCELLED", "2025-12-31", "2026-01-01", true),
        ("sydney", "CONFIRMED", "2025-04-05T14:00:00+00:00", "2025-04-05T17:00:00+00:00", false),
        ("new-york", "CONFIRMED", "2025-11-02T05:30:00+00:00", "2025-11-02T07:00:00+00:00", false),
        ("repeated", "CONFIRMED", "2025-10-26T00:30:00+00:00", "2025-10-26T01:30:00+00:00", false),
    ];
    rows.iter()
        .map(|(uid, status, start, end, all_day)| {
            let summary = if *uid == "utc" { lf(TRICKY) } else { uid.to_string() };
            let summary =
                if *uid == "a,b;c@kalends.test" { "cancelled".to_owned() } else { summary };
            serde_json::json!({
                "uid": uid, "summary": summary, "status": status,
                "start": start, "end": end, "all_day": all_day,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------- the peer validators

/// Both peer validators (see tests/peers/README.md), as (name, command without the file); a test
/// that runs them fails at once when `scripts/test` did not provide one.
fn peers() -> [(&'static str, Command); 2] {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/peers");
    let mut python = Command::new(peer("KALENDS_TEST_PYTHON"));
    python.arg(dir.join("validate_ics.py"));
    let mut node = Command::new("node");
    node.env("KALENDS_TEST_NODE_PATH", peer("KALENDS_TEST_NODE_PATH"))
        .arg(dir.join("validate_ics.mjs"));
    [("validate_ics.py", python), ("validate_ics.mjs", node)]
}

/// Runs both peers on `ics`: (peer, whether it succeeded, stdout, stderr).
fn run_peers(test: &str, ics: &str) -> Vec<(&'static str, bool, String, String)> {
    let peers = peers();
    let path =
        std::env::temp_dir().join(format!("kalends-write-{test}-{}.ics", std::process::id()));
    std::fs::write(&path, ics).unwrap();
    let results = peers
        .into_iter()
        .map(|(peer, mut command)| {
            let output = command.arg(&path).output().unwrap_or_else(|e| panic!("{peer}: {e}"));
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            (peer, output.status.success(), text(&output.stdout), text(&output.stderr))
        })
        .collect();
    std::fs::remove_file(&path).ok();
    results
}

/// Runs the peers on `ics` and checks that each reports `expected` as its events.
fn assert_peers_read(test: &str, ics: &str, expected: &[serde_json::Value]) {
    for (peer, ok, stdout, stderr) in run_peers(test, ics) {
        assert!(ok, "{peer} failed: {stderr}\n{stdout}");
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let events = report["events"].as_array().unwrap();
        assert_eq!(events.len(), expected.len(), "{peer}");
        for (found, expected) in events.iter().zip(expected) {
            assert_eq!(found, expected, "{peer}");
        }
    }
}

#[test]
#[ignore = "needs Python icalendar and ical.js: run scripts/test"]
fn peers_read_the_sample_feed() {
    let (spans, zones) = sample_spans();
    let events = sample_events(&spans);
    let ics = calendar(&head(Method::Publish, &zones, 2025..=2026), &events);
    assert_peers_read("sample", &ics, &expected_peer_events());
}

#[test]
#[ignore = "needs Python icalendar and ical.js: run scripts/test"]
fn peers_read_times_in_zones_that_change_their_rules() {
    let cases = [
        (chrono_tz::America::New_York, 2005..=2008),
        (chrono_tz::Europe::Moscow, 2010..=2015),
        (chrono_tz::Asia::Tehran, 2021..=2023),
        (chrono_tz::Africa::Casablanca, 2024..=2026),
        (chrono_tz::America::Sao_Paulo, 2018..=2020),
        (chrono_tz::Europe::Dublin, 2025..=2026),
        (chrono_tz::Australia::Lord_Howe, 2025..=2026),
        (chrono_tz::Pacific::Chatham, 2025..=2026),
        (chrono_tz::Asia::Kolkata, 2025..=2025),
    ];
    for (zone, years) in cases {
        // Noon UTC on the 1st and 15th of each month, and an hour after each transition.
        let mut instants: Vec<DateTime<Utc>> = years
            .clone()
            .flat_map(|y| (1..=12).flat_map(move |m| [at(y, m, 1, 12, 0), at(y, m, 15, 12, 0)]))
            .collect();
        let transitions = observances(zone, years.clone());
        instants.extend(transitions.iter().map(|o| {
            let start = o.start.and_utc() - TimeDelta::seconds(i64::from(o.from));
            start + TimeDelta::hours(1)
        }));
        instants.retain(|t| years.contains(&t.year()));
        let spans: Vec<Span> = instants
            .iter()
            .map(|&t| Span::Timed { start: t, end: t + TimeDelta::minutes(30) })
            .collect();
        let uids: Vec<String> = (0..spans.len()).map(|i| format!("e{i}")).collect();
        let events: Vec<EventOut<'_>> = spans
            .iter()
            .zip(&uids)
            .map(|(span, uid)| EventOut { zone: Some(zone), ..event(uid, span, "s") })
            .collect();
        let ics = calendar(&head(Method::Publish, &[zone], years.clone()), &events);
        let iso = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string();
        let expected: Vec<serde_json::Value> = instants
            .iter()
            .zip(&uids)
            .map(|(&t, uid)| {
                serde_json::json!({"uid": uid, "summary": "s", "status": "CONFIRMED",
                    "start": iso(t), "end": iso(t + TimeDelta::minutes(30)), "all_day": false})
            })
            .collect();
        assert_peers_read("zones", &ics, &expected);
    }
}

#[test]
#[ignore = "needs Python icalendar and ical.js: run scripts/test"]
fn peers_reject_a_broken_file() {
    for (peer, ok, _, _) in
        run_peers("broken", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:2025\r\n")
    {
        assert!(!ok, "{peer} accepted a broken file");
    }
}

// ------------------------------------------------------------------------------------- VTIMEZONE

fn vtimezone(zone: Tz, years: RangeInclusive<i32>) -> String {
    let mut out = String::new();
    write_vtimezone(&mut out, zone, years);
    out
}

/// The sub-components of a VTIMEZONE as (kind, their content lines).
fn sub_components(ics: &str) -> Vec<(String, Vec<String>)> {
    let mut subs = Vec::new();
    for line in content_lines(ics) {
        match line.as_str() {
            "BEGIN:STANDARD" | "BEGIN:DAYLIGHT" => subs.push((line[6..].to_owned(), Vec::new())),
            l if l.starts_with("END:") || l.starts_with("BEGIN:") => {}
            _ => {
                if let Some((_, lines)) = subs.last_mut() {
                    lines.push(line);
                }
            }
        }
    }
    subs
}

#[test]
fn zones_without_dst_get_one_standard() {
    for (zone, offset, name) in [
        (chrono_tz::UTC, "+0000", "UTC"),
        (chrono_tz::Asia::Tokyo, "+0900", "JST"),
        (chrono_tz::Africa::Johannesburg, "+0200", "SAST"),
        (chrono_tz::Asia::Kolkata, "+0530", "IST"),
    ] {
        let out = vtimezone(zone, 2025..=2027);
        let lines = content_lines(&out);
        assert_eq!(lines[1], format!("TZID:{}", zone.name()));
        assert_eq!(lines[2], format!("X-LIC-LOCATION:{}", zone.name()));
        let subs = sub_components(&out);
        assert_eq!(subs.len(), 1, "{out}");
        assert_eq!(subs[0].0, "STANDARD");
        assert_eq!(
            subs[0].1[..3],
            [
                format!("TZOFFSETFROM:{offset}"),
                format!("TZOFFSETTO:{offset}"),
                format!("TZNAME:{name}")
            ]
        );
        assert!(subs[0].1[3].starts_with("DTSTART:2023"), "{out}");
        assert_vtimezone_agrees(zone, 2025..=2027);
    }
}

#[test]
fn yearly_rules_for_berlin_new_york_sydney_and_chatham() {
    let cases = [
        (chrono_tz::Europe::Berlin, "DAYLIGHT", "+0100", "+0200", "CEST", "BYMONTH=3;BYDAY=-1SU"),
        (chrono_tz::Europe::Berlin, "STANDARD", "+0200", "+0100", "CET", "BYMONTH=10;BYDAY=-1SU"),
        (chrono_tz::America::New_York, "DAYLIGHT", "-0500", "-0400", "EDT", "BYMONTH=3;BYDAY=2SU"),
        (chrono_tz::America::New_York, "STANDARD", "-0400", "-0500", "EST", "BYMONTH=11;BYDAY=1SU"),
        (
            chrono_tz::Australia::Sydney,
            "DAYLIGHT",
            "+1000",
            "+1100",
            "AEDT",
            "BYMONTH=10;BYDAY=1SU",
        ),
        (chrono_tz::Australia::Sydney, "STANDARD", "+1100", "+1000", "AEST", "BYMONTH=4;BYDAY=1SU"),
        (
            chrono_tz::Pacific::Chatham,
            "DAYLIGHT",
            "+1245",
            "+1345",
            "+1345",
            "BYMONTH=9;BYDAY=-1SU",
        ),
        (chrono_tz::Pacific::Chatham, "STANDARD", "+1345", "+1245", "+1245", "BYMONTH=4;BYDAY=1SU"),
    ];
    for (zone, kind, from, to, name, rule) in cases {
        let out = vtimezone(zone, 2025..=2026);
        let subs = sub_components(&out);
        assert_eq!(subs.len(), 2, "{out}");
        let (_, lines) = subs.iter().find(|(k, _)| k == kind).unwrap();
        assert_eq!(
            lines[..3],
            [format!("TZOFFSETFROM:{from}"), format!("TZOFFSETTO:{to}"), format!("TZNAME:{name}")]
        );
        assert!(lines[3].starts_with("DTSTART:2024"), "{out}");
        assert_eq!(lines[4], format!("RRULE:FREQ=YEARLY;{rule}"), "{out}");
        assert_vtimezone_agrees(zone, 2025..=2026);
    }
}

#[test]
fn rule_changes_end_rules_with_until() {
    // The US moved DST from April-October to March-November in 2007.
    let out = vtimezone(chrono_tz::America::New_York, 2005..=2008);
    let rrules = value_of(&out, "RRULE");
    assert_eq!(
        rrules,
        [
            "RRULE:FREQ=YEARLY;BYMONTH=4;BYDAY=1SU;UNTIL=20060403T070000Z",
            "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU",
            "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU;UNTIL=20061030T060000Z",
            "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU",
        ],
        "{out}"
    );
    assert_vtimezone_agrees(chrono_tz::America::New_York, 2005..=2008);
}

#[test]
fn irregular_zones_agree_with_chrono_tz() {
    for (zone, years) in [
        (chrono_tz::Europe::Moscow, 2009..=2016),
        (chrono_tz::America::Sao_Paulo, 2017..=2021),
        (chrono_tz::Africa::Casablanca, 2023..=2026),
        (chrono_tz::Asia::Tehran, 2020..=2024),
        (chrono_tz::Asia::Jerusalem, 2024..=2026),
        (chrono_tz::Europe::Dublin, 2025..=2026),
        (chrono_tz::Australia::Lord_Howe, 2025..=2026),
        (chrono_tz::America::St_Johns, 2025..=2026),
        (chrono_tz::Pacific::Apia, 2010..=2022),
        (chrono_tz::Europe::Istanbul, 2015..=2018),
        (chrono_tz::Europe::Berlin, 1970..=2030),
    ] {
        assert_vtimezone_agrees(zone, years);
    }
}

#[test]
fn dublin_summer_is_daylight_despite_tzdata_negative_dst() {
    let subs = sub_components(&vtimezone(chrono_tz::Europe::Dublin, 2025..=2025));
    let kinds: Vec<(&str, &str)> =
        subs.iter().map(|(k, lines)| (k.as_str(), lines[2].as_str())).collect();
    assert_eq!(kinds, [("DAYLIGHT", "TZNAME:IST"), ("STANDARD", "TZNAME:GMT")]);
}

#[test]
fn vtimezones_are_deterministic() {
    assert_eq!(
        vtimezone(chrono_tz::Europe::Berlin, 2025..=2026),
        vtimezone(chrono_tz::Europe::Berlin, 2025..=2026)
    );
}

/// Expands the written VTIMEZONE of `zone` (re-read with the `icalendar` parser, its rules expanded
/// by the `rrule` crate) and checks that it gives chrono-tz's offset every hour of `years` and on
/// both sides of every transition.
fn assert_vtimezone_agrees(zone: Tz, years: RangeInclusive<i32>) {
    let ics = vtimezone(zone, years.clone());
    let onsets = onsets(&ics, *years.end());
    let (from, to) = (year_secs(*years.start()), year_secs(years.end() + 1));
    let mut probes: Vec<i64> = (from..to).step_by(3600).collect();
    probes.extend(
        onsets.iter().flat_map(|&(t, _)| [t - 1, t, t + 1]).filter(|t| (from..to).contains(t)),
    );
    for t in probes {
        let expected =
            zone.offset_from_utc_datetime(&DateTime::from_timestamp(t, 0).unwrap().naive_utc());
        let expected = chrono::Offset::fix(&expected).local_minus_utc();
        let found = onsets.iter().rev().find(|&&(onset, _)| onset <= t);
        let found = found.unwrap_or_else(|| panic!("{zone}: nothing covers {t}\n{ics}")).1;
        assert_eq!(found, expected, "{zone} at {}\n{ics}", DateTime::from_timestamp(t, 0).unwrap());
    }
}

fn year_secs(year: i32) -> i64 {
    Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).unwrap().timestamp()
}

/// Every onset a VTIMEZONE defines up to the end of `last`, as (Unix time, offset to), sorted.
fn onsets(ics: &str, last: i32) -> Vec<(i64, i32)> {
    let parsed = reparse(&format!("BEGIN:VCALENDAR\r\nPRODID:x\r\n{ics}END:VCALENDAR\r\n"));
    let vtimezone = &parsed.components[0];
    assert_eq!(vtimezone.name.as_str(), "VTIMEZONE");
    let mut onsets = Vec::new();
    for sub in &vtimezone.components {
        let prop = |name: &str| sub.find_prop(name).map(|p| p.val.as_str().to_owned());
        let offset_from = parse_offset(&prop("TZOFFSETFROM").unwrap());
        let offset_to = parse_offset(&prop("TZOFFSETTO").unwrap());
        assert!(prop("TZNAME").is_some());
        let dtstart = prop("DTSTART").unwrap();
        let locals: Vec<i64> = match prop("RRULE") {
            None => vec![local_secs(&dtstart)],
            Some(rule) => expand(&dtstart, &rule, offset_from, last),
        };
        onsets.extend(locals.into_iter().map(|local| (local - i64::from(offset_from), offset_to)));
    }
    onsets.sort();
    onsets
}

/// The local onsets of a yearly rule, as Unix times of the local wall clock read as UTC.
fn expand(dtstart: &str, rule: &str, offset_from: i32, last: i32) -> Vec<i64> {
    // The rrule crate wants zoned times: read the local times as UTC, and move UNTIL (UTC) by the
    // offset before the onset so that it is on the same clock.
    let rule = match rule.split_once(";UNTIL=") {
        Some((head, until)) => {
            let until = local_secs(until.trim_end_matches('Z')) + i64::from(offset_from);
            let until = DateTime::from_timestamp(until, 0).unwrap().format("%Y%m%dT%H%M%SZ");
            format!("{head};UNTIL={until}")
        }
        None => rule.to_owned(),
    };
    let set: rrule::RRuleSet = format!("DTSTART:{dtstart}Z\nRRULE:{rule}").parse().unwrap();
    let before = rrule::Tz::UTC.with_ymd_and_hms(last + 1, 1, 2, 0, 0, 0).unwrap();
    let result = set.before(before).all(1000);
    assert!(!result.limited);
    result.dates.iter().map(|d| d.timestamp()).collect()
}

fn local_secs(stamp: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S").unwrap().and_utc().timestamp()
}

fn parse_offset(s: &str) -> i32 {
    let sign = if s.starts_with('-') { -1 } else { 1 };
    let part = |i: usize| s.get(i..i + 2).map_or(0, |p| p.parse::<i32>().unwrap());
    sign * (part(1) * 3600 + part(3) * 60 + part(5))
}

#[test]
fn observances_cover_the_start_of_the_range() {
    // Every zone gets an observance that starts before 1 January of the first year.
    for zone in [chrono_tz::Europe::Berlin, chrono_tz::Australia::Sydney, chrono_tz::UTC] {
        let list = observances(zone, 2025..=2025);
        assert!(list.iter().any(|o| o.start < day(2025, 1, 1).and_hms_opt(0, 0, 0).unwrap()));
    }
}
