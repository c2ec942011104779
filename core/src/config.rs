//! Configuration: built-in defaults, then `config/default.toml`, then `config/$KALENDS_PROFILE.toml`,
//! then `KALENDS_*` environment variables (nested keys joined with `__`).
//!
//! Everything is validated once at start-up; a bad value stops the process with a message that
//! names the key. Secrets are `SecretString`s, so `Debug` output and `config check` never show them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

/// The profile name under which a missing secret key is an error instead of being generated.
pub const PRODUCTION_PROFILE: &str = "production";

/// A configuration problem, always naming the key (as its environment variable) that is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value is present but unusable.
    #[error("{key}: {message}")]
    Invalid {
        /// The environment variable that sets the key, e.g. `KALENDS_LISTEN`.
        key: String,
        /// What is wrong and what would be right.
        message: String,
    },
    /// The files or environment could not be read or did not deserialize.
    #[error("configuration could not be read: {0}")]
    Load(#[from] config::ConfigError),
    /// The generated secret key could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: env_name(key), message: message.into() }
}

/// `jobs.concurrency` -> `KALENDS_JOBS__CONCURRENCY`.
pub fn env_name(key: &str) -> String {
    format!("KALENDS_{}", key.replace('.', "__").to_uppercase())
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The whole configuration. Field names are the keys of `config/default.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The profile (`KALENDS_PROFILE`), e.g. `production`.
    pub profile: Option<String>,
    /// `sqlite://...` (embedded default) or `postgres://...`.
    pub database_url: SecretString,
    /// Set: jobs go through Redis. Unset: jobs are stored in the database.
    pub redis_url: Option<SecretString>,
    /// HTTP listen address.
    pub listen: String,
    /// The operations listener: when set, every role serves `/metrics` and the detailed `/readyz`
    /// here only (the public listener answers 404 for `/metrics` and a bare `/readyz`); a
    /// `--role worker` process serves nothing else. Unset: a worker serves no HTTP at all.
    pub ops_listen: Option<String>,
    /// Without `ops_listen`, the bearer token `/metrics` on the public listener asks for.
    pub metrics_token: Option<SecretString>,
    /// Base of every URL Kalends hands out.
    pub public_url: String,
    /// The production profile accepts an `http://` `public_url` only with this (a TLS proxy on
    /// the same host).
    pub allow_insecure_public_url: bool,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` headers name the client (CIDRs, a
    /// list or one comma-separated string); empty: the peer address is the client.
    pub trusted_proxies: TrustedProxies,
    /// 32 random bytes, base64. Unset outside production: generated into `data_dir/secret.key`.
    pub secret_key: Option<SecretString>,
    /// Earlier secret keys, comma-separated, still accepted after a rotation: tokens they sealed
    /// open (and are re-sealed with `secret_key`), links and cookies they signed verify, and the
    /// API keeps showing feed URLs they made.
    pub previous_secret_keys: Option<SecretString>,
    /// `smtp://` or `smtps://user:pass@host:port`; unset writes `.eml` files under `data_dir/outbox`.
    pub smtp_url: Option<SecretString>,
    /// Sender of invites and reminders.
    pub mail_from: String,
    /// Where the embedded default keeps its database, secret key and mail.
    pub data_dir: PathBuf,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// A tracing filter such as `info` or `kalends=debug,sqlx=warn`.
    pub log: String,
    /// On first start with an empty embedded database, create a "Demo" tenant and print its key.
    pub demo_tenant: bool,
    /// Database pool settings.
    pub database: DatabaseConfig,
    /// Job queue and worker settings.
    pub jobs: JobsConfig,
    /// Google OAuth client and endpoints.
    pub google: GoogleConfig,
    /// Microsoft identity platform app and endpoints.
    pub microsoft: MicrosoftConfig,
    /// iCal feed import settings.
    pub import: ImportConfig,
    /// iCal feed export settings.
    pub feeds: FeedsConfig,
    /// Customer e-mail (invites and reminders).
    pub mail: MailConfig,
    /// Two-way sync with connected calendars.
    pub sync: SyncConfig,
    /// How much history (import runs, sync attempts, failed jobs) is kept.
    pub history: HistoryConfig,
    /// The built-in provider sandbox (a development tool).
    pub sandbox: SandboxSettings,
    /// HTTP server time limits.
    pub http: HttpConfig,
    /// Provider push notifications.
    pub webhooks: WebhooksConfig,
    /// The tenant console (`/dashboard`).
    pub dashboard: DashboardConfig,
    /// The public availability calendars (`/availability/{token}`).
    pub widget: WidgetConfig,
    /// Alert e-mails to the tenant.
    pub alerts: AlertsConfig,
    /// Manual update checklists: when items are due, when reminders repeat.
    pub checklists: ChecklistsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            profile: None,
            database_url: SecretString::from("sqlite://data/kalends.db"),
            redis_url: None,
            listen: "127.0.0.1:8080".into(),
            ops_listen: None,
            metrics_token: None,
            public_url: "http://127.0.0.1:8080".into(),
            allow_insecure_public_url: false,
            trusted_proxies: TrustedProxies::default(),
            secret_key: None,
            previous_secret_keys: None,
            smtp_url: None,
            mail_from: "Kalends <kalends@localhost>".into(),
            data_dir: PathBuf::from("data"),
            log_format: LogFormat::Text,
            log: "info".into(),
            demo_tenant: true,
            database: DatabaseConfig::default(),
            jobs: JobsConfig::default(),
            google: GoogleConfig::default(),
            microsoft: MicrosoftConfig::default(),
            import: ImportConfig::default(),
            feeds: FeedsConfig::default(),
            mail: MailConfig::default(),
            sync: SyncConfig::default(),
            history: HistoryConfig::default(),
            sandbox: SandboxSettings::default(),
            http: HttpConfig::default(),
            webhooks: WebhooksConfig::default(),
            dashboard: DashboardConfig::default(),
            widget: WidgetConfig::default(),
            alerts: AlertsConfig::default(),
            checklists: ChecklistsConfig::default(),
        }
    }
}

/// The public availability calendars that businesses embed in their own websites.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
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

impl Default for WidgetConfig {
    fn default() -> Self {
        // Any site may frame a calendar: it is built to be embedded, shows only free and busy
        // days, and has nothing to click but the month links (no form, no cookie, no session),
        // so a hostile frame cannot make a visitor do anything.
        Self { frame_ancestors: "*".into(), cache_max_age_secs: 60, rate_limit_per_minute: 120 }
    }
}

impl WidgetConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        check_frame_ancestors(&self.frame_ancestors)
            .map_err(|message| invalid("widget.frame_ancestors", message))?;
        if self.rate_limit_per_minute == 0 {
            return Err(invalid("widget.rate_limit_per_minute", "must be at least 1"));
        }
        if self.cache_max_age_secs > 86_400 {
            return Err(invalid("widget.cache_max_age_secs", "must be at most 86400 (a day)"));
        }
        Ok(())
    }
}

