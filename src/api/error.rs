//! The one API error type: every failure answers `application/problem+json` (RFC 9457), with
//! field-level messages where a request field is at fault.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kalends_core::availability::Violation;
use kalends_store::StoreError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::conflict_item::ConflictItemOut;
use crate::input::FieldError;

/// An RFC 9457 problem.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened in this case.
    pub detail: String,
    /// Per-field problems (empty when no single field is at fault).
    pub errors: Vec<FieldError>,
    /// For a booking refused with `?reject_conflicts=true`: the items it would collide with.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub conflicts: Option<serde_json::Value>,
    /// For a booking refused with `?reject_conflicts=true` because it breaks an availability
    /// rule: the (first) rule's field name, `min_nights` say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// That rule's limit (`2` for `min_nights`, `["sun"]` for `no_arrival_days`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub limit: Option<serde_json::Value>,
    /// What the booking has (`1` night, `"sun"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub value: Option<serde_json::Value>,
    /// Every rule the booking breaks: `{rule, limit, value, message}` each.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub violations: Option<serde_json::Value>,
    /// For a booking write with `recheck_feeds=true`: what the fresh look at each import found
    /// before the decision (`{import_id, outcome, error?}` each).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub feeds_rechecked: Option<serde_json::Value>,
}

/// An error answer of the API.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    slug: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    /// What a booking write refused with `?reject_conflicts=true` collides with or breaks;
    /// boxed, as few errors carry it.
    refusal: Option<Box<Refusal>>,
    retry_after: Option<Duration>,
    /// What a booking write's fresh look at the feeds found (`recheck_feeds=true`); boxed, as
    /// few errors carry it.
    feeds_rechecked: Option<Box<serde_json::Value>>,
}

/// Why a booking write with `?reject_conflicts=true` was refused.
#[derive(Debug)]
enum Refusal {
    /// The items it would collide with.
    Collides(Vec<ConflictItemOut>),
    /// The availability rules it breaks (at least one).
    BreaksRules(Vec<Violation>),
}

impl ApiError {
    fn new(status: StatusCode, slug: &'static str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let (errors, refusal, retry_after, feeds_rechecked) = (Vec::new(), None, None, None);
        Self { status, slug, detail, errors, refusal, retry_after, feeds_rechecked }
    }

    /// The items a booking write refused with 409 collides with, to add what the API knows of
    /// them (the details of imported reservations).
    pub fn collisions_mut(&mut self) -> Option<&mut Vec<ConflictItemOut>> {
        match self.refusal.as_deref_mut() {
            Some(Refusal::Collides(items)) => Some(items),
            _ => None,
        }
    }

    /// The same error, saying what a booking write's fresh look at the feeds found first.
    pub fn with_rechecked(mut self, rechecked: Option<serde_json::Value>) -> Self {
        self.feeds_rechecked = rechecked.map(Box::new);
        self
    }

    /// 409 for a booking that would collide with `items` (`?reject_conflicts=true`).
    pub fn collides(items: Vec<ConflictItemOut>) -> Self {
        Self {
            refusal: Some(Box::new(Refusal::Collides(items))),
            ..Self::new(
                StatusCode::CONFLICT,
                "conflict",
                "the booking overlaps another booking, a block or an imported busy time; see conflicts",
            )
        }
    }

