//! `/api/v1/settings`: the tenant's own choices, each with a sensible default.

use axum::extract::State;
use kalends_core::domain::TenantSettings;
use kalends_service::tenants;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, Problem};
use super::extract::{ApiJson, AuthTenant};
use crate::input::settings::{PatchError, patched};
use crate::state::AppState;

/// The tenant's settings (the document shape; every field has a default).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct SettingsDoc {
    /// Display name of the business.
    name: String,
    /// The business's IANA zone.
    time_zone: String,
    /// Sender display name of customer emails.
    mail_from_name: Option<String>,
    /// Reply-To of customer emails.
    reply_to: Option<String>,
    /// SUMMARY of busy-only events and feeds (default "Reserved").
    busy_label: String,
    /// `details` or `busy`.
    event_privacy: String,
    /// Email an invite when a booking is confirmed (default true).
    invite_on_confirm: bool,
    /// Minutes before start (default [1440, 60]).
    reminder_offsets_minutes: Vec<u32>,
    /// Hour of the day-before reminder of all-day bookings (default 9).
    all_day_reminder_hour: u8,
    /// `restore` or `accept`.
    external_edit_policy: String,
    /// Days a cancelled booking stays in feeds (default 30).
    cancelled_retention_days: u32,
    /// Colours by status: `{confirmed, tentative}`.
    colors: Value,
    /// Who receives alert e-mails (a feed failing for 30 minutes and its recovery, a double
    /// booking, a calendar needing reconnecting, a booking not synced, a webhook endpoint
    /// disabled); default none.
    alert_emails: Vec<String>,
    /// Which alerts an address of `alert_emails` wants, by address: `{"owner@example.com":
    /// ["conflict_opened"]}`; an address not listed receives every alert. Kinds:
    /// `import_failing`, `import_recovered`, `webhook_endpoint_disabled`, `conflict_opened`,
    /// `connection_needs_reauth`, `booking_sync_failed`, `checklist_overdue`, `import_held`,
    /// `feed_item_missing`, `organisation_failing`, `organisation_recovered`.
    alert_subscriptions: std::collections::BTreeMap<String, Vec<String>>,
}

/// The tenant's settings.
#[utoipa::path(get, path = "/api/v1/settings", tag = "settings", responses((status = 200, body = SettingsDoc)))]
async fn get_settings(AuthTenant(tenant): AuthTenant) -> axum::Json<TenantSettings> {
    axum::Json(tenant.settings)
}

/// Change some settings; the others keep their values.
#[utoipa::path(patch, path = "/api/v1/settings", tag = "settings", request_body = SettingsDoc,
    responses((status = 200, body = SettingsDoc), (status = 422, body = Problem)))]
async fn patch_settings(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    ApiJson(patch): ApiJson<serde_json::Map<String, Value>>,
) -> Result<axum::Json<TenantSettings>, ApiError> {
    let settings = patched(&tenant.settings, patch).map_err(refused)?;
    tenants::update_settings(&state.store, tenant.id, &settings).await?;
    Ok(axum::Json(settings))
}

/// A refused patch as the API answers it: 422 naming the fields, or 500.
fn refused(error: PatchError) -> ApiError {
    match error {
        PatchError::Invalid(errors) => ApiError::invalid(errors),
        PatchError::Internal(error) => ApiError::internal(error),
    }
}

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_settings, patch_settings))
}
