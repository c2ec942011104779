//! Manual update checklists, made for a phone held in front of a platform's extranet: pending
//! items grouped by platform with one-tap Done and Skip with a reason, that platform's steps, a
//! bulk view merging its items into few date ranges with day-of-week masks (and their CSV), the
//! figures of the last 30 days, and the listings of each property.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{Duration, NaiveDate, Utc};
use kalends_core::checklists::{Action, BulkRange, ListingMode, ListingPlatform, bulk_ranges};
use kalends_core::domain::Resource;
use kalends_service::checklists;
use kalends_store::StoreError;
use kalends_store::{ChecklistItem, ItemFilter, Listing, Mark, PlatformFigures};
use maud::{Markup, html};
use uuid::Uuid;

use super::checklist_guides::{csv, steps};
use super::sync::when;
use super::{
    Console, Form, Posted, Section, done, field_error, id_of, internal, invalid, other_errors,
    page_with_status, query, store_failure,
};
use crate::input::checklists::{ListingFields, listing};
use crate::input::{self, FieldError};
use crate::state::AppState;

/// Who marks items from the console.
const CONSOLE_ACTOR: &str = "console";

/// Items one page reads.
const MAX_ITEMS: u32 = 500;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard/checklists", get(show))
        .route("/dashboard/checklists/bulk", get(bulk))
        .route("/dashboard/checklists/export.csv", get(export))
        .route("/dashboard/checklists/{id}/done", post(mark_done))
        .route("/dashboard/checklists/{id}/skip", post(skip))
        .route("/dashboard/checklists/{id}/reopen", post(reopen))
        .route("/dashboard/checklists/listings", post(add_listing))
        .route("/dashboard/checklists/listings/{resource}/{id}/delete", post(delete_listing))
}

/// This page's one-off messages, by fixed code.
fn notice(code: Option<&str>) -> Markup {
    let text = match code {
        Some("item-done") => "Marked done.",
        Some("item-skipped") => "Skipped.",
        Some("item-reopened") => "The item is pending again.",
        Some("listing-added") => {
            "The listing is saved; a manual one gets its checklist within a minute."
        }
        Some("listing-deleted") => "The listing and its checklist are removed.",
        _ => return super::notice(code),
    };
    html! { p.flash.ok role="status" { (text) } }
}

/// A form that came back with errors: which (a skip of an item, or the listing form), what was
/// typed, and the errors.
#[derive(Default)]
struct Failed {
    skip: Option<Uuid>,
    listing: bool,
    form: Form,
    errors: Vec<FieldError>,
}

async fn show(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let platform = query(&q, "platform").and_then(ListingPlatform::parse);
    render(&state, &console, platform, query(&q, "notice"), Failed::default()).await
}

/// What every view reads: the properties, their listings, the pending items.
async fn read(
    state: &AppState,
    console: &Console,
    platform: Option<ListingPlatform>,
) -> Result<(Vec<Resource>, Vec<Listing>, Vec<ChecklistItem>), Response> {
    let tenant_id = console.tenant.id;
    let filter = ItemFilter {
        status: Some(kalends_core::checklists::ItemStatus::Pending),
        platform,
        resource_id: None,
    };
    let items = async {
        state.store.list_checklist_items(tenant_id, filter, None, MAX_ITEMS).await.map_err(internal)
    };
    let listings = async { state.store.listings(tenant_id, None).await.map_err(internal) };
    let (resources, listings, items) = tokio::try_join!(console.resources(state), listings, items)?;
    let mut items = items.items;
    items.sort_by_key(|i| (i.due_at, i.start_date));
    Ok((resources, listings, items))
}

