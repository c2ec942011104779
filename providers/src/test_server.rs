//! A raw HTTP/1.1 server on 127.0.0.1 for the tests of every HTTP client here (feeds, the
//! providers' answers): it records every connection
//! and request and answers with exactly the bytes a test asks for, including the
//! misbehaviors (hanging, lying about length, streaming forever) an axum app would hide.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The request target, e.g. `/feed.ics?s=1`.
    pub target: String,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// What to do after writing the reply's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// Close the connection.
    Close,
    /// Keep the connection open and send nothing more.
    Hang,
    /// Send `a` bytes until the client goes away (or 64 MiB are sent).
    Stream,
}

/// The server's answer to one request.
#[derive(Debug, Clone)]
pub struct Reply {
    bytes: Vec<u8>,
    then: Then,
}

impl Reply {
    /// A complete response with `Content-Length` and `Connection: close`.
    pub fn new(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Self {
        let mut head = format!("Content-Length: {}\r\n", body.len());
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let mut bytes = Self::head(status, &head).bytes;
        bytes.extend_from_slice(body);
        Self { bytes, then: Then::Close }
    }

    /// A status line plus `extra_headers` (each ending in CRLF), no body yet.
    pub fn head(status: u16, extra_headers: &str) -> Self {
        let head = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n{extra_headers}\r\n");
        Self { bytes: head.into_bytes(), then: Then::Close }
    }

    /// A `200` with `body`.
    pub fn ok(body: &str) -> Self {
        Self::new(200, &[("Content-Type", "text/calendar")], body.as_bytes())
    }

    /// A redirect with `status` to `location`.
    pub fn redirect(status: u16, location: &str) -> Self {
        Self::new(status, &[("Location", location)], b"")
    }

    /// Never answers at all.
    pub fn hang() -> Self {
        Self { bytes: Vec::new(), then: Then::Hang }
    }

    /// Writes the reply's bytes and then does what `then` says.
    pub fn then(mut self, then: Then) -> Self {
        self.then = then;
        self
    }
}

type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// How the server treats a new connection.
#[derive(Clone)]
enum Mode {
    /// Reads an HTTP request and answers with the handler's reply.
    Http(Handler),
    /// Writes these bytes as soon as the connection is accepted, without reading, and
    /// closes: for clients that wait for the server first, like a TLS handshake.
    Greet(Arc<[u8]>),
}

/// Shared between the server task and the test.
#[derive(Default)]
struct Record {
    connections: AtomicUsize,
    requests: Mutex<Vec<Request>>,
    streamed: AtomicU64,
    streams_done: AtomicUsize,
}

/// A running server; stopped when dropped.
pub struct TestServer {
    /// Where it listens (127.0.0.1, a free port).
    pub addr: SocketAddr,
    record: Arc<Record>,
    task: JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The most a `Then::Stream` reply sends.
pub const STREAM_TOTAL: u64 = 64 * 1024 * 1024;

impl TestServer {
    /// Starts a server answering every request with `handler`'s reply.
    pub async fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_mode(Mode::Http(Arc::new(handler))).await
    }

    /// Starts a server that writes `bytes` to every new connection before reading
    /// anything, then closes it.
    pub async fn greeting(bytes: &[u8]) -> Self {
        Self::start_mode(Mode::Greet(bytes.into())).await
    }

    async fn start_mode(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let record = Arc::new(Record::default());
        let task = tokio::spawn(accept_loop(listener, mode, Arc::clone(&record)));
        Self { addr, record, task }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://{}{path}", self.addr)).unwrap()
    }

    /// How many TCP connections were accepted.
    pub fn connections(&self) -> usize {
        self.record.connections.load(Ordering::SeqCst)
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.record.requests.lock().unwrap().clone()
    }

    /// Waits until a `Then::Stream` reply has ended and returns how many body bytes it
    /// managed to write.
    pub async fn streamed_bytes(&self) -> u64 {
        for _ in 0..500 {
            if self.record.streams_done.load(Ordering::SeqCst) > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(self.record.streams_done.load(Ordering::SeqCst) > 0, "stream never ended");
        self.record.streamed.load(Ordering::SeqCst)
    }
}

async fn accept_loop(listener: TcpListener, mode: Mode, record: Arc<Record>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        record.connections.fetch_add(1, Ordering::SeqCst);
        match &mode {
            Mode::Http(handler) => {
                tokio::spawn(serve(stream, Arc::clone(handler), Arc::clone(&record)));
            }
            Mode::Greet(bytes) => {
                let _ = stream.write_all(bytes).await;
                let _ = stream.shutdown().await;
            }
        }
    }
}

async fn serve(mut stream: TcpStream, handler: Handler, record: Arc<Record>) {
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    let reply = handler(&request);
    record.requests.lock().unwrap().push(request);
    if stream.write_all(&reply.bytes).await.is_err() {
        return;
    }
    match reply.then {
        Then::Close => {
            let _ = stream.shutdown().await;
        }
        Then::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Then::Stream => {
            let written = stream_until_gone(&mut stream).await;
            record.streamed.store(written, Ordering::SeqCst);
            record.streams_done.fetch_add(1, Ordering::SeqCst);
        }
    }
}

async fn stream_until_gone(stream: &mut TcpStream) -> u64 {
    let chunk = vec![b'a'; 64 * 1024];
    let mut written = 0;
    while written < STREAM_TOTAL {
        if stream.write_all(&chunk).await.is_err() {
            break;
        }
        written += chunk.len() as u64;
    }
    written
}

/// Reads a request head (GETs have no body); `None` when the client sent no full head.
async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let read = stream.read(&mut byte).await.ok()?;
        if read == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&byte[..read]);
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines = text.split("\r\n");
    let target = lines.next()?.split(' ').nth(1)?.to_owned();
    let headers = lines
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some(Request { target, headers })
}
