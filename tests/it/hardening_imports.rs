//! Hardening of feed imports: reservations far ahead, broken events, the work a feed may cost,
//! one run at a time, and what an address refusal says.

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use kalends::api::bookings::{BookingIn, Status};
use kalends::api::error::Problem;
use kalends::api::resources::ResourceIn;
use kalends_core::config::ImportConfig;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Db, TempDir, TestApp, config, on_both_databases};

/// A platform's .ics export on 127.0.0.1, serving whatever body it currently holds: at once,
/// or after a delay ([`Platform::delay`]); with an ETag and 304s once [`Platform::with_etags`]
/// says so.
#[derive(Clone)]
pub(crate) struct Platform {
    body: Arc<Mutex<String>>,
    base: String,
    hits: Arc<std::sync::atomic::AtomicUsize>,
    delay: Arc<Mutex<std::time::Duration>>,
    etags: Arc<std::sync::atomic::AtomicBool>,
}

impl Platform {
    pub(crate) async fn start(body: String) -> Platform {
        let platform = Platform {
            body: Arc::new(Mutex::new(body)),
            base: String::new(),
            hits: Arc::default(),
            delay: Arc::default(),
            etags: Arc::default(),
        };
        let serving = platform.clone();
        let app = axum::Router::new().route(
            "/export/{file}",
            axum::routing::get(move |headers: axum::http::HeaderMap| {
                let serving = serving.clone();
                async move { serving.answer(&headers).await }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Platform { base, ..platform }
    }

    async fn answer(&self, headers: &axum::http::HeaderMap) -> axum::response::Response {
        use axum::response::IntoResponse as _;
        self.hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let delay = *self.delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        let body = self.body.lock().unwrap().clone();
        if !self.etags.load(std::sync::atomic::Ordering::SeqCst) {
            return (StatusCode::OK, body).into_response();
        }
        let etag = {
            use std::hash::{Hash as _, Hasher as _};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            body.hash(&mut hasher);
            format!("\"{:x}\"", hasher.finish())
        };
        let sent = headers.get("if-none-match").and_then(|v| v.to_str().ok());
        if sent == Some(etag.as_str()) {
            return (StatusCode::NOT_MODIFIED, [("etag", etag)]).into_response();
        }
        (StatusCode::OK, [("etag", etag)], body).into_response()
    }

    /// From now on, answers with an ETag and 304 to a request that sends it back.
    pub(crate) fn with_etags(&self) {
        self.etags.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// From now on, answers only after `delay`.
    pub(crate) fn delay(&self, delay: std::time::Duration) {
        *self.delay.lock().unwrap() = delay;
    }

    /// How many times the feed was fetched.
    pub(crate) fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub(crate) fn url(&self) -> String {
        format!("{}/export/listing.ics?s=secret-token", self.base)
    }

    pub(crate) fn set(&self, body: String) {
        *self.body.lock().unwrap() = body;
    }
}

/// A calendar file around `events` (each a VEVENT's inner lines, CRLF-terminated).
pub(crate) fn calendar(events: &[String]) -> String {
    let mut ics = String::from(
        "BEGIN:VCALENDAR\r\nPRODID:-//Airbnb Inc//Hosting Calendar 0.8.8//EN\r\nVERSION:2.0\r\n",
    );
    for event in events {
        ics.push_str("BEGIN:VEVENT\r\n");
        ics.push_str(event);
        ics.push_str("END:VEVENT\r\n");
    }
    ics.push_str("END:VCALENDAR\r\n");
    ics
}

/// An all-day reservation from `from` to `to` days from today.
pub(crate) fn reservation(uid: &str, from: i64, to: i64) -> String {
    format!(
        "DTSTART;VALUE=DATE:{}\r\nDTEND;VALUE=DATE:{}\r\nUID:{uid}\r\nSUMMARY:Reserved\r\n",
        compact(from),
        compact(to)
    )
}

fn day(n: i64) -> chrono::NaiveDate {
    chrono::Utc::now().date_naive() + chrono::Duration::days(n)
}

pub(crate) fn in_days(n: i64) -> String {
    day(n).to_string()
}

fn compact(n: i64) -> String {
    day(n).format("%Y%m%d").to_string()
}

pub(crate) async fn app_allowing_local_feeds(db: Db) -> TestApp {
    let dir = TempDir::new();
    let mut config = config(db, &dir).await;
    config.import.allow_private_networks = true;
    TestApp::start_with(config, dir).await
}

pub(crate) async fn resource(app: &TestApp, key: &str) -> Uuid {
    let room = ResourceIn {
        name: "Sea view".into(),
        time_zone: Some("UTC".into()),
        ..ResourceIn::default()
    };
    app.api(key).create_resource(&room).await.unwrap().id
}

// Imports and availability have no typed answers (their `*Out` types only serialize): the
// client checks the status and the problem, the tests read the JSON.

pub(crate) async fn register(app: &TestApp, key: &str, room: Uuid, url: &str) -> String {
    register_as(app, key, room, url, "airbnb").await
}

/// [`register`] as an import of `platform`.
async fn register_as(app: &TestApp, key: &str, room: Uuid, url: &str, platform: &str) -> String {
    let body = json!({"resource_id": room, "platform": platform, "url": url});
    let import: Value =
        app.api(key).send("POST", "/api/v1/imports", Some(body), 201).await.unwrap();
    import["id"].as_str().unwrap().to_owned()
}

/// Runs an import now; returns the run, or the problem.
pub(crate) async fn run(app: &TestApp, key: &str, import: &str) -> Result<Value, Problem> {
    app.api(key).send("POST", &format!("/api/v1/imports/{import}/run"), None, 200).await
}

/// `GET path` (200).
async fn get(app: &TestApp, key: &str, path: &str) -> Value {
    app.api(key).send("GET", path, None, 200).await.unwrap()
}

/// The busy items of `room` between `from` and `to` days from today: (source, start date).
pub(crate) async fn busy(
    app: &TestApp,
    key: &str,
    room: Uuid,
    from: i64,
    to: i64,
) -> Vec<(String, String)> {
    let path = format!(
        "/api/v1/availability?resource_id={room}&from={}&to={}",
        in_days(from),
        in_days(to)
    );
    let availability = get(app, key, &path).await;
    availability["busy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["source"].as_str().unwrap().to_owned(),
                b["start"].as_str().unwrap()[..10].to_owned(),
            )
        })
        .collect()
}

async fn a_reservation_22_months_ahead_is_imported_and_its_double_booking_seen(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key).await;
    let api = app.api(&key);
    let body = BookingIn {
        title: "Direct guest".into(),
        resource_id: Some(room),
        status: Some(Status::Confirmed),
        start_date: Some(in_days(670)),
        end_date: Some(in_days(674)),
        ..BookingIn::default()
    };
    let booking = api.create_booking(&body).await.unwrap();
    let weekly = format!(
        "DTSTART;VALUE=DATE:{}\r\nRRULE:FREQ=WEEKLY\r\nUID:cleaning@airbnb.com\r\nSUMMARY:Airbnb (Not available)\r\n",
        compact(2)
    );
    let airbnb = Platform::start(calendar(&[
        reservation("near@airbnb.com", 12, 15),
        reservation("far@airbnb.com", 668, 672),
        weekly,
    ]))
    .await;
    let import = register(&app, &key, room, &airbnb.url()).await;
    let done = run(&app, &key, &import).await.unwrap();
    assert_eq!(done["outcome"], "ok", "{done}");

    let far = busy(&app, &key, room, 600, 700).await;
    let from_feed: Vec<&String> =
        far.iter().filter(|(source, _)| source == "feed").map(|(_, start)| start).collect();
    assert_eq!(
        from_feed,
        [&in_days(668)],
        "the far reservation blocks, the weekly block stops at the 548-day horizon: {far:?}"
    );
    let near = busy(&app, &key, room, 0, 30).await;
    assert!(near.contains(&("feed".to_owned(), in_days(12))), "{near:?}");
    assert!(near.iter().filter(|(s, _)| s == "feed").count() >= 4, "the weekly block: {near:?}");
    let open = api.conflicts("open").await.unwrap();
    assert_eq!(open.len(), 1, "the double booking 22 months out is seen: {open:?}");
    assert!(open[0].items.iter().any(|i| i.id == booking.id), "{open:?}");
    app.stop().await;
}

/// Booking.com's one event a night for the nights from `from` to `to` days from today.
fn booking_com_nights(from: i64, to: i64) -> Vec<String> {
    (from..to)
        .map(|n| {
            format!(
                "DTSTART;VALUE=DATE:{}\r\nDTEND;VALUE=DATE:{}\r\nUID:night{n}@booking.com\r\n\
                 SUMMARY:CLOSED - Not available\r\n",
                compact(n),
                compact(n + 1)
            )
        })
        .collect()
}

async fn a_booking_com_stay_whose_past_nights_leave_the_feed_is_still_the_same_stay(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key).await;
    // A guest arrived yesterday for five nights; Booking.com lists each night.
    let platform = Platform::start(calendar(&booking_com_nights(-1, 4))).await;
    let import = register_as(&app, &key, room, &platform.url(), "booking_com").await;
    let first = run(&app, &key, &import).await.unwrap();
    assert_eq!(first["added"], 1, "the nights are one stay: {first}");

