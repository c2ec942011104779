//! Availability rules over the API: written and read back with field errors, applied to the
//! nights and slots offered, enforced on booking writes (422 with `?reject_conflicts=true`, a
//! conflict of kind `rule` without), and holding under concurrent writes.

use futures::future::join_all;
use kalends::api::resources::ResourceIn;
use kalends::api::staff::StaffIn;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Api, Db, TestApp, fields, on_both_databases};

async fn room(api: &Api<'_>, zone: &str) -> Uuid {
    let room =
        ResourceIn { name: "Sea view".into(), time_zone: Some(zone.into()), ..Default::default() };
    api.create_resource(&room).await.unwrap().id
}

/// A house (in UTC) and a room in it.
async fn house_with_room(api: &Api<'_>) -> (Uuid, Uuid) {
    let house = room(api, "UTC").await;
    let in_house =
        ResourceIn { name: "Room 1".into(), parent_id: Some(house), ..Default::default() };
    (house, api.create_resource(&in_house).await.unwrap().id)
}

async fn therapist(api: &Api<'_>, name: &str) -> Uuid {
    let staff =
        StaffIn { name: name.into(), time_zone: Some("Europe/Paris".into()), ..StaffIn::default() };
    api.create_staff(&staff).await.unwrap().id
}

async fn put_rules(api: &Api<'_>, path: &str, rules: Value) -> Value {
    api.send("PUT", &format!("/api/v1/{path}/rules"), Some(rules), 200).await.unwrap()
}

fn stay(room: Uuid, from: &str, to: &str) -> Value {
    json!({"title": format!("Guest {from}"), "resource_id": room, "start_date": from, "end_date": to})
}

/// The open conflicts.
async fn open_conflicts(api: &Api<'_>) -> Vec<Value> {
    let open: Value = api.send("GET", "/api/v1/conflicts?status=open", None, 200).await.unwrap();
    open["items"].as_array().unwrap().clone()
}

async fn post(
    api: &Api<'_>,
    body: Value,
    reject: bool,
) -> Result<Value, kalends::api::error::Problem> {
    let path = if reject { "/api/v1/bookings?reject_conflicts=true" } else { "/api/v1/bookings" };
    api.send("POST", path, Some(body), 201).await
}

async fn rules_are_read_back_as_written_and_an_empty_object_clears_them(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let room = room(&api, "Europe/Paris").await;
    let written = json!({
        "turnover_days": 1, "min_nights": 2, "max_nights": 14, "booking_window_days": 365,
        "min_notice_days": 1, "no_arrival_days": ["sun"], "no_departure_days": ["sat", "sun"],
        "block_short_gaps": true, "export_to_feeds": true,
    });
    assert_eq!(put_rules(&api, &format!("resources/{room}"), written.clone()).await, written);
    let read: Value =
        api.send("GET", &format!("/api/v1/resources/{room}/rules"), None, 200).await.unwrap();
    assert_eq!(read, written);
    let ann = therapist(&api, "Ann").await;
    let hours = json!({"weekly_hours": {"mon": [["09:00", "12:30"], ["13:30", "18:00"]]},
        "buffer_after_minutes": 15, "min_notice_minutes": 120});
    assert_eq!(put_rules(&api, &format!("staff/{ann}"), hours.clone()).await, hours);
    assert_eq!(put_rules(&api, &format!("resources/{room}"), json!({})).await, json!({}));
    let read: Value =
        api.send("GET", &format!("/api/v1/resources/{room}/rules"), None, 200).await.unwrap();
    assert_eq!(read, json!({}), "no rule is left");
    app.stop().await;
}

async fn rules_out_of_range_are_field_errors_and_the_old_rules_stay(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let room = room(&api, "UTC").await;
    put_rules(&api, &format!("resources/{room}"), json!({"min_nights": 3})).await;
    let bad = json!({"min_nights": 0, "turnover_days": 31, "no_arrival_days": ["sunday"],
        "weekly_hours": {"mon": [["18:00", "09:00"]]}, "buffer_before_minutes": 241});
    let path = format!("/api/v1/resources/{room}/rules");
    let problem = api.send::<Value>("PUT", &path, Some(bad), 200).await.unwrap_err();
    assert_eq!(problem.status, 422, "{problem:?}");
    let mut named = fields(&problem);
    named.sort_unstable();
    for field in ["buffer_before_minutes", "min_nights", "turnover_days"] {
        assert!(named.contains(&field), "{field} is named: {named:?}");
    }
    assert!(named.iter().any(|f| f.starts_with("no_arrival_days")), "{named:?}");
    assert!(named.iter().any(|f| f.starts_with("weekly_hours.mon")), "{named:?}");
    let unknown = api.send::<Value>("PUT", &path, Some(json!({"min_stay": 2})), 200).await;
    assert_eq!(fields(&unknown.unwrap_err()), ["min_stay"]);
    let kept: Value = api.send("GET", &path, None, 200).await.unwrap();
    assert_eq!(kept, json!({"min_nights": 3}), "nothing of the refused rules was saved");
    let nobody = format!("/api/v1/staff/{}/rules", Uuid::now_v7());
    assert_eq!(api.send::<Value>("GET", &nobody, None, 200).await.unwrap_err().status, 404);
    app.stop().await;
}

