//! What an exported feed holds, summarised cheaply so the server can answer a conditional GET
//! without rendering anything.

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::{Store, StoreError, with_read_pool};
use crate::domain::{Feed, FeedScope, Owner, Platform};

/// Which items an exported feed shows today.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedWindow {
    /// Items that ended before this leave the feed.
    pub past_cutoff: DateTime<Utc>,
    /// Cancelled bookings stay (as `STATUS:CANCELLED`) if cancelled at or after this.
    pub cancelled_since: DateTime<Utc>,
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
        let (bookings, blocks, items, scope_id) = match feed.data.scope {
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
        };
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
}
