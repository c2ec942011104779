//! What a job handler returns, and the handler that runs Kalends' own jobs.

use std::future::Future;
use std::time::Duration;

use kalends_core::config::{AlertsConfig, ChecklistsConfig};
use kalends_core::job::Job;
use kalends_store::{Store, StoreError};

/// What made a job fail, kept for the log (the recorded failure is the job error's message).
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why a job did not complete, and whether running it again can help.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A passing failure (a timeout, a 5xx, a rate limit, a database hiccup): retry later.
    #[error("transient: {message}")]
    Transient {
        /// What happened (what a failure that is given up records).
        message: String,
        /// The earliest useful retry, when the other side said so (`Retry-After`).
        retry_after: Option<Duration>,
        /// The error behind it, if one.
        #[source]
        cause: Option<Cause>,
        /// The part of the job its retry runs, when the rest is done or failed for good (a
        /// batch of bookings, one of which failed for the moment); `None`: the whole job.
        rest: Option<Box<Job>>,
    },
    /// Retrying cannot help (bad data, a rejected request): stop now and record it.
    #[error("permanent: {message}")]
    Permanent {
        /// What happened (what is recorded).
        message: String,
        /// The error behind it, if one.
        #[source]
        cause: Option<Cause>,
    },
}

impl JobError {
    /// A transient failure without a hint of when to retry.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::transient_after(message, None)
    }

    /// A transient failure, retried no earlier than `retry_after` when given.
    pub fn transient_after(message: impl Into<String>, retry_after: Option<Duration>) -> Self {
        JobError::Transient { message: message.into(), retry_after, cause: None, rest: None }
    }

    /// A permanent failure.
    pub fn permanent(message: impl Into<String>) -> Self {
        JobError::Permanent { message: message.into(), cause: None }
    }

    /// A transient failure because of `error`, whose text is the message.
    pub fn transient_from(
        error: impl std::error::Error + Send + Sync + 'static,
        retry_after: Option<Duration>,
    ) -> Self {
        let (message, cause) = (error.to_string(), Some(error.into()));
        JobError::Transient { message, retry_after, cause, rest: None }
    }

    /// A permanent failure because of `error`, whose text is the message.
    pub fn permanent_from(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        JobError::Permanent { message: error.to_string(), cause: Some(error.into()) }
    }

    /// The same failure, retried no earlier than `wait` from now when it is retried at all.
    pub fn retried_no_sooner_than(self, wait: Duration) -> Self {
        match self {
            JobError::Transient { message, retry_after, cause, rest } => {
                let retry_after = retry_after.max(Some(wait));
                JobError::Transient { message, retry_after, cause, rest }
            }
            permanent @ JobError::Permanent { .. } => permanent,
        }
    }

    /// The same failure, its retry running `rest` instead of the whole job (keeping the job's
    /// attempts, so it is given up when the whole job would have been).
    pub fn retrying_only(self, rest: Job) -> Self {
        match self {
            JobError::Transient { message, retry_after, cause, .. } => {
                JobError::Transient { message, retry_after, cause, rest: Some(Box::new(rest)) }
            }
            permanent @ JobError::Permanent { .. } => permanent,
        }
    }

    /// The part of the job a retry runs, when not the whole job.
    pub fn rest(&self) -> Option<&Job> {
        match self {
            JobError::Transient { rest, .. } => rest.as_deref(),
            JobError::Permanent { .. } => None,
        }
    }

    /// What happened, as recorded.
    pub fn message(&self) -> &str {
        match self {
            JobError::Transient { message, .. } | JobError::Permanent { message, .. } => message,
        }
    }

    /// The causes behind the message, outermost first, joined by `: ` (empty without one).
    pub fn causes(&self) -> String {
        let mut parts = Vec::new();
        let mut next = std::error::Error::source(self);
        while let Some(error) = next {
            parts.push(error.to_string());
            next = error.source();
        }
        parts.join(": ")
    }
}

/// A failure of the database behind a connection's tokens: judged as the store's error it is.
impl From<kalends_providers::session::TokenStoreError> for JobError {
    fn from(e: kalends_providers::session::TokenStoreError) -> Self {
        match e.downcast::<StoreError>() {
            Ok(store) => (*store).into(),
            Err(other) => JobError::transient(other.to_string()),
        }
    }
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Database(_) | StoreError::VersionConflict => {
                JobError::transient_from(e, None)
            }
            other => JobError::permanent_from(other),
        }
    }
}

/// Runs one job. The worker owns retries and recording; a handler only says what happened.
pub trait JobHandler: Clone + Send + Sync + 'static {
    /// Runs `job` once.
    fn handle(&self, job: &Job) -> impl Future<Output = Result<(), JobError>> + Send;

    /// Called once when the worker stops retrying `job` (a permanent failure, or transient ones
    /// past the deadline), after the failure is recorded: the place to mark what waited on it.
    fn gave_up(&self, _job: &Job, _error: &str) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// One job kind's run, boxed.
