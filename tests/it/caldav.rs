//! CalDAV end to end against real servers (Radicale and Xandikos, on both databases): connecting
//! through the settings form, bookings written, moved and removed, busy times read back (a
//! recurring event blocking each occurrence), and a changed password parking the work until the
//! staff member connects again.

use std::sync::Arc;

use chrono::{Duration, NaiveDate, Utc};
use kalends::api::bookings::BookingIn;
use kalends::api::connections::ConnectionOut;
use kalends::api::staff::StaffIn;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::caldav_servers::{CaldavServer, Server, USER};
use crate::helpers::{Chromium, Db, TestApp, needs_peers};

needs_peers!(
    "needs Radicale and Xandikos: run scripts/test",
    on_both_databases;
    radicale_bookings_appear_move_and_disappear_and_busy_times_come_back,
    xandikos_bookings_appear_move_and_disappear_and_busy_times_come_back,
    a_changed_radicale_password_parks_the_work_and_reconnecting_replays_it,
    a_changed_xandikos_password_parks_the_work_and_reconnecting_replays_it,
    a_booking_moved_by_hand_in_a_caldav_calendar_is_put_back,
    hand_edits_are_put_back_when_a_changed_series_makes_the_calendar_listed_again,
    a_floating_time_in_a_caldav_calendar_is_read_in_the_staff_members_zone,
    a_calendar_too_heavy_to_read_fails_alone_and_the_others_chosen_are_still_read,
);
needs_peers!(
    "needs Chromium and Radicale: run scripts/test";
    a_browser_connects_a_caldav_calendar_through_the_settings_form,
);

/// A browser signed in to one staff member's settings.
pub(crate) struct Staff {
    pub(crate) key: String,
    id: Uuid,
    tenant_id: Uuid,
    browser: reqwest::Client,
}

pub(crate) async fn staff(app: &TestApp) -> Staff {
    let (tenant, key) = app.tenant().await;
    let api = app.api(&key);
    let new = StaffIn {
        name: "Ann Lee".into(),
        email: Some("ann@example.com".into()),
        ..StaffIn::default()
    };
    let id = api.create_staff(&new).await.unwrap().id;
    let link = api.settings_link(id).await.unwrap();
    let browser = crate::helpers::client()
        .cookie_provider(Arc::new(reqwest::cookie::Jar::default()))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let opened = browser.get(&link.url).send().await.unwrap();
    assert_eq!(opened.status().as_u16(), 303);
    Staff { key, id, tenant_id: tenant.id, browser }
}

impl Staff {
    async fn settings(&self, app: &TestApp) -> String {
        self.browser.get(app.url("/settings")).send().await.unwrap().text().await.unwrap()
    }

    /// Fills in and sends the "another CalDAV calendar" form: (status, page).
    pub(crate) async fn connect(
        &self,
        app: &TestApp,
        server: &str,
        password: &str,
    ) -> (u16, String) {
        let page = self.settings(app).await;
        assert!(
            page.contains("Connect Apple iCloud") && page.contains("https://caldav.icloud.com")
        );
        assert!(page.contains("app password"));
        let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap();
        let form = [
            ("csrf", csrf),
            ("kind", "caldav"),
            ("server_url", server),
            ("username", USER),
            ("password", password),
        ];
        let answer = self
            .browser
            .post(app.url("/settings/connect/caldav"))
            .form(&form)
            .send()
            .await
            .unwrap();
        (answer.status().as_u16(), answer.text().await.unwrap())
    }

    pub(crate) async fn connections(&self, app: &TestApp) -> Vec<ConnectionOut> {
        let path = format!("/api/v1/connections?staff_id={}", self.id);
        let (status, body) = app.call("GET", &path, &self.key, None).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_value(body["items"].clone()).unwrap()
    }

    async fn booking(&self, app: &TestApp, day: NaiveDate, title: &str) -> Uuid {
        let booking = BookingIn {
            title: title.into(),
            staff_ids: vec![self.id],
            start: Some(format!("{day}T10:00:00+01:00")),
            end: Some(format!("{day}T11:00:00+01:00")),
            time_zone: Some("Europe/Amsterdam".into()),
            ..BookingIn::default()
        };
        app.api(&self.key).create_booking(&booking).await.unwrap().id
    }

