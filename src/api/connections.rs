//! `/api/v1/connections`: staff members' Google and Microsoft calendars, as the host sees them.
//! Connecting happens in the browser (settings link); everything else is here too.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use kalends_core::domain::Connection;
use kalends_providers::calendar::RemoteCalendar;
use kalends_service::connections;
use kalends_store::ConnectionPatch;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::ListOut;
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, ApiQuery, AuthTenant, PageQuery, parse_id};
use crate::connections::Disconnected;
use crate::input::FieldError;
use crate::state::AppState;

/// A connected calendar account.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ConnectionOut {
    /// Id.
    pub id: Uuid,
    /// The staff member it belongs to.
    pub staff_id: Uuid,
    /// `google` or `microsoft`.
    pub provider: String,
    /// The account's address.
    pub account_email: String,
    /// `active`, `needs_reauth`, `revoked` or `error`.
    pub status: String,
    /// Where bookings are written.
    pub destination_calendar_id: Option<String>,
    /// Calendars whose busy times count.
    pub busy_calendar_ids: Vec<String>,
    /// The staff member's default connection.
    pub is_default: bool,
    /// Busy times only (an organisation's busy-times-only tier): nothing is written into it and
    /// it is never the default.
    pub busy_only: bool,
    /// Last successful call.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// Last failure.
    pub last_error: Option<String>,
    /// Connected at.
    pub created_at: DateTime<Utc>,
}

impl From<&Connection> for ConnectionOut {
    fn from(c: &Connection) -> Self {
        ConnectionOut {
            id: c.id,
            staff_id: c.staff_id,
            provider: c.provider.as_str().into(),
            account_email: c.account_email.clone(),
            status: c.status.as_str().into(),
            destination_calendar_id: c.destination_calendar_id.clone(),
            busy_calendar_ids: c.busy_calendar_ids.clone(),
            is_default: c.is_default,
            busy_only: c.busy_only,
            last_sync_at: c.last_sync_at,
            last_error: c.last_error.clone(),
            created_at: c.created_at,
        }
    }
}

/// Filter of the list (its paging is [`PageQuery`]).
#[derive(Debug, Deserialize, IntoParams)]
pub struct ConnectionQuery {
    /// Only this staff member's connections.
    pub staff_id: Option<String>,
}

/// A change of a connection's choices.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionPatchIn {
    /// One of the account's writable calendars.
    pub destination_calendar_id: Option<String>,
    /// Some of the account's calendars.
    pub busy_calendar_ids: Option<Vec<String>>,
    /// `true` makes it the staff member's default.
    pub is_default: Option<bool>,
}

/// Options of a disconnect.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DisconnectQuery {
    /// Also remove the events Kalends created in the destination calendar (default false).
    pub remove_events: Option<bool>,
}

/// The outcome of a live test.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestOut {
    /// Whether the provider answered.
    pub ok: bool,
    /// What happened, in words.
    pub detail: String,
}

/// A calendar of the account.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarOut {
    /// The provider's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The account's main calendar.
    pub primary: bool,
    /// Kalends may write to it.
    pub writable: bool,
    /// Its zone, when the provider says.
    pub time_zone: Option<String>,
}

impl From<RemoteCalendar> for CalendarOut {
    fn from(c: RemoteCalendar) -> Self {
        CalendarOut {
            id: c.id,
            name: c.name,
            primary: c.primary,
            writable: c.writable,
            time_zone: c.time_zone,
        }
    }
}

/// The tenant's connections, oldest first, paged as every list is.
#[utoipa::path(get, path = "/api/v1/connections", tag = "connections", params(ConnectionQuery, PageQuery),
    responses((status = 200, body = ListOut<ConnectionOut>), (status = 422, body = Problem)))]
async fn list_connections(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    ApiQuery(query): ApiQuery<ConnectionQuery>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<axum::Json<ListOut<ConnectionOut>>, ApiError> {
    let mut errors = Vec::new();
    let paging = page.paging(&mut errors);
    let staff_id = query.staff_id.as_deref().and_then(|id| {
        let parsed = id.parse::<Uuid>().ok();
        if parsed.is_none() {
            errors.push(FieldError::new("staff_id", "must be a UUID"));
        }
        parsed
    });
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    // A tenant's connections are a few per staff member: read whole, paged here.
    let list = state.store.list_connections(tenant.id, staff_id).await?;
    Ok(axum::Json(ListOut::page_of(&list, paging, |c| c.id, ConnectionOut::from)))
}

/// One connection.
#[utoipa::path(get, path = "/api/v1/connections/{id}", tag = "connections",
    responses((status = 200, body = ConnectionOut), (status = 404, body = Problem)))]
