//! `kalends ics check --json` on recurrences beyond single overrides: THISANDFUTURE ranges,
//! RDATE periods, and RSCALE with SKIP.

use serde_json::Value;

use crate::process::ics_check_json;

/// Runs `kalends ics check --json` on `events` (VEVENT lines) for 2024 and 2025.
async fn check(events: &str) -> Value {
    let body: Vec<&str> = events.trim().lines().map(str::trim).collect();
    let text =
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n{}\r\nEND:VCALENDAR\r\n", body.join("\r\n"));
    ics_check_json(&text, "2024-01-01", "2026-01-01").await
}

/// `(start, end)` of every busy item, as printed.
fn spans(json: &Value) -> Vec<(String, String)> {
    let mut spans: Vec<(String, String)> = json["busy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["start"].as_str().unwrap().to_owned(), b["end"].as_str().unwrap().to_owned()))
        .collect();
    spans.sort();
    spans
}

fn span(start: &str, end: &str) -> (String, String) {
    (start.to_owned(), end.to_owned())
}

#[tokio::test]
async fn ics_check_moves_every_instance_after_a_thisandfuture_override() {
    let json = check(
        "BEGIN:VEVENT
        UID:yoga
        DTSTART;TZID=Europe/Berlin:20240301T090000
        DTEND;TZID=Europe/Berlin:20240301T100000
        RRULE:FREQ=WEEKLY;COUNT=4
        END:VEVENT
        BEGIN:VEVENT
        UID:yoga
        RECURRENCE-ID;TZID=Europe/Berlin;RANGE=THISANDFUTURE:20240315T090000
        DTSTART;TZID=Europe/Berlin:20240315T180000
        DTEND;TZID=Europe/Berlin:20240315T193000
        END:VEVENT",
    )
    .await;
    // Berlin moves to summer time on 31 March: the wall clock stays at 18:00.
    assert_eq!(
        spans(&json),
        vec![
            span("2024-03-01T08:00:00Z", "2024-03-01T09:00:00Z"),
            span("2024-03-08T08:00:00Z", "2024-03-08T09:00:00Z"),
            span("2024-03-15T17:00:00Z", "2024-03-15T18:30:00Z"),
            span("2024-03-22T17:00:00Z", "2024-03-22T18:30:00Z"),
        ]
    );
    assert_eq!(json["skipped"], serde_json::json!([]));
}

#[tokio::test]
async fn ics_check_gives_an_rdate_period_its_own_length() {
    let json = check(
        "BEGIN:VEVENT
        UID:workshop
        DTSTART:20240610T090000Z
        DURATION:PT1H
        RDATE;VALUE=PERIOD:20240612T090000Z/PT8H
        END:VEVENT",
    )
    .await;
    assert_eq!(
        spans(&json),
        vec![
            span("2024-06-10T09:00:00Z", "2024-06-10T10:00:00Z"),
            span("2024-06-12T09:00:00Z", "2024-06-12T17:00:00Z"),
        ]
    );
}

#[tokio::test]
async fn ics_check_honours_skip_and_flags_a_rule_in_another_calendar() {
    let json = check(
        "BEGIN:VEVENT
        UID:leap
        DTSTART;VALUE=DATE:20240229
        RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;RSCALE=GREGORIAN;SKIP=BACKWARD
        END:VEVENT
        BEGIN:VEVENT
        UID:lunar
        DTSTART;VALUE=DATE:20240210
        RRULE:RSCALE=HEBREW;FREQ=YEARLY
        END:VEVENT",
    )
    .await;
    assert_eq!(
        spans(&json),
        vec![span("2024-02-29", "2024-03-01"), span("2025-02-28", "2025-03-01")]
    );
    let skipped = json["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0]["uid"], "lunar");
    assert!(skipped[0]["reason"].as_str().unwrap().contains("HEBREW"), "{skipped:?}");
}
