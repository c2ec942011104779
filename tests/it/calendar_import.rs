//! Busy times imported from staff members' connected Google and Microsoft calendars, through the
//! real crates against the in-process sandbox: free, declined and Kalends' own events left out;
//! edits and deletions followed; an expired sync token or delta link answered by a full sync that
//! loses and duplicates nothing; a booking over an imported busy time raised as a conflict.

use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};
use kalends::api::bookings::BookingIn;
use kalends::api::staff::StaffIn;
use kalends_core::conflicts::Severity;
use kalends_core::job::Job;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::connect::{Browser, connect};
use crate::helpers::{Api, Db, TestApp, on_both_databases};

on_both_databases!(
    google_busy_times_are_imported_followed_and_survive_an_expired_sync_token,
    microsoft_busy_times_are_imported_followed_and_survive_an_expired_delta_link,
    a_workspace_calendars_busy_times_are_imported_followed_and_survive_an_expired_sync_token,
    a_new_connection_is_imported_at_once_and_a_booking_over_a_busy_time_is_a_conflict,
    a_dead_grant_parks_the_import_and_a_reconnect_imports_at_once,
    a_busy_time_put_in_an_appointments_buffer_is_flagged_at_the_import_and_cleared_when_moved,
    google_appointments_two_years_ahead_are_busy_times_and_followed,
    microsoft_appointments_two_years_ahead_are_busy_times_and_followed,
    a_booking_beyond_the_outlook_import_window_is_written_once_and_left_alone,
    a_busy_time_whose_title_holds_control_characters_is_imported_without_them,
    a_microsoft_365_calendars_busy_times_are_imported_followed_and_survive_an_expired_delta_link,
);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Google,
    Microsoft,
    /// A Google calendar an organisation-wide connection covers (the sandbox's Workspace).
    Workspace,
    /// A Microsoft calendar an organisation-wide connection covers (the sandbox's tenant).
    Microsoft365,
}

/// A connected staff member of a fresh tenant.
struct Staff {
    kind: Kind,
    email: &'static str,
    key: String,
    tenant_id: Uuid,
    staff_id: Uuid,
    connection_id: Uuid,
}

impl Staff {
    async fn connect(app: &TestApp, kind: Kind, email: &'static str) -> Staff {
        let (tenant, key) = app.tenant().await;
        let api = app.api(&key);
        let ann = StaffIn { name: "Ann".into(), email: Some(email.into()), ..StaffIn::default() };
        let staff_id = api.create_staff(&ann).await.unwrap().id;
        if kind == Kind::Workspace {
            crate::organisations::cover_one(app, &key, email).await;
        } else if kind == Kind::Microsoft365 {
            crate::organisations_microsoft::cover_one(app, &key, email).await;
        } else {
            let browser = Browser::new();
            browser.get(&api.settings_link(staff_id).await.unwrap().url).await;
            let provider = if kind == Kind::Google { "google" } else { "microsoft" };
            let page = connect(app, &browser, provider, email, "allow").await;
            assert!(page.url.contains("notice=connected"), "{}", page.url);
        }
        let connections = app.store.list_connections(tenant.id, None).await.unwrap();
        let staff = Staff {
            kind,
            email,
            key,
            tenant_id: tenant.id,
            staff_id,
            connection_id: connections[0].id,
        };
        // Connecting imports at once: let that import finish, so what a test does next is not
        // raced by it.
        app.settle().await;
        assert!(staff.last_sync_at(app).await.is_some(), "connecting imported");
        staff
    }

