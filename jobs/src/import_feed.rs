//! `import_feed`: fetch an imported .ics feed, store what changed, and look for new conflicts,
//! through the use case that also serves `POST /api/v1/imports/{id}/run`
//! ([`Importer`](kalends_service::importer::Importer)).

use kalends_service::importer::{ImportError, Importer};
use kalends_store::StoreError;
use uuid::Uuid;

use crate::JobError;

/// The job: a busy import is someone else's run already, and a deleted one has nothing to do.
pub async fn run(importer: &Importer, tenant_id: Uuid, import_id: Uuid) -> Result<(), JobError> {
    match importer.run(tenant_id, import_id).await {
        Ok(_) | Err(ImportError::Busy) | Err(ImportError::Store(StoreError::NotFound)) => Ok(()),
        Err(ImportError::Store(e)) => Err(e.into()),
    }
}
