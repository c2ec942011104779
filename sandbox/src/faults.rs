//! Fault injection for the API and token endpoints: latency, 5xx, 429 with `Retry-After`, and
//! dropped connections, each at a configured rate, in the provider's own error envelope.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use serde::{Deserialize, Serialize};

use super::{Sandbox, google_error, graph_error};
use crate::Provider;

/// The faults injected into every API and token request (rates are 0.0 to 1.0).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Share of requests answered 503 (Google `backendError`, Graph `serviceNotAvailable`).
    pub error_rate: f64,
    /// Share of requests answered 429 with `Retry-After`.
    pub rate_limit_rate: f64,
    /// The `Retry-After` sent with a 429, in seconds (fractions are sent as Graph does).
    pub retry_after_secs: f64,
    /// Share of requests whose connection drops after the status line.
    pub drop_rate: f64,
    /// Added to every request.
    pub latency_ms: u64,
}

/// What the dice decided for one request.
enum Fault {
    Error,
    RateLimited(f64),
    Drop,
}

/// The middleware.
pub(super) async fn inject(
    State(sandbox): State<Sandbox>,
    request: Request,
    next: Next,
) -> Response {
    let provider = if request.uri().path().starts_with("/google") {
        Provider::Google
    } else {
        Provider::Microsoft
    };
    let (latency, fault) = {
        let faults = sandbox.lock().faults.clone();
        (faults.latency_ms, roll(&faults))
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    match fault {
        None => next.run(request).await,
        Some(Fault::Error) => match provider {
            Provider::Google => {
                google_error(StatusCode::SERVICE_UNAVAILABLE, "backendError", "Backend Error", None)
            }
            Provider::Microsoft => graph_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "serviceNotAvailable",
                "The service is temporarily unavailable. Please try again later.",
            ),
        },
        Some(Fault::RateLimited(seconds)) => {
            let mut response = match provider {
                Provider::Google => google_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rateLimitExceeded",
                    "Rate Limit Exceeded",
                    None,
                ),
                Provider::Microsoft => graph_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TooManyRequests",
                    "Please retry again later.",
                ),
            };
            if let Ok(value) = format_seconds(seconds).parse() {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Some(Fault::Drop) => dropped(),
    }
}

fn roll(faults: &Faults) -> Option<Fault> {
    let dice: f64 = rand::random();
    if dice < faults.drop_rate {
        Some(Fault::Drop)
    } else if dice < faults.drop_rate + faults.error_rate {
        Some(Fault::Error)
    } else if dice < faults.drop_rate + faults.error_rate + faults.rate_limit_rate {
        Some(Fault::RateLimited(faults.retry_after_secs))
    } else {
        None
    }
}

/// "2", or "2.128" when there is a fraction (Graph's documented form).
fn format_seconds(seconds: f64) -> String {
    if seconds.fract() == 0.0 { format!("{seconds:.0}") } else { format!("{seconds:.3}") }
}

/// A response whose body fails at once: the server aborts the connection mid-message.
fn dropped() -> Response {
    let stream = futures::stream::once(async {
        Err::<bytes::Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "sandbox dropped the connection",
        ))
    });
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], Body::from_stream(stream))
        .into_response()
}
