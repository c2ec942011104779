//! Storage on SQLite (the embedded default) or PostgreSQL, behind one API.
//!
//! Both backends run the same SQL text wherever the dialects agree (`$1` placeholders work on
//! both); [`with_pool!`] expands a body once per backend so each is type-checked against its own
//! driver. One file per aggregate.

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use tokio::sync::Notify;

use kalends_core::config::{AlertsConfig, DatabaseConfig, DatabaseKind};

pub(crate) mod alerts;
mod api_keys;
mod blocks;
mod booking_events;
mod bookings;
mod calendar_busy;
mod channels;
pub mod charts;
mod checklist_reminders;
mod checklists;
mod cleanups;
mod conflicts;
mod connections;
mod console;
mod customer_messages;
mod dashboard_sessions;
mod feed_content;
mod feeds;
mod history;
mod imports;
mod job_records;
mod lease;
mod maintenance;
mod organisation_log;
mod organisations;
pub(crate) mod outbox;
mod owner_writes;
mod resources;
pub(crate) mod rules;
mod sealed_tokens;
mod staff;
mod staff_sessions;
mod tenants;
pub(crate) mod webhooks;
mod widgets;
mod zones;

pub use alerts::Alert;
pub use api_keys::{ApiKeyInfo, Revocation};
pub use booking_events::{BookingEvent, EventState, LEFT_DELETED, SyncedEvent};
pub use bookings::{BookingFilter, Written};
pub use calendar_busy::{
    BusyCalendar, BusyChange, BusyWritten, CalendarBusyEvent, CalendarCursor, LaterEvents,
};
pub use channels::{Channel, NewChannel};
pub use checklist_reminders::{PlatformFigures, Reminder};
pub use checklists::{ChecklistItem, ItemFilter, Listing, Mark, NewListing, RefreshPolicy};
pub use cleanups::{CleanupChannel, ConnectionCleanup};
pub use conflicts::{ConflictReach, Detection, ExternalEditConflict, ImportedBy};
pub use connections::{
    ConnectionOwed, ConnectionPatch, CoveredMember, KeptTokens, NewConnection, OAuthFlow,
};
pub use console::{Attention, DayFigures, FailedSync};
pub use customer_messages::{CustomerMessage, MessageKind, MessageStatus, NewMessage};
pub use feed_content::{FeedBooking, FeedStamps, FeedWindow};
pub use history::HistoryLimits;
pub use imports::{
    Echoes, HoldChange, ImportPatch, LeasedImport, RunRecord, RunResult, SettingsPatch, kind_str,
};
pub use job_records::{JobFailure, SyncAttempt};
pub use lease::{HeldUntil, Lease, LeaseKey, lease_end};
pub use organisation_log::{Actor, NewLogEntry, OrganisationAction, OrganisationLogEntry};
pub use organisations::{
    Coverage, DirectoryRead, KeptCoverage, NewOrganisationConnection, OWN_CALENDAR,
    OrganisationConnection, OrganisationMember, OrganisationPatch, Readdressed,
};
pub use outbox::OutboxEntry;
pub use owner_writes::{Overlap, Replacing};
pub use rules::OwnerRules;
pub use staff_sessions::NewStaffSession;
pub use webhooks::{
    AfterAttempt, AttemptRecord, Claim, DeliveryStatus, DeliveryWork, NewWebhookEndpoint,
    WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEndpointPatch, secret_context,
};
pub use widgets::{AvailabilityWidget, WidgetLookup};
pub use zones::{PlacedPage, WholeDaysCursor};

