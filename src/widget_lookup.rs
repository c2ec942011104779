//! What an availability calendar's secret URL names: its widget, its resource's name, rules and
//! the zone its days are counted in and a version that moves whenever what it shows may have changed. The
//! public calendar routes (`src/widget.rs`) remember it as briefly as a feed's validators
//! (`feed_cache::Recent`, held in the app state).

use chrono::{DateTime, Utc};
use kalends_core::domain::{Owner, TimeZone};
use kalends_store::{AvailabilityWidget, OwnerRules};
use kalends_store::{Store, StoreError};
use sha2::{Digest as _, Sha256};

use crate::public_http::hex;

/// What the public routes know about a calendar URL.
#[derive(Debug)]
pub struct Known {
    /// The widget.
    pub widget: AvailabilityWidget,
    /// Its resource's name (the calendar's title).
    pub resource_name: String,
    /// The zone its days are counted in.
    pub zone: TimeZone,
    /// Its resource's rules and zone: which days a stay may start on.
    pub owned: OwnerRules,
    /// Moves whenever anything the calendar shows may have changed.
    pub version: String,
    /// When the calendar's data last changed.
    pub changed_at: DateTime<Utc>,
}

/// Reads a calendar URL's widget, resource and zone; `None` for an unknown or deleted one.
pub async fn look_up(store: &Store, hash: &[u8]) -> Result<Option<Known>, StoreError> {
    let Some(found) = store.widget_lookup(hash).await? else { return Ok(None) };
    let tenant = store.tenant(found.widget.tenant_id).await?;
    // Its rules are part of the content version: a change of them moves the version too.
    let owned = store.owner_rules(&tenant, Owner::Resource(found.widget.resource_id)).await?;
    let zone = owned.zone;
    let mut digest = Sha256::new();
    digest.update(found.widget.id.as_bytes());
    digest.update(found.content_version.to_le_bytes());
    // The tenant's zone (a resource without its own) is a setting, outside the content version.
    digest.update(zone.tz().name().as_bytes());
    let changed_at = found
        .content_changed_at
        .map_or(found.widget.created_at, |c| c.max(found.widget.created_at));
    Ok(Some(Known {
        version: hex(&digest.finalize()[..12]),
        widget: found.widget,
        resource_name: found.resource_name,
        zone,
        owned,
        changed_at,
    }))
}
