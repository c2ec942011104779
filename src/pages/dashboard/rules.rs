//! The availability rules of a property (resource) or a staff member: a form with the fields of
//! `PUT /api/v1/{resources,staff}/{id}/rules`, checked by the same `Rules::try_from`, its errors
//! shown under their fields with everything typed kept; and the nights the rules close, for the
//! overview's timeline.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use chrono::{Utc, Weekday};
use kalends_core::availability::{
    Closure, Night, NightState, RuleError, Rules, RulesDraft, day_name,
};
use kalends_core::domain::{Owner, Tenant};
use kalends_service::availability::{self, RulesRefused};
use kalends_store::{Store, StoreError};
use maud::{Markup, html};
use uuid::Uuid;

use super::timeline::{Cell, Timeline};
use super::{
    Console, Form, Posted, Section, done, field_error, id_of, invalid, notice, page_with_status,
    query, store_failure,
};
use crate::input::FieldError;
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard/rules", get(index))
        .route("/dashboard/resources/{id}/rules", get(show::<false>).post(save::<false>))
        .route("/dashboard/staff/{id}/rules", get(show::<true>).post(save::<true>))
}

/// Where an owner's rules form is.
pub fn rules_path(owner: Owner) -> String {
    match owner {
        Owner::Resource(id) => format!("/dashboard/resources/{id}/rules"),
        Owner::Staff(id) => format!("/dashboard/staff/{id}/rules"),
    }
}

/// `GET /dashboard/rules`: every property and staff member, each with a link to its rules.
async fn index(State(state): State<AppState>, console: Console) -> Response {
    let (resources, staff) =
        match tokio::try_join!(console.resources(&state), console.staff(&state)) {
            Ok(read) => read,
            Err(refused) => return refused,
        };
    let properties: Vec<(Owner, &str)> =
        resources.iter().map(|r| (Owner::Resource(r.id), r.data.name.as_str())).collect();
    let members: Vec<(Owner, &str)> =
        staff.iter().map(|s| (Owner::Staff(s.id), s.data.name.as_str())).collect();
    let list = |heading: &str, owners: &[(Owner, &str)], none: &str| {
        html! {
            section.card {
                h2 { (heading) }
                @if owners.is_empty() { p.empty { (none) } }
                ul { @for (owner, name) in owners {
                    li { a href=(rules_path(*owner)) { "Rules of " (name) } }
                } }
            }
        }
    };
    let body = html! {
        h1 { "Availability rules" }
        p.muted { "Turnover, stay lengths, notice, the booking window and arrival days for properties; opening hours and buffers for staff members." }
        (list("Properties", &properties, "No properties yet: add resources through the API."))
        (list("Staff members", &members, "No staff members yet."))
    };
    page_with_status(StatusCode::OK, &console, Section::Overview, "Availability rules", body)
}

/// The number fields: name, label, and the range `Rules::try_from` accepts (said in the label;
/// the server checks).
const NUMBERS: [(&str, &str, i64, i64); 8] = [
    ("turnover_days", "Turnover: nights kept free after each stay and before each stay", 0, 30),
    ("min_nights", "Shortest stay, in nights", 1, 365),
    ("max_nights", "Longest stay, in nights", 1, 365),
    ("min_notice_days", "Stays: days of notice before check-in", 0, 365),
    ("booking_window_days", "Nothing bookable further ahead than (days)", 1, 1095),
    ("min_notice_minutes", "Appointments: minutes of notice", 0, 100_000),
    ("buffer_before_minutes", "Minutes kept free before each appointment", 0, 240),
    ("buffer_after_minutes", "Minutes kept free after each appointment", 0, 240),
];

/// The weekdays, Monday first, with their names in words.
const DAYS: [(Weekday, &str); 7] = [
    (Weekday::Mon, "Monday"),
    (Weekday::Tue, "Tuesday"),
    (Weekday::Wed, "Wednesday"),
    (Weekday::Thu, "Thursday"),
    (Weekday::Fri, "Friday"),
    (Weekday::Sat, "Saturday"),
    (Weekday::Sun, "Sunday"),
];

/// The form's values as shown: the stored rules, or what was typed.
#[derive(Debug, Default)]
struct Shown {
    /// By field name; empty: no rule.
    numbers: HashMap<&'static str, String>,
    no_arrival: Vec<&'static str>,
    no_departure: Vec<&'static str>,
    /// Opening periods by weekday name, as `09:00-12:30, 13:30-18:00`.
    hours: HashMap<&'static str, String>,
    block_short_gaps: bool,
    export_to_feeds: bool,
}