/// Runs `$body` with `$pool` bound to the concrete pool of whichever backend `$store` uses; on
/// SQLite, the single writer connection.
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.pool {
            $crate::Pool::Sqlite { write: $pool, .. } => $body,
            $crate::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Like [`with_pool!`] for statements that only read: on SQLite they use the reader connections,
/// which never wait for the writer (WAL).
macro_rules! with_read_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.pool {
            $crate::Pool::Sqlite { read: $pool, .. } => $body,
            $crate::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_read_pool;

/// A store failure, classified so callers can answer the right status. The texts of the
/// constraint variants are what jobs record and the API answers: keep them stable.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such record in this tenant.
    #[error("not found")]
    NotFound,
    /// Another staff member, resource or booking of the tenant has that external id.
    #[error("conflict: a record with that external_id already exists")]
    DuplicateExternalId,
    /// The staff member already has a connection to that account of the provider.
    #[error("conflict: that account is already connected for this staff member")]
    DuplicateConnection,
    /// The tenant connected that Workspace domain or Microsoft 365 tenant already.
    #[error("conflict: that organisation is connected already")]
    DuplicateOrganisation,
    /// Bookings still refer to the record (a foreign key): move or delete them first.
    #[error("conflict: bookings still refer to this {what}; move or delete them first")]
    InUse {
        /// What the record is (`resource`).
        what: &'static str,
    },
    /// Rooms still belong to the resource (their `parent_id` names it): detach or delete them
    /// first.
    #[error("conflict: rooms still belong to this resource; detach or delete them first")]
    HasRooms,
    /// A reference between records would break (a foreign key), where the write does not say
    /// which: a record still referenced, or a reference to one that is gone.
    #[error("conflict: the record is still referenced by bookings")]
    ForeignKey,
    /// Someone else holds the lease the caller asked for (another run of the import).
    #[error("conflict: a run of this import is already in progress")]
    LeaseBusy,
    /// The conflict was resolved already.
    #[error("conflict: the conflict is already resolved")]
    AlreadyResolved,
    /// A one-time link was opened before.
    #[error("conflict: this link was used already")]
    LinkUsed,
    /// A field refers to something that does not exist in this tenant.
    #[error("{field}: {message}")]
    Invalid {
        /// The request field at fault.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The booking would overlap these other items of its resource or staff, and the write
    /// asked for [`Overlap::Reject`]: nothing was saved.
    #[error("the booking overlaps {} other items", .0.len())]
    Collides(Vec<kalends_core::conflict_record::ConflictItem>),
    /// The booking breaks these availability rules of its resource or staff (at least one), and
    /// the write asked for [`Overlap::Reject`]: nothing was saved.
    #[error("the booking breaks {} availability rules", .0.len())]
    BreaksRules(Vec<kalends_core::availability::Violation>),
    /// Someone else changed the record first; re-read and try again.
    #[error("the record changed concurrently")]
    VersionConflict,
    /// Stored data that no longer parses (a bug or a manual edit).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The database failed (an unexpected constraint included).
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// Migrations failed.
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// What a duplicate of a unique constraint means.
#[derive(Clone, Copy)]
enum Duplicate {
    ExternalId,
    Connection,
    Organisation,
    Link,
}

/// Every unique constraint a caller can break: PostgreSQL's name of it, the end of SQLite's
/// message for it ("UNIQUE constraint failed: staff.tenant_id, staff.external_id") and what it
/// means. Any other (a random key or id colliding) is a database error.
#[rustfmt::skip]
const UNIQUE_RULES: [(&str, &str, Duplicate); 7] = [
    ("staff_tenant_id_external_id_key", "staff.external_id", Duplicate::ExternalId),
    ("resources_tenant_id_external_id_key", "resources.external_id", Duplicate::ExternalId),
    ("bookings_tenant_id_external_id_key", "bookings.external_id", Duplicate::ExternalId),
    ("connections_staff_id_provider_account_email_key", "connections.account_email", Duplicate::Connection),
    ("organisation_connections_tenant_id_provider_domain_key", "organisation_connections.domain", Duplicate::Organisation),
    ("dashboard_sessions_link_id_key", "dashboard_sessions.link_id", Duplicate::Link),
    ("staff_sessions_link_id_key", "staff_sessions.link_id", Duplicate::Link),
];

/// Which rule a unique violation broke, if a caller can break it.
fn broken_unique_rule(db: &dyn sqlx::error::DatabaseError) -> Option<StoreError> {
    let (constraint, message) = (db.constraint(), db.message());
    let (_, _, duplicate) = UNIQUE_RULES.iter().find(|(postgres, sqlite, _)| match constraint {
        Some(name) => name == *postgres,
        None => message.starts_with("UNIQUE constraint failed") && message.ends_with(sqlite),
    })?;
    Some(match duplicate {
        Duplicate::ExternalId => StoreError::DuplicateExternalId,
        Duplicate::Connection => StoreError::DuplicateConnection,
        Duplicate::Organisation => StoreError::DuplicateOrganisation,
        Duplicate::Link => StoreError::LinkUsed,
    })
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                broken_unique_rule(db.as_ref()).unwrap_or(StoreError::Database(e))
            }
            sqlx::Error::Database(db)
                if db.is_foreign_key_violation()
                    || db.message().contains("FOREIGN KEY constraint failed") =>
            {
                StoreError::ForeignKey
            }
            _ => StoreError::Database(e),
        }
    }
}

