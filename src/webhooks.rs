//! Push notifications from the providers. They carry no data Kalends trusts: a notification that
//! proves itself (Google: a channel Kalends made and its token; Microsoft: a subscription Kalends
//! made and its clientState, compared in constant time) asks for an import of that connection's
//! busy times, a few seconds later, once however many arrive meanwhile.
//!
//! - `POST /webhooks/google`: headers `X-Goog-Channel-ID`, `X-Goog-Channel-Token`,
//!   `X-Goog-Resource-State` (`sync` when the channel starts: nothing to import).
//! - `POST /webhooks/microsoft`: `?validationToken=` is the subscription handshake, answered with
//!   the token as `text/plain`; otherwise `{"value": [{subscriptionId, clientState, ...}]}`.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use subtle::ConstantTimeEq as _;

use crate::api::AppState;

/// Notifications within this window ask for one import.
const DEBOUNCE: Duration = Duration::from_secs(2);

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks/google", post(google))
        .route("/webhooks/microsoft", post(microsoft))
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
    match state.store.request_calendar_import(tenant_id, connection_id, run_at, None).await {
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
        // The handshake: echo the token as plain text within 10 seconds.
        return ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], token).into_response();
    }
    let Ok(notifications) = serde_json::from_slice::<Notifications>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let mut status = StatusCode::ACCEPTED;
    for notification in notifications.value {
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
