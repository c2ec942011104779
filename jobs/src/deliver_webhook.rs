//! One attempt to deliver an outbound webhook (Standard Webhooks v1) to one endpoint: POST the
//! recorded body signed with the endpoint's secret(s), record the attempt, and owe the next one
//! on the configured schedule (a `Retry-After` waits longer), or give up: the schedule is spent,
//! the endpoint answered `410 Gone`, or it has been failing for days (both disable it).
//!
//! Delivery is at least once: the attempt is recorded after the request, so a worker that dies
//! in between sends it again (same `webhook-id`, which receivers deduplicate on).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kalends_core::alerts::{AlertDraft, AlertRule};
use kalends_core::config::WebhooksConfig;
use kalends_core::seal::Sealer;
use kalends_core::webhooks::{message_id, signature};
use kalends_providers::outbound::{AddressPolicy, Outbound, Refused, refusal_in};
use kalends_providers::text::printable;
use kalends_service::webhooks::signing_secrets;
use kalends_store::Store;
use kalends_store::{
    AfterAttempt, AttemptRecord, Claim, DeliveryWork, WebhookAttempt, WebhookEndpoint,
};
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use uuid::Uuid;

use crate::JobError;

/// Bytes of an answer's body kept in the delivery log.
const EXCERPT_BYTES: usize = 1024;

/// Sends webhook deliveries through the outbound guard: private addresses are refused (unless
/// the operator allows them, all or by `webhooks.allowed_addresses`) on the address actually
/// connected to, no redirects, no proxy, the attempt's time limit.
#[derive(Clone, Debug)]
pub struct WebhookSender {
    outbound: Outbound,
    config: Arc<WebhooksConfig>,
}

