//! The HTTP client side: one `reqwest::Client`, redirects followed by hand so every hop is
//! checked, and a body read that stops at the size limit.

use std::error::Error as StdError;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kalends_core::addresses::{AddressRule, AllowedAddresses};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Response, StatusCode, Url};

use super::FetchError;
use super::error::parse_retry_after;
use super::normalize::{check_fetchable, host_of};
use crate::outbound::{self, AddressPolicy, BodyError, Outbound, Refused, ResolveRefusal};

/// What a [`Fetcher`] is allowed to do.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// Allow loopback, private, link-local and other non-public addresses. Off by default:
    /// only for installations whose feeds really live on the internal network
    /// (`KALENDS_IMPORT__ALLOW_PRIVATE_NETWORKS=true`).
    pub allow_private_networks: bool,
    /// The non-public IPs, networks and `ip:port` the operator opened
    /// (`import.allowed_addresses`): reachable on every hop, by IP literal or by name.
    pub allowed: AllowedAddresses,
    /// Deadline for the whole fetch: every redirect hop and the full body.
    pub timeout: Duration,
    /// Deadline for establishing each TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Largest accepted body, counted after gzip decoding.
    pub max_bytes: u64,
    /// How many redirects are followed before giving up.
    pub max_redirects: u8,
    /// The `User-Agent` header, so feed operators can tell who is polling them.
    pub user_agent: String,
    /// Kalends's own address when its public URL names one by IP (the embedded first run
    /// imports its sandbox's demo export from there): reachable as the URL a tenant registered,
    /// never through a redirect, so an outside server cannot point Kalends at itself.
    pub own_address: Option<SocketAddr>,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_bytes: 10 * 1024 * 1024,
            max_redirects: 5,
            user_agent: format!(
                "Kalends/{} (+https://example.invalid/kalends)",
                env!("CARGO_PKG_VERSION")
            ),
            allowed: AllowedAddresses::default(),
            own_address: None,
        }
    }
}

/// The conditional-request validators remembered from the previous successful fetch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    /// The previous `ETag`, sent back as `If-None-Match`.
    pub etag: Option<String>,
    /// The previous `Last-Modified`, sent back as `If-Modified-Since`.
    pub last_modified: Option<String>,
}

/// The outcome of a successful fetch.
#[derive(Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The feed has not changed since the validators were issued (HTTP 304).
    NotModified {
        /// Always 304.
        status: u16,
    },
    /// The feed's current content.
    Body {
        /// The final (2xx) status.
        status: u16,
        /// The decoded body, at most `FetchPolicy::max_bytes` long.
        body: Bytes,
        /// The new `ETag`, to send next time.
        etag: Option<String>,
        /// The new `Last-Modified`, to send next time.
        last_modified: Option<String>,
        /// Where the body came from after redirects. Secret, like the feed URL itself.
        final_url: Url,
    },
}

/// Shows the body's length, not its bytes, and the final URL's host alone.
impl std::fmt::Debug for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotModified { status } => {
                f.debug_struct("NotModified").field("status", status).finish()
            }
            Self::Body { status, body, etag, last_modified, final_url } => f
                .debug_struct("Body")
                .field("status", status)
                .field("body_bytes", &body.len())
                .field("etag", etag)
                .field("last_modified", last_modified)
                .field("final_url", &kalends_core::redact::url_host_only(final_url.as_str()))
                .finish(),
        }
    }
}

/// Fetches feed URLs under a [`FetchPolicy`]. Build one and share it: it holds the
/// connection pool.
#[derive(Debug, Clone)]
pub struct Fetcher {
    outbound: Outbound,
    /// The same clients also reaching [`FetchPolicy::own_address`], for the first hop only.
    first_hop: Option<Outbound>,
    policy: Arc<FetchPolicy>,
}

