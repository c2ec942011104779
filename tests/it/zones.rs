//! Time zones changed after the fact: whole days (stays, blocks, imported reservations, calendar
//! busy days) are counted from midnight in their owner's zone, so a change of that zone moves
//! every whole-day item stored for the owner, and what they overlap with is looked at again;
//! the rules counted in that zone (opening hours) judge the bookings ahead again.

use kalends::api::blocks::BlockIn;
use kalends::api::bookings::BookingIn;
use kalends::api::resources::{ResourceIn, ResourcePatch};
use kalends::api::staff::StaffIn;
use serde_json::json;
use uuid::Uuid;

use crate::hardening_imports::{
    Platform, app_allowing_local_feeds, calendar, in_days, register, reservation, resource, run,
};
use crate::helpers::{
    Api, Db, TempDir, TestApp, booking_in, config, execute_with_id, on_both_databases,
};

/// The open conflicts, as (where the items overlap) pairs of RFC 3339 instants.
async fn open_overlaps(api: &Api<'_>) -> Vec<(String, String)> {
    let conflicts = api.all_conflicts().await.unwrap();
    let open = conflicts.into_iter().filter(|c| c.status == "open");
    open.map(|c| (c.start.to_rfc3339(), c.end.to_rfc3339())).collect()
}

/// A booking of whole days, `from` to `to` (the day after the last), of `room` or else of `staff`.
fn whole_days(
    title: &str,
    room: Option<Uuid>,
    staff: Vec<Uuid>,
    from: &str,
    to: &str,
) -> BookingIn {
    BookingIn {
        resource_id: room,
        staff_ids: staff,
        start: None,
        end: None,
        time_zone: None,
        start_date: Some(from.into()),
        end_date: Some(to.into()),
        ..booking_in(title, 2)
    }
}

/// A booking from `start` to `end` (instants in UTC), of `room` or else of `staff`.
fn timed(title: &str, room: Option<Uuid>, staff: Vec<Uuid>, start: &str, end: &str) -> BookingIn {
    BookingIn {
        resource_id: room,
        staff_ids: staff,
        start: Some(start.into()),
        end: Some(end.into()),
        time_zone: Some("UTC".into()),
        ..booking_in(title, 2)
    }
}

/// A room's stay ends at midnight in the room's zone. Moving the room from UTC to New York
/// moves the stay's end four hours later, into a visit booked at 02:00 UTC that day: the
/// overlap opens. Moving it back resolves it by itself. A staff member without a zone of their
/// own counts days in the business's zone: changing that moves their whole-day block into a
/// visit the same way, and leaves the room (which has its own zone) where it was.
async fn whole_days_move_with_their_owners_time_zone_and_their_overlaps_follow(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    api.patch_settings(json!({"time_zone": "UTC"})).await.unwrap();
    let room =
        ResourceIn { name: "Loft".into(), time_zone: Some("UTC".into()), ..ResourceIn::default() };
    let room = api.create_resource(&room).await.unwrap().id;
    let stay = whole_days("Stay", Some(room), vec![], "2030-03-20", "2030-03-22");
    api.create_booking(&stay).await.unwrap();
    let visit =
        timed("Viewing", Some(room), vec![], "2030-03-22T02:00:00Z", "2030-03-22T03:00:00Z");
    api.create_booking(&visit).await.unwrap();
    app.settle().await;
    assert_eq!(open_overlaps(&api).await, [], "the stay ends at midnight UTC");

    let to_new_york = ResourcePatch {
        time_zone: Some(Some("America/New_York".into())),
        ..ResourcePatch::default()
    };
    api.patch_resource(room, &to_new_york).await.unwrap();
    app.settle().await;
    let overlap = ("2030-03-22T02:00:00+00:00".to_owned(), "2030-03-22T03:00:00+00:00".to_owned());
    assert_eq!(
        open_overlaps(&api).await,
        std::slice::from_ref(&overlap),
        "it ends at 04:00 UTC now"
    );

    let ann = StaffIn { name: "Ann".into(), ..StaffIn::default() };
    let ann = api.create_staff(&ann).await.unwrap().id;
    let block = BlockIn {
        staff_id: Some(ann),
        start_date: Some("2030-04-01".into()),
        end_date: Some("2030-04-02".into()),
        reason: Some("Training".into()),
        ..BlockIn::default()
    };
    api.create_block(&block).await.unwrap();
    let call = timed("Call", None, vec![ann], "2030-04-02T01:00:00Z", "2030-04-02T02:00:00Z");
    api.create_booking(&call).await.unwrap();
    app.settle().await;
    assert_eq!(open_overlaps(&api).await, std::slice::from_ref(&overlap));
    api.patch_settings(json!({"time_zone": "America/Chicago"})).await.unwrap();
    app.settle().await;
    let call_overlap =
        ("2030-04-02T01:00:00+00:00".to_owned(), "2030-04-02T02:00:00+00:00".to_owned());
    let mut open = open_overlaps(&api).await;
    open.sort();
    assert_eq!(open, [overlap, call_overlap.clone()], "Ann's block ends at 05:00 UTC now");

    let to_utc = ResourcePatch { time_zone: Some(Some("UTC".into())), ..ResourcePatch::default() };
    api.patch_resource(room, &to_utc).await.unwrap();
    app.settle().await;
    assert_eq!(open_overlaps(&api).await, [call_overlap], "the room's resolved itself");
    app.stop().await;
}

