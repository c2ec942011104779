//! What the feed reader flags rather than guesses, as `kalends ics check --json` shows it and as
//! an import run acts on it: unknown RRULE parts, unreadable values, truncated files, events
//! without UID, a second DTSTART.

use serde_json::Value;

use crate::hardening_imports::{
    Platform, app_allowing_local_feeds, busy, calendar, in_days, register, reservation, resource,
    run,
};
use crate::helpers::{Db, on_both_databases};
use crate::process::ics_check_json;

/// `kalends ics check --json` of `text` over 2030: the JSON it prints (it must succeed).
async fn check(text: &str) -> Value {
    ics_check_json(text, "2030-01-01", "2031-01-01").await
}

fn wrapped(body: &str) -> String {
    format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{body}END:VCALENDAR\r\n")
}

/// The `(uid, reason)` of each skipped entry.
fn skipped(json: &Value) -> Vec<(String, String)> {
    json["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (s["uid"].as_str().unwrap_or("").to_owned(), s["reason"].as_str().unwrap().to_owned())
        })
        .collect()
}

fn busy_uids(json: &Value) -> Vec<String> {
    json["busy"].as_array().unwrap().iter().map(|b| b["uid"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn ics_check_skips_a_weekly_series_with_a_misspelt_until_instead_of_repeating_it_forever() {
    let json = check(&wrapped(
        "BEGIN:VEVENT\r\nUID:class\r\nDTSTART:20300107T090000Z\r\nDTEND:20300107T100000Z\r\n\
RRULE:FREQ=WEEKLY;UNTL=20300401T000000Z\r\nEND:VEVENT\r\n",
    ))
    .await;
    assert!(busy_uids(&json).is_empty(), "{json}");
    assert_eq!(
        skipped(&json),
        vec![("class".into(), "unreadable RRULE (unknown part UNTL=20300401T000000Z)".into())]
    );
}

#[tokio::test]
async fn ics_check_reports_an_absurd_duration_and_keeps_the_event_from_its_start() {
    let json = check(&wrapped(
        "BEGIN:VEVENT\r\nUID:long\r\nDTSTART;VALUE=DATE:20300105\r\nDURATION:P999999999999999999W\r\nEND:VEVENT\r\n",
    ))
    .await;
    let busy = &json["busy"][0];
    assert_eq!(
        (busy["start"].as_str(), busy["end"].as_str()),
        (Some("2030-01-05"), Some("2030-01-06"))
    );
    assert_eq!(
        skipped(&json),
        vec![(
            "long".into(),
            "unreadable DURATION (P999999999999999999W): kept, its length read from DTSTART alone"
                .into()
        )]
    );
}

#[tokio::test]
async fn ics_check_reports_a_file_cut_off_inside_an_event_and_keeps_what_came_before() {
    let json = check(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n\
BEGIN:VEVENT\r\nUID:whole\r\nDTSTART;VALUE=DATE:20300105\r\nDTEND;VALUE=DATE:20300108\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:cut\r\nDTSTART;VALUE=DATE:20300110\r\nDTEND;VAL",
    )
    .await;
    assert_eq!(json["truncated"], true, "{json}");
    assert_eq!(busy_uids(&json), vec!["whole".to_owned()], "no made-up last event");
    assert_eq!(
        skipped(&json),
        vec![(
            "cut".into(),
            "the file is truncated: it ends inside a VEVENT, which is not imported".into()
        )]
    );
}

#[tokio::test]
async fn ics_check_keeps_two_events_without_uid_that_differ_only_in_their_end() {
    let json = check(&wrapped(
        "BEGIN:VEVENT\r\nDTSTART:20300105T090000Z\r\nDTEND:20300105T100000Z\r\nSUMMARY:Cleaning\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nDTSTART:20300105T090000Z\r\nDTEND:20300105T130000Z\r\nSUMMARY:Cleaning\r\nEND:VEVENT\r\n",
    ))
    .await;
    let ends: Vec<&str> =
        json["busy"].as_array().unwrap().iter().map(|b| b["end"].as_str().unwrap()).collect();
    assert_eq!(ends.len(), 2, "{json}");
    assert!(ends.contains(&"2030-01-05T13:00:00Z"), "{json}");
    assert!(skipped(&json).is_empty(), "{json}");
}

#[tokio::test]
async fn ics_check_reports_a_second_dtstart_and_says_which_one_is_used() {
    let json = check(&wrapped(
        "BEGIN:VEVENT\r\nUID:twice\r\nDTSTART;VALUE=DATE:20300105\r\nDTSTART;VALUE=DATE:20300107\r\nEND:VEVENT\r\n",
    ))
    .await;
    assert_eq!(json["busy"][0]["start"], "2030-01-05", "{json}");
    assert_eq!(
        skipped(&json),
        vec![(
            "twice".into(),
            "second DTSTART (20300107) ignored: kept with the first (20300105)".into()
        )]
    );
}

async fn an_import_whose_second_fetch_is_truncated_keeps_the_reservations_the_first_stored(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key).await;
    let whole =
        calendar(&[reservation("a@airbnb.com", 12, 15), reservation("b@airbnb.com", 20, 22)]);
    let airbnb = Platform::start(whole.clone()).await;
    let import = register(&app, &key, room, &airbnb.url()).await;
    let first = run(&app, &key, &import).await.unwrap();
    assert_eq!((first["outcome"].as_str(), first["added"].as_u64()), (Some("ok"), Some(2)));

    // The connection dropped inside the second reservation.
    let cut = whole.rfind("UID:b@airbnb.com").unwrap();
    airbnb.set(whole[..cut].to_owned());
    let second = run(&app, &key, &import).await.unwrap();
    assert_eq!(second["outcome"], "failed", "{second}");
    let error = second["error"].as_str().unwrap();
    assert!(error.starts_with("the feed is truncated"), "{error}");
    assert_eq!(second["removed"], 0, "{second}");
    assert_eq!(
        busy(&app, &key, room, 0, 60).await,
        vec![("feed".to_owned(), in_days(12)), ("feed".to_owned(), in_days(20))],
        "nothing stored was removed"
    );

    // Whole again: the very body the first run read, so nothing is read again, and the items
    // it stored are all there.
    airbnb.set(whole);
    let third = run(&app, &key, &import).await.unwrap();
    assert_eq!(
        (third["outcome"].as_str(), third["unchanged"].as_u64()),
        (Some("not_modified"), Some(2)),
        "{third}"
    );
    app.stop().await;
}

on_both_databases!(
    an_import_whose_second_fetch_is_truncated_keeps_the_reservations_the_first_stored
);