    // Today the platform no longer lists last night: the stay is keyed by tonight's event now.
    platform.set(calendar(&booking_com_nights(0, 4)));
    let second = run(&app, &key, &import).await.unwrap();
    assert_eq!(
        (&second["added"], &second["removed"], &second["unchanged"]),
        (&json!(0), &json!(0), &json!(1)),
        "the guest's stay was neither cancelled nor booked again: {second}"
    );

    // One more night booked: the same stay, longer.
    platform.set(calendar(&booking_com_nights(0, 5)));
    let third = run(&app, &key, &import).await.unwrap();
    assert_eq!((&third["updated"], &third["removed"]), (&json!(1), &json!(0)), "{third}");
    assert_eq!(busy(&app, &key, room, -1, 10).await.len(), 1);
    app.stop().await;
}

async fn a_run_the_store_fails_under_leaves_the_change_saved_and_the_import_free(db: Db) {
    let (app, key, _platform, import) = one_stay_import(db).await;
    run(&app, &key, &import).await.unwrap();
    // The body the run kept can no longer be read back: reading it again fails in the store.
    let cut = "UPDATE import_bodies SET body = substr(body, 1, 3) WHERE length($1) > 0";
    assert_eq!(crate::hardening_lifecycle::execute(&app.store, cut, "x".into()).await, 1);

    let path = format!("/api/v1/imports/{import}");
    let (status, changed) =
        app.call("PATCH", &path, &key, Some(json!({"date_shift_days": 1}))).await;
    assert_eq!(
        (status, &changed["date_shift_days"]),
        (200, &json!(1)),
        "the change is saved and said so; reading the feed again is left to the queue: {changed}"
    );
    // The queued reread may hold the import for a moment while it tries; it lets go each
    // time, where the failed reading used to keep it for the lease's five minutes.
    let again = crate::helpers::eventually(std::time::Duration::from_secs(10), || async {
        run(&app, &key, &import).await.ok()
    })
    .await;
    assert_eq!(again["outcome"], "ok", "the failed reading let go of the import: {again}");
    app.stop().await;
}

