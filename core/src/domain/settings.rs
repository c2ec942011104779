use serde::{Deserialize, Serialize};

use super::TimeZone;

/// How much of a booking a calendar event shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventPrivacy {
    /// Title, customer and description.
    #[default]
    Details,
    /// Only the busy label.
    Busy,
}

/// What happens when a staff member edits an event Kalends created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExternalEditPolicy {
    /// Push the booking's truth back.
    #[default]
    Restore,
    /// Keep the edit and raise a conflict for a human.
    Accept,
}

/// Event colours by booking status (provider colour names or ids).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatusColors {
    /// Colour of confirmed bookings.
    pub confirmed: Option<String>,
    /// Colour of tentative bookings.
    pub tentative: Option<String>,
}

impl Default for StatusColors {
    fn default() -> Self {
        Self { confirmed: None, tentative: Some("yellow".into()) }
    }
}

/// A tenant's own choices, each with a sensible default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TenantSettings {
    /// Display name of the business.
    pub name: String,
    /// The business's home zone: the default for resources, staff and all-day bookings.
    pub time_zone: TimeZone,
    /// Sender display name of customer emails.
    pub mail_from_name: Option<String>,
    /// Reply-To of customer emails.
    pub reply_to: Option<String>,
    /// SUMMARY of busy-only events and feeds.
    pub busy_label: String,
    /// How much of a booking staff calendars show.
    pub event_privacy: EventPrivacy,
    /// Email the customer an invite when a booking becomes confirmed.
    pub invite_on_confirm: bool,
    /// Reminder offsets before a timed booking's start, in minutes.
    pub reminder_offsets_minutes: Vec<u32>,
    /// Hour (0-23, resource zone) of the day-before reminder of all-day bookings.
    pub all_day_reminder_hour: u8,
    /// What to do when a staff member edits a Kalends event.
    pub external_edit_policy: ExternalEditPolicy,
    /// How long cancelled bookings stay in feeds as cancelled.
    pub cancelled_retention_days: u32,
    /// Event colours by status.
    pub colors: StatusColors,
    /// Who receives alert e-mails (a feed failing, and recovering); none by default.
    pub alert_emails: Vec<String>,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            name: String::new(),
            time_zone: TimeZone::UTC,
            mail_from_name: None,
            reply_to: None,
            busy_label: "Reserved".into(),
            event_privacy: EventPrivacy::Details,
            invite_on_confirm: true,
            reminder_offsets_minutes: vec![1440, 60],
            all_day_reminder_hour: 9,
            external_edit_policy: ExternalEditPolicy::Restore,
            cancelled_retention_days: 30,
            colors: StatusColors::default(),
            alert_emails: Vec::new(),
        }
    }
}
