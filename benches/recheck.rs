//! What a fresh look at the platforms' feeds adds to a checked booking write
//! (`?reject_conflicts=true&recheck_feeds=true`): 1, 3 and 6 imports of one room, each served by
//! its own local server with a 200-event Airbnb-style export, answering either 304 (the server
//! honours the ETag of the last read) or 200 with the same body (a platform without validators:
//! Kalends recognises the bytes it read last time and does not parse them again).
//!
//! Each round writes two one-night bookings of the room through the service the API calls, one
//! with the recheck (the imports looked up, read again in parallel, then the checked write) and
//! one without (the checked write alone), alternating which goes first; the added latency is the
//! median of the per-round differences. Figures: p50 and p99 of each, over `ROUNDS` rounds, on
//! SQLite (a temporary file). Run it with `cargo bench --bench recheck`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Days, Utc};
use kalends_core::Config;
use kalends_core::config::ImportConfig;
use kalends_core::domain::{
    BookingSpan, BookingStatus, NewBooking, NewImport, NewResource, Owner, Platform, Tenant,
    TenantSettings,
};
use kalends_service::bookings;
use kalends_service::importer::{Importer, Recheck};
use kalends_store::Overlap;
use kalends_store::Store;
use secrecy::SecretString;
use uuid::Uuid;

const ROUNDS: usize = 200;
const EVENTS: u32 = 200;
const ETAG: &str = "\"export-v1\"";

/// A 200-event export: one- to four-night reservations over the year ahead.
fn export() -> String {
    let today = Utc::now().date_naive();
    let mut ics = String::from(
        "BEGIN:VCALENDAR\r\nPRODID:-//Airbnb Inc//Hosting Calendar 0.8.8//EN\r\nVERSION:2.0\r\n",
    );
    for i in 0..EVENTS {
        let start = today + Days::new(u64::from(i) * 2 + 1);
        let end = start + Days::new(1);
        ics.push_str(&format!(
            "BEGIN:VEVENT\r\nDTSTAMP:20261101T000000Z\r\nDTSTART;VALUE=DATE:{}\r\nDTEND;VALUE=DATE:{}\r\n\
             UID:{i}-reservation@airbnb.com\r\nSUMMARY:Reserved\r\nDESCRIPTION:Reservation URL: \
             https://www.airbnb.com/hosting/reservations/details/HM{i:08}\\nPhone Number (Last 4 \
             Digits): 1234\r\nEND:VEVENT\r\n",
            start.format("%Y%m%d"),
            end.format("%Y%m%d"),
        ));
    }
    ics.push_str("END:VCALENDAR\r\n");
    ics
}

/// A local export server; `etags` makes it answer 304 to a request naming its ETag.
async fn serve(body: Arc<String>, etags: Arc<AtomicBool>) -> String {
    let app = axum::Router::new().route(
        "/calendar.ics",
        axum::routing::get(move |headers: HeaderMap| {
            let (body, etags) = (body.clone(), etags.clone());
            async move { answer(&body, etags.load(Ordering::Relaxed), &headers) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/calendar.ics", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn answer(body: &str, etags: bool, headers: &HeaderMap) -> Response {
    if !etags {
        return (StatusCode::OK, body.to_owned()).into_response();
    }
    if headers.get(header::IF_NONE_MATCH).is_some_and(|sent| sent == ETAG) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, ETAG)]).into_response();
    }
    (StatusCode::OK, [(header::ETAG, ETAG)], body.to_owned()).into_response()
}

struct Bench {
    store: Store,
    tenant: Tenant,
    importer: Importer,
    room: Uuid,
    night: u64,
}

impl Bench {
    /// A one-night booking of the room, on a night no feed and no earlier booking holds.
    fn booking(&mut self) -> NewBooking {
        self.night += 1;
        let start = Utc::now().date_naive() + Days::new(500 + self.night);
        NewBooking {
            external_id: None,
            resource_id: Some(self.room),
            staff_ids: Vec::new(),
            status: BookingStatus::Confirmed,
            title: format!("Direct guest {}", self.night),
            description: None,
            location: None,
            customer: None,
            span: BookingSpan::AllDay { start, end: start + Days::new(1) },
        }
    }

