//! What is bookable, at the size of a busy tenant, on SQLite and PostgreSQL:
//!
//! - `stays`: 50 properties with 10,000 stays and 10,000 imported platform items between them
//!   (200 and 200 each over two years), each asked for its 365 nights under a turnover, a
//!   minimum stay, arrival days, a window, a notice and short gaps (`GET /api/v1/availability/stays`
//!   without HTTP: the rules read, the busy read, the engine);
//! - `slots`: 20 staff members with 10,000 appointments and 5,000 busy times (blocks) between
//!   them, asked for 30 days of one-hour slots on a 15-minute step, `mode=any` over all 20
//!   (`GET /api/v1/availability/slots` without HTTP);
//! - `rules`: a room with 5,000 stays ahead, one in ten of a single night, whose rules change
//!   back and forth between a two-night minimum and none (`PUT /api/v1/resources/{id}/rules`
//!   without HTTP: the rules written, then every stay ahead judged again, 500 conflicts opened
//!   or resolved each time); then, with those 500 flagged, a stay after them whose title changes,
//!   then which moves a day (`PUT /api/v1/bookings/by-external-id/{id}` without HTTP), then a
//!   block a week after it placed and removed (`POST /api/v1/blocks`, `DELETE
//!   /api/v1/blocks/{id}` without HTTP). `cargo bench --bench availability -- rules` runs these
//!   alone.
//!
//! Each request is timed on its own; the figures are the median and the 95th percentile over
//! `ROUNDS` rounds of every property (stays) or of the 20-staff request (slots). Run it with
//! `scripts/bench-availability` (which starts PostgreSQL through `scripts/test`) or
//! `cargo bench --bench availability` for SQLite alone (PostgreSQL when
//! `KALENDS_BENCH_POSTGRES_URL` names an empty database).

mod common;

use std::time::{Duration, Instant};

use chrono::{DateTime, Days, NaiveDate, TimeZone as _, Utc};
use kalends_core::Config;
use kalends_core::availability::{Mode, RulesDraft};
use kalends_core::domain::{
    BookingSpan, BookingStatus, NewBlock, NewBooking, NewImport, NewResource, NewStaff, Owner,
    Platform, Tenant, TenantSettings, TimeZone,
};
use kalends_ical::{BusyItem, ItemKind, Span};
use kalends_service::availability::{self, SlotsWanted};
use kalends_service::{blocks, bookings, imports};
use kalends_store::Store;
use kalends_store::{Overlap, RunResult};
use secrecy::SecretString;
use uuid::Uuid;

const PROPERTIES: u32 = 50;
const STAYS: u32 = 10_000;
const IMPORTED: u32 = 10_000;
const STAFF: u32 = 20;
const APPOINTMENTS: u32 = 10_000;
const BUSY_TIMES: u32 = 5_000;
const ROUNDS: usize = 20;
const HOTEL_STAYS: u32 = 5_000;
const RULE_CHANGES: usize = 10;

fn zone() -> TimeZone {
    "Europe/Paris".parse().unwrap()
}

fn today() -> NaiveDate {
    Utc::now().with_timezone(&zone().tz()).date_naive()
}

async fn store(url: &str) -> (Store, Tenant) {
    let mut config =
        Config { database_url: SecretString::from(url.to_owned()), ..Config::default() };
    config.database.max_connections = 4;
    let store = kalends::app::connect(&config).await.unwrap().0;
    let settings = TenantSettings { time_zone: zone(), ..TenantSettings::default() };
    let tenant = store.create_tenant(settings).await.unwrap();
    (store, tenant)
}

fn booking(resource: Option<Uuid>, staff: Vec<Uuid>, span: BookingSpan, i: u32) -> NewBooking {
    NewBooking {
        external_id: None,
        resource_id: resource,
        staff_ids: staff,
        status: BookingStatus::Confirmed,
        title: format!("Guest {i}"),
        description: None,
        location: None,
        customer: None,
        span,
    }
}

fn rules(json: serde_json::Value) -> kalends_core::availability::Rules {
    serde_json::from_value::<RulesDraft>(json).unwrap().try_into().unwrap()
}

