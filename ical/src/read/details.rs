//! What a booking platform's event says about its reservation, read from its labelled text:
//! the code, the link, the last digits of the guest's phone, the number of guests.
//!
//! The texts are read as written (a DESCRIPTION keeps its escapes, `\n` ends a line), so that
//! nothing is copied but what is kept. What each platform writes is in `profiles::details`.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::lines::find_either;

/// What a booking platform's export says about a reservation, beyond its dates: only what the
/// feed carries, each field `None` when it does not (and then left out of the JSON).
///
/// The details are part of an item's content, like its summary: a platform that adds the phone
/// digits to a reservation it exported before has updated that reservation. They are never part
/// of its identity (its UID and recurrence id), so a change of details never turns an item into
/// another one.
///
/// Its texts are kept one after another in one allocation (none when it is empty): a feed of
/// 100 000 reservations holds 100 000 of these, not 300 000 strings.
#[derive(Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(from = "Fields<String>")]
pub struct ItemDetails {
    /// The code, the link and the phone digits that are there, in this order.
    text: Box<str>,
    /// The length of each of the three in `text`, [`ABSENT`] for one that is not there.
    lens: [u32; 3],
    guests: Option<u32>,
}

/// The length that says a text of [`ItemDetails`] is absent.
const ABSENT: u32 = u32::MAX;

/// The fields of [`ItemDetails`] one by one, as its JSON has them.
#[derive(Serialize, Deserialize)]
struct Fields<T> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reservation_code: Option<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reservation_url: Option<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phone_last_digits: Option<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    guests: Option<u32>,
}

impl From<Fields<String>> for ItemDetails {
    fn from(f: Fields<String>) -> Self {
        ItemDetails::new(
            f.reservation_code.as_deref(),
            f.reservation_url.as_deref(),
            f.phone_last_digits.as_deref(),
            f.guests,
        )
    }
}

impl Serialize for ItemDetails {
    /// `{"reservation_code", "reservation_url", "phone_last_digits", "guests"}`, each left out
    /// when absent.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Fields {
            reservation_code: self.reservation_code(),
            reservation_url: self.reservation_url(),
            phone_last_digits: self.phone_last_digits(),
            guests: self.guests,
        }
        .serialize(serializer)
    }
}

impl Default for ItemDetails {
    /// No details: the feed said nothing about the reservation.
    fn default() -> Self {
        ItemDetails { text: Box::default(), lens: [ABSENT; 3], guests: None }
    }
}

impl std::fmt::Debug for ItemDetails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemDetails")
            .field("reservation_code", &self.reservation_code())
            .field("reservation_url", &self.reservation_url())
            .field("phone_last_digits", &self.phone_last_digits())
            .field("guests", &self.guests)
            .finish()
    }
}

impl ItemDetails {
    /// The longest reservation code kept: a longer value is no platform's code, and a hostile
    /// feed must not store megabytes.
    pub const MAX_CODE_LEN: usize = 64;
    /// The longest reservation link kept.
    pub const MAX_URL_LEN: usize = 512;

    /// Details as given: the platform's code of the reservation (Airbnb's `HMABCDEF12`, a
    /// Booking.com number, VRBO's `HA-ABC123`), the https link to it on the platform's own
    /// site, the last digits of the guest's phone number, how many guests it is for. The
    /// reader keeps a code of at most [`ItemDetails::MAX_CODE_LEN`] characters, a link of at
    /// most [`ItemDetails::MAX_URL_LEN`] and at most four digits; this takes what it is given.
    ///
    /// # Panics
    ///
    /// When a text is 4 GiB long or longer.
    pub fn new(
        reservation_code: Option<&str>,
        reservation_url: Option<&str>,
        phone_last_digits: Option<&str>,
        guests: Option<u32>,
    ) -> Self {
        let texts = [reservation_code, reservation_url, phone_last_digits];
        let len = |t: Option<&str>| {
            t.map_or(ABSENT, |t| {
                u32::try_from(t.len()).ok().filter(|&n| n != ABSENT).expect("a text under 4 GiB")
            })
        };
        let lens = texts.map(len);
        let mut text = String::with_capacity(texts.iter().flatten().map(|t| t.len()).sum());
        texts.iter().flatten().for_each(|t| text.push_str(t));
        ItemDetails { text: text.into_boxed_str(), lens, guests }
    }

    /// The `k`th text: 0 the code, 1 the link, 2 the phone digits.
    fn nth(&self, k: usize) -> Option<&str> {
        if self.lens[k] == ABSENT {
            return None;
        }
        let start: usize =
            self.lens[..k].iter().filter(|&&n| n != ABSENT).map(|&n| n as usize).sum();
        self.text.get(start..start + self.lens[k] as usize)
    }

