//! The overview: what needs attention, the last day in figures, charts of the last day and
//! month (`charts.rs`), and a timeline of every resource (or staff member) over 14, 30 or 90
//! days.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{DateTime, Datelike as _, Duration, NaiveDate, Utc, Weekday};
use kalends_core::conflict_record::Conflict;
use kalends_core::conflicts::{Busy, Class, Source};
use kalends_core::domain::{Owner, Resource, TimeZone, local_midnight};
use kalends_ical::ItemDetails;
use kalends_store::Store;
use kalends_store::{Attention, DayFigures};
use maud::{Markup, html};
use uuid::Uuid;

use super::{Console, Section, charts, internal, notice, page, query, rules};
use crate::state::AppState;

/// The windows the timeline offers, in days.
const WINDOWS: [i64; 3] = [14, 30, 90];

/// One row of the timeline: a resource or a staff member.
pub struct Row {
    /// Whose row.
    pub owner: Owner,
    /// Its name.
    pub name: String,
    /// The zone its days are cut in.
    pub zone: TimeZone,
    /// For a room of a house rented whole or by its rooms: the house's name (the row follows
    /// the house's, indented). Its days show the house's bookings too, and the house's its.
    pub house: Option<String>,
}

/// What one day of a row shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cell {
    /// The strongest kind of item on that day (`booking`, `tentative`, `feed`, `block`,
    /// `calendar`), if any.
    pub kind: Option<&'static str>,
    /// The labels of the items, for the tooltip and screen readers.
    pub labels: Vec<String>,
    /// An open conflict covering the day.
    pub conflict: Option<Uuid>,
}

/// The timeline's days and cells: `cells[row][day]`.
pub struct Timeline {
    /// The first day shown.
    pub from: NaiveDate,
    /// Days shown.
    pub days: Vec<NaiveDate>,
    /// Rows, in order.
    pub rows: Vec<Row>,
    /// Their cells.
    pub cells: Vec<Vec<Cell>>,
}

/// Which kind of item shows when several share a day: what most needs seeing first.
fn rank(kind: &str) -> u8 {
    match kind {
        "booking" => 5,
        "feed" => 4,
        "tentative" => 3,
        "block" => 2,
        _ => 1,
    }
}

fn kind_of(class: Class) -> &'static str {
    match class {
        Class::Confirmed => "booking",
        Class::Tentative => "tentative",
        Class::Block => "block",
        Class::Reservation(_) | Class::PlatformBlock(_) => "feed",
        Class::CalendarBusy => "calendar",
    }
}

/// Cuts one row's items (and its open conflicts) into days.
pub fn cells(
    days: &[NaiveDate],
    zone: TimeZone,
    items: &[Busy],
    conflicts: &[&Conflict],
) -> Vec<Cell> {
    let bounds: Vec<(DateTime<Utc>, DateTime<Utc>)> = days
        .iter()
        .map(|d| (local_midnight(*d, zone), local_midnight(*d + Duration::days(1), zone)))
        .collect();
    let mut cells = vec![Cell::default(); days.len()];
    let bounds = &bounds;
    let overlapping = |start: DateTime<Utc>, end: DateTime<Utc>| {
        // Days are in order: the first one ending after `start`, up to the last starting
        // before `end`.
        let first = bounds.partition_point(|(_, day_end)| *day_end <= start);
        (first..bounds.len()).take_while(move |&i| bounds[i].0 < end)
    };
    for item in items {
        let kind = kind_of(item.class);
        for i in overlapping(item.start, item.end) {
            let cell = &mut cells[i];
            if cell.kind.is_none_or(|k| rank(kind) > rank(k)) {
                cell.kind = Some(kind);
            }
            if cell.labels.len() < 4 {
                cell.labels.push(item.label.clone());
            }
        }
    }
    for conflict in conflicts {
        for i in overlapping(conflict.start, conflict.end) {
            cells[i].conflict.get_or_insert(conflict.id);
        }
    }
    cells
}