/// Ann (no zone of her own) has a whole-day booking counted in the business's zone. The business
/// moves from UTC to Los Angeles: the day now ends at 07:00 UTC, and a checked call at 03:00 UTC
/// that day is refused as an overlap, as it would be for a booking written after the change.
async fn a_staff_members_whole_day_moves_with_the_business_zone_and_refuses_a_checked_overlap(
    db: Db,
) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    api.patch_settings(json!({"time_zone": "UTC"})).await.unwrap();
    let ann = api.create_staff(&StaffIn { name: "Ann".into(), ..StaffIn::default() }).await;
    let ann = ann.unwrap().id;
    let day_off = whole_days("Course", None, vec![ann], "2030-04-01", "2030-04-02");
    api.create_booking(&day_off).await.unwrap();
    let call = timed("Call", None, vec![ann], "2030-04-02T03:00:00Z", "2030-04-02T04:00:00Z");
    api.patch_settings(json!({"time_zone": "America/Los_Angeles"})).await.unwrap();
    app.settle().await;
    let refused = api.create_booking_rejecting_conflicts(&call).await.unwrap_err();
    assert_eq!(refused.status, 409, "{refused:?}");
    app.stop().await;
}

/// A business in UTC with a house in Tokyo, and a room of it with no zone of its own: the room
/// is where its house is. Its stay ends at midnight in Tokyo, so the house's stay that begins
/// then is taken as back to back, not refused as an overlap; a viewing of the room at 20:00
/// UTC the evening before its stay (already its first day in Tokyo) is an overlap. When the
/// house moves to UTC, the room's days move with it and the overlap resolves itself.
async fn a_room_without_a_zone_of_its_own_counts_its_days_where_its_house_is(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    api.patch_settings(json!({"time_zone": "UTC"})).await.unwrap();
    let house = ResourceIn {
        name: "Machiya".into(),
        time_zone: Some("Asia/Tokyo".into()),
        ..ResourceIn::default()
    };
    let house = api.create_resource(&house).await.unwrap().id;
    let room =
        ResourceIn { name: "Tatami room".into(), parent_id: Some(house), ..ResourceIn::default() };
    let room = api.create_resource(&room).await.unwrap().id;
    api.create_booking(&whole_days("Stay", Some(room), vec![], "2030-03-20", "2030-03-22"))
        .await
        .unwrap();
    let viewing =
        timed("Viewing", Some(room), vec![], "2030-03-19T20:00:00Z", "2030-03-19T21:00:00Z");
    api.create_booking(&viewing).await.unwrap();
    let whole_house = whole_days("Family", Some(house), vec![], "2030-03-22", "2030-03-24");
    let taken = api.create_booking_rejecting_conflicts(&whole_house).await;
    assert!(taken.is_ok(), "back to back in Tokyo: {taken:?}");
    app.settle().await;
    let viewing_overlap =
        ("2030-03-19T20:00:00+00:00".to_owned(), "2030-03-19T21:00:00+00:00".to_owned());
    assert_eq!(open_overlaps(&api).await, [viewing_overlap], "the stay begins at 15:00 UTC");

    let to_utc = ResourcePatch { time_zone: Some(Some("UTC".into())), ..ResourcePatch::default() };
    api.patch_resource(house, &to_utc).await.unwrap();
    app.settle().await;
    assert_eq!(open_overlaps(&api).await, [], "the room's stay begins at midnight UTC now");
    app.stop().await;
}

