//! iCal feeds out and in, availability and conflicts, over real HTTP against the real app.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode, header};
use kalends::api::blocks::BlockIn;
use kalends::api::bookings::{BookingIn, BookingOut, BookingPatch, CustomerIn, Status};
use kalends::api::resources::{ResourceIn, ResourcePatch};
use kalends_core::conflicts::Severity;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Db, TempDir, TestApp, config, needs_peers, on_both_databases};
use crate::peer::peer;

/// A tiny .ics server standing in for Airbnb: serves whatever body it holds, with an ETag
/// (and a `Retry-After` once [`FakePlatform::asking_to_wait`] says so).
#[derive(Clone)]
pub(crate) struct FakePlatform {
    reply: Arc<Mutex<(u16, String, Option<u32>)>>,
    base: String,
}

impl FakePlatform {
    async fn start(body: &str) -> FakePlatform {
        let reply = Arc::new(Mutex::new((200, body.to_owned(), None::<u32>)));
        let shared = reply.clone();
        let app = axum::Router::new().route(
            "/calendar/ical/{file}",
            axum::routing::get(move |headers: HeaderMap| {
                let shared = shared.clone();
                async move {
                    use axum::response::IntoResponse as _;
                    let (status, body, wait) = shared.lock().unwrap().clone();
                    let etag = format!("\"{}\"", body.len());
                    let matches = headers.get(header::IF_NONE_MATCH).is_some_and(|v| *v == *etag);
                    if status == 200 && matches {
                        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
                    }
                    let status = StatusCode::from_u16(status).unwrap();
                    let mut answer = (status, [(header::ETAG, etag)], body).into_response();
                    if let Some(seconds) = wait {
                        answer.headers_mut().insert(header::RETRY_AFTER, seconds.into());
                    }
                    answer
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakePlatform { reply, base }
    }

    /// One reservation 12 to 15 days from now and a host block 40 to 42 days from now.
    pub(crate) async fn airbnb() -> FakePlatform {
        FakePlatform::start(&airbnb_ics((&in_days(12), &in_days(15)), (&in_days(40), &in_days(42))))
            .await
    }

    pub(crate) fn url(&self) -> String {
        format!("{}/calendar/ical/12345.ics?s=secret-token", self.base)
    }

    fn set(&self, status: u16, body: &str) {
        *self.reply.lock().unwrap() = (status, body.to_owned(), None);
    }

    /// From now on, answers `status` asking to be left alone for `seconds` (`Retry-After`).
    fn asking_to_wait(&self, status: u16, seconds: u32) {
        *self.reply.lock().unwrap() = (status, String::new(), Some(seconds));
    }
}

/// An Airbnb-style export with one reservation and one host block.
fn airbnb_ics(reserved: (&str, &str), blocked: (&str, &str)) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nPRODID:-//Airbnb Inc//Hosting Calendar 0.8.8//EN\r\nCALSCALE:GREGORIAN\r\nVERSION:2.0\r\n\
         BEGIN:VEVENT\r\nDTEND;VALUE=DATE:{}\r\nDTSTART;VALUE=DATE:{}\r\nUID:res-1@airbnb.com\r\nSUMMARY:Reserved\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nDTEND;VALUE=DATE:{}\r\nDTSTART;VALUE=DATE:{}\r\nUID:blk-1@airbnb.com\r\nSUMMARY:Airbnb (Not available)\r\nEND:VEVENT\r\n\
         END:VCALENDAR\r\n",
        reserved.1, reserved.0, blocked.1, blocked.0
    )
}

/// Registers `platform`'s feed as an Airbnb import of `room`.
async fn register(app: &TestApp, key: &str, room: Uuid, platform: &FakePlatform) -> Value {
    let body = json!({"resource_id": room, "platform": "airbnb", "url": platform.url()});
    let (status, import) = app.call("POST", "/api/v1/imports", key, Some(body)).await;
    assert_eq!(status, 201, "{import}");
    import
}

/// Runs an import now; returns the run.
async fn run(app: &TestApp, key: &str, import: &Value) -> Value {
    let path = format!("/api/v1/imports/{}/run", import["id"].as_str().unwrap());
    app.call("POST", &path, key, None).await.1
}

async fn app_allowing_local_feeds(db: Db) -> TestApp {
    let dir = TempDir::new();
    let mut config = config(db, &dir).await;
    config.import.allow_private_networks = true;
    config.import.scheduler_interval_secs = 1;
    TestApp::start_with(config, dir).await
}

async fn resource(app: &TestApp, key: &str, zone: &str) -> Uuid {
    let room = ResourceIn {
        name: "Sea view".into(),
        time_zone: Some(zone.into()),
        ..ResourceIn::default()
    };
    app.api(key).create_resource(&room).await.unwrap().id
}

/// A booking of `room` by dates, `from` to `to`.
fn dates(title: &str, room: Uuid, from: &str, to: &str) -> BookingIn {
    BookingIn {
        title: title.into(),
        resource_id: Some(room),
        start_date: Some(from.into()),
        end_date: Some(to.into()),
        ..BookingIn::default()
    }
}

async fn stay(
    app: &TestApp,
    key: &str,
    room: Uuid,
    from: &str,
    to: &str,
    status: Status,
) -> BookingOut {
    let customer = CustomerIn {
        name: "Ann Smith".into(),
        email: Some("ann@example.com".into()),
        phone: Some("+27 82 000 0000".into()),
    };
    let booking = BookingIn {
        status: Some(status),
        customer: Some(customer),
        ..dates("Smith family", room, from, to)
    };
    app.api(key).create_booking(&booking).await.unwrap()
}

async fn feed(app: &TestApp, key: &str, body: Value) -> Value {
    let (status, feed) = app.call("POST", "/api/v1/feeds", key, Some(body)).await;
    assert_eq!(status, 201, "{feed}");
    feed
}

/// A date `n` days from today, as the API writes dates (imports only read 18 months ahead).
fn in_days(n: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(n)).to_string()
}

fn compact(date: &str) -> String {
    date.replace('-', "")
}

/// GETs a feed URL (handed out under `KALENDS_PUBLIC_URL`) from the test server.
async fn get_ics(app: &TestApp, url: &str, headers: &[(&str, &str)]) -> (u16, HeaderMap, String) {
    let path = url.find("/ical/").map_or(url, |i| &url[i..]);
    let mut request = app.http.get(app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, response.text().await.unwrap())
}

async fn a_feed_serves_the_resources_bookings_as_rfc5545(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key, "Africa/Johannesburg").await;
    stay(&app, &key, room, "2030-03-01", "2030-03-04", Status::Confirmed).await;
    let maybe = stay(&app, &key, room, "2030-04-01", "2030-04-02", Status::Tentative).await;
    let gone = stay(&app, &key, room, "2030-05-01", "2030-05-02", Status::Confirmed).await;
    app.api(&key).cancel_booking(gone.id).await.unwrap();
    let busy = feed(
        &app,
        &key,
        json!({"scope": "resource", "scope_id": room, "profile": "busy", "name": "Sea view"}),
    )
    .await;
    let (status, headers, body) = get_ics(&app, busy["url"].as_str().unwrap(), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers[header::CONTENT_TYPE], "text/calendar; charset=utf-8");
    assert!(headers.contains_key(header::ETAG) && headers.contains_key(header::LAST_MODIFIED));
    assert!(body.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"), "{body}");
    assert!(body.ends_with("END:VCALENDAR\r\n"));
    assert!(!body.replace("\r\n", "").contains('\n'), "every line ends with CRLF");
    for line in [
        "METHOD:PUBLISH",
        "CALSCALE:GREGORIAN",
        "X-WR-CALNAME:Sea view",
        "X-WR-TIMEZONE:Africa/Johannesburg",
        "DTSTART;VALUE=DATE:20300301",
        "DTEND;VALUE=DATE:20300304",
        "STATUS:CANCELLED",
        "SUMMARY:Reserved",
    ] {
        assert!(body.contains(line), "missing {line}: {body}");
    }
    assert!(
        !body.contains("Smith") && !body.contains("ann@example.com"),
        "busy feeds carry no personal data"
    );
    assert!(
        !body.contains("STATUS:TENTATIVE"),
        "tentative shows as plain busy in the busy profile"
    );
    assert_eq!(body.matches("BEGIN:VEVENT").count(), 3);

    let details =
        feed(&app, &key, json!({"scope": "tenant", "profile": "details", "name": "All"})).await;
    let (_, _, body) = get_ics(&app, details["url"].as_str().unwrap(), &[]).await;
    assert!(body.contains("SUMMARY:Smith family") && body.contains("Ann Smith"), "{body}");
    assert!(body.contains("STATUS:TENTATIVE"));
    assert!(body.contains(&format!("UID:{}@kalends", maybe.id)));
    assert!(body.contains("SEQUENCE:2"), "the cancelled booking is at version 2: {body}");
    app.stop().await;
}

async fn a_feed_answers_304_until_something_in_it_changes(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key, "Europe/Berlin").await;
    stay(&app, &key, room, "2030-03-01", "2030-03-04", Status::Confirmed).await;
    let f = feed(
        &app,
        &key,
        json!({"scope": "resource", "scope_id": room, "profile": "busy", "name": "Room"}),
    )
    .await;
    let url = f["url"].as_str().unwrap();
    let (_, headers, _) = get_ics(&app, url, &[]).await;
    let etag = headers[header::ETAG].to_str().unwrap().to_owned();
    let modified = headers[header::LAST_MODIFIED].to_str().unwrap().to_owned();
    assert_eq!(get_ics(&app, url, &[("If-None-Match", &etag)]).await.0, 304);
    assert_eq!(get_ics(&app, url, &[("If-Modified-Since", &modified)]).await.0, 304);
    stay(&app, &key, room, "2030-06-01", "2030-06-04", Status::Confirmed).await;
    let (status, headers, body) = get_ics(&app, url, &[("If-None-Match", &etag)]).await;
    assert_eq!(status, 200, "a new booking changes the feed");
    assert_ne!(headers[header::ETAG].to_str().unwrap(), etag);
    assert_eq!(body.matches("BEGIN:VEVENT").count(), 2);
    // A subscriber that revalidates by date alone sees a change of the business's settings too
    // (dates are to the second: the change is made in a later one).
    let modified = headers[header::LAST_MODIFIED].to_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.api(&key).patch_settings(json!({"busy_label": "Occupied"})).await.unwrap();
    let (status, _, body) = get_ics(&app, url, &[("If-Modified-Since", &modified)]).await;
    assert_eq!(status, 200, "a new busy label changes the feed");
    assert!(body.contains("SUMMARY:Occupied"), "{body}");
    app.stop().await;
}