async fn a_run_whose_record_the_database_refuses_leaves_the_import_free_for_the_next(db: Db) {
    let (app, key, _platform, import) = one_stay_import(db).await;
    // The run's record cannot be written, as on a full disk.
    let postgres = "CREATE FUNCTION refuse_run() RETURNS trigger LANGUAGE plpgsql AS \
                    $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$; \
                    CREATE TRIGGER refuse_run BEFORE INSERT ON import_runs FOR EACH ROW \
                    EXECUTE FUNCTION refuse_run()";
    let sqlite = "CREATE TRIGGER refuse_run BEFORE INSERT ON import_runs \
                  BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END";
    crate::helpers::execute_either(&app.store, postgres, sqlite).await;
    let problem = run(&app, &key, &import).await.unwrap_err();
    assert_eq!(problem.status, 500, "{problem:?}");
    let drop = "DROP TRIGGER refuse_run";
    crate::helpers::execute_either(&app.store, &format!("{drop} ON import_runs"), drop).await;

    // Free again at once (a queued retry may hold it for a moment), not after the lease's
    // five minutes.
    let again = crate::helpers::eventually(std::time::Duration::from_secs(10), || async {
        run(&app, &key, &import).await.ok()
    })
    .await;
    assert_eq!((again["outcome"].as_str(), again["added"].as_u64()), (Some("ok"), Some(1)));
    app.stop().await;
}

