//! Outbound webhooks (Standard Webhooks v1): endpoints registered through the API, events
//! recorded with the changes that cause them, delivered signed to a real HTTP receiver that
//! refuses, times out and comes back, and verified with the specification's own Python package.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use kalends::api::ListOut;
use kalends::api::webhook_endpoints::{DeliveryOut, WebhookEndpointOut, WebhookEndpointWithSecret};
use kalends_core::Config;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::connect::{Browser, connect};
use crate::helpers::{
    Api, Db, TestApp, booking_body, eventually, execute_with_id, fields, needs_peers,
    on_both_databases,
};
use crate::peer::peer;
use crate::smtp_sink::SmtpSink;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) id: String,
    pub(crate) timestamp: String,
    pub(crate) signature: String,
    pub(crate) body: String,
}

impl Received {
    /// The delivery a receiver was sent: its Standard Webhooks headers and body.
    pub(crate) fn of(headers: &HeaderMap, body: &[u8]) -> Self {
        let header = |name: &str| {
            headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
        };
        Received {
            id: header("webhook-id"),
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }
}

/// How the receiver answers, by time since it started.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Script {
    /// Answer 503 until then.
    pub(crate) refuse_until: Duration,
    /// Then hang (past the attempt's time limit) until then; afterwards answer 204.
    pub(crate) hang_until: Duration,
    /// Answer 410 instead of 204.
    pub(crate) gone: bool,
}

/// Answers 204 at once.
pub(crate) const AT_ONCE: Script =
    Script { refuse_until: Duration::ZERO, hang_until: Duration::ZERO, gone: false };

/// A webhook receiver on port 0 in this process.
#[derive(Clone, Debug)]
pub(crate) struct Receiver {
    pub(crate) url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub(crate) async fn start(script: Script) -> Receiver {
        let received = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let log = received.clone();
        let handler = move |headers: HeaderMap, body: Bytes| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(Received::of(&headers, &body));
                let elapsed = started.elapsed();
                if elapsed < script.refuse_until {
                    return (StatusCode::SERVICE_UNAVAILABLE, "busy, come back").into_response();
                }
                if elapsed < script.hang_until {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                if script.gone {
                    return (StatusCode::GONE, "gone").into_response();
                }
                (StatusCode::NO_CONTENT, "").into_response()
            }
        };
        let app = axum::Router::new().route("/hook", axum::routing::post(handler));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, received }
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Every request, deduplicated on `webhook-id` as a receiver does.
    fn unique(&self) -> HashMap<String, Received> {
        self.received().into_iter().map(|r| (r.id.clone(), r)).collect()
    }
}

/// Kalends delivering webhooks at once and reading feeds served on this machine.
pub(crate) async fn with_webhooks_and_local_feeds(db: Db) -> TestApp {
    TestApp::start_public_with(db, |config| {
        fast_webhooks(config);
        config.import.allow_private_networks = true;
    })
    .await
}

/// Fast retries and a short attempt limit, private addresses allowed (the receiver is local).
pub(crate) fn fast_webhooks(config: &mut Config) {
    config.webhooks.allow_private_networks = true;
    config.webhooks.delivery_timeout_secs = 1;
    config.webhooks.retry_schedule_secs = vec![0, 1, 1, 1, 1, 1, 1, 1];
}

async fn app(db: Db) -> TestApp {
    TestApp::start_public_with(db, fast_webhooks).await
}

pub(crate) async fn create_endpoint(
    api: &Api<'_>,
    url: &str,
    types: &[&str],
) -> WebhookEndpointWithSecret {
    let body = json!({"url": url, "event_types": types, "description": "booking system"});
    api.send("POST", "/api/v1/webhook-endpoints", Some(body), 201).await.unwrap()
}

async fn deliveries(api: &Api<'_>, endpoint: &WebhookEndpointWithSecret) -> Vec<DeliveryOut> {
    let path = format!("/api/v1/webhook-endpoints/{}/deliveries?limit=500", endpoint.endpoint.id);
    let page: ListOut<DeliveryOut> = api.send("GET", &path, None, 200).await.unwrap();
    page.items
}

/// Checks that every event the receiver got is as `GET /api/v1/openapi.json` documents it: its
/// type in `x-webhooks`, its `data` holding every required field and nothing undocumented.
pub(crate) async fn assert_documented(app: &TestApp, receiver: &Receiver) {
    let doc: Value =
        app.http.get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    for r in receiver.unique().values() {
        let body: Value = serde_json::from_str(&r.body).unwrap();
        let mut keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["data", "timestamp", "type"]);
        let kind = body["type"].as_str().unwrap();
        let reference = doc["x-webhooks"][kind]["$ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{kind} undocumented"));
        let schema = &doc["components"]["schemas"][reference.rsplit('/').next().unwrap()];
        let documented = schema["properties"].as_object().unwrap();
        for (field, _) in body["data"].as_object().unwrap() {
            assert!(documented.contains_key(field), "{kind}: {field} is not documented");
        }
        for field in schema["required"].as_array().into_iter().flatten() {
            let field = field.as_str().unwrap();
            assert!(body["data"].get(field).is_some(), "{kind}: {field} is missing: {body}");
        }
    }
}

/// Checks a request's signature in Rust against `secret`.
pub(crate) fn signed_by(secret: &str, r: &Received) -> bool {
    let secret = SecretString::from(secret.to_owned());
    let ts = r.timestamp.parse().unwrap();
    kalends_core::webhooks::verify(&secret, &r.id, ts, &r.body, &r.signature).unwrap()
}

