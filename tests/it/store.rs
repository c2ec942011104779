//! The store: one story, two databases. Every test here runs on SQLite and on PostgreSQL.

use kalends_service::bookings;
use kalends_store::Overlap;
use std::time::Duration;

use chrono::{NaiveDate, TimeZone as _, Utc};
use kalends_core::domain::{
    BookingSpan, BookingStatus, NewBooking, NewImport, NewResource, NewStaff, Owner, Platform,
};
use kalends_core::job::Job;
use kalends_service::bookings::UpsertOutcome;
use kalends_store::StoreError;
use kalends_store::{BookingFilter, Lease, LeaseKey};
use secrecy::{ExposeSecret as _, SecretString};

use crate::helpers::{Db, TempDir, on_both_databases, store, tenant};

fn timed(title: &str, day: u32) -> NewBooking {
    NewBooking {
        description: Some("Deep tissue".into()),
        location: Some("Room 2".into()),
        ..crate::helpers::booking_for_ann(title, day, "Europe/Paris")
    }
}

fn stay(title: &str, from: u32, to: u32) -> NewBooking {
    let date = |d| NaiveDate::from_ymd_opt(2030, 6, d).unwrap();
    NewBooking {
        span: BookingSpan::all_day(date(from), date(to)).unwrap(),
        customer: None,
        ..timed(title, 1)
    }
}

async fn staff(
    store: &kalends_store::Store,
    tenant_id: uuid::Uuid,
    name: &str,
) -> kalends_core::domain::Staff {
    let new = NewStaff { external_id: None, name: name.into(), email: None, time_zone: None };
    store.create_staff(tenant_id, new).await.unwrap()
}

async fn resource(
    store: &kalends_store::Store,
    tenant_id: uuid::Uuid,
    name: &str,
) -> kalends_core::domain::Resource {
    let new =
        NewResource { external_id: None, name: name.into(), time_zone: None, parent_id: None };
    store.create_resource(tenant_id, new).await.unwrap()
}

async fn jobs_owed(store: &kalends_store::Store) -> Vec<Job> {
    let rows = store.claim_outbox(1000, Duration::from_secs(60)).await.unwrap();
    rows.iter().map(|r| r.decode().unwrap()).collect()
}

async fn bookings_round_trip_with_every_field(db: Db) {
    let dir = TempDir::new();
    let store = store(db, &dir).await;
    let tenant = tenant(&store, "Africa/Johannesburg").await;
    let room = store
        .create_resource(
            tenant.id,
            NewResource {
                external_id: Some("r1".into()),
                name: "Sea view".into(),
                time_zone: None,
                parent_id: None,
            },
        )
        .await
        .unwrap();
    let ann = staff(&store, tenant.id, "Ann").await;
    let bob = staff(&store, tenant.id, "Bob").await;
    let new = NewBooking {
        resource_id: Some(room.id),
        staff_ids: vec![bob.id, ann.id],
        ..stay("Stay", 3, 6)
    };
    let created = bookings::create(&store, &tenant, new.clone(), Overlap::Allow).await.unwrap();
    let read = store.booking(tenant.id, created.id).await.unwrap();
    assert_eq!(read.data, new, "staff order, dates and fields survive storage");
    assert_eq!(read.version, 1);
    let timed =
        bookings::create(&store, &tenant, timed("Massage", 2), Overlap::Allow).await.unwrap();
    assert_eq!(store.booking(tenant.id, timed.id).await.unwrap().data, timed.data);
}

