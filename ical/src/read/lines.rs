//! The tolerant pre-pass: bytes to clean, unfolded content lines, cut into one block per VEVENT
//! and per VTIMEZONE, each ready for `icalendar::parser`.
//!
//! What it repairs, in order:
//! - bytes that are not UTF-8 become U+FFFD (a UTF-16 file with a byte-order mark is decoded as
//!   such); a UTF-8 byte-order mark is dropped;
//! - CRLF, LF, CR and mixed line endings are all line ends;
//! - a line starting with a space or a tab continues the previous one (the first blank is
//!   removed); blank lines are dropped, also in the middle of a folded value;
//! - property and parameter names, and the component names of BEGIN/END, are upper-cased;
//! - a line that is not `NAME[;PARAM=VALUE...]:VALUE` is dropped (`ORGANIZER;CN=x` without a
//!   colon, stray text), except that a quoted parameter value swallowing the value
//!   (`DTSTART;TZID="W. Europe Standard Time:20200609T090000"`) is split again at its last colon;
//! - parameters without a valid name or without `=` are dropped; parameter values are re-quoted
//!   when they hold `;`, `:` or `,`, and lose stray double quotes;
//! - components nested in a VEVENT (VALARM, vendor components) are left out: nothing in them is
//!   read, and unbalanced ones cannot break the event;
//! - a VEVENT left open is closed by the next `BEGIN:VEVENT`, `BEGIN:VTIMEZONE` or
//!   `END:VCALENDAR`; VTODO, VJOURNAL, VFREEBUSY and any other component are skipped.
//!
//! What it does not repair: a file that ends inside a component (a VEVENT, a VTIMEZONE, any
//! other, or the VCALENDAR itself) was cut off. The component left open is not handed over (its
//! last property may be cut short, and a made-up event is worse than none) and
//! [`Prepared::truncated`] says where the file ended.
//!
//! The VTIMEZONE blocks are written with CRLF line ends into one buffer. A VEVENT's properties
//! are taken where they lie in the text being read when they are already as the reader wants
//! them (on one line, names in upper case, parameters normal: nearly all of them), and written
//! into a buffer reused from one VEVENT to the next otherwise, so the pass allocates a handful
//! of times per file, not per line, and copies little of it.

use std::borrow::Cow;
use std::ops::Range;

/// What the pre-pass keeps of the feed outside its VEVENTs.
#[derive(Debug, Default)]
pub(super) struct Prepared {
    /// Every VEVENT in the file, also those over the limit.
    pub event_count: usize,
    /// The VEVENTs handed over (at most the limit).
    pub events_read: usize,
    /// The normalised VTIMEZONE blocks.
    pub zones_text: String,
    /// Each VTIMEZONE's block in `zones_text`.
    pub zones: Vec<Range<usize>>,
    /// The calendar's `X-WR-TIMEZONE`.
    pub x_wr_timezone: Option<String>,
    /// The calendar's `X-WR-CALNAME`.
    pub calendar_name: Option<String>,
    /// Where the file ended, when it ended inside a component.
    pub truncated: Option<Truncated>,
}

/// Where a truncated file ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Truncated {
    /// Inside a VEVENT (with its UID, when it got that far): the event is not read.
    Event(Option<String>),
    /// Inside a VTIMEZONE: the zone is not read.
    Zone,
    /// Inside another component.
    Other,
    /// After its last component, before `END:VCALENDAR`.
    Calendar,
}

/// One property of a VEVENT, normalised: its name upper-cased, its parameters rewritten as
/// `;KEY=VALUE...` (see [`write_params`]), its value as written (still escaped).
#[derive(Clone, Copy, Debug)]
pub(super) struct Prop<'a> {
    pub name: &'a str,
    pub params: &'a str,
    pub raw: &'a str,
}

impl<'a> Prop<'a> {
    /// The first parameter named `key` (upper case); `None` when it is missing or empty. A single
    /// quoted value loses its quotes; several stay as written (`"a","b"`).
    pub(super) fn param(&self, key: &str) -> Option<&'a str> {
        let params: &'a str = self.params;
        let mut rest = params;
        // Byte scans rather than `str::find`: parameter lists are a few bytes long, shorter
        // than a general search takes to set up.
        let find = |s: &str, byte: u8| s.bytes().position(|b| b == byte);
        while let Some(at) = rest.strip_prefix(';') {
            let eq = find(at, b'=')?;
            let (k, after) = (&at[..eq], &at[eq + 1..]);
            // Values are quoted when they hold `;`, so the next unquoted `;` ends this one.
            let end = if after.starts_with('"') {
                let mut i = 0;
                let bytes = after.as_bytes();
                let mut quoted = false;
                while i < bytes.len() && (quoted || bytes[i] != b';') {
                    if bytes[i] == b'"' {
                        quoted = !quoted;
                    }
                    i += 1;
                }
                i
            } else {
                find(after, b';').unwrap_or(after.len())
            };
            let value = &after[..end];
            if k == key {
                let inner = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .filter(|v| !v.contains('"'));
                let value = inner.unwrap_or(value);
                return (!value.is_empty()).then_some(value);
            }
            rest = &after[end..];
        }
        None
    }

    /// The value, unescaped when its type is TEXT (by the `VALUE` parameter, else by the
    /// property's name), as `icalendar::parser` reads it.
    pub(super) fn value(&self) -> Cow<'a, str> {
        if is_text(self.name, self.param("VALUE")) {
            unescape_cow(self.raw)
        } else {
            Cow::Borrowed(self.raw)
        }
    }
}

