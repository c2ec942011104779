//! The JSON API under `/api/v1`: one file per resource, merged here.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use kalends_core::config::SecretKeys;
use kalends_core::seal::Sealer;
use kalends_core::{Config, Store};
use kalends_jobs::{Importer, JobQueue};
use kalends_providers::provider::Providers;
use kalends_providers::session::Credentials;
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use webhook_endpoints::EventSchemas;

pub mod api_keys;
pub mod availability;
pub mod availability_widgets;
pub mod blocks;
pub mod bookings;
pub mod checklists;
pub mod collisions;
pub mod conflicts;
pub mod connections;
pub mod dashboard_link;
pub mod error;
pub mod extract;
pub mod feed_guides;
pub mod feeds;
pub mod fields;
pub mod imports;
pub mod invites;
pub mod resources;
pub mod settings;
pub mod staff;
pub mod webhook_endpoints;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The store.
    pub store: Store,
    /// The job queue (readiness and depth).
    pub queue: JobQueue,
    /// Configuration.
    pub config: Arc<Config>,
    /// The secret key (feed tokens, signed links).
    pub secret_key: Arc<SecretKeys>,
    /// Runs feed imports (`POST /api/v1/imports/{id}/run`).
    pub importer: Importer,
    /// Rate limits of the public feed URLs.
    pub feed_limiter: Arc<crate::feeds::FeedLimiter>,
    /// Recent feed validators and rendered bodies.
    pub feed_cache: Arc<crate::feed_cache::FeedCache>,
    /// Rate limits of the public availability calendars (per client address and calendar).
    pub widget_limiter: Arc<crate::feeds::FeedLimiter>,
    /// Recent lookups of availability calendar URLs.
    pub widget_cache: Arc<crate::feed_cache::Recent<crate::widget::Known>>,
    /// Seals OAuth tokens and PKCE verifiers at rest.
    pub sealer: Sealer,
    /// Google and Microsoft clients (or the sandbox).
    pub providers: Arc<Providers>,
    /// Fresh access tokens for connections.
    pub credentials: Credentials,
    /// Renders customer invitations and their links.
    pub customer_mail: kalends_jobs::customer_mail::CustomerMail,
    /// Cancelled at shutdown: long-lived answers (the console's live updates) end with it.
    pub shutdown: tokio_util::sync::CancellationToken,
}

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
    pub fn from_page<'a, U>(
        page: &'a kalends_core::store::Page<U>,
        item: impl Fn(&'a U) -> T,
    ) -> Self {
        ListOut {
            items: page.items.iter().map(item).collect(),
            next_cursor: page.next_cursor.map(extract::encode_cursor),
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
        .merge(availability_widgets::router())
        .merge(conflicts::router())
        .merge(connections::router())
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
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}
