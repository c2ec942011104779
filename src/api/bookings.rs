//! `/api/v1/bookings`: the host's bookings. Every change bumps `version` and schedules the work
//! that follows from it (in the same transaction).

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use kalends_core::domain::{
    Booking, BookingSpan, BookingStatus, Customer, NewBooking, Tenant, TimeZone,
};
use kalends_service::bookings;
use kalends_service::bookings::UpsertOutcome;
use kalends_store::StoreError;
use kalends_store::{BookingEvent, BookingFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::ListOut;
use super::collisions::{FeedRechecked, WriteQuery};
use super::conflicts::add_details;
use super::error::ApiError;
use super::extract::{
    ApiJson, ApiQuery, AuthTenant, PageQuery, nullable, parse_id, path_external_id,
};
use crate::input::FieldError;
use crate::input::fields::{Checker, SpanForm};
use crate::state::AppState;

/// Where a booking stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Held, not final.
    Tentative,
    /// Final.
    Confirmed,
    /// Cancelled.
    Cancelled,
}

impl From<Status> for BookingStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Tentative => BookingStatus::Tentative,
            Status::Confirmed => BookingStatus::Confirmed,
            Status::Cancelled => BookingStatus::Cancelled,
        }
    }
}

impl From<BookingStatus> for Status {
    fn from(s: BookingStatus) -> Self {
        match s {
            BookingStatus::Tentative => Status::Tentative,
            BookingStatus::Confirmed => Status::Confirmed,
            BookingStatus::Cancelled => Status::Cancelled,
        }
    }
}

/// The customer of a booking.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerIn {
    /// Full name.
    pub name: String,
    /// Where invites go; checked here, not at send time.
    pub email: Option<String>,
    /// Contact number.
    pub phone: Option<String>,
}

/// A booking as the host sends it. Give `start`/`end` (RFC 3339 with offset, plus `time_zone`,
/// default the resource's or the tenant's) for a timed booking, or `start_date`/`end_date` for an
/// all-day booking (a stay: `end_date` is the check-out day, exclusive).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookingIn {
    /// The host's own id, unique per tenant.
    pub external_id: Option<String>,
    /// The bookable thing.
    pub resource_id: Option<Uuid>,
    /// Staff assigned; an id named twice is assigned once.
    #[serde(default)]
    pub staff_ids: Vec<Uuid>,
    /// Default `confirmed`.
    pub status: Option<Status>,
    /// Short title.
    pub title: String,
    /// Longer text.
    pub description: Option<String>,
    /// Address or room.
    pub location: Option<String>,
    /// Who booked.
    pub customer: Option<CustomerIn>,
    /// Timed start, e.g. `2025-03-01T15:00:00+02:00`.
    pub start: Option<String>,
    /// Timed end (after `start`).
    pub end: Option<String>,
    /// IANA zone of a timed booking.
    pub time_zone: Option<String>,
    /// All-day first day, `YYYY-MM-DD`.
    #[schema(format = Date)]
    pub start_date: Option<String>,
    /// All-day check-out day (exclusive).
    #[schema(format = Date)]
    pub end_date: Option<String>,
}

impl BookingIn {
    /// Turns the request into a domain booking, reporting every invalid field.
    fn into_new(self, default_zone: TimeZone) -> Result<NewBooking, Vec<FieldError>> {
        let mut c = Checker::default();
        let external_id = self.external_id.as_deref().map(|e| c.external_id("external_id", e));
        let title = c.text("title", &self.title, 500);
        let description = c.optional_text("description", self.description.as_deref(), 20_000);
        let location = c.optional_text("location", self.location.as_deref(), 1_000);
        let customer = self.customer.map(|cu| Customer {
            name: c.text("customer.name", &cu.name, 300),
            email: cu
                .email
                .as_deref()
                .filter(|e| !e.trim().is_empty())
                .and_then(|e| c.email("customer.email", e)),
            phone: c.optional_text("customer.phone", cu.phone.as_deref(), 50),
        });
        let zone = match self.time_zone.as_deref() {
            Some(_) if self.start_date.is_some() || self.end_date.is_some() => {
                c.fail(
                    "time_zone",
                    "applies to timed bookings; all-day bookings use the resource's zone",
                );
                None
            }
            Some(z) => c.zone("time_zone", z),
            None => Some(default_zone),
        };
        let form = SpanForm {
            start: self.start.as_deref(),
            end: self.end.as_deref(),
            start_date: self.start_date.as_deref(),
            end_date: self.end_date.as_deref(),
        };
        let span = c.span(form, zone);
        let mut staff_ids = self.staff_ids;
        let mut seen = std::collections::HashSet::new();
        staff_ids.retain(|id| seen.insert(*id));
        c.finish(|| NewBooking {
            external_id,
            resource_id: self.resource_id,
            staff_ids,
            status: self.status.unwrap_or(Status::Confirmed).into(),
            title,
            description,
            location,
            customer,
            span: span.expect("checked"),
        })
    }
}

