//! Alert e-mails to the tenant about a double booking, a calendar needing reconnecting,
//! bookings whose sync failed and an organisation-wide connection needing its administrator, each through the SMTP test server, to the addresses that chose
//! it.

use std::time::Duration;

use kalends_core::Config;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::{Api, Db, TestApp, booking_body, eventually, fields, on_both_databases};
use crate::outbound_webhooks::{
    AT_ONCE, Receiver, Script, connected_staff, create_endpoint, events_of, fast_webhooks, subjects,
};
use crate::smtp_sink::{Received, SmtpSink};

/// The message's text with quoted-printable soft line breaks joined.
fn plain(message: &Received) -> String {
    message.text().replace("=\r\n", "")
}

async fn app_telling(db: Db, sink: &SmtpSink, configure: impl FnOnce(&mut Config)) -> TestApp {
    let url = sink.url();
    TestApp::start_public_with(db, move |config| {
        config.smtp_url = Some(SecretString::from(url));
        configure(config);
    })
    .await
}

async fn set(api: &Api<'_>, settings: Value) {
    api.send::<Value>("PATCH", "/api/v1/settings", Some(settings), 200).await.unwrap();
}

/// ops@ is told everything, owner@ only of double bookings.
async fn ops_told_all_owner_double_bookings(api: &Api<'_>) {
    set(
        api,
        json!({
            "alert_emails": ["ops@example.com", "owner@example.com"],
            "alert_subscriptions": {"owner@example.com": ["conflict_opened"]},
        }),
    )
    .await;
}

/// Two stays at the Loft on 2030-01-14: a high-severity conflict.
async fn double_booking(api: &Api<'_>) {
    let room: Value =
        api.send("POST", "/api/v1/resources", Some(json!({"name": "Loft"})), 201).await.unwrap();
    for title in ["Stay of Ana", "Stay of Bo"] {
        let mut booking = booking_body(title, 14);
        booking["resource_id"] = room["id"].clone();
        api.send::<Value>("POST", "/api/v1/bookings", Some(booking), 201).await.unwrap();
    }
}

async fn a_double_booking_is_alerted_at_once_to_the_addresses_that_chose_it(db: Db) {
    let sink = SmtpSink::start().await;
    // A digest window of a minute: the double booking does not wait for it.
    let app = app_telling(db, &sink, |config| config.alerts.digest_window_secs = 60).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    set(
        &api,
        json!({
            "alert_emails": ["ops@example.com", "owner@example.com", "books@example.com"],
            "alert_subscriptions": {
                "owner@example.com": ["conflict_opened"],
                "books@example.com": ["booking_sync_failed"],
            },
        }),
    )
    .await;
    let shown: Value = api.send("GET", "/api/v1/settings", None, 200).await.unwrap();
    assert_eq!(shown["alert_subscriptions"]["owner@example.com"], json!(["conflict_opened"]));
    for bad in [
        json!({"alert_subscriptions": {"stranger@example.com": ["conflict_opened"]}}),
        json!({"alert_subscriptions": {"ops@example.com": ["everything"]}}),
    ] {
        let problem = api.send::<Value>("PATCH", "/api/v1/settings", Some(bad), 200).await;
        assert_eq!(fields(&problem.unwrap_err()), ["alert_subscriptions"]);
    }
    double_booking(&api).await;
    let sent = eventually(Duration::from_secs(20), || async {
        let messages = sink.messages();
        (!messages.is_empty()).then_some(messages)
    })
    .await;
    let subject = subjects(&sink).remove(0);
    assert!(subject.starts_with("Kalends alert: Double booking: Stay of "), "{subject}");
    assert!(subject.contains("Ana") && subject.contains("Bo") && subject.ends_with(" on Loft"));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, ["ops@example.com", "owner@example.com"], "not books@");
    let text = plain(&sent[0]);
    for fact in ["Resource: Loft", "Dates: 2030-01-14", "Detected at: ", "Severity: high"] {
        assert!(text.contains(fact), "{fact} in {text}");
    }
    assert!(text.contains(&app.url("/dashboard/conflicts")), "{text}");
    app.stop().await;
}

