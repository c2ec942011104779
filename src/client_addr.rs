//! Who the client is: the peer address, or behind a trusted reverse proxy (`trusted_proxies`)
//! the address its forwarding headers name. Every rate limit keys on [`ClientAddr`], so a
//! visitor behind a proxy gets their own budget and nobody else can pick theirs by sending a
//! header.
//!
//! When the peer is a trusted proxy, the client is the right-most hop of the header the proxies
//! write (`proxy_header`: `X-Forwarded-For`, or `Forwarded`'s `for=` parameters, RFC 7239) that
//! is not itself a trusted proxy: hops left of it were written by the client and prove nothing.
//! The other header is never read: a proxy passes it on as the client sent it. A hop that is not
//! an address (`unknown`, an obfuscated name) stops the walk at the proxy that wrote it.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use kalends_core::config::{ProxyHeader, TrustedProxies};

use crate::state::AppState;

/// The client's address as a rate-limit key: an IPv4 address, or an IPv6 address cut to its /64
/// (one household or server gets a whole /64, so the rest of it is theirs to pick).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The client's key from its address.
    pub fn from_ip(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                Self(IpAddr::V6(Ipv6Addr::from(prefix)))
            }
            v4 => Self(v4),
        }
    }

    /// The key as bytes, to append to another key.
    pub fn octets(self) -> Vec<u8> {
        match self.0 {
            IpAddr::V4(ip) => ip.octets().to_vec(),
            IpAddr::V6(ip) => ip.octets().to_vec(),
        }
    }

    /// The client of a request whose TCP peer is `peer`, behind `trusted` proxies that write
    /// `header`.
    pub fn resolve(
        peer: IpAddr,
        headers: &HeaderMap,
        trusted: &TrustedProxies,
        header: ProxyHeader,
    ) -> Self {
        Self::from_ip(client_ip(peer, headers, trusted, header))
    }

    /// What [`remember`] recorded for this request; without it (a router served without
    /// connection info), the peer address, or one key shared by every such request.
    pub fn of(extensions: &axum::http::Extensions) -> Self {
        extensions.get::<ClientAddr>().copied().unwrap_or_else(|| {
            Self::from_ip(
                extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map_or(IpAddr::from([0, 0, 0, 0]), |ConnectInfo(peer)| peer.ip()),
            )
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(&parts.extensions))
    }
}

/// Middleware: works out the request's [`ClientAddr`] once and keeps it in its extensions.
pub async fn remember(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let config = &state.config;
        let client = ClientAddr::resolve(
            peer.ip(),
            request.headers(),
            &config.trusted_proxies,
            config.proxy_header,
        );
        request.extensions_mut().insert(client);
    }
    next.run(request).await
}

/// The client's address (not yet cut to a key).
pub fn client_ip(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
    header: ProxyHeader,
) -> IpAddr {
    if !trusted.contains(peer) {
        return peer;
    }
    let hops = match header {
        ProxyHeader::XForwardedFor => x_forwarded_for(headers),
        ProxyHeader::Forwarded => forwarded_for(headers),
    };
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) if trusted.contains(*ip) => client = *ip,
            Some(ip) => return *ip,
            None => return client,
        }
    }
    client
}

/// The `for=` values of every `Forwarded` header, in order (`None` for one that is no address).
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("forwarded")
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("for=unknown").split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim().eq_ignore_ascii_case("for").then(|| parse_hop(value))
            })
        })
        .collect()
}

/// The hops of every `X-Forwarded-For` header, in order.
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("unknown").split(','))
        .map(parse_hop)
        .collect()
}

/// `192.0.2.1`, `"192.0.2.1:4711"`, `"[2001:db8::1]:4711"` or `2001:db8::1`.
fn parse_hop(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    text.parse().ok().or_else(|| {
        let (host, port) = text.rsplit_once(':')?;
        port.parse::<u16>().ok()?;
        host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(nets: &str) -> TrustedProxies {
        serde_json::from_value(serde_json::json!(nets)).unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    const XFF: ProxyHeader = ProxyHeader::XForwardedFor;
    const FORWARDED: ProxyHeader = ProxyHeader::Forwarded;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_right_most_hop_that_is_not_a_trusted_proxy_is_the_client() {
        let proxies = trusted("10.0.0.0/8,127.0.0.1");
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.1, 10.1.1.1")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &chain, &proxies, XFF), ip("198.51.100.1"));
        let split = headers(&[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "198.51.100.2")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &split, &proxies, XFF), ip("198.51.100.2"));
        let all_proxies = headers(&[("x-forwarded-for", "10.2.2.2, 10.1.1.1")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &all_proxies, &proxies, XFF), ip("10.2.2.2"));
        assert_eq!(client_ip(ip("127.0.0.1"), &HeaderMap::new(), &proxies, XFF), ip("127.0.0.1"));
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let proxies = trusted("10.0.0.0/8");
        let spoofed = headers(&[("x-forwarded-for", "198.51.100.1"), ("forwarded", "for=1.2.3.4")]);
        for header in [XFF, FORWARDED] {
            assert_eq!(client_ip(ip("192.0.2.9"), &spoofed, &proxies, header), ip("192.0.2.9"));
            let none = TrustedProxies::default();
            assert_eq!(client_ip(ip("192.0.2.9"), &spoofed, &none, header), ip("192.0.2.9"));
        }
    }

    #[test]
    fn only_the_header_the_proxies_write_is_read_and_forwarded_s_quoted_ports_and_brackets_are_read()
     {
        let proxies = trusted("127.0.0.1");
        let both = headers(&[
            ("x-forwarded-for", "198.51.100.1"),
            (
                "forwarded",
                r#"for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711""#,
            ),
        ]);
        assert_eq!(client_ip(ip("127.0.0.1"), &both, &proxies, FORWARDED), ip("2001:db8:cafe::17"));
        assert_eq!(client_ip(ip("127.0.0.1"), &both, &proxies, XFF), ip("198.51.100.1"));
        let port = headers(&[("forwarded", r#"for="192.0.2.43:47011""#)]);
        assert_eq!(client_ip(ip("127.0.0.1"), &port, &proxies, FORWARDED), ip("192.0.2.43"));
        // The client's own `Forwarded`, passed on by a proxy that writes X-Forwarded-For, and
        // the other way round: the proxy's peer is the client.
        assert_eq!(client_ip(ip("127.0.0.1"), &port, &proxies, XFF), ip("127.0.0.1"));
        let xff = headers(&[("x-forwarded-for", "198.51.100.1")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &xff, &proxies, FORWARDED), ip("127.0.0.1"));
    }

    #[test]
    fn a_hop_that_is_no_address_stops_at_the_proxy_that_wrote_it() {
        let proxies = trusted("10.0.0.0/8");
        let hidden = headers(&[("forwarded", "for=198.51.100.1, for=_hidden, for=10.0.0.2")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &hidden, &proxies, FORWARDED), ip("10.0.0.2"));
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64_and_mapped_ipv4_as_ipv4() {
        let a = ClientAddr::from_ip(ip("2001:db8:1:2:aaaa::1"));
        assert_eq!(a, ClientAddr::from_ip(ip("2001:db8:1:2::ffff")));
        assert_ne!(a, ClientAddr::from_ip(ip("2001:db8:1:3::1")));
        assert_eq!(ClientAddr::from_ip(ip("::ffff:192.0.2.1")), ClientAddr(ip("192.0.2.1")));
    }
}