async fn every_change_bumps_the_version_and_owes_a_job(db: Db) {
    let dir = TempDir::new();
    let store = store(db, &dir).await;
    let tenant = tenant(&store, "UTC").await;
    let booking =
        bookings::create(&store, &tenant, timed("Massage", 2), Overlap::Allow).await.unwrap();
    let moved =
        bookings::replace(&store, &tenant, booking.id, 1, timed("Massage", 3), Overlap::Allow)
            .await
            .unwrap();
    assert_eq!(moved.version, 2);
    let cancelled = bookings::cancel(&store, &tenant, booking.id).await.unwrap();
    assert_eq!((cancelled.version, cancelled.data.status), (3, BookingStatus::Cancelled));
    let again = bookings::cancel(&store, &tenant, booking.id).await.unwrap();
    assert_eq!(again.version, 3, "cancelling twice is one change");
    // Created, moved or cancelled: the calendars follow through the same sync.
    let sync = Job::sync_booking(tenant.id, booking.id);
    // The customer has an address: each change also owes telling them.
    let notify =
        Job::NotifyCustomer { tenant_id: tenant.id, booking_id: booking.id, resend: false };
    // A replaced booking may have left a resource whose manual checklist closed its nights.
    let checklists = Job::UpdateChecklists {
        tenant_id: tenant.id,
        resource_id: None,
        booking_id: Some(booking.id),
        cause: "booking_saved".into(),
    };
    assert_eq!(
        jobs_owed(&store).await,
        vec![sync.clone(), notify.clone(), sync.clone(), notify.clone(), checklists, sync, notify]
    );
}

async fn a_stale_version_cannot_overwrite_a_newer_one(db: Db) {
    let dir = TempDir::new();
    let store = store(db, &dir).await;
    let tenant = tenant(&store, "UTC").await;
    let booking =
        bookings::create(&store, &tenant, timed("Massage", 2), Overlap::Allow).await.unwrap();
    bookings::replace(&store, &tenant, booking.id, 1, timed("Moved", 3), Overlap::Allow)
        .await
        .unwrap();
    let stale =
        bookings::replace(&store, &tenant, booking.id, 1, timed("Stale", 4), Overlap::Allow).await;
    assert!(matches!(stale, Err(StoreError::VersionConflict)), "{stale:?}");
    assert_eq!(store.booking(tenant.id, booking.id).await.unwrap().data.title, "Moved");
}

/// Under a turnover rule, a stay booked on the day another checks out is flagged; the other
/// stay replaced into another room leaves its turnover free, and the flag goes.
async fn a_stay_replaced_into_another_room_settles_the_turnover_it_broke_in_the_first(db: Db) {
    let dir = TempDir::new();
    let store = store(db, &dir).await;
    let tenant = tenant(&store, "UTC").await;
    let (sea, garden) =
        (resource(&store, tenant.id, "Sea").await, resource(&store, tenant.id, "Garden").await);
    let turnover = serde_json::from_value(serde_json::json!({"turnover_days": 1})).unwrap();
    kalends_service::availability::set_rules(&store, &tenant, Owner::Resource(sea.id), turnover)
        .await
        .unwrap();
    let in_room = |room: uuid::Uuid, from, to| NewBooking {
        resource_id: Some(room),
        staff_ids: Vec::new(),
        ..stay("Guest", from, to)
    };
    let first = bookings::create(&store, &tenant, in_room(sea.id, 10, 12), Overlap::Allow);
    let first = first.await.unwrap();
    let next = bookings::create(&store, &tenant, in_room(sea.id, 12, 14), Overlap::Allow);
    let next = next.await.unwrap();
    let sea_view = [Owner::Resource(sea.id)];
    let flagged = || store.rule_conflicted_bookings(&sea_view, None);
    assert_eq!(flagged().await.unwrap(), [next.id], "checked in on the other's check-out day");
    let moved = in_room(garden.id, 10, 12);
    bookings::replace(&store, &tenant, first.id, 1, moved, Overlap::Allow).await.unwrap();
    assert_eq!(
        flagged().await.unwrap(),
        Vec::<uuid::Uuid>::new(),
        "the sea view room's turnover day is free"
    );
}

async fn an_identical_upsert_changes_nothing_and_owes_nothing(db: Db) {
    let dir = TempDir::new();
    let store = store(db, &dir).await;
    let tenant = tenant(&store, "UTC").await;
    let upsert = |day| {
        let new = timed("Massage", day);
        bookings::save_by_external_id(&store, &tenant, "ext-1", new, Overlap::Allow)
    };
    let first = upsert(2).await.unwrap();
    assert!(matches!(first, UpsertOutcome::Created(_)));
    let same = upsert(2).await.unwrap();
    assert!(matches!(same, UpsertOutcome::Unchanged(ref b) if b.version == 1), "{same:?}");
    let changed = upsert(5).await.unwrap();
    assert!(
        matches!(changed, UpsertOutcome::Updated { booking: ref b, .. } if b.version == 2),
        "{changed:?}"
    );
    let syncs = jobs_owed(&store).await.into_iter().filter(|j| j.kind() == "sync_bookings").count();
    assert_eq!(syncs, 2, "only the create and the real change owe a sync");
}

