//! The client against the sandbox on a port, through the real crate.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use kalends_sandbox::{Sandbox, SandboxConfig};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::GoogleCalendar;
use crate::ProviderError;
use crate::calendar::{
    AccessToken, BusyInterval, Change, ChangeSet, EventDraft, EventKey, Span, SubscriptionRequest,
    Window,
};

const ANN: &str = "ann@example.com";

/// A sandbox on a port, a client pointed at it and Ann's access token.
struct Fixture {
    base: String,
    http: reqwest::Client,
    google: GoogleCalendar,
    token: AccessToken,
}

impl Fixture {
    async fn start() -> Self {
        Self::with_timeout(Duration::from_secs(10)).await
    }

    async fn with_timeout(timeout: Duration) -> Self {
        let sandbox = Sandbox::new(SandboxConfig::for_public_url("http://127.0.0.1:9"));
        let http = kalends_sandbox::control_client(&sandbox);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, sandbox.router()).await });
        let minted: Value = http
            .post(format!("{base}/_control/tokens"))
            .json(&json!({"provider": "google", "email": ANN}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = AccessToken::new(minted["access_token"].as_str().unwrap());
        let google = GoogleCalendar::new(&format!("{base}/google/calendar/v3"), timeout).unwrap();
        Self { base, http, google, token }
    }

    async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}/_control{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap_or(Value::Null)
    }

    async fn stored(&self) -> Vec<Value> {
        let path = format!("/google/calendars/{ANN}/primary/events");
        self.control(reqwest::Method::GET, &path, None).await.as_array().unwrap().clone()
    }

    async fn seed(&self, event: Value) -> String {
        let path = format!("/google/calendars/{ANN}/primary/events");
        let stored = self.control(reqwest::Method::POST, &path, Some(event)).await;
        stored["id"].as_str().unwrap().to_owned()
    }

    async fn faults(&self, faults: Value) {
        self.control(reqwest::Method::PUT, "/faults", Some(faults)).await;
    }
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn march() -> Window {
    Window { start: at("2025-03-01T00:00:00Z"), end: at("2025-04-01T00:00:00Z") }
}

fn draft(booking: u128, summary: &str, start: &str, end: &str) -> EventDraft {
    EventDraft {
        key: EventKey { booking_id: Uuid::from_u128(booking), connection_id: Uuid::from_u128(99) },
        tenant_id: Uuid::from_u128(98),
        summary: summary.into(),
        description: Some("Booked through Kalends".into()),
        location: Some("Room 1".into()),
        time: Span::Timed { start: at(start), end: at(end) },
        zone: "Europe/Zurich".parse().unwrap(),
        tentative: false,
        colour: Some("banana".into()),
        reminder_minutes: vec![30, 10],
    }
}

fn stay() -> EventDraft {
    EventDraft {
        time: Span::AllDay {
            start: NaiveDate::from_ymd_opt(2025, 3, 10).unwrap(),
            end: NaiveDate::from_ymd_opt(2025, 3, 12).unwrap(),
        },
        ..draft(2, "Stay", "2025-03-10T00:00:00Z", "2025-03-12T00:00:00Z")
    }
}

fn user_event(summary: &str, start: &str, end: &str) -> Value {
    json!({"summary": summary, "start": {"dateTime": start}, "end": {"dateTime": end}})
}

