//! `/api/v1/imports`: .ics feeds polled on a schedule (Airbnb, VRBO, Booking.com, any calendar).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use kalends_core::domain::{
    Import, ImportRun, ImportStatus, Platform, RunCounts, RunOutcome, Span, local_midnight,
};
use kalends_core::imports::ImportedItem;
use kalends_ical::ItemKind;
use kalends_service::importer::ImportError;
use kalends_service::imports;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::ListOut;
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, ApiQuery, AuthTenant, PageQuery, nullable, parse_id};
use crate::input::fields::{Checker, When};
use crate::input::imports::{
    ImportChanges, ImportFields, SettingsFields, import_patch, new_import,
};
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
    /// `reservation` (the default for airbnb, vrbo and booking_com: the platform's own closed
    /// dates stay blocks) or `block` (the default for calendars: every item closes dates).
    pub import_as: Option<String>,
    /// `checkout` (default: an all-day event's end date is the check-out day) or `last_night`
    /// (it is the last night; the stay ends the day after).
    pub end_date_is: Option<String>,
    /// Days every item is moved by, -2 to 2 (default 0), for exports that get dates wrong.
    pub date_shift_days: Option<i64>,
    /// `remove` (default: an item gone from the feed is cancelled) or `keep_and_alert` (it stays,
    /// marked missing, with a `feed_item.missing` webhook and an alert, until the owner confirms
    /// the removal in the console).
    pub on_missing: Option<String>,
    /// The share of the import's future items, 0 to 1 (default 0.5), above which a run that
    /// would remove them (or all of them) is held: nothing changes, its outcome is `held`.
    pub max_removed_share: Option<f64>,
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
            settings: SettingsFields {
                import_as: self.import_as.as_deref().map(Some),
                end_date_is: self.end_date_is.as_deref(),
                date_shift_days: self.date_shift_days,
                on_missing: self.on_missing.as_deref(),
                max_removed_share: self.max_removed_share,
            },
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
    /// `reservation` or `block`; null goes back to the platform's default. A change of this or
    /// of the next three settings (or of the platform) reads the last fetched body again at
    /// once, without a fetch.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub import_as: Option<Option<String>>,
    /// `checkout` or `last_night`.
    pub end_date_is: Option<String>,
    /// -2 to 2.
    pub date_shift_days: Option<i64>,
    /// `remove` or `keep_and_alert`.
    pub on_missing: Option<String>,
    /// 0 to 1.
    pub max_removed_share: Option<f64>,
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
            settings: SettingsFields {
                import_as: self.import_as.as_ref().map(Option::as_deref),
                end_date_is: self.end_date_is.as_deref(),
                date_shift_days: self.date_shift_days,
                on_missing: self.on_missing.as_deref(),
                max_removed_share: self.max_removed_share,
            },
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
    /// `ok`, `not_modified` (the server answered 304, or the same bytes again), `failed`, or
    /// `held` (it would have removed more than `max_removed_share` of the future items, or all
    /// of them: nothing changed; `error` says what).
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
    /// Why it failed or was held.
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
    /// `reservation` or `block` (as set, else the platform's default).
    pub import_as: &'static str,
    /// `checkout` or `last_night`.
    pub end_date_is: &'static str,
    /// Days every item is moved by.
    pub date_shift_days: i8,
    /// `remove` or `keep_and_alert`.
    pub on_missing: &'static str,
    /// The mass-removal guard's limit.
    pub max_removed_share: f64,
    /// Since when the mass-removal guard holds its runs; `null` when it does not.
    pub held_since: Option<DateTime<Utc>>,
    /// Why, in words.
    pub held_reason: Option<String>,
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
            import_as: i.data.settings.import_as(i.data.platform).as_str(),
            end_date_is: i.data.settings.end_date_is.as_str(),
            date_shift_days: i.data.settings.date_shift_days,
            on_missing: i.data.settings.on_missing.as_str(),
            max_removed_share: i.data.settings.max_removed_share,
            held_since: i.hold.as_ref().map(|h| h.since),
            held_reason: i.hold.as_ref().map(|h| h.reason.clone()),
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
    ApiQuery(page): ApiQuery<PageQuery>,
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
    let (_, read_again) = imports::update(&state.store, tenant.id, id, patch).await?;
    if read_again {
        state.importer.read_again(tenant.id, id).await?;
    }
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
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<axum::Json<ListOut<RunOut>>, ApiError> {
    let id = parse_id(&id)?;
    state.store.import(tenant.id, id).await?;
    let paging = page.checked()?;
    let page = state.store.list_import_runs(tenant.id, id, paging.after, paging.limit).await?;
    Ok(axum::Json(ListOut::from_page(&page, RunOut::from)))
}

