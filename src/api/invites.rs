//! Customer invitations: `GET /api/v1/bookings/{id}/invite.ics`, `POST /api/v1/bookings/{id}/invite`
//! (send again now), `GET /api/v1/bookings/{id}/messages` (what was e-mailed), and the public
//! `GET /invite/{token}.ics` that the e-mails link to.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kalends_core::domain::{Booking, BookingStatus, Tenant};
use kalends_core::tokens;
use kalends_service::bookings;
use kalends_store::{CustomerMessage, MessageKind};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ListOut;
use super::error::{ApiError, Problem};
use super::extract::{AuthTenant, parse_id};
use crate::state::AppState;

/// The current invitation of a booking, as the customer's calendar should hold it.
async fn current_invite(
    state: &AppState,
    tenant: &Tenant,
    booking: &Booking,
) -> Result<String, ApiError> {
    let last = state.store.last_invite(booking.id).await?;
    let kind = match booking.data.status {
        BookingStatus::Cancelled => MessageKind::Cancel,
        _ => MessageKind::Request,
    };
    let revision = last.map_or(0, |m| m.revision);
    let zone = state.store.booking_zone(tenant, &booking.data).await?;
    state.customer_mail.render_invite(tenant, booking, zone, kind, revision).ok_or_else(|| {
        ApiError::not_found_detail(
            "this booking has no customer e-mail address, so it has no invitation",
        )
    })
}

fn ics(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "inline; filename=\"invite.ics\""),
            (header::CACHE_CONTROL, "private, no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The customer invitation (iTIP `REQUEST`, or `CANCEL` once cancelled).
#[utoipa::path(get, path = "/api/v1/bookings/{id}/invite.ics", tag = "bookings",
    responses((status = 200, content_type = "text/calendar"), (status = 404, body = Problem)))]
async fn invite_ics(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let booking = state.store.booking(tenant.id, parse_id(&id)?).await?;
    Ok(ics(current_invite(&state, &tenant, &booking).await?))
}

/// Send the invitation (or cancellation) e-mail again now, as a new revision.
#[utoipa::path(post, path = "/api/v1/bookings/{id}/invite", tag = "bookings",
    responses((status = 202), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn resend_invite(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    bookings::resend_invite(&state.store, tenant.id, parse_id(&id)?).await?;
    Ok(StatusCode::ACCEPTED)
}

/// The e-mails sent (or refused, or skipped) to the booking's customer, oldest first.
#[utoipa::path(get, path = "/api/v1/bookings/{id}/messages", tag = "bookings",
    responses((status = 200, description = "`{items: [{kind, revision, reminder, recipient, status, message_id, error, created_at, finished_at}]}`"), (status = 404, body = Problem)))]
async fn messages(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<axum::Json<ListOut<CustomerMessage>>, ApiError> {
    let booking = state.store.booking(tenant.id, parse_id(&id)?).await?;
    let items = state.store.customer_messages(booking.id).await?;
    Ok(axum::Json(ListOut { items, next_cursor: None }))
}

/// The API routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(invite_ics))
        .routes(routes!(resend_invite))
        .routes(routes!(messages))
}

/// `GET /invite/{token}.ics`: the link in the customer's e-mail (signed, rate-limited like feeds).
pub fn public_router() -> Router<AppState> {
    Router::new().route("/invite/{file}", get(public_invite))
}

async fn public_invite(
    State(state): State<AppState>,
    Path(file): Path<String>,
    client: crate::client_addr::ClientAddr,
) -> Result<Response, ApiError> {
    let token = file.strip_suffix(".ics").ok_or_else(ApiError::not_found)?;
    let booking_id = state
        .secret_key
        .all()
        .find_map(|key| tokens::verify_invite_token(key, token))
        .ok_or_else(ApiError::not_found)?;
    if let Err(wait) = state.feed_limiter.check(&tokens::token_hash(token), client) {
        return Err(ApiError::rate_limited(wait, "too many requests for this invitation"));
    }
    let booking =
        state.store.booking_anywhere(booking_id).await?.ok_or_else(ApiError::not_found)?;
    let tenant = state.store.tenant(booking.tenant_id).await?;
    let zone = state.store.booking_zone(&tenant, &booking.data).await?;
    let (_, end) = booking.data.span.utc_range(zone);
    let open_for = chrono::Duration::days(i64::from(state.config.mail.invite_link_days));
    if end + open_for < chrono::Utc::now() {
        return Err(ApiError::not_found_detail("this invitation link has expired"));
    }
    if booking.data.status == BookingStatus::Cancelled {
        // Anyone holding the link may read it: once cancelled, it says only that.
        let revision = state.store.last_invite(booking.id).await?.map_or(0, |m| m.revision);
        let notice = state
            .customer_mail
            .render_cancelled_notice(&tenant, &booking, zone, revision)
            .ok_or_else(ApiError::not_found)?;
        return Ok(ics(notice));
    }
    Ok(ics(current_invite(&state, &tenant, &booking).await?))
}