    fn api<'a>(&self, app: &'a TestApp) -> Api<'a> {
        app.api(&self.key)
    }

    /// When the connection's last import finished.
    async fn last_sync_at(&self, app: &TestApp) -> Option<DateTime<Utc>> {
        let connection = app.store.connection(self.tenant_id, self.connection_id).await;
        connection.unwrap().last_sync_at
    }

    fn events_path(&self) -> String {
        match self.kind {
            Kind::Google | Kind::Workspace => {
                format!("/sandbox/_control/google/calendars/{0}/{0}/events", self.email)
            }
            Kind::Microsoft | Kind::Microsoft365 => {
                format!("/sandbox/_control/microsoft/users/{}/events", self.email)
            }
        }
    }

    /// An event as the user makes it in their calendar app; `extra` is merged in as the
    /// provider spells it.
    fn event(&self, title: &str, start: DateTime<Utc>, hours: i64, extra: Value) -> Value {
        let end = start + chrono::Duration::hours(hours);
        let mut body = match self.kind {
            Kind::Google | Kind::Workspace => json!({"summary": title,
                "start": {"dateTime": start.to_rfc3339()}, "end": {"dateTime": end.to_rfc3339()}}),
            Kind::Microsoft | Kind::Microsoft365 => {
                let local = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S").to_string();
                json!({"subject": title, "start": {"dateTime": local(start), "timeZone": "UTC"},
                    "end": {"dateTime": local(end), "timeZone": "UTC"}})
            }
        };
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    }

    fn free(&self) -> Value {
        match self.kind {
            Kind::Google | Kind::Workspace => json!({"transparency": "transparent"}),
            Kind::Microsoft | Kind::Microsoft365 => json!({"showAs": "free"}),
        }
    }

    fn declined(&self) -> Value {
        match self.kind {
            Kind::Google | Kind::Workspace => json!({"attendees": [
                {"email": "boss@example.com", "organizer": true, "responseStatus": "accepted"},
                {"email": self.email, "self": true, "responseStatus": "declined"}]}),
            Kind::Microsoft | Kind::Microsoft365 => {
                json!({"responseStatus": {"response": "declined"}})
            }
        }
    }

    async fn seed(&self, app: &TestApp, body: Value) -> String {
        let response =
            app.sandbox().post(app.url(&self.events_path())).json(&body).send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.text().await.unwrap());
        let event: Value = response.json().await.unwrap();
        event["id"].as_str().unwrap().to_owned()
    }

    async fn edit(&self, app: &TestApp, id: &str, body: Value) {
        let url = app.url(&format!("{}/{id}", self.events_path()));
        let response = app.sandbox().patch(url).json(&body).send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.text().await.unwrap());
    }

    async fn delete(&self, app: &TestApp, id: &str) {
        let url = app.url(&format!("{}/{id}", self.events_path()));
        let response = app.sandbox().delete(url).send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.text().await.unwrap());
    }

    async fn invalidate_cursors(&self, app: &TestApp) {
        let path = match self.kind {
            Kind::Google | Kind::Workspace => "/sandbox/_control/google/invalidate-sync-tokens",
            Kind::Microsoft | Kind::Microsoft365 => {
                "/sandbox/_control/microsoft/invalidate-delta-tokens"
            }
        };
        let response = app.sandbox().post(app.url(path)).send().await.unwrap();
        assert!(response.status().is_success());
    }

    /// Runs one import to completion (the connection's `last_sync_at` moves).
    async fn import_now(&self, app: &TestApp) {
        let before = self.last_sync_at(app).await;
        let job = Job::ImportAvailability {
            tenant_id: self.tenant_id,
            connection_id: self.connection_id,
        };
        app.store.enqueue(&job).await.unwrap();
        app.settle().await;
        let now = self.last_sync_at(app).await;
        assert!(now.is_some() && now != before, "the import ran: {before:?} -> {now:?}");
    }

    /// The staff member's busy items over the next 30 days.
    async fn busy(&self, app: &TestApp) -> Vec<Value> {
        self.busy_between(app, 0, 30).await
    }

    /// The staff member's busy items from `from` to `to` days ahead.
    async fn busy_between(&self, app: &TestApp, from: i64, to: i64) -> Vec<Value> {
        let from = day(from).format("%Y-%m-%dT%H:%M:%SZ");
        let to = day(to).format("%Y-%m-%dT%H:%M:%SZ");
        let path = format!("/api/v1/availability?staff_id={}&from={from}&to={to}", self.staff_id);
        let body: Value = self.api(app).send("GET", &path, None, 200).await.unwrap();
        body["busy"].as_array().unwrap().clone()
    }

    /// Labels and UTC starts of the busy times imported from the calendar, sorted.
    async fn calendar_busy(&self, app: &TestApp) -> Vec<(String, DateTime<Utc>)> {
        self.calendar_busy_between(app, 0, 30).await
    }

    /// The same from `from` to `to` days ahead.
    async fn calendar_busy_between(
        &self,
        app: &TestApp,
        from: i64,
        to: i64,
    ) -> Vec<(String, DateTime<Utc>)> {
        let mut found: Vec<(String, DateTime<Utc>)> = self
            .busy_between(app, from, to)
            .await
            .iter()
            .filter(|b| b["source"] == "calendar")
            .map(|b| {
                let start = DateTime::parse_from_rfc3339(b["start"].as_str().unwrap()).unwrap();
                (b["label"].as_str().unwrap().to_owned(), start.with_timezone(&Utc))
            })
            .collect();
        found.sort();
        found
    }

    /// Creates a booking of this staff member; once the jobs ran, it is in their calendar.
    async fn booking(&self, app: &TestApp, title: &str, start: DateTime<Utc>) -> Uuid {
        let end = start + chrono::Duration::hours(1);
        let body = BookingIn {
            title: title.into(),
            staff_ids: vec![self.staff_id],
            start: Some(start.to_rfc3339()),
            end: Some(end.to_rfc3339()),
            time_zone: Some("Europe/Amsterdam".into()),
            ..BookingIn::default()
        };
        let api = self.api(app);
        let id = api.create_booking(&body).await.unwrap().id;
        app.settle().await;
        let sync = api.booking(id).await.unwrap().sync;
        assert!(sync.len() == 1 && sync[0].state == "synced", "{sync:?}");
        id
    }
}

