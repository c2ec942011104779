//! The work a change owes, as it is recorded in the outbox and carried by the job queue.
//!
//! Payloads carry ids, never copies of data: a job re-reads the current state and converges to it,
//! so running one twice, or late, is harmless.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::Owner;

/// One unit of owed work.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Bring every calendar the bookings belong in up to date with them: write each into its
    /// staff's calendars, move it there, take it out once it is cancelled or its staff member is
    /// taken off it. The one kind for a single booking and for a batch: the outbox relay gathers
    /// the syncs of a tenant that it moves together into one job.
    ///
    /// The kinds it replaced, `sync_booking` and `delete_booking` with one `booking_id`, are
    /// still read (from a queue or an outbox written by an earlier version) as this kind.
    #[serde(alias = "sync_booking", alias = "delete_booking")]
    SyncBookings {
        /// Owner of the bookings.
        tenant_id: Uuid,
        /// The bookings, each once.
        #[serde(alias = "booking_id", deserialize_with = "one_or_many")]
        booking_ids: Vec<Uuid>,
        /// Owed by a replay (a calendar connected or chosen anew, a manual sync, a lost job
        /// found again), not by a change: it travels on the queue's backlog lane, so that a
        /// change made meanwhile is not stuck behind thousands of bookings replayed at the
        /// provider's quota ([`Lane`]).
        #[serde(default, skip_serializing_if = "Lane::is_live")]
        lane: Lane,
        /// The calendars that refused a booking for good in the job's earlier attempts: its
        /// retries leave them be (each was told `booking.sync_failed` once; a manual sync, a
        /// reconnect or the booking's next change tries them again).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        refused: Vec<Refused>,
    },
    /// Tell the booking's customer what changed: an invitation, an update or a cancellation by
    /// e-mail when something they care about changed, and the reminders scheduled.
    NotifyCustomer {
        /// Owner of the booking.
        tenant_id: Uuid,
        /// The booking.
        booking_id: Uuid,
        /// Send the current invitation again even if nothing changed (`POST .../invite`).
        #[serde(default)]
        resend: bool,
    },
    /// Send one reminder, if the booking still starts when it did when this was scheduled.
    SendReminder {
        /// Owner of the booking.
        tenant_id: Uuid,
        /// The booking.
        booking_id: Uuid,
        /// Which reminder (`1440`, `60`, `day-before`).
        reminder: String,
        /// The instant it was due, Unix seconds.
        due_at: i64,
    },
    /// Tell a staff member their calendar connection died, with a fresh settings link.
    NotifyReauth {
        /// Owner of the connection.
        tenant_id: Uuid,
        /// The connection.
        connection_id: Uuid,
    },
    /// E-mail a staff member a link to their calendar settings (the console's "E-mail a
    /// settings link").
    SendSettingsLink {
        /// The staff member's tenant.
        tenant_id: Uuid,
        /// The staff member.
        staff_id: Uuid,
    },
    /// Make sure the connection's calendars send push notifications: a channel (Google) or
    /// subscription (Microsoft) per watched calendar, created or renewed before it expires.
    WatchCalendars {
        /// Owner of the connection.
        tenant_id: Uuid,
        /// The connection.
        connection_id: Uuid,
    },
    /// Compare the events Kalends believes it made in a connection's calendar with what the
    /// calendar holds, and repair the difference.
    Reconcile {
        /// Owner of the connection.
        tenant_id: Uuid,
        /// The connection.
        connection_id: Uuid,
    },
    /// Fetch an imported .ics feed, store what changed, and look for new conflicts.
    ImportFeed {
        /// Owner of the import.
        tenant_id: Uuid,
        /// The import.
        import_id: Uuid,
    },
    /// Read an import's kept body again under its settings as they are now: they changed while
    /// a run held the import (which read under the old ones), or the reading at the change
    /// failed in the store. Retried while a run holds it.
    RereadImport {
        /// Owner of the import.
        tenant_id: Uuid,
        /// The import.
        import_id: Uuid,
    },
    /// Place every whole-day item of the tenant at midnight in its owner's zone as it is now,
    /// look at the overlaps of the owners whose items moved, and judge the bookings ahead of
    /// every owner with rules again: a zone changed (a resource's, a staff member's or the
    /// business's).
    PlaceWholeDays {
        /// The tenant whose zones changed.
        tenant_id: Uuid,
        /// Resources and staff whose items were moved by an earlier run that stopped before
        /// it looked at their overlaps again (a run that finds nothing more to move still does).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        recheck: Vec<Owner>,
    },
    /// Queue the reminders of every upcoming confirmed booking of the tenant again at their
    /// times as they are now: the reminder settings or a zone they are counted in changed.
    ScheduleReminders {
        /// The tenant whose settings changed.
        tenant_id: Uuid,
    },
    /// Clean up at the provider after a connection was taken away (disconnected, or its staff
    /// member deleted): remove the events it wrote when asked, stop its push channels, revoke
    /// the grant; then forget the cleanup (and with it the last copy of the tokens).
    CleanUpConnection {
        /// Owner of the connection.
        tenant_id: Uuid,
        /// The cleanup (`connection_cleanups`).
        cleanup_id: Uuid,
    },
    /// Import the busy times of a connection's chosen calendars (incrementally from the stored
    /// cursors), and look for new conflicts of its staff member.
    ImportAvailability {
        /// Owner of the connection.
        tenant_id: Uuid,
        /// The connection.
        connection_id: Uuid,
    },
    /// Make one attempt to deliver an outbound webhook event to one endpoint, and record what
    /// follows (success, the next attempt's job, or giving up).
    DeliverWebhook {
        /// Owner of the endpoint.
        tenant_id: Uuid,
        /// The delivery (`webhook_deliveries`).
        delivery_id: Uuid,
    },
    /// Bring the manual update checklists of a resource (and of every resource with items about
    /// the booking) up to date with its busy nights.
    UpdateChecklists {
        /// The tenant.
        tenant_id: Uuid,
        /// The resource whose nights changed, if known.
        resource_id: Option<Uuid>,
        /// The booking that changed, if one did.
        booking_id: Option<Uuid>,
        /// What changed (`booking_saved`, `block_added`, ...), shown as the items' trigger.
        cause: String,
    },
    /// Remind the tenant of a checklist item past its due time (with the other overdue items of
    /// its platform), and schedule the next, more urgent reminder before its first night.
    RemindChecklist {
        /// The tenant.
        tenant_id: Uuid,
        /// The item.
        item_id: Uuid,
    },
    /// E-mail the tenant's unsent alerts to its `alert_emails` (several as one digest).
    SendAlert {
        /// The tenant.
        tenant_id: Uuid,
    },
    /// Read an organisation-wide connection's directory again: joiners covered, leavers'
    /// calendars stopped, calendars that failed covered again.
    RefreshOrganisation {
        /// The tenant.
        tenant_id: Uuid,
        /// The organisation connection.
        organisation_id: Uuid,
    },
}

