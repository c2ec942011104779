//! `/api/v1/webhook-endpoints`: where Kalends sends the tenant's events (Standard Webhooks v1),
//! their signing secrets (shown once), the delivery log, retries and test events.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use kalends_core::webhooks::message_id;
use kalends_service::webhooks;
use kalends_store::{WebhookAttempt, WebhookDelivery, WebhookEndpoint};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::ListOut;
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, ApiQuery, AuthTenant, PageQuery, nullable, parse_id};
use crate::input::webhook_endpoints::{
    EndpointChanges, EndpointFields, endpoint_patch, endpoint_spec, rotated_until,
};
use crate::state::AppState;

/// An endpoint to create.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpointIn {
    /// Where events are POSTed: an `https://` (or `http://`) URL on a public address.
    pub url: String,
    /// The event types it receives (at least one; see `docs/API.md`).
    pub event_types: Vec<String>,
    /// A note for people.
    pub description: Option<String>,
    /// Whether events are sent to it (default true).
    pub enabled: Option<bool>,
}

/// Changes to an endpoint.
#[derive(Clone, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpointPatchIn {
    /// A new URL.
    pub url: Option<String>,
    /// New event types.
    pub event_types: Option<Vec<String>>,
    /// A new note (null clears it).
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// Enable (again, after Kalends disabled it) or disable.
    pub enabled: Option<bool>,
}

