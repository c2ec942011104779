//! Connections being taken away: the cleanup at the provider (Kalends's events removed, push
//! channels stopped, the grant revoked) is owed through the outbox, recorded in the same
//! transaction as the disconnect or the staff member's deletion, and Kalends forgets the tokens
//! only once that cleanup succeeded or gave up.
//!
//! The connection row is disconnected (or deleted with its staff member) at once, so nothing
//! else uses it meanwhile; what the cleanup needs is copied into a `connection_cleanups` row: the
//! sealed tokens as they were (bound to the connection's id), the events Kalends recorded, the
//! channels.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::organisations::{Coverage, KeptCoverage};
use super::sealed_tokens::context;
use super::{Lease, Store, StoreError, corrupt, now, with_pool, with_read_pool};
use kalends_core::domain::ConnectionTokens;
use kalends_core::domain::Provider;
use kalends_core::seal::Sealer;

/// A push channel to stop, as a cleanup keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanupChannel {
    /// Google's channel id or Microsoft's subscription id.
    pub id: String,
    /// Google's resourceId.
    pub resource_id: Option<String>,
    /// When it would stop on its own.
    pub expires_at: DateTime<Utc>,
}

/// What the cleanup of one connection needs.
#[derive(Clone, Debug)]
pub struct ConnectionCleanup {
    /// The cleanup's id (a connection can be disconnected, reconnected and disconnected again).
    pub id: Uuid,
    /// The connection taken away.
    pub connection_id: Uuid,
    /// Its tenant.
    pub tenant_id: Uuid,
    /// Google or Microsoft.
    pub provider: Provider,
    /// The account.
    pub account_email: String,
    /// The mailbox an organisation's application token acts on (a Microsoft member's directory
    /// id); `None` for a calendar connected by its owner.
    pub mailbox: Option<String>,
    /// Where its events were written.
    pub destination_calendar_id: Option<String>,
    /// Its tokens, opened.
    pub tokens: ConnectionTokens,
    /// Whether the events it wrote are removed.
    pub remove_events: bool,
    /// The events Kalends recorded for it: (calendar id, remote id).
    pub events: Vec<(String, String)>,
    /// Its push channels.
    pub channels: Vec<CleanupChannel>,
    /// How another token is minted for a calendar an organisation covered, when the one it was
    /// given runs out ([`Store::cleanup_coverage`] opens it); `None` for a calendar connected
    /// by its owner.
    pub coverage: Option<KeptCoverage>,
    /// When it was taken away.
    pub created_at: DateTime<Utc>,
}

/// The JSON parts of a cleanup row, read before the transaction that records it.
pub(crate) struct CleanupParts {
    pub(crate) events: String,
    pub(crate) channels: String,
    /// The calendar's coverage by an organisation ([`KeptCoverage`]), if any.
    pub(crate) coverage: Option<String>,
}

/// Copies a connection with tokens into `connection_cleanups`: `$1` cleanup id, `$2` remove
/// events, `$3` events JSON, `$4` channels JSON, `$5` now, `$6` connection id, `$7` coverage
/// JSON. A calendar a Microsoft organisation covers keeps its member's directory id as the
/// mailbox to act on.
pub(crate) const INSERT: &str = concat!(
    "INSERT INTO connection_cleanups (id, connection_id, tenant_id, provider, account_email, \
     destination_calendar_id, access_token, refresh_token, token_expires_at, remove_events, \
     events, channels, created_at, coverage, mailbox) SELECT $1, c.id, c.tenant_id, c.provider, \
     c.account_email, c.destination_calendar_id, c.access_token, c.refresh_token, \
     c.token_expires_at, $2, $3, $4, $5, $7, ",
    super::organisations::member_mailbox!(),
    " FROM connections c WHERE c.id = $6 AND c.access_token IS NOT NULL \
     AND c.token_expires_at IS NOT NULL"
);

