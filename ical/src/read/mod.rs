//! The tolerant iCalendar reader behind feed imports and `kalends ics check`.
//!
//! [`parse`] never fails and never panics: a feed is read as far as it can be, and every VEVENT
//! that is not imported is listed in [`ParsedFeed::skipped`] with the reason.
//!
//! How a feed is read:
//! 1. A pre-pass over the bytes (`lines`) decodes them leniently, unfolds, normalises names,
//!    repairs or drops malformed lines, and cuts one block per VEVENT and per VTIMEZONE.
//! 2. Each block is parsed on its own by `icalendar::parser`, so one broken VEVENT costs only
//!    itself.
//! 3. TZIDs are resolved (`zones`): IANA names (also behind vendor prefixes), Windows names,
//!    Exchange display names, legacy names, and the file's own VTIMEZONE rules, wherever in the
//!    file they are. Floating times use the calendar's `X-WR-TIMEZONE` when it names a zone, else
//!    [`ParseOptions::floating_zone`].
//! 4. Events are grouped by UID into series (`events`): RRULEs are read (`rule`) and expanded
//!    with the `rrule` crate (`recur`), bounded to the window; RDATE adds, EXDATE removes,
//!    RECURRENCE-ID overrides replace occurrences.
//! 5. The producer's profile (`profiles`) says what each item is.
//!
//! Decisions worth knowing:
//! - DTSTART alone: a DATE is one day; a DATE-TIME is a zero-length item (`start == end`), kept
//!   and returned when its instant is in the window (an instant blocks nothing, but the event
//!   exists). A DTEND equal to DTSTART is read the same way (one day, or zero length); a DTEND
//!   before DTSTART skips the event ("end before start") rather than guess its length.
//! - With [`ParseOptions::all_single_events`] (imports), the window's end bounds only the
//!   expansion of recurring events: single events and moved occurrences are returned however
//!   far ahead they are.
//! - A DATE value is all-day whatever its parameters say (`DTSTART;TZID=…:20041225`,
//!   `VALUE=DATE-TIME` on a date); a date-time with `VALUE=DATE` keeps its date.
//! - An all-day item overlaps the window when its days overlap the window's UTC days.
//! - A TZID that names nothing known (and has no VTIMEZONE) is read as floating.
//! - STATUS:CANCELLED and TRANSP:TRANSPARENT events are not busy (skipped as "cancelled" and
//!   "transparent (free)"); a cancelled series takes its overrides with it; a cancelled or
//!   transparent override removes its occurrence only.
//! - Several VEVENTs with one UID and no RECURRENCE-ID: the highest SEQUENCE (then the last in
//!   the file) is the event, the others are skipped as duplicates, except single events with the
//!   same SEQUENCE and another start (producers that reuse UIDs), which are kept with their start
//!   as `recurrence_id` so that no busy time is lost and keys stay unique.
//! - An override (RECURRENCE-ID) replaces the occurrence with that original start; it is returned
//!   on its own span even when the rule would not produce that start (stale overrides beyond an
//!   UNTIL block their time rather than being dropped).
//! - An override is returned when its own span overlaps the window, wherever its original
//!   occurrence is (moving in and out of the window both work).
//! - EXDATE and RECURRENCE-ID of another type than DTSTART (DATE against DATE-TIME, floating
//!   against zoned) match by the date as written.
//! - An event without UID gets `kalends-` and 32 hex digits of the SHA-256 of all its properties
//!   but DTSTAMP (sorted, as written): identical events are read as one, events that differ in
//!   anything (DTEND, RRULE, ...) are not.
//! - An RDATE period (`VALUE=PERIOD`, `start/end` or `start/duration`) lasts as long as it says.
//!   EXRULE is ignored.
//! - `RECURRENCE-ID;RANGE=THISANDFUTURE` moves its instance and every later one (from RRULE or
//!   RDATE) by its offset on the wall clock (its DTSTART minus the original start), and gives them
//!   its length and summary; each keeps its own original start as `recurrence_id`. A later range
//!   override takes over from its instance on; a single override of a later instance wins for
//!   that instance. Where RFC 5545 is silent, busy time is kept: EXDATEs name instances by their
//!   original start (one naming only a moved start removes nothing); a range override ending
//!   before its start is skipped ("end before start") and moves nothing; a cancelled or
//!   transparent one, or one whose DTSTART is of another type than the series', replaces its own
//!   instance only.
//! - RFC 7529: `RSCALE=GREGORIAN` with `SKIP=FORWARD|BACKWARD` is honoured (`rscale`); an RRULE in
//!   another calendar skips its event with a reason naming the calendar rather than being
//!   expanded as Gregorian.
//! - Components nested in VEVENTs (VALARM) are not read.
//! - An event whose DTSTART or RRULE cannot be read is skipped whole ("unreadable DTSTART (…)",
//!   "unreadable RRULE (…)"), rather than imported as a single occurrence. An RRULE part that
//!   RFC 5545 and RFC 7529 do not name (`UNTL=`, `FOO=`, `X-…=`) makes the rule unreadable: a
//!   misspelt UNTIL must not make a series endless.
//! - A kept event with a value that cannot be read (DTEND, DURATION, a date of RDATE or EXDATE)
//!   or a second DTSTART gets a `skipped` entry saying what was read instead (the reading that
//!   is never shorter than what the file can be trusted for: see `events::Faults`).
//! - A file that ends inside a component (cut off in transfer) is [`ParsedFeed::truncated`]:
//!   the component left open is not read, the rest is, and one `skipped` entry says where it
//!   ended.
//! - A series generates at most 10 000 occurrences (counting those before the window for COUNT
//!   rules) and a feed at most 2 000 000; a series cut short is listed in `skipped` and keeps the
//!   occurrences found so far.
//! - VEVENTs beyond [`ParseOptions::max_events`] are counted in `events` and summed up in one
//!   skipped entry without UID.
//! - Booking.com: adjacent or overlapping all-day items of one kind are merged into one stay that
//!   keeps the uid, recurrence id and summary of its first night (unless the nights name two
//!   different reservation codes).
//! - Booking platforms (Airbnb, VRBO, Booking.com): the reservation's code, link, the guest's
//!   last phone digits and number of guests are read from SUMMARY and DESCRIPTION where the
//!   platform labels them ([`BusyItem::details`]); links only https on the platform's own sites.

