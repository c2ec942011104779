//! The JSON API over real HTTP, against the real app.

use serde_json::{Value, json};

use crate::helpers::{Db, TestApp, booking_body, on_both_databases};

async fn booking_lifecycle_over_http(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let (status, created) =
        app.call("POST", "/api/v1/bookings", &key, Some(booking_body("Massage", 2))).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (created["version"].as_i64(), created["status"].as_str()),
        (Some(1), Some("confirmed"))
    );
    assert_eq!(created["start"], "2030-01-02T09:00:00Z");
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, patched) = app
        .call(
            "PATCH",
            &format!("/api/v1/bookings/{id}"),
            &key,
            Some(json!({"start_date": "2030-02-01", "end_date": "2030-02-03"})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        (patched["version"].as_i64(), patched["start_date"].as_str()),
        (Some(2), Some("2030-02-01"))
    );
    assert!(patched.get("start").is_none(), "the timed form was replaced: {patched}");
    let (status, cancelled) =
        app.call("POST", &format!("/api/v1/bookings/{id}/cancel"), &key, None).await;
    assert_eq!(
        (status, cancelled["status"].as_str(), cancelled["version"].as_i64()),
        (200, Some("cancelled"), Some(3))
    );
    let (status, fetched) = app.call("GET", &format!("/api/v1/bookings/{id}"), &key, None).await;
    assert_eq!((status, fetched["version"].as_i64()), (200, Some(3)));
    app.stop().await;
}

async fn put_by_external_id_creates_then_replaces(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, key) = app.tenant().await;
    let path = "/api/v1/bookings/by-external-id/host-42";
    let (status, first) = app.call("PUT", path, &key, Some(booking_body("Stay", 2))).await;
    assert_eq!(status, 201, "{first}");
    let (status, same) = app.call("PUT", path, &key, Some(booking_body("Stay", 2))).await;
    assert_eq!(
        (status, same["version"].as_i64()),
        (200, Some(1)),
        "re-sending the same booking changes nothing"
    );
    let (status, moved) = app.call("PUT", path, &key, Some(booking_body("Stay", 5))).await;
    assert_eq!(
        (status, moved["version"].as_i64(), moved["id"].clone()),
        (200, Some(2), first["id"].clone())
    );
    let (status, listed) = app.call("GET", "/api/v1/bookings", &key, None).await;
    assert_eq!((status, listed["items"].as_array().unwrap().len()), (200, 1));
    app.stop().await;
}

async fn another_tenants_ids_answer_404(db: Db) {
    let app = TestApp::start(db, false).await;
    let (_, mine) = app.tenant().await;
    let (_, theirs) = app.tenant().await;
    let (_, booking) =
        app.call("POST", "/api/v1/bookings", &theirs, Some(booking_body("Theirs", 2))).await;
    let (_, staff) =
        app.call("POST", "/api/v1/staff", &theirs, Some(json!({"name": "Their staff"}))).await;
    let id = booking["id"].as_str().unwrap();
    for (method, path) in [
        ("GET", format!("/api/v1/bookings/{id}")),
        ("POST", format!("/api/v1/bookings/{id}/cancel")),
        ("GET", format!("/api/v1/staff/{}", staff["id"].as_str().unwrap())),
        ("DELETE", format!("/api/v1/staff/{}", staff["id"].as_str().unwrap())),
        ("GET", "/api/v1/bookings/not-a-uuid".to_owned()),
    ] {
        let (status, problem) = app.call(method, &path, &mine, None).await;
        assert_eq!(status, 404, "{method} {path}: {problem}");
        assert_eq!(problem["status"], 404);
    }
    let (status, _) = app.call("GET", &format!("/api/v1/bookings/{id}"), &theirs, None).await;
    assert_eq!(status, 200, "the owner still sees it");
    app.stop().await;
}

