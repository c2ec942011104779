//! The operator's narrow exceptions to the outbound address rules: `import.allowed_addresses`
//! and `webhooks.allowed_addresses`, each a list of IPs, CIDRs or `ip:port` that Kalends may
//! reach although they are loopback or private (an intranet CalDAV server, a feed host on the
//! office network), without opening the whole private network.
//!
//! Written in TOML as a list (`["127.0.0.1:5232", "10.1.0.0/16"]`) or, as the environment gives
//! it, one comma-separated string (`KALENDS_IMPORT__ALLOWED_ADDRESSES=127.0.0.1:5232,10.1.0.0/16`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

/// One entry of an allow-list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressRule {
    /// Every port of the addresses in a network (`10.1.0.0/16`; a bare IP is a /32 or /128).
    Network(IpNet),
    /// One port of one address (`127.0.0.1:5232`, `[::1]:5232`).
    Socket(SocketAddr),
}

impl AddressRule {
    /// Whether `addr` is what this rule allows.
    pub fn allows(&self, addr: SocketAddr) -> bool {
        match self {
            Self::Network(net) => net.contains(&canonical(addr.ip())),
            Self::Socket(allowed) => {
                canonical(allowed.ip()) == canonical(addr.ip()) && allowed.port() == addr.port()
            }
        }
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:10.1.2.3`) is the IPv4 address it carries: the OS
/// connects there, so a rule for one matches the other.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// An allow-list entry that is not one, named as written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadAddressRule {
    /// `ip:0`.
    #[error("{0:?} names port 0, which no server listens on")]
    PortZero(String),
    /// A host name, a bad network, anything else.
    #[error("{0:?} is not an IP address, a CIDR network (10.1.0.0/16) or ip:port")]
    NotAnAddress(String),
}

impl FromStr for AddressRule {
    type Err = BadAddressRule;

    fn from_str(text: &str) -> Result<Self, BadAddressRule> {
        let text = text.trim();
        if let Ok(socket) = text.parse::<SocketAddr>() {
            if socket.port() == 0 {
                return Err(BadAddressRule::PortZero(text.to_owned()));
            }
            return Ok(Self::Socket(socket));
        }
        if let Ok(net) = text.parse::<IpNet>() {
            return Ok(Self::Network(net.trunc()));
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(Self::Network(IpNet::from(ip)));
        }
        Err(BadAddressRule::NotAnAddress(text.to_owned()))
    }
}

impl fmt::Display for AddressRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Network(net) => write!(f, "{net}"),
            Self::Socket(socket) => write!(f, "{socket}"),
        }
    }
}

/// The addresses an outbound client may reach although they are not public.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedAddresses(Vec<AddressRule>);

impl AllowedAddresses {
    /// A list of the given rules.
    pub fn new(rules: impl IntoIterator<Item = AddressRule>) -> Self {
        Self(rules.into_iter().collect())
    }

    /// Exactly these `ip:port` pairs (the tests' servers on loopback).
    pub fn sockets(addrs: impl IntoIterator<Item = SocketAddr>) -> Self {
        Self::new(addrs.into_iter().map(AddressRule::Socket))
    }

    /// Whether any rule allows `addr`.
    pub fn allows(&self, addr: SocketAddr) -> bool {
        self.0.iter().any(|rule| rule.allows(addr))
    }

    /// The ports that some rule names alone (`ip:port` entries): a connection to another port
    /// of their address is not allowed by them.
    pub fn named_ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .0
            .iter()
            .filter_map(|rule| match rule {
                AddressRule::Socket(socket) => Some(socket.port()),
                AddressRule::Network(_) => None,
            })
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The rules, in the order given.
    pub fn rules(&self) -> &[AddressRule] {
        &self.0
    }
}

impl FromStr for AllowedAddresses {
    type Err = BadAddressRule;

    /// Comma-separated rules; blanks between them are ignored.
    fn from_str(text: &str) -> Result<Self, BadAddressRule> {
        text.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(AddressRule::from_str)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

impl fmt::Display for AllowedAddresses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rules: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&rules.join(","))
    }
}

impl<'de> Deserialize<'de> for AllowedAddresses {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        comma_separated(deserializer)?.join(",").parse().map_err(serde::de::Error::custom)
    }
}

/// The items of a list written in TOML as a list, or as one comma-separated string (the form an
/// environment variable gives: the `config` crate does not split it).
pub(crate) fn comma_separated<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Given::deserialize(deserializer)? {
        Given::One(text) => text.split(',').map(str::to_owned).collect(),
        Given::Many(items) => items,
    })
}

impl serde::Serialize for AllowedAddresses {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(ToString::to_string))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_ip_and_port_entry_allows_that_port_only() {
        let allowed: AllowedAddresses = "127.0.0.1:5232".parse().unwrap();
        assert!(allowed.allows(addr("127.0.0.1:5232")));
        assert!(!allowed.allows(addr("127.0.0.1:22")));
        assert!(!allowed.allows(addr("127.0.0.2:5232")));
        assert_eq!(allowed.named_ports(), vec![5232]);
    }

    #[test]
    fn a_network_entry_allows_every_port_of_its_addresses() {
        let allowed: AllowedAddresses = "10.1.0.0/16, 192.168.4.7".parse().unwrap();
        assert!(allowed.allows(addr("10.1.200.3:443")));
        assert!(allowed.allows(addr("192.168.4.7:8080")));
        assert!(!allowed.allows(addr("10.2.0.1:443")));
        assert!(!allowed.allows(addr("192.168.4.8:8080")));
        assert!(allowed.named_ports().is_empty());
    }

    #[test]
    fn an_ipv4_mapped_ipv6_address_matches_its_ipv4_rule_and_back() {
        let allowed: AllowedAddresses = "127.0.0.1:5232,[::ffff:10.0.0.9]:80".parse().unwrap();
        assert!(allowed.allows(addr("[::ffff:127.0.0.1]:5232")));
        assert!(allowed.allows(addr("10.0.0.9:80")));
        assert!(!allowed.allows(addr("[::1]:5232")));
    }

    #[test]
    fn a_host_name_or_a_bad_network_is_refused_naming_the_entry() {
        for bad in ["localhost:5232", "10.0.0.0/33", "300.1.1.1", "127.0.0.1:99999", "10.0.0.1:0"] {
            let error = bad.parse::<AllowedAddresses>().unwrap_err().to_string();
            assert!(error.contains(bad), "{error}");
        }
    }

    #[test]
    fn the_environment_string_and_the_toml_list_read_the_same() {
        let from_env: AllowedAddresses =
            serde_json::from_str(r#""127.0.0.1:5232,10.1.0.0/16""#).unwrap();
        let from_list: AllowedAddresses =
            serde_json::from_str(r#"["127.0.0.1:5232", "10.1.0.0/16"]"#).unwrap();
        assert_eq!(from_env, from_list);
        assert_eq!(from_env.to_string(), "127.0.0.1:5232,10.1.0.0/16");
        assert!(serde_json::from_str::<AllowedAddresses>(r#""""#).unwrap().is_empty());
    }
}