/// Reads and cuts the timeline of `rows` from `from` for `length` days.
pub async fn timeline(
    store: &Store,
    tenant_id: Uuid,
    rows: Vec<Row>,
    from: NaiveDate,
    length: i64,
) -> Result<Timeline, kalends_store::StoreError> {
    let days: Vec<NaiveDate> = (0..length).map(|i| from + Duration::days(i)).collect();
    let open = store.list_conflicts(tenant_id, Some(true), None, 500).await?.items;
    // Wide enough for every zone: each row keeps what falls on its own days.
    let window = (
        local_midnight(from, TimeZone::UTC) - Duration::days(1),
        local_midnight(from + Duration::days(length), TimeZone::UTC) + Duration::days(1),
    );
    let reads = rows.iter().map(|row| store.busy_items(tenant_id, row.owner, Some(window)));
    let mut items = futures::future::try_join_all(reads).await?;
    let imported: Vec<Uuid> = items
        .iter()
        .flatten()
        .filter(|b| b.item.source == Source::Feed)
        .map(|b| b.item.id)
        .collect();
    if !imported.is_empty() {
        let details = store.imported_details(tenant_id, &imported).await?;
        for item in items.iter_mut().flatten() {
            if let Some((_, details)) = details.iter().find(|(id, _)| *id == item.item.id) {
                item.label = detailed_label(&item.label, details);
            }
        }
    }
    let cells = rows
        .iter()
        .zip(&items)
        .map(|(row, items)| {
            let mine: Vec<&Conflict> = open.iter().filter(|c| c.owner == row.owner).collect();
            cells(&days, row.zone, items, &mine)
        })
        .collect();
    Ok(Timeline { from, days, rows, cells })
}

/// An imported reservation's label with what its platform's feed says of it, for the tooltip:
/// `Airbnb: Reserved (HMABCD1234, phone ending 4321, 2 guests)`.
fn detailed_label(label: &str, details: &ItemDetails) -> String {
    let mut known = Vec::new();
    known.extend(details.reservation_code.clone());
    known.extend(details.phone_last_digits.as_ref().map(|d| format!("phone ending {d}")));
    known.extend(details.guests.map(|n| format!("{n} guest{}", if n == 1 { "" } else { "s" })));
    if known.is_empty() { label.to_owned() } else { format!("{label} ({})", known.join(", ")) }
}

/// The timeline's rows of `resources`, each house followed by its rooms (a room whose house is
/// not among them comes last, on its own).
pub fn property_rows(resources: Vec<Resource>, home: TimeZone) -> Vec<Row> {
    let names: HashMap<Uuid, String> =
        resources.iter().map(|r| (r.id, r.data.name.clone())).collect();
    let row = |r: &Resource| Row {
        owner: Owner::Resource(r.id),
        name: r.data.name.clone(),
        zone: r.data.time_zone.unwrap_or(home),
        house: r.data.parent_id.and_then(|p| names.get(&p).cloned()),
    };
    let mut rows = Vec::with_capacity(resources.len());
    for house in resources.iter().filter(|r| r.data.parent_id.is_none()) {
        rows.push(row(house));
        rows.extend(resources.iter().filter(|r| r.data.parent_id == Some(house.id)).map(row));
    }
    let orphan = |r: &&Resource| r.data.parent_id.is_some_and(|p| !names.contains_key(&p));
    rows.extend(resources.iter().filter(orphan).map(row));
    rows
}

/// What the overview's health strip shows.
struct Health {
    attention: Attention,
    figures: DayFigures,
}

async fn health(state: &AppState, tenant_id: Uuid) -> Result<Health, kalends_store::StoreError> {
    let store = &state.store;
    let (attention, figures) = tokio::try_join!(
        store.attention(tenant_id),
        store.day_figures(tenant_id, Utc::now() - Duration::hours(24)),
    )?;
    Ok(Health { attention, figures })
}