/// Checks a CSP `frame-ancestors` source list: `'none'` alone, or sources among `'self'`, `*`,
/// schemes (`https:`) and hosts (`https://www.example.com`, `*.example.com:8443`, with a path).
fn check_frame_ancestors(list: &str) -> Result<(), String> {
    let sources: Vec<&str> = list.split_ascii_whitespace().collect();
    if sources.is_empty() {
        return Err("must name at least one source, or 'none'".into());
    }
    if sources.contains(&"'none'") && sources.len() > 1 {
        return Err("'none' must stand alone".into());
    }
    match sources.iter().find(|s| !is_ancestor_source(s)) {
        Some(bad) => Err(format!(
            "{bad:?} is not a frame-ancestors source: use 'self', 'none', *, a scheme such as \
             https: or a host such as https://www.example.com"
        )),
        None => Ok(()),
    }
}

fn is_ancestor_source(source: &str) -> bool {
    if matches!(source, "'self'" | "'none'" | "*") {
        return true;
    }
    let is_scheme = |s: &str| {
        s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    };
    if let Some(scheme) = source.strip_suffix(':') {
        return is_scheme(scheme);
    }
    let rest = match source.split_once("://") {
        Some((scheme, rest)) if is_scheme(scheme) => rest,
        Some(_) => return false,
        None => source,
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = authority.rsplit_once(':').map_or((authority, None), |(h, p)| (h, Some(p)));
    let host = host.strip_prefix("*.").unwrap_or(host);
    let host_ok = host == "*"
        || (!host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            }));
    let port_ok =
        port.is_none_or(|p| p == "*" || (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())));
    let path_ok = path.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'\''));
    host_ok && port_ok && path_ok
}

/// Provider push notifications (`/webhooks/google`, `/webhooks/microsoft`).
/// Provider push notifications (`/webhooks/google`, `/webhooks/microsoft`) and the tenant's
/// outbound webhooks (`/api/v1/webhook-endpoints`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct WebhooksConfig {
    /// Requests a minute one client address may make (bursts of as many); above it: 429.
    pub rate_limit_per_minute: u32,
    /// Let outbound webhook endpoints be loopback, private or link-local addresses.
    pub allow_private_networks: bool,
    /// The loopback or private IPs, networks or `ip:port` that webhook endpoints may be
    /// although `allow_private_networks` is off.
    pub allowed_addresses: crate::addresses::AllowedAddresses,
    /// Time limit of one delivery attempt, in seconds.
    pub delivery_timeout_secs: u64,
    /// When each attempt of a delivery is made, in seconds after the previous one failed (the
    /// first after the event was recorded); a delivery fails after the last.
    pub retry_schedule_secs: Vec<u64>,
    /// An endpoint whose deliveries have failed for this long without a success is disabled.
    pub disable_after_failing_secs: u64,
    /// How long a rotated secret keeps signing beside the new one, in seconds.
    pub rotated_secret_valid_secs: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            rate_limit_per_minute: 1200,
            allow_private_networks: false,
            allowed_addresses: crate::addresses::AllowedAddresses::default(),
            delivery_timeout_secs: 15,
            retry_schedule_secs: vec![0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000],
            disable_after_failing_secs: 5 * 86_400,
            rotated_secret_valid_secs: 86_400,
        }
    }
}

/// Alert e-mails to the tenant's `alert_emails`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct AlertsConfig {
    /// A feed import failing this long (from its first failed run) is alerted, in seconds.
    pub import_failing_after_secs: u64,
    /// The same alert about the same object is not repeated within this long, in seconds.
    pub quiet_period_secs: u64,
    /// Alerts raised within this long of each other go out as one e-mail, in seconds.
    pub digest_window_secs: u64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            import_failing_after_secs: 1800,
            quiet_period_secs: 6 * 3600,
            digest_window_secs: 60,
        }
    }
}

/// Manual update checklists (`/api/v1/checklist-items`): due times and reminders.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct ChecklistsConfig {
    /// An item is due this long after the change that asked for it, in seconds.
    pub due_after_secs: u64,
    /// When its first night starts within this long, an item is due sooner, in seconds.
    pub urgent_within_secs: u64,
    /// How long after the change such an urgent item is due, in seconds.
    pub urgent_due_secs: u64,
    /// An overdue item is reminded again this long before its first night starts, once per
    /// step, in seconds (largest first: e.g. a day, then two hours).
    pub reminder_steps_secs: Vec<u64>,
}

impl Default for ChecklistsConfig {
    fn default() -> Self {
        Self {
            due_after_secs: 2 * 3600,
            urgent_within_secs: 2 * 86_400,
            urgent_due_secs: 15 * 60,
            reminder_steps_secs: vec![86_400, 7200],
        }
    }
}

/// The tenant console: how long its links and sessions last, and how its live updates look.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct DashboardConfig {
    /// Minutes a dashboard link may wait before it is opened (it works once).
    pub link_minutes: u32,
    /// Hours a console session lasts after its link was opened.
    pub session_hours: u32,
    /// Milliseconds between an open console's own looks for changes no job tells of (a
    /// setting saved, a conflict resolved); changes a job makes or owes are told at once.
    pub live_poll_ms: u64,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        Self { link_minutes: 15, session_hours: 12, live_poll_ms: 2000 }
    }
}

/// The built-in provider sandbox: emulated Google and Microsoft mounted at `/sandbox`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct SandboxSettings {
    /// Mount it. Unset: only in the embedded first run (SQLite, no client id for either
    /// provider, not the production profile).
    pub enabled: Option<bool>,
    /// Bearer token of its control API (`/sandbox/_control/`). Unset: random per process,
    /// printed at start-up.
    pub token: Option<SecretString>,
}

/// HTTP server time and connection limits.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
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

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            request_timeout_secs: 30,
            shutdown_timeout_secs: 10,
            header_read_timeout_secs: 10,
            max_connections: 8192,
            max_connections_per_address: 1024,
        }
    }
}

/// The networks of trusted reverse proxies (`trusted_proxies`), from a list of CIDRs or one
/// comma-separated string (the form an environment variable gives). A bare address is its own
/// network (`/32`, `/128`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<ipnet::IpNet>);

impl TrustedProxies {
    /// Whether `ip` is inside one of the networks.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    fn parse_one(text: &str) -> Result<ipnet::IpNet, String> {
        let text = text.trim();
        text.parse::<ipnet::IpNet>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| format!("{text:?} is not a network like 10.0.0.0/8 or an address"))
    }
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::addresses::comma_separated(deserializer)?
            .iter()
            .filter(|item| !item.trim().is_empty())
            .map(|item| Self::parse_one(item))
            .collect::<Result<_, _>>()
            .map(Self)
            .map_err(serde::de::Error::custom)
    }
}

/// Customer e-mail settings (the transport is `smtp_url`, the sender `mail_from`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
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

