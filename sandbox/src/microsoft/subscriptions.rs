//! Webhook subscriptions: creation after the validation handshake, renewal, deletion, and the
//! change notifications POSTed after every change to a subscribed mailbox's events.

use std::sync::LazyLock;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::{Base, Data, TENANT_ID, bad_request, begin, parse_body, timestamp};
use crate::{MICROSOFT_CLIENT_ID, Sandbox, graph_error};

/// Outlook resources' maximum subscription lifetime.
const MAX_LIFETIME_MINUTES: i64 = 10_080;

/// How long the notification URL has to answer the validation request.
const VALIDATION_TIMEOUT: Duration = Duration::from_secs(10);

/// The client that validates endpoints and delivers notifications.
static HTTP: LazyLock<reqwest::Client> = LazyLock::new(|| {
    reqwest::Client::builder()
        .timeout(VALIDATION_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
});

/// A subscription as the sandbox holds it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SubscriptionRecord {
    id: String,
    /// Owner's address (not in Graph's shape; the control API shows it).
    pub(super) email: String,
    resource: String,
    change_type: String,
    notification_url: String,
    client_state: Option<String>,
    expiration_date_time: DateTime<Utc>,
}

impl SubscriptionRecord {
    fn render(&self, base: &Base, creator_id: &str) -> Value {
        json!({
            "@odata.context": format!("{}/$metadata#subscriptions/$entity", base.0),
            "id": self.id,
            "resource": self.resource,
            "applicationId": MICROSOFT_CLIENT_ID,
            "changeType": self.change_type,
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "notificationQueryOptions": null,
            "lifecycleNotificationUrl": null,
            "expirationDateTime": timestamp(self.expiration_date_time),
            "creatorId": creator_id,
            "includeResourceData": null,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": null,
            "encryptionCertificateId": null,
            "notificationUrlAppId": null,
        })
    }
}

/// What happened to an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ChangeType {
    Created,
    Updated,
    Deleted,
}

impl ChangeType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
        }
    }
}

/// A notification to POST.
#[derive(Debug)]
pub(super) struct Delivery {
    url: String,
    body: Value,
}

impl Data {
    /// The notifications a change to one of `email`'s events causes.
    pub(super) fn notifications(
        &self,
        email: &str,
        event_id: &str,
        change: ChangeType,
    ) -> Vec<Delivery> {
        let Some(mailbox) = self.mailbox(email) else {
            return Vec::new();
        };
        let now = Utc::now();
        self.subscriptions
            .values()
            .filter(|s| s.email == mailbox.email && s.expiration_date_time > now)
            .filter(|s| s.change_type.split(',').any(|kind| kind.trim() == change.as_str()))
            .map(|s| Delivery {
                url: s.notification_url.clone(),
                body: json!({"value": [{
                    "subscriptionId": s.id,
                    "subscriptionExpirationDateTime": timestamp(s.expiration_date_time),
                    "changeType": change.as_str(),
                    "resource": format!("Users/{}/Events/{event_id}", mailbox.user_id),
                    "resourceData": {
                        "@odata.type": "#Microsoft.Graph.Event",
                        "@odata.id": format!("Users/{}/Events/{event_id}", mailbox.user_id),
                        "@odata.etag": "W/\"\"",
                        "id": event_id,
                    },
                    "clientState": s.client_state,
                    "tenantId": TENANT_ID,
                }]}),
            })
            .collect()
    }

    /// Every subscription (control read-back).
    pub(super) fn subscription_list(&self) -> Vec<SubscriptionRecord> {
        self.subscriptions.values().cloned().collect()
    }
}

/// POSTs notifications in the background (failures are the receiver's problem, as with Graph).
pub(super) fn deliver(deliveries: Vec<Delivery>) {
    for delivery in deliveries {
        tokio::spawn(async move {
            let sent = HTTP.post(&delivery.url).json(&delivery.body).send().await;
            if let Err(error) = sent {
                tracing::debug!(error = %error.without_url(), "sandbox notification not delivered");
            }
        });
    }
}

/// `POST /subscriptions`.
pub(super) async fn create(
    State(sandbox): State<Sandbox>,
    base: Base,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let prepared = {
        let (state, account) =
            match begin(&sandbox, &headers, "POST microsoft subscriptions.create") {
                Ok(found) => found,
                Err(response) => return response,
            };
        drop(state);
        parse_body(&body).and_then(|body| new_record(&body, &account.email))
    };
    let record = match prepared {
        Ok(record) => record,
        Err(response) => return response,
    };
    if !validates(&record.notification_url).await {
        return bad_request(
            "ValidationError",
            "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.",
        );
    }
    let mut state = sandbox.lock();
    let creator = state
        .microsoft
        .mailbox(&record.email)
        .map(|mailbox| mailbox.user_id.clone())
        .unwrap_or_default();
    let out = record.render(&base, &creator);
    state.microsoft.subscriptions.insert(record.id.clone(), record);
    (StatusCode::CREATED, axum::Json(out)).into_response()
}

