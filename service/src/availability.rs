//! What is bookable: a resource's nights for stays and the slots of staff members and resources
//! for appointments, their availability rules applied to everything they have busy (bookings,
//! blocks, imported platform items, busy times of connected calendars) as of now.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use kalends_core::availability::{
    self, Mode, Night, NightItem, Rules, RulesDraft, Slot, SlotOwner, SlotQuery,
};
use kalends_core::conflicts::{Class, Source};
use kalends_core::domain::{Owner, Platform, Tenant, local_midnight};
use kalends_store::OwnerRules;
use kalends_store::{Store, StoreError};

/// Rules that were refused, each with the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum RulesRefused {
    /// Fields out of range or unknown names.
    #[error("{} rule fields are invalid", .0.len())]
    Invalid(Vec<availability::RuleError>),
    /// The store failed, or the owner is not the tenant's.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Replaces the rules of a resource or staff member with `draft` (every absent field: no
/// rule), once every field checks, and judges its bookings still to come by them; answers the
/// rules as stored.
pub async fn set_rules(
    store: &Store,
    tenant: &Tenant,
    owner: Owner,
    draft: RulesDraft,
) -> Result<Rules, RulesRefused> {
    let rules = Rules::try_from(draft).map_err(RulesRefused::Invalid)?;
    store.set_owner_rules(tenant.id, owner, &rules).await?;
    crate::conflicts::after_rules_change(store, tenant, owner).await;
    Ok(rules)
}

/// The nights `from` to `to` (exclusive) of a resource, under its rules, today being its date
/// now. What its family holds is busy too (`Store::busy_items`): a room's nights are booked when
/// its house is, and the house's when any room is.
pub async fn stays(
    store: &Store,
    tenant: &Tenant,
    resource: Owner,
    (from, to): (NaiveDate, NaiveDate),
) -> Result<Vec<Night>, StoreError> {
    let owned = store.owner_rules(tenant, resource).await?;
    let today = owned.today(Utc::now());
    stays_under(store, tenant, &owned, today, (from, to)).await
}

/// The nights `from` to `to` (exclusive) of the resource `owned` names, under the rules it
/// holds, `today` being its date now: for callers that read the rules already (a feed keeps
/// the rules its `ETag` was made of).
pub async fn stays_under(
    store: &Store,
    tenant: &Tenant,
    owned: &OwnerRules,
    today: NaiveDate,
    reach: (NaiveDate, NaiveDate),
) -> Result<Vec<Night>, StoreError> {
    stays_for_feed(store, tenant, owned, today, reach, None).await
}

/// [`stays_under`] as a feed for `platform` closes them: that platform's own blocks left out.
/// A platform echoes the nights a feed closes back as blocks of its own. Counted, they would
/// make those nights busy rather than closed; the feed never shows a platform its own items,
/// so the nights would drop out of its feed, open on the platform, stop being echoed, and close
/// again at the next import: every other poll they would be for sale.
pub async fn stays_for_feed(
    store: &Store,
    tenant: &Tenant,
    owned: &OwnerRules,
    today: NaiveDate,
    (from, to): (NaiveDate, NaiveDate),
    platform: Option<Platform>,
) -> Result<Vec<Night>, StoreError> {
    let (rules, zone) = (&owned.rules, owned.zone);
    let (lo, hi) = availability::nights_reach(rules, from, to);
    let window = (local_midnight(lo, zone), local_midnight(hi, zone));
    let busy = store.busy_items(tenant.id, owned.owner, Some(window)).await?;
    let items: Vec<NightItem> = busy
        .iter()
        .filter(|item| platform.is_none_or(|p| item.class != Class::PlatformBlock(p)))
        .map(|item| NightItem::of(item, zone))
        .collect();
    Ok(availability::nights(rules, today, &items, from, to))
}

/// What slots are asked for, of whom.
#[derive(Clone, Debug)]
pub struct SlotsWanted {
    /// The staff members or resources, in the order asked (none twice).
    pub owners: Vec<Owner>,
    /// Any of them free, or all at once.
    pub mode: Mode,
    /// Slots start at or after this...
    pub from: DateTime<Utc>,
    /// ...and before this.
    pub to: DateTime<Utc>,
    /// Each slot's length.
    pub duration: Duration,
    /// Between slot starts within an opening period.
    pub step: Duration,
}

/// The bookable slots of the owners asked, by start. [`StoreError::NotFound`] when one of them
/// is not the tenant's.
pub async fn slots(
    store: &Store,
    tenant: &Tenant,
    wanted: &SlotsWanted,
) -> Result<Vec<Slot>, StoreError> {
    let ruled = store.rules_of(tenant, &wanted.owners).await?;
    if ruled.len() != wanted.owners.len() {
        return Err(StoreError::NotFound);
    }
    let query = SlotQuery {
        from: wanted.from,
        to: wanted.to,
        duration: wanted.duration,
        step: wanted.step,
        now: Utc::now(),
    };
    // One read per owner, all at once: the pool spreads them over its connections (SQLite's
    // readers each run on their own thread).
    let reads = ruled.iter().map(|owned| Held::read(store, tenant, owned, &query));
    let held = futures::future::try_join_all(reads).await?;
    let owners: Vec<SlotOwner<'_>> = ruled
        .iter()
        .zip(&held)
        .map(|(owned, held)| SlotOwner {
            id: owned.owner.id(),
            rules: &owned.rules,
            zone: owned.zone,
            busy: &held.busy,
            booked: &held.booked,
        })
        .collect();
    Ok(availability::slots(&owners, wanted.mode, &query))
}

/// What one owner has busy around the slots asked for.
struct Held {
    /// Every busy item, as instants.
    busy: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// When its bookings start, for the round robin's count per week.
    booked: Vec<DateTime<Utc>>,
}

impl Held {
    async fn read(
        store: &Store,
        tenant: &Tenant,
        owned: &OwnerRules,
        query: &SlotQuery,
    ) -> Result<Held, StoreError> {
        let (from, to) = reach(&owned.rules, query);
        let items = store.busy_items(tenant.id, owned.owner, Some((from, to))).await?;
        let booked = items
            .iter()
            .filter(|item| item.item.source == Source::Booking)
            .map(|item| item.start)
            .collect();
        Ok(Held { busy: items.iter().map(|item| (item.start, item.end)).collect(), booked })
    }
}

/// The busy items slots need: those the buffers reach ([`availability::slots_reach`]) and the
/// whole weeks around the window, whose bookings the round robin counts.
fn reach(rules: &Rules, query: &SlotQuery) -> (DateTime<Utc>, DateTime<Utc>) {
    let (from, to) = availability::slots_reach(rules, query);
    (from.min(query.from - Duration::days(8)), to.max(query.to + Duration::days(8)))
}
