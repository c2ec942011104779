//! The HTTP accept loop, over hyper's HTTP/1 server, with what `axum::serve` leaves out:
//!
//! - a **header-read timeout** (`http.header_read_timeout_secs`): a connection that has not sent
//!   a whole request head within it, counted from its opening or from its previous response (so
//!   it is also the idle limit of a keep-alive connection), is closed. Slow-header clients cannot
//!   hold connections; once the head is in, the request timeout layer bounds the rest, reading
//!   the body included;
//! - **connection caps**, per listener: `http.max_connections` in all and
//!   `http.max_connections_per_address` per client address (an IPv6 client per /64), counted on
//!   the TCP peer (behind a reverse proxy, the proxy). A connection beyond either is closed at
//!   once, never queued: a waiting accept would stall every client behind the greedy one;
//! - **graceful shutdown**: on shutdown the listener stops accepting, idle connections close,
//!   requests in flight finish; whatever still runs `shutdown_timeout` later is cut off.
//!
//! Every request carries `ConnectInfo<SocketAddr>` as under `axum::serve`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use kalends_core::config::HttpConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use crate::client_addr::ClientAddr;

/// The limits one listener enforces.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// See `http.header_read_timeout_secs`.
    pub header_read_timeout: Duration,
    /// See `http.max_connections`.
    pub max_connections: usize,
    /// See `http.max_connections_per_address`.
    pub max_connections_per_address: usize,
    /// On shutdown, how long connections may take to finish (`http.shutdown_timeout_secs`).
    pub shutdown_timeout: Duration,
}

impl Limits {
    /// The limits `http` configures.
    pub fn from_config(http: &HttpConfig) -> Self {
        Self {
            header_read_timeout: Duration::from_secs(http.header_read_timeout_secs),
            max_connections: http.max_connections,
            max_connections_per_address: http.max_connections_per_address,
            shutdown_timeout: Duration::from_secs(http.shutdown_timeout_secs),
        }
    }
}

/// Serves `app` on `listener` until `shutdown`, then drains the connections (see the module
/// documentation).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let builder = Arc::new(builder);
    let slots = Arc::new(Slots::new(limits));
    let cut_off = CancellationToken::new();
    // Each connection holds a sender; when the last is dropped, every connection has ended.
    let (open, mut all_closed) = mpsc::channel::<()>(1);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // back off a little rather than spin.
                    tracing::warn!(error = %e, "accepting an HTTP connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let Some(slot) = slots.take(ClientAddr::from_ip(peer.ip())) else {
            // Dropping the stream closes it at once.
            continue;
        };
        let connection = Connection {
            app: app.clone(),
            builder: builder.clone(),
            shutdown: shutdown.clone(),
            cut_off: cut_off.clone(),
        };
        let open = open.clone();
        tokio::spawn(async move {
            connection.serve(stream, peer).await;
            drop((slot, open));
        });
    }
    drop((listener, open));
    if tokio::time::timeout(limits.shutdown_timeout, all_closed.recv()).await.is_err() {
        tracing::warn!(
            deadline = ?limits.shutdown_timeout,
            "requests still running at the HTTP shutdown deadline; closing them"
        );
        cut_off.cancel();
    }
    Ok(())
}

/// One accepted connection and what it needs.
struct Connection {
    app: Router,
    builder: Arc<http1::Builder>,
    shutdown: CancellationToken,
    cut_off: CancellationToken,
}

impl Connection {
    async fn serve(self, stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let app = self.app;
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(request)
        });
        let connection = self.builder.serve_connection(TokioIo::new(stream), service);
        let mut connection = std::pin::pin!(connection.with_upgrades());
        let finished = tokio::select! {
            finished = connection.as_mut() => finished,
            () = self.shutdown.cancelled() => {
                connection.as_mut().graceful_shutdown();
                tokio::select! {
                    finished = connection.as_mut() => finished,
                    () = self.cut_off.cancelled() => Ok(()),
                }
            }
        };
        if let Err(e) = finished {
            // Header-read timeouts, resets, malformed requests: the client's doing.
            tracing::debug!(error = %e, "an HTTP connection ended with an error");
        }
    }
}

/// The connections open now, in all and per client address.
#[derive(Debug)]
struct Slots {
    limits: Limits,
    open: Mutex<(usize, HashMap<ClientAddr, usize>)>,
}

impl Slots {
    fn new(limits: Limits) -> Self {
        Self { limits, open: Mutex::new((0, HashMap::new())) }
    }

    /// A slot for a connection from `client`, or `None` (counted) when a cap is reached.
    fn take(self: &Arc<Self>, client: ClientAddr) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let (total, by_client) = &mut *open;
        let from_client = by_client.entry(client).or_default();
        let refused = if *total >= self.limits.max_connections {
            Some("max_connections")
        } else if *from_client >= self.limits.max_connections_per_address {
            Some("max_connections_per_address")
        } else {
            None
        };
        if let Some(cap) = refused {
            if *from_client == 0 {
                by_client.remove(&client);
            }
            metrics::counter!("kalends_http_connections_refused_total", "cap" => cap).increment(1);
            return None;
        }
        *from_client += 1;
        *total += 1;
        Some(Slot { slots: self.clone(), client })
    }

    fn give_back(&self, client: ClientAddr) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let (total, by_client) = &mut *open;
        *total -= 1;
        if let Some(count) = by_client.get_mut(&client) {
            *count -= 1;
            if *count == 0 {
                by_client.remove(&client);
            }
        }
    }
}

/// An open connection's place under the caps, given back when dropped.
struct Slot {
    slots: Arc<Slots>,
    client: ClientAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.give_back(self.client);
    }
}
