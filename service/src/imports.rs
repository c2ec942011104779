//! Imports of OTA and calendar feeds: registered, changed and removed by the host; each run's
//! outcome recorded, and the owner's conflicts looked for again when the feed changed what is
//! blocked.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::conflicts::{Gone, Placed, after_busy_change, after_busy_gone, recheck_owner};
use kalends_core::alerts::{AlertDraft, AlertRule, seconds};
use kalends_core::config::AlertsConfig;
use kalends_core::domain::{
    Import, ImportRun, ImportStatus, NewImport, OnMissing, Owner, RunCounts, RunOutcome, Tenant,
    span_instants,
};
use kalends_core::imports;
use kalends_core::imports::Diff;
use kalends_core::job::Job;
use kalends_core::webhooks::{self, FeedItemRef, WebhookEvent};
use kalends_store::{Detection, HoldChange, ImportPatch, ImportedBy, RunRecord, RunResult};
use kalends_store::{HeldUntil, Lease, LeaseKey, lease_end};
use kalends_store::{Store, StoreError};

/// Records a finished run of `import` with the default alert timings: see [`record_run_with`].
pub async fn record_run(
    store: &Store,
    tenant: &Tenant,
    import: &Import,
    started_at: DateTime<Utc>,
    result: RunResult<'_>,
    failure_threshold: u32,
) -> Result<Recorded, StoreError> {
    let alerts = AlertsConfig::default();
    let policy = RunPolicy { failure_threshold, alerts: &alerts, accept_removal: false };
    record_run_with(store, tenant, import, (started_at, None), result, policy).await
}

/// How a run is judged: the failed runs in a row that make an import `failing`, and when the
/// tenant is alerted.
#[derive(Clone, Copy, Debug)]
pub struct RunPolicy<'a> {
    /// Failed runs in a row after which the import is `failing`.
    pub failure_threshold: u32,
    /// The alert timings (`[alerts]`).
    pub alerts: &'a AlertsConfig,
    /// The owner accepted the removal the mass-removal guard held: this run goes ahead.
    pub accept_removal: bool,
}

/// Records a finished run of `import` (started at `started_at`, holding the import's lease as
/// `held` says, if at all): what changed (for a feed that was read), the run log, the import's
/// status (failing once `failure_threshold` runs in a row failed, ok again after a success),
/// the webhook events and alerts it owes, and its lease released, in one transaction;
/// `LeaseBusy`, with nothing recorded, when another run took the import meanwhile. A run that
/// read the feed then looks for conflicts of the import's owner; its findings are returned.
pub async fn record_run_with(
    store: &Store,
    tenant: &Tenant,
    import: &Import,
    (started_at, held): (DateTime<Utc>, Option<HeldUntil>),
    result: RunResult<'_>,
    policy: RunPolicy<'_>,
) -> Result<Recorded, StoreError> {
    let failure_threshold = policy.failure_threshold;
    // Only a read compares the feed with the stored items: the items of a run that did not
    // read the feed are counted as its run is recorded.
    let stored = match &result {
        RunResult::Read { .. } => store.stored_items(import.id).await?,
        RunResult::NotModified { .. } | RunResult::Failed { .. } => Vec::new(),
    };
    let finished_at = kalends_store::now();
    let mut run = ImportRun {
        id: Uuid::now_v7(),
        import_id: import.id,
        started_at,
        finished_at,
        outcome: RunOutcome::Ok,
        http_status: None,
        counts: RunCounts::default(),
        skipped: 0,
        error: None,
    };
    let judged = judge(import, &stored, &result, policy, &mut run);
    let (failures, diff) = (judged.failures, judged.diff.as_ref().map(|(diff, _)| diff));
    let status = status_after(store, import, &result, failures, failure_threshold, finished_at);
    let status = status.await?;
    let mut events = Vec::new();
    // The tenant's subscriptions are asked only when the run owes an event at all (most runs
    // change nothing).
    let status_moved =
        (import.status == ImportStatus::Failing) != (status == ImportStatus::Failing);
    let newly_held = run.outcome == RunOutcome::Held && import.hold.is_none();
    let items_changed = changes_items(diff);
    if status_moved || newly_held || items_changed {
        let wanted = store.wanted_event_types(tenant.id).await?;
        if !wanted.is_empty() {
            events = run_events(import, &run, status, failures, &stored, diff);
            events.retain(|e| wanted.contains(e.event_type));
        }
    }
    let alerts = owed_alerts(store, tenant, import, &run, diff, newly_held, policy).await?;
    let alerts_due = finished_at + seconds(policy.alerts.digest_window_secs);
    let owed = checklist_jobs(tenant.id, import, diff);
    let vacated = judged.diff.as_ref().map(|(diff, zone)| diff.vacated(&stored, *zone));
    let record = RunRecord {
        run: &run,
        diff: judged.diff,
        status,
        failures,
        validators: judged.validators,
        events,
        alerts,
        alerts_due,
        body_sha256: judged.body_sha256,
        owed,
        hold: hold_change(&run),
        body: judged.kept_body,
        next_run_at: judged.next_run_at,
        held,
    };
    run.counts.unchanged = store.save_import_run(tenant, import, &record).await?;
    let owner = import.data.owner;
    let found = match run.outcome {
        RunOutcome::Ok if items_changed => {
            let placed = Placed::Imported(ImportedBy::Feed(import.id), started_at);
            let gone = Gone::From(vacated.as_deref().unwrap_or_default());
            Some(after_busy_change(store, tenant, owner, placed, gone).await?)
        }
        RunOutcome::Ok => Some(recheck_owner(store, tenant.id, owner).await?),
        RunOutcome::NotModified | RunOutcome::Failed | RunOutcome::Held => None,
    };
    Ok(Recorded { run, found, became_failing: status_moved && status == ImportStatus::Failing })
}