    /// The staff member's busy times from calendars, as (start, label).
    async fn calendar_busy(
        &self,
        app: &TestApp,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Vec<(String, String)> {
        let path = format!("/api/v1/availability?staff_id={}&from={from}&to={to}", self.id);
        let (status, body) = app.call("GET", &path, &self.key, None).await;
        assert_eq!(status, 200, "{body}");
        body["busy"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["source"] == "calendar")
            .map(|b| {
                (
                    b["start"].as_str().unwrap().to_owned(),
                    b["label"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }
}

/// The app, allowed to reach CalDAV servers on loopback (as an operator allows intranet ones).
async fn caldav_app(db: Db) -> TestApp {
    TestApp::start_public_with(db, |config| config.import.allow_private_networks = true).await
}

fn day(offset: i64) -> NaiveDate {
    Utc::now().date_naive() + Duration::days(offset)
}

fn compact(day: NaiveDate) -> String {
    day.format("%Y%m%d").to_string()
}

/// An event of the staff member's own, 09:00 to 10:00 UTC on `day`.
fn own_event(uid: &str, day: NaiveDate, summary: &str) -> String {
    let day = compact(day);
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20260101T000000Z\r\nDTSTART:{day}T090000Z\r\nDTEND:{day}T100000Z\r\n\
         SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

async fn connect_and_check(app: &TestApp, ann: &Staff, server: &CaldavServer) -> ConnectionOut {
    // A wrong password: a message on the form, the user name kept, nothing stored.
    let (status, page) = ann.connect(app, &server.url, "not-it").await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("refused the user name or password"), "{page}");
    assert!(page.contains(&format!("value=\"{USER}\"")) && !page.contains("not-it"));
    // Not a CalDAV server: Kalends's own health check answers there.
    let (status, page) = ann.connect(app, &app.url("/healthz"), "pw-1").await;
    assert_eq!(status, 422, "{page}");
    assert!(ann.connections(app).await.is_empty());
    let (status, page) = ann.connect(app, &server.url, "pw-1").await;
    assert_eq!(status, 303, "{page}");
    let [connection] = ann.connections(app).await.try_into().unwrap();
    assert_eq!(connection.provider, "caldav");
    assert_eq!(connection.status, "active");
    assert_eq!(connection.destination_calendar_id.as_deref(), Some(server.calendar.as_str()));
    assert!(ann.settings(app).await.contains("CalDAV"));
    connection
}

async fn bookings_appear_move_and_disappear_and_busy_times_come_back(db: Db, kind: Server) {
    let server = CaldavServer::start(kind, "pw-1").await;
    let app = caldav_app(db).await;
    let ann = staff(&app).await;
    let connection = connect_and_check(&app, &ann, &server).await;

    let booking = ann.booking(&app, day(10), "Colour and cut").await;
    app.settle().await;
    let events = server.events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].contains("SUMMARY:Colour and cut") && !events[0].contains("METHOD"));
    assert!(events[0].contains(&format!("X-KALENDS-BOOKING:{booking}")));

    // Moved a day later: the same resource, the new time.
    let patch = json!({"start": format!("{}T14:00:00+01:00", day(11)), "end": format!("{}T15:00:00+01:00", day(11))});
    let (status, body) =
        app.call("PATCH", &format!("/api/v1/bookings/{booking}"), &ann.key, Some(patch)).await;
    assert_eq!(status, 200, "{body}");
    app.settle().await;
    let events = server.events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].contains(&compact(day(11))), "{}", events[0]);

    // Events of the staff member's own: a single one, a weekly one, and a free one.
    server.put_event("dentist.ics", &own_event("dentist", day(5), "Dentist")).await;
    server
        .put_event(
            "gym.ics",
            &format!(
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:gym\r\nDTSTAMP:20260101T000000Z\r\n\
                 DTSTART:{}T180000Z\r\nDTEND:{}T190000Z\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\nSUMMARY:Gym\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
                compact(day(2)),
                compact(day(2))
            ),
        )
        .await;
    server
        .put_event(
            "free.ics",
            &format!(
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:free\r\nDTSTAMP:20260101T000000Z\r\n\
                 DTSTART:{}T120000Z\r\nDTEND:{}T130000Z\r\nTRANSP:TRANSPARENT\r\nSUMMARY:Maybe lunch\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
                compact(day(3)),
                compact(day(3))
            ),
        )
        .await;
    let sync = format!("/api/v1/connections/{}/sync", connection.id);
    assert_eq!(app.call("POST", &sync, &ann.key, None).await.0, 202);
    app.settle().await;
    let busy = ann.calendar_busy(&app, day(0), day(30)).await;
    let labels: Vec<&str> = busy.iter().map(|(_, label)| label.as_str()).collect();
    assert_eq!(labels.iter().filter(|l| **l == "Gym").count(), 3, "{busy:?}");
    assert_eq!(labels.iter().filter(|l| **l == "Dentist").count(), 1, "{busy:?}");
    assert!(!labels.contains(&"Maybe lunch") && !labels.contains(&"Colour and cut"), "{busy:?}");

    // The weekly event made a single one by hand: its other occurrences are free again.
    server.put_event("gym.ics", &own_event("gym", day(2), "Gym")).await;
    assert_eq!(app.call("POST", &sync, &ann.key, None).await.0, 202);
    app.settle().await;
    let busy = ann.calendar_busy(&app, day(0), day(30)).await;
    let gym = busy.iter().filter(|(_, label)| label == "Gym").count();
    assert_eq!(gym, 1, "one gym session left: {busy:?}");

    // The event deleted by hand: its time is free again (sync-collection).
    let (status, _) = server.request("DELETE", &format!("{}gym.ics", server.calendar), None).await;
    assert!(matches!(status, 200 | 204), "{status}");
    assert_eq!(app.call("POST", &sync, &ann.key, None).await.0, 202);
    app.settle().await;
    let busy = ann.calendar_busy(&app, day(0), day(30)).await;
    assert!(busy.iter().all(|(_, label)| label != "Gym"), "{busy:?}");
    assert!(busy.iter().any(|(_, label)| label == "Dentist"), "{busy:?}");

    // Cancelled: the resource is gone.
    let (status, body) =
        app.call("POST", &format!("/api/v1/bookings/{booking}/cancel"), &ann.key, None).await;
    assert_eq!(status, 200, "{body}");
    app.settle().await;
    let events = server.events().await;
    assert!(events.iter().all(|e| !e.contains("Colour and cut")), "{events:?}");
    app.stop().await;
}

async fn radicale_bookings_appear_move_and_disappear_and_busy_times_come_back(db: Db) {
    bookings_appear_move_and_disappear_and_busy_times_come_back(db, Server::Radicale).await;
}

async fn xandikos_bookings_appear_move_and_disappear_and_busy_times_come_back(db: Db) {
    bookings_appear_move_and_disappear_and_busy_times_come_back(db, Server::Xandikos).await;
}

async fn a_changed_password_parks_the_work_and_reconnecting_replays_it(db: Db, kind: Server) {
    let server = CaldavServer::start(kind, "pw-1").await;
    let app = caldav_app(db).await;
    let ann = staff(&app).await;
    connect_and_check(&app, &ann, &server).await;
    ann.booking(&app, day(4), "First").await;
    app.settle().await;
    assert_eq!(server.events().await.len(), 1);

    // The staff member revoked the app password: the next push parks.
    server.set_password("pw-2");
    let parked = ann.booking(&app, day(6), "Second").await;
    app.settle().await;
    let [connection] = ann.connections(&app).await.try_into().unwrap();
    assert_eq!(connection.status, "needs_reauth");
    let (_, body) = app.call("GET", &format!("/api/v1/bookings/{parked}"), &ann.key, None).await;
    let states: Vec<&Value> =
        body["sync"].as_array().unwrap().iter().map(|s| &s["state"]).collect();
    assert!(states.iter().all(|s| *s != "synced"), "{body}");
    assert!(ann.settings(&app).await.contains("refused the app password"));

    // Connected again with the new password: the same connection, and the parked booking arrives.
    let (status, page) = ann.connect(&app, &server.url, "pw-2").await;
    assert_eq!(status, 303, "{page}");
    app.settle().await;
    let [again] = ann.connections(&app).await.try_into().unwrap();
    assert_eq!((again.id, again.status.as_str()), (connection.id, "active"));
    let events = server.events().await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.iter().any(|e| e.contains("SUMMARY:Second")));

