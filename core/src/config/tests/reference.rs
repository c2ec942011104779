//! The operators' configuration reference (`docs/src/operators/configuration.md`) describes
//! every key of `config/default.toml`, with the file's default and the key's environment
//! variable, and names no key or variable that does not exist.

use std::collections::BTreeSet;

use serde_json::Value;

use super::file::keys_of_the_file;
use crate::config::env_name;
use crate::config::load::BUILT_IN_DEFAULTS;

const REFERENCE: &str = include_str!("../../../../docs/src/operators/configuration.md");

/// Variables that are not keys: they choose which files are read.
const NOT_KEYS: [&str; 2] = ["KALENDS_PROFILE", "KALENDS_CONFIG_DIR"];

/// One key's entry: its `### \`key\`` heading and the `Default: ... · Environment: ...` line
/// under it.
struct Entry<'a> {
    key: &'a str,
    default: &'a str,
    variable: &'a str,
}

fn entries() -> Vec<Entry<'static>> {
    let mut lines = REFERENCE.lines().filter(|line| !line.trim().is_empty());
    let mut entries = Vec::new();
    while let Some(line) = lines.next() {
        let Some(key) = line.strip_prefix("### `").and_then(|l| l.strip_suffix('`')) else {
            continue;
        };
        let facts = lines.next().unwrap_or_default();
        let (default, variable) = facts
            .strip_prefix("Default: ")
            .and_then(|facts| facts.split_once(" · Environment: "))
            .unwrap_or_else(|| panic!("{key}: no `Default: ... · Environment: ...` line"));
        entries.push(Entry { key, default, variable: variable.trim_matches('`') });
    }
    entries
}

/// A TOML value as JSON, read the way the configuration reads it.
fn toml_value(text: &str, key: &str) -> Value {
    config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .build()
        .and_then(|read| read.get::<Value>(key))
        .unwrap_or_else(|e| panic!("{key} in {text:?}: {e}"))
}

#[test]
fn the_reference_describes_every_key_of_the_file_and_no_other() {
    let keys: BTreeSet<String> = keys_of_the_file().into_iter().map(|(key, _)| key).collect();
    let described: BTreeSet<String> = entries().iter().map(|e| e.key.to_owned()).collect();
    let missing: Vec<_> = keys.difference(&described).collect();
    assert!(missing.is_empty(), "keys of config/default.toml not in the reference: {missing:?}");
    let unknown: Vec<_> = described.difference(&keys).collect();
    assert!(unknown.is_empty(), "the reference describes keys that do not exist: {unknown:?}");
    assert_eq!(entries().len(), described.len(), "each key is described once");
}

#[test]
fn the_reference_gives_each_key_its_default_and_its_environment_variable() {
    let set: BTreeSet<String> =
        keys_of_the_file().into_iter().filter(|(_, set)| *set).map(|(key, _)| key).collect();
    for entry in entries() {
        assert_eq!(entry.variable, env_name(entry.key), "{}", entry.key);
        if !set.contains(entry.key) {
            assert_eq!(entry.default, "unset", "{} has no default", entry.key);
            continue;
        }
        let written = entry.default.strip_prefix('`').and_then(|d| d.strip_suffix('`'));
        let written = written.unwrap_or_else(|| panic!("{}: default not in backticks", entry.key));
        assert_eq!(
            toml_value(&format!("value = {written}"), "value"),
            toml_value(BUILT_IN_DEFAULTS, entry.key),
            "the default of {} in the reference",
            entry.key
        );
    }
}

#[test]
fn every_key_and_variable_the_reference_mentions_exists() {
    let keys: BTreeSet<String> = keys_of_the_file().into_iter().map(|(key, _)| key).collect();
    let sections: BTreeSet<&str> =
        keys.iter().filter_map(|k| k.split_once('.')).map(|s| s.0).collect();
    let variables: BTreeSet<String> = keys.iter().map(|key| env_name(key)).collect();
    let mut unknown = Vec::new();
    for word in REFERENCE.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        let is_variable = word.starts_with("KALENDS_") && word.len() > "KALENDS_".len();
        if is_variable && !variables.contains(word) && !NOT_KEYS.contains(&word) {
            unknown.push(word.to_owned());
        }
    }
    for quoted in REFERENCE.split('`').skip(1).step_by(2) {
        let dotted = quoted.split_once('.').filter(|(section, _)| sections.contains(section));
        let looks_like_key = quoted.bytes().all(|b| b.is_ascii_lowercase() || b"_.".contains(&b));
        if dotted.is_some() && looks_like_key && !keys.contains(quoted) {
            unknown.push(quoted.to_owned());
        }
    }
    assert!(unknown.is_empty(), "the reference names what does not exist: {unknown:?}");
}
