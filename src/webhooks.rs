//! Push notifications from the providers. They carry no data Kalends trusts: a notification that
//! proves itself (Google: a channel Kalends made and its token; Microsoft: a subscription Kalends
//! made and its clientState, compared in constant time) asks for an import of that connection's
//! busy times, a few seconds later, once however many arrive meanwhile.
//!
//! - `POST /webhooks/google`: headers `X-Goog-Channel-ID`, `X-Goog-Channel-Token`,
//!   `X-Goog-Resource-State` (`sync` when the channel starts: nothing to import).
//! - `POST /webhooks/microsoft`: `?validationToken=` is the subscription handshake, answered with
//!   the token as `text/plain` (`nosniff`; over 1024 characters: 400); otherwise
//!   `{"value": [{subscriptionId, clientState, ...}]}`, at most [`MAX_NOTIFICATIONS`] entries.
//!
//! Both are rate-limited per client address (`webhooks.rate_limit_per_minute`; the address as
//! [`ClientAddr`] gives it, behind trusted proxies too): 429 with `Retry-After` above it.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use kalends_service::connections;
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use subtle::ConstantTimeEq as _;

use crate::client_addr::ClientAddr;
use crate::state::AppState;

/// Notifications within this window ask for one import.
const DEBOUNCE: Duration = Duration::from_secs(2);

/// Longest `validationToken` echoed: Graph's are a few dozen characters.
const MAX_VALIDATION_TOKEN: usize = 1024;

/// Most notifications read from one Microsoft request. Graph batches a handful; each costs a
/// database read and a decryption, so a larger batch (not from Graph) is refused whole, before
/// any of that work, rather than partly served.
pub const MAX_NOTIFICATIONS: usize = 100;

/// The routes, rate-limited per client address to `per_minute` requests (bursts of as many).
pub fn router(per_minute: u32) -> Router<AppState> {
    let limiter = Arc::new(WebhookLimiter::new(per_minute));
    Router::new()
        .route("/webhooks/google", post(google))
        .route("/webhooks/microsoft", post(microsoft))
        .route_layer(axum::middleware::from_fn_with_state(limiter, rate_limit))
}

/// Requests a minute per client address. Notifications prove themselves only after a database
/// read, so unauthenticated senders must not get to make unlimited ones.
#[derive(Debug)]
struct WebhookLimiter {
    limiter: governor::DefaultKeyedRateLimiter<ClientAddr>,
}

impl WebhookLimiter {
    fn new(per_minute: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Self { limiter: governor::RateLimiter::hashmap(governor::Quota::per_minute(per_minute)) }
    }

    /// `Err(wait)` when `address` is over its rate.
    fn check(&self, address: ClientAddr) -> Result<(), Duration> {
        if self.limiter.len() > 100_000 {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&address).map_err(|not_until| {
            not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ))
        })
    }
}

/// 429 with `Retry-After` for a client over its rate. Without a known peer address (a router
/// served without connection info) every request shares one budget.
async fn rate_limit(
    State(limiter): State<Arc<WebhookLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    match limiter.check(ClientAddr::of(request.extensions())) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            metrics::counter!("kalends_webhook_rate_limited_total").increment(1);
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, seconds.max(1).to_string())])
                .into_response()
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn same(secret: &secrecy::SecretString, offered: &str) -> bool {
    bool::from(secret.expose_secret().as_bytes().ct_eq(offered.as_bytes()))
}

/// Asks for the connection's import (deduplicated); a failure is logged and answered 500 so the
/// provider retries.
async fn request_import(
    state: &AppState,
    tenant_id: uuid::Uuid,
    connection_id: uuid::Uuid,
) -> StatusCode {
    let run_at = Utc::now() + chrono::Duration::from_std(DEBOUNCE).unwrap_or_default();
    match connections::import_now(&state.store, tenant_id, connection_id, run_at, None).await {
        Ok(queued) => {
            metrics::counter!("kalends_webhook_notifications_total", "queued" => queued.to_string()).increment(1);
            StatusCode::OK
        }
        Err(e) => {
            tracing::error!(error = %e, "could not queue the import a notification asked for");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

async fn google(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (Some(channel_id), Some(token)) =
        (header(&headers, "x-goog-channel-id"), header(&headers, "x-goog-channel-token"))
    else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let channel = match state.store.channel(channel_id, &state.sealer).await {
        Ok(Some(channel)) => channel,
        // Not ours, or stopped: Google stops retrying on 404.
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "could not read the push channel");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    if !same(&channel.secret, token) {
        tracing::warn!(channel = %channel.id, "a Google notification with a wrong channel token was refused");
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if header(&headers, "x-goog-resource-state") == Some("sync") {
        return StatusCode::OK.into_response();
    }
    request_import(&state, channel.tenant_id, channel.connection_id).await.into_response()
}

/// `?validationToken=`.
#[derive(Debug, Deserialize)]
struct Validation {
    #[serde(rename = "validationToken")]
    validation_token: Option<String>,
}

/// The part of a Graph notification Kalends reads.
#[derive(Debug, Deserialize)]
struct Notifications {
    value: Vec<Notification>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    subscription_id: String,
    client_state: Option<String>,
}

async fn microsoft(
    State(state): State<AppState>,
    Query(query): Query<Validation>,
    body: Bytes,
) -> Response {
    if let Some(token) = query.validation_token {
        return echo(token);
    }
    let Ok(notifications) = serde_json::from_slice::<Notifications>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if notifications.value.len() > MAX_NOTIFICATIONS {
        tracing::warn!(
            count = notifications.value.len(),
            "a Microsoft notification batch over the limit was refused"
        );
        return StatusCode::BAD_REQUEST.into_response();
    }
    let mut status = StatusCode::ACCEPTED;
    let mut seen = std::collections::HashSet::new();
    for notification in notifications.value {
        // One read per subscription, however often a batch names it.
        if !seen.insert(notification.subscription_id.clone()) {
            continue;
        }
        let channel = match state.store.channel(&notification.subscription_id, &state.sealer).await
        {
            Ok(Some(channel)) => channel,
            Ok(None) => continue,
            Err(e) => {
                tracing::error!(error = %e, "could not read the subscription");
                status = StatusCode::INTERNAL_SERVER_ERROR;
                continue;
            }
        };
        if !notification
            .client_state
            .as_deref()
            .is_some_and(|offered| same(&channel.secret, offered))
        {
            tracing::warn!(channel = %channel.id, "a Microsoft notification with a wrong clientState was refused");
            continue;
        }
        if request_import(&state, channel.tenant_id, channel.connection_id).await != StatusCode::OK
        {
            status = StatusCode::INTERNAL_SERVER_ERROR;
        }
    }
    status.into_response()
}

/// The subscription handshake: the token echoed as plain text (never sniffed as HTML, since it
/// is whatever the caller put in the URL), or 400 when it is longer than Graph's ever are.
fn echo(token: String) -> Response {
    if token.len() > MAX_VALIDATION_TOKEN {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let headers = [
        (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    (headers, token).into_response()
}