type CleanupRow = (
    Uuid,
    Uuid,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    DateTime<Utc>,
    bool,
    String,
    String,
    DateTime<Utc>,
    Option<String>,
    Option<String>,
);

impl Store {
    /// What a cleanup of the connection must know that its row does not hold: the events
    /// Kalends recorded in its calendars and its push channels.
    pub(crate) async fn cleanup_parts(
        &self,
        connection_id: Uuid,
    ) -> Result<CleanupParts, StoreError> {
        let events: Vec<(String, String)> = with_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT calendar_id, remote_id FROM booking_events WHERE connection_id = $1 \
                 AND remote_id IS NOT NULL AND state <> 'deleted' ORDER BY booking_id",
            )
            .bind(connection_id)
            .fetch_all(pool)
            .await
        })?;
        let channels: Vec<(String, Option<String>, DateTime<Utc>)> =
            with_read_pool!(self, |pool| {
                sqlx::query_as(
                    "SELECT channel_id, resource_id, expires_at FROM calendar_channels \
                 WHERE connection_id = $1 ORDER BY created_at",
                )
                .bind(connection_id)
                .fetch_all(pool)
                .await
            })?;
        let channels: Vec<CleanupChannel> = channels
            .into_iter()
            .map(|(id, resource_id, expires_at)| CleanupChannel { id, resource_id, expires_at })
            .collect();
        Ok(CleanupParts {
            events: serde_json::to_string(&events).map_err(corrupt)?,
            channels: serde_json::to_string(&channels).map_err(corrupt)?,
            coverage: (self.sealed_coverage(connection_id).await?)
                .map(|kept| serde_json::to_string(&kept))
                .transpose()
                .map_err(corrupt)?,
        })
    }

    /// The coverage a cleanup mints through, its key opened: the organisation's as it is now
    /// while its connection exists (a key or secret replaced since the cleanup was owed is the
    /// one that works), else the copy the cleanup kept. A key that no longer opens (sealed
    /// under a secret key since removed) is `Corrupt`.
    pub async fn cleanup_coverage(
        &self,
        kept: &KeptCoverage,
        sealer: &Sealer,
    ) -> Result<Coverage, StoreError> {
        let current: Option<(String, String, String, String)> = with_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT sealed_key, provider, domain, service_account \
                 FROM organisation_connections WHERE id = $1",
            )
            .bind(kept.organisation_id)
            .fetch_optional(pool)
            .await
        })?;
        let mut kept = kept.clone();
        if let Some((sealed_key, provider, domain, service_account)) = current {
            kept = KeptCoverage { sealed_key, provider, domain, service_account, ..kept };
        }
        self.opened_coverage(kept, sealer).await
    }

    /// The cleanup, its tokens opened; `None` once done (or never owed).
    pub async fn connection_cleanup(
        &self,
        id: Uuid,
        sealer: &Sealer,
    ) -> Result<Option<ConnectionCleanup>, StoreError> {
        let row: Option<CleanupRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT connection_id, tenant_id, provider, account_email, destination_calendar_id, \
                 access_token, refresh_token, token_expires_at, remove_events, events, channels, \
                 created_at, mailbox, coverage FROM connection_cleanups WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
        })?;
        let Some((
            connection_id,
            tenant_id,
            provider,
            email,
            destination,
            access,
            refresh,
            expires_at,
            remove,
            events,
            channels,
            created_at,
            mailbox,
            coverage,
        )) = row
        else {
            return Ok(None);
        };
        let bad = |what: &str| corrupt(format!("connection cleanup {id} has an unreadable {what}"));
        let open = |sealed: &str, field: &str| {
            sealer
                .open(sealed, &context(connection_id, field))
                .map_err(|e| corrupt(format!("connection cleanup {id}: {e}")))
        };
        Ok(Some(ConnectionCleanup {
            id,
            connection_id,
            tenant_id,
            provider: provider.parse().map_err(|_| bad("provider"))?,
            account_email: email,
            mailbox,
            destination_calendar_id: destination,
            tokens: ConnectionTokens {
                access_token: open(&access, "access")?,
                refresh_token: refresh.as_deref().map(|r| open(r, "refresh")).transpose()?,
                expires_at,
            },
            remove_events: remove,
            events: serde_json::from_str(&events).map_err(|_| bad("event list"))?,
            channels: serde_json::from_str(&channels).map_err(|_| bad("channel list"))?,
            coverage: coverage
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|_| bad("coverage"))?,
            created_at,
        }))
    }

    /// Whether the cleanup is still owed: a reconnect of its calendar forgets it, and a run
    /// under way stops there.
    pub async fn connection_cleanup_owed(&self, id: Uuid) -> Result<bool, StoreError> {
        let found: Option<i32> = with_read_pool!(self, |pool| {
            sqlx::query_scalar("SELECT 1 FROM connection_cleanups WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(found.is_some())
    }

    /// When the cleanup first ran (set now, at its first run): it ran after its disconnect
    /// committed, so a sync whose lease was taken later read the connection as disconnected and
    /// writes nothing into its calendar.
    pub async fn cleanup_syncs_before(&self, id: Uuid) -> Result<DateTime<Utc>, StoreError> {
        let before: Option<DateTime<Utc>> = with_pool!(self, |pool| {
            sqlx::query_scalar(
                "UPDATE connection_cleanups SET syncs_before = COALESCE(syncs_before, $2) \
                 WHERE id = $1 RETURNING syncs_before",
            )
            .bind(id)
            .bind(now())
            .fetch_optional(pool)
            .await
        })?;
        before.ok_or(StoreError::NotFound)
    }

    /// Whether a sync of one of the tenant's bookings whose lease was taken before `before`
    /// still holds it: it may have read a calendar as connected that is disconnected since, and
    /// be writing into it with the token it read. Leases taken later do not count, so the set
    /// waited for only drains. The tenant's, not only the connection's: a deleted staff
    /// member's links and events are gone with them.
    pub async fn syncs_under_way(
        &self,
        tenant_id: Uuid,
        before: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let found: Option<i32> = with_read_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT 1 FROM sync_leases l JOIN bookings b ON b.id = l.booking_id \
                 WHERE b.tenant_id = $1 AND l.until >= $2 \
                 AND (l.taken_at IS NULL OR l.taken_at < $3) LIMIT 1",
            )
            .bind(tenant_id)
            .bind(now())
            .bind(before)
            .fetch_optional(pool)
            .await
        })?;
        Ok(found.is_some())
    }

    /// The latest end of the bookings whose events a connection holds or is writing: how far
    /// ahead its cleanup must look for them. Records marked deleted count too: a sync after the
    /// disconnect marks its booking's event there deleted without touching the calendar, which
    /// the cleanup alone may still do (a create whose answer was lost is known by no id). A
    /// deleted staff member's records went with the connection: the tenant's latest booking then.
    pub async fn latest_event_end(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let latest: Option<DateTime<Utc>> = with_read_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT COALESCE(\
                 (SELECT MAX(b.span_end) FROM booking_events e JOIN bookings b ON b.id = e.booking_id \
                  WHERE e.connection_id = $2), \
                 (SELECT MAX(span_end) FROM bookings WHERE tenant_id = $1 \
                  AND NOT EXISTS (SELECT 1 FROM connections WHERE id = $2)))",
            )
            .bind(tenant_id)
            .bind(connection_id)
            .fetch_one(pool)
            .await
        })?;
        Ok(latest)
    }

    /// Takes the cleanup's lease until `until`; `false` while another run holds it (or when it
    /// is done).
    pub async fn claim_connection_cleanup(
        &self,
        id: Uuid,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.take_lease(&Lease::CONNECTION_CLEANUP, id.into(), &[], until).await
    }

    /// Gives the lease back (the run failed and will be retried).
    pub async fn release_connection_cleanup(&self, id: Uuid) -> Result<(), StoreError> {
        self.release_lease(&Lease::CONNECTION_CLEANUP, id.into()).await
    }

    /// Keeps tokens a cleanup refreshed (Microsoft rotates the refresh token), sealed as the
    /// connection's were; a `None` refresh token keeps the stored one.
    pub async fn store_cleanup_tokens(
        &self,
        cleanup: &ConnectionCleanup,
        tokens: &ConnectionTokens,
        sealer: &Sealer,
    ) -> Result<(), StoreError> {
        let access = sealer.seal(&tokens.access_token, &context(cleanup.connection_id, "access"));
        let refresh = tokens
            .refresh_token
            .as_ref()
            .map(|t| sealer.seal(t, &context(cleanup.connection_id, "refresh")));
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE connection_cleanups SET access_token = $1, \
                 refresh_token = COALESCE($2, refresh_token), token_expires_at = $3 WHERE id = $4",
            )
            .bind(&access)
            .bind(&refresh)
            .bind(tokens.expires_at)
            .bind(cleanup.id)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Forgets a cleanup done, in one transaction with what Kalends recorded of the events it
    /// removed: with its calendar connected again later, every booking is written into it
    /// afresh, not taken as already there. Those are the records up to the disconnect, and
    /// those of `removed` (the bookings whose events it removed), whenever written: a write
    /// under way at the disconnect records its event once its run is done, perhaps after the
    /// cleanup removed it. Any other record written since is kept: its event may be one the
    /// cleanup did not see. A cleanup withdrawn by a reconnection meanwhile (its row gone)
    /// leaves every record to the reconnected calendar: `false`, and the caller gives back
    /// what it removed.
    pub async fn connection_cleaned_up(
        &self,
        id: Uuid,
        removed: &[Uuid],
    ) -> Result<bool, StoreError> {
        const OWNED: &str = "EXISTS (SELECT 1 FROM connection_cleanups k WHERE k.id = $1 \
             AND k.remove_events AND k.connection_id = booking_events.connection_id";
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let until_disconnect = format!(
                "DELETE FROM booking_events WHERE {OWNED} AND booking_events.updated_at <= k.created_at)"
            );
            sqlx::query(sqlx::AssertSqlSafe(until_disconnect)).bind(id).execute(&mut *tx).await?;
            for chunk in removed.chunks(super::IDS_PER_QUERY) {
                let sql = format!(
                    "DELETE FROM booking_events WHERE {OWNED}) AND booking_events.booking_id IN ({})",
                    super::placeholders(2, chunk.len())
                );
                let query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id);
                let query = chunk.iter().fold(query, |query, booking| query.bind(*booking));
                query.execute(&mut *tx).await?;
            }
            let forgotten = sqlx::query("DELETE FROM connection_cleanups WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok::<_, StoreError>(forgotten == 1)
        })
    }

    /// Forgets what Kalends recorded of a connection's events of `bookings` (a cleanup
    /// withdrawn partway removed them): written into the calendar again, not taken as there.
    pub async fn forget_event_records(
        &self,
        connection_id: Uuid,
        bookings: &[Uuid],
    ) -> Result<(), StoreError> {
        for chunk in bookings.chunks(super::IDS_PER_QUERY) {
            let sql = format!(
                "DELETE FROM booking_events WHERE connection_id = $1 AND booking_id IN ({})",
                super::placeholders(2, chunk.len())
            );
            with_pool!(self, |pool| {
                let query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(connection_id);
                let query = chunk.iter().fold(query, |query, booking| query.bind(*booking));
                query.execute(pool).await.map(|_| ())
            })?;
        }
        Ok(())
    }

    /// Forgets a cleanup given up: the last copy of the connection's tokens goes.
    pub async fn forget_connection_cleanup(&self, id: Uuid) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM connection_cleanups WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }
}