/// An app with a room whose import (not run yet) reads one stay from a platform: the app, its
/// API key, the platform (serving while it lives) and the import's id.
async fn one_stay_import(db: Db) -> (TestApp, String, Platform, String) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key).await;
    let platform = Platform::start(calendar(&[reservation("stay", 10, 12)])).await;
    let import = register(&app, &key, room, &platform.url()).await;
    (app, key, platform, import)
}

async fn a_run_letting_go_late_does_not_free_an_import_another_run_has_taken_since(db: Db) {
    use kalends_store::{Lease, StoreError, lease_end};
    let app = app_allowing_local_feeds(db).await;
    let (tenant, key) = app.tenant().await;
    let room = resource(&app, &key).await;
    let url = "https://example.com/a.ics";
    let import: Uuid = register(&app, &key, room, url).await.parse().unwrap();
    let (store, length) = (&app.store, std::time::Duration::from_secs(60));
    let take = |until| store.lease_import_run(tenant.id, import, until);
    let busy = |taken: Result<_, StoreError>| matches!(taken, Err(StoreError::LeaseBusy));

    // A run takes the import and works under its lease; its own release frees the import.
    let until = lease_end(length);
    take(until).await.unwrap();
    let work = store.hold(&Lease::IMPORT_RUN, import.into(), until, length, async {});
    let ((), first) = work.await.unwrap().unwrap();
    assert!(busy(take(lease_end(length)).await), "held until it lets go");
    store.release_own_lease(&Lease::IMPORT_RUN, import.into(), first).await.unwrap();
    // Another run takes it; the first, letting go again late (its lease ran out meanwhile, as
    // far as it knows), leaves the second's lease alone.
    take(lease_end(length)).await.unwrap();
    store.release_own_lease(&Lease::IMPORT_RUN, import.into(), first).await.unwrap();
    assert!(busy(take(lease_end(length)).await), "the second run's lease stands");

    // A run whose work outlived its lease's first end renewed it: it still lets go of it.
    store.release_lease(&Lease::IMPORT_RUN, import.into()).await.unwrap();
    let (short, until) = (std::time::Duration::from_millis(300), lease_end(length));
    take(until).await.unwrap();
    let work = tokio::time::sleep(short * 2);
    let work = store.hold(&Lease::IMPORT_RUN, import.into(), until, short, work);
    let ((), renewed) = work.await.unwrap().expect("its renewals kept the lease");
    store.release_own_lease(&Lease::IMPORT_RUN, import.into(), renewed).await.unwrap();
    take(lease_end(length)).await.expect("let go after its renewals");
    app.stop().await;
}

async fn a_run_that_lost_its_import_to_another_run_records_nothing_and_leaves_it_held(db: Db) {
    use kalends_service::imports::{RunPolicy, record_run_with};
    use kalends_store::{Lease, RunResult, StoreError, lease_end};
    let app = app_allowing_local_feeds(db).await;
    let (tenant, key) = app.tenant().await;
    let room = resource(&app, &key).await;
    let id: Uuid = register(&app, &key, room, "https://example.com/a.ics").await.parse().unwrap();
    let (store, length) = (&app.store, std::time::Duration::from_secs(60));
    let take = |until| store.lease_import_run(tenant.id, id, until);

    // A run reads under its lease, then is slow to record: its lease runs out and another run
    // takes the import (here the lease is freed and taken again, as its running out allows).
    let until = lease_end(length);
    let import = take(until).await.unwrap().import;
    let work = store.hold(&Lease::IMPORT_RUN, id.into(), until, length, async {});
    let ((), first) = work.await.unwrap().unwrap();
    store.release_lease(&Lease::IMPORT_RUN, id.into()).await.unwrap();
    take(lease_end(length)).await.unwrap();

    let alerts = Default::default();
    let policy = RunPolicy { failure_threshold: 3, alerts: &alerts, accept_removal: false };
    let failed = RunResult::Failed {
        http_status: Some(404),
        error: "not found".into(),
        retry: kalends_core::imports::Retry::AtInterval,
    };
    let late = (chrono::Utc::now(), Some(first));
    let recorded = record_run_with(store, &tenant, &import, late, failed, policy).await;
    assert!(matches!(recorded, Err(StoreError::LeaseBusy)), "{recorded:?}");
    let runs = store.list_import_runs(tenant.id, id, None, 10).await.unwrap().items;
    assert!(runs.is_empty(), "the late run is not in the log: {runs:?}");
    let shown = get(&app, &key, &format!("/api/v1/imports/{id}")).await;
    assert_eq!(shown["consecutive_failures"], 0, "nor counted as a failure: {shown}");
    let again = take(lease_end(length)).await;
    assert!(matches!(again, Err(StoreError::LeaseBusy)), "the other run still holds it");
    app.stop().await;
}

