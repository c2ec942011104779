//! Busy times imported from staff members' connected calendars: applied incrementally or replaced
//! by a full listing, each together with the calendar's new cursor in one transaction; and the
//! scheduler's claims of due imports.

use super::outbox::DueWork;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::imports::columns;
use super::{Pool, Store, StoreError, now, with_pool, with_read_pool};
use kalends_core::domain::{Connection, Instants, Provider, TimeZone};
use kalends_core::job::Job;
use kalends_ical::Span;

/// A busy event of a connected calendar, as the import stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalendarBusyEvent {
    /// The provider's event id.
    pub remote_id: String,
    /// Its title.
    pub summary: Option<String>,
    /// When (all-day events are read in the staff member's zone).
    pub span: Span,
}

/// One entry of an incremental change list, after the import judged it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BusyChange {
    /// Blocks time: stored, or updated when it moved or was renamed.
    Busy(CalendarBusyEvent),
    /// Deleted, or no longer blocking time (free, declined, Kalends' own): removed if stored.
    Free {
        /// The provider's event id.
        remote_id: String,
    },
}

impl BusyChange {
    /// The id of the event that no longer blocks time, for a `Free`.
    fn freed(&self) -> Option<&String> {
        match self {
            Self::Free { remote_id } => Some(remote_id),
            Self::Busy(_) => None,
        }
    }

    /// The id of a changed event that is a whole CalDAV resource (not one occurrence of one).
    fn resource(&self) -> Option<&str> {
        let id = match self {
            Self::Free { remote_id } => remote_id,
            Self::Busy(event) => &event.remote_id,
        };
        (!id.contains('#')).then_some(id.as_str())
    }

    /// The event, for a `Busy`.
    fn busy(&self) -> Option<&CalendarBusyEvent> {
        match self {
            Self::Busy(event) => Some(event),
            Self::Free { .. } => None,
        }
    }
}

/// What an import stored of one calendar's busy times.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BusyWritten {
    /// Busy times added, changed or removed.
    pub changed: u64,
    /// Where busy times went from: the instants of those removed, and the earlier ones of those
    /// moved (a rule conflict one of them caused lies near them).
    pub vacated: Vec<Instants>,
}

/// Where a calendar's incremental import stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalendarCursor {
    /// A Google sync token or a Graph delta link.
    pub cursor: String,
    /// When the full listing this cursor follows ran; `None` on cursors stored before Kalends
    /// recorded it.
    pub listed_at: Option<DateTime<Utc>>,
}

/// A calendar's single events from `from` on, listed in full: what is stored from there on is
/// replaced by them.
#[derive(Clone, Copy, Debug)]
pub struct LaterEvents<'a> {
    /// Where the listing starts (the end of the window the cursor's changes cover).
    pub from: DateTime<Utc>,
    /// The busy ones, each starting at or after `from`.
    pub events: &'a [CalendarBusyEvent],
}

/// What one calendar of a connection is, for the statements below.
#[derive(Clone, Copy, Debug)]
pub struct BusyCalendar<'a> {
    /// The connection.
    pub connection: &'a Connection,
    /// The provider's calendar id.
    pub calendar_id: &'a str,
    /// The zone all-day events are read in.
    pub zone: TimeZone,
}

/// The head of an upsert of busy times; rows of 12 values follow, then [`UPSERT_TAIL`].
const UPSERT_HEAD: &str = "INSERT INTO calendar_busy (id, tenant_id, connection_id, staff_id, \
     calendar_id, remote_id, summary, start_date, end_date, span_start, span_end, updated_at) ";

/// A stored busy time is rewritten only when it changed, so the rows affected count changes.
const UPSERT_TAIL: &str = " ON CONFLICT (connection_id, calendar_id, remote_id) DO UPDATE SET summary = excluded.summary, \
     start_date = excluded.start_date, end_date = excluded.end_date, \
     span_start = excluded.span_start, span_end = excluded.span_end, updated_at = excluded.updated_at \
     WHERE calendar_busy.summary IS DISTINCT FROM excluded.summary \
     OR calendar_busy.start_date IS DISTINCT FROM excluded.start_date \
     OR calendar_busy.end_date IS DISTINCT FROM excluded.end_date \
     OR calendar_busy.span_start <> excluded.span_start OR calendar_busy.span_end <> excluded.span_end";