impl MailConfig {
    fn mail_from_is_invalid(&self, mail_from: &str) -> bool {
        let address = match (mail_from.rfind('<'), mail_from.rfind('>')) {
            (Some(open), Some(close)) if open < close => &mail_from[open + 1..close],
            _ => mail_from,
        };
        // `localhost` is a fine sender domain for the embedded default, so not `Email`'s rules.
        <email_address::EmailAddress as std::str::FromStr>::from_str(address.trim()).is_err()
    }
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            timeout_secs: 30,
            reminder_grace_minutes: 30,
            stale_claim_secs: 900,
            invite_link_days: 30,
        }
    }
}

/// Database pool settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// Upper bound on open connections per process.
    pub max_connections: u32,
    /// Seconds to wait for a free connection before a request fails.
    pub acquire_timeout_secs: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { max_connections: 16, acquire_timeout_secs: 5 }
    }
}

/// Job queue and worker settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
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

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            queue: "kalends".into(),
            concurrency: 8,
            poll_interval_ms: 250,
            relay_interval_ms: 500,
            retry_base_ms: 1_000,
            retry_max_delay_ms: 3_600_000,
            retry_give_up_after_secs: 86_400,
            shutdown_timeout_secs: 30,
            heartbeat_secs: 10,
        }
    }
}

/// Google OAuth client and endpoints.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct GoogleConfig {
    /// OAuth client id; unset uses the built-in sandbox.
    pub client_id: Option<String>,
    /// OAuth client secret.
    pub client_secret: Option<SecretString>,
    /// Authorization endpoint.
    pub auth_url: String,
    /// Token endpoint.
    pub token_url: String,
    /// Revocation endpoint.
    pub revoke_url: String,
    /// Calendar API base URL (with its trailing slash).
    pub api_base_url: String,
}

impl Default for GoogleConfig {
    fn default() -> Self {
        Self {
            client_id: None,
            client_secret: None,
            auth_url: "https://accounts.google.com/o/oauth2/v2/auth".into(),
            token_url: "https://oauth2.googleapis.com/token".into(),
            revoke_url: "https://oauth2.googleapis.com/revoke".into(),
            api_base_url: "https://www.googleapis.com/calendar/v3/".into(),
        }
    }
}

/// Microsoft identity platform app and endpoints.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct MicrosoftConfig {
    /// Application (client) id; unset uses the built-in sandbox.
    pub client_id: Option<String>,
    /// Client secret.
    pub client_secret: Option<SecretString>,
    /// Directory tenant: `common`, `organizations`, `consumers` or a tenant id.
    pub tenant: String,
    /// Identity platform authority.
    pub authority_url: String,
    /// Microsoft Graph base URL.
    pub graph_base_url: String,
}

impl Default for MicrosoftConfig {
    fn default() -> Self {
        Self {
            client_id: None,
            client_secret: None,
            tenant: "common".into(),
            authority_url: "https://login.microsoftonline.com".into(),
            graph_base_url: "https://graph.microsoft.com/v1.0".into(),
        }
    }
}

/// iCal feed import settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct ImportConfig {
    /// Let feed imports and CalDAV servers reach loopback and private addresses.
    pub allow_private_networks: bool,
    /// The loopback or private IPs, networks or `ip:port` that feed imports and CalDAV servers
    /// may reach although `allow_private_networks` is off (an intranet CalDAV server).
    pub allowed_addresses: crate::addresses::AllowedAddresses,
    /// Whole-request time limit of a fetch, in seconds.
    pub timeout_secs: u64,
    /// Largest feed accepted (after decompression), in bytes.
    pub max_bytes: u64,
    /// Redirects followed at most.
    pub max_redirects: u8,
    /// VEVENTs read at most from one feed; the rest are skipped and counted.
    pub max_events: usize,
    /// Failed runs in a row after which an import is `failing` and the tenant is told.
    pub failure_threshold: u32,
    /// How far ahead recurring events are expanded, in days (18 months by default). Single
    /// events are imported however far ahead they are.
    pub horizon_days: u32,
    /// The work reading one feed may cost, in steps (events read, recurrence occurrences
    /// weighted by how far their rule walks the clock); a feed that needs more fails its run.
    pub max_work_steps: u64,
    /// Interval of a new import when the request names none, in minutes.
    pub default_interval_minutes: u32,
    /// How often each worker looks for due imports, in seconds.
    pub scheduler_interval_secs: u64,
}

impl Default for ImportConfig {
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            allowed_addresses: crate::addresses::AllowedAddresses::default(),
            timeout_secs: 30,
            max_bytes: 10 * 1024 * 1024,
            max_redirects: 5,
            max_events: 100_000,
            failure_threshold: 3,
            horizon_days: 548,
            max_work_steps: kalends_ical::DEFAULT_MAX_WORK,
            default_interval_minutes: 30,
            scheduler_interval_secs: 30,
        }
    }
}

/// How much history is kept: import runs, sync attempts and failed jobs would otherwise grow
/// forever. The scheduler prunes them in small batches.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
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

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            max_age_days: 90,
            max_per_item: 100,
            max_job_failures: 10_000,
            prune_interval_secs: 3600,
        }
    }
}

/// Two-way sync with connected calendars.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
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
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            import_interval_minutes: 15,
            google_requests_per_minute_per_account: 600,
            google_requests_per_minute: 10_000,
            microsoft_requests_per_minute_per_account: 1_000,
            microsoft_requests_per_minute: 20_000,
            drift_check_secs: 300,
        }
    }
}

impl SyncConfig {
    /// The interval between two scheduled imports of a connection.
    pub fn import_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.import_interval_minutes) * 60)
    }
}

/// iCal feed export settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
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

impl Default for FeedsConfig {
    fn default() -> Self {
        Self {
            cache_max_age_secs: 300,
            past_days: 90,
            rate_limit_per_minute: 60,
            validator_ttl_ms: 2000,
            body_cache_mib: 64,
            event_cache_mib: 64,
        }
    }
}

