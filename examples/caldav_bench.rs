//! CalDAV benchmark (BENCHMARKS.md, "CalDAV"): Kalends's CalDAV client against real Radicale and
//! Xandikos (the servers and the Basic-auth proxy the integration tests use, started here on free
//! ports with temp storage), printing one table:
//!
//! 1. push latency of a create (`If-None-Match: *`), alternating with a bare PUT of a similar
//!    resource straight through the same proxy (the baseline);
//! 2. push latency of an update: with the etag the last write answered (`If-Match`, one request),
//!    alternating with the same update without it (a PROPFIND for the etag first, as before
//!    etags were stored) and with a bare `If-Match` PUT (the baseline);
//! 3. import of a 1,000-event calendar (one in ten weekly for ten weeks): `sync-collection`, the
//!    data by `calendar-multiget` and the expansion, against one `calendar-query` REPORT of every
//!    resource's data (the baseline).
//!
//! Needs Python with `radicale` and `xandikos` in `KALENDS_TEST_PYTHON`; `scripts/bench-caldav`
//! installs them into target/peers/venv (through scripts/test) and runs this:
//!
//! ```text
//! scripts/bench-caldav [ROUNDS]      (default 40 pushes of each kind per server)
//! ```

#[path = "../tests/it/caldav_servers.rs"]
#[allow(dead_code)] // The tests' helpers this benchmark does not call.
mod caldav_servers;
#[path = "../tests/support/peer.rs"]
mod peer;
#[path = "../tests/support/ports.rs"]
mod ports;

use std::time::{Duration, Instant};

use chrono::{TimeZone as _, Utc};
use kalends_providers::caldav::CaldavCalendar;
use kalends_providers::calendar::TimeZone as Zone;
use kalends_providers::calendar::{AccessToken, ChangeSet, Window};

use crate::caldav_servers::{CaldavServer, Server, USER, draft};

const EVENTS: usize = 1000;
const IMPORTS: usize = 5;

/// A plain event `uid` at `hour` on 2030-01-07 (the bare baseline's body).
fn bare(uid: &str, hour: u32) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20260101T000000Z\r\nDTSTART:20300107T{hour:02}0000Z\r\nDTEND:20300107T{hour:02}3000Z\r\n\
         SUMMARY:{uid}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// "median (min-max)" in milliseconds.
fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "{:.1} ({:.1}-{:.1})",
        ms(samples[samples.len() / 2]),
        ms(samples[0]),
        ms(samples[samples.len() - 1])
    )
}

struct Row {
    server: Server,
    measure: &'static str,
    kalends: String,
    baseline: String,
    n: usize,
}

