//! The busy-times-only tier of organisation-wide connections, told once for each provider: the
//! administrator grants no more than free/busy (Google's `calendar.freebusy` scope; Microsoft's
//! `Calendars.Read`), the covered calendars' busy times are read as free/busy and followed, a
//! booking over one is a conflict, and nothing is ever written into those calendars.

use chrono::{DateTime, Utc};
use kalends::api::bookings::BookingIn;
use kalends_core::job::Job;
use serde_json::{Value, json};
use uuid::Uuid;

use std::time::Duration;

use crate::calendar_import::{at, day};
use crate::helpers::{Db, TestApp, eventually, fields, on_both_databases};
use crate::organisations::{self as google, members};
use crate::organisations_microsoft as microsoft;

on_both_databases!(
    a_busy_times_only_workspace_reads_free_busy_and_writes_nothing_into_its_calendars,
    a_busy_times_only_microsoft_365_organisation_reads_free_busy_and_writes_nothing,
    a_busy_times_only_workspace_connected_again_in_full_writes_the_bookings_into_its_calendars,
    a_workspace_changes_tier_in_place_and_its_calendars_take_bookings_then_give_them_back,
    a_microsoft_365_organisation_changes_tier_in_place_and_its_calendars_follow,
    a_calendar_the_staff_member_connected_themselves_stays_theirs_under_a_busy_times_only_organisation,
    a_change_of_tier_stopped_halfway_is_repaired_by_the_next_directory_read,
    a_calendar_in_error_moved_into_busy_times_only_gives_kalends_events_back,
    a_workspace_moving_into_busy_times_only_keeps_the_access_that_removes_kalends_events,
    a_microsoft_365_organisation_moving_into_busy_times_only_keeps_the_access_that_removes_kalends_events,
    a_covered_calendar_the_staff_member_connects_themselves_becomes_theirs,
);

/// The covered user: the only member of the unit (Google) or group (Microsoft) connected.
const BO: &str = "bo@salon.example";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Provider {
    Google,
    Microsoft,
}

impl Provider {
    /// Sets up the sandbox's organisation with the narrower grant only, and connects it for
    /// Bo alone, busy times only.
    async fn connect(self, app: &TestApp, key: &str) -> Value {
        let mut body = match self {
            Self::Google => {
                google::workspace(app, &[google::FREE_BUSY_SCOPE, google::DIRECTORY_SCOPE]).await;
                let key = google::json_key(google::KEY);
                google::google_body(key, "admin@salon.example", Some("/Staff/Juniors"))
            }
            Self::Microsoft => {
                microsoft::tenant(
                    app,
                    &["Calendars.Read", "User.Read.All", "GroupMember.Read.All"],
                    None,
                )
                .await;
                microsoft::group(app, &[BO]).await;
                microsoft::body(Some(microsoft::GROUP))
            }
        };
        body["busy_only"] = json!(true);
        let (status, answer) =
            app.call("POST", "/api/v1/organisation-connections", key, Some(body)).await;
        assert_eq!(status, 201, "{answer}");
        answer
    }

    fn events_path(self) -> String {
        match self {
            Self::Google => format!("/sandbox/_control/google/calendars/{BO}/{BO}/events"),
            Self::Microsoft => format!("/sandbox/_control/microsoft/users/{BO}/events"),
        }
    }