/// Midnight UTC `n` days from today.
pub(crate) fn day(n: i64) -> DateTime<Utc> {
    (Utc::now() + chrono::Duration::days(n)).date_naive().and_time(NaiveTime::MIN).and_utc()
}

/// [`day`] `n`, plus `hour` hours.
pub(crate) fn at(n: i64, hour: i64) -> DateTime<Utc> {
    day(n) + chrono::Duration::hours(hour)
}

/// An app whose scheduler stays out of the way: imports run on connect and when a test asks.
async fn quiet_app(db: Db) -> TestApp {
    TestApp::start_public_with(db, |config| config.import.scheduler_interval_secs = 300).await
}

async fn google_busy_times_are_imported_followed_and_survive_an_expired_sync_token(db: Db) {
    let app = quiet_app(db).await;
    let staff = Staff::connect(&app, Kind::Google, "ann@example.com").await;
    busy_times_are_imported_and_followed(&app, &staff).await;
    app.stop().await;
}

async fn microsoft_busy_times_are_imported_followed_and_survive_an_expired_delta_link(db: Db) {
    let app = quiet_app(db).await;
    let staff = Staff::connect(&app, Kind::Microsoft, "bo@example.com").await;
    busy_times_are_imported_and_followed(&app, &staff).await;
    app.stop().await;
}

async fn a_workspace_calendars_busy_times_are_imported_followed_and_survive_an_expired_sync_token(
    db: Db,
) {
    let app = quiet_app(db).await;
    let staff = Staff::connect(&app, Kind::Workspace, "bo@salon.example").await;
    busy_times_are_imported_and_followed(&app, &staff).await;
    app.stop().await;
}

async fn a_microsoft_365_calendars_busy_times_are_imported_followed_and_survive_an_expired_delta_link(
    db: Db,
) {
    let app = quiet_app(db).await;
    let staff = Staff::connect(&app, Kind::Microsoft365, "bo@salon.example").await;
    busy_times_are_imported_and_followed(&app, &staff).await;
    app.stop().await;
}

/// The story every kind of connection tells.
async fn busy_times_are_imported_and_followed(app: &TestApp, staff: &Staff) {
    let dentist = staff.seed(app, staff.event("Dentist", at(2, 9), 1, json!({}))).await;
    let call = staff.seed(app, staff.event("Call", at(3, 9), 1, json!({}))).await;
    staff.seed(app, staff.event("Lunch", at(2, 12), 1, staff.free())).await;
    staff.seed(app, staff.event("Board meeting", at(4, 9), 2, staff.declined())).await;
    // Kalends' own event for a booking lands in the same calendar.
    staff.booking(app, "Massage", at(5, 14)).await;

    staff.import_now(app).await;
    assert_eq!(
        staff.calendar_busy(app).await,
        vec![("Call".to_owned(), at(3, 9)), ("Dentist".to_owned(), at(2, 9))],
        "free, declined and Kalends' own events are not busy"
    );
    let busy = staff.busy(app).await;
    let massage: Vec<&Value> = busy.iter().filter(|b| b["label"] == "Massage").collect();
    assert_eq!(massage.len(), 1, "the booking shows once, as a booking: {busy:?}");
    assert_eq!(massage[0]["source"], "booking");

    // Edited and deleted at the provider, one added: the next import follows.
    staff.edit(app, &dentist, staff.event("Dentist", at(2, 11), 1, json!({}))).await;
    staff.delete(app, &call).await;
    let gym = staff.seed(app, staff.event("Gym", at(6, 7), 1, json!({}))).await;
    staff.import_now(app).await;
    assert_eq!(
        staff.calendar_busy(app).await,
        vec![("Dentist".to_owned(), at(2, 11)), ("Gym".to_owned(), at(6, 7))]
    );

    // The sync token / delta link expires while more changes happen: the next import lists the
    // window in full; nothing is lost, nothing doubled, the deletion is not missed.
    staff.invalidate_cursors(app).await;
    staff.delete(app, &gym).await;
    staff.seed(app, staff.event("Yoga", at(7, 18), 1, json!({}))).await;
    staff.import_now(app).await;
    let expected = vec![("Dentist".to_owned(), at(2, 11)), ("Yoga".to_owned(), at(7, 18))];
    assert_eq!(staff.calendar_busy(app).await, expected);

    // And incremental imports carry on from the new cursor.
    staff.edit(app, &dentist, json!({"location": "Room 4"})).await;
    staff.import_now(app).await;
    assert_eq!(staff.calendar_busy(app).await, expected);
}

