//! The event resource: create (idempotent by `transactionId`), get,
//! patch and delete, at `/me/events/{id}` and `/me/calendars/{cid}/events/{id}`.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde_json::{Map, Value, json};

use super::subscriptions::{ChangeType, deliver};
use super::time::{Zone, parse_local, render_day, render_instant};
use super::{
    Base, Data, Mailbox, Prefer, access_denied, bad_request, begin, change_key, graph_id,
    not_found, parse_body, timestamp,
};
use crate::Sandbox;

/// Properties a client may write through Graph, kept as sent.
const WRITABLE: [&str; 17] = [
    "subject",
    "body",
    "location",
    "locations",
    "showAs",
    "categories",
    "reminderMinutesBeforeStart",
    "isReminderOn",
    "sensitivity",
    "importance",
    "attendees",
    "isAllDay",
    "start",
    "end",
    "allowNewTimeProposals",
    "responseRequested",
    "isOnlineMeeting",
];

/// Read-only properties: Graph ignores them on write; the control API (the user in Outlook, or
/// an organizer's update arriving) may set them.
const CONTROL_ONLY: [&str; 2] = ["isCancelled", "responseStatus"];

/// `freeBusyStatus` values.
const SHOW_AS: [&str; 6] = ["free", "tentative", "busy", "oof", "workingElsewhere", "unknown"];

/// When an event happens, resolved to instants (all-day events are floating dates).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Span {
    AllDay { start: NaiveDate, end: NaiveDate },
    Timed { start: DateTime<Utc>, end: DateTime<Utc> },
}

impl Span {
    /// The interval it covers (all-day dates taken at UTC midnight).
    pub(super) fn bounds(self) -> (DateTime<Utc>, DateTime<Utc>) {
        match self {
            Self::AllDay { start, end } => {
                (start.and_time(NaiveTime::MIN).and_utc(), end.and_time(NaiveTime::MIN).and_utc())
            }
            Self::Timed { start, end } => (start, end),
        }
    }

    /// Whether it overlaps `[from, to)`.
    pub(super) fn overlaps(self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        let (start, end) = self.bounds();
        start < to && (end > from || (start == end && start >= from))
    }
}

/// An event as the mailbox holds it.
#[derive(Clone, Debug)]
pub(crate) struct StoredEvent {
    pub(super) id: String,
    pub(super) calendar_id: String,
    /// Writable (and control-only) properties as last sent.
    fields: Map<String, Value>,
    pub(super) span: Span,
    start_zone: String,
    end_zone: String,
    transaction_id: Option<String>,
    /// Single-value extended properties by lower-case id: (id as sent, value).
    extended: BTreeMap<String, (String, String)>,
    created: DateTime<Utc>,
    modified: DateTime<Utc>,
    change_key: String,
    ical_uid: String,
    /// The change counter value of its last write.
    pub(super) seq: u64,
    /// A tombstone: gone from the API, kept for delta and read-back.
    pub(super) deleted: bool,
}

impl StoredEvent {
    /// `showAs`, `busy` when never set.
    pub(super) fn show_as(&self) -> &str {
        self.fields.get("showAs").and_then(Value::as_str).unwrap_or("busy")
    }

    /// Whether the organizer cancelled it.
    pub(super) fn is_cancelled(&self) -> bool {
        self.fields.get("isCancelled").and_then(Value::as_bool).unwrap_or(false)
    }

    /// Whether the user declined it.
    pub(super) fn is_declined(&self) -> bool {
        self.fields
            .get("responseStatus")
            .and_then(|status| status.get("response"))
            .and_then(Value::as_str)
            == Some("declined")
    }

