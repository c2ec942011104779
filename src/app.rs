//! Wiring: which parts run in this process (`--role`), and graceful shutdown.
//!
//! | role     | HTTP API | outbox relay | workers |
//! |----------|----------|--------------|---------|
//! | `all`    | yes      | yes (wakes the worker in-process) | yes |
//! | `api`    | yes      | yes (pushes to the queue at once)  | no  |
//! | `worker` | ops only, if `ops_listen` is set | yes (polls) | yes |
//!
//! With `ops_listen` set, every role also serves the operations routes there (`/healthz`,
//! `/readyz` with details, `/metrics`; see [`ops`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::http::StatusCode;
use futures::channel::mpsc;
use kalends_core::Config;
use kalends_core::seal::Sealer;
use kalends_jobs::relay::Relay;
use kalends_jobs::worker::{self, WorkerOptions};
use kalends_jobs::{JobQueue, KalendsJobs, RetryPolicy, SealedTokenStore};
use kalends_providers::limits::Budgets;
use kalends_providers::session::Credentials;
use kalends_service::customer_mail::CustomerMail;
use kalends_service::importer::Importer;
use kalends_store::Store;
use secrecy::{ExposeSecret as _, SecretBox, SecretString};
use tokio_util::sync::CancellationToken;
use tower_http::timeout::TimeoutLayer;

use crate::api;
use crate::ops;
use crate::state::AppState;
use crate::supervisor::Supervisor;

/// Which parts of Kalends this process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// API, relay and workers in one process (the embedded default).
    All,
    /// HTTP API and outbox relay only.
    Api,
    /// Workers and outbox relay only.
    Worker,
}

/// Connects the store and the queue and applies both sets of migrations.
pub async fn connect(config: &Config) -> anyhow::Result<(Store, JobQueue)> {
    use secrecy::ExposeSecret as _;
    let shown = |url: &secrecy::SecretString| {
        kalends_core::redact::url_password_masked(url.expose_secret())
    };
    let store = Store::connect(&config.database_url, &config.database)
        .await
        .with_context(|| format!("connecting to {}", shown(&config.database_url)))?
        .with_alerts(&config.alerts);
    store.migrate().await.context("applying database migrations")?;
    let queue =
        JobQueue::connect(config, &store, &config.jobs.queue).await.with_context(
            || match &config.redis_url {
                Some(url) => {
                    format!("connecting the job queue at {} (KALENDS_REDIS_URL)", shown(url))
                }
                None => "connecting the job queue".to_owned(),
            },
        )?;
    queue.migrate().await.context("applying job queue migrations")?;
    Ok((store, queue))
}

/// A started Kalends.
#[derive(Debug)]
pub struct Running {
    /// Where the HTTP server listens (none for a worker without `ops_listen`; a worker's is its
    /// operations listener).
    pub addr: Option<SocketAddr>,
    /// Where the operations listener listens, when `ops_listen` is set.
    pub ops_addr: Option<SocketAddr>,
    /// Cancel to shut down gracefully.
    pub shutdown: CancellationToken,
    /// The bearer token of the provider sandbox's control API, when the sandbox is mounted.
    pub sandbox_token: Option<SecretString>,
    tasks: Supervisor,
}

impl Running {
    /// Waits until every part has stopped; the first failure wins. A part that panics is
    /// logged and started again (see [`Supervisor`]).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.tasks.wait().await
    }

    /// Shuts down gracefully and waits.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }
}

/// The full public HTTP router: API plus the public operations endpoints, with request metrics
/// and each request's client address (see [`crate::client_addr`]).
pub fn router(state: AppState) -> Router {
    api::router()
        .merge(crate::feeds::router())
        .merge(crate::widget::router())
        .merge(crate::pages::router())
        .merge(api::invites::public_router())
        .merge(crate::webhooks::router(state.config.webhooks.rate_limit_per_minute))
        .merge(ops::public_router(&state.config))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::client_addr::remember))
        .layer(axum::middleware::from_fn(ops::track))
        .layer(axum::middleware::map_response_with_state(
            state.clone(),
            crate::pages::strict_transport,
        ))
        .with_state(state)
}

