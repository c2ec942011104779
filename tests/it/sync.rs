//! Bookings pushed to staff members' connected calendars through the real crates, against the
//! in-process sandbox: created, moved, unassigned, cancelled; retried through faults without a
//! duplicate; parked on a dead grant and replayed on reconnect.

use kalends_providers::ProviderError;
use kalends_providers::session::ConnectionError;
use kalends_service::bookings;
use kalends_store::{EventState, Lease, LeaseKey, Overlap, Replacing};
use std::time::Duration;

use kalends::api::bookings::{BookingIn, BookingPatch, CustomerIn};
use kalends::api::conflicts::ConflictOut;
use kalends::api::connections::ConnectionOut;
use kalends::api::staff::StaffIn;
use kalends_core::availability::Rewrite;
use kalends_core::conflicts::Severity;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::connect::{Browser, connect};
use crate::helpers::{Api, Db, TestApp, all_day_booking, eventually, on_both_databases};

on_both_databases!(
    a_booking_appears_in_each_assigned_staff_calendar_moves_and_disappears,
    faults_and_retries_never_make_a_second_event,
    an_event_moved_by_hand_is_restored_or_left_with_a_conflict_per_the_tenants_policy,
    a_sync_lease_is_renewed_only_by_its_holder,
    a_microsoft_create_whose_answer_was_lost_is_brought_to_the_current_version,
    a_batch_of_syncs_brings_each_booking_once_into_each_calendar_and_waits_for_a_held_one,
    a_batch_whose_tokens_expired_refreshes_each_once_and_brings_every_booking,
    a_sync_naming_a_booking_that_is_gone_brings_the_others_and_fails_nothing,
    after_a_throttled_run_the_microsoft_creates_retried_are_looked_up_in_one_listing_of_the_calendar,
);

/// A tenant with two staff members, Ann on Google and Bo on Microsoft, both connected.
async fn two_connected_staff(app: &TestApp) -> (String, Uuid, Uuid) {
    let (_, key) = app.tenant().await;
    let mut ids = Vec::new();
    for (name, email, provider) in
        [("Ann", "ann@example.com", "google"), ("Bo", "bo@example.com", "microsoft")]
    {
        let staff = StaffIn { name: name.into(), email: Some(email.into()), ..StaffIn::default() };
        let staff = app.api(&key).create_staff(&staff).await.unwrap();
        let browser = Browser::new();
        browser.get(&app.api(&key).settings_link(staff.id).await.unwrap().url).await;
        let page = connect(app, &browser, provider, email, "allow").await;
        assert!(page.url.contains("notice=connected"), "{}", page.url);
        ids.push(staff.id);
    }
    (key, ids[0], ids[1])
}

async fn google_events(app: &TestApp) -> Vec<Value> {
    let url = app.url("/sandbox/_control/google/calendars/ann@example.com/ann@example.com/events");
    let events: Vec<Value> = app.sandbox().get(url).send().await.unwrap().json().await.unwrap();
    events.into_iter().filter(|e| e["status"] != "cancelled").collect()
}

async fn microsoft_events(app: &TestApp) -> Vec<Value> {
    let url = app.url("/sandbox/_control/microsoft/users/bo@example.com/events");
    let events: Vec<Value> = app.sandbox().get(url).send().await.unwrap().json().await.unwrap();
    events.into_iter().filter(|e| e["deleted"] != true).collect()
}

/// Polls both calendars until they satisfy `check`, where the state waited for is a passing one
/// (the jobs go on to change it).
async fn until(
    app: &TestApp,
    check: impl Fn(&[Value], &[Value]) -> bool,
) -> (Vec<Value>, Vec<Value>) {
    eventually(Duration::from_secs(30), || async {
        let (g, m) = (google_events(app).await, microsoft_events(app).await);
        check(&g, &m).then_some((g, m))
    })
    .await
}

/// Both calendars once the jobs have run; they must satisfy `check`.
async fn settled(
    app: &TestApp,
    check: impl Fn(&[Value], &[Value]) -> bool,
) -> (Vec<Value>, Vec<Value>) {
    app.settle().await;
    let (g, m) = (google_events(app).await, microsoft_events(app).await);
    assert!(check(&g, &m), "the calendars once the jobs ran:\nGoogle {g:#?}\nMicrosoft {m:#?}");
    (g, m)
}

fn booking(ann: Uuid, bo: Uuid, day: u32) -> BookingIn {
    BookingIn {
        title: "Massage".into(),
        staff_ids: vec![ann, bo],
        location: Some("Room 2".into()),
        start: Some(format!("2030-01-{day:02}T10:00:00+01:00")),
        end: Some(format!("2030-01-{day:02}T11:00:00+01:00")),
        time_zone: Some("Europe/Amsterdam".into()),
        customer: Some(CustomerIn { name: "Cy".into(), ..CustomerIn::default() }),
        ..BookingIn::default()
    }
}

/// A move to `start`..`end` (RFC 3339).
fn moved_to(start: &str, end: &str) -> BookingPatch {
    BookingPatch { start: Some(start.into()), end: Some(end.into()), ..BookingPatch::default() }
}

