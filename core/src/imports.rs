//! What an import run changes: the diff between the items the last run stored and the items the
//! feed holds now, keyed by (UID, RECURRENCE-ID).

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;

use crate::domain::{EndDateIs, ImportAs, ImportSettings, Platform, RunCounts, TimeZone};
use crate::domain::{Instants, span_instants};
use chrono::{DateTime, Utc};
use kalends_ical::{BusyItem, ItemDetails, ItemKind, Span};
use uuid::Uuid;

/// An item as the last run stored it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredItem {
    /// Row id.
    pub id: uuid::Uuid,
    /// UID.
    pub uid: String,
    /// RECURRENCE-ID, empty for a single event.
    pub recurrence_id: String,
    /// What it is.
    pub kind: ItemKind,
    /// SUMMARY.
    pub summary: Option<String>,
    /// When.
    pub span: Span,
    /// What the platform said of the reservation.
    pub details: ItemDetails,
    /// Since when it is gone from the feed while its import keeps missing items
    /// ([`crate::domain::OnMissing::KeepAndAlert`]).
    pub missing_since: Option<DateTime<Utc>>,
}

/// What to write.
#[derive(Debug, Default)]
pub struct Diff<'a> {
    /// Items to insert.
    pub added: Vec<&'a BusyItem>,
    /// Rows to rewrite with new content.
    pub updated: Vec<(uuid::Uuid, &'a BusyItem)>,
    /// Rows to delete.
    pub removed: Vec<uuid::Uuid>,
    /// Rows gone from the feed that stay, marked missing from now on
    /// ([`crate::domain::OnMissing::KeepAndAlert`]; see [`Diff::keep_missing`]).
    pub missing: Vec<uuid::Uuid>,
    /// The counts the run log shows.
    pub counts: RunCounts,
}

/// How many days ahead an Airbnb block must end to be the calendar's rolling "not available"
/// window (Airbnb closes everything beyond the host's booking horizon, and the block's start
/// moves a day later every day).
const ROLLING_WINDOW_DAYS: i64 = 300;

/// Whether `item` is the rolling window at the far end of an Airbnb calendar.
pub fn is_rolling_window(
    platform: Platform,
    kind: ItemKind,
    span: &Span,
    today: NaiveDate,
) -> bool {
    matches!(
        (platform, kind, span),
        (Platform::Airbnb, ItemKind::Block, Span::AllDay { end, .. })
            if (*end - today).num_days() >= ROLLING_WINDOW_DAYS
    )
}

/// Compares the stored items of an import with what its feed holds now.
///
/// The rolling window of an Airbnb calendar is matched to its previous self whatever its UID and
/// rewritten silently: it moves every day, and counting that as a change would make every run
/// "update" something and re-alarm nobody-cares conflicts.
pub fn diff<'a>(
    stored: &[StoredItem],
    fresh: &'a [BusyItem],
    platform: Platform,
    today: NaiveDate,
) -> Diff<'a> {
    let rolling = |kind, span: &Span| is_rolling_window(platform, kind, span, today);
    let mut by_key: HashMap<(&str, &str), &StoredItem> = stored
        .iter()
        .filter(|s| !rolling(s.kind, &s.span))
        .map(|s| ((s.uid.as_str(), s.recurrence_id.as_str()), s))
        .collect();
    let (mut kept_rolling, mut old_rolling) = match_rolling(stored, fresh, &rolling);
    let mut out = Diff::default();
    for (i, item) in fresh.iter().enumerate() {
        if rolling(item.kind, &item.span) {
            if kept_rolling.remove(&i) {
                out.counts.unchanged += 1;
                continue;
            }
            match old_rolling.pop() {
                Some(old) => {
                    out.updated.push((old.id, item));
                    out.counts.unchanged += 1;
                }
                None => {
                    out.added.push(item);
                    out.counts.added += 1;
                }
            }
            continue;
        }
        let key = (item.uid.as_str(), item.recurrence_id.as_deref().unwrap_or(""));
        match by_key.remove(&key) {
            None => {
                out.added.push(item);
                out.counts.added += 1;
            }
            // An item back in the feed after it went missing is rewritten: it is no longer missing.
            Some(old) if same(old, item) && old.missing_since.is_none() => {
                out.counts.unchanged += 1
            }
            Some(old) => {
                out.updated.push((old.id, item));
                out.counts.updated += 1;
            }
        }
    }
    if platform == Platform::BookingCom {
        rejoin_cut_stays(&mut out, &mut by_key, today);
    }
    out.removed = by_key.into_values().chain(old_rolling).map(|s| s.id).collect();
    out.removed.sort_unstable();
    out.counts.removed = out.removed.len() as u32;
    out
}

