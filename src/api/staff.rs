//! `/api/v1/staff`: the people whose calendars Kalends fills.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use kalends_core::domain::{NewStaff, Staff};
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
use crate::input::fields::Checker;
use crate::links;
use crate::state::AppState;

/// A staff member as the host sends it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffIn {
    /// The host's own id, unique per tenant.
    pub external_id: Option<String>,
    /// Display name.
    pub name: String,
    /// Where settings links and notices go.
    pub email: Option<String>,
    /// IANA zone; default the tenant's.
    pub time_zone: Option<String>,
}

impl StaffIn {
    fn into_new(self) -> Result<NewStaff, ApiError> {
        let mut c = Checker::default();
        let new = NewStaff {
            external_id: self.external_id.as_deref().map(|e| c.external_id("external_id", e)),
            name: c.text("name", &self.name, 300),
            email: self.email.as_deref().and_then(|e| c.email("email", e)),
            time_zone: self.time_zone.as_deref().and_then(|z| c.zone("time_zone", z)),
        };
        c.finish(|| new).map_err(ApiError::invalid)
    }
}

/// A partial update; `null` clears an optional field.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffPatch {
    /// The host's own id.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub external_id: Option<Option<String>>,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Email.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    /// IANA zone.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub time_zone: Option<Option<String>>,
}

/// A stored staff member.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StaffOut {
    /// Server id.
    pub id: Uuid,
    /// The host's own id.
    pub external_id: Option<String>,
    /// Display name.
    pub name: String,
    /// Email.
    pub email: Option<String>,
    /// IANA zone.
    pub time_zone: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<&Staff> for StaffOut {
    fn from(s: &Staff) -> Self {
        StaffOut {
            id: s.id,
            external_id: s.data.external_id.clone(),
            name: s.data.name.clone(),
            email: s.data.email.as_ref().map(|e| e.as_str().to_owned()),
            time_zone: s.data.time_zone.map(String::from),
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

impl From<&Staff> for StaffIn {
    fn from(s: &Staff) -> Self {
        let out = StaffOut::from(s);
        StaffIn {
            external_id: out.external_id,
            name: out.name,
            email: out.email,
            time_zone: out.time_zone,
        }
    }
}

/// Add a staff member.
#[utoipa::path(post, path = "/api/v1/staff", tag = "staff", request_body = StaffIn,
    responses((status = 201, body = StaffOut), (status = 422, body = Problem)))]
async fn create_staff(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    ApiJson(body): ApiJson<StaffIn>,
) -> Result<Response, ApiError> {
    let staff = directory::create_staff(&state.store, tenant.id, body.into_new()?).await?;
    Ok((StatusCode::CREATED, axum::Json(StaffOut::from(&staff))).into_response())
}

/// List staff, oldest first.
#[utoipa::path(get, path = "/api/v1/staff", tag = "staff", params(PageQuery),
    responses((status = 200, body = ListOut<StaffOut>)))]
async fn list_staff(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<axum::Json<ListOut<StaffOut>>, ApiError> {
    let paging = page.checked()?;
    let page = state.store.list_staff(tenant.id, paging.after, paging.limit).await?;
    Ok(axum::Json(ListOut::from_page(&page, StaffOut::from)))
}

/// One staff member.
#[utoipa::path(get, path = "/api/v1/staff/{id}", tag = "staff",
    responses((status = 200, body = StaffOut), (status = 404, body = Problem)))]
async fn get_staff(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<axum::Json<StaffOut>, ApiError> {
    Ok(axum::Json(StaffOut::from(&state.store.staff(tenant.id, parse_id(&id)?).await?)))
}

/// Change some fields of a staff member.
#[utoipa::path(patch, path = "/api/v1/staff/{id}", tag = "staff", request_body = StaffPatch,
    responses((status = 200, body = StaffOut), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn patch_staff(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<StaffPatch>,
) -> Result<axum::Json<StaffOut>, ApiError> {
    let id = parse_id(&id)?;
    let mut draft = StaffIn::from(&state.store.staff(tenant.id, id).await?);
    if let Some(v) = patch.external_id {
        draft.external_id = v;
    }
    if let Some(v) = patch.name {
        draft.name = v;
    }
    if let Some(v) = patch.email {
        draft.email = v;
    }
    if let Some(v) = patch.time_zone {
        draft.time_zone = v;
    }
    let staff = directory::update_staff(&state.store, tenant.id, id, draft.into_new()?).await?;
    Ok(axum::Json(StaffOut::from(&staff)))
}

/// Remove a staff member; their bookings are re-synced without them.
#[utoipa::path(delete, path = "/api/v1/staff/{id}", tag = "staff",
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_staff(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    directory::delete_staff(&state.store, tenant.id, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create or replace the staff member with this external id: 201 when new, 200 otherwise.
#[utoipa::path(put, path = "/api/v1/staff/by-external-id/{external_id}", tag = "staff", request_body = StaffIn,
    responses((status = 201, body = StaffOut), (status = 200, body = StaffOut), (status = 422, body = Problem)))]
async fn upsert_staff(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(external_id): Path<String>,
    ApiJson(mut body): ApiJson<StaffIn>,
) -> Result<Response, ApiError> {
    let external_id = path_external_id(&external_id, body.external_id.as_deref())?;
    body.external_id = Some(external_id.clone());
    let new = body.into_new()?;
    let saved = directory::save_staff_by_external_id(&state.store, tenant.id, &external_id, new);
    let (status, staff) = match saved.await? {
        Saved::Created(staff) => (StatusCode::CREATED, staff),
        Saved::Kept(staff) => (StatusCode::OK, staff),
    };
    Ok((status, axum::Json(StaffOut::from(&staff))).into_response())
}

/// A signed link to a staff member's settings page.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SettingsLinkOut {
    /// Open it in a browser: it signs the staff member in to `/settings`, once (a second
    /// opening is refused). Minting it ends the sessions the staff member's older links opened.
    pub url: String,
    /// When the link stops working (default 15 minutes).
    pub expires_at: DateTime<Utc>,
}

/// Mint a link to the staff member's calendar settings (connect Google or Microsoft).
#[utoipa::path(post, path = "/api/v1/staff/{id}/settings-link", tag = "staff",
    responses((status = 200, body = SettingsLinkOut), (status = 404, body = Problem)))]
async fn settings_link(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<axum::Json<SettingsLinkOut>, ApiError> {
    let staff = state.store.staff(tenant.id, parse_id(&id)?).await?;
    let link = links::settings_link(&state, tenant.id, staff.id).await?;
    Ok(axum::Json(SettingsLinkOut { url: link.url, expires_at: link.expires_at }))
}

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_staff, list_staff))
        .routes(routes!(get_staff, patch_staff, delete_staff))
        .routes(routes!(upsert_staff))
        .routes(routes!(settings_link))
}
