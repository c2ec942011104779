//! Load benchmark of a real `kalends serve` process (see BENCHMARKS.md; `scripts/bench` runs it
//! against SQLite, PostgreSQL and PostgreSQL + Redis).
//!
//! It starts the release binary on a fresh database, creates a tenant, samples the server's RSS
//! when idle, then sends `PUT /api/v1/bookings/by-external-id/...` at a fixed rate (open loop:
//! latency is measured from each request's scheduled time, so a stall is not hidden by the client
//! waiting for it). Afterwards it reads `sync_attempts` from the database: each row's
//! `attempted_at`, minus the moment the client received the 2xx for that booking version, is the
//! outbox-to-job-start latency (the handler records it right after it starts and reads the booking).
//!
//! ```text
//! cargo build --release && cargo run --release --example load -- \
//!     --database-url sqlite:///tmp/kalends-bench/kalends.db [--redis-url redis://...] [--rate 200] [--seconds 30]
//! ```

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::process::Command;
use uuid::Uuid;

/// One answered request: latency (ms), booking id, version, and when the 2xx arrived.
type Sample = (f64, Uuid, i64, DateTime<Utc>);

#[path = "common/flags.rs"]
mod flags;

const USAGE: &str = "usage: load --database-url URL [--redis-url redis://...] [--rate 200] [--seconds 30] [--label TEXT]";

struct Args {
    database_url: String,
    redis_url: Option<String>,
    rate: u64,
    seconds: u64,
    label: String,
}

fn args() -> Args {
    let known = ["--database-url", "--redis-url", "--rate", "--seconds", "--label"];
    let flags = flags::Flags::parse(USAGE, &known);
    Args {
        database_url: flags.required("--database-url"),
        redis_url: flags.text("--redis-url"),
        rate: flags.number("--rate").unwrap_or(200),
        seconds: flags.number("--seconds").unwrap_or(30),
        label: flags.text("--label").unwrap_or_default(),
    }
}

fn kalends(args: &Args, dir: &std::path::Path, port: u16) -> Command {
    // The example lives in target/<profile>/examples/; the server binary one folder up.
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(|p| p.parent()).unwrap().join("kalends");
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir)
        .env("KALENDS_DATABASE_URL", &args.database_url)
        .env("KALENDS_LISTEN", format!("127.0.0.1:{port}"))
        .env("KALENDS_CONFIG_DIR", dir.join("none"))
        .env("KALENDS_DEMO_TENANT", "false")
        .env("KALENDS_LOG", "warn")
        .env("KALENDS_DATABASE__MAX_CONNECTIONS", "16")
        .stdin(Stdio::null());
    if let Some(redis) = &args.redis_url {
        cmd.env("KALENDS_REDIS_URL", redis)
            .env("KALENDS_JOBS__QUEUE", format!("bench-{}", Uuid::now_v7().simple()));
    }
    cmd
}

/// Resident set size and its peak, in MiB, from /proc.
fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

async fn job_starts(database_url: &str) -> HashMap<(Uuid, i64), DateTime<Utc>> {
    let sql = "SELECT booking_id, booking_version, attempted_at FROM sync_attempts";
    let rows: Vec<(Uuid, i64, DateTime<Utc>)> = if database_url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(database_url).await.unwrap();
        sqlx::query_as(sql).fetch_all(&pool).await.unwrap()
    } else {
        let pool = sqlx::PgPool::connect(database_url).await.unwrap();
        sqlx::query_as(sql).fetch_all(&pool).await.unwrap()
    };
    rows.into_iter().map(|(id, v, at)| ((id, v), at)).collect()
}

/// p50 and p99 (ms) of `GET /healthz` at the same fixed rate: the noise floor of the machine, the
/// client and the HTTP stack, measured in the same run as the figures it is compared with.
async fn baseline(http: &reqwest::Client, base: &str, rate: u64, seconds: u64) -> (f64, f64) {
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..rate * seconds {
        let scheduled = started + period * i as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let (http, url) = (http.clone(), format!("{base}/healthz"));
        tasks.spawn(async move {
            let ok = http.get(url).send().await.is_ok_and(|r| r.status().is_success());
            ok.then(|| scheduled.elapsed().as_secs_f64() * 1000.0)
        });
    }
    let mut latencies: Vec<f64> = tasks.join_all().await.into_iter().flatten().collect();
    latencies.sort_by(f64::total_cmp);
    (percentile(&latencies, 50.0), percentile(&latencies, 99.0))
}