/// The client could not be built (the TLS backend failed to start).
#[derive(Debug, thiserror::Error)]
#[error("could not build the webhook HTTP client")]
pub struct SenderError(#[source] reqwest::Error);

impl WebhookSender {
    /// A sender following `config` (`[webhooks]`).
    pub fn new(config: &WebhooksConfig) -> Result<Self, SenderError> {
        let addresses = AddressPolicy {
            allow_private_networks: config.allow_private_networks,
            allowed: config.allowed_addresses.clone(),
        };
        // A redirect is a failure (3xx counts as one): the guard's clients never follow one.
        let outbound = Outbound::new(addresses, |builder| {
            builder
                .timeout(Duration::from_secs(config.delivery_timeout_secs))
                .user_agent(concat!("Kalends-Webhooks/", env!("CARGO_PKG_VERSION")))
        })
        .map_err(SenderError)?;
        Ok(Self { outbound, config: Arc::new(config.clone()) })
    }
}

/// Makes the delivery's next attempt, if it is due and nobody else is making it.
#[tracing::instrument(skip_all, fields(%tenant_id, %delivery_id))]
pub async fn run(
    store: &Store,
    sealer: &Sealer,
    sender: &WebhookSender,
    tenant_id: Uuid,
    delivery_id: Uuid,
) -> Result<(), JobError> {
    let lease = Duration::from_secs(sender.config.delivery_timeout_secs + 30);
    let work = match store.claim_webhook_delivery(delivery_id, lease).await? {
        Claim::Claimed(work) => work,
        Claim::Busy(until) => {
            // Held by an attempt that may have died with its worker: look again once it expires.
            let wait = (until - Utc::now()).to_std().unwrap_or_default() + Duration::from_secs(1);
            return Err(JobError::transient_after(
                "another attempt holds the delivery",
                Some(wait),
            ));
        }
        Claim::NotDue(due) => {
            // Started early: come back when it is due (a duplicate then finds it done).
            let wait = (due - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(100);
            return Err(JobError::transient_after("the next attempt is not due yet", Some(wait)));
        }
        Claim::Done => return Ok(()),
    };
    if !work.endpoint.enabled {
        store.abandon_webhook_delivery(delivery_id).await?;
        return Ok(());
    }
    let attempted_at = Utc::now();
    let started = Instant::now();
    let answer = attempt(sealer, sender, &work, attempted_at).await;
    if let Err(NoAnswer::Signing(error)) = &answer {
        // Kalends' own failure (its key cannot open the endpoint's secret, a key rotation that
        // dropped the old key say): nothing was sent, and the endpoint is not judged for it.
        // Tried again once the claim has run out, until the operator mends the keys or the
        // jobs' limit (a day) fails the delivery (`gave_up`), which a retry by hand then sends.
        tracing::error!(endpoint = %work.endpoint.id, %error, "a webhook could not be signed");
        let message = format!("the webhook could not be signed: {error}");
        return Err(JobError::transient_after(message, Some(lease)));
    }
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let record = judge(&sender.config, &work, attempted_at, duration_ms, answer);
    if let AfterAttempt::DisableEndpoint(reason) = &record.next {
        tracing::warn!(endpoint = %work.endpoint.id, %reason, "webhook endpoint disabled");
    }
    if let Some(error) = &record.log.error {
        tracing::info!(endpoint = %work.endpoint.id, attempt = work.attempt, %error, "webhook attempt failed");
    }
    store.finish_webhook_attempt(&work, &record).await?;
    Ok(())
}

/// The alert telling the tenant its endpoint was disabled: once each time it is disabled (an
/// alert about it from before its last change does not count). `since`: the first failure of
/// the streak that ended in it (this attempt's, for a `410 Gone` after a quiet spell).
fn disabled_alert(work: &DeliveryWork, reason: &str, since: DateTime<Utc>) -> AlertDraft {
    let endpoint = &work.endpoint;
    AlertDraft {
        kind: "webhook_endpoint_disabled",
        object_id: endpoint.id,
        summary: format!(
            "Webhook endpoint disabled: {}",
            endpoint.description.as_deref().unwrap_or("no description")
        ),
        facts: vec![
            ("Why".to_owned(), reason.to_owned()),
            ("Failing since".to_owned(), since.format("%Y-%m-%d %H:%M UTC").to_string()),
            (
                "What it affects".to_owned(),
                "No events are sent to it until it is enabled again (on the console's Webhooks \
                 page, or PATCH enabled: true); its failed deliveries can be retried there."
                    .to_owned(),
            ),
        ],
        link: format!("/dashboard/webhooks/{}", endpoint.id),
        rule: AlertRule::Unless(endpoint.updated_at),
    }
}

/// What the endpoint answered.
#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<Duration>,
    excerpt: String,
}

/// What prevented an answer, as the delivery log says it (never the address a name resolved to).
#[derive(Debug, thiserror::Error)]
enum NoAnswer {
    /// The endpoint's URL cannot be requested.
    #[error("bad URL: {0}")]
    BadUrl(String),
    /// The URL names an address the outbound rules refuse.
    #[error(
        "the endpoint is not a public address, which webhooks may not reach (webhooks.allowed_addresses opens one)"
    )]
    NotPublic,
    /// The endpoint's secret could not be opened or used.
    #[error("{0}")]
    Signing(String),
    /// The request failed on its way (refused, reset, timed out): the error and its causes.
    #[error("{0}")]
    Transport(String),
}

