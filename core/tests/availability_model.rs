//! The availability engine against brute-force models written from the rules' text, not from
//! the engine: stays night by night (every stay from every night to every later day is tried),
//! slots minute by minute (every minute of a slot and its buffers against every busy item),
//! over random rules, busy items, zones and days around daylight-saving changes.

use chrono::{DateTime, Datelike as _, Days, Duration, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use kalends_core::availability::{
    ItemKind, Mode, NightItem, NightState, Rules, RulesDraft, SlotOwner, SlotQuery, nights, slots,
};
use kalends_core::domain::TimeZone;
use proptest::prelude::*;
use uuid::Uuid;

/// A slot or busy time.
type Interval = (DateTime<Utc>, DateTime<Utc>);

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn base() -> NaiveDate {
    NaiveDate::from_ymd_opt(2030, 3, 1).unwrap()
}

fn date(n: i64) -> NaiveDate {
    base() + Duration::days(n)
}

fn rules(draft: RulesDraft) -> Rules {
    Rules::try_from(draft).unwrap()
}

fn day_set(mask: u8) -> Option<Vec<String>> {
    (mask != 0)
        .then(|| (0..7).filter(|i| mask & (1 << i) != 0).map(|i| DAYS[i].to_owned()).collect())
}

fn listed(names: &Option<Vec<String>>, day: NaiveDate) -> bool {
    let name = DAYS[day.weekday().num_days_from_monday() as usize];
    names.as_ref().is_some_and(|n| n.iter().any(|d| d == name))
}

// ------------------------------------------------------------------------------------- stays

/// The stay rules as drawn: every one may be absent.
fn stay_rules() -> impl Strategy<Value = RulesDraft> {
    (
        prop::option::of(0i64..4),
        prop::option::of(1i64..5),
        prop::option::of(0i64..6),
        prop::option::of(5i64..50),
        prop::option::of(0i64..6),
        any::<u8>(),
        any::<u8>(),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(turnover, min, extra, window, notice, arrive, depart, short)| RulesDraft {
            turnover_days: turnover,
            min_nights: min,
            max_nights: extra.map(|e| min.unwrap_or(1) + e),
            booking_window_days: window,
            min_notice_days: notice,
            no_arrival_days: day_set(arrive & 0x7f & (arrive >> 1)),
            no_departure_days: day_set(depart & 0x7f & (depart >> 2)),
            block_short_gaps: short,
            ..RulesDraft::default()
        })
}

fn night_items() -> impl Strategy<Value = Vec<NightItem>> {
    prop::collection::vec((0i64..70, 1i64..7, any::<bool>()), 0..8).prop_map(|items| {
        items
            .into_iter()
            .map(|(start, len, stay)| NightItem {
                start: date(start),
                end: date(start + len),
                kind: if stay { ItemKind::Stay } else { ItemKind::Block },
            })
            .collect()
    })
}

/// The model's view of every night, from the rules' text.
struct StayModel<'a> {
    draft: &'a RulesDraft,
    items: &'a [NightItem],
    today: NaiveDate,
}