#[tokio::test]
async fn an_event_is_created_updated_and_deleted() {
    let f = Fixture::start().await;
    let first = draft(1, "Massage", "2025-03-03T09:00:00Z", "2025-03-03T10:00:00Z");
    let created = f.google.upsert_event(&f.token, "primary", &first, None).await.unwrap();
    assert_eq!(created.id, first.key.google_event_id());
    assert_eq!(created.booking_id, Some(first.key.booking_id));
    assert_eq!(created.time, first.time);
    assert!(created.busy);

    let moved = draft(1, "Massage (moved)", "2025-03-04T09:00:00Z", "2025-03-04T10:30:00Z");
    let updated =
        f.google.upsert_event(&f.token, "primary", &moved, Some(&created.id)).await.unwrap();
    assert_eq!(updated.id, created.id);
    assert_ne!(updated.etag, created.etag);
    let read = f.google.get_event(&f.token, "primary", &created.id).await.unwrap().unwrap();
    assert_eq!(read.summary.as_deref(), Some("Massage (moved)"));
    assert_eq!(read.time, moved.time);
    let stored = f.stored().await;
    assert_eq!(stored[0]["sequence"], 1, "a time change bumps the sequence");
    assert_eq!(stored[0]["extendedProperties"]["private"]["kalends"], "1");
    assert_eq!(
        stored[0]["reminders"],
        json!({"useDefault": false, "overrides": [
        {"method": "popup", "minutes": 10}, {"method": "popup", "minutes": 30}]})
    );

    f.google.delete_event(&f.token, "primary", &created.id).await.unwrap();
    assert_eq!(f.google.get_event(&f.token, "primary", &created.id).await.unwrap(), None);
}

#[tokio::test]
async fn an_all_day_stay_keeps_its_exclusive_end_date() {
    let f = Fixture::start().await;
    let created = f.google.upsert_event(&f.token, "primary", &stay(), None).await.unwrap();
    assert_eq!(created.time, stay().time);
    assert_eq!(f.stored().await[0]["end"], json!({"date": "2025-03-12"}));
}

#[tokio::test]
async fn a_retried_insert_never_makes_a_second_event() {
    let f = Fixture::start().await;
    let booking = draft(1, "Massage", "2025-03-03T09:00:00Z", "2025-03-03T10:00:00Z");
    let first = f.google.upsert_event(&f.token, "primary", &booking, None).await.unwrap();
    let again = f.google.upsert_event(&f.token, "primary", &booking, None).await.unwrap();
    assert_eq!(first.id, again.id);
    assert_eq!(f.stored().await.len(), 1);

    f.google.delete_event(&f.token, "primary", &first.id).await.unwrap();
    let back = f.google.upsert_event(&f.token, "primary", &booking, None).await.unwrap();
    assert_eq!(back.id, first.id);
    let stored = f.stored().await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["status"], "confirmed", "the deleted event is brought back");
}

#[tokio::test]
async fn an_update_of_a_vanished_remote_id_inserts_the_event_again() {
    let f = Fixture::start().await;
    let booking = draft(1, "Massage", "2025-03-03T09:00:00Z", "2025-03-03T10:00:00Z");
    let event =
        f.google.upsert_event(&f.token, "primary", &booking, Some("unknown0id")).await.unwrap();
    assert_eq!(event.id, booking.key.google_event_id());
}

#[tokio::test]
async fn deleting_twice_or_deleting_an_unknown_event_is_ok_and_says_nothing_was_there() {
    let f = Fixture::start().await;
    let booking = draft(1, "Massage", "2025-03-03T09:00:00Z", "2025-03-03T10:00:00Z");
    let event = f.google.upsert_event(&f.token, "primary", &booking, None).await.unwrap();
    assert!(f.google.delete_event(&f.token, "primary", &event.id).await.unwrap(), "removed");
    assert!(!f.google.delete_event(&f.token, "primary", &event.id).await.unwrap());
    assert!(!f.google.delete_event(&f.token, "primary", "neverexisted").await.unwrap());
    let stored = f.stored().await;
    assert_eq!(stored.len(), 1, "nothing made by the deletes: {stored:?}");
    assert_eq!(stored[0]["status"], "cancelled", "the event is deleted");
}

