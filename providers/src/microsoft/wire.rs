//! Graph's JSON as Kalends reads and writes it: event bodies from drafts, and events, delta
//! entries, schedules and subscriptions back into the provider-neutral types.

use chrono::{DateTime, NaiveDateTime, TimeZone as _, Utc};
use kalends_core::domain::TimeZone;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::calendar::{BusyInterval, Change, EventDraft, RemoteEvent, Span, Subscription};
use crate::error::ProviderError;
use crate::text::printable;

/// The single-value extended property that tags Kalends's events with their booking.
pub(super) const BOOKING_PROPERTY: &str =
    "String {7a3c3f0e-3b8e-4a9b-9f0e-6b616c656e64} Name KalendsBooking";
/// The one naming the connection that wrote the event (several may share one mailbox).
pub(super) const CONNECTION_PROPERTY: &str =
    "String {7a3c3f0e-3b8e-4a9b-9f0e-6b616c656e64} Name KalendsConnection";
/// The one naming the tenant whose booking it is.
pub(super) const TENANT_PROPERTY: &str =
    "String {7a3c3f0e-3b8e-4a9b-9f0e-6b616c656e64} Name KalendsTenant";
/// Every property Kalends tags its events with.
pub(super) const PROPERTIES: [&str; 3] = [BOOKING_PROPERTY, CONNECTION_PROPERTY, TENANT_PROPERTY];

/// `{"dateTime","timeZone"}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DateTimeTimeZone {
    date_time: String,
    time_zone: Option<String>,
}

impl DateTimeTimeZone {
    fn local(&self) -> Result<NaiveDateTime, ProviderError> {
        NaiveDateTime::parse_from_str(&self.date_time, "%Y-%m-%dT%H:%M:%S%.f").map_err(|_| {
            ProviderError::permanent(0, format!("unreadable Graph dateTime {:?}", self.date_time))
        })
    }

    /// The instant; responses are asked for in UTC, but an IANA zone is honoured too.
    fn instant(&self) -> Result<DateTime<Utc>, ProviderError> {
        let local = self.local()?;
        let zone = self
            .time_zone
            .as_deref()
            .and_then(|name| name.parse::<TimeZone>().ok())
            .unwrap_or(TimeZone::UTC);
        Ok(zone
            .tz()
            .from_local_datetime(&local)
            .earliest()
            .map_or_else(|| local.and_utc(), |at| at.with_timezone(&Utc)))
    }
}

