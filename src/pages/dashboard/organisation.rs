//! Organisation: a whole Google Workspace or Microsoft 365 organisation connected once by its
//! administrator. The steps in Google Cloud and the Admin console, or in the Microsoft Entra
//! admin center, written out, a connect form for each (the API's checks,
//! `input::organisations`; the provider's refusals in place), each connection's covered staff
//! and their calendars' state, refresh and disconnect: the same service functions as
//! `/api/v1/organisation-connections`. The key or secret is never shown, not even back in a
//! failed form.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use kalends_service::organisations::{self, OrganisationError};
use kalends_store::{Actor, OrganisationConnection, OrganisationLogEntry, OrganisationMember};
use maud::{Markup, html};

use super::sync::when;
use super::{
    Console, Form, Posted, Section, done, field_error, id_of, internal, invalid, not_found,
    other_errors, page_with_status, query, store_failure,
};
use crate::input::FieldError;
use crate::input::organisations::{
    GoogleFields, KeyJson, MicrosoftFields, google_workspace, microsoft_tenant,
};
use crate::state::AppState;

/// The scopes the administrator delegates, as the Admin console takes them (comma-separated).
const SCOPES: &str = "https://www.googleapis.com/auth/calendar.events,https://www.googleapis.com/auth/calendar.readonly,https://www.googleapis.com/auth/admin.directory.user.readonly";
/// The one calendar scope the busy-times-only tier delegates.
const FREE_BUSY_SCOPE: &str = "https://www.googleapis.com/auth/calendar.freebusy";

/// The Google form's fields, each shown with its own errors.
const FIELDS: [&str; 4] = ["service_account_key", "domain", "admin_email", "org_unit"];
/// The Microsoft form's.
const MICROSOFT_FIELDS: [&str; 5] =
    ["tenant_id", "client_id", "client_secret", "client_certificate", "group_id"];

/// The log entries the page shows, newest first (the API answers more).
const LOG_SHOWN: u32 = 20;

/// The application permissions the administrator grants (and consents to) in Entra.
const PERMISSIONS: &str =
    "Calendars.ReadWrite, User.Read.All (and GroupMember.Read.All with a group)";

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard/organisation", get(show).post(connect))
        .route("/dashboard/organisation/{id}/{action}", post(act))
}

