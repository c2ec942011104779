//! One expiring-lease primitive for every "one holder at a time" rule of the store: a booking's
//! sync, an import's run, a connection's token refresh, a connection cleanup, a periodic upkeep.
//!
//! A [`Lease`] says where a lease lives: a row of `table` found by its `key` column, whose
//! `until` column holds the instant the lease runs out. Taking it succeeds when nobody holds it
//! (no row, a NULL `until`, or an `until` in the past); renewing names the `until` the holder
//! last set, so only the holder can renew it (anyone else's `until` differs); releasing frees
//! it at once. Batch claims (the outbox, expiring push channels) and the due-work claim
//! ([`Store::claim_due`]) pick many rows by a condition instead and keep their own SQL.
//!
//! Work that must be the only one of its kind while it runs holds its lease with
//! [`Store::hold`] (or [`Store::hold_many`]), which renews it as it goes: a lease that ran out
//! under a live run would let a second run start beside it.

use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::{Store, StoreError, now, with_pool, with_read_pool};

/// Where a lease lives and how it behaves.
#[derive(Clone, Copy, Debug)]
pub struct Lease {
    /// The table that holds the lease.
    table: &'static str,
    /// The column that names what is leased (a primary key or unique column of `table`).
    key: &'static str,
    /// Further columns a taker must name (equality only), e.g. the tenant the row must belong
    /// to; they are checked on take only.
    guards: &'static [&'static str],
    /// The column holding the instant the lease runs out.
    until: &'static str,
    /// How the lease is stored.
    home: Home,
    /// Whether a lease whose `until` equals now is free (`<=`) or still held (`<`).
    free_at_end: bool,
    /// Whether its holder may still renew a lease that ran out but that nobody took since.
    renew_expired: bool,
    /// For a lease row, the column set to when its holder took it (renewals leave it).
    taken_at: Option<&'static str>,
}

/// How a lease is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Home {
    /// A nullable column of a row that exists for its own sake: taking sets it, releasing
    /// clears it (a missing row cannot be taken).
    Column,
    /// A row of a table of leases: taking inserts it (or takes over an expired one), releasing
    /// deletes it.
    Row,
}

/// A value of a lease's key or guard column.
#[derive(Clone, Copy, Debug)]
pub enum LeaseKey<'a> {
    /// An id.
    Id(Uuid),
    /// A number (a version).
    Int(i64),
    /// A name.
    Text(&'a str),
}

impl From<Uuid> for LeaseKey<'_> {
    fn from(id: Uuid) -> Self {
        LeaseKey::Id(id)
    }
}

impl<'a> From<&'a str> for LeaseKey<'a> {
    fn from(name: &'a str) -> Self {
        LeaseKey::Text(name)
    }
}

/// Binds each of `keys` to `query` in order (a macro so it serves both drivers' query types).
macro_rules! bind_keys {
    ($query:expr, $keys:expr) => {{
        let mut query = $query;
        for key in $keys {
            query = match *key {
                LeaseKey::Id(id) => query.bind(id),
                LeaseKey::Int(n) => query.bind(n),
                LeaseKey::Text(text) => query.bind(text),
            };
        }
        query
    }};
}

/// Binds each of `ids` (a lease row's keys) to `query` in order, after what it binds already.
macro_rules! bind_ids {
    ($query:expr, $ids:expr) => {{
        let mut query = $query;
        for id in $ids {
            query = query.bind(id);
        }
        query
    }};
}

impl Lease {
    /// One sync of a booking at a time (`sync_leases`, keyed by booking id). A holder whose lease
    /// ran out stops even if nobody took it.
    pub const BOOKING_SYNC: Lease = Lease {
        table: "sync_leases",
        key: "booking_id",
        guards: &[],
        until: "until",
        home: Home::Row,
        free_at_end: false,
        renew_expired: false,
        taken_at: Some("taken_at"),
    };

    /// One run of an import at a time (`imports.running_until`, by id; taken within a tenant).
    pub const IMPORT_RUN: Lease = Lease {
        table: "imports",
        key: "id",
        guards: &["tenant_id"],
        until: "running_until",
        home: Home::Column,
        free_at_end: false,
        renew_expired: true,
        taken_at: None,
    };

