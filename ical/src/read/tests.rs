//! Tests of the reader: one per file of the real-world corpus (the facts of its `MANIFEST.tsv`),
//! a seeded fuzz run over the corpus, and one per rule the corpus does not cover.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/ics-real");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{CORPUS}/files/{name}")).unwrap()
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(format!("{CORPUS}/files"))
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn utc(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
}

fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

fn opts(producer: Producer, from: DateTime<Utc>, to: DateTime<Utc>) -> ParseOptions {
    ParseOptions {
        from,
        to,
        floating_zone: chrono_tz::UTC,
        producer,
        max_events: 100_000,
        all_single_events: false,
        max_work: DEFAULT_MAX_WORK,
    }
}

/// Reads a corpus file for the window, free events included (as the manifest's tools count them).
fn occurrences(name: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> ParsedFeed {
    parse_with(&fixture(name), &opts(Producer::Other, from, to), true)
}

fn timed(item: &BusyItem) -> (DateTime<Utc>, DateTime<Utc>) {
    match item.span {
        Span::Timed { start, end } => (start, end),
        Span::AllDay { .. } => panic!("{item:?} is all-day"),
    }
}

fn all_day(item: &BusyItem) -> (NaiveDate, NaiveDate) {
    match item.span {
        Span::AllDay { start, end } => (start, end),
        Span::Timed { .. } => panic!("{item:?} is timed"),
    }
}

fn summary(item: &BusyItem) -> &str {
    item.summary.as_deref().unwrap_or("")
}

fn starts(feed: &ParsedFeed) -> Vec<(DateTime<Utc>, &str)> {
    feed.busy.iter().map(|b| (timed(b).0, summary(b))).collect()
}

/// Every (uid, recurrence_id) key appears once: the importer diffs runs by it.
fn assert_unique_keys(parsed: &ParsedFeed) {
    let mut keys: Vec<(&str, Option<&str>)> =
        parsed.busy.iter().map(|b| (b.uid.as_str(), b.recurrence_id.as_deref())).collect();
    let n = keys.len();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), n, "duplicate keys");
    assert!(
        parsed
            .busy
            .windows(2)
            .all(|w| super::start_instant(&w[0].span) <= super::start_instant(&w[1].span))
    );
}

fn feed(body: &str) -> Vec<u8> {
    format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{body}END:VCALENDAR\r\n")
        .into_bytes()
}

// ---------------------------------------------------------------------------------------------
// The corpus, file by file.

#[test]
fn every_corpus_file_parses_without_panic_and_counts_its_vevents() {
    let manifest = std::fs::read_to_string(format!("{CORPUS}/MANIFEST.tsv")).unwrap();
    let mut checked = 0;
    for row in manifest.lines().skip(1) {
        let cols: Vec<&str> = row.split('\t').collect();
        let (name, n_vevent) = (cols[0], cols[7].parse::<usize>().unwrap());
        let parsed =
            parse(&fixture(name), &opts(Producer::Other, utc(1990, 1, 1), utc(2030, 1, 1)));
        assert_eq!(parsed.events, n_vevent, "{name}");
        assert_unique_keys(&parsed);
        checked += 1;
    }
    assert_eq!(checked, corpus().len());
}

#[test]
fn airbnb_feed_has_eight_reservations_and_thirteen_blocks() {
    let parsed = parse(
        &fixture("airbnb_rical088_reserved_and_blocked.ics"),
        &opts(Producer::Airbnb, utc(2022, 1, 1), utc(2024, 1, 1)),
    );
    assert_eq!(parsed.events, 21);
    assert_eq!(parsed.busy.len(), 21);
    assert!(parsed.skipped.is_empty());
    let reserved: Vec<&BusyItem> =
        parsed.busy.iter().filter(|b| summary(b) == "Reserved").collect();
    assert_eq!(reserved.len(), 8);
    assert!(reserved.iter().all(|b| b.kind == ItemKind::Reservation));
    let blocked: Vec<&BusyItem> =
        parsed.busy.iter().filter(|b| summary(b) == "Airbnb (Not available)").collect();
    assert_eq!(blocked.len(), 13);
    assert!(blocked.iter().all(|b| b.kind == ItemKind::Block));
    assert!(parsed.busy.iter().all(|b| b.recurrence_id.is_none()));
    // First range in file order, earliest range, latest end.
    let first = parsed
        .busy
        .iter()
        .find(|b| b.uid == "1418fb94e984-27e43162eaca35bfa84b40446d1de17c@airbnb.com")
        .unwrap();
    assert_eq!(all_day(first), (day(2022, 9, 16), day(2022, 9, 26)));
    assert_eq!(first.kind, ItemKind::Reservation);
    assert_eq!(all_day(&parsed.busy[0]), (day(2022, 9, 16), day(2022, 9, 26)));
    let latest_end = parsed.busy.iter().map(|b| all_day(b).1).max().unwrap();
    assert_eq!(latest_end, day(2023, 9, 28));
    // Union of the ranges: 6 ranges, 305 nights.
    let mut union: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for b in &parsed.busy {
        let (s, e) = all_day(b);
        match union.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => union.push((s, e)),
        }
    }
    assert_eq!(union.len(), 6);
    let nights: i64 = union.iter().map(|(s, e)| (*e - *s).num_days()).sum();
    assert_eq!(nights, 305);
}

#[test]
fn google_toronto_overrides_listed_before_their_master_move_two_occurrences() {
    let parsed = occurrences(
        "google_toronto_recurrence_id_overrides.ics",
        utc(2009, 8, 17),
        utc(2009, 9, 14),
    );
    assert_eq!(parsed.events, 6);
    assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
    let got = starts(&parsed);
    assert_eq!(got.len(), 9);
    assert_eq!(got[0], (at(2009, 8, 17, 11, 0), "Breakfast at Tiffany's"));
    assert_eq!(got[1], (at(2009, 8, 19, 10, 30), "Repeater Event"));
    assert_eq!(got[2], (at(2009, 8, 21, 13, 0), "Breakfast at Tims"));
    assert_eq!(got[8], (at(2009, 9, 9, 10, 30), "Repeater Event"));
    // The override of the first Repeater occurrence (file order) keeps its own span.
    let repeater = parsed
        .busy
        .iter()
        .find(|b| b.recurrence_id.as_deref() == Some("20090826T103000Z"))
        .unwrap();
    assert_eq!(timed(repeater), (at(2009, 8, 26, 10, 30), at(2009, 8, 26, 14, 30)));
    // Monday 24th moved to Thursday 27th: keyed by the original start, nothing left on the 24th.
    let moved = parsed
        .busy
        .iter()
        .find(|b| b.recurrence_id.as_deref() == Some("20090824T123000Z"))
        .unwrap();
    assert_eq!(timed(moved).0, at(2009, 8, 27, 12, 30));
    assert!(!got.iter().any(|(t, _)| t.date_naive() == day(2009, 8, 24)));
}

#[test]
fn google_australian_holidays_dates_with_tzid_are_all_day_and_2005_has_26() {
    let parsed = occurrences(
        "google_aus_holidays_2006_date_with_tzid.ics",
        utc(2005, 1, 1),
        utc(2006, 1, 1),
    );
    assert_eq!(parsed.events, 96);
    assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
    assert_eq!(parsed.busy.len(), 26);
    let days: Vec<((NaiveDate, NaiveDate), &str)> =
        parsed.busy.iter().map(|b| (all_day(b), summary(b))).collect();
    assert_eq!(days[0], ((day(2005, 1, 1), day(2005, 1, 2)), "New Year"));
    assert_eq!(days[1], ((day(2005, 1, 3), day(2005, 1, 4)), "Public Holiday"));
    assert_eq!(days[2], ((day(2005, 1, 26), day(2005, 1, 27)), "Australia Day"));
    assert_eq!(days[25], ((day(2005, 12, 27), day(2005, 12, 28)), "Public Holiday"));
    // DTSTART;TZID=America/Los_Angeles:20041225 with DURATION:PT86400S, yearly.
    let christmas = parsed.busy.iter().find(|b| summary(b) == "Christmas").unwrap();
    assert_eq!(all_day(christmas), (day(2005, 12, 25), day(2005, 12, 26)));
    assert_eq!(christmas.recurrence_id.as_deref(), Some("20051225"));
}

