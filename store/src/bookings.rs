//! Bookings: every change bumps `version` and records the work it owes in the outbox, in the same
//! transaction.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::owner_writes::{self, Overlap, Replacing, begin_owner_write, reject_overlaps};
use super::rules::{self, OwnerRules};
use super::{
    Page, Pool, Store, StoreError, corrupt, invalid, now, outbox, with_pool, with_read_pool,
};
use kalends_core::availability::Rewrite;
use kalends_core::domain::{
    Booking, BookingSpan, BookingStatus, Customer, NewBooking, Tenant, TimeZone,
};
use kalends_core::job::Job;

#[derive(sqlx::FromRow)]
pub(super) struct BookingRow {
    id: Uuid,
    tenant_id: Uuid,
    external_id: Option<String>,
    resource_id: Option<Uuid>,
    status: String,
    title: String,
    description: Option<String>,
    location: Option<String>,
    customer_name: Option<String>,
    customer_email: Option<String>,
    customer_phone: Option<String>,
    start_at: Option<DateTime<Utc>>,
    end_at: Option<DateTime<Utc>>,
    time_zone: Option<String>,
    start_date: Option<NaiveDate>,
    end_date: Option<NaiveDate>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, tenant_id, external_id, resource_id, status, title, description, location, \
    customer_name, customer_email, customer_phone, start_at, end_at, time_zone, start_date, end_date, \
    version, created_at, updated_at";

/// The 16 content columns, in the order [`bind_content!`] binds them.
const CONTENT: &str = "external_id, resource_id, status, title, description, location, customer_name, \
    customer_email, customer_phone, start_at, end_at, time_zone, start_date, end_date, span_start, span_end";

impl BookingRow {
    pub(super) fn into_booking(self, staff_ids: Vec<Uuid>) -> Result<Booking, StoreError> {
        let status = BookingStatus::parse(&self.status).ok_or_else(|| corrupt(&self.status))?;
        let span =
            match (self.start_at, self.end_at, self.time_zone, self.start_date, self.end_date) {
                (Some(start), Some(end), Some(zone), None, None) => {
                    let zone: TimeZone = zone.parse().map_err(corrupt)?;
                    BookingSpan::timed(start, end, zone).map_err(corrupt)?
                }
                (None, None, None, Some(start), Some(end)) => {
                    BookingSpan::all_day(start, end).map_err(corrupt)?
                }
                _ => return Err(corrupt(format!("booking {} has an impossible span", self.id))),
            };
        let customer = match self.customer_name {
            Some(name) => Some(Customer {
                name,
                email: self.customer_email.map(|e| e.parse()).transpose().map_err(corrupt)?,
                phone: self.customer_phone,
            }),
            None => None,
        };
        Ok(Booking {
            id: self.id,
            tenant_id: self.tenant_id,
            data: NewBooking {
                external_id: self.external_id,
                resource_id: self.resource_id,
                staff_ids,
                status,
                title: self.title,
                description: self.description,
                location: self.location,
                customer,
                span,
            },
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// Filters of the booking list; all optional and combined with AND.
#[derive(Clone, Debug, Default)]
pub struct BookingFilter {
    /// Only bookings ending after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Only bookings starting before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Only bookings in this status.
    pub status: Option<BookingStatus>,
    /// Only bookings of this resource.
    pub resource_id: Option<Uuid>,
    /// Only bookings assigned to this staff member.
    pub staff_id: Option<Uuid>,
    /// The cursor: only bookings after this id.
    pub after: Option<Uuid>,
    /// Cancelled bookings only if cancelled at or after this instant: exported
    /// feeds keep a cancellation for a while so that subscribers learn of it.
    pub cancelled_since: Option<DateTime<Utc>>,
    /// Leave tentative bookings out.
    pub exclude_tentative: bool,
    /// Page size.
    pub limit: u32,
}

/// Binds the 16 [`CONTENT`] columns of `$new` (with instants read in `$home`) to `$query`.
macro_rules! bind_content {
    ($query:expr, $new:expr, $home:expr) => {{
        let new: &NewBooking = $new;
        let (span_start, span_end) = new.span.utc_range($home);
        let (start_at, end_at, zone, start_date, end_date) = match &new.span {
            BookingSpan::Timed { start, end, zone } => {
                (Some(*start), Some(*end), Some(zone.to_string()), None, None)
            }
            BookingSpan::AllDay { start, end } => (None, None, None, Some(*start), Some(*end)),
        };
        let customer = new.customer.as_ref();
        $query
            .bind(new.external_id.clone())
            .bind(new.resource_id)
            .bind(new.status.as_str())
            .bind(new.title.clone())
            .bind(new.description.clone())
            .bind(new.location.clone())
            .bind(customer.map(|c| c.name.clone()))
            .bind(customer.and_then(|c| c.email.as_ref()).map(|e| e.as_str().to_owned()))
            .bind(customer.and_then(|c| c.phone.clone()))
            .bind(start_at)
            .bind(end_at)
            .bind(zone)
            .bind(start_date)
            .bind(end_date)
            .bind(span_start)
            .bind(span_end)
    }};
}

/// Checks that the booking's resource and staff belong to the tenant; evaluates to the zone that
/// all-day spans are read in (the resource's, else the tenant's).
macro_rules! resolve_refs {
    ($tx:expr, $tenant:expr, $new:expr) => {{
        let tenant: &Tenant = $tenant;
        let new: &NewBooking = $new;
        let mut home = tenant.settings.time_zone;
        if let Some(resource_id) = new.resource_id {
            let sql = super::resources::zone_of_one_sql();
            let row: Option<(Option<String>,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(tenant.id)
                .bind(resource_id)
                .fetch_optional(&mut *$tx)
                .await?;
            match row {
                None => return Err(invalid("resource_id", "no resource with this id")),
                Some((Some(zone),)) => home = zone.parse().map_err(corrupt)?,
                Some((None,)) => {}
            }
        }
        for (i, staff_id) in new.staff_ids.iter().enumerate() {
            let found: Option<(i32,)> =
                sqlx::query_as("SELECT 1 FROM staff WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.id)
                    .bind(staff_id)
                    .fetch_optional(&mut *$tx)
                    .await?;
            if found.is_none() {
                return Err(invalid(&format!("staff_ids[{i}]"), "no staff member with this id"));
            }
        }
        home
    }};
}

/// Opens the write transaction of booking `$new` and checks its references: evaluates to the
/// transaction and the zone [`resolve_refs!`] gives. A checked write (`$overlap`
/// [`Overlap::Reject`]) has `$new`'s owners and its resource's family locked in it
/// ([`begin_owner_write!`]); on SQLite the transaction holds the only write lock. On PostgreSQL
/// the locks and the checks are one statement ([`lock_and_resolve_sql`]); a reference it does
/// not find is looked up again one by one, for the field error.
macro_rules! begin_booking_write {
    ($store:expr, $pool:expr, $tenant:expr, $new:expr, $overlap:expr) => {{
        let store: &Store = $store;
        let (tenant, new, overlap): (&Tenant, &NewBooking, Overlap) = ($tenant, $new, $overlap);
        if !store.booking_writes_together() {
            let mut tx = begin_owner_write!(store, $pool, &new.owners());
            let home = resolve_refs!(tx, tenant, new);
            (tx, home)
        } else {
            let mut tx = $pool.begin_with(store.begin_owner_write()).await?;
            // Only a checked write reads what the locks guard (see `owner_writes`).
            let keys = match overlap {
                Overlap::Reject => owner_writes::owner_keys(&new.owners()),
                Overlap::Allow => Vec::new(),
            };
            let family = overlap == Overlap::Reject && new.resource_id.is_some();
            let sql = lock_and_resolve_sql(keys.len(), new.staff_ids.len(), family);
            let mut query =
                sqlx::query_as::<_, (i64, i64, i64, Option<String>)>(AssertSqlSafe(sql))
                    .bind(tenant.id)
                    .bind(new.resource_id);
            for key in &keys {
                query = query.bind(key);
            }
            for staff_id in &new.staff_ids {
                query = query.bind(staff_id);
            }
            let (locked, resources, staff, zone) = query.fetch_one(&mut *tx).await?;
            debug_assert!(usize::try_from(locked).is_ok_and(|n| n >= keys.len()), "owners locked");
            let found = new.resource_id.is_none_or(|_| resources == 1)
                && usize::try_from(staff).is_ok_and(|n| n == new.staff_ids.len());
            let home = match (found, zone) {
                (true, Some(zone)) => zone.parse().map_err(corrupt)?,
                (true, None) => tenant.settings.time_zone,
                (false, _) => resolve_refs!(tx, tenant, new),
            };
            (tx, home)
        }
    }};
}

/// PostgreSQL: one statement taking the advisory locks of `keys` owner keys (bound from `$3`;
/// [`owner_writes::owner_locks_sql`], with the family of the booking's resource when `family`:
/// a checked write judges the family's items too), reading the booking's resource once (`$2`, `$1` the
/// tenant) and counting its `staff` staff members (bound after the keys); returns (locks taken,
/// resources found, staff found, the resource's zone). The reads run on the statement's snapshot, taken before the
/// locks: fine for references, which a lock does not guard; a check of overlaps reads after it.
fn lock_and_resolve_sql(keys: usize, staff: usize, family: bool) -> String {
    let locked = owner_writes::owner_locks_sql(3, keys, family.then_some("$2"));
    let staff = match staff {
        0 => "CAST(0 AS BIGINT)".to_owned(),
        _ => format!(
            "(SELECT count(*) FROM staff WHERE tenant_id = $1 AND id IN ({}))",
            super::placeholders(3 + keys, staff)
        ),
    };
    format!(
        "SELECT {locked}, r.found, {staff}, r.time_zone FROM (SELECT count(*) AS found, \
         max({zone}) AS time_zone FROM resources o WHERE o.tenant_id = $1 AND o.id = $2) AS r",
        zone = super::resources::zone_sql("o"),
    )
}

impl Store {
    /// Whether a booking write goes in as few statements as it can: on PostgreSQL the owners'
    /// locks with the reference checks ([`begin_booking_write!`]), and a new booking with its
    /// links and jobs ([`insert_with_links_and_jobs_sql`]); SQLite, whose statements cost no
    /// round trip and which has no data-modifying `WITH`, takes one statement each.
    fn booking_writes_together(&self) -> bool {
        matches!(self.pool, Pool::Postgres(_))
    }
}

/// Rewrites the staff links of the replaced booking `$id` and records the jobs `$owed`.
macro_rules! replace_links_and_jobs {
    ($tx:expr, $tenant_id:expr, $id:expr, $new:expr, $home:expr, $owed:expr, $at:expr) => {{
        let new: &NewBooking = $new;
        sqlx::query("DELETE FROM booking_staff WHERE booking_id = $1")
            .bind($id)
            .execute(&mut *$tx)
            .await?;
        write_links!($tx, $tenant_id, $id, new, $home);
        outbox::owe_jobs!($tx, $owed, $at);
    }};
}

/// Links the booking `$id` to `$new`'s staff, in their order, with when it ends (instants read
/// in `$home`), in `$tx`.
macro_rules! write_links {
    ($tx:expr, $tenant_id:expr, $id:expr, $new:expr, $home:expr) => {{
        let new: &NewBooking = $new;
        let (_, span_end) = new.span.utc_range($home);
        for (position, staff_id) in new.staff_ids.iter().enumerate() {
            sqlx::query("INSERT INTO booking_staff (booking_id, staff_id, tenant_id, position, span_end) VALUES ($1, $2, $3, $4, $5)")
                .bind($id)
                .bind(staff_id)
                .bind($tenant_id)
                .bind(position as i64)
                .bind(span_end)
                .execute(&mut *$tx)
                .await?;
        }
    }};
}

/// A booking just written, and the rules of its owners when the write read them on its way
/// (the conflict pass after it then need not read them again).
#[derive(Debug)]
pub struct Written {
    /// The booking as saved.
    pub booking: Booking,
    /// Its resource's and staff members' rules and zones, as [`Store::rules_of`] reads them.
    pub rules: Option<Vec<OwnerRules>>,
}

/// Booking `id` of `tenant` as just created from `new` at `at`.
fn created(tenant: &Tenant, id: Uuid, new: NewBooking, at: DateTime<Utc>) -> Booking {
    Booking { id, tenant_id: tenant.id, data: new, version: 1, created_at: at, updated_at: at }
}

/// A new booking's `cancelled_at`: its creation (`$19`) when it is made cancelled (`$3`).
const CANCELLED_AT_NEW: &str = "CASE WHEN $3 = 'cancelled' THEN $19 END";

fn insert_sql() -> String {
    format!(
        "INSERT INTO bookings (id, tenant_id, version, created_at, updated_at, cancelled_at, \
         {CONTENT}) VALUES ($17, $18, 1, $19, $19, {CANCELLED_AT_NEW}, $1, $2, $3, $4, $5, $6, \
         $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
    )
}

/// The columns of a booking's staff link and of an outbox row, as the rows below fill them.
const LINK_COLUMNS: &str = "(booking_id, staff_id, tenant_id, position, span_end)";
const JOB_COLUMNS: &str = "(job, created_at)";

/// The `VALUES` rows of a new booking's `staff` links: its id `$17`, each staff id from `$20`
/// on, the tenant `$18`, the position and its end `$16`.
fn link_rows(staff: usize) -> String {
    let rows: Vec<String> =
        (0..staff).map(|i| format!("($17, ${}, $18, {i}, $16)", 20 + i)).collect();
    rows.join(", ")
}

/// The `VALUES` rows of its `jobs` outbox rows, bound after its `staff` ids, made at `$19`.
fn job_rows(staff: usize, jobs: usize) -> String {
    super::value_rows(20 + staff, jobs, 1, |job| format!("({job}, $19)"))
}

/// [`insert_sql`] with the new booking's `staff` links and `jobs` outbox rows as data-modifying
/// `WITH` parts: one statement instead of one per row (PostgreSQL checks the links' foreign key
/// on the booking at its end). After `insert_sql`'s parameters come the staff ids, then the jobs.
fn insert_with_links_and_jobs_sql(staff: usize, jobs: usize) -> String {
    let mut parts = Vec::new();
    if staff > 0 {
        parts.push(format!(
            "links AS (INSERT INTO booking_staff {LINK_COLUMNS} VALUES {})",
            link_rows(staff)
        ));
    }
    if jobs > 0 {
        parts.push(format!(
            "jobs AS (INSERT INTO outbox {JOB_COLUMNS} VALUES {})",
            job_rows(staff, jobs)
        ));
    }
    match parts.is_empty() {
        true => insert_sql(),
        false => format!("WITH {} {}", parts.join(", "), insert_sql()),
    }
}

/// PostgreSQL, a booking written unchecked whose instants need no zone read
/// ([`Store::insert_unchecked`]): [`insert_with_links_and_jobs_sql`] as one statement of its
/// own that also reads the rules of the booking's owners. `owners` reads its resource (`$2`, if
/// any) and its `staff` staff members among the tenant's (`$18`) with their rules and zones, as
/// [`rules::rules_sql`] does; `refs` has one row when all were found, none otherwise, and each
/// part writes only with it. The statement answers one row per owner found, with the new
/// booking's id (a single row of nulls but the id when it has no owners), or no row when nothing
/// was written.
fn insert_guarded_sql(staff: usize, jobs: usize) -> String {
    let mut owners = format!(
        "owners AS (SELECT o.id, 'resource' AS kind, o.rules, {} AS time_zone FROM resources o \
         WHERE o.tenant_id = $18 AND o.id = $2",
        super::resources::zone_sql("o")
    );
    if staff > 0 {
        owners.push_str(&format!(
            " UNION ALL SELECT id, 'staff', rules, time_zone FROM staff WHERE tenant_id = $18 \
             AND id IN ({})",
            super::placeholders(20, staff)
        ));
    }
    owners.push(')');
    let refs = format!(
        "refs AS (SELECT 1 AS found WHERE (SELECT count(*) FROM owners) = \
         {staff} + CASE WHEN CAST($2 AS UUID) IS NULL THEN 0 ELSE 1 END)"
    );
    let mut parts = vec![owners, refs];
    if staff > 0 {
        parts.push(format!(
            "links AS (INSERT INTO booking_staff {LINK_COLUMNS} SELECT v.* FROM (VALUES {}) AS v, refs)",
            link_rows(staff)
        ));
    }
    if jobs > 0 {
        parts.push(format!(
            "jobs AS (INSERT INTO outbox {JOB_COLUMNS} SELECT v.* FROM (VALUES {}) AS v, refs)",
            job_rows(staff, jobs)
        ));
    }
    parts.push(format!(
        "made AS (INSERT INTO bookings (id, tenant_id, version, created_at, updated_at, \
         cancelled_at, {CONTENT}) SELECT $17, $18, 1, $19, $19, {CANCELLED_AT_NEW}, $1, $2, $3, \
         $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16 FROM refs RETURNING id)"
    ));
    format!(
        "WITH {} SELECT made.id AS made, o.id, o.kind, o.rules, o.time_zone \
         FROM made LEFT JOIN owners AS o ON true",
        parts.join(", ")
    )
}

fn update_sql() -> String {
    let sets: Vec<String> =
        CONTENT.split(", ").enumerate().map(|(i, c)| format!("{c} = ${}", i + 1)).collect();
    format!(
        "UPDATE bookings SET {}, version = version + 1, updated_at = $17, \
         cancelled_at = CASE WHEN $3 <> 'cancelled' THEN NULL \
         WHEN status = 'cancelled' THEN cancelled_at ELSE $17 END \
         WHERE tenant_id = $18 AND id = $19 AND version = $20 RETURNING created_at",
        sets.join(", ")
    )
}

impl Store {
    /// Creates the booking `id` (version 1) and records the jobs `owed` in the outbox, checked
    /// against its owners' other items in the same transaction when `overlap` is
    /// [`Overlap::Reject`].
    pub async fn create_booking(
        &self,
        tenant: &Tenant,
        id: Uuid,
        new: NewBooking,
        overlap: Overlap,
        jobs: &[Job],
    ) -> Result<Written, StoreError> {
        let at = now();
        if overlap == Overlap::Allow
            && let Some(rules) = self.insert_unchecked(tenant, id, &new, jobs, at).await?
        {
            self.outbox_signal.notify_one();
            return Ok(Written { booking: created(tenant, id, new, at), rules: Some(rules) });
        }
        let owners = new.owners();
        let together = self.booking_writes_together();
        let sql = match together {
            true => insert_with_links_and_jobs_sql(new.staff_ids.len(), jobs.len()),
            false => insert_sql(),
        };
        with_pool!(self, |pool| {
            let (mut tx, home) = begin_booking_write!(self, pool, tenant, &new, overlap);
            let candidate = owner_writes::candidate(overlap, id, &new, home);
            reject_overlaps!(tx, tenant, candidate, &owners, home, &Rewrite::new_booking());
            let mut insert = bind_content!(sqlx::query(AssertSqlSafe(sql.as_str())), &new, home)
                .bind(id)
                .bind(tenant.id)
                .bind(at);
            if together {
                for staff_id in &new.staff_ids {
                    insert = insert.bind(staff_id);
                }
                for job in jobs {
                    insert = insert.bind(outbox::encode(job)?);
                }
            }
            insert.execute(&mut *tx).await?;
            if !together {
                write_links!(tx, tenant.id, id, &new, home);
                outbox::owe_jobs!(tx, jobs, at);
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })?;
        self.outbox_signal.notify_one();
        Ok(Written { booking: created(tenant, id, new, at), rules: None })
    }

    /// PostgreSQL: writes a booking that is not checked, and whose instants need no zone read
    /// (timed, or whole days without a resource, placed in the tenant's zone), with its links
    /// and jobs in one statement that is its own transaction and reads its owners' rules
    /// ([`insert_guarded_sql`]); no owner lock is needed, as no check reads. Returns the rules
    /// when it was written; `None` on SQLite, for a booking whose zone must be read, or when a
    /// reference is not the tenant's (the caller goes the long way, which names it).
    async fn insert_unchecked(
        &self,
        tenant: &Tenant,
        id: Uuid,
        new: &NewBooking,
        jobs: &[Job],
        at: DateTime<Utc>,
    ) -> Result<Option<Vec<OwnerRules>>, StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(None);
        };
        if new.span.is_all_day() && new.resource_id.is_some() {
            return Ok(None);
        }
        let sql = insert_guarded_sql(new.staff_ids.len(), jobs.len());
        let home = tenant.settings.time_zone;
        type Row = (Uuid, Option<Uuid>, Option<String>, Option<String>, Option<String>);
        let query = sqlx::query_as::<_, Row>(AssertSqlSafe(sql));
        let mut insert = bind_content!(query, new, home).bind(id).bind(tenant.id).bind(at);
        for staff_id in &new.staff_ids {
            insert = insert.bind(staff_id);
        }
        for job in jobs {
            insert = insert.bind(outbox::encode(job)?);
        }
        let rows = insert.fetch_all(pool).await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let found = rows
            .into_iter()
            .filter_map(|(_, id, kind, rules, zone)| Some((id?, kind?, rules, zone)));
        rules::owner_rules_of(tenant, &new.owners(), found.collect()).map(Some)
    }

    /// Replaces the content of a booking that is still at `replacing.version`; otherwise
    /// [`StoreError::VersionConflict`]. The version goes up by one and the jobs `owed` are
    /// recorded; checked against its owners' other items in the same transaction when
    /// `overlap` is [`Overlap::Reject`].
    pub async fn replace_booking(
        &self,
        tenant: &Tenant,
        id: Uuid,
        replacing: Replacing,
        new: NewBooking,
        overlap: Overlap,
        owed: &[Job],
    ) -> Result<Booking, StoreError> {
        let Replacing { version: expected_version, rewrite } = replacing;
        let at = now();
        let sql = update_sql();
        let owners = new.owners();
        let created_at = with_pool!(self, |pool| {
            let (mut tx, home) = begin_booking_write!(self, pool, tenant, &new, overlap);
            let candidate = owner_writes::candidate(overlap, id, &new, home);
            reject_overlaps!(tx, tenant, candidate, &owners, home, &rewrite);
            let query = sqlx::query_as::<_, (DateTime<Utc>,)>(AssertSqlSafe(sql.as_str()));
            let Some((created_at,)) = bind_content!(query, &new, home)
                .bind(at)
                .bind(tenant.id)
                .bind(id)
                .bind(expected_version)
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Err(StoreError::VersionConflict);
            };
            replace_links_and_jobs!(tx, tenant.id, id, &new, home, owed, at);
            tx.commit().await?;
            Ok::<_, StoreError>(created_at)
        })?;
        self.outbox_signal.notify_one();
        let version = expected_version + 1;
        Ok(Booking { id, tenant_id: tenant.id, data: new, version, created_at, updated_at: at })
    }

    /// Cancels a booking: a new version, and `owed` (the removal from calendars, the customer's
    /// notice) recorded in the outbox. Cancelling a cancelled booking changes nothing.
    pub async fn cancel_booking(
        &self,
        tenant: &Tenant,
        id: Uuid,
        owed: &[Job],
    ) -> Result<Booking, StoreError> {
        let at = now();
        let changed = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(
                "UPDATE bookings SET status = 'cancelled', version = version + 1, updated_at = $1, \
                 cancelled_at = $1 WHERE tenant_id = $2 AND id = $3 AND status <> 'cancelled'",
            )
            .bind(at)
            .bind(tenant.id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 1 {
                outbox::owe_jobs!(tx, owed, at);
            }
            tx.commit().await?;
            Ok::<_, StoreError>(changed)
        })?;
        if changed == 1 {
            self.outbox_signal.notify_one();
        }
        self.booking(tenant.id, id).await
    }

    /// A booking found by id alone, whichever its tenant (for links that carry only a signed
    /// booking id, like the customer's invite link).
    pub async fn booking_anywhere(&self, id: Uuid) -> Result<Option<Booking>, StoreError> {
        let tenant: Option<(Uuid,)> = with_read_pool!(self, |pool| {
            sqlx::query_as("SELECT tenant_id FROM bookings WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        match tenant {
            Some((tenant_id,)) => self.booking(tenant_id, id).await.map(Some),
            None => Ok(None),
        }
    }

    /// One booking of the tenant.
    pub async fn booking(&self, tenant_id: Uuid, id: Uuid) -> Result<Booking, StoreError> {
        self.booking_where(tenant_id, "id = $2", Key::Id(id)).await?.ok_or(StoreError::NotFound)
    }

    /// The booking with this external id, if any.
    pub async fn booking_by_external_id(
        &self,
        tenant_id: Uuid,
        ext: &str,
    ) -> Result<Option<Booking>, StoreError> {
        self.booking_where(tenant_id, "external_id = $2", Key::External(ext)).await
    }

    async fn booking_where(
        &self,
        tenant_id: Uuid,
        cond: &str,
        key: Key<'_>,
    ) -> Result<Option<Booking>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM bookings WHERE tenant_id = $1 AND {cond}");
        let found: Option<(BookingRow, Vec<(Uuid,)>)> = with_read_pool!(self, |pool| {
            let query =
                sqlx::query_as::<_, BookingRow>(AssertSqlSafe(sql.as_str())).bind(tenant_id);
            let query = match key {
                Key::Id(id) => query.bind(id),
                Key::External(ext) => query.bind(ext),
            };
            match query.fetch_optional(pool).await? {
                None => Ok::<_, StoreError>(None),
                Some(row) => {
                    let staff = sqlx::query_as("SELECT staff_id FROM booking_staff WHERE booking_id = $1 ORDER BY position")
                        .bind(row.id)
                        .fetch_all(pool)
                        .await?;
                    Ok(Some((row, staff)))
                }
            }
        })?;
        found
            .map(|(row, staff)| row.into_booking(staff.into_iter().map(|(s,)| s).collect()))
            .transpose()
    }

    /// A page of the tenant's bookings matching `filter`, in id (creation) order. Every filter's
    /// SQL is assembled and bound in one place, for both databases.
    pub async fn list_bookings(
        &self,
        tenant_id: Uuid,
        filter: &BookingFilter,
    ) -> Result<Page<Booking>, StoreError> {
        let mut conds = vec!["tenant_id = $1".to_owned()];
        let mut n = 1;
        let mut next = |cond: &str| {
            n += 1;
            conds.push(cond.replace('?', &format!("${n}")));
        };
        filter.from.is_some().then(|| next("span_end > ?"));
        filter.to.is_some().then(|| next("span_start < ?"));
        filter.status.is_some().then(|| next("status = ?"));
        filter.resource_id.is_some().then(|| next("resource_id = ?"));
        filter.staff_id.is_some().then(|| {
            next("EXISTS (SELECT 1 FROM booking_staff bs WHERE bs.booking_id = bookings.id AND bs.staff_id = ?)")
        });
        filter.after.is_some().then(|| next("id > ?"));
        filter
            .cancelled_since
            .is_some()
            .then(|| next("(status <> 'cancelled' OR cancelled_at >= ?)"));
        if filter.exclude_tentative {
            conds.push("status <> 'tentative'".to_owned());
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM bookings WHERE {} ORDER BY id LIMIT {}",
            conds.join(" AND "),
            filter.limit + 1
        );
        let (rows, links): (Vec<BookingRow>, Vec<(Uuid, Uuid)>) = with_read_pool!(self, |pool| {
            let mut query =
                sqlx::query_as::<_, BookingRow>(AssertSqlSafe(sql.as_str())).bind(tenant_id);
            // The values of the conditions present, in their order above.
            macro_rules! bind_present {
                ($($value:expr),*) => {$(
                    if let Some(value) = $value {
                        query = query.bind(value);
                    }
                )*};
            }
            bind_present!(filter.from, filter.to, filter.status.map(|v| v.as_str()));
            bind_present!(filter.resource_id, filter.staff_id, filter.after);
            bind_present!(filter.cancelled_since);
            let rows = query.fetch_all(pool).await?;
            // Ids are ordered, so the page's staff links are those in its id range.
            let links = match (rows.first(), rows.last()) {
                (Some(first), Some(last)) => {
                    sqlx::query_as(
                        "SELECT booking_id, staff_id FROM booking_staff \
                         WHERE tenant_id = $1 AND booking_id >= $2 AND booking_id <= $3 ORDER BY booking_id, position",
                    )
                    .bind(tenant_id)
                    .bind(first.id)
                    .bind(last.id)
                    .fetch_all(pool)
                    .await?
                }
                _ => Vec::new(),
            };
            Ok::<_, StoreError>((rows, links))
        })?;
        let items = with_staff(rows, links)?;
        Ok(Page::from_rows(items, filter.limit, |b| b.id))
    }

    /// The tenant's bookings with these ids (those that exist), in id order, in two queries per
    /// thousand ids (a batch of syncs reads its bookings together).
    pub async fn bookings_by_ids(
        &self,
        tenant_id: Uuid,
        ids: &[Uuid],
    ) -> Result<Vec<Booking>, StoreError> {
        let mut bookings = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(super::IDS_PER_QUERY) {
            let list = super::placeholders(2, chunk.len());
            let sql =
                format!("SELECT {COLUMNS} FROM bookings WHERE tenant_id = $1 AND id IN ({list})");
            let links_sql = format!(
                "SELECT booking_id, staff_id FROM booking_staff WHERE tenant_id = $1 \
                 AND booking_id IN ({list}) ORDER BY booking_id, position"
            );
            let (rows, links): (Vec<BookingRow>, Vec<(Uuid, Uuid)>) =
                with_read_pool!(self, |pool| {
                    let mut query = sqlx::query_as::<_, BookingRow>(AssertSqlSafe(sql.as_str()))
                        .bind(tenant_id);
                    let mut links =
                        sqlx::query_as(AssertSqlSafe(links_sql.as_str())).bind(tenant_id);
                    for id in chunk {
                        query = query.bind(id);
                        links = links.bind(id);
                    }
                    Ok::<_, StoreError>((
                        query.fetch_all(pool).await?,
                        links.fetch_all(pool).await?,
                    ))
                })?;
            bookings.extend(with_staff(rows, links)?);
        }
        bookings.sort_unstable_by_key(|b| b.id);
        Ok(bookings)
    }
}

/// Bookings from their rows and their staff links (`(booking_id, staff_id)` in position order).
fn with_staff(rows: Vec<BookingRow>, links: Vec<(Uuid, Uuid)>) -> Result<Vec<Booking>, StoreError> {
    let mut staff: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (booking_id, staff_id) in links {
        staff.entry(booking_id).or_default().push(staff_id);
    }
    rows.into_iter()
        .map(|row| {
            let ids = staff.remove(&row.id).unwrap_or_default();
            row.into_booking(ids)
        })
        .collect()
}

enum Key<'a> {
    Id(Uuid),
    External(&'a str),
}
