//! What can go wrong when fetching a feed, and whether trying again later can help.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};

use super::AddressKind;

/// A failed feed fetch.
///
/// Messages name the host at most: feed URLs carry secrets in their path or query
/// (Airbnb's `?s=...`, Google's private address), so neither ever appears here.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL (as registered, or a redirect's target) is not one Kalends fetches.
    #[error("url: {reason}")]
    InvalidUrl {
        /// What is wrong, phrased for the person who registered the feed.
        reason: String,
    },
    /// The host is, or resolves only to, an address inside a private network.
    ///
    /// The message names neither the address nor its kind: anyone with an API key could
    /// otherwise map the operator's internal DNS one feed URL at a time. Both are in the
    /// fields, for the operator's logs.
    #[error(
        "{} is not a public address; feeds are not fetched from private networks unless \
         KALENDS_IMPORT__ALLOW_PRIVATE_NETWORKS=true",
        shown_host(host)
    )]
    ForbiddenAddress {
        /// The host as written in the URL.
        host: String,
        /// The address that was refused (the first one, when the name has several).
        ip: IpAddr,
        /// Which kind of non-public address it is.
        kind: AddressKind,
    },
    /// The host name could not be resolved.
    #[error("could not resolve {host}: {detail}")]
    Dns {
        /// The host as written in the URL.
        host: String,
        /// The resolver's explanation.
        detail: String,
    },
    /// No connection could be established (refused, unreachable, reset).
    #[error("could not connect to {host}: {detail}")]
    Connect {
        /// The host as written in the URL.
        host: String,
        /// The underlying error chain.
        detail: String,
    },
    /// Connecting, or the whole fetch including redirects and body, took too long.
    #[error("{host} did not answer within {}s", limit.as_secs_f64())]
    Timeout {
        /// The host of the URL that was fetched.
        host: String,
        /// The limit that was exceeded.
        limit: Duration,
    },
    /// The feed redirected more often than the policy allows (or in a loop).
    #[error("the feed redirected more than {limit} times")]
    TooManyRedirects {
        /// `FetchPolicy::max_redirects`.
        limit: u8,
    },
    /// The (decompressed) feed is larger than the policy allows.
    #[error("the feed is larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// `FetchPolicy::max_bytes`.
        limit: u64,
    },
    /// The server answered with a status other than success, redirect or 304.
    #[error("{host} answered HTTP {status}")]
    HttpStatus {
        /// The host that answered.
        host: String,
        /// The HTTP status code.
        status: u16,
        /// How long the server asked us to wait, from `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// The TLS handshake failed (bad certificate, not TLS at all, ...).
    #[error("TLS error with {host}: {detail}")]
    Tls {
        /// The host as written in the URL.
        host: String,
        /// The underlying error chain.
        detail: String,
    },
    /// Anything else: a connection broken mid-transfer, a corrupt gzip stream, ...
    #[error("fetching from {host} failed: {detail}")]
    Other {
        /// The host as written in the URL (empty when building the client failed).
        host: String,
        /// The underlying error chain.
        detail: String,
    },
}

impl FetchError {
    /// Whether the same fetch may succeed later without anyone changing anything.
    ///
    /// DNS failures count as retryable: resolvers fail transiently far more often than a
    /// booking platform's domain disappears. `Other` errors are mostly connections broken
    /// mid-transfer, so they are retryable too.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Dns { .. } | Self::Connect { .. } | Self::Timeout { .. } | Self::Other { .. } => {
                true
            }
            Self::HttpStatus { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            Self::InvalidUrl { .. }
            | Self::ForbiddenAddress { .. }
            | Self::TooManyRedirects { .. }
            | Self::BodyTooLarge { .. }
            | Self::Tls { .. } => false,
        }
    }

    /// The wait the server asked for with `Retry-After`, if it did. Not capped: the caller
    /// decides how much of it to honor.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::HttpStatus { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status code, for errors that are an HTTP answer.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::HttpStatus { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The host as a message may show it: a name as written, an IP literal (as written or reached
/// by a redirect) not at all.
fn shown_host(host: &str) -> &str {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_ok() { "the feed's host" } else { host }
}

/// Parses a `Retry-After` value: delay seconds (fractions tolerated, though RFC 9110 only
/// has integers) or an HTTP date, which is turned into a delay from `now` (zero if past).
pub(super) fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        // try_from rejects negative, NaN and absurdly large values instead of panicking.
        return Duration::try_from_secs_f64(seconds).ok();
    }
    let at = parse_http_date(value)?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// Parses the three date formats RFC 9110 says recipients must accept.
fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    // IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT"; RFC 2822 parsing covers it.
    if let Ok(date) = DateTime::parse_from_rfc2822(value) {
        return Some(date.with_timezone(&Utc));
    }
    // Obsolete RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime
    // ("Sun Nov  6 08:49:37 1994") forms.
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
        .map(|naive| naive.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("1994-11-06T08:49:00Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn retry_after_accepts_whole_and_fractional_seconds() {
        assert_eq!(parse_retry_after("120", now()), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 1.5 ", now()), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn retry_after_accepts_all_three_http_date_formats() {
        for value in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_retry_after(value, now()), Some(Duration::from_secs(37)), "{value}");
        }
    }

    #[test]
    fn retry_after_in_the_past_means_now_and_garbage_means_nothing() {
        let past = "Sat, 05 Nov 1994 08:49:37 GMT";
        assert_eq!(parse_retry_after(past, now()), Some(Duration::ZERO));
        for garbage in ["soon", "-5", "NaN", "1e300", ""] {
            assert_eq!(parse_retry_after(garbage, now()), None, "{garbage}");
        }
    }

    #[test]
    fn retryable_statuses_are_5xx_429_and_408() {
        let status =
            |status| FetchError::HttpStatus { host: "h".into(), status, retry_after: None };
        for code in [500, 502, 503, 504, 429, 408] {
            assert!(status(code).is_retryable(), "{code}");
        }
        for code in [400, 401, 403, 404, 410] {
            assert!(!status(code).is_retryable(), "{code}");
        }
    }

    #[test]
    fn forbidden_address_message_explains_how_to_allow_it() {
        let error = FetchError::ForbiddenAddress {
            host: "localhost".into(),
            ip: [127, 0, 0, 1].into(),
            kind: AddressKind::Loopback,
        };
        assert_eq!(
            error.to_string(),
            "localhost is not a public address; feeds are not fetched from private networks \
             unless KALENDS_IMPORT__ALLOW_PRIVATE_NETWORKS=true"
        );
        assert!(!error.is_retryable());
    }

    #[test]
    fn forbidden_address_message_never_names_the_address() {
        for (host, ip) in [
            ("intranet.example", "10.1.2.3"),
            ("10.1.2.3", "10.1.2.3"),
            ("[fd00::1]", "fd00::1"),
            ("169.254.169.254", "169.254.169.254"),
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let kind = crate::outbound::forbidden_kind(ip).unwrap();
            let error = FetchError::ForbiddenAddress { host: host.into(), ip, kind };
            let message = error.to_string();
            assert!(message.contains("not a public address"), "{message}");
            assert!(!message.contains(&ip.to_string()), "{message}");
            assert!(!message.contains(&kind.to_string()), "{message}");
        }
    }
}
