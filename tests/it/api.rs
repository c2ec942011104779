//! The JSON API over real HTTP, against the real app.

use kalends::api::blocks::BlockIn;
use kalends::api::bookings::{BookingIn, BookingOut, BookingPatch, Status};
use kalends::api::resources::{ResourceIn, ResourcePatch};
use kalends::api::staff::StaffIn;
use serde_json::{Value, json};

use crate::helpers::{Db, TestApp, booking_in, fields, on_both_databases};

fn utc(t: &str) -> chrono::DateTime<chrono::Utc> {
    t.parse().unwrap()
}

async fn booking_lifecycle_over_http(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let created = api.create_booking(&booking_in("Massage", 2)).await.unwrap();
    assert_eq!((created.version, created.status), (1, Status::Confirmed));
    assert_eq!(created.start, Some(utc("2030-01-02T09:00:00Z")));
    let dates = BookingPatch {
        start_date: Some("2030-02-01".into()),
        end_date: Some("2030-02-03".into()),
        ..BookingPatch::default()
    };
    let patched = api.patch_booking(created.id, &dates).await.unwrap();
    assert_eq!((patched.version, patched.start_date), (2, Some("2030-02-01".parse().unwrap())));
    assert_eq!(patched.start, None, "the timed form was replaced: {patched:?}");
    let cancelled = api.cancel_booking(created.id).await.unwrap();
    assert_eq!((cancelled.status, cancelled.version), (Status::Cancelled, 3));
    assert_eq!(api.booking(created.id).await.unwrap().version, 3);
    app.stop().await;
}

async fn put_by_external_id_creates_then_replaces_and_post_refuses_a_used_one(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let (status, first) = api.put_booking("host-42", &booking_in("Stay", 2)).await.unwrap();
    assert_eq!(status, 201, "{first:?}");
    let (status, same) = api.put_booking("host-42", &booking_in("Stay", 2)).await.unwrap();
    assert_eq!((status, same.version), (200, 1), "re-sending the same booking changes nothing");
    let (status, moved) = api.put_booking("host-42", &booking_in("Stay", 5)).await.unwrap();
    assert_eq!((status, moved.version, moved.id), (200, 2, first.id));
    assert_eq!(api.bookings("").await.unwrap().items.len(), 1);
    // A POST naming a used external id is refused whole: no second booking, no staff link.
    let staff = api.create_staff(&StaffIn { name: "Ann".into(), ..StaffIn::default() }).await;
    let again = BookingIn {
        external_id: Some("host-42".into()),
        staff_ids: vec![staff.unwrap().id],
        ..booking_in("Stay again", 9)
    };
    let problem = api.create_booking(&again).await.unwrap_err();
    assert_eq!(problem.status, 409, "{problem:?}");
    assert!(problem.detail.contains("external_id already exists"), "{problem:?}");
    let kept = api.bookings("").await.unwrap().items;
    assert_eq!((kept.len(), kept[0].version, kept[0].staff_ids.len()), (1, 2, 0));
    app.stop().await;
}

async fn another_tenants_ids_answer_404(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, mine) = app.tenant().await;
    let (_, theirs) = app.tenant().await;
    let (mine, theirs) = (app.api(&mine), app.api(&theirs));
    let booking = theirs.create_booking(&booking_in("Theirs", 2)).await.unwrap();
    let staff = StaffIn { name: "Their staff".into(), ..StaffIn::default() };
    let staff = theirs.create_staff(&staff).await.unwrap();
    let id = booking.id;
    for (method, path) in [
        ("GET", format!("/api/v1/bookings/{id}")),
        ("POST", format!("/api/v1/bookings/{id}/cancel")),
        ("GET", format!("/api/v1/staff/{}", staff.id)),
        ("DELETE", format!("/api/v1/staff/{}", staff.id)),
        ("GET", "/api/v1/bookings/not-a-uuid".to_owned()),
    ] {
        let problem = mine.send::<Value>(method, &path, None, 200).await.unwrap_err();
        assert_eq!(problem.status, 404, "{method} {path}: {problem:?}");
    }
    theirs.booking(id).await.expect("the owner still sees it");
    app.stop().await;
}

