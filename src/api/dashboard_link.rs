//! `POST /api/v1/dashboard-link`: the host mints a one-time link to the tenant console for its
//! own admin screen.

use axum::extract::State;
use chrono::{DateTime, Utc};
use kalends_service::dashboard;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, Problem};
use super::extract::AuthTenant;
use crate::state::AppState;

/// A signed link to the tenant console.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DashboardLinkOut {
    /// Open it in a browser: it signs in to `/dashboard` and works once.
    pub url: String,
    /// When it stops working if nobody opened it (`dashboard.link_minutes`, default 15).
    pub expires_at: DateTime<Utc>,
}

/// Mint a one-time link to the tenant console.
#[utoipa::path(post, path = "/api/v1/dashboard-link", tag = "settings",
    responses((status = 200, body = DashboardLinkOut), (status = 401, body = Problem)))]
async fn dashboard_link(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
) -> Result<axum::Json<DashboardLinkOut>, ApiError> {
    let lifetime = chrono::Duration::minutes(i64::from(state.config.dashboard.link_minutes));
    let public = state.config.public_base();
    let link =
        dashboard::link(&state.store, &state.secret_key, public, tenant.id, lifetime).await?;
    Ok(axum::Json(DashboardLinkOut { url: link.url, expires_at: link.expires_at }))
}

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(dashboard_link))
}
