//! `/api/v1/organisation-connections`: a whole Google Workspace connected once by its
//! administrator, and the staff its directory puts in scope. Answers never carry the key.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use kalends_service::organisations::{
    self, Change, GoogleWorkspace, MicrosoftTenant, OrganisationError,
};
use kalends_store::OrganisationMember;
use kalends_store::{Actor, OrganisationConnection, OrganisationLogEntry};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::ListOut;
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, ApiQuery, AuthKey, AuthTenant, PageQuery, nullable, parse_id};
use crate::input::FieldError;
use crate::input::organisations::{
    GoogleFields, KeyJson, MicrosoftFields, credential_of, email_of, google_workspace, group_of,
    key_of, microsoft_tenant, org_unit_of,
};
use crate::state::AppState;

/// An organisation to connect. Google: `service_account_key`, `domain`, `admin_email`,
/// `org_unit?`; Microsoft: `tenant_id`, `client_id`, `client_secret` (or `client_certificate`),
/// `group_id?`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganisationConnectionIn {
    /// `google` (a Workspace, through a service account with domain-wide delegation) or
    /// `microsoft` (an organisation, through an application with app-only access).
    pub provider: String,
    /// Google: the service account's JSON key, as downloaded (an object, or its text).
    #[schema(value_type = Option<Object>)]
    pub service_account_key: Option<KeyJson>,
    /// Google: the Workspace's primary domain (`salon.example`).
    pub domain: Option<String>,
    /// Google: a Workspace administrator; the directory is read as them.
    pub admin_email: Option<String>,
    /// Google: only this organisational unit and those below it (`/Staff`).
    pub org_unit: Option<String>,
    /// The busy-times-only tier: free/busy read, nothing written (default `false`).
    pub busy_only: Option<bool>,
    /// Microsoft: the directory (tenant) id.
    pub tenant_id: Option<String>,
    /// Microsoft: the application (client) id.
    pub client_id: Option<String>,
    /// Microsoft: the client secret.
    #[schema(value_type = Option<String>)]
    pub client_secret: Option<SecretString>,
    /// Microsoft: instead of a secret, the application's certificate and its private key (PEM).
    #[schema(value_type = Option<String>)]
    pub client_certificate: Option<SecretString>,
    /// Microsoft: the security group the application is scoped to.
    pub group_id: Option<String>,
}

/// A change. Google: another administrator, another unit (null: the whole domain), or a new
/// key. Microsoft: another group (null: the whole tenant), or a new client secret.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganisationConnectionPatch {
    /// Google: a Workspace administrator.
    pub admin_email: Option<String>,
    /// Google: the organisational unit in scope; null for the whole domain.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub org_unit: Option<Option<String>>,
    /// Google: a replacement JSON key (after the old one was deleted in Google Cloud, say).
    #[schema(value_type = Option<Object>)]
    pub service_account_key: Option<KeyJson>,
    /// Microsoft: the security group in scope; null for the whole tenant.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub group_id: Option<Option<String>>,
    /// Microsoft: a new client secret (before the old one expires, say).
    #[schema(value_type = Option<String>)]
    pub client_secret: Option<SecretString>,
    /// Microsoft: a new certificate with its private key (PEM), instead of a secret.
    #[schema(value_type = Option<String>)]
    pub client_certificate: Option<SecretString>,
    /// Either provider: the other tier. `true` removes Kalends' events from every covered
    /// calendar and reads only busy times from now on; `false` writes the staff's bookings into
    /// them. Checked like a creation: the grant must cover the new tier.
    pub busy_only: Option<bool>,
}

