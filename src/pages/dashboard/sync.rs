//! Calendar sync, per property: the feeds Kalends serves to the platforms (with a Copy button
//! and each platform's steps), the feeds it imports from them (last run, next run, Run now,
//! history, delete), and "Add import", which fetches and reads the feed before saving it.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use kalends_core::domain::{Feed, FeedScope, Import, ImportRun, Owner, Platform, Resource, Span};
use kalends_ical::ParsedFeed;
use kalends_service::{feeds, imports};
use maud::{Markup, html};
use uuid::Uuid;

use super::{
    Console, Form, Posted, Section, done, field_error, internal, invalid, not_found, notice,
    other_errors, page, page_with_status, query, store_failure,
};
use crate::feed_guides::{guides, webcal_url};
use crate::input::FieldError;
use crate::input::feeds::{FeedFields, new_feed};
use crate::input::imports::{ImportFields, SettingsFields, new_import};
use crate::links::feed_url;
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard/sync", get(show))
        .route("/dashboard/imports", post(add_import))
        .route("/dashboard/feeds", post(add_feed))
}

/// A platform's name as people know it.
pub fn platform_name(platform: Platform) -> &'static str {
    match platform {
        Platform::Airbnb => "Airbnb",
        Platform::Vrbo => "VRBO",
        Platform::BookingCom => "Booking.com",
        Platform::Google => "Google Calendar",
        Platform::Outlook => "Outlook",
        Platform::Other => "Other calendar",
    }
}

/// A time, as the console shows it: in the tenant's zone, to the minute.
pub fn when(console: &Console, at: DateTime<Utc>) -> String {
    at.with_timezone(&console.tenant.settings.time_zone.tz()).format("%-d %b %Y, %H:%M").to_string()
}

/// What the add-import form holds: what was typed, its errors, and a checked preview.
#[derive(Default)]
struct ImportForm<'a> {
    platform: &'a str,
    url: &'a str,
    interval: &'a str,
    errors: Vec<FieldError>,
    /// The new-feed form's errors.
    feed_errors: Vec<FieldError>,
    preview: Option<Result<ParsedFeed, (Option<u16>, String)>>,
}

async fn show(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let resources = match console.resources(&state).await {
        Ok(resources) => resources,
        Err(refused) => return refused,
    };
    let chosen = match query(&q, "resource_id") {
        Some(id) => match property(&resources, Some(id)) {
            Ok(resource) => Some(resource),
            Err(refused) => return refused,
        },
        None => resources.first(),
    };
    let Some(resource) = chosen else {
        let body = html! {
            h1 { "Calendar sync" }
            p.empty { "No properties yet: add resources through the API, then their feeds appear here." }
        };
        return page(&console, Section::Sync, "Calendar sync", body);
    };
    let form = ImportForm { interval: "30", ..ImportForm::default() };
    render(&state, &console, &resources, resource, form, query(&q, "notice"), StatusCode::OK).await
}