mod bounds;
mod details;
mod events;
mod json;
mod lines;
mod profiles;
mod recur;
mod rscale;
mod rule;
mod values;
mod work;
mod zones;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_details;
#[cfg(test)]
mod tests_flagged;
#[cfg(test)]
mod tests_ranges;
#[cfg(test)]
mod tests_sort;

use std::sync::Arc;

use chrono::{DateTime, Months, NaiveTime, TimeDelta, Utc};
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeStruct, Serializer};

use crate::Span;

pub use details::ItemDetails;
pub use profiles::Producer;

/// What to read and how.
#[derive(Clone, Debug)]
pub struct ParseOptions {
    /// Occurrences overlapping `[from, to)` are returned.
    pub from: DateTime<Utc>,
    /// End of the window (exclusive); with [`ParseOptions::all_single_events`] it bounds only
    /// the expansion of recurring events.
    pub to: DateTime<Utc>,
    /// The zone for floating times when the file names none (`X-WR-TIMEZONE`).
    pub floating_zone: chrono_tz::Tz,
    /// Who wrote the feed, which says what its events mean ([`BusyItem::kind`]).
    pub producer: Producer,
    /// At most this many VEVENTs are read; the rest are skipped.
    pub max_events: usize,
    /// Return single events (and occurrences moved by an override) however far after `to` they
    /// lie, so that `to` bounds only the expansion of recurring events: a reservation two years
    /// ahead is as real as one next week. On in [`ParseOptions::new`] (what imports store).
    pub all_single_events: bool,
    /// The work reading the feed may cost, in steps (each VEVENT and VTIMEZONE read, each
    /// occurrence a recurrence rule generates, weighted by how far the rule walks the clock to
    /// it). [`read`] refuses a feed that needs more; [`parse`] stops reading it.
    pub max_work: u64,
}

/// The default of [`ParseOptions::max_work`]: about two seconds of work, far more than any
/// real calendar needs (a feed of 100 000 events with 2 000 000 daily occurrences spends about
/// 2 100 000), far less than the minutes a crafted one could cost.
pub const DEFAULT_MAX_WORK: u64 = 20_000_000;

/// A feed that needs more work to read than [`ParseOptions::max_work`] allows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the feed needs too much work to read: its recurrence rules and time zones would take more \
     than {limit} steps to expand (import.max_work_steps)"
)]
pub struct TooMuchWork {
    /// The budget that was spent.
    pub limit: u64,
}

