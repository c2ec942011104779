//! The tenant's directory: its resources (rooms, villas, chairs) and staff members, created,
//! changed and removed by hand or kept in step with the host's own ids.

use uuid::Uuid;

use kalends_core::domain::{NewResource, NewStaff, Owner, Resource, Staff};
use kalends_core::job::Job;
use kalends_store::{Store, StoreError, WholeDaysCursor};

/// What saving by the host's own id did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Saved<T> {
    /// It was new.
    Created(T),
    /// It existed; it now has the content given (unchanged when it already had).
    Kept(T),
}

/// Adds a resource.
pub async fn create_resource(
    store: &Store,
    tenant_id: Uuid,
    new: NewResource,
) -> Result<Resource, StoreError> {
    store.create_resource(tenant_id, new).await
}

/// Replaces a resource's details. When it joins or leaves a house, whatever its nights share
/// changes: its conflicts are looked at again (those with its old house resolve themselves,
/// those with its new one open), and the checklists of its old and new family are refreshed.
pub async fn update_resource(
    store: &Store,
    tenant_id: Uuid,
    id: Uuid,
    new: NewResource,
) -> Result<Resource, StoreError> {
    let before = store.resource(tenant_id, id).await?.data;
    let resource = store.update_resource(tenant_id, id, new).await?;
    if resource.data.parent_id != before.parent_id {
        crate::conflicts::recheck_owner(store, tenant_id, Owner::Resource(id)).await?;
        for resource_id in [Some(id), before.parent_id].into_iter().flatten() {
            store.enqueue(&family_changed(tenant_id, resource_id)).await?;
        }
    }
    // A room without a zone of its own is where its house is: moving it to another house
    // moves its days as much as a zone of its own would.
    let zone_moved = resource.data.time_zone != before.time_zone
        || (resource.data.time_zone.is_none() && resource.data.parent_id != before.parent_id);
    if zone_moved {
        // Its stays' days move (and its rooms' without a zone of their own), and with them the
        // evening before, when their reminders go.
        store.enqueue(&Job::PlaceWholeDays { tenant_id, recheck: Vec::new() }).await?;
        store.enqueue(&Job::ScheduleReminders { tenant_id }).await?;
    }
    Ok(resource)
}

/// After a zone changed (a resource's, a staff member's or the business's): every whole-day item
/// of the tenant is placed at midnight in its owner's zone as it is now, the owners whose items
/// moved (with `recheck`, those an earlier run moved) have their overlaps looked at again, and
/// the bookings ahead of every owner with rules are judged by them again. Run by the
/// `place_whole_days` job, which the change queues; a tenant deleted meanwhile has nothing to
/// place. The moves are committed before the overlaps are looked at, so when that fails, the
/// owners not looked at yet go into a job of their own, a little later (a retry of this one
/// would find nothing to move). The items are placed a page at a time; when a page fails for a
/// moment (the database busy), the job placing the rest carries the owners moved so far.
pub async fn place_whole_days(
    store: &Store,
    tenant_id: Uuid,
    recheck: &[Owner],
) -> Result<(), StoreError> {
    let tenant = match store.tenant(tenant_id).await {
        Err(StoreError::NotFound) => return Ok(()),
        other => other?,
    };
    let mut owners = recheck.to_vec();
    let mut at = Some(WholeDaysCursor::default());
    while let Some(cursor) = at {
        match store.place_whole_days(&tenant, cursor).await {
            Ok(page) => {
                for owner in page.moved {
                    if !owners.contains(&owner) {
                        owners.push(owner);
                    }
                }
                at = page.next;
            }
            Err(e @ (StoreError::Database(_) | StoreError::VersionConflict)) => {
                // The pages written are in place: a job placing the rest (the next run finds
                // what moved already in place) carries the owners whose overlaps are owed.
                tracing::warn!(error = %e, "moving whole days after a change of zone failed");
                return place_later(store, tenant_id, owners).await;
            }
            Err(e) => return Err(e),
        }
    }
    for (done, &owner) in owners.iter().enumerate() {
        if let Err(e) = crate::conflicts::recheck_owner(store, tenant_id, owner).await {
            tracing::warn!(error = %e, "looking at overlaps after moving whole days failed");
            return place_later(store, tenant_id, owners[done..].to_vec()).await;
        }
    }
    // Rules are counted in their owner's zone too (a stay's nights, opening hours): the bookings
    // ahead of every owner with rules are judged again, whichever zone moved, in the zones as
    // they are now (the business's may have changed again during the move). A failure for the
    // moment is the job's to retry: its next run moves nothing and judges them all again.
    let tenant = match store.tenant(tenant_id).await {
        Err(StoreError::NotFound) => return Ok(()),
        other => other?,
    };
    for owner in store.ruled_owners(tenant_id).await? {
        match crate::conflicts::judge_bookings_ahead(store, &tenant, owner).await {
            // Removed meanwhile: nothing of theirs to judge.
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(e @ (StoreError::Database(_) | StoreError::VersionConflict)) => return Err(e),
            // One owner's rules that cannot be read must not keep the others from being judged.
            Err(error) => tracing::error!(
                ?owner, %error, "its bookings could not be judged again after a change of zone"
            ),
        }
    }
    Ok(())
}

