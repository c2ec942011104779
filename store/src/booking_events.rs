//! The events Kalends made in connected calendars: one row per (booking, connection), written
//! before the provider is called (so a retry knows what it is retrying) and moved forward after.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::webhooks::record_webhook_events;
use kalends_core::webhooks::WebhookEvent;

/// Runs `$update` (an `UPDATE booking_events ... RETURNING tenant_id`, fetched optionally in
/// `$tx`) and records `$events` for that tenant in the same transaction (none when no row
/// changed); wakes the relay when it recorded any.
macro_rules! update_with_events {
    ($store:expr, $events:expr, $at:expr, |$tx:ident| $update:expr) => {{
        let recorded = with_pool!($store, |pool| async {
            let mut $tx = pool.begin().await?;
            let done: Option<(Uuid,)> = $update;
            let recorded = match done {
                Some((tenant_id,)) => record_webhook_events!($tx, tenant_id, $events, $at),
                None => 0,
            };
            $tx.commit().await?;
            Ok::<usize, StoreError>(recorded)
        }
        .await)?;
        if recorded > 0 {
            $store.outbox_signal.notify_one();
        }
    }};
}

/// Raises the `booking_sync_failed` alert of booking `$booking_id`'s event in connection
/// `$connection_id` (failed with `$error` at `$at`) in transaction `$tx` of `$store`.
macro_rules! alert_sync_failed {
    ($store:expr, $tx:expr, $tenant_id:expr, $booking_id:expr, $connection_id:expr, $error:expr, $at:expr) => {{
        type Row = (
            String,
            DateTime<Utc>,
            DateTime<Utc>,
            Option<chrono::NaiveDate>,
            Option<chrono::NaiveDate>,
            DateTime<Utc>,
            Option<String>,
            String,
            String,
            Option<DateTime<Utc>>,
        );
        let found: Option<Row> = sqlx::query_as(
            "SELECT b.title, b.span_start, b.span_end, b.start_date, b.end_date, b.created_at, \
             r.name, s.name, c.provider, e.synced_at FROM bookings b \
             JOIN booking_events e ON e.booking_id = b.id AND e.connection_id = $2 \
             JOIN connections c ON c.id = e.connection_id JOIN staff s ON s.id = c.staff_id \
             LEFT JOIN resources r ON r.id = b.resource_id WHERE b.id = $1",
        )
        .bind($booking_id)
        .bind($connection_id)
        .fetch_optional(&mut *$tx)
        .await?;
        match found {
            Some((
                title,
                start,
                end,
                start_date,
                end_date,
                created_at,
                resource,
                staff,
                provider,
                last_synced,
            )) => {
                let booking = kalends_core::alerts::FailedBooking {
                    booking_id: $booking_id,
                    title: &title,
                    start,
                    end,
                    dates: start_date.zip(end_date),
                    resource: resource.as_deref(),
                    calendar: format!("{staff} ({provider})"),
                    last_synced,
                    created_at,
                    error: $error,
                };
                let alert = kalends_core::alerts::booking_sync_failed(
                    &booking,
                    $at,
                    $store.alert_quiet_period(),
                );
                let due = $store.alert_digest_due($at);
                super::alerts::record_alerts!($tx, $tenant_id, &[alert], $at, due)
            }
            None => 0,
        }
    }};
}

use super::{Store, StoreError, corrupt, now, outbox, with_pool, with_read_pool};
use kalends_core::domain::{Booking, Connection, Provider};
use kalends_core::job::Job;

/// The `last_error` of an event a staff member deleted by hand and Kalends left deleted
/// (`external_edit_policy: accept`): it is not missing, and only a new version of the booking
/// writes it again.
pub const LEFT_DELETED: &str =
    "deleted from the calendar by the staff member and left so (external_edit_policy is accept)";

/// Where a booking stands in one connected calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventState {
    /// Being written (or waiting: a retry, a reconnect).
    Pending,
    /// The calendar holds the booking at `synced_version`.
    Synced,
    /// The provider refused it for good; `last_error` says why.
    Failed,
    /// Removed from the calendar (cancelled, unassigned, disconnected).
    Deleted,
}