impl ParseOptions {
    /// The defaults: the window runs from the start of yesterday (UTC) to 18 months after `now`
    /// for recurring events and has no end for single ones, and at most 100 000 VEVENTs are
    /// read.
    pub fn new(producer: Producer, floating_zone: chrono_tz::Tz, now: DateTime<Utc>) -> Self {
        let yesterday = now.date_naive() - TimeDelta::days(1);
        let from = yesterday.and_time(NaiveTime::MIN).and_utc();
        let to = now.checked_add_months(Months::new(18)).unwrap_or(DateTime::<Utc>::MAX_UTC);
        ParseOptions {
            from,
            to,
            floating_zone,
            producer,
            max_events: 100_000,
            all_single_events: true,
            max_work: DEFAULT_MAX_WORK,
        }
    }
}

/// What a feed holds.
#[derive(Clone, Debug, Default)]
pub struct ParsedFeed {
    /// VEVENT components found.
    pub events: usize,
    /// Events not imported, and why.
    pub skipped: Vec<Skipped>,
    /// Busy occurrences overlapping the window, sorted by start.
    pub busy: Vec<BusyItem>,
    /// The calendar's `X-WR-CALNAME`, if any (not part of the JSON contract).
    pub calendar_name: Option<String>,
    /// The calendar's `X-WR-TIMEZONE` as written, if any (not part of the JSON contract).
    pub calendar_zone: Option<String>,
    /// Whether the file ends inside a component (a VEVENT, a VTIMEZONE, or the VCALENDAR
    /// itself): it was cut off, so events it should hold may be missing. The component left
    /// open is not read, what came whole before it is, and `skipped` says so. An import of a
    /// truncated file fails its run, so that no stored item is removed for being missing.
    pub truncated: bool,
}

/// An event that was not imported.
#[derive(Clone, Debug, Serialize)]
pub struct Skipped {
    /// Its UID, when it had one.
    pub uid: Option<String>,
    /// Why it was skipped.
    pub reason: String,
}

/// One busy occurrence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusyItem {
    /// The event's UID (synthesised from its content when the file has none).
    pub uid: String,
    /// For an occurrence of a recurring event: its original start (`YYYYMMDD` for all-day
    /// series, `YYYYMMDDTHHMMSSZ` in UTC otherwise). `None` for single events.
    pub recurrence_id: Option<String>,
    /// When it is busy.
    pub span: Span,
    /// The event's SUMMARY, unescaped and trimmed; one text shared by the items of a feed that
    /// have the same (a platform's feed has a few between thousands of items).
    pub summary: Option<Arc<str>>,
    /// What its producer means by it.
    pub kind: ItemKind,
    /// What a booking platform's export says about the reservation (its code, link, the last
    /// digits of the guest's phone, the number of guests), from the event's SUMMARY and
    /// DESCRIPTION; empty for other producers. Part of the item's content, as its summary is:
    /// a platform that adds the phone digits to a reservation later has updated it, while its
    /// key (`uid`, `recurrence_id`) stays the same.
    pub details: ItemDetails,
}

/// What an imported busy item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// A guest's reservation on a booking platform.
    Reservation,
    /// Dates closed by the host or the platform.
    Block,
    /// Any other busy event.
    Event,
}

impl Serialize for ParsedFeed {
    /// `{"events": N, "skipped": [{"uid", "reason"}], "busy": [...]}`, and `"truncated": true`
    /// first for a file that was cut off (absent otherwise).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = if self.truncated { 4 } else { 3 };
        let mut s = serializer.serialize_struct("ParsedFeed", fields)?;
        if self.truncated {
            s.serialize_field("truncated", &true)?;
        } else {
            s.skip_field("truncated")?;
        }
        s.serialize_field("events", &self.events)?;
        s.serialize_field("skipped", &self.skipped)?;
        s.serialize_field("busy", &self.busy)?;
        s.end()
    }
}

/// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ`, written without allocating.
struct Stamp {
    buf: [u8; 20],
    len: usize,
}

impl Stamp {
    fn new(date: chrono::NaiveDate, time: Option<chrono::NaiveTime>) -> Self {
        use chrono::{Datelike, Timelike};
        fn put(buf: &mut [u8], at: usize, n: u32, width: usize) {
            let mut n = n;
            for k in (0..width).rev() {
                buf[at + k] = b'0' + (n % 10) as u8;
                n /= 10;
            }
        }
        let mut buf = *b"0000-00-00T00:00:00Z";
        put(&mut buf, 0, date.year().clamp(0, 9999) as u32, 4);
        put(&mut buf, 5, date.month(), 2);
        put(&mut buf, 8, date.day(), 2);
        let len = match time {
            Some(t) => {
                put(&mut buf, 11, t.hour(), 2);
                put(&mut buf, 14, t.minute(), 2);
                put(&mut buf, 17, t.second(), 2);
                20
            }
            None => 10,
        };
        Stamp { buf, len }
    }

