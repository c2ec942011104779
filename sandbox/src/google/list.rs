//! `events.list`: filters, paging and incremental sync.
//!
//! A full listing snapshots the matching ids in order; pages hand them out, and the last page
//! carries a sync token for the change sequence the listing started at, so nothing changed
//! meanwhile is missed. A sync token lists every event changed since (deleted ones as
//! `status: "cancelled"`).

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::store::{Calendar, Data, Page, Stored};
use super::{ApiError, times};
use crate::random_token;

/// Parameters that Google refuses next to `syncToken`.
const NOT_WITH_SYNC: [&str; 8] = [
    "timeMin",
    "timeMax",
    "q",
    "orderBy",
    "privateExtendedProperty",
    "sharedExtendedProperty",
    "iCalUID",
    "updatedMin",
];

/// The parameters of one `events.list` call.
#[derive(Debug, Default)]
pub(super) struct ListQuery {
    time_min: Option<DateTime<Utc>>,
    time_max: Option<DateTime<Utc>>,
    updated_min: Option<DateTime<Utc>>,
    show_deleted: bool,
    single_events: bool,
    order_by: Option<String>,
    max_results: usize,
    page_token: Option<String>,
    sync_token: Option<String>,
    private_properties: Vec<(String, String)>,
    ical_uid: Option<String>,
    /// Names of the parameters given that `syncToken` forbids.
    sync_conflicts: Vec<&'static str>,
}

impl ListQuery {
    /// Reads the query string's pairs.
    pub(super) fn parse(pairs: &[(String, String)]) -> Result<Self, ApiError> {
        let mut query = Self { max_results: 250, ..Self::default() };
        for (key, value) in pairs {
            if let Some(name) = NOT_WITH_SYNC.iter().find(|name| **name == key) {
                query.sync_conflicts.push(name);
            }
            query.read(key, value)?;
        }
        if let (Some(min), Some(max)) = (query.time_min, query.time_max)
            && min >= max
        {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "timeRangeEmpty",
                "The specified time range is empty.",
            ));
        }
        Ok(query)
    }

    fn read(&mut self, key: &str, value: &str) -> Result<(), ApiError> {
        match key {
            "timeMin" => self.time_min = Some(instant_param("timeMin", value)?),
            "timeMax" => self.time_max = Some(instant_param("timeMax", value)?),
            "updatedMin" => self.updated_min = Some(instant_param("updatedMin", value)?),
            "showDeleted" => self.show_deleted = value == "true",
            "singleEvents" => self.single_events = value == "true",
            "orderBy" => self.order_by = Some(value.to_owned()),
            "maxResults" => self.max_results = max_results(value)?,
            "pageToken" => self.page_token = Some(value.to_owned()),
            "syncToken" => self.sync_token = Some(value.to_owned()),
            "iCalUID" => self.ical_uid = Some(value.to_owned()),
            "privateExtendedProperty" => {
                let (name, wanted) = value
                    .split_once('=')
                    .ok_or_else(|| ApiError::invalid(format!("Invalid value for: {key}")))?;
                self.private_properties.push((name.to_owned(), wanted.to_owned()));
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether the call asks for the changes since a sync token (its first page).
    pub(super) fn is_incremental(&self) -> bool {
        self.sync_token.is_some() && self.page_token.is_none()
    }

    /// Whether a stored event passes the filters of a full listing.
    fn admits(&self, stored: &Stored) -> bool {
        let body = &stored.body;
        let deleted_since = self.updated_min.is_some();
        if stored.is_cancelled() && !self.show_deleted && !deleted_since {
            return false;
        }
        let span = times::span(body);
        let ends_after = self.time_min.is_none_or(|min| span.is_some_and(|(_, end)| end > min));
        let starts_before =
            self.time_max.is_none_or(|max| span.is_some_and(|(start, _)| start < max));
        let updated = body.get("updated").and_then(Value::as_str).and_then(times::parse_instant);
        let fresh = self.updated_min.is_none_or(|min| updated.is_some_and(|at| at >= min));
        let uid = self.ical_uid.as_ref().is_none_or(|uid| body.get("iCalUID") == Some(&json!(uid)));
        ends_after && starts_before && fresh && uid && self.has_properties(body)
    }

    fn has_properties(&self, body: &Map<String, Value>) -> bool {
        let private = body.get("extendedProperties").and_then(|p| p.get("private"));
        self.private_properties.iter().all(|(name, wanted)| {
            private.and_then(|p| p.get(name)).and_then(Value::as_str) == Some(wanted)
        })
    }
}

fn instant_param(name: &'static str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    times::parse_instant(value).ok_or_else(|| {
        ApiError::invalid(format!("Invalid value for: {name}")).at("parameter", name)
    })
}

