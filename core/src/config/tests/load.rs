//! The layers: built-in defaults, the files, the environment.

use std::net::SocketAddr;
use std::path::Path;

use serde_json::json;

use super::{env, load_env};
use crate::config::{Config, ProxyHeader, TrustedProxies, WebhooksConfig};

#[test]
fn the_defaults_are_the_built_in_file_and_they_are_valid() {
    let defaults = Config::default();
    defaults.validate().unwrap();
    let without_files = load_env(&[]).unwrap();
    assert_eq!(format!("{without_files:?}"), format!("{defaults:?}"));
    let repository = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../config"));
    let with_the_file = Config::load_with_env(repository, env(&[])).unwrap();
    assert_eq!(format!("{with_the_file:?}"), format!("{defaults:?}"));
    assert_eq!(
        WebhooksConfig::default().retry_schedule_secs,
        defaults.webhooks.retry_schedule_secs
    );
    // The reader's own limit, for callers without a configuration, is the operator's default.
    assert_eq!(defaults.import.max_work_steps, kalends_ical::DEFAULT_MAX_WORK);
}

#[test]
fn environment_overrides_defaults_including_nested_keys() {
    let config =
        load_env(&[("KALENDS_LISTEN", "0.0.0.0:9000"), ("KALENDS_JOBS__CONCURRENCY", "3")])
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
    let error = load_env(&[("KALENDS_IMPORT__ALLOWED_ADDRESSES", "localhost:5232")])
        .unwrap_err()
        .to_string();
    assert!(error.contains("localhost:5232"), "{error}");
}

#[test]
fn lists_of_numbers_come_from_the_environment_comma_separated() {
    let load = |key: &str, value: &str| load_env(&[(key, value)]);
    let steps = load("KALENDS_CHECKLISTS__REMINDER_STEPS_SECS", "86400, 3600").unwrap();
    assert_eq!(steps.checklists.reminder_steps_secs, [86_400, 3600]);
    let one = load("KALENDS_WEBHOOKS__RETRY_SCHEDULE_SECS", "5").unwrap();
    assert_eq!(one.webhooks.retry_schedule_secs, [5]);
    let err = load("KALENDS_WEBHOOKS__RETRY_SCHEDULE_SECS", "5,soon").unwrap_err().to_string();
    assert!(err.contains("webhooks.retry_schedule_secs") && err.contains("soon"), "{err}");
    let err = load("KALENDS_WEBHOOKS__RETRY_SCHEDULE_SECS", "").unwrap_err().to_string();
    assert!(err.starts_with("KALENDS_WEBHOOKS__RETRY_SCHEDULE_SECS:"), "{err}");
}

#[test]
fn a_misspelt_setting_is_refused_by_name_and_another_tools_variable_left_alone() {
    // In a file: refused, at the top level and inside a section.
    let dir = std::env::temp_dir().join(format!("kalends-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (text, key) in
        [("lisen = \"0.0.0.0:9000\"\n", "lisen"), ("[databse]\nmax = 3\n", "databse")]
    {
        std::fs::write(dir.join("default.toml"), text).unwrap();
        let err = Config::load_with_env(&dir, env(&[])).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{key}: no such setting (from a configuration file)")),
            "{err}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
    // In the environment: refused inside a section Kalends has, by its variable.
    for name in ["KALENDS_DATABASE__URL", "KALENDS_HTTP__PORT"] {
        let err = load_env(&[(name, "x")]).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{name}: no such setting (from the environment)")),
            "{err}"
        );
    }
    // Variables of other tools that share the prefix start nothing and stop nothing.
    load_env(&[("KALENDS_TEST_PYTHON", "/usr/bin/python3"), ("KALENDS_CONFIG_DIR", "/etc/k")])
        .unwrap();
}

#[test]
fn the_proxies_header_is_x_forwarded_for_unless_forwarded_is_named() {
    assert_eq!(load_env(&[]).unwrap().proxy_header, ProxyHeader::XForwardedFor);
    let config = load_env(&[("KALENDS_PROXY_HEADER", "forwarded")]).unwrap();
    assert_eq!(config.proxy_header, ProxyHeader::Forwarded);
    let err = load_env(&[("KALENDS_PROXY_HEADER", "x-real-ip")]).unwrap_err().to_string();
    assert!(err.contains("proxy_header") && err.contains("x-real-ip"), "{err}");
}

#[test]
fn trusted_proxies_come_as_a_comma_separated_variable_or_a_list() {
    let config =
        load_env(&[("KALENDS_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1,2001:db8::/32")]).unwrap();
    let shown: Vec<String> = config.trusted_proxies.0.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["10.0.0.0/8", "127.0.0.1/32", "2001:db8::/32"]);
    assert!(config.trusted_proxies.contains("10.1.2.3".parse().unwrap()));
    assert!(config.trusted_proxies.contains("::ffff:127.0.0.1".parse().unwrap()));
    assert!(!config.trusted_proxies.contains("192.0.2.1".parse().unwrap()));
    let listed: TrustedProxies = serde_json::from_value(json!(["192.168.0.0/16", "::1"])).unwrap();
    assert_eq!(listed.0.len(), 2);
    let err =
        load_env(&[("KALENDS_TRUSTED_PROXIES", "10.0.0.0/8,proxy.local")]).unwrap_err().to_string();
    assert!(err.contains("proxy.local"), "{err}");
}
