//! Provider errors, classified by what the caller should do next.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// A failed provider call.
///
/// Messages are the provider's words; they never contain a token.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ProviderError {
    /// Worth retrying later: 5xx, timeouts, dropped connections, 429 and Google's 403 rate-limit
    /// reasons. `retry_after` is the provider's own hint when it sent one.
    #[error("the provider is unavailable or throttling: {message}")]
    Transient {
        /// What the provider said.
        message: String,
        /// From `Retry-After` (seconds, fractional allowed, or an HTTP date).
        retry_after: Option<Duration>,
        /// No answer came (a timeout, a dropped connection, a body cut off, a gateway that gave
        /// up waiting): the provider may have acted on the call, and a write may still land
        /// after Kalends stopped waiting for it.
        unanswered: bool,
    },
    /// 401: the access token was refused. Refresh once, then retry.
    #[error("the provider refused the access token: {message}")]
    Unauthorized {
        /// What the provider said.
        message: String,
    },
    /// The grant is gone (`invalid_grant`, AADSTS700082/50173, `interaction_required`): the staff
    /// member must connect again.
    #[error("the calendar connection must be made again: {message}")]
    DeadGrant {
        /// What the provider said.
        message: String,
    },
    /// The account has no mailbox the provider's calendar API reaches: Graph's
    /// `MailboxNotEnabledForRESTAPI` for an account without an Exchange Online licence, one
    /// whose mailbox is inactive, soft-deleted or still being set up, or one hosted on the
    /// organisation's own Exchange server. No calendar to read or write until it has one.
    #[error(
        "the account has no mailbox the calendar API reaches (unlicensed, inactive, being set \
         up, or hosted on premises): {message}"
    )]
    NoMailbox {
        /// What the provider said.
        message: String,
    },
    /// The event (or calendar) does not exist; a delete treats this as done.
    #[error("not found at the provider: {message}")]
    NotFound {
        /// What the provider said.
        message: String,
    },
    /// Retrying cannot help; the provider's message says why.
    #[error("the provider refused the request ({status}): {message}")]
    Permanent {
        /// HTTP status, 0 when the failure was not an HTTP answer.
        status: u16,
        /// What the provider said.
        message: String,
    },
}