/// 50 properties; each gets 200 stays of 2 to 4 nights and 200 imported items (reservations
/// and closed dates alike) spread over the year behind and the year ahead.
async fn properties(store: &Store, tenant: &Tenant) -> Vec<Owner> {
    let rules = rules(serde_json::json!({"turnover_days": 1, "min_nights": 2, "max_nights": 30,
        "no_arrival_days": ["sun"], "booking_window_days": 365, "min_notice_days": 1,
        "block_short_gaps": true}));
    let mut owners = Vec::new();
    let start = today() - Days::new(365);
    for p in 0..PROPERTIES {
        let new = NewResource {
            external_id: None,
            name: format!("Villa {p}"),
            time_zone: None,
            parent_id: None,
        };
        let room = store.create_resource(tenant.id, new).await.unwrap();
        let owner = Owner::Resource(room.id);
        store.set_owner_rules(tenant.id, owner, &rules).await.unwrap();
        // A stay every 3.6 days, an imported item in the gap after it.
        for s in 0..STAYS / PROPERTIES {
            let first = start + Days::new(u64::from(s) * 36 / 10);
            let span =
                BookingSpan::all_day(first, first + Days::new(2 + u64::from(s % 2))).unwrap();
            let new = booking(Some(room.id), vec![], span, s);
            store.create_booking(tenant, Uuid::now_v7(), new, Overlap::Allow, &[]).await.unwrap();
        }
        let items: Vec<BusyItem> = (0..IMPORTED / PROPERTIES)
            .map(|i| {
                let first = start + Days::new(u64::from(i) * 36 / 10 + 3);
                BusyItem {
                    uid: format!("item-{p}-{i}@airbnb.com"),
                    recurrence_id: None,
                    span: Span::AllDay { start: first, end: first + Days::new(1) },
                    summary: Some("Reserved".into()),
                    kind: if i % 2 == 0 { ItemKind::Reservation } else { ItemKind::Block },
                    details: Default::default(),
                }
            })
            .collect();
        let import = NewImport {
            owner,
            platform: Platform::Airbnb,
            url: format!("https://www.airbnb.com/calendar/ical/{p}.ics"),
            name: None,
            interval_minutes: 30,
            settings: Default::default(),
        };
        let import = store.create_import(tenant, import).await.unwrap();
        let result = RunResult::Read {
            items: &items,
            zone: zone(),
            skipped: 0,
            http_status: Some(200),
            etag: None,
            last_modified: None,
            body_sha256: None,
            body: None,
        };
        imports::record_run(store, tenant, &import, Utc::now(), result, 3).await.unwrap();
        owners.push(owner);
    }
    owners
}

/// 20 staff members open Monday to Saturday 09:00-18:00 with 15-minute buffers; 500
/// one-hour appointments and 250 two-hour busy times each over the 30 days behind and the
/// 30 ahead.
async fn salon(store: &Store, tenant: &Tenant) -> Vec<Owner> {
    let hours = serde_json::json!([["09:00", "18:00"]]);
    let rules = rules(serde_json::json!({"weekly_hours": {"mon": hours, "tue": hours,
        "wed": hours, "thu": hours, "fri": hours, "sat": hours},
        "buffer_before_minutes": 15, "buffer_after_minutes": 15, "min_notice_minutes": 120}));
    let mut owners = Vec::new();
    let first = Utc.from_utc_datetime(&(today() - Days::new(30)).and_hms_opt(8, 0, 0).unwrap());
    let at = |k: u32| first + chrono::Duration::minutes(i64::from(k) * 173 % (60 * 24 * 60));
    for s in 0..STAFF {
        let new = NewStaff {
            external_id: None,
            name: format!("Staff {s}"),
            email: None,
            time_zone: None,
        };
        let staff = store.create_staff(tenant.id, new).await.unwrap();
        let owner = Owner::Staff(staff.id);
        store.set_owner_rules(tenant.id, owner, &rules).await.unwrap();
        for a in 0..APPOINTMENTS / STAFF {
            let start = at(a * 7 + s);
            let span =
                BookingSpan::timed(start, start + chrono::Duration::hours(1), zone()).unwrap();
            let new = booking(None, vec![staff.id], span, a);
            store.create_booking(tenant, Uuid::now_v7(), new, Overlap::Allow, &[]).await.unwrap();
        }
        for b in 0..BUSY_TIMES / STAFF {
            let start = at(b * 13 + s + 5);
            let span =
                BookingSpan::timed(start, start + chrono::Duration::hours(2), zone()).unwrap();
            let new = NewBlock { resource_id: None, staff_id: Some(staff.id), span, reason: None };
            store.create_block(tenant, new, &[]).await.unwrap();
        }
        owners.push(owner);
    }
    owners
}