fn organisation_notice(code: Option<&str>) -> Markup {
    let text = match code {
        Some("connected") => "The Workspace is connected: its staff's calendars are being filled.",
        Some("connected-microsoft") => {
            "The Microsoft 365 organisation is connected: its staff's calendars are being filled."
        }
        Some("refreshed") => "The directory was read again.",
        Some("busy-only") => {
            "Busy times only from now: Kalends' events are being removed from the covered calendars."
        }
        Some("write-bookings") => {
            "The covered calendars take bookings from now: the upcoming ones are being written."
        }
        Some("disconnected") => {
            "The organisation is disconnected: its staff's calendars no longer sync."
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
    let log = match state.store.organisation_log(tenant, None, LOG_SHOWN).await {
        Ok(page) => page.items,
        Err(e) => return internal(e),
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    // Errors that are no field's show above the form that was sent; those of an action on a
    // connection that exists (its buttons send no provider) above every form.
    let microsoft_sent = typed.value("provider") == "microsoft";
    let (google_errors, microsoft_errors, action_errors) = match typed.value("provider") {
        "microsoft" => (&[][..], errors, &[][..]),
        "google" => (errors, &[][..], &[][..]),
        _ => (&[][..], &[][..], errors),
    };
    let body = html! {
        h1 { "Organisation" }
        p.lead { "Connect your whole Google Workspace or Microsoft 365 organisation once: every staff member in it gets their bookings in their own calendar, without each of them connecting it." }
        (organisation_notice(notice_code))
        (other_errors(action_errors, &[]))
        @for (organisation, members) in connected.iter().zip(&members) {
            (organisation_card(console, organisation, members))
        }
        section.card aria-labelledby="connect-title" {
            h2 #connect-title { "Connect a Google Workspace" }
            (steps())
            (other_errors(google_errors, &FIELDS))
            form.stack method="post" action="/dashboard/organisation" {
                (console.csrf_field())
                input type="hidden" name="provider" value="google";
                label for="service_account_key" { "The service account's JSON key (paste the whole file)" }
                textarea #service_account_key name="service_account_key" rows="6" required
                    spellcheck="false" autocomplete="off"
                    aria-invalid=(invalid(errors, "service_account_key"))
                    aria-describedby="service_account_key-error" {}
                @if !google_errors.is_empty() { p.meta { "For your safety the key is not shown again: paste it once more." } }
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
                (busy_only_field("google-busy_only", !microsoft_sent && typed.value("busy_only") == "true", FREE_BUSY_SCOPE))
                div.actions { button.primary type="submit" { "Check and connect" } }
            }
        }
        (microsoft_form(console, typed, errors, microsoft_errors))
        (log_card(console, &log))
    };
    page_with_status(status, console, Section::Organisation, "Organisation", body)
}

/// The form connecting a Microsoft 365 organisation; what was typed is kept when it was the one
/// sent (never the secret).
fn microsoft_form(
    console: &Console,
    typed: &Form,
    errors: &[FieldError],
    microsoft_errors: &[FieldError],
) -> Markup {
    let microsoft_sent = typed.value("provider") == "microsoft";
    html! {
        section.card aria-labelledby="connect-microsoft-title" {
            h2 #connect-microsoft-title { "Connect a Microsoft 365 organisation" }
            (microsoft_steps())
            (other_errors(microsoft_errors, &MICROSOFT_FIELDS))
            form.stack method="post" action="/dashboard/organisation" {
                (console.csrf_field())
                input type="hidden" name="provider" value="microsoft";
                label for="tenant_id" { "Directory (tenant) ID" }
                input #tenant_id name="tenant_id" required spellcheck="false"
                    value=(if microsoft_sent { typed.value("tenant_id") } else { "" })
                    aria-invalid=(invalid(errors, "tenant_id")) aria-describedby="tenant_id-error";
                (field_error(errors, "tenant_id"))
                label for="client_id" { "Application (client) ID" }
                input #client_id name="client_id" required spellcheck="false"
                    value=(if microsoft_sent { typed.value("client_id") } else { "" })
                    aria-invalid=(invalid(errors, "client_id")) aria-describedby="client_id-error";
                (field_error(errors, "client_id"))
                label for="client_secret" { "Client secret (its value)" }
                input #client_secret name="client_secret" type="password" autocomplete="off"
                    aria-invalid=(invalid(errors, "client_secret")) aria-describedby="client_secret-error";
                @if !microsoft_errors.is_empty() { p.meta { "For your safety the secret or certificate is not shown again: paste it once more." } }
                (field_error(errors, "client_secret"))
                label for="client_certificate" { "Or, instead of a secret, the application's certificate and its private key (PEM)" }
                textarea #client_certificate name="client_certificate" rows="4" spellcheck="false" autocomplete="off"
                    aria-invalid=(invalid(errors, "client_certificate")) aria-describedby="client_certificate-error" {}
                (field_error(errors, "client_certificate"))
                label for="group_id" { "Only this security group's members (optional: its object ID)" }
                input #group_id name="group_id" spellcheck="false"
                    value=(if microsoft_sent { typed.value("group_id") } else { "" })
                    aria-invalid=(invalid(errors, "group_id")) aria-describedby="group_id-error";
                (field_error(errors, "group_id"))
                (busy_only_field("microsoft-busy_only", microsoft_sent && typed.value("busy_only") == "true", "Calendars.Read"))
                div.actions { button.primary type="submit" { "Check and connect" } }
            }
        }
    }
}

/// The newest entries of the organisation log: who connected, changed or disconnected which
/// organisation, and what it did (empty until the first connection).
fn log_card(console: &Console, log: &[OrganisationLogEntry]) -> Markup {
    if log.is_empty() {
        return html! {};
    }
    html! {
        section.card aria-labelledby="log-title" {
            h2 #log-title { "What was done" }
            table.list {
                thead { tr { th scope="col" { "When" } th scope="col" { "What" } th scope="col" { "By" } } }
                tbody {
                    @for entry in log {
                        tr {
                            td { (when(console, entry.at)) }
                            td {
                                (capitalised(&entry.action)) " "
                                (if entry.provider == "microsoft" { "Microsoft 365 tenant " } else { "Workspace " })
                                (entry.domain)
                                br; small { (entry.detail) }
                            }
                            td {
                                @match (entry.actor.as_str(), &entry.api_key_prefix) {
                                    ("api_key", Some(prefix)) => { "API key " code { (prefix) } },
                                    ("api_key", None) => { "An API key" },
                                    ("schedule", _) => { "The hourly directory read" },
                                    _ => { "The console" },
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `connected` as a sentence starts it.
fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// The busy-times-only choice, checked when it was sent checked; `needs` is the narrower grant it
/// asks for.
fn busy_only_field(id: &str, checked: bool, needs: &str) -> Markup {
    html! {
        label.check for=(id) {
            input #(id) type="checkbox" name="busy_only" value="true" checked[checked];
            " Busy times only: Kalends reads when each person is busy and writes nothing into their calendars (needs only "
            code.scopes { (needs) } ")"
        }
    }
}

/// What the administrator does in Google Cloud and the Admin console first.
fn steps() -> Markup {
    html! {
        ol.steps {
            li { "In the Google Cloud console, in a project with the Google Calendar API and the Admin SDK API enabled: IAM & Admin > Service accounts > Create service account (no roles needed). Note its Unique ID, then Keys > Add key > Create new key > JSON." }
            li { "In the Google Admin console, as a super administrator: Security > Access and data control > API controls > Domain-wide delegation > Add new. Client ID: the service account's Unique ID. OAuth scopes:" br; code.scopes { (SCOPES) }
                br; "For busy times only, instead of the two calendar scopes: " code.scopes { (FREE_BUSY_SCOPE) } }
            li { "Paste the key below with your domain and an administrator's address. Kalends checks all of it with Google before it keeps anything, and says what is missing." }
        }
    }
}

/// What the administrator does in the Microsoft Entra admin center (and Exchange) first.
fn microsoft_steps() -> Markup {
    html! {
        ol.steps {
            li { "In the Microsoft Entra admin center: Identity > Applications > App registrations > New registration (single tenant, no redirect URI). Note its Application (client) ID and Directory (tenant) ID." }
            li { "API permissions > Add a permission > Microsoft Graph > Application permissions: " code.scopes { (PERMISSIONS) } " (for busy times only, " code { "Calendars.Read" } " instead of " code { "Calendars.ReadWrite" } "). Then Grant admin consent for your organisation." }
            li { "Certificates & secrets > New client secret; copy its Value (not its Secret ID). Or upload a certificate there (its public part) and paste below the certificate with its private key." }
            li {
                "Optional: to limit which mailboxes Kalends may reach, scope the application to a mail-enabled security group in Exchange Online and give that group's object ID below: only its members become staff. With RBAC for Applications, in Exchange Online PowerShell: make the application known to Exchange ("
                code { "New-ServicePrincipal -AppId <client id> -ObjectId <enterprise application's object id>" }
                "), make a scope of the group's members ("
                code { "New-ManagementScope" }
                "), and assign the role "
                code { "Application Calendars.ReadWrite" }
                " on it ("
                code { "Application Calendars.Read" }
                " for busy times only) with "
                code { "New-ManagementRoleAssignment -App <client id> -CustomResourceScope <the scope>" }
                "; then remove the calendar permission from the API permissions above (the two grants add up). Or keep that permission and add an application access policy."
            }
            li { "Fill in the form below. Kalends checks all of it with Microsoft before it keeps anything, and says what is missing." }
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
    let microsoft = organisation.provider == "microsoft";
    let label = if microsoft { "Microsoft 365 tenant" } else { "Workspace" };
    html! {
        section.card.organisation aria-label=(format!("{label} {}", organisation.domain)) {
            h2 { span class=(format!("dot {}", organisation.provider)) {} " " (label) " " (organisation.domain) }
            p.meta {
                @if microsoft {
                    "Application " code { (organisation.service_account) }
                    " · " (organisation.org_unit.as_deref().map_or_else(|| "the whole tenant".to_owned(), |group| format!("group {group}")))
                } @else {
                    "Service account " code { (organisation.service_account) }
                    " · read as " (organisation.admin_email.as_deref().unwrap_or_default())
                    " · " (organisation.org_unit.as_deref().unwrap_or("the whole domain"))
                }
                @if organisation.busy_only { " · busy times only" }
                @if let Some(at) = organisation.last_refreshed_at { " · directory read " (at.format("%-d %b %Y %H:%M UTC")) }
            }
            @if let Some(error) = &organisation.last_error { p.error-text { "Last error: " (error) } }
            @if organisation.members_waiting > 0 {
                p.flash role="status" {
                    "Covering the directory's users in the background: " (organisation.members_waiting)
                    " still to go."
                }
            }
            @if members.is_empty() { p.empty { "Nobody is in scope." } } @else {
                table.list {
                    thead { tr { th scope="col" { "Staff member" } th scope="col" { "Calendar" } } }
                    tbody {
                        @for m in members {
                            tr {
                                td { (m.email) }
                                td {
                                    @match m.state.as_str() {
                                        "active" if organisation.busy_only => { "Busy times read" },
                                        "active" => { "Syncing" },
                                        "left" => { "Left the organisation's scope: not synced" },
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
                @if organisation.busy_only {
                    (action("write-bookings", "Write bookings into these calendars", ""))
                } @else {
                    (action("busy-only", "Read busy times only (removes Kalends' events)", ""))
                }
                " " (action("refresh", "Read the directory again", ""))
                " " (action("disconnect", "Disconnect the organisation", "danger"))
            }
        }
    }
}

/// `POST /dashboard/organisation`: connect, checked with the provider first; errors in place.
async fn connect(State(state): State<AppState>, Posted { console, form }: Posted) -> Response {
    if form.value("provider") == "microsoft" {
        return connect_microsoft(&state, &console, &form).await;
    }
    let fields = GoogleFields {
        service_account_key: form.text("service_account_key").map(|text| KeyJson(text.into())),
        domain: form.trimmed("domain"),
        admin_email: form.trimmed("admin_email"),
        org_unit: form.trimmed("org_unit"),
        busy_only: form.value("busy_only") == "true",
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
        Actor::Console,
    )
    .await
    {
        Ok(_) => done("/dashboard/organisation", "connected"),
        Err(error) => refused(&state, &console, &form, error).await,
    }
}

async fn connect_microsoft(state: &AppState, console: &Console, form: &Form) -> Response {
    let fields = MicrosoftFields {
        tenant_id: form.trimmed("tenant_id"),
        client_id: form.trimmed("client_id"),
        client_secret: form.text("client_secret").map(secrecy::SecretString::from),
        client_certificate: form.text("client_certificate").map(secrecy::SecretString::from),
        group_id: form.trimmed("group_id"),
        busy_only: form.value("busy_only") == "true",
        foreign: Vec::new(),
    };
    let input = match microsoft_tenant(fields) {
        Ok(input) => input,
        Err(errors) => return render(state, console, form, &errors, None).await,
    };
    let cx = crate::connections::organisation_context(state);
    match organisations::create_microsoft(cx, console.tenant.id, input, Actor::Console).await {
        Ok(_) => done("/dashboard/organisation", "connected-microsoft"),
        Err(error) => refused(state, console, form, error).await,
    }
}

/// A refusal shown on the page: a field's in place, the provider's silence above the form,
/// with the status the API answers the same refusal with.
async fn refused(
    state: &AppState,
    console: &Console,
    form: &Form,
    error: OrganisationError,
) -> Response {
    let (status, errors) = match error {
        OrganisationError::Invalid { field, message } => {
            (StatusCode::UNPROCESSABLE_ENTITY, vec![FieldError::new(field, message)])
        }
        OrganisationError::Unreachable(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, vec![FieldError::new("", error.to_string())])
        }
        OrganisationError::Busy | OrganisationError::Disconnecting => {
            (StatusCode::CONFLICT, vec![FieldError::new("", error.to_string())])
        }
        OrganisationError::Store(e) => return store_failure("Organisation connection", e),
    };
    let mut page = render(state, console, form, &errors, None).await;
    *page.status_mut() = status;
    page
}

/// A refusal of an action on a connection that exists (the grant lacks the tier's scope, the
/// administrator is one no more): its field is that connection's, not one of the forms below,
/// which are a new connection's, so it is said above them.
fn above_the_forms(error: OrganisationError) -> OrganisationError {
    match error {
        OrganisationError::Invalid { message, .. } => {
            OrganisationError::Invalid { field: "", message }
        }
        other => other,
    }
}

/// `POST /dashboard/organisation/{id}/{action}`: refresh, change tier, disconnect.
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
            Actor::Console,
        )
        .await
        {
            Ok(_) => done("/dashboard/organisation", "refreshed"),
            Err(error) => refused(&state, &console, &form, above_the_forms(error)).await,
        },
        "disconnect" => match organisations::delete(
            crate::connections::organisation_context(&state),
            tenant,
            id,
            true,
            Actor::Console,
            crate::connections::organisation_stop_wait(&state),
        )
        .await
        {
            Ok(()) => done("/dashboard/organisation", "disconnected"),
            Err(error) => refused(&state, &console, &form, above_the_forms(error)).await,
        },
        tier @ ("busy-only" | "write-bookings") => {
            let change = organisations::Change {
                busy_only: Some(tier == "busy-only"),
                ..Default::default()
            };
            let cx = crate::connections::organisation_context(&state);
            match organisations::update(cx, tenant, id, change, Actor::Console).await {
                Ok(_) => done("/dashboard/organisation", tier),
                Err(error) => refused(&state, &console, &form, above_the_forms(error)).await,
            }
        }
        _ => not_found("Action"),
    }
}