/// Which database a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseKind {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Config {
    /// Reads the layered configuration from `dir` (usually `config/`) and the process environment,
    /// then validates it.
    pub fn load(dir: &Path) -> Result<Self, ConfigError> {
        Self::load_with_env(dir, std::env::vars().collect())
    }

    /// Like [`Config::load`], with the environment given explicitly (for tests).
    pub fn load_with_env(dir: &Path, env: BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let profile = env.get("KALENDS_PROFILE").cloned();
        let mut builder = config::Config::builder()
            .add_source(config::File::from(dir.join("default.toml")).required(false));
        if let Some(profile) = &profile {
            builder = builder.add_source(
                config::File::from(dir.join(format!("{profile}.toml"))).required(false),
            );
        }
        let kalends_env: config::Map<String, String> =
            env.into_iter().filter(|(k, _)| k.starts_with("KALENDS_")).collect();
        builder = builder.add_source(
            config::Environment::with_prefix("KALENDS")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .source(Some(kalends_env)),
        );
        let config: Config = builder.build()?.try_deserialize()?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value that can be checked without touching the network.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.database_kind()?;
        self.listen_addr()?;
        if let Some(ops) = &self.ops_listen {
            ops.parse::<SocketAddr>().map_err(|_| {
                invalid("ops_listen", format!("{ops:?} is not an address like 127.0.0.1:9090"))
            })?;
        }
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            return Err(invalid("public_url", "must start with http:// or https://"));
        }
        self.validate_http()?;
        if let Some(url) = &self.redis_url {
            let url = url.expose_secret();
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(invalid("redis_url", "must start with redis:// or rediss://"));
            }
        }
        if let Some(url) = &self.smtp_url {
            let url = url.expose_secret();
            if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                return Err(invalid("smtp_url", "must start with smtp:// or smtps://"));
            }
        }
        if let Some(key) = &self.secret_key {
            decode_secret_key(key.expose_secret())?;
        }
        self.previous_secret_keys()?;
        self.validate_history()?;
        self.widget.validate()?;
        self.validate_sandbox()?;
        self.validate_jobs()
    }

    /// The sandbox answers anyone who has its token and fakes two providers: in production it
    /// may only listen on loopback, where nobody else reaches it.
    fn validate_sandbox(&self) -> Result<(), ConfigError> {
        if let Some(token) = &self.sandbox.token
            && token.expose_secret().trim().len() < 16
        {
            return Err(invalid("sandbox.token", "must be at least 16 characters"));
        }
        let listen = self.listen_addr()?;
        if self.is_production() && self.sandbox_enabled() && !listen.ip().is_loopback() {
            return Err(invalid(
                "sandbox.enabled",
                format!(
                    "the provider sandbox must not be enabled in the production profile on a non-loopback address ({listen}); set KALENDS_SANDBOX__ENABLED=false"
                ),
            ));
        }
        if !(1..=3600).contains(&self.http.request_timeout_secs) {
            return Err(invalid("http.request_timeout_secs", "must be between 1 and 3600"));
        }
        if !(1..=600).contains(&self.http.shutdown_timeout_secs) {
            return Err(invalid("http.shutdown_timeout_secs", "must be between 1 and 600"));
        }
        if self.webhooks.rate_limit_per_minute == 0 {
            return Err(invalid("webhooks.rate_limit_per_minute", "must be at least 1"));
        }
        if !(1..=10_080).contains(&self.dashboard.link_minutes) {
            return Err(invalid("dashboard.link_minutes", "must be between 1 and 10080 (a week)"));
        }
        if !(100..=600_000).contains(&self.dashboard.live_poll_ms) {
            return Err(invalid(
                "dashboard.live_poll_ms",
                "must be between 100 and 600000 (10 minutes)",
            ));
        }
        if !(1..=720).contains(&self.dashboard.session_hours) {
            return Err(invalid("dashboard.session_hours", "must be between 1 and 720 (30 days)"));
        }
        if !(1..=300).contains(&self.webhooks.delivery_timeout_secs) {
            return Err(invalid("webhooks.delivery_timeout_secs", "must be between 1 and 300"));
        }
        if self.webhooks.retry_schedule_secs.is_empty() {
            return Err(invalid("webhooks.retry_schedule_secs", "must name at least one attempt"));
        }
        Ok(())
    }

    /// The public surface: the connection limits, the metrics token, and in production an
    /// `https://` public URL.
    fn validate_http(&self) -> Result<(), ConfigError> {
        if !(1..=3600).contains(&self.http.header_read_timeout_secs) {
            return Err(invalid("http.header_read_timeout_secs", "must be between 1 and 3600"));
        }
        if self.http.max_connections == 0 {
            return Err(invalid("http.max_connections", "must be at least 1"));
        }
        if self.http.max_connections_per_address == 0 {
            return Err(invalid("http.max_connections_per_address", "must be at least 1"));
        }
        if let Some(token) = &self.metrics_token
            && token.expose_secret().trim().len() < 16
        {
            return Err(invalid("metrics_token", "must be at least 16 characters"));
        }
        if self.is_production()
            && !self.public_url.starts_with("https://")
            && !self.allow_insecure_public_url
        {
            return Err(invalid(
                "public_url",
                "must start with https:// in the production profile (links, feed URLs and cookies travel over it); behind a TLS proxy on the same host set KALENDS_ALLOW_INSECURE_PUBLIC_URL=true",
            ));
        }
        Ok(())
    }

    /// Whether the provider sandbox is mounted: as configured, else only in the embedded first
    /// run (SQLite, neither provider configured, not production).
    pub fn sandbox_enabled(&self) -> bool {
        self.sandbox.enabled.unwrap_or_else(|| {
            !self.is_production()
                && matches!(self.database_kind(), Ok(DatabaseKind::Sqlite))
                && self.google.client_id.is_none()
                && self.microsoft.client_id.is_none()
        })
    }

    fn validate_jobs(&self) -> Result<(), ConfigError> {
        let jobs = &self.jobs;
        if jobs.concurrency == 0 || jobs.concurrency > 1024 {
            return Err(invalid("jobs.concurrency", "must be between 1 and 1024"));
        }
        if jobs.poll_interval_ms == 0 || jobs.poll_interval_ms > 1000 {
            return Err(invalid("jobs.poll_interval_ms", "must be between 1 and 1000"));
        }
        if jobs.relay_interval_ms == 0 || jobs.relay_interval_ms > 1000 {
            return Err(invalid("jobs.relay_interval_ms", "must be between 1 and 1000"));
        }
        if jobs.retry_base_ms == 0 || jobs.retry_base_ms > jobs.retry_max_delay_ms {
            return Err(invalid(
                "jobs.retry_base_ms",
                "must be at least 1 and at most jobs.retry_max_delay_ms",
            ));
        }
        if jobs.queue.is_empty()
            || !jobs.queue.chars().all(|c| c.is_ascii_alphanumeric() || "-_:".contains(c))
        {
            return Err(invalid("jobs.queue", "must be letters, digits, '-', '_' or ':'"));
        }
        if self.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        self.validate_import()
    }

    fn validate_history(&self) -> Result<(), ConfigError> {
        let history = &self.history;
        if !(1..=3650).contains(&history.max_age_days) {
            return Err(invalid("history.max_age_days", "must be between 1 and 3650"));
        }
        if history.max_per_item == 0 {
            return Err(invalid("history.max_per_item", "must be at least 1"));
        }
        if history.max_job_failures == 0 {
            return Err(invalid("history.max_job_failures", "must be at least 1"));
        }
        if !(1..=86_400).contains(&history.prune_interval_secs) {
            return Err(invalid("history.prune_interval_secs", "must be between 1 and 86400"));
        }
        Ok(())
    }

    fn validate_import(&self) -> Result<(), ConfigError> {
        let import = &self.import;
        if import.timeout_secs == 0 || import.timeout_secs > 600 {
            return Err(invalid("import.timeout_secs", "must be between 1 and 600"));
        }
        if import.max_bytes < 1024 {
            return Err(invalid("import.max_bytes", "must be at least 1024"));
        }
        if import.max_redirects > 20 {
            return Err(invalid("import.max_redirects", "must be at most 20"));
        }
        if import.failure_threshold == 0 {
            return Err(invalid("import.failure_threshold", "must be at least 1"));
        }
        if !(30..=3660).contains(&import.horizon_days) {
            return Err(invalid("import.horizon_days", "must be between 30 and 3660"));
        }
        if import.max_work_steps < 100_000 {
            return Err(invalid("import.max_work_steps", "must be at least 100000"));
        }
        if !(5..=1440).contains(&import.default_interval_minutes) {
            return Err(invalid("import.default_interval_minutes", "must be between 5 and 1440"));
        }
        if import.scheduler_interval_secs == 0 || import.scheduler_interval_secs > 300 {
            return Err(invalid("import.scheduler_interval_secs", "must be between 1 and 300"));
        }
        if self.jobs.heartbeat_secs == 0 || self.jobs.heartbeat_secs > 300 {
            return Err(invalid("jobs.heartbeat_secs", "must be from 1 to 300"));
        }
        if self.mail.timeout_secs == 0 {
            return Err(invalid("mail.timeout_secs", "must be at least 1"));
        }
        if !(1..=3650).contains(&self.mail.invite_link_days) {
            return Err(invalid("mail.invite_link_days", "must be between 1 and 3650"));
        }
        if self.mail.stale_claim_secs <= self.mail.timeout_secs {
            return Err(invalid(
                "mail.stale_claim_secs",
                "must be longer than mail.timeout_secs (a send in progress must not be doubled)",
            ));
        }
        if self.mail.mail_from_is_invalid(&self.mail_from) {
            return Err(invalid(
                "mail_from",
                "must be an address such as `Kalends <bookings@example.com>`",
            ));
        }
        if self.feeds.rate_limit_per_minute == 0 {
            return Err(invalid("feeds.rate_limit_per_minute", "must be at least 1"));
        }
        let budgets = [
            (
                "sync.google_requests_per_minute_per_account",
                self.sync.google_requests_per_minute_per_account,
            ),
            ("sync.google_requests_per_minute", self.sync.google_requests_per_minute),
            (
                "sync.microsoft_requests_per_minute_per_account",
                self.sync.microsoft_requests_per_minute_per_account,
            ),
            ("sync.microsoft_requests_per_minute", self.sync.microsoft_requests_per_minute),
        ];
        if let Some((key, _)) = budgets.iter().find(|(_, n)| *n == 0) {
            return Err(invalid(key, "must be at least 1"));
        }
        if !(1..=1440).contains(&self.sync.import_interval_minutes) {
            return Err(invalid("sync.import_interval_minutes", "must be between 1 and 1440"));
        }
        if !(1..=86_400).contains(&self.sync.drift_check_secs) {
            return Err(invalid("sync.drift_check_secs", "must be between 1 and 86400"));
        }
        Ok(())
    }

    /// Whether the database URL names SQLite or PostgreSQL.
    pub fn database_kind(&self) -> Result<DatabaseKind, ConfigError> {
        let url = self.database_url.expose_secret();
        if url.starts_with("sqlite:") {
            Ok(DatabaseKind::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseKind::Postgres)
        } else {
            Err(invalid("database_url", "must start with sqlite:// or postgres://"))
        }
    }

    /// The parsed listen address.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| {
            invalid("listen", format!("{:?} is not an address like 127.0.0.1:8080", self.listen))
        })
    }

    /// Whether this is the production profile, where nothing is generated silently.
    pub fn is_production(&self) -> bool {
        self.profile.as_deref() == Some(PRODUCTION_PROFILE)
    }

    /// `public_url` without a trailing slash, ready to have paths appended.
    pub fn public_base(&self) -> &str {
        self.public_url.trim_end_matches('/')
    }

    /// The configuration as flat `key = value` pairs with every secret redacted, for `config check`.
    pub fn redacted(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        flatten("", &self.redacted_json(), &mut out);
        out
    }

    // Long on purpose: one literal listing every setting, so a new key sits beside its group.
    fn redacted_json(&self) -> Value {
        let secret = |s: &Option<SecretString>| s.as_ref().map(|_| "[REDACTED]");
        json!({
            "profile": self.profile,
            "database_url": redact_url(self.database_url.expose_secret()),
            "redis_url": self.redis_url.as_ref().map(|u| redact_url(u.expose_secret())),
            "listen": self.listen,
            "ops_listen": self.ops_listen,
            "metrics_token": secret(&self.metrics_token),
            "public_url": self.public_url,
            "allow_insecure_public_url": self.allow_insecure_public_url,
            "trusted_proxies": self.trusted_proxies.0.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
            "secret_key": secret(&self.secret_key).unwrap_or("(unset: generated under data_dir)"),
            "previous_secret_keys": secret(&self.previous_secret_keys),
            "smtp_url": self.smtp_url.as_ref().map(|u| redact_url(u.expose_secret())),
            "mail_from": self.mail_from,
            "data_dir": self.data_dir.display().to_string(),
            "log_format": format!("{:?}", self.log_format).to_lowercase(),
            "log": self.log,
            "demo_tenant": self.demo_tenant,
            "database": {
                "max_connections": self.database.max_connections,
                "acquire_timeout_secs": self.database.acquire_timeout_secs,
            },
            "jobs": {
                "queue": self.jobs.queue,
                "concurrency": self.jobs.concurrency,
                "poll_interval_ms": self.jobs.poll_interval_ms,
                "relay_interval_ms": self.jobs.relay_interval_ms,
                "retry_base_ms": self.jobs.retry_base_ms,
                "retry_max_delay_ms": self.jobs.retry_max_delay_ms,
                "retry_give_up_after_secs": self.jobs.retry_give_up_after_secs,
                "shutdown_timeout_secs": self.jobs.shutdown_timeout_secs,
                "heartbeat_secs": self.jobs.heartbeat_secs,
            },
            "google": {
                "client_id": self.google.client_id,
                "client_secret": secret(&self.google.client_secret),
                "auth_url": self.google.auth_url,
                "token_url": self.google.token_url,
                "revoke_url": self.google.revoke_url,
                "api_base_url": self.google.api_base_url,
            },
            "microsoft": {
                "client_id": self.microsoft.client_id,
                "client_secret": secret(&self.microsoft.client_secret),
                "tenant": self.microsoft.tenant,
                "authority_url": self.microsoft.authority_url,
                "graph_base_url": self.microsoft.graph_base_url,
            },
            "import": {
                "allow_private_networks": self.import.allow_private_networks,
                "allowed_addresses": self.import.allowed_addresses,
                "timeout_secs": self.import.timeout_secs,
                "max_bytes": self.import.max_bytes,
                "max_redirects": self.import.max_redirects,
                "max_events": self.import.max_events,
                "failure_threshold": self.import.failure_threshold,
                "horizon_days": self.import.horizon_days,
                "max_work_steps": self.import.max_work_steps,
                "default_interval_minutes": self.import.default_interval_minutes,
                "scheduler_interval_secs": self.import.scheduler_interval_secs,
            },
            "feeds": {
                "cache_max_age_secs": self.feeds.cache_max_age_secs,
                "past_days": self.feeds.past_days,
                "rate_limit_per_minute": self.feeds.rate_limit_per_minute,
                "validator_ttl_ms": self.feeds.validator_ttl_ms,
                "body_cache_mib": self.feeds.body_cache_mib,
                "event_cache_mib": self.feeds.event_cache_mib,
            },
            "mail": {
                "timeout_secs": self.mail.timeout_secs,
                "reminder_grace_minutes": self.mail.reminder_grace_minutes,
                "stale_claim_secs": self.mail.stale_claim_secs,
                "invite_link_days": self.mail.invite_link_days,
            },
            "sandbox": {
                "enabled": self.sandbox.enabled,
                "token": secret(&self.sandbox.token),
            },
            "http": {
                "request_timeout_secs": self.http.request_timeout_secs,
                "shutdown_timeout_secs": self.http.shutdown_timeout_secs,
                "header_read_timeout_secs": self.http.header_read_timeout_secs,
                "max_connections": self.http.max_connections,
                "max_connections_per_address": self.http.max_connections_per_address,
            },
            "alerts": {
                "import_failing_after_secs": self.alerts.import_failing_after_secs,
                "quiet_period_secs": self.alerts.quiet_period_secs,
                "digest_window_secs": self.alerts.digest_window_secs,
            },
            "checklists": {
                "due_after_secs": self.checklists.due_after_secs,
                "urgent_within_secs": self.checklists.urgent_within_secs,
                "urgent_due_secs": self.checklists.urgent_due_secs,
                "reminder_steps_secs": self.checklists.reminder_steps_secs,
            },
            "webhooks": {
                "rate_limit_per_minute": self.webhooks.rate_limit_per_minute,
                "allow_private_networks": self.webhooks.allow_private_networks,
                "allowed_addresses": self.webhooks.allowed_addresses,
                "delivery_timeout_secs": self.webhooks.delivery_timeout_secs,
                "retry_schedule_secs": self.webhooks.retry_schedule_secs,
                "disable_after_failing_secs": self.webhooks.disable_after_failing_secs,
                "rotated_secret_valid_secs": self.webhooks.rotated_secret_valid_secs,
            },
            "widget": {
                "frame_ancestors": self.widget.frame_ancestors,
                "cache_max_age_secs": self.widget.cache_max_age_secs,
                "rate_limit_per_minute": self.widget.rate_limit_per_minute,
            },
            "sync": {
                "import_interval_minutes": self.sync.import_interval_minutes,
                "drift_check_secs": self.sync.drift_check_secs,
                "google_requests_per_minute_per_account": self.sync.google_requests_per_minute_per_account,
                "google_requests_per_minute": self.sync.google_requests_per_minute,
                "microsoft_requests_per_minute_per_account": self.sync.microsoft_requests_per_minute_per_account,
                "microsoft_requests_per_minute": self.sync.microsoft_requests_per_minute,
            },
            "history": {
                "max_age_days": self.history.max_age_days,
                "max_per_item": self.history.max_per_item,
                "max_job_failures": self.history.max_job_failures,
                "prune_interval_secs": self.history.prune_interval_secs,
            },
        })
    }
}

fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        Value::Null => {
            out.insert(prefix.to_owned(), "(unset)".into());
        }
        Value::String(s) => {
            out.insert(prefix.to_owned(), s.clone());
        }
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}

/// Replaces the password of `scheme://user:password@host/...` with `[REDACTED]`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            let masked =
                if userinfo.contains(':') { format!("{user}:[REDACTED]") } else { user.to_owned() };
            format!("{scheme}://{masked}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

/// The 32-byte key that seals tokens and signs links.
pub type SecretKey = SecretBox<[u8; 32]>;

fn decode_secret_key(text: &str) -> Result<SecretKey, ConfigError> {
    decode_key("secret_key", text)
}

fn decode_key(name: &str, text: &str) -> Result<SecretKey, ConfigError> {
    let bytes = BASE64
        .decode(text.trim())
        .map_err(|_| invalid(name, "must be base64 (e.g. `openssl rand -base64 32`)"))?;
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| invalid(name, format!("must decode to 32 bytes, not {}", b.len())))?;
    Ok(SecretBox::new(Box::new(key)))
}

/// The current secret key, which seals and signs, and the previous ones, which still open and
/// verify what they sealed and signed. Derefs to the current key.
#[derive(Debug)]
pub struct SecretKeys {
    current: SecretKey,
    previous: Vec<SecretKey>,
}