/// A recorded run.
#[derive(Debug)]
pub struct Recorded {
    /// The run, as its log shows it.
    pub run: ImportRun,
    /// The conflicts its owner's check opened and resolved, after a feed that was read.
    pub found: Option<Detection>,
    /// Whether this run made the import `failing`.
    pub became_failing: bool,
}

/// The status a run leaves its import in, the `failures`-th failed run in a row (0 after a
/// success): `failing` as [`imports::failing`] says, reading when the failing streak began only
/// for a failure of the moment that reached the threshold.
async fn status_after(
    store: &Store,
    import: &Import,
    result: &RunResult<'_>,
    failures: u32,
    threshold: u32,
    at: DateTime<Utc>,
) -> Result<ImportStatus, StoreError> {
    let RunResult::Failed { retry, .. } = *result else {
        return Ok(ImportStatus::Ok);
    };
    let streak = match retry {
        imports::Retry::Soon { .. } if failures >= threshold => {
            let since = store.import_failing_since(import.id).await?.unwrap_or(at);
            (at - since).to_std().unwrap_or_default()
        }
        imports::Retry::Soon { .. } | imports::Retry::AtInterval => Duration::ZERO,
    };
    let interval = Duration::from_secs(u64::from(import.data.interval_minutes) * 60);
    Ok(match imports::failing(failures, threshold, retry, streak, interval) {
        true => ImportStatus::Failing,
        false => import.status,
    })
}

/// What a run's result makes of its import, decided before anything is written.
struct Judged<'a> {
    /// Failed runs in a row, this one included (0 after a success).
    failures: u32,
    /// The validators for the next conditional GET, for a feed that was read.
    validators: Option<(Option<String>, Option<String>)>,
    /// What changed, for a feed that was read and not held, with the zone it was read in.
    diff: Option<(Diff<'a>, kalends_core::domain::TimeZone)>,
    /// See [`RunRecord::body_sha256`].
    body_sha256: Option<&'a [u8]>,
    /// A fetched body to keep.
    kept_body: Option<&'a [u8]>,
    /// An early retry's time, after a failure of the moment.
    next_run_at: Option<DateTime<Utc>>,
}

