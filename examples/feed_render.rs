//! Cold feed renders: `GET /ical/{token}.ics` of a resource with 10,000 bookings, each GET right
//! after a booking changed, so that no cached body or validator can answer it.
//!
//! Starts Kalends in this process (`--role api` parts: the HTTP server, on port 0) on SQLite (a
//! fresh file) or on the PostgreSQL database `--database-url` names (empty), writes the bookings
//! straight through the store (one resource in Europe/Berlin over the next 3 years: 70% all-day
//! stays of 1-7 nights, 30% timed, 60% with a customer, 2% cancelled, 3% tentative), publishes a
//! `busy` and a `details` feed of the resource, then runs `--gets` rounds, each:
//!
//! 1. one booking of the resource is created through the service (what an API write does), so
//!    the feed's version and ETag change;
//! 2. the busy feed is fetched whole, then the details feed, each timed to its last byte, on one
//!    keep-alive connection;
//! 3. `GET /healthz`, the same run's baseline.
//!
//! It prints p50, p90, min and max of each, in milliseconds, and checks every body holds the
//! bookings it should.
//!
//! ```text
//! cargo run --release --example feed_render -- [--bookings 10000] [--gets 30] [--database-url URL]
//!     [--event-cache-mib N]
//! ```
//!
//! `--event-cache-mib 0` keeps no rendered events, so that every GET renders every booking (the
//! full rendering a feed gets the first time, or after its settings or zone changed).

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use kalends::app::{self, Role};
use kalends_core::Config;
use kalends_core::domain::{
    BookingSpan, BookingStatus, Customer, FeedProfile, FeedScope, NewBooking, NewFeed, NewResource,
    Owner, TenantSettings,
};
use kalends_core::tokens;
use kalends_service::bookings::{self, BookingWrite};
use kalends_store::Overlap;
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
    "usage: feed_render [--bookings 10000] [--gets 30] [--database-url URL] [--event-cache-mib N]";

struct Args {
    bookings: u32,
    gets: usize,
    database_url: Option<String>,
    event_cache_mib: Option<u32>,
}

fn args() -> Args {
    let known = ["--bookings", "--gets", "--database-url", "--event-cache-mib"];
    let flags = flags::Flags::parse(USAGE, &known);
    Args {
        bookings: flags.number("--bookings").unwrap_or(10_000),
        gets: flags.number("--gets").unwrap_or(30),
        database_url: flags.text("--database-url"),
        event_cache_mib: flags.number("--event-cache-mib"),
    }
}

/// Booking `i` of the data set.
fn booking(
    i: u32,
    rng: &mut Rng,
    resource: Uuid,
    zone: kalends_core::domain::TimeZone,
) -> NewBooking {
    let today = Utc::now().date_naive();
    let day = today + TimeDelta::days(rng.below(3 * 365) as i64);
    let span = if rng.below(10) < 7 {
        let nights = 1 + rng.below(7) as i64;
        BookingSpan::all_day(day, day + TimeDelta::days(nights)).unwrap()
    } else {
        let start = day.and_hms_opt(8 + rng.below(10) as u32, 0, 0).unwrap().and_utc();
        let end = start + TimeDelta::minutes(30 * (1 + rng.below(6) as i64));
        BookingSpan::timed(start, end, zone).unwrap()
    };
    let status = match rng.below(100) {
        0..2 => BookingStatus::Cancelled,
        2..5 => BookingStatus::Tentative,
        _ => BookingStatus::Confirmed,
    };
    let customer = (rng.below(10) < 6).then(|| Customer {
        name: format!("Guest {i}"),
        email: Some(format!("guest{i}@example.com").parse().unwrap()),
        phone: Some(format!("+49 30 {:07}", i)),
    });
    NewBooking {
        external_id: Some(format!("bench-{i}")),
        resource_id: Some(resource),
        staff_ids: vec![],
        status,
        title: format!("Stay {i}"),
        description: Some(format!("Booking {i}, booked online; two adults")),
        location: Some("Room 1".into()),
        customer,
        span,
    }
}

fn summary(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    println!(
        "| {name} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
        at(0.5),
        at(0.9),
        ms[0],
        ms[ms.len() - 1],
        ms.len()
    );
}