/// A room with [`HOTEL_STAYS`] stays ahead from tomorrow, a free night after each; one in ten is
/// a single night, the others two. They are made in no order of their dates, as guests book.
async fn hotel(store: &Store, tenant: &Tenant) -> Owner {
    let new = NewResource {
        external_id: None,
        name: "Hotel room".into(),
        time_zone: None,
        parent_id: None,
    };
    let room = store.create_resource(tenant.id, new).await.unwrap();
    for s in 0..HOTEL_STAYS {
        // The stays' places in date order, permuted (761 and 5,000 share no factor).
        let place = s * 761 % HOTEL_STAYS;
        let first = today() + Days::new(1 + 3 * u64::from(place));
        let nights = if place.is_multiple_of(10) { 1 } else { 2 };
        let span = BookingSpan::all_day(first, first + Days::new(nights)).unwrap();
        let new = booking(Some(room.id), vec![], span, s);
        store.create_booking(tenant, Uuid::now_v7(), new, Overlap::Allow, &[]).await.unwrap();
    }
    Owner::Resource(room.id)
}

/// Changes the hotel room's rules [`RULE_CHANGES`] times each way, timing each change.
async fn rules_change(backend: &str, store: &Store, tenant: &Tenant) {
    let room = hotel(store, tenant).await;
    let strict = serde_json::json!({"turnover_days": 1, "min_nights": 2});
    let lenient = serde_json::json!({"turnover_days": 1});
    let mut samples = Vec::new();
    for _ in 0..RULE_CHANGES {
        for (draft, flagged) in [(&strict, HOTEL_STAYS / 10), (&lenient, 0)] {
            let draft: RulesDraft = serde_json::from_value(draft.clone()).unwrap();
            let started = Instant::now();
            availability::set_rules(store, tenant, room, draft).await.unwrap();
            samples.push(started.elapsed());
            let open = store.rule_conflicted_bookings(&[room], None).await.unwrap();
            assert_eq!(open.len(), flagged as usize, "the single nights are flagged, then not");
        }
    }
    report(backend, "rules change (5,000 stays ahead, 500 flagged or cleared)", samples);
    edits(backend, store, tenant, room).await;
}