async fn an_event_ending_before_it_starts_is_skipped_and_counted_in_the_run(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key).await;
    let airbnb = Platform::start(calendar(&[
        reservation("good@airbnb.com", 12, 15),
        reservation("backwards@airbnb.com", 30, 25),
    ]))
    .await;
    let import = register(&app, &key, room, &airbnb.url()).await;
    let done = run(&app, &key, &import).await.unwrap();
    assert_eq!(
        (done["outcome"].as_str(), done["added"].as_u64(), done["skipped"].as_u64()),
        (Some("ok"), Some(1), Some(1)),
        "{done}"
    );
    let blocked = busy(&app, &key, room, 0, 60).await;
    assert_eq!(blocked, vec![("feed".to_owned(), in_days(12))], "no made-up one-day block");
    let runs = get(&app, &key, &format!("/api/v1/imports/{import}/runs")).await;
    assert_eq!(runs["items"][0]["skipped"], 1, "{runs}");
    app.stop().await;
}

async fn an_address_refusal_says_not_a_public_address_without_naming_the_ip(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key).await;
    let local = Platform::start(calendar(&[reservation("a@airbnb.com", 12, 15)])).await;
    let port = local.base.rsplit(':').next().unwrap().to_owned();
    for url in [
        format!("http://localhost:{port}/export/listing.ics?s=secret-token"),
        "http://10.20.30.40/export/listing.ics".to_owned(),
        "http://127.0.0.1/export/listing.ics".to_owned(),
        "http://[fd00::17]/export/listing.ics".to_owned(),
    ] {
        let import = register(&app, &key, room, &url).await;
        let failed = run(&app, &key, &import).await.unwrap();
        assert_eq!(failed["outcome"], "failed", "{url}: {failed}");
        let error = failed["error"].as_str().unwrap();
        assert!(error.contains("not a public address"), "{url}: {error}");
        assert!(error.contains("KALENDS_IMPORT__ALLOW_PRIVATE_NETWORKS"), "{url}: {error}");
        for ip in ["127.0.0.1", "::1", "10.20.30.40", "fd00::17", "127.", "10."] {
            assert!(!error.contains(ip), "{url}: the error names an address: {error}");
        }
    }
    app.stop().await;
}

/// `n` events each recurring daily at 03:00:00 through a SECONDLY rule: a few kilobytes that
/// would cost seconds to expand.
fn dear_events(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "DTSTART:{}T030000Z\r\nRRULE:FREQ=SECONDLY;BYHOUR=3;BYMINUTE=0;BYSECOND=0\r\nUID:dear-{i}\r\n",
                compact(1)
            )
        })
        .collect()
}

/// A room whose Airbnb import (serving `events`, its first run done) runs under `limits` set
/// on the import configuration.
struct Imported {
    app: TestApp,
    key: String,
    room: Uuid,
    airbnb: Platform,
    import: String,
}

async fn imported(db: Db, limits: impl FnOnce(&mut ImportConfig), events: &[String]) -> Imported {
    let dir = TempDir::new();
    let mut config = config(db, &dir).await;
    config.import.allow_private_networks = true;
    limits(&mut config.import);
    let app = TestApp::start_with(config, dir).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key).await;
    let airbnb = Platform::start(calendar(events)).await;
    let import = register(&app, &key, room, &airbnb.url()).await;
    let first = run(&app, &key, &import).await.unwrap();
    assert_eq!(first["outcome"], "ok", "{first}");
    Imported { app, key, room, airbnb, import }
}