impl StayModel<'_> {
    fn covered(&self, d: NaiveDate, kind: ItemKind) -> bool {
        self.items.iter().any(|i| i.kind == kind && i.start <= d && d < i.end)
    }

    fn busy(&self, d: NaiveDate) -> bool {
        self.covered(d, ItemKind::Stay) || self.covered(d, ItemKind::Block)
    }

    fn turnover(&self) -> i64 {
        self.draft.turnover_days.unwrap_or(0)
    }

    /// Kept free: the turnover nights after a stay and before it (a stay ending in them would
    /// leave no turnover before the next).
    fn is_turnover(&self, d: NaiveDate) -> bool {
        let t = Days::new(self.turnover() as u64);
        !self.busy(d)
            && self.items.iter().any(|i| {
                let after = i.kind == ItemKind::Stay && i.end <= d && d < i.end + t;
                let before = i.kind == ItemKind::Stay && d < i.start && i.start - t <= d;
                after || before
            })
    }

    fn closed_by_date(&self, d: NaiveDate) -> bool {
        let notice = self.draft.min_notice_days.unwrap_or(0);
        let window = self.draft.booking_window_days;
        d < self.today
            || d < self.today + Days::new(notice as u64)
            || window.is_some_and(|w| d >= self.today + Days::new(w as u64))
    }

    /// Free before short gaps are closed.
    fn base_free(&self, d: NaiveDate) -> bool {
        !self.busy(d) && !self.is_turnover(d) && !self.closed_by_date(d)
    }

    /// Whether a stay may end on `c` as far as what follows it goes: its turnover nights are
    /// not busy.
    fn room_after(&self, c: NaiveDate) -> bool {
        (0..self.turnover()).all(|k| !self.busy(c + Days::new(k as u64)))
    }

    fn min(&self) -> i64 {
        self.draft.min_nights.unwrap_or(1)
    }

    fn max(&self) -> i64 {
        self.draft.max_nights.unwrap_or(366) // as long as a booking may last
    }

    /// The free nights from `first` to `horizon`: the free nights before short gaps are closed,
    /// less every gap too short for the shortest stay (no stay of the shortest length or more
    /// fits between the gap's first night and its end with its turnover). A gap running to the
    /// horizon is long; `first` is before today, so every gap starts after it.
    fn free_nights(&self, first: NaiveDate, horizon: NaiveDate) -> Vec<bool> {
        let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d < horizon).collect();
        let mut free: Vec<bool> = days.iter().map(|d| self.base_free(*d)).collect();
        if self.draft.block_short_gaps != Some(true) {
            return free;
        }
        let mut i = 0;
        while i < days.len() {
            if !free[i] {
                i += 1;
                continue;
            }
            let a = i;
            while i < days.len() && free[i] {
                i += 1;
            }
            if i == days.len() {
                break;
            }
            let longest = (1..=(i - a))
                .filter(|n| self.room_after(days[a] + Days::new(*n as u64)))
                .max()
                .unwrap_or(0);
            if (longest as i64) < self.min() {
                free[a..i].iter_mut().for_each(|f| *f = false);
            }
        }
        free
    }

    fn state(&self, d: NaiveDate, free: bool) -> NightState {
        if self.covered(d, ItemKind::Stay) {
            NightState::Booked
        } else if self.covered(d, ItemKind::Block) {
            NightState::Blocked
        } else if self.is_turnover(d) {
            NightState::Turnover
        } else if free {
            NightState::Free
        } else {
            NightState::ClosedByRule
        }
    }

    /// Whether a stay from `a` to `c` may be sold; `free_count(x, y)` counts the free nights
    /// from `x` to `y`.
    fn sellable(
        &self,
        a: NaiveDate,
        c: NaiveDate,
        free_count: &dyn Fn(NaiveDate, NaiveDate) -> i64,
    ) -> bool {
        let n = (c - a).num_days();
        n >= self.min()
            && n <= self.max()
            && !listed(&self.draft.no_arrival_days, a)
            && !listed(&self.draft.no_departure_days, c)
            && free_count(a, c) == n
            && self.room_after(c)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn nights_agree_with_the_night_by_night_model(
        draft in stay_rules(),
        items in night_items(),
        today in 0i64..30,
        from in 0i64..50,
        len in 1i64..30,
    ) {
        let rules = rules(draft.clone());
        let today = date(today);
        let (from, to) = (date(from), date(from + len));
        let found = nights(&rules, today, &items, from, to);
        let model = StayModel { draft: &draft, items: &items, today };
        let first = date(-400);
        let free = model.free_nights(first, date(1000));
        // Free nights before each night, to count a stay's free nights at once.
        let mut before = vec![0i64; free.len() + 1];
        for (i, f) in free.iter().enumerate() {
            before[i + 1] = before[i] + i64::from(*f);
        }
        let at = |d: NaiveDate| (d - first).num_days() as usize;
        let free_count = |a: NaiveDate, c: NaiveDate| before[at(c)] - before[at(a)];
        prop_assert_eq!(found.len() as i64, len);
        for night in &found {
            let d = night.date;
            prop_assert_eq!(night.state, model.state(d, free[at(d)]), "state of {}", d);
            let ends: Vec<NaiveDate> = (1..=366).map(|n| d + Days::new(n)).filter(|c| model.sellable(d, *c, &free_count)).collect();
            prop_assert_eq!(night.max_check_out, ends.last().copied(), "longest stay from {}", d);
            prop_assert_eq!(night.can_check_in, !ends.is_empty(), "check-in on {}", d);
            let out = (1..=366).map(|n| d - Days::new(n)).any(|a| model.sellable(a, d, &free_count));
            prop_assert_eq!(night.can_check_out, out, "check-out on {}", d);
        }
    }
}