/// Sends the request; an error is what prevented an answer (refused address, timeout, ...).
async fn attempt(
    sealer: &Sealer,
    sender: &WebhookSender,
    work: &DeliveryWork,
    at: DateTime<Utc>,
) -> Result<Answer, NoAnswer> {
    let url = Outbound::parse(&work.endpoint.url).map_err(|e| NoAnswer::BadUrl(e.to_string()))?;
    let client = sender.outbound.client_for(&url).map_err(refused)?;
    let signing = |e: &dyn std::fmt::Display| NoAnswer::Signing(e.to_string());
    let secrets = signing_secrets(sealer, &work.endpoint, at).map_err(|e| signing(&e))?;
    let (msg_id, timestamp) = (message_id(work.event_id), at.timestamp());
    let refs: Vec<_> = secrets.iter().collect();
    let signed = signature(&refs, &msg_id, timestamp, &work.body).map_err(|e| signing(&e))?;
    let response = client
        .post(url.clone())
        .header(CONTENT_TYPE, "application/json")
        .header("webhook-id", &msg_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signed)
        .body(work.body.clone())
        .send()
        .await
        .map_err(|e| {
            refusal_in(&e)
                .map_or_else(|| NoAnswer::Transport(error_chain(&e.without_url())), refused)
        })?;
    sender.outbound.check_peer(&url, &response).map_err(refused)?;
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers(), Utc::now());
    let excerpt = excerpt(response).await;
    Ok(Answer { status, retry_after, excerpt })
}

/// The guard's refusal as the attempt's error.
fn refused(refusal: Refused) -> NoAnswer {
    match refusal {
        Refused::InvalidUrl { reason } => NoAnswer::BadUrl(reason),
        Refused::Forbidden { .. } => NoAnswer::NotPublic,
    }
}

/// The error and its causes, joined (reqwest's own text alone says little).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.to_utc();
    (at - now).to_std().ok()
}

/// The first [`EXCERPT_BYTES`] of the answer's body (the rest is not read), as text a person can
/// read (a gzip bomb's zeros are not).
async fn excerpt(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    bytes.truncate(EXCERPT_BYTES);
    printable(&String::from_utf8_lossy(&bytes))
}

/// The attempt's log line, what follows it, and the alert when it disables the endpoint.
fn judge(
    config: &WebhooksConfig,
    work: &DeliveryWork,
    attempted_at: DateTime<Utc>,
    duration_ms: i64,
    answer: Result<Answer, NoAnswer>,
) -> AttemptRecord {
    let mut log = WebhookAttempt {
        attempt: work.attempt,
        attempted_at,
        status_code: None,
        duration_ms,
        response_excerpt: None,
        error: None,
    };
    let streak = Streak::of(config, &work.endpoint, attempted_at);
    let retry_after = match answer {
        Ok(answer) => {
            log.status_code = Some(i32::from(answer.status));
            log.response_excerpt = Some(answer.excerpt).filter(|e| !e.is_empty());
            if (200..300).contains(&answer.status) {
                return streak.record(work, log, AfterAttempt::Succeeded);
            }
            if answer.status == 410 {
                log.error = Some("the endpoint answered 410 Gone".into());
                let reason = "the endpoint answered 410 Gone".to_owned();
                return streak.record(work, log, AfterAttempt::DisableEndpoint(reason));
            }
            log.error = Some(format!("the endpoint answered {}", answer.status));
            answer.retry_after
        }
        Err(error) => {
            log.error = Some(error.to_string());
            None
        }
    };
    let next = after_failure(config, work, attempted_at, streak.since, retry_after);
    streak.record(work, log, next)
}

/// The failing streak a failed attempt belongs to.
struct Streak {
    /// Its first failure.
    since: DateTime<Utc>,
    /// This attempt begins it.
    new: bool,
}

impl Streak {
    /// The endpoint's current streak goes on while failures follow each other within twice the
    /// longest retry step: as long as any delivery is owed, an attempt fails at least that
    /// often. A longer gap means nothing was sent (no events, or Kalends itself was stopped), and
    /// an endpoint is not judged for days nobody tried it.
    fn of(
        config: &WebhooksConfig,
        endpoint: &WebhookEndpoint,
        attempted_at: DateTime<Utc>,
    ) -> Self {
        let longest = config.retry_schedule_secs.iter().copied().max().unwrap_or(0);
        let quiet =
            chrono::Duration::seconds(i64::try_from(longest.saturating_mul(2)).unwrap_or(i64::MAX));
        match (endpoint.failing_since, endpoint.last_failed_at) {
            (Some(since), Some(last)) if attempted_at - last <= quiet => {
                Streak { since, new: false }
            }
            _ => Streak { since: attempted_at, new: true },
        }
    }