async fn a_new_connection_is_imported_at_once_and_a_booking_over_a_busy_time_is_a_conflict(db: Db) {
    // The scheduler passes once as the app starts, then stays out of the way, and nobody asks
    // for an import: connecting imports.
    let app = quiet_app(db).await;
    // Cy's calendar already holds an appointment when Cy connects it.
    let dentist = json!({"summary": "Dentist", "start": {"dateTime": at(2, 9).to_rfc3339()},
        "end": {"dateTime": at(2, 11).to_rfc3339()}});
    let seeded = app
        .sandbox()
        .post(app.url("/sandbox/_control/google/calendars/cy@example.com/cy@example.com/events"))
        .json(&dentist)
        .send()
        .await
        .unwrap();
    assert!(seeded.status().is_success());
    let staff = Staff::connect(&app, Kind::Google, "cy@example.com").await;
    // The busy times are stored, and the connection's `last_sync_at` has moved.
    let busy = staff.calendar_busy(&app).await;
    assert!(staff.last_sync_at(&app).await.is_some());
    assert_eq!(busy, vec![("Dentist".to_owned(), at(2, 9))]);
    // Its reconciliation comes due every six hours and is claimed once across workers. The
    // scheduler's first pass runs as the app starts and, late under load, may have claimed
    // the first: six hours on, it is due once more either way.
    let every = chrono::Duration::hours(6);
    let later = Utc::now() + every + chrono::Duration::minutes(1);
    assert_eq!(app.store.claim_due_reconciles(later, every, 10).await.unwrap(), 1);
    assert_eq!(app.store.claim_due_reconciles(later, every, 10).await.unwrap(), 0);

    let booking = staff.booking(&app, "Massage", at(2, 10)).await;
    let api = staff.api(&app);
    let open = api.conflicts("open").await.unwrap();
    let conflict = open.first().expect("an open conflict");
    assert_eq!(conflict.severity, Severity::Medium);
    assert_eq!(conflict.staff_id, Some(staff.staff_id));
    let mut kinds: Vec<&str> = conflict.items.iter().map(|i| i.kind.as_str()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["booking", "calendar"]);
    assert!(conflict.items.iter().any(|i| i.id == booking));
    assert_eq!(conflict.start, at(2, 10));

    // Cy disconnects the calendar: its busy times stop counting and the conflict resolves.
    api.disconnect(staff.connection_id).await.unwrap();
    assert!(staff.calendar_busy(&app).await.is_empty());
    let open = api.conflicts("open").await.unwrap();
    assert!(open.is_empty(), "{open:?}");
    app.stop().await;
}

