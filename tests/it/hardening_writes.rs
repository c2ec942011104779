//! Writes under pressure: `?reject_conflicts=true` holds under concurrent requests, and every date
//! the API accepts is range-checked before anything computes with it.

use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{Db, TestApp, on_both_databases};

/// How many requests race in the concurrency tests.
const RACERS: usize = 50;

async fn resource(app: &TestApp, key: &str) -> String {
    let body = json!({"name": "Sea view", "time_zone": "UTC"});
    let (status, room) = app.call("POST", "/api/v1/resources", key, Some(body)).await;
    assert_eq!(status, 201, "{room}");
    room["id"].as_str().unwrap().to_owned()
}

async fn staff_member(app: &TestApp, key: &str) -> String {
    let body = json!({"name": "Ann", "email": "ann@example.com"});
    let (status, staff) = app.call("POST", "/api/v1/staff", key, Some(body)).await;
    assert_eq!(status, 201, "{staff}");
    staff["id"].as_str().unwrap().to_owned()
}

/// A stay of `room` from the `day`th of March 2030, two nights.
fn stay(room: &str, day: usize) -> Value {
    json!({
        "title": format!("Guest {day}"), "resource_id": room,
        "start_date": format!("2030-03-{day:02}"), "end_date": format!("2030-03-{:02}", day + 2),
    })
}

/// Sends all `requests` at once; returns the statuses and bodies in order.
async fn race(app: &TestApp, key: &str, requests: Vec<(&str, String, Value)>) -> Vec<(u16, Value)> {
    let calls = requests
        .into_iter()
        .map(|(method, path, body)| async move { app.call(method, &path, key, Some(body)).await });
    join_all(calls).await
}

fn count(answers: &[(u16, Value)], status: u16) -> usize {
    answers.iter().filter(|(s, _)| *s == status).count()
}

async fn stored_bookings(app: &TestApp, key: &str) -> usize {
    let (status, page) = app.call("GET", "/api/v1/bookings?limit=200", key, None).await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().len()
}

/// Every 409 names the one booking that won.
fn assert_refusals_name(answers: &[(u16, Value)], winner: &Value) {
    for (status, body) in answers.iter().filter(|(s, _)| *s == 409) {
        assert_eq!(*status, 409);
        assert_eq!(body["conflicts"][0]["id"], winner["id"], "{body}");
        assert_eq!(body["conflicts"].as_array().unwrap().len(), 1, "{body}");
    }
}

async fn fifty_concurrent_conflicting_bookings_give_exactly_one_201(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key).await;
    let path = "/api/v1/bookings?reject_conflicts=true".to_owned();
    let requests = (0..RACERS).map(|_| ("POST", path.clone(), stay(&room, 10))).collect();
    let answers = race(&app, &key, requests).await;
    let created: Vec<_> = answers.iter().filter(|(s, _)| *s == 201).collect();
    assert_eq!(
        (created.len(), count(&answers, 409)),
        (1, RACERS - 1),
        "one stay may win the nights; the others are refused"
    );
    assert_refusals_name(&answers, &created[0].1);
    assert_eq!(stored_bookings(&app, &key).await, 1);
    app.stop().await;
}

async fn fifty_concurrent_bookings_of_different_nights_are_all_saved(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key).await;
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
    let answers = race(&app, &key, requests).await;
    assert_eq!(count(&answers, 201), RACERS, "{:?}", answers.iter().find(|(s, _)| *s != 201));
    assert_eq!(stored_bookings(&app, &key).await, RACERS);
    app.stop().await;
}

async fn concurrent_bookings_of_one_staff_member_in_different_rooms_give_one_201(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let ann = staff_member(&app, &key).await;
    let mut requests = Vec::new();
    for i in 0..10 {
        let room = resource(&app, &key).await;
        let body = json!({"title": format!("Massage {i}"), "resource_id": room, "staff_ids": [ann],
            "start": "2030-03-01T10:00:00Z", "end": "2030-03-01T11:00:00Z"});
        requests.push(("POST", "/api/v1/bookings?reject_conflicts=true".to_owned(), body));
    }
    let answers = race(&app, &key, requests).await;
    assert_eq!((count(&answers, 201), count(&answers, 409)), (1, 9), "Ann can be in one room only");
    app.stop().await;
}