#[test]
fn google_biweekly_series_honours_folded_and_mismatched_exdates() {
    let parsed = occurrences(
        "google_style_biweekly_exdate_mixed_types.ics",
        utc(2017, 2, 1),
        utc(2017, 9, 1),
    );
    assert_eq!(parsed.events, 2);
    let got = starts(&parsed);
    assert_eq!(got.len(), 25);
    let name = "Example of comma-separated exdates";
    assert_eq!(got[0], (at(2017, 2, 16, 15, 0), name));
    assert_eq!(got[1], (at(2017, 2, 27, 15, 0), name));
    assert_eq!(got[2], (at(2017, 3, 2, 15, 0), name));
    assert_eq!(got[24], (at(2017, 8, 29, 14, 0), "Example of exdate with bad times"));
    // US/Central (legacy name, no VTIMEZONE): 09:00-19:00 CST.
    assert_eq!(timed(&parsed.busy[0]).1, at(2017, 2, 17, 1, 0));
    // The folded EXDATE list removed 2017-07-06, -17, -20 and 08-03.
    for excluded in [day(2017, 7, 6), day(2017, 7, 17), day(2017, 7, 20), day(2017, 8, 3)] {
        assert!(!got.iter().any(|(t, _)| t.date_naive() == excluded), "{excluded}");
    }
    // Floating and DATE EXDATEs against a UTC series match by date.
    let late = occurrences(
        "google_style_biweekly_exdate_mixed_types.ics",
        utc(2017, 12, 1),
        utc(2018, 1, 1),
    );
    let late: Vec<NaiveDate> = late.busy.iter().map(|b| timed(b).0.date_naive()).collect();
    // Mondays and Tuesdays every other week: 4, 5, 18, 19 December, less the last two.
    assert_eq!(late, vec![day(2017, 12, 4), day(2017, 12, 5)]);
}

#[test]
fn google_event_with_alarms_serialises_to_the_cli_contract() {
    let parsed = parse(
        &fixture("google_alarm_valarm_rrule.ics"),
        &opts(Producer::Google, utc(2024, 1, 1), utc(2025, 1, 1)),
    );
    assert_eq!(parsed.calendar_zone.as_deref(), Some("Europe/London"));
    assert_eq!(
        serde_json::to_value(&parsed).unwrap(),
        serde_json::json!({
            "events": 1,
            "skipped": [],
            "busy": [{
                "start": "2024-10-04T18:15:00Z",
                "end": "2024-10-04T19:00:00Z",
                "all_day": false,
                "uid": "79fs7pkqvht9m5igs0vjv1sfra@google.com",
                "recurrence_id": null,
                "summary": "event with alarms",
                "kind": "event",
            }],
        })
    );
}

#[test]
fn exchange_display_name_tzids_map_to_sydney_and_new_york() {
    let name = "exchange2010_owa_display_name_tzids_no_vtimezone.ics";
    let parsed = occurrences(name, utc(2020, 10, 1), utc(2020, 12, 1));
    assert_eq!(parsed.events, 4);
    let got = starts(&parsed);
    assert_eq!(got.len(), 12);
    assert_eq!(got[0], (at(2020, 10, 28, 2, 30), "TEST Syd"));
    assert_eq!(got[1], (at(2020, 10, 28, 17, 30), "TEST"));
    assert_eq!(got[2], (at(2020, 11, 2, 18, 30), "TEST 3"));
    assert_eq!(got[3], (at(2020, 11, 2, 18, 30), "TEST2"));
    assert_eq!(got[11], (at(2020, 11, 27, 18, 30), "TEST2"));
    // No UIDs: synthesised, distinct per event, stable across runs.
    let again = occurrences(name, utc(2020, 10, 1), utc(2020, 12, 1));
    assert_eq!(parsed.busy, again.busy);
    assert!(parsed.busy.iter().all(|b| b.uid.starts_with("kalends-") && b.uid.len() == 40));
    let mut uids: Vec<&str> = parsed.busy.iter().map(|b| b.uid.as_str()).collect();
    uids.sort_unstable();
    uids.dedup();
    assert_eq!(uids.len(), 4);
}

#[test]
fn exchange_quoted_value_bug_is_repaired_to_44_occurrences_in_september_2020() {
    let name = "exchange2010_windows_tzids_quoted_value_bug.ics";
    let parsed = occurrences(name, utc(2020, 9, 1), utc(2020, 10, 1));
    assert_eq!(parsed.events, 4);
    assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
    assert_eq!(parsed.busy.len(), 44);
    let jira: Vec<&BusyItem> =
        parsed.busy.iter().filter(|b| summary(b) == "Log Yesterday's Jira time").collect();
    // Mon-Sat 09:00 Europe/Berlin.
    assert_eq!(jira.len(), 26);
    assert!(jira.iter().all(|b| timed(b).0.format("%H:%M").to_string() == "07:00"));
    let pacific: Vec<DateTime<Utc>> = parsed
        .busy
        .iter()
        .filter(|b| summary(b) == "Not the actual summary either")
        .map(|b| timed(b).0)
        .collect();
    assert_eq!(pacific.len(), 16);
    assert_eq!(pacific[0], at(2020, 9, 1, 19, 0));
    assert_eq!(pacific[1], at(2020, 9, 4, 19, 0));
    assert_eq!(pacific[2], at(2020, 9, 6, 19, 0));
    assert_eq!(pacific[15], at(2020, 9, 29, 19, 0));
    // W. Europe Standard Time -> Europe/Berlin.
    let test = parsed.busy.iter().find(|b| summary(b) == "test").unwrap();
    assert_eq!(timed(test), (at(2020, 9, 10, 7, 0), at(2020, 9, 10, 7, 30)));
    // Both series are TRANSP:TRANSPARENT: not busy in a real import.
    let real = parse(&fixture(name), &opts(Producer::Outlook, utc(2020, 9, 1), utc(2020, 10, 1)));
    assert_eq!(real.busy.len(), 2);
    let free = real.skipped.iter().filter(|s| s.reason == "transparent (free)").count();
    assert_eq!(free, 2);
}

#[test]
fn office365_daily_every_other_day_until_gives_two_meetings() {
    let parsed = occurrences(
        "exchange2010_o365_teams_meeting_request.ics",
        utc(2020, 11, 20),
        utc(2020, 12, 1),
    );
    assert_eq!(parsed.events, 1);
    let name = "Testmeeting ➡ ignore it!";
    assert_eq!(
        starts(&parsed),
        vec![(at(2020, 11, 24, 10, 0), name), (at(2020, 11, 26, 10, 0), name)]
    );
    assert_eq!(timed(&parsed.busy[0]).1, at(2020, 11, 24, 10, 30));
}

#[test]
fn outlook16_tab_folded_lines_and_quoted_windows_tzid_are_read() {
    let parsed = occurrences("outlook16_tab_folding_crlf.ics", utc(2021, 1, 1), utc(2022, 1, 1));
    assert_eq!(parsed.events, 1);
    assert_eq!(summary(&parsed.busy[0]), "Software-QS-Cast Application Performance Monitoring");
    assert_eq!(timed(&parsed.busy[0]), (at(2021, 5, 27, 8, 30), at(2021, 5, 27, 10, 0)));
}

#[test]
fn outlook12_padded_summary_is_trimmed() {
    let parsed =
        occurrences("outlook12_tab_folding_x_alt_desc_html.ics", utc(2007, 1, 1), utc(2008, 1, 1));
    assert_eq!(parsed.events, 1);
    assert_eq!(summary(&parsed.busy[0]), "Session #6:  Signature distribution overview");
    assert_eq!(timed(&parsed.busy[0]), (at(2007, 3, 14, 17, 0), at(2007, 3, 14, 18, 0)));
}

#[test]
fn outlook11_file_without_version_has_five_biweekly_meetings() {
    let parsed = occurrences(
        "outlook11_version_glued_to_prodid_no_version.ics",
        utc(2008, 1, 1),
        utc(2008, 3, 1),
    );
    assert_eq!(parsed.events, 1);
    let got = starts(&parsed);
    assert_eq!(got.len(), 5);
    assert_eq!(got[0], (at(2008, 1, 3, 16, 0), "NIP"));
    assert_eq!(got[1].0, at(2008, 1, 17, 16, 0));
    assert_eq!(got[2].0, at(2008, 1, 31, 16, 0));
    assert_eq!(got[4].0, at(2008, 2, 28, 16, 0));
    assert_eq!(timed(&parsed.busy[0]).1, at(2008, 1, 3, 16, 30));
}

#[test]
fn exchange_empty_tzid_is_floating() {
    let name = "exchange2010_empty_tzid.ics";
    let parsed = occurrences(name, utc(2015, 1, 1), utc(2016, 1, 1));
    assert_eq!(parsed.events, 1);
    let item = &parsed.busy[0];
    assert_eq!(item.summary, None);
    assert_eq!(item.uid, "t21ocubdt9jagerldbkak7uhcg@google.com");
    assert_eq!(timed(item), (at(2015, 8, 26, 9, 0), at(2015, 8, 26, 10, 0)));
    let mut berlin = opts(Producer::Other, utc(2015, 1, 1), utc(2016, 1, 1));
    berlin.floating_zone = chrono_tz::Europe::Berlin;
    let parsed = parse(&fixture(name), &berlin);
    assert_eq!(timed(&parsed.busy[0]).0, at(2015, 8, 26, 7, 0));
}