/// 1 to 2500; more is capped at 2500 as Google does.
fn max_results(value: &str) -> Result<usize, ApiError> {
    match value.parse::<usize>() {
        Ok(0) | Err(_) => Err(ApiError::invalid(format!(
            "Invalid value '{value}'. Values must be within the range: [1, 2500]"
        ))),
        Ok(n) => Ok(n.min(2500)),
    }
}

impl Data {
    /// Answers `events.list` on `owner`'s calendar `raw_id`.
    pub(super) fn list(
        &mut self,
        owner: &str,
        raw_id: &str,
        query: &ListQuery,
    ) -> Result<Value, ApiError> {
        let calendar = self.calendar(owner, raw_id)?;
        let mut page = match (&query.page_token, &query.sync_token) {
            (Some(token), _) => self.continued(token, &calendar.id)?,
            (None, Some(token)) => self.changes_since(token, calendar, query)?,
            (None, None) => full_listing(calendar, query)?,
        };
        let rest = page.ids.split_off(page.max_results.min(page.ids.len()));
        let items = page.ids.iter().filter_map(|id| calendar.events.get(id)).map(list_item);
        let mut answer = envelope(calendar, items.collect());
        let token = random_token(24);
        if rest.is_empty() {
            self.sync_tokens.insert(token.clone(), (page.calendar_id, page.snapshot));
            answer["nextSyncToken"] = token.into();
        } else {
            self.pages.insert(token.clone(), Page { ids: rest, ..page });
            answer["nextPageToken"] = token.into();
        }
        Ok(answer)
    }

    fn continued(&self, token: &str, calendar_id: &str) -> Result<Page, ApiError> {
        self.pages.get(token).filter(|page| page.calendar_id == calendar_id).cloned().ok_or_else(
            || ApiError::invalid("Invalid page token value.").at("parameter", "pageToken"),
        )
    }

    fn changes_since(
        &self,
        token: &str,
        calendar: &Calendar,
        query: &ListQuery,
    ) -> Result<Page, ApiError> {
        if let Some(name) = query.sync_conflicts.first() {
            return Err(ApiError::invalid(format!(
                "The parameter {name} cannot be used together with syncToken."
            )));
        }
        let since = match self.sync_tokens.get(token) {
            Some((id, seq)) if *id == calendar.id => *seq,
            _ => return Err(full_sync_required()),
        };
        let mut changed: Vec<_> = calendar.events.iter().filter(|(_, e)| e.seq > since).collect();
        changed.sort_by_key(|(_, stored)| stored.seq);
        Ok(Page {
            calendar_id: calendar.id.clone(),
            ids: changed.into_iter().map(|(id, _)| id.clone()).collect(),
            snapshot: calendar.seq,
            max_results: query.max_results,
        })
    }
}

/// The ids a full listing returns, in order (start time, then id).
fn full_listing(calendar: &Calendar, query: &ListQuery) -> Result<Page, ApiError> {
    if query.order_by.as_deref() == Some("startTime") && !query.single_events {
        return Err(ApiError::invalid(
            "The requested ordering is not available for the particular query.",
        ));
    }
    let mut matching: Vec<_> = calendar.events.iter().filter(|(_, e)| query.admits(e)).collect();
    match query.order_by.as_deref() {
        Some("updated") => matching.sort_by_key(|(_, stored)| stored.seq),
        _ => matching.sort_by_key(|(id, stored)| (times::span(&stored.body), id.as_str())),
    }
    Ok(Page {
        calendar_id: calendar.id.clone(),
        ids: matching.into_iter().map(|(id, _)| id.clone()).collect(),
        snapshot: calendar.seq,
        max_results: query.max_results,
    })
}

/// A listed event; a deleted one is reduced to what Google guarantees (id and status).
fn list_item(stored: &Stored) -> Value {
    if !stored.is_cancelled() {
        return Value::Object(stored.body.clone());
    }
    let keep = ["kind", "etag", "id", "status", "updated"];
    let minimal: Map<String, Value> = stored
        .body
        .iter()
        .filter(|(key, _)| keep.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    Value::Object(minimal)
}

fn envelope(calendar: &Calendar, items: Vec<Value>) -> Value {
    let updated =
        calendar.events.values().filter_map(|e| e.body.get("updated")).max_by_key(|v| v.as_str());
    let default_reminders = if calendar.access_role == "owner" {
        json!([{"method": "popup", "minutes": 30}])
    } else {
        json!([])
    };
    json!({
        "kind": "calendar#events",
        "etag": calendar.etag(),
        "summary": calendar.summary,
        "description": "",
        "updated": updated.cloned().unwrap_or_else(|| "1970-01-01T00:00:00.000Z".into()),
        "timeZone": calendar.time_zone,
        "accessRole": calendar.access_role,
        "defaultReminders": default_reminders,
        "items": items,
    })
}

/// Google's 410 for a sync token it no longer honours.
fn full_sync_required() -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        "fullSyncRequired",
        "Sync token is no longer valid, a full sync is required.",
    )
    .at("parameter", "syncToken")
}
