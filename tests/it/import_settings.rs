//! Per-import reading settings (what the items are, what an end date means, a shift of the
//! dates, what an item gone from the feed means), the mass-removal guard, and the import's items
//! as the API lists them.

use serde_json::{Value, json};

use crate::console::signed_in_as;
use crate::hardening_imports::{
    Platform, app_allowing_local_feeds, busy, calendar, in_days, register, reservation, resource,
    run,
};
use crate::helpers::{Db, TestApp, on_both_databases};
use crate::outbound_webhooks::{
    AT_ONCE, Receiver, create_endpoint, events_of, with_webhooks_and_local_feeds,
};

/// The import's items, as `GET /api/v1/imports/{id}/items` lists them.
async fn items(app: &TestApp, key: &str, import: &str) -> Vec<Value> {
    let path = format!("/api/v1/imports/{import}/items?limit=500");
    let page: Value = app.api(key).send("GET", &path, None, 200).await.unwrap();
    page["items"].as_array().unwrap().clone()
}

/// Each item's (kind, start date, end date), by start.
async fn dates(app: &TestApp, key: &str, import: &str) -> Vec<(String, String, String)> {
    let mut found: Vec<_> = items(app, key, import)
        .await
        .iter()
        .map(|i| {
            let text = |f: &str| i[f].as_str().unwrap_or_default().to_owned();
            (text("kind"), text("start_date"), text("end_date"))
        })
        .collect();
    found.sort_by(|a, b| a.1.cmp(&b.1));
    found
}

async fn patch(app: &TestApp, key: &str, import: &str, body: Value) -> Value {
    let path = format!("/api/v1/imports/{import}");
    app.api(key).send("PATCH", &path, Some(body), 200).await.unwrap()
}

async fn import_of(app: &TestApp, key: &str, import: &str) -> Value {
    app.api(key).send("GET", &format!("/api/v1/imports/{import}"), None, 200).await.unwrap()
}

fn stay(kind: &str, from: i64, to: i64) -> (String, String, String) {
    (kind.to_owned(), in_days(from), in_days(to))
}

async fn every_reading_setting_out_of_range_is_its_own_field_error_and_nothing_is_saved(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key).await;
    let bad = json!({"import_as": "event", "end_date_is": "the_day_after", "date_shift_days": 3,
        "on_missing": "ignore", "max_removed_share": 1.5});
    let mut create = bad.clone();
    create["resource_id"] = json!(room);
    create["platform"] = json!("airbnb");
    create["url"] = json!("https://example.com/calendar.ics");
    let refused = app.api(&key).send::<Value>("POST", "/api/v1/imports", Some(create), 201).await;
    let problem = refused.unwrap_err();
    let mut fields: Vec<&str> = problem.errors.iter().map(|e| e.field.as_str()).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["date_shift_days", "end_date_is", "import_as", "max_removed_share", "on_missing"],
        "{problem:?}"
    );
    let airbnb = Platform::start(calendar(&[reservation("a@airbnb.com", 12, 15)])).await;
    let import = register(&app, &key, room, &airbnb.url()).await;
    let path = format!("/api/v1/imports/{import}");
    let refused = app.api(&key).send::<Value>("PATCH", &path, Some(bad), 200).await.unwrap_err();
    assert_eq!(refused.errors.len(), 5, "{refused:?}");
    let kept = import_of(&app, &key, &import).await;
    assert_eq!(
        (&kept["import_as"], &kept["end_date_is"], &kept["date_shift_days"], &kept["on_missing"]),
        (&json!("reservation"), &json!("checkout"), &json!(0), &json!("remove")),
        "an OTA platform's defaults, unchanged: {kept}"
    );
    assert_eq!(kept["max_removed_share"], 0.5);
    app.stop().await;
}

