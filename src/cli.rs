//! The `kalends` command line.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use kalends_core::Config;
use kalends_core::config::SecretKeySource;
use kalends_core::domain::{Tenant, TenantSettings, TimeZone};
use kalends_service::dashboard::{self, DashboardLink};
use kalends_service::tenants;
use kalends_store::Store;
use kalends_store::{Pool, Revocation};
use secrecy::{ExposeSecret as _, SecretString};
use uuid::Uuid;

use crate::app::{self, Role};

/// Kalends: the calendar connector for booking businesses.
#[derive(Debug, Parser)]
#[command(name = "kalends", version, about, long_about = None)]
pub struct Cli {
    /// Folder holding default.toml and $KALENDS_PROFILE.toml.
    #[arg(long, env = "KALENDS_CONFIG_DIR", default_value = "config", global = true)]
    config_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run Kalends: API, workers and scheduler in one process unless --role splits them.
    Serve {
        /// Which parts to run.
        #[arg(long, value_enum, default_value_t = Role::All)]
        role: Role,
        /// On an empty embedded database, start without the demo tenant and its sample data.
        #[arg(long)]
        no_demo: bool,
    },
    /// Apply database (and job queue) migrations and exit.
    Migrate,
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Print a signed link to the tenant console (`/dashboard`); it works once.
    DashboardLink {
        /// The tenant's id.
        tenant_id: String,
        /// Print one JSON object: {"url", "expires_at"}.
        #[arg(long)]
        json: bool,
    },
    /// Work with iCalendar files.
    Ics {
        #[command(subcommand)]
        command: IcsCommand,
    },
    /// Run the provider sandbox alone: Google and Microsoft OAuth and calendar APIs, emulated.
    Sandbox {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: std::net::SocketAddr,
    },
    /// Inspect configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a tenant and print its id and first API key (shown once).
    Create {
        /// The business's name.
        #[arg(long)]
        name: String,
        /// Its IANA time zone.
        #[arg(long, default_value = "UTC")]
        timezone: String,
        /// Print one JSON object: {"tenant_id", "api_key"}.
        #[arg(long)]
        json: bool,
    },
    /// Mint an additional API key for a tenant (shown once), or revoke one with --revoke.
    ApiKey {
        /// The tenant's id.
        tenant_id: String,
        /// Revoke this key (its id, as `GET /api/v1/api-keys` lists it) instead of minting one;
        /// the tenant's last active key too.
        #[arg(long, value_name = "KEY_ID")]
        revoke: Option<String>,
        /// Print one JSON object: {"tenant_id", "api_key"}, or with --revoke
        /// {"tenant_id", "api_key_id", "revoked_at"}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum IcsCommand {
    /// Parse a feed and print what an import would store: events, busy ranges, skipped events.
    Check(crate::ics_check::CheckArgs),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print it with secrets redacted.
    Check,
}

/// What the process's `main` runs: the command line in a Tokio runtime, but `kalends ics check
/// FILE` on this thread alone (it reads a file and prints, and starting a runtime's threads was a
/// good part of its time on small files), leaving what it read to the exit to free. Errors
/// become one line on stderr and a non-zero exit in `main`; in-process callers use [`run`].
pub fn main(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Ics { command: IcsCommand::Check(args) }
            if crate::ics_check::reads_a_file(&args) =>
        {
            let config = load_config(&cli.config_dir)?;
            crate::ics_check::run_on_file(args, &config.import)
        }
        // 8 MiB per worker thread, not tokio's 2: a job's future nests the store, the provider
        // client and the use case, several times larger in a debug build, and a worker that
        // overflows aborts the whole process. Only the pages a thread touches are resident.
        command => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_stack_size(8 * 1024 * 1024)
            .build()
            .context("starting the Tokio runtime")?
            .block_on(run(Cli { command, ..cli })),
    }
}

/// The configuration, with logging set up as it says.
fn load_config(config_dir: &std::path::Path) -> anyhow::Result<Config> {
    let config = Config::load(config_dir)?;
    crate::telemetry::init(config.log_format, &config.log)?;
    Ok(config)
}

/// Runs the command line; errors become one line on stderr and a non-zero exit in `main`.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = load_config(&cli.config_dir)?;
    match cli.command {
        Command::Serve { role, no_demo } => {
            let config = Config { demo_tenant: config.demo_tenant && !no_demo, ..config };
            serve(config, role).await
        }
        Command::Migrate => {
            app::connect(&config).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Tenant { command } => tenant(config, command).await,
        Command::DashboardLink { tenant_id, json } => {
            dashboard_link(config, &tenant_id, json).await
        }
        Command::Ics { command: IcsCommand::Check(args) } => {
            crate::ics_check::run(args, &config.import).await
        }
        Command::Sandbox { listen } => sandbox(&config, listen).await,
        Command::Config { command: ConfigCommand::Check } => {
            let lines: Vec<String> =
                config.redacted().iter().map(|(key, value)| format!("{key} = {value}")).collect();
            say(lines.join("\n"))?;
            eprintln!("configuration is valid");
            Ok(())
        }
    }
}

