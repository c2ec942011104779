//! Listings of a resource on platforms, and the manual update checklist of each `manual` one:
//! the refresh that nets it ([`kalends_core::checklists::net`]) in one transaction serialised per
//! resource, the status changes people make, the reminders' reads and the figures.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::conflicts::fetch_busy_items;
use super::owner_writes::begin_owner_write;
use super::webhooks::record_webhook_events;
use super::{Page, Store, StoreError, corrupt, now, outbox, with_pool, with_read_pool};
use kalends_core::checklists::{
    Action, ItemStatus, ItemView, ListingInput, ListingMode, ListingPlatform, Need, NightCause,
    describe, due_at, net,
};
use kalends_core::conflicts::{Busy, Class, Kin, Source};
use kalends_core::domain::{Owner, TimeZone};
use kalends_core::job::Job;
use kalends_core::webhooks::WebhookEvent;

/// A listing as given (created or replaced).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewListing {
    /// The platform.
    pub platform: ListingPlatform,
    /// How it is kept in step.
    pub mode: ListingMode,
    /// The platform's own room name or id.
    pub room: Option<String>,
    /// Free notes.
    pub notes: Option<String>,
}

/// A stored listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    /// Its id.
    pub id: Uuid,
    /// The resource listed.
    pub resource_id: Uuid,
    /// Its content.
    pub data: NewListing,
}

/// A checklist item, with the API's field names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChecklistItem {
    /// Its id.
    pub id: Uuid,
    /// The listing to change.
    pub listing_id: Uuid,
    /// The listing's resource.
    pub resource_id: Uuid,
    /// The listing's platform.
    pub platform: ListingPlatform,
    /// What to do.
    pub action: Action,
    /// First night.
    pub start_date: NaiveDate,
    /// Check-out day (exclusive).
    pub end_date: NaiveDate,
    /// The booking that asked for it, if one did.
    pub booking_id: Option<Uuid>,
    /// What changed (`booking_saved`, `booking_cancelled`, `block_added`, `feed_import`, ...).
    pub trigger: String,
    /// When it should be done by.
    pub due_at: DateTime<Utc>,
    /// Where it stands.
    pub status: ItemStatus,
    /// When it was done or skipped.
    pub done_at: Option<DateTime<Utc>>,
    /// Who did or skipped it.
    pub done_by: Option<String>,
    /// The note given (a skip's reason).
    pub note: Option<String>,
    /// The nights in words ("close 3 nights, 12–15 Mar (the 12th, 13th and 14th); ...").
    pub text: String,
    /// When its first night starts (reminders escalate towards it).
    #[serde(skip)]
    pub check_in_at: DateTime<Utc>,
    /// When it was created.
    #[serde(skip)]
    pub created_at: DateTime<Utc>,
    /// Reminders already sent (0: none).
    #[serde(skip)]
    pub reminded_step: i64,
}

#[derive(sqlx::FromRow)]
pub(super) struct ItemRow {
    id: Uuid,
    listing_id: Uuid,
    resource_id: Uuid,
    platform: String,
    action: String,
    start_date: NaiveDate,
    end_date: NaiveDate,
    booking_id: Option<Uuid>,
    cause: String,
    due_at: DateTime<Utc>,
    check_in_at: DateTime<Utc>,
    status: String,
    created_at: DateTime<Utc>,
    done_at: Option<DateTime<Utc>>,
    done_by: Option<String>,
    note: Option<String>,
    reminded_step: i64,
}

pub(super) const ITEM_COLUMNS: &str = "id, listing_id, resource_id, platform, action, start_date, end_date, \
     booking_id, cause, due_at, check_in_at, status, created_at, done_at, done_by, note, \
     reminded_step";

