//! Sync benchmark: real `kalends` processes (one `--role api`, two `--role worker`, and the
//! provider sandbox apart, `kalends sandbox`) on PostgreSQL and Redis, staff members connected through the
//! consent pages, then:
//!
//! 1. latency: bookings created at a fixed rate (open loop) for a while, each assigned to one staff
//!    member; latency = the event's `synced_at` (recorded right after the sandbox answered the
//!    insert) minus the moment the client received the booking's 2xx; p50 and p99;
//! 2. throughput: a burst of bookings created as fast as the API takes them; bookings synced per
//!    second = burst / (last `synced_at` - first request);
//!    the API's own rate (the burst over the time its last 2xx arrived) beside it; the CPU
//!    Kalends' own processes spent per booking from the burst's first request to its last sync
//!    (`cpu_ms_per_booking`: the API, the workers, every PostgreSQL backend and Redis, read from
//!    `/proc/PID/stat` and Redis's `INFO cpu`; the sandbox and this program are left out, and
//!    PostgreSQL only when it runs on this machine: `postgres_server_found`); with
//!    `pg_stat_statements` loaded in the server, the statements PostgreSQL ran from the burst's
//!    first request to its last sync, per booking (the top ones on stderr);
//! 3. ceiling: raw event inserts per second from a tight client (16 at a time) straight to the
//!    same sandbox, in the same run;
//! 4. full import: a Google calendar holding `--import-events` events (seeded at the sandbox) is
//!    connected and imported (`POST /api/v1/connections/{id}/sync`); time until every busy time
//!    is stored, and the workers' peak memory (VmHWM) before and after;
//! 5. incremental import: `--import-connections` more staff members are connected (half Google,
//!    half Microsoft, alternating; 8 consent flows at a time), and once the scheduler's pass has
//!    imported each of them (cursor and `last_sync_at` stored) and its push channel or
//!    subscription is saved, one busy event ("Change i") is added to each of those calendars at
//!    the sandbox as its user would (which notifies the channels; Kalends imports each notified
//!    connection a 2 s debounce later); time from the first add until every one of them is stored
//!    in `calendar_busy`; also when the first and the median arrived (their rows' `updated_at`),
//!    each change's own delay (p50, p99), the change listings the sandbox served meanwhile, and
//!    how many of those connections the scheduler claimed meanwhile (0: every import came from a
//!    notification). `0` skips it.
//!
//! With `--replay N`, after the burst, a new staff member with N upcoming bookings connects a
//! Google calendar, then another a Microsoft one (`replays`, one entry each): how long the
//! connect took (its transaction owes a sync of each booking), the time from its start until
//! every booking is in the calendar (at the per-account budget unless `--lift-budgets true`),
//! and how long a booking made for them ten seconds into the replay took to reach the
//! calendar. With `--quota Q` as well, the sandbox answers 429 to a user's calendar requests
//! over Q a minute (ten seconds' worth at once, then its pace) and Kalends' per-account budgets
//! are Q too: each entry also has the least time the quota allows, the requests admitted and
//! answered 429, and the events in the calendar (each booking once: nothing lost or doubled).
//!
//! With `--database-url sqlite://...` (and no Redis) it runs Kalends embedded instead, one
//! process doing all of it, and measures phases 1-3 only.
//!
//! With `--rooms true` each staff member also has a room (a resource), and each booking names
//! its staff member's room as well: the path of a salon's or a rental's bookings, where a
//! write also checks and locks the resource.
//!
//! With `--workers 0` (PostgreSQL) no worker runs: phase 2 then measures only how fast the API
//! takes the burst (`api_created_per_s`; nothing is synced), the ceiling of the booking system's
//! side on this machine, and phases 1, 4 and 5 are skipped.
//!
//! ```text
//! cargo build --release && cargo run --release --example sync_load -- \
//!     --database-url postgres://.../empty_db --redis-url redis://... [--rate 50] [--seconds 60] [--staff 20] \
//!     [--burst 2000] [--import-events 10000] [--import-connections 1000] [--lift-budgets true] \
//!     [--workers 2] [--rooms true] [--replay 5000 [--quota 6000]]
//! ```

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use uuid::Uuid;

#[path = "common/cpu.rs"]
mod cpu;
#[path = "common/flags.rs"]
mod flags;

const USAGE: &str = "usage: sync_load --database-url postgres://.../empty_db --redis-url redis://... [--rate 50] [--seconds 60] [--staff 20] [--burst 2000] [--import-events 10000] [--import-connections 1000] [--lift-budgets true] [--workers 2] [--rooms true] [--replay 0] [--quota 0] [--sandbox-bin PATH]";

struct Args {
    database_url: String,
    redis_url: String,
    rate: u64,
    seconds: u64,
    staff: usize,
    burst: usize,
    import_events: usize,
    /// Connections that each get one change in phase 5 (0: skipped).
    import_connections: usize,
    /// Lift the per-account request budgets, to see the pipeline's own throughput.
    lift_budgets: bool,
    /// Worker processes beside the API (PostgreSQL); 0 measures the API alone.
    workers: usize,
    /// A room per staff member, named by each of their bookings.
    rooms: bool,
    /// Upcoming bookings of a staff member who connects afterwards (0: skipped).
    replay: usize,
    /// The per-user quota the sandbox enforces during the replay, and Kalends' per-account
    /// budgets (requests a minute; 0: none, and the budgets as configured).
    quota: u32,
    /// The `kalends` binary whose provider sandbox runs (default: the one beside this one), so
    /// that an older Kalends can be measured against the same sandbox.
    sandbox_bin: Option<String>,
}