/// The head of a delete of several busy times of one calendar; `IN (...)` follows from `$3` on.
const DELETE_SOME: &str =
    "DELETE FROM calendar_busy WHERE connection_id = $1 AND calendar_id = $2 AND remote_id IN";

/// Stores a cursor; `listed_at` ($5) only moves with a full listing (NULL keeps it).
const SET_CURSOR: &str = "INSERT INTO calendar_cursors \
     (connection_id, calendar_id, cursor, synced_at, listed_at) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (connection_id, calendar_id) \
     DO UPDATE SET cursor = excluded.cursor, synced_at = excluded.synced_at, \
     listed_at = COALESCE(excluded.listed_at, calendar_cursors.listed_at)";

const STORED_FROM: &str = "SELECT remote_id FROM calendar_busy \
     WHERE connection_id = $1 AND calendar_id = $2 AND span_start >= $3";

/// Events Kalends wrote itself are never someone's busy time. An import that ran between a push
/// and the push storing its event id may have taken one in; this takes it out again.
const PURGE_OWN: &str = "DELETE FROM calendar_busy WHERE connection_id = $1 AND remote_id IN \
     (SELECT remote_id FROM booking_events WHERE connection_id = $1 AND remote_id IS NOT NULL) \
     RETURNING span_start, span_end";

/// Ends a delete of busy times: where they were.
const RETURNING_SPANS: &str = "RETURNING span_start, span_end";

/// The head of a read of several busy times' instants of one calendar; `IN (...)` follows from
/// `$3` on.
const SPANS_OF: &str = "SELECT remote_id, span_start, span_end FROM calendar_busy \
     WHERE connection_id = $1 AND calendar_id = $2 AND remote_id IN";

/// Connections whose busy-time import is due (waiting for a reconnect, or disconnected, they
/// are never due), all moving by the configured interval.
const DUE_CALENDAR_IMPORTS: DueWork = DueWork {
    select: "SELECT id, tenant_id, CAST($3 AS BIGINT) FROM connections \
             WHERE status IN ('active', 'error') AND (next_import_at IS NULL OR next_import_at <= $1) \
             ORDER BY next_import_at NULLS FIRST LIMIT $2",
    advance: "UPDATE connections SET next_import_at = $1 WHERE id = $2",
    job: |tenant_id, connection_id| Job::ImportAvailability { tenant_id, connection_id },
};

/// Upserts busy events in `$tx`, 64 rows a statement (a calendar's full listing holds thousands);
/// of events with the same id the last wins, as one upsert after another would have it (one
/// statement may not touch a row twice). The earlier instants of those that move, as `$stored`
/// (by remote id) has them, go to `$written.vacated`, and the rows changed (none for those
/// stored as they are) count in `$written.changed`.
macro_rules! upsert_busy {
    ($tx:expr, $calendar:expr, $events:expr, $at:expr, $stored:expr, $written:expr) => {{
        let calendar: &BusyCalendar<'_> = $calendar;
        let stored: &HashMap<String, Instants> = $stored;
        let written: &mut BusyWritten = $written;
        let rows: Vec<_> = last_of_each($events)
            .into_iter()
            .map(|event| (event, columns(&event.span, calendar.zone)))
            .collect();
        for (event, (_, _, start, end)) in &rows {
            match stored.get(&event.remote_id) {
                Some(&was) if was != (*start, *end) => written.vacated.push(was),
                Some(_) | None => {}
            }
        }
        for batch in super::in_batches(&rows) {
            let mut upsert = sqlx::QueryBuilder::new(UPSERT_HEAD);
            upsert.push_values(
                batch,
                |mut row, &(event, (start_date, end_date, span_start, span_end))| {
                    row.push_bind(Uuid::now_v7())
                        .push_bind(calendar.connection.tenant_id)
                        .push_bind(calendar.connection.id)
                        .push_bind(calendar.connection.staff_id)
                        .push_bind(calendar.calendar_id.to_owned())
                        .push_bind(event.remote_id.clone())
                        .push_bind(event.summary.clone())
                        .push_bind(start_date)
                        .push_bind(end_date)
                        .push_bind(span_start)
                        .push_bind(span_end)
                        .push_bind($at);
                },
            );
            upsert.push(UPSERT_TAIL);
            written.changed += upsert.build().execute(&mut *$tx).await?.rows_affected();
        }
    }};
}

