//! The tenant console (`/dashboard`): the property manager's screen for availability, sync
//! status, conflicts, blocks and settings.
//!
//! Access: a signed one-time link (`kalends dashboard-link`, `POST /api/v1/dashboard-link`)
//! opens a session (`service/src/dashboard.rs`) held in a signed HttpOnly cookie. Every
//! page is server-rendered and works without JavaScript; htmx (vendored) turns links and forms
//! into partial updates, and a Server-Sent Events stream (`live.rs`) tells an open page when
//! something it shows changed. Every change goes through the same service function as the JSON
//! API, with the field checks the API uses (`src/input/`), so a form and an API call can never
//! disagree.

// A refusal here is a whole page (`Response`), made at most once per request and returned at
// once: boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use kalends_core::domain::{Resource, Staff, Tenant};
use kalends_core::tokens::{Claim, Purpose};
use kalends_service::dashboard::{self, LinkError};
use kalends_store::StoreError;
use maud::{DOCTYPE, Markup, html};
use uuid::Uuid;

use super::assets::{CONSOLE_JS, HTMX};
use super::cookies::{read_cookie, set_cookie};
use super::{csrf_matches, csrf_token, head};
use crate::input::FieldError;
use crate::state::AppState;

mod blocks;
mod charts;
mod checklist_guides;
mod checklists;
mod conflicts;
mod import_page;
mod live;
mod organisation;
mod overview;
mod properties;
mod rules;
mod settings;
mod staff;
mod sync;
mod timeline;
mod webhooks;

/// Name of the console's session cookie (`__Host-` in front under https).
pub const CONSOLE_COOKIE: &str = "kalends_console";

/// Most resources or staff members one console page lists.
const MAX_ROWS: u32 = 500;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(overview::show))
        .route("/dashboard/{token}", get(open_link))
        .route("/dashboard/sign-out", post(sign_out))
        .route("/dashboard/events", get(live::events))
        .merge(sync::router())
        .merge(import_page::router())
        .merge(conflicts::router())
        .merge(staff::router())
        .merge(blocks::router())
        .merge(checklists::router())
        .merge(settings::router())
        .merge(webhooks::router())
        .merge(organisation::router())
        .merge(rules::router())
        .merge(properties::router())
}

/// The signed-in console of a request: its tenant and the session's CSRF token.
pub struct Console {
    /// The tenant the console shows.
    pub tenant: Tenant,
    /// The session (its id ends it on signing out).
    session: Claim,
    /// The token every form of this session carries.
    pub csrf: String,
    cookie: String,
}

impl FromRequestParts<AppState> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let signed_out = || {
            problem(
                StatusCode::UNAUTHORIZED,
                "Signed out",
                "Your console session has ended or was never opened. Open a new dashboard link \
                 from your booking system (or run `kalends dashboard-link TENANT_ID`).",
            )
        };
        let cookie = read_cookie(state, &parts.headers, CONSOLE_COOKIE).ok_or_else(signed_out)?;
        let session = dashboard::session(&state.store, &state.secret_key, &cookie)
            .await
            .map_err(internal)?
            .ok_or_else(signed_out)?;
        let tenant = match state.store.tenant(session.tenant_id).await {
            Ok(tenant) => tenant,
            Err(StoreError::NotFound) => return Err(signed_out()),
            Err(e) => return Err(internal(e)),
        };
        let csrf = csrf_token(state, &cookie);
        Ok(Console { tenant, session, csrf, cookie })
    }
}

impl Console {
    /// The fields of a posted form, if it carries this session's CSRF token.
    fn form(&self, state: &AppState, body: &[u8]) -> Result<Form, Response> {
        let form = Form::parse(body);
        if csrf_matches(state, &self.cookie, form.get("csrf")) {
            Ok(form)
        } else {
            Err(problem(
                StatusCode::FORBIDDEN,
                "Please try again",
                "This form was out of date. Reload the page and send it again.",
            ))
        }
    }