    /// Makes an appointment in Bo's calendar, as his calendar app would; its id.
    async fn seed(self, app: &TestApp, title: &str, start: DateTime<Utc>, hours: i64) -> String {
        let end = start + chrono::Duration::hours(hours);
        let body = match self {
            Self::Google => json!({"summary": title,
                "start": {"dateTime": start.to_rfc3339()}, "end": {"dateTime": end.to_rfc3339()}}),
            Self::Microsoft => {
                let local = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S").to_string();
                json!({"subject": title, "start": {"dateTime": local(start), "timeZone": "UTC"},
                    "end": {"dateTime": local(end), "timeZone": "UTC"}})
            }
        };
        let url = app.url(&self.events_path());
        let response = app.sandbox().post(url).json(&body).send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.text().await.unwrap());
        let event: Value = response.json().await.unwrap();
        event["id"].as_str().unwrap().to_owned()
    }

    /// The administrator grants the calendar access the full tier needs, keeping free/busy.
    async fn grant_everything(self, app: &TestApp) {
        match self {
            Self::Google => {
                let mut scopes = google::all_scopes();
                scopes.push(google::FREE_BUSY_SCOPE);
                google::delegate(app, &scopes).await;
            }
            Self::Microsoft => microsoft::register(app, microsoft::EVERYTHING, None).await,
        }
    }

    /// The administrator takes the calendar access back, leaving free/busy.
    async fn grant_busy_times_only(self, app: &TestApp) {
        match self {
            Self::Google => {
                google::delegate(app, &[google::FREE_BUSY_SCOPE, google::DIRECTORY_SCOPE]).await;
            }
            Self::Microsoft => {
                let roles = ["Calendars.Read", "User.Read.All", "GroupMember.Read.All"];
                microsoft::register(app, &roles, None).await;
            }
        }
    }

    async fn delete(self, app: &TestApp, id: &str) {
        let url = app.url(&format!("{}/{id}", self.events_path()));
        assert!(app.sandbox().delete(url).send().await.unwrap().status().is_success());
    }

    /// Connects the organisation for Bo, moves it to the tier that writes bookings, and books
    /// him once; once his calendar holds the booking, the organisation connection's path.
    async fn writing_with_one_booking(self, app: &TestApp, key: &str) -> String {
        let organisation = self.connect(app, key).await;
        let id: Uuid = organisation["id"].as_str().unwrap().parse().unwrap();
        self.grant_everything(app).await;
        let path = format!("/api/v1/organisation-connections/{id}");
        let (status, answer) =
            app.call("PATCH", &path, key, Some(json!({"busy_only": false}))).await;
        assert_eq!(status, 200, "{answer}");
        let bo = members(app, key, id).await.items[0].staff_id;
        booking(app, key, bo, at(3, 14)).await;
        self.events_become(app, 1).await;
        path
    }

    /// Waits until Bo's calendar holds `n` live events.
    async fn events_become(self, app: &TestApp, n: usize) {
        eventually(Duration::from_secs(30), || async {
            (self.events(app).await == n).then_some(())
        })
        .await;
    }

    /// How many live events Bo's calendar holds.
    async fn events(self, app: &TestApp) -> usize {
        let url = app.url(&self.events_path());
        let events: Vec<Value> = app.sandbox().get(url).send().await.unwrap().json().await.unwrap();
        events.iter().filter(|e| e["status"] != "cancelled" && e["deleted"] != true).count()
    }
}

async fn a_busy_times_only_workspace_reads_free_busy_and_writes_nothing_into_its_calendars(db: Db) {
    busy_times_only(db, Provider::Google).await;
}

async fn a_busy_times_only_microsoft_365_organisation_reads_free_busy_and_writes_nothing(db: Db) {
    busy_times_only(db, Provider::Microsoft).await;
}