    /// One refresh of a connection's tokens at a time (`connections.refresh_lease_until`), taken
    /// only while the tokens are still at the version the taker found stale.
    pub const TOKEN_REFRESH: Lease = Lease {
        table: "connections",
        key: "id",
        guards: &["token_version"],
        until: "refresh_lease_until",
        home: Home::Column,
        free_at_end: false,
        renew_expired: false,
        taken_at: None,
    };

    /// One import of a connection's busy times at a time (`connections.import_held_until`).
    pub const CALENDAR_IMPORT: Lease = Lease {
        table: "connections",
        key: "id",
        guards: &[],
        until: "import_held_until",
        home: Home::Column,
        free_at_end: false,
        renew_expired: false,
        taken_at: None,
    };

    /// One run of a connection cleanup at a time (`connection_cleanups.claimed_until`).
    pub const CONNECTION_CLEANUP: Lease = Lease {
        table: "connection_cleanups",
        key: "id",
        guards: &[],
        until: "claimed_until",
        home: Home::Column,
        free_at_end: false,
        renew_expired: false,
        taken_at: None,
    };

    /// One read or change of an organisation connection at a time
    /// (`organisation_connections.held_until`, by id; taken within a tenant).
    pub const ORGANISATION: Lease = Lease {
        table: "organisation_connections",
        key: "id",
        guards: &["tenant_id"],
        until: "held_until",
        home: Home::Column,
        free_at_end: false,
        renew_expired: false,
        taken_at: None,
    };

    /// One run of a periodic upkeep per period (`maintenance_runs`, keyed by name): the lease
    /// is never released, its end is when the next run is due (and due at that very instant).
    pub const MAINTENANCE: Lease = Lease {
        table: "maintenance_runs",
        key: "name",
        guards: &[],
        until: "next_run_at",
        home: Home::Row,
        free_at_end: true,
        renew_expired: false,
        taken_at: None,
    };

    /// `until` compared with the current instant (`$at`) says the lease is free.
    fn runs_out(&self, column: &str, at: usize) -> String {
        let cmp = if self.free_at_end { "<=" } else { "<" };
        format!("{column} {cmp} ${at}")
    }

    /// A lease row's taken-at column as a take writes it (the instant bound as `now`): the
    /// column, its value and its update on takeover, each with a leading comma; empty without.
    fn taken_columns(&self, now: &str) -> (String, String, String) {
        match self.taken_at {
            Some(column) => (
                format!(", {column}"),
                format!(", {now}"),
                format!(", {column} = excluded.{column}"),
            ),
            None => Default::default(),
        }
    }

    fn take_sql(&self) -> String {
        let Lease { table, key, until, .. } = *self;
        // $1 until, $2 now, $3 key, $4.. guards.
        let guards: String =
            self.guards.iter().enumerate().map(|(i, g)| format!(" AND {g} = ${}", i + 4)).collect();
        match self.home {
            Home::Column => format!(
                "UPDATE {table} SET {until} = $1 WHERE {key} = $3{guards} \
                 AND ({until} IS NULL OR {})",
                self.runs_out(until, 2)
            ),
            Home::Row => {
                debug_assert!(self.guards.is_empty(), "a lease row has no guard columns");
                let (columns, values, set) = self.taken_columns("$2");
                format!(
                    "INSERT INTO {table} ({key}, {until}{columns}) VALUES ($3, $1{values}) \
                     ON CONFLICT ({key}) DO UPDATE SET {until} = excluded.{until}{set} WHERE {}",
                    self.runs_out(&format!("{table}.{until}"), 2)
                )
            }
        }
    }

    /// [`Self::take_sql`] for a lease in a column, answering `returning` of the row it took (no
    /// row when the lease is held, or there is no such row): the take and the read of the
    /// leased row in one statement, under the same condition as [`Store::take_lease`].
    pub(super) fn take_returning_sql(&self, returning: &str) -> String {
        debug_assert!(self.home == Home::Column, "only a lease in a column has a row to read");
        format!("{} RETURNING {returning}", self.take_sql())
    }

