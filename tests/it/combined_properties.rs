//! Combined properties: a house rented whole or by its rooms. A resource names its house in
//! `parent_id` (one level, field errors otherwise, a house with rooms cannot be deleted), and
//! busy time is shared within the family (the resource, its house, its rooms; never a room's
//! siblings): in the stays answer, on checked booking writes (concurrent ones too), in
//! conflicts (bookings and imported reservations), in busy feeds, in checklists and on the
//! console's timeline.

use chrono::{Duration, Utc};
use futures::future::join_all;
use kalends::api::ListOut;
use kalends::api::checklists::ChecklistItemOut;
use kalends::api::error::Problem;
use kalends::api::resources::{ResourceIn, ResourceOut, ResourcePatch};
use kalends_core::conflicts::Severity;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::console::signed_in_as;
use crate::feeds::FakePlatform;
use crate::hardening_imports::{Platform, calendar};
use crate::helpers::{Api, Db, TempDir, TestApp, config, fields, on_both_databases};

/// A house and two of its rooms.
struct House {
    house: Uuid,
    rooms: [Uuid; 2],
}

async fn resource(api: &Api<'_>, name: &str, parent_id: Option<Uuid>) -> ResourceOut {
    let body = ResourceIn {
        name: name.into(),
        time_zone: Some("UTC".into()),
        parent_id,
        ..ResourceIn::default()
    };
    api.create_resource(&body).await.unwrap()
}

async fn house(api: &Api<'_>) -> House {
    let house = resource(api, "Villa", None).await.id;
    let blue = resource(api, "Blue room", Some(house)).await.id;
    let green = resource(api, "Green room", Some(house)).await.id;
    House { house, rooms: [blue, green] }
}

/// The app, a tenant's API key and its [`house`].
async fn villa(db: Db) -> (TestApp, String, House) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let house = house(&app.api(&key)).await;
    (app, key, house)
}

fn stay(resource: Uuid, title: &str, from: &str, to: &str) -> Value {
    json!({"title": title, "resource_id": resource, "start_date": from, "end_date": to})
}

async fn book(api: &Api<'_>, body: Value, reject: bool) -> Result<Value, Problem> {
    let path = if reject { "/api/v1/bookings?reject_conflicts=true" } else { "/api/v1/bookings" };
    api.send("POST", path, Some(body), 201).await
}

fn id_of(value: &Value) -> Uuid {
    value["id"].as_str().unwrap().parse().unwrap()
}

/// The state of each night from `from` to `to` (exclusive) in the stays answer of `resource`.
async fn nights(api: &Api<'_>, resource: Uuid, from: &str, to: &str) -> Vec<String> {
    let path = format!("/api/v1/availability/stays?resource_id={resource}&from={from}&to={to}");
    let answer: Value = api.send("GET", &path, None, 200).await.unwrap();
    let nights = answer["nights"].as_array().unwrap();
    nights.iter().map(|n| n["state"].as_str().unwrap().to_owned()).collect()
}

fn parent(parent_id: Option<Uuid>) -> ResourcePatch {
    ResourcePatch { parent_id: Some(parent_id), ..ResourcePatch::default() }
}

async fn a_room_names_its_house_in_every_answer_and_null_detaches_it(db: Db) {
    let (app, key, House { house, rooms }) = villa(db).await;
    let api = app.api(&key);
    let read: ResourceOut =
        api.send("GET", &format!("/api/v1/resources/{}", rooms[0]), None, 200).await.unwrap();
    assert_eq!(read.parent_id, Some(house));
    let listed: ListOut<ResourceOut> =
        api.send("GET", "/api/v1/resources", None, 200).await.unwrap();
    let parents: Vec<_> = listed.items.iter().map(|r| r.parent_id).collect();
    assert_eq!(parents, [None, Some(house), Some(house)]);
    let renamed = ResourcePatch { name: Some("Blue suite".into()), ..ResourcePatch::default() };
    let kept = api.patch_resource(rooms[0], &renamed).await.unwrap();
    assert_eq!(kept.parent_id, Some(house), "a patch without parent_id keeps it");
    let detached = api.patch_resource(rooms[0], &parent(None)).await.unwrap();
    assert_eq!(detached.parent_id, None);
    let by_ext = json!({"name": "Garden room", "parent_id": house});
    let (status, put): (u16, ResourceOut) =
        api.exchange("PUT", "/api/v1/resources/by-external-id/garden", Some(by_ext)).await.unwrap();
    assert_eq!((status, put.parent_id), (201, Some(house)));
    app.stop().await;
}