/// With the hotel room's 500 single nights flagged, a stay after all of them has its title
/// changed [`ROUNDS`] times through the host's id (`PUT /api/v1/bookings/by-external-id/{id}`
/// without HTTP: the write, then its conflicts brought up to date), then is moved a day
/// [`ROUNDS`] times; then a block a week after it is placed and removed [`ROUNDS`] times.
async fn edits(backend: &str, store: &Store, tenant: &Tenant, room: Owner) {
    let strict: RulesDraft = serde_json::from_value(serde_json::json!({"turnover_days": 1,
        "min_nights": 2}))
    .unwrap();
    availability::set_rules(store, tenant, room, strict).await.unwrap();
    let first = today() + Days::new(1 + 3 * u64::from(HOTEL_STAYS));
    let span = BookingSpan::all_day(first, first + Days::new(2)).unwrap();
    let mut samples = Vec::new();
    for i in 0..=ROUNDS {
        let new = booking(Some(room.id()), vec![], span.clone(), HOTEL_STAYS + (i as u32 % 2));
        let started = Instant::now();
        bookings::save_by_external_id(store, tenant, "edited", new, Overlap::Allow).await.unwrap();
        // The first write makes the stay; the others change its title.
        if i > 0 {
            samples.push(started.elapsed());
        }
    }
    let open = store.rule_conflicted_bookings(&[room], None).await.unwrap();
    assert_eq!(open.len(), HOTEL_STAYS as usize / 10, "the single nights stay flagged");
    report(backend, "title edit (500 rule conflicts open beside it)", samples);
    let mut samples = Vec::new();
    for i in 1..=ROUNDS {
        // A day later, then back: the nearest flagged single night is weeks before it.
        let from = first + Days::new(i as u64 % 2);
        let span = BookingSpan::all_day(from, from + Days::new(2)).unwrap();
        let new = booking(Some(room.id()), vec![], span, HOTEL_STAYS);
        let started = Instant::now();
        bookings::save_by_external_id(store, tenant, "edited", new, Overlap::Allow).await.unwrap();
        samples.push(started.elapsed());
    }
    let open = store.rule_conflicted_bookings(&[room], None).await.unwrap();
    assert_eq!(open.len(), HOTEL_STAYS as usize / 10, "the single nights stay flagged");
    report(backend, "stay moved a day (500 rule conflicts open, far from it)", samples);
    // A night closed a week after that stay's turnover night, then opened again.
    let closed = first + Days::new(10);
    let span = BookingSpan::all_day(closed, closed + Days::new(1)).unwrap();
    let (mut placed, mut removed) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let new = NewBlock {
            resource_id: Some(room.id()),
            staff_id: None,
            span: span.clone(),
            reason: None,
        };
        let started = Instant::now();
        let block = blocks::create(store, tenant, new).await.unwrap();
        placed.push(started.elapsed());
        let started = Instant::now();
        blocks::delete(store, tenant, block.id).await.unwrap();
        removed.push(started.elapsed());
    }
    let open = store.rule_conflicted_bookings(&[room], None).await.unwrap();
    assert_eq!(open.len(), HOTEL_STAYS as usize / 10, "the single nights stay flagged");
    report(backend, "block placed (500 rule conflicts open, far from it)", placed);
    report(backend, "block removed (500 rule conflicts open, far from it)", removed);
}

/// The median and the 95th percentile of `samples`.
fn figures(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.95))
}

fn report(backend: &str, what: &str, samples: Vec<Duration>) {
    let n = samples.len();
    let (median, p95) = figures(samples);
    println!(
        "availability {backend} {what}: median {:.2} ms, p95 {:.2} ms ({n} requests)",
        median.as_secs_f64() * 1e3,
        p95.as_secs_f64() * 1e3
    );
}

async fn bench(backend: &str, url: &str) {
    let (store, tenant) = store(url).await;
    let only_rules = std::env::args().any(|a| a == "rules");
    rules_change(backend, &store, &tenant).await;
    if only_rules {
        return;
    }
    let built = Instant::now();
    let properties = properties(&store, &tenant).await;
    let staff = salon(&store, &tenant).await;
    eprintln!("availability {backend}: data written in {:.0} s", built.elapsed().as_secs_f64());
    let year = (today(), today() + Days::new(365));
    let mut samples = Vec::new();
    let mut offered = 0;
    for _ in 0..ROUNDS {
        for &owner in &properties {
            let started = Instant::now();
            let nights = availability::stays(&store, &tenant, owner, year).await.unwrap();
            samples.push(started.elapsed());
            offered += nights.iter().filter(|n| n.can_check_in).count();
        }
    }
    assert!(offered > 0, "some nights can be booked");
    report(backend, "stays (one property-year)", samples);
    let from: DateTime<Utc> = Utc::now();
    let wanted = SlotsWanted {
        owners: staff,
        mode: Mode::Any,
        from,
        to: from + chrono::Duration::days(30),
        duration: chrono::Duration::hours(1),
        step: chrono::Duration::minutes(15),
    };
    let mut samples = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let slots = availability::slots(&store, &tenant, &wanted).await.unwrap();
        samples.push(started.elapsed());
        assert!(!slots.is_empty(), "some slots are free");
    }
    let each: Vec<String> =
        samples.iter().map(|d| format!("{:.0}", d.as_secs_f64() * 1e3)).collect();
    eprintln!("availability {backend} slots, each request in ms: {}", each.join(" "));
    report(backend, "slots (20 staff x 30 days, any)", samples);
}

fn main() {
    common::on_both_databases(|backend, url| async move { bench(backend, &url).await });
}
