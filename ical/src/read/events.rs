//! VEVENTs to busy occurrences: reading the properties, series with their overrides, windows.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use sha2::{Digest, Sha256};

use super::bounds::Stop;
use super::lines::{Block, Prop, trim};
use super::recur;
use super::rule::{self, RuleSpec, short};
use super::values::{Written, parse_duration, parse_written};
use super::zones::{ZoneRef, Zones};
use super::{BusyItem, ItemDetails, ItemKind, ParseOptions, Skipped, Span, profiles};

/// Occurrences one series may generate (also before the window, for COUNT rules).
pub(super) const MAX_OCCURRENCES_PER_SERIES: usize = 10_000;
/// Occurrences the whole feed may generate.
const FEED_BUDGET: usize = 2_000_000;

/// A DTSTART-like value with its zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Moment {
    Date(NaiveDate),
    Time(NaiveDateTime, ZoneRef),
}

/// One VEVENT, read. Kept small: a feed of 100 000 events holds 100 000 of them at once. But
/// never smaller than a [`BusyItem`]: the single events become busy items in the memory that held
/// them (an in-place `collect` in `parse_source`), which Rust does only when each item fits in
/// the place of an event; otherwise the events and the items would both be whole at once.
#[derive(Debug)]
pub(super) struct Ev {
    index: u32,
    sequence: i64,
    uid: String,
    summary: Option<Arc<str>>,
    start: Option<Moment>,
    end: Option<Moment>,
    duration: Option<Duration>,
    /// What few events have: recurrence, or the original start of an override.
    more: Option<Box<More>>,
    mentions_reservation: bool,
    /// What a booking platform says about the reservation (empty for other producers): held
    /// here rather than boxed, which costs no more memory (see above) and no allocation.
    details: ItemDetails,
    cancelled: bool,
    transparent: bool,
}

// See `Ev`: a single event's busy item takes its place.
const _: () = assert!(size_of::<Ev>() >= size_of::<BusyItem>());

/// The recurrence of an event, and the original start of an override.
#[derive(Debug, Default)]
struct More {
    rid: Option<Moment>,
    /// `RECURRENCE-ID;RANGE=THISANDFUTURE`: the override also applies to later instances.
    this_and_future: bool,
    rules: Vec<RuleSpec>,
    rdates: Vec<Moment>,
    /// The ends of the RDATEs written as periods (`VALUE=PERIOD`), by their start.
    periods: Vec<(Moment, PeriodEnd)>,
    exdates: Vec<Moment>,
}

/// The end of an RDATE period: `start/end` or `start/duration`.
#[derive(Clone, Copy, Debug)]
enum PeriodEnd {
    At(Moment),
    For(Duration),
}

/// A `RANGE=THISANDFUTURE` override, as it applies to the later instances of its series.
struct Range<'e> {
    /// The original start it replaces, a local time of the series.
    from: NaiveDateTime,
    /// How far it moves every later instance (its start minus `from`, on the wall clock).
    offset: Duration,
    /// The length it gives them.
    length: Length,
    ev: &'e Ev,
}

/// How the occurrences of a series are placed: whole days or timed, the zone of its local
/// times, and its DTSTART as a local time (midnight for whole days).
#[derive(Clone, Copy, Debug)]
struct Frame {
    all_day: bool,
    zone: ZoneRef,
    dtstart: NaiveDateTime,
}

/// The local times `[lo, hi)` whose occurrences can reach the window.
#[derive(Clone, Copy, Debug)]
struct Reach {
    lo: NaiveDateTime,
    hi: NaiveDateTime,
}

impl Reach {
    fn holds(self, local: NaiveDateTime) -> bool {
        local >= self.lo && local < self.hi
    }
}

/// The occurrences the EXDATEs of a series remove: by date, or by instant.
#[derive(Default)]
struct Exclusions {
    dates: HashSet<NaiveDate>,
    instants: HashSet<DateTime<Utc>>,
}

impl Ev {
    /// The `index`-th VEVENT of the feed, before any of its properties is read.
    fn new(index: usize) -> Self {
        Ev {
            index: u32::try_from(index).unwrap_or(u32::MAX),
            sequence: 0,
            uid: String::new(),
            summary: None,
            start: None,
            end: None,
            duration: None,
            more: None,
            mentions_reservation: false,
            details: ItemDetails::default(),
            cancelled: false,
            transparent: false,
        }
    }

    /// Its UID (given or synthesised).
    pub(super) fn uid(&self) -> &str {
        &self.uid
    }

    /// Its place among the VEVENTs read.
    pub(super) fn index(&self) -> usize {
        self.index as usize
    }

    fn rid(&self) -> Option<Moment> {
        self.more.as_ref().and_then(|m| m.rid)
    }

    fn rules(&self) -> &[RuleSpec] {
        self.more.as_ref().map_or(&[], |m| &m.rules)
    }

    fn rdates(&self) -> &[Moment] {
        self.more.as_ref().map_or(&[], |m| &m.rdates)
    }

    fn exdates(&self) -> &[Moment] {
        self.more.as_ref().map_or(&[], |m| &m.exdates)
    }

    fn periods(&self) -> &[(Moment, PeriodEnd)] {
        self.more.as_ref().map_or(&[], |m| &m.periods)
    }

    fn this_and_future(&self) -> bool {
        self.more.as_ref().is_some_and(|m| m.this_and_future)
    }
}

/// How long each occurrence lasts.
#[derive(Clone, Copy, Debug)]
enum Length {
    Days(i64),
    Wall(Duration),
}

/// The identity of an occurrence inside its series.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum RidKey {
    Date(NaiveDate),
    Instant(DateTime<Utc>),
}

impl RidKey {
    /// `YYYYMMDD`, or `YYYYMMDDTHHMMSSZ` in UTC.
    fn format(self) -> String {
        fn digits(out: &mut String, n: u32, width: u32) {
            for k in (0..width).rev() {
                out.push(char::from(b'0' + ((n / 10u32.pow(k)) % 10) as u8));
            }
        }
        let mut out = String::with_capacity(16);
        let date = match self {
            RidKey::Date(d) => d,
            RidKey::Instant(t) => t.date_naive(),
        };
        digits(&mut out, date.year().clamp(0, 9999) as u32, 4);
        digits(&mut out, date.month(), 2);
        digits(&mut out, date.day(), 2);
        if let RidKey::Instant(t) = self {
            out.push('T');
            digits(&mut out, t.hour(), 2);
            digits(&mut out, t.minute(), 2);
            digits(&mut out, t.second(), 2);
            out.push('Z');
        }
        out
    }
}

