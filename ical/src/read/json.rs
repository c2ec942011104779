//! [`ParsedFeed::write_json`]: the JSON of a feed, byte for byte what its `Serialize`
//! implementation gives through `serde_json::to_writer`, written without serde.
//!
//! `kalends ics check --json` prints some 19 MB for a feed of 100 000 events. Through serde
//! every key and every string goes through serde_json's escaper, a byte at a time, which was
//! most of the time spent writing; here the keys are constant text and a string is copied whole
//! when it holds nothing to escape, which eight bytes at a time tells.

use std::io::Write;

use super::{BusyItem, ItemKind, ParsedFeed, Skipped, Stamp};

/// Bytes gathered before each write to the destination: a few hundred writes for the largest
/// feeds, and little memory.
const CHUNK: usize = 64 * 1024;

impl ParsedFeed {
    /// Writes the feed's JSON to `out`, the same bytes as `serde_json::to_writer(out, self)`
    /// (compact, no line end), in blocks of 64 KiB: `out` needs no buffer of its own.
    pub fn write_json<W: Write>(&self, out: W) -> std::io::Result<()> {
        let mut json = Json { out, buf: Vec::with_capacity(CHUNK) };
        json.raw(if self.truncated { b"{\"truncated\":true,\"events\":" } else { b"{\"events\":" });
        json.raw(itoa(self.events as u64, &mut [0; 20]));
        json.raw(b",\"skipped\":[");
        for (i, skipped) in self.skipped.iter().enumerate() {
            if i > 0 {
                json.raw(b",");
            }
            json.skipped(skipped);
            json.flush_full()?;
        }
        json.raw(b"],\"busy\":[");
        for (i, items) in self.busy.chunks(AHEAD).enumerate() {
            warm(items);
            for (k, item) in items.iter().enumerate() {
                if i > 0 || k > 0 {
                    json.raw(b",");
                }
                json.busy(item);
            }
            json.flush_full()?;
        }
        json.raw(b"]}");
        json.out.write_all(&json.buf)
    }
}

/// The items whose strings [`warm`] loads at once.
const AHEAD: usize = 16;

/// Loads the strings of the items (UID, recurrence id, summary) before they are written, all at
/// once. They lie apart on the heap, in the order the feed was read, and the items are written
/// in order of start: read one after the other, each string waits for memory on its own (most
/// of the time spent writing a large feed); loaded together, their waits overlap.
fn warm(items: &[BusyItem]) {
    let ends = |text: &str| {
        let bytes = text.as_bytes();
        bytes.first().copied().unwrap_or(0) ^ bytes.last().copied().unwrap_or(0)
    };
    let mut sum = 0u8;
    for item in items {
        sum ^= ends(&item.uid)
            ^ item.recurrence_id.as_deref().map_or(0, ends)
            ^ item.summary.as_deref().map_or(0, ends);
    }
    std::hint::black_box(sum);
}

/// A destination and the bytes not yet written to it.
struct Json<W> {
    out: W,
    buf: Vec<u8>,
}