/// Serves the sandbox until Ctrl-C; its clients accept Kalends's callbacks at `public_url`.
#[cfg(feature = "sandbox")]
async fn sandbox(config: &Config, listen: std::net::SocketAddr) -> anyhow::Result<()> {
    use kalends_sandbox::{self as sandbox, Endpoints, Sandbox};
    let stop = StopSignals::listen()?;
    let sandbox = Sandbox::new(crate::sandbox::settings(config));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let base = format!("http://{}", listener.local_addr()?);
    eprintln!("Provider sandbox on {base}.");
    print_control_token(&base, &sandbox.control_token(), config.sandbox.token.is_some());
    let endpoints = Endpoints::under(&base);
    eprintln!("Point Kalends at it with:");
    eprintln!("  KALENDS_GOOGLE__CLIENT_ID={}", sandbox::GOOGLE_CLIENT_ID);
    eprintln!("  KALENDS_GOOGLE__CLIENT_SECRET={}", sandbox::GOOGLE_CLIENT_SECRET);
    eprintln!("  KALENDS_GOOGLE__AUTH_URL={}", endpoints.google_auth_url);
    eprintln!("  KALENDS_GOOGLE__TOKEN_URL={}", endpoints.google_token_url);
    eprintln!("  KALENDS_GOOGLE__REVOKE_URL={}", endpoints.google_revoke_url);
    eprintln!("  KALENDS_GOOGLE__API_BASE_URL={}", endpoints.google_api_base_url);
    eprintln!("  KALENDS_GOOGLE__DIRECTORY_BASE_URL={}", endpoints.google_directory_base_url);
    eprintln!("  KALENDS_MICROSOFT__CLIENT_ID={}", sandbox::MICROSOFT_CLIENT_ID);
    eprintln!("  KALENDS_MICROSOFT__CLIENT_SECRET={}", sandbox::MICROSOFT_CLIENT_SECRET);
    eprintln!("  KALENDS_MICROSOFT__AUTHORITY_URL={}", endpoints.microsoft_authority_url);
    eprintln!("  KALENDS_MICROSOFT__GRAPH_BASE_URL={}", endpoints.microsoft_graph_base_url);
    axum::serve(listener, sandbox.router())
        .with_graceful_shutdown(stop.received())
        .await
        .context("sandbox HTTP server")
}

/// Refuses: there is no sandbox in this binary.
#[cfg(not(feature = "sandbox"))]
async fn sandbox(_config: &Config, _listen: std::net::SocketAddr) -> anyhow::Result<()> {
    anyhow::bail!("{}", crate::sandbox::NOT_BUILT_IN)
}

/// Says where the sandbox's control API is and, unless the operator configured it, its token.
fn print_control_token(base: &str, token: &SecretString, configured: bool) {
    if configured {
        eprintln!(
            "  control API: {base}/_control/ (Authorization: Bearer <KALENDS_SANDBOX__TOKEN>)"
        );
    } else {
        eprintln!(
            "  control API: {base}/_control/ (Authorization: Bearer {}; this process only)",
            token.expose_secret()
        );
    }
}

/// A `tenant` command with its arguments checked.
enum TenantAction {
    Create(TenantSettings),
    IssueKey(Uuid),
    RevokeKey(Uuid, Uuid),
}

impl TenantAction {
    /// Checks the arguments, before any database is opened (or, embedded, created).
    fn parse(command: &TenantCommand) -> anyhow::Result<Self> {
        Ok(match command {
            TenantCommand::Create { name, timezone, .. } => {
                let time_zone: TimeZone =
                    timezone.parse().map_err(|e| anyhow::anyhow!("--timezone: {e}"))?;
                anyhow::ensure!(!name.trim().is_empty(), "--name must not be empty");
                let name = name.trim().to_owned();
                Self::Create(TenantSettings { name, time_zone, ..TenantSettings::default() })
            }
            TenantCommand::ApiKey { tenant_id, revoke, .. } => {
                let id: Uuid = tenant_id.parse().context("TENANT_ID must be a UUID")?;
                match revoke {
                    None => Self::IssueKey(id),
                    Some(key_id) => Self::RevokeKey(
                        id,
                        key_id
                            .parse()
                            .with_context(|| format!("--revoke {key_id}: not a key id"))?,
                    ),
                }
            }
        })
    }
}

