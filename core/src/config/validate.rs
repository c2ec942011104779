//! The start-up checks: every value that can be checked without touching the network. The
//! first wrong value stops start-up, named by its environment variable.

use std::net::SocketAddr;

use secrecy::ExposeSecret;

use super::secret_key::decode_secret_key;
use super::sections::{
    DashboardConfig, DatabaseConfig, FeedsConfig, HistoryConfig, HttpConfig, ImportConfig,
    JobsConfig, MailConfig, SyncConfig, WebhooksConfig, WidgetConfig,
};
use super::{Config, ConfigError, invalid};

/// The query parameters of a PostgreSQL URL that its driver (sqlx) reads.
const POSTGRES_PARAMETERS: [&str; 19] = [
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "options",
    "options[",
];

/// A PostgreSQL URL holds no credential its driver would not read. It ignores a parameter it
/// does not know (libpq's `connect_timeout` or `channel_binding`, which hosted databases' URLs
/// carry, harmlessly), but with a warning in the log that holds its value: one named like a
/// credential (libpq's `sslpassword`) is refused here instead, by its name alone. A URL that
/// does not parse (the driver parses it the same way) is refused saying what usually causes it,
/// never showing it.
fn check_postgres_parameters(url: &str) -> Result<(), ConfigError> {
    let url = url::Url::parse(url).map_err(|e| {
        invalid(
            "database_url",
            format!(
                "does not parse as a URL ({e}); a user name or password holding any of \
                 : / ? # @ [ ] % must have it percent-encoded (@ as %40)"
            ),
        )
    })?;
    for (name, _) in url.query_pairs() {
        let read = POSTGRES_PARAMETERS
            .iter()
            .any(|read| name == *read || (read.ends_with('[') && name.starts_with(read)));
        if !read && crate::redact::names_a_credential(&name) {
            let shown: String = name.chars().filter(|c| !c.is_control()).take(40).collect();
            return Err(invalid(
                "database_url",
                format!(
                    "the parameter {shown:?} is not one the PostgreSQL driver reads: it would be \
                     ignored and its value written to the log; leave it out (the driver reads \
                     password, and sslkey for a client key that is not encrypted)"
                ),
            ));
        }
    }
    Ok(())
}

/// `Ok` when `holds`, else `key` is invalid with `message`.
fn require(holds: bool, key: &str, message: &str) -> Result<(), ConfigError> {
    if holds { Ok(()) } else { Err(invalid(key, message)) }
}

impl Config {
    /// Checks every value that can be checked without touching the network.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_listeners()?;
        self.validate_servers()?;
        self.http.validate()?;
        self.history.validate()?;
        self.widget.validate()?;
        self.validate_sandbox()?;
        self.webhooks.validate()?;
        self.dashboard.validate()?;
        self.jobs.validate()?;
        self.database.validate()?;
        self.import.validate()?;
        self.mail.validate(&self.mail_from)?;
        self.feeds.validate()?;
        self.sync.validate()
    }

    /// The public surface: the addresses, the metrics token, and in production an `https://`
    /// public URL.
    fn validate_listeners(&self) -> Result<(), ConfigError> {
        self.database_kind()?;
        self.listen_addr()?;
        if let Some(ops) = &self.ops_listen {
            ops.parse::<SocketAddr>().map_err(|_| {
                invalid("ops_listen", format!("{ops:?} is not an address like 127.0.0.1:9090"))
            })?;
        }
        let url = &self.public_url;
        let http = url.starts_with("http://") || url.starts_with("https://");
        require(http, "public_url", "must start with http:// or https://")?;
        if let Some(token) = &self.metrics_token {
            let long = token.expose_secret().trim().len() >= 16;
            require(long, "metrics_token", "must be at least 16 characters")?;
        }
        let tls = url.starts_with("https://") || self.allow_insecure_public_url;
        require(
            tls || !self.is_production(),
            "public_url",
            "must start with https:// in the production profile (links, feed URLs and cookies travel over it); behind a TLS proxy on the same host set KALENDS_ALLOW_INSECURE_PUBLIC_URL=true",
        )
    }

    /// The servers Kalends talks to, and the keys it seals and signs with.
    fn validate_servers(&self) -> Result<(), ConfigError> {
        let scheme = |url: &Option<secrecy::SecretString>, schemes: [&str; 2]| {
            url.as_ref().is_none_or(|u| schemes.iter().any(|s| u.expose_secret().starts_with(s)))
        };
        if self.database_kind()? == super::DatabaseKind::Postgres {
            check_postgres_parameters(self.database_url.expose_secret())?;
        }
        let redis = scheme(&self.redis_url, ["redis://", "rediss://"]);
        require(redis, "redis_url", "must start with redis:// or rediss://")?;
        let smtp = scheme(&self.smtp_url, ["smtp://", "smtps://"]);
        require(smtp, "smtp_url", "must start with smtp:// or smtps://")?;
        if let Some(key) = &self.secret_key {
            decode_secret_key(key.expose_secret())?;
        }
        self.previous_secret_keys().map(drop)
    }

    /// The sandbox answers anyone who has its token and fakes two providers: in production it
    /// may only listen on loopback, where nobody else reaches it.
    fn validate_sandbox(&self) -> Result<(), ConfigError> {
        if let Some(token) = &self.sandbox.token {
            let long = token.expose_secret().trim().len() >= 16;
            require(long, "sandbox.token", "must be at least 16 characters")?;
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
        Ok(())
    }
}

