//! What a booking platform's event says about its reservation, read from its labelled text:
//! the code, the link, the last digits of the guest's phone, the number of guests.
//!
//! The texts are read as written (a DESCRIPTION keeps its escapes, `\n` ends a line), so that
//! nothing is copied but what is kept. What each platform writes is in `profiles::details`.

use serde::{Deserialize, Serialize};

/// What a booking platform's export says about a reservation, beyond its dates: only what the
/// feed carries, each field `None` when it does not (and then left out of the JSON).
///
/// The details are part of an item's content, like its summary: a platform that adds the phone
/// digits to a reservation it exported before has updated that reservation. They are never part
/// of its identity (its UID and recurrence id), so a change of details never turns an item into
/// another one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ItemDetails {
    /// The platform's code of the reservation (Airbnb's `HMABCDEF12`, a Booking.com number,
    /// VRBO's `HA-ABC123`), when the feed labels one or links the reservation by it; at most
    /// [`ItemDetails::MAX_CODE_LEN`] characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation_code: Option<String>,
    /// The https link to the reservation on the platform's own site; at most
    /// [`ItemDetails::MAX_URL_LEN`] characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation_url: Option<String>,
    /// The last digits of the guest's phone number (at most four, digits only): what the
    /// platform gives ("Phone Number (Last 4 Digits): 1234"), or the last four of a full number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_last_digits: Option<String>,
    /// How many guests the reservation is for, where the feed says it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guests: Option<u32>,
}

impl ItemDetails {
    /// The longest reservation code kept: a longer value is no platform's code, and a hostile
    /// feed must not store megabytes.
    pub const MAX_CODE_LEN: usize = 64;
    /// The longest reservation link kept.
    pub const MAX_URL_LEN: usize = 512;

    /// Whether the feed said nothing about the reservation.
    pub fn is_empty(&self) -> bool {
        self.reservation_code.is_none()
            && self.reservation_url.is_none()
            && self.phone_last_digits.is_none()
            && self.guests.is_none()
    }
}

/// How one platform writes its details.
pub(super) struct Shape {
    /// Whether a host (as written in a link, any case) is the platform's own.
    pub own_host: fn(&str) -> bool,
    /// Whether its reservation codes are numbers (Booking.com).
    pub numeric_codes: bool,
}

/// The details in `texts` (a SUMMARY, a DESCRIPTION as written): of each, the first found.
///
/// One pass over the words of each line: a label is looked for only where a word starts with
/// its first letter, and the text of a link is never read as labels (reading a feed of 100 000
/// reservations must cost little more than reading their dates).
pub(super) fn read<'t>(shape: &Shape, texts: impl IntoIterator<Item = &'t str>) -> ItemDetails {
    let mut d = ItemDetails::default();
    for line in texts.into_iter().flat_map(lines) {
        let bytes = line.as_bytes();
        // Where the line first names a reservation, found once whatever the number of links.
        let mut mention: Option<Option<usize>> = None;
        let mut at = 0;
        while at < bytes.len() {
            if !bytes[at].is_ascii_alphanumeric()
                || (at > 0 && bytes[at - 1].is_ascii_alphanumeric())
            {
                at += 1;
                continue;
            }
            let rest = &line[at..];
            match bytes[at].to_ascii_lowercase() {
                b'h' if starts_with_ignore_case(rest, "http") => {
                    let len = link_len(rest);
                    if d.reservation_url.is_none() {
                        let says = || {
                            let first = *mention.get_or_insert_with(|| first_mention(line));
                            first.is_some_and(|m| m < at)
                        };
                        d.reservation_url = reservation_url(shape, &rest[..len], says);
                    }
                    at += len.max(1);
                    continue;
                }
                b'r' | b'c' | b'b' if d.reservation_code.is_none() => {
                    d.reservation_code = labelled_code(shape, rest);
                }
                b'p' if d.phone_last_digits.is_none() => d.phone_last_digits = phone_digits(rest),
                b'g' if d.guests.is_none() => d.guests = guests(line, at),
                _ => {}
            }
            at += 1;
        }
    }
    if d.reservation_code.is_none() {
        d.reservation_code = d.reservation_url.as_deref().and_then(|url| code_in_url(shape, url));
    }
    d
}

