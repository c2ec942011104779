//! Conflicts: the busy items of a resource or staff member, the collisions among them, and the
//! record of each collision from detection to resolution.

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::webhooks::record_webhook_events;
use super::{Page, Store, StoreError, corrupt, now, with_pool, with_read_pool};
use kalends_core::availability::Rule;
use kalends_core::conflict_plan::{OpenConflict, Plan};
use kalends_core::conflict_record::{Conflict, ConflictItem, ConflictKind};
use kalends_core::conflicts::{self, Busy, Class, ItemRef, Kin, Severity, Source};
use kalends_core::domain::{BookingStatus, Owner, Platform};
use kalends_core::webhooks::WebhookEvent;
use kalends_ical::ItemKind;

/// What imported busy items: a feed (by the import's id), or a connection's calendars.
#[derive(Clone, Copy, Debug)]
pub enum ImportedBy {
    /// An OTA or `.ics` import.
    Feed(Uuid),
    /// The busy calendars of a calendar connection.
    Calendars(Uuid),
}

/// Runs a [`BusyQuery`] on `$executor` (a pool, or `&mut *tx`); evaluates to the raw rows.
/// SQLite hands its rows over one at a time from its own thread, a cost that dominated a slots
/// request reading thousands of them: there the statement answers them all as one JSON row
/// ([`BusyQuery::sqlite_sql`]).
macro_rules! fetch_busy {
    ($query:expr, $executor:expr) => {{
        let query: &$crate::conflicts::BusyQuery = &$query;
        let executor = $executor;
        // The statement's values, the same in both forms.
        macro_rules! bound {
            ($statement:expr) => {
                $statement
                    .bind(query.tenant_id)
                    .bind(query.owner.id())
                    .bind(query.earliest)
                    .bind(query.from)
                    .bind(query.to)
                    .bind(query.latest)
            };
        }
        if $crate::conflicts::on_postgres(&executor) {
            let sql = sqlx::AssertSqlSafe(query.sql(true));
            bound!(sqlx::query_as::<_, $crate::conflicts::BusyRow>(sql)).fetch_all(executor).await
        } else {
            let sql = sqlx::AssertSqlSafe(query.sqlite_sql());
            bound!(sqlx::query_scalar::<_, String>(sql))
                .fetch_one(executor)
                .await
                .and_then(|json| $crate::conflicts::rows_from_json(&json))
        }
    }};
}
pub(super) use fetch_busy;

/// The busy items of `$owner` of tenant `$tenant_id` within `$window` (an `Option`), read on
/// `$executor` ([`fetch_busy!`]); evaluates to `Result<Vec<Busy>, StoreError>`.
macro_rules! fetch_busy_items {
    ($tenant_id:expr, $owner:expr, $window:expr, $executor:expr) => {{
        let query = $crate::conflicts::BusyQuery::new($tenant_id, $owner, $window);
        match $crate::conflicts::fetch_busy!(query, $executor) {
            Ok(rows) => rows
                .into_iter()
                .map($crate::conflicts::busy_from_row)
                .collect::<Result<Vec<_>, $crate::StoreError>>(),
            Err(e) => Err($crate::StoreError::from(e)),
        }
    }};
}
pub(super) use fetch_busy_items;

/// How far back an item may start and still reach into a window (and, for bookings, how far past
/// it one may end). Bookings and blocks last at most 366 days; imported items longer than this
/// are cut off from conflict checks by design.
const LOOKBACK_DAYS: i64 = 3 * 366;

#[derive(sqlx::FromRow)]
struct ConflictRow {
    id: Uuid,
    kind: String,
    item_b: String,
    resource_id: Option<Uuid>,
    staff_id: Option<Uuid>,
    span_start: DateTime<Utc>,
    span_end: DateTime<Utc>,
    severity: String,
    items: String,
    suggestion: String,
    status: String,
    detected_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    resolution: Option<String>,
    note: Option<String>,
}

const COLUMNS: &str = "id, kind, item_b, resource_id, staff_id, span_start, span_end, severity, items, \
     suggestion, status, detected_at, resolved_at, resolution, note";

impl TryFrom<ConflictRow> for Conflict {
    type Error = StoreError;
    fn try_from(r: ConflictRow) -> Result<Self, StoreError> {
        let bad = |what: &str| corrupt(format!("conflict {} has a bad {what}", r.id));
        let kind = ConflictKind::parse(&r.kind).ok_or_else(|| bad("kind"))?;
        let rule = match kind {
            ConflictKind::Rule => Some(
                r.item_b.strip_prefix("rule:").and_then(Rule::parse).ok_or_else(|| bad("rule"))?,
            ),
            _ => None,
        };
        Ok(Conflict {
            id: r.id,
            kind,
            rule,
            owner: Owner::from_columns(r.resource_id, r.staff_id).ok_or_else(|| bad("owner"))?,
            start: r.span_start,
            end: r.span_end,
            severity: Severity::parse(&r.severity).ok_or_else(|| bad("severity"))?,
            items: serde_json::from_str(&r.items).map_err(|_| bad("item list"))?,
            suggestion: r.suggestion,
            open: r.status == "open",
            detected_at: r.detected_at,
            resolved_at: r.resolved_at,
            resolution: r.resolution,
            note: r.note,
        })
    }
}

/// What a detection pass changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Detection {
    /// Conflicts opened.
    pub opened: usize,
    /// Conflicts that resolved themselves.
    pub resolved: usize,
}

/// An open conflict's id, pair key, severity, start and end.
type OpenRow = (Uuid, String, String, DateTime<Utc>, DateTime<Utc>);

/// Which open conflicts a detection pass is responsible for.
#[derive(Clone, Copy, Debug)]
pub enum ConflictReach {
    /// Every open conflict of a staff member, or of a resource and its rooms (of the tenant).
    Owner(Uuid, Owner),
    /// Every open conflict naming this item.
    Item(ItemRef),
    /// Every open rule conflict of this booking.
    Rules(ItemRef),
    /// Every open rule conflict of a resource's or staff member's rules (of the tenant).
    OwnerRules(Uuid, Owner),
}

