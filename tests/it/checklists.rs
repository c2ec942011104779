//! Manual update checklists: sequences of changes to a resource's nights (bookings created,
//! moved, cancelled before and after the close was done, overlapping, a block, an OTA
//! reservation imported from the sandbox's export) against the checklist each listing must
//! show; reminders of overdue items through the SMTP test server; the listing API's checks.

use std::time::Duration;

use chrono::Utc;
use kalends::api::ListOut;
use kalends::api::checklists::{ChecklistItemOut, ListingOut};
use kalends_core::Config;
use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::console::signed_in;
use crate::helpers::{Api, Db, TestApp, fields, on_both_databases};
use crate::smtp_sink::SmtpSink;

/// A resource with an Agoda listing kept by hand and an Airbnb one kept by iCal.
async fn listed_room(api: &Api<'_>) -> (Uuid, ListingOut) {
    let room: Value =
        api.send("POST", "/api/v1/resources", Some(json!({"name": "Loft"})), 201).await.unwrap();
    let id: Uuid = room["id"].as_str().unwrap().parse().unwrap();
    let path = format!("/api/v1/resources/{id}/listings");
    let agoda = json!({"platform": "agoda", "mode": "manual", "room": "Deluxe Loft"});
    let agoda: ListingOut = api.send("POST", &path, Some(agoda), 201).await.unwrap();
    let airbnb = json!({"platform": "airbnb", "mode": "ical"});
    api.send::<ListingOut>("POST", &path, Some(airbnb), 201).await.unwrap();
    (id, agoda)
}

/// An app whose tenant has a [`listed_room`]: the app, the tenant's API key, the room and its
/// Agoda listing.
async fn app_with_listed_room(db: Db) -> (TestApp, String, Uuid, ListingOut) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let (room, agoda) = listed_room(&app.api(&key)).await;
    (app, key, room, agoda)
}

/// A [`listed_room`] of a new tenant of `app` whose alerts go to ops@example.com: the tenant's
/// API key and the room.
async fn alerted_room(app: &TestApp) -> (String, Uuid) {
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let emails = json!({"alert_emails": ["ops@example.com"]});
    api.send::<Value>("PATCH", "/api/v1/settings", Some(emails), 200).await.unwrap();
    let (room, _) = listed_room(&api).await;
    (key, room)
}

/// A stay of `room` in March 2030, nights `from` to `to` (check-out day).
fn stay(room: Uuid, title: &str, from: u32, to: u32) -> Value {
    json!({
        "title": title,
        "resource_id": room,
        "start_date": format!("2030-03-{from:02}"),
        "end_date": format!("2030-03-{to:02}"),
    })
}

async fn book(api: &Api<'_>, room: Uuid, from: u32, to: u32) -> Uuid {
    let booking: Value = api
        .send("POST", "/api/v1/bookings", Some(stay(room, "Stay", from, to)), 201)
        .await
        .unwrap();
    booking["id"].as_str().unwrap().parse().unwrap()
}

/// Books `room` for 12–15 March and waits for its checklist: the booking and its pending item.
async fn booked_with_item(app: &TestApp, api: &Api<'_>, room: Uuid) -> (Uuid, ChecklistItemOut) {
    let booking = book(api, room, 12, 15).await;
    app.settle().await;
    (booking, items(api, "status=pending").await.remove(0))
}

async fn items(api: &Api<'_>, query: &str) -> Vec<ChecklistItemOut> {
    let path = format!("/api/v1/checklist-items?{query}");
    let page: ListOut<ChecklistItemOut> = api.send("GET", &path, None, 200).await.unwrap();
    page.items
}

/// The pending items as `(action, first night, check-out day)`, in date order.
async fn pending(api: &Api<'_>, platform: &str) -> Vec<(String, String, String)> {
    let mut list: Vec<_> = items(api, &format!("status=pending&platform={platform}"))
        .await
        .into_iter()
        .map(|i| (i.action, i.start_date.to_string(), i.end_date.to_string()))
        .collect();
    list.sort_by(|a, b| a.1.cmp(&b.1));
    list
}

fn nights(action: &str, from: &str, to: &str) -> (String, String, String) {
    (action.into(), from.into(), to.into())
}

async fn mark_done(api: &Api<'_>, id: Uuid) {
    let path = format!("/api/v1/checklist-items/{id}/done");
    api.send::<ChecklistItemOut>("POST", &path, Some(json!({})), 200).await.unwrap();
}