/// Where the reading of a feed's events stands.
pub(super) struct Reader<'a> {
    pub zones: Zones,
    pub options: &'a ParseOptions,
    /// Keep transparent events (for checks of recurrence expansion).
    pub keep_free: bool,
    pub skipped: Vec<Skipped>,
    pub busy: Vec<BusyItem>,
    /// The summaries read last, shared by the events that have them.
    summaries: Summaries,
    budget: usize,
    /// The window, clamped to years 1 to 9999 so that nothing near it overflows.
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    from_date: NaiveDate,
    to_date: NaiveDate,
}

impl<'a> Reader<'a> {
    pub(super) fn new(zones: Zones, options: &'a ParseOptions, keep_free: bool) -> Self {
        let clamp = |t: DateTime<Utc>| {
            let lo = NaiveDate::from_ymd_opt(1, 1, 1).unwrap_or_default();
            let hi = NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or_default();
            t.clamp(lo.and_time(NaiveTime::MIN).and_utc(), hi.and_time(NaiveTime::MIN).and_utc())
        };
        let (from, to) = (clamp(options.from), clamp(options.to));
        let from_date = from.date_naive();
        let to_date = if to.time() == NaiveTime::MIN {
            to.date_naive()
        } else {
            to.date_naive() + Duration::days(1)
        };
        Reader {
            zones,
            options,
            keep_free,
            skipped: Vec::new(),
            summaries: Summaries::default(),
            busy: Vec::new(),
            budget: FEED_BUDGET,
            from,
            to,
            from_date,
            to_date,
        }
    }

    /// The work meter, once the reading is over.
    pub(super) fn into_work(self) -> super::work::Work {
        self.zones.work
    }

    fn skip(&mut self, uid: Option<&str>, reason: impl Into<String>) {
        self.skipped.push(Skipped { uid: uid.map(str::to_owned), reason: reason.into() });
    }

    fn moment(&self, p: &Prop<'_>, raw: &str) -> Option<Moment> {
        let value_type = p.param("VALUE");
        let date_only = value_type.is_some_and(|v| v.eq_ignore_ascii_case("DATE"));
        let raw = if value_type.is_some_and(|v| v.eq_ignore_ascii_case("PERIOD")) {
            raw.split('/').next().unwrap_or(raw)
        } else {
            raw
        };
        Some(match parse_written(raw, date_only)? {
            Written::Date(d) => Moment::Date(d),
            Written::Utc(t) => Moment::Time(t, ZoneRef::Utc),
            Written::Local(t) => Moment::Time(
                t,
                match p.param("TZID") {
                    Some(tzid) => self.zones.resolve(tzid),
                    None => ZoneRef::Floating,
                },
            ),
        })
    }

    /// The end of an RDATE written as a period (`VALUE=PERIOD`, `start/end` or
    /// `start/duration`); `None` for a plain RDATE or an unreadable end.
    fn period_end(&self, p: &Prop<'_>, raw: &str) -> Option<PeriodEnd> {
        if p.name != "RDATE" || !p.param("VALUE").is_some_and(|v| v.eq_ignore_ascii_case("PERIOD"))
        {
            return None;
        }
        let (_, end) = raw.split_once('/')?;
        if end.trim().trim_start_matches(['+', '-']).starts_with(['P', 'p']) {
            parse_duration(end).map(PeriodEnd::For)
        } else {
            self.moment(p, end).map(PeriodEnd::At)
        }
    }

    /// Reads one parsed VEVENT. `None` (with a skipped entry) when it cannot be used at all.
    pub(super) fn read_event(&mut self, index: usize, block: &Block<'_>) -> Option<Ev> {
        // The event and its fields stay here, borrowed by the steps below: a feed of 100 000
        // events would otherwise copy each of them from step to step.
        let mut ev = Ev::new(index);
        let mut fields = Fields::default();
        for p in block.props() {
            self.read_prop(&mut ev, &mut fields, p);
        }
        fields.complete(&mut ev, block, &mut self.summaries);
        if !self.usable(&mut ev, &mut fields) {
            return None;
        }
        let description = fields.description.map(|d| d.raw);
        let details = profiles::details(self.options.producer, ev.summary.as_deref(), description);
        ev.details = details;
        Some(ev)
    }