async fn timed_get(http: &reqwest::Client, url: &str) -> (f64, bytes::Bytes) {
    let started = Instant::now();
    let response = http.get(url).send().await.unwrap();
    assert!(response.status().is_success(), "{url}: {}", response.status());
    let body = response.bytes().await.unwrap();
    (started.elapsed().as_secs_f64() * 1000.0, body)
}

#[tokio::main]
async fn main() {
    let args = args();
    let Scratch { dir, database_url, backend } =
        Scratch::new("feed-render", args.database_url.clone());
    let mut config = Config {
        database_url: SecretString::from(database_url),
        listen: "127.0.0.1:0".into(),
        data_dir: dir.clone(),
        demo_tenant: false,
        ..Config::default()
    };
    config.jobs.queue = format!("feed-render-{}", Uuid::now_v7().simple());
    // Each GET follows a change, so the validators must be read again at once.
    config.feeds.validator_ttl_ms = 0;
    config.feeds.rate_limit_per_minute = 1_000_000_000;
    if let Some(mib) = args.event_cache_mib {
        config.feeds.event_cache_mib = mib;
    }
    let keys = config.secret_keys().unwrap().0;
    let key = keys.current();
    let (store, queue) = app::connect(&config).await.unwrap();
    let running = app::start(config, Role::Api, store.clone(), queue).await.unwrap();
    let base = format!("http://{}", running.addr.unwrap());

    let zone: kalends_core::domain::TimeZone = "Europe/Berlin".parse().unwrap();
    let settings = TenantSettings { name: "Bench".into(), time_zone: zone, ..Default::default() };
    let tenant = store.create_tenant(settings).await.unwrap();
    let resource =
        NewResource { external_id: None, name: "Villa".into(), time_zone: None, parent_id: None };
    let room = store.create_resource(tenant.id, resource).await.unwrap();
    let started = Instant::now();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for i in 0..args.bookings {
        let new = booking(i, &mut rng, room.id, zone);
        let id = Uuid::now_v7();
        let owed = bookings::owed_jobs(tenant.id, id, &new, BookingWrite::Created);
        store.create_booking(&tenant, id, new, Overlap::Allow, &owed).await.unwrap();
    }
    eprintln!(
        "feed_render: {} bookings written on {backend} in {:.1} s",
        args.bookings,
        started.elapsed().as_secs_f64()
    );
    let mut urls = Vec::new();
    for profile in [FeedProfile::Busy, FeedProfile::Details] {
        let new = NewFeed {
            scope: FeedScope::Owner(Owner::Resource(room.id)),
            profile,
            name: format!("Villa ({})", profile.as_str()),
            platform: None,
            include_tentative: false,
        };
        let feed = store.create_feed(&tenant, new, key).await.unwrap();
        let token = tokens::feed_token(key, feed.id, &feed.nonce);
        urls.push((profile.as_str(), format!("{base}/ical/{token}.ics")));
    }
    let http = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
    // Warm-up: connections, prepared statements, the first page faults.
    for (_, url) in &urls {
        timed_get(&http, url).await;
    }
    let mut feeds: Vec<Vec<f64>> = vec![Vec::new(); urls.len()];
    let mut healthz = Vec::new();
    let mut sizes = vec![0; urls.len()];
    for round in 0..args.gets {
        let new = booking(args.bookings + round as u32, &mut rng, room.id, zone);
        bookings::create(&store, &tenant, new, Overlap::Allow).await.unwrap();
        for (k, (_, url)) in urls.iter().enumerate() {
            let (ms, body) = timed_get(&http, url).await;
            let events = body.windows(12).filter(|w| w == b"BEGIN:VEVENT").count();
            assert!(events as u32 >= args.bookings * 9 / 10, "{events} VEVENTs");
            assert!(body.ends_with(b"END:VCALENDAR\r\n"));
            sizes[k] = body.len();
            feeds[k].push(ms);
        }
        healthz.push(timed_get(&http, &format!("{base}/healthz")).await.0);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("{backend}, {} bookings, {} rounds (each after a change)", args.bookings, args.gets);
    println!("| GET | p50 ms | p90 ms | min ms | max ms | n |");
    println!("|---|---|---|---|---|---|");
    for (k, (name, _)) in urls.iter().enumerate() {
        summary(&format!("`{name}` feed ({:.2} MB)", sizes[k] as f64 / 1e6), feeds[k].clone());
    }
    summary("baseline `/healthz`", healthz);
    running.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
