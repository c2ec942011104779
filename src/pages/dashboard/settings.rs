//! The tenant's settings: the same fields and the same checks as `PATCH /api/v1/settings`.

use std::collections::{BTreeMap, HashMap};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use kalends_core::domain::{ALERT_KINDS, EventPrivacy, ExternalEditPolicy, TenantSettings};
use kalends_service::tenants;
use maud::{Markup, html};
use serde_json::{Map, Value};

use super::{
    Console, Form, Posted, Section, done, field_error, internal, invalid, notice, other_errors,
    page_with_status, query, store_failure,
};
use crate::input::FieldError;
use crate::input::settings::{PatchError, patched};
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/dashboard/settings", get(show).post(save))
}

/// The form's fields, as shown: the stored settings, or what was typed.
struct Shown {
    name: String,
    time_zone: String,
    busy_label: String,
    event_privacy: EventPrivacy,
    external_edit_policy: ExternalEditPolicy,
    reminders: String,
    all_day_hour: String,
    invite_on_confirm: bool,
    reply_to: String,
    /// One address a line.
    alert_emails: String,
    /// The alerts each address shown with its choices wants.
    alert_choices: Vec<(String, Vec<String>)>,
}

impl Shown {
    fn of(s: &TenantSettings) -> Self {
        Shown {
            name: s.name.clone(),
            time_zone: s.time_zone.tz().name().to_owned(),
            busy_label: s.busy_label.clone(),
            event_privacy: s.event_privacy,
            external_edit_policy: s.external_edit_policy,
            reminders: s
                .reminder_offsets_minutes
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            all_day_hour: s.all_day_reminder_hour.to_string(),
            invite_on_confirm: s.invite_on_confirm,
            reply_to: s.reply_to.clone().unwrap_or_default(),
            alert_emails: s.alert_emails.join("\n"),
            alert_choices: s
                .alert_emails
                .iter()
                .map(|address| {
                    let kinds = ALERT_KINDS
                        .iter()
                        .filter(|k| s.alert_recipients(k).contains(&address.as_str()))
                        .map(|k| (*k).to_owned())
                        .collect();
                    (address.clone(), kinds)
                })
                .collect(),
        }
    }

    fn typed(form: &Form, current: &TenantSettings) -> Self {
        Shown {
            name: form.value("name").to_owned(),
            time_zone: form.value("time_zone").to_owned(),
            busy_label: form.value("busy_label").to_owned(),
            event_privacy: if form.get("event_privacy") == Some("busy") {
                EventPrivacy::Busy
            } else {
                EventPrivacy::Details
            },
            external_edit_policy: if form.get("external_edit_policy") == Some("accept") {
                ExternalEditPolicy::Accept
            } else {
                ExternalEditPolicy::Restore
            },
            reminders: form.value("reminder_offsets_minutes").to_owned(),
            all_day_hour: form.value("all_day_reminder_hour").to_owned(),
            invite_on_confirm: form.get("invite_on_confirm") == Some("yes"),
            reply_to: form
                .get("reply_to")
                .map_or_else(|| current.reply_to.clone().unwrap_or_default(), str::to_owned),
            alert_emails: form.value("alert_emails").to_owned(),
            alert_choices: current
                .alert_emails
                .iter()
                .map(|address| (address.clone(), ticked(form, address)))
                .collect(),
        }
    }
}

/// What each alert kind is, in words.
fn alert_label(kind: &str) -> &str {
    match kind {
        "import_failing" => "A feed import failing for half an hour",
        "import_recovered" => "A failing feed import working again",
        "webhook_endpoint_disabled" => "A webhook endpoint disabled",
        "conflict_opened" => "A double booking",
        "connection_needs_reauth" => "A calendar needing reconnecting",
        "booking_sync_failed" => "A booking that could not be synced",
        "checklist_overdue" => "Checklist items past their due time",
        "import_held" => "A feed import held: it would have removed most of its dates",
        "feed_item_missing" => "Items gone from a feed whose import keeps them",
        "organisation_failing" => "An organisation-wide connection needing its administrator",
        "organisation_recovered" => "An organisation-wide connection working again",
        other => other,
    }
}