/// The story both providers tell.
async fn busy_times_only(db: Db, provider: Provider) {
    // Imports run on connecting and when the story asks: the scheduler stays out of the way.
    let app =
        TestApp::start_public_with(db, |config| config.import.scheduler_interval_secs = 300).await;
    let (tenant, key) = app.tenant().await;
    let api = app.api(&key);
    // Bo already has a dentist's appointment when his organisation is connected.
    let dentist = provider.seed(&app, "Dentist", at(2, 9), 1).await;
    let organisation = provider.connect(&app, &key).await;
    assert_eq!(
        (&organisation["busy_only"], &organisation["members_count"]),
        (&json!(true), &json!(1))
    );
    let id: Uuid = organisation["id"].as_str().unwrap().parse().unwrap();
    let bo = members(&app, &key, id).await.items[0].staff_id;
    app.settle().await;

    // His covered calendar takes no bookings: never the default, no destination, and it cannot
    // be made either.
    let connections = api.connections().await.unwrap();
    let connection = &connections[0];
    assert!(connection.busy_only && !connection.is_default, "{connection:?}");
    assert_eq!(connection.destination_calendar_id, None);
    let refused = api.patch_connection(connection.id, json!({"is_default": true})).await;
    assert_eq!(fields(&refused.unwrap_err()), ["is_default"]);

    // His settings page says so.
    let link = api.settings_link(bo).await.unwrap();
    let page = crate::connect::Browser::new().get(&link.url).await;
    assert!(page.body.contains("Busy times only: Kalends reads when you are busy"));

    // Connecting read his free/busy: the appointment is a busy time, without its title.
    assert_eq!(calendar_busy(&app, &key, bo).await, [("Busy".to_owned(), at(2, 9), at(2, 10))]);

    // A booking of his is kept in Kalends only; one over the appointment is a conflict.
    let booking = booking(&app, &key, bo, at(3, 14)).await;
    assert!(api.booking(booking).await.unwrap().sync.is_empty(), "no calendar to write into");
    let clash = self::booking(&app, &key, bo, at(2, 9)).await;
    let open = api.conflicts("open").await.unwrap();
    assert!(open.iter().any(|c| c.items.iter().any(|i| i.id == clash)), "{open:?}");
    assert_eq!(provider.events(&app).await, 1, "nothing written into his calendar");

    // Changes in his calendar are followed: on Microsoft at once (Graph notifies the
    // subscription `Calendars.Read` allows), on Google at the next scheduled import (free/busy
    // cannot be watched); the conflict resolves.
    provider.delete(&app, &dentist).await;
    provider.seed(&app, "Gym", at(4, 7), 2).await;
    let gym = [("Busy".to_owned(), at(4, 7), at(4, 9))];
    match provider {
        Provider::Microsoft => {
            eventually(Duration::from_secs(30), || async {
                (calendar_busy(&app, &key, bo).await == gym).then_some(())
            })
            .await;
            app.settle().await;
        }
        Provider::Google => import_now(&app, tenant.id, connection.id).await,
    }
    assert_eq!(calendar_busy(&app, &key, bo).await, gym);
    assert!(api.conflicts("open").await.unwrap().is_empty());

    // An appointment a year ahead is a busy time too (free/busy is asked in pieces).
    provider.seed(&app, "Conference", at(365, 8), 3).await;
    import_now(&app, tenant.id, connection.id).await;
    let later = calendar_busy_between(&app, &key, bo, 360, 370).await;
    assert_eq!(later, [("Busy".to_owned(), at(365, 8), at(365, 11))]);
    app.stop().await;
}

/// The way out of the busy-times-only tier the administrator is told first: disconnect, grant
/// the calendar scopes, connect again. The covered calendar comes back as Bo's calendar for
/// bookings, with the bookings made meanwhile.
async fn a_busy_times_only_workspace_connected_again_in_full_writes_the_bookings_into_its_calendars(
    db: Db,
) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    let organisation = Provider::Google.connect(&app, &key).await;
    let id = organisation["id"].as_str().unwrap();
    let bo = members(&app, &key, id.parse().unwrap()).await.items[0].staff_id;
    booking(&app, &key, bo, at(3, 14)).await;
    assert_eq!(Provider::Google.events(&app).await, 0);

    let path = format!("/api/v1/organisation-connections/{id}");
    assert_eq!(app.call("DELETE", &path, &key, None).await.0, 204);
    google::delegate(&app, &google::all_scopes()).await;
    let body = google::google_body(
        google::json_key(google::KEY),
        "admin@salon.example",
        Some("/Staff/Juniors"),
    );
    let (status, answer) =
        app.call("POST", "/api/v1/organisation-connections", &key, Some(body)).await;
    assert_eq!((status, &answer["busy_only"]), (201, &json!(false)), "{answer}");

    let connection = app.api(&key).connections().await.unwrap().remove(0);
    assert!(!connection.busy_only && connection.is_default, "{connection:?}");
    assert_eq!(connection.destination_calendar_id.as_deref(), Some(BO));
    booking(&app, &key, bo, at(4, 10)).await;
    eventually(Duration::from_secs(30), || async {
        (Provider::Google.events(&app).await == 2).then_some(())
    })
    .await;
    app.stop().await;
}

