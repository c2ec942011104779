//! The public HTTP surface under abuse: bounded metrics labels, operations endpoints kept off the
//! public listener, slow and greedy clients, clients behind reverse proxies.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kalends::app::{self, Role};
use kalends_core::Config;
use kalends_core::config::ProxyHeader;
use secrecy::SecretString;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{Db, TempDir, TestApp, booking_in, config, on_both_databases};
use crate::process::free_port;

// A body read slowly is bounded by the request timeout layer (`http.request_timeout_secs`),
// through this accept loop too: `hardening_crash::a_request_whose_body_never_finishes_is_answered_408`.
on_both_databases!(
    five_hundred_trickling_connections_stop_neither_healthz_nor_a_booking_and_are_closed,
);

/// The methods a metrics label may name.
const KNOWN_METHODS: &[&str] =
    &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", "OTHER"];

/// Starts every role on SQLite with `tweak` applied to the test configuration.
async fn start(tweak: impl FnOnce(&mut Config)) -> TestApp {
    start_on(Db::Sqlite, tweak).await
}

async fn start_on(db: Db, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let dir = TempDir::new();
    let mut config = config(db, &dir).await;
    tweak(&mut config);
    TestApp::start_with(config, dir).await
}

/// The series of an exposition: each sample line without its value.
fn series(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| line.rsplit_once(' ').map(|(series, _)| series.to_owned()))
        .collect()
}

/// The `method` labels of the HTTP series.
fn methods(series: &BTreeSet<String>) -> BTreeSet<String> {
    series
        .iter()
        .filter(|s| s.starts_with("kalends_http_"))
        .filter_map(|s| s.split_once("method=\"").and_then(|(_, rest)| rest.split_once('"')))
        .map(|(method, _)| method.to_owned())
        .collect()
}

#[tokio::test]
async fn ten_thousand_made_up_methods_add_no_metrics_series() {
    let app = start(|_| {}).await;
    let made_up = |i: u32| reqwest::Method::from_bytes(format!("XQ{i:05}").as_bytes()).unwrap();
    let send = |method: reqwest::Method, path: String| {
        let request = app.http.request(method, app.url(&path));
        async move { request.send().await.unwrap().status() }
    };
    // One made-up method first, so that whatever series it makes exist before counting.
    send(made_up(99_999), "/made-up/first".into()).await;
    send(made_up(99_998), "/healthz".into()).await;
    let metrics = || async { app.http.get(app.url("/metrics")).send().await.unwrap().text().await };
    let before = series(&metrics().await.unwrap());
    for chunk in (0..10_000u32).collect::<Vec<_>>().chunks(100) {
        let sends = chunk.iter().map(|&i| {
            let path = if i % 2 == 0 { format!("/made-up/{i}") } else { "/healthz".to_owned() };
            send(made_up(i), path)
        });
        futures::future::join_all(sends).await;
    }
    let after = series(&metrics().await.unwrap());
    let ours = |set: &BTreeSet<String>| -> BTreeSet<String> {
        set.iter().filter(|s| s.contains("method=\"OTHER\"")).cloned().collect()
    };
    assert_eq!(ours(&after).len(), ours(&before).len(), "the made-up methods made new series");
    let unknown: Vec<String> =
        methods(&after).into_iter().filter(|m| !KNOWN_METHODS.contains(&m.as_str())).collect();
    let first: Vec<_> = unknown.iter().take(3).collect();
    assert!(unknown.is_empty(), "{} method labels outside the known set: {first:?}", unknown.len());
    assert!(!after.iter().any(|s| s.contains("/made-up/")), "a raw path became a label");
    app.stop().await;
}

