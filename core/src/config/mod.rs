//! Configuration: the built-in defaults (`config/default.toml` as built into the binary, the one
//! place a default is written), then `config/default.toml` on disk, then
//! `config/$KALENDS_PROFILE.toml`, then `KALENDS_*` environment variables (nested keys joined with
//! `__`, lists as one comma-separated string).
//!
//! Everything is validated once at start-up; a bad value stops the process with a message that
//! names the key. Secrets are `SecretString`s, so `Debug` output and `config check` never show
//! them.
//!
//! By concern: the section types (`sections`) and the values that are more than a number or a
//! text (`values`); reading the layers (`load`); the start-up checks (`validate`); the redacted
//! view that `config check` prints (`redact`); the secret keys (`secret_key`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

mod load;
mod redact;
mod secret_key;
mod sections;
#[cfg(test)]
mod tests;
mod validate;
mod values;

pub use secret_key::{SecretKey, SecretKeySource, SecretKeys};
pub use sections::{
    AlertsConfig, ChecklistsConfig, DashboardConfig, DatabaseConfig, FeedsConfig, GoogleConfig,
    HistoryConfig, HttpConfig, ImportConfig, JobsConfig, MailConfig, MicrosoftConfig,
    SandboxSettings, SyncConfig, WebhooksConfig, WidgetConfig,
};
pub use values::{LogFormat, ProxyHeader, TrustedProxies};

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
    /// The files or environment could not be read or did not deserialize. (Not a `source`: its
    /// text is this error's, and a chain printed whole would say it twice.)
    #[error("configuration could not be read: {0}")]
    Load(config::ConfigError),
    /// The generated secret key could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl From<config::ConfigError> for ConfigError {
    fn from(error: config::ConfigError) -> Self {
        Self::Load(error)
    }
}

/// A [`ConfigError::Invalid`] for `key` (`section.key`), named by its environment variable.
fn invalid(key: &str, message: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid { key: env_name(key), message: message.to_string() }
}

/// `jobs.concurrency` -> `KALENDS_JOBS__CONCURRENCY`.
pub fn env_name(key: &str) -> String {
    format!("KALENDS_{}", key.replace('.', "__").to_uppercase())
}

/// The whole configuration. Field names are the keys of `config/default.toml`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Config {
    /// The profile (`KALENDS_PROFILE`), e.g. `production`.
    pub profile: Option<String>,
    /// `sqlite://...` (embedded default) or `postgres://...`.
    #[serde(serialize_with = "redact::url")]
    pub database_url: SecretString,
    /// Set: jobs go through Redis. Unset: jobs are stored in the database.
    #[serde(serialize_with = "redact::optional_url")]
    pub redis_url: Option<SecretString>,
    /// HTTP listen address.
    pub listen: String,
    /// The operations listener: when set, every role serves `/metrics` and the detailed `/readyz`
    /// here only (the public listener answers 404 for `/metrics` and a bare `/readyz`); a
    /// `--role worker` process serves nothing else. Unset: a worker serves no HTTP at all.
    pub ops_listen: Option<String>,
    /// Without `ops_listen`, the bearer token `/metrics` on the public listener asks for.
    #[serde(serialize_with = "redact::secret")]
    pub metrics_token: Option<SecretString>,
    /// Base of every URL Kalends hands out.
    pub public_url: String,
    /// The production profile accepts an `http://` `public_url` only with this (a TLS proxy on
    /// the same host).
    pub allow_insecure_public_url: bool,
    /// Reverse proxies whose forwarding header ([`Self::proxy_header`]) names the client (CIDRs,
    /// a list or one comma-separated string); empty: the peer address is the client.
    pub trusted_proxies: TrustedProxies,
    /// The forwarding header the trusted proxies write: the only one read.
    pub proxy_header: ProxyHeader,
    /// 32 random bytes, base64. Unset outside production: generated into `data_dir/secret.key`.
    #[serde(serialize_with = "redact::secret_key")]
    pub secret_key: Option<SecretString>,
    /// Earlier secret keys, comma-separated, still accepted after a rotation: tokens they sealed
    /// open (and are re-sealed with `secret_key`), links and cookies they signed verify, and the
    /// API keeps showing feed URLs they made.
    #[serde(serialize_with = "redact::secret")]
    pub previous_secret_keys: Option<SecretString>,
    /// `smtp://` or `smtps://user:pass@host:port`; unset writes `.eml` files under `data_dir/outbox`.
    #[serde(serialize_with = "redact::optional_url")]
    pub smtp_url: Option<SecretString>,
    /// The sender of every e-mail; only its address is used (the name shown is the tenant's).
    pub mail_from: String,
    /// Where the generated secret key and the mail written as files go (not the database: that
    /// is where `database_url` says).
    #[serde(serialize_with = "redact::path")]
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
    /// HTTP server time and connection limits.
    pub http: HttpConfig,
    /// Provider push notifications and the tenant's outbound webhooks.
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

/// Which database a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseKind {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Config {
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

    /// The configuration as flat `key = value` pairs with every secret redacted, for `config check`.
    pub fn redacted(&self) -> BTreeMap<String, String> {
        redact::flat(self)
    }
}
