//! The iCalendar writer (RFC 5545): the exported feeds that booking platforms and calendar apps
//! subscribe to (`METHOD:PUBLISH`), and customer invites sent by email (iTIP `REQUEST` and
//! `CANCEL`, RFC 5546 / RFC 6047).
//!
//! The writer is piecewise so that a feed is streamed: [`write_head`], then [`write_event`] for
//! each event as it is read from the database, then [`write_tail`]. Each piece appends to a
//! `String` that the caller may send and clear between pieces. Output is deterministic: the same
//! input always gives the same bytes.
//!
//! Content lines are written here directly rather than through the `icalendar` crate's builder
//! (0.17): its `fold_line` looks for whitespace with `chars().nth(i)` where `i` counts bytes, so
//! after multi-byte characters it looks at the wrong character when it places a fold; its
//! `escape_text` leaves a CR raw in the output (a line break inside a content line); and its
//! builder keeps owned `String`s in `BTreeMap`s per event and per property, which made 10,000
//! events take 55-80 ms in release against about 5 ms here. `Line` folds at 75 octets on
//! character boundaries as it writes (exactly per RFC 5545 §3.1, no whitespace heuristics) and
//! escapes TEXT in the same pass. The tests re-read the output with `icalendar::parser`.

mod vtimezone;

#[cfg(test)]
mod tests;

use std::fmt;
use std::ops::RangeInclusive;

use chrono::{
    DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;

use crate::Span;

pub use vtimezone::write_vtimezone;

/// The `PRODID` of everything Kalends writes.
pub const PRODID: &str = "-//Kalends//Kalends 0.1//EN";

/// The iTIP method of a calendar object (RFC 5546 §1.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// A feed that others subscribe to.
    Publish,
    /// An invitation, or an update of one; needs an `ORGANIZER` and attendees.
    Request,
    /// A cancelled invitation; its events carry [`EventStatus::Cancelled`].
    Cancel,
}

impl Method {
    /// The value of the `METHOD` property.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Publish => "PUBLISH",
            Method::Request => "REQUEST",
            Method::Cancel => "CANCEL",
        }
    }
}

/// What comes before the events: the `VCALENDAR` properties and the time zones.
#[derive(Clone, Debug)]
pub struct CalendarHead<'a> {
    /// The iTIP method.
    pub method: Method,
    /// The calendar's display name (`X-WR-CALNAME`); feeds (`PUBLISH`) only.
    pub name: &'a str,
    /// The calendar's own zone (`X-WR-TIMEZONE`; feeds only); it gets a `VTIMEZONE` only if in
    /// `zones`.
    pub zone: Tz,
    /// One `VTIMEZONE` is written for each (duplicates once); every zone an event is written in
    /// must be here.
    pub zones: &'a [Tz],
    /// The years the `VTIMEZONE`s must cover (inclusive): those of every event's start and end.
    pub years: RangeInclusive<i32>,
    /// How often subscribers should re-fetch (`REFRESH-INTERVAL`, `X-PUBLISHED-TTL`); none when
    /// `None`. Rounded to whole seconds, at least one.
    pub refresh: Option<TimeDelta>,
}

/// The `STATUS` of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventStatus {
    /// `CONFIRMED`.
    Confirmed,
    /// `TENTATIVE`.
    Tentative,
    /// `CANCELLED`; required in a `METHOD:CANCEL` object.
    Cancelled,
}

impl EventStatus {
    /// The value of the `STATUS` property.
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Confirmed => "CONFIRMED",
            EventStatus::Tentative => "TENTATIVE",
            EventStatus::Cancelled => "CANCELLED",
        }
    }
}

/// An organizer or attendee, written as a `mailto:` address with an optional `CN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Party<'a> {
    /// The email address, without `mailto:`.
    pub email: &'a str,
    /// The display name (`CN`), if any.
    pub name: Option<&'a str>,
    /// Whether a reply is expected (`RSVP=TRUE`); attendees only.
    pub rsvp: bool,
}

/// One `VEVENT`.
#[derive(Clone, Debug)]
pub struct EventOut<'a> {
    /// The `UID`, stable across updates.
    pub uid: &'a str,
    /// When it takes place.
    pub span: &'a Span,
    /// For a timed span: write local times with `TZID` of this zone, which must be one of the
    /// head's `zones`. `None` writes UTC. Ignored for whole days.
    pub zone: Option<Tz>,
    /// `SUMMARY`.
    pub summary: &'a str,
    /// `DESCRIPTION`, if any.
    pub description: Option<&'a str>,
    /// `LOCATION`, if any.
    pub location: Option<&'a str>,
    /// `STATUS`.
    pub status: EventStatus,
    /// `SEQUENCE`, clamped to `0..=i32::MAX`.
    pub sequence: i64,
    /// `CREATED`.
    pub created: DateTime<Utc>,
    /// `LAST-MODIFIED`.
    pub last_modified: DateTime<Utc>,
    /// `DTSTAMP`: when this object was created (iTIP) or last changed (feeds).
    pub dtstamp: DateTime<Utc>,
    /// `TRANSP:TRANSPARENT` when true (does not block time), else `OPAQUE`.
    pub transparent: bool,
    /// `URL`, if any.
    pub url: Option<&'a str>,
    /// `ORGANIZER`, if any (required for `REQUEST` and `CANCEL`).
    pub organizer: Option<Party<'a>>,
    /// One `ATTENDEE` each, as required participants whose answer is pending.
    pub attendees: &'a [Party<'a>],
    /// `CATEGORIES`, one line for all; empty names are left out.
    pub categories: &'a [&'a str],
}