pub(super) type BusyRow = (
    String,
    Uuid,
    String,
    Option<String>,
    bool,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<Uuid>,
    String,
    Option<Uuid>,
);

/// Tells of the conflicts opened and resolved in transaction `$tx` (slices of ids): a
/// `conflict.opened` or `conflict.resolved` event each, and an alert at once for each new
/// high-severity one. Evaluates to how many events and alerts were recorded.
macro_rules! tell_conflicts {
    ($tx:expr, $tenant_id:expr, $opened:expr, $resolved:expr, $at:expr) => {{
        let (tenant_id, at): (Uuid, DateTime<Utc>) = ($tenant_id, $at);
        let (opened, resolved): (&[Uuid], &[Uuid]) = ($opened, $resolved);
        let (mut events, mut alerts) = (Vec::new(), Vec::new());
        for (ids, event_type) in [(opened, "conflict.opened"), (resolved, "conflict.resolved")] {
            for id in ids {
                let sql = format!("SELECT {COLUMNS} FROM conflicts WHERE id = $1");
                let row: ConflictRow =
                    sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_one(&mut *$tx).await?;
                let conflict = Conflict::try_from(row)?;
                if event_type == "conflict.opened" && conflict.severity == Severity::High {
                    let sql = match conflict.owner {
                        Owner::Resource(_) => "SELECT name FROM resources WHERE id = $1",
                        Owner::Staff(_) => "SELECT name FROM staff WHERE id = $1",
                    };
                    let (Owner::Resource(owner_id) | Owner::Staff(owner_id)) = conflict.owner;
                    let (name,): (String,) =
                        sqlx::query_as(sql).bind(owner_id).fetch_one(&mut *$tx).await?;
                    alerts.push(kalends_core::alerts::conflict_opened(&conflict, &name, at));
                }
                let mut details = Vec::new();
                for item in conflict.items.iter().filter(|i| i.kind == Source::Feed) {
                    let known: Option<(Option<String>,)> =
                        sqlx::query_as("SELECT details FROM imported_items WHERE id = $1")
                            .bind(item.id)
                            .fetch_optional(&mut *$tx)
                            .await?;
                    if let Some((Some(json),)) = known {
                        let known = serde_json::from_str(&json).map_err(|_| {
                            corrupt(format!("imported item {} has unreadable details", item.id))
                        })?;
                        details.push((item.id, known));
                    }
                }
                let data = kalends_core::webhooks::conflict_data(&conflict, &details);
                events.push(WebhookEvent::new(event_type, data));
            }
        }
        let recorded = record_webhook_events!($tx, tenant_id, &events, at);
        let raised = super::alerts::record_alerts!($tx, tenant_id, &alerts, at, at);
        recorded + usize::try_from(raised).unwrap_or(usize::MAX)
    }};
}