async fn a_workspace_changes_tier_in_place_and_its_calendars_take_bookings_then_give_them_back(
    db: Db,
) {
    change_tier(db, Provider::Google).await;
}

async fn a_microsoft_365_organisation_changes_tier_in_place_and_its_calendars_follow(db: Db) {
    change_tier(db, Provider::Microsoft).await;
}

/// Out of the busy-times-only tier and back, without disconnecting: the covered calendar takes
/// Bo's bookings (those made before too), then gives them back; his own appointment stays.
async fn change_tier(db: Db, provider: Provider) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    provider.seed(&app, "Dentist", at(2, 9), 1).await;
    let organisation = provider.connect(&app, &key).await;
    let id = organisation["id"].as_str().unwrap();
    let bo = members(&app, &key, id.parse().unwrap()).await.items[0].staff_id;
    let before = booking(&app, &key, bo, at(3, 14)).await;
    let path = format!("/api/v1/organisation-connections/{id}");

    // Bookings need the calendar access the administrator has not granted yet: refused, and
    // nothing changes.
    let (status, refused) = app.call("PATCH", &path, &key, Some(json!({"busy_only": false}))).await;
    assert_eq!(status, 422, "{refused}");
    let field = match provider {
        Provider::Google => "service_account_key",
        Provider::Microsoft => "client_id",
    };
    assert_eq!(refused["errors"][0]["field"], field, "{refused}");
    assert!(api.connections().await.unwrap()[0].busy_only);

    provider.grant_everything(&app).await;
    let (status, full) = app.call("PATCH", &path, &key, Some(json!({"busy_only": false}))).await;
    assert_eq!((status, &full["busy_only"]), (200, &json!(false)), "{full}");
    let connection = api.connections().await.unwrap().remove(0);
    assert!(!connection.busy_only && connection.is_default, "{connection:?}");
    assert!(connection.destination_calendar_id.is_some(), "{connection:?}");
    // The booking made before the change, and one made after it, are in his calendar.
    let after = booking(&app, &key, bo, at(4, 10)).await;
    eventually(Duration::from_secs(30), || async {
        (provider.events(&app).await == 3).then_some(())
    })
    .await;
    for booking in [before, after] {
        let synced = api.booking(booking).await.unwrap().sync;
        assert!(synced.iter().all(|s| s.state == "synced") && !synced.is_empty(), "{synced:?}");
    }

    // Back to busy times only: Kalends' events leave his calendar, his appointment stays, and
    // a new booking is kept in Kalends only.
    let (status, busy) = app.call("PATCH", &path, &key, Some(json!({"busy_only": true}))).await;
    assert_eq!((status, &busy["busy_only"]), (200, &json!(true)), "{busy}");
    eventually(Duration::from_secs(30), || async {
        (provider.events(&app).await == 1).then_some(())
    })
    .await;
    let connection = api.connections().await.unwrap().remove(0);
    assert!(connection.busy_only && !connection.is_default, "{connection:?}");
    assert_eq!(connection.status, "active");
    let later = booking(&app, &key, bo, at(5, 10)).await;
    assert!(api.booking(later).await.unwrap().sync.is_empty(), "no calendar to write into");
    assert_eq!(provider.events(&app).await, 1);
    // Its busy times are his appointment alone once Kalends' events are gone (read again then:
    // free/busy cannot tell them from his), so his bookings clash with nothing.
    let dentist = [("Busy".to_owned(), at(2, 9), at(2, 10))];
    eventually(Duration::from_secs(30), || async {
        (calendar_busy(&app, &key, bo).await == dentist).then_some(())
    })
    .await;
    app.settle().await;
    assert!(api.conflicts("open").await.unwrap().is_empty());

    // The console offers the way back, and says when the grant does not allow it.
    let (browser, _, csrf) = crate::console::signed_in_as(&app, &key).await;
    let page = browser.get("/dashboard/organisation").await;
    assert!(page.body.contains("Write bookings into these calendars"), "{}", page.body);
    provider.grant_busy_times_only(&app).await;
    let back = format!("/dashboard/organisation/{id}/write-bookings");
    let page = browser.post(&back, &[("csrf", csrf.as_str())]).await;
    assert_eq!(page.status, 422);
    let missing = match provider {
        Provider::Google => "auth/calendar.events",
        Provider::Microsoft => "Calendars.ReadWrite",
    };
    assert!(page.body.contains(missing), "the refusal names what is missing: {}", page.body);
    assert!(api.connections().await.unwrap()[0].busy_only);
    provider.grant_everything(&app).await;
    let page = browser.post(&back, &[("csrf", csrf.as_str())]).await;
    assert_eq!(page.location(), "/dashboard/organisation?notice=write-bookings");
    assert!(!api.connections().await.unwrap()[0].busy_only);

    // The log says what each change did.
    let log = google::organisation_log(&app, &key).await;
    let said: Vec<&str> = log.iter().filter_map(|e| e["detail"].as_str()).collect();
    assert!(said[0].starts_with("bookings written from now"), "{said:?}");
    assert!(
        said[1].starts_with("busy times only from now: Kalends' events being removed"),
        "{said:?}"
    );
    assert!(said[2].starts_with("bookings written from now"), "{said:?}");
    app.stop().await;
}

