//! What an exported feed holds, summarised cheaply so the server can answer a conditional GET
//! without rendering anything.

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::bookings::BookingRow;
use super::{Store, StoreError, with_read_pool};
use crate::domain::{Booking, Feed, FeedProfile, FeedScope, Owner, Platform};

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
}

/// The conditions that keep a feed's rows to its scope: bookings, blocks, imported items, and the
/// id bound as `$2`.
fn scope_of(feed: &Feed) -> (&'static str, &'static str, &'static str, Uuid) {
    match feed.data.scope {
        // $2 is bound in every case; naming it keeps both drivers happy.
        FeedScope::Tenant => {
            ("AND $2 IS NOT NULL", "AND $2 IS NOT NULL", "AND $2 IS NOT NULL", Uuid::nil())
        }
        FeedScope::Owner(Owner::Resource(id)) => {
            ("AND b.resource_id = $2", "AND k.resource_id = $2", "AND i.resource_id = $2", id)
        }
        FeedScope::Owner(Owner::Staff(id)) => (
            "AND b.id IN (SELECT booking_id FROM booking_staff WHERE staff_id = $2)",
            "AND k.staff_id = $2",
            "AND i.staff_id = $2",
            id,
        ),
    }
}

/// A summary of a feed's content: it changes whenever the body would.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeedStamp {
    /// How many items the feed shows.
    pub items: i64,
    /// The latest change among them.
    pub latest: Option<DateTime<Utc>>,
    /// The earliest start.
    pub first: Option<DateTime<Utc>>,
    /// The latest end.
    pub last: Option<DateTime<Utc>>,
}

type StampRow = (i64, Option<DateTime<Utc>>, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

impl Store {
    /// Counts and dates of what `feed` shows in `window`.
    pub async fn feed_stamp(
        &self,
        feed: &Feed,
        window: &FeedWindow,
    ) -> Result<FeedStamp, StoreError> {
        let (bookings, blocks, items, scope_id) = scope_of(feed);
        let sql = format!(
            "SELECT count(*), max(changed), min(span_start), max(span_end) FROM (\
             SELECT b.updated_at AS changed, b.span_start, b.span_end FROM bookings b \
             WHERE b.tenant_id = $1 {bookings} AND b.span_end > $3 \
             AND (b.status <> 'cancelled' OR b.updated_at >= $4) AND ($5 OR b.status <> 'tentative') \
             UNION ALL SELECT k.created_at, k.span_start, k.span_end FROM blocks k \
             WHERE k.tenant_id = $1 {blocks} \
             UNION ALL SELECT i.updated_at, i.span_start, i.span_end FROM imported_items i \
             JOIN imports m ON m.id = i.import_id WHERE i.tenant_id = $1 {items} \
             AND i.span_end > $3 AND ($6 IS NULL OR m.platform <> $6)) x"
        );
        let (items, latest, first, last): StampRow = with_read_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(feed.tenant_id)
                .bind(scope_id)
                .bind(window.past_cutoff)
                .bind(window.cancelled_since)
                .bind(feed.data.include_tentative)
                .bind(feed.data.platform.map(Platform::as_str))
                .fetch_one(pool)
                .await
        })?;
        Ok(FeedStamp { items, latest, first, last })
    }

    /// The bookings `feed` shows in `window`, in id (creation) order, each handed to `each` as
    /// it is read: one query, with only the columns a feed renders (and, for a busy feed, none
    /// of the booking's words).
    pub async fn feed_bookings(
        &self,
        feed: &Feed,
        window: &FeedWindow,
        mut each: impl FnMut(FeedBooking) + Send,
    ) -> Result<(), StoreError> {
        use futures::TryStreamExt as _;
        let (scope, _, _, scope_id) = scope_of(feed);
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
        let sql = format!(
            "SELECT b.id, b.tenant_id, b.external_id, b.resource_id, b.status, {words}, \
             b.start_at, b.end_at, b.time_zone, b.start_date, b.end_date, b.span_start, \
             b.span_end, b.version, b.created_at, b.updated_at \
             FROM bookings b WHERE b.tenant_id = $1 {scope} AND b.span_end > $3 \
             AND (b.status <> 'cancelled' OR b.updated_at >= $4) \
             AND ($5 OR b.status <> 'tentative') ORDER BY b.id"
        );
        with_read_pool!(self, |pool| {
            let mut rows = sqlx::query_as::<_, FeedBookingRow>(AssertSqlSafe(sql.as_str()))
                .bind(feed.tenant_id)
                .bind(scope_id)
                .bind(window.past_cutoff)
                .bind(window.cancelled_since)
                .bind(feed.data.include_tentative)
                .fetch(pool);
            while let Some(row) = rows.try_next().await? {
                let booking = row.booking.into_booking(Vec::new())?;
                each(FeedBooking { booking, span: (row.span_start, row.span_end) });
            }
            Ok::<_, StoreError>(())
        })
    }
}