impl Store {
    /// The busy items of a resource or staff member touching `[from, to]` (everything when
    /// `None`): bookings that are not cancelled, blocks, imported feed items, and for a staff
    /// member the busy times of their connected calendars (unless disconnected). A resource's
    /// come with its family's (its house's, its rooms'), each marked with its [`Kin`].
    pub async fn busy_items(
        &self,
        tenant_id: Uuid,
        owner: Owner,
        window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Result<Vec<Busy>, StoreError> {
        with_read_pool!(self, |pool| fetch_busy_items!(tenant_id, owner, window, pool))
    }

    /// Whether [`Store::busy_items`] asked for `window` returns `item`, one it returned for a
    /// window around it: for callers that read a wide window once and judge many narrow ones
    /// in it (a change of rules judging every booking ahead).
    pub fn busy_within(window: (DateTime<Utc>, DateTime<Utc>), item: &Busy) -> bool {
        BusyQuery::new(Uuid::nil(), Owner::Staff(Uuid::nil()), Some(window)).admits(item)
    }

    /// The instants of the busy items `by` added or moved at or after `since` (an import's run:
    /// the items it removed are gone).
    pub async fn imported_since(
        &self,
        by: ImportedBy,
        since: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, DateTime<Utc>)>, StoreError> {
        let (sql, id) = match by {
            ImportedBy::Feed(id) => (
                "SELECT span_start, span_end FROM imported_items \
                 WHERE import_id = $1 AND updated_at >= $2",
                id,
            ),
            ImportedBy::Calendars(id) => (
                "SELECT span_start, span_end FROM calendar_busy \
                 WHERE connection_id = $1 AND updated_at >= $2",
                id,
            ),
        };
        // The primary: the run has just written them.
        let spans = with_pool!(self, |pool| {
            sqlx::query_as(sql).bind(id).bind(since).fetch_all(pool).await
        })?;
        Ok(spans)
    }

    /// The open conflicts within `reach`: overlaps, or a booking's rule conflicts (external
    /// edits are not the detection passes' to resolve).
    pub async fn open_conflicts(
        &self,
        reach: ConflictReach,
    ) -> Result<Vec<OpenConflict>, StoreError> {
        // No `tenant_id` term, and one lookup per item column: ids are globally unique, and
        // otherwise SQLite's planner walks every open conflict instead of using the indexes.
        // Only overlaps: an external edit is not the passes' to resolve.
        const COLS: &str = "SELECT id, pair_key, severity, span_start, span_end FROM conflicts";
        const OPEN: &str = "status = 'open' AND kind = 'overlap'";
        const RULES: &str = "status = 'open' AND kind = 'rule'";
        let (sql, bind) = match reach {
            ConflictReach::Owner(_, Owner::Resource(id)) => {
                let family = super::resources::family_sql("$2", "$1");
                let sql = format!(
                    "{COLS} WHERE {OPEN} AND resource_id IN \
                     (SELECT id FROM ({family}) AS family WHERE kin <> 'parent')"
                );
                (sql, id.to_string())
            }
            ConflictReach::Owner(_, Owner::Staff(id)) => (
                format!("{COLS} WHERE {OPEN} AND staff_id = $1 AND $2 IS NOT NULL"),
                id.to_string(),
            ),
            ConflictReach::Rules(item) => {
                (format!("{COLS} WHERE {RULES} AND item_a = $1"), item.to_string())
            }
            ConflictReach::OwnerRules(_, owner) => {
                let column = match owner {
                    Owner::Resource(_) => "resource_id",
                    Owner::Staff(_) => "staff_id",
                };
                (
                    format!("{COLS} WHERE {RULES} AND {column} = $1 AND $2 IS NOT NULL"),
                    String::new(),
                )
            }
            ConflictReach::Item(item) => (
                format!(
                    "{COLS} WHERE {OPEN} AND item_a = $1 \
                     UNION ALL {COLS} WHERE {OPEN} AND item_b = $1"
                ),
                item.to_string(),
            ),
        };
        let bind_uuids = match reach {
            ConflictReach::Owner(tenant_id, owner)
            | ConflictReach::OwnerRules(tenant_id, owner) => Some((owner.id(), tenant_id)),
            ConflictReach::Item(_) | ConflictReach::Rules(_) => None,
        };
        let rows: Vec<OpenRow> = with_read_pool!(self, |pool| {
            let query = sqlx::query_as(AssertSqlSafe(sql.as_str()));
            match bind_uuids {
                Some((id, tenant_id)) => query.bind(id).bind(tenant_id).fetch_all(pool).await,
                None => query.bind(&bind).fetch_all(pool).await,
            }
        })?;
        Ok(rows
            .into_iter()
            .map(|(id, pair_key, severity, start, end)| OpenConflict {
                id,
                pair_key,
                severity,
                start,
                end,
            })
            .collect())
    }

    /// The bookings with an open rule conflict of one of `owners` (usually a few: a booking's),
    /// in one query: those a change next to them (a booking moved away or cancelled) may
    /// settle. With `within`, only those whose booking meets one of these stretches of time
    /// (where a change could reach a turnover or a buffer).
    pub async fn rule_conflicted_bookings(
        &self,
        owners: &[Owner],
        within: Option<&[(DateTime<Utc>, DateTime<Utc>)]>,
    ) -> Result<Vec<Uuid>, StoreError> {
        if owners.is_empty() || within.is_some_and(<[_]>::is_empty) {
            return Ok(Vec::new());
        }
        let terms: Vec<String> = owners
            .iter()
            .enumerate()
            .map(|(i, owner)| match owner {
                Owner::Resource(_) => format!("resource_id = ${}", i + 1),
                Owner::Staff(_) => format!("staff_id = ${}", i + 1),
            })
            .collect();
        let stretches = within.unwrap_or_default();
        let first = owners.len() + 1;
        let meets: Vec<String> = (0..stretches.len())
            .map(|i| {
                let from = first + 2 * i;
                format!("(span_end > ${from} AND span_start < ${})", from + 1)
            })
            .collect();
        let near = match within {
            Some(_) => format!(" AND ({})", meets.join(" OR ")),
            None => String::new(),
        };
        let sql = format!(
            "SELECT DISTINCT item_a FROM conflicts WHERE ({}) AND status = 'open' \
             AND kind = 'rule'{near}",
            terms.join(" OR ")
        );
        let rows: Vec<(String,)> = with_read_pool!(self, |pool| {
            let mut query = sqlx::query_as(AssertSqlSafe(sql.as_str()));
            for owner in owners {
                query = query.bind(owner.id());
            }
            for &(from, to) in stretches {
                query = query.bind(from).bind(to);
            }
            query.fetch_all(pool).await
        })?;
        Ok(rows.iter().filter_map(|(item,)| item.strip_prefix("booking:")?.parse().ok()).collect())
    }

    /// Writes a detection pass's [`Plan`] in one transaction, with the `conflict.opened` and
    /// `conflict.resolved` events and alerts it owes. A new collision that someone resolved by
    /// hand at exactly these times is not opened again until its items move.
    // Long on purpose: the plan's three kinds of statement (resolve, update, open) and what they
    // tell, in one transaction for both databases; the plan itself is decided by `Plan::of`.
    pub async fn apply_conflict_plan(
        &self,
        tenant_id: Uuid,
        plan: &Plan,
    ) -> Result<Detection, StoreError> {
        let Plan { gone, changed, new } = plan;
        let at = now();
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let mut detection = Detection::default();
            let (mut opened, mut resolved) = (Vec::new(), Vec::new());
            for id in gone {
                let done = sqlx::query(
                    "UPDATE conflicts SET status = 'resolved', resolved_at = $1, \
                     resolution = 'auto' WHERE id = $2 AND status = 'open'",
                )
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                detection.resolved += done.rows_affected() as usize;
                if done.rows_affected() > 0 {
                    resolved.push(*id);
                }
            }
            for (id, f) in changed {
                sqlx::query(
                    "UPDATE conflicts SET severity = $1, span_start = $2, span_end = $3, \
                     items = $4, suggestion = $5 WHERE id = $6",
                )
                .bind(f.severity.as_str())
                .bind(f.start)
                .bind(f.end)
                .bind(serde_json::to_string(&f.items).map_err(corrupt)?)
                .bind(&f.suggestion)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            for f in new {
                // Someone looked at exactly this collision and resolved it: don't nag again
                // until the items move.
                let dismissed: Option<(Uuid,)> = sqlx::query_as(
                    "SELECT id FROM conflicts WHERE tenant_id = $1 AND pair_key = $2 \
                     AND resolution = 'manual' AND span_start = $3 AND span_end = $4 LIMIT 1",
                )
                .bind(tenant_id)
                .bind(&f.pair_key)
                .bind(f.start)
                .bind(f.end)
                .fetch_optional(&mut *tx)
                .await?;
                if dismissed.is_some() {
                    continue;
                }
                let (resource_id, staff_id) = f.owner.columns();
                let id = Uuid::now_v7();
                let inserted = sqlx::query(
                    "INSERT INTO conflicts (id, tenant_id, resource_id, staff_id, pair_key, span_start, \
                     span_end, severity, items, suggestion, status, detected_at, item_a, item_b, kind) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'open', $11, $12, $13, $14) \
                     ON CONFLICT (tenant_id, pair_key) WHERE status = 'open' DO NOTHING",
                )
                .bind(id)
                .bind(tenant_id)
                .bind(resource_id)
                .bind(staff_id)
                .bind(&f.pair_key)
                .bind(f.start)
                .bind(f.end)
                .bind(f.severity.as_str())
                .bind(serde_json::to_string(&f.items).map_err(corrupt)?)
                .bind(&f.suggestion)
                .bind(at)
                .bind(&f.item_a)
                .bind(&f.item_b)
                .bind(f.kind.as_str())
                .execute(&mut *tx)
                .await?;
                detection.opened += inserted.rows_affected() as usize;
                if inserted.rows_affected() > 0 {
                    opened.push(id);
                }
            }
            let recorded = tell_conflicts!(tx, tenant_id, &opened, &resolved, at);
            tx.commit().await?;
            if recorded > 0 {
                self.outbox_signal.notify_one();
            }
            Ok::<_, StoreError>(detection)
        })
    }