/// Whether a property's value is TEXT (RFC 5545 3.3.11), the types `icalendar::parser` unescapes.
fn is_text(name: &str, value_type: Option<&str>) -> bool {
    const OTHER: [&str; 13] = [
        "BINARY",
        "BOOLEAN",
        "CAL-ADDRESS",
        "DATE",
        "DATE-TIME",
        "DURATION",
        "FLOAT",
        "INTEGER",
        "PERIOD",
        "RECUR",
        "TIME",
        "URI",
        "UTC-OFFSET",
    ];
    match value_type {
        Some("TEXT") => return true,
        Some(t) if OTHER.contains(&t) => return false,
        _ => {}
    }
    if name == "CATEGORIES" || name == "RESOURCES" {
        return false;
    }
    name.starts_with("X-")
        || matches!(
            name,
            "CALSCALE"
                | "METHOD"
                | "PRODID"
                | "VERSION"
                | "CLASS"
                | "COMMENT"
                | "DESCRIPTION"
                | "LOCATION"
                | "STATUS"
                | "SUMMARY"
                | "TRANSP"
                | "TZID"
                | "TZNAME"
                | "CONTACT"
                | "RELATED-TO"
                | "UID"
                | "ACTION"
                | "REQUEST-STATUS"
        )
}

/// The properties of a VEVENT that the reader looks at; the others are not copied.
fn is_read(name: &str) -> bool {
    matches!(
        name,
        "UID"
            | "SUMMARY"
            | "DESCRIPTION"
            | "DTSTART"
            | "DTEND"
            | "DURATION"
            | "RRULE"
            | "RDATE"
            | "EXDATE"
            | "RECURRENCE-ID"
            | "STATUS"
            | "TRANSP"
            | "SEQUENCE"
    )
}

/// One VEVENT as the pre-pass hands it over: its read properties, in file order.
#[derive(Debug)]
pub(super) struct Block<'a> {
    /// The properties that were rewritten or unfolded (`Pass::event_text`).
    text: &'a str,
    /// The piece of the file being read: the properties taken as written lie there.
    piece: &'a str,
    props: &'a [PropAt],
}

impl<'a> Block<'a> {
    /// The properties the reader looks at, in file order.
    pub(super) fn props(&self) -> impl Iterator<Item = Prop<'a>> + 'a {
        let (text, piece) = (self.text, self.piece);
        self.props.iter().filter(|p| p.read).map(move |p| Self::prop(text, piece, p))
    }

    /// Every property of the VEVENT itself (not of the components nested in it), in file
    /// order; those the reader does not look at have their parameters as written (not
    /// normalised), which is all that naming an event needs.
    pub(super) fn every_prop(&self) -> impl Iterator<Item = Prop<'a>> + 'a {
        let (text, piece) = (self.text, self.piece);
        self.props.iter().map(move |p| Self::prop(text, piece, p))
    }

    fn prop(text: &'a str, piece: &'a str, p: &PropAt) -> Prop<'a> {
        let text = if p.in_piece { piece } else { text };
        Prop {
            name: &text[p.name.clone()],
            params: &text[p.params.clone()],
            raw: &text[p.raw.clone()],
        }
    }
}

/// Where a property's parts lie: in the VEVENT buffer, or in the piece of the file being read.
#[derive(Clone, Debug)]
struct PropAt {
    name: Range<usize>,
    params: Range<usize>,
    raw: Range<usize>,
    /// Whether the reader looks at it (the others only make a UID for an event without one).
    read: bool,
    /// Whether its parts lie in the piece (taken as written) rather than in the buffer.
    in_piece: bool,
}

/// The piece of the file being read, and whether the line at hand is a slice of it (rather
/// than a line unfolded into `Pre::scratch`, or carried over from the last piece).
#[derive(Clone, Copy)]
struct Source<'t> {
    piece: &'t str,
    line_in_piece: bool,
}