/// A room's feed for VRBO shows what its Airbnb import holds. The import turns out to be the
/// room's VRBO calendar and is said so: the feed now leaves those items out (they are VRBO's
/// own), at once, though not one item changed: a subscriber revalidating gets the new body.
async fn a_feed_answers_anew_when_an_import_it_shows_changes_platform(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key, "UTC").await;
    let platform = FakePlatform::airbnb().await;
    let import = register(&app, &key, room, &platform).await;
    assert_eq!(run(&app, &key, &import).await["added"], 2);
    let body = json!({"scope": "resource", "scope_id": room, "profile": "busy", "name": "For VRBO",
        "platform": "vrbo"});
    let url = feed(&app, &key, body).await["url"].as_str().unwrap().to_owned();
    let (_, headers, before) = get_ics(&app, &url, &[]).await;
    assert_eq!(before.matches("BEGIN:VEVENT").count(), 2, "{before}");
    let etag = headers[header::ETAG].to_str().unwrap().to_owned();

    let path = format!("/api/v1/imports/{}", import["id"].as_str().unwrap());
    let (status, changed) = app.call("PATCH", &path, &key, Some(json!({"platform": "vrbo"}))).await;
    assert_eq!(status, 200, "{changed}");
    let (status, _, after) = get_ics(&app, &url, &[("If-None-Match", &etag)]).await;
    assert_eq!(status, 200, "the feed changed: {after}");
    assert!(after.matches("BEGIN:VEVENT").count() < 2, "VRBO's own items left out: {after}");
    app.stop().await;
}

async fn rotating_a_feed_kills_its_old_url(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let f = feed(&app, &key, json!({"scope": "tenant", "profile": "busy", "name": "All"})).await;
    let old = f["url"].as_str().unwrap().to_owned();
    assert_eq!(f["instructions"].as_array().unwrap().len(), 6);
    assert!(f["webcal_url"].as_str().unwrap().starts_with("webcal://"));
    let (status, rotated) = app
        .call("POST", &format!("/api/v1/feeds/{}/rotate", f["id"].as_str().unwrap()), &key, None)
        .await;
    assert_eq!(status, 200);
    let new = rotated["url"].as_str().unwrap();
    assert_ne!(new, old);
    assert_eq!(get_ics(&app, &old, &[]).await.0, 404);
    assert_eq!(get_ics(&app, new, &[]).await.0, 200);
    let (_, listed) = app.call("GET", "/api/v1/feeds", &key, None).await;
    assert_eq!(listed["items"][0]["url"], new, "the list shows the current URL again");
    assert_eq!(get_ics(&app, &app.url("/ical/not-a-token.ics"), &[]).await.0, 404);
    app.stop().await;
}