async fn stays_show_booked_turnover_and_where_a_stay_may_start_and_end(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let room = room(&api, "Europe/Paris").await;
    let rules = json!({"turnover_days": 1, "min_nights": 2, "no_arrival_days": ["sun"]});
    put_rules(&api, &format!("resources/{room}"), rules).await;
    post(&api, stay(room, "2030-01-10", "2030-01-12"), false).await.unwrap();
    let path =
        format!("/api/v1/availability/stays?resource_id={room}&from=2030-01-07&to=2030-01-15");
    let answer: Value = api.send("GET", &path, None, 200).await.unwrap();
    assert_eq!(answer["time_zone"], "Europe/Paris");
    let nights = answer["nights"].as_array().unwrap();
    let night = |date: &str| nights.iter().find(|n| n["date"] == date).unwrap().clone();
    assert_eq!(nights.len(), 8);
    assert_eq!(night("2030-01-10")["state"], "booked");
    assert_eq!(night("2030-01-11")["state"], "booked");
    assert_eq!(night("2030-01-12")["state"], "turnover", "the cleaning night after the stay");
    let seventh = night("2030-01-07");
    assert_eq!(
        (seventh["state"].clone(), seventh["can_check_in"].clone()),
        (json!("free"), json!(true))
    );
    assert_eq!(
        seventh["max_check_out"], "2030-01-09",
        "a stay from the 7th must leave the 9th free for cleaning before the booking"
    );
    assert_eq!(
        night("2030-01-08")["can_check_in"],
        false,
        "no room for two nights and the cleaning"
    );
    let eighth = night("2030-01-08");
    assert_eq!(eighth.get("max_check_out"), Some(&Value::Null), "no stay, said as null: {eighth}");
    assert_eq!(night("2030-01-09")["can_check_out"], true);
    assert_eq!(night("2030-01-13")["can_check_in"], false, "the 13th is a Sunday: no arrivals");
    assert_eq!(night("2030-01-14")["can_check_in"], true);
    let missing =
        api.send::<Value>("GET", "/api/v1/availability/stays?from=2030-01-01", None, 200).await;
    assert_eq!(fields(&missing.unwrap_err()), ["resource_id"]);
    app.stop().await;
}