/// An Airbnb reservation imported for a room in UTC, and a cleaner's visit booked at 01:00 UTC
/// on its check-out day. Moving the room to Chicago moves the imported stay's end to 05:00 UTC:
/// the double booking is seen, without the feed being read again.
async fn an_imported_reservation_moves_with_its_rooms_time_zone(db: Db) {
    let app = app_allowing_local_feeds(db).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let room = resource(&app, &key).await;
    let airbnb = Platform::start(calendar(&[reservation("a@airbnb.com", 10, 12)])).await;
    let import = register(&app, &key, room, &airbnb.url()).await;
    run(&app, &key, &import).await.unwrap();
    let (start, end) = (format!("{}T01:00:00Z", in_days(12)), format!("{}T02:00:00Z", in_days(12)));
    let visit = timed("Cleaning", Some(room), vec![], &start, &end);
    api.create_booking(&visit).await.unwrap();
    app.settle().await;
    assert_eq!(open_overlaps(&api).await, []);
    let fetched = airbnb.hits();

    let to_chicago = ResourcePatch {
        time_zone: Some(Some("America/Chicago".into())),
        ..ResourcePatch::default()
    };
    api.patch_resource(room, &to_chicago).await.unwrap();
    app.settle().await;
    let open = open_overlaps(&api).await;
    let (start, end) =
        (format!("{}T01:00:00+00:00", in_days(12)), format!("{}T02:00:00+00:00", in_days(12)));
    assert_eq!(open, [(start, end)], "the imported stay now ends at midnight in Chicago");
    assert_eq!(airbnb.hits(), fetched, "the feed was not fetched again");
    app.stop().await;
}

/// A feed fetched between a change of zone and the move of the whole days it owes is answered
/// anew once they moved: moving a block in place changes the calendar's version, as moving a
/// booking or an imported item does, so a subscriber holding the old `ETag` gets a 200.
async fn a_block_moved_in_place_changes_the_feeds_etag(db: Db) {
    let dir = TempDir::new();
    let mut config = config(db, &dir).await;
    config.feeds.validator_ttl_ms = 0;
    let app = TestApp::start_with(config, dir).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let ann = api.create_staff(&StaffIn { name: "Ann".into(), ..StaffIn::default() }).await;
    let ann = ann.unwrap().id;
    let block = BlockIn {
        staff_id: Some(ann),
        start_date: Some("2030-04-01".into()),
        end_date: Some("2030-04-02".into()),
        ..BlockIn::default()
    };
    api.create_block(&block).await.unwrap();
    let body = json!({"scope": "staff", "scope_id": ann, "profile": "busy", "name": "Ann"});
    let (status, feed) = app.call("POST", "/api/v1/feeds", &key, Some(body)).await;
    assert_eq!(status, 201, "{feed}");
    let url = feed["url"].as_str().unwrap();
    let path = &url[url.find("/ical/").unwrap()..];
    let first = app.http.get(app.url(path)).send().await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();

    let moved = "UPDATE blocks SET span_start = span_start WHERE reason IS NULL OR reason <> $1";
    assert_eq!(crate::hardening_lifecycle::execute(&app.store, moved, "-".into()).await, 1);
    let again = app.http.get(app.url(path)).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 200, "the version moved with the block");
    app.stop().await;
}

/// A business with more stays than the move places in one page (a thousand): every one moves,
/// the first page's and the last's, and so does the staff links' copy of their ends. Ann and the
/// room count days in the business's zone; each one-night stay is followed by a free day. The
/// business moves from UTC to New York, so each stay now ends at 05:00 UTC, into a viewing of
/// the room after the first stay and a call of Ann's after the last.
async fn a_business_with_more_stays_than_a_page_moves_every_one(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    api.patch_settings(json!({"time_zone": "UTC"})).await.unwrap();
    let room = ResourceIn { name: "Loft".into(), ..ResourceIn::default() };
    let room = api.create_resource(&room).await.unwrap().id;
    let ann = api.create_staff(&StaffIn { name: "Ann".into(), ..StaffIn::default() }).await;
    let ann = ann.unwrap().id;
    let first = chrono::NaiveDate::from_ymd_opt(2030, 1, 1).unwrap();
    let stays = 1_050;
    for i in 0..stays {
        let (from, to) = (first + chrono::Days::new(2 * i), first + chrono::Days::new(2 * i + 1));
        let stay = whole_days("Stay", Some(room), vec![ann], &from.to_string(), &to.to_string());
        api.create_booking(&stay).await.unwrap();
    }
    let after_first = format!("{}", first + chrono::Days::new(1));
    let after_last = format!("{}", first + chrono::Days::new(2 * stays - 1));
    let viewing = timed(
        "Viewing",
        Some(room),
        vec![],
        &format!("{after_first}T02:00:00Z"),
        &format!("{after_first}T03:00:00Z"),
    );
    let call = timed(
        "Call",
        None,
        vec![ann],
        &format!("{after_last}T02:00:00Z"),
        &format!("{after_last}T03:00:00Z"),
    );
    api.create_booking(&viewing).await.unwrap();
    api.create_booking(&call).await.unwrap();
    app.settle().await;
    assert_eq!(open_overlaps(&api).await, [], "every stay ends at midnight UTC");

    api.patch_settings(json!({"time_zone": "America/New_York"})).await.unwrap();
    app.settle().await;
    let mut open = open_overlaps(&api).await;
    open.sort();
    let at = |day: &str| (format!("{day}T02:00:00+00:00"), format!("{day}T03:00:00+00:00"));
    assert_eq!(open, [at(&after_first), at(&after_last)]);
    app.stop().await;
}

