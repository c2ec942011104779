//! Bookings: saved (created, replaced by id or by the host's external id, edited), cancelled.
//! Each change records what it owes (the sync to every assigned calendar or its removal, the
//! customer's e-mail) in its own transaction, then brings its conflicts up to date.

use uuid::Uuid;

use super::conflicts::after_booking_change;
use kalends_core::availability::{Moved, Rewrite};
use kalends_core::domain::{Booking, BookingStatus, NewBooking, Tenant};
use kalends_core::job::Job;
use kalends_store::{Overlap, OwnerRules, Replacing, Store, StoreError, Written};

/// How often an edit or a save by external id is tried again when the booking changed (or was
/// made) under it.
const EDIT_ATTEMPTS: usize = 3;

/// Whether a booking write made the booking or replaced its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BookingWrite {
    /// The booking is new.
    Created,
    /// An existing booking has new content (its former resource may have been another).
    Replaced,
}

/// What a `PUT .../by-external-id` did.
#[derive(Clone, Debug)]
pub enum UpsertOutcome {
    /// A new booking.
    Created(Booking),
    /// An existing booking changed; its version went up.
    Updated {
        /// The booking as it now stands.
        booking: Booking,
        /// Which of its ends moved, and its owners before (the notice and the booking window
        /// judge again only the ends that moved for an owner that held it).
        rewrite: Rewrite,
    },
    /// The booking already had exactly this content; nothing was written or scheduled.
    Unchanged(Booking),
}

impl UpsertOutcome {
    /// The booking as it now stands.
    pub fn booking(&self) -> &Booking {
        match self {
            Self::Created(b) | Self::Updated { booking: b, .. } | Self::Unchanged(b) => b,
        }
    }
}

/// The jobs a booking's new content owes: its calendars follow it (or drop it once cancelled),
/// a customer with an e-mail address hears of it (and so, after a change, does the address it
/// had before, if it lost it), and the manual update checklists of its
/// resource (and of its former one: a replaced booking may have left a resource, whose
/// checklist then asks to reopen what it closed) follow its nights.
pub fn owed_jobs(
    tenant_id: Uuid,
    booking_id: Uuid,
    booking: &NewBooking,
    write: BookingWrite,
) -> Vec<Job> {
    let cancelled = booking.status == BookingStatus::Cancelled;
    let mut jobs = vec![Job::sync_booking(tenant_id, booking_id)];
    let addressed = booking.customer.as_ref().is_some_and(|c| c.email.is_some());
    if addressed || write == BookingWrite::Replaced {
        jobs.push(Job::NotifyCustomer { tenant_id, booking_id, resend: false });
    }
    if booking.resource_id.is_some() || write == BookingWrite::Replaced {
        let cause = if cancelled { "booking_cancelled" } else { "booking_saved" };
        jobs.push(checklists_job(tenant_id, booking.resource_id, booking_id, cause));
    }
    jobs
}

/// The checklist refresh a booking change owes.
fn checklists_job(
    tenant_id: Uuid,
    resource_id: Option<Uuid>,
    booking_id: Uuid,
    cause: &str,
) -> Job {
    Job::UpdateChecklists {
        tenant_id,
        resource_id,
        booking_id: Some(booking_id),
        cause: cause.into(),
    }
}

/// The jobs a cancellation owes: the removal from calendars, the customer's notice (the job
/// itself skips a customer without an address), and the checklists of its resource, if any.
fn cancellation_jobs(tenant_id: Uuid, booking_id: Uuid, resource_id: Option<Uuid>) -> Vec<Job> {
    let mut jobs = vec![
        Job::sync_booking(tenant_id, booking_id),
        Job::NotifyCustomer { tenant_id, booking_id, resend: false },
    ];
    if resource_id.is_some() {
        jobs.push(checklists_job(tenant_id, resource_id, booking_id, "booking_cancelled"));
    }
    jobs
}

/// Writes a new booking with the jobs it owes, under a new id.
async fn write_new(
    store: &Store,
    tenant: &Tenant,
    new: NewBooking,
    overlap: Overlap,
) -> Result<Written, StoreError> {
    let id = Uuid::now_v7();
    let owed = owed_jobs(tenant.id, id, &new, BookingWrite::Created);
    store.create_booking(tenant, id, new, overlap, &owed).await
}

/// Replaces booking `id`, still at `version`, with `new` and the jobs it owes.
async fn write_replacement(
    store: &Store,
    tenant: &Tenant,
    id: Uuid,
    replacing: Replacing,
    new: NewBooking,
    overlap: Overlap,
) -> Result<Booking, StoreError> {
    let owed = owed_jobs(tenant.id, id, &new, BookingWrite::Replaced);
    store.replace_booking(tenant, id, replacing, new, overlap, &owed).await
}

