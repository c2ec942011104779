use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone as _, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Email, Owner, Span, TimeZone};

/// Where a booking stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    /// Held but not final; shown as tentative.
    Tentative,
    /// Final.
    Confirmed,
    /// Cancelled: removed from calendars, kept in feeds as cancelled for a while.
    Cancelled,
}

impl BookingStatus {
    /// The lowercase name stored and sent over the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tentative => "tentative",
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses the lowercase name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "tentative" => Some(Self::Tentative),
            "confirmed" => Some(Self::Confirmed),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }
}

/// Why a span is impossible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpanError {
    /// The end is not after the start.
    #[error("must be after the start")]
    EndNotAfterStart,
    /// The span is implausibly long (over 366 days).
    #[error("may last at most 366 days")]
    TooLong,
}

/// When a booking takes place: a timed span in a zone, or whole days (a stay).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BookingSpan {
    /// From `start` to `end` (exclusive), shown in `zone`.
    Timed {
        /// Start instant.
        start: DateTime<Utc>,
        /// End instant, after `start`.
        end: DateTime<Utc>,
        /// The zone the booking is shown in.
        zone: TimeZone,
    },
    /// Whole days from `start` to `end`, exclusive: a stay checking out on `end`.
    AllDay {
        /// First day.
        start: NaiveDate,
        /// The day after the last (check-out).
        end: NaiveDate,
    },
}

/// The most days (nights, for a stay) a booking may last.
pub const MAX_BOOKING_DAYS: i64 = 366;

impl BookingSpan {
    /// A timed span; sub-second precision is dropped so stored instants compare exactly.
    pub fn timed(
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        zone: TimeZone,
    ) -> Result<Self, SpanError> {
        let (start, end) = (trunc_secs(start), trunc_secs(end));
        if end <= start {
            return Err(SpanError::EndNotAfterStart);
        }
        if (end - start).num_days() > MAX_BOOKING_DAYS {
            return Err(SpanError::TooLong);
        }
        Ok(Self::Timed { start, end, zone })
    }

    /// Instants that surely contain the booking: a timed span as it is, whole days widened by a
    /// day either side (which covers every zone they can be placed in). For windows that look
    /// for the booking's event, not for placing it.
    pub fn rough_bounds(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        match *self {
            Self::Timed { start, end, .. } => (start, end),
            Self::AllDay { start, end } => (
                start.and_time(NaiveTime::MIN).and_utc() - chrono::Duration::days(1),
                end.and_time(NaiveTime::MIN).and_utc() + chrono::Duration::days(1),
            ),
        }
    }

    /// An all-day span with an exclusive end date.
    pub fn all_day(start: NaiveDate, end: NaiveDate) -> Result<Self, SpanError> {
        if end <= start {
            return Err(SpanError::EndNotAfterStart);
        }
        if (end - start).num_days() > MAX_BOOKING_DAYS {
            return Err(SpanError::TooLong);
        }
        Ok(Self::AllDay { start, end })
    }

    /// The instants the span covers; all-day spans are read in `home` (the resource's or tenant's zone).
    pub fn utc_range(&self, home: TimeZone) -> (DateTime<Utc>, DateTime<Utc>) {
        match self {
            Self::Timed { start, end, .. } => (*start, *end),
            Self::AllDay { start, end } => {
                (local_midnight(*start, home), local_midnight(*end, home))
            }
        }
    }

    /// Whether this is an all-day span.
    pub fn is_all_day(&self) -> bool {
        matches!(self, Self::AllDay { .. })
    }

    /// The zone the span is shown in: a timed span's own, else `home` (the resource's or tenant's
    /// zone, where whole days are placed).
    pub fn shown_in(&self, home: TimeZone) -> TimeZone {
        match self {
            Self::Timed { zone, .. } => *zone,
            Self::AllDay { .. } => home,
        }
    }
}