    /// Reads one property of a VEVENT into the event, or into what is kept of it until the
    /// event is complete.
    fn read_prop<'b>(&self, ev: &mut Ev, f: &mut Fields<'b>, p: Prop<'b>) {
        match p.name {
            "UID" if f.uid.is_none() => {
                let v = p.value();
                if !trim(&v).is_empty() {
                    f.uid = Some(trim_cow(v));
                }
            }
            "SUMMARY" if f.summary.is_none() => f.summary = Some(p.value()),
            "DESCRIPTION" if f.description.is_none() => f.description = Some(p),
            "DTSTART" => match &f.dtstart {
                None => f.dtstart = Some((p, p.value())),
                Some((first, _)) => f.faults.second_start(first, &p),
            },
            "DTEND" if ev.end.is_none() && f.faults.end.is_none() => {
                ev.end = self.moment(&p, &p.value());
                if ev.end.is_none() {
                    f.faults.end = Some(p.value());
                }
            }
            "DURATION" if ev.duration.is_none() && f.faults.duration.is_none() => {
                read_duration(ev, &mut f.faults, &p);
            }
            "RRULE" => match rule::parse_rule(&p.value()) {
                Ok(rule) => f.more.rules.push(rule),
                Err(e) => f.bad_rule = Some(e),
            },
            "RDATE" | "EXDATE" => self.read_dates(f, &p),
            "RECURRENCE-ID" if f.more.rid.is_none() => {
                f.more.rid = self.moment(&p, &p.value());
                f.more.this_and_future =
                    p.param("RANGE").is_some_and(|r| r.eq_ignore_ascii_case("THISANDFUTURE"));
            }
            "STATUS" => ev.cancelled = p.value().trim().eq_ignore_ascii_case("CANCELLED"),
            "TRANSP" => ev.transparent = p.value().trim().eq_ignore_ascii_case("TRANSPARENT"),
            "SEQUENCE" => ev.sequence = p.value().trim().parse().unwrap_or(0),
            _ => {}
        }
    }

    /// Reads an RDATE or EXDATE list (with the ends of RDATE periods); a date that cannot be
    /// read is a fault, the others are kept.
    fn read_dates<'b>(&self, f: &mut Fields<'b>, p: &Prop<'b>) {
        let more = &mut f.more;
        let list = if p.name == "RDATE" { &mut more.rdates } else { &mut more.exdates };
        for v in p.value().split(',').filter(|v| !v.trim().is_empty()) {
            match self.moment(p, v) {
                Some(m) => {
                    list.push(m);
                    if let Some(end) = self.period_end(p, v) {
                        more.periods.push((m, end));
                    }
                }
                None => f.faults.date_in_list(p.name, v),
            }
        }
    }

    /// Whether the event can be used, its DTSTART read: not when its DTSTART or RRULE cannot
    /// be read, when it has neither DTSTART nor RECURRENCE-ID, or when it ends before it starts
    /// (skipped with the reason). The faults of a usable event are listed as skipped entries.
    fn usable(&mut self, ev: &mut Ev, f: &mut Fields<'_>) -> bool {
        if let Some((p, value)) = &f.dtstart {
            ev.start = self.moment(p, value);
            if ev.start.is_none() {
                let reason = format!("unreadable DTSTART ({})", short(value.trim()));
                self.skip(Some(&ev.uid), reason);
                return false;
            }
        } else if ev.rid().is_none() {
            self.skip(Some(&ev.uid), "no DTSTART");
            return false;
        }
        if let Some(e) = &f.bad_rule {
            self.skip(Some(&ev.uid), e.reason());
            return false;
        }
        if let (Some(start), Some(end)) = (ev.start, ev.end)
            && self.ends_before(start, end)
        {
            // Hand-edited exports do this; guessing a length would block days nobody booked.
            self.skip(Some(&ev.uid), "end before start");
            return false;
        }
        for reason in f.faults.reasons(ev) {
            self.skip(Some(&ev.uid), reason);
        }
        true
    }

    /// Whether DTEND lies before DTSTART (compared as `length` measures them).
    fn ends_before(&self, start: Moment, end: Moment) -> bool {
        match (start, end) {
            (Moment::Date(s), Moment::Date(e)) => e < s,
            (Moment::Date(s), Moment::Time(e, _)) => e.date() < s,
            (Moment::Time(s, _), Moment::Date(e)) => e.and_time(NaiveTime::MIN) < s,
            (Moment::Time(s, z), Moment::Time(e, ez)) => {
                let e = if ez == z || ez == ZoneRef::Floating {
                    e
                } else {
                    self.zones.to_local(z, self.zones.to_utc(ez, e))
                };
                e < s
            }
        }
    }

    /// Whether an event is a single one (no recurrence, not an override).
    pub(super) fn is_single(ev: &Ev) -> bool {
        ev.rid().is_none() && ev.rules().is_empty() && ev.rdates().is_empty()
    }

    /// The busy item of a single event, alone with its UID (`None`, with a skipped entry when
    /// it is not busy, when it is not one).
    pub(super) fn single(&mut self, ev: Ev) -> Option<BusyItem> {
        if ev.cancelled {
            self.skip(Some(&ev.uid), "cancelled");
            return None;
        }
        if ev.transparent && !self.keep_free {
            self.skip(Some(&ev.uid), "transparent (free)");
            return None;
        }
        let start = ev.start?;
        let length = self.length(&ev, start);
        let (zone, local) = match start {
            Moment::Date(d) => (ZoneRef::Floating, d.and_time(NaiveTime::MIN)),
            Moment::Time(t, z) => (z, t),
        };
        let span = self.span(zone, local, length);
        if self.explicit_in_window(&span) {
            let kind = profiles::classify(
                self.options.producer,
                ev.summary.as_deref(),
                ev.mentions_reservation,
            );
            return Some(BusyItem {
                uid: ev.uid,
                recurrence_id: None,
                span,
                summary: ev.summary,
                kind,
                details: ev.details,
            });
        }
        None
    }

    /// Turns all events of one UID (file order) into busy items.
    pub(super) fn series(&mut self, evs: Vec<Ev>) {
        let mark = self.busy.len();
        let result = catch_unwind(AssertUnwindSafe(|| self.series_inner(&evs)));
        if result.is_err() {
            self.busy.truncate(mark);
            self.skip(Some(&evs[0].uid), "internal error while expanding the event");
        }
    }

    /// Turns the events of one UID into busy items: its master, its overrides (by
    /// RECURRENCE-ID), and the single events that reuse its UID.
    fn series_inner(&mut self, evs: &[Ev]) {
        let (masters, overrides): (Vec<&Ev>, Vec<&Ev>) =
            evs.iter().partition(|e| e.rid().is_none());
        let (master, extra) = self.pick_master(masters);
        if let Some(m) = master
            && m.cancelled
        {
            // A cancelled series takes its overrides with it.
            self.skip(Some(&m.uid), "cancelled");
            return;
        }
        // The series' type and zone decide how overrides are matched.
        let (all_day, zone) = match master.and_then(|m| m.start) {
            Some(Moment::Date(_)) => (true, ZoneRef::Floating),
            Some(Moment::Time(_, z)) => (false, z),
            None => (false, ZoneRef::Floating),
        };
        let mut suppressed: HashSet<RidKey> = HashSet::new();
        let mut ranges = self.emit_overrides(overrides, master, all_day, zone, &mut suppressed);
        let Some(master) = master else { return };
        self.emit_extra(extra, master, all_day, zone, &mut suppressed);
        if master.transparent && !self.keep_free {
            self.skip(Some(&master.uid), "transparent (free)");
            return;
        }
        ranges.sort_by_key(|r| r.from);
        let frame = match master.start {
            Some(Moment::Date(d)) => Frame { all_day, zone, dtstart: d.and_time(NaiveTime::MIN) },
            Some(Moment::Time(t, _)) => Frame { all_day, zone, dtstart: t },
            None => return,
        };
        self.emit_master(master, frame, &suppressed, &ranges);
    }

    /// One master per UID, among the events without RECURRENCE-ID: the highest SEQUENCE, then,
    /// of those starting when the last in the file does, the one that ends last (busy time is
    /// kept, whatever the file's order), then the last in the file; the others are skipped as
    /// duplicates. Except that another single event with the same UID and SEQUENCE but another
    /// start is a different event from a producer that reuses UIDs: it is kept (returned
    /// second), keyed by its start as a recurrence id.
    fn pick_master<'e>(&mut self, mut masters: Vec<&'e Ev>) -> (Option<&'e Ev>, Vec<&'e Ev>) {
        let mut extra: Vec<&Ev> = Vec::new();
        if masters.is_empty() {
            return (None, extra);
        }
        let last = (0..masters.len())
            .max_by_key(|&i| (masters[i].sequence, masters[i].index))
            .unwrap_or(0);
        let (sequence, start) = (masters[last].sequence, masters[last].start);
        let best = (0..masters.len())
            .filter(|&i| masters[i].sequence == sequence && masters[i].start == start)
            .max_by_key(|&i| (Self::written_end(masters[i]), masters[i].index))
            .unwrap_or(last);
        let master = masters.swap_remove(best);
        for other in masters {
            if other.sequence == master.sequence
                && other.start != master.start
                && Self::is_single(other)
                && Self::is_single(master)
            {
                extra.push(other);
            } else {
                self.skip(
                    Some(&master.uid),
                    "duplicate UID (another VEVENT with this UID replaces it)",
                );
            }
        }
        (Some(master), extra)
    }

    /// Where an event's first occurrence ends, as written (its DTEND, else its DTSTART plus its
    /// DURATION, else its DTSTART), to compare events that start at the same moment.
    fn written_end(ev: &Ev) -> Option<NaiveDateTime> {
        let written = |moment: Moment| match moment {
            Moment::Date(d) => d.and_time(NaiveTime::MIN),
            Moment::Time(t, _) => t,
        };
        let start = ev.start.map(written)?;
        match (ev.end, ev.duration) {
            (Some(end), _) => Some(written(end)),
            (None, Some(duration)) => start.checked_add_signed(duration),
            (None, None) => Some(start),
        }
    }

    /// Emits the overrides of a series, each suppressing the occurrence it replaces; returns
    /// the `RANGE=THISANDFUTURE` ones, which also move the later occurrences.
    fn emit_overrides<'e>(
        &mut self,
        overrides: Vec<&'e Ev>,
        master: Option<&Ev>,
        all_day: bool,
        zone: ZoneRef,
        suppressed: &mut HashSet<RidKey>,
    ) -> Vec<Range<'e>> {
        let mut ranges: Vec<Range<'_>> = Vec::new();
        for (key, o) in self.by_key(overrides, master, all_day, zone) {
            suppressed.insert(key);
            if let Some(m) = master
                && let Some(range) = self.range(o, m, all_day, zone)
            {
                ranges.push(range);
            }
            if o.cancelled {
                self.skip(Some(&o.uid), "cancelled");
                continue;
            }
            if o.transparent && !self.keep_free {
                self.skip(Some(&o.uid), "transparent (free)");
                continue;
            }
            self.emit_override(o, key, master);
        }
        ranges
    }

    /// The overrides of a series by the occurrence each replaces, in file order: of several for
    /// one occurrence, the highest SEQUENCE (then the last) wins.
    fn by_key<'e>(
        &self,
        overrides: Vec<&'e Ev>,
        master: Option<&Ev>,
        all_day: bool,
        zone: ZoneRef,
    ) -> Vec<(RidKey, &'e Ev)> {
        let mut by_key: HashMap<RidKey, &Ev> = HashMap::new();
        for o in overrides {
            let Some(rid) = o.rid() else { continue };
            let key =
                if master.is_some() { self.rid_key(all_day, zone, rid) } else { self.own_key(rid) };
            match by_key.get(&key) {
                Some(prev) if (prev.sequence, prev.index) > (o.sequence, o.index) => {}
                _ => {
                    by_key.insert(key, o);
                }
            }
        }
        let mut overrides: Vec<(RidKey, &Ev)> = by_key.into_iter().collect();
        overrides.sort_by_key(|(_, o)| o.index);
        overrides
    }

    /// Emits the single events that reuse the master's UID (see [`Self::pick_master`]), keyed
    /// by their start: one on the master's start, or on an occurrence already taken, is a
    /// duplicate.
    fn emit_extra(
        &mut self,
        mut extra: Vec<&Ev>,
        master: &Ev,
        all_day: bool,
        zone: ZoneRef,
        suppressed: &mut HashSet<RidKey>,
    ) {
        extra.sort_by_key(|e| e.index);
        let master_key = master.start.map(|s| self.rid_key(all_day, zone, s));
        for e in extra {
            let Some(start) = e.start else { continue };
            let key = self.rid_key(all_day, zone, start);
            if Some(key) == master_key || !suppressed.insert(key) {
                self.skip(Some(&e.uid), "duplicate UID (another VEVENT with this UID replaces it)");
            } else if e.cancelled {
                self.skip(Some(&e.uid), "cancelled");
            } else if e.transparent && !self.keep_free {
                self.skip(Some(&e.uid), "transparent (free)");
            } else {
                self.emit_override(e, key, None);
            }
        }
    }

    /// How a `RANGE=THISANDFUTURE` override of `master` moves the later instances. `None` for
    /// any other override, and for one that cannot be applied whole: a cancelled or transparent
    /// one (it removes its own instance only, rather than every later one: busy time is kept
    /// when in doubt), or one whose DTSTART is of another type than the series' (a date in a
    /// timed series, or the reverse), which replaces its own instance only.
    fn range<'e>(&self, o: &'e Ev, master: &Ev, all_day: bool, zone: ZoneRef) -> Option<Range<'e>> {
        if !o.this_and_future() || o.cancelled || (o.transparent && !self.keep_free) {
            return None;
        }
        let (rid, start, dtstart) = (o.rid()?, o.start?, master.start?);
        if matches!(start, Moment::Date(_)) != all_day {
            return None;
        }
        let time = match dtstart {
            Moment::Date(_) => NaiveTime::MIN,
            Moment::Time(t, _) => t.time(),
        };
        let from = self.series_local(all_day, zone, time, rid);
        let offset = self.series_local(all_day, zone, time, start) - from;
        Some(Range { from, offset, length: self.override_length(o, start, Some(master)), ev: o })
    }

    /// A DATE or DATE-TIME as a local time of the series: midnight in an all-day series, the
    /// time of DTSTART (`time`) for a date in a timed one.
    fn series_local(
        &self,
        all_day: bool,
        zone: ZoneRef,
        time: NaiveTime,
        m: Moment,
    ) -> NaiveDateTime {
        match m {
            Moment::Date(d) if all_day => d.and_time(NaiveTime::MIN),
            Moment::Date(d) => d.and_time(time),
            Moment::Time(t, _) if all_day => t.date().and_time(NaiveTime::MIN),
            Moment::Time(t, z) if z == zone || z == ZoneRef::Floating => t,
            Moment::Time(t, z) => self.zones.to_local(zone, self.zones.to_utc(z, t)),
        }
    }

    /// The length of an RDATE period starting at `local` (a local time of the series).
    fn period_length(
        &self,
        all_day: bool,
        zone: ZoneRef,
        local: NaiveDateTime,
        end: PeriodEnd,
    ) -> Length {
        let wall = match end {
            PeriodEnd::For(d) => d,
            PeriodEnd::At(e) => self.series_local(false, zone, NaiveTime::MIN, e) - local,
        };
        if all_day {
            Length::Days(((wall.num_seconds() + 86_399).div_euclid(86_400)).max(1))
        } else {
            Length::Wall(wall.max(Duration::zero()))
        }
    }

    /// The key of an override's RECURRENCE-ID in a series of the given type and zone.
    fn rid_key(&self, all_day: bool, zone: ZoneRef, rid: Moment) -> RidKey {
        match rid {
            Moment::Date(d) => RidKey::Date(d),
            Moment::Time(t, _) if all_day => RidKey::Date(t.date()),
            Moment::Time(t, z) => {
                let z = if z == ZoneRef::Floating { zone } else { z };
                RidKey::Instant(self.zones.to_utc(z, t))
            }
        }
    }

    /// The key of an override without a master.
    fn own_key(&self, rid: Moment) -> RidKey {
        match rid {
            Moment::Date(d) => RidKey::Date(d),
            Moment::Time(t, z) => RidKey::Instant(self.zones.to_utc(z, t)),
        }
    }

    fn length(&self, ev: &Ev, start: Moment) -> Length {
        match start {
            Moment::Date(s) => {
                let days = match (ev.end, ev.duration) {
                    (Some(Moment::Date(e)), _) => (e - s).num_days(),
                    (Some(Moment::Time(t, _)), _) => {
                        (t.date() - s).num_days() + i64::from(t.time() > NaiveTime::MIN)
                    }
                    (None, Some(d)) => (d.num_seconds() + 86_399).div_euclid(86_400),
                    (None, None) => 1,
                };
                Length::Days(days.max(1))
            }
            Moment::Time(s, z) => {
                let wall = match (ev.end, ev.duration) {
                    (Some(Moment::Time(e, ez)), _) => {
                        if ez == z || ez == ZoneRef::Floating {
                            e - s
                        } else {
                            self.zones.to_local(z, self.zones.to_utc(ez, e)) - s
                        }
                    }
                    (Some(Moment::Date(e)), _) => e.and_time(NaiveTime::MIN) - s,
                    (None, Some(d)) => d,
                    (None, None) => Duration::zero(),
                };
                Length::Wall(wall.max(Duration::zero()))
            }
        }
    }

    /// The span of an occurrence starting at `local` (midnight for all-day series).
    fn span(&self, zone: ZoneRef, local: NaiveDateTime, length: Length) -> Span {
        match length {
            Length::Days(days) => {
                let start = local.date();
                Span::AllDay {
                    start,
                    end: start.checked_add_signed(Duration::days(days)).unwrap_or(NaiveDate::MAX),
                }
            }
            Length::Wall(wall) => {
                let start = self.zones.to_utc(zone, local);
                let end =
                    local.checked_add_signed(wall).map_or(start, |e| self.zones.to_utc(zone, e));
                Span::Timed { start, end: end.max(start) }
            }
        }
    }

    /// Whether an explicitly written event (a single one, or a moved occurrence) is returned:
    /// in the window, or anywhere after its start when the options ask for every single event.
    fn explicit_in_window(&self, span: &Span) -> bool {
        if !self.options.all_single_events {
            return self.in_window(span);
        }
        match *span {
            Span::AllDay { end, .. } => end > self.from_date,
            Span::Timed { start, end } if start == end => start >= self.from,
            Span::Timed { end, .. } => end > self.from,
        }
    }

    fn in_window(&self, span: &Span) -> bool {
        match *span {
            Span::AllDay { start, end } => start < self.to_date && end > self.from_date,
            Span::Timed { start, end } => {
                if start == end {
                    start >= self.from && start < self.to
                } else {
                    start < self.to && end > self.from
                }
            }
        }
    }

    fn kind(&self, ev: &Ev, summary: Option<&Arc<str>>) -> ItemKind {
        profiles::classify(self.options.producer, summary.map(|s| &**s), ev.mentions_reservation)
    }

    fn push(&mut self, ev: &Ev, summary: Option<&Arc<str>>, rid: Option<String>, span: Span) {
        let kind = self.kind(ev, summary);
        self.push_kind(ev, summary, kind, rid, span);
    }

    fn push_kind(
        &mut self,
        ev: &Ev,
        summary: Option<&Arc<str>>,
        kind: ItemKind,
        rid: Option<String>,
        span: Span,
    ) {
        self.busy.push(BusyItem {
            uid: ev.uid.clone(),
            recurrence_id: rid,
            span,
            summary: summary.cloned(),
            kind,
            details: ev.details.clone(),
        });
    }

    fn emit_override(&mut self, o: &Ev, key: RidKey, master: Option<&Ev>) {
        // An override without DTSTART keeps its original start.
        let Some(start) = o.start.or(o.rid()) else {
            return;
        };
        let length = self.override_length(o, start, master);
        let (zone, local) = match start {
            Moment::Date(d) => (ZoneRef::Floating, d.and_time(NaiveTime::MIN)),
            Moment::Time(t, z) => (z, t),
        };
        let span = self.span(zone, local, length);
        if self.explicit_in_window(&span) {
            let summary = o.summary.as_ref().or(master.and_then(|m| m.summary.as_ref()));
            self.push(o, summary, Some(key.format()), span);
        }
    }

    /// The length of an override starting at `start`: its own, else its master's.
    fn override_length(&self, o: &Ev, start: Moment, master: Option<&Ev>) -> Length {
        if o.end.is_none() && o.duration.is_none() {
            match master.and_then(|m| m.start.map(|s| (m, s))) {
                Some((m, s))
                    if matches!(s, Moment::Date(_)) == matches!(start, Moment::Date(_)) =>
                {
                    self.length(m, s)
                }
                _ => self.length(o, start),
            }
        } else {
            self.length(o, start)
        }
    }

    /// Emits the occurrences of a series' master that no override replaced (`suppressed`),
    /// each moved by the last range override before it (`ranges`, sorted by the start they
    /// replace).
    fn emit_master(
        &mut self,
        m: &Ev,
        frame: Frame,
        suppressed: &HashSet<RidKey>,
        ranges: &[Range<'_>],
    ) {
        let Some(start) = m.start else { return };
        let length = self.length(m, start);
        if m.rules().is_empty() && m.rdates().is_empty() {
            self.emit_lone_master(m, frame, length, suppressed);
            return;
        }
        let reach = self.reach(frame.zone, length, ranges);
        let Some(locals) = self.occurrence_starts(m, frame, reach) else { return };
        let periods = self.period_lengths(m, frame);
        let kept = self.kept(locals, &self.exclusions(m, frame), suppressed, frame);
        self.emit_occurrences(m, kept, length, &periods, frame, ranges);
    }

    /// Emits a master without RRULE or RDATE: its one occurrence, unless an override replaced it.
    fn emit_lone_master(
        &mut self,
        m: &Ev,
        frame: Frame,
        length: Length,
        suppressed: &HashSet<RidKey>,
    ) {
        let key = self.occurrence_key(frame.all_day, frame.zone, frame.dtstart);
        if suppressed.contains(&key) {
            return;
        }
        let span = self.span(frame.zone, frame.dtstart, length);
        if self.explicit_in_window(&span) {
            self.push(m, m.summary.as_ref(), None, span);
        }
    }

    /// The local range whose starts can overlap the window, once moved by a range override.
    fn reach(&self, zone: ZoneRef, length: Length, ranges: &[Range<'_>]) -> Reach {
        let (lo, hi) = match length {
            Length::Days(days) => (
                (self.from_date - Duration::days(days + 1)).and_time(NaiveTime::MIN),
                (self.to_date + Duration::days(1)).and_time(NaiveTime::MIN),
            ),
            Length::Wall(wall) => (
                self.zones.to_local(zone, self.from) - wall - Duration::days(2),
                self.zones.to_local(zone, self.to) + Duration::days(2),
            ),
        };
        let Some(moved) = ranges.iter().map(|r| r.offset.abs()).max() else {
            return Reach { lo, hi };
        };
        let long = ranges.iter().map(|r| match r.length {
            Length::Days(days) => Duration::days(days),
            Length::Wall(wall) => wall,
        });
        let long = long.max().unwrap_or_default();
        // Kept within years 1 to 9999, as the window is: a crafted offset moves nothing further.
        let first = NaiveDate::from_ymd_opt(1, 1, 1).unwrap_or_default().and_time(NaiveTime::MIN);
        let last =
            NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or_default().and_time(NaiveTime::MIN);
        Reach {
            lo: lo.checked_sub_signed(moved + long).map_or(first, |t| t.max(first)).min(lo),
            hi: hi.checked_add_signed(moved).map_or(last, |t| t.min(last)).max(hi),
        }
    }

    /// The local starts of a series in `reach`, sorted and distinct: DTSTART, those of its
    /// rules, its RDATEs. `None` when the series is not emitted: a rule cannot be expanded
    /// (skipped with the reason), or the feed's work budget is spent.
    fn occurrence_starts(
        &mut self,
        m: &Ev,
        frame: Frame,
        reach: Reach,
    ) -> Option<Vec<NaiveDateTime>> {
        let mut locals: Vec<NaiveDateTime> = Vec::new();
        if reach.holds(frame.dtstart) {
            locals.push(frame.dtstart);
        }
        for rule in m.rules() {
            self.expand_rule(m, rule, frame, reach, &mut locals)?;
        }
        for r in m.rdates() {
            let local = self.series_local(frame.all_day, frame.zone, frame.dtstart.time(), *r);
            if reach.holds(local) {
                locals.push(local);
            }
        }
        locals.sort_unstable();
        locals.dedup();
        Some(locals)
    }

    /// Adds the starts one rule of a series generates in `reach` to `locals`; a series cut
    /// short is listed in `skipped` and keeps what was found. `None` when the series is not
    /// emitted (see [`Self::occurrence_starts`]).
    fn expand_rule(
        &mut self,
        m: &Ev,
        rule: &RuleSpec,
        frame: Frame,
        reach: Reach,
        locals: &mut Vec<NaiveDateTime>,
    ) -> Option<()> {
        let until = rule.until.map(|u| self.until_local(frame.all_day, frame.zone, u));
        let expanded = recur::expand(
            rule,
            frame.dtstart,
            until,
            reach.lo,
            reach.hi,
            MAX_OCCURRENCES_PER_SERIES,
            &mut self.budget,
            &self.zones.work,
            locals,
        );
        match expanded {
            Ok(None) => {}
            Ok(Some(Stop::Capped)) => self.skip(
                Some(&m.uid),
                format!("recurrence stopped after {MAX_OCCURRENCES_PER_SERIES} occurrences"),
            ),
            Ok(Some(Stop::Budget)) => self.skip(
                Some(&m.uid),
                format!(
                    "recurrence stopped: the feed's budget of {FEED_BUDGET} occurrences is spent"
                ),
            ),
            // The whole feed is refused; nothing of this series counts.
            Ok(Some(Stop::Work)) => return None,
            Err(e) => {
                self.skip(Some(&m.uid), e.reason());
                return None;
            }
        }
        Some(())
    }

    /// The lengths of the RDATE periods by their local start: they last as long as they say.
    fn period_lengths(&self, m: &Ev, frame: Frame) -> HashMap<NaiveDateTime, Length> {
        let (all_day, zone) = (frame.all_day, frame.zone);
        m.periods()
            .iter()
            .map(|&(start, end)| {
                let local = self.series_local(all_day, zone, frame.dtstart.time(), start);
                (local, self.period_length(all_day, zone, local, end))
            })
            .collect()
    }

    /// The EXDATEs of a series: instants when both sides are zoned (or both floating), dates
    /// otherwise.
    fn exclusions(&self, m: &Ev, frame: Frame) -> Exclusions {
        let mut ex = Exclusions::default();
        for x in m.exdates() {
            match *x {
                Moment::Date(d) => {
                    ex.dates.insert(d);
                }
                Moment::Time(t, _) if frame.all_day => {
                    ex.dates.insert(t.date());
                }
                Moment::Time(t, xz) => {
                    if (xz == ZoneRef::Floating) == (frame.zone == ZoneRef::Floating) {
                        ex.instants.insert(self.zones.to_utc(xz, t));
                    } else {
                        ex.dates.insert(t.date());
                    }
                }
            }
        }
        ex
    }

    /// The starts that neither an EXDATE nor an override (`suppressed`) removes, with their
    /// keys: one occurrence a key.
    fn kept(
        &self,
        locals: Vec<NaiveDateTime>,
        ex: &Exclusions,
        suppressed: &HashSet<RidKey>,
        frame: Frame,
    ) -> Vec<(NaiveDateTime, RidKey)> {
        let mut kept: Vec<(NaiveDateTime, RidKey)> = Vec::with_capacity(locals.len());
        for local in locals {
            if ex.dates.contains(&local.date()) {
                continue;
            }
            let key = self.occurrence_key(frame.all_day, frame.zone, local);
            if let RidKey::Instant(t) = key
                && ex.instants.contains(&t)
            {
                continue;
            }
            if suppressed.contains(&key)
                || (!frame.all_day && suppressed.contains(&RidKey::Date(local.date())))
            {
                continue;
            }
            kept.push((local, key));
        }
        // Two local times can name one instant (around DST changes): one occurrence for each key.
        if kept.windows(2).any(|w| w[0].1 >= w[1].1) {
            let mut seen: HashSet<RidKey> = HashSet::with_capacity(kept.len());
            kept.retain(|(_, key)| seen.insert(*key));
        }
        kept
    }

    /// Emits the kept occurrences of a master in the window, each lasting `length` (or as long
    /// as its RDATE period says).
    fn emit_occurrences(
        &mut self,
        m: &Ev,
        kept: Vec<(NaiveDateTime, RidKey)>,
        length: Length,
        periods: &HashMap<NaiveDateTime, Length>,
        frame: Frame,
        ranges: &[Range<'_>],
    ) {
        let kind = self.kind(m, m.summary.as_ref());
        for (local, key) in kept {
            let length = periods.get(&local).copied().unwrap_or(length);
            // The last range override before this instance moves it; an EXDATE or a single
            // override names its original start, as RFC 5545 defines the set before overrides.
            let Some(r) = ranges.iter().rev().find(|r| r.from < local) else {
                let span = self.span(frame.zone, local, length);
                if self.in_window(&span) {
                    self.push_kind(m, m.summary.as_ref(), kind, Some(key.format()), span);
                }
                continue;
            };
            let Some(moved) = local.checked_add_signed(r.offset) else { continue };
            let span = self.span(frame.zone, moved, r.length);
            if self.in_window(&span) {
                let summary = r.ev.summary.as_ref().or(m.summary.as_ref());
                self.push(r.ev, summary, Some(key.format()), span);
            }
        }
    }

    fn occurrence_key(&self, all_day: bool, zone: ZoneRef, local: NaiveDateTime) -> RidKey {
        if all_day {
            RidKey::Date(local.date())
        } else {
            RidKey::Instant(self.zones.to_utc(zone, local))
        }
    }

    /// A rule's UNTIL as a local time of the series.
    fn until_local(&self, all_day: bool, zone: ZoneRef, until: Written) -> NaiveDateTime {
        match until {
            Written::Date(d) if all_day => d.and_time(NaiveTime::MIN),
            Written::Date(d) => d.and_hms_opt(23, 59, 59).unwrap_or_default(),
            Written::Local(t) => t,
            Written::Utc(t) if all_day => t,
            Written::Utc(t) => self.zones.to_local(zone, t.and_utc()),
        }
    }
}

/// The distinct summaries read last: the events of a platform's feed have a few between them
/// ("Reserved", "Airbnb (Not available)"), which its items then share rather than each holding
/// a copy. Any other summary is kept on its own, at the cost of a few comparisons.
#[derive(Default)]
struct Summaries {
    recent: Vec<Arc<str>>,
    /// The one replaced next once `recent` is full.
    next: usize,
}

impl Summaries {
    const KEPT: usize = 8;

    fn get(&mut self, summary: &str) -> Arc<str> {
        if let Some(known) = self.recent.iter().find(|known| ***known == *summary) {
            return Arc::clone(known);
        }
        let new: Arc<str> = Arc::from(summary);
        if self.recent.len() < Self::KEPT {
            self.recent.push(Arc::clone(&new));
        } else {
            self.recent[self.next] = Arc::clone(&new);
            self.next = (self.next + 1) % Self::KEPT;
        }
        new
    }
}

/// What is kept of a VEVENT's properties while they are read, until the event is complete.
#[derive(Default)]
struct Fields<'b> {
    uid: Option<Cow<'b, str>>,
    summary: Option<Cow<'b, str>>,
    /// Read as written: escapes never make or break the words looked for in it, and it is
    /// unescaped only for an event without UID.
    description: Option<Prop<'b>>,
    dtstart: Option<(Prop<'b>, Cow<'b, str>)>,
    more: More,
    bad_rule: Option<rule::BadRule>,
    /// What could not be read in an event that is kept, reported once it is (see `Faults`).
    faults: Faults<'b>,
}

impl Fields<'_> {
    /// Fills in what the event takes from its fields once all are read: its UID (synthesised
    /// when it has none), summary, recurrence, and whether it mentions a reservation.
    fn complete(&mut self, ev: &mut Ev, block: &Block<'_>, summaries: &mut Summaries) {
        let more = &mut self.more;
        let has_more = more.rid.is_some()
            || !more.rules.is_empty()
            || !more.rdates.is_empty()
            || !more.exdates.is_empty();
        if has_more {
            ev.more = Some(Box::new(std::mem::take(more)));
        }
        ev.uid = match self.uid.take() {
            Some(u) => u.into_owned(),
            None => synthesise_uid(block),
        };
        let summary = self.summary.as_deref().map(trim).filter(|s| !s.is_empty());
        ev.summary = summary.map(|s| summaries.get(s));
        ev.mentions_reservation = self.description.is_some_and(|d| {
            let d = d.raw;
            d.contains("eservation") || d.contains("ESERVATION") || d.contains("/reservations/")
        });
    }
}