#[tokio::test]
async fn changes_list_the_window_first_then_report_updates_and_deletions() {
    let f = Fixture::start().await;
    let booking = draft(1, "Massage", "2025-03-03T09:00:00Z", "2025-03-03T10:00:00Z");
    let ours = f.google.upsert_event(&f.token, "primary", &booking, None).await.unwrap();
    let theirs =
        f.seed(user_event("Dentist", "2025-03-05T14:00:00Z", "2025-03-05T15:00:00Z")).await;
    f.seed(user_event("Last year", "2024-03-05T14:00:00Z", "2024-03-05T15:00:00Z")).await;

    let first = f.google.changes(&f.token, "primary", None, march()).await.unwrap();
    let ChangeSet::Changes { changes, next_cursor } = first else { panic!("{first:?}") };
    let ids: Vec<_> = changes.iter().map(upserted_id).collect();
    assert_eq!(ids, vec![ours.id.clone(), theirs.clone()]);

    let moved = draft(1, "Massage", "2025-03-06T09:00:00Z", "2025-03-06T10:00:00Z");
    f.google.upsert_event(&f.token, "primary", &moved, Some(&ours.id)).await.unwrap();
    let path = format!("/google/calendars/{ANN}/primary/events/{theirs}");
    f.control(reqwest::Method::DELETE, &path, None).await;

    let second = f.google.changes(&f.token, "primary", Some(&next_cursor), march()).await.unwrap();
    let ChangeSet::Changes { changes, next_cursor } = second else { panic!("{second:?}") };
    assert_eq!(changes.len(), 2);
    let Change::Upserted(updated) = &changes[0] else { panic!("{changes:?}") };
    assert_eq!((updated.id.as_str(), &updated.time), (ours.id.as_str(), &moved.time));
    assert_eq!(changes[1], Change::Deleted { id: theirs });

    let third = f.google.changes(&f.token, "primary", Some(&next_cursor), march()).await.unwrap();
    assert!(matches!(third, ChangeSet::Changes { changes, .. } if changes.is_empty()));
}

fn upserted_id(change: &Change) -> String {
    match change {
        Change::Upserted(event) => event.id.clone(),
        Change::Deleted { id } => panic!("unexpected deletion of {id}"),
    }
}

#[tokio::test]
async fn an_invalidated_sync_token_requires_a_full_sync() {
    let f = Fixture::start().await;
    let first = f.google.changes(&f.token, "primary", None, march()).await.unwrap();
    let ChangeSet::Changes { next_cursor, .. } = first else { panic!("{first:?}") };
    f.control(reqwest::Method::POST, "/google/invalidate-sync-tokens", None).await;
    let second = f.google.changes(&f.token, "primary", Some(&next_cursor), march()).await;
    assert_eq!(second.unwrap(), ChangeSet::FullSyncRequired);
}

#[tokio::test]
async fn kalends_events_are_found_by_their_marker_and_window() {
    let f = Fixture::start().await;
    let booking = draft(1, "Massage", "2025-03-03T09:00:00Z", "2025-03-03T10:00:00Z");
    let ours = f.google.upsert_event(&f.token, "primary", &booking, None).await.unwrap();
    let april = draft(3, "Later", "2025-04-03T09:00:00Z", "2025-04-03T10:00:00Z");
    f.google.upsert_event(&f.token, "primary", &april, None).await.unwrap();
    f.seed(user_event("Dentist", "2025-03-05T14:00:00Z", "2025-03-05T15:00:00Z")).await;
    let found = f.google.list_kalends_events(&f.token, "primary", march()).await.unwrap();
    assert_eq!(found, vec![ours]);
}

#[tokio::test]
async fn free_busy_ignores_transparent_and_cancelled_events() {
    let f = Fixture::start().await;
    f.seed(user_event("Dentist", "2025-03-05T14:00:00Z", "2025-03-05T15:00:00Z")).await;
    f.seed(user_event("Overlap", "2025-03-05T14:30:00Z", "2025-03-05T15:30:00Z")).await;
    let mut free = user_event("Reminder", "2025-03-06T09:00:00Z", "2025-03-06T10:00:00Z");
    free["transparency"] = "transparent".into();
    f.seed(free).await;
    let gone = f.seed(user_event("Gone", "2025-03-07T09:00:00Z", "2025-03-07T10:00:00Z")).await;
    let path = format!("/google/calendars/{ANN}/primary/events/{gone}");
    f.control(reqwest::Method::DELETE, &path, None).await;

    let busy = f.google.free_busy(&f.token, &[ANN.to_owned()], march()).await.unwrap();
    assert_eq!(
        busy,
        vec![BusyInterval { start: at("2025-03-05T14:00:00Z"), end: at("2025-03-05T15:30:00Z") }]
    );
    let unknown = f.google.free_busy(&f.token, &["nobody@example.com".to_owned()], march()).await;
    assert!(matches!(unknown, Err(ProviderError::NotFound { .. })), "{unknown:?}");
}

