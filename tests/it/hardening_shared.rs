//! Calendars shared between connections, and taking a staff member's calendar away cleanly:
//! two staff members connected to one account (a salon's front-desk calendar) leave each other's
//! events alone; deleting a staff member cleans up at the provider before Kalends forgets.

use std::sync::Arc;
use std::time::Duration;

use kalends::api::bookings::BookingIn;
use kalends::api::staff::StaffIn;
use kalends_core::Config;
use kalends_core::seal::Sealer;
use kalends_jobs::SealedTokenStore;
use kalends_jobs::reconcile::{Repairs, reconcile};
use kalends_providers::session::Credentials;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::connect::{Browser, connect};
use crate::helpers::{Db, TestApp, eventually, execute_with_id, on_both_databases};

on_both_databases!(
    two_staff_sharing_one_google_calendar_never_delete_or_rewrite_each_others_events,
    two_staff_sharing_one_microsoft_mailbox_never_delete_or_rewrite_each_others_events,
    a_colleagues_booking_written_while_the_shared_mailbox_is_read_is_not_busy_time,
    deleting_a_staff_member_removes_their_events_stops_their_channels_and_revokes_the_grant,
    a_cleanup_under_way_stops_when_its_calendar_is_connected_again,
    bookings_in_a_microsoft_calendar_other_than_the_default_are_left_alone_by_reconciliation,
    a_microsoft_subscription_gone_at_microsoft_is_made_again_at_its_renewal,
    a_booking_parked_for_a_reconnection_stays_parked_when_its_batch_is_given_up,
    a_sync_given_up_in_another_tenants_name_fails_none_of_the_bookings_calendars,
    a_booking_id_read_in_another_tenants_name_shows_none_of_its_calendar_events,
    imports_asked_for_while_one_reads_the_calendar_wait_and_run_once_after_it,
);

/// The shared account both staff members connect.
const DESK: &str = "desk@salon.example";

/// The sandbox's gate: every API request whose path holds the gate's path waits at it until
/// let through.
struct Gate {
    control: reqwest::Client,
    hold: String,
    release: String,
}

impl Gate {
    /// Closes the gate on requests whose path holds `path`.
    async fn close(app: &TestApp, path: &str) -> Self {
        let control = app.sandbox();
        let hold = app.url("/sandbox/_control/hold");
        let release = app.url("/sandbox/_control/hold/release");
        let gate = json!({"path": path});
        assert!(control.put(&hold).json(&gate).send().await.unwrap().status().is_success());
        Self { control, hold, release }
    }

    /// How many requests wait at the gate.
    async fn waiting(&self) -> u64 {
        let view: Value = self.control.get(&self.hold).send().await.unwrap().json().await.unwrap();
        view["waiting"].as_u64().unwrap()
    }

    /// Returns once at least `count` requests wait at the gate.
    async fn reached(&self, count: u64) {
        eventually(Duration::from_secs(30), || async {
            (self.waiting().await >= count).then_some(())
        })
        .await;
    }

    /// Lets the request that waited longest through; the gate stays.
    async fn release_one(&self) {
        let one = json!({"count": 1});
        self.control.post(&self.release).json(&one).send().await.unwrap();
    }

    /// Lets everything through, the waiting and what comes after.
    async fn open(&self) {
        self.control.delete(&self.hold).send().await.unwrap();
    }
}

/// The calendar credentials the running app uses (same secret key, same sandbox).
pub(crate) fn credentials(app: &TestApp) -> Credentials {
    let providers = kalends::sandbox::providers(&config(app)).unwrap();
    let tokens = SealedTokenStore::new(app.store.clone(), sealer(app));
    Credentials::new(Arc::new(tokens), Arc::new(providers))
}

/// The running app's sealer (same secret key).
fn sealer(app: &TestApp) -> Sealer {
    Sealer::new(&config(app).secret_key().unwrap().0, &[])
}

fn config(app: &TestApp) -> Config {
    Config { data_dir: app._dir.0.clone(), public_url: app.base.clone(), ..Config::default() }
}

