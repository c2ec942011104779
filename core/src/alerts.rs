//! Alert e-mails to the tenant, as decided: what each kind of alert says (its summary, its facts,
//! where to look) and the rule that says whether it may be raised now. The store raises a draft
//! in the transaction of the change that owes it (`record_alerts!` in `store/src/alerts.rs`).

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// An alert to raise, if its rule allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertDraft {
    /// One of [`kalends_core::domain::ALERT_KINDS`].
    pub kind: &'static str,
    /// What it is about (an import, a conflict, a connection, a booking, an endpoint).
    pub object_id: Uuid,
    /// One line: the subject of a single alert, a line of a digest.
    pub summary: String,
    /// What happened, since when, what it affects: `(label, value)`.
    pub facts: Vec<(String, String)>,
    /// Where to look (the console page, or the API object).
    pub link: String,
    /// When it may be raised.
    pub rule: AlertRule,
}

/// When an alert is raised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertRule {
    /// Unless the same kind about the same object was raised at or after this instant (the
    /// quiet period, or the start of the failing streak, whichever is earlier).
    Unless(DateTime<Utc>),
    /// Only if an alert of `kind` about the object was raised at or after `since` (a recovery
    /// is told only to those who were told of the failure), and none of this kind since then.
    After {
        /// The alert that must have gone out.
        kind: &'static str,
        /// Since when.
        since: DateTime<Utc>,
    },
}

/// A number of seconds from the configuration as a duration (saturating).
pub fn seconds(secs: u64) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000))
}

/// An instant as alerts write it.
pub fn instant(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A span as alerts write it on `today`: whole days (midnight to midnight UTC, as whole-day items
/// are kept for alerts) as nights, otherwise instants.
fn span(start: DateTime<Utc>, end: DateTime<Utc>, today: chrono::NaiveDate) -> String {
    match crate::words::whole_days(start, end, chrono_tz::UTC) {
        Some((first, checkout)) => crate::words::nights(first, checkout, today),
        None => format!("{} to {}", instant(start), instant(end)),
    }
}

/// `conflict_opened`: a new high-severity conflict, told at once (a new conflict is a new
/// object: each is told once). A double booking names the two stays; a booking's event edited
/// by hand in a staff calendar (and left so) names the booking and where the event is now.
pub fn conflict_opened(
    conflict: &crate::conflict_record::Conflict,
    owner_name: &str,
    at: DateTime<Utc>,
) -> AlertDraft {
    let items: Vec<&str> = conflict.items.iter().map(|i| i.label.as_str()).collect();
    let booking = items.first().copied().unwrap_or("a booking");
    let (summary, what, dates) = match conflict.kind {
        crate::conflict_record::ConflictKind::Overlap => (
            format!("Double booking: {} on {owner_name}", items.join(" and ")),
            format!("These overlap: {}", items.join("; ")),
            "Dates",
        ),
        crate::conflict_record::ConflictKind::ExternalEdit => (
            format!("Booking changed by hand: {booking} in {owner_name}'s calendar"),
            items.join(": "),
            "Booking's dates",
        ),
        // Rule conflicts are low or medium: not told at once, but written the same way.
        crate::conflict_record::ConflictKind::Rule => (
            format!("Booking breaks a rule: {booking} on {owner_name}"),
            conflict.suggestion.clone(),
            "Booking's dates",
        ),
    };
    AlertDraft {
        kind: "conflict_opened",
        object_id: conflict.id,
        summary,
        facts: vec![
            ("What happened".to_owned(), what),
            ("Detected at".to_owned(), instant(conflict.detected_at)),
            crate::words::owner_fact(conflict.owner, owner_name),
            (dates.to_owned(), span(conflict.start, conflict.end, at.date_naive())),
            ("Severity".to_owned(), conflict.severity.as_str().to_owned()),
            ("What to do".to_owned(), conflict.suggestion.clone()),
        ],
        link: "/dashboard/conflicts".to_owned(),
        rule: AlertRule::Unless(at),
    }
}

/// What a connection that lost its grant is.
#[derive(Debug)]
pub struct DeadGrant<'a> {
    /// The connection.
    pub connection_id: Uuid,
    /// Its staff member's name.
    pub staff_name: &'a str,
    /// `google`, `microsoft`, ...
    pub provider: &'a str,
    /// The account it is.
    pub account: &'a str,
    /// The provider's words.
    pub error: Option<&'a str>,
    /// The staff member's bookings still to come.
    pub upcoming_bookings: i64,
}

/// `connection_needs_reauth`: a connection's grant died; not told again about the same
/// connection within the quiet period.
pub fn connection_needs_reauth(
    grant: &DeadGrant<'_>,
    at: DateTime<Utc>,
    quiet_period: chrono::Duration,
) -> AlertDraft {
    AlertDraft {
        kind: "connection_needs_reauth",
        object_id: grant.connection_id,
        summary: format!("Calendar needs reconnecting: {}", grant.staff_name),
        facts: vec![
            ("Staff member".to_owned(), grant.staff_name.to_owned()),
            ("Calendar".to_owned(), format!("{} ({})", grant.account, grant.provider)),
            ("Since".to_owned(), instant(at)),
            (
                "Error".to_owned(),
                grant.error.unwrap_or("the grant was revoked or expired").to_owned(),
            ),
            (
                "What it affects".to_owned(),
                format!(
                    "{} upcoming booking(s) of theirs are not written to this calendar, and its \
                     busy times are not read, until they reconnect (they were e-mailed a link).",
                    grant.upcoming_bookings
                ),
            ),
        ],
        link: "/dashboard/staff".to_owned(),
        rule: AlertRule::Unless(at - quiet_period),
    }
}

/// What names an organisation connection in its alerts and webhook events.
#[derive(Clone, Copy, Debug)]
pub struct OrganisationRef<'a> {
    /// The organisation connection.
    pub id: Uuid,
    /// `google` or `microsoft`.
    pub provider: &'a str,
    /// The Workspace's domain, or the Microsoft 365 tenant's id.
    pub domain: &'a str,
}