async fn render(
    state: &AppState,
    console: &Console,
    resources: &[Resource],
    resource: &Resource,
    form: ImportForm<'_>,
    notice_code: Option<&str>,
    status: StatusCode,
) -> Response {
    let tenant_id = console.tenant.id;
    let owner = Owner::Resource(resource.id);
    let (feeds, imports, runs) = match tokio::try_join!(
        state.store.list_feeds(tenant_id, None, 500),
        state.store.list_imports(tenant_id, None, 500),
        state.store.last_import_runs(tenant_id),
    ) {
        Ok(read) => read,
        Err(e) => return internal(e),
    };
    let feeds: Vec<&Feed> = feeds
        .items
        .iter()
        .filter(|f| matches!(f.data.scope, FeedScope::Owner(o) if o == owner))
        .collect();
    let imports: Vec<&Import> = imports.items.iter().filter(|i| i.data.owner == owner).collect();
    let last_run = |i: &Import| runs.iter().find(|r| r.import_id == i.id);
    let body = html! {
        h1 { "Calendar sync" }
        (notice(notice_code))
        nav.toolbar aria-label="Properties" {
            @for r in resources {
                a.button href=(format!("/dashboard/sync?resource_id={}", r.id)) aria-current=(r.id == resource.id) { (r.data.name) }
            }
        }
        section.card aria-labelledby="out-title" {
            h2 #out-title { "Feeds out: " (resource.data.name) }
            p.muted { "Give a feed's address to each platform, so that a booking here closes the dates there." }
            @if feeds.is_empty() {
                p.empty { "No feed for this property yet." }
            }
            @for feed in &feeds { (feed_card(state, feed)) }
            form.stack method="post" action="/dashboard/feeds" {
                (console.csrf_field())
                input type="hidden" name="scope_id" value=(resource.id);
                (other_errors(&form.feed_errors, &["name", "platform"]))
                label for="feed-name" { "New feed's name" }
                input #feed-name name="name" value=(format!("{} for platforms", resource.data.name)) required
                    aria-invalid=(invalid(&form.feed_errors, "name"));
                (field_error(&form.feed_errors, "name"))
                label for="feed-platform" { "Who reads it" }
                select #feed-platform name="platform" required aria-invalid=(invalid(&form.feed_errors, "platform")) {
                    option value="" disabled selected { "Choose…" }
                    option value="airbnb" { "Airbnb" }
                    option value="booking_com" { "Booking.com" }
                    option value="vrbo" { "VRBO" }
                    option value="calendar" { "Your own calendar (Google, Outlook, Apple, a phone)" }
                }
                p.muted { "A feed for a platform leaves out what came from that platform and drops a cancelled booking at once; give each platform its own." }
                (field_error(&form.feed_errors, "platform"))
                label for="feed-profile" { "What it shows" }
                select #feed-profile name="profile" {
                    option value="busy" selected { "Busy only: dates closed, no guest details (for booking platforms)" }
                    option value="details" { "Details: booking titles and guests (for your own calendars)" }
                }
                div.actions { button.primary type="submit" { "Create feed" } }
            }
        }
        section.card aria-labelledby="in-title" {
            h2 #in-title { "Feeds in: " (resource.data.name) }
            p.muted { "Platform calendars Kalends reads on a schedule; their reservations block these dates." }
            @if imports.is_empty() {
                p.empty { "No imports for this property yet." }
            } @else {
                table.list {
                    thead { tr {
                        th scope="col" { "Platform" } th scope="col" { "Status" } th scope="col" { "Last run" }
                        th scope="col" { "Next run" } th scope="col" { "Every" } th scope="col" { span.visually-hidden { "Actions" } }
                    } }
                    tbody {
                        @for import in &imports { (import_row(console, import, last_run(import))) }
                    }
                }
            }
        }
        (add_import_form(console, resource, &form))
    };
    let title = format!("Calendar sync: {}", resource.data.name);
    page_with_status(status, console, Section::Sync, &title, body)
}

fn feed_card(state: &AppState, feed: &Feed) -> Markup {
    let url = feed_url(state, feed);
    let field = format!("feed-{}", feed.id);
    html! {
        div.card {
            h3 { (feed.data.name) " " span.badge.default { (feed.data.profile.as_str()) } }
            div.copy-row {
                label.visually-hidden for=(field) { "Address of " (feed.data.name) }
                input id=(field) type="text" readonly value=(url);
                button type="button" data-copy=(field) { "Copy" }
                a.button href=(webcal_url(&url)) { "Subscribe" }
            }
            @for guide in guides(&url).into_iter().filter(|g| guide_for(feed.data.platform, g.platform)) {
                details.guide {
                    summary { "How to add it to " (guide.title) }
                    ol { @for step in &guide.steps { li { (step) } } }
                    p.muted { (guide.refresh) }
                }
            }
        }
    }
}

/// Whether the feed card shows the guide of `guide` (a platform key): a booking site's feed its
/// site's, a feed for calendars the calendars'.
fn guide_for(platform: Option<Platform>, guide: &str) -> bool {
    match platform {
        Some(Platform::Airbnb | Platform::BookingCom | Platform::Vrbo) => {
            platform.is_some_and(|p| p.as_str() == guide)
        }
        _ => matches!(guide, "google" | "outlook" | "apple"),
    }
}

fn import_row(console: &Console, import: &Import, run: Option<&ImportRun>) -> Markup {
    let name = import.data.name.as_deref().unwrap_or(platform_name(import.data.platform));
    html! {
        tr {
            td { a href=(format!("/dashboard/imports/{}", import.id)) { (name) } br; span.muted { (platform_name(import.data.platform)) } }
            td { (status_badge(import))
                @if import.consecutive_failures > 0 { br; span.muted { (import.consecutive_failures) " failed in a row" } } }
            td { (run_summary(console, run)) }
            td { (next_run(console, import)) }
            td { (import.data.interval_minutes) " min" }
            td {
                (action_button(console, import, "run", "Run now"))
                " "
                (pause_button(console, import))
                " "
                a.button href=(format!("/dashboard/imports/{}", import.id)) aria-label=(format!("Edit {name}")) { "Edit" }
                " "
                form.inline method="post" action=(format!("/dashboard/imports/{}/delete", import.id)) {
                    (console.csrf_field()) button.danger type="submit" { "Delete" }
                }
            }
        }
    }
}

/// The import's state: `paused` while the scheduler leaves it alone, else how its runs went.
pub(super) fn status_badge(import: &Import) -> Markup {
    match import.paused_at {
        Some(_) => html! { span.badge.paused { "paused" } },
        None => html! { span.badge.(import.status.as_str()) { (import.status.as_str()) } },
    }
}