// ------------------------------------------------------------------------------------- slots

const ZONES: [&str; 5] =
    ["UTC", "Europe/Amsterdam", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"];

/// Days around the daylight-saving changes of the zones above, and an ordinary one.
const SLOT_DAYS: [(i32, u32, u32); 5] =
    [(2030, 3, 31), (2030, 10, 27), (2030, 3, 10), (2030, 4, 7), (2030, 6, 12)];

fn slot_rules() -> impl Strategy<Value = RulesDraft> {
    let period =
        (0i64..96, 1i64..40).prop_map(|(start, len)| (start * 15, (start + len).min(96) * 15));
    let day = prop::collection::vec(period, 0..3);
    (
        prop::option::of(prop::collection::vec(day, 7)),
        prop::option::of(0i64..61),
        prop::option::of(0i64..61),
        prop::option::of(0i64..600),
        prop::option::of(1i64..4),
    )
        .prop_map(|(hours, before, after, notice, window)| RulesDraft {
            weekly_hours: hours.map(|days| {
                days.into_iter()
                    .enumerate()
                    .map(|(i, periods)| (DAYS[i].to_owned(), ordered(periods)))
                    .collect()
            }),
            buffer_before_minutes: before,
            buffer_after_minutes: after,
            min_notice_minutes: notice,
            booking_window_days: window,
            ..RulesDraft::default()
        })
}

/// Periods in order and apart, as `HH:MM` pairs.
fn ordered(mut periods: Vec<(i64, i64)>) -> Vec<[String; 2]> {
    periods.sort();
    let mut kept: Vec<(i64, i64)> = Vec::new();
    for (s, e) in periods {
        if s < e && kept.last().is_none_or(|last| last.1 <= s) {
            kept.push((s, e));
        }
    }
    let clock = |m: i64| format!("{:02}:{:02}", m / 60, m % 60);
    kept.into_iter().map(|(s, e)| [clock(s), clock(e)]).collect()
}

fn minutes(n: i64) -> Duration {
    Duration::minutes(n)
}

/// The UTC instant a local wall-clock time means in `tz`, found by trying every minute within
/// a day of it: the first instant showing that time, or for a time the clock skips, the time
/// read with the offset shown a day before.
fn model_instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let shows = |t: DateTime<Utc>| t.with_timezone(&tz).naive_local();
    let guess = local.and_utc();
    let hit = (-15 * 60..=15 * 60).map(|m| guess + minutes(m)).find(|t| shows(*t) == local);
    hit.unwrap_or_else(|| {
        let before = (-15 * 60..=15 * 60)
            .map(|m| guess - Duration::days(1) + minutes(m))
            .find(|t| shows(*t) == local - Duration::days(1))
            .unwrap();
        before + Duration::days(1)
    })
}

#[derive(Debug)]
struct Owner {
    draft: RulesDraft,
    zone: &'static str,
    busy: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    booked: Vec<DateTime<Utc>>,
}