/// Creates a booking. With [`Overlap::Reject`] it is refused
/// ([`StoreError::Collides`]) when it overlaps another item of its resource or staff.
pub async fn create(
    store: &Store,
    tenant: &Tenant,
    new: NewBooking,
    overlap: Overlap,
) -> Result<Booking, StoreError> {
    let Written { booking, rules } = write_new(store, tenant, new, overlap).await?;
    after_booking_change(store, tenant, &booking, &Rewrite::new_booking(), rules).await;
    Ok(booking)
}

/// Creates or replaces the booking the host knows by `external_id`. The same content again
/// changes nothing and owes nothing.
pub async fn save_by_external_id(
    store: &Store,
    tenant: &Tenant,
    external_id: &str,
    new: NewBooking,
    overlap: Overlap,
) -> Result<UpsertOutcome, StoreError> {
    let (outcome, rules) = upsert(store, tenant, external_id, new, overlap).await?;
    match &outcome {
        UpsertOutcome::Created(booking) => {
            after_booking_change(store, tenant, booking, &Rewrite::new_booking(), rules).await
        }
        UpsertOutcome::Updated { booking, rewrite } => {
            after_booking_change(store, tenant, booking, rewrite, rules).await
        }
        UpsertOutcome::Unchanged(_) => {}
    }
    Ok(outcome)
}

/// The write of [`save_by_external_id`]: identical content is left alone, and not refused
/// whatever `overlap` says (a retry of a checked write that saved it is told it is saved, even
/// when a conflict came meanwhile: what came was judged as it came), other content replaces
/// the booking, and a booking the host's id does not name yet is created. Another request creating or changing the same
/// booking in between makes it read again. With the outcome come the rules of the booking's
/// owners when the write read them.
async fn upsert(
    store: &Store,
    tenant: &Tenant,
    external_id: &str,
    mut new: NewBooking,
    overlap: Overlap,
) -> Result<(UpsertOutcome, Option<Vec<OwnerRules>>), StoreError> {
    new.external_id = Some(external_id.to_owned());
    for _ in 0..EDIT_ATTEMPTS {
        let stored = store.booking_by_external_id(tenant.id, external_id).await?;
        let creating = stored.is_none();
        let result = match stored {
            Some(existing) if existing.data == new => {
                return Ok((UpsertOutcome::Unchanged(existing), None));
            }
            Some(existing) => {
                let rewrite = Rewrite::between(&existing.data, &new);
                let replacing = Replacing { version: existing.version, rewrite: rewrite.clone() };
                write_replacement(store, tenant, existing.id, replacing, new.clone(), overlap)
                    .await
                    .map(|booking| (UpsertOutcome::Updated { rewrite, booking }, None))
            }
            None => write_new(store, tenant, new.clone(), overlap)
                .await
                .map(|Written { booking, rules }| (UpsertOutcome::Created(booking), rules)),
        };
        match result {
            Err(StoreError::VersionConflict) => continue,
            Err(StoreError::DuplicateExternalId | StoreError::ForeignKey) => continue,
            // Refused for what another request made meanwhile under the same host's id (a retry
            // sent while the first was still on its way): it is that booking, read again.
            Err(StoreError::Collides(_) | StoreError::BreaksRules(_))
                if creating
                    && store.booking_by_external_id(tenant.id, external_id).await?.is_some() =>
            {
                continue;
            }
            other => return other,
        }
    }
    Err(StoreError::VersionConflict)
}

/// Replaces a booking still at `expected_version` ([`StoreError::VersionConflict`] otherwise).
/// A replacement states its dates anew: the notice and the booking window judge both ends
/// again, and the neighbours where it was are judged again as after any move.
pub async fn replace(
    store: &Store,
    tenant: &Tenant,
    id: Uuid,
    expected_version: i64,
    new: NewBooking,
    overlap: Overlap,
) -> Result<Booking, StoreError> {
    // Read at any version: the write refuses one other than `expected_version`.
    let current = store.booking(tenant.id, id).await?;
    let rewrite = Rewrite { moved: Moved::NEW, ..Rewrite::between(&current.data, &new) };
    let replacing = Replacing { version: expected_version, rewrite: rewrite.clone() };
    let booking = write_replacement(store, tenant, id, replacing, new, overlap).await?;
    after_booking_change(store, tenant, &booking, &rewrite, None).await;
    Ok(booking)
}

