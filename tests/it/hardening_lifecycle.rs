//! Lifecycle hardening: API keys can be revoked, the secret key can be rotated, stale e-mail
//! claims and lost sync jobs are repaired, invite links expire, and history stays bounded.

use std::time::Duration;

use base64::Engine as _;
use kalends::api::bookings::{BookingIn, CustomerIn};
use kalends::api::staff::StaffIn;
use kalends_core::config::SecretKey;
use kalends_core::domain::ConnectionTokens;
use kalends_core::domain::{ConnectionCalendar, NewStaff, Provider};
use kalends_core::seal::Sealer;
use kalends_service::{bookings, connections, imports};
use kalends_store::Overlap;
use kalends_store::{
    Actor, CoveredMember, DirectoryRead, Lease, NewChannel, NewConnection, NewLogEntry,
    NewOrganisationConnection, OrganisationAction, StoreError, lease_end,
};
use secrecy::{ExposeSecret as _, SecretBox, SecretString};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{self, Db, TempDir, TestApp, on_both_databases};
use crate::process::{free_port, kalends};

on_both_databases!(
    reconnecting_drops_the_cleanup_an_earlier_disconnect_still_owed,
    a_calendar_covered_again_for_busy_times_only_keeps_the_cleanup_that_removes_kalends_events,
    calendars_connected_at_the_same_moment_leave_their_staff_member_one_default,
    a_default_given_up_while_another_calendar_connects_leaves_one_default,
    a_calendar_connected_by_hand_while_a_directory_read_covers_it_stays_the_staff_members,
    a_calendar_connected_by_hand_at_the_moment_an_organisation_first_covers_it_is_the_staff_members,
    a_hold_is_renewed_while_its_work_is_writing,
    a_revoked_api_key_answers_401_at_once_and_the_last_active_key_cannot_be_revoked,
    tokens_sealed_before_a_key_rotation_are_read_and_resealed_under_the_new_key,
    feed_and_invite_links_made_before_a_key_rotation_keep_working,
    an_email_left_sending_past_the_threshold_is_sent_exactly_once,
    a_sync_job_lost_by_the_queue_is_queued_again_by_the_drift_check,
    a_cancelled_bookings_invite_link_shows_only_that_it_is_cancelled,
    an_invite_link_expires_some_days_after_the_booking_ends,
    history_is_pruned_by_age_and_by_count_keeping_each_imports_last_run,
);

/// The key ids of `GET /api/v1/api-keys`, with their `revoked_at`.
async fn listed_keys(app: &TestApp, key: &str) -> Vec<(String, Value)> {
    let (status, body) = app.call("GET", "/api/v1/api-keys", key, None).await;
    assert_eq!(status, 200, "{body}");
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            assert!(k.get("key_hash").is_none() && k.get("api_key").is_none(), "no secret: {k}");
            (k["id"].as_str().unwrap().to_owned(), k["revoked_at"].clone())
        })
        .collect()
}

async fn a_revoked_api_key_answers_401_at_once_and_the_last_active_key_cannot_be_revoked(db: Db) {
    let app = TestApp::start(db, false).await;
    let (tenant, first) = app.tenant().await;
    let second =
        secrecy::ExposeSecret::expose_secret(&app.store.create_api_key(tenant.id).await.unwrap())
            .to_owned();
    let keys = listed_keys(&app, &first).await;
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|(_, revoked)| revoked.is_null()));
    let (status, body) = app.call("GET", "/api/v1/api-keys", &first, None).await;
    let current: Vec<&Value> =
        body["items"].as_array().unwrap().iter().filter(|k| k["current"] == true).collect();
    assert_eq!(current.len(), 1, "{status} {body}");
    assert!(first.starts_with(current[0]["prefix"].as_str().unwrap()));
    let first_id = current[0]["id"].as_str().unwrap().to_owned();
    let second_id = keys.iter().find(|(id, _)| *id != first_id).unwrap().0.clone();

    // Another tenant cannot see or revoke these keys.
    let (_, stranger) = app.tenant().await;
    let (status, _) =
        app.call("DELETE", &format!("/api/v1/api-keys/{first_id}"), &stranger, None).await;
    assert_eq!(status, 404);

    // A key may revoke itself while another active key remains; it is refused at once.
    let (status, body) =
        app.call("DELETE", &format!("/api/v1/api-keys/{first_id}"), &first, None).await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = app.call("GET", "/api/v1/bookings", &first, None).await;
    assert_eq!(status, 401);
    let keys = listed_keys(&app, &second).await;
    let revoked = keys.iter().find(|(id, _)| *id == first_id).unwrap();
    assert!(revoked.1.is_string(), "revoked_at is set: {keys:?}");

    // Revoking again is harmless; the last active key cannot lock the tenant out.
    let (status, _) =
        app.call("DELETE", &format!("/api/v1/api-keys/{first_id}"), &second, None).await;
    assert_eq!(status, 204);
    let (status, body) =
        app.call("DELETE", &format!("/api/v1/api-keys/{second_id}"), &second, None).await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = app.call("GET", "/api/v1/bookings", &second, None).await;
    assert_eq!(status, 200);
    let (status, _) = app
        .call("DELETE", &format!("/api/v1/api-keys/{}", uuid::Uuid::now_v7()), &second, None)
        .await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn the_cli_revokes_a_key_with_one_line_and_fails_on_an_unknown_key() {
    let dir = crate::helpers::TempDir::new();
    let created = kalends(&dir, 1)
        .args(["tenant", "create", "--name", "Sea Breeze", "--json"])
        .output()
        .await
        .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let created: Value = serde_json::from_slice(&created.stdout).unwrap();
    let tenant_id = created["tenant_id"].as_str().unwrap().to_owned();
    let key = created["api_key"].as_str().unwrap().to_owned();

    // Find the key's id through the API of a server on the same database.
    let port = free_port();
    let mut server = kalends(&dir, port).args(["serve"]).spawn().unwrap();
    let http = crate::helpers::client().build().unwrap();
    let url = format!("http://127.0.0.1:{port}/api/v1/api-keys");
    let listed: Value = crate::helpers::eventually(Duration::from_secs(20), || async {
        let response = http.get(&url).bearer_auth(&key).send().await.ok()?;
        response.json().await.ok()
    })
    .await;
    let key_id = listed["items"][0]["id"].as_str().unwrap().to_owned();

    let out = kalends(&dir, 1)
        .args(["tenant", "api-key", &tenant_id, "--revoke", &key_id])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains(&key_id) && stdout.contains("revoked"), "{stdout}");
    let status = http.get(&url).bearer_auth(&key).send().await.unwrap().status();
    assert_eq!(status.as_u16(), 401);

    let json = kalends(&dir, 1)
        .args(["tenant", "api-key", &tenant_id, "--revoke", &key_id, "--json"])
        .output()
        .await
        .unwrap();
    assert!(json.status.success());
    let object: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(object["api_key_id"], key_id.as_str());
    assert!(object["revoked_at"].is_string(), "{object}");

    let unknown = uuid::Uuid::now_v7().to_string();
    let out = kalends(&dir, 1)
        .args(["tenant", "api-key", &tenant_id, "--revoke", &unknown])
        .output()
        .await
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&unknown));
    server.kill().await.unwrap();
}

