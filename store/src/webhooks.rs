//! Outbound webhooks: the tenant's endpoints (secrets sealed), the events recorded in the
//! transaction of the change that caused them ([`record_webhook_events!`]), one delivery per
//! event and subscribed endpoint (each owing a `DeliverWebhook` job), and every attempt's log.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Page, Store, StoreError, corrupt, now, outbox, with_pool, with_read_pool};
use kalends_core::job::Job;
use kalends_core::webhooks::{WebhookEvent, recipients};

/// A tenant's webhook endpoint as stored (its secrets sealed).
#[derive(Clone)]
pub struct WebhookEndpoint {
    /// Server id.
    pub id: Uuid,
    /// Owner.
    pub tenant_id: Uuid,
    /// Where events are POSTed.
    pub url: String,
    /// The tenant's note.
    pub description: Option<String>,
    /// The event types it receives.
    pub event_types: Vec<String>,
    /// Whether events are recorded and sent for it.
    pub enabled: bool,
    /// Why Kalends disabled it (a `410 Gone`, failing for days).
    pub disabled_reason: Option<String>,
    /// The signing secret, sealed (context [`secret_context`]).
    pub secret: String,
    /// The secret before the last rotation, sealed, while it still signs.
    pub previous_secret: Option<String>,
    /// Until when the previous secret signs beside the current one.
    pub previous_secret_until: Option<DateTime<Utc>>,
    /// The first failed attempt of the current failing streak: since the last success, with no
    /// quiet spell between failures (see `last_failed_at`).
    pub failing_since: Option<DateTime<Utc>>,
    /// The last failed attempt. A failure long after it begins a new streak: an endpoint nobody
    /// sent anything to for days was not failing all that time.
    pub last_failed_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// The seal context of an endpoint's secret: a sealed secret copied to another row does not open.
pub fn secret_context(endpoint_id: Uuid) -> String {
    format!("webhook_endpoint/{endpoint_id}/secret")
}

/// An endpoint to create (the secret sealed by the caller, bound to `id`).
#[derive(Clone, Debug)]
pub struct NewWebhookEndpoint {
    /// Its id (the sealed secret is bound to it).
    pub id: Uuid,
    /// Where events go.
    pub url: String,
    /// The tenant's note.
    pub description: Option<String>,
    /// The event types it receives.
    pub event_types: Vec<String>,
    /// Whether it starts enabled.
    pub enabled: bool,
    /// The sealed secret.
    pub secret: String,
}

/// A change of an endpoint: `None` keeps the field.
#[derive(Clone, Debug, Default)]
pub struct WebhookEndpointPatch {
    /// A new URL.
    pub url: Option<String>,
    /// A new note (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// New event types.
    pub event_types: Option<Vec<String>>,
    /// Enable (which forgets why Kalends disabled it) or disable.
    pub enabled: Option<bool>,
}

#[derive(sqlx::FromRow)]
struct EndpointRow {
    id: Uuid,
    tenant_id: Uuid,
    url: String,
    description: Option<String>,
    event_types: String,
    enabled: bool,
    disabled_reason: Option<String>,
    secret: String,
    previous_secret: Option<String>,
    previous_secret_until: Option<DateTime<Utc>>,
    failing_since: Option<DateTime<Utc>>,
    last_failed_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const ENDPOINT_COLUMNS: &str = "id, tenant_id, url, description, event_types, enabled, \
     disabled_reason, secret, previous_secret, previous_secret_until, failing_since, last_failed_at, \
     created_at, updated_at";

impl TryFrom<EndpointRow> for WebhookEndpoint {
    type Error = StoreError;
    fn try_from(r: EndpointRow) -> Result<Self, StoreError> {
        let event_types = serde_json::from_str(&r.event_types)
            .map_err(|_| corrupt(format!("webhook endpoint {} has bad event types", r.id)))?;
        Ok(WebhookEndpoint {
            id: r.id,
            tenant_id: r.tenant_id,
            url: r.url,
            description: r.description,
            event_types,
            enabled: r.enabled,
            disabled_reason: r.disabled_reason,
            secret: r.secret,
            previous_secret: r.previous_secret,
            previous_secret_until: r.previous_secret_until,
            failing_since: r.failing_since,
            last_failed_at: r.last_failed_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// What became of a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// The endpoint answered 2xx.
    Succeeded,
    /// Every attempt failed, or the endpoint was disabled.
    Failed,
}

impl DeliveryStatus {
    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Succeeded, Self::Failed].into_iter().find(|s| s.as_str() == text)
    }
}

/// One event sent (or to send) to one endpoint, with its attempts.
#[derive(Clone, Debug)]
pub struct WebhookDelivery {
    /// Server id.
    pub id: Uuid,
    /// The endpoint.
    pub endpoint_id: Uuid,
    /// The event (its `webhook-id` is [`kalends_core::webhooks::message_id`] of it).
    pub event_id: Uuid,
    /// The event's type.
    pub event_type: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Recorded.
    pub created_at: DateTime<Utc>,
    /// Every attempt so far, first first.
    pub attempts: Vec<WebhookAttempt>,
}

/// One attempt to deliver.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct WebhookAttempt {
    /// Its number, from 1.
    pub attempt: i32,
    /// When it started.
    pub attempted_at: DateTime<Utc>,
    /// The HTTP status answered, if any.
    pub status_code: Option<i32>,
    /// How long it took.
    pub duration_ms: i64,
    /// The start of the answer's body.
    pub response_excerpt: Option<String>,
    /// What went wrong (a timeout, a refused address, a non-2xx status).
    pub error: Option<String>,
}

/// A delivery claimed for an attempt: what to send where.
#[derive(Clone, Debug)]
pub struct DeliveryWork {
    /// The delivery.
    pub delivery_id: Uuid,
    /// The number this attempt has (from 1).
    pub attempt: i32,
    /// The event (the `webhook-id`).
    pub event_id: Uuid,
    /// The body to send, exactly as recorded.
    pub body: String,
    /// The endpoint as it is now.
    pub endpoint: WebhookEndpoint,
}

/// What [`Store::claim_webhook_delivery`] found.
#[derive(Clone, Debug)]
pub enum Claim {
    /// Claimed: make the attempt.
    Claimed(Box<DeliveryWork>),
    /// Another attempt holds it until then (a duplicate job, or one whose worker died).
    Busy(DateTime<Utc>),
    /// Its next attempt is due then (the job started early, or a retry moved it).
    NotDue(DateTime<Utc>),
    /// Delivered, given up, or gone with its endpoint.
    Done,
}

/// What follows an attempt, decided by the delivery job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AfterAttempt {
    /// Delivered.
    Succeeded,
    /// Try again at this instant.
    RetryAt(DateTime<Utc>),
    /// No more attempts.
    Failed,
    /// No more attempts, and the endpoint is disabled for this reason.
    DisableEndpoint(String),
}

/// An attempt's outcome, recorded by [`Store::finish_webhook_attempt`].
#[derive(Clone, Debug)]
pub struct AttemptRecord {
    /// The attempt's log line.
    pub log: WebhookAttempt,
    /// What follows.
    pub next: AfterAttempt,
    /// Alerts to raise with it (the endpoint disabled), sent at once.
    pub alerts: Vec<kalends_core::alerts::AlertDraft>,
    /// The attempt would begin a new failing streak (the endpoint's last failure is from before
    /// a quiet spell): when it failed, `failing_since` starts again at it.
    pub new_streak: bool,
}

/// Records `$events` (a `&[WebhookEvent]`) of tenant `$tenant_id` at `$at`, in transaction `$tx`:
/// one event row and, for each enabled endpoint subscribed to its type, a delivery and its
/// `DeliverWebhook` job in the outbox. Evaluates to how many deliveries it recorded. An event
/// no endpoint wants is not stored at all.
macro_rules! record_webhook_events {
    ($tx:expr, $tenant_id:expr, $events:expr, $at:expr) => {{
        let events: &[kalends_core::webhooks::WebhookEvent] = $events;
        let (tenant_id, at): (uuid::Uuid, chrono::DateTime<chrono::Utc>) = ($tenant_id, $at);
        let mut recorded = 0usize;
        if !events.is_empty() {
            let endpoints: Vec<(uuid::Uuid, String)> = sqlx::query_as(
                "SELECT id, event_types FROM webhook_endpoints WHERE tenant_id = $1 AND enabled = $2",
            )
            .bind(tenant_id)
            .bind(true)
            .fetch_all(&mut *$tx)
            .await?;
            let plan = $crate::webhooks::fan_out(tenant_id, &endpoints, events, at)?;
            $crate::webhooks::write_fan_out!($tx, tenant_id, &plan, at);
            recorded = plan.deliveries.len();
        }
        recorded
    }};
}
pub(crate) use record_webhook_events;

/// Writes a [`FanOut`]'s events, deliveries and their jobs in `$tx`.
macro_rules! write_fan_out {
    ($tx:expr, $tenant_id:expr, $plan:expr, $at:expr) => {{
        let plan: &$crate::webhooks::FanOut = $plan;
        for (event_id, event_type, body) in &plan.events {
            sqlx::query(
                "INSERT INTO webhook_events (id, tenant_id, event_type, body, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(event_id)
            .bind($tenant_id)
            .bind(event_type)
            .bind(body)
            .bind($at)
            .execute(&mut *$tx)
            .await?;
        }
        for (delivery_id, endpoint_id, event_id, job) in &plan.deliveries {
            sqlx::query($crate::webhooks::INSERT_DELIVERY)
                .bind(delivery_id)
                .bind($tenant_id)
                .bind(endpoint_id)
                .bind(event_id)
                .bind($at)
                .execute(&mut *$tx)
                .await?;
            sqlx::query($crate::outbox::INSERT).bind(job).bind($at).execute(&mut *$tx).await?;
        }
    }};
}
pub(crate) use write_fan_out;

pub(crate) const INSERT_DELIVERY: &str = "INSERT INTO webhook_deliveries (id, tenant_id, \
     endpoint_id, event_id, status, attempts, next_attempt_at, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5, $5)";

/// The rows [`record_webhook_events!`] writes.
pub(crate) struct FanOut {
    /// (event id, type, body).
    pub events: Vec<(Uuid, &'static str, String)>,
    /// (delivery id, endpoint id, event id, the job as JSON).
    pub deliveries: Vec<(Uuid, Uuid, Uuid, String)>,
}

/// The rows that record `events` for the endpoints (id, JSON event types) that want them
/// (who wants what is core's rule, `recipients`).
pub(crate) fn fan_out(
    tenant_id: Uuid,
    endpoints: &[(Uuid, String)],
    events: &[WebhookEvent],
    at: DateTime<Utc>,
) -> Result<FanOut, StoreError> {
    let subscribed: Vec<(Uuid, Vec<String>)> = endpoints
        .iter()
        .map(|(id, types)| Ok((*id, serde_json::from_str(types).map_err(corrupt)?)))
        .collect::<Result<_, StoreError>>()?;
    let mut plan = FanOut { events: Vec::new(), deliveries: Vec::new() };
    for (event, wanting) in recipients(&subscribed, events) {
        let event_id = Uuid::now_v7();
        plan.events.push((event_id, event.event_type, event.body(at)));
        for endpoint_id in wanting {
            let delivery_id = Uuid::now_v7();
            let job = outbox::encode(&Job::DeliverWebhook { tenant_id, delivery_id })?;
            plan.deliveries.push((delivery_id, endpoint_id, event_id, job));
        }
    }
    Ok(plan)
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: Uuid,
    endpoint_id: Uuid,
    event_id: Uuid,
    event_type: String,
    status: String,
    next_attempt_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl TryFrom<DeliveryRow> for WebhookDelivery {
    type Error = StoreError;
    fn try_from(r: DeliveryRow) -> Result<Self, StoreError> {
        let status = DeliveryStatus::parse(&r.status)
            .ok_or_else(|| corrupt(format!("webhook delivery {} has a bad status", r.id)))?;
        Ok(WebhookDelivery {
            id: r.id,
            endpoint_id: r.endpoint_id,
            event_id: r.event_id,
            event_type: r.event_type,
            next_attempt_at: r.next_attempt_at.filter(|_| status == DeliveryStatus::Pending),
            status,
            created_at: r.created_at,
            attempts: Vec::new(),
        })
    }
}

const DELIVERY_SELECT: &str = "SELECT d.id, d.endpoint_id, d.event_id, e.event_type, d.status, \
     d.next_attempt_at, d.created_at FROM webhook_deliveries d JOIN webhook_events e \
     ON e.id = d.event_id";

/// Shows the receiver's URL by its host (its path may be a token) and neither secret.
impl std::fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("url", &kalends_core::redact::url_host_only(&self.url))
            .field("description", &self.description)
            .field("event_types", &self.event_types)
            .field("enabled", &self.enabled)
            .field("disabled_reason", &self.disabled_reason)
            .field("failing_since", &self.failing_since)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Stores a new endpoint.
    pub async fn create_webhook_endpoint(
        &self,
        tenant_id: Uuid,
        new: &NewWebhookEndpoint,
    ) -> Result<WebhookEndpoint, StoreError> {
        let types = serde_json::to_string(&new.event_types).map_err(corrupt)?;
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO webhook_endpoints (id, tenant_id, url, description, event_types, \
                 enabled, secret, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            )
            .bind(new.id)
            .bind(tenant_id)
            .bind(&new.url)
            .bind(&new.description)
            .bind(&types)
            .bind(new.enabled)
            .bind(&new.secret)
            .bind(now())
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        self.webhook_endpoint(tenant_id, new.id).await
    }

    /// One endpoint of the tenant.
    pub async fn webhook_endpoint(
        &self,
        tenant_id: Uuid,
        id: Uuid,
    ) -> Result<WebhookEndpoint, StoreError> {
        self.one_of::<EndpointRow, _>("webhook_endpoints", ENDPOINT_COLUMNS, tenant_id, id).await
    }

    /// A page of the tenant's endpoints.
    pub async fn list_webhook_endpoints(
        &self,
        tenant_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Page<WebhookEndpoint>, StoreError> {
        self.page_of::<EndpointRow, WebhookEndpoint>(
            "webhook_endpoints",
            ENDPOINT_COLUMNS,
            tenant_id,
            after,
            limit,
            |e| e.id,
        )
        .await
    }

    /// Changes an endpoint: only the fields `patch` names, in one statement (a delivery
    /// disabling the endpoint meanwhile is not undone by a change of its note). Enabling it
    /// forgets why Kalends disabled it; enabling it or giving it a new URL starts its failing
    /// streak afresh (a new address is not judged by the old one's failures).
    pub async fn update_webhook_endpoint(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        patch: &WebhookEndpointPatch,
    ) -> Result<WebhookEndpoint, StoreError> {
        let types = patch.event_types.as_ref().map(serde_json::to_string);
        let types = types.transpose().map_err(corrupt)?;
        let (note_given, note) = match &patch.description {
            Some(note) => (true, note.clone()),
            None => (false, None),
        };
        let changed = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE webhook_endpoints SET url = COALESCE($1, url), \
                 description = CASE WHEN $2 THEN $3 ELSE description END, \
                 event_types = COALESCE($4, event_types), enabled = COALESCE($5, enabled), \
                 disabled_reason = CASE WHEN $5 THEN NULL ELSE disabled_reason END, \
                 failing_since = CASE WHEN $5 OR $1 <> url THEN NULL ELSE failing_since END, \
                 updated_at = $6 WHERE tenant_id = $7 AND id = $8",
            )
            .bind(patch.url.as_deref())
            .bind(note_given)
            .bind(note)
            .bind(types)
            .bind(patch.enabled)
            .bind(now())
            .bind(tenant_id)
            .bind(id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        self.webhook_endpoint(tenant_id, id).await
    }

    /// Deletes an endpoint with its deliveries.
    pub async fn delete_webhook_endpoint(
        &self,
        tenant_id: Uuid,
        id: Uuid,
    ) -> Result<(), StoreError> {
        self.delete_of("webhook_endpoints", tenant_id, id).await
    }

    /// Replaces the secret (sealed) and keeps the current one signing until `until`.
    pub async fn rotate_webhook_secret(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        secret: &str,
        until: DateTime<Utc>,
    ) -> Result<WebhookEndpoint, StoreError> {
        let done = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = $1, \
                 secret = $2, updated_at = $3 WHERE tenant_id = $4 AND id = $5",
            )
            .bind(until)
            .bind(secret)
            .bind(now())
            .bind(tenant_id)
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        self.webhook_endpoint(tenant_id, id).await
    }

    /// The event types some enabled endpoint of the tenant receives: a change builds only the
    /// events someone wants (an import's first run can bring thousands of items).
    pub async fn wanted_event_types(
        &self,
        tenant_id: Uuid,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let rows: Vec<(String,)> = with_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT event_types FROM webhook_endpoints WHERE tenant_id = $1 AND enabled = $2",
            )
            .bind(tenant_id)
            .bind(true)
            .fetch_all(pool)
            .await
        })?;
        let mut wanted = std::collections::HashSet::new();
        for (types,) in rows {
            let types: Vec<String> = serde_json::from_str(&types).map_err(corrupt)?;
            wanted.extend(types);
        }
        Ok(wanted)
    }