async fn a_stay_breaking_a_rule_is_refused_with_422_when_asked_and_flagged_otherwise(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let room = room(&api, "UTC").await;
    put_rules(&api, &format!("resources/{room}"), json!({"min_nights": 2, "turnover_days": 1}))
        .await;
    let problem = post(&api, stay(room, "2030-02-01", "2030-02-02"), true).await.unwrap_err();
    assert_eq!(problem.status, 422, "{problem:?}");
    assert_eq!(
        (problem.rule.as_deref(), problem.limit.clone(), problem.value.clone()),
        (Some("min_nights"), Some(json!(2)), Some(json!(1)))
    );
    assert!(api.bookings("").await.unwrap().items.is_empty(), "nothing was saved");
    post(&api, stay(room, "2030-02-10", "2030-02-12"), true).await.unwrap();
    let back_to_back = post(&api, stay(room, "2030-02-12", "2030-02-14"), true).await.unwrap_err();
    assert_eq!((back_to_back.status, back_to_back.rule.as_deref()), (422, Some("turnover_days")));
    // Without the flag the booking is saved, and a conflict says which rule it breaks.
    let short = post(&api, stay(room, "2030-03-01", "2030-03-02"), false).await.unwrap();
    let open: Value = api.send("GET", "/api/v1/conflicts?status=open", None, 200).await.unwrap();
    let conflicts = open["items"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{open}");
    assert_eq!(
        (conflicts[0]["kind"].clone(), conflicts[0]["rule"].clone()),
        (json!("rule"), json!("min_nights"))
    );
    assert_eq!(conflicts[0]["severity"], "low");
    assert_eq!(conflicts[0]["items"][0]["id"], short["id"]);
    // Lengthened to two nights, it keeps the rule: the conflict resolves itself.
    let path = format!("/api/v1/bookings/{}", short["id"].as_str().unwrap());
    api.send::<Value>("PATCH", &path, Some(json!({"end_date": "2030-03-03"})), 200).await.unwrap();
    let open: Value = api.send("GET", "/api/v1/conflicts?status=open", None, 200).await.unwrap();
    assert_eq!(open["items"].as_array().unwrap().len(), 0, "{open}");
    app.stop().await;
}

/// The host blocks the day after a stay (the cleaner is away): the stay's turnover day is taken,
/// which a rule conflict says at once. Removing the block gives the turnover back, and the
/// conflict resolves. The same for a block of the whole house next to a room's stay.
async fn a_block_in_a_stays_turnover_day_opens_a_rule_conflict_and_its_removal_resolves_it(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let room = room(&api, "UTC").await;
    // A block of the whole house is the room's busy time too.
    let (house, room_2) = house_with_room(&api).await;
    for (stayed, blocked, month) in [(room, room, "2030-05"), (room_2, house, "2030-06")] {
        put_rules(&api, &format!("resources/{stayed}"), json!({"turnover_days": 1})).await;
        let day = |d: u32| format!("{month}-{d:02}");
        let guest = post(&api, stay(stayed, &day(10), &day(12)), false).await.unwrap();
        assert_eq!(open_conflicts(&api).await, Vec::<Value>::new());
        let away = kalends::api::blocks::BlockIn {
            resource_id: Some(blocked),
            start_date: Some(day(12)),
            end_date: Some(day(13)),
            reason: Some("Cleaner away".into()),
            ..Default::default()
        };
        let block = api.create_block(&away).await.unwrap();
        let flagged = open_conflicts(&api).await;
        assert_eq!(flagged.len(), 1, "{month}: {flagged:?}");
        let named = (&flagged[0]["rule"], &flagged[0]["items"][0]["id"]);
        assert_eq!(named, (&json!("turnover_days"), &guest["id"]), "{month}");
        api.delete_block(block.id).await.unwrap();
        let open = open_conflicts(&api).await;
        assert_eq!(open, Vec::<Value>::new(), "{month}: the turnover is free again");
    }
    app.stop().await;
}

/// Books a stay of `first` from the 10th to the 12th of `month`, and one of `next` from the 12th
/// to the 14th; checks that one conflict says the first stay (`first_broken`) or the next one
/// breaks the turnover rule, then cancels the other stay, or moves it away, and checks that the
/// conflict resolved.
async fn turnover_broken_then_kept(
    api: &Api<'_>,
    (first, next): (Uuid, Uuid),
    month: &str,
    first_broken: bool,
    cancelled: bool,
) {
    let day = |d: u32| format!("{month}-{d:02}");
    let mut stays = [
        post(api, stay(first, &day(10), &day(12)), false).await.unwrap(),
        post(api, stay(next, &day(12), &day(14)), false).await.unwrap(),
    ];
    if first_broken {
        stays.reverse();
    }
    let [other, broken] = stays;
    let flagged = open_conflicts(api).await;
    assert_eq!(flagged.len(), 1, "{month}: {flagged:?}");
    let named = (&flagged[0]["rule"], &flagged[0]["items"][0]["id"]);
    assert_eq!(named, (&json!("turnover_days"), &broken["id"]), "{month}");
    let path = format!("/api/v1/bookings/{}", other["id"].as_str().unwrap());
    if cancelled {
        api.send::<Value>("POST", &format!("{path}/cancel"), None, 200).await.unwrap();
    } else {
        let away = json!({"start_date": "2030-09-01", "end_date": "2030-09-03"});
        api.send::<Value>("PATCH", &path, Some(away), 200).await.unwrap();
    }
    let open = open_conflicts(api).await;
    assert_eq!(open, Vec::<Value>::new(), "{month}: the turnover is kept now");
}

/// A stay of the whole house is every room's busy time: booked into the turnover night after a
/// room's stay, it flags that stay under the room's rules at once, and its cancellation clears
/// the flag. The other way round, a room's stay booked into the turnover night after a stay of
/// the house flags the house's stay under the house's rules, until the room's stay moves away.
/// A stay moved from the room into the house, into that turnover night, flags the room's stay.
async fn a_house_stay_in_a_rooms_turnover_night_flags_the_rooms_stay_until_it_is_cancelled(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let (house, room_1) = house_with_room(&api).await;
    // (whose rules, booked first, booked next into its turnover night, month, cancelled or moved)
    let cases =
        [(room_1, room_1, house, "2030-07", true), (house, house, room_1, "2030-08", false)];
    for (ruled, first, next, month, cancelled) in cases {
        put_rules(&api, &format!("resources/{ruled}"), json!({"turnover_days": 1})).await;
        turnover_broken_then_kept(&api, (first, next), month, true, cancelled).await;
        put_rules(&api, &format!("resources/{ruled}"), json!({})).await;
    }
    // A stay moved out of the room into the house, next to the room's stay, flags it the same.
    put_rules(&api, &format!("resources/{room_1}"), json!({"turnover_days": 1})).await;
    let guest = post(&api, stay(room_1, "2030-10-10", "2030-10-12"), false).await.unwrap();
    let moved = post(&api, stay(room_1, "2030-11-01", "2030-11-03"), false).await.unwrap();
    let path = format!("/api/v1/bookings/{}", moved["id"].as_str().unwrap());
    let into_house =
        json!({"resource_id": house, "start_date": "2030-10-12", "end_date": "2030-10-14"});
    api.send::<Value>("PATCH", &path, Some(into_house), 200).await.unwrap();
    let flagged = open_conflicts(&api).await;
    assert_eq!(flagged.len(), 1, "{flagged:?}");
    let named = (&flagged[0]["rule"], &flagged[0]["items"][0]["id"]);
    assert_eq!(named, (&json!("turnover_days"), &guest["id"]));
    // An appointment in the room two days after a house stay is in its three turnover nights.
    put_rules(&api, &format!("resources/{house}"), json!({"turnover_days": 3})).await;
    let family = post(&api, stay(house, "2030-12-10", "2030-12-12"), false).await.unwrap();
    let viewing = json!({"title": "Viewing", "resource_id": room_1, "time_zone": "UTC",
        "start": "2030-12-14T10:00:00Z", "end": "2030-12-14T11:00:00Z"});
    post(&api, viewing, false).await.unwrap();
    let flagged = open_conflicts(&api).await;
    let named = flagged.iter().find(|c| c["items"][0]["id"] == family["id"]);
    assert_eq!(named.map(|c| &c["rule"]), Some(&json!("turnover_days")), "{flagged:?}");
    app.stop().await;
}

/// A stay checked in on the day another checks out breaks the room's turnover day; once that
/// other stay is cancelled, or moved away, the turnover is kept and the conflict resolves.
async fn a_rule_conflict_resolves_when_the_stay_next_to_it_is_cancelled_or_moved_away(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let room = room(&api, "UTC").await;
    put_rules(&api, &format!("resources/{room}"), json!({"turnover_days": 1})).await;
    for (month, cancelled) in [("2030-02", true), ("2030-03", false)] {
        turnover_broken_then_kept(&api, (room, room), month, false, cancelled).await;
    }
    app.stop().await;
}

/// A stay moved from a house to its room, and one reinstated after its cancellation, are new to
/// the room's day-counting rules: a checked write refuses what the unchecked one flags, for the
/// same reason.
async fn a_checked_write_refuses_what_an_unchecked_one_flags_when_a_stay_is_new_to_a_room(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let (house, room_1) = house_with_room(&api).await;
    let day = |offset: i64| {
        (chrono::Utc::now().date_naive() + chrono::Duration::days(offset)).to_string()
    };
    let open_rules = || async {
        let open: Value =
            api.send("GET", "/api/v1/conflicts?status=open", None, 200).await.unwrap();
        let items = open["items"].as_array().unwrap().clone();
        items.iter().map(|c| c["rule"].as_str().unwrap_or("").to_owned()).collect::<Vec<_>>()
    };
    // Soon, on the house (no rules): moved into the room, which wants three days' notice.
    let soon = post(&api, stay(house, &day(1), &day(3)), false).await.unwrap();
    let gone = post(&api, stay(room_1, &day(20), &day(22)), false).await.unwrap();
    api.cancel_booking(gone["id"].as_str().unwrap().parse().unwrap()).await.unwrap();
    put_rules(&api, &format!("resources/{room_1}"), json!({"min_notice_days": 30})).await;
    let path = |booking: &Value| format!("/api/v1/bookings/{}", booking["id"].as_str().unwrap());
    let checked = |booking: &Value| format!("{}?reject_conflicts=true", path(booking));

    let into_room = json!({"resource_id": room_1});
    let refused = api.send::<Value>("PATCH", &checked(&soon), Some(into_room.clone()), 200).await;
    let refused = refused.unwrap_err();
    assert_eq!((refused.status, refused.rule.as_deref()), (422, Some("min_notice_days")));
    api.send::<Value>("PATCH", &path(&soon), Some(into_room), 200).await.unwrap();
    assert_eq!(open_rules().await, ["min_notice_days"], "flagged for the same reason");

    // Reinstated inside the notice it now lacks: new to the room again.
    let back = json!({"status": "confirmed"});
    let refused = api.send::<Value>("PATCH", &checked(&gone), Some(back.clone()), 200).await;
    let refused = refused.unwrap_err();
    assert_eq!((refused.status, refused.rule.as_deref()), (422, Some("min_notice_days")));
    api.send::<Value>("PATCH", &path(&gone), Some(back), 200).await.unwrap();
    assert_eq!(open_rules().await, ["min_notice_days", "min_notice_days"]);
    app.stop().await;
}

/// A stay of the whole house booked with `?reject_conflicts=true` into the turnover night after
/// a room's stay is refused under the room's rule, naming the room's stay, and nothing is saved;
/// without the check it is saved and flags the room's stay. A house stay weeks away is taken.
/// The other way round, a room's stay checked into the turnover night after a stay of the house
/// is refused under the house's rule.
async fn a_checked_stay_is_refused_where_it_would_make_its_house_or_rooms_stay_break_a_turnover(
    db: Db,
) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let (house, room_1) = house_with_room(&api).await;
    put_rules(&api, &format!("resources/{room_1}"), json!({"turnover_days": 1})).await;
    let guest = post(&api, stay(room_1, "2030-07-10", "2030-07-12"), false).await.unwrap();
    let family = stay(house, "2030-07-12", "2030-07-14");
    let refused = post(&api, family.clone(), true).await.unwrap_err();
    assert_eq!((refused.status, refused.rule.as_deref()), (422, Some("turnover_days")));
    assert!(refused.detail.contains("\"Guest 2030-07-10\""), "{}", refused.detail);
    let listed: Value = api.send("GET", "/api/v1/bookings", None, 200).await.unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "nothing was saved");
    post(&api, family, false).await.unwrap();
    let flagged = open_conflicts(&api).await;
    assert_eq!(flagged.len(), 1, "{flagged:?}");
    assert_eq!(flagged[0]["items"][0]["id"], guest["id"], "the room's stay is flagged");
    post(&api, stay(house, "2030-08-20", "2030-08-22"), true).await.unwrap();

    put_rules(&api, &format!("resources/{room_1}"), json!({})).await;
    put_rules(&api, &format!("resources/{house}"), json!({"turnover_days": 1})).await;
    post(&api, stay(house, "2030-09-10", "2030-09-12"), false).await.unwrap();
    let refused = post(&api, stay(room_1, "2030-09-12", "2030-09-14"), true).await.unwrap_err();
    assert_eq!((refused.status, refused.rule.as_deref()), (422, Some("turnover_days")));
    app.stop().await;
}