/// An endpoint (never with its secret).
#[derive(Clone, Deserialize, Serialize, ToSchema)]
pub struct WebhookEndpointOut {
    /// Server id.
    pub id: Uuid,
    /// Where events are POSTed.
    pub url: String,
    /// The event types it receives.
    pub event_types: Vec<String>,
    /// A note for people.
    pub description: Option<String>,
    /// Whether events are sent to it.
    pub enabled: bool,
    /// Why Kalends disabled it (a `410 Gone`, or every delivery failing for 5 days).
    pub disabled_reason: Option<String>,
    /// Since when its deliveries fail: the first failure with no success since and no quiet spell
    /// of twice the longest retry step between failures; null while they succeed.
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the secret replaced by the last rotation still signs beside the current one.
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A receiver's URL may carry its token in its path (Slack's, Zapier's): shown by its host.
impl std::fmt::Debug for WebhookEndpointOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpointOut")
            .field("id", &self.id)
            .field("url", &kalends_core::redact::url_host_only(&self.url))
            .field("event_types", &self.event_types)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl From<&WebhookEndpoint> for WebhookEndpointOut {
    fn from(e: &WebhookEndpoint) -> Self {
        let rotated = e.previous_secret_until.filter(|until| *until > Utc::now());
        WebhookEndpointOut {
            id: e.id,
            url: e.url.clone(),
            event_types: e.event_types.clone(),
            description: e.description.clone(),
            enabled: e.enabled,
            disabled_reason: e.disabled_reason.clone(),
            failing_since: e.failing_since,
            previous_secret_valid_until: rotated,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// An endpoint with its new signing secret: the only time the secret is shown.
#[derive(Clone, Deserialize, Serialize, ToSchema)]
pub struct WebhookEndpointWithSecret {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: WebhookEndpointOut,
    /// `whsec_` and base64: verify signatures with it (any Standard Webhooks library does).
    pub secret: String,
}

/// The endpoint by its id and host, without its secret: a receiver's URL may carry a token of
/// its own in its path.
impl std::fmt::Debug for WebhookEndpointWithSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpointWithSecret")
            .field("id", &self.endpoint.id)
            .field("url", &kalends_core::redact::url_host_only(&self.endpoint.url))
            .finish_non_exhaustive()
    }
}

impl WebhookEndpointWithSecret {
    fn new(endpoint: &WebhookEndpoint, secret: &SecretString) -> Self {
        Self { endpoint: endpoint.into(), secret: secret.expose_secret().to_owned() }
    }
}

/// One attempt of a delivery.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
pub struct AttemptOut {
    /// Its number, from 1.
    pub attempt: i32,
    /// When it started.
    pub attempted_at: DateTime<Utc>,
    /// The HTTP status answered (null: no answer).
    pub status_code: Option<i32>,
    /// How long it took, in milliseconds.
    pub duration_ms: i64,
    /// The start of the answer's body (up to 1 KiB).
    pub response_excerpt: Option<String>,
    /// Why it failed (a timeout, a refused address, a non-2xx status).
    pub error: Option<String>,
}

impl From<&WebhookAttempt> for AttemptOut {
    fn from(a: &WebhookAttempt) -> Self {
        AttemptOut {
            attempt: a.attempt,
            attempted_at: a.attempted_at,
            status_code: a.status_code,
            duration_ms: a.duration_ms,
            response_excerpt: a.response_excerpt.clone(),
            error: a.error.clone(),
        }
    }
}

/// One event sent (or being sent) to the endpoint.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
pub struct DeliveryOut {
    /// Server id (for `.../deliveries/{delivery_id}/retry`).
    pub id: Uuid,
    /// The endpoint.
    pub endpoint_id: Uuid,
    /// The event's `webhook-id` header: the same on every attempt.
    pub webhook_id: String,
    /// The event's type.
    pub event_type: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the event was recorded.
    pub created_at: DateTime<Utc>,
    /// Every attempt so far.
    pub attempts: Vec<AttemptOut>,
}

impl From<&WebhookDelivery> for DeliveryOut {
    fn from(d: &WebhookDelivery) -> Self {
        DeliveryOut {
            id: d.id,
            endpoint_id: d.endpoint_id,
            webhook_id: message_id(d.event_id),
            event_type: d.event_type.clone(),
            status: d.status.as_str().to_owned(),
            next_attempt_at: d.next_attempt_at,
            created_at: d.created_at,
            attempts: d.attempts.iter().map(AttemptOut::from).collect(),
        }
    }
}

/// The body of every delivery (Standard Webhooks): the type, when the event was recorded, and
/// the type's `data` (the schemas `*Data` below; `x-webhooks` in this document maps each type).
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
pub struct WebhookEvent {
    /// One of the event types.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the event was recorded (RFC 3339, milliseconds).
    pub timestamp: DateTime<Utc>,
    /// What happened: the schema of the type.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// `data` of `booking.synced` and `booking.sync_failed`.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
pub struct BookingSyncData {
    /// The booking.
    pub booking_id: Uuid,
    /// The booking's version the sync wrote (or tried to).
    pub version: i64,
    /// The connected calendar.
    pub connection_id: Uuid,
    /// `google`, `microsoft` or `caldav`.
    pub provider: String,
    /// The event's id in the calendar, once synced.
    pub remote_id: Option<String>,
    /// The provider's words, or why the sync was given up.
    pub error: Option<String>,
}

/// `data` of `booking.external_edit`.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
pub struct ExternalEditData {
    /// The booking.
    pub booking_id: Uuid,
    /// The calendar it was edited in.
    pub connection_id: Uuid,
    /// Whose calendar.
    pub staff_id: Uuid,
    /// `moved` or `deleted`.
    pub edit: String,
    /// Where it was moved: `{start, end}` or `{start_date, end_date}`.
    #[schema(value_type = Option<Object>)]
    pub moved_to: Option<serde_json::Value>,
    /// `restored` or `left` (the tenant's `external_edit_policy`).
    pub action: String,
}

/// `data` of `feed_import.failed` and `feed_import.recovered` (never the feed's URL).
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
pub struct ImportStatusData {
    /// The import.
    pub import_id: Uuid,
    /// The resource it blocks, if one.
    pub resource_id: Option<Uuid>,
    /// The staff member it blocks, if one.
    pub staff_id: Option<Uuid>,
    /// Where the feed comes from.
    pub platform: String,
    /// Its label.
    pub name: Option<String>,
    /// The run that changed the status.
    pub run_id: Uuid,
    /// When that run finished.
    pub finished_at: DateTime<Utc>,
    /// Failed runs in a row (0 once recovered).
    pub consecutive_failures: u32,
    /// The feed's HTTP status in that run.
    pub http_status: Option<u16>,
    /// Why it failed.
    pub error: Option<String>,
}

/// `data` of `feed_item.created`, `.updated` and `.removed`: an item an OTA feed brought, changed
/// or took away (`start_date`/`end_date` for whole days, `start`/`end` for timed items).
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
pub struct FeedItemData {
    /// The import.
    pub import_id: Uuid,
    /// The resource it blocks, if one.
    pub resource_id: Option<Uuid>,
    /// The staff member it blocks, if one.
    pub staff_id: Option<Uuid>,
    /// Where the feed comes from.
    pub platform: String,
    /// The import's label.
    pub name: Option<String>,
    /// The event's UID in the feed.
    pub uid: String,
    /// Its RECURRENCE-ID, for an occurrence of a series.
    pub recurrence_id: Option<String>,
    /// `reservation`, `block` or `event`.
    pub kind: String,
    /// Its SUMMARY.
    pub summary: Option<String>,
    /// What the platform's feed says of the reservation: `reservation_code`, `reservation_url`
    /// (https, on the platform's own site), `phone_last_digits` (at most four), `guests`, each
    /// only when the feed carries it.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// First day (whole days).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<chrono::NaiveDate>,
    /// The day after the last (whole days).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<chrono::NaiveDate>,
    /// Start (timed items).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    /// End (timed items).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
}

/// `data` of `conflict.opened` and `conflict.resolved`.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
pub struct ConflictEventData {
    /// The conflict.
    pub id: Uuid,
    /// `overlap` or `external_edit`.
    pub kind: String,
    /// The resource, if one.
    pub resource_id: Option<Uuid>,
    /// The staff member, if one.
    pub staff_id: Option<Uuid>,
    /// Where the items overlap.
    pub start: DateTime<Utc>,
    /// Likewise.
    pub end: DateTime<Utc>,
    /// `high`, `medium` or `low`.
    pub severity: String,
    /// The two items: `{kind, id, label}`.
    #[schema(value_type = Vec<Object>)]
    pub items: serde_json::Value,
    /// What to do about it.
    pub suggestion: String,
    /// `open` or `resolved`.
    pub status: String,
    /// When it was found.
    pub detected_at: DateTime<Utc>,
    /// When it ended.
    pub resolved_at: Option<DateTime<Utc>>,
    /// `auto` or `manual`.
    pub resolution: Option<String>,
}

/// `data` of `connection.needs_reauth` and `connection.reconnected`.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
pub struct ConnectionEventData {
    /// The connection.
    pub connection_id: Uuid,
    /// Whose calendar.
    pub staff_id: Uuid,
    /// `google`, `microsoft` or `caldav`.
    pub provider: String,
    /// Its status now.
    pub status: String,
    /// The provider's words.
    pub error: Option<String>,
}

/// `data` of `organisation.failing`: an organisation-wide connection needs its administrator.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
pub struct OrganisationEventData {
    /// The organisation connection.
    pub organisation_connection_id: Uuid,
    /// `google` or `microsoft`.
    pub provider: String,
    /// The Workspace's domain, or the Microsoft 365 tenant's id.
    pub domain: String,
    /// What failed: `Reading the directory`, or `The calendar of {address}`.
    pub what: String,
    /// What to change, in the administrator's words.
    pub error: String,
}

/// `data` of `organisation.recovered`: an organisation-wide connection whose administrator was
/// told it failed works again (its directory read, every member in scope covered, no covered
/// calendar refused).
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
pub struct OrganisationRecoveredData {
    /// The organisation connection.
    pub organisation_connection_id: Uuid,
    /// `google` or `microsoft`.
    pub provider: String,
    /// The Workspace's domain, or the Microsoft 365 tenant's id.
    pub domain: String,
    /// When the administrator was first told that something failed (`organisation.failing`).
    pub failing_since: DateTime<Utc>,
}

/// `data` of `webhook.test`.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
pub struct TestEventData {
    /// The endpoint tested.
    pub endpoint_id: Uuid,
    /// A sentence.
    pub message: String,
}

/// Which schema describes each event type's `data` (the document's `x-webhooks`).
pub const EVENT_SCHEMAS: [(&str, &str); 19] = [
    ("booking.synced", "BookingSyncData"),
    ("booking.sync_failed", "BookingSyncData"),
    ("booking.external_edit", "ExternalEditData"),
    ("feed_import.failed", "ImportStatusData"),
    ("feed_import.recovered", "ImportStatusData"),
    ("feed_import.held", "ImportStatusData"),
    ("feed_item.created", "FeedItemData"),
    ("feed_item.updated", "FeedItemData"),
    ("feed_item.removed", "FeedItemData"),
    ("feed_item.missing", "FeedItemData"),
    ("conflict.opened", "ConflictEventData"),
    ("conflict.resolved", "ConflictEventData"),
    ("connection.needs_reauth", "ConnectionEventData"),
    ("connection.reconnected", "ConnectionEventData"),
    ("organisation.failing", "OrganisationEventData"),
    ("organisation.recovered", "OrganisationRecoveredData"),
    ("checklist_item.created", "ChecklistItemOut"),
    ("checklist_item.overdue", "ChecklistItemOut"),
    ("webhook.test", "TestEventData"),
];

/// Adds the event schemas and `x-webhooks` (event type -> schema of its `data`) to the document.
#[derive(Debug)]
pub struct EventSchemas;

impl utoipa::Modify for EventSchemas {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::PartialSchema as _;
        let components = openapi.components.get_or_insert_with(Default::default);
        let schemas = [
            ("WebhookEvent", WebhookEvent::schema()),
            ("BookingSyncData", BookingSyncData::schema()),
            ("ExternalEditData", ExternalEditData::schema()),
            ("ImportStatusData", ImportStatusData::schema()),
            ("FeedItemData", FeedItemData::schema()),
            ("ConflictEventData", ConflictEventData::schema()),
            ("ConnectionEventData", ConnectionEventData::schema()),
            ("OrganisationEventData", OrganisationEventData::schema()),
            ("OrganisationRecoveredData", OrganisationRecoveredData::schema()),
            ("TestEventData", TestEventData::schema()),
            ("ChecklistItemOut", super::checklists::ChecklistItemOut::schema()),
        ];
        for (name, schema) in schemas {
            components.schemas.insert(name.to_owned(), schema);
        }
        let map: serde_json::Map<String, serde_json::Value> = EVENT_SCHEMAS
            .iter()
            .map(|(event, schema)| {
                let reference = format!("#/components/schemas/{schema}");
                ((*event).to_owned(), serde_json::json!({"$ref": reference}))
            })
            .collect();
        let extensions = openapi.extensions.get_or_insert_with(Default::default);
        extensions.merge(
            utoipa::openapi::extensions::ExtensionsBuilder::new()
                .add("x-webhooks", serde_json::Value::Object(map))
                .build(),
        );
    }
}

impl WebhookEndpointIn {
    /// The body's fields, for the checks the console's form shares (`input::webhook_endpoints`).
    fn fields(&self) -> EndpointFields<'_> {
        EndpointFields {
            url: &self.url,
            event_types: &self.event_types,
            description: self.description.as_deref(),
            enabled: self.enabled,
        }
    }
}

impl WebhookEndpointPatchIn {
    /// The body's changes, for the shared checks.
    fn changes(&self) -> EndpointChanges<'_> {
        EndpointChanges {
            url: self.url.as_deref(),
            event_types: self.event_types.as_deref(),
            description: self.description.as_ref().map(Option::as_deref),
            enabled: self.enabled,
        }
    }
}