async fn concurrent_upserts_and_patches_onto_the_same_nights_save_only_one(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key).await;
    // Ten stays on separate nights, each then moved onto the same nights at once…
    let mut requests = Vec::new();
    for i in 0..10 {
        let (status, saved) =
            app.call("POST", "/api/v1/bookings", &key, Some(stay(&room, 2 + 3 * i))).await;
        assert_eq!(status, 201, "{saved}");
        let path =
            format!("/api/v1/bookings/{}?reject_conflicts=true", saved["id"].as_str().unwrap());
        let patch = json!({"start_date": "2030-04-10", "end_date": "2030-04-12"});
        requests.push(("PATCH", path, patch));
    }
    // …while ten new stays with external ids ask for them too.
    for i in 0..10 {
        let path = format!("/api/v1/bookings/by-external-id/host-{i}?reject_conflicts=true");
        let body = json!({"title": "Late", "resource_id": room, "start_date": "2030-04-11", "end_date": "2030-04-13"});
        requests.push(("PUT", path, body));
    }
    let answers = race(&app, &key, requests).await;
    let saved = count(&answers[..10], 200) + count(&answers[10..], 201);
    let statuses: Vec<_> = answers.iter().map(|(s, _)| s).collect();
    assert_eq!((saved, count(&answers, 409)), (1, 19), "{statuses:?}");
    app.stop().await;
}

/// `method path` answers 422 naming exactly `fields`.
async fn assert_refused(
    app: &TestApp,
    key: &str,
    request: (&str, String, Option<Value>),
    fields: &[&str],
) {
    let (method, path, body) = request;
    let (status, problem) = app.call(method, &path, key, body).await;
    assert_eq!(status, 422, "{method} {path}: {problem}");
    let named: Vec<_> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(named, fields, "{method} {path}: {problem}");
}

async fn dates_beyond_the_supported_years_are_refused_naming_the_field(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key).await;
    let (status, kept) = app.call("POST", "/api/v1/bookings", &key, Some(stay(&room, 1))).await;
    assert_eq!(status, 201, "{kept}");
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
        (
            ("PATCH", format!("/api/v1/bookings/{}", kept["id"].as_str().unwrap()), Some(patch)),
            &["end_date"],
        ),
    ];
    for (request, fields) in cases {
        assert_refused(&app, &key, request, fields).await;
    }
    let (status, _) = app.call("GET", &window("from=2030-01-01").1, &key, None).await;
    assert_eq!(status, 200, "the server keeps answering");
    let (_, list) = app.call("GET", "/api/v1/bookings", &key, None).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "nothing far was saved: {list}");
    let (_, blocks) = app.call("GET", "/api/v1/blocks", &key, None).await;
    assert_eq!(blocks["items"].as_array().map(Vec::len), Some(0), "{blocks}");
    app.stop().await;
}

async fn the_last_day_of_2200_is_accepted_and_2201_refused(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key).await;
    let booking = json!({"title": "Edge", "resource_id": room, "start": "2200-12-31T10:00:00Z", "end": "2200-12-31T23:59:59Z"});
    let (status, saved) = app.call("POST", "/api/v1/bookings", &key, Some(booking)).await;
    assert_eq!(status, 201, "{saved}");
    let block = json!({"resource_id": room, "start_date": "1900-01-01", "end_date": "1900-01-02"});
    let (status, saved) = app.call("POST", "/api/v1/blocks", &key, Some(block)).await;
    assert_eq!(status, 201, "{saved}");
    let (status, window) = app
        .call(
            "GET",
            &format!("/api/v1/availability?resource_id={room}&from=2200-12-31"),
            &key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{window}");
    assert_eq!(window["busy"].as_array().unwrap().len(), 1, "{window}");
    let booking = json!({"title": "Edge", "resource_id": room, "start": "2200-12-31T10:00:00Z", "end": "2201-01-01T00:00:00Z"});
    assert_refused(&app, &key, ("POST", "/api/v1/bookings".into(), Some(booking)), &["end"]).await;
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
    fifty_concurrent_bookings_of_different_nights_are_all_saved,
    concurrent_bookings_of_one_staff_member_in_different_rooms_give_one_201,
    concurrent_upserts_and_patches_onto_the_same_nights_save_only_one,
);

on_both_databases!(
    fifty_concurrent_conflicting_bookings_give_exactly_one_201,
    fifty_concurrent_bookings_of_different_nights_are_all_saved,
    concurrent_bookings_of_one_staff_member_in_different_rooms_give_one_201,
    concurrent_upserts_and_patches_onto_the_same_nights_save_only_one,
    dates_beyond_the_supported_years_are_refused_naming_the_field,
    the_last_day_of_2200_is_accepted_and_2201_refused,
);
