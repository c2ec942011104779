//! Real CalDAV servers for the tests: Radicale and Xandikos from PyPI (installed by scripts/test
//! into the peers' venv, `KALENDS_TEST_PYTHON`), each on a free port with its own temp storage,
//! behind a small Basic-auth proxy whose password a test can change (Xandikos has no auth of
//! its own over plain HTTP; Radicale runs with `auth none` and takes the user name given).
//! Self-contained but for `peer` (tests/support/peer.rs): examples/caldav_bench.rs includes both
//! too (`#[path]`).

use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use crate::peer::peer;
use crate::ports::free_port;

/// The user every test server knows.
pub const USER: &str = "ann";

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    Radicale,
    Xandikos,
}

/// A running server and its proxy; both stop when dropped.
pub struct CaldavServer {
    /// The proxy's base URL (what a staff member types).
    pub url: String,
    /// The calendar the tests write into and read from (absolute URL, ending in `/`).
    pub calendar: String,
    password: Arc<Mutex<String>>,
    /// Requests the proxy forwarded.
    pub requests: Arc<AtomicUsize>,
    child: tokio::process::Child,
    proxy: tokio::task::JoinHandle<()>,
    http: reqwest::Client,
    /// The server's storage, deleted when it stops.
    dir: std::path::PathBuf,
}

