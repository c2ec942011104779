//! The staff settings routes: opening a settings link, the page itself (rendered by
//! `calendars.rs`), calendar choices, default, reconnect and disconnect, signing out.

use axum::Router;
use axum::extract::{Path, Query, RawForm, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use kalends_core::domain::Connection;
use kalends_service::connections;
use kalends_service::staff_sessions::{self, LinkError};
use kalends_store::ConnectionPatch;
use kalends_store::StoreError;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::caldav::connect_forms;
use super::calendars::{internal, out_of_date, render_page, signed_in};
use super::{Session, forget_session_cookie, layout, page_headers, problem_page, session_cookie};
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/settings", get(page))
        .route("/settings/{link}", get(open_link))
        .route("/settings/sign-out", post(sign_out))
        .route("/settings/connections/{id}", post(save))
        .route("/settings/connections/{id}/default", post(make_default))
        .route("/settings/connections/{id}/disconnect", get(confirm_disconnect).post(disconnect))
}

/// A fixed set of notices, chosen by the `notice` query parameter (never free text).
#[derive(Debug, Default, Deserialize)]
struct Notice {
    notice: Option<String>,
}

fn notice_text(code: &str) -> Option<(bool, &'static str)> {
    Some(match code {
        "connected-google" => {
            (true, "Google Calendar is connected. Your bookings will appear there.")
        }
        "connected-microsoft" => {
            (true, "Microsoft Outlook is connected. Your bookings will appear there.")
        }
        "connected-caldav" => (
            true,
            "Your CalDAV calendar is connected. Choose where bookings go and which calendars count as busy.",
        ),
        "saved" => (true, "Your calendar choices are saved."),
        "default" => (true, "That calendar is now your default."),
        "disconnected" => {
            (true, "The calendar is disconnected and Kalends has forgotten its access.")
        }
        "denied" => (false, "You declined access, so nothing was connected."),
        _ => return None,
    })
}

/// `GET /settings/{link}`: a one-time link from the host opens a session and moves on.
async fn open_link(State(state): State<AppState>, Path(link): Path<String>) -> Response {
    let opened = match staff_sessions::open(&state.store, &state.secret_key, &link).await {
        Ok(opened) => opened,
        Err(LinkError::Store(e)) => return internal(e),
        Err(LinkError::Invalid) => {
            return problem_page(
                StatusCode::UNAUTHORIZED,
                "This link has expired",
                "Settings links work for a short time. Ask for a new one from the booking system you use.",
                None,
            );
        }
        Err(LinkError::Used) => {
            return problem_page(
                StatusCode::GONE,
                "This link was already used",
                "A settings link opens once, in one browser. If that was not you, ask for a new \
                 one from the booking system you use: a new link signs out whoever opened this one.",
                None,
            );
        }
        Err(LinkError::NoStaff) => {
            return problem_page(
                StatusCode::NOT_FOUND,
                "This link is no longer valid",
                "The staff member it was made for no longer exists.",
                None,
            );
        }
    };
    (
        [
            (header::SET_COOKIE, session_cookie(&state, &opened.cookie)),
            (header::REFERRER_POLICY, "no-referrer".into()),
        ],
        Redirect::to("/settings"),
    )
        .into_response()
}

/// `POST /settings/sign-out`: ends the session here and in the browser.
async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    let (session, _) = match signed_in(&state, &headers).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if !session.csrf_matches(&state, parse_form(&body).csrf.as_deref()) {
        return out_of_date();
    }
    if let Err(e) = staff_sessions::sign_out(&state.store, &session.staff).await {
        return internal(e);
    }
    let body = html! {
        section.card {
            h1 { "You are signed out" }
            p { "Open a new settings link to come back." }
        }
    };
    let page = layout("Signed out", Some("Calendar settings"), body).into_string();
    ([(header::SET_COOKIE, forget_session_cookie(&state))], page_headers(), Html(page))
        .into_response()
}

/// `GET /settings`.
async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(notice): Query<Notice>,
) -> Response {
    let (session, staff) = match signed_in(&state, &headers).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let flash = notice.notice.as_deref().and_then(notice_text);
    let caldav = |csrf: &str| connect_forms(csrf, None);
    render_page(&state, &session, &staff, flash, caldav, StatusCode::OK).await
}

/// The fields of a settings form (checkbox lists repeat their name).
#[derive(Debug, Default)]
struct FormFields {
    csrf: Option<String>,
    destination: Option<String>,
    busy: Vec<String>,
    remove_events: bool,
}

fn parse_form(body: &[u8]) -> FormFields {
    let mut fields = FormFields::default();
    for (key, value) in url::form_urlencoded::parse(body) {
        match key.as_ref() {
            "csrf" => fields.csrf = Some(value.into_owned()),
            "destination_calendar_id" => fields.destination = Some(value.into_owned()),
            "busy_calendar_ids" => fields.busy.push(value.into_owned()),
            "remove_events" => fields.remove_events = value == "yes",
            _ => {}
        }
    }
    fields
}