/// Di keeps half an hour free after each appointment. A massage is booked from 10:00 to 11:00;
/// Di then puts a call at 11:15 in her own calendar. The import flags the massage at once (a
/// rule conflict: no overlap, the times do not touch); Di moves the call to the afternoon, and
/// the next import resolves it. So does moving it two months on (far beyond any buffer's reach
/// of where it went), deleting it, and moving it away while the calendar is listed in full.
async fn a_busy_time_put_in_an_appointments_buffer_is_flagged_at_the_import_and_cleared_when_moved(
    db: Db,
) {
    let app = quiet_app(db).await;
    let staff = Staff::connect(&app, Kind::Google, "di@example.com").await;
    let api = staff.api(&app);
    let rules = json!({"buffer_after_minutes": 30});
    let path = format!("/api/v1/staff/{}/rules", staff.staff_id);
    api.send::<Value>("PUT", &path, Some(rules), 200).await.unwrap();
    let massage = staff.booking(&app, "Massage", at(3, 10)).await;
    let quarter_past = at(3, 11) + chrono::Duration::minutes(15);
    let call = staff.seed(&app, staff.event("Call", quarter_past, 1, json!({}))).await;
    staff.import_now(&app).await;

    let open = api.conflicts("open").await.unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(
        (open[0].kind.as_str(), open[0].rule.as_deref()),
        ("rule", Some("buffer_after_minutes"))
    );
    assert!(open[0].items.iter().any(|item| item.id == massage), "{open:?}");
    staff.edit(&app, &call, staff.event("Call", at(3, 15), 1, json!({}))).await;
    staff.import_now(&app).await;
    assert!(api.conflicts("open").await.unwrap().is_empty());

    let in_buffer = || staff.event("Call", quarter_past, 1, json!({}));
    let two_months_on = || staff.event("Call", at(63, 15), 1, json!({}));
    let open_after_import = async || {
        staff.import_now(&app).await;
        api.conflicts("open").await.unwrap().len()
    };
    staff.edit(&app, &call, in_buffer()).await;
    assert_eq!(open_after_import().await, 1, "the call is back in the buffer");
    staff.edit(&app, &call, two_months_on()).await;
    assert_eq!(open_after_import().await, 0, "the call moved two months on");
    staff.edit(&app, &call, in_buffer()).await;
    assert_eq!(open_after_import().await, 1, "the call is back in the buffer");
    staff.delete(&app, &call).await;
    assert_eq!(open_after_import().await, 0, "the call deleted");
    let call = staff.seed(&app, in_buffer()).await;
    assert_eq!(open_after_import().await, 1, "a new call in the buffer");
    staff.invalidate_cursors(&app).await;
    staff.edit(&app, &call, two_months_on()).await;
    assert_eq!(open_after_import().await, 0, "the call moved away, the calendar listed in full");
    app.stop().await;
}

async fn a_dead_grant_parks_the_import_and_a_reconnect_imports_at_once(db: Db) {
    let app = quiet_app(db).await;
    let staff = Staff::connect(&app, Kind::Microsoft, "di@example.com").await;
    staff.seed(&app, staff.event("Dentist", at(2, 9), 1, json!({}))).await;
    staff.import_now(&app).await;
    let imported = staff.calendar_busy(&app).await;
    assert_eq!(imported.len(), 1);

    // Di removes Kalends' access at Microsoft; the next import finds the grant dead.
    let sandbox = app.sandbox();
    let account = json!({"provider": "microsoft", "email": staff.email});
    sandbox.post(app.url("/sandbox/_control/revoke")).json(&account).send().await.unwrap();
    sandbox.post(app.url("/sandbox/_control/expire-tokens")).json(&json!({})).send().await.unwrap();
    let job =
        Job::ImportAvailability { tenant_id: staff.tenant_id, connection_id: staff.connection_id };
    app.store.enqueue(&job).await.unwrap();
    app.settle().await;
    let api = staff.api(&app);
    let connection = api.connection(staff.connection_id).await.unwrap();
    assert_eq!(connection.status, "needs_reauth", "{connection:?}");
    // Parked, not failed: the job succeeded, and the last known busy times still count.
    let failures = app.store.job_failures(100).await.unwrap();
    assert!(failures.iter().all(|f| f.kind != "import_availability"), "{failures:?}");
    assert_eq!(staff.calendar_busy(&app).await, imported);
    let later = Utc::now() + chrono::Duration::days(1);
    let every = Duration::from_secs(900);
    assert_eq!(app.store.claim_due_calendar_imports(later, every, 10).await.unwrap(), 0);

    // Reconnecting imports at once (Di's new appointment arrives with no scheduler pass), and
    // the scheduler does not run it a second time.
    staff.seed(&app, staff.event("Physio", at(3, 9), 1, json!({}))).await;
    let browser = Browser::new();
    browser.get(&api.settings_link(staff.staff_id).await.unwrap().url).await;
    connect(&app, &browser, "microsoft", staff.email, "allow").await;
    app.settle().await;
    let busy = staff.calendar_busy(&app).await;
    assert_eq!(busy.len(), 2, "{busy:?}");
    assert_eq!(app.store.claim_due_calendar_imports(Utc::now(), every, 10).await.unwrap(), 0);
    app.stop().await;
}