impl HttpConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let header = (1..=3600).contains(&self.header_read_timeout_secs);
        require(header, "http.header_read_timeout_secs", "must be between 1 and 3600")?;
        require(self.max_connections > 0, "http.max_connections", "must be at least 1")?;
        let per_address = self.max_connections_per_address > 0;
        require(per_address, "http.max_connections_per_address", "must be at least 1")?;
        let request = (1..=3600).contains(&self.request_timeout_secs);
        require(request, "http.request_timeout_secs", "must be between 1 and 3600")?;
        let shutdown = (1..=600).contains(&self.shutdown_timeout_secs);
        require(shutdown, "http.shutdown_timeout_secs", "must be between 1 and 600")
    }
}

impl HistoryConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let age = (1..=3650).contains(&self.max_age_days);
        require(age, "history.max_age_days", "must be between 1 and 3650")?;
        require(self.max_per_item > 0, "history.max_per_item", "must be at least 1")?;
        require(self.max_job_failures > 0, "history.max_job_failures", "must be at least 1")?;
        let prune = (1..=86_400).contains(&self.prune_interval_secs);
        require(prune, "history.prune_interval_secs", "must be between 1 and 86400")
    }
}

impl WebhooksConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let rate = self.rate_limit_per_minute > 0;
        require(rate, "webhooks.rate_limit_per_minute", "must be at least 1")?;
        let timeout = (1..=300).contains(&self.delivery_timeout_secs);
        require(timeout, "webhooks.delivery_timeout_secs", "must be between 1 and 300")?;
        let attempts = !self.retry_schedule_secs.is_empty();
        require(attempts, "webhooks.retry_schedule_secs", "must name at least one attempt")
    }
}

impl DashboardConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let link = (1..=10_080).contains(&self.link_minutes);
        require(link, "dashboard.link_minutes", "must be between 1 and 10080 (a week)")?;
        require(
            (100..=600_000).contains(&self.live_poll_ms),
            "dashboard.live_poll_ms",
            "must be between 100 and 600000 (10 minutes)",
        )?;
        let session = (1..=720).contains(&self.session_hours);
        require(session, "dashboard.session_hours", "must be between 1 and 720 (30 days)")
    }
}

impl JobsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let concurrency = (1..=1024).contains(&self.concurrency);
        require(concurrency, "jobs.concurrency", "must be between 1 and 1024")?;
        let poll = (1..=1000).contains(&self.poll_interval_ms);
        require(poll, "jobs.poll_interval_ms", "must be between 1 and 1000")?;
        let relay = (1..=1000).contains(&self.relay_interval_ms);
        require(relay, "jobs.relay_interval_ms", "must be between 1 and 1000")?;
        require(
            (1..=self.retry_max_delay_ms).contains(&self.retry_base_ms),
            "jobs.retry_base_ms",
            "must be at least 1 and at most jobs.retry_max_delay_ms",
        )?;
        let queue = !self.queue.is_empty()
            && self.queue.chars().all(|c| c.is_ascii_alphanumeric() || "-_:".contains(c));
        require(queue, "jobs.queue", "must be letters, digits, '-', '_' or ':'")?;
        let heartbeat = (1..=300).contains(&self.heartbeat_secs);
        require(heartbeat, "jobs.heartbeat_secs", "must be from 1 to 300")
    }
}

impl DatabaseConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        require(self.max_connections > 0, "database.max_connections", "must be at least 1")
    }
}

impl ImportConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let timeout = (1..=600).contains(&self.timeout_secs);
        require(timeout, "import.timeout_secs", "must be between 1 and 600")?;
        require(self.max_bytes >= 1024, "import.max_bytes", "must be at least 1024")?;
        require(self.max_redirects <= 20, "import.max_redirects", "must be at most 20")?;
        let threshold = self.failure_threshold > 0;
        require(threshold, "import.failure_threshold", "must be at least 1")?;
        let horizon = (30..=3660).contains(&self.horizon_days);
        require(horizon, "import.horizon_days", "must be between 30 and 3660")?;
        let work = self.max_work_steps >= 100_000;
        require(work, "import.max_work_steps", "must be at least 100000")?;
        let interval = (5..=1440).contains(&self.default_interval_minutes);
        require(interval, "import.default_interval_minutes", "must be between 5 and 1440")?;
        let scheduler = (1..=300).contains(&self.scheduler_interval_secs);
        require(scheduler, "import.scheduler_interval_secs", "must be between 1 and 300")
    }
}

