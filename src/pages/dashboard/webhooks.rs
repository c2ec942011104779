//! Webhooks: the tenant's outbound webhook endpoints, added (the signing secret shown once),
//! enabled or disabled, their secret rotated (shown once), tested and deleted, and each one's
//! delivery log with a retry per delivery; every action the same service function as
//! `/api/v1/webhook-endpoints`, with the API's checks (`input::webhook_endpoints`).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use kalends_core::webhooks::{EVENT_TYPES, message_id};
use kalends_service::webhooks;
use kalends_store::{WebhookDelivery, WebhookEndpoint, WebhookEndpointPatch};
use maud::{Markup, html};
use secrecy::{ExposeSecret as _, SecretString};

use super::{
    Console, Form, Posted, Section, done, field_error, id_of, internal, invalid, not_found,
    other_errors, page_with_status, query, store_failure,
};
use crate::input::FieldError;
use crate::input::webhook_endpoints::{EndpointFields, endpoint_spec, rotated_until};
use crate::state::AppState;

/// Most endpoints, and most deliveries of one endpoint, a page lists.
const MAX_LISTED: u32 = 200;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard/webhooks", get(show).post(add))
        .route("/dashboard/webhooks/{id}", get(log))
        .route("/dashboard/webhooks/{id}/{action}", post(act))
        .route("/dashboard/webhooks/{id}/deliveries/{delivery_id}/retry", post(retry))
}

/// The checkbox of an event type (a form keeps one value a name).
fn type_field(event_type: &str) -> String {
    format!("event_types {event_type}")
}

/// A one-off message after an action on this page.
fn webhook_notice(code: Option<&str>) -> Markup {
    let text = match code {
        Some("enabled") => "The endpoint is enabled: events are sent to it again.",
        Some("disabled") => "The endpoint is disabled: nothing is sent to it until it is enabled.",
        Some("tested") => "A test event is on its way; the delivery log shows how it went.",
        Some("deleted") => "The endpoint is deleted: nothing more is sent to it.",
        Some("retried") => "The delivery is tried once more now.",
        _ => return html! {},
    };
    html! { p.flash.ok role="status" { (text) } }
}

async fn show(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    render(&state, &console, &Form::default(), &[], query(&q, "notice"), None).await
}

/// A secret just made, shown once: the endpoint's label and the secret.
struct NewSecret<'a> {
    endpoint: &'a WebhookEndpoint,
    secret: &'a SecretString,
}

