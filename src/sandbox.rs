//! The provider sandbox in this binary (the cargo feature `sandbox`, on by default): which
//! providers use it, the settings that point them at it, and mounting it at `/sandbox`.
//!
//! A provider without a client id uses the sandbox when `sandbox.enabled` says so (see
//! [`Config::sandbox_enabled`]); `kalends-providers` only sees the resulting settings. A binary
//! built without the feature refuses a configuration that enables the sandbox instead of running
//! without it.

use anyhow::Context as _;
use axum::Router;
use kalends_core::Config;
use kalends_core::domain::Provider;
use kalends_providers::outbound::AddressPolicy;
use kalends_providers::provider::{GoogleSettings, MicrosoftSettings, Providers};
use secrecy::SecretString;

/// Where the sandbox is mounted under the public URL.
const MOUNT: &str = "/sandbox";

/// The one-line refusal of a binary built without the sandbox.
pub const NOT_BUILT_IN: &str =
    "this binary was built without the provider sandbox (cargo feature `sandbox`)";

/// Both providers as configured; with the sandbox enabled, one without a client id talks to the
/// sandbox at `{public_url}/sandbox` (workers to the API node's) with the sandbox's client.
pub fn providers(config: &Config) -> anyhow::Result<Providers> {
    refuse_if_missing(config)?;
    let g = &config.google;
    let mut google = GoogleSettings {
        client_id: g.client_id.clone(),
        client_secret: g.client_secret.clone(),
        auth_url: g.auth_url.clone(),
        token_url: g.token_url.clone(),
        revoke_url: g.revoke_url.clone(),
        api_base_url: g.api_base_url.clone(),
        directory_base_url: g.directory_base_url.clone(),
    };
    let m = &config.microsoft;
    let mut microsoft = MicrosoftSettings {
        client_id: m.client_id.clone(),
        client_secret: m.client_secret.clone(),
        tenant: m.tenant.clone(),
        authority_url: m.authority_url.clone(),
        graph_base_url: m.graph_base_url.clone(),
    };
    let sandboxed = if config.sandbox_enabled() {
        point_at_sandbox(config, &mut google, &mut microsoft)
    } else {
        Vec::new()
    };
    Providers::new(
        &config.public_url,
        &google,
        &microsoft,
        sandboxed,
        config.sync.provider_timeout(),
    )
    .and_then(|p| {
        let addresses = AddressPolicy {
            allow_private_networks: config.import.allow_private_networks,
            allowed: config.import.allowed_addresses.clone(),
        };
        p.with_caldav_addresses(addresses, (config.import.max_bytes, config.import.max_work_steps))
    })
    .context("calendar providers")
}

/// Refuses a configuration that enables the sandbox when this binary was built without it.
pub fn refuse_if_missing(config: &Config) -> anyhow::Result<()> {
    refuse_without(config, cfg!(feature = "sandbox"))
}

/// [`refuse_if_missing`], with whether the sandbox is `built_in` given (testable in any build).
fn refuse_without(config: &Config, built_in: bool) -> anyhow::Result<()> {
    if config.sandbox_enabled() && !built_in {
        anyhow::bail!(
            "KALENDS_SANDBOX__ENABLED: the configuration enables the provider sandbox (it is on by default in the embedded first run), but {NOT_BUILT_IN}; set KALENDS_SANDBOX__ENABLED=false or build with the feature"
        );
    }
    Ok(())
}

/// Fills in the sandbox's client and endpoints for each provider without a client id; returns
/// those providers.
#[cfg(feature = "sandbox")]
fn point_at_sandbox(
    config: &Config,
    google: &mut GoogleSettings,
    microsoft: &mut MicrosoftSettings,
) -> Vec<Provider> {
    use kalends_sandbox as sandbox;
    let root = format!("{}{MOUNT}", config.public_url.trim_end_matches('/'));
    let endpoints = sandbox::Endpoints::under(&root);
    let mut sandboxed = Vec::new();
    if google.client_id.is_none() {
        sandboxed.push(Provider::Google);
        google.client_id = Some(sandbox::GOOGLE_CLIENT_ID.to_owned());
        google.client_secret = Some(SecretString::from(sandbox::GOOGLE_CLIENT_SECRET));
        google.auth_url = endpoints.google_auth_url;
        google.token_url = endpoints.google_token_url;
        google.revoke_url = endpoints.google_revoke_url;
        google.api_base_url = endpoints.google_api_base_url;
        google.directory_base_url = endpoints.google_directory_base_url;
    }
    if microsoft.client_id.is_none() {
        sandboxed.push(Provider::Microsoft);
        microsoft.client_id = Some(sandbox::MICROSOFT_CLIENT_ID.to_owned());
        microsoft.client_secret = Some(SecretString::from(sandbox::MICROSOFT_CLIENT_SECRET));
        microsoft.authority_url = endpoints.microsoft_authority_url;
        microsoft.graph_base_url = endpoints.microsoft_graph_base_url;
    }
    sandboxed
}

