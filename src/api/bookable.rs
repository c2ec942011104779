//! `/api/v1/availability/stays` and `/api/v1/availability/slots`: what may be booked, under the
//! availability rules of the resource or staff members asked about. Query values are read as
//! text, so that each bad one is a field error of its own.

use axum::extract::State;
use chrono::{DateTime, Days, Duration, NaiveDate, Utc};
use kalends_core::availability::{Mode, Night};
use kalends_core::domain::{Owner, Tenant, local_midnight};
use kalends_service::availability::{self, SlotsWanted};
use kalends_store::StoreError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::error::{ApiError, Problem};
use super::extract::{ApiQuery, AuthTenant};
use crate::input::fields::{Checker, When};
use crate::state::AppState;

/// The most nights one request may ask for.
const MAX_NIGHTS: u64 = 366;
/// The longest window of slots one request may ask for.
const MAX_SLOT_DAYS: i64 = 92;
/// The most slot starts times owners one slots answer may reach (the window over the step, for
/// each staff member asked).
const MAX_SLOT_ANSWERS: i64 = 100_000;

/// `?resource_id=&from=&to=`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct StaysQuery {
    /// The resource (a property, a room).
    pub resource_id: Option<String>,
    /// The first night (a date). Default: today in the resource's zone.
    pub from: Option<String>,
    /// The day after the last night (a date). Default: 90 days after `from`; at most 366 after.
    pub to: Option<String>,
}

/// One night and what a stay may do on it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NightOut {
    /// The night's date (the night that starts on it).
    pub date: NaiveDate,
    /// `free`, `booked`, `blocked`, `turnover` or `closed_by_rule`.
    pub state: String,
    /// For `closed_by_rule`: the rule that closes it (`min_notice_days`, `booking_window_days`,
    /// `block_short_gaps`), or `past`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<String>,
    /// A stay may start on it.
    pub can_check_in: bool,
    /// A stay may end on this date (its last night the one before).
    pub can_check_out: bool,
    /// The shortest stay starting on it.
    pub min_nights: u32,
    /// The last check-out date a stay starting on it may have under every rule; null when no
    /// stay may start on it.
    pub max_check_out: Option<NaiveDate>,
}

impl From<&Night> for NightOut {
    fn from(n: &Night) -> Self {
        NightOut {
            date: n.date,
            state: n.state.as_str().to_owned(),
            closed_by: n.closed_by.map(|c| c.as_str().to_owned()),
            can_check_in: n.can_check_in,
            can_check_out: n.can_check_out,
            min_nights: n.min_nights,
            max_check_out: n.max_check_out,
        }
    }
}

/// The nights asked for.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StaysOut {
    /// The resource's zone: nights are its dates.
    pub time_zone: String,
    /// One entry per night, by date.
    pub nights: Vec<NightOut>,
}

/// The nights of a resource: which are free, and on which a stay may start and end under its
/// rules (turnover, stay lengths, booking window, notice, arrival and departure days, short
/// gaps) and everything it has busy (bookings, blocks, imported platform reservations).
#[utoipa::path(get, path = "/api/v1/availability/stays", tag = "availability",
    params(StaysQuery),
    responses((status = 200, body = StaysOut), (status = 422, body = Problem)))]
async fn stays(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    ApiQuery(q): ApiQuery<StaysQuery>,
) -> Result<axum::Json<StaysOut>, ApiError> {
    let mut c = Checker::default();
    let resource = required_id(&mut c, "resource_id", q.resource_id.as_deref());
    let from = q.from.as_deref().and_then(|v| c.date("from", v));
    let to = q.to.as_deref().and_then(|v| c.date("to", v));
    let (resource, from, to) = c.finish(|| (resource, from, to)).map_err(ApiError::invalid)?;
    let owner = Owner::Resource(resource.expect("checked"));
    // The resource's rules and zone, read once: the default window and the nights both use them.
    let owned = match state.store.owner_rules(&tenant, owner).await {
        Err(StoreError::NotFound) => {
            return Err(ApiError::invalid_field("resource_id", "no such staff member or resource"));
        }
        other => other?,
    };
    let (zone, today) = (owned.zone, owned.today(Utc::now()));
    let from = from.unwrap_or(today);
    let to = to.or_else(|| from.checked_add_days(Days::new(90)));
    let mut c = Checker::default();
    match to {
        None => c.fail("from", "is too far in the future"),
        Some(to) if to <= from => c.fail("to", "must be after from"),
        Some(to) if to > from + Days::new(MAX_NIGHTS) => c.fail("to", "at most 366 nights"),
        Some(_) => {}
    }
    let to = c.finish(|| to.expect("checked")).map_err(ApiError::invalid)?;
    let nights =
        availability::stays_under(&state.store, &tenant, &owned, today, (from, to)).await?;
    let nights = nights.iter().map(NightOut::from).collect();
    Ok(axum::Json(StaysOut { time_zone: zone.tz().name().to_owned(), nights }))
}

