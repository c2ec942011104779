//! One import's page in the console: its state, its settings (the reading settings too, whose
//! change reads the last body again at once), what the mass-removal guard holds, the items it
//! holds with those gone from the feed, and its runs.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::Utc;
use kalends_core::domain::{
    EndDateIs, Import, ImportAs, ImportSettings, OnMissing, Owner, Platform, Span,
};
use kalends_core::imports::ImportedItem;
use kalends_service::importer::ImportError;
use kalends_service::imports;
use kalends_store::ImportPatch;
use kalends_store::StoreError;
use maud::{Markup, html};
use uuid::Uuid;

use super::sync::{
    action_button, interval_of, next_run, pause_button, platform_name, status_badge, when,
};
use super::{
    Console, Form, Posted, Section, done, field_error, id_of, internal, invalid, not_found, notice,
    other_errors, page_with_status, query, store_failure,
};
use crate::input::FieldError;
use crate::input::imports::{ImportChanges, SettingsFields, import_patch};
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard/imports/{id}", get(history))
        .route("/dashboard/imports/{id}/{action}", post(act_on_import))
}

/// The edit form's fields, in order.
const FIELDS: [&str; 9] = [
    "name",
    "platform",
    "url",
    "interval_minutes",
    "import_as",
    "end_date_is",
    "date_shift_days",
    "on_missing",
    "max_removed_share",
];

/// The import of this tenant named by a path, or the page that says it is not there.
async fn owned_import(state: &AppState, console: &Console, id: &str) -> Result<Import, Response> {
    let id = id_of(id, "Import")?;
    state.store.import(console.tenant.id, id).await.map_err(|e| store_failure("Import", e))
}

fn back_to(import: &Import) -> String {
    match import.data.owner {
        Owner::Resource(id) => format!("/dashboard/sync?resource_id={id}"),
        Owner::Staff(_) => "/dashboard/sync".to_owned(),
    }
}

/// The actions after which the import's own page shows again.
const STAYS_ON_PAGE: [&str; 3] = ["edit", "accept-removal", "confirm-missing"];

/// Saves an import's changes; when what its items depend on changed, its last body is read
/// again at once so the page shows the effect.
async fn save(
    state: &AppState,
    tenant_id: Uuid,
    id: Uuid,
    patch: ImportPatch,
) -> Result<(), StoreError> {
    let (_, read_again) = imports::update(&state.store, tenant_id, id, patch).await?;
    if read_again {
        state.importer.read_again(tenant_id, id).await?;
    }
    Ok(())
}

/// `POST /dashboard/imports/{id}/run` (queued, so the page never waits for a slow feed),
/// `.../pause`, `.../resume`, `.../edit` (the API's checks; the import's page again with the
/// errors in place when one fails), `.../delete`, `.../accept-removal` (what the mass-removal
/// guard held goes ahead) and `.../confirm-missing` (items gone from the feed are removed: one
/// with `item_id`, else all).
async fn act_on_import(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    Posted { console, form }: Posted,
) -> Response {
    let import = match owned_import(&state, &console, &id).await {
        Ok(import) => import,
        Err(refused) => return refused,
    };
    let (tenant_id, store) = (console.tenant.id, &state.store);
    let pause = |paused| ImportPatch { paused: Some(paused), ..ImportPatch::default() };
    let (done_code, result) = match action.as_str() {
        "run" => ("import-run", imports::run_soon(store, tenant_id, import.id).await),
        "pause" => (
            "import-paused",
            imports::update(store, tenant_id, import.id, pause(true)).await.map(drop),
        ),
        "resume" => (
            "import-resumed",
            imports::update(store, tenant_id, import.id, pause(false)).await.map(drop),
        ),
        "edit" => match edit_of(&form).and_then(import_patch) {
            Ok(patch) => ("import-saved", save(&state, tenant_id, import.id, patch).await),
            Err(errors) => {
                let shown = EditForm { form: Some(&form), errors };
                let status = StatusCode::UNPROCESSABLE_ENTITY;
                return render_import(&state, &console, &import, shown, None, status).await;
            }
        },
        "delete" => ("import-deleted", imports::delete(store, tenant_id, import.id).await),
        "accept-removal" => match state.importer.reread(tenant_id, import.id, true).await {
            Ok(_) => ("removal-accepted", Ok(())),
            Err(ImportError::Busy) => ("import-busy", Ok(())),
            Err(ImportError::Store(e)) => ("", Err(e)),
        },
        "confirm-missing" => {
            let item = match form.get("item_id").map(|id| id_of(id, "Item")).transpose() {
                Ok(item) => item,
                Err(refused) => return refused,
            };
            match imports::confirm_missing(store, tenant_id, import.id, item).await {
                Err(StoreError::LeaseBusy) => ("import-busy", Ok(())),
                confirmed => ("missing-removed", confirmed.map(drop)),
            }
        }
        _ => return not_found("Page"),
    };
    match result {
        Ok(()) if STAYS_ON_PAGE.contains(&action.as_str()) => {
            done(&format!("/dashboard/imports/{}", import.id), done_code)
        }
        Ok(()) => done(&back_to(&import), done_code),
        Err(e) => store_failure("Import", e),
    }
}