/// A room keeps a night free after each stay. A direct stay ends in ten days; Airbnb then sells
/// the very next night. The import opens a rule conflict on the direct stay at once (no overlap:
/// the nights do not touch), and when Airbnb moves its reservation two months later (far beyond
/// any turnover's reach of where it went) the next import resolves it. Deleting the import
/// resolves one too.
async fn an_airbnb_reservation_imported_into_a_stays_turnover_night_opens_a_rule_conflict(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let room = resource(&app, &key, "Europe/Lisbon").await;
    let rules = json!({"turnover_days": 1});
    app.call("PUT", &format!("/api/v1/resources/{room}/rules"), &key, Some(rules)).await;
    let direct = stay(&app, &key, room, &in_days(8), &in_days(10), Status::Confirmed).await;
    let far = (in_days(40), in_days(42));
    let airbnb =
        FakePlatform::start(&airbnb_ics((&in_days(10), &in_days(12)), (&far.0, &far.1))).await;
    let import = register(&app, &key, room, &airbnb).await;
    assert_eq!(run(&app, &key, &import).await["added"], 2);

    let open = api.conflicts("open").await.unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!((open[0].kind.as_str(), open[0].rule.as_deref()), ("rule", Some("turnover_days")));
    assert!(open[0].items.iter().any(|item| item.id == direct.id), "{open:?}");
    let moved = airbnb_ics((&in_days(70), &in_days(72)), (&far.0, &far.1));
    // Another length: the fake platform's ETag is the body's.
    airbnb.set(200, &moved.replace("SUMMARY:Reserved", "SUMMARY:Reserved (moved)"));
    assert_eq!(run(&app, &key, &import).await["updated"], 1);
    let resolved = api.conflict(open[0].id).await.unwrap();
    assert_eq!(resolved.resolution.as_deref(), Some("auto"), "{resolved:?}");
    // Back in the turnover night, then the import deleted: its nights and its conflict go.
    airbnb.set(200, &airbnb_ics((&in_days(10), &in_days(12)), (&far.0, &far.1)));
    assert_eq!(run(&app, &key, &import).await["updated"], 1);
    assert_eq!(api.conflicts("open").await.unwrap().len(), 1);
    let path = format!("/api/v1/imports/{}", import["id"].as_str().unwrap());
    assert_eq!(app.call("DELETE", &path, &key, None).await.0, 204);
    assert!(api.conflicts("open").await.unwrap().is_empty());
    app.stop().await;
}

async fn a_booking_overlapping_an_imported_airbnb_reservation_is_a_high_conflict(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key, "Europe/Lisbon").await;
    let direct = stay(&app, &key, room, &in_days(10), &in_days(14), Status::Confirmed).await;
    let airbnb = FakePlatform::airbnb().await;
    let (status, import) = app
        .call("POST", "/api/v1/imports", &key, Some(json!({"resource_id": room, "platform": "airbnb", "url": airbnb.url(), "interval_minutes": 60})))
        .await;
    assert_eq!((status, import["status"].as_str()), (201, Some("pending")), "{import}");
    let path = format!("/api/v1/imports/{}/run", import["id"].as_str().unwrap());
    let (status, run) = app.call("POST", &path, &key, None).await;
    assert_eq!(
        (status, run["outcome"].as_str(), run["added"].as_u64()),
        (200, Some("ok"), Some(2)),
        "{run}"
    );

    let api = app.api(&key);
    let open = api.conflicts("open").await.unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    let conflict = &open[0];
    assert_eq!(conflict.severity, Severity::High);
    let kinds: Vec<_> = conflict.items.iter().map(|i| i.kind.as_str()).collect();
    assert!(kinds.contains(&"booking") && kinds.contains(&"feed"), "{conflict:?}");
    assert!(conflict.suggestion.contains("Airbnb"));

    let (status, again) = app.call("POST", &path, &key, None).await;
    assert_eq!(
        (status, again["outcome"].as_str(), again["unchanged"].as_u64()),
        (200, Some("not_modified"), Some(2)),
        "the run log counts the two items the import still holds: {again}"
    );

    api.cancel_booking(direct.id).await.unwrap();
    let resolved = api.conflict(conflict.id).await.unwrap();
    assert_eq!(
        (resolved.status.as_str(), resolved.resolution.as_deref()),
        ("resolved", Some("auto"))
    );
    app.stop().await;
}

async fn imported_events_are_never_echoed_to_the_same_platform(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key, "Europe/Lisbon").await;
    let airbnb = FakePlatform::airbnb().await;
    let import = register(&app, &key, room, &airbnb).await;
    run(&app, &key, &import).await;
    let to_airbnb = feed(&app, &key, json!({"scope": "resource", "scope_id": room, "profile": "busy", "name": "To Airbnb", "platform": "airbnb"})).await;
    let to_booking = feed(&app, &key, json!({"scope": "resource", "scope_id": room, "profile": "details", "name": "To Booking.com", "platform": "booking_com"})).await;
    let (_, _, body) = get_ics(&app, to_airbnb["url"].as_str().unwrap(), &[]).await;
    assert_eq!(
        body.matches("BEGIN:VEVENT").count(),
        0,
        "Airbnb must not see its own blocks: {body}"
    );
    let (_, _, body) = get_ics(&app, to_booking["url"].as_str().unwrap(), &[]).await;
    assert_eq!(body.matches("BEGIN:VEVENT").count(), 2, "{body}");
    let start = format!("DTSTART;VALUE=DATE:{}", compact(&in_days(12)));
    assert!(body.contains("SUMMARY:Airbnb: Reserved") && body.contains(&start), "{body}");
    app.stop().await;
}

async fn a_failing_feed_keeps_its_blocks_and_turns_failing_after_three_runs(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key, "UTC").await;
    let airbnb = FakePlatform::airbnb().await;
    let import = register(&app, &key, room, &airbnb).await;
    let id = import["id"].as_str().unwrap();
    let run = format!("/api/v1/imports/{id}/run");
    app.call("POST", &run, &key, None).await;
    airbnb.set(200, "<html>Please log in</html>");
    let (_, failed) = app.call("POST", &run, &key, None).await;
    assert_eq!(failed["outcome"], "failed");
    assert!(failed["error"].as_str().unwrap().contains("not an iCalendar"), "{failed}");
    airbnb.set(503, "down");
    let (_, second) = app.call("POST", &run, &key, None).await;
    assert_eq!(
        (second["outcome"].as_str(), second["http_status"].as_u64()),
        (Some("failed"), Some(503))
    );
    airbnb.set(404, "no such calendar");
    app.call("POST", &run, &key, None).await;
    let (_, import) = app.call("GET", &format!("/api/v1/imports/{id}"), &key, None).await;
    assert_eq!(
        (import["status"].as_str(), import["consecutive_failures"].as_u64()),
        (Some("failing"), Some(3))
    );
    assert!(
        !import["last_run"]["error"].as_str().unwrap().contains("secret-token"),
        "errors never show the URL's secret"
    );
    let window =
        format!("/api/v1/availability?resource_id={room}&from={}&to={}", in_days(1), in_days(60));
    let (_, availability) = app.call("GET", &window, &key, None).await;
    assert_eq!(
        availability["busy"].as_array().unwrap().len(),
        2,
        "the stored blocks still hold: {availability}"
    );
    let (_, runs) = app.call("GET", &format!("/api/v1/imports/{id}/runs"), &key, None).await;
    assert_eq!(runs["items"].as_array().unwrap().len(), 4);
    app.stop().await;
}

async fn a_feed_down_for_a_moment_is_tried_again_within_minutes_not_at_its_interval(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let (airbnb, import, path, read) = scheduled_import(&app, &key).await;
    assert!(next_run(&read) > chrono::Utc::now() + chrono::Duration::minutes(25), "{read}");

    airbnb.set(503, "down for maintenance");
    let failed = run(&app, &key, &import).await;
    assert_eq!(
        (failed["outcome"].as_str(), failed["http_status"].as_u64()),
        (Some("failed"), Some(503))
    );
    let (_, soon) = app.call("GET", &path, &key, None).await;
    let wait = next_run(&soon) - finished(&failed);
    assert!(
        (45..=75).contains(&wait.num_seconds()),
        "a 503 is tried again in about a minute, not in 30: {wait} {soon}"
    );

    airbnb.set(404, "no such calendar");
    let failed = run(&app, &key, &import).await;
    assert_eq!(failed["http_status"], 404, "{failed}");
    let (_, lasting) = app.call("GET", &path, &key, None).await;
    assert_eq!(
        lasting["next_run_at"], soon["next_run_at"],
        "a 404 does not mend by waiting: no early retry is set"
    );

    airbnb.asking_to_wait(429, 600);
    let failed = run(&app, &key, &import).await;
    assert_eq!(failed["http_status"], 429, "{failed}");
    let (_, asked) = app.call("GET", &path, &key, None).await;
    let wait = next_run(&asked) - finished(&failed);
    assert!(
        (595..=605).contains(&wait.num_seconds()),
        "the platform's Retry-After is honoured: {wait} {asked}"
    );
    app.stop().await;
}