impl MailConfig {
    /// The mail settings, with the sender `mail_from` (a top-level key).
    fn validate(&self, mail_from: &str) -> Result<(), ConfigError> {
        require(self.timeout_secs > 0, "mail.timeout_secs", "must be at least 1")?;
        let link = (1..=3650).contains(&self.invite_link_days);
        require(link, "mail.invite_link_days", "must be between 1 and 3650")?;
        require(
            self.stale_claim_secs > self.timeout_secs,
            "mail.stale_claim_secs",
            "must be longer than mail.timeout_secs (a send in progress must not be doubled)",
        )?;
        require(
            is_sender_address(mail_from),
            "mail_from",
            "must be an address such as `Kalends <bookings@example.com>`",
        )
    }
}

/// `bookings@example.com` or `Name <bookings@example.com>`.
fn is_sender_address(mail_from: &str) -> bool {
    let address = match (mail_from.rfind('<'), mail_from.rfind('>')) {
        (Some(open), Some(close)) if open < close => &mail_from[open + 1..close],
        _ => mail_from,
    };
    // `localhost` is a fine sender domain for the embedded default, so not `Email`'s rules.
    address.trim().parse::<email_address::EmailAddress>().is_ok()
}

impl FeedsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        require(self.rate_limit_per_minute > 0, "feeds.rate_limit_per_minute", "must be at least 1")
    }
}

impl SyncConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let budgets = [
            (
                "sync.google_requests_per_minute_per_account",
                self.google_requests_per_minute_per_account,
            ),
            ("sync.google_requests_per_minute", self.google_requests_per_minute),
            (
                "sync.microsoft_requests_per_minute_per_account",
                self.microsoft_requests_per_minute_per_account,
            ),
            ("sync.microsoft_requests_per_minute", self.microsoft_requests_per_minute),
        ];
        for (key, budget) in budgets {
            require(budget > 0, key, "must be at least 1")?;
        }
        let import = (1..=1440).contains(&self.import_interval_minutes);
        require(import, "sync.import_interval_minutes", "must be between 1 and 1440")?;
        let drift = (1..=86_400).contains(&self.drift_check_secs);
        require(drift, "sync.drift_check_secs", "must be between 1 and 86400")?;
        let retry = (1..=3600).contains(&self.cleanup_retry_secs);
        require(retry, "sync.cleanup_retry_secs", "must be between 1 and 3600")?;
        // At most the 30 s a token refresh holds its connection for, so that no second refresh
        // starts beside one still waiting for its answer.
        let timeout = (1..=30).contains(&self.provider_timeout_secs);
        require(timeout, "sync.provider_timeout_secs", "must be between 1 and 30")
    }
}

impl WidgetConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        check_frame_ancestors(&self.frame_ancestors)
            .map_err(|error| invalid("widget.frame_ancestors", error))?;
        let rate = self.rate_limit_per_minute > 0;
        require(rate, "widget.rate_limit_per_minute", "must be at least 1")?;
        let age = self.cache_max_age_secs <= 86_400;
        require(age, "widget.cache_max_age_secs", "must be at most 86400 (a day)")
    }
}

/// Why a `frame-ancestors` source list is refused.
#[derive(Debug, thiserror::Error)]
enum FrameAncestorsError {
    /// No source at all: the header would be malformed.
    #[error("must name at least one source, or 'none'")]
    Empty,
    /// `'none'` beside other sources, which browsers read inconsistently.
    #[error("'none' must stand alone")]
    NoneWithOthers,
    /// A word that is no source (it could end the header or start another directive).
    #[error(
        "{0:?} is not a frame-ancestors source: use 'self', 'none', *, a scheme such as https: or a host such as https://www.example.com"
    )]
    NotASource(String),
}

/// Checks a CSP `frame-ancestors` source list: `'none'` alone, or sources among `'self'`, `*`,
/// schemes (`https:`) and hosts (`https://www.example.com`, `*.example.com:8443`, with a path).
fn check_frame_ancestors(list: &str) -> Result<(), FrameAncestorsError> {
    let sources: Vec<&str> = list.split_ascii_whitespace().collect();
    if sources.is_empty() {
        return Err(FrameAncestorsError::Empty);
    }
    if sources.contains(&"'none'") && sources.len() > 1 {
        return Err(FrameAncestorsError::NoneWithOthers);
    }
    match sources.iter().find(|s| !is_ancestor_source(s)) {
        Some(bad) => Err(FrameAncestorsError::NotASource((*bad).to_owned())),
        None => Ok(()),
    }
}

fn is_ancestor_source(source: &str) -> bool {
    if matches!(source, "'self'" | "'none'" | "*") {
        return true;
    }
    if let Some(scheme) = source.strip_suffix(':') {
        return is_scheme(scheme);
    }
    match source.split_once("://") {
        Some((scheme, rest)) => is_scheme(scheme) && is_host_source(rest),
        None => is_host_source(source),
    }
}

fn is_scheme(text: &str) -> bool {
    text.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// `host[:port][/path]` of a host source, the host possibly `*` or `*.example.com`.
fn is_host_source(text: &str) -> bool {
    let (authority, path) = text.split_at(text.find('/').unwrap_or(text.len()));
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
