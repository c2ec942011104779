//! Imported feeds: their registration, the scheduler's claims, the run log, and the items the
//! last run stored.

use super::outbox::DueWork;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::tenants::TenantRow;
use super::{HeldUntil, Lease, Page, Store, StoreError, corrupt, now, with_pool, with_read_pool};
use kalends_core::domain::{
    EndDateIs, Hold, Import, ImportAs, ImportRun, ImportSettings, ImportStatus, NewImport,
    OnMissing, Owner, Platform, RunCounts, RunOutcome, Tenant, TimeZone, span_instants,
};
use kalends_core::imports::{self, ImportedItem, StoredItem};
use kalends_core::job::Job;
use kalends_ical::{BusyItem, ItemDetails, ItemKind, Span};

#[derive(sqlx::FromRow)]
struct ImportRow {
    id: Uuid,
    tenant_id: Uuid,
    resource_id: Option<Uuid>,
    staff_id: Option<Uuid>,
    platform: String,
    url: String,
    name: Option<String>,
    interval_minutes: i64,
    status: String,
    consecutive_failures: i64,
    etag: Option<String>,
    last_modified: Option<String>,
    next_run_at: DateTime<Utc>,
    paused_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    import_as: Option<String>,
    end_date_is: String,
    date_shift_days: i64,
    on_missing: String,
    max_removed_share: f64,
    held_since: Option<DateTime<Utc>>,
    held_reason: Option<String>,
}

/// An import's row with the `body_sha256` its last read stored.
#[derive(sqlx::FromRow)]
struct LastReadRow {
    #[sqlx(flatten)]
    import: ImportRow,
    body_sha256: Option<Vec<u8>>,
}

/// What a run of an import starts from, read as it takes the import's lease
/// ([`Store::lease_import_run`]).
#[derive(Debug)]
pub struct LeasedImport {
    /// The import's tenant.
    pub tenant: Tenant,
    /// The import.
    pub import: Import,
    /// The zone its owner's all-day items are read in: the owner's, else the tenant's.
    pub zone: TimeZone,
    /// The `body_sha256` the last read of the feed stored (see [`RunRecord::body_sha256`]).
    pub last_read: Option<Vec<u8>>,
    /// When the body kept for the import was last read (`None` without one).
    pub body_read_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, tenant_id, resource_id, staff_id, platform, url, name, interval_minutes, \
     status, consecutive_failures, etag, last_modified, next_run_at, paused_at, created_at, updated_at, \
     import_as, end_date_is, date_shift_days, on_missing, max_removed_share, held_since, held_reason";

impl TryFrom<ImportRow> for Import {
    type Error = StoreError;
    fn try_from(r: ImportRow) -> Result<Self, StoreError> {
        let bad = |what: &str| corrupt(format!("import {} has an unknown {what}", r.id));
        Ok(Import {
            id: r.id,
            tenant_id: r.tenant_id,
            data: NewImport {
                owner: Owner::from_columns(r.resource_id, r.staff_id)
                    .ok_or_else(|| bad("owner"))?,
                platform: Platform::parse(&r.platform).ok_or_else(|| bad("platform"))?,
                url: r.url,
                name: r.name,
                interval_minutes: u32::try_from(r.interval_minutes).map_err(|_| bad("interval"))?,
                settings: ImportSettings {
                    import_as: match r.import_as.as_deref() {
                        None => None,
                        Some(s) => Some(ImportAs::parse(s).ok_or_else(|| bad("import_as"))?),
                    },
                    end_date_is: EndDateIs::parse(&r.end_date_is)
                        .ok_or_else(|| bad("end_date_is"))?,
                    date_shift_days: i8::try_from(r.date_shift_days)
                        .map_err(|_| bad("date shift"))?,
                    on_missing: OnMissing::parse(&r.on_missing).ok_or_else(|| bad("on_missing"))?,
                    max_removed_share: r.max_removed_share,
                },
            },
            status: ImportStatus::parse(&r.status).ok_or_else(|| bad("status"))?,
            consecutive_failures: u32::try_from(r.consecutive_failures).unwrap_or(u32::MAX),
            etag: r.etag,
            last_modified: r.last_modified,
            next_run_at: r.next_run_at,
            paused_at: r.paused_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            hold: r
                .held_since
                .map(|since| Hold { since, reason: r.held_reason.unwrap_or_default() }),
        })
    }
}

#[derive(sqlx::FromRow)]
struct RunRow {
    id: Uuid,
    import_id: Uuid,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
    outcome: String,
    http_status: Option<i64>,
    added: i64,
    updated: i64,
    removed: i64,
    unchanged: i64,
    skipped: i64,
    error: Option<String>,
}

const RUN_COLUMNS: &str = "id, import_id, started_at, finished_at, outcome, http_status, added, \
     updated, removed, unchanged, skipped, error";

impl TryFrom<RunRow> for ImportRun {
    type Error = StoreError;
    fn try_from(r: RunRow) -> Result<Self, StoreError> {
        let count = |n: i64| u32::try_from(n).unwrap_or(0);
        Ok(ImportRun {
            id: r.id,
            import_id: r.import_id,
            started_at: r.started_at,
            finished_at: r.finished_at,
            outcome: RunOutcome::parse(&r.outcome)
                .ok_or_else(|| corrupt(format!("run {} has an unknown outcome", r.id)))?,
            http_status: r.http_status.and_then(|s| u16::try_from(s).ok()),
            counts: RunCounts {
                added: count(r.added),
                updated: count(r.updated),
                removed: count(r.removed),
                unchanged: count(r.unchanged),
            },
            skipped: count(r.skipped),
            error: r.error,
        })
    }
}

/// Changes to an import; `None` leaves a field as it is.
#[derive(Clone, Default)]
pub struct ImportPatch {
    /// New URL (normalised); forgets the cached validators and runs the import soon.
    pub url: Option<String>,
    /// New platform.
    pub platform: Option<Platform>,
    /// New label (`Some(None)` clears it).
    pub name: Option<Option<String>>,
    /// New interval.
    pub interval_minutes: Option<u32>,
    /// `Some(true)` pauses it (the scheduler leaves it alone; a paused import stays paused),
    /// `Some(false)` resumes it (due at once when its run was missed while paused).
    pub paused: Option<bool>,
    /// New reading settings, each only when given.
    pub settings: SettingsPatch,
}

/// Shows a new URL's host alone, as [`NewImport`]'s `Debug` does.
impl std::fmt::Debug for ImportPatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = self.url.as_deref().map(kalends_core::redact::url_host_only);
        f.debug_struct("ImportPatch")
            .field("url", &url)
            .field("platform", &self.platform)
            .field("name", &self.name)
            .field("interval_minutes", &self.interval_minutes)
            .field("paused", &self.paused)
            .field("settings", &self.settings)
            .finish()
    }
}