async fn new_rules_judge_the_bookings_already_made_flagging_and_clearing_at_once(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let room = room(&api, "UTC").await;
    let short = post(&api, stay(room, "2030-03-01", "2030-03-02"), false).await.unwrap();
    post(&api, stay(room, "2030-03-10", "2030-03-14"), false).await.unwrap();
    assert!(open_conflicts(&api).await.is_empty());
    put_rules(&api, &format!("resources/{room}"), json!({"min_nights": 2})).await;
    let flagged = open_conflicts(&api).await;
    assert_eq!(flagged.len(), 1, "only the one-night stay breaks the new rule: {flagged:?}");
    assert_eq!(
        (&flagged[0]["rule"], &flagged[0]["items"][0]["id"]),
        (&json!("min_nights"), &short["id"])
    );
    put_rules(&api, &format!("resources/{room}"), json!({})).await;
    assert!(open_conflicts(&api).await.is_empty(), "rules taken away clear what they flagged");
    app.stop().await;
}

/// A guest who checked in three days ago stays two nights more, then one more. A day's notice
/// cannot judge a stay that began in the past: the longer stay is accepted with
/// `?reject_conflicts=true`, and flags nothing without it. What the rules judge is how far
/// ahead it now reaches: past the booking window, it is refused.
async fn a_stay_extended_after_check_in_is_judged_only_on_how_far_ahead_it_now_reaches(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let room = room(&api, "UTC").await;
    let day = |offset: i64| chrono::Utc::now().date_naive() + chrono::Duration::days(offset);
    let checked_in = stay(room, &day(-3).to_string(), &day(1).to_string());
    let id = post(&api, checked_in, false).await.unwrap()["id"].as_str().unwrap().to_owned();
    let rules = json!({"turnover_days": 1, "min_notice_days": 1, "booking_window_days": 30});
    put_rules(&api, &format!("resources/{room}"), rules).await;

    let checked = format!("/api/v1/bookings/{id}?reject_conflicts=true");
    let longer = json!({"end_date": day(3).to_string()});
    let extended: Value = api.send("PATCH", &checked, Some(longer), 200).await.unwrap();
    assert_eq!(extended["end_date"], json!(day(3).to_string()));
    let path = format!("/api/v1/bookings/{id}");
    api.send::<Value>("PATCH", &path, Some(json!({"end_date": day(4).to_string()})), 200)
        .await
        .unwrap();
    let open: Value = api.send("GET", "/api/v1/conflicts?status=open", None, 200).await.unwrap();
    assert_eq!(open["items"], json!([]), "the extension breaks no rule");
    let too_far = json!({"end_date": day(45).to_string()});
    let problem = api.send::<Value>("PATCH", &checked, Some(too_far), 200).await.unwrap_err();
    assert_eq!((problem.status, problem.rule.as_deref()), (422, Some("booking_window_days")));
    app.stop().await;
}