async fn tenant(config: Config, command: TenantCommand) -> anyhow::Result<()> {
    let action = TenantAction::parse(&command)?;
    let json = match command {
        TenantCommand::Create { json, .. } | TenantCommand::ApiKey { json, .. } => json,
    };
    let (store, _queue) = app::connect(&config).await?;
    let (tenant_id, heading, key) = match action {
        TenantAction::Create(settings) => {
            let (tenant, key) = tenants::create(&store, settings).await?;
            (tenant.id, "Tenant created.", key)
        }
        TenantAction::IssueKey(id) | TenantAction::RevokeKey(id, _) => {
            match store.tenant(id).await {
                Err(kalends_store::StoreError::NotFound) => anyhow::bail!("no tenant with id {id}"),
                other => other?,
            };
            if let TenantAction::RevokeKey(_, key_id) = action {
                let result = revoke_key(&store, id, key_id, json).await;
                store.close().await;
                return result;
            }
            (id, "API key created.", tenants::issue_api_key(&store, id).await?)
        }
    };
    store.close().await;
    print_key(tenant_id, &key, json, heading).with_context(|| {
        format!(
            "the new API key could not be shown (it is stored only as a hash): mint another with \
             `kalends tenant api-key {tenant_id}`"
        )
    })
}

async fn dashboard_link(config: Config, tenant_id: &str, json: bool) -> anyhow::Result<()> {
    let id: Uuid = tenant_id.parse().context("TENANT_ID must be a UUID")?;
    let (store, _queue) = app::connect(&config).await?;
    let link = mint_dashboard_link(&config, &store, id).await;
    store.close().await;
    let link = link?;
    if json {
        say(serde_json::json!({"url": link.url, "expires_at": link.expires_at}))?;
    } else {
        say(&link.url)?;
        eprintln!("Open it within {} minutes; it works once.", config.dashboard.link_minutes);
    }
    Ok(())
}

/// Writes `text` and a line end to standard output, flushed: a failure to (a full disk, a closed
/// pipe) is an error saying so, never a panic.
fn say(text: impl std::fmt::Display) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").and_then(|()| out.flush()).context("writing to standard output")
}

/// A one-time console link for the tenant, signed with the current secret key.
async fn mint_dashboard_link(
    config: &Config,
    store: &Store,
    tenant_id: Uuid,
) -> anyhow::Result<DashboardLink> {
    let (keys, _) = config.secret_keys()?;
    let lifetime = chrono::Duration::minutes(i64::from(config.dashboard.link_minutes));
    let public = config.public_base();
    match dashboard::link(store, keys.current(), public, tenant_id, lifetime).await {
        Err(kalends_store::StoreError::NotFound) => anyhow::bail!("no tenant with id {tenant_id}"),
        other => Ok(other?),
    }
}

