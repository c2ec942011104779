//! `GET /availability/{token}` (a month of a resource's free and busy days, an HTML page made
//! for a frame in the business's own website) and `GET /availability/{token}.json` (the same
//! days for its scripts), with the page's stylesheet at `/availability/widget.css`.
//!
//! What a visitor sees comes from `kalends_service::widgets::availability`, which hands
//! out one state per day and the merged busy time, nothing else: no titles, names or sources.
//! Like a feed, an answer is built for revalidation (an `ETag` from the tenant's content
//! version, 304 without reading the calendar), lookups (`widget_lookup`) are remembered as
//! briefly as feeds' (`feed_cache::Recent`), and each client address may ask each calendar only
//! so often (the feeds' limiter, keyed by address and URL).

use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Datelike as _, FixedOffset, Months, NaiveDate, Utc};
use kalends_core::domain::local_midnight;
use kalends_core::tokens;
use kalends_service::widgets::{self, DayState, DayWindow, PublicAvailability};
use kalends_store::StoreError;
use maud::{DOCTYPE, Markup, html};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::api::error::ApiError;
use crate::client_addr::ClientAddr;
use crate::input::fields::Checker;
use crate::public_http::{fresh, hex, write_validators};
use crate::state::AppState;
use crate::widget_lookup::{Known, look_up};

/// How many months before the current one the month view goes back.
const MONTHS_BACK: u32 = 12;
/// How many months after the current one it goes ahead (platforms sell up to two years out).
const MONTHS_AHEAD: u32 = 24;

/// The public calendar routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/availability/widget.css", get(stylesheet))
        .route("/availability/{file}", get(serve))
}

/// `?month=YYYY-MM` for the page, `?from=&to=` (dates) for the JSON; anything else is ignored
/// (websites add their own parameters to the frame's address).
#[derive(Debug, Default, Deserialize)]
struct CalendarQuery {
    month: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// Which answer a URL asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Html,
    Json,
}

#[tracing::instrument(skip_all)]
async fn serve(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(query): Query<CalendarQuery>,
    headers: HeaderMap,
    extensions: Extensions,
) -> Response {
    let (token, format) = match file.strip_suffix(".json") {
        Some(token) => (token, Format::Json),
        None => (file.as_str(), Format::Html),
    };
    let mut response = match answer(&state, token, format, &query, &headers, &extensions).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    match format {
        // Frames show the page and its refusals alike.
        Format::Html => {
            if let Ok(policy) = HeaderValue::from_str(&policy(&state)) {
                headers.insert(header::CONTENT_SECURITY_POLICY, policy);
            }
            headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        }
        // Any website's scripts may read the days: they are public, and no cookie is involved.
        Format::Json => {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        }
    }
    response
}

/// The page's Content-Security-Policy: its own stylesheet and nothing else, framed by the
/// configured `widget.frame_ancestors`.
fn policy(state: &AppState) -> String {
    format!(
        "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; \
         frame-ancestors {}",
        state.config.widget.frame_ancestors
    )
}

/// The answer to a calendar URL: 404 for none, 429 when asked too often, 422 for a window it
/// does not show, 304 when the client's copy is current, else the days.
async fn answer(
    state: &AppState,
    token: &str,
    format: Format,
    query: &CalendarQuery,
    headers: &HeaderMap,
    extensions: &Extensions,
) -> Result<Response, ApiError> {
    let well_formed = token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if token.len() != 43 || !well_formed {
        return Ok(not_found(format));
    }
    let hash = tokens::token_hash(token);
    if let Err(wait) = state.widget_limiter.check(&hash, ClientAddr::of(extensions)) {
        let detail = "this calendar is asked for too often; slow down";
        return Err(ApiError::rate_limited(wait, detail));
    }
    let Some(known) = known(state, hash).await? else { return Ok(not_found(format)) };
    let today = Utc::now().with_timezone(&known.zone.tz()).date_naive();
    let window = match format {
        Format::Html => match month_window(query.month.as_deref(), today) {
            Ok(window) => window,
            Err(e) => return Ok(refusal(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string())),
        },
        Format::Json => json_window(query, today)?,
    };
    days(state, &known, Asked { format, window, today }, headers).await
}