impl Shown {
    fn of(draft: &RulesDraft) -> Self {
        let numbers = number_values(draft)
            .into_iter()
            .map(|(name, value)| (name, value.map(|v| v.to_string()).unwrap_or_default()))
            .collect();
        let names = |days: &Option<Vec<String>>| {
            let days = days.as_deref().unwrap_or_default();
            DAYS.iter().map(|(d, _)| day_name(*d)).filter(|n| days.iter().any(|d| d == n)).collect()
        };
        let hours = DAYS
            .iter()
            .map(|(d, _)| {
                let periods = draft.weekly_hours.as_ref().and_then(|h| h.get(day_name(*d)));
                let text = periods.map_or_else(String::new, |periods| {
                    periods.iter().map(|[a, b]| format!("{a}-{b}")).collect::<Vec<_>>().join(", ")
                });
                (day_name(*d), text)
            })
            .collect();
        Shown {
            numbers,
            no_arrival: names(&draft.no_arrival_days),
            no_departure: names(&draft.no_departure_days),
            hours,
            block_short_gaps: draft.block_short_gaps.unwrap_or(false),
            export_to_feeds: draft.export_to_feeds.unwrap_or(false),
        }
    }

    fn typed(form: &Form) -> Self {
        let ticked = |prefix: &str| {
            DAYS.iter()
                .map(|(d, _)| day_name(*d))
                .filter(|n| form.get(&format!("{prefix}.{n}")) == Some("yes"))
                .collect()
        };
        Shown {
            numbers: NUMBERS
                .iter()
                .map(|(name, ..)| (*name, form.value(name).to_owned()))
                .collect(),
            no_arrival: ticked("no_arrival_days"),
            no_departure: ticked("no_departure_days"),
            hours: DAYS
                .iter()
                .map(|(d, _)| (day_name(*d), form.value(&hours_field(*d)).to_owned()))
                .collect(),
            block_short_gaps: form.get("block_short_gaps") == Some("yes"),
            export_to_feeds: form.get("export_to_feeds") == Some("yes"),
        }
    }
}

/// The number fields of a draft, by name.
fn number_values(draft: &RulesDraft) -> [(&'static str, Option<i64>); NUMBERS.len()] {
    [
        ("turnover_days", draft.turnover_days),
        ("min_nights", draft.min_nights),
        ("max_nights", draft.max_nights),
        ("min_notice_days", draft.min_notice_days),
        ("booking_window_days", draft.booking_window_days),
        ("min_notice_minutes", draft.min_notice_minutes),
        ("buffer_before_minutes", draft.buffer_before_minutes),
        ("buffer_after_minutes", draft.buffer_after_minutes),
    ]
}

/// The form field of a weekday's opening hours.
fn hours_field(day: Weekday) -> String {
    format!("weekly_hours.{}", day_name(day))
}

/// The form as a draft, and the form's own errors: what is not even a number or a period (left
/// out of the draft).
fn draft_of(form: &Form) -> (RulesDraft, Vec<FieldError>) {
    let mut errors = Vec::new();
    let mut number = |name: &str| {
        let text = form.trimmed(name)?;
        let parsed = text.parse::<i64>();
        if parsed.is_err() {
            errors
                .push(FieldError { field: name.into(), message: "must be a whole number".into() });
        }
        parsed.ok()
    };
    let mut draft = RulesDraft {
        turnover_days: number("turnover_days"),
        min_nights: number("min_nights"),
        max_nights: number("max_nights"),
        min_notice_days: number("min_notice_days"),
        booking_window_days: number("booking_window_days"),
        min_notice_minutes: number("min_notice_minutes"),
        buffer_before_minutes: number("buffer_before_minutes"),
        buffer_after_minutes: number("buffer_after_minutes"),
        block_short_gaps: (form.get("block_short_gaps") == Some("yes")).then_some(true),
        export_to_feeds: (form.get("export_to_feeds") == Some("yes")).then_some(true),
        ..RulesDraft::default()
    };
    let shown = Shown::typed(form);
    let days = |names: &[&str]| {
        (!names.is_empty()).then(|| names.iter().map(|n| (*n).to_owned()).collect())
    };
    draft.no_arrival_days = days(&shown.no_arrival);
    draft.no_departure_days = days(&shown.no_departure);
    draft.weekly_hours = weekly_hours(form, &mut errors);
    (draft, errors)
}

/// The opening hours typed, `09:00-12:30, 13:30-18:00` a day (none typed: no rule); a period
/// without its dash is an error of that day's field.
fn weekly_hours(
    form: &Form,
    errors: &mut Vec<FieldError>,
) -> Option<std::collections::BTreeMap<String, Vec<[String; 2]>>> {
    let mut hours = std::collections::BTreeMap::new();
    for (day, _) in DAYS {
        let Some(text) = form.trimmed(&hours_field(day)) else { continue };
        let mut periods = Vec::new();
        for period in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match period.split_once('-') {
                Some((a, b)) => periods.push([a.trim().to_owned(), b.trim().to_owned()]),
                None => errors.push(FieldError {
                    field: hours_field(day),
                    message: "write periods as 09:00-12:30, separated by commas".into(),
                }),
            }
        }
        hours.insert(day_name(day).to_owned(), periods);
    }
    (!hours.is_empty()).then_some(hours)
}

