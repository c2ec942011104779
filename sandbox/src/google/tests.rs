//! The emulator's wire behaviour, checked with plain HTTP where the client never goes.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ANN: &str = "ann@example.com";

/// A sandbox on a port and a bearer token for Ann.
struct Api {
    base: String,
    http: reqwest::Client,
    token: String,
}

impl Api {
    async fn start() -> Self {
        let (base, http, _) = crate::serve_for_tests().await;
        let minted: Value = http
            .post(format!("{base}/_control/tokens"))
            .json(&json!({"provider": "google", "email": ANN}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = minted["access_token"].as_str().unwrap().to_owned();
        Self { base, http, token }
    }

    /// Calls the API (`path` below `/google/calendar/v3`); returns status and JSON body.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let url = format!("{}/google/calendar/v3{path}", self.base);
        let mut request = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn insert(&self, event: Value) -> Value {
        let (status, body) =
            self.call(Method::POST, "/calendars/primary/events", Some(event)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

fn event(id: &str, start: &str, end: &str) -> Value {
    json!({"id": id, "summary": id, "start": {"dateTime": start}, "end": {"dateTime": end}})
}

fn reason(body: &Value) -> &str {
    body["error"]["errors"][0]["reason"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn ids_must_be_base32hex_and_deleted_ids_stay_reserved() {
    let api = Api::start().await;
    let bad = event("UPPERCASE", "2025-03-01T10:00:00Z", "2025-03-01T11:00:00Z");
    let (status, body) = api.call(Method::POST, "/calendars/primary/events", Some(bad)).await;
    assert_eq!((status, reason(&body)), (StatusCode::BAD_REQUEST, "invalid"));
    assert_eq!(body["error"]["message"], "Invalid resource id value.");

    let stored =
        api.insert(event("abcde12345", "2025-03-01T10:00:00Z", "2025-03-01T11:00:00Z")).await;
    assert_eq!(stored["iCalUID"], "abcde12345@google.com");
    assert_eq!(stored["organizer"]["email"], ANN);
    assert_eq!(stored["status"], "confirmed");
    let path = "/calendars/ann@example.com/events/abcde12345";
    assert_eq!(api.call(Method::DELETE, path, None).await, (StatusCode::NO_CONTENT, Value::Null));

    let (status, body) =
        api.call(Method::GET, "/calendars/ann%40example.com/events/abcde12345", None).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("cancelled")));
    let again = event("abcde12345", "2025-03-01T10:00:00Z", "2025-03-01T11:00:00Z");
    let (status, body) = api.call(Method::POST, "/calendars/primary/events", Some(again)).await;
    assert_eq!((status, reason(&body)), (StatusCode::CONFLICT, "duplicate"));
    assert_eq!(body["error"]["message"], "The requested identifier already exists.");

    let (status, body) = api.call(Method::DELETE, path, None).await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(
        body,
        json!({"error": {"errors": [{"domain": "global", "reason": "deleted",
        "message": "Resource has been deleted"}], "code": 410, "message": "Resource has been deleted"}})
    );
    let (status, body) = api.call(Method::GET, "/calendars/primary/events/unknown00", None).await;
    assert_eq!((status, reason(&body)), (StatusCode::NOT_FOUND, "notFound"));
}

#[tokio::test]
async fn a_stale_if_match_is_refused_with_412() {
    let api = Api::start().await;
    let stored =
        api.insert(event("abcde12345", "2025-03-01T10:00:00Z", "2025-03-01T11:00:00Z")).await;
    let url = format!("{}/google/calendar/v3/calendars/primary/events/abcde12345", api.base);
    let patch = |etag: &str| {
        api.http
            .patch(&url)
            .bearer_auth(&api.token)
            .header("If-Match", etag)
            .json(&json!({"summary": "x"}))
    };
    let stale = patch("\"1\"").send().await.unwrap();
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    let body: Value = stale.json().await.unwrap();
    assert_eq!(reason(&body), "conditionNotMet");
    let fresh = patch(stored["etag"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(fresh.status(), StatusCode::OK);
}

#[tokio::test]
async fn listing_pages_carry_the_sync_token_only_on_the_last_page() {
    let api = Api::start().await;
    for (id, day) in [("aaaaa1", "01"), ("aaaaa2", "02"), ("aaaaa3", "03")] {
        let start = format!("2025-03-{day}T10:00:00Z");
        api.insert(event(id, &start, &format!("2025-03-{day}T11:00:00Z"))).await;
    }
    let (_, first) =
        api.call(Method::GET, "/calendars/primary/events?maxResults=2&alt=json", None).await;
    assert_eq!(first["kind"], "calendar#events");
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert!(first.get("nextSyncToken").is_none());
    let page = first["nextPageToken"].as_str().unwrap();
    let (_, last) =
        api.call(Method::GET, &format!("/calendars/primary/events?pageToken={page}"), None).await;
    assert_eq!(last["items"][0]["id"], "aaaaa3");
    assert!(last.get("nextPageToken").is_none());
    let sync = last["nextSyncToken"].as_str().unwrap();

    let forbidden =
        format!("/calendars/primary/events?syncToken={sync}&timeMin=2025-03-01T00:00:00Z");
    let (status, _) = api.call(Method::GET, &forbidden, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) =
        api.call(Method::GET, "/calendars/primary/events?syncToken=nonsense", None).await;
    assert_eq!((status, reason(&body)), (StatusCode::GONE, "fullSyncRequired"));
    assert_eq!(body["error"]["errors"][0]["domain"], "calendar");
}

#[tokio::test]
async fn a_sync_token_lists_each_changed_event_once_in_the_order_of_its_last_change() {
    let api = Api::start().await;
    for (id, day) in [("bbbbb1", "01"), ("bbbbb2", "02"), ("bbbbb3", "03"), ("bbbbb4", "04")] {
        let start = format!("2025-03-{day}T10:00:00Z");
        api.insert(event(id, &start, &format!("2025-03-{day}T11:00:00Z"))).await;
    }
    let (_, listed) = api.call(Method::GET, "/calendars/primary/events", None).await;
    let sync = listed["nextSyncToken"].as_str().unwrap().to_owned();

    // bbbbb1 changes twice (listed once, at its last change), bbbbb5 is new, bbbbb2 deleted;
    // bbbbb3 and bbbbb4 stay as they were.
    let one = "/calendars/primary/events/bbbbb1";
    api.call(Method::PATCH, one, Some(json!({"summary": "moved"}))).await;
    api.insert(event("bbbbb5", "2025-03-05T10:00:00Z", "2025-03-05T11:00:00Z")).await;
    api.call(Method::DELETE, "/calendars/primary/events/bbbbb2", None).await;
    let (_, last) = api.call(Method::PATCH, one, Some(json!({"summary": "moved again"}))).await;

    let (status, changes) =
        api.call(Method::GET, &format!("/calendars/primary/events?syncToken={sync}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let items = changes["items"].as_array().unwrap();
    let listed: Vec<(&str, &str)> = items
        .iter()
        .map(|item| (item["id"].as_str().unwrap(), item["status"].as_str().unwrap()))
        .collect();
    assert_eq!(listed, [("bbbbb5", "confirmed"), ("bbbbb2", "cancelled"), ("bbbbb1", "confirmed")]);
    assert_eq!(items[2]["summary"], "moved again");
    assert_eq!(changes["updated"], last["updated"], "the listing is as new as its newest change");

    let next = changes["nextSyncToken"].as_str().unwrap();
    let (_, quiet) =
        api.call(Method::GET, &format!("/calendars/primary/events?syncToken={next}"), None).await;
    assert_eq!(quiet["items"], json!([]), "nothing changed since the last token");
}

#[tokio::test]
async fn private_extended_property_filters_are_anded_and_windows_bound_end_and_start() {
    let api = Api::start().await;
    let mut both = event("bbbbb1", "2025-03-01T10:00:00Z", "2025-03-01T11:00:00Z");
    both["extendedProperties"] = json!({"private": {"a": "1", "b": "2"}});
    api.insert(both).await;
    let mut one = event("bbbbb2", "2025-03-01T12:00:00Z", "2025-03-01T13:00:00Z");
    one["extendedProperties"] = json!({"private": {"a": "1"}});
    api.insert(one).await;
    let ids = |body: Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let query = "privateExtendedProperty=a%3D1&privateExtendedProperty=b%3D2";
    let (_, body) =
        api.call(Method::GET, &format!("/calendars/primary/events?{query}"), None).await;
    assert_eq!(ids(body), vec!["bbbbb1"]);
    let window = "timeMin=2025-03-01T11:00:00Z&timeMax=2025-03-01T12:00:01Z";
    let (_, body) =
        api.call(Method::GET, &format!("/calendars/primary/events?{window}"), None).await;
    assert_eq!(ids(body), vec!["bbbbb2"], "an event ending at timeMin is outside");
}

#[tokio::test]
async fn free_busy_reports_unknown_calendars_as_errors() {
    let api = Api::start().await;
    let request = json!({"timeMin": "2025-03-01T00:00:00Z", "timeMax": "2025-03-02T00:00:00Z",
        "items": [{"id": "primary"}, {"id": "nobody@example.com"}]});
    let (status, body) = api.call(Method::POST, "/freeBusy", Some(request)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["kind"], "calendar#freeBusy");
    assert_eq!(body["calendars"]["primary"]["busy"], json!([]));
    assert_eq!(body["calendars"]["nobody@example.com"]["errors"][0]["reason"], "notFound");
}

#[tokio::test]
async fn requests_without_a_valid_token_get_googles_401_and_are_counted() {
    let api = Api::start().await;
    let url = format!("{}/google/calendar/v3/users/me/calendarList", api.base);
    let response = api.http.get(url).bearer_auth("ya29.forged").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(reason(&body), "authError");
    let counts: Value = api
        .http
        .get(format!("{}/_control/requests", api.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counts["GET google calendarList.list"], 1);
}
