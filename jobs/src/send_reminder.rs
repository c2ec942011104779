//! `send_reminder`: one reminder e-mail, at its instant, if it is still owed; never two of one
//! kind for one booking; one whose moment passed while Kalends was down is sent only within the
//! grace window, and otherwise recorded as skipped.

use chrono::{DateTime, Utc};
use kalends_store::Store;
use kalends_store::{MessageKind, NewMessage};
use uuid::Uuid;

use crate::JobError;
use crate::notify_customer::{finish, load};
use kalends_service::customer_mail::CustomerMail;
use kalends_service::customer_plan::{Obstacle, fingerprint, reminder_obstacle};

/// Runs the job.
#[tracing::instrument(skip_all, fields(%tenant_id, %booking_id, reminder))]
pub async fn run(
    store: &Store,
    mail: &CustomerMail,
    tenant_id: Uuid,
    booking_id: Uuid,
    reminder: &str,
    due_at: i64,
) -> Result<(), JobError> {
    let Some((tenant, booking, recipient)) = load(store, tenant_id, booking_id).await? else {
        return Ok(());
    };
    let due = DateTime::from_timestamp(due_at, 0).ok_or_else(|| {
        JobError::permanent(format!("reminder due at an impossible instant {due_at}"))
    })?;
    let zone = store.booking_zone(&tenant, &booking.data).await?;
    let fingerprint = fingerprint(&booking, MessageKind::Reminder);
    let new = NewMessage {
        tenant_id,
        booking_id,
        kind: MessageKind::Reminder,
        // A reminder's "revision" is the instant it is due: a booking moved after its reminder
        // went out (or was skipped) is reminded again for its new time.
        revision: due_at,
        reminder,
        fingerprint: &fingerprint,
        recipient: &recipient,
    };
    let obstacle = reminder_obstacle(
        &booking,
        &tenant.settings,
        zone,
        reminder,
        due,
        Utc::now(),
        mail.reminder_grace(),
    );
    match obstacle {
        Some(Obstacle::Stale) => {
            tracing::debug!("reminder no longer owed (moved, cancelled or rules changed)");
            Ok(())
        }
        Some(Obstacle::TooLate) => {
            store
                .skip_message(
                    &new,
                    "its moment passed more than the grace window ago (Kalends was not running)",
                )
                .await?;
            tracing::info!("reminder skipped: too late to be useful");
            Ok(())
        }
        None => match store.claim_message(&new).await? {
            Some(id) => {
                finish(store, id, mail.send_reminder(&tenant, &booking, zone, reminder).await).await
            }
            None => Ok(()),
        },
    }
}