/// An organisation connection (never its key or secret).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OrganisationConnectionOut {
    /// Server id.
    pub id: Uuid,
    /// `google` or `microsoft`.
    pub provider: String,
    /// `active`, or `error` when the directory could not be read last time (`last_error`).
    pub status: String,
    /// Members whose calendars sync.
    pub members_count: i64,
    /// Users in scope not covered yet: a read (a connection, a change, a refresh) with more
    /// than 40 members to cover or stop answers at once and covers them in the background, a
    /// few at a time; a user the provider did not answer for waits for the next read.
    #[serde(default)]
    pub members_waiting: i64,
    /// Google: the Workspace's domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Google: the administrator the directory is read as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_email: Option<String>,
    /// Google: the organisational unit in scope; null: the whole domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_unit: Option<Option<String>>,
    /// Only busy times.
    pub busy_only: bool,
    /// Google: the service account acting for the members (from the key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// Microsoft: the tenant (directory) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Microsoft: the application (client) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Microsoft: the security group in scope; null: the whole tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<Option<String>>,
    /// What the administrator must fix, when something failed.
    pub last_error: Option<String>,
    /// When the directory was last read.
    pub last_refreshed_at: Option<DateTime<Utc>>,
    /// Connected at.
    pub created_at: DateTime<Utc>,
    /// Changed at.
    pub updated_at: DateTime<Utc>,
}

impl From<OrganisationConnection> for OrganisationConnectionOut {
    fn from(o: OrganisationConnection) -> Self {
        // Each provider's settings under its own names (Microsoft's tenant id is kept as the
        // domain, its application id as the service account, its group as the unit).
        let google = o.provider != "microsoft";
        let microsoft = !google;
        Self {
            id: o.id,
            provider: o.provider,
            status: o.status,
            members_count: o.members_count,
            members_waiting: o.members_waiting,
            domain: google.then(|| o.domain.clone()),
            admin_email: o.admin_email,
            org_unit: google.then(|| o.org_unit.clone()),
            busy_only: o.busy_only,
            service_account: google.then(|| o.service_account.clone()),
            tenant_id: microsoft.then_some(o.domain),
            client_id: microsoft.then_some(o.service_account),
            group_id: microsoft.then_some(o.org_unit),
            last_error: o.last_error,
            last_refreshed_at: o.last_refreshed_at,
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

/// A user of the directory in scope.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberOut {
    /// The staff member they are.
    pub staff_id: Uuid,
    /// Their address.
    pub email: String,
    /// `active` (their calendar syncs), `failed` (it cannot be reached: `last_error`) or `left`
    /// (no longer in scope: their calendar stopped syncing).
    pub state: String,
    /// Why, when not `active`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl From<OrganisationMember> for MemberOut {
    fn from(m: OrganisationMember) -> Self {
        Self { staff_id: m.staff_id, email: m.email, state: m.state, last_error: m.last_error }
    }
}

/// The members of an organisation connection.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MembersOut {
    /// Every user in scope and every one who left it, by address.
    pub items: Vec<MemberOut>,
}

/// Who made a change in the organisation log.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LogActorOut {
    /// `api_key`, `console`, or `schedule` (the hourly read of the directory).
    pub kind: String,
    /// The API key's id (`kind` `api_key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_id: Option<Uuid>,
    /// The key's first characters, as `GET /api/v1/api-keys` shows them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_prefix: Option<String>,
}

/// An entry of the organisation log.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LogEntryOut {
    /// Id.
    pub id: Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// The organisation connection (perhaps disconnected since).
    pub organisation_connection_id: Uuid,
    /// `google` or `microsoft`.
    pub provider: String,
    /// Google: the Workspace's domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Microsoft: the directory (tenant) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// `connected`, `changed`, `refreshed` or `disconnected`.
    pub action: String,
    /// Who did it.
    pub by: LogActorOut,
    /// What it did, in words (`2 covered calendars stopped; …`).
    pub detail: String,
}

impl From<OrganisationLogEntry> for LogEntryOut {
    fn from(e: OrganisationLogEntry) -> Self {
        let microsoft = e.provider == "microsoft";
        let (domain, tenant_id) =
            if microsoft { (None, Some(e.domain)) } else { (Some(e.domain), None) };
        Self {
            id: e.id,
            at: e.at,
            organisation_connection_id: e.organisation_connection_id,
            provider: e.provider,
            domain,
            tenant_id,
            action: e.action,
            by: LogActorOut {
                kind: e.actor,
                api_key_id: e.api_key_id,
                api_key_prefix: e.api_key_prefix,
            },
            detail: e.detail,
        }
    }
}

/// Options of a disconnect.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    /// Also remove the events Kalends created in the members' calendars (default true).
    pub remove_events: Option<bool>,
}