impl From<&Booking> for BookingIn {
    fn from(b: &Booking) -> Self {
        let d = &b.data;
        let mut out = BookingIn {
            external_id: d.external_id.clone(),
            resource_id: d.resource_id,
            staff_ids: d.staff_ids.clone(),
            status: Some(d.status.into()),
            title: d.title.clone(),
            description: d.description.clone(),
            location: d.location.clone(),
            customer: d.customer.as_ref().map(|c| CustomerIn {
                name: c.name.clone(),
                email: c.email.as_ref().map(|e| e.as_str().to_owned()),
                phone: c.phone.clone(),
            }),
            ..BookingIn::default()
        };
        match &d.span {
            BookingSpan::Timed { start, end, zone } => {
                out.start = Some(start.to_rfc3339());
                out.end = Some(end.to_rfc3339());
                out.time_zone = Some(zone.to_string());
            }
            BookingSpan::AllDay { start, end } => {
                out.start_date = Some(start.to_string());
                out.end_date = Some(end.to_string());
            }
        }
        out
    }
}

/// A partial update: absent fields stay, `null` clears an optional field. Setting either time form
/// replaces the other.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookingPatch {
    /// The host's own id.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub external_id: Option<Option<String>>,
    /// The bookable thing.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Uuid>)]
    pub resource_id: Option<Option<Uuid>>,
    /// Staff assigned (replaces the list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staff_ids: Option<Vec<Uuid>>,
    /// New status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Short title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Longer text.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// Address or room.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub location: Option<Option<String>>,
    /// Who booked.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<CustomerIn>)]
    pub customer: Option<Option<CustomerIn>>,
    /// Timed start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Timed end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// IANA zone of a timed booking.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// All-day first day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// All-day check-out day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
}

impl BookingPatch {
    fn apply(self, draft: &mut BookingIn) {
        let set = |field: &mut Option<String>, value: Option<String>| {
            if value.is_some() {
                *field = value;
            }
        };
        if self.start.is_some() || self.end.is_some() || self.time_zone.is_some() {
            draft.start_date = None;
            draft.end_date = None;
        }
        if self.start_date.is_some() || self.end_date.is_some() {
            (draft.start, draft.end, draft.time_zone) = (None, None, None);
        }
        set(&mut draft.start, self.start);
        set(&mut draft.end, self.end);
        set(&mut draft.time_zone, self.time_zone);
        set(&mut draft.start_date, self.start_date);
        set(&mut draft.end_date, self.end_date);
        if let Some(v) = self.external_id {
            draft.external_id = v;
        }
        if let Some(v) = self.resource_id {
            draft.resource_id = v;
        }
        if let Some(v) = self.staff_ids {
            draft.staff_ids = v;
        }
        if let Some(v) = self.status {
            draft.status = Some(v);
        }
        if let Some(v) = self.title {
            draft.title = v;
        }
        if let Some(v) = self.description {
            draft.description = v;
        }
        if let Some(v) = self.location {
            draft.location = v;
        }
        if let Some(v) = self.customer {
            draft.customer = v;
        }
    }
}

/// Where a booking stands in one connected calendar (`GET /api/v1/bookings/{id}` fills it).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SyncOut {
    /// The connection.
    pub connection_id: Uuid,
    /// `google` or `microsoft`.
    pub provider: String,
    /// `pending`, `synced`, `failed` or `deleted`.
    pub state: String,
    /// The provider's event id.
    pub remote_id: Option<String>,
    /// Why it is pending or failed.
    pub last_error: Option<String>,
    /// When it last reached the calendar.
    pub synced_at: Option<DateTime<Utc>>,
    /// The last edit the staff member made to the event by hand, and what Kalends did about it
    /// (the tenant's `external_edit_policy`: restored, or left as is).
    pub external_edit: Option<String>,
    /// When that edit was seen.
    pub external_edit_at: Option<DateTime<Utc>>,
}