/// The front desk records a walk-in who checked in yesterday. The room's rules ask for two
/// nights at least and set no notice: the checked write takes it, as it would with no rules at
/// all. A second room asks for a notice of 0 days (no check-in before today): there the same
/// walk-in is refused as too late, and nothing is saved.
async fn a_walk_in_recorded_after_check_in_is_refused_only_where_a_notice_is_set(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let day = |offset: i64| {
        (chrono::Utc::now().date_naive() + chrono::Duration::days(offset)).to_string()
    };
    let (no_notice, same_day) = (room(&api, "UTC").await, room(&api, "UTC").await);
    put_rules(&api, &format!("resources/{no_notice}"), json!({"min_nights": 2})).await;
    put_rules(
        &api,
        &format!("resources/{same_day}"),
        json!({"min_nights": 2, "min_notice_days": 0}),
    )
    .await;

    let walk_in = post(&api, stay(no_notice, &day(-1), &day(2)), true).await.unwrap();
    assert_eq!(walk_in["start_date"], json!(day(-1)));
    let problem = post(&api, stay(same_day, &day(-1), &day(2)), true).await.unwrap_err();
    assert_eq!((problem.status, problem.rule.as_deref()), (422, Some("min_notice_days")));
    let listed: Value = api.send("GET", "/api/v1/bookings", None, 200).await.unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "the refused walk-in is not saved");
    assert!(open_conflicts(&api).await.is_empty());
    app.stop().await;
}