#[test]
fn iphone_structured_location_with_escaped_parameter_does_not_disturb_the_event() {
    let parsed =
        occurrences("apple_iphoneos26_structured_location.ics", utc(2026, 1, 1), utc(2027, 1, 1));
    assert_eq!(parsed.events, 1);
    assert!(parsed.skipped.is_empty());
    assert_eq!(summary(&parsed.busy[0]), "Antrag auf ID Austria");
    assert_eq!(timed(&parsed.busy[0]), (at(2026, 5, 22, 8, 30), at(2026, 5, 22, 8, 40)));
}

#[test]
fn apple_ical10_todos_and_freebusy_are_not_events() {
    let parsed =
        occurrences("apple_ical10_vtodo_vfreebusy_mixed.ics", utc(2002, 1, 1), utc(2003, 1, 1));
    assert_eq!(parsed.events, 3);
    assert_eq!(parsed.busy.len(), 3);
    assert_eq!(summary(&parsed.busy[0]), "Coffee with Jason");
    assert_eq!(timed(&parsed.busy[0]), (at(2002, 10, 28, 22, 0), at(2002, 10, 28, 23, 0)));
}

#[test]
fn apple_us_holidays_have_27_days_in_2007_with_ordinal_weekdays() {
    let parsed =
        occurrences("apple_ical20_us_holidays_allday.ics", utc(2007, 1, 1), utc(2008, 1, 1));
    assert_eq!(parsed.events, 36);
    assert_eq!(parsed.busy.len(), 27);
    let days: Vec<(NaiveDate, &str)> =
        parsed.busy.iter().map(|b| (all_day(b).0, summary(b))).collect();
    assert_eq!(days[0], (day(2007, 1, 1), "New Year's Day"));
    assert_eq!(days[1], (day(2007, 1, 15), "Martin Luther King, Jr. Day"));
    assert_eq!(days[2], (day(2007, 2, 2), "Groundhog Day"));
    assert_eq!(days[26], (day(2007, 12, 25), "Christmas"));
    assert!(days.contains(&(day(2007, 11, 11), "Veteran's Day")));
    assert!(parsed.busy.iter().all(|b| {
        let (s, e) = all_day(b);
        e == s.succ_opt().unwrap()
    }));
}

#[test]
fn sabredav_date_with_tzid_stays_a_forty_day_all_day_block() {
    let parsed = occurrences(
        "sabredav_calovo_school_holidays_date_with_tzid.ics",
        utc(2018, 1, 1),
        utc(2019, 1, 1),
    );
    assert_eq!(parsed.events, 1);
    let (s, e) = all_day(&parsed.busy[0]);
    assert_eq!((s, e), (day(2018, 7, 2), day(2018, 8, 11)));
    assert_eq!((e - s).num_days(), 40);
    assert_eq!(summary(&parsed.busy[0]), "Sommerferien Sachsen");
}

#[test]
fn owncloud_file_with_only_todos_yields_no_events_and_no_errors() {
    let parsed = occurrences("owncloud063_vtodo_only_utf8.ics", utc(2000, 1, 1), utc(2030, 1, 1));
    assert_eq!(parsed.events, 0);
    assert!(parsed.busy.is_empty());
    assert!(parsed.skipped.is_empty());
}

#[test]
fn evolution_vendor_prefixed_tzid_defined_after_the_event_is_chicago() {
    let parsed = occurrences("evolution_ximian_event.ics", utc(2008, 1, 1), utc(2009, 1, 1));
    assert_eq!(parsed.events, 1);
    assert_eq!(timed(&parsed.busy[0]), (at(2008, 6, 24, 18, 0), at(2008, 6, 24, 19, 30)));
}

#[test]
fn korganizer_mixed_case_names_give_three_birthdays() {
    let parsed = occurrences("korganizer_mixed_case_names.ics", utc(2005, 1, 1), utc(2008, 1, 1));
    assert_eq!(parsed.events, 1);
    let days: Vec<(NaiveDate, NaiveDate)> = parsed.busy.iter().map(all_day).collect();
    assert_eq!(
        days,
        vec![
            (day(2005, 1, 16), day(2005, 1, 17)),
            (day(2006, 1, 16), day(2006, 1, 17)),
            (day(2007, 1, 16), day(2007, 1, 17)),
        ]
    );
    assert!(parsed.busy.iter().all(|b| summary(b) == "Ted's Birthday"));
}

#[test]
fn lotus_notes_custom_eastern_vtimezone_and_rrule_parameter_give_five_days() {
    let parsed =
        occurrences("lotus_notes6_rrule_with_tzid_param.ics", utc(2005, 4, 1), utc(2005, 5, 1));
    assert_eq!(parsed.events, 1);
    let got = starts(&parsed);
    let name = "5 day daily repeating meeting";
    assert_eq!(got, (11..=15).map(|d| (at(2005, 4, d, 13, 0), name)).collect::<Vec<_>>());
    assert_eq!(timed(&parsed.busy[0]).1, at(2005, 4, 11, 14, 0));
}

#[test]
fn thunderbird_europe_london_event_is_in_summer_time() {
    let parsed =
        occurrences("thunderbird_alarms_europe_london.ics", utc(2024, 1, 1), utc(2025, 1, 1));
    assert_eq!(parsed.events, 1);
    assert_eq!(timed(&parsed.busy[0]), (at(2024, 10, 23, 14, 0), at(2024, 10, 23, 15, 0)));
}

#[test]
fn mozilla_binary_attachment_and_forward_vtimezone_give_25_occurrences() {
    let parsed = occurrences("mozilla_base64_binary_attach.ics", utc(1997, 9, 1), utc(1998, 1, 1));
    assert_eq!(parsed.events, 1);
    let got = starts(&parsed);
    assert_eq!(got.len(), 25);
    assert_eq!(got[0].0, at(1997, 9, 2, 13, 0));
    assert_eq!(got[1].0, at(1997, 9, 3, 13, 0));
    assert_eq!(got[2].0, at(1997, 9, 5, 13, 0));
    assert_eq!(got[24].0, at(1997, 12, 22, 14, 0));
    // The floating DTEND is read in DTSTART's zone: one hour.
    assert_eq!(timed(&parsed.busy[0]).1, at(1997, 9, 2, 14, 0));
}

#[test]
fn mozilla_calendar10_tolerates_year_minus_one_todo_and_keeps_seven_events() {
    let parsed =
        occurrences("mozilla_calendar10_vtodo_valarm_mix.ics", utc(2004, 12, 1), utc(2005, 1, 2));
    assert_eq!(parsed.events, 7);
    let find = |s: &str| parsed.busy.iter().find(|b| summary(b) == s);
    assert_eq!(all_day(find("Christmas Day").unwrap()), (day(2004, 12, 25), day(2004, 12, 26)));
    assert_eq!(all_day(find("New Year").unwrap()), (day(2005, 1, 1), day(2005, 1, 2)));
    assert_eq!(
        timed(find("Weekly Meeting").unwrap()),
        (at(2004, 12, 20, 15, 10), at(2004, 12, 20, 16, 10))
    );
    // Zero length: an instant, still an event.
    let due = find("MCSD Due Date").unwrap();
    assert_eq!(timed(due), (at(2004, 12, 6, 9, 0), at(2004, 12, 6, 9, 0)));
    assert_eq!(all_day(find("Pete's Birthday").unwrap()).0, day(2004, 12, 28));
    assert_eq!(all_day(find("Wedding Anniversary").unwrap()).0, day(2004, 12, 3));
    // The chess competition is STATUS:CANCELLED.
    assert!(find("Chinese Chess Compeitition").is_none());
    assert_eq!(parsed.skipped.len(), 1);
    assert_eq!(parsed.skipped[0].reason, "cancelled");
    assert_eq!(parsed.skipped[0].uid.as_deref(), Some("11d0751a-4fe3-11d9-ad61-d99ae0821462"));
}

#[test]
fn meetup_phoenix_event_has_no_daylight_saving() {
    let parsed = occurrences("meetup_remoteapi_phoenix.ics", utc(2011, 1, 1), utc(2012, 1, 1));
    assert_eq!(parsed.events, 1);
    assert_eq!(summary(&parsed.busy[0]), "Phoenix Drupal User Group Monthly Meetup");
    assert_eq!(timed(&parsed.busy[0]), (at(2011, 11, 10, 2, 0), at(2011, 11, 10, 4, 0)));
}

#[test]
fn school_feed_with_broken_vtimezone_reads_its_floating_event() {
    let name = "school_wordpress_events_calendar_broken_vtimezone.ics";
    let mut options = opts(Producer::Other, utc(2024, 1, 1), utc(2025, 1, 1));
    options.floating_zone = chrono_tz::America::Los_Angeles;
    let parsed = parse(&fixture(name), &options);
    assert_eq!(parsed.events, 1);
    assert_eq!(summary(&parsed.busy[0]), "Possible Snow Makeup Day");
    assert_eq!(timed(&parsed.busy[0]), (at(2024, 6, 27, 7, 0), at(2024, 6, 28, 6, 0)));
}