async fn render(
    state: &AppState,
    console: &Console,
    platform: Option<ListingPlatform>,
    notice_code: Option<&str>,
    failed: Failed,
) -> Response {
    let (resources, listings, items) = match read(state, console, platform).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    let since = Utc::now() - Duration::days(30);
    let figures = match state.store.checklist_figures(console.tenant.id, since).await {
        Ok(figures) => figures,
        Err(e) => return internal(e),
    };
    let (names, rooms) = labels(&resources, &listings);
    let mut groups: BTreeMap<ListingPlatform, Vec<&ChecklistItem>> = BTreeMap::new();
    for item in &items {
        groups.entry(item.platform).or_default().push(item);
    }
    let status =
        if failed.errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let body = html! {
        h1 { "Checklists" }
        (notice(notice_code))
        p { "Platforms kept in step by hand: close and open these nights in each extranet, then tap Done." }
        @if let Some(p) = platform {
            p { "Showing " (p.label()) " only. " a href="/dashboard/checklists" { "Show every platform" } }
        }
        @if groups.is_empty() {
            p.empty { "Nothing to do: every manual listing is up to date." }
        }
        @for (platform, list) in &groups {
            (platform_group(console, *platform, list, &names, &rooms, &failed))
        }
        (figures_table(&figures))
        (listings_section(console, &resources, &listings, &failed))
    };
    page_with_status(status, console, Section::Checklists, "Checklists", body)
}

fn platform_group(
    console: &Console,
    platform: ListingPlatform,
    items: &[&ChecklistItem],
    names: &HashMap<Uuid, &str>,
    rooms: &HashMap<Uuid, &str>,
    failed: &Failed,
) -> Markup {
    let id = platform.as_str();
    html! {
        section.card id=(format!("p-{id}")) aria-labelledby=(format!("h-{id}")) {
            div.conn-head {
                h2 id=(format!("h-{id}")) { (platform.label()) }
                span.badge { (items.len()) " to do" }
            }
            details.guide {
                summary { "How to do it on " (platform.label()) }
                ol { @for step in steps(platform) { li { (step) } } }
            }
            p {
                a href=(format!("/dashboard/checklists/bulk?platform={id}")) { "Bulk view" }
                " · "
                a href=(format!("/dashboard/checklists/export.csv?platform={id}")) hx-boost="false" { "CSV for the bulk editor" }
            }
            @for item in items {
                (item_card(console, item, names, rooms, failed))
            }
        }
    }
}

fn item_card(
    console: &Console,
    item: &ChecklistItem,
    names: &HashMap<Uuid, &str>,
    rooms: &HashMap<Uuid, &str>,
    failed: &Failed,
) -> Markup {
    let place = names.get(&item.resource_id).copied().unwrap_or("(deleted)");
    let room = rooms.get(&item.listing_id).copied();
    let overdue = item.due_at <= Utc::now();
    let field = format!("note-{}", item.id);
    let failed = failed.skip.filter(|id| *id == item.id).map(|_| failed);
    html! {
        article.check-item id=(format!("i-{}", item.id)) {
            p { strong { (place) } @if let Some(room) = room { " · " (room) } }
            p.action { (item.text) }
            p.meta {
                @if overdue { span.badge.high { "Overdue" } " " }
                "Due " (when(console, item.due_at)) " · " (trigger_words(&item.trigger))
            }
            div.actions {
                form.inline method="post" action=(format!("/dashboard/checklists/{}/done", item.id)) {
                    (console.csrf_field())
                    button.primary type="submit" { "Done" }
                }
            }
            details open[failed.is_some()] {
                summary { "Skip…" }
                form.stack method="post" action=(format!("/dashboard/checklists/{}/skip", item.id)) {
                    (console.csrf_field())
                    label for=(field) { "Why it is not needed" }
                    textarea id=(field) name="note" rows="2" required
                        aria-invalid=(failed.map_or("false", |f| invalid(&f.errors, "note"))) {
                        (failed.map_or("", |f| f.form.value("note")))
                    }
                    @if let Some(f) = failed { (field_error(&f.errors, "note")) }
                    div.actions { button type="submit" { "Skip" } }
                }
            }
        }
    }
}