/// A guest who checked in two days ago moves to another room for the rest of the stay (a
/// broken shower). The move keeps the stay's dates, so the new room's day of notice does not
/// judge a check-in in the past: the move is accepted with `?reject_conflicts=true`, as it is
/// without it, where it flags nothing. The new room's other rules still judge it.
async fn a_guest_moved_to_another_room_mid_stay_is_not_judged_by_that_rooms_notice(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let (first, second) = (room(&api, "UTC").await, room(&api, "UTC").await);
    let day = |offset: i64| chrono::Utc::now().date_naive() + chrono::Duration::days(offset);
    let checked_in = stay(first, &day(-2).to_string(), &day(2).to_string());
    let id = post(&api, checked_in, false).await.unwrap()["id"].as_str().unwrap().to_owned();
    for room in [first, second] {
        let rules = json!({"min_notice_days": 1, "booking_window_days": 30});
        put_rules(&api, &format!("resources/{room}"), rules).await;
    }
    let checked = format!("/api/v1/bookings/{id}?reject_conflicts=true");
    let moved: Value =
        api.send("PATCH", &checked, Some(json!({"resource_id": second})), 200).await.unwrap();
    assert_eq!(moved["resource_id"], json!(second));
    // The same stay as a new booking does begin in the past: that is refused.
    let mut back = stay(first, &day(-2).to_string(), &day(2).to_string());
    back["title"] = moved["title"].clone();
    let put = "/api/v1/bookings/by-external-id/guest-1?reject_conflicts=true";
    let problem = api.send::<Value>("PUT", put, Some(back.clone()), 201).await.unwrap_err();
    assert_eq!((problem.status, problem.rule.as_deref()), (422, Some("min_notice_days")));
    let path = format!("/api/v1/bookings/{id}");
    api.send::<Value>("PATCH", &path, Some(json!({"external_id": "guest-1"})), 200).await.unwrap();
    let back: Value = api.send("PUT", put, Some(back), 200).await.unwrap();
    assert_eq!(back["resource_id"], json!(first), "moved back by the host's id");
    let open: Value = api.send("GET", "/api/v1/conflicts?status=open", None, 200).await.unwrap();
    assert_eq!(open["items"], json!([]), "the moves break no rule");
    put_rules(&api, &format!("resources/{second}"), json!({"max_nights": 2})).await;
    let problem = api
        .send::<Value>("PATCH", &checked, Some(json!({"resource_id": second})), 200)
        .await
        .unwrap_err();
    assert_eq!((problem.status, problem.rule.as_deref()), (422, Some("max_nights")));
    // A stay that has not begun is new to the room it moves to: that room's window judges it.
    put_rules(&api, &format!("resources/{second}"), json!({"booking_window_days": 30})).await;
    let third = room(&api, "UTC").await;
    let ahead = stay(third, &day(40).to_string(), &day(42).to_string());
    let ahead = post(&api, ahead, false).await.unwrap()["id"].as_str().unwrap().to_owned();
    let moving = format!("/api/v1/bookings/{ahead}?reject_conflicts=true");
    let problem = api
        .send::<Value>("PATCH", &moving, Some(json!({"resource_id": second})), 200)
        .await
        .unwrap_err();
    assert_eq!((problem.status, problem.rule.as_deref()), (422, Some("booking_window_days")));
    app.stop().await;
}

/// A stay six weeks ahead moves, without `?reject_conflicts`, to a room that takes bookings
/// at most 30 days ahead: it is new to that room, whose window flags it as it would have
/// refused it. Moved back, the flag goes with it: the room no longer holds the stay.
async fn a_stay_moved_to_another_room_is_flagged_by_that_rooms_window_and_cleared_when_it_leaves(
    db: Db,
) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let (free, near) = (room(&api, "UTC").await, room(&api, "UTC").await);
    put_rules(&api, &format!("resources/{near}"), json!({"booking_window_days": 30})).await;
    let day = |offset: i64| chrono::Utc::now().date_naive() + chrono::Duration::days(offset);
    let ahead = stay(free, &day(40).to_string(), &day(42).to_string());
    let id = post(&api, ahead, false).await.unwrap()["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/bookings/{id}");
    api.send::<Value>("PATCH", &path, Some(json!({"resource_id": near})), 200).await.unwrap();
    let flagged = open_conflicts(&api).await;
    assert_eq!(
        flagged.iter().map(|c| c["rule"].as_str().unwrap_or_default()).collect::<Vec<_>>(),
        ["booking_window_days"],
        "the room it moved to judges it as a new booking: {flagged:?}"
    );
    api.send::<Value>("PATCH", &path, Some(json!({"resource_id": free})), 200).await.unwrap();
    assert_eq!(
        open_conflicts(&api).await,
        Vec::<Value>::new(),
        "the room it left no longer flags it"
    );
    app.stop().await;
}