#[test]
fn lastfm_blank_lines_and_empty_geo_leave_33_floating_events() {
    let parsed =
        occurrences("lastfm_events_blank_lines_floating.ics", utc(2000, 1, 1), utc(2030, 1, 1));
    assert_eq!(parsed.events, 33);
    assert_eq!(parsed.busy.len(), 33);
    let first = parsed
        .busy
        .iter()
        .find(|b| summary(b) == "Gerard van Maasakkers en de vaste mannen - Deze Jongen")
        .unwrap();
    assert_eq!(timed(first), (at(2010, 2, 10, 20, 30), at(2010, 2, 10, 23, 59)));
}

#[test]
fn tvcountdown_floating_times_use_x_wr_timezone_us_eastern() {
    let parsed =
        occurrences("tvcountdown_floating_value_datetime.ics", utc(2000, 1, 1), utc(2030, 1, 1));
    assert_eq!(parsed.events, 27);
    let first = parsed
        .busy
        .iter()
        .find(|b| summary(b) == "The Big Bang Theory - S04E24 - The Roomate Transmogrfication")
        .unwrap();
    assert_eq!(timed(first), (at(2011, 5, 20, 0, 0), at(2011, 5, 20, 0, 30)));
    // Two episodes share one UID and one time slot: one item, the other skipped as a duplicate.
    assert_eq!(parsed.busy.len(), 26);
    assert_eq!(parsed.skipped.len(), 1);
    assert!(parsed.skipped[0].reason.starts_with("duplicate UID"));
}

#[test]
fn trumba_explicit_value_date_time_is_utc() {
    let parsed = occurrences("trumba_f1_value_datetime.ics", utc(2012, 1, 1), utc(2013, 1, 1));
    assert_eq!(parsed.events, 1);
    assert_eq!(summary(&parsed.busy[0]), "Australian Grand Prix");
    assert_eq!(timed(&parsed.busy[0]), (at(2012, 3, 18, 6, 0), at(2012, 3, 18, 8, 0)));
}

#[test]
fn bloc_jp_invalid_utf8_imports_with_replacement_characters() {
    let parsed =
        occurrences("blocjp_corrupted_utf8_japanese.ics", utc(2005, 1, 1), utc(2006, 1, 1));
    assert_eq!(parsed.events, 1);
    assert_eq!(summary(&parsed.busy[0]), "2005年日本国際\u{FFFD}?\u{FFFD}覧会");
    assert_eq!(all_day(&parsed.busy[0]), (day(2005, 3, 25), day(2005, 9, 26)));
}

#[test]
fn mozilla10_bom_and_names_folded_before_the_colon_give_six_events() {
    let parsed = occurrences(
        "mozilla10_bom_and_names_folded_before_colon.ics",
        utc(2006, 1, 1),
        utc(2007, 1, 1),
    );
    assert_eq!(parsed.events, 6);
    assert_eq!(parsed.busy.len(), 6);
    let jul = parsed.busy.iter().find(|b| summary(b) == "God Jul").unwrap();
    assert_eq!(timed(jul), (at(2006, 12, 24, 0, 0), at(2006, 12, 24, 23, 0)));
}

#[test]
fn sixt_organizer_without_value_does_not_abort_and_the_free_rental_is_not_busy() {
    let name = "sixt_rac_long_lines_utf8.ics";
    let parsed = occurrences(name, utc(2019, 1, 1), utc(2020, 1, 1));
    assert_eq!(parsed.events, 1);
    assert_eq!(summary(&parsed.busy[0]), "Sixt : détails de votre réservation");
    assert_eq!(timed(&parsed.busy[0]), (at(2019, 6, 24, 6, 30), at(2019, 6, 24, 16, 30)));
    let real = parse(&fixture(name), &opts(Producer::Other, utc(2019, 1, 1), utc(2020, 1, 1)));
    assert!(real.busy.is_empty());
    assert_eq!(real.skipped.len(), 1);
    assert_eq!(real.skipped[0].reason, "transparent (free)");
    assert_eq!(real.skipped[0].uid.as_deref(), Some("SIXT_9879691160"));
}

// ---------------------------------------------------------------------------------------------
// Robustness.

fn mutate(rng: &mut StdRng, input: &[u8]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        if bytes.is_empty() {
            break;
        }
        let len = bytes.len();
        match rng.random_range(0..7) {
            0 => bytes.truncate(rng.random_range(0..len)),
            1 => {
                for _ in 0..rng.random_range(1..16) {
                    let i = rng.random_range(0..bytes.len());
                    bytes[i] = rng.random();
                }
            }
            2..=4 => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let mut lines: Vec<&str> = text.split('\n').collect();
                let i = rng.random_range(0..lines.len());
                match rng.random_range(0..3) {
                    0 => {
                        lines.remove(i);
                    }
                    1 => lines.insert(i, lines[i]),
                    _ => {
                        const JUNK: [&str; 12] = [
                            "BEGIN:VEVENT",
                            "END:VEVENT",
                            "BEGIN:VALARM",
                            "END:VCALENDAR",
                            "RRULE:FREQ=SECONDLY",
                            "RRULE:FREQ=DAILY;BYSETPOS=3;BYMONTH=2;BYMONTHDAY=31",
                            "EXDATE:99999999T999999Z",
                            "DTSTART;TZID=\"broken:20200101T000000",
                            "RECURRENCE-ID;VALUE=DATE:00000101",
                            "DURATION:P99999999W",
                            " \t",
                            ";:;:\"\"\"",
                        ];
                        lines.insert(i, JUNK[rng.random_range(0..JUNK.len())]);
                    }
                }
                bytes = lines.join("\n").into_bytes();
            }
            5 => {
                let at = rng.random_range(0..len);
                let junk: Vec<u8> = (0..rng.random_range(1..32)).map(|_| rng.random()).collect();
                bytes.splice(at..at, junk);
            }
            _ => {
                let a = rng.random_range(0..len);
                let b = rng.random_range(a..len);
                let copy = bytes[a..b].to_vec();
                let at = rng.random_range(0..bytes.len());
                bytes.splice(at..at, copy);
            }
        }
    }
    bytes
}

#[test]
fn seeded_mutations_of_the_corpus_never_panic() {
    let files = corpus();
    let mut rng = StdRng::seed_from_u64(0x006b_616c_656e_6473);
    // Four years around most of the corpus' recurring series.
    let options = opts(Producer::BookingCom, utc(2004, 6, 1), utc(2008, 6, 1));
    let n = 2_500;
    for _ in 0..n {
        let (_, bytes) = &files[rng.random_range(0..files.len())];
        let mutated = mutate(&mut rng, bytes);
        let parsed = parse(&mutated, &options);
        assert_unique_keys(&parsed);
    }
}

// ---------------------------------------------------------------------------------------------
// Rules the corpus does not cover.

#[test]
fn booking_com_adjacent_nights_merge_into_one_stay() {
    let mut body = String::new();
    for (i, (s, e)) in [
        ("20300105", "20300106"),
        ("20300106", "20300107"),
        ("20300107", "20300108"),
        ("20300110", "20300111"),
        ("20300110", "20300112"),
    ]
    .iter()
    .enumerate()
    {
        body.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:night-{i}@booking.com\r\nDTSTART;VALUE=DATE:{s}\r\nDTEND;VALUE=DATE:{e}\r\nSUMMARY:CLOSED - Not available\r\nEND:VEVENT\r\n"
        ));
    }
    let options = opts(Producer::BookingCom, utc(2030, 1, 1), utc(2031, 1, 1));
    let parsed = parse(&feed(&body), &options);
    assert_eq!(parsed.events, 5);
    let stays: Vec<(&str, (NaiveDate, NaiveDate), ItemKind)> =
        parsed.busy.iter().map(|b| (b.uid.as_str(), all_day(b), b.kind)).collect();
    assert_eq!(
        stays,
        vec![
            ("night-0@booking.com", (day(2030, 1, 5), day(2030, 1, 8)), ItemKind::Block),
            ("night-3@booking.com", (day(2030, 1, 10), day(2030, 1, 12)), ItemKind::Block),
        ]
    );
    // Deterministic: the same feed in another order merges to the same keys.
    let reversed: String = {
        let mut blocks: Vec<&str> = body.split_inclusive("END:VEVENT\r\n").collect();
        blocks.reverse();
        blocks.concat()
    };
    assert_eq!(parse(&feed(&reversed), &options).busy, parsed.busy);
    // Other producers do not merge.
    let other = parse(&feed(&body), &opts(Producer::Other, utc(2030, 1, 1), utc(2031, 1, 1)));
    assert_eq!(other.busy.len(), 5);
}