impl From<&BookingEvent> for SyncOut {
    fn from(e: &BookingEvent) -> Self {
        SyncOut {
            connection_id: e.connection_id,
            provider: e.provider.as_str().into(),
            state: e.state.as_str().into(),
            remote_id: e.remote_id.clone(),
            last_error: e.last_error.clone(),
            synced_at: e.synced_at,
            external_edit: e.external_edit.clone(),
            external_edit_at: e.external_edit_at,
        }
    }
}

/// A stored booking.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BookingOut {
    /// Server id.
    pub id: Uuid,
    /// The host's own id.
    pub external_id: Option<String>,
    /// The bookable thing.
    pub resource_id: Option<Uuid>,
    /// Staff assigned.
    pub staff_ids: Vec<Uuid>,
    /// Where it stands.
    pub status: Status,
    /// Short title.
    pub title: String,
    /// Longer text.
    pub description: Option<String>,
    /// Address or room.
    pub location: Option<String>,
    /// Who booked.
    pub customer: Option<CustomerIn>,
    /// Timed start (timed bookings only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    /// Timed end (timed bookings only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
    /// Zone of a timed booking.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// First day (all-day bookings only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<NaiveDate>,
    /// Check-out day, exclusive (all-day bookings only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<NaiveDate>,
    /// Bumped on every change.
    pub version: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Per connected calendar.
    pub sync: Vec<SyncOut>,
    /// With `recheck_feeds=true`: what the fresh look at each import found before the write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feeds_rechecked: Option<Vec<FeedRechecked>>,
}

impl From<&Booking> for BookingOut {
    fn from(b: &Booking) -> Self {
        let input = BookingIn::from(b);
        let (mut start, mut end, mut start_date, mut end_date) = (None, None, None, None);
        match &b.data.span {
            BookingSpan::Timed { start: s, end: e, .. } => (start, end) = (Some(*s), Some(*e)),
            BookingSpan::AllDay { start: s, end: e } => {
                (start_date, end_date) = (Some(*s), Some(*e))
            }
        }
        BookingOut {
            id: b.id,
            external_id: input.external_id,
            resource_id: input.resource_id,
            staff_ids: input.staff_ids,
            status: b.data.status.into(),
            title: input.title,
            description: input.description,
            location: input.location,
            customer: input.customer,
            start,
            end,
            time_zone: input.time_zone,
            start_date,
            end_date,
            version: b.version,
            created_at: b.created_at,
            updated_at: b.updated_at,
            sync: Vec::new(),
            feeds_rechecked: None,
        }
    }
}

/// Filters of `GET /api/v1/bookings`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct BookingQuery {
    /// Only bookings ending after this instant (RFC 3339), or this date's midnight in the
    /// tenant's zone (`YYYY-MM-DD`).
    pub from: Option<String>,
    /// Only bookings starting before this instant, or this date's midnight in the tenant's zone.
    pub to: Option<String>,
    /// `tentative`, `confirmed` or `cancelled`.
    pub status: Option<String>,
    /// Only bookings of this resource.
    pub resource_id: Option<String>,
    /// Only bookings assigned to this staff member.
    pub staff_id: Option<String>,
}

/// The zone a timed booking without `time_zone` is shown in: its resource's (a room's house's
/// when it has none), else the tenant's.
async fn default_zone(
    state: &AppState,
    tenant: &Tenant,
    resource_id: Option<Uuid>,
) -> Result<TimeZone, ApiError> {
    let fallback = tenant.settings.time_zone;
    let Some(id) = resource_id else { return Ok(fallback) };
    match state.store.resource_zone(tenant.id, id).await {
        Ok(zone) => Ok(zone.unwrap_or(fallback)),
        // The store reports the unknown resource as a field error when the booking is saved.
        Err(StoreError::NotFound) => Ok(fallback),
        Err(e) => Err(e.into()),
    }
}

async fn validate(
    state: &AppState,
    tenant: &Tenant,
    body: BookingIn,
) -> Result<NewBooking, ApiError> {
    let zone = if body.time_zone.is_none() && body.start_date.is_none() && body.end_date.is_none() {
        default_zone(state, tenant, body.resource_id).await?
    } else {
        tenant.settings.time_zone // unused: the body names its zone or is all-day
    };
    body.into_new(zone).map_err(ApiError::invalid)
}