/// Register an endpoint; the answer holds its signing secret, shown this once.
#[utoipa::path(post, path = "/api/v1/webhook-endpoints", tag = "webhooks",
    request_body = WebhookEndpointIn,
    responses((status = 201, body = WebhookEndpointWithSecret), (status = 422, body = Problem)))]
async fn create_endpoint(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    ApiJson(body): ApiJson<WebhookEndpointIn>,
) -> Result<Response, ApiError> {
    let spec = endpoint_spec(body.fields(), &state.config.webhooks).map_err(ApiError::invalid)?;
    let (endpoint, secret) = webhooks::create(&state.store, &state.sealer, tenant.id, spec).await?;
    let out = WebhookEndpointWithSecret::new(&endpoint, &secret);
    Ok((StatusCode::CREATED, axum::Json(out)).into_response())
}

/// List the endpoints (without secrets).
#[utoipa::path(get, path = "/api/v1/webhook-endpoints", tag = "webhooks", params(PageQuery),
    responses((status = 200, body = ListOut<WebhookEndpointOut>)))]
async fn list_endpoints(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<axum::Json<ListOut<WebhookEndpointOut>>, ApiError> {
    let paging = page.checked()?;
    let page = state.store.list_webhook_endpoints(tenant.id, paging.after, paging.limit).await?;
    Ok(axum::Json(ListOut::from_page(&page, WebhookEndpointOut::from)))
}

/// One endpoint.
#[utoipa::path(get, path = "/api/v1/webhook-endpoints/{id}", tag = "webhooks",
    responses((status = 200, body = WebhookEndpointOut), (status = 404, body = Problem)))]