/// A subscription from a create body, checked as Graph checks it (except that `http://`
/// notification URLs are accepted: the sandbox's receivers are local).
fn new_record(
    body: &serde_json::Map<String, Value>,
    email: &str,
) -> Result<SubscriptionRecord, Response> {
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
    let missing =
        |key: &str| bad_request("InvalidRequest", &format!("The property '{key}' is required."));
    let resource = text("resource").ok_or_else(|| missing("resource"))?;
    if !is_event_resource(&resource) {
        return Err(bad_request(
            "InvalidRequest",
            &format!("Resource '{resource}' is not supported by the sandbox (me/events only)."),
        ));
    }
    let change_type = text("changeType").ok_or_else(|| missing("changeType"))?;
    let notification_url = text("notificationUrl").ok_or_else(|| missing("notificationUrl"))?;
    if url::Url::parse(&notification_url).is_err() {
        return Err(bad_request("InvalidRequest", "The notificationUrl is not a valid URL."));
    }
    let expiration = expiration(body)?;
    Ok(SubscriptionRecord {
        id: uuid::Uuid::new_v4().to_string(),
        email: email.to_owned(),
        resource,
        change_type,
        notification_url,
        client_state: text("clientState"),
        expiration_date_time: expiration,
    })
}

fn is_event_resource(resource: &str) -> bool {
    let resource = resource.trim_start_matches('/').to_ascii_lowercase();
    resource == "me/events"
        || resource == "me/calendar/events"
        || (resource.starts_with("users/") && resource.ends_with("/events"))
}

/// `expirationDateTime`, at most 10,080 minutes ahead and in the future.
fn expiration(body: &serde_json::Map<String, Value>) -> Result<DateTime<Utc>, Response> {
    let at = body
        .get("expirationDateTime")
        .and_then(Value::as_str)
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .map(|at| at.with_timezone(&Utc))
        .ok_or_else(|| {
            bad_request("InvalidRequest", "The property 'expirationDateTime' is required.")
        })?;
    let now = Utc::now();
    if at <= now {
        return Err(bad_request(
            "InvalidRequest",
            "Subscription expiration must be in the future.",
        ));
    }
    if at > now + chrono::Duration::minutes(MAX_LIFETIME_MINUTES) {
        return Err(bad_request(
            "InvalidRequest",
            &format!(
                "Subscription expiration can only be {MAX_LIFETIME_MINUTES} minutes in the future."
            ),
        ));
    }
    Ok(at)
}

/// The handshake: POST `{url}?validationToken=…`; the endpoint must answer 200 `text/plain`
/// with the token as the body within 10 seconds.
async fn validates(notification_url: &str) -> bool {
    let token = format!(
        "Validation: Testing client application reachability for subscription Request-Id: {}",
        uuid::Uuid::new_v4()
    );
    let Ok(mut url) = url::Url::parse(notification_url) else {
        return false;
    };
    url.query_pairs_mut().append_pair("validationToken", &token);
    let Ok(response) = HTTP
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .send()
        .await
    else {
        return false;
    };
    let text_plain = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/plain"));
    let ok = response.status() == reqwest::StatusCode::OK;
    ok && text_plain && response.text().await.is_ok_and(|body| body == token)
}

/// 404 for a subscription that does not exist (or is someone else's).
fn subscription_not_found(id: &str) -> Response {
    graph_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        &format!("The object was not found. Subscription '{id}'."),
    )
}

/// `GET /subscriptions/{id}`.
pub(super) async fn get_one(
    State(sandbox): State<Sandbox>,
    Path(id): Path<String>,
    base: Base,
    headers: HeaderMap,
) -> Response {
    let (state, account) = match begin(&sandbox, &headers, "GET microsoft subscriptions.get") {
        Ok(found) => found,
        Err(response) => return response,
    };
    let data = &state.microsoft;
    match data.subscriptions.get(&id).filter(|s| s.email == account.email) {
        Some(record) => {
            let creator =
                data.mailbox(&account.email).map(|m| m.user_id.clone()).unwrap_or_default();
            axum::Json(record.render(&base, &creator)).into_response()
        }
        None => subscription_not_found(&id),
    }
}

/// `PATCH /subscriptions/{id}` (renewal).
pub(super) async fn update(
    State(sandbox): State<Sandbox>,
    Path(id): Path<String>,
    base: Base,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (mut state, account) =
        match begin(&sandbox, &headers, "PATCH microsoft subscriptions.update") {
            Ok(found) => found,
            Err(response) => return response,
        };
    let expiration = match parse_body(&body).and_then(|body| expiration(&body)) {
        Ok(at) => at,
        Err(response) => return response,
    };
    let data = &mut state.microsoft;
    let creator = data.mailbox(&account.email).map(|m| m.user_id.clone()).unwrap_or_default();
    match data.subscriptions.get_mut(&id).filter(|s| s.email == account.email) {
        Some(record) => {
            record.expiration_date_time = expiration;
            axum::Json(record.render(&base, &creator)).into_response()
        }
        None => subscription_not_found(&id),
    }
}

/// `DELETE /subscriptions/{id}`.
pub(super) async fn delete(
    State(sandbox): State<Sandbox>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (mut state, account) =
        match begin(&sandbox, &headers, "DELETE microsoft subscriptions.delete") {
            Ok(found) => found,
            Err(response) => return response,
        };
    let subscriptions = &mut state.microsoft.subscriptions;
    if subscriptions.get(&id).is_some_and(|s| s.email == account.email) {
        subscriptions.remove(&id);
        StatusCode::NO_CONTENT.into_response()
    } else {
        subscription_not_found(&id)
    }
}
