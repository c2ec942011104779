//! `reread_import`: an import's kept body read again under its settings as they are now, after
//! the owner changed them while a run held the import (through the use case behind the
//! settings' `PATCH`, [`Importer::reread`]).

use kalends_service::importer::{ImportError, Importer};
use kalends_store::StoreError;
use uuid::Uuid;

use crate::JobError;

/// The job: a busy import is the run that read under the old settings, so this one waits for
/// it (retried); a deleted import has nothing to read.
pub async fn run(importer: &Importer, tenant_id: Uuid, import_id: Uuid) -> Result<(), JobError> {
    match importer.reread(tenant_id, import_id, false).await {
        Ok(_) | Err(ImportError::Store(StoreError::NotFound)) => Ok(()),
        Err(ImportError::Busy) => {
            Err(JobError::transient("a run holds the import; its new settings are read after it"))
        }
        Err(ImportError::Store(e)) => Err(e.into()),
    }
}
