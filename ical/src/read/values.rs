//! DATE, DATE-TIME and DURATION values, read tolerantly.

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};

/// A DATE or DATE-TIME as written, before any zone is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Written {
    /// `YYYYMMDD`.
    Date(NaiveDate),
    /// `YYYYMMDDTHHMMSS`, local to the TZID (or floating without one).
    Local(NaiveDateTime),
    /// `YYYYMMDDTHHMMSSZ` (or with a numeric offset, already applied).
    Utc(NaiveDateTime),
}

/// Reads `YYYYMMDD`, `YYYYMMDDTHHMM[SS][Z]`, their ISO 8601 extended forms
/// (`2020-06-09T09:00:00Z`), fractional seconds, and a trailing `±HH[:MM]` offset.
/// `date_only` (from `VALUE=DATE`) keeps only the date of a date-time.
pub(super) fn parse_written(raw: &str, date_only: bool) -> Option<Written> {
    let s = super::lines::trim(raw).as_bytes();
    let (date, mut i) = read_date(s)?;
    let saw_t = matches!(s.get(i), Some(b'T' | b't' | b' '));
    if saw_t {
        i += 1;
    }
    if !saw_t || date_only {
        // Trailing text after a bare date is tolerated only when it is a time we ignore.
        return if saw_t || i == s.len() { Some(Written::Date(date)) } else { None };
    }
    let (clock, i) = read_clock(s, i);
    let Some((hour, minute, second)) = clock.hms else {
        return if clock.digits == 0 && i == s.len() { Some(Written::Date(date)) } else { None };
    };
    let (date, hour) =
        if hour == 24 && minute == 0 && second == 0 { (date.succ_opt()?, 0) } else { (date, hour) };
    let local = NaiveDateTime::new(date, NaiveTime::from_hms_opt(hour, minute, second)?);
    match &s[i..] {
        [] => Some(Written::Local(local)),
        [b'Z' | b'z'] => Some(Written::Utc(local)),
        [sign @ (b'+' | b'-'), tail @ ..] => {
            let offset = read_offset(tail)?;
            let offset = if *sign == b'-' { -offset } else { offset };
            Some(Written::Utc(local - Duration::seconds(offset)))
        }
        _ => None,
    }
}

/// The date at the start of `s` (8 digits, `-` allowed between them), and where it ends.
fn read_date(s: &[u8]) -> Option<(NaiveDate, usize)> {
    let mut digits = [0u8; 8];
    let (mut n, mut i) = (0, 0);
    while i < s.len() && n < 8 {
        match s[i] {
            b'0'..=b'9' => {
                digits[n] = s[i] - b'0';
                n += 1;
            }
            b'-' if n > 0 => {}
            _ => return None,
        }
        i += 1;
    }
    if n < 8 {
        return None;
    }
    let year = i32::from(digits[0]) * 1000
        + i32::from(digits[1]) * 100
        + i32::from(digits[2]) * 10
        + i32::from(digits[3]);
    let month = u32::from(digits[4] * 10 + digits[5]);
    let day = u32::from(digits[6] * 10 + digits[7]);
    Some((NaiveDate::from_ymd_opt(year, month, day)?, i))
}

/// A time of day as written.
struct Clock {
    /// Hours, minutes and seconds (a leap second read as 59), when it has four or six digits.
    hms: Option<(u32, u32, u32)>,
    /// How many digits it has (at most six are read).
    digits: usize,
}

/// The time of day from `s[i..]` (digits, `:` allowed between them) and where it ends, after
/// any fraction of a second (which is dropped).
fn read_clock(s: &[u8], mut i: usize) -> (Clock, usize) {
    let mut digits = [0u8; 6];
    let mut n = 0;
    while i < s.len() && n < 6 {
        match s[i] {
            b'0'..=b'9' => {
                digits[n] = s[i] - b'0';
                n += 1;
            }
            b':' => {}
            _ => break,
        }
        i += 1;
    }
    let two = |k: usize| u32::from(digits[k] * 10 + digits[k + 1]);
    let hms = match n {
        4 => Some((two(0), two(2), 0)),
        6 => Some((two(0), two(2), two(4).min(59))),
        _ => None,
    };
    let clock = Clock { hms, digits: n };
    if clock.hms.is_some() && i < s.len() && (s[i] == b'.' || s[i] == b',') {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
    }
    (clock, i)
}

