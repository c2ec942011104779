//! `send_alert`: e-mails a tenant's unsent alerts to its `alert_emails`, several as one digest.
//! The alerts are claimed before sending (another run meanwhile finds nothing) and marked sent
//! after; a deferred send releases them for the retry.

use std::time::Duration;

use kalends_core::{Store, StoreError};
use uuid::Uuid;

use crate::JobError;
use crate::customer_mail::{CustomerMail, Outcome};

/// How long a run holds the alerts it sends.
const CLAIM: Duration = Duration::from_secs(5 * 60);

/// Runs the job.
#[tracing::instrument(skip_all, fields(%tenant_id))]
pub async fn run(store: &Store, mail: &CustomerMail, tenant_id: Uuid) -> Result<(), JobError> {
    let tenant = match store.tenant(tenant_id).await {
        Ok(tenant) => tenant,
        Err(StoreError::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let alerts = store.claim_alerts(tenant_id, CLAIM).await?;
    if alerts.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = alerts.iter().map(|a| a.id).collect();
    if tenant.settings.alert_emails.is_empty() {
        // Nobody to tell any more (the addresses were removed meanwhile).
        store.finish_alerts(&ids, true).await?;
        return Ok(());
    }
    match mail.send_alerts(&tenant, &alerts).await {
        Outcome::Sent { .. } => {
            store.finish_alerts(&ids, true).await?;
            tracing::info!(alerts = ids.len(), "alert e-mail sent");
            Ok(())
        }
        Outcome::Deferred(why) => {
            store.finish_alerts(&ids, false).await?;
            Err(JobError::transient(why))
        }
        Outcome::Refused(why) => {
            store.finish_alerts(&ids, true).await?;
            Err(JobError::permanent(why))
        }
    }
}
