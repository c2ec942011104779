//! Reminders of overdue checklist items (the alert, the `checklist_item.overdue` events, the next
//! reminder, in one transaction) and the figures per platform.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::checklists::{ITEM_COLUMNS, ItemRow};
use super::webhooks::record_webhook_events;
use super::{ChecklistItem, Store, StoreError, corrupt, now, outbox, with_pool, with_read_pool};
use kalends_core::checklists::ListingPlatform;
use kalends_core::job::Job;
use kalends_core::webhooks::WebhookEvent;

/// A reminder to record ([`Store::record_checklist_reminder`]).
#[derive(Clone, Copy, Debug)]
pub struct Reminder<'a> {
    /// The alert (none when the tenant has no alert addresses).
    pub alert: Option<&'a kalends_core::alerts::AlertDraft>,
    /// When a raised alert is sent.
    pub alert_due: DateTime<Utc>,
    /// The overdue items with the reminder step each is at.
    pub steps: &'a [(Uuid, i64)],
    /// The item whose reminder this is.
    pub item_id: Uuid,
    /// Its next step, if any.
    pub next: Option<DateTime<Utc>>,
    /// When to try again if the quiet period holds the alert back.
    pub retry: DateTime<Utc>,
}

/// One platform's figures over a period.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PlatformFigures {
    /// Items created.
    pub created: usize,
    /// Items done.
    pub done: usize,
    /// The median time from creation to done, in seconds.
    pub median_secs_to_done: Option<i64>,
    /// Pending items past their due time now.
    pub overdue_now: usize,
}

impl Store {
    /// The tenant's pending items of `platform` past their due time at `at`, oldest due first.
    pub async fn overdue_checklist_items(
        &self,
        tenant_id: Uuid,
        platform: ListingPlatform,
        at: DateTime<Utc>,
    ) -> Result<Vec<ChecklistItem>, StoreError> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM checklist_items WHERE tenant_id = $1 AND platform = $2 \
             AND status = 'pending' AND due_at <= $3 ORDER BY due_at, id"
        );
        let rows: Vec<ItemRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(platform.as_str())
                .bind(at)
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(ChecklistItem::try_from).collect()
    }

    /// Records a reminder (see [`Reminder`]) in one transaction: the alert, raised as its rule
    /// allows, and when it was raised each item's step; a `checklist_item.overdue` event for each
    /// item overdue for the first time, raised or not; the next reminder job. Returns whether the
    /// alert was raised.
    pub async fn record_checklist_reminder(
        &self,
        tenant_id: Uuid,
        reminder: &Reminder<'_>,
    ) -> Result<bool, StoreError> {
        let Reminder { alert, alert_due, steps, item_id, next, retry } = *reminder;
        let alerts: &[kalends_core::alerts::AlertDraft] = match alert {
            Some(alert) => std::slice::from_ref(alert),
            None => &[],
        };
        let at = now();
        let raised = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let raised = super::alerts::record_alerts!(tx, tenant_id, alerts, at, alert_due);
            let mut events = Vec::new();
            for (id, step) in steps {
                let sql = format!(
                    "UPDATE checklist_items SET overdue_at = $1 WHERE id = $2 AND overdue_at IS NULL \
                     RETURNING {ITEM_COLUMNS}"
                );
                let first: Option<ItemRow> = sqlx::query_as(AssertSqlSafe(sql.as_str()))
                    .bind(at)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(row) = first {
                    let item = ChecklistItem::try_from(row)?;
                    let data = serde_json::to_value(&item).map_err(corrupt)?;
                    events.push(WebhookEvent::new("checklist_item.overdue", data));
                }
                if raised > 0 {
                    sqlx::query(
                        "UPDATE checklist_items SET reminded_step = $1 WHERE id = $2 \
                         AND reminded_step < $1",
                    )
                    .bind(step)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            record_webhook_events!(tx, tenant_id, &events, at);
            // Held back by the quiet period: again when it ends, or at the next step if sooner.
            let run_at = match (alert.is_some() && raised == 0, next) {
                (false, next) => next,
                (true, Some(next)) => Some(next.min(retry)),
                (true, None) => Some(retry),
            };
            if let Some(run_at) = run_at {
                let job = Job::RemindChecklist { tenant_id, item_id };
                sqlx::query(outbox::INSERT_AT)
                    .bind(outbox::encode(&job)?)
                    .bind(at)
                    .bind(run_at)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(raised > 0)
        })?;
        self.outbox_signal.notify_one();
        Ok(raised)
    }

    /// Figures per platform for items created since `since`, and overdue now.
    pub async fn checklist_figures(
        &self,
        tenant_id: Uuid,
        since: DateTime<Utc>,
    ) -> Result<BTreeMap<ListingPlatform, PlatformFigures>, StoreError> {
        let at = now();
        type Row = (String, String, DateTime<Utc>, Option<DateTime<Utc>>, DateTime<Utc>);
        let rows: Vec<Row> = with_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT platform, status, created_at, done_at, due_at FROM checklist_items \
                 WHERE tenant_id = $1 AND (created_at >= $2 OR status = 'pending')",
            )
            .bind(tenant_id)
            .bind(since)
            .fetch_all(pool)
            .await
        })?;
        let mut figures: BTreeMap<ListingPlatform, PlatformFigures> = BTreeMap::new();
        let mut times: BTreeMap<ListingPlatform, Vec<i64>> = BTreeMap::new();
        for (platform, status, created_at, done_at, due_at) in rows {
            let Some(platform) = ListingPlatform::parse(&platform) else { continue };
            let f = figures.entry(platform).or_default();
            if status == "pending" && due_at <= at {
                f.overdue_now += 1;
            }
            if created_at < since {
                continue;
            }
            f.created += 1;
            if let (true, Some(done_at)) = (status == "done", done_at) {
                f.done += 1;
                times.entry(platform).or_default().push((done_at - created_at).num_seconds());
            }
        }
        for (platform, mut secs) in times {
            secs.sort_unstable();
            if let Some(f) = figures.get_mut(&platform) {
                f.median_secs_to_done = secs.get(secs.len() / 2).copied();
            }
        }
        Ok(figures)
    }
}