impl Fetcher {
    /// Builds the HTTP clients for `policy`. Fails only when the user agent is not a valid
    /// header value or the TLS backend cannot start.
    pub fn new(policy: FetchPolicy) -> Result<Self, FetchError> {
        let guard = |allowed: AllowedAddresses| {
            let addresses =
                AddressPolicy { allow_private_networks: policy.allow_private_networks, allowed };
            Outbound::new(addresses, |builder| {
                let mut headers = HeaderMap::new();
                headers
                    .insert(header::ACCEPT, HeaderValue::from_static("text/calendar, */*;q=0.5"));
                builder
                    .timeout(policy.timeout)
                    .connect_timeout(policy.connect_timeout)
                    .user_agent(policy.user_agent.as_str())
                    .default_headers(headers)
                    .gzip(true)
            })
            .map_err(|error| FetchError::Other {
                host: String::new(),
                detail: error_chain(&error.without_url()),
            })
        };
        let outbound = guard(policy.allowed.clone())?;
        let first_hop = match policy.own_address {
            Some(own) => {
                let rules = policy.allowed.rules().iter().copied();
                Some(guard(AllowedAddresses::new(rules.chain([AddressRule::Socket(own)])))?)
            }
            None => None,
        };
        Ok(Self { outbound, first_hop, policy: Arc::new(policy) })
    }

    /// The policy this fetcher enforces.
    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    /// Fetches `url`, sending `validators` as a conditional request.
    ///
    /// Redirects are followed up to the policy's limit, every hop is held to the address
    /// rules, and the whole exchange shares one deadline. Non-2xx answers other than 304
    /// and followed redirects are errors.
    pub async fn fetch(&self, url: &Url, validators: &Validators) -> Result<Fetched, FetchError> {
        let fetch = self.follow_redirects(url.clone(), validators);
        match tokio::time::timeout(self.policy.timeout, fetch).await {
            Ok(result) => result,
            Err(_elapsed) => {
                Err(FetchError::Timeout { host: host_of(url), limit: self.policy.timeout })
            }
        }
    }

    async fn follow_redirects(
        &self,
        mut url: Url,
        validators: &Validators,
    ) -> Result<Fetched, FetchError> {
        let origin = url.origin();
        let mut redirects = 0;
        loop {
            let guard = match (&self.first_hop, redirects) {
                (Some(first_hop), 0) => first_hop,
                _ => &self.outbound,
            };
            check_fetchable(&url)?;
            let client = guard.client_for(&url).map_err(refused)?;
            // Validators describe the original resource; another origin must not see them.
            let conditional = (url.origin() == origin).then_some(validators);
            let response = self.send(client, &url, conditional).await?;
            guard.check_peer(&url, &response).map_err(refused)?;
            let Some(next) = redirect_target(&url, &response)? else {
                return self.finish(url, response).await;
            };
            if redirects >= self.policy.max_redirects {
                return Err(FetchError::TooManyRedirects { limit: self.policy.max_redirects });
            }
            redirects += 1;
            url = next;
        }
    }

    async fn send(
        &self,
        client: &reqwest::Client,
        url: &Url,
        validators: Option<&Validators>,
    ) -> Result<Response, FetchError> {
        let mut request = client.get(url.clone());
        if let Some(validators) = validators {
            request = request.headers(conditional_headers(validators));
        }
        let response = request.send().await.map_err(|error| self.classify(error, url))?;
        tracing::debug!(host = %host_of(url), status = response.status().as_u16(), "feed response");
        Ok(response)
    }

    /// Turns the final response into the result: 304, a body, or an HTTP error.
    async fn finish(&self, url: Url, response: Response) -> Result<Fetched, FetchError> {
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified { status: status.as_u16() });
        }
        if !status.is_success() {
            return Err(status_error(&url, &response));
        }
        let etag = header_string(&response, header::ETAG);
        let last_modified = header_string(&response, header::LAST_MODIFIED);
        let body = self.read_body(&url, response).await?;
        Ok(Fetched::Body { status: status.as_u16(), body, etag, last_modified, final_url: url })
    }

    /// Reads the decoded body up to the policy's limit (a gzip bomb costs one chunk more).
    async fn read_body(&self, url: &Url, response: Response) -> Result<Bytes, FetchError> {
        outbound::read_capped(response, self.policy.max_bytes).await.map_err(|error| match error {
            BodyError::TooLarge { limit } => FetchError::BodyTooLarge { limit },
            BodyError::Transport(error) => self.classify(error, url),
        })
    }

    /// Maps a reqwest error to a [`FetchError`] without ever formatting the URL.
    fn classify(&self, error: reqwest::Error, url: &Url) -> FetchError {
        let host = host_of(url);
        if let Some(refusal) = find_source::<ResolveRefusal>(&error) {
            return match refusal {
                ResolveRefusal::Forbidden { host, ip, kind } => {
                    FetchError::ForbiddenAddress { host: host.clone(), ip: *ip, kind: *kind }
                }
                ResolveRefusal::Lookup { host, source } => {
                    FetchError::Dns { host: host.clone(), detail: source.to_string() }
                }
            };
        }
        let is_connect = error.is_connect();
        let is_timeout = error.is_timeout();
        let is_tls = is_connect && is_tls_failure(&error);
        let detail = error_chain(&error.without_url());
        if is_timeout {
            let limit = if is_connect { self.policy.connect_timeout } else { self.policy.timeout };
            return FetchError::Timeout { host, limit };
        }
        if is_tls {
            return FetchError::Tls { host, detail };
        }
        if is_connect {
            return FetchError::Connect { host, detail };
        }
        FetchError::Other { host, detail }
    }
}

