//! The staff member's signed-in page, "Your calendars", where every settings route starts and
//! lands: the session check (`signed_in`), the page with each connection, the connect buttons
//! and the CalDAV forms (`render_page`), and the pages that say why a request went no further.
//! The settings routes (`settings.rs`) and the CalDAV connect form (`caldav.rs`) both use it.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use kalends_core::domain::{Connection, ConnectionStatus, Provider, Staff};
use kalends_store::StoreError;
use maud::{Markup, html};

use super::{Session, layout, page_headers, problem_page};
use crate::state::AppState;

/// The page a request without an open session gets.
fn session_ended() -> Response {
    problem_page(
        StatusCode::UNAUTHORIZED,
        "Please open your settings link again",
        "Your session has ended or this browser has not opened a settings link yet.",
        None,
    )
}

/// The session's staff member, or the page to show instead.
pub(super) async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Session, Staff), Response> {
    let session = match Session::from_headers(state, headers).await {
        Ok(Some(session)) => session,
        Ok(None) => return Err(session_ended()),
        Err(e) => return Err(internal(e)),
    };
    match state.store.staff(session.tenant_id(), session.staff_id()).await {
        Ok(staff) => Ok((session, staff)),
        Err(StoreError::NotFound) => Err(session_ended()),
        Err(e) => Err(internal(e)),
    }
}

/// A form posted with a CSRF token that is not the session's (an old page).
pub(super) fn out_of_date() -> Response {
    problem_page(
        StatusCode::FORBIDDEN,
        "Please try again",
        "This form was out of date. Reload the settings page and try again.",
        Some(("/settings", "Back to your calendars")),
    )
}

/// The settings page, with a flash notice, answered with `status`; `caldav` renders the CalDAV
/// connect forms for the page's CSRF token (one of them shown again with its error, after a
/// failed connect).
pub(super) async fn render_page(
    state: &AppState,
    session: &Session,
    staff: &Staff,
    flash: Option<(bool, &str)>,
    caldav: impl FnOnce(&str) -> Markup,
    status: StatusCode,
) -> Response {
    let connections = match state.store.list_connections(session.tenant_id(), Some(staff.id)).await
    {
        Ok(list) => {
            list.into_iter().filter(|c| c.status != ConnectionStatus::Revoked).collect::<Vec<_>>()
        }
        Err(e) => return internal(e),
    };
    let covered = match state.store.covered_connections(session.tenant_id(), staff.id).await {
        Ok(covered) => covered,
        Err(e) => return internal(e),
    };
    let csrf = session.csrf(state);
    let body = html! {
        h1 { "Your calendars" }
        p.lead { "Hi " (staff.data.name) ". Connect your calendar and every booking assigned to you appears in it, moves when it is rescheduled and disappears when it is cancelled. Your own busy times come back so nobody double-books you." }
        @if let Some((ok, text)) = flash { div class=(if ok { "flash ok" } else { "flash bad" }) role="status" { (text) } }
        @if connections.is_empty() {
            section.card.empty { "No calendar is connected yet." }
        }
        @for connection in &connections {
            @let organisation = covered.iter().find(|(id, _)| *id == connection.id).map(|(_, domain)| domain.as_str());
            (connection_card(connection, organisation, &csrf))
        }
        (oauth_section(&state.providers.sandboxed))
        (caldav(&csrf))
        form.actions method="post" action="/settings/sign-out" {
            input type="hidden" name="csrf" value=(csrf);
            button type="submit" { "Sign out" }
        }
    };
    (
        status,
        page_headers(),
        Html(layout("Your calendars", Some("Calendar settings"), body).into_string()),
    )
        .into_response()
}