async fn a_calendar_needing_reconnecting_is_alerted_once_with_what_it_affects(db: Db) {
    let sink = SmtpSink::start().await;
    let app = app_telling(db, &sink, |config| config.alerts.digest_window_secs = 0).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    ops_told_all_owner_double_bookings(&api).await;
    let bo = connected_staff(&app, &api, "bo@example.com", "microsoft").await;
    let mut booking = booking_body("Massage", 7);
    booking["staff_ids"] = json!([bo]);
    api.send::<Value>("POST", "/api/v1/bookings", Some(booking), 201).await.unwrap();
    app.settle().await;
    assert!(sink.messages().is_empty(), "{:?}", subjects(&sink));
    // Bo takes Kalends's access away at Microsoft, and his token has expired.
    let http = app.sandbox();
    let revoke = json!({"provider": "microsoft", "email": "bo@example.com"});
    http.post(app.url("/sandbox/_control/revoke")).json(&revoke).send().await.unwrap();
    http.post(app.url("/sandbox/_control/expire-tokens")).json(&json!({})).send().await.unwrap();
    for (title, day) in [("Second massage", 8), ("Third massage", 9)] {
        let mut booking = booking_body(title, day);
        booking["staff_ids"] = json!([bo]);
        api.send::<Value>("POST", "/api/v1/bookings", Some(booking), 201).await.unwrap();
        app.settle().await;
    }
    // Bo is e-mailed a link to reconnect; the tenant is alerted once.
    let alerts: Vec<Received> = sink
        .messages()
        .into_iter()
        .filter(|m| !m.to.contains(&"bo@example.com".to_owned()))
        .collect();
    assert_eq!(alerts.len(), 1, "{:?}", subjects(&sink));
    let message = alerts[0].clone();
    assert!(
        plain(&message)
            .contains("Subject: Kalends alert: Calendar needs reconnecting: bo@example.com"),
        "{:?}",
        subjects(&sink)
    );
    assert_eq!(message.to, ["ops@example.com"], "owner@ chose only double bookings");
    let text = plain(&message);
    assert!(text.contains("Calendar: bo@example.com (microsoft)"), "{text}");
    assert!(text.contains("AADSTS50173") && text.contains("Since: "), "{text}");
    assert!(text.contains("upcoming booking(s)"), "{text}");
    assert!(text.contains(&app.url("/dashboard/staff")), "{text}");
    app.stop().await;
}

