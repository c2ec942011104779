//! The console's webhooks page (`/dashboard/webhooks`) and the alert addresses of its settings
//! page, driven over HTTP as a browser without JavaScript drives them.

use kalends::api::ListOut;
use kalends::api::webhook_endpoints::{DeliveryOut, WebhookEndpointOut};
use serde_json::{Value, json};

use crate::console::{Page, signed_in};
use crate::helpers::{Db, TestApp, on_both_databases};
use crate::outbound_webhooks::{AT_ONCE, Receiver, fast_webhooks};

on_both_databases!(
    webhook_endpoints_are_added_tested_retried_rotated_and_deleted_from_the_console,
    alert_addresses_and_what_each_receives_are_chosen_on_the_settings_page,
);

/// The signing secret a page shows, if any.
fn secret_on(page: &Page) -> Option<String> {
    let at = page.body.find("whsec_")?;
    let rest = &page.body[at..];
    Some(rest[..rest.find('<').unwrap()].to_owned())
}

async fn webhook_endpoints_are_added_tested_retried_rotated_and_deleted_from_the_console(db: Db) {
    let app = TestApp::start_public_with(db, fast_webhooks).await;
    let receiver = Receiver::start(AT_ONCE).await;
    let (browser, key, csrf) = signed_in(&app).await;
    let api = app.api(&key);
    let empty = browser.get("/dashboard/webhooks").await;
    assert_eq!(empty.status, 200);
    assert!(empty.body.contains("No endpoints"), "{}", empty.body);
    assert!(
        browser.get("/dashboard").await.body.contains("href=\"/dashboard/webhooks\""),
        "in the nav"
    );

    // Errors in place, what was typed kept.
    let bad = browser
        .post(
            "/dashboard/webhooks",
            &[("csrf", &csrf), ("url", "ftp://example.com/in"), ("description", "Booking system")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("id=\"url-error\"") && bad.body.contains("id=\"event_types-error\""));
    assert!(
        bad.body.contains("value=\"Booking system\"") && bad.body.contains("ftp://example.com/in")
    );
    let no_token = browser.post("/dashboard/webhooks", &[("url", &receiver.url)]).await;
    assert_eq!(no_token.status, 403);

    let added = browser
        .post(
            "/dashboard/webhooks",
            &[
                ("csrf", &csrf),
                ("url", &receiver.url),
                ("event_types conflict.opened", "yes"),
                ("event_types booking.synced", "yes"),
                ("description", "Booking system"),
            ],
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    let secret = secret_on(&added).expect("the secret shown once");
    let listed: ListOut<WebhookEndpointOut> =
        api.send("GET", "/api/v1/webhook-endpoints", None, 200).await.unwrap();
    let endpoint = listed.items[0].clone();
    assert_eq!(endpoint.event_types, ["booking.synced", "conflict.opened"]);
    let again = browser.get("/dashboard/webhooks").await;
    assert!(again.body.contains("Booking system") && again.body.contains("Enabled"));
    assert_eq!(secret_on(&again), None, "the secret is not shown again");

    // A test event, and a retry of its delivery: the same webhook-id twice.
    let base = format!("/dashboard/webhooks/{}", endpoint.id);
    let tested = browser.post(&format!("{base}/test"), &[("csrf", &csrf)]).await;
    assert_eq!((tested.status, tested.location()), (303, format!("{base}?notice=tested").as_str()));
    app.settle().await;
    let log = browser.get(&base).await;
    assert!(log.body.contains("webhook.test") && log.body.contains("succeeded"), "{}", log.body);
    let deliveries: ListOut<DeliveryOut> = api
        .send("GET", &format!("/api/v1/webhook-endpoints/{}/deliveries", endpoint.id), None, 200)
        .await
        .unwrap();
    let retry = format!("{base}/deliveries/{}/retry", deliveries.items[0].id);
    assert_eq!(browser.post(&retry, &[("csrf", &csrf)]).await.status, 303);
    app.settle().await;
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].id, received[1].id, "a retry is the same event");

    // Disabled and enabled again, the secret rotated (shown once), then deleted.
    let path = format!("/api/v1/webhook-endpoints/{}", endpoint.id);
    assert_eq!(browser.post(&format!("{base}/disable"), &[("csrf", &csrf)]).await.status, 303);
    let shown: WebhookEndpointOut = api.send("GET", &path, None, 200).await.unwrap();
    assert!(!shown.enabled);
    assert!(browser.get("/dashboard/webhooks").await.body.contains("Disabled"));
    assert_eq!(browser.post(&format!("{base}/enable"), &[("csrf", &csrf)]).await.status, 303);
    let shown: WebhookEndpointOut = api.send("GET", &path, None, 200).await.unwrap();
    assert!(shown.enabled);
    let rotated = browser.post(&format!("{base}/rotate-secret"), &[("csrf", &csrf)]).await;
    assert_eq!(rotated.status, 200);
    let new_secret = secret_on(&rotated).expect("the new secret shown once");
    assert_ne!(new_secret, secret);
    let shown: WebhookEndpointOut = api.send("GET", &path, None, 200).await.unwrap();
    assert!(shown.previous_secret_valid_until.is_some(), "the old secret signs beside it");
    assert_eq!(browser.post(&format!("{base}/delete"), &[("csrf", &csrf)]).await.status, 303);
    api.send::<Value>("GET", &path, None, 200).await.unwrap_err();
    // Another tenant's endpoint is not found.
    let (_, other) = app.tenant().await;
    let body = json!({"url": receiver.url, "event_types": ["conflict.opened"]});
    let theirs: WebhookEndpointOut =
        app.api(&other).send("POST", "/api/v1/webhook-endpoints", Some(body), 201).await.unwrap();
    let delete = format!("/dashboard/webhooks/{}/delete", theirs.id);
    assert_eq!(browser.post(&delete, &[("csrf", &csrf)]).await.status, 404);
    assert_eq!(browser.get(&format!("/dashboard/webhooks/{}", theirs.id)).await.status, 404);
    app.stop().await;
}