    /// The tenant's resources, by creation.
    pub async fn resources(&self, state: &AppState) -> Result<Vec<Resource>, Response> {
        let page = state.store.list_resources(self.tenant.id, None, MAX_ROWS).await;
        Ok(page.map_err(internal)?.items)
    }

    /// The tenant's staff members, by creation.
    pub async fn staff(&self, state: &AppState) -> Result<Vec<Staff>, Response> {
        let page = state.store.list_staff(self.tenant.id, None, MAX_ROWS).await;
        Ok(page.map_err(internal)?.items)
    }

    /// The hidden CSRF field of a form.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.csrf); }
    }

    /// Today in the tenant's zone: a date of another year shows its year.
    pub fn today(&self) -> NaiveDate {
        Utc::now().with_timezone(&self.tenant.settings.time_zone.tz()).date_naive()
    }

    /// A span as the console shows it: nights when it is whole days in the tenant's zone
    /// (`the night of Fri 27 Nov`), otherwise its times there.
    pub fn span(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
        kalends_core::words::span(start, end, self.tenant.settings.time_zone.tz(), self.today())
    }
}

/// A posted console form: the signed-in console and the form's fields, whose CSRF token was
/// checked (a post without this session's token never reaches a handler).
pub struct Posted {
    /// The console that posted.
    pub console: Console,
    /// Its fields.
    pub form: Form,
}

/// The largest form the console takes.
const MAX_FORM_BYTES: usize = 64 * 1024;

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let console = Console::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES).await.map_err(|_| {
            problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Too much text",
                "This form is too long to save.",
            )
        })?;
        let form = console.form(state, &bytes)?;
        Ok(Posted { console, form })
    }
}

/// The id in a path, or the page that says `what` is not there.
pub fn id_of(text: &str, what: &str) -> Result<Uuid, Response> {
    text.parse().map_err(|_| not_found(what))
}

/// A posted form's fields (a repeated name keeps its last value).
#[derive(Default)]
pub struct Form(HashMap<String, String>);

/// The fields' names only: a form may carry a key, a secret or a customer's words.
impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Form").field(&self.0.keys().collect::<Vec<_>>()).finish()
    }
}

