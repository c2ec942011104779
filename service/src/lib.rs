//! Use cases: one function for each thing a person or a system does with Kalends. The JSON API,
//! the pages and the jobs are adapters over these: they parse their input into domain values,
//! call one function here and render its result, so a second front (the console) reuses a use
//! case instead of copying it.
//!
//! What a use case does, in this order:
//! 1. checks what the domain types cannot check alone (references within the tenant, overlaps
//!    when asked to refuse them);
//! 2. writes through the [`Store`](kalends_store::Store), and records the work it owes (a calendar sync,
//!    a customer e-mail, a cleanup at the provider) as [`Job`](kalends_core::job::Job)s in the outbox,
//!    in the write's own transaction: the work is owed exactly when the write committed;
//! 3. brings the conflicts it may have opened or settled up to date (after the commit: a failed
//!    detection is logged and the next change or import looks again, the write stands).
//!
//! What each change owes is decided here (`bookings::owed_jobs`), not in SQL. Reads need no
//! use case: adapters read through the store directly.

pub mod availability;
pub mod blocks;
pub mod bookings;
pub mod checklists;
pub mod conflicts;
pub mod connection_cleanups;
pub mod connections;
pub mod customer_mail;
pub mod customer_plan;
pub mod dashboard;
pub mod directory;
pub mod feeds;
pub mod importer;
pub mod imports;
pub mod mail;
pub mod organisations;
pub mod staff_sessions;
pub mod tenants;
pub mod webhooks;
pub mod widgets;