/// A staff member who connected `email` at `provider`; returns (staff id, connection id).
async fn connected_staff(
    app: &TestApp,
    key: &str,
    name: &str,
    provider: &str,
    email: &str,
) -> (Uuid, Uuid) {
    let api = app.api(key);
    let staff = StaffIn {
        name: name.into(),
        email: Some(format!("{}@salon.example", name.to_lowercase())),
        ..StaffIn::default()
    };
    let id = api.create_staff(&staff).await.unwrap().id;
    let browser = Browser::new();
    browser.get(&api.settings_link(id).await.unwrap().url).await;
    let page = connect(app, &browser, provider, email, "allow").await;
    assert!(page.url.contains("notice=connected"), "{}", page.url);
    let connections = api.connections().await.unwrap();
    let connection = connections.into_iter().find(|c| c.staff_id == id).unwrap().id;
    (id, connection)
}

/// The live events of the shared account's main calendar, as the sandbox holds them.
async fn desk_events(app: &TestApp, provider: &str) -> Vec<Value> {
    let url = match provider {
        "google" => app.url(&format!("/sandbox/_control/google/calendars/{DESK}/{DESK}/events")),
        _ => app.url(&format!("/sandbox/_control/microsoft/users/{DESK}/events")),
    };
    let events: Vec<Value> = app.sandbox().get(url).send().await.unwrap().json().await.unwrap();
    events.into_iter().filter(|e| e["status"] != "cancelled" && e["deleted"] != true).collect()
}

/// (id, version tag, title) of each event, sorted: what a rewrite or a delete would change.
fn fingerprint(events: &[Value]) -> Vec<(String, String, String)> {
    let text = |e: &Value, keys: &[&str]| {
        keys.iter().find_map(|k| e[*k].as_str()).unwrap_or_default().to_owned()
    };
    let mut prints: Vec<_> = events
        .iter()
        .map(|e| {
            (text(e, &["id"]), text(e, &["etag", "@odata.etag"]), text(e, &["summary", "subject"]))
        })
        .collect();
    prints.sort();
    prints
}

/// Writes and deletes the sandbox served so far.
async fn writes(app: &TestApp) -> u64 {
    let log: Value = app.sandbox_json("/sandbox/_control/requests").await;
    log.as_object()
        .unwrap()
        .iter()
        .filter(|(route, _)| {
            ["DELETE", "PATCH", "PUT", "POST"].iter().any(|m| route.starts_with(m))
        })
        .filter(|(route, _)| !route.contains("token") && !route.contains("revoke"))
        .map(|(_, n)| n.as_u64().unwrap())
        .sum()
}

/// Once the jobs have run, every booking's event is synced.
async fn synced(app: &TestApp, key: &str, bookings: &[Uuid]) {
    app.settle().await;
    for id in bookings {
        let b = app.api(key).booking(*id).await.unwrap();
        assert!(!b.sync.is_empty() && b.sync.iter().all(|s| s.state == "synced"), "{b:?}");
    }
}

/// An hour's appointment of `staff` ten days ahead at 10:00 UTC (reconciliation looks 18
/// months ahead).
fn in_ten_days(staff: Uuid, title: &str) -> BookingIn {
    let day = (chrono::Utc::now() + chrono::Duration::days(10)).date_naive();
    BookingIn {
        title: title.into(),
        staff_ids: vec![staff],
        start: Some(format!("{day}T10:00:00Z")),
        end: Some(format!("{day}T11:00:00Z")),
        time_zone: Some("UTC".into()),
        ..BookingIn::default()
    }
}