/// How many days past today a stay's first night read may lie and still be one whose earlier
/// nights the reading's window cut (the window starts yesterday; an import may shift dates by up
/// to two days).
const CUT_SLACK_DAYS: u64 = 3;

/// Booking.com writes a stay as one event a night, which the reader joins into one stay keyed by
/// its first night. Once the reading's window (from yesterday) has passed that night, the stay
/// comes keyed by a later one, and would be removed and added again every day the guest stays.
/// Such a stay (all-day, unmatched, its first night near today) is paired instead with the
/// unmatched stored stay of its kind it continues (started earlier, still running then): left
/// unchanged when it ends as stored, rewritten when it was lengthened or shortened.
fn rejoin_cut_stays<'a>(
    out: &mut Diff<'a>,
    left: &mut HashMap<(&str, &str), &StoredItem>,
    today: NaiveDate,
) {
    let recent = today + chrono::Days::new(CUT_SLACK_DAYS);
    let mut added = std::mem::take(&mut out.added);
    added.retain(|item| {
        let Span::AllDay { start, end } = item.span else { return true };
        let continued = left.iter().find_map(|(key, old)| match old.span {
            Span::AllDay { start: was, end: ended }
                if old.kind == item.kind && start <= recent && was < start && start < ended =>
            {
                Some((*key, ended))
            }
            _ => None,
        });
        let Some((key, ended)) = continued else { return true };
        let old = left.remove(&key).expect("found just now");
        out.counts.added -= 1;
        let as_stored = ended == end
            && old.summary.as_deref() == item.summary.as_deref()
            && old.details == item.details
            && old.missing_since.is_none();
        if as_stored {
            out.counts.unchanged += 1;
        } else {
            out.updated.push((old.id, item));
            out.counts.updated += 1;
        }
        false
    });
    out.added = added;
}

/// Pairs the rolling windows of the last run with those of the feed: a window that has not moved
/// keeps its row (the indexes in `fresh` of those are returned first); the stored windows left
/// over (second) take the moved ones, so that a run of an unchanged feed with several such
/// windows rewrites no row. Linear: windows are matched through a map on their content.
fn match_rolling<'s>(
    stored: &'s [StoredItem],
    fresh: &'s [BusyItem],
    rolling: &impl Fn(ItemKind, &Span) -> bool,
) -> (HashSet<usize>, Vec<&'s StoredItem>) {
    type Content<'a> = (Span, ItemKind, Option<&'a str>);
    let mut by_content: HashMap<Content<'s>, Vec<&'s StoredItem>> = HashMap::new();
    for s in stored.iter().filter(|s| rolling(s.kind, &s.span)) {
        by_content.entry((s.span, s.kind, s.summary.as_deref())).or_default().push(s);
    }
    let mut kept = HashSet::new();
    for (i, item) in fresh.iter().enumerate().filter(|(_, f)| rolling(f.kind, &f.span)) {
        let key = (item.span, item.kind, item.summary.as_deref());
        if by_content.get_mut(&key).and_then(Vec::pop).is_some() {
            kept.insert(i);
        }
    }
    let mut left: Vec<&StoredItem> = by_content.into_values().flatten().collect();
    // Stable pairing of the moved windows whatever order the map gave: the latest is popped last.
    left.sort_unstable_by(|a, b| b.span.cmp(&a.span).then_with(|| b.id.cmp(&a.id)));
    (kept, left)
}