/// Bo connected his Workspace calendar himself, bookings written into it. The organisation,
/// connected for busy times only, leaves it as it is: it would otherwise take his calendar out
/// of his bookings, and its disconnect would revoke his own grant.
async fn a_calendar_the_staff_member_connected_themselves_stays_theirs_under_a_busy_times_only_organisation(
    db: Db,
) {
    let app = TestApp::start_public(db).await;
    let (key, bo, browser) = crate::connect::signed_in(&app, BO).await;
    let page = crate::connect::connect(&app, &browser, "google", BO, "allow").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let own = app.api(&key).connections().await.unwrap().remove(0);
    assert!(own.is_default && !own.busy_only, "{own:?}");

    let organisation = Provider::Google.connect(&app, &key).await;
    let id: Uuid = organisation["id"].as_str().unwrap().parse().unwrap();
    let listed = members(&app, &key, id).await.items;
    assert_eq!((listed[0].staff_id, listed[0].state.as_str()), (bo, "failed"));
    let why = listed[0].last_error.as_deref().unwrap_or_default();
    assert!(why.contains("connected this calendar themselves"), "{why}");
    let connections = app.api(&key).connections().await.unwrap();
    assert_eq!(connections.len(), 1, "{connections:?}");
    assert!(connections[0].is_default && !connections[0].busy_only, "{connections:?}");

    booking(&app, &key, bo, at(3, 14)).await;
    assert_eq!(Provider::Google.events(&app).await, 1, "his own calendar takes his booking");
    disconnecting_leaves_his_calendar(&app, &key, id).await;
    app.stop().await;
}

/// Disconnects the organisation `id`: Bo's own calendar stays connected, his booking in it.
async fn disconnecting_leaves_his_calendar(app: &TestApp, key: &str, id: Uuid) {
    let path = format!("/api/v1/organisation-connections/{id}");
    assert_eq!(app.call("DELETE", &path, key, None).await.0, 204);
    app.settle().await;
    let connections = app.api(key).connections().await.unwrap();
    assert_eq!(connections[0].status, "active", "{connections:?}");
    assert_eq!(Provider::Google.events(app).await, 1);
}

