//! Import cycle benchmark: many feeds of ~200 events, all due at once, served
//! by a local HTTP server this program starts, imported by real `kalends` processes.
//!
//! - **Feeds** (`/feed/{i}.ics`, Airbnb-shaped all-day events over 540 days): feed `i` with
//!   `i % 20 == 0` (5%) changes 3 of its events before each cycle that asks for changes; of the
//!   others, even ones answer `If-None-Match` with 304 (ETag), odd ones send the same body again
//!   without validators.
//! - **Imports**: one tenant per 20 feeds, one resource per feed (Airbnb and Booking.com imports
//!   alternating), every 30 minutes; written through the store before any worker starts.
//! - **Processes**: on PostgreSQL (`--database-url postgres://...`, an empty database) with Redis
//!   (`--redis-url`): `--workers` (default 2) `kalends serve --role worker` processes, 16 jobs
//!   at a time each. On SQLite (no `--database-url`): one embedded `kalends serve`.
//!
//! Phases, each timed from the moment every import is made due (`next_run_at` set to now) until
//! every one has a new run in its log, with the worker processes' CPU time over it (from
//! `/proc/PID/stat`):
//!
//! 1. **first import**: every feed is new (read and 200 items stored each);
//! 2. **cycle**: 5% of the feeds changed, the rest answer 304 or the same bytes;
//! 3. **unchanged cycle**: no feed changed; the worker CPU divided by the feeds is the cost of an
//!    unchanged feed, scheduling, queue and HTTP included.
//!
//! Then **statements**: one import of each kind (a feed never read before, a changed one, a 304,
//! the same body again) is run in this process (the same `Importer` the workers run), counting
//! the statements sqlx executes (its `sqlx::query` events).
//!
//! ```text
//! cargo build --release --bin kalends --example import_cycle
//! target/release/examples/import_cycle [--feeds 10000] [--events 200] [--workers 2] \
//!     [--database-url postgres://.../empty_db --redis-url redis://...]
//! ```

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{TimeDelta, Utc};
use kalends::app;
use kalends_core::Config;
use kalends_core::domain::{NewImport, NewResource, Owner, Platform, TenantSettings};
use kalends_service::importer::Importer;
use secrecy::SecretString;
use tokio::process::{Child, Command};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::{Layer as _, filter};
use uuid::Uuid;

#[path = "common/cpu.rs"]
mod cpu;
#[path = "common/flags.rs"]
mod flags;

const USAGE: &str = "usage: import_cycle [--feeds 10000] [--events 200] [--workers 2] [--database-url postgres://.../empty_db --redis-url redis://...]";

struct Args {
    feeds: usize,
    events: usize,
    workers: usize,
    database_url: Option<String>,
    redis_url: Option<String>,
}

fn args() -> Args {
    let known = ["--feeds", "--events", "--workers", "--database-url", "--redis-url"];
    let flags = flags::Flags::parse(USAGE, &known);
    Args {
        feeds: flags.number("--feeds").unwrap_or(10_000),
        events: flags.number("--events").unwrap_or(200),
        workers: flags.number("--workers").unwrap_or(2),
        database_url: flags.text("--database-url"),
        redis_url: flags.text("--redis-url"),
    }
}

/// How a feed answers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// Changes a few events before each cycle that asks for changes.
    Changing,
    /// Sends an ETag and answers a matching `If-None-Match` with 304.
    Validators,
    /// Sends the same bytes, without validators.
    SameBody,
}

fn kind(i: usize) -> Kind {
    match i {
        i if i % 20 == 0 => Kind::Changing,
        i if i % 2 == 0 => Kind::Validators,
        _ => Kind::SameBody,
    }
}

/// The feed server's state.
struct Feeds {
    events: usize,
    /// Bumped before a cycle with changes: the changing feeds move 3 events.
    version: AtomicU64,
    ok: AtomicUsize,
    not_modified: AtomicUsize,
}