impl Diff<'_> {
    /// Keeps the stored items gone from the feed that had ended by `now` (their dates taken
    /// back by the import's shift, `settings`): a platform stops listing a stay some time after
    /// it ends, and the reading starts at yesterday, so that is no cancellation. They stay as
    /// they are, counted unchanged: not removed, not `missing`, no alert or webhook event.
    pub fn keep_ended(
        &mut self,
        stored: &[StoredItem],
        settings: &ImportSettings,
        now: DateTime<Utc>,
        zone: TimeZone,
    ) {
        let late = i64::from(settings.date_shift_days)
            + i64::from(settings.end_date_is == EndDateIs::LastNight);
        let late = chrono::Duration::days(late.max(0));
        let ended: HashSet<Uuid> =
            stored.iter().filter(|s| span_end(&s.span, zone) - late <= now).map(|s| s.id).collect();
        let before = self.removed.len();
        self.removed.retain(|id| !ended.contains(id));
        let kept = u32::try_from(before - self.removed.len()).unwrap_or(u32::MAX);
        self.counts.removed -= kept;
        self.counts.unchanged += kept;
    }

    /// Under [`crate::domain::OnMissing::KeepAndAlert`], the items gone from the feed stay: those not missing
    /// yet become `missing`, those already missing are left as they are, and nothing is removed.
    pub fn keep_missing(&mut self, stored: &[StoredItem]) {
        let removed = std::mem::take(&mut self.removed);
        self.missing = stored
            .iter()
            .filter(|s| s.missing_since.is_none() && removed.binary_search(&s.id).is_ok())
            .map(|s| s.id)
            .collect();
        self.missing.sort_unstable();
        self.counts.removed = 0;
    }

    /// Where it takes busy time away from, as instants (all-day items from midnight in `zone`):
    /// the spans of the `stored` items it removes, and the old spans of those it moves. An item
    /// marked missing stays busy. One rewritten in place is not here: a new title changes no
    /// rule, and a reservation become a block (which a turnover does not count) is judged
    /// where it is, with what the run placed.
    pub fn vacated(&self, stored: &[StoredItem], zone: TimeZone) -> Vec<Instants> {
        if self.removed.is_empty() && self.updated.is_empty() {
            // Most runs: nothing changed, or only items added (a first import).
            return Vec::new();
        }
        let by_id: HashMap<Uuid, &StoredItem> = stored.iter().map(|s| (s.id, s)).collect();
        let moved = self
            .updated
            .iter()
            .filter(|(id, item)| by_id.get(id).is_some_and(|s| s.span != item.span));
        let ids = self.removed.iter().chain(moved.map(|(id, _)| id));
        ids.filter_map(|id| by_id.get(id)).map(|s| span_instants(&s.span, zone)).collect()
    }

    /// Whether it adds, rewrites, removes or marks an item.
    pub fn changes_items(&self) -> bool {
        !(self.added.is_empty()
            && self.updated.is_empty()
            && self.removed.is_empty()
            && self.missing.is_empty())
    }
}