impl EventState {
    /// The database and API word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Synced => "synced",
            Self::Failed => "failed",
            Self::Deleted => "deleted",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        match value {
            "pending" => Some(Self::Pending),
            "synced" => Some(Self::Synced),
            "failed" => Some(Self::Failed),
            "deleted" => Some(Self::Deleted),
            _ => None,
        }
    }
}

/// A booking's event in one connected calendar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookingEvent {
    /// The booking.
    pub booking_id: Uuid,
    /// The connection whose calendar holds it.
    pub connection_id: Uuid,
    /// Its provider.
    pub provider: Provider,
    /// The calendar it is in.
    pub calendar_id: String,
    /// The provider's id, once known.
    pub remote_id: Option<String>,
    /// The etag its last write answered (CalDAV's `If-Match`), when the provider gave one.
    pub remote_etag: Option<String>,
    /// Where it stands.
    pub state: EventState,
    /// The booking version it holds.
    pub synced_version: Option<i64>,
    /// The last failure, in words.
    pub last_error: Option<String>,
    /// When it last reached the calendar.
    pub synced_at: Option<DateTime<Utc>>,
    /// The last edit a staff member made to it by hand, and what Kalends did.
    pub external_edit: Option<String>,
    /// When that edit was seen.
    pub external_edit_at: Option<DateTime<Utc>>,
}

/// An event a calendar now holds, for [`Store::events_synced`].
#[derive(Clone, Debug)]
pub struct SyncedEvent {
    /// The booking.
    pub booking_id: Uuid,
    /// The connection whose calendar holds it.
    pub connection_id: Uuid,
    /// The provider's id of the event.
    pub remote_id: String,
    /// The etag the calendar answered the write with (CalDAV sends it back as `If-Match`).
    pub remote_etag: Option<String>,
    /// The booking version it holds (an older one never overwrites a newer one).
    pub version: i64,
    /// What to tell the tenant's webhooks once recorded (`booking.synced`).
    pub events: Vec<WebhookEvent>,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    booking_id: Uuid,
    connection_id: Uuid,
    provider: String,
    calendar_id: String,
    remote_id: Option<String>,
    remote_etag: Option<String>,
    state: String,
    synced_version: Option<i64>,
    last_error: Option<String>,
    synced_at: Option<DateTime<Utc>>,
    external_edit: Option<String>,
    external_edit_at: Option<DateTime<Utc>>,
}

impl TryFrom<EventRow> for BookingEvent {
    type Error = StoreError;
    fn try_from(r: EventRow) -> Result<Self, StoreError> {
        let bad = |what: &str| {
            corrupt(format!(
                "booking event {}/{} has an unknown {what}",
                r.booking_id, r.connection_id
            ))
        };
        Ok(BookingEvent {
            booking_id: r.booking_id,
            connection_id: r.connection_id,
            provider: r.provider.parse().map_err(|_| bad("provider"))?,
            calendar_id: r.calendar_id,
            remote_id: r.remote_id,
            remote_etag: r.remote_etag,
            state: EventState::parse(&r.state).ok_or_else(|| bad("state"))?,
            synced_version: r.synced_version,
            last_error: r.last_error,
            synced_at: r.synced_at,
            external_edit: r.external_edit,
            external_edit_at: r.external_edit_at,
        })
    }
}

/// The columns of an [`EventRow`], from `booking_events e JOIN connections c`.
const EVENT_COLUMNS: &str = "e.booking_id, e.connection_id, c.provider, e.calendar_id, e.remote_id, \
    e.remote_etag, e.state, e.synced_version, e.last_error, e.synced_at, e.external_edit, e.external_edit_at";