/// Whether Python `standardwebhooks` (the specification's own implementation, which
/// scripts/test installs) verifies every request with `secret`; the test fails when scripts/test
/// did not provide it.
pub(crate) fn python_verifies(secret: &str, requests: &[Received]) -> bool {
    let python = peer("KALENDS_TEST_PYTHON");
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
cases = json.load(sys.stdin)
for case in cases:
    try:
        Webhook(case["secret"]).verify(case["body"], case["headers"])
    except WebhookVerificationError as e:
        print("refused", case["headers"]["webhook-id"], e)
        sys.exit(1)
print("verified", len(cases))
"#;
    let cases: Vec<Value> = requests
        .iter()
        .map(|r| {
            json!({"secret": secret, "body": r.body, "headers": {
                "webhook-id": r.id, "webhook-timestamp": r.timestamp, "webhook-signature": r.signature}})
        })
        .collect();
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(json!(cases).to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    eprintln!("standardwebhooks: {said}");
    // A script that could not run (no package, a crash) is a failed test, not a refusal.
    let verified = said.starts_with("verified") && output.status.success();
    assert!(
        verified || said.starts_with("refused"),
        "standardwebhooks did not run: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    verified
}

async fn an_endpoint_is_registered_listed_changed_and_deleted_with_its_secret_shown_once(db: Db) {
    let app = app(db).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let created =
        create_endpoint(&api, "https://hooks.example.com/kalends", &["conflict.opened"]).await;
    assert!(created.secret.starts_with("whsec_"), "{}", created.secret);
    let id = created.endpoint.id;
    let path = format!("/api/v1/webhook-endpoints/{id}");
    let (_, shown): (u16, Value) = api.exchange("GET", &path, None).await.unwrap();
    assert!(shown.get("secret").is_none(), "the secret is shown once: {shown}");
    let list: ListOut<WebhookEndpointOut> =
        api.send("GET", "/api/v1/webhook-endpoints", None, 200).await.unwrap();
    assert_eq!(list.items.iter().map(|e| e.id).collect::<Vec<_>>(), vec![id]);
    let patch = json!({"event_types": ["conflict.opened", "feed_import.failed"], "enabled": false});
    let changed: WebhookEndpointOut = api.send("PATCH", &path, Some(patch), 200).await.unwrap();
    assert_eq!(changed.event_types, ["conflict.opened", "feed_import.failed"]);
    assert!(!changed.enabled);
    let bad = json!({"url": "ftp://x.example/", "event_types": ["booking.exploded"]});
    let problem =
        api.send::<Value>("POST", "/api/v1/webhook-endpoints", Some(bad), 201).await.unwrap_err();
    assert_eq!((problem.status, fields(&problem)), (422, vec!["url", "event_types"]));
    let (other, other_key) = app.tenant().await;
    let theirs = app.api(&other_key).exchange::<Value>("GET", &path, None).await.unwrap_err();
    assert_eq!(theirs.status, 404, "another tenant ({}) cannot see it", other.id);
    api.send::<()>("DELETE", &path, None, 204).await.unwrap();
    assert_eq!(api.exchange::<Value>("GET", &path, None).await.unwrap_err().status, 404);
    app.stop().await;
}

async fn an_endpoint_on_a_private_address_is_refused_unless_the_operator_allows_it(db: Db) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://169.254.169.254/",
        "http://[::1]/x",
        "http://10.0.0.8/x",
    ] {
        let body = json!({"url": url, "event_types": ["webhook.test"]});
        let problem = api.send::<Value>("POST", "/api/v1/webhook-endpoints", Some(body), 201).await;
        let problem = problem.unwrap_err();
        assert_eq!((problem.status, fields(&problem)), (422, vec!["url"]), "{url}");
    }
    app.stop().await;
    let app = self::app(db).await;
    let (_, key) = app.tenant().await;
    create_endpoint(&app.api(&key), "http://127.0.0.1:9/hook", &["webhook.test"]).await;
    app.stop().await;
}

async fn a_test_event_arrives_signed_as_the_specification_and_its_python_package_verify(db: Db) {
    let app = app(db).await;
    let receiver = Receiver::start(AT_ONCE).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let endpoint = create_endpoint(&api, &receiver.url, &["conflict.opened"]).await;
    let path = format!("/api/v1/webhook-endpoints/{}/test", endpoint.endpoint.id);
    let queued: DeliveryOut = api.send("POST", &path, None, 202).await.unwrap();
    app.settle().await;
    let got = receiver.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].id, queued.webhook_id);
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(body["type"], "webhook.test");
    assert_eq!(body["data"]["endpoint_id"], json!(endpoint.endpoint.id));
    assert!(body["timestamp"].is_string());
    assert!(signed_by(&endpoint.secret, &got[0]));
    assert_documented(&app, &receiver).await;
    assert!(python_verifies(&endpoint.secret, &got), "standardwebhooks verifies it");
    let mut forged = got[0].clone();
    forged.body = forged.body.replace("webhook.test", "conflict.opened");
    assert!(!signed_by(&endpoint.secret, &forged), "a changed body does not verify");
    assert!(!python_verifies(&endpoint.secret, &[forged]), "nor by standardwebhooks");
    // After a rotation both secrets sign, space-separated, until the old one expires.
    let rotate = format!("/api/v1/webhook-endpoints/{}/rotate-secret", endpoint.endpoint.id);
    let rotated: WebhookEndpointWithSecret = api.send("POST", &rotate, None, 200).await.unwrap();
    assert_ne!(rotated.secret, endpoint.secret);
    assert!(rotated.endpoint.previous_secret_valid_until.is_some());
    api.send::<DeliveryOut>("POST", &path, None, 202).await.unwrap();
    app.settle().await;
    let last = receiver.received().pop().unwrap();
    assert_eq!(last.signature.split(' ').count(), 2, "{}", last.signature);
    assert!(signed_by(&endpoint.secret, &last) && signed_by(&rotated.secret, &last));
    assert!(python_verifies(&endpoint.secret, std::slice::from_ref(&last)), "the old secret");
    assert!(python_verifies(&rotated.secret, std::slice::from_ref(&last)), "the new secret");
    let log = deliveries(&api, &endpoint).await;
    assert_eq!(log.len(), 2);
    for delivery in &log {
        assert_eq!(delivery.status, "succeeded");
        assert_eq!(delivery.attempts.len(), 1);
        assert_eq!(delivery.attempts[0].status_code, Some(204));
    }
    app.stop().await;
}