async fn get_endpoint(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<axum::Json<WebhookEndpointOut>, ApiError> {
    let endpoint = state.store.webhook_endpoint(tenant.id, parse_id(&id)?).await?;
    Ok(axum::Json((&endpoint).into()))
}

/// Change an endpoint's URL, event types, note, or enable or disable it.
#[utoipa::path(patch, path = "/api/v1/webhook-endpoints/{id}", tag = "webhooks",
    request_body = WebhookEndpointPatchIn,
    responses((status = 200, body = WebhookEndpointOut), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
async fn patch_endpoint(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<WebhookEndpointPatchIn>,
) -> Result<axum::Json<WebhookEndpointOut>, ApiError> {
    let id = parse_id(&id)?;
    let patch =
        endpoint_patch(body.changes(), &state.config.webhooks).map_err(ApiError::invalid)?;
    let endpoint = webhooks::update(&state.store, tenant.id, id, &patch).await?;
    Ok(axum::Json((&endpoint).into()))
}

/// Delete an endpoint: nothing more is sent to it.
#[utoipa::path(delete, path = "/api/v1/webhook-endpoints/{id}", tag = "webhooks",
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_endpoint(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    webhooks::delete(&state.store, tenant.id, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Give the endpoint a new secret (shown this once); the old one keeps signing beside it for
/// 24 hours (two space-separated signatures), so the receiver can switch without a gap.
#[utoipa::path(post, path = "/api/v1/webhook-endpoints/{id}/rotate-secret", tag = "webhooks",
    responses((status = 200, body = WebhookEndpointWithSecret), (status = 404, body = Problem)))]
async fn rotate_secret(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<axum::Json<WebhookEndpointWithSecret>, ApiError> {
    let until = rotated_until(&state.config.webhooks);
    let (endpoint, secret) =
        webhooks::rotate_secret(&state.store, &state.sealer, tenant.id, parse_id(&id)?, until)
            .await?;
    Ok(axum::Json(WebhookEndpointWithSecret::new(&endpoint, &secret)))
}

/// Send a `webhook.test` event to the endpoint now.
#[utoipa::path(post, path = "/api/v1/webhook-endpoints/{id}/test", tag = "webhooks",
    responses((status = 202, body = DeliveryOut), (status = 404, body = Problem),
        (status = 422, body = Problem, description = "the endpoint is disabled")))]
async fn test_endpoint(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let delivery = webhooks::send_test(&state.store, tenant.id, parse_id(&id)?).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(DeliveryOut::from(&delivery))).into_response())
}