/// Judges a run's `result` against the items the import holds (`stored`, read for a feed that
/// was read): what changed, whether the mass-removal guard holds it, how many runs in a row
/// failed; fills in `run`'s outcome, HTTP status, counts and error.
fn judge<'a>(
    import: &Import,
    stored: &'a [imports::StoredItem],
    result: &'a RunResult<'_>,
    policy: RunPolicy<'_>,
    run: &mut ImportRun,
) -> Judged<'a> {
    let mut judged = Judged {
        failures: 0,
        validators: None,
        diff: None,
        body_sha256: None,
        kept_body: None,
        next_run_at: None,
    };
    match result {
        RunResult::Read {
            items,
            zone,
            skipped,
            http_status,
            etag,
            last_modified,
            body_sha256,
            body,
        } => {
            judged.body_sha256 = body_sha256.as_deref();
            judged.kept_body = *body;
            run.http_status = *http_status;
            run.skipped = *skipped;
            judged.validators = Some((etag.clone(), last_modified.clone()));
            let today = run.finished_at.date_naive();
            let mut changes = imports::diff(stored, items, import.data.platform, today);
            let settings = &import.data.settings;
            changes.keep_ended(stored, settings, run.finished_at, *zone);
            let held = match settings.on_missing {
                OnMissing::KeepAndAlert => {
                    changes.keep_missing(stored);
                    None
                }
                OnMissing::Remove if policy.accept_removal => None,
                OnMissing::Remove => {
                    let share = settings.max_removed_share;
                    imports::removal_hold(stored, &changes, share, run.finished_at, *zone)
                }
            };
            match held {
                Some(reason) => {
                    run.outcome = RunOutcome::Held;
                    run.error = Some(reason);
                    run.counts.unchanged = u32::try_from(stored.len()).unwrap_or(u32::MAX);
                }
                None => {
                    run.counts = changes.counts;
                    judged.diff = Some((changes, *zone));
                }
            }
        }
        RunResult::NotModified { http_status } => {
            run.outcome = RunOutcome::NotModified;
            run.http_status = Some(*http_status);
        }
        RunResult::Failed { http_status, error, retry } => {
            run.outcome = RunOutcome::Failed;
            run.http_status = *http_status;
            run.error = Some(error.clone());
            judged.failures = import.consecutive_failures.saturating_add(1);
            let interval = Duration::from_secs(u64::from(import.data.interval_minutes) * 60);
            // The import's own spread (its id's random bits): the same at each of its retries,
            // different from its neighbours'.
            let jitter = (import.id.as_u128() % 1024) as f64 / 1023.0;
            let wait = imports::retry_in(judged.failures, interval, *retry, jitter);
            judged.next_run_at = wait
                .and_then(|wait| Some(run.finished_at + chrono::Duration::from_std(wait).ok()?));
        }
    }
    judged
}

/// What a run does to the mass-removal guard's hold, as its outcome says: a held run holds it
/// (for the reason its error gives), a run that went ahead releases it, one that read nothing
/// leaves it.
fn hold_change(run: &ImportRun) -> HoldChange<'_> {
    match run.outcome {
        RunOutcome::Held => HoldChange::Hold(run.error.as_deref().unwrap_or_default()),
        RunOutcome::Ok => HoldChange::Release,
        RunOutcome::NotModified | RunOutcome::Failed => HoldChange::Keep,
    }
}

/// The alerts a run may raise, when the tenant has somewhere to send them and the run failed,
/// the import is failing, the guard newly held it, or items went missing.
async fn owed_alerts(
    store: &Store,
    tenant: &Tenant,
    import: &Import,
    run: &ImportRun,
    diff: Option<&Diff<'_>>,
    newly_held: bool,
    policy: RunPolicy<'_>,
) -> Result<Vec<AlertDraft>, StoreError> {
    if tenant.settings.alert_emails.is_empty() {
        return Ok(Vec::new());
    }
    let failing_since = store.import_failing_since(import.id).await?;
    let missing = diff.map_or(0, |d| d.missing.len());
    if run.outcome != RunOutcome::Failed && failing_since.is_none() && !newly_held && missing == 0 {
        return Ok(Vec::new());
    }
    let owner = match import.data.owner {
        Owner::Resource(id) => store.resource(tenant.id, id).await?.data.name,
        Owner::Staff(id) => store.staff(tenant.id, id).await?.data.name,
    };
    let owner = kalends_core::words::owner_fact(import.data.owner, &owner);
    let mut alerts = run_alerts(import, run, failing_since, owner.clone(), policy.alerts);
    alerts.extend(guard_alerts(import, run, newly_held, missing, owner));
    Ok(alerts)
}