type BoxedRun<'a> = std::pin::Pin<Box<dyn Future<Output = Result<(), JobError>> + Send + 'a>>;

/// The handler of Kalends' own jobs: dispatches each kind to its file.
#[derive(Clone, Debug)]
pub struct KalendsJobs {
    store: Store,
    /// Seals the secrets the jobs keep (push channel secrets, a cleanup's tokens) and opens them.
    sealer: kalends_core::seal::Sealer,
    importer: kalends_service::importer::Importer,
    mail: kalends_service::customer_mail::CustomerMail,
    credentials: kalends_providers::session::Credentials,
    /// Where providers send push notifications (`{public_url}/webhooks/...`).
    public_url: String,
    /// Sends the tenants' outbound webhooks.
    webhooks: crate::deliver_webhook::WebhookSender,
    /// When checklist items are due and reminded (`[checklists]`, `[alerts]`).
    checklists: std::sync::Arc<(ChecklistsConfig, AlertsConfig)>,
    /// How often a connected calendar's busy times are imported (`sync.import_interval_minutes`).
    import_interval: chrono::Duration,
}

impl KalendsJobs {
    /// Handlers that read and write through `store` (its secrets sealed with `sealer`), import
    /// feeds with `importer` and e-mail customers through `mail`.
    pub fn new(
        store: Store,
        sealer: kalends_core::seal::Sealer,
        importer: kalends_service::importer::Importer,
        mail: kalends_service::customer_mail::CustomerMail,
        credentials: kalends_providers::session::Credentials,
        public_url: String,
    ) -> Self {
        let webhooks = crate::deliver_webhook::WebhookSender::new(&Default::default())
            .expect("the TLS backend starts");
        let checklists = std::sync::Arc::default();
        let import_interval = chrono::Duration::minutes(15);
        Self {
            store,
            sealer,
            importer,
            mail,
            credentials,
            public_url,
            webhooks,
            checklists,
            import_interval,
        }
    }

    /// Schedules a newly covered calendar's next import `every` from now (the default: 15
    /// minutes).
    pub fn with_import_interval(mut self, every: chrono::Duration) -> Self {
        self.import_interval = every;
        self
    }

    /// Dates and reminds checklist items with `checklists` and `alerts` instead of the defaults.
    pub fn with_checklists(mut self, checklists: &ChecklistsConfig, alerts: &AlertsConfig) -> Self {
        self.checklists = std::sync::Arc::new((checklists.clone(), alerts.clone()));
        self
    }

    /// Sends outbound webhooks with `sender` (configured from `[webhooks]`) instead of the
    /// defaults.
    pub fn with_webhooks(mut self, sender: crate::deliver_webhook::WebhookSender) -> Self {
        self.webhooks = sender;
        self
    }
}

impl JobHandler for KalendsJobs {
    /// A booking whose sync was given up shows `failed` with the reason in each calendar it
    /// was still waiting for (`POST /api/v1/connections/{id}/sync` retries it); a webhook
    /// delivery given up shows `failed` (its retry by hand sends it again).
    async fn gave_up(&self, job: &Job, error: &str) {
        if let Job::SyncBookings { tenant_id, booking_ids, .. } = job {
            for booking_id in booking_ids {
                if let Err(e) = self.store.fail_pending_events(*tenant_id, *booking_id, error).await
                {
                    tracing::warn!(error = %e, "could not mark the booking's pending events failed");
                }
            }
        }
        if let Job::CleanUpConnection { cleanup_id, .. } = job {
            kalends_service::connection_cleanups::give_up(&self.store, *cleanup_id, error).await;
        }
        // A delivery Kalends could not sign for the jobs' whole limit (its sealing keys were
        // not mended): failed, so the log shows it and a retry by hand sends it once they are.
        if let Job::DeliverWebhook { delivery_id, .. } = job
            && let Err(e) = self.store.abandon_webhook_delivery(*delivery_id).await
        {
            tracing::warn!(error = %e, "could not mark the webhook delivery failed");
        }
    }

    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        self.run(job).await
    }
}

