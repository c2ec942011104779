//! End-to-end fetcher tests against local servers.

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kalends_core::addresses::AllowedAddresses;
use reqwest::Url;

use super::*;
use crate::test_server::{Reply, STREAM_TOTAL, TestServer, Then};

/// The default policy, with exactly these servers' addresses exempted.
fn policy_for(servers: &[&TestServer]) -> FetchPolicy {
    FetchPolicy {
        allowed: AllowedAddresses::sockets(servers.iter().map(|s| s.addr)),
        ..FetchPolicy::default()
    }
}

async fn fetch_with(
    policy: FetchPolicy,
    url: &Url,
    validators: &Validators,
) -> Result<Fetched, FetchError> {
    Fetcher::new(policy).unwrap().fetch(url, validators).await
}

async fn fetch(server: &TestServer, path: &str) -> Result<Fetched, FetchError> {
    fetch_with(policy_for(&[server]), &server.url(path), &Validators::default()).await
}

fn body_of(fetched: Fetched) -> Vec<u8> {
    match fetched {
        Fetched::Body { body, .. } => body.to_vec(),
        other => panic!("expected a body, got {other:?}"),
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn validators() -> Validators {
    Validators {
        etag: Some("\"v1\"".into()),
        last_modified: Some("Sun, 06 Nov 1994 08:49:37 GMT".into()),
    }
}

fn assert_forbidden(result: Result<Fetched, FetchError>, kind: AddressKind) {
    match result {
        Err(FetchError::ForbiddenAddress { kind: got, .. }) => assert_eq!(got, kind),
        other => panic!("expected a forbidden {kind:?} address, got {other:?}"),
    }
}

// --- 1. gzip and size limits ---

#[tokio::test]
async fn gzip_is_requested_and_decoded_transparently() {
    let calendar = "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n".repeat(100);
    let compressed = gzip(calendar.as_bytes());
    let server =
        TestServer::start(move |_| Reply::new(200, &[("Content-Encoding", "gzip")], &compressed))
            .await;
    let body = body_of(fetch(&server, "/").await.unwrap());
    assert_eq!(body, calendar.as_bytes());
    let accept_encoding = server.requests()[0].header("accept-encoding").unwrap().to_owned();
    assert!(accept_encoding.contains("gzip"), "{accept_encoding}");
}

#[tokio::test]
async fn the_size_limit_counts_decoded_bytes_so_a_gzip_bomb_is_refused() {
    let bomb = gzip(&vec![0u8; 8 * 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024, "the compressed body is under the limit");
    let server =
        TestServer::start(move |_| Reply::new(200, &[("Content-Encoding", "gzip")], &bomb)).await;
    let policy = FetchPolicy { max_bytes: 1024 * 1024, ..policy_for(&[&server]) };
    let error = fetch_with(policy, &server.url("/"), &Validators::default()).await.unwrap_err();
    assert!(matches!(error, FetchError::BodyTooLarge { limit: 1_048_576 }), "{error:?}");
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn an_endless_body_is_aborted_while_streaming_once_it_passes_the_limit() {
    let server = TestServer::start(|_| Reply::head(200, "").then(Then::Stream)).await;
    let policy = FetchPolicy { max_bytes: 64 * 1024, ..policy_for(&[&server]) };
    let error = fetch_with(policy, &server.url("/"), &Validators::default()).await.unwrap_err();
    assert!(matches!(error, FetchError::BodyTooLarge { limit: 65_536 }), "{error:?}");
    // The client hung up long before the server could send everything.
    assert!(server.streamed_bytes().await < STREAM_TOTAL);
}

#[tokio::test]
async fn a_content_length_over_the_limit_is_refused_before_reading_the_body() {
    // The server announces 20 MiB and then sends nothing: only an early refusal is fast.
    let server =
        TestServer::start(|_| Reply::head(200, "Content-Length: 20971520\r\n").then(Then::Hang))
            .await;
    let started = Instant::now();
    let error = fetch(&server, "/").await.unwrap_err();
    assert!(matches!(error, FetchError::BodyTooLarge { limit: 10_485_760 }), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_body_exactly_at_the_limit_is_accepted() {
    let server = TestServer::start(|_| Reply::ok(&"x".repeat(1000))).await;
    let policy = FetchPolicy { max_bytes: 1000, ..policy_for(&[&server]) };
    let body = body_of(fetch_with(policy, &server.url("/"), &Validators::default()).await.unwrap());
    assert_eq!(body.len(), 1000);
}

// --- 2. and 6. redirects ---

#[tokio::test]
async fn relative_redirects_are_followed_keeping_validators_on_the_same_origin() {
    let server = TestServer::start(|request| match request.target.as_str() {
        "/feeds/old.ics" => Reply::redirect(301, "new.ics?s=2"),
        _ => Reply::ok("BEGIN:VCALENDAR"),
    })
    .await;
    let url = server.url("/feeds/old.ics");
    let fetched = fetch_with(policy_for(&[&server]), &url, &validators()).await.unwrap();
    let Fetched::Body { final_url, .. } = fetched else {
        panic!("expected a body");
    };
    assert_eq!(final_url, server.url("/feeds/new.ics?s=2"));
    let requests = server.requests();
    assert_eq!(requests[1].target, "/feeds/new.ics?s=2");
    for request in &requests {
        assert_eq!(request.header("if-none-match"), Some("\"v1\""));
        assert!(request.header("if-modified-since").is_some());
    }
}

#[tokio::test]
async fn validators_are_not_sent_to_another_origin() {
    let second = TestServer::start(|_| Reply::ok("BEGIN:VCALENDAR")).await;
    let location = second.url("/feed.ics").to_string();
    let first = TestServer::start(move |_| Reply::redirect(307, &location)).await;
    let policy = policy_for(&[&first, &second]);
    fetch_with(policy, &first.url("/"), &validators()).await.unwrap();
    assert_eq!(first.requests()[0].header("if-none-match"), Some("\"v1\""));
    let forwarded = &second.requests()[0];
    assert_eq!(forwarded.header("if-none-match"), None);
    assert_eq!(forwarded.header("if-modified-since"), None);
}

#[tokio::test]
async fn every_redirect_status_is_followed() {
    for status in [301, 302, 303, 307, 308] {
        let server = TestServer::start(move |request| match request.target.as_str() {
            "/" => Reply::redirect(status, "/moved"),
            _ => Reply::ok("moved"),
        })
        .await;
        assert_eq!(body_of(fetch(&server, "/").await.unwrap()), b"moved", "{status}");
    }
}

#[tokio::test]
async fn more_redirects_than_the_limit_fail_as_too_many_redirects() {
    // /0 -> /1 -> /2 -> ... forever.
    let server = TestServer::start(|request| {
        let n: u32 = request.target[1..].parse().unwrap();
        Reply::redirect(302, &format!("/{}", n + 1))
    })
    .await;
    let policy = FetchPolicy { max_redirects: 2, ..policy_for(&[&server]) };
    let error = fetch_with(policy, &server.url("/0"), &Validators::default()).await.unwrap_err();
    assert!(matches!(error, FetchError::TooManyRedirects { limit: 2 }), "{error:?}");
    assert!(!error.is_retryable());
    // The original request plus two followed redirects; the third is not followed.
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_redirect_loop_fails_as_too_many_redirects() {
    let server = TestServer::start(|_| Reply::redirect(302, "/loop")).await;
    let error = fetch(&server, "/loop").await.unwrap_err();
    assert!(matches!(error, FetchError::TooManyRedirects { limit: 5 }), "{error:?}");
    assert_eq!(server.requests().len(), 6);
}

#[tokio::test]
async fn a_redirect_to_a_non_http_scheme_is_refused() {
    let server = TestServer::start(|_| Reply::redirect(302, "file:///etc/passwd")).await;
    let error = fetch(&server, "/").await.unwrap_err();
    assert!(matches!(error, FetchError::InvalidUrl { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "url: 127.0.0.1 redirected to a URL that is refused \
         (the scheme must be https, http or webcal)"
    );
}

// --- 3. and 4. address rules ---

#[tokio::test]
async fn redirect_into_loopback_is_refused_before_connecting() {
    let target = TestServer::start(|_| Reply::ok("internal secrets")).await;
    let location = target.url("/").to_string();
    let allowed = TestServer::start(move |_| Reply::redirect(302, &location)).await;
    // Only the first server is exempted; the redirect target is an ordinary loopback URL.
    let result = fetch(&allowed, "/").await;
    assert_forbidden(result, AddressKind::Loopback);
    assert_eq!(allowed.requests().len(), 1, "the redirect itself was fetched");
    assert_eq!(target.connections(), 0);
}

#[tokio::test]
async fn a_refused_redirect_target_is_not_named_by_its_address() {
    let target = TestServer::start(|_| Reply::ok("internal secrets")).await;
    let location = target.url("/").to_string();
    let allowed = TestServer::start(move |_| Reply::redirect(302, &location)).await;
    let message = fetch(&allowed, "/").await.unwrap_err().to_string();
    assert!(message.starts_with("the feed's host is not a public address"), "{message}");
    assert!(!message.contains("127.0.0.1"), "{message}");
}

#[tokio::test]
async fn a_name_is_held_to_the_allowed_address_and_port_it_resolves_to() {
    // An allowed `ip:port` is a destination: a name that resolves to it reaches it (an intranet
    // server by its name), and the same name on another port is refused by the resolver.
    let server = TestServer::start(|_| Reply::ok("BEGIN:VCALENDAR")).await;
    let other = TestServer::start(|_| Reply::ok("internal")).await;
    let policy = || FetchPolicy {
        allowed: AllowedAddresses::sockets([SocketAddr::new(
            [127, 0, 0, 1].into(),
            server.addr.port(),
        )]),
        ..FetchPolicy::default()
    };
    let allowed = Url::parse(&format!("http://localhost:{}/", server.addr.port())).unwrap();
    let fetched = fetch_with(policy(), &allowed, &Validators::default()).await.unwrap();
    assert_eq!(body_of(fetched), b"BEGIN:VCALENDAR");
    let refused = Url::parse(&format!("http://localhost:{}/", other.addr.port())).unwrap();
    match fetch_with(policy(), &refused, &Validators::default()).await {
        Err(FetchError::ForbiddenAddress { host, ip, kind }) => {
            assert_eq!(host, "localhost");
            assert!(ip.is_loopback(), "{ip}");
            assert_eq!(kind, AddressKind::Loopback);
        }
        other => panic!("expected a forbidden address, got {other:?}"),
    }
    assert_eq!(other.connections(), 0);
}

#[tokio::test]
async fn private_and_special_ip_literals_are_refused_without_connecting() {
    let server = TestServer::start(|_| Reply::ok("internal")).await;
    let port = server.addr.port();
    let cases = [
        ("10.0.0.1", AddressKind::Private),
        ("192.168.1.1", AddressKind::Private),
        ("169.254.169.254", AddressKind::LinkLocal),
        ("[::1]", AddressKind::Loopback),
        ("[::ffff:127.0.0.1]", AddressKind::Loopback),
        ("224.0.0.1", AddressKind::Multicast),
        ("0.0.0.0", AddressKind::Unspecified),
        ("2130706433", AddressKind::Loopback),
        ("100.64.0.1", AddressKind::SharedAddressSpace),
    ];
    for (host, kind) in cases {
        let url = Url::parse(&format!("http://{host}:{port}/")).unwrap();
        // A connection attempt to 10.x or 169.254.x would hang until this timeout.
        let policy =
            FetchPolicy { connect_timeout: Duration::from_secs(30), ..FetchPolicy::default() };
        let started = Instant::now();
        assert_forbidden(fetch_with(policy, &url, &Validators::default()).await, kind);
        assert!(started.elapsed() < Duration::from_secs(1), "{host}");
    }
    // ::ffff:127.0.0.1, 0.0.0.0 and 2130706433 would all have reached this server.
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn an_allowed_ip_and_port_covers_only_that_exact_port() {
    let server = TestServer::start(|_| Reply::ok("internal")).await;
    let other_port = SocketAddr::new(server.addr.ip(), server.addr.port().wrapping_add(1));
    let policy =
        FetchPolicy { allowed: AllowedAddresses::sockets([other_port]), ..FetchPolicy::default() };
    let result = fetch_with(policy, &server.url("/"), &Validators::default()).await;
    assert_forbidden(result, AddressKind::Loopback);
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn allowing_private_networks_fetches_from_loopback_by_ip_and_by_name() {
    let server = TestServer::start(|_| Reply::ok("BEGIN:VCALENDAR")).await;
    let policy = FetchPolicy { allow_private_networks: true, ..FetchPolicy::default() };
    let fetcher = Fetcher::new(policy).unwrap();
    let by_ip = fetcher.fetch(&server.url("/"), &Validators::default()).await;
    assert_eq!(body_of(by_ip.unwrap()), b"BEGIN:VCALENDAR");
    let by_name = Url::parse(&format!("http://localhost:{}/", server.addr.port())).unwrap();
    let by_name = fetcher.fetch(&by_name, &Validators::default()).await;
    assert_eq!(body_of(by_name.unwrap()), b"BEGIN:VCALENDAR");
}

// --- 5. conditional GET ---

#[tokio::test]
async fn conditional_get_sends_the_validators_and_maps_304_to_not_modified() {
    let server = TestServer::start(|_| Reply::new(304, &[("ETag", "\"v1\"")], b"")).await;
    let result = fetch_with(policy_for(&[&server]), &server.url("/"), &validators()).await;
    assert_eq!(result.unwrap(), Fetched::NotModified { status: 304 });
    let request = &server.requests()[0];
    assert_eq!(request.header("if-none-match"), Some("\"v1\""));
    assert_eq!(request.header("if-modified-since"), Some("Sun, 06 Nov 1994 08:49:37 GMT"));
}

#[tokio::test]
async fn a_changed_feed_returns_its_body_and_new_validators() {
    let server = TestServer::start(|_| {
        let headers = [("ETag", "\"v2\""), ("Last-Modified", "Mon, 07 Nov 1994 10:00:00 GMT")];
        Reply::new(200, &headers, b"BEGIN:VCALENDAR")
    })
    .await;
    let result = fetch_with(policy_for(&[&server]), &server.url("/a.ics"), &validators()).await;
    let expected = Fetched::Body {
        status: 200,
        body: "BEGIN:VCALENDAR".into(),
        etag: Some("\"v2\"".into()),
        last_modified: Some("Mon, 07 Nov 1994 10:00:00 GMT".into()),
        final_url: server.url("/a.ics"),
    };
    assert_eq!(result.unwrap(), expected);
}

#[tokio::test]
async fn without_validators_no_conditional_headers_are_sent() {
    let server = TestServer::start(|_| Reply::ok("BEGIN:VCALENDAR")).await;
    fetch(&server, "/").await.unwrap();
    let request = &server.requests()[0];
    assert_eq!(request.header("if-none-match"), None);
    assert_eq!(request.header("if-modified-since"), None);
}

// --- 7. timeouts, status errors, retry hints ---

#[tokio::test]
async fn a_server_that_never_answers_times_out_and_is_retryable() {
    let server = TestServer::start(|_| Reply::hang()).await;
    let policy = FetchPolicy { timeout: Duration::from_millis(300), ..policy_for(&[&server]) };
    let started = Instant::now();
    let error = fetch_with(policy, &server.url("/"), &Validators::default()).await.unwrap_err();
    assert!(matches!(error, FetchError::Timeout { .. }), "{error:?}");
    assert!(error.is_retryable());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_body_that_trickles_past_the_deadline_times_out() {
    // Headers arrive at once, the body never completes: the deadline covers the body too.
    let server =
        TestServer::start(|_| Reply::head(200, "Content-Length: 100\r\n").then(Then::Hang)).await;
    let policy = FetchPolicy { timeout: Duration::from_millis(300), ..policy_for(&[&server]) };
    let error = fetch_with(policy, &server.url("/"), &Validators::default()).await.unwrap_err();
    assert!(matches!(error, FetchError::Timeout { .. }), "{error:?}");
}

#[tokio::test]
async fn a_503_with_a_fractional_retry_after_is_retryable_after_that_delay() {
    let server = TestServer::start(|_| Reply::new(503, &[("Retry-After", "1.5")], b"busy")).await;
    let error = fetch(&server, "/").await.unwrap_err();
    assert!(error.is_retryable());
    assert_eq!(error.http_status(), Some(503));
    assert_eq!(error.retry_after(), Some(Duration::from_millis(1500)));
}

#[tokio::test]
async fn a_404_is_not_retryable() {
    let server = TestServer::start(|_| Reply::new(404, &[], b"gone")).await;
    let error = fetch(&server, "/").await.unwrap_err();
    assert!(!error.is_retryable());
    assert_eq!(error.http_status(), Some(404));
    assert_eq!(error.retry_after(), None);
}

#[tokio::test]
async fn a_429_with_an_http_date_retry_after_is_retryable_until_that_date() {
    let at = chrono::Utc::now() + chrono::Duration::seconds(120);
    let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let server = TestServer::start(move |_| Reply::new(429, &[("Retry-After", &date)], b"")).await;
    let error = fetch(&server, "/").await.unwrap_err();
    assert!(error.is_retryable());
    assert_eq!(error.http_status(), Some(429));
    let wait = error.retry_after().unwrap();
    assert!(wait > Duration::from_secs(110) && wait <= Duration::from_secs(120), "{wait:?}");
}

#[tokio::test]
async fn a_refused_connection_is_a_retryable_connect_error() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let policy =
        FetchPolicy { allowed: AllowedAddresses::sockets([addr]), ..FetchPolicy::default() };
    let url = Url::parse(&format!("http://{addr}/")).unwrap();
    let error = fetch_with(policy, &url, &Validators::default()).await.unwrap_err();
    assert!(matches!(error, FetchError::Connect { .. }), "{error:?}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn a_tls_handshake_with_a_plain_http_server_is_a_tls_error() {
    let server = TestServer::greeting(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
    let url = Url::parse(&format!("https://{}/", server.addr)).unwrap();
    let error = fetch_with(policy_for(&[&server]), &url, &Validators::default()).await.unwrap_err();
    assert!(matches!(error, FetchError::Tls { .. }), "{error:?}");
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn an_unresolvable_host_is_a_dns_error() {
    let url = Url::parse("http://feed.does-not-exist.invalid/").unwrap();
    let error = fetch_with(FetchPolicy::default(), &url, &Validators::default()).await.unwrap_err();
    assert!(
        matches!(error, FetchError::Dns { ref host, .. } if host == "feed.does-not-exist.invalid"),
        "{error:?}"
    );
}

// --- 9. identification ---

#[tokio::test]
async fn requests_identify_kalends_and_prefer_text_calendar() {
    let server = TestServer::start(|_| Reply::ok("BEGIN:VCALENDAR")).await;
    fetch(&server, "/").await.unwrap();
    let request = &server.requests()[0];
    let expected =
        format!("Kalends/{} (+https://example.invalid/kalends)", env!("CARGO_PKG_VERSION"));
    assert_eq!(request.header("user-agent"), Some(expected.as_str()));
    assert_eq!(request.header("accept"), Some("text/calendar, */*;q=0.5"));
    assert_eq!(request.header("referer"), None);
}

// --- secrets ---

#[tokio::test]
async fn errors_name_the_host_but_never_the_path_or_query() {
    let server = TestServer::start(|request| match request.target.as_str() {
        "/private-token/hang" => Reply::hang(),
        _ => Reply::new(404, &[], b""),
    })
    .await;
    let not_tls = TestServer::greeting(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
    let policy =
        FetchPolicy { timeout: Duration::from_millis(300), ..policy_for(&[&server, &not_tls]) };
    let fetcher = Fetcher::new(policy).unwrap();
    let urls = [
        format!("http://{}/private-token/404?s=private-token", server.addr),
        format!("http://{}/private-token/hang?s=private-token", server.addr),
        format!("https://{}/private-token/tls?s=private-token", not_tls.addr),
        "http://10.0.0.1/private-token?s=private-token".to_owned(),
        "http://feed.does-not-exist.invalid/private-token?s=private-token".to_owned(),
    ];
    for url in urls {
        let error =
            fetcher.fetch(&Url::parse(&url).unwrap(), &Validators::default()).await.unwrap_err();
        for text in [error.to_string(), format!("{error:?}")] {
            assert!(!text.contains("private-token"), "{text}");
        }
    }
}

#[test]
fn a_fetched_body_s_debug_shows_its_length_and_host_not_its_bytes_or_secret() {
    let fetched = Fetched::Body {
        status: 200,
        body: bytes::Bytes::from_static(b"BEGIN:VCALENDAR guest-name"),
        etag: None,
        last_modified: None,
        final_url: Url::parse("https://ical.booking.com/v1/export?t=0123secret").unwrap(),
    };
    let shown = format!("{fetched:?}");
    assert!(shown.contains("body_bytes: 26") && shown.contains("ical.booking.com"), "{shown}");
    assert!(!shown.contains("0123secret") && !shown.contains("guest-name"), "{shown}");
}
