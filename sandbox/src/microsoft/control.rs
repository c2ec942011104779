//! Control routes under `/_control/microsoft`: act as the user in Outlook (seed, edit and delete
//! events, which notifies subscribers), read everything back, invalidate delta tokens, and
//! share a calendar with the user, writable or read-only, as its owner would.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::events::Writer;
use super::parse_body;
use super::subscriptions::{ChangeType, deliver};
use super::time::Zone;
use super::{Data, not_found};
use crate::Provider;
use crate::Sandbox;

/// Routes.
pub(super) fn router() -> Router<Sandbox> {
    Router::new()
        .route("/users/{email}/events", post(seed).get(read_back))
        .route("/users/{email}/events/{id}", patch(edit).delete(remove))
        .route("/users/{email}/calendars/{name}", put(share))
        .route("/invalidate-delta-tokens", post(invalidate))
        .route("/subscriptions", get(subscriptions))
}

/// `?calendar_id=` (the default calendar when absent).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct SeedQuery {
    calendar_id: Option<String>,
}

/// Creates an event as the user would in Outlook (Graph's event JSON; `isCancelled` and
/// `responseStatus` may be set too).
async fn seed(
    State(sandbox): State<Sandbox>,
    Path(email): Path<String>,
    Query(query): Query<SeedQuery>,
    body: Bytes,
) -> Response {
    let mut state = sandbox.lock();
    state.ensure_account(Provider::Microsoft, &email);
    let data = &mut state.microsoft;
    let created = parse_body(&body).and_then(|body| {
        data.create_event(&email, query.calendar_id.as_deref(), body, Writer::User)
    });
    let id = match created {
        Ok((id, _)) => id,
        Err(response) => return response,
    };
    let out = data.render_event(&email, &id, None, &Zone::utc(), None);
    let deliveries = data.notifications(&email, &id, ChangeType::Created);
    drop(state);
    deliver(deliveries);
    (StatusCode::CREATED, Json(out.unwrap_or_default())).into_response()
}

/// Every event of the account, deleted ones included (`"deleted": true`), with all their
/// extended properties and their calendar id.
async fn read_back(State(sandbox): State<Sandbox>, Path(email): Path<String>) -> Response {
    let state = sandbox.lock();
    match state.microsoft.all_events(&email) {
        Some(events) => Json(Value::Array(events)).into_response(),
        None => not_found(),
    }
}

/// Edits an event as the user would in Outlook.
async fn edit(
    State(sandbox): State<Sandbox>,
    Path((email, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let mut state = sandbox.lock();
    let data = &mut state.microsoft;
    let updated =
        parse_body(&body).and_then(|body| data.update_event(&email, &id, None, body, Writer::User));
    if let Err(response) = updated {
        return response;
    }
    let out = data.render_event(&email, &id, None, &Zone::utc(), None);
    let deliveries = data.notifications(&email, &id, ChangeType::Updated);
    drop(state);
    deliver(deliveries);
    Json(out.unwrap_or_default()).into_response()
}

/// What the owner of a calendar lets its user do with it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Sharing {
    can_edit: bool,
}

/// Shares the calendar named `name` with the user of the mailbox at `email` (made the first
/// time, beside their own), writable or read-only: an owner who takes writing back leaves
/// it read-only. Writes into a read-only calendar are refused with Graph's plain 403; the
/// mailbox's other calendars answer as before.
async fn share(
    State(sandbox): State<Sandbox>,
    Path((email, name)): Path<(String, String)>,
    Json(sharing): Json<Sharing>,
) -> Response {
    let mut state = sandbox.lock();
    if state.microsoft.share_calendar(&email, &name, sharing.can_edit) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        not_found()
    }
}

/// Deletes an event as the user would in Outlook.
async fn remove(
    State(sandbox): State<Sandbox>,
    Path((email, id)): Path<(String, String)>,
) -> Response {
    let mut state = sandbox.lock();
    let data = &mut state.microsoft;
    if let Err(response) = data.delete_event(&email, &id, None, Writer::User) {
        return response;
    }
    let deliveries = data.notifications(&email, &id, ChangeType::Deleted);
    drop(state);
    deliver(deliveries);
    StatusCode::NO_CONTENT.into_response()
}

async fn invalidate(State(sandbox): State<Sandbox>) -> Json<Value> {
    let invalidated = sandbox.lock().microsoft.invalidate_delta_tokens();
    Json(json!({ "invalidated": invalidated }))
}

async fn subscriptions(State(sandbox): State<Sandbox>) -> Json<Value> {
    let list = sandbox.lock().microsoft.subscription_list();
    Json(serde_json::to_value(list).unwrap_or_default())
}

impl Data {
    /// Every event of a mailbox for read-back, in creation order of their ids' change counter.
    fn all_events(&self, email: &str) -> Option<Vec<Value>> {
        let mailbox = self.mailbox(email)?;
        let zone = Zone::utc();
        let mut events: Vec<_> = mailbox.events.values().collect();
        events.sort_by_key(|event| event.seq);
        Some(
            events
                .into_iter()
                .map(|event| {
                    let mut out = event.render_all(mailbox, &zone);
                    out["deleted"] = event.deleted.into();
                    out["calendarId"] = event.calendar_id.clone().into();
                    out
                })
                .collect(),
        )
    }
}