    /// Its JSON as Graph returns it, times in `zone`; `expand` names the extended properties
    /// asked for with `$expand=singleValueExtendedProperties($filter=id eq '…' or id eq '…')`.
    pub(super) fn render(
        &self,
        mailbox: &Mailbox,
        zone: &Zone,
        expand: Option<&[String]>,
    ) -> Value {
        let mut out = self.base_json(mailbox);
        let (start, end) = match self.span {
            Span::AllDay { start, end } => (render_day(start, zone), render_day(end, zone)),
            Span::Timed { start, end } => (render_instant(start, zone), render_instant(end, zone)),
        };
        out["start"] = start;
        out["end"] = end;
        for (key, value) in &self.fields {
            if !matches!(key.as_str(), "start" | "end" | "location") {
                out[key] = value.clone();
            }
        }
        if let Some(Value::Object(location)) = self.fields.get("location") {
            for (key, value) in location {
                out["location"][key] = value.clone();
            }
        }
        out["bodyPreview"] = body_preview(&self.fields).into();
        if let Some(id) = &self.transaction_id {
            out["transactionId"] = id.clone().into();
        }
        if let Some(wanted) = expand {
            let properties: Vec<Value> = wanted
                .iter()
                .filter_map(|wanted| self.extended.get(&wanted.to_ascii_lowercase()))
                .map(|(id, value)| json!({"id": id, "value": value}))
                .collect();
            out["singleValueExtendedProperties"] = Value::Array(properties);
        }
        out
    }

    /// Its JSON with every extended property (control read-back).
    pub(super) fn render_all(&self, mailbox: &Mailbox, zone: &Zone) -> Value {
        let mut out = self.render(mailbox, zone, None);
        out["singleValueExtendedProperties"] =
            self.extended.values().map(|(id, value)| json!({"id": id, "value": value})).collect();
        out
    }

    /// Everything but times and the client's properties: the defaults Graph fills in.
    fn base_json(&self, mailbox: &Mailbox) -> Value {
        json!({
            "@odata.etag": format!("W/\"{}\"", self.change_key),
            "id": self.id,
            "createdDateTime": timestamp(self.created),
            "lastModifiedDateTime": timestamp(self.modified),
            "changeKey": self.change_key,
            "categories": [],
            "originalStartTimeZone": self.start_zone,
            "originalEndTimeZone": self.end_zone,
            "iCalUId": self.ical_uid,
            "reminderMinutesBeforeStart": 15,
            "isReminderOn": true,
            "hasAttachments": false,
            "subject": "",
            "importance": "normal",
            "sensitivity": "normal",
            "isAllDay": matches!(self.span, Span::AllDay { .. }),
            "isCancelled": false,
            "isOrganizer": true,
            "responseRequested": true,
            "seriesMasterId": null,
            "showAs": "busy",
            "type": "singleInstance",
            "webLink": format!("https://outlook.office365.com/owa/?itemid={}&exvsurl=1&path=/calendar/item", self.id),
            "onlineMeetingUrl": null,
            "isOnlineMeeting": false,
            "allowNewTimeProposals": true,
            "isDraft": false,
            "hideAttendees": false,
            "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
            "body": {"contentType": "text", "content": ""},
            "location": {"displayName": "", "locationType": "default", "uniqueIdType": "unknown", "address": {}, "coordinates": {}},
            "locations": [],
            "recurrence": null,
            "attendees": [],
            "organizer": {"emailAddress": {"name": mailbox.name, "address": mailbox.email}},
        })
    }
}