/// When the scheduler runs it next, or since when it is paused.
pub(super) fn next_run(console: &Console, import: &Import) -> Markup {
    match import.paused_at {
        Some(since) => html! { span.muted { "Paused since " (when(console, since)) } },
        None => html! { (when(console, import.next_run_at)) },
    }
}

/// A one-button form posting `action` to the import.
pub(super) fn action_button(
    console: &Console,
    import: &Import,
    action: &str,
    label: &str,
) -> Markup {
    html! {
        form.inline method="post" action=(format!("/dashboard/imports/{}/{action}", import.id)) {
            (console.csrf_field()) button type="submit" { (label) }
        }
    }
}

/// "Pause" for a running import, "Resume" for a paused one.
pub(super) fn pause_button(console: &Console, import: &Import) -> Markup {
    match import.paused_at {
        Some(_) => action_button(console, import, "resume", "Resume"),
        None => action_button(console, import, "pause", "Pause"),
    }
}

/// A run in words: when, how it ended, what it changed, and the error if any.
fn run_summary(console: &Console, run: Option<&ImportRun>) -> Markup {
    let Some(run) = run else { return html! { span.muted { "Not run yet" } } };
    let c = &run.counts;
    html! {
        (when(console, run.finished_at)) br;
        span.badge.(run.outcome.as_str()) { (run.outcome.as_str().replace('_', " ")) }
        @if let Some(status) = run.http_status { " " span.muted { "HTTP " (status) } }
        @if run.outcome.as_str() == "ok" {
            br; span.muted { (c.added) " added, " (c.updated) " changed, " (c.removed) " removed, " (c.unchanged) " unchanged" }
        }
        @if let Some(error) = &run.error { p.error-text { (error) } }
    }
}

fn add_import_form(console: &Console, resource: &Resource, form: &ImportForm<'_>) -> Markup {
    let errors = &form.errors;
    html! {
        section.card #add-import aria-labelledby="add-title" {
            h2 #add-title { "Add import" }
            (other_errors(errors, &["platform", "url", "interval_minutes"]))
            form.stack method="post" action="/dashboard/imports" {
                (console.csrf_field())
                input type="hidden" name="resource_id" value=(resource.id);
                label for="platform" { "Platform" }
                select #platform name="platform" aria-invalid=(invalid(errors, "platform")) {
                    @for p in Platform::ALL {
                        option value=(p.as_str()) selected[p.as_str() == form.platform] { (platform_name(p)) }
                    }
                }
                (field_error(errors, "platform"))
                label for="url" { "The platform's calendar address (export link)" }
                input #url name="url" type="url" inputmode="url" placeholder="https://www.airbnb.com/calendar/ical/….ics"
                    value=(form.url) required aria-invalid=(invalid(errors, "url")) aria-describedby="url-error";
                (field_error(errors, "url"))
                label for="interval_minutes" { "Read it every (minutes, 5 to 1440)" }
                input #interval_minutes name="interval_minutes" type="number" min="5" max="1440"
                    value=(form.interval) aria-invalid=(invalid(errors, "interval_minutes")) aria-describedby="interval_minutes-error";
                (field_error(errors, "interval_minutes"))
                @if let Some(preview) = &form.preview { (preview_markup(console, preview)) }
                div.actions {
                    button type="submit" name="action" value="check" { "Check the address" }
                    button.primary type="submit" name="action" value="save" { "Add import" }
                }
            }
        }
    }
}

fn preview_markup(
    console: &Console,
    preview: &Result<ParsedFeed, (Option<u16>, String)>,
) -> Markup {
    match preview {
        Err((status, error)) => html! {
            div.preview.problem role="alert" {
                strong { "This address does not work yet: " } (error)
                @if let Some(status) = status { " (HTTP " (status) ")" }
            }
        },
        Ok(feed) => html! {
            div.preview role="status" {
                strong { "The address works." }
                " It holds " (feed.events) " events; " (feed.busy.len()) " busy dates would be stored"
                @if !feed.skipped.is_empty() { ", " (feed.skipped.len()) " skipped" } "."
                @if !feed.busy.is_empty() {
                    ul {
                        @for item in feed.busy.iter().take(8) {
                            li { (span_text(console, &item.span)) @if let Some(s) = &item.summary { ": " (s) } }
                        }
                        @if feed.busy.len() > 8 { li.muted { "and " (feed.busy.len() - 8) " more" } }
                    }
                }
            }
        },
    }
}

fn span_text(console: &Console, span: &Span) -> String {
    match *span {
        Span::AllDay { start, end } => kalends_core::words::nights(start, end, console.today()),
        Span::Timed { start, end } => console.span(start, end),
    }
}

