//! Alert e-mails to the tenant: raised in the transaction of the change that causes them
//! ([`record_alerts!`], with the quiet period and once-per-streak rules applied there), each
//! owing a `SendAlert` job after the digest window; claimed before sending, marked once sent.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Store, StoreError, corrupt, now, with_pool, with_read_pool};

/// An alert as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// Its id.
    pub id: Uuid,
    /// Its kind.
    pub kind: String,
    /// One line.
    pub summary: String,
    /// `(label, value)`.
    pub facts: Vec<(String, String)>,
    /// Where to look.
    pub link: String,
    /// When it was raised.
    pub created_at: DateTime<Utc>,
    /// The addresses it already went to (an e-mail to others was deferred).
    pub sent_to: Vec<String>,
}

/// Raises `$alerts` (a `&[AlertDraft]`) of tenant `$tenant_id` at `$at` in transaction `$tx`,
/// each as its rule allows, and owes one `SendAlert` job at `$send_at` when any was raised.
/// Evaluates to how many were raised.
macro_rules! record_alerts {
    ($tx:expr, $tenant_id:expr, $alerts:expr, $at:expr, $send_at:expr) => {{
        let alerts: &[kalends_core::alerts::AlertDraft] = $alerts;
        let (tenant_id, at): (uuid::Uuid, chrono::DateTime<chrono::Utc>) = ($tenant_id, $at);
        let mut raised = 0u64;
        // Only the alerts somebody wants, as the settings are in this transaction.
        let settings: kalends_core::domain::TenantSettings = if alerts.is_empty() {
            kalends_core::domain::TenantSettings::default()
        } else {
            let row: Option<(String,)> =
                sqlx::query_as("SELECT settings FROM tenants WHERE id = $1")
                    .bind(tenant_id)
                    .fetch_optional(&mut *$tx)
                    .await?;
            match row {
                Some((json,)) => serde_json::from_str(&json).map_err($crate::corrupt)?,
                None => kalends_core::domain::TenantSettings::default(),
            }
        };
        for alert in alerts.iter().filter(|a| settings.wants_alert(a.kind)) {
            let facts = serde_json::to_string(&alert.facts).map_err($crate::corrupt)?;
            let (sql, kind, since) = match alert.rule {
                kalends_core::alerts::AlertRule::Unless(since) => {
                    ($crate::alerts::INSERT_UNLESS, alert.kind, since)
                }
                kalends_core::alerts::AlertRule::After { kind, since } => {
                    ($crate::alerts::INSERT_AFTER, kind, since)
                }
            };
            raised += sqlx::query(sql)
                .bind(uuid::Uuid::now_v7())
                .bind(tenant_id)
                .bind(alert.kind)
                .bind(alert.object_id)
                .bind(&alert.summary)
                .bind(&facts)
                .bind(&alert.link)
                .bind(at)
                .bind(kind)
                .bind(since)
                .execute(&mut *$tx)
                .await?
                .rows_affected();
        }
        if raised > 0 {
            let job = $crate::outbox::encode(&kalends_core::job::Job::SendAlert { tenant_id })?;
            sqlx::query($crate::outbox::INSERT_AT)
                .bind(&job)
                .bind(at)
                .bind($send_at)
                .execute(&mut *$tx)
                .await?;
        }
        raised
    }};
}
pub(crate) use record_alerts;

/// Raises unless an alert of the same kind (`$9` is that kind) and object exists from `$10` on.
pub(crate) const INSERT_UNLESS: &str = "INSERT INTO alerts (id, tenant_id, kind, object_id, \
     summary, facts, link, created_at) SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE NOT EXISTS \
     (SELECT 1 FROM alerts WHERE tenant_id = $2 AND kind = $9 AND object_id = $4 \
     AND created_at >= $10)";

/// Raises only after an alert of kind `$9` from `$10` on, and none of this kind since then.
pub(crate) const INSERT_AFTER: &str = "INSERT INTO alerts (id, tenant_id, kind, object_id, \
     summary, facts, link, created_at) SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS \
     (SELECT 1 FROM alerts WHERE tenant_id = $2 AND kind = $9 AND object_id = $4 \
     AND created_at >= $10) AND NOT EXISTS (SELECT 1 FROM alerts WHERE tenant_id = $2 \
     AND kind = $3 AND object_id = $4 AND created_at >= $10)";

#[derive(sqlx::FromRow)]
struct AlertRow {
    id: Uuid,
    kind: String,
    summary: String,
    facts: String,
    link: String,
    created_at: DateTime<Utc>,
    sent_to: String,
}

