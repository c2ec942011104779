//! The values of keys that are more than a number or a text: the log format, the trusted
//! proxies and the header they write, and lists of numbers that an environment variable gives as one string.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// How log lines are written.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Which forwarding header a trusted proxy writes (`proxy_header`). Only that one is read: a
/// proxy passes the other on as the client sent it, so reading it would let a client choose
/// its own address, and with it a fresh rate-limit budget per request.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyHeader {
    /// `X-Forwarded-For`, which nginx, HAProxy, Traefik, Caddy and the cloud load balancers
    /// append to.
    XForwardedFor,
    /// `Forwarded` (RFC 7239), for a proxy set up to write it (and to drop the client's).
    Forwarded,
}

/// The networks of trusted reverse proxies (`trusted_proxies`), from a list of CIDRs or one
/// comma-separated string (the form an environment variable gives). A bare address is its own
/// network (`/32`, `/128`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<IpNet>);

impl TrustedProxies {
    /// Whether `ip` is inside one of the networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    fn parse_one(text: &str) -> Result<IpNet, NotANetwork> {
        let text = text.trim();
        text.parse::<IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| NotANetwork(text.to_owned()))
    }
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::addresses::comma_separated(deserializer)?
            .iter()
            .filter(|item| !item.trim().is_empty())
            .map(|item| Self::parse_one(item))
            .collect::<Result<_, _>>()
            .map(Self)
            .map_err(de::Error::custom)
    }
}

/// An entry of `trusted_proxies` that is neither a network nor an address.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a network like 10.0.0.0/8 or an address")]
struct NotANetwork(String);

impl Serialize for TrustedProxies {
    /// One comma-separated string, the form `KALENDS_TRUSTED_PROXIES` takes.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let networks: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        serializer.serialize_str(&networks.join(","))
    }
}

/// A list of whole numbers, written in TOML as a list or, as an environment variable gives it,
/// one comma-separated string (`86400,7200`) or one number.
pub(super) fn numbers<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u64>, D::Error> {
    deserializer.deserialize_any(Numbers)
}

struct Numbers;

impl<'de> de::Visitor<'de> for Numbers {
    type Value = Vec<u64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of whole numbers, or one comma-separated string of them")
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Vec<u64>, E> {
        Ok(vec![number])
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Vec<u64>, E> {
        let unexpected = de::Unexpected::Signed(number);
        u64::try_from(number).map(|n| vec![n]).map_err(|_| E::invalid_value(unexpected, &self))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<u64>, E> {
        let items = text.split(',').map(str::trim).filter(|item| !item.is_empty());
        items
            .map(|item| {
                item.parse().map_err(|_| E::custom(format!("{item:?} is not a whole number")))
            })
            .collect()
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u64>, A::Error> {
        let mut numbers = Vec::new();
        while let Some(number) = seq.next_element()? {
            numbers.push(number);
        }
        Ok(numbers)
    }
}