/// `?staff_id=|resource_id=|staff_ids=a,b&mode=&duration_minutes=&step_minutes=&from=&to=`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct SlotsQuery {
    /// One staff member.
    pub staff_id: Option<String>,
    /// One resource.
    pub resource_id: Option<String>,
    /// Several staff members, comma-separated.
    pub staff_ids: Option<String>,
    /// `any` (default: a slot lists the staff free for it, least booked that week first) or
    /// `all` (everyone at once).
    pub mode: Option<String>,
    /// Each slot's length, 5 to 1440 minutes.
    pub duration_minutes: Option<String>,
    /// Between slot starts within an opening period, 5 to 1440 minutes; default the duration.
    pub step_minutes: Option<String>,
    /// Slots start at or after this: a date (midnight in the first owner's zone) or an RFC 3339
    /// instant. Default: now.
    pub from: Option<String>,
    /// ...and before this, likewise. Default: 7 days after `from`; at most 92 days after it.
    pub to: Option<String>,
}

/// A bookable slot.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SlotOut {
    /// Its start (UTC).
    pub start: DateTime<Utc>,
    /// Its end (UTC).
    pub end: DateTime<Utc>,
    /// The staff free for it: with `mode=any` the least booked that week first; with `mode=all`
    /// everyone asked. Empty for a resource's slots.
    pub staff_ids: Vec<Uuid>,
    /// The resource, for a resource's slots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<Uuid>,
}

/// The slots asked for.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SlotsOut {
    /// The zone of the (first) owner, whose opening hours the slots follow.
    pub time_zone: String,
    /// The slots, by start.
    pub slots: Vec<SlotOut>,
}

/// Bookable appointment slots: inside the opening hours, outside bookings, blocks and busy
/// times of connected calendars, with the buffers kept, after the notice and within the
/// booking window of each owner.
#[utoipa::path(get, path = "/api/v1/availability/slots", tag = "availability",
    params(SlotsQuery),
    responses((status = 200, body = SlotsOut), (status = 422, body = Problem)))]
async fn slots(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    ApiQuery(q): ApiQuery<SlotsQuery>,
) -> Result<axum::Json<SlotsOut>, ApiError> {
    let asked = SlotsAsked::read(&q).map_err(ApiError::invalid)?;
    let (field, first) = (asked.field, asked.owners[0]);
    let zone = known(&state, &tenant, first, field).await?;
    let now = Utc::now();
    let mut c = Checker::default();
    let at =
        |c: &mut Checker, name: &str, value: Option<&str>| match c.date_or_instant(name, value?)? {
            When::Day(day) => Some(local_midnight(day, zone)),
            When::Instant(at) => Some(at),
        };
    let from = at(&mut c, "from", q.from.as_deref()).unwrap_or(now);
    let to = at(&mut c, "to", q.to.as_deref()).unwrap_or(from + Duration::days(7));
    if to <= from {
        c.fail("to", "must be after from");
    } else if to - from > Duration::days(MAX_SLOT_DAYS) {
        c.fail("to", "the window may be at most 92 days");
    } else if let Some(steps) = (to - from).num_minutes().checked_div(asked.step.num_minutes())
        && steps.saturating_mul(asked.owners.len() as i64) > MAX_SLOT_ANSWERS
    {
        // Each start of the window, for each owner, is a slot (or a place in one) the answer
        // may hold: fifty staff every five minutes over 92 days would be megabytes of JSON.
        c.fail(
            "to",
            format!(
                "{steps} slot starts for {} owners is more than one answer holds \
                 ({MAX_SLOT_ANSWERS} at most): narrow from and to, or raise step_minutes",
                asked.owners.len()
            ),
        );
    }
    c.finish(|| ()).map_err(ApiError::invalid)?;
    let wanted = SlotsWanted {
        owners: asked.owners.clone(),
        mode: asked.mode,
        from,
        to,
        duration: asked.duration,
        step: asked.step,
    };
    let found = match availability::slots(&state.store, &tenant, &wanted).await {
        Err(StoreError::NotFound) => {
            return Err(ApiError::invalid_field(field, "no such staff member or resource"));
        }
        other => other?,
    };
    let resource_id = match first {
        Owner::Resource(id) => Some(id),
        Owner::Staff(_) => None,
    };
    let slots = found
        .into_iter()
        .map(|s| SlotOut {
            start: s.start,
            end: s.end,
            staff_ids: if resource_id.is_some() { Vec::new() } else { s.owners },
            resource_id,
        })
        .collect();
    Ok(axum::Json(SlotsOut { time_zone: zone.tz().name().to_owned(), slots }))
}