/// A booking naming a staff member or resource that is not the tenant's is refused with the field
/// that names it, and the booking is not made; its resource's zone places its days.
async fn a_booking_naming_someone_elses_staff_or_room_names_the_field_and_is_not_made(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, mine) = app.tenant().await;
    let (_, theirs) = app.tenant().await;
    let (mine, theirs) = (app.api(&mine), app.api(&theirs));
    let ann = mine.create_staff(&StaffIn { name: "Ann".into(), ..StaffIn::default() }).await;
    let ann = ann.unwrap().id;
    let bo = theirs.create_staff(&StaffIn { name: "Bo".into(), ..StaffIn::default() }).await;
    let bo = bo.unwrap().id;
    let room = ResourceIn {
        name: "Room 1".into(),
        time_zone: Some("Pacific/Auckland".into()),
        ..ResourceIn::default()
    };
    let room = mine.create_resource(&room).await.unwrap().id;
    let their_room = ResourceIn { name: "Room 9".into(), ..ResourceIn::default() };
    let their_room = theirs.create_resource(&their_room).await.unwrap().id;
    for (resource_id, staff_ids, field) in [
        (None, vec![ann, bo], "staff_ids[1]"),
        (None, vec![bo, ann], "staff_ids[0]"),
        (Some(their_room), vec![ann], "resource_id"),
        (Some(room), vec![ann, bo], "staff_ids[1]"),
        // A staff member named twice is read once; the field is still the request's place.
        (None, vec![ann, ann, bo], "staff_ids[2]"),
    ] {
        let body = BookingIn { resource_id, staff_ids, ..booking_in("Stay", 2) };
        let problem = mine.create_booking(&body).await.unwrap_err();
        assert_eq!((problem.status, fields(&problem)), (422, vec![field]), "{problem:?}");
        let problem = mine.put_booking("stay-1", &body).await.unwrap_err();
        assert_eq!((problem.status, fields(&problem)), (422, vec![field]), "{problem:?}");
    }
    assert!(mine.bookings("").await.unwrap().items.is_empty(), "nothing was made");
    let body = BookingIn { staff_ids: vec![ann, ann], ..booking_in("Stay", 2) };
    let made = mine.create_booking(&body).await.unwrap();
    assert_eq!(made.staff_ids, vec![ann], "named twice, assigned once");
    let patch = BookingPatch { staff_ids: Some(vec![ann, ann, bo]), ..BookingPatch::default() };
    let problem = mine.patch_booking(made.id, &patch).await.unwrap_err();
    assert_eq!((problem.status, fields(&problem)), (422, vec!["staff_ids[2]"]), "{problem:?}");
    mine.cancel_booking(made.id).await.unwrap();
    let body = BookingIn {
        resource_id: Some(room),
        staff_ids: vec![ann],
        start_date: Some("2030-01-02".into()),
        end_date: Some("2030-01-03".into()),
        start: None,
        end: None,
        time_zone: None,
        ..booking_in("Stay", 2)
    };
    let made = mine.create_booking(&body).await.unwrap();
    assert_eq!((made.resource_id, made.staff_ids), (Some(room), vec![ann]));
    // The room's day starts at midnight in Auckland (UTC+13 in January), 11:00 UTC the day
    // before: a visit at noon UTC that day is in the stay.
    let visit = BookingIn {
        resource_id: Some(room),
        start: Some("2030-01-01T12:00:00Z".into()),
        end: Some("2030-01-01T13:00:00Z".into()),
        ..booking_in("Visit", 2)
    };
    mine.create_booking(&visit).await.unwrap();
    assert_eq!(mine.all_conflicts().await.unwrap().len(), 1, "the stay is in Auckland's days");
    app.stop().await;
}

on_both_databases!(
    booking_lifecycle_over_http,
    put_by_external_id_creates_then_replaces_and_post_refuses_a_used_one,
    another_tenants_ids_answer_404,
    a_booking_naming_someone_elses_staff_or_room_names_the_field_and_is_not_made,
    text_with_a_nul_or_other_control_character_is_a_field_error_and_nothing_is_saved,
);