/// Edits a booking: `change` turns its current state into the new content (it may fail with
/// the caller's own error, a field error say). When someone else changed the booking in
/// between, the edit is applied again to the newer state (a few times). Content equal to the
/// current one changes nothing.
pub async fn edit<E, F, Fut>(
    store: &Store,
    tenant: &Tenant,
    id: Uuid,
    overlap: Overlap,
    mut change: F,
) -> Result<Booking, E>
where
    E: From<StoreError>,
    F: FnMut(Booking) -> Fut,
    Fut: Future<Output = Result<NewBooking, E>>,
{
    for _ in 0..EDIT_ATTEMPTS {
        let current = store.booking(tenant.id, id).await?;
        let new = change(current.clone()).await?;
        if new == current.data {
            return Ok(current);
        }
        let rewrite = Rewrite::between(&current.data, &new);
        let replacing = Replacing { version: current.version, rewrite: rewrite.clone() };
        match write_replacement(store, tenant, id, replacing, new, overlap).await {
            Err(StoreError::VersionConflict) => continue,
            Ok(booking) => {
                after_booking_change(store, tenant, &booking, &rewrite, None).await;
                return Ok(booking);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::VersionConflict.into())
}

/// Cancels a booking: it leaves every calendar and stays in feeds as cancelled for a while.
/// Cancelling it again changes nothing.
pub async fn cancel(store: &Store, tenant: &Tenant, id: Uuid) -> Result<Booking, StoreError> {
    let resource_id = store.booking(tenant.id, id).await?.data.resource_id;
    let owed = cancellation_jobs(tenant.id, id, resource_id);
    let booking = store.cancel_booking(tenant, id, &owed).await?;
    after_booking_change(store, tenant, &booking, &Rewrite::kept(&booking.data), None).await;
    Ok(booking)
}

/// Sends the booking's invite to its customer again (a new e-mail with the current details).
/// Refused, naming the field, when the booking has no customer e-mail address.
pub async fn resend_invite(store: &Store, tenant_id: Uuid, id: Uuid) -> Result<(), StoreError> {
    let booking = store.booking(tenant_id, id).await?;
    if booking.data.customer.as_ref().and_then(|c| c.email.as_ref()).is_none() {
        return Err(StoreError::Invalid {
            field: "customer.email".into(),
            message: "the booking has no customer e-mail address".into(),
        });
    }
    store.enqueue(&Job::NotifyCustomer { tenant_id, booking_id: id, resend: true }).await
}

/// Tries the booking's calendar sync again now (the console's Retry after a failed sync).
pub async fn retry_sync(store: &Store, tenant_id: Uuid, id: Uuid) -> Result<(), StoreError> {
    store.booking(tenant_id, id).await?;
    store.enqueue(&Job::sync_booking(tenant_id, id)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use kalends_core::domain::{BookingSpan, Customer, Email};

    fn stay(status: BookingStatus, email: Option<&str>) -> NewBooking {
        let day = |d| NaiveDate::from_ymd_opt(2030, 1, d).unwrap();
        NewBooking {
            external_id: None,
            resource_id: None,
            staff_ids: Vec::new(),
            status,
            title: "Stay".into(),
            description: None,
            location: None,
            customer: Some(Customer {
                name: "Ann".into(),
                email: email.map(|e| e.parse::<Email>().unwrap()),
                phone: None,
            }),
            span: BookingSpan::all_day(day(1), day(3)).unwrap(),
        }
    }

    #[test]
    fn a_confirmed_booking_is_synced_and_its_customer_with_an_address_is_told() {
        let (t, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let confirmed = stay(BookingStatus::Confirmed, Some("ann@example.com"));
        let jobs = owed_jobs(t, b, &confirmed, BookingWrite::Created);
        assert_eq!(
            jobs,
            [
                Job::sync_booking(t, b),
                Job::NotifyCustomer { tenant_id: t, booking_id: b, resend: false },
            ]
        );
        let silent = owed_jobs(t, b, &stay(BookingStatus::Tentative, None), BookingWrite::Created);
        assert_eq!(silent, [Job::sync_booking(t, b)]);
        // Changed without an address: the one it had, if any, takes the event back.
        let unaddressed = stay(BookingStatus::Confirmed, None);
        let jobs = owed_jobs(t, b, &unaddressed, BookingWrite::Replaced);
        assert_eq!(jobs[1], Job::NotifyCustomer { tenant_id: t, booking_id: b, resend: false });
    }

    #[test]
    fn a_booking_saved_as_cancelled_owes_the_sync_that_takes_it_out_of_the_calendars() {
        let (t, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let jobs = owed_jobs(t, b, &stay(BookingStatus::Cancelled, None), BookingWrite::Created);
        assert_eq!(jobs, [Job::sync_booking(t, b)]);
    }

    #[test]
    fn a_booking_of_a_resource_owes_its_checklists() {
        let (t, b, r) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let room = NewBooking { resource_id: Some(r), ..stay(BookingStatus::Confirmed, None) };
        let jobs = owed_jobs(t, b, &room, BookingWrite::Created);
        assert_eq!(jobs[1], checklists_job(t, Some(r), b, "booking_saved"));
        // Without a resource now, but maybe with one before: its former resource's checklist.
        let off = stay(BookingStatus::Confirmed, None);
        let jobs = owed_jobs(t, b, &off, BookingWrite::Replaced);
        assert_eq!(jobs.last(), Some(&checklists_job(t, None, b, "booking_saved")));
        assert_eq!(owed_jobs(t, b, &off, BookingWrite::Created).len(), 1, "a new one had none");
        let cancelled = cancellation_jobs(t, b, Some(r));
        assert_eq!(cancelled[2], checklists_job(t, Some(r), b, "booking_cancelled"));
    }
}
