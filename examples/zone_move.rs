//! The move of whole days after a change of the business's time zone, for a business with a
//! long history: how long the `place_whole_days` job takes, and how long a booking written
//! meanwhile waits.
//!
//! Writes `--stays` whole-day stays through the store (SQLite, a fresh file, or the empty
//! PostgreSQL database `--database-url` names), spread over `--resources` rooms with no zone of
//! their own, back to back with a gap of up to two days from ten years ago on (so no two
//! overlap, as in a business that refuses double bookings). Then runs `--rounds` rounds, each:
//!
//! 1. the business's zone changes (Europe/Berlin and Europe/London in turn), so every stay's
//!    midnights move by an hour;
//! 2. the job a zone change queues runs here (`kalends_service::directory::place_whole_days`):
//!    the store places every stay again, then each room's overlaps are looked at again; both
//!    parts are timed;
//! 3. meanwhile another task writes a timed booking of another room every 20 ms through the
//!    store and times each write.
//!
//! It prints one table: per round, the store's part, the overlaps' part, and the writes'
//! median and longest wait (and how many failed), in milliseconds; and checks that every stay
//! moved.
//!
//! ```text
//! cargo run --release --example zone_move -- [--stays 100000] [--resources 100] [--rounds 3]
//!     [--database-url URL]
//! ```

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use kalends::app;
use kalends_core::Config;
use kalends_core::domain::{
    BookingSpan, BookingStatus, NewBooking, NewResource, Owner, Tenant, TenantSettings, TimeZone,
};
use kalends_service::bookings::{self, BookingWrite};
use kalends_store::{Overlap, Store, StoreError, WholeDaysCursor};
use secrecy::SecretString;
use uuid::Uuid;

#[path = "common/flags.rs"]
mod flags;
#[path = "common/rng.rs"]
mod rng;
#[path = "common/scratch.rs"]
mod scratch;

use rng::Rng;
use scratch::Scratch;

const USAGE: &str =
    "usage: zone_move [--stays 100000] [--resources 100] [--rounds 3] [--database-url URL]";

struct Args {
    stays: u32,
    resources: u32,
    rounds: usize,
    database_url: Option<String>,
}

fn args() -> Args {
    let known = ["--stays", "--resources", "--rounds", "--database-url"];
    let flags = flags::Flags::parse(USAGE, &known);
    Args {
        stays: flags.number("--stays").unwrap_or(100_000),
        resources: flags.number("--resources").unwrap_or(100),
        rounds: flags.number("--rounds").unwrap_or(3),
        database_url: flags.text("--database-url"),
    }
}

fn stay(i: u32, resource: Uuid, span: BookingSpan) -> NewBooking {
    NewBooking {
        external_id: Some(format!("stay-{i}")),
        resource_id: Some(resource),
        staff_ids: vec![],
        status: BookingStatus::Confirmed,
        title: format!("Stay {i}"),
        description: None,
        location: None,
        customer: None,
        span,
    }
}

async fn write(store: &Store, tenant: &Tenant, new: NewBooking) -> Result<(), StoreError> {
    let id = Uuid::now_v7();
    let owed = bookings::owed_jobs(tenant.id, id, &new, BookingWrite::Created);
    store.create_booking(tenant, id, new, Overlap::Allow, &owed).await.map(|_| ())
}

/// The store's part of the job: every page placed, the owners whose items moved.
async fn place(store: &Store, tenant: &Tenant) -> HashSet<Owner> {
    let (mut owners, mut at) = (HashSet::new(), Some(WholeDaysCursor::default()));
    while let Some(cursor) = at {
        let page = store.place_whole_days(tenant, cursor).await.unwrap();
        owners.extend(page.moved);
        at = page.next;
    }
    owners
}

/// The median and the longest of `ms`.
fn median_max(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    (ms.get(ms.len() / 2).copied().unwrap_or(0.0), ms.last().copied().unwrap_or(0.0))
}