impl<W: Write> Json<W> {
    fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Writes the gathered bytes once there are a block's worth.
    fn flush_full(&mut self) -> std::io::Result<()> {
        if self.buf.len() >= CHUNK {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn skipped(&mut self, skipped: &Skipped) {
        self.raw(b"{\"uid\":");
        self.opt_str(skipped.uid.as_deref());
        self.raw(b",\"reason\":");
        self.str(&skipped.reason);
        self.raw(b"}");
    }

    fn busy(&mut self, item: &BusyItem) {
        let (start, end, all_day) = Stamp::span(&item.span);
        // A stamp is digits, dashes, colons and letters: nothing to escape.
        self.raw(b"{\"start\":\"");
        self.raw(start.as_str().as_bytes());
        self.raw(b"\",\"end\":\"");
        self.raw(end.as_str().as_bytes());
        self.raw(if all_day {
            b"\",\"all_day\":true,\"uid\":"
        } else {
            b"\",\"all_day\":false,\"uid\":"
        });
        self.str(&item.uid);
        self.raw(b",\"recurrence_id\":");
        self.opt_str(item.recurrence_id.as_deref());
        self.raw(b",\"summary\":");
        self.opt_str(item.summary.as_deref());
        self.raw(match item.kind {
            ItemKind::Reservation => b",\"kind\":\"reservation\"}",
            ItemKind::Block => b",\"kind\":\"block\"}",
            ItemKind::Event => b",\"kind\":\"event\"}",
        });
    }

    fn opt_str(&mut self, text: Option<&str>) {
        match text {
            Some(text) => self.str(text),
            None => self.raw(b"null"),
        }
    }

    /// A JSON string, escaped as serde_json escapes: `"` and `\` with a backslash, the control
    /// characters U+0000 to U+001F as `\b`, `\t`, `\n`, `\f`, `\r` or `\u00xx` (lower-case hex),
    /// everything else (DEL, U+2028, any non-ASCII) as it is.
    fn str(&mut self, text: &str) {
        let bytes = text.as_bytes();
        self.buf.reserve(bytes.len() + 2);
        self.buf.push(b'"');
        let mut done = 0;
        while let Some(at) = first_to_escape(bytes, done) {
            self.buf.extend_from_slice(&bytes[done..at]);
            self.escape(bytes[at]);
            done = at + 1;
        }
        self.buf.extend_from_slice(&bytes[done..]);
        self.buf.push(b'"');
    }

    fn escape(&mut self, byte: u8) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let short = match byte {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            0x09 => b't',
            0x0A => b'n',
            0x0C => b'f',
            0x0D => b'r',
            _ => {
                let hex = [HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xF)]];
                self.raw(b"\\u00");
                self.raw(&hex);
                return;
            }
        };
        self.raw(&[b'\\', short]);
    }
}

/// Whether a byte is written escaped: a control character, a quote or a backslash. A byte of a
/// multi-byte character is 0x80 or more, so UTF-8 is never cut.
fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// The place of the first byte from `from` on that [`needs_escape`]. Eight bytes at a time:
/// the test of a word is exact (it says whether any of its bytes needs escaping, never wrongly),
/// and only a word that does is looked at byte by byte.
fn first_to_escape(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte of `x` under `n` (n <= 0x80), or equal to zero: its high bit set in the result
    // (the classic test, exact for whether any byte matches).
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH;
    let mut at = from;
    while let Some(word) = bytes.get(at..at + 8) {
        let x = u64::from_le_bytes(word.try_into().unwrap_or_default());
        if below(x, 0x20)
            | below(x ^ (ONES * u64::from(b'"')), 1)
            | below(x ^ (ONES * u64::from(b'\\')), 1)
            != 0
        {
            break;
        }
        at += 8;
    }
    bytes[at..].iter().position(|&b| needs_escape(b)).map(|k| at + k)
}