/// A written booking's answer, with what the fresh look at the feeds found first, if asked,
/// and what its calendars hold as the write leaves them (the syncs it owes are still to run:
/// a new booking's list is empty).
async fn written(
    state: &AppState,
    booking: &Booking,
    rechecked: Option<Vec<FeedRechecked>>,
) -> Result<BookingOut, ApiError> {
    let out = with_sync(state, booking.tenant_id, std::slice::from_ref(booking)).await?.remove(0);
    Ok(BookingOut { feeds_rechecked: rechecked, ..out })
}

/// The answers for the tenant's `bookings`, each with what its calendars hold (`sync`), read in
/// one query.
async fn with_sync(
    state: &AppState,
    tenant_id: Uuid,
    bookings: &[Booking],
) -> Result<Vec<BookingOut>, ApiError> {
    let ids: Vec<Uuid> = bookings.iter().map(|b| b.id).collect();
    let events = state.store.booking_events_of(tenant_id, &ids).await?;
    let sync = |id: Uuid| events.iter().filter(move |e| e.booking_id == id).map(SyncOut::from);
    Ok(bookings
        .iter()
        .map(|b| BookingOut { sync: sync(b.id).collect(), ..BookingOut::from(b) })
        .collect())
}

/// A new booking's answer: it is in no calendar yet, so its `sync` is empty without a read.
fn created(booking: &Booking, rechecked: Option<Vec<FeedRechecked>>) -> Response {
    let location = format!("/api/v1/bookings/{}", booking.id);
    let out = BookingOut { feeds_rechecked: rechecked, ..BookingOut::from(booking) };
    (StatusCode::CREATED, [(header::LOCATION, location)], axum::Json(out)).into_response()
}

/// A write reads a staff member the request names twice once (`BookingIn::into_new`), so the
/// store names a missing one by its place among the distinct ids; the answer names its first
/// place in the request instead.
fn at_requested_place(error: ApiError, requested: &[Uuid]) -> ApiError {
    let mut seen = std::collections::HashSet::new();
    let firsts: Vec<usize> = (0..requested.len()).filter(|&i| seen.insert(requested[i])).collect();
    if firsts.len() == requested.len() {
        return error;
    }
    error.renaming_fields(|field| {
        let place: usize = field.strip_prefix("staff_ids[")?.strip_suffix(']')?.parse().ok()?;
        Some(format!("staff_ids[{}]", firsts.get(place)?))
    })
}

/// A refused booking write's error: the imported reservations it collides with carry their
/// details, and it says what the fresh look at the feeds found first.
async fn refused(
    state: &AppState,
    tenant_id: Uuid,
    rechecked: &Option<Vec<FeedRechecked>>,
    error: impl Into<ApiError>,
) -> ApiError {
    let mut error = error.into();
    if let Some(items) = error.collisions_mut()
        && let Err(failed) = add_details(state, tenant_id, items.iter_mut().collect()).await
    {
        return failed;
    }
    let seen = rechecked.as_ref().and_then(|seen| serde_json::to_value(seen).ok());
    error.with_rechecked(seen)
}

/// Create a booking.
#[utoipa::path(post, path = "/api/v1/bookings", tag = "bookings", request_body = BookingIn, params(WriteQuery),
    responses((status = 201, body = BookingOut), (status = 422, body = super::error::Problem)))]
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id))]
async fn create_booking(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    ApiQuery(write): ApiQuery<WriteQuery>,
    ApiJson(body): ApiJson<BookingIn>,
) -> Result<Response, ApiError> {
    let requested = body.staff_ids.clone();
    let new = validate(&state, &tenant, body).await?;
    let rechecked = write.recheck(&state, tenant.id, new.resource_id, &new.staff_ids).await?;
    let booking = match bookings::create(&state.store, &tenant, new, write.overlap()).await {
        Ok(booking) => booking,
        Err(e) => {
            let e = at_requested_place(e.into(), &requested);
            return Err(refused(&state, tenant.id, &rechecked, e).await);
        }
    };
    Ok(created(&booking, rechecked))
}

