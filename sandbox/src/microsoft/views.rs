//! `calendarView` (paged with `$skip`), its delta rounds (`$skiptoken` pages, a `$deltatoken`
//! at the end), and `getSchedule`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::events::expanded_properties;
use super::parse_body;
use super::time::{Zone, parse_instant, parse_local, render_instant};
use super::{Base, Data, Mailbox, Prefer, StoredEvent, bad_request, begin, not_found};
use crate::{Sandbox, graph_error, random_token};

/// Page size when the client sets none (Graph's own default is 10; the brief asks for 50).
const DEFAULT_PAGE_SIZE: usize = 50;

/// What a `$deltatoken` continues from.
#[derive(Clone, Debug)]
pub(crate) struct DeltaRound {
    email: String,
    window: (DateTime<Utc>, DateTime<Utc>),
    /// Changes after this counter value are reported; `None` on the first round.
    since: Option<u64>,
}

/// What a `$skiptoken` continues.
#[derive(Clone, Debug)]
pub(crate) struct DeltaPage {
    round: DeltaRound,
    /// The counter value when the round started (the next round starts there).
    upto: u64,
    /// The events of the round, in order.
    ids: Vec<String>,
    offset: usize,
    page_size: usize,
}

/// Routes of the views.
pub(super) fn router() -> Router<Sandbox> {
    Router::new()
        .route("/me/calendarView", get(calendar_view_default))
        .route("/me/calendars/{calendar_id}/calendarView", get(calendar_view_in))
        .route("/me/calendarView/delta", get(delta))
        .route("/me/calendarView/delta()", get(delta))
        .route("/me/calendar/getSchedule", post(get_schedule))
        .route("/me/calendar/events", get(list_events))
}

/// A query parameter by name, case-insensitively and with or without `$`.
fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(key, _)| key.trim_start_matches('$').eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// `startDateTime`/`endDateTime`, both required.
fn window(query: &[(String, String)]) -> Result<(DateTime<Utc>, DateTime<Utc>), Response> {
    let start = param(query, "startDateTime").and_then(parse_instant);
    let end = param(query, "endDateTime").and_then(parse_instant);
    match (start, end) {
        (Some(start), Some(end)) => Ok((start, end)),
        _ => Err(bad_request(
            "ErrorInvalidParameter",
            "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.",
        )),
    }
}

async fn calendar_view_default(
    State(sandbox): State<Sandbox>,
    Query(query): Query<Vec<(String, String)>>,
    base: Base,
    prefer: Prefer,
    headers: HeaderMap,
) -> Response {
    calendar_view(&sandbox, &base, &prefer, &headers, None, &query)
}