    /// Records `event` for one endpoint only, whatever it subscribed to (`POST .../test`).
    pub async fn record_webhook_event_for(
        &self,
        tenant_id: Uuid,
        endpoint_id: Uuid,
        event: &WebhookEvent,
    ) -> Result<WebhookDelivery, StoreError> {
        self.webhook_endpoint(tenant_id, endpoint_id).await?;
        let at = now();
        let endpoints = [(endpoint_id, serde_json::json!([event.event_type]).to_string())];
        let plan = fan_out(tenant_id, &endpoints, std::slice::from_ref(event), at)?;
        let Some((delivery_id, ..)) = plan.deliveries.first() else {
            return Err(corrupt("a test event fanned out to nothing"));
        };
        with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            write_fan_out!(tx, tenant_id, &plan, at);
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }
        .await)?;
        self.outbox_signal.notify_one();
        self.webhook_delivery(tenant_id, endpoint_id, *delivery_id).await
    }

    /// One delivery of an endpoint, with its attempts.
    pub async fn webhook_delivery(
        &self,
        tenant_id: Uuid,
        endpoint_id: Uuid,
        id: Uuid,
    ) -> Result<WebhookDelivery, StoreError> {
        let sql = format!(
            "{DELIVERY_SELECT} WHERE d.tenant_id = $1 AND d.endpoint_id = $2 AND d.id = $3"
        );
        let row: DeliveryRow = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(endpoint_id)
                .bind(id)
                .fetch_one(pool)
                .await
        })?;
        let mut delivery = WebhookDelivery::try_from(row)?;
        delivery.attempts = self.webhook_attempts(&[id]).await?.remove(&id).unwrap_or_default();
        Ok(delivery)
    }

    /// A page of an endpoint's deliveries (oldest first), with their attempts.
    pub async fn list_webhook_deliveries(
        &self,
        tenant_id: Uuid,
        endpoint_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Page<WebhookDelivery>, StoreError> {
        self.webhook_endpoint(tenant_id, endpoint_id).await?;
        let sql = format!(
            "{DELIVERY_SELECT} WHERE d.tenant_id = $1 AND d.endpoint_id = $2 \
             AND ($3 IS NULL OR d.id > $3) ORDER BY d.id LIMIT $4"
        );
        let rows: Vec<DeliveryRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(endpoint_id)
                .bind(after)
                .bind(i64::from(limit) + 1)
                .fetch_all(pool)
                .await
        })?;
        let mut items =
            rows.into_iter().map(WebhookDelivery::try_from).collect::<Result<Vec<_>, _>>()?;
        let ids: Vec<Uuid> = items.iter().map(|d| d.id).collect();
        let mut attempts = self.webhook_attempts(&ids).await?;
        for item in &mut items {
            item.attempts = attempts.remove(&item.id).unwrap_or_default();
        }
        Ok(Page::from_rows(items, limit, |d| d.id))
    }

    /// The endpoint's latest `limit` deliveries, newest first, with their attempts (the
    /// console's delivery log).
    pub async fn latest_webhook_deliveries(
        &self,
        tenant_id: Uuid,
        endpoint_id: Uuid,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        self.webhook_endpoint(tenant_id, endpoint_id).await?;
        let sql = format!(
            "{DELIVERY_SELECT} WHERE d.tenant_id = $1 AND d.endpoint_id = $2 \
             ORDER BY d.id DESC LIMIT $3"
        );
        let rows: Vec<DeliveryRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(endpoint_id)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
        })?;
        let mut items =
            rows.into_iter().map(WebhookDelivery::try_from).collect::<Result<Vec<_>, _>>()?;
        let ids: Vec<Uuid> = items.iter().map(|d| d.id).collect();
        let mut attempts = self.webhook_attempts(&ids).await?;
        for item in &mut items {
            item.attempts = attempts.remove(&item.id).unwrap_or_default();
        }
        Ok(items)
    }

    /// The attempts of `deliveries`, by delivery, in attempt order.
    async fn webhook_attempts(
        &self,
        deliveries: &[Uuid],
    ) -> Result<std::collections::HashMap<Uuid, Vec<WebhookAttempt>>, StoreError> {
        let mut found = std::collections::HashMap::new();
        for id in deliveries {
            let rows: Vec<WebhookAttempt> = with_read_pool!(self, |pool| {
                sqlx::query_as(
                    "SELECT attempt, attempted_at, status_code, duration_ms, response_excerpt, error \
                     FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt",
                )
                .bind(id)
                .fetch_all(pool)
                .await
            })?;
            found.insert(*id, rows);
        }
        Ok(found)
    }

    /// Makes a delivery pending again and owes its job now (`POST .../retry`): one more attempt.
    /// Refused ([`StoreError::Invalid`]) while an attempt holds it.
    pub async fn retry_webhook_delivery(
        &self,
        tenant_id: Uuid,
        endpoint_id: Uuid,
        id: Uuid,
    ) -> Result<WebhookDelivery, StoreError> {
        let at = now();
        let job = outbox::encode(&Job::DeliverWebhook { tenant_id, delivery_id: id })?;
        let done = with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            // Not while an attempt holds it: that attempt's outcome would overwrite this one's.
            let done = sqlx::query(
                "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1, \
                 claimed_until = NULL, updated_at = $1 \
                 WHERE tenant_id = $2 AND endpoint_id = $3 AND id = $4 \
                 AND (claimed_until IS NULL OR claimed_until < $1)",
            )
            .bind(at)
            .bind(tenant_id)
            .bind(endpoint_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done > 0 {
                sqlx::query(outbox::INSERT).bind(&job).bind(at).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(done)
        }
        .await)?;
        if done == 0 {
            // Found (or `NotFound`), and so held by an attempt under way.
            self.webhook_delivery(tenant_id, endpoint_id, id).await?;
            let message = "an attempt of this delivery is under way: retry it once it is done";
            return Err(super::invalid("delivery_id", message));
        }
        self.outbox_signal.notify_one();
        self.webhook_delivery(tenant_id, endpoint_id, id).await
    }

    /// Claims a pending, due delivery for one attempt lasting at most `lease`.
    pub async fn claim_webhook_delivery(
        &self,
        id: Uuid,
        lease: std::time::Duration,
    ) -> Result<Claim, StoreError> {
        let at = now();
        let until = at + chrono::Duration::from_std(lease).map_err(corrupt)?;
        // The queue may start a job a moment before the instant it was scheduled for.
        let due_by = at + chrono::Duration::seconds(1);
        let claimed: Option<(i32, Uuid, Uuid, Uuid)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "UPDATE webhook_deliveries SET claimed_until = $1 WHERE id = $2 \
                 AND status = 'pending' AND (claimed_until IS NULL OR claimed_until < $3) \
                 AND (next_attempt_at IS NULL OR next_attempt_at <= $4) \
                 RETURNING attempts, event_id, endpoint_id, tenant_id",
            )
            .bind(until)
            .bind(id)
            .bind(at)
            .bind(due_by)
            .fetch_optional(pool)
            .await
        })?;
        let Some((attempts, event_id, endpoint_id, tenant_id)) = claimed else {
            return self.unclaimable(id, at).await;
        };
        let (body,): (String,) = with_pool!(self, |pool| {
            sqlx::query_as("SELECT body FROM webhook_events WHERE id = $1")
                .bind(event_id)
                .fetch_one(pool)
                .await
        })?;
        let endpoint = match self.webhook_endpoint(tenant_id, endpoint_id).await {
            Err(StoreError::NotFound) => return Ok(Claim::Done),
            other => other?,
        };
        let attempt = attempts + 1;
        let work = DeliveryWork { delivery_id: id, attempt, event_id, body, endpoint };
        Ok(Claim::Claimed(Box::new(work)))
    }

    /// Why a delivery could not be claimed.
    async fn unclaimable(&self, id: Uuid, at: DateTime<Utc>) -> Result<Claim, StoreError> {
        type Row = (String, Option<DateTime<Utc>>, Option<DateTime<Utc>>);
        let row: Option<Row> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT status, claimed_until, next_attempt_at FROM webhook_deliveries WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
        })?;
        Ok(match row {
            Some((status, Some(until), _)) if status == "pending" && until >= at => {
                Claim::Busy(until)
            }
            Some((status, _, due)) if status == "pending" => Claim::NotDue(due.unwrap_or(at)),
            _ => Claim::Done,
        })
    }

    /// Records an attempt and what follows it in one transaction: the delivery's status, the
    /// endpoint's failing streak (or its disabling), and the next attempt's job when there is one.
    pub async fn finish_webhook_attempt(
        &self,
        work: &DeliveryWork,
        record: &AttemptRecord,
    ) -> Result<(), StoreError> {
        let (at, log) = (now(), &record.log);
        let (status, next_at) = match &record.next {
            AfterAttempt::Succeeded => (DeliveryStatus::Succeeded, None),
            AfterAttempt::RetryAt(when) => (DeliveryStatus::Pending, Some(*when)),
            AfterAttempt::Failed | AfterAttempt::DisableEndpoint(_) => {
                (DeliveryStatus::Failed, None)
            }
        };
        let tenant_id = work.endpoint.tenant_id;
        let job =
            outbox::encode(&Job::DeliverWebhook { tenant_id, delivery_id: work.delivery_id })?;
        with_pool!(self, |pool| {
            async {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO webhook_attempts (id, delivery_id, attempt, attempted_at, status_code, \
                 duration_ms, response_excerpt, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(Uuid::now_v7())
            .bind(work.delivery_id)
            .bind(log.attempt)
            .bind(log.attempted_at)
            .bind(log.status_code)
            .bind(log.duration_ms)
            .bind(&log.response_excerpt)
            .bind(&log.error)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE webhook_deliveries SET status = $1, attempts = $2, next_attempt_at = $3, \
                 claimed_until = NULL, updated_at = $4 WHERE id = $5",
            )
            .bind(status.as_str())
            .bind(log.attempt)
            .bind(next_at)
            .bind(at)
            .bind(work.delivery_id)
            .execute(&mut *tx)
            .await?;
            let endpoint = sqlx::query(endpoint_after(&record.next))
                .bind(work.endpoint.id)
                .bind(&work.endpoint.url);
            let endpoint = match &record.next {
                AfterAttempt::Succeeded => endpoint,
                AfterAttempt::DisableEndpoint(reason) => endpoint.bind(false).bind(reason).bind(at),
                AfterAttempt::RetryAt(_) | AfterAttempt::Failed => {
                    endpoint.bind(log.attempted_at).bind(record.new_streak)
                }
            };
            // An endpoint given another address while the attempt went to the old one is not
            // judged by it (nor alerted about): the delivery's next attempt tries the new one.
            if endpoint.execute(&mut *tx).await?.rows_affected() > 0 {
                super::alerts::record_alerts!(tx, tenant_id, &record.alerts, at, at);
            }
            if let Some(when) = next_at {
                sqlx::query(outbox::INSERT_AT).bind(&job).bind(at).bind(when).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }
        .await
        })?;
        if next_at.is_some() {
            self.outbox_signal.notify_one();
        }
        Ok(())
    }

    /// Gives a delivery up without an attempt (its endpoint is disabled or gone).
    pub async fn abandon_webhook_delivery(&self, id: Uuid) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE webhook_deliveries SET status = 'failed', claimed_until = NULL, \
                 updated_at = $1 WHERE id = $2 AND status = 'pending'",
            )
            .bind(now())
            .bind(id)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }
}

