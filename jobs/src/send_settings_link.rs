//! `send_settings_link`: the console's "E-mail a settings link": the staff member gets a signed
//! one-time link to their calendar settings, valid a day, to connect (or change) their
//! calendars; minting it ends the sessions their older links opened.

use kalends_store::Store;
use kalends_store::StoreError;
use uuid::Uuid;

use crate::JobError;
use kalends_service::customer_mail::{CustomerMail, LinkReason, Outcome};

/// Runs the job.
#[tracing::instrument(skip_all, fields(%tenant_id, %staff_id))]
pub async fn run(
    store: &Store,
    mail: &CustomerMail,
    tenant_id: Uuid,
    staff_id: Uuid,
) -> Result<(), JobError> {
    let staff = match store.staff(tenant_id, staff_id).await {
        Ok(staff) => staff,
        // Removed meanwhile: nobody to tell.
        Err(StoreError::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let Some(email) = staff.data.email.as_ref() else {
        // The address was removed after the request: the console asked for one.
        return Err(JobError::permanent("the staff member has no e-mail address any more"));
    };
    let tenant = store.tenant(tenant_id).await?;
    let to = (email.as_str(), staff.data.name.as_str());
    let link = mail.new_settings_link(store, tenant_id, staff.id).await?;
    match mail.send_settings_link(&tenant, to, LinkReason::Connect, &link).await {
        Outcome::Sent { .. } => {
            tracing::info!("staff member e-mailed a settings link");
            Ok(())
        }
        Outcome::Deferred(why) => Err(JobError::transient(why)),
        Outcome::Refused(why) => Err(JobError::permanent(why)),
    }
}
