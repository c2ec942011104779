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
//! - a VEVENT left open is closed by the next `BEGIN:VEVENT`, `BEGIN:VTIMEZONE`,
//!   `END:VCALENDAR` or the end of the file; VTODO, VJOURNAL, VFREEBUSY and any other component
//!   are skipped.
//!
//! The blocks are written with CRLF line ends into one buffer per kind, so the pass allocates a
//! handful of times per file, not per line.

use std::borrow::Cow;
use std::ops::Range;

/// The feed after the pre-pass.
#[derive(Debug, Default)]
pub(super) struct Prepared {
    /// The normalised VEVENT blocks, back to back.
    pub events_text: String,
    /// Each read VEVENT's block in `events_text`, in file order.
    pub events: Vec<Range<usize>>,
    /// Every VEVENT in the file, also those over the limit.
    pub event_count: usize,
    /// The normalised VTIMEZONE blocks.
    pub zones_text: String,
    /// Each VTIMEZONE's block in `zones_text`.
    pub zones: Vec<Range<usize>>,
    /// The calendar's `X-WR-TIMEZONE`.
    pub x_wr_timezone: Option<String>,
    /// The calendar's `X-WR-CALNAME`.
    pub calendar_name: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Outside any component we read (at the calendar level, or before BEGIN:VCALENDAR).
    Top,
    /// Inside a VEVENT; `skip` counts the nested components being left out.
    Event { start: usize, skip: u32, read: bool },
    /// Inside a VTIMEZONE; `sub` is the STANDARD/DAYLIGHT being read, `skip` counts other
    /// nested components.
    Zone { start: usize, sub: Option<&'static str>, skip: u32 },
    /// Inside a component we ignore, `depth` levels deep.
    Ignored { depth: u32 },
}

/// Runs the pre-pass. VEVENTs after the first `max_events` are counted but not kept.
pub(super) fn prepare(bytes: &[u8], max_events: usize) -> Prepared {
    let text = decode(bytes);
    let text: &str = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut pass = Pass {
        out: Prepared {
            events_text: String::with_capacity(text.len() + text.len() / 8),
            ..Prepared::default()
        },
        state: State::Top,
        max_events,
    };
    let mut scratch = String::new();
    // The logical line being assembled: a slice of `text`, or `scratch` once it has been unfolded.
    let mut pending: Option<&str> = None;
    let mut pending_in_scratch = false;
    for physical in PhysicalLines::new(text) {
        if physical.is_empty() {
            continue;
        }
        let first = physical.as_bytes()[0];
        if first == b' ' || first == b'\t' {
            let rest = &physical[1..];
            match pending {
                Some(line) => {
                    if !pending_in_scratch {
                        scratch.clear();
                        scratch.push_str(line);
                        pending_in_scratch = true;
                    }
                    scratch.push_str(rest);
                }
                None => {
                    // A continuation with nothing to continue: read it as a line of its own.
                    let trimmed = rest.trim_start();
                    if !trimmed.is_empty() {
                        pending = Some(trimmed);
                    }
                }
            }
            continue;
        }
        if let Some(line) = pending.take() {
            if pending_in_scratch {
                pass.line(&scratch);
            } else {
                pass.line(line);
            }
        }
        pending = Some(physical);
        pending_in_scratch = false;
    }
    if let Some(line) = pending.take() {
        if pending_in_scratch {
            pass.line(&scratch);
        } else {
            pass.line(line);
        }
    }
    pass.close_open();
    pass.out
}

/// Decodes the bytes: UTF-16 when the file starts with its byte-order mark, else UTF-8 with U+FFFD
/// for invalid bytes.
fn decode(bytes: &[u8]) -> Cow<'_, str> {
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

/// Splits text at CRLF, LF or CR, in one pass (the next LF is searched once and remembered, so
/// a file of lone CRs is not rescanned).
struct PhysicalLines<'a> {
    text: &'a str,
    pos: usize,
    /// The next LF at or after `pos` (`None`: none left), once searched.
    next_lf: Option<Option<usize>>,
}

impl<'a> PhysicalLines<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, pos: 0, next_lf: None }
    }
}

impl<'a> Iterator for PhysicalLines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let len = self.text.len();
        if self.pos >= len {
            return None;
        }
        let lf = match self.next_lf {
            Some(Some(i)) if i >= self.pos => Some(i),
            Some(None) => None,
            _ => {
                let found = self.text[self.pos..].find('\n').map(|i| self.pos + i);
                self.next_lf = Some(found);
                found
            }
        };
        let end = lf.unwrap_or(len);
        let segment = &self.text[self.pos..end];
        let body = match lf {
            Some(_) => segment.strip_suffix('\r').unwrap_or(segment),
            None => segment,
        };
        if let Some(cr) = body.find('\r') {
            self.pos += cr + 1;
            return Some(&body[..cr]);
        }
        self.pos = end + 1;
        Some(body)
    }
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
    let v = value.trim();
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
    max_events: usize,
}

