//! Imports of OTA and calendar feeds: registered, changed and removed by the host; each run's
//! outcome recorded, and the owner's conflicts looked for again when the feed changed what is
//! blocked.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::conflicts::recheck_owner;
use crate::domain::{Import, ImportRun, ImportStatus, NewImport, RunCounts, RunOutcome, Tenant};
use crate::imports;
use crate::store::{Detection, ImportPatch, RunRecord, RunResult};
use crate::{Store, StoreError};

/// Records a finished run of `import` (started at `started_at`): what changed (for a feed that
/// was read), the run log, the import's status (failing once `failure_threshold` runs in a row
/// failed, ok again after a success), and its lease released, in one transaction. A run that
/// read the feed then looks for conflicts of the import's owner; its findings are returned.
pub async fn record_run(
    store: &Store,
    tenant: &Tenant,
    import: &Import,
    started_at: DateTime<Utc>,
    result: RunResult<'_>,
    failure_threshold: u32,
) -> Result<(ImportRun, Option<Detection>), StoreError> {
    let zone = store.owner_zone(tenant, import.data.owner).await?;
    let stored = store.stored_items(import.id).await?;
    let finished_at = crate::store::now();
    let mut run = ImportRun {
        id: Uuid::now_v7(),
        import_id: import.id,
        started_at,
        finished_at,
        outcome: RunOutcome::Ok,
        http_status: None,
        counts: RunCounts::default(),
        skipped: 0,
        error: None,
    };
    let (mut failures, mut validators, mut diff, mut body_sha256) = (0, None, None, None);
    match &result {
        RunResult::Read { items, skipped, http_status, etag, last_modified, body_sha256: hash } => {
            body_sha256 = hash.as_deref();
            run.http_status = *http_status;
            run.skipped = *skipped;
            validators = Some((etag.clone(), last_modified.clone()));
            let changes =
                imports::diff(&stored, items, import.data.platform, finished_at.date_naive());
            run.counts = changes.counts;
            diff = Some(changes);
        }
        RunResult::NotModified { http_status } => {
            run.outcome = RunOutcome::NotModified;
            run.http_status = Some(*http_status);
            run.counts.unchanged = u32::try_from(stored.len()).unwrap_or(u32::MAX);
        }
        RunResult::Failed { http_status, error } => {
            run.outcome = RunOutcome::Failed;
            run.http_status = *http_status;
            run.error = Some(error.clone());
            failures = import.consecutive_failures.saturating_add(1);
        }
    }
    let status = match failures {
        0 => ImportStatus::Ok,
        n if n >= failure_threshold => ImportStatus::Failing,
        _ => import.status,
    };
    let record = RunRecord { run: &run, diff, status, failures, validators, body_sha256 };
    store.save_import_run(tenant, import, zone, &record).await?;
    let found = match run.outcome {
        RunOutcome::Ok => Some(recheck_owner(store, tenant.id, import.data.owner).await?),
        RunOutcome::NotModified | RunOutcome::Failed => None,
    };
    Ok((run, found))
}

/// Removes an import: the dates it blocked are free again, and the conflicts they caused settle.
pub async fn delete(store: &Store, tenant_id: Uuid, id: Uuid) -> Result<(), StoreError> {
    let import = store.import(tenant_id, id).await?;
    store.delete_import(tenant_id, id).await?;
    recheck_owner(store, tenant_id, import.data.owner).await?;
    Ok(())
}

/// Registers a feed to import for a resource or staff member; its first run is due at once.
pub async fn create(store: &Store, tenant: &Tenant, new: NewImport) -> Result<Import, StoreError> {
    store.create_import(tenant, new).await
}

/// Changes an import's address, platform, name or interval.
pub async fn update(
    store: &Store,
    tenant_id: Uuid,
    id: Uuid,
    patch: ImportPatch,
) -> Result<Import, StoreError> {
    store.update_import(tenant_id, id, patch).await
}