async fn render(
    state: &AppState,
    console: &Console,
    typed: &Form,
    errors: &[FieldError],
    notice_code: Option<&str>,
    secret: Option<NewSecret<'_>>,
) -> Response {
    let listed = match state.store.list_webhook_endpoints(console.tenant.id, None, MAX_LISTED).await
    {
        Ok(page) => page.items,
        Err(e) => return internal(e),
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let body = html! {
        h1 { "Webhooks" }
        (webhook_notice(notice_code))
        @if let Some(new) = secret {
            section.card role="status" aria-labelledby="secret-title" {
                h2 #secret-title { "Signing secret of " (label(new.endpoint)) }
                p { "Copy it now: it is shown only this once. Verify each delivery's "
                    code { "webhook-signature" } " with it (any Standard Webhooks library does)." }
                p { code.secret { (new.secret.expose_secret()) } }
            }
        }
        section.card aria-labelledby="list-title" {
            h2 #list-title { "Endpoints" }
            (endpoint_list(console, &listed))
        }
        section.card aria-labelledby="add-title" {
            h2 #add-title { "Add an endpoint" }
            (other_errors(errors, &["url", "event_types", "description"]))
            form.stack method="post" action="/dashboard/webhooks" {
                (console.csrf_field())
                label for="url" { "URL (https://…) that receives the events" }
                input #url name="url" type="url" required value=(typed.value("url"))
                    aria-invalid=(invalid(errors, "url")) aria-describedby="url-error";
                (field_error(errors, "url"))
                fieldset.checks {
                    legend { "Events it receives" }
                    @for t in EVENT_TYPES.iter().filter(|t| **t != "webhook.test") {
                        label.check {
                            input type="checkbox" name=(type_field(t)) value="yes"
                                checked[typed.get(&type_field(t)) == Some("yes")];
                            code { (t) }
                        }
                    }
                }
                (field_error(errors, "event_types"))
                label for="description" { "Description (optional)" }
                input #description name="description" value=(typed.value("description"))
                    aria-invalid=(invalid(errors, "description"));
                (field_error(errors, "description"))
                div.actions { button.primary type="submit" { "Add endpoint" } }
            }
        }
    };
    page_with_status(status, console, Section::Webhooks, "Webhooks", body)
}

fn label(endpoint: &WebhookEndpoint) -> &str {
    endpoint.description.as_deref().unwrap_or(endpoint.url.as_str())
}

fn instant(at: DateTime<Utc>) -> String {
    at.format("%-d %b %Y %H:%M UTC").to_string()
}

fn endpoint_list(console: &Console, endpoints: &[WebhookEndpoint]) -> Markup {
    let action = |e: &WebhookEndpoint, what: &str, text: &str, class: &str| {
        html! {
            form.inline method="post" action=(format!("/dashboard/webhooks/{}/{what}", e.id)) {
                (console.csrf_field()) button class=(class) type="submit" { (text) }
            }
        }
    };
    html! {
        @if endpoints.is_empty() { p.empty { "No endpoints: nothing is sent." } } @else {
            table.list {
                thead { tr {
                    th scope="col" { "Endpoint" } th.wide-only scope="col" { "Events" } th scope="col" { "Status" }
                    th scope="col" { span.visually-hidden { "Actions" } }
                } }
                tbody {
                    @for e in endpoints {
                        tr {
                            td {
                                a href=(format!("/dashboard/webhooks/{}", e.id)) { (label(e)) }
                                br; small { (e.url) }
                            }
                            td.wide-only { (e.event_types.join(", ")) }
                            td {
                                @if e.enabled { "Enabled" } @else { "Disabled" }
                                @if let Some(reason) = &e.disabled_reason { br; small { (reason) } }
                                @if let Some(since) = e.failing_since { br; small { "Failing since " (instant(since)) } }
                            }
                            td {
                                // Spaces between the buttons, so that a narrow screen wraps them.
                                @if e.enabled { (action(e, "disable", "Disable", "")) }
                                @else { (action(e, "enable", "Enable", "")) }
                                @if e.enabled { " " (action(e, "test", "Send test", "")) }
                                " " (action(e, "rotate-secret", "Rotate secret", ""))
                                " " (action(e, "delete", "Delete", "danger"))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `POST /dashboard/webhooks`: the API's endpoint, checked the API's way; errors in place,
/// the secret shown once on success.
async fn add(State(state): State<AppState>, Posted { console, form }: Posted) -> Response {
    let event_types: Vec<String> = EVENT_TYPES
        .iter()
        .filter(|t| form.get(&type_field(t)) == Some("yes"))
        .map(|t| (*t).to_owned())
        .collect();
    let fields = EndpointFields {
        url: form.value("url"),
        event_types: &event_types,
        description: form.trimmed("description"),
        enabled: Some(true),
    };
    let spec = match endpoint_spec(fields, &state.config.webhooks) {
        Ok(spec) => spec,
        Err(errors) => return render(&state, &console, &form, &errors, None, None).await,
    };
    match webhooks::create(&state.store, &state.sealer, console.tenant.id, spec).await {
        Ok((endpoint, secret)) => {
            let new = NewSecret { endpoint: &endpoint, secret: &secret };
            render(&state, &console, &Form::default(), &[], None, Some(new)).await
        }
        Err(e) => store_failure("Webhook endpoint", e),
    }
}

/// `POST /dashboard/webhooks/{id}/{action}`: enable, disable, test, rotate-secret, delete.
async fn act(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    Posted { console, .. }: Posted,
) -> Response {
    let id = match id_of(&id, "Webhook endpoint") {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let (store, tenant) = (&state.store, console.tenant.id);
    let enable = |enabled| WebhookEndpointPatch { enabled: Some(enabled), ..Default::default() };
    let result = match action.as_str() {
        "enable" => webhooks::update(store, tenant, id, &enable(true)).await.map(|_| "enabled"),
        "disable" => webhooks::update(store, tenant, id, &enable(false)).await.map(|_| "disabled"),
        "test" => webhooks::send_test(store, tenant, id).await.map(|_| "tested"),
        "delete" => webhooks::delete(store, tenant, id).await.map(|()| "deleted"),
        "rotate-secret" => {
            let until = rotated_until(&state.config.webhooks);
            return match webhooks::rotate_secret(store, &state.sealer, tenant, id, until).await {
                Ok((endpoint, secret)) => {
                    let new = NewSecret { endpoint: &endpoint, secret: &secret };
                    render(&state, &console, &Form::default(), &[], None, Some(new)).await
                }
                Err(e) => store_failure("Webhook endpoint", e),
            };
        }
        _ => return not_found("Action"),
    };
    match result {
        Ok(code) if code == "tested" => done(&format!("/dashboard/webhooks/{id}"), code),
        Ok(code) => done("/dashboard/webhooks", code),
        Err(e) => store_failure("Webhook endpoint", e),
    }
}

/// `GET /dashboard/webhooks/{id}`: the endpoint's delivery log, newest first.
async fn log(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let id = match id_of(&id, "Webhook endpoint") {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let tenant = console.tenant.id;
    let endpoint = match state.store.webhook_endpoint(tenant, id).await {
        Ok(endpoint) => endpoint,
        Err(e) => return store_failure("Webhook endpoint", e),
    };
    // The log is paged oldest first in the API; here the latest come first.
    let deliveries = match state.store.latest_webhook_deliveries(tenant, id, MAX_LISTED).await {
        Ok(deliveries) => deliveries,
        Err(e) => return store_failure("Webhook endpoint", e),
    };
    let body = html! {
        h1 { "Deliveries to " (label(&endpoint)) }
        (webhook_notice(query(&q, "notice")))
        p { a href="/dashboard/webhooks" { "All endpoints" } }
        section.card aria-labelledby="log-title" {
            h2 #log-title { "Delivery log (the latest " (MAX_LISTED) ", newest first)" }
            (delivery_list(&console, &deliveries))
        }
    };
    page_with_status(StatusCode::OK, &console, Section::Webhooks, "Webhook deliveries", body)
}

fn delivery_list(console: &Console, deliveries: &[WebhookDelivery]) -> Markup {
    html! {
        @if deliveries.is_empty() { p.empty { "Nothing sent yet." } } @else {
            table.list {
                thead { tr {
                    th scope="col" { "Event" } th scope="col" { "Status" } th scope="col" { "Attempts" }
                    th scope="col" { span.visually-hidden { "Actions" } }
                } }
                tbody {
                    @for d in deliveries {
                        tr {
                            td { code { (d.event_type) } br; small { (message_id(d.event_id)) } br; small { (instant(d.created_at)) } }
                            td {
                                (d.status.as_str())
                                @if let Some(next) = d.next_attempt_at { br; small { "Next attempt " (instant(next)) } }
                            }
                            td {
                                ol {
                                    @for a in &d.attempts {
                                        li {
                                            (instant(a.attempted_at)) ": "
                                            @match a.status_code { Some(code) => { "HTTP " (code) }, None => { "no answer" } }
                                            " in " (a.duration_ms) " ms"
                                            @if let Some(error) = &a.error { " (" (error) ")" }
                                            @if let Some(excerpt) = &a.response_excerpt { br; small { (excerpt) } }
                                        }
                                    }
                                }
                            }
                            td {
                                form.inline method="post"
                                    action=(format!("/dashboard/webhooks/{}/deliveries/{}/retry", d.endpoint_id, d.id)) {
                                    (console.csrf_field()) button type="submit" { "Retry" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `POST /dashboard/webhooks/{id}/deliveries/{delivery_id}/retry`: one more attempt now.
async fn retry(
    State(state): State<AppState>,
    Path((id, delivery_id)): Path<(String, String)>,
    Posted { console, .. }: Posted,
) -> Response {
    let ids =
        id_of(&id, "Webhook endpoint").and_then(|id| Ok((id, id_of(&delivery_id, "Delivery")?)));
    let (id, delivery_id) = match ids {
        Ok(ids) => ids,
        Err(refused) => return refused,
    };
    match webhooks::retry(&state.store, console.tenant.id, id, delivery_id).await {
        Ok(_) => done(&format!("/dashboard/webhooks/{id}"), "retried"),
        Err(e) => store_failure("Delivery", e),
    }
}