impl Form {
    fn parse(body: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// A field's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A field's value with surrounding blanks removed; `None` when empty.
    pub fn text(&self, name: &str) -> Option<String> {
        self.trimmed(name).map(str::to_owned)
    }

    /// Like [`Form::text`], borrowed.
    pub fn trimmed(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// A field's value, or the empty string (to show what was typed).
    pub fn value(&self, name: &str) -> &str {
        self.get(name).unwrap_or_default()
    }
}

/// The console's sections, for the navigation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Overview,
    Sync,
    Conflicts,
    Staff,
    Blocks,
    Checklists,
    Webhooks,
    Organisation,
    Settings,
}

const SECTIONS: [(Section, &str, &str); 9] = [
    (Section::Overview, "/dashboard", "Overview"),
    (Section::Sync, "/dashboard/sync", "Calendar sync"),
    (Section::Conflicts, "/dashboard/conflicts", "Conflicts"),
    (Section::Checklists, "/dashboard/checklists", "Checklists"),
    (Section::Staff, "/dashboard/staff", "Staff and calendars"),
    (Section::Blocks, "/dashboard/blocks", "Blocks"),
    (Section::Webhooks, "/dashboard/webhooks", "Webhooks"),
    (Section::Organisation, "/dashboard/organisation", "Organisation"),
    (Section::Settings, "/dashboard/settings", "Settings"),
];

/// A one-off message after an action, chosen by a fixed code (never free text from the URL).
pub fn notice(code: Option<&str>) -> Markup {
    let text = match code {
        Some("import-added") => "The import is saved; its first run starts within a minute.",
        Some("import-run") => "The import is running; this page shows its result when it ends.",
        Some("import-deleted") => "The import is deleted; the dates it blocked are free again.",
        Some("import-paused") => "The import is paused: it is not read until you resume it.",
        Some("import-resumed") => {
            "The import is resumed; a run it missed while paused starts within a minute."
        }
        Some("import-saved") => "The import's settings are saved.",
        Some("removal-accepted") => {
            "The removal is accepted: the feed's dates are read as it has them now."
        }
        Some("import-busy") => "A run of this import is in progress; try again in a moment.",
        Some("missing-removed") => "The removal is confirmed; those dates are free again.",
        Some("conflict-resolved") => "The conflict is resolved.",
        Some("block-added") => "The block is added.",
        Some("block-deleted") => "The block is removed.",
        Some("property-saved") => "The property is saved.",
        Some("settings-saved") => "The settings are saved.",
        Some("rules-saved") => "The availability rules are saved.",
        Some("sync-retried") => "The booking's sync is queued again.",
        Some("settings-link-sent") => {
            "The settings link is on its way by e-mail; it opens once, within 24 hours."
        }
        Some("feed-added") => "The feed is created; give its address to the platform.",
        _ => return html! {},
    };
    html! { p.flash.ok role="status" { (text) } }
}

/// A console page: the shell with navigation, the live-update hook and the page's headers.
pub fn page(console: &Console, section: Section, title: &str, body: Markup) -> Response {
    page_with_status(StatusCode::OK, console, section, title, body)
}

/// Like [`page`] with another status (422 for a form with errors).
pub fn page_with_status(
    status: StatusCode,
    console: &Console,
    section: Section,
    title: &str,
    body: Markup,
) -> Response {
    let tenant = &console.tenant.settings.name;
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(&format!("{title} · {tenant}"), html! {
                meta name="htmx-config" content=(HTMX_CONFIG);
                script src=(HTMX) defer {}
                script src=(CONSOLE_JS) defer {}
            }))
            body.console hx-boost="true" data-live="/dashboard/events" {
                a.skip href="#content" { "Skip to content" }
                header.top {
                    span.logo { "Kalends" }
                    span.where { (tenant) }
                    nav.console aria-label="Console" {
                        @for (s, href, label) in SECTIONS {
                            @if s == section {
                                a href=(href) aria-current="page" { (label) }
                            } @else {
                                a href=(href) { (label) }
                            }
                        }
                        form method="post" action="/dashboard/sign-out" hx-boost="false" {
                            (console.csrf_field())
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                p #live-status .live aria-live="polite" { }
                main #content { (body) }
            }
        }
    };
    (status, console_headers(), Html(markup.into_string())).into_response()
}

/// htmx's settings: no inline indicator styles (the CSP forbids them), and answers with form
/// errors (422) or "not found" swapped in like any page.
const HTMX_CONFIG: &str = r#"{"includeIndicatorStyles":false,"responseHandling":[{"code":"204","swap":false},{"code":"[234]..","swap":true},{"code":"...","swap":true,"error":true}]}"#;

/// Headers of every console page: a strict policy (Kalends's own scripts and styles only), no
/// caching, no framing.
pub fn console_headers() -> [(header::HeaderName, &'static str); 5] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    ]
}

/// A page outside any session (a problem, signed out): the shell without navigation.
fn bare(status: StatusCode, title: &str, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, html! {}))
            body {
                header.top { span.logo { "Kalends" } }
                main #content { (body) }
            }
        }
    };
    (status, console_headers(), Html(markup.into_string())).into_response()
}

/// A page that explains what went wrong, outside any session.
pub fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = html! {
        section.card.problem {
            h1 { (title) }
            p { (detail) }
            p { a.button href="/dashboard" { "Back to the console" } }
        }
    };
    bare(status, title, body)
}

/// 404 for what does not exist in this tenant (another tenant's object included).
pub fn not_found(what: &str) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        &format!("{what} not found"),
        &format!("This {} does not exist, or it was deleted.", what.to_lowercase()),
    )
}

