//! The overview: what needs attention, the last day in figures, charts of the last day and
//! month (`charts.rs`), and a timeline of every resource (or staff member) over 14, 30 or 90
//! days.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{Datelike as _, Duration, NaiveDate, Utc, Weekday};
use kalends_core::domain::Owner;
use kalends_store::{Attention, DayFigures};
use maud::{Markup, html};
use uuid::Uuid;

use super::timeline::{Cell, Row, Timeline, property_rows, timeline};
use super::{Console, Section, charts, internal, notice, page, query, rules};
use crate::state::AppState;

/// The windows the timeline offers, in days.
const WINDOWS: [i64; 3] = [14, 30, 90];

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
