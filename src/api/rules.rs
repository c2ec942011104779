//! `/api/v1/resources/{id}/rules` and `/api/v1/staff/{id}/rules`: the availability rules of a
//! resource or staff member (turnover, stay lengths, booking window, notice, arrival and
//! departure days, opening hours, buffers). `PUT` replaces them whole: an absent field is no
//! rule.

use axum::extract::{Path, State};
use kalends_core::availability::{RuleError, RulesDraft};
use kalends_core::domain::Owner;
use kalends_service::availability::{self, RulesRefused};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, Problem};
use super::extract::{ApiJson, AuthTenant, parse_id};
use crate::input::FieldError;
use crate::state::AppState;

/// The rules of a resource.
#[utoipa::path(get, path = "/api/v1/resources/{id}/rules", tag = "availability",
    params(("id" = String, Path, description = "The resource's id")),
    responses((status = 200, body = RulesDraft), (status = 404, body = Problem)))]
async fn get_resource_rules(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<axum::Json<RulesDraft>, ApiError> {
    read(&state, &tenant, Owner::Resource(parse_id(&id)?)).await
}

/// Replaces the rules of a resource; every field is optional, and an absent one is no rule.
#[utoipa::path(put, path = "/api/v1/resources/{id}/rules", tag = "availability",
    params(("id" = String, Path, description = "The resource's id")), request_body = RulesDraft,
    responses((status = 200, body = RulesDraft), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
async fn put_resource_rules(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
    ApiJson(draft): ApiJson<RulesDraft>,
) -> Result<axum::Json<RulesDraft>, ApiError> {
    write(&state, &tenant, Owner::Resource(parse_id(&id)?), draft).await
}

/// The rules of a staff member.
#[utoipa::path(get, path = "/api/v1/staff/{id}/rules", tag = "availability",
    params(("id" = String, Path, description = "The staff member's id")),
    responses((status = 200, body = RulesDraft), (status = 404, body = Problem)))]
async fn get_staff_rules(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<axum::Json<RulesDraft>, ApiError> {
    read(&state, &tenant, Owner::Staff(parse_id(&id)?)).await
}

/// Replaces the rules of a staff member; every field is optional, and an absent one is no rule.
#[utoipa::path(put, path = "/api/v1/staff/{id}/rules", tag = "availability",
    params(("id" = String, Path, description = "The staff member's id")), request_body = RulesDraft,
    responses((status = 200, body = RulesDraft), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
async fn put_staff_rules(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
    ApiJson(draft): ApiJson<RulesDraft>,
) -> Result<axum::Json<RulesDraft>, ApiError> {
    write(&state, &tenant, Owner::Staff(parse_id(&id)?), draft).await
}

async fn read(
    state: &AppState,
    tenant: &kalends_core::domain::Tenant,
    owner: Owner,
) -> Result<axum::Json<RulesDraft>, ApiError> {
    let owned = state.store.owner_rules(tenant, owner).await?;
    Ok(axum::Json(RulesDraft::from(&owned.rules)))
}

async fn write(
    state: &AppState,
    tenant: &kalends_core::domain::Tenant,
    owner: Owner,
    draft: RulesDraft,
) -> Result<axum::Json<RulesDraft>, ApiError> {
    match availability::set_rules(&state.store, tenant, owner, draft).await {
        Ok(rules) => Ok(axum::Json(RulesDraft::from(&rules))),
        Err(RulesRefused::Invalid(errors)) => Err(ApiError::invalid(field_errors(errors))),
        Err(RulesRefused::Store(e)) => Err(e.into()),
    }
}

/// The rules' own field errors as the API's.
pub(crate) fn field_errors(errors: Vec<RuleError>) -> Vec<FieldError> {
    errors.into_iter().map(|e| FieldError::new(e.field, e.message)).collect()
}

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_resource_rules, put_resource_rules))
        .routes(routes!(get_staff_rules, put_staff_rules))
}
