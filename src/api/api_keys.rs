//! `/api/v1/api-keys`: the tenant's API keys (never the keys themselves) and their revocation.
//!
//! A key may revoke itself or another key of its tenant, but not the tenant's last active key:
//! keys are minted only by an operator (`kalends tenant api-key`), so that would lock the tenant
//! out of the API. Operators can revoke any key, the last one included, with
//! `kalends tenant api-key TENANT_ID --revoke KEY_ID`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use kalends_service::tenants;
use kalends_store::{ApiKeyInfo, Revocation};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::ListOut;
use super::error::{ApiError, Problem};
use super::extract::{AuthKey, parse_id};
use crate::state::AppState;

/// An API key without its secret.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ApiKeyOut {
    /// Server id (pass it to `DELETE /api/v1/api-keys/{id}`).
    pub id: Uuid,
    /// The key's first characters (`kal_` and 8 more), to tell keys apart.
    pub prefix: String,
    /// When it was minted.
    pub created_at: DateTime<Utc>,
    /// When it was revoked; null while it works.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Whether this is the key that made the request.
    pub current: bool,
}

impl ApiKeyOut {
    fn new(key: &ApiKeyInfo, current: Uuid) -> Self {
        ApiKeyOut {
            id: key.id,
            prefix: key.prefix.clone(),
            created_at: key.created_at,
            revoked_at: key.revoked_at,
            current: key.id == current,
        }
    }
}

/// List the tenant's API keys, oldest first, revoked ones included (a tenant has a handful, so
/// the list is one page).
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys",
    responses((status = 200, body = ListOut<ApiKeyOut>)))]
async fn list_api_keys(
    State(state): State<AppState>,
    auth: AuthKey,
) -> Result<axum::Json<ListOut<ApiKeyOut>>, ApiError> {
    let keys = state.store.list_api_keys(auth.tenant.id).await?;
    let items = keys.iter().map(|k| ApiKeyOut::new(k, auth.key_id)).collect();
    Ok(axum::Json(ListOut { items, next_cursor: None }))
}

/// Revoke an API key: it answers 401 from the next request on. Revoking a revoked key answers
/// 204 again; the tenant's last active key answers 409.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api-keys",
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn revoke_api_key(
    State(state): State<AppState>,
    auth: AuthKey,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    match tenants::revoke_api_key(&state.store, auth.tenant.id, id, true).await? {
        Revocation::Revoked(_) => Ok(StatusCode::NO_CONTENT),
        Revocation::LastActiveKey => Err(ApiError::conflict(
            "this is the tenant's last active API key: have an operator mint another one \
             (`kalends tenant api-key`) before revoking it",
        )),
    }
}

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_api_keys)).routes(routes!(revoke_api_key))
}