/// What a run owes: when a resource's items changed, its manual update checklists follow.
fn checklist_jobs(tenant_id: Uuid, import: &Import, diff: Option<&Diff<'_>>) -> Vec<Job> {
    match import.data.owner {
        Owner::Resource(id) if changes_items(diff) => {
            vec![checklist_job(tenant_id, id, "feed_import")]
        }
        _ => Vec::new(),
    }
}

/// Whether a run's diff adds, rewrites, removes or marks an item.
fn changes_items(diff: Option<&Diff<'_>>) -> bool {
    diff.is_some_and(Diff::changes_items)
}

/// The refresh of a resource's manual update checklists.
fn checklist_job(tenant_id: Uuid, resource_id: Uuid, cause: &str) -> Job {
    Job::UpdateChecklists {
        tenant_id,
        resource_id: Some(resource_id),
        booking_id: None,
        cause: cause.into(),
    }
}

/// The alerts a run may raise: the import failing for `import_failing_after_secs` since its first
/// failed run (once a streak, and not again within the quiet period), and its recovery (only
/// when the failure was alerted).
fn run_alerts(
    import: &Import,
    run: &ImportRun,
    failing_since: Option<DateTime<Utc>>,
    owner: (String, String),
    config: &AlertsConfig,
) -> Vec<AlertDraft> {
    let feed = import.data.name.clone().unwrap_or_else(|| import.data.platform.as_str().to_owned());
    let link = format!("/dashboard/imports/{}", import.id);
    let at = run.finished_at;
    match (run.outcome, failing_since) {
        (RunOutcome::Failed, since) => {
            let since = since.unwrap_or(run.started_at);
            if at - since < seconds(config.import_failing_after_secs) {
                return Vec::new();
            }
            let quiet_from = at - seconds(config.quiet_period_secs);
            let facts = vec![
                ("Feed".to_owned(), format!("{feed} ({})", import.data.platform.as_str())),
                ("Failing since".to_owned(), since.format("%Y-%m-%d %H:%M UTC").to_string()),
                ("Last error".to_owned(), run.error.clone().unwrap_or_default()),
                owner,
                (
                    "What it affects".to_owned(),
                    "Dates booked or closed on the platform since then are not blocked in Kalends."
                        .to_owned(),
                ),
            ];
            vec![AlertDraft {
                kind: "import_failing",
                object_id: import.id,
                summary: format!("Feed import failing: {feed}"),
                facts,
                link,
                rule: AlertRule::Unless(since.min(quiet_from)),
            }]
        }
        (RunOutcome::Ok | RunOutcome::NotModified | RunOutcome::Held, Some(since)) => {
            let facts = vec![
                ("Feed".to_owned(), format!("{feed} ({})", import.data.platform.as_str())),
                ("Failed from".to_owned(), since.format("%Y-%m-%d %H:%M UTC").to_string()),
                ("Recovered at".to_owned(), at.format("%Y-%m-%d %H:%M UTC").to_string()),
                owner,
            ];
            vec![AlertDraft {
                kind: "import_recovered",
                object_id: import.id,
                summary: format!("Feed import recovered: {feed}"),
                facts,
                link,
                rule: AlertRule::After { kind: "import_failing", since },
            }]
        }
        (RunOutcome::Ok | RunOutcome::NotModified | RunOutcome::Held, None) => Vec::new(),
    }
}

