//! Outbound webhooks across a worker process killed (SIGKILL) while a delivery is in flight, on
//! PostgreSQL and Redis with the real binary: every event arrives, signed, each `webhook-id`
//! once after deduplication, none lost.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use kalends::api::ListOut;
use kalends::api::webhook_endpoints::{DeliveryOut, WebhookEndpointWithSecret};
use serde_json::json;
use tokio::sync::Notify;

use crate::helpers::{self, eventually};
use crate::outbound_webhooks::{Received, signed_by};
use crate::process::{free_port, wait_ready};
use crate::split::Split;

/// A receiver that holds its first request open (the delivery in flight) until released, and
/// answers every other at once.
struct HoldingReceiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    /// The `webhook-id`s answered 2xx.
    answered: Arc<Mutex<Vec<String>>>,
    first: Arc<Notify>,
    holding: Arc<AtomicBool>,
}

impl HoldingReceiver {
    async fn start() -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let answered = Arc::new(Mutex::new(Vec::new()));
        let first = Arc::new(Notify::new());
        let holding = Arc::new(AtomicBool::new(true));
        let (log, done) = (received.clone(), answered.clone());
        let (told, hold) = (first.clone(), holding.clone());
        let handler = move |headers: HeaderMap, body: Bytes| {
            let (log, done) = (log.clone(), done.clone());
            let (told, hold) = (told.clone(), hold.clone());
            async move {
                let received = Received::of(&headers, &body);
                let id = received.id.clone();
                log.lock().unwrap().push(received);
                if hold.swap(false, Ordering::SeqCst) {
                    told.notify_one();
                    // Never answered: the worker making this attempt is killed meanwhile.
                    std::future::pending::<()>().await;
                }
                done.lock().unwrap().push(id);
                StatusCode::NO_CONTENT
            }
        };
        let app = axum::Router::new().route("/hook", axum::routing::post(handler));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        HoldingReceiver { url, received, answered, first, holding }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn answered(&self) -> Vec<String> {
        self.answered.lock().unwrap().clone()
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL and Redis: run scripts/test"]
async fn a_worker_killed_mid_delivery_loses_no_event_and_sends_each_webhook_id_once_after_dedup() {
    let split = Split::new(
        "hooks",
        &[
            ("KALENDS_JOBS__HEARTBEAT_SECS", "1"),
            ("KALENDS_JOBS__RETRY_BASE_MS", "200"),
            ("KALENDS_JOBS__RETRY_MAX_DELAY_MS", "2000"),
            ("KALENDS_WEBHOOKS__ALLOW_PRIVATE_NETWORKS", "true"),
            // The held attempt's claim runs out 2 + 30 s after it started.
            ("KALENDS_WEBHOOKS__DELIVERY_TIMEOUT_SECS", "2"),
        ],
    )
    .await;
    let key = split.tenant("Hooks").await;
    let ops_port = free_port();
    let api = split.start_api().await;
    let mut first_worker = split.spawn_worker(Some(ops_port));
    wait_ready(ops_port).await;

    let receiver = HoldingReceiver::start().await;
    let http = crate::helpers::client().build().unwrap();
    let url = |path: &str| split.url(path);
    let body = json!({"url": receiver.url, "event_types": ["webhook.test"]});
    let endpoint: WebhookEndpointWithSecret =
        helpers::answer(http.post(url("/api/v1/webhook-endpoints")).bearer_auth(&key).json(&body))
            .await;
    let id = endpoint.endpoint.id;
    let mut expected = BTreeSet::new();
    for _ in 0..5 {
        let delivery: DeliveryOut = helpers::answer(
            http.post(url(&format!("/api/v1/webhook-endpoints/{id}/test"))).bearer_auth(&key),
        )
        .await;
        expected.insert(delivery.webhook_id);
    }
    // A delivery is in flight: its worker dies without a word, and another takes over.
    tokio::time::timeout(Duration::from_secs(30), receiver.first.notified())
        .await
        .expect("a delivery reached the receiver");
    first_worker.start_kill().unwrap();
    let killed = first_worker.wait().await.unwrap();
    assert!(!killed.success(), "killed, not stopped");
    assert!(!receiver.holding.load(Ordering::SeqCst));
    let mut second_worker = split.spawn_worker(Some(free_port()));

    let held = receiver.received()[0].id.clone();
    let unique = eventually(Duration::from_secs(120), || async {
        let ids: BTreeSet<String> = receiver.answered().into_iter().collect();
        (ids == expected).then_some(ids)
    })
    .await;
    assert_eq!(unique, expected, "every event arrived, none lost");
    let received = receiver.received();
    assert!(
        received.iter().filter(|r| r.id == held).count() >= 2,
        "the attempt cut short was sent again with its webhook-id"
    );
    assert!(received.iter().all(|r| signed_by(&endpoint.secret, r)), "each signed");
    let bodies: HashSet<(&str, &str)> =
        received.iter().map(|r| (r.id.as_str(), r.body.as_str())).collect();
    assert_eq!(bodies.len(), expected.len(), "a webhook-id always carries the same body");
    // The log agrees: each delivered, none pending or failed.
    let log = eventually(Duration::from_secs(30), || async {
        let page: ListOut<DeliveryOut> = http
            .get(url(&format!("/api/v1/webhook-endpoints/{id}/deliveries")))
            .bearer_auth(&key)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        page.items.iter().all(|d| d.status == "succeeded").then_some(page.items)
    })
    .await;
    assert_eq!(log.len(), expected.len());
    second_worker.start_kill().unwrap();
    second_worker.wait().await.unwrap();
    let mut api = api;
    api.start_kill().unwrap();
    api.wait().await.unwrap();
}
