//! `/api/v1/imports`: .ics feeds polled on a schedule (Airbnb, VRBO, Booking.com, any calendar).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use kalends_core::domain::{Import, ImportRun, ImportStatus, Platform, RunCounts, RunOutcome};
use kalends_core::service::imports;
use kalends_jobs::ImportError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::ListOut;
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, AuthTenant, PageQuery, nullable, parse_id};
use crate::input::imports::{ImportChanges, ImportFields, import_patch, new_import};
use crate::state::AppState;

/// A feed to import: exactly one of `resource_id` and `staff_id`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportIn {
    /// The resource whose dates the feed blocks.
    pub resource_id: Option<Uuid>,
    /// The staff member whose time the feed blocks.
    pub staff_id: Option<Uuid>,
    /// `airbnb`, `vrbo`, `booking_com`, `google`, `outlook` or `other`.
    pub platform: String,
    /// The feed's address (`https://`, `http://` or `webcal://`). Treated as a secret.
    pub url: String,
    /// A label.
    pub name: Option<String>,
    /// Minutes between runs, 5 to 1440 (default 30).
    pub interval_minutes: Option<u32>,
}

impl ImportIn {
    /// The body's fields, for the checks the console's form shares (`input::imports`).
    fn fields(&self) -> ImportFields<'_> {
        ImportFields {
            resource_id: self.resource_id,
            staff_id: self.staff_id,
            platform: &self.platform,
            url: &self.url,
            name: self.name.as_deref(),
            interval_minutes: self.interval_minutes,
        }
    }
}

/// Changes to an import.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportPatchIn {
    /// New platform.
    pub platform: Option<String>,
    /// New address.
    pub url: Option<String>,
    /// New label (null clears it).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    /// New interval.
    pub interval_minutes: Option<u32>,
    /// `true` pauses it (the scheduler leaves it alone until it is resumed; "run" still runs it),
    /// `false` resumes it (at once when a run was missed while it was paused).
    pub paused: Option<bool>,
}

impl ImportPatchIn {
    /// The body's changes, for the checks the console's edit form shares.
    fn changes(&self) -> ImportChanges<'_> {
        ImportChanges {
            platform: self.platform.as_deref(),
            url: self.url.as_deref(),
            name: self.name.as_ref().map(Option::as_deref),
            interval_minutes: self.interval_minutes,
            paused: self.paused,
        }
    }
}

/// One run of an import.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RunOut {
    /// Run id.
    pub id: Uuid,
    /// Started.
    pub started_at: DateTime<Utc>,
    /// Finished.
    pub finished_at: DateTime<Utc>,
    /// `ok`, `not_modified` (the server answered 304) or `failed`.
    #[schema(value_type = String)]
    pub outcome: RunOutcome,
    /// Items new in this run.
    pub added: u32,
    /// Items whose dates, kind or summary changed.
    pub updated: u32,
    /// Items gone from the feed.
    pub removed: u32,
    /// Items as before.
    pub unchanged: u32,
    /// Events of the feed that were not imported (cancelled, free, broken).
    pub skipped: u32,
    /// HTTP status of the last response.
    pub http_status: Option<u16>,
    /// Run time in milliseconds.
    pub duration_ms: i64,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<&ImportRun> for RunOut {
    fn from(r: &ImportRun) -> Self {
        let RunCounts { added, updated, removed, unchanged } = r.counts;
        RunOut {
            id: r.id,
            started_at: r.started_at,
            finished_at: r.finished_at,
            outcome: r.outcome,
            added,
            updated,
            removed,
            unchanged,
            skipped: r.skipped,
            http_status: r.http_status,
            duration_ms: (r.finished_at - r.started_at).num_milliseconds(),
            error: r.error.clone(),
        }
    }
}

/// A registered import.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ImportOut {
    /// Server id.
    pub id: Uuid,
    /// The resource.
    pub resource_id: Option<Uuid>,
    /// The staff member.
    pub staff_id: Option<Uuid>,
    /// The platform.
    #[schema(value_type = String)]
    pub platform: Platform,
    /// The feed's address.
    pub url: String,
    /// A label.
    pub name: Option<String>,
    /// Minutes between runs.
    pub interval_minutes: u32,
    /// `pending` (not run yet), `ok`, or `failing` (several runs in a row failed).
    #[schema(value_type = String)]
    pub status: ImportStatus,
    /// Failed runs since the last success.
    pub consecutive_failures: u32,
    /// The latest run.
    pub last_run: Option<RunOut>,
    /// When the scheduler runs it next (while it is not paused).
    pub next_run_at: DateTime<Utc>,
    /// Since when it is paused; `null` while it runs on its interval.
    pub paused_at: Option<DateTime<Utc>>,
    /// Registered.
    pub created_at: DateTime<Utc>,
    /// Settings last changed.
    pub updated_at: DateTime<Utc>,
}

