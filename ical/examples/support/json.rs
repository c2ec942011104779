//! The JSON `check` prints, written directly: byte for byte what `serde_json::to_writer_pretty`
//! writes for a [`ParsedFeed`] (its `Serialize`), at a fraction of the cost. serde_json writes
//! each key, value, comma and indentation through its own call to the writer and tests every
//! byte of every string for escapes on its own; for 100 000 events that was a fifth of the
//! example's time. `ical/tests/check_json.rs` compares both on the fixtures and on items made
//! to need every escape.

use std::io::{self, Write};

use chrono::{Datelike as _, NaiveDate, NaiveTime, Timelike as _};
use kalends_ical::{BusyItem, ItemKind, ParsedFeed, Skipped, Span};

/// Bytes gathered before they are handed to the writer.
const CHUNK: usize = 64 * 1024;

/// Writes `feed` as `serde_json::to_writer_pretty` does (two-space indents, no final newline).
pub fn write_pretty<W: Write>(out: &mut W, feed: &ParsedFeed) -> io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + 1024);
    buf.extend_from_slice(b"{\n");
    if feed.truncated {
        buf.extend_from_slice(b"  \"truncated\": true,\n");
    }
    buf.extend_from_slice(b"  \"events\": ");
    buf.extend_from_slice(feed.events.to_string().as_bytes());
    buf.extend_from_slice(b",\n  \"skipped\": ");
    array(out, &mut buf, &feed.skipped, skipped)?;
    buf.extend_from_slice(b",\n  \"busy\": ");
    array(out, &mut buf, &feed.busy, busy_item)?;
    buf.extend_from_slice(b"\n}");
    out.write_all(&buf)
}

/// An array at the second level: `[]`, or one element per line block, each written by `one`.
fn array<W: Write, T>(
    out: &mut W,
    buf: &mut Vec<u8>,
    items: &[T],
    one: fn(&mut Vec<u8>, &T),
) -> io::Result<()> {
    if items.is_empty() {
        buf.extend_from_slice(b"[]");
        return Ok(());
    }
    buf.push(b'[');
    for (i, item) in items.iter().enumerate() {
        buf.extend_from_slice(if i == 0 { b"\n    {\n" } else { b",\n    {\n" });
        one(buf, item);
        buf.extend_from_slice(b"\n    }");
        if buf.len() >= CHUNK {
            out.write_all(buf)?;
            buf.clear();
        }
    }
    buf.extend_from_slice(b"\n  ]");
    Ok(())
}

fn skipped(buf: &mut Vec<u8>, s: &Skipped) {
    buf.extend_from_slice(b"      \"uid\": ");
    option(buf, s.uid.as_deref());
    buf.extend_from_slice(b",\n      \"reason\": ");
    string(buf, &s.reason);
}

fn busy_item(buf: &mut Vec<u8>, item: &BusyItem) {
    let (start, end, all_day) = match item.span {
        Span::AllDay { start, end } => (stamp(start, None), stamp(end, None), true),
        Span::Timed { start, end } => (
            stamp(start.date_naive(), Some(start.time())),
            stamp(end.date_naive(), Some(end.time())),
            false,
        ),
    };
    buf.extend_from_slice(b"      \"start\": \"");
    buf.extend_from_slice(&start.0[..start.1]);
    buf.extend_from_slice(b"\",\n      \"end\": \"");
    buf.extend_from_slice(&end.0[..end.1]);
    buf.extend_from_slice(if all_day {
        b"\",\n      \"all_day\": true,\n      \"uid\": "
    } else {
        b"\",\n      \"all_day\": false,\n      \"uid\": "
    });
    string(buf, &item.uid);
    buf.extend_from_slice(b",\n      \"recurrence_id\": ");
    option(buf, item.recurrence_id.as_deref());
    buf.extend_from_slice(b",\n      \"summary\": ");
    option(buf, item.summary.as_deref());
    buf.extend_from_slice(match item.kind {
        ItemKind::Reservation => b",\n      \"kind\": \"reservation\"",
        ItemKind::Block => b",\n      \"kind\": \"block\"".as_slice(),
        ItemKind::Event => b",\n      \"kind\": \"event\"".as_slice(),
    });
}

/// `YYYY-MM-DD`, or `YYYY-MM-DDTHH:MM:SSZ` with a time, as the reader's `Serialize` writes
/// them (the year clamped to 0-9999), and its length.
fn stamp(date: NaiveDate, time: Option<NaiveTime>) -> ([u8; 20], usize) {
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
    let Some(t) = time else { return (buf, 10) };
    put(&mut buf, 11, t.hour(), 2);
    put(&mut buf, 14, t.minute(), 2);
    put(&mut buf, 17, t.second(), 2);
    (buf, 20)
}

fn option(buf: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(value) => string(buf, value),
        None => buf.extend_from_slice(b"null"),
    }
}

/// A JSON string, escaped as serde_json escapes: `"` and `\`, and the control characters
/// below U+0020 (`\b`, `\t`, `\n`, `\f`, `\r`, else `\u00XX` in lower-case hex); nothing else.
fn string(buf: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    buf.push(b'"');
    // Without a branch per byte, which the compiler can run several bytes at a time: nearly
    // every string has nothing to escape.
    let plain = !bytes.iter().fold(false, |any, &b| any | (b < 0x20) | (b == b'"') | (b == b'\\'));
    if plain {
        buf.extend_from_slice(bytes);
    } else {
        for &b in bytes {
            match b {
                b'"' => buf.extend_from_slice(b"\\\""),
                b'\\' => buf.extend_from_slice(b"\\\\"),
                0x08 => buf.extend_from_slice(b"\\b"),
                b'\t' => buf.extend_from_slice(b"\\t"),
                b'\n' => buf.extend_from_slice(b"\\n"),
                0x0c => buf.extend_from_slice(b"\\f"),
                b'\r' => buf.extend_from_slice(b"\\r"),
                0..0x20 => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    let escaped = [
                        b'\\',
                        b'u',
                        b'0',
                        b'0',
                        HEX[usize::from(b >> 4)],
                        HEX[usize::from(b & 15)],
                    ];
                    buf.extend_from_slice(&escaped);
                }
                _ => buf.push(b),
            }
        }
    }
    buf.push(b'"');
}