/// What receives the VEVENTs, one at a time, as the pass reads them.
pub(super) trait Events {
    /// A VEVENT within the limit; `prepared` holds what came before it in the file.
    fn event(&mut self, prepared: &Prepared, block: &Block<'_>);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Outside any component we read (at the calendar level, or before BEGIN:VCALENDAR).
    Top,
    /// Inside a VEVENT; `skip` counts the nested components being left out.
    Event { skip: u32, read: bool },
    /// Inside a VTIMEZONE; `sub` is the STANDARD/DAYLIGHT being read, `skip` counts other
    /// nested components.
    Zone { start: usize, sub: Option<&'static str>, skip: u32 },
    /// Inside a component we ignore, `depth` levels deep.
    Ignored { depth: u32 },
}

/// The pre-pass over text that arrives in pieces, each cut right after a line end (CR or LF):
/// the whole file at once, or a file read block by block. One VEVENT at a time is held, in
/// buffers reused from one to the next.
pub(super) struct Pre {
    pass: Pass,
    /// A logical line being unfolded, or carried over from the previous piece.
    scratch: String,
    /// Whether `scratch` holds a line not yet handed to the pass.
    carried: bool,
    /// Whether the next piece is the first (a UTF-8 byte-order mark is dropped from it).
    first: bool,
}

impl Pre {
    /// A pass that hands at most `max_events` VEVENTs over (the rest are counted).
    pub(super) fn new(max_events: usize) -> Self {
        Pre {
            pass: Pass {
                out: Prepared::default(),
                state: State::Top,
                in_calendar: false,
                max_events,
                event_text: String::with_capacity(4096),
                event_props: Vec::with_capacity(32),
            },
            scratch: String::new(),
            carried: false,
            first: true,
        }
    }

    /// Reads a piece of the text, handing its VEVENTs to `handler`; it must end at a line end,
    /// or be the last piece.
    pub(super) fn feed(&mut self, text: &str, handler: &mut dyn Events) {
        let text = if std::mem::take(&mut self.first) {
            text.strip_prefix('\u{feff}').unwrap_or(text)
        } else {
            text
        };
        // The logical line being assembled: a slice of `text`, or `scratch` once it has been
        // unfolded (or carried over from the last piece).
        let mut pending: Option<&str> = None;
        let mut in_scratch = std::mem::take(&mut self.carried);
        for physical in PhysicalLines::new(text) {
            if physical.is_empty() {
                continue;
            }
            let first = physical.as_bytes()[0];
            if first == b' ' || first == b'\t' {
                let rest = &physical[1..];
                if in_scratch {
                    self.scratch.push_str(rest);
                } else if let Some(line) = pending.take() {
                    self.scratch.clear();
                    self.scratch.push_str(line);
                    self.scratch.push_str(rest);
                    in_scratch = true;
                } else {
                    // A continuation with nothing to continue: read it as a line of its own.
                    let trimmed = rest.trim_start();
                    if !trimmed.is_empty() {
                        pending = Some(trimmed);
                    }
                }
                continue;
            }
            if std::mem::take(&mut in_scratch) {
                let source = Source { piece: text, line_in_piece: false };
                self.pass.line(&self.scratch, source, handler);
            } else if let Some(line) = pending.take() {
                self.pass.line(line, Source { piece: text, line_in_piece: true }, handler);
            }
            pending = Some(physical);
        }
        if let Some(line) = pending {
            // The next piece may continue it.
            self.scratch.clear();
            self.scratch.push_str(line);
            in_scratch = true;
        }
        self.carried = in_scratch;
        self.pass.keep_open_event(text);
    }

    /// Ends the pass: what the file holds outside its VEVENTs. A component still open is not
    /// handed over: the file was cut off ([`Prepared::truncated`]).
    pub(super) fn finish(mut self, handler: &mut dyn Events) -> Prepared {
        if self.carried {
            // Every property read so far was copied out of the last piece when it ended.
            self.pass.line(&self.scratch, Source { piece: "", line_in_piece: false }, handler);
        }
        self.pass.out.truncated = self.pass.truncated();
        self.pass.out
    }
}

/// Runs the pre-pass over a whole file in memory.
#[cfg(test)]
pub(super) fn prepare(bytes: &[u8], max_events: usize, handler: &mut dyn Events) -> Prepared {
    let text = decode(bytes);
    let mut pre = Pre::new(max_events);
    pre.feed(&text, handler);
    pre.finish(handler)
}

/// Decodes the bytes: UTF-16 when the file starts with its byte-order mark, else UTF-8 with U+FFFD
/// for invalid bytes.
pub(super) fn decode(bytes: &[u8]) -> Cow<'_, str> {
    let utf16 = |big_endian: bool| -> Cow<'_, str> {
        let units = bytes[2..].chunks_exact(2).map(|pair| {
            if big_endian {
                u16::from_be_bytes([pair[0], pair[1]])
            } else {
                u16::from_le_bytes([pair[0], pair[1]])
            }
        });
        Cow::Owned(
            char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect(),
        )
    };
    match bytes {
        [0xFF, 0xFE, ..] => utf16(false),
        [0xFE, 0xFF, ..] => utf16(true),
        // Validating first is several times faster than the lossy walk when the file is clean.
        _ => match std::str::from_utf8(bytes) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(bytes),
        },
    }
}

/// Splits text at CRLF, LF or CR, in one pass: each line end is found by one scan for either
/// byte, eight bytes at a time (a feed is mostly short lines, where a general search costs more
/// to set up than to run).
struct PhysicalLines<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> PhysicalLines<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }
}

impl<'a> Iterator for PhysicalLines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        if start >= bytes.len() {
            return None;
        }
        let Some(at) = line_end(&bytes[start..]).map(|i| start + i) else {
            self.pos = bytes.len();
            return Some(&self.text[start..]);
        };
        // CRLF is one line end; a lone CR or LF is one too.
        let crlf = bytes[at] == b'\r' && bytes.get(at + 1) == Some(&b'\n');
        self.pos = at + if crlf { 2 } else { 1 };
        // The line ends are ASCII, so `at` is a character boundary.
        Some(&self.text[start..at])
    }
}

/// Every byte of a word set to `byte`.
const fn splat(byte: u8) -> u64 {
    u64::from_le_bytes([byte; 8])
}

/// The high bit of each byte of `word` that equals `byte`, and possibly of bytes after such a
/// byte (a borrow runs upwards): the lowest bit set is always the first match.
const fn matches_byte(word: u64, byte: u8) -> u64 {
    let x = word ^ splat(byte);
    x.wrapping_sub(splat(0x01)) & !x & splat(0x80)
}

/// Where the first CR or LF of `bytes` is.
fn line_end(bytes: &[u8]) -> Option<usize> {
    find_either(bytes, b'\n', b'\r')
}