async fn another_tenants_records_are_not_found(db: Db) {
    let dir = TempDir::new();
    let store = store(db, &dir).await;
    let (mine, theirs) = (tenant(&store, "UTC").await, tenant(&store, "UTC").await);
    let booking =
        bookings::create(&store, &theirs, timed("Theirs", 2), Overlap::Allow).await.unwrap();
    assert!(matches!(store.booking(mine.id, booking.id).await, Err(StoreError::NotFound)));
    assert!(matches!(bookings::cancel(&store, &mine, booking.id).await, Err(StoreError::NotFound)));
    let staff = staff(&store, theirs.id, "T").await;
    let with_their_staff = NewBooking { staff_ids: vec![staff.id], ..timed("Mine", 3) };
    let err = bookings::create(&store, &mine, with_their_staff, Overlap::Allow).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Invalid { ref field, .. } if field == "staff_ids[0]"),
        "{err:?}"
    );
    assert_eq!(
        store
            .list_bookings(mine.id, &BookingFilter { limit: 50, ..Default::default() })
            .await
            .unwrap()
            .items
            .len(),
        0
    );
}

async fn lists_page_in_creation_order_and_filter(db: Db) {
    let dir = TempDir::new();
    let store = store(db, &dir).await;
    let tenant = tenant(&store, "UTC").await;
    let room = resource(&store, tenant.id, "Room").await;
    let ann = staff(&store, tenant.id, "Ann").await;
    let mut ids = Vec::new();
    for day in 1..=7 {
        let mut new = timed(&format!("B{day}"), day);
        if day % 2 == 0 {
            new.resource_id = Some(room.id);
            new.staff_ids = vec![ann.id];
        }
        ids.push(bookings::create(&store, &tenant, new, Overlap::Allow).await.unwrap().id);
    }
    bookings::cancel(&store, &tenant, ids[6]).await.unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_bookings(tenant.id, &BookingFilter { after, limit: 3, ..Default::default() })
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|b| b.id));
        match page.next_cursor {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen, ids, "pages walk every booking once, in order");
    let list = |filter: BookingFilter| {
        let store = store.clone();
        async move {
            let page = store
                .list_bookings(tenant.id, &BookingFilter { limit: 50, ..filter })
                .await
                .unwrap();
            page.items.iter().map(|b| b.data.title.clone()).collect::<Vec<_>>()
        }
    };
    let from = Utc.with_ymd_and_hms(2030, 1, 3, 0, 0, 0).unwrap();
    let to = Utc.with_ymd_and_hms(2030, 1, 5, 0, 0, 0).unwrap();
    assert_eq!(
        list(BookingFilter { from: Some(from), to: Some(to), ..Default::default() }).await,
        ["B3", "B4"]
    );
    assert_eq!(
        list(BookingFilter { resource_id: Some(room.id), ..Default::default() }).await,
        ["B2", "B4", "B6"]
    );
    let staff_list = list(BookingFilter { staff_id: Some(ann.id), ..Default::default() }).await;
    assert_eq!(staff_list, ["B2", "B4", "B6"]);
    let staffed = store
        .list_bookings(
            tenant.id,
            &BookingFilter { staff_id: Some(ann.id), limit: 50, ..Default::default() },
        )
        .await
        .unwrap();
    assert!(
        staffed.items.iter().all(|b| b.data.staff_ids == vec![ann.id]),
        "listed bookings carry their staff"
    );
    assert_eq!(
        list(BookingFilter { status: Some(BookingStatus::Cancelled), ..Default::default() }).await,
        ["B7"]
    );
}

