//! libdav's failures as provider errors, and the answers that mean something particular.

use ::http::StatusCode;
use libdav::dav::{RequestError, WebDavError};

use super::http::{DavError, HttpError};
use crate::ProviderError;
use crate::text::printable;

pub(super) fn is_unauthorized(error: &DavError) -> bool {
    matches!(error, WebDavError::BadStatusCode(StatusCode::UNAUTHORIZED))
}

pub(super) fn is_precondition_failed(error: &DavError) -> bool {
    matches!(
        error,
        WebDavError::PreconditionFailed(_)
            | WebDavError::BadStatusCode(StatusCode::PRECONDITION_FAILED)
    )
}

/// A sync token the server no longer accepts: Radicale and Xandikos answer 403 or 412 (with
/// or without `DAV:valid-sync-token`), some servers 409 or 400.
pub(super) fn is_invalid_token(error: &DavError) -> bool {
    matches!(
        error,
        WebDavError::PreconditionFailed(_)
            | WebDavError::BadStatusCode(
                StatusCode::FORBIDDEN
                    | StatusCode::PRECONDITION_FAILED
                    | StatusCode::CONFLICT
                    | StatusCode::BAD_REQUEST
            )
    )
}

/// A failure that says nothing of what the server supports: no answer, a broken one, or a
/// server down or asking to wait for the moment. (A 500 or 501 to a report may be the server's
/// way of not knowing it.)
pub(super) fn is_passing(error: &DavError) -> bool {
    matches!(
        error,
        WebDavError::Request(
            RequestError::Client(HttpError::Transport(_) | HttpError::Busy { .. })
                | RequestError::Http(_)
        ) | WebDavError::BadStatusCode(
            StatusCode::REQUEST_TIMEOUT
                | StatusCode::TOO_MANY_REQUESTS
                | StatusCode::BAD_GATEWAY
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::GATEWAY_TIMEOUT
        )
    )
}

/// A libdav failure as a provider error; a 401 is a refused password.
pub(super) fn failure(error: DavError) -> ProviderError {
    match error {
        // Nothing a retry changes: the operator's address rules, or a server that answers
        // more than Kalends reads.
        WebDavError::Request(RequestError::Client(
            e @ (HttpError::Forbidden
            | HttpError::TooLarge { .. }
            | HttpError::TooManyCalendars { .. }
            | HttpError::TooManyRedirects
            | HttpError::BadRedirect),
        )) => ProviderError::permanent(0, e.to_string()),
        WebDavError::Request(RequestError::Client(HttpError::Busy { status, retry_after })) => {
            let words =
                ::http::StatusCode::from_u16(status).map_or(String::new(), |s| s.to_string());
            let message = format!("the CalDAV server answered {words} and asked to wait");
            ProviderError::from_status(status, None, message, retry_after)
        }
        WebDavError::Request(RequestError::Client(e)) => ProviderError::from_transport(&e),
        WebDavError::Request(RequestError::Http(e)) => {
            ProviderError::unanswered(format!("the answer broke off: {e}"))
        }
        WebDavError::BadStatusCode(status) => ProviderError::from_status(
            status.as_u16(),
            None,
            format!("the CalDAV server answered {status}"),
            None,
        ),
        WebDavError::PreconditionFailed(p) => {
            ProviderError::permanent(412, format!("precondition failed: {p}"))
        }
        other => {
            ProviderError::permanent(0, printable(&format!("the CalDAV server's answer: {other}")))
        }
    }
}

/// What the OAuth "refresh" of a CalDAV connection answers: there is nothing to refresh, so a
/// refused password is a dead grant.
pub fn refused_password() -> ProviderError {
    ProviderError::DeadGrant {
        message: "the CalDAV server refused the password; connect again with a new app password"
            .into(),
    }
}
