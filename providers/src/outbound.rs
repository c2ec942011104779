//! The one guard every outbound HTTP request goes through: feed imports, CalDAV (every request,
//! redirect and address the server hands back) and webhook deliveries.
//!
//! - **One spelling of an address.** A URL is parsed once by the WHATWG rules (`url`), which turn
//!   `2130706433`, `127.1`, `0x7f.0.0.1`, `0177.0.0.1` and `127.0.0.1.` into `127.0.0.1`; that
//!   parsed form is both what is checked and what is sent, so the check and the connection never
//!   read the same text two ways.
//! - **The address connected to.** An IP literal is checked with its port before connecting; a
//!   name is checked by the resolver ([`address`]), on the addresses the connection will use
//!   (DNS rebinding gains nothing); and the peer of every answer is checked once more before its
//!   body is read.
//! - **Narrow exceptions.** The operator may open single addresses, networks or `ip:port`
//!   ([`AddressPolicy::allowed`]). A resolver does not see the URL's port, so each port an
//!   `ip:port` rule names gets a client of its own.
//! - **Bounded answers.** [`read_capped`] reads a body chunk by chunk, counted after gzip
//!   decoding, and stops at the limit: a gzip bomb or an endless body costs one chunk more.
//! - **No proxy, no automatic redirects, no `Referer`.** Callers follow redirects themselves and
//!   send every hop through [`Outbound::client_for`] again.
//!
//! Errors name the host a URL gave, never the address it resolved to.

mod address;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use reqwest::{ClientBuilder, Response, Url};

use self::address::GuardedResolver;
pub(crate) use self::address::ResolveRefusal;
pub use self::address::{AddressKind, AddressPolicy, forbidden_kind};

/// Why a request may not be sent, or its answer not be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refused {
    /// Not an `http://` or `https://` URL with a host.
    #[error("{reason}")]
    InvalidUrl {
        /// What is wrong, without the URL (it may be secret).
        reason: String,
    },
    /// The address is loopback, private or otherwise not public, and not allowed. The message
    /// names neither the address nor its kind (a tenant could map the operator's network one
    /// URL at a time); both are in the fields, for the operator's logs.
    #[error("{host} is not a public address")]
    Forbidden {
        /// The host as the URL gave it.
        host: String,
        /// The address refused: for logs at debug level, never for a message a user reads.
        ip: IpAddr,
        /// Why it is refused.
        kind: AddressKind,
    },
}

/// HTTP clients held to one [`AddressPolicy`]; cheap to clone (the connection pools are shared).
#[derive(Clone, Debug)]
pub struct Outbound {
    policy: Arc<AddressPolicy>,
    /// The client for every port no `ip:port` rule names (port 0) first, then one per named port.
    clients: Arc<[(u16, reqwest::Client)]>,
}

impl Outbound {
    /// Clients for `policy`, each set up by `configure` (time limits, user agent, gzip...) on top
    /// of what the guard needs: the guarded resolver, no proxy, no redirects, no `Referer`.
    pub fn new(
        policy: AddressPolicy,
        configure: impl Fn(ClientBuilder) -> ClientBuilder,
    ) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(policy);
        let ports = std::iter::once(0).chain(policy.allowed.named_ports());
        let clients = ports
            .map(|port| {
                let resolver = GuardedResolver { policy: policy.clone(), port };
                let builder = reqwest::Client::builder()
                    .dns_resolver(Arc::new(resolver))
                    .no_proxy()
                    .redirect(reqwest::redirect::Policy::none())
                    .referer(false);
                configure(builder).build().map(|client| (port, client))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { policy, clients: clients.into() })
    }

    /// The policy enforced.
    pub fn policy(&self) -> &AddressPolicy {
        &self.policy
    }

    /// Parses `text` as the guard reads every URL (WHATWG, so an address has one spelling).
    pub fn parse(text: &str) -> Result<Url, Refused> {
        let url = Url::parse(text.trim())
            .map_err(|_| Refused::InvalidUrl { reason: "the address is not a valid URL".into() })?;
        check_shape(&url)?;
        Ok(url)
    }

    /// The client to send `url` with, once the URL is checked: `http` or `https` with a host,
    /// and an IP literal allowed on its port (a name is checked by the client's resolver).
    pub fn client_for(&self, url: &Url) -> Result<&reqwest::Client, Refused> {
        check_shape(url)?;
        let port = url.port_or_known_default().unwrap_or(0);
        if let Some(ip) = literal_ip(url) {
            self.check(url, SocketAddr::new(ip, port))?;
        }
        let client =
            self.clients.iter().find(|(named, _)| *named == port).unwrap_or(&self.clients[0]);
        Ok(&client.1)
    }

    /// Checks an address to be stored for later requests (a calendar a server lists) without
    /// sending anything: a literal as [`Outbound::client_for`] does, a name on the addresses it
    /// resolves to now (each later request is checked again when it connects).
    pub async fn vet(&self, url: &Url) -> Result<(), Refused> {
        self.client_for(url)?;
        let (Some(url::Host::Domain(host)), Some(port)) = (url.host(), url.port_or_known_default())
        else {
            return Ok(());
        };
        let Ok(addrs) = tokio::net::lookup_host((host, port)).await else {
            // Not resolvable now: the request that uses it will fail or be checked then.
            return Ok(());
        };
        let mut first_refused = None;
        for addr in addrs {
            match self.policy.refusal(addr) {
                None => return Ok(()),
                Some(kind) => {
                    first_refused.get_or_insert(Refused::Forbidden {
                        host: host.to_owned(),
                        ip: addr.ip(),
                        kind,
                    });
                }
            }
        }
        first_refused.map_or(Ok(()), Err)
    }