fn args() -> Args {
    let known = [
        "--database-url",
        "--redis-url",
        "--rate",
        "--seconds",
        "--staff",
        "--burst",
        "--import-events",
        "--import-connections",
        "--lift-budgets",
        "--workers",
        "--rooms",
        "--replay",
        "--quota",
        "--sandbox-bin",
    ];
    let flags = flags::Flags::parse(USAGE, &known);
    let args = Args {
        database_url: flags.required("--database-url"),
        redis_url: flags.text("--redis-url").unwrap_or_default(),
        rate: flags.number("--rate").unwrap_or(50),
        seconds: flags.number("--seconds").unwrap_or(60),
        staff: flags.number("--staff").unwrap_or(20),
        burst: flags.number("--burst").unwrap_or(2000),
        import_events: flags.number("--import-events").unwrap_or(10_000),
        import_connections: flags.number("--import-connections").unwrap_or(1000),
        lift_budgets: flags.number("--lift-budgets").unwrap_or(false),
        workers: flags.number("--workers").unwrap_or(2),
        rooms: flags.number("--rooms").unwrap_or(false),
        replay: flags.number("--replay").unwrap_or(0),
        quota: flags.number("--quota").unwrap_or(0),
        sandbox_bin: flags.text("--sandbox-bin"),
    };
    let sqlite = args.database_url.starts_with("sqlite");
    if !sqlite && !args.database_url.starts_with("postgres") {
        flags.refuse("--database-url is a postgres://... or sqlite://... URL".to_owned());
    }
    if !sqlite && args.redis_url.is_empty() {
        flags.refuse("--redis-url is required on PostgreSQL".to_owned());
    }
    if sqlite && flags.text("--workers").is_some() {
        flags.refuse("--workers is for PostgreSQL (SQLite runs one embedded process)".to_owned());
    }
    args
}

/// The sandbox's address (its own process: its CPU is not Kalends').
fn sandbox() -> &'static str {
    SANDBOX.get().expect("the sandbox is started first")
}

static SANDBOX: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The token of the sandbox's control API, the same for every process of this run.
fn sandbox_token() -> &'static str {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN.get_or_init(|| format!("sync-load-{}", Uuid::now_v7().simple()))
}

/// A client that sends the sandbox's control token (API calls set their own key).
fn client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let bearer = format!("Bearer {}", sandbox_token());
    headers.insert(reqwest::header::AUTHORIZATION, bearer.parse().unwrap());
    reqwest::Client::builder().default_headers(headers).build().unwrap()
}

fn kalends(args: &Args, dir: &std::path::Path, port: u16, queue: &str) -> Command {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(|p| p.parent()).unwrap().join("kalends");
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir)
        .env("KALENDS_DATABASE_URL", &args.database_url)
        .env("KALENDS_JOBS__QUEUE", queue)
        .env("KALENDS_LISTEN", format!("127.0.0.1:{port}"))
        .env("KALENDS_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("KALENDS_CONFIG_DIR", dir.join("none"))
        .env("KALENDS_DEMO_TENANT", "false")
        // The sandbox runs apart (`start_sandbox`): these processes are Kalends alone.
        .env("KALENDS_SANDBOX__ENABLED", "false")
        .envs(SANDBOX_SETTINGS.get().expect("the sandbox is started first").iter().cloned())
        .env("KALENDS_LOG", "warn")
        .env("KALENDS_JOBS__CONCURRENCY", "16")
        .env("KALENDS_DATABASE__MAX_CONNECTIONS", "16")
        // Only the sync is measured: imports and renewals stay out of the way.
        .env("KALENDS_IMPORT__SCHEDULER_INTERVAL_SECS", "300")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    if !args.redis_url.is_empty() {
        cmd.env("KALENDS_REDIS_URL", &args.redis_url);
    }
    if args.lift_budgets {
        for key in [
            "KALENDS_SYNC__GOOGLE_REQUESTS_PER_MINUTE_PER_ACCOUNT",
            "KALENDS_SYNC__GOOGLE_REQUESTS_PER_MINUTE",
            "KALENDS_SYNC__MICROSOFT_REQUESTS_PER_MINUTE_PER_ACCOUNT",
            "KALENDS_SYNC__MICROSOFT_REQUESTS_PER_MINUTE",
        ] {
            cmd.env(key, "1000000");
        }
    }
    if args.quota > 0 {
        for key in [
            "KALENDS_SYNC__GOOGLE_REQUESTS_PER_MINUTE_PER_ACCOUNT",
            "KALENDS_SYNC__MICROSOFT_REQUESTS_PER_MINUTE_PER_ACCOUNT",
        ] {
            cmd.env(key, args.quota.to_string());
        }
    }
    cmd
}

/// The settings that point Kalends at the sandbox (`KALENDS_GOOGLE__TOKEN_URL`, ...).
static SANDBOX_SETTINGS: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();

/// Starts `kalends sandbox` (of `bin`, or the `kalends` beside this example) on a port of its
/// own, for a Kalends at `public_url`, and reads
/// the settings it prints for Kalends (into [`SANDBOX_SETTINGS`], its address into
/// [`SANDBOX`]).
async fn start_sandbox(dir: &std::path::Path, public_url: &str, bin: Option<&str>) -> Child {
    use tokio::io::AsyncBufReadExt as _;
    let exe = std::env::current_exe().unwrap();
    let beside = exe.parent().and_then(|p| p.parent()).unwrap().join("kalends");
    let bin = bin.map_or(beside, std::path::PathBuf::from);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(bin)
        .current_dir(dir)
        .args(["sandbox", "--listen", &format!("127.0.0.1:{port}")])
        .env("KALENDS_PUBLIC_URL", public_url)
        .env("KALENDS_CONFIG_DIR", dir.join("none"))
        .env("KALENDS_SANDBOX__TOKEN", sandbox_token())
        .env("KALENDS_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut settings = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some((key, value)) = line.trim().split_once('=')
            && key.starts_with("KALENDS_")
        {
            settings.push((key.to_owned(), value.to_owned()));
            if key == "KALENDS_MICROSOFT__GRAPH_BASE_URL" {
                break;
            }
        }
    }
    assert!(settings.len() >= 5, "`kalends sandbox` printed no settings: {settings:?}");
    // Keep reading, or the sandbox would block on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    SANDBOX_SETTINGS.set(settings).unwrap();
    SANDBOX.set(format!("http://127.0.0.1:{port}")).unwrap();
    child
}

