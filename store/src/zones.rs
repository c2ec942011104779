//! The zones things are read in: whole days of a resource's or staff member's items, and of a
//! booking.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::{Pool, Store, StoreError, corrupt, with_pool};
use kalends_core::domain::{NewBooking, Owner, Tenant, TimeZone, local_midnight};

impl Store {
    /// The zone all-day items of a resource or staff member are read in: theirs (a room's
    /// house's when it has none), else the tenant's.
    pub async fn owner_zone(&self, tenant: &Tenant, owner: Owner) -> Result<TimeZone, StoreError> {
        let zone = match owner {
            Owner::Resource(id) => self.resource_zone(tenant.id, id).await?,
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
/// the owners it is in, a page of [`WHOLE_DAYS_PAGE`] items after the id bound as `$3` (a
/// booking has a row per staff member): the table, then the statement.
fn whole_days() -> [(&'static str, String); 4] {
    // What every kind reads, from `x` joined as `joins`, its zone and owners as `owned`.
    let select = |table: &str, owned: &str, joins: &str| {
        format!(
            "SELECT x.id, x.start_date, x.end_date, x.span_start, x.span_end, {owned} \
             FROM {table} x {joins} \
             WHERE x.id IN (SELECT y.id FROM {table} y WHERE y.tenant_id = $1 \
             AND y.start_date IS NOT NULL AND y.end_date IS NOT NULL AND y.id > $3 \
             ORDER BY y.id LIMIT {WHOLE_DAYS_PAGE}) ORDER BY x.id"
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
                &format!(
                    "COALESCE({}, s.time_zone, $2), x.resource_id, x.staff_id",
                    super::resources::zone_sql("r")
                ),
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
                &format!(
                    "COALESCE({}, $2), x.resource_id, bs.staff_id",
                    super::resources::zone_sql("r")
                ),
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

/// Whole-day items read, placed and written per transaction: SQLite's one writer is held for
/// a page, not for the whole tenant, and an item cannot change between its read and its write.
const WHOLE_DAYS_PAGE: usize = super::IDS_PER_QUERY;

/// The update placing `rows` moved items of `table` at once: per item its id and new instants
/// (a row of `VALUES`, columns `column1`..`column3`).
fn moved_update_sql(table: &str, rows: usize) -> String {
    let values = super::value_rows(1, rows, 3, |row| format!("({row})"));
    format!(
        "UPDATE {table} SET span_start = v.column2, span_end = v.column3 \
         FROM (VALUES {values}) AS v WHERE {table}.id = v.column1"
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

/// Where a move of whole days goes on: the kind of item (stays, blocks, imported items,
/// calendar busy days) and the last item placed. The default is the start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WholeDaysCursor {
    kind: usize,
    after: Option<Uuid>,
}

/// What one page of a move of whole days did.
#[derive(Clone, Debug, Default)]
pub struct PlacedPage {
    /// The owners whose items moved, whose overlaps are to be looked at again.
    pub moved: Vec<Owner>,
    /// Where the move goes on; `None` when every kind is done.
    pub next: Option<WholeDaysCursor>,
}

impl Store {
    /// Places one page of the whole-day items of `tenant` (stays, blocks, imported items,
    /// calendar busy days) at midnight in its owner's zone as it is now, after a zone changed:
    /// an item stored in the zone it had when written moves. The page is read and its moved
    /// items written (a thousand to a statement) in one transaction, so a write that moves an
    /// item meanwhile waits or comes after. Call it from [`WholeDaysCursor::default`] on until
    /// `next` is `None`.
    pub async fn place_whole_days(
        &self,
        tenant: &Tenant,
        at: WholeDaysCursor,
    ) -> Result<PlacedPage, StoreError> {
        let kinds = whole_days();
        let Some((table, select)) = kinds.get(at.kind) else {
            return Ok(PlacedPage::default());
        };
        let fallback = tenant.settings.time_zone.to_string();
        // SQLite's writer transaction holds everything it reads; PostgreSQL locks the rows read.
        let select = match &self.pool {
            Pool::Postgres(_) => format!("{select} FOR UPDATE OF x"),
            Pool::Sqlite { .. } => select.clone(),
        };
        with_pool!(self, |pool| {
            async {
                let mut tx = pool.begin().await?;
                let rows: Vec<WholeDayRow> = sqlx::query_as(AssertSqlSafe(select.as_str()))
                    .bind(tenant.id)
                    .bind(&fallback)
                    .bind(at.after.unwrap_or(Uuid::nil()))
                    .fetch_all(&mut *tx)
                    .await?;
                let mut read = HashSet::new();
                let mut moved_owners = HashSet::new();
                let mut moved: Vec<(Uuid, DateTime<Utc>, DateTime<Utc>)> = Vec::new();
                for &(id, start, end, stored_start, stored_end, ref zone, resource, staff) in &rows
                {
                    let first = read.insert(id);
                    let zone: TimeZone = zone.parse().map_err(corrupt)?;
                    let span = (local_midnight(start, zone), local_midnight(end, zone));
                    if span == (stored_start, stored_end) {
                        continue;
                    }
                    let owners = resource.map(Owner::Resource).into_iter();
                    moved_owners.extend(owners.chain(staff.map(Owner::Staff)));
                    if first {
                        moved.push((id, span.0, span.1));
                    }
                }
                if !moved.is_empty() {
                    let update = moved_update_sql(table, moved.len());
                    let mut query = sqlx::query(AssertSqlSafe(update.as_str()));
                    for &(id, start, end) in &moved {
                        query = query.bind(id).bind(start).bind(end);
                    }
                    query.execute(&mut *tx).await?;
                    if *table == "bookings" {
                        let links = booking_staff_end_sql(moved.len());
                        let mut query = sqlx::query(AssertSqlSafe(links.as_str())).bind(tenant.id);
                        for &(id, ..) in &moved {
                            query = query.bind(id);
                        }
                        query.execute(&mut *tx).await?;
                    }
                }
                tx.commit().await?;
                let next = match rows.last() {
                    Some(&(last, ..)) if read.len() == WHOLE_DAYS_PAGE => {
                        Some(WholeDaysCursor { kind: at.kind, after: Some(last) })
                    }
                    _ => (at.kind + 1 < kinds.len())
                        .then_some(WholeDaysCursor { kind: at.kind + 1, after: None }),
                };
                Ok::<_, StoreError>(PlacedPage { moved: moved_owners.into_iter().collect(), next })
            }
            .await
        })
    }
}