    /// The record of an attempt in this streak: disabling the endpoint raises its alert,
    /// failing since the streak's first failure.
    fn record(self, work: &DeliveryWork, log: WebhookAttempt, next: AfterAttempt) -> AttemptRecord {
        let alerts = match &next {
            AfterAttempt::DisableEndpoint(reason) => vec![disabled_alert(work, reason, self.since)],
            _ => Vec::new(),
        };
        AttemptRecord { log, next, alerts, new_streak: self.new }
    }
}

/// After a failed attempt: the next one on the schedule (later if `Retry-After` asks), or the
/// end (the schedule is spent, or the endpoint has failed too long and is disabled).
fn after_failure(
    config: &WebhooksConfig,
    work: &DeliveryWork,
    attempted_at: DateTime<Utc>,
    failing_since: DateTime<Utc>,
    retry_after: Option<Duration>,
) -> AfterAttempt {
    let limit = chrono::Duration::seconds(
        i64::try_from(config.disable_after_failing_secs).unwrap_or(i64::MAX),
    );
    if attempted_at - failing_since >= limit {
        let since = failing_since.to_rfc3339();
        return AfterAttempt::DisableEndpoint(format!("every delivery failed since {since}"));
    }
    let Some(step) =
        usize::try_from(work.attempt).ok().and_then(|n| config.retry_schedule_secs.get(n))
    else {
        return AfterAttempt::Failed;
    };
    let longest = config.retry_schedule_secs.iter().copied().max().unwrap_or(0);
    let wait = Duration::from_secs(*step)
        .max(retry_after.unwrap_or_default().min(Duration::from_secs(longest)));
    let wait = chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::zero());
    AfterAttempt::RetryAt(Utc::now() + wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(attempt: i32, failing_since: Option<DateTime<Utc>>) -> DeliveryWork {
        let at = Utc::now();
        let last_failed_at = failing_since.map(|_| at - chrono::Duration::hours(1));
        DeliveryWork {
            delivery_id: Uuid::now_v7(),
            attempt,
            event_id: Uuid::now_v7(),
            body: "{}".into(),
            endpoint: WebhookEndpoint {
                id: Uuid::now_v7(),
                tenant_id: Uuid::now_v7(),
                url: "https://example.com/hook".into(),
                description: None,
                event_types: vec![],
                enabled: true,
                disabled_reason: None,
                secret: String::new(),
                previous_secret: None,
                previous_secret_until: None,
                failing_since,
                last_failed_at,
                created_at: at,
                updated_at: at,
            },
        }
    }

    fn answer(status: u16, retry_after: Option<u64>) -> Result<Answer, NoAnswer> {
        Ok(Answer {
            status,
            retry_after: retry_after.map(Duration::from_secs),
            excerpt: String::new(),
        })
    }

    fn waits(record: &AttemptRecord) -> i64 {
        match record.next {
            AfterAttempt::RetryAt(at) => (at - Utc::now()).num_seconds(),
            ref other => panic!("no retry: {other:?}"),
        }
    }

    #[test]
    fn failures_follow_the_schedule_then_give_up() {
        let config = WebhooksConfig::default();
        let now = Utc::now();
        let after = |n| judge(&config, &work(n, None), now, 1, answer(500, None));
        assert!((4..=5).contains(&waits(&after(1))));
        assert!((299..=300).contains(&waits(&after(2))));
        assert!((35_999..=36_000).contains(&waits(&after(7))));
        assert_eq!(after(8).next, AfterAttempt::Failed);
    }

    #[test]
    fn success_gone_and_redirects_are_told_apart() {
        let (config, now) = (WebhooksConfig::default(), Utc::now());
        assert_eq!(
            judge(&config, &work(1, None), now, 1, answer(204, None)).next,
            AfterAttempt::Succeeded
        );
        let gone = judge(&config, &work(1, None), now, 1, answer(410, None));
        assert!(matches!(gone.next, AfterAttempt::DisableEndpoint(_)));
        let moved = judge(&config, &work(1, None), now, 1, answer(301, None));
        assert!(matches!(moved.next, AfterAttempt::RetryAt(_)));
        assert_eq!(moved.log.error.as_deref(), Some("the endpoint answered 301"));
    }

    #[test]
    fn retry_after_waits_longer_than_the_schedule_but_not_forever() {
        let (config, now) = (WebhooksConfig::default(), Utc::now());
        let record = judge(&config, &work(1, None), now, 1, answer(429, Some(120)));
        assert!((119..=120).contains(&waits(&record)));
        let record = judge(&config, &work(1, None), now, 1, answer(503, Some(10_000_000)));
        assert!(waits(&record) <= 36_000);
    }

    #[test]
    fn an_endpoint_failing_for_five_days_is_disabled() {
        let (config, now) = (WebhooksConfig::default(), Utc::now());
        let since = now - chrono::Duration::days(5);
        let record = judge(
            &config,
            &work(3, Some(since)),
            now,
            1,
            Err(NoAnswer::Transport("timed out".into())),
        );
        assert!(matches!(record.next, AfterAttempt::DisableEndpoint(_)));
        let since = now - chrono::Duration::days(4);
        let record = judge(
            &config,
            &work(3, Some(since)),
            now,
            1,
            Err(NoAnswer::Transport("timed out".into())),
        );
        assert!(matches!(record.next, AfterAttempt::RetryAt(_)));
    }

    #[test]
    fn an_endpoint_quiet_for_days_after_a_failure_is_not_disabled_by_the_next_one() {
        let (config, now) = (WebhooksConfig::default(), Utc::now());
        let mut quiet = work(1, Some(now - chrono::Duration::days(6)));
        quiet.endpoint.last_failed_at = Some(now - chrono::Duration::days(5));
        let timed_out = || Err(NoAnswer::Transport("timed out".into()));
        let record = judge(&config, &quiet, now, 1, timed_out());
        assert!(matches!(record.next, AfterAttempt::RetryAt(_)), "{:?}", record.next);
        assert!(record.new_streak, "the failure after the quiet spell starts a new streak");
        let mut busy = work(1, Some(now - chrono::Duration::days(6)));
        busy.endpoint.last_failed_at = Some(now - chrono::Duration::hours(10));
        let record = judge(&config, &busy, now, 1, timed_out());
        assert!(matches!(record.next, AfterAttempt::DisableEndpoint(_)), "{:?}", record.next);
        assert!(!record.new_streak);
    }

    #[test]
    fn private_endpoints_are_refused_unless_allowed_all_or_by_address() {
        let client = |config: WebhooksConfig, url: &str| {
            let sender = WebhookSender::new(&config).unwrap();
            sender.outbound.client_for(&Outbound::parse(url).unwrap()).map(|_| ())
        };
        let strict = WebhooksConfig::default();
        assert!(client(strict.clone(), "http://127.0.0.1:9/x").is_err());
        assert!(client(strict.clone(), "http://0x7f.1:9/x").is_err());
        assert!(client(strict.clone(), "http://[fe80::1]/x").is_err());
        assert!(client(strict.clone(), "https://93.184.216.34/x").is_ok());
        let open = WebhooksConfig { allow_private_networks: true, ..strict.clone() };
        assert!(client(open, "http://127.0.0.1:9/x").is_ok());
        let one = WebhooksConfig { allowed_addresses: "10.1.0.0/16".parse().unwrap(), ..strict };
        assert!(client(one.clone(), "http://10.1.2.3:8080/x").is_ok());
        assert!(client(one, "http://10.2.0.1/x").is_err());
    }
}