impl From<OrganisationError> for ApiError {
    fn from(e: OrganisationError) -> Self {
        match e {
            OrganisationError::Invalid { field, message } => {
                ApiError::invalid_field(field, message)
            }
            OrganisationError::Unreachable(_) => ApiError::unavailable(e.to_string()),
            OrganisationError::Busy | OrganisationError::Disconnecting => {
                ApiError::conflict(e.to_string())
            }
            OrganisationError::Store(e) => e.into(),
        }
    }
}

/// The Workspace a creation describes, or every field at fault.
fn google_of(body: OrganisationConnectionIn) -> Result<GoogleWorkspace, ApiError> {
    let foreign = [
        ("tenant_id", body.tenant_id.is_some()),
        ("client_id", body.client_id.is_some()),
        ("client_secret", body.client_secret.is_some()),
        ("client_certificate", body.client_certificate.is_some()),
        ("group_id", body.group_id.is_some()),
    ];
    let fields = GoogleFields {
        service_account_key: body.service_account_key,
        domain: body.domain.as_deref(),
        admin_email: body.admin_email.as_deref(),
        org_unit: body.org_unit.as_deref(),
        busy_only: body.busy_only.unwrap_or(false),
        foreign: foreign.iter().filter(|(_, given)| *given).map(|(field, _)| *field).collect(),
    };
    google_workspace(fields).map_err(ApiError::invalid)
}

/// The Microsoft 365 organisation a creation describes, or every field at fault.
fn microsoft_of(body: OrganisationConnectionIn) -> Result<MicrosoftTenant, ApiError> {
    let foreign = [
        ("service_account_key", body.service_account_key.is_some()),
        ("domain", body.domain.is_some()),
        ("admin_email", body.admin_email.is_some()),
        ("org_unit", body.org_unit.is_some()),
    ];
    let fields = MicrosoftFields {
        tenant_id: body.tenant_id.as_deref(),
        client_id: body.client_id.as_deref(),
        client_secret: body.client_secret,
        client_certificate: body.client_certificate,
        group_id: body.group_id.as_deref(),
        busy_only: body.busy_only.unwrap_or(false),
        foreign: foreign.iter().filter(|(_, given)| *given).map(|(field, _)| *field).collect(),
    };
    microsoft_tenant(fields).map_err(ApiError::invalid)
}

/// Connect an organisation: Kalends checks the credentials with the provider first (422 naming
/// the missing grant or permission; nothing stored), then covers every user in scope.
#[utoipa::path(post, path = "/api/v1/organisation-connections", tag = "organisation-connections",
    request_body = OrganisationConnectionIn,
    responses((status = 201, body = OrganisationConnectionOut), (status = 422, body = Problem),
        (status = 503, body = Problem)))]
async fn create(
    State(state): State<AppState>,
    AuthKey { tenant, key_id }: AuthKey,
    ApiJson(body): ApiJson<OrganisationConnectionIn>,
) -> Result<Response, ApiError> {
    let cx = crate::connections::organisation_context(&state);
    let by = Actor::ApiKey(key_id);
    let created = match body.provider.as_str() {
        "google" => organisations::create_google(cx, tenant.id, google_of(body)?, by).await?,
        "microsoft" => {
            organisations::create_microsoft(cx, tenant.id, microsoft_of(body)?, by).await?
        }
        _ => return Err(ApiError::invalid_field("provider", "google or microsoft")),
    };
    Ok((StatusCode::CREATED, axum::Json(OrganisationConnectionOut::from(created))).into_response())
}

/// The tenant's organisation connections, oldest first, paged as every list is.
#[utoipa::path(get, path = "/api/v1/organisation-connections", tag = "organisation-connections",
    params(PageQuery),
    responses((status = 200, body = ListOut<OrganisationConnectionOut>), (status = 422, body = Problem)))]
async fn list(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<axum::Json<ListOut<OrganisationConnectionOut>>, ApiError> {
    let paging = page.checked()?;
    let all = state.store.list_organisation_connections(tenant.id).await?;
    let item = |o: &OrganisationConnection| OrganisationConnectionOut::from(o.clone());
    Ok(axum::Json(ListOut::page_of(&all, paging, |o| o.id, item)))
}

/// One organisation connection.
#[utoipa::path(get, path = "/api/v1/organisation-connections/{id}", tag = "organisation-connections",
    responses((status = 200, body = OrganisationConnectionOut), (status = 404, body = Problem)))]