/// The operations listener's router, with request metrics.
fn ops_app(state: AppState) -> Router {
    ops::ops_router().layer(axum::middleware::from_fn(ops::track)).with_state(state)
}

/// Every request, its body included, must be answered within `timeout` (408 otherwise; the
/// API's as problem+json, as its every error).
fn with_request_timeout(app: Router, timeout: Duration) -> Router {
    app.layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(axum::middleware::from_fn(api::error::timeouts_as_problems))
}

/// Keeps the SQLite write-ahead log short, off the request path.
async fn checkpoints(store: Store, shutdown: CancellationToken) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = store.checkpoint().await {
                    tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
                }
            }
            () = shutdown.cancelled() => return store.checkpoint().await.map_err(Into::into),
        }
    }
}

/// Starts the parts of `role` on an already connected store and queue.
pub async fn start(
    config: Config,
    role: Role,
    store: Store,
    queue: JobQueue,
) -> anyhow::Result<Running> {
    ops::metrics_handle();
    let config = Arc::new(config);
    let shutdown = CancellationToken::new();
    let mut tasks = Supervisor::new(shutdown.clone());
    let state = app_state(config.clone(), store, queue, shutdown.clone())?;
    // Workers talk to the sandbox of the API node; only a process serving the API mounts one.
    let sandbox =
        if role == Role::Worker { None } else { crate::sandbox::mount(&config, &state.providers) };
    let webhooks = kalends_jobs::deliver_webhook::WebhookSender::new(&config.webhooks)?;
    spawn_background(&mut tasks, role, &state, webhooks, &shutdown);
    let ops_addr = match ops_listen_addr(&config)? {
        Some(listen) => {
            let app = ops_app(state.clone());
            Some(
                spawn_http(&mut tasks, &config, listen, app, &shutdown, "KALENDS_OPS_LISTEN")
                    .await?,
            )
        }
        None => None,
    };
    let addr = if role == Role::Worker {
        ops_addr
    } else {
        let app = crate::sandbox::nest(router(state), sandbox.as_ref());
        let listen = config.listen_addr()?;
        Some(spawn_http(&mut tasks, &config, listen, app, &shutdown, "KALENDS_LISTEN").await?)
    };
    let sandbox_token = sandbox.map(|sandbox| sandbox.control_token);
    Ok(Running { addr, ops_addr, shutdown, sandbox_token, tasks })
}

/// Kalends's own address, when its public URL names one by IP (`http://127.0.0.1:8080`, the
/// embedded default): imports may read Kalends's own feeds and its sandbox's demo export there.
fn own_address(config: &Config) -> Option<std::net::SocketAddr> {
    let url = url::Url::parse(config.public_base()).ok()?;
    let ip: std::net::IpAddr = url.host_str()?.trim_matches(['[', ']']).parse().ok()?;
    Some(std::net::SocketAddr::new(ip, url.port_or_known_default()?))
}

