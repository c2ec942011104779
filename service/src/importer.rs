//! Running an import: fetch an imported .ics feed, store what changed, and look for new
//! conflicts.
//!
//! The same run serves the scheduled `import_feed` job, `POST /api/v1/imports/{id}/run`, the
//! console's "Run now", a checked booking's fresh look at the feeds (`recheck`) and a preview. A lease on the
//! import makes sure only one run happens at a time, whoever starts it. A failed fetch changes
//! nothing that was stored: the import keeps blocking the dates it blocked before. So does a
//! body that was cut off (it ends inside a component): what it lacks is not removed. A fetch
//! that failed for a moment (a timeout, a 5xx, 429 or 408) brings the next run forward
//! ([`kalends_core::imports::retry_in`]), so one blip does not leave a daily import a day behind.

use std::sync::Arc;

use bytes::Bytes;
use std::time::Duration;

use crate::imports;
use chrono::{DateTime, Utc};
use kalends_core::config::{AlertsConfig, ImportConfig};
use kalends_core::domain::{Import, ImportRun, NewImport, RunOutcome, Tenant, TimeZone};
use kalends_core::imports::{Retry, settle};
use kalends_core::job::Job;
use kalends_ical::{ParseOptions, ParsedFeed};
use kalends_providers::feed::{FetchPolicy, Fetched, Fetcher, Validators, normalize_url};
use kalends_store::{HeldUntil, Lease, LeasedImport, RunResult, lease_end};
use kalends_store::{Store, StoreError};
use uuid::Uuid;

/// The error of a run whose body was cut off ([`ParsedFeed::truncated`]).
const TRUNCATED: &str = "the feed is truncated: it ends inside an event or before END:VCALENDAR, \
     so events it holds may be missing; nothing stored changed";

/// How long a run holds its import without renewing it (a killed worker's lease runs out after
/// this); a live run renews it every third of it, so it never runs out under a live run.
const LEASE: Duration = Duration::from_secs(5 * 60);

/// How long a host that answered 429 without `Retry-After` is left alone.
const HOST_WAIT: Duration = Duration::from_secs(60);

/// Runs imports.
#[derive(Clone, Debug)]
pub struct Importer {
    store: Store,
    fetcher: Fetcher,
    settings: Arc<ImportConfig>,
    alerts: Arc<AlertsConfig>,
    lease: Duration,
    hosts: Arc<HostWaits>,
}

/// The feed servers that asked Kalends to wait (a 429, or a 503 with `Retry-After`), by host
/// and port, and until when: none of their feeds is fetched before then by this process. A
/// platform serving hundreds of a business's listings is then asked again once it said it
/// would answer, not by each import's own early retry in the meantime.
#[derive(Debug, Default)]
struct HostWaits(std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>);

impl HostWaits {
    /// How long `host` still asked to be left alone, if at all.
    fn remaining(&self, host: &str) -> Option<Duration> {
        let waits = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let until = *waits.get(host)?;
        until.checked_duration_since(std::time::Instant::now()).filter(|left| !left.is_zero())
    }

    /// Notes that `host` asked to be left alone for `wait` (a longer wait already noted stands).
    fn note(&self, host: String, wait: Duration) {
        let now = std::time::Instant::now();
        let until = now + wait.min(kalends_core::imports::LONGEST_RETRY_AFTER);
        let mut waits = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        waits.retain(|_, until| *until > now);
        let noted = waits.entry(host).or_insert(until);
        *noted = (*noted).max(until);
    }
}

/// The key of a feed's server in [`HostWaits`]: its host and port.
fn host_key(url: &url::Url) -> Option<String> {
    Some(format!("{}:{}", url.host_str()?, url.port_or_known_default()?))
}