/// The most rows one multi-row statement writes (an imported item binds 15 values a row: 960).
const MOST_ROWS: usize = 64;

/// `rows` in slices of [`MOST_ROWS`], the rest in falling powers of two (200 rows: 64, 64, 64,
/// 8): a few statements, of at most seven shapes, so each shape is prepared once per
/// connection and stays in its statement cache.
pub(crate) fn in_batches<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = if rest.len() >= MOST_ROWS { MOST_ROWS } else { 1 << rest.len().ilog2() };
        let (batch, tail) = rest.split_at(size);
        rest = tail;
        Some(batch)
    })
}

/// The most ids one `IN (...)` list binds: far below either database's limit on parameters
/// (SQLite's 32,766, PostgreSQL's 65,535), so a long list is read in several queries.
pub(crate) const IDS_PER_QUERY: usize = 1000;

/// `$first, $first+1, ...`: `count` numbered parameters, for an `IN (...)` list or a row of
/// values that both databases read the same way.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// The rows of a `VALUES` list: `rows` rows of `width` numbered parameters each, from `$first` on,
/// each written by `row` from its parameters (`"$2, $3"`), comma-separated.
pub(crate) fn value_rows(
    first: usize,
    rows: usize,
    width: usize,
    row: impl Fn(String) -> String,
) -> String {
    (0..rows).map(|i| row(placeholders(first + width * i, width))).collect::<Vec<_>>().join(", ")
}

pub(crate) fn invalid(field: &str, message: impl Into<String>) -> StoreError {
    StoreError::Invalid { field: field.into(), message: message.into() }
}

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// The connection pool of one backend.
#[derive(Clone, Debug)]
pub enum Pool {
    /// SQLite file (WAL): one writer connection, so writers queue fairly in the pool instead of
    /// polling SQLite's lock (whose busy handler sleeps up to 100 ms a try and starves unlucky
    /// writers under load), and several reader connections that never wait for it.
    Sqlite {
        /// The only connection that writes (the job queue uses it too).
        write: SqlitePool,
        /// Read-only connections.
        read: SqlitePool,
        /// One connection for WAL checkpoints, which need no lock that writers hold.
        maintenance: SqlitePool,
    },
    /// PostgreSQL server.
    Postgres(PgPool),
}

/// The store: every read and write of Kalends data goes through it.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    outbox_signal: Arc<Notify>,
    /// The quiet period and digest window of the alerts raised in the store's transactions.
    alerts: Arc<AlertsConfig>,
}

/// WAL pages (4 KiB each) above which a checkpoint truncates the log: 64 MiB.
const WAL_TRUNCATE_PAGES: i64 = 16_384;

