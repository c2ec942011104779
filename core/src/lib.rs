//! Kalends core: the domain, its storage on SQLite and PostgreSQL, configuration, and the shapes of
//! the work that changes owe. Knows nothing of HTTP, the job queue or any provider SDK.

pub mod addresses;
pub mod availability;
pub mod calendar_item;
pub mod checklists;
pub mod config;
pub mod conflict_record;
pub mod conflicts;
pub mod domain;
pub mod imports;
pub mod invite;
pub mod job;
pub mod seal;
pub mod service;
pub mod store;
pub mod tokens;
pub mod webhooks;
pub mod words;

#[cfg(test)]
mod fuzz_regressions;

pub use config::Config;
pub use store::{Store, StoreError};