/// CPU seconds Kalends' own processes have used so far: the API process (SQLite: the one
/// embedded process), the workers, the PostgreSQL server (every backend) and Redis.
#[derive(Clone, Copy, Debug, Default)]
struct KalendsCpu {
    api: f64,
    workers: f64,
    postgres: f64,
    redis: f64,
}

impl KalendsCpu {
    async fn read(pids: &[u32], postmaster: Option<u32>, redis_url: &str) -> Self {
        let own = |pid: &u32| cpu::cpu_seconds(*pid).0;
        let postgres = postmaster.map_or(0.0, |pid| {
            let (own, waited) = cpu::cpu_seconds(pid);
            own + waited + cpu::children(pid).iter().map(|c| cpu::cpu_seconds(*c).0).sum::<f64>()
        });
        Self {
            api: pids.first().map_or(0.0, own),
            workers: pids.iter().skip(1).map(own).sum(),
            postgres,
            redis: if redis_url.is_empty() { 0.0 } else { redis_cpu(redis_url).await },
        }
    }

    /// Milliseconds per booking since `before`, by part and in all.
    fn per_booking(self, before: Self, bookings: usize) -> Value {
        let ms = |after: f64, before: f64| (after - before) * 1000.0 / bookings as f64;
        let parts = [
            ("api", ms(self.api, before.api)),
            ("workers", ms(self.workers, before.workers)),
            ("postgres", ms(self.postgres, before.postgres)),
            ("redis", ms(self.redis, before.redis)),
        ];
        let total: f64 = parts.iter().map(|(_, v)| v).sum();
        let mut out = serde_json::Map::new();
        out.insert("total".into(), total.into());
        for (name, value) in parts {
            out.insert(name.into(), value.into());
        }
        Value::Object(out)
    }
}

/// The PostgreSQL server's main process (postmaster), from its data directory's
/// `postmaster.pid` (the server must run on this machine).
async fn postmaster(pool: &sqlx::PgPool) -> Option<u32> {
    let (dir,): (String,) =
        sqlx::query_as("SELECT setting FROM pg_settings WHERE name = 'data_directory'")
            .fetch_one(pool)
            .await
            .ok()?;
    let pid = std::fs::read_to_string(format!("{dir}/postmaster.pid")).ok()?;
    pid.lines().next()?.trim().parse().ok()
}

/// CPU seconds Redis has used so far (`INFO cpu`: user and system, its children's included).
async fn redis_cpu(url: &str) -> f64 {
    let client = redis::Client::open(url).expect("a Redis URL");
    let mut connection = client.get_multiplexed_async_connection().await.expect("Redis answers");
    let info: String = redis::cmd("INFO").arg("cpu").query_async(&mut connection).await.unwrap();
    info.lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(key, _)| key.starts_with("used_cpu_") && !key.contains("main_thread"))
        .filter_map(|(_, value)| value.trim().parse::<f64>().ok())
        .sum()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Sends `request` and reads the JSON answer.
async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// Creates a staff member and connects their calendar through the sandbox's consent page.
async fn connect(base: &str, key: &str, name: &str, provider: &str) {
    let staff_id = new_staff(base, key, name).await;
    connect_staff(base, key, &staff_id, name, provider).await;
}

/// Creates the staff member `name` (`name@example.com`); their id.
async fn new_staff(base: &str, key: &str, name: &str) -> String {
    let email = format!("{name}@example.com");
    let staff: Value = json_of(
        client()
            .post(format!("{base}/api/v1/staff"))
            .bearer_auth(key)
            .json(&json!({"name": name, "email": email})),
    )
    .await;
    staff["id"].as_str().unwrap().to_owned()
}

/// Connects the calendar `name@example.com` at `provider` for the staff member `staff_id`
/// through their settings page and the sandbox's consent page.
async fn connect_staff(base: &str, key: &str, staff_id: &str, name: &str, provider: &str) {
    let email = format!("{name}@example.com");
    let link: Value = json_of(
        client().post(format!("{base}/api/v1/staff/{staff_id}/settings-link")).bearer_auth(key),
    )
    .await;
    let browser = reqwest::Client::builder().cookie_store(true).build().unwrap();
    browser.get(link["url"].as_str().unwrap()).send().await.unwrap();
    let consent = browser.get(format!("{base}/connect/{provider}")).send().await.unwrap();
    let page_url = consent.url().clone();
    let body = consent.text().await.unwrap();
    let action =
        body.split("action=\"").nth(1).unwrap().split('"').next().unwrap().replace("&amp;", "&");
    let action = page_url.join(&action).unwrap();
    let done = browser
        .post(action)
        .form(&[("email", email.as_str()), ("decision", "allow")])
        .send()
        .await
        .unwrap();
    assert!(done.url().as_str().contains("notice=connected"), "connecting {name} failed");
}

