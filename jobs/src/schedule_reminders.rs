//! `schedule_reminders`: after the tenant's reminder settings or a zone changed (through the
//! use cases behind `PATCH /api/v1/settings` and a resource's `PATCH`), every upcoming confirmed
//! booking with a customer address has its reminders queued again at their times as they are
//! now.

use std::collections::HashMap;

use chrono::Utc;
use kalends_core::domain::BookingStatus;
use kalends_store::{BookingFilter, Store, StoreError};
use uuid::Uuid;

use crate::JobError;
use crate::notify_customer::schedule_reminders;

/// The job. The reminders queued before find themselves stale when they run, and one queued
/// twice for the same instant is sent once (its claim is keyed by the instant).
pub async fn run(store: &Store, tenant_id: Uuid) -> Result<(), JobError> {
    let tenant = match store.tenant(tenant_id).await {
        Ok(tenant) => tenant,
        Err(StoreError::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut upcoming = BookingFilter {
        from: Some(Utc::now()),
        status: Some(BookingStatus::Confirmed),
        limit: 500,
        ..BookingFilter::default()
    };
    // Each resource's zone is read once (a booking's days are its resource's, else the
    // tenant's).
    let mut zones = HashMap::new();
    loop {
        let page = store.list_bookings(tenant_id, &upcoming).await?;
        for booking in &page.items {
            if booking.data.customer.as_ref().is_some_and(|c| c.email.is_some()) {
                let zone = match zones.get(&booking.data.resource_id) {
                    Some(&zone) => zone,
                    None => {
                        let zone = store.booking_zone(&tenant, &booking.data).await?;
                        *zones.entry(booking.data.resource_id).or_insert(zone)
                    }
                };
                // Only those still ahead: one whose moment passed was not owed under the old
                // rules, and sending it late now would surprise the customer.
                schedule_reminders(store, &tenant, booking, zone, Utc::now()).await?;
            }
        }
        match page.next_cursor {
            Some(after) => upcoming.after = Some(after),
            None => return Ok(()),
        }
    }
}
