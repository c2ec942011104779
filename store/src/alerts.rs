//! Alert e-mails to the tenant: raised in the transaction of the change that causes them
//! ([`record_alerts!`], with the quiet period and once-per-streak rules applied there), each
//! owing a `SendAlert` job after the digest window; claimed before sending, marked once sent.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Store, StoreError, corrupt, now, with_pool, with_read_pool};

/// An alert to raise, if its rule allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertDraft {
    /// One of [`kalends_core::domain::ALERT_KINDS`].
    pub kind: &'static str,
    /// What it is about (an import, a conflict, a connection, a booking, an endpoint).
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
    /// The addresses it already went to (an e-mail to others was deferred).
    pub sent_to: Vec<String>,
}

fn seconds(secs: u64) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000))
}

/// An instant as alerts write it.
fn instant(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A span as alerts write it on `today`: whole days (midnight to midnight UTC, as whole-day items
/// are kept for alerts) as nights, otherwise instants.
fn span(start: DateTime<Utc>, end: DateTime<Utc>, today: chrono::NaiveDate) -> String {
    match kalends_core::words::whole_days(start, end, chrono_tz::UTC) {
        Some((first, checkout)) => kalends_core::words::nights(first, checkout, today),
        None => format!("{} to {}", instant(start), instant(end)),
    }
}

/// `conflict_opened`: a new high-severity conflict, told at once (a new conflict is a new
/// object: each is told once). A double booking names the two stays; a booking's event edited
/// by hand in a staff calendar (and left so) names the booking and where the event is now.
pub(crate) fn conflict_opened(
    conflict: &kalends_core::conflict_record::Conflict,
    owner_name: &str,
    at: DateTime<Utc>,
) -> AlertDraft {
    let items: Vec<&str> = conflict.items.iter().map(|i| i.label.as_str()).collect();
    let booking = items.first().copied().unwrap_or("a booking");
    let (summary, what, dates) = match conflict.kind {
        kalends_core::conflict_record::ConflictKind::Overlap => (
            format!("Double booking: {} on {owner_name}", items.join(" and ")),
            format!("These overlap: {}", items.join("; ")),
            "Dates",
        ),
        kalends_core::conflict_record::ConflictKind::ExternalEdit => (
            format!("Booking changed by hand: {booking} in {owner_name}'s calendar"),
            items.join(": "),
            "Booking's dates",
        ),
        // Rule conflicts are low or medium: not told at once, but written the same way.
        kalends_core::conflict_record::ConflictKind::Rule => (
            format!("Booking breaks a rule: {booking} on {owner_name}"),
            conflict.suggestion.clone(),
            "Booking's dates",
        ),
    };
    AlertDraft {
        kind: "conflict_opened",
        object_id: conflict.id,
        summary,
        facts: vec![
            ("What happened".to_owned(), what),
            ("Detected at".to_owned(), instant(conflict.detected_at)),
            kalends_core::words::owner_fact(conflict.owner, owner_name),
            (dates.to_owned(), span(conflict.start, conflict.end, at.date_naive())),
            ("Severity".to_owned(), conflict.severity.as_str().to_owned()),
            ("What to do".to_owned(), conflict.suggestion.clone()),
        ],
        link: "/dashboard/conflicts".to_owned(),
        rule: AlertRule::Unless(at),
    }
}

/// What a connection that lost its grant is.
pub(crate) struct DeadGrant<'a> {
    /// The connection.
    pub connection_id: Uuid,
    /// Its staff member's name.
    pub staff_name: &'a str,
    /// `google`, `microsoft`, ...
    pub provider: &'a str,
    /// The account it is.
    pub account: &'a str,
    /// The provider's words.
    pub error: Option<&'a str>,
    /// The staff member's bookings still to come.
    pub upcoming_bookings: i64,
}

/// `connection_needs_reauth`: a connection's grant died; not told again about the same
/// connection within the quiet period.
pub(crate) fn connection_needs_reauth(
    grant: &DeadGrant<'_>,
    at: DateTime<Utc>,
    quiet_period: chrono::Duration,
) -> AlertDraft {
    AlertDraft {
        kind: "connection_needs_reauth",
        object_id: grant.connection_id,
        summary: format!("Calendar needs reconnecting: {}", grant.staff_name),
        facts: vec![
            ("Staff member".to_owned(), grant.staff_name.to_owned()),
            ("Calendar".to_owned(), format!("{} ({})", grant.account, grant.provider)),
            ("Since".to_owned(), instant(at)),
            (
                "Error".to_owned(),
                grant.error.unwrap_or("the grant was revoked or expired").to_owned(),
            ),
            (
                "What it affects".to_owned(),
                format!(
                    "{} upcoming booking(s) of theirs are not written to this calendar, and its \
                     busy times are not read, until they reconnect (they were e-mailed a link).",
                    grant.upcoming_bookings
                ),
            ),
        ],
        link: "/dashboard/staff".to_owned(),
        rule: AlertRule::Unless(at - quiet_period),
    }
}

/// What a booking whose sync failed is.
pub(crate) struct FailedBooking<'a> {
    /// The booking.
    pub booking_id: Uuid,
    /// Its title.
    pub title: &'a str,
    /// Its time.
    pub start: DateTime<Utc>,
    /// Likewise.
    pub end: DateTime<Utc>,
    /// Its days, when it is all-day (the end exclusive).
    pub dates: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
    /// Its resource's name, if any.
    pub resource: Option<&'a str>,
    /// Whose calendar, and which: `Ana (google)`.
    pub calendar: String,
    /// When it last synced anywhere (the failing streak began after), if ever.
    pub last_synced: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The provider's words, or why the sync was given up.
    pub error: &'a str,
}