/// The guard's refusal as a fetch error.
fn refused(refusal: Refused) -> FetchError {
    match refusal {
        Refused::InvalidUrl { reason } => FetchError::InvalidUrl { reason },
        Refused::Forbidden { host, ip, kind } => FetchError::ForbiddenAddress { host, ip, kind },
    }
}

/// `If-None-Match` / `If-Modified-Since`; values that are not valid header text (they came
/// from a server) are skipped rather than failing the fetch.
fn conditional_headers(validators: &Validators) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let pairs = [
        (header::IF_NONE_MATCH, &validators.etag),
        (header::IF_MODIFIED_SINCE, &validators.last_modified),
    ];
    for (name, value) in pairs {
        if let Some(value) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(name, value);
        }
    }
    headers
}

/// The next URL when `response` is a redirect we follow, resolved against `url`.
fn redirect_target(url: &Url, response: &Response) -> Result<Option<Url>, FetchError> {
    let followed = [301, 302, 303, 307, 308];
    if !followed.contains(&response.status().as_u16()) {
        return Ok(None);
    }
    let invalid = |reason: &str| FetchError::InvalidUrl {
        reason: format!("{} redirected to {reason}", host_of(url)),
    };
    let location = response
        .headers()
        .get(header::LOCATION)
        .ok_or_else(|| invalid("nowhere (no Location header)"))?
        .to_str()
        .map_err(|_| invalid("an unreadable Location"))?;
    let next = url.join(location).map_err(|_| invalid("an invalid URL"))?;
    check_fetchable(&next).map_err(|error| match error {
        FetchError::InvalidUrl { reason } => invalid(&format!("a URL that is refused ({reason})")),
        other => other,
    })?;
    tracing::debug!(from = %host_of(url), to = %host_of(&next), "feed redirect");
    Ok(Some(next))
}

/// The error for a non-success final status, with `Retry-After` parsed.
fn status_error(url: &Url, response: &Response) -> FetchError {
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| parse_retry_after(value, chrono::Utc::now()));
    FetchError::HttpStatus { host: host_of(url), status: response.status().as_u16(), retry_after }
}

fn header_string(response: &Response, name: header::HeaderName) -> Option<String> {
    let value = response.headers().get(name)?.to_str().ok()?;
    Some(value.to_owned())
}

/// The first error of type `T` in `error`'s source chain.
fn find_source<'e, T: StdError + 'static>(error: &'e (dyn StdError + 'static)) -> Option<&'e T> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(found) = error.downcast_ref::<T>() {
            return Some(found);
        }
        current = next_in_chain(error);
    }
    None
}

/// The error `error` wraps. An `io::Error`'s `source()` skips the error it wraps (it
/// returns that error's source), so look inside it with `get_ref` instead.
fn next_in_chain<'e>(error: &'e (dyn StdError + 'static)) -> Option<&'e (dyn StdError + 'static)> {
    match error.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
        Some(inner) => Some(inner),
        None => error.source(),
    }
}

/// Whether a connect error came from the TLS handshake: tokio-rustls reports rustls
/// errors (bad certificate, not TLS at all) as `io::Error`s of kind `InvalidData`, which
/// hyper-rustls wraps once more; TCP failures are plain OS errors.
fn is_tls_failure(error: &reqwest::Error) -> bool {
    let mut current = Some(error as &(dyn StdError + 'static));
    while let Some(error) = current {
        let io = error.downcast_ref::<io::Error>();
        if io.is_some_and(|io| io.kind() == io::ErrorKind::InvalidData) {
            return true;
        }
        current = next_in_chain(error);
    }
    false
}

/// All messages of an error chain joined with ": ". Call it on `error.without_url()`.
fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut current = error.source();
    while let Some(error) = current {
        parts.push(error.to_string());
        current = error.source();
    }
    parts.join(": ")
}