    /// A span's start and end, and whether it is all-day.
    fn span(span: &Span) -> (Self, Self, bool) {
        match *span {
            Span::AllDay { start, end } => (Stamp::new(start, None), Stamp::new(end, None), true),
            Span::Timed { start, end } => (
                Stamp::new(start.date_naive(), Some(start.time())),
                Stamp::new(end.date_naive(), Some(end.time())),
                false,
            ),
        }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl Serialize for BusyItem {
    /// `{"start", "end", "all_day", "uid", "recurrence_id", "summary", "kind"}`: dates
    /// (`2024-10-04`, end exclusive) for all-day items, RFC 3339 UTC instants
    /// (`2024-10-04T18:15:00Z`) otherwise. The details are not part of this contract (what
    /// `kalends ics check` prints is what an import stores).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (start, end, all_day) = Stamp::span(&self.span);
        let mut m = serializer.serialize_map(Some(7))?;
        m.serialize_entry("start", start.as_str())?;
        m.serialize_entry("end", end.as_str())?;
        m.serialize_entry("all_day", &all_day)?;
        m.serialize_entry("uid", &self.uid)?;
        m.serialize_entry("recurrence_id", &self.recurrence_id)?;
        m.serialize_entry("summary", &self.summary.as_deref())?;
        m.serialize_entry("kind", &self.kind)?;
        m.end()
    }
}

/// Reads a feed. Never fails: what cannot be read is counted in `skipped`; when the work
/// budget is spent, the rest is not read and the last skipped entry (without UID) says so.
pub fn parse(bytes: &[u8], options: &ParseOptions) -> ParsedFeed {
    let (mut feed, work) = parse_metered(bytes, options, false);
    if work.exhausted() {
        let limit = work.limit();
        feed.skipped.push(Skipped {
            uid: None,
            reason: format!("{}; the rest of the feed was not read", TooMuchWork { limit }),
        });
    }
    feed
}

/// The text of a feed's bytes as the reader sees it: UTF-16 after its byte-order mark, else
/// UTF-8 with U+FFFD for invalid bytes (a look at a feed's head before reading it, say).
pub fn decode(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    lines::decode(bytes)
}

/// Whether a body is plausibly an iCalendar file: after a byte-order mark and blank lines, its
/// first line is `BEGIN:VCALENDAR` (in any case), in UTF-8 or UTF-16. Only the first 4 KiB are
/// looked at. A login or error page served in a feed's place is not, and an import must not
/// read it as a calendar with nothing booked.
pub fn looks_like_icalendar(head: &[u8]) -> bool {
    decode(&head[..head.len().min(4096)])
        .trim_start_matches('\u{feff}')
        .trim_start()
        .to_ascii_uppercase()
        .starts_with("BEGIN:VCALENDAR")
}

/// Reads a feed as [`parse`] does, but refuses it whole when it needs more work than
/// [`ParseOptions::max_work`]: what imports and `kalends ics check` use, so that a crafted feed
/// fails its run instead of holding a worker for minutes.
pub fn read(bytes: &[u8], options: &ParseOptions) -> Result<ParsedFeed, TooMuchWork> {
    read_counting(bytes, options).0
}

/// Why [`read_from`] gave up.
#[derive(Debug, thiserror::Error)]
pub enum ReadFromError {
    /// The source could not be read.
    #[error("reading the feed failed")]
    Io(#[source] std::io::Error),
    /// The feed needs too much work.
    #[error(transparent)]
    TooMuchWork(#[from] TooMuchWork),
}

/// [`read`] from a file or any other seekable source, read block by block rather than held
/// whole: what `kalends ics check` uses on files, so that a feed of 100 000 events costs
/// little more memory than what it holds. The source is read a second time only in the rare
/// file whose VTIMEZONE or `X-WR-TIMEZONE` comes after its first VEVENT.
pub fn read_from<R: std::io::Read + std::io::Seek>(
    mut source: R,
    options: &ParseOptions,
) -> Result<ParsedFeed, ReadFromError> {
    let mut feed =
        |pre: &mut lines::Pre, events: &mut dyn lines::Events| feed_from(&mut source, pre, events);
    let (feed, work) = parse_source(&mut feed, options, false).map_err(ReadFromError::Io)?;
    if work.exhausted() {
        return Err(TooMuchWork { limit: work.limit() }.into());
    }
    Ok(feed)
}

/// [`read`], with the steps it spent: for a caller that shares one budget among several files
/// (the resources of a CalDAV calendar), reading each with what is left of it.
pub fn read_counting(
    bytes: &[u8],
    options: &ParseOptions,
) -> (Result<ParsedFeed, TooMuchWork>, u64) {
    let (feed, work) = parse_metered(bytes, options, false);
    let result = if work.exhausted() { Err(TooMuchWork { limit: work.limit() }) } else { Ok(feed) };
    (result, work.spent())
}

/// [`parse`], optionally keeping transparent events as busy (to check recurrence expansion
/// against other readers, which do not look at TRANSP).
#[cfg(test)]
pub(crate) fn parse_with(bytes: &[u8], options: &ParseOptions, keep_free: bool) -> ParsedFeed {
    parse_metered(bytes, options, keep_free).0
}

fn parse_metered(
    bytes: &[u8],
    options: &ParseOptions,
    keep_free: bool,
) -> (ParsedFeed, work::Work) {
    let mut feed = |pre: &mut lines::Pre, events: &mut dyn lines::Events| {
        pre.feed(&lines::decode(bytes), events);
        Ok::<(), std::convert::Infallible>(())
    };
    match parse_source(&mut feed, options, keep_free) {
        Ok(read) => read,
        Err(never) => match never {},
    }
}

/// Hands a whole feed to the pre-pass, from its start.
type Feed<'f, E> = dyn FnMut(&mut lines::Pre, &mut dyn lines::Events) -> Result<(), E> + 'f;

/// Bytes read from a source at a time.
const BLOCK: usize = 256 * 1024;

/// Hands a feed to the pre-pass from a seekable source, in blocks cut after line ends.
fn feed_from<R: std::io::Read + std::io::Seek>(
    reader: &mut R,
    pre: &mut lines::Pre,
    events: &mut dyn lines::Events,
) -> std::io::Result<()> {
    reader.seek(std::io::SeekFrom::Start(0))?;
    // Zeroed once: each block is read after the bytes carried over from the last one, into
    // memory already initialised (a resize per block would zero 256 KiB again each time).
    let mut buf: Vec<u8> = vec![0; BLOCK];
    let mut filled = 0;
    let mut first = true;
    loop {
        if buf.len() < filled + BLOCK {
            buf.resize(filled + BLOCK, 0);
        }
        let n = loop {
            match reader.read(&mut buf[filled..]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        let end = filled + n;
        let utf16 = buf[..end].starts_with(&[0xFF, 0xFE]) || buf[..end].starts_with(&[0xFE, 0xFF]);
        if std::mem::take(&mut first) && utf16 {
            // UTF-16 (rare, and small): decoded whole.
            buf.truncate(end);
            reader.read_to_end(&mut buf)?;
            pre.feed(&lines::decode(&buf), events);
            return Ok(());
        }
        if n == 0 {
            pre.feed(&lines::decode(&buf[..end]), events);
            return Ok(());
        }
        // Cut after the last line end: a line end is ASCII, so no character is split.
        filled = match buf[..end].iter().rposition(|&b| b == b'\n' || b == b'\r') {
            Some(cut) => {
                pre.feed(&lines::decode(&buf[..=cut]), events);
                buf.copy_within(cut + 1..end, 0);
                end - cut - 1
            }
            None => end,
        };
    }
}

/// Reads the VEVENTs as the pre-pass hands them over, with the zones of the file.
struct Collect<'o> {
    options: &'o ParseOptions,
    keep_free: bool,
    /// The zones to read with from the start (a second pass), else built at the first VEVENT.
    preset: Option<zones::Zones>,
    reader: Option<events::Reader<'o>>,
    /// The VTIMEZONE count and `X-WR-TIMEZONE` the zones were built from.
    built_from: Option<(usize, Option<String>)>,
    evs: Vec<events::Ev>,
    /// Whether the work budget ran out (nothing more is read).
    stopped: bool,
}

impl<'o> Collect<'o> {
    fn new(options: &'o ParseOptions, keep_free: bool, preset: Option<zones::Zones>) -> Self {
        Collect {
            options,
            keep_free,
            preset,
            reader: None,
            built_from: None,
            evs: Vec::new(),
            stopped: false,
        }
    }

    /// The reader, its zones built from what the file held so far (or preset).
    fn reader(&mut self, prepared: &lines::Prepared) -> &mut events::Reader<'o> {
        let (options, keep_free) = (self.options, self.keep_free);
        let (preset, built_from) = (&mut self.preset, &mut self.built_from);
        self.reader.get_or_insert_with(|| {
            let zones = preset.take().unwrap_or_else(|| {
                *built_from = Some((prepared.zones.len(), prepared.x_wr_timezone.clone()));
                zones_of(prepared, options)
            });
            events::Reader::new(zones, options, keep_free)
        })
    }
}

impl lines::Events for Collect<'_> {
    fn event(&mut self, prepared: &lines::Prepared, block: &lines::Block<'_>) {
        if self.stopped {
            return;
        }
        let index = prepared.events_read - 1;
        let reader = self.reader(prepared);
        if !reader.zones.work.spend(1) {
            self.stopped = true;
            return;
        }
        if let Some(ev) = reader.read_event(index, block) {
            self.evs.push(ev);
        }
    }
}

/// The zones of a file: its VTIMEZONEs, and its `X-WR-TIMEZONE` for floating times.
fn zones_of(prepared: &lines::Prepared, options: &ParseOptions) -> zones::Zones {
    let vtimezones: Vec<icalendar::parser::Component<'_>> = prepared
        .zones
        .iter()
        .filter_map(|r| {
            icalendar::parser::read_calendar_simple(&prepared.zones_text[r.clone()])
                .ok()
                .and_then(|mut c| c.pop())
        })
        .collect();
    let floating = prepared
        .x_wr_timezone
        .as_deref()
        .and_then(zones::resolve_name)
        .unwrap_or(options.floating_zone);
    zones::Zones::new(floating, &vtimezones, work::Work::new(options.max_work))
}

/// Reads the VEVENTs of a source, one at a time, with the zones the file defines before its
/// first VEVENT; when the file defines more after it, reads the VEVENTs again with all of them.
fn read_events<'o, E>(
    feed: &mut Feed<'_, E>,
    options: &'o ParseOptions,
    keep_free: bool,
) -> Result<(Collect<'o>, lines::Prepared), E> {
    let mut collect = Collect::new(options, keep_free, None);
    let mut pre = lines::Pre::new(options.max_events);
    feed(&mut pre, &mut collect)?;
    let prepared = pre.finish(&mut collect);
    let late = match &collect.built_from {
        Some((count, x_wr)) => *count != prepared.zones.len() || *x_wr != prepared.x_wr_timezone,
        None => false,
    };
    if !late {
        return Ok((collect, prepared));
    }
    let mut again = Collect::new(options, keep_free, Some(zones_of(&prepared, options)));
    let mut pre = lines::Pre::new(options.max_events);
    feed(&mut pre, &mut again)?;
    let prepared = pre.finish(&mut again);
    Ok((again, prepared))
}

// Long on purpose: the reader's phases in order (events, grouping, expansion, sorting), each a
// few lines, all spending the same work meter.
fn parse_source<E>(
    feed: &mut Feed<'_, E>,
    options: &ParseOptions,
    keep_free: bool,
) -> Result<(ParsedFeed, work::Work), E> {
    let (mut collect, prepared) = read_events(feed, options, keep_free)?;
    let mut reader = match collect.reader.take() {
        Some(reader) => reader,
        None => events::Reader::new(zones_of(&prepared, options), options, keep_free),
    };
    let mut evs = std::mem::take(&mut collect.evs);
    // Most events are single and alone with their UID: they become busy items in the memory
    // that held them, without a second copy of the feed. The others are grouped by UID, and
    // each group is expanded where its first event stood, so that the skipped entries keep
    // the file's order.
    let (alone, shared) = alone_with_uid(&evs);
    let mut at = 0;
    let rest: Vec<events::Ev> = evs
        .extract_if(.., |_| {
            at += 1;
            !alone[at - 1]
        })
        .collect();
    drop(alone);
    let mut groups = group_by_uid(rest).into_iter().peekable();
    let mut busy: Vec<BusyItem> = evs
        .into_iter()
        .filter_map(|ev| {
            while let Some(group) = groups.next_if(|g| g[0].index() < ev.index()) {
                reader.series(group);
            }
            reader.single(ev)
        })
        .collect();
    for group in groups {
        reader.series(group);
    }
    let over = prepared.event_count - prepared.events_read;
    if over > 0 {
        reader.skipped.push(Skipped {
            uid: None,
            reason: format!(
                "{over} VEVENTs over the limit of {} were not read",
                options.max_events
            ),
        });
    }

    if let Some(cut) = &prepared.truncated {
        reader.skipped.push(truncated_entry(cut));
    }

    // A guess is no event left out, but its events' times may be wrong: it is said as a
    // skipped entry of the file, as a truncation is, so that whoever reads the run sees it.
    for reason in reader.zones.guessed() {
        reader.skipped.push(Skipped { uid: None, reason });
    }
    busy.append(&mut reader.busy);
    let skipped = std::mem::take(&mut reader.skipped);
    let work = reader.into_work();
    sort_busy(&mut busy, shared);
    if options.producer == Producer::BookingCom {
        busy = profiles::merge_stays(busy);
    }
    let feed = ParsedFeed {
        events: prepared.event_count,
        skipped,
        busy,
        calendar_name: prepared.calendar_name,
        calendar_zone: prepared.x_wr_timezone,
        truncated: prepared.truncated.is_some(),
    };
    Ok((feed, work))
}

/// The skipped entry of a file that ends inside a component.
fn truncated_entry(cut: &lines::Truncated) -> Skipped {
    let (uid, inside) = match cut {
        lines::Truncated::Event(uid) => (uid.clone(), "inside a VEVENT, which is not imported"),
        lines::Truncated::Zone => (None, "inside a VTIMEZONE, which is not read"),
        lines::Truncated::Other => (None, "inside a component"),
        lines::Truncated::Calendar => (None, "before END:VCALENDAR"),
    };
    Skipped { uid, reason: format!("the file is truncated: it ends {inside}") }
}

/// For each event, whether it is single (no recurrence, no override) and no other event has its
/// UID; and how many bytes every UID starts with that are the same in all (for [`sort_busy`]).
fn alone_with_uid(evs: &[events::Ev]) -> (Vec<bool>, usize) {
    use std::hash::{BuildHasher as _, RandomState};
    // Hashes, not strings: a collision only sends two events down the slower, exact path.
    let seed = RandomState::new().hash_one(evs.len());
    let first = evs.first().map_or(&[][..], |ev| ev.uid().as_bytes());
    let mut shared = first.len();
    let hashes: Vec<u64> = evs
        .iter()
        .map(|ev| {
            let uid = ev.uid().as_bytes();
            shared = first[..shared].iter().zip(uid).take_while(|(a, b)| a == b).count();
            quick_hash(seed, uid)
        })
        .collect();
    let mut sorted = hashes.clone();
    sorted.sort_unstable();
    // The hashes of more than one event: in most feeds none, so that most events are looked
    // up in an empty list rather than among all the others.
    let mut twice: Vec<u64> =
        sorted.windows(2).filter(|pair| pair[0] == pair[1]).map(|pair| pair[0]).collect();
    drop(sorted);
    twice.dedup();
    let alone = evs
        .iter()
        .zip(hashes.iter())
        .map(|(ev, h)| events::Reader::is_single(ev) && twice.binary_search(h).is_err())
        .collect();
    (alone, shared)
}

/// A hash of `bytes` at a multiplication per 8 of them, where SipHash costs several times more:
/// [`alone_with_uid`] hashes every UID of the feed, and needs no defence against chosen
/// collisions (they cost time, never a wrong result). Two texts of the same length that differ
/// in one 8-byte word never collide: each step is a bijection of the state.
fn quick_hash(seed: u64, bytes: &[u8]) -> u64 {
    // The odd multiplier of rustc's FxHash.
    const K: u64 = 0xf135_7aea_2e62_a9c5;
    let step = |h: u64, word: u64| (h ^ word).wrapping_mul(K).rotate_left(26);
    let mut h = seed ^ bytes.len() as u64;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        h = step(h, u64::from_le_bytes(word.try_into().unwrap_or_default()));
    }
    let mut tail = [0u8; 8];
    tail[..words.remainder().len()].copy_from_slice(words.remainder());
    h = step(h, u64::from_le_bytes(tail));
    h ^ (h >> 32)
}