/// A platform answers 429 to one of a business's feeds: its other feeds there are not fetched
/// until the wait it asked for is over (each run says so), while feeds elsewhere are.
async fn a_platform_asking_to_wait_is_left_alone_for_all_its_feeds(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let (airbnb, elsewhere) = (FakePlatform::airbnb().await, FakePlatform::airbnb().await);
    let (first, second, third) = (
        register(&app, &key, resource(&app, &key, "UTC").await, &airbnb).await,
        register(&app, &key, resource(&app, &key, "UTC").await, &airbnb).await,
        register(&app, &key, resource(&app, &key, "UTC").await, &elsewhere).await,
    );
    app.settle().await;
    airbnb.asking_to_wait(429, 600);
    elsewhere.asking_to_wait(503, 0);

    let asked = run(&app, &key, &first).await;
    assert_eq!(asked["http_status"], 429, "{asked}");
    let left_alone = run(&app, &key, &second).await;
    assert_eq!(
        (left_alone["outcome"].as_str(), left_alone["http_status"].as_u64()),
        (Some("failed"), None)
    );
    let error = left_alone["error"].as_str().unwrap();
    assert!(error.starts_with("not fetched: the feed's server asked Kalends to wait"), "{error}");
    assert!(!error.contains("127.0.0.1"), "no address in the words: {error}");
    let path = format!("/api/v1/imports/{}", second["id"].as_str().unwrap());
    let (_, later) = app.call("GET", &path, &key, None).await;
    let wait = next_run(&later) - finished(&left_alone);
    assert!((590..=605).contains(&wait.num_seconds()), "{wait} {later}");
    let fetched = run(&app, &key, &third).await;
    assert_eq!(fetched["http_status"], 503, "another server is asked: {fetched}");
    app.stop().await;
}

async fn a_download_cut_off_midway_is_tried_again_within_minutes(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let (airbnb, import, path, _) = scheduled_import(&app, &key).await;
    let cut = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:a@airbnb.com\r\n\
               DTSTART;VALUE=DATE:20310101\r\n";
    airbnb.set(200, cut);
    let failed = run(&app, &key, &import).await;
    assert!(failed["error"].as_str().unwrap().starts_with("the feed is truncated"), "{failed}");
    let (_, soon) = app.call("GET", &path, &key, None).await;
    let wait = next_run(&soon) - finished(&failed);
    assert!(
        (45..=75).contains(&wait.num_seconds()),
        "the rest of the file may come next time: tried again in about a minute: {wait} {soon}"
    );
    app.stop().await;
}

async fn a_feed_down_for_a_few_minutes_is_not_marked_failing_while_it_is_tried_again(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let (airbnb, import, path, _) = scheduled_import(&app, &key).await;

    airbnb.set(503, "down for maintenance");
    for _ in 0..4 {
        assert_eq!(run(&app, &key, &import).await["outcome"], "failed");
    }
    let (_, retried) = app.call("GET", &path, &key, None).await;
    assert_eq!(retried["consecutive_failures"], 4, "{retried}");
    assert_eq!(
        retried["status"], "ok",
        "four quick tries within a minute are not three half-hourly runs: {retried}"
    );

    airbnb.set(404, "no such calendar");
    run(&app, &key, &import).await;
    let (_, gone) = app.call("GET", &path, &key, None).await;
    assert_eq!(gone["status"], "failing", "a failure waiting does not mend counts: {gone}");
    app.stop().await;
}

async fn the_scheduler_runs_a_new_import_without_being_asked(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let (_, _, _, done) = scheduled_import(&app, &key).await;
    assert_eq!(done["last_run"]["added"], 2);
    assert!(
        next_run(&done) > chrono::Utc::now() + chrono::Duration::minutes(25),
        "the next run is one interval away"
    );
    app.stop().await;
}

/// An Airbnb import of a new room, registered and then run by the scheduler unasked: its
/// platform, the import as registered, its path, and the import after that run.
async fn scheduled_import(app: &TestApp, key: &str) -> (FakePlatform, Value, String, Value) {
    let room = resource(app, key, "UTC").await;
    let airbnb = FakePlatform::airbnb().await;
    let import = register(app, key, room, &airbnb).await;
    let path = format!("/api/v1/imports/{}", import["id"].as_str().unwrap());
    let done = crate::helpers::eventually(std::time::Duration::from_secs(20), || async {
        let (_, import) = app.call("GET", &path, key, None).await;
        (import["status"] == "ok").then_some(import)
    })
    .await;
    (airbnb, import, path, done)
}

/// An import's `next_run_at`.
fn next_run(import: &Value) -> chrono::DateTime<chrono::Utc> {
    import["next_run_at"].as_str().unwrap().parse().unwrap()
}

/// When a run ended: what its early retry counts from (however long the test took since).
fn finished(run: &Value) -> chrono::DateTime<chrono::Utc> {
    run["finished_at"].as_str().unwrap().parse().unwrap()
}

async fn imports_cannot_reach_private_addresses_by_default(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key, "UTC").await;
    let local = FakePlatform::airbnb().await;
    let import = register(&app, &key, room, &local).await;
    let run = run(&app, &key, &import).await;
    assert_eq!(run["outcome"], "failed");
    let error = run["error"].as_str().unwrap();
    assert!(
        error.contains("not a public address")
            && error.contains("KALENDS_IMPORT__ALLOW_PRIVATE_NETWORKS"),
        "{error}"
    );
    let (status, bad) = app
        .call("POST", "/api/v1/imports", &key, Some(json!({"resource_id": room, "platform": "myspace", "url": "ftp://x/y.ics", "interval_minutes": 1})))
        .await;
    assert_eq!(status, 422);
    let fields: Vec<_> =
        bad["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["platform", "url", "interval_minutes"], "{bad}");
    app.stop().await;
}

async fn reject_conflicts_refuses_a_double_booking_with_the_colliding_items(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key, "UTC").await;
    let first = stay(&app, &key, room, "2030-03-01", "2030-03-05", Status::Confirmed).await;
    let api = app.api(&key);
    let body = dates("Jones", room, "2030-03-04", "2030-03-06");
    let refused = api.create_booking_rejecting_conflicts(&body).await.unwrap_err();
    assert_eq!(refused.status, 409, "{refused:?}");
    assert_eq!(refused.conflicts.as_ref().unwrap()[0]["id"], json!(first.id));
    let turnover = dates("Jones", room, "2030-03-05", "2030-03-06");
    api.create_booking_rejecting_conflicts(&turnover)
        .await
        .expect("check-out day = check-in day is fine");
    let overlapping = dates("Jones", room, "2030-03-04", "2030-03-05");
    let saved = api
        .create_booking(&overlapping)
        .await
        .expect("without the flag the booking is saved and flagged");
    let open = api.conflicts("open").await.unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].severity, Severity::High);
    let resolved = api.resolve_conflict(open[0].id, "guests are family").await.unwrap();
    assert_eq!(resolved.resolution.as_deref(), Some("manual"));
    // Touching the booking without moving it does not reopen what a person dismissed.
    let patch =
        BookingPatch { title: Some("Jones (late arrival)".into()), ..BookingPatch::default() };
    api.patch_booking(saved.id, &patch).await.unwrap();
    let open = api.conflicts("open").await.unwrap();
    assert!(open.is_empty(), "{open:?}");
    app.stop().await;
}