impl TryFrom<ItemRow> for ChecklistItem {
    type Error = StoreError;
    fn try_from(r: ItemRow) -> Result<Self, StoreError> {
        let bad = |what: &str| corrupt(format!("checklist item {} has a bad {what}", r.id));
        let action = Action::parse(&r.action).ok_or_else(|| bad("action"))?;
        Ok(ChecklistItem {
            id: r.id,
            listing_id: r.listing_id,
            resource_id: r.resource_id,
            platform: ListingPlatform::parse(&r.platform).ok_or_else(|| bad("platform"))?,
            action,
            start_date: r.start_date,
            end_date: r.end_date,
            booking_id: r.booking_id,
            trigger: r.cause,
            due_at: r.due_at,
            status: ItemStatus::parse(&r.status).ok_or_else(|| bad("status"))?,
            done_at: r.done_at,
            done_by: r.done_by,
            note: r.note,
            text: describe(action, r.start_date, r.end_date, r.created_at.date_naive()),
            check_in_at: r.check_in_at,
            created_at: r.created_at,
            reminded_step: r.reminded_step,
        })
    }
}

type ListingRow = (Uuid, Uuid, String, String, Option<String>, Option<String>);

fn listing_from(row: ListingRow) -> Result<Listing, StoreError> {
    let (id, resource_id, platform, mode, room, notes) = row;
    let bad = |what: &str| corrupt(format!("listing {id} has a bad {what}"));
    Ok(Listing {
        id,
        resource_id,
        data: NewListing {
            platform: ListingPlatform::parse(&platform).ok_or_else(|| bad("platform"))?,
            mode: ListingMode::parse(&mode).ok_or_else(|| bad("mode"))?,
            room,
            notes,
        },
    })
}

/// Which items [`Store::list_checklist_items`] returns.
#[derive(Clone, Copy, Debug, Default)]
pub struct ItemFilter {
    /// Only this status.
    pub status: Option<ItemStatus>,
    /// Only this platform.
    pub platform: Option<ListingPlatform>,
    /// Only this resource.
    pub resource_id: Option<Uuid>,
}

/// A status change a person makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// Done on the platform.
    Done,
    /// Not done, on purpose.
    Skip,
    /// Pending again (a mistaken done or skip).
    Reopen,
}

/// What a refresh needs besides the store: the resource's zone, what caused it, when new items
/// are due.
#[derive(Clone, Copy, Debug)]
pub struct RefreshPolicy<'a> {
    /// The resource's zone (nights are its local dates).
    pub zone: TimeZone,
    /// What changed.
    pub cause: &'a str,
    /// When items are due (`[checklists]`).
    pub config: &'a kalends_core::config::ChecklistsConfig,
}

/// The resource's busy nights from `today` on (its family's items included), with why each is
/// busy. Items are read by their
/// start so each night names the booking that took it first.
fn busy_nights(
    mut items: Vec<Busy>,
    zone: TimeZone,
    today: NaiveDate,
) -> BTreeMap<NaiveDate, NightCause> {
    items.sort_by_key(|b| (b.start, b.item.id));
    let tz = zone.tz();
    let mut nights: BTreeMap<NaiveDate, NightCause> = BTreeMap::new();
    for busy in items {
        let start = busy.start.with_timezone(&tz).date_naive();
        let end = busy.end.with_timezone(&tz).date_naive();
        let end = if busy.all_day { end } else { end.max(start.succ_opt().unwrap_or(start)) };
        for night in start.max(today).iter_days().take_while(|d| *d < end) {
            let cause = nights.entry(night).or_default();
            match (busy.item.source, busy.class) {
                // The platform knows of its own listing's reservations, not of the family's.
                (Source::Feed, Class::Reservation(p) | Class::PlatformBlock(p))
                    if busy.kin == Kin::Own =>
                {
                    cause.feeds.push(p);
                }
                (Source::Booking, _) => {
                    cause.own = true;
                    cause.booking_id.get_or_insert(busy.item.id);
                }
                _ => cause.own = true,
            }
        }
    }
    nights
}