/// The lines of a text: split at line ends, and at the escaped line ends (`\n`, `\N`) of a
/// value as written.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let text = rest?;
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match (bytes[i], bytes.get(i + 1)) {
                (b'\n' | b'\r', _) => {
                    rest = Some(&text[i + 1..]);
                    return Some(&text[..i]);
                }
                (b'\\', Some(b'n' | b'N')) => {
                    rest = Some(&text[i + 2..]);
                    return Some(&text[..i]);
                }
                // An escaped character (`\,`, `\\`) never ends a line.
                (b'\\', _) => i += 2,
                _ => i += 1,
            }
        }
        rest = None;
        Some(text)
    })
}

/// Whether `text` starts with `prefix` (ASCII), case ignored.
fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// The length of `word` at the start of `text` when it stands there as a word (no letter or
/// digit follows it), case ignored.
fn word_at(text: &str, word: &str) -> Option<usize> {
    let next = text.as_bytes().get(word.len());
    (starts_with_ignore_case(text, word) && !next.is_some_and(u8::is_ascii_alphanumeric))
        .then_some(word.len())
}

/// What follows a label: its separators (blanks, `:`, `#`, `=`, `.`) skipped.
fn value_after(text: &str) -> &str {
    text.trim_start_matches([' ', '\t', ':', '#', '=', '.'])
}

/// Labels a reservation code follows, each before the shorter ones it starts with. The word
/// "reservation" alone needs a code with a digit ("Reservation URL: …" names no code).
const CODE_LABELS: [&str; 10] = [
    "reservation id",
    "reservation code",
    "reservation number",
    "reservation no",
    "reservation",
    "confirmation code",
    "confirmation number",
    "booking id",
    "booking number",
    "booking reference",
];

/// The code labelled at the start of `text` ("Reservation ID: HA-ABC123", "Booking ID:
/// 1234567890", "Reservation 1234567890").
fn labelled_code(shape: &Shape, text: &str) -> Option<String> {
    let label = CODE_LABELS.iter().find(|&&label| word_at(text, label).is_some())?;
    let code = code_token(value_after(&text[label.len()..]))?;
    let bare = *label == "reservation";
    let fits = is_code(shape, code) && (!bare || code.bytes().any(|b| b.is_ascii_digit()));
    fits.then(|| code.to_owned())
}

/// The code at the start of `value`: letters, digits, `-` and `_`; `None` when there is none
/// or it is longer than a code can be.
fn code_token(value: &str) -> Option<&str> {
    let len = value
        .bytes()
        .take(ItemDetails::MAX_CODE_LEN + 1)
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        .count();
    (len > 0 && len <= ItemDetails::MAX_CODE_LEN).then(|| &value[..len])
}

/// Whether a token is a platform's code rather than a word: at least 4 characters, numbers
/// only for Booking.com, else with a digit or in capitals (Airbnb's `HMMTAEZPCA`).
fn is_code(shape: &Shape, code: &str) -> bool {
    let bytes = code.as_bytes();
    let digits = bytes.iter().any(u8::is_ascii_digit);
    if bytes.len() < 4 || !bytes.iter().any(u8::is_ascii_alphanumeric) {
        return false;
    }
    if shape.numeric_codes {
        return bytes.iter().all(u8::is_ascii_digit);
    }
    digits || (bytes.len() >= 5 && !bytes.iter().any(u8::is_ascii_lowercase))
}

/// The length of the link at the start of `text`, as written: the characters of a URI, and
/// the escaped `\,` and `\;` of a value.
fn link_len(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1)) {
            (b'\\', Some(b',' | b';')) => i += 2,
            (b, _) if b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b) => {
                i += 1
            }
            _ => break,
        }
    }
    i
}