fn body(i: usize, events: usize, version: u64) -> String {
    // From 60 days ago: most events lie ahead, where imports keep them.
    let start = Utc::now().date_naive() - TimeDelta::days(60 - (i % 7) as i64);
    let mut out = String::with_capacity(events * 260);
    out.push_str(
        "BEGIN:VCALENDAR\nPRODID;X-RICAL-TZSOURCE=TZINFO:-//Airbnb Inc//Hosting Calendar 0.8.8//EN\n\
         CALSCALE:GREGORIAN\nVERSION:2.0\n",
    );
    for j in 0..events {
        // Three events a few months ahead move by a day per version.
        let changes = kind(i) == Kind::Changing && (events / 2..events / 2 + 3).contains(&j);
        let moved = if changes { version as i64 } else { 0 };
        let day = start + TimeDelta::days((j * 540 / events) as i64 + moved);
        let end = day + TimeDelta::days(1 + (j % 3) as i64);
        out.push_str(&format!(
            "BEGIN:VEVENT\nDTEND;VALUE=DATE:{}\nDTSTART;VALUE=DATE:{}\n\
             UID:{i:08x}{j:04x}-1418fb94e984@airbnb.com\n",
            end.format("%Y%m%d"),
            day.format("%Y%m%d")
        ));
        if j % 2 == 0 {
            out.push_str(&format!(
                "DESCRIPTION:Reservation URL: https://www.airbnb.com/hosting/reservations/deta\n \
                 ils/HM{i:04}{j:04}\\nPhone Number (Last 4 Digits): {:04}\nSUMMARY:Reserved\n",
                (i * 7 + j) % 10_000
            ));
        } else {
            out.push_str("SUMMARY:Airbnb (Not available)\n");
        }
        out.push_str("END:VEVENT\n");
    }
    out.push_str("END:VCALENDAR\n");
    out
}

async fn serve_feed(
    State(feeds): State<Arc<Feeds>>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(i) = file.strip_suffix(".ics").and_then(|n| n.parse::<usize>().ok()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let version = feeds.version.load(Ordering::Relaxed);
    let etag = format!("\"feed-{i}\"");
    if kind(i) == Kind::Validators
        && headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        feeds.not_modified.fetch_add(1, Ordering::Relaxed);
        return StatusCode::NOT_MODIFIED.into_response();
    }
    feeds.ok.fetch_add(1, Ordering::Relaxed);
    let mut response = body(i, feeds.events, version).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/calendar; charset=utf-8"));
    if kind(i) == Kind::Validators {
        h.insert(header::ETAG, HeaderValue::from_str(&etag).unwrap());
    }
    response
}