/// The seconds of a UTC offset after its sign: `HH`, `HHMM` or `HH:MM`.
fn read_offset(tail: &[u8]) -> Option<i64> {
    let mut d = [0u32; 4];
    let mut k = 0;
    for &b in tail {
        match b {
            b'0'..=b'9' if k < 4 => {
                d[k] = u32::from(b - b'0');
                k += 1;
            }
            b':' => {}
            _ => return None,
        }
    }
    if k != 2 && k != 4 {
        return None;
    }
    Some(i64::from((d[0] * 10 + d[1]) * 3600 + (d[2] * 10 + d[3]) * 60))
}

/// Reads an RFC 5545 DURATION (`P1D`, `PT86400S`, `-PT15M`, `P1W`, `P1DT2H`). Negative
/// durations come back negative; the caller decides what they mean.
pub(super) fn parse_duration(raw: &str) -> Option<Duration> {
    let s = raw.trim();
    let (negative, s) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let s = s.strip_prefix(['P', 'p'])?;
    let mut total: i64 = 0;
    let mut number: Option<i64> = None;
    let mut in_time = false;
    let mut any = false;
    for b in s.bytes() {
        match b {
            b'0'..=b'9' => {
                let d = i64::from(b - b'0');
                number = Some(number.unwrap_or(0).checked_mul(10)?.checked_add(d)?);
            }
            b'T' | b't' => in_time = true,
            _ => {
                let unit = match (b.to_ascii_uppercase(), in_time) {
                    (b'W', _) => 7 * 86_400,
                    (b'D', _) => 86_400,
                    (b'H', true) => 3_600,
                    (b'M', true) => 60,
                    (b'S', true) => 1,
                    _ => return None,
                };
                total = total.checked_add(number.take()?.checked_mul(unit)?)?;
                any = true;
            }
        }
    }
    if !any || number.is_some() {
        return None;
    }
    // Bounded to a century: longer is a typo, and chrono would overflow.
    let total = total.min(100 * 366 * 86_400);
    Some(Duration::seconds(if negative { -total } else { total }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn dates_date_times_and_their_odd_spellings_are_read() {
        assert_eq!(parse_written("20050116", false), Some(Written::Date(date(2005, 1, 16))));
        let t = date(2020, 6, 9).and_hms_opt(9, 0, 0).unwrap();
        assert_eq!(parse_written("20200609T090000", false), Some(Written::Local(t)));
        assert_eq!(parse_written("20200609T090000Z", false), Some(Written::Utc(t)));
        assert_eq!(parse_written("2020-06-09T09:00:00Z", false), Some(Written::Utc(t)));
        assert_eq!(parse_written("20200609T0900", false), Some(Written::Local(t)));
        assert_eq!(parse_written("20200609T110000+0200", false), Some(Written::Utc(t)));
        assert_eq!(parse_written("20200609T090000", true), Some(Written::Date(date(2020, 6, 9))));
        assert_eq!(parse_written("-0011130T100000", false), None);
        assert_eq!(parse_written("", false), None);
        assert_eq!(parse_written("20201332", false), None);
    }

    #[test]
    fn durations_of_every_unit_are_read() {
        assert_eq!(parse_duration("PT86400S"), Some(Duration::days(1)));
        assert_eq!(parse_duration("P1D"), Some(Duration::days(1)));
        assert_eq!(parse_duration("P1W"), Some(Duration::days(7)));
        assert_eq!(parse_duration("-P0DT0H10M0S"), Some(Duration::minutes(-10)));
        assert_eq!(parse_duration("P1DT2H"), Some(Duration::hours(26)));
        assert_eq!(parse_duration("P"), None);
        assert_eq!(parse_duration("1D"), None);
    }
}