/// A calendar that refused a booking's version for good ([`Job::SyncBookings::refused`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    /// The booking.
    pub booking_id: Uuid,
    /// The connection whose calendar refused it.
    pub connection_id: Uuid,
    /// The booking's version it refused.
    pub version: i64,
}

impl Job {
    /// Bring the calendars of one booking up to date with it (created, changed or cancelled).
    pub fn sync_booking(tenant_id: Uuid, booking_id: Uuid) -> Self {
        Job::sync_bookings(tenant_id, vec![booking_id])
    }

    /// Bring the calendars of several bookings of a tenant up to date, in one job.
    pub fn sync_bookings(tenant_id: Uuid, booking_ids: Vec<Uuid>) -> Self {
        Job::sync_bookings_on(tenant_id, booking_ids, Lane::Live)
    }

    /// [`Job::sync_bookings`] travelling on `lane`, nothing refused yet.
    pub fn sync_bookings_on(tenant_id: Uuid, booking_ids: Vec<Uuid>, lane: Lane) -> Self {
        Job::SyncBookings { tenant_id, booking_ids, lane, refused: Vec::new() }
    }

    /// Bring a booking into a calendar that lacks it, on the backlog lane: what a replay owes.
    pub fn replay_booking(tenant_id: Uuid, booking_id: Uuid) -> Self {
        Job::sync_bookings_on(tenant_id, vec![booking_id], Lane::Backlog)
    }

    /// The queue lane the job travels on.
    pub fn lane(&self) -> Lane {
        match self {
            Job::SyncBookings { lane, .. } => *lane,
            _ => Lane::Live,
        }
    }

    /// The tenant whose work it is.
    pub fn tenant_id(&self) -> Uuid {
        match self {
            Job::SyncBookings { tenant_id, .. }
            | Job::NotifyCustomer { tenant_id, .. }
            | Job::SendReminder { tenant_id, .. }
            | Job::NotifyReauth { tenant_id, .. }
            | Job::SendSettingsLink { tenant_id, .. }
            | Job::WatchCalendars { tenant_id, .. }
            | Job::Reconcile { tenant_id, .. }
            | Job::ImportFeed { tenant_id, .. }
            | Job::RereadImport { tenant_id, .. }
            | Job::PlaceWholeDays { tenant_id, .. }
            | Job::ScheduleReminders { tenant_id }
            | Job::CleanUpConnection { tenant_id, .. }
            | Job::ImportAvailability { tenant_id, .. }
            | Job::DeliverWebhook { tenant_id, .. }
            | Job::UpdateChecklists { tenant_id, .. }
            | Job::RemindChecklist { tenant_id, .. }
            | Job::SendAlert { tenant_id, .. }
            | Job::RefreshOrganisation { tenant_id, .. } => *tenant_id,
        }
    }