/// The checker's errors as the form's: a weekday's hours (`weekly_hours.mon[1]`) under that
/// day's field, the others under their own.
fn form_errors(errors: Vec<RuleError>) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|e| {
            let field = match e.field.split_once('[') {
                Some((day, _)) if day.starts_with("weekly_hours.") => day.to_owned(),
                _ => e.field,
            };
            FieldError { field, message: e.message }
        })
        .collect()
}

/// Whose rules a page shows: the owner and its name.
struct Whose {
    owner: Owner,
    name: String,
}

impl Whose {
    /// The owner's name, for the owner a path named (or the page refusing the path).
    async fn read(
        state: &AppState,
        tenant: &Tenant,
        owner: Result<Owner, Response>,
    ) -> Result<Whose, Response> {
        let owner = owner?;
        let name = match owner {
            Owner::Resource(id) => state.store.resource(tenant.id, id).await.map(|r| r.data.name),
            Owner::Staff(id) => state.store.staff(tenant.id, id).await.map(|s| s.data.name),
        };
        name.map(|name| Whose { owner, name }).map_err(|e| store_failure(what(owner), e))
    }
}

/// The owner's kind in words, for the page saying it is not there.
fn what(owner: Owner) -> &'static str {
    match owner {
        Owner::Resource(_) => "Property",
        Owner::Staff(_) => "Staff member",
    }
}

/// The owner whose id a path holds: a staff member under `/dashboard/staff/`, else a property;
/// the page that says it is not there when the id is no id.
fn owner_of<const STAFF: bool>(id: &str) -> Result<Owner, Response> {
    let make = if STAFF { Owner::Staff } else { Owner::Resource };
    id_of(id, what(make(Uuid::nil()))).map(make)
}

/// `GET` a rules form: the stored rules.
async fn show<const STAFF: bool>(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let whose = match Whose::read(&state, &console.tenant, owner_of::<STAFF>(&id)).await {
        Ok(whose) => whose,
        Err(refused) => return refused,
    };
    match state.store.owner_rules(&console.tenant, whose.owner).await {
        Ok(owned) => {
            let shown = Shown::of(&RulesDraft::from(&owned.rules));
            render(&console, &whose, &shown, &[], query(&q, "notice"))
        }
        Err(e) => store_failure(what(whose.owner), e),
    }
}

/// Saves the rules through the same use case as the API; on errors the form comes back with
/// them under their fields and everything typed kept.
async fn save<const STAFF: bool>(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { console, form }: Posted,
) -> Response {
    let whose = match Whose::read(&state, &console.tenant, owner_of::<STAFF>(&id)).await {
        Ok(whose) => whose,
        Err(refused) => return refused,
    };
    let owner = whose.owner;
    let refused =
        |errors: &[FieldError]| render(&console, &whose, &Shown::typed(&form), errors, None);
    let (draft, mut errors) = draft_of(&form);
    if !errors.is_empty() {
        // What is not even a number is left out of the draft; the rest is checked too, so that
        // every error shows at once.
        if let Err(more) = Rules::try_from(draft) {
            errors.extend(form_errors(more));
        }
        return refused(&errors);
    }
    match availability::set_rules(&state.store, &console.tenant, owner, draft).await {
        Ok(_) => done(&rules_path(owner), "rules-saved"),
        Err(RulesRefused::Invalid(errors)) => refused(&form_errors(errors)),
        Err(RulesRefused::Store(e)) => store_failure(what(owner), e),
    }
}