impl OrganisationRef<'_> {
    /// As an alert names it: `Google Workspace salon.example`, `Microsoft 365 tenant 72f9…`.
    fn name(&self) -> String {
        match self.provider {
            "microsoft" => format!("Microsoft 365 tenant {}", self.domain),
            _ => format!("Google Workspace {}", self.domain),
        }
    }
}

/// What an organisation connection that needs its administrator is.
#[derive(Debug)]
pub struct OrganisationTrouble<'a> {
    /// The organisation connection.
    pub organisation: OrganisationRef<'a>,
    /// What failed: `Reading the directory`, or `The calendar of bo@salon.example`.
    pub what: &'a str,
    /// Why, in the administrator's words (what to change).
    pub error: &'a str,
}

/// `organisation_failing`: an organisation-wide connection's directory read was refused, a
/// member failed, or a covered calendar was refused by the organisation's grant; the
/// administrator acts, not the staff. Not told again about the same organisation from
/// `quiet_from` on (the quiet period, or the last e-mail saying it works again, whichever is
/// later; the console's Organisation page lists every member's state).
pub fn organisation_failing(
    trouble: &OrganisationTrouble<'_>,
    at: DateTime<Utc>,
    quiet_from: DateTime<Utc>,
) -> AlertDraft {
    let organisation = &trouble.organisation;
    AlertDraft {
        kind: "organisation_failing",
        object_id: organisation.id,
        summary: format!(
            "Organisation connection needs its administrator: {}",
            organisation.domain
        ),
        facts: vec![
            ("Organisation".to_owned(), organisation.name()),
            ("What failed".to_owned(), trouble.what.to_owned()),
            ("Since".to_owned(), instant(at)),
            ("What to do".to_owned(), trouble.error.to_owned()),
            (
                "What it affects".to_owned(),
                "The covered staff members' bookings may not reach their calendars, and their busy \
                 times may not be read, until the administrator acts; the staff have nothing to do."
                    .to_owned(),
            ),
        ],
        link: "/dashboard/organisation".to_owned(),
        rule: AlertRule::Unless(quiet_from),
    }
}