impl Drop for CaldavServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        self.proxy.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl CaldavServer {
    /// Starts `server` with password `password` for [`USER`] and one calendar; the test fails at
    /// once when `scripts/test` did not provide the peers' Python (`KALENDS_TEST_PYTHON`).
    pub async fn start(server: Server, password: &str) -> Self {
        let python = peer("KALENDS_TEST_PYTHON");
        let dir =
            std::env::temp_dir().join(format!("kalends-caldav-{}", uuid::Uuid::now_v7().simple()));
        let port = free_port();
        let storage = dir.join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        let mut command = tokio::process::Command::new(python);
        match server {
            Server::Radicale => command.args([
                "-m",
                "radicale",
                "--config",
                "",
                "--server-hosts",
                &format!("127.0.0.1:{port}"),
                "--storage-filesystem-folder",
                storage.to_str().unwrap(),
                "--auth-type",
                "none",
                "--rights-type",
                "owner_only",
                "--logging-level",
                "warning",
            ]),
            Server::Xandikos => command.args([
                "-m",
                "xandikos",
                "serve",
                "-d",
                storage.to_str().unwrap(),
                "--defaults",
                "--current-user-principal",
                &format!("/{USER}/"),
                "-l",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ]),
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting the CalDAV server");
        let upstream = format!("http://127.0.0.1:{port}");
        wait_for(port).await;
        let password = Arc::new(Mutex::new(password.to_owned()));
        let requests = Arc::new(AtomicUsize::new(0));
        let proxy_state = Proxy {
            upstream,
            password: password.clone(),
            requests: requests.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(forward).with_state(Arc::new(proxy_state));
        let proxy = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let calendar = match server {
            Server::Radicale => format!("{url}/{USER}/work/"),
            Server::Xandikos => format!("{url}/{USER}/calendars/calendar/"),
        };
        let started = CaldavServer {
            url,
            calendar,
            password,
            requests,
            child,
            proxy,
            http: reqwest::Client::new(),
            dir,
        };
        if server == Server::Radicale {
            let made = started.request("MKCALENDAR", &started.calendar.clone(), None).await;
            assert_eq!(made.0, 201, "MKCALENDAR: {}", made.1);
        }
        started
    }

    /// Changes the password the server accepts.
    pub fn set_password(&self, password: &str) {
        *self.password.lock().unwrap() = password.to_owned();
    }

    fn authorization(&self) -> String {
        let password = self.password.lock().unwrap().clone();
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{password}"));
        format!("Basic {encoded}")
    }

    /// A request as the account's owner: (status, body).
    pub async fn request(
        &self,
        method: &str,
        url: &str,
        body: Option<(&str, String)>,
    ) -> (u16, String) {
        let mut request = self
            .http
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
            .header("Authorization", self.authorization());
        if let Some((content_type, body)) = body {
            request = request.header("Content-Type", content_type).body(body);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        (status, answer.text().await.unwrap())
    }

    /// Stores an event of the staff member's own, as their calendar app would.
    pub async fn put_event(&self, name: &str, ics: &str) {
        let url = format!("{}{name}", self.calendar);
        let (status, body) =
            self.request("PUT", &url, Some(("text/calendar", ics.to_owned()))).await;
        assert!(matches!(status, 201 | 204), "PUT {name}: {status} {body}");
    }

    /// Every resource in the calendar, as text.
    pub async fn events(&self) -> Vec<String> {
        let query = r#"<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><C:calendar-data/></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"/></C:filter>
</C:calendar-query>"#;
        let calendar = self.calendar.clone();
        let mut request = self
            .http
            .request(reqwest::Method::from_bytes(b"REPORT").unwrap(), &calendar)
            .header("Authorization", self.authorization())
            .header("Depth", "1")
            .header("Content-Type", "application/xml; charset=utf-8");
        request = request.body(query);
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status().as_u16(), 207);
        let body = answer.text().await.unwrap();
        body.split("BEGIN:VCALENDAR")
            .skip(1)
            .map(|rest| {
                let text = rest.split("END:VCALENDAR").next().unwrap_or_default();
                text.replace("&#13;", "").replace("\r\n ", "").replace("\n ", "")
            })
            .collect()
    }
}

async fn wait_for(port: u16) {
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the CalDAV server did not start on port {port}");
}

struct Proxy {
    upstream: String,
    password: Arc<Mutex<String>>,
    requests: Arc<AtomicUsize>,
    http: reqwest::Client,
}

/// Checks Basic credentials, then forwards the request as it came.
async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let password = proxy.password.lock().unwrap().clone();
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{password}"))
    );
    let given = request.headers().get("authorization").and_then(|v| v.to_str().ok());
    if given != Some(expected.as_str()) {
        let mut refused = (StatusCode::UNAUTHORIZED, "wrong credentials").into_response();
        refused
            .headers_mut()
            .insert("www-authenticate", HeaderValue::from_static("Basic realm=\"test\""));
        return refused;
    }
    proxy.requests.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let mut outgoing =
        proxy.http.request(parts.method.clone(), format!("{}{path}", proxy.upstream));
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            outgoing = outgoing.header(name, value);
        }
    }
    let answer = match outgoing.body(body).send().await {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let mut response = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        if name != "transfer-encoding" && name != "content-length" && name != "connection" {
            response = response.header(name, value);
        }
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    response.body(Body::from(bytes)).unwrap()
}

/// Booking `booking`'s event as Kalends writes it: an hour from `hour` on 7 January 2030, with
/// a two-line description that needs escaping and a reminder.
pub fn draft(booking: u128, hour: u32) -> kalends_providers::calendar::EventDraft {
    use chrono::TimeZone as _;
    let start = chrono::Utc.with_ymd_and_hms(2030, 1, 7, hour, 0, 0).unwrap();
    kalends_providers::calendar::EventDraft {
        key: kalends_providers::calendar::EventKey {
            booking_id: uuid::Uuid::from_u128(booking),
            connection_id: uuid::Uuid::from_u128(7),
        },
        tenant_id: uuid::Uuid::from_u128(9),
        summary: format!("Booking {booking}"),
        description: Some("Line one\nline two; with, punctuation".into()),
        location: None,
        time: kalends_core::domain::Span::Timed { start, end: start + chrono::Duration::hours(1) },
        zone: kalends_core::domain::TimeZone::UTC,
        tentative: false,
        colour: None,
        reminder_minutes: vec![30],
    }
}