async fn bench(kind: Server, rounds: u128) -> Vec<Row> {
    let server = CaldavServer::start(kind, "pw").await;
    let client = CaldavCalendar::new(
        Duration::from_secs(60),
        kalends_providers::outbound::AddressPolicy {
            allow_private_networks: true,
            ..Default::default()
        },
    )
    .unwrap();
    let found = client.discover(&server.url, USER, "pw").await.unwrap();
    let token = AccessToken::from(found.account.to_secret());
    let calendar = server.calendar.clone();
    // A bare PUT, optionally conditional: its time and the etag it answered.
    let http = reqwest::Client::new();
    let put = |name: String, body: String, condition: (&'static str, String)| {
        let request = http
            .put(format!("{calendar}{name}"))
            .basic_auth(USER, Some("pw"))
            .header("Content-Type", "text/calendar; charset=utf-8")
            .header(condition.0, condition.1)
            .body(body);
        async move {
            let started = Instant::now();
            let answer = request.send().await.unwrap();
            let elapsed = started.elapsed();
            assert!(answer.status().is_success(), "{kind:?}: bare PUT {}", answer.status());
            let etag = answer.headers().get("etag").map(|v| v.to_str().unwrap().to_owned());
            (elapsed, etag.expect("the server answers a PUT with its etag"))
        }
    };

    // 1. Creates, alternating with bare creates.
    let (mut creates, mut bare_creates) = (Vec::new(), Vec::new());
    let mut pushed = Vec::new();
    let mut bare_etags = Vec::new();
    for n in 0..rounds {
        let started = Instant::now();
        let event = client.upsert_event(&token, &calendar, &draft(n, 9), None, None).await.unwrap();
        creates.push(started.elapsed());
        pushed.push(event);
        let (took, etag) = put(
            format!("bare-{n}.ics"),
            bare(&format!("bare-{n}"), 9),
            ("If-None-Match", "*".into()),
        )
        .await;
        bare_creates.push(took);
        bare_etags.push(etag);
    }

    // 2. Updates, the three kinds alternating: stored etag, no etag (PROPFIND first), bare.
    let (mut stored, mut unknown, mut bare_updates) = (Vec::new(), Vec::new(), Vec::new());
    for (n, (event, bare_etag)) in pushed.iter_mut().zip(&mut bare_etags).enumerate() {
        let n = n as u128;
        let started = Instant::now();
        let moved = client
            .upsert_event(&token, &calendar, &draft(n, 10), Some(&event.id), event.etag.as_deref())
            .await
            .unwrap();
        stored.push(started.elapsed());
        let started = Instant::now();
        *event = client
            .upsert_event(&token, &calendar, &draft(n, 11), Some(&moved.id), None)
            .await
            .unwrap();
        unknown.push(started.elapsed());
        let (took, etag) = put(
            format!("bare-{n}.ics"),
            bare(&format!("bare-{n}"), 10),
            ("If-Match", bare_etag.clone()),
        )
        .await;
        bare_updates.push(took);
        *bare_etag = etag;
    }

    // 3. Import of 1,000 events.
    for n in 0..EVENTS {
        let day = 1 + n % 28;
        let hour = 8 + n % 10;
        let rule = if n % 10 == 0 { "RRULE:FREQ=WEEKLY;COUNT=10\r\n" } else { "" };
        let ics = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\nUID:e{n}\r\n\
             DTSTAMP:20260101T000000Z\r\nDTSTART:202602{day:02}T{hour:02}0000Z\r\n\
             DTEND:202602{day:02}T{hour:02}3000Z\r\n{rule}SUMMARY:Event {n}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        server.put_event(&format!("e{n}.ics"), &ics).await;
    }
    let window = Window {
        start: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        end: Utc.with_ymd_and_hms(2031, 1, 1, 0, 0, 0).unwrap(),
    };
    let resources = EVENTS + 2 * rounds as usize;
    // 900 single events, 100 series of 10, the pushed and the bare ones.
    let occurrences = EVENTS * 9 / 10 + EVENTS / 10 * 10 + 2 * rounds as usize;
    let (mut imports, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..IMPORTS {
        let started = Instant::now();
        let ChangeSet::Changes { changes, .. } =
            client.changes(&token, &calendar, None, window, Zone::UTC).await.unwrap()
        else {
            panic!("{kind:?}: a listing without a token asks for nothing else")
        };
        imports.push(started.elapsed());
        assert_eq!(changes.len(), occurrences, "{kind:?}");
        let started = Instant::now();
        let texts = server.events().await;
        raw.push(started.elapsed());
        assert_eq!(texts.len(), resources, "{kind:?}");
    }
    let rounds = rounds as usize;
    vec![
        Row {
            server: kind,
            measure: "push: create (If-None-Match: *)",
            kalends: summary(creates),
            baseline: format!("bare create PUT {}", summary(bare_creates)),
            n: rounds,
        },
        Row {
            server: kind,
            measure: "push: update, etag stored (If-Match)",
            kalends: summary(stored),
            baseline: format!("bare If-Match PUT {}", summary(bare_updates)),
            n: rounds,
        },
        Row {
            server: kind,
            measure: "push: update, etag not stored (PROPFIND + PUT)",
            kalends: summary(unknown),
            baseline: "(same sitting, alternated with the row above)".into(),
            n: rounds,
        },
        Row {
            server: kind,
            measure: "import: 1,000 events (sync-collection + multiget + expansion)",
            kalends: summary(imports),
            baseline: format!("one calendar-query REPORT of all data {}", summary(raw)),
            n: IMPORTS,
        },
    ]
}

#[tokio::main]
async fn main() {
    let rounds = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(40);
    let mut rows = Vec::new();
    for kind in [Server::Radicale, Server::Xandikos] {
        rows.extend(bench(kind, rounds).await);
    }
    println!(
        "| server | measure | Kalends median (min-max) ms | baseline, same run, median (min-max) ms | n |"
    );
    println!("|---|---|---|---|---|");
    for row in rows {
        println!(
            "| {:?} | {} | {} | {} | {} |",
            row.server, row.measure, row.kalends, row.baseline, row.n
        );
    }
}