#[tokio::main]
async fn main() {
    let args = args();
    let Scratch { dir, database_url, backend } =
        Scratch::new("zone-move", args.database_url.clone());
    let config = Config {
        database_url: SecretString::from(database_url),
        data_dir: dir.clone(),
        demo_tenant: false,
        ..Config::default()
    };
    let (store, _queue) = app::connect(&config).await.unwrap();
    let zones: [TimeZone; 2] = ["Europe/Berlin".parse().unwrap(), "Europe/London".parse().unwrap()];
    let mut settings =
        TenantSettings { name: "Bench".into(), time_zone: zones[0], ..Default::default() };
    let tenant = store.create_tenant(settings.clone()).await.unwrap();
    let mut rooms = Vec::new();
    for r in 0..=args.resources {
        let new = NewResource {
            external_id: None,
            name: format!("Room {r}"),
            time_zone: None,
            parent_id: None,
        };
        rooms.push(store.create_resource(tenant.id, new).await.unwrap().id);
    }
    // The last room takes the bookings written during the move.
    let busy_room = rooms.pop().unwrap();

    let started = Instant::now();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let first = Utc::now().date_naive() - TimeDelta::days(3650);
    let mut next = vec![first; rooms.len()];
    for i in 0..args.stays {
        let r = i as usize % rooms.len();
        let start = next[r] + TimeDelta::days(rng.below(3) as i64);
        let end = start + TimeDelta::days(1 + rng.below(4) as i64);
        next[r] = end;
        let new = stay(i, rooms[r], BookingSpan::all_day(start, end).unwrap());
        write(&store, &tenant, new).await.unwrap();
    }
    eprintln!(
        "zone_move: {} stays in {} rooms written on {backend} in {:.1} s",
        args.stays,
        rooms.len(),
        started.elapsed().as_secs_f64()
    );

    println!(
        "| round | store part (ms) | overlaps part (ms) | writes meanwhile | failed | write p50 \
         (ms) | write max (ms) |"
    );
    println!("|---|---|---|---|---|---|---|");
    let tenant = Arc::new(tenant);
    for round in 1..=args.rounds {
        settings.time_zone = zones[round % 2];
        store.update_tenant_settings(tenant.id, &settings).await.unwrap();
        let moved_tenant = store.tenant(tenant.id).await.unwrap();

        let stop = Arc::new(AtomicBool::new(false));
        let writer = tokio::spawn({
            let (store, tenant, stop) = (store.clone(), tenant.clone(), stop.clone());
            async move {
                let (mut waits, mut failed) = (Vec::new(), 0);
                let day = Utc::now() + TimeDelta::days(400 + round as i64);
                while !stop.load(Ordering::Relaxed) {
                    let start = day + TimeDelta::minutes(waits.len() as i64);
                    let span = BookingSpan::timed(start, start + TimeDelta::minutes(1), zones[0]);
                    let new = stay(u32::MAX, busy_room, span.unwrap());
                    let began = Instant::now();
                    if let Err(e) =
                        write(&store, &tenant, NewBooking { external_id: None, ..new }).await
                    {
                        eprintln!("zone_move: a write during the move failed: {e}");
                        failed += 1;
                    }
                    waits.push(began.elapsed().as_secs_f64() * 1000.0);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                (waits, failed)
            }
        });
        let began = Instant::now();
        let owners = place(&store, &moved_tenant).await;
        let store_ms = began.elapsed().as_secs_f64() * 1000.0;
        let began = Instant::now();
        for &owner in &owners {
            kalends_service::conflicts::recheck_owner(&store, tenant.id, owner).await.unwrap();
        }
        let overlaps_ms = began.elapsed().as_secs_f64() * 1000.0;
        stop.store(true, Ordering::Relaxed);
        let (waits, failed) = writer.await.unwrap();
        assert_eq!(owners.len(), rooms.len(), "every room's stays moved");
        assert!(
            place(&store, &moved_tenant).await.is_empty(),
            "a second pass finds nothing to move"
        );
        let count = waits.len();
        let (p50, max) = median_max(waits);
        println!(
            "| {round} | {store_ms:.0} | {overlaps_ms:.0} | {count} | {failed} | {p50:.1} | {max:.1} |"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