async fn bookings_whose_sync_failed_are_alerted_in_one_digest_once_per_failing_streak(db: Db) {
    let sink = SmtpSink::start().await;
    let app = app_telling(db, &sink, |config| {
        config.jobs.retry_base_ms = 100;
        config.jobs.retry_max_delay_ms = 200;
        config.jobs.retry_give_up_after_secs = 1;
        config.alerts.digest_window_secs = 3;
        // Only the streak keeps a second failure quiet here.
        config.alerts.quiet_period_secs = 0;
    })
    .await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    set(&api, json!({"alert_emails": ["ops@example.com"]})).await;
    let ann = connected_staff(&app, &api, "ann@example.com", "google").await;
    let faults = |rate: f64| {
        let put = app.sandbox().put(app.url("/sandbox/_control/faults"));
        let body = if rate > 0.0 { json!({"error_rate": rate}) } else { json!({}) };
        async move { put.json(&body).send().await.unwrap() }
    };
    faults(1.0).await;
    let room: Value =
        api.send("POST", "/api/v1/resources", Some(json!({"name": "Loft"})), 201).await.unwrap();
    let mut ids = Vec::new();
    for (title, day) in [("Massage", 8), ("Facial", 9)] {
        let mut booking = booking_body(title, day);
        booking["staff_ids"] = json!([ann]);
        booking["resource_id"] = room["id"].clone();
        let created: Value =
            api.send("POST", "/api/v1/bookings", Some(booking), 201).await.unwrap();
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    app.settle().await;
    assert_eq!(subjects(&sink), ["Kalends: 2 alerts"], "two bookings, one digest");
    let text = plain(&sink.messages()[0]);
    for fact in [
        "Booking not synced: Massage",
        "Booking not synced: Facial",
        "Resource: Loft",
        "Calendar: ann@example.com (google)",
        "Last synced: never",
        "Backend Error",
    ] {
        assert!(text.contains(fact), "{fact} in {text}");
    }
    assert!(text.contains(&app.url("/dashboard/sync")), "{text}");
    // Retried while the calendar still fails: the same streak, nobody is told again.
    let connection: Value = api.send("GET", "/api/v1/connections", None, 200).await.unwrap();
    let sync =
        format!("/api/v1/connections/{}/sync", connection["items"][0]["id"].as_str().unwrap());
    api.send::<Value>("POST", &sync, None, 202).await.unwrap();
    app.settle().await;
    assert_eq!(sink.messages().len(), 1, "{:?}", subjects(&sink));
    // It syncs again, then fails again: a new streak is told.
    faults(0.0).await;
    api.send::<Value>("POST", &sync, None, 202).await.unwrap();
    app.settle().await;
    let massage: Value =
        api.send("GET", &format!("/api/v1/bookings/{}", ids[0]), None, 200).await.unwrap();
    assert_eq!(massage["sync"][0]["state"], "synced", "{massage}");
    faults(1.0).await;
    let patch = json!({"title": "Long massage"});
    let path = format!("/api/v1/bookings/{}", ids[0]);
    api.send::<Value>("PATCH", &path, Some(patch), 200).await.unwrap();
    app.settle().await;
    assert_eq!(
        subjects(&sink),
        ["Kalends: 2 alerts", "Kalends alert: Booking not synced: Long massage"]
    );
    let text = plain(&sink.messages()[1]);
    assert!(!text.contains("Last synced: never"), "{text}");
    faults(0.0).await;
    app.stop().await;
}

async fn an_event_moved_by_hand_and_left_so_is_alerted_once_and_told_opened_then_resolved(db: Db) {
    let sink = SmtpSink::start().await;
    let app = app_telling(db, &sink, |config| {
        fast_webhooks(config);
        config.import.scheduler_interval_secs = 1;
    })
    .await;
    let receiver = Receiver::start(AT_ONCE).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    set(&api, json!({"alert_emails": ["ops@example.com"], "external_edit_policy": "accept"})).await;
    create_endpoint(&api, &receiver.url, &["conflict.opened", "conflict.resolved"]).await;
    let ann = connected_staff(&app, &api, "ann@example.com", "google").await;
    // Imports read the calendar 18 months ahead: a booking three weeks from now.
    let day = chrono::Utc::now().date_naive() + chrono::Duration::days(20);
    let at = |hour: u32| format!("{day}T{hour}:00:00Z");
    let booking = json!({"title": "Massage", "staff_ids": [ann], "time_zone": "UTC",
                         "start": at(10), "end": at(11)});
    let booking: Value = api.send("POST", "/api/v1/bookings", Some(booking), 201).await.unwrap();
    app.settle().await;
    let events =
        app.url("/sandbox/_control/google/calendars/ann@example.com/ann@example.com/events");
    let http = app.sandbox();
    let written: Vec<Value> = http.get(&events).send().await.unwrap().json().await.unwrap();
    assert_eq!(written.len(), 1, "{written:?}");
    // Let an import read the calendar as Kalends wrote it, then Ann drags the event two hours on.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let event = format!("{events}/{}", written[0]["id"].as_str().unwrap());
    let moved = json!({"start": {"dateTime": at(12)}, "end": {"dateTime": at(13)}});
    assert!(http.patch(&event).json(&moved).send().await.unwrap().status().is_success());

    let sent = eventually(Duration::from_secs(30), || async {
        let messages = sink.messages();
        (!messages.is_empty()).then_some(messages)
    })
    .await;
    assert_eq!(
        subjects(&sink),
        ["Kalends alert: Booking changed by hand: Massage in ann@example.com's calendar"]
    );
    assert_eq!(sent[0].to, ["ops@example.com"]);
    let text = plain(&sent[0]);
    for fact in [
        &format!("What happened: Massage: Moved to {day} 12:00"),
        "Staff member: ann@example.com",
        "Severity: high",
    ] {
        assert!(text.contains(fact), "{fact} in {text}");
    }
    assert!(text.contains(&app.url("/dashboard/conflicts")), "{text}");
    // Later imports see the same edit: nobody is told again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    app.settle().await;
    assert_eq!(sink.messages().len(), 1, "{:?}", subjects(&sink));

    // The business moves the booking: it is written again, and the conflict settles itself.
    let path = format!("/api/v1/bookings/{}", booking["id"].as_str().unwrap());
    let patch = json!({"start": at(15), "end": at(16)});
    api.send::<Value>("PATCH", &path, Some(patch), 200).await.unwrap();
    app.settle().await;
    let told = eventually(Duration::from_secs(20), || async {
        let told = events_of(&receiver);
        (told.len() >= 2).then_some(told)
    })
    .await;
    let types: Vec<&str> = told.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["conflict.opened", "conflict.resolved"], "{told:#?}");
    for (_, conflict) in &told {
        assert_eq!(conflict["kind"], "external_edit");
        assert_eq!(conflict["staff_id"], json!(ann));
        assert_eq!(conflict["items"][0]["id"], booking["id"]);
    }
    assert_eq!(told[1].1["resolution"], "auto");
    assert_eq!(sink.messages().len(), 1, "a settled conflict is not an alert");
    app.stop().await;
}