/// A staff member with `n` upcoming bookings connects a calendar at `provider`, and another
/// booking of theirs is made `LIVE_AFTER` into the replay: what the replay shows.
#[derive(Debug, serde::Serialize)]
struct Replayed {
    provider: &'static str,
    /// How long the connect took (its transaction owes a sync of each booking).
    connect_seconds: f64,
    /// From the connect's start until every booking was in the calendar.
    seconds: f64,
    /// The least time the sandbox's quota allows for the calendar's requests (none: 0).
    quota_minimum_seconds: f64,
    /// From the live booking's 201 until it was in the calendar.
    live_booking_seconds: f64,
    /// Whether the live booking was in the calendar before the replay's last booking.
    live_before_the_backlog: bool,
    /// Calendar requests the sandbox let through, and answered 429 (quota set only).
    admitted: u64,
    limited: u64,
    /// Events in the calendar, and how many distinct bookings they show.
    events: usize,
    distinct: usize,
}

/// How long into a replay the live booking is made.
const LIVE_AFTER: Duration = Duration::from_secs(10);

async fn replay(
    base: &str,
    key: &str,
    db: &Db,
    n: usize,
    provider: &'static str,
    quota: u32,
) -> Replayed {
    let name = format!("replayed-{provider}");
    let seat = Seat { staff_id: new_staff(base, key, &name).await, room_id: None };
    let http = client();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(32));
    let mut tasks = tokio::task::JoinSet::new();
    for slot in 0..n {
        let permit = semaphore.clone().acquire_owned().await.unwrap();
        let (http, base, key, seat) = (http.clone(), base.to_owned(), key.to_owned(), seat.clone());
        tasks.spawn(async move {
            let (id, _) = create(&http, &base, &key, &seat, 500_000 + slot, slot).await;
            drop(permit);
            id
        });
    }
    let ids: Vec<Uuid> = tasks.join_all().await;
    // The quota's buckets start full, its counts at zero.
    let quota_view = format!("{}/_control/quota", sandbox());
    let set = json_of(http.put(&quota_view).json(&json!({"requests_per_minute": quota}))).await;
    let started = Instant::now();
    let started_at = Utc::now();
    let live = {
        let (http, base, key, seat) = (http.clone(), base.to_owned(), key.to_owned(), seat.clone());
        tokio::spawn(async move {
            tokio::time::sleep(LIVE_AFTER).await;
            create(&http, &base, &key, &seat, 900_000, n).await
        })
    };
    connect_staff(base, key, &seat.staff_id, &name, provider).await;
    let connect_seconds = started.elapsed().as_secs_f64();
    let synced_at = synced(db, &ids).await;
    let last = synced_at.values().max().copied().unwrap_or(started_at);
    let (live_id, live_created) = live.await.unwrap();
    let live_synced = synced(db, &[live_id]).await[&live_id];
    let counts = json_of(http.get(&quota_view)).await;
    json_of(http.put(&quota_view).json(&json!({"requests_per_minute": 0}))).await;
    let email = format!("{name}@example.com");
    let (url, title) = match provider {
        "google" => {
            (format!("{}/_control/google/calendars/{email}/{email}/events", sandbox()), "summary")
        }
        _ => (format!("{}/_control/microsoft/users/{email}/events", sandbox()), "subject"),
    };
    let events: Vec<Value> = json_of(http.get(url)).await.as_array().cloned().unwrap_or_default();
    let titles: std::collections::HashSet<&str> =
        events.iter().filter_map(|e| e[title].as_str()).collect();
    let seconds =
        |from: DateTime<Utc>, to: DateTime<Utc>| (to - from).num_milliseconds() as f64 / 1000.0;
    // The calendar's requests: one insert a booking; the sandbox lets its burst through at
    // once, then one request at the quota's pace.
    let requests = n as f64 + 1.0;
    let burst = set["burst"].as_f64().unwrap_or_default();
    let quota_minimum_seconds =
        if quota == 0 { 0.0 } else { (requests - burst).max(0.0) * 60.0 / f64::from(quota) };
    Replayed {
        provider,
        connect_seconds,
        seconds: seconds(started_at, last),
        quota_minimum_seconds,
        live_booking_seconds: seconds(live_created, live_synced),
        live_before_the_backlog: live_synced < last,
        admitted: counts["admitted"].as_u64().unwrap_or(0),
        limited: counts["limited"].as_u64().unwrap_or(0),
        events: events.len(),
        distinct: titles.len(),
    }
}

/// Who a booking is for: a staff member, and with `--rooms` their room.
#[derive(Clone)]
struct Seat {
    staff_id: String,
    room_id: Option<String>,
}