async fn a_second_level_parent_is_refused_with_a_field_error(db: Db) {
    let (app, key, House { house, rooms }) = villa(db).await;
    let api = app.api(&key);
    let body = json!({"name": "Bunk", "parent_id": rooms[0]});
    let nested = api.send::<Value>("POST", "/api/v1/resources", Some(body), 201).await;
    let nested = nested.unwrap_err();
    assert_eq!((nested.status, fields(&nested)), (422, vec!["parent_id"]), "{nested:?}");
    let lone = resource(&api, "Cabin", None).await.id;
    let path = format!("/api/v1/resources/{house}");
    let body = json!({"parent_id": lone});
    let refused = api.send::<Value>("PATCH", &path, Some(body), 200).await.unwrap_err();
    assert_eq!((refused.status, fields(&refused)), (422, vec!["parent_id"]), "a house with rooms");
    let body = json!({"parent_id": house});
    let refused = api.send::<Value>("PATCH", &path, Some(body), 200).await.unwrap_err();
    assert_eq!((refused.status, fields(&refused)), (422, vec!["parent_id"]), "its own parent");
    let read: ResourceOut = api.send("GET", &path, None, 200).await.unwrap();
    assert_eq!(read.parent_id, None, "nothing refused was saved");
    app.stop().await;
}

async fn a_parent_unknown_or_of_another_tenant_is_a_field_error(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let (_, theirs) = app.tenant().await;
    let api = app.api(&key);
    let their_house = resource(&app.api(&theirs), "Their villa", None).await.id;
    for parent_id in [their_house, Uuid::now_v7()] {
        let body = json!({"name": "Room", "parent_id": parent_id});
        let refused = api.send::<Value>("POST", "/api/v1/resources", Some(body), 201).await;
        let refused = refused.unwrap_err();
        assert_eq!((refused.status, fields(&refused)), (422, vec!["parent_id"]), "{refused:?}");
    }
    let listed: ListOut<ResourceOut> =
        api.send("GET", "/api/v1/resources", None, 200).await.unwrap();
    assert!(listed.items.is_empty(), "nothing was created");
    app.stop().await;
}

async fn deleting_a_house_with_rooms_is_refused_with_409(db: Db) {
    let (app, key, House { house, rooms }) = villa(db).await;
    let api = app.api(&key);
    let refused = api.delete_resource(house).await.unwrap_err();
    assert_eq!(refused.status, 409, "{refused:?}");
    assert!(refused.detail.contains("detach"), "{}", refused.detail);
    api.patch_resource(rooms[0], &parent(None)).await.unwrap();
    api.delete_resource(rooms[1]).await.unwrap();
    api.delete_resource(house).await.expect("a house without rooms goes");
    app.stop().await;
}

async fn a_booking_of_the_whole_house_closes_each_room_in_the_stays_answer(db: Db) {
    let (app, key, House { house, rooms }) = villa(db).await;
    let api = app.api(&key);
    book(&api, stay(house, "Whole villa", "2030-05-02", "2030-05-04"), false).await.unwrap();
    for room in rooms {
        let states = nights(&api, room, "2030-05-01", "2030-05-05").await;
        assert_eq!(states, ["free", "booked", "booked", "free"], "room {room}");
    }
    app.stop().await;
}

async fn a_booking_of_a_room_closes_the_house_but_not_the_other_rooms(db: Db) {
    let (app, key, House { house, rooms }) = villa(db).await;
    let api = app.api(&key);
    book(&api, stay(rooms[0], "Blue", "2030-05-02", "2030-05-03"), false).await.unwrap();
    let states = nights(&api, house, "2030-05-01", "2030-05-04").await;
    assert_eq!(states, ["free", "booked", "free"]);
    let states = nights(&api, rooms[1], "2030-05-01", "2030-05-04").await;
    assert_eq!(states, ["free", "free", "free"], "a sibling room stays free");
    app.stop().await;
}