/// Reads DURATION: RFC 5545 3.8.2.5 wants an event's duration positive, so a negative one is a
/// fault, as is one that cannot be read.
fn read_duration<'b>(ev: &mut Ev, faults: &mut Faults<'b>, p: &Prop<'b>) {
    match parse_duration(&p.value()) {
        Some(d) if d >= Duration::zero() => ev.duration = Some(d),
        Some(_) => faults.duration = Some(("negative", p.value())),
        None => faults.duration = Some(("unreadable", p.value())),
    }
}

/// What could not be read in an event that is kept anyway, each reported in `skipped` with what
/// was read instead. The safe reading is never shorter than what the file can be trusted for:
/// - an unreadable DTEND (or an unreadable or negative DURATION) leaves the length to the other
///   of the two when it reads, else to DTSTART alone (one day for a date, an instant for a
///   date-time), as if the property were absent: its length cannot be trusted;
/// - an unreadable EXDATE removes nothing, so every occurrence stays busy;
/// - an unreadable RDATE adds nothing: there is no time to block;
/// - of two DTSTARTs the first is used (what the event's other properties were written against).
#[derive(Default)]
struct Faults<'a> {
    end: Option<Cow<'a, str>>,
    /// `negative` or `unreadable`, and the value.
    duration: Option<(&'static str, Cow<'a, str>)>,
    /// Reasons in file order (dates in lists, second DTSTARTs).
    other: Vec<String>,
}