/// The name of the checkbox choosing alerts of `kind` for `address` (addresses hold no spaces).
fn choice_name(address: &str, kind: &str) -> String {
    format!("alert {address} {kind}")
}

/// The kinds ticked for `address`.
fn ticked(form: &Form, address: &str) -> Vec<String> {
    ALERT_KINDS
        .iter()
        .filter(|k| form.get(&choice_name(address, k)) == Some("yes"))
        .map(|k| (*k).to_owned())
        .collect()
}

/// The alert addresses and, for each saved one, a checkbox per alert.
fn alert_fields(s: &Shown, errors: &[FieldError]) -> Markup {
    html! {
        label for="alert_emails" { "Alert e-mails to (one address a line)" }
        textarea #alert_emails name="alert_emails" rows="3" aria-invalid=(invalid(errors, "alert_emails"))
            aria-describedby="alert_emails-error" { (s.alert_emails) }
        (field_error(errors, "alert_emails"))
        @for (address, kinds) in &s.alert_choices {
            fieldset.checks {
                legend { "Alerts " (address) " receives" }
                input type="hidden" name=(format!("alerts-shown {address}")) value="yes";
                @for kind in ALERT_KINDS {
                    label.check {
                        input type="checkbox" name=(choice_name(address, kind)) value="yes"
                            checked[kinds.iter().any(|k| k == kind)];
                        (alert_label(kind))
                    }
                }
            }
        }
        (field_error(errors, "alert_subscriptions"))
    }
}

async fn show(
    State(_state): State<AppState>,
    console: Console,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let shown = Shown::of(&console.tenant.settings);
    render(&console, &shown, &[], query(&q, "notice"))
}

fn render(
    console: &Console,
    s: &Shown,
    errors: &[FieldError],
    notice_code: Option<&str>,
) -> Response {
    let fields = [
        "name",
        "time_zone",
        "busy_label",
        "event_privacy",
        "external_edit_policy",
        "reminder_offsets_minutes",
        "all_day_reminder_hour",
        "invite_on_confirm",
        "reply_to",
        "alert_emails",
        "alert_subscriptions",
    ];
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let body = html! {
        h1 { "Settings" }
        (notice(notice_code))
        section.card {
            (other_errors(errors, &fields))
            form.stack method="post" action="/dashboard/settings" {
                (console.csrf_field())
                label for="name" { "Business name" }
                input #name name="name" value=(s.name) required aria-invalid=(invalid(errors, "name"));
                (field_error(errors, "name"))
                label for="time_zone" { "Time zone (IANA name, e.g. Africa/Johannesburg)" }
                input #time_zone name="time_zone" value=(s.time_zone) required aria-invalid=(invalid(errors, "time_zone"));
                (field_error(errors, "time_zone"))
                label for="busy_label" { "What busy-only calendars show" }
                input #busy_label name="busy_label" value=(s.busy_label) required aria-invalid=(invalid(errors, "busy_label"));
                (field_error(errors, "busy_label"))
                label for="event_privacy" { "What staff calendars show of a booking" }
                select #event_privacy name="event_privacy" {
                    option value="details" selected[s.event_privacy == EventPrivacy::Details] { "Details: title, customer, notes" }
                    option value="busy" selected[s.event_privacy == EventPrivacy::Busy] { "Busy only: the label above" }
                }
                label for="external_edit_policy" { "When a staff member edits a booking's event by hand" }
                select #external_edit_policy name="external_edit_policy" {
                    option value="restore" selected[s.external_edit_policy == ExternalEditPolicy::Restore] { "Restore the booking's times" }
                    option value="accept" selected[s.external_edit_policy == ExternalEditPolicy::Accept] { "Keep the edit and open a conflict" }
                }
                label for="reminder_offsets_minutes" { "Customer reminders, minutes before (comma-separated)" }
                input #reminder_offsets_minutes name="reminder_offsets_minutes" value=(s.reminders)
                    aria-invalid=(invalid(errors, "reminder_offsets_minutes")) aria-describedby="reminder_offsets_minutes-error";
                (field_error(errors, "reminder_offsets_minutes"))
                label for="all_day_reminder_hour" { "Hour of the reminder for stays (0 to 23)" }
                input #all_day_reminder_hour name="all_day_reminder_hour" type="number" min="0" max="23" value=(s.all_day_hour)
                    aria-invalid=(invalid(errors, "all_day_reminder_hour")) aria-describedby="all_day_reminder_hour-error";
                (field_error(errors, "all_day_reminder_hour"))
                label for="reply_to" { "Reply-to address of customer e-mails (optional)" }
                input #reply_to name="reply_to" type="email" value=(s.reply_to) aria-invalid=(invalid(errors, "reply_to"));
                (field_error(errors, "reply_to"))
                label.check {
                    input type="checkbox" name="invite_on_confirm" value="yes" checked[s.invite_on_confirm];
                    "E-mail the customer an invitation when a booking is confirmed"
                }
                (alert_fields(s, errors))
                div.actions { button.primary type="submit" { "Save settings" } }
            }
        }
    };
    page_with_status(status, console, Section::Settings, "Settings", body)
}