/// Two staff members of one tenant on one account of `provider`, a booking each; three
/// reconciliations and imports of each connection change nothing in the shared calendar.
async fn shared_calendar_stays_still(db: Db, provider: &str) {
    let app = TestApp::start_public(db).await;
    let (tenant, key) = app.tenant().await;
    let (ann, ann_connection) = connected_staff(&app, &key, "Ann", provider, DESK).await;
    let (bo, bo_connection) = connected_staff(&app, &key, "Bo", provider, DESK).await;
    let mut bookings = Vec::new();
    // At the same time (a salon's staff work in parallel), soon (reconciliation looks 18 months
    // ahead).
    let api = app.api(&key);
    for (staff, title) in [(ann, "Cut with Ann"), (bo, "Colour with Bo")] {
        let zone = Some("Europe/Amsterdam".into());
        let body = BookingIn { time_zone: zone, ..in_ten_days(staff, title) };
        bookings.push(api.create_booking(&body).await.unwrap().id);
    }
    synced(&app, &key, &bookings).await;
    let before = desk_events(&app, provider).await;
    assert_eq!(before.len(), 2, "{before:#?}");
    let writes_before = writes(&app).await;

    let credentials = credentials(&app);
    for round in 1..=3 {
        for connection_id in [ann_connection, bo_connection] {
            let connection = app.store.connection(tenant.id, connection_id).await.unwrap();
            let repairs = reconcile(&app.store, &credentials, &connection).await.unwrap();
            assert_eq!(repairs, Repairs::default(), "round {round}: nothing to repair");
            kalends_jobs::import_availability::run(
                &app.store,
                &credentials,
                tenant.id,
                connection_id,
            )
            .await
            .unwrap();
        }
    }
    // Whatever the imports queued (a restore of an event seen as deleted) runs first.
    synced(&app, &key, &bookings).await;

    let after = desk_events(&app, provider).await;
    assert_eq!(fingerprint(&after), fingerprint(&before), "no event removed or rewritten");
    assert_eq!(writes(&app).await, writes_before, "no write reached the shared calendar");
    for title in ["Cut with Ann", "Colour with Bo"] {
        let count = after.iter().filter(|e| e["summary"] == title || e["subject"] == title).count();
        assert_eq!(count, 1, "{title} is in the shared calendar once");
    }
    // Neither staff member is busy because of the other's booking.
    let conflicts = api.all_conflicts().await.unwrap();
    assert!(conflicts.is_empty(), "{conflicts:?}");
    app.stop().await;
}

async fn two_staff_sharing_one_google_calendar_never_delete_or_rewrite_each_others_events(db: Db) {
    shared_calendar_stays_still(db, "google").await;
}

async fn two_staff_sharing_one_microsoft_mailbox_never_delete_or_rewrite_each_others_events(
    db: Db,
) {
    shared_calendar_stays_still(db, "microsoft").await;
}

/// Ann takes her bookings in a calendar of her mailbox other than its default ("Bookings"). The
/// reconciliation looks for Kalends' events there, finds them all, and rewrites nothing: it
/// used to read the default calendar, miss every event and write each one again.
async fn bookings_in_a_microsoft_calendar_other_than_the_default_are_left_alone_by_reconciliation(
    db: Db,
) {
    let app = TestApp::start_public(db).await;
    let (tenant, key) = app.tenant().await;
    let ann_mailbox = "ann@salon.example";
    let (ann, connection_id) = connected_staff(&app, &key, "Ann", "microsoft", ann_mailbox).await;
    let url =
        app.url(&format!("/sandbox/_control/microsoft/users/{ann_mailbox}/calendars/Bookings"));
    let shared = app.sandbox().put(url).json(&json!({"can_edit": true})).send().await.unwrap();
    assert!(shared.status().is_success(), "{}", shared.status());
    let path = format!("/api/v1/connections/{connection_id}");
    let (_, calendars) = app.call("GET", &format!("{path}/calendars"), &key, None).await;
    let bookings = calendars["items"].as_array().unwrap().iter().find(|c| c["name"] == "Bookings");
    let target = json!({"destination_calendar_id": bookings.expect("listed")["id"]});
    let (status, answer) = app.call("PATCH", &path, &key, Some(target)).await;
    assert_eq!(status, 200, "{answer}");
    let booking = app.api(&key).create_booking(&in_ten_days(ann, "Cut with Ann")).await.unwrap().id;
    synced(&app, &key, &[booking]).await;
    let writes_before = writes(&app).await;

    let connection = app.store.connection(tenant.id, connection_id).await.unwrap();
    let repairs = reconcile(&app.store, &credentials(&app), &connection).await.unwrap();
    assert_eq!(repairs, Repairs::default(), "the event is where it was written");
    synced(&app, &key, &[booking]).await;
    assert_eq!(writes(&app).await, writes_before, "nothing was written again");
    app.stop().await;
}

