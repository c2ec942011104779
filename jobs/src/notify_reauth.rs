//! `notify_reauth`: a connection lost its grant (its work is parked); its staff member gets an
//! e-mail with a fresh settings link to connect the calendar again.

use kalends_core::domain::ConnectionStatus;
use kalends_store::{Store, StoreError};
use uuid::Uuid;

use crate::JobError;
use kalends_service::customer_mail::{CustomerMail, Outcome};

/// Runs the job.
#[tracing::instrument(skip_all, fields(%tenant_id, %connection_id))]
pub async fn run(
    store: &Store,
    mail: &CustomerMail,
    tenant_id: Uuid,
    connection_id: Uuid,
) -> Result<(), JobError> {
    let connection = match store.connection(tenant_id, connection_id).await {
        Ok(connection) => connection,
        Err(StoreError::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if connection.status != ConnectionStatus::NeedsReauth {
        // Reconnected (or disconnected) meanwhile.
        return Ok(());
    }
    let staff = match store.staff(tenant_id, connection.staff_id).await {
        Ok(staff) => staff,
        Err(StoreError::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let Some(email) = staff.data.email.as_ref() else {
        tracing::warn!(
            "the staff member has no e-mail address: they must be told to reconnect another way"
        );
        return Ok(());
    };
    let tenant = store.tenant(tenant_id).await?;
    match mail.send_reconnect(&tenant, &connection, email.as_str(), &staff.data.name).await {
        Outcome::Sent { .. } => {
            tracing::info!("staff member e-mailed a link to reconnect their calendar");
            Ok(())
        }
        Outcome::Deferred(why) => Err(JobError::transient(why)),
        Outcome::Refused(why) => Err(JobError::permanent(why)),
    }
}
