//! `notify_customer`: tell the booking's customer what changed (an invitation, an update or a
//! cancellation, by e-mail, at most once per revision) and schedule the reminders.

use chrono::Utc;
use kalends_core::domain::{Booking, BookingStatus, Tenant, TimeZone};
use kalends_core::job::Job;
use kalends_store::{MessageStatus, NewMessage};
use kalends_store::{Store, StoreError};
use uuid::Uuid;

use crate::JobError;
use kalends_service::customer_mail::{CustomerMail, Outcome};
use kalends_service::customer_plan::{plan_invite, reminder_times};

/// Runs the job for one booking.
#[tracing::instrument(skip_all, fields(%tenant_id, %booking_id))]
pub async fn run(
    store: &Store,
    mail: &CustomerMail,
    tenant_id: Uuid,
    booking_id: Uuid,
    resend: bool,
) -> Result<(), JobError> {
    let Some((tenant, booking, recipient)) = load(store, tenant_id, booking_id).await? else {
        return Ok(());
    };
    // Every read that can fail comes before the claim: a claim left behind by a failure would
    // hold the message back until the stale-claim sweep.
    let zone = store.booking_zone(&tenant, &booking.data).await?;
    // Another run may claim the next revision first (two changes in quick succession): then
    // read again and tell the customer whatever is still untold, as the revision after it.
    for _ in 0..3 {
        let last = store.last_invite(booking_id).await?;
        let Some(plan) = plan_invite(&booking, &tenant.settings, last.as_ref(), resend) else {
            break;
        };
        let new = NewMessage {
            tenant_id,
            booking_id,
            kind: plan.kind,
            revision: plan.revision,
            reminder: "",
            fingerprint: &plan.fingerprint,
            recipient: &recipient,
        };
        // Claimed first: a second run of this job finds the claim and sends nothing.
        if let Some(id) = store.claim_message(&new).await? {
            let outcome = mail.send_invite(&tenant, &booking, zone, plan.kind, plan.revision).await;
            finish(store, id, outcome).await?;
            break;
        }
    }
    schedule_reminders(store, &tenant, &booking, zone, mail).await
}

/// The booking, its tenant and the customer's address; `None` when there is nobody to tell.
pub(crate) async fn load(
    store: &Store,
    tenant_id: Uuid,
    booking_id: Uuid,
) -> Result<Option<(Tenant, Booking, String)>, JobError> {
    let booking = match store.booking(tenant_id, booking_id).await {
        Ok(booking) => booking,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let Some(email) = booking.data.customer.as_ref().and_then(|c| c.email.as_ref()) else {
        return Ok(None);
    };
    let recipient = email.as_str().to_owned();
    Ok(Some((store.tenant(tenant_id).await?, booking, recipient)))
}

/// Records how a claimed e-mail ended and turns a failure into the job's answer: a deferral
/// releases the claim and retries; a refusal is recorded with the server's words and stops.
pub(crate) async fn finish(store: &Store, id: Uuid, outcome: Outcome) -> Result<(), JobError> {
    match outcome {
        Outcome::Sent { message_id } => {
            store.finish_message(id, MessageStatus::Sent, Some(&message_id), None).await?;
            tracing::info!(message = %id, "customer e-mail sent");
            Ok(())
        }
        Outcome::Deferred(why) => {
            store.release_message(id).await?;
            Err(JobError::transient(why))
        }
        Outcome::Refused(why) => {
            store.finish_message(id, MessageStatus::Failed, None, Some(&why)).await?;
            tracing::warn!(message = %id, error = %why, "customer e-mail refused by the mail server");
            Err(JobError::permanent(why))
        }
    }
}

/// Queues one `send_reminder` per reminder still ahead (or within the grace window). Each runs
/// at its instant and sends only if the booking still starts when it did: rescheduling queues
/// new ones and the old ones find themselves stale.
async fn schedule_reminders(
    store: &Store,
    tenant: &Tenant,
    booking: &Booking,
    zone: TimeZone,
    mail: &CustomerMail,
) -> Result<(), JobError> {
    if booking.data.status != BookingStatus::Confirmed {
        return Ok(());
    }
    let now = Utc::now();
    for (reminder, due) in reminder_times(booking, &tenant.settings, zone) {
        if due + mail.reminder_grace() < now {
            continue;
        }
        let job = Job::SendReminder {
            tenant_id: tenant.id,
            booking_id: booking.id,
            reminder,
            due_at: due.timestamp(),
        };
        store.enqueue_at(&job, due).await?;
    }
    Ok(())
}