/// Ann's Graph subscription is gone at Microsoft (it ran out while her grant was dead, or the
/// scheduler was down). Renewing it answers 404: a new one takes its place, so her edits are
/// pushed again, where every renewal used to fail for good.
async fn a_microsoft_subscription_gone_at_microsoft_is_made_again_at_its_renewal(db: Db) {
    let app = TestApp::start_public(db).await;
    let (tenant, key) = app.tenant().await;
    let ann_mailbox = "ann@salon.example";
    let (_, connection_id) = connected_staff(&app, &key, "Ann", "microsoft", ann_mailbox).await;
    app.settle().await;
    let sealer = sealer(&app);
    let before = app.store.channels_of(connection_id, &sealer).await.unwrap();
    assert_eq!(before.len(), 1, "{before:?}");
    let gone = kalends_providers::calendar::Subscription {
        id: before[0].channel_id.clone(),
        resource_id: None,
        expires_at: before[0].expires_at,
    };
    let (credentials, connection) =
        (credentials(&app), app.store.connection(tenant.id, connection_id).await.unwrap());
    let graph = credentials.providers().get(kalends_core::domain::Provider::Microsoft);
    let unsubscribe = |token| {
        let gone = &gone;
        async move { graph.unsubscribe(&token, gone).await }
    };
    credentials.with_token(&connection, unsubscribe).await.unwrap();
    // Due for renewal.
    let soon = "UPDATE calendar_channels SET expires_at = {}";
    crate::helpers::execute_either(
        &app.store,
        &soon.replace("{}", "now() + interval '1 hour'"),
        &soon.replace("{}", "strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '+1 hour')"),
    )
    .await;

    kalends_jobs::watch_calendars::run(
        &app.store,
        &sealer,
        &credentials,
        &app.base,
        tenant.id,
        connection_id,
    )
    .await
    .expect("renewed by a new subscription");
    let after = app.store.channels_of(connection_id, &sealer).await.unwrap();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(after[0].channel_id, before[0].channel_id, "a new subscription");
    assert!(after[0].expires_at > chrono::Utc::now() + chrono::Duration::days(1));
    let listed = app.url("/sandbox/_control/microsoft/subscriptions");
    let live: Vec<Value> = app.sandbox().get(listed).send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = live.iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(ids, [after[0].channel_id.as_str()], "Microsoft holds it");
    app.stop().await;
}

/// Ann's calendar waits to be reconnected, so her booking is parked for it. The batch it was
/// synced in is given up for another booking's failure: her booking stays waiting for the
/// reconnection, which writes it, instead of failing with someone else's error.
async fn a_booking_parked_for_a_reconnection_stays_parked_when_its_batch_is_given_up(db: Db) {
    let app = TestApp::start_public(db).await;
    let (tenant, key) = app.tenant().await;
    let (ann, connection_id) = connected_staff(&app, &key, "Ann", "google", DESK).await;
    // What the connection queued (its first import, its channels) is done before its grant dies.
    app.settle().await;
    let parked = "UPDATE connections SET status = 'needs_reauth' WHERE id = $1";
    assert_eq!(execute_with_id(&app.store, parked, connection_id).await, 1);
    let booking = app.api(&key).create_booking(&in_ten_days(ann, "Cut with Ann")).await.unwrap();
    app.settle().await;
    let state = || async {
        let sync = app.api(&key).booking(booking.id).await.unwrap().sync;
        (sync[0].state.clone(), sync[0].last_error.clone().unwrap_or_default())
    };
    let first = state().await;
    assert!(first.0 == "pending" && first.1.contains("reconnected"), "parked: {first:?}");
    let error = "Bo's calendar refused the write";
    app.store.fail_pending_events(tenant.id, booking.id, error).await.unwrap();
    let (now, why) = state().await;
    assert_eq!(now, "pending", "still waiting for the reconnection: {why}");
    assert!(why.contains("reconnected"), "{why}");
    app.stop().await;
}