/// Writes `BEGIN:VCALENDAR`, the calendar properties and one `VTIMEZONE` per zone.
pub fn write_head(out: &mut String, head: &CalendarHead<'_>) {
    out.push_str("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n");
    prop_text(out, "PRODID", PRODID);
    out.push_str("CALSCALE:GREGORIAN\r\n");
    prop_text(out, "METHOD", head.method.as_str());
    // A feed's name and zone; an invite is one event, not a calendar to subscribe to, and some
    // clients offer to create a calendar named after `X-WR-CALNAME` when they see one.
    if head.method == Method::Publish {
        prop_text(out, "X-WR-CALNAME", head.name);
        prop_text(out, "X-WR-TIMEZONE", head.zone.name());
    }
    if let Some(every) = head.refresh {
        let every = duration(every);
        let mut line = Line::new(out, "REFRESH-INTERVAL");
        line.param("VALUE", "DURATION");
        line.colon();
        line.raw(&every);
        line.end();
        prop_text(out, "X-PUBLISHED-TTL", &every);
    }
    for (i, zone) in head.zones.iter().enumerate() {
        if !head.zones[..i].contains(zone) {
            write_vtimezone(out, *zone, head.years.clone());
        }
    }
}

/// Writes `END:VCALENDAR`.
pub fn write_tail(out: &mut String) {
    out.push_str("END:VCALENDAR\r\n");
}

/// A whole calendar in one string; for invites and tests (feeds stream the pieces).
pub fn calendar(head: &CalendarHead<'_>, events: &[EventOut<'_>]) -> String {
    let mut out = String::with_capacity(2048 + 512 * events.len());
    write_head(&mut out, head);
    for event in events {
        write_event(&mut out, event);
    }
    write_tail(&mut out);
    out
}

/// Writes one `VEVENT`.
pub fn write_event(out: &mut String, event: &EventOut<'_>) {
    out.push_str("BEGIN:VEVENT\r\n");
    prop_text(out, "UID", event.uid);
    prop_utc(out, "DTSTAMP", event.dtstamp);
    write_span(out, event.span, event.zone);
    let mut line = Line::new(out, "SEQUENCE");
    line.colon();
    line.int(event.sequence.clamp(0, i64::from(i32::MAX)));
    line.end();
    prop_utc(out, "CREATED", event.created);
    prop_utc(out, "LAST-MODIFIED", event.last_modified);
    prop_text(out, "STATUS", event.status.as_str());
    prop_text(out, "SUMMARY", event.summary);
    write_details(out, event);
    prop_text(out, "TRANSP", if event.transparent { "TRANSPARENT" } else { "OPAQUE" });
    if let Some(organizer) = &event.organizer {
        write_party(out, "ORGANIZER", organizer);
    }
    for attendee in event.attendees {
        write_party(out, "ATTENDEE", attendee);
    }
    out.push_str("END:VEVENT\r\n");
}

/// The optional descriptive properties of an event.
fn write_details(out: &mut String, event: &EventOut<'_>) {
    if let Some(description) = event.description {
        prop_text(out, "DESCRIPTION", description);
    }
    if let Some(location) = event.location {
        prop_text(out, "LOCATION", location);
    }
    if let Some(url) = event.url {
        let mut line = Line::new(out, "URL");
        line.colon();
        line.uri(url);
        line.end();
    }
    let mut categories = event.categories.iter().filter(|c| !c.is_empty());
    if let Some(first) = categories.next() {
        let mut line = Line::new(out, "CATEGORIES");
        line.colon();
        line.text(first);
        for category in categories {
            line.atom(",");
            line.text(category);
        }
        line.end();
    }
}

/// `ORGANIZER` or `ATTENDEE`: `CN` and, for attendees, the iTIP participation parameters.
fn write_party(out: &mut String, name: &str, party: &Party<'_>) {
    let mut line = Line::new(out, name);
    if name == "ATTENDEE" {
        line.param("ROLE", "REQ-PARTICIPANT");
        line.param("PARTSTAT", "NEEDS-ACTION");
        if party.rsvp {
            line.param("RSVP", "TRUE");
        }
    }
    if let Some(cn) = party.name.map(str::trim).filter(|cn| !cn.is_empty()) {
        line.param("CN", cn);
    }
    line.colon();
    line.raw("mailto:");
    line.uri(party.email);
    line.end();
}