#[test]
fn vrbo_and_airbnb_summaries_map_to_reservations_and_blocks() {
    let body = "BEGIN:VEVENT\r\nUID:a\r\nDTSTART;VALUE=DATE:20300101\r\nDTEND;VALUE=DATE:20300103\r\nSUMMARY:Reserved - Jane\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:b\r\nDTSTART;VALUE=DATE:20300105\r\nDTEND;VALUE=DATE:20300106\r\nSUMMARY:Blocked\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:c\r\nDTSTART;VALUE=DATE:20300107\r\nDTEND;VALUE=DATE:20300108\r\nSUMMARY:Unavailable\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:d\r\nDTSTART;VALUE=DATE:20300109\r\nDTEND;VALUE=DATE:20300110\r\nSUMMARY:Not available\r\nEND:VEVENT\r\n";
    let kinds = |producer| {
        parse(&feed(body), &opts(producer, utc(2030, 1, 1), utc(2031, 1, 1)))
            .busy
            .iter()
            .map(|b| b.kind)
            .collect::<Vec<_>>()
    };
    use ItemKind::*;
    assert_eq!(kinds(Producer::Vrbo), vec![Reservation, Block, Block, Block]);
    assert_eq!(kinds(Producer::Airbnb), vec![Reservation, Block, Block, Block]);
    assert_eq!(kinds(Producer::Google), vec![Event, Event, Event, Event]);
}

#[test]
fn monthly_bysetpos_rule_takes_the_last_weekday() {
    let body = "BEGIN:VEVENT\r\nUID:pos\r\nDTSTART:20300101T100000Z\r\nDURATION:PT1H\r\nRRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1\r\nEND:VEVENT\r\n";
    let parsed = parse(&feed(body), &opts(Producer::Other, utc(2030, 1, 1), utc(2030, 4, 1)));
    let got: Vec<DateTime<Utc>> = parsed.busy.iter().map(|b| timed(b).0).collect();
    // Jan 1 (DTSTART, always an occurrence), then the last weekdays of January to March 2030.
    assert_eq!(
        got,
        vec![
            at(2030, 1, 1, 10, 0),
            at(2030, 1, 31, 10, 0),
            at(2030, 2, 28, 10, 0),
            at(2030, 3, 29, 10, 0)
        ]
    );
    assert_eq!(timed(&parsed.busy[1]).1, at(2030, 1, 31, 11, 0));
}

#[test]
fn exdates_in_lists_on_several_lines_and_of_the_other_type_remove_occurrences() {
    let body = "BEGIN:VEVENT\r\nUID:ex\r\nDTSTART;TZID=Europe/Paris:20300101T090000\r\nDTEND;TZID=Europe/Paris:20300101T100000\r\nRRULE:FREQ=DAILY;COUNT=10\r\n\
EXDATE;TZID=Europe/Paris:20300102T090000,20300103T090000\r\nEXDATE:20300104T080000Z\r\nEXDATE;VALUE=DATE:20300105\r\nEXDATE:20300106T090000\r\nEND:VEVENT\r\n";
    let parsed = parse(&feed(body), &opts(Producer::Other, utc(2030, 1, 1), utc(2030, 2, 1)));
    let got: Vec<u32> = parsed.busy.iter().map(|b| timed(b).0.date_naive().day0() + 1).collect();
    assert_eq!(got, vec![1, 7, 8, 9, 10]);
    assert_eq!(parsed.busy[0].recurrence_id.as_deref(), Some("20300101T080000Z"));
}

#[test]
fn overrides_move_occurrences_into_and_out_of_the_window_and_cancel_them() {
    let body = "BEGIN:VEVENT\r\nUID:w\r\nRECURRENCE-ID:20300103T090000Z\r\nDTSTART:20300301T090000Z\r\nDTEND:20300301T100000Z\r\nSUMMARY:moved out\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:w\r\nDTSTART:20300101T090000Z\r\nDTEND:20300101T100000Z\r\nRRULE:FREQ=WEEKLY;BYDAY=TH\r\nSUMMARY:weekly\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:w\r\nRECURRENCE-ID:20300214T090000Z\r\nDTSTART:20300108T120000Z\r\nDTEND:20300108T130000Z\r\nSUMMARY:moved in\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:w\r\nRECURRENCE-ID:20300110T090000Z\r\nDTSTART:20300110T090000Z\r\nSTATUS:CANCELLED\r\nEND:VEVENT\r\n";
    let parsed = parse(&feed(body), &opts(Producer::Other, utc(2030, 1, 1), utc(2030, 1, 20)));
    let got: Vec<(DateTime<Utc>, &str, Option<&str>)> =
        parsed.busy.iter().map(|b| (timed(b).0, summary(b), b.recurrence_id.as_deref())).collect();
    assert_eq!(
        got,
        vec![
            (at(2030, 1, 1, 9, 0), "weekly", Some("20300101T090000Z")),
            (at(2030, 1, 8, 12, 0), "moved in", Some("20300214T090000Z")),
            (at(2030, 1, 17, 9, 0), "weekly", Some("20300117T090000Z")),
        ]
    );
    assert_eq!(parsed.skipped.len(), 1);
    assert_eq!(parsed.skipped[0].reason, "cancelled");
}

#[test]
fn all_day_override_with_utc_recurrence_id_replaces_its_day() {
    let body = "BEGIN:VEVENT\r\nUID:h\r\nDTSTART;VALUE=DATE:20300425\r\nDTEND;VALUE=DATE:20300426\r\nRRULE:FREQ=YEARLY\r\nSUMMARY:Holiday\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:h\r\nRECURRENCE-ID:20310425T000000Z\r\nDTSTART;VALUE=DATE:20310428\r\nDTEND;VALUE=DATE:20310429\r\nSUMMARY:Holiday (observed)\r\nEND:VEVENT\r\n";
    let parsed = parse(&feed(body), &opts(Producer::Other, utc(2031, 1, 1), utc(2032, 1, 1)));
    let got: Vec<(NaiveDate, &str, Option<&str>)> = parsed
        .busy
        .iter()
        .map(|b| (all_day(b).0, summary(b), b.recurrence_id.as_deref()))
        .collect();
    assert_eq!(got, vec![(day(2031, 4, 28), "Holiday (observed)", Some("20310425"))]);
}

#[test]
fn cancelled_and_transparent_events_are_not_busy() {
    let body = "BEGIN:VEVENT\r\nUID:c\r\nDTSTART:20300101T090000Z\r\nSTATUS:CANCELLED\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:t\r\nDTSTART:20300101T090000Z\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:b\r\nDTSTART:20300101T090000Z\r\nDTEND:20300101T100000Z\r\nTRANSP:OPAQUE\r\nSTATUS:CONFIRMED\r\nEND:VEVENT\r\n";
    let parsed = parse(&feed(body), &opts(Producer::Other, utc(2030, 1, 1), utc(2031, 1, 1)));
    assert_eq!(parsed.events, 3);
    assert_eq!(parsed.busy.len(), 1);
    assert_eq!(parsed.busy[0].uid, "b");
    let reasons: Vec<(Option<&str>, &str)> =
        parsed.skipped.iter().map(|s| (s.uid.as_deref(), s.reason.as_str())).collect();
    assert_eq!(reasons, vec![(Some("c"), "cancelled"), (Some("t"), "transparent (free)")]);
}

#[test]
fn events_over_max_events_are_counted_and_skipped() {
    let mut body = String::new();
    for i in 0..5 {
        body.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:{i}\r\nDTSTART;VALUE=DATE:2030010{}\r\nEND:VEVENT\r\n",
            i + 1
        ));
    }
    let mut options = opts(Producer::Other, utc(2030, 1, 1), utc(2031, 1, 1));
    options.max_events = 3;
    let parsed = parse(&feed(&body), &options);
    assert_eq!(parsed.events, 5);
    assert_eq!(parsed.busy.len(), 3);
    assert_eq!(parsed.skipped.len(), 1);
    assert_eq!(parsed.skipped[0].uid, None);
    assert_eq!(parsed.skipped[0].reason, "2 VEVENTs over the limit of 3 were not read");
}

#[test]
fn one_broken_vevent_is_skipped_and_the_rest_import() {
    let body = "BEGIN:VEVENT\r\nUID:good-1\r\nDTSTART;VALUE=DATE:20300101\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:bad-date\r\nDTSTART:2030-13-45\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:no-start\r\nSUMMARY:nothing\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:bad-rule\r\nDTSTART:20300101T090000Z\r\nRRULE:FREQ=SOMETIMES\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:good-2\r\nORGANIZER;CN=x\r\nDTSTART;VALUE=DATE:20300102\r\nEND:VEVENT\r\n";
    let parsed = parse(&feed(body), &opts(Producer::Other, utc(2030, 1, 1), utc(2031, 1, 1)));
    assert_eq!(parsed.events, 5);
    let uids: Vec<&str> = parsed.busy.iter().map(|b| b.uid.as_str()).collect();
    assert_eq!(uids, vec!["good-1", "good-2"]);
    let reasons: Vec<(&str, &str)> =
        parsed.skipped.iter().map(|s| (s.uid.as_deref().unwrap(), s.reason.as_str())).collect();
    assert_eq!(
        reasons,
        vec![
            ("bad-date", "unreadable DTSTART (2030-13-45)"),
            ("no-start", "no DTSTART"),
            ("bad-rule", "unreadable RRULE (FREQ=SOMETIMES)"),
        ]
    );
}

