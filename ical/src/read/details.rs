//! What a booking platform's event says about its reservation, read from its labelled text:
//! the code, the link, the last digits of the guest's phone, the number of guests.
//!
//! The texts are read as written (a DESCRIPTION keeps its escapes, `\n` ends a line), so that
//! nothing is copied but what is kept. What each platform writes is in `profiles::details`.

use serde::{Deserialize, Serialize};

use super::lines::find_either;

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
    /// The details of a text exactly as the platform's own exporter writes it, read without
    /// [`scan`] (`None` when the text is any other: [`scan`] reads it). What it gives must be
    /// what [`scan`] gives for the same text; a property test compares both.
    pub exported: Option<fn(&Shape, &str) -> Option<ItemDetails>>,
}

/// The details in `texts` (a SUMMARY, a DESCRIPTION as written): of each, the first found.
pub(super) fn read<'t>(shape: &Shape, texts: impl IntoIterator<Item = &'t str>) -> ItemDetails {
    let mut d = ItemDetails::default();
    for text in texts {
        if d.is_empty()
            && let Some(found) = shape.exported.and_then(|exported| exported(shape, text))
        {
            d = found;
            continue;
        }
        scan(shape, text, &mut d);
    }
    if d.reservation_code.is_none() {
        d.reservation_code = d.reservation_url.as_deref().and_then(|url| code_in_url(shape, url));
    }
    d
}

/// The DESCRIPTION of a reservation as Airbnb's exporter writes it (escaped, unfolded):
/// `Reservation URL: https://www.airbnb.com/hosting/reservations/details/HMABCDEF12\nPhone
/// Number (Last 4 Digits): 1234`, with a code of letters and digits and four digits, and
/// nothing else. [`scan`] reads it as the link (labelled, on Airbnb's site), the phone digits,
/// and no labelled code ("Reservation URL" names none), and [`read`] then takes the code from
/// the link's last segment: this gives the same at a fraction of the cost, one comparison of
/// the text with its fixed parts. Most events of a large Airbnb feed are these.
pub(super) fn airbnb_export(shape: &Shape, text: &str) -> Option<ItemDetails> {
    const LINK: &str = "Reservation URL: https://www.airbnb.com/hosting/reservations/details/";
    const PHONE: &str = "\\nPhone Number (Last 4 Digits): ";
    let rest = text.strip_prefix(LINK)?;
    let code_len = rest.bytes().take_while(u8::is_ascii_alphanumeric).count();
    let (code, rest) = rest.split_at(code_len);
    let digits = rest.strip_prefix(PHONE)?;
    if code.is_empty() || code.len() > ItemDetails::MAX_CODE_LEN {
        return None;
    }
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let url = &text["Reservation URL: ".len()..LINK.len() + code.len()];
    Some(ItemDetails {
        reservation_code: is_code(shape, code).then(|| code.to_owned()),
        reservation_url: Some(url.to_owned()),
        phone_last_digits: Some(digits.to_owned()),
        guests: None,
    })
}

/// The bytes [`scan`] stops at: the first letters of what it looks for (a link, a code's label,
/// "phone", "guests"), and line ends (`\n` as written, or a real one).
static STOPS: [bool; 256] = {
    let mut stops = [false; 256];
    let letters = b"hrcbpgHRCBPG\\\n\r";
    let mut i = 0;
    while i < letters.len() {
        stops[letters[i] as usize] = true;
        i += 1;
    }
    stops
};

