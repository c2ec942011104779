//! Properties: the tenant's resources, each house with its rooms (a combined property, rented
//! whole or by its rooms), added and edited here with the API's checks (`input::resources`, and
//! the store's one-level check of `parent_id`); errors in place.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use kalends_core::domain::{NewResource, Resource};
use kalends_service::directory;
use kalends_store::StoreError;
use maud::{Markup, html};
use uuid::Uuid;

use super::timeline::property_rows;
use super::{
    Console, Form, Posted, Section, done, field_error, id_of, invalid, notice, other_errors,
    page_with_status, query, store_failure,
};
use crate::input::FieldError;
use crate::input::resources::{ResourceFields, new_resource};
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard/properties", get(show).post(add))
        .route("/dashboard/properties/{id}", get(edit).post(save))
}

/// Which form a page shows: adding a property, or editing one.
#[derive(Clone, Copy)]
enum Editing<'a> {
    New,
    Existing(&'a Resource),
}

async fn show(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    render(&state, &console, Editing::New, &Form::default(), Vec::new(), query(&q, "notice")).await
}

async fn edit(State(state): State<AppState>, console: Console, Path(id): Path<String>) -> Response {
    let resource = match found(&state, &console, &id).await {
        Ok(resource) => resource,
        Err(refused) => return refused,
    };
    let parent_id = resource.data.parent_id.map(|p| p.to_string()).unwrap_or_default();
    let typed = Form(HashMap::from([
        ("name".to_owned(), resource.data.name.clone()),
        ("parent_id".to_owned(), parent_id),
    ]));
    render(&state, &console, Editing::Existing(&resource), &typed, Vec::new(), None).await
}

async fn found(state: &AppState, console: &Console, id: &str) -> Result<Resource, Response> {
    let id = id_of(id, "Property")?;
    let read = state.store.resource(console.tenant.id, id).await;
    read.map_err(|e| store_failure("Property", e))
}

async fn render(
    state: &AppState,
    console: &Console,
    editing: Editing<'_>,
    typed: &Form,
    errors: Vec<FieldError>,
    notice_code: Option<&str>,
) -> Response {
    let resources = match console.resources(state).await {
        Ok(resources) => resources,
        Err(refused) => return refused,
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let (title, action) = match editing {
        Editing::New => ("Add a property".to_owned(), "/dashboard/properties".to_owned()),
        Editing::Existing(r) => {
            (format!("Edit {}", r.data.name), format!("/dashboard/properties/{}", r.id))
        }
    };
    let body = html! {
        h1 { "Properties" }
        (notice(notice_code))
        section.card aria-labelledby="form-title" {
            h2 #form-title { (title) }
            (property_form(console, &action, editing, typed, &errors, &resources))
        }
        @if let Editing::New = editing {
            section.card aria-labelledby="list-title" {
                h2 #list-title { "Your properties" }
                (property_list(&resources, console))
            }
        }
    };
    page_with_status(status, console, Section::Overview, "Properties", body)
}

/// The form of a property: its name and the house it is a room of, if any (any property that
/// is not itself a room, but this one).
fn property_form(
    console: &Console,
    action: &str,
    editing: Editing<'_>,
    typed: &Form,
    errors: &[FieldError],
    resources: &[Resource],
) -> Markup {
    let this = match editing {
        Editing::Existing(r) => Some(r.id),
        Editing::New => None,
    };
    let houses = resources.iter().filter(|r| r.data.parent_id.is_none() && Some(r.id) != this);
    let chosen = typed.value("parent_id");
    html! {
        (other_errors(errors, &["name", "parent_id"]))
        form.stack method="post" action=(action) {
            (console.csrf_field())
            label for="name" { "Name" }
            input #name name="name" type="text" required value=(typed.value("name"))
                aria-invalid=(invalid(errors, "name")) aria-describedby="name-error";
            (field_error(errors, "name"))
            label for="parent_id" { "Part of (a house rented whole or by its rooms)" }
            select #parent_id name="parent_id" aria-invalid=(invalid(errors, "parent_id"))
                aria-describedby="parent_id-error" {
                option value="" selected[chosen.is_empty()] { "Nothing: a whole property" }
                @for house in houses {
                    @let id = house.id.to_string();
                    option value=(id) selected[chosen == id] { (house.data.name) }
                }
            }
            (field_error(errors, "parent_id"))
            div.actions { button.primary type="submit" { "Save" } }
        }
    }
}

/// Every property, each house followed by its rooms, with a link to edit it.
fn property_list(resources: &[Resource], console: &Console) -> Markup {
    let rows = property_rows(resources.to_vec(), console.tenant.settings.time_zone);
    html! {
        @if rows.is_empty() { p.empty { "No properties yet." } } @else {
            table.list {
                thead { tr { th scope="col" { "Property" } th scope="col" { "Part of" } th scope="col" { span.visually-hidden { "Actions" } } } }
                tbody {
                    @for row in &rows {
                        tr {
                            td { (row.name) }
                            td { (row.house.as_deref().unwrap_or("")) }
                            td { a href=(format!("/dashboard/properties/{}", row.owner.id())) { "Edit" span.visually-hidden { " " (row.name) } } }
                        }
                    }
                }
            }
        }
    }
}

/// The property a form describes, kept as typed: the errors of its fields when it is not one.
fn typed_property(form: &Form, keep: Option<&Resource>) -> Result<NewResource, Vec<FieldError>> {
    let parent_id = match form.trimmed("parent_id").map(str::parse::<Uuid>) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => return Err(vec![FieldError::new("parent_id", "choose a property")]),
    };
    let data = keep.map(|r| &r.data);
    new_resource(ResourceFields {
        external_id: data.and_then(|d| d.external_id.as_deref()),
        name: form.value("name"),
        time_zone: data.and_then(|d| d.time_zone).as_ref().map(|z| z.tz().name()),
        parent_id,
    })
}

/// `POST /dashboard/properties`: a new property.
async fn add(State(state): State<AppState>, Posted { console, form }: Posted) -> Response {
    let saved = match typed_property(&form, None) {
        Ok(new) => directory::create_resource(&state.store, console.tenant.id, new).await,
        Err(errors) => return render(&state, &console, Editing::New, &form, errors, None).await,
    };
    answer(&state, &console, Editing::New, &form, saved).await
}

/// `POST /dashboard/properties/{id}`: a property's new name or house.
async fn save(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { console, form }: Posted,
) -> Response {
    let resource = match found(&state, &console, &id).await {
        Ok(resource) => resource,
        Err(refused) => return refused,
    };
    let editing = Editing::Existing(&resource);
    let saved = match typed_property(&form, Some(&resource)) {
        Ok(new) => directory::update_resource(&state.store, console.tenant.id, resource.id, new),
        Err(errors) => return render(&state, &console, editing, &form, errors, None).await,
    };
    answer(&state, &console, editing, &form, saved.await).await
}

/// A saved property's redirect, or the form again with the store's field error in place.
async fn answer(
    state: &AppState,
    console: &Console,
    editing: Editing<'_>,
    form: &Form,
    saved: Result<Resource, StoreError>,
) -> Response {
    match saved {
        Ok(_) => done("/dashboard/properties", "property-saved"),
        Err(StoreError::Invalid { field, message }) => {
            let errors = vec![FieldError { field, message }];
            render(state, console, editing, form, errors, None).await
        }
        Err(e) => store_failure("Property", e),
    }
}