/// The calendar a token hash names, remembered for a short time; `None` for none.
async fn known(state: &AppState, hash: Vec<u8>) -> Result<Option<Arc<Known>>, StoreError> {
    if let Some(known) = state.widget_cache.known(&hash) {
        return Ok(Some(known));
    }
    let found = look_up(&state.store, &hash).await?;
    Ok(found.map(|known| state.widget_cache.remember(hash, known)))
}

/// What a request asks of a calendar: the answer's form, its days, and today where it is.
#[derive(Clone, Copy, Debug)]
struct Asked {
    format: Format,
    window: DayWindow,
    today: NaiveDate,
}

/// The days of `asked.window` with their validators, or 304 when the client's copy is current.
async fn days(
    state: &AppState,
    known: &Known,
    asked: Asked,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let Asked { format, window, today } = asked;
    let etag = etag(known, format, window, today);
    let changed = known.changed_at.max(local_midnight(today, known.zone));
    let mut out = HeaderMap::new();
    let cache_control = format!("public, max-age={}", state.config.widget.cache_max_age_secs);
    write_validators(&etag, changed, &cache_control, &mut out);
    if fresh(&etag, changed, headers) {
        return Ok((StatusCode::NOT_MODIFIED, out).into_response());
    }
    let days = widgets::availability(&state.store, &known.widget, &known.owned, today, window);
    let days = days.await?;
    Ok(match format {
        Format::Html => {
            let page = month_page(known, &days, today).into_string();
            out.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            (StatusCode::OK, out, page).into_response()
        }
        Format::Json => {
            (StatusCode::OK, out, axum::Json(CalendarOut::new(known, &days))).into_response()
        }
    })
}

/// The answer's `ETag`: the calendar's version, the window and the day it was made on (the page
/// marks today).
fn etag(known: &Known, format: Format, window: DayWindow, today: NaiveDate) -> String {
    let mut digest = Sha256::new();
    digest.update(known.version.as_bytes());
    digest.update(if format == Format::Html { b"h" } else { b"j" });
    for day in [window.from(), window.to(), today] {
        digest.update(day.num_days_from_ce().to_le_bytes());
    }
    format!("\"{}\"", hex(&digest.finalize()[..16]))
}

/// Why `?month=` names no month the page shows.
#[derive(Debug, thiserror::Error)]
enum MonthError {
    /// Not `YYYY-MM`, or outside the months the page shows (`first` to `last`).
    #[error("month must be a month from {} to {}, written YYYY-MM (for example {})",
        first.format("%Y-%m"), last.format("%Y-%m"), today.format("%Y-%m"))]
    Outside { first: NaiveDate, last: NaiveDate, today: NaiveDate },
    /// A month the calendar cannot hold.
    #[error("that month cannot be shown")]
    Unshowable,
}

/// The month `?month=YYYY-MM` names (default: the current one), within the months the page
/// shows; the error says which those are.
fn month_window(month: Option<&str>, today: NaiveDate) -> Result<DayWindow, MonthError> {
    let (first, last) = month_range(today);
    let asked = match month.map(str::trim).filter(|m| !m.is_empty()) {
        None => today,
        Some(text) => parse_month(text)
            .filter(|m| (first..=last).contains(m))
            .ok_or(MonthError::Outside { first, last, today })?,
    };
    DayWindow::month_of(asked).ok_or(MonthError::Unshowable)
}

/// The first days of the first and the last month the page shows.
fn month_range(today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let this = today.with_day(1).unwrap_or(today);
    (
        this.checked_sub_months(Months::new(MONTHS_BACK)).unwrap_or(this),
        this.checked_add_months(Months::new(MONTHS_AHEAD)).unwrap_or(this),
    )
}

