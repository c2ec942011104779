//! Push-notification channels (Google watch channels, Microsoft subscriptions) and the
//! notification-triggered import request of a connection, deduplicated.

use super::outbox::DueWork;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use uuid::Uuid;

use super::{Store, StoreError, corrupt, now, outbox, with_pool, with_read_pool};
use kalends_core::domain::Provider;
use kalends_core::job::Job;
use kalends_core::seal::Sealer;

/// A channel as stored (its secret opened).
#[derive(Clone, Debug)]
pub struct Channel {
    /// Row id.
    pub id: Uuid,
    /// The connection it watches for.
    pub connection_id: Uuid,
    /// Owner.
    pub tenant_id: Uuid,
    /// Google or Microsoft.
    pub provider: Provider,
    /// The calendar watched.
    pub calendar_id: String,
    /// Google channel id or Microsoft subscription id.
    pub channel_id: String,
    /// Google's resourceId.
    pub resource_id: Option<String>,
    /// What notifications must echo.
    pub secret: SecretString,
    /// When the provider stops sending unless renewed.
    pub expires_at: DateTime<Utc>,
}

/// A channel to store.
#[derive(Clone, Debug)]
pub struct NewChannel<'a> {
    /// The connection.
    pub connection_id: Uuid,
    /// Owner.
    pub tenant_id: Uuid,
    /// Google or Microsoft.
    pub provider: Provider,
    /// The calendar watched.
    pub calendar_id: &'a str,
    /// Google channel id or Microsoft subscription id.
    pub channel_id: &'a str,
    /// Google's resourceId.
    pub resource_id: Option<&'a str>,
    /// What notifications must echo.
    pub secret: &'a SecretString,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

type ChannelRow = (Uuid, Uuid, Uuid, String, String, String, Option<String>, String, DateTime<Utc>);

const COLUMNS: &str = "id, connection_id, tenant_id, provider, calendar_id, channel_id, resource_id, secret, expires_at";

fn context(channel_id: &str) -> String {
    format!("channel/{channel_id}/secret")
}

fn channel_of(row: ChannelRow, sealer: &Sealer) -> Result<Channel, StoreError> {
    let (
        id,
        connection_id,
        tenant_id,
        provider,
        calendar_id,
        channel_id,
        resource_id,
        secret,
        expires_at,
    ) = row;
    Ok(Channel {
        id,
        connection_id,
        tenant_id,
        provider: provider.parse().map_err(|_| corrupt("channel provider"))?,
        secret: sealer
            .open(&secret, &context(&channel_id))
            .map_err(|e| corrupt(format!("channel {id}: {e}")))?,
        calendar_id,
        channel_id,
        resource_id,
        expires_at,
    })
}

/// Active connections whose reconciliation is due, all moving by the same interval.
const DUE_RECONCILES: DueWork = DueWork {
    select: "SELECT id, tenant_id, CAST($3 AS BIGINT) FROM connections WHERE status = 'active' \
             AND (next_reconcile_at IS NULL OR next_reconcile_at <= $1) \
             ORDER BY next_reconcile_at NULLS FIRST LIMIT $2",
    advance: "UPDATE connections SET next_reconcile_at = $1 WHERE id = $2",
    job: |tenant_id, connection_id| Job::Reconcile { tenant_id, connection_id },
};