/// Why a run did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Another run of this import is in progress.
    #[error("a run of this import is already in progress")]
    Busy,
    /// The store failed (or the import is gone: `StoreError::NotFound`).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Importer {
    /// An importer that fetches under the configured policy.
    pub fn new(store: Store, settings: &ImportConfig) -> anyhow::Result<Self> {
        Self::beside(store, settings, None)
    }

    /// Like [`Importer::new`], also reaching Kalends's own address `own` (its public URL's,
    /// when that is a private IP literal such as the embedded default's 127.0.0.1:8080).
    pub fn beside(
        store: Store,
        settings: &ImportConfig,
        own: Option<std::net::SocketAddr>,
    ) -> anyhow::Result<Self> {
        let policy = FetchPolicy {
            own_address: own,
            allow_private_networks: settings.allow_private_networks,
            allowed: settings.allowed_addresses.clone(),
            timeout: Duration::from_secs(settings.timeout_secs),
            max_bytes: settings.max_bytes,
            max_redirects: settings.max_redirects,
            ..FetchPolicy::default()
        };
        Ok(Self::with_fetcher(store, Fetcher::new(policy)?, settings))
    }

    /// An importer with a given fetcher (tests allow their local servers this way).
    pub fn with_fetcher(store: Store, fetcher: Fetcher, settings: &ImportConfig) -> Self {
        let (settings, alerts) = (Arc::new(settings.clone()), Arc::default());
        Self { store, fetcher, settings, alerts, lease: LEASE, hosts: Arc::default() }
    }

    /// The same importer alerting the tenant with `alerts` (`[alerts]`) instead of the defaults.
    pub fn with_alerts(mut self, alerts: &AlertsConfig) -> Self {
        self.alerts = Arc::new(alerts.clone());
        self
    }

    /// The same importer with another lease length (5 minutes by default): tests shorten it to
    /// watch a run outlive several leases.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Runs one import now and returns its run-log entry.
    #[tracing::instrument(skip_all, fields(%tenant_id, %import_id))]
    pub async fn run(&self, tenant_id: Uuid, import_id: Uuid) -> Result<ImportRun, ImportError> {
        self.leased(tenant_id, import_id, Source::Fetch).await.map(|run| run.expect("fetched"))
    }

    /// Reads the body the last run fetched again, without a fetch, under the import's settings
    /// as they are now (after the owner changed them, so the effect shows at once), and records
    /// that as a run. `accept_removal`: the owner accepted what the mass-removal guard held, so
    /// this run removes it. `None` when no body is kept (the import never read its feed).
    #[tracing::instrument(skip_all, fields(%tenant_id, %import_id))]
    pub async fn reread(
        &self,
        tenant_id: Uuid,
        import_id: Uuid,
        accept_removal: bool,
    ) -> Result<Option<ImportRun>, ImportError> {
        self.leased(tenant_id, import_id, Source::Kept { accept_removal }).await
    }

    /// After a change of what an import's items depend on (its settings, its platform): its
    /// last body read again at once, or, while a run holds the import (reading under the old
    /// settings) or when the reading failed in the store, a reread queued to follow
    /// (`reread_import`, retried until it is done). The change is saved either way.
    pub async fn read_again(&self, tenant_id: Uuid, import_id: Uuid) -> Result<(), StoreError> {
        match self.reread(tenant_id, import_id, false).await {
            Ok(_) => return Ok(()),
            Err(ImportError::Busy) => {}
            Err(ImportError::Store(StoreError::NotFound)) => return Err(StoreError::NotFound),
            Err(ImportError::Store(e)) => {
                tracing::warn!(error = %e, %import_id, "an import could not be read again now");
            }
        }
        self.store.enqueue(&Job::RereadImport { tenant_id, import_id }).await
    }

    /// A fresh look at `imports` at the moment a booking is made (`recheck_feeds`): each is run
    /// now, all in parallel, each fetch conditional on the validators of its last read (a 304
    /// costs one round trip), and what changed is stored before this returns. An import another
    /// run holds is waited for and then looked at again. What has not answered by `within` is
    /// reported as [`Recheck::Timeout`] and goes on in the background: its run is recorded when
    /// it ends, as any other run, so nothing it finds is lost.
    pub async fn recheck(
        &self,
        tenant_id: Uuid,
        imports: &[Uuid],
        within: Duration,
    ) -> Vec<(Uuid, Recheck)> {
        let deadline = tokio::time::Instant::now() + within;
        let runs: Vec<_> = imports
            .iter()
            .map(|&import_id| {
                let importer = self.clone();
                let run = tokio::spawn(async move {
                    importer.run_before(tenant_id, import_id, deadline).await
                });
                (import_id, run)
            })
            .collect();
        let mut seen = Vec::with_capacity(runs.len());
        for (import_id, run) in runs {
            let outcome = match tokio::time::timeout_at(deadline, run).await {
                Ok(Ok(outcome)) => outcome,
                // The run panicked: what is stored stands.
                Ok(Err(_)) => Recheck::Failed(None),
                Err(_) => Recheck::Timeout,
            };
            seen.push((import_id, outcome));
        }
        seen
    }

    /// One run of a recheck: while another run holds the import, waits for it (until
    /// `deadline`), then runs.
    async fn run_before(
        &self,
        tenant_id: Uuid,
        import_id: Uuid,
        deadline: tokio::time::Instant,
    ) -> Recheck {
        loop {
            match self.run(tenant_id, import_id).await {
                Ok(run) => return Recheck::of(&run),
                Err(ImportError::Busy) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(ImportError::Busy) => return Recheck::Timeout,
                Err(ImportError::Store(e)) => {
                    tracing::warn!(error = %e, %import_id, "a feed recheck could not run");
                    return Recheck::Failed(None);
                }
            }
        }
    }

    /// A run under the import's lease, from `source`.
    async fn leased(
        &self,
        tenant_id: Uuid,
        import_id: Uuid,
        source: Source,
    ) -> Result<Option<ImportRun>, ImportError> {
        let held = lease_end(self.lease);
        let LeasedImport { tenant, import, zone, last_read, body_read_at } =
            match self.store.lease_import_run(tenant_id, import_id, held).await {
                Err(StoreError::LeaseBusy) => return Err(ImportError::Busy),
                other => other?,
            };
        let started_at = Utc::now();
        // The lease is renewed while the fetch and the reading go on: were it to run out, a
        // second run could start and both would write the same import's items.
        let leased = {
            let kept = Last { read: last_read.as_deref(), body_read_at };
            let work = self.obtain(&import, zone, source, kept, started_at);
            self.store.hold(&Lease::IMPORT_RUN, import.id.into(), held, self.lease, work)
        };
        let Some((parsed, held)) = leased.await? else {
            // Lost: another run may hold the import now, so this one records nothing.
            return Err(ImportError::Busy);
        };
        let parsed = match parsed {
            Ok(Some(parsed)) => parsed,
            // Nothing to read (no body kept), or the store failed: the import is let go now,
            // not when its lease runs out, so the next run (a retry, a Run now) need not wait.
            nothing_or_failed => {
                self.let_go(&import, held).await?;
                return nothing_or_failed.map(|_| None).map_err(ImportError::from);
            }
        };
        let result = match &parsed {
            Ok(Read::Changed { feed, status, etag, last_modified, body_sha256, body }) => {
                RunResult::Read {
                    items: &feed.busy,
                    zone,
                    skipped: u32::try_from(feed.skipped.len()).unwrap_or(u32::MAX),
                    http_status: *status,
                    etag: etag.clone(),
                    last_modified: last_modified.clone(),
                    body_sha256: Some(body_sha256.clone()),
                    body: body.as_deref(),
                }
            }
            Ok(Read::NotModified { status }) => RunResult::NotModified { http_status: *status },
            Err(Failure { http_status, error, retry }) => {
                RunResult::Failed { http_status: *http_status, error: error.clone(), retry: *retry }
            }
        };
        let policy = imports::RunPolicy {
            failure_threshold: self.settings.failure_threshold,
            alerts: &self.alerts,
            accept_removal: matches!(source, Source::Kept { accept_removal: true }),
        };
        let run = (started_at, Some(held));
        let recorded = imports::record_run_with(&self.store, &tenant, &import, run, result, policy);
        let recorded = match recorded.await {
            Ok(recorded) => recorded,
            // Another run took the import meanwhile (this one's lease ran out, the record being
            // slow to begin): that run records its own reading; this one records nothing.
            Err(StoreError::LeaseBusy) => return Err(ImportError::Busy),
            // The import is let go now, as above, so the job's retry or a Run now need not wait
            // out the lease (a record that was saved let it go already).
            Err(error) => {
                self.let_go(&import, held).await.ok();
                return Err(error.into());
            }
        };
        self.after_run(&import, &recorded);
        Ok(Some(recorded.run))
    }

    /// The read a run records: from the feed's address, or from the body kept by the last read
    /// (`None` when there is none), `last` being what is known of that read.
    async fn obtain(
        &self,
        import: &Import,
        zone: TimeZone,
        source: Source,
        last: Last<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<Result<Read, Failure>>, StoreError> {
        match source {
            Source::Fetch => {
                let validators = Validators {
                    etag: import.etag.clone(),
                    last_modified: import.last_modified.clone(),
                };
                let read = self.fetch_and_read(&import.data, zone, validators, last.read, now);
                match read.await? {
                    // A 304 says the body is the same, not that its reading is: repeating
                    // events reach as far ahead as the window from today. A body last read on
                    // an earlier day is read again, once a day, as the same bytes sent again
                    // with a 200 are; the same day, nothing is read.
                    Ok(Read::NotModified { status })
                        if last
                            .body_read_at
                            .is_some_and(|at| at.date_naive() < now.date_naive()) =>
                    {
                        let Some(kept) = self.kept(import, Some(status)).await? else {
                            return Ok(Some(Ok(Read::NotModified { status })));
                        };
                        self.read(&import.data, zone, kept, last.read, now).await.map(Some)
                    }
                    read => Ok(Some(read)),
                }
            }
            Source::Kept { .. } => {
                let Some(kept) = self.kept(import, None).await? else {
                    return Ok(None);
                };
                let read = self.read(&import.data, zone, kept, None, now);
                Ok(Some(read.await?.map(|read| match read {
                    // Kept already: the same bytes need not be written again.
                    Read::Changed { feed, status, etag, last_modified, body_sha256, .. } => {
                        Read::Changed { feed, status, etag, last_modified, body_sha256, body: None }
                    }
                    not_modified => not_modified,
                })))
            }
        }
    }

    /// The body the import's last read kept, with its validators, to be read again as if it
    /// had come with `status` (`None`: read whatever its hash).
    async fn kept(&self, import: &Import, status: Option<u16>) -> Result<Option<Kept>, StoreError> {
        let Some(body) = self.store.last_body(import.id).await? else {
            return Ok(None);
        };
        let validators = (import.etag.clone(), import.last_modified.clone());
        Ok(Some(Kept { body: body.into(), status, validators }))
    }

    /// Fetches and reads a feed that is not saved yet, as its first run would, and stores
    /// nothing: what the console shows before an import is added. `Ok(Err(..))` is the feed's
    /// failure in words, with the HTTP status when there was one.
    pub async fn preview(
        &self,
        tenant: &Tenant,
        import: &NewImport,
    ) -> Result<Result<ParsedFeed, (Option<u16>, String)>, StoreError> {
        let zone = self.store.owner_zone(tenant, import.owner).await?;
        let read =
            self.fetch_and_read(import, zone, Validators::default(), None, Utc::now()).await?;
        Ok(read
            .map(|read| match read {
                Read::Changed { feed, .. } => *feed,
                // No validators were sent, so a 304 is the server's odd answer: nothing to show.
                Read::NotModified { .. } => ParsedFeed::default(),
            })
            .map_err(|failure| (failure.http_status, failure.error)))
    }

    /// Fetches `import`'s feed and reads it unless it is the same as last time (`last_read`
    /// matches); `zone` is its owner's.
    async fn fetch_and_read(
        &self,
        import: &NewImport,
        zone: TimeZone,
        validators: Validators,
        last_read: Option<&[u8]>,
        now: DateTime<Utc>,
    ) -> Result<Result<Read, Failure>, StoreError> {
        let url = match normalize_url(&import.url) {
            Ok(url) => url,
            Err(e) => return Ok(Err(Failure::lasting(None, e.to_string()))),
        };
        let host = host_key(&url);
        if let Some(left) = host.as_deref().and_then(|host| self.hosts.remaining(host)) {
            let error = format!(
                "not fetched: the feed's server asked Kalends to wait another {} s before \
                 fetching any of its feeds again",
                left.as_secs().max(1)
            );
            let retry = Retry::Soon { retry_after: Some(left) };
            return Ok(Err(Failure { http_status: None, error, retry }));
        }
        let fetched = match self.fetcher.fetch(&url, &validators).await {
            Ok(fetched) => fetched,
            Err(e) => {
                let wait = match (e.http_status(), e.retry_after()) {
                    (Some(429), asked) => Some(asked.unwrap_or(HOST_WAIT)),
                    (Some(503), asked) => asked,
                    _ => None,
                };
                if let (Some(host), Some(wait)) = (host, wait) {
                    self.hosts.note(host, wait);
                }
                return Ok(Err(Failure::of_fetch(&e)));
            }
        };
        let (status, body, etag, last_modified) = match fetched {
            Fetched::NotModified { status } => return Ok(Ok(Read::NotModified { status })),
            Fetched::Body { status, body, etag, last_modified, .. } => {
                (status, body, etag, last_modified)
            }
        };
        if !kalends_ical::looks_like_icalendar(&body) {
            // A login page or an error page served with 200 must not wipe what is stored.
            let error = "the response is not an iCalendar file";
            return Ok(Err(Failure::lasting(Some(status), error.into())));
        }
        let fetched = Kept { body, status: Some(status), validators: (etag, last_modified) };
        self.read(import, zone, fetched, last_read, now).await
    }

    /// Reads a body under `import`'s settings (off the async threads: a big feed takes a
    /// while), or says why it cannot be imported.
    async fn read(
        &self,
        import: &NewImport,
        zone: TimeZone,
        kept: Kept,
        last_read: Option<&[u8]>,
        now: DateTime<Utc>,
    ) -> Result<Result<Read, Failure>, StoreError> {
        let Kept { body, status, validators: (etag, last_modified) } = kept;
        let mut options = ParseOptions::new(import.platform.into(), zone.tz(), now);
        options.to = now + chrono::Duration::days(i64::from(self.settings.horizon_days));
        options.max_events = self.settings.max_events;
        options.max_work = self.settings.max_work_steps;
        let body_sha256 = read_hash(&body, &options, import, zone.tz());
        if let Some(status) = status
            && last_read == Some(body_sha256.as_slice())
        {
            // The same bytes, read under the same settings on the same day, hold the items
            // stored last time: neither the reading nor the diff can change anything.
            return Ok(Ok(Read::NotModified { status }));
        }
        let (settings, platform) = (import.settings, import.platform);
        let max_events = options.max_events;
        let (body, read) = tokio::task::spawn_blocking(move || {
            let read = kalends_ical::read(&body, &options).map(|mut feed| {
                settle(&mut feed.busy, &settings, platform, zone);
                feed
            });
            (body, read)
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("the feed reader panicked: {e}")))?;
        match read {
            // Cut off: the items it lacks may be missing only because of the cut, and a run
            // that read it would remove them. Failed, it changes nothing stored (not even the
            // validators, so the next run fetches the whole body again); a download cut off
            // midway may come whole the next time, so that is soon.
            Ok(feed) if feed.truncated => {
                let retry = match status {
                    Some(_) => Retry::Soon { retry_after: None },
                    None => Retry::AtInterval,
                };
                Ok(Err(Failure { http_status: status, error: TRUNCATED.to_owned(), retry }))
            }
            // Over the limit, for the same reason: the events left unread would be removed.
            Ok(feed) if feed.events > max_events => {
                Ok(Err(Failure::lasting(status, too_many(feed.events, max_events))))
            }
            Ok(feed) => Ok(Ok(Read::Changed {
                feed: Box::new(feed),
                status,
                etag,
                last_modified,
                body_sha256,
                body: Some(body),
            })),
            // Refused whole: importing the part read so far would drop the rest's blocks.
            Err(too_much) => Ok(Err(Failure::lasting(status, too_much.to_string()))),
        }
    }

    /// Lets go of `import`, if this run still holds it as `held` says.
    async fn let_go(&self, import: &Import, held: HeldUntil) -> Result<(), StoreError> {
        self.store.release_own_lease(&Lease::IMPORT_RUN, import.id.into(), held).await
    }

    /// Counts and logs a recorded run.
    fn after_run(&self, import: &Import, recorded: &imports::Recorded) {
        let run = &recorded.run;
        metrics::counter!("kalends_import_runs_total", "outcome" => run.outcome.as_str())
            .increment(1);
        match run.outcome {
            RunOutcome::Ok => {
                let found = recorded.found.unwrap_or_default();
                tracing::info!(
                    added = run.counts.added,
                    updated = run.counts.updated,
                    removed = run.counts.removed,
                    unchanged = run.counts.unchanged,
                    skipped = run.skipped,
                    conflicts_opened = found.opened,
                    conflicts_resolved = found.resolved,
                    "feed imported"
                );
            }
            RunOutcome::NotModified => tracing::debug!("feed not modified"),
            RunOutcome::Held => tracing::warn!(
                reason = run.error.as_deref().unwrap_or_default(),
                "feed import held by the mass-removal guard: nothing stored changed"
            ),
            RunOutcome::Failed => {
                let failures = import.consecutive_failures + 1;
                let error = run.error.as_deref().unwrap_or_default();
                if recorded.became_failing {
                    // The tenant hears of this through the log until mail and webhooks land.
                    tracing::error!(
                        failures,
                        platform = import.data.platform.as_str(),
                        error,
                        "feed import is failing: its blocks are no longer kept up to date"
                    );
                } else {
                    tracing::warn!(failures, error, "feed import failed");
                }
            }
        }
    }
}