async fn availability_lists_busy_items_and_the_free_time_between(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key, "Europe/Berlin").await;
    stay(&app, &key, room, "2030-03-03", "2030-03-05", Status::Confirmed).await;
    let block = BlockIn {
        resource_id: Some(room),
        start_date: Some("2030-03-08".into()),
        end_date: Some("2030-03-09".into()),
        reason: Some("Painting".into()),
        ..BlockIn::default()
    };
    app.api(&key).create_block(&block).await.unwrap();
    let path = format!("/api/v1/availability?resource_id={room}&from=2030-03-01&to=2030-03-10");
    let (status, a) = app.call("GET", &path, &key, None).await;
    assert_eq!(status, 200, "{a}");
    let busy = a["busy"].as_array().unwrap();
    assert_eq!(busy.len(), 2);
    assert_eq!(
        (busy[0]["source"].as_str(), busy[0]["start"].as_str()),
        (Some("booking"), Some("2030-03-03T00:00:00+01:00"))
    );
    assert_eq!(
        (busy[1]["source"].as_str(), busy[1]["label"].as_str()),
        (Some("block"), Some("Painting"))
    );
    let free: Vec<_> = a["free"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["start"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        free,
        ["2030-03-01T00:00:00+01:00", "2030-03-05T00:00:00+01:00", "2030-03-09T00:00:00+01:00"]
    );
    let (status, _) = app.call("GET", "/api/v1/availability?from=2030-03-01", &key, None).await;
    assert_eq!(status, 422);
    app.stop().await;
}

#[tokio::test]
async fn a_feed_url_polled_too_often_answers_429_with_retry_after() {
    let dir = TempDir::new();
    let mut config = config(Db::Sqlite, &dir).await;
    config.feeds.rate_limit_per_minute = 3;
    let app = TestApp::start_with(config, dir).await;
    let (_, key) = app.tenant().await;
    let f = feed(&app, &key, json!({"scope": "tenant", "profile": "busy", "name": "All"})).await;
    let url = f["url"].as_str().unwrap();
    for _ in 0..3 {
        assert_eq!(get_ics(&app, url, &[]).await.0, 200);
    }
    let (status, headers, _) = get_ics(&app, url, &[]).await;
    assert_eq!(status, 429);
    let wait: u64 = headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&wait), "{wait}");
    let other =
        feed(&app, &key, json!({"scope": "tenant", "profile": "details", "name": "Mine"})).await;
    assert_eq!(
        get_ics(&app, other["url"].as_str().unwrap(), &[]).await.0,
        200,
        "each URL has its own budget"
    );
    app.stop().await;
}

/// A feed URL that leaked (an old platform listing, a shared screenshot) and is polled in a loop
/// slows its poller alone: the platform the URL was made for, polling from elsewhere, still
/// gets the feed.
#[tokio::test]
async fn a_leaked_feed_url_polled_in_a_loop_starves_only_its_poller() {
    let dir = TempDir::new();
    let mut config = config(Db::Sqlite, &dir).await;
    config.feeds.rate_limit_per_minute = 3;
    config.trusted_proxies = serde_json::from_value(json!("127.0.0.1")).unwrap();
    let app = TestApp::start_with(config, dir).await;
    let (_, key) = app.tenant().await;
    let f = feed(&app, &key, json!({"scope": "tenant", "profile": "busy", "name": "All"})).await;
    let url = f["url"].as_str().unwrap();
    let poller = [("x-forwarded-for", "203.0.113.9")];
    for _ in 0..3 {
        assert_eq!(get_ics(&app, url, &poller).await.0, 200);
    }
    assert_eq!(get_ics(&app, url, &poller).await.0, 429);
    let platform = [("x-forwarded-for", "198.51.100.20")];
    assert_eq!(get_ics(&app, url, &platform).await.0, 200, "the platform's poll is answered");
    app.stop().await;
}

/// Runs the peer validators of `tests/peers/` (Python icalendar, ical.js) on `ics`; returns what
/// each of them read. The test fails when `scripts/test` did not provide them.
pub(crate) fn peer_readings(ics: &str) -> Vec<(&'static str, Value)> {
    let dir = TempDir::new();
    let file = dir.0.join("feed.ics");
    std::fs::write(&file, ics).unwrap();
    let peers = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers");
    let mut python = std::process::Command::new(peer("KALENDS_TEST_PYTHON"));
    python.arg(format!("{peers}/validate_ics.py")).arg(&file);
    let mut node = std::process::Command::new("node");
    node.env("KALENDS_TEST_NODE_PATH", peer("KALENDS_TEST_NODE_PATH"))
        .arg(format!("{peers}/validate_ics.mjs"))
        .arg(&file);
    [("python icalendar", python), ("ical.js", node)]
        .into_iter()
        .map(|(name, mut cmd)| {
            let out = cmd.output().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                out.status.success(),
                "{name} rejected the feed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            (name, serde_json::from_slice(&out.stdout).unwrap())
        })
        .collect()
}

async fn a_feed_opens_in_python_icalendar_and_icaljs_with_the_right_dates(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key, "America/New_York").await;
    stay(&app, &key, room, "2030-03-08", "2030-03-11", Status::Confirmed).await;
    let timed = BookingIn {
        title: "Late check-in; bring keys, please".into(),
        resource_id: Some(room),
        start: Some("2030-03-10T01:30:00-05:00".into()),
        end: Some("2030-03-10T04:30:00-04:00".into()),
        time_zone: Some("America/New_York".into()),
        ..BookingIn::default()
    };
    app.api(&key).create_booking(&timed).await.unwrap();
    let f = feed(&app, &key, json!({"scope": "resource", "scope_id": room, "profile": "details", "name": "Brooklyn loft"})).await;
    let (_, _, body) = get_ics(&app, f["url"].as_str().unwrap(), &[]).await;
    for (peer, reading) in peer_readings(&body) {
        let mut events = reading["events"].as_array().unwrap().clone();
        events.sort_by_key(|e| e["start"].as_str().unwrap().to_owned());
        assert_eq!(events.len(), 2, "{peer}: {reading}");
        assert_eq!(
            (
                events[0]["start"].as_str(),
                events[0]["end"].as_str(),
                events[0]["all_day"].as_bool()
            ),
            (Some("2030-03-08"), Some("2030-03-11"), Some(true)),
            "{peer}"
        );
        // Across the start of daylight saving time: 06:30Z to 08:30Z.
        assert_eq!(
            (events[1]["start"].as_str(), events[1]["end"].as_str()),
            (Some("2030-03-10T06:30:00+00:00"), Some("2030-03-10T08:30:00+00:00")),
            "{peer}"
        );
        assert_eq!(events[1]["summary"], "Late check-in; bring keys, please", "{peer}");
    }
    app.stop().await;
}