async fn a_feed_too_dear_to_read_fails_its_run_and_keeps_what_was_stored(db: Db) {
    let limits = |import: &mut ImportConfig| import.max_work_steps = 200_000;
    let Imported { app, key, room, airbnb, import } =
        imported(db, limits, &[reservation("a@airbnb.com", 12, 15)]).await;

    let mut events = vec![reservation("b@airbnb.com", 20, 22)];
    events.extend(dear_events(2_000));
    airbnb.set(calendar(&events));
    let failed = run(&app, &key, &import).await.unwrap();
    assert_eq!(failed["outcome"], "failed", "{failed}");
    let error = failed["error"].as_str().unwrap();
    assert!(error.starts_with("the feed needs too much work to read: "), "{error}");
    assert_eq!(
        busy(&app, &key, room, 0, 60).await,
        vec![("feed".to_owned(), in_days(12))],
        "nothing stored changed"
    );
    let state = get(&app, &key, &format!("/api/v1/imports/{import}")).await;
    assert_eq!(state["consecutive_failures"], 1, "{state}");
    app.stop().await;
}

/// A feed with more events than Kalends reads: importing its first ones would remove the
/// nights of the rest, so the run fails, naming the limit, and nothing stored changes.
async fn a_feed_over_the_event_limit_fails_its_run_and_removes_nothing(db: Db) {
    let two = [reservation("a@airbnb.com", 12, 15), reservation("b@airbnb.com", 20, 22)];
    let limits = |import: &mut ImportConfig| import.max_events = 2;
    let Imported { app, key, room, airbnb, import } = imported(db, limits, &two).await;

    // A third reservation, written first: a reader stopping at two would drop the last one.
    let three = [reservation("c@airbnb.com", 5, 7), two[0].clone(), two[1].clone()];
    airbnb.set(calendar(&three));
    let failed = run(&app, &key, &import).await.unwrap();
    assert_eq!(failed["outcome"], "failed", "{failed}");
    let error = failed["error"].as_str().unwrap();
    assert!(error.starts_with("the feed holds 3 events, more than the 2"), "{error}");
    assert_eq!(
        busy(&app, &key, room, 0, 60).await,
        vec![("feed".to_owned(), in_days(12)), ("feed".to_owned(), in_days(20))],
        "nothing stored changed"
    );
    app.stop().await;
}

/// A platform whose first answer waits until the test lets it go; later ones come at once.
struct Gated {
    platform: Platform,
    requests: Arc<std::sync::atomic::AtomicUsize>,
    release: Arc<tokio::sync::Semaphore>,
}

