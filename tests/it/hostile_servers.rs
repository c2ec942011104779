//! Servers that play the attacker. A CalDAV server a staff member names (or one that turned
//! hostile later) answers with a gzip bomb, an endless body, a body that drips, a redirect loop,
//! ten thousand calendars, or addresses of the operator's network in every spelling; a feed host
//! and a webhook endpoint try the same. Kalends must stay small, send nothing to the refused
//! addresses (a recording listener stands behind them), and end each case with a clear error,
//! storing nothing.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kalends_core::addresses::AllowedAddresses;
use kalends_providers::caldav::{CaldavCalendar, DiscoveryError};
use kalends_providers::calendar::TimeZone as Zone;
use kalends_providers::feed::{FetchError, FetchPolicy, Fetcher, Validators};
use kalends_providers::outbound::AddressPolicy;

use crate::caldav::{Staff, staff};
use crate::helpers::{Db, TestApp, on_both_databases};

on_both_databases!(
    a_caldav_gzip_bomb_on_the_form_is_refused_in_place_and_nothing_is_stored,
    a_caldav_home_on_a_refused_address_is_refused_in_place_and_nothing_is_stored,
    a_webhook_endpoint_on_an_allowed_address_is_accepted_and_any_other_spelling_refused,
    a_connected_caldav_server_that_turns_into_a_gzip_bomb_shows_in_the_connections_status,
    a_webhook_endpoint_answering_a_gzip_bomb_or_an_endless_body_is_logged_by_its_first_kilobyte,
);

/// Every spelling of loopback (and the cloud metadata address) a hostile server might hand back,
/// each aimed at `port`.
fn loopback_spellings(port: u16) -> Vec<String> {
    let mut hrefs: Vec<String> = [
        "127.0.0.1",
        "2130706433",
        "127.1",
        "0x7f.0.0.1",
        "0177.0.0.1",
        "127.0.0.1.",
        "[::ffff:127.0.0.1]",
        "[::1]",
        "localhost",
        "0",
    ]
    .iter()
    .map(|host| format!("http://{host}:{port}/dav/"))
    .collect();
    hrefs.push("http://169.254.169.254/latest/".into());
    hrefs.push("http://[fe80::1]/dav/".into());
    hrefs
}

