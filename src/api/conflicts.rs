//! `/api/v1/conflicts`: double bookings, found after every booking change and every import.

use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use kalends_core::conflict_record::Conflict;
use kalends_core::conflicts::Severity;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::ListOut;
use super::conflict_item::ConflictItemOut;
use super::error::{ApiError, Problem};
use super::extract::{ApiQuery, AuthTenant, OptionalJson, PageQuery, parse_id};
use crate::input;
use crate::state::AppState;

/// Fills in the reservation details of the imported items among `items`, in one read.
pub(crate) async fn add_details(
    state: &AppState,
    tenant_id: Uuid,
    items: Vec<&mut ConflictItemOut>,
) -> Result<(), ApiError> {
    let imported: Vec<Uuid> = items.iter().filter(|i| i.kind == "feed").map(|i| i.id).collect();
    if imported.is_empty() {
        return Ok(());
    }
    let found = state.store.imported_details(tenant_id, &imported).await?;
    for item in items {
        if let Some((_, details)) = found.iter().find(|(id, _)| *id == item.id) {
            item.details = serde_json::to_value(details).ok();
        }
    }
    Ok(())
}

/// A conflict.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ConflictOut {
    /// Server id.
    pub id: Uuid,
    /// `overlap` (two busy items collide), `external_edit` (a staff member moved or deleted a
    /// booking's event by hand, left as is under `external_edit_policy: "accept"`) or `rule`
    /// (a booking breaks an availability rule of its resource or staff member).
    pub kind: String,
    /// For `kind: "rule"`: the rule the booking breaks (`min_nights`, `turnover_days`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The resource whose calendar it is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<Uuid>,
    /// The staff member whose calendar it is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staff_id: Option<Uuid>,
    /// Where the items overlap.
    pub start: DateTime<Utc>,
    /// Likewise.
    pub end: DateTime<Utc>,
    /// `high` (two sales of the same time), `medium` (against a block, a staff member's busy time
    /// in their connected calendar, or a tentative booking), `low` (back to back with no gap).
    #[schema(value_type = String)]
    pub severity: Severity,
    /// The items that collide.
    pub items: Vec<ConflictItemOut>,
    /// What to do about it.
    pub suggestion: String,
    /// `open` or `resolved`.
    pub status: String,
    /// Found.
    pub detected_at: DateTime<Utc>,
    /// Resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    /// `auto` (the items stopped overlapping) or `manual`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    /// The note given when it was resolved by hand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl From<&Conflict> for ConflictOut {
    fn from(c: &Conflict) -> Self {
        let (resource_id, staff_id) = c.owner.columns();
        ConflictOut {
            id: c.id,
            kind: c.kind.as_str().into(),
            rule: c.rule.map(|r| r.as_str().to_owned()),
            resource_id,
            staff_id,
            start: c.start,
            end: c.end,
            severity: c.severity,
            items: c.items.iter().map(ConflictItemOut::from).collect(),
            suggestion: c.suggestion.clone(),
            status: if c.open { "open" } else { "resolved" }.into(),
            detected_at: c.detected_at,
            resolved_at: c.resolved_at,
            resolution: c.resolution.clone(),
            note: c.note.clone(),
        }
    }
}

/// `?status=` of the list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ConflictQuery {
    /// `open` or `resolved`; both when absent.
    pub status: Option<String>,
}

/// How a person resolved a conflict.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveIn {
    /// Why it is fine, or what was done.
    pub note: Option<String>,
}

/// List conflicts, oldest first.
#[utoipa::path(get, path = "/api/v1/conflicts", tag = "conflicts", params(ConflictQuery, PageQuery),
    responses((status = 200, body = ListOut<ConflictOut>), (status = 422, body = Problem)))]
async fn list_conflicts(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    ApiQuery(query): ApiQuery<ConflictQuery>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<axum::Json<ListOut<ConflictOut>>, ApiError> {
    let open = match query.status.as_deref() {
        None => None,
        Some("open") => Some(true),
        Some("resolved") => Some(false),
        Some(_) => return Err(ApiError::invalid_field("status", "must be open or resolved")),
    };
    let paging = page.checked()?;
    let page = state.store.list_conflicts(tenant.id, open, paging.after, paging.limit).await?;
    let mut list = ListOut::from_page(&page, ConflictOut::from);
    let items = list.items.iter_mut().flat_map(|c| c.items.iter_mut()).collect();
    add_details(&state, tenant.id, items).await?;
    Ok(axum::Json(list))
}

/// One conflict.
#[utoipa::path(get, path = "/api/v1/conflicts/{id}", tag = "conflicts",
    responses((status = 200, body = ConflictOut), (status = 404, body = Problem)))]
async fn get_conflict(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<axum::Json<ConflictOut>, ApiError> {
    let conflict = state.store.conflict(tenant.id, parse_id(&id)?).await?;
    detailed(&state, tenant.id, &conflict).await
}

/// Mark a conflict resolved. It stays resolved while its items collide exactly as now; if they
/// move and still collide, a new conflict opens.
#[utoipa::path(post, path = "/api/v1/conflicts/{id}/resolve", tag = "conflicts",
    request_body = ResolveIn,
    responses((status = 200, body = ConflictOut), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn resolve_conflict(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<ResolveIn>,
) -> Result<axum::Json<ConflictOut>, ApiError> {
    let id = parse_id(&id)?;
    let note = input::note(body.note.as_deref()).map_err(ApiError::invalid)?;
    let conflict = kalends_service::conflicts::resolve(&state.store, tenant.id, id, note);
    let conflict = conflict.await?;
    detailed(&state, tenant.id, &conflict).await
}

/// A conflict's answer, with its imported reservations' details.
async fn detailed(
    state: &AppState,
    tenant_id: Uuid,
    conflict: &Conflict,
) -> Result<axum::Json<ConflictOut>, ApiError> {
    let mut out = ConflictOut::from(conflict);
    add_details(state, tenant_id, out.items.iter_mut().collect()).await?;
    Ok(axum::Json(out))
}

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_conflicts))
        .routes(routes!(get_conflict))
        .routes(routes!(resolve_conflict))
}
