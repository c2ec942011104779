//! Which IP addresses an outbound request may reach, and the DNS resolver that enforces it.
//!
//! Feed URLs, CalDAV servers (and every address such a server hands back) and webhook endpoints
//! come from tenants or remote servers, so without these rules anyone who can register one could
//! make Kalends send requests into the operator's network (cloud metadata at 169.254.169.254,
//! admin panels on 10.x, services on localhost).

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use kalends_core::addresses::AllowedAddresses;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why an address is off limits for outbound requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    /// `0.0.0.0` or `::`: "this host", which connects to the local machine.
    Unspecified,
    /// `127.0.0.0/8` or `::1`.
    Loopback,
    /// RFC 1918 (`10/8`, `172.16/12`, `192.168/16`) or IPv6 unique local (`fc00::/7`).
    Private,
    /// Carrier-grade NAT space `100.64.0.0/10` (RFC 6598).
    SharedAddressSpace,
    /// `169.254.0.0/16` (where cloud metadata services live) or `fe80::/10`.
    LinkLocal,
    /// `224.0.0.0/4` or `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// Documentation ranges (TEST-NET-1/2/3, `2001:db8::/32`, `3fff::/20`).
    Documentation,
    /// Benchmarking ranges (`198.18.0.0/15`, `2001:2::/48`).
    Benchmarking,
    /// Anything else that is not ordinary public unicast (`240/4`, `0/8`, `192.0.0/24`,
    /// Teredo, site-local, deprecated IPv4-compatible IPv6, ...).
    Reserved,
}

impl fmt::Display for AddressKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unspecified => "an unspecified (this host) address",
            Self::Loopback => "a loopback address",
            Self::Private => "a private network address",
            Self::SharedAddressSpace => "a shared (carrier-grade NAT) address",
            Self::LinkLocal => "a link-local address",
            Self::Multicast => "a multicast address",
            Self::Broadcast => "a broadcast address",
            Self::Documentation => "a documentation address",
            Self::Benchmarking => "a benchmarking address",
            Self::Reserved => "a reserved address",
        })
    }
}

/// Returns why `ip` must not be fetched from, or `None` for an ordinary public address.
pub fn forbidden_kind(ip: IpAddr) -> Option<AddressKind> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

/// True when `ip` lies in `base/prefix`.
fn in_v4(ip: Ipv4Addr, base: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(base)) & mask
}

/// True when `ip` lies in `base/prefix`.
fn in_v6(ip: Ipv6Addr, base: [u16; 8], prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    u128::from(ip) & mask == u128::from(Ipv6Addr::from(base)) & mask
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<AddressKind> {
    use AddressKind::*;
    // Ordered so the most specific explanation wins (0.0.0.0 before 0/8, ...).
    const RANGES: &[([u8; 4], u32, AddressKind)] = &[
        ([0, 0, 0, 0], 32, Unspecified),
        ([255, 255, 255, 255], 32, Broadcast),
        ([0, 0, 0, 0], 8, Reserved),
        ([127, 0, 0, 0], 8, Loopback),
        ([10, 0, 0, 0], 8, Private),
        ([172, 16, 0, 0], 12, Private),
        ([192, 168, 0, 0], 16, Private),
        ([100, 64, 0, 0], 10, SharedAddressSpace),
        ([169, 254, 0, 0], 16, LinkLocal),
        ([192, 0, 0, 0], 24, Reserved),
        ([192, 0, 2, 0], 24, Documentation),
        ([198, 51, 100, 0], 24, Documentation),
        ([203, 0, 113, 0], 24, Documentation),
        ([198, 18, 0, 0], 15, Benchmarking),
        ([192, 88, 99, 0], 24, Reserved),
        ([224, 0, 0, 0], 4, Multicast),
        ([240, 0, 0, 0], 4, Reserved),
    ];
    RANGES.iter().find(|(base, prefix, _)| in_v4(ip, *base, *prefix)).map(|(_, _, kind)| *kind)
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<AddressKind> {
    use AddressKind::*;
    if ip.is_unspecified() {
        return Some(Unspecified);
    }
    if ip.is_loopback() {
        return Some(Loopback);
    }
    if let Some(kind) = forbidden_embedded_v4(ip) {
        return kind;
    }
    const RANGES: &[([u16; 8], u32, AddressKind)] = &[
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, Documentation),
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, Documentation),
        ([0x2001, 0x2, 0, 0, 0, 0, 0, 0], 48, Benchmarking),
        // Teredo hides an IPv4 address we cannot check reliably; no feed needs it.
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 32, Reserved),
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, Private),
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, LinkLocal),
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, Multicast),
    ];
    if let Some((_, _, kind)) = RANGES.iter().find(|(b, p, _)| in_v6(ip, *b, *p)) {
        return Some(*kind);
    }
    // Only 2000::/3 is allocated as global unicast; everything else (site-local fec0::/10,
    // discard 100::/64, unassigned space) has no business serving a public feed.
    (!in_v6(ip, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3)).then_some(Reserved)
}

