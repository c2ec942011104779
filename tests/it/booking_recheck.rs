//! A fresh look at the platforms' feeds at the moment a booking is made
//! (`?reject_conflicts=true&recheck_feeds=true`): what a feed gained since its last scheduled
//! run refuses the booking, an unchanged feed costs a conditional request, and a feed that does
//! not answer in time does not hold the booking up.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::hardening_imports::{
    Platform, app_allowing_local_feeds, calendar, in_days, register, reservation, resource, run,
};
use crate::helpers::{Db, TestApp, on_both_databases};

const CHECKED: &str = "reject_conflicts=true&recheck_feeds=true";

/// A confirmed stay of `room` from `from` to `to` days from today.
fn stay(room: Uuid, from: i64, to: i64) -> Value {
    json!({"title": "Direct guest", "resource_id": room, "status": "confirmed",
        "start_date": in_days(from), "end_date": in_days(to)})
}

/// Airbnb's export of a reservation made after the last scheduled run, with its code and the
/// guest's phone digits in the description.
fn late_reservation() -> String {
    format!(
        "{}DESCRIPTION:Reservation URL: https://www.airbnb.com/hosting/reservations/details/HMLATE0001\\n\
         Phone Number (Last 4 Digits): 9876\r\n",
        reservation("late@airbnb.com", 20, 23)
    )
}

/// An app with a room whose Airbnb import has run once and read one reservation.
struct Imported {
    app: TestApp,
    key: String,
    airbnb: Platform,
    room: Uuid,
    import: String,
}

async fn room_with_airbnb(db: Db) -> Imported {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let airbnb = Platform::start(calendar(&[reservation("early@airbnb.com", 5, 8)])).await;
    let room = resource(&app, &key).await;
    let import = register(&app, &key, room, &airbnb.url()).await;
    let first = run(&app, &key, &import).await.unwrap();
    assert_eq!(first["outcome"], "ok", "{first}");
    Imported { app, key, airbnb, room, import }
}

/// What a booking write's answer says the fresh look found: (import id, outcome) each.
fn rechecked(answer: &Value) -> Vec<(String, String)> {
    let seen = answer["feeds_rechecked"].as_array().expect("feeds_rechecked");
    let text = |s: &Value, field: &str| s[field].as_str().unwrap_or_default().to_owned();
    seen.iter().map(|s| (text(s, "import_id"), text(s, "outcome"))).collect()
}

async fn a_reservation_a_feed_gained_since_its_last_run_refuses_a_rechecked_booking(db: Db) {
    let Imported { app, key, airbnb, room, import } = room_with_airbnb(db).await;
    let api = app.api(&key);
    // The guest books on Airbnb after the last scheduled run.
    airbnb.set(calendar(&[reservation("early@airbnb.com", 5, 8), late_reservation()]));

    let path = "/api/v1/bookings?reject_conflicts=true";
    let unaware: Value = api.send("POST", path, Some(stay(room, 21, 24)), 201).await.unwrap();
    assert!(unaware.get("feeds_rechecked").is_none(), "not asked for: {unaware}");
    let cancel = format!("/api/v1/bookings/{}/cancel", unaware["id"].as_str().unwrap());
    let _: Value = api.send("POST", &cancel, None, 200).await.unwrap();

    let path = format!("/api/v1/bookings?{CHECKED}");
    let refused = api.send::<Value>("POST", &path, Some(stay(room, 21, 24)), 201).await;
    let problem = refused.unwrap_err();
    assert_eq!(problem.status, 409, "{problem:?}");
    let items: Value =
        api.send("GET", &format!("/api/v1/imports/{import}/items"), None, 200).await.unwrap();
    let late = items["items"].as_array().unwrap().iter().find(|i| i["uid"] == "late@airbnb.com");
    let late = late.expect("the reservation the recheck found is stored");
    let conflicts = problem.conflicts.clone().unwrap();
    assert_eq!(conflicts.as_array().unwrap().len(), 1, "{conflicts}");
    assert_eq!(conflicts[0]["id"], late["id"], "the refusal names that reservation: {conflicts}");
    assert_eq!(conflicts[0]["details"]["reservation_code"], "HMLATE0001", "{conflicts}");
    let seen = problem.feeds_rechecked.clone().unwrap();
    assert_eq!(seen, json!([{"import_id": import, "outcome": "changed"}]));

    let bookings: Value = api.send("GET", "/api/v1/bookings", None, 200).await.unwrap();
    let live = bookings["items"].as_array().unwrap().iter().filter(|b| b["status"] != "cancelled");
    assert_eq!(live.count(), 0, "nothing was saved");
    app.stop().await;
}

