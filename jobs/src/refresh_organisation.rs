//! `refresh_organisation`: the scheduled read of an organisation-wide connection's directory,
//! through the use case that also serves `POST /api/v1/organisation-connections/{id}/refresh`.

use kalends_service::organisations::{self, Context, OrganisationError};
use kalends_store::{Actor, StoreError};
use uuid::Uuid;

use crate::JobError;

/// The job: a refusal is kept on the connection for its administrator (the next scheduled read
/// tries again); Google not answering is retried; a deleted connection, or one another read or
/// change holds right now (it brings the members in line itself), has nothing to do.
pub async fn run(cx: Context<'_>, tenant_id: Uuid, organisation_id: Uuid) -> Result<(), JobError> {
    match organisations::refresh(cx, tenant_id, organisation_id, Actor::Schedule).await {
        Ok(_)
        | Err(OrganisationError::Store(StoreError::NotFound))
        | Err(OrganisationError::Busy)
        | Err(OrganisationError::Disconnecting) => Ok(()),
        Err(OrganisationError::Invalid { field, message }) => {
            tracing::warn!(organisation = %organisation_id, field, message, "the organisation's directory could not be read");
            Ok(())
        }
        Err(OrganisationError::Unreachable(error)) => {
            let retry_after = error.retry_after();
            Err(JobError::transient_from(error, retry_after))
        }
        Err(OrganisationError::Store(e)) => Err(e.into()),
    }
}