impl SecretKeys {
    /// The current key and the previous ones, newest first.
    pub fn new(current: SecretKey, previous: Vec<SecretKey>) -> Self {
        Self { current, previous }
    }

    /// The key that seals and signs.
    pub fn current(&self) -> &SecretKey {
        &self.current
    }

    /// The previous keys.
    pub fn previous(&self) -> &[SecretKey] {
        &self.previous
    }

    /// Every accepted key, the current one first.
    pub fn all(&self) -> impl Iterator<Item = &SecretKey> {
        std::iter::once(&self.current).chain(&self.previous)
    }
}

impl std::ops::Deref for SecretKeys {
    type Target = SecretKey;

    fn deref(&self) -> &SecretKey {
        &self.current
    }
}

/// How the secret key was obtained, so the caller can warn once.
#[derive(Debug, PartialEq, Eq)]
pub enum SecretKeySource {
    /// From `KALENDS_SECRET_KEY` or a config file.
    Configured,
    /// Read from the file generated on an earlier start.
    File(PathBuf),
    /// Generated just now into this file.
    Generated(PathBuf),
}

impl Config {
    /// The keys of `previous_secret_keys`, in the order given (empty entries are skipped).
    pub fn previous_secret_keys(&self) -> Result<Vec<SecretKey>, ConfigError> {
        let Some(list) = &self.previous_secret_keys else { return Ok(Vec::new()) };
        list.expose_secret()
            .split(',')
            .filter(|k| !k.trim().is_empty())
            .map(|k| decode_key("previous_secret_keys", k))
            .collect()
    }

    /// The current secret key (see [`Config::secret_key`]) with the previous ones.
    pub fn secret_keys(&self) -> Result<(SecretKeys, SecretKeySource), ConfigError> {
        let (current, source) = self.secret_key()?;
        Ok((SecretKeys::new(current, self.previous_secret_keys()?), source))
    }

