//! The user and their calendars: `GET /me`, `/me/calendars`, `/me/calendar` (and its update).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use serde_json::{Value, json};

use super::{Base, Calendar, Mailbox, begin, not_found};
use crate::{Sandbox, graph_error};

/// `GET /me`.
pub(super) async fn me(State(sandbox): State<Sandbox>, base: Base, headers: HeaderMap) -> Response {
    let (state, account) = match begin(&sandbox, &headers, "GET microsoft me") {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(mailbox) = state.microsoft.mailbox(&account.email) else {
        return not_found();
    };
    let (given, surname) =
        mailbox.name.split_once(' ').map_or((mailbox.name.as_str(), ""), |(a, b)| (a, b));
    axum::Json(json!({
        "@odata.context": format!("{}/$metadata#users/$entity", base.0),
        "businessPhones": [],
        "displayName": mailbox.name,
        "givenName": given,
        "surname": surname,
        "jobTitle": null,
        "mail": mailbox.email,
        "mobilePhone": null,
        "officeLocation": null,
        "preferredLanguage": "en-US",
        "userPrincipalName": mailbox.email,
        "id": mailbox.user_id,
    }))
    .into_response()
}

/// `GET /me/calendars`.
pub(super) async fn list_calendars(
    State(sandbox): State<Sandbox>,
    base: Base,
    headers: HeaderMap,
) -> Response {
    let (state, account) = match begin(&sandbox, &headers, "GET microsoft calendars") {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(mailbox) = state.microsoft.mailbox(&account.email) else {
        return not_found();
    };
    let value: Vec<Value> =
        mailbox.calendars.iter().map(|calendar| calendar_json(calendar, mailbox)).collect();
    axum::Json(json!({
        "@odata.context": format!("{}/$metadata#users('{}')/calendars", base.0, mailbox.user_id),
        "value": value,
    }))
    .into_response()
}

/// `GET /me/calendar`.
pub(super) async fn default_calendar(
    State(sandbox): State<Sandbox>,
    base: Base,
    headers: HeaderMap,
) -> Response {
    let (state, account) = match begin(&sandbox, &headers, "GET microsoft calendar") {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(mailbox) = state.microsoft.mailbox(&account.email) else {
        return not_found();
    };
    let mut out = calendar_json(mailbox.default_calendar(), mailbox);
    out["@odata.context"] =
        format!("{}/$metadata#users('{}')/calendars/$entity", base.0, mailbox.user_id).into();
    axum::Json(out).into_response()
}

/// `PATCH /me/calendar`: the default calendar's `name` changed; an empty object changes
/// nothing and answers the calendar, as Graph does. A property Graph does not let a client
/// write (or that the sandbox does not model) is refused. Needs write access to the mailbox.
pub(super) async fn update_default_calendar(
    State(sandbox): State<Sandbox>,
    base: Base,
    headers: HeaderMap,
    axum::Json(patch): axum::Json<serde_json::Map<String, Value>>,
) -> Response {
    let (mut state, account) = match begin(&sandbox, &headers, "PATCH microsoft calendar") {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(mailbox) = state.microsoft.mailbox_mut(&account.email) else {
        return not_found();
    };
    if !mailbox.default_calendar().can_edit {
        return super::access_denied();
    }
    for (property, value) in &patch {
        match (property.as_str(), value.as_str()) {
            ("name", Some(name)) if !name.trim().is_empty() => {}
            _ => {
                let why = format!("The property '{property}' cannot be written here.");
                return graph_error(StatusCode::BAD_REQUEST, "ErrorInvalidProperty", &why);
            }
        }
    }
    let index = mailbox.calendars.iter().position(|c| c.is_default).unwrap_or(0);
    if let Some(name) = patch.get("name").and_then(Value::as_str) {
        name.clone_into(&mut mailbox.calendars[index].name);
    }
    let mut out = calendar_json(&mailbox.calendars[index], mailbox);
    out["@odata.context"] =
        format!("{}/$metadata#users('{}')/calendars/$entity", base.0, mailbox.user_id).into();
    axum::Json(out).into_response()
}

fn calendar_json(calendar: &Calendar, mailbox: &Mailbox) -> Value {
    json!({
        "id": calendar.id,
        "name": calendar.name,
        "color": calendar.color,
        "hexColor": "",
        "isDefaultCalendar": calendar.is_default,
        "changeKey": "fJKVL07sbkmIfHqjbDnRgQAAAAAAAA==",
        "canShare": calendar.can_edit,
        "canViewPrivateItems": true,
        "canEdit": calendar.can_edit,
        "isRemovable": !calendar.is_default && calendar.can_edit,
        "isTallyingResponses": calendar.can_edit,
        "allowedOnlineMeetingProviders": ["teamsForBusiness"],
        "defaultOnlineMeetingProvider": "teamsForBusiness",
        "owner": {"name": mailbox.name, "address": mailbox.email},
    })
}
