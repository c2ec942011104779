//! `/api/v1/settings`: the tenant's own choices, each with a sensible default.

use axum::extract::State;
use kalends_core::domain::{ALERT_KINDS, TenantSettings};
use kalends_core::service::tenants;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, Problem};
use super::extract::{ApiJson, AuthTenant, parse_json};
use super::fields::Checker;
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
    /// `connection_needs_reauth`, `booking_sync_failed`.
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
    let settings = patched(&tenant.settings, patch)?;
    tenants::update_settings(&state.store, tenant.id, &settings).await?;
    Ok(axum::Json(settings))
}

/// `current` with the fields of `patch` replaced, checked as a whole (the API's PATCH and the
/// console's settings form alike).
pub fn patched(
    current: &TenantSettings,
    patch: serde_json::Map<String, Value>,
) -> Result<TenantSettings, ApiError> {
    let Value::Object(mut merged) = serde_json::to_value(current).map_err(ApiError::internal)?
    else {
        return Err(ApiError::internal(anyhow::anyhow!("settings are not an object")));
    };
    // Addresses taken out of `alert_emails` take their choices with them, unless the patch
    // sets the choices too (then they are checked as given).
    let prune = !patch.contains_key("alert_subscriptions");
    let mut c = Checker::default();
    for (key, value) in patch {
        if merged.contains_key(&key) {
            merged.insert(key, value);
        } else {
            c.fail(&key, "unknown setting");
        }
    }
    c.finish(|| ()).map_err(ApiError::invalid)?;
    let bytes = serde_json::to_vec(&merged).map_err(ApiError::internal)?;
    let mut settings: TenantSettings = parse_json(&bytes)?;
    if prune {
        let emails = settings.alert_emails.clone();
        settings.alert_subscriptions.retain(|address, _| emails.contains(address));
    }
    check(&settings).map_err(ApiError::invalid)?;
    Ok(settings)
}

fn check(s: &TenantSettings) -> Result<(), Vec<super::error::FieldError>> {
    let mut c = Checker::default();
    c.text("name", &s.name, 300);
    c.text("busy_label", &s.busy_label, 100);
    if let Some(reply_to) = &s.reply_to {
        c.email("reply_to", reply_to);
    }
    if s.all_day_reminder_hour > 23 {
        c.fail("all_day_reminder_hour", "must be an hour from 0 to 23");
    }
    if s.reminder_offsets_minutes.len() > 10
        || s.reminder_offsets_minutes.iter().any(|m| *m == 0 || *m > 40_320)
    {
        c.fail(
            "reminder_offsets_minutes",
            "at most 10 offsets, each from 1 minute to 4 weeks (40320)",
        );
    }
    if s.alert_emails.len() > 10 {
        c.fail("alert_emails", "at most 10 addresses");
    }
    for email in &s.alert_emails {
        c.email("alert_emails", email);
    }
    for (address, kinds) in &s.alert_subscriptions {
        if !s.alert_emails.contains(address) {
            c.fail("alert_subscriptions", "each address must be one of alert_emails");
        }
        if let Some(kind) = kinds.iter().find(|k| !ALERT_KINDS.contains(&k.as_str())) {
            c.fail(
                "alert_subscriptions",
                format!("unknown alert {kind:?}: one of {}", ALERT_KINDS.join(", ")),
            );
        }
    }
    if s.cancelled_retention_days > 365 {
        c.fail("cancelled_retention_days", "must be at most 365");
    }
    c.finish(|| ())
}

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_settings, patch_settings))
}