/// Create or replace the booking with this external id: 201 when new, 200 otherwise. Sending the
/// same content again changes nothing (same version, no sync scheduled).
#[utoipa::path(put, path = "/api/v1/bookings/by-external-id/{external_id}", tag = "bookings", request_body = BookingIn,
    params(("external_id" = String, Path, description = "The host's own id"), WriteQuery),
    responses((status = 201, body = BookingOut), (status = 200, body = BookingOut), (status = 422, body = super::error::Problem)))]
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id))]
async fn upsert_booking(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(external_id): Path<String>,
    ApiQuery(write): ApiQuery<WriteQuery>,
    ApiJson(body): ApiJson<BookingIn>,
) -> Result<Response, ApiError> {
    let external_id = path_external_id(&external_id, body.external_id.as_deref())?;
    let requested = body.staff_ids.clone();
    let new = validate(&state, &tenant, body).await?;
    let rechecked = write.recheck(&state, tenant.id, new.resource_id, &new.staff_ids).await?;
    let saved =
        bookings::save_by_external_id(&state.store, &tenant, &external_id, new, write.overlap());
    let saved = match saved.await {
        Ok(saved) => saved,
        Err(e) => {
            let e = at_requested_place(e.into(), &requested);
            return Err(refused(&state, tenant.id, &rechecked, e).await);
        }
    };
    Ok(match saved {
        UpsertOutcome::Created(b) => created(&b, rechecked),
        UpsertOutcome::Updated { booking: b, .. } | UpsertOutcome::Unchanged(b) => {
            axum::Json(written(&state, &b, rechecked).await?).into_response()
        }
    })
}

/// One booking.
#[utoipa::path(get, path = "/api/v1/bookings/{id}", tag = "bookings",
    responses((status = 200, body = BookingOut), (status = 404, body = super::error::Problem)))]
async fn get_booking(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<axum::Json<BookingOut>, ApiError> {
    let booking = state.store.booking(tenant.id, parse_id(&id)?).await?;
    Ok(axum::Json(written(&state, &booking, None).await?))
}

/// Change some fields of a booking.
#[utoipa::path(patch, path = "/api/v1/bookings/{id}", tag = "bookings", request_body = BookingPatch, params(WriteQuery),
    responses((status = 200, body = BookingOut), (status = 404, body = super::error::Problem), (status = 422, body = super::error::Problem)))]
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id))]
async fn patch_booking(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
    ApiQuery(write): ApiQuery<WriteQuery>,
    ApiJson(patch): ApiJson<BookingPatch>,
) -> Result<axum::Json<BookingOut>, ApiError> {
    let id = parse_id(&id)?;
    let rechecked = if write.recheck_feeds == Some(true) {
        // The imports to look at are those of the booking as the patch leaves it.
        let mut draft = BookingIn::from(&state.store.booking(tenant.id, id).await?);
        patch.clone().apply(&mut draft);
        write.recheck(&state, tenant.id, draft.resource_id, &draft.staff_ids).await?
    } else {
        write.recheck(&state, tenant.id, None, &[]).await? // checks the parameters only
    };
    let (state_ref, tenant_ref) = (&state, &tenant);
    let edit = |current: Booking| {
        let mut draft = BookingIn::from(&current);
        patch.clone().apply(&mut draft);
        async move { validate(state_ref, tenant_ref, draft).await }
    };
    let booking = match bookings::edit(&state.store, &tenant, id, write.overlap(), edit).await {
        Ok(booking) => booking,
        Err(e) => {
            let e = at_requested_place(e, patch.staff_ids.as_deref().unwrap_or_default());
            return Err(refused(&state, tenant.id, &rechecked, e).await);
        }
    };
    Ok(axum::Json(written(&state, &booking, rechecked).await?))
}

/// Cancel a booking: it disappears from calendars and stays in feeds as cancelled for a while.
#[utoipa::path(post, path = "/api/v1/bookings/{id}/cancel", tag = "bookings",
    responses((status = 200, body = BookingOut), (status = 404, body = super::error::Problem)))]
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id))]
async fn cancel_booking(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<axum::Json<BookingOut>, ApiError> {
    let booking = bookings::cancel(&state.store, &tenant, parse_id(&id)?).await?;
    Ok(axum::Json(written(&state, &booking, None).await?))
}

/// List bookings, oldest first, with filters.
#[utoipa::path(get, path = "/api/v1/bookings", tag = "bookings", params(BookingQuery, PageQuery),
    responses((status = 200, body = ListOut<BookingOut>), (status = 422, body = super::error::Problem)))]
