//! Staff and calendars: each staff member's calendar connections (provider, account, status,
//! last sync, last error), a settings link to e-mail them or to copy and hand over, and the
//! bookings whose sync failed, each with Retry.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use kalends_core::domain::{Connection, ConnectionStatus, Provider, Staff};
use kalends_service::bookings;
use kalends_service::directory::{self, EmailLinkError};
use maud::{Markup, html};
use std::collections::HashMap;
use uuid::Uuid;

use super::sync::when;
use super::{
    Console, Posted, Section, done, id_of, internal, notice, page, problem, query, store_failure,
};
use crate::links;
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard/staff", get(show))
        .route("/dashboard/staff/{id}/settings-link", post(settings_link))
        .route("/dashboard/staff/{id}/email-settings-link", post(email_settings_link))
        .route("/dashboard/bookings/{id}/retry", post(retry))
}

fn provider_name(provider: Provider) -> &'static str {
    match provider {
        Provider::Google => "Google Calendar",
        Provider::Microsoft => "Microsoft Outlook",
        Provider::Caldav => "CalDAV (iCloud)",
    }
}

fn status_text(status: ConnectionStatus) -> (&'static str, &'static str) {
    match status {
        ConnectionStatus::Active => ("active", "Syncing"),
        ConnectionStatus::NeedsReauth => ("needs_reauth", "Needs reconnecting"),
        ConnectionStatus::Revoked => ("revoked", "Disconnected"),
        ConnectionStatus::Error => ("error", "Failing"),
    }
}

async fn show(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    render(&state, &console, query(&q, "notice"), None).await
}

/// The page; `link`: a settings link just made for a staff member, shown to copy.
async fn render(
    state: &AppState,
    console: &Console,
    notice_code: Option<&str>,
    link: Option<(Uuid, String)>,
) -> Response {
    let tenant_id = console.tenant.id;
    let read = async {
        tokio::try_join!(
            state.store.list_connections(tenant_id, None),
            state.store.failed_syncs(tenant_id, 50),
        )
        .map_err(internal)
    };
    let (staff, (connections, failed)) = match tokio::try_join!(console.staff(state), read) {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    let body = html! {
        h1 { "Staff and calendars" }
        (notice(notice_code))
        @if staff.is_empty() { p.empty { "No staff members yet: add them through the API." } }
        @for member in &staff {
            (staff_card(console, member, connections.iter().filter(|c| c.staff_id == member.id), link.as_ref().filter(|(id, _)| *id == member.id).map(|(_, url)| url.as_str())))
        }
        section.card #failed-syncs aria-labelledby="failed-title" {
            h2 #failed-title { "Bookings not synced" }
            @if failed.is_empty() {
                p.empty { "Every booking reached its calendars." }
            } @else {
                table.list {
                    thead { tr { th scope="col" { "Booking" } th scope="col" { "Why" } th scope="col" { "When" } th scope="col" { span.visually-hidden { "Actions" } } } }
                    tbody {
                        @for f in &failed {
                            tr {
                                td { (f.title) }
                                td { span.error-text { (f.last_error.as_deref().unwrap_or("unknown")) } }
                                td { (when(console, f.updated_at)) }
                                td {
                                    form.inline method="post" action=(format!("/dashboard/bookings/{}/retry", f.booking_id)) {
                                        (console.csrf_field()) button type="submit" { "Retry" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page(console, Section::Staff, "Staff and calendars", body)
}

fn staff_card<'a>(
    console: &Console,
    member: &Staff,
    connections: impl Iterator<Item = &'a Connection>,
    link: Option<&str>,
) -> Markup {
    let connections: Vec<&Connection> = connections.collect();
    let field = format!("link-{}", member.id);
    html! {
        section.card aria-labelledby=(format!("s-{}", member.id)) {
            div.conn-head {
                div {
                    h2 id=(format!("s-{}", member.id)) { (member.data.name) }
                    @if let Some(email) = &member.data.email { div.meta { (email.as_str()) } }
                }
                div.actions {
                    a.button href=(format!("/dashboard/staff/{}/rules", member.id)) { "Availability rules" }
                    @if member.data.email.is_some() {
                        form.inline method="post" action=(format!("/dashboard/staff/{}/email-settings-link", member.id)) {
                            (console.csrf_field()) button type="submit" { "E-mail a settings link" }
                        }
                    }
                    form.inline method="post" action=(format!("/dashboard/staff/{}/settings-link", member.id)) {
                        (console.csrf_field()) button type="submit" { "Make a settings link" }
                    }
                }
            }
            @if let Some(url) = link {
                div.copy-row {
                    label.visually-hidden for=(field) { "Settings link for " (member.data.name) }
                    input id=(field) type="text" readonly value=(url);
                    button type="button" data-copy=(field) { "Copy" }
                }
                p.meta { "Send it to " (member.data.name) ": it opens their calendar settings once, within 15 minutes, and signs out whoever opened an older one." }
            }
            @if connections.is_empty() {
                p.muted { "No calendar connected." }
            } @else {
                table.list {
                    thead { tr { th scope="col" { "Calendar" } th scope="col" { "Status" } th scope="col" { "Last sync" } th scope="col" { "Last error" } } }
                    tbody {
                        @for c in &connections {
                            @let (class, text) = status_text(c.status);
                            tr {
                                td { (provider_name(c.provider)) br; span.muted { (c.account_email) } }
                                td { span.badge.(class) { (text) } }
                                td { @if let Some(at) = c.last_sync_at { (when(console, at)) } @else { span.muted { "Not yet" } } }
                                td { @if let Some(e) = &c.last_error { span.error-text { (e) } } }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn settings_link(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { console, .. }: Posted,
) -> Response {
    let id = match id_of(&id, "Staff member") {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    if let Err(e) = state.store.staff(console.tenant.id, id).await {
        return store_failure("Staff member", e);
    }
    match links::settings_link(&state, console.tenant.id, id).await {
        Ok(link) => render(&state, &console, None, Some((id, link.url))).await,
        Err(e) => store_failure("Staff member", e),
    }
}

/// `POST /dashboard/staff/{id}/email-settings-link`: the link goes out by e-mail (queued, valid
/// a day); a member without an address is told so in place.
async fn email_settings_link(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { console, .. }: Posted,
) -> Response {
    let id = match id_of(&id, "Staff member") {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    match directory::email_settings_link(&state.store, console.tenant.id, id).await {
        Ok(_) => done("/dashboard/staff", "settings-link-sent"),
        Err(EmailLinkError::NoAddress) => problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "No e-mail address",
            "Kalends has no e-mail address for this staff member: give one through the API, or \
             make a settings link and hand it over yourself.",
        ),
        Err(EmailLinkError::Store(e)) => store_failure("Staff member", e),
    }
}

async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { console, .. }: Posted,
) -> Response {
    let id = match id_of(&id, "Booking") {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    match bookings::retry_sync(&state.store, console.tenant.id, id).await {
        Ok(()) => done("/dashboard/staff", "sync-retried"),
        Err(e) => store_failure("Booking", e),
    }
}