/// `YYYY-MM` exactly, as the first day of that month.
fn parse_month(text: &str) -> Option<NaiveDate> {
    let (year, month) = text.split_once('-')?;
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(year, 4) && digits(month, 2)) {
        return None;
    }
    NaiveDate::from_ymd_opt(year.parse().ok()?, month.parse().ok()?, 1)
}

/// `?from=&to=` (dates, `to` exclusive; default: 90 days from today), at most 366 days.
fn json_window(query: &CalendarQuery, today: NaiveDate) -> Result<DayWindow, ApiError> {
    let mut c = Checker::default();
    let from = match query.from.as_deref() {
        Some(value) => c.date("from", value),
        None => Some(today),
    };
    let to = query.to.as_deref().map(|value| c.date("to", value));
    let window = match (from, to) {
        (Some(from), None) => DayWindow::default_from(from),
        (Some(from), Some(Some(to))) => {
            DayWindow::new(from, to).map_err(|e| c.fail("to", e.to_string())).ok()
        }
        _ => None,
    };
    c.finish(|| ()).map_err(ApiError::invalid)?;
    window.ok_or_else(|| ApiError::invalid_field("from", "leaves no room for the window"))
}

/// The JSON answer: free and busy days only.
#[derive(Debug, Serialize)]
struct CalendarOut<'a> {
    resource: ResourceOut<'a>,
    time_zone: &'a str,
    from: NaiveDate,
    to: NaiveDate,
    days: Vec<DayOut>,
    busy: Vec<SpanOut>,
}

#[derive(Debug, Serialize)]
struct ResourceOut<'a> {
    name: &'a str,
}

#[derive(Debug, Serialize)]
struct DayOut {
    date: NaiveDate,
    state: &'static str,
}

#[derive(Debug, Serialize)]
struct SpanOut {
    start: DateTime<FixedOffset>,
    end: DateTime<FixedOffset>,
}

impl<'a> CalendarOut<'a> {
    fn new(known: &'a Known, days: &PublicAvailability) -> Self {
        let local = |t: DateTime<Utc>| t.with_timezone(&known.zone.tz()).fixed_offset();
        CalendarOut {
            resource: ResourceOut { name: &known.resource_name },
            time_zone: known.zone.tz().name(),
            from: days.window.from(),
            to: days.window.to(),
            days: days
                .days
                .iter()
                .map(|(date, s)| DayOut { date: *date, state: s.as_str() })
                .collect(),
            busy: days
                .busy
                .iter()
                .map(|(start, end)| SpanOut { start: local(*start), end: local(*end) })
                .collect(),
        }
    }
}

/// What a day's state says in words (the colours and patterns only repeat it).
fn label(state: DayState) -> &'static str {
    match state {
        DayState::Free => "free",
        DayState::Partial => "partly busy",
        DayState::Busy => "busy",
        DayState::NoCheckIn => "free, no check-in",
    }
}

/// The legend's word for a state.
fn legend(state: DayState) -> &'static str {
    match state {
        DayState::Free => "Free",
        DayState::Partial => "Partly busy",
        DayState::Busy => "Busy",
        DayState::NoCheckIn => "No check-in",
    }
}

const WEEKDAYS: [(&str, &str); 7] = [
    ("Mon", "Monday"),
    ("Tue", "Tuesday"),
    ("Wed", "Wednesday"),
    ("Thu", "Thursday"),
    ("Fri", "Friday"),
    ("Sat", "Saturday"),
    ("Sun", "Sunday"),
];