async fn an_address_whose_email_went_out_is_not_sent_it_again_when_another_is_retried(db: Db) {
    let sink = SmtpSink::start().await;
    let app = app_telling(db, &sink, |config| {
        fast_webhooks(config);
        config.jobs.retry_base_ms = 200;
        config.jobs.retry_max_delay_ms = 1_000;
    })
    .await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    // ops@ is told everything, owner@ only of double bookings: two different e-mails.
    ops_told_all_owner_double_bookings(&api).await;
    // Both mail servers defer for now.
    let later = "451 4.3.0 Try again later";
    sink.refuse_recipient("ops@example.com", later);
    sink.refuse_recipient("owner@example.com", later);
    // An endpoint answering 410 Gone is disabled: an alert for ops@ alone.
    let gone = Receiver::start(Script { gone: true, ..AT_ONCE }).await;
    let endpoint = create_endpoint(&api, &gone.url, &["webhook.test"]).await;
    let path = format!("/api/v1/webhook-endpoints/{}", endpoint.endpoint.id);
    api.send::<Value>("POST", &format!("{path}/test"), None, 202).await.unwrap();
    eventually(Duration::from_secs(10), || async {
        let shown: Value = api.send("GET", &path, None, 200).await.unwrap();
        (shown["enabled"] == false).then_some(())
    })
    .await;
    // A double booking, for both.
    double_booking(&api).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(sink.messages().is_empty());
    // ops@'s server takes mail again: its e-mail (both alerts) goes out, owner@'s (the double
    // booking) is still deferred.
    sink.accept_recipient("ops@example.com");
    sink.wait_for(1, Duration::from_secs(20)).await;
    // The job is retried for owner@ a few times meanwhile.
    tokio::time::sleep(Duration::from_secs(3)).await;
    sink.accept_recipient("owner@example.com");
    sink.wait_for(2, Duration::from_secs(20)).await;
    app.settle().await;
    let to: Vec<Vec<String>> = sink.messages().into_iter().map(|m| m.to).collect();
    assert_eq!(to, [["ops@example.com"], ["owner@example.com"]], "ops@ once");
    let subjects = subjects(&sink);
    assert_eq!(subjects[0], "Kalends: 2 alerts");
    assert!(subjects[1].starts_with("Kalends alert: Double booking: Stay of "), "{subjects:?}");
    app.stop().await;
}

/// ops@ and owner@ chose the same alerts, so they share one e-mail; owner@'s mailbox was closed
/// (550). The double booking still reaches ops@, in an e-mail of its own.
async fn an_address_the_mail_server_refuses_does_not_keep_the_alert_from_the_others(db: Db) {
    let sink = SmtpSink::start().await;
    let app = app_telling(db, &sink, |_| {}).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    set(&api, json!({"alert_emails": ["ops@example.com", "owner@example.com"]})).await;
    let closed = "550 5.1.1 <owner@example.com>: Recipient address rejected: mailbox closed";
    sink.refuse_recipient("owner@example.com", closed);
    double_booking(&api).await;
    let sent = sink.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(sent[0].to, ["ops@example.com"]);
    assert!(
        subjects(&sink)[0].starts_with("Kalends alert: Double booking: "),
        "{:?}",
        subjects(&sink)
    );
    app.settle().await;
    assert_eq!(sink.messages().len(), 1, "once");
    app.stop().await;
}