async fn reject_conflicts_refuses_a_house_booking_over_a_room_booking_and_the_reverse(db: Db) {
    let (app, key, House { house, rooms }) = villa(db).await;
    let api = app.api(&key);
    let blue = book(&api, stay(rooms[0], "Blue", "2030-06-02", "2030-06-05"), true).await.unwrap();
    let whole = stay(house, "Whole villa", "2030-06-04", "2030-06-06");
    let refused = book(&api, whole, true).await.unwrap_err();
    assert_eq!(refused.status, 409, "{refused:?}");
    assert_eq!(refused.conflicts.as_ref().unwrap()[0]["id"], blue["id"]);
    book(&api, stay(rooms[1], "Green", "2030-06-02", "2030-06-05"), true)
        .await
        .expect("another room of the house is free");
    let whole = book(&api, stay(house, "Whole villa", "2030-06-10", "2030-06-12"), true).await;
    let whole = whole.unwrap();
    let refused = book(&api, stay(rooms[1], "Green", "2030-06-11", "2030-06-13"), true).await;
    let refused = refused.unwrap_err();
    assert_eq!(refused.status, 409, "{refused:?}");
    assert_eq!(refused.conflicts.as_ref().unwrap()[0]["id"], whole["id"]);
    app.stop().await;
}

async fn concurrent_checked_bookings_of_a_house_and_its_room_save_only_one(db: Db) {
    let (app, key, House { house, rooms }) = villa(db).await;
    let api = app.api(&key);
    for day in 1..=6 {
        let (from, to) = (format!("2030-07-{:02}", day * 3), format!("2030-07-{:02}", day * 3 + 2));
        let writes = [house, rooms[0], rooms[1]]
            .map(|owner| book(&api, stay(owner, "Race", &from, &to), true));
        let results = join_all(writes).await;
        let saved = results.iter().filter(|r| r.is_ok()).count();
        let refused = results.iter().filter(|r| r.as_ref().is_err_and(|p| p.status == 409));
        let (house_saved, rooms_saved) =
            (results[0].is_ok(), results[1..].iter().any(|r| r.is_ok()));
        assert!(saved >= 1 && refused.count() == 3 - saved, "{results:?}");
        assert!(!(house_saved && rooms_saved), "the house and a room both sold: {results:?}");
    }
    app.stop().await;
}

async fn a_booking_of_the_house_over_a_booking_of_a_room_is_a_conflict_until_one_moves(db: Db) {
    let (app, key, House { house, rooms }) = villa(db).await;
    let api = app.api(&key);
    book(&api, stay(rooms[0], "Blue", "2030-08-02", "2030-08-05"), false).await.unwrap();
    book(&api, stay(rooms[1], "Green", "2030-08-03", "2030-08-04"), false).await.unwrap();
    assert!(api.conflicts("open").await.unwrap().is_empty(), "rooms do not collide");
    let whole = book(&api, stay(house, "Whole villa", "2030-08-04", "2030-08-06"), false).await;
    let whole = id_of(&whole.unwrap());
    let open = api.conflicts("open").await.unwrap();
    assert_eq!(open.len(), 1, "with the blue room only: {open:?}");
    assert_eq!(open[0].severity, Severity::High);
    assert!(open[0].items.iter().any(|i| i.id == whole), "{open:?}");
    api.cancel_booking(whole).await.unwrap();
    let resolved = api.conflict(open[0].id).await.unwrap();
    assert_eq!(resolved.resolution.as_deref(), Some("auto"));
    app.stop().await;
}

async fn app_allowing_local_feeds(db: Db) -> TestApp {
    let dir = TempDir::new();
    let mut config = config(db, &dir).await;
    config.import.allow_private_networks = true;
    TestApp::start_with(config, dir).await
}

fn in_days(n: i64) -> String {
    (Utc::now().date_naive() + Duration::days(n)).to_string()
}

