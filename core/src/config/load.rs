//! Reading the configuration: the layers, later wins, and the defaults they start from.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::LazyLock;

use config::builder::DefaultState;
use config::{ConfigBuilder, Environment, File, FileFormat, FileSourceString};

use super::sections::{
    AlertsConfig, ChecklistsConfig, DashboardConfig, DatabaseConfig, FeedsConfig, GoogleConfig,
    HistoryConfig, HttpConfig, ImportConfig, JobsConfig, MailConfig, MicrosoftConfig,
    SandboxSettings, SyncConfig, WebhooksConfig, WidgetConfig,
};
use super::{Config, ConfigError};

/// `config/default.toml` as it was built: the one place every default is written. It is the
/// first layer, under the deployment's own `config/default.toml`.
pub(super) const BUILT_IN_DEFAULTS: &str = include_str!("../../../config/default.toml");

fn built_in_defaults() -> File<FileSourceString, FileFormat> {
    File::from_str(BUILT_IN_DEFAULTS, FileFormat::Toml)
}

/// The built-in defaults, read once. The text is fixed at build time and the tests read it, so
/// failing here would be a build that never passed them.
static DEFAULTS: LazyLock<Config> = LazyLock::new(|| {
    config::Config::builder()
        .add_source(built_in_defaults())
        .build()
        .and_then(config::Config::try_deserialize)
        .unwrap_or_else(|e| panic!("the built-in config/default.toml does not read: {e}"))
});

impl Default for Config {
    /// The built-in `config/default.toml`, unvalidated; no file or environment is read.
    fn default() -> Self {
        DEFAULTS.clone()
    }
}

/// A section's default is its part of the built-in `config/default.toml`.
macro_rules! section_defaults {
    ($($field:ident: $section:ty),* $(,)?) => {$(
        impl Default for $section {
            fn default() -> Self {
                DEFAULTS.$field.clone()
            }
        }
    )*};
}

section_defaults!(
    database: DatabaseConfig,
    jobs: JobsConfig,
    google: GoogleConfig,
    microsoft: MicrosoftConfig,
    import: ImportConfig,
    feeds: FeedsConfig,
    mail: MailConfig,
    sync: SyncConfig,
    history: HistoryConfig,
    sandbox: SandboxSettings,
    http: HttpConfig,
    webhooks: WebhooksConfig,
    dashboard: DashboardConfig,
    widget: WidgetConfig,
    alerts: AlertsConfig,
    checklists: ChecklistsConfig,
);

impl Config {
    /// Reads the layered configuration from `dir` (usually `config/`) and the process environment,
    /// then validates it.
    pub fn load(dir: &Path) -> Result<Self, ConfigError> {
        Self::load_with_env(dir, std::env::vars().collect())
    }

    /// Like [`Config::load`], with the environment given explicitly (for tests).
    pub fn load_with_env(dir: &Path, env: BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let built = layers(dir, &env).build()?;
        let mut unknown = Vec::new();
        let config: Config = serde_ignored::deserialize(built, |path| {
            unknown.push(path.to_string());
        })?;
        if let Some(key) = unknown.iter().find(|key| refused(key, &env)) {
            return Err(unknown_key(key, &env));
        }
        config.validate()?;
        Ok(config)
    }
}

/// Whether a key no setting reads is refused: every one a file gives (a misspelt key would
/// otherwise be ignored without a word), and one the environment gives inside a section
/// Kalends has (`KALENDS_DATABASE__URL` for `KALENDS_DATABASE_URL`). Other `KALENDS_`
/// variables the environment holds may be another tool's, and are left alone.
fn refused(key: &str, env: &BTreeMap<String, String>) -> bool {
    !from_environment(key, env) || key.contains('.')
}

/// Whether the environment gave `key` (or a key inside it).
fn from_environment(key: &str, env: &BTreeMap<String, String>) -> bool {
    let name = super::env_name(key);
    env.keys()
        .any(|var| var == &name || var.strip_prefix(&name).is_some_and(|r| r.starts_with("__")))
}

/// The error for a key no setting reads, by its variable when the environment gave it.
fn unknown_key(key: &str, env: &BTreeMap<String, String>) -> ConfigError {
    let (shown, from) = if from_environment(key, env) {
        (super::env_name(key), "the environment")
    } else {
        (key.to_owned(), "a configuration file")
    };
    ConfigError::Invalid {
        key: shown,
        message: format!(
            "no such setting (from {from}); the configuration reference lists every one"
        ),
    }
}

/// The layers, later wins: the built-in defaults, `dir/default.toml`, `dir/$KALENDS_PROFILE.toml`,
/// then the environment. A file that is not there is skipped.
fn layers(dir: &Path, env: &BTreeMap<String, String>) -> ConfigBuilder<DefaultState> {
    let mut builder = config::Config::builder()
        .add_source(built_in_defaults())
        .add_source(File::from(dir.join("default.toml")).required(false));
    if let Some(profile) = env.get("KALENDS_PROFILE") {
        builder =
            builder.add_source(File::from(dir.join(format!("{profile}.toml"))).required(false));
    }
    builder.add_source(environment(env))
}

/// The `KALENDS_*` variables: `__` joins nested keys, and a value that reads as a number or a
/// boolean is one (a list stays one string, which the list types split).
fn environment(env: &BTreeMap<String, String>) -> Environment {
    let kalends: config::Map<String, String> = env
        .iter()
        .filter(|(name, _)| name.starts_with("KALENDS_"))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    Environment::with_prefix("KALENDS")
        .prefix_separator("_")
        .separator("__")
        .try_parsing(true)
        .source(Some(kalends))
}
