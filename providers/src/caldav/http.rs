//! The HTTP client libdav sends its requests through: reqwest (timeouts, TLS, the workspace's one
//! HTTP stack) with Basic credentials on every request and redirects followed by hand.
//!
//! Why by hand: reqwest turns a redirected PROPFIND or REPORT into a GET without its body, and
//! drops `Authorization` when the redirect leaves the host; iCloud and hosted Nextclouds redirect
//! to a per-account host that needs both.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{AUTHORIZATION, HeaderValue, LOCATION};
use http::{Request, Response, Uri};
use http_body_util::Full;

/// How many redirects one request may follow.
const MAX_REDIRECTS: usize = 5;

/// Why a request got no HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Connecting, sending or reading failed (or timed out); the URL is left out of the message.
    #[error("no answer from the server: {0}")]
    Transport(#[source] reqwest::Error),
    /// A redirect pointed somewhere that cannot be followed.
    #[error("the server redirected to an unusable location")]
    BadRedirect,
    /// The address is loopback, private or otherwise off limits (and the operator did not
    /// allow private networks).
    #[error("the server's address is in a private network, which Kalends may not reach")]
    Forbidden,
    /// The server kept redirecting.
    #[error("the server redirected more than {MAX_REDIRECTS} times")]
    TooManyRedirects,
}

/// One account's client: the shared reqwest client and the account's `Authorization` value.
#[derive(Clone)]
pub struct DavHttp {
    client: reqwest::Client,
    authorization: HeaderValue,
    allow_private_networks: bool,
}

impl DavHttp {
    /// Basic credentials for `username` and `password` over `client` (which must not follow
    /// redirects itself, and resolves names through the feed fetcher's guarded resolver); IP
    /// literals are checked here, hop by hop, unless `allow_private_networks`.
    pub fn new(
        client: reqwest::Client,
        username: &str,
        password: &str,
        allow_private_networks: bool,
    ) -> Self {
        use base64::Engine as _;
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        let mut authorization = HeaderValue::from_str(&format!("Basic {encoded}"))
            .unwrap_or_else(|_| HeaderValue::from_static(""));
        authorization.set_sensitive(true);
        Self { client, authorization, allow_private_networks }
    }

    async fn send(self, request: Request<String>) -> Result<Response<Full<Bytes>>, HttpError> {
        let Self { client, authorization, allow_private_networks } = self;
        let (mut parts, body) = request.into_parts();
        parts.headers.insert(AUTHORIZATION, authorization);
        let mut uri = parts.uri.clone();
        for _ in 0..=MAX_REDIRECTS {
            if !allow_private_networks && is_forbidden(&uri) {
                return Err(HttpError::Forbidden);
            }
            let answer = client
                .request(parts.method.clone(), uri.to_string())
                .headers(parts.headers.clone())
                .body(body.clone())
                .send()
                .await
                .map_err(|e| HttpError::Transport(e.without_url()))?;
            if answer.status().is_redirection()
                && let Some(location) = answer.headers().get(LOCATION)
            {
                uri = follow(&uri, location)?;
                continue;
            }
            let mut response = Response::builder().status(answer.status());
            for (name, value) in answer.headers() {
                response = response.header(name, value);
            }
            let bytes = answer.bytes().await.map_err(|e| HttpError::Transport(e.without_url()))?;
            return response.body(Full::new(bytes)).map_err(|_| HttpError::BadRedirect);
        }
        Err(HttpError::TooManyRedirects)
    }
}

/// Whether the URI's host is an IP literal off limits to user-given addresses (names are
/// checked by the resolver, on the addresses actually connected to).
fn is_forbidden(uri: &Uri) -> bool {
    let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    host.parse::<std::net::IpAddr>().is_ok_and(|ip| crate::feed::forbidden_kind(ip).is_some())
}

/// The absolute URI a `Location` names, relative to `from`; an https page is never sent on to
/// plain http.
fn follow(from: &Uri, location: &HeaderValue) -> Result<Uri, HttpError> {
    let location = location.to_str().map_err(|_| HttpError::BadRedirect)?;
    let base = url::Url::parse(&from.to_string()).map_err(|_| HttpError::BadRedirect)?;
    let next = base.join(location).map_err(|_| HttpError::BadRedirect)?;
    if base.scheme() == "https" && next.scheme() != "https" {
        return Err(HttpError::BadRedirect);
    }
    next.as_str().parse().map_err(|_| HttpError::BadRedirect)
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