/// Bo's calendar is covered for busy times only; he connects the same account himself, to have
/// his bookings written into it. It is his from then on: the organisation's next read neither
/// takes it back into busy times only (removing his bookings) nor disconnects it when he leaves
/// the organisation's scope.
async fn a_covered_calendar_the_staff_member_connects_themselves_becomes_theirs(db: Db) {
    let app = TestApp::start_public(db).await;
    let (key, bo, browser) = crate::connect::signed_in(&app, BO).await;
    let organisation = Provider::Google.connect(&app, &key).await;
    let id: Uuid = organisation["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(members(&app, &key, id).await.items[0].state, "active");
    let page = crate::connect::connect(&app, &browser, "google", BO, "allow").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let own = app.api(&key).connections().await.unwrap().remove(0);
    assert!(own.is_default && !own.busy_only, "{own:?}");
    booking(&app, &key, bo, at(3, 14)).await;
    Provider::Google.events_become(&app, 1).await;

    let refresh = format!("/api/v1/organisation-connections/{id}/refresh");
    let (status, answer) = app.call("POST", &refresh, &key, None).await;
    assert_eq!(status, 200, "{answer}");
    app.settle().await;
    let listed = members(&app, &key, id).await.items;
    let why = listed[0].last_error.as_deref().unwrap_or_default();
    assert!(why.contains("connected this calendar themselves"), "{listed:?}");
    let connections = app.api(&key).connections().await.unwrap();
    assert_eq!(connections.len(), 1, "{connections:?}");
    assert!(connections[0].status == "active" && !connections[0].busy_only, "{connections:?}");
    assert_eq!(Provider::Google.events(&app).await, 1, "his booking stays in his calendar");

    // Out of the organisation's scope, his calendar is still his.
    disconnecting_leaves_his_calendar(&app, &key, id).await;
    app.stop().await;
}

/// A change of tier that stops halfway (the provider failing for one member, say) has the
/// organisation saved in its new tier and that member's calendar still in the old one, while
/// the member counts as covered. The next read of the directory moves it.
async fn a_change_of_tier_stopped_halfway_is_repaired_by_the_next_directory_read(db: Db) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    let organisation = Provider::Google.connect(&app, &key).await;
    let id: Uuid = organisation["id"].as_str().unwrap().parse().unwrap();
    Provider::Google.grant_everything(&app).await;
    // What the change had saved before it stopped: the organisation, not the calendar.
    let saved = "UPDATE organisation_connections SET busy_only = FALSE WHERE id = $1";
    assert_eq!(crate::helpers::execute_with_id(&app.store, saved, id).await, 1);
    let (_, listed) = app.call("GET", "/api/v1/organisation-connections", &key, None).await;
    assert_eq!(listed["items"][0]["busy_only"], json!(false), "{listed}");
    assert!(app.api(&key).connections().await.unwrap()[0].busy_only);

    let refresh = format!("/api/v1/organisation-connections/{id}/refresh");
    let (status, answer) = app.call("POST", &refresh, &key, None).await;
    assert_eq!(status, 200, "{answer}");
    let moved = app.api(&key).connections().await.unwrap().remove(0);
    assert!(!moved.busy_only && moved.is_default, "{moved:?}");
    let bo = members(&app, &key, id).await.items[0].staff_id;
    booking(&app, &key, bo, at(3, 14)).await;
    eventually(Duration::from_secs(30), || async {
        (Provider::Google.events(&app).await == 1).then_some(())
    })
    .await;

    // The other way: the change into busy times only saved, Bo's calendar still taking
    // bookings. The next read gives Kalends' events back before covering it for busy times.
    let saved = "UPDATE organisation_connections SET busy_only = TRUE WHERE id = $1";
    assert_eq!(crate::helpers::execute_with_id(&app.store, saved, id).await, 1);
    let (status, answer) = app.call("POST", &refresh, &key, None).await;
    assert_eq!(status, 200, "{answer}");
    let moved = app.api(&key).connections().await.unwrap().remove(0);
    assert!(moved.busy_only && !moved.is_default, "{moved:?}");
    app.settle().await;
    eventually(Duration::from_secs(30), || async {
        (Provider::Google.events(&app).await == 0).then_some(())
    })
    .await;
    booking(&app, &key, bo, at(4, 10)).await;
    assert_eq!(Provider::Google.events(&app).await, 0, "no booking written any more");
    app.stop().await;
}

/// A covered calendar whose last call failed (a token the provider refused a moment ago, a
/// calendar it could not reach) still holds Kalends' events: a move into busy times only takes
/// them out of it like out of any other.
async fn a_calendar_in_error_moved_into_busy_times_only_gives_kalends_events_back(db: Db) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    let path = Provider::Google.writing_with_one_booking(&app, &key).await;
    let connection = app.api(&key).connections().await.unwrap().remove(0);
    let failed = "UPDATE connections SET status = 'error', last_error = 'timed out' WHERE id = $1";
    assert_eq!(crate::helpers::execute_with_id(&app.store, failed, connection.id).await, 1);

    let (status, answer) = app.call("PATCH", &path, &key, Some(json!({"busy_only": true}))).await;
    assert_eq!(status, 200, "{answer}");
    app.settle().await;
    Provider::Google.events_become(&app, 0).await;
    let moved = app.api(&key).connections().await.unwrap().remove(0);
    assert!(moved.busy_only && moved.status == "active", "{moved:?}");
    app.stop().await;
}