impl Store {
    /// The booking's events in the tenant's connected calendars (deleted ones included): none
    /// for another tenant's booking, whose id may come from outside (an event's private
    /// property in a calendar two tenants share).
    pub async fn booking_events(
        &self,
        tenant_id: Uuid,
        booking_id: Uuid,
    ) -> Result<Vec<BookingEvent>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM booking_events e JOIN connections c ON c.id = e.connection_id \
             WHERE c.tenant_id = $1 AND e.booking_id = $2 ORDER BY c.created_at, c.id"
        );
        let rows: Vec<EventRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(booking_id)
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(BookingEvent::try_from).collect()
    }

    /// [`Self::booking_events`] of several bookings in one query, each booking's in the same
    /// order.
    pub async fn booking_events_of(
        &self,
        tenant_id: Uuid,
        booking_ids: &[Uuid],
    ) -> Result<Vec<BookingEvent>, StoreError> {
        if booking_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM booking_events e JOIN connections c ON c.id = e.connection_id \
             WHERE c.tenant_id = $1 AND e.booking_id IN ({}) ORDER BY c.created_at, c.id",
            super::placeholders(2, booking_ids.len())
        );
        let rows: Vec<EventRow> = with_read_pool!(self, |pool| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(tenant_id);
            for id in booking_ids {
                query = query.bind(id);
            }
            query.fetch_all(pool).await
        })?;
        rows.into_iter().map(BookingEvent::try_from).collect()
    }

    /// Every event Kalends made (or is making) in a connection's calendars, deleted ones left out.
    pub async fn connection_events(
        &self,
        connection_id: Uuid,
    ) -> Result<Vec<BookingEvent>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM booking_events e JOIN connections c ON c.id = e.connection_id \
             WHERE e.connection_id = $1 AND e.state <> 'deleted' ORDER BY e.booking_id"
        );
        let rows: Vec<EventRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(connection_id)
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(BookingEvent::try_from).collect()
    }

    /// The events of [`Self::connection_events`] with these provider ids (those there are), in
    /// one query per thousand ids: an import's change list names the events it touched, and
    /// reading only those keeps the import's cost with the changes, not with the calendar's size.
    pub async fn connection_events_with_remote_ids(
        &self,
        connection_id: Uuid,
        remote_ids: &[&str],
    ) -> Result<Vec<BookingEvent>, StoreError> {
        let mut events = Vec::new();
        for chunk in remote_ids.chunks(super::IDS_PER_QUERY) {
            let sql = format!(
                "SELECT {EVENT_COLUMNS} FROM booking_events e JOIN connections c ON c.id = e.connection_id \
                 WHERE e.connection_id = $1 AND e.state <> 'deleted' AND e.remote_id IN ({})",
                super::placeholders(2, chunk.len())
            );
            let rows: Vec<EventRow> = with_read_pool!(self, |pool| {
                let mut query =
                    sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(connection_id);
                for id in chunk {
                    query = query.bind(*id);
                }
                query.fetch_all(pool).await
            })?;
            for row in rows {
                events.push(BookingEvent::try_from(row)?);
            }
        }
        Ok(events)
    }

    /// The provider ids of the events this connection holds as written in `calendar_id` before
    /// `written_before`, for bookings whose time meets `window`: what a full listing of that
    /// window, begun at `written_before`, must show. One that it does not show was deleted
    /// outside Kalends.
    pub async fn written_events_in(
        &self,
        connection_id: Uuid,
        calendar_id: &str,
        window: (DateTime<Utc>, DateTime<Utc>),
        written_before: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT e.remote_id FROM booking_events e JOIN bookings b ON b.id = e.booking_id \
                   WHERE e.connection_id = $1 AND e.calendar_id = $2 AND e.state = 'synced' \
                   AND e.remote_id IS NOT NULL AND e.synced_at < $3 \
                   AND b.span_end > $4 AND b.span_start < $5";
        let ids: Vec<String> = with_pool!(self, |pool| {
            sqlx::query_scalar(sql)
                .bind(connection_id)
                .bind(calendar_id)
                .bind(written_before)
                .bind(window.0)
                .bind(window.1)
                .fetch_all(pool)
                .await
        })?;
        Ok(ids)
    }

    /// The connections a booking goes to: the default connection of each assigned staff member
    /// that is not disconnected (a `needs_reauth` one included: its work waits for the reconnect).
    pub async fn sync_targets(&self, booking: &Booking) -> Result<Vec<Connection>, StoreError> {
        self.default_connections_of_booking(booking.tenant_id, booking.id).await
    }

    /// Records that the event is being written to `calendar_id` (before the provider is called).
    pub async fn event_pending(
        &self,
        booking: &Booking,
        connection: &Connection,
        calendar_id: &str,
        remote_id: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.upsert_pending(&[(booking, connection, calendar_id, remote_id, error)]).await
    }

    /// [`Self::event_pending`] without a remote id or a reason for several events at once (a
    /// batch of syncs marks a few new events before writing them): each `(booking, connection,
    /// calendar)`.
    pub async fn events_pending(
        &self,
        events: &[(&Booking, &Connection, &str)],
    ) -> Result<(), StoreError> {
        let rows: Vec<PendingRow<'_>> = events
            .iter()
            .map(|&(booking, connection, calendar)| (booking, connection, calendar, None, None))
            .collect();
        self.upsert_pending(&rows).await
    }

    /// Marks `rows` pending, one statement per thousand: a stored remote id stays unless the row
    /// names one.
    async fn upsert_pending(&self, rows: &[PendingRow<'_>]) -> Result<(), StoreError> {
        let at = now();
        for chunk in rows.chunks(PENDING_PER_INSERT) {
            let values =
                super::value_rows(2, chunk.len(), 6, |row| format!("({row}, 'pending', $1)"));
            let sql = format!(
                "INSERT INTO booking_events (booking_id, connection_id, tenant_id, calendar_id, remote_id, \
                 last_error, state, updated_at) VALUES {values} ON CONFLICT (booking_id, connection_id) \
                 DO UPDATE SET calendar_id = excluded.calendar_id, \
                 remote_id = COALESCE(excluded.remote_id, booking_events.remote_id), state = 'pending', \
                 last_error = excluded.last_error, updated_at = excluded.updated_at"
            );
            with_pool!(self, |pool| {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(at);
                for &(booking, connection, calendar, remote_id, error) in chunk {
                    query = query
                        .bind(booking.id)
                        .bind(connection.id)
                        .bind(booking.tenant_id)
                        .bind(calendar)
                        .bind(remote_id)
                        .bind(error);
                }
                query.execute(pool).await.map(|_| ())
            })?;
        }
        Ok(())
    }

    /// Records that the calendars hold these events of one tenant's bookings at their versions,
    /// in one transaction (a sync run records what it wrote when it is done); an older version
    /// never overwrites a newer one. Each (booking, connection) comes at most once: a run writes
    /// each event once.
    pub async fn events_synced(
        &self,
        tenant_id: Uuid,
        synced: &[SyncedEvent],
    ) -> Result<(), StoreError> {
        if synced.is_empty() {
            return Ok(());
        }
        let at = now();
        let recorded = with_pool!(self, |pool| {
            async {
                let mut tx = pool.begin().await?;
                let mut events = Vec::new();
                for chunk in synced.chunks(SYNCED_PER_UPDATE) {
                    let sql = synced_update_sql(chunk.len());
                    let mut query =
                        sqlx::query_as::<_, (Uuid, Uuid)>(sqlx::AssertSqlSafe(sql)).bind(at);
                    for event in chunk {
                        query = query
                            .bind(event.booking_id)
                            .bind(event.connection_id)
                            .bind(&event.remote_id)
                            .bind(&event.remote_etag)
                            .bind(event.version);
                    }
                    let updated: HashSet<(Uuid, Uuid)> =
                        query.fetch_all(&mut *tx).await?.into_iter().collect();
                    let written =
                        |e: &&SyncedEvent| updated.contains(&(e.booking_id, e.connection_id));
                    events.extend(
                        chunk.iter().filter(written).flat_map(|e| e.events.iter().cloned()),
                    );
                }
                let recorded = record_webhook_events!(tx, tenant_id, &events, at);
                tx.commit().await?;
                Ok::<usize, StoreError>(recorded)
            }
            .await
        })?;
        if recorded > 0 {
            self.outbox_signal.notify_one();
        }
        Ok(())
    }

    /// Records a state other than `synced` (`pending` again, `failed`, `deleted`) with an
    /// optional reason.
    pub async fn event_finished(
        &self,
        booking_id: Uuid,
        connection_id: Uuid,
        state: EventState,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.event_finished_with(booking_id, connection_id, state, error, &[]).await
    }

    /// [`Self::event_finished`] recording `events` (`booking.sync_failed`) in its transaction.
    pub async fn event_finished_with(
        &self,
        booking_id: Uuid,
        connection_id: Uuid,
        state: EventState,
        error: Option<&str>,
        events: &[WebhookEvent],
    ) -> Result<(), StoreError> {
        let at = now();
        let recorded = with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            let done: Option<(Uuid,)> = sqlx::query_as(
                "UPDATE booking_events SET state = $1, last_error = $2, updated_at = $3 \
                 WHERE booking_id = $4 AND connection_id = $5 RETURNING tenant_id",
            )
            .bind(state.as_str())
            .bind(error)
            .bind(at)
            .bind(booking_id)
            .bind(connection_id)
            .fetch_optional(&mut *tx)
            .await?;
            let mut recorded = 0;
            if let Some((tenant_id,)) = done {
                recorded = record_webhook_events!(tx, tenant_id, events, at);
                if state == EventState::Failed {
                    let error = error.unwrap_or("the calendar refused the event");
                    let raised = alert_sync_failed!(
                        self,
                        tx,
                        tenant_id,
                        booking_id,
                        connection_id,
                        error,
                        at
                    );
                    recorded += usize::try_from(raised).unwrap_or(usize::MAX);
                }
            }
            tx.commit().await?;
            Ok::<usize, StoreError>(recorded)
        }
        .await)?;
        if recorded > 0 {
            self.outbox_signal.notify_one();
        }
        Ok(())
    }

    /// Marks the booking's events still pending as failed with `error` (its sync was given up),
    /// recording a `booking.sync_failed` event for each. An event parked for a calendar to be
    /// reconnected stays pending: no sync was tried there, and the reconnection replays it (a
    /// batch given up for another booking's failure must not fail it). Only the tenant's own:
    /// a job naming another tenant's booking fails nothing.
    pub async fn fail_pending_events(
        &self,
        tenant_id: Uuid,
        booking_id: Uuid,
        error: &str,
    ) -> Result<(), StoreError> {
        let at = now();
        let recorded = with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            let failed: Vec<(Uuid, Uuid)> = sqlx::query_as(
                "UPDATE booking_events SET state = 'failed', last_error = $1, updated_at = $2 \
                 WHERE booking_id = $3 AND tenant_id = $4 AND state = 'pending' \
                 AND connection_id NOT IN \
                 (SELECT id FROM connections WHERE status = 'needs_reauth') \
                 RETURNING tenant_id, connection_id",
            )
            .bind(error)
            .bind(at)
            .bind(booking_id)
            .bind(tenant_id)
            .fetch_all(&mut *tx)
            .await?;
            let mut events = Vec::with_capacity(failed.len());
            for (_, connection_id) in &failed {
                let found: Option<(String, i64)> = sqlx::query_as(
                    "SELECT c.provider, b.version FROM connections c, bookings b \
                     WHERE c.id = $1 AND b.id = $2",
                )
                .bind(connection_id)
                .bind(booking_id)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((provider, version)) = found {
                    let data = kalends_core::webhooks::booking_sync_data(
                        booking_id,
                        version,
                        *connection_id,
                        &provider,
                        None,
                        Some(error),
                    );
                    events.push(WebhookEvent::new("booking.sync_failed", data));
                }
            }
            let mut recorded = match failed.first() {
                Some((tenant_id, _)) => record_webhook_events!(tx, *tenant_id, &events, at),
                None => 0,
            };
            for (tenant_id, connection_id) in &failed {
                let raised =
                    alert_sync_failed!(self, tx, *tenant_id, booking_id, *connection_id, error, at);
                recorded += usize::try_from(raised).unwrap_or(usize::MAX);
            }
            tx.commit().await?;
            Ok::<usize, StoreError>(recorded)
        }
        .await)?;
        if recorded > 0 {
            self.outbox_signal.notify_one();
        }
        Ok(())
    }

    /// Records a staff member's hand edit of the event and what Kalends did about it.
    pub async fn event_edited_externally(
        &self,
        booking_id: Uuid,
        connection_id: Uuid,
        note: &str,
        events: &[WebhookEvent],
    ) -> Result<(), StoreError> {
        let at = now();
        update_with_events!(self, events, at, |tx| sqlx::query_as(
            "UPDATE booking_events SET external_edit = $1, external_edit_at = $2, updated_at = $2 \
                 WHERE booking_id = $3 AND connection_id = $4 RETURNING tenant_id",
        )
        .bind(note)
        .bind(at)
        .bind(booking_id)
        .bind(connection_id)
        .fetch_optional(&mut *tx)
        .await?);
        Ok(())
    }

    /// Queues, in one transaction, a sync of each booking of a staff member that ends in the
    /// future and whose event in `connection`'s calendar is missing, behind or in another
    /// calendar, oldest change first: what a new default or destination, or a manual sync,
    /// replays. An event the staff member deleted by hand and Kalends left deleted
    /// (`external_edit_policy: accept`) is not missing until the booking changes. Returns how
    /// many were queued.
    pub async fn queue_bookings_behind(
        &self,
        connection: &Connection,
    ) -> Result<usize, StoreError> {
        let at = now();
        let queued = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let destination = connection.destination_calendar_id.as_deref().unwrap_or_default();
            let jobs = syncs_behind!(
                tx,
                connection.tenant_id,
                connection.id,
                connection.staff_id,
                destination,
                at
            );
            outbox::owe_jobs!(tx, &jobs, at);
            tx.commit().await?;
            Ok::<_, StoreError>(jobs.len())
        })?;
        if queued > 0 {
            self.outbox_signal.notify_one();
        }
        Ok(queued)
    }
}