/// Current time as stored: whole microseconds, so SQLite text and PostgreSQL agree.
pub fn now() -> DateTime<Utc> {
    let t = Utc::now();
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

impl Store {
    /// Connects to `url` (`sqlite://path` or `postgres://...`), creating a SQLite file and its
    /// folder when missing.
    pub async fn connect(
        url: &SecretString,
        options: &DatabaseConfig,
    ) -> Result<Store, StoreError> {
        let url = url.expose_secret();
        let acquire = Duration::from_secs(options.acquire_timeout_secs);
        let pool = if url.starts_with("sqlite:") {
            let connect = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // Checkpoints fsync the database; inside a commit they stall that request for as
                // long as the disk takes. `checkpoint` runs them in the background instead.
                .pragma("wal_autocheckpoint", "0")
                // When the log restarts after a checkpoint, cut the file back to 64 MiB.
                .pragma("journal_size_limit", "67108864");
            if let Some(dir) = connect.get_filename().parent().filter(|d| !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
            }
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(acquire)
                .connect_with(connect.clone())
                .await?;
            let read = SqlitePoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(acquire)
                .connect_with(connect.clone().read_only(true))
                .await?;
            let maintenance =
                SqlitePoolOptions::new().max_connections(1).connect_with(connect).await?;
            Pool::Sqlite { write, read, maintenance }
        } else {
            let connect = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(acquire)
                .connect_with(connect)
                .await?;
            Pool::Postgres(pool)
        };
        Ok(Store {
            pool,
            outbox_signal: Arc::new(Notify::new()),
            alerts: Arc::new(AlertsConfig::default()),
        })
    }

    /// This store raising the alerts of its own transactions (a conflict, a dead grant, a
    /// failed sync) with `config`'s quiet period and digest window.
    #[must_use]
    pub fn with_alerts(mut self, config: &AlertsConfig) -> Store {
        self.alerts = Arc::new(config.clone());
        self
    }

    /// Applies Kalends' own migrations (the job queue's tables are the queue's business).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite { write: pool, .. } => {
                let mut migrator = sqlx::migrate!("../migrations/sqlite");
                migrator.set_ignore_missing(true);
                migrator.run(pool).await?;
            }
            Pool::Postgres(pool) => {
                let mut migrator = sqlx::migrate!("../migrations/postgres");
                migrator.set_ignore_missing(true);
                migrator.run(pool).await?;
            }
        }
        Ok(())
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_read_pool!(self, |pool| sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Which database this is.
    pub fn kind(&self) -> DatabaseKind {
        match self.pool {
            Pool::Sqlite { .. } => DatabaseKind::Sqlite,
            Pool::Postgres(_) => DatabaseKind::Postgres,
        }
    }

    /// The underlying pool, for the job queue that keeps its tables in the same database.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Notified after every commit that wrote to the outbox, so an in-process relay moves the work
    /// to the queue at once instead of waiting for its next poll.
    pub fn outbox_signal(&self) -> Arc<Notify> {
        self.outbox_signal.clone()
    }

    /// Copies the SQLite write-ahead log into the database file without blocking readers or
    /// writers; the app runs it every few seconds (a no-op on PostgreSQL).
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        if let Pool::Sqlite { maintenance, write, .. } = &self.pool {
            let (_busy, log, _done): (i64, i64, i64) =
                sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(maintenance).await?;
            // With a steady stream of writes and readers, a passive checkpoint never finds the
            // moment to restart the log, and the file (and every read) grows without bound.
            // Past 64 MiB, truncate on the writer connection itself: writes queue for it in the
            // pool meanwhile, instead of failing with "database is locked" as a write
            // transaction on another connection would.
            if log > WAL_TRUNCATE_PAGES {
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(write).await?;
            }
        }
        Ok(())
    }

    /// Closes every connection (used on shutdown and by tests).
    pub async fn close(&self) {
        if let Pool::Sqlite { read, maintenance, .. } = &self.pool {
            read.close().await;
            maintenance.close().await;
        }
        with_pool!(self, |pool| pool.close().await);
    }
}

