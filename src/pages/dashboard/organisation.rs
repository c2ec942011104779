//! Organisation: a whole Google Workspace connected once by its administrator. The steps in
//! Google Cloud and the Admin console written out, the connect form (the API's checks,
//! `input::organisations`; Google's refusals in place), each connection's covered staff and
//! their calendars' state, refresh and disconnect: the same service functions as
//! `/api/v1/organisation-connections`. The key is never shown, not even back in a failed form.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use kalends_service::organisations::{self, OrganisationError};
use kalends_store::{OrganisationConnection, OrganisationMember};
use maud::{Markup, html};

use super::{
    Console, Form, Posted, Section, done, field_error, id_of, internal, invalid, not_found,
    other_errors, page_with_status, query, store_failure,
};
use crate::input::FieldError;
use crate::input::organisations::{GoogleFields, google_workspace};
use crate::state::AppState;

/// The scopes the administrator delegates, as the Admin console takes them (comma-separated).
const SCOPES: &str = "https://www.googleapis.com/auth/calendar.events,https://www.googleapis.com/auth/calendar.readonly,https://www.googleapis.com/auth/admin.directory.user.readonly";

/// The form's fields, each shown with its own errors.
const FIELDS: [&str; 4] = ["service_account_key", "domain", "admin_email", "org_unit"];

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard/organisation", get(show).post(connect))
        .route("/dashboard/organisation/{id}/{action}", post(act))
}

fn organisation_notice(code: Option<&str>) -> Markup {
    let text = match code {
        Some("connected") => "The Workspace is connected: its staff's calendars are being filled.",
        Some("refreshed") => "The directory was read again.",
        Some("disconnected") => {
            "The Workspace is disconnected: its staff's calendars no longer sync."
        }
        _ => return html! {},
    };
    html! { p.flash.ok role="status" { (text) } }
}

async fn show(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    render(&state, &console, &Form::default(), &[], query(&q, "notice")).await
}

async fn render(
    state: &AppState,
    console: &Console,
    typed: &Form,
    errors: &[FieldError],
    notice_code: Option<&str>,
) -> Response {
    let tenant = console.tenant.id;
    let connected = match state.store.list_organisation_connections(tenant).await {
        Ok(list) => list,
        Err(e) => return internal(e),
    };
    let mut members = Vec::with_capacity(connected.len());
    for organisation in &connected {
        match state.store.organisation_members(tenant, organisation.id).await {
            Ok(list) => members.push(list),
            Err(e) => return internal(e),
        }
    }
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let body = html! {
        h1 { "Organisation" }
        p.lead { "Connect your whole Google Workspace once: every staff member in it gets their bookings in their own calendar, without each of them connecting it." }
        (organisation_notice(notice_code))
        @for (organisation, members) in connected.iter().zip(&members) {
            (organisation_card(console, organisation, members))
        }
        section.card aria-labelledby="connect-title" {
            h2 #connect-title { "Connect a Google Workspace" }
            (steps())
            (other_errors(errors, &FIELDS))
            form.stack method="post" action="/dashboard/organisation" {
                (console.csrf_field())
                label for="service_account_key" { "The service account's JSON key (paste the whole file)" }
                textarea #service_account_key name="service_account_key" rows="6" required
                    spellcheck="false" autocomplete="off"
                    aria-invalid=(invalid(errors, "service_account_key"))
                    aria-describedby="service_account_key-error" {}
                @if !errors.is_empty() { p.meta { "For your safety the key is not shown again: paste it once more." } }
                (field_error(errors, "service_account_key"))
                label for="domain" { "Workspace domain" }
                input #domain name="domain" required placeholder="salon.example" value=(typed.value("domain"))
                    aria-invalid=(invalid(errors, "domain")) aria-describedby="domain-error";
                (field_error(errors, "domain"))
                label for="admin_email" { "A Workspace administrator's e-mail (the directory is read as them)" }
                input #admin_email name="admin_email" type="email" required value=(typed.value("admin_email"))
                    aria-invalid=(invalid(errors, "admin_email")) aria-describedby="admin_email-error";
                (field_error(errors, "admin_email"))
                label for="org_unit" { "Only this organisational unit (optional, the units below it included)" }
                input #org_unit name="org_unit" placeholder="/Staff" value=(typed.value("org_unit"))
                    aria-invalid=(invalid(errors, "org_unit")) aria-describedby="org_unit-error";
                (field_error(errors, "org_unit"))
                div.actions { button.primary type="submit" { "Check and connect" } }
            }
            p.meta { "Microsoft 365 organisations cannot be connected this way yet: their staff connect their calendars one by one from their settings pages." }
        }
    };
    page_with_status(status, console, Section::Organisation, "Organisation", body)
}

