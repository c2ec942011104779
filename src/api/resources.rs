//! `/api/v1/resources`: the bookable things (a property, a room, a rental item).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use kalends_core::domain::{NewResource, Resource};
use kalends_service::directory::{self, Saved};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::ListOut;
use super::error::{ApiError, Problem};
use super::extract::{
    ApiJson, ApiQuery, AuthTenant, PageQuery, nullable, parse_id, path_external_id,
};
use crate::input::resources::{ResourceFields, new_resource};
use crate::state::AppState;

/// A resource as the host sends it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceIn {
    /// The host's own id, unique per tenant.
    pub external_id: Option<String>,
    /// Display name.
    pub name: String,
    /// IANA zone (all-day bookings are read in it); default the tenant's.
    pub time_zone: Option<String>,
    /// The whole property this resource is part of (a room of a house rented whole or by its
    /// rooms): a booking of either closes the other. One level only: the parent has no parent,
    /// and a resource with rooms cannot have one.
    #[serde(default)]
    pub parent_id: Option<Uuid>,
}

impl ResourceIn {
    fn into_new(self) -> Result<NewResource, ApiError> {
        new_resource(ResourceFields {
            external_id: self.external_id.as_deref(),
            name: &self.name,
            time_zone: self.time_zone.as_deref(),
            parent_id: self.parent_id,
        })
        .map_err(ApiError::invalid)
    }
}

/// A partial update; `null` clears an optional field.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourcePatch {
    /// The host's own id.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub external_id: Option<Option<String>>,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// IANA zone.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub time_zone: Option<Option<String>>,
    /// The whole property it is part of; `null` detaches it.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Uuid>)]
    pub parent_id: Option<Option<Uuid>>,
}

/// A stored resource.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ResourceOut {
    /// Server id.
    pub id: Uuid,
    /// The host's own id.
    pub external_id: Option<String>,
    /// Display name.
    pub name: String,
    /// IANA zone.
    pub time_zone: Option<String>,
    /// The whole property it is part of, if any.
    pub parent_id: Option<Uuid>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<&Resource> for ResourceOut {
    fn from(r: &Resource) -> Self {
        ResourceOut {
            id: r.id,
            external_id: r.data.external_id.clone(),
            name: r.data.name.clone(),
            time_zone: r.data.time_zone.map(String::from),
            parent_id: r.data.parent_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Add a resource.
#[utoipa::path(post, path = "/api/v1/resources", tag = "resources", request_body = ResourceIn,
    responses((status = 201, body = ResourceOut), (status = 422, body = Problem)))]
async fn create_resource(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    ApiJson(body): ApiJson<ResourceIn>,
) -> Result<Response, ApiError> {
    let resource = directory::create_resource(&state.store, tenant.id, body.into_new()?).await?;
    Ok((StatusCode::CREATED, axum::Json(ResourceOut::from(&resource))).into_response())
}

/// List resources, oldest first.
#[utoipa::path(get, path = "/api/v1/resources", tag = "resources", params(PageQuery),
    responses((status = 200, body = ListOut<ResourceOut>)))]
async fn list_resources(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<axum::Json<ListOut<ResourceOut>>, ApiError> {
    let paging = page.checked()?;
    let page = state.store.list_resources(tenant.id, paging.after, paging.limit).await?;
    Ok(axum::Json(ListOut::from_page(&page, ResourceOut::from)))
}

/// One resource.
#[utoipa::path(get, path = "/api/v1/resources/{id}", tag = "resources",
    responses((status = 200, body = ResourceOut), (status = 404, body = Problem)))]
async fn get_resource(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<axum::Json<ResourceOut>, ApiError> {
    Ok(axum::Json(ResourceOut::from(&state.store.resource(tenant.id, parse_id(&id)?).await?)))
}

/// Change some fields of a resource.
#[utoipa::path(patch, path = "/api/v1/resources/{id}", tag = "resources", request_body = ResourcePatch,
    responses((status = 200, body = ResourceOut), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn patch_resource(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<ResourcePatch>,
) -> Result<axum::Json<ResourceOut>, ApiError> {
    let id = parse_id(&id)?;
    let current = ResourceOut::from(&state.store.resource(tenant.id, id).await?);
    let draft = ResourceIn {
        external_id: patch.external_id.unwrap_or(current.external_id),
        name: patch.name.unwrap_or(current.name),
        time_zone: patch.time_zone.unwrap_or(current.time_zone),
        parent_id: patch.parent_id.unwrap_or(current.parent_id),
    };
    let new = draft.into_new()?;
    let resource = directory::update_resource(&state.store, tenant.id, id, new).await?;
    Ok(axum::Json(ResourceOut::from(&resource)))
}

/// Remove a resource no booking refers to and with no rooms (409 otherwise).
#[utoipa::path(delete, path = "/api/v1/resources/{id}", tag = "resources",
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_resource(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    directory::delete_resource(&state.store, tenant.id, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create or replace the resource with this external id: 201 when new, 200 otherwise.
#[utoipa::path(put, path = "/api/v1/resources/by-external-id/{external_id}", tag = "resources", request_body = ResourceIn,
    responses((status = 201, body = ResourceOut), (status = 200, body = ResourceOut), (status = 422, body = Problem)))]
async fn upsert_resource(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(external_id): Path<String>,
    ApiJson(mut body): ApiJson<ResourceIn>,
) -> Result<Response, ApiError> {
    let external_id = path_external_id(&external_id, body.external_id.as_deref())?;
    body.external_id = Some(external_id.clone());
    let new = body.into_new()?;
    let saved = directory::save_resource_by_external_id(&state.store, tenant.id, &external_id, new);
    let (status, resource) = match saved.await? {
        Saved::Created(resource) => (StatusCode::CREATED, resource),
        Saved::Kept(resource) => (StatusCode::OK, resource),
    };
    Ok((status, axum::Json(ResourceOut::from(&resource))).into_response())
}

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_resource, list_resources))
        .routes(routes!(get_resource, patch_resource, delete_resource))
        .routes(routes!(upsert_resource))
}
