//! `calendarList.list` and `freeBusy.query`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::store::Calendar;
use super::{ApiError, admit, json_object, times};
use crate::Sandbox;

/// `GET users/me/calendarList`.
pub(super) async fn calendar_list(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let mut state = sandbox.lock();
    let account =
        admit(&mut state, &headers, "GET google calendarList.list", super::LIST_CALENDARS)?;
    let items: Vec<Value> =
        state.google.calendars_of(&account.email).into_iter().map(list_entry).collect();
    Ok(Json(json!({
        "kind": "calendar#calendarList",
        "etag": format!("\"p3{}\"", items.len()),
        "nextSyncToken": crate::random_token(12),
        "items": items,
    }))
    .into_response())
}

fn list_entry(calendar: &Calendar) -> Value {
    let mut entry = json!({
        "kind": "calendar#calendarListEntry",
        "etag": calendar.etag(),
        "id": calendar.id,
        "summary": calendar.summary,
        "timeZone": calendar.time_zone,
        "colorId": if calendar.primary { "14" } else { "8" },
        "backgroundColor": if calendar.primary { "#9fe1e7" } else { "#16a765" },
        "foregroundColor": "#000000",
        "selected": true,
        "accessRole": calendar.access_role,
        "defaultReminders": [],
        "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]},
    });
    if calendar.primary {
        entry["primary"] = true.into();
        entry["defaultReminders"] = json!([{"method": "popup", "minutes": 30}]);
    }
    entry
}

/// `POST freeBusy`: busy = confirmed or tentative, not transparent, overlapping the window;
/// intervals are clipped to the window and overlapping ones merged.
pub(super) async fn free_busy(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let mut state = sandbox.lock();
    let account = admit(&mut state, &headers, "POST google freebusy.query", super::FREE_BUSY)?;
    let request = json_object(&body)?;
    let (start, end) = window(&request)?;
    let mut calendars = Map::new();
    for id in requested_ids(&request) {
        let answer = match state.google.calendar(&account.email, &id) {
            Ok(calendar) => json!({"busy": busy(calendar, start, end)}),
            Err(_) => json!({"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}),
        };
        calendars.insert(id, answer);
    }
    Ok(Json(json!({
        "kind": "calendar#freeBusy",
        "timeMin": times::timestamp(start),
        "timeMax": times::timestamp(end),
        "calendars": calendars,
    }))
    .into_response())
}

fn window(request: &Map<String, Value>) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let read = |name: &'static str| {
        request.get(name).and_then(Value::as_str).and_then(times::parse_instant).ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, "required", format!("Missing {name}."))
        })
    };
    let (start, end) = (read("timeMin")?, read("timeMax")?);
    if start >= end {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "timeRangeEmpty",
            "The specified time range is empty.",
        ));
    }
    Ok((start, end))
}

fn requested_ids(request: &Map<String, Value>) -> Vec<String> {
    let items = request.get("items").and_then(Value::as_array);
    items
        .into_iter()
        .flatten()
        .filter_map(|item| item.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

fn busy(calendar: &Calendar, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Value> {
    let mut spans: Vec<_> = calendar
        .events
        .values()
        .filter(|stored| !stored.is_cancelled())
        .filter(|stored| {
            stored.body.get("transparency").and_then(Value::as_str) != Some("transparent")
        })
        .filter_map(|stored| times::span(&stored.body))
        .filter(|(from, to)| *from < end && *to > start)
        .map(|(from, to)| (from.max(start), to.min(end)))
        .collect();
    spans.sort();
    let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for (from, to) in spans {
        match merged.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => merged.push((from, to)),
        }
    }
    merged
        .into_iter()
        .map(|(from, to)| json!({"start": times::timestamp(from), "end": times::timestamp(to)}))
        .collect()
}