async fn a_resource_with_bookings_cannot_be_deleted(db: Db) {
    let dir = TempDir::new();
    let store = store(db, &dir).await;
    let tenant = tenant(&store, "UTC").await;
    let room = resource(&store, tenant.id, "Room").await;
    bookings::create(
        &store,
        &tenant,
        NewBooking { resource_id: Some(room.id), ..timed("B", 2) },
        Overlap::Allow,
    )
    .await
    .unwrap();
    let err = store.delete_resource(tenant.id, room.id).await.unwrap_err();
    assert!(matches!(err, StoreError::InUse { what: "resource" }), "{err:?}");
    let empty = resource(&store, tenant.id, "Spare").await;
    store.delete_resource(tenant.id, empty.id).await.unwrap();
}

async fn deleting_staff_resyncs_their_bookings_without_them(db: Db) {
    let dir = TempDir::new();
    let store = store(db, &dir).await;
    let tenant = tenant(&store, "UTC").await;
    let ann = staff(&store, tenant.id, "Ann").await;
    let booking = bookings::create(
        &store,
        &tenant,
        NewBooking { staff_ids: vec![ann.id], ..timed("B", 2) },
        Overlap::Allow,
    )
    .await
    .unwrap();
    jobs_owed(&store).await;
    store.delete_staff(tenant.id, ann.id).await.unwrap();
    let after = store.booking(tenant.id, booking.id).await.unwrap();
    assert_eq!((after.version, after.data.staff_ids.len()), (2, 0));
    let owed = jobs_owed(&store).await;
    assert_eq!(owed, vec![Job::sync_booking(tenant.id, booking.id)]);
}

async fn all_day_bookings_are_placed_in_the_resource_zone(db: Db) {
    let dir = TempDir::new();
    let store = store(db, &dir).await;
    let tenant = tenant(&store, "UTC").await;
    let villa = store
        .create_resource(
            tenant.id,
            NewResource {
                external_id: None,
                name: "Villa".into(),
                time_zone: Some("Pacific/Auckland".parse().unwrap()),
                parent_id: None,
            },
        )
        .await
        .unwrap();
    bookings::create(
        &store,
        &tenant,
        NewBooking { resource_id: Some(villa.id), ..stay("Stay", 10, 12) },
        Overlap::Allow,
    )
    .await
    .unwrap();
    // 2030-06-10 00:00 in Auckland (UTC+12) is 2030-06-09 12:00 UTC.
    let probe = |h| Utc.with_ymd_and_hms(2030, 6, 9, h, 0, 0).unwrap();
    let found = |from, to| {
        let store = store.clone();
        async move {
            store
                .list_bookings(
                    tenant.id,
                    &BookingFilter {
                        from: Some(from),
                        to: Some(to),
                        limit: 5,
                        ..Default::default()
                    },
                )
                .await
                .unwrap()
                .items
                .len()
        }
    };
    assert_eq!(found(probe(0), probe(11)).await, 0);
    assert_eq!(found(probe(11), probe(13)).await, 1);
}

async fn a_burst_of_owed_work_is_claimed_in_batches_of_at_most_the_limit_each_row_once(db: Db) {
    let dir = TempDir::new();
    let store = store(db, &dir).await;
    let owe = |n: usize| {
        let store = store.clone();
        tokio::spawn(async move {
            for _ in 0..n {
                let job = Job::ImportFeed {
                    tenant_id: uuid::Uuid::now_v7(),
                    import_id: uuid::Uuid::now_v7(),
                };
                store.enqueue(&job).await.unwrap();
            }
        })
    };
    for writer in [owe(500), owe(500)] {
        writer.await.unwrap();
    }
    // Six relays drain it 20 at a time while two writers owe 1,000 more, as the first import of
    // many feeds does (on PostgreSQL a claim re-checked under concurrent updates once handed
    // out thousands of rows for a limit of 100).
    let writers = [owe(500), owe(500)];
    let relays: Vec<_> = (0..6)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let (mut claimed, mut biggest, mut idle) = (Vec::new(), 0, 0);
                while idle < 20 {
                    let rows = store.claim_outbox(20, Duration::from_secs(60)).await.unwrap();
                    biggest = biggest.max(rows.len());
                    if rows.is_empty() {
                        idle += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                    idle = 0;
                    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
                    store.complete_outbox(&ids).await.unwrap();
                    claimed.extend(ids);
                }
                (claimed, biggest)
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let mut all = Vec::new();
    for relay in relays {
        let (claimed, biggest) = relay.await.unwrap();
        assert!(biggest <= 20, "a claim of 20 handed out {biggest} rows");
        all.extend(claimed);
    }
    let total = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), total, "no row was handed out twice");
    assert_eq!(total, 2_000, "every row owed was claimed");
    assert_eq!(store.outbox_depth().await.unwrap(), 0);
}

