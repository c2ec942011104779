//! Microsoft Graph v1.0 calendar emulation, at the real paths below `/microsoft/v1.0`.
//!
//! - `calendars`: the user and their calendars;
//! - `events`: the event resource (create with `transactionId`, get, patch, delete);
//! - `views`: `calendarView`, its delta rounds, and `getSchedule`;
//! - `subscriptions`: webhooks with the validation handshake, and their notifications;
//! - `control`: what tests use to act as the user in Outlook and to read everything back.
//!
//! Shapes follow Graph: camelCase, `@odata.context`, `@odata.etag` `W/"…"`, opaque
//! `AAMkAG…` ids, `dateTime` with 7 fractional digits in UTC unless `Prefer: outlook.timezone`.

// Helpers return the finished Graph error response, built once per refused request.
#![allow(
    clippy::result_large_err,
    reason = "an error here is the HTTP answer itself; its size costs nothing"
)]

mod calendars;
mod control;
mod events;
mod subscriptions;
mod time;
mod views;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;

use axum::Router;
use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};

use super::{Account, Sandbox, State, graph_error};
use crate::Provider;
pub(crate) use events::StoredEvent;
use subscriptions::SubscriptionRecord;
use views::{DeltaPage, DeltaRound};

/// The tenant id notifications carry (the sandbox is one tenant).
pub(crate) const TENANT_ID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// The tenant's initial domain, by which its authority is reached too, as Entra's is.
pub(crate) const TENANT_DOMAIN: &str = "salon.onmicrosoft.com";

/// Calendars, events, delta state and subscriptions of every Microsoft account.
#[derive(Debug, Default)]
pub(crate) struct Data {
    /// By lower-case address.
    mailboxes: HashMap<String, Mailbox>,
    /// By subscription id.
    subscriptions: BTreeMap<String, SubscriptionRecord>,
    /// `$deltatoken` -> the round it continues.
    delta_tokens: HashMap<String, DeltaRound>,
    /// `$skiptoken` -> the page it continues.
    skip_tokens: HashMap<String, DeltaPage>,
    /// Monotonic change counter: every write stamps the event with the next value.
    seq: u64,
}

/// One user's calendars and events.
#[derive(Debug)]
struct Mailbox {
    user_id: String,
    email: String,
    name: String,
    calendars: Vec<Calendar>,
    /// By event id; deleted events stay as tombstones for delta and read-back.
    events: BTreeMap<String, StoredEvent>,
    /// `transactionId` -> the event it created.
    transactions: HashMap<String, String>,
}

/// A calendar of a mailbox.
#[derive(Debug, Clone)]
struct Calendar {
    id: String,
    name: String,
    can_edit: bool,
    is_default: bool,
    color: &'static str,
}

impl Data {
    /// Gives a new account its calendars: "Calendar" (default, writable) and "Birthdays".
    pub(crate) fn create_account(&mut self, account: &Account) {
        let calendar = |name: &str, can_edit, is_default, color| Calendar {
            id: graph_id(),
            name: name.to_owned(),
            can_edit,
            is_default,
            color,
        };
        let mailbox = Mailbox {
            user_id: uuid::Uuid::new_v4().to_string(),
            email: account.email.clone(),
            name: account.name.clone(),
            calendars: vec![
                calendar("Calendar", true, true, "auto"),
                calendar("Birthdays", false, false, "lightGreen"),
            ],
            events: BTreeMap::new(),
            transactions: HashMap::new(),
        };
        self.mailboxes.insert(account.email.to_ascii_lowercase(), mailbox);
    }

    /// The user id of the mailbox at `email`.
    pub(crate) fn user_id(&self, email: &str) -> Option<String> {
        self.mailbox(email).map(|mailbox| mailbox.user_id.clone())
    }

    /// The address of the mailbox a subscription watches.
    pub(crate) fn subscription_owner(&self, id: &str) -> Option<String> {
        self.subscriptions.get(id).map(|record| record.email.clone())
    }

    fn mailbox(&self, email: &str) -> Option<&Mailbox> {
        self.mailboxes.get(&email.to_ascii_lowercase())
    }

    /// Shares the calendar `name` with the mailbox at `email` (added the first time), `can_edit`
    /// or read-only; `false` when there is no such mailbox.
    fn share_calendar(&mut self, email: &str, name: &str, can_edit: bool) -> bool {
        let Some(mailbox) = self.mailbox_mut(email) else { return false };
        match mailbox.calendars.iter_mut().find(|calendar| calendar.name == name) {
            Some(calendar) => calendar.can_edit = can_edit,
            None => mailbox.calendars.push(Calendar {
                id: graph_id(),
                name: name.to_owned(),
                can_edit,
                is_default: false,
                color: "lightBlue",
            }),
        }
        true
    }

