//! Console benchmark: how fast the overview (`GET /dashboard?days=90`) renders for a busy tenant.
//!
//! It starts the app in-process (API role) on the database given, seeds one tenant with
//! `--resources` properties, `--bookings` stays and `--imported` imported OTA items (one Airbnb
//! import per property, recorded as a run that read them), spread over two years so that the
//! 90-day window shows its share, opens a console session, and then alternates
//! `GET /healthz` (the baseline: the same server, client and connection, no work) with
//! `GET /dashboard?days=90` `--requests` times each. It prints one table row per request kind:
//! p50, p95 and max in milliseconds, and the page size.
//!
//! ```text
//! cargo run --release --example console_load -- --database-url sqlite:///tmp/console.db \
//!     [--resources 50] [--bookings 10000] [--imported 10000] [--requests 200]
//! ```
//! `scripts/bench-console` runs it on SQLite and on a throwaway PostgreSQL.

use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use kalends::app::{self, Role};
use kalends_core::Config;
use kalends_core::domain::{
    BookingSpan, BookingStatus, NewBooking, NewImport, NewResource, Owner, Platform, Span,
    TenantSettings,
};
use kalends_core::tokens::Purpose;
use kalends_ical::{BusyItem, ItemKind};
use kalends_service::{bookings, dashboard, directory, imports, tenants};
use kalends_store::{Overlap, RunResult};
use secrecy::SecretString;

#[path = "common/flags.rs"]
mod flags;

const USAGE: &str = "usage: console_load --database-url URL [--resources 50] [--bookings 10000] [--imported 10000] [--requests 200]";

struct Args {
    database_url: String,
    resources: usize,
    bookings: usize,
    imported: usize,
    requests: usize,
}

fn args() -> Args {
    let known = ["--database-url", "--resources", "--bookings", "--imported", "--requests"];
    let flags = flags::Flags::parse(USAGE, &known);
    Args {
        database_url: flags.required("--database-url"),
        resources: flags.number("--resources").unwrap_or(50),
        bookings: flags.number("--bookings").unwrap_or(10_000),
        imported: flags.number("--imported").unwrap_or(10_000),
        requests: flags.number("--requests").unwrap_or(200),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args();
    let key = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32]);
    let config = Config {
        database_url: SecretString::from(args.database_url.clone()),
        listen: "127.0.0.1:0".into(),
        secret_key: Some(SecretString::from(key)),
        demo_tenant: false,
        ..Config::default()
    };
    let (store, queue) = app::connect(&config).await?;
    let keys = config.secret_keys()?.0;
    let settings = TenantSettings { name: "Benchmark".into(), ..TenantSettings::default() };
    let (tenant, _) = tenants::create(&store, settings).await?;
    let seeding = Instant::now();
    let today = Utc::now().date_naive();
    let first = today - chrono::Duration::days(100);
    let day = |n: usize| first + chrono::Duration::days(n as i64);
    let per_room = args.bookings.div_ceil(args.resources);
    let imported_per_room = args.imported.div_ceil(args.resources);
    for r in 0..args.resources {
        let new = NewResource {
            external_id: None,
            name: format!("Property {r:02}"),
            time_zone: None,
            parent_id: None,
        };
        let room = directory::create_resource(&store, tenant.id, new).await?;
        // Stays on days 4k..4k+2, imported items on 4k+2..4k+3: every 4 days, no overlaps.
        for k in 0..per_room {
            let span = BookingSpan::AllDay { start: day(4 * k), end: day(4 * k + 2) };
            let booking = stay(room.id, &format!("Guest {r}-{k}"), span);
            bookings::create(&store, &tenant, booking, Overlap::Allow).await?;
        }
        let items: Vec<BusyItem> = (0..imported_per_room)
            .map(|k| airbnb_item(r, k, day(4 * k + 2), day(4 * k + 3)))
            .collect();
        let import = NewImport {
            owner: Owner::Resource(room.id),
            platform: Platform::Airbnb,
            url: format!("https://www.airbnb.com/calendar/ical/{r}.ics"),
            name: None,
            interval_minutes: 30,
            settings: Default::default(),
        };
        let import = imports::create(&store, &tenant, import).await?;
        let read = RunResult::Read {
            items: &items,
            zone: store.owner_zone(&tenant, Owner::Resource(room.id)).await?,
            skipped: 0,
            http_status: Some(200),
            etag: None,
            last_modified: None,
            body_sha256: None,
            body: None,
        };
        imports::record_run(&store, &tenant, &import, Utc::now(), read, 3).await?;
    }
    eprintln!("seeded in {:.1} s", seeding.elapsed().as_secs_f64());

    let running = app::start(config.clone(), Role::Api, store.clone(), queue).await?;
    let base = format!("http://{}", running.addr.expect("the API listens"));
    let link =
        dashboard::link(&store, keys.current(), &base, tenant.id, chrono::Duration::minutes(5))
            .await?;
    let token = link.url.rsplit('/').next().unwrap_or_default().to_owned();
    let session = dashboard::open(&store, &keys, &token, chrono::Duration::hours(1)).await?;
    let cookie =
        format!("kalends_console={}", session.sign(keys.current(), Purpose::DashboardSession));
    let client = reqwest::Client::builder().pool_max_idle_per_host(1).build()?;
    let overview = format!("{base}/dashboard?days=90&from={today}");
    let healthz = format!("{base}/healthz");
    let get = |url: &str| {
        let request = client.get(url).header("cookie", &cookie);
        async move {
            let started = Instant::now();
            let response = request.send().await?;
            let status = response.status();
            let size = response.bytes().await?.len();
            anyhow::ensure!(status.is_success(), "{status}");
            Ok::<_, anyhow::Error>((started.elapsed().as_secs_f64() * 1000.0, size))
        }
    };
    for _ in 0..10 {
        get(&overview).await?;
    }
    let (mut page_ms, mut base_ms, mut size) = (Vec::new(), Vec::new(), 0);
    for _ in 0..args.requests {
        base_ms.push(get(&healthz).await?.0);
        let (ms, bytes) = get(&overview).await?;
        page_ms.push(ms);
        size = bytes;
    }
    running.shutdown.cancel();
    let kind = if args.database_url.starts_with("sqlite") { "SQLite" } else { "PostgreSQL" };
    for (label, mut ms) in
        [("GET /healthz (baseline)", base_ms), ("GET /dashboard?days=90", page_ms)]
    {
        ms.sort_by(f64::total_cmp);
        println!(
            "| {kind} | {label} | {:.2} | {:.2} | {:.2} | {} |",
            percentile(&ms, 50.0),
            percentile(&ms, 95.0),
            ms.last().copied().unwrap_or_default(),
            if label.starts_with("GET /dashboard") {
                format!("{} KiB", size / 1024)
            } else {
                "-".into()
            },
        );
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(())
}

fn stay(room: uuid::Uuid, title: &str, span: BookingSpan) -> NewBooking {
    NewBooking {
        external_id: None,
        resource_id: Some(room),
        staff_ids: vec![],
        status: BookingStatus::Confirmed,
        title: title.into(),
        description: None,
        location: None,
        customer: None,
        span,
    }
}

fn airbnb_item(r: usize, k: usize, start: NaiveDate, end: NaiveDate) -> BusyItem {
    BusyItem {
        uid: format!("res-{r}-{k}@airbnb.com"),
        recurrence_id: None,
        span: Span::AllDay { start, end },
        summary: Some("Reserved".into()),
        kind: ItemKind::Reservation,
        details: Default::default(),
    }
}