async fn an_imported_reservation_of_a_room_is_a_conflict_with_a_booking_of_the_house(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let House { house, rooms } = house(&api).await;
    // The platform's reservation runs from 12 to 15 days from now.
    let whole = book(&api, stay(house, "Whole villa", &in_days(13), &in_days(14)), false).await;
    let whole = id_of(&whole.unwrap());
    let airbnb = FakePlatform::airbnb().await;
    let body = json!({"resource_id": rooms[0], "platform": "airbnb", "url": airbnb.url()});
    let import: Value = api.send("POST", "/api/v1/imports", Some(body), 201).await.unwrap();
    let path = format!("/api/v1/imports/{}/run", import["id"].as_str().unwrap());
    api.send::<Value>("POST", &path, None, 200).await.unwrap();
    let open = api.conflicts("open").await.unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    let kinds: Vec<_> = open[0].items.iter().map(|i| i.kind.as_str()).collect();
    assert!(kinds.contains(&"booking") && kinds.contains(&"feed"), "{open:?}");
    assert_eq!(open[0].severity, Severity::High);
    // Detached, the room no longer shares the house's nights.
    api.patch_resource(rooms[0], &parent(None)).await.unwrap();
    let resolved = api.conflict(open[0].id).await.unwrap();
    assert_eq!(resolved.resolution.as_deref(), Some("auto"), "{resolved:?}");
    api.patch_resource(rooms[0], &parent(Some(house))).await.unwrap();
    let open = api.conflicts("open").await.unwrap();
    assert_eq!(open.len(), 1, "attached again, the room collides again: {open:?}");
    api.cancel_booking(whole).await.unwrap();
    assert!(api.conflicts("open").await.unwrap().is_empty());
    app.stop().await;
}

/// A busy feed of `resource`; its URL.
async fn busy_feed(api: &Api<'_>, resource: Uuid) -> String {
    let body = json!({"scope": "resource", "scope_id": resource, "profile": "busy", "name": "F"});
    let feed: Value = api.send("POST", "/api/v1/feeds", Some(body), 201).await.unwrap();
    feed["url"].as_str().unwrap().to_owned()
}

