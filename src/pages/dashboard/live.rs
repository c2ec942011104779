//! Live updates: `GET /dashboard/events` is a Server-Sent Events stream that says `changed`
//! whenever anything the console shows of the tenant changed (an import finishing, a conflict
//! opening, a connection failing, a booking synced).
//!
//! What to look at is told, not guessed: every job owed by a committed change is relayed from
//! the outbox, and every job that has run, tells the queue that its tenant changed
//! (`JobQueue::changed`: on Redis a message every process hears, on a database queue this
//! process). The stream then compares the store's fingerprint of the tenant
//! (`Store::console_fingerprint`) and says `changed` when it moved. Changes no job follows (a
//! setting saved, a conflict resolved by hand) are found by the same comparison every
//! `dashboard.live_poll_ms` (2 s).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::Console;
use crate::state::AppState;

/// How long a burst of news is let settle before the fingerprint is compared once for it.
const SETTLE: Duration = Duration::from_millis(50);

pub(super) async fn events(State(state): State<AppState>, console: Console) -> Response {
    let tenant_id = console.tenant.id;
    // Listening before the first look: a change in between is heard, not lost.
    let news = state.queue.changes();
    let first = state.store.console_fingerprint(tenant_id).await.ok();
    let stream = changes(state, tenant_id, news, first);
    (
        [(header::CACHE_CONTROL, "no-store"), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")],
        Sse::new(stream).keep_alive(KeepAlive::default()),
    )
        .into_response()
}

/// Waits until the tenant's data may have changed: news of it, news missed (the listener fell
/// behind), or the poll interval passed. `None` at shutdown.
async fn may_have_changed(
    state: &AppState,
    tenant_id: Uuid,
    news: &mut Receiver<Uuid>,
    poll: Duration,
) -> Option<()> {
    let quiet = tokio::time::sleep(poll);
    tokio::pin!(quiet);
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return None,
            () = &mut quiet => return Some(()),
            heard = news.recv() => match heard {
                Ok(changed) if changed == tenant_id => break,
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => break,
                // The queue is gone (shutting down): only the poll is left.
                Err(RecvError::Closed) => {
                    (&mut quiet).await;
                    return Some(());
                }
            },
        }
    }
    tokio::time::sleep(SETTLE).await;
    // What arrived while settling is covered by the comparison that follows.
    while news.try_recv().is_ok() {}
    Some(())
}

/// One `changed` event per change of the fingerprint, until shutdown.
fn changes(
    state: AppState,
    tenant_id: Uuid,
    news: Receiver<Uuid>,
    first: Option<String>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let poll = Duration::from_millis(state.config.dashboard.live_poll_ms);
    futures::stream::unfold(
        (state, news, first, 0u64),
        move |(state, mut news, mut seen, mut version)| async move {
            loop {
                may_have_changed(&state, tenant_id, &mut news, poll).await?;
                // A failed read is skipped: the next news or poll tries again.
                let Ok(now) = state.store.console_fingerprint(tenant_id).await else { continue };
                if seen.as_ref() != Some(&now) {
                    seen = Some(now);
                    version += 1;
                    let event = Event::default().event("changed").data(version.to_string());
                    return Some((Ok(event), (state, news, seen, version)));
                }
            }
        },
    )
}