#[test]
fn an_open_ended_minutely_rule_from_1970_is_capped_not_walked() {
    let body = "BEGIN:VEVENT\r\nUID:m\r\nDTSTART:19700101T000000Z\r\nRRULE:FREQ=MINUTELY\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:d\r\nDTSTART:19700101T090000Z\r\nDURATION:PT1H\r\nRRULE:FREQ=DAILY\r\nEND:VEVENT\r\n";
    let parsed = parse(&feed(body), &opts(Producer::Other, utc(2030, 1, 1), utc(2030, 3, 1)));
    let daily = parsed.busy.iter().filter(|b| b.uid == "d").count();
    assert_eq!(daily, 59);
    let minutely = parsed.busy.iter().filter(|b| b.uid == "m").count();
    assert!(minutely > 0 && minutely <= events::MAX_OCCURRENCES_PER_SERIES);
    assert_eq!(parsed.skipped.len(), 1);
    assert_eq!(parsed.skipped[0].uid.as_deref(), Some("m"));
    assert!(parsed.skipped[0].reason.starts_with("recurrence stopped after"));
}

#[test]
fn rdate_and_until_forms_shape_a_series() {
    let body = "BEGIN:VEVENT\r\nUID:r\r\nDTSTART;VALUE=DATE:20300101\r\nRRULE:FREQ=WEEKLY;UNTIL=20300115\r\nRDATE;VALUE=DATE:20300120,20300125\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:f\r\nDTSTART:20300101T090000\r\nRRULE:FREQ=DAILY;UNTIL=20300103T090000\r\nEND:VEVENT\r\n";
    let parsed = parse(&feed(body), &opts(Producer::Other, utc(2030, 1, 1), utc(2031, 1, 1)));
    let r: Vec<NaiveDate> =
        parsed.busy.iter().filter(|b| b.uid == "r").map(|b| all_day(b).0).collect();
    assert_eq!(
        r,
        vec![
            day(2030, 1, 1),
            day(2030, 1, 8),
            day(2030, 1, 15),
            day(2030, 1, 20),
            day(2030, 1, 25)
        ]
    );
    let f = parsed.busy.iter().filter(|b| b.uid == "f").count();
    assert_eq!(f, 3);
}

#[test]
fn custom_vtimezone_rules_apply_when_the_name_is_unknown() {
    // A southern-hemisphere zone under a made-up name, defined after the event.
    let body = "BEGIN:VEVENT\r\nUID:z\r\nDTSTART;TZID=\"My Office\":20300115T090000\r\nDTEND;TZID=\"My Office\":20300115T100000\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:y\r\nDTSTART;TZID=My Office:20300715T090000\r\nEND:VEVENT\r\n\
BEGIN:VTIMEZONE\r\nTZID:My Office\r\nBEGIN:STANDARD\r\nDTSTART:19700405T030000\r\nTZOFFSETFROM:+1100\r\nTZOFFSETTO:+1000\r\nRRULE:FREQ=YEARLY;BYMONTH=4;BYDAY=1SU\r\nEND:STANDARD\r\n\
BEGIN:DAYLIGHT\r\nDTSTART:19701004T020000\r\nTZOFFSETFROM:+1000\r\nTZOFFSETTO:+1100\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=1SU\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n";
    let parsed = parse(&feed(body), &opts(Producer::Other, utc(2030, 1, 1), utc(2031, 1, 1)));
    assert_eq!(timed(&parsed.busy[0]), (at(2030, 1, 14, 22, 0), at(2030, 1, 14, 23, 0)));
    assert_eq!(timed(&parsed.busy[1]).0, at(2030, 7, 14, 23, 0));
}

#[test]
fn floating_times_follow_x_wr_timezone_else_the_default_zone() {
    let event = "BEGIN:VEVENT\r\nUID:f\r\nDTSTART:20300701T120000\r\nDTEND:20300701T130000\r\nEND:VEVENT\r\n";
    let mut options = opts(Producer::Other, utc(2030, 1, 1), utc(2031, 1, 1));
    options.floating_zone = chrono_tz::Asia::Tokyo;
    let plain = parse(&feed(event), &options);
    assert_eq!(timed(&plain.busy[0]).0, at(2030, 7, 1, 3, 0));
    let named = parse(&feed(&format!("X-WR-TIMEZONE:Europe/London\r\n{event}")), &options);
    assert_eq!(timed(&named.busy[0]).0, at(2030, 7, 1, 11, 0));
    let unknown = parse(&feed(&format!("X-WR-TIMEZONE:Mars/Olympus\r\n{event}")), &options);
    assert_eq!(timed(&unknown.busy[0]).0, at(2030, 7, 1, 3, 0));
}

#[test]
fn a_tzid_naming_no_known_zone_is_read_as_floating_and_said_so_once() {
    let event = |uid: &str| {
        format!(
            "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTART;TZID=Mars/Olympus_Mons:20300701T120000\r\n\
             DTEND;TZID=Mars/Olympus_Mons:20300701T130000\r\nEND:VEVENT\r\n"
        )
    };
    let body = format!("X-WR-TIMEZONE:Europe/London\r\n{}{}", event("a"), event("b"));
    let parsed = parse(&feed(&body), &opts(Producer::Other, utc(2030, 1, 1), utc(2031, 1, 1)));
    assert_eq!(parsed.busy.len(), 2, "both events are imported");
    assert_eq!(timed(&parsed.busy[0]).0, at(2030, 7, 1, 11, 0), "at noon in London");
    assert_eq!(parsed.skipped.len(), 1, "{:?}", parsed.skipped);
    let said = &parsed.skipped[0];
    assert_eq!(said.uid, None);
    assert!(
        said.reason.contains("\"Mars/Olympus_Mons\"") && said.reason.contains("Europe/London"),
        "{}",
        said.reason
    );
    // A zone named by its Windows name is known: nothing to say.
    let windows = event("c").replace("Mars/Olympus_Mons", "W. Europe Standard Time");
    let parsed = parse(&feed(&windows), &opts(Producer::Other, utc(2030, 1, 1), utc(2031, 1, 1)));
    assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
}

#[test]
fn text_is_unescaped_and_missing_uids_are_synthesised_stably() {
    let body = "BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20300101\r\nSUMMARY:  Smith\\, John\\; room 2\\nlate \\\\ \r\nEND:VEVENT\r\n";
    let a = parse(&feed(body), &opts(Producer::Other, utc(2030, 1, 1), utc(2031, 1, 1)));
    let b = parse(&feed(body), &opts(Producer::Other, utc(2030, 1, 1), utc(2031, 1, 1)));
    assert_eq!(summary(&a.busy[0]), "Smith, John; room 2\nlate \\");
    assert_eq!(a.busy[0].uid, b.busy[0].uid);
    assert!(a.busy[0].uid.starts_with("kalends-"));
}

#[test]
fn odd_line_endings_folding_and_mixed_case_are_read() {
    let text = "\u{feff}begin:vcalendar\rbegin:vevent\ruid:x\r\ndtstart;value=date:2030\r\n\t0101\nSummary;Language=en:a\n b\r\n\r\nend:vevent\rend:vcalendar";
    let parsed = parse(text.as_bytes(), &opts(Producer::Other, utc(2030, 1, 1), utc(2031, 1, 1)));
    assert_eq!(parsed.events, 1);
    assert_eq!(summary(&parsed.busy[0]), "ab");
    assert_eq!(all_day(&parsed.busy[0]), (day(2030, 1, 1), day(2030, 1, 2)));
    // UTF-16 with a byte-order mark.
    let utf16: Vec<u8> = std::iter::once(0xFEFFu16)
        .chain(String::from_utf8(feed("BEGIN:VEVENT\r\nUID:u\r\nDTSTART;VALUE=DATE:20300101\r\nSUMMARY:ü\r\nEND:VEVENT\r\n")).unwrap().encode_utf16())
        .flat_map(u16::to_le_bytes)
        .collect();
    let parsed = parse(&utf16, &opts(Producer::Other, utc(2030, 1, 1), utc(2031, 1, 1)));
    assert_eq!(summary(&parsed.busy[0]), "ü");
}

#[test]
fn date_only_start_is_one_day_and_date_time_only_start_is_an_instant() {
    let body = "BEGIN:VEVENT\r\nUID:d\r\nDTSTART:20300105\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:t\r\nDTSTART:20300105T090000Z\r\nEND:VEVENT\r\n";
    let parsed = parse(&feed(body), &opts(Producer::Other, utc(2030, 1, 1), utc(2031, 1, 1)));
    let d = parsed.busy.iter().find(|b| b.uid == "d").unwrap();
    assert_eq!(all_day(d), (day(2030, 1, 5), day(2030, 1, 6)));
    let t = parsed.busy.iter().find(|b| b.uid == "t").unwrap();
    assert_eq!(timed(t), (at(2030, 1, 5, 9, 0), at(2030, 1, 5, 9, 0)));
}