/// What every part of the process shares: the store and queue, keys, provider clients with
/// their request budgets, customer e-mail and the feed importer. The API serves from it and the
/// job handler is built from it.
fn app_state(
    config: Arc<Config>,
    store: Store,
    queue: JobQueue,
    shutdown: CancellationToken,
) -> anyhow::Result<AppState> {
    let secret_key = Arc::new(config.secret_keys()?.0);
    let sealer = Sealer::new(secret_key.current(), secret_key.previous());
    let providers = Arc::new(crate::sandbox::providers(&config)?);
    let budgets = Budgets {
        google_per_account: config.sync.google_requests_per_minute_per_account,
        google_per_project: config.sync.google_requests_per_minute,
        microsoft_per_account: config.sync.microsoft_requests_per_minute_per_account,
        microsoft_per_project: config.sync.microsoft_requests_per_minute,
    };
    let tokens = Arc::new(SealedTokenStore::new(store.clone(), sealer.clone()));
    let credentials = Credentials::new(tokens, providers.clone());
    // On Redis every process shares the budgets; otherwise each has its own.
    let credentials = match queue.redis() {
        Some(redis) => credentials.with_shared_budgets(budgets, redis, queue.name()),
        None => credentials.with_budgets(budgets),
    };
    // E-mails only sign links, with the current key.
    let signing_key = Arc::new(SecretBox::new(Box::new(*secret_key.current().expose_secret())));
    let customer_mail = CustomerMail::from_config(&config, signing_key)
        .map_err(|e| anyhow::anyhow!("customer e-mail: {e}"))?;
    let importer = Importer::beside(store.clone(), &config.import, own_address(&config))
        .context("the feed importer")?
        .with_alerts(&config.alerts);
    Ok(AppState {
        feed_limiter: Arc::new(crate::public_http::FeedLimiter::new(
            config.feeds.rate_limit_per_minute,
        )),
        feed_cache: Arc::new(crate::feed_cache::FeedCache::new(
            Duration::from_millis(config.feeds.validator_ttl_ms),
            config.feeds.body_cache_mib as usize * 1024 * 1024,
            config.feeds.event_cache_mib as usize * 1024 * 1024,
        )),
        widget_limiter: Arc::new(crate::public_http::FeedLimiter::new(
            config.widget.rate_limit_per_minute,
        )),
        widget_cache: Arc::new(crate::feed_cache::Recent::new(Duration::from_millis(
            config.feeds.validator_ttl_ms,
        ))),
        store,
        queue,
        config,
        secret_key,
        importer,
        sealer,
        providers,
        credentials,
        customer_mail,
        shutdown,
    })
}

/// The outbox relay, and for a role that runs jobs the worker, the scheduler and the wake-up
/// subscription; on SQLite, the WAL checkpoints.
fn spawn_background(
    tasks: &mut Supervisor,
    role: Role,
    state: &AppState,
    webhook_sender: kalends_jobs::deliver_webhook::WebhookSender,
    shutdown: &CancellationToken,
) {
    let (config, store, queue) = (&state.config, &state.store, &state.queue);
    let interval = Duration::from_millis(config.jobs.relay_interval_ms);
    let mut relay = Relay::new(store.clone(), queue.clone(), interval);
    if role != Role::Api {
        let (wake, woken) = mpsc::channel(1);
        relay = relay.waking(wake.clone());
        // Jobs pushed by other processes (an API node's relay) wake this worker too.
        let (pushed, token) = (queue.clone(), shutdown.clone());
        tasks.spawn("wake-up subscription", move || {
            let (pushed, wake, token) = (pushed.clone(), wake.clone(), token.clone());
            async move {
                pushed.wake_on_new_jobs(wake, token).await;
                Ok(())
            }
        });
        let state = state.clone();
        spawn_workers(tasks, config, store, queue, woken, shutdown.clone(), move || {
            KalendsJobs::new(
                state.store.clone(),
                state.sealer.clone(),
                state.importer.clone(),
                state.customer_mail.clone(),
                state.credentials.clone(),
                state.config.public_url.clone(),
            )
            .with_webhooks(webhook_sender.clone())
            .with_checklists(&state.config.checklists, &state.config.alerts)
            .with_import_interval(chrono::Duration::minutes(i64::from(
                state.config.sync.import_interval_minutes,
            )))
        });
    }
    if role != Role::Worker {
        // Changes told by any process (on Redis or PostgreSQL) reach this process's open consoles.
        let (heard, token) = (queue.clone(), shutdown.clone());
        tasks.spawn("change news", move || {
            let (heard, token) = (heard.clone(), token.clone());
            async move {
                heard.hear_changes(token).await;
                Ok(())
            }
        });
    }
    let token = shutdown.clone();
    tasks.spawn("outbox relay", move || {
        let (relay, token) = (relay.clone(), token.clone());
        async move {
            relay.run(token).await;
            Ok(())
        }
    });
    if store.kind() == kalends_core::config::DatabaseKind::Sqlite {
        let (store, token) = (store.clone(), shutdown.clone());
        tasks.spawn("WAL checkpoints", move || checkpoints(store.clone(), token.clone()));
    }
}