/// The endpoint's deliveries, oldest first, each with its attempts (status, duration, the
/// start of the answer).
#[utoipa::path(get, path = "/api/v1/webhook-endpoints/{id}/deliveries", tag = "webhooks",
    params(PageQuery),
    responses((status = 200, body = ListOut<DeliveryOut>), (status = 404, body = Problem)))]
async fn list_deliveries(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path(id): Path<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<axum::Json<ListOut<DeliveryOut>>, ApiError> {
    let (id, paging) = (parse_id(&id)?, page.checked()?);
    let page =
        state.store.list_webhook_deliveries(tenant.id, id, paging.after, paging.limit).await?;
    Ok(axum::Json(ListOut::from_page(&page, DeliveryOut::from)))
}

/// Attempt a delivery once more, now (after it failed, or to send it again).
#[utoipa::path(post,
    path = "/api/v1/webhook-endpoints/{id}/deliveries/{delivery_id}/retry", tag = "webhooks",
    responses((status = 202, body = DeliveryOut), (status = 404, body = Problem),
        (status = 422, body = Problem, description = "the endpoint is disabled")))]
async fn retry_delivery(
    State(state): State<AppState>,
    AuthTenant(tenant): AuthTenant,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (id, delivery_id) = (parse_id(&id)?, parse_id(&delivery_id)?);
    let delivery = webhooks::retry(&state.store, tenant.id, id, delivery_id).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(DeliveryOut::from(&delivery))).into_response())
}

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_endpoint, list_endpoints))
        .routes(routes!(get_endpoint, patch_endpoint, delete_endpoint))
        .routes(routes!(rotate_secret))
        .routes(routes!(test_endpoint))
        .routes(routes!(list_deliveries))
        .routes(routes!(retry_delivery))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_s_debug_shows_neither_its_signing_secret_nor_its_url_s_path() {
        let now = Utc::now();
        let endpoint = WebhookEndpointOut {
            id: Uuid::nil(),
            url: "https://hooks.example/services/T0123/path-token".into(),
            event_types: vec!["booking.synced".into()],
            description: None,
            enabled: true,
            disabled_reason: None,
            failing_since: None,
            previous_secret_valid_until: None,
            created_at: now,
            updated_at: now,
        };
        let alone = format!("{endpoint:?}");
        assert!(alone.contains("hooks.example") && !alone.contains("path-token"), "{alone}");
        let shown = format!(
            "{:?}",
            WebhookEndpointWithSecret { endpoint, secret: "whsec_MDEyM3NlY3JldA==".into() }
        );
        assert!(shown.contains("hooks.example") && !shown.contains("whsec_"), "{shown}");
        assert!(!shown.contains("path-token"), "{shown}");
    }
}