/// Creates bookings; returns (booking id, when the 2xx arrived).
async fn create(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    seat: &Seat,
    n: usize,
    slot: usize,
) -> (Uuid, DateTime<Utc>) {
    // Each staff member's bookings take their own hour (ten a day from 08:00 UTC, from 10 days
    // ahead): a booking system does not double-book, and overlapping bookings would measure
    // conflict detection instead of the sync.
    let day = Utc::now().date_naive() + chrono::Duration::days(10 + (slot / 10) as i64);
    let start = day.and_hms_opt(8 + (slot % 10) as u32, 0, 0).unwrap().and_utc();
    let mut body = json!({"title": format!("Booking {n}"), "staff_ids": [seat.staff_id], "time_zone": "UTC",
        "start": start.to_rfc3339(), "end": (start + chrono::Duration::hours(1)).to_rfc3339()});
    if let Some(room_id) = &seat.room_id {
        body["resource_id"] = room_id.as_str().into();
    }
    let response = http
        .post(format!("{base}/api/v1/bookings"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let at = Utc::now();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    (created["id"].as_str().unwrap().parse().unwrap(), at)
}

/// `synced_at` of every booking event, once all of `ids` are synced.
async fn synced(db: &Db, ids: &[Uuid]) -> HashMap<Uuid, DateTime<Utc>> {
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut reported = Instant::now();
    loop {
        let rows: Vec<(Uuid, DateTime<Utc>)> = match db {
            Db::Postgres(pool) => sqlx::query_as(
                "SELECT booking_id, synced_at FROM booking_events WHERE state = 'synced' AND booking_id = ANY($1)",
            )
            .bind(ids)
            .fetch_all(pool)
            .await
            .unwrap(),
            Db::Sqlite(pool) => {
                let wanted: std::collections::HashSet<&Uuid> = ids.iter().collect();
                let all: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
                    "SELECT booking_id, synced_at FROM booking_events WHERE state = 'synced'",
                )
                .fetch_all(pool)
                .await
                .unwrap();
                all.into_iter().filter(|(id, _)| wanted.contains(id)).collect()
            }
        };
        if rows.len() >= ids.len() {
            return rows.into_iter().collect();
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {} synced after 10 minutes",
            rows.len(),
            ids.len()
        );
        if reported.elapsed() >= Duration::from_secs(30) {
            reported = Instant::now();
            eprintln!("sync_load: {} of {} synced", rows.len(), ids.len());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The benchmark's own connection to Kalends' database.
enum Db {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

/// Empties `pg_stat_statements` when the server has it loaded (`shared_preload_libraries`);
/// `false` when it does not (statements are then not counted).
async fn reset_statements(db: &Db) -> bool {
    let Db::Postgres(pool) = db else { return false };
    let made = sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").execute(pool).await;
    made.is_ok() && sqlx::query("SELECT pg_stat_statements_reset()").execute(pool).await.is_ok()
}

/// The statements PostgreSQL ran in this database since [`reset_statements`], leaving out the
/// benchmark's own (its polling of `booking_events` and these readings); the 25 most frequent on
/// stderr, with their calls and mean time.
async fn statements_since_reset(db: &Db, counting: bool) -> Option<i64> {
    let Db::Postgres(pool) = db else { return None };
    if !counting {
        return None;
    }
    let mine = "query NOT LIKE '%pg_stat_statements%' AND query NOT LIKE 'SELECT booking_id, synced_at FROM booking_events%'";
    let rows: Vec<(i64, f64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT calls, mean_exec_time, query FROM pg_stat_statements \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND {mine} \
         ORDER BY calls DESC"
    )))
    .fetch_all(pool)
    .await
    .ok()?;
    for (calls, mean, query) in rows.iter().take(25) {
        let query: String = query.split_whitespace().collect::<Vec<_>>().join(" ");
        let query: String = query.chars().take(150).collect();
        eprintln!("sync_load: {calls:>7} calls {mean:>7.3} ms  {query}");
    }
    Some(rows.iter().map(|(calls, _, _)| calls).sum())
}

/// Raw inserts per second against the sandbox, 16 at a time, for `seconds`.
async fn ceiling(seconds: u64) -> f64 {
    let http = client();
    let minted: Value = json_of(
        http.post(format!("{}/_control/tokens", sandbox()))
            .json(&json!({"provider": "google", "email": "ceiling@example.com"})),
    )
    .await;
    let token = Arc::new(minted["access_token"].as_str().unwrap().to_owned());
    let url =
        Arc::new(format!("{}/google/calendar/v3/calendars/ceiling@example.com/events", sandbox()));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (http, token, url) = (http.clone(), token.clone(), url.clone());
        tasks.spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let event = json!({"summary": "x", "start": {"dateTime": "2027-01-01T10:00:00Z"}, "end": {"dateTime": "2027-01-01T11:00:00Z"}});
                let ok = http.post(url.as_str()).bearer_auth(token.as_str()).json(&event).send().await.is_ok_and(|r| r.status().is_success());
                n += u64::from(ok);
            }
            n
        });
    }
    let total: u64 = tasks.join_all().await.into_iter().sum();
    total as f64 / seconds as f64
}