async fn get_one(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<axum::Json<OrganisationConnectionOut>, ApiError> {
    let found = state.store.organisation_connection(tenant.id, parse_id(&id)?).await?;
    Ok(axum::Json(found.into()))
}

/// Change the administrator, the unit or the key: checked with Google like a creation, then
/// the directory applied with the new scope.
#[utoipa::path(patch, path = "/api/v1/organisation-connections/{id}", tag = "organisation-connections",
    request_body = OrganisationConnectionPatch,
    responses((status = 200, body = OrganisationConnectionOut), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)))]
async fn patch(
    State(state): State<AppState>,
    AuthKey { tenant, key_id }: AuthKey,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<OrganisationConnectionPatch>,
) -> Result<axum::Json<OrganisationConnectionOut>, ApiError> {
    let id = parse_id(&id)?;
    let current = state.store.organisation_connection(tenant.id, id).await?;
    let change = if current.provider == "microsoft" {
        microsoft_change(body)?
    } else {
        google_change(body)?
    };
    // An empty patch changes nothing: no directory read, nothing logged.
    if change.is_empty() {
        return Ok(axum::Json(current.into()));
    }
    let changed = organisations::update(
        crate::connections::organisation_context(&state),
        tenant.id,
        id,
        change,
        Actor::ApiKey(key_id),
    )
    .await?;
    Ok(axum::Json(changed.into()))
}

/// Why a blank unit or group is refused in a change: it would widen the scope to everyone.
const BLANK_SCOPE: &str =
    "empty: give null to cover the whole organisation, or leave the field out to keep it";

