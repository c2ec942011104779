//! `/api/v1/feeds`: exported .ics feeds, their secret URLs and how to subscribe to them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use kalends_core::domain::{Feed, FeedProfile, Owner, Platform};
use kalends_service::feeds;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::ListOut;
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, ApiQuery, AuthTenant, PageQuery, parse_id};
use crate::feed_guides::{Guide, guides, webcal_url};
use crate::input::feeds::{FeedFields, new_feed};
use crate::links::feed_url;
use crate::state::AppState;

/// A feed to publish.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedIn {
    /// `resource`, `staff` or `tenant`.
    pub scope: String,
    /// The resource or staff member (not for `tenant`).
    pub scope_id: Option<Uuid>,
    /// `busy` (no personal data; SUMMARY is the tenant's busy label) or `details`.
    pub profile: String,
    /// The calendar's name as subscribers see it.
    pub name: String,
    /// The platform that will subscribe (`airbnb`, `vrbo`, `booking_com`, `google`, `outlook`,
    /// `other`): events imported from that platform are left out of this feed, so the platform
    /// never sees its own bookings echoed back.
    pub platform: Option<String>,
    /// Whether tentative bookings appear (default true).
    pub include_tentative: Option<bool>,
}

/// A published feed with its secret address.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FeedOut {
    /// Server id.
    pub id: Uuid,
    /// `resource`, `staff` or `tenant`.
    pub scope: &'static str,
    /// The resource or staff member.
    pub scope_id: Option<Uuid>,
    /// `busy` or `details`.
    #[schema(value_type = String)]
    pub profile: FeedProfile,
    /// Calendar name.
    pub name: String,
    /// The subscribing platform, whose own events are left out.
    #[schema(value_type = Option<String>)]
    pub platform: Option<Platform>,
    /// Whether tentative bookings appear.
    pub include_tentative: bool,
    /// The secret address: anyone who has it can read the feed. Rotate it if it leaks.
    pub url: String,
    /// The same address for calendar apps (`webcal://`).
    pub webcal_url: String,
    /// How to subscribe on each platform.
    pub instructions: Vec<Guide>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Settings or address last changed.
    pub updated_at: DateTime<Utc>,
}

impl FeedOut {
    fn new(feed: &Feed, state: &AppState) -> Self {
        let url = feed_url(state, feed);
        let (scope_id, platform) = (
            feed.data.scope.owner().map(|o| match o {
                Owner::Resource(id) | Owner::Staff(id) => id,
            }),
            feed.data.platform,
        );
        FeedOut {
            id: feed.id,
            scope: feed.data.scope.kind(),
            scope_id,
            profile: feed.data.profile,
            name: feed.data.name.clone(),
            platform,
            include_tentative: feed.data.include_tentative,
            webcal_url: webcal_url(&url),
            instructions: guides(&url),
            url,
            created_at: feed.created_at,
            updated_at: feed.updated_at,
        }
    }
}

impl FeedIn {
    /// The body's fields, for the checks the console's form shares (`input::feeds`).
    fn fields(&self) -> FeedFields<'_> {
        FeedFields {
            scope: &self.scope,
            scope_id: self.scope_id,
            profile: &self.profile,
            name: &self.name,
            platform: self.platform.as_deref(),
            include_tentative: self.include_tentative,
        }
    }
}

/// Publish a feed.
#[utoipa::path(post, path = "/api/v1/feeds", tag = "feeds", request_body = FeedIn,
    responses((status = 201, body = FeedOut), (status = 422, body = Problem)))]
async fn create_feed(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    ApiJson(body): ApiJson<FeedIn>,
) -> Result<Response, ApiError> {
    let new = new_feed(body.fields()).map_err(ApiError::invalid)?;
    let feed = feeds::create(&state.store, &tenant, new, &state.secret_key).await?;
    Ok((StatusCode::CREATED, axum::Json(FeedOut::new(&feed, &state))).into_response())
}

/// List feeds with their addresses and instructions.
#[utoipa::path(get, path = "/api/v1/feeds", tag = "feeds", params(PageQuery),
    responses((status = 200, body = ListOut<FeedOut>)))]
async fn list_feeds(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<axum::Json<ListOut<FeedOut>>, ApiError> {
    let paging = page.checked()?;
    let page = state.store.list_feeds(tenant.id, paging.after, paging.limit).await?;
    Ok(axum::Json(ListOut::from_page(&page, |f| FeedOut::new(f, &state))))
}

/// One feed.
#[utoipa::path(get, path = "/api/v1/feeds/{id}", tag = "feeds",
    responses((status = 200, body = FeedOut), (status = 404, body = Problem)))]
async fn get_feed(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<axum::Json<FeedOut>, ApiError> {
    let feed = state.store.feed(tenant.id, parse_id(&id)?).await?;
    Ok(axum::Json(FeedOut::new(&feed, &state)))
}

/// Give a feed a new address; the old one answers 404 from now on.
#[utoipa::path(post, path = "/api/v1/feeds/{id}/rotate", tag = "feeds",
    responses((status = 200, body = FeedOut), (status = 404, body = Problem)))]
async fn rotate_feed(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<axum::Json<FeedOut>, ApiError> {
    let feed = feeds::rotate(&state.store, tenant.id, parse_id(&id)?, &state.secret_key).await?;
    state.feed_cache.forget(feed.id);
    Ok(axum::Json(FeedOut::new(&feed, &state)))
}

/// Delete a feed.
#[utoipa::path(delete, path = "/api/v1/feeds/{id}", tag = "feeds",
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_feed(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    feeds::delete(&state.store, tenant.id, id).await?;
    state.feed_cache.forget(id);
    Ok(StatusCode::NO_CONTENT)
}

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_feed, list_feeds))
        .routes(routes!(get_feed, delete_feed))
        .routes(routes!(rotate_feed))
}