/// For the IPv6 forms that carry an IPv4 address, the verdict on that address:
/// `Some(verdict)` when `ip` is such a form, `None` when it is not.
fn forbidden_embedded_v4(ip: Ipv6Addr) -> Option<Option<AddressKind>> {
    let bits = u128::from(ip);
    let low32 = Ipv4Addr::from(bits as u32);
    // IPv4-mapped ::ffff:a.b.c.d: the OS connects to the IPv4 address itself.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(forbidden_v4(v4));
    }
    // NAT64 64:ff9b::/96 reaches the embedded IPv4 address through the translator, so a
    // public one is fine (IPv6-only networks need it) and a private one is not.
    if in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96) {
        return Some(forbidden_v4(low32));
    }
    // 6to4 2002:a.b.c.d::/48 routes to the embedded IPv4 address.
    if in_v6(ip, [0x2002, 0, 0, 0, 0, 0, 0, 0], 16) {
        let v4 = Ipv4Addr::from((bits >> 80) as u32);
        return Some(forbidden_v4(v4));
    }
    // Deprecated IPv4-compatible ::a.b.c.d, SIIT ::ffff:0:a.b.c.d and local-use NAT64
    // 64:ff9b:1::/48: never needed for a public feed, so refuse them, naming the embedded
    // address's kind when it has one.
    let deprecated = in_v6(ip, [0, 0, 0, 0, 0, 0, 0, 0], 96)
        || in_v6(ip, [0, 0, 0, 0, 0xffff, 0, 0, 0], 96)
        || in_v6(ip, [0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48);
    deprecated.then(|| Some(forbidden_v4(low32).unwrap_or(AddressKind::Reserved)))
}

/// Which addresses an outbound client may connect to: public ones, and the non-public ones the
/// operator opened (all of them with `allow_private_networks`, or those `allowed` names).
#[derive(Clone, Debug, Default)]
pub struct AddressPolicy {
    /// Every address is allowed (`import.allow_private_networks`, `webhooks.allow_private_networks`).
    pub allow_private_networks: bool,
    /// Non-public IPs, networks or `ip:port` allowed anyway (`*.allowed_addresses`).
    pub allowed: AllowedAddresses,
}

impl AddressPolicy {
    /// Why `addr` may not be connected to, or `None` when it may. Port 0 stands for "a port no
    /// `ip:port` rule names", which only network rules can allow.
    pub fn refusal(&self, addr: SocketAddr) -> Option<AddressKind> {
        if self.allow_private_networks || self.allowed.allows(addr) {
            return None;
        }
        forbidden_kind(addr.ip())
    }
}

/// Why the guarded resolver did not hand out an address. Travels inside reqwest's error
/// chain so the clients can turn it back into a precise error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ResolveRefusal {
    /// Every address the name resolved to is forbidden; the first one is kept (never shown).
    #[error("{host} is not a public address")]
    Forbidden { host: String, ip: IpAddr, kind: AddressKind },
    /// The lookup itself failed (or returned nothing).
    #[error("could not resolve {host}: {source}")]
    Lookup { host: String, source: io::Error },
}