/// The property a form names, among the tenant's; another tenant's or none is a 404.
fn property<'a>(resources: &'a [Resource], id: Option<&str>) -> Result<&'a Resource, Response> {
    resources
        .iter()
        .find(|r| Some(r.id.to_string().as_str()) == id)
        .ok_or_else(|| not_found("Property"))
}

/// The property's page again with the forms' errors in place (422).
async fn refused(
    state: &AppState,
    console: &Console,
    resources: &[Resource],
    resource: &Resource,
    shown: ImportForm<'_>,
) -> Response {
    render(state, console, resources, resource, shown, None, StatusCode::UNPROCESSABLE_ENTITY).await
}

/// `POST /dashboard/imports`: `action=check` fetches and reads the feed and shows what would be
/// stored; `action=save` saves it (the API's checks), either way keeping what was typed.
async fn add_import(State(state): State<AppState>, Posted { console, form }: Posted) -> Response {
    let resources = match console.resources(&state).await {
        Ok(resources) => resources,
        Err(refused) => return refused,
    };
    let resource = match property(&resources, form.get("resource_id")) {
        Ok(resource) => resource,
        Err(refused) => return refused,
    };
    let mut shown = ImportForm {
        platform: form.value("platform"),
        url: form.value("url"),
        interval: form.value("interval_minutes"),
        ..ImportForm::default()
    };
    let default_interval = state.config.import.default_interval_minutes;
    let new = match import_fields(&form, resource.id)
        .and_then(|fields| new_import(fields, default_interval))
    {
        Ok(new) => new,
        Err(errors) => {
            shown.errors = errors;
            return refused(&state, &console, &resources, resource, shown).await;
        }
    };
    if form.get("action") == Some("check") {
        shown.preview = match state.importer.preview(&console.tenant, &new).await {
            Ok(preview) => Some(preview),
            Err(e) => return internal(e),
        };
        return render(&state, &console, &resources, resource, shown, None, StatusCode::OK).await;
    }
    match imports::create(&state.store, &console.tenant, new).await {
        Ok(_) => done(&format!("/dashboard/sync?resource_id={}", resource.id), "import-added"),
        Err(e) => store_failure("Property", e),
    }
}

/// The form's fields as an import's; a number that is not one is the form's error.
fn import_fields(form: &Form, resource_id: Uuid) -> Result<ImportFields<'_>, Vec<FieldError>> {
    Ok(ImportFields {
        resource_id: Some(resource_id),
        staff_id: None,
        platform: form.value("platform"),
        url: form.value("url").trim(),
        name: form.trimmed("name"),
        interval_minutes: interval_of(form)?,
        settings: SettingsFields::default(),
    })
}

/// The interval field as a number of minutes (`None` when empty); text that is not a number is
/// the form's error (a number out of range is the shared check's).
pub(super) fn interval_of(form: &Form) -> Result<Option<u32>, Vec<FieldError>> {
    form.text("interval_minutes").map(|text| text.parse()).transpose().map_err(|_| {
        vec![FieldError {
            field: "interval_minutes".into(),
            message: "must be a whole number of minutes from 5 to 1440".into(),
        }]
    })
}

/// `POST /dashboard/feeds`: a feed of one property for the platforms.
async fn add_feed(State(state): State<AppState>, Posted { console, form }: Posted) -> Response {
    let resources = match console.resources(&state).await {
        Ok(resources) => resources,
        Err(refused) => return refused,
    };
    let resource = match property(&resources, form.get("scope_id")) {
        Ok(resource) => resource,
        Err(refused) => return refused,
    };
    // The platform that will read the feed: booking sites get their own (what came from them
    // left out, cancellations gone at once); a person's calendar none.
    let (platform, unchosen) = match form.value("platform") {
        "" => (None, true),
        "calendar" => (None, false),
        platform => (Some(platform), false),
    };
    let fields = FeedFields {
        scope: "resource",
        scope_id: Some(resource.id),
        profile: form.value("profile"),
        name: form.value("name").trim(),
        platform,
        include_tentative: None,
    };
    let checked = match (new_feed(fields), unchosen) {
        (Ok(new), false) => Ok(new),
        (checked, _) => {
            let mut errors = checked.err().unwrap_or_default();
            if unchosen {
                errors.push(FieldError::new("platform", "choose who will read this feed"));
            }
            Err(errors)
        }
    };
    let new = match checked {
        Ok(new) => new,
        Err(feed_errors) => {
            let shown = ImportForm { interval: "30", feed_errors, ..ImportForm::default() };
            return refused(&state, &console, &resources, resource, shown).await;
        }
    };
    match feeds::create(&state.store, &console.tenant, new, &state.secret_key).await {
        Ok(_) => done(&format!("/dashboard/sync?resource_id={}", resource.id), "feed-added"),
        Err(e) => store_failure("Property", e),
    }
}