impl ImportOut {
    fn new(i: &Import, last_run: Option<&ImportRun>) -> Self {
        let (resource_id, staff_id) = i.data.owner.columns();
        ImportOut {
            id: i.id,
            resource_id,
            staff_id,
            platform: i.data.platform,
            url: i.data.url.clone(),
            name: i.data.name.clone(),
            interval_minutes: i.data.interval_minutes,
            status: i.status,
            consecutive_failures: i.consecutive_failures,
            last_run: last_run.map(RunOut::from),
            next_run_at: i.next_run_at,
            paused_at: i.paused_at,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

/// Register a feed to import; its first run happens within the scheduler's interval.
#[utoipa::path(post, path = "/api/v1/imports", tag = "imports", request_body = ImportIn,
    responses((status = 201, body = ImportOut), (status = 422, body = Problem)))]
async fn create_import(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    ApiJson(body): ApiJson<ImportIn>,
) -> Result<Response, ApiError> {
    let default_interval = state.config.import.default_interval_minutes;
    let new = new_import(body.fields(), default_interval).map_err(ApiError::invalid)?;
    let import = imports::create(&state.store, &tenant, new).await?;
    Ok((StatusCode::CREATED, axum::Json(ImportOut::new(&import, None))).into_response())
}

/// List imports with their latest run.
#[utoipa::path(get, path = "/api/v1/imports", tag = "imports", params(PageQuery),
    responses((status = 200, body = ListOut<ImportOut>)))]
async fn list_imports(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Query(page): Query<PageQuery>,
) -> Result<axum::Json<ListOut<ImportOut>>, ApiError> {
    let paging = page.checked()?;
    let page = state.store.list_imports(tenant.id, paging.after, paging.limit).await?;
    let runs = state.store.last_import_runs(tenant.id).await?;
    let last = |i: &Import| runs.iter().find(|r| r.import_id == i.id);
    Ok(axum::Json(ListOut::from_page(&page, |i| ImportOut::new(i, last(i)))))
}

async fn import_out(state: &AppState, tenant_id: Uuid, id: Uuid) -> Result<ImportOut, ApiError> {
    let import = state.store.import(tenant_id, id).await?;
    let runs = state.store.list_import_runs(tenant_id, id, None, 1).await?;
    Ok(ImportOut::new(&import, runs.items.first()))
}

/// One import.
#[utoipa::path(get, path = "/api/v1/imports/{id}", tag = "imports",
    responses((status = 200, body = ImportOut), (status = 404, body = Problem)))]
async fn get_import(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<axum::Json<ImportOut>, ApiError> {
    Ok(axum::Json(import_out(&state, tenant.id, parse_id(&id)?).await?))
}

/// Change an import, or pause and resume it. A new URL forgets the cached validators and runs soon.
#[utoipa::path(patch, path = "/api/v1/imports/{id}", tag = "imports", request_body = ImportPatchIn,
    responses((status = 200, body = ImportOut), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn patch_import(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ImportPatchIn>,
) -> Result<axum::Json<ImportOut>, ApiError> {
    let id = parse_id(&id)?;
    let patch = import_patch(body.changes()).map_err(ApiError::invalid)?;
    imports::update(&state.store, tenant.id, id, patch).await?;
    Ok(axum::Json(import_out(&state, tenant.id, id).await?))
}

/// Delete an import; the dates it blocked are free again.
#[utoipa::path(delete, path = "/api/v1/imports/{id}", tag = "imports",
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_import(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    imports::delete(&state.store, tenant.id, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Run an import now and answer with the run's result.
#[utoipa::path(post, path = "/api/v1/imports/{id}/run", tag = "imports",
    responses((status = 200, body = RunOut), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn run_import(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<axum::Json<RunOut>, ApiError> {
    match state.importer.run(tenant.id, parse_id(&id)?).await {
        Ok(run) => Ok(axum::Json(RunOut::from(&run))),
        Err(ImportError::Busy) => {
            Err(ApiError::conflict("a run of this import is already in progress; try again soon"))
        }
        Err(ImportError::Store(e)) => Err(e.into()),
    }
}

/// The run log, newest first.
#[utoipa::path(get, path = "/api/v1/imports/{id}/runs", tag = "imports", params(PageQuery),
    responses((status = 200, body = ListOut<RunOut>), (status = 404, body = Problem)))]
async fn list_runs(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<axum::Json<ListOut<RunOut>>, ApiError> {
    let id = parse_id(&id)?;
    state.store.import(tenant.id, id).await?;
    let paging = page.checked()?;
    let page = state.store.list_import_runs(tenant.id, id, paging.after, paging.limit).await?;
    Ok(axum::Json(ListOut::from_page(&page, RunOut::from)))
}

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_import, list_imports))
        .routes(routes!(get_import, patch_import, delete_import))
        .routes(routes!(run_import))
        .routes(routes!(list_runs))
}
