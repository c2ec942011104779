//! Blocks: manual unavailability of a property (holidays, maintenance), added and removed here
//! with the API's checks (`input::blocks`).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use kalends_core::domain::{Block, BookingSpan, Resource};
use kalends_core::words;
use kalends_service::blocks;
use maud::{Markup, html};
use uuid::Uuid;

use super::{
    Console, Form, Posted, Section, done, field_error, id_of, internal, invalid, notice,
    other_errors, page_with_status, query, store_failure,
};
use crate::input::FieldError;
use crate::input::blocks::{BlockFields, new_block};
use crate::input::fields::SpanForm;
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard/blocks", get(show).post(add))
        .route("/dashboard/blocks/{id}/delete", post(delete))
}

async fn show(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    // Nights picked on the timeline arrive as the form's values.
    let picked = ["start_date", "end_date"]
        .into_iter()
        .filter_map(|field| Some((field.to_owned(), query(&q, field)?.to_owned())))
        .collect();
    let typed = Form(picked);
    render(&state, &console, &typed, Vec::new(), query(&q, "notice"), query(&q, "resource_id"))
        .await
}

async fn render(
    state: &AppState,
    console: &Console,
    typed: &Form,
    errors: Vec<FieldError>,
    notice_code: Option<&str>,
    preselect: Option<&str>,
) -> Response {
    let listed = async {
        state.store.list_blocks(console.tenant.id, None, None, None, 500).await.map_err(internal)
    };
    let (resources, listed) = match tokio::try_join!(console.resources(state), listed) {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    let selected = typed.get("resource_id").or(preselect);
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let body = html! {
        h1 { "Blocks" }
        (notice(notice_code))
        section.card aria-labelledby="add-title" {
            h2 #add-title { "Block dates" }
            (other_errors(&errors, &["resource_id", "start_date", "end_date", "reason"]))
            form.stack method="post" action="/dashboard/blocks" {
                (console.csrf_field())
                label for="resource_id" { "Property" }
                select #resource_id name="resource_id" aria-invalid=(invalid(&errors, "resource_id")) {
                    @for r in &resources {
                        option value=(r.id) selected[selected == Some(r.id.to_string().as_str())] { (r.data.name) }
                    }
                }
                (field_error(&errors, "resource_id"))
                label for="start_date" { "First night" }
                input #start_date name="start_date" type="date" required value=(typed.value("start_date"))
                    aria-invalid=(invalid(&errors, "start_date")) aria-describedby="start_date-error";
                (field_error(&errors, "start_date"))
                label for="end_date" { "Until (the day it is free again)" }
                input #end_date name="end_date" type="date" required value=(typed.value("end_date"))
                    aria-invalid=(invalid(&errors, "end_date")) aria-describedby="end_date-error";
                (field_error(&errors, "end_date"))
                label for="reason" { "Reason" }
                input #reason name="reason" type="text" placeholder="Maintenance" value=(typed.value("reason"))
                    aria-invalid=(invalid(&errors, "reason"));
                (field_error(&errors, "reason"))
                div.actions { button.primary type="submit" { "Add block" } }
            }
        }
        section.card aria-labelledby="list-title" {
            h2 #list-title { "Current blocks" }
            (block_list(console, &listed.items, &resources))
        }
    };
    page_with_status(status, console, Section::Blocks, "Blocks", body)
}

fn block_list(console: &Console, blocks: &[Block], resources: &[Resource]) -> Markup {
    let name = |id: Option<Uuid>| {
        id.and_then(|id| resources.iter().find(|r| r.id == id))
            .map_or("(a staff member)", |r| r.data.name.as_str())
    };
    html! {
        @if blocks.is_empty() { p.empty { "No blocks." } } @else {
            table.list {
                thead { tr { th scope="col" { "Property" } th scope="col" { "Dates" } th scope="col" { "Reason" } th scope="col" { span.visually-hidden { "Actions" } } } }
                tbody {
                    @for block in blocks {
                        tr {
                            td { (name(block.data.resource_id)) }
                            td { (dates(console, &block.data.span)) }
                            td { (block.data.reason.as_deref().unwrap_or("")) }
                            td {
                                form.inline method="post" action=(format!("/dashboard/blocks/{}/delete", block.id)) {
                                    (console.csrf_field()) button.danger type="submit" { "Remove" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn dates(console: &Console, span: &BookingSpan) -> String {
    match *span {
        BookingSpan::AllDay { start, end } => words::nights(start, end, console.today()),
        BookingSpan::Timed { start, end, zone } => {
            words::span(start, end, zone.tz(), console.today())
        }
    }
}

/// `POST /dashboard/blocks`: the API's block, checked the API's way; errors in place.
async fn add(State(state): State<AppState>, Posted { console, form }: Posted) -> Response {
    let resource_id = match form.get("resource_id").map(str::parse::<Uuid>) {
        Some(Ok(id)) => Some(id),
        _ => {
            let error =
                FieldError { field: "resource_id".into(), message: "choose a property".into() };
            return render(&state, &console, &form, vec![error], None, None).await;
        }
    };
    let fields = BlockFields {
        resource_id,
        span: SpanForm {
            start_date: form.trimmed("start_date"),
            end_date: form.trimmed("end_date"),
            ..SpanForm::default()
        },
        reason: form.trimmed("reason"),
        ..BlockFields::default()
    };
    let new = match new_block(fields) {
        Ok(new) => new,
        Err(errors) => return render(&state, &console, &form, errors, None, None).await,
    };
    match blocks::create(&state.store, &console.tenant, new).await {
        Ok(_) => done("/dashboard/blocks", "block-added"),
        Err(kalends_store::StoreError::Invalid { field, message }) => {
            render(&state, &console, &form, vec![FieldError { field, message }], None, None).await
        }
        Err(e) => store_failure("Property", e),
    }
}

async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { console, .. }: Posted,
) -> Response {
    let id = match id_of(&id, "Block") {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    match blocks::delete(&state.store, &console.tenant, id).await {
        Ok(()) => done("/dashboard/blocks", "block-deleted"),
        Err(e) => store_failure("Block", e),
    }
}
