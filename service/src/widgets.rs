//! Availability widgets: a resource's free and busy days, published for the business's own
//! website under a secret URL, and what a visitor of that URL may see.
//!
//! A visitor sees free and busy time only. The busy items of the resource are those of
//! `GET /api/v1/availability` (bookings that are not cancelled, blocks, imported feed items);
//! their titles, customers, sources and ids never leave this module: the answer is the union of
//! their spans and one state per day.

use chrono::{DateTime, Datelike as _, Days, NaiveDate, Utc};
use uuid::Uuid;

use kalends_core::availability::{self, NightItem};
use kalends_core::config::SecretKey;
use kalends_core::domain::{Owner, Tenant, TimeZone, local_midnight};
use kalends_store::{AvailabilityWidget, OwnerRules};
use kalends_store::{Store, StoreError};

/// Days a window covers when none is asked for.
pub const DEFAULT_DAYS: u64 = 90;
/// The most days one window may cover.
pub const MAX_DAYS: u64 = 366;

/// Publishes a widget of a resource of the tenant; its secret URL is derived from `key`.
pub async fn create(
    store: &Store,
    tenant: &Tenant,
    resource_id: Uuid,
    key: &SecretKey,
) -> Result<AvailabilityWidget, StoreError> {
    store.create_widget(tenant, resource_id, key).await
}

/// Removes a widget: its URL answers 404 from now on.
pub async fn delete(store: &Store, tenant_id: Uuid, id: Uuid) -> Result<(), StoreError> {
    store.delete_widget(tenant_id, id).await
}

/// Why a window of days cannot be shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// `to` is not after `from`.
    #[error("must be after from")]
    Empty,
    /// More than [`MAX_DAYS`] days.
    #[error("the window may be at most {MAX_DAYS} days")]
    TooLong,
}

/// Whole days `from` (inclusive) to `to` (exclusive), in the resource's zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DayWindow {
    from: NaiveDate,
    to: NaiveDate,
}

impl DayWindow {
    /// The days from `from` to `to` (exclusive): at least one, at most [`MAX_DAYS`].
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Self, WindowError> {
        if to <= from {
            return Err(WindowError::Empty);
        }
        if from.checked_add_days(Days::new(MAX_DAYS)).is_some_and(|last| to > last) {
            return Err(WindowError::TooLong);
        }
        Ok(Self { from, to })
    }

    /// [`DEFAULT_DAYS`] days from `from`.
    pub fn default_from(from: NaiveDate) -> Option<Self> {
        Some(Self { from, to: from.checked_add_days(Days::new(DEFAULT_DAYS))? })
    }

    /// Every day of the month that `day` falls in.
    pub fn month_of(day: NaiveDate) -> Option<Self> {
        let from = day.with_day(1)?;
        Some(Self { from, to: from.checked_add_months(chrono::Months::new(1))? })
    }

    /// The first day.
    pub fn from(&self) -> NaiveDate {
        self.from
    }

    /// The day after the last.
    pub fn to(&self) -> NaiveDate {
        self.to
    }

    /// Every day, in order.
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let to = self.to;
        self.from.iter_days().take_while(move |d| *d < to)
    }
}

/// How much of a day is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DayState {
    /// Nothing overlaps the day.
    Free,
    /// Part of the day is taken (a timed booking, the end of a timed stay).
    Partial,
    /// The whole day is taken: for stays, the night that starts on it (a stay from the 10th to
    /// the 12th takes the 10th and the 11th; the 12th, its check-out day, stays free).
    Busy,
    /// Nothing takes the day, but the resource's rules let no stay start on it (turnover, the
    /// notice, the window, a gap too short, a weekday without arrivals): only for resources
    /// with rules, as `GET /api/v1/availability/stays` answers `can_check_in`.
    NoCheckIn,
}

impl DayState {
    /// `free`, `partial`, `busy` or `no_check_in`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Partial => "partial",
            Self::Busy => "busy",
            Self::NoCheckIn => "no_check_in",
        }
    }
}

/// What a visitor may know of a resource's calendar in a window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicAvailability {
    /// The zone the days are counted in.
    pub zone: TimeZone,
    /// The window.
    pub window: DayWindow,
    /// One state per day of the window, in order.
    pub days: Vec<(NaiveDate, DayState)>,
    /// The taken time within the window: the union of the busy items, by start, cut to the
    /// window, so neither the items nor where one ends and the next begins can be told apart.
    pub busy: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

/// The free and busy days of the widget's resource (`owned`: its rules and zone) in `window`,
/// counted in its zone, `today` being its date now. Under rules, a free day on which no stay
/// may start is [`DayState::NoCheckIn`]; without, the days are only free or taken.
pub async fn availability(
    store: &Store,
    widget: &AvailabilityWidget,
    owned: &OwnerRules,
    today: NaiveDate,
    window: DayWindow,
) -> Result<PublicAvailability, StoreError> {
    let (rules, zone) = (&owned.rules, owned.zone);
    // Whether a stay may start on a day depends on the nights around the window too.
    let (lo, hi) = match rules.is_empty() {
        true => (window.from, window.to),
        false => availability::nights_reach(rules, window.from, window.to),
    };
    let (start, end) = (local_midnight(lo, zone), local_midnight(hi, zone));
    let owner = Owner::Resource(widget.resource_id);
    let items = store.busy_items(widget.tenant_id, owner, Some((start, end))).await?;
    let mut public = summarise(items.iter().map(|b| (b.start, b.end)), zone, window);
    if !rules.is_empty() {
        let taken: Vec<NightItem> = items.iter().map(|item| NightItem::of(item, zone)).collect();
        let nights = availability::nights(rules, today, &taken, window.from, window.to);
        for ((_, state), night) in public.days.iter_mut().zip(&nights) {
            if *state == DayState::Free && !night.can_check_in {
                *state = DayState::NoCheckIn;
            }
        }
    }
    Ok(public)
}