/// The alerts of the mass-removal guard and of items kept although gone from the feed: once
/// when a hold starts, once per run that finds items missing.
fn guard_alerts(
    import: &Import,
    run: &ImportRun,
    newly_held: bool,
    missing: usize,
    owner: (String, String),
) -> Vec<AlertDraft> {
    let feed = import.data.name.clone().unwrap_or_else(|| import.data.platform.as_str().to_owned());
    let link = format!("/dashboard/imports/{}", import.id);
    let at = run.finished_at;
    let platform = import.data.platform.as_str();
    let mut alerts = Vec::new();
    if newly_held {
        let facts = vec![
            ("Feed".to_owned(), format!("{feed} ({platform})")),
            ("Held at".to_owned(), at.format("%Y-%m-%d %H:%M UTC").to_string()),
            ("Why".to_owned(), run.error.clone().unwrap_or_default()),
            owner.clone(),
        ];
        alerts.push(AlertDraft {
            kind: "import_held",
            object_id: import.id,
            summary: format!("Feed import held: {feed} would remove most of its dates"),
            facts,
            link: link.clone(),
            rule: AlertRule::Unless(at),
        });
    }
    if missing > 0 {
        let facts = vec![
            ("Feed".to_owned(), format!("{feed} ({platform})")),
            ("Items gone from the feed".to_owned(), missing.to_string()),
            (
                "What it means".to_owned(),
                "Their dates stay blocked until you confirm the removal in the console.".to_owned(),
            ),
            owner,
        ];
        alerts.push(AlertDraft {
            kind: "feed_item_missing",
            object_id: import.id,
            summary: format!("Items gone from a feed: {feed}"),
            facts,
            link,
            rule: AlertRule::Unless(at),
        });
    }
    alerts
}

/// An item as the feed has it now.
fn fresh(item: &kalends_ical::BusyItem) -> FeedItemRef<'_> {
    FeedItemRef {
        uid: &item.uid,
        recurrence_id: item.recurrence_id.as_deref().unwrap_or(""),
        kind: item.kind,
        summary: item.summary.as_deref(),
        details: &item.details,
        span: &item.span,
    }
}

/// The webhook events a run owes: the import starting to fail or recovering, and each item the
/// feed brought, changed or took away.
fn run_events(
    import: &Import,
    run: &ImportRun,
    status: ImportStatus,
    failures: u32,
    stored: &[imports::StoredItem],
    diff: Option<&imports::Diff<'_>>,
) -> Vec<WebhookEvent> {
    let mut events = Vec::new();
    let was_failing = import.status == ImportStatus::Failing;
    match (was_failing, status) {
        (false, ImportStatus::Failing) => events.push(WebhookEvent::new(
            "feed_import.failed",
            webhooks::import_status_data(import, run, failures),
        )),
        (true, ImportStatus::Ok) => events.push(WebhookEvent::new(
            "feed_import.recovered",
            webhooks::import_status_data(import, run, failures),
        )),
        _ => {}
    }
    if run.outcome == RunOutcome::Held && import.hold.is_none() {
        events.push(WebhookEvent::new(
            "feed_import.held",
            webhooks::import_status_data(import, run, failures),
        ));
    }
    let Some(diff) = diff else {
        return events;
    };
    for item in &diff.added {
        events.push(WebhookEvent::new(
            "feed_item.created",
            webhooks::feed_item_data(import, fresh(item)),
        ));
    }
    for (_, item) in &diff.updated {
        events.push(WebhookEvent::new(
            "feed_item.updated",
            webhooks::feed_item_data(import, fresh(item)),
        ));
    }
    for gone in stored.iter().filter(|s| diff.removed.binary_search(&s.id).is_ok()) {
        events.push(WebhookEvent::new(
            "feed_item.removed",
            webhooks::feed_item_data(import, kept(gone)),
        ));
    }
    for gone in stored.iter().filter(|s| diff.missing.binary_search(&s.id).is_ok()) {
        events.push(WebhookEvent::new(
            "feed_item.missing",
            webhooks::feed_item_data(import, kept(gone)),
        ));
    }
    events
}

/// An item as the import keeps it.
fn kept(item: &imports::StoredItem) -> FeedItemRef<'_> {
    FeedItemRef {
        uid: &item.uid,
        recurrence_id: &item.recurrence_id,
        kind: item.kind,
        summary: item.summary.as_deref(),
        details: &item.details,
        span: &item.span,
    }
}

/// Removes an import: the dates it blocked are free again, and the conflicts they caused settle.
pub async fn delete(store: &Store, tenant_id: Uuid, id: Uuid) -> Result<(), StoreError> {
    let import = store.import(tenant_id, id).await?;
    let owed = match import.data.owner {
        Owner::Resource(resource_id) => vec![checklist_job(tenant_id, resource_id, "feed_removed")],
        Owner::Staff(_) => Vec::new(),
    };
    store.delete_import(tenant_id, id, &owed).await?;
    after_busy_gone(store, tenant_id, import.data.owner).await?;
    Ok(())
}

