//! Operations endpoints (`/healthz`, `/readyz`, `/metrics`) and the HTTP metrics middleware.
//!
//! With `ops_listen` set, every role serves `/metrics` and the detailed `/readyz` on that
//! listener only ([`ops_router`]); the public listener keeps `/healthz` and a `/readyz` that says
//! only ready or not ready ([`public_router`]). Without it, `/metrics` on the public listener asks
//! for `metrics_token` when one is set, is open outside production, and is not served (404) in
//! production.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kalends_core::Config;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;
use subtle::ConstantTimeEq as _;

use crate::state::AppState;

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(LATENCY_BUCKETS)
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            // A test binary starts many apps; the first recorder serves them all.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Who may read `/metrics` on the public listener.
#[derive(Clone, Debug)]
pub enum PublicMetrics {
    /// Anyone (outside the production profile, with neither `ops_listen` nor `metrics_token`).
    Open,
    /// Whoever sends `Authorization: Bearer <metrics_token>`.
    Token(SecretString),
    /// Nobody: served on the operations listener, or not at all (404).
    Hidden,
}

impl PublicMetrics {
    /// What `config` says; in production with neither an ops listener nor a token, logs how to
    /// enable the metrics.
    pub fn from_config(config: &Config) -> Self {
        if config.ops_listen.is_some() {
            Self::Hidden
        } else if let Some(token) = &config.metrics_token {
            Self::Token(token.clone())
        } else if config.is_production() {
            tracing::warn!(
                "/metrics is not served: set KALENDS_OPS_LISTEN (an operations listener) or KALENDS_METRICS_TOKEN (a bearer token) to enable it"
            );
            Self::Hidden
        } else {
            Self::Open
        }
    }
}

/// The operations routes of the public listener: `/healthz`, and `/readyz` and `/metrics` as
/// `config` allows. With an operations listener, `/readyz` says only ready or not ready there.
pub fn public_router(config: &Config) -> Router<AppState> {
    let router = Router::new().route("/healthz", get(healthz));
    let router = if config.ops_listen.is_some() {
        router.route("/readyz", get(bare_readyz))
    } else {
        router.route("/readyz", get(readyz))
    };
    match PublicMetrics::from_config(config) {
        PublicMetrics::Open => router.route("/metrics", get(metrics)),
        PublicMetrics::Token(token) => {
            let token = Arc::new(token);
            router.route(
                "/metrics",
                get(metrics).route_layer(axum::middleware::from_fn_with_state(
                    token,
                    require_metrics_token,
                )),
            )
        }
        PublicMetrics::Hidden => router,
    }
}

/// The operations listener's routes: `/healthz`, the detailed `/readyz` and `/metrics`.
pub fn ops_router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(json!({"status": "ok"}))
}

/// 401 unless the request bears the metrics token (compared in constant time).
async fn require_metrics_token(
    State(token): State<Arc<SecretString>>,
    request: Request,
    next: Next,
) -> Response {
    let offered = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    if bool::from(offered.as_bytes().ct_eq(token.expose_secret().as_bytes())) {
        next.run(request).await
    } else {
        (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")]).into_response()
    }
}

/// "ok", or what went wrong, for one dependency of `/readyz`.
async fn check<E: std::fmt::Display>(probe: impl Future<Output = Result<(), E>>) -> String {
    match tokio::time::timeout(Duration::from_secs(2), probe).await {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(e)) => format!("unreachable: {e}"),
        Err(_) => "timed out".to_owned(),
    }
}

/// Whether the database and the queue answer, and what each said.
async fn readiness(state: &AppState) -> (bool, String, String) {
    let (database, queue) = tokio::join!(check(state.store.ping()), check(state.queue.ping()));
    (database == "ok" && queue == "ok", database, queue)
}

fn status_of(ready: bool) -> (StatusCode, &'static str) {
    if ready { (StatusCode::OK, "ready") } else { (StatusCode::SERVICE_UNAVAILABLE, "not ready") }
}

async fn readyz(State(state): State<AppState>) -> Response {
    let (ready, database, queue) = readiness(&state).await;
    let (status, word) = status_of(ready);
    let body = json!({
        "status": word,
        "database": database,
        "queue": queue,
        "queue_backend": state.queue.backend_name(),
    });
    (status, axum::Json(body)).into_response()
}

/// `/readyz` for the public: the same status code, none of the details.
async fn bare_readyz(State(state): State<AppState>) -> Response {
    let (status, word) = status_of(readiness(&state).await.0);
    (status, axum::Json(json!({ "status": word }))).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    if let Ok(depth) = state.store.outbox_depth().await {
        metrics::gauge!("kalends_outbox_depth").set(depth as f64);
    }
    if let Ok(depth) = state.queue.depth().await {
        metrics::gauge!("kalends_queue_depth", "backend" => state.queue.backend_name())
            .set(depth as f64);
    }
    let handle = metrics_handle();
    handle.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response()
}

/// The `method` label: a standard method, or `OTHER` (a client may send any token as a method;
/// each would otherwise be a new series).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "OTHER",
    }
}

/// Counts requests by route and status and times them. Logs the route pattern, never the raw
/// path: paths can hold secret tokens.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16().to_string();
    tracing::debug!(%method, %route, %status, elapsed_ms = elapsed.as_secs_f64() * 1000.0, "request");
    metrics::counter!("kalends_http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("kalends_http_request_duration_seconds", "method" => method, "route" => route)
        .record(elapsed.as_secs_f64());
    response
}