/// Where the first `a` or `b` of `bytes` is, found eight bytes at a time.
pub(super) fn find_either(bytes: &[u8], a: u8, b: u8) -> Option<usize> {
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let found = matches_byte(word, a) | matches_byte(word, b);
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let tail = chunks.remainder().iter().position(|&x| x == a || x == b);
    tail.map(|i| at + i)
}

/// A content line cut into its parts (parameters still raw).
struct Line<'a> {
    name: &'a str,
    /// The text between the name and the value separator, starting with `;` (or empty).
    params: &'a str,
    value: &'a str,
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Cuts a content line. `None` for lines that are not `NAME[;PARAMS]:VALUE` and cannot be repaired.
fn split_line(line: &str) -> Option<Line<'_>> {
    let bytes = line.as_bytes();
    let name_end = bytes.iter().position(|&b| b == b';' || b == b':')?;
    let name = line[..name_end].trim_end();
    if name.is_empty() || !name.bytes().all(is_name_byte) {
        return None;
    }
    if bytes[name_end] == b':' {
        return Some(Line { name, params: "", value: &line[name_end + 1..] });
    }
    // Parameters: scan to the first colon outside double quotes.
    let mut i = name_end;
    let mut in_quotes = false;
    let mut last_quote_open: Option<usize> = None;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                if !in_quotes {
                    last_quote_open = Some(i);
                }
                in_quotes = !in_quotes;
            }
            b':' if !in_quotes => {
                return Some(Line { name, params: &line[name_end..i], value: &line[i + 1..] });
            }
            _ => {}
        }
        i += 1;
    }
    // No separator outside quotes. Repair `NAME;P="text:value"` (quote closed after the value)
    // and `NAME;P="text:value` (never closed): the value is after the last colon in the quotes.
    let open = last_quote_open?;
    let colon = open + 1 + line[open + 1..].rfind(':')?;
    let value_end =
        if line.ends_with('"') && line.len() - 1 > colon { line.len() - 1 } else { line.len() };
    Some(Line { name, params: &line[name_end..colon], value: &line[colon + 1..value_end] })
}

/// Writes `;KEY=VALUE` for every usable parameter in `params` (which starts with `;`).
fn write_params(out: &mut String, params: &str) {
    // Most parameters are written as they would be rewritten (`;VALUE=DATE`): copied whole.
    if is_normal(params) {
        out.push_str(params);
        return;
    }
    rewrite_params(out, params);
}

/// Whether `params` is already as [`rewrite_params`] writes it, by a sufficient test: each
/// parameter `;KEY=VALUE` with an upper-case name and a value of printable ASCII that needs no
/// quotes (no `"`, `;`, `:` or `,`) and has no blank at either end.
///
/// One pass over the bytes, parameter by parameter: it runs on the parameters of every DTSTART
/// and DTEND of a feed.
fn is_normal(params: &str) -> bool {
    let bytes = params.as_bytes();
    let key_byte = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_';
    let plain = |b: u8| matches!(b, b' '..=b'~') && !matches!(b, b'"' | b';' | b':' | b',');
    if bytes.first() != Some(&b';') {
        return false;
    }
    // At a `;`: a parameter starts after it.
    let mut at = 0;
    while at < bytes.len() {
        let key = at + 1;
        let mut i = key;
        while i < bytes.len() && key_byte(bytes[i]) {
            i += 1;
        }
        if i == key || bytes.get(i) != Some(&b'=') {
            return false;
        }
        let value = i + 1;
        i = value;
        while i < bytes.len() && bytes[i] != b';' {
            if !plain(bytes[i]) {
                return false;
            }
            i += 1;
        }
        if i == value || bytes[value] == b' ' || bytes[i - 1] == b' ' {
            return false;
        }
        at = i;
    }
    true
}

/// [`write_params`] for any parameters: drops the unusable ones, upper-cases names, re-quotes
/// values.
fn rewrite_params(out: &mut String, params: &str) {
    let bytes = params.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // At a ';' (or junk): skip it.
        if bytes[i] != b';' {
            i += 1;
            continue;
        }
        i += 1;
        let key_start = i;
        while i < bytes.len() && bytes[i] != b'=' && bytes[i] != b';' {
            i += 1;
        }
        let key = params[key_start..i].trim();
        if i >= bytes.len() || bytes[i] == b';' {
            // No '=': a bare word, dropped.
            continue;
        }
        i += 1; // '='
        let valid = !key.is_empty() && key.bytes().all(is_name_byte);
        if valid {
            out.push(';');
            push_upper(out, key);
            out.push('=');
        }
        if i < bytes.len() && bytes[i] == b'"' {
            // One or more quoted values separated by commas, each written quoted.
            let mut written = 0;
            while i < bytes.len() && bytes[i] == b'"' {
                let start = i + 1;
                let end = params[start..].find('"').map_or(bytes.len(), |j| start + j);
                if valid {
                    let raw = clean_param_value(&params[start..end]);
                    if !raw.is_empty() {
                        if written > 0 {
                            out.push(',');
                        }
                        push_param_value(out, raw, true);
                        written += 1;
                    }
                }
                i = (end + 1).min(bytes.len());
                if i < bytes.len() && bytes[i] == b',' {
                    i += 1;
                } else {
                    break;
                }
            }
            // Anything after the quotes up to the next ';' is junk.
            while i < bytes.len() && bytes[i] != b';' {
                i += 1;
            }
        } else {
            let start = i;
            while i < bytes.len() && bytes[i] != b';' {
                i += 1;
            }
            if valid {
                let raw = clean_param_value(&params[start..i]);
                let quote = raw.bytes().any(|b| b == b':' || b == b',');
                push_param_value(out, raw, quote);
            }
        }
    }
}