/// The edit form's fields as an import's changes; a number that is not one is the form's error.
fn edit_of(form: &Form) -> Result<ImportChanges<'_>, Vec<FieldError>> {
    Ok(ImportChanges {
        platform: Some(form.value("platform")),
        url: Some(form.value("url").trim()),
        name: Some(form.trimmed("name")),
        interval_minutes: interval_of(form)?,
        paused: None,
        settings: settings_of(form)?,
    })
}

/// What the edit form shows: the import as stored, or what was typed with its errors.
#[derive(Default)]
struct EditForm<'a> {
    form: Option<&'a Form>,
    errors: Vec<FieldError>,
}

/// `GET /dashboard/imports/{id}`: the import's settings to edit, pause or resume, and its runs.
async fn history(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let import = match owned_import(&state, &console, &id).await {
        Ok(import) => import,
        Err(refused) => return refused,
    };
    render_import(
        &state,
        &console,
        &import,
        EditForm::default(),
        query(&q, "notice"),
        StatusCode::OK,
    )
    .await
}

/// The import's page: its state, the edit form (as stored, or as typed with its errors), its runs.
async fn render_import(
    state: &AppState,
    console: &Console,
    import: &Import,
    shown: EditForm<'_>,
    notice_code: Option<&str>,
    status: StatusCode,
) -> Response {
    let runs = match state.store.list_import_runs(console.tenant.id, import.id, None, 100).await {
        Ok(runs) => runs.items,
        Err(e) => return internal(e),
    };
    let from = Some(Utc::now() - chrono::Duration::days(1));
    let items = state.store.import_items(console.tenant.id, import.id, (from, None), None, 200);
    let items = match items.await {
        Ok(items) => items.items,
        Err(e) => return internal(e),
    };
    let name =
        import.data.name.clone().unwrap_or_else(|| platform_name(import.data.platform).to_owned());
    let body = html! {
        p { a href=(back_to(import)) { "← Calendar sync" } }
        h1 { "Import: " (name) }
        (notice(notice_code))
        p { (status_badge(import)) " Every " (import.data.interval_minutes) " minutes; "
            @if import.paused_at.is_some() { (next_run(console, import)) "." } @else { "next run " (when(console, import.next_run_at)) "." } }
        div.actions { (action_button(console, import, "run", "Run now")) " " (pause_button(console, import)) }
        (hold_card(console, import))
        (edit_form(console, import, &shown))
        (items_card(console, import, &items))
        section.card aria-labelledby="runs-title" {
            h2 #runs-title { "Runs" }
            @if runs.is_empty() { p.empty { "Not run yet." } } @else {
                table.list {
                    thead { tr { th scope="col" { "Finished" } th scope="col" { "Outcome" } th scope="col" { "Added" } th scope="col" { "Changed" } th scope="col" { "Removed" } th scope="col" { "Error" } } }
                    tbody {
                        @for run in &runs {
                            tr {
                                td { (when(console, run.finished_at)) }
                                td { span.badge.(run.outcome.as_str()) { (run.outcome.as_str().replace('_', " ")) } @if let Some(s) = run.http_status { " HTTP " (s) } }
                                td { (run.counts.added) } td { (run.counts.updated) } td { (run.counts.removed) }
                                td { @if let Some(e) = &run.error { span.error-text { (e) } } }
                            }
                        }
                    }
                }
            }
        }
    };
    page_with_status(status, console, Section::Sync, &format!("Import: {name}"), body)
}