/// The page: the form, with `errors` under their fields (422 when there are any).
fn render(
    console: &Console,
    whose: &Whose,
    shown: &Shown,
    errors: &[FieldError],
    code: Option<&str>,
) -> Response {
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let title = format!("Availability rules of {}", whose.name);
    let section = match whose.owner {
        Owner::Resource(_) => Section::Overview,
        Owner::Staff(_) => Section::Staff,
    };
    let body = html! {
        h1 { (title) }
        (notice(code))
        @if !errors.is_empty() {
            p.flash.bad role="alert" { "Some rules are not valid: see the fields marked below. Nothing was saved." }
        }
        section.card {
            p.muted { "Every field is optional: an empty one sets no rule." }
            form.stack method="post" action=(rules_path(whose.owner)) novalidate {
                (console.csrf_field())
                fieldset {
                    legend { "Stays and bookings" }
                    @for (name, label, min, max) in &NUMBERS {
                        (number_input(shown, errors, name, label, (*min, *max)))
                    }
                }
                (weekday_checks("no_arrival_days", "No check-in on", &shown.no_arrival, errors))
                (weekday_checks("no_departure_days", "No check-out on", &shown.no_departure, errors))
                (hours_inputs(shown, errors))
                fieldset {
                    legend { "Closing nights" }
                    label.check {
                        input type="checkbox" name="block_short_gaps" value="yes" checked[shown.block_short_gaps];
                        "Close free gaps too short for the shortest stay"
                    }
                    label.check {
                        input type="checkbox" name="export_to_feeds" value="yes" checked[shown.export_to_feeds];
                        "Show the nights the rules close in the property's feeds (booking platforms close them too)"
                    }
                }
                div.actions { button.primary type="submit" { "Save rules" } }
            }
        }
    };
    page_with_status(status, console, section, &title, body)
}

fn number_input(
    shown: &Shown,
    errors: &[FieldError],
    name: &str,
    label: &str,
    (min, max): (i64, i64),
) -> Markup {
    let value = shown.numbers.get(name).map_or("", String::as_str);
    html! {
        label for=(name) { (label) " (" (min) " to " (max) ")" }
        input id=(name) name=(name) inputmode="numeric" value=(value)
            aria-invalid=(invalid(errors, name)) aria-describedby=(format!("{name}-error"));
        (field_error(errors, name))
    }
}

fn weekday_checks(name: &str, legend: &str, ticked: &[&str], errors: &[FieldError]) -> Markup {
    html! {
        fieldset.checks aria-describedby=(format!("{name}-error")) {
            legend { (legend) }
            @for (day, long) in DAYS {
                label.check {
                    input type="checkbox" name=(format!("{name}.{}", day_name(day))) value="yes"
                        checked[ticked.contains(&day_name(day))];
                    (long)
                }
            }
            (field_error(errors, name))
        }
    }
}

fn hours_inputs(shown: &Shown, errors: &[FieldError]) -> Markup {
    html! {
        fieldset {
            legend { "Appointments: opening hours (e.g. 09:00-12:30, 13:30-18:00; empty: closed that day)" }
            @for (day, long) in DAYS {
                @let field = hours_field(day);
                label for=(field) { (long) }
                input id=(field) name=(field) value=(shown.hours.get(day_name(day)).map_or("", String::as_str))
                    aria-invalid=(invalid(errors, &field)) aria-describedby=(format!("{field}-error"));
                (field_error(errors, &field))
            }
            (field_error(errors, "weekly_hours"))
        }
    }
}

/// Marks the free nights of each property row of `timeline` that its rules close (turnover
/// around a stay, the notice, the booking window, a gap too short), naming the rule; past nights
/// are not closed by anyone and stay as they are.
pub async fn mark_rule_closed(
    store: &Store,
    tenant: &Tenant,
    timeline: &mut Timeline,
) -> Result<(), StoreError> {
    let (Some(first), Some(last)) = (timeline.days.first(), timeline.days.last()) else {
        return Ok(());
    };
    let window = (*first, *last + chrono::Days::new(1));
    let owners: Vec<Owner> = timeline.rows.iter().map(|row| row.owner).collect();
    for owned in store.rules_of(tenant, &owners).await? {
        let row = timeline.rows.iter().position(|row| row.owner == owned.owner);
        let Some(cells) = row.and_then(|row| timeline.cells.get_mut(row)) else { continue };
        if owned.rules.is_empty() || !matches!(owned.owner, Owner::Resource(_)) {
            continue;
        }
        let today = owned.today(Utc::now());
        let nights = availability::stays_under(store, tenant, &owned, today, window).await?;
        for (cell, night) in cells.iter_mut().zip(&nights) {
            mark(cell, night);
        }
    }
    Ok(())
}

/// Marks one day of the timeline when a rule closes its night and nothing else shows there.
fn mark(cell: &mut Cell, night: &Night) {
    let rule = match (night.state, night.closed_by) {
        (NightState::Turnover, _) => "turnover after a stay (turnover_days)",
        (NightState::ClosedByRule, Some(Closure::Notice)) => "notice (min_notice_days)",
        (NightState::ClosedByRule, Some(Closure::Window)) => {
            "beyond the booking window (booking_window_days)"
        }
        (NightState::ClosedByRule, Some(Closure::ShortGap)) => {
            "gap too short to sell (block_short_gaps)"
        }
        _ => return,
    };
    if cell.kind.is_none() {
        cell.kind = Some("rule");
        cell.labels.push(format!("closed by a rule: {rule}"));
    }
}