/// The whole Microsoft 365 tenant is connected, but its access policy leaves Cy out: the
/// administrator is e-mailed what to do, with the Organisation page's link. Bo taken out of the
/// policy's group later fails too, within the quiet period: not told again about the
/// organisation (the page lists every member; the booking that failed is alerted as any is).
async fn an_organisation_whose_member_is_out_of_reach_is_alerted_once_with_what_to_do(db: Db) {
    use crate::organisations_microsoft::{EVERYTHING, GROUP, body, group, tenant};
    let sink = SmtpSink::start().await;
    let app = app_telling(db, &sink, |config| config.alerts.digest_window_secs = 0).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    set(&api, json!({"alert_emails": ["ops@example.com"]})).await;
    tenant(&app, EVERYTHING, Some(GROUP)).await;
    let (status, organisation) =
        app.call("POST", "/api/v1/organisation-connections", &key, Some(body(None))).await;
    assert_eq!(status, 201, "{organisation}");
    app.settle().await;
    let subject = "Subject: Kalends alert: Organisation connection needs its administrator";
    eventually(Duration::from_secs(10), || async { (sink.messages().len() == 1).then_some(()) })
        .await;
    let text = plain(&sink.messages()[0]);
    assert!(text.contains(subject), "{text}");
    assert!(text.contains("Microsoft 365 tenant 72f988bf-86f1-41af-91ab-2d7cd011db47"), "{text}");
    assert!(text.contains("The calendar of cy@salon.example"), "{text}");
    assert!(text.contains("outside the application's access scope"), "{text}");
    assert!(text.contains(&app.url("/dashboard/organisation")), "{text}");

    group(&app, &["ann@salon.example"]).await;
    let bo: Value = app.call("GET", "/api/v1/staff", &key, None).await.1["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["email"] == "bo@salon.example")
        .unwrap()
        .clone();
    let mut booking = booking_body("Trim", 8);
    booking["staff_ids"] = json!([bo["id"]]);
    api.send::<Value>("POST", "/api/v1/bookings", Some(booking), 201).await.unwrap();
    app.settle().await;
    let connections = api.connections().await.unwrap();
    let bos = connections.iter().find(|c| c.account_email == "bo@salon.example").unwrap();
    assert_eq!(bos.status, "error", "{bos:?}");
    let told = subjects(&sink);
    let about = told.iter().filter(|s| s.contains("Organisation connection")).count();
    assert_eq!(about, 1, "the booking's own alert aside: {told:?}");
    app.stop().await;
}

/// An app whose tenant's `ops@example.com` hears of alerts at once, and whose booking system
/// (the receiver) hears of its organisations failing and working again; `configure` as
/// [`app_telling`].
async fn administrator_listening(
    db: Db,
    configure: impl FnOnce(&mut Config),
) -> (SmtpSink, TestApp, String, Receiver) {
    let sink = SmtpSink::start().await;
    let app = app_telling(db, &sink, |config| {
        config.alerts.digest_window_secs = 0;
        fast_webhooks(config);
        configure(config);
    })
    .await;
    let (_, key) = app.tenant().await;
    set(&app.api(&key), json!({"alert_emails": ["ops@example.com"]})).await;
    let receiver = Receiver::start(AT_ONCE).await;
    let told_of = ["organisation.failing", "organisation.recovered"];
    create_endpoint(&app.api(&key), &receiver.url, &told_of).await;
    (sink, app, key, receiver)
}

/// Waits until `messages` e-mails went out and `events` webhook events were received: the last
/// e-mail's text, and the events in order.
async fn heard(
    sink: &SmtpSink,
    receiver: &Receiver,
    messages: usize,
    events: usize,
) -> (String, Vec<(String, Value)>) {
    eventually(Duration::from_secs(10), || async {
        (sink.messages().len() == messages).then_some(())
    })
    .await;
    let events = eventually(Duration::from_secs(10), || async {
        let told = events_of(receiver);
        (told.len() == events).then_some(told)
    })
    .await;
    (plain(&sink.messages()[messages - 1]), events)
}

/// Asks for the organisation's directory to be read again (`refresh`, its path), expecting
/// `status`, and waits for what it owes.
async fn refresh_expecting(app: &TestApp, key: &str, refresh: &str, status: u16) {
    let (answered, answer) = app.call("POST", refresh, key, None).await;
    assert_eq!(answered, status, "{answer}");
    app.settle().await;
}

/// The Workspace's administrator takes domain-wide delegation back: the next directory read is
/// refused, and the administrator is e-mailed Google's missing piece, and the booking system
/// told (`organisation.failing`), once for the failing streak. Granted again, the next read
/// tells both that it works again, once. A directory that does not answer for a while (Google's
/// 503s) is read again later, and nobody is told.
async fn an_organisations_refused_directory_read_is_alerted_until_it_works_and_an_outage_is_not(
    db: Db,
) {
    use crate::organisations::{KEY, all_scopes, delegate, google_body, json_key, workspace};
    let (sink, app, key, receiver) =
        administrator_listening(db, |config| config.alerts.quiet_period_secs = 0).await;
    workspace(&app, &all_scopes()).await;
    let body = google_body(json_key(KEY), "admin@salon.example", Some("/Staff"));
    let (status, organisation) =
        app.call("POST", "/api/v1/organisation-connections", &key, Some(body)).await;
    assert_eq!(status, 201, "{organisation}");
    app.settle().await;
    assert!(sink.messages().is_empty(), "{:?}", subjects(&sink));
    let refresh = format!(
        "/api/v1/organisation-connections/{}/refresh",
        organisation["id"].as_str().unwrap()
    );

    app.sandbox_faults(json!({"error_rate": 1.0, "path": "/directory/v1/users"})).await;
    let (status, answer) = app.call("POST", &refresh, &key, None).await;
    assert_eq!(status, 503, "{answer}");
    app.sandbox_faults(json!({})).await;
    app.settle().await;
    assert!(
        sink.messages().is_empty(),
        "an outage is not the administrator's: {:?}",
        subjects(&sink)
    );

    delegate(&app, &[]).await;
    refresh_expecting(&app, &key, &refresh, 422).await;
    let (text, told) = heard(&sink, &receiver, 1, 1).await;
    assert!(text.contains("Google Workspace salon.example"), "{text}");
    assert!(text.contains("What failed: Reading the directory"), "{text}");
    assert!(text.contains("domain-wide delegation is not granted"), "{text}");
    assert_eq!(told[0].0, "organisation.failing");
    assert_eq!(told[0].1["organisation_connection_id"], organisation["id"]);
    assert_eq!(told[0].1["what"], "Reading the directory");

    // Refused the same way again: the same failing streak, told once.
    refresh_expecting(&app, &key, &refresh, 422).await;
    assert_eq!(sink.messages().len(), 1, "{:?}", subjects(&sink));
    assert_eq!(events_of(&receiver).len(), 1);

    // Granted again: the read that works ends the streak, and says so once.
    delegate(&app, &all_scopes()).await;
    refresh_expecting(&app, &key, &refresh, 200).await;
    refresh_expecting(&app, &key, &refresh, 200).await;
    let (text, told) = heard(&sink, &receiver, 2, 2).await;
    assert!(text.contains("Organisation connection working again: salon.example"), "{text}");
    assert!(text.contains("Failing from"), "{text}");
    assert_eq!(told[1].0, "organisation.recovered");
    assert_eq!(told[1].1["organisation_connection_id"], organisation["id"]);
    assert!(told[1].1["failing_since"].is_string(), "{:?}", told[1]);
    app.settle().await;
    assert_eq!(sink.messages().len(), 2, "once: {:?}", subjects(&sink));
    assert_eq!(events_of(&receiver).len(), 2);
    crate::outbound_webhooks::assert_documented(&app, &receiver).await;
    app.stop().await;
}

/// The Microsoft 365 tenant's access policy lets the application reach Ann alone: Bo and Cy
/// fail, and the administrator is told. Bo let in, Cy still fails: nothing is said to be working
/// again. Cy let in too, the next read tells the administrator and the booking system that the
/// organisation works again. Cy left out again, within the quiet period, and booked: the
/// administrator, last told it works, is told it fails again.
async fn an_organisation_is_told_working_again_only_once_no_member_fails(db: Db) {
    use crate::organisations_microsoft::{EVERYTHING, GROUP, body, group, tenant};
    let (sink, app, key, receiver) = administrator_listening(db, |_| {}).await;
    tenant(&app, EVERYTHING, Some(GROUP)).await;
    group(&app, &["ann@salon.example"]).await;
    let (status, organisation) =
        app.call("POST", "/api/v1/organisation-connections", &key, Some(body(None))).await;
    assert_eq!(status, 201, "{organisation}");
    app.settle().await;
    let (_, failing) = heard(&sink, &receiver, 1, 2).await;
    assert!(failing.iter().all(|(kind, _)| kind == "organisation.failing"), "{failing:?}");
    let refresh = format!(
        "/api/v1/organisation-connections/{}/refresh",
        organisation["id"].as_str().unwrap()
    );

    group(&app, &["ann@salon.example", "bo@salon.example"]).await;
    refresh_expecting(&app, &key, &refresh, 200).await;
    assert_eq!(sink.messages().len(), 1, "Cy still fails: {:?}", subjects(&sink));
    assert_eq!(events_of(&receiver).len(), 2);

    group(&app, &["ann@salon.example", "bo@salon.example", "cy@salon.example"]).await;
    refresh_expecting(&app, &key, &refresh, 200).await;
    let (text, told) = heard(&sink, &receiver, 2, 3).await;
    assert!(text.contains("Organisation connection working again"), "{text}");
    assert!(text.contains("Microsoft 365 tenant 72f988bf-86f1-41af-91ab-2d7cd011db47"), "{text}");
    assert_eq!(told[2].0, "organisation.recovered");
    assert_eq!(told[2].1["domain"], "72f988bf-86f1-41af-91ab-2d7cd011db47");

    group(&app, &["ann@salon.example", "bo@salon.example"]).await;
    let api = app.api(&key);
    let staff: Value = api.send("GET", "/api/v1/staff", None, 200).await.unwrap();
    let cy = staff["items"].as_array().unwrap().iter().find(|s| s["email"] == "cy@salon.example");
    let mut booking = booking_body("Trim", 8);
    booking["staff_ids"] = json!([cy.unwrap()["id"]]);
    api.send::<Value>("POST", "/api/v1/bookings", Some(booking), 201).await.unwrap();
    app.settle().await;
    // The booking's own failure may be e-mailed too (its digest), before or after: the
    // organisation's is the one looked for.
    let text = eventually(Duration::from_secs(10), || async {
        let since_recovered = sink.messages().into_iter().skip(2).map(|m| plain(&m));
        since_recovered.into_iter().find(|text| text.contains("needs its administrator"))
    })
    .await;
    assert!(text.contains("The calendar of cy@salon.example"), "{text}");
    let told = eventually(Duration::from_secs(10), || async {
        let told = events_of(&receiver);
        (told.len() == 4).then_some(told)
    })
    .await;
    assert_eq!(told[3].0, "organisation.failing");
    app.stop().await;
}

on_both_databases!(
    an_address_the_mail_server_refuses_does_not_keep_the_alert_from_the_others,
    a_double_booking_is_alerted_at_once_to_the_addresses_that_chose_it,
    a_calendar_needing_reconnecting_is_alerted_once_with_what_it_affects,
    bookings_whose_sync_failed_are_alerted_in_one_digest_once_per_failing_streak,
    an_event_moved_by_hand_and_left_so_is_alerted_once_and_told_opened_then_resolved,
    an_address_whose_email_went_out_is_not_sent_it_again_when_another_is_retried,
    an_organisation_whose_member_is_out_of_reach_is_alerted_once_with_what_to_do,
    an_organisations_refused_directory_read_is_alerted_until_it_works_and_an_outage_is_not,
    an_organisation_is_told_working_again_only_once_no_member_fails,
);