/// "Connect a calendar": a button per OAuth provider, and which of them the sandbox plays.
fn oauth_section(sandboxed: &[Provider]) -> Markup {
    html! {
        section.card {
            h2 { "Connect a calendar" }
            p.meta { "You will be asked to sign in and allow Kalends to manage your calendar. Kalends never sees your password." }
            div.providers style="margin-top:14px" {
                @for provider in Provider::OAUTH {
                    a.button.provider href=(format!("/connect/{provider}")) {
                        span class=(format!("dot {provider}")) {} "Connect " (provider_name(provider))
                    }
                }
            }
            @if !sandboxed.is_empty() {
                p.sandbox-note { "Demo mode: " (sandboxed.iter().map(|p| provider_name(*p)).collect::<Vec<_>>().join(" and ")) " use the built-in sandbox, not the real service." }
            }
        }
    }
}

fn provider_name(provider: Provider) -> &'static str {
    match provider {
        Provider::Google => "Google",
        Provider::Microsoft => "Microsoft",
        Provider::Caldav => "CalDAV",
    }
}

fn when(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "never".into(), |at| at.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// A connected calendar; `organisation` names the Workspace whose administrator connected it.
fn connection_card(connection: &Connection, organisation: Option<&str>, csrf: &str) -> Markup {
    let id = connection.id;
    let status = connection.status.as_str();
    html! {
        section.card.connection data-connection=(id) {
            div.conn-head {
                div {
                    h2 { span class=(format!("dot {}", connection.provider)) {} " " (connection.provider.label()) }
                    div.meta { (connection.account_email) " · last sync " (when(connection.last_sync_at)) }
                }
                div {
                    span class=(format!("badge {status}")) { (status_text(connection.status)) }
                    @if connection.is_default { span.badge.default { "Default" } }
                }
            }
            @if let Some(domain) = organisation {
                p.meta.organisation { "Connected for you by your organisation (" (domain) "). Your administrator manages this connection; you may still connect a calendar of your own below." }
            }
            @if let Some(error) = &connection.last_error { p.error-text { "Last error: " (error) } }
            @if connection.status == ConnectionStatus::NeedsReauth {
                @if connection.provider == Provider::Caldav {
                    p.meta { "The server refused the app password. Make a new one and connect this account again below." }
                } @else {
                    div.actions { a.button.primary href=(format!("/connect/{}", connection.provider)) { "Reconnect " (provider_name(connection.provider)) } }
                }
            }
            @if connection.busy_only {
                p.meta.busy-only { "Busy times only: Kalends reads when you are busy in this calendar and writes nothing into it. Connect a calendar of your own below to get your bookings in one." }
            } @else {
            form method="post" action=(format!("/settings/connections/{id}")) {
                input type="hidden" name="csrf" value=(csrf);
                fieldset {
                    legend { "Put my bookings in" }
                    select name="destination_calendar_id" aria-label="Destination calendar" {
                        @for calendar in connection.calendars.iter().filter(|c| c.writable) {
                            option value=(calendar.id) selected[connection.destination_calendar_id.as_deref() == Some(calendar.id.as_str())] { (calendar.name) }
                        }
                    }
                }
                fieldset {
                    legend { "Count me as busy when these calendars are" }
                    @for calendar in &connection.calendars {
                        label.check {
                            input type="checkbox" name="busy_calendar_ids" value=(calendar.id) checked[connection.busy_calendar_ids.contains(&calendar.id)];
                            (calendar.name)
                        }
                    }
                }
                div.actions {
                    button.primary type="submit" { "Save" }
                    @if !connection.is_default {
                        button type="submit" formaction=(format!("/settings/connections/{id}/default")) { "Make default" }
                    }
                    @if organisation.is_none() {
                        a.button.danger href=(format!("/settings/connections/{id}/disconnect")) { "Disconnect" }
                    }
                }
            }
            }
        }
    }
}

fn status_text(status: ConnectionStatus) -> &'static str {
    match status {
        ConnectionStatus::Active => "Connected",
        ConnectionStatus::NeedsReauth => "Needs reconnecting",
        ConnectionStatus::Revoked => "Disconnected",
        ConnectionStatus::Error => "Error",
    }
}

/// 500, logged; the page says nothing of internals.
pub(super) fn internal(error: impl std::fmt::Display) -> Response {
    tracing::error!(error = %error, "settings page failed");
    problem_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Kalends could not load your settings. Please try again in a moment.",
        None,
    )
}