async fn a_workspace_moving_into_busy_times_only_keeps_the_access_that_removes_kalends_events(
    db: Db,
) {
    access_kept_for_the_removal(db, Provider::Google).await;
}

async fn a_microsoft_365_organisation_moving_into_busy_times_only_keeps_the_access_that_removes_kalends_events(
    db: Db,
) {
    access_kept_for_the_removal(db, Provider::Microsoft).await;
}

/// The administrator narrows the grant to free/busy before moving the organisation into busy
/// times only: Kalends could no longer remove its events from the calendars, so the move is
/// refused, saying to keep the calendar access until it is made; nothing changes meanwhile.
async fn access_kept_for_the_removal(db: Db, provider: Provider) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    let path = provider.writing_with_one_booking(&app, &key).await;

    provider.grant_busy_times_only(&app).await;
    let (status, refused) = app.call("PATCH", &path, &key, Some(json!({"busy_only": true}))).await;
    assert_eq!(status, 422, "{refused}");
    let message = refused["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("removes Kalends' events"), "{refused}");
    let connection = app.api(&key).connections().await.unwrap().remove(0);
    assert!(!connection.busy_only && connection.is_default, "{connection:?}");

    provider.grant_everything(&app).await;
    let (status, answer) = app.call("PATCH", &path, &key, Some(json!({"busy_only": true}))).await;
    assert_eq!(status, 200, "{answer}");
    app.settle().await;
    provider.events_become(&app, 0).await;
    app.stop().await;
}

/// A one-hour booking of `staff_id` at `start`, once its jobs ran.
async fn booking(app: &TestApp, key: &str, staff_id: Uuid, start: DateTime<Utc>) -> Uuid {
    let body = BookingIn {
        title: "Cut and colour".into(),
        staff_ids: vec![staff_id],
        start: Some(start.to_rfc3339()),
        end: Some((start + chrono::Duration::hours(1)).to_rfc3339()),
        time_zone: Some("Europe/Amsterdam".into()),
        ..BookingIn::default()
    };
    let id = app.api(key).create_booking(&body).await.unwrap().id;
    app.settle().await;
    id
}

/// Runs one import of the connection's busy times to completion.
pub(crate) async fn import_now(app: &TestApp, tenant_id: Uuid, connection_id: Uuid) {
    app.store.enqueue(&Job::ImportAvailability { tenant_id, connection_id }).await.unwrap();
    app.settle().await;
}

/// The staff member's busy times from their calendar over the next 30 days: label, start, end.
async fn calendar_busy(
    app: &TestApp,
    key: &str,
    staff_id: Uuid,
) -> Vec<(String, DateTime<Utc>, DateTime<Utc>)> {
    calendar_busy_between(app, key, staff_id, 0, 30).await
}

async fn calendar_busy_between(
    app: &TestApp,
    key: &str,
    staff_id: Uuid,
    from: i64,
    to: i64,
) -> Vec<(String, DateTime<Utc>, DateTime<Utc>)> {
    let from = day(from).format("%Y-%m-%dT%H:%M:%SZ");
    let to = day(to).format("%Y-%m-%dT%H:%M:%SZ");
    let path = format!("/api/v1/availability?staff_id={staff_id}&from={from}&to={to}");
    let body: Value = app.api(key).send("GET", &path, None, 200).await.unwrap();
    let instant = |v: &Value| DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap().to_utc();
    let mut found: Vec<_> = body["busy"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["source"] == "calendar")
        .map(|b| {
            (b["label"].as_str().unwrap().to_owned(), instant(&b["start"]), instant(&b["end"]))
        })
        .collect();
    found.sort();
    found
}