impl Store {
    /// Records a channel (replacing one with the same channel id).
    pub async fn save_channel(
        &self,
        new: &NewChannel<'_>,
        sealer: &Sealer,
    ) -> Result<(), StoreError> {
        let secret = sealer.seal(new.secret, &context(new.channel_id));
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO calendar_channels (id, connection_id, tenant_id, provider, calendar_id, channel_id, \
                 resource_id, secret, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (channel_id) DO UPDATE SET expires_at = $9, resource_id = $7, secret = $8, renewing_until = NULL",
            )
            .bind(Uuid::now_v7())
            .bind(new.connection_id)
            .bind(new.tenant_id)
            .bind(new.provider.as_str())
            .bind(new.calendar_id)
            .bind(new.channel_id)
            .bind(new.resource_id)
            .bind(&secret)
            .bind(new.expires_at)
            .bind(now())
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// The channel a notification names, if Kalends made it.
    pub async fn channel(
        &self,
        channel_id: &str,
        sealer: &Sealer,
    ) -> Result<Option<Channel>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM calendar_channels WHERE channel_id = $1");
        let row: Option<ChannelRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(channel_id)
                .fetch_optional(pool)
                .await
        })?;
        let Some(row) = row else { return Ok(None) };
        self.reseal_channel_secrets(std::slice::from_ref(&row), sealer).await?;
        channel_of(row, sealer).map(Some)
    }

    /// A connection's channels.
    pub async fn channels_of(
        &self,
        connection_id: Uuid,
        sealer: &Sealer,
    ) -> Result<Vec<Channel>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM calendar_channels WHERE connection_id = $1 ORDER BY created_at"
        );
        let rows: Vec<ChannelRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(connection_id)
                .fetch_all(pool)
                .await
        })?;
        self.reseal_channel_secrets(&rows, sealer).await?;
        rows.into_iter().map(|r| channel_of(r, sealer)).collect()
    }

    /// Seals secrets sealed with a previous secret key again with the current one, so that key
    /// can be retired (channels live for days and are renewed, not re-created).
    async fn reseal_channel_secrets(
        &self,
        rows: &[ChannelRow],
        sealer: &Sealer,
    ) -> Result<(), StoreError> {
        for (id, .., channel_id, _, secret, _) in rows {
            if sealer.is_current(secret) {
                continue;
            }
            let Ok(plain) = sealer.open(secret, &context(channel_id)) else { continue };
            let resealed = sealer.seal(&plain, &context(channel_id));
            with_pool!(self, |pool| {
                sqlx::query(
                    "UPDATE calendar_channels SET secret = $1 WHERE id = $2 AND secret = $3",
                )
                .bind(&resealed)
                .bind(id)
                .bind(secret)
                .execute(pool)
                .await
                .map(|_| ())
            })?;
        }
        Ok(())
    }

    /// Forgets a channel (stopped, replaced, or its connection gone).
    pub async fn delete_channel(&self, id: Uuid) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM calendar_channels WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Connections with a channel expiring before `before` that nobody is renewing: their
    /// channels are leased until `until`, so each is handed out once across all workers.
    pub async fn claim_expiring_channels(
        &self,
        before: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
        let rows: Vec<(Uuid, Uuid)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "UPDATE calendar_channels SET renewing_until = $1 WHERE expires_at < $2 \
                 AND (renewing_until IS NULL OR renewing_until < $3) RETURNING tenant_id, connection_id",
            )
            .bind(until)
            .bind(before)
            .bind(now())
            .fetch_all(pool)
            .await
        })?;
        let mut pairs = rows;
        pairs.sort();
        pairs.dedup();
        Ok(pairs)
    }

    /// Claims every active connection whose reconciliation is due (moving it `interval` ahead)
    /// and owes its `reconcile` job, in one transaction: once across all workers.
    pub async fn claim_due_reconciles(
        &self,
        now: DateTime<Utc>,
        interval: chrono::Duration,
        limit: u32,
    ) -> Result<usize, StoreError> {
        self.claim_due(DUE_RECONCILES, now, Some(interval.num_seconds()), limit).await
    }

    /// Asks for an import of the connection's busy times at `run_at`, unless one is already
    /// asked for: a burst of notifications queues one import. `true` when this call queued it.
    /// `next_scheduled`, when given, also moves the scheduled import (the safety net) there, so
    /// an import run now on purpose (a new connection, a manual sync) is not run again by the
    /// scheduler a moment later.
    pub async fn request_calendar_import(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
        run_at: DateTime<Utc>,
        next_scheduled: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let at = now();
        let job = outbox::encode(&Job::ImportAvailability { tenant_id, connection_id })?;
        let queued = with_pool!(self, |pool| {
            async {
            let mut tx = pool.begin().await?;
            if let Some(next) = next_scheduled {
                sqlx::query("UPDATE connections SET next_import_at = $1 WHERE id = $2")
                    .bind(next)
                    .bind(connection_id)
                    .execute(&mut *tx)
                    .await?;
            }
            let marked = sqlx::query(
                "UPDATE connections SET import_requested_at = $1 WHERE id = $2 AND import_requested_at IS NULL",
            )
            .bind(at)
            .bind(connection_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if marked == 1 {
                sqlx::query("INSERT INTO outbox (job, created_at, run_at) VALUES ($1, $2, $3)")
                    .bind(&job)
                    .bind(at)
                    .bind(run_at)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(marked == 1)
        }
        .await
        })?;
        if queued {
            self.outbox_signal.notify_one();
        }
        Ok(queued)
    }

    /// Notes that an import of the connection is wanted once the import holding it lets go
    /// ([`Self::queue_wanted_import`]), queuing nothing; a request already noted stays as it is.
    pub async fn want_calendar_import(&self, connection_id: Uuid) -> Result<(), StoreError> {
        self.note_import_request(connection_id, Some(now())).await
    }

    /// Queues one import of the connection now when one was asked for meanwhile (by a
    /// notification, or an import that found the connection held): called by the import that
    /// held it, once it let go. `true` when it queued one.
    pub async fn queue_wanted_import(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
    ) -> Result<bool, StoreError> {
        let at = now();
        let job = outbox::encode(&Job::ImportAvailability { tenant_id, connection_id })?;
        let queued = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO outbox (job, created_at, run_at) SELECT $1, $2, $2 FROM connections \
                 WHERE id = $3 AND import_requested_at IS NOT NULL",
            )
            .bind(&job)
            .bind(at)
            .bind(connection_id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected() == 1)
        })?;
        if queued {
            self.outbox_signal.notify_one();
        }
        Ok(queued)
    }

    /// Clears the import request as an import starts, so a notification that arrives during it
    /// asks for the next one.
    pub async fn clear_import_request(&self, connection_id: Uuid) -> Result<(), StoreError> {
        self.note_import_request(connection_id, None).await
    }

    /// Notes an import request made `at` unless one is noted already, or clears it (`None`).
    async fn note_import_request(
        &self,
        connection_id: Uuid,
        at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let sql = match at {
            Some(_) => {
                "UPDATE connections SET import_requested_at = $2 WHERE id = $1 \
                        AND import_requested_at IS NULL"
            }
            None => "UPDATE connections SET import_requested_at = NULL WHERE id = $1",
        };
        with_pool!(self, |pool| {
            let query = sqlx::query(sql).bind(connection_id);
            let query = match at {
                Some(at) => query.bind(at),
                None => query,
            };
            query.execute(pool).await.map(|_| ())
        })?;
        Ok(())
    }
}
