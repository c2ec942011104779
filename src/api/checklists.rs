//! `/api/v1/resources/{id}/listings` and `/api/v1/checklist-items`: where a resource is listed,
//! and what its `manual` listings must be told by hand.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use kalends_core::checklists::{ItemStatus, ListingPlatform};
use kalends_service::checklists;
use kalends_store::{ChecklistItem, ItemFilter, Listing, Mark};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::ListOut;
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, ApiQuery, AuthTenant, OptionalJson, PageQuery, parse_id};
use crate::input::checklists::{ListingFields, listing, platform_message};
use crate::input::{self, FieldError};
use crate::state::AppState;

/// Who marks items through the API.
const API_ACTOR: &str = "api";

/// A listing: all fields for `POST`, any for `PATCH`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListingIn {
    /// `booking_com`, `makemytrip`, `goibibo`, `agoda`, `expedia`, `airbnb`, `vrbo` or `other`.
    pub platform: Option<String>,
    /// `manual` (kept in step by hand, from checklists) or `ical`.
    pub mode: Option<String>,
    /// The platform's own room name or id.
    pub room: Option<String>,
    /// Notes.
    pub notes: Option<String>,
}

impl ListingIn {
    /// The body's fields, for the checks the console's form shares (`input::checklists`).
    fn fields(&self) -> ListingFields<'_> {
        ListingFields {
            platform: self.platform.as_deref(),
            mode: self.mode.as_deref(),
            room: self.room.as_deref(),
            notes: self.notes.as_deref(),
        }
    }
}

/// A stored listing.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ListingOut {
    /// Server id.
    pub id: Uuid,
    /// The resource listed.
    pub resource_id: Uuid,
    /// The platform.
    pub platform: String,
    /// `manual` or `ical`.
    pub mode: String,
    /// The platform's room name or id.
    pub room: Option<String>,
    /// Notes.
    pub notes: Option<String>,
}

impl From<&Listing> for ListingOut {
    fn from(l: &Listing) -> Self {
        ListingOut {
            id: l.id,
            resource_id: l.resource_id,
            platform: l.data.platform.as_str().into(),
            mode: l.data.mode.as_str().into(),
            room: l.data.room.clone(),
            notes: l.data.notes.clone(),
        }
    }
}

/// A checklist item (also the `data` of `checklist_item.created` and `checklist_item.overdue`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ChecklistItemOut {
    /// Server id.
    pub id: Uuid,
    /// The listing to change.
    pub listing_id: Uuid,
    /// Its resource.
    pub resource_id: Uuid,
    /// Its platform.
    pub platform: String,
    /// `close`, `open` or `verify` (check the platform reopened the nights by itself).
    pub action: String,
    /// First night.
    pub start_date: NaiveDate,
    /// Check-out day (exclusive: the last night is the day before).
    pub end_date: NaiveDate,
    /// The booking that asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking_id: Option<Uuid>,
    /// What changed: `booking_saved`, `booking_cancelled`, `block_added`, `block_removed`,
    /// `feed_import`, `feed_removed`, `listing_added`, `listing_changed`, `checklist_marked`,
    /// `family_changed` (a room joined or left its property).
    pub trigger: String,
    /// When it should be done by.
    pub due_at: DateTime<Utc>,
    /// `pending`, `done`, `skipped` or `superseded`.
    pub status: String,
    /// When it was done or skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done_at: Option<DateTime<Utc>>,
    /// Who did or skipped it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done_by: Option<String>,
    /// The note (a skip's reason).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The nights in words: "close 3 nights, 12–15 Mar (the 12th, 13th and 14th); check-out on
    /// the 15th".
    pub text: String,
}

impl From<&ChecklistItem> for ChecklistItemOut {
    fn from(i: &ChecklistItem) -> Self {
        ChecklistItemOut {
            id: i.id,
            listing_id: i.listing_id,
            resource_id: i.resource_id,
            platform: i.platform.as_str().into(),
            action: i.action.as_str().into(),
            start_date: i.start_date,
            end_date: i.end_date,
            booking_id: i.booking_id,
            trigger: i.trigger.clone(),
            due_at: i.due_at,
            status: i.status.as_str().into(),
            done_at: i.done_at,
            done_by: i.done_by.clone(),
            note: i.note.clone(),
            text: i.text.clone(),
        }
    }
}

/// `?status=&platform=&resource_id=` of the item list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ItemQuery {
    /// `pending`, `done`, `skipped` or `superseded`; all when absent.
    pub status: Option<String>,
    /// Only items of this platform.
    pub platform: Option<String>,
    /// Only items of this resource.
    pub resource_id: Option<String>,
}

impl ItemQuery {
    fn checked(&self, errors: &mut Vec<FieldError>) -> ItemFilter {
        let mut filter = ItemFilter::default();
        if let Some(s) = self.status.as_deref().filter(|s| !s.is_empty()) {
            filter.status = ItemStatus::parse(s);
            if filter.status.is_none() {
                let message = "must be pending, done, skipped or superseded";
                errors.push(FieldError::new("status", message));
            }
        }
        if let Some(p) = self.platform.as_deref().filter(|s| !s.is_empty()) {
            filter.platform = ListingPlatform::parse(p);
            if filter.platform.is_none() {
                errors.push(FieldError::new("platform", platform_message()));
            }
        }
        if let Some(r) = self.resource_id.as_deref().filter(|s| !s.is_empty()) {
            filter.resource_id = Uuid::parse_str(r).ok();
            if filter.resource_id.is_none() {
                errors.push(FieldError::new("resource_id", "is not an id"));
            }
        }
        filter
    }
}