/// The first 255 characters of the body.
fn body_preview(fields: &Map<String, Value>) -> String {
    fields
        .get("body")
        .and_then(|body| body.get("content"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .chars()
        .take(255)
        .collect()
}

/// Routes of the event resource.
pub(super) fn router() -> Router<Sandbox> {
    Router::new()
        .route("/me/events", post(create_default))
        .route("/me/events/{id}", get(get_default).patch(update_default).delete(delete_default))
        .route("/me/calendars/{calendar_id}/events", post(create_in))
        .route(
            "/me/calendars/{calendar_id}/events/{id}",
            get(get_in).patch(update_in).delete(delete_in),
        )
}

/// The property ids of `$expand=singleValueExtendedProperties($filter=id eq '…')`, several
/// joined by `or` as Graph allows, if asked.
pub(super) fn expanded_properties(query: &[(String, String)]) -> Option<Vec<String>> {
    let expand = query.iter().find(|(key, _)| key.eq_ignore_ascii_case("$expand"))?;
    let rest = expand.1.split_once("singleValueExtendedProperties(")?.1;
    let ids: Vec<String> = rest
        .split("id eq '")
        .skip(1)
        .filter_map(|after| after.split_once('\'').map(|(id, _)| id.to_owned()))
        .collect();
    (!ids.is_empty()).then_some(ids)
}

/// Who writes: a Graph client, or the user in Outlook (the control API).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Writer {
    Client,
    User,
}

impl Data {
    /// Creates an event (or returns the one an earlier create with the same `transactionId`
    /// made: the emulator's choice for an identical retry). Returns its id and whether it is new.
    pub(super) fn create_event(
        &mut self,
        email: &str,
        calendar_id: Option<&str>,
        body: Map<String, Value>,
        writer: Writer,
    ) -> Result<(String, bool), Response> {
        let seq = self.next_seq();
        let mailbox = self.mailbox_mut(email).ok_or_else(not_found)?;
        let calendar = match calendar_id {
            Some(id) => mailbox.calendar(id).ok_or_else(not_found)?,
            None => mailbox.default_calendar(),
        }
        .clone();
        if !calendar.can_edit && writer == Writer::Client {
            return Err(access_denied());
        }
        let transaction_id = body.get("transactionId").and_then(Value::as_str).map(str::to_owned);
        let earlier = transaction_id
            .as_ref()
            .and_then(|id| mailbox.transactions.get(id))
            .filter(|id| mailbox.live_event(id, None).is_some());
        if let Some(id) = earlier {
            return Ok((id.clone(), false));
        }
        let event = new_event(calendar.id, transaction_id.clone(), body, writer, seq)?;
        let id = event.id.clone();
        if let Some(transaction) = transaction_id {
            mailbox.transactions.insert(transaction, id.clone());
        }
        mailbox.events.insert(id.clone(), event);
        Ok((id, true))
    }

    /// Patches a live event.
    pub(super) fn update_event(
        &mut self,
        email: &str,
        id: &str,
        calendar_id: Option<&str>,
        body: Map<String, Value>,
        writer: Writer,
    ) -> Result<(), Response> {
        let seq = self.next_seq();
        let mailbox = self.mailbox_mut(email).ok_or_else(not_found)?;
        let event = writable_event(mailbox, id, calendar_id, writer)?;
        if let Some(sent) = body.get("transactionId")
            && sent.as_str() != event.transaction_id.as_deref()
        {
            return Err(bad_request(
                "ErrorInvalidRequest",
                "The transactionId of an event cannot be changed.",
            ));
        }
        let mut updated = event.clone();
        apply(&mut updated, body, writer)?;
        updated.seq = seq;
        updated.modified = Utc::now();
        updated.change_key = change_key();
        mailbox.events.insert(id.to_owned(), updated);
        Ok(())
    }

    /// Deletes a live event (a tombstone stays for delta).
    pub(super) fn delete_event(
        &mut self,
        email: &str,
        id: &str,
        calendar_id: Option<&str>,
        writer: Writer,
    ) -> Result<(), Response> {
        let seq = self.next_seq();
        let mailbox = self.mailbox_mut(email).ok_or_else(not_found)?;
        writable_event(mailbox, id, calendar_id, writer)?;
        if let Some(event) = mailbox.events.get_mut(id) {
            event.deleted = true;
            event.seq = seq;
            event.modified = Utc::now();
        }
        Ok(())
    }

    /// The event rendered, if live.
    pub(super) fn render_event(
        &self,
        email: &str,
        id: &str,
        calendar_id: Option<&str>,
        zone: &Zone,
        expand: Option<&[String]>,
    ) -> Option<Value> {
        let mailbox = self.mailbox(email)?;
        let event = mailbox.live_event(id, calendar_id)?;
        Some(event.render(mailbox, zone, expand))
    }
}

/// The live event, if the writer may change it (Birthdays is read-only to clients).
fn writable_event<'a>(
    mailbox: &'a Mailbox,
    id: &str,
    calendar_id: Option<&str>,
    writer: Writer,
) -> Result<&'a StoredEvent, Response> {
    let event = mailbox.live_event(id, calendar_id).ok_or_else(not_found)?;
    let can_edit = mailbox.calendar(&event.calendar_id).is_some_and(|calendar| calendar.can_edit);
    if !can_edit && writer == Writer::Client {
        return Err(access_denied());
    }
    Ok(event)
}

