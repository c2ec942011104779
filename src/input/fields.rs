//! Parsing of submitted fields into domain values, collecting every problem instead of stopping
//! at the first, so a host (or a person at a form) sees all that is wrong at once.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use kalends_core::domain::{BookingSpan, Email, SpanError, TimeZone};

use super::FieldError;

/// The first year a date or time in a request may fall in. Every date and instant the API accepts
/// is checked here, once, so nothing downstream (window arithmetic, time-zone rules, feeds) ever
/// computes with a year far from the present.
pub const FIRST_YEAR: i32 = 1900;
/// The last year a date or time in a request may fall in.
pub const LAST_YEAR: i32 = 2200;

/// A point a window starts or ends at, as a request gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// A calendar day: midnight in the zone the window is read in.
    Day(NaiveDate),
    /// An exact instant.
    Instant(DateTime<Utc>),
}

/// Collects field problems while a request is turned into domain values.
#[derive(Debug, Default)]
pub struct Checker {
    /// Problems so far.
    pub errors: Vec<FieldError>,
}

impl Checker {
    /// Records a problem.
    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// A required, non-blank text of at most `max` characters, trimmed.
    pub fn text(&mut self, field: &str, value: &str, max: usize) -> String {
        let value = value.trim();
        if value.is_empty() {
            self.fail(field, "must not be empty");
        } else {
            self.readable(field, value, max);
        }
        value.to_owned()
    }

    /// An optional text: blank becomes absent.
    pub fn optional_text(
        &mut self,
        field: &str,
        value: Option<&str>,
        max: usize,
    ) -> Option<String> {
        let value = value.map(str::trim).filter(|v| !v.is_empty())?;
        self.readable(field, value, max);
        Some(value.to_owned())
    }

    /// Whether `value` is at most `max` characters without control characters other than tab
    /// and line breaks (none is readable anywhere Kalends shows text, and PostgreSQL refuses
    /// NUL: refused here, the same on both databases); records the problem when it is not.
    fn readable(&mut self, field: &str, value: &str, max: usize) {
        if value.chars().count() > max {
            self.fail(field, format!("must be at most {max} characters"));
        } else if value.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
            self.fail(
                field,
                "must not contain control characters (other than tabs and line breaks)",
            );
        }
    }

    /// An instant with an explicit offset (RFC 3339), in the supported years.
    pub fn instant(&mut self, field: &str, value: &str) -> Option<DateTime<Utc>> {
        match DateTime::parse_from_rfc3339(value.trim()) {
            // The year as written: the one the host sees in its own request.
            Ok(t) => self.supported(field, value, t.year()).then(|| t.with_timezone(&Utc)),
            Err(_) => {
                self.fail(field, format!("{value:?} is not an RFC 3339 time with offset, e.g. 2025-03-01T15:00:00+02:00"));
                None
            }
        }
    }

    /// A calendar date `YYYY-MM-DD` that exists (2025-02-30 does not), in the supported years.
    pub fn date(&mut self, field: &str, value: &str) -> Option<NaiveDate> {
        match NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d") {
            Ok(d) if value.trim().len() == 10 => {
                self.supported(field, value, d.year()).then_some(d)
            }
            _ => {
                self.fail(field, format!("{value:?} is not a valid date (YYYY-MM-DD)"));
                None
            }
        }
    }

    /// A calendar date `YYYY-MM-DD` or else an RFC 3339 instant, in the supported years.
    pub fn date_or_instant(&mut self, field: &str, value: &str) -> Option<When> {
        match NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d") {
            Ok(d) => self.supported(field, value, d.year()).then_some(When::Day(d)),
            Err(_) => self.instant(field, value).map(When::Instant),
        }
    }

    /// Whether `year` is one the API accepts; records the problem when it is not.
    fn supported(&mut self, field: &str, value: &str, year: i32) -> bool {
        let ok = (FIRST_YEAR..=LAST_YEAR).contains(&year);
        if !ok {
            self.fail(
                field,
                format!("{value:?} is outside the supported years {FIRST_YEAR} to {LAST_YEAR}"),
            );
        }
        ok
    }

    /// An IANA zone.
    pub fn zone(&mut self, field: &str, value: &str) -> Option<TimeZone> {
        value.trim().parse().map_err(|e: String| self.fail(field, e)).ok()
    }

    /// An email address.
    pub fn email(&mut self, field: &str, value: &str) -> Option<Email> {
        value.parse().map_err(|e: String| self.fail(field, e)).ok()
    }

    /// An external id: 1 to 255 characters without surrounding space or control characters.
    pub fn external_id(&mut self, field: &str, value: &str) -> String {
        if value.is_empty() || value.len() > 255 || value.trim() != value {
            self.fail(field, "must be 1 to 255 characters without leading or trailing spaces");
        } else if value.chars().any(char::is_control) {
            self.fail(field, "must not contain control characters");
        }
        value.to_owned()
    }

    /// A span from one of the two forms: `start`/`end` (timed, in `zone`) or `start_date`/`end_date`
    /// (all-day, exclusive end). Exactly one form must be given, completely.
    pub fn span(&mut self, form: SpanForm<'_>, zone: Option<TimeZone>) -> Option<BookingSpan> {
        let timed = form.start.is_some() || form.end.is_some();
        let all_day = form.start_date.is_some() || form.end_date.is_some();
        match (timed, all_day) {
            (true, true) => {
                self.fail(
                    "start_date",
                    "give either start/end (timed) or start_date/end_date (all-day), not both",
                );
                None
            }
            (false, false) => {
                self.fail(
                    "start",
                    "give start and end (timed) or start_date and end_date (all-day)",
                );
                None
            }
            (true, false) => {
                let start =
                    self.required(form.start, "start").and_then(|s| self.instant("start", s));
                let end = self.required(form.end, "end").and_then(|s| self.instant("end", s));
                let (start, end) = (start?, end?);
                self.span_result(
                    "end",
                    BookingSpan::timed(start, end, zone.unwrap_or(TimeZone::UTC)),
                )
            }
            (false, true) => {
                let start = self
                    .required(form.start_date, "start_date")
                    .and_then(|s| self.date("start_date", s));
                let end =
                    self.required(form.end_date, "end_date").and_then(|s| self.date("end_date", s));
                let (start, end) = (start?, end?);
                self.span_result("end_date", BookingSpan::all_day(start, end))
            }
        }
    }

    fn required<'a>(&mut self, value: Option<&'a str>, field: &str) -> Option<&'a str> {
        if value.is_none() {
            self.fail(field, "is required with this form");
        }
        value
    }

    fn span_result(
        &mut self,
        field: &str,
        result: Result<BookingSpan, SpanError>,
    ) -> Option<BookingSpan> {
        result.map_err(|e| self.fail(field, e.to_string())).ok()
    }

    /// `Ok(value)` when nothing failed, otherwise the collected problems.
    pub fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, Vec<FieldError>> {
        if self.errors.is_empty() { Ok(value()) } else { Err(self.errors) }
    }
}

