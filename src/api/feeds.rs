//! `/api/v1/feeds`: exported .ics feeds, their secret URLs and how to subscribe to them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use kalends_core::config::SecretKeys;
use kalends_core::domain::{Feed, FeedProfile, FeedScope, NewFeed, Owner, Platform};
use kalends_core::service::feeds;
use kalends_core::tokens;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::ListOut;
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, AuthTenant, PageQuery, parse_id};
use super::feed_guides::{Guide, guides, webcal_url};
use super::fields::Checker;
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

/// The feed's public URL (`{public_url}/ical/{token}.ics`).
pub fn feed_url(state: &AppState, feed: &Feed) -> String {
    let token = feed_url_token(feed, &state.secret_key);
    format!("{}/ical/{token}.ics", state.config.public_base())
}

/// The token of the feed's URL, as `tokens::shown_token` finds it among the configured keys
/// (rotating the feed gives it a new URL once none of them made it).
fn feed_url_token(feed: &Feed, keys: &SecretKeys) -> String {
    tokens::shown_token(keys, &feed.token_hash, |key| tokens::feed_token(key, feed.id, &feed.nonce))
}

/// The feed to publish, checked (the API and the console's form alike).
pub fn new_feed(body: FeedIn) -> Result<NewFeed, ApiError> {
    let mut c = Checker::default();
    let scope = match (body.scope.as_str(), body.scope_id) {
        ("tenant", None) => Some(FeedScope::Tenant),
        ("tenant", Some(_)) => {
            c.fail("scope_id", "a tenant feed covers everything: leave scope_id out");
            None
        }
        ("resource", Some(id)) => Some(FeedScope::Owner(Owner::Resource(id))),
        ("staff", Some(id)) => Some(FeedScope::Owner(Owner::Staff(id))),
        ("resource" | "staff", None) => {
            c.fail("scope_id", "required for a resource or staff feed");
            None
        }
        _ => {
            c.fail("scope", "must be resource, staff or tenant");
            None
        }
    };
    let profile = FeedProfile::parse(&body.profile);
    if profile.is_none() {
        c.fail("profile", "must be busy or details");
    }
    let platform = body.platform.as_deref().and_then(|p| {
        let parsed = Platform::parse(p);
        if parsed.is_none() {
            c.fail("platform", "must be airbnb, vrbo, booking_com, google, outlook or other");
        }
        parsed
    });
    let name = c.text("name", &body.name, 200);
    c.finish(|| NewFeed {
        scope: scope.expect("checked"),
        profile: profile.expect("checked"),
        name,
        platform,
        include_tentative: body.include_tentative.unwrap_or(true),
    })
    .map_err(ApiError::invalid)
}

/// Publish a feed.
#[utoipa::path(post, path = "/api/v1/feeds", tag = "feeds", request_body = FeedIn,
    responses((status = 201, body = FeedOut), (status = 422, body = Problem)))]
async fn create_feed(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    ApiJson(body): ApiJson<FeedIn>,
) -> Result<Response, ApiError> {
    let new = new_feed(body)?;
    let feed = feeds::create(&state.store, &tenant, new, &state.secret_key).await?;
    Ok((StatusCode::CREATED, axum::Json(FeedOut::new(&feed, &state))).into_response())
}

/// List feeds with their addresses and instructions.
#[utoipa::path(get, path = "/api/v1/feeds", tag = "feeds", params(PageQuery),
    responses((status = 200, body = ListOut<FeedOut>)))]
async fn list_feeds(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    axum::extract::Query(page): axum::extract::Query<PageQuery>,
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