/// The day states and the merged busy time of `spans` in `window`.
fn summarise(
    spans: impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)>,
    zone: TimeZone,
    window: DayWindow,
) -> PublicAvailability {
    let (start, end) = (local_midnight(window.from, zone), local_midnight(window.to, zone));
    let busy = merged(spans.filter(|(s, e)| s < e), start, end);
    let mut first = 0;
    let days = window
        .days()
        .map(|day| {
            let (from, to) = (local_midnight(day, zone), local_midnight(next(day), zone));
            while busy.get(first).is_some_and(|(_, e)| *e <= from) {
                first += 1;
            }
            let taken = busy[first..]
                .iter()
                .take_while(|(s, _)| *s < to)
                .map(|(s, e)| (*e).min(to) - (*s).max(from))
                .sum::<chrono::TimeDelta>();
            let state = if taken.is_zero() {
                DayState::Free
            } else if taken >= to - from {
                DayState::Busy
            } else {
                DayState::Partial
            };
            (day, state)
        })
        .collect();
    PublicAvailability { zone, window, days, busy }
}

fn next(day: NaiveDate) -> NaiveDate {
    day.succ_opt().unwrap_or(day)
}

/// The union of `spans` within `[start, end)`, as disjoint spans by start (touching spans join).
fn merged(
    spans: impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut spans: Vec<_> =
        spans.map(|(s, e)| (s.max(start), e.min(end))).filter(|(s, e)| s < e).collect();
    spans.sort_unstable();
    let mut out: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::with_capacity(spans.len());
    for (s, e) in spans {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn zone(name: &str) -> TimeZone {
        name.parse().unwrap()
    }

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    fn stay(zone: TimeZone, from: u32, to: u32) -> (DateTime<Utc>, DateTime<Utc>) {
        (local_midnight(day(from), zone), local_midnight(day(to), zone))
    }

    fn states(a: &PublicAvailability) -> String {
        a.days.iter().map(|(_, s)| &s.as_str()[..1]).collect()
    }

    #[test]
    fn a_stay_takes_its_nights_and_leaves_its_check_out_day_free() {
        let z = zone("Europe/Amsterdam");
        let window = DayWindow::new(day(8), day(15)).unwrap();
        let a = summarise([stay(z, 10, 12), stay(z, 12, 13)].into_iter(), z, window);
        assert_eq!(states(&a), "ffbbbff", "8 and 9 free, 10 to 12 busy, 13 and 14 free");
        assert_eq!(a.busy, vec![(stay(z, 10, 13))], "back-to-back stays show as one span");
    }

    #[test]
    fn a_timed_booking_makes_its_day_partly_busy_and_a_long_one_the_days_it_covers_busy() {
        let z = zone("Europe/Amsterdam");
        let at = |d: u32, h: u32| z.tz().with_ymd_and_hms(2026, 3, d, h, 0, 0).unwrap().to_utc();
        let window = DayWindow::new(day(1), day(6)).unwrap();
        let a = summarise([(at(2, 10), at(2, 11)), (at(3, 15), at(5, 10))].into_iter(), z, window);
        assert_eq!(states(&a), "fppbp", "1 free, 2 and 3 partial, 4 busy, 5 partial");
    }

    #[test]
    fn days_are_counted_in_the_zone_across_a_daylight_saving_change() {
        // 29 March 2026: Amsterdam's day has 23 hours; a stay over it still takes it whole.
        let z = zone("Europe/Amsterdam");
        let window = DayWindow::new(day(28), day(31)).unwrap();
        let a = summarise([stay(z, 29, 30)].into_iter(), z, window);
        assert_eq!(states(&a), "fbf");
    }

    #[test]
    fn busy_time_is_cut_to_the_window_and_overlaps_join() {
        let z = zone("UTC");
        let window = DayWindow::new(day(10), day(12)).unwrap();
        let a = summarise([stay(z, 1, 11), stay(z, 5, 10), stay(z, 11, 20)].into_iter(), z, window);
        assert_eq!(a.busy, vec![stay(z, 10, 12)]);
        assert_eq!(states(&a), "bb");
    }

    #[test]
    fn a_window_is_at_least_a_day_and_at_most_a_year_and_a_day() {
        assert_eq!(DayWindow::new(day(2), day(2)), Err(WindowError::Empty));
        let from = day(1);
        assert!(DayWindow::new(from, from.checked_add_days(Days::new(366)).unwrap()).is_ok());
        assert_eq!(
            DayWindow::new(from, from.checked_add_days(Days::new(367)).unwrap()),
            Err(WindowError::TooLong)
        );
        let feb = DayWindow::month_of(NaiveDate::from_ymd_opt(2028, 2, 17).unwrap()).unwrap();
        assert_eq!(feb.days().count(), 29);
        assert_eq!(DayWindow::default_from(from).unwrap().days().count(), 90);
    }
}
