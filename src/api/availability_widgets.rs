//! `/api/v1/availability-widgets`: public availability calendars of a resource for the
//! business's own website, and their secret URLs.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use kalends_core::tokens;
use kalends_service::widgets;
use kalends_store::AvailabilityWidget;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::ListOut;
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, ApiQuery, AuthTenant, PageQuery, parse_id};
use crate::state::AppState;

/// A calendar to publish.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityWidgetIn {
    /// The resource whose free and busy days it shows.
    pub resource_id: Uuid,
}

/// A published calendar with its secret addresses.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AvailabilityWidgetOut {
    /// Server id.
    pub id: Uuid,
    /// The resource it shows.
    pub resource_id: Uuid,
    /// The month view (HTML, for a frame in your website; `?month=YYYY-MM`). Anyone who has it
    /// sees the resource's free and busy days, nothing else; delete the widget if it must stop.
    pub url: String,
    /// The same days as JSON (`?from=&to=`, dates, at most 366 days), for your own scripts.
    pub json_url: String,
    /// A frame to paste into your website.
    pub embed_html: String,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl AvailabilityWidgetOut {
    fn new(widget: &AvailabilityWidget, state: &AppState) -> Self {
        let token = tokens::shown_token(&state.secret_key, &widget.token_hash, |key| {
            tokens::widget_token(key, widget.id, &widget.nonce)
        });
        let url = format!("{}/availability/{token}", state.config.public_base());
        AvailabilityWidgetOut {
            id: widget.id,
            resource_id: widget.resource_id,
            json_url: format!("{url}.json"),
            embed_html: format!(
                "<iframe src=\"{url}\" title=\"Availability calendar\" width=\"100%\" \
                 height=\"480\" loading=\"lazy\"></iframe>"
            ),
            url,
            created_at: widget.created_at,
        }
    }
}

/// Publish a resource's availability calendar.
#[utoipa::path(post, path = "/api/v1/availability-widgets", tag = "availability-widgets",
    request_body = AvailabilityWidgetIn,
    responses((status = 201, body = AvailabilityWidgetOut), (status = 422, body = Problem)))]
async fn create_widget(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    ApiJson(body): ApiJson<AvailabilityWidgetIn>,
) -> Result<Response, ApiError> {
    let widget =
        widgets::create(&state.store, &tenant, body.resource_id, &state.secret_key).await?;
    let out = AvailabilityWidgetOut::new(&widget, &state);
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}

/// List the published calendars with their addresses.
#[utoipa::path(get, path = "/api/v1/availability-widgets", tag = "availability-widgets",
    params(PageQuery), responses((status = 200, body = ListOut<AvailabilityWidgetOut>)))]
async fn list_widgets(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<axum::Json<ListOut<AvailabilityWidgetOut>>, ApiError> {
    let paging = page.checked()?;
    let page = state.store.list_widgets(tenant.id, paging.after, paging.limit).await?;
    Ok(axum::Json(ListOut::from_page(&page, |w| AvailabilityWidgetOut::new(w, &state))))
}

/// One published calendar.
#[utoipa::path(get, path = "/api/v1/availability-widgets/{id}", tag = "availability-widgets",
    responses((status = 200, body = AvailabilityWidgetOut), (status = 404, body = Problem)))]
async fn get_widget(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<axum::Json<AvailabilityWidgetOut>, ApiError> {
    let widget = state.store.widget(tenant.id, parse_id(&id)?).await?;
    Ok(axum::Json(AvailabilityWidgetOut::new(&widget, &state)))
}

/// Stop publishing a calendar: its addresses answer 404 from now on.
#[utoipa::path(delete, path = "/api/v1/availability-widgets/{id}", tag = "availability-widgets",
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_widget(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    widgets::delete(&state.store, tenant.id, id).await?;
    state.widget_cache.forget(|known| known.widget.id == id);
    Ok(StatusCode::NO_CONTENT)
}

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_widget, list_widgets))
        .routes(routes!(get_widget, delete_widget))
}