/// Changes to an import's reading settings; `None` leaves a setting as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SettingsPatch {
    /// What its items are (`Some(None)`: the platform's default).
    pub import_as: Option<Option<ImportAs>>,
    /// What an all-day end date means.
    pub end_date_is: Option<EndDateIs>,
    /// Days every item moves by.
    pub date_shift_days: Option<i8>,
    /// What an item gone from the feed means.
    pub on_missing: Option<OnMissing>,
    /// The mass-removal guard's limit.
    pub max_removed_share: Option<f64>,
}

impl SettingsPatch {
    /// Writes the given settings over `settings`.
    pub fn apply(&self, settings: &mut ImportSettings) {
        if let Some(import_as) = self.import_as {
            settings.import_as = import_as;
        }
        if let Some(end_date_is) = self.end_date_is {
            settings.end_date_is = end_date_is;
        }
        if let Some(days) = self.date_shift_days {
            settings.date_shift_days = days;
        }
        if let Some(on_missing) = self.on_missing {
            settings.on_missing = on_missing;
        }
        if let Some(share) = self.max_removed_share {
            settings.max_removed_share = share;
        }
    }
}

/// The result of fetching and reading a feed, for [`Store::finish_import_run`].
#[derive(Debug)]
pub enum RunResult<'a> {
    /// The feed was read: its busy items, and how many events were skipped.
    Read {
        /// Busy occurrences.
        items: &'a [BusyItem],
        /// The zone they were read in, which places their all-day items: the owner's
        /// ([`LeasedImport::zone`], [`Store::owner_zone`]).
        zone: TimeZone,
        /// Events not imported.
        skipped: u32,
        /// HTTP status.
        http_status: Option<u16>,
        /// Validators for the next conditional GET.
        etag: Option<String>,
        /// Likewise.
        last_modified: Option<String>,
        /// See [`RunRecord::body_sha256`].
        body_sha256: Option<Vec<u8>>,
        /// The body as fetched, kept for a change of settings to read again; `None` when it
        /// is the one already kept (a run that read it again).
        body: Option<&'a [u8]>,
    },
    /// 304 (or the same body as last time): nothing changed.
    NotModified {
        /// HTTP status.
        http_status: u16,
    },
    /// Fetching or reading failed.
    Failed {
        /// HTTP status, when a response came.
        http_status: Option<u16>,
        /// What went wrong (never with the URL's secret path).
        error: String,
        /// Whether waiting a little may be enough (see [`imports::retry_in`]).
        retry: imports::Retry,
    },
}

/// What a finished run writes, as `service::imports::record_run` decided it.
#[derive(Debug)]
pub struct RunRecord<'a> {
    /// The run-log entry.
    pub run: &'a ImportRun,
    /// What changed against the stored items, for a feed that was read, with the zone that
    /// places its all-day items (the owner's).
    pub diff: Option<(imports::Diff<'a>, TimeZone)>,
    /// The import's status from now on.
    pub status: ImportStatus,
    /// Failed runs in a row, this one included (0 after a success).
    pub failures: u32,
    /// The validators for the next conditional GET, for a feed that was read.
    pub validators: Option<(Option<String>, Option<String>)>,
    /// The webhook events the run owes (recorded in its transaction).
    pub events: Vec<kalends_core::webhooks::WebhookEvent>,
    /// The alerts it may raise (each as its rule allows).
    pub alerts: Vec<kalends_core::alerts::AlertDraft>,
    /// When raised alerts are sent (after the digest window).
    pub alerts_due: DateTime<Utc>,
    /// For a feed that was read: the SHA-256 of its body and of what the reading depended on
    /// (the day, the zone, the settings). A later run that computes the same hash stores the
    /// same items, so it skips the reading and the diff.
    pub body_sha256: Option<&'a [u8]>,
    /// The jobs the run owes (the owner's manual update checklists when its items changed).
    pub owed: Vec<kalends_core::job::Job>,
    /// What becomes of the mass-removal guard's hold.
    pub hold: HoldChange<'a>,
    /// A fetched body to keep (see [`RunResult::Read::body`]).
    pub body: Option<&'a [u8]>,
    /// When the import runs next, for a run that failed for a moment and is tried again sooner
    /// than its interval; `None` leaves the schedule as it is.
    pub next_run_at: Option<DateTime<Utc>>,
    /// Where the run's [`Store::hold`] left the import's lease: the record is written, and the
    /// lease freed, only while the lease is still there (`LeaseBusy` when another run took the
    /// import since). `None` for a run recorded without a lease (benchmarks, tests).
    pub held: Option<HeldUntil>,
}