/// The decimal digits of `n`, in `buf`.
fn itoa(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{NaiveDate, TimeZone as _, Utc};

    use super::*;
    use crate::{ItemDetails, Span};

    fn item(uid: &str, summary: Option<&str>, recurrence_id: Option<&str>, span: Span) -> BusyItem {
        BusyItem {
            uid: uid.to_owned(),
            recurrence_id: recurrence_id.map(str::to_owned),
            span,
            summary: summary.map(Arc::from),
            kind: ItemKind::Event,
            details: ItemDetails::default(),
        }
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn written(feed: &ParsedFeed) -> String {
        let mut out = Vec::new();
        feed.write_json(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn assert_as_serde_json(feed: &ParsedFeed) {
        assert_eq!(written(feed), serde_json::to_string(feed).unwrap());
    }

    fn with_summary(summary: &str) -> ParsedFeed {
        let span = Span::AllDay { start: day(2026, 12, 1), end: day(2026, 12, 2) };
        ParsedFeed {
            events: 1,
            busy: vec![item(summary, Some(summary), Some(summary), span)],
            skipped: vec![Skipped { uid: Some(summary.to_owned()), reason: summary.to_owned() }],
            ..ParsedFeed::default()
        }
    }

    #[test]
    fn an_empty_feed_is_written_as_serde_json_writes_it() {
        assert_as_serde_json(&ParsedFeed::default());
        assert_eq!(written(&ParsedFeed::default()), r#"{"events":0,"skipped":[],"busy":[]}"#);
    }

    #[test]
    fn a_truncated_feed_says_so_first() {
        let feed = ParsedFeed { truncated: true, events: 7, ..ParsedFeed::default() };
        assert_as_serde_json(&feed);
        assert!(written(&feed).starts_with(r#"{"truncated":true,"events":7,"#));
    }

    #[test]
    fn every_kind_of_item_and_span_is_written_as_serde_json_writes_it() {
        let start = Utc.with_ymd_and_hms(2026, 12, 1, 9, 30, 5).unwrap();
        let mut busy = vec![
            item(
                "a@x",
                Some("Reserved"),
                None,
                Span::AllDay { start: day(2026, 12, 1), end: day(2026, 12, 4) },
            ),
            item(
                "b@x",
                None,
                Some("20261201T093005Z"),
                Span::Timed { start, end: start + chrono::Duration::minutes(15) },
            ),
            item("", Some(""), Some(""), Span::Timed { start, end: start }),
            item("far", None, None, Span::AllDay { start: day(-5, 1, 1), end: day(12_000, 1, 1) }),
        ];
        busy[0].kind = ItemKind::Reservation;
        busy[1].kind = ItemKind::Block;
        let skipped = vec![
            Skipped { uid: None, reason: "the file is truncated".to_owned() },
            Skipped { uid: Some("c@x".to_owned()), reason: "cancelled".to_owned() },
        ];
        let feed = ParsedFeed { events: 123_456_789, skipped, busy, ..ParsedFeed::default() };
        assert_as_serde_json(&feed);
    }

    #[test]
    fn control_characters_quotes_and_backslashes_are_escaped_as_json_requires() {
        for text in [
            "say \"hi\"",
            "C:\\path\\",
            "line\nbreak\r\n\ttab",
            "\u{0}\u{1}\u{7}\u{8}\u{b}\u{c}\u{e}\u{1f} ",
            "\"",
            "\\",
            "\u{1f}",
            "12345678\"12345678\\1234567\n",
        ] {
            assert_as_serde_json(&with_summary(text));
        }
        assert!(written(&with_summary("a\u{1}\u{1b}b")).contains(r#""a\u0001\u001bb""#));
    }

    #[test]
    fn non_ascii_delete_and_line_separators_are_written_as_they_are() {
        for text in ["Réservé – 予約", "\u{7f}", "\u{2028}", "x\u{2029}y", "🏠🏠🏠🏠 stay", "é\"é"]
        {
            assert_as_serde_json(&with_summary(text));
        }
        assert!(written(&with_summary("\u{2028}")).contains("\"\u{2028}\""));
    }

    #[test]
    fn a_character_to_escape_is_found_at_every_place_in_a_word() {
        for special in ['"', '\\', '\n', '\u{0}', '\u{1f}'] {
            for len in 0..20 {
                for at in 0..=len {
                    let mut text: String = "abcdefghijklmnopqrst"[..len].to_owned();
                    text.insert(at, special);
                    assert_as_serde_json(&with_summary(&text));
                }
            }
        }
    }

    #[test]
    fn bytes_next_to_the_ones_to_escape_are_not_escaped() {
        // Around each class's bounds: 0x1F/0x20, 0x21/0x22/0x23, 0x5B/0x5C/0x5D, and high bytes.
        let text: String = (0u32..0x100).filter_map(char::from_u32).collect();
        assert_as_serde_json(&with_summary(&text));
        assert_as_serde_json(&with_summary(&text.repeat(3)[5..]));
    }

    #[test]
    fn a_feed_larger_than_a_block_is_written_whole() {
        let span = Span::AllDay { start: day(2026, 12, 1), end: day(2026, 12, 2) };
        let busy: Vec<BusyItem> = (0..5_000)
            .map(|i| item(&format!("uid-{i}\"@x"), Some("Reserved"), None, span))
            .collect();
        let feed = ParsedFeed { events: busy.len(), busy, ..ParsedFeed::default() };
        assert!(written(&feed).len() > 3 * CHUNK);
        assert_as_serde_json(&feed);
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_written_as_serde_json_writes_it(text in "\\PC*|[\\x00-\\x7f\u{2028}\u{2029}]*") {
            assert_as_serde_json(&with_summary(&text));
        }
    }
}
