//! `config/default.toml` itself: it names every setting, once, and sets the ones with a default.

use crate::config::Config;
use crate::config::load::BUILT_IN_DEFAULTS;

/// The keys `config/default.toml` names as `section.key`, with whether each is set (`key =`)
/// or only shown in a comment (`# key =`).
fn keys_of_the_file(text: &str) -> Vec<(String, bool)> {
    let mut section = String::new();
    let mut keys = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = format!("{name}.");
            continue;
        }
        let (set, body) = match line.strip_prefix("# ") {
            Some(body) => (false, body),
            None => (true, line),
        };
        let Some((key, _)) = body.split_once(" = ") else { continue };
        if !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            keys.push((format!("{section}{key}"), set));
        }
    }
    keys
}

#[test]
fn every_setting_is_a_key_of_the_file_set_there_unless_it_has_no_default() {
    let view = Config::default().redacted();
    let keys = keys_of_the_file(BUILT_IN_DEFAULTS);
    let named: Vec<&str> = keys.iter().map(|(key, _)| key.as_str()).collect();
    let settings: Vec<&str> =
        view.keys().map(String::as_str).filter(|key| *key != "profile").collect();
    let mut sorted = named.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, settings, "the file names every setting, once");
    for (key, set) in &keys {
        let unset = view[key].starts_with("(unset");
        assert_eq!(*set, !unset, "{key} is set in the file exactly when it has a default");
    }
}
