//! The redacted view: whether each secret is set, never its value.

use super::load_env;
use crate::config::Config;

#[test]
fn redacted_view_hides_every_secret() {
    let config = load_env(&[
        ("KALENDS_DATABASE_URL", "postgres://kal:hunter2@db/kalends"),
        ("KALENDS_SECRET_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        ("KALENDS_GOOGLE__CLIENT_SECRET", "goog-secret"),
        ("KALENDS_METRICS_TOKEN", "scrape-secret-0123456789"),
    ])
    .unwrap();
    let shown = format!("{:?} {:?}", config.redacted(), config);
    assert!(!shown.contains("hunter2") && !shown.contains("goog-secret"), "{shown}");
    assert!(!shown.contains("scrape-secret"), "{shown}");
    assert_eq!(config.redacted()["metrics_token"], "[REDACTED]");
    assert!(!shown.contains("AAAAAAAA"), "{shown}");
    assert_eq!(config.redacted()["database_url"], "postgres://kal:[REDACTED]@db/kalends");
}

#[test]
fn the_redacted_view_shows_whether_each_secret_is_set_and_never_its_value() {
    let secrets = [
        ("KALENDS_REDIS_URL", "redis://:redis-pw-1@cache:6379/", "redis-pw"),
        ("KALENDS_SMTP_URL", "smtps://mailer:smtp-pw-2@mail.example:465", "smtp-pw"),
        ("KALENDS_PREVIOUS_SECRET_KEYS", "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=", "AQEBAQ"),
        ("KALENDS_MICROSOFT__CLIENT_SECRET", "ms-secret-3", "ms-secret"),
        ("KALENDS_SANDBOX__TOKEN", "sandbox-token-4-0123456789", "sandbox-token"),
    ];
    let unset = Config::default().redacted();
    for key in ["redis_url", "smtp_url", "previous_secret_keys", "sandbox.token"] {
        assert_eq!(unset[key], "(unset)");
    }
    assert_eq!(unset["secret_key"], "(unset: generated under data_dir)");
    let given: Vec<_> = secrets.iter().map(|(name, value, _)| (*name, *value)).collect();
    let config = load_env(&given).unwrap();
    let view = config.redacted();
    let shown = format!("{view:?} {config:?} {}", serde_json::to_string(&config).unwrap());
    for (_, _, secret) in secrets {
        assert!(!shown.contains(secret), "{secret}: {shown}");
    }
    assert_eq!(view["redis_url"], "redis://:[REDACTED]@cache:6379/");
    assert_eq!(view["smtp_url"], "smtps://mailer:[REDACTED]@mail.example:465");
    for key in ["previous_secret_keys", "microsoft.client_secret", "sandbox.token"] {
        assert_eq!(view[key], "[REDACTED]", "{key}");
    }
}

#[test]
fn a_password_given_in_a_urls_query_is_masked_and_its_other_settings_shown() {
    // PostgreSQL reads `password` in the query: it and any name like it are masked, whatever
    // their case.
    let config = load_env(&[
        ("KALENDS_DATABASE_URL", "postgres://kal@db/kalends?sslmode=require&password=hunter2"),
        ("KALENDS_REDIS_URL", "redis://cache:6379/1?protocol=resp3&PASSWORD=redis-pw-5"),
    ])
    .unwrap();
    let view = config.redacted();
    let shown = format!("{view:?} {config:?}");
    assert!(!shown.contains("hunter2") && !shown.contains("redis-pw"), "{shown}");
    assert_eq!(
        view["database_url"],
        "postgres://kal@db/kalends?sslmode=require&password=[REDACTED]"
    );
    assert_eq!(view["redis_url"], "redis://cache:6379/1?protocol=resp3&PASSWORD=[REDACTED]");
}

#[test]
fn a_postgresql_credential_its_driver_would_ignore_is_refused_by_name_never_by_value() {
    let url = "postgres://kal@db/kalends?sslmode=require&sslpassword=hunter2";
    let refused = load_env(&[("KALENDS_DATABASE_URL", url)]).unwrap_err().to_string();
    assert!(
        refused.contains("KALENDS_DATABASE_URL") && refused.contains("sslpassword"),
        "{refused}"
    );
    assert!(!refused.contains("hunter2"), "{refused}");
    let known = "postgres://kal@db/kalends?sslmode=require&password=p&options[search_path]=k";
    load_env(&[("KALENDS_DATABASE_URL", known)]).unwrap();
    // libpq's settings the driver ignores, as hosted databases' URLs carry them, still start.
    let hosted =
        "postgres://kal@db/kalends?sslmode=require&channel_binding=require&connect_timeout=10";
    load_env(&[("KALENDS_DATABASE_URL", hosted)]).unwrap();
    load_env(&[("KALENDS_DATABASE_URL", "sqlite://kalends.db?mode=rwc")]).unwrap();
}

#[test]
fn a_postgresql_url_that_does_not_parse_says_to_percent_encode_and_shows_no_password() {
    let url = "postgres://kal:hun?ter2pw@db:5432/kalends";
    let refused = load_env(&[("KALENDS_DATABASE_URL", url)]).unwrap_err().to_string();
    assert!(refused.starts_with("KALENDS_DATABASE_URL: does not parse"), "{refused}");
    assert!(refused.contains("percent-encoded"), "{refused}");
    assert!(!refused.contains("ter2pw"), "{refused}");
}
