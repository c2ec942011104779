//! The configuration's tests, by concern like the module.

use std::collections::BTreeMap;
use std::path::Path;

use super::{Config, ConfigError};

mod file;
mod load;
mod redact;
mod reference;
mod secret_key;
mod validate;

/// An environment of the given variables only.
fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// The configuration of these variables alone, over the built-in defaults (no file is read).
fn load_env(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::load_with_env(Path::new("/nonexistent"), env(pairs))
}