/// A Workspace's change, or every field at fault.
fn google_change(body: OrganisationConnectionPatch) -> Result<Change, ApiError> {
    let mut errors = foreign_fields(
        &[
            ("group_id", body.group_id.is_some()),
            ("client_secret", body.client_secret.is_some()),
            ("client_certificate", body.client_certificate.is_some()),
        ],
        "a Microsoft field; this is a Google connection",
    );
    let admin_email = body.admin_email.map(|a| email_of("admin_email", &a, &mut errors));
    // `/` is the root unit: everyone, as null is.
    let org_unit = body.org_unit.map(|unit| match unit {
        Some(blank) if blank.trim().is_empty() => {
            errors.push(FieldError::new("org_unit", BLANK_SCOPE));
            None
        }
        unit => unit.as_deref().and_then(org_unit_of),
    });
    let key = match body.service_account_key.map(key_of).transpose() {
        Ok(key) => key,
        Err(error) => {
            errors.push(error);
            None
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    Ok(Change { admin_email, org_unit, key, busy_only: body.busy_only })
}

/// A Microsoft 365 organisation's change, or every field at fault.
fn microsoft_change(body: OrganisationConnectionPatch) -> Result<Change, ApiError> {
    let mut errors = foreign_fields(
        &[
            ("admin_email", body.admin_email.is_some()),
            ("org_unit", body.org_unit.is_some()),
            ("service_account_key", body.service_account_key.is_some()),
        ],
        "a Google field; this is a Microsoft connection",
    );
    let key = match (body.client_secret, body.client_certificate) {
        (None, None) => None,
        (secret, certificate) => match credential_of(secret, certificate) {
            Ok(credential) => Some(credential),
            Err(error) => {
                errors.push(error);
                None
            }
        },
    };
    let group_id = body.group_id.map(|group| match group.as_deref().map(group_of) {
        Some(Some(Ok(group))) => Some(group),
        Some(Some(Err(error))) => {
            errors.push(error);
            None
        }
        Some(None) => {
            errors.push(FieldError::new("group_id", BLANK_SCOPE));
            None
        }
        None => None,
    });
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    Ok(Change { admin_email: None, org_unit: group_id, key, busy_only: body.busy_only })
}

/// A refusal of each field given that belongs to the other provider.
fn foreign_fields(given: &[(&'static str, bool)], why: &str) -> Vec<FieldError> {
    given
        .iter()
        .filter(|(_, given)| *given)
        .map(|(field, _)| FieldError::new(*field, why))
        .collect()
}

/// Disconnect the organisation: every covered calendar stops at once (and Kalends' events are
/// removed from it unless `remove_events=false`); the key is forgotten.
#[utoipa::path(delete, path = "/api/v1/organisation-connections/{id}", tag = "organisation-connections",
    params(DeleteQuery), responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete(
    State(state): State<AppState>,
    AuthKey { tenant, key_id }: AuthKey,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<DeleteQuery>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let remove_events = query.remove_events.unwrap_or(true);
    organisations::delete(
        crate::connections::organisation_context(&state),
        tenant.id,
        id,
        remove_events,
        Actor::ApiKey(key_id),
        crate::connections::organisation_stop_wait(&state),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Read the directory again now: joiners covered, leavers' calendars stopped.
#[utoipa::path(post, path = "/api/v1/organisation-connections/{id}/refresh", tag = "organisation-connections",
    responses((status = 200, body = OrganisationConnectionOut), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)))]
async fn refresh(
    State(state): State<AppState>,
    AuthKey { tenant, key_id }: AuthKey,
    Path(id): Path<String>,
) -> Result<axum::Json<OrganisationConnectionOut>, ApiError> {
    let refreshed = organisations::refresh(
        crate::connections::organisation_context(&state),
        tenant.id,
        parse_id(&id)?,
        Actor::ApiKey(key_id),
    )
    .await?;
    Ok(axum::Json(refreshed.into()))
}

/// The users in scope (and those who left it) with their calendars' state.
#[utoipa::path(get, path = "/api/v1/organisation-connections/{id}/members", tag = "organisation-connections",
    responses((status = 200, body = MembersOut), (status = 404, body = Problem)))]
async fn members(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<axum::Json<MembersOut>, ApiError> {
    let id = parse_id(&id)?;
    state.store.organisation_connection(tenant.id, id).await?;
    let members = state.store.organisation_members(tenant.id, id).await?;
    Ok(axum::Json(MembersOut { items: members.into_iter().map(Into::into).collect() }))
}

/// What was done to the tenant's organisation connections, by whom and when, newest first: each
/// connection, change and disconnection (with how many covered calendars it stopped), also of
/// connections gone since. Paged like every list (`limit`, `cursor`: the entries older than the
/// page before).
#[utoipa::path(get, path = "/api/v1/organisation-connections/log", tag = "organisation-connections",
    params(PageQuery), responses((status = 200, body = ListOut<LogEntryOut>), (status = 422, body = Problem)))]
async fn log(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<axum::Json<ListOut<LogEntryOut>>, ApiError> {
    let paging = page.checked()?;
    let page = state.store.organisation_log(tenant.id, paging.after, paging.limit).await?;
    Ok(axum::Json(ListOut::from_page(&page, |e| LogEntryOut::from(e.clone()))))
}

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(log))
        .routes(routes!(get_one, patch, delete))
        .routes(routes!(refresh))
        .routes(routes!(members))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logged_request_never_shows_the_key_or_the_secret() {
        let key = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";
        let google: OrganisationConnectionIn = serde_json::from_value(serde_json::json!({
            "provider": "google",
            "service_account_key": {"type": "service_account", "private_key": key},
            "domain": "salon.example",
        }))
        .unwrap();
        let patch: OrganisationConnectionPatch = serde_json::from_value(serde_json::json!({
            "service_account_key": key,
        }))
        .unwrap();
        let microsoft: OrganisationConnectionIn = serde_json::from_value(serde_json::json!({
            "provider": "microsoft", "client_secret": "s3cr3t~value",
        }))
        .unwrap();
        for shown in [format!("{google:?}"), format!("{patch:?}"), format!("{microsoft:?}")] {
            assert!(!shown.contains("PRIVATE KEY") && !shown.contains("s3cr3t"), "{shown}");
        }
        assert!(format!("{google:?}").contains("salon.example"), "the rest is shown");
        assert!(key_of(google.service_account_key.unwrap()).is_ok(), "the key is still read");
    }
}