    /// 422 for a booking that breaks availability rules (`?reject_conflicts=true`): the first
    /// rule, its limit and the booking's value at the top, every one in `violations`.
    pub fn breaks_rules(broken: Vec<Violation>) -> Self {
        let detail = match broken.first() {
            Some(v) => format!("the booking breaks the rule {}: {}", v.rule, v.message),
            None => "the booking breaks an availability rule".to_owned(),
        };
        let refusal = Some(Box::new(Refusal::BreaksRules(broken)));
        Self { refusal, ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "rule", detail) }
    }

    /// 404: no such object in this tenant (other tenants' objects answer this too).
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "no such object")
    }

    /// 405: the path exists, not with this method.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "this path does not take this method; see /api/v1/openapi.json",
        )
    }

    /// 408: the request, its body included, took longer than the server waits.
    pub fn request_timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request-timeout",
            "the request, its body included, took longer than the server waits \
             (http.request_timeout_secs); send it again",
        )
    }

    /// 404 with a reason.
    pub fn not_found_detail(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// 401: missing or unknown API key.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    /// 400: the request cannot be read at all (malformed JSON, say).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    /// 409: the request conflicts with the current state.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", detail)
    }

    /// 413: the body is over the limit.
    pub fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "the request body is over 1 MiB",
        )
    }

    /// 415: not JSON.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the body as application/json",
        )
    }

    /// 422: well-formed JSON with fields that are wrong.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            many => format!("{} fields are invalid", many.len()),
        };
        Self { errors, ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", detail) }
    }

    /// The same error with each field's path passed through `rename` (`None` keeps it).
    pub fn renaming_fields(self, rename: impl Fn(&str) -> Option<String>) -> Self {
        if self.errors.is_empty() {
            return self;
        }
        let errors = self.errors.into_iter().map(|e| match rename(&e.field) {
            Some(field) => FieldError { field, ..e },
            None => e,
        });
        Self::invalid(errors.collect())
    }

    /// 422 for a single field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError::new(field, message)])
    }

    /// 500, logged once here with its source chain; the answer says nothing of internals.
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        let error = error.into();
        tracing::error!(error = format!("{error:#}"), "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; it was logged",
        )
    }

    /// 429 with `Retry-After` (whole seconds, at least one): over a rate limit until `wait` has
    /// passed.
    pub fn rate_limited(wait: Duration, detail: impl Into<String>) -> Self {
        Self {
            retry_after: Some(wait),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate-limited", detail)
        }
    }

    /// 503: a dependency is down.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }

    /// The status this error answers.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found(),
            StoreError::DuplicateExternalId => {
                ApiError::conflict("a record with that external_id already exists")
            }
            StoreError::DuplicateConnection => {
                ApiError::conflict("that account is already connected for this staff member")
            }
            StoreError::InUse { what } => ApiError::conflict(format!(
                "bookings still refer to this {what}; move or delete them first"
            )),
            StoreError::HasRooms => ApiError::conflict(
                "rooms still belong to this resource (their parent_id names it); detach them \
                 (parent_id null) or delete them first",
            ),
            StoreError::ForeignKey => {
                ApiError::conflict("the record is still referenced by bookings")
            }
            StoreError::LeaseBusy => {
                ApiError::conflict("a run of this import is already in progress")
            }
            StoreError::AlreadyResolved => ApiError::conflict("the conflict is already resolved"),
            StoreError::Invalid { field, message } => ApiError::invalid_field(field, message),
            StoreError::Collides(hits) => {
                ApiError::collides(hits.iter().map(ConflictItemOut::from).collect())
            }
            StoreError::BreaksRules(broken) => ApiError::breaks_rules(broken),
            StoreError::VersionConflict => {
                ApiError::conflict("the record changed while this request ran; retry it")
            }
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error").to_owned();
        let (conflicts, broken) = match self.refusal.map(|r| *r) {
            Some(Refusal::Collides(items)) => {
                (Some(serde_json::to_value(items).unwrap_or_default()), Vec::new())
            }
            Some(Refusal::BreaksRules(broken)) => (None, broken),
            None => (None, Vec::new()),
        };
        let violations = broken
            .iter()
            .map(|v| {
                serde_json::json!({"rule": v.rule.as_str(), "limit": v.limit, "value": v.value,
                    "message": v.message})
            })
            .collect::<Vec<_>>();
        let first = broken.into_iter().next();
        let problem = Problem {
            kind: format!("https://kalends.dev/problems/{}", self.slug),
            title,
            status: self.status.as_u16(),
            detail: self.detail,
            errors: self.errors,
            conflicts,
            rule: first.as_ref().map(|v| v.rule.as_str().to_owned()),
            limit: first.as_ref().map(|v| v.limit.clone()),
            value: first.map(|v| v.value),
            violations: (!violations.is_empty()).then_some(serde_json::Value::Array(violations)),
            feeds_rechecked: self.feeds_rechecked.map(|seen| *seen),
        };
        let mut response = (self.status, axum::Json(problem)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(wait) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, wait.as_secs().max(1).into());
        }
        response
    }
}

/// The timeout layer's bare 408, said as the API's problem for an API path.
pub async fn timeouts_as_problems(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    if api && response.status() == StatusCode::REQUEST_TIMEOUT {
        return ApiError::request_timeout().into_response();
    }
    response
}
