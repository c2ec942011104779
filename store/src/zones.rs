//! The zones things are read in: whole days of a resource's or staff member's items, and of a
//! booking.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::{Store, StoreError, corrupt, with_pool};
use kalends_core::domain::{NewBooking, Owner, Tenant, TimeZone, local_midnight};

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

/// A tenant's whole-day items by kind, each read with the zone its days are counted in now (as
/// [`Store::owner_zone`] and [`Store::booking_zone`] give it, the tenant's bound as `$2`) and
/// the owners it is in: the table, then the statement.
fn whole_days() -> [(&'static str, String); 4] {
    // What every kind reads, from `x` joined as `joins`, its zone and owners as `owned`.
    let select = |table: &str, owned: &str, joins: &str| {
        format!(
            "SELECT x.id, x.start_date, x.end_date, x.span_start, x.span_end, {owned} \
             FROM {table} x {joins} \
             WHERE x.tenant_id = $1 AND x.start_date IS NOT NULL AND x.end_date IS NOT NULL"
        )
    };
    // A resource's or a staff member's items: theirs, else the tenant's zone.
    let owned = |table: &'static str| {
        let joins = "LEFT JOIN resources r ON r.id = x.resource_id \
                     LEFT JOIN staff s ON s.id = x.staff_id";
        (
            table,
            select(
                table,
                "COALESCE(r.time_zone, s.time_zone, $2), x.resource_id, x.staff_id",
                joins,
            ),
        )
    };
    [
        // A booking's days are its resource's, else the tenant's; it is in its staff's
        // calendars too (a row per staff member).
        (
            "bookings",
            select(
                "bookings",
                "COALESCE(r.time_zone, $2), x.resource_id, bs.staff_id",
                "LEFT JOIN resources r ON r.id = x.resource_id \
                 LEFT JOIN booking_staff bs ON bs.booking_id = x.id",
            ),
        ),
        owned("blocks"),
        owned("imported_items"),
        (
            "calendar_busy",
            select(
                "calendar_busy",
                "COALESCE(s.time_zone, $2), CAST(NULL AS UUID), x.staff_id",
                "LEFT JOIN staff s ON s.id = x.staff_id",
            ),
        ),
    ]
}

/// The staff links' copy of their bookings' ends, where it differs, for a tenant.
const BOOKING_STAFF_END: &str = "UPDATE booking_staff \
     SET span_end = (SELECT b.span_end FROM bookings b WHERE b.id = booking_staff.booking_id) \
     WHERE tenant_id = $1 AND (span_end IS NULL \
     OR span_end <> (SELECT b.span_end FROM bookings b WHERE b.id = booking_staff.booking_id))";

/// One row of [`whole_days`]: id, days, stored instants, zone, resource, staff member.
type WholeDayRow =
    (Uuid, NaiveDate, NaiveDate, DateTime<Utc>, DateTime<Utc>, String, Option<Uuid>, Option<Uuid>);

impl Store {
    /// Places every whole-day item of `tenant` (stays, blocks, imported items, calendar busy
    /// days) at midnight in its owner's zone as it is now, after a zone changed: an item stored
    /// in the zone it had when written moves. One transaction per kind; only the items that
    /// move are written. Returns the owners whose items moved, whose overlaps are to be looked
    /// at again.
    pub async fn place_whole_days(&self, tenant: &Tenant) -> Result<Vec<Owner>, StoreError> {
        let fallback = tenant.settings.time_zone.to_string();
        let mut moved_owners = HashSet::new();
        for (table, select) in whole_days() {
            // Only while it holds the days read: an item a write moved meanwhile was placed by
            // that write (in the zone as it is now, which it read after the change).
            let update = format!(
                "UPDATE {table} SET span_start = $1, span_end = $2 \
                 WHERE id = $3 AND start_date = $4 AND end_date = $5"
            );
            with_pool!(self, |pool| {
                let mut tx = pool.begin().await?;
                let rows: Vec<WholeDayRow> = sqlx::query_as(AssertSqlSafe(select.as_str()))
                    .bind(tenant.id)
                    .bind(&fallback)
                    .fetch_all(&mut *tx)
                    .await?;
                let mut placed = HashSet::new();
                for (id, start, end, stored_start, stored_end, zone, resource, staff) in rows {
                    let zone: TimeZone = zone.parse().map_err(corrupt)?;
                    let span = (local_midnight(start, zone), local_midnight(end, zone));
                    if span == (stored_start, stored_end) {
                        continue;
                    }
                    let owners = resource.map(Owner::Resource).into_iter();
                    moved_owners.extend(owners.chain(staff.map(Owner::Staff)));
                    if placed.insert(id) {
                        sqlx::query(AssertSqlSafe(update.as_str()))
                            .bind(span.0)
                            .bind(span.1)
                            .bind(id)
                            .bind(start)
                            .bind(end)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                if table == "bookings" && !placed.is_empty() {
                    // The staff links keep a copy of the end, which their reads filter on.
                    sqlx::query(BOOKING_STAFF_END).bind(tenant.id).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok::<_, StoreError>(())
            })?;
        }
        Ok(moved_owners.into_iter().collect())
    }
}
