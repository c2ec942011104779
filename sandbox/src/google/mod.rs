//! Google Calendar v3, emulated at its real paths below `/google/calendar/v3/`.
//!
//! What it covers (PROVIDERS.md §2): the calendar list, events CRUD with client-supplied ids
//! (deleted ids stay reserved), `If-Match`, `events.list` with paging, extended-property filters
//! and incremental sync, `freeBusy`, and push channels (`events.watch`, `channels.stop`) that POST
//! notifications to their address. Errors are Google's envelope with its reasons and messages.
//!
//! Limits, on purpose: recurring events are stored with their `recurrence` but never expanded
//! (`singleEvents=true` returns the master event only); `dateTime` values need a UTC offset
//! unless `timeZone` is `UTC`; `q`, `orderBy=updated`'s tie-breaks, ACLs and sharing between
//! accounts are not modelled (every account sees only its own calendars).

mod calendars;
mod control;
mod events;
mod list;
mod push;
mod store;
mod times;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;

pub(crate) use store::Data;

use super::{Account, Sandbox, State, google_error};
use crate::Provider;

/// API routes (nested at `/google/calendar/v3`).
pub(super) fn router() -> Router<Sandbox> {
    Router::new()
        .route("/users/me/calendarList", get(calendars::calendar_list))
        .route("/freeBusy", post(calendars::free_busy))
        .route("/calendars/{calendar_id}/events", get(events::list).post(events::insert))
        .route("/calendars/{calendar_id}/events/watch", post(push::watch))
        .route(
            "/calendars/{calendar_id}/events/{event_id}",
            get(events::get).put(events::update).patch(events::patch).delete(events::delete),
        )
        .route("/channels/stop", post(push::stop))
}

/// Control routes (nested at `/_control/google`).
pub(super) fn control_router() -> Router<Sandbox> {
    control::router()
}

const CALENDAR: &str = "https://www.googleapis.com/auth/calendar";
const READONLY: &str = "https://www.googleapis.com/auth/calendar.readonly";
const EVENTS: &str = "https://www.googleapis.com/auth/calendar.events";
const EVENTS_READONLY: &str = "https://www.googleapis.com/auth/calendar.events.readonly";

/// The scopes Kalends asks a staff member for (what the control API's minted tokens carry).
pub(crate) const KALENDS_SCOPES: [&str; 2] = [EVENTS, READONLY];
/// Any of these lets a token read events, list them and watch them (Google's reference).
const READ_EVENTS: &[&str] = &[CALENDAR, READONLY, EVENTS, EVENTS_READONLY];
/// Any of these lets a token write events.
const WRITE_EVENTS: &[&str] = &[CALENDAR, EVENTS];
/// Any of these lets a token list the user's calendars.
const LIST_CALENDARS: &[&str] = &[
    CALENDAR,
    READONLY,
    "https://www.googleapis.com/auth/calendar.calendarlist",
    "https://www.googleapis.com/auth/calendar.calendarlist.readonly",
];
/// Any of these lets a token ask for free/busy times.
const FREE_BUSY: &[&str] = &[
    CALENDAR,
    READONLY,
    "https://www.googleapis.com/auth/calendar.freebusy",
    "https://www.googleapis.com/auth/calendar.events.freebusy",
];

/// Counts an API request, then authenticates it (Google's 401 when the token is bad) and checks
/// that its grant holds one of the `accepted` scopes (403 `insufficientPermissions`, as Google
/// answers a token asked with too narrow a scope: a domain-wide delegation of the free/busy
/// scope only, say).
#[allow(clippy::result_large_err, reason = "the refusal is the ready response")]
fn admit(
    state: &mut State,
    headers: &HeaderMap,
    route: &str,
    accepted: &[&str],
) -> Result<Account, Response> {
    state.count(route);
    let account = state.authenticate(Provider::Google, headers, Utc::now())?;
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    let scopes = state.oauth.scopes_of_access_token(token).unwrap_or_default();
    if !scopes.iter().any(|scope| accepted.contains(&scope.as_str())) {
        return Err(google_error(
            axum::http::StatusCode::FORBIDDEN,
            "insufficientPermissions",
            "Request had insufficient authentication scopes.",
            None,
        ));
    }
    Ok(account)
}

/// One of Google's errors: status, reason and message, rendered in its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    status: StatusCode,
    reason: &'static str,
    message: String,
    location: Option<(&'static str, &'static str)>,
}

impl ApiError {
    fn new(status: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        Self { status, reason, message: message.into(), location: None }
    }

    /// Where the error lies (`locationType`, `location`).
    fn at(mut self, kind: &'static str, name: &'static str) -> Self {
        self.location = Some((kind, name));
        self
    }

    /// 404 `notFound`.
    fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "notFound", "Not Found")
    }

    /// 400 `invalid` with a message.
    fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", message)
    }

    /// 400 `parseError`: the body is not the JSON expected.
    fn parse_error() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "parseError", "Parse Error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        google_error(self.status, self.reason, &self.message, self.location)
    }
}

impl From<ApiError> for Response {
    fn from(error: ApiError) -> Self {
        error.into_response()
    }
}

/// A request body as a JSON object, or Google's `parseError`.
fn json_object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    match serde_json::from_slice(body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        _ => Err(ApiError::parse_error()),
    }
}

/// The query string's pairs, repeated keys kept (`privateExtendedProperty` repeats).
fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|raw| url::form_urlencoded::parse(raw.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
