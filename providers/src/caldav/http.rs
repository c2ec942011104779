//! The HTTP client libdav sends its requests through: reqwest (timeouts, TLS, the workspace's one
//! HTTP stack) with Basic credentials on every request and redirects followed by hand.
//!
//! Why by hand: reqwest turns a redirected PROPFIND or REPORT into a GET without its body, and
//! drops `Authorization` when the redirect leaves the host; iCloud and hosted Nextclouds redirect
//! to a per-account host that needs both.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{AUTHORIZATION, HeaderValue, LOCATION, RETRY_AFTER};
use http::{Request, Response, Uri};
use http_body_util::Full;
use reqwest::Url;

use crate::outbound::{self, BodyError, Outbound, Refused};

/// A libdav client over [`DavHttp`], and the errors its requests end in.
pub(super) type Dav = libdav::dav::WebDavClient<DavHttp>;
pub(super) type DavError = libdav::dav::WebDavError<HttpError>;

/// How many redirects one request may follow.
const MAX_REDIRECTS: usize = 5;

/// Why a request got no HTTP answer, or its answer was not read.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Connecting, sending or reading failed (or timed out); the URL is left out of the message.
    #[error("no answer from the server: {0}")]
    Transport(#[source] reqwest::Error),
    /// A redirect pointed somewhere that cannot be followed.
    #[error("the server redirected to an unusable location")]
    BadRedirect,
    /// The address (given, redirected to, or handed back by the server) is loopback, private
    /// or otherwise off limits, and the operator did not allow it.
    #[error("the server's address is in a private network, which Kalends may not reach")]
    Forbidden,
    /// The server kept redirecting.
    #[error("the server redirected more than {MAX_REDIRECTS} times")]
    TooManyRedirects,
    /// An answer grew past the limit (counted after decompression).
    #[error("the server's answer is larger than {} MiB, more than Kalends reads", limit / (1024 * 1024))]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The server asked to wait: a 429, or a 503 (overloaded, or down for maintenance), with
    /// how long when it said (`Retry-After`). Its answer is not read.
    #[error("the CalDAV server answered {status} and asked Kalends to wait")]
    Busy {
        /// The status.
        status: u16,
        /// How long it asked for.
        retry_after: Option<std::time::Duration>,
    },
    /// The account lists more calendars than Kalends reads.
    #[error("the account has more than {limit} calendars, more than Kalends reads")]
    TooManyCalendars {
        /// The limit.
        limit: usize,
    },
}

impl HttpError {
    /// A reqwest failure; the guarded resolver's refusal inside it is a [`HttpError::Forbidden`].
    fn from_transport(error: reqwest::Error) -> Self {
        match outbound::refusal_in(&error) {
            Some(_) => Self::Forbidden,
            None => Self::Transport(error.without_url()),
        }
    }
}

impl From<Refused> for HttpError {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::InvalidUrl { .. } => Self::BadRedirect,
            Refused::Forbidden { .. } => Self::Forbidden,
        }
    }
}

/// One account's client: the guarded clients, the account's `Authorization` value and the
/// largest answer read. Its clones share where the last answer came from.
#[derive(Clone)]
pub struct DavHttp {
    outbound: Outbound,
    authorization: HeaderValue,
    max_bytes: u64,
    landed: Arc<Mutex<Option<Url>>>,
}

impl DavHttp {
    /// Basic credentials for `username` and `password` over `outbound`; every request, every
    /// redirect and every address the server hands back is held to its address rules, and no
    /// answer is read past `max_bytes`.
    pub fn new(outbound: Outbound, username: &str, password: &str, max_bytes: u64) -> Self {
        use base64::Engine as _;
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        let mut authorization = HeaderValue::from_str(&format!("Basic {encoded}"))
            .unwrap_or_else(|_| HeaderValue::from_static(""));
        authorization.set_sensitive(true);
        Self { outbound, authorization, max_bytes, landed: Arc::default() }
    }

    /// Where the last answer came from, its redirects followed: the base its relative hrefs
    /// name (a `/.well-known/caldav` may send the account to another host). For one request at a
    /// time, as discovery sends them.
    pub(super) fn landed(&self) -> Option<Uri> {
        let landed = self.landed.lock().unwrap_or_else(PoisonError::into_inner);
        landed.as_ref()?.as_str().parse().ok()
    }

    async fn send(self, request: Request<String>) -> Result<Response<Full<Bytes>>, HttpError> {
        let Self { outbound, authorization, max_bytes, landed } = self;
        let (mut parts, body) = request.into_parts();
        parts.headers.insert(AUTHORIZATION, authorization);
        // Read once by the guard's parser: what is checked is what is sent.
        let mut url = Outbound::parse(&parts.uri.to_string())?;
        for _ in 0..=MAX_REDIRECTS {
            let answer = outbound
                .client_for(&url)?
                .request(parts.method.clone(), url.clone())
                .headers(parts.headers.clone())
                .body(body.clone())
                .send()
                .await
                .map_err(HttpError::from_transport)?;
            outbound.check_peer(&url, &answer)?;
            if answer.status().is_redirection()
                && let Some(location) = answer.headers().get(LOCATION)
            {
                url = follow(&url, location)?;
                continue;
            }
            if let status @ (429 | 503) = answer.status().as_u16() {
                let retry_after = answer.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok());
                let retry_after =
                    retry_after.and_then(|v| crate::parse_retry_after(v, chrono::Utc::now()));
                return Err(HttpError::Busy { status, retry_after });
            }
            *landed.lock().unwrap_or_else(PoisonError::into_inner) = Some(url.clone());
            let mut response = Response::builder().status(answer.status());
            for (name, value) in answer.headers() {
                response = response.header(name, value);
            }
            let bytes = outbound::read_capped(answer, max_bytes).await.map_err(|e| match e {
                BodyError::TooLarge { limit } => HttpError::TooLarge { limit },
                BodyError::Transport(e) => HttpError::from_transport(e),
            })?;
            return response.body(Full::new(bytes)).map_err(|_| HttpError::BadRedirect);
        }
        Err(HttpError::TooManyRedirects)
    }
}

/// The absolute URL a `Location` names, relative to `from`; an https page is never sent on to
/// plain http.
fn follow(from: &Url, location: &HeaderValue) -> Result<Url, HttpError> {
    let location = location.to_str().map_err(|_| HttpError::BadRedirect)?;
    let next = from.join(location).map_err(|_| HttpError::BadRedirect)?;
    if from.scheme() == "https" && next.scheme() != "https" {
        return Err(HttpError::BadRedirect);
    }
    Ok(next)
}

impl tower_service::Service<Request<String>> for DavHttp {
    type Response = Response<Full<Bytes>>;
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, HttpError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), HttpError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<String>) -> Self::Future {
        Box::pin(self.clone().send(request))
    }
}

/// An href relative to `base` made absolute (iCloud's are absolute on another host already).
pub(super) fn resolve(base: &Uri, href: &Uri) -> Uri {
    if href.host().is_some() {
        return href.clone();
    }
    let mut parts = base.clone().into_parts();
    parts.path_and_query = href.path_and_query().cloned();
    Uri::from_parts(parts).unwrap_or_else(|_| base.clone())
}

pub(super) fn absolute(base: &Uri, href: &str) -> String {
    match href.parse::<Uri>() {
        Ok(uri) => resolve(base, &uri).to_string(),
        Err(_) => href.to_owned(),
    }
}

pub(super) fn parse_url(text: &str) -> Option<Uri> {
    let url = url::Url::parse(text.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    url.as_str().parse().ok()
}