/// `GET /dashboard?view=resources|staff&days=14|30|90&from=YYYY-MM-DD`.
pub(super) async fn page_handler(
    state: &AppState,
    console: &Console,
    q: &HashMap<String, String>,
) -> Result<Response, Response> {
    let tenant = &console.tenant;
    let home = tenant.settings.time_zone;
    let staff_view = query(q, "view") == Some("staff");
    let length = query(q, "days")
        .and_then(|d| d.parse().ok())
        .filter(|d| WINDOWS.contains(d))
        .unwrap_or(WINDOWS[0]);
    let today = Utc::now().with_timezone(&home.tz()).date_naive();
    let from = query(q, "from").and_then(|d| d.parse::<NaiveDate>().ok()).unwrap_or(today);
    let rows: Vec<Row> = if staff_view {
        console
            .staff(state)
            .await?
            .into_iter()
            .map(|s| Row {
                owner: Owner::Staff(s.id),
                name: s.data.name,
                zone: s.data.time_zone.unwrap_or(home),
                house: None,
            })
            .collect()
    } else {
        property_rows(console.resources(state).await?, home)
    };
    let mut timeline =
        timeline(&state.store, tenant.id, rows, from, length).await.map_err(internal)?;
    if !staff_view {
        rules::mark_rule_closed(&state.store, tenant, &mut timeline).await.map_err(internal)?;
    }
    let health = health(state, tenant.id).await.map_err(internal)?;
    let [hours, days] = charts::read(state, tenant.id, home, Utc::now()).await.map_err(internal)?;
    let view = if staff_view { "staff" } else { "resources" };
    let link = |days: i64, from: NaiveDate, view: &str| {
        format!("/dashboard?view={view}&days={days}&from={from}")
    };
    let body = html! {
        h1 { "Overview" }
        (notice(query(q, "notice")))
        (health_strip(&health))
        section.card aria-labelledby="activity-title" {
            h2 #activity-title { "Activity" }
            (hours.markup("Last 24 hours, by the hour"))
            (days.markup("Last 30 days, by the day"))
        }
        section.card aria-labelledby="timeline-title" {
            h2 #timeline-title { (if staff_view { "Team calendar" } else { "Availability" }) }
            div.toolbar {
                a.button href=(link(length, from - Duration::days(length), view)) { "← Earlier" }
                a.button href=(link(length, today, view)) { "Today" }
                a.button href=(link(length, from + Duration::days(length), view)) { "Later →" }
                @for days in WINDOWS {
                    a.button href=(link(days, from, view)) aria-current=(days == length) { (days) " days" }
                }
                a.button href=(link(length, from, "resources")) aria-current=(!staff_view) { "By property" }
                a.button href=(link(length, from, "staff")) aria-current=(staff_view) { "By staff member" }
                a.button href="/dashboard/rules" { "Availability rules" }
                a.button href="/dashboard/properties" { "Properties" }
            }
            (legend())
            @if !staff_view && !timeline.rows.is_empty() {
                // Shown by the script, which makes free nights clickable; the form is the way
                // by keyboard.
                p.muted hidden data-timeline-hint {
                    span #timeline-hint aria-live="polite" {
                        "To block dates, click a free night of a property, then the last night to block."
                    }
                    " " a href="/dashboard/blocks" { "Or block dates with the form." }
                }
            }
            (timeline_table(&timeline, staff_view, today))
        }
    };
    Ok(page(console, Section::Overview, "Overview", body))
}

/// The route: see [`page_handler`].
pub(super) async fn show(
    State(state): State<AppState>,
    console: Console,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    page_handler(&state, &console, &q).await.unwrap_or_else(|refused| refused)
}

fn health_strip(health: &Health) -> Markup {
    let (f, a) = (&health.figures, &health.attention);
    let attention = [
        (a.failing_imports, "/dashboard/sync", "imports failing"),
        (a.connections_to_reconnect, "/dashboard/staff", "calendars to reconnect"),
        (a.failed_syncs, "/dashboard/staff#failed-syncs", "bookings not synced"),
    ];
    html! {
        section.health aria-label="Needs attention" {
            @for (count, link, label) in attention {
                div.card.(if count > 0 { "bad" } else { "ok" }) {
                    div.figure { (count) }
                    div.figure-label { a href=(link) { (label) } }
                }
            }
        }
        section.card aria-labelledby="day-title" {
            h2 #day-title { "Last 24 hours" }
            div.figures {
                (figure(f.bookings_synced, "bookings synced"))
                (figure(f.imports_run, "imports run"))
                (figure(f.imports_failed, "imports failed"))
                (figure(f.conflicts_opened, "conflicts opened"))
                (figure(f.conflicts_resolved, "conflicts resolved"))
                (figure(f.emails_sent, "e-mails sent"))
                (figure(f.jobs_failed, "jobs failed"))
            }
        }
    }
}

fn figure(value: i64, label: &str) -> Markup {
    html! { div { div.figure { (value) } div.figure-label { (label) } } }
}

fn legend() -> Markup {
    html! {
        p.legend {
            span { i.booking {} "Booking" }
            span { i.tentative {} "Tentative" }
            span { i.feed {} "Platform (imported feed)" }
            span { i.block {} "Block" }
            span { i.calendar {} "Staff calendar busy" }
            span { i.rule {} "Closed by a rule" }
            span { i.conflict {} "Conflict" }
        }
    }
}

fn describe(kind: &str) -> &'static str {
    match kind {
        "booking" => "Booked",
        "tentative" => "Tentative",
        "feed" => "Platform",
        "block" => "Blocked",
        "rule" => "Not bookable",
        _ => "Busy",
    }
}