/// Two bookings of one room at the same time: a conflict opens; cancelling one resolves it.
async fn collide_and_settle(api: &Api<'_>, day: u32) {
    let room = json!({"name": format!("Room {day}"), "time_zone": "UTC"});
    let room: Value = api.send("POST", "/api/v1/resources", Some(room), 201).await.unwrap();
    let booking = |title: &str| {
        let mut body = booking_body(title, day);
        body["resource_id"] = room["id"].clone();
        body["status"] = json!("confirmed");
        body
    };
    let first: Value =
        api.send("POST", "/api/v1/bookings", Some(booking("Ann")), 201).await.unwrap();
    api.send::<Value>("POST", "/api/v1/bookings", Some(booking("Bob")), 201).await.unwrap();
    let cancel = format!("/api/v1/bookings/{}/cancel", first["id"].as_str().unwrap());
    api.send::<Value>("POST", &cancel, None, 200).await.unwrap();
}

async fn every_event_arrives_once_through_refusals_and_timeouts(db: Db) {
    let app = app(db).await;
    let script = Script {
        refuse_until: Duration::from_secs(2),
        hang_until: Duration::from_secs(4),
        gone: false,
    };
    let receiver = Receiver::start(script).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let types = ["conflict.opened", "conflict.resolved", "webhook.test"];
    let endpoint = create_endpoint(&api, &receiver.url, &types).await;
    let test = format!("/api/v1/webhook-endpoints/{}/test", endpoint.endpoint.id);
    for day in 1..=3 {
        collide_and_settle(&api, day * 5).await;
        api.send::<DeliveryOut>("POST", &test, None, 202).await.unwrap();
    }
    app.settle().await;
    let log = deliveries(&api, &endpoint).await;
    assert_eq!(log.len(), 9, "3 opened, 3 resolved, 3 tests: {log:#?}");
    assert!(log.iter().all(|d| d.status == "succeeded"), "{log:#?}");
    let attempts: Vec<_> = log.iter().flat_map(|d| &d.attempts).collect();
    assert!(attempts.iter().any(|a| a.status_code == Some(503)), "refused at first");
    assert!(
        attempts.iter().any(|a| a.status_code.is_none() && a.error.is_some()),
        "timed out meanwhile: {attempts:#?}"
    );
    let unique = receiver.unique();
    let ids: HashSet<_> = log.iter().map(|d| d.webhook_id.clone()).collect();
    assert_eq!(unique.keys().cloned().collect::<HashSet<_>>(), ids, "every event, none lost");
    assert!(receiver.received().len() > unique.len(), "retries reused their webhook-id");
    let mut types: Vec<String> = unique
        .values()
        .map(|r| {
            serde_json::from_str::<Value>(&r.body).unwrap()["type"].as_str().unwrap().to_owned()
        })
        .collect();
    types.sort();
    assert_eq!(types.iter().filter(|t| *t == "conflict.opened").count(), 3);
    assert_eq!(types.iter().filter(|t| *t == "conflict.resolved").count(), 3);
    let received: Vec<Received> = unique.into_values().collect();
    assert!(received.iter().all(|r| signed_by(&endpoint.secret, r)));
    assert_documented(&app, &receiver).await;
    app.stop().await;
}

