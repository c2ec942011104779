//! The tenant's settings, changed by a patch (`PATCH /api/v1/settings` and the console's
//! settings form): the patch's fields replace the current ones, and the result is checked as a
//! whole.

use kalends_core::domain::{ALERT_KINDS, TenantSettings};
use serde_json::{Map, Value};

use super::FieldError;
use super::fields::Checker;
use super::json::{self, JsonError};

/// Why a settings patch was refused.
#[derive(Debug)]
pub enum PatchError {
    /// Fields that are unknown or wrong.
    Invalid(Vec<FieldError>),
    /// The current settings did not read back as a document: a fault of this server, not of
    /// the patch.
    Internal(anyhow::Error),
}

/// `current` with the fields of `patch` replaced, checked as a whole.
pub fn patched(
    current: &TenantSettings,
    patch: Map<String, Value>,
) -> Result<TenantSettings, PatchError> {
    let Value::Object(mut merged) =
        serde_json::to_value(current).map_err(|e| PatchError::Internal(e.into()))?
    else {
        return Err(PatchError::Internal(anyhow::anyhow!("settings are not an object")));
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
    c.finish(|| ()).map_err(PatchError::Invalid)?;
    let mut settings = read(&merged)?;
    if prune {
        let emails = settings.alert_emails.clone();
        settings.alert_subscriptions.retain(|address, _| emails.contains(address));
    }
    check(&settings).map_err(PatchError::Invalid)?;
    Ok(settings)
}

/// The merged document as settings: a value of the wrong type is its field's problem.
fn read(merged: &Map<String, Value>) -> Result<TenantSettings, PatchError> {
    let bytes = serde_json::to_vec(merged).map_err(|e| PatchError::Internal(e.into()))?;
    json::read(&bytes).map_err(|e| match e {
        JsonError::Field(error) => PatchError::Invalid(vec![error]),
        JsonError::Malformed(inner) => {
            PatchError::Internal(anyhow::anyhow!("the merged settings are not JSON: {inner}"))
        }
    })
}

/// Every rule a whole settings document follows.
fn check(s: &TenantSettings) -> Result<(), Vec<FieldError>> {
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
    check_alerts(&mut c, s);
    if s.cancelled_retention_days > 365 {
        c.fail("cancelled_retention_days", "must be at most 365");
    }
    c.finish(|| ())
}

/// Who receives alerts and which: at most 10 addresses, each choice for one of them and of
/// known alerts.
fn check_alerts(c: &mut Checker, s: &TenantSettings) {
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
}