fn edit_form(console: &Console, import: &Import, shown: &EditForm<'_>) -> Markup {
    let errors = &shown.errors;
    let typed = |field: &str, stored: String| match shown.form {
        Some(form) => form.value(field).to_owned(),
        None => stored,
    };
    let platform = typed("platform", import.data.platform.as_str().to_owned());
    let name = typed("name", import.data.name.clone().unwrap_or_default());
    let url = typed("url", import.data.url.clone());
    let interval = typed("interval_minutes", import.data.interval_minutes.to_string());
    html! {
        section.card #edit-import aria-labelledby="edit-title" {
            h2 #edit-title { "Settings" }
            (other_errors(errors, &FIELDS))
            form.stack method="post" action=(format!("/dashboard/imports/{}/edit", import.id)) {
                (console.csrf_field())
                label for="name" { "Name (optional)" }
                input #name name="name" value=(name) maxlength="200" aria-invalid=(invalid(errors, "name"));
                (field_error(errors, "name"))
                label for="platform" { "Platform" }
                select #platform name="platform" aria-invalid=(invalid(errors, "platform")) {
                    @for p in Platform::ALL {
                        option value=(p.as_str()) selected[p.as_str() == platform] { (platform_name(p)) }
                    }
                }
                (field_error(errors, "platform"))
                label for="url" { "The platform's calendar address (export link)" }
                input #url name="url" type="url" inputmode="url" value=(url) required
                    aria-invalid=(invalid(errors, "url")) aria-describedby="url-error";
                (field_error(errors, "url"))
                label for="interval_minutes" { "Read it every (minutes, 5 to 1440)" }
                input #interval_minutes name="interval_minutes" type="number" min="5" max="1440" value=(interval)
                    aria-invalid=(invalid(errors, "interval_minutes")) aria-describedby="interval_minutes-error";
                (field_error(errors, "interval_minutes"))
                (settings_fields(import, shown))
                div.actions { button.primary type="submit" { "Save" } }
            }
        }
    }
}

/// The reading settings of the edit form: each select's choices with the stored (or typed)
/// one selected.
fn settings_fields(import: &Import, shown: &EditForm<'_>) -> Markup {
    let errors = &shown.errors;
    let settings = &import.data.settings;
    let typed = |field: &str, stored: &str| match shown.form {
        Some(form) => form.value(field).to_owned(),
        None => stored.to_owned(),
    };
    let import_as = typed("import_as", settings.import_as.map_or("", ImportAs::as_str));
    let default_as = match ImportSettings::default().import_as(import.data.platform) {
        ImportAs::Reservation => "reservations",
        ImportAs::Block => "blocks",
    };
    let end_date_is = typed("end_date_is", settings.end_date_is.as_str());
    let on_missing = typed("on_missing", settings.on_missing.as_str());
    let shift = typed("date_shift_days", &settings.date_shift_days.to_string());
    let share = typed("max_removed_share", &settings.max_removed_share.to_string());
    html! {
        fieldset {
            legend { "How the feed is read" }
            label for="import_as" { "Its events are" }
            select #import_as name="import_as" aria-invalid=(invalid(errors, "import_as")) {
                option value="" selected[import_as.is_empty()] { "The platform's default (" (default_as) ")" }
                option value="reservation" selected[import_as == "reservation"] { "Reservations (the platform's closed dates stay blocks)" }
                option value="block" selected[import_as == "block"] { "Blocks (closed dates)" }
            }
            (field_error(errors, "import_as"))
            label for="end_date_is" { "An all-day event's end date is" }
            select #end_date_is name="end_date_is" aria-invalid=(invalid(errors, "end_date_is")) {
                @for v in EndDateIs::ALL {
                    option value=(v.as_str()) selected[v.as_str() == end_date_is] {
                        @match v { EndDateIs::Checkout => "The check-out day (the standard)", EndDateIs::LastNight => "The last night" }
                    }
                }
            }
            (field_error(errors, "end_date_is"))
            label for="date_shift_days" { "Move every date by (days, -2 to 2)" }
            input #date_shift_days name="date_shift_days" type="number" min="-2" max="2" value=(shift)
                aria-invalid=(invalid(errors, "date_shift_days")) aria-describedby="date_shift_days-error";
            (field_error(errors, "date_shift_days"))
            label for="on_missing" { "An event gone from the feed" }
            select #on_missing name="on_missing" aria-invalid=(invalid(errors, "on_missing")) {
                @for v in OnMissing::ALL {
                    option value=(v.as_str()) selected[v.as_str() == on_missing] {
                        @match v { OnMissing::Remove => "Is cancelled: its dates are free again", OnMissing::KeepAndAlert => "Stays until I confirm, and I am told" }
                    }
                }
            }
            (field_error(errors, "on_missing"))
            label for="max_removed_share" { "Hold a run that would remove more than this share of the future events (0 to 1; 0.5 is half)" }
            input #max_removed_share name="max_removed_share" type="number" min="0" max="1" step="0.05" value=(share)
                aria-invalid=(invalid(errors, "max_removed_share")) aria-describedby="max_removed_share-error";
            (field_error(errors, "max_removed_share"))
        }
    }
}