    /// One conflict.
    pub async fn conflict(&self, tenant_id: Uuid, id: Uuid) -> Result<Conflict, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM conflicts WHERE tenant_id = $1 AND id = $2");
        let row: ConflictRow = with_read_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(id)
                .fetch_one(pool)
                .await
        })?;
        row.try_into()
    }

    /// A page of the tenant's conflicts, optionally only open or only resolved ones.
    pub async fn list_conflicts(
        &self,
        tenant_id: Uuid,
        open: Option<bool>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Page<Conflict>, StoreError> {
        let status = open.map(|o| if o { "open" } else { "resolved" });
        let sql = format!(
            "SELECT {COLUMNS} FROM conflicts WHERE tenant_id = $1 AND ($2 IS NULL OR status = $2) \
             AND ($3 IS NULL OR id > $3) ORDER BY id LIMIT $4"
        );
        let rows: Vec<ConflictRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(status)
                .bind(after)
                .bind(i64::from(limit) + 1)
                .fetch_all(pool)
                .await
        })?;
        let items = rows.into_iter().map(Conflict::try_from).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, limit, |c| c.id))
    }

    /// Marks a conflict resolved by a person, with their note. It stays resolved while its items
    /// collide exactly as they do now.
    pub async fn resolve_conflict(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        note: Option<String>,
    ) -> Result<Conflict, StoreError> {
        let conflict = self.conflict(tenant_id, id).await?;
        if !conflict.open {
            return Err(StoreError::AlreadyResolved);
        }
        let at = now();
        let mut resolved = conflict;
        (resolved.open, resolved.resolved_at) = (false, Some(at));
        (resolved.resolution, resolved.note) = (Some("manual".into()), note.clone());
        let imported: Vec<Uuid> =
            resolved.items.iter().filter(|i| i.kind == Source::Feed).map(|i| i.id).collect();
        let details = self.imported_details(tenant_id, &imported).await?;
        let data = kalends_core::webhooks::conflict_data(&resolved, &details);
        let events = [WebhookEvent::new("conflict.resolved", data)];
        let notify = with_pool!(self, |pool| {
            async {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "UPDATE conflicts SET status = 'resolved', resolved_at = $1, resolution = 'manual', \
                 note = $2 WHERE tenant_id = $3 AND id = $4 AND status = 'open'",
            )
            .bind(at)
            .bind(&note)
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            let recorded = if done.rows_affected() > 0 {
                record_webhook_events!(tx, tenant_id, &events, at)
            } else {
                0
            };
            tx.commit().await?;
            Ok::<_, StoreError>(recorded > 0)
        }
        .await
        })?;
        if notify {
            self.outbox_signal.notify_one();
        }
        self.conflict(tenant_id, id).await
    }

    /// Opens (or brings up to date) the conflict saying a staff member edited a booking's event
    /// by hand and it was left as is: the booking on one side, the connected calendar on the
    /// other (`calendar_label` says where the event is now). Spans the booking's time.
    ///
    /// Nothing is raised when the event was written again meanwhile (its mapping is no longer at
    /// the booking's version: a sync overtook the import), or when a person already resolved
    /// exactly this edit by hand (a later change of the event's text must not reopen it).
    // Long on purpose: the checks and the write are one transaction's statements, for both
    // databases, so that a sync that overtakes the import cannot slip between them.
    pub async fn raise_external_edit(
        &self,
        edit: &ExternalEditConflict<'_>,
    ) -> Result<(), StoreError> {
        let items = vec![
            ConflictItem {
                kind: Source::Booking,
                id: edit.booking_id,
                label: edit.booking_label.to_owned(),
            },
            ConflictItem {
                kind: Source::Calendar,
                id: edit.connection_id,
                label: edit.calendar_label.to_owned(),
            },
        ];
        let items = serde_json::to_string(&items).map_err(corrupt)?;
        let key = external_edit_key(edit.booking_id, edit.connection_id);
        let booking_item = ItemRef { source: Source::Booking, id: edit.booking_id }.to_string();
        let calendar_item =
            ItemRef { source: Source::Calendar, id: edit.connection_id }.to_string();
        // The event is still as Kalends last wrote this version of the booking.
        const AS_WRITTEN: &str = "FROM bookings b JOIN booking_events e ON e.booking_id = b.id \
             AND e.connection_id = $3 WHERE b.tenant_id = $1 AND b.id = $2 \
             AND e.synced_version = b.version";
        let at = now();
        let (opened, recorded) = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let dismissed: Option<(Uuid,)> = sqlx::query_as(
                "SELECT id FROM conflicts WHERE tenant_id = $1 AND pair_key = $2 \
                 AND resolution = 'manual' AND items = $3 LIMIT 1",
            )
            .bind(edit.tenant_id)
            .bind(&key)
            .bind(&items)
            .fetch_optional(&mut *tx)
            .await?;
            if dismissed.is_some() {
                return Ok(());
            }
            let id = Uuid::now_v7();
            let sql = format!(
                "INSERT INTO conflicts (id, kind, tenant_id, resource_id, staff_id, pair_key, \
                 span_start, span_end, severity, items, suggestion, status, detected_at, item_a, \
                 item_b) SELECT $4, 'external_edit', b.tenant_id, NULL, $5, $6, b.span_start, \
                 b.span_end, 'high', $7, $8, 'open', $9, $10, $11 {AS_WRITTEN} \
                 ON CONFLICT (tenant_id, pair_key) WHERE status = 'open' DO NOTHING"
            );
            let inserted = sqlx::query(AssertSqlSafe(sql))
                .bind(edit.tenant_id)
                .bind(edit.booking_id)
                .bind(edit.connection_id)
                .bind(id)
                .bind(edit.staff_id)
                .bind(&key)
                .bind(&items)
                .bind(edit.suggestion)
                .bind(at)
                .bind(&booking_item)
                .bind(&calendar_item)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let recorded = if inserted > 0 {
                tell_conflicts!(tx, edit.tenant_id, &[id], &[], at)
            } else {
                // Open already (a later import saw the edit again, or it moved once more):
                // brought up to date, told once.
                let sql = format!(
                    "UPDATE conflicts SET items = $4, suggestion = $5, \
                     span_start = (SELECT span_start FROM bookings WHERE id = $2), \
                     span_end = (SELECT span_end FROM bookings WHERE id = $2) \
                     WHERE tenant_id = $1 AND pair_key = $6 AND status = 'open' \
                     AND EXISTS (SELECT 1 {AS_WRITTEN})"
                );
                sqlx::query(AssertSqlSafe(sql))
                    .bind(edit.tenant_id)
                    .bind(edit.booking_id)
                    .bind(edit.connection_id)
                    .bind(&items)
                    .bind(edit.suggestion)
                    .bind(&key)
                    .execute(&mut *tx)
                    .await?;
                0
            };
            tx.commit().await?;
            Ok::<_, StoreError>((inserted > 0, recorded))
        })?;
        if recorded > 0 {
            self.outbox_signal.notify_one();
        }
        if opened {
            tracing::warn!(
                tenant_id = %edit.tenant_id,
                booking = %edit.booking_id,
                "external edit left as is: conflict raised for a person to decide"
            );
        }
        Ok(())
    }

    /// Resolves every open external-edit conflict of a connection's calendar (it was
    /// disconnected: Kalends no longer writes there, so there is nothing left to decide).
    pub async fn resolve_external_edits_of_connection(
        &self,
        connection_id: Uuid,
    ) -> Result<u64, StoreError> {
        let calendar_item = ItemRef { source: Source::Calendar, id: connection_id }.to_string();
        self.resolve_external_edits(
            "item_b = $2 AND kind = 'external_edit' AND status = 'open'",
            &calendar_item,
            None,
        )
        .await
    }

    /// Resolves the external-edit conflict of a booking's event in a connection's calendar, if
    /// one is open: the event was written again (or taken out), so the calendar and the booking
    /// agree once more.
    pub async fn resolve_external_edit(
        &self,
        booking_id: Uuid,
        connection_id: Uuid,
    ) -> Result<bool, StoreError> {
        let booking_item = ItemRef { source: Source::Booking, id: booking_id }.to_string();
        let key = external_edit_key(booking_id, connection_id);
        let resolved = self
            .resolve_external_edits(
                "item_a = $2 AND pair_key = $3 AND status = 'open'",
                &booking_item,
                Some(&key),
            )
            .await?;
        Ok(resolved > 0)
    }

    /// Resolves (`auto`) the open external-edit conflicts `filter` picks (`$2` is `item`, `$3`
    /// the pair key when given) in one transaction, telling each as `conflict.resolved`.
    async fn resolve_external_edits(
        &self,
        filter: &str,
        item: &str,
        pair_key: Option<&str>,
    ) -> Result<u64, StoreError> {
        let sql = format!(
            "UPDATE conflicts SET status = 'resolved', resolved_at = $1, resolution = 'auto' \
             WHERE {filter} RETURNING id, tenant_id"
        );
        let at = now();
        let (resolved, recorded) = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let mut update = sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(at).bind(item);
            if let Some(key) = pair_key {
                update = update.bind(key);
            }
            let rows: Vec<(Uuid, Uuid)> = update.fetch_all(&mut *tx).await?;
            let mut recorded = 0;
            for (tenant_id, ids) in group_by_tenant(&rows) {
                recorded += tell_conflicts!(tx, tenant_id, &[], &ids, at);
            }
            tx.commit().await?;
            Ok::<_, StoreError>((rows.len() as u64, recorded))
        })?;
        if recorded > 0 {
            self.outbox_signal.notify_one();
        }
        Ok(resolved)
    }
}

