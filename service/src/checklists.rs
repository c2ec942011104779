//! Manual update checklists: listings managed by the host, items refreshed after every change
//! of a resource's nights (the job a booking, block or import run owes in its own
//! transaction), marked by people, and reminded when overdue.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use kalends_core::alerts::{AlertDraft, AlertRule, seconds};
use kalends_core::checklists::{ItemStatus, ListingPlatform, reminder_step};
use kalends_core::config::{AlertsConfig, ChecklistsConfig};
use kalends_core::domain::{Owner, Tenant};
use kalends_core::job::Job;
use kalends_store::{ChecklistItem, Listing, Mark, NewListing, RefreshPolicy};
use kalends_store::{Store, StoreError};

/// The alert kind of overdue checklist items.
pub const ALERT_KIND: &str = "checklist_overdue";

/// Lists a resource on a platform.
pub async fn create_listing(
    store: &Store,
    tenant: &Tenant,
    resource_id: Uuid,
    new: &NewListing,
) -> Result<Listing, StoreError> {
    store.create_listing(tenant.id, resource_id, new).await
}

/// Changes a listing.
pub async fn update_listing(
    store: &Store,
    tenant: &Tenant,
    resource_id: Uuid,
    id: Uuid,
    new: &NewListing,
) -> Result<Listing, StoreError> {
    store.update_listing(tenant.id, resource_id, id, new).await
}

/// Removes a listing and its checklist.
pub async fn delete_listing(
    store: &Store,
    tenant: &Tenant,
    resource_id: Uuid,
    id: Uuid,
) -> Result<(), StoreError> {
    store.delete_listing(tenant.id, resource_id, id).await
}

/// Marks an item done, skipped (with a reason in `note`) or pending again, by `by`.
pub async fn mark(
    store: &Store,
    tenant: &Tenant,
    id: Uuid,
    mark: Mark,
    by: &str,
    note: Option<&str>,
) -> Result<ChecklistItem, StoreError> {
    store.mark_checklist_item(tenant.id, id, mark, by, note).await
}

/// Brings the checklists up to date after a change: of `resource_id`, and for a booking of its
/// current resource and of every resource that has items about it (a booking moved away); and
/// of each one's family (its house, its rooms), whose nights the change closes or opens too.
pub async fn refresh(
    store: &Store,
    tenant_id: Uuid,
    resource_id: Option<Uuid>,
    booking_id: Option<Uuid>,
    cause: &str,
    config: &ChecklistsConfig,
) -> Result<usize, StoreError> {
    let listed = store.manually_listed_resources(tenant_id).await?;
    if listed.is_empty() {
        return Ok(0);
    }
    let tenant = match store.tenant(tenant_id).await {
        Err(StoreError::NotFound) => return Ok(0),
        other => other?,
    };
    let mut resources: Vec<Uuid> = resource_id.into_iter().collect();
    if let Some(booking_id) = booking_id {
        match store.booking(tenant_id, booking_id).await {
            Ok(booking) => resources.extend(booking.data.resource_id),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e),
        }
        resources.extend(store.checklist_resources_of_booking(tenant_id, booking_id).await?);
    }
    // A house and its rooms share their nights: a change of one owes the others' checklists.
    let mut resources = store.families(tenant_id, &resources).await?;
    resources.retain(|id| listed.contains(id));
    let mut created = 0;
    for id in resources {
        let zone = match store.owner_zone(&tenant, Owner::Resource(id)).await {
            Err(StoreError::NotFound) => continue,
            other => other?,
        };
        let policy = RefreshPolicy { zone, cause, config };
        created += store.refresh_checklists(tenant_id, id, &policy).await?;
    }
    Ok(created)
}

/// The alert object of a platform's overdue items: one per tenant and platform, so the quiet
/// period holds per platform.
fn alert_object(tenant_id: Uuid, platform: ListingPlatform) -> Uuid {
    let index = ListingPlatform::ALL.iter().position(|p| *p == platform).unwrap_or(0);
    Uuid::from_u128(tenant_id.as_u128() ^ (index as u128 + 1))
}

/// The alert telling of `overdue` items of one platform.
async fn overdue_alert(
    store: &Store,
    tenant: &Tenant,
    platform: ListingPlatform,
    overdue: &[(ChecklistItem, i64)],
    since: DateTime<Utc>,
) -> Result<AlertDraft, StoreError> {
    let mut facts = Vec::new();
    for (item, step) in overdue {
        let resource = store.resource(tenant.id, item.resource_id).await?.data.name;
        let urgency = if *step > 1 { " (check-in is near)" } else { "" };
        facts.push((resource, format!("{}{urgency}", item.text)));
    }
    let count = overdue.len();
    let plural = if count == 1 { "item" } else { "items" };
    Ok(AlertDraft {
        kind: ALERT_KIND,
        object_id: alert_object(tenant.id, platform),
        summary: format!("{} checklist overdue: {count} {plural}", platform.label()),
        facts,
        link: format!("/dashboard/checklists?platform={}", platform.as_str()),
        rule: AlertRule::Unless(since),
    })
}

/// Reminds the tenant of an overdue item: one alert for every overdue item of its platform
/// (at most one per quiet period; a reminder held back by it comes at the period's end), a
/// `checklist_item.overdue` event for each item overdue for the first time, and the next
/// reminder at the next step before check-in.
pub async fn remind(
    store: &Store,
    tenant_id: Uuid,
    item_id: Uuid,
    checklists: &ChecklistsConfig,
    alerts: &AlertsConfig,
) -> Result<(), StoreError> {
    let (tenant, item) =
        match (store.tenant(tenant_id).await, store.checklist_item(tenant_id, item_id).await) {
            (Ok(tenant), Ok(item)) => (tenant, item),
            (Err(StoreError::NotFound), _) | (_, Err(StoreError::NotFound)) => return Ok(()),
            (Err(e), _) | (_, Err(e)) => return Err(e),
        };
    if item.status != ItemStatus::Pending {
        return Ok(());
    }
    let now = Utc::now();
    let steps = &checklists.reminder_steps_secs;
    let (step, next) = reminder_step(steps, now, item.due_at, item.check_in_at);
    let job = Job::RemindChecklist { tenant_id, item_id };
    if step == 0 || item.reminded_step >= step {
        return match next {
            Some(at) => store.enqueue_at(&job, at).await,
            None => Ok(()),
        };
    }
    let overdue: Vec<(ChecklistItem, i64)> = store
        .overdue_checklist_items(tenant_id, item.platform, now)
        .await?
        .into_iter()
        .map(|i| {
            let step = reminder_step(steps, now, i.due_at, i.check_in_at).0;
            (i, step)
        })
        .collect();
    let quiet = seconds(alerts.quiet_period_secs);
    let alert = overdue_alert(store, &tenant, item.platform, &overdue, now - quiet).await?;
    let alert = (!tenant.settings.alert_emails.is_empty()).then_some(alert);
    let marks: Vec<(Uuid, i64)> = overdue.iter().map(|(i, s)| (i.id, *s)).collect();
    let alert_due = now + seconds(alerts.digest_window_secs);
    let reminder = kalends_store::Reminder {
        alert: alert.as_ref(),
        alert_due,
        steps: &marks,
        item_id,
        next,
        retry: now + quiet,
    };
    let raised = store.record_checklist_reminder(tenant_id, &reminder).await?;
    tracing::debug!(raised, items = marks.len(), "checklist reminder");
    Ok(())
}