async fn google_appointments_two_years_ahead_are_busy_times_and_followed(db: Db) {
    let app = quiet_app(db).await;
    let staff = Staff::connect(&app, Kind::Google, "eve@example.com").await;
    far_appointments_are_busy_times_and_followed(&app, &staff).await;
    // A series starting that far out is not one long appointment: series count within the
    // 18 months their occurrences are expanded over, and no further.
    let weekly = json!({"recurrence": ["RRULE:FREQ=WEEKLY"]});
    staff.seed(&app, staff.event("Choir", at(700, 19), 2, weekly)).await;
    staff.import_now(&app).await;
    assert_eq!(staff.calendar_busy_between(&app, 690, 710).await, vec![]);
    app.stop().await;
}

async fn microsoft_appointments_two_years_ahead_are_busy_times_and_followed(db: Db) {
    let app = quiet_app(db).await;
    let staff = Staff::connect(&app, Kind::Microsoft, "fay@example.com").await;
    far_appointments_are_busy_times_and_followed(&app, &staff).await;
    app.stop().await;
}

/// A holiday booked 22 months ahead (VRBO and Booking.com sell that far) blocks the staff
/// member's time like one next week: imported on the first listing and on incremental imports
/// alike, moved and removed with the calendar.
async fn far_appointments_are_busy_times_and_followed(app: &TestApp, staff: &Staff) {
    let trip = staff.seed(app, staff.event("Trip", at(670, 8), 10, json!({}))).await;
    staff.seed(app, staff.event("Dentist", at(2, 9), 1, json!({}))).await;
    staff.import_now(app).await;
    assert_eq!(staff.calendar_busy_between(app, 660, 680).await, [("Trip".to_owned(), at(670, 8))]);

    // Listed in full again (the cursor expired): still there, once.
    staff.invalidate_cursors(app).await;
    staff.import_now(app).await;
    assert_eq!(staff.calendar_busy_between(app, 660, 680).await, [("Trip".to_owned(), at(670, 8))]);

    // Moved, then another added and the first deleted: each incremental import follows.
    staff.edit(app, &trip, staff.event("Trip", at(675, 8), 10, json!({}))).await;
    staff.import_now(app).await;
    assert_eq!(staff.calendar_busy_between(app, 660, 680).await, [("Trip".to_owned(), at(675, 8))]);
    staff.seed(app, staff.event("Fair", at(720, 9), 8, json!({}))).await;
    staff.delete(app, &trip).await;
    staff.import_now(app).await;
    assert_eq!(staff.calendar_busy_between(app, 660, 680).await, vec![]);
    assert_eq!(staff.calendar_busy_between(app, 715, 725).await, [("Fair".to_owned(), at(720, 9))]);
    assert_eq!(
        staff.calendar_busy(app).await,
        [("Dentist".to_owned(), at(2, 9))],
        "near ones stay"
    );
}

async fn a_booking_beyond_the_outlook_import_window_is_written_once_and_left_alone(db: Db) {
    // Graph's delta reports an event outside the window it lists as removed, which reads like a
    // staff member deleting it: taken as one, Kalends restored the event, which changed the
    // calendar, which asked for another import, which "removed" it again, for ever.
    let app = quiet_app(db).await;
    let staff = Staff::connect(&app, Kind::Microsoft, "gil@example.com").await;
    let far = staff.booking(&app, "Retreat", at(700, 9)).await;
    for _ in 0..3 {
        staff.import_now(&app).await;
    }
    let booking = staff.api(&app).booking(far).await.unwrap();
    let sync = &booking.sync[0];
    assert_eq!(sync.state, "synced", "{booking:?}");
    assert_eq!(sync.external_edit, None, "taken for a deletion: {booking:?}");
    app.stop().await;
}

/// PostgreSQL's text refuses NUL, and no control character is readable: an event titled with
/// them (a calendar app's bug, or a hostile account) is imported, its title without them, on
/// both databases, and its calendar's other busy times with it.
async fn a_busy_time_whose_title_holds_control_characters_is_imported_without_them(db: Db) {
    let app = quiet_app(db).await;
    for (kind, email) in [(Kind::Google, "ann@example.com"), (Kind::Microsoft, "bo@example.com")] {
        let staff = Staff::connect(&app, kind, email).await;
        staff.seed(&app, staff.event("Den\u{0}tist\u{7}", at(2, 9), 1, json!({}))).await;
        staff.seed(&app, staff.event("Gym", at(3, 9), 1, json!({}))).await;
        staff.import_now(&app).await;
        let expected = vec![("Dentist".to_owned(), at(2, 9)), ("Gym".to_owned(), at(3, 9))];
        assert_eq!(staff.calendar_busy(&app).await, expected);
    }
    app.stop().await;
}
