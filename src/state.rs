//! What every handler can reach: the store, the queue, configuration and keys, provider clients,
//! and the public routes' rate limiters and caches. It sits below every module that serves a
//! request (the API, the pages, the feeds, the availability calendars, webhooks, operations), and
//! what it holds is owned by modules below it, so none of them need to reach up for it.

use std::sync::Arc;

use kalends_core::Config;
use kalends_core::config::SecretKeys;
use kalends_core::seal::Sealer;
use kalends_jobs::JobQueue;
use kalends_providers::provider::Providers;
use kalends_providers::session::Credentials;
use kalends_service::importer::Importer;
use kalends_store::Store;

use crate::feed_cache::{FeedCache, Recent};
use crate::public_http::FeedLimiter;
use crate::widget_lookup::Known;

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
    pub feed_limiter: Arc<FeedLimiter>,
    /// Recent feed validators and rendered bodies.
    pub feed_cache: Arc<FeedCache>,
    /// Rate limits of the public availability calendars (per client address and calendar).
    pub widget_limiter: Arc<FeedLimiter>,
    /// Recent lookups of availability calendar URLs.
    pub widget_cache: Arc<Recent<Known>>,
    /// Seals OAuth tokens and PKCE verifiers at rest.
    pub sealer: Sealer,
    /// Google and Microsoft clients (or the sandbox).
    pub providers: Arc<Providers>,
    /// Fresh access tokens for connections.
    pub credentials: Credentials,
    /// Renders customer invitations and their links.
    pub customer_mail: kalends_service::customer_mail::CustomerMail,
    /// Cancelled at shutdown: long-lived answers (the console's live updates) end with it.
    pub shutdown: tokio_util::sync::CancellationToken,
}