/// What a run does to its import's hold ([`Import::hold`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldChange<'a> {
    /// Left as it is (a run that did not read the feed).
    Keep,
    /// Held, for this reason (since the first held run).
    Hold(&'a str),
    /// Released: the run went ahead.
    Release,
}

#[derive(sqlx::FromRow)]
struct ItemRow {
    id: Uuid,
    import_id: Uuid,
    platform: String,
    uid: String,
    recurrence_id: String,
    kind: String,
    summary: Option<String>,
    start_date: Option<NaiveDate>,
    end_date: Option<NaiveDate>,
    span_start: DateTime<Utc>,
    span_end: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    missing_since: Option<DateTime<Utc>>,
    details: Option<String>,
}

const ITEM_COLUMNS: &str = "i.id, i.import_id, m.platform, i.uid, i.recurrence_id, i.kind, \
     i.summary, i.start_date, i.end_date, i.span_start, i.span_end, i.updated_at, i.missing_since, \
     i.details";

impl TryFrom<ItemRow> for ImportedItem {
    type Error = StoreError;
    fn try_from(r: ItemRow) -> Result<Self, StoreError> {
        let bad = |what: &str| corrupt(format!("imported item {} has an unknown {what}", r.id));
        let span = match (r.start_date, r.end_date) {
            (Some(start), Some(end)) => Span::AllDay { start, end },
            _ => Span::Timed { start: r.span_start, end: r.span_end },
        };
        Ok(ImportedItem {
            id: r.id,
            import_id: r.import_id,
            platform: Platform::parse(&r.platform).ok_or_else(|| bad("platform"))?,
            uid: r.uid,
            recurrence_id: r.recurrence_id,
            kind: parse_kind(&r.kind).ok_or_else(|| bad("kind"))?,
            summary: r.summary,
            span,
            span_start: r.span_start,
            span_end: r.span_end,
            updated_at: r.updated_at,
            missing_since: r.missing_since,
            details: match r.details.as_deref() {
                None => ItemDetails::default(),
                Some(json) => serde_json::from_str(json).map_err(|_| bad("details"))?,
            },
        })
    }
}

/// The database name of an item kind.
pub fn kind_str(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Reservation => "reservation",
        ItemKind::Block => "block",
        ItemKind::Event => "event",
    }
}

fn parse_kind(s: &str) -> Option<ItemKind> {
    [ItemKind::Reservation, ItemKind::Block, ItemKind::Event]
        .into_iter()
        .find(|k| kind_str(*k) == s)
}

/// Feed imports that are due, each moving by its own interval; paused ones wait.
const DUE_IMPORTS: DueWork = DueWork {
    select: "SELECT id, tenant_id, interval_minutes * 60 FROM imports \
             WHERE next_run_at <= $1 AND paused_at IS NULL ORDER BY next_run_at LIMIT $2",
    advance: "UPDATE imports SET next_run_at = $1 WHERE id = $2",
    job: |tenant_id, import_id| Job::ImportFeed { tenant_id, import_id },
};