/// What a booking write's fresh look at one import found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recheck {
    /// The feed had changed: the stored items are its new ones.
    Changed,
    /// The feed was as stored (a 304, the same body, or a body with the same items).
    Unchanged,
    /// No answer in time: the decision rests on what was stored; the run goes on.
    Timeout,
    /// The run failed or was held by the mass-removal guard (why, when known): what was stored
    /// stands.
    Failed(Option<String>),
}

impl Recheck {
    fn of(run: &ImportRun) -> Self {
        let counts = &run.counts;
        match run.outcome {
            RunOutcome::Ok if counts.added + counts.updated + counts.removed > 0 => Self::Changed,
            RunOutcome::Ok | RunOutcome::NotModified => Self::Unchanged,
            RunOutcome::Failed | RunOutcome::Held => Self::Failed(run.error.clone()),
        }
    }

    /// Its name in the API: `changed`, `unchanged`, `timeout` or `failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Changed => "changed",
            Self::Unchanged => "unchanged",
            Self::Timeout => "timeout",
            Self::Failed(_) => "failed",
        }
    }
}

/// Where a run's feed comes from.
#[derive(Clone, Copy, Debug)]
enum Source {
    /// The feed's address.
    Fetch,
    /// The body the last read kept.
    Kept {
        /// The owner accepted the removal the mass-removal guard held.
        accept_removal: bool,
    },
}