/// The open rule conflicts, as (rule, booking id) pairs.
async fn open_rules(api: &Api<'_>) -> Vec<(String, Uuid)> {
    let open = api.conflicts("open").await.unwrap().into_iter();
    open.filter_map(|c| Some((c.rule?, c.items.first()?.id))).collect()
}

/// Ann (no zone of her own), open from 09:00 to 12:00 on Mondays, and her massage on Monday 7
/// January 2030 at 09:30 UTC; the massage's id.
async fn massage_in_ann_s_hours(api: &Api<'_>) -> Uuid {
    let ann = api.create_staff(&StaffIn { name: "Ann".into(), ..StaffIn::default() }).await;
    let ann = ann.unwrap().id;
    let hours = json!({"weekly_hours": {"mon": [["09:00", "12:00"]]}});
    api.send::<serde_json::Value>("PUT", &format!("/api/v1/staff/{ann}/rules"), Some(hours), 200)
        .await
        .unwrap();
    let massage = timed("Massage", None, vec![ann], "2030-01-07T09:30:00Z", "2030-01-07T10:00:00Z");
    api.create_booking(&massage).await.unwrap().id
}

/// Ann (no zone of her own) opens from 09:00 to 12:00 on Mondays, counted in the business's
/// zone. An appointment at 09:30 UTC is 10:30 in Paris, inside them. The business moves to New
/// York, where it is 04:30: outside them, it is flagged as a booking written then would be;
/// moving back to Paris clears it.
async fn opening_hours_follow_the_business_zone_and_an_appointment_they_no_longer_cover_is_flagged(
    db: Db,
) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    api.patch_settings(json!({"time_zone": "Europe/Paris"})).await.unwrap();
    let massage = massage_in_ann_s_hours(&api).await;
    app.settle().await;
    assert_eq!(open_rules(&api).await, [], "10:30 in Paris is inside the hours");

    api.patch_settings(json!({"time_zone": "America/New_York"})).await.unwrap();
    app.settle().await;
    assert_eq!(open_rules(&api).await, [("weekly_hours".to_owned(), massage)], "04:30 in New York");

    api.patch_settings(json!({"time_zone": "Europe/Paris"})).await.unwrap();
    app.settle().await;
    assert_eq!(open_rules(&api).await, [], "back inside the hours");
    app.stop().await;
}

/// A room whose stored rules no longer read (written by hand out of range) is logged and passed
/// over when the business's zone changes: Ann's opening hours are judged all the same.
async fn an_owner_whose_rules_no_longer_read_does_not_keep_the_others_from_being_judged(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    api.patch_settings(json!({"time_zone": "Europe/Paris"})).await.unwrap();
    let room = ResourceIn { name: "Loft".into(), ..ResourceIn::default() };
    let room = api.create_resource(&room).await.unwrap().id;
    let broken = "UPDATE resources SET rules = '{\"turnover_days\": 99}' WHERE id = $1";
    assert_eq!(execute_with_id(&app.store, broken, room).await, 1);
    let massage = massage_in_ann_s_hours(&api).await;

    api.patch_settings(json!({"time_zone": "America/New_York"})).await.unwrap();
    app.settle().await;
    assert_eq!(open_rules(&api).await, [("weekly_hours".to_owned(), massage)], "04:30 in New York");
    app.stop().await;
}

on_both_databases!(
    an_owner_whose_rules_no_longer_read_does_not_keep_the_others_from_being_judged,
    a_block_moved_in_place_changes_the_feeds_etag,
    a_room_without_a_zone_of_its_own_counts_its_days_where_its_house_is,
    a_business_with_more_stays_than_a_page_moves_every_one,
    a_staff_members_whole_day_moves_with_the_business_zone_and_refuses_a_checked_overlap,
    whole_days_move_with_their_owners_time_zone_and_their_overlaps_follow,
    an_imported_reservation_moves_with_its_rooms_time_zone,
    opening_hours_follow_the_business_zone_and_an_appointment_they_no_longer_cover_is_flagged,
);