impl Store {
    /// Registers an import; it is due at once.
    pub async fn create_import(
        &self,
        tenant: &Tenant,
        new: NewImport,
    ) -> Result<Import, StoreError> {
        let field = match new.owner {
            Owner::Resource(_) => "resource_id",
            Owner::Staff(_) => "staff_id",
        };
        self.check_owner(tenant.id, new.owner, field).await?;
        let (id, at) = (Uuid::now_v7(), now());
        let (resource_id, staff_id) = new.owner.columns();
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO imports (id, tenant_id, resource_id, staff_id, platform, url, name, \
                 interval_minutes, status, consecutive_failures, next_run_at, created_at, updated_at, \
                 import_as, end_date_is, date_shift_days, on_missing, max_removed_share) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9, $9, $9, \
                 $10, $11, $12, $13, $14)",
            )
            .bind(id)
            .bind(tenant.id)
            .bind(resource_id)
            .bind(staff_id)
            .bind(new.platform.as_str())
            .bind(&new.url)
            .bind(&new.name)
            .bind(i64::from(new.interval_minutes))
            .bind(at)
            .bind(new.settings.import_as.map(ImportAs::as_str))
            .bind(new.settings.end_date_is.as_str())
            .bind(i64::from(new.settings.date_shift_days))
            .bind(new.settings.on_missing.as_str())
            .bind(new.settings.max_removed_share)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        self.import(tenant.id, id).await
    }

    /// One import.
    pub async fn import(&self, tenant_id: Uuid, id: Uuid) -> Result<Import, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM imports WHERE tenant_id = $1 AND id = $2");
        let row: ImportRow = with_read_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(id)
                .fetch_one(pool)
                .await
        })?;
        row.try_into()
    }

    /// A page of the tenant's imports.
    pub async fn list_imports(
        &self,
        tenant_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Page<Import>, StoreError> {
        self.page_of::<ImportRow, Import>("imports", COLUMNS, tenant_id, after, limit, |i| i.id)
            .await
    }

    /// Changes an import.
    pub async fn update_import(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        patch: ImportPatch,
    ) -> Result<Import, StoreError> {
        let mut import = self.import(tenant_id, id).await?;
        let url_changed = patch.url.as_ref().is_some_and(|u| *u != import.data.url);
        let at = now();
        if let Some(url) = patch.url {
            import.data.url = url;
        }
        if let Some(p) = patch.platform {
            import.data.platform = p;
        }
        if let Some(name) = patch.name {
            import.data.name = name;
        }
        if let Some(minutes) = patch.interval_minutes {
            import.data.interval_minutes = minutes;
        }
        patch.settings.apply(&mut import.data.settings);
        let paused_at = match patch.paused {
            Some(true) => import.paused_at.or(Some(at)),
            Some(false) => None,
            None => import.paused_at,
        };
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE imports SET url = $1, platform = $2, name = $3, interval_minutes = $4, \
                 updated_at = $5, paused_at = $9, \
                 etag = CASE WHEN $6 THEN NULL ELSE etag END, \
                 last_modified = CASE WHEN $6 THEN NULL ELSE last_modified END, \
                 body_sha256 = CASE WHEN $6 THEN NULL ELSE body_sha256 END, \
                 next_run_at = CASE WHEN $6 THEN $5 ELSE next_run_at END, \
                 import_as = $10, end_date_is = $11, date_shift_days = $12, on_missing = $13, \
                 max_removed_share = $14 \
                 WHERE tenant_id = $7 AND id = $8",
            )
            .bind(&import.data.url)
            .bind(import.data.platform.as_str())
            .bind(&import.data.name)
            .bind(i64::from(import.data.interval_minutes))
            .bind(at)
            .bind(url_changed)
            .bind(tenant_id)
            .bind(id)
            .bind(paused_at)
            .bind(import.data.settings.import_as.map(ImportAs::as_str))
            .bind(import.data.settings.end_date_is.as_str())
            .bind(i64::from(import.data.settings.date_shift_days))
            .bind(import.data.settings.on_missing.as_str())
            .bind(import.data.settings.max_removed_share)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        self.import(tenant_id, id).await
    }

    /// Deletes an import with its run log and items, and records the jobs it owes.
    pub async fn delete_import(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        owed: &[kalends_core::job::Job],
    ) -> Result<(), StoreError> {
        let at = now();
        let deleted = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let deleted = sqlx::query("DELETE FROM imports WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 1 {
                super::outbox::owe_jobs!(tx, owed, at);
            }
            tx.commit().await?;
            Ok::<_, StoreError>(deleted)
        })?;
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        if !owed.is_empty() {
            self.outbox_signal.notify_one();
        }
        Ok(())
    }

    /// Claims up to `limit` imports that are due: each moves its next run one interval ahead and
    /// owes an `import_feed` job, in one transaction, so every due import is enqueued once across
    /// all workers and none is lost.
    pub async fn claim_due_imports(&self, limit: u32) -> Result<usize, StoreError> {
        self.claim_due(DUE_IMPORTS, now(), None, limit).await
    }

    /// Takes the run lease of an import for `lease`, so one run happens at a time whoever starts
    /// it (the scheduler's job or `POST .../run`). `LeaseBusy` when another run holds it.
    pub async fn lease_import(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        lease: Duration,
    ) -> Result<Import, StoreError> {
        let until =
            now() + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(5));
        self.lease_import_until(tenant_id, id, until).await
    }

    /// [`Store::lease_import`] until a given instant, which the run keeps to renew its lease
    /// with [`Store::renew_lease`] and [`Lease::IMPORT_RUN`] (give it whole microseconds: what the
    /// databases keep).
    pub async fn lease_import_until(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        until: DateTime<Utc>,
    ) -> Result<Import, StoreError> {
        self.lease_import_run(tenant_id, id, until).await.map(|leased| leased.import)
    }

    /// [`Store::lease_import_until`] for a run: the lease taken and everything the run starts
    /// from read in one statement (the import, its tenant, its owner's zone, the hash of its
    /// last read). `LeaseBusy` while another run holds it; `NotFound` without such an import.
    pub async fn lease_import_run(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        until: DateTime<Utc>,
    ) -> Result<LeasedImport, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            read: LastReadRow,
            tenant_settings: String,
            tenant_created_at: DateTime<Utc>,
            owner_zone: Option<String>,
            body_read_at: Option<DateTime<Utc>>,
        }
        let sql = Lease::IMPORT_RUN.take_returning_sql(&format!(
            "{COLUMNS}, body_sha256, \
             (SELECT t.settings FROM tenants t WHERE t.id = imports.tenant_id) AS tenant_settings, \
             (SELECT t.created_at FROM tenants t WHERE t.id = imports.tenant_id) \
             AS tenant_created_at, \
             COALESCE((SELECT {resource_zone} FROM resources r WHERE r.id = imports.resource_id), \
             (SELECT s.time_zone FROM staff s WHERE s.id = imports.staff_id)) AS owner_zone, \
             (SELECT b.read_at FROM import_bodies b WHERE b.import_id = imports.id) AS body_read_at",
            resource_zone = super::resources::zone_sql("r"),
        ));
        let taken: Option<Row> = with_pool!(self, |pool| {
            // $1 until, $2 now, $3 the import, $4 its tenant (the lease's guard).
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(until)
                .bind(now())
                .bind(id)
                .bind(tenant_id)
                .fetch_optional(pool)
                .await
        })?;
        let Some(row) = taken else {
            // Not taken: held by another run, or there is no such import (`NotFound`).
            self.import(tenant_id, id).await?;
            return Err(StoreError::LeaseBusy);
        };
        let tenant = Tenant::try_from(TenantRow {
            id: tenant_id,
            settings: row.tenant_settings,
            created_at: row.tenant_created_at,
        })?;
        let owner_zone = row.owner_zone.map(|z| z.parse()).transpose().map_err(corrupt)?;
        Ok(LeasedImport {
            zone: owner_zone.unwrap_or(tenant.settings.time_zone),
            tenant,
            import: row.read.import.try_into()?,
            last_read: row.read.body_sha256,
            body_read_at: row.body_read_at,
        })
    }

    /// Writes a finished run as the service decided it (`service::imports::record_run`): what
    /// changed (for a read feed), the run-log entry, the import's status and validators, and
    /// the release of its lease, all in one transaction. Answers the run's `unchanged` count as
    /// recorded: for a run that did not read the feed, the items the import holds.
    /// `LeaseBusy`, with nothing written, when the run no longer holds the import's lease
    /// ([`RunRecord::held`]).
    // Long on purpose: the statements of one transaction (items removed, rewritten, added; the
    // import's state; the run log), for both databases.
    pub async fn save_import_run(
        &self,
        tenant: &Tenant,
        import: &Import,
        record: &RunRecord<'_>,
    ) -> Result<u32, StoreError> {
        let RunRecord { run, diff, events, alerts, alerts_due, owed, body, .. } = record;
        let at = run.finished_at;
        let owner = import.data.owner.columns();
        let (recorded, unchanged) = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            // First, so that the import's row is locked (on PostgreSQL) before anything is
            // written, and a run that lost its lease writes nothing.
            if update_import!(tx, import.id, record) == 0 {
                return Err(StoreError::LeaseBusy);
            }
            if let Some((diff, zone)) = diff {
                write_diff!(tx, diff, *zone, at, (import.id, tenant.id, owner));
            }
            if let Some(body) = body {
                sqlx::query(
                    "INSERT INTO import_bodies (import_id, body, read_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (import_id) DO UPDATE SET body = excluded.body, \
                     read_at = excluded.read_at",
                )
                .bind(import.id)
                .bind(deflate(body))
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            let unchanged = insert_run!(tx, tenant.id, run);
            let recorded = super::webhooks::record_webhook_events!(tx, tenant.id, events, at);
            let raised = super::alerts::record_alerts!(tx, tenant.id, alerts, at, *alerts_due);
            let recorded = recorded + usize::try_from(raised).unwrap_or(usize::MAX);
            super::outbox::owe_jobs!(tx, owed, at);
            let recorded = recorded + owed.len();
            tx.commit().await?;
            Ok::<_, StoreError>((recorded, unchanged))
        })?;
        if recorded > 0 {
            self.outbox_signal.notify_one();
        }
        Ok(u32::try_from(unchanged).unwrap_or(u32::MAX))
    }

    /// The items an import holds now, for a run to compare the feed with.
    pub async fn stored_items(&self, import_id: Uuid) -> Result<Vec<StoredItem>, StoreError> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM imported_items i JOIN imports m ON m.id = i.import_id \
             WHERE i.import_id = $1"
        );
        let rows: Vec<ItemRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(import_id).fetch_all(pool).await
        })?;
        rows.into_iter()
            .map(|r| {
                let item = ImportedItem::try_from(r)?;
                Ok(StoredItem {
                    id: item.id,
                    uid: item.uid,
                    recurrence_id: item.recurrence_id,
                    kind: item.kind,
                    summary: item.summary,
                    span: item.span,
                    details: item.details,
                    missing_since: item.missing_since,
                })
            })
            .collect()
    }

    /// The run log of an import, newest first.
    pub async fn list_import_runs(
        &self,
        tenant_id: Uuid,
        import_id: Uuid,
        before: Option<Uuid>,
        limit: u32,
    ) -> Result<Page<ImportRun>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM import_runs WHERE tenant_id = $1 AND import_id = $2 \
             AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
        );
        let rows: Vec<RunRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(import_id)
                .bind(before)
                .bind(i64::from(limit) + 1)
                .fetch_all(pool)
                .await
        })?;
        let items = rows.into_iter().map(ImportRun::try_from).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, limit, |r| r.id))
    }

    /// The latest run of each of the tenant's imports (run ids are UUIDv7: the highest is the
    /// newest; PostgreSQL has no `max` over UUIDs).
    pub async fn last_import_runs(&self, tenant_id: Uuid) -> Result<Vec<ImportRun>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM import_runs r WHERE r.tenant_id = $1 AND r.id = \
             (SELECT x.id FROM import_runs x WHERE x.import_id = r.import_id \
             ORDER BY x.id DESC LIMIT 1)"
        );
        let rows: Vec<RunRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(tenant_id).fetch_all(pool).await
        })?;
        rows.into_iter().map(ImportRun::try_from).collect()
    }

    /// The unpaused imports whose items a booking of `resource` and `staff` is checked against:
    /// those of the resource, its parent and its rooms ([`super::resources::family_sql`]) and
    /// those of each staff member, in id order. A booking write's fresh look at the platforms'
    /// feeds (`recheck_feeds`) reads these again.
    pub async fn imports_blocking(
        &self,
        tenant_id: Uuid,
        resource: Option<Uuid>,
        staff: &[Uuid],
    ) -> Result<Vec<Uuid>, StoreError> {
        let family = super::resources::family_sql("$1", "$2");
        let staff_ids = super::placeholders(3, staff.len().min(super::IDS_PER_QUERY));
        let of_staff =
            if staff.is_empty() { String::new() } else { format!(" OR staff_id IN ({staff_ids})") };
        let sql = format!(
            "SELECT id FROM imports WHERE tenant_id = $1 AND paused_at IS NULL \
             AND (resource_id IN (SELECT id FROM ({family}) AS family){of_staff}) ORDER BY id"
        );
        let rows: Vec<(Uuid,)> = with_read_pool!(self, |pool| {
            let mut query =
                sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(tenant_id).bind(resource);
            for id in staff.iter().take(super::IDS_PER_QUERY) {
                query = query.bind(id);
            }
            query.fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// The reservation details of those of `ids` that are imported items of the tenant and
    /// carry any (a conflict's or a refusal's items name them by id).
    pub async fn imported_details(
        &self,
        tenant_id: Uuid,
        ids: &[Uuid],
    ) -> Result<Vec<(Uuid, ItemDetails)>, StoreError> {
        let mut found = Vec::new();
        for chunk in ids.chunks(super::IDS_PER_QUERY) {
            let sql = format!(
                "SELECT id, details FROM imported_items WHERE tenant_id = $1 \
                 AND details IS NOT NULL AND id IN ({})",
                super::placeholders(2, chunk.len())
            );
            let rows: Vec<(Uuid, String)> = with_read_pool!(self, |pool| {
                let mut query = sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(tenant_id);
                for id in chunk {
                    query = query.bind(id);
                }
                query.fetch_all(pool).await
            })?;
            for (id, json) in rows {
                let details = serde_json::from_str(&json)
                    .map_err(|_| corrupt(format!("imported item {id} has unreadable details")))?;
                found.push((id, details));
            }
        }
        Ok(found)
    }

    /// The body the last read of an import fetched, when one is kept.
    pub async fn last_body(&self, import_id: Uuid) -> Result<Option<Vec<u8>>, StoreError> {
        let kept: Option<(Vec<u8>,)> = with_read_pool!(self, |pool| {
            sqlx::query_as("SELECT body FROM import_bodies WHERE import_id = $1")
                .bind(import_id)
                .fetch_optional(pool)
                .await
        })?;
        kept.map(|(body,)| inflate(&body)).transpose()
    }

    /// A page of one import's items that end after `from` and start before `to` (each bound
    /// only when given), in id order.
    pub async fn import_items(
        &self,
        tenant_id: Uuid,
        import_id: Uuid,
        window: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Page<ImportedItem>, StoreError> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM imported_items i JOIN imports m ON m.id = i.import_id \
             WHERE i.tenant_id = $1 AND i.import_id = $2 AND ($3 IS NULL OR i.span_end > $3) \
             AND ($4 IS NULL OR i.span_start < $4) \
             AND ($5 IS NULL OR i.id > $5) ORDER BY i.id LIMIT $6"
        );
        let rows: Vec<ItemRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(import_id)
                .bind(window.0)
                .bind(window.1)
                .bind(after)
                .bind(i64::from(limit) + 1)
                .fetch_all(pool)
                .await
        })?;
        let items = rows.into_iter().map(ImportedItem::try_from).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, limit, |i| i.id))
    }

    /// Removes items of an import that are gone from its feed (the owner confirmed it), with the
    /// webhook events and jobs that owes, in one transaction. Only items still marked missing
    /// are removed: one that came back meanwhile stays. Answers how many were removed.
    pub async fn remove_missing_items(
        &self,
        tenant_id: Uuid,
        import_id: Uuid,
        ids: &[Uuid],
        events: &[kalends_core::webhooks::WebhookEvent],
        owed: &[Job],
    ) -> Result<u64, StoreError> {
        let at = now();
        let removed = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let mut removed = 0;
            for id in ids {
                removed += sqlx::query(
                    "DELETE FROM imported_items WHERE tenant_id = $1 AND import_id = $2 \
                     AND id = $3 AND missing_since IS NOT NULL",
                )
                .bind(tenant_id)
                .bind(import_id)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            if removed > 0 {
                super::webhooks::record_webhook_events!(tx, tenant_id, events, at);
                super::outbox::owe_jobs!(tx, owed, at);
            }
            tx.commit().await?;
            Ok::<_, StoreError>(removed)
        })?;
        if removed > 0 {
            self.outbox_signal.notify_one();
        }
        Ok(removed)
    }

    /// A page of imported items of a resource or staff member (or the whole tenant), ending after
    /// `from`, leaving out those imported from `exclude` (a feed never echoes a platform's own
    /// events back to it).
    pub async fn list_imported_items(
        &self,
        tenant_id: Uuid,
        owner: Option<Owner>,
        exclude: Option<Echoes>,
        from: DateTime<Utc>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Page<ImportedItem>, StoreError> {
        let (resource_id, staff_id) = owner.map_or((None, None), Owner::columns);
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM imported_items i JOIN imports m ON m.id = i.import_id \
             WHERE i.tenant_id = $1 AND ($2 IS NULL OR i.resource_id = $2) \
             AND ($3 IS NULL OR i.staff_id = $3) \
             AND ($4 IS NULL OR m.platform <> $4 OR ($8 = 0 AND i.kind <> 'block')) \
             AND i.span_end > $5 AND ($6 IS NULL OR i.id > $6) ORDER BY i.id LIMIT $7"
        );
        let platform = exclude.map(|echoes| echoes.platform.as_str());
        let all = exclude.is_some_and(|echoes| echoes.all);
        let rows: Vec<ItemRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(resource_id)
                .bind(staff_id)
                .bind(platform)
                .bind(from)
                .bind(after)
                .bind(i64::from(limit) + 1)
                .bind(i32::from(all))
                .fetch_all(pool)
                .await
        })?;
        let items = rows.into_iter().map(ImportedItem::try_from).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, limit, |i| i.id))
    }
}

