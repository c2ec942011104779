//! The outbox relay's two statements under a burst of owed work, on SQLite and PostgreSQL: the
//! claim (`Store::claim_outbox`, 100 rows with a lease) and the delete once the queue took them
//! (`Store::complete_outbox`), as the first import of thousands of feeds asks them.
//!
//! 10,000 rows are owed at once (as the scheduler owes one `ImportFeed` per due feed), then two
//! relays drain them concurrently, 100 at a time, while a writer keeps owing 5,000 more (as the
//! imports themselves owe work while they run). Every claim and every delete is timed on its
//! own; the figures are the median, the 95th percentile and the slowest of each. On PostgreSQL
//! the drain runs twice: as is, and while another session holds a snapshot open (a long report,
//! a backup), which keeps every deleted row's dead versions in the relays' way until it ends.
//!
//! Run it with `scripts/bench-outbox` (which starts PostgreSQL through `scripts/test`), or
//! `cargo bench --bench outbox` for SQLite alone (PostgreSQL when `KALENDS_BENCH_POSTGRES_URL`
//! names an empty database).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kalends_core::Config;
use kalends_core::job::Job;
use kalends_store::Store;
use secrecy::SecretString;
use tokio::sync::Mutex;
use uuid::Uuid;

/// Rows owed at once before the relays start.
const OWED: usize = 10_000;
/// Rows owed while they drain.
const OWED_DURING: usize = 5_000;
/// What one relay claims per statement (as `kalends_jobs::Relay` does).
const BATCH: u32 = 100;
const RELAYS: usize = 2;
const LEASE: Duration = Duration::from_secs(30);

async fn store(url: &str) -> Store {
    let mut config =
        Config { database_url: SecretString::from(url.to_owned()), ..Config::default() };
    config.database.max_connections = 8;
    kalends::app::connect(&config).await.unwrap().0
}

fn job() -> Job {
    Job::ImportFeed { tenant_id: Uuid::now_v7(), import_id: Uuid::now_v7() }
}

/// Owes `n` rows from 4 tasks at once.
async fn owe(store: &Store, n: usize) {
    let tasks: Vec<_> = (0..4)
        .map(|k| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in (k..n).step_by(4) {
                    store.enqueue(&job()).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

#[derive(Default)]
struct Timings {
    claims: Vec<Duration>,
    deletes: Vec<Duration>,
    moved: usize,
}

/// One relay: claims and deletes until the outbox is empty and the writer is done.
async fn relay(store: Store, writing: Arc<AtomicBool>, timings: Arc<Mutex<Timings>>) {
    loop {
        let started = Instant::now();
        let rows = store.claim_outbox(BATCH, LEASE).await.unwrap();
        let claimed = started.elapsed();
        if rows.is_empty() {
            if !writing.load(Ordering::Acquire) && store.outbox_depth().await.unwrap() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let started = Instant::now();
        store.complete_outbox(&ids).await.unwrap();
        let deleted = started.elapsed();
        let mut t = timings.lock().await;
        t.claims.push(claimed);
        t.deletes.push(deleted);
        t.moved += ids.len();
    }
}

fn figures(mut samples: Vec<Duration>) -> String {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    format!(
        "median {:.2} ms, p95 {:.2} ms, max {:.2} ms ({} statements)",
        ms(at(0.5)),
        ms(at(0.95)),
        ms(at(1.0)),
        samples.len()
    )
}

async fn bench(backend: &str, url: &str) {
    let store = store(url).await;
    drain(backend, "", &store).await;
    if backend == "postgres" {
        use sqlx::Connection as _;
        let mut other = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT COUNT(*) FROM outbox")
            .execute(&mut other)
            .await
            .unwrap();
        drain(backend, ", a snapshot held open", &store).await;
        sqlx::raw_sql("COMMIT").execute(&mut other).await.unwrap();
    }
}

/// Owes [`OWED`] rows, then drains them with [`RELAYS`] relays while [`OWED_DURING`] more come.
async fn drain(backend: &str, case: &str, store: &Store) {
    let started = Instant::now();
    owe(store, OWED).await;
    eprintln!(
        "outbox {backend}{case}: {OWED} rows owed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let writing = Arc::new(AtomicBool::new(true));
    let timings = Arc::new(Mutex::new(Timings::default()));
    let started = Instant::now();
    let relays: Vec<_> = (0..RELAYS)
        .map(|_| tokio::spawn(relay(store.clone(), writing.clone(), timings.clone())))
        .collect();
    owe(store, OWED_DURING).await;
    writing.store(false, Ordering::Release);
    for relay in relays {
        relay.await.unwrap();
    }
    let drained = started.elapsed();
    let t = std::mem::take(&mut *timings.lock().await);
    assert_eq!(t.moved, OWED + OWED_DURING, "every row moved once");
    println!(
        "outbox {backend}{case}: {} rows drained by {RELAYS} relays in {:.2} s",
        t.moved,
        drained.as_secs_f64()
    );
    println!("outbox {backend}{case} claim ({BATCH} rows): {}", figures(t.claims));
    println!("outbox {backend}{case} delete: {}", figures(t.deletes));
}

fn main() {
    common::on_both_databases(|backend, url| async move { bench(backend, &url).await });
}
