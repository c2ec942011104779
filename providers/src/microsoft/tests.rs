//! The client against the sandbox on a port, through the real graph-rs-sdk.

use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use chrono::{DateTime, NaiveDate, Utc};
use kalends_sandbox::{Faults, Sandbox, SandboxConfig};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::MicrosoftCalendar;
use crate::ProviderError;
use crate::calendar::{
    AccessToken, Change, ChangeSet, EventDraft, EventKey, Span, SubscriptionRequest, Window,
};
use crate::test_server::{Reply, STREAM_TOTAL, TestServer, Then};

/// A sandbox served on a port, and a client pointed at it.
struct Harness {
    sandbox: Sandbox,
    /// Where `/_control` lives.
    control: String,
    client: MicrosoftCalendar,
    http: reqwest::Client,
}

impl Harness {
    /// The sandbox at the root of its own server.
    async fn start() -> Self {
        Self::serve("").await
    }

    /// The sandbox nested under `prefix` in a bigger app.
    async fn serve(prefix: &str) -> Self {
        let sandbox = Sandbox::new(SandboxConfig::for_public_url("http://127.0.0.1:9"));
        let http = kalends_sandbox::control_client(&sandbox);
        let app = if prefix.is_empty() {
            sandbox.router()
        } else {
            Router::new().nest(prefix, sandbox.router())
        };
        let root = serve(app).await;
        let client = MicrosoftCalendar::new(
            &format!("{root}{prefix}/microsoft/v1.0"),
            Duration::from_secs(5),
        )
        .unwrap();
        Self { sandbox, control: format!("{root}{prefix}/_control"), client, http }
    }