/// A TCP listener that only counts who connects: it stands behind the refused addresses.
struct Recorder {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

impl Recorder {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Self { addr, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// How the hostile CalDAV server misbehaves.
#[derive(Clone, Debug)]
enum Hostile {
    /// Every answer: 207 with a small gzip body that decodes to 256 MiB.
    GzipBomb,
    /// Every answer: 207 with a chunked body that never ends.
    Endless,
    /// Every answer: 207 with a body of one byte a second.
    Drip,
    /// Every request is redirected to itself.
    RedirectLoop,
    /// A well-formed account with this many calendars.
    Calendars(usize),
    /// A well-formed account whose principal, calendar home or calendar lives at these hrefs.
    Hrefs { principal: String, home: String, calendar: String },
    /// Every answer: this status, with this `Retry-After`.
    AskingToWait { status: u16, retry_after: &'static str },
    /// A well-formed account without `sync-collection` whose calendar holds this many
    /// resources, each an hourly series with no end.
    HeavyResources(usize),
}

/// A CalDAV server on loopback, answering as `Hostile` says; it counts the requests it got.
struct HostileServer {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    behaviour: Arc<Mutex<Hostile>>,
}

impl HostileServer {
    async fn start(behaviour: Hostile) -> Self {
        let requests = Arc::new(AtomicUsize::new(0));
        let behaviour = Arc::new(Mutex::new(behaviour));
        let (counted, shared) = (requests.clone(), behaviour.clone());
        let app =
            Router::new().fallback(move |headers: HeaderMap, uri: axum::http::Uri, body: Bytes| {
                counted.fetch_add(1, Ordering::SeqCst);
                let now = shared.lock().unwrap().clone();
                async move { answer(&now, &headers, uri.path(), &body) }
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, requests, behaviour }
    }

    /// From now on, answers as `behaviour` says (a server that turns hostile after connecting).
    fn turn(&self, behaviour: Hostile) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    fn url(&self) -> String {
        format!("http://{}/dav/", self.addr)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn answer(behaviour: &Hostile, _headers: &HeaderMap, path: &str, body: &[u8]) -> Response {
    let multistatus = |status: u16| {
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "application/xml; charset=utf-8")
    };
    match behaviour {
        Hostile::GzipBomb => multistatus(207)
            .header(header::CONTENT_ENCODING, "gzip")
            .body(Body::from(gzip_bomb()))
            .unwrap(),
        Hostile::Endless => {
            let chunk = Bytes::from(vec![b' '; 64 * 1024]);
            let stream =
                futures::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
            multistatus(207).body(Body::from_stream(stream)).unwrap()
        }
        Hostile::Drip => {
            let stream = futures::stream::unfold((), |()| async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Some((Ok::<_, std::io::Error>(Bytes::from_static(b" ")), ()))
            });
            multistatus(207).body(Body::from_stream(stream)).unwrap()
        }
        Hostile::AskingToWait { status, retry_after } => Response::builder()
            .status(*status)
            .header(header::RETRY_AFTER, *retry_after)
            .body(Body::from("slow down"))
            .unwrap(),
        Hostile::RedirectLoop => {
            (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, path.to_owned())]).into_response()
        }
        Hostile::Calendars(count) => {
            let hrefs = Hostile::Hrefs {
                principal: "/principal/".into(),
                home: "/home/".into(),
                calendar: String::new(),
            };
            let text = String::from_utf8_lossy(body);
            if text.contains("resourcetype") && !text.contains("calendar-home-set") {
                let calendars = (0..*count).map(|n| format!("/home/c{n}/")).collect::<Vec<_>>();
                return multistatus(207).body(Body::from(calendars_xml(&calendars))).unwrap();
            }
            answer(&hrefs, _headers, path, body)
        }
        Hostile::HeavyResources(count) => {
            let text = String::from_utf8_lossy(body);
            let hrefs = (0..*count).map(|n| format!("/home/work/h{n}.ics"));
            if text.contains("sync-collection") {
                return StatusCode::FORBIDDEN.into_response();
            }
            if text.contains("calendar-query") || text.contains("calendar-multiget") {
                let data = text.contains("calendar-multiget");
                return multistatus(207).body(Body::from(resources_xml(hrefs, data))).unwrap();
            }
            let account = Hostile::Hrefs {
                principal: "/principal/".into(),
                home: "/home/".into(),
                calendar: "/home/work/".into(),
            };
            answer(&account, _headers, path, body)
        }
        Hostile::Hrefs { principal, home, calendar } => {
            let text = String::from_utf8_lossy(body);
            let xml = if text.contains("current-user-principal") {
                prop_xml(
                    path,
                    &format!(
                        "<d:current-user-principal><d:href>{principal}</d:href></d:current-user-principal>"
                    ),
                )
            } else if text.contains("calendar-home-set") {
                prop_xml(
                    path,
                    &format!("<c:calendar-home-set><d:href>{home}</d:href></c:calendar-home-set>"),
                )
            } else if text.contains("supported-calendar-component-set") {
                prop_xml(
                    path,
                    "<c:supported-calendar-component-set><c:comp name=\"VEVENT\"/></c:supported-calendar-component-set>",
                )
            } else {
                calendars_xml(std::slice::from_ref(calendar))
            };
            multistatus(207).body(Body::from(xml)).unwrap()
        }
    }
}

fn prop_xml(href: &str, prop: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:response><d:href>{href}</d:href><d:propstat><d:prop>{prop}</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"#
    )
}

fn calendars_xml(hrefs: &[String]) -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="utf-8"?><d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">"#,
    );
    for href in hrefs {
        xml.push_str(&format!(
            "<d:response><d:href>{href}</d:href><d:propstat><d:prop><d:resourcetype><d:collection/><c:calendar/></d:resourcetype><d:displayname>Work</d:displayname></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
        ));
    }
    xml.push_str("</d:multistatus>");
    xml
}