#[tokio::test]
async fn with_an_ops_listener_metrics_and_readiness_details_are_served_only_there() {
    let ops = format!("127.0.0.1:{}", free_port());
    let app = start(|config| config.ops_listen = Some(ops.clone())).await;
    let get = |url: String| {
        let request = app.http.get(url);
        async move { request.send().await.unwrap() }
    };
    assert_eq!(get(app.url("/metrics")).await.status(), 404, "public /metrics");
    let public = get(app.url("/readyz")).await;
    assert_eq!(public.status(), 200);
    let public: Value = public.json().await.unwrap();
    assert_eq!(public, serde_json::json!({"status": "ready"}), "no details in public");
    assert_eq!(get(app.url("/healthz")).await.status(), 200);

    let ops_url = |path: &str| format!("http://{ops}{path}");
    let metrics = get(ops_url("/metrics")).await;
    assert_eq!(metrics.status(), 200);
    assert!(metrics.text().await.unwrap().contains("kalends_http_requests_total"));
    let ready: Value = get(ops_url("/readyz")).await.json().await.unwrap();
    assert_eq!((ready["database"].as_str(), ready["queue"].as_str()), (Some("ok"), Some("ok")));
    assert_eq!(get(ops_url("/healthz")).await.status(), 200);
    assert_eq!(get(ops_url("/api/v1/bookings")).await.status(), 404, "the API is not on ops");
    app.stop().await;
}

#[tokio::test]
async fn the_api_and_worker_roles_serve_metrics_on_the_ops_listener_too() {
    for role in [Role::Api, Role::Worker] {
        let dir = TempDir::new();
        let mut config = config(Db::Sqlite, &dir).await;
        let ops = format!("127.0.0.1:{}", free_port());
        config.ops_listen = Some(ops.clone());
        let (store, queue) = app::connect(&config).await.unwrap();
        let running = app::start(config, role, store, queue).await.unwrap();
        assert_eq!(running.ops_addr.map(|a| a.to_string()), Some(ops.clone()), "{role:?}");
        let http = crate::helpers::client().build().unwrap();
        let metrics = http.get(format!("http://{ops}/metrics")).send().await.unwrap();
        assert_eq!(metrics.status(), 200, "{role:?}");
        let ready: Value =
            http.get(format!("http://{ops}/readyz")).send().await.unwrap().json().await.unwrap();
        assert_eq!(ready["database"], "ok", "{role:?}");
        if role == Role::Api {
            let public = format!("http://{}/metrics", running.addr.unwrap());
            assert_eq!(http.get(public).send().await.unwrap().status(), 404);
        }
        running.stop().await.unwrap();
    }
}