async fn a_changed_setting_reads_the_last_body_again_at_once_without_a_fetch(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key).await;
    let airbnb = Platform::start(calendar(&[reservation("a@airbnb.com", 12, 15)])).await;
    let import = register(&app, &key, room, &airbnb.url()).await;
    run(&app, &key, &import).await.unwrap();
    assert_eq!(dates(&app, &key, &import).await, [stay("reservation", 12, 15)]);
    let fetched = airbnb.hits();

    patch(&app, &key, &import, json!({"end_date_is": "last_night"})).await;
    assert_eq!(
        dates(&app, &key, &import).await,
        [stay("reservation", 12, 16)],
        "the last night is the 14th day: the guest leaves on the 16th"
    );
    patch(&app, &key, &import, json!({"date_shift_days": -1})).await;
    assert_eq!(dates(&app, &key, &import).await, [stay("reservation", 11, 15)]);
    patch(&app, &key, &import, json!({"import_as": "block"})).await;
    assert_eq!(dates(&app, &key, &import).await, [stay("block", 11, 15)]);
    assert_eq!(airbnb.hits(), fetched, "the stored body was read again, the feed not fetched");
    let blocked = busy(&app, &key, room, 0, 30).await;
    assert_eq!(blocked, [("feed".to_owned(), in_days(11))], "availability follows at once");

    let back = patch(&app, &key, &import, json!({"import_as": null})).await;
    assert_eq!(back["import_as"], "reservation", "null is the platform's default again");
    let next = run(&app, &key, &import).await.unwrap();
    assert_eq!(next["outcome"], "not_modified", "the same bytes under the same settings: {next}");
    app.stop().await;
}

async fn a_feed_that_goes_empty_is_held_and_the_next_full_feed_releases_it(db: Db) {
    let app = with_webhooks_and_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let receiver = Receiver::start(AT_ONCE).await;
    let api = app.api(&key);
    create_endpoint(&api, &receiver.url, &["feed_import.held", "feed_item.removed"]).await;
    let room = resource(&app, &key).await;
    let three = calendar(&[
        reservation("a@airbnb.com", 10, 12),
        reservation("b@airbnb.com", 20, 23),
        reservation("c@airbnb.com", 30, 31),
    ]);
    let airbnb = Platform::start(three.clone()).await;
    let import = register(&app, &key, room, &airbnb.url()).await;
    run(&app, &key, &import).await.unwrap();

    airbnb.set(calendar(&[]));
    let held = run(&app, &key, &import).await.unwrap();
    assert_eq!(held["outcome"], "held", "{held}");
    let why = held["error"].as_str().unwrap();
    assert!(why.contains("remove 3 of the 3 future items"), "{why}");
    assert_eq!(items(&app, &key, &import).await.len(), 3, "nothing was removed");
    assert_eq!(busy(&app, &key, room, 0, 60).await.len(), 3, "the nights stay closed");
    let shown = import_of(&app, &key, &import).await;
    assert!(shown["held_since"].is_string() && shown["held_reason"].is_string(), "{shown}");
    let again = run(&app, &key, &import).await.unwrap();
    assert_ne!(again["outcome"], "ok", "still held while the feed is empty: {again}");

    airbnb.set(three);
    let back = run(&app, &key, &import).await.unwrap();
    assert_eq!((back["outcome"].as_str(), back["removed"].as_u64()), (Some("ok"), Some(0)));
    let shown = import_of(&app, &key, &import).await;
    assert!(shown["held_since"].is_null(), "a feed that agrees releases the hold: {shown}");
    app.settle().await;
    let events: Vec<String> = events_of(&receiver).into_iter().map(|(t, _)| t).collect();
    assert_eq!(events, ["feed_import.held"], "one event for the hold, no removal");
    app.stop().await;
}

async fn a_half_empty_feed_is_held_until_the_owner_accepts_the_removal_in_the_console(db: Db) {
    let app = TestApp::start_public_with(db, |c| c.import.allow_private_networks = true).await;
    let (_, key) = app.tenant().await;
    let (browser, _, csrf) = signed_in_as(&app, &key).await;
    let room = resource(&app, &key).await;
    let four: Vec<String> =
        (0..4).map(|k| reservation(&format!("{k}@airbnb.com"), 10 + k * 5, 12 + k * 5)).collect();
    let airbnb = Platform::start(calendar(&four)).await;
    let import = register(&app, &key, room, &airbnb.url()).await;
    run(&app, &key, &import).await.unwrap();
    airbnb.set(calendar(&four[..2]));
    let half = run(&app, &key, &import).await.unwrap();
    assert_eq!(half["outcome"], "ok", "half of the items is not more than half: {half}");
    assert_eq!(items(&app, &key, &import).await.len(), 2);
    airbnb.set(calendar(&four[..0]));
    let held = run(&app, &key, &import).await.unwrap();
    assert_eq!(held["outcome"], "held");

    let page_path = format!("/dashboard/imports/{import}");
    let page = browser.get(&page_path).await;
    assert!(page.body.contains("Accept the removal"), "{}", page.body);
    let accepted = browser.post(&format!("{page_path}/accept-removal"), &[("csrf", &csrf)]).await;
    assert_eq!(accepted.status, 303, "{}", accepted.body);
    assert!(accepted.location().contains("notice=removal-accepted"), "{}", accepted.location());
    assert!(items(&app, &key, &import).await.is_empty(), "the removal went ahead");
    assert!(busy(&app, &key, room, 0, 60).await.is_empty());
    assert!(import_of(&app, &key, &import).await["held_since"].is_null());
    app.stop().await;
}