async fn an_endpoint_answering_gone_is_disabled_and_a_retry_sends_again(db: Db) {
    let sink = SmtpSink::start().await;
    let app = TestApp::start_public_with(db, |config| {
        fast_webhooks(config);
        config.smtp_url = Some(SecretString::from(sink.url()));
    })
    .await;
    let receiver = Receiver::start(Script {
        refuse_until: Duration::ZERO,
        hang_until: Duration::ZERO,
        gone: true,
    })
    .await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let emails = json!({"alert_emails": ["ops@example.com"]});
    api.send::<Value>("PATCH", "/api/v1/settings", Some(emails), 200).await.unwrap();
    let endpoint = create_endpoint(&api, &receiver.url, &["webhook.test"]).await;
    let id = endpoint.endpoint.id;
    let test = format!("/api/v1/webhook-endpoints/{id}/test");
    let delivery: DeliveryOut = api.send("POST", &test, None, 202).await.unwrap();
    app.settle().await;
    let path = format!("/api/v1/webhook-endpoints/{id}");
    let shown: WebhookEndpointOut = api.send("GET", &path, None, 200).await.unwrap();
    assert!(!shown.enabled);
    assert!(shown.disabled_reason.as_deref().unwrap_or_default().contains("410"), "{shown:?}");
    let log = deliveries(&api, &endpoint).await;
    assert_eq!((log[0].status.as_str(), log[0].attempts.len()), ("failed", 1), "{log:#?}");
    assert_eq!(subjects(&sink), ["Kalends alert: Webhook endpoint disabled: booking system"]);
    let text = sink.messages()[0].text().replace("=\r\n", "");
    assert!(text.contains("410 Gone"), "{text}");
    assert!(text.contains(&app.url(&format!("/dashboard/webhooks/{id}"))), "{text}");
    // Disabled, it is sent nothing: a test or a retry says so rather than fail unseen.
    let retry = format!("/api/v1/webhook-endpoints/{id}/deliveries/{}/retry", delivery.id);
    for path in [&test, &retry] {
        let refused = api.send::<Value>("POST", path, None, 202).await.unwrap_err();
        assert_eq!((refused.status, fields(&refused)), (422, vec!["enabled"]), "{refused:?}");
    }
    assert_eq!(deliveries(&api, &endpoint).await.len(), 1, "nothing new was queued");
    // Enabled again by the tenant, the failed delivery is retried by hand.
    api.send::<WebhookEndpointOut>("PATCH", &path, Some(json!({"enabled": true})), 200)
        .await
        .unwrap();
    let again: DeliveryOut = api.send("POST", &retry, None, 202).await.unwrap();
    assert_eq!(again.status, "pending");
    app.settle().await;
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].id, received[1].id, "a retry is the same event");
    let log = deliveries(&api, &endpoint).await;
    assert_eq!(log[0].attempts.len(), 2);
    eventually(Duration::from_secs(5), || async {
        let shown: WebhookEndpointOut = api.send("GET", &path, None, 200).await.unwrap();
        (!shown.enabled).then_some(())
    })
    .await;
    app.settle().await;
    assert_eq!(subjects(&sink).len(), 2, "disabled again after it was enabled: told again");
    app.stop().await;
}

async fn an_endpoint_sent_nothing_for_longer_than_its_window_is_not_disabled_by_one_failure(
    db: Db,
) {
    // Retries a second apart, so failures closer than two seconds are one failing streak; an
    // endpoint failing six seconds on end is disabled.
    let app = TestApp::start_public_with(db, |config| {
        fast_webhooks(config);
        config.webhooks.retry_schedule_secs = vec![0, 1];
        config.webhooks.disable_after_failing_secs = 6;
    })
    .await;
    let down = Script { refuse_until: Duration::from_secs(3600), ..AT_ONCE };
    let receiver = Receiver::start(down).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let endpoint = create_endpoint(&api, &receiver.url, &["webhook.test"]).await;
    let id = endpoint.endpoint.id;
    let (path, test) =
        (format!("/api/v1/webhook-endpoints/{id}"), format!("/api/v1/webhook-endpoints/{id}/test"));
    api.send::<DeliveryOut>("POST", &test, None, 202).await.unwrap();
    app.settle().await;
    let first: WebhookEndpointOut = api.send("GET", &path, None, 200).await.unwrap();
    let first_since = first.failing_since.expect("failing after two refused attempts");
    // Nothing to send for longer than the disable window, then one more event that fails.
    tokio::time::sleep(Duration::from_secs(7)).await;
    api.send::<DeliveryOut>("POST", &test, None, 202).await.unwrap();
    app.settle().await;
    let quiet: WebhookEndpointOut = api.send("GET", &path, None, 200).await.unwrap();
    assert!(quiet.enabled, "a failure after a quiet spell does not disable: {quiet:?}");
    assert!(quiet.failing_since > Some(first_since), "a new failing streak: {quiet:?}");
    // Failing without a pause for longer than the window still disables it.
    eventually(Duration::from_secs(60), || async {
        let shown: WebhookEndpointOut = api.send("GET", &path, None, 200).await.unwrap();
        if !shown.enabled {
            return Some(());
        }
        // Refused with a 422 once an attempt in flight has disabled it: the next look sees it.
        let _ = api.send::<DeliveryOut>("POST", &test, None, 202).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        None
    })
    .await;
    let shown: WebhookEndpointOut = api.send("GET", &path, None, 200).await.unwrap();
    let reason = shown.disabled_reason.unwrap_or_default();
    assert!(reason.starts_with("every delivery failed since"), "{reason}");
    app.stop().await;
}