    /// The platform's code of the reservation (Airbnb's `HMABCDEF12`, a Booking.com number,
    /// VRBO's `HA-ABC123`), when the feed labels one or links the reservation by it; at most
    /// [`ItemDetails::MAX_CODE_LEN`] characters.
    pub fn reservation_code(&self) -> Option<&str> {
        self.nth(0)
    }

    /// The https link to the reservation on the platform's own site; at most
    /// [`ItemDetails::MAX_URL_LEN`] characters.
    pub fn reservation_url(&self) -> Option<&str> {
        self.nth(1)
    }

    /// The last digits of the guest's phone number (at most four, digits only): what the
    /// platform gives ("Phone Number (Last 4 Digits): 1234"), or the last four of a full number.
    pub fn phone_last_digits(&self) -> Option<&str> {
        self.nth(2)
    }

    /// How many guests the reservation is for, where the feed says it.
    pub fn guests(&self) -> Option<u32> {
        self.guests
    }

    /// Whether the feed said nothing about the reservation.
    pub fn is_empty(&self) -> bool {
        self.lens == [ABSENT; 3] && self.guests.is_none()
    }
}

/// Details as they are found in a text, one field at a time, before they are kept as
/// [`ItemDetails`]: what is kept as written is borrowed from the text.
#[derive(Default)]
pub(super) struct Found<'t> {
    pub reservation_code: Option<&'t str>,
    pub reservation_url: Option<Cow<'t, str>>,
    pub phone_last_digits: Option<Cow<'t, str>>,
    pub guests: Option<u32>,
}

impl Found<'_> {
    fn is_empty(&self) -> bool {
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
    pub exported: Option<for<'t> fn(&Shape, &'t str) -> Option<Found<'t>>>,
}

/// The details in `texts` (a SUMMARY, a DESCRIPTION as written): of each, the first found.
pub(super) fn read<'t>(shape: &Shape, texts: impl IntoIterator<Item = &'t str>) -> ItemDetails {
    let mut d = Found::default();
    for text in texts {
        if d.is_empty()
            && let Some(found) = shape.exported.and_then(|exported| exported(shape, text))
        {
            d = found;
            continue;
        }
        scan(shape, text, &mut d);
    }
    let url = d.reservation_url.as_deref();
    let code = d.reservation_code.or_else(|| url.and_then(|url| code_in_url(shape, url)));
    ItemDetails::new(code, url, d.phone_last_digits.as_deref(), d.guests)
}

/// The DESCRIPTION of a reservation as Airbnb's exporter writes it (escaped, unfolded):
/// `Reservation URL: https://www.airbnb.com/hosting/reservations/details/HMABCDEF12\nPhone
/// Number (Last 4 Digits): 1234`, with a code of letters and digits and four digits, and
/// nothing else. [`scan`] reads it as the link (labelled, on Airbnb's site), the phone digits,
/// and no labelled code ("Reservation URL" names none), and [`read`] then takes the code from
/// the link's last segment: this gives the same at a fraction of the cost, one comparison of
/// the text with its fixed parts. Most events of a large Airbnb feed are these.
pub(super) fn airbnb_export<'t>(shape: &Shape, text: &'t str) -> Option<Found<'t>> {
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
    Some(Found {
        reservation_code: is_code(shape, code).then_some(code),
        reservation_url: Some(Cow::Borrowed(url)),
        phone_last_digits: Some(Cow::Borrowed(digits)),
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
fn scan<'t>(shape: &Shape, text: &'t str, d: &mut Found<'t>) {
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
            b'p' if d.phone_last_digits.is_none() => {
                d.phone_last_digits = phone_digits(rest).map(Cow::Owned);
            }
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
fn labelled_code<'t>(shape: &Shape, text: &'t str) -> Option<&'t str> {
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
    (is_code(shape, code) && (qualified.is_some() || digits)).then_some(code)
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
fn reservation_url<'t>(
    shape: &Shape,
    link: &'t str,
    escapes: usize,
    labelled: impl FnOnce() -> bool,
) -> Option<Cow<'t, str>> {
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
    let url = if escapes > 0 {
        Cow::Owned(link.replace("\\,", ",").replace("\\;", ";"))
    } else {
        Cow::Borrowed(link)
    };
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
fn code_in_url<'u>(shape: &Shape, url: &'u str) -> Option<&'u str> {
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
    (linked && code_token(last) == Some(last) && is_code(shape, last)).then_some(last)
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