    // Disconnected with its events: Kalends's resources leave the calendar, the rest stays.
    server.put_event("mine.ics", &own_event("mine", day(7), "Mine")).await;
    let page = ann.settings(&app).await;
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap();
    let form = [("csrf", csrf), ("remove_events", "yes")];
    let url = app.url(&format!("/settings/connections/{}/disconnect", again.id));
    let answer = ann.browser.post(url).form(&form).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 303);
    app.settle().await;
    let events = server.events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].contains("SUMMARY:Mine"));
    app.stop().await;
}

async fn a_changed_radicale_password_parks_the_work_and_reconnecting_replays_it(db: Db) {
    a_changed_password_parks_the_work_and_reconnecting_replays_it(db, Server::Radicale).await;
}

async fn a_changed_xandikos_password_parks_the_work_and_reconnecting_replays_it(db: Db) {
    a_changed_password_parks_the_work_and_reconnecting_replays_it(db, Server::Xandikos).await;
}

async fn a_booking_moved_by_hand_in_a_caldav_calendar_is_put_back(db: Db) {
    for kind in [Server::Radicale, Server::Xandikos] {
        let server = CaldavServer::start(kind, "pw-1").await;
        let app = caldav_app(db).await;
        let ann = staff(&app).await;
        let connection = connect_and_check(&app, &ann, &server).await;
        let booking = BookingIn {
            title: "Massage".into(),
            staff_ids: vec![ann.id],
            start: Some(format!("{}T10:00:00Z", day(20))),
            end: Some(format!("{}T11:00:00Z", day(20))),
            // Shown in Amsterdam: the resource carries a VTIMEZONE (whose own RRULEs are not
            // the event's).
            time_zone: Some("Europe/Amsterdam".into()),
            ..BookingIn::default()
        };
        let booking = app.api(&ann.key).create_booking(&booking).await.unwrap().id;
        app.settle().await;
        let [written] = server.events().await.try_into().unwrap();
        // Written in Amsterdam's local time; the hand-made move is two hours later.
        let local = |hour: u32| {
            let at = day(20).and_hms_opt(hour, 0, 0).unwrap().and_utc();
            at.with_timezone(&chrono_tz::Europe::Amsterdam).format("%Y%m%dT%H%M%S").to_string()
        };
        let (start, end) = (local(10), local(11));
        assert!(written.contains(&start), "{kind:?}: {written}");

        // Ann drags it two hours later in her calendar app.
        let uid = written.split("UID:").nth(1).unwrap().split(['\r', '\n']).next().unwrap();
        let moved = written.replace(&end, &local(13)).replace(&start, &local(12));
        let url = format!("{}{uid}.ics", server.calendar);
        let body = format!("BEGIN:VCALENDAR{moved}END:VCALENDAR\r\n");
        let (status, _) = server.request("PUT", &url, Some(("text/calendar", body))).await;
        assert!(matches!(status, 201 | 204), "{kind:?}: {status}");
        let sync = format!("/api/v1/connections/{}/sync", connection.id);
        assert_eq!(app.call("POST", &sync, &ann.key, None).await.0, 202);
        app.settle().await;

        // The tenant's policy is to restore: the event is back at the booking's time.
        let [restored] = server.events().await.try_into().unwrap();
        assert!(restored.contains(&start), "{kind:?}: {restored}");
        let (_, body) =
            app.call("GET", &format!("/api/v1/bookings/{booking}"), &ann.key, None).await;
        let edit = body["sync"][0]["external_edit"].as_str().unwrap_or_default();
        assert!(edit.contains("restored"), "{kind:?}: {body}");
        app.stop().await;
    }
}