/// What a feed made for a platform leaves out of the imported items it shows, so that the
/// platform never sees what it sent come back: everything imported from it (`all`: the feed's
/// own listing), or only what it blocked (the house and rooms sold with the listing: their
/// reservations there close this listing too, and the blocks may be echoes of Kalends' feeds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Echoes {
    /// The platform the feed is made for.
    pub platform: Platform,
    /// Leave out its reservations too, not only its blocks.
    pub all: bool,
}

/// The date and instant columns of an item.
pub(super) fn columns(
    span: &Span,
    zone: TimeZone,
) -> (Option<NaiveDate>, Option<NaiveDate>, DateTime<Utc>, DateTime<Utc>) {
    let (span_start, span_end) = span_instants(span, zone);
    match *span {
        Span::AllDay { start, end } => (Some(start), Some(end), span_start, span_end),
        Span::Timed { .. } => (None, None, span_start, span_end),
    }
}

/// Records a run's outcome on its import in `$tx`: status, failures, validators, the body's
/// hash and the mass-removal hold.
macro_rules! update_import {
    ($tx:expr, $import_id:expr, $record:expr) => {{
        let RunRecord {
            run,
            status,
            failures,
            validators,
            body_sha256,
            hold,
            next_run_at,
            held,
            ..
        } = $record;
        let at = run.finished_at;
        let (etag, last_modified) = validators.clone().unwrap_or((None, None));
        // $14 and $15: the lease's ends while still the run's (none for an unleased record).
        let (held, renewing) = held.map(|held| held.ends()).unzip();
        sqlx::query(
            "UPDATE imports SET status = $1, consecutive_failures = $2, running_until = NULL, \
             etag = CASE WHEN $3 THEN $4 ELSE etag END, \
             last_modified = CASE WHEN $3 THEN $5 ELSE last_modified END, \
             failing_since = CASE WHEN $7 THEN COALESCE(failing_since, $8) ELSE NULL END, \
             body_sha256 = CASE WHEN $3 THEN $9 ELSE body_sha256 END, \
             held_since = CASE $10 WHEN 'hold' THEN COALESCE(held_since, $11) \
             WHEN 'release' THEN NULL ELSE held_since END, \
             held_reason = CASE $10 WHEN 'hold' THEN $12 \
             WHEN 'release' THEN NULL ELSE held_reason END, \
             next_run_at = COALESCE($13, next_run_at) WHERE id = $6 \
             AND ($14 IS NULL OR running_until IN ($14, $15))",
        )
        .bind(status.as_str())
        .bind(i64::from(*failures))
        .bind(validators.is_some())
        .bind(etag)
        .bind(last_modified)
        .bind($import_id)
        .bind(run.outcome == RunOutcome::Failed)
        .bind(run.started_at)
        .bind(*body_sha256)
        .bind(match hold {
            HoldChange::Keep => "keep",
            HoldChange::Hold(_) => "hold",
            HoldChange::Release => "release",
        })
        .bind(at)
        .bind(match hold {
            HoldChange::Hold(reason) => Some(*reason),
            HoldChange::Keep | HoldChange::Release => None,
        })
        .bind(*next_run_at)
        .bind(held)
        .bind(renewing)
        .execute(&mut *$tx)
        .await?
        .rows_affected()
    }};
}
use update_import;

