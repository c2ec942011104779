//! The CalDAV client against real Radicale and Xandikos: conditional writes that converge, sync
//! tokens (and how each server refuses a bad one), private addresses refused. The figures in
//! BENCHMARKS.md come from `scripts/bench-caldav` (examples/caldav_bench.rs).

use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{TimeZone as _, Utc};
use kalends_providers::caldav::{CaldavCalendar, DiscoveryError};
use kalends_providers::calendar::TimeZone as Zone;
use kalends_providers::calendar::{AccessToken, Change, ChangeSet, Window};
use kalends_providers::outbound::AddressPolicy;

use crate::caldav_servers::{CaldavServer, Server, USER, draft};
use crate::helpers::needs_peers;

const SERVERS: [Server; 2] = [Server::Radicale, Server::Xandikos];

needs_peers!(
    "needs Radicale and Xandikos: run scripts/test";
    a_create_whose_answer_was_lost_updates_its_own_resource_instead_of_making_a_second,
    changes_since_a_sync_token_name_new_events_and_deleted_bookings,
    a_sync_token_the_server_refuses_asks_for_a_full_listing,
    a_server_on_a_private_address_is_refused_unless_the_operator_allows_it,
    an_account_whose_well_known_address_redirects_to_another_host_is_found_on_that_host,
);

/// The client allowed onto loopback, the discovered account's token and its calendar.
async fn account(server: &CaldavServer) -> (CaldavCalendar, AccessToken, String) {
    let client = CaldavCalendar::new(Duration::from_secs(30), open_network()).unwrap();
    let found = client.discover(&server.url, USER, "pw").await.unwrap();
    let calendar = found.calendars.iter().find(|c| c.id == server.calendar).unwrap().id.clone();
    (client, AccessToken::from(found.account.to_secret()), calendar)
}

fn window() -> Window {
    Window {
        start: Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap(),
        end: Utc.with_ymd_and_hms(2030, 6, 1, 0, 0, 0).unwrap(),
    }
}

async fn a_create_whose_answer_was_lost_updates_its_own_resource_instead_of_making_a_second() {
    for kind in SERVERS {
        let server = CaldavServer::start(kind, "pw").await;
        let (client, token, calendar) = account(&server).await;
        let first = client.upsert_event(&token, &calendar, &draft(1, 9), None, None).await.unwrap();
        // Retried as a create (the first answer never arrived), with a new time.
        let again =
            client.upsert_event(&token, &calendar, &draft(1, 15), None, None).await.unwrap();
        assert_eq!(first.id, again.id, "{kind:?}");
        let events = server.events().await;
        assert_eq!(events.len(), 1, "{kind:?}: {events:?}");
        assert!(events[0].contains("T150000"), "{kind:?}: {}", events[0]);
        // Someone else changed it meanwhile: the stored etag is refused (412), the update
        // re-reads it and still lands.
        let edited = events[0].replace("Booking 1", "Edited");
        let resource = format!("{}{}", server.calendar, first.id);
        let body = format!("BEGIN:VCALENDAR{edited}END:VCALENDAR\r\n");
        let (status, _) = server.request("PUT", &resource, Some(("text/calendar", body))).await;
        assert!(matches!(status, 201 | 204), "{kind:?}: {status}");
        let stale = again.etag.as_deref();
        assert!(stale.is_some(), "{kind:?}: a PUT answers its etag");
        let moved = client
            .upsert_event(&token, &calendar, &draft(1, 16), Some(&first.id), stale)
            .await
            .unwrap();
        let events = server.events().await;
        assert!(events[0].contains("Booking 1") && events[0].contains("T160000"), "{kind:?}");
        // With the etag that write answered, an update is a single request: no PROPFIND first.
        let before = server.requests.load(Ordering::Relaxed);
        let last = client
            .upsert_event(&token, &calendar, &draft(1, 17), Some(&first.id), moved.etag.as_deref())
            .await
            .unwrap();
        assert_eq!(server.requests.load(Ordering::Relaxed) - before, 1, "{kind:?}");
        assert!(server.events().await[0].contains("T170000"), "{kind:?}");
        let before = server.requests.load(Ordering::Relaxed);
        let etag = last.etag.as_deref();
        assert!(client.delete_event(&token, &calendar, &first.id, etag).await.unwrap());
        assert_eq!(server.requests.load(Ordering::Relaxed) - before, 1, "{kind:?}");
        // Already gone, with a stale etag or none: still deleted, and nothing was there.
        assert!(!client.delete_event(&token, &calendar, &first.id, etag).await.unwrap());
        assert!(!client.delete_event(&token, &calendar, &first.id, None).await.unwrap());
        assert!(server.events().await.is_empty(), "{kind:?}");
    }
}