    /// An access token for the account (created on first use).
    async fn token(&self, email: &str) -> AccessToken {
        let body: Value = self
            .http
            .post(format!("{}/tokens", self.control))
            .json(&json!({"provider": "microsoft", "email": email}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        AccessToken::new(body["access_token"].as_str().unwrap())
    }

    /// Seeds an event as the user would make it in Outlook.
    async fn seed(&self, email: &str, event: Value) -> String {
        let response = self
            .http
            .post(format!("{}/microsoft/users/{email}/events", self.control))
            .json(&event)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    /// Every event the sandbox holds for the account, deleted ones flagged.
    async fn events(&self, email: &str) -> Vec<Value> {
        self.http
            .get(format!("{}/microsoft/users/{email}/events", self.control))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn control_call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> u16 {
        let mut request = self.http.request(method, format!("{}{path}", self.control));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap().status().as_u16()
    }
}

/// Serves an app on a free port; returns `http://127.0.0.1:PORT`.
pub(super) async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{address}")
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

pub(super) fn window() -> Window {
    Window { start: at("2026-03-01T00:00:00Z"), end: at("2026-04-01T00:00:00Z") }
}

pub(super) fn draft(booking: u128, start: &str, end: &str) -> EventDraft {
    EventDraft {
        key: EventKey { booking_id: Uuid::from_u128(booking), connection_id: Uuid::from_u128(99) },
        tenant_id: Uuid::from_u128(98),
        summary: "Massage with Ann".into(),
        description: Some("Booked through Kalends".into()),
        location: Some("Room 2".into()),
        time: Span::Timed { start: at(start), end: at(end) },
        zone: "Europe/Zurich".parse().unwrap(),
        tentative: false,
        colour: None,
        reminder_minutes: vec![60, 15],
    }
}

fn user_event(subject: &str, start: &str, end: &str, show_as: &str) -> Value {
    json!({
        "subject": subject,
        "start": {"dateTime": start, "timeZone": "UTC"},
        "end": {"dateTime": end, "timeZone": "UTC"},
        "showAs": show_as,
    })
}

#[tokio::test]
async fn me_names_the_account_by_its_mail_address() {
    let harness = Harness::start().await;
    let token = harness.token("ann.lee@example.com").await;
    let me = harness.client.me(&token).await.unwrap();
    assert_eq!(me.email, "ann.lee@example.com");
    assert_eq!(me.name.as_deref(), Some("Ann Lee"));
}

#[tokio::test]
async fn calls_at_once_for_many_accounts_each_carry_their_own_token() {
    // One GraphClient serves every account: each call must still go out as its own account.
    let harness = Harness::start().await;
    let mut accounts = Vec::new();
    for n in 0..20 {
        let email = format!("staff{n}@example.com");
        accounts.push((harness.token(&email).await, email));
    }
    let answers =
        futures::future::join_all(accounts.iter().map(|(token, _)| harness.client.me(token))).await;
    for ((_, email), answer) in accounts.iter().zip(answers) {
        assert_eq!(&answer.unwrap().email, email);
    }
}

#[tokio::test]
async fn calendars_are_listed_and_birthdays_is_not_writable() {
    let harness = Harness::start().await;
    let token = harness.token("ann@example.com").await;
    let calendars = harness.client.list_calendars(&token).await.unwrap();
    assert_eq!(calendars.len(), 2);
    let main = calendars.iter().find(|c| c.name == "Calendar").unwrap();
    assert!(main.primary && main.writable);
    assert!(main.id.starts_with("AAMkAG"));
    let birthdays = calendars.iter().find(|c| c.name == "Birthdays").unwrap();
    assert!(!birthdays.primary && !birthdays.writable);

    let refused = harness
        .client
        .upsert_event(
            &token,
            &birthdays.id,
            &draft(1, "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"),
            None,
        )
        .await;
    assert!(matches!(refused, Err(ProviderError::Permanent { status: 403, .. })));
}

#[tokio::test]
async fn an_event_is_created_updated_and_deleted_with_its_booking_tag() {
    let harness = Harness::start().await;
    let token = harness.token("ann@example.com").await;
    let calendar = harness.client.list_calendars(&token).await.unwrap()[0].id.clone();
    let mut wanted = draft(7, "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z");
    let created = harness.client.upsert_event(&token, &calendar, &wanted, None).await.unwrap();
    assert_eq!(created.booking_id, Some(Uuid::from_u128(7)));
    assert!(created.busy);
    assert!(created.etag.as_deref().is_some_and(|etag| etag.starts_with("W/\"")));

    let stored = &harness.events("ann@example.com").await[0];
    assert_eq!(stored["start"]["dateTime"], "2026-03-02T09:00:00.0000000");
    assert_eq!(stored["originalStartTimeZone"], "Europe/Zurich");
    assert_eq!(stored["transactionId"], wanted.key.transaction_id());
    assert_eq!(stored["reminderMinutesBeforeStart"], 15);
    assert_eq!(stored["location"]["displayName"], "Room 2");
    assert_eq!(stored["singleValueExtendedProperties"][0]["value"], Uuid::from_u128(7).to_string());

    let read = harness.client.get_event(&token, &created.id).await.unwrap().unwrap();
    assert_eq!(read.booking_id, Some(Uuid::from_u128(7)));
    assert_eq!(
        (read.time, read.zone.to_string()),
        (
            Span::Timed { start: at("2026-03-02T09:00:00Z"), end: at("2026-03-02T10:00:00Z") },
            "Europe/Zurich".to_owned()
        )
    );

    wanted.summary = "Massage with Ann (moved)".into();
    wanted.tentative = true;
    let updated =
        harness.client.upsert_event(&token, &calendar, &wanted, Some(&created.id)).await.unwrap();
    assert_eq!(updated.id, created.id);
    assert_eq!(updated.summary.as_deref(), Some("Massage with Ann (moved)"));
    assert_ne!(updated.etag, created.etag);

    harness.client.delete_event(&token, &created.id).await.unwrap();
    assert_eq!(harness.client.get_event(&token, &created.id).await.unwrap(), None);
    assert_eq!(harness.events("ann@example.com").await[0]["deleted"], true);
}

#[tokio::test]
async fn an_appointment_in_the_hour_the_clocks_go_back_keeps_its_instants() {
    let harness = Harness::start().await;
    let token = harness.token("ann@example.com").await;
    let calendar = harness.client.list_calendars(&token).await.unwrap()[0].id.clone();
    // New York goes back from 02:00 EDT to 01:00 EST on 2030-11-03: 05:45Z is 01:45 EDT and
    // 06:30Z is 01:30 EST, so the wall clock alone would end the appointment before it starts.
    let mut repeated = draft(8, "2030-11-03T05:45:00Z", "2030-11-03T06:30:00Z");
    repeated.zone = "America/New_York".parse().unwrap();
    let created = harness.client.upsert_event(&token, &calendar, &repeated, None).await.unwrap();
    let read = harness.client.get_event(&token, &created.id).await.unwrap().unwrap();
    assert_eq!(read.time, repeated.time, "{read:?}");
    // An hour outside the repeated one is still written on the wall clock of its zone.
    let mut plain = draft(9, "2030-11-03T15:00:00Z", "2030-11-03T16:00:00Z");
    plain.zone = "America/New_York".parse().unwrap();
    let created = harness.client.upsert_event(&token, &calendar, &plain, None).await.unwrap();
    let read = harness.client.get_event(&token, &created.id).await.unwrap().unwrap();
    assert_eq!((read.time, read.zone.to_string()), (plain.time, "America/New_York".to_owned()));
}

#[tokio::test]
async fn an_all_day_event_keeps_its_dates_and_a_patch_of_a_gone_event_creates_it_again() {
    let harness = Harness::start().await;
    let token = harness.token("ann@example.com").await;
    let calendar = harness.client.list_calendars(&token).await.unwrap()[0].id.clone();
    let mut stay = draft(8, "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z");
    let dates = Span::AllDay {
        start: NaiveDate::from_ymd_opt(2026, 3, 5).unwrap(),
        end: NaiveDate::from_ymd_opt(2026, 3, 8).unwrap(),
    };
    stay.time = dates;
    let created = harness.client.upsert_event(&token, &calendar, &stay, None).await.unwrap();
    assert_eq!(created.time, dates);
    harness.client.delete_event(&token, &created.id).await.unwrap();

    let again =
        harness.client.upsert_event(&token, &calendar, &stay, Some(&created.id)).await.unwrap();
    assert_ne!(again.id, created.id);
    assert_eq!(again.time, dates);
}

#[tokio::test]
async fn a_retried_create_with_the_same_key_never_makes_a_second_event() {
    let harness = Harness::start().await;
    let token = harness.token("ann@example.com").await;
    let calendar = harness.client.list_calendars(&token).await.unwrap()[0].id.clone();
    let wanted = draft(3, "2026-03-03T09:00:00Z", "2026-03-03T10:00:00Z");
    let first = harness.client.upsert_event(&token, &calendar, &wanted, None).await.unwrap();
    let retry = harness.client.upsert_event(&token, &calendar, &wanted, None).await.unwrap();
    assert_eq!(first.id, retry.id);
    assert_eq!(harness.events("ann@example.com").await.len(), 1);
}

#[tokio::test]
async fn deleting_an_event_that_is_already_gone_is_ok() {
    let harness = Harness::start().await;
    let token = harness.token("ann@example.com").await;
    let id = harness
        .seed(
            "ann@example.com",
            user_event("Dentist", "2026-03-04T08:00:00", "2026-03-04T09:00:00", "busy"),
        )
        .await;
    assert!(harness.client.delete_event(&token, &id).await.unwrap(), "removed");
    assert!(!harness.client.delete_event(&token, &id).await.unwrap(), "gone already");
    assert!(!harness.client.delete_event(&token, "AAMkAGnever-was").await.unwrap());
    let stored = harness.events("ann@example.com").await;
    assert_eq!(stored.len(), 1, "nothing made by the deletes: {stored:?}");
    assert_eq!(stored[0]["deleted"], true, "the event is deleted");
}

#[tokio::test]
async fn listing_kalends_events_skips_the_users_own() {
    let harness = Harness::start().await;
    let token = harness.token("ann@example.com").await;
    let calendar = harness.client.list_calendars(&token).await.unwrap()[0].id.clone();
    harness
        .seed(
            "ann@example.com",
            user_event("Dentist", "2026-03-04T08:00:00", "2026-03-04T09:00:00", "busy"),
        )
        .await;
    let ours = harness
        .client
        .upsert_event(
            &token,
            &calendar,
            &draft(4, "2026-03-05T09:00:00Z", "2026-03-05T10:00:00Z"),
            None,
        )
        .await
        .unwrap();
    let listed = harness.client.list_kalends_events(&token, &calendar, window()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, ours.id);
    assert_eq!(listed[0].booking_id, Some(Uuid::from_u128(4)));
}

#[tokio::test]
async fn delta_lists_the_window_then_only_updates_and_deletions() {
    let harness = Harness::start().await;
    let token = harness.token("ann@example.com").await;
    let mut ids = Vec::new();
    for day in 1..=28 {
        for hour in ["08", "10"] {
            let start = format!("2026-03-{day:02}T{hour}:00:00");
            let end = format!("2026-03-{day:02}T{hour}:30:00");
            ids.push(
                harness.seed("ann@example.com", user_event("Busy", &start, &end, "busy")).await,
            );
        }
    }
    harness
        .seed(
            "ann@example.com",
            user_event("Outside", "2026-05-01T08:00:00", "2026-05-01T09:00:00", "busy"),
        )
        .await;
    let ChangeSet::Changes { changes, next_cursor } =
        harness.client.changes(&token, None, window()).await.unwrap()
    else {
        panic!("a first round cannot require a full sync");
    };
    assert_eq!(changes.len(), 56, "two pages of 50 and 6, the May event left out");
    assert!(next_cursor.contains("/microsoft/v1.0/me/calendarView/delta?$deltatoken="));
    assert!(harness.sandbox.requests_served("GET microsoft calendarView.delta") >= 2);

    let edit = format!("/microsoft/users/ann@example.com/events/{}", ids[0]);
    let patch = json!({"subject": "Moved", "showAs": "free"});
    assert_eq!(harness.control_call(reqwest::Method::PATCH, &edit, Some(patch)).await, 200);
    let gone = format!("/microsoft/users/ann@example.com/events/{}", ids[1]);
    assert_eq!(harness.control_call(reqwest::Method::DELETE, &gone, None).await, 204);

    let ChangeSet::Changes { changes, next_cursor: later } =
        harness.client.changes(&token, Some(&next_cursor), window()).await.unwrap()
    else {
        panic!("a fresh delta link must work");
    };
    assert_eq!(changes.len(), 2);
    let Change::Upserted(moved) = &changes[0] else {
        panic!("the edit comes first: {changes:?}");
    };
    assert_eq!(
        (moved.id.as_str(), moved.summary.as_deref(), moved.busy),
        (ids[0].as_str(), Some("Moved"), false)
    );
    assert_eq!(changes[1], Change::Deleted { id: ids[1].clone() });

    let ChangeSet::Changes { changes, .. } =
        harness.client.changes(&token, Some(&later), window()).await.unwrap()
    else {
        panic!("a fresh delta link must work");
    };
    assert!(changes.is_empty());
}

#[tokio::test]
async fn an_invalidated_delta_link_requires_a_full_sync() {
    let harness = Harness::start().await;
    let token = harness.token("ann@example.com").await;
    let ChangeSet::Changes { next_cursor, .. } =
        harness.client.changes(&token, None, window()).await.unwrap()
    else {
        panic!("a first round cannot require a full sync");
    };
    let status = harness
        .control_call(reqwest::Method::POST, "/microsoft/invalidate-delta-tokens", None)
        .await;
    assert_eq!(status, 200);
    let answer = harness.client.changes(&token, Some(&next_cursor), window()).await.unwrap();
    assert_eq!(answer, ChangeSet::FullSyncRequired);
}

#[tokio::test]
async fn a_cursor_pointing_elsewhere_is_refused_without_sending_the_token() {
    let harness = Harness::start().await;
    let token = harness.token("ann@example.com").await;
    let elsewhere = "http://127.0.0.1:9/microsoft/v1.0/me/calendarView/delta?$deltatoken=x";
    let refused = harness.client.changes(&token, Some(elsewhere), window()).await;
    assert!(matches!(refused, Err(ProviderError::Permanent { status: 0, .. })));
}

#[tokio::test]
async fn free_busy_ignores_free_cancelled_and_declined_events() {
    let harness = Harness::start().await;
    let token = harness.token("ann@example.com").await;
    let email = "ann@example.com";
    harness
        .seed(email, user_event("Busy", "2026-03-02T08:00:00", "2026-03-02T09:00:00", "busy"))
        .await;
    harness
        .seed(email, user_event("Maybe", "2026-03-02T10:00:00", "2026-03-02T11:00:00", "tentative"))
        .await;
    harness
        .seed(email, user_event("Free", "2026-03-02T12:00:00", "2026-03-02T13:00:00", "free"))
        .await;
    let mut cancelled = user_event("Off", "2026-03-02T14:00:00", "2026-03-02T15:00:00", "busy");
    cancelled["isCancelled"] = true.into();
    harness.seed(email, cancelled).await;
    let mut declined = user_event("No", "2026-03-02T16:00:00", "2026-03-02T17:00:00", "busy");
    declined["responseStatus"] = json!({"response": "declined"});
    harness.seed(email, declined).await;

    let busy = harness.client.free_busy(&token, email, window()).await.unwrap();
    let starts: Vec<_> = busy.iter().map(|interval| interval.start).collect();
    assert_eq!(starts, [at("2026-03-02T08:00:00Z"), at("2026-03-02T10:00:00Z")]);
    assert_eq!(busy[0].end, at("2026-03-02T09:00:00Z"));
}

#[tokio::test]
async fn an_expired_token_is_unauthorized() {
    let harness = Harness::start().await;
    let token = harness.token("ann@example.com").await;
    let status = harness
        .control_call(
            reqwest::Method::POST,
            "/expire-tokens",
            Some(json!({"email": "ann@example.com"})),
        )
        .await;
    assert_eq!(status, 200);
    let refused = harness.client.me(&token).await;
    assert!(matches!(refused, Err(ProviderError::Unauthorized { .. })), "{refused:?}");
}

#[tokio::test]
async fn a_429_with_a_fractional_retry_after_is_transient_for_that_long() {
    let harness = Harness::start().await;
    let token = harness.token("ann@example.com").await;
    harness.sandbox.set_faults(Faults {
        rate_limit_rate: 1.0,
        retry_after_secs: 2.128,
        ..Faults::default()
    });
    let error = harness.client.list_calendars(&token).await.unwrap_err();
    assert!(matches!(error, ProviderError::Transient { .. }), "{error:?}");
    assert_eq!(error.retry_after(), Some(Duration::from_millis(2128)));
}

#[test]
fn a_mailbox_graph_does_not_enable_is_no_mailbox_and_other_404s_are_not_found() {
    let answer = |code: &str| super::CallError::Status {
        status: 404,
        code: Some(code.to_owned()),
        message: "The mailbox is either inactive, soft-deleted, or is hosted on-premise.".into(),
        retry_after: None,
    };
    let none = ProviderError::from(answer("MailboxNotEnabledForRESTAPI"));
    assert!(matches!(none, ProviderError::NoMailbox { .. }), "{none:?}");
    assert!(!none.is_retryable());
    assert!(none.to_string().contains("hosted on premises"), "{none}");
    let gone = ProviderError::from(answer("ErrorItemNotFound"));
    assert!(matches!(gone, ProviderError::NotFound { .. }), "{gone:?}");
}

#[tokio::test]
async fn a_503_is_transient() {
    let harness = Harness::start().await;
    let token = harness.token("ann@example.com").await;
    harness.sandbox.set_faults(Faults { error_rate: 1.0, ..Faults::default() });
    let error = harness.client.get_event(&token, "AAMkAGx").await.unwrap_err();
    assert!(matches!(error, ProviderError::Transient { retry_after: None, .. }), "{error:?}");
    assert!(!error.may_still_land(), "Graph answered: {error:?}");
}

#[tokio::test]
async fn a_dropped_connection_is_transient() {
    let harness = Harness::start().await;
    let token = harness.token("ann@example.com").await;
    harness.sandbox.set_faults(Faults { drop_rate: 1.0, ..Faults::default() });
    let error = harness.client.delete_event(&token, "AAMkAGx").await.unwrap_err();
    assert!(matches!(error, ProviderError::Transient { .. }), "{error:?}");
    assert!(error.may_still_land(), "the answer was lost, not the call: {error:?}");
}

#[tokio::test]
async fn nothing_listening_is_transient() {
    let client =
        MicrosoftCalendar::new("http://127.0.0.1:9/microsoft/v1.0", Duration::from_secs(2))
            .unwrap();
    let error = client.me(&AccessToken::new("t")).await.unwrap_err();
    assert!(matches!(error, ProviderError::Transient { .. }), "{error:?}");
    assert!(!error.may_still_land(), "nothing was sent: {error:?}");
}

#[tokio::test]
async fn an_answer_without_end_is_cut_off_at_the_limit_and_refused() {
    // A Graph (a proxy, a double gone wrong) whose 200 never ends: the call stops reading past
    // the limit instead of filling the worker's memory until the request times out.
    let endless = TestServer::start(|_| Reply::head(200, "").then(Then::Stream)).await;
    let graph = endless.url("/v1.0").to_string();
    let client = MicrosoftCalendar::new(&graph, Duration::from_secs(60)).unwrap();
    let token = AccessToken::new("t");
    let listed = tokio::time::timeout(Duration::from_secs(30), client.list_calendars(&token));
    let error = listed.await.expect("the read stops at the limit").unwrap_err();
    assert!(matches!(error, ProviderError::Permanent { .. }), "{error:?}");
    assert!(error.to_string().contains("larger than 16 MiB"), "{error}");
    assert!(endless.streamed_bytes().await < STREAM_TOTAL, "the read hung up at the limit");
}

/// What a webhook receiver does.
#[derive(Clone)]
struct Receiver {
    echo: bool,
    notifications: mpsc::UnboundedSender<Value>,
}

async fn receive(
    State(receiver): State<Receiver>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    if let Some(token) = query.get("validationToken") {
        if !receiver.echo {
            return (StatusCode::OK, "not the token").into_response();
        }
        return (StatusCode::OK, [("content-type", "text/plain")], token.clone()).into_response();
    }
    let _ = receiver.notifications.send(serde_json::from_slice(&body).unwrap_or_default());
    StatusCode::ACCEPTED.into_response()
}

async fn receiver(echo: bool) -> (String, mpsc::UnboundedReceiver<Value>) {
    let (sender, notifications) = mpsc::unbounded_channel();
    let app = Router::new()
        .route("/webhooks/microsoft", axum::routing::post(receive))
        .with_state(Receiver { echo, notifications: sender });
    (format!("{}/webhooks/microsoft", serve(app).await), notifications)
}

fn subscription_request(callback_url: String) -> SubscriptionRequest {
    SubscriptionRequest {
        calendar_id: "ignored".into(),
        callback_url,
        channel_id: "ignored".into(),
        secret: "client-state-secret".to_owned().into(),
        expires_at: Utc::now() + chrono::Duration::days(30),
    }
}

#[tokio::test]
async fn a_validated_subscription_is_notified_of_a_change_then_renewed_and_removed() {
    let harness = Harness::start().await;
    let token = harness.token("ann@example.com").await;
    let (url, mut notifications) = receiver(true).await;
    let subscription = harness.client.subscribe(&token, &subscription_request(url)).await.unwrap();
    assert!(subscription.expires_at <= Utc::now() + chrono::Duration::minutes(10_080));
    assert!(subscription.expires_at > Utc::now() + chrono::Duration::days(6));

    let id = harness
        .seed(
            "ann@example.com",
            user_event("Dentist", "2026-03-04T08:00:00", "2026-03-04T09:00:00", "busy"),
        )
        .await;
    let note =
        tokio::time::timeout(Duration::from_secs(5), notifications.recv()).await.unwrap().unwrap();
    let entry = &note["value"][0];
    assert_eq!(entry["subscriptionId"], subscription.id.as_str());
    assert_eq!(entry["clientState"], "client-state-secret");
    assert_eq!(entry["changeType"], "created");
    assert_eq!(entry["resourceData"]["id"], id.as_str());

    let later = Utc::now() + chrono::Duration::days(2);
    let renewed = harness.client.renew(&token, &subscription.id, later).await.unwrap();
    assert_eq!(renewed.id, subscription.id);
    assert!((renewed.expires_at - later).num_seconds().abs() < 2);

    harness.client.unsubscribe(&token, &subscription.id).await.unwrap();
    harness.client.unsubscribe(&token, &subscription.id).await.unwrap();
    let gone = harness.client.renew(&token, &subscription.id, later).await;
    assert!(matches!(gone, Err(ProviderError::NotFound { .. })), "{gone:?}");
}

#[tokio::test]
async fn a_receiver_that_fails_validation_gets_no_subscription() {
    let harness = Harness::start().await;
    let token = harness.token("ann@example.com").await;
    let (url, _notifications) = receiver(false).await;
    let refused = harness.client.subscribe(&token, &subscription_request(url)).await;
    match refused {
        Err(ProviderError::Permanent { status: 400, message }) => {
            assert!(message.starts_with("Subscription validation request failed"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let listed: Vec<Value> = harness
        .http
        .get(format!("{}/microsoft/subscriptions", harness.control))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listed.is_empty());
}

#[tokio::test]
async fn the_client_works_with_the_sandbox_nested_under_a_path_prefix() {
    let harness = Harness::serve("/sandbox").await;
    let token = harness.token("ann@example.com").await;
    assert_eq!(harness.client.me(&token).await.unwrap().email, "ann@example.com");
    let calendar = harness.client.list_calendars(&token).await.unwrap()[0].id.clone();
    let created = harness
        .client
        .upsert_event(
            &token,
            &calendar,
            &draft(5, "2026-03-06T09:00:00Z", "2026-03-06T10:00:00Z"),
            None,
        )
        .await
        .unwrap();
    let ChangeSet::Changes { changes, next_cursor } =
        harness.client.changes(&token, None, window()).await.unwrap()
    else {
        panic!("a first round cannot require a full sync");
    };
    assert!(
        next_cursor.contains("/sandbox/microsoft/v1.0/me/calendarView/delta?$deltatoken="),
        "{next_cursor}"
    );
    assert!(matches!(&changes[..], [Change::Upserted(event)] if event.id == created.id));
    let again = harness.client.changes(&token, Some(&next_cursor), window()).await.unwrap();
    assert!(matches!(again, ChangeSet::Changes { changes, .. } if changes.is_empty()));
}