fn key(byte: u8) -> SecretKey {
    SecretBox::new(Box::new([byte; 32]))
}

fn key_text(byte: u8) -> SecretString {
    SecretString::from(base64::engine::general_purpose::STANDARD.encode([byte; 32]))
}

/// The raw sealed access token and channel secret of the store.
async fn sealed_columns(
    store: &kalends_store::Store,
    connection_id: uuid::Uuid,
) -> (String, String) {
    let sql_token = "SELECT access_token FROM connections WHERE id = $1";
    let sql_secret = "SELECT secret FROM calendar_channels WHERE connection_id = $1";
    match store.pool() {
        kalends_store::Pool::Sqlite { read, .. } => (
            sqlx::query_scalar(sql_token).bind(connection_id).fetch_one(read).await.unwrap(),
            sqlx::query_scalar(sql_secret).bind(connection_id).fetch_one(read).await.unwrap(),
        ),
        kalends_store::Pool::Postgres(pool) => (
            sqlx::query_scalar(sql_token).bind(connection_id).fetch_one(pool).await.unwrap(),
            sqlx::query_scalar(sql_secret).bind(connection_id).fetch_one(pool).await.unwrap(),
        ),
    }
}

async fn tokens_sealed_before_a_key_rotation_are_read_and_resealed_under_the_new_key(db: Db) {
    let dir = TempDir::new();
    let store = helpers::store(db, &dir).await;
    let tenant = helpers::tenant(&store, "UTC").await;
    let staff = NewStaff { external_id: None, name: "Ann".into(), email: None, time_zone: None };
    let staff = store.create_staff(tenant.id, staff).await.unwrap();
    let under_a = Sealer::new(&key(1), &[]);
    let new = NewConnection {
        staff_id: staff.id,
        provider: Provider::Google,
        account_email: "ann@example.com".into(),
        calendars: vec![ConnectionCalendar {
            id: "primary".into(),
            name: "Ann".into(),
            primary: true,
            writable: true,
        }],
        tokens: ConnectionTokens {
            access_token: SecretString::from("ya29.access"),
            refresh_token: Some(SecretString::from("1//refresh")),
            expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
        },
        busy_only: false,
    };
    let saved = connections::connected(
        &store,
        &under_a,
        tenant.id,
        new,
        chrono::Utc::now() + chrono::Duration::minutes(15),
    );
    let connection = saved.await.unwrap();
    let secret = SecretString::from("channel-secret");
    let channel = NewChannel {
        connection_id: connection.id,
        tenant_id: tenant.id,
        provider: Provider::Google,
        calendar_id: "primary",
        channel_id: "chan-1",
        resource_id: None,
        secret: &secret,
        expires_at: chrono::Utc::now() + chrono::Duration::days(7),
    };
    store.save_channel(&channel, &under_a).await.unwrap();
    let organisation = kalends_store::NewOrganisationConnection {
        provider: "google".into(),
        domain: "salon.example".into(),
        admin_email: Some("admin@salon.example".into()),
        org_unit: None,
        busy_only: false,
        service_account: "kalends@salon-123.iam.gserviceaccount.com".into(),
        key: SecretString::from(r#"{"type": "service_account"}"#),
    };
    let entry = kalends_store::NewLogEntry {
        action: kalends_store::OrganisationAction::Connected,
        by: kalends_store::Actor::Console,
        detail: "0 users in scope".into(),
    };
    let organisation = store
        .create_organisation_connection(
            tenant.id,
            organisation,
            &under_a,
            &entry,
            chrono::Utc::now(),
        )
        .await
        .unwrap();

    // Restart with the new key B, A still accepted: everything opens and moves to B.
    let rotated = Sealer::new(&key(2), &[key(1)]);
    let tokens = store.connection_tokens(connection.id, &rotated).await.unwrap().unwrap().tokens;
    assert_eq!(tokens.access_token.expose_secret(), "ya29.access");
    assert_eq!(tokens.refresh_token.unwrap().expose_secret(), "1//refresh");
    let channels = store.channels_of(connection.id, &rotated).await.unwrap();
    assert_eq!(channels[0].secret.expose_secret(), "channel-secret");
    let (access, channel_secret) = sealed_columns(&store, connection.id).await;
    let prefix = format!("v1.{}.", rotated.key_id());
    assert!(access.starts_with(&prefix), "re-sealed under B: {}", &access[..12]);
    assert!(channel_secret.starts_with(&prefix), "re-sealed under B: {}", &channel_secret[..12]);
    let service_key = store.organisation_key(tenant.id, organisation.id, &rotated).await.unwrap();
    assert_eq!(service_key.expose_secret(), r#"{"type": "service_account"}"#);

    // A second restart with only B still reads them.
    let only_b = Sealer::new(&key(2), &[]);
    let tokens = store.connection_tokens(connection.id, &only_b).await.unwrap().unwrap().tokens;
    assert_eq!(tokens.access_token.expose_secret(), "ya29.access");
    assert_eq!(tokens.refresh_token.unwrap().expose_secret(), "1//refresh");
    let channel = store.channel("chan-1", &only_b).await.unwrap().unwrap();
    assert_eq!(channel.secret.expose_secret(), "channel-secret");
    let service_key = store.organisation_key(tenant.id, organisation.id, &only_b).await;
    assert_eq!(service_key.unwrap().expose_secret(), r#"{"type": "service_account"}"#);
    store.close().await;
}

/// Starts Kalends on the database in `dir` with `secret_key` (and `previous` keys).
async fn app_on(db: Db, dir: &TempDir, url: &str, secret: u8, previous: &[u8]) -> TestApp {
    let mut config = helpers::config(db, dir).await;
    if db == Db::Postgres {
        config.database_url = SecretString::from(url.to_owned());
    }
    config.secret_key = Some(key_text(secret));
    let previous: Vec<String> =
        previous.iter().map(|b| key_text(*b).expose_secret().to_owned()).collect();
    config.previous_secret_keys =
        (!previous.is_empty()).then(|| SecretString::from(previous.join(",")));
    // The app owns a throwaway folder; the database stays in `dir` across restarts.
    TestApp::start_with(config, TempDir::new()).await
}

async fn feed_and_invite_links_made_before_a_key_rotation_keep_working(db: Db) {
    let dir = TempDir::new();
    let url = match db {
        Db::Postgres => helpers::postgres_database().await,
        Db::Sqlite => String::new(),
    };
    let app = app_on(db, &dir, &url, 1, &[]).await;
    let (_, api_key) = app.tenant().await;
    let (status, feed) = app
        .call(
            "POST",
            "/api/v1/feeds",
            &api_key,
            Some(json!({"scope": "tenant", "profile": "busy", "name": "All"})),
        )
        .await;
    assert_eq!(status, 201, "{feed}");
    let feed_url = feed["url"].as_str().unwrap().to_owned();
    let feed_path = feed_url.split_once("/ical/").map(|(_, t)| format!("/ical/{t}")).unwrap();
    let ann = CustomerIn {
        name: "Ann Lee".into(),
        email: Some("ann@example.com".into()),
        ..CustomerIn::default()
    };
    let body = BookingIn { customer: Some(ann), ..helpers::booking_in("Stay", 5) };
    let booking_id = app.api(&api_key).create_booking(&body).await.unwrap().id;
    let invite_path =
        format!("/invite/{}.ics", kalends_core::tokens::invite_token(&key(1), booking_id));
    assert_eq!(app.http.get(app.url(&invite_path)).send().await.unwrap().status(), 200);
    app.stop().await;

    // Rotated: B is current, A previous. The subscribed feed URL and the mailed invite still
    // answer, and the API still shows the feed's one URL.
    let app = app_on(db, &dir, &url, 2, &[1]).await;
    let response = app.http.get(app.url(&feed_path)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("BEGIN:VCALENDAR"));
    let (_, listed) = app.call("GET", "/api/v1/feeds", &api_key, None).await;
    assert_eq!(listed["items"][0]["url"], feed_url.as_str(), "the URL subscribers use");
    assert_eq!(app.http.get(app.url(&invite_path)).send().await.unwrap().status(), 200);
    app.stop().await;

    // Without A, the feed URL still answers (only its hash is stored); invites signed by A do not.
    let app = app_on(db, &dir, &url, 2, &[]).await;
    assert_eq!(app.http.get(app.url(&feed_path)).send().await.unwrap().status(), 200);
    assert_eq!(app.http.get(app.url(&invite_path)).send().await.unwrap().status(), 404);
    app.stop().await;
}

fn booking_for_ann(title: &str, day: u32) -> kalends_core::domain::NewBooking {
    helpers::booking_for_ann(title, day, "UTC")
}

async fn an_email_left_sending_past_the_threshold_is_sent_exactly_once(db: Db) {
    use kalends_store::{MessageKind, MessageStatus, NewMessage};
    let sink = crate::smtp_sink::SmtpSink::start().await;
    let dir = TempDir::new();
    let mut config = helpers::config(db, &dir).await;
    config.smtp_url = Some(SecretString::from(sink.url()));
    config.mail_from = "Kalends <bookings@kalends.example>".into();
    config.mail.timeout_secs = 1;
    config.mail.stale_claim_secs = 2;
    config.import.scheduler_interval_secs = 1;
    // A worker claimed the invitation and died before sending it (the process was killed).
    let (store, _) = kalends::app::connect(&config).await.unwrap();
    let tenant = helpers::tenant(&store, "UTC").await;
    let booking = bookings::create(&store, &tenant, booking_for_ann("Massage", 7), Overlap::Allow)
        .await
        .unwrap();
    let fingerprint = kalends_service::customer_plan::fingerprint(&booking, MessageKind::Request);
    let claim = NewMessage {
        tenant_id: tenant.id,
        booking_id: booking.id,
        kind: MessageKind::Request,
        revision: 0,
        reminder: "",
        fingerprint: &fingerprint,
        recipient: "ann@example.com",
    };
    store.claim_message(&claim).await.unwrap().unwrap();

    let app = TestApp::start_with(config, TempDir::new()).await;
    let received = sink.wait_for(1, std::time::Duration::from_secs(20)).await;
    assert_eq!(received.len(), 1);
    // Several more sweeps: nothing more goes out.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert_eq!(sink.messages().len(), 1, "sent exactly once");
    let messages = app.store.customer_messages(booking.id).await.unwrap();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].status, MessageStatus::Sent);
    app.stop().await;
    store.close().await;
}

/// Runs `sql` with `text` bound as `$1` on `store`'s database; returns the rows it changed (none
/// when it failed).
pub(crate) async fn execute(store: &kalends_store::Store, sql: &str, text: String) -> u64 {
    let query = sqlx::query(sqlx::AssertSqlSafe(sql));
    match store.pool() {
        kalends_store::Pool::Sqlite { write, .. } => {
            query.bind(text).execute(write).await.map_or(0, |r| r.rows_affected())
        }
        kalends_store::Pool::Postgres(pool) => sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(text)
            .execute(pool)
            .await
            .unwrap()
            .rows_affected(),
    }
}

async fn a_sync_job_lost_by_the_queue_is_queued_again_by_the_drift_check(db: Db) {
    let dir = TempDir::new();
    let mut config = helpers::config(db, &dir).await;
    config.sync.drift_check_secs = 1;
    config.import.scheduler_interval_secs = 1;
    // The relay polls once a second; a booking written through another connection (below) does
    // not wake it, which leaves the time to lose its job.
    config.jobs.relay_interval_ms = 1000;
    let port = free_port();
    config.listen = format!("127.0.0.1:{port}");
    config.public_url = format!("http://127.0.0.1:{port}");
    let (elsewhere, _) = kalends::app::connect(&config).await.unwrap();
    let app = TestApp::start_with(config, TempDir::new()).await;
    let (tenant, key) = app.tenant().await;
    let api = app.api(&key);
    let ann =
        StaffIn { name: "Ann".into(), email: Some("ann@example.com".into()), ..StaffIn::default() };
    let ann = api.create_staff(&ann).await.unwrap().id;
    let browser = crate::connect::Browser::new();
    browser.get(&api.settings_link(ann).await.unwrap().url).await;
    let page = crate::connect::connect(&app, &browser, "google", "ann@example.com", "allow").await;
    assert!(page.url.contains("notice=connected"), "{}", page.url);

    // The booking is stored, and its sync job vanishes before the relay hands it to the queue.
    let mut lost = None;
    for attempt in 0..10 {
        let mut new = booking_for_ann(&format!("Lost {attempt}"), 9 + attempt);
        new.customer = None;
        new.staff_ids = vec![ann];
        // Two writers on one SQLite file: a write can meet the other's lock; try again.
        let Ok(booking) = bookings::create(&elsewhere, &tenant, new, Overlap::Allow).await else {
            continue;
        };
        let sql = "DELETE FROM outbox WHERE job LIKE '%' || $1 || '%'";
        if execute(&elsewhere, sql, booking.id.to_string()).await == 1 {
            lost = Some(booking.data.title);
            break;
        }
    }
    let lost = lost.expect("a sync job was lost before the relay moved it");
    let url = app.url("/sandbox/_control/google/calendars/ann@example.com/ann@example.com/events");
    let events = helpers::eventually(std::time::Duration::from_secs(20), || async {
        let events: Vec<Value> = app.sandbox().get(&url).send().await.ok()?.json().await.ok()?;
        events.iter().any(|e| e["summary"] == lost.as_str()).then_some(events)
    })
    .await;
    assert_eq!(events.iter().filter(|e| e["summary"] == lost.as_str()).count(), 1);
    app.stop().await;
    elsewhere.close().await;
}

/// Kalends with a known secret key (so the test can make invite links), without SMTP.
async fn app_with_key(db: Db) -> TestApp {
    let dir = TempDir::new();
    let mut config = helpers::config(db, &dir).await;
    config.secret_key = Some(key_text(3));
    TestApp::start_with(config, dir).await
}

/// Creates a booking for Ann Lee from `start` to `end`; returns its id and public invite path.
async fn ann_invite(app: &TestApp, api_key: &str, start: &str, end: &str) -> (Uuid, String) {
    let body = BookingIn {
        title: "Hot stone massage".into(),
        start: Some(start.into()),
        end: Some(end.into()),
        time_zone: Some("UTC".into()),
        location: Some("Spa, Room 2".into()),
        description: Some("Deep tissue, allergic to lavender".into()),
        customer: Some(CustomerIn {
            name: "Ann Lee".into(),
            email: Some("ann.lee@example.com".into()),
            phone: Some("+27 82 000 0000".into()),
        }),
        ..BookingIn::default()
    };
    let id = app.api(api_key).create_booking(&body).await.unwrap().id;
    let token = kalends_core::tokens::invite_token(&key(3), id);
    (id, format!("/invite/{token}.ics"))
}

async fn public_get(app: &TestApp, path: &str) -> (u16, String) {
    let response = app.http.get(app.url(path)).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn a_cancelled_bookings_invite_link_shows_only_that_it_is_cancelled(db: Db) {
    let app = app_with_key(db).await;
    let (_, api_key) = app.tenant().await;
    let (id, path) =
        ann_invite(&app, &api_key, "2030-03-01T10:00:00Z", "2030-03-01T11:00:00Z").await;
    let (status, before) = public_get(&app, &path).await;
    assert_eq!(status, 200);
    assert!(before.contains("ann.lee@example.com") && before.contains("Spa"), "{before}");

    app.api(&api_key).cancel_booking(id).await.unwrap();
    let (status, after) = public_get(&app, &path).await;
    assert_eq!(status, 200, "{after}");
    assert!(after.contains("METHOD:CANCEL") && after.contains("STATUS:CANCELLED"), "{after}");
    assert!(
        after.contains(&format!("UID:{id}@kalends")),
        "the customer's calendar finds its event: {after}"
    );
    for detail in
        ["Ann Lee", "ann.lee@example.com", "+27", "Spa", "Room 2", "lavender", "Hot stone"]
    {
        assert!(!after.contains(detail), "{detail:?} still shown: {after}");
    }
    app.stop().await;
}

async fn an_invite_link_expires_some_days_after_the_booking_ends(db: Db) {
    let app = app_with_key(db).await;
    let (_, api_key) = app.tenant().await;
    let day = |n: i64| {
        (chrono::Utc::now() - chrono::Duration::days(n)).format("%Y-%m-%dT10:00:00Z").to_string()
    };
    let (_, recent) = ann_invite(&app, &api_key, &day(29), &day(28)).await;
    let (_, old) = ann_invite(&app, &api_key, &day(32), &day(31)).await;
    assert_eq!(public_get(&app, &recent).await.0, 200, "ended 28 days ago: still open");
    let (status, body) = public_get(&app, &old).await;
    assert_eq!(status, 404, "ended 31 days ago (default: 30 days): {body}");
    assert!(!body.contains("Ann Lee") && body.contains("expired"), "{body}");
    app.stop().await;
}

/// Sets `column` of every row of `table` whose `key` is `id` to a day in 2020.
async fn age_rows(
    store: &kalends_store::Store,
    table: &str,
    column: &str,
    key: &str,
    id: uuid::Uuid,
) {
    let sql = format!("UPDATE {table} SET {column} = '2020-01-01 00:00:00+00:00' WHERE {key} = $1");
    let sql = sqlx::AssertSqlSafe(sql);
    match store.pool() {
        kalends_store::Pool::Sqlite { write, .. } => {
            sqlx::query(sql).bind(id).execute(write).await.unwrap();
        }
        kalends_store::Pool::Postgres(pool) => {
            sqlx::query(sql).bind(id).execute(pool).await.unwrap();
        }
    }
}

async fn history_is_pruned_by_age_and_by_count_keeping_each_imports_last_run(db: Db) {
    use kalends_core::domain::{NewImport, NewResource, Owner, Platform};
    use kalends_store::RunResult;
    let dir = TempDir::new();
    let store = helpers::store(db, &dir).await;
    let tenant = helpers::tenant(&store, "UTC").await;
    let room = NewResource {
        external_id: None,
        name: "Sea view".into(),
        time_zone: None,
        parent_id: None,
    };
    let room = store.create_resource(tenant.id, room).await.unwrap();
    let mut imports = Vec::new();
    for (name, runs) in [("busy", 6), ("quiet", 2)] {
        let new = NewImport {
            owner: Owner::Resource(room.id),
            platform: Platform::Airbnb,
            url: format!("https://example.com/{name}.ics"),
            name: Some(name.into()),
            interval_minutes: 60,
            settings: Default::default(),
        };
        let import = store.create_import(&tenant, new).await.unwrap();
        for _ in 0..runs {
            let result = RunResult::NotModified { http_status: 304 };
            let run = imports::record_run(&store, &tenant, &import, chrono::Utc::now(), result, 3);
            run.await.unwrap();
        }
        imports.push(import);
    }
    // The quiet import last ran long ago: its old runs go, its last one stays.
    age_rows(&store, "import_runs", "finished_at", "import_id", imports[1].id).await;
    let (busy, quiet) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let six: Vec<_> = (1..=6).map(|version| (busy, version, "sync_booking")).collect();
    store.record_sync_attempts(tenant.id, &six).await.unwrap();
    store.record_sync_attempts(tenant.id, &[(quiet, 1, "sync_booking")]).await.unwrap();
    age_rows(&store, "sync_attempts", "attempted_at", "booking_id", quiet).await;
    for n in 0..8 {
        store.record_job_failure("sync_booking", "{}", &format!("failure {n}"), 5).await.unwrap();
    }

    let limits = kalends_jobs::scheduler::History {
        max_age: std::time::Duration::from_secs(30 * 86_400),
        max_per_item: 3,
        max_job_failures: 5,
        every: std::time::Duration::from_secs(3600),
    };
    kalends_jobs::scheduler::prune_history(&store, &limits).await;

    let runs = |import: uuid::Uuid| {
        let store = store.clone();
        async move { store.list_import_runs(tenant.id, import, None, 100).await.unwrap().items }
    };
    assert_eq!(runs(imports[0].id).await.len(), 3, "the 3 newest runs of the busy import");
    let quiet_runs = runs(imports[1].id).await;
    assert_eq!(quiet_runs.len(), 1, "the quiet import keeps its last run, however old");
    assert!(quiet_runs[0].finished_at < chrono::Utc::now() - chrono::Duration::days(30));
    let versions: Vec<i64> =
        store.sync_attempts(busy).await.unwrap().iter().map(|a| a.booking_version).collect();
    assert_eq!(versions, [4, 5, 6]);
    assert!(store.sync_attempts(quiet).await.unwrap().is_empty(), "older than 30 days");
    let failures: Vec<String> =
        store.job_failures(100).await.unwrap().into_iter().map(|f| f.error).collect();
    assert_eq!(failures, ["failure 7", "failure 6", "failure 5", "failure 4", "failure 3"]);

    // The pass runs once per period across workers: a second call right away does nothing.
    for n in 8..12 {
        store.record_job_failure("sync_booking", "{}", &format!("failure {n}"), 5).await.unwrap();
    }
    kalends_jobs::scheduler::prune_history(&store, &limits).await;
    assert_eq!(store.job_failures(100).await.unwrap().len(), 9);
    store.close().await;
}

/// Cleanups at the provider still owed for a connection (`connection_cleanups` rows).
async fn cleanups_owed(store: &kalends_store::Store, connection_id: uuid::Uuid) -> i64 {
    let sql = "SELECT COUNT(*) FROM connection_cleanups WHERE connection_id = $1";
    match store.pool() {
        kalends_store::Pool::Sqlite { read, .. } => {
            sqlx::query_scalar(sql).bind(connection_id).fetch_one(read).await.unwrap()
        }
        kalends_store::Pool::Postgres(pool) => {
            sqlx::query_scalar(sql).bind(connection_id).fetch_one(pool).await.unwrap()
        }
    }
}

async fn reconnecting_drops_the_cleanup_an_earlier_disconnect_still_owed(db: Db) {
    // A disconnect owes a cleanup (revoke the grant, remove events) that runs later. Were the
    // staff member to reconnect first, it would revoke the new grant (Google revokes the client
    // and account as a whole) and remove the events the calendar is about to hold again.
    let (store, _dir, sealer, tenant, staff) = one_staff_member(db).await;
    let next = chrono::Utc::now() + chrono::Duration::minutes(15);
    let grant = |access: &str| ann_grant(staff, access, false);
    let connection =
        connections::connected(&store, &sealer, tenant, grant("ya29.first"), next).await.unwrap();
    let later = chrono::Utc::now() + chrono::Duration::seconds(30);
    let (_, owed) = store.disconnect_connection(tenant, connection.id, true, later).await.unwrap();
    assert!(owed.is_some(), "the disconnect owes a cleanup");
    assert_eq!(cleanups_owed(&store, connection.id).await, 1);
    let again =
        connections::connected(&store, &sealer, tenant, grant("ya29.second"), next).await.unwrap();
    assert_eq!(again.id, connection.id, "the same account reconnects the same connection");
    assert_eq!(cleanups_owed(&store, connection.id).await, 0, "nothing left to revoke");
    // The disconnect gave the default away; Ann's only calendar takes her bookings again.
    assert!(again.is_default, "{again:?}");
    assert_eq!(again.destination_calendar_id.as_deref(), Some("primary"));
}

async fn a_calendar_covered_again_for_busy_times_only_keeps_the_cleanup_that_removes_kalends_events(
    db: Db,
) {
    // An organisation moving into the busy-times-only tier disconnects each covered calendar
    // (its events to be removed) and covers it again at once: the calendar will not hold
    // Kalends' events again, so the cleanup still removes them.
    let (store, _dir, sealer, tenant, staff) = one_staff_member(db).await;
    let next = chrono::Utc::now() + chrono::Duration::minutes(15);
    let full = ann_grant(staff, "ya29.full", false);
    let connection = connections::connected(&store, &sealer, tenant, full, next).await.unwrap();
    let later = chrono::Utc::now() + chrono::Duration::seconds(30);
    store.disconnect_connection(tenant, connection.id, true, later).await.unwrap();
    let busy = ann_grant(staff, "ya29.freebusy", true);
    let again = connections::connected(&store, &sealer, tenant, busy, next).await.unwrap();
    assert_eq!(again.id, connection.id);
    assert_eq!(cleanups_owed(&store, connection.id).await, 1, "Kalends' events still go");
    assert!(again.busy_only && !again.is_default, "{again:?}");
    assert_eq!(again.destination_calendar_id, None);
}

async fn calendars_connected_at_the_same_moment_leave_their_staff_member_one_default(db: Db) {
    // Ann connects several accounts at once (two browser tabs, her organisation covering her
    // while she connects her own): her bookings must go to one calendar, not to each.
    let (store, _dir, sealer, tenant, staff) = one_staff_member(db).await;
    let next = chrono::Utc::now() + chrono::Duration::minutes(15);
    let grants = (0..8).map(|n| NewConnection {
        account_email: format!("ann+{n}@example.com"),
        ..ann_grant(staff, "ya29.one", false)
    });
    let saved = futures::future::join_all(
        grants.map(|grant| connections::connected(&store, &sealer, tenant, grant, next)),
    )
    .await;
    assert!(saved.iter().all(Result::is_ok), "{saved:?}");
    assert_eq!(defaults_of(&store, tenant, staff).await, 1);
}

async fn a_default_given_up_while_another_calendar_connects_leaves_one_default(db: Db) {
    let (store, _dir, sealer, tenant, staff) = one_staff_member(db).await;
    let next = chrono::Utc::now() + chrono::Duration::minutes(15);
    let grant = |n: usize| NewConnection {
        account_email: format!("ann+{n}@example.com"),
        ..ann_grant(staff, "ya29.one", false)
    };
    let first = connections::connected(&store, &sealer, tenant, grant(0), next).await.unwrap();
    let _second = connections::connected(&store, &sealer, tenant, grant(1), next).await.unwrap();
    assert!(first.is_default);
    // The default goes (its place taken by the other calendar) while two more arrive.
    let now = chrono::Utc::now();
    let (gone, third, fourth) = tokio::join!(
        store.disconnect_connection(tenant, first.id, false, now),
        connections::connected(&store, &sealer, tenant, grant(2), next),
        connections::connected(&store, &sealer, tenant, grant(3), next),
    );
    gone.unwrap();
    third.unwrap();
    fourth.unwrap();
    assert_eq!(defaults_of(&store, tenant, staff).await, 1);
}

async fn a_calendar_connected_by_hand_while_a_directory_read_covers_it_stays_the_staff_members(
    db: Db,
) {
    // An organisation read found Ann's covered calendar in need of covering again and went to
    // Google for a token; meanwhile Ann connected that calendar herself. The read's save comes
    // last: the calendar, its tokens and its tier stay hers.
    let (store, _dir, sealer, tenant, staff) = one_staff_member(db).await;
    let next = chrono::Utc::now() + chrono::Duration::minutes(15);
    let organisation = organisation_of(&store, &sealer, tenant, next).await;
    let member = || CoveredMember {
        organisation_id: organisation,
        directory_id: "1001".into(),
        email: "ann@example.com".into(),
    };
    let covered = ann_grant(staff, "ya29.organisation", true);
    let covered =
        connections::covered(&store, &sealer, tenant, covered, next, member()).await.unwrap();

    let own = ann_grant(staff, "ya29.hers", false);
    let own = connections::connected(&store, &sealer, tenant, own, next).await.unwrap();
    assert_eq!(own.id, covered.id);
    let late = ann_grant(staff, "ya29.organisation-again", true);
    let refused = connections::covered(&store, &sealer, tenant, late, next, member()).await;
    assert!(matches!(refused, Err(StoreError::DuplicateConnection)), "{refused:?}");

    let calendar = store.connection(tenant, own.id).await.unwrap();
    assert!(!calendar.busy_only && calendar.is_default, "{calendar:?}");
    let kept = store.connection_tokens(own.id, &sealer).await.unwrap().unwrap();
    assert_eq!(kept.tokens.access_token.expose_secret(), "ya29.hers");
    let members = store.organisation_members(tenant, organisation).await.unwrap();
    assert_eq!((members[0].state.as_str(), members[0].connection_id), ("failed", None));
}

async fn a_calendar_connected_by_hand_at_the_moment_an_organisation_first_covers_it_is_the_staff_members(
    db: Db,
) {
    // Neither save finds the calendar, and both add it: the one that comes second saves over
    // the first, as a reconnection would, rather than failing on the account being taken.
    let (store, _dir, sealer, tenant, staff) = one_staff_member(db).await;
    let next = chrono::Utc::now() + chrono::Duration::minutes(15);
    let organisation = organisation_of(&store, &sealer, tenant, next).await;
    let member = CoveredMember {
        organisation_id: organisation,
        directory_id: "1001".into(),
        email: "ann@example.com".into(),
    };
    let covered = ann_grant(staff, "ya29.organisation", true);
    let own = ann_grant(staff, "ya29.hers", false);
    let (covered, own) = tokio::join!(
        connections::covered(&store, &sealer, tenant, covered, next, member),
        connections::connected(&store, &sealer, tenant, own, next),
    );
    let own = own.unwrap();
    assert!(
        covered.as_ref().is_ok_and(|c| c.id == own.id)
            || matches!(covered, Err(StoreError::DuplicateConnection)),
        "{covered:?}"
    );
    let calendar = store.connection(tenant, own.id).await.unwrap();
    assert!(!calendar.busy_only && calendar.is_default, "{calendar:?}");
    let kept = store.connection_tokens(own.id, &sealer).await.unwrap().unwrap();
    assert_eq!(kept.tokens.access_token.expose_secret(), "ya29.hers");
    assert_eq!(store.list_connections(tenant, Some(staff)).await.unwrap().len(), 1);
}

async fn a_hold_is_renewed_while_its_work_is_writing(db: Db) {
    // A long read of a directory writes all the time it holds the organisation; on SQLite its
    // one writer is then nearly always the work's. A renewal waiting for it must not stop the
    // work that would give it back (the work then failed on the pool's timeout).
    let (store, _dir, sealer, tenant, _) = one_staff_member(db).await;
    let held = lease_end(Duration::from_secs(60));
    let id = organisation_of(&store, &sealer, tenant, held).await;
    let length = Duration::from_millis(300);
    let writes = async {
        let until = std::time::Instant::now() + Duration::from_secs(2);
        let mut written = 0;
        while std::time::Instant::now() < until {
            store.record_organisation_refresh(id, DirectoryRead::Done).await.unwrap();
            written += 1;
        }
        written
    };
    let done = store.hold(&Lease::ORGANISATION, id.into(), held, length, writes).await;
    assert!(matches!(done, Ok(Some((written, _))) if written > 0), "{done:?}");
}

/// A Google Workspace organisation connection of `tenant`, in the busy-times-only tier.
async fn organisation_of(
    store: &kalends_store::Store,
    sealer: &Sealer,
    tenant: Uuid,
    held_until: chrono::DateTime<chrono::Utc>,
) -> Uuid {
    let organisation = NewOrganisationConnection {
        provider: "google".into(),
        domain: "example.com".into(),
        admin_email: Some("admin@example.com".into()),
        org_unit: None,
        busy_only: true,
        service_account: "kalends@salon-123.iam.gserviceaccount.com".into(),
        key: SecretString::from("{}"),
    };
    let entry = NewLogEntry {
        action: OrganisationAction::Connected,
        by: Actor::Console,
        detail: "1 user in scope".into(),
    };
    let created =
        store.create_organisation_connection(tenant, organisation, sealer, &entry, held_until);
    created.await.unwrap().id
}

/// How many of the staff member's calendars are their default.
async fn defaults_of(store: &kalends_store::Store, tenant: Uuid, staff: Uuid) -> usize {
    let listed = store.list_connections(tenant, Some(staff)).await.unwrap();
    let defaults: Vec<_> = listed.iter().filter(|c| c.is_default).collect();
    assert!(defaults.iter().all(|c| c.status != kalends_core::domain::ConnectionStatus::Revoked));
    defaults.len()
}

/// A store with a tenant, its sealer and one staff member, Ann.
async fn one_staff_member(
    db: Db,
) -> (kalends_store::Store, TempDir, Sealer, uuid::Uuid, uuid::Uuid) {
    let dir = TempDir::new();
    let store = helpers::store(db, &dir).await;
    let tenant = helpers::tenant(&store, "UTC").await;
    let staff = NewStaff { external_id: None, name: "Ann".into(), email: None, time_zone: None };
    let staff = store.create_staff(tenant.id, staff).await.unwrap();
    (store, dir, Sealer::new(&key(1), &[]), tenant.id, staff.id)
}

/// Ann's Google account with one writable calendar, as a grant of `access` brings it.
fn ann_grant(staff_id: uuid::Uuid, access: &str, busy_only: bool) -> NewConnection {
    NewConnection {
        staff_id,
        provider: Provider::Google,
        account_email: "ann@example.com".into(),
        calendars: vec![ConnectionCalendar {
            id: "primary".into(),
            name: "Ann".into(),
            primary: true,
            writable: true,
        }],
        tokens: ConnectionTokens {
            access_token: SecretString::from(access.to_owned()),
            refresh_token: (!busy_only).then(|| SecretString::from("1//refresh")),
            expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
        },
        busy_only,
    }
}