fn timeline_table(timeline: &Timeline, staff_view: bool, today: NaiveDate) -> Markup {
    let first = timeline.days.first().copied().unwrap_or(timeline.from);
    let last = timeline.days.last().copied().unwrap_or(timeline.from);
    html! {
        @if timeline.rows.is_empty() {
            p.empty { (if staff_view { "No staff members yet." } else { "No properties yet: add them through the API or on the Properties page." }) }
        } @else {
            // Focusable, so that the keyboard scrolls it when it is wider than the screen.
            div.timeline-wrap role="region" tabindex="0" aria-labelledby="timeline-title" {
                table.timeline {
                    caption.visually-hidden { "From " (first.format("%-d %B %Y")) " to " (last.format("%-d %B %Y")) }
                    thead {
                        tr {
                            th scope="col" { (if staff_view { "Staff member" } else { "Property" }) }
                            @for day in &timeline.days {
                                @let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
                                th.weekend[weekend] scope="col" title=(day.format("%A %-d %B")) data-day=(day) {
                                    (day.format("%a")) br; (day.day())
                                }
                            }
                        }
                    }
                    tbody {
                        @for (row, cells) in timeline.rows.iter().zip(&timeline.cells) {
                            // A property's free nights can be picked to block (console.js).
                            @let blocks = match row.owner {
                                Owner::Resource(id) if !staff_view => Some(format!("/dashboard/blocks?resource_id={id}")),
                                _ => None,
                            };
                            tr data-block=[blocks] {
                                (row_head(row))
                                @for (day, cell) in timeline.days.iter().zip(cells) {
                                    (cell_markup(*day, cell, (!staff_view).then_some(today)))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A row's name; a room's indented under its house, whose name screen readers hear with it.
fn row_head(row: &Row) -> Markup {
    html! {
        @match &row.house {
            Some(house) => th.room scope="row" title=(format!("A room of {house}")) {
                span aria-hidden="true" { "↳ " }
                (row.name)
                span.visually-hidden { ", a room of " (house) }
            },
            None => th scope="row" { (row.name) },
        }
    }
}

/// One day of a row. A property's day is a night (`nights_seen` is today, for the year): its
/// tooltip says `the night of Fri 27 Nov`; a staff member's says `Fri 27 Nov`.
fn cell_markup(day: NaiveDate, cell: &Cell, nights_seen: Option<NaiveDate>) -> Markup {
    let Some(kind) = cell.kind else {
        return html! { td.cell {} };
    };
    let when = match nights_seen {
        Some(today) => kalends_core::words::nights(day, day + Duration::days(1), today),
        None => day.format("%a %-d %b").to_string(),
    };
    let text = format!("{when}: {}: {}", describe(kind), cell.labels.join(", "));
    html! {
        @match cell.conflict {
            Some(id) => td.cell.(kind).conflict title=(format!("{text} (conflict)")) {
                a href=(format!("/dashboard/conflicts#c-{id}")) {
                    span.visually-hidden { (text) ", conflict" } "!"
                }
            },
            None => td.cell.(kind) title=(text) { span { span.visually-hidden { (text) } } },
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use kalends_core::conflicts::{ItemRef, Source};

    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2030, 3, d).unwrap()
    }

    fn busy(class: Class, from: u32, to: u32, label: &str) -> Busy {
        let at = |d: u32| Utc.with_ymd_and_hms(2030, 3, d, 0, 0, 0).unwrap();
        Busy {
            item: ItemRef { source: Source::Booking, id: Uuid::now_v7() },
            start: at(from),
            end: at(to),
            all_day: true,
            class,
            group: None,
            label: label.into(),
            kin: Default::default(),
        }
    }

    #[test]
    fn a_stay_covers_its_nights_and_not_its_check_out_day() {
        let days: Vec<_> = (10..15).map(day).collect();
        let cells = cells(&days, TimeZone::UTC, &[busy(Class::Confirmed, 11, 13, "Smith")], &[]);
        let kinds: Vec<_> = cells.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [None, Some("booking"), Some("booking"), None, None]);
        assert_eq!(cells[1].labels, ["Smith"]);
    }

    #[test]
    fn an_imported_reservation_is_labelled_with_what_its_feed_says_and_nothing_more() {
        let details = ItemDetails {
            reservation_code: Some("HMABCD1234".into()),
            phone_last_digits: Some("4321".into()),
            guests: Some(1),
            ..ItemDetails::default()
        };
        let label = detailed_label("Airbnb: Reserved", &details);
        assert_eq!(label, "Airbnb: Reserved (HMABCD1234, phone ending 4321, 1 guest)");
        let bare = detailed_label("Airbnb: Reserved", &ItemDetails::default());
        assert_eq!(bare, "Airbnb: Reserved");
    }

    #[test]
    fn a_booking_shows_over_a_block_on_the_same_day_with_both_labels() {
        let days: Vec<_> = (10..12).map(day).collect();
        let items = [busy(Class::Block, 10, 12, "Painting"), busy(Class::Confirmed, 11, 12, "Lee")];
        let cells = cells(&days, TimeZone::UTC, &items, &[]);
        assert_eq!(cells[0].kind, Some("block"));
        assert_eq!(cells[1].kind, Some("booking"));
        assert_eq!(cells[1].labels, ["Painting", "Lee"]);
    }
}