async fn get_connection(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<axum::Json<ConnectionOut>, ApiError> {
    let connection = state.store.connection(tenant.id, parse_id(&id)?).await?;
    Ok(axum::Json(ConnectionOut::from(&connection)))
}

/// Choose the destination calendar, the busy calendars, or make it the default.
#[utoipa::path(patch, path = "/api/v1/connections/{id}", tag = "connections", request_body = ConnectionPatchIn,
    responses((status = 200, body = ConnectionOut), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn patch_connection(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<ConnectionPatchIn>,
) -> Result<axum::Json<ConnectionOut>, ApiError> {
    let patch = ConnectionPatch {
        destination_calendar_id: patch.destination_calendar_id,
        busy_calendar_ids: patch.busy_calendar_ids,
        is_default: patch.is_default,
    };
    let connection = connections::update(&state.store, tenant.id, parse_id(&id)?, patch).await?;
    Ok(axum::Json(ConnectionOut::from(&connection)))
}

/// Disconnect: revoke at the provider where it allows, forget the tokens.
#[utoipa::path(delete, path = "/api/v1/connections/{id}", tag = "connections", params(DisconnectQuery),
    responses((status = 200, body = Disconnected), (status = 404, body = Problem)))]
async fn delete_connection(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<DisconnectQuery>,
) -> Result<axum::Json<Disconnected>, ApiError> {
    let connection = state.store.connection(tenant.id, parse_id(&id)?).await?;
    let outcome = crate::connections::disconnect(
        &state,
        &connection,
        query.remove_events.unwrap_or(false),
        None,
    )
    .await
    .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(axum::Json(outcome))
}

/// A live call to the provider (lists the calendars).
#[utoipa::path(post, path = "/api/v1/connections/{id}/test", tag = "connections",
    responses((status = 200, body = TestOut), (status = 404, body = Problem)))]
async fn test_connection(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<axum::Json<TestOut>, ApiError> {
    let connection = state.store.connection(tenant.id, parse_id(&id)?).await?;
    let (ok, detail) = crate::connections::test(&state, &connection).await;
    Ok(axum::Json(TestOut { ok, detail }))
}

/// The account's calendars as the provider lists them now.
#[utoipa::path(get, path = "/api/v1/connections/{id}/calendars", tag = "connections",
    responses((status = 200, body = ListOut<CalendarOut>), (status = 404, body = Problem), (status = 503, body = Problem)))]
async fn list_calendars(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let connection = state.store.connection(tenant.id, parse_id(&id)?).await?;
    match crate::connections::calendars(&state, &connection).await {
        Ok(list) => {
            let items = list.into_iter().map(CalendarOut::from).collect();
            Ok((StatusCode::OK, axum::Json(ListOut { items, next_cursor: None })).into_response())
        }
        Err(e) if e.is_retryable() => Err(ApiError::unavailable(e.to_string())),
        Err(e) => Err(ApiError::conflict(e.to_string())),
    }
}

/// What a manual sync queued.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SyncQueued {
    /// Bookings whose event is missing, behind or failed, queued to be written again.
    pub bookings: usize,
    /// Whether the calendar comparison (reconciliation) was queued.
    pub reconcile: bool,
    /// Whether an import of the busy times was queued (false: one is already waiting).
    pub import: bool,
}

/// Re-push the bookings that are pending, failed or behind, re-import the busy times now, and
/// compare the calendar with what Kalends made (missing events written again, orphans removed).
#[utoipa::path(post, path = "/api/v1/connections/{id}/sync", tag = "connections",
    responses((status = 202, body = SyncQueued), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn sync_connection(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let connection = state.store.connection(tenant.id, parse_id(&id)?).await?;
    if connection.status != kalends_core::domain::ConnectionStatus::Active {
        return Err(ApiError::conflict(format!(
            "the connection is {}: reconnect it first",
            connection.status.as_str()
        )));
    }
    let next_import_at = crate::connections::next_import_at(&state);
    let done = connections::sync_now(&state.store, &connection, next_import_at).await?;
    let queued = SyncQueued { bookings: done.bookings, reconcile: true, import: done.import };
    Ok((StatusCode::ACCEPTED, axum::Json(queued)).into_response())
}

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_connections))
        .routes(routes!(get_connection, patch_connection, delete_connection))
        .routes(routes!(test_connection))
        .routes(routes!(sync_connection))
        .routes(routes!(list_calendars))
}
