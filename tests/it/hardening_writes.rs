//! Writes under pressure: `?reject_conflicts=true` holds under concurrent requests, and every date
//! the API accepts is range-checked before anything computes with it.

use futures::future::join_all;
use kalends::api::blocks::BlockIn;
use kalends::api::bookings::{BookingIn, BookingOut};
use kalends::api::error::Problem;
use kalends::api::resources::ResourceIn;
use kalends::api::staff::StaffIn;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Api, Db, TestApp, fields, on_both_databases};

/// How many requests race in the concurrency tests.
const RACERS: usize = 50;

async fn resource(api: &Api<'_>) -> Uuid {
    let room = ResourceIn {
        name: "Sea view".into(),
        time_zone: Some("UTC".into()),
        ..ResourceIn::default()
    };
    api.create_resource(&room).await.unwrap().id
}

async fn staff_member(api: &Api<'_>) -> Uuid {
    let ann =
        StaffIn { name: "Ann".into(), email: Some("ann@example.com".into()), ..StaffIn::default() };
    api.create_staff(&ann).await.unwrap().id
}

/// A stay of `room` from the `day`th of March 2030, two nights.
fn stay(room: Uuid, day: usize) -> Value {
    json!({
        "title": format!("Guest {day}"), "resource_id": room,
        "start_date": format!("2030-03-{day:02}"), "end_date": format!("2030-03-{:02}", day + 2),
    })
}

/// A new app with one tenant: the app and the tenant's API key.
async fn tenant_app(db: Db) -> (TestApp, String) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    (app, key)
}

/// What one racing write got: the booking with its status, or the problem.
type Answer = Result<(u16, BookingOut), Problem>;

/// Sends all `requests` at once; returns the answers in order.
async fn race(api: &Api<'_>, requests: Vec<(&str, String, Value)>) -> Vec<Answer> {
    let calls = requests
        .into_iter()
        .map(|(method, path, body)| async move { api.exchange(method, &path, Some(body)).await });
    join_all(calls).await
}

/// Sends the same request `RACERS` times at once.
async fn race_one(api: &Api<'_>, method: &str, path: &str, body: Value) -> Vec<Answer> {
    race(api, (0..RACERS).map(|_| (method, path.to_owned(), body.clone())).collect()).await
}

fn status(answer: &Answer) -> u16 {
    answer.as_ref().map_or_else(|problem| problem.status, |(status, _)| *status)
}

fn count(answers: &[Answer], wanted: u16) -> usize {
    answers.iter().filter(|a| status(a) == wanted).count()
}

async fn stored_bookings(api: &Api<'_>) -> usize {
    api.bookings("limit=200").await.unwrap().items.len()
}

/// Every 409 names the one booking that won.
fn assert_refusals_name(answers: &[Answer], winner: &BookingOut) {
    for problem in answers.iter().filter_map(|a| a.as_ref().err()).filter(|p| p.status == 409) {
        let conflicts = problem.conflicts.as_ref().unwrap();
        assert_eq!(conflicts[0]["id"], winner.id.to_string(), "{problem:?}");
        assert_eq!(conflicts.as_array().unwrap().len(), 1, "{problem:?}");
    }
}

async fn fifty_concurrent_conflicting_bookings_give_exactly_one_201(db: Db) {
    let (app, key) = tenant_app(db).await;
    let api = app.api(&key);
    let room = resource(&api).await;
    let path = "/api/v1/bookings?reject_conflicts=true";
    let answers = race_one(&api, "POST", path, stay(room, 10)).await;
    let created: Vec<_> =
        answers.iter().filter_map(|a| a.as_ref().ok()).filter(|(s, _)| *s == 201).collect();
    assert_eq!(
        (created.len(), count(&answers, 409)),
        (1, RACERS - 1),
        "one stay may win the nights; the others are refused"
    );
    assert_refusals_name(&answers, &created[0].1);
    assert_eq!(stored_bookings(&api).await, 1);
    app.stop().await;
}

/// A client that sends the same checked booking again while the first is still on its way (a
/// retry after a timeout, fifty times here) is told each time that it is saved: one booking,
/// never a refusal naming itself.
async fn the_same_checked_booking_sent_fifty_times_at_once_is_saved_once_and_never_refused(db: Db) {
    let (app, key) = tenant_app(db).await;
    let api = app.api(&key);
    let room = resource(&api).await;
    let path = "/api/v1/bookings/by-external-id/res-1?reject_conflicts=true";
    let answers = race_one(&api, "PUT", path, stay(room, 10)).await;
    let refused: Vec<_> = answers.iter().filter_map(|a| a.as_ref().err()).collect();
    assert!(refused.is_empty(), "{refused:?}");
    let ids: std::collections::HashSet<_> =
        answers.iter().filter_map(|a| a.as_ref().ok()).map(|(_, b)| b.id).collect();
    assert_eq!((ids.len(), count(&answers, 201)), (1, 1), "one booking, created once");
    assert_eq!(stored_bookings(&api).await, 1);
    app.stop().await;
}

