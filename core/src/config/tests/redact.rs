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
    // PostgreSQL takes `password` and `sslpassword` in the query, the Redis client `password`:
    // each is masked wherever it is, whatever its case.
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
    let both = crate::config::redact_url("postgres://kal:a@db/k?sslpassword=b&application_name=c");
    assert_eq!(both, "postgres://kal:[REDACTED]@db/k?sslpassword=[REDACTED]&application_name=c");
}

#[test]
fn a_url_whose_path_is_the_secret_shows_its_host_alone_and_so_does_an_imports_debug() {
    use crate::config::redact_secret_url;
    let feed = "https://www.airbnb.com/calendar/ical/1.ics?s=0123secret";
    assert_eq!(redact_secret_url(feed), "https://www.airbnb.com/[REDACTED]");
    assert_eq!(
        redact_secret_url("https://u:pw@host.example?t=x"),
        "https://host.example/[REDACTED]"
    );
    assert_eq!(redact_secret_url("not a url 0123secret"), "[REDACTED]");
    let import = crate::domain::NewImport {
        owner: crate::domain::Owner::Resource(uuid::Uuid::nil()),
        platform: crate::domain::Platform::Airbnb,
        url: feed.into(),
        name: None,
        interval_minutes: 30,
        settings: Default::default(),
    };
    let shown = format!("{import:?}");
    assert!(shown.contains("www.airbnb.com") && !shown.contains("0123secret"), "{shown}");
}

#[test]
fn a_postgresql_parameter_its_driver_would_ignore_is_refused_by_name_never_by_value() {
    let url = "postgres://kal@db/kalends?sslmode=require&sslpassword=hunter2";
    let refused = load_env(&[("KALENDS_DATABASE_URL", url)]).unwrap_err().to_string();
    assert!(
        refused.contains("KALENDS_DATABASE_URL") && refused.contains("sslpassword"),
        "{refused}"
    );
    assert!(!refused.contains("hunter2"), "{refused}");
    let known = "postgres://kal@db/kalends?sslmode=require&password=p&options[search_path]=k";
    load_env(&[("KALENDS_DATABASE_URL", known)]).unwrap();
    load_env(&[("KALENDS_DATABASE_URL", "sqlite://kalends.db?mode=rwc")]).unwrap();
}
