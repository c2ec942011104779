//! The Graph emulator over raw HTTP: the wire details the client does not exercise.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A sandbox on a port and a token for ann@example.com.
struct Graph {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Graph {
    async fn start() -> Self {
        let (root, http, _) = crate::serve_for_tests().await;
        let minted: Value = http
            .post(format!("{root}/_control/tokens"))
            .json(&json!({"provider": "microsoft", "email": "ann@example.com"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Self {
            base: format!("{root}/microsoft/v1.0"),
            token: minted["access_token"].as_str().unwrap().to_owned(),
            http,
        }
    }

    /// Calls `path` (relative to the Graph base, or absolute) and returns status and JSON.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        prefer: Option<&str>,
    ) -> (StatusCode, Value) {
        let url =
            if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.base) };
        let mut request = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(prefer) = prefer {
            request = request.header("prefer", prefer);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn create(&self, body: Value) -> Value {
        let (status, event) = self.call(Method::POST, "/me/events", Some(body), None).await;
        assert_eq!(status, StatusCode::CREATED, "{event}");
        event
    }
}

fn timed(subject: &str, start: &str, end: &str) -> Value {
    json!({
        "subject": subject,
        "start": {"dateTime": start, "timeZone": "Europe/Zurich"},
        "end": {"dateTime": end, "timeZone": "Europe/Zurich"},
    })
}

const WINDOW: &str = "startDateTime=2026-03-01T00:00:00Z&endDateTime=2026-04-01T00:00:00Z";

#[tokio::test]
async fn delta_answers_both_paths_and_a_camel_case_percent_encoded_token() {
    let graph = Graph::start().await;
    graph.create(timed("One", "2026-03-02T10:00:00", "2026-03-02T11:00:00")).await;
    let (status, first) =
        graph.call(Method::GET, &format!("/me/calendarView/delta()?{WINDOW}"), None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["value"].as_array().unwrap().len(), 1);
    let link = first["@odata.deltaLink"].as_str().unwrap();
    let token = link.split_once("$deltatoken=").unwrap().1;
    assert!(link.starts_with(&format!("{}/me/calendarView/delta?", graph.base)));

    let camel = format!("/me/calendarView/delta?%24deltaToken={token}");
    let (status, next) = graph.call(Method::GET, &camel, None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(next["value"], json!([]));

    let (status, gone) =
        graph.call(Method::GET, "/me/calendarView/delta?$deltatoken=unknown", None, None).await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(gone["error"]["code"], "SyncStateNotFound");
}

#[tokio::test]
async fn calendar_view_needs_its_window_pages_with_top_and_answers_in_the_preferred_zone() {
    let graph = Graph::start().await;
    for day in 2..5 {
        let (start, end) = (format!("2026-03-0{day}T10:00:00"), format!("2026-03-0{day}T11:00:00"));
        graph.create(timed("Meeting", &start, &end)).await;
    }
    let (status, refused) = graph.call(Method::GET, "/me/calendarView", None, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(refused["error"]["code"], "ErrorInvalidParameter");

    let (_, page) =
        graph.call(Method::GET, &format!("/me/calendarView?{WINDOW}&$top=2"), None, None).await;
    assert_eq!(page["value"].as_array().unwrap().len(), 2);
    assert_eq!(
        page["value"][0]["start"],
        json!({"dateTime": "2026-03-02T09:00:00.0000000", "timeZone": "UTC"})
    );
    let next = page["@odata.nextLink"].as_str().unwrap();
    assert!(next.contains("%24skip=2") || next.contains("$skip=2"), "{next}");
    let (_, rest) = graph.call(Method::GET, next, None, None).await;
    assert_eq!(rest["value"].as_array().unwrap().len(), 1);
    assert!(rest.get("@odata.nextLink").is_none());

    let zurich = "outlook.timezone=\"Europe/Zurich\"";
    let (_, local) =
        graph.call(Method::GET, &format!("/me/calendarView?{WINDOW}"), None, Some(zurich)).await;
    assert_eq!(local["value"][0]["start"]["dateTime"], "2026-03-02T10:00:00.0000000");
    assert_eq!(local["value"][0]["start"]["timeZone"], "Europe/Zurich");
}

#[tokio::test]
async fn an_all_day_event_must_start_and_end_at_midnight() {
    let graph = Graph::start().await;
    let mut event = timed("Holiday", "2026-03-02T10:00:00", "2026-03-03T00:00:00");
    event["isAllDay"] = true.into();
    let (status, refused) = graph.call(Method::POST, "/me/events", Some(event), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(refused["error"]["code"], "ErrorInvalidRequest");

    let mut event = timed("Holiday", "2026-03-02T00:00:00", "2026-03-03T00:00:00");
    event["isAllDay"] = true.into();
    let created = graph.create(event).await;
    assert_eq!(created["isAllDay"], true);
    assert_eq!(created["end"]["dateTime"], "2026-03-03T00:00:00.0000000");
}

#[tokio::test]
async fn the_extended_property_comes_back_only_when_expanded() {
    let graph = Graph::start().await;
    let property = "String {7a3c3f0e-3b8e-4a9b-9f0e-6b616c656e64} Name KalendsBooking";
    let mut event = timed("Tagged", "2026-03-02T10:00:00", "2026-03-02T11:00:00");
    event["singleValueExtendedProperties"] = json!([{"id": property, "value": "b-1"}]);
    let id = graph.create(event).await["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("AAMkAG"));

    let (_, plain) = graph.call(Method::GET, &format!("/me/events/{id}"), None, None).await;
    assert!(plain.get("singleValueExtendedProperties").is_none());
    assert!(plain["@odata.etag"].as_str().unwrap().starts_with("W/\""));
    let expand = format!(
        "/me/events/{id}?$expand=singleValueExtendedProperties($filter=id eq '{property}')"
    );
    let (_, expanded) = graph.call(Method::GET, &expand, None, None).await;
    assert_eq!(
        expanded["singleValueExtendedProperties"],
        json!([{"id": property, "value": "b-1"}])
    );
}

#[tokio::test]
async fn several_extended_properties_are_expanded_with_or() {
    let graph = Graph::start().await;
    let guid = "String {7a3c3f0e-3b8e-4a9b-9f0e-6b616c656e64} Name";
    let (booking, connection, other) = (
        format!("{guid} KalendsBooking"),
        format!("{guid} KalendsConnection"),
        format!("{guid} X"),
    );
    let mut event = timed("Tagged", "2026-03-02T10:00:00", "2026-03-02T11:00:00");
    event["singleValueExtendedProperties"] = json!([
        {"id": booking, "value": "b-1"}, {"id": connection, "value": "c-1"}, {"id": other, "value": "x"}
    ]);
    let id = graph.create(event).await["id"].as_str().unwrap().to_owned();
    let expand = format!(
        "/me/events/{id}?$expand=singleValueExtendedProperties($filter=id eq '{booking}' or id eq '{connection}')"
    );
    let (_, expanded) = graph.call(Method::GET, &expand, None, None).await;
    assert_eq!(
        expanded["singleValueExtendedProperties"],
        json!([{"id": booking, "value": "b-1"}, {"id": connection, "value": "c-1"}])
    );
}

#[tokio::test]
async fn a_patch_cannot_change_the_transaction_id_and_a_gone_event_is_not_found() {
    let graph = Graph::start().await;
    let mut event = timed("Once", "2026-03-02T10:00:00", "2026-03-02T11:00:00");
    event["transactionId"] = "7E163156-7762-4BEB-A1C6-729EA81755A7".into();
    let id = graph.create(event).await["id"].as_str().unwrap().to_owned();
    let path = format!("/me/events/{id}");
    let change = json!({"transactionId": "00000000-0000-0000-0000-000000000000"});
    let (status, _) = graph.call(Method::PATCH, &path, Some(change), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    assert_eq!(graph.call(Method::DELETE, &path, None, None).await.0, StatusCode::NO_CONTENT);
    let (status, missing) = graph.call(Method::DELETE, &path, None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["error"]["code"], "ErrorItemNotFound");
    assert_eq!(missing["error"]["message"], "The specified object was not found in the store.");
}

#[tokio::test]
async fn a_subscription_cannot_outlive_ten_thousand_and_eighty_minutes() {
    let graph = Graph::start().await;
    let expiry = (chrono::Utc::now() + chrono::Duration::minutes(10_081)).to_rfc3339();
    let body = json!({
        "changeType": "created,updated,deleted",
        "notificationUrl": "http://127.0.0.1:9/webhooks/microsoft",
        "resource": "me/events",
        "expirationDateTime": expiry,
        "clientState": "s",
    });
    let (status, refused) = graph.call(Method::POST, "/subscriptions", Some(body), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused["error"]["message"].as_str().unwrap().contains("10080 minutes"));
}