fn clean_param_value(raw: &str) -> &str {
    raw.trim_matches(|c: char| c == '"' || c.is_whitespace())
}

/// Writes a parameter value (possibly empty: `TZID=` is read as no value), in quotes if asked,
/// without double quotes or control characters in it.
fn push_param_value(out: &mut String, raw: &str, quoted: bool) {
    if raw.is_empty() {
        return;
    }
    if quoted {
        out.push('"');
    }
    if raw.bytes().all(|b| b != b'"' && !b.is_ascii_control()) {
        out.push_str(raw);
    } else {
        out.extend(raw.chars().filter(|c| *c != '"' && !c.is_control()));
    }
    if quoted {
        out.push('"');
    }
}

fn push_upper(out: &mut String, ascii: &str) {
    let start = out.len();
    out.push_str(ascii);
    out[start..].make_ascii_uppercase();
}

/// The component name of a BEGIN/END value, if it is one of those we act on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Comp {
    Calendar,
    Event,
    Timezone,
    Standard,
    Daylight,
    Other,
}

fn comp(value: &str) -> Comp {
    let v = trim(value);
    if v.eq_ignore_ascii_case("VEVENT") {
        Comp::Event
    } else if v.eq_ignore_ascii_case("VTIMEZONE") {
        Comp::Timezone
    } else if v.eq_ignore_ascii_case("VCALENDAR") {
        Comp::Calendar
    } else if v.eq_ignore_ascii_case("STANDARD") {
        Comp::Standard
    } else if v.eq_ignore_ascii_case("DAYLIGHT") {
        Comp::Daylight
    } else {
        Comp::Other
    }
}

struct Pass {
    out: Prepared,
    state: State,
    /// Whether a VCALENDAR is open (its `BEGIN` read, its `END` not yet).
    in_calendar: bool,
    max_events: usize,
    /// The properties of the VEVENT being read that had to be unfolded or normalised (or were
    /// read in an earlier piece), back to back.
    event_text: String,
    /// Where each of them lies, in `event_text` or in the piece being read.
    event_props: Vec<PropAt>,
}

impl Pass {
    fn line(&mut self, raw: &str, source: Source<'_>, handler: &mut dyn Events) {
        let Some(line) = split_line(raw) else {
            return;
        };
        if line.name.eq_ignore_ascii_case("BEGIN") {
            self.begin(comp(line.value), source.piece, handler);
        } else if line.name.eq_ignore_ascii_case("END") {
            self.end(comp(line.value), source.piece, handler);
        } else {
            self.property(&line, source);
        }
    }

    fn begin(&mut self, c: Comp, piece: &str, handler: &mut dyn Events) {
        match c {
            Comp::Event => {
                self.close_open(piece, handler);
                self.out.event_count += 1;
                let read = self.out.events_read < self.max_events;
                if read {
                    self.out.events_read += 1;
                }
                self.event_text.clear();
                self.event_props.clear();
                self.state = State::Event { skip: 0, read };
            }
            Comp::Timezone => {
                self.close_open(piece, handler);
                let start = self.out.zones_text.len();
                self.out.zones_text.push_str("BEGIN:VTIMEZONE\r\n");
                self.state = State::Zone { start, sub: None, skip: 0 };
            }
            _ => match &mut self.state {
                State::Top => {
                    if c == Comp::Calendar {
                        self.in_calendar = true;
                    } else {
                        self.state = State::Ignored { depth: 1 };
                    }
                }
                State::Event { skip, .. } => *skip += 1,
                State::Zone { sub, skip, .. } => {
                    let name = match c {
                        Comp::Standard => Some("STANDARD"),
                        Comp::Daylight => Some("DAYLIGHT"),
                        _ => None,
                    };
                    match name {
                        Some(name) if *skip == 0 && sub.is_none() => {
                            *sub = Some(name);
                            self.out.zones_text.push_str("BEGIN:");
                            self.out.zones_text.push_str(name);
                            self.out.zones_text.push_str("\r\n");
                        }
                        _ => *skip += 1,
                    }
                }
                State::Ignored { depth } => {
                    if c != Comp::Calendar {
                        *depth += 1;
                    }
                }
            },
        }
    }

    fn end(&mut self, c: Comp, piece: &str, handler: &mut dyn Events) {
        match (&mut self.state, c) {
            (_, Comp::Calendar) => {
                self.close_open(piece, handler);
                self.state = State::Top;
                self.in_calendar = false;
            }
            (State::Event { .. }, Comp::Event) => self.close_open(piece, handler),
            (State::Event { skip, .. }, _) => *skip = skip.saturating_sub(1),
            (State::Zone { .. }, Comp::Timezone) => self.close_open(piece, handler),
            (State::Zone { sub, skip, .. }, _) => {
                if *skip > 0 {
                    *skip -= 1;
                } else if let Some(name) = sub.take() {
                    // Closed with the name it was opened with, even under a mismatched END.
                    self.out.zones_text.push_str("END:");
                    self.out.zones_text.push_str(name);
                    self.out.zones_text.push_str("\r\n");
                }
            }
            (State::Ignored { depth }, _) => {
                *depth -= 1;
                if *depth == 0 {
                    self.state = State::Top;
                }
            }
            (State::Top, _) => {}
        }
    }