/// An endpoint failing for a while: a change of its note leaves its failing streak (and
/// whether it is enabled) as it was; a new address starts the streak afresh. A delivery an
/// attempt holds is not retried by hand over it (that attempt's outcome would overwrite the
/// retry's).
async fn an_endpoint_given_a_new_address_is_judged_afresh_and_a_retry_waits_for_the_attempt(
    db: Db,
) {
    // Two attempts a delivery: none is under way once both have failed.
    let postgres = matches!(db, Db::Postgres);
    let app = TestApp::start_public_with(db, |config| {
        fast_webhooks(config);
        config.webhooks.retry_schedule_secs = vec![0];
    })
    .await;
    let down = Receiver::start(Script { refuse_until: Duration::from_secs(3600), ..AT_ONCE }).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let endpoint = create_endpoint(&api, &down.url, &["webhook.test"]).await;
    let id = endpoint.endpoint.id;
    let (path, test) =
        (format!("/api/v1/webhook-endpoints/{id}"), format!("/api/v1/webhook-endpoints/{id}/test"));
    let delivery: DeliveryOut = api.send("POST", &test, None, 202).await.unwrap();
    eventually(Duration::from_secs(20), || async {
        (deliveries(&api, &endpoint).await[0].status == "failed").then_some(())
    })
    .await;
    let failing: WebhookEndpointOut = api.send("GET", &path, None, 200).await.unwrap();
    assert!(failing.failing_since.is_some(), "{failing:?}");
    let note = json!({"description": "the booking system, moving"});
    let noted: WebhookEndpointOut = api.send("PATCH", &path, Some(note), 200).await.unwrap();
    assert_eq!((noted.enabled, noted.failing_since), (true, failing.failing_since));

    // An attempt holds the delivery (the endpoint is slow to answer): no retry over it.
    let held = match postgres {
        true => {
            "UPDATE webhook_deliveries SET claimed_until = now() + interval '1 hour' WHERE id = $1"
        }
        false => {
            "UPDATE webhook_deliveries SET claimed_until = \
                  strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '+1 hour') WHERE id = $1"
        }
    };
    assert_eq!(execute_with_id(&app.store, held, delivery.id).await, 1);
    let retry = format!("{path}/deliveries/{}/retry", delivery.id);
    let refused = api.send::<Value>("POST", &retry, None, 202).await.unwrap_err();
    assert_eq!((refused.status, fields(&refused)), (422, vec!["delivery_id"]), "{refused:?}");

    let up = Receiver::start(AT_ONCE).await;
    let moved: WebhookEndpointOut =
        api.send("PATCH", &path, Some(json!({"url": up.url})), 200).await.unwrap();
    assert_eq!(
        moved.failing_since, None,
        "the new address is not judged by the old one's failures"
    );
    assert_eq!(moved.description.as_deref(), Some("the booking system, moving"));
    app.stop().await;
}

/// An attempt is under way (the endpoint is slow) when the tenant gives the endpoint a new
/// address: the attempt's failure at the old address is logged on its delivery but does not
/// make the endpoint, now somewhere else, failing.
async fn an_attempt_at_the_old_address_does_not_count_against_an_endpoint_given_a_new_one(db: Db) {
    let app = TestApp::start_public_with(db, |config| {
        fast_webhooks(config);
        // No second attempt within the test: only the one at the old address is judged.
        config.webhooks.retry_schedule_secs = vec![0, 3600];
    })
    .await;
    let slow = Receiver::start(Script { hang_until: Duration::from_secs(3600), ..AT_ONCE }).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let endpoint = create_endpoint(&api, &slow.url, &["webhook.test"]).await;
    let path = format!("/api/v1/webhook-endpoints/{}", endpoint.endpoint.id);
    api.send::<DeliveryOut>("POST", &format!("{path}/test"), None, 202).await.unwrap();
    eventually(Duration::from_secs(10), || async { (!slow.received().is_empty()).then_some(()) })
        .await;
    let up = Receiver::start(AT_ONCE).await;
    api.send::<WebhookEndpointOut>("PATCH", &path, Some(json!({"url": up.url})), 200)
        .await
        .unwrap();

    // The attempt at the old address runs out of time and is logged as failed.
    let tried = eventually(Duration::from_secs(10), || async {
        let delivery = deliveries(&api, &endpoint).await.remove(0);
        (!delivery.attempts.is_empty()).then_some(delivery)
    })
    .await;
    assert_eq!(tried.status, "pending", "its next attempt goes to the new address: {tried:?}");
    let shown: WebhookEndpointOut = api.send("GET", &path, None, 200).await.unwrap();
    assert_eq!(shown.failing_since, None, "{shown:?}");
    assert!(up.received().is_empty());
    app.stop().await;
}