/// The host's checked `PUT` saves a stay, but the answer is lost; before the retry, a stay
/// booked without the check overlaps it, and the room's new rules ask for three nights. The
/// retry sends the same content: it is told the stay is saved as it was (200, same version),
/// not refused, since nothing of it is written again. Both conflicts stay open for a person.
async fn a_checked_retry_of_a_saved_stay_is_told_it_is_saved_when_a_conflict_came_meanwhile(
    db: Db,
) {
    let (app, key) = tenant_app(db).await;
    let api = app.api(&key);
    let room = resource(&api).await;
    let path = "/api/v1/bookings/by-external-id/res-1?reject_conflicts=true";
    let saved: Value = api.send("PUT", path, Some(stay(room, 10)), 201).await.unwrap();
    let overlapping = json!({"title": "Walk-in", "resource_id": room,
        "start_date": "2030-03-11", "end_date": "2030-03-13"});
    api.send::<Value>("POST", "/api/v1/bookings", Some(overlapping), 201).await.unwrap();
    let rules = json!({"min_nights": 3});
    api.send::<Value>("PUT", &format!("/api/v1/resources/{room}/rules"), Some(rules), 200)
        .await
        .unwrap();

    let retried: Value = api.send("PUT", path, Some(stay(room, 10)), 200).await.unwrap();
    assert_eq!((&retried["id"], &retried["version"]), (&saved["id"], &saved["version"]));
    let open: Value = api.send("GET", "/api/v1/conflicts?status=open", None, 200).await.unwrap();
    let mut kinds: Vec<_> =
        open["items"].as_array().unwrap().iter().map(|c| c["kind"].as_str().unwrap()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["overlap", "rule", "rule"], "{open}");
    app.stop().await;
}

async fn fifty_concurrent_bookings_of_different_nights_are_all_saved(db: Db) {
    let (app, key) = tenant_app(db).await;
    let api = app.api(&key);
    let room = resource(&api).await;
    // Two-night stays every other day of 2030: back to back, never overlapping.
    let path = "/api/v1/bookings?reject_conflicts=true".to_owned();
    let requests = (0..RACERS)
        .map(|i| {
            let start = chrono::NaiveDate::from_ymd_opt(2030, 1, 1).unwrap()
                + chrono::Duration::days(2 * i as i64);
            let end = start + chrono::Duration::days(2);
            let body = json!({"title": format!("Guest {i}"), "resource_id": room,
                "start_date": start.to_string(), "end_date": end.to_string()});
            ("POST", path.clone(), body)
        })
        .collect();
    let answers = race(&api, requests).await;
    assert_eq!(count(&answers, 201), RACERS, "{:?}", answers.iter().find(|a| status(a) != 201));
    assert_eq!(stored_bookings(&api).await, RACERS);
    app.stop().await;
}

async fn concurrent_bookings_of_one_staff_member_in_different_rooms_give_one_201(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let ann = staff_member(&api).await;
    let mut requests = Vec::new();
    for i in 0..10 {
        let room = resource(&api).await;
        let body = json!({"title": format!("Massage {i}"), "resource_id": room, "staff_ids": [ann],
            "start": "2030-03-01T10:00:00Z", "end": "2030-03-01T11:00:00Z"});
        requests.push(("POST", "/api/v1/bookings?reject_conflicts=true".to_owned(), body));
    }
    let answers = race(&api, requests).await;
    assert_eq!((count(&answers, 201), count(&answers, 409)), (1, 9), "Ann can be in one room only");
    app.stop().await;
}

async fn concurrent_upserts_and_patches_onto_the_same_nights_save_only_one(db: Db) {
    let (app, key) = tenant_app(db).await;
    let api = app.api(&key);
    let room = resource(&api).await;
    // Ten stays on separate nights, each then moved onto the same nights at once…
    let mut requests = Vec::new();
    for i in 0..10 {
        let saved: BookingOut =
            api.send("POST", "/api/v1/bookings", Some(stay(room, 2 + 3 * i)), 201).await.unwrap();
        let path = format!("/api/v1/bookings/{}?reject_conflicts=true", saved.id);
        let patch = json!({"start_date": "2030-04-10", "end_date": "2030-04-12"});
        requests.push(("PATCH", path, patch));
    }
    // …while ten new stays with external ids ask for them too.
    for i in 0..10 {
        let path = format!("/api/v1/bookings/by-external-id/host-{i}?reject_conflicts=true");
        let body = json!({"title": "Late", "resource_id": room, "start_date": "2030-04-11", "end_date": "2030-04-13"});
        requests.push(("PUT", path, body));
    }
    let answers = race(&api, requests).await;
    let saved = count(&answers[..10], 200) + count(&answers[10..], 201);
    let statuses: Vec<_> = answers.iter().map(status).collect();
    assert_eq!((saved, count(&answers, 409)), (1, 19), "{statuses:?}");
    app.stop().await;
}

