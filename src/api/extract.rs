//! Extractors that answer in problem+json: JSON bodies with field paths, the tenant behind the
//! API key, and list paging.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kalends_core::domain::Tenant;
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::error::ApiError;
use crate::input::FieldError;
use crate::input::fields::Checker;
use crate::input::json::{self, JsonError};
use crate::state::AppState;

/// A JSON body. Malformed JSON answers 400, a wrong or unknown field 422 naming the field, a body
/// over the limit 413 and a non-JSON content type 415.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json =
            req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(
                |ct| {
                    ct.split(';')
                        .next()
                        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
                },
            );
        if !is_json {
            return Err(ApiError::unsupported_media_type());
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large()
            } else {
                ApiError::bad_request(rejection.body_text())
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON body whose fields are all optional: a request without one (no body at all, as a bare
/// `POST .../done` sends) is the empty object; a body given is read as [`ApiJson`] reads it.
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let headers = req.headers();
        let length = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok());
        let bodiless = headers.get(header::CONTENT_TYPE).is_none()
            && headers.get(header::TRANSFER_ENCODING).is_none()
            && length.is_none_or(|n| n.trim() == "0");
        if bodiless {
            return Ok(Self(T::default()));
        }
        ApiJson::from_request(req, state).await.map(|ApiJson(body)| Self(body))
    }
}

/// Deserializes `bytes`, turning serde's error into a field-level problem.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    json::read(bytes).map_err(|e| match e {
        JsonError::Malformed(inner) => {
            ApiError::bad_request(format!("the body is not valid JSON: {inner}"))
        }
        JsonError::Field(error) => ApiError::invalid(vec![error]),
    })
}

/// A query string. A parameter of the wrong type (`?reject_conflicts=maybe`) answers 422 naming
/// it, as a body field would; unknown parameters are ignored.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let query = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(query).map(ApiQuery).map_err(|e| {
            let message = e.inner().to_string();
            // A parameter given twice, or one missing, is named by the message only.
            let field = match e.path().to_string() {
                root if root == "." => quoted(&message).unwrap_or(root),
                path => path,
            };
            ApiError::invalid_field(field, message)
        })
    }
}

/// The first name serde quotes in `message` (``duplicate field `status` ``).
fn quoted(message: &str) -> Option<String> {
    let (_, rest) = message.split_once('`')?;
    let (name, _) = rest.split_once('`')?;
    Some(name.to_owned())
}

/// The tenant whose API key the request presents (`Authorization: Bearer <key>`).
#[derive(Debug, Clone)]
pub struct AuthTenant(pub Tenant);

impl FromRequestParts<AppState> for AuthTenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match state.store.authenticate(&bearer_key(parts)?).await? {
            Some(tenant) => Ok(AuthTenant(tenant)),
            None => Err(ApiError::unauthorized("unknown or revoked API key")),
        }
    }
}

/// The key of `Authorization: Bearer <key>`.
fn bearer_key(parts: &Parts) -> Result<SecretString, ApiError> {
    let header =
        parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or_else(
            || ApiError::unauthorized("send your API key as `Authorization: Bearer <key>`"),
        )?;
    let key =
        header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer ")).ok_or_else(
            || ApiError::unauthorized("the Authorization header must use the Bearer scheme"),
        )?;
    Ok(SecretString::from(key.trim()))
}

/// `?limit=&cursor=` of a list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// Page size: default 50, at most 500.
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Validated paging.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    /// Page size.
    pub limit: u32,
    /// Only items after this id.
    pub after: Option<Uuid>,
}

impl PageQuery {
    /// Paging of a list without other filters: a bad limit or cursor answers 422.
    pub fn checked(&self) -> Result<Paging, ApiError> {
        let mut errors = Vec::new();
        let paging = self.paging(&mut errors);
        if errors.is_empty() { Ok(paging) } else { Err(ApiError::invalid(errors)) }
    }

    /// Checks the limit and decodes the cursor, adding problems to `errors`.
    pub fn paging(&self, errors: &mut Vec<FieldError>) -> Paging {
        let limit = match self.limit.as_deref().map(str::parse::<u32>) {
            None => 50,
            Some(Ok(n)) if (1..=500).contains(&n) => n,
            Some(_) => {
                errors.push(FieldError::new("limit", "must be a whole number from 1 to 500"));
                50
            }
        };
        let after = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(c) => match decode_cursor(c) {
                Some(id) => Some(id),
                None => {
                    errors.push(FieldError::new("cursor", "is not a cursor this API handed out"));
                    None
                }
            },
        };
        Paging { limit, after }
    }
}

/// The opaque form of a list cursor.
pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(text: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    Uuid::from_slice(&bytes).ok()
}

/// A path id; anything that is not a UUID cannot name an object, so it answers 404.
pub fn parse_id(text: &str) -> Result<Uuid, ApiError> {
    text.parse().map_err(|_| ApiError::not_found())
}

/// The external id of a `PUT .../by-external-id/{external_id}`: the one in the URL, checked like
/// any external id. The body may repeat it but not contradict it.
pub fn path_external_id(path: &str, body: Option<&str>) -> Result<String, ApiError> {
    let mut c = Checker::default();
    let ext = c.external_id("external_id", path);
    if body.is_some_and(|b| b != path) {
        c.fail("external_id", "differs from the external id in the URL");
    }
    c.finish(|| ext).map_err(ApiError::invalid)
}

/// Serde helper for PATCH fields that may be set to null: absent = `None`, null = `Some(None)`.
pub fn nullable<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// The tenant and the id of the API key the request presents, for handlers about keys.
#[derive(Debug, Clone)]
pub struct AuthKey {
    /// The key's tenant.
    pub tenant: Tenant,
    /// The presented key's id.
    pub key_id: Uuid,
}

impl FromRequestParts<AppState> for AuthKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = bearer_key(parts)?;
        match state.store.authenticate_key(&key).await? {
            Some((tenant, key_id)) => Ok(AuthKey { tenant, key_id }),
            None => Err(ApiError::unauthorized("unknown or revoked API key")),
        }
    }
}
