//! Push channels: `events.watch`, `channels.stop`, and the notifications Google POSTs to a
//! channel's address (`sync` once at creation, then `exists` after every change).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use super::store::{Channel, Data};
use super::{ApiError, admit, json_object};
use crate::{Sandbox, random_token};

/// How long a channel lives when the request names no expiration, and at most.
const DEFAULT_TTL_DAYS: i64 = 7;
const MAX_TTL_DAYS: i64 = 30;

impl Channel {
    fn live(&self, now: DateTime<Utc>) -> bool {
        !self.stopped && self.expiration > now
    }

    fn resource(&self) -> Value {
        json!({
            "kind": "api#channel",
            "id": self.id,
            "resourceId": self.resource_id,
            "resourceUri": self.resource_uri,
            "token": self.token,
            "expiration": self.expiration.timestamp_millis().to_string(),
        })
    }
}

/// `POST calendars/{calendarId}/events/watch`.
pub(super) async fn watch(
    State(sandbox): State<Sandbox>,
    Path(calendar_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let mut state = sandbox.lock();
    let account = admit(&mut state, &headers, "POST google events.watch", super::READ_EVENTS)?;
    let request = json_object(&body)?;
    let data = &mut state.google;
    let calendar_id = data.calendar(&account.email, &calendar_id)?.id.clone();
    let id = channel_id(&request, data)?;
    let address = string(&request, "address").ok_or_else(|| {
        ApiError::invalid("WebHook callback must be HTTPS: ").at("parameter", "address")
    })?;
    let channel = Channel {
        id: id.clone(),
        resource_id: random_token(20),
        resource_uri: resource_uri(&calendar_id),
        calendar_id,
        owner: account.email,
        address,
        token: string(&request, "token"),
        expiration: expiration(&request, Utc::now()),
        message_number: 1,
        stopped: false,
    };
    deliver(&data.http, &channel, "sync");
    let answer = channel.resource();
    data.channels.insert(id, channel);
    Ok(Json(answer).into_response())
}

/// `POST channels/stop`: 204; Google's 404 for an unknown channel.
pub(super) async fn stop(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let mut state = sandbox.lock();
    let account = admit(&mut state, &headers, "POST google channels.stop", super::READ_EVENTS)?;
    let request = json_object(&body)?;
    let id = string(&request, "id").unwrap_or_default();
    let resource_id = string(&request, "resourceId");
    let channel = state.google.channels.get_mut(&id).filter(|channel| {
        channel.owner == account.email
            && resource_id.as_ref().is_none_or(|r| *r == channel.resource_id)
    });
    match channel {
        Some(channel) => {
            channel.stopped = true;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "notFound",
            format!("Channel '{id}' not found for project '000000000000'"),
        )
        .into()),
    }
}

impl Data {
    /// Tells every live channel on the calendar that its events changed.
    pub(super) fn notify(&mut self, calendar_id: &str) {
        let now = Utc::now();
        let http = self.http.clone();
        let watching = self.channels.values_mut().filter(|c| c.calendar_id == calendar_id);
        for channel in watching.filter(|channel| channel.live(now)) {
            channel.message_number += 1;
            deliver(&http, channel, "exists");
        }
    }

    /// Every channel, for read-back.
    pub(super) fn channel_list(&self) -> Vec<Channel> {
        self.channels.values().cloned().collect()
    }
}

/// A new channel id (at most 64 characters, unique among channels).
fn channel_id(request: &Map<String, Value>, data: &Data) -> Result<String, ApiError> {
    let id = string(request, "id")
        .filter(|id| !id.is_empty() && id.len() <= 64)
        .ok_or_else(|| ApiError::invalid("Invalid value for: id").at("parameter", "id"))?;
    if data.channels.contains_key(&id) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "channelIdNotUnique",
            format!("Channel id {id} not unique"),
        ));
    }
    Ok(id)
}

/// The requested expiration (unix ms, as a string or a number), bounded.
fn expiration(request: &Map<String, Value>, now: DateTime<Utc>) -> DateTime<Utc> {
    let asked = match request.get("expiration") {
        Some(Value::String(text)) => text.parse::<i64>().ok(),
        Some(Value::Number(number)) => number.as_i64(),
        _ => None,
    };
    let latest = now + Duration::days(MAX_TTL_DAYS);
    asked
        .and_then(DateTime::from_timestamp_millis)
        .map_or(now + Duration::days(DEFAULT_TTL_DAYS), |at| at.min(latest))
}

/// The watched collection's URL, in Google's form (receivers only compare it).
fn resource_uri(calendar_id: &str) -> String {
    format!("https://www.googleapis.com/calendar/v3/calendars/{calendar_id}/events?alt=json")
}

fn string(request: &Map<String, Value>, name: &str) -> Option<String> {
    request.get(name).and_then(Value::as_str).map(str::to_owned)
}

/// POSTs one notification (no body) in the background; failures are the receiver's problem.
fn deliver(http: &reqwest::Client, channel: &Channel, resource_state: &'static str) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
    let mut request = http
        .post(&channel.address)
        .header("X-Goog-Channel-ID", &channel.id)
        .header(
            "X-Goog-Channel-Expiration",
            channel.expiration.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        )
        .header("X-Goog-Resource-ID", &channel.resource_id)
        .header("X-Goog-Resource-URI", &channel.resource_uri)
        .header("X-Goog-Resource-State", resource_state)
        .header("X-Goog-Message-Number", channel.message_number.to_string())
        .header(header::CONTENT_LENGTH, "0");
    if let Some(token) = &channel.token {
        request = request.header("X-Goog-Channel-Token", token);
    }
    let channel_id = channel.id.clone();
    runtime.spawn(async move {
        if let Err(error) = request.send().await {
            tracing::debug!(channel_id, error = %error.without_url(), "push notification not delivered");
        }
    });
}