/// Bookings saved without a check (the default) race checked ones for the same nights: the
/// promise of `?reject_conflicts=true` holds (at most one checked stay gets the nights), every
/// unchecked stay is saved, and each overlap it makes is recorded as a conflict.
async fn checked_stays_racing_unchecked_ones_keep_the_check_and_record_every_overlap(db: Db) {
    let (app, key) = tenant_app(db).await;
    let api = app.api(&key);
    let room = resource(&api).await;
    // Checked and unchecked requests interleaved, five of each, all for the same nights.
    let requests = (0..10)
        .map(|i| {
            let query = if i % 2 == 0 { "?reject_conflicts=true" } else { "" };
            ("POST", format!("/api/v1/bookings{query}"), stay(room, 10))
        })
        .collect();
    let answers = race(&api, requests).await;
    let (checked, unchecked): (Vec<_>, Vec<_>) =
        answers.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let statuses =
        |side: &[(usize, &Answer)]| side.iter().map(|(_, a)| status(a)).collect::<Vec<_>>();
    let checked_saved = statuses(&checked[..]).iter().filter(|s| **s == 201).count();
    assert!(checked_saved <= 1, "one checked stay at most: {:?}", statuses(&checked[..]));
    assert_eq!(checked_saved + count(&answers, 409), 5, "{:?}", statuses(&checked[..]));
    assert_eq!(statuses(&unchecked[..]), vec![201; 5], "unchecked stays are always saved");
    let saved: Vec<Uuid> =
        answers.iter().filter_map(|a| a.as_ref().ok()).map(|(_, booking)| booking.id).collect();
    assert_eq!(stored_bookings(&api).await, saved.len());
    app.settle().await;
    let open = api.conflicts("open").await.unwrap();
    for id in &saved {
        let named = open.iter().any(|c| c.items.iter().any(|item| item.id == *id));
        assert!(named, "booking {id} overlaps the others and is in an open conflict: {open:?}");
    }
    app.stop().await;
}

/// `method path` answers 422 naming exactly `named`.
async fn assert_refused(api: &Api<'_>, request: (&str, String, Option<Value>), named: &[&str]) {
    let (method, path, body) = request;
    let answer = api.exchange::<Value>(method, &path, body).await;
    let problem = answer.expect_err(&format!("{method} {path} is refused"));
    assert_eq!(problem.status, 422, "{method} {path}: {problem:?}");
    assert_eq!(fields(&problem), named, "{method} {path}: {problem:?}");
}

async fn dates_beyond_the_supported_years_are_refused_naming_the_field(db: Db) {
    let (app, key) = tenant_app(db).await;
    let api = app.api(&key);
    let room = resource(&api).await;
    let kept: BookingOut =
        api.send("POST", "/api/v1/bookings", Some(stay(room, 1)), 201).await.unwrap();
    let get = |path: String| ("GET", path, None);
    let window = |q: &str| get(format!("/api/v1/availability?resource_id={room}&{q}"));
    let block = |start: &str, end: &str| {
        let body = json!({"resource_id": room, "start_date": start, "end_date": end});
        ("POST", "/api/v1/blocks".to_owned(), Some(body))
    };
    let timed = |method: &'static str, path: &str, start: &str, end: &str| {
        let mut body = json!({"resource_id": room, "start": start, "end": end});
        if path.starts_with("/api/v1/bookings") {
            body["title"] = json!("Far");
        }
        (method, path.to_owned(), Some(body))
    };
    let patch = json!({"start_date": "2030-03-01", "end_date": "2201-01-01"});
    let cases = [
        (window("from=%2B262142-12-31"), &["from"][..]),
        (window("from=-999-01-01"), &["from"]),
        (window("from=2030-01-01&to=%2B262142-12-31"), &["to"]),
        (window("from=9999-12-31T23:59:59Z"), &["from"]),
        (window("from=2200-12-31&to=2201-01-01"), &["to"]),
        (get("/api/v1/bookings?from=0001-01-01T00:00:00Z".into()), &["from"]),
        (get("/api/v1/bookings?to=2201-01-01T00:00:00Z".into()), &["to"]),
        (block("-999-01-01", "2030-01-01"), &["start_date"]),
        (block("1899-12-31", "1900-01-02"), &["start_date"]),
        (block("2201-01-01", "2201-01-02"), &["start_date", "end_date"]),
        (timed("POST", "/api/v1/blocks", "2030-01-01T00:00:00Z", "9999-12-31T00:00:00Z"), &["end"]),
        (
            timed("POST", "/api/v1/bookings", "1800-01-01T10:00:00Z", "2030-01-01T10:00:00Z"),
            &["start"],
        ),
        (
            timed(
                "PUT",
                "/api/v1/bookings/by-external-id/far",
                "1800-01-01T10:00:00Z",
                "2030-01-01T10:00:00Z",
            ),
            &["start"],
        ),
        (("PATCH", format!("/api/v1/bookings/{}", kept.id), Some(patch)), &["end_date"]),
    ];
    for (request, fields) in cases {
        assert_refused(&api, request, fields).await;
    }
    let answer = api.send::<Value>("GET", &window("from=2030-01-01").1, None, 200).await;
    answer.expect("the server keeps answering");
    let list = api.bookings("").await.unwrap();
    assert_eq!(list.items.len(), 1, "nothing far was saved: {list:?}");
    let blocks = api.blocks("").await.unwrap();
    assert_eq!(blocks.items.len(), 0, "{blocks:?}");
    app.stop().await;
}