/// Reads what `text` says into `d`, where `d` does not know it yet.
///
/// One pass over the text: it stops only where a word starts with the first letter of a label
/// or a link, the text of a link is never read as labels, and what is found is read no further
/// than its line (escaped line ends start with `\`, where every value stops). Reading a feed
/// of 100 000 reservations must cost little more than reading their dates.
fn scan(shape: &Shape, text: &str, d: &mut ItemDetails) {
    let bytes = text.as_bytes();
    // The line's start; whether it names a reservation before `read_to`, up to which it was read.
    let (mut line, mut mention, mut read_to) = (0, false, 0);
    let mut at = 0;
    while let Some(step) = bytes[at..].iter().position(|&b| STOPS[usize::from(b)]) {
        at += step;
        let escaped = bytes[at] == b'\\';
        if escaped || bytes[at] == b'\n' || bytes[at] == b'\r' {
            let next = bytes.get(at + 1).copied().filter(u8::is_ascii);
            let ends = !escaped || matches!(next, Some(b'n' | b'N'));
            // An escape takes the (ASCII) character after it along: `\\` escapes no stop.
            at += if escaped && next.is_some() { 2 } else { 1 };
            if ends {
                (line, mention, read_to) = (at, false, at);
            }
            continue;
        }
        if at > line && bytes[at - 1].is_ascii_alphanumeric() {
            at += 1;
            continue;
        }
        let rest = &text[at..];
        match bytes[at] | 0x20 {
            b'h' if starts_with_ignore_case(rest, "http") => {
                let (len, escapes) = link_len(rest);
                if d.reservation_url.is_none() {
                    let labelled = || {
                        mention = mention || mentions_booking(&text[read_to..at]);
                        read_to = at;
                        mention
                    };
                    d.reservation_url = reservation_url(shape, &rest[..len], escapes, labelled);
                }
                at += len.max(1);
                continue;
            }
            b'r' | b'c' | b'b' if d.reservation_code.is_none() => {
                d.reservation_code = labelled_code(shape, rest);
            }
            b'p' if d.phone_last_digits.is_none() => d.phone_last_digits = phone_digits(rest),
            b'g' if d.guests.is_none() => d.guests = guests(&text[line..], at - line),
            _ => {}
        }
        at += 1;
    }
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

/// The words a reservation code follows, each with the words that may qualify it. The word
/// "reservation" alone needs a code with a digit ("Reservation URL: …" names no code).
const CODE_LABELS: [(&str, &[&str]); 3] = [
    ("reservation", &["id", "code", "number", "no"]),
    ("confirmation", &["code", "number"]),
    ("booking", &["id", "number", "reference"]),
];

/// The code labelled at the start of `text` ("Reservation ID: HA-ABC123", "Booking ID:
/// 1234567890", "Reservation 1234567890").
fn labelled_code(shape: &Shape, text: &str) -> Option<String> {
    let &(word, qualifiers) = CODE_LABELS.iter().find(|(word, _)| word_at(text, word).is_some())?;
    let after = &text[word.len()..];
    let qualified = after
        .strip_prefix(' ')
        .and_then(|next| qualifiers.iter().find_map(|q| word_at(next, q).map(|len| &next[len..])));
    if qualified.is_none() && word != "reservation" {
        return None;
    }
    let code = code_token(value_after(qualified.unwrap_or(after)))?;
    let digits = code.bytes().any(|b| b.is_ascii_digit());
    (is_code(shape, code) && (qualified.is_some() || digits)).then(|| code.to_owned())
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

/// The length of the link at the start of `text`, as written (the characters of a URI, and the
/// escaped `\\,` and `\\;` of a value), and how many escapes it holds.
fn link_len(text: &str) -> (usize, usize) {
    let bytes = text.as_bytes();
    let (mut i, mut escapes) = (0, 0);
    while let Some(&b) = bytes.get(i) {
        if URI[usize::from(b)] {
            i += 1;
        } else if b == b'\\' && matches!(bytes.get(i + 1), Some(b',' | b';')) {
            i += 2;
            escapes += 1;
        } else {
            break;
        }
    }
    (i, escapes)
}

/// The bytes of a URI (RFC 3986: unreserved, reserved, `%`).
static URI: [bool; 256] = {
    let mut uri = [false; 256];
    let marks = b"-._~:/?#[]@!$&'()*+,;=%";
    let mut b = 0;
    while b < 256 {
        uri[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < marks.len() {
        uri[marks[i] as usize] = true;
        i += 1;
    }
    uri
};

/// The link (as written, see [`link_len`], with `escapes` in it) kept as the reservation's:
/// https, on the platform's own site, not longer than kept, and a reservation's by its path or
/// its label (`labelled`: "Reservation URL: …" before it on its line). Unescaped, without the
/// punctuation that ends a sentence.
fn reservation_url(
    shape: &Shape,
    link: &str,
    escapes: usize,
    labelled: impl FnOnce() -> bool,
) -> Option<String> {
    let link = link.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '\'']);
    let link = link.strip_suffix('\\').unwrap_or(link);
    if !starts_with_ignore_case(link, "https://") || link.len() > ItemDetails::MAX_URL_LEN + escapes
    {
        return None;
    }
    let (host, after_host) = host_and_path(link)?;
    if !(shape.own_host)(host) || !(labelled() || mentions_booking(path(after_host))) {
        return None;
    }
    let url =
        if escapes > 0 { link.replace("\\,", ",").replace("\\;", ";") } else { link.to_owned() };
    (url.len() <= ItemDetails::MAX_URL_LEN).then_some(url)
}

/// The host of an https link and what follows it (see [`path`]); `None` when its authority is
/// anything but a host name and a port (a user name can make a link look like another site's:
/// `https://www.airbnb.com@example.com/`).
fn host_and_path(url: &str) -> Option<(&str, &str)> {
    let rest = url.get("https://".len()..)?;
    let end = rest.bytes().position(|b| matches!(b, b'/' | b'?' | b'#')).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(end);
    let colon = authority.bytes().position(|b| b == b':');
    let (host, port) =
        colon.map_or((authority, "0"), |at| (&authority[..at], &authority[at + 1..]));
    let names = host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    // No empty label: `..`, or a dot first or last.
    let labels = !host.starts_with('.') && !host.ends_with('.');
    let host_ok = names && labels && !host.as_bytes().windows(2).any(|w| w == b"..");
    let port_ok = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    (host_ok && port_ok).then_some((host, after))
}

/// The path of what follows a link's host: its query and fragment left out.
fn path(after_host: &str) -> &str {
    &after_host[..find_either(after_host.as_bytes(), b'?', b'#').unwrap_or(after_host.len())]
}

/// The reservation code a reservation link ends with (Airbnb's
/// `…/hosting/reservations/details/HMABCDEF12`): its last segment, when a segment before it
/// names reservations.
fn code_in_url(shape: &Shape, url: &str) -> Option<String> {
    // A kept link: its host was read when it was kept.
    let after_host = url.get("https://".len()..)?;
    let ends = |b: u8| b == b'?' || b == b'#';
    let path = path(&after_host[after_host.bytes().position(|b| b == b'/' || ends(b))?..]);
    // The last segment that is not empty, and those before it, cut at bytes: `str::split`
    // with a char runs a general searcher.
    let path = path.trim_end_matches('/');
    let slash = path.bytes().rposition(|b| b == b'/')?;
    let last = &path[slash + 1..];
    let label = b"reservation";
    let linked = path.as_bytes()[..slash]
        .split(|&b| b == b'/')
        .any(|s| s.get(..label.len()).is_some_and(|head| head.eq_ignore_ascii_case(label)));
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
    let mut label = rest.bytes().take(PHONE_LABEL_LEN).take_while(|b| !b"\\\r\n".contains(b));
    let colon = label.position(|b| b == b':');
    let value = colon.map_or(rest, |at| &rest[at + 1..]);
    // The last four digits, in the low bytes of `last`, the latest lowest.
    let mut last = 0u32;
    let mut count = 0usize;
    for b in value.trim_start().bytes() {
        match b {
            b'0'..=b'9' => {
                last = (last << 8) | u32::from(b);
                count += 1;
            }
            b' ' | b'\t' | b'+' | b'-' | b'(' | b')' | b'.' | b'/' => {}
            _ => break,
        }
    }
    let kept = &last.to_be_bytes()[4 - count.min(4)..];
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

/// Whether a text speaks of a reservation or a booking.
fn mentions_booking(text: &str) -> bool {
    find_ignore_case(text, "reserv").is_some() || find_ignore_case(text, "booking").is_some()
}

/// Where `needle` (ASCII, lower case) first occurs in `haystack`, case ignored.
fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    let first = *n.first()?;
    let last = h.len().checked_sub(n.len())?;
    (0..=last).find(|&i| h[i] | 0x20 == first && h[i..i + n.len()].eq_ignore_ascii_case(n))
}
