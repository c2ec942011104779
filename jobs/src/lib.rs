//! Kalends background work on apalis: the queue (SQLite, PostgreSQL or Redis, following
//! configuration), the outbox relay that feeds it, the workers, the retry policy, and one file per job.

pub mod clean_up_connection;
pub mod deliver_webhook;
pub mod external_edits;
mod handler;
pub mod import_availability;
pub mod import_feed;
pub mod notify_customer;
pub mod notify_reauth;
pub mod place_whole_days;
pub mod poll;
pub mod queue;
pub mod reconcile;
pub mod refresh_organisation;
pub mod relay;
pub mod remind_checklist;
pub mod reread_import;
pub mod retry;
pub mod schedule_reminders;
pub mod scheduler;
pub mod send_alert;
pub mod send_reminder;
pub mod send_settings_link;
pub mod sync_bookings;
mod tokens;
pub mod update_checklists;
pub mod watch_calendars;
pub mod worker;

pub use handler::{Cause, JobError, JobHandler, KalendsJobs};
pub use queue::{JobQueue, QueuedJob};
pub use retry::RetryPolicy;
pub use tokens::SealedTokenStore;
