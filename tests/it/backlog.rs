//! A calendar connected with many upcoming bookings gets them at the provider's quota, on the job
//! queue's backlog lane: a booking made meanwhile goes ahead of them, the sandbox's quota is
//! kept, and each booking arrives once.

use std::collections::HashSet;
use std::time::Duration;

use kalends::api::bookings::BookingIn;
use kalends::api::staff::StaffIn;
use kalends_core::Config;
use secrecy::SecretString;
use serde_json::Value;

use crate::connect::{Browser, connect};
use crate::helpers::{Db, TestApp, eventually, on_both_databases, redis_url};

on_both_databases!(
    a_booking_made_while_a_new_calendar_is_replayed_at_the_quota_arrives_before_the_replay_ends,
    two_staff_sharing_one_account_share_its_quota_connecting_and_disconnecting,
);

/// Requests a minute, the sandbox's per-user quota and Kalends' per-account budget alike: ten
/// seconds' worth (100) at once, then ten a second.
const QUOTA: u32 = 600;

/// Upcoming bookings the staff member has when they connect: 100 beyond the burst, ten seconds
/// at the quota's pace.
const BACKLOG: usize = 200;

const CALENDAR: &str = "/sandbox/_control/google/calendars/ann@example.com/ann@example.com/events";

/// The front desk's account, which two staff members connect.
const FRONT_DESK: &str =
    "/sandbox/_control/google/calendars/front@example.com/front@example.com/events";

fn stay(ann: uuid::Uuid, title: &str, n: usize) -> BookingIn {
    let (day, hour) = (1 + n / 10, 8 + n % 10);
    BookingIn {
        title: title.into(),
        staff_ids: vec![ann],
        start: Some(format!("2030-03-{day:02}T{hour:02}:00:00Z")),
        end: Some(format!("2030-03-{day:02}T{hour:02}:30:00Z")),
        time_zone: Some("UTC".into()),
        ..BookingIn::default()
    }
}

/// Kalends with a Google budget of `quota` requests a minute per account, shared through Redis on
/// PostgreSQL as in production.
async fn budgeted(db: Db, quota: u32, configure: impl FnOnce(&mut Config)) -> TestApp {
    TestApp::start_public_with(db, |config| {
        config.sync.google_requests_per_minute_per_account = quota;
        if db == Db::Postgres {
            config.redis_url = Some(SecretString::from(redis_url()));
        }
        configure(config);
    })
    .await
}

/// More than `writes` requests reached the sandbox, fewer than 1% of them over its quota.
async fn assert_quota_kept(app: &TestApp, writes: usize) {
    let counts: Value = app.sandbox_json("/sandbox/_control/quota").await;
    let (admitted, limited) =
        (counts["admitted"].as_u64().unwrap(), counts["limited"].as_u64().unwrap());
    assert!(admitted > writes as u64, "{counts}");
    assert!(limited * 100 < admitted, "more than 1% of the requests were over the quota: {counts}");
}

async fn titles_in_calendar(app: &TestApp) -> Vec<String> {
    titles_in(app, CALENDAR).await
}

async fn titles_in(app: &TestApp, calendar: &str) -> Vec<String> {
    let events: Vec<Value> = app.sandbox_json(calendar).await;
    events
        .iter()
        .filter(|e| e["status"] != "cancelled")
        .filter_map(|e| e["summary"].as_str().map(str::to_owned))
        .collect()
}