    /// The configured secret key; outside production a missing one is generated once into
    /// `data_dir/secret.key` (mode 0600) and reused on later starts.
    pub fn secret_key(&self) -> Result<(SecretKey, SecretKeySource), ConfigError> {
        if let Some(key) = &self.secret_key {
            return Ok((decode_secret_key(key.expose_secret())?, SecretKeySource::Configured));
        }
        if self.is_production() {
            return Err(invalid(
                "secret_key",
                "is required in the production profile (32 random bytes, base64: `openssl rand -base64 32`)",
            ));
        }
        let path = self.data_dir.join("secret.key");
        let io = |source| ConfigError::Io { path: path.clone(), source };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let key = decode_secret_key(&text).map_err(|_| ConfigError::Invalid {
                    key: path.display().to_string(),
                    message: "is not 32 bytes of base64; delete it to generate a new one".into(),
                })?;
                Ok((key, SecretKeySource::File(path)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&self.data_dir).map_err(io)?;
                let mut bytes = [0u8; 32];
                rand::fill(&mut bytes);
                if publish_private_file(&path, BASE64.encode(bytes).as_bytes()).map_err(io)? {
                    Ok((SecretBox::new(Box::new(bytes)), SecretKeySource::Generated(path)))
                } else {
                    // Another process (an API and a worker starting together) generated it first.
                    self.secret_key()
                }
            }
            Err(e) => Err(io(e)),
        }
    }
}