#[test]
fn an_event_ending_before_it_starts_is_skipped_as_end_before_start() {
    let body = "BEGIN:VEVENT\r\nUID:back-time\r\nDTEND:20300105T080000Z\r\nDTSTART:20300105T090000Z\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:back-date\r\nDTSTART;VALUE=DATE:20300110\r\nDTEND;VALUE=DATE:20300105\r\nSUMMARY:Reserved\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:back-zone\r\nDTSTART;TZID=Europe/Amsterdam:20300105T090000\r\nDTEND:20300105T073000Z\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:back-series\r\nDTSTART;VALUE=DATE:20300110\r\nDTEND;VALUE=DATE:20300109\r\nRRULE:FREQ=WEEKLY\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:zone-later\r\nDTSTART;TZID=Europe/Amsterdam:20300105T090000\r\nDTEND:20300105T083000Z\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:same-day\r\nDTSTART;VALUE=DATE:20300120\r\nDTEND;VALUE=DATE:20300120\r\nEND:VEVENT\r\n";
    let parsed = parse(&feed(body), &opts(Producer::Airbnb, utc(2030, 1, 1), utc(2031, 1, 1)));
    assert_eq!(parsed.events, 6);
    let kept: Vec<&str> = parsed.busy.iter().map(|b| b.uid.as_str()).collect();
    assert_eq!(kept, vec!["zone-later", "same-day"], "no one-day block is made up");
    assert_eq!(timed(&parsed.busy[0]), (at(2030, 1, 5, 8, 0), at(2030, 1, 5, 8, 30)));
    assert_eq!(all_day(&parsed.busy[1]), (day(2030, 1, 20), day(2030, 1, 21)));
    let reasons: Vec<(&str, &str)> =
        parsed.skipped.iter().map(|s| (s.uid.as_deref().unwrap(), s.reason.as_str())).collect();
    assert_eq!(
        reasons,
        vec![
            ("back-time", "end before start"),
            ("back-date", "end before start"),
            ("back-zone", "end before start"),
            ("back-series", "end before start"),
        ]
    );
}

#[test]
fn a_single_event_22_months_ahead_is_read_while_a_series_stops_at_the_horizon() {
    let now = at(2030, 1, 10, 12, 0);
    let body = "BEGIN:VEVENT\r\nUID:near\r\nDTSTART;VALUE=DATE:20300201\r\nDTEND;VALUE=DATE:20300205\r\nSUMMARY:Reserved\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:far\r\nDTSTART;VALUE=DATE:20311110\r\nDTEND;VALUE=DATE:20311117\r\nSUMMARY:Reserved\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:far-timed\r\nDTSTART:20351110T100000Z\r\nDTEND:20351110T110000Z\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:weekly\r\nDTSTART;VALUE=DATE:20300104\r\nRRULE:FREQ=WEEKLY\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:weekly\r\nRECURRENCE-ID;VALUE=DATE:20300301\r\nDTSTART;VALUE=DATE:20320301\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:past\r\nDTSTART;VALUE=DATE:20290101\r\nEND:VEVENT\r\n";
    let options = ParseOptions::new(Producer::Airbnb, chrono_tz::UTC, now);
    let parsed = parse(&feed(body), &options);
    let far = parsed.busy.iter().find(|b| b.uid == "far").expect("the far reservation is read");
    assert_eq!(all_day(far), (day(2031, 11, 10), day(2031, 11, 17)));
    assert_eq!(far.kind, ItemKind::Reservation);
    let far_timed = parsed.busy.iter().find(|b| b.uid == "far-timed").unwrap();
    assert_eq!(timed(far_timed), (at(2035, 11, 10, 10, 0), at(2035, 11, 10, 11, 0)));
    let moved = parsed
        .busy
        .iter()
        .find(|b| b.uid == "weekly" && b.recurrence_id.as_deref() == Some("20300301"))
        .expect("an occurrence moved past the horizon is an explicit event too");
    assert_eq!(all_day(moved), (day(2032, 3, 1), day(2032, 3, 2)));
    let series: Vec<NaiveDate> = parsed
        .busy
        .iter()
        .filter(|b| b.uid == "weekly" && b.recurrence_id.as_deref() != Some("20300301"))
        .map(|b| all_day(b).0)
        .collect();
    assert_eq!(series.first(), Some(&day(2030, 1, 11)));
    assert_eq!(series.last(), Some(&day(2031, 7, 4)), "the series stops at the horizon");
    assert!(series.iter().all(|d| d.and_time(chrono::NaiveTime::MIN).and_utc() < options.to));
    assert!(parsed.busy.iter().all(|b| b.uid != "past"));
    let windowed = parse(&feed(body), &opts(Producer::Airbnb, options.from, options.to));
    assert!(
        windowed.busy.iter().all(|b| !b.uid.starts_with("far")),
        "a window without the option keeps its end for single events"
    );
}

#[test]
fn all_day_items_serialise_as_dates_with_an_exclusive_end() {
    let body = "BEGIN:VEVENT\r\nUID:a\r\nDTSTART;VALUE=DATE:20300105\r\nDTEND;VALUE=DATE:20300108\r\nSUMMARY:Reserved\r\nEND:VEVENT\r\n";
    let parsed = parse(&feed(body), &opts(Producer::Airbnb, utc(2030, 1, 1), utc(2031, 1, 1)));
    assert_eq!(
        serde_json::to_value(&parsed.busy[0]).unwrap(),
        serde_json::json!({
            "start": "2030-01-05", "end": "2030-01-08", "all_day": true, "uid": "a",
            "recurrence_id": null, "summary": "Reserved", "kind": "reservation",
        })
    );
}

#[test]
fn default_options_run_from_yesterday_to_eighteen_months_ahead() {
    let now = at(2030, 3, 31, 15, 20);
    let options = ParseOptions::new(Producer::Airbnb, chrono_tz::Europe::Paris, now);
    assert_eq!(options.from, utc(2030, 3, 30));
    assert_eq!(options.to, at(2031, 9, 30, 15, 20));
    assert_eq!(options.max_events, 100_000);
    assert_eq!(options.producer, Producer::Airbnb);
}

#[test]
fn extreme_windows_and_dates_do_not_overflow() {
    let body = "BEGIN:VEVENT\r\nUID:a\r\nDTSTART;TZID=Pacific/Kiritimati:99991231T230000\r\nDURATION:P99999W\r\nRRULE:FREQ=YEARLY\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:b\r\nDTSTART:00010101\r\nDTEND:99991231\r\nRRULE:FREQ=YEARLY;COUNT=3\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:c\r\nDTSTART;TZID=Etc/GMT+12:00010101T000000\r\nRRULE:FREQ=DAILY;INTERVAL=65535\r\nEND:VEVENT\r\n";
    for (from, to) in [
        (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC),
        (utc(9999, 12, 1), DateTime::<Utc>::MAX_UTC),
        (DateTime::<Utc>::MIN_UTC, utc(1, 2, 1)),
    ] {
        let parsed = parse(&feed(body), &opts(Producer::Other, from, to));
        assert!(
            parsed.skipped.iter().all(|s| !s.reason.starts_with("internal error")),
            "{:?}",
            parsed.skipped
        );
        assert_unique_keys(&parsed);
    }
}

#[test]
fn a_reused_uid_keeps_distinct_events_and_a_higher_sequence_replaces_an_older_version() {
    let body = "BEGIN:VEVENT\r\nUID:dup\r\nDTSTART:20300101T090000Z\r\nSUMMARY:first\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:dup\r\nDTSTART:20300102T090000Z\r\nSUMMARY:second\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:ver\r\nDTSTART:20300105T090000Z\r\nSEQUENCE:0\r\nSUMMARY:old\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:ver\r\nDTSTART:20300106T090000Z\r\nSEQUENCE:1\r\nSUMMARY:new\r\nEND:VEVENT\r\n";
    let parsed = parse(&feed(body), &opts(Producer::Other, utc(2030, 1, 1), utc(2031, 1, 1)));
    let got: Vec<(&str, Option<&str>, &str)> = parsed
        .busy
        .iter()
        .map(|b| (b.uid.as_str(), b.recurrence_id.as_deref(), summary(b)))
        .collect();
    assert_eq!(
        got,
        vec![
            ("dup", Some("20300101T090000Z"), "first"),
            ("dup", None, "second"),
            ("ver", None, "new"),
        ]
    );
    assert_eq!(parsed.skipped.len(), 1);
    assert_eq!(parsed.skipped[0].uid.as_deref(), Some("ver"));
    assert!(parsed.skipped[0].reason.starts_with("duplicate UID"));
}