async fn changes_since_a_sync_token_name_new_events_and_deleted_bookings() {
    for kind in SERVERS {
        let server = CaldavServer::start(kind, "pw").await;
        let (client, token, calendar) = account(&server).await;
        let pushed =
            client.upsert_event(&token, &calendar, &draft(2, 9), None, None).await.unwrap();
        let ChangeSet::Changes { changes, next_cursor } =
            client.changes(&token, &calendar, None, window(), Zone::UTC).await.unwrap()
        else {
            panic!("{kind:?}: a listing without a token")
        };
        assert_eq!(changes.len(), 1, "{kind:?}: {changes:?}");
        server
            .put_event(
                "lunch.ics",
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:lunch\r\n\
                 DTSTAMP:20260101T000000Z\r\nDTSTART:20300108T120000Z\r\nDTEND:20300108T130000Z\r\n\
                 SUMMARY:Lunch\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            )
            .await;
        client.delete_event(&token, &calendar, &pushed.id, pushed.etag.as_deref()).await.unwrap();
        let ChangeSet::Changes { changes, .. } = client
            .changes(&token, &calendar, Some(&next_cursor), window(), Zone::UTC)
            .await
            .unwrap()
        else {
            panic!("{kind:?}: the token was refused")
        };
        let upserted: Vec<&str> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Upserted(e) => e.summary.as_deref(),
                Change::Deleted { .. } => None,
            })
            .collect();
        assert_eq!(upserted, ["Lunch"], "{kind:?}: {changes:?}");
        assert!(
            changes.contains(&Change::Deleted { id: pushed.id.clone() }),
            "{kind:?}: {changes:?}"
        );
    }
}

async fn a_sync_token_the_server_refuses_asks_for_a_full_listing() {
    for kind in SERVERS {
        let server = CaldavServer::start(kind, "pw").await;
        let (client, token, calendar) = account(&server).await;
        let bogus = format!("{}sync/not-a-token", server.url);
        let answer =
            client.changes(&token, &calendar, Some(&bogus), window(), Zone::UTC).await.unwrap();
        assert_eq!(answer, ChangeSet::FullSyncRequired, "{kind:?}");
    }
}

async fn a_server_on_a_private_address_is_refused_unless_the_operator_allows_it() {
    let server = CaldavServer::start(Server::Radicale, "pw").await;
    let before = server.requests.load(Ordering::Relaxed);
    let guarded = CaldavCalendar::new(Duration::from_secs(5), AddressPolicy::default()).unwrap();
    let refused = guarded.discover(&server.url, USER, "pw").await.unwrap_err();
    assert!(matches!(refused, DiscoveryError::Refused(_)), "{refused:?}");
    assert!(refused.to_string().contains("private network"), "{refused}");
    // A name is checked on the addresses it resolves to.
    let by_name = server.url.replace("127.0.0.1", "localhost");
    let refused = guarded.discover(&by_name, USER, "pw").await.unwrap_err();
    assert!(refused.to_string().contains("private network"), "{refused}");
    assert_eq!(server.requests.load(Ordering::Relaxed), before, "nothing reached the server");
    let wrong = CaldavCalendar::new(Duration::from_secs(5), open_network()).unwrap();
    let refused = wrong.discover(&server.url, USER, "not-it").await.unwrap_err();
    assert!(matches!(refused, DiscoveryError::WrongCredentials), "{refused:?}");
}

/// A provider whose web address sends `/.well-known/caldav` to a CalDAV host of its own (as
/// Fastmail's does): the staff member types the web address, and the principal, the calendar
/// home and the calendars the real server names by relative hrefs are found on that host, not
/// looked for on the address typed (which knows none of them).
async fn an_account_whose_well_known_address_redirects_to_another_host_is_found_on_that_host() {
    for kind in SERVERS {
        let server = CaldavServer::start(kind, "pw").await;
        let target = format!("{}/", server.url);
        let front =
            axum::Router::new()
                .route(
                    "/.well-known/caldav",
                    axum::routing::any(move || {
                        let target = target.clone();
                        async move {
                            (axum::http::StatusCode::MOVED_PERMANENTLY, [("location", target)])
                        }
                    }),
                )
                .fallback(|| async { axum::http::StatusCode::NOT_FOUND });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let typed = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, front).await });

        let client = CaldavCalendar::new(Duration::from_secs(30), open_network()).unwrap();
        let found = client.discover(&typed, USER, "pw").await.unwrap();
        let ids: Vec<&str> = found.calendars.iter().map(|c| c.id.as_str()).collect();
        assert!(ids.contains(&server.calendar.as_str()), "{kind:?}: {ids:?}");
        assert!(found.account.home.starts_with(&server.url), "{kind:?}: {}", found.account.home);
    }
}

/// The tests' servers live on loopback.
fn open_network() -> AddressPolicy {
    AddressPolicy { allow_private_networks: true, ..AddressPolicy::default() }
}
