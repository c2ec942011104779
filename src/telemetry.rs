//! Structured logs through tracing: human-readable by default, JSON with `KALENDS_LOG_FORMAT=json`.
//! Logs go to stderr so that commands can print results (API keys, JSON) on stdout.

use kalends_core::config::LogFormat;
use tracing::{Level, Metadata};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::FilterFn;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Installs the global subscriber. `RUST_LOG`, when set, overrides the configured filter. A
/// filter that does not parse is an error naming where it came from: a typo never quietly
/// logs at another level.
pub fn init(format: LogFormat, filter: &str) -> anyhow::Result<()> {
    let filters = tracing_subscriber::registry()
        .with(env_filter(filter, std::env::var("RUST_LOG").ok())?)
        .with(never_secrets());
    let _ = match format {
        LogFormat::Json => {
            let layer = tracing_subscriber::fmt::layer().json().flatten_event(true);
            filters.with(layer.with_writer(std::io::stderr)).try_init()
        }
        LogFormat::Text => {
            filters.with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr)).try_init()
        }
    };
    Ok(())
}

/// The filter of `configured` (`RUST_LOG` instead when set), sqlx quieter unless `RUST_LOG` says.
fn env_filter(configured: &str, rust_log: Option<String>) -> anyhow::Result<EnvFilter> {
    let (name, asked) = match rust_log {
        Some(rust_log) => ("RUST_LOG", rust_log),
        None => ("KALENDS_LOG", format!("{configured},sqlx=warn")),
    };
    EnvFilter::try_new(&asked).map_err(|e| {
        anyhow::anyhow!("{name}: not a log filter ({e}); for example info, or info,kalends=debug")
    })
}

/// Libraries whose logs below a level carry secrets, and that level: yup-oauth2, which mints the
/// tokens of a Google Workspace's covered calendars, logs each request to Google's token
/// endpoint (the signed assertion) and each answer (the access token) at `debug`.
const NEVER_BELOW: [(&str, Level); 1] = [("yup_oauth2", Level::INFO)];

/// A filter beside the configured one that no directive of it can lift (a more specific target,
/// a span's): every event must pass both.
fn never_secrets() -> FilterFn<fn(&Metadata<'_>) -> bool> {
    FilterFn::new(|metadata| {
        NEVER_BELOW.iter().all(|(library, level)| {
            let target = metadata.target();
            let within = target
                .strip_prefix(library)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"));
            !within || metadata.level() <= level
        })
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt as _;

    use super::{env_filter, never_secrets};

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
        let subscriber = tracing_subscriber::registry()
            .with(env_filter(filter, rust_log.map(str::to_owned)).unwrap())
            .with(never_secrets())
            .with(tracing_subscriber::fmt::layer().with_writer(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let _job = tracing::info_span!("sync_bookings").entered();
            tracing::debug!(target: "yup_oauth2::service_account", "assertion=eyJhbGciOi");
            tracing::debug!(target: "kalends::sync", "a booking was pushed");
            tracing::info!(target: "yup_oauth2::authenticator", "a token was minted");
        });
        String::from_utf8(lines.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn debug_logs_never_carry_the_assertions_and_tokens_google_s_token_library_logs() {
        for (filter, rust_log) in [
            ("debug", None),
            ("info", Some("debug")),
            ("info", Some("yup_oauth2=trace,debug")),
            ("info", Some("info,kalends=debug,yup_oauth2::service_account=debug")),
            ("info", Some("info,[sync_bookings]=debug")),
        ] {
            let logged = logged_at_debug(filter, rust_log);
            assert!(logged.contains("a booking was pushed"), "{filter} {rust_log:?}: {logged}");
            assert!(logged.contains("a token was minted"), "{filter} {rust_log:?}: {logged}");
            assert!(!logged.contains("eyJhbGciOi"), "{filter} {rust_log:?}: {logged}");
        }
        // Held at `info`, not raised to it.
        let quiet = logged_at_debug("warn", None);
        assert!(!quiet.contains("a token was minted"), "{quiet}");
    }

    #[test]
    fn a_log_filter_that_does_not_parse_is_an_error_naming_its_setting() {
        let configured = env_filter("kalends=[[[", None).unwrap_err().to_string();
        assert!(configured.starts_with("KALENDS_LOG: not a log filter"), "{configured}");
        let overridden = env_filter("info", Some("kalends=[[[".into())).unwrap_err().to_string();
        assert!(overridden.starts_with("RUST_LOG: not a log filter"), "{overridden}");
        assert!(env_filter("info,kalends=debug", None).is_ok());
    }
}