/// The endpoint's sealed secret cannot be opened (an operator rotated the sealing key and
/// dropped the old one): Kalends cannot sign, sends nothing, and does not hold that against the
/// tenant's endpoint: no failed attempt, no failing streak, not disabled.
async fn a_webhook_kalends_cannot_sign_is_not_counted_against_the_endpoint(db: Db) {
    let app = app(db).await;
    let receiver = Receiver::start(AT_ONCE).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let endpoint = create_endpoint(&api, &receiver.url, &["webhook.test"]).await;
    let id = endpoint.endpoint.id;
    let unreadable =
        "UPDATE webhook_endpoints SET secret = 'sealed under a key now gone' WHERE id = $1";
    assert_eq!(execute_with_id(&app.store, unreadable, id).await, 1);
    let test = format!("/api/v1/webhook-endpoints/{id}/test");
    let delivery: DeliveryOut = api.send("POST", &test, None, 202).await.unwrap();
    // The job has claimed the delivery (and keeps the claim, having sent nothing); an attempt
    // is recorded within milliseconds of its claim.
    let claimed = "UPDATE webhook_deliveries SET attempts = attempts WHERE id = $1 AND claimed_until IS NOT NULL";
    eventually(Duration::from_secs(30), || async {
        (execute_with_id(&app.store, claimed, delivery.id).await == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let shown: WebhookEndpointOut =
        api.send("GET", &format!("/api/v1/webhook-endpoints/{id}"), None, 200).await.unwrap();
    assert_eq!((shown.enabled, shown.failing_since), (true, None), "{shown:?}");
    let log = deliveries(&api, &endpoint).await;
    assert_eq!((log[0].status.as_str(), log[0].attempts.len()), ("pending", 0), "{log:#?}");
    assert!(receiver.received().is_empty(), "nothing unsigned went out");
    app.stop().await;
}

/// A calendar feed whose answer the test sets.
async fn fake_feed() -> (String, Arc<Mutex<(u16, String)>>) {
    let reply = Arc::new(Mutex::new((500, String::new())));
    let shared = reply.clone();
    let app = axum::Router::new().route(
        "/feed.ics",
        axum::routing::get(move || {
            let shared = shared.clone();
            async move {
                let (status, body) = shared.lock().unwrap().clone();
                (StatusCode::from_u16(status).unwrap(), body)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/feed.ics", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, reply)
}

fn feed_with(events: &[(&str, &str, &str)]) -> String {
    let mut ics = String::from(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Airbnb Inc//Hosting Calendar 0.8.8//EN\r\n",
    );
    for (uid, start, end) in events {
        ics.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTART;VALUE=DATE:{start}\r\nDTEND;VALUE=DATE:{end}\r\nSUMMARY:Reserved\r\nEND:VEVENT\r\n"
        ));
    }
    ics.push_str("END:VCALENDAR\r\n");
    ics
}

/// The types and `data` of what the receiver got, deduplicated, in the order they were recorded.
pub(crate) fn events_of(receiver: &Receiver) -> Vec<(String, Value)> {
    let mut unique: Vec<Received> = receiver.unique().into_values().collect();
    unique.sort_by(|a, b| a.id.cmp(&b.id));
    unique
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_str(&r.body).unwrap();
            (body["type"].as_str().unwrap().to_owned(), body["data"].clone())
        })
        .collect()
}

async fn a_calendar_that_refuses_a_booking_for_good_is_told_once_while_another_is_retried(db: Db) {
    let app = TestApp::start_public_with(db, |config| {
        fast_webhooks(config);
        config.jobs.retry_base_ms = 100;
        config.jobs.retry_max_delay_ms = 200;
        config.jobs.retry_give_up_after_secs = 2;
    })
    .await;
    let receiver = Receiver::start(AT_ONCE).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    create_endpoint(&api, &receiver.url, &["booking.synced", "booking.sync_failed"]).await;
    let ann = connected_staff(&app, &api, "ann@example.com", "google").await;
    let bob = connected_staff(&app, &api, "bob@example.com", "google").await;
    // Bob's calendar is gone at Google: every write into it is refused for good (404).
    let gone =
        "UPDATE connections SET destination_calendar_id = 'gone-calendar' WHERE staff_id = $1";
    assert_eq!(execute_with_id(&app.store, gone, bob).await, 1);
    // Ann's calendar fails for the moment, until the job is given up (two seconds of retries).
    app.sandbox_faults(json!({"error_rate": 1.0, "path": "ann"})).await;
    let mut booking = booking_body("Massage", 7);
    booking["staff_ids"] = json!([ann, bob]);
    api.send::<Value>("POST", "/api/v1/bookings", Some(booking), 201).await.unwrap();
    app.settle().await;
    app.sandbox_faults(json!({})).await;

    let events = events_of(&receiver);
    let failed: Vec<&str> = events
        .iter()
        .map(|(kind, data)| {
            assert_eq!(kind, "booking.sync_failed", "{events:#?}");
            data["error"].as_str().unwrap()
        })
        .collect();
    assert_eq!(failed.len(), 2, "Bob's refusal once, Ann's given-up sync once: {events:#?}");
    assert!(failed[0].contains("Not Found"), "Bob's, first: {events:#?}");
    let attempts: u32 = failed[1]
        .strip_prefix("gave up after ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{events:#?}"));
    assert!(attempts >= 2, "Ann's calendar was tried again: {events:#?}");
    // Bob's calendar was asked once, not at each of those retries.
    let counts: Value = app.sandbox_json("/sandbox/_control/requests").await;
    assert_eq!(counts["POST google events.insert"], 1, "{counts}");
    app.stop().await;
}

async fn a_feed_that_fails_recovers_and_changes_tells_the_booking_system(db: Db) {
    let app = with_webhooks_and_local_feeds(db).await;
    let receiver = Receiver::start(AT_ONCE).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let types = [
        "feed_import.failed",
        "feed_import.recovered",
        "feed_item.created",
        "feed_item.updated",
        "feed_item.removed",
    ];
    create_endpoint(&api, &receiver.url, &types).await;
    let room: Value =
        api.send("POST", "/api/v1/resources", Some(json!({"name": "Loft"})), 201).await.unwrap();
    let (url, reply) = fake_feed().await;
    let body = json!({"resource_id": room["id"], "platform": "airbnb", "url": url});
    let import: Value = api.send("POST", "/api/v1/imports", Some(body), 201).await.unwrap();
    let run = format!("/api/v1/imports/{}/run", import["id"].as_str().unwrap());
    // A lasting failure: each run counts toward failing (a 5xx is tried again for a while first).
    *reply.lock().unwrap() = (404, String::new());
    for _ in 0..4 {
        api.exchange::<Value>("POST", &run, None).await.ok();
    }
    *reply.lock().unwrap() = (
        200,
        feed_with(&[("a@airbnb", "20310301", "20310305"), ("b@airbnb", "20310310", "20310312")]),
    );
    api.exchange::<Value>("POST", &run, None).await.unwrap();
    *reply.lock().unwrap() = (200, feed_with(&[("a@airbnb", "20310302", "20310305")]));
    api.exchange::<Value>("POST", &run, None).await.unwrap();
    app.settle().await;
    let events = events_of(&receiver);
    let names: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        names,
        [
            "feed_import.failed",
            "feed_import.recovered",
            "feed_item.created",
            "feed_item.created",
            "feed_item.updated",
            "feed_item.removed"
        ],
        "{events:#?}"
    );
    let (_, failed) = &events[0];
    assert_eq!(failed["import_id"], import["id"]);
    assert_eq!(failed["http_status"], 404);
    assert!(failed.get("url").is_none(), "the feed URL is a secret");
    let (_, updated) = &events[4];
    assert_eq!(
        (updated["uid"].as_str(), updated["start_date"].as_str()),
        (Some("a@airbnb"), Some("2031-03-02"))
    );
    assert_eq!(updated["resource_id"], room["id"]);
    assert_eq!(events[5].1["uid"], "b@airbnb");
    assert_documented(&app, &receiver).await;
    app.stop().await;
}

/// Connects `email` at `provider` for a new staff member of the tenant; returns its id.
pub(crate) async fn connected_staff(
    app: &TestApp,
    api: &Api<'_>,
    email: &str,
    provider: &str,
) -> uuid::Uuid {
    let staff = json!({"name": email, "email": email});
    let staff: Value = api.send("POST", "/api/v1/staff", Some(staff), 201).await.unwrap();
    let id: uuid::Uuid = staff["id"].as_str().unwrap().parse().unwrap();
    reconnect(app, api, id, email, provider).await;
    id
}

async fn reconnect(app: &TestApp, api: &Api<'_>, staff: uuid::Uuid, email: &str, provider: &str) {
    let browser = Browser::new();
    browser.get(&api.settings_link(staff).await.unwrap().url).await;
    let page = connect(app, &browser, provider, email, "allow").await;
    assert!(page.url.contains("notice=connected"), "{}", page.url);
}

async fn a_synced_booking_a_dead_grant_and_a_reconnect_are_told(db: Db) {
    let app = app(db).await;
    let receiver = Receiver::start(AT_ONCE).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let types = [
        "booking.synced",
        "booking.sync_failed",
        "connection.needs_reauth",
        "connection.reconnected",
    ];
    create_endpoint(&api, &receiver.url, &types).await;
    let bo = connected_staff(&app, &api, "bo@example.com", "microsoft").await;
    let mut booking = booking_body("Massage", 7);
    booking["staff_ids"] = json!([bo]);
    let first: Value =
        api.send("POST", "/api/v1/bookings", Some(booking.clone()), 201).await.unwrap();
    app.settle().await;
    // Bo takes Kalends's access away at Microsoft, and his token has expired.
    let http = app.sandbox();
    let revoke = json!({"provider": "microsoft", "email": "bo@example.com"});
    http.post(app.url("/sandbox/_control/revoke")).json(&revoke).send().await.unwrap();
    http.post(app.url("/sandbox/_control/expire-tokens")).json(&json!({})).send().await.unwrap();
    booking["title"] = json!("Second massage");
    let second: Value = api.send("POST", "/api/v1/bookings", Some(booking), 201).await.unwrap();
    app.settle().await;
    reconnect(&app, &api, bo, "bo@example.com", "microsoft").await;
    app.settle().await;
    let events = events_of(&receiver);
    let names: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        names,
        ["booking.synced", "connection.needs_reauth", "connection.reconnected", "booking.synced"],
        "{events:#?}"
    );
    let (_, synced) = &events[0];
    assert_eq!(
        (synced["booking_id"].clone(), synced["provider"].as_str()),
        (first["id"].clone(), Some("microsoft"))
    );
    assert!(synced["remote_id"].is_string() && synced["version"].is_number(), "{synced}");
    let (_, reauth) = &events[1];
    assert_eq!(reauth["staff_id"], json!(bo));
    assert!(reauth["error"].as_str().unwrap_or_default().contains("AADSTS50173"), "{reauth}");
    assert_eq!(events[3].1["booking_id"], second["id"], "the parked booking is replayed");
    assert_documented(&app, &receiver).await;
    app.stop().await;
}