fn new_event(
    calendar_id: String,
    transaction_id: Option<String>,
    body: Map<String, Value>,
    writer: Writer,
    seq: u64,
) -> Result<StoredEvent, Response> {
    if !body.contains_key("start") || !body.contains_key("end") {
        return Err(bad_request(
            "ErrorInvalidRequest",
            "Your request can't be completed. The start and end of an event are required.",
        ));
    }
    let now = Utc::now();
    let mut event = StoredEvent {
        id: super::graph_id(),
        calendar_id,
        fields: Map::new(),
        span: Span::Timed { start: now, end: now },
        start_zone: "UTC".into(),
        end_zone: "UTC".into(),
        transaction_id,
        extended: BTreeMap::new(),
        created: now,
        modified: now,
        change_key: change_key(),
        ical_uid: format!("040000008200E00074C5B7101A82E008{}", hex_id()),
        seq,
        deleted: false,
    };
    apply(&mut event, body, writer)?;
    Ok(event)
}

/// 64 upper-case hex digits, the tail of an Exchange `iCalUId`.
fn hex_id() -> String {
    let id = graph_id();
    let digest = <sha2::Sha256 as sha2::Digest>::digest(id.as_bytes());
    digest.iter().map(|byte| format!("{byte:02X}")).collect()
}

/// Merges a create/patch body into an event and re-resolves its times.
fn apply(
    event: &mut StoredEvent,
    body: Map<String, Value>,
    writer: Writer,
) -> Result<(), Response> {
    for (key, value) in body {
        match key.as_str() {
            "transactionId" | "@odata.type" | "id" => {}
            "singleValueExtendedProperties" => merge_extended(&mut event.extended, &value)?,
            "showAs" if !value.as_str().is_some_and(|v| SHOW_AS.contains(&v)) => {
                return Err(bad_request(
                    "RequestBodyRead",
                    &format!(
                        "Cannot convert the literal '{value}' to the expected type 'microsoft.graph.freeBusyStatus'."
                    ),
                ));
            }
            name if WRITABLE.contains(&name) => {
                event.fields.insert(key, value);
            }
            name if CONTROL_ONLY.contains(&name) => {
                if writer == Writer::User {
                    event.fields.insert(key, value);
                }
            }
            name if is_read_only(name) => {}
            name => {
                return Err(bad_request(
                    "RequestBodyRead",
                    &format!(
                        "The property '{name}' does not exist on type 'microsoft.graph.event'. Make sure to only use property names that are defined by the type or mark the type as open type."
                    ),
                ));
            }
        }
    }
    let (span, start_zone, end_zone) = resolve_span(&event.fields)?;
    event.span = span;
    event.start_zone = start_zone;
    event.end_zone = end_zone;
    Ok(())
}

/// Properties Graph returns and silently ignores on write.
fn is_read_only(name: &str) -> bool {
    matches!(
        name,
        "createdDateTime"
            | "lastModifiedDateTime"
            | "changeKey"
            | "iCalUId"
            | "webLink"
            | "organizer"
            | "bodyPreview"
            | "type"
            | "isOrganizer"
            | "originalStartTimeZone"
            | "originalEndTimeZone"
            | "hasAttachments"
    ) || name.starts_with("@odata.")
}

fn merge_extended(
    extended: &mut BTreeMap<String, (String, String)>,
    value: &Value,
) -> Result<(), Response> {
    let invalid = || {
        bad_request(
            "ErrorInvalidExtendedPropertyValue",
            "The extended property must have an id and a string value.",
        )
    };
    for property in value.as_array().ok_or_else(invalid)? {
        let id = property.get("id").and_then(Value::as_str).ok_or_else(invalid)?;
        let value = property.get("value").and_then(Value::as_str).ok_or_else(invalid)?;
        extended.insert(id.to_ascii_lowercase(), (id.to_owned(), value.to_owned()));
    }
    Ok(())
}