async fn outbox_claims_are_exclusive_until_the_lease_expires(db: Db) {
    let dir = TempDir::new();
    let store = store(db, &dir).await;
    let tenant = tenant(&store, "UTC").await;
    // A stay without a customer address owes one job (a customer with one would add NotifyCustomer).
    bookings::create(&store, &tenant, stay("B", 2, 3), Overlap::Allow).await.unwrap();
    let first = store.claim_outbox(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        store.claim_outbox(10, Duration::from_secs(60)).await.unwrap().is_empty(),
        "a claimed row is not handed out twice"
    );
    assert_eq!(store.outbox_depth().await.unwrap(), 1, "claimed is not done");
    store.complete_outbox(&[first[0].id]).await.unwrap();
    assert_eq!(store.outbox_depth().await.unwrap(), 0);
    bookings::create(&store, &tenant, stay("C", 3, 4), Overlap::Allow).await.unwrap();
    assert_eq!(store.claim_outbox(10, Duration::ZERO).await.unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        store.claim_outbox(10, Duration::from_secs(60)).await.unwrap().len(),
        1,
        "an expired lease is claimed again"
    );
}

async fn api_keys_open_only_their_tenant(db: Db) {
    let dir = TempDir::new();
    let store = store(db, &dir).await;
    let tenant = tenant(&store, "UTC").await;
    let key = store.create_api_key(tenant.id).await.unwrap();
    assert_eq!(store.authenticate(&key).await.unwrap().unwrap().id, tenant.id);
    let wrong = SecretString::from(format!("{}x", key.expose_secret()));
    assert!(store.authenticate(&wrong).await.unwrap().is_none());
    assert!(store.authenticate(&SecretString::from("")).await.unwrap().is_none());
}

async fn a_sync_attempt_is_recorded_once_per_version(db: Db) {
    let dir = TempDir::new();
    let store = store(db, &dir).await;
    let tenant = tenant(&store, "UTC").await;
    let booking = bookings::create(&store, &tenant, timed("B", 2), Overlap::Allow).await.unwrap();
    // A duplicate delivery of the same version's sync records nothing more.
    for _ in 0..2 {
        let attempt = [(booking.id, 1, "sync_booking")];
        store.record_sync_attempts(tenant.id, &attempt).await.unwrap();
    }
    assert_eq!(store.sync_attempts(booking.id).await.unwrap().len(), 1);
}

/// An instant `secs` from now as the databases keep it (whole microseconds), so a holder can
/// name its lease's end when it renews it.
fn lease_end(secs: i64) -> chrono::DateTime<Utc> {
    let t = Utc::now() + chrono::Duration::seconds(secs);
    chrono::DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap()
}