/// Registers a feed to import for a resource or staff member; its first run is due at once.
pub async fn create(store: &Store, tenant: &Tenant, new: NewImport) -> Result<Import, StoreError> {
    store.create_import(tenant, new).await
}

/// Changes an import's address, platform, name, interval or reading settings. Answers the
/// import and whether what its stored items depend on changed (the settings or the platform):
/// then its last body should be read again ([`Importer::reread`] in the jobs crate) so the
/// effect shows at once.
pub async fn update(
    store: &Store,
    tenant_id: Uuid,
    id: Uuid,
    patch: ImportPatch,
) -> Result<(Import, bool), StoreError> {
    let before = store.import(tenant_id, id).await?;
    let after = store.update_import(tenant_id, id, patch).await?;
    let reread =
        before.data.settings != after.data.settings || before.data.platform != after.data.platform;
    Ok((after, reread))
}

/// Removes items of an import that are gone from its feed, as the owner confirmed (all of them
/// with `item_id` `None`): their dates are free again, the `feed_item.removed` events go out,
/// the owner's conflicts and checklists follow. Answers how many were removed, or
/// [`StoreError::LeaseBusy`] while a run holds the import: one that finds an item back must not
/// have it removed under it.
pub async fn confirm_missing(
    store: &Store,
    tenant_id: Uuid,
    import_id: Uuid,
    item_id: Option<Uuid>,
) -> Result<u64, StoreError> {
    let (lease, key) = (&Lease::IMPORT_RUN, LeaseKey::from(import_id));
    let until = lease_end(std::time::Duration::from_secs(30));
    if !store.take_lease(lease, key, &[LeaseKey::Id(tenant_id)], until).await? {
        store.import(tenant_id, import_id).await?;
        return Err(StoreError::LeaseBusy);
    }
    let removed = remove_confirmed(store, tenant_id, import_id, item_id).await;
    store.release_lease(lease, key).await?;
    removed
}

/// [`confirm_missing`] with the import held.
async fn remove_confirmed(
    store: &Store,
    tenant_id: Uuid,
    import_id: Uuid,
    item_id: Option<Uuid>,
) -> Result<u64, StoreError> {
    let import = store.import(tenant_id, import_id).await?;
    let gone: Vec<_> = store
        .stored_items(import.id)
        .await?
        .into_iter()
        .filter(|s| s.missing_since.is_some() && item_id.is_none_or(|id| id == s.id))
        .collect();
    if gone.is_empty() {
        return Ok(0);
    }
    let wanted = store.wanted_event_types(tenant_id).await?;
    let events: Vec<_> = gone
        .iter()
        .map(|item| {
            WebhookEvent::new("feed_item.removed", webhooks::feed_item_data(&import, kept(item)))
        })
        .filter(|e| wanted.contains(e.event_type))
        .collect();
    let owed = match import.data.owner {
        Owner::Resource(resource_id) => vec![checklist_job(tenant_id, resource_id, "feed_import")],
        Owner::Staff(_) => Vec::new(),
    };
    let ids: Vec<Uuid> = gone.iter().map(|s| s.id).collect();
    let removed = store.remove_missing_items(tenant_id, import.id, &ids, &events, &owed).await?;
    // Only the rule conflicts near where the removed items were may have been theirs.
    let tenant = store.tenant(tenant_id).await?;
    let zone = store.owner_zone(&tenant, import.data.owner).await?;
    let went: Vec<_> = gone.iter().map(|item| span_instants(&item.span, zone)).collect();
    after_busy_change(store, &tenant, import.data.owner, Placed::At(&[]), Gone::From(&went))
        .await?;
    Ok(removed)
}

/// Asks for a run of the import as soon as a worker is free (the console's "Run now"): the
/// request returns at once, and the run's result arrives in the run log.
pub async fn run_soon(store: &Store, tenant_id: Uuid, id: Uuid) -> Result<(), StoreError> {
    store.import(tenant_id, id).await?;
    store.enqueue(&kalends_core::job::Job::ImportFeed { tenant_id, import_id: id }).await
}