/// Revokes the tenant's key `key_id` (even its last active one: an operator can mint another)
/// and prints one line or one JSON object.
async fn revoke_key(
    store: &Store,
    tenant_id: Uuid,
    key_id: Uuid,
    json: bool,
) -> anyhow::Result<()> {
    let revoked_at = match tenants::revoke_api_key(store, tenant_id, key_id, false).await {
        Ok(Revocation::Revoked(at)) => at,
        Ok(Revocation::LastActiveKey) => anyhow::bail!("API key {key_id} is the last active key"),
        Err(kalends_store::StoreError::NotFound) => {
            anyhow::bail!("tenant {tenant_id} has no API key {key_id}")
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        say(
            serde_json::json!({"tenant_id": tenant_id, "api_key_id": key_id, "revoked_at": revoked_at}),
        )
    } else {
        say(format!(
            "API key {key_id} of tenant {tenant_id} revoked at {}.",
            revoked_at.to_rfc3339()
        ))
    }
}

fn print_key(tenant_id: Uuid, key: &SecretString, json: bool, heading: &str) -> anyhow::Result<()> {
    if json {
        say(serde_json::json!({"tenant_id": tenant_id, "api_key": key.expose_secret()}))
    } else {
        say(format!(
            "{heading}\n  tenant id: {tenant_id}\n  API key:   {} (shown once: store it now)",
            key.expose_secret()
        ))
    }
}

async fn serve(config: Config, role: Role) -> anyhow::Result<()> {
    // Before anything is written (secret key, database): a refusal leaves no trace.
    crate::sandbox::refuse_if_missing(&config)?;
    match config.secret_key()?.1 {
        SecretKeySource::Generated(path) => tracing::warn!(
            path = %path.display(),
            "KALENDS_SECRET_KEY is not set: generated a secret key into this file; keep it (losing it invalidates links and sealed tokens) and set KALENDS_SECRET_KEY in production"
        ),
        SecretKeySource::File(path) => {
            tracing::info!(path = %path.display(), "using the secret key generated earlier")
        }
        SecretKeySource::Configured => {}
    }
    let (store, queue) = app::connect(&config).await?;
    // From here on a stop waits for the start (and a first run's demo) to finish, then is
    // graceful; before, while the database may keep it waiting, it ends the process at once.
    let stop = StopSignals::listen()?;
    let public = config.public_base().to_owned();
    let token_configured = config.sandbox.token.is_some();
    let config_for_links = config.clone();
    let running = app::start(config, role, store.clone(), queue.clone()).await?;
    // Only once it listens: a first start that cannot (its port taken) creates nothing, and
    // the next start is the first run, showing the demo's key.
    let demo = demo_tenant(&config_for_links, &store).await?;
    tracing::info!(addr = ?running.addr, ?role, database = ?store.kind(), queue = queue.backend_name(), "Kalends started");
    if let Some(token) = &running.sandbox_token {
        eprintln!("Provider sandbox at {public}/sandbox (a development tool).");
        print_control_token(&format!("{public}/sandbox"), token, token_configured);
    }
    if let (Some((tenant, key)), Some(_)) = (demo, running.addr) {
        let url = format!("{public}/sandbox");
        let sandbox = running
            .sandbox_token
            .as_ref()
            .map(|control_token| crate::demo::DemoSandbox { url: &url, control_token });
        let (keys, _) = config_for_links.secret_keys()?;
        let ann = crate::demo::STAFF_EMAIL;
        crate::demo::seed(&store, &tenant, keys.current(), &key, sandbox, ann).await?;
        let link = mint_dashboard_link(&config_for_links, &store, tenant.id).await?;
        if let Err(e) = print_welcome(&public, tenant.id, &key, &link) {
            // Serving goes on; the key is stored only as a hash, so say how to get another.
            tracing::warn!(error = %format!("{e:#}"), tenant_id = %tenant.id, "the welcome with the Demo tenant's API key could not be printed: `kalends tenant api-key` mints another");
        }
    }
    let shutdown = running.shutdown.clone();
    tokio::spawn(async move {
        stop.received().await;
        tracing::info!("shutting down: no new requests; letting running jobs finish");
        shutdown.cancel();
    });
    running.wait().await?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// On the first start of an empty embedded database, a tenant to try things with.
async fn demo_tenant(
    config: &Config,
    store: &Store,
) -> anyhow::Result<Option<(Tenant, SecretString)>> {
    if !config.demo_tenant
        || !matches!(store.pool(), Pool::Sqlite { .. })
        || store.count_tenants().await? > 0
    {
        return Ok(None);
    }
    let settings = TenantSettings { name: "Demo".into(), ..TenantSettings::default() };
    let (tenant, key) = tenants::create(store, settings).await?;
    tracing::info!(tenant_id = %tenant.id, "created the Demo tenant on this empty database");
    Ok(Some((tenant, key)))
}

fn print_welcome(
    public: &str,
    tenant_id: Uuid,
    key: &SecretString,
    console: &DashboardLink,
) -> anyhow::Result<()> {
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).format("%Y-%m-%d");
    say(format!(
        "\nKalends is running. A \"Demo\" tenant with sample properties, bookings, a feed, an\
         \nAirbnb import and one conflict was created on this empty database (--no-demo: none).\n\
         \n  Console:  {console}\
         \n            (opens the Demo tenant's dashboard; the link works once, for {minutes} minutes:\
         \n             `kalends dashboard-link {tenant_id}` makes another)\
         \n  API:      {public}/api/v1  (OpenAPI: {public}/api/v1/openapi.json)\
         \n  API key:  {key}  (shown once: store it now)\n\
         \nCreate a booking:\n\n  curl -sS -X PUT {public}/api/v1/bookings/by-external-id/demo-1 \\\n    -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n    -d '{{\"title\": \"First booking\", \"start\": \"{tomorrow}T10:00:00Z\", \"end\": \"{tomorrow}T11:00:00Z\", \"time_zone\": \"UTC\"}}'\n",
        key = key.expose_secret(),
        console = console.url,
        minutes = (console.expires_at - chrono::Utc::now()).num_minutes() + 1,
    ))
}

/// Ctrl-C and SIGTERM, listened for from the moment this is made (on Unix; elsewhere Ctrl-C
/// from the moment it is awaited). A signal that comes before anything awaits it (a supervisor
/// stopping a process that has just printed its welcome) is kept for
/// [`StopSignals::received`], not met by the default action that ends the process at once,
/// unclean.
struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn listen() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt()).context("listening for SIGINT")?,
                terminate: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Returns once either signal came (also when it came before this was called).
    #[cfg_attr(not(unix), allow(unused_mut))]
    async fn received(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        // Give the log line a moment to flush before tasks start reporting.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