/// A changed series makes the import list the whole calendar again rather than read its
/// changes: the booking Ann moved and the one she deleted in that same while are found in the
/// listing all the same, and put back.
async fn hand_edits_are_put_back_when_a_changed_series_makes_the_calendar_listed_again(db: Db) {
    for kind in [Server::Radicale, Server::Xandikos] {
        let server = CaldavServer::start(kind, "pw-1").await;
        let app = caldav_app(db).await;
        let ann = staff(&app).await;
        let connection = connect_and_check(&app, &ann, &server).await;
        let moved = ann.booking(&app, day(20), "Massage").await;
        let deleted = ann.booking(&app, day(21), "Facial").await;
        app.settle().await;
        let written = server.events().await;
        assert_eq!(written.len(), 2, "{kind:?}: {written:?}");
        let resource = |title: &str| {
            let text = written.iter().find(|e| e.contains(title)).unwrap().clone();
            let uid = text.split("UID:").nth(1).unwrap().split(['\r', '\n']).next().unwrap();
            (format!("{}{uid}.ics", server.calendar), text)
        };

        // In one while: Ann drags the massage an hour later, deletes the facial, and adds a
        // weekly yoga class of her own.
        // Written in Amsterdam's local time (the booking is at 09:00 UTC).
        let local = |hour: u32| {
            let at = day(20).and_hms_opt(hour, 0, 0).unwrap().and_utc();
            at.with_timezone(&chrono_tz::Europe::Amsterdam).format("%Y%m%dT%H%M%S").to_string()
        };
        let (massage_url, massage) = resource("Massage");
        let (start, end) = (local(9), local(10));
        assert!(massage.contains(&start), "{kind:?}: {massage}");
        let later = massage.replace(&end, &local(11)).replace(&start, &local(10));
        let body = format!("BEGIN:VCALENDAR{later}END:VCALENDAR\r\n");
        let (status, _) = server.request("PUT", &massage_url, Some(("text/calendar", body))).await;
        assert!(matches!(status, 201 | 204), "{kind:?}: {status}");
        let (facial_url, _) = resource("Facial");
        let (status, _) = server.request("DELETE", &facial_url, None).await;
        assert!(matches!(status, 200 | 204), "{kind:?}: {status}");
        let yoga = own_event("yoga-1", day(2), "Yoga")
            .replace("SUMMARY:", "RRULE:FREQ=WEEKLY;COUNT=10\r\nSUMMARY:");
        server.put_event("yoga-1.ics", &yoga).await;
        // The next import (not a reconciliation, which would find the deleted event missing
        // too, but not say it was Ann's doing).
        crate::organisations_busy_only::import_now(&app, ann.tenant_id, connection.id).await;

        // Both are back as the bookings say, each booking saying what happened to its event,
        // and the series blocks Ann's time.
        let now = server.events().await;
        let massage = now.iter().find(|e| e.contains("Massage")).expect("the massage");
        assert!(massage.contains(&start), "{kind:?}: {massage}");
        let facial = app.call("GET", &format!("/api/v1/bookings/{deleted}"), &ann.key, None).await;
        assert!(now.iter().any(|e| e.contains("Facial")), "{kind:?}: {facial:?}");
        for (booking, what) in [(moved, "moved"), (deleted, "deleted")] {
            let path = format!("/api/v1/bookings/{booking}");
            let (_, body) = app.call("GET", &path, &ann.key, None).await;
            let edit = body["sync"][0]["external_edit"].as_str().unwrap_or_default();
            assert!(edit.starts_with(what) && edit.contains("restored"), "{kind:?}: {body}");
            assert_eq!(body["sync"][0]["state"], "synced", "{kind:?}: {body}");
        }
        let busy = ann.calendar_busy(&app, day(1), day(30)).await;
        assert!(
            busy.iter().filter(|(_, label)| label == "Yoga").count() >= 4,
            "{kind:?}: {busy:?}"
        );
        app.stop().await;
    }
}

