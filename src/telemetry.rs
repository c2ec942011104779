//! Structured logs through tracing: human-readable by default, JSON with `KALENDS_LOG_FORMAT=json`.
//! Logs go to stderr so that commands can print results (API keys, JSON) on stdout.

use kalends_core::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG`, when set, overrides the configured filter.
pub fn init(format: LogFormat, filter: &str) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter(filter, std::env::var("RUST_LOG").ok()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Libraries whose logs below a level carry secrets, whatever the filter asks: yup-oauth2, which
/// mints the tokens of a Google Workspace's covered calendars, logs each request to Google's
/// token endpoint (the signed assertion) and each answer (the access token) at `debug`.
const NEVER_BELOW: &str = "yup_oauth2=info";

/// The filter of `configured` (`RUST_LOG` instead when set), sqlx quieter unless `RUST_LOG` says,
/// and never a level at which a library logs a secret. A filter that does not parse is `info`.
fn env_filter(configured: &str, rust_log: Option<String>) -> EnvFilter {
    let asked = rust_log.unwrap_or_else(|| format!("{configured},sqlx=warn"));
    // A later directive for the same target replaces an earlier one.
    EnvFilter::try_new(format!("{asked},{NEVER_BELOW}"))
        .unwrap_or_else(|_| EnvFilter::new(format!("info,{NEVER_BELOW}")))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::env_filter;

    /// What a subscriber with `filter` writes when Google's token library and Kalends each log a
    /// line at `debug`.
    fn logged_at_debug(filter: &str, rust_log: Option<&str>) -> String {
        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<u8>>>);
        impl Write for Lines {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(env_filter(filter, rust_log.map(str::to_owned)))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "yup_oauth2::service_account", "assertion=eyJhbGciOi");
            tracing::debug!(target: "kalends::sync", "a booking was pushed");
        });
        String::from_utf8(lines.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn debug_logs_never_carry_the_assertions_and_tokens_google_s_token_library_logs() {
        for (filter, rust_log) in [
            ("debug", None),
            ("info", Some("debug")),
            ("info", Some("yup_oauth2=trace,debug")),
            ("not a filter[", Some("debug")),
        ] {
            let logged = logged_at_debug(filter, rust_log);
            assert!(logged.contains("a booking was pushed"), "{filter} {rust_log:?}: {logged}");
            assert!(!logged.contains("eyJhbGciOi"), "{filter} {rust_log:?}: {logged}");
        }
    }
}