async fn unchanged_feeds_of_the_whole_house_are_asked_conditionally_and_the_booking_saved(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let house: Value = api
        .send("POST", "/api/v1/resources", Some(json!({"name": "House", "time_zone": "UTC"})), 201)
        .await
        .unwrap();
    let room_in = json!({"name": "Garden room", "time_zone": "UTC", "parent_id": house["id"]});
    let room: Value = api.send("POST", "/api/v1/resources", Some(room_in), 201).await.unwrap();
    let house_id: Uuid = house["id"].as_str().unwrap().parse().unwrap();
    let room_id: Uuid = room["id"].as_str().unwrap().parse().unwrap();
    let (whole, by_room) = (
        Platform::start(calendar(&[reservation("whole@vrbo.com", 3, 6)])).await,
        Platform::start(calendar(&[reservation("room@airbnb.com", 9, 12)])).await,
    );
    whole.with_etags();
    let house_import = register(&app, &key, house_id, &whole.url()).await;
    let room_import = register(&app, &key, room_id, &by_room.url()).await;
    run(&app, &key, &house_import).await.unwrap();
    run(&app, &key, &room_import).await.unwrap();
    let fetched = (whole.hits(), by_room.hits());

    let path = format!("/api/v1/bookings?{CHECKED}");
    let saved: Value = api.send("POST", &path, Some(stay(room_id, 14, 16)), 201).await.unwrap();
    let mut seen = rechecked(&saved);
    seen.sort();
    let mut expected = vec![
        (house_import.clone(), "unchanged".to_owned()),
        (room_import.clone(), "unchanged".to_owned()),
    ];
    expected.sort();
    assert_eq!(seen, expected, "the room's feed and its house's: {saved}");
    assert_eq!((whole.hits(), by_room.hits()), (fetched.0 + 1, fetched.1 + 1));
    let runs: Value =
        api.send("GET", &format!("/api/v1/imports/{house_import}/runs"), None, 200).await.unwrap();
    let last = &runs["items"][0];
    assert_eq!((&last["outcome"], &last["http_status"]), (&json!("not_modified"), &json!(304)));

    // The whole house is booked on VRBO for those nights: the room is not free either.
    let path = format!("/api/v1/bookings?{CHECKED}");
    let refused = api.send::<Value>("POST", &path, Some(stay(room_id, 4, 5)), 201).await;
    assert_eq!(refused.unwrap_err().status, 409);
    app.stop().await;
}