/// Starts the feed server; its base URL.
async fn feed_server(feeds: Arc<Feeds>) -> String {
    let app =
        axum::Router::new().route("/feed/{file}", axum::routing::get(serve_feed)).with_state(feeds);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// The benchmark's own connections to the database the processes work on.
#[derive(Clone)]
enum Db {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

/// How long the benchmark's own statements wait for SQLite's write lock. The `kalends serve`
/// under test holds it for most of a cycle; sqlx's default of 5 s once ended a 10,000-feed run
/// with "database is locked" between two phases.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(120);

impl Db {
    async fn connect(database_url: &str) -> Result<Db, sqlx::Error> {
        if database_url.starts_with("postgres") {
            let pool = sqlx::postgres::PgPoolOptions::new().max_connections(2);
            return Ok(Db::Postgres(pool.connect(database_url).await?));
        }
        let options =
            <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(database_url)?
                .busy_timeout(SQLITE_BUSY_TIMEOUT);
        let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1);
        Ok(Db::Sqlite(pool.connect_with(options).await?))
    }

    /// Makes every import due at `until` (now: due at once).
    async fn imports_due_at(&self, until: chrono::DateTime<Utc>) -> Result<(), sqlx::Error> {
        let sql = "UPDATE imports SET next_run_at = $1";
        match self {
            Db::Postgres(pool) => sqlx::query(sql).bind(until).execute(pool).await.map(drop),
            Db::Sqlite(pool) => sqlx::query(sql).bind(until).execute(pool).await.map(drop),
        }
    }

    /// Runs per outcome, over all imports.
    async fn outcomes(&self) -> Result<HashMap<String, i64>, sqlx::Error> {
        let sql = "SELECT outcome, count(*) FROM import_runs GROUP BY outcome";
        let rows: Vec<(String, i64)> = match self {
            Db::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await?,
            Db::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await?,
        };
        Ok(rows.into_iter().collect())
    }

    /// Imports with a run that started at or after `since`.
    async fn imports_run_since(&self, since: chrono::DateTime<Utc>) -> Result<i64, sqlx::Error> {
        let sql = "SELECT count(DISTINCT import_id) FROM import_runs WHERE started_at >= $1";
        let (n,): (i64,) = match self {
            Db::Postgres(pool) => sqlx::query_as(sql).bind(since).fetch_one(pool).await?,
            Db::Sqlite(pool) => sqlx::query_as(sql).bind(since).fetch_one(pool).await?,
        };
        Ok(n)
    }
}

/// Registers feed `i` (`/feed/{i}.ics`, Airbnb for even `i`, Booking.com for odd) for a new
/// flat of `tenant`, imported every 30 minutes; the import's id.
async fn register(
    store: &kalends_store::Store,
    tenant: &kalends_core::domain::Tenant,
    base: &str,
    i: usize,
) -> Uuid {
    let new = NewResource {
        external_id: None,
        name: format!("Flat {i}"),
        time_zone: None,
        parent_id: None,
    };
    let resource = store.create_resource(tenant.id, new).await.unwrap();
    let new = NewImport {
        owner: Owner::Resource(resource.id),
        platform: if i.is_multiple_of(2) { Platform::Airbnb } else { Platform::BookingCom },
        url: format!("{base}/feed/{i}.ics"),
        name: None,
        interval_minutes: 30,
        settings: Default::default(),
    };
    store.create_import(tenant, new).await.unwrap().id
}

/// The machine's load average over 1 and 5 minutes (the box is shared with other builds).
fn load() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(2).collect::<Vec<_>>().join(", ")
}

fn kalends(args: &Args, database_url: &str, dir: &std::path::Path, queue: &str) -> Command {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(|p| p.parent()).unwrap().join("kalends");
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir)
        .env("KALENDS_DATABASE_URL", database_url)
        .env("KALENDS_JOBS__QUEUE", queue)
        .env("KALENDS_LISTEN", "127.0.0.1:0")
        .env("KALENDS_DATA_DIR", dir)
        .env("KALENDS_CONFIG_DIR", dir.join("none"))
        .env("KALENDS_DEMO_TENANT", "false")
        .env("KALENDS_LOG", "error")
        .env("KALENDS_JOBS__CONCURRENCY", "16")
        .env("KALENDS_DATABASE__MAX_CONNECTIONS", "16")
        .env("KALENDS_IMPORT__ALLOW_PRIVATE_NETWORKS", "true")
        .env("KALENDS_IMPORT__SCHEDULER_INTERVAL_SECS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // A benchmark that ends early (a failure, a panic) leaves no process behind.
        .kill_on_drop(true);
    if let Some(redis) = &args.redis_url {
        cmd.env("KALENDS_REDIS_URL", redis);
    }
    cmd
}