/// Without the sandbox nothing points at it ([`providers`] refused an enabled one already).
#[cfg(not(feature = "sandbox"))]
fn point_at_sandbox(
    _config: &Config,
    _google: &mut GoogleSettings,
    _microsoft: &mut MicrosoftSettings,
) -> Vec<Provider> {
    Vec::new()
}

/// The sandbox a process serving the API mounts at `/sandbox`.
#[derive(Debug)]
pub struct Mounted {
    router: Router,
    /// The bearer token of its control API.
    pub control_token: SecretString,
}

/// The sandbox, when it is enabled and a provider has no client id; says at start-up which
/// providers are sandboxed and which cannot be connected.
pub fn mount(config: &Config, providers: &Providers) -> Option<Mounted> {
    let names = |list: &[Provider]| list.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ");
    if !providers.unavailable.is_empty() {
        tracing::warn!(
            providers = names(&providers.unavailable),
            "no client id configured and the sandbox is off: connecting these providers is refused"
        );
    }
    if providers.sandboxed.is_empty() {
        return None;
    }
    tracing::warn!(
        sandboxed = names(&providers.sandboxed),
        "no client id configured: these providers use the built-in provider sandbox at /sandbox, not the real service"
    );
    start(config)
}

/// A new sandbox whose clients accept this Kalends' callbacks.
#[cfg(feature = "sandbox")]
fn start(config: &Config) -> Option<Mounted> {
    let sandbox = kalends_sandbox::Sandbox::new(settings(config));
    Some(Mounted { router: sandbox.router(), control_token: sandbox.control_token() })
}

/// Never reached: [`providers`] sandboxes nothing in a binary without the sandbox.
#[cfg(not(feature = "sandbox"))]
fn start(_config: &Config) -> Option<Mounted> {
    None
}

/// The sandbox's settings: clients with callbacks under `public_url`, the configured control
/// token (else a random one).
#[cfg(feature = "sandbox")]
pub fn settings(config: &Config) -> kalends_sandbox::SandboxConfig {
    let settings = kalends_sandbox::SandboxConfig::for_public_url(&config.public_url);
    match &config.sandbox.token {
        Some(token) => settings.with_control_token(token.clone()),
        None => settings,
    }
}

/// `app` with the sandbox mounted at `/sandbox`, if there is one.
pub fn nest(app: Router, sandbox: Option<&Mounted>) -> Router {
    match sandbox {
        Some(sandbox) => app.nest_service(MOUNT, sandbox.router.clone()),
        None => app,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_without_the_sandbox_refuses_a_configuration_that_enables_it() {
        let first_run = Config::default();
        assert!(first_run.sandbox_enabled());
        let refused = refuse_without(&first_run, false).unwrap_err().to_string();
        assert!(refused.starts_with("KALENDS_SANDBOX__ENABLED:"), "{refused}");
        assert!(refused.contains(NOT_BUILT_IN), "{refused}");
        assert_eq!(refused.lines().count(), 1);
        assert!(refuse_without(&first_run, true).is_ok());
        let off = Config {
            sandbox: kalends_core::config::SandboxSettings {
                enabled: Some(false),
                ..Default::default()
            },
            ..Config::default()
        };
        assert!(refuse_without(&off, false).is_ok());
    }

    #[cfg(feature = "sandbox")]
    #[test]
    fn providers_without_a_client_id_use_the_sandbox_only_when_it_is_enabled() {
        let first_run = Config { public_url: "http://127.0.0.1:8080/".into(), ..Config::default() };
        let on = providers(&first_run).unwrap();
        assert_eq!(on.sandboxed, [Provider::Google, Provider::Microsoft]);
        assert!(on.unavailable.is_empty());
        let consent = on.get(Provider::Google).authorize(None).unwrap().url;
        assert!(
            consent.as_str().starts_with("http://127.0.0.1:8080/sandbox/google/o/oauth2/v2/auth?")
        );
        let mut disabled = first_run;
        disabled.sandbox.enabled = Some(false);
        let off = providers(&disabled).unwrap();
        assert!(off.sandboxed.is_empty());
        assert_eq!(off.unavailable, [Provider::Google, Provider::Microsoft]);
    }
}