/// `DTSTART` and `DTEND`.
fn write_span(out: &mut String, span: &Span, zone: Option<Tz>) {
    match *span {
        Span::AllDay { start, end } => {
            prop_date(out, "DTSTART", start);
            prop_date(out, "DTEND", end);
        }
        Span::Timed { start, end } => {
            prop_instant(out, "DTSTART", start, zone);
            prop_instant(out, "DTEND", end, zone);
        }
    }
}

/// `NAME;VALUE=DATE:YYYYMMDD`.
fn prop_date(out: &mut String, name: &str, date: NaiveDate) {
    let mut line = Line::new(out, name);
    line.param("VALUE", "DATE");
    line.colon();
    line.raw(Stamp::date(date).as_str());
    line.end();
}

/// An instant as local time with `TZID`, or in UTC when there is no zone or when the local time
/// falls in a repeated hour: RFC 5545 §3.3.5 reads an ambiguous local time as the first one, but
/// not every client does, and UTC leaves no doubt.
fn prop_instant(out: &mut String, name: &str, at: DateTime<Utc>, zone: Option<Tz>) {
    let mut line = Line::new(out, name);
    match zone.and_then(|zone| wall_clock(at, zone).map(|local| (zone, local))) {
        Some((zone, local)) => {
            line.param("TZID", zone.name());
            line.colon();
            line.raw(Stamp::local(local).as_str());
        }
        None => {
            line.colon();
            line.raw(Stamp::utc(at).as_str());
        }
    }
    line.end();
}

/// The local time of `at` in `zone` (to the second), unless that local time is ambiguous (the
/// hour the clocks go back repeats): a writer then gives the instant in UTC.
pub fn wall_clock(at: DateTime<Utc>, zone: Tz) -> Option<NaiveDateTime> {
    let local = at.with_timezone(&zone).naive_local().with_nanosecond(0)?;
    match zone.from_local_datetime(&local) {
        LocalResult::Single(_) => Some(local),
        _ => None,
    }
}

/// `NAME:YYYYMMDDTHHMMSSZ`.
fn prop_utc(out: &mut String, name: &str, at: DateTime<Utc>) {
    let mut line = Line::new(out, name);
    line.colon();
    line.raw(Stamp::utc(at).as_str());
    line.end();
}

/// `NAME:value` with the value escaped as TEXT.
fn prop_text(out: &mut String, name: &str, value: &str) {
    let mut line = Line::new(out, name);
    line.colon();
    line.text(value);
    line.end();
}

/// A positive DURATION (RFC 5545 §3.3.6) in its largest whole unit: `P1D`, `PT1H`, `PT90M`.
fn duration(every: TimeDelta) -> String {
    let secs = every.num_seconds().max(1);
    match secs {
        s if s % 86_400 == 0 => format!("P{}D", s / 86_400),
        s if s % 3_600 == 0 => format!("PT{}H", s / 3_600),
        s if s % 60 == 0 => format!("PT{}M", s / 60),
        s => format!("PT{s}S"),
    }
}

/// Longest content line in octets, without its CRLF (RFC 5545 §3.1).
const MAX_LINE: usize = 75;

/// One content line being appended to `out`: folded with CRLF and a space before it would exceed
/// [`MAX_LINE`] octets, never inside a UTF-8 character or an escape sequence.
struct Line<'o> {
    out: &'o mut String,
    /// Octets on the current physical line.
    width: usize,
}

impl<'o> Line<'o> {
    /// Starts a line with the property name.
    fn new(out: &'o mut String, name: &str) -> Self {
        let mut line = Line { out, width: 0 };
        line.raw(name);
        line
    }

    /// Appends `s` as it is, folding where needed.
    fn raw(&mut self, mut s: &str) {
        while self.width + s.len() > MAX_LINE {
            let mut cut = MAX_LINE - self.width;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            self.out.push_str(&s[..cut]);
            self.fold();
            s = &s[cut..];
        }
        self.out.push_str(s);
        self.width += s.len();
    }

    /// Appends a short piece that must not be split (an escape sequence, a delimiter).
    fn atom(&mut self, s: &str) {
        if self.width + s.len() > MAX_LINE {
            self.fold();
        }
        self.out.push_str(s);
        self.width += s.len();
    }

    fn fold(&mut self) {
        self.out.push_str("\r\n ");
        self.width = 1;
    }

    /// The `:` between the name and parameters, and the value.
    fn colon(&mut self) {
        self.atom(":");
    }