async fn slots_follow_opening_hours_bookings_and_the_buffer_and_a_booking_outside_the_hours_is_flagged(
    db: Db,
) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let ann = therapist(&api, "Ann").await;
    let rules = json!({"weekly_hours": {"mon": [["09:00", "12:00"]]}, "buffer_after_minutes": 15});
    put_rules(&api, &format!("staff/{ann}"), rules).await;
    // Monday 7 January 2030, 10:00 to 10:30 in Paris.
    let massage = json!({"title": "Massage", "staff_ids": [ann], "start": "2030-01-07T10:00:00+01:00",
        "end": "2030-01-07T10:30:00+01:00", "time_zone": "Europe/Paris"});
    post(&api, massage, false).await.unwrap();
    let path = format!(
        "/api/v1/availability/slots?staff_id={ann}&duration_minutes=30&from=2030-01-07&to=2030-01-08"
    );
    let answer: Value = api.send("GET", &path, None, 200).await.unwrap();
    let starts: Vec<&str> =
        answer["slots"].as_array().unwrap().iter().map(|s| s["start"].as_str().unwrap()).collect();
    assert_eq!(
        starts,
        ["2030-01-07T08:00:00Z", "2030-01-07T10:00:00Z", "2030-01-07T10:30:00Z"],
        "09:00 Paris, then 11:00 and 11:30: a 09:30 slot would leave no 15 minutes before the \
         massage, and 10:30 is inside the 15 minutes after it"
    );
    assert_eq!(answer["slots"][0]["staff_ids"], json!([ann]));
    assert_eq!(answer["time_zone"], "Europe/Paris");
    // Outside the opening hours a booking is refused when asked.
    let evening = json!({"title": "Late", "staff_ids": [ann], "start": "2030-01-07T19:00:00+01:00",
        "end": "2030-01-07T19:30:00+01:00", "time_zone": "Europe/Paris"});
    let problem = post(&api, evening.clone(), true).await.unwrap_err();
    assert_eq!((problem.status, problem.rule.as_deref()), (422, Some("weekly_hours")));
    // Without the flag it is saved, and a conflict names the rule it breaks.
    let late = post(&api, evening, false).await.unwrap();
    let open: Value = api.send("GET", "/api/v1/conflicts?status=open", None, 200).await.unwrap();
    let broken: Vec<&Value> =
        open["items"].as_array().unwrap().iter().map(|c| &c["rule"]).collect();
    assert_eq!(broken, [&json!("weekly_hours")], "{open}");
    assert_eq!(open["items"][0]["items"][0]["id"], late["id"]);
    let bad = "/api/v1/availability/slots?staff_id=nope&duration_minutes=3&mode=some";
    let problem = api.send::<Value>("GET", bad, None, 200).await.unwrap_err();
    let mut named = fields(&problem);
    named.sort_unstable();
    assert_eq!(named, ["duration_minutes", "mode", "staff_id"]);
    app.stop().await;
}

async fn slots_for_any_of_two_list_the_least_booked_first_and_all_needs_both_free(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let (ann, bob) = (therapist(&api, "Ann").await, therapist(&api, "Bob").await);
    let hours = json!({"weekly_hours": {"tue": [["09:00", "11:00"]]}});
    for who in [ann, bob] {
        put_rules(&api, &format!("staff/{who}"), hours.clone()).await;
    }
    // Ann has one appointment that Tuesday (8 January 2030), 09:00 to 10:00 in Paris.
    let busy = json!({"title": "Massage", "staff_ids": [ann], "start": "2030-01-08T09:00:00+01:00",
        "end": "2030-01-08T10:00:00+01:00", "time_zone": "Europe/Paris"});
    post(&api, busy, false).await.unwrap();
    let base = format!(
        "/api/v1/availability/slots?staff_ids={ann},{bob}&duration_minutes=60&from=2030-01-08&to=2030-01-09"
    );
    let any: Value = api.send("GET", &format!("{base}&mode=any"), None, 200).await.unwrap();
    let slots = any["slots"].as_array().unwrap();
    assert_eq!(slots.len(), 2, "{any}");
    assert_eq!(slots[0]["staff_ids"], json!([bob]), "only Bob is free at nine");
    assert_eq!(slots[1]["staff_ids"], json!([bob, ann]), "Bob has fewer bookings this week");
    let all: Value = api.send("GET", &format!("{base}&mode=all"), None, 200).await.unwrap();
    let starts: Vec<&str> =
        all["slots"].as_array().unwrap().iter().map(|s| s["start"].as_str().unwrap()).collect();
    assert_eq!(
        starts,
        ["2030-01-08T09:00:00Z"],
        "ten o'clock Paris is the only hour both are free"
    );
    app.stop().await;
}