impl KalendsJobs {
    /// What the organisation-wide connections' use cases need from a worker.
    fn organisations(&self) -> kalends_service::organisations::Context<'_> {
        kalends_service::organisations::Context {
            store: &self.store,
            sealer: &self.sealer,
            credentials: &self.credentials,
            next_import_at: chrono::Utc::now() + self.import_interval,
        }
    }

    /// The run of `job`: one arm per kind, each calling its file. Each kind's future is boxed:
    /// as one enum of them all the handler's future would be as large as the largest, which
    /// overflows small stacks (debug builds, test threads).
    fn run<'a>(&'a self, job: &'a Job) -> BoxedRun<'a> {
        let (store, sealer, mail) = (&self.store, &self.sealer, &self.mail);
        let credentials = &self.credentials;
        match job {
            Job::SyncBookings { tenant_id, booking_ids, lane, refused } => {
                let (tenant_id, lane) = (*tenant_id, *lane);
                let batch = crate::sync_bookings::Batch { tenant_id, booking_ids, lane, refused };
                Box::pin(crate::sync_bookings::run(store, credentials, batch))
            }
            Job::ImportAvailability { tenant_id, connection_id } => Box::pin(
                crate::import_availability::run(store, credentials, *tenant_id, *connection_id),
            ),
            Job::WatchCalendars { tenant_id: t, connection_id: c } => {
                let url = &self.public_url;
                Box::pin(crate::watch_calendars::run(store, sealer, credentials, url, *t, *c))
            }
            Job::CleanUpConnection { tenant_id: t, cleanup_id: c } => {
                Box::pin(crate::clean_up_connection::run(store, sealer, credentials, *t, *c))
            }
            Job::Reconcile { tenant_id, connection_id } => {
                Box::pin(crate::reconcile::run(store, credentials, *tenant_id, *connection_id))
            }
            Job::RefreshOrganisation { tenant_id: t, organisation_id: o } => {
                Box::pin(crate::refresh_organisation::run(self.organisations(), *t, *o))
            }
            Job::ImportFeed { tenant_id, import_id } => {
                Box::pin(crate::import_feed::run(&self.importer, *tenant_id, *import_id))
            }
            Job::RereadImport { tenant_id, import_id } => {
                Box::pin(crate::reread_import::run(&self.importer, *tenant_id, *import_id))
            }
            Job::PlaceWholeDays { tenant_id, recheck } => {
                Box::pin(crate::place_whole_days::run(store, *tenant_id, recheck))
            }
            Job::ScheduleReminders { tenant_id } => {
                Box::pin(crate::schedule_reminders::run(store, *tenant_id))
            }
            Job::NotifyCustomer { tenant_id, booking_id, resend } => {
                Box::pin(crate::notify_customer::run(store, mail, *tenant_id, *booking_id, *resend))
            }
            Job::SendReminder { tenant_id, booking_id, reminder, due_at } => Box::pin(
                crate::send_reminder::run(store, mail, *tenant_id, *booking_id, reminder, *due_at),
            ),
            Job::NotifyReauth { tenant_id, connection_id } => {
                Box::pin(crate::notify_reauth::run(store, mail, *tenant_id, *connection_id))
            }
            Job::SendSettingsLink { tenant_id, staff_id } => {
                Box::pin(crate::send_settings_link::run(store, mail, *tenant_id, *staff_id))
            }
            Job::SendAlert { tenant_id } => {
                Box::pin(crate::send_alert::run(store, mail, *tenant_id))
            }
            Job::DeliverWebhook { tenant_id: t, delivery_id } => Box::pin(
                crate::deliver_webhook::run(store, sealer, &self.webhooks, *t, *delivery_id),
            ),
            Job::UpdateChecklists { tenant_id: t, resource_id: r, booking_id: b, cause } => {
                let config = &self.checklists.0;
                Box::pin(crate::update_checklists::run(store, config, *t, *r, *b, cause))
            }
            Job::RemindChecklist { tenant_id: t, item_id } => {
                Box::pin(crate::remind_checklist::run(store, &self.checklists, *t, *item_id))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_put_off_comes_no_sooner_than_asked_and_a_permanent_failure_stays_one() {
        let wait = Duration::from_secs(30);
        let hinted = JobError::transient_after("slow down", Some(Duration::from_secs(60)));
        for (error, expected) in [
            (JobError::transient("no answer"), wait),
            (JobError::transient_after("slow down", Some(Duration::from_secs(2))), wait),
            (hinted, Duration::from_secs(60)),
        ] {
            match error.retried_no_sooner_than(wait) {
                JobError::Transient { retry_after, .. } => assert_eq!(retry_after, Some(expected)),
                other => panic!("{other:?}"),
            }
        }
        let refused = JobError::permanent("refused").retried_no_sooner_than(wait);
        assert!(matches!(refused, JobError::Permanent { .. }), "{refused:?}");
    }

    #[test]
    fn a_batch_failing_for_the_moment_retries_only_its_part_still_to_do() {
        let rest = Job::sync_booking(uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2));
        let hinted = JobError::transient_after("slow down", Some(Duration::from_secs(9)));
        let narrowed = hinted.retrying_only(rest.clone());
        assert_eq!(narrowed.rest(), Some(&rest));
        assert!(matches!(narrowed, JobError::Transient { retry_after: Some(_), .. }));
        assert_eq!(JobError::transient("no answer").rest(), None, "the whole job by default");
        let refused = JobError::permanent("refused").retrying_only(rest);
        assert_eq!(refused.rest(), None, "a permanent failure is not retried at all");
    }
}
