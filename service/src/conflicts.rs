//! Conflicts: looked for after every change that can open or settle one, and resolved by hand.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use kalends_core::availability::{self, Rule};
use kalends_core::conflict_record::{Conflict, ConflictItem};
use kalends_core::conflicts::{Busy, ItemRef, Source};
use kalends_core::domain::{Booking, BookingStatus, Owner, Tenant};
use kalends_store::{Detection, RuleBreach};
use kalends_store::{Store, StoreError};

/// A start and an end instant.
pub type Instants = (DateTime<Utc>, DateTime<Utc>);

/// Brings the conflicts naming `booking` up to date: its overlaps, and the availability rules
/// of its resource and staff it breaks (`new_dates`: it took other dates, so the notice and the
/// booking window are judged too). A failure is logged, not returned: the booking is saved, and
/// the next change or import of its calendars looks again.
pub async fn after_booking_change(
    store: &Store,
    tenant: &Tenant,
    booking: &Booking,
    new_dates: bool,
) {
    let item = ItemRef { source: Source::Booking, id: booking.id };
    let result = async {
        let span = match booking.data.status {
            BookingStatus::Cancelled => None,
            _ => Some(store.booking_instants(tenant, &booking.data).await?),
        };
        // Version 1: the write that runs this made the booking.
        let just_made = booking.version == 1;
        store.detect_conflicts_of(tenant.id, item, span, &booking.data.owners(), just_made).await?;
        judge_rules(store, tenant, booking, new_dates).await
    };
    if let Err(error) = result.await {
        tracing::error!(booking_id = %booking.id, %error, "conflict detection failed after a booking change");
    }
}

/// Brings the rule conflicts of `booking` up to date: one per rule of one owner it breaks.
async fn judge_rules(
    store: &Store,
    tenant: &Tenant,
    booking: &Booking,
    new_dates: bool,
) -> Result<Detection, StoreError> {
    let cancelled = booking.data.status == BookingStatus::Cancelled;
    let owners = booking.data.owners();
    let ruled = match cancelled {
        true => Vec::new(),
        false => store.rules_of(tenant, &owners).await?,
    };
    if ruled.iter().all(|r| r.rules.is_empty()) && booking.version == 1 {
        // A new booking under no rules: no rule conflict can name it yet.
        return Ok(Detection::default());
    }
    let home = booking
        .data
        .resource_id
        .and_then(|id| ruled.iter().find(|r| r.owner == Owner::Resource(id)))
        .map_or(tenant.settings.time_zone, |r| r.zone);
    let candidate = Busy::booking(booking.id, &booking.data, home);
    let mut breaches = Vec::new();
    for owned in ruled.iter().filter(|r| !r.rules.is_empty()) {
        let window = availability::judge_reach(&owned.rules, home, &candidate);
        let items = store.busy_items(tenant.id, owned.owner, Some(window)).await?;
        let zones = (home, owned.zone);
        let now = Utc::now();
        for violation in
            availability::judge(&owned.rules, zones, now, &candidate, &items, new_dates)
        {
            breaches.push(RuleBreach {
                owner: owned.owner,
                booking: ConflictItem {
                    kind: Source::Booking,
                    id: booking.id,
                    label: booking.data.title.clone(),
                },
                start: candidate.start,
                end: candidate.end,
                violation,
            });
        }
    }
    // A booking that kept its dates is not judged by the notice and the window again (today
    // moved on, the booking did not): what was found of them when it got its dates stands.
    let unjudged: &[Rule] = match new_dates || cancelled {
        true => &[],
        false => &[Rule::MinNoticeDays, Rule::MinNoticeMinutes, Rule::BookingWindowDays],
    };
    store.record_rule_conflicts(tenant.id, booking.id, &breaches, unjudged).await
}

/// Brings the conflicts naming a block up to date (`placed` is `None` once it is deleted).
/// Failures are logged, as for bookings.
pub async fn after_block_change(
    store: &Store,
    tenant: &Tenant,
    id: Uuid,
    placed: Option<(Owner, Instants)>,
) {
    let item = ItemRef { source: Source::Block, id };
    let (owners, span) = match placed {
        Some((owner, span)) => (vec![owner], Some(span)),
        None => (Vec::new(), None),
    };
    if let Err(error) = store.detect_conflicts_of(tenant.id, item, span, &owners, false).await {
        tracing::error!(block_id = %id, %error, "conflict detection failed after a block change");
    }
}

/// Looks at everything one resource or staff member holds again: after an import changed its
/// busy times, or a calendar stopped counting.
pub async fn recheck_owner(
    store: &Store,
    tenant_id: Uuid,
    owner: Owner,
) -> Result<Detection, StoreError> {
    store.detect_conflicts(tenant_id, owner).await
}

/// Marks a conflict resolved by hand, with an optional note. It stays resolved while its items
/// collide exactly as now.
pub async fn resolve(
    store: &Store,
    tenant_id: Uuid,
    id: Uuid,
    note: Option<String>,
) -> Result<Conflict, StoreError> {
    store.resolve_conflict(tenant_id, id, note).await
}