/// The job that finishes a move of whole days stopped by a failure, a little later, with the
/// owners whose overlaps are still owed.
async fn place_later(
    store: &Store,
    tenant_id: Uuid,
    recheck: Vec<Owner>,
) -> Result<(), StoreError> {
    let later = chrono::Utc::now() + chrono::Duration::seconds(10);
    store.enqueue_at(&Job::PlaceWholeDays { tenant_id, recheck }, later).await
}

/// The checklist refresh a change of family owes a resource (and, through it, its family).
fn family_changed(tenant_id: Uuid, resource_id: Uuid) -> Job {
    Job::UpdateChecklists {
        tenant_id,
        resource_id: Some(resource_id),
        booking_id: None,
        cause: "family_changed".into(),
    }
}

/// Removes a resource that no booking refers to and that has no rooms.
pub async fn delete_resource(store: &Store, tenant_id: Uuid, id: Uuid) -> Result<(), StoreError> {
    store.delete_resource(tenant_id, id).await
}

/// Creates or replaces the resource the host knows by `new.external_id`; the same content again
/// writes nothing.
pub async fn save_resource_by_external_id(
    store: &Store,
    tenant_id: Uuid,
    external_id: &str,
    new: NewResource,
) -> Result<Saved<Resource>, StoreError> {
    Ok(match store.resource_by_external_id(tenant_id, external_id).await? {
        Some(existing) if existing.data == new => Saved::Kept(existing),
        Some(existing) => Saved::Kept(update_resource(store, tenant_id, existing.id, new).await?),
        None => Saved::Created(store.create_resource(tenant_id, new).await?),
    })
}

/// Adds a staff member.
pub async fn create_staff(
    store: &Store,
    tenant_id: Uuid,
    new: NewStaff,
) -> Result<Staff, StoreError> {
    store.create_staff(tenant_id, new).await
}

/// Replaces a staff member's details; a change of their zone places their whole days again.
pub async fn update_staff(
    store: &Store,
    tenant_id: Uuid,
    id: Uuid,
    new: NewStaff,
) -> Result<Staff, StoreError> {
    let before = store.staff(tenant_id, id).await?.data.time_zone;
    let staff = store.update_staff(tenant_id, id, new).await?;
    if staff.data.time_zone != before {
        store.enqueue(&Job::PlaceWholeDays { tenant_id, recheck: Vec::new() }).await?;
    }
    Ok(staff)
}

/// Removes a staff member: their connections are cleaned up at the provider first (events
/// removed, channels stopped, grants revoked, through the outbox), then forgotten. Their
/// settings sessions go with them (the store's cascade), so a session open elsewhere ends.
pub async fn delete_staff(store: &Store, tenant_id: Uuid, id: Uuid) -> Result<(), StoreError> {
    store.delete_staff(tenant_id, id).await
}

/// Creates or replaces the staff member the host knows by `external_id`; the same content again
/// writes nothing.
pub async fn save_staff_by_external_id(
    store: &Store,
    tenant_id: Uuid,
    external_id: &str,
    new: NewStaff,
) -> Result<Saved<Staff>, StoreError> {
    Ok(match store.staff_by_external_id(tenant_id, external_id).await? {
        Some(existing) if existing.data == new => Saved::Kept(existing),
        Some(existing) => Saved::Kept(update_staff(store, tenant_id, existing.id, new).await?),
        None => Saved::Created(store.create_staff(tenant_id, new).await?),
    })
}

/// Why a settings link cannot be e-mailed to a staff member.
#[derive(Debug, thiserror::Error)]
pub enum EmailLinkError {
    /// Kalends knows no address for them (give one through the API, or copy the link instead).
    #[error("the staff member has no e-mail address")]
    NoAddress,
    /// The staff member is not there, or the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Queues an e-mail to a staff member with a link to their calendar settings (the
/// `send_settings_link` job sends it, a day's worth of validity); answers who gets it.
pub async fn email_settings_link(
    store: &Store,
    tenant_id: Uuid,
    staff_id: Uuid,
) -> Result<Staff, EmailLinkError> {
    let staff = store.staff(tenant_id, staff_id).await?;
    if staff.data.email.is_none() {
        return Err(EmailLinkError::NoAddress);
    }
    store.enqueue(&Job::SendSettingsLink { tenant_id, staff_id }).await?;
    Ok(staff)
}