#[tokio::test]
async fn without_an_ops_listener_metrics_ask_for_the_metrics_token() {
    let token = "a-metrics-token-of-some-length";
    let app = start(|config| config.metrics_token = Some(SecretString::from(token))).await;
    let metrics = |bearer: Option<&str>| {
        let mut request = app.http.get(app.url("/metrics"));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(metrics(None).await, 401);
    assert_eq!(metrics(Some("a-metrics-token-of-some-lengtx")).await, 401);
    assert_eq!(metrics(Some("a-metrics")).await, 401);
    assert_eq!(metrics(Some(token)).await, 200);
    assert_eq!(app.http.get(app.url("/healthz")).send().await.unwrap().status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn in_production_without_an_ops_listener_or_a_token_metrics_are_not_served() {
    let app = start(|config| {
        config.profile = Some("production".into());
        config.public_url = "https://kalends.example".into();
        config.secret_key =
            Some(SecretString::from("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
    })
    .await;
    assert_eq!(app.http.get(app.url("/metrics")).send().await.unwrap().status(), 404);
    assert_eq!(app.http.get(app.url("/healthz")).send().await.unwrap().status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn in_production_start_up_says_how_to_enable_metrics_when_nothing_serves_them() {
    use tokio::io::AsyncBufReadExt as _;
    let dir = TempDir::new();
    let port = free_port();
    let mut child = crate::process::kalends(&dir, port)
        .env("KALENDS_PROFILE", "production")
        .env("KALENDS_PUBLIC_URL", "https://kalends.example")
        .env("KALENDS_SECRET_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        .env("KALENDS_DEMO_TENANT", "false")
        .arg("serve")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let warning = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("/metrics") {
                return line;
            }
        }
        panic!("stderr ended without a word on /metrics");
    });
    let warning = warning.await.expect("a warning within 30 s");
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("KALENDS_OPS_LISTEN") && warning.contains("KALENDS_METRICS_TOKEN"));
    crate::process::wait_ready(port).await;
    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap();
    assert_eq!(metrics.status(), 404);
    child.kill().await.unwrap();
}

/// What became of a connection that sends its request head one byte at a time.
async fn trickle(addr: String, every: Duration, give_up: Instant) -> Option<Instant> {
    let head = b"GET /healthz HTTP/1.1\r\nHost: kalends.example\r\n\r\n";
    let mut stream = TcpStream::connect(&addr).await.ok()?;
    let mut buf = [0u8; 256];
    for byte in head {
        if stream.write_all(&[*byte]).await.is_err() {
            return Some(Instant::now());
        }
        match tokio::time::timeout(every, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return Some(Instant::now()),
            Ok(Ok(_)) => panic!("a trickled head was answered"),
            Err(_) if Instant::now() > give_up => return None,
            Err(_) => {}
        }
    }
    None
}

async fn five_hundred_trickling_connections_stop_neither_healthz_nor_a_booking_and_are_closed(
    db: Db,
) {
    let app = start_on(db, |_| {}).await;
    let (_, key) = app.tenant().await;
    let started = Instant::now();
    let give_up = started + Duration::from_secs(25);
    let addr = app.base.trim_start_matches("http://").to_owned();
    let slow: Vec<_> = (0..500)
        .map(|_| tokio::spawn(trickle(addr.clone(), Duration::from_secs(5), give_up)))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fresh = crate::helpers::client().build().unwrap();
    let healthz =
        tokio::time::timeout(Duration::from_secs(3), fresh.get(app.url("/healthz")).send());
    assert_eq!(healthz.await.expect("/healthz answers within 3 s").unwrap().status(), 200);
    let (api, body) = (app.api(&key), booking_in("Among slow clients", 3));
    let booking = tokio::time::timeout(Duration::from_secs(3), api.create_booking(&body));
    booking.await.expect("a booking is written within 3 s").unwrap();
    let mut closed = 0;
    for task in slow {
        if let Some(at) = task.await.unwrap() {
            assert!(at - started < Duration::from_secs(20), "closed only after {:?}", at - started);
            closed += 1;
        }
    }
    assert_eq!(closed, 500, "every trickling connection is closed by the header-read timeout");
    app.stop().await;
}

/// Whether the server closes `stream` within `within` (rather than leaving it open).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(within, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_read_timeout() {
    let app = start(|config| config.http.header_read_timeout_secs = 1).await;
    let mut stream = TcpStream::connect(app.base.trim_start_matches("http://")).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: kalends.example\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_within(&mut stream, Duration::from_secs(4)).await, "the idle connection stays");
    app.stop().await;
}

/// Opens `n` connections that have each been answered once (so they are surely accepted).
async fn open_connections(addr: &str, n: usize) -> Vec<TcpStream> {
    let mut streams = Vec::new();
    for _ in 0..n {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: kalends.example\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 1024];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        streams.push(stream);
    }
    streams
}

#[tokio::test]
async fn a_connection_beyond_the_per_address_cap_is_closed_at_once() {
    let app = start(|config| config.http.max_connections_per_address = 3).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut open = open_connections(&addr, 3).await;
    let mut fourth = TcpStream::connect(&addr).await.unwrap();
    assert!(closed_within(&mut fourth, Duration::from_secs(2)).await, "a fourth was kept");
    drop(open.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    open_connections(&addr, 1).await;
    app.stop().await;
}

#[tokio::test]
async fn a_connection_beyond_the_global_cap_is_closed_at_once() {
    let app = start(|config| config.http.max_connections = 2).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let _open = open_connections(&addr, 2).await;
    let mut third = TcpStream::connect(&addr).await.unwrap();
    assert!(closed_within(&mut third, Duration::from_secs(2)).await, "a third was kept");
    app.stop().await;
}

/// Sends an (unproven) Google notification as the client `forwarded` names, through headers
/// `(name, value)`; answers the status.
async fn notify(app: &TestApp, headers: &[(&str, &str)]) -> u16 {
    let mut request = app.http.post(app.url("/webhooks/google"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().status().as_u16()
}

/// Kalends trusting the proxies `nets`, which write `header`, taking one webhook notification a
/// minute per client.
async fn one_notification_a_minute_behind(nets: &str, header: ProxyHeader) -> TestApp {
    start(|config| {
        config.trusted_proxies = serde_json::from_value(serde_json::json!(nets)).unwrap();
        config.proxy_header = header;
        config.webhooks.rate_limit_per_minute = 1;
    })
    .await
}

const XFF: ProxyHeader = ProxyHeader::XForwardedFor;

#[tokio::test]
async fn behind_a_trusted_proxy_two_visitors_get_separate_budgets() {
    let app = one_notification_a_minute_behind("127.0.0.1/32", XFF).await;
    let xff = "X-Forwarded-For";
    assert_ne!(notify(&app, &[(xff, "203.0.113.1")]).await, 429);
    assert_eq!(notify(&app, &[(xff, "203.0.113.1")]).await, 429, "one visitor, one budget");
    assert_ne!(notify(&app, &[(xff, "203.0.113.2")]).await, 429, "a second visitor");
    // The right-most hop that is not a trusted proxy is the client.
    assert_ne!(notify(&app, &[(xff, "198.51.100.7, 203.0.113.3, 127.0.0.1")]).await, 429);
    assert_eq!(notify(&app, &[(xff, "203.0.113.3")]).await, 429);
    app.stop().await;
}

/// nginx appends to `X-Forwarded-For` and passes a client's own `Forwarded` on as it came: a
/// visitor who sends a new one with every request still has the one budget.
#[tokio::test]
async fn a_forwarded_header_the_proxy_does_not_write_gives_a_visitor_no_fresh_budget() {
    let app = one_notification_a_minute_behind("127.0.0.1/32", XFF).await;
    let visitor = ("X-Forwarded-For", "203.0.113.1");
    assert_ne!(notify(&app, &[visitor, ("Forwarded", "for=192.0.2.1")]).await, 429);
    assert_eq!(notify(&app, &[visitor, ("Forwarded", "for=192.0.2.2")]).await, 429);
    // Without X-Forwarded-For, such requests are the proxy's own: one budget for all of them.
    assert_ne!(notify(&app, &[("Forwarded", "for=192.0.2.3")]).await, 429);
    assert_eq!(notify(&app, &[("Forwarded", "for=192.0.2.4")]).await, 429);
    app.stop().await;
}

#[tokio::test]
async fn behind_a_proxy_that_writes_forwarded_its_for_hops_name_the_visitors() {
    let app = one_notification_a_minute_behind("127.0.0.1/32", ProxyHeader::Forwarded).await;
    let visitor = ("Forwarded", "for=\"203.0.113.3:4711\"");
    assert_ne!(notify(&app, &[visitor]).await, 429);
    let spoofed = ("X-Forwarded-For", "192.0.2.7");
    assert_eq!(notify(&app, &[visitor, spoofed]).await, 429, "X-Forwarded-For is not read");
    let chain = ("Forwarded", "for=192.0.2.1;proto=https, for=127.0.0.1");
    assert_ne!(notify(&app, &[chain]).await, 429, "the right-most hop that is no proxy");
    app.stop().await;
}

#[tokio::test]
async fn an_untrusted_peer_cannot_dodge_the_limit_with_forwarded_for() {
    let app = one_notification_a_minute_behind("10.0.0.0/8", XFF).await;
    assert_ne!(notify(&app, &[("X-Forwarded-For", "203.0.113.1")]).await, 429);
    assert_eq!(notify(&app, &[("X-Forwarded-For", "203.0.113.2")]).await, 429);
    assert_eq!(notify(&app, &[("Forwarded", "for=203.0.113.3")]).await, 429);
    app.stop().await;
}

#[tokio::test]
async fn two_ipv6_addresses_in_one_64_share_one_budget() {
    let app = one_notification_a_minute_behind("127.0.0.1", XFF).await;
    let xff = "X-Forwarded-For";
    assert_ne!(notify(&app, &[(xff, "2001:db8:1:2::1")]).await, 429);
    assert_eq!(notify(&app, &[(xff, "2001:db8:1:2:aaaa:bbbb:cccc:dddd")]).await, 429);
    assert_eq!(notify(&app, &[(xff, "[2001:db8:1:2::3]:443")]).await, 429);
    assert_ne!(notify(&app, &[(xff, "2001:db8:1:3::1")]).await, 429, "another /64");
    app.stop().await;
}
