//! `/api/v1/availability`: busy and free time of a resource or staff member, in their zone.

use axum::extract::State;
use chrono::{DateTime, Duration, FixedOffset, Utc};
use kalends_core::domain::{Owner, local_midnight};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::error::{ApiError, Problem};
use super::extract::{ApiQuery, AuthTenant};
use crate::input::fields::{Checker, When};
use crate::state::AppState;

/// The longest window one request may ask for.
const MAX_DAYS: i64 = 366;

/// `?resource_id=|staff_id=&from=&to=`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AvailabilityQuery {
    /// The resource.
    pub resource_id: Option<Uuid>,
    /// The staff member.
    pub staff_id: Option<Uuid>,
    /// Start: a date (midnight in their zone) or an RFC 3339 instant. Default: today.
    pub from: Option<String>,
    /// End (exclusive), likewise. Default: 30 days after `from`. At most 366 days after it.
    pub to: Option<String>,
}

/// A busy interval.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BusyOut {
    /// Start, in the resource's or staff member's zone.
    pub start: DateTime<FixedOffset>,
    /// End.
    pub end: DateTime<FixedOffset>,
    /// `booking`, `block`, `feed` or `calendar`.
    pub source: &'static str,
    /// The booking, block or imported item.
    pub source_id: Uuid,
    /// A human label.
    pub label: String,
}

/// A free interval.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FreeOut {
    /// Start.
    pub start: DateTime<FixedOffset>,
    /// End.
    pub end: DateTime<FixedOffset>,
}

/// Busy items and the free time between them.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AvailabilityOut {
    /// The zone the times are given in.
    pub time_zone: String,
    /// Every busy item overlapping the window, by start.
    pub busy: Vec<BusyOut>,
    /// The window minus the union of the busy items.
    pub free: Vec<FreeOut>,
}

/// Busy and free times of a resource or staff member.
#[utoipa::path(get, path = "/api/v1/availability", tag = "availability", params(AvailabilityQuery),
    responses((status = 200, body = AvailabilityOut), (status = 422, body = Problem)))]
async fn availability(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    ApiQuery(q): ApiQuery<AvailabilityQuery>,
) -> Result<axum::Json<AvailabilityOut>, ApiError> {
    let owner = Owner::from_columns(q.resource_id, q.staff_id).ok_or_else(|| {
        ApiError::invalid_field("resource_id", "give exactly one of resource_id and staff_id")
    })?;
    let field = if q.resource_id.is_some() { "resource_id" } else { "staff_id" };
    let zone = match state.store.owner_zone(&tenant, owner).await {
        Err(kalends_store::StoreError::NotFound) => {
            return Err(ApiError::invalid_field(field, "no such resource or staff member"));
        }
        other => other?,
    };
    let mut c = Checker::default();
    let today = Utc::now().with_timezone(&zone.tz()).date_naive();
    let from =
        bound(&mut c, "from", q.from.as_deref(), zone).unwrap_or(local_midnight(today, zone));
    let to = bound(&mut c, "to", q.to.as_deref(), zone)
        .or_else(|| from.checked_add_signed(Duration::days(30)));
    match to {
        None => c.fail("from", "leaves no room for a 30-day window"),
        Some(to) if to <= from => c.fail("to", "must be after from"),
        Some(to) if to.signed_duration_since(from) > Duration::days(MAX_DAYS) => {
            c.fail("to", "the window may be at most 366 days")
        }
        Some(_) => {}
    }
    let to = c.finish(|| to.expect("checked")).map_err(ApiError::invalid)?;
    let mut items = state.store.busy_items(tenant.id, owner, Some((from, to))).await?;
    items.retain(|b| b.start < to && b.end > from);
    items.sort_by_key(|b| (b.start, b.end));
    let local = |t: DateTime<Utc>| t.with_timezone(&zone.tz()).fixed_offset();
    let free = free_between(items.iter().map(|b| (b.start, b.end)), from, to)
        .into_iter()
        .map(|(start, end)| FreeOut { start: local(start), end: local(end) })
        .collect();
    let busy = items
        .into_iter()
        .map(|b| BusyOut {
            start: local(b.start),
            end: local(b.end),
            source: b.item.source.as_str(),
            source_id: b.item.id,
            label: b.label,
        })
        .collect();
    Ok(axum::Json(AvailabilityOut { time_zone: zone.tz().name().to_owned(), busy, free }))
}

/// A window bound: a date is midnight in `zone`, anything else must be RFC 3339.
pub(super) fn bound(
    c: &mut Checker,
    field: &str,
    value: Option<&str>,
    zone: kalends_core::domain::TimeZone,
) -> Option<DateTime<Utc>> {
    match c.date_or_instant(field, value?)? {
        When::Day(day) => Some(local_midnight(day, zone)),
        When::Instant(at) => Some(at),
    }
}

/// The parts of `[from, to)` that none of `busy` (sorted by start) covers.
fn free_between(
    busy: impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut free = Vec::new();
    let mut cursor = from;
    for (start, end) in busy {
        if start > cursor {
            free.push((cursor, start.min(to)));
        }
        cursor = cursor.max(end);
        if cursor >= to {
            return free;
        }
    }
    free.push((cursor, to));
    free
}

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(availability))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn h(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, hour, 0, 0).unwrap()
    }

    #[test]
    fn free_time_is_the_window_minus_overlapping_busy_items() {
        let busy = [(h(1), h(3)), (h(2), h(4)), (h(6), h(7)), (h(22), h(23))];
        let free = free_between(busy.into_iter(), h(0), h(20));
        assert_eq!(free, vec![(h(0), h(1)), (h(4), h(6)), (h(7), h(20))]);
    }

    #[test]
    fn a_busy_item_covering_the_window_leaves_nothing_free() {
        assert!(free_between([(h(0), h(23))].into_iter(), h(1), h(2)).is_empty());
    }
}
