//! `clean_up_connection`: clean up at the provider after a connection was taken away, through
//! the use case a disconnect also tries at once
//! ([`clean_up`](kalends_service::connection_cleanups::clean_up)).

use std::time::Duration;

use kalends_core::seal::Sealer;
use kalends_providers::session::Credentials;
use kalends_service::connection_cleanups::{CleanupError, LEASE_SECS, clean_up};
use kalends_store::Store;
use uuid::Uuid;

use crate::JobError;

/// Runs the job.
#[tracing::instrument(skip_all, fields(%tenant_id, %cleanup_id))]
pub async fn run(
    store: &Store,
    sealer: &Sealer,
    credentials: &Credentials,
    tenant_id: Uuid,
    cleanup_id: Uuid,
) -> Result<(), JobError> {
    match clean_up(store, sealer, credentials, cleanup_id).await {
        Ok(_) => Ok(()),
        Err(CleanupError::Busy) => Err(JobError::transient_after(
            CleanupError::Busy.to_string(),
            Some(Duration::from_secs(LEASE_SECS as u64)),
        )),
        Err(CleanupError::Store(e)) => Err(e.into()),
        Err(CleanupError::Provider(e)) => {
            let retry_after = e.retry_after();
            Err(JobError::transient_from(e, retry_after))
        }
    }
}