impl ProviderError {
    /// Whether retrying the same call later can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Transient { .. } | Self::Unauthorized { .. })
    }

    /// The provider's `Retry-After` hint.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the call may still take effect at the provider: it went unanswered
    /// (see [`ProviderError::Transient`]).
    pub fn may_still_land(&self) -> bool {
        matches!(self, Self::Transient { unanswered: true, .. })
    }

    /// A transient error without a hint, the provider's answer in hand.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::Transient { message: message.into(), retry_after: None, unanswered: false }
    }

    /// A call that got no answer: it may have been acted on, or may still be.
    pub fn unanswered(message: impl Into<String>) -> Self {
        Self::Transient { message: message.into(), retry_after: None, unanswered: true }
    }

    /// An answer cut off past `limit` bytes ([`crate::outbound::read_capped`]), `whose`
    /// (`Graph's`) saying which: no retry makes it smaller.
    pub fn too_large(whose: &str, limit: u64) -> Self {
        let mib = limit >> 20;
        Self::permanent(
            0,
            format!("{whose} answer is larger than {mib} MiB, more than Kalends reads"),
        )
    }

    /// A permanent error.
    pub fn permanent(status: u16, message: impl Into<String>) -> Self {
        Self::Permanent { status, message: message.into() }
    }

    /// Classifies an HTTP failure by status (and, for Google's 403, reason).
    pub fn from_status(
        status: u16,
        reason: Option<&str>,
        message: String,
        retry_after: Option<Duration>,
    ) -> Self {
        match status {
            401 => Self::Unauthorized { message },
            403 if reason.is_some_and(is_rate_limit_reason) => {
                Self::Transient { message, retry_after, unanswered: false }
            }
            404 | 410 => Self::NotFound { message },
            // Graph: the item changed meanwhile (an Outlook client touching the event at the
            // same moment); the same call made again goes through.
            409 if reason == Some("ErrorIrresolvableConflict") => {
                Self::Transient { message, retry_after, unanswered: false }
            }
            // WebDAV's Locked: a CalDAV server holds the collection for another write (Xandikos
            // commits each one to git under a lock) or a client's `LOCK` is on the resource;
            // Graph documents it for a locked item too. The same call goes through once released.
            423 => Self::Transient { message, retry_after, unanswered: false },
            // A gateway that stopped waiting for the service behind it: the call may land there.
            504 => Self::Transient { message, retry_after, unanswered: true },
            408 | 429 | 500..=599 => Self::Transient { message, retry_after, unanswered: false },
            _ => Self::Permanent { status, message },
        }
    }

    /// Classifies a transport failure (no HTTP answer).
    pub fn from_transport(error: &(dyn std::error::Error + 'static)) -> Self {
        Self::unanswered(format!("no answer: {}", sanitize(error)))
    }

    /// Classifies a failure to connect: nothing was sent, so nothing can land.
    pub fn from_connect(error: &(dyn std::error::Error + 'static)) -> Self {
        Self::transient(format!("could not connect: {}", sanitize(error)))
    }
}

/// Google's 403 reasons that mean "slow down", not "forbidden".
fn is_rate_limit_reason(reason: &str) -> bool {
    matches!(
        reason,
        "userRateLimitExceeded" | "rateLimitExceeded" | "quotaExceeded" | "dailyLimitExceeded"
    )
}

/// A transport error's message without any URL query (where tokens could sit).
fn sanitize(error: &(dyn std::error::Error + 'static)) -> String {
    let text = error.to_string();
    match text.find('?') {
        Some(at) => format!("{}?…", &text[..at]),
        None => text,
    }
}

/// The longest wait a provider's `Retry-After` can impose: a longer (or absurd) hint is read as
/// this, so no value a provider sends can overflow time arithmetic or park a job for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Parses `Retry-After`: delta-seconds (fractional accepted, as Graph sends `2.128`) or an HTTP
/// date. A date in the past means "now"; anything beyond [`MAX_RETRY_AFTER`] (however absurd,
/// infinity included) means that; negative values and NaN are no hint at all.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        // Compared as floats first: `Duration::from_secs_f64` panics on what it cannot hold.
        if seconds.is_nan() || seconds < 0.0 {
            return None;
        }
        let max = MAX_RETRY_AFTER.as_secs_f64();
        return Some(if seconds >= max {
            MAX_RETRY_AFTER
        } else {
            Duration::from_secs_f64(seconds)
        });
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    Some(at.signed_duration_since(now).to_std().unwrap_or(Duration::ZERO).min(MAX_RETRY_AFTER))
}

/// Whether an OAuth token-endpoint error means the grant is dead (reconnect needed).
pub fn is_dead_grant(error_code: &str, description: &str) -> bool {
    const DEAD_AADSTS: [&str; 7] = [
        "AADSTS700082",
        "AADSTS70008",
        "AADSTS50173",
        "AADSTS700084",
        "AADSTS65001",
        "AADSTS50076",
        "AADSTS50079",
    ];
    matches!(error_code, "invalid_grant" | "interaction_required" | "consent_required")
        || DEAD_AADSTS.iter().any(|code| description.contains(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_fractions_and_http_dates() {
        let now = DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_retry_after("10", now), Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after(" 2.128 ", now), Some(Duration::from_millis(2128)));
        assert_eq!(
            parse_retry_after("Sat, 21 Nov 2026 10:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("Sat, 21 Nov 2026 09:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn absurd_retry_after_values_are_clamped_to_an_hour_instead_of_panicking() {
        let now = DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z").unwrap().with_timezone(&Utc);
        let hour = Some(MAX_RETRY_AFTER);
        assert_eq!(MAX_RETRY_AFTER, Duration::from_secs(3600));
        let huge = format!("{:.0}", 1e300_f64);
        for value in ["1e300", huge.as_str(), "18446744073709551616", "inf", "3601", "7200.5"] {
            assert_eq!(parse_retry_after(value, now), hour, "{value}");
        }
        assert_eq!(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now), hour);
        assert_eq!(parse_retry_after("NaN", now), None);
        assert_eq!(parse_retry_after("-inf", now), None);
        assert_eq!(parse_retry_after("-0.5", now), None);
        assert_eq!(parse_retry_after("3600", now), hour);
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
    }

    #[test]
    fn google_rate_limit_403s_are_transient_and_other_403s_permanent() {
        let limited = ProviderError::from_status(
            403,
            Some("userRateLimitExceeded"),
            "slow down".into(),
            None,
        );
        assert!(limited.is_retryable());
        let forbidden =
            ProviderError::from_status(403, Some("forbiddenForNonOrganizer"), "no".into(), None);
        assert!(!forbidden.is_retryable());
        assert!(matches!(
            ProviderError::from_status(410, Some("deleted"), "gone".into(), None),
            ProviderError::NotFound { .. }
        ));
        assert!(ProviderError::from_status(503, None, "down".into(), None).is_retryable());
        let daily =
            ProviderError::from_status(403, Some("dailyLimitExceeded"), "tomorrow".into(), None);
        assert!(daily.is_retryable(), "a day's quota comes back");
    }

    #[test]
    fn a_graph_conflict_with_a_concurrent_change_is_tried_again_other_409s_are_not() {
        let raced = ProviderError::from_status(
            409,
            Some("ErrorIrresolvableConflict"),
            "The send or update operation could not be performed because the change key passed \
             in the request does not match the current change key for the item."
                .into(),
            None,
        );
        assert!(raced.is_retryable());
        let duplicate = ProviderError::from_status(409, Some("duplicate"), "exists".into(), None);
        assert!(!duplicate.is_retryable());
    }

    #[test]
    fn a_locked_resource_is_tried_again_once_released() {
        let locked = ProviderError::from_status(423, None, "Resource Locked".into(), None);
        assert!(locked.is_retryable() && !locked.may_still_land());
    }

    #[test]
    fn only_a_call_left_unanswered_may_still_land() {
        assert!(ProviderError::from_status(504, None, "gateway".into(), None).may_still_land());
        assert!(ProviderError::unanswered("timed out").may_still_land());
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(ProviderError::from_transport(&io).may_still_land());
        for status in [408, 429, 500, 503] {
            let answered = ProviderError::from_status(status, None, "no".into(), None);
            assert!(!answered.may_still_land(), "{status}");
        }
        assert!(!ProviderError::transient("slow down").may_still_land());
        assert!(ProviderError::from_status(401, None, "expired".into(), None).is_retryable());
    }

    #[test]
    fn dead_grants_are_recognised_by_code_and_by_aadsts_number() {
        assert!(is_dead_grant("invalid_grant", "Token has been expired or revoked."));
        assert!(is_dead_grant("interaction_required", ""));
        assert!(is_dead_grant("invalid_request", "AADSTS50173: The provided grant has expired"));
        assert!(!is_dead_grant("temporarily_unavailable", "try later"));
    }
}