/// Events grouped by UID, each group in file order, the groups in order of their first event.
fn group_by_uid(evs: Vec<events::Ev>) -> Vec<Vec<events::Ev>> {
    let mut group_of: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut groups: Vec<Vec<events::Ev>> = Vec::new();
    for ev in evs {
        match group_of.get(ev.uid()) {
            Some(&g) => groups[g].push(ev),
            None => {
                group_of.insert(ev.uid().to_owned(), groups.len());
                groups.push(vec![ev]);
            }
        }
    }
    groups
}

/// The instant an item starts (midnight UTC for all-day items), for ordering.
fn start_instant(span: &Span) -> (DateTime<Utc>, DateTime<Utc>) {
    match *span {
        Span::AllDay { start, end } => {
            (start.and_time(NaiveTime::MIN).and_utc(), end.and_time(NaiveTime::MIN).and_utc())
        }
        Span::Timed { start, end } => (start, end),
    }
}

/// The order of busy items: by start, then end, then key.
fn busy_order(a: &BusyItem, b: &BusyItem) -> std::cmp::Ordering {
    start_instant(&a.span).cmp(&start_instant(&b.span)).then_with(|| key_order(a, b))
}

/// The order of two items with the same span: by UID, then recurrence id.
fn key_order(a: &BusyItem, b: &BusyItem) -> std::cmp::Ordering {
    a.uid.cmp(&b.uid).then_with(|| a.recurrence_id.cmp(&b.recurrence_id))
}