/// The month view: a table of weeks (Monday first), each day with its state in words.
fn month_page(known: &Known, days: &PublicAvailability, today: NaiveDate) -> Markup {
    let first = days.window.from();
    let month = first.format("%B %Y").to_string();
    let (earliest, latest) = month_range(today);
    let prev = first.checked_sub_months(Months::new(1)).filter(|m| *m >= earliest);
    let next = first.checked_add_months(Months::new(1)).filter(|m| *m <= latest);
    let lead = first.weekday().num_days_from_monday() as usize;
    let mut cells: Vec<Option<(NaiveDate, DayState)>> = vec![None; lead];
    cells.extend(days.days.iter().copied().map(Some));
    cells.resize(cells.len().div_ceil(7) * 7, None);
    let body = html! {
        h1.vh { "Availability of " (known.resource_name) }
        nav.months aria-label="Months" {
            @if let Some(prev) = prev {
                a rel="prev nofollow" href={ "?month=" (prev.format("%Y-%m")) } {
                    span aria-hidden="true" { "‹ " } span.vh { "Previous month: " }
                    (prev.format("%B %Y"))
                }
            } @else { span {} }
            @if let Some(next) = next {
                a rel="next nofollow" href={ "?month=" (next.format("%Y-%m")) } {
                    span.vh { "Next month: " } (next.format("%B %Y"))
                    span aria-hidden="true" { " ›" }
                }
            }
        }
        table {
            caption { span.name { (known.resource_name) } " " span.month { (month) } }
            thead { tr { @for (short, long) in WEEKDAYS {
                th scope="col" { abbr title=(long) { (short) } }
            } } }
            tbody { @for week in cells.chunks(7) { tr { @for cell in week {
                @match cell {
                    Some((day, state)) => td class=(state.as_str())
                        aria-current=[(*day == today).then_some("date")] {
                        span.n { (day.day()) } span.vh { ", " (label(*state)) }
                    },
                    None => td.out {},
                }
            } } } }
        }
        ul.legend {
            @for state in [DayState::Free, DayState::Partial, DayState::Busy] {
                li { span class={ "swatch " (state.as_str()) } aria-hidden="true" {} (legend(state)) }
            }
            // Only calendars under rules have such days; the others keep their three states.
            @if days.days.iter().any(|(_, state)| *state == DayState::NoCheckIn) {
                li {
                    span class="swatch no_check_in" aria-hidden="true" {}
                    (legend(DayState::NoCheckIn))
                }
            }
        }
        p.zone { "Days in " (known.zone.tz().name()) " time." }
    };
    let title = format!("{}: availability in {month}", known.resource_name);
    shell(&title, body)
}

/// The page around a body: the stylesheet, nothing to run.
fn shell(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex, nofollow";
                title { (title) }
                link rel="stylesheet" href={ "widget.css?v=" (*STYLES_VERSION) };
            }
            body { main.kalends-availability { (body) } }
        }
    }
}

