//! Structured logs through tracing: human-readable by default, JSON with `KALENDS_LOG_FORMAT=json`.
//! Logs go to stderr so that commands can print results (API keys, JSON) on stdout.

use kalends_core::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG`, when set, overrides the configured filter.
pub fn init(format: LogFormat, filter: &str) {
    let filter = std::env::var("RUST_LOG").ok().unwrap_or_else(|| format!("{filter},sqlx=warn"));
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