/// `?from=&to=` of an import's items: dates (midnight in the owner's zone) or instants.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ItemsQuery {
    /// Only items that end after this.
    pub from: Option<String>,
    /// Only items that start before this.
    pub to: Option<String>,
}

/// An item an import holds, its dates as the import's settings made them.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ImportedItemOut {
    /// Server id.
    pub id: Uuid,
    /// The event's UID in the feed.
    pub uid: String,
    /// Its RECURRENCE-ID; null for a single event.
    pub recurrence_id: Option<String>,
    /// `reservation` or `block`.
    #[schema(value_type = String)]
    pub kind: ItemKind,
    /// Its SUMMARY.
    pub summary: Option<String>,
    /// All-day items: the first day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<NaiveDate>,
    /// All-day items: the day after the last (the check-out day).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<NaiveDate>,
    /// Timed items: the start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    /// Timed items: the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
    /// What the platform says of the reservation (code, URL, phone digits, guests), as far
    /// as its feed carries it.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// Since when it is gone from the feed (kept, `on_missing: keep_and_alert`, until the
    /// owner confirms the removal); absent while it is in the feed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_since: Option<DateTime<Utc>>,
}

impl From<&ImportedItem> for ImportedItemOut {
    fn from(i: &ImportedItem) -> Self {
        let mut out = ImportedItemOut {
            id: i.id,
            uid: i.uid.clone(),
            recurrence_id: Some(i.recurrence_id.clone()).filter(|r| !r.is_empty()),
            kind: i.kind,
            summary: i.summary.clone(),
            start_date: None,
            end_date: None,
            start: None,
            end: None,
            details: serde_json::to_value(&i.details).unwrap_or_default(),
            missing_since: i.missing_since,
        };
        match i.span {
            Span::AllDay { start, end } => {
                (out.start_date, out.end_date) = (Some(start), Some(end))
            }
            Span::Timed { start, end } => (out.start, out.end) = (Some(start), Some(end)),
        }
        out
    }
}

/// The items an import holds now, in id order (`from`/`to`: only those that overlap).
#[utoipa::path(get, path = "/api/v1/imports/{id}/items", tag = "imports",
    params(ItemsQuery, PageQuery),
    responses((status = 200, body = ListOut<ImportedItemOut>), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
async fn list_items(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ItemsQuery>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<axum::Json<ListOut<ImportedItemOut>>, ApiError> {
    let import = state.store.import(tenant.id, parse_id(&id)?).await?;
    let zone = state.store.owner_zone(&tenant, import.data.owner).await?;
    let mut errors = Vec::new();
    let paging = page.paging(&mut errors);
    let mut c = Checker::default();
    let mut bound = |field: &str, value: Option<&str>| {
        value.and_then(|v| c.date_or_instant(field, v)).map(|when| match when {
            When::Day(day) => local_midnight(day, zone),
            When::Instant(at) => at,
        })
    };
    let window = (bound("from", query.from.as_deref()), bound("to", query.to.as_deref()));
    for e in errors {
        c.fail(&e.field, e.message);
    }
    let window = c.finish(|| window).map_err(ApiError::invalid)?;
    let items =
        state.store.import_items(tenant.id, import.id, window, paging.after, paging.limit).await?;
    Ok(axum::Json(ListOut::from_page(&items, ImportedItemOut::from)))
}

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_import, list_imports))
        .routes(routes!(get_import, patch_import, delete_import))
        .routes(routes!(run_import))
        .routes(routes!(list_runs))
        .routes(routes!(list_items))
}