async fn calendar_view_in(
    State(sandbox): State<Sandbox>,
    Path(calendar_id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    base: Base,
    prefer: Prefer,
    headers: HeaderMap,
) -> Response {
    calendar_view(&sandbox, &base, &prefer, &headers, Some(&calendar_id), &query)
}

fn calendar_view(
    sandbox: &Sandbox,
    base: &Base,
    prefer: &Prefer,
    headers: &HeaderMap,
    calendar_id: Option<&str>,
    query: &[(String, String)],
) -> Response {
    let (state, account) = match begin(sandbox, headers, "GET microsoft calendarView") {
        Ok(found) => found,
        Err(response) => return response,
    };
    let (from, to) = match window(query) {
        Ok(window) => window,
        Err(response) => return response,
    };
    let Some(mailbox) = state.microsoft.mailbox(&account.email) else {
        return not_found();
    };
    let calendar = match calendar_id {
        Some(id) => mailbox.calendar(id).map(|calendar| calendar.id.clone()),
        None => Some(mailbox.default_calendar().id.clone()),
    };
    let Some(calendar) = calendar else {
        return not_found();
    };
    let events = mailbox
        .events
        .values()
        .filter(|e| !e.deleted && e.calendar_id == calendar && e.span.overlaps(from, to));
    let path = match calendar_id {
        Some(id) => format!("/me/calendars/{id}/calendarView"),
        None => "/me/calendarView".to_owned(),
    };
    let context = format!("{}/$metadata#users('{}')/calendarView", base.0, account.email);
    page_of(events.collect(), mailbox, base, prefer, query, &path, context)
}

/// `GET /me/calendar/events`: the default calendar's events, filtered the one way Kalends asks
/// (`type eq 'singleInstance' and start/dateTime ge '…'`, in UTC; the sandbox stores no
/// series, so every event is a single instance). Any other `$filter` is
/// refused rather than ignored, so a test cannot pass on a filter the sandbox did not apply.
async fn list_events(
    State(sandbox): State<Sandbox>,
    Query(query): Query<Vec<(String, String)>>,
    base: Base,
    prefer: Prefer,
    headers: HeaderMap,
) -> Response {
    let (state, account) = match begin(&sandbox, &headers, "GET microsoft events") {
        Ok(found) => found,
        Err(response) => return response,
    };
    let from = match param(&query, "filter").map(starting_from) {
        None => None,
        Some(Some(from)) => Some(from),
        Some(None) => {
            return bad_request(
                "BadRequest",
                "The sandbox understands only $filter=type eq 'singleInstance' and start/dateTime ge '…'",
            );
        }
    };
    let Some(mailbox) = state.microsoft.mailbox(&account.email) else {
        return not_found();
    };
    let calendar = mailbox.default_calendar().id.clone();
    let events = mailbox.events.values().filter(|e| {
        !e.deleted && e.calendar_id == calendar && from.is_none_or(|from| e.span.bounds().0 >= from)
    });
    let context = format!("{}/$metadata#users('{}')/events", base.0, account.email);
    page_of(events.collect(), mailbox, &base, &prefer, &query, "/me/calendar/events", context)
}

/// The instant of `type eq 'singleInstance' and start/dateTime ge 'X'`.
fn starting_from(filter: &str) -> Option<DateTime<Utc>> {
    let rest = filter.trim().strip_prefix("type eq 'singleInstance' and start/dateTime ge '")?;
    parse_local(rest.strip_suffix('\'')?).map(|local| local.and_utc())
}

/// One page of `events` (sorted by start) as a Graph collection, with a nextLink to `path`
/// when more follow.
fn page_of(
    mut events: Vec<&StoredEvent>,
    mailbox: &Mailbox,
    base: &Base,
    prefer: &Prefer,
    query: &[(String, String)],
    path: &str,
    context: String,
) -> Response {
    events.sort_by_key(|event| (event.span.bounds(), event.id.clone()));
    let page_size = param(query, "top")
        .and_then(|top| top.parse().ok())
        .or(prefer.max_page_size)
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .max(1);
    let skip: usize = param(query, "skip").and_then(|s| s.parse().ok()).unwrap_or(0);
    let zone = Zone::of_response(prefer.time_zone.as_deref());
    let expand = expanded_properties(query);
    let value: Vec<Value> = events
        .iter()
        .skip(skip)
        .take(page_size)
        .map(|event| event.render(mailbox, &zone, expand.as_deref()))
        .collect();
    let mut out = json!({ "@odata.context": context, "value": value });
    if skip + page_size < events.len() {
        out["@odata.nextLink"] = next_link(base, path, query, skip + page_size).into();
    }
    axum::Json(out).into_response()
}

/// The same URL with `$skip` moved on (and `$top` kept, as Graph does).
fn next_link(base: &Base, path: &str, query: &[(String, String)], skip: usize) -> String {
    let mut url = url::Url::parse(&format!("{}{path}", base.0))
        .unwrap_or_else(|_| url::Url::parse("http://localhost/").expect("a valid URL"));
    {
        let mut pairs = url.query_pairs_mut();
        for (key, value) in query {
            if !key.trim_start_matches('$').eq_ignore_ascii_case("skip") {
                pairs.append_pair(key, value);
            }
        }
        pairs.append_pair("$skip", &skip.to_string());
    }
    url.to_string()
}

/// `GET /me/calendarView/delta` (and `delta()`): a first round with a window, a page of a round
/// (`$skiptoken`), or the changes since a round (`$deltatoken`).
async fn delta(
    State(sandbox): State<Sandbox>,
    Query(query): Query<Vec<(String, String)>>,
    base: Base,
    prefer: Prefer,
    headers: HeaderMap,
) -> Response {
    let (mut state, account) = match begin(&sandbox, &headers, "GET microsoft calendarView.delta") {
        Ok(found) => found,
        Err(response) => return response,
    };
    let data = &mut state.microsoft;
    let page = if let Some(token) = param(&query, "skiptoken") {
        data.skip_tokens.get(token).cloned()
    } else if let Some(token) = param(&query, "deltatoken") {
        data.delta_tokens.get(token).cloned().map(|round| data.start_round(round, &prefer))
    } else {
        match window(&query) {
            Ok(window) => Some(data.start_round(
                DeltaRound { email: account.email.clone(), window, since: None },
                &prefer,
            )),
            Err(response) => return response,
        }
    };
    match page.filter(|page| page.round.email == account.email) {
        Some(page) => {
            let zone = Zone::of_response(prefer.time_zone.as_deref());
            axum::Json(data.delta_page(page, &base, &zone)).into_response()
        }
        None => sync_state_not_found(),
    }
}

/// 410 for an unknown or invalidated token.
///
/// UNVERIFIED exact body: Graph documents 410 Gone for expired delta tokens; the code and
/// message here are the ones community reports quote.
fn sync_state_not_found() -> Response {
    graph_error(StatusCode::GONE, "SyncStateNotFound", "The sync state generation is not found.")
}

impl Data {
    /// The first page of a round: the events it reports, fixed now.
    fn start_round(&self, round: DeltaRound, prefer: &Prefer) -> DeltaPage {
        let (from, to) = round.window;
        let ids = self.mailbox(&round.email).map_or_else(Vec::new, |mailbox| {
            let default = &mailbox.default_calendar().id;
            let mut events: Vec<_> = mailbox
                .events
                .values()
                .filter(|e| &e.calendar_id == default)
                .filter(|e| match round.since {
                    None => !e.deleted && e.span.overlaps(from, to),
                    Some(since) => e.seq > since,
                })
                .collect();
            events.sort_by_key(|event| (event.seq, event.id.clone()));
            events.into_iter().map(|event| event.id.clone()).collect()
        });
        DeltaPage {
            round,
            upto: self.seq,
            ids,
            offset: 0,
            page_size: prefer.max_page_size.unwrap_or(DEFAULT_PAGE_SIZE).max(1),
        }
    }

    /// Renders one page and issues the token of the next page or round.
    fn delta_page(&mut self, page: DeltaPage, base: &Base, zone: &Zone) -> Value {
        let end = (page.offset + page.page_size).min(page.ids.len());
        let value: Vec<Value> = self.mailbox(&page.round.email).map_or_else(Vec::new, |mailbox| {
            page.ids[page.offset..end]
                .iter()
                .map(|id| delta_entry(mailbox, id, page.round.window, zone))
                .collect()
        });
        let link = format!("{}/me/calendarView/delta", base.0);
        let mut out = json!({
            "@odata.context": format!("{}/$metadata#Collection(event)", base.0),
            "value": value,
        });
        let token = random_token(24);
        if end < page.ids.len() {
            out["@odata.nextLink"] = format!("{link}?$skiptoken={token}").into();
            let next = DeltaPage { offset: end, ..page };
            self.skip_tokens.insert(token, next);
        } else {
            out["@odata.deltaLink"] = format!("{link}?$deltatoken={token}").into();
            let round = DeltaRound { since: Some(page.upto), ..page.round };
            self.delta_tokens.insert(token, round);
        }
        out
    }

    /// Forgets every delta and skip token (the next use answers 410).
    pub(super) fn invalidate_delta_tokens(&mut self) -> usize {
        let count = self.delta_tokens.len() + self.skip_tokens.len();
        self.delta_tokens.clear();
        self.skip_tokens.clear();
        count
    }
}

/// An event as delta reports it: whole while in the window, `@removed` once deleted or moved out.
fn delta_entry(
    mailbox: &Mailbox,
    id: &str,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    zone: &Zone,
) -> Value {
    match mailbox.events.get(id) {
        Some(event) if !event.deleted && event.span.overlaps(from, to) => {
            event.render(mailbox, zone, None)
        }
        _ => json!({
            "@odata.type": "#microsoft.graph.event",
            "id": id,
            "@removed": {"reason": "deleted"},
        }),
    }
}

/// `POST /me/calendar/getSchedule`.
async fn get_schedule(
    State(sandbox): State<Sandbox>,
    base: Base,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (state, _account) = match begin(&sandbox, &headers, "POST microsoft getSchedule") {
        Ok(found) => found,
        Err(response) => return response,
    };
    let request = match parse_body(&body).and_then(|body| ScheduleRequest::parse(&body)) {
        Ok(request) => request,
        Err(response) => return response,
    };
    let value: Vec<Value> = request
        .schedules
        .iter()
        .map(|email| match state.microsoft.mailbox(email) {
            Some(mailbox) => schedule_of(mailbox, email, &request),
            None => json!({
                "scheduleId": email,
                "availabilityView": "",
                "error": {"message": "The SMTP address has no mailbox associated with it.", "responseCode": "ErrorMailRecipientNotFound"},
            }),
        })
        .collect();
    axum::Json(json!({
        "@odata.context": format!("{}/$metadata#Collection(microsoft.graph.scheduleInformation)", base.0),
        "value": value,
    }))
    .into_response()
}

/// A parsed `getSchedule` body.
struct ScheduleRequest {
    schedules: Vec<String>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    zone: Zone,
    interval: i64,
}

impl ScheduleRequest {
    fn parse(body: &serde_json::Map<String, Value>) -> Result<Self, Response> {
        let invalid = |what: &str| bad_request("ErrorInvalidParameter", what);
        let schedules = body
            .get("schedules")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter().filter_map(Value::as_str).map(str::to_owned).collect::<Vec<_>>()
            })
            .filter(|list| !list.is_empty())
            .ok_or_else(|| invalid("The schedules parameter is required."))?;
        let time = |key: &str| -> Result<(DateTime<Utc>, Zone), Response> {
            let value = body.get(key);
            let text = |field: &str| value.and_then(|v| v.get(field)).and_then(Value::as_str);
            let zone = Zone::parse(text("timeZone").unwrap_or("UTC"))
                .ok_or_else(|| invalid("The time zone is not supported."))?;
            let local = text("dateTime")
                .and_then(parse_local)
                .ok_or_else(|| invalid(&format!("The {key} parameter is required.")))?;
            Ok((zone.to_utc(local), zone))
        };
        let (from, zone) = time("startTime")?;
        let (to, _) = time("endTime")?;
        let interval = body.get("availabilityViewInterval").and_then(Value::as_i64).unwrap_or(30);
        // Exchange answers free/busy for at most 62 days at a time.
        if to - from > Duration::days(62) {
            return Err(invalid(
                "The requested time duration specified is too long. The maximum duration is 62 days.",
            ));
        }
        if !(5..=1440).contains(&interval) || to <= from {
            return Err(invalid(
                "The availabilityViewInterval must be between 5 and 1440 minutes and the window not empty.",
            ));
        }
        Ok(Self { schedules, from, to, zone, interval })
    }
}