/// The event's span from its `start`, `end` and `isAllDay`, validated as Graph does.
fn resolve_span(fields: &Map<String, Value>) -> Result<(Span, String, String), Response> {
    let (start, start_zone) = date_time_time_zone(fields.get("start"))?;
    let (end, end_zone) = date_time_time_zone(fields.get("end"))?;
    let all_day = fields.get("isAllDay").and_then(Value::as_bool).unwrap_or(false);
    let span = if all_day {
        // UNVERIFIED wording: Graph's documented rule is "start and end time must be set to
        // midnight and be in the same time zone".
        if start.time() != NaiveTime::MIN
            || end.time() != NaiveTime::MIN
            || start_zone.name != end_zone.name
        {
            return Err(bad_request(
                "ErrorInvalidRequest",
                "Your request can't be completed. If IsAllDay is true, the start and end times must be set to midnight, in the same time zone.",
            ));
        }
        Span::AllDay { start: start.date(), end: end.date() }
    } else {
        Span::Timed { start: start_zone.to_utc(start), end: end_zone.to_utc(end) }
    };
    let (from, to) = span.bounds();
    if to < from {
        return Err(bad_request(
            "ErrorInvalidRequest",
            "Your request can't be completed. The end of an event must not be before its start.",
        ));
    }
    Ok((span, start_zone.name, end_zone.name))
}

/// Parses `{"dateTime","timeZone"}`.
fn date_time_time_zone(value: Option<&Value>) -> Result<(chrono::NaiveDateTime, Zone), Response> {
    let text = |key: &str| value.and_then(|v| v.get(key)).and_then(Value::as_str);
    let local = text("dateTime").and_then(parse_local).ok_or_else(|| {
        bad_request(
            "ErrorInvalidRequest",
            "Your request can't be completed. The start and end of an event need a valid dateTime.",
        )
    })?;
    let zone_name = text("timeZone").unwrap_or("UTC");
    // UNVERIFIED code and wording for an unknown zone.
    let zone = Zone::parse(zone_name).ok_or_else(|| {
        bad_request(
            "TimeZoneNotSupportedException",
            &format!("A valid TimeZone value must be specified. The following TimeZone value is not supported: '{zone_name}'."),
        )
    })?;
    Ok((local, zone))
}

/// Path of `/me/calendars/{calendar_id}/events/{id}`.
type InCalendar = Path<(String, String)>;

async fn create_default(
    State(sandbox): State<Sandbox>,
    base: Base,
    prefer: Prefer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    create(&sandbox, &base, &prefer, &headers, None, &body)
}

async fn create_in(
    State(sandbox): State<Sandbox>,
    Path(calendar_id): Path<String>,
    base: Base,
    prefer: Prefer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    create(&sandbox, &base, &prefer, &headers, Some(&calendar_id), &body)
}

fn create(
    sandbox: &Sandbox,
    base: &Base,
    prefer: &Prefer,
    headers: &HeaderMap,
    calendar_id: Option<&str>,
    body: &Bytes,
) -> Response {
    let (mut state, account) = match begin(sandbox, headers, "POST microsoft events.create") {
        Ok(found) => found,
        Err(response) => return response,
    };
    let outcome = parse_body(body).and_then(|body| {
        state.microsoft.create_event(&account.email, calendar_id, body, Writer::Client)
    });
    let (id, created) = match outcome {
        Ok(done) => done,
        Err(response) => return response,
    };
    let zone = Zone::of_response(prefer.time_zone.as_deref());
    let data = &state.microsoft;
    let mut out = data.render_event(&account.email, &id, None, &zone, None).unwrap_or_default();
    out["@odata.context"] =
        format!("{}/$metadata#users('{}')/events/$entity", base.0, account.email).into();
    let deliveries = if created {
        data.notifications(&account.email, &id, ChangeType::Created)
    } else {
        Vec::new()
    };
    drop(state);
    deliver(deliveries);
    (StatusCode::CREATED, axum::Json(out)).into_response()
}