/// Peak resident memory of a process, MiB (VmHWM).
fn peak_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Seeds `n` events in a new Google account's calendar, connects it, imports it in full; returns
/// (seconds until every busy time is stored, the workers' peak MiB before, after).
async fn full_import(
    base: &str,
    key: &str,
    pool: &sqlx::PgPool,
    workers: &[u32],
    n: usize,
) -> (f64, f64, f64) {
    let http = client();
    let email = "bigcalendar@example.com";
    http.post(format!("{}/_control/accounts", sandbox()))
        .json(&json!({"provider": "google", "email": email}))
        .send()
        .await
        .unwrap();
    let events = format!("{}/_control/google/calendars/{email}/{email}/events", sandbox());
    let semaphore = Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let permit = semaphore.clone().acquire_owned().await.unwrap();
        let (http, events) = (http.clone(), events.clone());
        tasks.spawn(async move {
            let day = Utc::now().date_naive() + chrono::Duration::days(1 + (i % 500) as i64);
            let hour = 6 + (i / 500) % 14;
            let event = json!({"summary": format!("Busy {i}"), "start": {"dateTime": format!("{day}T{hour:02}:00:00Z")},
                "end": {"dateTime": format!("{day}T{hour:02}:30:00Z")}});
            let ok = http.post(events.as_str()).json(&event).send().await.is_ok_and(|r| r.status().is_success());
            drop(permit);
            assert!(ok, "seeding an event failed");
        });
    }
    tasks.join_all().await;
    let before = workers.iter().map(|p| peak_mib(*p)).fold(0.0, f64::max);
    connect(base, key, "bigcalendar", "google").await;
    let connections: Value =
        json_of(http.get(format!("{base}/api/v1/connections")).bearer_auth(key)).await;
    let id = connections["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["account_email"] == email)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = Instant::now();
    http.post(format!("{base}/api/v1/connections/{id}/sync"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let id: Uuid = id.parse().unwrap();
    loop {
        let (stored,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM calendar_busy WHERE connection_id = $1")
                .bind(id)
                .fetch_one(pool)
                .await
                .unwrap();
        if stored as usize >= n {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "only {stored} of {n} imported");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let after = workers.iter().map(|p| peak_mib(*p)).fold(0.0, f64::max);
    (seconds, before, after)
}

/// What phase 5 measured; times in seconds.
struct Incremental {
    /// Connecting the staff members, all of them.
    connect: f64,
    /// From the last connect until every connection was imported and watched.
    initial_wait: f64,
    /// From the first change until the last change was answered by the sandbox.
    seed: f64,
    /// From the first change until every change was stored.
    total: f64,
    /// Each change stored, from the first change: the first, the median.
    first: f64,
    p50: f64,
    /// Each change stored, from its own change: median, p99.
    latency_p50: f64,
    latency_p99: f64,
    /// Change listings (Google `events.list`, Graph `calendarView/delta`) the sandbox served.
    provider_reads: u64,
    /// Connections the scheduler claimed meanwhile (0: every import came from a notification).
    scheduled: usize,
}

/// Change listings served by the sandbox so far.
async fn provider_reads(http: &reqwest::Client) -> u64 {
    let counts = json_of(http.get(format!("{}/_control/requests", sandbox()))).await;
    ["GET google events.list", "GET microsoft calendarView.delta"]
        .iter()
        .map(|route| counts[*route].as_u64().unwrap_or(0))
        .sum()
}

/// When the scheduler next imports each connection.
async fn next_imports(pool: &sqlx::PgPool, ids: &[Uuid]) -> HashMap<Uuid, Option<DateTime<Utc>>> {
    sqlx::query_as("SELECT id, next_import_at FROM connections WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// Connects `n` more staff members (Google and Microsoft alternating), waits until each is
/// imported and watched, then adds one busy event to each calendar at once, as its user would:
/// the sandbox notifies Kalends, which imports each connection a debounce later.
async fn incremental_import(base: &str, key: &str, pool: &sqlx::PgPool, n: usize) -> Incremental {
    let http = client();
    let started = Instant::now();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(8));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let permit = semaphore.clone().acquire_owned().await.unwrap();
        let (base, key) = (base.to_owned(), key.to_owned());
        tasks.spawn(async move {
            let provider = if i % 2 == 0 { "google" } else { "microsoft" };
            connect(&base, &key, &format!("incr{i}"), provider).await;
            drop(permit);
        });
    }
    tasks.join_all().await;
    let connect_seconds = started.elapsed().as_secs_f64();
    let connections: Vec<(Uuid, String, String)> = sqlx::query_as(
        "SELECT id, provider, account_email FROM connections WHERE account_email LIKE 'incr%@example.com'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(connections.len(), n, "connections made");
    let ids: Vec<Uuid> = connections.iter().map(|(id, _, _)| *id).collect();

    // A new connection is imported at the scheduler's next pass; its channel is made by a job.
    eprintln!("sync_load: {n} connected in {connect_seconds:.1} s; waiting for their first import");
    let waited = Instant::now();
    loop {
        let (imported, watched): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM connections c WHERE c.id = ANY($1) \
               AND c.last_sync_at IS NOT NULL AND c.import_requested_at IS NULL \
               AND EXISTS (SELECT 1 FROM calendar_cursors k WHERE k.connection_id = c.id)), \
             (SELECT COUNT(DISTINCT connection_id) FROM calendar_channels WHERE connection_id = ANY($1))",
        )
        .bind(&ids)
        .fetch_one(pool)
        .await
        .unwrap();
        if imported as usize == n && watched as usize == n {
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(900),
            "after 15 minutes only {imported} of {n} imported, {watched} watched"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let initial_wait = waited.elapsed().as_secs_f64();
    let scheduled_before = next_imports(pool, &ids).await;
    let reads_before = provider_reads(&http).await;

    // One change in every calendar, 32 at a time, while the stored ones are counted.
    let t0 = Utc::now();
    let started = Instant::now();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(32));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (id, provider, email)) in connections.iter().enumerate() {
        let day = t0.date_naive() + chrono::Duration::days(7 + (i % 300) as i64);
        let hour = 8 + i % 10;
        let title = format!("Change {i}");
        let (url, event) = if provider == "google" {
            let at = |minute: u32| json!({"dateTime": format!("{day}T{hour:02}:{minute:02}:00Z")});
            let url = format!("{}/_control/google/calendars/{email}/{email}/events", sandbox());
            (url, json!({"summary": title, "start": at(0), "end": at(45)}))
        } else {
            let at = |minute: u32| json!({"dateTime": format!("{day}T{hour:02}:{minute:02}:00"), "timeZone": "UTC"});
            let url = format!("{}/_control/microsoft/users/{email}/events", sandbox());
            (url, json!({"subject": title, "start": at(0), "end": at(45)}))
        };
        let (http, semaphore, id) = (http.clone(), semaphore.clone(), *id);
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await.unwrap();
            let sent = Utc::now();
            let response = http.post(url).json(&event).send().await.unwrap();
            assert!(
                response.status().is_success(),
                "seeding a change failed: {}",
                response.status()
            );
            (id, sent, Instant::now())
        });
    }
    loop {
        let (stored,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM calendar_busy WHERE connection_id = ANY($1) AND summary LIKE 'Change %'",
        )
        .bind(&ids)
        .fetch_one(pool)
        .await
        .unwrap();
        if stored as usize >= n {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "only {stored} of {n} changes imported"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let total = started.elapsed().as_secs_f64();
    let seeded = tasks.join_all().await;
    let seed = seeded.iter().map(|(_, _, done)| *done - started).max().unwrap_or_default();
    let sent: HashMap<Uuid, DateTime<Utc>> = seeded.iter().map(|(id, at, _)| (*id, *at)).collect();
    let stored: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT connection_id, updated_at FROM calendar_busy WHERE connection_id = ANY($1) AND summary LIKE 'Change %'",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await
    .unwrap();
    let seconds = |d: chrono::Duration| d.num_microseconds().unwrap_or(0) as f64 / 1e6;
    let mut arrivals: Vec<f64> = stored.iter().map(|(_, at)| seconds(*at - t0)).collect();
    arrivals.sort_by(f64::total_cmp);
    let mut latencies: Vec<f64> = stored.iter().map(|(id, at)| seconds(*at - sent[id])).collect();
    latencies.sort_by(f64::total_cmp);
    let reads = provider_reads(&http).await - reads_before;
    let scheduled_after = next_imports(pool, &ids).await;
    let scheduled = ids.iter().filter(|id| scheduled_before[*id] != scheduled_after[*id]).count();
    Incremental {
        connect: connect_seconds,
        initial_wait,
        seed: seed.as_secs_f64(),
        total,
        first: arrivals.first().copied().unwrap_or(f64::NAN),
        p50: percentile(&arrivals, 50.0),
        latency_p50: percentile(&latencies, 50.0),
        latency_p99: percentile(&latencies, 99.0),
        provider_reads: reads,
        scheduled,
    }
}

/// Phase 1: bookings created at `--rate` for `--seconds` (open loop); each one's delay from its
/// 2xx to its event's `synced_at`, in ms, sorted.
async fn latency(
    args: &Args,
    db: &Db,
    http: &reqwest::Client,
    base: &str,
    key: &str,
    seats: &[Seat],
) -> Vec<f64> {
    let period = Duration::from_secs_f64(1.0 / args.rate as f64);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..(args.rate * args.seconds) as usize {
        tokio::time::sleep_until((started + period * n as u32).into()).await;
        let (http, base, key, seat) =
            (http.clone(), base.to_owned(), key.to_owned(), seats[n % seats.len()].clone());
        let slot = n / seats.len();
        tasks.spawn(async move { create(&http, &base, &key, &seat, n, slot).await });
    }
    let sent: Vec<(Uuid, DateTime<Utc>)> = tasks.join_all().await;
    let ids: Vec<Uuid> = sent.iter().map(|(id, _)| *id).collect();
    let at = synced(db, &ids).await;
    let mut latencies: Vec<f64> = sent
        .iter()
        .map(|(id, t)| (at[id] - *t).num_microseconds().unwrap_or(0) as f64 / 1000.0)
        .collect();
    latencies.sort_by(f64::total_cmp);
    latencies
}

async fn wait_ready(base: &str) {
    for _ in 0..300 {
        if reqwest::get(format!("{base}/readyz")).await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("kalends did not become ready");
}

/// Marks a phase's start on stderr (with the wall clock, to match against CPU samples).
fn phase(name: &str) {
    eprintln!("sync_load: {} phase {name}", Utc::now().format("%H:%M:%S%.3f"));
}

#[tokio::main]
async fn main() {
    let args = args();
    let dir = std::env::temp_dir().join(format!("kalends-sync-load-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let queue = format!("sync-bench-{}", Uuid::now_v7().simple());
    let base = format!("http://127.0.0.1:{port}");
    let mut sandbox_process = start_sandbox(&dir, &base, args.sandbox_bin.as_deref()).await;
    let created = kalends(&args, &dir, port, &queue)
        .args(["tenant", "create", "--name", "Bench", "--json"])
        .stdout(Stdio::piped())
        .output()
        .await
        .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let key = serde_json::from_slice::<Value>(&created.stdout).unwrap()["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let sqlite = args.database_url.starts_with("sqlite");
    // Embedded (SQLite): one process does it all.
    let first = if sqlite { vec!["serve"] } else { vec!["serve", "--role", "api"] };
    let mut processes: Vec<Child> =
        vec![kalends(&args, &dir, port, &queue).args(first).spawn().unwrap()];
    wait_ready(&base).await;
    for _ in 0..if sqlite { 0 } else { args.workers } {
        processes.push(
            kalends(&args, &dir, port, &queue).args(["serve", "--role", "worker"]).spawn().unwrap(),
        );
    }
    for i in 0..args.staff {
        connect(&base, &key, &format!("staff{i}"), if i % 2 == 0 { "google" } else { "microsoft" })
            .await;
    }
    let http = client();
    let staff: Value =
        json_of(http.get(format!("{base}/api/v1/staff?limit=500")).bearer_auth(&key)).await;
    let mut seats: Vec<Seat> = Vec::new();
    for (i, member) in staff["items"].as_array().unwrap().iter().enumerate() {
        let room_id = if args.rooms {
            let room = http
                .post(format!("{base}/api/v1/resources"))
                .bearer_auth(&key)
                .json(&json!({"name": format!("Room {i}")}));
            Some(json_of(room).await["id"].as_str().unwrap().to_owned())
        } else {
            None
        };
        seats.push(Seat { staff_id: member["id"].as_str().unwrap().to_owned(), room_id });
    }
    let db = if sqlite {
        Db::Sqlite(sqlx::SqlitePool::connect(&args.database_url).await.unwrap())
    } else {
        Db::Postgres(sqlx::PgPool::connect(&args.database_url).await.unwrap())
    };

    // Without workers nothing is synced: only the API's side is measured.
    let syncing = sqlite || args.workers > 0;

    // 1. Latency at a fixed rate (open loop).
    let latencies = if syncing {
        phase("latency");
        latency(&args, &db, &http, &base, &key, &seats).await
    } else {
        Vec::new()
    };

    // 2. Throughput: a burst, as fast as the API takes it.
    phase("burst");
    let counting = reset_statements(&db).await;
    let pids: Vec<u32> = processes.iter().filter_map(Child::id).collect();
    let postmaster = match &db {
        Db::Postgres(pool) => postmaster(pool).await,
        Db::Sqlite(_) => None,
    };
    let cpu_before = KalendsCpu::read(&pids, postmaster, &args.redis_url).await;
    let burst_start = Utc::now();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(32));
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..args.burst {
        let permit = semaphore.clone().acquire_owned().await.unwrap();
        let (http, base, key, seat) =
            (http.clone(), base.clone(), key.clone(), seats[n % seats.len()].clone());
        // After the latency phase's slots.
        let slot = (args.rate * args.seconds) as usize / seats.len() + 1 + n / seats.len();
        tasks.spawn(async move {
            let made = create(&http, &base, &key, &seat, 100_000 + n, slot).await;
            drop(permit);
            made
        });
    }
    let made: Vec<(Uuid, DateTime<Utc>)> = tasks.join_all().await;
    let accepted = made.iter().map(|(_, at)| *at).max().unwrap_or(burst_start);
    let burst: Vec<Uuid> = made.into_iter().map(|(id, _)| id).collect();
    let burst_at = if syncing { synced(&db, &burst).await } else { HashMap::new() };
    let cpu_per_booking = KalendsCpu::read(&pids, postmaster, &args.redis_url)
        .await
        .per_booking(cpu_before, args.burst);
    let statements = statements_since_reset(&db, counting).await;
    let per_second = |until: DateTime<Utc>| {
        args.burst as f64 / ((until - burst_start).num_milliseconds().max(1) as f64 / 1000.0)
    };
    let throughput = burst_at.values().max().map(|last| per_second(*last));
    let api_rate = per_second(accepted);
    let statements_per_booking = statements.map(|n| n as f64 / args.burst as f64);

    // The replay of a staff member's upcoming bookings when they connect.
    let mut replays = Vec::new();
    if syncing && args.replay > 0 {
        for provider in ["google", "microsoft"] {
            phase(&format!("replay ({provider})"));
            let replayed = replay(&base, &key, &db, args.replay, provider, args.quota).await;
            // Each as soon as it is done: a replay that never ends still leaves the others.
            eprintln!("sync_load: replayed {}", serde_json::to_string(&replayed).unwrap());
            replays.push(replayed);
        }
    }

    // 3. The sandbox's own ceiling, same run.
    phase("ceiling");
    let ceiling = ceiling(10).await;

    // 4. A full import of a big calendar (PostgreSQL only).
    let (import_seconds, peak_before, peak_after, incremental) = match &db {
        Db::Postgres(pool) if syncing => {
            phase("full import");
            let worker_pids: Vec<u32> = processes[1..].iter().filter_map(Child::id).collect();
            let (seconds, before, after) =
                full_import(&base, &key, pool, &worker_pids, args.import_events).await;
            // 5. Incremental imports: one change in each of many calendars, told by push
            // notifications.
            phase("incremental imports");
            let incremental = match args.import_connections {
                0 => None,
                n => Some(incremental_import(&base, &key, pool, n).await),
            };
            (Some(seconds), Some(before), Some(after), incremental)
        }
        _ => (None, None, None, None),
    };
    let field = |f: fn(&Incremental) -> Value| incremental.as_ref().map_or(Value::Null, f);
    println!(
        "{}",
        json!({
            "rate_per_s": args.rate, "seconds": args.seconds, "staff": args.staff, "bookings": latencies.len(),
            "latency_p50_ms": percentile(&latencies, 50.0), "latency_p99_ms": percentile(&latencies, 99.0),
            "latency_max_ms": latencies.last(),
            "burst": args.burst, "synced_per_s": throughput, "sandbox_inserts_per_s": ceiling,
            "api_created_per_s": api_rate, "statements_per_booking": statements_per_booking,
            "cpu_ms_per_booking": cpu_per_booking,
            "replay_bookings": args.replay, "replay_quota_per_minute": args.quota,
            "replays": replays,
            "postgres_server_found": postmaster.is_some(),
            "share_of_ceiling": throughput.map(|synced| synced / ceiling),
            "workers": if sqlite { Value::Null } else { args.workers.into() },
            "import_events": args.import_events, "import_seconds": import_seconds,
            "worker_peak_mib_before_import": peak_before, "worker_peak_mib_after_import": peak_after,
            "incremental_connections": args.import_connections,
            "incremental_trigger": field(|_| "push".into()),
            "incremental_import_seconds": field(|i| i.total.into()),
            "incremental_first_seconds": field(|i| i.first.into()),
            "incremental_p50_seconds": field(|i| i.p50.into()),
            "incremental_latency_p50_seconds": field(|i| i.latency_p50.into()),
            "incremental_latency_p99_seconds": field(|i| i.latency_p99.into()),
            "incremental_seed_seconds": field(|i| i.seed.into()),
            "incremental_provider_reads": field(|i| i.provider_reads.into()),
            "incremental_scheduled_imports": field(|i| i.scheduled.into()),
            "incremental_connect_seconds": field(|i| i.connect.into()),
            "incremental_first_import_wait_seconds": field(|i| i.initial_wait.into()),
        })
    );
    for mut p in processes {
        let _ = p.start_kill();
    }
    let _ = sandbox_process.start_kill();
}