/// A store failure as a page: a missing object is a 404, anything else a logged 500.
pub fn store_failure(what: &str, error: StoreError) -> Response {
    match error {
        StoreError::NotFound => not_found(what),
        // Refused for the state it is in (a disabled endpoint sent a test, say): said as is.
        StoreError::Invalid { message, .. } => {
            problem(StatusCode::UNPROCESSABLE_ENTITY, &format!("{what}: not now"), &message)
        }
        other => internal(other),
    }
}

/// 500, logged without detail for the reader.
pub fn internal(error: impl std::fmt::Display) -> Response {
    tracing::error!(error = %error, "console page failed");
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Kalends could not do this just now. Please try again in a moment.",
    )
}

/// A form's field errors in place: under its field, or above the form when it names none.
pub fn field_error(errors: &[FieldError], field: &str) -> Markup {
    html! {
        @for e in errors.iter().filter(|e| e.field == field) {
            p.field-error id=(format!("{field}-error")) { (e.message) }
        }
    }
}

/// Whether a field has an error (for `aria-invalid`).
pub fn invalid(errors: &[FieldError], field: &str) -> &'static str {
    if errors.iter().any(|e| e.field == field) { "true" } else { "false" }
}

/// The errors no field of the form shows, listed above it.
pub fn other_errors(errors: &[FieldError], shown: &[&str]) -> Markup {
    html! {
        @for e in errors.iter().filter(|e| !shown.contains(&e.field.as_str())) {
            p.flash.bad role="alert" {
                @if !e.field.is_empty() { (e.field) ": " }
                (e.message)
            }
        }
    }
}

/// After a change: back to `to` with a notice (303, so a reload does not post again).
pub fn done(to: &str, code: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{to}{sep}notice={code}")).into_response()
}

/// `GET /dashboard/{token}`: a one-time link from the host or the CLI opens a session.
async fn open_link(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let hours = i64::from(state.config.dashboard.session_hours);
    match dashboard::open(&state.store, &state.secret_key, &token, Duration::hours(hours)).await {
        Ok(session) => {
            let value = session.sign(&state.secret_key, Purpose::DashboardSession);
            let cookie = set_cookie(&state, CONSOLE_COOKIE, &value, hours * 3600);
            (
                [(header::SET_COOKIE, cookie), (header::REFERRER_POLICY, "no-referrer".into())],
                Redirect::to("/dashboard"),
            )
                .into_response()
        }
        Err(LinkError::Store(e)) => internal(e),
        Err(e @ LinkError::Used) => problem(
            StatusCode::GONE,
            "This link was used already",
            &format!("{e}: a dashboard link works once. Ask for a new one."),
        ),
        Err(e) => problem(
            StatusCode::NOT_FOUND,
            "This link does not work",
            &format!("{e}. Ask for a new one."),
        ),
    }
}

/// `POST /dashboard/sign-out`: ends the session here and in the browser.
async fn sign_out(State(state): State<AppState>, Posted { console, .. }: Posted) -> Response {
    if let Err(e) = dashboard::sign_out(&state.store, &console.session).await {
        return internal(e);
    }
    let expired = set_cookie(&state, CONSOLE_COOKIE, "", 0);
    let body = html! {
        section.card {
            h1 { "You are signed out" }
            p { "Open a new dashboard link to come back." }
        }
    };
    let mut response = bare(StatusCode::OK, "Signed out", body);
    if let Ok(value) = expired.parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The value of `name` in a query map, if given and not empty.
pub fn query<'a>(query: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    query.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::Form;

    #[test]
    fn a_logged_form_shows_its_fields_names_never_their_values() {
        let form = Form::parse(b"domain=salon.example&client_secret=s3cr3t%7Evalue");
        let shown = format!("{form:?}");
        assert!(shown.contains("client_secret") && !shown.contains("s3cr3t"), "{shown}");
        assert_eq!(form.get("client_secret"), Some("s3cr3t~value"));
    }
}