/// The events with the last of each remote id only, in the order of those last ones.
fn last_of_each<'e>(
    events: impl IntoIterator<Item = &'e CalendarBusyEvent>,
) -> Vec<&'e CalendarBusyEvent> {
    let events: Vec<&CalendarBusyEvent> = events.into_iter().collect();
    let mut seen = HashSet::new();
    let mut kept: Vec<&CalendarBusyEvent> =
        events.into_iter().rev().filter(|e| seen.insert(e.remote_id.as_str())).collect();
    kept.reverse();
    kept
}

/// Deletes the calendar's busy times with the remote ids `$ids` (strings), a thousand in one
/// statement, in `$tx`, into `$written`.
macro_rules! delete_busy {
    ($tx:expr, $calendar:expr, $ids:expr, $written:expr) => {{
        let calendar: &BusyCalendar<'_> = $calendar;
        let ids: Vec<&str> = $ids.map(|id: &String| id.as_str()).collect();
        for chunk in ids.chunks(super::IDS_PER_QUERY) {
            let sql = format!(
                "{DELETE_SOME} ({}) {RETURNING_SPANS}",
                super::placeholders(3, chunk.len())
            );
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(calendar.connection.id)
                .bind(calendar.calendar_id);
            for id in chunk {
                query = query.bind(*id);
            }
            let gone: Vec<Instants> = query.fetch_all(&mut *$tx).await?;
            record_gone($written, gone);
        }
    }};
}

/// The stored instants of the calendar's busy times with the remote ids `$ids` (strings), in
/// `$tx`, by remote id.
macro_rules! stored_spans {
    ($tx:expr, $calendar:expr, $ids:expr) => {{
        let calendar: &BusyCalendar<'_> = $calendar;
        let ids: Vec<&str> = $ids.collect();
        let mut spans: HashMap<String, Instants> = HashMap::new();
        for chunk in ids.chunks(super::IDS_PER_QUERY) {
            let sql = format!("{SPANS_OF} ({})", super::placeholders(3, chunk.len()));
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(calendar.connection.id)
                .bind(calendar.calendar_id);
            for id in chunk {
                query = query.bind(*id);
            }
            let rows: Vec<(String, DateTime<Utc>, DateTime<Utc>)> =
                query.fetch_all(&mut *$tx).await?;
            spans.extend(rows.into_iter().map(|(id, start, end)| (id, (start, end))));
        }
        spans
    }};
}

/// Counts busy times a delete took out, and where they were.
fn record_gone(written: &mut BusyWritten, gone: Vec<Instants>) {
    written.changed += gone.len() as u64;
    written.vacated.extend(gone);
}

/// Deletes the calendar's stored occurrences (`name#RECURRENCE-ID`) of the CalDAV resources
/// `$names`, in `$tx`, into `$written`.
macro_rules! delete_occurrences {
    ($tx:expr, $calendar:expr, $names:expr, $written:expr) => {{
        let calendar: &BusyCalendar<'_> = $calendar;
        for name in $names {
            let prefix = format!("{name}#");
            let sql = format!(
                "DELETE FROM calendar_busy WHERE connection_id = $1 AND calendar_id = $2 \
                 AND substr(remote_id, 1, $3) = $4 {RETURNING_SPANS}"
            );
            let gone: Vec<Instants> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(calendar.connection.id)
                .bind(calendar.calendar_id)
                .bind(i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX))
                .bind(&prefix)
                .fetch_all(&mut *$tx)
                .await?;
            record_gone($written, gone);
        }
    }};
}

/// Deletes the calendar's stored busy times among `$stored` (remote ids) that `$listed` (a
/// set of remote ids) lacks, in `$tx`, into `$written`.
macro_rules! delete_unlisted {
    ($tx:expr, $calendar:expr, $stored:expr, $listed:expr, $written:expr) => {{
        let listed: &HashSet<&str> = $listed;
        let unlisted = $stored.filter(|id: &&String| !listed.contains(id.as_str()));
        delete_busy!($tx, $calendar, unlisted, $written)
    }};
}

/// Stores the calendar's cursor (with the time of the full listing it follows, if it does)
/// and takes Kalends' own events out, in `$tx`, into `$written`.
macro_rules! finish_calendar {
    ($tx:expr, $calendar:expr, $cursor:expr, $listed_at:expr, $at:expr, $written:expr) => {{
        let calendar: &BusyCalendar<'_> = $calendar;
        let listed_at: Option<DateTime<Utc>> = $listed_at;
        sqlx::query(SET_CURSOR)
            .bind(calendar.connection.id)
            .bind(calendar.calendar_id)
            .bind($cursor)
            .bind($at)
            .bind(listed_at)
            .execute(&mut *$tx)
            .await?;
        let gone: Vec<Instants> =
            sqlx::query_as(PURGE_OWN).bind(calendar.connection.id).fetch_all(&mut *$tx).await?;
        record_gone($written, gone);
    }};
}