/// `(id, tenant_id)` rows as each tenant's ids, in the order first seen.
fn group_by_tenant(rows: &[(Uuid, Uuid)]) -> Vec<(Uuid, Vec<Uuid>)> {
    let mut groups: Vec<(Uuid, Vec<Uuid>)> = Vec::new();
    for &(id, tenant_id) in rows {
        match groups.iter_mut().find(|(t, _)| *t == tenant_id) {
            Some((_, ids)) => ids.push(id),
            None => groups.push((tenant_id, vec![id])),
        }
    }
    groups
}

/// What [`Store::raise_external_edit`] records.
#[derive(Clone, Copy, Debug)]
pub struct ExternalEditConflict<'a> {
    /// The tenant.
    pub tenant_id: Uuid,
    /// The staff member whose calendar holds the event.
    pub staff_id: Uuid,
    /// The booking.
    pub booking_id: Uuid,
    /// The booking's label (its title).
    pub booking_label: &'a str,
    /// The connection whose calendar holds the event.
    pub connection_id: Uuid,
    /// Where the event is now, for a person.
    pub calendar_label: &'a str,
    /// What to do about it.
    pub suggestion: &'a str,
}

/// The pair key of a booking's external-edit conflict in one connection's calendar.
fn external_edit_key(booking_id: Uuid, connection_id: Uuid) -> String {
    format!("edit:{booking_id}:{connection_id}")
}

