//! Alert e-mails to the tenant: raised in the transaction of the change that causes them
//! ([`record_alerts!`], with the quiet period and once-per-streak rules applied there), each
//! owing a `SendAlert` job after the digest window; claimed before sending, marked once sent.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Store, StoreError, corrupt, now, with_pool, with_read_pool};

/// An alert to raise, if its rule allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertDraft {
    /// `import_failing` or `import_recovered`.
    pub kind: &'static str,
    /// What it is about (an import).
    pub object_id: Uuid,
    /// One line: the subject of a single alert, a line of a digest.
    pub summary: String,
    /// What happened, since when, what it affects: `(label, value)`.
    pub facts: Vec<(String, String)>,
    /// Where to look (the console page, or the API object).
    pub link: String,
    /// When it may be raised.
    pub rule: AlertRule,
}

/// When an alert is raised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertRule {
    /// Unless the same kind about the same object was raised at or after this instant (the
    /// quiet period, or the start of the failing streak, whichever is earlier).
    Unless(DateTime<Utc>),
    /// Only if an alert of `kind` about the object was raised at or after `since` (a recovery
    /// is told only to those who were told of the failure), and none of this kind since then.
    After {
        /// The alert that must have gone out.
        kind: &'static str,
        /// Since when.
        since: DateTime<Utc>,
    },
}

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
}

/// Raises `$alerts` (a `&[AlertDraft]`) of tenant `$tenant_id` at `$at` in transaction `$tx`,
/// each as its rule allows, and owes one `SendAlert` job at `$send_at` when any was raised.
/// Evaluates to how many were raised.
macro_rules! record_alerts {
    ($tx:expr, $tenant_id:expr, $alerts:expr, $at:expr, $send_at:expr) => {{
        let alerts: &[$crate::store::alerts::AlertDraft] = $alerts;
        let (tenant_id, at): (uuid::Uuid, chrono::DateTime<chrono::Utc>) = ($tenant_id, $at);
        let mut raised = 0u64;
        for alert in alerts {
            let facts = serde_json::to_string(&alert.facts).map_err($crate::store::corrupt)?;
            let (sql, kind, since) = match alert.rule {
                $crate::store::alerts::AlertRule::Unless(since) => {
                    ($crate::store::alerts::INSERT_UNLESS, alert.kind, since)
                }
                $crate::store::alerts::AlertRule::After { kind, since } => {
                    ($crate::store::alerts::INSERT_AFTER, kind, since)
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
            let job = $crate::store::outbox::encode(&$crate::job::Job::SendAlert { tenant_id })?;
            sqlx::query($crate::store::outbox::INSERT_AT)
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
        })
    }
}

impl Store {
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
                 RETURNING id, kind, summary, facts, link, created_at",
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
