//! The zones things are read in: whole days of a resource's or staff member's items, and of a
//! booking.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::{Store, StoreError, corrupt, with_pool, with_read_pool};
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

/// Moved items written per statement (five parameters each), each batch in its own short
/// transaction: SQLite's one writer is held for a batch, not for the whole tenant.
const MOVED_PER_UPDATE: usize = super::IDS_PER_QUERY;

/// The update placing `rows` moved items of `table` at once: per item its id, new instants and
/// the days they were computed from (a row of `VALUES`, columns `column1`..`column5`). It holds
/// only while the item still has those days: an item a write moved meanwhile was placed by that
/// write (in the zone as it is now, which it read after the change).
fn moved_update_sql(table: &str, rows: usize) -> String {
    let values = super::value_rows(1, rows, 5, |row| format!("({row})"));
    format!(
        "UPDATE {table} SET span_start = v.column2, span_end = v.column3 \
         FROM (VALUES {values}) AS v WHERE {table}.id = v.column1 \
         AND {table}.start_date = v.column4 AND {table}.end_date = v.column5"
    )
}

/// The staff links' copy of the ends of `rows` bookings (`$2`...), where it differs: their
/// reads filter on it.
fn booking_staff_end_sql(rows: usize) -> String {
    format!(
        "UPDATE booking_staff \
         SET span_end = (SELECT b.span_end FROM bookings b WHERE b.id = booking_staff.booking_id) \
         WHERE tenant_id = $1 AND booking_id IN ({}) AND (span_end IS NULL \
         OR span_end <> (SELECT b.span_end FROM bookings b WHERE b.id = booking_staff.booking_id))",
        super::placeholders(2, rows)
    )
}

/// One row of [`whole_days`]: id, days, stored instants, zone, resource, staff member.
type WholeDayRow =
    (Uuid, NaiveDate, NaiveDate, DateTime<Utc>, DateTime<Utc>, String, Option<Uuid>, Option<Uuid>);

/// An item to move: id, new instants, the days they come from.
type MovedRow = (Uuid, DateTime<Utc>, DateTime<Utc>, NaiveDate, NaiveDate);

impl Store {
    /// Places every whole-day item of `tenant` (stays, blocks, imported items, calendar busy
    /// days) at midnight in its owner's zone as it is now, after a zone changed: an item stored
    /// in the zone it had when written moves. Only the items that move are written, a thousand
    /// to a statement and a transaction. Returns the owners whose items moved, whose overlaps
    /// are to be looked at again.
    pub async fn place_whole_days(&self, tenant: &Tenant) -> Result<Vec<Owner>, StoreError> {
        let fallback = tenant.settings.time_zone.to_string();
        let mut moved_owners = HashSet::new();
        for (table, select) in whole_days() {
            let rows: Vec<WholeDayRow> = with_read_pool!(self, |pool| {
                sqlx::query_as(AssertSqlSafe(select.as_str()))
                    .bind(tenant.id)
                    .bind(&fallback)
                    .fetch_all(pool)
                    .await
            })?;
            let mut placed = HashSet::new();
            let mut moved: Vec<MovedRow> = Vec::new();
            for (id, start, end, stored_start, stored_end, zone, resource, staff) in rows {
                let zone: TimeZone = zone.parse().map_err(corrupt)?;
                let span = (local_midnight(start, zone), local_midnight(end, zone));
                if span == (stored_start, stored_end) {
                    continue;
                }
                let owners = resource.map(Owner::Resource).into_iter();
                moved_owners.extend(owners.chain(staff.map(Owner::Staff)));
                if placed.insert(id) {
                    moved.push((id, span.0, span.1, start, end));
                }
            }
            for batch in moved.chunks(MOVED_PER_UPDATE) {
                self.write_moved(tenant.id, table, batch).await?;
            }
        }
        Ok(moved_owners.into_iter().collect())
    }

    /// Writes one batch of moved items of `table` (and, for bookings, their staff links' copy
    /// of the end) in one transaction.
    async fn write_moved(
        &self,
        tenant_id: Uuid,
        table: &str,
        batch: &[MovedRow],
    ) -> Result<(), StoreError> {
        let update = moved_update_sql(table, batch.len());
        let links = (table == "bookings").then(|| booking_staff_end_sql(batch.len()));
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let mut query = sqlx::query(AssertSqlSafe(update.as_str()));
            for &(id, start, end, start_date, end_date) in batch {
                query = query.bind(id).bind(start).bind(end).bind(start_date).bind(end_date);
            }
            query.execute(&mut *tx).await?;
            if let Some(links) = &links {
                let mut query = sqlx::query(AssertSqlSafe(links.as_str())).bind(tenant_id);
                for &(id, ..) in batch {
                    query = query.bind(id);
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })
    }
}