async fn list_bookings(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    ApiQuery(query): ApiQuery<BookingQuery>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<axum::Json<ListOut<BookingOut>>, ApiError> {
    let mut c = Checker::default();
    let paging = page.paging(&mut c.errors);
    // A date is midnight in the tenant's zone, as the console shows the days.
    let zone = tenant.settings.time_zone;
    let from = super::availability::bound(&mut c, "from", query.from.as_deref(), zone);
    let to = super::availability::bound(&mut c, "to", query.to.as_deref(), zone);
    let status = query.status.as_deref().and_then(|s| {
        let parsed = BookingStatus::parse(s);
        if parsed.is_none() {
            c.fail("status", "must be tentative, confirmed or cancelled");
        }
        parsed
    });
    let mut uuid = |field: &str, v: Option<&str>| {
        v.and_then(|v| v.parse::<Uuid>().map_err(|_| c.fail(field, "must be a UUID")).ok())
    };
    let resource_id = uuid("resource_id", query.resource_id.as_deref());
    let staff_id = uuid("staff_id", query.staff_id.as_deref());
    let filter = c
        .finish(|| BookingFilter {
            cancelled_since: None,
            exclude_tentative: false,
            from,
            to,
            status,
            resource_id,
            staff_id,
            after: paging.after,
            limit: paging.limit,
        })
        .map_err(ApiError::invalid)?;
    let page = state.store.list_bookings(tenant.id, &filter).await?;
    let items = with_sync(&state, tenant.id, &page.items).await?;
    Ok(axum::Json(ListOut {
        items,
        next_cursor: page.next_cursor.map(super::extract::encode_cursor),
    }))
}

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_booking, list_bookings))
        .routes(routes!(upsert_booking))
        .routes(routes!(get_booking, patch_booking))
        .routes(routes!(cancel_booking))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timed() -> BookingIn {
        BookingIn {
            title: "Massage".into(),
            start: Some("2025-03-01T10:00:00+02:00".into()),
            end: Some("2025-03-01T11:00:00+02:00".into()),
            ..BookingIn::default()
        }
    }

    fn fields(result: Result<NewBooking, Vec<FieldError>>) -> Vec<String> {
        result.unwrap_err().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_timed_booking_without_zone_takes_the_default_zone() {
        let zone: TimeZone = "Europe/Paris".parse().unwrap();
        let new = timed().into_new(zone).unwrap();
        assert!(matches!(new.span, BookingSpan::Timed { zone: z, .. } if z == zone));
        assert_eq!(new.status, BookingStatus::Confirmed);
    }

    #[test]
    fn impossible_dates_and_mixed_forms_name_their_fields() {
        let bad_date = BookingIn {
            start: None,
            end: None,
            start_date: Some("2025-02-30".into()),
            end_date: Some("2025-03-02".into()),
            ..timed()
        };
        assert_eq!(fields(bad_date.into_new(TimeZone::UTC)), ["start_date"]);
        let both = BookingIn { start_date: Some("2025-03-01".into()), ..timed() };
        assert_eq!(fields(both.into_new(TimeZone::UTC)), ["start_date"]);
        let neither = BookingIn { start: None, end: None, ..timed() };
        assert_eq!(fields(neither.into_new(TimeZone::UTC)), ["start"]);
        let backwards = BookingIn { end: Some("2025-03-01T09:00:00+02:00".into()), ..timed() };
        assert_eq!(fields(backwards.into_new(TimeZone::UTC)), ["end"]);
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let body = BookingIn {
            title: " ".into(),
            time_zone: Some("Mars/Base".into()),
            customer: Some(CustomerIn {
                name: "Ann".into(),
                email: Some("not-an-email".into()),
                phone: None,
            }),
            ..timed()
        };
        assert_eq!(fields(body.into_new(TimeZone::UTC)), ["title", "customer.email", "time_zone"]);
    }

    #[test]
    fn patching_dates_replaces_the_timed_form() {
        let mut draft = timed();
        BookingPatch {
            start_date: Some("2025-03-01".into()),
            end_date: Some("2025-03-04".into()),
            ..Default::default()
        }
        .apply(&mut draft);
        let new = draft.into_new(TimeZone::UTC).unwrap();
        assert!(new.span.is_all_day());
    }
}