/// The statement reading an owner's busy items in a window, with its values; run it with
/// [`fetch_busy!`] on a pool or inside a transaction.
pub(super) struct BusyQuery {
    pub(super) tenant_id: Uuid,
    pub(super) owner: Owner,
    pub(super) earliest: DateTime<Utc>,
    pub(super) from: DateTime<Utc>,
    pub(super) to: DateTime<Utc>,
    /// The latest a booking touching the window may end.
    pub(super) latest: DateTime<Utc>,
}

impl BusyQuery {
    /// The items of `owner` touching `window` (everything when `None`).
    pub(super) fn new(
        tenant_id: Uuid,
        owner: Owner,
        window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Self {
        // Unbounded means 1970 to 9999: SQLite compares instants as text, so the bounds must
        // have four-digit years like every stored instant.
        let (from, to) = window.unwrap_or((DateTime::UNIX_EPOCH, far_future()));
        let earliest = from
            .checked_sub_signed(chrono::Duration::days(LOOKBACK_DAYS))
            .unwrap_or(DateTime::UNIX_EPOCH)
            .max(DateTime::UNIX_EPOCH);
        let latest = to
            .checked_add_signed(chrono::Duration::days(LOOKBACK_DAYS))
            .map_or(far_future(), |latest| latest.min(far_future()));
        BusyQuery { tenant_id, owner, earliest, from, to, latest }
    }

    /// Whether its statement returns `item` (an item of its owner): a booking ending in
    /// `[from, latest]` and starting by `to`, any other item starting in `[earliest, to]` and
    /// ending from `from` on.
    fn admits(&self, item: &Busy) -> bool {
        let touches = item.start <= self.to && item.end >= self.from;
        match item.item.source {
            Source::Booking => touches && item.end <= self.latest,
            _ => touches && item.start >= self.earliest,
        }
    }

    /// Its statement, on PostgreSQL or SQLite.
    pub(super) fn sql(&self, postgres: bool) -> String {
        match self.owner {
            Owner::Resource(_) => resource_busy_sql(postgres),
            Owner::Staff(_) => staff_busy_sql(postgres),
        }
    }

    /// SQLite's statement: the same rows as one JSON array of arrays, ids in hex (the empty
    /// string for none), read back by [`rows_from_json`].
    pub(super) fn sqlite_sql(&self) -> String {
        format!(
            "SELECT json_group_array(json_array(source, hex(id), status, label, all_day, \
             span_start, span_end, hex(grp), kin, hex(kin_id))) FROM ({}) AS busy",
            self.sql(false)
        )
    }
}

/// A row of [`BusyQuery::sqlite_sql`]'s array, as SQLite writes it.
type JsonBusyRow<'a> = (
    &'a str,
    &'a str,
    &'a str,
    Option<std::borrow::Cow<'a, str>>,
    u8,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
);

/// The rows of [`BusyQuery::sqlite_sql`]'s one JSON value.
pub(super) fn rows_from_json(json: &str) -> Result<Vec<BusyRow>, sqlx::Error> {
    let decode = |e: String| sqlx::Error::Decode(e.into());
    let id = |hex: &str| match hex {
        "" => Ok(None),
        hex => Uuid::try_parse(hex).map(Some).map_err(|e| decode(format!("busy item id: {e}"))),
    };
    let rows: Vec<JsonBusyRow> =
        serde_json::from_str(json).map_err(|e| decode(format!("busy items: {e}")))?;
    rows.into_iter()
        .map(|(source, item, status, label, all_day, start, end, group, kin, kin_id)| {
            Ok((
                source.to_owned(),
                id(item)?.ok_or_else(|| decode("a busy item has no id".into()))?,
                status.to_owned(),
                label.map(std::borrow::Cow::into_owned),
                all_day != 0,
                stored_instant(start)?,
                stored_instant(end)?,
                id(group)?,
                kin.to_owned(),
                id(kin_id)?,
            ))
        })
        .collect()
}

/// An instant as SQLite holds it: RFC 3339, as sqlx writes a `DateTime<Utc>`.
fn stored_instant(text: &str) -> Result<DateTime<Utc>, sqlx::Error> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| sqlx::Error::Decode(format!("busy item instant {text:?}: {e}").into()))
}

/// Whether `executor` (a pool, or a transaction's connection) is PostgreSQL's: the few
/// statements whose best form differs between the two databases are chosen by it.
pub(super) fn on_postgres<'e, E: sqlx::Executor<'e>>(_executor: &E) -> bool {
    <E::Database as sqlx::Database>::NAME == <sqlx::Postgres as sqlx::Database>::NAME
}

// Bookings by when they end (indexes `bookings_*_span_end`): from the window's start on, that is
// what is still to come, not the years of history a look-back on their start would walk for a
// new booking. The other items are not kept for years: by their start.

