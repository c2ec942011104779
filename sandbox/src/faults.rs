//! Fault injection for the API and token endpoints: latency, 5xx, 429 with `Retry-After`, and
//! dropped connections, each at a configured rate, in the provider's own error envelope; and a
//! gate that holds the requests of one path until a test lets them through, so that a race
//! happens in the order the test wants.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use super::{Sandbox, google_error, graph_error, quota};
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
    /// Only requests whose path, as asked for, contains this meet the faults and latency (one
    /// user's mailbox, `/users/{id}`, say); every request when unset.
    pub path: Option<String>,
}

/// Holds the API requests whose path contains `path` until they are released one by one (or
/// the gate is lifted), counting those waiting. A held request is carried out once let through
/// even if its client gave up waiting, as a provider's backend may.
#[derive(Clone, Debug)]
pub(crate) struct Gate {
    path: String,
    waiting: Arc<AtomicUsize>,
    passes: Arc<Semaphore>,
}

/// What `GET /_control/hold` answers.
#[derive(Debug, Serialize)]
pub(crate) struct GateView {
    path: Option<String>,
    waiting: usize,
}

impl Gate {
    /// A closed gate for requests whose path contains `path`.
    pub(crate) fn new(path: String) -> Self {
        Self { path, waiting: Arc::default(), passes: Arc::new(Semaphore::new(0)) }
    }

    /// Lets `count` held (or future) requests through, oldest first.
    pub(crate) fn release(&self, count: usize) {
        self.passes.add_permits(count);
    }

    /// Lets every request through, now and later.
    pub(crate) fn lift(&self) {
        self.passes.close();
    }

    pub(crate) fn view(gate: Option<&Self>) -> GateView {
        GateView {
            path: gate.map(|g| g.path.clone()),
            waiting: gate.map_or(0, |g| g.waiting.load(Ordering::SeqCst)),
        }
    }

    /// Waits at the gate until released or lifted.
    async fn pass(&self) {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        if let Ok(permit) = self.passes.acquire().await {
            permit.forget();
        }
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The path a request asked for, when the sandbox rewrote it before routing (an application's
/// `/users/{id}/…` served by the `/me/…` handlers).
#[derive(Clone, Debug)]
pub(crate) struct AskedPath(pub(crate) String);

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
    let (latency, fault, gate) = {
        let state = sandbox.lock();
        let gate = state.gate.clone().filter(|gate| request.uri().path().contains(&gate.path));
        let faults = &state.faults;
        let asked = request.extensions().get::<AskedPath>().map(|asked| asked.0.as_str());
        let asked = asked.unwrap_or(request.uri().path());
        match faults.path.as_deref().is_none_or(|path| asked.contains(path)) {
            true => (faults.latency_ms, roll(faults), gate),
            false => (0, None, gate),
        }
    };
    let Some(gate) = gate else {
        return carry_out(sandbox, provider, request, next, latency, fault).await;
    };
    // Carried out once let through even if its client stopped waiting meanwhile, as a
    // provider's backend finishes a write whose answer nobody reads any more.
    let held = tokio::spawn(async move {
        gate.pass().await;
        carry_out(sandbox, provider, request, next, latency, fault).await
    });
    held.await.unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The rest of a request past the gate: the quota, the latency and the fault, then the handler.
async fn carry_out(
    sandbox: Sandbox,
    provider: Provider,
    request: Request,
    next: Next,
    latency: u64,
    fault: Option<Fault>,
) -> Response {
    let path = request.uri().path();
    if quota::applies(path) {
        let mut state = sandbox.lock();
        let now = chrono::Utc::now();
        let user = quota::user_of(provider, path, request.headers(), |token| {
            state.oauth.account_of_access_token(token, now).map(|(_, email)| email)
        });
        if !state.quotas.admit(&user, std::time::Instant::now()) {
            return quota::over_quota(provider);
        }
    }
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