/// The instant the night `date` starts in `zone`.
pub(crate) fn night_start(date: NaiveDate, zone: TimeZone) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    midnight
        .and_local_timezone(zone.tz())
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| midnight.and_utc())
}

/// An item's id, action, nights, status, when it was done and its booking, as the netting
/// reads them.
type ViewRow = (Uuid, String, NaiveDate, NaiveDate, String, Option<DateTime<Utc>>, Option<Uuid>);

/// The [`ViewRow`]s of a listing (`$1`): every item that still counts.
const VIEWS: &str = "SELECT id, action, start_date, end_date, status, done_at, booking_id \
     FROM checklist_items \
     WHERE listing_id = $1 AND status <> 'superseded'";

fn item_view(row: ViewRow) -> Result<ItemView, StoreError> {
    let (id, action, start, end, status, done_at, booking_id) = row;
    let bad = |what: &str| corrupt(format!("checklist item {id} has a bad {what}"));
    Ok(ItemView {
        id,
        action: Action::parse(&action).ok_or_else(|| bad("action"))?,
        start,
        end,
        status: ItemStatus::parse(&status).ok_or_else(|| bad("status"))?,
        done_at,
        booking_id,
    })
}

/// A new pending item of the listing `(id, resource, platform)` for `need`, made at `at`.
fn pending_item(
    need: &Need,
    listing: (Uuid, Uuid, ListingPlatform),
    policy: &RefreshPolicy<'_>,
    at: DateTime<Utc>,
) -> ChecklistItem {
    let check_in_at = night_start(need.start, policy.zone);
    ChecklistItem {
        id: Uuid::now_v7(),
        listing_id: listing.0,
        resource_id: listing.1,
        platform: listing.2,
        action: need.action,
        start_date: need.start,
        end_date: need.end,
        booking_id: need.booking_id,
        trigger: policy.cause.to_owned(),
        due_at: due_at(policy.config, at, check_in_at),
        status: ItemStatus::Pending,
        done_at: None,
        done_by: None,
        note: None,
        text: describe(need.action, need.start, need.end, at.date_naive()),
        check_in_at,
        created_at: at,
        reminded_step: 0,
    }
}

/// Inserts a new pending item in `$tx`, with the reminder it owes at its due time.
macro_rules! insert_item {
    ($tx:expr, $tenant_id:expr, $item:expr) => {{
        let item: &ChecklistItem = $item;
        sqlx::query(
            "INSERT INTO checklist_items (id, tenant_id, listing_id, resource_id, platform, action, \
             start_date, end_date, booking_id, cause, due_at, check_in_at, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'pending', $13)",
        )
        .bind(item.id)
        .bind($tenant_id)
        .bind(item.listing_id)
        .bind(item.resource_id)
        .bind(item.platform.as_str())
        .bind(item.action.as_str())
        .bind(item.start_date)
        .bind(item.end_date)
        .bind(item.booking_id)
        .bind(&item.trigger)
        .bind(item.due_at)
        .bind(item.check_in_at)
        .bind(item.created_at)
        .execute(&mut *$tx)
        .await?;
        let remind = Job::RemindChecklist { tenant_id: $tenant_id, item_id: item.id };
        sqlx::query(outbox::INSERT_AT)
            .bind(outbox::encode(&remind)?)
            .bind(item.created_at)
            .bind(item.due_at)
            .execute(&mut *$tx)
            .await?;
    }};
}

/// The refresh job a change of a listing or an item owes, in `$tx`.
macro_rules! owe_refresh {
    ($tx:expr, $tenant_id:expr, $resource_id:expr, $cause:expr, $at:expr) => {{
        let job = Job::UpdateChecklists {
            tenant_id: $tenant_id,
            resource_id: Some($resource_id),
            booking_id: None,
            cause: $cause.to_owned(),
        };
        sqlx::query(outbox::INSERT)
            .bind(outbox::encode(&job)?)
            .bind($at)
            .execute(&mut *$tx)
            .await?;
    }};
}