/// A [`Resolve`] implementation that drops forbidden addresses.
///
/// Filtering here, on the addresses reqwest is about to connect to, is what defeats DNS
/// rebinding: a name cannot pass a check with one answer and connect with another. A resolver
/// does not see the URL's port, so each client resolves for one port: `port` is the one an
/// `ip:port` rule names, or 0 for every other port.
#[derive(Debug, Clone)]
pub(crate) struct GuardedResolver {
    pub(crate) policy: Arc<AddressPolicy>,
    pub(crate) port: u16,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let (policy, port) = (self.policy.clone(), self.port);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = lookup(&host).await?;
            let allowed = allowed_addrs(&host, addrs, &policy, port)?;
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Resolves `host` with the system resolver (port 0: reqwest fills in the URL's port).
async fn lookup(host: &str) -> Result<Vec<SocketAddr>, ResolveRefusal> {
    let refusal = |source| ResolveRefusal::Lookup { host: host.to_owned(), source };
    let addrs: Vec<SocketAddr> =
        tokio::net::lookup_host((host, 0)).await.map_err(refusal)?.collect();
    if addrs.is_empty() {
        return Err(refusal(io::Error::new(io::ErrorKind::NotFound, "no addresses")));
    }
    Ok(addrs)
}

/// Keeps the addresses `policy` allows on `port`, failing when none is left.
fn allowed_addrs(
    host: &str,
    addrs: Vec<SocketAddr>,
    policy: &AddressPolicy,
    port: u16,
) -> Result<Vec<SocketAddr>, ResolveRefusal> {
    let mut first_refused = None;
    let allowed: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|addr| match policy.refusal(SocketAddr::new(addr.ip(), port)) {
            None => true,
            Some(kind) => {
                first_refused.get_or_insert((addr.ip(), kind));
                false
            }
        })
        .collect();
    match (allowed.is_empty(), first_refused) {
        (true, Some((ip, kind))) => {
            tracing::debug!(%host, %kind, "host resolves only to forbidden addresses");
            Err(ResolveRefusal::Forbidden { host: host.to_owned(), ip, kind })
        }
        _ => Ok(allowed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(ip: &str) -> Option<AddressKind> {
        forbidden_kind(ip.parse().unwrap())
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "192.0.3.1",
            "2a00:1450:4001:80b::200e",
            "2606:4700::1111",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert_eq!(kind(ip), None, "{ip}");
        }
    }

    #[test]
    fn every_special_purpose_ipv4_range_is_refused_with_its_reason() {
        use AddressKind::*;
        for (ip, expected) in [
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Reserved),
            ("127.0.0.1", Loopback),
            ("127.255.255.254", Loopback),
            ("10.0.0.1", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.1.1", Private),
            ("100.64.0.1", SharedAddressSpace),
            ("100.127.255.255", SharedAddressSpace),
            ("169.254.169.254", LinkLocal),
            ("192.0.0.170", Reserved),
            ("192.0.2.1", Documentation),
            ("198.51.100.7", Documentation),
            ("203.0.113.9", Documentation),
            ("198.18.0.1", Benchmarking),
            ("198.19.255.255", Benchmarking),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("240.0.0.1", Reserved),
            ("255.255.255.255", Broadcast),
        ] {
            assert_eq!(kind(ip), Some(expected), "{ip}");
        }
    }

    #[test]
    fn ipv6_special_ranges_and_ipv4_in_ipv6_forms_are_refused() {
        use AddressKind::*;
        for (ip, expected) in [
            ("::", Unspecified),
            ("::1", Loopback),
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:10.1.2.3", Private),
            ("::ffff:169.254.169.254", LinkLocal),
            ("::127.0.0.1", Loopback),
            ("::8.8.8.8", Reserved),
            ("::ffff:0:192.168.0.1", Private),
            ("64:ff9b::127.0.0.1", Loopback),
            ("64:ff9b::a9fe:a9fe", LinkLocal),
            ("64:ff9b:1::8.8.8.8", Reserved),
            ("2002:7f00:1::1", Loopback),
            ("2002:c0a8:101::1", Private),
            ("fc00::1", Private),
            ("fd12:3456::1", Private),
            ("fe80::1", LinkLocal),
            ("fec0::1", Reserved),
            ("ff02::1", Multicast),
            ("2001:db8::1", Documentation),
            ("3fff::1", Documentation),
            ("2001:2::1", Benchmarking),
            ("2001:0:4136:e378::1", Reserved),
            ("100::1", Reserved),
        ] {
            assert_eq!(kind(ip), Some(expected), "{ip}");
        }
    }

    fn policy(allowed: &str, allow_private_networks: bool) -> AddressPolicy {
        AddressPolicy { allow_private_networks, allowed: allowed.parse().unwrap() }
    }

    #[test]
    fn resolver_filter_keeps_public_addresses_and_drops_private_ones() {
        let addrs = vec!["10.0.0.1:0".parse().unwrap(), "8.8.8.8:0".parse().unwrap()];
        let kept = allowed_addrs("mixed.example", addrs, &policy("", false), 0).unwrap();
        assert_eq!(kept, vec!["8.8.8.8:0".parse::<SocketAddr>().unwrap()]);
    }

    #[test]
    fn resolver_filter_fails_naming_the_first_forbidden_address_when_nothing_is_left() {
        let addrs = vec!["127.0.0.1:0".parse().unwrap(), "[::1]:0".parse().unwrap()];
        let refusal = allowed_addrs("evil.example", addrs, &policy("", false), 0).unwrap_err();
        assert!(matches!(
            refusal,
            ResolveRefusal::Forbidden { ref host, ip, kind: AddressKind::Loopback }
                if host == "evil.example" && ip == IpAddr::from([127, 0, 0, 1])
        ));
    }

    #[test]
    fn resolver_filter_lets_everything_through_when_private_networks_are_allowed() {
        let addrs = vec!["127.0.0.1:0".parse().unwrap()];
        let kept = allowed_addrs("localhost", addrs.clone(), &policy("", true), 0).unwrap();
        assert_eq!(kept, addrs);
    }

    #[test]
    fn an_allowed_ip_and_port_is_resolved_only_for_that_port() {
        let addrs: Vec<SocketAddr> = vec!["127.0.0.1:0".parse().unwrap()];
        let allowed = policy("127.0.0.1:5232", false);
        assert!(allowed_addrs("caldav.intranet", addrs.clone(), &allowed, 5232).is_ok());
        assert!(allowed_addrs("caldav.intranet", addrs.clone(), &allowed, 22).is_err());
        assert!(allowed_addrs("caldav.intranet", addrs, &allowed, 0).is_err());
    }
}