/// One owner's opening periods by the rules' text: each local day's hours (or the whole day
/// without hours), hours that touch or overlap joined into one.
fn model_periods(owner: &Owner, q: &SlotQuery) -> Vec<Interval> {
    let tz: Tz = owner.zone.parse().unwrap();
    let local_day = |t: DateTime<Utc>| t.with_timezone(&tz).date_naive();
    let mut found: Vec<Interval> = Vec::new();
    let first = local_day(q.from) - Days::new(1);
    for day in first.iter_days().take_while(|d| *d <= local_day(q.to)) {
        let name = DAYS[day.weekday().num_days_from_monday() as usize];
        let periods: Vec<(i64, i64)> = match &owner.draft.weekly_hours {
            None => vec![(0, 1440)],
            Some(hours) => hours
                .get(name)
                .into_iter()
                .flatten()
                .map(|[s, e]| (clock_minutes(s), clock_minutes(e)))
                .collect(),
        };
        for (s, e) in periods {
            let midnight = day.and_hms_opt(0, 0, 0).unwrap();
            let (open, close) = (
                model_instant(tz, midnight + minutes(s)),
                model_instant(tz, midnight + minutes(e)),
            );
            match found.last_mut() {
                Some(last) if owner.draft.weekly_hours.is_some() && open <= last.1 => {
                    last.1 = last.1.max(close);
                }
                _ => found.push((open, close)),
            }
        }
    }
    found
}

/// Whether `owner` may take `start` to `end` as asked in `q`: after the notice, within the
/// window, and every minute of it and its buffers clear of every busy item.
fn model_free(owner: &Owner, q: &SlotQuery, (start, end): Interval) -> bool {
    let tz: Tz = owner.zone.parse().unwrap();
    let local_day = |t: DateTime<Utc>| t.with_timezone(&tz).date_naive();
    let before = minutes(owner.draft.buffer_before_minutes.unwrap_or(0));
    let after = minutes(owner.draft.buffer_after_minutes.unwrap_or(0));
    let notice = minutes(owner.draft.min_notice_minutes.unwrap_or(0));
    let in_window = owner
        .draft
        .booking_window_days
        .is_none_or(|w| (local_day(start) - local_day(q.now)).num_days() < w);
    let clear = |m: DateTime<Utc>| {
        owner.busy.iter().all(|(bs, be)| !(m >= *bs - before && m < *be + after))
    };
    let asked = start >= q.from && start < q.to && start >= q.now + notice && in_window;
    let mut m = start - before;
    let mut free = asked;
    while free && m < end + after {
        free = clear(m);
        m += minutes(1);
    }
    free
}

/// One owner's slots by the rules' text, minute by minute: every step from each period's
/// start that fits in it (without hours: that starts in it) and is free.
fn model_slots(owner: &Owner, q: &SlotQuery) -> Vec<Interval> {
    let mut found = Vec::new();
    let always_open = owner.draft.weekly_hours.is_none();
    for (open, close) in model_periods(owner, q) {
        let mut start = open;
        while (always_open && start < close) || start + q.duration <= close {
            if model_free(owner, q, (start, start + q.duration)) {
                found.push((start, start + q.duration));
            }
            start += q.step;
        }
    }
    found.sort();
    found
}

/// Whether `owner` could take `slot`, on its own steps or not: inside one of its periods (any
/// time, without hours), and free.
fn model_takes(owner: &Owner, q: &SlotQuery, slot: Interval) -> bool {
    let open = owner.draft.weekly_hours.is_none()
        || model_periods(owner, q).iter().any(|(open, close)| *open <= slot.0 && slot.1 <= *close);
    open && model_free(owner, q, slot)
}

fn clock_minutes(text: &str) -> i64 {
    let (h, m) = text.split_once(':').unwrap();
    h.parse::<i64>().unwrap() * 60 + m.parse::<i64>().unwrap()
}