impl Store {
    /// Where the next incremental import of a calendar starts; `None` before its first import
    /// (or after its calendar stopped being imported).
    pub async fn calendar_cursor(
        &self,
        connection_id: Uuid,
        calendar_id: &str,
    ) -> Result<Option<CalendarCursor>, StoreError> {
        let row: Option<(String, Option<DateTime<Utc>>)> = with_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT cursor, listed_at FROM calendar_cursors \
                 WHERE connection_id = $1 AND calendar_id = $2",
            )
            .bind(connection_id)
            .bind(calendar_id)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(|(cursor, listed_at)| CalendarCursor { cursor, listed_at }))
    }

    /// Applies an incremental change list, replaces the busy times from `later.from` on with
    /// `later.events`, and stores the cursor that follows, in one transaction: either all of
    /// it is stored or none, so a failed run asks again from the old cursor. Returns how many
    /// stored busy times changed, and where those removed or moved were.
    pub async fn apply_calendar_changes(
        &self,
        calendar: BusyCalendar<'_>,
        changes: &[BusyChange],
        later: LaterEvents<'_>,
        cursor: &str,
    ) -> Result<BusyWritten, StoreError> {
        let at = now();
        let listed: HashSet<&str> = later.events.iter().map(|e| e.remote_id.as_str()).collect();
        let busy = changes.iter().filter_map(BusyChange::busy).chain(later.events);
        let upserted: HashSet<&str> = busy.map(|e| e.remote_id.as_str()).collect();
        let written = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let mut written = BusyWritten::default();
            // Where the events it may rewrite are now: those that move leave it.
            let stored = stored_spans!(tx, &calendar, upserted.iter().copied());
            // A CalDAV resource's occurrences are stored as `name#RECURRENCE-ID`: a resource
            // changed or gone takes its stored occurrences with it (a weekly event made single
            // keeps none of them; its new content follows).
            if calendar.connection.provider == Provider::Caldav {
                let resources = changes.iter().filter_map(BusyChange::resource);
                delete_occurrences!(tx, &calendar, resources, &mut written);
            }
            // In the list's order; the events that became free next to each other go together.
            for run in changes.chunk_by(|a, b| a.freed().is_some() == b.freed().is_some()) {
                let freed = run.iter().filter_map(BusyChange::freed);
                delete_busy!(tx, &calendar, freed, &mut written);
                let busy = run.iter().filter_map(BusyChange::busy);
                upsert_busy!(tx, &calendar, busy, at, &stored, &mut written);
            }
            let from: Vec<(String,)> = sqlx::query_as(STORED_FROM)
                .bind(calendar.connection.id)
                .bind(calendar.calendar_id)
                .bind(later.from)
                .fetch_all(&mut *tx)
                .await?;
            let from = from.iter().map(|(id,)| id);
            delete_unlisted!(tx, &calendar, from, &listed, &mut written);
            upsert_busy!(tx, &calendar, later.events, at, &stored, &mut written);
            finish_calendar!(tx, &calendar, cursor, None, at, &mut written);
            tx.commit().await?;
            Ok::<_, StoreError>(written)
        })?;
        Ok(written)
    }

    /// Replaces everything stored for a calendar with a full listing, and stores the cursor that
    /// follows it (listed now), in one transaction: events that are still there keep their row
    /// (and so their conflicts), the others go. Returns how many stored busy times changed, and
    /// where those removed or moved were.
    pub async fn replace_calendar_busy(
        &self,
        calendar: BusyCalendar<'_>,
        events: &[CalendarBusyEvent],
        cursor: &str,
    ) -> Result<BusyWritten, StoreError> {
        let at = now();
        let listed: HashSet<&str> = events.iter().map(|e| e.remote_id.as_str()).collect();
        let written = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let rows: Vec<(String, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
                "SELECT remote_id, span_start, span_end FROM calendar_busy \
                 WHERE connection_id = $1 AND calendar_id = $2",
            )
            .bind(calendar.connection.id)
            .bind(calendar.calendar_id)
            .fetch_all(&mut *tx)
            .await?;
            let stored: HashMap<String, Instants> =
                rows.into_iter().map(|(id, start, end)| (id, (start, end))).collect();
            let mut written = BusyWritten::default();
            delete_unlisted!(tx, &calendar, stored.keys(), &listed, &mut written);
            upsert_busy!(tx, &calendar, events, at, &stored, &mut written);
            finish_calendar!(tx, &calendar, cursor, Some(at), at, &mut written);
            tx.commit().await?;
            Ok::<_, StoreError>(written)
        })?;
        Ok(written)
    }

    /// Forgets the busy times and cursors of the connection's calendars other than `keep` (no
    /// longer chosen as busy calendars). Returns how many busy times went.
    pub async fn retain_busy_calendars(
        &self,
        connection_id: Uuid,
        keep: &[String],
    ) -> Result<u64, StoreError> {
        let keep = serde_json::to_string(keep).map_err(super::corrupt)?;
        // The kept ids travel as one JSON array: both databases can unpack it.
        let (busy, cursors) = match self.pool {
            Pool::Sqlite { .. } => (
                "DELETE FROM calendar_busy WHERE connection_id = $1 \
                 AND calendar_id NOT IN (SELECT value FROM json_each($2))",
                "DELETE FROM calendar_cursors WHERE connection_id = $1 \
                 AND calendar_id NOT IN (SELECT value FROM json_each($2))",
            ),
            Pool::Postgres(_) => (
                "DELETE FROM calendar_busy WHERE connection_id = $1 \
                 AND calendar_id NOT IN (SELECT jsonb_array_elements_text($2::jsonb))",
                "DELETE FROM calendar_cursors WHERE connection_id = $1 \
                 AND calendar_id NOT IN (SELECT jsonb_array_elements_text($2::jsonb))",
            ),
        };
        let gone = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let gone = sqlx::query(busy)
                .bind(connection_id)
                .bind(&keep)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(cursors).bind(connection_id).bind(&keep).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(gone)
        })?;
        Ok(gone)
    }

    /// The events Kalends writes or wrote, for this connection's tenant, into the connection's
    /// account (by this connection or another of the tenant connected to the same account: two
    /// staff members sharing one calendar): (booking, connection, provider id once recorded).
    /// Graph's delta results carry no extended properties, so an import recognises them by
    /// these: the provider id, or the creation key (Google event id, Microsoft `transactionId`)
    /// that (booking, connection) gives before the provider has answered.
    pub async fn kalends_events_in_account(
        &self,
        connection_id: Uuid,
    ) -> Result<Vec<(Uuid, Uuid, Option<String>)>, StoreError> {
        Ok(with_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT e.booking_id, e.connection_id, e.remote_id FROM booking_events e \
                 JOIN connections c ON c.id = e.connection_id \
                 JOIN connections me ON me.id = $1 \
                 WHERE c.tenant_id = me.tenant_id AND c.provider = me.provider \
                 AND c.account_email = me.account_email",
            )
            .bind(connection_id)
            .fetch_all(pool)
            .await
        })?)
    }

    /// Claims up to `limit` connections whose busy-time import is due at `now`: each moves its
    /// next import one `interval` ahead and owes an `import_availability` job, in one
    /// transaction, so every due import is enqueued once across all workers and none is lost.
    /// Connections waiting for a reconnect, or disconnected, are never due.
    pub async fn claim_due_calendar_imports(
        &self,
        now: DateTime<Utc>,
        interval: Duration,
        limit: u32,
    ) -> Result<usize, StoreError> {
        let seconds = i64::try_from(interval.as_secs()).unwrap_or(900);
        self.claim_due(DUE_CALENDAR_IMPORTS, now, Some(seconds), limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn of_events_listed_twice_the_last_is_stored_in_the_order_of_the_last_ones() {
        let day = chrono::NaiveDate::from_ymd_opt(2030, 1, 1).unwrap();
        let event = |id: &str, title: &str| CalendarBusyEvent {
            remote_id: id.to_owned(),
            summary: Some(title.to_owned()),
            span: Span::AllDay { start: day, end: day.succ_opt().unwrap() },
        };
        let listed = [event("a", "old"), event("b", "b"), event("a", "new"), event("c", "c")];
        let kept: Vec<(&str, Option<&str>)> = last_of_each(&listed)
            .into_iter()
            .map(|e| (e.remote_id.as_str(), e.summary.as_deref()))
            .collect();
        assert_eq!(kept, [("b", Some("b")), ("a", Some("new")), ("c", Some("c"))]);
    }
}