#[tokio::test]
async fn the_calendar_list_has_the_writable_primary_and_the_read_only_team_calendar() {
    let f = Fixture::start().await;
    let calendars = f.google.list_calendars(&f.token).await.unwrap();
    assert_eq!(calendars.len(), 2);
    assert_eq!(calendars[0].id, ANN);
    assert!(calendars[0].primary && calendars[0].writable);
    assert_eq!(calendars[1].name, "Team holidays");
    assert!(!calendars[1].primary && !calendars[1].writable);
    assert!(calendars[1].id.ends_with("@group.calendar.google.com"));
    assert_eq!(f.google.primary_email(&f.token).await.unwrap(), ANN);
}

#[tokio::test]
async fn writing_to_the_read_only_calendar_is_a_permanent_403() {
    let f = Fixture::start().await;
    let calendars = f.google.list_calendars(&f.token).await.unwrap();
    let booking = draft(1, "Massage", "2025-03-03T09:00:00Z", "2025-03-03T10:00:00Z");
    let refused = f.google.upsert_event(&f.token, &calendars[1].id, &booking, None).await;
    let Err(ProviderError::Permanent { status, message }) = refused else { panic!("{refused:?}") };
    assert_eq!(status, 403);
    assert_eq!(message, "You need to have writer access to this calendar.");
}

#[tokio::test]
async fn an_expired_access_token_is_unauthorized() {
    let f = Fixture::start().await;
    f.control(reqwest::Method::POST, "/expire-tokens", Some(json!({}))).await;
    let refused = f.google.list_calendars(&f.token).await;
    assert!(matches!(refused, Err(ProviderError::Unauthorized { .. })), "{refused:?}");
}

#[tokio::test]
async fn a_rate_limit_is_transient_and_carries_its_retry_after() {
    let f = Fixture::start().await;
    f.faults(json!({"rate_limit_rate": 1.0, "retry_after_secs": 2.5})).await;
    let refused = f.google.get_event(&f.token, "primary", "abcdefgh").await;
    let Err(error) = refused else { panic!("{refused:?}") };
    assert!(matches!(error, ProviderError::Transient { .. }), "{error:?}");
    assert_eq!(error.retry_after(), Some(Duration::from_millis(2500)));
}

#[tokio::test]
async fn a_503_is_transient() {
    let f = Fixture::start().await;
    f.faults(json!({"error_rate": 1.0})).await;
    let refused = f.google.list_calendars(&f.token).await;
    assert!(matches!(refused, Err(ProviderError::Transient { retry_after: None, .. })));
    assert!(!refused.unwrap_err().may_still_land(), "Google answered");
}

#[tokio::test]
async fn a_dropped_connection_is_transient_even_for_a_delete() {
    let f = Fixture::start().await;
    f.faults(json!({"drop_rate": 1.0})).await;
    let read = f.google.get_event(&f.token, "primary", "abcdefgh").await;
    assert!(matches!(read, Err(ProviderError::Transient { .. })), "{read:?}");
    let deleted = f.google.delete_event(&f.token, "primary", "abcdefgh").await;
    assert!(matches!(deleted, Err(ProviderError::Transient { .. })), "{deleted:?}");
    assert!(deleted.unwrap_err().may_still_land(), "the answer was lost, not the call");
}

#[tokio::test]
async fn a_slow_answer_times_out_as_transient() {
    let f = Fixture::with_timeout(Duration::from_millis(100)).await;
    f.faults(json!({"latency_ms": 1000})).await;
    let slow = f.google.list_calendars(&f.token).await;
    assert!(matches!(slow, Err(ProviderError::Transient { .. })), "{slow:?}");
    assert!(slow.unwrap_err().may_still_land(), "the call may still be carried out");
}