/// Writes a run's diff of an import's items in `$tx`: removed, missing, updated and added items,
/// at `$at`, for the import, tenant and owner columns `$ids`.
macro_rules! write_diff {
    ($tx:expr, $diff:expr, $zone:expr, $at:expr, $ids:expr) => {{
        let (import_id, tenant_id, owner): (Uuid, Uuid, (Option<Uuid>, Option<Uuid>)) = $ids;
        // A feed's items are written in a few statements of many rows, not one each:
        // a first import adds hundreds, and each statement is a round trip (on SQLite,
        // a hand-off to the connection's thread and back).
        for ids in super::in_batches(&$diff.removed) {
            let mut delete = sqlx::QueryBuilder::new("DELETE FROM imported_items");
            delete.push(" WHERE id IN (");
            let mut list = delete.separated(", ");
            for id in ids {
                list.push_bind(*id);
            }
            delete.push(")").build().execute(&mut *$tx).await?;
        }
        for ids in super::in_batches(&$diff.missing) {
            let mut mark = sqlx::QueryBuilder::new("UPDATE imported_items SET missing_since = ");
            mark.push_bind($at).push(" WHERE id IN (");
            let mut list = mark.separated(", ");
            for id in ids {
                list.push_bind(*id);
            }
            mark.push(")").build().execute(&mut *$tx).await?;
        }
        for (id, item) in &$diff.updated {
            let (start_date, end_date, span_start, span_end) = columns(&item.span, $zone);
            sqlx::query(
                "UPDATE imported_items SET kind = $1, summary = $2, start_date = $3, \
                 end_date = $4, span_start = $5, span_end = $6, updated_at = $7, \
                 uid = $8, recurrence_id = $9, missing_since = NULL, details = $11 \
                 WHERE id = $10",
            )
            .bind(kind_str(item.kind))
            .bind(&item.summary)
            .bind(start_date)
            .bind(end_date)
            .bind(span_start)
            .bind(span_end)
            .bind($at)
            .bind(&item.uid)
            .bind(item.recurrence_id.as_deref().unwrap_or(""))
            .bind(id)
            .bind(details_json(&item.details)?)
            .execute(&mut *$tx)
            .await?;
        }
        for items in super::in_batches(&$diff.added) {
            let details =
                items.iter().map(|i| details_json(&i.details)).collect::<Result<Vec<_>, _>>()?;
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO imported_items (id, import_id, tenant_id, resource_id, staff_id, \
                 uid, recurrence_id, kind, summary, start_date, end_date, span_start, span_end, \
                 updated_at, details) ",
            );
            insert.push_values(items.iter().zip(details), |mut row, (item, details)| {
                let (start_date, end_date, span_start, span_end) = columns(&item.span, $zone);
                row.push_bind(Uuid::now_v7())
                    .push_bind(import_id)
                    .push_bind(tenant_id)
                    .push_bind(owner.0)
                    .push_bind(owner.1)
                    .push_bind(item.uid.clone())
                    .push_bind(item.recurrence_id.clone().unwrap_or_default())
                    .push_bind(kind_str(item.kind))
                    .push_bind(item.summary.clone())
                    .push_bind(start_date)
                    .push_bind(end_date)
                    .push_bind(span_start)
                    .push_bind(span_end)
                    .push_bind($at)
                    .push_bind(details);
            });
            insert.build().execute(&mut *$tx).await?;
        }
    }};
}
use write_diff;