/// The sync jobs owed, at `$at`, to the upcoming bookings of staff member `$staff_id` whose event
/// in connection `$connection_id` (destination calendar `$destination`) is missing or behind
/// ([`BEHIND`]), read in `$tx`: shared by a replay and by saving a connection.
macro_rules! syncs_behind {
    ($tx:expr, $tenant_id:expr, $connection_id:expr, $staff_id:expr, $destination:expr, $at:expr) => {{
        let tenant_id: Uuid = $tenant_id;
        let behind: Vec<(Uuid,)> = sqlx::query_as(super::booking_events::BEHIND)
            .bind($connection_id)
            .bind($staff_id)
            .bind(tenant_id)
            .bind($at)
            .bind($destination)
            .bind(super::booking_events::LEFT_DELETED)
            .fetch_all(&mut *$tx)
            .await?;
        behind
            .into_iter()
            .map(|(booking_id,)| Job::replay_booking(tenant_id, booking_id))
            .collect::<Vec<Job>>()
    }};
}
pub(super) use syncs_behind;

/// The upcoming bookings of a connection's staff member ($2, tenant $3, now $4) whose event in
/// the connection ($1, destination calendar $5) is missing or behind, oldest change first; a
/// deletion the staff member made and Kalends accepted ($6) stays.
pub(super) const BEHIND: &str = "SELECT b.id FROM bookings b JOIN booking_staff s ON s.booking_id = b.id \
     LEFT JOIN booking_events e ON e.booking_id = b.id AND e.connection_id = $1 \
     WHERE s.staff_id = $2 AND b.tenant_id = $3 AND b.span_end > $4 AND b.status <> 'cancelled' \
     AND (e.booking_id IS NULL OR e.synced_version < b.version OR e.calendar_id <> $5 \
     OR (e.state <> 'synced' AND NOT (e.state = 'deleted' AND COALESCE(e.last_error, '') = $6))) \
     ORDER BY b.updated_at, b.id";