    /// Checks the peer an answer came from (a second line behind the resolver and the literal
    /// check): call it before reading the body.
    pub fn check_peer(&self, url: &Url, response: &Response) -> Result<(), Refused> {
        match response.remote_addr() {
            Some(peer) => self.check(url, peer),
            None => Ok(()),
        }
    }

    fn check(&self, url: &Url, addr: SocketAddr) -> Result<(), Refused> {
        match self.policy.refusal(addr) {
            None => Ok(()),
            Some(kind) => {
                let host = url.host_str().unwrap_or_default().to_owned();
                tracing::debug!(%host, %kind, "outbound request to a forbidden address refused");
                Err(Refused::Forbidden { host, ip: addr.ip(), kind })
            }
        }
    }
}

/// `http` or `https`, with a host.
fn check_shape(url: &Url) -> Result<(), Refused> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refused::InvalidUrl {
            reason: "only http:// and https:// are supported".into(),
        });
    }
    if url.host().is_none() {
        return Err(Refused::InvalidUrl { reason: "the URL has no host".into() });
    }
    Ok(())
}

/// The IP of a URL whose host is an IP literal (as the WHATWG parser read it).
pub(crate) fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// The guarded resolver's refusal inside a reqwest error, if that is why it failed.
pub fn refusal_in(error: &reqwest::Error) -> Option<Refused> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        if let Some(ResolveRefusal::Forbidden { host, ip, kind }) = error.downcast_ref() {
            return Some(Refused::Forbidden { host: host.clone(), ip: *ip, kind: *kind });
        }
        // An `io::Error`'s `source()` skips the error it wraps: look inside with `get_ref`.
        current = match error.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref) {
            Some(inner) => Some(inner),
            None => error.source(),
        };
    }
    None
}

/// Why a body was not read whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// It grew past the limit (counted after decoding).
    #[error("the answer is larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// Reading broke off or timed out.
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
}

/// The most of one answer of a provider's API Kalends reads (Graph, the Workspace directory):
/// a page is a few mebibytes at most, and an answer without end (a proxy or a double gone
/// wrong) stops here rather than fill the worker's memory.
pub const MAX_API_ANSWER: u64 = 16 * 1024 * 1024;

/// Reads the decoded body chunk by chunk, stopping as soon as it passes `limit`, so a huge
/// answer or a gzip bomb costs at most one chunk more than the limit.
pub async fn read_capped(mut response: Response, limit: u64) -> Result<Bytes, BodyError> {
    // Only known for identity encoding: reqwest drops the length of gzip bodies.
    let announced = response.content_length();
    if announced.is_some_and(|length| length > limit) {
        return Err(BodyError::TooLarge { limit });
    }
    let capacity = announced.unwrap_or(0).min(limit).min(1024 * 1024);
    let mut body = BytesMut::with_capacity(usize::try_from(capacity).unwrap_or(0));
    while let Some(chunk) = response.chunk().await? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(allowed: &str) -> Outbound {
        let policy =
            AddressPolicy { allow_private_networks: false, allowed: allowed.parse().unwrap() };
        Outbound::new(policy, |builder| builder).unwrap()
    }

    #[test]
    fn every_spelling_of_loopback_is_read_as_loopback_and_refused() {
        let guard = guard("");
        for spelling in [
            "http://127.0.0.1:5232/",
            "http://2130706433:5232/",
            "http://127.1:5232/",
            "http://0x7f.0.0.1:5232/",
            "http://0177.0.0.1:5232/",
            "http://127.0.0.1.:5232/",
            "http://[::ffff:127.0.0.1]:5232/",
            "http://[::1]:5232/",
            "http://0:5232/",
            "http://169.254.169.254/latest/meta-data/",
            "http://0xa9.0xfe.0xa9.0xfe/",
            "http://[::ffff:a9fe:a9fe]/",
        ] {
            let url = Outbound::parse(spelling).unwrap();
            let refused = guard.client_for(&url).unwrap_err();
            assert!(matches!(refused, Refused::Forbidden { .. }), "{spelling}: {refused}");
        }
    }

    #[test]
    fn an_allowed_ip_and_port_opens_that_port_only_in_any_spelling() {
        let guard = guard("127.0.0.1:5232");
        for allowed in ["http://127.0.0.1:5232/", "http://2130706433:5232/", "http://127.1:5232/"] {
            assert!(guard.client_for(&Outbound::parse(allowed).unwrap()).is_ok(), "{allowed}");
        }
        for refused in ["http://127.0.0.1:5233/", "http://127.1/", "http://[::1]:5232/"] {
            assert!(guard.client_for(&Outbound::parse(refused).unwrap()).is_err(), "{refused}");
        }
    }

    #[test]
    fn a_refusal_never_shows_the_path_of_the_url() {
        let guard = guard("");
        let url = Outbound::parse("http://0x7f.0.0.1:8080/secret").unwrap();
        let text = guard.client_for(&url).unwrap_err().to_string();
        assert_eq!(text, "127.0.0.1 is not a public address");
        assert!(!text.contains("secret"));
    }

    #[test]
    fn only_http_and_https_urls_are_sent() {
        for bad in ["file:///etc/passwd", "gopher://example.com/", "mailto:a@example.com"] {
            assert!(matches!(Outbound::parse(bad), Err(Refused::InvalidUrl { .. })), "{bad}");
        }
    }
}