impl<'a> Faults<'a> {
    fn second_start(&mut self, first: &Prop<'a>, second: &Prop<'a>) {
        if (first.params, first.raw.trim()) != (second.params, second.raw.trim()) {
            self.other.push(format!(
                "second DTSTART ({}) ignored: kept with the first ({})",
                short(second.raw.trim()),
                short(first.raw.trim())
            ));
        }
    }

    fn date_in_list(&mut self, name: &str, value: &str) {
        let effect = if name == "EXDATE" { "removed" } else { "added" };
        self.other.push(format!(
            "unreadable {name} ({}): kept, no occurrence {effect} for it",
            short(value.trim())
        ));
    }

    /// The reasons, the length's first.
    fn reasons(&mut self, ev: &Ev) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(v) = &self.end {
            let from = if ev.duration.is_some() { "DURATION" } else { "DTSTART alone" };
            out.push(format!(
                "unreadable DTEND ({}): kept, its length read from {from}",
                short(v.trim())
            ));
        }
        if let Some((what, v)) = &self.duration {
            let from = if ev.end.is_some() { "DTEND" } else { "DTSTART alone" };
            out.push(format!(
                "{what} DURATION ({}): kept, its length read from {from}",
                short(v.trim())
            ));
        }
        out.append(&mut self.other);
        out
    }
}