/// The rows of `table` (as `alias`) for each row of `outer`, in that order on both databases,
/// kept to the tenant `$1`. SQLite takes a `CROSS JOIN`'s order as given. PostgreSQL orders a
/// join by its statistics, and before its first `ANALYZE` of freshly written rows it ran the
/// tenant's items in the window as the outer loop and matched each against the owner's family
/// or links (3.8-5 s per slots request, 15 ms per stays request, for the first half minute
/// after 10,000 bookings were written; BENCHMARKS.md, "What is bookable"). A `LATERAL` subquery
/// it may not flatten (`OFFSET 0`) holds it to the order, whatever the statistics say.
struct EachOf<'a> {
    /// The rows to start from, with their alias (PostgreSQL; SQLite's when `sqlite_outer`).
    outer: &'a str,
    /// SQLite's own start, when it differs (a plain table where PostgreSQL needs a subquery).
    sqlite_outer: Option<&'a str>,
    /// The table read for each of them, and its alias.
    table: &'a str,
    alias: &'a str,
    /// The columns the statement reads of it (and `tenant_id`).
    columns: &'a str,
    /// What ties a row of it to the outer row, and what else selects it.
    conditions: &'a str,
    /// A join that follows (the import of an imported item).
    then: &'a str,
}

impl EachOf<'_> {
    fn sql(&self, postgres: bool) -> String {
        let EachOf { outer, sqlite_outer, table, alias, columns, conditions, then } = self;
        if postgres {
            format!(
                "FROM {outer} CROSS JOIN LATERAL (SELECT {columns}, tenant_id FROM {table} {alias} \
                 WHERE {conditions} OFFSET 0) AS {alias} {then} WHERE {alias}.tenant_id = $1"
            )
        } else {
            let outer = sqlite_outer.unwrap_or(outer);
            format!(
                "FROM {outer} CROSS JOIN {table} {alias} {then} WHERE {conditions} \
                 AND {alias}.tenant_id = $1"
            )
        }
    }
}

/// A resource's busy items and its family's ([`super::resources::family_sql`]), each with its
/// kin: the family first, then each member's items ([`EachOf`]). The first branch names the
/// columns, which [`BusyQuery::sqlite_sql`] reads by name.
fn resource_busy_sql(postgres: bool) -> String {
    let family = |table, alias, columns, conditions, then| {
        let each = EachOf {
            outer: "family f",
            sqlite_outer: None,
            table,
            alias,
            columns,
            conditions,
            then,
        };
        each.sql(postgres)
    };
    let bookings = family(
        "bookings",
        "b",
        "id, status, title, start_date, span_start, span_end",
        "b.resource_id = f.id AND b.status <> 'cancelled' AND b.span_end >= $4 \
         AND b.span_end <= $6 AND b.span_start <= $5",
        "",
    );
    let blocks = family(
        "blocks",
        "k",
        "id, reason, start_date, span_start, span_end",
        "k.resource_id = f.id AND k.span_start >= $3 AND k.span_start <= $5 AND k.span_end >= $4",
        "",
    );
    let imported = family(
        "imported_items",
        "i",
        "id, kind, summary, start_date, span_start, span_end, import_id",
        "i.resource_id = f.id AND i.span_start >= $3 AND i.span_start <= $5 AND i.span_end >= $4",
        "JOIN imports m ON m.id = i.import_id",
    );
    format!(
        "WITH family (id, kin) AS ({}) \
         SELECT 'booking' AS source, b.id AS id, b.status AS status, b.title AS label, \
         b.start_date IS NOT NULL AS all_day, b.span_start AS span_start, b.span_end AS span_end, \
         CAST(NULL AS UUID) AS grp, f.kin AS kin, f.id AS kin_id {bookings} \
         UNION ALL SELECT 'block', k.id, 'block', k.reason, k.start_date IS NOT NULL, k.span_start, \
         k.span_end, CAST(NULL AS UUID), f.kin, f.id {blocks} \
         UNION ALL SELECT m.platform || ':' || i.kind, i.id, i.kind, i.summary, i.start_date IS NOT NULL, \
         i.span_start, i.span_end, i.import_id, f.kin, f.id {imported}",
        super::resources::family_sql("$1", "$2")
    )
}

/// A staff member's busy items: their bookings, blocks, imported items and the busy times of
/// their connected calendars (unless disconnected), all their own. Their bookings come from
/// their links by when they end (index `booking_staff_staff_span_end`), then each by its key
/// ([`EachOf`]), not from every booking of the tenant in the window. The first branch names
/// the columns, as for a resource.
fn staff_busy_sql(postgres: bool) -> String {
    let bookings = EachOf {
        outer: "(SELECT bs.booking_id FROM booking_staff bs WHERE bs.staff_id = $2 \
                AND bs.span_end >= $4 AND bs.span_end <= $6 OFFSET 0) AS bs",
        sqlite_outer: Some("booking_staff bs"),
        table: "bookings",
        alias: "b",
        columns: "id, status, title, start_date, span_start, span_end",
        conditions: if postgres {
            "b.id = bs.booking_id"
        } else {
            "bs.staff_id = $2 AND bs.span_end >= $4 AND bs.span_end <= $6 AND b.id = bs.booking_id"
        },
        then: "",
    };
    format!(
        "SELECT 'booking' AS source, b.id AS id, b.status AS status, b.title AS label, \
         b.start_date IS NOT NULL AS all_day, b.span_start AS span_start, b.span_end AS span_end, \
         CAST(NULL AS UUID) AS grp, 'own' AS kin, CAST(NULL AS UUID) AS kin_id {} \
         AND b.status <> 'cancelled' AND b.span_end >= $4 AND b.span_end <= $6 AND b.span_start <= $5 \
         UNION ALL SELECT 'block', k.id, 'block', k.reason, k.start_date IS NOT NULL, k.span_start, \
         k.span_end, CAST(NULL AS UUID), 'own', CAST(NULL AS UUID) \
         FROM blocks k WHERE k.tenant_id = $1 AND k.staff_id = $2 \
         AND k.span_start >= $3 AND k.span_start <= $5 AND k.span_end >= $4 \
         UNION ALL SELECT m.platform || ':' || i.kind, i.id, i.kind, i.summary, i.start_date IS NOT NULL, \
         i.span_start, i.span_end, i.import_id, 'own', CAST(NULL AS UUID) \
         FROM imported_items i JOIN imports m ON m.id = i.import_id WHERE i.tenant_id = $1 \
         AND i.staff_id = $2 AND i.span_start >= $3 AND i.span_start <= $5 AND i.span_end >= $4 \
         UNION ALL SELECT 'calendar', c.id, 'busy', c.summary, c.start_date IS NOT NULL, \
         c.span_start, c.span_end, c.connection_id, 'own', CAST(NULL AS UUID) \
         FROM calendar_busy c JOIN connections n ON n.id = c.connection_id \
         WHERE c.tenant_id = $1 AND c.staff_id = $2 AND n.status <> 'revoked' \
         AND c.span_start >= $3 AND c.span_start <= $5 AND c.span_end >= $4",
        bookings.sql(postgres)
    )
}