/// One `scheduleInformation`: items that block time, and the availability digits per interval.
fn schedule_of(mailbox: &Mailbox, email: &str, request: &ScheduleRequest) -> Value {
    let default = &mailbox.default_calendar().id;
    let mut items: Vec<_> = mailbox
        .events
        .values()
        .filter(|e| !e.deleted && &e.calendar_id == default)
        .filter(|e| !e.is_cancelled() && !e.is_declined())
        .filter(|e| e.show_as() != "free" && e.span.overlaps(request.from, request.to))
        .collect();
    items.sort_by_key(|event| (event.span.bounds(), event.id.clone()));
    let mut view = String::new();
    let mut slot = request.from;
    while slot < request.to {
        let next = slot + Duration::minutes(request.interval);
        let digit = items
            .iter()
            .filter(|e| e.span.overlaps(slot, next))
            .map(|e| availability_digit(e.show_as()))
            .max_by_key(|digit| AVAILABILITY_PRIORITY.find(*digit))
            .unwrap_or('0');
        view.push(digit);
        slot = next;
    }
    let schedule_items: Vec<Value> = items
        .iter()
        .map(|event| {
            let (start, end) = event.span.bounds();
            json!({
                "isPrivate": false,
                "status": event.show_as(),
                "start": render_instant(start, &request.zone),
                "end": render_instant(end, &request.zone),
            })
        })
        .collect();
    json!({
        "scheduleId": email,
        "availabilityView": view,
        "scheduleItems": schedule_items,
        "workingHours": {
            "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
            "startTime": "08:00:00.0000000",
            "endTime": "17:00:00.0000000",
            "timeZone": {"name": "UTC"},
        },
    })
}

/// Availability digits from weakest to strongest: what a slot shows when events overlap.
const AVAILABILITY_PRIORITY: &str = "04123";

/// 0 free, 1 tentative, 2 busy, 3 out of office, 4 working elsewhere.
fn availability_digit(show_as: &str) -> char {
    match show_as {
        "tentative" => '1',
        "busy" | "unknown" => '2',
        "oof" => '3',
        "workingElsewhere" => '4',
        _ => '0',
    }
}