/// Makes every import due now and waits until each has one more run; wall seconds and the
/// processes' CPU seconds. Fails (instead of waiting on) when a process under test ended or
/// the cycle takes more than an hour.
async fn cycle(db: &Db, processes: &mut [Child], feeds: usize) -> anyhow::Result<(f64, f64)> {
    let pids: Vec<u32> = processes.iter().filter_map(Child::id).collect();
    let cpu_before: f64 = pids.iter().map(|&p| cpu::cpu_seconds(p).0).sum();
    let started = Instant::now();
    let since = Utc::now();
    db.imports_due_at(since).await.context("making every import due")?;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let run = db.imports_run_since(since).await.context("counting the imports run")?;
        if run >= feeds as i64 {
            break;
        }
        for process in processes.iter_mut() {
            if let Some(status) = process.try_wait()? {
                anyhow::bail!("a `kalends` process ended ({status}) with {run} of {feeds} run");
            }
        }
        if started.elapsed() > Duration::from_secs(3600) {
            anyhow::bail!("the cycle did not finish within an hour ({run} of {feeds} run)");
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu: f64 = pids.iter().map(|&p| cpu::cpu_seconds(p).0).sum::<f64>() - cpu_before;
    Ok((wall, cpu))
}

/// Counts the statements sqlx runs (its `sqlx::query` events).
#[derive(Clone, Default)]
struct Statements(Arc<AtomicU64>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Statements {
    fn on_event(&self, _: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Ends the benchmark with a message saying which phase failed and why, stopping the processes
/// under test first.
async fn fail(processes: &mut [Child], phase: &str, error: anyhow::Error) -> ! {
    for p in processes.iter_mut() {
        let _ = p.start_kill();
        let _ = p.wait().await;
    }
    eprintln!("import_cycle: FAILED in phase \"{phase}\": {error:#}");
    std::process::exit(1);
}

#[tokio::main]
async fn main() {
    let args = args();
    let statements = Statements::default();
    let only_queries = filter::Targets::new().with_target("sqlx::query", tracing::Level::TRACE);
    let subscriber =
        tracing_subscriber::registry().with(statements.clone().with_filter(only_queries));
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let dir =
        std::env::temp_dir().join(format!("kalends-import-cycle-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let database_url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/kalends.db", dir.display()));
    let backend = match &args.redis_url {
        Some(_) => format!("PostgreSQL + Redis, {} worker processes", args.workers),
        None if database_url.starts_with("postgres") => {
            format!("PostgreSQL, {} worker processes", args.workers)
        }
        None => "SQLite, one embedded `kalends serve`".to_owned(),
    };
    let feeds = Arc::new(Feeds {
        events: args.events,
        version: AtomicU64::new(0),
        ok: AtomicUsize::new(0),
        not_modified: AtomicUsize::new(0),
    });
    let base = feed_server(feeds.clone()).await;

    let mut config = Config {
        database_url: SecretString::from(database_url.clone()),
        data_dir: dir.clone(),
        demo_tenant: false,
        ..Config::default()
    };
    config.import.allow_private_networks = true;
    let (store, _queue) = app::connect(&config).await.unwrap();
    let started = Instant::now();
    let mut imports = Vec::with_capacity(args.feeds);
    let mut tenant = None;
    for i in 0..args.feeds {
        if i % 20 == 0 {
            let settings = TenantSettings { name: format!("Host {i}"), ..Default::default() };
            tenant = Some(store.create_tenant(settings).await.unwrap());
        }
        let tenant = tenant.as_ref().unwrap();
        let import = register(&store, tenant, &base, i).await;
        imports.push((tenant.clone(), import));
    }
    eprintln!(
        "import_cycle: {} imports registered on {backend} in {:.1} s",
        args.feeds,
        started.elapsed().as_secs_f64()
    );

    // Registered imports are due at once; the first phase makes them due itself. A scheduler
    // pass before it would claim each import twice (once now, once for the phase): runs counted
    // twice, and left over into the next phases.
    let db = match Db::connect(&database_url).await {
        Ok(db) => db,
        Err(error) => fail(&mut [], "connecting to the database", error.into()).await,
    };
    if let Err(error) = db.imports_due_at(Utc::now() + TimeDelta::days(1)).await {
        fail(&mut [], "registering the imports", error.into()).await;
    }

    let queue = format!("import-cycle-{}", Uuid::now_v7().simple());
    let mut processes: Vec<Child> = Vec::new();
    if database_url.starts_with("postgres") {
        for _ in 0..args.workers {
            let mut cmd = kalends(&args, &database_url, &dir, &queue);
            processes.push(cmd.args(["serve", "--role", "worker"]).spawn().unwrap());
        }
    } else {
        let mut cmd = kalends(&args, &database_url, &dir, &queue);
        processes.push(cmd.arg("serve").spawn().unwrap());
    }

    let mut rows = Vec::new();
    for (phase, changes) in [
        ("first import (every feed new)", false),
        ("cycle (5% changed)", true),
        ("unchanged cycle", false),
    ] {
        if changes {
            feeds.version.fetch_add(1, Ordering::Relaxed);
        }
        let (ok0, nm0) =
            (feeds.ok.load(Ordering::Relaxed), feeds.not_modified.load(Ordering::Relaxed));
        let measured = async {
            let runs0 = db.outcomes().await.context("counting the runs")?;
            let (wall, cpu) = cycle(&db, &mut processes, args.feeds).await?;
            let runs = db.outcomes().await.context("counting the runs")?;
            anyhow::Ok((runs0, wall, cpu, runs))
        };
        let (runs0, wall, cpu, runs) = match measured.await {
            Ok(measured) => measured,
            Err(error) => fail(&mut processes, phase, error).await,
        };
        let delta = |k: &str| runs.get(k).unwrap_or(&0) - runs0.get(k).unwrap_or(&0);
        let served = (
            feeds.ok.load(Ordering::Relaxed) - ok0,
            feeds.not_modified.load(Ordering::Relaxed) - nm0,
        );
        eprintln!("import_cycle: {phase}: {wall:.1} s, worker CPU {cpu:.1} s");
        rows.push(format!(
            "| {phase} | **{wall:.1} s** | {cpu:.1} s | {:.2} ms | {} 200 / {} 304 | {} ok, {} not modified, {} failed | {} |",
            cpu * 1000.0 / args.feeds as f64,
            served.0,
            served.1,
            delta("ok"),
            delta("not_modified"),
            delta("failed"),
            load(),
        ));
    }
    for mut p in processes {
        let _ = p.start_kill();
        let _ = p.wait().await;
    }

    // Statements per run, in this process: one feed of each kind.
    let importer = Importer::new(store.clone(), &config.import).unwrap();
    feeds.version.fetch_add(1, Ordering::Relaxed);
    let mut counted = Vec::new();
    // A feed never read before, as in the first import: one more flat of the first host.
    let first_host = imports[0].0.clone();
    let new = register(&store, &first_host, &base, args.feeds).await;
    imports.push((first_host, new));
    let new_label = format!("new ({} events)", args.events);
    for (label, i) in [
        (new_label.as_str(), imports.len() - 1),
        ("changed (3 events moved)", 0),
        ("304", 2),
        ("same body, no validators", 1),
    ] {
        let (tenant, import) = &imports[i];
        let before = statements.0.load(Ordering::Relaxed);
        let run = importer.run(tenant.id, *import).await.unwrap();
        let n = statements.0.load(Ordering::Relaxed) - before;
        counted.push(format!(
            "| {label} | {n} | {} (added {}, updated {}, removed {}) |",
            run.outcome.as_str(),
            run.counts.added,
            run.counts.updated,
            run.counts.removed
        ));
    }

    println!(
        "{backend}: {} feeds of {} events, {}",
        args.feeds,
        args.events,
        Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    println!(
        "| phase | wall (all due at once → every import has a new run) | worker CPU | CPU per feed | HTTP answers | runs | load (1, 5 min) at its end |"
    );
    println!("|---|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    println!();
    println!("| one run of a feed that is | statements | outcome |");
    println!("|---|---|---|");
    for row in counted {
        println!("{row}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
