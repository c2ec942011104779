//! What an exported feed holds, summarised cheaply so the server can answer a conditional GET
//! without rendering anything.

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::bookings::BookingRow;
use super::{Pool, Store, StoreError, corrupt, with_read_pool};
use kalends_core::domain::{Booking, Feed, FeedProfile, FeedScope, Owner};

/// Which items an exported feed shows today.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedWindow {
    /// Items that ended before this leave the feed.
    pub past_cutoff: DateTime<Utc>,
    /// Cancelled bookings stay (as `STATUS:CANCELLED`) if cancelled at or after this.
    pub cancelled_since: DateTime<Utc>,
}

/// A booking row with the instants its span covers.
#[derive(sqlx::FromRow)]
struct FeedBookingRow {
    #[sqlx(flatten)]
    booking: BookingRow,
    span_start: DateTime<Utc>,
    span_end: DateTime<Utc>,
    stamp: String,
}

/// A booking as a feed renders it, with the instants its span covers (UTC).
#[derive(Debug)]
pub struct FeedBooking {
    /// The booking, without its staff (a feed does not show them), and under a busy feed
    /// without its words (title empty, no description, location or customer: that feed never
    /// shows them).
    pub booking: Booking,
    /// Where its span starts and ends, as the store orders bookings.
    pub span: (DateTime<Utc>, DateTime<Utc>),
    /// Its version and last change as text: a new stamp whenever anything of the booking
    /// changes (every write bumps the version), the same as [`FeedStamps`] lists.
    pub stamp: String,
}

/// What identifies a booking's state in a feed listing: its version and last change, as text.
/// The same expression in the listing and in the rows, so equal stamps mean an unchanged row.
const STAMP: &str = "b.version || ':' || b.updated_at";

/// The bookings a feed shows, each with its stamp: one text aggregated by the database
/// (`ID:STAMP` items separated by commas, in no particular order), so that 10,000 bookings
/// cross the driver as one value instead of 10,000 rows.
#[derive(Debug, Default)]
pub struct FeedStamps {
    text: String,
}