/// What the administrator does in Google Cloud and the Admin console first.
fn steps() -> Markup {
    html! {
        ol.steps {
            li { "In the Google Cloud console, in a project with the Google Calendar API and the Admin SDK API enabled: IAM & Admin > Service accounts > Create service account (no roles needed). Note its Unique ID, then Keys > Add key > Create new key > JSON." }
            li { "In the Google Admin console, as a super administrator: Security > Access and data control > API controls > Domain-wide delegation > Add new. Client ID: the service account's Unique ID. OAuth scopes:" br; code.scopes { (SCOPES) } }
            li { "Paste the key below with your domain and an administrator's address. Kalends checks all of it with Google before it keeps anything, and says what is missing." }
        }
    }
}

fn organisation_card(
    console: &Console,
    organisation: &OrganisationConnection,
    members: &[OrganisationMember],
) -> Markup {
    let action = |what: &str, text: &str, class: &str| {
        html! {
            form.inline method="post" action=(format!("/dashboard/organisation/{}/{what}", organisation.id)) {
                (console.csrf_field()) button class=(class) type="submit" { (text) }
            }
        }
    };
    html! {
        section.card.organisation aria-label=(format!("Workspace {}", organisation.domain)) {
            h2 { span class="dot google" {} " " (organisation.domain) }
            p.meta {
                "Service account " code { (organisation.service_account) } " · read as " (organisation.admin_email)
                " · " (organisation.org_unit.as_deref().unwrap_or("the whole domain"))
                @if let Some(at) = organisation.last_refreshed_at { " · directory read " (at.format("%-d %b %Y %H:%M UTC")) }
            }
            @if let Some(error) = &organisation.last_error { p.error-text { "Last error: " (error) } }
            @if members.is_empty() { p.empty { "Nobody is in scope." } } @else {
                table.list {
                    thead { tr { th scope="col" { "Staff member" } th scope="col" { "Calendar" } } }
                    tbody {
                        @for m in members {
                            tr {
                                td { (m.email) }
                                td {
                                    @match m.state.as_str() {
                                        "active" => { "Syncing" },
                                        "left" => { "Left the Workspace's scope: not synced" },
                                        _ => { "Failing" },
                                    }
                                    @if let Some(error) = &m.last_error { br; small { (error) } }
                                }
                            }
                        }
                    }
                }
            }
            div.actions {
                (action("refresh", "Read the directory again", ""))
                " " (action("disconnect", "Disconnect the Workspace", "danger"))
            }
        }
    }
}

/// `POST /dashboard/organisation`: connect, checked with Google first; errors in place.
async fn connect(State(state): State<AppState>, Posted { console, form }: Posted) -> Response {
    let fields = GoogleFields {
        service_account_key: form.text("service_account_key").map(serde_json::Value::String),
        domain: form.trimmed("domain"),
        admin_email: form.trimmed("admin_email"),
        org_unit: form.trimmed("org_unit"),
        busy_only: false,
        foreign: Vec::new(),
    };
    let input = match google_workspace(fields) {
        Ok(input) => input,
        Err(errors) => return render(&state, &console, &form, &errors, None).await,
    };
    match organisations::create_google(
        crate::connections::organisation_context(&state),
        console.tenant.id,
        input,
    )
    .await
    {
        Ok(_) => done("/dashboard/organisation", "connected"),
        Err(error) => refused(&state, &console, &form, error).await,
    }
}

/// A refusal shown on the page: a field's in place, Google's silence above the form.
async fn refused(
    state: &AppState,
    console: &Console,
    form: &Form,
    error: OrganisationError,
) -> Response {
    let errors = match error {
        OrganisationError::Invalid { field, message } => vec![FieldError::new(field, message)],
        OrganisationError::Unreachable(_) => vec![FieldError::new("", error.to_string())],
        OrganisationError::Store(e) => return store_failure("Organisation connection", e),
    };
    render(state, console, form, &errors, None).await
}

/// `POST /dashboard/organisation/{id}/{action}`: refresh, disconnect.
async fn act(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    Posted { console, form }: Posted,
) -> Response {
    let id = match id_of(&id, "Organisation connection") {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let tenant = console.tenant.id;
    match action.as_str() {
        "refresh" => match organisations::refresh(
            crate::connections::organisation_context(&state),
            tenant,
            id,
        )
        .await
        {
            Ok(_) => done("/dashboard/organisation", "refreshed"),
            Err(error) => refused(&state, &console, &form, error).await,
        },
        "disconnect" => match organisations::delete(
            crate::connections::organisation_context(&state),
            tenant,
            id,
            true,
        )
        .await
        {
            Ok(()) => done("/dashboard/organisation", "disconnected"),
            Err(e) => store_failure("Organisation connection", e),
        },
        _ => not_found("Action"),
    }
}