async fn a_booking_moved_twice_then_cancelled_leaves_one_item_then_nothing(db: Db) {
    let (app, key, room, agoda) = app_with_listed_room(db).await;
    let api = app.api(&key);
    app.settle().await;
    let booking = book(&api, room, 12, 15).await;
    app.settle().await;
    let created = items(&api, "status=pending").await;
    assert_eq!(created.len(), 1, "only the manual listing has a checklist");
    let item = &created[0];
    assert_eq!((item.listing_id, item.platform.as_str()), (agoda.id, "agoda"));
    assert_eq!((item.booking_id, item.trigger.as_str()), (Some(booking), "booking_saved"));
    assert_eq!(
        item.text,
        "close 3 nights, 12–15 Mar 2030 (the 12th, 13th and 14th); check-out on the 15th"
    );
    assert!(item.due_at > Utc::now(), "due soon, not already late");
    // Moved twice before anyone acted: one close, for the nights it holds now.
    let path = format!("/api/v1/bookings/{booking}");
    let moved = json!({"start_date": "2030-03-20", "end_date": "2030-03-22"});
    api.send::<Value>("PATCH", &path, Some(moved), 200).await.unwrap();
    let moved = json!({"start_date": "2030-03-25", "end_date": "2030-03-27"});
    api.send::<Value>("PATCH", &path, Some(moved), 200).await.unwrap();
    app.settle().await;
    assert_eq!(pending(&api, "agoda").await, [nights("close", "2030-03-25", "2030-03-27")]);
    // Cancelled before the close was done: nothing to close, nothing to open.
    api.cancel_booking(booking).await.unwrap();
    app.settle().await;
    assert_eq!(pending(&api, "agoda").await, []);
    let superseded = items(&api, "status=superseded").await;
    assert!(superseded.iter().any(|i| i.id == item.id), "the first close gave way");
    app.stop().await;
}

async fn a_booking_moved_off_its_property_asks_to_reopen_the_nights_it_closed(db: Db) {
    let (app, key, room, _) = app_with_listed_room(db).await;
    let api = app.api(&key);
    let ann: Value =
        api.send("POST", "/api/v1/staff", Some(json!({"name": "Ann Lee"})), 201).await.unwrap();
    let mut body = stay(room, "Massage and stay", 12, 15);
    body["staff_ids"] = json!([ann["id"]]);
    let booking: Value = api.send("POST", "/api/v1/bookings", Some(body), 201).await.unwrap();
    app.settle().await;
    for item in items(&api, "status=pending").await {
        mark_done(&api, item.id).await;
    }
    app.settle().await;
    // The booking stays (with its staff member) but leaves the room: Agoda must reopen it.
    let path = format!("/api/v1/bookings/{}", booking["id"].as_str().unwrap());
    api.send::<Value>("PATCH", &path, Some(json!({"resource_id": null})), 200).await.unwrap();
    app.settle().await;
    assert_eq!(pending(&api, "agoda").await, [nights("open", "2030-03-12", "2030-03-15")]);
    app.stop().await;
}

async fn a_cancellation_after_the_close_reopens_only_nights_nothing_else_holds(db: Db) {
    let (app, key, room, _) = app_with_listed_room(db).await;
    let api = app.api(&key);
    let first = book(&api, room, 12, 15).await;
    book(&api, room, 14, 17).await;
    app.settle().await;
    // Overlapping stays: each night is closed once, for the booking that took it first.
    let both = pending(&api, "agoda").await;
    assert_eq!(
        both,
        [nights("close", "2030-03-12", "2030-03-15"), nights("close", "2030-03-15", "2030-03-17")]
    );
    for item in items(&api, "status=pending").await {
        mark_done(&api, item.id).await;
    }
    app.settle().await;
    assert_eq!(pending(&api, "agoda").await, []);
    // The first stay is cancelled: the 14th is still the second stay's.
    api.cancel_booking(first).await.unwrap();
    app.settle().await;
    assert_eq!(pending(&api, "agoda").await, [nights("open", "2030-03-12", "2030-03-14")]);
    // A block over the 12th: only the 13th is to open now.
    let block = json!({"resource_id": room, "start_date": "2030-03-12", "end_date": "2030-03-13"});
    let block: Value = api.send("POST", "/api/v1/blocks", Some(block), 201).await.unwrap();
    app.settle().await;
    assert_eq!(pending(&api, "agoda").await, [nights("open", "2030-03-13", "2030-03-14")]);
    // The block goes again: the 12th is to open as well.
    let path = format!("/api/v1/blocks/{}", block["id"].as_str().unwrap());
    api.send::<()>("DELETE", &path, None, 204).await.unwrap();
    app.settle().await;
    assert_eq!(pending(&api, "agoda").await, [nights("open", "2030-03-12", "2030-03-14")]);
    app.stop().await;
}