/// What an attempt's outcome does to its endpoint, `$1` the endpoint while its address is still
/// `$2`, the one the attempt went to: a success ends its failing streak; disabling sets `enabled`
/// `$3`, `disabled_reason` `$4` and `updated_at` `$5`; a failure at `$3` starts a streak (or a
/// new one when `$4`) and is its latest. Attempts of several deliveries may finish in any order:
/// the streak keeps its earliest start and latest failure.
fn endpoint_after(next: &AfterAttempt) -> &'static str {
    match next {
        AfterAttempt::Succeeded => {
            "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND url = $2"
        }
        AfterAttempt::DisableEndpoint(_) => {
            "UPDATE webhook_endpoints SET enabled = $3, disabled_reason = $4, updated_at = $5 \
             WHERE id = $1 AND url = $2"
        }
        AfterAttempt::RetryAt(_) | AfterAttempt::Failed => {
            "UPDATE webhook_endpoints SET \
             failing_since = CASE WHEN $4 THEN $3 ELSE COALESCE(failing_since, $3) END, \
             last_failed_at = CASE WHEN last_failed_at IS NULL OR last_failed_at < $3 \
             THEN $3 ELSE last_failed_at END \
             WHERE id = $1 AND url = $2"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_endpoint_s_debug_shows_its_url_s_host_alone_and_no_sealed_secret() {
        let now = Utc::now();
        let endpoint = WebhookEndpoint {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            url: "https://hooks.example/services/T0123/path-token".into(),
            description: Some("the front desk's automations".into()),
            event_types: vec!["booking.synced".into()],
            enabled: true,
            disabled_reason: None,
            secret: "sealed-current".into(),
            previous_secret: Some("sealed-previous".into()),
            previous_secret_until: None,
            failing_since: None,
            last_failed_at: None,
            created_at: now,
            updated_at: now,
        };
        let shown = format!("{endpoint:?}");
        assert!(shown.contains("hooks.example") && shown.contains("front desk"), "{shown}");
        for hidden in ["path-token", "sealed-current", "sealed-previous"] {
            assert!(!shown.contains(hidden), "{hidden} in {shown}");
        }
    }
}
