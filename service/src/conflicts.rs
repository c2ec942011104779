//! Conflicts: looked for after every change that can open or settle one, and resolved by hand.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use kalends_core::availability::{self, Moved, NEIGHBOUR_REACH_DAYS, Rewrite, Violation};
use kalends_core::conflict_plan::{self, Found, OpenConflict, Plan, RuleBreach};
use kalends_core::conflict_record::{Conflict, ConflictItem};
use kalends_core::conflicts::{Busy, ItemRef, Source};
use kalends_core::domain::{Booking, BookingStatus, Owner, Tenant, TimeZone};
use kalends_store::{ConflictReach, Detection, ImportedBy, OwnerRules};
use kalends_store::{Store, StoreError};

pub use kalends_core::domain::Instants;

/// Brings the conflicts naming `booking` up to date: its overlaps, and the availability rules
/// of its resource and staff it breaks (`rewrite`: the ends it took anew, as each owner sees
/// them, which the notice and the booking window judge too), and, when it left a place, those
/// of its neighbours. A failure is logged, not returned: the booking is saved, and the next
/// change or import of its calendars looks again (at its neighbours' rule conflicts: their
/// own next change, a change, an import or a block of their owner within a month of them, or a
/// change of its rules). `rules`: its owners' rules, when the write read them on its way
/// ([`kalends_store::Written`]).
pub async fn after_booking_change(
    store: &Store,
    tenant: &Tenant,
    booking: &Booking,
    rewrite: &Rewrite,
    rules: Option<Vec<OwnerRules>>,
) {
    let item = ItemRef { source: Source::Booking, id: booking.id };
    let result = async {
        let span = match booking.data.status {
            BookingStatus::Cancelled => None,
            _ => Some(store.booking_instants(tenant, &booking.data).await?),
        };
        // Version 1: the write that runs this made the booking.
        let just_made = booking.version == 1;
        detect_of(store, tenant.id, item, span, &booking.data.owners(), just_made).await?;
        judge_rules(store, tenant, booking, rewrite, rules).await?;
        // Only a booking that left a place (moved, cancelled, or gone from an owner) may have
        // been what broke another's turnover, gap or buffer: busy time kept or added mends none.
        let left = !just_made
            && (booking.data.status == BookingStatus::Cancelled
                || rewrite.moved != Moved::NONE
                || rewrite.held_by != booking.data.owners());
        judge_others(store, tenant, booking, rewrite, span, left).await
    };
    if let Err(error) = result.await {
        tracing::error!(booking_id = %booking.id, %error, "conflict detection failed after a booking change");
    }
}

/// Judges the bookings of `owner` still to end again after its rules changed
/// ([`judge_bookings_ahead`]). Failures are logged: the rules are saved either way, and each
/// booking's next change judges it again.
pub async fn after_rules_change(store: &Store, tenant: &Tenant, owner: Owner) {
    if let Err(error) = judge_bookings_ahead(store, tenant, owner).await {
        tracing::error!(?owner, %error, "its bookings could not be judged again after a change of rules");
    }
}

/// Judges the bookings of `owner` still to end again under its rules as they are now (after
/// they changed, or the zone they are counted in did): each gets the rule conflicts of
/// `owner`'s rules it breaks and loses those it no longer breaks (the rules of its other owners
/// are not looked at). The notice and the window stand as they were found (the bookings did not
/// move: [`Moved::standing`]). The bookings are read 500 to a page, the owner's busy items
/// around all of them and its open rule conflicts once, and what changed is written 500
/// bookings to a transaction.
pub async fn judge_bookings_ahead(
    store: &Store,
    tenant: &Tenant,
    owner: Owner,
) -> Result<(), StoreError> {
    let owned = store.owner_rules(tenant, owner).await?;
    let now = Utc::now();
    let ahead = bookings_ahead(store, tenant, &owned, now).await?;
    let around = busy_around(store, tenant.id, &owned, &ahead).await?;
    let mut open: HashMap<Uuid, Vec<OpenConflict>> = HashMap::new();
    for conflict in store.open_conflicts(ConflictReach::OwnerRules(tenant.id, owner)).await? {
        if let Some(id) = conflict.rule_booking() {
            open.entry(id).or_default().push(conflict);
        }
    }
    for page in ahead.chunks(PAGE) {
        let mut found = Vec::new();
        let mut reached = Vec::new();
        for booking in page {
            found.extend(judge_ahead(&owned, now, booking, &around));
            // Its conflicts (not those of bookings that ended), less those that stand.
            let standing = booking.moved.standing(booking.candidate.all_day);
            let gone = open.remove(&booking.candidate.item.id).unwrap_or_default();
            reached.extend(gone.into_iter().filter(|c| !c.is_rule_of(owner, &standing)));
        }
        apply(store, tenant.id, reached, found).await?;
    }
    Ok(())
}

