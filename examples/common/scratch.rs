//! Where a benchmark example keeps its data: a fresh directory under the system's temporary
//! one, and the database it runs on (a SQLite file there, or the PostgreSQL database named on
//! its command line). Included with `#[path = "common/scratch.rs"] mod scratch;`.

use std::path::PathBuf;

/// A benchmark's directory and database.
pub struct Scratch {
    /// A fresh directory, for the SQLite file and anything else the run writes.
    pub dir: PathBuf,
    /// The database URL: `given`, or a SQLite file in `dir`.
    pub database_url: String,
    /// "PostgreSQL" or "SQLite", for the report.
    pub backend: &'static str,
}

impl Scratch {
    /// Makes a fresh directory named after the benchmark `name`.
    pub fn new(name: &str, given: Option<String>) -> Scratch {
        let id = uuid::Uuid::now_v7().simple();
        let dir = std::env::temp_dir().join(format!("kalends-{name}-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        let database_url =
            given.unwrap_or_else(|| format!("sqlite://{}/kalends.db", dir.display()));
        let backend = if database_url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" };
        Scratch { dir, database_url, backend }
    }
}
