//! The zones things are read in: whole days of a resource's or staff member's items, and of a
//! booking.

use chrono::{DateTime, Utc};

use super::{Store, StoreError};
use kalends_core::domain::{NewBooking, Owner, Tenant, TimeZone};

impl Store {
    /// The zone all-day items of a resource or staff member are read in: theirs, else the
    /// tenant's.
    pub async fn owner_zone(&self, tenant: &Tenant, owner: Owner) -> Result<TimeZone, StoreError> {
        let zone = match owner {
            Owner::Resource(id) => self.resource(tenant.id, id).await?.data.time_zone,
            Owner::Staff(id) => self.staff(tenant.id, id).await?.data.time_zone,
        };
        Ok(zone.unwrap_or(tenant.settings.time_zone))
    }

    /// The zone a booking's days are counted in: its resource's, else the tenant's. (A timed
    /// booking also carries its own zone; this one places stays, conflicts and the reminder
    /// hour.)
    pub async fn booking_zone(
        &self,
        tenant: &Tenant,
        booking: &NewBooking,
    ) -> Result<TimeZone, StoreError> {
        match booking.resource_id {
            Some(resource) => self.owner_zone(tenant, Owner::Resource(resource)).await,
            None => Ok(tenant.settings.time_zone),
        }
    }

    /// The instants a booking covers. Only whole days need the zone they are counted in; a
    /// timed booking's instants are its own, so its resource is not read.
    pub async fn booking_instants(
        &self,
        tenant: &Tenant,
        booking: &NewBooking,
    ) -> Result<(DateTime<Utc>, DateTime<Utc>), StoreError> {
        let zone = if booking.span.is_all_day() {
            self.booking_zone(tenant, booking).await?
        } else {
            tenant.settings.time_zone
        };
        Ok(booking.span.utc_range(zone))
    }
}
