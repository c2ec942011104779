//! Conflict checks around writes: `?reject_conflicts=true` (checked by the store in the booking's
//! own write transaction), and the detection pass after every booking or block change.

use kalends_core::conflicts::{ItemRef, Source};
use kalends_core::domain::{Booking, BookingStatus, NewBooking, Owner, Tenant, TimeZone};
use kalends_core::store::Overlap;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;

/// `?reject_conflicts=true` on booking writes.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct WriteQuery {
    /// Answer 409 with the colliding items instead of saving a booking that overlaps another
    /// confirmed booking, a block or an imported busy time of its resource or staff.
    pub reject_conflicts: Option<bool>,
}

impl WriteQuery {
    /// What the booking write does about overlaps. The store checks and saves in one
    /// transaction, serialised per resource and staff member, so concurrent requests for the
    /// same time cannot both pass the check.
    pub fn overlap(&self) -> Overlap {
        if self.reject_conflicts == Some(true) { Overlap::Reject } else { Overlap::Allow }
    }
}

async fn home_zone(
    state: &AppState,
    tenant: &Tenant,
    data: &NewBooking,
) -> Result<TimeZone, ApiError> {
    Ok(match data.resource_id {
        Some(id) => state.store.owner_zone(tenant, Owner::Resource(id)).await?,
        None => tenant.settings.time_zone,
    })
}

/// Brings the conflicts naming `booking` up to date. A failure is logged, not returned: the
/// booking is saved, and the next change or import of its calendars looks again.
pub async fn after_booking_change(state: &AppState, tenant: &Tenant, booking: &Booking) {
    let item = ItemRef { source: Source::Booking, id: booking.id };
    let span = match booking.data.status {
        BookingStatus::Cancelled => Ok(None),
        _ => home_zone(state, tenant, &booking.data)
            .await
            .map(|zone| Some(booking.data.span.utc_range(zone))),
    };
    let result = match span {
        Ok(span) => state
            .store
            .detect_conflicts_of(tenant.id, item, span, &booking.data.owners())
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::error!(booking_id = %booking.id, status = %e.status(), "conflict detection failed after a booking change");
    }
}

/// A start and an end instant.
type Instants = (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>);

/// Brings the conflicts naming a block up to date (`owner` is `None` once it is deleted).
pub async fn after_block_change(
    state: &AppState,
    tenant: &Tenant,
    id: Uuid,
    placed: Option<(Owner, Instants)>,
) {
    let item = ItemRef { source: Source::Block, id };
    let (owners, span) = match placed {
        Some((owner, span)) => (vec![owner], Some(span)),
        None => (Vec::new(), None),
    };
    if let Err(e) = state.store.detect_conflicts_of(tenant.id, item, span, &owners).await {
        tracing::error!(block_id = %id, error = %e, "conflict detection failed after a block change");
    }
}