/// The mass-removal guard: why a run that would remove more than `max_share` of the import's
/// items that end after `now` (or every one of them) must be held, in words; `None` when it
/// may go ahead. A platform outage that serves an empty but valid calendar would otherwise free
/// every night at once.
pub fn removal_hold(
    stored: &[StoredItem],
    diff: &Diff<'_>,
    max_share: f64,
    now: DateTime<Utc>,
    zone: TimeZone,
) -> Option<String> {
    let future = |s: &&StoredItem| span_end(&s.span, zone) > now;
    let total = stored.iter().filter(future).count();
    let removed =
        stored.iter().filter(future).filter(|s| diff.removed.binary_search(&s.id).is_ok()).count();
    // Counts of items: far below 2^52, exact as f64.
    let share = removed as f64 / total.max(1) as f64;
    if removed == 0 || (removed < total && share <= max_share) {
        return None;
    }
    Some(format!(
        "the feed would remove {removed} of the {total} future items ({:.0}%, more than the {:.0}% \
         allowed at once), so nothing was changed: it may be a platform outage. The next run that \
         agrees with the stored items releases the hold; accept the removal in the console if \
         it is real",
        share * 100.0,
        max_share * 100.0
    ))
}

/// Whether a run that failed may simply be tried again, as the fetch's error said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Nothing changes by waiting (a 404, a login page, a refused address, a broken file): the
    /// next run comes at the import's interval.
    AtInterval,
    /// A failure of the moment (a timeout, a refused or broken connection, a failed name
    /// lookup, a download cut off midway, a 5xx, 429 or 408), with the wait the server asked
    /// for in `Retry-After`.
    Soon {
        /// `Retry-After`, when the server sent one.
        retry_after: Option<std::time::Duration>,
    },
}

/// The first early retry's wait; each failure in a row doubles it.
const FIRST_RETRY: std::time::Duration = std::time::Duration::from_secs(60);

/// The longest `Retry-After` honoured past the import's interval.
pub const LONGEST_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// How long after a failed run (the `failures`-th in a row) its import is fetched again, when
/// that is sooner than its `interval` (`None`: the interval stands). A failure of the moment
/// waits a minute, two after the second in a row, four after the third, and so on, spread by
/// `jitter` (0 to 1, ±20%) so the feeds of a platform that failed together do not come back
/// together; a platform that is down for a while is thus asked a few times, not hammered. A
/// `Retry-After` is a floor, honoured up to six hours even past the interval: a platform that
/// asks for quiet gets it.
pub fn retry_in(
    failures: u32,
    interval: std::time::Duration,
    retry: Retry,
    jitter: f64,
) -> Option<std::time::Duration> {
    let Retry::Soon { retry_after } = retry else {
        return None;
    };
    let doubled = FIRST_RETRY.saturating_mul(1 << failures.clamp(1, 16).saturating_sub(1));
    let spread = doubled.mul_f64(0.8 + 0.4 * jitter.clamp(0.0, 1.0));
    let asked = retry_after.map(|asked| asked.min(LONGEST_RETRY_AFTER));
    match asked {
        Some(asked) if asked >= spread => Some(asked),
        _ => (spread < interval).then_some(spread),
    }
}

/// Whether an import whose last `failures` runs in a row failed (the last one as `retry` says)
/// is `failing`. A failure that waiting does not mend counts each run, as it always did. A
/// failure of the moment is tried again within minutes, so its tries are not a count of
/// anything: the import is failing once the streak has lasted as long as `threshold` runs at
/// the `interval` would have taken (`streak`: since the streak's first failure). A platform down
/// for ten minutes thus never marks a daily import failing, and one down for two days does.
pub fn failing(
    failures: u32,
    threshold: u32,
    retry: Retry,
    streak: std::time::Duration,
    interval: std::time::Duration,
) -> bool {
    if failures < threshold {
        return false;
    }
    match retry {
        Retry::AtInterval => true,
        Retry::Soon { .. } => streak >= interval.saturating_mul(threshold.saturating_sub(1)),
    }
}

/// When a span ends, all-day spans at midnight in `zone`.
fn span_end(span: &Span, zone: TimeZone) -> DateTime<Utc> {
    span_instants(span, zone).1
}