async fn get_ics(app: &TestApp, url: &str) -> String {
    let path = &url[url.find("/ical/").unwrap()..];
    let response = app.http.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

async fn a_rooms_busy_feed_shows_the_houses_bookings_and_the_houses_feed_each_rooms(db: Db) {
    let (app, key, House { house, rooms }) = villa(db).await;
    let api = app.api(&key);
    let guest = json!({"name": "Ann Smith", "email": "ann@example.com"});
    let mut whole = stay(house, "Smith party", "2030-09-02", "2030-09-04");
    whole["customer"] = guest.clone();
    book(&api, whole, false).await.unwrap();
    let mut green = stay(rooms[1], "Jones", "2030-09-10", "2030-09-12");
    green["customer"] = guest;
    book(&api, green, false).await.unwrap();
    let blue_feed = get_ics(&app, &busy_feed(&api, rooms[0]).await).await;
    assert!(blue_feed.contains("DTSTART;VALUE=DATE:20300902"), "{blue_feed}");
    assert!(!blue_feed.contains("20300910"), "a sibling's booking stays out: {blue_feed}");
    for words in ["Smith", "Ann", "example.com"] {
        assert!(!blue_feed.contains(words), "no guest data in a busy feed: {blue_feed}");
    }
    let house_feed = get_ics(&app, &busy_feed(&api, house).await).await;
    assert!(house_feed.contains("DTSTART;VALUE=DATE:20300910"), "{house_feed}");
    assert!(!house_feed.contains("Jones"), "{house_feed}");
    app.stop().await;
}

async fn a_houses_platform_reservation_and_a_rooms_block_close_each_others_feeds(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let House { house, rooms } = house(&api).await;
    let block = json!({"resource_id": rooms[0], "start_date": "2030-10-01",
        "end_date": "2030-10-03", "reason": "Painting"});
    let _: Value = api.send("POST", "/api/v1/blocks", Some(block), 201).await.unwrap();
    let vrbo = Platform::start(calendar(&[
        "DTSTART;VALUE=DATE:20301105\r\nDTEND;VALUE=DATE:20301109\r\nUID:whole@vrbo.com\r\n\
         SUMMARY:Reserved - Jones\r\n"
            .to_owned(),
    ]))
    .await;
    let body = json!({"resource_id": house, "platform": "vrbo", "url": vrbo.url()});
    let import: Value = api.send("POST", "/api/v1/imports", Some(body), 201).await.unwrap();
    let path = format!("/api/v1/imports/{}/run", import["id"].as_str().unwrap());
    let run: Value = api.send("POST", &path, None, 200).await.unwrap();
    assert_eq!(run["outcome"], "ok", "{run}");

    let blue = get_ics(&app, &busy_feed(&api, rooms[0]).await).await;
    assert!(blue.contains("DTSTART;VALUE=DATE:20301105"), "the house sold on VRBO: {blue}");
    assert!(!blue.contains("Jones"), "no guest data in a busy feed: {blue}");
    let house_feed = get_ics(&app, &busy_feed(&api, house).await).await;
    assert!(house_feed.contains("DTSTART;VALUE=DATE:20301001"), "the room's block: {house_feed}");
    let green = get_ics(&app, &busy_feed(&api, rooms[1]).await).await;
    assert!(green.contains("DTSTART;VALUE=DATE:20301105"), "{green}");
    assert!(!green.contains("20301001"), "a sibling's block stays out: {green}");
    app.stop().await;
}

/// A manual Agoda listing of `resource`.
async fn agoda_listing(api: &Api<'_>, resource: Uuid) {
    let path = format!("/api/v1/resources/{resource}/listings");
    let agoda = json!({"platform": "agoda", "mode": "manual", "room": "Listing"});
    api.send::<Value>("POST", &path, Some(agoda), 201).await.unwrap();
}

/// The pending checklist items of `resource` as `(action, first night, check-out day)`.
async fn pending(api: &Api<'_>, resource: Uuid) -> Vec<(String, String, String)> {
    let path = format!("/api/v1/checklist-items?status=pending&resource_id={resource}");
    let page: ListOut<ChecklistItemOut> = api.send("GET", &path, None, 200).await.unwrap();
    let items = page.items.into_iter();
    items.map(|i| (i.action, i.start_date.to_string(), i.end_date.to_string())).collect()
}

fn close(from: &str, to: &str) -> (String, String, String) {
    ("close".into(), from.into(), to.into())
}

async fn a_change_to_a_rooms_bookings_refreshes_the_houses_checklist_and_the_reverse(db: Db) {
    let (app, key, House { house, rooms }) = villa(db).await;
    let api = app.api(&key);
    agoda_listing(&api, house).await;
    agoda_listing(&api, rooms[0]).await;
    app.settle().await;
    let blue = book(&api, stay(rooms[0], "Blue", "2030-10-02", "2030-10-04"), false).await;
    app.settle().await;
    assert_eq!(pending(&api, house).await, [close("2030-10-02", "2030-10-04")]);
    book(&api, stay(house, "Whole", "2030-10-20", "2030-10-22"), false).await.unwrap();
    app.settle().await;
    let blue_items = pending(&api, rooms[0]).await;
    assert!(blue_items.contains(&close("2030-10-20", "2030-10-22")), "{blue_items:?}");
    api.cancel_booking(id_of(&blue.unwrap())).await.unwrap();
    app.settle().await;
    assert_eq!(pending(&api, house).await, [close("2030-10-20", "2030-10-22")]);
    app.stop().await;
}

async fn the_timeline_groups_rooms_under_their_house_and_shows_the_house_booked_on_them(db: Db) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    resource(&api, "Cabin", None).await;
    let House { house, .. } = house(&api).await;
    resource(&api, "Attic room", Some(house)).await;
    let today = Utc::now().date_naive();
    let (from, to) =
        ((today + Duration::days(2)).to_string(), (today + Duration::days(3)).to_string());
    book(&api, stay(house, "Whole villa", &from, &to), false).await.unwrap();
    let (browser, _, _) = signed_in_as(&app, &key).await;
    let page = browser.get("/dashboard").await;
    assert_eq!(page.status, 200);
    let order: Vec<usize> = ["Cabin", "Villa", "Blue room", "Green room", "Attic room"]
        .iter()
        .map(|name| page.body.find(&format!("{name}<")).unwrap_or_else(|| panic!("{name}")))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "rooms follow their house: {order:?}");
    assert_eq!(page.body.matches(", a room of Villa").count(), 3, "three rooms say whose");
    let attic_row = &page.body[page.body.find("Attic room<").unwrap()..];
    let attic_row = &attic_row[..attic_row.find("</tr>").unwrap()];
    assert!(attic_row.contains("cell booking"), "the house's booking closes the room: {attic_row}");
    app.stop().await;
}