impl FeedStamps {
    /// Each booking's id and stamp, in the feed's order (by id, as the database orders them:
    /// byte by byte).
    pub fn entries(&self) -> Result<Vec<(Uuid, &str)>, StoreError> {
        let mut entries = self
            .text
            .split(',')
            .filter(|item| !item.is_empty())
            .map(|item| {
                let (id, stamp) = item
                    .split_once(':')
                    .ok_or_else(|| corrupt("a feed listing without a stamp"))?;
                Ok((Uuid::try_parse(id).map_err(corrupt)?, stamp))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // Sorted here rather than by the aggregate, which would sort in the database.
        entries.sort_unstable_by_key(|(id, _)| *id);
        Ok(entries)
    }
}

/// The condition that keeps a feed's bookings to its scope, and the id bound as `$2`. A
/// resource's feed shows its family's bookings too (a booking of the house closes each room,
/// and one of a room the house), under the feed's own profile.
fn scope_of(feed: &Feed) -> (String, Uuid) {
    match feed.data.scope {
        // $2 is bound in every case; naming it keeps both drivers happy.
        FeedScope::Tenant => ("AND $2 IS NOT NULL".to_owned(), Uuid::nil()),
        FeedScope::Owner(Owner::Resource(id)) => {
            let family = super::resources::family_sql("$1", "$2");
            (format!("AND b.resource_id IN (SELECT id FROM ({family}) AS family)"), id)
        }
        FeedScope::Owner(Owner::Staff(id)) => (
            "AND b.id IN (SELECT booking_id FROM booking_staff WHERE staff_id = $2)".to_owned(),
            id,
        ),
    }
}

impl Store {
    /// The `FROM` item of the bookings of `feed`, all of them. A resource's feed reads them
    /// through `bookings_resource_feed`, which holds every column the listing needs, in id
    /// order. SQLite keeps no statistics here and would otherwise take the range of
    /// `bookings_resource_span_end` and look up each row (twice the time at 10,000 bookings).
    fn feed_table(&self, feed: &Feed) -> &'static str {
        match (&self.pool, feed.data.scope) {
            (Pool::Sqlite { .. }, FeedScope::Owner(Owner::Resource(_))) => {
                "bookings b INDEXED BY bookings_resource_feed"
            }
            _ => "bookings b",
        }
    }

    /// The ids and stamps of the bookings `feed` shows in `window`, those
    /// [`Store::feed_bookings`] would hand over: what an incremental render compares with the
    /// events it kept. For a resource's feed, one range scan of `bookings_resource_feed`.
    pub async fn feed_stamps(
        &self,
        feed: &Feed,
        window: &FeedWindow,
    ) -> Result<FeedStamps, StoreError> {
        let (scope, scope_id) = scope_of(feed);
        // The id as text: SQLite stores it as a 16-byte blob, PostgreSQL as a uuid.
        let id = match self.pool {
            Pool::Sqlite { .. } => "hex(b.id)",
            Pool::Postgres(_) => "CAST(b.id AS TEXT)",
        };
        let sql = format!(
            "SELECT string_agg({id} || ':' || {STAMP}, ',') FROM {} WHERE {}",
            self.feed_table(feed),
            conditions(&scope)
        );
        let text: Option<String> = with_read_pool!(self, |pool| {
            sqlx::query_scalar(AssertSqlSafe(sql.as_str()))
                .bind(feed.tenant_id)
                .bind(scope_id)
                .bind(window.past_cutoff)
                .bind(window.cancelled_since)
                .bind(feed.data.include_tentative)
                .fetch_one(pool)
                .await
        })?;
        Ok(FeedStamps { text: text.unwrap_or_default() })
    }

    /// The bookings `feed` shows in `window`, in id (creation) order, each handed to `each` as
    /// it is read: one query, with only the columns a feed renders (and, for a busy feed, none
    /// of the booking's words). With `only`, just those of the bookings among them (at most a
    /// few hundred: one parameter each).
    pub async fn feed_bookings(
        &self,
        feed: &Feed,
        window: &FeedWindow,
        only: Option<&[Uuid]>,
        mut each: impl FnMut(FeedBooking) + Send,
    ) -> Result<(), StoreError> {
        use futures::TryStreamExt as _;
        let (scope, scope_id) = scope_of(feed);
        let words = match feed.data.profile {
            FeedProfile::Details => {
                "b.title, b.description, b.location, b.customer_name, b.customer_email, \
                 b.customer_phone"
            }
            FeedProfile::Busy => {
                "CAST('' AS TEXT) AS title, CAST(NULL AS TEXT) AS description, \
                 CAST(NULL AS TEXT) AS location, CAST(NULL AS TEXT) AS customer_name, \
                 CAST(NULL AS TEXT) AS customer_email, CAST(NULL AS TEXT) AS customer_phone"
            }
        };
        // A few bookings by their ids: by the primary key.
        let (table, ids) = match only {
            Some([]) => return Ok(()),
            Some(ids) => {
                ("bookings b", format!("AND b.id IN ({})", super::placeholders(6, ids.len())))
            }
            None => (self.feed_table(feed), String::new()),
        };
        let sql = format!(
            "SELECT b.id, b.tenant_id, b.external_id, b.resource_id, b.status, {words}, \
             b.start_at, b.end_at, b.time_zone, b.start_date, b.end_date, b.span_start, \
             b.span_end, b.version, b.created_at, b.updated_at, {STAMP} AS stamp \
             FROM {table} WHERE {} {ids} ORDER BY b.id",
            conditions(&scope)
        );
        with_read_pool!(self, |pool| {
            let mut query = sqlx::query_as::<_, FeedBookingRow>(AssertSqlSafe(sql.as_str()))
                .bind(feed.tenant_id)
                .bind(scope_id)
                .bind(window.past_cutoff)
                .bind(window.cancelled_since)
                .bind(feed.data.include_tentative);
            for id in only.unwrap_or_default() {
                query = query.bind(*id);
            }
            let mut rows = query.fetch(pool);
            while let Some(row) = rows.try_next().await? {
                let booking = row.booking.into_booking(Vec::new())?;
                let span = (row.span_start, row.span_end);
                each(FeedBooking { booking, span, stamp: row.stamp });
            }
            Ok::<_, StoreError>(())
        })
    }
}

/// Which bookings a feed shows: `$1` the tenant, `$2` the scope's id, `$3` the past cut-off,
/// `$4` the cancelled cut-off, `$5` whether tentative bookings are shown.
fn conditions(scope: &str) -> String {
    format!(
        "b.tenant_id = $1 {scope} AND b.span_end > $3 \
         AND (b.status <> 'cancelled' OR b.cancelled_at >= $4) AND ($5 OR b.status <> 'tentative')"
    )
}
