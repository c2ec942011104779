//! One type per section of `config/default.toml` (`[database]`, `[jobs]`, ...), its fields the
//! section's keys. Their defaults are the file's: see `load`.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::redact;
use super::values::numbers;
use crate::addresses::AllowedAddresses;

/// Database pool settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct DatabaseConfig {
    /// Upper bound on open connections per process.
    pub max_connections: u32,
    /// Seconds to wait for a free connection before a request fails.
    pub acquire_timeout_secs: u64,
}

/// Job queue and worker settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct JobsConfig {
    /// Queue name (the Redis key prefix, or the queue column in the database).
    pub queue: String,
    /// Jobs one worker process runs at once.
    pub concurrency: usize,
    /// How often an idle worker looks for due jobs, in milliseconds (at most 1000).
    pub poll_interval_ms: u64,
    /// How often the outbox relay looks for work written by other processes, in milliseconds (at most 1000).
    pub relay_interval_ms: u64,
    /// First retry delay of a transiently failing job, in milliseconds; doubles per attempt.
    pub retry_base_ms: u64,
    /// Longest delay between two retries, in milliseconds.
    pub retry_max_delay_ms: u64,
    /// After this many seconds of transient failures a job is recorded as failed.
    pub retry_give_up_after_secs: u64,
    /// On shutdown, how long running jobs may take to finish, in seconds.
    pub shutdown_timeout_secs: u64,
    /// How often a worker tells the Redis queue it is alive (s); the jobs of a worker silent for
    /// three of these (killed, partitioned) go back on the queue for the others.
    pub heartbeat_secs: u64,
}

/// Google OAuth client and endpoints.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct GoogleConfig {
    /// OAuth client id; unset uses the built-in sandbox.
    pub client_id: Option<String>,
    /// OAuth client secret.
    #[serde(serialize_with = "redact::secret")]
    pub client_secret: Option<SecretString>,
    /// Authorization endpoint.
    pub auth_url: String,
    /// Token endpoint.
    pub token_url: String,
    /// Revocation endpoint.
    pub revoke_url: String,
    /// Calendar API base URL (with its trailing slash).
    pub api_base_url: String,
    /// Admin SDK Directory API base URL (with its trailing slash): where an organisation-wide
    /// connection reads a Workspace's users.
    pub directory_base_url: String,
}

/// Microsoft identity platform app and endpoints.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct MicrosoftConfig {
    /// Application (client) id; unset uses the built-in sandbox.
    pub client_id: Option<String>,
    /// Client secret.
    #[serde(serialize_with = "redact::secret")]
    pub client_secret: Option<SecretString>,
    /// Directory tenant: `common`, `organizations`, `consumers` or a tenant id.
    pub tenant: String,
    /// Identity platform authority.
    pub authority_url: String,
    /// Microsoft Graph base URL.
    pub graph_base_url: String,
}

/// iCal feed import settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ImportConfig {
    /// Let feed imports and CalDAV servers reach loopback and private addresses.
    pub allow_private_networks: bool,
    /// The loopback or private IPs, networks or `ip:port` that feed imports and CalDAV servers
    /// may reach although `allow_private_networks` is off (an intranet CalDAV server).
    pub allowed_addresses: AllowedAddresses,
    /// Whole-request time limit of a fetch, in seconds.
    pub timeout_secs: u64,
    /// Largest feed accepted (after decompression), in bytes.
    pub max_bytes: u64,
    /// Redirects followed at most.
    pub max_redirects: u8,
    /// VEVENTs read at most from one feed; an import of a feed with more fails its run.
    pub max_events: usize,
    /// Failed runs in a row after which an import is `failing` and the tenant is told.
    pub failure_threshold: u32,
    /// How far ahead recurring events are expanded, in days (18 months by default). Single
    /// events are imported however far ahead they are.
    pub horizon_days: u32,
    /// The work reading one feed may cost, in steps (events read, recurrence occurrences
    /// weighted by how far their rule walks the clock); a feed that needs more fails its run.
    /// The same budget holds for one listing of a CalDAV calendar, all its resources together.
    pub max_work_steps: u64,
    /// Interval of a new import when the request names none, in minutes.
    pub default_interval_minutes: u32,
    /// How often each worker looks for due imports, in seconds.
    pub scheduler_interval_secs: u64,
}