/// The form as a settings patch; numbers that are not numbers are the form's errors.
fn patch(form: &Form) -> Result<Map<String, Value>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut patch = Map::new();
    for field in ["name", "time_zone", "busy_label", "event_privacy", "external_edit_policy"] {
        patch.insert(field.into(), Value::String(form.value(field).trim().to_owned()));
    }
    let reminders: Result<Vec<u32>, _> = form
        .value("reminder_offsets_minutes")
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::parse::<u32>)
        .collect();
    match reminders {
        Ok(minutes) => {
            patch.insert("reminder_offsets_minutes".into(), minutes.into());
        }
        Err(_) => errors.push(FieldError {
            field: "reminder_offsets_minutes".into(),
            message: "whole minutes separated by commas, e.g. 1440, 60".into(),
        }),
    }
    match form.value("all_day_reminder_hour").trim().parse::<u8>() {
        Ok(hour) => {
            patch.insert("all_day_reminder_hour".into(), hour.into());
        }
        Err(_) => errors.push(FieldError {
            field: "all_day_reminder_hour".into(),
            message: "must be an hour from 0 to 23".into(),
        }),
    }
    let reply_to = form.text("reply_to").map_or(Value::Null, Value::String);
    patch.insert("reply_to".into(), reply_to);
    patch.insert(
        "invite_on_confirm".into(),
        Value::Bool(form.get("invite_on_confirm") == Some("yes")),
    );
    let emails: Vec<String> = form
        .value("alert_emails")
        .split([',', '\n', '\r', ' ', '\t'])
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    // An address whose choices were on the form keeps what was ticked (all ticked: every
    // alert, also those added later); a new address receives every alert.
    let mut choices = BTreeMap::new();
    for address in &emails {
        let kinds = ticked(form, address);
        if form.get(&format!("alerts-shown {address}")) == Some("yes")
            && kinds.len() < ALERT_KINDS.len()
        {
            choices.insert(address.clone(), kinds);
        }
    }
    patch.insert("alert_emails".into(), emails.into());
    patch.insert(
        "alert_subscriptions".into(),
        serde_json::to_value(choices).unwrap_or_else(|_| Value::Object(Map::new())),
    );
    if errors.is_empty() { Ok(patch) } else { Err(errors) }
}

async fn save(State(state): State<AppState>, Posted { console, form }: Posted) -> Response {
    let current = &console.tenant.settings;
    let settings = patch(&form).map_err(PatchError::Invalid).and_then(|p| patched(current, p));
    let settings = match settings {
        Ok(settings) => settings,
        Err(PatchError::Invalid(errors)) => {
            return render(&console, &Shown::typed(&form, current), &errors, None);
        }
        Err(PatchError::Internal(e)) => return internal(e),
    };
    match tenants::update_settings(&state.store, console.tenant.id, &settings).await {
        Ok(()) => done("/dashboard/settings", "settings-saved"),
        Err(e) => store_failure("Settings", e),
    }
}