/// Inserts a run-log entry and answers its `unchanged` count: for a run that did not read the
/// feed, the items the import holds, counted here rather than read to be counted.
macro_rules! insert_run {
    ($tx:expr, $tenant_id:expr, $run:expr) => {{
        let run: &ImportRun = $run;
        let (unchanged,): (i64,) = sqlx::query_as(
            "INSERT INTO import_runs (id, import_id, tenant_id, started_at, finished_at, outcome, \
             http_status, added, updated, removed, unchanged, skipped, error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             CASE WHEN $14 THEN (SELECT count(*) FROM imported_items WHERE import_id = $2) \
             ELSE $11 END, $12, $13) RETURNING unchanged",
        )
        .bind(run.id)
        .bind(run.import_id)
        .bind($tenant_id)
        .bind(run.started_at)
        .bind(run.finished_at)
        .bind(run.outcome.as_str())
        .bind(run.http_status.map(i64::from))
        .bind(i64::from(run.counts.added))
        .bind(i64::from(run.counts.updated))
        .bind(i64::from(run.counts.removed))
        .bind(i64::from(run.counts.unchanged))
        .bind(i64::from(run.skipped))
        .bind(&run.error)
        .bind(run.outcome == RunOutcome::NotModified)
        .fetch_one(&mut *$tx)
        .await?;
        unchanged
    }};
}
use insert_run;

/// An item's details as stored: JSON, `NULL` when the platform said nothing.
fn details_json(details: &ItemDetails) -> Result<Option<String>, StoreError> {
    if *details == ItemDetails::default() {
        return Ok(None);
    }
    serde_json::to_string(details).map(Some).map_err(|e| corrupt(e.to_string()))
}

/// A feed body as kept: deflated, fast (a feed is text that shrinks about tenfold).
fn deflate(body: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(body.len() / 8),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    encoder.write_all(body).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

/// A kept body as fetched.
fn inflate(kept: &[u8]) -> Result<Vec<u8>, StoreError> {
    use std::io::Read as _;
    let mut body = Vec::with_capacity(kept.len() * 8);
    flate2::read::DeflateDecoder::new(kept)
        .read_to_end(&mut body)
        .map_err(|e| corrupt(format!("a kept feed body does not inflate: {e}")))?;
    Ok(body)
}