async fn get_default(
    State(sandbox): State<Sandbox>,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    base: Base,
    prefer: Prefer,
    headers: HeaderMap,
) -> Response {
    read(&sandbox, &base, &prefer, &headers, None, &id, &query)
}

async fn get_in(
    State(sandbox): State<Sandbox>,
    Path((calendar_id, id)): InCalendar,
    Query(query): Query<Vec<(String, String)>>,
    base: Base,
    prefer: Prefer,
    headers: HeaderMap,
) -> Response {
    read(&sandbox, &base, &prefer, &headers, Some(&calendar_id), &id, &query)
}

fn read(
    sandbox: &Sandbox,
    base: &Base,
    prefer: &Prefer,
    headers: &HeaderMap,
    calendar_id: Option<&str>,
    id: &str,
    query: &[(String, String)],
) -> Response {
    let (state, account) = match begin(sandbox, headers, "GET microsoft events.get") {
        Ok(found) => found,
        Err(response) => return response,
    };
    let zone = Zone::of_response(prefer.time_zone.as_deref());
    let expand = expanded_properties(query);
    let rendered =
        state.microsoft.render_event(&account.email, id, calendar_id, &zone, expand.as_deref());
    match rendered {
        Some(mut out) => {
            out["@odata.context"] =
                format!("{}/$metadata#users('{}')/events/$entity", base.0, account.email).into();
            axum::Json(out).into_response()
        }
        None => not_found(),
    }
}

async fn update_default(
    State(sandbox): State<Sandbox>,
    Path(id): Path<String>,
    base: Base,
    prefer: Prefer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    update(&sandbox, &base, &prefer, &headers, None, &id, &body)
}

async fn update_in(
    State(sandbox): State<Sandbox>,
    Path((calendar_id, id)): InCalendar,
    base: Base,
    prefer: Prefer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    update(&sandbox, &base, &prefer, &headers, Some(&calendar_id), &id, &body)
}

fn update(
    sandbox: &Sandbox,
    base: &Base,
    prefer: &Prefer,
    headers: &HeaderMap,
    calendar_id: Option<&str>,
    id: &str,
    body: &Bytes,
) -> Response {
    let (mut state, account) = match begin(sandbox, headers, "PATCH microsoft events.update") {
        Ok(found) => found,
        Err(response) => return response,
    };
    let outcome = parse_body(body).and_then(|body| {
        state.microsoft.update_event(&account.email, id, calendar_id, body, Writer::Client)
    });
    if let Err(response) = outcome {
        return response;
    }
    let zone = Zone::of_response(prefer.time_zone.as_deref());
    let data = &state.microsoft;
    let mut out = data.render_event(&account.email, id, None, &zone, None).unwrap_or_default();
    out["@odata.context"] =
        format!("{}/$metadata#users('{}')/events/$entity", base.0, account.email).into();
    let deliveries = data.notifications(&account.email, id, ChangeType::Updated);
    drop(state);
    deliver(deliveries);
    axum::Json(out).into_response()
}

async fn delete_default(
    State(sandbox): State<Sandbox>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    delete(&sandbox, &headers, None, &id)
}

async fn delete_in(
    State(sandbox): State<Sandbox>,
    Path((calendar_id, id)): InCalendar,
    headers: HeaderMap,
) -> Response {
    delete(&sandbox, &headers, Some(&calendar_id), &id)
}

fn delete(sandbox: &Sandbox, headers: &HeaderMap, calendar_id: Option<&str>, id: &str) -> Response {
    let (mut state, account) = match begin(sandbox, headers, "DELETE microsoft events.delete") {
        Ok(found) => found,
        Err(response) => return response,
    };
    let data = &mut state.microsoft;
    if let Err(response) = data.delete_event(&account.email, id, calendar_id, Writer::Client) {
        return response;
    }
    let deliveries = data.notifications(&account.email, id, ChangeType::Deleted);
    drop(state);
    deliver(deliveries);
    StatusCode::NO_CONTENT.into_response()
}