fn trigger_words(trigger: &str) -> &'static str {
    match trigger {
        "booking_saved" => "a booking was made or changed",
        "booking_cancelled" => "a booking was cancelled",
        "block_added" => "dates were blocked",
        "block_removed" => "a block was removed",
        "feed_import" => "a platform's calendar changed",
        "feed_removed" => "a platform's calendar was removed",
        "listing_added" | "listing_changed" => "the listing was set up",
        "family_changed" => "a room joined or left its property",
        _ => "the checklist was updated",
    }
}

fn hours(secs: i64) -> String {
    if secs < 3600 {
        format!("{} min", secs / 60)
    } else {
        format!("{:.1} h", secs as f64 / 3600.0)
    }
}

fn figures_table(figures: &BTreeMap<ListingPlatform, PlatformFigures>) -> Markup {
    html! {
        section.card aria-labelledby="figures-title" {
            h2 #figures-title { "Last 30 days" }
            @if figures.is_empty() { p.empty { "No checklist items yet." } } @else {
                table.list {
                    thead { tr {
                        th scope="col" { "Platform" } th scope="col" { "Created" } th scope="col" { "Done" }
                        th scope="col" { "Median time to done" } th scope="col" { "Overdue now" }
                    } }
                    tbody {
                        @for (platform, f) in figures {
                            tr {
                                th scope="row" { (platform.label()) }
                                td { (f.created) } td { (f.done) }
                                td { (f.median_secs_to_done.map_or("–".to_owned(), hours)) }
                                td { (f.overdue_now) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn listings_section(
    console: &Console,
    resources: &[Resource],
    listings: &[Listing],
    failed: &Failed,
) -> Markup {
    let (typed, errors) = if failed.listing {
        (&failed.form, failed.errors.as_slice())
    } else {
        (&failed.form, &[][..])
    };
    let typed = |name: &str| if failed.listing { typed.value(name) } else { "" };
    html! {
        section.card aria-labelledby="listings-title" {
            h2 #listings-title { "Where each property is listed" }
            @for r in resources {
                @let own: Vec<&Listing> = listings.iter().filter(|l| l.resource_id == r.id).collect();
                @if !own.is_empty() {
                    h3 { (r.data.name) }
                    ul {
                        @for l in own {
                            li {
                                (l.data.platform.label()) " · " (if l.data.mode == ListingMode::Manual { "by hand" } else { "iCal" })
                                @if let Some(room) = &l.data.room { " · " (room) }
                                form.inline method="post" action=(format!("/dashboard/checklists/listings/{}/{}/delete", r.id, l.id)) {
                                    (console.csrf_field())
                                    button.danger type="submit" aria-label=(format!("Remove {} listing of {}", l.data.platform.label(), r.data.name)) { "Remove" }
                                }
                            }
                        }
                    }
                }
            }
            h3 #add-listing { "Add a listing" }
            (other_errors(errors, &["resource_id", "platform", "mode", "room", "notes"]))
            form.stack method="post" action="/dashboard/checklists/listings" {
                (console.csrf_field())
                label for="resource_id" { "Property" }
                select #resource_id name="resource_id" aria-invalid=(invalid(errors, "resource_id")) {
                    @for r in resources {
                        option value=(r.id) selected[typed("resource_id") == r.id.to_string()] { (r.data.name) }
                    }
                }
                (field_error(errors, "resource_id"))
                label for="platform" { "Platform" }
                select #platform name="platform" aria-invalid=(invalid(errors, "platform")) {
                    @for p in ListingPlatform::ALL {
                        option value=(p.as_str()) selected[typed("platform") == p.as_str()] { (p.label()) }
                    }
                }
                (field_error(errors, "platform"))
                label for="mode" { "Kept in step" }
                select #mode name="mode" aria-invalid=(invalid(errors, "mode")) {
                    option value="manual" selected[typed("mode") != "ical"] { "By hand (checklists)" }
                    option value="ical" selected[typed("mode") == "ical"] { "By iCal import and export" }
                }
                (field_error(errors, "mode"))
                label for="room" { "Room name or id on the platform" }
                input #room name="room" type="text" value=(typed("room")) aria-invalid=(invalid(errors, "room"));
                (field_error(errors, "room"))
                label for="notes" { "Notes" }
                input #notes name="notes" type="text" value=(typed("notes")) aria-invalid=(invalid(errors, "notes"));
                (field_error(errors, "notes"))
                div.actions { button.primary type="submit" { "Add listing" } }
            }
        }
    }
}

/// The pending items of one platform as merged ranges: `(room, range)`, per room and action.
fn merged(
    items: &[ChecklistItem],
    names: &HashMap<Uuid, &str>,
    rooms: &HashMap<Uuid, &str>,
) -> Vec<(String, BulkRange)> {
    let mut sets: BTreeMap<(String, Action), BTreeSet<NaiveDate>> = BTreeMap::new();
    for item in items {
        let room = rooms
            .get(&item.listing_id)
            .or_else(|| names.get(&item.resource_id))
            .copied()
            .unwrap_or("(deleted)");
        let nights = item.start_date.iter_days().take_while(|d| *d < item.end_date);
        sets.entry((room.to_owned(), item.action)).or_default().extend(nights);
    }
    sets.into_iter()
        .flat_map(|((room, action), set)| {
            bulk_ranges(action, &set).into_iter().map(move |r| (room.clone(), r))
        })
        .collect()
}

/// Each property's name and each listing's room on the platform, by id.
fn labels<'a>(
    resources: &'a [Resource],
    listings: &'a [Listing],
) -> (HashMap<Uuid, &'a str>, HashMap<Uuid, &'a str>) {
    let names = resources.iter().map(|r| (r.id, r.data.name.as_str())).collect();
    let rooms = listings.iter().filter_map(|l| Some((l.id, l.data.room.as_deref()?))).collect();
    (names, rooms)
}

/// The platform `?platform=` names, how many items are pending on it, and those items merged
/// into ranges (the bulk view and its CSV).
async fn platform_ranges(
    state: &AppState,
    console: &Console,
    q: &HashMap<String, String>,
) -> Result<(ListingPlatform, usize, Vec<(String, BulkRange)>), Response> {
    let platform = query(q, "platform")
        .and_then(ListingPlatform::parse)
        .ok_or_else(|| super::not_found("Platform"))?;
    let (resources, listings, items) = read(state, console, Some(platform)).await?;
    let (names, rooms) = labels(&resources, &listings);
    Ok((platform, items.len(), merged(&items, &names, &rooms)))
}

/// `GET /dashboard/checklists/bulk?platform=`: the platform's pending items in few ranges.
async fn bulk(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (platform, items, ranges) = match platform_ranges(&state, &console, &q).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    let body = html! {
        h1 { (platform.label()) ": bulk view" }
        p { (items) " pending items as " (ranges.len()) " bulk edits. Dates are nights: the last night is the day before check-out." }
        @if ranges.is_empty() { p.empty { "Nothing to do on " (platform.label()) "." } } @else {
            table.list {
                thead { tr {
                    th scope="col" { "Room" } th scope="col" { "Do" } th scope="col" { "First night" }
                    th scope="col" { "Last night" } th scope="col" { "Days" }
                } }
                tbody {
                    @for (room, r) in &ranges {
                        tr {
                            td { (room) } td { (r.action.as_str()) }
                            td { (r.start.format("%a %-d %b %Y")) } td { (r.last.format("%a %-d %b %Y")) }
                            td { (r.days_label()) }
                        }
                    }
                }
            }
            p { a href=(format!("/dashboard/checklists/export.csv?platform={}", platform.as_str())) hx-boost="false" { "Download as CSV" } }
        }
        details.guide open {
            summary { "How to do it on " (platform.label()) }
            ol { @for step in steps(platform) { li { (step) } } }
        }
        p { a href=(format!("/dashboard/checklists?platform={}", platform.as_str())) { "Back to the items, to mark them done" } }
    };
    page_with_status(StatusCode::OK, &console, Section::Checklists, "Bulk view", body)
}

/// `GET /dashboard/checklists/export.csv?platform=`: the bulk view for the platform's editor.
async fn export(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (platform, _, ranges) = match platform_ranges(&state, &console, &q).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    let text = csv(platform, &ranges);
    let disposition = format!("attachment; filename=\"kalends-{}.csv\"", platform.as_str());
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        text,
    )
        .into_response()
}

async fn marked(
    state: &AppState,
    console: &Console,
    id: &str,
    mark: Mark,
    note: Option<&str>,
    code: &str,
) -> Response {
    let id = match id_of(id, "Checklist item") {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let result =
        checklists::mark(&state.store, &console.tenant, id, mark, CONSOLE_ACTOR, note).await;
    match result {
        // Marked already (a second tap, another phone): the list shows where it stands.
        Ok(_) | Err(StoreError::Invalid { .. }) => done("/dashboard/checklists", code),
        Err(e) => store_failure("Checklist item", e),
    }
}

async fn mark_done(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { console, .. }: Posted,
) -> Response {
    marked(&state, &console, &id, Mark::Done, None, "item-done").await
}

async fn reopen(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { console, .. }: Posted,
) -> Response {
    marked(&state, &console, &id, Mark::Reopen, None, "item-reopened").await
}

/// `POST .../skip`: a reason is required here (the API leaves it optional).
async fn skip(
    State(state): State<AppState>,
    Path(path): Path<String>,
    Posted { console, form }: Posted,
) -> Response {
    let id = match id_of(&path, "Checklist item") {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let errors = match input::note(form.get("note")) {
        Ok(Some(note)) => {
            return marked(&state, &console, &path, Mark::Skip, Some(&note), "item-skipped").await;
        }
        Ok(None) => vec![FieldError::new("note", "say why it is not needed")],
        Err(errors) => errors,
    };
    let failed = Failed { skip: Some(id), listing: false, form, errors };
    render(&state, &console, None, None, failed).await
}

async fn add_listing(State(state): State<AppState>, Posted { console, form }: Posted) -> Response {
    let fail = |form, errors| Failed { skip: None, listing: true, form, errors };
    let resource_id = match form.get("resource_id").map(str::parse::<Uuid>) {
        Some(Ok(id)) => id,
        _ => {
            let error = FieldError::new("resource_id", "choose a property");
            return render(&state, &console, None, None, fail(form, vec![error])).await;
        }
    };
    let fields = ListingFields {
        platform: form.trimmed("platform"),
        mode: form.trimmed("mode"),
        room: form.trimmed("room"),
        notes: form.trimmed("notes"),
    };
    let new = match listing(fields, None) {
        Ok(new) => new,
        Err(errors) => return render(&state, &console, None, None, fail(form, errors)).await,
    };
    match checklists::create_listing(&state.store, &console.tenant, resource_id, &new).await {
        Ok(_) => done("/dashboard/checklists", "listing-added"),
        Err(StoreError::NotFound) => {
            let error = FieldError::new("resource_id", "no such property");
            render(&state, &console, None, None, fail(form, vec![error])).await
        }
        Err(e) => store_failure("Property", e),
    }
}

async fn delete_listing(
    State(state): State<AppState>,
    Path((resource, id)): Path<(String, String)>,
    Posted { console, .. }: Posted,
) -> Response {
    let (resource_id, id) = match (id_of(&resource, "Property"), id_of(&id, "Listing")) {
        (Ok(r), Ok(id)) => (r, id),
        (Err(refused), _) | (_, Err(refused)) => return refused,
    };
    match checklists::delete_listing(&state.store, &console.tenant, resource_id, id).await {
        Ok(()) => done("/dashboard/checklists", "listing-deleted"),
        Err(e) => store_failure("Listing", e),
    }
}