/// A booking of `room` from 09:00 to 11:30 UTC on `day`, written in `zone`.
fn timed(title: &str, room: Uuid, day: &str, zone: &str) -> BookingIn {
    BookingIn {
        title: title.into(),
        resource_id: Some(room),
        start: Some(format!("{day}T09:00:00Z")),
        end: Some(format!("{day}T11:30:00Z")),
        time_zone: Some(zone.into()),
        description: Some("Two adults, late arrival".into()),
        ..BookingIn::default()
    }
}

/// Each feed's body as served now, next to the body of a feed made just now with the same
/// settings (nothing of it rendered before): they must be the same bytes.
async fn same_as_fresh(app: &TestApp, key: &str, feeds: &[(Value, String)], after: &str) {
    for (settings, url) in feeds {
        let (status, _, served) = get_ics(app, url, &[]).await;
        assert_eq!(status, 200, "{served}");
        let fresh = feed(app, key, settings.clone()).await;
        let (_, _, rendered) = get_ics(app, fresh["url"].as_str().unwrap(), &[]).await;
        assert_eq!(served, rendered, "{} after {after}", settings["name"]);
        assert!(served.ends_with("END:VCALENDAR\r\n"));
    }
}

async fn a_feed_rendered_after_any_change_is_byte_for_byte_a_fresh_rendering(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let room = resource(&app, &key, "Europe/Berlin").await;
    let other = resource(&app, &key, "Africa/Johannesburg").await;
    let mut stays = Vec::new();
    for (i, (from, to)) in
        [("2030-03-01", "2030-03-04"), ("2030-03-05", "2030-03-06"), ("2030-04-01", "2030-04-08")]
            .into_iter()
            .enumerate()
    {
        let status = if i == 1 { Status::Tentative } else { Status::Confirmed };
        stays.push(stay(&app, &key, room, from, to, status).await);
    }
    let meeting = api.create_booking(&timed("Viewing", room, "2030-03-20", "Europe/Berlin")).await;
    let meeting = meeting.unwrap();
    stay(&app, &key, other, "2030-03-01", "2030-03-03", Status::Confirmed).await;
    let mut feeds = Vec::new();
    for settings in [
        json!({"scope": "resource", "scope_id": room, "profile": "busy", "name": "Room busy"}),
        json!({"scope": "resource", "scope_id": room, "profile": "details", "name": "Room"}),
        json!({"scope": "tenant", "profile": "details", "name": "Everything"}),
    ] {
        let url = feed(&app, &key, settings.clone()).await["url"].as_str().unwrap().to_owned();
        feeds.push((settings, url));
    }
    same_as_fresh(&app, &key, &feeds, "the first rendering").await;

    api.create_booking(&timed("Cleaning", room, "2030-05-02", "Africa/Johannesburg"))
        .await
        .unwrap();
    stay(&app, &key, room, "2030-06-01", "2030-06-03", Status::Tentative).await;
    same_as_fresh(&app, &key, &feeds, "new bookings").await;

    let renamed = BookingPatch {
        title: Some("Jones family".into()),
        customer: Some(Some(CustomerIn { name: "Bo Jones".into(), ..CustomerIn::default() })),
        ..BookingPatch::default()
    };
    api.patch_booking(stays[0].id, &renamed).await.unwrap();
    same_as_fresh(&app, &key, &feeds, "a new title and customer").await;

    let moved = BookingPatch {
        start_date: Some("2030-07-01".into()),
        end_date: Some("2030-07-05".into()),
        ..BookingPatch::default()
    };
    api.patch_booking(stays[2].id, &moved).await.unwrap();
    let later = BookingPatch {
        start: Some("2031-01-10T15:00:00Z".into()),
        end: Some("2031-01-10T16:00:00Z".into()),
        ..BookingPatch::default()
    };
    api.patch_booking(meeting.id, &later).await.unwrap();
    same_as_fresh(&app, &key, &feeds, "new dates (one in a year no event covered)").await;

    let confirmed = BookingPatch { status: Some(Status::Confirmed), ..BookingPatch::default() };
    api.patch_booking(stays[1].id, &confirmed).await.unwrap();
    api.cancel_booking(stays[0].id).await.unwrap();
    same_as_fresh(&app, &key, &feeds, "a confirmation and a cancellation").await;

    let elsewhere = BookingPatch { resource_id: Some(Some(other)), ..BookingPatch::default() };
    api.patch_booking(stays[2].id, &elsewhere).await.unwrap();
    same_as_fresh(&app, &key, &feeds, "a booking moved to another resource").await;

    api.patch_settings(json!({"busy_label": "Occupied"})).await.unwrap();
    same_as_fresh(&app, &key, &feeds, "a new busy label").await;

    let zone = ResourcePatch {
        time_zone: Some(Some("America/New_York".into())),
        ..ResourcePatch::default()
    };
    api.patch_resource(room, &zone).await.unwrap();
    same_as_fresh(&app, &key, &feeds, "the resource's new zone").await;

    let block = BlockIn {
        resource_id: Some(room),
        start_date: Some("2030-08-01".into()),
        end_date: Some("2030-08-03".into()),
        reason: Some("Painting".into()),
        ..BlockIn::default()
    };
    let block = api.create_block(&block).await.unwrap();
    same_as_fresh(&app, &key, &feeds, "a block").await;
    api.delete_block(block.id).await.unwrap();
    api.patch_booking(meeting.id, &renamed).await.unwrap();
    same_as_fresh(&app, &key, &feeds, "a deleted block and a renamed booking").await;
    app.stop().await;
}

/// Room's rules: a night of turnover, three nights at least, two days' notice, sixty days ahead,
/// short gaps closed, and all of it exported to the feeds.
fn exported_rules() -> Value {
    json!({"turnover_days": 1, "min_nights": 3, "min_notice_days": 2, "booking_window_days": 60,
        "block_short_gaps": true, "export_to_feeds": true})
}

/// The summary, first and check-out day of each closed-night event of `body`, by start.
fn closed_events(body: &str) -> Vec<(String, String, String)> {
    let mut found: Vec<(String, String, String)> = body
        .split("BEGIN:VEVENT\r\n")
        .skip(1)
        .filter(|event| event.contains("UID:closed-"))
        .map(|event| {
            let field = |name: &str| {
                let line = event.lines().find(|l| l.starts_with(name)).unwrap_or_default();
                line[name.len()..].to_owned()
            };
            (field("SUMMARY:"), field("DTSTART;VALUE=DATE:"), field("DTEND;VALUE=DATE:"))
        })
        .collect();
    found.sort_by(|a, b| a.1.cmp(&b.1));
    found
}

/// What a room with [`exported_rules`] and stays from day 10 to 13 and 16 to 20 closes.
fn expected_closures() -> Vec<(String, String, String)> {
    let closed = |summary: &str, from: i64, to: i64| {
        (summary.to_owned(), compact(&in_days(from)), compact(&in_days(to)))
    };
    vec![
        closed("Not available (notice)", 0, 2),
        closed("Closed (turnover)", 9, 10),
        closed("Closed (turnover)", 13, 14),
        closed("Not available (short gap)", 14, 15),
        closed("Closed (turnover)", 15, 16),
        closed("Closed (turnover)", 20, 21),
        closed("Not available (booking window)", 60, 730),
    ]
}