async fn alert_addresses_and_what_each_receives_are_chosen_on_the_settings_page(db: Db) {
    let app = TestApp::start_public(db).await;
    let (browser, key, csrf) = signed_in(&app).await;
    let api = app.api(&key);
    let form = |emails: &str, extra: &[(&str, &str)]| {
        let fields: Vec<(String, String)> = [
            ("csrf", csrf.as_str()),
            ("name", "Guesthouse"),
            ("time_zone", "Africa/Johannesburg"),
            ("busy_label", "Reserved"),
            ("event_privacy", "details"),
            ("external_edit_policy", "restore"),
            ("reminder_offsets_minutes", "1440"),
            ("all_day_reminder_hour", "9"),
            ("reply_to", ""),
            ("alert_emails", emails),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        fields
    };
    let post = |fields: Vec<(String, String)>| {
        let browser = &browser;
        async move {
            let fields: Vec<(&str, &str)> =
                fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            browser.post("/dashboard/settings", &fields).await
        }
    };
    let bad = post(form("ops@example.com\nnot an address", &[])).await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("id=\"alert_emails-error\"") && bad.body.contains("not an address"));
    assert_eq!(api.settings().await.unwrap()["alert_emails"], json!([]), "nothing half-saved");

    let saved = post(form("ops@example.com\nowner@example.com", &[])).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let settings = api.settings().await.unwrap();
    assert_eq!(settings["alert_emails"], json!(["ops@example.com", "owner@example.com"]));
    assert_eq!(settings["alert_subscriptions"], json!({}), "a new address receives every alert");
    let page = browser.get("/dashboard/settings").await;
    let every = "name=\"alert owner@example.com conflict_opened\" value=\"yes\" checked";
    assert!(page.body.contains(every), "{}", page.body);

    // The owner keeps only double bookings; ops keeps everything.
    let mut choices = vec![
        ("alerts-shown ops@example.com", "yes"),
        ("alerts-shown owner@example.com", "yes"),
        ("alert owner@example.com conflict_opened", "yes"),
    ];
    let all: Vec<String> = kalends_core::domain::ALERT_KINDS
        .iter()
        .map(|k| format!("alert ops@example.com {k}"))
        .collect();
    choices.extend(all.iter().map(|name| (name.as_str(), "yes")));
    let saved = post(form("ops@example.com\nowner@example.com", &choices)).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let settings = api.settings().await.unwrap();
    assert_eq!(settings["alert_subscriptions"], json!({"owner@example.com": ["conflict_opened"]}));
    let page = browser.get("/dashboard/settings").await;
    assert!(page.body.contains(every));
    let off = "name=\"alert owner@example.com booking_sync_failed\" value=\"yes\">";
    assert!(page.body.contains(off), "{}", page.body);
    app.stop().await;
}
