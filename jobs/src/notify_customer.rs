//! `notify_customer`: tell the booking's customer what changed (an invitation, an update or a
//! cancellation, by e-mail, at most once per revision) and schedule the reminders.

use chrono::{DateTime, Utc};
use kalends_core::domain::{Booking, BookingStatus, Tenant, TimeZone};
use kalends_core::job::Job;
use kalends_store::{MessageKind, MessageStatus, NewMessage};
use kalends_store::{Store, StoreError};
use uuid::Uuid;

use crate::JobError;
use kalends_service::customer_mail::{CustomerMail, Outcome};
use kalends_service::customer_plan::{
    ever_invited, first_to, plan_invite, reminder_times, uninvited,
};

/// Runs the job for one booking.
#[tracing::instrument(skip_all, fields(%tenant_id, %booking_id))]
pub async fn run(
    store: &Store,
    mail: &CustomerMail,
    tenant_id: Uuid,
    booking_id: Uuid,
    resend: bool,
) -> Result<(), JobError> {
    // The old addresses' cancellations and the new one's invitation go independently: one
    // deferred leaves the other to go now, and the job's retry tries what is left.
    let taken = take_back(store, mail, tenant_id, booking_id).await;
    let told = tell(store, mail, tenant_id, booking_id, resend).await;
    told.and(taken)
}

/// Tells the customer at the booking's address what is still untold, and schedules the
/// reminders.
async fn tell(
    store: &Store,
    mail: &CustomerMail,
    tenant_id: Uuid,
    booking_id: Uuid,
    resend: bool,
) -> Result<(), JobError> {
    let Some((tenant, mut booking, mut recipient)) = load(store, tenant_id, booking_id).await?
    else {
        return Ok(());
    };
    // Another run may claim the next revision first (two changes in quick succession): then
    // read again and tell the customer whatever is still untold, as the revision after it.
    for attempt in 0..3 {
        let messages = store.invitations(booking_id).await?;
        let last = messages.last();
        // The booking is read after what was told last: the run that claimed that revision read
        // the booking before its claim, so this read is at least as new, and an older one never
        // goes out under a higher SEQUENCE (which the customer's calendar would keep).
        if attempt > 0 || last.is_some() {
            let Some(now) = addressed(store, tenant_id, booking_id).await? else {
                return Ok(());
            };
            (booking, recipient) = now;
        }
        let (invited, first) = (ever_invited(&messages), first_to(&messages, &recipient));
        let plan = plan_invite(&booking, &tenant.settings, last, invited, resend);
        let Some(plan) = plan else {
            break;
        };
        // Every read that can fail comes before the claim: a claim left behind by a failure
        // would hold the message back until the stale-claim sweep.
        let zone = store.booking_zone(&tenant, &booking.data).await?;
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
            let (kind, revision) = (plan.kind, plan.revision);
            let outcome = mail.send_invite(&tenant, &booking, zone, kind, revision, first).await;
            finish(store, id, outcome).await?;
            break;
        }
    }
    let zone = store.booking_zone(&tenant, &booking.data).await?;
    // A reminder due before the change that queued this job was owed by no version the customer
    // knew: sent now it would come with the invitation. Later ones get the grace a late job
    // is given.
    let from = (Utc::now() - mail.reminder_grace()).max(booking.updated_at);
    schedule_reminders(store, &tenant, &booking, zone, from).await
}

/// Cancels the event at each address the customer no longer has ([`uninvited`]): its calendar
/// would otherwise keep the booking.
async fn take_back(
    store: &Store,
    mail: &CustomerMail,
    tenant_id: Uuid,
    booking_id: Uuid,
) -> Result<(), JobError> {
    let Some(booking) = booking_if_any(store, tenant_id, booking_id).await? else {
        return Ok(());
    };
    let messages = store.customer_messages(booking_id).await?;
    let current = booking.data.customer.as_ref().and_then(|c| c.email.as_ref());
    let old = uninvited(&messages, current.map(|email| email.as_str()));
    if old.is_empty() {
        return Ok(());
    }
    let tenant = store.tenant(tenant_id).await?;
    let zone = store.booking_zone(&tenant, &booking.data).await?;
    for old in old {
        // The revision after everything told so far (read again: the loop told some).
        let told = store.last_invite(booking_id).await?.map_or(0, |m| m.revision + 1);
        let revision = told.max(old.revision + 1);
        let new = NewMessage {
            tenant_id,
            booking_id,
            kind: MessageKind::Cancel,
            revision,
            reminder: "",
            fingerprint: "taken back from an old address",
            recipient: &old.recipient,
        };
        // Another run took this revision first: the retry looks again.
        let Some(id) = store.claim_message(&new).await? else {
            return Err(JobError::transient("another run told the customer meanwhile"));
        };
        let outcome = mail.send_cancel_to(&tenant, &booking, zone, revision, &old.recipient).await;
        match finish(store, id, outcome).await {
            // Refused (recorded with the server's words): not tried again.
            Ok(()) | Err(JobError::Permanent { .. }) => {}
            deferred => return deferred,
        }
    }
    Ok(())
}

/// The booking, its tenant and the customer's address; `None` when there is nobody to tell.
pub(crate) async fn load(
    store: &Store,
    tenant_id: Uuid,
    booking_id: Uuid,
) -> Result<Option<(Tenant, Booking, String)>, JobError> {
    let Some((booking, recipient)) = addressed(store, tenant_id, booking_id).await? else {
        return Ok(None);
    };
    Ok(Some((store.tenant(tenant_id).await?, booking, recipient)))
}

/// The booking and its customer's address; `None` when there is nobody to tell.
async fn addressed(
    store: &Store,
    tenant_id: Uuid,
    booking_id: Uuid,
) -> Result<Option<(Booking, String)>, JobError> {
    let Some(booking) = booking_if_any(store, tenant_id, booking_id).await? else {
        return Ok(None);
    };
    let Some(email) = booking.data.customer.as_ref().and_then(|c| c.email.as_ref()) else {
        return Ok(None);
    };
    let recipient = email.as_str().to_owned();
    Ok(Some((booking, recipient)))
}

/// The booking, or `None` once it is deleted.
async fn booking_if_any(
    store: &Store,
    tenant_id: Uuid,
    booking_id: Uuid,
) -> Result<Option<Booking>, JobError> {
    match store.booking(tenant_id, booking_id).await {
        Ok(booking) => Ok(Some(booking)),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
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

/// Queues one `send_reminder` per reminder due at `from` or later (the caller's choice: within
/// the grace window, or only those ahead). Each runs at its instant and sends only if the
/// booking still starts when it did: rescheduling queues new ones and the old ones find
/// themselves stale.
pub(crate) async fn schedule_reminders(
    store: &Store,
    tenant: &Tenant,
    booking: &Booking,
    zone: TimeZone,
    from: DateTime<Utc>,
) -> Result<(), JobError> {
    if booking.data.status != BookingStatus::Confirmed {
        return Ok(());
    }
    for (reminder, due) in reminder_times(booking, &tenant.settings, zone) {
        if due < from {
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
