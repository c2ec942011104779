//! A per-user request quota on the calendar APIs, as Google (requests per minute per user) and
//! Graph (requests per app and mailbox) enforce theirs: a request over it is answered 429 in the
//! provider's own envelope, Graph's with `Retry-After`, Google's without (Google documents
//! exponential backoff instead). Off until a test or a benchmark sets it
//! (`PUT /_control/quota`).
//!
//! Neither provider says how bursty its minute may be; the sandbox is stricter than a
//! per-minute window: a user's requests are a token bucket (GCRA) refilled at the quota's pace
//! that holds [`BURST_SECONDS`] of it, so a client must pace itself, not send a minute's
//! requests at once.

use std::collections::HashMap;
use std::time::Instant;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::{google_error, graph_error};
use crate::Provider;

/// How many seconds of its quota a user may send at once.
pub const BURST_SECONDS: u32 = 10;

/// What `PUT /_control/quota` sets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quota {
    /// Calendar API requests a minute per user (0: no quota).
    pub requests_per_minute: u32,
}

impl Quota {
    /// Requests a user may send at once: [`BURST_SECONDS`] of the quota (none without one).
    fn burst(self) -> u32 {
        match self.requests_per_minute {
            0 => 0,
            per_minute => (per_minute.saturating_mul(BURST_SECONDS) / 60).max(1),
        }
    }
}

/// What `GET /_control/quota` answers: the quota and what it did since it was set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaView {
    /// Calendar API requests a minute per user (0: no quota).
    pub requests_per_minute: u32,
    /// Requests let through.
    pub admitted: u64,
    /// Requests answered 429.
    pub limited: u64,
    /// Requests a user may send at once, with a full bucket ([`BURST_SECONDS`] of the quota).
    pub burst: u32,
}

/// The quota and each user's bucket.
#[derive(Debug)]
pub(crate) struct Quotas {
    quota: Quota,
    /// Each user's "theoretical arrival time" (GCRA), in ms since `epoch`.
    users: HashMap<String, f64>,
    epoch: Instant,
    admitted: u64,
    limited: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            quota: Quota::default(),
            users: HashMap::new(),
            epoch: Instant::now(),
            admitted: 0,
            limited: 0,
        }
    }
}

impl Quotas {
    /// Sets the quota; every user's bucket starts full and the counts from zero.
    pub(crate) fn set(&mut self, quota: Quota) {
        *self = Self { quota, ..Self::default() };
    }

    pub(crate) fn view(&self) -> QuotaView {
        QuotaView {
            requests_per_minute: self.quota.requests_per_minute,
            admitted: self.admitted,
            limited: self.limited,
            burst: self.quota.burst(),
        }
    }

    /// Whether `user` may make one more request at `now`; counts it either way.
    pub(crate) fn admit(&mut self, user: &str, now: Instant) -> bool {
        let per_minute = self.quota.requests_per_minute;
        if per_minute == 0 {
            return true;
        }
        let interval = 60_000.0 / f64::from(per_minute);
        let burst = f64::from(self.quota.burst());
        let now = now.duration_since(self.epoch).as_secs_f64() * 1000.0;
        let tat = self.users.get(user).copied().unwrap_or(now).max(now);
        // (A microsecond of slack for the sums' rounding.)
        if tat + interval - now > burst * interval + 0.001 {
            self.limited += 1;
            return false;
        }
        self.users.insert(user.to_owned(), tat + interval);
        self.admitted += 1;
        true
    }
}

/// Whether the quota applies to a request to `path`: the calendar APIs, not the token or
/// directory endpoints.
pub(crate) fn applies(path: &str) -> bool {
    path.starts_with("/google/calendar/") || path.starts_with("/microsoft/v1.0/")
}

/// Whose quota a request counts against: the mailbox an app-only Graph call names
/// (`/users/{id}/...`), otherwise the bearer token's user (`account`), otherwise the token.
pub(crate) fn user_of(
    provider: Provider,
    path: &str,
    headers: &HeaderMap,
    account: impl FnOnce(&str) -> Option<String>,
) -> String {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    let mailbox = path.split("/users/").nth(1).and_then(|rest| rest.split('/').next());
    let who = match mailbox {
        Some(mailbox) if provider == Provider::Microsoft => mailbox.to_ascii_lowercase(),
        _ => account(token).unwrap_or_else(|| token.to_owned()),
    };
    format!("{provider}:{who}")
}

/// The provider's answer to a request over the quota.
pub(crate) fn over_quota(provider: Provider) -> Response {
    match provider {
        Provider::Google => google_error(
            StatusCode::TOO_MANY_REQUESTS,
            "rateLimitExceeded",
            "Rate Limit Exceeded",
            None,
        ),
        Provider::Microsoft => {
            let mut response = graph_error(
                StatusCode::TOO_MANY_REQUESTS,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_user_gets_ten_seconds_of_the_quota_at_once_then_its_pace_and_another_user_has_their_own() {
        let mut quotas = Quotas::default();
        quotas.set(Quota { requests_per_minute: 600 });
        let start = Instant::now();
        let admitted = (0..150).filter(|_| quotas.admit("google:ann", start)).count();
        assert_eq!(admitted, 100, "ten seconds of 600 a minute");
        assert!(!quotas.admit("google:ann", start + Duration::from_millis(50)));
        assert!(quotas.admit("google:ann", start + Duration::from_millis(101)), "one every 100 ms");
        assert!(quotas.admit("google:bo", start), "another user's bucket is full");
        assert_eq!(
            quotas.view(),
            QuotaView { requests_per_minute: 600, admitted: 102, limited: 51, burst: 100 }
        );
    }

    #[test]
    fn no_quota_admits_everything_and_counts_nothing() {
        let mut quotas = Quotas::default();
        assert!((0..10_000).all(|_| quotas.admit("google:ann", Instant::now())));
        assert_eq!(quotas.view(), QuotaView::default());
    }

    #[test]
    fn an_app_only_graph_call_counts_against_the_mailbox_it_names() {
        let headers = HeaderMap::new();
        let user = user_of(
            Provider::Microsoft,
            "/microsoft/v1.0/users/Ann@x.com/events",
            &headers,
            |_| None,
        );
        assert_eq!(user, "microsoft:ann@x.com");
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "Bearer t1".parse().unwrap());
        let user = user_of(
            Provider::Google,
            "/google/calendar/v3/calendars/primary/events",
            &headers,
            |t| (t == "t1").then(|| "bo@x.com".to_owned()),
        );
        assert_eq!(user, "google:bo@x.com");
    }
}