/// iCal feed export settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct FeedsConfig {
    /// How long subscribers may reuse a feed before revalidating (`Cache-Control: max-age`).
    pub cache_max_age_secs: u32,
    /// Bookings that ended more than this many days ago leave the feed.
    pub past_days: u32,
    /// Requests one feed URL may make per minute (a burst of as many is allowed); above it the
    /// answer is 429 with `Retry-After`. Subscribers poll every few minutes to hours.
    pub rate_limit_per_minute: u32,
    /// How long a feed's validators are reused before the database is asked again, in
    /// milliseconds: a change reaches revalidating subscribers at most this much later.
    pub validator_ttl_ms: u64,
    /// Memory for rendered feed bodies, reused while a feed does not change, in MiB.
    pub body_cache_mib: u32,
    /// Memory for the rendered events of recent feeds, in MiB: after a change, a feed renders
    /// only the bookings that changed and reuses the rest.
    pub event_cache_mib: u32,
}

/// Customer e-mail settings (the transport is `smtp_url`, the sender `mail_from`).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct MailConfig {
    /// Whole-send time limit of one message to the SMTP server, in seconds.
    pub timeout_secs: u64,
    /// A reminder whose moment passed while Kalends was down is still sent this many minutes
    /// late; later, it is skipped and recorded.
    pub reminder_grace_minutes: u32,
    /// An e-mail claimed for sending this many seconds ago and still not finished was
    /// interrupted (a crash): the scheduler puts it back in the queue. Longer than
    /// `timeout_secs`, so that a send still in progress is never doubled.
    pub stale_claim_secs: u64,
    /// The public invite link of a booking stops working this many days after the booking ends.
    pub invite_link_days: u32,
}

/// Two-way sync with connected calendars.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct SyncConfig {
    /// How often each connection's busy times are imported, in minutes: the safety net under
    /// push notifications.
    pub import_interval_minutes: u32,
    /// Google requests a minute per connected account (Google's per-user quota: 600).
    pub google_requests_per_minute_per_account: u32,
    /// Google requests a minute for the whole project (Google's quota: 10,000).
    pub google_requests_per_minute: u32,
    /// Microsoft Graph requests a minute per mailbox (Outlook: 10,000 per 10 minutes).
    pub microsoft_requests_per_minute_per_account: u32,
    /// Microsoft Graph requests a minute for the whole app.
    pub microsoft_requests_per_minute: u32,
    /// A booking whose event in a connected calendar is missing or behind its version this many
    /// seconds after its last change has lost its sync job (a queue that dropped it): it is
    /// queued again. The check runs this often, by one worker at a time.
    pub drift_check_secs: u64,
    /// A disconnect cleans up the calendar at once (its events removed when asked, the grant
    /// revoked); whatever that first attempt could not finish is tried again by a queued job
    /// this many seconds later.
    pub cleanup_retry_secs: u64,
    /// How long Kalends waits for a provider (Google, Microsoft, a CalDAV server) to answer one
    /// call. A write left unanswered may still land: its booking's sync lease is kept this long
    /// again, and a disconnect's cleanup waits for it.
    pub provider_timeout_secs: u64,
}

impl SyncConfig {
    /// The interval between two scheduled imports of a connection.
    pub fn import_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.import_interval_minutes) * 60)
    }

    /// How long one provider call may take.
    pub fn provider_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.provider_timeout_secs)
    }
}

/// How much history is kept: import runs, sync attempts and failed jobs would otherwise grow
/// forever. The scheduler prunes them in small batches.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct HistoryConfig {
    /// Rows older than this many days go (each import's last run stays, however old).
    pub max_age_days: u32,
    /// Runs kept per import, and sync attempts per booking (the newest).
    pub max_per_item: u32,
    /// Failed jobs kept (the newest).
    pub max_job_failures: u32,
    /// Seconds between two prunings (each done by one worker).
    pub prune_interval_secs: u64,
}

/// The built-in provider sandbox: emulated Google and Microsoft mounted at `/sandbox`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct SandboxSettings {
    /// Mount it. Unset: only in the embedded first run (SQLite, no client id for either
    /// provider, not the production profile).
    pub enabled: Option<bool>,
    /// Bearer token of its control API (`/sandbox/_control/`). Unset: random per process,
    /// printed at start-up.
    #[serde(serialize_with = "redact::secret")]
    pub token: Option<SecretString>,
}