/// Two tenants, the first with Ann's booking synced to her Google calendar.
struct TwoTenants {
    app: TestApp,
    tenant: kalends_core::domain::Tenant,
    key: String,
    other: kalends_core::domain::Tenant,
    booking: kalends::api::bookings::BookingOut,
}

async fn two_tenants_one_synced_booking(db: Db) -> TwoTenants {
    let app = TestApp::start_public(db).await;
    let (tenant, key) = app.tenant().await;
    let (other, _) = app.tenant().await;
    let (ann, _) = connected_staff(&app, &key, "Ann", "google", DESK).await;
    let booking = app.api(&key).create_booking(&in_ten_days(ann, "Cut with Ann")).await.unwrap();
    app.settle().await;
    TwoTenants { app, tenant, key, other, booking }
}

/// A sync job carries its tenant beside its bookings. One that named another tenant's booking
/// (a fault upstream, a job written by hand) and was given up leaves that booking's calendars
/// as they were: only the tenant's own booking is marked failed.
async fn a_sync_given_up_in_another_tenants_name_fails_none_of_the_bookings_calendars(db: Db) {
    let TwoTenants { app, tenant, key, other, booking } = two_tenants_one_synced_booking(db).await;
    // Her calendar's write as if it were still under way when the job was given up.
    let waiting = "UPDATE booking_events SET state = 'pending' WHERE booking_id = $1";
    assert_eq!(execute_with_id(&app.store, waiting, booking.id).await, 1);
    let state = || async { app.api(&key).booking(booking.id).await.unwrap().sync[0].state.clone() };

    let error = "another tenant's calendar refused the write";
    app.store.fail_pending_events(other.id, booking.id, error).await.unwrap();
    assert_eq!(state().await, "pending", "untouched by another tenant's job");
    app.store.fail_pending_events(tenant.id, booking.id, error).await.unwrap();
    assert_eq!(state().await, "failed", "its own tenant's job gave it up");
    app.stop().await;
}

/// A booking id can come from outside: reconciliation reads it from an event's private property,
/// and a calendar two tenants share (a freelancer working for two salons) holds both tenants'
/// events. Read in another tenant's name, a booking's calendar events are none.
async fn a_booking_id_read_in_another_tenants_name_shows_none_of_its_calendar_events(db: Db) {
    let TwoTenants { app, tenant, other, booking, .. } = two_tenants_one_synced_booking(db).await;

    assert_eq!(app.store.booking_events(tenant.id, booking.id).await.unwrap().len(), 1);
    assert!(app.store.booking_events(other.id, booking.id).await.unwrap().is_empty());
    let ids = [booking.id];
    assert_eq!(app.store.booking_events_of(tenant.id, &ids).await.unwrap().len(), 1);
    assert!(app.store.booking_events_of(other.id, &ids).await.unwrap().is_empty());
    app.stop().await;
}

/// Graph's delta says nothing of whose an event is: an import tells a colleague's booking by the
/// events this tenant is writing into the mailbox. One written while Ann's mailbox is being read
/// (the sandbox holds her delta listing until Bo's booking is there) is known to be Bo's, so
/// it never becomes Ann's busy time.
async fn a_colleagues_booking_written_while_the_shared_mailbox_is_read_is_not_busy_time(db: Db) {
    let app = TestApp::start_public(db).await;
    let (tenant, key) = app.tenant().await;
    let (ann, ann_connection) = connected_staff(&app, &key, "Ann", "microsoft", DESK).await;
    let (bo, _) = connected_staff(&app, &key, "Bo", "microsoft", DESK).await;
    app.settle().await;
    let gate = Gate::close(&app, "/calendarView/delta").await;

    // Ann's import has asked for her mailbox's changes; Bo's booking goes in meanwhile.
    let reading = tokio::spawn({
        let (store, credentials) = (app.store.clone(), credentials(&app));
        async move {
            kalends_jobs::import_availability::run(&store, &credentials, tenant.id, ann_connection)
                .await
        }
    });
    gate.reached(1).await;
    app.api(&key).create_booking(&in_ten_days(bo, "Colour with Bo")).await.unwrap();
    let day = (chrono::Utc::now() + chrono::Duration::days(10)).date_naive();
    eventually(Duration::from_secs(30), || async {
        (desk_events(&app, "microsoft").await.len() == 1).then_some(())
    })
    .await;
    // Ann's listing goes on (the gate lets the longest waiting through) and finds Bo's event.
    gate.release_one().await;
    reading.await.unwrap().unwrap();
    let ann_busy = || async {
        let path = format!(
            "/api/v1/availability?staff_id={ann}&from={day}&to={}",
            day.succ_opt().unwrap()
        );
        let (status, availability) = app.call("GET", &path, &key, None).await;
        assert_eq!(status, 200, "{availability}");
        availability["busy"].as_array().unwrap().clone()
    };
    assert_eq!(ann_busy().await, Vec::<Value>::new(), "Bo's booking is not Ann's busy time");

    // Everything else the gate held goes on; still nothing.
    gate.open().await;
    app.settle().await;
    assert_eq!(ann_busy().await, Vec::<Value>::new(), "nor after the other imports");
    let conflicts = app.api(&key).all_conflicts().await.unwrap();
    assert!(conflicts.is_empty(), "{conflicts:?}");
    app.stop().await;
}