/// `booking_sync_failed`: once per booking per failing streak (until it syncs again), and not
/// again within the quiet period; several bookings within the digest window make one e-mail.
pub(crate) fn booking_sync_failed(
    booking: &FailedBooking<'_>,
    at: DateTime<Utc>,
    quiet_period: chrono::Duration,
) -> AlertDraft {
    let streak = booking.last_synced.unwrap_or(booking.created_at);
    let mut facts = vec![
        ("Booking".to_owned(), booking.title.to_owned()),
        (
            "Dates".to_owned(),
            booking.dates.map_or_else(
                || span(booking.start, booking.end, at.date_naive()),
                |(start, end)| kalends_core::words::nights(start, end, at.date_naive()),
            ),
        ),
    ];
    if let Some(resource) = booking.resource {
        facts.push(("Resource".to_owned(), resource.to_owned()));
    }
    facts.extend([
        ("Calendar".to_owned(), booking.calendar.clone()),
        ("Failed at".to_owned(), instant(at)),
        ("Last synced".to_owned(), booking.last_synced.map_or_else(|| "never".to_owned(), instant)),
        ("Error".to_owned(), booking.error.to_owned()),
        (
            "What it affects".to_owned(),
            "The staff member's calendar does not show this booking as it is now.".to_owned(),
        ),
    ]);
    AlertDraft {
        kind: "booking_sync_failed",
        object_id: booking.booking_id,
        summary: format!("Booking not synced: {}", booking.title),
        facts,
        link: "/dashboard/sync".to_owned(),
        rule: AlertRule::Unless(streak.min(at - quiet_period)),
    }
}

/// Raises `$alerts` (a `&[AlertDraft]`) of tenant `$tenant_id` at `$at` in transaction `$tx`,
/// each as its rule allows, and owes one `SendAlert` job at `$send_at` when any was raised.
/// Evaluates to how many were raised.
macro_rules! record_alerts {
    ($tx:expr, $tenant_id:expr, $alerts:expr, $at:expr, $send_at:expr) => {{
        let alerts: &[$crate::alerts::AlertDraft] = $alerts;
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
                $crate::alerts::AlertRule::Unless(since) => {
                    ($crate::alerts::INSERT_UNLESS, alert.kind, since)
                }
                $crate::alerts::AlertRule::After { kind, since } => {
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
        seconds(self.alerts.quiet_period_secs)
    }

    /// When alerts raised at `at` are sent: after the digest window.
    pub(crate) fn alert_digest_due(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        at + seconds(self.alerts.digest_window_secs)
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

    /// Notes that claimed `alerts` went to the addresses `to` (one e-mail of several): a retry
    /// of the others does not send them there again.
    pub async fn alerts_sent_to(&self, alerts: &[&Alert], to: &[String]) -> Result<(), StoreError> {
        with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            for alert in alerts {
                let mut sent_to = alert.sent_to.clone();
                sent_to.extend(to.iter().filter(|a| !alert.sent_to.contains(a)).cloned());
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

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone as _};

    use super::*;

    #[test]
    fn an_alert_gives_whole_days_as_nights_and_other_spans_as_instants() {
        let today = NaiveDate::from_ymd_opt(2030, 1, 2).unwrap();
        let at = |d: u32, h: u32| Utc.with_ymd_and_hms(2030, 1, d, h, 0, 0).unwrap();
        assert_eq!(span(at(14, 0), at(15, 0), today), "the night of Mon 14 Jan");
        assert_eq!(span(at(14, 0), at(17, 0), today), "3 nights, 14–17 Jan");
        assert_eq!(
            span(at(14, 9), at(14, 10), today),
            "2030-01-14 09:00 UTC to 2030-01-14 10:00 UTC"
        );
    }
}