/// Row types both drivers can decode.
pub(crate) trait AnyRow:
    Send
    + Unpin
    + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
    + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
{
}

impl<R> AnyRow for R where
    R: Send
        + Unpin
        + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
{
}

impl Store {
    /// A page of the tenant's rows of `table` (selecting `columns`), in id order.
    pub(crate) async fn page_of<R: AnyRow, T: TryFrom<R, Error = StoreError>>(
        &self,
        table: &str,
        columns: &str,
        tenant_id: uuid::Uuid,
        after: Option<uuid::Uuid>,
        limit: u32,
        id: impl Fn(&T) -> uuid::Uuid,
    ) -> Result<Page<T>, StoreError> {
        let sql = format!(
            "SELECT {columns} FROM {table} WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2) \
             ORDER BY id LIMIT $3"
        );
        let rows: Vec<R> = with_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(after)
                .bind(i64::from(limit) + 1)
                .fetch_all(pool)
                .await
        })?;
        let items = rows.into_iter().map(T::try_from).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, limit, id))
    }

    /// The tenant's row `id` of `table` (selecting `columns`); `NotFound` when there is none.
    pub(crate) async fn one_of<R: AnyRow, T: TryFrom<R, Error = StoreError>>(
        &self,
        table: &str,
        columns: &str,
        tenant_id: uuid::Uuid,
        id: uuid::Uuid,
    ) -> Result<T, StoreError> {
        let sql = format!("SELECT {columns} FROM {table} WHERE tenant_id = $1 AND id = $2");
        let row: R = with_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(id)
                .fetch_one(pool)
                .await
        })?;
        row.try_into()
    }

    /// Deletes the tenant's row `id` of `table`; `NotFound` when there is none.
    pub(crate) async fn delete_of(
        &self,
        table: &str,
        tenant_id: uuid::Uuid,
        id: uuid::Uuid,
    ) -> Result<(), StoreError> {
        let sql = format!("DELETE FROM {table} WHERE tenant_id = $1 AND id = $2");
        let deleted = with_pool!(self, |pool| {
            sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        if deleted == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }
}

/// One page of a list, in id order (ids are UUIDv7, so creation order).
#[derive(Clone, Debug)]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// The id to pass as `after` for the next page; `None` on the last page.
    pub next_cursor: Option<uuid::Uuid>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows: the extra row only says that more exist.
    pub(crate) fn from_rows(mut items: Vec<T>, limit: u32, id: impl Fn(&T) -> uuid::Uuid) -> Self {
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next_cursor = if more { items.last().map(id) } else { None };
        Page { items, next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_of_import_s_debug_shows_the_new_url_s_host_alone() {
        let url = "https://admin.vrbo.com/icalendar/0123secret.ics".to_owned();
        let shown = format!("{:?}", ImportPatch { url: Some(url), ..ImportPatch::default() });
        assert!(shown.contains("admin.vrbo.com") && !shown.contains("0123secret"), "{shown}");
    }

    #[test]
    fn rows_are_written_in_full_batches_then_falling_powers_of_two_each_row_once() {
        let sizes = |n: usize| {
            let rows: Vec<usize> = (0..n).collect();
            let batches: Vec<&[usize]> = in_batches(&rows).collect();
            assert_eq!(batches.concat(), rows, "every row once, in order");
            batches.iter().map(|b| b.len()).collect::<Vec<_>>()
        };
        assert_eq!(sizes(0), Vec::<usize>::new());
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(200), [64, 64, 64, 8]);
        assert_eq!(sizes(127), [64, 32, 16, 8, 4, 2, 1]);
        let shapes: std::collections::HashSet<usize> = (0..1000).flat_map(sizes).collect();
        assert!(shapes.len() <= 7, "{shapes:?}");
    }
}