    fn property(&mut self, line: &Line<'_>, source: Source<'_>) {
        let buf = match self.state {
            State::Event { skip: 0, read: true } => {
                self.event_property(line, source);
                return;
            }
            State::Zone { skip: 0, .. } => &mut self.out.zones_text,
            State::Top => {
                let value = line.value.trim();
                if line.name.eq_ignore_ascii_case("X-WR-TIMEZONE") {
                    if self.out.x_wr_timezone.is_none() && !value.is_empty() {
                        self.out.x_wr_timezone = Some(value.to_owned());
                    }
                } else if line.name.eq_ignore_ascii_case("X-WR-CALNAME")
                    && self.out.calendar_name.is_none()
                    && !value.is_empty()
                {
                    self.out.calendar_name = Some(unescape(value));
                }
                return;
            }
            _ => return,
        };
        push_upper(buf, line.name);
        write_params(buf, line.params);
        buf.push(':');
        buf.push_str(line.value);
        buf.push_str("\r\n");
    }

    /// Keeps a property of the VEVENT being read. One already as the reader wants it (its name
    /// upper-case, its parameters normal), on a line of the piece, is taken where it lies; the
    /// others are written into `event_text`, normalised.
    fn event_property(&mut self, line: &Line<'_>, source: Source<'_>) {
        // Names are compared upper-cased; most lines already are.
        let lower = line.name.bytes().any(|b| b.is_ascii_lowercase());
        let upper;
        let name = if lower {
            upper = line.name.to_ascii_uppercase();
            upper.as_str()
        } else {
            line.name
        };
        // Every property is kept: an event without UID is named after all of them. Those
        // only named after keep their parameters as written (cheaper, and as stable).
        let read = is_read(name);
        let normal = !read || line.params.is_empty() || is_normal(line.params);
        if source.line_in_piece && !lower && normal {
            // The parts are slices of the piece (but for no parameters, which are no slice of
            // anything): where they start in it is their distance from its start.
            let at = |part: &str| part.as_ptr() as usize - source.piece.as_ptr() as usize;
            let name_at = at(line.name)..at(line.name) + line.name.len();
            let params_at = match line.params {
                "" => name_at.end..name_at.end,
                params => at(params)..at(params) + params.len(),
            };
            self.event_props.push(PropAt {
                name: name_at,
                params: params_at,
                raw: at(line.value)..at(line.value) + line.value.len(),
                read,
                in_piece: true,
            });
            return;
        }
        let buf = &mut self.event_text;
        let name_at = buf.len()..buf.len() + name.len();
        buf.push_str(name);
        let params_start = buf.len();
        if read {
            write_params(buf, line.params);
        } else {
            buf.push_str(line.params);
        }
        let params_at = params_start..buf.len();
        buf.push_str(line.value);
        let raw_at = params_at.end..buf.len();
        self.event_props.push(PropAt {
            name: name_at,
            params: params_at,
            raw: raw_at,
            read,
            in_piece: false,
        });
    }

    /// Copies the properties of the VEVENT being read that lie in `piece` into `event_text`:
    /// the piece is gone once it has been read, and the event may go on in the next one.
    fn keep_open_event(&mut self, piece: &str) {
        for p in self.event_props.iter_mut().filter(|p| p.in_piece) {
            let buf = &mut self.event_text;
            let mut copy = |part: &Range<usize>| {
                let start = buf.len();
                buf.push_str(&piece[part.clone()]);
                start..buf.len()
            };
            (p.name, p.params, p.raw) = (copy(&p.name), copy(&p.params), copy(&p.raw));
            p.in_piece = false;
        }
    }

    /// At the end of the file: where it was cut off, if it ended inside a component. The
    /// component is dropped (a VTIMEZONE's text too).
    fn truncated(&mut self) -> Option<Truncated> {
        let truncated = match self.state {
            State::Event { read, .. } => {
                // Every property was copied out of the last piece when it ended.
                let block = Block { text: &self.event_text, piece: "", props: &self.event_props };
                let uid = block.props().find(|p| p.name == "UID").map(|p| p.value());
                let uid = uid.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty());
                Some(Truncated::Event(uid.filter(|_| read)))
            }
            State::Zone { start, .. } => {
                self.out.zones_text.truncate(start);
                Some(Truncated::Zone)
            }
            State::Ignored { .. } => Some(Truncated::Other),
            State::Top if self.in_calendar => Some(Truncated::Calendar),
            State::Top => None,
        };
        self.state = State::Top;
        truncated
    }

    /// Closes the VEVENT or VTIMEZONE being read, if any; `piece` is the piece of the file
    /// being read.
    fn close_open(&mut self, piece: &str, handler: &mut dyn Events) {
        match self.state {
            State::Event { read: true, .. } => {
                let block = Block { text: &self.event_text, piece, props: &self.event_props };
                handler.event(&self.out, &block);
            }
            State::Zone { start, sub, .. } => {
                if let Some(name) = sub {
                    self.out.zones_text.push_str("END:");
                    self.out.zones_text.push_str(name);
                    self.out.zones_text.push_str("\r\n");
                }
                self.out.zones_text.push_str("END:VTIMEZONE\r\n");
                let end = self.out.zones_text.len();
                self.out.zones.push(start..end);
            }
            _ => {}
        }
        self.state = State::Top;
    }
}

/// `str::trim`, answered without decoding characters when both ends are printable ASCII, as they
/// nearly always are: `str::trim` tests each end for Unicode's white space, a cost on every
/// value of a feed.
pub(super) fn trim(text: &str) -> &str {
    let plain = |b: Option<&u8>| b.is_some_and(|&b| b > b' ' && b.is_ascii());
    let bytes = text.as_bytes();
    if plain(bytes.first()) && plain(bytes.last()) { text } else { text.trim() }
}

