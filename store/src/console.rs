//! What the tenant console reads at a glance: the last day's figures, what needs attention, and
//! a fingerprint that changes whenever something the console shows does.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Store, StoreError, with_read_pool};

/// The last day of a tenant, counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DayFigures {
    /// Bookings written to a staff calendar.
    pub bookings_synced: i64,
    /// Feed import runs.
    pub imports_run: i64,
    /// Of those, failed.
    pub imports_failed: i64,
    /// Conflicts found.
    pub conflicts_opened: i64,
    /// Conflicts that ended (by themselves or by hand).
    pub conflicts_resolved: i64,
    /// E-mails to customers sent.
    pub emails_sent: i64,
    /// Jobs of the tenant that failed for good.
    pub jobs_failed: i64,
}

/// What needs the tenant's attention now, counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attention {
    /// Imports failing (not paused ones: their owner already knows).
    pub failing_imports: i64,
    /// Calendar connections to authorise again, or failing.
    pub connections_to_reconnect: i64,
    /// Bookings that could not be written to a staff calendar.
    pub failed_syncs: i64,
}

/// A booking that could not be written to a staff member's calendar.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct FailedSync {
    /// The booking.
    pub booking_id: Uuid,
    /// Its title.
    pub title: String,
    /// The calendar connection it failed for.
    pub connection_id: Uuid,
    /// Why, in words.
    pub last_error: Option<String>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

const DAY_FIGURES: &str = "SELECT \
    (SELECT COUNT(DISTINCT booking_id) FROM booking_events WHERE tenant_id = $1 AND state = 'synced' AND synced_at >= $2), \
    (SELECT COUNT(*) FROM import_runs WHERE tenant_id = $1 AND finished_at >= $2), \
    (SELECT COUNT(*) FROM import_runs WHERE tenant_id = $1 AND finished_at >= $2 AND outcome = 'failed'), \
    (SELECT COUNT(*) FROM conflicts WHERE tenant_id = $1 AND detected_at >= $2), \
    (SELECT COUNT(*) FROM conflicts WHERE tenant_id = $1 AND resolved_at >= $2), \
    (SELECT COUNT(*) FROM customer_messages WHERE tenant_id = $1 AND status = 'sent' AND created_at >= $2), \
    (SELECT COUNT(*) FROM job_failures WHERE failed_at >= $2 AND job LIKE $3)";

const ATTENTION: &str = "SELECT \
    (SELECT COUNT(*) FROM imports WHERE tenant_id = $1 AND status = 'failing' AND paused_at IS NULL), \
    (SELECT COUNT(*) FROM connections WHERE tenant_id = $1 AND status IN ('needs_reauth', 'error')), \
    (SELECT COUNT(DISTINCT booking_id) FROM booking_events WHERE tenant_id = $1 AND state = 'failed')";

/// Every time the console shows something of: the latest change among them.
const FINGERPRINT: &str = "SELECT \
    (SELECT MAX(updated_at) FROM bookings WHERE tenant_id = $1) AS bookings, \
    (SELECT MAX(created_at) FROM blocks WHERE tenant_id = $1) AS blocks_added, \
    (SELECT COUNT(*) FROM blocks WHERE tenant_id = $1) AS blocks, \
    (SELECT MAX(finished_at) FROM import_runs WHERE tenant_id = $1) AS import_runs, \
    (SELECT MAX(updated_at) FROM imports WHERE tenant_id = $1) AS imports_changed, \
    (SELECT COUNT(*) FROM imports WHERE tenant_id = $1) AS imports, \
    (SELECT MAX(COALESCE(resolved_at, detected_at)) FROM conflicts WHERE tenant_id = $1) AS conflicts_changed, \
    (SELECT COUNT(*) FROM conflicts WHERE tenant_id = $1 AND status = 'open') AS open_conflicts, \
    (SELECT MAX(updated_at) FROM connections WHERE tenant_id = $1) AS connections, \
    (SELECT MAX(updated_at) FROM booking_events WHERE tenant_id = $1) AS booking_events, \
    (SELECT MAX(updated_at) FROM tenants WHERE id = $1) AS tenant, \
    (SELECT MAX(created_at) FROM checklist_items WHERE tenant_id = $1) AS checklist_added, \
    (SELECT COUNT(*) FROM checklist_items WHERE tenant_id = $1 AND status = 'pending') AS checklist_pending, \
    (SELECT MAX(updated_at) FROM organisation_connections WHERE tenant_id = $1) AS organisations_changed, \
    (SELECT COUNT(*) FROM organisation_connections WHERE tenant_id = $1) AS organisations, \
    (SELECT MAX(updated_at) FROM organisation_members WHERE tenant_id = $1) AS organisation_members";

