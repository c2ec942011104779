//! The secret keys: configured, rotated, or generated once outside production.

use secrecy::ExposeSecret;

use super::load_env;
use crate::config::{Config, SecretKeySource};

#[test]
fn previous_secret_keys_are_a_comma_separated_list_checked_at_start_up() {
    let a = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    let b = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
    let list = format!("{a}, {b}");
    let config =
        load_env(&[("KALENDS_SECRET_KEY", a), ("KALENDS_PREVIOUS_SECRET_KEYS", &list)]).unwrap();
    let (keys, _) = config.secret_keys().unwrap();
    assert_eq!(keys.previous().len(), 2);
    assert_eq!(keys.previous()[1].expose_secret(), &[2u8; 32]);
    assert!(!format!("{:?}", config.redacted()).contains("AgICAgIC"));
    let err = load_env(&[("KALENDS_PREVIOUS_SECRET_KEYS", &format!("{a},short"))])
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("KALENDS_PREVIOUS_SECRET_KEYS"), "{err}");
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
        let handles: Vec<_> =
            (0..8).map(|_| s.spawn(|| *config.secret_key().unwrap().0.expose_secret())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(keys.windows(2).all(|w| w[0] == w[1]));
    std::fs::remove_dir_all(dir).unwrap();
}