/// Bookings whose calendars are behind and no job is on it: an event (in an active connection)
/// behind the booking's version, or a target calendar (its staff member's default, active
/// connection) holding nothing up to date; left alone while a job is still at it (an event
/// touched since `$2`), when the current version failed for good (manual sync), or when the
/// staff member's deletion was accepted and the booking has not changed since.
const DRIFTED: &str = "SELECT b.id, b.tenant_id FROM bookings b \
    WHERE b.span_end > $1 AND b.updated_at < $2 AND ( \
      EXISTS (SELECT 1 FROM booking_events e JOIN connections c ON c.id = e.connection_id \
        WHERE e.booking_id = b.id AND c.status = 'active' AND e.state <> 'deleted' \
        AND COALESCE(e.synced_version, 0) < b.version AND e.updated_at < $2 \
        AND NOT (e.state = 'failed' AND e.updated_at >= b.updated_at)) \
      OR (b.status <> 'cancelled' AND EXISTS (SELECT 1 FROM booking_staff s \
        JOIN connections c ON c.staff_id = s.staff_id AND c.is_default AND c.status = 'active' \
        WHERE s.booking_id = b.id AND NOT EXISTS (SELECT 1 FROM booking_events e \
          WHERE e.booking_id = b.id AND e.connection_id = c.id \
          AND (COALESCE(e.synced_version, 0) >= b.version OR e.updated_at >= $2 \
            OR (e.state = 'failed' AND e.updated_at >= b.updated_at)))))) \
    ORDER BY b.updated_at LIMIT $3";