/// The span as calendars hold it: the same days or instants, the zone left to [`BookingSpan::shown_in`].
impl From<&BookingSpan> for Span {
    fn from(span: &BookingSpan) -> Self {
        match *span {
            BookingSpan::Timed { start, end, .. } => Span::Timed { start, end },
            BookingSpan::AllDay { start, end } => Span::AllDay { start, end },
        }
    }
}

fn trunc_secs(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// Midnight at the start of `day` in `zone`, or the first instant of that day when a DST change
/// skips midnight.
pub fn local_midnight(day: NaiveDate, zone: TimeZone) -> DateTime<Utc> {
    let tz = zone.tz();
    let mut time = day.and_time(NaiveTime::MIN);
    for _ in 0..4 {
        if let Some(t) = tz.from_local_datetime(&time).earliest() {
            return t.with_timezone(&Utc);
        }
        time += chrono::Duration::minutes(30);
    }
    Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN))
}

/// A start and an end instant.
pub type Instants = (DateTime<Utc>, DateTime<Utc>);

/// The instants an imported item's `span` takes, all-day days from midnight in `zone`.
pub fn span_instants(span: &Span, zone: TimeZone) -> Instants {
    match *span {
        Span::Timed { start, end } => (start, end),
        Span::AllDay { start, end } => (local_midnight(start, zone), local_midnight(end, zone)),
    }
}

/// The customer of a booking.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// Full name.
    pub name: String,
    /// Where invites and reminders go.
    pub email: Option<Email>,
    /// Contact number, free-form.
    pub phone: Option<String>,
}

/// A booking as the host describes it: everything but the server's bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBooking {
    /// The host's own id, unique per tenant.
    pub external_id: Option<String>,
    /// The bookable thing, if any.
    pub resource_id: Option<Uuid>,
    /// Staff assigned, without duplicates.
    pub staff_ids: Vec<Uuid>,
    /// Where it stands.
    pub status: BookingStatus,
    /// Short title.
    pub title: String,
    /// Longer text.
    pub description: Option<String>,
    /// Address or room.
    pub location: Option<String>,
    /// Who booked.
    pub customer: Option<Customer>,
    /// When.
    pub span: BookingSpan,
}

impl NewBooking {
    /// The resource and staff members whose calendars the booking is in.
    pub fn owners(&self) -> Vec<Owner> {
        let resource = self.resource_id.map(Owner::Resource);
        resource.into_iter().chain(self.staff_ids.iter().copied().map(Owner::Staff)).collect()
    }
}

/// A stored booking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Booking {
    /// Server id.
    pub id: Uuid,
    /// Owner.
    pub tenant_id: Uuid,
    /// The booking's content.
    pub data: NewBooking,
    /// Bumped on every change.
    pub version: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_must_follow_start() {
        let day = NaiveDate::from_ymd_opt(2025, 3, 1).unwrap();
        assert_eq!(BookingSpan::all_day(day, day), Err(SpanError::EndNotAfterStart));
        let t = Utc::now();
        assert_eq!(BookingSpan::timed(t, t, TimeZone::UTC), Err(SpanError::EndNotAfterStart));
    }

    #[test]
    fn all_day_spans_start_at_local_midnight() {
        let zone: TimeZone = "Africa/Johannesburg".parse().unwrap();
        let span = BookingSpan::all_day(
            NaiveDate::from_ymd_opt(2025, 3, 1).unwrap(),
            NaiveDate::from_ymd_opt(2025, 3, 3).unwrap(),
        )
        .unwrap();
        let (start, end) = span.utc_range(zone);
        assert_eq!(start.to_rfc3339(), "2025-02-28T22:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2025-03-02T22:00:00+00:00");
    }

    #[test]
    fn midnight_skipped_by_dst_falls_on_the_first_real_instant() {
        // Santiago skipped 00:00-01:00 on 2022-09-11.
        let zone: TimeZone = "America/Santiago".parse().unwrap();
        let day = NaiveDate::from_ymd_opt(2022, 9, 11).unwrap();
        assert_eq!(local_midnight(day, zone).to_rfc3339(), "2022-09-11T04:00:00+00:00");
    }
}