/// The lease primitive on both of its homes: a lease row (a booking's sync) and a column of a
/// row that exists for its own sake (an import's run, taken within its tenant).
async fn a_lease_has_one_holder_until_it_runs_out(db: Db) {
    let dir = TempDir::new();
    let store = store(db, &dir).await;
    let tenant = tenant(&store, "UTC").await;
    let booking =
        bookings::create(&store, &tenant, timed("B", 2), Overlap::Allow).await.unwrap().id;
    let room = resource(&store, tenant.id, "Room").await;
    let new = NewImport {
        owner: Owner::Resource(room.id),
        platform: Platform::Airbnb,
        url: "https://example.com/room.ics".into(),
        name: None,
        interval_minutes: 60,
        settings: Default::default(),
    };
    let import = store.create_import(&tenant, new).await.unwrap().id;
    let other = crate::helpers::tenant(&store, "UTC").await.id;
    let leases: [(&Lease, LeaseKey, Vec<LeaseKey>); 2] = [
        (&Lease::BOOKING_SYNC, booking.into(), vec![]),
        (&Lease::IMPORT_RUN, import.into(), vec![LeaseKey::Id(tenant.id)]),
    ];
    for (lease, key, guards) in leases {
        let held = lease_end(60);
        assert!(store.take_lease(lease, key, &guards, held).await.unwrap(), "{lease:?}: taken");
        assert!(!store.take_lease(lease, key, &guards, lease_end(90)).await.unwrap(), "held");
        let later = lease_end(80);
        assert!(
            !store.renew_lease(lease, key, later, later).await.unwrap(),
            "not the holder's end"
        );
        assert!(store.renew_lease(lease, key, held, later).await.unwrap(), "its holder renews it");
        assert!(!store.renew_lease(lease, key, held, later).await.unwrap(), "an old end is stale");

        // Run out: the next taker takes it over, and the old holder can no longer renew it.
        store.release_lease(lease, key).await.unwrap();
        let ran_out = lease_end(-1);
        assert!(store.take_lease(lease, key, &guards, ran_out).await.unwrap(), "released");
        let taken_over = lease_end(60);
        assert!(store.take_lease(lease, key, &guards, taken_over).await.unwrap(), "taken over");
        assert!(!store.renew_lease(lease, key, ran_out, later).await.unwrap(), "lost");
        assert!(store.renew_lease(lease, key, taken_over, later).await.unwrap());
        store.release_lease(lease, key).await.unwrap();
    }

    // Kept after its holder is done (a write that may still land): nobody takes it until then,
    // whether that is sooner or later than it ran to; then the next taker does.
    let ids = [booking];
    assert_eq!(store.take_leases(&Lease::BOOKING_SYNC, &ids, lease_end(60)).await.unwrap(), ids);
    store.keep_leases(&Lease::BOOKING_SYNC, &ids, lease_end(90)).await.unwrap();
    assert!(store.take_leases(&Lease::BOOKING_SYNC, &ids, lease_end(60)).await.unwrap().is_empty());
    store.keep_leases(&Lease::BOOKING_SYNC, &ids, lease_end(-1)).await.unwrap();
    assert_eq!(store.take_leases(&Lease::BOOKING_SYNC, &ids, lease_end(60)).await.unwrap(), ids);
    store.release_leases(&Lease::BOOKING_SYNC, &ids).await.unwrap();

    // A lease that ran out and that nobody took: a booking's sync stops, an import's run goes on.
    let ran_out = lease_end(-1);
    assert!(store.take_lease(&Lease::BOOKING_SYNC, booking.into(), &[], ran_out).await.unwrap());
    let renewed = store.renew_lease(&Lease::BOOKING_SYNC, booking.into(), ran_out, lease_end(60));
    assert!(!renewed.await.unwrap());
    let guard = [LeaseKey::Id(tenant.id)];
    assert!(store.take_lease(&Lease::IMPORT_RUN, import.into(), &guard, ran_out).await.unwrap());
    assert!(
        store.renew_lease(&Lease::IMPORT_RUN, import.into(), ran_out, lease_end(60)).await.unwrap()
    );
    store.release_lease(&Lease::IMPORT_RUN, import.into()).await.unwrap();

    // A column lease is taken only where its guards match, and only on a row that exists.
    let wrong = [LeaseKey::Id(other)];
    assert!(
        !store.take_lease(&Lease::IMPORT_RUN, import.into(), &wrong, lease_end(60)).await.unwrap()
    );
    let missing = uuid::Uuid::now_v7().into();
    assert!(!store.take_lease(&Lease::IMPORT_RUN, missing, &guard, lease_end(60)).await.unwrap());
    store.lease_import_until(tenant.id, import, lease_end(60)).await.unwrap();
    assert!(matches!(
        store.lease_import_until(tenant.id, import, lease_end(60)).await,
        Err(StoreError::LeaseBusy)
    ));
}

