//! Customer invitations and reminders, end to end: the real app sends through a real SMTP
//! server (the sink in `tests/support/`), and the messages are parsed as a mail client would.

use std::time::Duration;

use kalends::api::bookings::{BookingIn, BookingPatch, CustomerIn, Status};
use kalends::api::staff::StaffIn;
use mail_parser::{MessageParser, MimeHeaders as _};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::feeds::peer_readings;
use crate::helpers::{self, Db, TempDir, TestApp, eventually, needs_peers, on_both_databases};
use crate::smtp_sink::{Received, SmtpSink};

on_both_databases!(
    a_confirmed_booking_invites_its_customer_and_updates_and_the_cancellation_follow,
    a_rescheduled_booking_gets_exactly_one_reminder_at_the_new_time,
    a_booking_moved_after_its_reminder_is_reminded_again_and_new_offsets_are_followed,
    a_booking_moved_in_quick_succession_never_tells_an_older_time_under_a_higher_sequence,
);
needs_peers!(
    "needs Python icalendar and ical.js: run scripts/test",
    on_both_databases;
    an_invite_opens_in_python_icalendar_and_icaljs_at_the_bookings_time,
);

/// Kalends sending through `sink`, retrying fast.
async fn app_with(
    db: Db,
    sink: &SmtpSink,
    dir: TempDir,
    tweak: impl FnOnce(&mut kalends_core::Config),
) -> TestApp {
    let mut config = helpers::config(db, &dir).await;
    config.smtp_url = Some(secrecy::SecretString::from(sink.url()));
    config.mail_from = "Kalends <bookings@kalends.example>".into();
    config.jobs.retry_base_ms = 100;
    tweak(&mut config);
    TestApp::start_with(config, dir).await
}

fn booking(title: &str, start: &str, end: &str) -> BookingIn {
    BookingIn {
        title: title.into(),
        start: Some(start.into()),
        end: Some(end.into()),
        time_zone: Some("Europe/Amsterdam".into()),
        location: Some("Spa, Room 2".into()),
        status: Some(Status::Confirmed),
        customer: Some(CustomerIn {
            name: "Ann Lee".into(),
            email: Some("ann@example.com".into()),
            ..CustomerIn::default()
        }),
        ..BookingIn::default()
    }
}

/// Creates `booking`; returns its id.
async fn create(app: &TestApp, key: &str, booking: &BookingIn) -> Uuid {
    app.api(key).create_booking(booking).await.unwrap().id
}

/// The e-mails recorded for the booking, oldest first (`GET .../messages`).
async fn recorded(app: &TestApp, key: &str, booking_id: Uuid) -> Vec<Value> {
    let path = format!("/api/v1/bookings/{booking_id}/messages");
    let (status, sent) = app.call("GET", &path, key, None).await;
    assert_eq!(status, 200, "{sent}");
    sent["items"].as_array().unwrap().clone()
}

/// The calendar text of the message's inline `text/calendar` part, its `method` parameter, and
/// whether the `invite.ics` attachment holds the same bytes.
fn calendar_of(message: &Received) -> (String, String, bool) {
    let parsed = MessageParser::default().parse(&message.data).unwrap();
    let mut inline = None;
    let mut attachment = None;
    for part in &parsed.parts {
        let Some(ct) = part.content_type() else { continue };
        let is_calendar = matches!(
            (ct.ctype(), ct.subtype()),
            ("text", Some("calendar")) | ("application", Some("ics"))
        );
        if !is_calendar {
            continue;
        }
        let text = String::from_utf8(part.contents().to_vec()).unwrap();
        if part.content_disposition().is_some_and(|cd| cd.ctype() == "attachment") {
            attachment = Some(text);
        } else {
            inline = Some((text, ct.attribute("method").unwrap_or_default().to_owned()));
        }
    }
    let (inline, method) = inline.expect("an inline text/calendar part");
    let same = attachment.as_deref() == Some(inline.as_str());
    (inline, method, same)
}

/// The iCalendar text with its folded lines joined.
fn unfold(ics: &str) -> String {
    ics.replace("\r\n ", "")
}

fn property(ics: &str, name: &str) -> String {
    unfold(ics)
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}:")).map(str::to_owned))
        .unwrap_or_else(|| panic!("no {name} in {ics}"))
}

