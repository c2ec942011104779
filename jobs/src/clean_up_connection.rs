//! `clean_up_connection`: clean up at the provider after a connection was taken away, through
//! the use case a disconnect also tries at once
//! ([`clean_up`](kalends_service::connection_cleanups::clean_up)).

use std::time::Duration;

use kalends_core::seal::Sealer;
use kalends_providers::session::Credentials;
use kalends_service::connection_cleanups::{CleanupError, SYNC_WAIT, clean_up};
use kalends_store::Store;
use uuid::Uuid;

use crate::JobError;

/// When a cleanup another attempt holds (most often the disconnect's own, done in seconds), or
/// one waiting for a sync still writing into the calendar, is tried again.
const BUSY_RETRY: Duration = Duration::from_secs(5);

/// Runs the job.
#[tracing::instrument(skip_all, fields(%tenant_id, %cleanup_id))]
pub async fn run(
    store: &Store,
    sealer: &Sealer,
    credentials: &Credentials,
    tenant_id: Uuid,
    cleanup_id: Uuid,
) -> Result<(), JobError> {
    match clean_up(store, sealer, credentials, cleanup_id, SYNC_WAIT).await {
        Ok(_) => Ok(()),
        Err(busy @ (CleanupError::Busy | CleanupError::SyncUnderWay)) => {
            Err(JobError::transient_after(busy.to_string(), Some(BUSY_RETRY)))
        }
        Err(CleanupError::Store(e)) => Err(e.into()),
        Err(CleanupError::Provider(e)) => {
            let retry_after = e.retry_after();
            Err(JobError::transient_from(e, retry_after))
        }
    }
}