fn owners() -> impl Strategy<Value = Vec<Owner>> {
    let owner = (
        slot_rules(),
        0usize..ZONES.len(),
        prop::collection::vec((0i64..72 * 4, 1i64..16), 0..8),
        prop::collection::vec(0i64..14 * 24, 0..4),
    );
    prop::collection::vec(owner, 1..4).prop_map(|drawn| {
        drawn
            .into_iter()
            .map(|(draft, zone, busy, booked)| {
                let start = base().and_hms_opt(0, 0, 0).unwrap().and_utc();
                Owner {
                    draft,
                    zone: ZONES[zone],
                    busy: busy
                        .into_iter()
                        .map(|(s, l)| (start + minutes(s * 15), start + minutes((s + l) * 15)))
                        .collect(),
                    booked: booked.into_iter().map(|h| start + Duration::hours(h)).collect(),
                }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn slots_agree_with_the_minute_by_minute_model(
        mut owners in owners(),
        day in 0usize..SLOT_DAYS.len(),
        offset in 0i64..24 * 4,
        hours in 1i64..40,
        duration in 1i64..9,
        step in 1i64..5,
        any_mode in any::<bool>(),
        now_offset in -48i64..24,
    ) {
        // Busy times and bookings sit around the day asked about.
        let (y, m, d) = SLOT_DAYS[day];
        let day = NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let shift = day.and_hms_opt(0, 0, 0).unwrap().and_utc() - base().and_hms_opt(0, 0, 0).unwrap().and_utc() - Duration::days(1);
        for owner in &mut owners {
            owner.busy.iter_mut().for_each(|(s, e)| { *s += shift; *e += shift; });
            owner.booked.iter_mut().for_each(|b| *b += shift);
        }
        let from = day.and_hms_opt(0, 0, 0).unwrap().and_utc() + minutes(offset * 15 - 12 * 60);
        let q = SlotQuery {
            from,
            to: from + Duration::hours(hours),
            duration: minutes(duration * 15),
            step: minutes(step * 10),
            now: from + Duration::hours(now_offset),
        };
        let rules: Vec<Rules> = owners.iter().map(|o| rules(o.draft.clone())).collect();
        let engine_owners: Vec<SlotOwner<'_>> = owners
            .iter()
            .zip(&rules)
            .enumerate()
            .map(|(k, (o, r))| SlotOwner {
                id: Uuid::from_u128(k as u128 + 1),
                rules: r,
                zone: o.zone.parse::<TimeZone>().unwrap(),
                busy: &o.busy,
                booked: &o.booked,
            })
            .collect();
        let mode = if any_mode { Mode::Any } else { Mode::All };
        let found = slots(&engine_owners, mode, &q);

        let each: Vec<Vec<(DateTime<Utc>, DateTime<Utc>)>> = owners.iter().map(|o| model_slots(o, &q)).collect();
        let mut expected: Vec<(Interval, Vec<u128>)> = Vec::new();
        let mut all: Vec<(DateTime<Utc>, DateTime<Utc>)> = each.iter().flatten().copied().collect();
        all.sort();
        all.dedup();
        for slot in all {
            let mut free: Vec<usize> = (0..owners.len()).filter(|k| each[*k].contains(&slot)).collect();
            if !any_mode {
                // A team meets on any one's steps where every one of them could be booked.
                if !owners.iter().all(|o| model_takes(o, &q, slot)) {
                    continue;
                }
                free = (0..owners.len()).collect();
            }
            if any_mode {
                // Least booked in the slot's ISO week (in each owner's zone) first.
                let week_count = |k: usize| {
                    let tz: Tz = owners[k].zone.parse().unwrap();
                    let week = |t: DateTime<Utc>| t.with_timezone(&tz).date_naive().iso_week();
                    owners[k].booked.iter().filter(|b| week(**b) == week(slot.0)).count()
                };
                free.sort_by_key(|k| (week_count(*k), *k));
            }
            expected.push((slot, free.into_iter().map(|k| k as u128 + 1).collect()));
        }
        let got: Vec<(Interval, Vec<u128>)> = found
            .iter()
            .map(|s| ((s.start, s.end), s.owners.iter().map(|o| o.as_u128()).collect()))
            .collect();
        prop_assert_eq!(got, expected);
    }
}