async fn a_confirmed_booking_invites_its_customer_and_updates_and_the_cancellation_follow(db: Db) {
    let sink = SmtpSink::start().await;
    let app = app_with(db, &sink, TempDir::new(), |_| {}).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let massage = booking("Massage", "2030-01-02T10:00:00+01:00", "2030-01-02T11:00:00+01:00");
    let id = create(&app, &key, &massage).await;

    let first = sink.wait_for(1, Duration::from_secs(20)).await.remove(0);
    assert_eq!(first.to, vec!["ann@example.com".to_owned()]);
    let (ics, method, same) = calendar_of(&first);
    assert_eq!((method.as_str(), property(&ics, "METHOD").as_str()), ("REQUEST", "REQUEST"));
    assert!(same, "the invite.ics attachment equals the inline part");
    assert_eq!(property(&ics, "SEQUENCE"), "0");
    let lines = unfold(&ics);
    assert!(lines.contains("DTSTART;TZID=Europe/Amsterdam:20300102T100000"), "{ics}");
    assert!(lines.contains("RSVP=TRUE") && lines.contains("mailto:ann@example.com"));
    assert!(lines.contains("ORGANIZER;CN=Guesthouse:mailto:bookings@kalends.example"), "{ics}");
    let uid = property(&ics, "UID");

    // Reassigning staff is nothing the customer cares about; moving the booking is.
    let bo = api.create_staff(&StaffIn { name: "Bo".into(), ..StaffIn::default() }).await.unwrap();
    let staffed = BookingPatch { staff_ids: Some(vec![bo.id]), ..BookingPatch::default() };
    api.patch_booking(id, &staffed).await.unwrap();
    let moved = BookingPatch {
        start: Some("2030-01-03T10:00:00+01:00".into()),
        end: Some("2030-01-03T11:00:00+01:00".into()),
        ..BookingPatch::default()
    };
    api.patch_booking(id, &moved).await.unwrap();
    let messages = sink.wait_for(2, Duration::from_secs(20)).await;
    let (update, _, _) = calendar_of(&messages[1]);
    assert_eq!(property(&update, "UID"), uid, "the same UID for the booking's life");
    assert_eq!(
        property(&update, "SEQUENCE"),
        "1",
        "the staff change sent nothing: the next revision is 1"
    );
    assert!(messages[1].text().contains("Subject: Updated:"));

    api.cancel_booking(id).await.unwrap();
    let messages = sink.wait_for(3, Duration::from_secs(20)).await;
    let (cancel, method, same) = calendar_of(&messages[2]);
    assert_eq!((method.as_str(), property(&cancel, "METHOD").as_str()), ("CANCEL", "CANCEL"));
    assert!(same);
    assert_eq!(property(&cancel, "STATUS"), "CANCELLED");
    assert_eq!(property(&cancel, "UID"), uid);
    assert_eq!(property(&cancel, "SEQUENCE"), "2");

    // The API and the public link answer the current invitation: the cancellation.
    let response = app
        .http
        .get(app.url(&format!("/api/v1/bookings/{id}/invite.ics")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/calendar; charset=utf-8");
    assert_eq!(property(&response.text().await.unwrap(), "METHOD"), "CANCEL");
    let parsed = MessageParser::default().parse(&messages[0].data).unwrap();
    let text = parsed.body_text(0).unwrap().into_owned();
    // The link is built on KALENDS_PUBLIC_URL (the default here): ask this server for its path.
    let link_start =
        text.find("http://127.0.0.1:8080/invite/").expect("the e-mail links its invite.ics");
    let link = &text[link_start + "http://127.0.0.1:8080".len()..];
    let link = &link[..link.find(".ics").expect("an .ics link") + 4];
    let public = reqwest::get(app.url(link)).await.unwrap();
    assert_eq!(public.status(), 200, "{link}");
    assert_eq!(property(&public.text().await.unwrap(), "UID"), uid);
    assert_eq!(reqwest::get(app.url("/invite/forged.ics")).await.unwrap().status(), 404);

    // Each is recorded with its Message-ID once the server accepted it.
    app.settle().await;
    let sent = recorded(&app, &key, id).await;
    assert!(sent.iter().all(|m| m["status"] == "sent" && m["message_id"].is_string()), "{sent:#?}");
    let kinds: Vec<&str> = sent.iter().map(|m| m["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["request", "request", "cancel"]);
    assert_eq!(sink.messages().len(), 3, "each e-mail exactly once");
    app.stop().await;
}

/// The host moves a booking twenty times as fast as it can, the jobs telling the customer
/// running side by side. The customer's calendar keeps the highest SEQUENCE: the e-mails, in
/// SEQUENCE order, carry later and later times, and the last one the booking's final time.
async fn a_booking_moved_in_quick_succession_never_tells_an_older_time_under_a_higher_sequence(
    db: Db,
) {
    let sink = SmtpSink::start().await;
    let app = app_with(db, &sink, TempDir::new(), |_| {}).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let at = |hour: u32| format!("2030-01-02T{hour:02}:00:00+01:00");
    let id = create(&app, &key, &booking("Massage", &at(1), &at(2))).await;
    for hour in 2..22 {
        let moved = BookingPatch {
            start: Some(at(hour)),
            end: Some(at(hour + 1)),
            ..BookingPatch::default()
        };
        api.patch_booking(id, &moved).await.unwrap();
    }
    app.settle().await;
    let mut told: Vec<(u32, String)> = sink
        .messages()
        .iter()
        .map(|message| {
            let (ics, _, _) = calendar_of(message);
            (
                property(&ics, "SEQUENCE").parse().unwrap(),
                property(&ics, "DTSTART;TZID=Europe/Amsterdam"),
            )
        })
        .collect();
    told.sort();
    let starts: Vec<&String> = told.iter().map(|(_, start)| start).collect();
    assert!(starts.windows(2).all(|w| w[0] < w[1]), "an older time came later: {told:?}");
    assert_eq!(starts.last().map(|s| s.as_str()), Some("20300102T210000"), "{told:?}");
    app.stop().await;
}

/// The invite as a customer's calendar reads it: Python icalendar and ical.js open it at its
/// time (10:00 in Amsterdam is 09:00 UTC).
async fn an_invite_opens_in_python_icalendar_and_icaljs_at_the_bookings_time(db: Db) {
    let sink = SmtpSink::start().await;
    let app = app_with(db, &sink, TempDir::new(), |_| {}).await;
    let (_, key) = app.tenant().await;
    let massage = booking("Massage", "2030-01-02T10:00:00+01:00", "2030-01-02T11:00:00+01:00");
    create(&app, &key, &massage).await;
    let invite = sink.wait_for(1, Duration::from_secs(20)).await.remove(0);
    let (ics, _, _) = calendar_of(&invite);
    let readings = peer_readings(&ics);
    assert_eq!(readings.len(), 2, "both peers read it");
    for (peer, reading) in readings {
        let events = reading["events"].as_array().unwrap();
        assert_eq!(events.len(), 1, "{peer}: {reading}");
        assert_eq!(events[0]["start"], "2030-01-02T09:00:00+00:00", "{peer}");
        assert_eq!(events[0]["end"], "2030-01-02T10:00:00+00:00", "{peer}");
        assert_eq!(events[0]["summary"], "Massage", "{peer}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_mailbox_marks_the_invite_failed_with_the_servers_words() {
    let sink = SmtpSink::start().await;
    sink.refuse_recipient(
        "ann@example.com",
        "550 5.1.1 <ann@example.com>: Recipient address rejected: unknown mailbox",
    );
    let app = app_with(Db::Sqlite, &sink, TempDir::new(), |_| {}).await;
    let (_, key) = app.tenant().await;
    let massage = booking("Massage", "2030-01-02T10:00:00+01:00", "2030-01-02T11:00:00+01:00");
    let id = create(&app, &key, &massage).await;
    app.settle().await;
    let failed = recorded(&app, &key, id).await.remove(0);
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(failed["error"].as_str().unwrap().contains("550"), "{failed}");
    assert!(failed["error"].as_str().unwrap().contains("unknown mailbox"), "{failed}");
    app.stop().await;
}

#[tokio::test]
async fn a_deferring_mail_server_is_retried_and_the_invite_arrives_once() {
    let sink = SmtpSink::start().await;
    sink.defer_next(2, "451 4.3.0 Try again later");
    let app = app_with(Db::Sqlite, &sink, TempDir::new(), |_| {}).await;
    let (_, key) = app.tenant().await;
    let massage = booking("Massage", "2030-01-02T10:00:00+01:00", "2030-01-02T11:00:00+01:00");
    create(&app, &key, &massage).await;
    sink.wait_for(1, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.messages().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn an_invite_refused_for_the_mail_login_arrives_once_the_password_is_fixed() {
    let sink = SmtpSink::start().await;
    sink.refuse_logins(Some("535 5.7.8 Authentication credentials invalid"));
    let url = format!("smtp://mailer:secret@{}", sink.addr());
    let app = app_with(Db::Sqlite, &sink, TempDir::new(), |config| {
        config.smtp_url = Some(secrecy::SecretString::from(url));
    })
    .await;
    let (_, key) = app.tenant().await;
    let massage = booking("Massage", "2030-01-02T10:00:00+01:00", "2030-01-02T11:00:00+01:00");
    let id = create(&app, &key, &massage).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let meanwhile = recorded(&app, &key, id).await;
    assert!(
        meanwhile.iter().all(|m| m["status"] != "failed"),
        "a refused login is the mail setup's failure, not the customer's: {meanwhile:?}"
    );
    sink.refuse_logins(None);
    let arrived = sink.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(arrived[0].to, ["ann@example.com"]);
    app.stop().await;
}

#[tokio::test]
async fn a_customer_address_changed_or_removed_gets_the_event_taken_back() {
    let sink = SmtpSink::start().await;
    let app = app_with(Db::Sqlite, &sink, TempDir::new(), |_| {}).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let massage = booking("Massage", "2030-01-02T10:00:00+01:00", "2030-01-02T11:00:00+01:00");
    let id = create(&app, &key, &massage).await;
    sink.wait_for(1, Duration::from_secs(20)).await;
    let customer = |email: &str| CustomerIn {
        name: "Ann Lee".into(),
        email: Some(email.into()),
        ..CustomerIn::default()
    };
    let to_bob = BookingPatch {
        customer: Some(Some(customer("bob@example.com"))),
        ..BookingPatch::default()
    };
    api.patch_booking(id, &to_bob).await.unwrap();
    let messages = sink.wait_for(3, Duration::from_secs(20)).await;
    let told: Vec<(String, String, String)> = messages[1..]
        .iter()
        .map(|m| {
            let (ics, method, _) = calendar_of(m);
            (m.to.join(","), method, property(&ics, "SEQUENCE"))
        })
        .collect();
    let told_as =
        |to: &str, method: &str, sequence: &str| (to.into(), method.into(), sequence.into());
    assert_eq!(
        told,
        [told_as("ann@example.com", "CANCEL", "1"), told_as("bob@example.com", "REQUEST", "2")],
        "the old address's calendar drops the event before the new one gets it"
    );
    let text = messages[2].text();
    let subject = text.lines().find(|l| l.starts_with("Subject:")).unwrap_or_default();
    assert!(
        subject.starts_with("Subject: Invitation: Massage"),
        "the new address is invited, not told of an update it never had: {subject}"
    );
    assert!(!messages[1].text().contains("/invite/"), "no link to the booking's new details");
    let (taken_back, _, _) = calendar_of(&messages[1]);
    assert!(!unfold(&taken_back).contains("URL:"), "{taken_back}");

    // Back to Ann, whose calendar dropped the event at its cancellation: she is invited again,
    // not told of a change to an event she no longer has.
    let to_ann = BookingPatch {
        customer: Some(Some(customer("ann@example.com"))),
        ..BookingPatch::default()
    };
    api.patch_booking(id, &to_ann).await.unwrap();
    let messages = sink.wait_for(5, Duration::from_secs(20)).await;
    let told: Vec<(String, String)> =
        messages[3..].iter().map(|m| (m.to.join(","), calendar_of(m).1)).collect();
    let expected = [("bob@example.com", "CANCEL"), ("ann@example.com", "REQUEST")];
    assert_eq!(told, expected.map(|(to, method)| (to.to_owned(), method.to_owned())));
    let text = messages[4].text();
    let subject = text.lines().find(|l| l.starts_with("Subject:")).unwrap_or_default();
    assert!(subject.starts_with("Subject: Invitation: Massage"), "{subject}");

    let removed = BookingPatch { customer: Some(None), ..BookingPatch::default() };
    api.patch_booking(id, &removed).await.unwrap();
    let messages = sink.wait_for(6, Duration::from_secs(20)).await;
    let (ics, method, _) = calendar_of(&messages[5]);
    assert_eq!((messages[5].to.join(","), method), ("ann@example.com".into(), "CANCEL".into()));
    assert_eq!(property(&ics, "SEQUENCE"), "5");
    api.cancel_booking(id).await.unwrap();
    app.settle().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.messages().len(), 6, "nobody is told twice");
    app.stop().await;
}

#[tokio::test]
async fn a_reminder_due_before_the_booking_was_made_is_not_sent_with_its_invitation() {
    let sink = SmtpSink::start().await;
    let app = app_with(Db::Sqlite, &sink, TempDir::new(), |_| {}).await;
    let (_, key) = app.tenant().await;
    app.api(&key).patch_settings(json!({"reminder_offsets_minutes": [60]})).await.unwrap();
    // Made now for 50 minutes from now: its one-hour reminder was due ten minutes ago, within
    // the grace a late reminder job is given.
    let start = chrono::Utc::now() + chrono::Duration::minutes(50);
    let end = (start + chrono::Duration::hours(1)).to_rfc3339();
    create(&app, &key, &booking("Massage", &start.to_rfc3339(), &end)).await;
    sink.wait_for(1, Duration::from_secs(20)).await;
    app.settle().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let subjects: Vec<String> = sink
        .messages()
        .iter()
        .map(|m| m.text().lines().find(|l| l.starts_with("Subject:")).unwrap_or("").to_owned())
        .collect();
    assert_eq!(subjects.len(), 1, "the invitation only, no reminder: {subjects:?}");
    app.stop().await;
}

/// A booking starting `seconds` after one minute from now (so its 1-minute reminder is due in
/// `seconds`), in RFC 3339.
fn starting_in(seconds: i64) -> (String, String) {
    let start = chrono::Utc::now() + chrono::Duration::seconds(60 + seconds);
    let start = chrono::DateTime::from_timestamp(start.timestamp(), 0).unwrap();
    (start.to_rfc3339(), (start + chrono::Duration::hours(1)).to_rfc3339())
}

async fn reminder_tenant(app: &TestApp) -> String {
    let (_, key) = app.tenant().await;
    let patch = json!({"reminder_offsets_minutes": [1], "invite_on_confirm": false});
    app.api(&key).patch_settings(patch).await.unwrap();
    key
}

/// Whether a `send_reminder` job for the booking waits on the (SQLite) queue.
async fn reminder_queued(app: &TestApp, booking_id: Uuid) -> bool {
    let kalends_store::Pool::Sqlite { read, .. } = app.store.pool() else {
        unreachable!("this test runs on SQLite")
    };
    let sql = "SELECT COUNT(*) FROM Jobs WHERE CAST(job AS TEXT) LIKE '%send_reminder%' AND CAST(job AS TEXT) LIKE $1";
    let n: i64 =
        sqlx::query_scalar(sql).bind(format!("%{booking_id}%")).fetch_one(read).await.unwrap();
    n > 0
}

fn reminders(sink: &SmtpSink) -> usize {
    sink.messages().iter().filter(|m| m.text().contains("Subject: Reminder:")).count()
}

/// Waits until `n` reminders have arrived in all.
async fn reminded(sink: &SmtpSink, n: usize) {
    eventually(Duration::from_secs(40), || async { (reminders(sink) == n).then_some(()) }).await;
}

/// Moves the booking to start `seconds` after one minute from now ([`starting_in`]).
async fn move_to(app: &TestApp, key: &str, id: Uuid, seconds: i64) {
    let (start, end) = starting_in(seconds);
    let moved = BookingPatch { start: Some(start), end: Some(end), ..BookingPatch::default() };
    app.api(key).patch_booking(id, &moved).await.unwrap();
}

/// Kalends reminding a minute before, and a massage whose reminder is due in `seconds`: the
/// sink, the app, the tenant's key and the booking's id.
async fn a_massage_reminded_in(db: Db, seconds: i64) -> (SmtpSink, TestApp, String, Uuid) {
    let sink = SmtpSink::start().await;
    let app = app_with(db, &sink, TempDir::new(), |_| {}).await;
    let key = reminder_tenant(&app).await;
    let (start, end) = starting_in(seconds);
    let id = create(&app, &key, &booking("Massage", &start, &end)).await;
    (sink, app, key, id)
}

async fn a_rescheduled_booking_gets_exactly_one_reminder_at_the_new_time(db: Db) {
    let (sink, app, key, id) = a_massage_reminded_in(db, 3).await;
    let moved_at = chrono::Utc::now();
    move_to(&app, &key, id, 7).await;
    reminded(&sink, 1).await;
    assert!(
        chrono::Utc::now() - moved_at >= chrono::Duration::seconds(5),
        "it came at the new time, not the old one"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(reminders(&sink), 1, "exactly one reminder");
    assert!(
        sink.messages().iter().all(|m| !m.text().contains("Subject: Invitation:")),
        "invite_on_confirm is off"
    );
    app.stop().await;
}

/// The customer's reminder goes out; then the booking moves, and the reminder goes out again
/// for the new time. A second booking's reminder is due in seventy seconds when the business
/// changes its offsets from one minute to two: it comes at the new time, a minute sooner (and
/// the first booking, whose two minutes before passed already, is not reminded late).
async fn a_booking_moved_after_its_reminder_is_reminded_again_and_new_offsets_are_followed(db: Db) {
    let (sink, app, key, id) = a_massage_reminded_in(db, 1).await;
    reminded(&sink, 1).await;
    move_to(&app, &key, id, 3).await;
    reminded(&sink, 2).await;

    let (start, end) = starting_in(70);
    create(&app, &key, &booking("Facial", &start, &end)).await;
    let patch = json!({"reminder_offsets_minutes": [2]});
    app.api(&key).patch_settings(patch).await.unwrap();
    reminded(&sink, 3).await;
    let last = sink.messages().last().unwrap().text();
    assert!(last.contains("Subject: Reminder: Facial"), "{last}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(reminders(&sink), 3, "the massage is not reminded after its moment");
    app.stop().await;
}

#[tokio::test]
async fn a_reminder_fires_once_across_a_restart_and_a_late_one_is_skipped_and_recorded() {
    let sink = SmtpSink::start().await;
    let dir = TempDir::new();
    let path = dir.0.clone();
    // The same queue across restarts, as a real deployment has.
    let queue = format!("kalends-test-{}", uuid::Uuid::now_v7().simple());
    let same_queue = |config: &mut kalends_core::Config| config.jobs.queue = queue.clone();
    let app = app_with(Db::Sqlite, &sink, dir, same_queue).await;
    let key = reminder_tenant(&app).await;
    let (start, end) = starting_in(4);
    create(&app, &key, &booking("On time", &start, &end)).await;
    // The reminder job is queued (scheduled) before the restart.
    eventually(Duration::from_secs(10), || async {
        (app.store.outbox_depth().await.unwrap() == 0).then_some(())
    })
    .await;
    let TestApp { running, _dir: dir, .. } = app;
    running.unwrap().stop().await.unwrap();
    assert_eq!(dir.0, path);

    let app = app_with(Db::Sqlite, &sink, dir, same_queue).await;
    eventually(Duration::from_secs(30), || async { (reminders(&sink) == 1).then_some(()) }).await;

    // With no grace at all, a reminder that comes due while Kalends is down is skipped.
    let (start, end) = starting_in(2);
    let late = create(&app, &key, &booking("Late", &start, &end)).await;
    // Stop only once its reminder is on the queue (scheduled for two seconds from now).
    eventually(Duration::from_secs(10), || async {
        reminder_queued(&app, late).await.then_some(())
    })
    .await;
    let TestApp { running, _dir: dir, .. } = app;
    running.unwrap().stop().await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let app = app_with(Db::Sqlite, &sink, dir, |config| {
        same_queue(config);
        config.mail.reminder_grace_minutes = 0;
    })
    .await;
    app.settle().await;
    let skipped = recorded(&app, &key, late).await.remove(0);
    assert_eq!(skipped["status"], "skipped", "{skipped}");
    assert_eq!(skipped["kind"], "reminder");
    assert_eq!(reminders(&sink), 1, "the late reminder was not sent");
    app.stop().await;
}