/// Unescapes a TEXT value (`\,` `\;` `\n` `\N` `\\`; other escapes are kept as written).
pub(super) fn unescape(value: &str) -> String {
    unescape_cow(value).into_owned()
}

/// [`unescape`], borrowing the value when it has nothing to unescape.
pub(super) fn unescape_cow(value: &str) -> Cow<'_, str> {
    if !value.contains('\\') {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') | Some('N') => out.push('\n'),
            Some(c @ ('\\' | ',' | ';' | ':')) => out.push(c),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each VEVENT handed over, as `NAME;PARAMS:VALUE` lines.
    #[derive(Default)]
    struct Lines(Vec<Vec<String>>);

    impl Events for Lines {
        fn event(&mut self, _: &Prepared, block: &Block<'_>) {
            let lines = block.props().map(|p| format!("{}{}:{}", p.name, p.params, p.raw));
            self.0.push(lines.collect());
        }
    }

    /// Lines as RFC 5545 and the module say they end: CRLF, then CR or LF alone.
    fn reference_lines(text: &str) -> Vec<String> {
        let normalised = text.replace("\r\n", "\n").replace('\r', "\n");
        let mut lines: Vec<String> = normalised.split('\n').map(str::to_owned).collect();
        if normalised.ends_with('\n') || normalised.is_empty() {
            lines.pop();
        }
        lines
    }

    proptest::proptest! {
        #[test]
        fn physical_lines_end_at_crlf_cr_or_lf_wherever_they_fall_in_a_word(
            text in "[a\r\n é;:]{0,40}",
        ) {
            let lines: Vec<&str> = PhysicalLines::new(&text).collect();
            proptest::prop_assert_eq!(lines, reference_lines(&text));
        }
    }

    proptest::proptest! {
        #[test]
        fn parameters_already_normal_are_copied_as_the_rewrite_would_write_them(
            params in proptest::prop_oneof![
                "(;[A-Za-z0-9 _=\"\t,:é-]{0,12}){0,3}",
                "(;[A-Z0-9_-]{1,5}=[A-Za-z0-9 ./-]{1,8}){1,3}",
            ],
        ) {
            let mut rewritten = String::new();
            rewrite_params(&mut rewritten, &params);
            if is_normal(&params) {
                proptest::prop_assert_eq!(&rewritten, &params);
            }
            let mut written = String::new();
            write_params(&mut written, &params);
            proptest::prop_assert_eq!(written, rewritten);
        }
    }

    /// [`is_normal`] as its doc says it, parameter by parameter.
    fn is_normal_by_definition(params: &str) -> bool {
        let bytes = params.as_bytes();
        if bytes.is_empty() {
            return false;
        }
        bytes.split(|&b| b == b';').skip(1).all(|param| {
            let Some(eq) = param.iter().position(|&b| b == b'=') else { return false };
            let (key, value) = (&param[..eq], &param[eq + 1..]);
            let key_ok = !key.is_empty()
                && key.iter().all(|&b| {
                    b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            let plain =
                |b: &u8| matches!(b, b' '..=b'~') && !matches!(b, b'"' | b';' | b':' | b',');
            let ends = |b: Option<&u8>| b.is_some_and(|&b| b != b' ');
            key_ok && value.iter().all(plain) && ends(value.first()) && ends(value.last())
        }) && bytes[0] == b';'
    }

    proptest::proptest! {
        #[test]
        fn the_one_pass_test_of_normal_parameters_is_the_definition(
            params in proptest::prop_oneof![
                "(;[A-Za-z0-9 _=\"\t,:é~-]{0,12}){0,3};?",
                "[;=A ]{0,8}",
                "(;[A-Z0-9_-]{0,5}=[A-Za-z0-9 ./=-]{0,8}){1,3}",
            ],
        ) {
            proptest::prop_assert_eq!(is_normal(&params), is_normal_by_definition(&params));
        }
    }

    #[test]
    fn common_parameters_are_normal_and_odd_ones_are_rewritten() {
        for normal in [";VALUE=DATE", ";TZID=W. Europe Standard Time;VALUE=DATE-TIME", ";X-A_1=b"] {
            assert!(is_normal(normal), "{normal}");
        }
        for odd in
            ["", ";value=DATE", ";TZID=", ";CN=\"a\"", ";X=a,b", ";X= a", ";X", ";X=é", "X=a"]
        {
            assert!(!is_normal(odd), "{odd}");
        }
    }

    proptest::proptest! {
        #[test]
        fn trim_trims_as_str_trim_does(text in "[a \t\r\n\u{b}\u{a0}\u{3000}é]{0,6}") {
            proptest::prop_assert_eq!(trim(&text), text.trim());
        }
    }

    #[test]
    fn physical_lines_split_long_lines_and_every_line_end() {
        let text = "0123456789abcdef\r\n\r\r\n0123456789\rabcdefgh\n\n01234567\r";
        let lines: Vec<&str> = PhysicalLines::new(text).collect();
        assert_eq!(lines, ["0123456789abcdef", "", "", "0123456789", "abcdefgh", "", "01234567"]);
        assert_eq!(lines, reference_lines(text));
    }

    #[test]
    fn malformed_lines_are_repaired_or_dropped_and_names_upper_cased() {
        let text = "begin:vevent\n\
            dtstart;TZID=\"W. Europe Standard Time:20200609T090000\"\n\
            ORGANIZER;CN=x\n\
            summary;bad key=1;Cn=\"Doe, John\";tzid=;RSVP;member=\"a\",\"\",\"b\":v\n\
            not a property line\n\
            BEGIN:VALARM\nTRIGGER:-PT15M\nSUMMARY:alarm\nEND:VALARM\n\
            END:VEVENT\n";
        let mut events = Lines::default();
        let out = prepare(text.as_bytes(), 10, &mut events);
        assert_eq!(out.event_count, 1);
        assert_eq!(
            events.0,
            vec![vec![
                "DTSTART;TZID=\"W. Europe Standard Time\":20200609T090000".to_owned(),
                "SUMMARY;CN=\"Doe, John\";TZID=;MEMBER=\"a\",\"b\":v".to_owned(),
            ]]
        );
    }

    #[test]
    fn parameters_are_read_as_the_icalendar_parser_reads_them() {
        let prop =
            Prop { name: "DTSTART", params: ";CN=\"a;b\";TZID=;X=\"a\",\"b\";VALUE=DATE", raw: "" };
        assert_eq!(prop.param("CN"), Some("a;b"));
        assert_eq!(prop.param("TZID"), None);
        assert_eq!(prop.param("X"), Some("\"a\",\"b\""));
        assert_eq!(prop.param("VALUE"), Some("DATE"));
        assert_eq!(prop.param("RSVP"), None);
        let text = Prop { name: "SUMMARY", params: "", raw: "a\\, b\\nc" };
        assert_eq!(text.value(), "a, b\nc");
        let uri = Prop { name: "SUMMARY", params: ";VALUE=URI", raw: "a\\, b" };
        assert_eq!(uri.value(), "a\\, b");
    }

    #[test]
    fn a_file_read_in_pieces_reads_as_a_whole() {
        let text = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:1\r\nSUMMARY:a long\r\n  summary\r\n\
            \r\n  folded\r\nEND:VEVENT\rBEGIN:VEVENT\nUID:2\nEND:VEVENT\nEND:VCALENDAR";
        let mut whole = Lines::default();
        prepare(text.as_bytes(), 10, &mut whole);
        assert_eq!(whole.0[0][1], "SUMMARY:a long summary folded");
        // Cut after every line end, as a reader of blocks does.
        let mut pieces = Lines::default();
        let mut pre = Pre::new(10);
        let mut rest = text;
        while let Some(i) = rest.find(['\r', '\n']) {
            pre.feed(&rest[..=i], &mut pieces);
            rest = &rest[i + 1..];
        }
        pre.feed(rest, &mut pieces);
        let out = pre.finish(&mut pieces);
        assert_eq!(out.event_count, 2);
        assert_eq!(pieces.0, whole.0);
    }

    proptest::proptest! {
        #[test]
        fn a_file_cut_at_any_line_ends_reads_as_a_whole(
            cuts in proptest::collection::vec(proptest::num::usize::ANY, 0..8),
        ) {
            let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:1\ndtstart;value=DATE:20250101\n\
                DTEND;VALUE=DATE:20250102\nSUMMARY;LANGUAGE=en:a\n  b\nX-A;Y=\"z\":w\n\
                DESCRIPTION:d\nEND:VEVENT\nBEGIN:VEVENT\nUID:2\nDTSTART:20250103\n\
                Summary:c\nEND:VEVENT\nEND:VCALENDAR\n";
            let ends: Vec<usize> = text.match_indices('\n').map(|(i, _)| i + 1).collect();
            let mut cuts: Vec<usize> = cuts.iter().map(|c| ends[c % ends.len()]).collect();
            cuts.sort_unstable();
            cuts.dedup();
            let mut whole = Lines::default();
            prepare(text.as_bytes(), 10, &mut whole);
            let mut pieces = Lines::default();
            let mut pre = Pre::new(10);
            let mut from = 0;
            for cut in cuts {
                pre.feed(&text[from..cut], &mut pieces);
                from = cut;
            }
            pre.feed(&text[from..], &mut pieces);
            pre.finish(&mut pieces);
            proptest::prop_assert_eq!(pieces.0, whole.0);
        }
    }

    #[test]
    fn unclosed_events_end_at_the_next_event_todos_are_skipped_and_a_cut_event_is_dropped() {
        let text = "BEGIN:VCALENDAR\r\nX-WR-TIMEZONE:Europe/Paris\r\nX-WR-CALNAME:A\\, B\r\n\
            BEGIN:VEVENT\r\nUID:1\r\n\
            BEGIN:VEVENT\r\nUID:2\r\nEND:VEVENT\r\n\
            BEGIN:VTODO\r\nUID:3\r\nBEGIN:VALARM\r\nEND:VALARM\r\nEND:VTODO\r\n\
            BEGIN:VEVENT\r\nUID:4";
        let mut events = Lines::default();
        let out = prepare(text.as_bytes(), 10, &mut events);
        assert_eq!(out.event_count, 3);
        let uids: Vec<&str> = events.0.iter().map(|e| e[0].as_str()).collect();
        assert_eq!(uids, vec!["UID:1", "UID:2"]);
        assert_eq!(out.truncated, Some(Truncated::Event(Some("4".to_owned()))));
        assert_eq!(out.x_wr_timezone.as_deref(), Some("Europe/Paris"));
        assert_eq!(out.calendar_name.as_deref(), Some("A, B"));
    }
}