/// A page that says why there is no calendar to show (it is shown in the website's frame).
fn refusal(status: StatusCode, detail: &str) -> Response {
    let body = html! {
        div.refusal {
            h1 { (status.canonical_reason().unwrap_or("Error")) }
            p { (detail) }
            @if status == StatusCode::UNPROCESSABLE_ENTITY { p { a href="?" { "Show this month" } } }
        }
    };
    let page = shell("Availability", body).into_string();
    let headers =
        [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")];
    (status, headers, page).into_response()
}

fn not_found(format: Format) -> Response {
    match format {
        Format::Html => {
            refusal(StatusCode::NOT_FOUND, "This availability calendar is not published.")
        }
        Format::Json => ApiError::not_found().into_response(),
    }
}

async fn stylesheet() -> Response {
    let headers = [
        (header::CONTENT_TYPE, "text/css; charset=utf-8"),
        // The page asks for it with `?v=` its digest, so a new version is fetched at once.
        (header::CACHE_CONTROL, "public, max-age=86400"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    (headers, STYLES).into_response()
}

/// A digest of the stylesheet, in its address, so caches never pair a page with an older one.
static STYLES_VERSION: LazyLock<String> =
    LazyLock::new(|| hex(&Sha256::digest(STYLES.as_bytes())[..6]));

/// Busy days are striped and struck through, partly busy ones half striped, free ones plain:
/// the state reads without colour too, and in words for screen readers.
const STYLES: &str = "\
*{box-sizing:border-box}\
body{margin:0;background:#fff;color:#1f2430;font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}\
.kalends-availability{max-width:520px;margin:0 auto;padding:8px}\
.vh{position:absolute;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}\
.months{display:flex;justify-content:space-between;gap:8px;margin:0 2px 6px}\
.months a{color:#3730a3;font-weight:600;text-decoration:none;padding:6px 4px;border-radius:6px}\
.months a:hover{text-decoration:underline}\
a:focus-visible{outline:3px solid #4f46e5;outline-offset:2px}\
table{width:100%;table-layout:fixed;border-collapse:separate;border-spacing:3px}\
caption{text-align:left;font-size:16px;font-weight:700;padding:0 3px 6px}\
caption .month{font-weight:400;color:#475467}\
th{font-size:12px;font-weight:600;color:#475467;padding:2px 0}\
abbr{text-decoration:none}\
td{height:40px;text-align:center;vertical-align:middle;border:1px solid transparent;border-radius:6px;font-variant-numeric:tabular-nums}\
td.free{background:#ecfdf3;border-color:#75e0a7;color:#054f31}\
td.busy{background:repeating-linear-gradient(135deg,#fee4e2 0 5px,#fecdca 5px 10px);border-color:#f97066;color:#7a271a}\
td.busy .n{text-decoration:line-through}\
td.partial{background:linear-gradient(135deg,#ecfdf3 50%,#fecdca 50%);border-color:#f97066;color:#1f2430}\
td.no_check_in{background:#f2f4f7;border-color:#98a2b3;border-style:dotted;color:#344054}\
td[aria-current=date]{outline:2px solid #1f2430;outline-offset:-3px;font-weight:700}\
.legend{display:flex;flex-wrap:wrap;gap:6px 14px;list-style:none;margin:8px 3px 0;padding:0;font-size:13px}\
.swatch{display:inline-block;width:14px;height:14px;margin-right:6px;vertical-align:-2px;border:1px solid;border-radius:3px}\
.swatch.free{background:#ecfdf3;border-color:#75e0a7}\
.swatch.busy{background:repeating-linear-gradient(135deg,#fee4e2 0 3px,#fecdca 3px 6px);border-color:#f97066}\
.swatch.partial{background:linear-gradient(135deg,#ecfdf3 50%,#fecdca 50%);border-color:#f97066}\
.swatch.no_check_in{background:#f2f4f7;border-color:#98a2b3;border-style:dotted}\
.zone{margin:6px 3px 0;font-size:12px;color:#475467}\
.refusal{padding:16px;border:1px solid #e4e7ec;border-radius:8px}.refusal h1{font-size:16px;margin:0}\
@media (max-width:400px){body{font-size:13px}.kalends-availability{padding:4px}table{border-spacing:2px}td{height:34px}caption{font-size:15px}}\
@media (forced-colors:active){td.busy,td.partial{border-style:dashed}td.free{border-style:solid}td.no_check_in{border-style:dotted}}\
";

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn a_month_is_written_yyyy_mm_and_must_lie_within_the_shown_range() {
        let today = day(2026, 11, 22);
        assert_eq!(month_window(None, today).unwrap(), DayWindow::month_of(today).unwrap());
        let dec = month_window(Some("2026-12"), today).unwrap();
        assert_eq!((dec.from(), dec.to()), (day(2026, 12, 1), day(2027, 1, 1)));
        assert!(month_window(Some("2025-11"), today).is_ok(), "12 months back");
        assert!(month_window(Some("2028-11"), today).is_ok(), "24 months ahead");
        for bad in ["2025-10", "2028-12", "2026-13", "2026-1", "26-12", "december", "2026-12-01"] {
            let err = month_window(Some(bad), today).unwrap_err().to_string();
            assert!(err.contains("from 2025-11 to 2028-11"), "{bad}: {err}");
        }
    }
}
