//! Live updates: `GET /dashboard/events` is a Server-Sent Events stream that says `changed`
//! whenever anything the console shows of the tenant changed (an import finishing, a conflict
//! opening, a connection failing, a booking synced).
//!
//! It compares the store's fingerprint of the tenant (`Store::console_fingerprint`) every
//! second, so a change made by any process (an API node, a worker on another machine behind
//! Redis) reaches an open console within about a second, with one small read per open console
//! and second.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;

use super::Console;
use crate::api::AppState;

/// How often the fingerprint is compared.
const EVERY: Duration = Duration::from_secs(1);

pub(super) async fn events(State(state): State<AppState>, console: Console) -> Response {
    let tenant_id = console.tenant.id;
    let first = state.store.console_fingerprint(tenant_id).await.ok();
    let stream = changes(state, tenant_id, first);
    (
        [(header::CACHE_CONTROL, "no-store"), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")],
        Sse::new(stream).keep_alive(KeepAlive::default()),
    )
        .into_response()
}

/// One `changed` event per change of the fingerprint, until shutdown.
fn changes(
    state: AppState,
    tenant_id: uuid::Uuid,
    first: Option<String>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(
        (state, first, 0u64),
        move |(state, mut seen, mut version)| async move {
            loop {
                tokio::select! {
                    () = state.shutdown.cancelled() => return None,
                    () = tokio::time::sleep(EVERY) => {}
                }
                // A failed read is skipped: the next second tries again.
                let Ok(now) = state.store.console_fingerprint(tenant_id).await else { continue };
                if seen.as_ref() != Some(&now) {
                    seen = Some(now);
                    version += 1;
                    let event = Event::default().event("changed").data(version.to_string());
                    return Some((Ok(event), (state, seen, version)));
                }
            }
        },
    )
}