/// The subjects of the messages the sink got.
pub(crate) fn subjects(sink: &SmtpSink) -> Vec<String> {
    // A long subject is folded over several header lines (RFC 5322): unfolded here.
    let subject = |text: String| {
        let mut lines = text.lines().skip_while(|l| !l.starts_with("Subject: "));
        let Some(first) = lines.next() else { return String::new() };
        let mut subject = first["Subject: ".len()..].to_owned();
        for folded in lines.take_while(|l| l.starts_with([' ', '\t'])) {
            subject.push_str(folded);
        }
        subject
    };
    sink.messages().into_iter().map(|m| subject(m.text())).collect()
}

async fn a_feed_failing_for_half_an_hour_alerts_once_and_its_recovery_once(db: Db) {
    let sink = SmtpSink::start().await;
    let app = TestApp::start_public_with(db, |config| {
        config.smtp_url = Some(SecretString::from(sink.url()));
        config.import.allow_private_networks = true;
        // Two seconds stand for the 30 minutes; the digest window is left out.
        config.alerts.import_failing_after_secs = 2;
        config.alerts.digest_window_secs = 0;
    })
    .await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let emails = json!({"alert_emails": ["ops@example.com", "owner@example.com"]});
    api.send::<Value>("PATCH", "/api/v1/settings", Some(emails), 200).await.unwrap();
    let bad = json!({"alert_emails": ["not an address"]});
    let problem = api.send::<Value>("PATCH", "/api/v1/settings", Some(bad), 200).await.unwrap_err();
    assert_eq!(fields(&problem), ["alert_emails"]);
    let room: Value =
        api.send("POST", "/api/v1/resources", Some(json!({"name": "Loft"})), 201).await.unwrap();
    let (url, reply) = fake_feed().await;
    let body =
        json!({"resource_id": room["id"], "platform": "vrbo", "url": url, "name": "Loft on VRBO"});
    let import: Value = api.send("POST", "/api/v1/imports", Some(body), 201).await.unwrap();
    let run = format!("/api/v1/imports/{}/run", import["id"].as_str().unwrap());
    // Failing, but not for long yet: nobody is told.
    api.exchange::<Value>("POST", &run, None).await.ok();
    api.exchange::<Value>("POST", &run, None).await.ok();
    app.settle().await;
    assert!(sink.messages().is_empty(), "{:?}", subjects(&sink));
    // Past the threshold every failed run would qualify: one alert all the same.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for _ in 0..3 {
        api.exchange::<Value>("POST", &run, None).await.ok();
        app.settle().await;
    }
    assert_eq!(subjects(&sink), ["Kalends alert: Feed import failing: Loft on VRBO"]);
    let alert = sink.messages().remove(0);
    assert_eq!(alert.to, ["ops@example.com", "owner@example.com"]);
    let text = alert.text().replace("=\r\n", "");
    let page = app.url(&format!("/dashboard/imports/{}", import["id"].as_str().unwrap()));
    for fact in ["Failing since: ", "Resource: Loft", &page] {
        assert!(text.contains(fact), "{fact} in {text}");
    }
    assert!(!text.contains(&url), "the feed URL is a secret");
    // It works again: one recovery e-mail; later runs say nothing.
    *reply.lock().unwrap() = (200, feed_with(&[("a@vrbo", "20310301", "20310305")]));
    for _ in 0..2 {
        api.exchange::<Value>("POST", &run, None).await.unwrap();
        app.settle().await;
    }
    assert_eq!(
        subjects(&sink),
        [
            "Kalends alert: Feed import failing: Loft on VRBO",
            "Kalends alert: Feed import recovered: Loft on VRBO"
        ]
    );
    app.stop().await;
}