    fn mailbox_mut(&mut self, email: &str) -> Option<&mut Mailbox> {
        self.mailboxes.get_mut(&email.to_ascii_lowercase())
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

impl Mailbox {
    fn default_calendar(&self) -> &Calendar {
        self.calendars.iter().find(|calendar| calendar.is_default).unwrap_or(&self.calendars[0])
    }

    fn calendar(&self, id: &str) -> Option<&Calendar> {
        self.calendars.iter().find(|calendar| calendar.id == id)
    }

    /// A live (not deleted) event, optionally required to sit in `calendar_id`.
    fn live_event(&self, id: &str, calendar_id: Option<&str>) -> Option<&StoredEvent> {
        self.events.get(id).filter(|event| {
            !event.deleted && calendar_id.is_none_or(|calendar| event.calendar_id == calendar)
        })
    }
}

/// API routes (nested at `/microsoft/v1.0`).
pub(super) fn router() -> Router<Sandbox> {
    Router::new()
        .route("/me", get(calendars::me))
        .route("/me/calendars", get(calendars::list_calendars))
        .route(
            "/me/calendar",
            get(calendars::default_calendar).patch(calendars::update_default_calendar),
        )
        .merge(events::router())
        .merge(views::router())
        .route("/subscriptions", post(subscriptions::create))
        .route(
            "/subscriptions/{id}",
            get(subscriptions::get_one).patch(subscriptions::update).delete(subscriptions::delete),
        )
}

/// Control routes (nested at `/_control/microsoft`).
pub(super) fn control_router() -> Router<Sandbox> {
    control::router()
}

/// Locks the sandbox, counts the request as `METHOD microsoft <name>`, and authenticates it.
fn begin<'a>(
    sandbox: &'a Sandbox,
    headers: &HeaderMap,
    route: &str,
) -> Result<(std::sync::MutexGuard<'a, State>, Account), Response> {
    let mut state = sandbox.lock();
    state.count(route);
    // A mailbox an application reached through `/users/{id}/` (checked by `entra::act_for`).
    let acting_for = headers.get(crate::entra::ACTING_FOR).and_then(|value| value.to_str().ok());
    if let Some(email) = acting_for {
        let account = state.ensure_account(Provider::Microsoft, email);
        return Ok((state, account));
    }
    if state.entra.holds_app_token(headers) {
        return Err(bad_request(
            "BadRequest",
            "/me request is only valid with delegated authentication flow.",
        ));
    }
    let account = state.authenticate(Provider::Microsoft, headers, Utc::now())?;
    Ok((state, account))
}

/// The absolute base URL of the emulated Graph (`http://host[/prefix]/microsoft/v1.0`), as
/// the client reached it: from `Host`, `X-Forwarded-Proto`/`-Prefix`, and the part of the
/// original path that the routers nesting this one have stripped.
#[derive(Clone, Debug)]
pub(crate) struct Base(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for Base {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let header = |name: &str| {
            parts.headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned)
        };
        let scheme = header("x-forwarded-proto").unwrap_or_else(|| "http".into());
        let host = header(header::HOST.as_str()).unwrap_or_else(|| "localhost".into());
        let forwarded = header("x-forwarded-prefix").unwrap_or_default();
        let original = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.path().to_owned(), |uri| uri.path().to_owned());
        let inner = parts.uri.path();
        let mount = original.strip_suffix(inner).unwrap_or("/microsoft/v1.0").to_owned();
        let prefix = forwarded.trim_end_matches('/');
        Ok(Self(format!("{scheme}://{host}{prefix}{mount}")))
    }
}

/// What the client asked for in `Prefer` headers.
#[derive(Clone, Debug, Default)]
struct Prefer {
    /// `outlook.timezone="…"`.
    time_zone: Option<String>,
    /// `odata.maxpagesize=N`.
    max_page_size: Option<usize>,
}

impl<S: Send + Sync> FromRequestParts<S> for Prefer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut prefer = Self::default();
        let values = parts.headers.get_all("prefer");
        let items = values
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','));
        for item in items {
            let Some((key, value)) = item.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match key.trim().to_ascii_lowercase().as_str() {
                "outlook.timezone" => prefer.time_zone = Some(value.to_owned()),
                "odata.maxpagesize" => prefer.max_page_size = value.parse().ok(),
                _ => {}
            }
        }
        Ok(prefer)
    }
}

/// An opaque Graph-style id (`AAMkAG…`, base64 of random bytes, as Exchange ids look).
fn graph_id() -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut bytes = [0u8; 54];
    rand::rng().fill_bytes(&mut bytes);
    format!("AAMkAG{}", base64::engine::general_purpose::URL_SAFE.encode(bytes))
}

/// A fresh `changeKey` (also the weak etag).
fn change_key() -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut bytes = [0u8; 21];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// 404 `ErrorItemNotFound`.
fn not_found() -> Response {
    graph_error(
        StatusCode::NOT_FOUND,
        "ErrorItemNotFound",
        "The specified object was not found in the store.",
    )
}

/// 400 with a code and message.
fn bad_request(code: &str, message: &str) -> Response {
    graph_error(StatusCode::BAD_REQUEST, code, message)
}

/// 403 `ErrorAccessDenied` (writing to a read-only calendar such as Birthdays).
pub(super) fn access_denied() -> Response {
    graph_error(
        StatusCode::FORBIDDEN,
        "ErrorAccessDenied",
        "Access is denied. Check credentials and try again.",
    )
}

/// The Graph timestamp of an instant (`2026-03-01T10:00:00Z`, as `createdDateTime` is sent).
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Parses a JSON object body as Graph does.
fn parse_body(
    body: &axum::body::Bytes,
) -> Result<serde_json::Map<String, serde_json::Value>, Response> {
    if body.is_empty() {
        return Err(bad_request("BadRequest", "Empty Payload. JSON content expected."));
    }
    match serde_json::from_slice(body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        _ => Err(bad_request(
            "RequestBodyRead",
            "Invalid JSON. A token was not recognized in the JSON content.",
        )),
    }
}