/// `organisation_recovered`: the directory read found nothing failing any more (the directory
/// read, every member in scope covered, no covered calendar refused) after the administrator was
/// told, from `failing_since`, that it failed. Only to those told of the failure
/// ([`AlertRule::After`]), once a streak.
pub fn organisation_recovered(
    organisation: &OrganisationRef<'_>,
    failing_since: DateTime<Utc>,
    at: DateTime<Utc>,
) -> AlertDraft {
    AlertDraft {
        kind: "organisation_recovered",
        object_id: organisation.id,
        summary: format!("Organisation connection working again: {}", organisation.domain),
        facts: vec![
            ("Organisation".to_owned(), organisation.name()),
            ("Failing from".to_owned(), instant(failing_since)),
            ("Working again at".to_owned(), instant(at)),
        ],
        link: "/dashboard/organisation".to_owned(),
        rule: AlertRule::After { kind: "organisation_failing", since: failing_since },
    }
}

/// What a booking whose sync failed is.
#[derive(Debug)]
pub struct FailedBooking<'a> {
    /// The booking.
    pub booking_id: Uuid,
    /// Its title.
    pub title: &'a str,
    /// Its time.
    pub start: DateTime<Utc>,
    /// Likewise.
    pub end: DateTime<Utc>,
    /// Its days, when it is all-day (the end exclusive).
    pub dates: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
    /// Its resource's name, if any.
    pub resource: Option<&'a str>,
    /// Whose calendar, and which: `Ana (google)`.
    pub calendar: String,
    /// When it last synced anywhere (the failing streak began after), if ever.
    pub last_synced: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The provider's words, or why the sync was given up.
    pub error: &'a str,
}

/// `booking_sync_failed`: once per booking per failing streak (until it syncs again), and not
/// again within the quiet period; several bookings within the digest window make one e-mail.
pub fn booking_sync_failed(
    booking: &FailedBooking<'_>,
    at: DateTime<Utc>,
    quiet_period: chrono::Duration,
) -> AlertDraft {
    let streak = booking.last_synced.unwrap_or(booking.created_at);
    let mut facts = vec![
        ("Booking".to_owned(), booking.title.to_owned()),
        (
            "Dates".to_owned(),
            booking.dates.map_or_else(
                || span(booking.start, booking.end, at.date_naive()),
                |(start, end)| crate::words::nights(start, end, at.date_naive()),
            ),
        ),
    ];
    if let Some(resource) = booking.resource {
        facts.push(("Resource".to_owned(), resource.to_owned()));
    }
    facts.extend([
        ("Calendar".to_owned(), booking.calendar.clone()),
        ("Failed at".to_owned(), instant(at)),
        ("Last synced".to_owned(), booking.last_synced.map_or_else(|| "never".to_owned(), instant)),
        ("Error".to_owned(), booking.error.to_owned()),
        (
            "What it affects".to_owned(),
            "The staff member's calendar does not show this booking as it is now.".to_owned(),
        ),
    ]);
    AlertDraft {
        kind: "booking_sync_failed",
        object_id: booking.booking_id,
        summary: format!("Booking not synced: {}", booking.title),
        facts,
        link: "/dashboard/sync".to_owned(),
        rule: AlertRule::Unless(streak.min(at - quiet_period)),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone as _};

    use super::*;

    #[test]
    fn an_alert_gives_whole_days_as_nights_and_other_spans_as_instants() {
        let today = NaiveDate::from_ymd_opt(2030, 1, 2).unwrap();
        let at = |d: u32, h: u32| Utc.with_ymd_and_hms(2030, 1, d, h, 0, 0).unwrap();
        assert_eq!(span(at(14, 0), at(15, 0), today), "the night of Mon 14 Jan");
        assert_eq!(span(at(14, 0), at(17, 0), today), "3 nights, 14–17 Jan");
        assert_eq!(
            span(at(14, 9), at(14, 10), today),
            "2030-01-14 09:00 UTC to 2030-01-14 10:00 UTC"
        );
    }
}