impl TryFrom<AlertRow> for Alert {
    type Error = StoreError;
    fn try_from(r: AlertRow) -> Result<Self, StoreError> {
        let facts = serde_json::from_str(&r.facts).map_err(corrupt)?;
        Ok(Alert {
            id: r.id,
            kind: r.kind,
            summary: r.summary,
            facts,
            link: r.link,
            created_at: r.created_at,
            sent_to: serde_json::from_str(&r.sent_to).map_err(corrupt)?,
        })
    }
}

impl Store {
    /// The quiet period of the alerts raised in this store's transactions.
    pub(crate) fn alert_quiet_period(&self) -> chrono::Duration {
        kalends_core::alerts::seconds(self.alerts.quiet_period_secs)
    }

    /// When alerts raised at `at` are sent: after the digest window.
    pub(crate) fn alert_digest_due(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        at + kalends_core::alerts::seconds(self.alerts.digest_window_secs)
    }

    /// Claims the tenant's unsent alerts for `lease` (oldest first): a sender holds them until
    /// it marks them sent or releases them; another sender meanwhile finds nothing to send.
    pub async fn claim_alerts(
        &self,
        tenant_id: Uuid,
        lease: std::time::Duration,
    ) -> Result<Vec<Alert>, StoreError> {
        let at = now();
        let until = at + chrono::Duration::from_std(lease).map_err(corrupt)?;
        let rows: Vec<AlertRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "UPDATE alerts SET claimed_until = $1 WHERE tenant_id = $2 AND sent_at IS NULL \
                 AND (claimed_until IS NULL OR claimed_until < $3) \
                 RETURNING id, kind, summary, facts, link, created_at, sent_to",
            )
            .bind(until)
            .bind(tenant_id)
            .bind(at)
            .fetch_all(pool)
            .await
        })?;
        let mut alerts = rows.into_iter().map(Alert::try_from).collect::<Result<Vec<_>, _>>()?;
        alerts.sort_by_key(|a| a.id);
        Ok(alerts)
    }

    /// When the latest claim on the tenant's unsent alerts ends, if one still holds any.
    pub async fn alerts_claimed_until(
        &self,
        tenant_id: Uuid,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let (until,): (Option<DateTime<Utc>>,) = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT MAX(claimed_until) FROM alerts WHERE tenant_id = $1 AND sent_at IS NULL \
                 AND claimed_until >= $2",
            )
            .bind(tenant_id)
            .bind(now())
            .fetch_one(pool)
            .await
        })?;
        Ok(until)
    }

    /// Notes that claimed `alerts` went to the addresses `to` (one e-mail of several): a retry
    /// of the others does not send them there again. Added to the addresses recorded (read in
    /// the same transaction), so the e-mails of one run add up.
    pub async fn alerts_sent_to(&self, alerts: &[&Alert], to: &[String]) -> Result<(), StoreError> {
        with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            for alert in alerts {
                let (recorded,): (String,) =
                    sqlx::query_as("SELECT sent_to FROM alerts WHERE id = $1")
                        .bind(alert.id)
                        .fetch_one(&mut *tx)
                        .await?;
                let mut sent_to: Vec<String> = serde_json::from_str(&recorded).map_err(corrupt)?;
                let new: Vec<String> =
                    to.iter().filter(|a| !sent_to.contains(a)).cloned().collect();
                sent_to.extend(new);
                let sent_to = serde_json::to_string(&sent_to).map_err(corrupt)?;
                sqlx::query("UPDATE alerts SET sent_to = $1 WHERE id = $2")
                    .bind(sent_to)
                    .bind(alert.id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }
        .await)
    }

    /// Marks claimed alerts sent (`sent`), or releases them for a later try.
    pub async fn finish_alerts(&self, ids: &[Uuid], sent: bool) -> Result<(), StoreError> {
        let at = now();
        with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            for id in ids {
                let query = if sent {
                    sqlx::query(
                        "UPDATE alerts SET sent_at = $1, claimed_until = NULL WHERE id = $2",
                    )
                    .bind(at)
                    .bind(id)
                } else {
                    sqlx::query("UPDATE alerts SET claimed_until = NULL WHERE id = $1").bind(id)
                };
                query.execute(&mut *tx).await?;
            }
            tx.commit().await
        }
        .await)?;
        Ok(())
    }

    /// Since when the import's runs fail (`None` while it succeeds).
    pub async fn import_failing_since(
        &self,
        import_id: Uuid,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row: Option<(Option<DateTime<Utc>>,)> = with_read_pool!(self, |pool| {
            sqlx::query_as("SELECT failing_since FROM imports WHERE id = $1")
                .bind(import_id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.and_then(|(since,)| since))
    }
}