/// An event at "09:00 wherever I am" (a floating time: no zone, no `Z`), as some calendar apps
/// store one, blocks Ann's 09:00 where she is (the business's zone, Amsterdam), not 09:00 UTC.
async fn a_floating_time_in_a_caldav_calendar_is_read_in_the_staff_members_zone(db: Db) {
    for kind in [Server::Radicale, Server::Xandikos] {
        let server = CaldavServer::start(kind, "pw-1").await;
        let floating = own_event("dentist-1", day(10), "Dentist")
            .replace("T090000Z", "T090000")
            .replace("T100000Z", "T100000");
        server.put_event("dentist-1.ics", &floating).await;
        let app = caldav_app(db).await;
        let ann = staff(&app).await;
        connect_and_check(&app, &ann, &server).await;
        app.settle().await;
        let busy = ann.calendar_busy(&app, day(9), day(11)).await;
        let [(start, label)] = busy.try_into().unwrap_or_else(|b| panic!("{kind:?}: {b:?}"));
        assert_eq!(label, "Dentist", "{kind:?}");
        let nine_in_amsterdam = day(10)
            .and_hms_opt(9, 0, 0)
            .unwrap()
            .and_local_timezone(chrono_tz::Europe::Amsterdam)
            .unwrap();
        let start = chrono::DateTime::parse_from_rfc3339(&start).unwrap();
        assert_eq!(start, nine_in_amsterdam, "{kind:?}");
        app.stop().await;
    }
}