async fn an_airbnb_reservation_from_its_export_asks_the_other_platforms_to_close(db: Db) {
    let app =
        TestApp::start_public_with(db, |config| config.import.allow_private_networks = true).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let (room, _) = listed_room(&api).await;
    // Airbnb kept by hand too: its own reservation needs no close there.
    let path = format!("/api/v1/resources/{room}/listings");
    let listings: ListOut<ListingOut> = api.send("GET", &path, None, 200).await.unwrap();
    let airbnb = listings.items.iter().find(|l| l.platform == "airbnb").unwrap();
    let manual = json!({"mode": "manual"});
    let listing_path = format!("{path}/{}", airbnb.id);
    api.send::<ListingOut>("PATCH", &listing_path, Some(manual), 200).await.unwrap();
    // The listings' own refreshes are done before the feed brings anything.
    app.settle().await;
    let url = app.url("/sandbox/ota/airbnb/loft.ics");
    let body = json!({"resource_id": room, "platform": "airbnb", "url": url});
    let import: Value = api.send("POST", "/api/v1/imports", Some(body), 201).await.unwrap();
    let run = format!("/api/v1/imports/{}/run", import["id"].as_str().unwrap());
    // The sandbox's export counts its days from today in UTC, whatever the tenant's zone.
    let today = Utc::now().date_naive();
    api.send::<Value>("POST", &run, None, 200).await.unwrap();
    app.settle().await;
    let day = |n: i64| (today + chrono::Duration::days(n)).to_string();
    // The sandbox's export: a reservation in 4 to 7 days, a block in 20 to 23.
    assert_eq!(
        pending(&api, "agoda").await,
        [nights("close", &day(4), &day(7)), nights("close", &day(20), &day(23))]
    );
    assert_eq!(pending(&api, "airbnb").await, [], "Airbnb closed its own nights");
    let triggers: Vec<String> =
        items(&api, "platform=agoda").await.into_iter().map(|i| i.trigger).collect();
    assert_eq!(triggers, ["feed_import", "feed_import"]);
    // The import goes: nothing is left to close, and Airbnb's own nights are to be checked open.
    let path = format!("/api/v1/imports/{}", import["id"].as_str().unwrap());
    api.send::<()>("DELETE", &path, None, 204).await.unwrap();
    app.settle().await;
    assert_eq!(pending(&api, "agoda").await, []);
    assert_eq!(
        pending(&api, "airbnb").await,
        [nights("verify", &day(4), &day(7)), nights("verify", &day(20), &day(23))]
    );
    app.stop().await;
}

async fn listings_and_items_refuse_what_they_cannot_be(db: Db) {
    let (app, key, room, agoda) = app_with_listed_room(db).await;
    let api = app.api(&key);
    let path = format!("/api/v1/resources/{room}/listings");
    let bad = json!({"platform": "hotels_com", "room": ""});
    let problem = api.send::<ListingOut>("POST", &path, Some(bad), 201).await.unwrap_err();
    assert_eq!(fields(&problem), ["platform", "mode"]);
    let nowhere = format!("/api/v1/resources/{}/listings", Uuid::now_v7());
    let body = json!({"platform": "agoda", "mode": "manual"});
    let problem = api.send::<ListingOut>("POST", &nowhere, Some(body), 201).await.unwrap_err();
    assert_eq!(problem.status, 404);
    let problem = api.send::<Value>("GET", "/api/v1/checklist-items?status=late", None, 200);
    assert_eq!(fields(&problem.await.unwrap_err()), ["status"]);
    book(&api, room, 12, 15).await;
    app.settle().await;
    let item = items(&api, "status=pending").await.remove(0);
    let done_path = format!("/api/v1/checklist-items/{}/done", item.id);
    let done: ChecklistItemOut =
        api.send("POST", &done_path, Some(json!({"note": "closed in YCS"})), 200).await.unwrap();
    assert_eq!(
        (done.status.as_str(), done.done_by.as_deref(), done.note.as_deref()),
        ("done", Some("api"), Some("closed in YCS"))
    );
    let again = api.send::<ChecklistItemOut>("POST", &done_path, Some(json!({})), 200).await;
    assert_eq!(fields(&again.unwrap_err()), ["status"]);
    let reopen = format!("/api/v1/checklist-items/{}/reopen", item.id);
    // A bare POST, no body: the note is optional, and so is the body that carries it.
    let reopened: ChecklistItemOut = api.send("POST", &reopen, None, 200).await.unwrap();
    assert_eq!((reopened.status.as_str(), reopened.done_at), ("pending", None));
    app.settle().await;
    assert_eq!(pending(&api, "agoda").await.len(), 1, "the reopened item is the one to do");
    let skip = format!("/api/v1/checklist-items/{}/skip", item.id);
    let body = json!({"note": "sold out there anyway"});
    let skipped: ChecklistItemOut = api.send("POST", &skip, Some(body), 200).await.unwrap();
    assert_eq!(skipped.status, "skipped");
    app.settle().await;
    assert_eq!(pending(&api, "agoda").await, [], "a skipped item is not asked again");
    // A listing no longer kept by hand owes nothing.
    let listing_path = format!("{path}/{}", agoda.id);
    api.send::<()>("DELETE", &listing_path, None, 204).await.unwrap();
    assert_eq!(items(&api, "").await.len(), 0, "its checklist went with it");
    app.stop().await;
}