/// Slots for fifty staff every five minutes over three months would be megabytes of JSON: the
/// request is refused on `to`, saying how to narrow it, and a week of one person's is answered.
async fn a_slots_request_too_big_for_one_answer_is_refused_saying_how_to_narrow_it(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let ann = therapist(&api, "Ann").await;
    let others = (0..49).map(|_| Uuid::now_v7().to_string());
    let ids: Vec<String> = std::iter::once(ann.to_string()).chain(others).collect();
    let slots = |owners: &str, to: &str| {
        format!("/api/v1/availability/slots?{owners}&duration_minutes=5&from=2030-01-01&to={to}")
    };
    let everyone = format!("staff_ids={}", ids.join(","));
    let asked = slots(&everyone, "2030-04-01");
    let problem = api.send::<Value>("GET", &asked, None, 200).await.unwrap_err();
    assert_eq!((problem.status, fields(&problem)), (422, vec!["to"]), "{problem:?}");
    assert!(problem.errors[0].message.contains("raise step_minutes"), "{problem:?}");
    let week: Value =
        api.send("GET", &slots(&format!("staff_id={ann}"), "2030-01-08"), None, 200).await.unwrap();
    assert_eq!(week["slots"].as_array().unwrap().len(), 7 * 24 * 12, "every five minutes");
    app.stop().await;
}

async fn fifty_concurrent_stays_under_a_turnover_rule_leave_a_free_night_between_every_two(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let room = room(&api, "UTC").await;
    put_rules(&api, &format!("resources/{room}"), json!({"turnover_days": 1})).await;
    // Fifty two-night stays starting on fifty consecutive days, all at once.
    let day =
        |i: i64| chrono::NaiveDate::from_ymd_opt(2030, 5, 1).unwrap() + chrono::Duration::days(i);
    let calls = (0..50).map(|i| {
        let body = stay(room, &day(i).to_string(), &day(i + 2).to_string());
        let api = &api;
        async move { post(api, body, true).await }
    });
    let answers = join_all(calls).await;
    for answer in &answers {
        if let Err(problem) = answer {
            assert!(matches!(problem.status, 409 | 422), "{problem:?}");
        }
    }
    let mut saved: Vec<(String, String)> = api
        .bookings("limit=200")
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|b| (b.start_date.unwrap().to_string(), b.end_date.unwrap().to_string()))
        .collect();
    saved.sort();
    assert!(!saved.is_empty());
    assert_eq!(saved.len(), answers.iter().filter(|a| a.is_ok()).count());
    for pair in saved.windows(2) {
        let (end, next) = (
            pair[0].1.parse::<chrono::NaiveDate>().unwrap(),
            pair[1].0.parse::<chrono::NaiveDate>().unwrap(),
        );
        assert!(next > end, "a night is kept free between {pair:?}");
    }
    app.stop().await;
}

on_both_databases!(
    a_block_in_a_stays_turnover_day_opens_a_rule_conflict_and_its_removal_resolves_it,
    a_house_stay_in_a_rooms_turnover_night_flags_the_rooms_stay_until_it_is_cancelled,
    a_checked_write_refuses_what_an_unchecked_one_flags_when_a_stay_is_new_to_a_room,
    a_checked_stay_is_refused_where_it_would_make_its_house_or_rooms_stay_break_a_turnover,
    a_rule_conflict_resolves_when_the_stay_next_to_it_is_cancelled_or_moved_away,
    rules_are_read_back_as_written_and_an_empty_object_clears_them,
    rules_out_of_range_are_field_errors_and_the_old_rules_stay,
    stays_show_booked_turnover_and_where_a_stay_may_start_and_end,
    a_stay_breaking_a_rule_is_refused_with_422_when_asked_and_flagged_otherwise,
    new_rules_judge_the_bookings_already_made_flagging_and_clearing_at_once,
    a_stay_extended_after_check_in_is_judged_only_on_how_far_ahead_it_now_reaches,
    a_guest_moved_to_another_room_mid_stay_is_not_judged_by_that_rooms_notice,
    a_stay_moved_to_another_room_is_flagged_by_that_rooms_window_and_cleared_when_it_leaves,
    slots_follow_opening_hours_bookings_and_the_buffer_and_a_booking_outside_the_hours_is_flagged,
    slots_for_any_of_two_list_the_least_booked_first_and_all_needs_both_free,
    a_slots_request_too_big_for_one_answer_is_refused_saying_how_to_narrow_it,
    fifty_concurrent_stays_under_a_turnover_rule_leave_a_free_night_between_every_two,
    a_walk_in_recorded_after_check_in_is_refused_only_where_a_notice_is_set,
);