async fn a_resource_exporting_its_rules_closes_turnover_notice_window_and_short_gaps_in_its_feed(
    db: Db,
) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let room = resource(&app, &key, "UTC").await;
    let rules = format!("/api/v1/resources/{room}/rules");
    api.send::<Value>("PUT", &rules, Some(exported_rules()), 200).await.unwrap();
    stay(&app, &key, room, &in_days(10), &in_days(13), Status::Confirmed).await;
    stay(&app, &key, room, &in_days(16), &in_days(20), Status::Confirmed).await;
    let settings =
        json!({"scope": "resource", "scope_id": room, "profile": "busy", "name": "Room"});
    let url = feed(&app, &key, settings.clone()).await["url"].as_str().unwrap().to_owned();
    let (status, _, body) = get_ics(&app, &url, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(closed_events(&body), expected_closures(), "{body}");
    assert_eq!(body.matches("BEGIN:VEVENT").count(), 9, "two stays and seven closed runs");
    assert_eq!(body.matches("TRANSP:OPAQUE").count(), 9, "closed nights block like stays");
    assert!(!body.contains("Smith") && !body.contains("ann@example.com"), "{body}");
    let turnover = format!("UID:closed-{room}-turnover-{}@kalends", in_days(13));
    assert!(body.contains(&turnover), "{body}");

    stay(&app, &key, room, &in_days(40), &in_days(43), Status::Confirmed).await;
    let (_, _, later) = get_ics(&app, &url, &[]).await;
    assert!(later.contains(&turnover), "an unchanged run keeps its UID: {later}");
    assert!(later.contains("DTSTART;VALUE=DATE:") && later.contains(&compact(&in_days(43))));
    same_as_fresh(&app, &key, &[(settings, url.clone())], "a stay among closed nights").await;

    let etag = get_ics(&app, &url, &[]).await.1[header::ETAG].to_str().unwrap().to_owned();
    let quiet = json!({"turnover_days": 1, "min_nights": 3});
    api.send::<Value>("PUT", &rules, Some(quiet), 200).await.unwrap();
    let (status, _, body) = get_ics(&app, &url, &[("If-None-Match", &etag)]).await;
    assert_eq!(status, 200, "new rules change the feed");
    assert!(closed_events(&body).is_empty(), "rules not exported close nothing: {body}");
    app.stop().await;
}

/// Airbnb echoes the turnover night its feed closes back as a block of its own ("Airbnb (Not
/// available)"). The feed to Airbnb keeps closing that night: counted as busy, it would drop out
/// of the feed (which never shows Airbnb its own items), and Airbnb would open it again.
async fn a_closed_night_the_platform_echoes_back_stays_closed_in_its_feed(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let room = resource(&app, &key, "UTC").await;
    let rules = json!({"turnover_days": 1, "export_to_feeds": true});
    let path = format!("/api/v1/resources/{room}/rules");
    api.send::<Value>("PUT", &path, Some(rules), 200).await.unwrap();
    stay(&app, &key, room, &in_days(20), &in_days(23), Status::Confirmed).await;
    let settings = json!({"scope": "resource", "scope_id": room, "profile": "busy",
        "name": "To Airbnb", "platform": "airbnb"});
    let url = feed(&app, &key, settings).await["url"].as_str().unwrap().to_owned();
    let turnover = |body: &str| {
        let after = ("Closed (turnover)".to_owned(), compact(&in_days(23)), compact(&in_days(24)));
        closed_events(body).contains(&after)
    };
    let (_, _, body) = get_ics(&app, &url, &[]).await;
    assert!(turnover(&body), "{body}");

    let echo = airbnb_ics((&in_days(50), &in_days(53)), (&in_days(23), &in_days(24)));
    let airbnb = FakePlatform::start(&echo).await;
    let import = register(&app, &key, room, &airbnb).await;
    let ran = run(&app, &key, &import).await;
    assert_eq!(ran["outcome"], "ok", "{ran}");
    let (_, _, body) = get_ics(&app, &url, &[]).await;
    assert!(turnover(&body), "the echoed night is still closed: {body}");
    assert!(!body.contains("Not available)"), "Airbnb's own block is not sent back: {body}");
    app.stop().await;
}

async fn the_closed_nights_of_a_feed_open_in_python_icalendar_and_icaljs(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key, "UTC").await;
    let rules = format!("/api/v1/resources/{room}/rules");
    app.api(&key).send::<Value>("PUT", &rules, Some(exported_rules()), 200).await.unwrap();
    stay(&app, &key, room, &in_days(10), &in_days(13), Status::Confirmed).await;
    stay(&app, &key, room, &in_days(16), &in_days(20), Status::Confirmed).await;
    let settings =
        json!({"scope": "resource", "scope_id": room, "profile": "busy", "name": "Room"});
    let f = feed(&app, &key, settings).await;
    let (_, _, body) = get_ics(&app, f["url"].as_str().unwrap(), &[]).await;
    let expected: Vec<(String, String, String)> = expected_closures()
        .into_iter()
        .map(|(summary, from, to)| {
            let iso = |d: &str| format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..]);
            (summary, iso(&from), iso(&to))
        })
        .collect();
    for (peer, reading) in peer_readings(&body) {
        let mut closed: Vec<(String, String, String)> = reading["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["uid"].as_str().unwrap().starts_with("closed-"))
            .map(|e| {
                assert_eq!(e["all_day"], true, "{peer}: {e}");
                let text = |name: &str| e[name].as_str().unwrap().to_owned();
                (text("summary"), text("start"), text("end"))
            })
            .collect();
        closed.sort_by(|a, b| a.1.cmp(&b.1));
        assert_eq!(closed, expected, "{peer}: {reading}");
    }
    app.stop().await;
}

/// A booking row Kalends cannot read makes the feed fail to render: the answer is a 500 with no
/// validators, which subscribers treat as a failed fetch, never an empty calendar under an
/// `ETag` (a platform would open every night, then revalidate it as unchanged).
async fn a_feed_that_cannot_be_rendered_answers_500_not_an_empty_calendar(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key, "Europe/Berlin").await;
    stay(&app, &key, room, "2030-03-01", "2030-03-04", Status::Confirmed).await;
    app.api(&key)
        .create_booking(&timed("Broken", room, "2030-03-10", "Europe/Berlin"))
        .await
        .unwrap();
    let body = json!({"scope": "resource", "scope_id": room, "profile": "busy", "name": "Room"});
    let url = feed(&app, &key, body).await["url"].as_str().unwrap().to_owned();
    let (status, _, body) = get_ics(&app, &url, &[]).await;
    assert_eq!((status, body.matches("BEGIN:VEVENT").count()), (200, 2));

    let sql =
        "UPDATE bookings SET time_zone = 'Not/A_Zone', version = version + 1 WHERE title = $1";
    assert_eq!(crate::hardening_lifecycle::execute(&app.store, sql, "Broken".into()).await, 1);
    stay(&app, &key, room, "2030-06-01", "2030-06-04", Status::Confirmed).await;
    let (status, headers, body) = get_ics(&app, &url, &[]).await;
    assert_eq!(status, 500, "{body}");
    assert!(headers.get(header::ETAG).is_none() && headers.get(header::LAST_MODIFIED).is_none());
    assert!(!body.contains("BEGIN:VCALENDAR"), "{body}");
    app.stop().await;
}