#[tokio::main]
async fn main() {
    let args = args();
    let dir = std::env::temp_dir().join(format!("kalends-load-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();

    let created = kalends(&args, &dir, port)
        .args(["tenant", "create", "--name", "Bench", "--json"])
        .output()
        .await
        .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let key = serde_json::from_slice::<Value>(&created.stdout).unwrap()["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut server = kalends(&args, &dir, port).arg("serve").stdout(Stdio::null()).spawn().unwrap();
    let pid = server.id().unwrap();
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..300 {
        if http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (idle_rss, _) = rss_mib(pid);
    let baseline = baseline(&http, &base, args.rate, 10).await;

    let results: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let errors = Arc::new(Mutex::new(0u64));
    let total = args.rate * args.seconds;
    let period = Duration::from_secs_f64(1.0 / args.rate as f64);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let scheduled = started + period * i as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        // Two in three requests create a booking, one in three moves an earlier one.
        let ext = if i % 3 == 2 { format!("b-{}", i / 2) } else { format!("b-{i}") };
        let day = 1 + (i % 28);
        let body = json!({
            "title": format!("Booking {i}"),
            "start": format!("2030-02-{day:02}T{:02}:00:00Z", 8 + i % 10),
            "end": format!("2030-02-{day:02}T{:02}:00:00Z", 9 + i % 10),
            "time_zone": "Europe/Amsterdam",
            "customer": {"name": "Load Test", "email": "load@example.com"},
        });
        let (http, url, key, results, errors) = (
            http.clone(),
            format!("{base}/api/v1/bookings/by-external-id/{ext}"),
            key.clone(),
            results.clone(),
            errors.clone(),
        );
        tasks.spawn(async move {
            let response = http.put(url).bearer_auth(key).json(&body).send().await;
            let received = Utc::now();
            let latency = scheduled.elapsed().as_secs_f64() * 1000.0;
            match response {
                Ok(r) if r.status().is_success() => {
                    let booking: Value = r.json().await.unwrap();
                    let id = booking["id"].as_str().unwrap().parse().unwrap();
                    results.lock().unwrap().push((
                        latency,
                        id,
                        booking["version"].as_i64().unwrap(),
                        received,
                    ));
                }
                _ => *errors.lock().unwrap() += 1,
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, peak_rss) = rss_mib(pid);
    std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    let stopped = server.wait().await.unwrap();

    let results = results.lock().unwrap().clone();
    let mut latencies: Vec<f64> = results.iter().map(|r| r.0).collect();
    latencies.sort_by(f64::total_cmp);
    let starts = job_starts(&args.database_url).await;
    let mut delays: Vec<f64> = results
        .iter()
        .filter_map(|(_, id, version, received)| {
            starts
                .get(&(*id, *version))
                .map(|at| (*at - *received).num_microseconds().unwrap_or(0) as f64 / 1000.0)
        })
        .collect();
    delays.sort_by(f64::total_cmp);
    let label = if args.label.is_empty() {
        args.database_url.split(':').next().unwrap().to_owned()
    } else {
        args.label.clone()
    };
    println!(
        "| {label} | {:.2} / {:.2} | {} req in {elapsed:.1} s ({:.0}/s), {} errors | {:.2} | {:.2} | {:.2} | {} of {} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
        baseline.0,
        baseline.1,
        results.len(),
        results.len() as f64 / elapsed,
        errors.lock().unwrap(),
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        percentile(&latencies, 100.0),
        delays.len(),
        results.len(),
        percentile(&delays, 50.0),
        percentile(&delays, 99.0),
        idle_rss,
        peak_rss,
        if stopped.success() { "exit 0" } else { "exit != 0" },
    );
    let _ = std::fs::remove_dir_all(&dir);
}