/// The operations listener's address, when `ops_listen` is set.
fn ops_listen_addr(config: &Config) -> anyhow::Result<Option<SocketAddr>> {
    config.ops_listen.as_deref().map(str::parse).transpose().context("KALENDS_OPS_LISTEN")
}

/// Binds `listen` (set by the variable `key`) and serves `app` there (with the request time
/// limit and the connection limits of [`crate::server`]) until shutdown. Returns the bound
/// address.
async fn spawn_http(
    tasks: &mut Supervisor,
    config: &Config,
    listen: SocketAddr,
    app: Router,
    shutdown: &CancellationToken,
    key: &str,
) -> anyhow::Result<SocketAddr> {
    let app = with_request_timeout(app, Duration::from_secs(config.http.request_timeout_secs));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen} ({key})"))?;
    let addr = listener.local_addr()?;
    let listener = Arc::new(listener.into_std()?);
    let (token, limits) = (shutdown.clone(), crate::server::Limits::from_config(&config.http));
    tasks.spawn("HTTP server", move || {
        let (listener, app, token) = (listener.clone(), app.clone(), token.clone());
        async move {
            let listener = tokio::net::TcpListener::from_std(listener.try_clone()?)?;
            crate::server::serve(listener, app, limits, token).await.context("HTTP server")
        }
    });
    Ok(addr)
}

/// The job worker and the scheduler of due work. `handler` builds the job handler anew for each
/// (re)start of the worker.
fn spawn_workers(
    tasks: &mut Supervisor,
    config: &Config,
    store: &Store,
    queue: &JobQueue,
    woken: mpsc::Receiver<()>,
    shutdown: CancellationToken,
    handler: impl Fn() -> KalendsJobs + Send + Sync + 'static,
) {
    let options = WorkerOptions {
        name: format!(
            "kalends-{}-{}",
            std::process::id(),
            &uuid::Uuid::now_v7().simple().to_string()[24..]
        ),
        concurrency: config.jobs.concurrency,
        poll_interval: Duration::from_millis(config.jobs.poll_interval_ms),
        shutdown_timeout: Duration::from_secs(config.jobs.shutdown_timeout_secs),
        retry: RetryPolicy::from_config(&config.jobs),
    };
    let schedule = kalends_jobs::scheduler::Schedule {
        interval: Duration::from_secs(config.import.scheduler_interval_secs),
        calendar_interval: config.sync.import_interval(),
        stale_claim_after: Duration::from_secs(config.mail.stale_claim_secs),
        drift_check: Duration::from_secs(config.sync.drift_check_secs),
        history: kalends_jobs::scheduler::History {
            max_age: Duration::from_secs(u64::from(config.history.max_age_days) * 86_400),
            max_per_item: config.history.max_per_item,
            max_job_failures: config.history.max_job_failures,
            every: Duration::from_secs(config.history.prune_interval_secs),
        },
    };
    let (scheduled, token) = (store.clone(), shutdown.clone());
    tasks.spawn("scheduler", move || {
        let (scheduled, token) = (scheduled.clone(), token.clone());
        async move {
            kalends_jobs::scheduler::run(scheduled, schedule, token).await;
            Ok(())
        }
    });
    // The in-process wake-ups go to the first run; a worker started again after a panic finds
    // new jobs by polling (every `poll_interval`).
    let woken = Arc::new(std::sync::Mutex::new(Some(woken)));
    let (store, queue) = (store.clone(), queue.clone());
    tasks.spawn("job worker", move || {
        let wake = woken.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        let (queue, store, handler) = (queue.clone(), store.clone(), handler());
        let (options, token) = (options.clone(), shutdown.clone());
        async move {
            worker::run(queue, store, handler, wake, options, token).await.context("job worker")
        }
    });
}