/// A multistatus naming each resource with its ETag and, with `data`, its content: an hourly
/// series with no end (a few hundred occurrences in a month's window).
fn resources_xml(hrefs: impl Iterator<Item = String>, data: bool) -> String {
    let series = "BEGIN:VCALENDAR&#13;\nVERSION:2.0&#13;\nBEGIN:VEVENT&#13;\nUID:{uid}&#13;\n\
        DTSTART:20200101T000000Z&#13;\nDTEND:20200101T003000Z&#13;\nRRULE:FREQ=HOURLY&#13;\n\
        SUMMARY:Busy&#13;\nEND:VEVENT&#13;\nEND:VCALENDAR&#13;\n";
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="utf-8"?><d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">"#,
    );
    for href in hrefs {
        let content = match data {
            true => {
                format!("<c:calendar-data>{}</c:calendar-data>", series.replace("{uid}", &href))
            }
            false => "<d:resourcetype/>".to_owned(),
        };
        xml.push_str(&format!(
            "<d:response><d:href>{href}</d:href><d:propstat><d:prop><d:getetag>\"1\"</d:getetag>{content}</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
        ));
    }
    xml.push_str("</d:multistatus>");
    xml
}

/// A gzip body of about 250 KiB that decodes to 256 MiB of zeros (made once per test binary).
fn gzip_bomb() -> Bytes {
    static BOMB: OnceLock<Bytes> = OnceLock::new();
    BOMB.get_or_init(|| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1024 * 1024];
        for _ in 0..256 {
            encoder.write_all(&zeros).unwrap();
        }
        Bytes::from(encoder.finish().unwrap())
    })
    .clone()
}

/// A CalDAV client allowed to reach `allowed` only, as an operator allows one intranet server.
fn client_allowing(allowed: &[SocketAddr], timeout: Duration) -> CaldavCalendar {
    let policy = AddressPolicy {
        allow_private_networks: false,
        allowed: AllowedAddresses::sockets(allowed.iter().copied()),
    };
    CaldavCalendar::new(timeout, policy).unwrap()
}

#[tokio::test]
async fn a_caldav_gzip_bomb_is_refused_at_the_answer_limit() {
    let server = HostileServer::start(Hostile::GzipBomb).await;
    let client = client_allowing(&[server.addr], Duration::from_secs(30));
    let refused = client.discover(&server.url(), "ann", "pw").await.unwrap_err();
    assert!(matches!(refused, DiscoveryError::Refused(_)), "{refused:?}");
    // Read up to the limit and dropped (what that costs a process is measured on its own, in
    // `kalends_serve_stays_small_while_caldav_servers_send_bombs_and_endless_bodies`).
    assert!(refused.to_string().contains("larger than 10 MiB"), "{refused}");
}

#[tokio::test]
async fn an_endless_caldav_answer_is_cut_off_at_the_answer_limit() {
    let server = HostileServer::start(Hostile::Endless).await;
    let client = client_allowing(&[server.addr], Duration::from_secs(30));
    let refused = client.discover(&server.url(), "ann", "pw").await.unwrap_err();
    assert!(refused.to_string().contains("larger than 10 MiB"), "{refused}");
}