async fn a_booking_appears_in_each_assigned_staff_calendar_moves_and_disappears(db: Db) {
    let app = TestApp::start_public(db).await;
    let (key, ann, bo) = two_connected_staff(&app).await;
    let api = app.api(&key);
    // The connections are listed a page at a time, as every list is.
    let first: Value = api.send("GET", "/api/v1/connections?limit=1", None, 200).await.unwrap();
    assert_eq!(first["items"][0]["staff_id"], ann.to_string(), "{first}");
    let next =
        format!("/api/v1/connections?limit=1&cursor={}", first["next_cursor"].as_str().unwrap());
    let second: Value = api.send("GET", &next, None, 200).await.unwrap();
    assert_eq!(second["items"][0]["staff_id"], bo.to_string(), "{second}");
    assert_eq!(second["next_cursor"], Value::Null, "{second}");
    let id = api.create_booking(&booking(ann, bo, 2)).await.unwrap().id;
    let (g, m) = settled(&app, |g, m| g.len() == 1 && m.len() == 1).await;
    assert_eq!(g[0]["summary"], "Massage");
    assert_eq!(g[0]["location"], "Room 2");
    assert_eq!(g[0]["start"]["timeZone"], "Europe/Amsterdam");
    assert_eq!(m[0]["subject"], "Massage");
    let synced = eventually(Duration::from_secs(10), || async {
        let sync = api.booking(id).await.unwrap().sync;
        (sync.len() == 2 && sync.iter().all(|s| s.state == "synced")).then_some(sync)
    })
    .await;
    assert!(
        synced.iter().any(|s| s.provider == "google")
            && synced.iter().any(|s| s.provider == "microsoft")
    );
    // The list says where each booking stands in the calendars, as the booking itself does.
    let listed: Value = api.send("GET", "/api/v1/bookings", None, 200).await.unwrap();
    let sync = listed["items"][0]["sync"].as_array().cloned().unwrap_or_default();
    assert_eq!(sync.iter().map(|s| &s["state"]).collect::<Vec<_>>(), ["synced", "synced"]);

    // Moved: both events follow; the answer names the calendars the move is for.
    let moved = moved_to("2030-01-05T14:00:00+01:00", "2030-01-05T15:00:00+01:00");
    let answer = api.patch_booking(id, &moved).await.unwrap();
    assert_eq!(answer.sync.len(), 2, "{:?}", answer.sync);
    settled(&app, |g, m| {
        g.len() == 1
            && g[0]["start"]["dateTime"]
                .as_str()
                .is_some_and(|t| t.starts_with("2030-01-05T13:00:00"))
            && m.len() == 1
            && m[0]["start"]["dateTime"].as_str().is_some_and(|t| t.contains("2030-01-05T"))
    })
    .await;

    // Bo is taken off the booking: it leaves his calendar only.
    let only_ann = BookingPatch { staff_ids: Some(vec![ann]), ..BookingPatch::default() };
    api.patch_booking(id, &only_ann).await.unwrap();
    settled(&app, |g, m| g.len() == 1 && m.is_empty()).await;

    // Cancelled: it leaves Ann's calendar too.
    api.cancel_booking(id).await.unwrap();
    settled(&app, |g, m| g.is_empty() && m.is_empty()).await;
    let b = api.booking(id).await.unwrap();
    assert!(b.sync.iter().all(|s| s.state == "deleted"), "{b:?}");
    app.stop().await;
}

/// The sandbox answers every provider request with an error from now on.
async fn every_request_fails(app: &TestApp) {
    let faults = app.url("/sandbox/_control/faults");
    app.sandbox().put(faults).json(&json!({"error_rate": 1.0})).send().await.unwrap();
}

/// Kalends retrying a failed job after 50 ms, the wait doubling up to `max_ms`.
async fn retrying_fast(db: Db, max_ms: u64) -> TestApp {
    TestApp::start_public_with(db, |config| {
        config.jobs.retry_base_ms = 50;
        config.jobs.retry_max_delay_ms = max_ms;
        // A dropped answer keeps its booking's lease as long as a call may take.
        config.sync.provider_timeout_secs = 3;
    })
    .await
}

async fn faults_and_retries_never_make_a_second_event(db: Db) {
    let app = retrying_fast(db, 400).await;
    let (key, ann, bo) = two_connected_staff(&app).await;
    let api = app.api(&key);
    let faults = json!({"error_rate": 0.3, "rate_limit_rate": 0.1, "retry_after_secs": 0.2, "drop_rate": 0.1});
    let http = app.sandbox();
    http.put(app.url("/sandbox/_control/faults")).json(&faults).send().await.unwrap();
    let mut ids = Vec::new();
    for day in 1..=10 {
        ids.push(api.create_booking(&booking(ann, bo, day)).await.unwrap().id);
    }
    // Half of them move while the faults go on.
    for id in ids.iter().step_by(2) {
        let moved = BookingPatch { title: Some("Moved massage".into()), ..BookingPatch::default() };
        api.patch_booking(*id, &moved).await.unwrap();
    }
    http.post(app.url("/sandbox/_control/expire-tokens")).json(&json!({})).send().await.unwrap();
    let moved = |events: &[Value], field: &str| {
        events.iter().filter(|e| e[field] == "Moved massage").count()
    };
    let (g, m) = eventually(Duration::from_secs(90), || async {
        let (g, m) = (google_events(&app).await, microsoft_events(&app).await);
        (g.len() >= 10 && m.len() >= 10 && moved(&g, "summary") == 5 && moved(&m, "subject") == 5)
            .then_some((g, m))
    })
    .await;
    http.put(app.url("/sandbox/_control/faults")).json(&json!({})).send().await.unwrap();
    assert_eq!(g.len(), 10, "one Google event per booking, never two");
    assert_eq!(m.len(), 10, "one Microsoft event per booking, never two");
    app.stop().await;
}