/// A status change's note.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkIn {
    /// What was done, or why it was skipped.
    pub note: Option<String>,
}

/// List a resource's listings.
#[utoipa::path(get, path = "/api/v1/resources/{id}/listings", tag = "checklists",
    responses((status = 200, body = ListOut<ListingOut>), (status = 404, body = Problem)))]
async fn list_listings(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<axum::Json<ListOut<ListingOut>>, ApiError> {
    let resource_id = parse_id(&id)?;
    state.store.resource(tenant.id, resource_id).await?;
    let listings = state.store.listings(tenant.id, Some(resource_id)).await?;
    let items = listings.iter().map(ListingOut::from).collect();
    Ok(axum::Json(ListOut { items, next_cursor: None }))
}

/// List a resource on a platform. A `manual` listing gets checklist items for every busy night
/// from today on.
#[utoipa::path(post, path = "/api/v1/resources/{id}/listings", tag = "checklists",
    request_body = ListingIn,
    responses((status = 201, body = ListingOut), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn create_listing(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ListingIn>,
) -> Result<Response, ApiError> {
    let resource_id = parse_id(&id)?;
    let new = listing(body.fields(), None).map_err(ApiError::invalid)?;
    let listing = checklists::create_listing(&state.store, &tenant, resource_id, &new).await?;
    Ok((StatusCode::CREATED, axum::Json(ListingOut::from(&listing))).into_response())
}

/// Change a listing (only the fields given).
#[utoipa::path(patch, path = "/api/v1/resources/{id}/listings/{listing_id}", tag = "checklists",
    request_body = ListingIn,
    responses((status = 200, body = ListingOut), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_listing(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path((id, listing_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ListingIn>,
) -> Result<axum::Json<ListingOut>, ApiError> {
    let (resource_id, listing_id) = (parse_id(&id)?, parse_id(&listing_id)?);
    let current = state.store.listing(tenant.id, resource_id, listing_id).await?;
    let new = listing(body.fields(), Some(&current.data)).map_err(ApiError::invalid)?;
    let listing =
        checklists::update_listing(&state.store, &tenant, resource_id, listing_id, &new).await?;
    Ok(axum::Json(ListingOut::from(&listing)))
}

/// Remove a listing and its checklist.
#[utoipa::path(delete, path = "/api/v1/resources/{id}/listings/{listing_id}", tag = "checklists",
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_listing(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path((id, listing_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (resource_id, listing_id) = (parse_id(&id)?, parse_id(&listing_id)?);
    checklists::delete_listing(&state.store, &tenant, resource_id, listing_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List checklist items, newest first.
#[utoipa::path(get, path = "/api/v1/checklist-items", tag = "checklists",
    params(ItemQuery, PageQuery),
    responses((status = 200, body = ListOut<ChecklistItemOut>), (status = 422, body = Problem)))]
async fn list_items(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    ApiQuery(query): ApiQuery<ItemQuery>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<axum::Json<ListOut<ChecklistItemOut>>, ApiError> {
    let mut errors = Vec::new();
    let filter = query.checked(&mut errors);
    let paging = page.paging(&mut errors);
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let page =
        state.store.list_checklist_items(tenant.id, filter, paging.after, paging.limit).await?;
    Ok(axum::Json(ListOut::from_page(&page, ChecklistItemOut::from)))
}

async fn mark_item(
    state: &AppState,
    tenant: &kalends_core::domain::Tenant,
    id: &str,
    mark: Mark,
    body: MarkIn,
) -> Result<axum::Json<ChecklistItemOut>, ApiError> {
    let id = parse_id(id)?;
    let note = input::note(body.note.as_deref()).map_err(ApiError::invalid)?;
    let item = checklists::mark(&state.store, tenant, id, mark, API_ACTOR, note.as_deref()).await?;
    Ok(axum::Json(ChecklistItemOut::from(&item)))
}

/// Mark an item done on the platform: a pending one, or one superseded since (done before the
/// change that replaced it; the nights it closed are then asked to be opened).
#[utoipa::path(post, path = "/api/v1/checklist-items/{id}/done", tag = "checklists",
    request_body = MarkIn,
    responses((status = 200, body = ChecklistItemOut), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn done_item(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<MarkIn>,
) -> Result<axum::Json<ChecklistItemOut>, ApiError> {
    mark_item(&state, &tenant, &id, Mark::Done, body).await
}

/// Skip a pending item (give the reason as `note`).
#[utoipa::path(post, path = "/api/v1/checklist-items/{id}/skip", tag = "checklists",
    request_body = MarkIn,
    responses((status = 200, body = ChecklistItemOut), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn skip_item(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<MarkIn>,
) -> Result<axum::Json<ChecklistItemOut>, ApiError> {
    mark_item(&state, &tenant, &id, Mark::Skip, body).await
}

/// Make a done or skipped item pending again (reminded of again from its due time).
#[utoipa::path(post, path = "/api/v1/checklist-items/{id}/reopen", tag = "checklists",
    request_body = MarkIn,
    responses((status = 200, body = ChecklistItemOut), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn reopen_item(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<MarkIn>,
) -> Result<axum::Json<ChecklistItemOut>, ApiError> {
    mark_item(&state, &tenant, &id, Mark::Reopen, body).await
}

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_listings, create_listing))
        .routes(routes!(update_listing, delete_listing))
        .routes(routes!(list_items))
        .routes(routes!(done_item))
        .routes(routes!(skip_item))
        .routes(routes!(reopen_item))
}