    fn renew_sql(&self) -> String {
        let Lease { table, key, until, .. } = *self;
        // $1 new until, $2 key, $3 held, $4 now.
        let live = if self.renew_expired { String::new() } else { format!(" AND {until} >= $4") };
        format!("UPDATE {table} SET {until} = $1 WHERE {key} = $2 AND {until} = $3{live}")
    }

    /// [`Self::take_sql`] for `count` keys of a lease row at once (`$1` until, `$2` now, `$3..`
    /// the keys), answering the keys it took.
    fn take_many_sql(&self, count: usize) -> String {
        let Lease { table, key, until, .. } = *self;
        debug_assert!(self.home == Home::Row && self.guards.is_empty(), "lease rows only");
        let (columns, values, set) = self.taken_columns("$2");
        let rows: Vec<String> = (0..count).map(|i| format!("(${}, $1{values})", i + 3)).collect();
        format!(
            "INSERT INTO {table} ({key}, {until}{columns}) VALUES {} ON CONFLICT ({key}) \
             DO UPDATE SET {until} = excluded.{until}{set} WHERE {} RETURNING {key}",
            rows.join(", "),
            self.runs_out(&format!("{table}.{until}"), 2)
        )
    }

    fn release_sql(&self) -> String {
        let Lease { table, key, until, .. } = *self;
        match self.home {
            Home::Column => format!("UPDATE {table} SET {until} = NULL WHERE {key} = $1"),
            Home::Row => format!("DELETE FROM {table} WHERE {key} = $1"),
        }
    }

    /// [`Self::release_sql`] only while the lease still runs to `$2` or `$3` (its holder's ends).
    fn release_own_sql(&self) -> String {
        format!("{} AND {} IN ($2, $3)", self.release_sql(), self.until)
    }
}