impl Pass {
    fn line(&mut self, raw: &str) {
        let Some(line) = split_line(raw) else {
            return;
        };
        if line.name.eq_ignore_ascii_case("BEGIN") {
            self.begin(comp(line.value));
        } else if line.name.eq_ignore_ascii_case("END") {
            self.end(comp(line.value));
        } else {
            self.property(&line);
        }
    }

    fn begin(&mut self, c: Comp) {
        match c {
            Comp::Event => {
                self.close_open();
                self.out.event_count += 1;
                let read = self.out.events.len() < self.max_events;
                let start = self.out.events_text.len();
                if read {
                    self.out.events_text.push_str("BEGIN:VEVENT\r\n");
                }
                self.state = State::Event { start, skip: 0, read };
            }
            Comp::Timezone => {
                self.close_open();
                let start = self.out.zones_text.len();
                self.out.zones_text.push_str("BEGIN:VTIMEZONE\r\n");
                self.state = State::Zone { start, sub: None, skip: 0 };
            }
            _ => match &mut self.state {
                State::Top => {
                    if c != Comp::Calendar {
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

    fn end(&mut self, c: Comp) {
        match (&mut self.state, c) {
            (_, Comp::Calendar) => {
                self.close_open();
                self.state = State::Top;
            }
            (State::Event { .. }, Comp::Event) => self.close_open(),
            (State::Event { skip, .. }, _) => *skip = skip.saturating_sub(1),
            (State::Zone { .. }, Comp::Timezone) => self.close_open(),
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

    fn property(&mut self, line: &Line<'_>) {
        let buf = match self.state {
            State::Event { skip: 0, read: true, .. } => &mut self.out.events_text,
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

    /// Closes the VEVENT or VTIMEZONE being read, if any.
    fn close_open(&mut self) {
        match self.state {
            State::Event { start, read: true, .. } => {
                self.out.events_text.push_str("END:VEVENT\r\n");
                let end = self.out.events_text.len();
                self.out.events.push(start..end);
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

/// Unescapes a TEXT value (`\,` `\;` `\n` `\N` `\\`; other escapes are kept as written).
pub(super) fn unescape(value: &str) -> String {
    if !value.contains('\\') {
        return value.to_owned();
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_lines_are_repaired_or_dropped_and_names_upper_cased() {
        let text = "begin:vevent\n\
            DTSTART;TZID=\"W. Europe Standard Time:20200609T090000\"\n\
            ORGANIZER;CN=x\n\
            x-a;bad key=1;Cn=\"Doe, John\";tzid=;RSVP;member=\"a\",\"\",\"b\":v\n\
            not a property line\n\
            BEGIN:VALARM\nTRIGGER:-PT15M\nEND:VALARM\n\
            END:VEVENT\n";
        let out = prepare(text.as_bytes(), 10);
        assert_eq!(out.event_count, 1);
        assert_eq!(
            &out.events_text[out.events[0].clone()],
            "BEGIN:VEVENT\r\n\
             DTSTART;TZID=\"W. Europe Standard Time\":20200609T090000\r\n\
             X-A;CN=\"Doe, John\";TZID=;MEMBER=\"a\",\"b\":v\r\n\
             END:VEVENT\r\n"
        );
    }

    #[test]
    fn unclosed_events_end_at_the_next_event_and_todos_are_skipped() {
        let text = "BEGIN:VCALENDAR\r\nX-WR-TIMEZONE:Europe/Paris\r\nX-WR-CALNAME:A\\, B\r\n\
            BEGIN:VEVENT\r\nUID:1\r\n\
            BEGIN:VEVENT\r\nUID:2\r\nEND:VEVENT\r\n\
            BEGIN:VTODO\r\nUID:3\r\nBEGIN:VALARM\r\nEND:VALARM\r\nEND:VTODO\r\n\
            BEGIN:VEVENT\r\nUID:4";
        let out = prepare(text.as_bytes(), 10);
        assert_eq!(out.event_count, 3);
        let uids: Vec<&str> =
            out.events.iter().map(|r| out.events_text[r.clone()].lines().nth(1).unwrap()).collect();
        assert_eq!(uids, vec!["UID:1", "UID:2", "UID:4"]);
        assert_eq!(out.x_wr_timezone.as_deref(), Some("Europe/Paris"));
        assert_eq!(out.calendar_name.as_deref(), Some("A, B"));
    }
}
