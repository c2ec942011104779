//! Control routes under `/_control/google`: seed and edit events as the user would in Google
//! Calendar (bypassing access roles; channels are notified), read back what is stored,
//! invalidate sync tokens, list channels.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use chrono::Utc;
use serde_json::{Value, json};

use super::json_object;
use crate::Provider;
use crate::Sandbox;

/// Routes under `/_control/google`.
pub(super) fn router() -> Router<Sandbox> {
    Router::new()
        .route("/calendars/{email}/{calendar_id}/events", get(read_back).post(seed))
        .route("/calendars/{email}/{calendar_id}/events/{event_id}", patch(edit).delete(remove))
        .route("/invalidate-sync-tokens", post(invalidate_sync_tokens))
        .route("/channels", get(channels))
}

/// Creates an event as the account's user did (the account is created if new).
async fn seed(
    State(sandbox): State<Sandbox>,
    Path((email, calendar_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, Response> {
    let body = json_object(&body)?;
    let mut state = sandbox.lock();
    let owner = state.ensure_account(Provider::Google, &email).email;
    let data = &mut state.google;
    let calendar = data.calendar_mut(&owner, &calendar_id)?;
    let event = calendar.insert(body, Utc::now())?;
    let id = calendar.id.clone();
    data.notify(&id);
    Ok(Json(event).into_response())
}

/// Every event of the calendar as stored, cancelled ones included.
async fn read_back(
    State(sandbox): State<Sandbox>,
    Path((email, calendar_id)): Path<(String, String)>,
) -> Result<Response, Response> {
    let state = sandbox.lock();
    let calendar = state.google.calendar(&email.to_ascii_lowercase(), &calendar_id)?;
    let events: Vec<Value> =
        calendar.events.values().map(|stored| Value::Object(stored.body.clone())).collect();
    Ok(Json(events).into_response())
}

/// Patches an event as the user did in Google Calendar.
async fn edit(
    State(sandbox): State<Sandbox>,
    Path((email, calendar_id, event_id)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, Response> {
    let body = json_object(&body)?;
    let mut state = sandbox.lock();
    let data = &mut state.google;
    let calendar = data.calendar_mut(&email.to_ascii_lowercase(), &calendar_id)?;
    let event = calendar.patch(&event_id, body, None, Utc::now())?;
    let id = calendar.id.clone();
    data.notify(&id);
    Ok(Json(event).into_response())
}

/// Deletes an event as the user did in Google Calendar.
async fn remove(
    State(sandbox): State<Sandbox>,
    Path((email, calendar_id, event_id)): Path<(String, String, String)>,
) -> Result<Response, Response> {
    let mut state = sandbox.lock();
    let data = &mut state.google;
    let calendar = data.calendar_mut(&email.to_ascii_lowercase(), &calendar_id)?;
    calendar.delete(&event_id, None, Utc::now())?;
    let id = calendar.id.clone();
    data.notify(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Makes every sync token issued so far answer 410 `fullSyncRequired`.
async fn invalidate_sync_tokens(State(sandbox): State<Sandbox>) -> Json<Value> {
    let mut state = sandbox.lock();
    let invalidated = state.google.sync_tokens.len();
    state.google.sync_tokens.clear();
    Json(json!({ "invalidated": invalidated }))
}

/// Every channel (stopped and expired ones too); channel tokens are not shown.
async fn channels(State(sandbox): State<Sandbox>) -> Json<Value> {
    Json(serde_json::to_value(sandbox.lock().google.channel_list()).unwrap_or_default())
}