/// The subjects of the e-mails the sink got.
fn subjects(sink: &SmtpSink) -> Vec<String> {
    sink.messages()
        .into_iter()
        .map(|m| {
            m.text()
                .lines()
                .find_map(|l| l.strip_prefix("Subject: ").map(str::to_owned))
                .unwrap_or_default()
        })
        .collect()
}

fn reminding(config: &mut Config, sink: &SmtpSink) {
    config.smtp_url = Some(SecretString::from(sink.url()));
    // One second stands for the two hours an item may wait, two for the quiet period.
    config.checklists.due_after_secs = 1;
    config.checklists.urgent_due_secs = 1;
    config.alerts.quiet_period_secs = 2;
    config.alerts.digest_window_secs = 0;
}

async fn overdue_items_are_emailed_per_platform_once_per_quiet_period(db: Db) {
    let sink = SmtpSink::start().await;
    let app = TestApp::start_public_with(db, |config| reminding(config, &sink)).await;
    let (key, room) = alerted_room(&app).await;
    let api = app.api(&key);
    book(&api, room, 12, 15).await;
    app.settle().await;
    assert_eq!(subjects(&sink), ["Kalends alert: Agoda checklist overdue: 1 item"]);
    let text = sink.messages()[0].text();
    assert!(
        text.contains("/dashboard/checklists") && text.contains("Loft: close 3 nights, 12"),
        "{text}"
    );
    // Another item overdue within the quiet period: told at its end, with the first one.
    book(&api, room, 20, 22).await;
    app.settle().await;
    assert_eq!(
        subjects(&sink),
        [
            "Kalends alert: Agoda checklist overdue: 1 item",
            "Kalends alert: Agoda checklist overdue: 2 items"
        ]
    );
    // Done items are told of no more.
    for item in items(&api, "status=pending").await {
        mark_done(&api, item.id).await;
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    book(&api, room, 24, 25).await;
    app.settle().await;
    let last = sink.messages().pop().unwrap();
    assert!(last.text().contains("overdue: 1 item"), "{}", last.text());
    app.stop().await;
}

async fn a_close_is_done_with_one_tap_and_a_skip_needs_its_reason_in_the_console(db: Db) {
    let app = TestApp::start_public(db).await;
    let (browser, key, csrf) = signed_in(&app).await;
    let api = app.api(&key);
    let (room, _) = listed_room(&api).await;
    book(&api, room, 12, 15).await;
    book(&api, room, 20, 22).await;
    // Every Friday and Saturday of a month: one bulk edit with a day mask.
    for (from, to) in [(1, 3), (8, 10), (15, 17)] {
        let weekend = json!({"resource_id": room, "start_date": format!("2030-11-{from:02}"),
            "end_date": format!("2030-11-{to:02}")});
        api.send::<Value>("POST", "/api/v1/blocks", Some(weekend), 201).await.unwrap();
    }
    app.settle().await;
    let list = browser.get("/dashboard/checklists").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("Agoda") && list.body.contains("Deluxe Loft"), "{}", list.body);
    assert!(list.body.contains("close 3 nights, 12–15 Mar 2030 (the 12th, 13th and 14th)"));
    assert!(list.body.contains("YCS: Calendar"), "the platform's steps are there");
    assert!(list.body.contains("aria-current=\"page\">Checklists"), "it is in the navigation");
    let pending = items(&api, "status=pending").await;
    assert_eq!(pending.len(), 5);
    let first = pending.iter().find(|i| i.start_date.to_string() == "2030-03-12").unwrap();
    let path = format!("/dashboard/checklists/{}/done", first.id);
    let done = browser.post(&path, &[("csrf", &csrf)]).await;
    assert_eq!((done.status, done.location()), (303, "/dashboard/checklists?notice=item-done"));
    let item: ChecklistItemOut = api
        .send("GET", "/api/v1/checklist-items?status=done", None, 200)
        .await
        .map(|page: ListOut<ChecklistItemOut>| page.items.into_iter().next().unwrap())
        .unwrap();
    assert_eq!((item.id, item.done_by.as_deref()), (first.id, Some("console")));
    // A skip without a reason comes back with the error in place.
    let second = pending.iter().find(|i| i.start_date.to_string() == "2030-03-20").unwrap();
    let path = format!("/dashboard/checklists/{}/skip", second.id);
    let refused = browser.post(&path, &[("csrf", &csrf), ("note", "  ")]).await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("say why it is not needed"), "{}", refused.body);
    let skipped = browser.post(&path, &[("csrf", &csrf), ("note", "room sold out there")]).await;
    assert_eq!(skipped.status, 303);
    let forged = browser.post(&path, &[("csrf", "forged"), ("note", "x")]).await;
    assert_ne!(forged.status, 303, "a post needs the session's token");
    // The bulk view: the three weekends are one range with a Friday-Saturday mask.
    let bulk = browser.get("/dashboard/checklists/bulk?platform=agoda").await;
    assert!(bulk.body.contains("3 pending items as 1 bulk edits"), "{}", bulk.body);
    assert!(bulk.body.contains("Fri Sat"), "{}", bulk.body);
    let csv = browser.get("/dashboard/checklists/export.csv?platform=agoda").await;
    assert_eq!(
        csv.body,
        "Room Type,Start Date,End Date,Days,Close Out\r\nDeluxe Loft,2030-11-01,2030-11-16,Fri Sat,Y\r\n"
    );
    // A listing added from the console; a bad one keeps what was typed.
    let room_id = room.to_string();
    let bad = browser
        .post(
            "/dashboard/checklists/listings",
            &[
                ("csrf", &csrf),
                ("resource_id", &room_id),
                ("platform", "orbitz"),
                ("mode", "manual"),
                ("room", "Loft 2"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("value=\"Loft 2\""), "what was typed is kept");
    let added = browser
        .post(
            "/dashboard/checklists/listings",
            &[
                ("csrf", &csrf),
                ("resource_id", &room_id),
                ("platform", "expedia"),
                ("mode", "manual"),
            ],
        )
        .await;
    assert_eq!(added.status, 303);
    app.settle().await;
    assert_eq!(pending_of(&api, "expedia").await, 5, "the new listing needs every busy night");
    let figures = browser.get("/dashboard/checklists").await;
    assert!(figures.body.contains("Last 30 days"), "{}", figures.body);
    app.stop().await;
}

async fn pending_of(api: &Api<'_>, platform: &str) -> usize {
    pending(api, platform).await.len()
}

async fn an_overdue_item_is_reminded_again_as_check_in_approaches(db: Db) {
    let sink = SmtpSink::start().await;
    // A stay from tomorrow: its check-in is the start of tomorrow in the tenant's zone. The one
    // reminder step falls fifteen seconds from now (time for the app to start and the booking to
    // be written first, even on a loaded machine); the quiet period is one second.
    let zone = chrono_tz::Europe::Amsterdam;
    let tomorrow = Utc::now().with_timezone(&zone).date_naive() + chrono::Duration::days(1);
    let check_in = tomorrow.and_hms_opt(0, 0, 0).unwrap().and_local_timezone(zone).unwrap();
    let step = (check_in.with_timezone(&Utc) - Utc::now()).num_seconds() - 15;
    let app = TestApp::start_public_with(db, |config| {
        reminding(config, &sink);
        config.alerts.quiet_period_secs = 1;
        config.checklists.reminder_steps_secs = vec![u64::try_from(step).unwrap()];
    })
    .await;
    let (key, room) = alerted_room(&app).await;
    let api = app.api(&key);
    let stay = json!({"title": "Late", "resource_id": room, "start_date": tomorrow.to_string(),
        "end_date": (tomorrow + chrono::Duration::days(2)).to_string()});
    api.send::<Value>("POST", "/api/v1/bookings", Some(stay), 201).await.unwrap();
    app.settle().await;
    let subjects = subjects(&sink);
    assert_eq!(subjects.len(), 2, "overdue, then again at the step: {subjects:?}");
    let last = sink.messages().pop().unwrap().text();
    assert!(last.contains("check-in is near"), "{last}");
    app.stop().await;
}

/// The host skips Agoda's close of a booking's nights (Agoda closed them itself); the booking
/// is cancelled and a later one takes the same nights: Agoda must be asked to close them.
async fn a_skip_answers_its_booking_and_a_later_booking_of_those_nights_is_asked_for(db: Db) {
    let (app, key, room, _) = app_with_listed_room(db).await;
    let api = app.api(&key);
    let (first, item) = booked_with_item(&app, &api, room).await;
    let skip = format!("/api/v1/checklist-items/{}/skip", item.id);
    let body = json!({"note": "Agoda closed them itself"});
    api.send::<ChecklistItemOut>("POST", &skip, Some(body), 200).await.unwrap();
    api.cancel_booking(first).await.unwrap();
    app.settle().await;
    let second = book(&api, room, 12, 15).await;
    app.settle().await;
    let asked = items(&api, "status=pending").await;
    let asked: Vec<_> = asked.iter().map(|i| (i.action.as_str(), i.booking_id)).collect();
    assert_eq!(asked, [("close", Some(second))], "the skip answered the first booking only");
    app.stop().await;
}

/// A host closes the nights on the extranet while the booking moves: the close they did was
/// superseded meanwhile, and marking it done still records that the platform has those nights
/// closed, so they are asked to be opened again.
async fn a_close_done_while_its_booking_moved_is_recorded_and_its_nights_reopened(db: Db) {
    let (app, key, room, _) = app_with_listed_room(db).await;
    let api = app.api(&key);
    let (booking, item) = booked_with_item(&app, &api, room).await;
    let moved = json!({"start_date": "2030-03-20", "end_date": "2030-03-22"});
    let path = format!("/api/v1/bookings/{booking}");
    api.send::<Value>("PATCH", &path, Some(moved), 200).await.unwrap();
    app.settle().await;
    mark_done(&api, item.id).await;
    app.settle().await;
    assert_eq!(
        pending(&api, "agoda").await,
        [nights("open", "2030-03-12", "2030-03-15"), nights("close", "2030-03-20", "2030-03-22")]
    );
    app.stop().await;
}

/// An item marked done by mistake before it was due, and opened again after, is reminded of
/// like a new one.
async fn a_reopened_item_is_reminded_of_again(db: Db) {
    let sink = SmtpSink::start().await;
    let app = TestApp::start_public_with(db, |config| {
        reminding(config, &sink);
        config.checklists.due_after_secs = 3;
        config.checklists.urgent_due_secs = 3;
    })
    .await;
    let (key, room) = alerted_room(&app).await;
    let api = app.api(&key);
    book(&api, room, 12, 15).await;
    let item = crate::helpers::eventually(Duration::from_secs(10), || async {
        items(&api, "status=pending").await.pop()
    })
    .await;
    mark_done(&api, item.id).await;
    app.settle().await;
    assert_eq!(subjects(&sink), Vec::<String>::new(), "done before it was due");
    let reopen = format!("/api/v1/checklist-items/{}/reopen", item.id);
    api.send::<ChecklistItemOut>("POST", &reopen, None, 200).await.unwrap();
    app.settle().await;
    assert_eq!(subjects(&sink), ["Kalends alert: Agoda checklist overdue: 1 item"]);
    app.stop().await;
}

on_both_databases!(
    a_booking_moved_off_its_property_asks_to_reopen_the_nights_it_closed,
    an_overdue_item_is_reminded_again_as_check_in_approaches,
    a_close_is_done_with_one_tap_and_a_skip_needs_its_reason_in_the_console,
    a_booking_moved_twice_then_cancelled_leaves_one_item_then_nothing,
    a_cancellation_after_the_close_reopens_only_nights_nothing_else_holds,
    an_airbnb_reservation_from_its_export_asks_the_other_platforms_to_close,
    listings_and_items_refuse_what_they_cannot_be,
    overdue_items_are_emailed_per_platform_once_per_quiet_period,
    a_skip_answers_its_booking_and_a_later_booking_of_those_nights_is_asked_for,
    a_close_done_while_its_booking_moved_is_recorded_and_its_nights_reopened,
    a_reopened_item_is_reminded_of_again,
);