async fn an_item_gone_from_a_keeping_feed_stays_marked_until_the_owner_confirms(db: Db) {
    let app = with_webhooks_and_local_feeds(db).await;
    let (tenant, key) = app.tenant().await;
    let (browser, _, csrf) = signed_in_as(&app, &key).await;
    let receiver = Receiver::start(AT_ONCE).await;
    create_endpoint(&app.api(&key), &receiver.url, &["feed_item.missing", "feed_item.removed"])
        .await;
    let room = resource(&app, &key).await;
    let both = [reservation("a@airbnb.com", 10, 12), reservation("b@airbnb.com", 20, 23)];
    let airbnb = Platform::start(calendar(&both)).await;
    let import = register(&app, &key, room, &airbnb.url()).await;
    patch(&app, &key, &import, json!({"on_missing": "keep_and_alert"})).await;
    run(&app, &key, &import).await.unwrap();

    airbnb.set(calendar(&both[..1]));
    let kept = run(&app, &key, &import).await.unwrap();
    assert_eq!((kept["outcome"].as_str(), kept["removed"].as_u64()), (Some("ok"), Some(0)));
    let listed = items(&app, &key, &import).await;
    let gone: Vec<&Value> = listed.iter().filter(|i| i["missing_since"].is_string()).collect();
    assert_eq!((listed.len(), gone.len()), (2, 1), "{listed:#?}");
    assert_eq!(gone[0]["uid"], "b@airbnb.com");
    assert_eq!(busy(&app, &key, room, 0, 60).await.len(), 2, "its nights stay closed");
    run(&app, &key, &import).await.unwrap();

    let page_path = format!("/dashboard/imports/{import}");
    let page = browser.get(&page_path).await;
    assert!(page.body.contains("gone since"), "{}", page.body);
    let item_id = gone[0]["id"].as_str().unwrap();
    // While a run holds the import (it may be finding the item back), the confirmation waits.
    let (lease, id) = (&kalends_store::Lease::IMPORT_RUN, import.parse::<uuid::Uuid>().unwrap());
    let guard = [kalends_store::LeaseKey::Id(tenant.id)];
    let held = chrono::Utc::now() + chrono::Duration::seconds(60);
    assert!(app.store.take_lease(lease, id.into(), &guard, held).await.unwrap());
    let waiting = browser
        .post(&format!("{page_path}/confirm-missing"), &[("csrf", &csrf), ("item_id", item_id)])
        .await;
    assert!(waiting.location().contains("notice=import-busy"), "{}", waiting.location());
    assert_eq!(busy(&app, &key, room, 0, 60).await.len(), 2, "nothing was removed");
    app.store.release_lease(lease, id.into()).await.unwrap();
    let confirmed = browser
        .post(&format!("{page_path}/confirm-missing"), &[("csrf", &csrf), ("item_id", item_id)])
        .await;
    assert!(confirmed.location().contains("notice=missing-removed"), "{}", confirmed.location());
    assert_eq!(busy(&app, &key, room, 0, 60).await, [("feed".to_owned(), in_days(10))]);
    app.settle().await;
    let events: Vec<(String, Value)> = events_of(&receiver);
    let names: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(names, ["feed_item.missing", "feed_item.removed"], "told once, then removed");
    assert_eq!(events[0].1["uid"], "b@airbnb.com");
    app.stop().await;
}