/// HTTP server time and connection limits.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct HttpConfig {
    /// A request (reading its body included) that takes longer is answered 408 and dropped.
    pub request_timeout_secs: u64,
    /// On shutdown, how long requests in flight may take before their connections are closed.
    pub shutdown_timeout_secs: u64,
    /// A connection that has not sent a whole request head this long after it opened, or after
    /// its previous response (an idle keep-alive connection), is closed.
    pub header_read_timeout_secs: u64,
    /// Open connections per listener; one more is closed at once.
    pub max_connections: usize,
    /// Open connections per client address (IPv6: per /64) per listener; one more is closed at
    /// once. Behind a reverse proxy this counts the proxy's connections.
    pub max_connections_per_address: usize,
}

/// Provider push notifications (`/webhooks/google`, `/webhooks/microsoft`) and the tenant's
/// outbound webhooks (`/api/v1/webhook-endpoints`).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct WebhooksConfig {
    /// Requests a minute one client address may make (bursts of as many); above it: 429.
    pub rate_limit_per_minute: u32,
    /// Let outbound webhook endpoints be loopback, private or link-local addresses.
    pub allow_private_networks: bool,
    /// The loopback or private IPs, networks or `ip:port` that webhook endpoints may be
    /// although `allow_private_networks` is off.
    pub allowed_addresses: AllowedAddresses,
    /// Time limit of one delivery attempt, in seconds.
    pub delivery_timeout_secs: u64,
    /// When each attempt of a delivery is made, in seconds after the previous one failed (the
    /// first after the event was recorded); a delivery fails after the last.
    #[serde(deserialize_with = "numbers")]
    pub retry_schedule_secs: Vec<u64>,
    /// An endpoint whose deliveries have failed for this long without a success is disabled.
    pub disable_after_failing_secs: u64,
    /// How long a rotated secret keeps signing beside the new one, in seconds.
    pub rotated_secret_valid_secs: u64,
}

/// The tenant console: how long its links and sessions last, and how its live updates look.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct DashboardConfig {
    /// Minutes a dashboard link may wait before it is opened (it works once).
    pub link_minutes: u32,
    /// Hours a console session lasts after its link was opened.
    pub session_hours: u32,
    /// Milliseconds between an open console's own looks for changes no job tells of (a
    /// setting saved, a conflict resolved); changes a job makes or owes are told at once.
    pub live_poll_ms: u64,
}

/// The public availability calendars that businesses embed in their own websites.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct WidgetConfig {
    /// The pages allowed to show a calendar in a frame: the CSP `frame-ancestors` source list,
    /// e.g. `https://www.example.com https://*.example.org`, or `'none'`.
    pub frame_ancestors: String,
    /// How long browsers and shared caches may reuse an answer (`Cache-Control: public, max-age`).
    pub cache_max_age_secs: u32,
    /// Requests one client address may make per minute to one calendar (bursts of as many);
    /// above it: 429 with `Retry-After`.
    pub rate_limit_per_minute: u32,
}

/// Alert e-mails to the tenant's `alert_emails`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct AlertsConfig {
    /// A feed import failing this long (from its first failed run) is alerted, in seconds.
    pub import_failing_after_secs: u64,
    /// The same alert about the same object is not repeated within this long, in seconds.
    pub quiet_period_secs: u64,
    /// Alerts raised within this long of each other go out as one e-mail, in seconds.
    pub digest_window_secs: u64,
}

/// Manual update checklists (`/api/v1/checklist-items`): due times and reminders.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ChecklistsConfig {
    /// An item is due this long after the change that asked for it, in seconds.
    pub due_after_secs: u64,
    /// When its first night starts within this long, an item is due sooner, in seconds.
    pub urgent_within_secs: u64,
    /// How long after the change such an urgent item is due, in seconds.
    pub urgent_due_secs: u64,
    /// An overdue item is reminded again this long before its first night starts, once per
    /// step, in seconds (largest first: e.g. a day, then two hours).
    #[serde(deserialize_with = "numbers")]
    pub reminder_steps_secs: Vec<u64>,
}