/// Ann chose three calendars for her busy times. The first, "Ticker tape", holds series every
/// minute with no end, more work to read than the operator allows; the second, "Old rota", was
/// deleted after she connected. Her dentist's appointment in the third is read all the same, and
/// the connection's error names each calendar not read, with why.
async fn a_calendar_too_heavy_to_read_fails_alone_and_the_others_chosen_are_still_read(db: Db) {
    let server = CaldavServer::start(Server::Radicale, "pw-1").await;
    let named = |name: &str| {
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><C:mkcalendar xmlns:D=\"DAV:\" \
             xmlns:C=\"urn:ietf:params:xml:ns:caldav\"><D:set><D:prop><D:displayname>{name}\
             </D:displayname></D:prop></D:set></C:mkcalendar>"
        );
        Some(("application/xml", xml))
    };
    let heavy = format!("{}/{USER}/heavy/", server.url);
    assert_eq!(server.request("MKCALENDAR", &heavy, named("Ticker tape")).await.0, 201);
    let old = format!("{}/{USER}/old/", server.url);
    assert_eq!(server.request("MKCALENDAR", &old, named("Old rota")).await.0, 201);
    // Each series is read to its first 10,000 occurrences: thirty of them are too many.
    for n in 0..30 {
        let minutely = own_event(&format!("every-minute-{n}"), day(1), "Ticker")
            .replace("SUMMARY:", "RRULE:FREQ=MINUTELY\r\nSUMMARY:");
        let ticker = format!("{heavy}ticker-{n}.ics");
        let put = server.request("PUT", &ticker, Some(("text/calendar", minutely))).await;
        assert_eq!(put.0, 201, "{}", put.1);
    }
    server.put_event("dentist.ics", &own_event("dentist", day(5), "Dentist")).await;
    let app = TestApp::start_public_with(db, |config| {
        config.import.allow_private_networks = true;
        config.import.max_work_steps = 100_000;
    })
    .await;
    let ann = staff(&app).await;
    assert_eq!(ann.connect(&app, &server.url, "pw-1").await.0, 303);
    let [connection] = ann.connections(&app).await.try_into().unwrap();
    // Deleted after Kalends listed it, before any import reads it.
    let deleted = server.request("DELETE", &old, None).await;
    assert!(matches!(deleted.0, 200 | 204), "{}", deleted.1);
    let chosen = json!({"busy_calendar_ids": [heavy, old, server.calendar]});
    app.api(&ann.key).patch_connection(connection.id, chosen).await.unwrap();
    let sync = format!("/api/v1/connections/{}/sync", connection.id);
    assert_eq!(app.call("POST", &sync, &ann.key, None).await.0, 202);
    app.settle().await;
    let busy = ann.calendar_busy(&app, day(0), day(30)).await;
    let count = |label: &str| busy.iter().filter(|(_, l)| l == label).count();
    assert_eq!((count("Dentist"), count("Ticker")), (1, 0), "only the third calendar was read");
    let [connection] = ann.connections(&app).await.try_into().unwrap();
    let error = connection.last_error.unwrap_or_default();
    assert!(error.starts_with("2 calendars could not be read: \"Ticker tape\": "), "{error}");
    let (heavy, old) = error.split_once("; \"Old rota\": ").expect(&error);
    assert!(heavy.contains("more work to read than Kalends allows"), "{error}");
    assert!(old.contains("not found"), "{error}");
    app.stop().await;
}

/// Headless Chromium (Python selenium, `tests/peers/browser_connect_caldav.py`) connects a
/// Radicale calendar through the settings form: a wrong password first (the message beside the
/// form, the user name kept, the password not), then the right one. The screenshot lands in
/// `target/screenshots/settings-caldav.png`.
async fn a_browser_connects_a_caldav_calendar_through_the_settings_form() {
    let chromium = Chromium::find();
    let server = CaldavServer::start(Server::Radicale, "pw-1").await;
    let app = caldav_app(Db::Sqlite).await;
    let (_, key) = app.tenant().await;
    let new = StaffIn { name: "Ann Lee".into(), ..StaffIn::default() };
    let staff = app.api(&key).create_staff(&new).await.unwrap();
    let link = app.api(&key).settings_link(staff.id).await.unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let screenshot = root.join("target/screenshots/settings-caldav.png");
    let args = [
        link.url.as_ref(),
        server.url.as_ref(),
        USER.as_ref(),
        "pw-1".as_ref(),
        screenshot.as_os_str(),
    ];
    let result = chromium.run("browser_connect_caldav.py", args).await;
    assert_eq!(result["error_shown"], true, "{result}");
    assert_eq!(result["username_kept"], true, "{result}");
    assert_eq!(result["password_kept"], false, "{result}");
    assert_eq!(result["connections"], 1, "{result}");
    assert!(std::fs::metadata(&screenshot).unwrap().len() > 10_000, "a real screenshot was saved");
    app.stop().await;
}
