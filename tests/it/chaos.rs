//! The chaos test: bookings created, rescheduled, reassigned and cancelled over staff members on
//! Google and Microsoft (the sandbox) and one on a real CalDAV server (Radicale), while the sandbox
//! fails requests (5xx, 429 with Retry-After, dropped connections), every token expires at once,
//! and worker processes are killed with SIGKILL and restarted (CalDAV writes cut off mid-way
//! included). When the queue drains, every calendar holds exactly the events it should.
//!
//! CI runs a smaller size; the full one is
//! `KALENDS_CHAOS_OPS=2000 KALENDS_CHAOS_STAFF=50 scripts/test -- chaos --nocapture`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Value, json};

use crate::caldav_servers::{CaldavServer, Server, USER};
use crate::connect::{Browser, connect_at};
use crate::helpers::needs_peers;
use crate::split::Split;

/// A tiny deterministic generator (xorshift), so a failing run can be repeated.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// What a booking should look like in the calendars at the end.
#[derive(Clone, Debug)]
struct Expected {
    staff: BTreeSet<usize>,
    start: DateTime<Utc>,
    cancelled: bool,
}

fn env_size(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

needs_peers!(
    "needs PostgreSQL, Redis and Radicale: run scripts/test", servers;
    every_calendar_converges_through_faults_expired_tokens_and_killed_workers,
);

async fn every_calendar_converges_through_faults_expired_tokens_and_killed_workers() {
    let (ops, staff_count) =
        (env_size("KALENDS_CHAOS_OPS", 300), env_size("KALENDS_CHAOS_STAFF", 10));
    let sandbox_token = format!("chaos-{}", uuid::Uuid::now_v7().simple());
    let cluster = Split::new(
        "chaos",
        &[
            // The sandbox is on only because the test asks for it.
            ("KALENDS_SANDBOX__ENABLED", "true"),
            ("KALENDS_SANDBOX__TOKEN", &sandbox_token),
            ("KALENDS_JOBS__RETRY_BASE_MS", "200"),
            ("KALENDS_JOBS__RETRY_MAX_DELAY_MS", "3000"),
            // A dropped answer keeps its booking's lease as long as a call may take.
            ("KALENDS_SYNC__PROVIDER_TIMEOUT_SECS", "3"),
            ("KALENDS_JOBS__HEARTBEAT_SECS", "1"),
            ("KALENDS_JOBS__CONCURRENCY", "16"),
            // The CalDAV server is on loopback.
            ("KALENDS_IMPORT__ALLOW_PRIVATE_NETWORKS", "true"),
        ],
    )
    .await;
    // One more staff member on CalDAV (Radicale, which scripts/test installs).
    let caldav = CaldavServer::start(Server::Radicale, "pw").await;
    let key = cluster.tenant("Chaos").await;
    let mut api = cluster.start_api().await;
    let workers = vec![cluster.spawn_worker(None), cluster.spawn_worker(None)];

    // Control calls carry the sandbox's token; API calls set their own key.
    let mut headers = reqwest::header::HeaderMap::new();
    let bearer = format!("Bearer {sandbox_token}");
    headers.insert(reqwest::header::AUTHORIZATION, bearer.parse().unwrap());
    let http = crate::helpers::client().default_headers(headers).build().unwrap();
    let call = |method: &str, path: &str, body: Option<Value>| {
        let mut request =
            http.request(method.parse().unwrap(), cluster.url(path)).bearer_auth(&key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let mut staff = Vec::new();
    for i in 0..staff_count {
        let provider = if i % 2 == 0 { "google" } else { "microsoft" };
        let email = format!("staff{i}@example.com");
        let (_, s) = call(
            "POST",
            "/api/v1/staff",
            Some(json!({"name": format!("Staff {i}"), "email": email})),
        )
        .await;
        let id = s["id"].as_str().unwrap().to_owned();
        let (_, link) = call("POST", &format!("/api/v1/staff/{id}/settings-link"), None).await;
        let browser = Browser::new();
        browser.get(link["url"].as_str().unwrap()).await;
        let page = connect_at(&cluster.url(""), &browser, provider, &email, "allow").await;
        assert!(page.url.contains("notice=connected"), "{}", page.url);
        staff.push((id, provider, email));
    }
    let server = &caldav;
    let email = "staff-caldav@example.com".to_owned();
    let (_, s) =
        call("POST", "/api/v1/staff", Some(json!({"name": "Staff on CalDAV", "email": email})))
            .await;
    let id = s["id"].as_str().unwrap().to_owned();
    let (_, link) = call("POST", &format!("/api/v1/staff/{id}/settings-link"), None).await;
    let browser = Browser::new();
    let settings = browser.get(link["url"].as_str().unwrap()).await;
    let csrf = settings.body.split("name=\"csrf\" value=\"").nth(1).unwrap();
    let csrf = csrf.split('"').next().unwrap();
    let form = [
        ("csrf", csrf),
        ("kind", "caldav"),
        ("server_url", server.url.as_str()),
        ("username", USER),
        ("password", "pw"),
    ];
    let page = browser.post(&cluster.url("/settings/connect/caldav"), &form, true).await;
    assert!(page.url.contains("notice=connected"), "{} {}", page.url, page.body);
    staff.push((id, "caldav", email));
    let staff_count = staff.len();

    let faults = json!({"error_rate": 0.10, "rate_limit_rate": 0.05, "retry_after_secs": 0.5, "drop_rate": 0.02});
    http.put(cluster.url("/sandbox/_control/faults")).json(&faults).send().await.unwrap();

    // Kill a worker with SIGKILL every two seconds and start a new one, until 10 s after the
    // operations end.
    let stop_killing = tokio_util::sync::CancellationToken::new();
    let killer = {
        let stop = stop_killing.clone();
        let cluster = &cluster;
        let mut workers = workers;
        let mut kills = 0usize;
        async move {
            let mut turn = 0;
            loop {
                tokio::select! {
                    () = stop.cancelled() => return (workers, kills),
                    () = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
                let victim = turn % workers.len();
                workers[victim].start_kill().unwrap();
                let _ = workers[victim].wait().await;
                workers[victim] = cluster.spawn_worker(None);
                kills += 1;
                turn += 1;
            }
        }
    };

    let operations = async {
        let mut dice = Dice(0x5eed_1234_abcd_0001);
        let mut bookings: BTreeMap<String, Expected> = BTreeMap::new();
        let base = Utc::now().date_naive() + chrono::Duration::days(2);
        let pick_staff = |dice: &mut Dice| -> BTreeSet<usize> {
            let n = 1 + dice.below(2);
            (0..n).map(|_| dice.below(staff_count)).collect()
        };
        let start_at = |dice: &mut Dice| -> DateTime<Utc> {
            let day = base + chrono::Duration::days(dice.below(60) as i64);
            day.and_hms_opt(8 + dice.below(10) as u32, 0, 0).unwrap().and_utc()
        };
        for op in 0..ops {
            if op == ops / 2 {
                http.post(cluster.url("/sandbox/_control/expire-tokens"))
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap();
            }
            let live: Vec<String> =
                bookings.iter().filter(|(_, e)| !e.cancelled).map(|(id, _)| id.clone()).collect();
            let roll = if live.is_empty() { 0 } else { dice.below(10) };
            match roll {
                0..=3 => {
                    let (staff_set, start) = (pick_staff(&mut dice), start_at(&mut dice));
                    let ids: Vec<&str> = staff_set.iter().map(|i| staff[*i].0.as_str()).collect();
                    let body = json!({"title": format!("Booking {op}"), "staff_ids": ids, "time_zone": "UTC",
                        "start": start.to_rfc3339(), "end": (start + chrono::Duration::hours(1)).to_rfc3339()});
                    let (status, b) = call("POST", "/api/v1/bookings", Some(body)).await;
                    assert_eq!(status, 201, "{b}");
                    bookings.insert(
                        b["id"].as_str().unwrap().to_owned(),
                        Expected { staff: staff_set, start, cancelled: false },
                    );
                }
                4..=6 => {
                    let id = &live[dice.below(live.len())];
                    let start = start_at(&mut dice);
                    let body = json!({"start": start.to_rfc3339(), "end": (start + chrono::Duration::hours(1)).to_rfc3339()});
                    assert_eq!(
                        call("PATCH", &format!("/api/v1/bookings/{id}"), Some(body)).await.0,
                        200
                    );
                    bookings.get_mut(id).unwrap().start = start;
                }
                7..=8 => {
                    let id = &live[dice.below(live.len())];
                    let staff_set = pick_staff(&mut dice);
                    let ids: Vec<&str> = staff_set.iter().map(|i| staff[*i].0.as_str()).collect();
                    assert_eq!(
                        call(
                            "PATCH",
                            &format!("/api/v1/bookings/{id}"),
                            Some(json!({"staff_ids": ids}))
                        )
                        .await
                        .0,
                        200
                    );
                    bookings.get_mut(id).unwrap().staff = staff_set;
                }
                _ => {
                    let id = &live[dice.below(live.len())];
                    assert_eq!(
                        call("POST", &format!("/api/v1/bookings/{id}/cancel"), None).await.0,
                        200
                    );
                    bookings.get_mut(id).unwrap().cancelled = true;
                }
            }
        }
        bookings
    };
    let (bookings, (mut workers, kills)) = tokio::join!(
        async {
            let b = operations.await;
            // Workers keep dying for a while as the queue drains.
            tokio::time::sleep(Duration::from_secs(10)).await;
            stop_killing.cancel();
            b
        },
        killer
    );
    http.put(cluster.url("/sandbox/_control/faults")).json(&json!({})).send().await.unwrap();
    eprintln!(
        "chaos: {ops} operations, {} bookings, {staff_count} staff, {kills} workers killed",
        bookings.len()
    );

    // Expected: per staff member, the live bookings assigned to them and their starts.
    let mut expected: BTreeMap<usize, BTreeMap<String, DateTime<Utc>>> = BTreeMap::new();
    for (id, e) in bookings.iter().filter(|(_, e)| !e.cancelled) {
        for s in &e.staff {
            expected.entry(*s).or_default().insert(id.clone(), e.start);
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let mut problems = Vec::new();
        for (i, (_, provider, email)) in staff.iter().enumerate() {
            let held = if *provider == "caldav" {
                caldav_calendar(&caldav).await
            } else {
                calendar(&http, &cluster, provider, email).await
            };
            let want = expected.get(&i).cloned().unwrap_or_default();
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            for (booking, start) in &held {
                *seen.entry(booking.clone()).or_default() += 1;
                match want.get(booking) {
                    None => problems.push(format!("{email}: stray event for {booking}")),
                    Some(at) if at != start => {
                        problems.push(format!("{email}: stale {booking} at {start}, want {at}"))
                    }
                    Some(_) => {}
                }
            }
            problems.extend(
                seen.iter()
                    .filter(|(_, n)| **n > 1)
                    .map(|(b, n)| format!("{email}: {n} events for {b}")),
            );
            problems.extend(
                want.keys()
                    .filter(|b| !seen.contains_key(*b))
                    .map(|b| format!("{email}: missing {b}")),
            );
        }
        if problems.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "after 300 s: {} problems, e.g. {:?}; the processes' logs are in {}",
            problems.len(),
            &problems[..problems.len().min(10)],
            cluster.logs_kept()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    for worker in &mut workers {
        let _ = worker.start_kill();
    }
    drop(caldav);
    let _ = api.start_kill();
}

/// The Kalends events a staff member's calendar holds: (booking id, start).
async fn calendar(
    http: &reqwest::Client,
    cluster: &Split,
    provider: &str,
    email: &str,
) -> Vec<(String, DateTime<Utc>)> {
    if provider == "google" {
        let url =
            cluster.url(&format!("/sandbox/_control/google/calendars/{email}/{email}/events"));
        let events: Vec<Value> = http.get(url).send().await.unwrap().json().await.unwrap();
        events
            .iter()
            .filter(|e| e["status"] != "cancelled")
            .filter_map(|e| {
                let booking =
                    e["extendedProperties"]["private"]["kalendsBooking"].as_str()?.to_owned();
                let start = DateTime::parse_from_rfc3339(e["start"]["dateTime"].as_str()?)
                    .ok()?
                    .with_timezone(&Utc);
                Some((booking, start))
            })
            .collect()
    } else {
        let url = cluster.url(&format!("/sandbox/_control/microsoft/users/{email}/events"));
        let events: Vec<Value> = http.get(url).send().await.unwrap().json().await.unwrap();
        events
            .iter()
            .filter(|e| e["deleted"] != true)
            .filter_map(|e| {
                let booking =
                    e["singleValueExtendedProperties"].as_array()?.iter().find(|p| {
                        p["id"].as_str().is_some_and(|id| id.contains("KalendsBooking"))
                    })?["value"]
                        .as_str()?
                        .to_owned();
                let text = e["start"]["dateTime"].as_str()?;
                let naive = NaiveDateTime::parse_from_str(&text[..19], "%Y-%m-%dT%H:%M:%S").ok()?;
                Some((booking, naive.and_utc()))
            })
            .collect()
    }
}

/// The Kalends events in the CalDAV staff member's calendar, read as text from the server:
/// (booking id, start).
async fn caldav_calendar(server: &CaldavServer) -> Vec<(String, DateTime<Utc>)> {
    server
        .events()
        .await
        .iter()
        .filter_map(|text| {
            let property = |name: &str| {
                text.lines()
                    .find_map(|line| line.strip_prefix(name))
                    .map(str::trim)
                    .map(str::to_owned)
            };
            let booking = property("X-KALENDS-BOOKING:")?;
            let start = property("DTSTART")?;
            // `:20300107T090000Z`, or `;TZID=Europe/Paris:20300107T100000` in the tenant's zone.
            let (parameters, value) = start.split_once(':')?;
            let naive =
                NaiveDateTime::parse_from_str(value.trim_end_matches('Z'), "%Y%m%dT%H%M%S").ok()?;
            let start = match parameters.strip_prefix(";TZID=") {
                Some(zone) => {
                    let zone: chrono_tz::Tz = zone.parse().ok()?;
                    naive.and_local_timezone(zone).single()?.with_timezone(&Utc)
                }
                None => naive.and_utc(),
            };
            Some((booking, start))
        })
        .collect()
}
