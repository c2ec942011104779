//! Connecting Apple iCloud or another CalDAV calendar from the settings page: one form rendered
//! with two presets (iCloud with its server filled in, any CalDAV server) posting to `POST /settings/connect/caldav`. The
//! account is discovered before anything is saved; a failure answers the settings page again
//! with the message beside the form and what was typed kept, the password excepted.

use axum::Router;
use axum::extract::{RawForm, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use kalends_core::domain::Staff;
use maud::{Markup, html};
use secrecy::SecretString;

use super::calendars::{out_of_date, render_page, signed_in};
use super::{Session, problem_page};
use crate::connections::{CaldavConnectError, connect_caldav};
use crate::state::AppState;

/// iCloud's CalDAV server (it redirects each account to its own host).
pub const ICLOUD_SERVER: &str = "https://caldav.icloud.com";
/// Where Apple issues app-specific passwords.
const APPLE_ID_URL: &str = "https://appleid.apple.com";

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/settings/connect/caldav", post(connect))
}

/// Which form was used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kind {
    /// Apple iCloud.
    #[default]
    Icloud,
    /// Any other CalDAV server.
    Caldav,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Icloud => "icloud",
            Kind::Caldav => "caldav",
        }
    }
}

/// A submitted form shown again: what was typed (never the password) and what went wrong.
#[derive(Clone, Debug, Default)]
pub struct CaldavForm {
    /// The form used.
    pub kind: Kind,
    /// The server address typed.
    pub server_url: String,
    /// The user name typed.
    pub username: String,
    /// The message for the staff member.
    pub error: String,
}

/// What sets the two forms apart: one form, rendered with each preset.
struct Preset {
    kind: Kind,
    title: &'static str,
    /// How to get there, above the fields.
    help: fn() -> Markup,
    /// The server address filled in.
    server: &'static str,
    user_label: &'static str,
    password_label: &'static str,
}

const PRESETS: [Preset; 2] = [
    Preset {
        kind: Kind::Icloud,
        title: "Connect Apple iCloud",
        help: icloud_help,
        server: ICLOUD_SERVER,
        user_label: "Apple ID",
        password_label: "App-specific password",
    },
    Preset {
        kind: Kind::Caldav,
        title: "Connect another CalDAV calendar",
        help: caldav_help,
        server: "",
        user_label: "User name",
        password_label: "App password",
    },
];

fn icloud_help() -> Markup {
    html! {
        ol.meta {
            li { "Sign in at " a href=(APPLE_ID_URL) target="_blank" rel="noopener" { "appleid.apple.com" } "." }
            li { "Under Sign-In and Security, choose App-Specific Passwords and make one named Kalends." }
            li { "Enter your Apple ID and that password below." }
        }
    }
}

fn caldav_help() -> Markup {
    html! {
        p.meta { "Fastmail, Nextcloud, a company server: enter its CalDAV address, your user name and an app password." }
    }
}

/// The two connect forms; `current` is the one submitted, shown open with its error.
pub fn connect_forms(csrf: &str, current: Option<&CaldavForm>) -> Markup {
    html! {
        section.card id="connect-caldav" {
            h2 { "Apple iCloud or another CalDAV calendar" }
            p.meta { "These connect with an " strong { "app password" } ", never your account password: a password made for Kalends alone, which you can revoke at any time." }
            @for preset in &PRESETS {
                (form(preset, csrf, current.filter(|c| c.kind == preset.kind)))
            }
        }
    }
}

/// One preset's form, open with what was typed and its error when it was the one submitted.
fn form(preset: &Preset, csrf: &str, typed: Option<&CaldavForm>) -> Markup {
    let kind = preset.kind.as_str();
    let server = typed.map_or(preset.server, |t| t.server_url.as_str());
    let username = typed.map_or("", |t| t.username.as_str());
    html! {
        details open[typed.is_some()] {
            summary { (preset.title) }
            ((preset.help)())
            form.caldav method="post" action="/settings/connect/caldav" data-kind=(kind) {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="kind" value=(kind);
                @if let Some(t) = typed { p.error-text role="alert" { (t.error) } }
                label { "Server address" input type="url" name="server_url" required value=(server); }
                label { (preset.user_label) input type="text" name="username" required autocomplete="username" value=(username); }
                label { (preset.password_label) input type="password" name="password" required autocomplete="new-password"; }
                div.actions { button.primary type="submit" { "Connect" } }
            }
        }
    }
}

/// The fields posted.
#[derive(Default)]
struct Posted {
    csrf: Option<String>,
    kind: Kind,
    server_url: String,
    username: String,
    password: SecretString,
}

fn parse(body: &[u8]) -> Posted {
    let mut posted = Posted { password: SecretString::from(String::new()), ..Posted::default() };
    for (key, value) in url::form_urlencoded::parse(body) {
        match key.as_ref() {
            "csrf" => posted.csrf = Some(value.into_owned()),
            "kind" if value == "caldav" => posted.kind = Kind::Caldav,
            "server_url" => posted.server_url = value.trim().to_owned(),
            "username" => posted.username = value.trim().to_owned(),
            "password" => posted.password = SecretString::from(value.into_owned()),
            _ => {}
        }
    }
    posted
}

/// `POST /settings/connect/caldav`.
async fn connect(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    let (session, staff) = match signed_in(&state, &headers).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let posted = parse(&body);
    if !session.csrf_matches(&state, posted.csrf.as_deref()) {
        return out_of_date();
    }
    let refuse = |error: String| again(&state, &session, &staff, &posted, error);
    if posted.server_url.is_empty() || posted.username.is_empty() {
        return refuse("Please fill in the server address, the user name and the password.".into())
            .await;
    }
    let (server_url, username) = (&posted.server_url, &posted.username);
    let (tenant_id, password) = (session.tenant_id(), &posted.password);
    match connect_caldav(&state, tenant_id, staff.id, server_url, username, password).await {
        Ok(_) => Redirect::to("/settings?notice=connected-caldav").into_response(),
        Err(CaldavConnectError::Discovery(error)) => {
            tracing::info!(error = %error, "a CalDAV account could not be connected");
            refuse(format!("Nothing was connected: {error}.")).await
        }
        Err(CaldavConnectError::Store(error)) => not_saved(&error),
    }
}

/// The page a connection that was discovered but could not be saved answers with (logged).
fn not_saved(error: &impl std::fmt::Display) -> Response {
    tracing::error!(error = %error, "saving a CalDAV connection failed");
    problem_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The calendar could not be saved. Please try again in a moment.",
        Some(("/settings", "Back to your calendars")),
    )
}

/// The settings page again (422) with the submitted form open: what was typed, never the
/// password, and `error` beside it.
async fn again(
    state: &AppState,
    session: &Session,
    staff: &Staff,
    posted: &Posted,
    error: String,
) -> Response {
    let form = CaldavForm {
        kind: posted.kind,
        server_url: posted.server_url.clone(),
        username: posted.username.clone(),
        error,
    };
    let caldav = |csrf: &str| connect_forms(csrf, Some(&form));
    render_page(state, session, staff, None, caldav, StatusCode::UNPROCESSABLE_ENTITY).await
}