on_both_databases!(
    booking_lifecycle_over_http,
    put_by_external_id_creates_then_replaces,
    another_tenants_ids_answer_404
);

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
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
    for (body, field) in cases {
        let (status, problem) =
            app.call("POST", "/api/v1/bookings", &key, Some(body.clone())).await;
        assert_eq!(status, 422, "{body} -> {problem}");
        assert_eq!(fields(&problem), [field], "{body} -> {problem}");
    }
    let (status, listed) = app.call("GET", "/api/v1/bookings", &key, None).await;
    assert_eq!(
        (status, listed["items"].as_array().unwrap().len()),
        (200, 0),
        "nothing invalid was saved"
    );
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
    app.stop().await;
}

#[tokio::test]
async fn list_filters_and_cursors_are_validated() {
    let app = TestApp::start(Db::Sqlite, false).await;
    let (_, key) = app.tenant().await;
    for day in 1..=5 {
        app.call("POST", "/api/v1/bookings", &key, Some(booking_body(&format!("B{day}"), day)))
            .await;
    }
    let (_, page) = app.call("GET", "/api/v1/bookings?limit=2", &key, None).await;
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, next) =
        app.call("GET", &format!("/api/v1/bookings?limit=2&cursor={cursor}"), &key, None).await;
    assert_eq!(next["items"][0]["title"], "B3");
    let (_, window) = app
        .call(
            "GET",
            "/api/v1/bookings?from=2030-01-02T00:00:00Z&to=2030-01-04T00:00:00Z&status=confirmed",
            &key,
            None,
        )
        .await;
    let titles: Vec<_> =
        window["items"].as_array().unwrap().iter().map(|b| b["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["B2", "B3"]);
    let (status, problem) = app
        .call(
            "GET",
            "/api/v1/bookings?limit=501&cursor=zzz&from=yesterday&status=maybe",
            &key,
            None,
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(fields(&problem), ["limit", "cursor", "from", "status"]);
    app.stop().await;
}

#[tokio::test]
async fn staff_resources_and_blocks_have_crud_and_upserts() {
    let app = TestApp::start(Db::Sqlite, false).await;
    let (_, key) = app.tenant().await;
    let (status, staff) = app
        .call(
            "PUT",
            "/api/v1/staff/by-external-id/s-1",
            &key,
            Some(json!({"name": "Ann", "email": "ann@example.com"})),
        )
        .await;
    assert_eq!(status, 201, "{staff}");
    let (status, again) = app
        .call(
            "PUT",
            "/api/v1/staff/by-external-id/s-1",
            &key,
            Some(json!({"name": "Ann B", "email": "ann@example.com"})),
        )
        .await;
    assert_eq!(
        (status, again["id"].clone(), again["name"].as_str()),
        (200, staff["id"].clone(), Some("Ann B"))
    );
    let (status, problem) = app
        .call("PUT", "/api/v1/resources/by-external-id/%20padded", &key, Some(json!({"name": "R"})))
        .await;
    assert_eq!(
        (status, fields(&problem)),
        (422, vec!["external_id".to_owned()]),
        "the URL's id is checked"
    );
    let (status, problem) =
        app.call("POST", "/api/v1/staff", &key, Some(json!({"name": "Bob", "email": "bob"}))).await;
    assert_eq!((status, fields(&problem)), (422, vec!["email".to_owned()]));
    let (status, room) = app
        .call(
            "POST",
            "/api/v1/resources",
            &key,
            Some(json!({"name": "Room 1", "time_zone": "Europe/Lisbon"})),
        )
        .await;
    assert_eq!(status, 201, "{room}");
    let room_id = room["id"].as_str().unwrap();
    let (status, patched) = app
        .call(
            "PATCH",
            &format!("/api/v1/resources/{room_id}"),
            &key,
            Some(json!({"time_zone": null})),
        )
        .await;
    assert_eq!((status, patched["time_zone"].clone()), (200, Value::Null));
    let mut body = booking_body("In room", 2);
    body["resource_id"] = json!(room_id);
    body["staff_ids"] = json!([staff["id"]]);
    let (status, booking) = app.call("POST", "/api/v1/bookings", &key, Some(body)).await;
    assert_eq!(status, 201, "{booking}");
    let (status, _) = app.call("DELETE", &format!("/api/v1/resources/{room_id}"), &key, None).await;
    assert_eq!(status, 409, "a resource with bookings stays");
    let (status, block) = app.call("POST", "/api/v1/blocks", &key, Some(json!({"resource_id": room_id, "start_date": "2030-03-01", "end_date": "2030-03-05", "reason": "Painting"}))).await;
    assert_eq!(status, 201, "{block}");
    let (status, problem) = app
        .call(
            "POST",
            "/api/v1/blocks",
            &key,
            Some(json!({"start_date": "2030-03-01", "end_date": "2030-03-05"})),
        )
        .await;
    assert_eq!((status, fields(&problem)), (422, vec!["resource_id".to_owned()]));
    let (_, blocks) =
        app.call("GET", &format!("/api/v1/blocks?resource_id={room_id}"), &key, None).await;
    assert_eq!(blocks["items"].as_array().unwrap().len(), 1);
    let (status, _) = app
        .call("DELETE", &format!("/api/v1/blocks/{}", block["id"].as_str().unwrap()), &key, None)
        .await;
    assert_eq!(status, 204);
    app.stop().await;
}

#[tokio::test]
async fn settings_have_defaults_and_patches_are_checked() {
    let app = TestApp::start(Db::Sqlite, false).await;
    let (_, key) = app.tenant().await;
    let (status, settings) = app.call("GET", "/api/v1/settings", &key, None).await;
    assert_eq!(status, 200);
    assert_eq!(settings["busy_label"], "Reserved");
    assert_eq!(settings["reminder_offsets_minutes"], json!([1440, 60]));
    assert_eq!(settings["event_privacy"], "details");
    let (status, changed) = app
        .call(
            "PATCH",
            "/api/v1/settings",
            &key,
            Some(json!({"busy_label": "Booked", "time_zone": "Asia/Tokyo"})),
        )
        .await;
    assert_eq!(
        (status, changed["busy_label"].as_str(), changed["cancelled_retention_days"].as_i64()),
        (200, Some("Booked"), Some(30))
    );
    let (_, reread) = app.call("GET", "/api/v1/settings", &key, None).await;
    assert_eq!(reread["time_zone"], "Asia/Tokyo");
    for (body, field) in [
        (json!({"time_zone": "Nowhere/City"}), "time_zone"),
        (json!({"all_day_reminder_hour": 25}), "all_day_reminder_hour"),
        (json!({"event_privacy": "secret"}), "event_privacy"),
        (json!({"favourite_colour": "red"}), "favourite_colour"),
    ] {
        let (status, problem) =
            app.call("PATCH", "/api/v1/settings", &key, Some(body.clone())).await;
        assert_eq!((status, fields(&problem)), (422, vec![field.to_owned()]), "{body}: {problem}");
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
    app.call("POST", "/api/v1/bookings", &key, Some(booking_body("B", 2))).await;
    assert_eq!(app.http.get(app.url("/healthz")).send().await.unwrap().status(), 200);
    let ready: Value = app.http.get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!((ready["database"].as_str(), ready["queue"].as_str()), (Some("ok"), Some("ok")));
    let metrics = crate::helpers::eventually(std::time::Duration::from_secs(10), || async {
        let text = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        text.contains("kalends_jobs_total").then_some(text)
    })
    .await;
    assert!(metrics.contains(r#"route="/api/v1/bookings""#), "{metrics}");
    assert!(metrics.contains("kalends_http_request_duration_seconds_bucket"), "{metrics}");
    assert!(metrics.contains("kalends_queue_depth"), "{metrics}");
    assert!(metrics.contains(r#"kind="sync_booking""#), "{metrics}");
    app.stop().await;
}
