//! How a google-calendar3 call failed, classified.
//!
//! The crate turns any non-2xx JSON answer into `Error::BadRequest(json)` and drops the response
//! headers; the status is only in `json.error.code` and the reason in
//! `json.error.errors[0].reason`. `Capture`, the call's delegate, keeps the status and the
//! `Retry-After` header before the crate throws the response away.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use google_calendar3::common::{Response, Retry};
use google_calendar3::{Delegate, Error};

use crate::{ProviderError, parse_retry_after};

/// What the delegate saw of a failed answer.
#[derive(Clone, Debug, Default)]
pub(super) struct Capture(Arc<Mutex<Seen>>);

#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    status: Option<u16>,
    retry_after: Option<Duration>,
}

impl Capture {
    fn seen(&self) -> Seen {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Delegate for Capture {
    fn http_failure(&mut self, response: &Response, _: Option<&serde_json::Value>) -> Retry {
        let retry_after = response
            .headers()
            .get(google_calendar3::hyper::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, Utc::now()));
        let mut seen = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *seen = Seen { status: Some(response.status().as_u16()), retry_after };
        // Retrying is the caller's decision (jobs back off with the hint), never the crate's.
        Retry::Abort
    }
}

/// A failed call: the classified error and Google's reason, when it gave one.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) reason: Option<String>,
    pub(super) error: ProviderError,
}

impl Failure {
    /// Whether Google gave this reason.
    pub(super) fn is(&self, reason: &str) -> bool {
        self.reason.as_deref() == Some(reason)
    }

    /// A failure without an HTTP answer.
    pub(super) fn plain(error: ProviderError) -> Self {
        Self { reason: None, error }
    }
}

impl From<Failure> for ProviderError {
    fn from(failure: Failure) -> Self {
        failure.error
    }
}

/// Classifies the crate's error, with what the delegate captured.
pub(super) fn classify(error: Error, capture: &Capture) -> Failure {
    let seen = capture.seen();
    match error {
        Error::BadRequest(value) => from_json(&value, seen),
        Error::Failure(response) => {
            let status = response.status();
            let message = format!("HTTP {status} without a JSON error body");
            Failure::plain(ProviderError::from_status(
                status.as_u16(),
                None,
                message,
                seen.retry_after,
            ))
        }
        Error::HttpError(error) if error.is_connect() => {
            Failure::plain(ProviderError::from_connect(&error))
        }
        Error::HttpError(error) => Failure::plain(ProviderError::from_transport(&error)),
        Error::Io(error) => Failure::plain(ProviderError::from_transport(&error)),
        // A body cut off mid-way (a dropped connection) is worth retrying; nonsense is not.
        Error::JsonDecodeError(_, error) if error.is_eof() => {
            Failure::plain(ProviderError::unanswered("the answer was cut off"))
        }
        Error::JsonDecodeError(_, error) => {
            Failure::plain(ProviderError::permanent(0, format!("unreadable answer: {error}")))
        }
        other => Failure::plain(ProviderError::permanent(0, other.to_string().trim().to_owned())),
    }
}

/// Google's error envelope: `{"error":{"code","message","errors":[{"reason",..}]}}`.
fn from_json(value: &serde_json::Value, seen: Seen) -> Failure {
    let error = &value["error"];
    let status = error["code"]
        .as_u64()
        .and_then(|code| u16::try_from(code).ok())
        .or(seen.status)
        .unwrap_or(400);
    let reason = error["errors"][0]["reason"].as_str().map(str::to_owned);
    let message = error["message"].as_str().unwrap_or("no message").to_owned();
    let error = ProviderError::from_status(status, reason.as_deref(), message, seen.retry_after);
    Failure { reason, error }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_error_is_classified_by_its_code_and_reason() {
        let body = serde_json::json!({"error": {"code": 409, "message": "The requested identifier already exists.",
            "errors": [{"domain": "global", "reason": "duplicate"}]}});
        let failure = classify(Error::BadRequest(body), &Capture::default());
        assert!(failure.is("duplicate"));
        assert!(matches!(failure.error, ProviderError::Permanent { status: 409, .. }));
    }

    #[test]
    fn a_rate_limited_403_is_transient() {
        let body = serde_json::json!({"error": {"code": 403, "message": "Rate Limit Exceeded",
            "errors": [{"domain": "usageLimits", "reason": "userRateLimitExceeded"}]}});
        let failure = classify(Error::BadRequest(body), &Capture::default());
        assert!(failure.error.is_retryable());
    }
}
