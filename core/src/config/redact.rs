//! The redacted view that `kalends config check` prints: [`Config`] serializes with every secret
//! shown only as set (`[REDACTED]`) or unset, and URLs with their password masked. A new
//! `SecretString` field cannot slip into the view in clear: secrecy gives it no `Serialize`, so
//! the derive fails until the field names one of the serializers below.

use std::collections::BTreeMap;
use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::Config;
use crate::redact::{REDACTED, url_password_masked};

/// What an unset value shows.
const UNSET: &str = "(unset)";

/// A secret: `[REDACTED]` when set, null when not.
pub(super) fn secret<S: Serializer>(
    value: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    value.as_ref().map(|_| REDACTED).serialize(serializer)
}

/// The secret key: `[REDACTED]` when set; unset, says where it comes from instead.
pub(super) fn secret_key<S: Serializer>(
    value: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let shown = if value.is_some() { REDACTED } else { "(unset: generated under data_dir)" };
    serializer.serialize_str(shown)
}

/// A URL whose password is the secret: shown with the password masked.
pub(super) fn url<S: Serializer>(value: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&url_password_masked(value.expose_secret()))
}

/// An optional [`url`].
pub(super) fn optional_url<S: Serializer>(
    value: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    value.as_ref().map(|url| url_password_masked(url.expose_secret())).serialize(serializer)
}

/// A path as text, so that serializing never fails on a name that is not UTF-8.
pub(super) fn path<S: Serializer>(value: &Path, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&value.display())
}

/// The redacted view as `section.key` -> value: text as it is, lists and numbers as JSON, unset
/// values as `(unset)`.
pub(super) fn flat(config: &Config) -> BTreeMap<String, String> {
    // Every field serializes to JSON: keys are field names, and secrets and paths have text forms.
    let view = serde_json::to_value(config).expect("a Config serializes to JSON");
    let mut out = BTreeMap::new();
    flatten("", &view, &mut out);
    out
}

fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                let key = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                flatten(&key, value, out);
            }
        }
        Value::Null => {
            out.insert(prefix.to_owned(), UNSET.to_owned());
        }
        Value::String(text) => {
            out.insert(prefix.to_owned(), text.clone());
        }
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}