impl Store {
    /// Takes `lease` on `key` until `until` (give it whole microseconds if the holder will renew
    /// it: what the databases keep); `guards` are the values of the lease's guard columns.
    /// `false` while someone else holds it (or, for a lease in a column, when there is no such
    /// row).
    pub async fn take_lease(
        &self,
        lease: &Lease,
        key: LeaseKey<'_>,
        guards: &[LeaseKey<'_>],
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        debug_assert_eq!(guards.len(), lease.guards.len(), "one value per guard column");
        let sql = lease.take_sql();
        let taken = with_pool!(self, |pool| {
            let query = sqlx::query(AssertSqlSafe(sql.as_str())).bind(until).bind(now());
            let query = bind_keys!(query, std::iter::once(&key).chain(guards));
            query.execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(taken == 1)
    }

    /// Moves the end of `lease` on `key` from `held` (what its holder took or last renewed) to
    /// `until`; `false` when the lease is no longer the caller's (someone took it, it was
    /// released, or it ran out for a lease that does not renew expired holds).
    pub async fn renew_lease(
        &self,
        lease: &Lease,
        key: LeaseKey<'_>,
        held: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let sql = lease.renew_sql();
        let renewed = with_pool!(self, |pool| {
            let query = sqlx::query(AssertSqlSafe(sql.as_str())).bind(until);
            let query = bind_keys!(query, [&key]).bind(held);
            let query = if lease.renew_expired { query } else { query.bind(now()) };
            query.execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(renewed == 1)
    }

    /// Takes `lease` (a lease row without guards, such as [`Lease::BOOKING_SYNC`]) on each of
    /// `keys` that nobody holds, in one statement, until `until` (whole microseconds); returns
    /// the keys it took. Keys are taken in sorted order, so two takers of overlapping sets never
    /// wait on each other crosswise.
    pub async fn take_leases(
        &self,
        lease: &Lease,
        keys: &[Uuid],
        until: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, StoreError> {
        let mut keys = keys.to_vec();
        keys.sort_unstable();
        keys.dedup();
        if keys.is_empty() {
            return Ok(keys);
        }
        let sql = lease.take_many_sql(keys.len());
        let taken: Vec<(Uuid,)> = with_pool!(self, |pool| {
            let query = sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(until).bind(now());
            bind_ids!(query, &keys).fetch_all(pool).await
        })?;
        Ok(taken.into_iter().map(|(key,)| key).collect())
    }

    /// Moves the end of `lease` on every one of `keys` (all taken together by
    /// [`Self::take_leases`]) from `held` to `until`; `false` when any of them is no longer the
    /// caller's (a lease that ran out counts as lost: only leases that do not renew expired
    /// holds, such as [`Lease::BOOKING_SYNC`]).
    pub async fn renew_leases(
        &self,
        lease: &Lease,
        keys: &[Uuid],
        held: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let Lease { table, key, until: column, .. } = *lease;
        debug_assert!(!lease.renew_expired, "a lease that runs out is not renewed");
        let sql = format!(
            "UPDATE {table} SET {column} = $1 WHERE {column} = $2 AND {column} >= $3 AND {key} IN ({})",
            super::placeholders(4, keys.len())
        );
        let renewed = with_pool!(self, |pool| {
            let query = sqlx::query(AssertSqlSafe(sql.as_str())).bind(until).bind(held).bind(now());
            bind_ids!(query, keys).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(renewed == keys.len() as u64)
    }

    /// Frees `lease` on each of `keys` whoever holds it, in one statement.
    pub async fn release_leases(&self, lease: &Lease, keys: &[Uuid]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let Lease { table, key, .. } = *lease;
        debug_assert!(lease.home == Home::Row, "lease rows only");
        let sql =
            format!("DELETE FROM {table} WHERE {key} IN ({})", super::placeholders(1, keys.len()));
        with_pool!(self, |pool| {
            let query = sqlx::query(AssertSqlSafe(sql.as_str()));
            bind_ids!(query, keys).execute(pool).await.map(|_| ())
        })?;
        Ok(())
    }

    /// Keeps `lease` on each of `keys` (rows this process holds) until `until`, whether that is
    /// sooner or later than they ran to: their holder is done, but what it did may not be over.
    pub async fn keep_leases(
        &self,
        lease: &Lease,
        keys: &[Uuid],
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let Lease { table, key, until: column, .. } = *lease;
        debug_assert!(lease.home == Home::Row, "lease rows only");
        let sql = format!(
            "UPDATE {table} SET {column} = $1 WHERE {key} IN ({})",
            super::placeholders(2, keys.len())
        );
        with_pool!(self, |pool| {
            let query = sqlx::query(AssertSqlSafe(sql.as_str())).bind(until);
            bind_ids!(query, keys).execute(pool).await.map(|_| ())
        })?;
        Ok(())
    }

    /// When `lease` on each of `keys` that is held runs out, in one read (a key nobody holds is
    /// left out).
    pub async fn lease_ends(
        &self,
        lease: &Lease,
        keys: &[Uuid],
    ) -> Result<Vec<(Uuid, DateTime<Utc>)>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let Lease { table, key, until: column, .. } = *lease;
        debug_assert!(lease.home == Home::Row, "lease rows only");
        let sql = format!(
            "SELECT {key}, {column} FROM {table} WHERE {key} IN ({})",
            super::placeholders(1, keys.len())
        );
        let ends = with_read_pool!(self, |pool| {
            let query = sqlx::query_as(AssertSqlSafe(sql.as_str()));
            bind_ids!(query, keys).fetch_all(pool).await
        })?;
        Ok(ends)
    }

    /// Frees `lease` on `key` whoever holds it (its holder is done, or gives up).
    pub async fn release_lease(&self, lease: &Lease, key: LeaseKey<'_>) -> Result<(), StoreError> {
        let sql = lease.release_sql();
        with_pool!(self, |pool| {
            bind_keys!(sqlx::query(AssertSqlSafe(sql.as_str())), [&key])
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Frees `lease` on `key` if the caller still holds it as [`Self::hold`] left it (`held`):
    /// a holder giving up late must not free a lease another has taken since its own ran out.
    pub async fn release_own_lease(
        &self,
        lease: &Lease,
        key: LeaseKey<'_>,
        held: HeldUntil,
    ) -> Result<(), StoreError> {
        let sql = lease.release_own_sql();
        let (until, renewing) = held.ends();
        with_pool!(self, |pool| {
            bind_keys!(sqlx::query(AssertSqlSafe(sql.as_str())), [&key])
                .bind(until)
                .bind(renewing)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }
}

/// What a holder knows of its lease (no lock is held across an await).
fn noted(state: &Mutex<HeldUntil>) -> MutexGuard<'_, HeldUntil> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where [`Store::hold`] left a lease: the end it last renewed it to, and the end of a renewal
/// that was under way when the work ended (it may have been written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldUntil {
    until: DateTime<Utc>,
    renewing: Option<DateTime<Utc>>,
}

impl HeldUntil {
    /// The ends the lease has while it is still the holder's: the one it last renewed it to,
    /// and that of a renewal under way when the work ended (the same when none was).
    pub fn ends(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (self.until, self.renewing.unwrap_or(self.until))
    }
}

/// The end of a lease of `length` taken or renewed now, in whole microseconds (what the
/// databases keep, so the holder can name its own lease when it renews it).
pub fn lease_end(length: Duration) -> DateTime<Utc> {
    let end = Utc::now() + chrono::Duration::from_std(length).unwrap_or_default();
    DateTime::from_timestamp_micros(end.timestamp_micros()).unwrap_or(end)
}

impl Store {
    /// Runs `work` under `lease` on `key`, which the caller took until `held` (from
    /// [`lease_end`]), renewing it for another `length` every third of `length`. `Ok(None)` when
    /// a renewal found the lease no longer the caller's (the database was unreachable for a
    /// whole lease, and another run may hold it now): `work` was dropped and must have recorded
    /// nothing. The lease is not released: that is the caller's business, with the
    /// [`HeldUntil`] answered beside the work's output.
    ///
    /// `work` is boxed before anything awaits: a job's future is large, and held twice in the
    /// caller's state (debug builds keep a moved-out local) it overflows small stacks (test
    /// threads).
    pub fn hold<'a, T: Send + 'a>(
        &'a self,
        lease: &'a Lease,
        key: LeaseKey<'a>,
        held: DateTime<Utc>,
        length: Duration,
        work: impl Future<Output = T> + Send + 'a,
    ) -> impl Future<Output = Result<Option<(T, HeldUntil)>, StoreError>> + Send + 'a {
        let renew = move |held, until| self.renew_lease(lease, key, held, until);
        hold_with(renew, held, length, work)
    }

    /// [`Self::hold`] for the leases on several `keys` taken together
    /// ([`Self::take_leases`]): renewed together, and lost together when any one of them is.
    pub fn hold_many<'a, T: Send + 'a>(
        &'a self,
        lease: &'a Lease,
        keys: &'a [Uuid],
        held: DateTime<Utc>,
        length: Duration,
        work: impl Future<Output = T> + Send + 'a,
    ) -> impl Future<Output = Result<Option<T>, StoreError>> + Send + 'a {
        let renew = move |held, until| self.renew_leases(lease, keys, held, until);
        let held = hold_with(renew, held, length, work);
        async move { Ok(held.await?.map(|(done, _)| done)) }
    }
}

fn hold_with<'a, T: Send + 'a, R>(
    renew_lease: impl Fn(DateTime<Utc>, DateTime<Utc>) -> R + Send + 'a,
    held: DateTime<Utc>,
    length: Duration,
    work: impl Future<Output = T> + Send + 'a,
) -> impl Future<Output = Result<Option<(T, HeldUntil)>, StoreError>> + Send + 'a
where
    R: Future<Output = Result<bool, StoreError>> + Send + 'a,
{
    let work = Box::pin(work);
    async move {
        let state = &Mutex::new(HeldUntil { until: held, renewing: None });
        // Renewed beside the work, never instead of it: a renewal waiting for a connection the
        // work holds (SQLite's one writer, mid-transaction) must not stop the work that gives it
        // back. One dropped halfway because the work ended may have been written: its end is
        // answered too, so the caller's release finds the lease either way.
        let renewing = async move {
            let mut renew = tokio::time::interval((length / 3).max(Duration::from_millis(10)));
            renew.tick().await;
            let mut held = held;
            loop {
                renew.tick().await;
                let until = lease_end(length);
                noted(state).renewing = Some(until);
                if !renew_lease(held, until).await? {
                    return Ok::<_, StoreError>(None);
                }
                held = until;
                *noted(state) = HeldUntil { until, renewing: None };
            }
        };
        tokio::select! {
            biased;
            done = work => Ok(Some((done, *noted(state)))),
            lost = renewing => lost,
        }
    }
}
