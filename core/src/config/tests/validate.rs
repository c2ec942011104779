//! The start-up checks name the key they refuse.

use super::load_env;
use crate::config::Config;

#[test]
fn a_bad_value_names_its_environment_variable() {
    let err = load_env(&[("KALENDS_LISTEN", "nowhere")]).unwrap_err().to_string();
    assert!(err.starts_with("KALENDS_LISTEN:"), "{err}");
    let err = load_env(&[("KALENDS_DATABASE_URL", "mysql://x")]).unwrap_err().to_string();
    assert!(err.starts_with("KALENDS_DATABASE_URL:"), "{err}");
}

#[test]
fn the_calendar_import_interval_is_one_minute_to_one_day() {
    let load = |minutes: &str| load_env(&[("KALENDS_SYNC__IMPORT_INTERVAL_MINUTES", minutes)]);
    assert_eq!(load("15").unwrap().sync.import_interval().as_secs(), 900);
    assert!(
        load("0").unwrap_err().to_string().starts_with("KALENDS_SYNC__IMPORT_INTERVAL_MINUTES:")
    );
    assert!(load("1441").is_err());
}

#[test]
fn a_provider_call_may_take_one_to_thirty_seconds() {
    let load = |secs: &str| load_env(&[("KALENDS_SYNC__PROVIDER_TIMEOUT_SECS", secs)]);
    assert_eq!(load("30").unwrap().sync.provider_timeout().as_secs(), 30);
    assert_eq!(load("1").unwrap().sync.provider_timeout().as_secs(), 1);
    let refused = load("0").unwrap_err().to_string();
    assert!(refused.starts_with("KALENDS_SYNC__PROVIDER_TIMEOUT_SECS:"), "{refused}");
    assert!(refused.contains("between 1 and 30"), "{refused}");
    assert!(load("31").is_err());
}

#[test]
fn frame_ancestors_take_a_csp_source_list_and_refuse_anything_that_would_break_the_header() {
    let load = |value: &str| load_env(&[("KALENDS_WIDGET__FRAME_ANCESTORS", value)]);
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
fn the_sandbox_is_on_by_default_only_in_the_embedded_first_run() {
    let load = |pairs: &[(&str, &str)]| load_env(pairs).unwrap().sandbox_enabled();
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
        load_env(&[
            ("KALENDS_PROFILE", "production"),
            ("KALENDS_PUBLIC_URL", "https://kalends.example"),
            ("KALENDS_SANDBOX__ENABLED", "true"),
            ("KALENDS_LISTEN", listen),
        ])
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
        load_env(&all)
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
    let outside = load_env(&[("KALENDS_PUBLIC_URL", "http://kalends.example")]);
    assert!(outside.is_ok(), "outside production http:// stays allowed");
}

#[test]
fn connection_limits_and_the_metrics_token_are_checked_at_start_up() {
    let load = |key: &str, value: &str| load_env(&[(key, value)]);
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