    /// The checked write alone.
    async fn write(&mut self) -> Duration {
        let booking = self.booking();
        let started = Instant::now();
        bookings::create(&self.store, &self.tenant, booking, Overlap::Reject).await.unwrap();
        started.elapsed()
    }

    /// The imports looked up and read again, then the checked write.
    async fn rechecked_write(&mut self, expect: &Recheck) -> Duration {
        let booking = self.booking();
        let started = Instant::now();
        let imports = self.store.imports_blocking(self.tenant.id, Some(self.room), &[]).await;
        let imports = imports.unwrap();
        let seen = self.importer.recheck(self.tenant.id, &imports, Duration::from_millis(2500));
        let seen = seen.await;
        bookings::create(&self.store, &self.tenant, booking, Overlap::Reject).await.unwrap();
        let elapsed = started.elapsed();
        assert!(seen.iter().all(|(_, outcome)| outcome == expect), "{seen:?}");
        elapsed
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank].as_secs_f64() * 1000.0
}

fn stats(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort_unstable();
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}

async fn case(feeds: usize, etags: bool) -> [f64; 5] {
    let dir = std::env::temp_dir().join(format!("kalends-bench-recheck-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("kalends.db").display());
    let config = Config { database_url: SecretString::from(url), ..Config::default() };
    let store = kalends::app::connect(&config).await.unwrap().0;
    let tenant = store.create_tenant(TenantSettings::default()).await.unwrap();
    let room = NewResource {
        external_id: None,
        name: "Sea view".into(),
        time_zone: None,
        parent_id: None,
    };
    let room = store.create_resource(tenant.id, room).await.unwrap().id;
    let settings = ImportConfig { allow_private_networks: true, ..ImportConfig::default() };
    let importer = Importer::new(store.clone(), &settings).unwrap();
    let body = Arc::new(export());
    for _ in 0..feeds {
        let url = serve(body.clone(), Arc::new(AtomicBool::new(etags))).await;
        let import = NewImport {
            owner: Owner::Resource(room),
            platform: Platform::Airbnb,
            url,
            name: None,
            interval_minutes: 30,
            settings: Default::default(),
        };
        let import = store.create_import(&tenant, import).await.unwrap();
        importer.run(tenant.id, import.id).await.unwrap();
    }
    let mut bench = Bench { store, tenant, importer, room, night: 0 };
    let (mut with, mut without, mut added) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (a, b) = if round % 2 == 0 {
            let a = bench.rechecked_write(&Recheck::Unchanged).await;
            (a, bench.write().await)
        } else {
            let b = bench.write().await;
            (bench.rechecked_write(&Recheck::Unchanged).await, b)
        };
        with.push(a);
        without.push(b);
        added.push(a.saturating_sub(b));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let (with_p50, with_p99) = stats(with);
    let (without_p50, _) = stats(without);
    let (added_p50, added_p99) = stats(added);
    [without_p50, with_p50, with_p99, added_p50, added_p99]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!(
        "{:<6} {:<22} {:>14} {:>14} {:>14} {:>12} {:>12}",
        "feeds", "answer", "write p50 ms", "+recheck p50", "+recheck p99", "added p50", "added p99"
    );
    for etags in [true, false] {
        for feeds in [1, 3, 6] {
            let [plain, p50, p99, added50, added99] = case(feeds, etags).await;
            let answer = if etags { "304 Not Modified" } else { "200, same 200 events" };
            println!(
                "{feeds:<6} {answer:<22} {plain:>14.2} {p50:>14.2} {p99:>14.2} {added50:>12.2} {added99:>12.2}"
            );
        }
    }
}