async fn the_last_day_of_2200_is_accepted_and_2201_refused(db: Db) {
    let (app, key) = tenant_app(db).await;
    let api = app.api(&key);
    let room = resource(&api).await;
    let edge = |end: &str| BookingIn {
        title: "Edge".into(),
        resource_id: Some(room),
        start: Some("2200-12-31T10:00:00Z".into()),
        end: Some(end.into()),
        ..BookingIn::default()
    };
    api.create_booking(&edge("2200-12-31T23:59:59Z")).await.unwrap();
    let block = BlockIn {
        resource_id: Some(room),
        start_date: Some("1900-01-01".into()),
        end_date: Some("1900-01-02".into()),
        ..BlockIn::default()
    };
    api.create_block(&block).await.unwrap();
    let path = format!("/api/v1/availability?resource_id={room}&from=2200-12-31");
    let window: Value = api.send("GET", &path, None, 200).await.unwrap();
    assert_eq!(window["busy"].as_array().unwrap().len(), 1, "{window}");
    let booking = json!({"title": "Edge", "resource_id": room, "start": "2200-12-31T10:00:00Z", "end": "2201-01-01T00:00:00Z"});
    assert_refused(&api, ("POST", "/api/v1/bookings".into(), Some(booking)), &["end"]).await;
    app.stop().await;
}

/// Like `on_both_databases!`, on a runtime with several threads, so that the server handles the
/// racing requests truly in parallel. The races run on both kinds of runtime: before the fix,
/// each caught double bookings the other sometimes missed.
macro_rules! on_both_databases_in_parallel {
    ($($name:ident),* $(,)?) => {
        mod parallel_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::helpers::Db::Sqlite).await
                }
            )*
        }
        mod parallel_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                #[ignore = "needs PostgreSQL: run scripts/test"]
                async fn $name() {
                    super::$name($crate::helpers::Db::Postgres).await
                }
            )*
        }
    };
}

on_both_databases_in_parallel!(
    fifty_concurrent_conflicting_bookings_give_exactly_one_201,
    the_same_checked_booking_sent_fifty_times_at_once_is_saved_once_and_never_refused,
    fifty_concurrent_bookings_of_different_nights_are_all_saved,
    concurrent_bookings_of_one_staff_member_in_different_rooms_give_one_201,
    concurrent_upserts_and_patches_onto_the_same_nights_save_only_one,
    checked_stays_racing_unchecked_ones_keep_the_check_and_record_every_overlap,
);

on_both_databases!(
    fifty_concurrent_conflicting_bookings_give_exactly_one_201,
    the_same_checked_booking_sent_fifty_times_at_once_is_saved_once_and_never_refused,
    fifty_concurrent_bookings_of_different_nights_are_all_saved,
    concurrent_bookings_of_one_staff_member_in_different_rooms_give_one_201,
    concurrent_upserts_and_patches_onto_the_same_nights_save_only_one,
    checked_stays_racing_unchecked_ones_keep_the_check_and_record_every_overlap,
    a_checked_retry_of_a_saved_stay_is_told_it_is_saved_when_a_conflict_came_meanwhile,
    dates_beyond_the_supported_years_are_refused_naming_the_field,
    the_last_day_of_2200_is_accepted_and_2201_refused,
);
