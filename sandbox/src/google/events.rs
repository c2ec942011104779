//! The `events` handlers: insert, get, update, patch, delete and list.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use chrono::Utc;
use serde_json::Value;

use super::list::ListQuery;
use super::{admit, json_object, query_pairs};
use crate::Sandbox;

/// `POST calendars/{calendarId}/events`.
pub(super) async fn insert(
    State(sandbox): State<Sandbox>,
    Path(calendar_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let mut state = sandbox.lock();
    let account = admit(&mut state, &headers, "POST google events.insert", super::WRITE_EVENTS)?;
    let body = json_object(&body)?;
    let data = &mut state.google;
    let calendar = data.calendar_mut(&account.email, &calendar_id)?;
    calendar.require_writer()?;
    let event = calendar.insert(body, Utc::now())?;
    let id = calendar.id.clone();
    data.notify(&id);
    Ok(Json(event).into_response())
}

/// `GET calendars/{calendarId}/events/{eventId}` (cancelled events included).
pub(super) async fn get(
    State(sandbox): State<Sandbox>,
    Path((calendar_id, event_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let mut state = sandbox.lock();
    let account = admit(&mut state, &headers, "GET google events.get", super::READ_EVENTS)?;
    let calendar = state.google.calendar(&account.email, &calendar_id)?;
    let event = calendar.event(&event_id)?;
    Ok(Json(Value::Object(event.body.clone())).into_response())
}

/// `PUT calendars/{calendarId}/events/{eventId}`.
pub(super) async fn update(
    State(sandbox): State<Sandbox>,
    Path((calendar_id, event_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    write(&sandbox, &headers, "PUT google events.update", &calendar_id, |calendar, now| {
        calendar.replace(&event_id, json_object(&body)?, if_match(&headers), now)
    })
}

/// `PATCH calendars/{calendarId}/events/{eventId}`.
pub(super) async fn patch(
    State(sandbox): State<Sandbox>,
    Path((calendar_id, event_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    write(&sandbox, &headers, "PATCH google events.patch", &calendar_id, |calendar, now| {
        calendar.patch(&event_id, json_object(&body)?, if_match(&headers), now)
    })
}

/// `DELETE calendars/{calendarId}/events/{eventId}`: 204 with an empty body.
pub(super) async fn delete(
    State(sandbox): State<Sandbox>,
    Path((calendar_id, event_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    write(&sandbox, &headers, "DELETE google events.delete", &calendar_id, |calendar, now| {
        calendar.delete(&event_id, if_match(&headers), now).map(|()| Value::Null)
    })
    .map(|_| StatusCode::NO_CONTENT.into_response())
}

/// `GET calendars/{calendarId}/events`.
pub(super) async fn list(
    State(sandbox): State<Sandbox>,
    Path(calendar_id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Response> {
    let mut state = sandbox.lock();
    let account = admit(&mut state, &headers, "GET google events.list", super::READ_EVENTS)?;
    let query = ListQuery::parse(&query_pairs(query.as_deref()))?;
    if query.is_incremental() {
        // Counted apart as well: one per incremental import of the calendar.
        state.count("GET google events.list with syncToken");
    }
    let answer = state.google.list(&account.email, &calendar_id, &query)?;
    Ok(Json(answer).into_response())
}

/// A write to an existing event: authenticated, on a writable calendar, then notified.
#[allow(clippy::result_large_err, reason = "handlers answer refusals as ready responses")]
fn write(
    sandbox: &Sandbox,
    headers: &HeaderMap,
    route: &str,
    calendar_id: &str,
    change: impl FnOnce(
        &mut super::store::Calendar,
        chrono::DateTime<Utc>,
    ) -> Result<Value, super::ApiError>,
) -> Result<Response, Response> {
    let mut state = sandbox.lock();
    let account = admit(&mut state, headers, route, super::WRITE_EVENTS)?;
    let data = &mut state.google;
    let calendar = data.calendar_mut(&account.email, calendar_id)?;
    calendar.require_writer()?;
    let event = change(calendar, Utc::now())?;
    let id = calendar.id.clone();
    data.notify(&id);
    Ok(Json(event).into_response())
}

fn if_match(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::IF_MATCH).and_then(|value| value.to_str().ok())
}
