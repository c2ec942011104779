//! `config/default.toml` itself: it names every setting, once, sets the ones with a default, and
//! says what each is.

use crate::config::Config;
use crate::config::load::BUILT_IN_DEFAULTS;

/// What one line of `config/default.toml` is.
enum Line {
    /// `[section]` or a blank line: what follows starts afresh.
    Break,
    /// `# prose`.
    Comment,
    /// `key = value` (`set`) or `# key = value` (shown only, no default), as `section.key`;
    /// `remark` when a `# comment` follows the value on the same line.
    Key { key: String, set: bool, remark: bool },
}

fn lines_of_the_file(text: &str) -> Vec<Line> {
    let mut section = String::new();
    let mut lines = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = format!("{name}.");
            lines.push(Line::Break);
            continue;
        }
        let (set, body) = match line.strip_prefix('#') {
            Some(body) => (false, body.trim_start()),
            None => (true, line),
        };
        let key = body.split_once(" = ").map(|(key, _)| key).filter(|key| {
            !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        });
        lines.push(match key {
            Some(key) => Line::Key {
                key: format!("{section}{key}"),
                set,
                remark: body.split_once(" = ").is_some_and(|(_, value)| value.contains(" # ")),
            },
            None if line.is_empty() => Line::Break,
            None => Line::Comment,
        });
    }
    lines
}

/// The keys `config/default.toml` names as `section.key`, with whether each is set (`key =`)
/// or only shown in a comment (`# key =`).
pub(super) fn keys_of_the_file() -> Vec<(String, bool)> {
    let keys = lines_of_the_file(BUILT_IN_DEFAULTS).into_iter().filter_map(|line| match line {
        Line::Key { key, set, .. } => Some((key, set)),
        _ => None,
    });
    keys.collect()
}

#[test]
fn every_setting_is_a_key_of_the_file_set_there_unless_it_has_no_default() {
    let view = Config::default().redacted();
    let keys = keys_of_the_file();
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

#[test]
fn every_key_of_the_file_has_a_comment() {
    // A key's comment is the line above it, or follows its value on the same line.
    let lines = lines_of_the_file(BUILT_IN_DEFAULTS);
    let mut bare = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        let Line::Key { key, remark, .. } = line else { continue };
        let above = at.checked_sub(1).map(|above| &lines[above]);
        if !remark && !matches!(above, Some(Line::Comment)) {
            bare.push(key.as_str());
        }
    }
    assert!(bare.is_empty(), "keys without a comment in config/default.toml: {bare:?}");
}
