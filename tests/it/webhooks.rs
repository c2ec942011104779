//! Push notifications: channels and subscriptions made on connect, notifications checked and
//! turned into one import per burst.

use std::time::Duration;

use kalends::api::staff::StaffIn;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::connect::{Browser, connect};
use crate::helpers::{self, Db, TestApp, eventually};

/// Kalends with the scheduled imports out of the way (only notifications import here).
async fn app() -> TestApp {
    TestApp::start_public_with(Db::Sqlite, |config| config.import.scheduler_interval_secs = 3600)
        .await
}

async fn connected(app: &TestApp, provider: &str, email: &str) -> (String, Uuid) {
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let staff = StaffIn { name: "Ann".into(), email: Some(email.into()), ..StaffIn::default() };
    let staff_id = api.create_staff(&staff).await.unwrap().id;
    let browser = Browser::new();
    browser.get(&api.settings_link(staff_id).await.unwrap().url).await;
    connect(app, &browser, provider, email, "allow").await;
    (key, staff_id)
}

/// A sandbox control list (channels, subscriptions), once the jobs that connecting queued ran.
async fn sandbox_list(app: &TestApp, path: &str) -> Vec<Value> {
    app.settle().await;
    app.sandbox_json(path).await
}

async fn counter(app: &TestApp, route: &str) -> u64 {
    let counts: Value = app.sandbox_json("/sandbox/_control/requests").await;
    counts[route].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn a_burst_of_google_notifications_runs_one_import() {
    let app = app().await;
    let (key, staff_id) = connected(&app, "google", "ann@example.com").await;
    let channels = sandbox_list(&app, "/sandbox/_control/google/channels").await;
    assert_eq!(channels.len(), 1, "one channel for the one busy calendar: {channels:?}");
    assert!(channels[0]["address"].as_str().unwrap().ends_with("/webhooks/google"));

    // Ann edits her calendar 100 times in a burst: Google notifies each time. (Imports reach
    // 18 months ahead: a day next month.)
    let day = chrono::Utc::now().date_naive() + chrono::Duration::days(30);
    let http = app.sandbox();
    let events =
        app.url("/sandbox/_control/google/calendars/ann@example.com/ann@example.com/events");
    let (start, end) = (format!("{day}T09:00:00Z"), format!("{day}T10:00:00Z"));
    let dentist =
        json!({"summary": "Dentist", "start": {"dateTime": start}, "end": {"dateTime": end}});
    let seeded: Value = helpers::answer(http.post(&events).json(&dentist)).await;
    // Each import asks for the changes since its sync token once (and lists the single events
    // beyond its window apart).
    let before = counter(&app, "GET google events.list with syncToken").await;
    for minute in 0..100 {
        let edit = json!({"end": {"dateTime": format!("{day}T10:{:02}:00Z", minute % 60)}});
        http.patch(format!("{events}/{}", seeded["id"].as_str().unwrap()))
            .json(&edit)
            .send()
            .await
            .unwrap();
    }
    let busy = eventually(Duration::from_secs(20), || async {
        let path = format!(
            "/api/v1/availability?staff_id={staff_id}&from={day}T00:00:00Z&to={day}T23:00:00Z"
        );
        let (_, availability) = app.call("GET", &path, &key, None).await;
        let busy = availability["busy"].as_array()?.clone();
        busy.iter().any(|b| b["source"] == "calendar").then_some(busy)
    })
    .await;
    assert_eq!(busy.len(), 1, "{busy:?}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let imports = counter(&app, "GET google events.list with syncToken").await - before;
    assert!((1..=2).contains(&imports), "a burst of 101 notifications ran {imports} imports");
    app.stop().await;
}

#[tokio::test]
async fn a_calendar_an_organisation_covers_is_watched_and_its_change_arrives_by_notification() {
    let app = app().await;
    let (_, key) = app.tenant().await;
    crate::organisations::cover_one(&app, &key, "bo@salon.example").await;
    let channels = sandbox_list(&app, "/sandbox/_control/google/channels").await;
    assert_eq!(channels.len(), 1, "the covered calendar is watched: {channels:?}");
    let staff_id = app.api(&key).connections().await.unwrap()[0].staff_id;

    // Bo adds an appointment in his Workspace calendar; no import is scheduled within the hour,
    // so only Google's notification can bring it.
    let day = chrono::Utc::now().date_naive() + chrono::Duration::days(3);
    let events =
        app.url("/sandbox/_control/google/calendars/bo@salon.example/bo@salon.example/events");
    let (start, end) = (format!("{day}T09:00:00Z"), format!("{day}T10:00:00Z"));
    let dentist =
        json!({"summary": "Dentist", "start": {"dateTime": start}, "end": {"dateTime": end}});
    let _: Value = helpers::answer(app.sandbox().post(&events).json(&dentist)).await;
    until_busy(&app, &key, staff_id, day, "Dentist").await;
    app.stop().await;
}

#[tokio::test]
async fn a_microsoft_365_calendar_an_organisation_covers_is_subscribed_to_and_its_change_arrives() {
    let app = app().await;
    let (_, key) = app.tenant().await;
    crate::organisations_microsoft::cover_one(&app, &key, "bo@salon.example").await;
    let subscriptions = sandbox_list(&app, "/sandbox/_control/microsoft/subscriptions").await;
    assert_eq!(subscriptions.len(), 1, "the covered mailbox is subscribed to: {subscriptions:?}");
    assert!(subscriptions[0]["resource"].as_str().unwrap().starts_with("users/"));
    let staff_id = app.api(&key).connections().await.unwrap()[0].staff_id;

    // Bo adds an appointment in Outlook; only Graph's notification can bring it within the hour.
    let day = chrono::Utc::now().date_naive() + chrono::Duration::days(3);
    let events = app.url("/sandbox/_control/microsoft/users/bo@salon.example/events");
    let dentist = json!({
        "subject": "Dentist",
        "start": {"dateTime": format!("{day}T09:00:00"), "timeZone": "UTC"},
        "end": {"dateTime": format!("{day}T10:00:00"), "timeZone": "UTC"},
    });
    let _: Value = helpers::answer(app.sandbox().post(&events).json(&dentist)).await;
    until_busy(&app, &key, staff_id, day, "Dentist").await;
    app.stop().await;
}

/// Waits until the staff member's availability on `day` shows a calendar's busy time `label`.
async fn until_busy(app: &TestApp, key: &str, staff_id: Uuid, day: chrono::NaiveDate, label: &str) {
    eventually(Duration::from_secs(20), || async {
        let path = format!(
            "/api/v1/availability?staff_id={staff_id}&from={day}T00:00:00Z&to={day}T23:00:00Z"
        );
        let (_, availability) = app.call("GET", &path, key, None).await;
        let busy = availability["busy"].as_array()?.clone();
        busy.iter().any(|b| b["source"] == "calendar" && b["label"] == label).then_some(())
    })
    .await;
}

#[tokio::test]
async fn notifications_that_do_not_prove_themselves_are_refused() {
    let app = app().await;
    connected(&app, "google", "ann@example.com").await;
    // The channel Kalends keeps (a watch retried under load may have left another one at the
    // sandbox, which Kalends never learnt of).
    app.settle().await;
    let sql = "SELECT channel_id FROM calendar_channels WHERE provider = 'google'";
    let channel = match app.store.pool() {
        kalends_store::Pool::Sqlite { read, .. } => {
            sqlx::query_scalar::<_, String>(sql).fetch_one(read).await.unwrap()
        }
        kalends_store::Pool::Postgres(pool) => {
            sqlx::query_scalar::<_, String>(sql).fetch_one(pool).await.unwrap()
        }
    };
    let http = crate::helpers::client().build().unwrap();
    let forged = http
        .post(app.url("/webhooks/google"))
        .header("X-Goog-Channel-ID", channel.as_str())
        .header("X-Goog-Channel-Token", "not-the-token")
        .header("X-Goog-Resource-State", "exists")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let unknown = http
        .post(app.url("/webhooks/google"))
        .header("X-Goog-Channel-ID", "someone-elses")
        .header("X-Goog-Channel-Token", "x")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let handshake =
        http.post(app.url("/webhooks/microsoft?validationToken=abc%20123")).send().await.unwrap();
    assert_eq!(handshake.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(handshake.text().await.unwrap(), "abc 123");
    app.stop().await;
}

#[tokio::test]
async fn a_microsoft_connection_subscribes_through_the_validation_handshake() {
    let app = app().await;
    connected(&app, "microsoft", "bo@example.com").await;
    let subscriptions = sandbox_list(&app, "/sandbox/_control/microsoft/subscriptions").await;
    assert_eq!(subscriptions.len(), 1, "{subscriptions:?}");
    app.stop().await;
}