#[tokio::test]
async fn a_caldav_answer_that_drips_ends_at_the_time_limit() {
    let server = HostileServer::start(Hostile::Drip).await;
    let client = client_allowing(&[server.addr], Duration::from_secs(2));
    let started = std::time::Instant::now();
    let refused = client.discover(&server.url(), "ann", "pw").await.unwrap_err();
    assert!(matches!(refused, DiscoveryError::Unreachable(_)), "{refused:?}");
    // Two requests at most (the address given, then /.well-known/caldav), 2 s each.
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_caldav_redirect_loop_ends_after_five_redirects() {
    let server = HostileServer::start(Hostile::RedirectLoop).await;
    let client = client_allowing(&[server.addr], Duration::from_secs(10));
    let refused = client.discover(&server.url(), "ann", "pw").await.unwrap_err();
    assert!(refused.to_string().contains("redirected more than 5 times"), "{refused}");
    assert!(server.requests() <= 12, "{} requests", server.requests());
}

/// A connected CalDAV server that throttles (429) or is down for maintenance (503) and says for
/// how long: listing, writing and deleting fail for the moment with the wait it asked for, so the
/// retry comes no sooner. And a first listing it refused so is not taken for a server without
/// `sync-collection`, which would have Kalends list the whole calendar at every import after.
#[tokio::test]
async fn a_caldav_server_that_asks_to_wait_is_asked_again_no_sooner_than_it_said() {
    use kalends_providers::calendar::{AccessToken, Window};
    for (status, retry_after, wait) in [(429, "120", 120), (503, "3600", 3600)] {
        let server = HostileServer::start(Hostile::Hrefs {
            principal: "/principal/".into(),
            home: "/home/".into(),
            calendar: "/home/work/".into(),
        })
        .await;
        let client = client_allowing(&[server.addr], Duration::from_secs(5));
        let found = client.discover(&server.url(), "ann", "pw").await.unwrap();
        let token = AccessToken::from(found.account.to_secret());
        let calendar = found.calendars[0].id.clone();
        server.turn(Hostile::AskingToWait { status, retry_after });
        let now = chrono::Utc::now();
        let window = Window { start: now, end: now + chrono::Duration::days(30) };
        let before = server.requests();
        let listed = client.changes(&token, &calendar, None, window, Zone::UTC).await;
        assert_eq!(server.requests() - before, 1, "{status}: no time-range query after it");
        let written = client
            .upsert_event(&token, &calendar, &crate::caldav_servers::draft(1, 9), None, None)
            .await
            .map(|_| ());
        let deleted =
            client.delete_event(&token, &calendar, "x.ics", Some("\"1\"")).await.map(|_| ());
        for (what, answer) in
            [("listing", listed.map(|_| ())), ("write", written), ("delete", deleted)]
        {
            let error = answer.expect_err(what);
            assert!(error.is_retryable(), "{status} {what}: {error:?}");
            let asked = Some(Duration::from_secs(wait));
            assert_eq!(error.retry_after(), asked, "{status} {what}: {error:?}");
            assert!(error.to_string().contains("asked to wait"), "{status} {what}: {error}");
        }
    }
}

/// A calendar of two hundred resources, each an hourly series with no end: each one is cheap to
/// read, all of them together more than the listing's budget. The listing fails at once, saying
/// why, and the worker is not held reading two hundred budgets' worth; the reconciliation, which
/// reads Kalends' own resources only, is not held up by them.
#[tokio::test]
async fn a_caldav_calendar_of_many_heavy_series_fails_its_listing_within_one_budget() {
    use kalends_providers::calendar::{AccessToken, Window};
    let server = HostileServer::start(Hostile::HeavyResources(200)).await;
    let client = client_allowing(&[server.addr], Duration::from_secs(30)).with_max_work(50_000);
    let found = client.discover(&server.url(), "ann", "pw").await.unwrap();
    let token = AccessToken::from(found.account.to_secret());
    let now = chrono::Utc::now();
    let window = Window { start: now, end: now + chrono::Duration::days(30) };
    let calendar = &found.calendars[0].id;
    let refused = client.changes(&token, calendar, None, window, Zone::UTC).await.unwrap_err();
    assert!(!refused.is_retryable(), "{refused:?}");
    assert!(refused.to_string().contains("50000 steps, import.max_work_steps"), "{refused}");
    // Reconciling reads Kalends' own resources only: the staff member's series cost nothing.
    let own = client.list_kalends_events(&token, calendar, window).await.unwrap();
    assert!(own.is_empty(), "{own:?}");
}

#[tokio::test]
async fn an_account_with_ten_thousand_calendars_is_refused_without_asking_about_each() {
    let server = HostileServer::start(Hostile::Calendars(10_000)).await;
    let client = client_allowing(&[server.addr], Duration::from_secs(30));
    let refused = client.discover(&server.url(), "ann", "pw").await.unwrap_err();
    assert!(refused.to_string().contains("more than 200 calendars"), "{refused}");
    assert!(server.requests() < 10, "{} requests", server.requests());
}

#[tokio::test]
async fn a_home_set_on_any_spelling_of_loopback_or_link_local_is_refused_and_never_reached() {
    let recorder = Recorder::start().await;
    for home in loopback_spellings(recorder.addr.port()) {
        let server = HostileServer::start(Hostile::Hrefs {
            principal: "/principal/".into(),
            home: home.clone(),
            calendar: "/home/work/".into(),
        })
        .await;
        let client = client_allowing(&[server.addr], Duration::from_secs(5));
        let refused = client.discover(&server.url(), "ann", "pw").await.unwrap_err();
        assert!(matches!(refused, DiscoveryError::Refused(_)), "{home}: {refused:?}");
        assert!(refused.to_string().contains("private network"), "{home}: {refused}");
        assert!(!refused.to_string().contains("127.0.0.1"), "{home}: {refused}");
    }
    assert_eq!(recorder.connections(), 0, "a refused address was reached");
}

#[tokio::test]
async fn a_calendar_listed_on_any_spelling_of_loopback_is_refused_before_it_is_stored() {
    let recorder = Recorder::start().await;
    for calendar in loopback_spellings(recorder.addr.port()) {
        let server = HostileServer::start(Hostile::Hrefs {
            principal: "/principal/".into(),
            home: "/home/".into(),
            calendar: calendar.clone(),
        })
        .await;
        let client = client_allowing(&[server.addr], Duration::from_secs(5));
        let refused = client.discover(&server.url(), "ann", "pw").await.unwrap_err();
        assert!(refused.to_string().contains("private network"), "{calendar}: {refused}");
    }
    assert_eq!(recorder.connections(), 0, "a refused address was reached");
}

#[tokio::test]
async fn the_allowed_caldav_address_works_while_every_other_port_and_spelling_is_refused() {
    // `import.allowed_addresses = 127.0.0.1:PORT`: the first hop there works, an href the
    // server hands back to another port of loopback does not.
    let recorder = Recorder::start().await;
    let good = HostileServer::start(Hostile::Hrefs {
        principal: "/principal/".into(),
        home: "/home/".into(),
        calendar: "/home/work/".into(),
    })
    .await;
    let client = client_allowing(&[good.addr], Duration::from_secs(5));
    let found = client.discover(&good.url(), "ann", "pw").await.unwrap();
    assert_eq!(found.calendars.len(), 1);
    assert!(found.calendars[0].id.starts_with(&format!("http://{}/", good.addr)));
    let moved = format!("http://127.0.0.1:{}/home/", recorder.addr.port());
    let hostile = HostileServer::start(Hostile::Hrefs {
        principal: "/principal/".into(),
        home: moved,
        calendar: "/home/work/".into(),
    })
    .await;
    let client = client_allowing(&[hostile.addr], Duration::from_secs(5));
    assert!(client.discover(&hostile.url(), "ann", "pw").await.is_err());
    assert_eq!(recorder.connections(), 0);
}

#[tokio::test]
async fn a_feed_redirect_to_kalends_own_address_is_refused() {
    // The embedded default may read its own address (its demo imports its sandbox's export)
    // as the URL a tenant registered, never because an outside server redirected there.
    let recorder = Recorder::start().await;
    let own = recorder.addr;
    let redirecting = {
        let app = Router::new().fallback(move || async move {
            (StatusCode::FOUND, [(header::LOCATION, format!("http://{own}/metrics"))])
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    };
    let policy = FetchPolicy {
        allowed: AllowedAddresses::sockets([redirecting]),
        own_address: Some(own),
        ..FetchPolicy::default()
    };
    let fetcher = Fetcher::new(policy).unwrap();
    let url = reqwest::Url::parse(&format!("http://{redirecting}/feed.ics")).unwrap();
    let error = fetcher.fetch(&url, &Validators::default()).await.unwrap_err();
    assert!(matches!(error, FetchError::ForbiddenAddress { .. }), "{error:?}");
    assert_eq!(recorder.connections(), 0);
}

/// An app that lets CalDAV reach `server` only (`import.allowed_addresses`), and a staff member
/// signed in to their settings page.
async fn form_for(db: Db, server: &HostileServer) -> (TestApp, Staff) {
    let allowed = server.addr.to_string();
    let app = TestApp::start_public_with(db, |config| {
        config.import.allowed_addresses = allowed.parse().unwrap();
    })
    .await;
    let staff = staff(&app).await;
    (app, staff)
}

async fn a_caldav_gzip_bomb_on_the_form_is_refused_in_place_and_nothing_is_stored(db: Db) {
    let server = HostileServer::start(Hostile::GzipBomb).await;
    let (app, staff) = form_for(db, &server).await;
    let (status, page) = staff.connect(&app, &server.url(), "app-password").await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("larger than 10 MiB"), "{page}");
    assert!(!page.contains("app-password"), "the password is never shown again");
    assert!(staff.connections(&app).await.is_empty());
}

async fn a_caldav_home_on_a_refused_address_is_refused_in_place_and_nothing_is_stored(db: Db) {
    let recorder = Recorder::start().await;
    let server = HostileServer::start(Hostile::Hrefs {
        principal: "/principal/".into(),
        home: format!("http://0x7f.1:{}/home/", recorder.addr.port()),
        calendar: "/home/work/".into(),
    })
    .await;
    let (app, staff) = form_for(db, &server).await;
    let (status, page) = staff.connect(&app, &server.url(), "app-password").await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("private network"), "{page}");
    assert!(!page.contains(&recorder.addr.port().to_string()), "no address echoed: {page}");
    assert!(staff.connections(&app).await.is_empty());
    assert_eq!(recorder.connections(), 0);
}

async fn a_webhook_endpoint_on_an_allowed_address_is_accepted_and_any_other_spelling_refused(
    db: Db,
) {
    let recorder = Recorder::start().await;
    let allowed = "127.0.0.1:9";
    let app = TestApp::start_public_with(db, |config| {
        config.webhooks.allowed_addresses = allowed.parse().unwrap();
    })
    .await;
    let (_, key) = app.tenant().await;
    let create = |url: String| {
        let body = serde_json::json!({"url": url, "event_types": ["booking.synced"]});
        let (app, key) = (&app, &key);
        async move { app.call("POST", "/api/v1/webhook-endpoints", key, Some(body)).await }
    };
    let (status, body) = create(format!("http://{allowed}/hook")).await;
    assert_eq!(status, 201, "{body}");
    let mut refused = loopback_spellings(recorder.addr.port());
    // Another port of the allowed address, spelled otherwise.
    refused.push("http://2130706433:10/hook".into());
    for url in refused {
        let (status, body) = create(url.clone()).await;
        assert_eq!(status, 422, "{url}: {body}");
        assert_eq!(body["errors"][0]["field"], "url", "{url}: {body}");
    }
    assert_eq!(recorder.connections(), 0);
}

/// `VmRSS` or `VmHWM` (the peak) of process `pid`, in bytes.
fn memory_of(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|line| line.starts_with(field)).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// A staff member of a running `kalends` at `base`, signed in to their settings page through
/// the API (as the host booking system does it): the API key, the browser and its CSRF token.
struct RemoteStaff {
    base: String,
    key: String,
    browser: reqwest::Client,
    csrf: String,
}

impl RemoteStaff {
    async fn sign_in(base: &str, key: &str) -> Self {
        let api = crate::helpers::client().build().unwrap();
        let staff = api.post(format!("{base}/api/v1/staff")).bearer_auth(key);
        let created = json_of(staff.json(&serde_json::json!({"name": "Ann Lee"}))).await;
        let id = created["id"].as_str().unwrap();
        let link_of = api.post(format!("{base}/api/v1/staff/{id}/settings-link")).bearer_auth(key);
        let link = json_of(link_of).await;
        let browser = crate::helpers::client()
            .cookie_provider(Arc::new(reqwest::cookie::Jar::default()))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        browser.get(link["url"].as_str().unwrap()).send().await.unwrap();
        let page =
            browser.get(format!("{base}/settings")).send().await.unwrap().text().await.unwrap();
        let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap();
        Self { base: base.to_owned(), key: key.to_owned(), browser, csrf: csrf.to_owned() }
    }

    /// Sends the CalDAV form for `server`: (status, page).
    async fn connect(&self, server: &HostileServer) -> (u16, String) {
        let form = [
            ("csrf", self.csrf.as_str()),
            ("kind", "caldav"),
            ("server_url", &server.url()),
            ("username", "ann"),
            ("password", "app-password"),
        ];
        let url = format!("{}/settings/connect/caldav", self.base);
        let answer = self.browser.post(url).form(&form).send().await.unwrap();
        (answer.status().as_u16(), answer.text().await.unwrap())
    }

    /// A call of the JSON API with the tenant's key: its answer's body.
    async fn api(&self, method: reqwest::Method, path: &str) -> serde_json::Value {
        let url = format!("{}/api/v1/{path}", self.base);
        json_of(
            crate::helpers::client().build().unwrap().request(method, url).bearer_auth(&self.key),
        )
        .await
    }
}

/// Sends `request` and reads its answer as JSON (`null` when it has none).
async fn json_of(request: reqwest::RequestBuilder) -> serde_json::Value {
    request.send().await.unwrap().json().await.unwrap_or_default()
}

/// Creates a tenant with the CLI (`with` sets the process's database and queue): its API key.
async fn tenant_key(command: tokio::process::Command) -> String {
    let mut command = command;
    let created = command
        .args(["tenant", "create", "--name", "Sea Breeze", "--timezone", "UTC", "--json"])
        .output()
        .await
        .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    created["api_key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn kalends_serve_stays_small_while_caldav_servers_send_bombs_and_endless_bodies() {
    use crate::helpers::TempDir;
    use crate::process::{free_port, kalends, terminate, wait_ready};

    let servers = [
        HostileServer::start(Hostile::GzipBomb).await,
        HostileServer::start(Hostile::Endless).await,
    ];
    let allowed: Vec<String> = servers.iter().map(|s| s.addr.to_string()).collect();
    let (dir, port) = (TempDir::new(), free_port());
    let key = tenant_key(kalends(&dir, port)).await;
    let child = kalends(&dir, port)
        .args(["serve", "--no-demo"])
        .env("KALENDS_IMPORT__ALLOWED_ADDRESSES", allowed.join(","))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    wait_ready(port).await;
    let staff = RemoteStaff::sign_in(&format!("http://127.0.0.1:{port}"), &key).await;
    let idle = memory_of(pid, "VmRSS:");
    for server in &servers {
        let (status, page) = staff.connect(server).await;
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("larger than 10 MiB"), "{page}");
    }
    let grown = memory_of(pid, "VmHWM:").saturating_sub(idle);
    assert!(grown < 100 * 1024 * 1024, "the process grew by {} MiB", grown / (1024 * 1024));
    let connections = staff.api(reqwest::Method::GET, "connections").await;
    assert_eq!(connections["items"].as_array().unwrap().len(), 0, "{connections}");
    assert!(terminate(child).await.success());
}

#[tokio::test]
#[ignore = "needs PostgreSQL and Redis: run scripts/test"]
async fn a_separate_worker_stays_small_when_a_connected_caldav_server_turns_into_a_gzip_bomb() {
    use crate::helpers::{TempDir, eventually, postgres_database, redis_url};
    use crate::process::{free_port, kalends, terminate, wait_ready};

    let server = HostileServer::start(Hostile::Hrefs {
        principal: "/principal/".into(),
        home: "/home/".into(),
        calendar: "/home/work/".into(),
    })
    .await;
    let (dir, database_url) = (TempDir::new(), postgres_database().await);
    let queue = format!("kalends-hostile-{}", uuid::Uuid::now_v7().simple());
    let (port, ops_port) = (free_port(), free_port());
    let with_env = |port: u16| {
        let mut command = kalends(&dir, port);
        command
            .env("KALENDS_DATABASE_URL", &database_url)
            .env("KALENDS_REDIS_URL", redis_url())
            .env("KALENDS_JOBS__QUEUE", &queue)
            .env("KALENDS_IMPORT__ALLOWED_ADDRESSES", server.addr.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        command
    };
    let key = tenant_key(with_env(port)).await;
    let api = with_env(port).args(["serve", "--role", "api"]).spawn().unwrap();
    let mut worker = with_env(port);
    worker.env("KALENDS_OPS_LISTEN", format!("127.0.0.1:{ops_port}"));
    let worker = worker.args(["serve", "--role", "worker"]).spawn().unwrap();
    let worker_pid = worker.id().unwrap();
    wait_ready(port).await;
    wait_ready(ops_port).await;
    let staff = RemoteStaff::sign_in(&format!("http://127.0.0.1:{port}"), &key).await;
    let (status, page) = staff.connect(&server).await;
    assert_eq!(status, 303, "{page}");
    let connections = staff.api(reqwest::Method::GET, "connections").await;
    let id = connections["items"][0]["id"].as_str().unwrap().to_owned();
    server.turn(Hostile::GzipBomb);
    let idle = memory_of(worker_pid, "VmRSS:");
    staff.api(reqwest::Method::POST, &format!("connections/{id}/sync")).await;
    let error = eventually(Duration::from_secs(30), || async {
        let connection = staff.api(reqwest::Method::GET, &format!("connections/{id}")).await;
        let error = connection["last_error"].as_str()?.to_owned();
        error.contains("larger than 10 MiB").then_some(error)
    })
    .await;
    assert!(!error.contains(&server.addr.to_string()), "{error}");
    let grown = memory_of(worker_pid, "VmHWM:").saturating_sub(idle);
    assert!(grown < 100 * 1024 * 1024, "the worker grew by {} MiB", grown / (1024 * 1024));
    assert!(terminate(api).await.success());
    assert!(terminate(worker).await.success());
}

async fn a_connected_caldav_server_that_turns_into_a_gzip_bomb_shows_in_the_connections_status(
    db: Db,
) {
    let server = HostileServer::start(Hostile::Hrefs {
        principal: "/principal/".into(),
        home: "/home/".into(),
        calendar: "/home/work/".into(),
    })
    .await;
    let (app, staff) = form_for(db, &server).await;
    let (status, page) = staff.connect(&app, &server.url(), "app-password").await;
    assert_eq!(status, 303, "{page}");
    app.settle().await;
    let connection = staff.connections(&app).await.remove(0);
    server.turn(Hostile::GzipBomb);
    let api = app.api(&staff.key);
    api.sync_connection(connection.id).await.unwrap();
    let error = crate::helpers::eventually(Duration::from_secs(20), || async {
        let now = api.connection(connection.id).await.ok()?;
        now.last_error.filter(|error| error.contains("larger than 10 MiB"))
    })
    .await;
    assert!(!error.contains(&server.addr.to_string()), "{error}");
}

async fn a_webhook_endpoint_answering_a_gzip_bomb_or_an_endless_body_is_logged_by_its_first_kilobyte(
    db: Db,
) {
    let servers = [
        HostileServer::start(Hostile::GzipBomb).await,
        HostileServer::start(Hostile::Endless).await,
    ];
    let allowed: Vec<String> = servers.iter().map(|s| s.addr.to_string()).collect();
    let app = TestApp::start_public_with(db, |config| {
        config.webhooks.allowed_addresses = allowed.join(",").parse().unwrap();
    })
    .await;
    let (_, key) = app.tenant().await;
    for server in &servers {
        let endpoint = serde_json::json!({"url": server.url(), "event_types": ["webhook.test"]});
        let (status, created) =
            app.call("POST", "/api/v1/webhook-endpoints", &key, Some(endpoint)).await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().unwrap();
        let test = format!("/api/v1/webhook-endpoints/{id}/test");
        assert_eq!(app.call("POST", &test, &key, None).await.0, 202);
        let log = format!("/api/v1/webhook-endpoints/{id}/deliveries");
        let deliveries = crate::helpers::eventually(Duration::from_secs(90), || async {
            let (_, deliveries) = app.call("GET", &log, &key, None).await;
            (deliveries["items"][0]["status"] != "pending").then_some(deliveries)
        })
        .await;
        let attempt = &deliveries["items"][0]["attempts"][0];
        // The endpoint answered 207: delivered, and only the first kilobyte of its body read.
        assert_eq!(deliveries["items"][0]["status"], "succeeded", "{deliveries}");
        let excerpt = attempt["response_excerpt"].as_str().unwrap_or_default();
        assert!(excerpt.len() <= 1024 * 3, "{} bytes kept", excerpt.len());
        // A gzip bomb's zeros are kept as nothing (PostgreSQL refused the NULs before).
        assert!(!excerpt.contains('\0'), "{excerpt:?}");
    }
}