/// PostgreSQL refuses NUL in text, and no control character is readable: every text field
/// refuses them by name on both databases (a 500 on one of them before), and nothing is saved.
async fn text_with_a_nul_or_other_control_character_is_a_field_error_and_nothing_is_saved(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let stay = |extra: Value| {
        let mut body =
            json!({"title": "Stay", "start_date": "2030-01-02", "end_date": "2030-01-03"});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let cases = [
        ("POST", "/api/v1/bookings", stay(json!({"title": "Sea\u{0} view"})), "title"),
        ("POST", "/api/v1/bookings", stay(json!({"description": "a\u{1b}[2J"})), "description"),
        (
            "POST",
            "/api/v1/bookings",
            stay(json!({"customer": {"name": "Ann\u{0}"}})),
            "customer.name",
        ),
        ("PUT", "/api/v1/bookings/by-external-id/host%00-1", stay(json!({})), "external_id"),
        ("POST", "/api/v1/staff", json!({"name": "Bo\u{7}"}), "name"),
        ("POST", "/api/v1/resources", json!({"name": "Room\u{0}1"}), "name"),
        ("PATCH", "/api/v1/settings", json!({"busy_label": "Busy\u{0}"}), "busy_label"),
    ];
    for (method, path, body, field) in cases {
        let (status, problem) = app.call(method, path, &key, Some(body)).await;
        assert_eq!(status, 422, "{method} {path}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
        assert!(problem["errors"][0]["message"].as_str().unwrap().contains("control"), "{problem}");
    }
    // Tabs and line breaks are text like any other.
    let multi = stay(json!({"description": "Line one\r\nline two\tend"}));
    let (status, created) = app.call("POST", "/api/v1/bookings", &key, Some(multi)).await;
    assert_eq!(status, 201, "{created}");
    let (_, listed) = app.call("GET", "/api/v1/bookings", &key, None).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "only the readable one: {listed}");
    app.stop().await;
}

#[tokio::test]
async fn requests_without_a_valid_key_answer_401_problem() {
    let app = TestApp::start(Db::Sqlite, false).await;
    let response = app.http.get(app.url("/api/v1/bookings")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let (status, _) = app.call("GET", "/api/v1/bookings", "kal_nonsense", None).await;
    assert_eq!(status, 401);
    app.stop().await;
}

#[tokio::test]
async fn impossible_times_and_bad_emails_are_field_errors() {
    let app = TestApp::start(Db::Sqlite, false).await;
    let (_, key) = app.tenant().await;
    let cases = [
        (
            json!({"title": "x", "start": "2030-01-02T11:00:00Z", "end": "2030-01-02T10:00:00Z"}),
            "end",
        ),
        (
            json!({"title": "x", "start": "2030-01-02T10:00:00Z", "end": "2030-01-02T11:00:00Z", "time_zone": "Mars/Base"}),
            "time_zone",
        ),
        (
            json!({"title": "x", "start": "2030-01-02T10:00:00Z", "end": "2030-01-02T11:00:00Z", "start_date": "2030-01-02", "end_date": "2030-01-03"}),
            "start_date",
        ),
        (json!({"title": "x"}), "start"),
        (json!({"title": "x", "start_date": "2025-02-30", "end_date": "2025-03-02"}), "start_date"),
        (json!({"title": "x", "start_date": "2025-03-02", "end_date": "2025-03-02"}), "end_date"),
        (json!({"title": "x", "start": "tomorrow", "end": "2030-01-02T11:00:00Z"}), "start"),
        (
            json!({"title": "x", "start": "2030-01-02T10:00:00", "end": "2030-01-02T11:00:00Z"}),
            "start",
        ),
        (
            json!({"title": "x", "start_date": "2030-01-02", "end_date": "2030-01-03", "customer": {"name": "Ann", "email": "ann@"}}),
            "customer.email",
        ),
        (json!({"start_date": "2030-01-02", "end_date": "2030-01-03"}), "title"),
        (
            json!({"title": "x", "start_date": "2030-01-02", "end_date": "2030-01-03", "colour": "red"}),
            "colour",
        ),
        (
            json!({"title": "x", "start_date": "2030-01-02", "end_date": "2030-01-03", "status": "maybe"}),
            "status",
        ),
        (
            json!({"title": "x", "start_date": "2030-01-02", "end_date": "2030-01-03", "resource_id": "00000000-0000-7000-8000-000000000000"}),
            "resource_id",
        ),
    ];
    let api = app.api(&key);
    for (body, field) in cases {
        let sent = api.send::<BookingOut>("POST", "/api/v1/bookings", Some(body.clone()), 201);
        let problem = sent.await.unwrap_err();
        assert_eq!(problem.status, 422, "{body} -> {problem:?}");
        assert_eq!(fields(&problem), [field], "{body} -> {problem:?}");
    }
    assert_eq!(api.bookings("").await.unwrap().items.len(), 0, "nothing invalid was saved");
    app.stop().await;
}

#[tokio::test]
async fn malformed_json_is_400_and_oversized_bodies_are_413() {
    let app = TestApp::start(Db::Sqlite, false).await;
    let (_, key) = app.tenant().await;
    let send = |body: Vec<u8>, content_type: &'static str| {
        app.http
            .post(app.url("/api/v1/bookings"))
            .header("Authorization", format!("Bearer {key}"))
            .header("Content-Type", content_type)
            .body(body)
            .send()
    };
    let response = send(b"{\"title\": ".to_vec(), "application/json").await.unwrap();
    assert_eq!(response.status(), 400);
    let response = send(b"title=x".to_vec(), "application/x-www-form-urlencoded").await.unwrap();
    assert_eq!(response.status(), 415);
    let huge = format!("{{\"title\": \"{}\"}}", "x".repeat(1024 * 1024 + 1));
    let response = send(huge.into_bytes(), "application/json").await.unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    // A method the path does not take is a problem too, saying which it does take.
    let response = app
        .http
        .delete(app.url("/api/v1/bookings"))
        .header("Authorization", format!("Bearer {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let allow = response.headers().get("allow").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(allow.contains("GET") && allow.contains("POST"), "Allow: {allow:?}");
    app.stop().await;
}

#[tokio::test]
async fn list_filters_and_cursors_are_validated() {
    let app = TestApp::start(Db::Sqlite, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    for day in 1..=5 {
        api.create_booking(&booking_in(&format!("B{day}"), day)).await.unwrap();
    }
    let page = api.bookings("limit=2").await.unwrap();
    let cursor = page.next_cursor.unwrap();
    let next = api.bookings(&format!("limit=2&cursor={cursor}")).await.unwrap();
    assert_eq!(next.items[0].title, "B3");
    let window = api
        .bookings("from=2030-01-02T00:00:00Z&to=2030-01-04T00:00:00Z&status=confirmed")
        .await
        .unwrap();
    let titles: Vec<_> = window.items.iter().map(|b| b.title.as_str()).collect();
    assert_eq!(titles, ["B2", "B3"]);
    // Dates, as every other window of the API takes them: midnight in the tenant's zone.
    let days = api.bookings("from=2030-01-02&to=2030-01-04").await.unwrap();
    let titles: Vec<_> = days.items.iter().map(|b| b.title.as_str()).collect();
    assert_eq!(titles, ["B2", "B3"]);
    // Every list is a page, even one that fits in one.
    let organisations = "/api/v1/organisation-connections?limit=10";
    let listed = api.send::<serde_json::Value>("GET", organisations, None, 200).await.unwrap();
    assert_eq!(listed, serde_json::json!({"items": [], "next_cursor": null}));
    let problem =
        api.bookings("limit=501&cursor=zzz&from=yesterday&status=maybe").await.unwrap_err();
    assert_eq!(problem.status, 422);
    assert_eq!(fields(&problem), ["limit", "cursor", "from", "status"]);
    // A parameter given twice (an easy slip for a list) is a field error too, in problem+json.
    let problem = api.bookings("status=confirmed&status=cancelled").await.unwrap_err();
    assert_eq!((problem.status, fields(&problem)), (422, vec!["status"]), "{problem:?}");
    let slots = "/api/v1/availability/slots?staff_id=a&staff_id=b&duration_minutes=30";
    let problem = api.send::<serde_json::Value>("GET", slots, None, 200).await.unwrap_err();
    assert_eq!((problem.status, fields(&problem)), (422, vec!["staff_id"]), "{problem:?}");
    app.stop().await;
}

#[tokio::test]
async fn staff_resources_and_blocks_have_crud_and_upserts() {
    let app = TestApp::start(Db::Sqlite, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let ann = |name: &str| StaffIn {
        name: name.into(),
        email: Some("ann@example.com".into()),
        ..StaffIn::default()
    };
    let (status, staff) = api.put_staff("s-1", &ann("Ann")).await.unwrap();
    assert_eq!(status, 201, "{staff:?}");
    let (status, again) = api.put_staff("s-1", &ann("Ann B")).await.unwrap();
    assert_eq!((status, again.id, again.name.as_str()), (200, staff.id, "Ann B"));
    let r = ResourceIn { name: "R".into(), ..ResourceIn::default() };
    let problem = api.put_resource("%20padded", &r).await.unwrap_err();
    assert_eq!(
        (problem.status, fields(&problem)),
        (422, vec!["external_id"]),
        "the URL's id is checked"
    );
    let bob = StaffIn { name: "Bob".into(), email: Some("bob".into()), ..StaffIn::default() };
    let problem = api.create_staff(&bob).await.unwrap_err();
    assert_eq!((problem.status, fields(&problem)), (422, vec!["email"]));
    let room = ResourceIn {
        name: "Room 1".into(),
        time_zone: Some("Europe/Lisbon".into()),
        ..ResourceIn::default()
    };
    let room = api.create_resource(&room).await.unwrap();
    let no_zone = ResourcePatch { time_zone: Some(None), ..ResourcePatch::default() };
    assert_eq!(api.patch_resource(room.id, &no_zone).await.unwrap().time_zone, None);
    let body = BookingIn {
        resource_id: Some(room.id),
        staff_ids: vec![staff.id],
        ..booking_in("In room", 2)
    };
    api.create_booking(&body).await.unwrap();
    let problem = api.delete_resource(room.id).await.unwrap_err();
    assert_eq!(problem.status, 409, "a resource with bookings stays");
    let painting = BlockIn {
        resource_id: Some(room.id),
        start_date: Some("2030-03-01".into()),
        end_date: Some("2030-03-05".into()),
        reason: Some("Painting".into()),
        ..BlockIn::default()
    };
    let block = api.create_block(&painting).await.unwrap();
    let renovation = BlockIn {
        start_date: Some("2030-01-01".into()),
        end_date: Some("2032-01-01".into()),
        ..painting.clone()
    };
    let problem = api.create_block(&renovation).await.unwrap_err();
    assert_eq!((problem.status, fields(&problem)), (422, vec!["end_date"]), "{problem:?}");
    let said = &problem.errors[0].message;
    assert!(said.contains("at most 366 days") && !said.contains("booking"), "{said}");
    let nowhere = BlockIn { resource_id: None, reason: None, ..painting };
    let problem = api.create_block(&nowhere).await.unwrap_err();
    assert_eq!((problem.status, fields(&problem)), (422, vec!["resource_id"]));
    let blocks = api.blocks(&format!("resource_id={}", room.id)).await.unwrap();
    assert_eq!(blocks.items.len(), 1);
    api.delete_block(block.id).await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn settings_have_defaults_and_patches_are_checked() {
    let app = TestApp::start(Db::Sqlite, false).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let settings = api.settings().await.unwrap();
    assert_eq!(settings["busy_label"], "Reserved");
    assert_eq!(settings["reminder_offsets_minutes"], json!([1440, 60]));
    assert_eq!(settings["event_privacy"], "details");
    let changed = json!({"busy_label": "Booked", "time_zone": "Asia/Tokyo"});
    let changed = api.patch_settings(changed).await.unwrap();
    assert_eq!(
        (changed["busy_label"].as_str(), changed["cancelled_retention_days"].as_i64()),
        (Some("Booked"), Some(30))
    );
    assert_eq!(api.settings().await.unwrap()["time_zone"], "Asia/Tokyo");
    for (body, field) in [
        (json!({"time_zone": "Nowhere/City"}), "time_zone"),
        (json!({"all_day_reminder_hour": 25}), "all_day_reminder_hour"),
        (json!({"event_privacy": "secret"}), "event_privacy"),
        (json!({"favourite_colour": "red"}), "favourite_colour"),
    ] {
        let problem = api.patch_settings(body.clone()).await.unwrap_err();
        assert_eq!((problem.status, fields(&problem)), (422, vec![field]), "{body}: {problem:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn openapi_document_describes_the_api() {
    let app = TestApp::start(Db::Sqlite, false).await;
    let doc: Value =
        app.http.get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    for path in [
        "/api/v1/bookings",
        "/api/v1/bookings/by-external-id/{external_id}",
        "/api/v1/bookings/{id}/cancel",
        "/api/v1/staff",
        "/api/v1/settings",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing from the OpenAPI document");
    }
    assert!(doc["components"]["schemas"].get("BookingIn").is_some());
    app.stop().await;
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = TestApp::start(Db::Sqlite, false).await;
    let (_, key) = app.tenant().await;
    app.api(&key).create_booking(&booking_in("B", 2)).await.unwrap();
    assert_eq!(app.http.get(app.url("/healthz")).send().await.unwrap().status(), 200);
    let ready: Value = app.http.get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!((ready["database"].as_str(), ready["queue"].as_str()), (Some("ok"), Some("ok")));
    app.settle().await;
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("kalends_jobs_total"), "{metrics}");
    assert!(metrics.contains(r#"route="/api/v1/bookings""#), "{metrics}");
    assert!(metrics.contains("kalends_http_request_duration_seconds_bucket"), "{metrics}");
    assert!(metrics.contains("kalends_queue_depth"), "{metrics}");
    assert!(metrics.contains(r#"kind="sync_bookings""#), "{metrics}");
    app.stop().await;
}