    /// Appends a TEXT value (RFC 5545 §3.3.11): `\`, `;`, `,` escaped, each line break (LF, CRLF
    /// or a lone CR) written as `\n`, and other control characters but TAB left out.
    fn text(&mut self, s: &str) {
        let bytes = s.as_bytes();
        let (mut run, mut i) = (0, 0);
        while let Some(found) = bytes[i..].iter().position(|&b| TEXT_SPECIAL[usize::from(b)]) {
            i += found;
            let (escaped, skip) = match bytes[i] {
                b'\\' => ("\\\\", 1),
                b';' => ("\\;", 1),
                b',' => ("\\,", 1),
                b'\r' if bytes.get(i + 1) == Some(&b'\n') => ("\\n", 2),
                b'\r' | b'\n' => ("\\n", 1),
                _ => ("", 1),
            };
            // Every byte matched above is ASCII, so `run..i` ends on a character boundary.
            self.raw(&s[run..i]);
            self.atom(escaped);
            i += skip;
            run = i;
        }
        self.raw(&s[run..]);
    }

    /// Appends `;NAME=value`: `"` and control characters left out (a line break becomes a space),
    /// and the value quoted when it holds `:`, `;` or `,` (RFC 5545 §3.2).
    fn param(&mut self, name: &str, value: &str) {
        self.atom(";");
        self.raw(name);
        self.atom("=");
        let value = if value.bytes().any(|b| b == b'"' || is_control(b)) {
            std::borrow::Cow::Owned(clean_param(value))
        } else {
            std::borrow::Cow::Borrowed(value)
        };
        if value.contains([':', ';', ',']) {
            self.atom("\"");
            self.raw(&value);
            self.atom("\"");
        } else {
            self.raw(&value);
        }
    }

    /// Appends a URI: control characters left out, spaces as `%20`.
    fn uri(&mut self, s: &str) {
        let mut run = 0;
        for (i, b) in s.bytes().enumerate() {
            if b == b' ' || b == b'\t' || is_control(b) {
                self.raw(&s[run..i]);
                if b == b' ' {
                    self.atom("%20");
                }
                run = i + 1;
            }
        }
        self.raw(&s[run..]);
    }

    /// Appends an integer.
    fn int(&mut self, n: i64) {
        use fmt::Write as _;
        let mut digits = String::with_capacity(20);
        // Writing to a String cannot fail.
        let _ = write!(digits, "{n}");
        self.raw(&digits);
    }

    /// Ends the line with CRLF.
    fn end(self) {
        self.out.push_str("\r\n");
    }
}

/// The bytes that a TEXT value cannot hold as they are: `\\`, `;`, `,` and control characters.
static TEXT_SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = is_control(b as u8) || b as u8 == b'\\' || b as u8 == b';' || b as u8 == b',';
        b += 1;
    }
    table
};

/// A control character that no value may hold raw: all ASCII ones but TAB.
const fn is_control(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// A parameter value without `"` (which it cannot hold) and control characters.
fn clean_param(value: &str) -> String {
    value
        .chars()
        .filter_map(|c| match c {
            '\n' => Some(' '),
            '"' | '\r' => None,
            c if c.is_ascii_control() && c != '\t' => None,
            c => Some(c),
        })
        .collect()
}

/// A DATE or DATE-TIME value formatted on the stack: `YYYYMMDD`, `YYYYMMDDTHHMMSS`, or the same
/// with `Z`. Years are clamped to 0..=9999, the four digits the format has.
struct Stamp {
    buf: [u8; 16],
    len: usize,
}

impl Stamp {
    fn date(date: NaiveDate) -> Self {
        let mut stamp = Stamp { buf: [b'0'; 16], len: 8 };
        put_digits(&mut stamp.buf[0..4], date.year().clamp(0, 9999).unsigned_abs());
        put_digits(&mut stamp.buf[4..6], date.month());
        put_digits(&mut stamp.buf[6..8], date.day());
        stamp
    }

    fn local(at: NaiveDateTime) -> Self {
        let mut stamp = Stamp::date(at.date());
        stamp.buf[8] = b'T';
        put_digits(&mut stamp.buf[9..11], at.hour());
        put_digits(&mut stamp.buf[11..13], at.minute());
        put_digits(&mut stamp.buf[13..15], at.second());
        stamp.len = 15;
        stamp
    }

    fn utc(at: DateTime<Utc>) -> Self {
        let mut stamp = Stamp::local(at.naive_utc());
        stamp.buf[15] = b'Z';
        stamp.len = 16;
        stamp
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits, `T` and `Z` are ever written.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

/// Writes `n` as decimal digits filling `buf`, zero-padded.
fn put_digits(buf: &mut [u8], mut n: u32) {
    for digit in buf.iter_mut().rev() {
        *digit = b'0' + (n % 10) as u8;
        n /= 10;
    }
}