impl Gated {
    async fn start(body: String) -> Gated {
        let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let release = Arc::new(tokio::sync::Semaphore::new(0));
        let (counted, gate) = (requests.clone(), release.clone());
        let shared = Arc::new(Mutex::new(body));
        let served = shared.clone();
        let app = axum::Router::new().route(
            "/export/{file}",
            axum::routing::get(move || {
                let (counted, gate, served) = (counted.clone(), gate.clone(), served.clone());
                async move {
                    use std::sync::atomic::Ordering;
                    if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                        gate.acquire().await.unwrap().forget();
                    }
                    (StatusCode::OK, served.lock().unwrap().clone())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Gated {
            platform: Platform {
                body: shared,
                base,
                hits: Arc::default(),
                delay: Arc::default(),
                etags: Arc::default(),
            },
            requests,
            release,
        }
    }

    fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The owner changes how an import is read while a run is fetching its feed: the run records
/// what it read under the old settings, and the change is applied right after it, not lost.
async fn settings_changed_while_a_run_fetches_the_feed_apply_once_it_is_done(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key).await;
    let airbnb = Gated::start(calendar(&[reservation("a@airbnb.com", 12, 15)])).await;
    let import = register(&app, &key, room, &airbnb.platform.url()).await;
    let running = run(&app, &key, &import);
    let changing = async {
        crate::helpers::eventually(std::time::Duration::from_secs(10), || async {
            (airbnb.requests() == 1).then_some(())
        })
        .await;
        let shift = json!({"date_shift_days": 1});
        let path = format!("/api/v1/imports/{import}");
        app.api(&key).send::<Value>("PATCH", &path, Some(shift), 200).await.unwrap();
        airbnb.release.add_permits(1);
    };
    let (ran, ()) = tokio::join!(running, changing);
    assert_eq!(ran.unwrap()["added"], 1, "the run read under the settings it began with");
    app.settle().await;
    let blocked = busy(&app, &key, room, 0, 60).await;
    assert_eq!(blocked, vec![("feed".to_owned(), in_days(13))], "shifted a day: {blocked:?}");
    app.stop().await;
}

async fn a_second_run_of_an_import_is_refused_while_the_first_is_alive(db: Db) {
    let dir = TempDir::new();
    let mut config = config(db, &dir).await;
    config.import.allow_private_networks = true;
    let settings = config.import.clone();
    let app = TestApp::start_with(config, dir).await;
    let (tenant, key) = app.tenant().await;
    let room = resource(&app, &key).await;
    let airbnb = Gated::start(calendar(&[reservation("a@airbnb.com", 12, 15)])).await;
    let import = register(&app, &key, room, &airbnb.platform.url()).await;
    let id: uuid::Uuid = import.parse().unwrap();
    // A lease of two seconds: the first run outlives it, and must keep its import all along.
    let importer = kalends_service::importer::Importer::new(app.store.clone(), &settings)
        .unwrap()
        .with_lease(std::time::Duration::from_secs(2));
    let tenant_id = tenant.id;
    let first = tokio::spawn({
        let importer = importer.clone();
        async move { importer.run(tenant_id, id).await }
    });
    crate::helpers::eventually(std::time::Duration::from_secs(10), || async {
        (airbnb.requests() == 1).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;

    let busy_run = run(&app, &key, &import).await.unwrap_err();
    assert_eq!(busy_run.status, 409, "POST .../run while a run is alive: {busy_run:?}");
    let scheduled = kalends_jobs::import_feed::run(&importer, tenant_id, id).await;
    assert!(scheduled.is_ok(), "the scheduled job gives way quietly: {scheduled:?}");
    assert_eq!(airbnb.requests(), 1, "neither started a second run");

    airbnb.release.add_permits(1);
    let done = first.await.unwrap().unwrap();
    assert_eq!((done.outcome.as_str(), done.counts.added), ("ok", 1));
    let runs = get(&app, &key, &format!("/api/v1/imports/{import}/runs")).await;
    assert_eq!(runs["items"].as_array().unwrap().len(), 1, "{runs}");
    let again = run(&app, &key, &import).await.unwrap();
    // The lease was given back; the feed sent the same bytes, so they were not read again.
    assert_eq!(again["outcome"], "not_modified", "{again}");
    app.stop().await;
}

#[tokio::test]
async fn ics_check_refuses_a_feed_too_dear_to_read_with_the_same_error() {
    use crate::process::{free_port, kalends};
    let dir = TempDir::new();
    let file = dir.0.join("dear.ics");
    std::fs::write(&file, calendar(&dear_events(200))).unwrap();
    let out = kalends(&dir, free_port())
        .env("KALENDS_IMPORT__MAX_WORK_STEPS", "200000")
        .args(["ics", "check", file.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("the feed needs too much work to read: "), "{stderr}");
}

async fn the_import_list_shows_each_import_with_its_latest_run(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key).await;
    let airbnb = Platform::start(calendar(&[reservation("a@airbnb.com", 12, 15)])).await;
    let first = register(&app, &key, room, &airbnb.url()).await;
    let second = register(&app, &key, room, &format!("{}?second", airbnb.url())).await;
    for _ in 0..2 {
        run(&app, &key, &first).await.unwrap();
    }
    let list = get(&app, &key, "/api/v1/imports").await;
    let items = list["items"].as_array().unwrap();
    let find = |id: &str| items.iter().find(|i| i["id"] == id).unwrap().clone();
    let runs = get(&app, &key, &format!("/api/v1/imports/{first}/runs")).await;
    assert_eq!(find(&first)["last_run"]["id"], runs["items"][0]["id"], "the newest of two runs");
    assert!(find(&second)["last_run"].is_null(), "{}", find(&second));
    app.stop().await;
}

async fn a_feed_sending_the_same_bytes_again_is_not_read_again_until_they_change(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key).await;
    // A server without validators: every run gets the whole body.
    let airbnb = Platform::start(calendar(&[reservation("a@airbnb.com", 12, 15)])).await;
    let import = register(&app, &key, room, &airbnb.url()).await;
    let first = run(&app, &key, &import).await.unwrap();
    assert_eq!((first["outcome"].as_str(), first["added"].as_u64()), (Some("ok"), Some(1)));
    let same = run(&app, &key, &import).await.unwrap();
    assert_eq!(
        (same["outcome"].as_str(), same["http_status"].as_u64(), same["unchanged"].as_u64()),
        (Some("not_modified"), Some(200), Some(1)),
        "the same bytes are not read again: {same}"
    );
    airbnb
        .set(calendar(&[reservation("a@airbnb.com", 12, 15), reservation("b@airbnb.com", 20, 22)]));
    let changed = run(&app, &key, &import).await.unwrap();
    assert_eq!(
        (changed["outcome"].as_str(), changed["added"].as_u64()),
        (Some("ok"), Some(1)),
        "{changed}"
    );
    let blocked = busy(&app, &key, room, 0, 60).await;
    assert_eq!(
        blocked,
        vec![("feed".to_owned(), in_days(12)), ("feed".to_owned(), in_days(20))],
        "{blocked:?}"
    );
    app.stop().await;
}

/// A feed answering 304 is read again from the body kept for it, once a day: what repeats
/// reaches as far ahead as the window from today, so the reading of an earlier day is not kept
/// for good. The same day, a 304 reads nothing.
async fn a_feed_answering_304_is_read_again_from_its_kept_body_on_a_new_day(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key).await;
    let airbnb = Platform::start(calendar(&[reservation("a@airbnb.com", 12, 15)])).await;
    airbnb.with_etags();
    let import = register(&app, &key, room, &airbnb.url()).await;
    let first = run(&app, &key, &import).await.unwrap();
    assert_eq!((first["outcome"].as_str(), first["added"].as_u64()), (Some("ok"), Some(1)));
    let outcome = |run: &Value| (run["outcome"].clone(), run["http_status"].clone());
    let same_day = run(&app, &key, &import).await.unwrap();
    assert_eq!(outcome(&same_day), (json!("not_modified"), json!(304)), "{same_day}");
    // As if the body had been read on an earlier day.
    let id: Uuid = import.parse().unwrap();
    let yesterday = "UPDATE import_bodies SET read_at = '2020-01-01 00:00:00+00:00' \
                     WHERE import_id = $1";
    assert_eq!(crate::helpers::execute_with_id(&app.store, yesterday, id).await, 1);
    let hash = "UPDATE imports SET body_sha256 = NULL WHERE id = $1";
    assert_eq!(crate::helpers::execute_with_id(&app.store, hash, id).await, 1);
    let next_day = run(&app, &key, &import).await.unwrap();
    assert_eq!(outcome(&next_day), (json!("ok"), json!(304)), "read again: {next_day}");
    assert_eq!(next_day["unchanged"], 1, "{next_day}");
    let later = run(&app, &key, &import).await.unwrap();
    assert_eq!(outcome(&later), (json!("not_modified"), json!(304)), "{later}");
    app.stop().await;
}

on_both_databases!(
    a_feed_answering_304_is_read_again_from_its_kept_body_on_a_new_day,
    settings_changed_while_a_run_fetches_the_feed_apply_once_it_is_done,
    a_feed_sending_the_same_bytes_again_is_not_read_again_until_they_change,
    the_import_list_shows_each_import_with_its_latest_run,
    a_feed_too_dear_to_read_fails_its_run_and_keeps_what_was_stored,
    a_feed_over_the_event_limit_fails_its_run_and_removes_nothing,
    a_second_run_of_an_import_is_refused_while_the_first_is_alive,
    an_address_refusal_says_not_a_public_address_without_naming_the_ip,
    a_reservation_22_months_ahead_is_imported_and_its_double_booking_seen,
    an_event_ending_before_it_starts_is_skipped_and_counted_in_the_run,
    a_booking_com_stay_whose_past_nights_leave_the_feed_is_still_the_same_stay,
    a_run_the_store_fails_under_leaves_the_change_saved_and_the_import_free,
    a_run_whose_record_the_database_refuses_leaves_the_import_free_for_the_next,
    a_run_letting_go_late_does_not_free_an_import_another_run_has_taken_since,
    a_run_that_lost_its_import_to_another_run_records_nothing_and_leaves_it_held,
);