async fn alerts_raised_within_the_digest_window_arrive_as_one_email(db: Db) {
    let sink = SmtpSink::start().await;
    let app = TestApp::start_public_with(db, |config| {
        config.smtp_url = Some(SecretString::from(sink.url()));
        config.import.allow_private_networks = true;
        config.alerts.import_failing_after_secs = 0;
        config.alerts.digest_window_secs = 1;
    })
    .await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let emails = json!({"alert_emails": ["ops@example.com"]});
    api.send::<Value>("PATCH", "/api/v1/settings", Some(emails), 200).await.unwrap();
    let room: Value =
        api.send("POST", "/api/v1/resources", Some(json!({"name": "Loft"})), 201).await.unwrap();
    let (url, _reply) = fake_feed().await;
    for name in ["Loft on VRBO", "Loft on Airbnb"] {
        let body =
            json!({"resource_id": room["id"], "platform": "other", "url": url, "name": name});
        let import: Value = api.send("POST", "/api/v1/imports", Some(body), 201).await.unwrap();
        let run = format!("/api/v1/imports/{}/run", import["id"].as_str().unwrap());
        api.exchange::<Value>("POST", &run, None).await.ok();
    }
    app.settle().await;
    assert_eq!(subjects(&sink), ["Kalends: 2 alerts"]);
    let text = sink.messages()[0].text();
    assert!(text.contains("Loft on VRBO") && text.contains("Loft on Airbnb"), "{text}");
    app.stop().await;
}

needs_peers!(
    "needs Python standardwebhooks: run scripts/test",
    on_both_databases;
    a_test_event_arrives_signed_as_the_specification_and_its_python_package_verify,
);
on_both_databases!(
    alerts_raised_within_the_digest_window_arrive_as_one_email,
    a_feed_failing_for_half_an_hour_alerts_once_and_its_recovery_once,
    a_synced_booking_a_dead_grant_and_a_reconnect_are_told,
    a_calendar_that_refuses_a_booking_for_good_is_told_once_while_another_is_retried,
    an_attempt_at_the_old_address_does_not_count_against_an_endpoint_given_a_new_one,
    a_feed_that_fails_recovers_and_changes_tells_the_booking_system,
    an_endpoint_is_registered_listed_changed_and_deleted_with_its_secret_shown_once,
    an_endpoint_on_a_private_address_is_refused_unless_the_operator_allows_it,
    every_event_arrives_once_through_refusals_and_timeouts,
    an_endpoint_answering_gone_is_disabled_and_a_retry_sends_again,
    an_endpoint_sent_nothing_for_longer_than_its_window_is_not_disabled_by_one_failure,
    an_endpoint_given_a_new_address_is_judged_afresh_and_a_retry_waits_for_the_attempt,
    a_webhook_kalends_cannot_sign_is_not_counted_against_the_endpoint,
);