/// The time fields of a request, as given.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpanForm<'a> {
    /// Timed start.
    pub start: Option<&'a str>,
    /// Timed end.
    pub end: Option<&'a str>,
    /// All-day first day.
    pub start_date: Option<&'a str>,
    /// All-day check-out day.
    pub end_date: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(check: impl FnOnce(&mut Checker) -> bool) -> Vec<String> {
        let mut c = Checker::default();
        assert!(!check(&mut c), "the value was accepted");
        c.errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn dates_and_instants_outside_1900_to_2200_name_their_field() {
        assert_eq!(refused(|c| c.date("start_date", "-999-01-01").is_some()), ["start_date"]);
        assert_eq!(refused(|c| c.date("end_date", "2201-01-01").is_some()), ["end_date"]);
        assert_eq!(refused(|c| c.instant("start", "1899-12-31T23:59:59Z").is_some()), ["start"]);
        assert_eq!(refused(|c| c.date_or_instant("from", "+262142-12-31").is_some()), ["from"]);
        assert_eq!(
            refused(|c| c.date_or_instant("to", "9999-12-31T00:00:00+01:00").is_some()),
            ["to"]
        );
    }

    #[test]
    fn the_first_and_last_supported_days_are_accepted() {
        let mut c = Checker::default();
        assert!(c.date("start_date", "1900-01-01").is_some());
        assert!(c.date("end_date", "2200-12-31").is_some());
        assert!(c.instant("end", "2200-12-31T23:59:59-05:00").is_some(), "the year as written");
        assert_eq!(
            c.date_or_instant("from", "2200-12-31"),
            NaiveDate::from_ymd_opt(2200, 12, 31).map(When::Day)
        );
        assert!(c.errors.is_empty(), "{:?}", c.errors);
    }
}