/// Applies an import's settings to the items read from its feed, in place: what each item is
/// ([`ImportAs`]), what an all-day end date means ([`EndDateIs`]) and the shift of every date,
/// a timed item's on the wall clock of `zone` (its owner's).
pub fn settle(
    items: &mut [BusyItem],
    settings: &ImportSettings,
    platform: Platform,
    zone: TimeZone,
) {
    let import_as = settings.import_as(platform);
    let shift = chrono::Duration::days(i64::from(settings.date_shift_days));
    let last_night = settings.end_date_is == EndDateIs::LastNight;
    for item in items {
        item.kind = match (import_as, item.kind) {
            (ImportAs::Block, _) => ItemKind::Block,
            (ImportAs::Reservation, ItemKind::Event) => ItemKind::Reservation,
            (ImportAs::Reservation, kind) => kind,
        };
        item.span = match item.span {
            Span::AllDay { start, end } => {
                let end = if last_night { end + chrono::Duration::days(1) } else { end };
                Span::AllDay { start: start + shift, end: end + shift }
            }
            Span::Timed { start, end } => Span::Timed {
                start: shift_local(start, shift, zone),
                end: shift_local(end, shift, zone),
            },
        };
    }
}

/// `at` moved by `days` on the wall clock of `zone`: a 15:00 check-in stays at 15:00 across a
/// change of the clocks. A time the clocks skip moves by whole days of 24 hours instead.
fn shift_local(at: DateTime<Utc>, days: chrono::Duration, zone: TimeZone) -> DateTime<Utc> {
    use chrono::TimeZone as _;
    if days.is_zero() {
        return at;
    }
    let local = at.with_timezone(&zone.tz()).naive_local() + days;
    match zone.tz().from_local_datetime(&local) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.with_timezone(&Utc)
        }
        chrono::LocalResult::None => at + days,
    }
}

/// Whether an item is as stored. Its details are part of it: a platform that adds the phone
/// digits later changed the item.
fn same(old: &StoredItem, new: &BusyItem) -> bool {
    old.span == new.span
        && old.kind == new.kind
        && old.summary.as_deref() == new.summary.as_deref()
        && old.details == new.details
}