/// A body to read, with the status and validators of the response that brought it (none for
/// a kept body read again).
struct Kept {
    body: Bytes,
    status: Option<u16>,
    validators: (Option<String>, Option<String>),
}

enum Read {
    Changed {
        /// Boxed: a read feed is large beside a 304.
        feed: Box<ParsedFeed>,
        status: Option<u16>,
        etag: Option<String>,
        last_modified: Option<String>,
        body_sha256: Vec<u8>,
        /// The body to keep; `None` when it is kept already.
        body: Option<Bytes>,
    },
    /// A 304, or the same body as the last read.
    NotModified { status: u16 },
}

/// The SHA-256 of a feed's body and of everything else its reading depends on: the window's
/// days (it moves once a day), the zone of floating times, the platform, the import's settings
/// and the limits.
fn read_hash(
    body: &[u8],
    options: &ParseOptions,
    import: &NewImport,
    zone: chrono_tz::Tz,
) -> Vec<u8> {
    use sha2::{Digest as _, Sha256};
    let mut digest = Sha256::new();
    digest.update(body);
    let settings = format!(
        "\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{:?}",
        options.from.date_naive(),
        options.to.date_naive(),
        zone.name(),
        import.platform.as_str(),
        options.max_events,
        options.max_work,
        options.all_single_events,
        import.settings,
    );
    digest.update(settings.as_bytes());
    digest.finalize().to_vec()
}

