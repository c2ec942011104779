//! Conflict detection for a resource with 10,000 bookings and 10,000 imported blocks.
//!
//! `cargo bench --bench conflicts` measures, on SQLite (and on PostgreSQL when
//! `KALENDS_BENCH_POSTGRES_URL` names an empty database):
//! - `after_one_change`: what a booking write pays: the item-centric pass that reads what overlaps
//!   the changed booking and records its conflicts (the "< 10 ms" figure), for a booking
//!   in the middle of the history;
//! - `after_the_newest_booking`: the same for the latest booking, as a new booking usually is (the
//!   bookings before it are history that the pass should not walk);
//! - `full_sweep`: what an import run pays: every item of the resource read, sorted and swept;
//! - `sweep_in_memory`: the sort-and-sweep alone over the same 20,000 items.

use kalends_service::conflicts::{detect_of, recheck_owner};
use kalends_service::{bookings, imports};
use kalends_store::Overlap;
use std::time::Duration;

use chrono::{Duration as Days, NaiveDate, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use kalends_core::Config;
use kalends_core::conflicts::{self, ItemRef, Source};
use kalends_core::domain::{
    BookingSpan, BookingStatus, NewBooking, NewImport, NewResource, Owner, Platform, Tenant,
    TenantSettings,
};
use kalends_ical::{BusyItem, ItemKind, Span};
use kalends_store::RunResult;
use kalends_store::Store;
use secrecy::SecretString;
use uuid::Uuid;

const BOOKINGS: u32 = 10_000;
const BLOCKS: u32 = 10_000;

struct Fixture {
    store: Store,
    tenant: Tenant,
    owner: Owner,
    probe: Probe,
    newest: Probe,
}

/// A booking and the instants it spans.
type Probe = (Uuid, (chrono::DateTime<Utc>, chrono::DateTime<Utc>));

fn day(n: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + Days::days(i64::from(n))
}

/// One-night stays every other day, and Airbnb blocks on the days between; every 50th block
/// overlaps a stay, so there are real conflicts to keep.
async fn fixture(url: &str) -> Fixture {
    let mut config =
        Config { database_url: SecretString::from(url.to_owned()), ..Config::default() };
    config.database.max_connections = 4;
    let store = kalends::app::connect(&config).await.unwrap().0;
    let tenant = store.create_tenant(TenantSettings::default()).await.unwrap();
    let resource =
        NewResource { external_id: None, name: "Villa".into(), time_zone: None, parent_id: None };
    let room = store.create_resource(tenant.id, resource).await.unwrap();
    let (mut probe, mut newest) = (None, None);
    for i in 0..BOOKINGS {
        let span = BookingSpan::all_day(day(2 * i), day(2 * i + 1)).unwrap();
        let booking = NewBooking {
            external_id: None,
            resource_id: Some(room.id),
            staff_ids: vec![],
            status: BookingStatus::Confirmed,
            title: format!("Guest {i}"),
            description: None,
            location: None,
            customer: None,
            span: span.clone(),
        };
        let created = bookings::create(&store, &tenant, booking, Overlap::Allow).await.unwrap();
        let placed = Some((created.id, span.utc_range(tenant.settings.time_zone)));
        if i == BOOKINGS / 2 {
            probe = placed;
        } else if i == BOOKINGS - 1 {
            newest = placed;
        }
    }
    let items: Vec<BusyItem> = (0..BLOCKS)
        .map(|i| {
            let start = if i % 50 == 0 { day(2 * i) } else { day(2 * i + 1) };
            BusyItem {
                uid: format!("block-{i}@airbnb.com"),
                recurrence_id: None,
                span: Span::AllDay { start, end: day(2 * i + 2) },
                summary: Some("Airbnb (Not available)".into()),
                kind: ItemKind::Block,
                details: Default::default(),
            }
        })
        .collect();
    let new = NewImport {
        owner: Owner::Resource(room.id),
        platform: Platform::Airbnb,
        url: "https://www.airbnb.com/calendar/ical/1.ics".into(),
        name: None,
        interval_minutes: 30,
        settings: Default::default(),
    };
    let import = store.create_import(&tenant, new).await.unwrap();
    let result = RunResult::Read {
        items: &items,
        zone: store.owner_zone(&tenant, Owner::Resource(room.id)).await.unwrap(),
        skipped: 0,
        http_status: Some(200),
        etag: None,
        last_modified: None,
        body_sha256: None,
        body: None,
    };
    // Recording the run looks for the room's conflicts once.
    imports::record_run(&store, &tenant, &import, Utc::now(), result, 3).await.unwrap();
    let owner = Owner::Resource(room.id);
    Fixture { store, tenant, owner, probe: probe.unwrap(), newest: newest.unwrap() }
}

fn bench_backend(c: &mut Criterion, name: &str, url: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let f = rt.block_on(fixture(url));
    let mut group = c.benchmark_group(format!("conflicts_{name}"));
    group.sample_size(30).measurement_time(Duration::from_secs(10));
    let item = ItemRef { source: Source::Booking, id: f.probe.0 };
    group.bench_function("after_one_change", |b| {
        b.iter(|| {
            let probe = Some(f.probe.1);
            rt.block_on(detect_of(&f.store, f.tenant.id, item, probe, &[f.owner], false)).unwrap()
        })
    });
    let newest = ItemRef { source: Source::Booking, id: f.newest.0 };
    group.bench_function("after_the_newest_booking", |b| {
        b.iter(|| {
            rt.block_on(detect_of(
                &f.store,
                f.tenant.id,
                newest,
                Some(f.newest.1),
                &[f.owner],
                false,
            ))
            .unwrap()
        })
    });
    group.bench_function("full_sweep", |b| {
        b.iter(|| rt.block_on(recheck_owner(&f.store, f.tenant.id, f.owner)).unwrap())
    });
    let items = rt.block_on(f.store.busy_items(f.tenant.id, f.owner, None)).unwrap();
    assert_eq!(items.len(), (BOOKINGS + BLOCKS) as usize);
    group.bench_function("sweep_in_memory", |b| {
        b.iter_batched(
            || items.clone(),
            |mut v| conflicts::find(&mut v),
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("kalends-bench-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    bench_backend(c, "sqlite", &format!("sqlite://{}/bench.db", dir.display()));
    if let Ok(url) = std::env::var("KALENDS_BENCH_POSTGRES_URL") {
        bench_backend(c, "postgres", &url);
    }
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(conflict_benches, benches);
criterion_main!(conflict_benches);