/// An item the last run of an import stored.
#[derive(Clone, Debug)]
pub struct ImportedItem {
    /// Row id.
    pub id: Uuid,
    /// The import.
    pub import_id: Uuid,
    /// The import's platform.
    pub platform: Platform,
    /// The event's UID.
    pub uid: String,
    /// RECURRENCE-ID, empty for single events.
    pub recurrence_id: String,
    /// What it is.
    pub kind: ItemKind,
    /// SUMMARY.
    pub summary: Option<String>,
    /// When, as the feed says.
    pub span: Span,
    /// The instants it covers (all-day spans read in the owner's zone).
    pub span_start: DateTime<Utc>,
    /// Likewise.
    pub span_end: DateTime<Utc>,
    /// When this run last changed it.
    pub updated_at: DateTime<Utc>,
    /// Since when it is gone from the feed, kept until the owner confirms the removal.
    pub missing_since: Option<DateTime<Utc>>,
    /// What the platform said of the reservation.
    pub details: ItemDetails,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, d).unwrap()
    }

    #[test]
    fn a_timed_item_shifted_across_a_change_of_the_clocks_keeps_its_wall_clock_time() {
        let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc);
        // 15:00 in Paris on Saturday 28 March 2026 (UTC+1), the clocks go forward that night.
        let check_in =
            Span::Timed { start: at("2026-03-28T14:00:00Z"), end: at("2026-03-28T15:00:00Z") };
        let mut items = [BusyItem {
            span: check_in,
            ..fresh("a", date(3, 28), date(3, 29), ItemKind::Reservation)
        }];
        let settings = ImportSettings { date_shift_days: 1, ..ImportSettings::default() };
        let paris: TimeZone = "Europe/Paris".parse().unwrap();
        settle(&mut items, &settings, Platform::Other, paris);
        let shifted =
            Span::Timed { start: at("2026-03-29T13:00:00Z"), end: at("2026-03-29T14:00:00Z") };
        assert_eq!(items[0].span, shifted, "15:00 on Sunday, now UTC+2");
    }

    fn fresh(uid: &str, from: NaiveDate, to: NaiveDate, kind: ItemKind) -> BusyItem {
        BusyItem {
            uid: uid.into(),
            recurrence_id: None,
            span: Span::AllDay { start: from, end: to },
            summary: Some("Reserved".into()),
            kind,
            details: Default::default(),
        }
    }

    fn stored(item: &BusyItem) -> StoredItem {
        StoredItem {
            id: uuid::Uuid::now_v7(),
            uid: item.uid.clone(),
            recurrence_id: String::new(),
            kind: item.kind,
            summary: item.summary.as_deref().map(str::to_owned),
            span: item.span,
            details: item.details.clone(),
            missing_since: None,
        }
    }

    #[test]
    fn a_run_counts_added_updated_removed_and_unchanged_items() {
        let before = [
            fresh("a", date(1, 1), date(1, 3), ItemKind::Reservation),
            fresh("b", date(1, 5), date(1, 7), ItemKind::Reservation),
            fresh("c", date(2, 1), date(2, 3), ItemKind::Block),
        ];
        let stored: Vec<_> = before.iter().map(stored).collect();
        let now = [
            before[0].clone(),
            fresh("b", date(1, 6), date(1, 8), ItemKind::Reservation),
            fresh("d", date(3, 1), date(3, 2), ItemKind::Block),
        ];
        let d = diff(&stored, &now, Platform::Airbnb, date(1, 1));
        assert_eq!(d.counts, RunCounts { added: 1, updated: 1, removed: 1, unchanged: 1 });
        assert_eq!(d.updated[0].0, stored[1].id);
        assert_eq!(d.removed, vec![stored[2].id]);
    }

    #[test]
    fn a_run_vacates_the_nights_of_what_it_removes_and_moves_not_of_what_it_rewrites_in_place() {
        let before = [
            fresh("kept", date(1, 1), date(1, 3), ItemKind::Reservation),
            fresh("moved", date(1, 5), date(1, 7), ItemKind::Reservation),
            fresh("renamed", date(1, 10), date(1, 12), ItemKind::Reservation),
            fresh("cancelled", date(2, 1), date(2, 3), ItemKind::Block),
        ];
        let stored: Vec<_> = before.iter().map(stored).collect();
        let renamed = BusyItem { summary: Some("Reserved (2 guests)".into()), ..before[2].clone() };
        let now = [
            before[0].clone(),
            fresh("moved", date(3, 5), date(3, 7), ItemKind::Reservation),
            renamed,
        ];
        let d = diff(&stored, &now, Platform::Airbnb, date(1, 1));
        assert_eq!(d.updated.len(), 2, "{d:?}");
        let lisbon: TimeZone = "Europe/Lisbon".parse().unwrap();
        let midnight = |m, d| crate::domain::local_midnight(date(m, d), lisbon);
        let mut vacated = d.vacated(&stored, lisbon);
        vacated.sort_unstable();
        assert_eq!(
            vacated,
            vec![(midnight(1, 5), midnight(1, 7)), (midnight(2, 1), midnight(2, 3))]
        );
    }

    #[test]
    fn a_stay_that_ended_and_left_the_feed_is_kept_and_a_future_one_gone_is_removed() {
        let ended = fresh("ended", date(1, 1), date(1, 4), ItemKind::Reservation);
        let coming = fresh("coming", date(1, 20), date(1, 22), ItemKind::Reservation);
        let kept = vec![stored(&ended), stored(&coming)];
        let now = date(1, 10).and_hms_opt(12, 0, 0).unwrap().and_utc();
        let settings = ImportSettings::default();
        let zone: TimeZone = "Europe/Paris".parse().unwrap();
        let mut d = diff(&kept, &[], Platform::Airbnb, now.date_naive());
        d.keep_ended(&kept, &settings, now, zone);
        assert_eq!(d.removed, vec![kept[1].id], "only the stay still to come was cancelled");
        assert_eq!(d.counts, RunCounts { removed: 1, unchanged: 1, ..Default::default() });
        d.keep_missing(&kept);
        assert_eq!(d.missing, vec![kept[1].id], "nor is the ended one flagged missing");

        // Dates shifted two days later: a stay the feed dropped for ending yesterday ends
        // tomorrow as stored, and has still ended as far as the feed is concerned.
        let shifted = ImportSettings { date_shift_days: 2, ..ImportSettings::default() };
        let late = fresh("late", date(1, 8), date(1, 11), ItemKind::Reservation);
        let kept = vec![stored(&late)];
        let mut d = diff(&kept, &[], Platform::Airbnb, now.date_naive());
        d.keep_ended(&kept, &shifted, now, zone);
        assert!(d.removed.is_empty(), "{:?}", d.removed);
    }

    #[test]
    fn airbnbs_rolling_window_moving_a_day_is_not_a_change() {
        let today = date(1, 10);
        let window = |from| {
            fresh("x", from, NaiveDate::from_ymd_opt(2027, 12, 31).unwrap(), ItemKind::Block)
        };
        let stored = vec![stored(&window(date(12, 1)))];
        let mut moved = window(date(12, 2));
        moved.uid = "another-uid-every-day".into();
        let now = [moved];
        let d = diff(&stored, &now, Platform::Airbnb, today);
        assert_eq!(d.counts, RunCounts { unchanged: 1, ..Default::default() });
        assert_eq!(d.updated.len(), 1, "the stored dates still follow the feed");
        assert!(d.added.is_empty() && d.removed.is_empty());
    }

    #[test]
    fn airbnb_rolling_not_available_block_is_recognised() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let today = day(2030, 1, 1);
        let block = |end: NaiveDate, kind| BusyItem {
            uid: "x".into(),
            recurrence_id: None,
            span: Span::AllDay { start: day(2030, 6, 1), end },
            summary: Some("Airbnb (Not available)".into()),
            kind,
            details: Default::default(),
        };
        let rolling =
            |item: &BusyItem, platform| is_rolling_window(platform, item.kind, &item.span, today);
        assert!(rolling(&block(day(2031, 1, 1), ItemKind::Block), Platform::Airbnb));
        assert!(!rolling(&block(day(2030, 7, 1), ItemKind::Block), Platform::Airbnb));
        assert!(!rolling(&block(day(2031, 1, 1), ItemKind::Reservation), Platform::Airbnb));
        assert!(!rolling(&block(day(2031, 1, 1), ItemKind::Block), Platform::Vrbo));
    }

    #[test]
    fn a_failure_of_the_moment_is_tried_again_after_one_two_four_minutes_never_past_the_interval() {
        let minutes = |m: u64| std::time::Duration::from_secs(60 * m);
        let soon = Retry::Soon { retry_after: None };
        let waits: Vec<_> = (1..=6).map(|n| retry_in(n, minutes(30), soon, 0.5)).collect();
        let expected = [Some(minutes(1)), Some(minutes(2)), Some(minutes(4))];
        assert_eq!(waits[..3], expected);
        assert_eq!(waits[3..], [Some(minutes(8)), Some(minutes(16)), None], "then the interval");
        assert_eq!(retry_in(1, minutes(30), soon, 0.0), Some(std::time::Duration::from_secs(48)));
        assert_eq!(retry_in(1, minutes(30), soon, 1.0), Some(std::time::Duration::from_secs(72)));
        assert_eq!(retry_in(u32::MAX, minutes(30), soon, 0.5), None, "no overflow");
    }

    #[test]
    fn a_failure_waiting_changes_nothing_keeps_the_interval() {
        let interval = std::time::Duration::from_secs(1800);
        assert_eq!(retry_in(1, interval, Retry::AtInterval, 0.5), None);
    }

    #[test]
    fn retry_after_is_a_floor_honoured_up_to_six_hours_even_past_the_interval() {
        let (interval, seconds) =
            (std::time::Duration::from_secs(1800), std::time::Duration::from_secs);
        let asked = |s| Retry::Soon { retry_after: Some(seconds(s)) };
        assert_eq!(retry_in(1, interval, asked(600), 0.5), Some(seconds(600)));
        assert_eq!(retry_in(1, interval, asked(5), 0.5), Some(seconds(60)), "a floor, not a wait");
        assert_eq!(retry_in(1, interval, asked(7200), 0.5), Some(seconds(7200)));
        assert_eq!(retry_in(1, interval, asked(86_400 * 30), 0.5), Some(seconds(6 * 3600)));
    }

    #[test]
    fn a_failure_of_the_moment_makes_an_import_failing_only_after_as_long_as_its_runs_would_take() {
        let hours = |h: u64| std::time::Duration::from_secs(3600 * h);
        let soon = Retry::Soon { retry_after: None };
        // Five quick tries in the first hour of a daily import's outage.
        assert!(!failing(5, 3, soon, hours(1), hours(24)));
        assert!(!failing(4, 3, soon, hours(47), hours(24)));
        assert!(failing(4, 3, soon, hours(48), hours(24)), "three daily runs' worth");
        assert!(!failing(2, 3, soon, hours(72), hours(24)), "still fewer runs than the threshold");
        assert!(failing(1, 1, soon, hours(0), hours(24)), "a threshold of one is one failure");
    }

    #[test]
    fn a_failure_waiting_does_not_mend_counts_every_run() {
        let hours = |h: u64| std::time::Duration::from_secs(3600 * h);
        assert!(failing(3, 3, Retry::AtInterval, hours(0), hours(24)), "three runs now in a row");
        assert!(!failing(2, 3, Retry::AtInterval, hours(48), hours(24)));
    }

    #[test]
    fn a_booking_com_stay_whose_first_nights_left_the_window_is_the_same_stay() {
        // Stored yesterday as nights 1/8 to 1/12, keyed by its first night's UID; today the
        // reading starts at 1/9, so the joined stay is keyed by the second night's.
        let today = date(1, 10);
        let stay = fresh("night-1@booking.com", date(1, 8), date(1, 12), ItemKind::Reservation);
        let kept = vec![stored(&stay)];
        let cut = fresh("night-2@booking.com", date(1, 9), date(1, 12), ItemKind::Reservation);
        let d = diff(&kept, std::slice::from_ref(&cut), Platform::BookingCom, today);
        assert_eq!(d.counts, RunCounts { unchanged: 1, ..Default::default() }, "{d:?}");
        assert!(d.added.is_empty() && d.removed.is_empty() && d.updated.is_empty());

        // Lengthened by a night: the same stay, rewritten.
        let longer = fresh("night-2@booking.com", date(1, 9), date(1, 13), ItemKind::Reservation);
        let d = diff(&kept, std::slice::from_ref(&longer), Platform::BookingCom, today);
        assert_eq!(d.counts, RunCounts { updated: 1, ..Default::default() }, "{d:?}");
        assert_eq!(d.updated[0].0, kept[0].id);

        // A stay starting later than the window's start is another stay; so is one of Airbnb,
        // whose stays keep their UID.
        let later = fresh("other@booking.com", date(1, 20), date(1, 22), ItemKind::Reservation);
        let both = [cut.clone(), later];
        let d = diff(&kept, &both, Platform::BookingCom, today);
        assert_eq!(d.counts, RunCounts { added: 1, unchanged: 1, ..Default::default() });
        let d = diff(&kept, std::slice::from_ref(&cut), Platform::Airbnb, today);
        assert_eq!(d.counts, RunCounts { added: 1, removed: 1, ..Default::default() });
    }
}