/// Writes `contents` to `path` (mode 0600) unless the file exists; returns whether it wrote it.
/// The file appears complete or not at all: it is written under a temporary name, then linked.
fn publish_private_file(path: &Path, contents: &[u8]) -> std::io::Result<bool> {
    use std::io::Write as _;
    let tmp =
        path.with_extension(format!("tmp-{}-{:016x}", std::process::id(), rand::random::<u64>()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    let linked = std::fs::hard_link(&tmp, path);
    std::fs::remove_file(&tmp)?;
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn environment_overrides_defaults_including_nested_keys() {
        let config = Config::load_with_env(
            Path::new("/nonexistent"),
            env(&[("KALENDS_LISTEN", "0.0.0.0:9000"), ("KALENDS_JOBS__CONCURRENCY", "3")]),
        )
        .unwrap();
        assert_eq!(config.listen, "0.0.0.0:9000");
        assert_eq!(config.jobs.concurrency, 3);
    }

    #[test]
    fn allowed_addresses_come_from_the_environment_comma_separated_and_from_the_files() {
        let config = Config::load_with_env(
            Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../config")),
            env(&[
                ("KALENDS_IMPORT__ALLOWED_ADDRESSES", "127.0.0.1:5232,10.1.0.0/16"),
                ("KALENDS_WEBHOOKS__ALLOWED_ADDRESSES", "192.168.7.7"),
            ]),
        )
        .unwrap();
        let at = |text: &str| text.parse::<SocketAddr>().unwrap();
        assert!(config.import.allowed_addresses.allows(at("127.0.0.1:5232")));
        assert!(config.import.allowed_addresses.allows(at("10.1.9.9:443")));
        assert!(!config.import.allowed_addresses.allows(at("127.0.0.1:8080")));
        assert!(config.webhooks.allowed_addresses.allows(at("192.168.7.7:80")));
        let error = Config::load_with_env(
            Path::new("/nonexistent"),
            env(&[("KALENDS_IMPORT__ALLOWED_ADDRESSES", "localhost:5232")]),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("localhost:5232"), "{error}");
    }

    #[test]
    fn the_calendar_import_interval_is_one_minute_to_one_day() {
        let load = |minutes: &str| {
            Config::load_with_env(
                Path::new("/nonexistent"),
                env(&[("KALENDS_SYNC__IMPORT_INTERVAL_MINUTES", minutes)]),
            )
        };
        assert_eq!(load("15").unwrap().sync.import_interval().as_secs(), 900);
        assert!(
            load("0")
                .unwrap_err()
                .to_string()
                .starts_with("KALENDS_SYNC__IMPORT_INTERVAL_MINUTES:")
        );
        assert!(load("1441").is_err());
    }

    #[test]
    fn frame_ancestors_take_a_csp_source_list_and_refuse_anything_that_would_break_the_header() {
        let load = |value: &str| {
            Config::load_with_env(
                Path::new("/nonexistent"),
                env(&[("KALENDS_WIDGET__FRAME_ANCESTORS", value)]),
            )
        };
        assert_eq!(Config::default().widget.frame_ancestors, "*");
        for good in [
            "'self'",
            "'none'",
            "https://www.example.com",
            "'self' https://www.example.com https://*.example.org:8443/bookings/",
            "https: http://localhost:*",
        ] {
            assert_eq!(load(good).unwrap().widget.frame_ancestors, good);
        }
        for bad in [
            "",
            "'none' https://a.example",
            "https://a.example; script-src *",
            "https://a.example,https://b.example",
            "'unsafe-inline'",
            "https://exa mple.com:x",
            "https://bad_host.example",
        ] {
            let err = load(bad).unwrap_err().to_string();
            assert!(err.starts_with("KALENDS_WIDGET__FRAME_ANCESTORS:"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_bad_value_names_its_environment_variable() {
        let err =
            Config::load_with_env(Path::new("/nonexistent"), env(&[("KALENDS_LISTEN", "nowhere")]))
                .unwrap_err()
                .to_string();
        assert!(err.starts_with("KALENDS_LISTEN:"), "{err}");
        let err = Config::load_with_env(
            Path::new("/nonexistent"),
            env(&[("KALENDS_DATABASE_URL", "mysql://x")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("KALENDS_DATABASE_URL:"), "{err}");
    }

    #[test]
    fn redacted_view_hides_every_secret() {
        let config = Config::load_with_env(
            Path::new("/nonexistent"),
            env(&[
                ("KALENDS_DATABASE_URL", "postgres://kal:hunter2@db/kalends"),
                ("KALENDS_SECRET_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
                ("KALENDS_GOOGLE__CLIENT_SECRET", "goog-secret"),
                ("KALENDS_METRICS_TOKEN", "scrape-secret-0123456789"),
            ]),
        )
        .unwrap();
        let shown = format!("{:?} {:?}", config.redacted(), config);
        assert!(!shown.contains("hunter2") && !shown.contains("goog-secret"), "{shown}");
        assert!(!shown.contains("scrape-secret"), "{shown}");
        assert_eq!(config.redacted()["metrics_token"], "[REDACTED]");
        assert!(!shown.contains("AAAAAAAA"), "{shown}");
        assert_eq!(config.redacted()["database_url"], "postgres://kal:[REDACTED]@db/kalends");
    }

    #[test]
    fn previous_secret_keys_are_a_comma_separated_list_checked_at_start_up() {
        let a = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
        let b = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
        let list = format!("{a}, {b}");
        let config = Config::load_with_env(
            Path::new("/nonexistent"),
            env(&[("KALENDS_SECRET_KEY", a), ("KALENDS_PREVIOUS_SECRET_KEYS", &list)]),
        )
        .unwrap();
        let (keys, _) = config.secret_keys().unwrap();
        assert_eq!(keys.previous().len(), 2);
        assert_eq!(keys.previous()[1].expose_secret(), &[2u8; 32]);
        assert!(!format!("{:?}", config.redacted()).contains("AgICAgIC"));
        let err = Config::load_with_env(
            Path::new("/nonexistent"),
            env(&[("KALENDS_PREVIOUS_SECRET_KEYS", &format!("{a},short"))]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("KALENDS_PREVIOUS_SECRET_KEYS"), "{err}");
    }

    #[test]
    fn the_sandbox_is_on_by_default_only_in_the_embedded_first_run() {
        let load = |pairs: &[(&str, &str)]| {
            Config::load_with_env(Path::new("/nonexistent"), env(pairs)).unwrap().sandbox_enabled()
        };
        assert!(load(&[]));
        assert!(!load(&[("KALENDS_DATABASE_URL", "postgres://db/kalends")]));
        assert!(!load(&[("KALENDS_GOOGLE__CLIENT_ID", "real.apps.googleusercontent.com")]));
        assert!(!load(&[
            ("KALENDS_PROFILE", "production"),
            ("KALENDS_PUBLIC_URL", "https://kalends.example")
        ]));
        assert!(!load(&[("KALENDS_SANDBOX__ENABLED", "false")]));
        assert!(load(&[
            ("KALENDS_DATABASE_URL", "postgres://db/kalends"),
            ("KALENDS_SANDBOX__ENABLED", "true")
        ]));
    }

    #[test]
    fn production_refuses_the_sandbox_on_a_non_loopback_address() {
        let load = |listen: &str| {
            Config::load_with_env(
                Path::new("/nonexistent"),
                env(&[
                    ("KALENDS_PROFILE", "production"),
                    ("KALENDS_PUBLIC_URL", "https://kalends.example"),
                    ("KALENDS_SANDBOX__ENABLED", "true"),
                    ("KALENDS_LISTEN", listen),
                ]),
            )
        };
        let err = load("0.0.0.0:8080").unwrap_err().to_string();
        assert!(err.starts_with("KALENDS_SANDBOX__ENABLED:"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
        assert!(load("127.0.0.1:8080").unwrap().sandbox_enabled());
        assert!(load("[::1]:8080").is_ok());
    }

    #[test]
    fn production_refuses_an_http_public_url_unless_allowed() {
        let load = |pairs: &[(&str, &str)]| {
            let mut all = vec![("KALENDS_PROFILE", "production")];
            all.extend_from_slice(pairs);
            Config::load_with_env(Path::new("/nonexistent"), env(&all))
        };
        let err = load(&[("KALENDS_PUBLIC_URL", "http://kalends.example")]).unwrap_err();
        let err = err.to_string();
        assert!(err.starts_with("KALENDS_PUBLIC_URL:"), "{err}");
        assert!(err.contains("KALENDS_ALLOW_INSECURE_PUBLIC_URL=true"), "says how: {err}");
        assert!(!err.contains('\n'), "one line: {err}");
        assert!(load(&[("KALENDS_PUBLIC_URL", "https://kalends.example")]).is_ok());
        assert!(
            load(&[
                ("KALENDS_PUBLIC_URL", "http://kalends.example"),
                ("KALENDS_ALLOW_INSECURE_PUBLIC_URL", "true"),
            ])
            .is_ok()
        );
        let outside = Config::load_with_env(
            Path::new("/nonexistent"),
            env(&[("KALENDS_PUBLIC_URL", "http://kalends.example")]),
        );
        assert!(outside.is_ok(), "outside production http:// stays allowed");
    }

    #[test]
    fn connection_limits_and_the_metrics_token_are_checked_at_start_up() {
        let load = |key: &str, value: &str| {
            Config::load_with_env(Path::new("/nonexistent"), env(&[(key, value)]))
        };
        for (key, value) in [
            ("KALENDS_HTTP__HEADER_READ_TIMEOUT_SECS", "0"),
            ("KALENDS_HTTP__MAX_CONNECTIONS", "0"),
            ("KALENDS_HTTP__MAX_CONNECTIONS_PER_ADDRESS", "0"),
            ("KALENDS_METRICS_TOKEN", "short"),
        ] {
            let err = load(key, value).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{key}:")), "{err}");
        }
        let config = load("KALENDS_HTTP__MAX_CONNECTIONS_PER_ADDRESS", "20").unwrap();
        assert_eq!(config.http.max_connections_per_address, 20);
        assert_eq!(config.http.header_read_timeout_secs, 10);
    }

    #[test]
    fn trusted_proxies_come_as_a_comma_separated_variable_or_a_list() {
        let config = Config::load_with_env(
            Path::new("/nonexistent"),
            env(&[("KALENDS_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1,2001:db8::/32")]),
        )
        .unwrap();
        let shown: Vec<String> = config.trusted_proxies.0.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["10.0.0.0/8", "127.0.0.1/32", "2001:db8::/32"]);
        assert!(config.trusted_proxies.contains("10.1.2.3".parse().unwrap()));
        assert!(config.trusted_proxies.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!config.trusted_proxies.contains("192.0.2.1".parse().unwrap()));
        let listed: TrustedProxies =
            serde_json::from_value(json!(["192.168.0.0/16", "::1"])).unwrap();
        assert_eq!(listed.0.len(), 2);
        let err = Config::load_with_env(
            Path::new("/nonexistent"),
            env(&[("KALENDS_TRUSTED_PROXIES", "10.0.0.0/8,proxy.local")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("proxy.local"), "{err}");
    }

    #[test]
    fn production_profile_refuses_to_generate_a_secret_key() {
        let config = Config { profile: Some("production".into()), ..Config::default() };
        let err = config.secret_key().unwrap_err().to_string();
        assert!(err.starts_with("KALENDS_SECRET_KEY:"), "{err}");
    }

    #[test]
    fn embedded_default_generates_the_secret_key_once_with_private_mode() {
        let dir = std::env::temp_dir().join(format!("kalends-key-{}", uuid::Uuid::now_v7()));
        let config = Config { data_dir: dir.clone(), ..Config::default() };
        let (first, source) = config.secret_key().unwrap();
        assert!(matches!(source, SecretKeySource::Generated(_)));
        let (second, source) = config.secret_key().unwrap();
        assert!(matches!(source, SecretKeySource::File(_)));
        assert_eq!(first.expose_secret(), second.expose_secret());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.join("secret.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn processes_starting_together_agree_on_one_generated_key() {
        let dir = std::env::temp_dir().join(format!("kalends-key-{}", uuid::Uuid::now_v7()));
        let config = Config { data_dir: dir.clone(), ..Config::default() };
        let keys: Vec<[u8; 32]> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| *config.secret_key().unwrap().0.expose_secret()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(keys.windows(2).all(|w| w[0] == w[1]));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
