//! The JSON API under `/api/v1`: one file per resource, merged here.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use webhook_endpoints::EventSchemas;

use crate::state::AppState;

pub mod api_keys;
pub mod availability;
pub mod availability_widgets;
pub mod blocks;
pub mod bookable;
pub mod bookings;
pub mod checklists;
pub mod collisions;
pub mod conflict_item;
pub mod conflicts;
pub mod connections;
pub mod dashboard_link;
pub mod error;
pub mod extract;
pub mod feeds;
pub mod imports;
pub mod invites;
pub mod organisation_connections;
pub mod resources;
pub mod rules;
pub mod settings;
pub mod staff;
pub mod webhook_endpoints;

/// One page of a list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ListOut<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `?cursor=` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> ListOut<T> {
    /// The API form of a store page.
    pub fn from_page<'a, U>(page: &'a kalends_store::Page<U>, item: impl Fn(&'a U) -> T) -> Self {
        ListOut {
            items: page.items.iter().map(item).collect(),
            next_cursor: page.next_cursor.map(extract::encode_cursor),
        }
    }

    /// One page of `all`, a list read whole (a tenant's few connections), oldest first by
    /// `id`, which are v7: they grow with the time an item was made. A cursor whose item was
    /// removed since goes on after where it was.
    pub fn page_of<'a, U>(
        all: &'a [U],
        paging: extract::Paging,
        id: impl Fn(&U) -> uuid::Uuid,
        item: impl Fn(&'a U) -> T,
    ) -> Self {
        let start = match paging.after {
            Some(after) => all.iter().position(|u| id(u) == after).map_or_else(
                || all.iter().position(|u| id(u) > after).unwrap_or(all.len()),
                |at| at + 1,
            ),
            None => 0,
        };
        let rest = &all[start..];
        let shown = &rest[..rest.len().min(paging.limit as usize)];
        let last = shown.last().filter(|_| shown.len() < rest.len());
        ListOut {
            items: shown.iter().map(item).collect(),
            next_cursor: last.map(|u| extract::encode_cursor(id(u))),
        }
    }
}

/// Bodies above this answer 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "Kalends API", description = "Calendar connector for booking businesses."),
    modifiers(&BearerAuth, &EventSchemas),
    security(("api_key" = [])),
    tags(
        (name = "bookings", description = "The host's bookings"),
        (name = "staff", description = "Staff members"),
        (name = "resources", description = "Bookable things"),
        (name = "blocks", description = "Manual unavailability"),
        (name = "settings", description = "The tenant's choices"),
        (name = "feeds", description = "iCal feeds out"),
        (name = "imports", description = "iCal feeds in"),
        (name = "availability", description = "Busy and free times"),
        (name = "availability-widgets", description = "Public availability calendars for websites"),
        (name = "conflicts", description = "Double bookings"),
        (name = "connections", description = "Staff members' Google and Microsoft calendars"),
        (name = "organisation-connections", description = "A whole Google Workspace connected once by its administrator"),
        (name = "api-keys", description = "The tenant's API keys"),
        (name = "webhooks", description = "Signed outbound webhooks (Standard Webhooks v1)"),
        (name = "checklists", description = "Listings and manual update checklists"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API routes with `GET /api/v1/openapi.json` describing them.
pub fn router() -> Router<AppState> {
    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(bookings::router())
        .merge(staff::router())
        .merge(resources::router())
        .merge(blocks::router())
        .merge(settings::router())
        .merge(feeds::router())
        .merge(imports::router())
        .merge(invites::router())
        .merge(availability::router())
        .merge(bookable::router())
        .merge(rules::router())
        .merge(availability_widgets::router())
        .merge(conflicts::router())
        .merge(connections::router())
        .merge(organisation_connections::router())
        .merge(api_keys::router())
        .merge(dashboard_link::router())
        .merge(webhook_endpoints::router())
        .merge(checklists::router())
        .split_for_parts();
    let openapi = Arc::new(openapi);
    router
        .route(
            "/api/v1/openapi.json",
            get(move || async move { axum::Json(openapi.as_ref().clone()) }),
        )
        .fallback(|| async { error::ApiError::not_found() })
        .method_not_allowed_fallback(|| async { error::ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}
