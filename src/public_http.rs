//! What the public secret-URL routes share, the feeds (`src/feeds.rs`) and the availability
//! calendars (`src/widget.rs`): the rate limiter per URL and client (its `429` is `ApiError::rate_limited`),
//! the validators (`ETag`, `Last-Modified`) an answer carries and the check that answers `304` to
//! a client whose copy is current, and the hex digests the tags are written in.

use axum::http::{HeaderMap, HeaderValue, header};
use chrono::{DateTime, Utc};

use crate::client_addr::ClientAddr;

/// Requests per secret URL and client address: a leaked URL polled in a loop costs little, and
/// whoever polls it starves only themselves, not the platform the URL was made for.
#[derive(Debug)]
pub struct FeedLimiter {
    limiter: governor::DefaultKeyedRateLimiter<Vec<u8>>,
}

impl FeedLimiter {
    /// `per_minute` requests a minute per URL and client, in bursts of as many.
    pub fn new(per_minute: u32) -> Self {
        let per_minute = std::num::NonZeroU32::new(per_minute).unwrap_or(std::num::NonZeroU32::MIN);
        Self { limiter: governor::RateLimiter::hashmap(governor::Quota::per_minute(per_minute)) }
    }

    /// `Err(wait)` when `client` asked for the URL whose token has this hash over its rate.
    pub fn check(&self, hash: &[u8], client: ClientAddr) -> Result<(), std::time::Duration> {
        if self.limiter.len() > 100_000 {
            self.limiter.retain_recent();
        }
        let mut key = hash.to_vec();
        key.extend_from_slice(&client.octets());
        self.limiter.check_key(&key).map_err(|not_until| {
            not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ))
        })
    }
}

/// Writes `ETag`, `Last-Modified` and `Cache-Control` (feeds and availability widgets).
pub fn write_validators(
    etag: &str,
    last_modified: DateTime<Utc>,
    cache_control: &str,
    headers: &mut HeaderMap,
) {
    let http_date = last_modified.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let pairs = [
        (header::ETAG, etag),
        (header::LAST_MODIFIED, http_date.as_str()),
        (header::CACHE_CONTROL, cache_control),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
}

/// Whether the client's copy is current (RFC 9110 §13.1: `If-None-Match` wins).
pub fn fresh(etag: &str, last_modified: DateTime<Utc>, request: &HeaderMap) -> bool {
    if let Some(tags) = request.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        return tags
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == etag || t == "*");
    }
    let since = request.get(header::IF_MODIFIED_SINCE).and_then(|v| v.to_str().ok());
    since
        .and_then(|s| DateTime::parse_from_rfc2822(s).ok())
        .is_some_and(|since| last_modified.timestamp() <= since.timestamp())
}

/// Lower-case hex of `bytes`, as entity tags and versions are written.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