/// Why a run could not read its feed: in words (never with the URL's secret), with the HTTP
/// status when a response came, and whether trying again soon may be enough.
struct Failure {
    http_status: Option<u16>,
    error: String,
    retry: Retry,
}

impl Failure {
    /// A failure that waiting does not mend (a bad address, a login page, a broken file).
    fn lasting(http_status: Option<u16>, error: String) -> Self {
        Self { http_status, error, retry: Retry::AtInterval }
    }

    /// A failed fetch: of the moment when the fetcher says so (a timeout, a refused
    /// connection, a 5xx, 429 or 408), with the server's `Retry-After`.
    fn of_fetch(error: &kalends_providers::feed::FetchError) -> Self {
        let retry = match error.is_retryable() {
            true => Retry::Soon { retry_after: error.retry_after() },
            false => Retry::AtInterval,
        };
        Self { http_status: error.http_status(), error: error.to_string(), retry }
    }
}

/// What is known of an import's last read when a run starts.
#[derive(Clone, Copy)]
struct Last<'a> {
    /// Its hash of the body and the reading's settings (`read_hash`).
    read: Option<&'a [u8]>,
    /// When the body kept was read.
    body_read_at: Option<DateTime<Utc>>,
}

/// Why a feed with more VEVENTs than Kalends reads (`import.max_events`) failed its run.
fn too_many(events: usize, max_events: usize) -> String {
    format!(
        "the feed holds {events} events, more than the {max_events} Kalends reads from one feed \
         (import.max_events): nothing was changed, since importing part of it would remove the \
         rest's nights"
    )
}