impl Store {
    /// Lists a resource on a platform; a `manual` listing gets its checklist by the job owed.
    pub async fn create_listing(
        &self,
        tenant_id: Uuid,
        resource_id: Uuid,
        new: &NewListing,
    ) -> Result<Listing, StoreError> {
        self.resource(tenant_id, resource_id).await?;
        let (id, at) = (Uuid::now_v7(), now());
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO listings (id, tenant_id, resource_id, platform, mode, room, notes, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(id)
            .bind(tenant_id)
            .bind(resource_id)
            .bind(new.platform.as_str())
            .bind(new.mode.as_str())
            .bind(&new.room)
            .bind(&new.notes)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            owe_refresh!(tx, tenant_id, resource_id, "listing_added", at);
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })?;
        self.outbox_signal.notify_one();
        Ok(Listing { id, resource_id, data: new.clone() })
    }

    /// The resource's listings, oldest first.
    pub async fn listings(
        &self,
        tenant_id: Uuid,
        resource_id: Option<Uuid>,
    ) -> Result<Vec<Listing>, StoreError> {
        let rows: Vec<ListingRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, resource_id, platform, mode, room, notes FROM listings \
                 WHERE tenant_id = $1 AND ($2 IS NULL OR resource_id = $2) ORDER BY id",
            )
            .bind(tenant_id)
            .bind(resource_id)
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter().map(listing_from).collect()
    }

    /// One listing of the resource.
    pub async fn listing(
        &self,
        tenant_id: Uuid,
        resource_id: Uuid,
        id: Uuid,
    ) -> Result<Listing, StoreError> {
        let all = self.listings(tenant_id, Some(resource_id)).await?;
        all.into_iter().find(|l| l.id == id).ok_or(StoreError::NotFound)
    }

    /// Replaces a listing's content; the checklist follows by the job owed.
    pub async fn update_listing(
        &self,
        tenant_id: Uuid,
        resource_id: Uuid,
        id: Uuid,
        new: &NewListing,
    ) -> Result<Listing, StoreError> {
        let at = now();
        let changed = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(
                "UPDATE listings SET platform = $1, mode = $2, room = $3, notes = $4 \
                 WHERE tenant_id = $5 AND resource_id = $6 AND id = $7",
            )
            .bind(new.platform.as_str())
            .bind(new.mode.as_str())
            .bind(&new.room)
            .bind(&new.notes)
            .bind(tenant_id)
            .bind(resource_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 1 {
                // Items follow the listing's platform; a listing no longer manual owes nothing.
                sqlx::query(
                    "UPDATE checklist_items SET platform = $1, \
                     status = CASE WHEN $2 AND status = 'pending' THEN 'superseded' ELSE status END \
                     WHERE listing_id = $3",
                )
                .bind(new.platform.as_str())
                .bind(new.mode != ListingMode::Manual)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                owe_refresh!(tx, tenant_id, resource_id, "listing_changed", at);
            }
            tx.commit().await?;
            Ok::<_, StoreError>(changed)
        })?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        self.outbox_signal.notify_one();
        Ok(Listing { id, resource_id, data: new.clone() })
    }

    /// Removes a listing and its checklist.
    pub async fn delete_listing(
        &self,
        tenant_id: Uuid,
        resource_id: Uuid,
        id: Uuid,
    ) -> Result<(), StoreError> {
        let gone = with_pool!(self, |pool| {
            sqlx::query(
                "DELETE FROM listings WHERE tenant_id = $1 AND resource_id = $2 AND id = $3",
            )
            .bind(tenant_id)
            .bind(resource_id)
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        if gone == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    /// A page of the tenant's checklist items, newest first.
    pub async fn list_checklist_items(
        &self,
        tenant_id: Uuid,
        filter: ItemFilter,
        before: Option<Uuid>,
        limit: u32,
    ) -> Result<Page<ChecklistItem>, StoreError> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM checklist_items WHERE tenant_id = $1 \
             AND ($2 IS NULL OR status = $2) AND ($3 IS NULL OR platform = $3) \
             AND ($4 IS NULL OR resource_id = $4) AND ($5 IS NULL OR id < $5) \
             ORDER BY id DESC LIMIT $6"
        );
        let rows: Vec<ItemRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(filter.status.map(ItemStatus::as_str))
                .bind(filter.platform.map(ListingPlatform::as_str))
                .bind(filter.resource_id)
                .bind(before)
                .bind(i64::from(limit) + 1)
                .fetch_all(pool)
                .await
        })?;
        let items = rows.into_iter().map(ChecklistItem::try_from).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, limit, |i| i.id))
    }

    /// One checklist item.
    pub async fn checklist_item(
        &self,
        tenant_id: Uuid,
        id: Uuid,
    ) -> Result<ChecklistItem, StoreError> {
        let sql =
            format!("SELECT {ITEM_COLUMNS} FROM checklist_items WHERE tenant_id = $1 AND id = $2");
        let row: Option<ItemRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// Marks an item done, skipped or pending again. Done takes a pending item, or a superseded
    /// one (done on the platform before the change that superseded it: the nights it closed
    /// are then asked to be opened again); skip takes a pending item; reopen a done or skipped
    /// one, which is reminded of again from its due time, its overdue event and reminder steps
    /// afresh. Anything else is [`StoreError::Invalid`] on `status`. What the platform is
    /// believed to have changes, so a refresh of the resource is owed.
    pub async fn mark_checklist_item(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        mark: Mark,
        by: &str,
        note: Option<&str>,
    ) -> Result<ChecklistItem, StoreError> {
        let item = self.checklist_item(tenant_id, id).await?;
        let (from, to, message): (&[&str], &str, &str) = match mark {
            Mark::Done => (
                &["pending", "superseded"],
                "done",
                "only a pending or superseded item can be done",
            ),
            Mark::Skip => (&["pending"], "skipped", "only a pending item can be skipped"),
            Mark::Reopen => {
                (&["done", "skipped"], "pending", "only a done or skipped item can be reopened")
            }
        };
        let at = now();
        let (done_at, done_by) = match mark {
            Mark::Reopen => (None, None),
            _ => (Some(at), Some(by)),
        };
        let changed = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(
                "UPDATE checklist_items SET status = $1, done_at = $2, done_by = $3, note = $4 \
                 WHERE tenant_id = $5 AND id = $6 AND (status = $7 OR status = $8)",
            )
            .bind(to)
            .bind(done_at)
            .bind(done_by)
            .bind(note)
            .bind(tenant_id)
            .bind(id)
            .bind(from[0])
            .bind(from.get(1).copied().unwrap_or(from[0]))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 1 {
                owe_refresh!(tx, tenant_id, item.resource_id, "checklist_marked", at);
            }
            if changed == 1 && mark == Mark::Reopen {
                sqlx::query(
                    "UPDATE checklist_items SET reminded_step = 0, overdue_at = NULL WHERE id = $1",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
                let remind = Job::RemindChecklist { tenant_id, item_id: id };
                sqlx::query(outbox::INSERT_AT)
                    .bind(outbox::encode(&remind)?)
                    .bind(at)
                    .bind(item.due_at.max(at))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(changed)
        })?;
        if changed == 0 {
            return Err(super::invalid("status", message));
        }
        self.outbox_signal.notify_one();
        self.checklist_item(tenant_id, id).await
    }

    /// Brings the checklists of the resource's `manual` listings up to date with its busy
    /// nights (see [`kalends_core::checklists::net`]), in one transaction serialised with the writes
    /// to the resource's time. New items owe a `checklist_item.created` event and a reminder at
    /// their due time. Returns how many items were created.
    pub async fn refresh_checklists(
        &self,
        tenant_id: Uuid,
        resource_id: Uuid,
        policy: &RefreshPolicy<'_>,
    ) -> Result<usize, StoreError> {
        let at = now();
        let today = at.with_timezone(&policy.zone.tz()).date_naive();
        let owner = Owner::Resource(resource_id);
        let window = Some((at - Duration::days(2), far()));
        let created = with_pool!(self, |pool| {
            let mut tx = begin_owner_write!(self, pool, &[owner]);
            let listings: Vec<(Uuid, String, String)> = sqlx::query_as(
                "SELECT id, platform, held FROM listings WHERE tenant_id = $1 \
                 AND resource_id = $2 AND mode = 'manual' ORDER BY id",
            )
            .bind(tenant_id)
            .bind(resource_id)
            .fetch_all(&mut *tx)
            .await?;
            if listings.is_empty() {
                tx.commit().await?;
                return Ok(0);
            }
            let items = fetch_busy_items!(tenant_id, owner, window, &mut *tx)?;
            let busy = busy_nights(items, policy.zone, today);
            let mut events = Vec::new();
            for (listing_id, platform, held) in listings {
                let platform = ListingPlatform::parse(&platform)
                    .ok_or_else(|| corrupt(format!("listing {listing_id} has a bad platform")))?;
                let was_held: BTreeSet<NaiveDate> = serde_json::from_str(&held).map_err(corrupt)?;
                let views: Vec<ViewRow> =
                    sqlx::query_as(VIEWS).bind(listing_id).fetch_all(&mut *tx).await?;
                let views = views.into_iter().map(item_view).collect::<Result<Vec<_>, _>>()?;
                let plan = net(&ListingInput {
                    platform,
                    today,
                    busy: &busy,
                    items: &views,
                    was_held: &was_held,
                });
                for id in &plan.supersede {
                    sqlx::query(
                        "UPDATE checklist_items SET status = 'superseded' WHERE id = $1 \
                         AND status IN ('pending', 'skipped')",
                    )
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                for need in &plan.create {
                    let item = pending_item(need, (listing_id, resource_id, platform), policy, at);
                    insert_item!(tx, tenant_id, &item);
                    let data = serde_json::to_value(&item).map_err(corrupt)?;
                    events.push(WebhookEvent::new("checklist_item.created", data));
                }
                if plan.held != was_held {
                    let held = serde_json::to_string(&plan.held).map_err(corrupt)?;
                    sqlx::query("UPDATE listings SET held = $1 WHERE id = $2")
                        .bind(held)
                        .bind(listing_id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            record_webhook_events!(tx, tenant_id, &events, at);
            tx.commit().await?;
            Ok::<_, StoreError>(events.len())
        })?;
        if created > 0 {
            self.outbox_signal.notify_one();
        }
        Ok(created)
    }

    /// The tenant's resources with a `manual` listing (one cheap read, so that the many tenants
    /// without one pay nothing more for a change).
    pub async fn manually_listed_resources(
        &self,
        tenant_id: Uuid,
    ) -> Result<Vec<Uuid>, StoreError> {
        let rows: Vec<(Uuid,)> = with_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT DISTINCT resource_id FROM listings WHERE tenant_id = $1 AND mode = 'manual'",
            )
            .bind(tenant_id)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// The resources that have checklist items about `booking_id` (a moved booking leaves some
    /// on its old resource).
    pub async fn checklist_resources_of_booking(
        &self,
        tenant_id: Uuid,
        booking_id: Uuid,
    ) -> Result<Vec<Uuid>, StoreError> {
        let rows: Vec<(Uuid,)> = with_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT DISTINCT resource_id FROM checklist_items WHERE tenant_id = $1 \
                 AND booking_id = $2",
            )
            .bind(tenant_id)
            .bind(booking_id)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }
}

/// The end of the refresh window: bookings and blocks last at most a year, and nights further
/// ahead than ten years are nobody's checklist.
fn far() -> DateTime<Utc> {
    now() + Duration::days(3660)
}