fn far_future() -> DateTime<Utc> {
    DateTime::from_timestamp(253_402_300_799, 0).unwrap_or(DateTime::UNIX_EPOCH)
}

pub(super) fn busy_from_row(row: BusyRow) -> Result<Busy, StoreError> {
    let (source, id, status, label, all_day, start, end, group, kin, kin_id) = row;
    let kin = match (kin.as_str(), kin_id) {
        ("parent", _) => Kin::Parent,
        ("child", Some(room)) => Kin::Child(room),
        _ => Kin::Own,
    };
    let (source, class, label) = match source.as_str() {
        "booking" => {
            let class = match BookingStatus::parse(&status) {
                Some(BookingStatus::Tentative) => Class::Tentative,
                _ => Class::Confirmed,
            };
            (Source::Booking, class, label.unwrap_or_default())
        }
        "block" => (Source::Block, Class::Block, label.unwrap_or_else(|| "Blocked".into())),
        "calendar" => {
            let label = label.filter(|l| !l.trim().is_empty()).unwrap_or_else(|| "Busy".into());
            (Source::Calendar, Class::CalendarBusy, label)
        }
        feed => {
            let platform =
                feed.split(':').next().and_then(Platform::parse).ok_or_else(|| {
                    corrupt(format!("imported item {id} has an unknown platform"))
                })?;
            let class = if status == super::kind_str(ItemKind::Reservation) {
                Class::Reservation(platform)
            } else {
                Class::PlatformBlock(platform)
            };
            (Source::Feed, class, conflicts::imported_label(platform, label.as_deref()))
        }
    };
    Ok(Busy { item: ItemRef { source, id }, start, end, all_day, class, group, label, kin })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    #[test]
    fn an_item_within_a_narrow_window_is_one_its_own_read_returns() {
        let day = |y, m, d| Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap();
        let item = |source, start, end| Busy {
            item: ItemRef { source, id: Uuid::nil() },
            start,
            end,
            all_day: true,
            class: Class::Confirmed,
            group: None,
            label: String::new(),
            kin: Kin::Own,
        };
        let window = (day(2030, 6, 1), day(2030, 6, 8));
        let within = |i: &Busy| Store::busy_within(window, i);
        assert!(within(&item(Source::Booking, day(2030, 5, 30), day(2030, 6, 1))));
        assert!(!within(&item(Source::Booking, day(2030, 6, 9), day(2030, 6, 10))));
        assert!(!within(&item(Source::Booking, day(2030, 5, 1), day(2030, 5, 31))));
        // An imported item starting more than three years before the window is cut off.
        assert!(within(&item(Source::Feed, day(2028, 1, 1), day(2031, 1, 1))));
        assert!(!within(&item(Source::Feed, day(2026, 1, 1), day(2031, 1, 1))));
        // A booking ending more than three years after it, too.
        assert!(!within(&item(Source::Booking, day(2030, 6, 2), day(2034, 1, 1))));
    }

    #[test]
    fn sqlites_busy_rows_are_read_back_from_its_one_json_row() {
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let json = r#"[["booking","0123456789ABCDEF0123456789ABCDEF","confirmed","Ann \"A\" \u00e9",0,
            "2030-01-14T09:00:00+00:00","2030-01-14T10:30:00.5+00:00","","own",""],
            ["airbnb:reservation","0123456789ABCDEF0123456789ABCDEF","reservation",null,1,
            "2030-01-14T00:00:00+00:00","2030-01-16T00:00:00+00:00",
            "0123456789ABCDEF0123456789ABCDEF","child","0123456789ABCDEF0123456789ABCDEF"]]"#;
        let rows = rows_from_json(json).unwrap();
        let at = |d, h, m| Utc.with_ymd_and_hms(2030, 1, d, h, m, 0).unwrap();
        assert_eq!(
            rows,
            vec![
                (
                    "booking".into(),
                    id,
                    "confirmed".into(),
                    Some("Ann \"A\" é".into()),
                    false,
                    at(14, 9, 0),
                    at(14, 10, 30) + chrono::Duration::milliseconds(500),
                    None,
                    "own".into(),
                    None,
                ),
                (
                    "airbnb:reservation".into(),
                    id,
                    "reservation".into(),
                    None,
                    true,
                    at(14, 0, 0),
                    at(16, 0, 0),
                    Some(id),
                    "child".into(),
                    Some(id),
                ),
            ]
        );
        assert_eq!(rows_from_json("[]").unwrap(), vec![]);
    }

    #[test]
    fn a_busy_row_sqlite_cannot_have_written_is_an_error_not_a_guess() {
        let row = |start: &str| {
            format!(
                r#"[["block","0123456789ABCDEF0123456789ABCDEF","block",null,0,"{start}","2030-01-14T10:00:00+00:00","","own",""]]"#
            )
        };
        assert!(rows_from_json(&row("2030-01-14T09:00:00+00:00")).is_ok());
        assert!(rows_from_json(&row("yesterday")).is_err());
        assert!(rows_from_json(r#"[["block","not hex","block",null,0,"2030-01-14T09:00:00+00:00","2030-01-14T10:00:00+00:00","","own",""]]"#).is_err());
    }
}