#[test]
fn of_duplicates_starting_together_the_longest_is_kept_in_any_order() {
    let stay = |nights: u32| {
        format!(
            "BEGIN:VEVENT\r\nUID:stay\r\nDTSTART;VALUE=DATE:20300105\r\n\
             DTEND;VALUE=DATE:2030010{}\r\nSUMMARY:{nights} nights\r\nEND:VEVENT\r\n",
            5 + nights
        )
    };
    for body in [stay(2) + &stay(4), stay(4) + &stay(2)] {
        let parsed = parse(&feed(&body), &opts(Producer::Other, utc(2030, 1, 1), utc(2031, 1, 1)));
        assert_eq!(parsed.busy.len(), 1);
        assert_eq!(summary(&parsed.busy[0]), "4 nights", "{body}");
        assert_eq!(parsed.skipped.len(), 1);
    }
}

/// `n` events each recurring every day at 03:00:00 through a SECONDLY rule: cheap to write,
/// dear to expand (the recurrence walks the clock to every occurrence).
fn secondly_feed(n: usize) -> Vec<u8> {
    let mut body = String::new();
    for i in 0..n {
        body.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:s{i}\r\nDTSTART:20300101T030000Z\r\n\
             RRULE:FREQ=SECONDLY;BYHOUR=3;BYMINUTE=0;BYSECOND=0\r\nEND:VEVENT\r\n"
        ));
    }
    feed(&body)
}

#[test]
fn a_feed_of_secondly_rules_fails_once_its_work_budget_is_spent() {
    let mut options = opts(Producer::Other, utc(2030, 1, 1), utc(2031, 7, 1));
    options.max_work = 2_000_000;
    let (parsed, spent) = read_counting(&secondly_feed(2_000), &options);
    let error = parsed.unwrap_err();
    assert!(error.to_string().starts_with("the feed needs too much work to read: "), "{error}");
    assert!(spent <= options.max_work + recur::MAX_STEP, "{spent} steps were spent");
    let (cheap, spent) = read_counting(&secondly_feed(2), &options);
    assert_eq!(cheap.unwrap().busy.len(), 2 * 546, "a few such events are read in full");
    assert!(spent > 2 * 546, "each occurrence costs work: {spent}");
}

#[test]
fn parse_reports_a_spent_work_budget_as_a_skipped_entry() {
    let mut options = opts(Producer::Other, utc(2030, 1, 1), utc(2031, 7, 1));
    options.max_work = 100_000;
    let parsed = parse(&secondly_feed(100), &options);
    let last = parsed.skipped.last().unwrap();
    assert_eq!(last.uid, None);
    assert!(last.reason.starts_with("the feed needs too much work to read: "), "{last:?}");
}

#[test]
fn custom_vtimezone_rules_are_paid_for_from_the_same_budget() {
    let mut zones = String::new();
    let mut events = String::new();
    for i in 0..200 {
        zones.push_str(&format!(
            "BEGIN:VTIMEZONE\r\nTZID:Zone{i}\r\nBEGIN:STANDARD\r\nDTSTART:19700101T030000\r\n\
             TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0000\r\n\
             RRULE:FREQ=SECONDLY;BYHOUR=3;BYMINUTE=0;BYSECOND=0\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
        ));
        events.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:z{i}\r\nDTSTART;TZID=Zone{i}:20300601T100000\r\nEND:VEVENT\r\n"
        ));
    }
    let mut options = opts(Producer::Other, utc(2030, 1, 1), utc(2031, 1, 1));
    options.max_work = 1_000_000;
    let (parsed, spent) = read_counting(&feed(&(zones + &events)), &options);
    assert!(parsed.is_err(), "200 zones of daily offset changes cost more than the budget");
    assert!(spent <= options.max_work + recur::MAX_STEP, "{spent}");
}

#[test]
fn every_corpus_file_reads_within_the_default_work_budget() {
    let options = ParseOptions::new(Producer::Other, chrono_tz::UTC, utc(2024, 1, 1));
    for (name, bytes) in corpus() {
        let wide = ParseOptions { from: utc(1990, 1, 1), to: utc(2040, 1, 1), ..options.clone() };
        assert!(read(&bytes, &wide).is_ok(), "{name}");
    }
}

// ---------------------------------------------------------------------------------------------
// Reading in pieces.

/// A source that hands out at most 7 bytes per read, as a slow pipe would.
struct Trickle(std::io::Cursor<Vec<u8>>);

impl std::io::Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(7);
        self.0.read(&mut buf[..n])
    }
}

impl std::io::Seek for Trickle {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.0.seek(pos)
    }
}

fn same_reading(a: &ParsedFeed, b: &ParsedFeed, name: &str) {
    assert_eq!(a.events, b.events, "{name}");
    assert_eq!(a.busy, b.busy, "{name}");
    let reasons = |f: &ParsedFeed| {
        f.skipped.iter().map(|s| (s.uid.clone(), s.reason.clone())).collect::<Vec<_>>()
    };
    assert_eq!(reasons(a), reasons(b), "{name}");
    assert_eq!(a.calendar_name, b.calendar_name, "{name}");
}

#[test]
fn every_corpus_file_reads_the_same_in_pieces_as_whole() {
    let options = opts(Producer::Other, utc(1990, 1, 1), utc(2030, 1, 1));
    for (name, bytes) in corpus() {
        let whole = parse(&bytes, &options);
        let pieces = read_from(Trickle(std::io::Cursor::new(bytes)), &options);
        same_reading(&whole, &pieces.unwrap(), &name);
    }
}

#[test]
fn zones_defined_after_the_events_apply_to_them() {
    let zone = "BEGIN:VTIMEZONE\r\nTZID:Office Time\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n\
        TZOFFSETFROM:+0500\r\nTZOFFSETTO:+0500\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";
    let events = "BEGIN:VEVENT\r\nUID:a\r\nDTSTART;TZID=Office Time:20250301T100000\r\n\
        DTEND;TZID=Office Time:20250301T110000\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:b\r\nDTSTART:20250302T100000\r\nRRULE:FREQ=DAILY;COUNT=2\r\nEND:VEVENT\r\n";
    let options = opts(Producer::Other, utc(2025, 1, 1), utc(2026, 1, 1));
    let first = parse(&feed(&format!("{zone}{events}")), &options);
    let last = parse(&feed(&format!("{events}{zone}")), &options);
    let calendar_zone = format!("X-WR-TIMEZONE:Asia/Tokyo\r\n{events}");
    let floating_after = parse(&feed(&format!("{calendar_zone}X-WR-TIMEZONE:x\r\n")), &options);
    same_reading(&first, &last, "zone after the events");
    assert_eq!(timed(&last.busy[0]), (at(2025, 3, 1, 5, 0), at(2025, 3, 1, 6, 0)));
    // Floating times follow X-WR-TIMEZONE, also when it comes after the events.
    let late = parse(
        &feed(&format!("{events}X-WR-TIMEZONE:Asia/Tokyo\r\n")),
        &opts(Producer::Other, utc(2025, 1, 1), utc(2026, 1, 1)),
    );
    assert_eq!(timed(&late.busy[1]).0, at(2025, 3, 2, 1, 0));
    assert_eq!(timed(&floating_after.busy[1]).0, at(2025, 3, 2, 1, 0));
}

proptest::proptest! {
    /// What `alone_with_uid` counts on: UIDs that differ in a byte never share a hash.
    #[test]
    fn uids_that_differ_in_one_byte_hash_apart(
        uid in proptest::collection::vec(proptest::num::u8::ANY, 1..40),
        at in proptest::num::usize::ANY,
        byte in proptest::num::u8::ANY,
        seed in proptest::num::u64::ANY,
    ) {
        let mut other = uid.clone();
        let at = at % uid.len();
        proptest::prop_assume!(other[at] != byte);
        other[at] = byte;
        proptest::prop_assert_ne!(quick_hash(seed, &uid), quick_hash(seed, &other));
    }
}

#[test]
fn only_calendars_count_as_feeds() {
    use crate::looks_like_icalendar;
    assert!(looks_like_icalendar(b"\xef\xbb\xbf\r\nbegin:vcalendar\r\n"));
    assert!(!looks_like_icalendar(b"<!DOCTYPE html><title>Log in</title>"));
    assert!(!looks_like_icalendar(b""));
    // UTF-16 with its byte-order mark, as some Windows tools export.
    let utf16 = |big_endian: bool| {
        let mut bytes = if big_endian { vec![0xFE, 0xFF] } else { vec![0xFF, 0xFE] };
        for unit in "BEGIN:VCALENDAR\r\n".encode_utf16() {
            let pair = if big_endian { unit.to_be_bytes() } else { unit.to_le_bytes() };
            bytes.extend(pair);
        }
        bytes
    };
    assert!(looks_like_icalendar(&utf16(false)));
    assert!(looks_like_icalendar(&utf16(true)));
}