async fn a_booking_made_while_a_new_calendar_is_replayed_at_the_quota_arrives_before_the_replay_ends(
    db: Db,
) {
    // One job at a time on each lane: on a single queue, the booking made during the replay
    // would run after every replayed one.
    let app = budgeted(db, QUOTA, |config| config.jobs.concurrency = 1).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let staff =
        StaffIn { name: "Ann".into(), email: Some("ann@example.com".into()), ..StaffIn::default() };
    let ann = api.create_staff(&staff).await.unwrap().id;
    for n in 0..BACKLOG {
        api.create_booking(&stay(ann, &format!("Booked {n}"), n)).await.unwrap();
    }
    app.settle().await;
    app.set_sandbox_quota(QUOTA).await;

    let browser = Browser::new();
    browser.get(&api.settings_link(ann).await.unwrap().url).await;
    let page = connect(&app, &browser, "google", "ann@example.com", "allow").await;
    assert!(page.url.contains("notice=connected"), "{}", page.url);
    api.create_booking(&stay(ann, "Walk-in", BACKLOG)).await.unwrap();
    let replayed_by_then = eventually(Duration::from_secs(60), || async {
        let titles = titles_in_calendar(&app).await;
        titles.iter().any(|t| t == "Walk-in").then(|| titles.len() - 1)
    })
    .await;
    // At the quota's pace the last 100 replayed bookings take ten seconds; on a single queue the
    // booking made meanwhile arrived after 199 of them.
    assert!(
        replayed_by_then <= BACKLOG - 50,
        "the booking made during the replay arrived after {replayed_by_then} of the {BACKLOG} replayed ones"
    );

    app.settle().await;
    let titles = titles_in_calendar(&app).await;
    let distinct: HashSet<&String> = titles.iter().collect();
    assert_eq!(titles.len(), BACKLOG + 1, "every booking is in the calendar");
    assert_eq!(distinct.len(), titles.len(), "each booking once");
    assert_quota_kept(&app, BACKLOG).await;
}

/// The provider's quota is the account's, whichever connection its requests come through: two
/// staff members who connect the front desk's account have their replays paced together, not
/// each at the full quota (which sent the sandbox twice its quota at once); when both
/// disconnect, taking their events out, the deletions are paced together too.
async fn two_staff_sharing_one_account_share_its_quota_connecting_and_disconnecting(db: Db) {
    // Ten seconds' worth (50) at once, then five a second: each replay alone about fits the burst.
    const QUOTA: u32 = 300;
    const EACH: usize = 50;
    let app = budgeted(db, QUOTA, |_| {}).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let mut staff = Vec::new();
    for name in ["Ann", "Bo"] {
        let id = api.create_staff(&StaffIn { name: name.into(), ..StaffIn::default() }).await;
        let id = id.unwrap().id;
        for n in 0..EACH {
            api.create_booking(&stay(id, &format!("{name} {n}"), n)).await.unwrap();
        }
        staff.push(id);
    }
    app.settle().await;
    app.set_sandbox_quota(QUOTA).await;

    for id in staff {
        let browser = Browser::new();
        browser.get(&api.settings_link(id).await.unwrap().url).await;
        let page = connect(&app, &browser, "google", "front@example.com", "allow").await;
        assert!(page.url.contains("notice=connected"), "{}", page.url);
    }
    app.settle().await;
    let titles = titles_in(&app, FRONT_DESK).await;
    let distinct: HashSet<&String> = titles.iter().collect();
    assert_eq!(titles.len(), 2 * EACH, "both staff members' bookings are in the calendar");
    assert_eq!(distinct.len(), titles.len(), "each booking once");
    assert_quota_kept(&app, 2 * EACH).await;

    // Both disconnect at once, each taking their events out of the calendar.
    app.set_sandbox_quota(QUOTA).await;
    let connections = api.connections().await.unwrap();
    assert_eq!(connections.len(), 2, "{connections:?}");
    let api = &api;
    let disconnects = connections.iter().map(|c| async move {
        let path = format!("/api/v1/connections/{}?remove_events=true", c.id);
        api.send::<Value>("DELETE", &path, None, 200).await.unwrap()
    });
    futures::future::join_all(disconnects).await;
    app.settle().await;
    assert!(titles_in(&app, FRONT_DESK).await.is_empty(), "every event is taken out");
    assert_quota_kept(&app, 2 * EACH).await;
}
