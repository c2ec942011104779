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

/// What a set secret shows.
const REDACTED: &str = "[REDACTED]";

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
    serializer.serialize_str(&redact_url(value.expose_secret()))
}

/// An optional [`url`].
pub(super) fn optional_url<S: Serializer>(
    value: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    value.as_ref().map(|url| redact_url(url.expose_secret())).serialize(serializer)
}

/// A path as text, so that serializing never fails on a name that is not UTF-8.
pub(super) fn path<S: Serializer>(value: &Path, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&value.display())
}

/// Replaces the password of `scheme://user:password@host/...` with `[REDACTED]`, and so the value
/// of every query parameter that names a credential (`password`, `sslpassword`, `pass`, any
/// name holding `pass`, `secret` or `token`): PostgreSQL and Redis take one there too.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(redact_query(query))),
        None => (rest, None),
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            let masked =
                if userinfo.contains(':') { format!("{user}:{REDACTED}") } else { user.to_owned() };
            format!("{masked}@{host}")
        }
        None => authority.to_owned(),
    };
    let query = query.map(|query| format!("?{query}")).unwrap_or_default();
    format!("{scheme}://{authority}{path}{query}")
}

/// A URL whose path and query are its secret (an imported feed's, a settings link's, a consent
/// page's with its `state`), as a log or a `Debug` may show it: its scheme and host alone.
pub fn redact_secret_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return REDACTED.to_owned() };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    format!("{scheme}://{host}/{REDACTED}")
}

/// `query` with the value of each parameter that names a credential masked.
fn redact_query(query: &str) -> String {
    let masked = query.split('&').map(|pair| match pair.split_once('=') {
        Some((name, _)) if names_a_credential(name) => format!("{name}={REDACTED}"),
        _ => pair.to_owned(),
    });
    masked.collect::<Vec<_>>().join("&")
}

fn names_a_credential(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["pass", "secret", "token"].iter().any(|word| name.contains(word))
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