    /// The job's kind, as used in metrics, logs and the failure record.
    pub fn kind(&self) -> &'static str {
        match self {
            Job::SyncBookings { .. } => "sync_bookings",
            Job::ImportFeed { .. } => "import_feed",
            Job::RereadImport { .. } => "reread_import",
            Job::PlaceWholeDays { .. } => "place_whole_days",
            Job::ScheduleReminders { .. } => "schedule_reminders",
            Job::NotifyCustomer { .. } => "notify_customer",
            Job::SendReminder { .. } => "send_reminder",
            Job::Reconcile { .. } => "reconcile",
            Job::WatchCalendars { .. } => "watch_calendars",
            Job::NotifyReauth { .. } => "notify_reauth",
            Job::SendSettingsLink { .. } => "send_settings_link",
            Job::ImportAvailability { .. } => "import_availability",
            Job::CleanUpConnection { .. } => "clean_up_connection",
            Job::DeliverWebhook { .. } => "deliver_webhook",
            Job::SendAlert { .. } => "send_alert",
            Job::UpdateChecklists { .. } => "update_checklists",
            Job::RemindChecklist { .. } => "remind_checklist",
            Job::RefreshOrganisation { .. } => "refresh_organisation",
        }
    }
}

/// The two lanes of the job queue, each with its own workers' slots: a replay of thousands of
/// bookings, paced by the provider's quota, waits on its own lane and runs a few jobs at a time,
/// while a change made meanwhile is taken at once and its requests join the account's budget
/// beside the replay's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    /// Work a change owes now.
    #[default]
    Live,
    /// Replays: work owed in bulk that only has to arrive eventually.
    Backlog,
}

impl Lane {
    /// `live` or `backlog`, as metrics label it.
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Live => "live",
            Lane::Backlog => "backlog",
        }
    }

    fn is_live(&self) -> bool {
        *self == Lane::Live
    }
}

/// `booking_ids` as written today (a list) or by the kinds it replaced (one `booking_id`).
fn one_or_many<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<Uuid>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Ids {
        One(Uuid),
        Many(Vec<Uuid>),
    }
    Ok(match Ids::deserialize(deserializer)? {
        Ids::One(id) => vec![id],
        Ids::Many(ids) => ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_or_delete_queued_by_an_earlier_version_reads_as_a_sync_of_that_booking() {
        let (tenant_id, booking_id) = (Uuid::from_u128(1), Uuid::from_u128(2));
        for kind in ["sync_booking", "delete_booking"] {
            let json = format!(
                r#"{{"kind":"{kind}","tenant_id":"{tenant_id}","booking_id":"{booking_id}"}}"#
            );
            let job: Job = serde_json::from_str(&json).unwrap();
            assert_eq!(job, Job::sync_booking(tenant_id, booking_id), "{kind}");
        }
    }

    #[test]
    fn a_sync_is_written_as_the_one_kind_with_its_list_and_read_back_the_same() {
        let job =
            Job::sync_bookings(Uuid::from_u128(1), vec![Uuid::from_u128(2), Uuid::from_u128(3)]);
        let json = serde_json::to_value(&job).unwrap();
        assert_eq!(json["kind"], "sync_bookings");
        assert_eq!(json["booking_ids"].as_array().map(Vec::len), Some(2));
        assert!(json.get("lane").is_none(), "a live sync is written as before");
        assert_eq!(serde_json::from_value::<Job>(json).unwrap(), job);
    }

    #[test]
    fn a_replayed_booking_travels_on_the_backlog_lane_and_keeps_it_through_the_queue() {
        let job = Job::replay_booking(Uuid::from_u128(1), Uuid::from_u128(2));
        assert_eq!(job.lane(), Lane::Backlog);
        let back: Job = serde_json::from_str(&serde_json::to_string(&job).unwrap()).unwrap();
        assert_eq!(back.lane(), Lane::Backlog);
        assert_eq!(Job::sync_booking(Uuid::from_u128(1), Uuid::from_u128(2)).lane(), Lane::Live);
    }
}