/// A room keeps a night free after each stay. Airbnb sells the night a direct stay ends on, then
/// drops the reservation from its feed, which the room's import keeps until the owner confirms
/// it gone. The direct stay's rule conflict stays open while that night is kept, and resolves
/// once the owner confirms.
async fn a_rule_conflict_a_kept_reservation_caused_resolves_when_the_owner_confirms_it_gone(
    db: Db,
) {
    let app = with_webhooks_and_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let (browser, _, csrf) = signed_in_as(&app, &key).await;
    let api = app.api(&key);
    let room = resource(&app, &key).await;
    let rules = Some(json!({"turnover_days": 1}));
    api.send::<Value>("PUT", &format!("/api/v1/resources/{room}/rules"), rules, 200).await.unwrap();
    let both = [reservation("a@airbnb.com", 60, 62), reservation("b@airbnb.com", 20, 23)];
    let airbnb = Platform::start(calendar(&both)).await;
    let import = register(&app, &key, room, &airbnb.url()).await;
    patch(&app, &key, &import, json!({"on_missing": "keep_and_alert"})).await;
    run(&app, &key, &import).await.unwrap();
    let direct = json!({"title": "Direct", "resource_id": room, "start_date": in_days(18),
        "end_date": in_days(20)});
    api.send::<Value>("POST", "/api/v1/bookings", Some(direct), 201).await.unwrap();
    let rules_open = || async {
        let open = api.conflicts("open").await.unwrap();
        open.into_iter().filter_map(|c| c.rule).collect::<Vec<_>>()
    };
    assert_eq!(rules_open().await, ["turnover_days"], "Airbnb's guest arrives as the stay ends");

    airbnb.set(calendar(&both[..1]));
    run(&app, &key, &import).await.unwrap();
    assert_eq!(rules_open().await, ["turnover_days"], "the night is kept until confirmed");
    let listed = items(&app, &key, &import).await;
    let gone = listed.iter().find(|i| i["missing_since"].is_string()).expect("b is missing");
    let item_id = gone["id"].as_str().unwrap();
    let page_path = format!("/dashboard/imports/{import}/confirm-missing");
    let confirmed = browser.post(&page_path, &[("csrf", &csrf), ("item_id", item_id)]).await;
    assert!(confirmed.location().contains("notice=missing-removed"), "{}", confirmed.location());
    assert_eq!(rules_open().await, Vec::<String>::new(), "the turnover night is free again");
    app.stop().await;
}

async fn the_items_list_pages_and_keeps_to_the_window_asked(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key).await;
    let events: Vec<String> =
        (0..5).map(|k| reservation(&format!("{k}@airbnb.com"), 10 + k * 10, 12 + k * 10)).collect();
    let airbnb = Platform::start(calendar(&events)).await;
    let import = register(&app, &key, room, &airbnb.url()).await;
    run(&app, &key, &import).await.unwrap();
    let api = app.api(&key);
    let window = format!("/api/v1/imports/{import}/items?from={}&to={}", in_days(25), in_days(41));
    let page: Value = api.send("GET", &window, None, 200).await.unwrap();
    let uids: Vec<&str> =
        page["items"].as_array().unwrap().iter().map(|i| i["uid"].as_str().unwrap()).collect();
    assert_eq!(uids.len(), 2, "the stays from day 30 and day 40: {page}");
    let first: Value = api
        .send("GET", &format!("/api/v1/imports/{import}/items?limit=2"), None, 200)
        .await
        .unwrap();
    let cursor = first["next_cursor"].as_str().expect("more pages");
    let next_path = format!("/api/v1/imports/{import}/items?limit=2&cursor={cursor}");
    let next: Value = api.send("GET", &next_path, None, 200).await.unwrap();
    assert_eq!(next["items"].as_array().unwrap().len(), 2);
    let bad = format!("/api/v1/imports/{import}/items?from=yesterday");
    let refused = api.send::<Value>("GET", &bad, None, 200).await.unwrap_err();
    assert_eq!(refused.errors[0].field, "from", "{refused:?}");
    app.stop().await;
}