/// The form's reading settings; a number that is not one is the form's error.
fn settings_of(form: &Form) -> Result<SettingsFields<'_>, Vec<FieldError>> {
    fn number<T: std::str::FromStr>(
        form: &Form,
        field: &str,
        message: &str,
    ) -> Result<Option<T>, Vec<FieldError>> {
        let parsed = form.trimmed(field).map(str::parse).transpose();
        parsed.map_err(|_| vec![FieldError { field: field.into(), message: message.into() }])
    }
    let date_shift_days =
        number(form, "date_shift_days", "must be a whole number of days from -2 to 2")?;
    let max_removed_share =
        number(form, "max_removed_share", "must be a share from 0 to 1 (0.5 is half)")?;
    Ok(SettingsFields {
        import_as: Some(form.trimmed("import_as")),
        end_date_is: form.trimmed("end_date_is"),
        date_shift_days,
        on_missing: form.trimmed("on_missing"),
        max_removed_share,
    })
}

/// What the mass-removal guard holds, with the button that lets the removal go ahead.
fn hold_card(console: &Console, import: &Import) -> Markup {
    let Some(hold) = &import.hold else { return html! {} };
    html! {
        section.card.warning #hold aria-labelledby="hold-title" role="alert" {
            h2 #hold-title { "Held since " (when(console, hold.since)) }
            p { "The last read of this feed " (hold.reason) "." }
            (action_button(console, import, "accept-removal", "Accept the removal"))
        }
    }
}

/// The items the import holds from yesterday on; those gone from the feed first, each with a
/// button confirming its removal.
fn items_card(console: &Console, import: &Import, items: &[ImportedItem]) -> Markup {
    let missing = items.iter().filter(|i| i.missing_since.is_some()).count();
    let mut shown: Vec<&ImportedItem> = items.iter().collect();
    shown.sort_by_key(|i| (i.missing_since.is_none(), i.span_start));
    html! {
        section.card #items aria-labelledby="items-title" {
            h2 #items-title { "What it holds" }
            @if missing > 0 {
                p { (missing) " gone from the feed; their dates stay blocked until you confirm. "
                    (action_button(console, import, "confirm-missing", "Confirm all removals")) }
            }
            @if shown.is_empty() { p.empty { "Nothing from yesterday on." } } @else {
                table.list {
                    thead { tr { th scope="col" { "Dates" } th scope="col" { "What" } th scope="col" { "Summary" } th scope="col" { "In the feed" } } }
                    tbody {
                        @for item in shown {
                            tr {
                                td { (item_dates(&item.span)) }
                                td { (kalends_store::kind_str(item.kind)) }
                                td { (item.summary.as_deref().unwrap_or("")) }
                                td { @match item.missing_since {
                                    None => "yes",
                                    Some(since) => {
                                        span.error-text { "gone since " (when(console, since)) } " "
                                        form.inline method="post" action=(format!("/dashboard/imports/{}/confirm-missing", import.id)) {
                                            (console.csrf_field())
                                            input type="hidden" name="item_id" value=(item.id);
                                            button type="submit" { "Confirm removal" }
                                        }
                                    }
                                } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// An item's dates as the timeline reads them.
fn item_dates(span: &Span) -> String {
    match span {
        Span::AllDay { start, end } => {
            format!("{} to {}", start.format("%-d %b %Y"), end.format("%-d %b %Y"))
        }
        Span::Timed { start, end } => {
            format!("{} to {}", start.format("%-d %b %Y %H:%M"), end.format("%-d %b %Y %H:%M UTC"))
        }
    }
}
