//! Calendar connections: what is stored once a staff member authorized an account, and what
//! disconnecting forgets. The provider side (exchanging the code, reading the account,
//! revoking the grant) is the adapter's: this crate knows no provider.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::Connection;
use crate::job::Job;
use crate::seal::Sealer;
use crate::store::{ConnectionOwed, NewConnection};
use crate::{Store, StoreError};

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
    let owed =
        ConnectionOwed { jobs: owed_on_connect, import_now: Some(next_import_at), replay: true };
    let (connection, replayed) = store.save_connection(tenant_id, new, sealer, &owed).await?;
    tracing::info!(connection = %connection.id, provider = %connection.provider, "calendar connected");
    if replayed > 0 {
        tracing::info!(connection = %connection.id, bookings = replayed, "bookings queued for the calendar");
    }
    Ok(connection)
}