async fn an_airbnb_reservation_is_listed_and_shown_on_the_timeline_with_its_code_link_and_phone_digits(
    db: Db,
) {
    let app = with_webhooks_and_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let receiver = Receiver::start(AT_ONCE).await;
    create_endpoint(&app.api(&key), &receiver.url, &["conflict.opened"]).await;
    let room = resource(&app, &key).await;
    let described = format!(
        "{}DESCRIPTION:Reservation URL: https://www.airbnb.com/hosting/reservations/details/HMABCD1234\\n\
         Phone Number (Last 4 Digits): 4321\r\n",
        reservation("a@airbnb.com", 12, 15)
    );
    let blocked = "DTSTART;VALUE=DATE:20300101\r\nDTEND;VALUE=DATE:20300105\r\nUID:b@airbnb.com\r\n\
        SUMMARY:Airbnb (Not available)\r\n";
    let airbnb = Platform::start(calendar(&[described, blocked.to_owned()])).await;
    let import = register(&app, &key, room, &airbnb.url()).await;
    run(&app, &key, &import).await.unwrap();
    let listed = items(&app, &key, &import).await;
    let stay = listed.iter().find(|i| i["uid"] == "a@airbnb.com").unwrap();
    assert_eq!(
        stay["details"],
        json!({"reservation_code": "HMABCD1234",
            "reservation_url": "https://www.airbnb.com/hosting/reservations/details/HMABCD1234",
            "phone_last_digits": "4321"}),
        "{stay}"
    );
    let closed = listed.iter().find(|i| i["uid"] == "b@airbnb.com").unwrap();
    assert_eq!((&closed["kind"], &closed["details"]), (&json!("block"), &json!({})), "{closed}");

    let (browser, _, _) = signed_in_as(&app, &key).await;
    let overview = browser.get("/dashboard?days=30").await;
    assert!(
        overview.body.contains("Reserved (HMABCD1234, phone ending 4321)"),
        "the timeline's tooltip names the reservation: {}",
        overview.body
    );

    let direct = json!({"title": "Direct guest", "resource_id": room, "status": "confirmed",
        "start_date": in_days(13), "end_date": in_days(14)});
    let _: Value = app.api(&key).send("POST", "/api/v1/bookings", Some(direct), 201).await.unwrap();
    app.settle().await;
    let open: Value = app.api(&key).send("GET", "/api/v1/conflicts", None, 200).await.unwrap();
    let listed = &open["items"][0]["items"];
    let imported = listed.as_array().unwrap().iter().find(|i| i["kind"] == "feed").unwrap();
    assert_eq!(imported["details"]["reservation_code"], "HMABCD1234", "{listed}");
    let told = events_of(&receiver);
    assert_eq!(told.len(), 1, "{told:?}");
    let items = told[0].1["items"].as_array().unwrap();
    let imported = items.iter().find(|i| i["kind"] == "feed").unwrap();
    assert_eq!(imported["details"]["phone_last_digits"], "4321", "{items:?}");
    app.stop().await;
}

