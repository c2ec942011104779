use std::collections::BTreeMap;

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
    /// Who receives alert e-mails (each address every alert, unless `alert_subscriptions` says
    /// otherwise); none by default.
    pub alert_emails: Vec<String>,
    /// Which alerts (of [`ALERT_KINDS`]) an address of `alert_emails` wants; an address not
    /// listed here receives every alert.
    pub alert_subscriptions: BTreeMap<String, Vec<String>>,
}

/// The alerts an address of `alert_emails` may choose, one per kind of alert.
pub const ALERT_KINDS: &[&str] = &[
    "import_failing",
    "import_recovered",
    "webhook_endpoint_disabled",
    "conflict_opened",
    "connection_needs_reauth",
    "booking_sync_failed",
    "checklist_overdue",
    "import_held",
    "feed_item_missing",
    "organisation_failing",
    "organisation_recovered",
];

impl TenantSettings {
    /// The addresses that want alerts of `kind`, in the order of `alert_emails`.
    pub fn alert_recipients(&self, kind: &str) -> Vec<&str> {
        self.alert_emails
            .iter()
            .filter(|address| {
                self.alert_subscriptions
                    .get(address.as_str())
                    .is_none_or(|kinds| kinds.iter().any(|k| k == kind))
            })
            .map(String::as_str)
            .collect()
    }

    /// Whether anybody wants alerts of `kind`.
    pub fn wants_alert(&self, kind: &str) -> bool {
        !self.alert_recipients(kind).is_empty()
    }
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
            alert_subscriptions: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_without_choices_gets_every_alert_and_one_with_choices_only_those() {
        let settings = TenantSettings {
            alert_emails: vec!["ops@example.com".into(), "owner@example.com".into()],
            alert_subscriptions: BTreeMap::from([(
                "owner@example.com".to_owned(),
                vec!["conflict_opened".to_owned()],
            )]),
            ..TenantSettings::default()
        };
        assert_eq!(
            settings.alert_recipients("conflict_opened"),
            ["ops@example.com", "owner@example.com"]
        );
        assert_eq!(settings.alert_recipients("import_failing"), ["ops@example.com"]);
        let nobody = TenantSettings::default();
        assert!(!nobody.wants_alert("conflict_opened"));
    }
}