/// A stable UID for an event without one: `kalends-` and the first 32 hex digits of the SHA-256
/// of all its properties (not those of the components nested in it) as written, sorted, so that
/// the order they come in does not matter; DTSTAMP is left out, as it is the time of the export
/// (a feed that writes a new one on every fetch would otherwise rename its events every run).
/// Two events identical in all of them get the same UID and are read as one; events that differ
/// in anything (DTEND, RRULE, LOCATION...) do not.
fn synthesise_uid(block: &Block<'_>) -> String {
    let mut props: Vec<(&str, &str, &str)> = block
        .every_prop()
        .filter(|p| p.name != "DTSTAMP")
        .map(|p| (p.name, p.params, p.raw.trim()))
        .collect();
    props.sort_unstable();
    let mut h = Sha256::new();
    for (name, params, raw) in props {
        h.update(name.as_bytes());
        h.update(params.as_bytes());
        h.update(b":");
        h.update(raw.as_bytes());
        h.update([0x1e]);
    }
    let digest = h.finalize();
    let mut uid = String::with_capacity(8 + 32);
    uid.push_str("kalends-");
    for b in &digest[..16] {
        uid.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        uid.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    uid
}

/// A value without the blanks around it, borrowed when it was.
fn trim_cow(value: Cow<'_, str>) -> Cow<'_, str> {
    match value {
        Cow::Borrowed(v) => Cow::Borrowed(trim(v)),
        Cow::Owned(v) if trim(&v).len() == v.len() => Cow::Owned(v),
        Cow::Owned(v) => Cow::Owned(trim(&v).to_owned()),
    }
}