#[tokio::test]
async fn a_dead_grant_parks_the_work_mails_a_link_and_reconnecting_replays_it() {
    let sink = crate::smtp_sink::SmtpSink::start().await;
    let app = TestApp::start_public_with(Db::Sqlite, |config| {
        config.smtp_url = Some(secrecy::SecretString::from(sink.url()));
    })
    .await;
    let (key, ann, bo) = two_connected_staff(&app).await;
    let api = app.api(&key);
    let http = app.sandbox();
    // Bo removes Kalends's access at Microsoft, and his token has expired.
    let revoke = json!({"provider": "microsoft", "email": "bo@example.com"});
    http.post(app.url("/sandbox/_control/revoke")).json(&revoke).send().await.unwrap();
    http.post(app.url("/sandbox/_control/expire-tokens")).json(&json!({})).send().await.unwrap();
    let id = api.create_booking(&booking(ann, bo, 3)).await.unwrap().id;
    let microsoft = eventually(Duration::from_secs(30), || async {
        let sync = api.booking(id).await.unwrap().sync;
        let microsoft = sync.iter().find(|s| s.provider == "microsoft")?;
        let google = sync.iter().find(|s| s.provider == "google")?;
        (google.state == "synced" && microsoft.state == "pending" && microsoft.last_error.is_some())
            .then(|| microsoft.clone())
    })
    .await;
    // Whichever job met the dead grant first (this push, or the scheduled import), the event waits
    // with a reason and the connection keeps Microsoft's words.
    let reason = microsoft.last_error.as_deref().unwrap();
    assert!(
        reason.contains("AADSTS50173")
            || reason.contains("waiting for the calendar to be reconnected"),
        "{microsoft:?}"
    );
    let bo_connection = connection_of(&api, "microsoft").await;
    assert_eq!(bo_connection.status, "needs_reauth");
    assert!(
        bo_connection.last_error.as_deref().unwrap().contains("AADSTS50173"),
        "{bo_connection:?}"
    );
    assert!(microsoft_events(&app).await.is_empty());

    // Bo reconnects: the parked booking is replayed into his calendar.
    let browser = Browser::new();
    browser.get(&api.settings_link(bo).await.unwrap().url).await;
    connect(&app, &browser, "microsoft", "bo@example.com", "allow").await;
    settled(&app, |g, m| g.len() == 1 && m.len() == 1).await;
    eventually(Duration::from_secs(10), || async {
        let sync = api.booking(id).await.unwrap().sync;
        sync.iter().all(|s| s.state == "synced").then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_refresh_refused_while_the_staff_member_reconnects_leaves_the_new_connection_working() {
    let app = TestApp::start_public(Db::Sqlite).await;
    let (tenant, key) = app.tenant().await;
    let bo =
        StaffIn { name: "Bo".into(), email: Some("bo@example.com".into()), ..StaffIn::default() };
    let bo = app.api(&key).create_staff(&bo).await.unwrap();
    let reconnect = || async {
        let browser = Browser::new();
        browser.get(&app.api(&key).settings_link(bo.id).await.unwrap().url).await;
        let page = connect(&app, &browser, "microsoft", "bo@example.com", "allow").await;
        assert!(page.url.contains("notice=connected"), "{}", page.url);
    };
    reconnect().await;
    app.settle().await;
    let connection = app.store.list_connections(tenant.id, None).await.unwrap().remove(0);

    // Bo removed Kalends's access and his token expired: a worker's refresh is refused, slowly.
    let http = app.sandbox();
    let revoke = json!({"provider": "microsoft", "email": "bo@example.com"});
    http.post(app.url("/sandbox/_control/revoke")).json(&revoke).send().await.unwrap();
    http.post(app.url("/sandbox/_control/expire-tokens")).json(&json!({})).send().await.unwrap();
    let faults = app.url("/sandbox/_control/faults");
    http.put(&faults).json(&json!({"latency_ms": 2500})).send().await.unwrap();
    // (A margin longer than any token's life: this worker refreshes at once.)
    let margin = Duration::from_secs(86_400 * 365);
    let credentials = crate::hardening_shared::credentials(&app).with_margin(margin);
    let refresh = tokio::spawn(async move { credentials.access_token(&connection).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    http.put(&faults).json(&json!({})).send().await.unwrap();
    // Meanwhile Bo connects again: his new grant is stored before the old one's refusal arrives.
    reconnect().await;
    let refused = refresh.await.unwrap();
    assert!(
        matches!(refused, Err(ConnectionError::Provider(ProviderError::DeadGrant { .. }))),
        "{refused:?}"
    );

    let connection = connection_of(&app.api(&key), "microsoft").await;
    assert_eq!(
        (connection.status.as_str(), connection.last_error.as_deref()),
        ("active", None),
        "the refusal of the revoked grant does not undo the reconnect"
    );
    app.stop().await;
}

#[tokio::test]
async fn reconciliation_rewrites_a_hand_deleted_event_and_removes_an_orphan() {
    let app = TestApp::start_public(Db::Sqlite).await;
    let (key, ann, bo) = two_connected_staff(&app).await;
    let api = app.api(&key);
    // Reconciliation compares the next 18 months: bookings ten and eleven days ahead.
    let soon = |days: i64| {
        let start = chrono::Utc::now().date_naive() + chrono::Duration::days(days);
        BookingIn {
            start: Some(format!("{start}T10:00:00+01:00")),
            end: Some(format!("{start}T11:00:00+01:00")),
            ..booking(ann, bo, 1)
        }
    };
    let kept = api.create_booking(&soon(10)).await.unwrap().id.to_string();
    let gone = api.create_booking(&soon(11)).await.unwrap().id;
    settled(&app, |g, m| g.len() == 2 && m.len() == 2).await;
    let http = app.sandbox();
    let calendar =
        app.url("/sandbox/_control/google/calendars/ann@example.com/ann@example.com/events");

    // Ann deletes one event by hand; an event of a cancelled booking is left behind (as if a
    // delete had been lost), carrying Kalends's booking property.
    let kept_event = google_events(&app)
        .await
        .into_iter()
        .find(|e| e["extendedProperties"]["private"]["kalendsBooking"] == kept.as_str());
    let kept_event = kept_event.expect("the kept booking's event");
    let status = http
        .delete(format!("{calendar}/{}", kept_event["id"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "{status}");
    api.cancel_booking(gone).await.unwrap();
    // A passing state: the import that the deletion's notification brings writes it back.
    until(&app, |g, m| g.is_empty() && m.len() == 1).await;
    let day = chrono::Utc::now().date_naive() + chrono::Duration::days(11);
    let orphan = json!({"summary": "Massage", "start": {"dateTime": format!("{day}T09:00:00Z")}, "end": {"dateTime": format!("{day}T10:00:00Z")},
        "extendedProperties": {"private": {"kalends": "1", "kalendsBooking": gone}}});
    assert!(http.post(&calendar).json(&orphan).send().await.unwrap().status().is_success());

    manual_sync(&api, "google").await;
    let (g, _) = settled(&app, |g, _| {
        g.len() == 1 && g[0]["extendedProperties"]["private"]["kalendsBooking"] == kept.as_str()
    })
    .await;
    assert_eq!(g[0]["summary"], "Massage", "the hand-deleted event is back and the orphan is gone");
    app.stop().await;
}

/// A booking for Ann alone, `days` from today (imports reach 18 months ahead), at 10:00 UTC.
async fn ann_booking(api: &Api<'_>, ann: Uuid, days: i64) -> (Uuid, String) {
    let day = chrono::Utc::now().date_naive() + chrono::Duration::days(days);
    let body = BookingIn {
        title: "Massage".into(),
        staff_ids: vec![ann],
        time_zone: Some("UTC".into()),
        start: Some(format!("{day}T10:00:00Z")),
        end: Some(format!("{day}T11:00:00Z")),
        ..BookingIn::default()
    };
    (api.create_booking(&body).await.unwrap().id, day.to_string())
}

/// Waits for the staff member's edit to be noticed (a push notification or the next scheduled
/// import brings it: no job is owed yet when the edit is made).
async fn sync_note(api: &Api<'_>, booking: Uuid, contains: &str) {
    eventually(Duration::from_secs(30), || async {
        let b = api.booking(booking).await.unwrap();
        let edit = b.sync.first()?.external_edit.as_deref()?;
        edit.contains(contains).then_some(())
    })
    .await
}

/// The tenant's open conflict of kind `external_edit`.
async fn external_edit_conflict(api: &Api<'_>) -> ConflictOut {
    let open = open_conflicts(api).await;
    open.into_iter().find(|c| c.kind == "external_edit").expect("an external_edit conflict")
}

async fn an_event_moved_by_hand_is_restored_or_left_with_a_conflict_per_the_tenants_policy(db: Db) {
    let app =
        TestApp::start_public_with(db, |config| config.import.scheduler_interval_secs = 1).await;
    let (key, ann, _) = two_connected_staff(&app).await;
    let api = app.api(&key);
    let (booking, day) = ann_booking(&api, ann, 20).await;
    let (g, _) = settled(&app, |g, _| g.len() == 1).await;
    let event_url = format!(
        "{}/{}",
        app.url("/sandbox/_control/google/calendars/ann@example.com/ann@example.com/events"),
        g[0]["id"].as_str().unwrap()
    );
    // Let an import read the calendar as Kalends wrote it (the cursor the edit will come after).
    eventually(Duration::from_secs(20), || async {
        connection_of(&api, "google").await.last_sync_at.map(|_| ())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Ann drags the event two hours later in Google Calendar: Kalends puts it back.
    let http = app.sandbox();
    let moved = json!({"start": {"dateTime": format!("{day}T12:00:00Z")}, "end": {"dateTime": format!("{day}T13:00:00Z")}});
    assert!(http.patch(&event_url).json(&moved).send().await.unwrap().status().is_success());
    sync_note(&api, booking, "moved in the calendar by the staff member; restored").await;
    settled(&app, |g, _| {
        g.len() == 1 && g[0]["start"]["dateTime"].as_str().is_some_and(|t| t.contains("T10:00:00"))
    })
    .await;
    assert!(open_conflicts(&api).await.is_empty(), "a restored edit needs nobody");

    // With the policy `accept`, the next move stays and the booking says so.
    api.patch_settings(json!({"external_edit_policy": "accept"})).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(http.patch(&event_url).json(&moved).send().await.unwrap().status().is_success());
    sync_note(&api, booking, "left as is").await;
    app.settle().await;
    let conflict = external_edit_conflict(&api).await;
    assert_eq!(conflict.staff_id, Some(ann));
    assert_eq!(conflict.severity, Severity::High);
    assert_eq!(conflict.items[0].kind, "booking");
    assert_eq!(conflict.items[0].id, booking);
    let there = &conflict.items[1].label;
    assert!(
        there.contains(&format!("Moved to {day} 12:00"))
            && there.contains("ann@example.com's Google Calendar"),
        "{there}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let g = google_events(&app).await;
    assert!(g[0]["start"]["dateTime"].as_str().unwrap().contains("T12:00:00"), "{g:?}");
    assert_eq!(open_conflicts(&api).await.len(), 1, "later imports raise it once");

    // The business moves the booking to 15:00: the event is written there and the conflict is
    // settled by itself.
    api.patch_booking(booking, &moved_to(&format!("{day}T15:00:00Z"), &format!("{day}T16:00:00Z")))
        .await
        .unwrap();
    settled(&app, |g, _| {
        g.len() == 1 && g[0]["start"]["dateTime"].as_str().is_some_and(|t| t.contains("T15:00:00"))
    })
    .await;
    assert!(open_conflicts(&api).await.is_empty(), "the written booking settles the conflict");
    let settled = api.conflict(conflict.id).await.unwrap();
    assert_eq!(
        (settled.status.as_str(), settled.resolution.as_deref()),
        ("resolved", Some("auto"))
    );
    app.stop().await;
}

async fn open_conflicts(api: &Api<'_>) -> Vec<ConflictOut> {
    api.conflicts("open").await.unwrap()
}

#[tokio::test]
async fn a_sync_given_up_shows_failed_with_the_reason_and_a_manual_sync_retries_it() {
    let app = TestApp::start_public_with(Db::Sqlite, |config| {
        config.jobs.retry_base_ms = 100;
        config.jobs.retry_max_delay_ms = 200;
        config.jobs.retry_give_up_after_secs = 1;
    })
    .await;
    let (key, ann, _) = two_connected_staff(&app).await;
    let api = app.api(&key);
    let http = app.sandbox();
    every_request_fails(&app).await;
    let (booking, _) = ann_booking(&api, ann, 12).await;
    app.settle().await;
    let failed = api.booking(booking).await.unwrap().sync.remove(0);
    assert_eq!(failed.state, "failed", "{failed:?}");
    let reason = failed.last_error.unwrap();
    assert!(reason.contains("gave up") && reason.contains("Backend Error"), "{reason}");

    // The provider is back: a manual sync pushes it.
    http.put(app.url("/sandbox/_control/faults")).json(&json!({})).send().await.unwrap();
    manual_sync(&api, "google").await;
    app.settle().await;
    let b = api.booking(booking).await.unwrap();
    assert_eq!(b.sync.first().map(|s| s.state.as_str()), Some("synced"), "{b:?}");
    app.stop().await;
}

/// The tenant's connection of `provider`.
async fn connection_of(api: &Api<'_>, provider: &str) -> ConnectionOut {
    let connections = api.connections().await.unwrap();
    connections.into_iter().find(|c| c.provider == provider).unwrap()
}

/// `POST /api/v1/connections/{id}/sync` (202) for the tenant's connection of `provider`.
async fn manual_sync(api: &Api<'_>, provider: &str) {
    let id = connection_of(api, provider).await.id;
    api.sync_connection(id).await.unwrap();
}

#[tokio::test]
async fn an_event_deleted_by_hand_and_accepted_stays_deleted_until_the_booking_changes() {
    let app =
        TestApp::start_public_with(Db::Sqlite, |config| config.import.scheduler_interval_secs = 1)
            .await;
    let (key, ann, _) = two_connected_staff(&app).await;
    let api = app.api(&key);
    api.patch_settings(json!({"external_edit_policy": "accept"})).await.unwrap();
    let (booking, day) = ann_booking(&api, ann, 21).await;
    let (g, _) = settled(&app, |g, _| g.len() == 1).await;
    eventually(Duration::from_secs(20), || async {
        connection_of(&api, "google").await.last_sync_at.map(|_| ())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Ann deletes the event; the policy leaves it deleted and a person is asked.
    let events =
        app.url("/sandbox/_control/google/calendars/ann@example.com/ann@example.com/events");
    let gone = format!("{events}/{}", g[0]["id"].as_str().unwrap());
    assert!(app.sandbox().delete(&gone).send().await.unwrap().status().is_success());
    sync_note(&api, booking, "deleted from the calendar by the staff member").await;
    app.settle().await;
    let conflict = external_edit_conflict(&api).await;
    assert!(conflict.items[1].label.starts_with("Deleted from"), "{conflict:?}");

    // A manual sync (replay and reconciliation) does not write it back behind the person's back.
    manual_sync(&api, "google").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(google_events(&app).await.is_empty(), "the accepted deletion stands");
    assert_eq!(open_conflicts(&api).await.len(), 1);

    // The business reschedules the booking: it is written again, the conflict settles.
    let later = moved_to(&format!("{day}T15:00:00Z"), &format!("{day}T16:00:00Z"));
    api.patch_booking(booking, &later).await.unwrap();
    settled(&app, |g, _| g.len() == 1).await;
    assert!(open_conflicts(&api).await.is_empty(), "the written booking settles the conflict");
    app.stop().await;
}

async fn a_sync_lease_is_renewed_only_by_its_holder(db: Db) {
    let dir = crate::helpers::TempDir::new();
    let (store, _) = kalends::app::connect(&crate::helpers::config(db, &dir).await).await.unwrap();
    let tenant = crate::helpers::tenant(&store, "UTC").await;
    let day = |d| chrono::NaiveDate::from_ymd_opt(2030, 5, d).unwrap();
    let stay = all_day_booking("Stay", vec![], day(1), day(3));
    let booking = bookings::create(&store, &tenant, stay, Overlap::Allow).await.unwrap().id;
    let micros = |t: chrono::DateTime<chrono::Utc>| {
        chrono::DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap()
    };
    let now = chrono::Utc::now();
    let held = micros(now + chrono::Duration::seconds(60));
    let (lease, key) = (&Lease::BOOKING_SYNC, LeaseKey::from(booking));
    assert!(store.take_lease(lease, key, &[], held).await.unwrap());
    assert!(!store.take_lease(lease, key, &[], held).await.unwrap(), "one holder at a time");
    let later = micros(now + chrono::Duration::seconds(80));
    assert!(store.renew_lease(lease, key, held, later).await.unwrap());
    assert!(
        !store.renew_lease(lease, key, held, later).await.unwrap(),
        "a holder that no longer knows the lease's end (someone else's lease) cannot renew it"
    );
    store.release_lease(lease, key).await.unwrap();
    assert!(!store.renew_lease(lease, key, later, later).await.unwrap(), "released");
}

/// A create that reached Graph but whose answer never came back (the worker was killed between
/// the write and recording it) leaves the event at that version, unknown to Kalends. Graph answers
/// a later create with the same `transactionId` with that event unchanged: after the booking
/// moved, the calendar must still end up holding the new time.
async fn a_microsoft_create_whose_answer_was_lost_is_brought_to_the_current_version(db: Db) {
    let app = retrying_fast(db, 200).await;
    let (key, _, bo) = two_connected_staff(&app).await;
    let api = app.api(&key);
    let connection = connection_of(&api, "microsoft").await.id;
    let http = app.sandbox();
    // Every Graph request fails until the booking has moved: the sync only ever tried.
    every_request_fails(&app).await;
    let body = BookingIn {
        title: "Massage".into(),
        staff_ids: vec![bo],
        time_zone: Some("UTC".into()),
        start: Some("2030-01-02T10:00:00Z".into()),
        end: Some("2030-01-02T11:00:00Z".into()),
        ..BookingIn::default()
    };
    let id = api.create_booking(&body).await.unwrap().id;
    // Retried until the faults end: the first failure is enough.
    eventually(Duration::from_secs(30), || async {
        let b = api.booking(id).await.unwrap();
        b.sync.first()?.last_error.as_deref().is_some_and(|e| !e.is_empty()).then_some(())
    })
    .await;

    // The first version's create, as Graph applied it when its answer was lost.
    let key_of =
        kalends_providers::calendar::EventKey { booking_id: id, connection_id: connection };
    let lost = json!({"subject": "Massage", "transactionId": key_of.transaction_id(),
        "start": {"dateTime": "2030-01-02T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2030-01-02T11:00:00", "timeZone": "UTC"},
        "singleValueExtendedProperties": [{"id": "String {7a3c3f0e-3b8e-4a9b-9f0e-6b616c656e64} Name KalendsBooking", "value": id}]});
    let url = app.url("/sandbox/_control/microsoft/users/bo@example.com/events");
    assert!(http.post(&url).json(&lost).send().await.unwrap().status().is_success());

    api.patch_booking(id, &moved_to("2030-01-05T14:00:00Z", "2030-01-05T15:00:00Z")).await.unwrap();
    http.put(app.url("/sandbox/_control/faults")).json(&json!({})).send().await.unwrap();
    eventually(Duration::from_secs(30), || async {
        let b = api.booking(id).await.unwrap();
        (b.sync.first()?.state == "synced").then_some(())
    })
    .await;
    let held = microsoft_events(&app).await;
    let starts: Vec<&str> = held.iter().filter_map(|e| e["start"]["dateTime"].as_str()).collect();
    assert!(
        starts.len() == 1 && starts[0].starts_with("2030-01-05T14:00:00"),
        "synced, but Bo's calendar holds the booking at {starts:?}, not 2030-01-05T14:00:00"
    );
    app.stop().await;
}

/// `count` bookings of Ann and Bo (both connected), synced, then renamed "`title` 0", "`title`
/// 1", ... behind the queue's back (no job owed, so only a job the test queues brings the new
/// names anywhere); returns their tenant and ids.
async fn synced_then_renamed_without_jobs(
    app: &TestApp,
    count: u32,
    title: &str,
) -> (kalends_core::domain::Tenant, Vec<Uuid>) {
    let (key, ann, bo) = two_connected_staff(app).await;
    let api = app.api(&key);
    let mut ids = Vec::new();
    for day in 2..2 + count {
        ids.push(api.create_booking(&booking(ann, bo, day)).await.unwrap().id);
    }
    let made = count as usize;
    settled(app, |g, m| g.len() == made && m.len() == made).await;
    let tenant = app.store.authenticate(&key.into()).await.unwrap().unwrap();
    for (n, id) in ids.iter().enumerate() {
        let current = app.store.booking(tenant.id, *id).await.unwrap();
        let mut renamed = current.data.clone();
        renamed.title = format!("{title} {n}");
        let replacing =
            Replacing { version: current.version, rewrite: Rewrite::kept(&current.data) };
        app.store
            .replace_booking(&tenant, *id, replacing, renamed, Overlap::Allow, &[])
            .await
            .unwrap();
    }
    (tenant, ids)
}

/// Bookings that changed together are synced as one batch (what the outbox relay makes of a
/// burst of a tenant's bookings): each lands once in each calendar, at its new version, and one
/// whose sync another worker holds follows once that sync is over.
async fn a_batch_of_syncs_brings_each_booking_once_into_each_calendar_and_waits_for_a_held_one(
    db: Db,
) {
    let app = TestApp::start_public(db).await;
    // Renamed behind the queue's back, then synced as one batch while the first one's sync
    // lease is held elsewhere for two seconds.
    let (tenant, ids) = synced_then_renamed_without_jobs(&app, 5, "Massage").await;
    let held = chrono::Utc::now() + chrono::Duration::seconds(2);
    let held = chrono::DateTime::from_timestamp_micros(held.timestamp_micros()).unwrap();
    assert!(app.store.take_lease(&Lease::BOOKING_SYNC, ids[0].into(), &[], held).await.unwrap());
    let job = kalends_core::job::Job::sync_bookings(tenant.id, ids.clone());
    app.store.enqueue(&job).await.unwrap();
    let titles = |events: &[Value], field: &str| {
        let mut titles: Vec<String> =
            events.iter().map(|e| e[field].as_str().unwrap_or_default().to_owned()).collect();
        titles.sort();
        titles
    };
    let expected: Vec<String> = (0..5).map(|n| format!("Massage {n}")).collect();
    let (g, m) = settled(&app, |g, m| g.len() == 5 && m.len() == 5).await;
    for id in &ids {
        let events = app.store.booking_events(tenant.id, *id).await.unwrap();
        let versions: Vec<_> = events.iter().map(|e| (e.state, e.synced_version)).collect();
        assert_eq!(versions, [(EventState::Synced, Some(2)); 2], "booking {id}");
        let attempts = app.store.sync_attempts(*id).await.unwrap();
        let versions: Vec<i64> = attempts.iter().map(|a| a.booking_version).collect();
        assert_eq!(versions, [1, 2], "one recorded sync per version of booking {id}");
    }
    assert_eq!(titles(&g, "summary"), expected, "each booking once in Ann's calendar, renamed");
    assert_eq!(titles(&m, "subject"), expected, "each booking once in Bo's calendar, renamed");
    app.stop().await;
}

/// A batch keeps each calendar's token for its run: when the provider refuses it (the access
/// tokens expired at the provider, not yet by their stored expiry), the run refreshes it once,
/// the bookings pushed after that use the new token, and every booking of the batch arrives.
async fn a_batch_whose_tokens_expired_refreshes_each_once_and_brings_every_booking(db: Db) {
    let app = TestApp::start_public(db).await;
    // More than the eight bookings a batch pushes at once.
    let (tenant, ids) = synced_then_renamed_without_jobs(&app, 10, "Facial").await;
    let routes = [
        "POST google token",
        "POST microsoft token",
        "PUT google events.update",
        "PATCH microsoft events.update",
    ];
    let requests = || async {
        let counts: Value = app.sandbox_json("/sandbox/_control/requests").await;
        routes.map(|route| counts[route].as_u64().unwrap_or(0))
    };
    let before = requests().await;
    let expired =
        app.sandbox().post(app.url("/sandbox/_control/expire-tokens")).send().await.unwrap();
    assert!(expired.status().is_success());
    let job = kalends_core::job::Job::sync_bookings(tenant.id, ids.clone());
    app.store.enqueue(&job).await.unwrap();
    let renamed = |events: &[Value], field: &str| {
        events.iter().filter(|e| e[field].as_str().is_some_and(|t| t.starts_with("Facial"))).count()
    };
    settled(&app, |g, m| renamed(g, "summary") == 10 && renamed(m, "subject") == 10).await;
    for id in &ids {
        let events = app.store.booking_events(tenant.id, *id).await.unwrap();
        let versions: Vec<_> = events.iter().map(|e| (e.state, e.synced_version)).collect();
        assert_eq!(versions, [(EventState::Synced, Some(2)); 2], "booking {id}");
    }
    let after = requests().await;
    let made: Vec<u64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
    assert_eq!(made[..2], [1, 1], "one refresh per calendar: {made:?}");
    // Only the first eight, pushed with the expired token, can have been refused and sent again.
    assert!(made[2] <= 18 && made[3] <= 18, "writes per calendar: {made:?}");
    app.stop().await;
}

/// A queued sync can name a booking that is gone by the time it runs (its tenant deleted): its
/// lease cannot be taken (a lease names an existing booking), and the others are still brought.
async fn a_sync_naming_a_booking_that_is_gone_brings_the_others_and_fails_nothing(db: Db) {
    let app = TestApp::start_public(db).await;
    let (tenant, key) = app.tenant().await;
    let ann =
        StaffIn { name: "Ann".into(), email: Some("ann@example.com".into()), ..StaffIn::default() };
    let ann = app.api(&key).create_staff(&ann).await.unwrap();
    let browser = Browser::new();
    browser.get(&app.api(&key).settings_link(ann.id).await.unwrap().url).await;
    connect(&app, &browser, "google", "ann@example.com", "allow").await;
    // A booking the store holds whose sync nobody owed yet, and one that is gone.
    let day = chrono::Utc::now().date_naive() + chrono::Duration::days(6);
    let stay = all_day_booking("Stay", vec![ann.id], day, day + chrono::Duration::days(2));
    let booking = Uuid::now_v7();
    app.store.create_booking(&tenant, booking, stay, Overlap::Allow, &[]).await.unwrap();
    let gone = Uuid::now_v7();
    let job = kalends_core::job::Job::sync_bookings(tenant.id, vec![gone, booking]);
    app.store.enqueue(&job).await.unwrap();
    app.settle().await;
    let events = google_events(&app).await;
    assert_eq!(events.len(), 1, "the booking that exists is brought: {events:?}");
    let failures = app.store.job_failures(10).await.unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    let queued = app.queue.unfinished(std::time::SystemTime::now() + Duration::from_secs(3600));
    assert_eq!(queued.await.unwrap(), 0, "nothing waits for the gone booking");
    app.stop().await;
}

/// Twenty bookings of Bo (Microsoft) in one job, throttled by the mailbox's quota after the
/// first create: the retry must find out whether each lost create made its event, and looks
/// for all of them in one listing of Bo's calendar, not one listing per booking (a calendar of
/// thousands of events listed twenty times is thousands of requests against that quota).
async fn after_a_throttled_run_the_microsoft_creates_retried_are_looked_up_in_one_listing_of_the_calendar(
    db: Db,
) {
    let app = TestApp::start_public(db).await;
    let (tenant, key) = app.tenant().await;
    let bo =
        StaffIn { name: "Bo".into(), email: Some("bo@example.com".into()), ..StaffIn::default() };
    let bo = app.api(&key).create_staff(&bo).await.unwrap().id;
    let browser = Browser::new();
    browser.get(&app.api(&key).settings_link(bo).await.unwrap().url).await;
    connect(&app, &browser, "microsoft", "bo@example.com", "allow").await;
    app.settle().await;
    let day = chrono::Utc::now().date_naive() + chrono::Duration::days(6);
    let mut ids = Vec::new();
    for n in 0..20 {
        let (from, to) = (day + chrono::Duration::days(n), day + chrono::Duration::days(n + 1));
        let stay = all_day_booking(&format!("Stay {n}"), vec![bo], from, to);
        let id = Uuid::now_v7();
        app.store.create_booking(&tenant, id, stay, Overlap::Allow, &[]).await.unwrap();
        ids.push(id);
    }
    app.set_sandbox_quota(1).await;
    let listings = || async {
        let counts: Value = app.sandbox_json("/sandbox/_control/requests").await;
        counts["GET microsoft calendarView"].as_u64().unwrap_or(0)
    };
    let listed_before = listings().await;
    let job = kalends_core::job::Job::sync_bookings(tenant.id, ids.clone());
    app.store.enqueue(&job).await.unwrap();
    eventually(Duration::from_secs(30), || async {
        let counts: Value = app.sandbox_json("/sandbox/_control/quota").await;
        (counts["limited"].as_u64().unwrap_or(0) >= 19).then_some(())
    })
    .await;
    app.set_sandbox_quota(0).await;
    app.settle().await;
    let events = microsoft_events(&app).await;
    let titles: std::collections::HashSet<&str> =
        events.iter().filter_map(|e| e["subject"].as_str()).collect();
    assert_eq!((events.len(), titles.len()), (20, 20), "each booking once: {titles:?}");
    let listed = listings().await - listed_before;
    assert!(listed <= 2, "Bo's calendar was listed {listed} times to find the lost creates");
    app.stop().await;
}
