//! What the benchmarks without criterion share.

use std::future::Future;

use uuid::Uuid;

/// Runs `bench` on a new SQLite file, then on PostgreSQL when `KALENDS_BENCH_POSTGRES_URL`
/// names an empty database, each as `bench(backend, url)`. Only under `cargo bench`, which
/// passes `--bench`: `cargo test --benches` runs a benchmark as a test, and the work is skipped
/// then.
pub fn on_both_databases<F: Future<Output = ()>>(bench: impl Fn(&'static str, String) -> F) {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let dir = std::env::temp_dir().join(format!("kalends-bench-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    rt.block_on(bench("sqlite", format!("sqlite://{}/bench.db", dir.display())));
    if let Ok(url) = std::env::var("KALENDS_BENCH_POSTGRES_URL") {
        rt.block_on(bench("postgres", url));
    }
    let _ = std::fs::remove_dir_all(dir);
}
