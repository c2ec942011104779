//! Conflicts: open and resolved, with severity, the items and where each came from, the
//! suggestion, and Resolve with a note; filtered by property, severity and source.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use kalends_core::conflict_record::Conflict;
use kalends_core::conflicts::Severity;
use kalends_core::domain::Owner;
use kalends_service::conflicts;
use kalends_store::StoreError;
use maud::{Markup, html};
use uuid::Uuid;

use super::sync::when;
use super::{
    Console, Posted, Section, done, field_error, id_of, internal, notice, page_with_status, query,
    store_failure,
};
use crate::input::{self, FieldError};
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard/conflicts", get(show))
        .route("/dashboard/conflicts/{id}/resolve", post(resolve))
}

/// What the list shows.
#[derive(Default)]
struct Filter<'a> {
    resolved: bool,
    resource: Option<&'a str>,
    severity: Option<&'a str>,
    source: Option<&'a str>,
}

impl Filter<'_> {
    fn keeps(&self, c: &Conflict) -> bool {
        let resource = match c.owner {
            Owner::Resource(id) => Some(id.to_string()),
            Owner::Staff(_) => None,
        };
        self.resource.is_none_or(|r| resource.as_deref() == Some(r))
            && self.severity.is_none_or(|s| c.severity.as_str() == s)
            && self.source.is_none_or(|s| c.items.iter().any(|i| i.kind.as_str() == s))
    }
}

async fn show(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let filter = Filter {
        resolved: query(&q, "status") == Some("resolved"),
        resource: query(&q, "resource_id"),
        severity: query(&q, "severity"),
        source: query(&q, "source"),
    };
    render(&state, &console, &filter, query(&q, "notice"), None).await
}

/// The list; `failed`: a resolve form that came back with errors (its conflict and errors).
async fn render(
    state: &AppState,
    console: &Console,
    filter: &Filter<'_>,
    notice_code: Option<&str>,
    failed: Option<(Uuid, Vec<FieldError>, String)>,
) -> Response {
    let listed = state.store.list_conflicts(console.tenant.id, Some(!filter.resolved), None, 500);
    let (listed, resources, staff) = match tokio::try_join!(
        async { listed.await.map_err(internal) },
        console.resources(state),
        console.staff(state)
    ) {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    let mut names: HashMap<Uuid, String> =
        resources.iter().map(|r| (r.id, r.data.name.clone())).collect();
    names.extend(staff.iter().map(|s| (s.id, s.data.name.clone())));
    let shown: Vec<&Conflict> = listed.items.iter().filter(|c| filter.keeps(c)).collect();
    let status = if failed.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let body = html! {
        h1 { "Conflicts" }
        (notice(notice_code))
        form.toolbar method="get" action="/dashboard/conflicts" {
            label for="f-status" { "Show" }
            select #f-status name="status" {
                option value="open" selected[!filter.resolved] { "Open" }
                option value="resolved" selected[filter.resolved] { "Resolved" }
            }
            label for="f-resource" { "Property" }
            select #f-resource name="resource_id" {
                option value="" { "All" }
                @for r in &resources {
                    option value=(r.id) selected[filter.resource == Some(r.id.to_string().as_str())] { (r.data.name) }
                }
            }
            label for="f-severity" { "Severity" }
            select #f-severity name="severity" {
                option value="" { "All" }
                @for s in ["high", "medium", "low"] { option value=(s) selected[filter.severity == Some(s)] { (s) } }
            }
            label for="f-source" { "Source" }
            select #f-source name="source" {
                option value="" { "All" }
                @for (s, label) in [("booking", "Bookings"), ("feed", "Imported feeds"), ("block", "Blocks"), ("calendar", "Staff calendars")] {
                    option value=(s) selected[filter.source == Some(s)] { (label) }
                }
            }
            button type="submit" { "Filter" }
        }
        @if shown.is_empty() {
            p.empty { (if filter.resolved { "No resolved conflicts." } else { "No open conflicts: nothing is double-booked." }) }
        }
        @for conflict in shown {
            (conflict_card(console, conflict, &names, failed.as_ref().filter(|(id, ..)| *id == conflict.id)))
        }
    };
    page_with_status(status, console, Section::Conflicts, "Conflicts", body)
}

fn source_name(kind: &str) -> &'static str {
    match kind {
        "booking" => "Booking",
        "block" => "Block",
        "feed" => "Imported feed",
        _ => "Staff calendar",
    }
}

fn conflict_card(
    console: &Console,
    conflict: &Conflict,
    names: &HashMap<Uuid, String>,
    failed: Option<&(Uuid, Vec<FieldError>, String)>,
) -> Markup {
    let owner = match conflict.owner {
        Owner::Resource(id) | Owner::Staff(id) => {
            names.get(&id).map_or("(deleted)", String::as_str)
        }
    };
    let severity = conflict.severity.as_str();
    let field = format!("note-{}", conflict.id);
    html! {
        section.card id=(format!("c-{}", conflict.id)) aria-labelledby=(format!("h-{}", conflict.id)) {
            div.conn-head {
                h2 id=(format!("h-{}", conflict.id)) {
                    (owner) ": " (console.span(conflict.start, conflict.end))
                }
                span.badge.(severity) { (severity) @if conflict.severity == Severity::High { " (double booking)" } }
            }
            ul {
                @for item in &conflict.items {
                    li { strong { (source_name(item.kind.as_str())) } ": " (item.label) }
                }
            }
            p { (conflict.suggestion) }
            p.meta { "Found " (when(console, conflict.detected_at)) }
            @if conflict.open {
                form.stack method="post" action=(format!("/dashboard/conflicts/{}/resolve", conflict.id)) {
                    (console.csrf_field())
                    label for=(field) { "Note (optional): what was done about it" }
                    textarea id=(field) name="note" rows="2" { (failed.map_or("", |(_, _, note)| note.as_str())) }
                    @if let Some((_, errors, _)) = failed { (field_error(errors, "note")) }
                    div.actions { button.primary type="submit" { "Resolve" } }
                }
            } @else {
                p.meta {
                    "Resolved " @if let Some(at) = conflict.resolved_at { (when(console, at)) }
                    @if conflict.resolution.as_deref() == Some("auto") { " (the items no longer overlap)" }
                }
                @if let Some(note) = &conflict.note { p { "Note: " (note) } }
            }
        }
    }
}

async fn resolve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { console, form }: Posted,
) -> Response {
    let id = match id_of(&id, "Conflict") {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let note = match input::note(form.get("note")) {
        Ok(note) => note,
        Err(errors) => {
            let typed = form.value("note").to_owned();
            let failed = Some((id, errors, typed));
            return render(&state, &console, &Filter::default(), None, failed).await;
        }
    };
    match conflicts::resolve(&state.store, console.tenant.id, id, note).await {
        Ok(_) | Err(StoreError::AlreadyResolved) => {
            done("/dashboard/conflicts", "conflict-resolved")
        }
        Err(e) => store_failure("Conflict", e),
    }
}