/// The connection a form acts on and the session acting, if the session may: checks the CSRF
/// token and ownership.
async fn owned(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    fields: &FormFields,
    check_csrf: bool,
) -> Result<(Connection, Session), Response> {
    let (session, staff) = signed_in(state, headers).await?;
    if check_csrf && !session.csrf_matches(state, fields.csrf.as_deref()) {
        return Err(out_of_date());
    }
    let gone = || {
        problem_page(
            StatusCode::NOT_FOUND,
            "Calendar not found",
            "This calendar connection does not exist or belongs to someone else.",
            Some(("/settings", "Back to your calendars")),
        )
    };
    let id: Uuid = id.parse().map_err(|_| gone())?;
    match state.store.connection(session.tenant_id(), id).await {
        Ok(connection) if connection.staff_id == staff.id => Ok((connection, session)),
        _ => Err(gone()),
    }
}

/// Refuses to disconnect a calendar the staff member's organisation connected for them: its
/// administrator ends it (the page offers no button; a request made by hand is refused too).
async fn not_the_organisations(state: &AppState, connection: &Connection) -> Result<(), Response> {
    let (tenant_id, staff_id) = (connection.tenant_id, connection.staff_id);
    let covered = state.store.covered_connections(tenant_id, staff_id).await.map_err(internal)?;
    match covered.iter().find(|(id, _)| *id == connection.id) {
        None => Ok(()),
        Some((_, organisation)) => Err(problem_page(
            StatusCode::FORBIDDEN,
            "Your organisation manages this calendar",
            &format!(
                "{organisation} connected this calendar for you, so only its administrator can \
                 disconnect it. You may still connect a calendar of your own."
            ),
            Some(("/settings", "Back to your calendars")),
        )),
    }
}

/// `POST /settings/connections/{id}`: destination and busy calendars.
async fn save(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawForm(body): RawForm,
) -> Response {
    apply(&state, &headers, &id, &body, "saved", |fields| ConnectionPatch {
        destination_calendar_id: fields.destination,
        busy_calendar_ids: Some(fields.busy),
        is_default: None,
    })
    .await
}

/// `POST /settings/connections/{id}/default`.
async fn make_default(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawForm(body): RawForm,
) -> Response {
    apply(&state, &headers, &id, &body, "default", |_| ConnectionPatch {
        is_default: Some(true),
        ..Default::default()
    })
    .await
}

/// Checks the form's session and CSRF token, applies the patch it makes, and lands back on the
/// page with `notice`.
async fn apply(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    body: &[u8],
    notice: &str,
    patch: impl FnOnce(FormFields) -> ConnectionPatch,
) -> Response {
    let fields = parse_form(body);
    let connection = match owned(state, headers, id, &fields, true).await {
        Ok((c, _)) => c,
        Err(page) => return page,
    };
    // A new default or destination: the staff member's bookings go there now.
    let (tenant_id, id) = (connection.tenant_id, connection.id);
    let result = connections::update(&state.store, tenant_id, id, patch(fields)).await;
    respond(result, notice)
}

fn respond(result: Result<Connection, StoreError>, notice: &str) -> Response {
    match result {
        Ok(_) => Redirect::to(&format!("/settings?notice={notice}")).into_response(),
        Err(StoreError::Invalid { message, .. }) => problem_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "That choice is not possible",
            &message,
            Some(("/settings", "Back to your calendars")),
        ),
        Err(e) => internal(e),
    }
}

/// `GET /settings/connections/{id}/disconnect`: asks whether to remove Kalends's events too.
async fn confirm_disconnect(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (connection, session) =
        match owned(&state, &headers, &id, &FormFields::default(), false).await {
            Ok(found) => found,
            Err(page) => return page,
        };
    if let Err(page) = not_the_organisations(&state, &connection).await {
        return page;
    }
    let csrf = session.csrf(&state);
    let calendar = connection
        .destination_calendar_id
        .as_deref()
        .and_then(|d| connection.calendars.iter().find(|c| c.id == d))
        .map_or_else(|| "your calendar".to_owned(), |c| c.name.clone());
    let body = html! {
        section.card {
            h1 { "Disconnect " (connection.provider.label()) "?" }
            p { "Kalends will stop putting bookings into " (connection.account_email) " and forget its access." }
            form method="post" action=(format!("/settings/connections/{}/disconnect", connection.id)) {
                input type="hidden" name="csrf" value=(csrf);
                label.check { input type="checkbox" name="remove_events" value="yes"; "Also remove the events Kalends added to " (calendar) }
                div.actions {
                    button.danger type="submit" { "Disconnect" }
                    a.button href="/settings" { "Cancel" }
                }
            }
        }
    };
    (page_headers(), Html(layout("Disconnect", Some("Calendar settings"), body).into_string()))
        .into_response()
}

/// `POST /settings/connections/{id}/disconnect`.
async fn disconnect(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawForm(body): RawForm,
) -> Response {
    let fields = parse_form(&body);
    let (connection, session) = match owned(&state, &headers, &id, &fields, true).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if let Err(page) = not_the_organisations(&state, &connection).await {
        return page;
    }
    let by = Some(&session.staff);
    match crate::connections::disconnect(&state, &connection, fields.remove_events, by).await {
        Ok(_) => Redirect::to("/settings?notice=disconnected").into_response(),
        Err(e) => {
            tracing::error!(connection = %connection.id, error = %e, "disconnect failed");
            problem_page(
                StatusCode::BAD_GATEWAY,
                "The calendar could not be disconnected",
                "Please try again in a moment.",
                Some(("/settings", "Back to your calendars")),
            )
        }
    }
}