/// A house and its room are both on Airbnb. The room's feed for Airbnb shows the reservation of
/// the whole house Airbnb sent (it closes the room's listing too), not the house's blocks there
/// (which may be Kalends' own feed coming back). A cancelled stay of the room leaves the Airbnb
/// feed at once, and stays as cancelled in the feed for phones; a block that ended long ago is
/// in neither.
async fn a_rooms_feed_for_a_platform_shows_the_houses_reservations_there_and_no_cancellations(
    db: Db,
) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let house = resource(&app, &key, "Europe/Lisbon").await;
    let room = ResourceIn {
        name: "Room 1".into(),
        time_zone: Some("Europe/Lisbon".into()),
        parent_id: Some(house),
        ..ResourceIn::default()
    };
    let room = api.create_resource(&room).await.unwrap().id;
    let airbnb = FakePlatform::airbnb().await;
    let import = register(&app, &key, house, &airbnb).await;
    run(&app, &key, &import).await;
    let cancelled = stay(&app, &key, room, &in_days(20), &in_days(22), Status::Confirmed).await;
    api.cancel_booking(cancelled.id).await.unwrap();
    let old = BlockIn {
        resource_id: Some(room),
        start_date: Some(in_days(-200)),
        end_date: Some(in_days(-199)),
        reason: Some("Painting".into()),
        ..BlockIn::default()
    };
    api.create_block(&old).await.unwrap();
    let to_airbnb = json!({"scope": "resource", "scope_id": room, "profile": "busy", "name": "Room 1 to Airbnb", "platform": "airbnb"});
    let to_phone =
        json!({"scope": "resource", "scope_id": room, "profile": "details", "name": "Room 1"});
    let (to_airbnb, to_phone) =
        (feed(&app, &key, to_airbnb).await, feed(&app, &key, to_phone).await);

    let (_, _, body) = get_ics(&app, to_airbnb["url"].as_str().unwrap(), &[]).await;
    let start = |n| format!("DTSTART;VALUE=DATE:{}", compact(&in_days(n)));
    assert!(body.contains(&start(12)), "the house's Airbnb reservation: {body}");
    assert!(!body.contains(&start(40)), "not the house's Airbnb block: {body}");
    assert!(!body.contains(&start(20)), "not the cancelled stay: {body}");
    assert_eq!(body.matches("BEGIN:VEVENT").count(), 1, "{body}");
    let (_, _, body) = get_ics(&app, to_phone["url"].as_str().unwrap(), &[]).await;
    assert!(body.contains(&start(20)) && body.contains("STATUS:CANCELLED"), "{body}");
    assert!(!body.contains(&start(-200)), "the old block left: {body}");
    app.stop().await;
}

/// A cancelled stay stays in the feed for phones for the retention counted from its
/// cancellation: when its staff member is deleted later, it does not come back.
async fn a_cancellation_older_than_the_retention_stays_out_when_its_booking_changes_later(db: Db) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let room = resource(&app, &key, "Europe/Lisbon").await;
    let ann = kalends::api::staff::StaffIn { name: "Ann".into(), ..Default::default() };
    let ann = api.create_staff(&ann).await.unwrap().id;
    let mut booked = Vec::new();
    for (day, title) in [(20, "Long gone"), (30, "Just cancelled"), (40, "Cancelled again")] {
        let booking = BookingIn {
            staff_ids: vec![ann],
            ..dates(title, room, &in_days(day), &in_days(day + 2))
        };
        booked.push(api.create_booking(&booking).await.unwrap().id);
    }
    let status = |status| BookingPatch { status: Some(status), ..BookingPatch::default() };
    api.cancel_booking(booked[0]).await.unwrap();
    api.patch_booking(booked[1], &status(Status::Cancelled)).await.unwrap();
    api.cancel_booking(booked[2]).await.unwrap();
    // The first and the third were cancelled 40 days ago (the retention is 30); the third is
    // then confirmed and cancelled again today.
    let aged = "UPDATE bookings SET cancelled_at = '2020-01-01 00:00:00+00:00', \
                updated_at = '2020-01-01 00:00:00+00:00' WHERE id = $1";
    for id in [booked[0], booked[2]] {
        assert_eq!(crate::helpers::execute_with_id(&app.store, aged, id).await, 1);
    }
    api.patch_booking(booked[2], &status(Status::Confirmed)).await.unwrap();
    api.patch_booking(booked[2], &status(Status::Cancelled)).await.unwrap();
    api.delete_staff(ann).await.unwrap();

    let phone =
        json!({"scope": "resource", "scope_id": room, "profile": "details", "name": "Room"});
    let phone = feed(&app, &key, phone).await;
    let (_, _, body) = get_ics(&app, phone["url"].as_str().unwrap(), &[]).await;
    let start = |n| format!("DTSTART;VALUE=DATE:{}", compact(&in_days(n)));
    assert_eq!(body.matches("STATUS:CANCELLED").count(), 2, "{body}");
    assert!(body.contains(&start(30)) && body.contains(&start(40)), "cancelled today: {body}");
    assert!(!body.contains(&start(20)), "cancelled long ago: {body}");
    app.stop().await;
}

needs_peers!(
    "needs Python icalendar and ical.js: run scripts/test",
    on_both_databases;
    a_feed_opens_in_python_icalendar_and_icaljs_with_the_right_dates,
    the_closed_nights_of_a_feed_open_in_python_icalendar_and_icaljs,
);
on_both_databases!(
    a_closed_night_the_platform_echoes_back_stays_closed_in_its_feed,
    a_feed_serves_the_resources_bookings_as_rfc5545,
    a_feed_answers_304_until_something_in_it_changes,
    a_feed_answers_anew_when_an_import_it_shows_changes_platform,
    rotating_a_feed_kills_its_old_url,
    a_booking_overlapping_an_imported_airbnb_reservation_is_a_high_conflict,
    imported_events_are_never_echoed_to_the_same_platform,
    a_failing_feed_keeps_its_blocks_and_turns_failing_after_three_runs,
    a_feed_down_for_a_moment_is_tried_again_within_minutes_not_at_its_interval,
    a_feed_down_for_a_few_minutes_is_not_marked_failing_while_it_is_tried_again,
    a_download_cut_off_midway_is_tried_again_within_minutes,
    the_scheduler_runs_a_new_import_without_being_asked,
    imports_cannot_reach_private_addresses_by_default,
    reject_conflicts_refuses_a_double_booking_with_the_colliding_items,
    availability_lists_busy_items_and_the_free_time_between,
    a_feed_rendered_after_any_change_is_byte_for_byte_a_fresh_rendering,
    a_resource_exporting_its_rules_closes_turnover_notice_window_and_short_gaps_in_its_feed,
    a_feed_that_cannot_be_rendered_answers_500_not_an_empty_calendar,
    a_rooms_feed_for_a_platform_shows_the_houses_reservations_there_and_no_cancellations,
    a_cancellation_older_than_the_retention_stays_out_when_its_booking_changes_later,
    a_platform_asking_to_wait_is_left_alone_for_all_its_feeds,
    an_airbnb_reservation_imported_into_a_stays_turnover_night_opens_a_rule_conflict,
);