/// Bookings to a page read, and to a transaction written, by a change of rules.
const PAGE: usize = 500;

/// A booking still to end, as a change of its owner's rules judges it.
struct Ahead {
    /// The booking where its owner has it.
    candidate: Busy,
    /// Its title, for the conflict.
    title: String,
    /// The zone its days are counted in.
    home: TimeZone,
    /// The ends the owner sees moved: none (it did not move), once it has begun or not.
    moved: Moved,
    /// The instants whose busy items the rules judge it by.
    reach: Instants,
}

/// The bookings of `owned`'s owner still to end at `now` that are not cancelled, a page at a
/// time, each with its days counted in its resource's zone, as after a write.
async fn bookings_ahead(
    store: &Store,
    tenant: &Tenant,
    owned: &OwnerRules,
    now: DateTime<Utc>,
) -> Result<Vec<Ahead>, StoreError> {
    let mut ahead = Vec::new();
    let mut filter = pages_of(owned.owner, now, None);
    loop {
        let page = store.list_bookings(tenant.id, &filter).await?;
        let live: Vec<&Booking> =
            page.items.iter().filter(|b| b.data.status != BookingStatus::Cancelled).collect();
        let mut ids: Vec<Uuid> = live.iter().filter_map(|b| b.data.resource_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let resources: Vec<Owner> = ids.into_iter().map(Owner::Resource).collect();
        let zones = match owned.owner {
            Owner::Resource(_) => vec![owned.clone()],
            Owner::Staff(_) if resources.is_empty() => Vec::new(),
            Owner::Staff(_) => store.rules_of(tenant, &resources).await?,
        };
        for booking in live {
            let resource = booking.data.resource_id.map(Owner::Resource);
            let zone = zones.iter().find(|r| Some(r.owner) == resource);
            let home = zone.map_or(tenant.settings.time_zone, |r| r.zone);
            let candidate = Busy::booking(booking.id, &booking.data, home);
            let moved = Rewrite::kept(&booking.data).seen_by(owned.owner, candidate.start <= now);
            let reach = availability::judge_reach(&owned.rules, home, &candidate);
            let title = booking.data.title.clone();
            ahead.push(Ahead { candidate, title, home, moved, reach });
        }
        match page.next_cursor {
            Some(after) => filter.after = Some(after),
            None => return Ok(ahead),
        }
    }
}

/// The busy items of an owner around its bookings ahead, by start.
#[derive(Default)]
struct Around {
    items: Vec<Busy>,
    /// The longest of them.
    longest: chrono::Duration,
}

/// The busy items of `owned`'s owner within the reach of any of the bookings `ahead`, read in
/// one statement; none when it has no rules to judge them by.
async fn busy_around(
    store: &Store,
    tenant_id: Uuid,
    owned: &OwnerRules,
    ahead: &[Ahead],
) -> Result<Around, StoreError> {
    let Some(first) = ahead.first().filter(|_| !owned.rules.is_empty()) else {
        return Ok(Around::default());
    };
    let window = ahead.iter().fold(first.reach, |(s, e), b| (s.min(b.reach.0), e.max(b.reach.1)));
    let mut items = store.busy_items(tenant_id, owned.owner, Some(window)).await?;
    items.sort_unstable_by_key(|item| item.start);
    let longest = items.iter().map(|i| i.end - i.start).max().unwrap_or_default();
    Ok(Around { items, longest })
}

/// The rule conflicts `owned`'s rules find for `booking`, among the items `around` that the
/// store would read for it alone (none under no rules: [`busy_around`] read nothing then).
fn judge_ahead(
    owned: &OwnerRules,
    now: DateTime<Utc>,
    booking: &Ahead,
    around: &Around,
) -> Vec<Found> {
    let (from, to) = booking.reach;
    // By start: those starting by `to`, from the longest item's length before `from` on.
    let items = &around.items;
    let first = items.partition_point(|i| i.start < from - around.longest);
    let last = items.partition_point(|i| i.start <= to).max(first);
    let near: Vec<Busy> = items[first..last]
        .iter()
        .filter(|item| Store::busy_within(booking.reach, item))
        .cloned()
        .collect();
    let zones = (booking.home, owned.zone);
    let candidate = &booking.candidate;
    availability::judge(&owned.rules, zones, now, candidate, &near, booking.moved)
        .into_iter()
        .map(|violation| Found::from(&breach(owned.owner, &booking.title, candidate, violation)))
        .collect()
}

/// The bookings of `owner` ending after `from` (and starting before `to`), 500 to a page.
fn pages_of(
    owner: Owner,
    from: DateTime<Utc>,
    to: Option<DateTime<Utc>>,
) -> kalends_store::BookingFilter {
    let (resource_id, staff_id) = match owner {
        Owner::Resource(id) => (Some(id), None),
        Owner::Staff(id) => (None, Some(id)),
    };
    kalends_store::BookingFilter {
        from: Some(from),
        to,
        resource_id,
        staff_id,
        limit: 500,
        ..kalends_store::BookingFilter::default()
    }
}

/// Judges again the bookings whose rules `booking` may have made them break, or stop breaking.
/// The house or rooms, with rules of their own, of the resource it is in and of those it left
/// (`rewrite`): a stay of the house is its rooms' busy time, and a room's its house's, so it may
/// make theirs next to `span` break a turnover or a gap (a house stay booked into a room stay's
/// turnover night): their bookings within [`NEIGHBOUR_REACH_DAYS`] of `span`. And when it `left` a
/// place, the bookings with an open rule conflict in those and in the owners it is in or left,
/// within [`NEIGHBOUR_REACH_DAYS`] of where it was and is: it may have been what broke their
/// turnover day or buffer, which reach no further. Their notice and window stand (they did not
/// move).
async fn judge_others(
    store: &Store,
    tenant: &Tenant,
    booking: &Booking,
    rewrite: &Rewrite,
    span: Option<Instants>,
    left: bool,
) -> Result<(), StoreError> {
    let held = rewrite.held_by.iter().filter_map(|owner| match *owner {
        Owner::Resource(id) => Some(id),
        Owner::Staff(_) => None,
    });
    let own = booking.data.resource_id;
    let resources: Vec<Uuid> = own.into_iter().chain(held).collect();
    let kin = store.ruled_kin(tenant, &resources, own).await?;
    let conflicted = match left {
        true => {
            let mut owners = booking.data.owners();
            for &owner in rewrite.held_by.iter().chain(&kin) {
                if !owners.contains(&owner) {
                    owners.push(owner);
                }
            }
            let was = rewrite.was.as_ref().map(|was| was.utc_range(tenant.settings.time_zone));
            let near = troubled_from(&[was, span].into_iter().flatten().collect::<Vec<_>>());
            let mut ids = store.rule_conflicted_bookings(&owners, Some(&near)).await?;
            // Its own were judged with the ends it moved.
            ids.retain(|&id| id != booking.id);
            ids
        }
        false => Vec::new(),
    };
    let mut near = Vec::new();
    for window in reaches(span.as_slice()) {
        for &kin in &kin {
            near.extend(bookings_between(store, tenant.id, kin, window).await?);
        }
    }
    judge_standing(store, tenant, near, conflicted).await
}

/// Judges the rules of the `read` bookings and of those `ids` name (each once) again as they
/// stand: their notice and window stand too (they did not move).
async fn judge_standing(
    store: &Store,
    tenant: &Tenant,
    mut read: Vec<Booking>,
    mut ids: Vec<Uuid>,
) -> Result<(), StoreError> {
    read.sort_unstable_by_key(|b| b.id);
    read.dedup_by_key(|b| b.id);
    ids.sort_unstable();
    ids.dedup();
    ids.retain(|id| read.binary_search_by_key(id, |b| b.id).is_err());
    if !ids.is_empty() {
        read.extend(store.bookings_by_ids(tenant.id, &ids).await?);
    }
    for booking in &read {
        judge_rules(store, tenant, booking, &Rewrite::kept(&booking.data), None).await?;
    }
    Ok(())
}

/// Brings the rule conflicts of `booking` up to date: one per rule of one owner it breaks.
async fn judge_rules(
    store: &Store,
    tenant: &Tenant,
    booking: &Booking,
    rewrite: &Rewrite,
    read: Option<Vec<OwnerRules>>,
) -> Result<Detection, StoreError> {
    let cancelled = booking.data.status == BookingStatus::Cancelled;
    let owners = booking.data.owners();
    let ruled = match (cancelled, read) {
        (true, _) => Vec::new(),
        (false, Some(read)) => read,
        (false, None) => store.rules_of(tenant, &owners).await?,
    };
    let new = booking.version == 1 && rewrite.moved == Moved::NEW;
    if ruled.iter().all(|r| r.rules.is_empty()) && new {
        // A new booking under no rules: no rule conflict can name it yet.
        return Ok(Detection::default());
    }
    let home = booking
        .data
        .resource_id
        .and_then(|id| ruled.iter().find(|r| r.owner == Owner::Resource(id)))
        .map_or(tenant.settings.time_zone, |r| r.zone);
    let candidate = Busy::booking(booking.id, &booking.data, home);
    let now = Utc::now();
    // The ends each owner sees moved: to an owner the booking is new to, both.
    let seen_by = |owner| rewrite.seen_by(owner, candidate.start <= now);
    let mut breaches = Vec::new();
    for owned in ruled.iter().filter(|r| !r.rules.is_empty()) {
        let window = availability::judge_reach(&owned.rules, home, &candidate);
        let items = store.busy_items(tenant.id, owned.owner, Some(window)).await?;
        let zones = (home, owned.zone);
        let moved = seen_by(owned.owner);
        for violation in availability::judge(&owned.rules, zones, now, &candidate, &items, moved) {
            breaches.push(breach(owned.owner, &booking.data.title, &candidate, violation));
        }
    }
    // A booking is not judged again by the notice and the window on an end an owner saw it
    // keep (today moved on, the booking did not): what was found of them when it got that end
    // stands. An owner that no longer holds it has none standing: they resolve.
    let stands = |conflict: &OpenConflict| {
        !cancelled
            && owners.iter().any(|&owner| {
                let standing = seen_by(owner).standing(candidate.all_day);
                conflict.is_rule_of(owner, &standing)
            })
    };
    let reach = ConflictReach::Rules(ItemRef { source: Source::Booking, id: booking.id });
    let mut open = store.open_conflicts(reach).await?;
    open.retain(|conflict| !stands(conflict));
    let found = breaches.iter().map(Found::from).collect();
    apply(store, tenant.id, open, found).await
}

/// The booking at `candidate`, titled `title`, breaking a rule of `owner`.
fn breach(owner: Owner, title: &str, candidate: &Busy, violation: Violation) -> RuleBreach {
    let id = candidate.item.id;
    RuleBreach {
        owner,
        booking: ConflictItem { kind: Source::Booking, id, label: title.to_owned() },
        start: candidate.start,
        end: candidate.end,
        violation,
    }
}

/// What became of a block.
#[derive(Clone, Copy, Debug)]
pub enum BlockChange {
    /// Placed on its owner at these instants.
    Placed(Owner, Instants),
    /// Removed from its owner (`None`: an owner gone meanwhile), where it was.
    Removed(Option<Owner>, Instants),
}

/// Brings the conflicts naming a block up to date, and the rule conflicts of its owner's
/// bookings it may have made or unmade: a block in a stay's turnover day breaks it, one removed
/// from there no longer does. Failures are logged, as for bookings.
pub async fn after_block_change(store: &Store, tenant: &Tenant, id: Uuid, change: BlockChange) {
    let item = ItemRef { source: Source::Block, id };
    let (owner, span, was) = match change {
        BlockChange::Placed(owner, span) => (Some(owner), Some(span), None),
        BlockChange::Removed(owner, was) => (owner, None, Some(was)),
    };
    // A removed block is in no owner's calendar any more.
    let placed_on: Vec<Owner> = span.and(owner).into_iter().collect();
    let result = async {
        detect_of(store, tenant.id, item, span, &placed_on, false).await?;
        let (placed, gone) = (Placed::At(span.as_slice()), Gone::From(was.as_slice()));
        match owner {
            Some(owner) => judge_near(store, tenant, owner, placed, gone).await,
            None => Ok(()),
        }
    };
    if let Err(error) = result.await {
        tracing::error!(block_id = %id, %error, "conflict detection failed after a block change");
    }
}

/// The busy items a change placed (added or moved) on an owner's calendar.
#[derive(Clone, Copy, Debug)]
pub enum Placed<'a> {
    /// These, or none (`&[]`: items only went).
    At(&'a [Instants]),
    /// Those an import wrote from this instant on, read only when an owner has rules to judge
    /// them by (most have none: a first import of thousands of feeds reads nothing more).
    Imported(ImportedBy, DateTime<Utc>),
}

/// Where a change took busy items of an owner away from.
#[derive(Clone, Copy, Debug)]
pub enum Gone<'a> {
    /// From these instants (`&[]`: nothing went).
    From(&'a [Instants]),
    /// From anywhere, or from places not known: every open rule conflict is judged again.
    Anywhere,
}

/// Brings the conflicts of `owner` up to date after its busy items changed under its bookings
/// (an import ran or was deleted, a calendar stopped counting): every overlap, and the rule
/// conflicts of its bookings near the items `placed` (a reservation in a stay's turnover night
/// breaks it) and of those with one open near where items went (an item gone may have been what
/// broke it).
pub async fn after_busy_change(
    store: &Store,
    tenant: &Tenant,
    owner: Owner,
    placed: Placed<'_>,
    gone: Gone<'_>,
) -> Result<Detection, StoreError> {
    let found = recheck_owner(store, tenant.id, owner).await?;
    judge_near(store, tenant, owner, placed, gone).await?;
    Ok(found)
}

/// [`after_busy_change`] after busy items of `owner` only went, from anywhere (an import
/// deleted, a calendar disconnected): nothing placed to judge bookings near.
pub async fn after_busy_gone(
    store: &Store,
    tenant_id: Uuid,
    owner: Owner,
) -> Result<Detection, StoreError> {
    let tenant = store.tenant(tenant_id).await?;
    after_busy_change(store, &tenant, owner, Placed::At(&[]), Gone::Anywhere).await
}

/// Judges the rules of the bookings of `owner` (and of its house or rooms) again after its busy
/// items changed: those with an open rule conflict near where items went (what went may have
/// been what broke them; busy time added mends none) and those near the items `placed`, which
/// includes every item an import rewrote (they may break theirs, or stop: a reservation become
/// a block no longer counts for a turnover). Their notice and window stand (they did not move).
async fn judge_near(
    store: &Store,
    tenant: &Tenant,
    owner: Owner,
    placed: Placed<'_>,
    gone: Gone<'_>,
) -> Result<(), StoreError> {
    // A house's busy time is its rooms' too, and a room's its house's: their rules judge it as
    // their own.
    let owners: Vec<Owner> = match owner {
        Owner::Resource(id) => {
            store.families(tenant.id, &[id]).await?.into_iter().map(Owner::Resource).collect()
        }
        Owner::Staff(_) => vec![owner],
    };
    let ruled = store.rules_of(tenant, &owners).await?;
    let owners: Vec<Owner> =
        ruled.iter().filter(|r| !r.rules.is_empty()).map(|r| r.owner).collect();
    if owners.is_empty() {
        return Ok(());
    }
    let troubled = match gone {
        Gone::From(spans) => Some(troubled_from(spans)),
        Gone::Anywhere => None,
    };
    let conflicted = store.rule_conflicted_bookings(&owners, troubled.as_deref()).await?;
    let imported;
    let placed = match placed {
        Placed::At(spans) => spans,
        Placed::Imported(by, since) => {
            imported = store.imported_since(by, since).await?;
            &imported
        }
    };
    let mut near: Vec<Booking> = Vec::new();
    for window in reaches(placed) {
        for &owner in &owners {
            near.extend(bookings_between(store, tenant.id, owner, window).await?);
        }
    }
    judge_standing(store, tenant, near, conflicted).await
}

/// The bookings of `owner` that are not cancelled and touch `(from, to)`.
async fn bookings_between(
    store: &Store,
    tenant_id: Uuid,
    owner: Owner,
    (from, to): Instants,
) -> Result<Vec<Booking>, StoreError> {
    let mut found = Vec::new();
    let mut filter = pages_of(owner, from, Some(to));
    loop {
        let page = store.list_bookings(tenant_id, &filter).await?;
        found.extend(page.items.into_iter().filter(|b| b.data.status != BookingStatus::Cancelled));
        match page.next_cursor {
            Some(after) => filter.after = Some(after),
            None => return Ok(found),
        }
    }
}

/// The stretches of time within [`NEIGHBOUR_REACH_DAYS`] of the `placed` items, those that meet
/// merged (a first import of a year of reservations is one stretch, read once).
fn reaches(placed: &[Instants]) -> Vec<Instants> {
    let reach = chrono::Duration::days(NEIGHBOUR_REACH_DAYS);
    let mut stretches: Vec<Instants> =
        placed.iter().map(|&(s, e)| (s - reach, e + reach)).collect();
    stretches.sort_unstable();
    let mut merged: Vec<Instants> = Vec::with_capacity(stretches.len());
    for (start, end) in stretches {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// Where the rule conflicts a busy item that went from `spans` may have caused lie: within
/// [`NEIGHBOUR_REACH_DAYS`] of them (no turnover or buffer reaches further), and two days more
/// each side, as a booking's whole days are counted in its room's zone and a neighbour's
/// conflict keeps the instants of the zone it was judged in (no two zones are two days apart).
fn troubled_from(spans: &[Instants]) -> Vec<Instants> {
    let slack = chrono::Duration::days(2);
    reaches(spans).into_iter().map(|(from, to)| (from - slack, to + slack)).collect()
}

/// Looks at everything one resource or staff member holds again: after an import changed its
/// busy times, or a calendar stopped counting. Finds every collision and brings the recorded
/// conflicts up to date: new ones open, those whose items no longer collide resolve themselves.
/// A house's pass covers its rooms' too: their collisions with the house are recorded in the
/// room's calendar, and read here with the house's items.
pub async fn recheck_owner(
    store: &Store,
    tenant_id: Uuid,
    owner: Owner,
) -> Result<Detection, StoreError> {
    let mut items = store.busy_items(tenant_id, owner, None).await?;
    let found = conflict_plan::found_among(owner, &mut items);
    let open = store.open_conflicts(ConflictReach::Owner(tenant_id, owner)).await?;
    apply(store, tenant_id, open, found).await
}

/// After one item changed: finds its collisions in each of its owners' calendars and brings
/// the conflicts naming it up to date. Cheap (it reads only what overlaps the item), so it runs
/// right after every booking or block change.
///
/// `just_made`: the change made the item. When it then collides with nothing, no conflict can
/// name it (one that another item's pass opened names an overlap this pass finds too), so the
/// open conflicts are not read.
pub async fn detect_of(
    store: &Store,
    tenant_id: Uuid,
    item: ItemRef,
    span: Option<Instants>,
    owners: &[Owner],
    just_made: bool,
) -> Result<Detection, StoreError> {
    let mut found = Vec::new();
    if let Some(window) = span {
        for &owner in owners {
            let items = store.busy_items(tenant_id, owner, Some(window)).await?;
            found.extend(conflict_plan::found_with(owner, item, &items));
        }
    }
    if just_made && found.is_empty() {
        return Ok(Detection::default());
    }
    let open = store.open_conflicts(ConflictReach::Item(item)).await?;
    apply(store, tenant_id, open, found).await
}

/// Writes what a pass `found` changes in the `open` conflicts it reached ([`Plan::of`]); the
/// common case after a booking change writes nothing.
async fn apply(
    store: &Store,
    tenant_id: Uuid,
    open: Vec<OpenConflict>,
    found: Vec<Found>,
) -> Result<Detection, StoreError> {
    let plan = Plan::of(found, open);
    if plan.is_empty() {
        return Ok(Detection::default());
    }
    let detection = store.apply_conflict_plan(tenant_id, &plan).await?;
    if detection.opened > 0 {
        tracing::warn!(%tenant_id, opened = detection.opened, "new conflicts detected");
    }
    Ok(detection)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> DateTime<Utc> {
        chrono::NaiveDate::from_ymd_opt(2030, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc()
            + chrono::Duration::days(i64::from(d))
    }

    #[test]
    fn items_within_two_reaches_of_each_other_are_read_as_one_stretch() {
        let reach = NEIGHBOUR_REACH_DAYS as u32;
        let placed = [(day(200), day(202)), (day(100), day(102)), (day(130), day(131))];
        let stretches = reaches(&placed);
        assert_eq!(
            stretches,
            [(day(100 - reach), day(131 + reach)), (day(200 - reach), day(202 + reach))]
        );
        assert!(reaches(&[]).is_empty());
    }
}