/// An event, or a delta entry (`@removed` with only an id).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireEvent {
    id: String,
    #[serde(rename = "@removed")]
    removed: Option<Value>,
    #[serde(rename = "@odata.etag")]
    etag: Option<String>,
    change_key: Option<String>,
    subject: Option<String>,
    start: Option<DateTimeTimeZone>,
    end: Option<DateTimeTimeZone>,
    #[serde(default)]
    is_all_day: bool,
    #[serde(default)]
    is_cancelled: bool,
    show_as: Option<String>,
    response_status: Option<ResponseStatus>,
    original_start_time_zone: Option<String>,
    transaction_id: Option<String>,
    #[serde(default)]
    single_value_extended_properties: Vec<ExtendedProperty>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ResponseStatus {
    response: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ExtendedProperty {
    id: String,
    value: Option<String>,
}

impl WireEvent {
    /// Whether delta reports it gone (deleted, or cancelled by its organizer).
    pub(super) fn is_gone(&self) -> bool {
        self.removed.is_some() || self.is_cancelled
    }

    /// The delta change it stands for.
    pub(super) fn into_change(self) -> Result<Change, ProviderError> {
        if self.is_gone() {
            Ok(Change::Deleted { id: self.id })
        } else {
            self.into_remote().map(Change::Upserted)
        }
    }

    /// The provider-neutral event.
    pub(super) fn into_remote(self) -> Result<RemoteEvent, ProviderError> {
        let missing =
            || ProviderError::permanent(0, format!("Graph event {} has no start or end", self.id));
        let (start, end) =
            (self.start.as_ref().ok_or_else(missing)?, self.end.as_ref().ok_or_else(missing)?);
        let (time, zone) = if self.is_all_day {
            (Span::AllDay { start: start.local()?.date(), end: end.local()?.date() }, TimeZone::UTC)
        } else {
            let zone = self.original_start_time_zone.as_deref().and_then(|name| name.parse().ok());
            (
                Span::Timed { start: start.instant()?, end: end.instant()? },
                zone.unwrap_or(TimeZone::UTC),
            )
        };
        let busy = self.blocks_time();
        Ok(RemoteEvent {
            booking_id: self.property(BOOKING_PROPERTY),
            connection_id: self.property(CONNECTION_PROPERTY),
            tenant_id: self.property(TENANT_PROPERTY),
            id: self.id,
            summary: self.subject.as_deref().map(printable),
            time,
            zone,
            busy,
            creation_key: self.transaction_id,
            etag: self.etag.or(self.change_key),
        })
    }

    /// An expanded extended property holding an id.
    fn property(&self, id: &str) -> Option<Uuid> {
        self.single_value_extended_properties
            .iter()
            .find(|property| property.id.eq_ignore_ascii_case(id))
            .and_then(|property| property.value.as_deref())
            .and_then(|value| Uuid::parse_str(value).ok())
    }

    /// Not free or working elsewhere, not cancelled, not declined.
    fn blocks_time(&self) -> bool {
        let shown_free = matches!(self.show_as.as_deref(), Some("free" | "workingElsewhere"));
        let declined = self.response_status.as_ref().and_then(|status| status.response.as_deref())
            == Some("declined");
        !shown_free && !self.is_cancelled && !declined
    }

    /// The interval it blocks, if it does.
    pub(super) fn busy_interval(self) -> Result<Option<BusyInterval>, ProviderError> {
        if !self.blocks_time() {
            return Ok(None);
        }
        let event = self.into_remote()?;
        Ok(Some(match event.time {
            Span::AllDay { start, end } => BusyInterval {
                start: start.and_time(chrono::NaiveTime::MIN).and_utc(),
                end: end.and_time(chrono::NaiveTime::MIN).and_utc(),
            },
            Span::Timed { start, end } => BusyInterval { start, end },
        }))
    }
}

/// A page of a collection (`calendarView`, delta, calendars).
#[derive(Debug, Deserialize)]
pub(super) struct Page<T> {
    pub(super) value: Vec<T>,
    #[serde(rename = "@odata.nextLink")]
    pub(super) next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    pub(super) delta_link: Option<String>,
}

/// `GET /me`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct User {
    pub(super) mail: Option<String>,
    pub(super) user_principal_name: Option<String>,
    pub(super) display_name: Option<String>,
}

/// A user of the directory (`/users`, a group's members: only users are kept).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DirectoryEntry {
    #[serde(rename = "@odata.type", default)]
    pub(super) odata_type: Option<String>,
    pub(super) id: String,
    pub(super) mail: Option<String>,
    pub(super) user_principal_name: Option<String>,
    pub(super) display_name: Option<String>,
    #[serde(default)]
    pub(super) account_enabled: Option<bool>,
    /// `Member`, or `Guest` for someone invited from outside the organisation.
    #[serde(default)]
    pub(super) user_type: Option<String>,
    /// The service plans of the user's licences; `None` when Graph did not say.
    #[serde(default)]
    pub(super) assigned_plans: Option<Vec<AssignedPlan>>,
}

/// One service plan of a user's licences (`assignedPlan`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AssignedPlan {
    /// `exchange` for Exchange Online (the mailbox), `SharePoint`, ...
    #[serde(default)]
    pub(super) service: String,
    /// `Enabled`, `Warning` (a licence in its grace period), `Suspended`, `Deleted`,
    /// `LockedOut`.
    #[serde(default)]
    pub(super) capability_status: String,
    /// Which plan: Exchange Foundation (`EXCHANGE_S_FOUNDATION`) is of the `exchange` service
    /// but brings no mailbox (it comes with Power BI, Power Automate, Project, ...).
    #[serde(default)]
    pub(super) service_plan_id: String,
}

/// Exchange Foundation's service plan: an `exchange` plan without a mailbox.
const EXCHANGE_FOUNDATION: &str = "113feb6c-3fe4-4440-bddc-54d774bf0318";

impl DirectoryEntry {
    /// Whether the user has an Exchange Online mailbox: a plan of the `exchange` service that
    /// works (enabled, or in a licence's grace period), Exchange Foundation aside. Unknown
    /// (Graph sent no plans) counts as yes, so Graph's answer for the mailbox decides.
    pub(super) fn has_mailbox(&self) -> bool {
        self.assigned_plans.as_ref().is_none_or(|plans| {
            plans.iter().any(|plan| {
                plan.service.eq_ignore_ascii_case("exchange")
                    && !plan.service_plan_id.eq_ignore_ascii_case(EXCHANGE_FOUNDATION)
                    && ["Enabled", "Warning"]
                        .iter()
                        .any(|status| plan.capability_status.eq_ignore_ascii_case(status))
            })
        })
    }
}