async fn deleting_a_staff_member_removes_their_events_stops_their_channels_and_revokes_the_grant(
    db: Db,
) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let ann =
        StaffIn { name: "Ann".into(), email: Some("ann@example.com".into()), ..StaffIn::default() };
    let ann = api.create_staff(&ann).await.unwrap().id;
    let browser = Browser::new();
    browser.get(&api.settings_link(ann).await.unwrap().url).await;
    // Google is her default (bookings go there); Microsoft is connected too.
    for (provider, email) in [("google", "ann@example.com"), ("microsoft", "ann@contoso.example")] {
        let page = connect(&app, &browser, provider, email, "allow").await;
        assert!(page.url.contains("notice=connected"), "{}", page.url);
    }
    let day = (chrono::Utc::now() + chrono::Duration::days(10)).date_naive();
    let body = BookingIn {
        title: "Cut".into(),
        staff_ids: vec![ann],
        time_zone: Some("UTC".into()),
        start: Some(format!("{day}T10:00:00Z")),
        end: Some(format!("{day}T11:00:00Z")),
        ..BookingIn::default()
    };
    let created = api.create_booking(&body).await.unwrap();
    synced(&app, &key, &[created.id]).await;
    let events_url =
        app.url("/sandbox/_control/google/calendars/ann@example.com/ann@example.com/events");
    let live = || async {
        let events: Vec<Value> =
            app.sandbox().get(&events_url).send().await.unwrap().json().await.unwrap();
        events.into_iter().filter(|e| e["status"] != "cancelled").count()
    };
    assert_eq!(live().await, 1, "the booking is in her Google calendar");
    let channels = app.sandbox_json::<Vec<Value>>("/sandbox/_control/google/channels").await;
    let subscriptions =
        app.sandbox_json::<Vec<Value>>("/sandbox/_control/microsoft/subscriptions").await;
    let watching = channels.len() == 1 && channels[0]["stopped"] != true;
    assert!(watching && subscriptions.len() == 1, "{channels:?} {subscriptions:?}");

    api.delete_staff(ann).await.unwrap();
    // Gone from the API at once.
    assert_eq!(api.staff(ann).await.unwrap_err().status, 404);
    let staff_list = api.staff_list().await.unwrap();
    assert!(staff_list.items.is_empty(), "{staff_list:?}");
    let connections = api.connections().await.unwrap();
    assert!(connections.is_empty(), "{connections:?}");

    // Cleaned up at the providers once the jobs ran: event removed, channel stopped,
    // subscription deleted, the Google grant revoked (Microsoft has no revocation endpoint: its
    // token is forgotten).
    app.settle().await;
    let channels = app.sandbox_json::<Vec<Value>>("/sandbox/_control/google/channels").await;
    let subscriptions =
        app.sandbox_json::<Vec<Value>>("/sandbox/_control/microsoft/subscriptions").await;
    let grants = app.sandbox_json::<Vec<Value>>("/sandbox/_control/grants").await;
    let google_revoked = grants.iter().any(|g| g["provider"] == "google" && g["revoked"] == true);
    assert_eq!(live().await, 0, "the event is removed");
    assert!(channels.iter().all(|c| c["stopped"] == true), "{channels:?}");
    assert!(subscriptions.is_empty(), "{subscriptions:?}");
    assert!(google_revoked, "{grants:?}");
    app.stop().await;
}