/// A run takes its import's lease and reads what it starts from in one go: the import, its
/// tenant, and the zone its owner's all-day items are read in (the owner's, else the tenant's).
async fn a_run_takes_its_import_with_the_tenant_and_the_owners_zone(db: Db) {
    let dir = TempDir::new();
    let store = store(db, &dir).await;
    let tenant = tenant(&store, "Europe/Berlin").await;
    let lisbon = NewResource {
        external_id: None,
        name: "Lisbon flat".into(),
        time_zone: Some("Europe/Lisbon".parse().unwrap()),
        parent_id: None,
    };
    let lisbon = store.create_resource(tenant.id, lisbon).await.unwrap();
    let plain = resource(&store, tenant.id, "Room").await;
    let staff = NewStaff {
        external_id: None,
        name: "Ann".into(),
        email: None,
        time_zone: Some("America/New_York".parse().unwrap()),
    };
    let ann = store.create_staff(tenant.id, staff).await.unwrap();
    let mut zones = Vec::new();
    for owner in [Owner::Resource(lisbon.id), Owner::Resource(plain.id), Owner::Staff(ann.id)] {
        let new = NewImport {
            owner,
            platform: Platform::Airbnb,
            url: "https://example.com/a.ics".into(),
            name: None,
            interval_minutes: 60,
            settings: Default::default(),
        };
        let import = store.create_import(&tenant, new).await.unwrap();
        let leased = store.lease_import_run(tenant.id, import.id, lease_end(60)).await.unwrap();
        assert_eq!((leased.import.id, leased.tenant.id), (import.id, tenant.id));
        assert_eq!(leased.tenant.settings.name, tenant.settings.name);
        assert_eq!(leased.last_read, None, "never read");
        zones.push(leased.zone.to_string());
        let again = store.lease_import_run(tenant.id, import.id, lease_end(60)).await;
        assert!(matches!(again, Err(StoreError::LeaseBusy)), "held: {again:?}");
        let other = crate::helpers::tenant(&store, "UTC").await.id;
        let foreign = store.lease_import_run(other, import.id, lease_end(60)).await;
        assert!(matches!(foreign, Err(StoreError::NotFound)), "{foreign:?}");
    }
    assert_eq!(zones, ["Europe/Lisbon", "Europe/Berlin", "America/New_York"]);
}

/// Each unique rule a caller can break says which it is, on both databases.
async fn a_duplicate_external_id_is_named(db: Db) {
    let dir = TempDir::new();
    let store = store(db, &dir).await;
    let tenant = tenant(&store, "UTC").await;
    let staff = || NewStaff {
        external_id: Some("s1".into()),
        name: "Ann".into(),
        email: None,
        time_zone: None,
    };
    store.create_staff(tenant.id, staff()).await.unwrap();
    let err = store.create_staff(tenant.id, staff()).await.unwrap_err();
    assert!(matches!(err, StoreError::DuplicateExternalId), "{err:?}");
    let room = || NewResource {
        external_id: Some("r1".into()),
        name: "Room".into(),
        time_zone: None,
        parent_id: None,
    };
    store.create_resource(tenant.id, room()).await.unwrap();
    let err = store.create_resource(tenant.id, room()).await.unwrap_err();
    assert!(matches!(err, StoreError::DuplicateExternalId), "{err:?}");
    let booking = || NewBooking { external_id: Some("b1".into()), ..timed("B", 2) };
    bookings::create(&store, &tenant, booking(), Overlap::Allow).await.unwrap();
    let err = bookings::create(&store, &tenant, booking(), Overlap::Allow).await.unwrap_err();
    assert!(matches!(err, StoreError::DuplicateExternalId), "{err:?}");
}

on_both_databases!(
    a_burst_of_owed_work_is_claimed_in_batches_of_at_most_the_limit_each_row_once,
    a_lease_has_one_holder_until_it_runs_out,
    a_run_takes_its_import_with_the_tenant_and_the_owners_zone,
    a_duplicate_external_id_is_named,
    bookings_round_trip_with_every_field,
    every_change_bumps_the_version_and_owes_a_job,
    a_stale_version_cannot_overwrite_a_newer_one,
    a_stay_replaced_into_another_room_settles_the_turnover_it_broke_in_the_first,
    an_identical_upsert_changes_nothing_and_owes_nothing,
    another_tenants_records_are_not_found,
    lists_page_in_creation_order_and_filter,
    a_resource_with_bookings_cannot_be_deleted,
    deleting_staff_resyncs_their_bookings_without_them,
    all_day_bookings_are_placed_in_the_resource_zone,
    outbox_claims_are_exclusive_until_the_lease_expires,
    api_keys_open_only_their_tenant,
    a_sync_attempt_is_recorded_once_per_version,
);