/// What [`sort_busy`] sorts for each item: its span's start and end in one number, the first
/// eight bytes of its UID after the prefix all UIDs share (zero-padded, which orders them as
/// the whole UIDs are ordered, up to a tie), and its place: 32 bytes.
type SortKey = (u128, u64, u32);

/// An item's start and end as one number that orders as `start_instant` does: the seconds of
/// each since 1970 (sign bit flipped, so that they order as unsigned), start first. `None` for
/// a span with a fraction of a second, which the reader never makes (the caller then sorts the
/// items themselves).
fn span_key(span: &Span) -> Option<u128> {
    let (start, end) = start_instant(span);
    if start.timestamp_subsec_nanos() != 0 || end.timestamp_subsec_nanos() != 0 {
        return None;
    }
    let unsigned = |t: DateTime<Utc>| u128::from(t.timestamp().cast_unsigned() ^ (1 << 63));
    Some(unsigned(start) << 64 | unsigned(end))
}

/// Sorts the items by [`busy_order`].
///
/// What is sorted is a small key per item, not the items: an item is some 180 bytes and its UID
/// lies elsewhere on the heap, so sorting 100 000 of them moves and reads far more memory than
/// ordering them needs; each item then moves once, to its place. The key is plain integers,
/// which compare in a few instructions where two dates and times take many. Keys that tie
/// whole (two items with the same span, UID and recurrence id, which the reader never makes)
/// leave the order to the sort of the items themselves, so that the result is always the one
/// `sort_unstable_by(busy_order)` gives.
///
/// `shared` is how many bytes every UID starts with that are the same in all (a platform's
/// UIDs often share a prefix, Airbnb's `1418fb94e984-`, which orders nothing), as
/// [`alone_with_uid`] found them; each key checks it, and a UID that does not share them has
/// the items sorted with none.
fn sort_busy(busy: &mut [BusyItem], shared: usize) {
    let Ok(len) = u32::try_from(busy.len()) else {
        busy.sort_unstable_by(busy_order);
        return;
    };
    let prefix = busy.first().and_then(|item| item.uid.as_bytes().get(..shared)).unwrap_or(&[]);
    let mut keys: Vec<SortKey> = Vec::with_capacity(busy.len());
    for (i, item) in (0..len).zip(busy.iter()) {
        let Some(span) = span_key(&item.span) else {
            busy.sort_unstable_by(busy_order);
            return;
        };
        let Some(uid) = item.uid.as_bytes().strip_prefix(prefix) else {
            return sort_busy(busy, 0);
        };
        let mut head = [0u8; 8];
        let n = uid.len().min(8);
        head[..n].copy_from_slice(&uid[..n]);
        keys.push((span, u64::from_be_bytes(head), i));
    }
    let by_key = |a: &SortKey, b: &SortKey| {
        (a.0, a.1)
            .cmp(&(b.0, b.1))
            .then_with(|| key_order(&busy[a.2 as usize], &busy[b.2 as usize]))
    };
    keys.sort_unstable_by(by_key);
    if keys.windows(2).any(|w| by_key(&w[0], &w[1]).is_eq()) {
        busy.sort_unstable_by(busy_order);
        return;
    }
    let mut order: Vec<u32> = keys.into_iter().map(|k| k.2).collect();
    permute(busy, &mut order);
}

/// Moves `items[order[k]]` to place `k` for every `k`, in place, one cycle of the permutation
/// at a time; `order` is spent (each entry ends up naming its own place).
fn permute<T>(items: &mut [T], order: &mut [u32]) {
    for start in 0..order.len() {
        let mut at = start;
        loop {
            let from = order[at] as usize;
            order[at] = at as u32;
            if from == start || from == at {
                break;
            }
            swap_apart(items, at, from);
            at = from;
        }
    }
}

/// Swaps two different items. `slice::swap` allows the same place twice, so it moves an item
/// through a temporary with three calls to `memmove`; two places known apart are two mutable
/// borrows, which `mem::swap` exchanges in registers, a few words at a time. An item is some
/// 180 bytes, and [`permute`] swaps nearly every one of 100 000.
fn swap_apart<T>(items: &mut [T], a: usize, b: usize) {
    let (low, high) = (a.min(b), a.max(b));
    let (left, right) = items.split_at_mut(high);
    std::mem::swap(&mut left[low], &mut right[0]);
}