/// Ann's calendar is being cleaned up after a disconnect when she connects it again (the
/// reconnect forgets the cleanup owed). The removal under way finishes; nothing more goes: the
/// calendar's events are hers again, and the grant may be the new one, so it is not revoked.
async fn a_cleanup_under_way_stops_when_its_calendar_is_connected_again(db: Db) {
    let app = TestApp::start_public(db).await;
    let (tenant, key) = app.tenant().await;
    let (ann, connection) = connected_staff(&app, &key, "Ann", "google", DESK).await;
    for day in 10..13 {
        let mut cut = crate::helpers::booking_in(&format!("Cut on day {day}"), day);
        cut.staff_ids = vec![ann];
        app.api(&key).create_booking(&cut).await.unwrap();
    }
    app.settle().await;
    assert_eq!(desk_events(&app, "google").await.len(), 3);

    // The sandbox holds every request about one event: the cleanup's first removal waits.
    let gate = Gate::close(&app, "/events/").await;
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let (_, owed) =
        app.store.disconnect_connection(tenant.id, connection, true, later).await.unwrap();
    let cleanup = owed.expect("the disconnect owes a cleanup");
    let running = tokio::spawn({
        let (store, sealer, credentials) = (app.store.clone(), sealer(&app), credentials(&app));
        async move {
            use kalends_service::connection_cleanups::{SYNC_WAIT, clean_up};
            clean_up(&store, &sealer, &credentials, cleanup, SYNC_WAIT).await
        }
    });
    gate.reached(1).await;

    // Ann connects the calendar again meanwhile: the reconnect forgets the cleanup.
    let forget = "DELETE FROM connection_cleanups WHERE connection_id = $1";
    assert_eq!(execute_with_id(&app.store, forget, connection).await, 1);
    gate.open().await;
    let outcome = running.await.unwrap().unwrap();
    assert!(outcome.is_none(), "the cleanup stopped: {outcome:?}");
    assert_eq!(desk_events(&app, "google").await.len(), 2, "only the removal under way went");
    let counts: Value = app.sandbox_json("/sandbox/_control/requests").await;
    assert_eq!(counts["POST google revoke"].as_u64().unwrap_or(0), 0, "the grant is not revoked");
    app.stop().await;
}

/// Ann's calendar import is held at Microsoft (the sandbox keeps her delta listing waiting)
/// while three more imports of it start, as the scheduler's would: none reads beside the one
/// under way, and once it ends, one import reads the calendar again, not three.
async fn imports_asked_for_while_one_reads_the_calendar_wait_and_run_once_after_it(db: Db) {
    let app = TestApp::start_public(db).await;
    let (tenant, key) = app.tenant().await;
    let (_, ann_connection) = connected_staff(&app, &key, "Ann", "microsoft", DESK).await;
    app.settle().await;
    let gate = Gate::close(&app, "/calendarView/delta").await;
    let reads = || async {
        let counts: Value = app.sandbox_json("/sandbox/_control/requests").await;
        let each = counts.as_object().unwrap().iter().filter(|(route, _)| route.contains("delta"));
        each.map(|(_, n)| n.as_u64().unwrap()).sum::<u64>()
    };
    let read_before = reads().await;
    let import = || {
        let (store, credentials) = (app.store.clone(), credentials(&app));
        async move {
            kalends_jobs::import_availability::run(&store, &credentials, tenant.id, ann_connection)
                .await
        }
    };
    let reading = tokio::spawn(import());
    gate.reached(1).await;
    for _ in 0..3 {
        import().await.unwrap();
    }
    assert_eq!(gate.waiting().await, 1, "none reads beside the import under way");
    gate.open().await;
    reading.await.unwrap().unwrap();
    app.settle().await;
    assert_eq!(reads().await - read_before, 2, "the import held, then one after it");
    app.stop().await;
}
