//! `/api/v1/blocks`: manual unavailability of a resource or a staff member.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use kalends_core::domain::{Block, BookingSpan};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::ListOut;
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, ApiQuery, AuthTenant, PageQuery, parse_id};
use crate::input::blocks::{BlockFields, new_block};
use crate::input::fields::SpanForm;
use crate::state::AppState;
use kalends_service::blocks;

/// A block: exactly one of `resource_id` and `staff_id`, and either `start`/`end` or
/// `start_date`/`end_date` (exclusive end).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockIn {
    /// The unavailable resource.
    pub resource_id: Option<Uuid>,
    /// The unavailable staff member.
    pub staff_id: Option<Uuid>,
    /// Start (RFC 3339 with offset).
    pub start: Option<String>,
    /// End.
    pub end: Option<String>,
    /// First day.
    #[schema(format = Date)]
    pub start_date: Option<String>,
    /// The day after the last (exclusive).
    #[schema(format = Date)]
    pub end_date: Option<String>,
    /// Why; shown to staff.
    pub reason: Option<String>,
}

impl BlockIn {
    /// The body's fields, for the checks the console's form shares (`input::blocks`).
    fn fields(&self) -> BlockFields<'_> {
        BlockFields {
            resource_id: self.resource_id,
            staff_id: self.staff_id,
            span: SpanForm {
                start: self.start.as_deref(),
                end: self.end.as_deref(),
                start_date: self.start_date.as_deref(),
                end_date: self.end_date.as_deref(),
            },
            reason: self.reason.as_deref(),
        }
    }
}

/// A stored block.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BlockOut {
    /// Server id.
    pub id: Uuid,
    /// The unavailable resource.
    pub resource_id: Option<Uuid>,
    /// The unavailable staff member.
    pub staff_id: Option<Uuid>,
    /// Start (timed blocks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    /// End (timed blocks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
    /// First day (all-day blocks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<NaiveDate>,
    /// Exclusive end day (all-day blocks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<NaiveDate>,
    /// Why.
    pub reason: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl From<&Block> for BlockOut {
    fn from(b: &Block) -> Self {
        let mut out = BlockOut {
            id: b.id,
            resource_id: b.data.resource_id,
            staff_id: b.data.staff_id,
            start: None,
            end: None,
            start_date: None,
            end_date: None,
            reason: b.data.reason.clone(),
            created_at: b.created_at,
        };
        match b.data.span {
            BookingSpan::Timed { start, end, .. } => {
                (out.start, out.end) = (Some(start), Some(end))
            }
            BookingSpan::AllDay { start, end } => {
                (out.start_date, out.end_date) = (Some(start), Some(end))
            }
        }
        out
    }
}

/// `?resource_id=|staff_id=` of the block list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct BlockQuery {
    /// Only blocks of this resource.
    pub resource_id: Option<Uuid>,
    /// Only blocks of this staff member.
    pub staff_id: Option<Uuid>,
}

/// Add a block.
#[utoipa::path(post, path = "/api/v1/blocks", tag = "blocks", request_body = BlockIn,
    responses((status = 201, body = BlockOut), (status = 422, body = Problem)))]
async fn create_block(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    ApiJson(body): ApiJson<BlockIn>,
) -> Result<Response, ApiError> {
    let new = new_block(body.fields()).map_err(ApiError::invalid)?;
    let block = blocks::create(&state.store, &tenant, new).await?;
    Ok((StatusCode::CREATED, axum::Json(BlockOut::from(&block))).into_response())
}

/// List blocks, oldest first.
#[utoipa::path(get, path = "/api/v1/blocks", tag = "blocks", params(BlockQuery, PageQuery),
    responses((status = 200, body = ListOut<BlockOut>)))]
async fn list_blocks(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    ApiQuery(query): ApiQuery<BlockQuery>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<axum::Json<ListOut<BlockOut>>, ApiError> {
    let paging = page.checked()?;
    let page = state
        .store
        .list_blocks(tenant.id, query.resource_id, query.staff_id, paging.after, paging.limit)
        .await?;
    Ok(axum::Json(ListOut::from_page(&page, BlockOut::from)))
}

/// Remove a block.
#[utoipa::path(delete, path = "/api/v1/blocks/{id}", tag = "blocks",
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_block(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    blocks::delete(&state.store, &tenant, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_block, list_blocks)).routes(routes!(delete_block))
}