#[tokio::test]
async fn nothing_listening_is_transient_and_nothing_was_sent() {
    let google = GoogleCalendar::new("http://127.0.0.1:9/", Duration::from_secs(2)).unwrap();
    let error = google.list_calendars(&AccessToken::new("t")).await.unwrap_err();
    assert!(matches!(error, ProviderError::Transient { .. }), "{error:?}");
    assert!(!error.may_still_land(), "nothing was sent: {error:?}");
}

/// Receives push notifications; sends each one's headers down a channel.
async fn receiver() -> (String, mpsc::UnboundedReceiver<axum::http::HeaderMap>) {
    let (sender, headers) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/webhooks/google",
        axum::routing::post(move |received: axum::http::HeaderMap| {
            let sender = sender.clone();
            async move {
                let _ = sender.send(received);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/google", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, headers)
}

async fn next(
    headers: &mut mpsc::UnboundedReceiver<axum::http::HeaderMap>,
) -> axum::http::HeaderMap {
    tokio::time::timeout(Duration::from_secs(5), headers.recv()).await.unwrap().unwrap()
}

fn header<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or_default()
}

#[tokio::test]
async fn a_watch_channel_notifies_after_a_change_until_it_is_stopped() {
    let f = Fixture::start().await;
    let (url, mut received) = receiver().await;
    let request = SubscriptionRequest {
        calendar_id: "primary".into(),
        callback_url: url,
        channel_id: Uuid::from_u128(5).to_string(),
        secret: SecretString::from("channel-secret"),
        expires_at: Utc::now() + chrono::Duration::days(2),
    };
    let subscription = f.google.watch(&f.token, &request).await.unwrap();
    assert_eq!(subscription.id, request.channel_id);
    assert!(subscription.resource_id.is_some());
    let asked = request.expires_at.timestamp_millis();
    assert_eq!(subscription.expires_at.timestamp_millis(), asked);

    let sync = next(&mut received).await;
    assert_eq!(header(&sync, "x-goog-resource-state"), "sync");
    assert_eq!(header(&sync, "x-goog-channel-token"), "channel-secret");
    assert_eq!(header(&sync, "x-goog-channel-id"), request.channel_id);
    assert_eq!(Some(header(&sync, "x-goog-resource-id")), subscription.resource_id.as_deref());

    let booking = draft(1, "Massage", "2025-03-03T09:00:00Z", "2025-03-03T10:00:00Z");
    f.google.upsert_event(&f.token, "primary", &booking, None).await.unwrap();
    let change = next(&mut received).await;
    assert_eq!(header(&change, "x-goog-resource-state"), "exists");
    assert_eq!(header(&change, "x-goog-message-number"), "2");

    f.google.stop(&f.token, &subscription).await.unwrap();
    f.google.delete_event(&f.token, "primary", &booking.key.google_event_id()).await.unwrap();
    let silent = tokio::time::timeout(Duration::from_millis(300), received.recv()).await;
    assert!(silent.is_err(), "a stopped channel sends nothing");
    f.google.stop(&f.token, &subscription).await.unwrap();
}

/// A server that answers every request with a 200 whose body stops short, then hangs up.
async fn cut_off_server() -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/calendar/v3", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let head =
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 40\r\n\r\n{";
            let _ = socket.write_all(head.as_bytes()).await;
        }
    });
    base
}

#[tokio::test]
async fn an_answer_cut_off_after_the_status_line_is_transient_even_for_a_delete() {
    let google = GoogleCalendar::new(&cut_off_server().await, Duration::from_secs(5)).unwrap();
    let token = AccessToken::new("ya29.test");
    let deleted = google.delete_event(&token, "primary", "abcdefgh").await;
    assert!(matches!(deleted, Err(ProviderError::Transient { .. })), "{deleted:?}");
    let read = google.get_event(&token, "primary", "abcdefgh").await;
    assert!(matches!(read, Err(ProviderError::Transient { .. })), "{read:?}");
}
