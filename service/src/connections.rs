//! Calendar connections: what is stored once a staff member authorized an account, and what
//! disconnecting forgets. The provider side (exchanging the code, reading the account,
//! revoking the grant) is the adapter's: this crate knows no provider.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::conflicts::after_busy_gone;
use super::staff_sessions::{self, StaffSession};
use kalends_core::domain::{Connection, ConnectionCalendar, ConnectionStatus, Owner};
use kalends_core::job::Job;
use kalends_core::seal::Sealer;
use kalends_store::{ConnectionOwed, ConnectionPatch, CoveredMember, NewConnection};
use kalends_store::{Store, StoreError};

/// What a new or reconnected calendar owes: push notifications started.
fn owed_on_connect(tenant_id: Uuid, connection_id: Uuid) -> Vec<Job> {
    vec![Job::WatchCalendars { tenant_id, connection_id }]
}

/// Stores an authorized account (a new connection, or fresh tokens for one connected before),
/// together with what it owes, in one transaction: every upcoming booking its calendar lacks
/// queued for it (when it is its staff member's default), push notifications started, and an
/// import of its busy times now, the next scheduled one at `next_import_at`.
pub async fn connected(
    store: &Store,
    sealer: &Sealer,
    tenant_id: Uuid,
    new: NewConnection,
    next_import_at: DateTime<Utc>,
) -> Result<Connection, StoreError> {
    save(store, sealer, tenant_id, new, next_import_at, None).await
}

/// Like [`connected`], for a calendar an organisation covers for `member`, who is saved with
/// it in the same transaction.
pub async fn covered(
    store: &Store,
    sealer: &Sealer,
    tenant_id: Uuid,
    new: NewConnection,
    next_import_at: DateTime<Utc>,
    member: CoveredMember,
) -> Result<Connection, StoreError> {
    save(store, sealer, tenant_id, new, next_import_at, Some(member)).await
}

async fn save(
    store: &Store,
    sealer: &Sealer,
    tenant_id: Uuid,
    new: NewConnection,
    next_import_at: DateTime<Utc>,
    covers: Option<CoveredMember>,
) -> Result<Connection, StoreError> {
    let import_now = Some(next_import_at);
    let owed = ConnectionOwed { jobs: owed_on_connect, import_now, replay: true, covers };
    let (connection, replayed) = store.save_connection(tenant_id, new, sealer, &owed).await?;
    tracing::info!(connection = %connection.id, provider = %connection.provider, "calendar connected");
    if replayed > 0 {
        tracing::info!(connection = %connection.id, bookings = replayed, "bookings queued for the calendar");
    }
    Ok(connection)
}

/// Queues a sync of every upcoming booking of the connection's staff member whose event in its
/// calendar is missing or behind (oldest change first), when it is their active default:
/// what a new default or destination, or a manual sync, owes. Returns how many.
pub async fn replay(store: &Store, connection: &Connection) -> Result<usize, StoreError> {
    if !connection.is_default || connection.status != ConnectionStatus::Active {
        return Ok(0);
    }
    let queued = store.queue_bookings_behind(connection).await?;
    if queued > 0 {
        tracing::info!(connection = %connection.id, bookings = queued, "bookings queued for the calendar");
    }
    Ok(queued)
}

/// Chooses the destination calendar, the busy calendars, or makes the connection the default;
/// the staff member's bookings then go where they now belong.
pub async fn update(
    store: &Store,
    tenant_id: Uuid,
    id: Uuid,
    patch: ConnectionPatch,
) -> Result<Connection, StoreError> {
    let connection = store.update_connection(tenant_id, id, patch).await?;
    replay_staff(store, &connection).await?;
    Ok(connection)
}

/// Replays every connection of the staff member `connection` belongs to.
async fn replay_staff(store: &Store, connection: &Connection) -> Result<(), StoreError> {
    for other in store.list_connections(connection.tenant_id, Some(connection.staff_id)).await? {
        replay(store, &other).await?;
    }
    Ok(())
}

/// Queues an import of a connection's busy times at `run_at` (unless one is already waiting:
/// push notifications come in bursts) and, when given, moves its scheduled import to
/// `next_import_at`. `true` when this queued it.
pub async fn import_now(
    store: &Store,
    tenant_id: Uuid,
    connection_id: Uuid,
    run_at: DateTime<Utc>,
    next_import_at: Option<DateTime<Utc>>,
) -> Result<bool, StoreError> {
    store.request_calendar_import(tenant_id, connection_id, run_at, next_import_at).await
}

/// What a manual sync queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncQueued {
    /// Bookings whose event is missing, behind or failed.
    pub bookings: usize,
    /// Whether an import of the busy times was queued (not when one was already waiting).
    pub import: bool,
}

/// A manual sync: bookings pushed again where behind, the calendar compared with what Kalends
/// made (reconciliation), and the busy times imported now.
pub async fn sync_now(
    store: &Store,
    connection: &Connection,
    next_import_at: DateTime<Utc>,
) -> Result<SyncQueued, StoreError> {
    let bookings = replay(store, connection).await?;
    let (tenant_id, connection_id) = (connection.tenant_id, connection.id);
    store.enqueue(&Job::Reconcile { tenant_id, connection_id }).await?;
    let import = import_now(store, tenant_id, connection_id, Utc::now(), Some(next_import_at));
    let import = import.await?;
    Ok(SyncQueued { bookings, import })
}

/// Disconnects in the store: the connection is marked disconnected (tokens out of it, the
/// default handed on) in the same transaction that owes its cleanup at the provider, due at
/// `cleanup_at`; its external-edit conflicts and the conflicts of its busy times settle, and the
/// staff member's bookings go to their new default. The staff member's sessions end first
/// (`by`, the session that asked, if the staff member did, excepted). Returns the cleanup's id,
/// for the caller to try at once (`None` when there is nothing to clean up).
pub async fn disconnect(
    store: &Store,
    connection: &Connection,
    remove_events: bool,
    cleanup_at: DateTime<Utc>,
    by: Option<&StaffSession>,
) -> Result<Option<Uuid>, StoreError> {
    let (tenant_id, id) = (connection.tenant_id, connection.id);
    staff_sessions::end_on_disconnect(store, tenant_id, connection.staff_id, by).await?;
    let (_, cleanup) =
        store.disconnect_connection(tenant_id, id, remove_events, cleanup_at).await?;
    store.resolve_external_edits_of_connection(id).await?;
    after_busy_gone(store, tenant_id, Owner::Staff(connection.staff_id)).await?;
    tracing::info!(connection = %id, provider = %connection.provider, "calendar disconnected");
    replay_staff(store, connection).await?;
    Ok(cleanup)
}

/// Records the outcome of a live call on the connection: its status and last error.
pub async fn record_call(
    store: &Store,
    id: Uuid,
    status: ConnectionStatus,
    error: Option<&str>,
) -> Result<(), StoreError> {
    store.mark_connection(id, status, error).await
}

/// Records why a live call failed, the connection's status left as it is now (not as the
/// caller read it before the call).
pub async fn note_error(store: &Store, id: Uuid, message: &str) -> Result<(), StoreError> {
    store.note_connection_error(id, message).await
}

/// Stores the account's calendars as the provider listed them just now.
pub async fn calendars_listed(
    store: &Store,
    id: Uuid,
    calendars: &[ConnectionCalendar],
) -> Result<(), StoreError> {
    store.set_connection_calendars(id, calendars).await
}