/// The owners, mode and lengths of a slots request, checked.
struct SlotsAsked {
    owners: Vec<Owner>,
    /// The query field that named them.
    field: &'static str,
    mode: Mode,
    duration: Duration,
    step: Duration,
}

impl SlotsAsked {
    fn read(q: &SlotsQuery) -> Result<SlotsAsked, Vec<crate::input::FieldError>> {
        let mut c = Checker::default();
        let named = [q.staff_id.is_some(), q.resource_id.is_some(), q.staff_ids.is_some()];
        let (owners, field) = match named {
            [true, false, false] => {
                (ids(&mut c, "staff_id", q.staff_id.as_deref(), Owner::Staff), "staff_id")
            }
            [false, true, false] => {
                let found = ids(&mut c, "resource_id", q.resource_id.as_deref(), Owner::Resource);
                (found, "resource_id")
            }
            [false, false, true] => {
                (ids(&mut c, "staff_ids", q.staff_ids.as_deref(), Owner::Staff), "staff_ids")
            }
            _ => {
                c.fail("staff_id", "give exactly one of staff_id, resource_id and staff_ids");
                (Vec::new(), "staff_id")
            }
        };
        let mode = match q.mode.as_deref() {
            None | Some("any") => Mode::Any,
            Some("all") => Mode::All,
            Some(_) => {
                c.fail("mode", "must be any or all");
                Mode::Any
            }
        };
        let duration = minutes(&mut c, "duration_minutes", q.duration_minutes.as_deref());
        let step = match q.step_minutes.as_deref() {
            None => duration,
            value => minutes(&mut c, "step_minutes", value),
        };
        c.finish(|| SlotsAsked { owners, field, mode, duration, step })
    }
}

/// A comma-separated list of ids (at most 50, none twice) as owners.
fn ids(c: &mut Checker, field: &str, value: Option<&str>, owner: fn(Uuid) -> Owner) -> Vec<Owner> {
    let mut owners = Vec::new();
    for (k, part) in value.unwrap_or_default().split(',').enumerate() {
        match part.trim().parse::<Uuid>() {
            Ok(id) if owners.contains(&owner(id)) => c.fail(field, format!("{id} is named twice")),
            Ok(id) => owners.push(owner(id)),
            Err(_) => c.fail(field, format!("item {} is not an id", k + 1)),
        }
    }
    if owners.len() > 50 {
        c.fail(field, "at most 50 at once");
    }
    owners
}

/// A required id.
fn required_id(c: &mut Checker, field: &str, value: Option<&str>) -> Option<Uuid> {
    match value.map(|v| v.trim().parse::<Uuid>()) {
        None => c.fail(field, "is required"),
        Some(Err(_)) => c.fail(field, "is not an id"),
        Some(Ok(id)) => return Some(id),
    }
    None
}

/// A whole number of minutes, 5 to 1440.
fn minutes(c: &mut Checker, field: &str, value: Option<&str>) -> Duration {
    match value.map(|v| v.trim().parse::<i64>()) {
        None => c.fail(field, "is required"),
        Some(Ok(n)) if (5..=1440).contains(&n) => return Duration::minutes(n),
        Some(_) => c.fail(field, "must be a whole number of minutes from 5 to 1440"),
    }
    Duration::minutes(30)
}

/// The zone of `owner`, or a field error naming `field` when it is not the tenant's.
async fn known(
    state: &AppState,
    tenant: &Tenant,
    owner: Owner,
    field: &str,
) -> Result<kalends_core::domain::TimeZone, ApiError> {
    match state.store.owner_zone(tenant, owner).await {
        Err(StoreError::NotFound) => {
            Err(ApiError::invalid_field(field, "no such staff member or resource"))
        }
        other => Ok(other?),
    }
}

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stays)).routes(routes!(slots))
}