async fn a_feed_that_does_not_answer_in_time_leaves_the_decision_to_what_is_stored(db: Db) {
    let Imported { app, key, airbnb, room, import } = room_with_airbnb(db).await;
    let api = app.api(&key);
    airbnb.set(calendar(&[reservation("early@airbnb.com", 5, 8), late_reservation()]));
    airbnb.delay(Duration::from_millis(1500));

    let path = format!("/api/v1/bookings?{CHECKED}&recheck_timeout_ms=200");
    let started = std::time::Instant::now();
    let saved: Value = api.send("POST", &path, Some(stay(room, 21, 24)), 201).await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(1400), "it did not wait for the feed");
    assert_eq!(rechecked(&saved), [(import.clone(), "timeout".to_owned())], "{saved}");

    // The read went on: its reservation is stored and the double booking is seen.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let open = api.conflicts("open").await.unwrap();
        if let [conflict] = open.as_slice() {
            let late = conflict.items.iter().find(|i| i.kind == "feed").unwrap();
            let details = late.details.as_ref().expect("the reservation's details");
            assert_eq!(details["phone_last_digits"], "9876", "{details}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the late read was not recorded: {open:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await;
}

async fn a_feed_that_fails_is_reported_and_the_stored_reservations_still_refuse(db: Db) {
    let Imported { app, key, airbnb, room, import } = room_with_airbnb(db).await;
    let api = app.api(&key);
    airbnb.set("<!DOCTYPE html><title>Log in to Airbnb</title>".to_owned());

    let path = format!("/api/v1/bookings?{CHECKED}");
    let refused = api.send::<Value>("POST", &path, Some(stay(room, 6, 9)), 201).await;
    let problem = refused.unwrap_err();
    assert_eq!(problem.status, 409, "the stored reservation still counts: {problem:?}");
    let seen = problem.feeds_rechecked.unwrap();
    assert_eq!((&seen[0]["import_id"], &seen[0]["outcome"]), (&json!(import), &json!("failed")));
    assert!(seen[0]["error"].as_str().unwrap().contains("not an iCalendar file"), "{seen}");
    let saved: Value = api.send("POST", &path, Some(stay(room, 10, 12)), 201).await.unwrap();
    assert_eq!(rechecked(&saved), [(import, "failed".to_owned())]);
    app.stop().await;
}

async fn recheck_parameters_of_the_wrong_kind_are_field_errors_and_nothing_is_saved(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let room = resource(&app, &key).await;
    for (query, field) in [
        ("reject_conflicts=true&recheck_feeds=true&recheck_timeout_ms=0", "recheck_timeout_ms"),
        ("recheck_feeds=true&recheck_timeout_ms=30001", "recheck_timeout_ms"),
        ("recheck_timeout_ms=soon", "recheck_timeout_ms"),
        ("recheck_feeds=maybe", "recheck_feeds"),
        ("reject_conflicts=yes", "reject_conflicts"),
    ] {
        let path = format!("/api/v1/bookings?{query}");
        let refused = api.send::<Value>("POST", &path, Some(stay(room, 3, 5)), 201).await;
        let problem = refused.unwrap_err();
        assert_eq!(problem.status, 422, "{query}: {problem:?}");
        let fields: Vec<&str> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, [field], "{query}: {problem:?}");
    }
    let bookings: Value = api.send("GET", "/api/v1/bookings", None, 200).await.unwrap();
    assert_eq!(bookings["items"], json!([]), "nothing was saved");
    app.stop().await;
}

on_both_databases!(
    a_reservation_a_feed_gained_since_its_last_run_refuses_a_rechecked_booking,
    unchanged_feeds_of_the_whole_house_are_asked_conditionally_and_the_booking_saved,
    a_feed_that_does_not_answer_in_time_leaves_the_decision_to_what_is_stored,
    a_feed_that_fails_is_reported_and_the_stored_reservations_still_refuse,
    recheck_parameters_of_the_wrong_kind_are_field_errors_and_nothing_is_saved,
);

#[tokio::test]
async fn the_openapi_document_describes_the_recheck_on_every_booking_write() {
    let app = TestApp::start(Db::Sqlite, false).await;
    let doc: Value =
        app.http.get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    for (path, method) in [
        ("/api/v1/bookings", "post"),
        ("/api/v1/bookings/by-external-id/{external_id}", "put"),
        ("/api/v1/bookings/{id}", "patch"),
    ] {
        let params = doc["paths"][path][method]["parameters"].as_array().unwrap();
        let names: Vec<&str> = params.iter().filter_map(|p| p["name"].as_str()).collect();
        for name in ["reject_conflicts", "recheck_feeds", "recheck_timeout_ms"] {
            assert!(names.contains(&name), "{method} {path}: {names:?}");
        }
    }
    let out = &doc["components"]["schemas"]["BookingOut"]["properties"];
    assert!(out.get("feeds_rechecked").is_some(), "{out}");
    let problem = &doc["components"]["schemas"]["Problem"]["properties"];
    assert!(problem.get("feeds_rechecked").is_some(), "{problem}");
    app.stop().await;
}