/// The link (as written, see [`link_len`]) kept as the reservation's: https, on the platform's
/// own site, not longer than kept, and a reservation's by its path or its label (`labelled`:
/// "Reservation URL: …" before it on its line). Unescaped, without the punctuation that ends a
/// sentence.
fn reservation_url(shape: &Shape, link: &str, labelled: impl FnOnce() -> bool) -> Option<String> {
    let link = link.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '\'']);
    let link = link.strip_suffix('\\').unwrap_or(link);
    if !starts_with_ignore_case(link, "https://") {
        return None;
    }
    let (host, path) = host_and_path(link)?;
    if !(shape.own_host)(host) || !(first_mention(path).is_some() || labelled()) {
        return None;
    }
    let url: String = link.replace("\\,", ",").replace("\\;", ";");
    (url.len() <= ItemDetails::MAX_URL_LEN).then_some(url)
}

/// The host and the path (query and fragment left out) of an https link; `None` when its
/// authority is anything but a host name and a port (a user name can make a link look like
/// another site's: `https://www.airbnb.com@example.com/`).
fn host_and_path(url: &str) -> Option<(&str, &str)> {
    let rest = url.get("https://".len()..)?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(end);
    let (host, port) = authority.split_once(':').unwrap_or((authority, "0"));
    let host_ok = host.split('.').all(|label| {
        !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    let port_ok = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    let path = &after[..after.find(['?', '#']).unwrap_or(after.len())];
    (host_ok && port_ok).then_some((host, path))
}

/// The reservation code a reservation link ends with (Airbnb's
/// `…/hosting/reservations/details/HMABCDEF12`): its last segment, when a segment before it
/// names reservations.
fn code_in_url(shape: &Shape, url: &str) -> Option<String> {
    let (_, path) = host_and_path(url)?;
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    let last = segments.next_back()?;
    let linked = segments.any(|s| starts_with_ignore_case(s, "reservation"));
    (linked && code_token(last) == Some(last) && is_code(shape, last)).then(|| last.to_owned())
}

/// How far after the word "phone" its label may end with a colon.
const PHONE_LABEL_LEN: usize = 40;

/// The last four digits (or fewer, as given) of a phone number labelled at the start of
/// `text`: "Phone Number (Last 4 Digits): 1234", "PHONE: +1 555 123 4567". Nothing else of the
/// line is read.
fn phone_digits(text: &str) -> Option<String> {
    let rest = &text[word_at(text, "phone")?..];
    // The label's own words ("Number (Last 4 Digits)") end at a colon close by.
    let colon = rest.bytes().take(PHONE_LABEL_LEN).position(|b| b == b':');
    let value = colon.map_or(rest, |at| &rest[at + 1..]);
    let mut last = [0u8; 4];
    let mut count = 0usize;
    for b in value.trim_start().bytes() {
        match b {
            b'0'..=b'9' => {
                last.rotate_left(1);
                last[3] = b;
                count += 1;
            }
            b' ' | b'\t' | b'+' | b'-' | b'(' | b')' | b'.' | b'/' => {}
            _ => break,
        }
    }
    let kept = &last[4 - count.min(4)..];
    (count > 0).then(|| kept.iter().map(|&b| char::from(b)).collect())
}

/// The number of guests labelled by the word at `at` in `line`: "Guests: 2", "NUMBER OF
/// GUESTS: 2", "2 guests".
fn guests(line: &str, at: usize) -> Option<u32> {
    let rest = &line[at..];
    let len = word_at(rest, "guests").or_else(|| word_at(rest, "guest"))?;
    let after = rest[len..].trim_start_matches([' ', '\t', ':', '=']);
    let digits_after = after.bytes().take_while(u8::is_ascii_digit).count();
    let before = line[..at].trim_end_matches([' ', '\t']);
    let digits_before = before.bytes().rev().take_while(u8::is_ascii_digit).count();
    count(&after[..digits_after]).or_else(|| count(&before[before.len() - digits_before..]))
}

/// A count of guests: 1 to 9999.
fn count(digits: &str) -> Option<u32> {
    let n: u32 = digits.parse().ok().filter(|_| digits.len() <= 4)?;
    (n > 0).then_some(n)
}

/// Where a text first speaks of a reservation or a booking.
fn first_mention(text: &str) -> Option<usize> {
    let reservation = find_ignore_case(text, "reserv");
    let booking = find_ignore_case(text, "booking");
    reservation.into_iter().chain(booking).min()
}

/// Where `needle` (ASCII) first occurs in `haystack`, case ignored.
fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    h.windows(n.len()).position(|w| w.eq_ignore_ascii_case(n))
}
