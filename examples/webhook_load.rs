//! Outbound webhook benchmark: Kalends in this process (all roles, SQLite in a temporary folder,
//! or `--database-url postgres://...` and `--redis-url`), a receiver on port 0 that answers 204 at
//! once and notes when each `webhook-id` first arrived, and one endpoint subscribed to
//! `webhook.test`. Then:
//!
//! 1. baseline: `GET /healthz` at the same fixed rate, the noise floor of the machine, the client
//!    and the HTTP stack, p50 and p99;
//! 2. latency: `POST /api/v1/webhook-endpoints/{id}/test` at `--rate` a second for `--seconds`
//!    (open loop); each records its event in the request's transaction, so latency = the
//!    receiver's arrival minus the moment the client got the 202 (after the commit); p50, p99;
//! 3. throughput: a burst of `--burst` test events as fast as the API takes them; deliveries a
//!    second = burst / (last arrival - first request).
//!
//! ```text
//! cargo run --release --example webhook_load -- [--rate 100] [--seconds 30] [--burst 2000] \
//!     [--database-url postgres://.../empty_db --redis-url redis://...]
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use kalends::app::{self, Role};
use kalends_core::Config;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use uuid::Uuid;

#[path = "common/flags.rs"]
mod flags;

const USAGE: &str = "usage: webhook_load [--rate 100] [--seconds 30] [--burst 2000] [--database-url postgres://.../empty_db --redis-url redis://...]";

struct Args {
    rate: u64,
    seconds: u64,
    burst: usize,
    database_url: Option<String>,
    redis_url: Option<String>,
}

fn args() -> Args {
    let known = ["--rate", "--seconds", "--burst", "--database-url", "--redis-url"];
    let flags = flags::Flags::parse(USAGE, &known);
    Args {
        rate: flags.number("--rate").unwrap_or(100),
        seconds: flags.number("--seconds").unwrap_or(30),
        burst: flags.number("--burst").unwrap_or(2000),
        database_url: flags.text("--database-url"),
        redis_url: flags.text("--redis-url"),
    }
}

/// When each `webhook-id` first arrived.
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

async fn receiver() -> (String, Arrivals) {
    let arrivals: Arrivals = Arc::default();
    let seen = arrivals.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                let at = Instant::now();
                let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or("");
                seen.lock().unwrap().entry(id.to_owned()).or_insert(at);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, arrivals)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Sends one test event; the `webhook-id` and when the 202 came back.
async fn test_event(http: &reqwest::Client, url: &str, key: &str) -> Option<(String, Instant)> {
    let response = http.post(url).bearer_auth(key).send().await.ok()?;
    let at = Instant::now();
    if response.status() != StatusCode::ACCEPTED {
        return None;
    }
    let body: Value = response.json().await.ok()?;
    Some((body["webhook_id"].as_str()?.to_owned(), at))
}

/// Fires `make` at `rate` a second for `seconds` (open loop); the results in order.
async fn at_rate<T: Send + 'static, F>(rate: u64, seconds: u64, make: impl Fn() -> F) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
{
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for i in 0..rate * seconds {
        tokio::time::sleep_until((started + period * i as u32).into()).await;
        tasks.spawn(make());
    }
    tasks.join_all().await
}

async fn wait_for(arrivals: &Arrivals, ids: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        let all = {
            let seen = arrivals.lock().unwrap();
            ids.iter().all(|id| seen.contains_key(id))
        };
        if all {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("not every event arrived within 10 minutes");
}

#[tokio::main]
async fn main() {
    let args = args();
    let dir = std::env::temp_dir().join(format!("kalends-webhooks-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let database_url =
        args.database_url.clone().unwrap_or(format!("sqlite://{}/kalends.db", dir.display()));
    let mut config = Config {
        database_url: SecretString::from(database_url),
        redis_url: args.redis_url.clone().map(SecretString::from),
        listen: "127.0.0.1:0".into(),
        data_dir: dir.clone(),
        demo_tenant: false,
        log: "warn".into(),
        ..Config::default()
    };
    config.webhooks.allow_private_networks = true;
    config.jobs.queue = format!("bench-{}", Uuid::now_v7().simple());
    let (store, queue) = app::connect(&config).await.unwrap();
    let running = app::start(config, Role::All, store.clone(), queue).await.unwrap();
    let base = format!("http://{}", running.addr.unwrap());
    let tenant = store.create_tenant(Default::default()).await.unwrap();
    let key = store.create_api_key(tenant.id).await.unwrap().expose_secret().to_owned();
    let (hook, arrivals) = receiver().await;
    let http = reqwest::Client::new();
    let endpoint: Value = http
        .post(format!("{base}/api/v1/webhook-endpoints"))
        .bearer_auth(&key)
        .json(&json!({"url": hook, "event_types": ["webhook.test"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let test = format!("{base}/api/v1/webhook-endpoints/{}/test", endpoint["id"].as_str().unwrap());

    let health = format!("{base}/healthz");
    let mut floor: Vec<f64> = at_rate(args.rate, args.seconds.min(10), || {
        let (http, url) = (http.clone(), health.clone());
        async move {
            let start = Instant::now();
            http.get(url).send().await.ok().map(|_| start.elapsed().as_secs_f64() * 1000.0)
        }
    })
    .await
    .into_iter()
    .flatten()
    .collect();
    floor.sort_by(f64::total_cmp);
    println!(
        "baseline GET /healthz at {}/s: p50 {:.2} ms, p99 {:.2} ms",
        args.rate,
        percentile(&floor, 50.0),
        percentile(&floor, 99.0)
    );

    let sent: Vec<(String, Instant)> = at_rate(args.rate, args.seconds, || {
        let (http, url, key) = (http.clone(), test.clone(), key.clone());
        async move { test_event(&http, &url, &key).await }
    })
    .await
    .into_iter()
    .flatten()
    .collect();
    let ids: Vec<String> = sent.iter().map(|(id, _)| id.clone()).collect();
    wait_for(&arrivals, &ids).await;
    let seen = arrivals.lock().unwrap().clone();
    let mut latency: Vec<f64> = sent
        .iter()
        .map(|(id, committed)| {
            seen[id].saturating_duration_since(*committed).as_secs_f64() * 1000.0
        })
        .collect();
    latency.sort_by(f64::total_cmp);
    println!(
        "latency commit -> receiver at {}/s for {} s ({} events): p50 {:.2} ms, p99 {:.2} ms",
        args.rate,
        args.seconds,
        sent.len(),
        percentile(&latency, 50.0),
        percentile(&latency, 99.0)
    );

    let started = Instant::now();
    let mut tasks = JoinSet::new();
    let limit = Arc::new(tokio::sync::Semaphore::new(32));
    for _ in 0..args.burst {
        let (http, url, key, limit) = (http.clone(), test.clone(), key.clone(), limit.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.unwrap();
            test_event(&http, &url, &key).await
        });
    }
    let burst: Vec<String> =
        tasks.join_all().await.into_iter().flatten().map(|(id, _)| id).collect();
    wait_for(&arrivals, &burst).await;
    let seen = arrivals.lock().unwrap().clone();
    let last = burst.iter().map(|id| seen[id]).max().unwrap();
    let elapsed = last.duration_since(started).as_secs_f64();
    println!(
        "throughput: {} events delivered in {:.2} s: {:.0} deliveries/s",
        burst.len(),
        elapsed,
        burst.len() as f64 / elapsed
    );
    running.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
