//! Conflicts: looked for after every change that can open or settle one, and resolved by hand.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::conflicts::{ItemRef, Source};
use crate::domain::{Booking, BookingStatus, Owner, Tenant};
use crate::store::{Conflict, Detection};
use crate::{Store, StoreError};

/// A start and an end instant.
pub type Instants = (DateTime<Utc>, DateTime<Utc>);

/// Brings the conflicts naming `booking` up to date. A failure is logged, not returned: the
/// booking is saved, and the next change or import of its calendars looks again.
pub async fn after_booking_change(store: &Store, tenant: &Tenant, booking: &Booking) {
    let item = ItemRef { source: Source::Booking, id: booking.id };
    let result = async {
        let span = match booking.data.status {
            BookingStatus::Cancelled => None,
            _ => Some(store.booking_instants(tenant, &booking.data).await?),
        };
        // Version 1: the write that runs this made the booking.
        let just_made = booking.version == 1;
        store.detect_conflicts_of(tenant.id, item, span, &booking.data.owners(), just_made).await
    };
    if let Err(error) = result.await {
        tracing::error!(booking_id = %booking.id, %error, "conflict detection failed after a booking change");
    }
}

/// Brings the conflicts naming a block up to date (`placed` is `None` once it is deleted).
/// Failures are logged, as for bookings.
pub async fn after_block_change(
    store: &Store,
    tenant: &Tenant,
    id: Uuid,
    placed: Option<(Owner, Instants)>,
) {
    let item = ItemRef { source: Source::Block, id };
    let (owners, span) = match placed {
        Some((owner, span)) => (vec![owner], Some(span)),
        None => (Vec::new(), None),
    };
    if let Err(error) = store.detect_conflicts_of(tenant.id, item, span, &owners, false).await {
        tracing::error!(block_id = %id, %error, "conflict detection failed after a block change");
    }
}

/// Looks at everything one resource or staff member holds again: after an import changed its
/// busy times, or a calendar stopped counting.
pub async fn recheck_owner(
    store: &Store,
    tenant_id: Uuid,
    owner: Owner,
) -> Result<Detection, StoreError> {
    store.detect_conflicts(tenant_id, owner).await
}

/// Marks a conflict resolved by hand, with an optional note. It stays resolved while its items
/// collide exactly as now.
pub async fn resolve(
    store: &Store,
    tenant_id: Uuid,
    id: Uuid,
    note: Option<String>,
) -> Result<Conflict, StoreError> {
    store.resolve_conflict(tenant_id, id, note).await
}