async fn a_feed_that_answers_a_login_page_redirects_to_one_or_stops_answering_fails_and_removes_nothing(
    db: Db,
) {
    let app = TestApp::start_public_with(db, |config| {
        config.import.allow_private_networks = true;
        config.import.timeout_secs = 1;
    })
    .await;
    let (_, key) = app.tenant().await;
    let room = resource(&app, &key).await;
    let ics = calendar(&[reservation("a@airbnb.com", 10, 12), reservation("b@airbnb.com", 20, 23)]);
    let airbnb = Platform::start(ics.clone()).await;
    let import = register(&app, &key, room, &airbnb.url()).await;
    run(&app, &key, &import).await.unwrap();
    let stored = dates(&app, &key, &import).await;
    assert_eq!(stored.len(), 2);

    let login = "<!DOCTYPE html><html><head><title>Log in - Airbnb</title></head>\
        <body><form action=\"/login\"><input name=\"email\"></form></body></html>";
    let redirecting = {
        let login = login.to_owned();
        let app = axum::Router::new()
            .route(
                "/export/{file}",
                axum::routing::get(|| async { axum::response::Redirect::to("/login?next=export") }),
            )
            .route(
                "/login",
                axum::routing::get(move || async move { axum::response::Html(login) }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("{base}/export/listing.ics?s=secret-token")
    };

    airbnb.set(login.to_owned());
    let failed = run(&app, &key, &import).await.unwrap();
    assert_eq!(failed["outcome"], "failed", "{failed}");
    assert!(failed["error"].as_str().unwrap().contains("not an iCalendar file"), "{failed}");
    assert_eq!(dates(&app, &key, &import).await, stored, "a login page removes nothing");

    let path = format!("/api/v1/imports/{import}");
    let _: Value =
        app.api(&key).send("PATCH", &path, Some(json!({"url": redirecting})), 200).await.unwrap();
    let failed = run(&app, &key, &import).await.unwrap();
    assert_eq!(failed["outcome"], "failed", "{failed}");
    assert!(failed["error"].as_str().unwrap().contains("not an iCalendar file"), "{failed}");
    assert_eq!(dates(&app, &key, &import).await, stored, "a redirect to a login page neither");

    let _: Value =
        app.api(&key).send("PATCH", &path, Some(json!({"url": airbnb.url()})), 200).await.unwrap();
    airbnb.set(ics);
    airbnb.delay(std::time::Duration::from_secs(3));
    let failed = run(&app, &key, &import).await.unwrap();
    assert_eq!(failed["outcome"], "failed", "{failed}");
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("did not answer within 1s"), "{error}");
    assert!(!error.contains("secret-token"), "the feed's token is never shown: {error}");
    assert_eq!(dates(&app, &key, &import).await, stored, "a feed that stops answering neither");
    app.stop().await;
}

/// A hand-made platform export of `tests/fixtures/ics-hand`, moved from 2026 to 2027 so that
/// it lies ahead.
fn ahead(file: &str) -> String {
    let path = format!("{}/tests/fixtures/ics-hand/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap().replace("VALUE=DATE:2026", "VALUE=DATE:2027")
}

/// Each stored item of an import of `platform` serving `body`, by start date:
/// (start date, kind, details).
async fn imported_details(
    app: &TestApp,
    key: &str,
    platform: &str,
    body: String,
) -> Vec<(String, String, Value)> {
    let room = resource(app, key).await;
    let feed = Platform::start(body).await;
    let created = json!({"resource_id": room, "platform": platform, "url": feed.url()});
    let import: Value =
        app.api(key).send("POST", "/api/v1/imports", Some(created), 201).await.unwrap();
    let import = import["id"].as_str().unwrap().to_owned();
    let done = run(app, key, &import).await.unwrap();
    assert_eq!(done["outcome"], "ok", "{done}");
    let mut found: Vec<_> = items(app, key, &import)
        .await
        .into_iter()
        .map(|i| {
            let text = |f: &str| i[f].as_str().unwrap_or_default().to_owned();
            (text("start_date"), text("kind"), i["details"].clone())
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

async fn booking_com_and_vrbo_reservations_are_listed_with_their_numbers_links_and_guests(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let booking_com = ahead("booking_com_reservation_numbers.ics");
    let found = imported_details(&app, &key, "booking_com", booking_com).await;
    let expected = [
        ("2027-03-02", "reservation", json!({"reservation_code": "4012345678"})),
        ("2027-03-04", "reservation", json!({"reservation_code": "4098765432"})),
        ("2027-03-10", "block", json!({})),
        ("2027-03-20", "reservation", json!({"reservation_code": "4055501234", "guests": 3})),
    ];
    let expected: Vec<_> =
        expected.into_iter().map(|(d, k, v)| (d.to_owned(), k.to_owned(), v)).collect();
    assert_eq!(found, expected, "a reservation's nights are one stay, with its number");

    let vrbo = imported_details(&app, &key, "vrbo", ahead("vrbo_reservation_ids.ics")).await;
    assert_eq!(vrbo.len(), 3, "{vrbo:?}");
    assert_eq!(
        vrbo[0].2,
        json!({"reservation_code": "HA-ABC123", "guests": 2,
            "reservation_url": "https://www.vrbo.com/traveler/reservations/HA-ABC123"})
    );
    assert_eq!(vrbo[1].2, json!({"reservation_code": "HA-XYZ789"}), "a foreign link is not kept");
    assert_eq!((vrbo[2].1.as_str(), &vrbo[2].2), ("block", &json!({})));
    app.stop().await;
}

on_both_databases!(
    a_rule_conflict_a_kept_reservation_caused_resolves_when_the_owner_confirms_it_gone,
    a_feed_that_answers_a_login_page_redirects_to_one_or_stops_answering_fails_and_removes_nothing,
    booking_com_and_vrbo_reservations_are_listed_with_their_numbers_links_and_guests,
    an_airbnb_reservation_is_listed_and_shown_on_the_timeline_with_its_code_link_and_phone_digits,
    every_reading_setting_out_of_range_is_its_own_field_error_and_nothing_is_saved,
    a_changed_setting_reads_the_last_body_again_at_once_without_a_fetch,
    a_feed_that_goes_empty_is_held_and_the_next_full_feed_releases_it,
    a_half_empty_feed_is_held_until_the_owner_accepts_the_removal_in_the_console,
    an_item_gone_from_a_keeping_feed_stays_marked_until_the_owner_confirms,
    the_items_list_pages_and_keeps_to_the_window_asked,
);