async fn the_property_form_sets_the_house_of_a_room_with_errors_in_place(db: Db) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let House { house, rooms } = house(&api).await;
    let cabin = resource(&api, "Cabin", None).await.id;
    let (browser, _, csrf) = signed_in_as(&app, &key).await;
    let list = browser.get("/dashboard/properties").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains(&format!("option value=\"{house}\"")), "a house to choose");
    assert!(!list.body.contains(&format!("option value=\"{}\"", rooms[0])), "not a room");
    let path = format!("/dashboard/properties/{cabin}");
    let room = rooms[0].to_string();
    let nested = [("csrf", csrf.as_str()), ("name", "Cabin"), ("parent_id", room.as_str())];
    let refused = browser.post(&path, &nested).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("id=\"parent_id-error\""), "{}", refused.body);
    assert!(refused.body.contains("one level only"), "{}", refused.body);
    assert!(refused.body.contains("aria-invalid=\"true\""), "{}", refused.body);
    let villa = house.to_string();
    let good = [("csrf", csrf.as_str()), ("name", "Cabin"), ("parent_id", villa.as_str())];
    let saved = browser.post(&path, &good).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let read: ResourceOut =
        api.send("GET", &format!("/api/v1/resources/{cabin}"), None, 200).await.unwrap();
    assert_eq!(read.parent_id, Some(house));
    let added = [("csrf", csrf.as_str()), ("name", "Loft"), ("parent_id", villa.as_str())];
    assert_eq!(browser.post("/dashboard/properties", &added).await.status, 303);
    let blank = [("csrf", csrf.as_str()), ("name", " "), ("parent_id", "")];
    let refused = browser.post("/dashboard/properties", &blank).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("id=\"name-error\""), "{}", refused.body);
    let listed: ListOut<ResourceOut> =
        api.send("GET", "/api/v1/resources", None, 200).await.unwrap();
    let loft = listed.items.iter().find(|r| r.name == "Loft").unwrap();
    assert_eq!(loft.parent_id, Some(house));
    app.stop().await;
}

on_both_databases!(
    a_room_names_its_house_in_every_answer_and_null_detaches_it,
    a_second_level_parent_is_refused_with_a_field_error,
    a_parent_unknown_or_of_another_tenant_is_a_field_error,
    deleting_a_house_with_rooms_is_refused_with_409,
    a_booking_of_the_whole_house_closes_each_room_in_the_stays_answer,
    a_booking_of_a_room_closes_the_house_but_not_the_other_rooms,
    reject_conflicts_refuses_a_house_booking_over_a_room_booking_and_the_reverse,
    concurrent_checked_bookings_of_a_house_and_its_room_save_only_one,
    a_booking_of_the_house_over_a_booking_of_a_room_is_a_conflict_until_one_moves,
    an_imported_reservation_of_a_room_is_a_conflict_with_a_booking_of_the_house,
    a_rooms_busy_feed_shows_the_houses_bookings_and_the_houses_feed_each_rooms,
    a_houses_platform_reservation_and_a_rooms_block_close_each_others_feeds,
    a_change_to_a_rooms_bookings_refreshes_the_houses_checklist_and_the_reverse,
    the_timeline_groups_rooms_under_their_house_and_shows_the_house_booked_on_them,
    the_property_form_sets_the_house_of_a_room_with_errors_in_place,
);

#[tokio::test]
async fn the_openapi_document_describes_parent_id_on_every_resource_body() {
    let app = TestApp::start(Db::Sqlite, false).await;
    let doc: Value =
        app.http.get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    for schema in ["ResourceIn", "ResourcePatch", "ResourceOut"] {
        let properties = &doc["components"]["schemas"][schema]["properties"];
        assert!(properties.get("parent_id").is_some(), "{schema}: {properties}");
    }
    let delete = &doc["paths"]["/api/v1/resources/{id}"]["delete"]["responses"];
    assert!(delete.get("409").is_some(), "{delete}");
    app.stop().await;
}