/// The [`FINGERPRINT`]'s columns.
#[derive(Debug, sqlx::FromRow)]
#[allow(dead_code, reason = "read as a whole: the fingerprint is its Debug text")]
struct Stamps {
    bookings: Option<DateTime<Utc>>,
    blocks_added: Option<DateTime<Utc>>,
    blocks: i64,
    import_runs: Option<DateTime<Utc>>,
    imports_changed: Option<DateTime<Utc>>,
    imports: i64,
    conflicts_changed: Option<DateTime<Utc>>,
    open_conflicts: i64,
    connections: Option<DateTime<Utc>>,
    booking_events: Option<DateTime<Utc>>,
    tenant: Option<DateTime<Utc>>,
    checklist_added: Option<DateTime<Utc>>,
    checklist_pending: i64,
    organisations_changed: Option<DateTime<Utc>>,
    organisations: i64,
    organisation_members: Option<DateTime<Utc>>,
}

impl Store {
    /// The tenant's figures since `since`.
    pub async fn day_figures(
        &self,
        tenant_id: Uuid,
        since: DateTime<Utc>,
    ) -> Result<DayFigures, StoreError> {
        // A failed job names its tenant inside its payload.
        let tenant_pattern = format!("%{tenant_id}%");
        let row: (i64, i64, i64, i64, i64, i64, i64) = with_read_pool!(self, |pool| {
            sqlx::query_as(DAY_FIGURES)
                .bind(tenant_id)
                .bind(since)
                .bind(&tenant_pattern)
                .fetch_one(pool)
                .await
        })?;
        Ok(DayFigures {
            bookings_synced: row.0,
            imports_run: row.1,
            imports_failed: row.2,
            conflicts_opened: row.3,
            conflicts_resolved: row.4,
            emails_sent: row.5,
            jobs_failed: row.6,
        })
    }

    /// What needs the tenant's attention now, in one statement.
    pub async fn attention(&self, tenant_id: Uuid) -> Result<Attention, StoreError> {
        let row: (i64, i64, i64) = with_read_pool!(self, |pool| {
            sqlx::query_as(ATTENTION).bind(tenant_id).fetch_one(pool).await
        })?;
        Ok(Attention {
            failing_imports: row.0,
            connections_to_reconnect: row.1,
            failed_syncs: row.2,
        })
    }

    /// Bookings whose sync to a staff calendar failed, newest first.
    pub async fn failed_syncs(
        &self,
        tenant_id: Uuid,
        limit: u32,
    ) -> Result<Vec<FailedSync>, StoreError> {
        Ok(with_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT e.booking_id, b.title, e.connection_id, e.last_error, e.updated_at \
                 FROM booking_events e JOIN bookings b ON b.id = e.booking_id \
                 WHERE e.tenant_id = $1 AND e.state = 'failed' \
                 ORDER BY e.updated_at DESC LIMIT $2",
            )
            .bind(tenant_id)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })?)
    }

    /// A value that changes whenever anything the console shows of the tenant changes: live
    /// updates compare it, so they work whichever process made the change.
    pub async fn console_fingerprint(&self, tenant_id: Uuid) -> Result<String, StoreError> {
        let stamps: Stamps = with_read_pool!(self, |pool| {
            sqlx::query_as(FINGERPRINT).bind(tenant_id).fetch_one(pool).await
        })?;
        Ok(format!("{stamps:?}"))
    }
}