/// A calendar.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireCalendar {
    pub(super) id: String,
    pub(super) name: String,
    #[serde(default)]
    pub(super) is_default_calendar: bool,
    #[serde(default)]
    pub(super) can_edit: bool,
}

/// One `scheduleInformation` of `getSchedule`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Schedule {
    #[serde(default)]
    pub(super) schedule_items: Vec<ScheduleItem>,
    pub(super) error: Option<Value>,
}

/// A busy (or free) block of a schedule.
#[derive(Debug, Deserialize)]
pub(super) struct ScheduleItem {
    status: String,
    start: DateTimeTimeZone,
    end: DateTimeTimeZone,
}

impl ScheduleItem {
    /// The interval, unless the block is free or working elsewhere.
    pub(super) fn busy_interval(&self) -> Result<Option<BusyInterval>, ProviderError> {
        if matches!(self.status.as_str(), "free" | "workingElsewhere") {
            return Ok(None);
        }
        Ok(Some(BusyInterval { start: self.start.instant()?, end: self.end.instant()? }))
    }
}

/// A subscription answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireSubscription {
    id: String,
    expiration_date_time: String,
}

impl WireSubscription {
    pub(super) fn into_subscription(self) -> Result<Subscription, ProviderError> {
        let expires_at = DateTime::parse_from_rfc3339(&self.expiration_date_time)
            .map_err(|_| {
                ProviderError::permanent(
                    0,
                    format!("unreadable expirationDateTime {:?}", self.expiration_date_time),
                )
            })?
            .with_timezone(&Utc);
        // Graph grants at most this; a later date would only make Kalends renew too late.
        let latest = Utc::now() + chrono::Duration::minutes(super::MAX_SUBSCRIPTION_MINUTES);
        Ok(Subscription { id: self.id, resource_id: None, expires_at: expires_at.min(latest) })
    }
}

/// The event body of a draft. `transactionId` only on create: Graph refuses to change it.
pub(super) fn event_body(draft: &EventDraft, with_transaction: bool) -> Value {
    let (start, end, all_day) = match &draft.time {
        Span::AllDay { start, end } => (
            json!({"dateTime": format!("{start}T00:00:00"), "timeZone": "UTC"}),
            json!({"dateTime": format!("{end}T00:00:00"), "timeZone": "UTC"}),
            true,
        ),
        Span::Timed { start, end } => {
            (local_in(*start, draft.zone), local_in(*end, draft.zone), false)
        }
    };
    let reminder = draft.reminder_minutes.iter().min().copied();
    let mut body = json!({
        "subject": draft.summary,
        "body": {"contentType": "text", "content": draft.description.clone().unwrap_or_default()},
        "location": {"displayName": draft.location.clone().unwrap_or_default()},
        "start": start,
        "end": end,
        "isAllDay": all_day,
        "showAs": if draft.tentative { "tentative" } else { "busy" },
        "isReminderOn": reminder.is_some(),
        "reminderMinutesBeforeStart": reminder.unwrap_or(0),
        "singleValueExtendedProperties": [
            {"id": BOOKING_PROPERTY, "value": draft.key.booking_id.to_string()},
            {"id": CONNECTION_PROPERTY, "value": draft.key.connection_id.to_string()},
            {"id": TENANT_PROPERTY, "value": draft.tenant_id.to_string()},
        ],
    });
    if with_transaction {
        body["transactionId"] = draft.key.transaction_id().into();
    }
    body
}

/// `{"dateTime","timeZone"}` of an instant as wall-clock time in an IANA zone, or in UTC when
/// that wall-clock time names two instants (the hour the clocks go back repeats): Graph would
/// read it as one of them, an hour off for the other.
fn local_in(at: DateTime<Utc>, zone: TimeZone) -> Value {
    match kalends_ical::write::wall_clock(at, zone.tz()) {
        Some(local) => json!({
            "dateTime": local.format("%Y-%m-%dT%H:%M:%S").to_string(),
            "timeZone": zone.to_string()
        }),
        None => utc_date_time(at),
    }
}

/// A UTC `dateTimeTimeZone` for request bodies (`getSchedule`).
pub(super) fn utc_date_time(at: DateTime<Utc>) -> Value {
    json!({"dateTime": at.naive_utc().format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC"})
}

/// An instant for a query string (`startDateTime`).
pub(super) fn query_instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
