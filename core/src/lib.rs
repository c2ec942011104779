//! Kalends core: the domain values, the rules that decide over them as pure functions (conflicts,
//! what is bookable, what an import run changes, checklists), configuration, and the shapes of the
//! work that changes owe. Storage is `kalends-store`, the use cases `kalends-service`; this crate
//! knows nothing of SQL tables, HTTP, the job queue or any provider SDK.

pub mod addresses;
pub mod alerts;
pub mod availability;
pub mod calendar_item;
pub mod checklists;
pub mod config;
pub mod conflict_plan;
pub mod conflict_record;
pub mod conflicts;
pub mod domain;
pub mod imports;
pub mod invite;
pub mod job;
pub mod redact;
pub mod seal;
pub mod tokens;
pub mod webhooks;
pub mod words;

#[cfg(test)]
mod fuzz_regressions;

pub use config::Config;