impl Store {
    /// Queues the sync (or deletion) again of up to `limit` bookings that end after `now` and
    /// whose connected calendars are still behind `behind_for` after their last change: their
    /// job was lost (a queue that evicted it, a crash before the relay). Reconciliation only
    /// sees bookings that already have an event; this finds the missing ones too. Returns how
    /// many were queued.
    pub async fn requeue_drifted_syncs(
        &self,
        now: DateTime<Utc>,
        behind_for: chrono::Duration,
        limit: u32,
    ) -> Result<usize, StoreError> {
        let queued = with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            let drifted: Vec<(Uuid, Uuid)> = sqlx::query_as(DRIFTED)
                .bind(now)
                .bind(now - behind_for)
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?;
            let syncs =
                drifted.iter().map(|&(booking, tenant)| Job::replay_booking(tenant, booking));
            outbox::owe_jobs!(tx, syncs, now);
            tx.commit().await?;
            Ok::<_, StoreError>(drifted.len())
        }
        .await)?;
        if queued > 0 {
            self.outbox_signal.notify_one();
        }
        Ok(queued)
    }
}

/// An event to mark pending: booking, connection, calendar, remote id and reason.
type PendingRow<'a> = (&'a Booking, &'a Connection, &'a str, Option<&'a str>, Option<&'a str>);

/// Rows of the pending upsert per statement (6 parameters each).
const PENDING_PER_INSERT: usize = super::IDS_PER_QUERY;

/// Rows of [`Store::events_synced`]'s update per statement (5 parameters each).
const SYNCED_PER_UPDATE: usize = super::IDS_PER_QUERY;

/// The update recording `rows` synced events at once, as one statement both databases read the
/// same way: `$1` the time, then per event its booking, connection, remote id, etag and version
/// (a row of `VALUES`, whose columns are `column1`..`column5`). An event already recorded at a
/// newer version keeps it; the updated ones come back.
fn synced_update_sql(rows: usize) -> String {
    let values = super::value_rows(2, rows, 5, |row| format!("({row})"));
    format!(
        "UPDATE booking_events SET remote_id = v.column3, remote_etag = v.column4, state = 'synced', \
         synced_version = v.column5, last_error = NULL, synced_at = $1, updated_at = $1 \
         FROM (VALUES {values}) AS v WHERE booking_events.booking_id = v.column1 \
         AND booking_events.connection_id = v.column2 \
         AND (booking_events.synced_version IS NULL OR booking_events.synced_version <= v.column5) \
         RETURNING booking_events.booking_id, booking_events.connection_id"
    )
}
