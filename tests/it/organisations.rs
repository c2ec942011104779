//! Organisation-wide connections against the in-process sandbox's Google Workspace: an
//! administrator connects the Workspace once through the API, the directory's users in scope
//! become staff members whose calendars receive their bookings, the directory is read again
//! for joiners and leavers, bad credentials are refused naming the fix, and deleting the
//! connection stops every covered calendar.

use std::time::Duration;

use kalends::api::bookings::{BookingOut, BookingPatch};
use kalends::api::organisation_connections::{MemberOut, MembersOut, OrganisationConnectionOut};
use kalends::api::staff::StaffIn;
use kalends_core::domain::Tenant;
use kalends_core::job::Job;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Db, TestApp, booking_in, eventually, fields, on_both_databases};

on_both_databases!(
    a_creation_whose_members_the_database_fails_to_save_answers_the_connection_it_stored,
    a_disconnect_during_a_long_read_stops_the_read_and_every_covered_calendar,
    the_hourly_read_does_not_stop_most_of_the_organisation_at_once_by_itself,
    disconnecting_a_large_workspace_asks_its_slow_token_endpoint_nothing_and_finishes_at_once,
    an_administrator_connects_a_workspace_and_covered_staff_calendars_follow_their_bookings,
    the_directory_read_again_covers_a_joiner_and_stops_a_leavers_calendar,
    bad_credentials_are_refused_naming_what_to_fix_and_nothing_is_stored,
    a_delegation_taken_back_marks_the_covered_calendars_for_the_administrator,
    the_scheduled_directory_read_covers_a_joiner_and_keeps_a_refusal_for_the_administrator,
    a_tenant_never_reaches_another_tenants_organisation_and_the_key_is_never_shown,
    the_console_connects_a_workspace_with_googles_refusals_in_place_refreshes_and_disconnects_it,
    a_change_of_scope_administrator_or_key_is_checked_like_a_creation,
    covering_a_calendar_takes_its_first_listing_from_the_accounts_request_budget,
    a_read_or_change_asked_while_another_is_under_way_is_refused_and_the_hourly_read_skips_it,
    a_read_that_fails_between_a_calendar_and_its_member_covers_that_member_the_next_time,
    a_unit_is_found_by_its_path_whatever_it_is_called_and_one_google_does_not_know_is_refused,
    a_user_the_administrator_renames_stays_the_same_staff_member_with_the_same_calendar,
    a_calendar_connected_by_hand_under_a_new_address_takes_over_from_the_covered_one,
    a_leaver_who_connected_himself_under_a_new_address_keeps_his_own_calendar,
    a_renamed_user_who_comes_back_into_the_scope_is_the_same_staff_member,
    a_user_renamed_as_they_leave_the_scope_has_kalends_events_taken_out_under_the_new_address,
    a_leaver_the_directory_cannot_be_asked_about_now_does_not_hold_up_the_read,
    a_renamed_user_with_only_their_own_calendar_is_listed_under_the_new_address,
    a_renamed_users_own_calendar_follows_them_and_is_not_covered_a_second_time,
    a_new_user_given_a_renamed_users_old_address_is_a_staff_member_of_their_own,
    a_members_change_reaches_an_open_console,
    a_renamed_user_moved_into_busy_times_only_has_kalends_events_taken_out,
    a_directory_of_hundreds_is_covered_in_the_background_and_the_connection_answers_at_once,
    a_cleanup_that_outlasts_its_token_and_its_organisation_still_takes_the_events_out,
    a_member_the_administrators_narrowed_rights_no_longer_show_is_held_not_marked_as_left,
    a_departure_too_large_to_answer_at_once_is_applied_by_the_background_read_someone_asked_for,
);

pub(crate) const KEY: &str = include_str!("../fixtures/workspace/test-service-account.key.pem");
const PUBLIC_KEY: &str = include_str!("../fixtures/workspace/test-service-account.pub.pem");
const OTHER_KEY: &str = include_str!("../fixtures/workspace/other.key.pem");
const SERVICE_ACCOUNT: &str = "kalends@salon-123.iam.gserviceaccount.com";
const CLIENT_ID: &str = "104857600000000000001";
const CALENDAR_SCOPES: [&str; 2] = [
    "https://www.googleapis.com/auth/calendar.events",
    "https://www.googleapis.com/auth/calendar.readonly",
];
pub(crate) const FREE_BUSY_SCOPE: &str = "https://www.googleapis.com/auth/calendar.freebusy";
pub(crate) const DIRECTORY_SCOPE: &str =
    "https://www.googleapis.com/auth/admin.directory.user.readonly";

/// The service account's JSON key as Google Cloud hands it out, signed with `private_key`.
pub(crate) fn json_key(private_key: &str) -> Value {
    json!({
        "type": "service_account",
        "project_id": "salon-123",
        "private_key_id": "3f1c2e",
        "private_key": private_key,
        "client_email": SERVICE_ACCOUNT,
        "client_id": CLIENT_ID,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    })
}

/// Sets up the sandbox's Workspace `salon.example` as its administrator would: the service
/// account, domain-wide delegation of `scopes`, and the directory (an administrator, Ann and Bo
/// in `/Staff`, Cy in `/Office`).
pub(crate) async fn workspace(app: &TestApp, scopes: &[&str]) {
    let http = app.sandbox();
    let account = json!({
        "client_email": SERVICE_ACCOUNT,
        "client_id": CLIENT_ID,
        "private_key_id": "3f1c2e",
        "public_key_pem": PUBLIC_KEY,
        "token_uri": app.url("/sandbox/google/token"),
    });
    let url = app.url("/sandbox/_control/workspace/service-accounts");
    assert_eq!(http.post(url).json(&account).send().await.unwrap().status(), 201);
    delegate(app, scopes).await;
    for (email, unit, admin) in [
        ("admin@salon.example", "/", true),
        ("ann@salon.example", "/Staff", false),
        ("bo@salon.example", "/Staff/Juniors", false),
        ("cy@salon.example", "/Office", false),
    ] {
        put_user(app, email, unit, admin).await;
    }
}

pub(crate) async fn delegate(app: &TestApp, scopes: &[&str]) {
    let url = app.url(&format!("/sandbox/_control/workspace/delegations/{CLIENT_ID}"));
    let answer = app.sandbox().put(url).json(&json!({"scopes": scopes})).send().await.unwrap();
    assert_eq!(answer.status(), 204);
}

async fn put_user(app: &TestApp, email: &str, unit: &str, is_admin: bool) {
    let user = json!({"primary_email": email, "org_unit_path": unit, "is_admin": is_admin});
    let url = app.url("/sandbox/_control/workspace/users");
    assert!(app.sandbox().post(url).json(&user).send().await.unwrap().status().is_success());
}

/// Gives the administrator e-mail's rights for the organisational units `units` alone (a
/// delegated administrator's role), or, with none, for the whole Workspace.
async fn admin_rights(app: &TestApp, units: &[&str]) {
    let admin = json!({"primary_email": "admin@salon.example", "org_unit_path": "/",
        "is_admin": true, "admin_units": units});
    let url = app.url("/sandbox/_control/workspace/users");
    assert!(app.sandbox().post(url).json(&admin).send().await.unwrap().status().is_success());
}

pub(crate) fn all_scopes() -> Vec<&'static str> {
    let mut scopes = CALENDAR_SCOPES.to_vec();
    scopes.push(DIRECTORY_SCOPE);
    scopes
}

pub(crate) fn google_body(key: Value, admin: &str, org_unit: Option<&str>) -> Value {
    json!({
        "provider": "google",
        "service_account_key": key,
        "domain": "salon.example",
        "admin_email": admin,
        "org_unit": org_unit,
    })
}

async fn connect_staff_unit(app: &TestApp, key: &str) -> OrganisationConnectionOut {
    let body = google_body(json_key(KEY), "admin@salon.example", Some("/Staff"));
    let (status, answer) =
        app.call("POST", "/api/v1/organisation-connections", key, Some(body)).await;
    assert_eq!(status, 201, "{answer}");
    serde_json::from_value(answer).unwrap()
}

/// A tenant (and its API key) that connected the sandbox's Workspace for `/Staff`, where Ann
/// and Bo are covered.
async fn staff_unit_connected(db: Db) -> (TestApp, Tenant, String, OrganisationConnectionOut) {
    let app = TestApp::start_public(db).await;
    let (tenant, key) = app.tenant().await;
    workspace(&app, &all_scopes()).await;
    let organisation = connect_staff_unit(&app, &key).await;
    (app, tenant, key, organisation)
}

/// Sets up the sandbox's Workspace and connects it for the organisational unit in which `email`
/// is the only user (`bo@salon.example`: `/Staff/Juniors`): one covered calendar, theirs.
pub(crate) async fn cover_one(app: &TestApp, key: &str, email: &str) {
    assert_eq!(email, "bo@salon.example", "the only user of /Staff/Juniors");
    workspace(app, &all_scopes()).await;
    let body = google_body(json_key(KEY), "admin@salon.example", Some("/Staff/Juniors"));
    let (status, answer) =
        app.call("POST", "/api/v1/organisation-connections", key, Some(body)).await;
    assert_eq!((status, &answer["members_count"]), (201, &json!(1)), "{answer}");
}

/// A booking of `staff_id`'s appears in their calendar (as `events` reads its live events, the
/// title under `title`), moves with it and goes with it.
pub(crate) async fn a_booking_follows<F, Fut>(
    app: &TestApp,
    key: &str,
    staff_id: Uuid,
    title: &str,
    events: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = Vec<Value>>,
{
    let mut booking = booking_in("Cut and colour", 10);
    booking.staff_ids = vec![staff_id];
    let booking = app.api(key).create_booking(&booking).await.unwrap();
    seen(&events, |e| e.len() == 1 && e[0][title] == "Cut and colour").await;
    let moved = BookingPatch { title: Some("Cut, colour and dry".into()), ..Default::default() };
    app.api(key).patch_booking(booking.id, &moved).await.unwrap();
    seen(&events, |e| e.len() == 1 && e[0][title] == "Cut, colour and dry").await;
    app.api(key).cancel_booking(booking.id).await.unwrap();
    seen(&events, <[Value]>::is_empty).await;
    app.settle().await;
}

/// Each member's address and state, in the order listed.
pub(crate) fn states(members: &[MemberOut]) -> Vec<(&str, &str)> {
    members.iter().map(|m| (m.email.as_str(), m.state.as_str())).collect()
}

/// Waits until the events `events` reads pass `check`.
pub(crate) async fn seen<F, Fut>(events: &F, check: impl Fn(&[Value]) -> bool)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Vec<Value>>,
{
    eventually(Duration::from_secs(30), || async { check(&events().await).then_some(()) }).await;
}

pub(crate) async fn members(app: &TestApp, key: &str, id: Uuid) -> MembersOut {
    let path = format!("/api/v1/organisation-connections/{id}/members");
    let (status, answer) = app.call("GET", &path, key, None).await;
    assert_eq!(status, 200, "{answer}");
    serde_json::from_value(answer).unwrap()
}

/// How many JWT-bearer grants the sandbox's token endpoint answered.
async fn token_requests(app: &TestApp) -> u64 {
    let counts: Value = app.sandbox_json("/sandbox/_control/requests").await;
    counts["POST google token jwt-bearer"].as_u64().unwrap_or(0)
}

/// The live events of `email`'s primary calendar in the sandbox.
async fn events_of(app: &TestApp, email: &str) -> Vec<Value> {
    let url = app.url(&format!("/sandbox/_control/google/calendars/{email}/{email}/events"));
    let events: Vec<Value> = app.sandbox().get(url).send().await.unwrap().json().await.unwrap();
    events.into_iter().filter(|e| e["status"] != "cancelled").collect()
}

async fn until_events(app: &TestApp, email: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    eventually(Duration::from_secs(30), || async {
        let events = events_of(app, email).await;
        check(&events).then_some(events)
    })
    .await
}

async fn an_administrator_connects_a_workspace_and_covered_staff_calendars_follow_their_bookings(
    db: Db,
) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    workspace(&app, &all_scopes()).await;
    // Ann is a staff member already, under her address in another letter case.
    let ann = StaffIn {
        name: "Ann".into(),
        email: Some("Ann@Salon.example".into()),
        ..StaffIn::default()
    };
    let ann = app.api(&key).create_staff(&ann).await.unwrap();

    let organisation = connect_staff_unit(&app, &key).await;
    assert_eq!(organisation.status, "active");
    assert_eq!(organisation.members_count, 2, "Ann and Bo are in /Staff; Cy is not");
    assert_eq!(organisation.service_account.as_deref(), Some(SERVICE_ACCOUNT));

    let listed = members(&app, &key, organisation.id).await.items;
    let emails: Vec<&str> = listed.iter().map(|m| m.email.as_str()).collect();
    assert_eq!(emails, ["ann@salon.example", "bo@salon.example"]);
    assert!(listed.iter().all(|m| m.state == "active" && m.last_error.is_none()), "{listed:?}");
    assert_eq!(listed[0].staff_id, ann.id, "matched by address, not added twice");
    let bo = app.api(&key).staff(listed[1].staff_id).await.unwrap();
    assert_eq!(bo.email.as_deref(), Some("bo@salon.example"));
    assert_eq!(app.api(&key).staff_list().await.unwrap().items.len(), 2);
    let connections = app.api(&key).connections().await.unwrap();
    assert_eq!(connections.len(), 2);
    assert!(connections.iter().all(|c| c.status == "active" && c.provider == "google"));

    // Bo's settings page says who connected his calendar, and leaves it to them.
    let browser = crate::connect::Browser::new();
    let page = browser.get(&app.api(&key).settings_link(bo.id).await.unwrap().url).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Connected for you by your organisation (salon.example)"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("Disconnect"), "an administrator's connection is theirs to end");
    assert!(page.body.contains("Connect Google"), "a calendar of his own may still be added");
    // Nor does a disconnect made by hand end it.
    let covered = connections.iter().find(|c| c.staff_id == bo.id).unwrap().id;
    let disconnect = app.url(&format!("/settings/connections/{covered}/disconnect"));
    let asked = browser.get(&disconnect).await;
    assert_eq!(asked.status, 403, "{}", asked.body);
    assert!(asked.body.contains("only its administrator can disconnect it"), "{}", asked.body);
    let csrf = crate::staff_sessions::csrf_of(&page.body);
    let form = [("csrf", csrf.as_str()), ("remove_events", "yes")];
    assert_eq!(browser.post(&disconnect, &form, false).await.status, 403);
    assert_eq!(app.api(&key).connection(covered).await.unwrap().status, "active");

    // A booking of Bo's appears in his Workspace calendar, moves with it and goes with it.
    let minted = token_requests(&app).await;
    assert_eq!(minted, 4, "the administrator's directory and calendar checks, Ann's, Bo's");
    a_booking_follows(&app, &key, bo.id, "summary", || events_of(&app, "bo@salon.example")).await;
    assert_eq!(token_requests(&app).await, minted, "each user's token is kept until it expires");

    disconnecting_stops_every_covered_calendar(&app, &key, organisation.id, bo.id, || {
        events_of(&app, "bo@salon.example")
    })
    .await;
    app.stop().await;
}

/// The tenant's organisation log, newest first.
pub(crate) async fn organisation_log(app: &TestApp, key: &str) -> Vec<Value> {
    let (status, log) = app.call("GET", "/api/v1/organisation-connections/log", key, None).await;
    assert_eq!(status, 200, "{log}");
    log["items"].as_array().unwrap().clone()
}

/// Deleting the organisation connection stops every covered calendar at once: a later booking
/// of `staff_id`'s never reaches their calendar (as `events` reads it).
pub(crate) async fn disconnecting_stops_every_covered_calendar<F, Fut>(
    app: &TestApp,
    key: &str,
    id: Uuid,
    staff_id: Uuid,
    events: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = Vec<Value>>,
{
    let path = format!("/api/v1/organisation-connections/{id}");
    let (status, _) = app.call("DELETE", &path, key, None).await;
    assert_eq!(status, 204);
    let connections = app.api(key).connections().await.unwrap();
    assert!(connections.iter().all(|c| c.status == "revoked"), "{connections:?}");
    let (status, _) = app.call("GET", &path, key, None).await;
    assert_eq!(status, 404);

    // The log keeps who disconnected it and what that stopped, after the connection is gone.
    let log = organisation_log(app, key).await;
    let newest = &log[0];
    assert_eq!(
        (newest["action"].as_str(), newest["organisation_connection_id"].as_str()),
        (Some("disconnected"), Some(id.to_string().as_str())),
        "{log:?}"
    );
    assert_eq!(newest["by"]["kind"], "api_key");
    let prefix = newest["by"]["api_key_prefix"].as_str().unwrap();
    assert!(prefix.len() >= 8 && key.starts_with(prefix), "{prefix} names the key that asked");
    let stopped = format!("{} covered calendar", connections.len());
    let detail = newest["detail"].as_str().unwrap();
    assert!(detail.starts_with(&stopped) && detail.contains("removed"), "{detail}");
    let connected = log.iter().find(|e| e["action"] == "connected").expect("its connection");
    assert_eq!(connected["organisation_connection_id"], newest["organisation_connection_id"]);
    let mut later = booking_in("After the disconnect", 12);
    later.staff_ids = vec![staff_id];
    app.api(key).create_booking(&later).await.unwrap();
    app.settle().await;
    assert!(events().await.is_empty());
}

/// `staff_unit_connected`, and Bo's booking "Trim" in his covered calendar.
async fn bo_booked(db: Db) -> (TestApp, String, OrganisationConnectionOut, MemberOut, BookingOut) {
    let (app, _, key, organisation) = staff_unit_connected(db).await;
    let bo = members(&app, &key, organisation.id).await.items[1].clone();
    let mut booking = booking_in("Trim", 8);
    booking.staff_ids = vec![bo.staff_id];
    let booking = app.api(&key).create_booking(&booking).await.unwrap();
    until_events(&app, "bo@salon.example", |e| e.len() == 1).await;
    (app, key, organisation, bo, booking)
}

/// The members after Dee joined `/Staff` and Bo left it: Ann and Dee active, Bo marked.
async fn dee_joined_and_bo_left(app: &TestApp, key: &str, organisation: Uuid) {
    let listed = members(app, key, organisation).await.items;
    assert_eq!(
        states(&listed),
        [
            ("ann@salon.example", "active"),
            ("bo@salon.example", "left"),
            ("dee@salon.example", "active")
        ]
    );
}

async fn the_directory_read_again_covers_a_joiner_and_stops_a_leavers_calendar(db: Db) {
    let (app, key, organisation, bo, _) = bo_booked(db).await;

    // Dee joins /Staff; Bo moves to /Office, out of scope, after the token Kalends minted for
    // him stopped working (an hour later, say): his calendar is still cleaned up.
    put_user(&app, "dee@salon.example", "/Staff", false).await;
    put_user(&app, "bo@salon.example", "/Office", false).await;
    let expire = app.url("/sandbox/_control/expire-tokens");
    app.sandbox().post(expire).json(&json!({"email": "bo@salon.example"})).send().await.unwrap();
    let path = format!("/api/v1/organisation-connections/{}/refresh", organisation.id);
    let (status, answer) = app.call("POST", &path, &key, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["members_count"], 2, "Ann and Dee");
    dee_joined_and_bo_left(&app, &key, organisation.id).await;
    // Bo is marked, not deleted: still a staff member, his calendar disconnected and Kalends'
    // event removed from it with a token minted for the cleanup.
    assert_eq!(app.api(&key).staff(bo.staff_id).await.unwrap().id, bo.staff_id);
    let connections = app.api(&key).connections().await.unwrap();
    let bos = connections.iter().find(|c| c.staff_id == bo.staff_id).unwrap();
    assert_eq!(bos.status, "revoked");
    let log = organisation_log(&app, &key).await;
    assert_eq!(
        (&log[0]["action"], &log[0]["by"]["kind"], &log[0]["detail"]),
        (
            &json!("refreshed"),
            &json!("api_key"),
            &json!(
                "1 user joined (dee@salon.example); 1 user left (bo@salon.example); \
                 2 users in scope"
            )
        )
    );
    app.settle().await;
    assert!(events_of(&app, "bo@salon.example").await.is_empty());

    // Back in /Staff: the same member, his booking written into his calendar again.
    put_user(&app, "bo@salon.example", "/Staff/Juniors", false).await;
    assert_eq!(app.call("POST", &path, &key, None).await.0, 200);
    let listed = members(&app, &key, organisation.id).await.items;
    assert_eq!(listed.iter().find(|m| m.staff_id == bo.staff_id).unwrap().state, "active");
    until_events(&app, "bo@salon.example", |e| e.len() == 1 && e[0]["summary"] == "Trim").await;
    app.stop().await;
}

/// Refreshes the organisation `id`: Ann and Bo (`bo`), followed to bo.ng@, are its members, Bo
/// the same staff member with his new address.
async fn still_bo_as_bo_ng(app: &TestApp, key: &str, id: Uuid, bo: Uuid) {
    let path = format!("/api/v1/organisation-connections/{id}/refresh");
    let (status, answer) = app.call("POST", &path, key, None).await;
    assert_eq!((status, &answer["members_count"]), (200, &json!(2)), "{answer}");
    let listed = members(app, key, id).await.items;
    assert_eq!(
        states(&listed),
        [("ann@salon.example", "active"), ("bo.ng@salon.example", "active")]
    );
    assert_eq!(listed[1].staff_id, bo, "the same staff member, not a second one");
    assert_eq!(app.api(key).staff_list().await.unwrap().items.len(), 2);
    let staff = app.api(key).staff(bo).await.unwrap();
    assert_eq!(staff.email.as_deref(), Some("bo.ng@salon.example"));
}

/// Bo becomes bo.ng@ (his old address an alias that no longer signs in, his calendar's id his
/// new address), and an hour passes: the tokens Kalends had for him no longer work.
async fn bo_renamed_an_hour_ago(app: &TestApp) {
    rename(app, "bo@salon.example", "bo.ng@salon.example").await;
    let expire = app.url("/sandbox/_control/expire-tokens");
    let bo_ng = json!({"email": "bo.ng@salon.example"});
    app.sandbox().post(expire).json(&bo_ng).send().await.unwrap();
}

/// The administrator changes `old`'s primary address to `new` in the Admin console.
async fn rename(app: &TestApp, old: &str, new: &str) {
    let url = app.url(&format!("/sandbox/_control/workspace/users/{old}/rename"));
    let answer = app.sandbox().post(url).json(&json!({"primary_email": new})).send().await;
    assert_eq!(answer.unwrap().status(), 200);
}

async fn a_user_the_administrator_renames_stays_the_same_staff_member_with_the_same_calendar(
    db: Db,
) {
    let (app, key, organisation, bo, booking) = bo_booked(db).await;

    // Bo is renamed, and his booking moves before the directory is read.
    bo_renamed_an_hour_ago(&app).await;
    let moved = BookingPatch { title: Some("Trim and wash".into()), ..Default::default() };
    app.api(&key).patch_booking(booking.id, &moved).await.unwrap();
    app.settle().await;

    still_bo_as_bo_ng(&app, &key, organisation.id, bo.staff_id).await;
    let connections = app.api(&key).connections().await.unwrap();
    assert_eq!(connections.len(), 2, "{connections:?}");
    let his = connections.iter().find(|c| c.staff_id == bo.staff_id).unwrap();
    assert_eq!(
        (his.account_email.as_str(), his.status.as_str()),
        ("bo.ng@salon.example", "active")
    );
    let log = organisation_log(&app, &key).await;
    assert_eq!(
        log[0]["detail"],
        "0 users joined; 0 users left; 1 address changed (bo@salon.example is now \
         bo.ng@salon.example); 2 users in scope"
    );

    // The event Kalends wrote is in his calendar once, moved with his booking, and follows it.
    until_events(&app, "bo.ng@salon.example", |e| {
        e.len() == 1 && e[0]["summary"] == "Trim and wash"
    })
    .await;
    app.api(&key).cancel_booking(booking.id).await.unwrap();
    until_events(&app, "bo.ng@salon.example", <[Value]>::is_empty).await;
    app.stop().await;
}

/// Bo is renamed, and before the directory is read again he connects his calendar himself
/// under his new address. That calendar is his from then on, as when a covered one is connected
/// by hand under the same address: the read gives up the covered connection, still under his old
/// address and failing, takes Kalends' events out of it, and his own connection, now his
/// default, takes his booking.
async fn a_calendar_connected_by_hand_under_a_new_address_takes_over_from_the_covered_one(db: Db) {
    let (app, key, organisation, bo, _) = bo_booked(db).await;
    let before = bo_renamed_connects_himself(&app, &key, bo.staff_id).await;

    let path = format!("/api/v1/organisation-connections/{}/refresh", organisation.id);
    let (status, answer) = app.call("POST", &path, &key, None).await;
    assert_eq!(status, 200, "{answer}");
    app.settle().await;
    let listed = members(&app, &key, organisation.id).await.items;
    assert_eq!(
        states(&listed),
        [("ann@salon.example", "active"), ("bo.ng@salon.example", "failed")]
    );
    let why = listed[1].last_error.as_deref().unwrap_or_default();
    assert!(why.contains("connected this calendar themselves"), "{why}");
    his_own_calendar_took_over(&app, &key, bo.staff_id, &before).await;
    app.stop().await;
}

/// Bo is renamed to bo.ng@, and before the directory is read again he connects his calendar
/// himself under his new address. Until the read, his booking is in his calendar once, from the
/// covered connection: that event.
async fn bo_renamed_connects_himself(app: &TestApp, key: &str, bo: Uuid) -> Value {
    bo_renamed_an_hour_ago(app).await;
    let browser = crate::connect::Browser::new();
    let page = browser.get(&app.api(key).settings_link(bo).await.unwrap().url).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let page =
        crate::connect::connect(app, &browser, "google", "bo.ng@salon.example", "allow").await;
    assert_eq!(page.status, 200, "{}", page.body);
    app.settle().await;
    let before = events_of(app, "bo.ng@salon.example").await;
    assert_eq!(before.len(), 1, "{before:?}");
    before[0].clone()
}

/// Bo's covered connection was given up for the one he made himself under his new address
/// (now his default, his staff member's e-mail followed), which wrote his booking into his
/// calendar once in place of the covered connection's `before`.
async fn his_own_calendar_took_over(app: &TestApp, key: &str, bo: Uuid, before: &Value) {
    let connections = app.api(key).connections().await.unwrap();
    let his: Vec<_> = connections
        .iter()
        .filter(|c| c.staff_id == bo)
        .map(|c| (c.account_email.as_str(), c.status.as_str(), c.is_default))
        .collect();
    assert_eq!(
        his,
        [("bo@salon.example", "revoked", false), ("bo.ng@salon.example", "active", true)],
        "the covered connection is given up: {connections:?}"
    );
    let staff = app.api(key).staff(bo).await.unwrap();
    assert_eq!(staff.email.as_deref(), Some("bo.ng@salon.example"));
    let written_by = |e: &Value| e["extendedProperties"]["private"]["kalendsConnection"].clone();
    let own =
        json!(connections.iter().find(|c| c.account_email == "bo.ng@salon.example").unwrap().id);
    let after = until_events(app, "bo.ng@salon.example", |e| e.len() == 1).await;
    assert!(after[0]["summary"] == "Trim" && written_by(&after[0]) == own, "{after:?}");
    assert_ne!(written_by(before), own);
}

/// As above, but Bo also moved out of the scope before the read: he is marked as having left,
/// under his new address, and his own calendar takes over from the covered one all the same.
async fn a_leaver_who_connected_himself_under_a_new_address_keeps_his_own_calendar(db: Db) {
    let (app, key, organisation, bo, _) = bo_booked(db).await;
    let before = bo_renamed_connects_himself(&app, &key, bo.staff_id).await;
    put_user(&app, "bo.ng@salon.example", "/Office", false).await;

    let path = format!("/api/v1/organisation-connections/{}/refresh", organisation.id);
    let (status, answer) = app.call("POST", &path, &key, None).await;
    assert_eq!(status, 200, "{answer}");
    app.settle().await;
    let listed = members(&app, &key, organisation.id).await.items;
    assert_eq!(states(&listed), [("ann@salon.example", "active"), ("bo.ng@salon.example", "left")]);
    his_own_calendar_took_over(&app, &key, bo.staff_id, &before).await;
    app.stop().await;
}

/// Bo leaves the scope, is renamed while out of it, and comes back: the same staff member, his
/// member row followed to the new address, his calendar covered again with his booking in it.
async fn a_renamed_user_who_comes_back_into_the_scope_is_the_same_staff_member(db: Db) {
    let (app, key, organisation, bo, _) = bo_booked(db).await;
    let path = format!("/api/v1/organisation-connections/{}/refresh", organisation.id);
    put_user(&app, "bo@salon.example", "/Office", false).await;
    assert_eq!(app.call("POST", &path, &key, None).await.0, 200);
    app.settle().await;
    assert!(events_of(&app, "bo@salon.example").await.is_empty());

    rename(&app, "bo@salon.example", "bo.ng@salon.example").await;
    put_user(&app, "bo.ng@salon.example", "/Staff/Juniors", false).await;
    still_bo_as_bo_ng(&app, &key, organisation.id, bo.staff_id).await;
    let log = organisation_log(&app, &key).await;
    let detail = log[0]["detail"].as_str().unwrap();
    assert!(detail.contains("bo@salon.example is now bo.ng@salon.example"), "{detail}");
    until_events(&app, "bo.ng@salon.example", |e| e.len() == 1 && e[0]["summary"] == "Trim").await;
    app.stop().await;
}

/// Bo is renamed and moved out of the scope before the directory is read again: he is a leaver
/// found under his new address, whose calendar has Kalends' events taken out (a token for his
/// old address is refused, and his calendar has the new address's id).
async fn a_user_renamed_as_they_leave_the_scope_has_kalends_events_taken_out_under_the_new_address(
    db: Db,
) {
    let (app, key, organisation, bo, _) = bo_booked(db).await;
    bo_renamed_an_hour_ago(&app).await;
    put_user(&app, "bo.ng@salon.example", "/Office", false).await;
    assert_eq!(events_of(&app, "bo.ng@salon.example").await.len(), 1, "his booking moved with him");
    let path = format!("/api/v1/organisation-connections/{}/refresh", organisation.id);
    let (status, answer) = app.call("POST", &path, &key, None).await;
    assert_eq!(status, 200, "{answer}");
    app.settle().await;
    assert!(events_of(&app, "bo.ng@salon.example").await.is_empty(), "Kalends' event left");
    let listed = members(&app, &key, organisation.id).await.items;
    let bo_now = listed.iter().find(|m| m.staff_id == bo.staff_id).unwrap();
    assert_eq!((bo_now.email.as_str(), bo_now.state.as_str()), ("bo.ng@salon.example", "left"));
    let staff = app.api(&key).staff(bo.staff_id).await.unwrap();
    assert_eq!(staff.email.as_deref(), Some("bo.ng@salon.example"), "the staff member followed");
    app.stop().await;
}

/// Bo moves out of the scope while Google cannot be asked about him alone (its `users.get`
/// failing for now): the read goes on, Dee joins, and Bo's calendar is stopped under the
/// address Kalends has, his event removed.
async fn a_leaver_the_directory_cannot_be_asked_about_now_does_not_hold_up_the_read(db: Db) {
    let (app, key, organisation, bo, _) = bo_booked(db).await;
    put_user(&app, "dee@salon.example", "/Staff", false).await;
    put_user(&app, "bo@salon.example", "/Office", false).await;
    app.sandbox_faults(json!({"error_rate": 1.0, "path": "/directory/v1/users/"})).await;
    let path = format!("/api/v1/organisation-connections/{}/refresh", organisation.id);
    let (status, answer) = app.call("POST", &path, &key, None).await;
    assert_eq!(status, 200, "{answer}");
    app.sandbox_faults(json!({})).await;
    dee_joined_and_bo_left(&app, &key, organisation.id).await;
    app.settle().await;
    assert!(events_of(&app, "bo@salon.example").await.is_empty());
    assert_eq!(app.api(&key).staff(bo.staff_id).await.unwrap().id, bo.staff_id);
    app.stop().await;
}

/// Bo, signed in to his settings, connects his Workspace calendar himself; then the
/// organisation connects `/Staff`, which covers Ann but leaves Bo's calendar his.
async fn bo_connected_himself_first(
    db: Db,
) -> (TestApp, String, Uuid, crate::connect::Browser, OrganisationConnectionOut) {
    let app = TestApp::start_public(db).await;
    workspace(&app, &all_scopes()).await;
    let (key, bo, browser) = crate::connect::signed_in(&app, "bo@salon.example").await;
    let page = crate::connect::connect(&app, &browser, "google", "bo@salon.example", "allow").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let organisation = connect_staff_unit(&app, &key).await;
    (app, key, bo, browser, organisation)
}

/// Bo connected his calendar himself before the organisation did, so it covers no calendar of
/// his. Renamed, he connects it again under his new address: the next read lists him there, and
/// his staff member's e-mail follows.
async fn a_renamed_user_with_only_their_own_calendar_is_listed_under_the_new_address(db: Db) {
    let (app, key, bo, browser, organisation) = bo_connected_himself_first(db).await;
    let listed = members(&app, &key, organisation.id).await.items;
    let his = |listed: &[MemberOut]| {
        let member = listed.iter().find(|m| m.staff_id == bo).unwrap();
        (member.email.clone(), member.state.clone())
    };
    assert_eq!(his(&listed), ("bo@salon.example".to_owned(), "failed".to_owned()));

    bo_renamed_an_hour_ago(&app).await;
    let page =
        crate::connect::connect(&app, &browser, "google", "bo.ng@salon.example", "allow").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let path = format!("/api/v1/organisation-connections/{}/refresh", organisation.id);
    let (status, answer) = app.call("POST", &path, &key, None).await;
    assert_eq!(status, 200, "{answer}");
    let listed = members(&app, &key, organisation.id).await.items;
    assert_eq!(his(&listed), ("bo.ng@salon.example".to_owned(), "failed".to_owned()));
    let staff = app.api(&key).staff(bo).await.unwrap();
    assert_eq!(staff.email.as_deref(), Some("bo.ng@salon.example"));
    app.stop().await;
}

/// Bo connected his calendar himself before the organisation did. Renamed, his own connection
/// still works (the grant follows his account): the next read moves it to his new address and
/// leaves it his, rather than covering the same calendar again and writing his booking twice.
async fn a_renamed_users_own_calendar_follows_them_and_is_not_covered_a_second_time(db: Db) {
    let (app, key, bo, _, organisation) = bo_connected_himself_first(db).await;
    let mut booking = booking_in("Trim", 8);
    booking.staff_ids = vec![bo];
    app.api(&key).create_booking(&booking).await.unwrap();
    until_events(&app, "bo@salon.example", |e| e.len() == 1).await;

    bo_renamed_an_hour_ago(&app).await;
    let path = format!("/api/v1/organisation-connections/{}/refresh", organisation.id);
    let (status, answer) = app.call("POST", &path, &key, None).await;
    assert_eq!(status, 200, "{answer}");
    app.settle().await;
    let listed = members(&app, &key, organisation.id).await.items;
    let his = listed.iter().find(|m| m.staff_id == bo).unwrap();
    assert_eq!((his.email.as_str(), his.state.as_str()), ("bo.ng@salon.example", "failed"));
    let connections = app.api(&key).connections().await.unwrap();
    let accounts: Vec<_> = connections
        .iter()
        .filter(|c| c.staff_id == bo)
        .map(|c| (c.account_email.as_str(), c.status.as_str()))
        .collect();
    assert_eq!(accounts, [("bo.ng@salon.example", "active")], "his own, followed");
    assert_eq!(events_of(&app, "bo.ng@salon.example").await.len(), 1, "his booking, once");
    app.stop().await;
}

/// Bo is renamed and a new user, Bea, is given his old address before the directory is read:
/// Bo stays himself under his new address, and Bea becomes a staff member of her own, not Bo.
async fn a_new_user_given_a_renamed_users_old_address_is_a_staff_member_of_their_own(db: Db) {
    let (app, key, organisation, bo, _) = bo_booked(db).await;
    rename(&app, "bo@salon.example", "bo.ng@salon.example").await;
    put_user(&app, "bo@salon.example", "/Staff/Juniors", false).await;
    let path = format!("/api/v1/organisation-connections/{}/refresh", organisation.id);
    let (status, answer) = app.call("POST", &path, &key, None).await;
    assert_eq!((status, &answer["members_count"]), (200, &json!(3)), "{answer}");
    let listed = members(&app, &key, organisation.id).await.items;
    assert_eq!(
        states(&listed),
        [
            ("ann@salon.example", "active"),
            ("bo.ng@salon.example", "active"),
            ("bo@salon.example", "active")
        ]
    );
    assert_eq!(listed[1].staff_id, bo.staff_id, "Bo is still Bo");
    assert_ne!(listed[2].staff_id, bo.staff_id, "the new user is not Bo");
    assert_eq!(app.api(&key).staff_list().await.unwrap().items.len(), 3);
    let staff = app.api(&key).staff(bo.staff_id).await.unwrap();
    assert_eq!(staff.email.as_deref(), Some("bo.ng@salon.example"));
    // Bo's booking is in his calendar, not in the new user's.
    until_events(&app, "bo.ng@salon.example", |e| e.len() == 1).await;
    app.settle().await;
    assert!(events_of(&app, "bo@salon.example").await.is_empty());
    app.stop().await;
}

/// An open console follows the Organisation page live: a member's state changing, with no
/// calendar changing with it, moves what the console's live stream compares.
async fn a_members_change_reaches_an_open_console(db: Db) {
    let (app, tenant, _, organisation) = staff_unit_connected(db).await;
    app.settle().await;
    let before = app.store.console_fingerprint(tenant.id).await.unwrap();
    let mut bo =
        app.store.organisation_members(tenant.id, organisation.id).await.unwrap().remove(1);
    assert_eq!(bo.email, "bo@salon.example");
    bo.state = "failed".into();
    bo.last_error = Some("the user is outside the application's access scope".into());
    // Past the clock's resolution: the change's time differs from the creation's.
    tokio::time::sleep(Duration::from_millis(5)).await;
    app.store.save_organisation_member(tenant.id, organisation.id, &bo).await.unwrap();
    let after = app.store.console_fingerprint(tenant.id).await.unwrap();
    assert_ne!(before, after);
    app.stop().await;
}

/// Bo is renamed, and before the directory is read the organisation moves into busy times
/// only: his calendar is followed to his new address first, so that Kalends' events are taken
/// out of it, then covered for busy times.
async fn a_renamed_user_moved_into_busy_times_only_has_kalends_events_taken_out(db: Db) {
    let (app, key, organisation, bo, _) = bo_booked(db).await;
    let mut scopes = all_scopes();
    scopes.push(FREE_BUSY_SCOPE);
    delegate(&app, &scopes).await;
    bo_renamed_an_hour_ago(&app).await;
    let path = format!("/api/v1/organisation-connections/{}", organisation.id);
    let (status, answer) = app.call("PATCH", &path, &key, Some(json!({"busy_only": true}))).await;
    assert_eq!((status, &answer["members_count"]), (200, &json!(2)), "{answer}");
    app.settle().await;
    let listed = members(&app, &key, organisation.id).await.items;
    assert_eq!(
        states(&listed),
        [("ann@salon.example", "active"), ("bo.ng@salon.example", "active")]
    );
    let connections = app.api(&key).connections().await.unwrap();
    let his = connections.iter().find(|c| c.staff_id == bo.staff_id).unwrap();
    assert_eq!(
        (his.account_email.as_str(), his.status.as_str(), his.busy_only),
        ("bo.ng@salon.example", "active", true)
    );
    assert!(events_of(&app, "bo.ng@salon.example").await.is_empty(), "Kalends' event is gone");
    app.stop().await;
}

/// More users to cover than a request should wait for (over 40): the connection answers at once
/// and the directory's users are covered in the background, the API and the console saying how
/// many are still to go.
async fn a_directory_of_hundreds_is_covered_in_the_background_and_the_connection_answers_at_once(
    db: Db,
) {
    let app = TestApp::start_public(db).await;
    let (browser, key, _) = crate::console::signed_in(&app).await;
    workspace(&app, &all_scopes()).await;
    for n in 0..60 {
        put_user(&app, &format!("stylist{n:02}@salon.example"), "/Staff", false).await;
    }
    // Each covered calendar's listing waits at the sandbox until the test lets it go.
    let hold = app.url("/sandbox/_control/hold");
    let gate = json!({"path": "/calendarList"});
    assert!(app.sandbox().put(&hold).json(&gate).send().await.unwrap().status().is_success());

    let organisation = connect_staff_unit(&app, &key).await;
    assert_eq!((organisation.members_count, organisation.members_waiting), (0, 62));
    let path = format!("/api/v1/organisation-connections/{}", organisation.id);
    let page = browser.get("/dashboard/organisation").await;
    assert!(
        page.body.contains("Covering the directory's users in the background: 62 still to go"),
        "{}",
        page.body
    );
    let log = organisation_log(&app, &key).await;
    assert_eq!(log[0]["action"], "connected");
    // Owed on the connection: a lost job is made up by the scheduler's next pass.
    let an_hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    let due = app.store.organisations_due(an_hour_ago, 10).await.unwrap();
    assert!(due.iter().any(|(_, id)| *id == organisation.id), "{due:?}");

    assert_eq!(app.sandbox().delete(&hold).send().await.unwrap().status(), 204);
    // The background read logs what it did once it is done.
    let log = eventually(Duration::from_secs(60), || async {
        let log = organisation_log(&app, &key).await;
        (log[0]["action"] == "refreshed").then_some(log)
    })
    .await;
    assert_eq!(log[0]["by"]["kind"], "api_key", "the read is theirs who asked for it");
    let (_, answer) = app.call("GET", &path, &key, None).await;
    let done: OrganisationConnectionOut = serde_json::from_value(answer).unwrap();
    assert_eq!((done.members_count, done.members_waiting), (62, 0));
    let listed = members(&app, &key, organisation.id).await.items;
    assert!(listed.len() == 62 && listed.iter().all(|m| m.state == "active"), "{listed:?}");
    let detail = log[0]["detail"].as_str().unwrap();
    assert!(detail.starts_with("62 users joined (ann@salon.example, "), "{detail}");
    let page = browser.get("/dashboard/organisation").await;
    assert!(!page.body.contains("still to go"), "{}", page.body);
    let due = app.store.organisations_due(an_hour_ago, 10).await.unwrap();
    assert!(due.is_empty(), "read, and not owed any more: {due:?}");

    // A change of tier moves every covered calendar: in the background too, counted the same.
    let mut scopes = all_scopes();
    scopes.push(FREE_BUSY_SCOPE);
    delegate(&app, &scopes).await;
    let (status, answer) = app.call("PATCH", &path, &key, Some(json!({"busy_only": true}))).await;
    assert_eq!((status, &answer["members_waiting"]), (200, &json!(62)), "{answer}");
    let answer = eventually(Duration::from_secs(60), || async {
        let (_, answer) = app.call("GET", &path, &key, None).await;
        (answer["members_waiting"] == 0).then_some(answer)
    })
    .await;
    assert_eq!(answer["members_count"], 62, "{answer}");
    let connections = app.api(&key).connections().await.unwrap();
    assert!(connections.iter().all(|c| c.busy_only && c.status == "active"), "{connections:?}");
    // Logged as theirs who changed the tier, once done.
    let log = eventually(Duration::from_secs(30), || async {
        let log = organisation_log(&app, &key).await;
        (log[0]["action"] == "refreshed").then_some(log)
    })
    .await;
    assert_eq!((&log[0]["by"]["kind"], &log[1]["action"]), (&json!("api_key"), &json!("changed")));
    let detail = log[0]["detail"].as_str().unwrap();
    assert!(detail.contains("62 calendars covered again"), "{detail}");
    app.stop().await;
}

/// A Workspace of thirty staff, Google taking 600 ms for each token: disconnecting it mints no
/// token (each calendar's cleanup mints its own if the last one ran out), so the request
/// answers within its time limit of eight seconds, every covered calendar stopped, and
/// Kalends' events still go.
async fn disconnecting_a_large_workspace_asks_its_slow_token_endpoint_nothing_and_finishes_at_once(
    db: Db,
) {
    let app = TestApp::start_public_with(db, |config| config.http.request_timeout_secs = 8).await;
    let (_, key) = app.tenant().await;
    workspace(&app, &all_scopes()).await;
    for n in 0..28 {
        put_user(&app, &format!("stylist{n:02}@salon.example"), "/Staff", false).await;
    }
    let organisation = connect_staff_unit(&app, &key).await;
    assert_eq!(organisation.members_count, 30);
    let bo = members(&app, &key, organisation.id).await.items[1].clone();
    let mut booking = booking_in("Trim", 8);
    booking.staff_ids = vec![bo.staff_id];
    app.api(&key).create_booking(&booking).await.unwrap();
    until_events(&app, "bo@salon.example", |e| e.len() == 1).await;

    app.sandbox_faults(json!({"latency_ms": 600, "path": "/google/token"})).await;
    let minted = token_requests(&app).await;
    let path = format!("/api/v1/organisation-connections/{}", organisation.id);
    let (status, answer) = app.call("DELETE", &path, &key, None).await;
    assert_eq!(status, 204, "{answer}");
    assert_eq!(token_requests(&app).await, minted, "the request minted no token");
    let connections = app.api(&key).connections().await.unwrap();
    assert_eq!(connections.len(), 30);
    assert!(connections.iter().all(|c| c.status == "revoked"), "{connections:?}");
    app.settle().await;
    assert!(events_of(&app, "bo@salon.example").await.is_empty());
    app.sandbox_faults(json!({})).await;
    app.stop().await;
}

async fn bad_credentials_are_refused_naming_what_to_fix_and_nothing_is_stored(db: Db) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    workspace(&app, &[DIRECTORY_SCOPE]).await;
    let create = |body: Value| {
        let (app, key) = (&app, &key);
        async move { app.call("POST", "/api/v1/organisation-connections", key, Some(body)).await }
    };

    // Missing and misplaced fields, each named.
    let (status, answer) = create(json!({"provider": "google", "client_id": "x"})).await;
    assert_eq!(status, 422, "{answer}");
    let problem = serde_json::from_value(answer).unwrap();
    let mut named = fields(&problem);
    named.sort_unstable();
    assert_eq!(named, ["admin_email", "client_id", "domain", "service_account_key"]);
    let (status, answer) = create(json!({"provider": "fax"})).await;
    assert_eq!((status, answer["errors"][0]["field"].as_str()), (422, Some("provider")));
    // A key padded to most of a megabyte is no key Google made (they are about 2.3 KB): refused
    // before it is sealed and copied for every covered calendar's cleanup.
    let mut padded = json_key(KEY);
    padded["padding"] = "x".repeat(900_000).into();
    let (status, answer) = create(google_body(padded, "admin@salon.example", None)).await;
    assert_eq!((status, answer["errors"][0]["field"].as_str()), (422, Some("service_account_key")));
    let said = answer["errors"][0]["message"].as_str().unwrap();
    assert!(said.starts_with("longer than 16 KiB"), "{said}");

    // Not a service account key; a key Google does not know; the calendar scopes not delegated;
    // an administrator who is not one.
    let mut not_service = json_key(KEY);
    not_service["type"] = "authorized_user".into();
    let refusals = [
        (
            google_body(not_service, "admin@salon.example", None),
            "service_account_key",
            "service account key",
        ),
        (
            google_body(json_key(OTHER_KEY), "admin@salon.example", None),
            "service_account_key",
            "create a new JSON key",
        ),
        (
            google_body(json_key(KEY), "admin@salon.example", None),
            "service_account_key",
            "Security > Access and data control > API controls > Domain-wide delegation",
        ),
        (google_body(json_key(KEY), "ann@salon.example", None), "admin_email", "administrator"),
        (
            {
                let mut typo = google_body(json_key(KEY), "admin@salon.example", None);
                typo["domain"] = json!("salom.example");
                typo
            },
            "domain",
            "Google does not know the domain salom.example",
        ),
    ];
    put_user(&app, "admin@salon.example", "/", true).await;
    for (body, field, words) in refusals {
        let (status, answer) = create(body).await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["errors"][0]["field"], field, "{answer}");
        let message = answer["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(words), "{message}");
        assert!(!answer.to_string().contains("PRIVATE KEY"), "the key is never echoed");
    }
    // The missing delegation names the scope and the client id to grant it to.
    let (_, answer) = create(google_body(json_key(KEY), "admin@salon.example", None)).await;
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains(CALENDAR_SCOPES[0]) && message.contains(CLIENT_ID), "{message}");

    let (status, listed) = app.call("GET", "/api/v1/organisation-connections", &key, None).await;
    assert_eq!((status, listed["items"].as_array().unwrap().len()), (200, 0));
    assert!(app.api(&key).staff_list().await.unwrap().items.is_empty());
    assert!(app.api(&key).connections().await.unwrap().is_empty());

    // The busy-times-only tier asks for the free/busy scope alone, and names it when missing.
    let mut busy_only = google_body(json_key(KEY), "admin@salon.example", None);
    busy_only["busy_only"] = json!(true);
    let (status, answer) = create(busy_only).await;
    assert_eq!(answer["errors"][0]["field"], "service_account_key", "{answer}");
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(status == 422 && message.contains(FREE_BUSY_SCOPE), "{message}");
    app.stop().await;
}

async fn a_unit_is_found_by_its_path_whatever_it_is_called_and_one_google_does_not_know_is_refused(
    db: Db,
) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    workspace(&app, &all_scopes()).await;
    put_user(&app, "dee@salon.example", "/Women's team", false).await;
    let create = |unit: &'static str| {
        let (app, key) = (&app, &key);
        let body = google_body(json_key(KEY), "admin@salon.example", Some(unit));
        async move { app.call("POST", "/api/v1/organisation-connections", key, Some(body)).await }
    };

    // A unit the Workspace does not have: Google's "Invalid Input: INVALID_OU_ID", said on the
    // unit with where the Admin console lists the units; nothing stored.
    let (status, answer) = create("/Stafff").await;
    assert_eq!((status, &answer["errors"][0]["field"]), (422, &json!("org_unit")), "{answer}");
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("/Stafff") && message.contains("Organizational units"), "{message}");
    let (_, listed) = app.call("GET", "/api/v1/organisation-connections", &key, None).await;
    assert_eq!(listed["items"], json!([]));

    // A unit whose name holds a quote is asked for as Google's query syntax escapes it.
    let (status, answer) = create("/Women's team").await;
    assert_eq!((status, &answer["members_count"]), (201, &json!(1)), "{answer}");
    let id: Uuid = answer["id"].as_str().unwrap().parse().unwrap();
    let covered = members(&app, &key, id).await.items;
    assert_eq!(states(&covered), [("dee@salon.example", "active")]);
    app.stop().await;
}

async fn a_delegation_taken_back_marks_the_covered_calendars_for_the_administrator(db: Db) {
    let (app, _, key, organisation) = staff_unit_connected(db).await;
    let covered = members(&app, &key, organisation.id).await.items;
    let (ann, bo) = (covered[0].clone(), covered[1].clone());

    // The administrator takes the calendar scopes back; the minted tokens run out.
    delegate(&app, &[DIRECTORY_SCOPE]).await;
    let expire = app.url("/sandbox/_control/expire-tokens");
    app.sandbox().post(expire).json(&json!({})).send().await.unwrap();
    let mut booking = booking_in("Blow-dry", 9);
    booking.staff_ids = vec![bo.staff_id];
    app.api(&key).create_booking(&booking).await.unwrap();
    app.settle().await;

    let listed = members(&app, &key, organisation.id).await.items;
    let bos = listed.iter().find(|m| m.staff_id == bo.staff_id).unwrap();
    assert_eq!(bos.state, "failed", "{listed:?}");
    let error = bos.last_error.as_deref().unwrap();
    assert!(error.contains("Domain-wide delegation") && error.contains(CLIENT_ID), "{error}");
    // Ann's calendar is told the same refusal without Google being asked again: it holds for
    // every user of the key.
    let asked = token_requests(&app).await;
    let mut trim = booking_in("Trim", 10);
    trim.staff_ids = vec![ann.staff_id];
    app.api(&key).create_booking(&trim).await.unwrap();
    app.settle().await;
    let listed = members(&app, &key, organisation.id).await.items;
    assert!(listed.iter().all(|m| m.state == "failed"), "{listed:?}");
    assert_eq!(token_requests(&app).await, asked, "the refusal that stands is told");
    let connections = app.api(&key).connections().await.unwrap();
    let covered = connections.iter().find(|c| c.staff_id == bo.staff_id).unwrap();
    assert_eq!(covered.status, "error", "the administrator acts, not the staff member");
    assert!(events_of(&app, "bo@salon.example").await.is_empty());
    let one = format!("/api/v1/organisation-connections/{}", organisation.id);
    let (_, shown) = app.call("GET", &one, &key, None).await;
    assert_eq!(shown["members_count"], json!(0), "no calendar syncs: {shown}");

    // Granted again, the administrator refreshes: Bo's calendar is covered again and gets the
    // booking it missed.
    delegate(&app, &all_scopes()).await;
    let refresh = format!("/api/v1/organisation-connections/{}/refresh", organisation.id);
    let (status, answer) = app.call("POST", &refresh, &key, None).await;
    assert_eq!((status, &answer["members_count"]), (200, &json!(2)), "{answer}");
    until_events(&app, "bo@salon.example", |e| e.len() == 1).await;
    until_events(&app, &ann.email, |e| e.len() == 1).await;
    let listed = members(&app, &key, organisation.id).await.items;
    assert!(listed.iter().all(|m| m.state == "active" && m.last_error.is_none()), "{listed:?}");
    app.stop().await;
}

/// Runs `sql` (one statement) on the test's database.
async fn run_sql(app: &TestApp, sql: &str) {
    use kalends_store::Pool;
    match app.store.pool() {
        Pool::Postgres(pool) => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(pool).await.map(|_| ()).unwrap();
        }
        Pool::Sqlite { write, .. } => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(write).await.map(|_| ()).unwrap();
        }
    }
}

/// The database fails to save Bo's member while a new Workspace connection covers its staff:
/// the connection was stored, its credentials proven, so the answer is that connection (not a
/// 500 for something that exists, whose retry would be refused as connected already), a read
/// is owed in the background, and a read once the database works covers Bo.
async fn a_creation_whose_members_the_database_fails_to_save_answers_the_connection_it_stored(
    db: Db,
) {
    let postgres = matches!(db, Db::Postgres);
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    workspace(&app, &all_scopes()).await;
    let (fail, unfail) = if postgres {
        (
            "CREATE FUNCTION refuse_bo() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$; \
             CREATE TRIGGER refuse_bo BEFORE INSERT ON organisation_members FOR EACH ROW \
             WHEN (NEW.email = 'bo@salon.example') EXECUTE FUNCTION refuse_bo()",
            "DROP TRIGGER refuse_bo ON organisation_members",
        )
    } else {
        (
            "CREATE TRIGGER refuse_bo BEFORE INSERT ON organisation_members \
             WHEN NEW.email = 'bo@salon.example' \
             BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END",
            "DROP TRIGGER refuse_bo",
        )
    };
    run_sql(&app, fail).await;
    let organisation = connect_staff_unit(&app, &key).await;
    let (status, listed) = app.call("GET", "/api/v1/organisation-connections", &key, None).await;
    assert_eq!((status, listed["items"].as_array().map(Vec::len)), (200, Some(1)), "{listed}");
    let covered = members(&app, &key, organisation.id).await.items;
    assert!(covered.iter().all(|m| m.email != "bo@salon.example"), "{covered:?}");

    run_sql(&app, unfail).await;
    let refresh = format!("/api/v1/organisation-connections/{}/refresh", organisation.id);
    eventually(Duration::from_secs(30), || async {
        // The background read's retry may hold the connection for a moment (a 409 meanwhile).
        app.call("POST", &refresh, &key, None).await;
        let covered = members(&app, &key, organisation.id).await.items;
        covered.iter().any(|m| m.email == "bo@salon.example" && m.state == "active").then_some(())
    })
    .await;
    app.stop().await;
}

/// The administrator disconnects the organisation while a read of its directory covers twelve
/// joiners, Google slow to list each one's calendars. The disconnect does not wait for the whole
/// read (a large directory's may run for minutes): the read stops before its next member, and
/// the disconnect then stops every covered calendar, those the read had just covered included.
async fn a_disconnect_during_a_long_read_stops_the_read_and_every_covered_calendar(db: Db) {
    let (app, _, key, organisation) = staff_unit_connected(db).await;
    for n in 0..12 {
        put_user(&app, &format!("joiner{n}@salon.example"), "/Staff", false).await;
    }
    let control = app.sandbox();
    let hold = app.url("/sandbox/_control/hold");
    let gate = json!({"path": "calendarList"});
    assert!(control.put(&hold).json(&gate).send().await.unwrap().status().is_success());
    let path = format!("/api/v1/organisation-connections/{}", organisation.id);
    let refresh = format!("{path}/refresh");

    let read = app.call("POST", &refresh, &key, None);
    let disconnect = async {
        // The read is covering its first joiners, each waiting for Google.
        eventually(Duration::from_secs(30), || async {
            let view: Value = control.get(&hold).send().await.unwrap().json().await.unwrap();
            (view["waiting"].as_u64() >= Some(8)).then_some(())
        })
        .await;
        let lift = async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            control.delete(&hold).send().await.unwrap();
        };
        tokio::join!(app.call("DELETE", &path, &key, None), lift).0
    };
    let ((read, read_answer), (disconnected, answer)) = tokio::join!(read, disconnect);
    assert_eq!(disconnected, 204, "{answer}");
    assert_eq!(read, 409, "the read stopped: {read_answer}");
    assert!(read_answer["detail"].as_str().unwrap().contains("being disconnected"));
    app.settle().await;
    let connections = app.api(&key).connections().await.unwrap();
    assert!(connections.iter().all(|c| c.status != "active"), "{connections:?}");
    let (status, _) = app.call("GET", &path, &key, None).await;
    assert_eq!(status, 404);
    app.stop().await;
}

/// Two reads or changes of one organisation at once (the hourly read while the administrator
/// disconnects it, say) could cover a calendar the disconnection had just stopped: one runs at a
/// time, in whichever process. Another asked meanwhile is refused (a disconnect once it has
/// waited for a holder that never lets go), and the hourly read leaves it.
async fn a_read_or_change_asked_while_another_is_under_way_is_refused_and_the_hourly_read_skips_it(
    db: Db,
) {
    let (app, tenant, key, organisation) = staff_unit_connected(db).await;
    let id = organisation.id;
    put_user(&app, "dee@salon.example", "/Staff", false).await;

    // Another process is reading the directory.
    let until = chrono::Utc::now() + chrono::Duration::minutes(5);
    assert!(app.store.hold_organisation(tenant.id, id, until).await.unwrap());
    let path = format!("/api/v1/organisation-connections/{id}");
    let refresh = format!("{path}/refresh");
    let busy_only = Some(json!({"busy_only": true}));
    for (method, path, body) in
        [("POST", &refresh, None), ("PATCH", &path, busy_only), ("DELETE", &path, None)]
    {
        let (status, answer) = app.call(method, path, &key, body).await;
        assert_eq!(status, 409, "{method} {path}: {answer}");
        assert!(answer["detail"].as_str().unwrap().contains("try again"), "{answer}");
    }
    let job = Job::RefreshOrganisation { tenant_id: tenant.id, organisation_id: id };
    app.store.enqueue(&job).await.unwrap();
    app.settle().await;
    let (browser, _, csrf) = crate::console::signed_in_as(&app, &key).await;
    let page = browser
        .post(&format!("/dashboard/organisation/{id}/refresh"), &[("csrf", csrf.as_str())])
        .await;
    assert!(page.body.contains("being read or changed right now"), "{}", page.body);
    // Said above the forms, not as a new Workspace's refusal, with the API's status.
    assert_eq!(page.status, 409);
    let said = page.body.find("being read or changed right now").unwrap();
    assert!(said < page.body.find("Connect a Google Workspace").unwrap(), "{}", page.body);
    assert!(!page.body.contains("paste it once more"), "{}", page.body);
    // Nothing was done meanwhile: Dee is not covered, nothing logged, nothing disconnected.
    let listed = members(&app, &key, id).await.items;
    assert!(listed.iter().all(|m| m.email != "dee@salon.example"), "{listed:?}");
    assert_eq!(organisation_log(&app, &key).await.len(), 1, "only the connection");
    assert!(app.api(&key).connections().await.unwrap().iter().all(|c| c.status == "active"));

    // Once it is done, the next read covers Dee, and lets the connection go again.
    app.store.release_organisation(id).await.unwrap();
    let (status, answer) = app.call("POST", &refresh, &key, None).await;
    assert_eq!((status, &answer["members_count"]), (200, &json!(3)), "{answer}");
    assert_eq!(app.call("DELETE", &path, &key, None).await.0, 204);
    assert_eq!(app.call("DELETE", &path, &key, None).await.0, 404, "gone, not busy");
    app.stop().await;
}

/// A read whose work stops between saving a joiner's calendar and saving them as a member (the
/// database refusing the member, the process dying) must not leave a calendar no member owns:
/// the next read would take it for one the staff member connected themselves, and never cover
/// them.
async fn a_read_that_fails_between_a_calendar_and_its_member_covers_that_member_the_next_time(
    db: Db,
) {
    let (app, _, key, organisation) = staff_unit_connected(db).await;
    put_user(&app, "dee@salon.example", "/Staff", false).await;
    // Dee's member row cannot be written, once.
    let postgres = "CREATE FUNCTION refuse_dee() RETURNS trigger LANGUAGE plpgsql AS \
                    $$ BEGIN RAISE EXCEPTION 'injected'; END $$; \
                    CREATE TRIGGER refuse_dee BEFORE INSERT ON organisation_members FOR EACH ROW \
                    WHEN (NEW.email = 'dee@salon.example') EXECUTE FUNCTION refuse_dee()";
    let sqlite = "CREATE TRIGGER refuse_dee BEFORE INSERT ON organisation_members \
                  WHEN NEW.email = 'dee@salon.example' BEGIN SELECT RAISE(ABORT, 'injected'); END";
    crate::helpers::execute_either(&app.store, postgres, sqlite).await;
    let refresh = format!("/api/v1/organisation-connections/{}/refresh", organisation.id);
    let (status, answer) = app.call("POST", &refresh, &key, None).await;
    assert_eq!(status, 500, "{answer}");
    let drop = "DROP TRIGGER refuse_dee";
    crate::helpers::execute_either(&app.store, &format!("{drop} ON organisation_members"), drop)
        .await;

    let (status, answer) = app.call("POST", &refresh, &key, None).await;
    assert_eq!((status, &answer["members_count"]), (200, &json!(3)), "{answer}");
    let listed = members(&app, &key, organisation.id).await.items;
    let dee = listed.iter().find(|m| m.email == "dee@salon.example").unwrap();
    assert_eq!((dee.state.as_str(), &dee.last_error), ("active", &None), "{dee:?}");
    let connections = app.api(&key).connections().await.unwrap();
    let dees: Vec<_> = connections.iter().filter(|c| c.staff_id == dee.staff_id).collect();
    assert_eq!(dees.len(), 1, "{dees:?}");
    assert!(dees[0].status == "active" && dees[0].is_default, "{dees:?}");
    app.stop().await;
}

async fn the_scheduled_directory_read_covers_a_joiner_and_keeps_a_refusal_for_the_administrator(
    db: Db,
) {
    let (app, tenant, key, organisation) = staff_unit_connected(db).await;
    let job = Job::RefreshOrganisation { tenant_id: tenant.id, organisation_id: organisation.id };

    // A read that finds nobody new is not logged; one that finds Dee is.
    app.store.enqueue(&job).await.unwrap();
    app.settle().await;
    assert_eq!(organisation_log(&app, &key).await.len(), 1, "only the connection");
    put_user(&app, "dee@salon.example", "/Staff", false).await;
    app.store.enqueue(&job).await.unwrap();
    app.settle().await;
    let listed = members(&app, &key, organisation.id).await.items;
    assert!(listed.iter().any(|m| m.email == "dee@salon.example" && m.state == "active"));
    let log = organisation_log(&app, &key).await;
    assert_eq!(
        (&log[0]["action"], &log[0]["by"]),
        (&json!("refreshed"), &json!({"kind": "schedule"}))
    );
    assert!(log[0]["detail"].as_str().unwrap().starts_with("1 user joined (dee@salon.example)"));

    // The administrator loses the directory scope: the scheduled read fails for good (no retry
    // storm) and the connection says what to grant.
    delegate(&app, &CALENDAR_SCOPES).await;
    app.store.enqueue(&job).await.unwrap();
    app.settle().await;
    let path = format!("/api/v1/organisation-connections/{}", organisation.id);
    let (_, answer) = app.call("GET", &path, &key, None).await;
    assert_eq!(answer["status"], "error", "{answer}");
    let error = answer["last_error"].as_str().unwrap();
    assert!(error.contains(DIRECTORY_SCOPE) && error.contains(CLIENT_ID), "{error}");
    assert_eq!(answer["members_count"], 3, "the members keep syncing meanwhile");
    app.stop().await;
}

/// The hourly read finds five of the seven members gone from the directory at once (as when
/// the account reading it loses its rights over them): it marks nobody as left and tells the
/// administrator. A read someone asks for applies it: they are marked left.
async fn the_hourly_read_does_not_stop_most_of_the_organisation_at_once_by_itself(db: Db) {
    let (app, tenant, key, organisation) = staff_unit_connected(db).await;
    for n in 0..5 {
        put_user(&app, &format!("stylist{n}@salon.example"), "/Staff", false).await;
    }
    let refresh = format!("/api/v1/organisation-connections/{}/refresh", organisation.id);
    let (status, answer) = app.call("POST", &refresh, &key, None).await;
    assert_eq!(status, 200, "{answer}");
    for n in 0..5 {
        put_user(&app, &format!("stylist{n}@salon.example"), "/Office", false).await;
    }
    let job = Job::RefreshOrganisation { tenant_id: tenant.id, organisation_id: organisation.id };
    app.store.enqueue(&job).await.unwrap();
    app.settle().await;
    let listed = members(&app, &key, organisation.id).await.items;
    assert!(listed.len() == 7 && listed.iter().all(|m| m.state == "active"), "{listed:?}");
    let connections = app.api(&key).connections().await.unwrap();
    assert!(connections.iter().all(|c| c.status == "active"), "{connections:?}");
    let path = format!("/api/v1/organisation-connections/{}", organisation.id);
    let (_, answer) = app.call("GET", &path, &key, None).await;
    let error = answer["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("left out 5 of the 7 members"), "{answer}");

    let (status, answer) = app.call("POST", &refresh, &key, None).await;
    assert_eq!(status, 200, "{answer}");
    let listed = members(&app, &key, organisation.id).await.items;
    let left = listed.iter().filter(|m| m.state == "left").count();
    assert_eq!(left, 5, "{listed:?}");
    app.stop().await;
}

/// The administrator e-mail's rights are narrowed to `/Staff/Juniors`, where Bo is: the
/// directory's read no longer lists Ann, and Google refuses to say anything about her. Whether
/// she left cannot be told, so the hourly read does not stop her calendar: she is a `failed`
/// member saying why and what to do, and her booking stays in her calendar. Given back its
/// rights, the next hourly read finds her again; narrowed once more, a person's refresh is
/// what says she left, as for a mass departure.
async fn a_member_the_administrators_narrowed_rights_no_longer_show_is_held_not_marked_as_left(
    db: Db,
) {
    let (app, tenant, key, organisation) = staff_unit_connected(db).await;
    let ann = members(&app, &key, organisation.id).await.items[0].clone();
    assert_eq!(ann.email, "ann@salon.example");
    let mut booking = booking_in("Trim", 8);
    booking.staff_ids = vec![ann.staff_id];
    app.api(&key).create_booking(&booking).await.unwrap();
    until_events(&app, "ann@salon.example", |e| e.len() == 1).await;
    let hourly = || async {
        let job =
            Job::RefreshOrganisation { tenant_id: tenant.id, organisation_id: organisation.id };
        app.store.enqueue(&job).await.unwrap();
        app.settle().await;
    };

    admin_rights(&app, &["/Staff/Juniors"]).await;
    hourly().await;
    let listed = members(&app, &key, organisation.id).await.items;
    assert_eq!(states(&listed), [("ann@salon.example", "failed"), ("bo@salon.example", "active")]);
    let said = listed[0].last_error.as_deref().unwrap();
    assert!(said.starts_with("admin@salon.example may no longer read ann@salon.example"), "{said}");
    assert!(said.contains("Refresh"), "{said}");
    assert_eq!(events_of(&app, "ann@salon.example").await.len(), 1, "her booking stays");
    let connections = app.api(&key).connections().await.unwrap();
    assert!(connections.iter().all(|c| c.status == "active"), "{connections:?}");

    admin_rights(&app, &[]).await;
    hourly().await;
    let listed = members(&app, &key, organisation.id).await.items;
    assert_eq!(states(&listed), [("ann@salon.example", "active"), ("bo@salon.example", "active")]);

    admin_rights(&app, &["/Staff/Juniors"]).await;
    let refresh = format!("/api/v1/organisation-connections/{}/refresh", organisation.id);
    assert_eq!(app.call("POST", &refresh, &key, None).await.0, 200);
    let listed = members(&app, &key, organisation.id).await.items;
    assert_eq!(states(&listed), [("ann@salon.example", "left"), ("bo@salon.example", "active")]);
    app.settle().await;
    assert!(events_of(&app, "ann@salon.example").await.is_empty());
    app.stop().await;
}

/// Forty-five stylists leave `/Staff` at once: more than half the members, which the hourly
/// read holds back. The administrator asks for a refresh, which answers at once and leaves the
/// stopping to a background read; that read is theirs, so it applies the departure rather than
/// holding it back as the hourly one would.
async fn a_departure_too_large_to_answer_at_once_is_applied_by_the_background_read_someone_asked_for(
    db: Db,
) {
    let (app, _, key, organisation) = staff_unit_connected(db).await;
    for n in 0..45 {
        put_user(&app, &format!("stylist{n:02}@salon.example"), "/Staff", false).await;
    }
    let refresh = format!("/api/v1/organisation-connections/{}/refresh", organisation.id);
    assert_eq!(app.call("POST", &refresh, &key, None).await.0, 200);
    app.settle().await;
    let active = |listed: &[MemberOut]| listed.iter().filter(|m| m.state == "active").count();
    let listed = members(&app, &key, organisation.id).await.items;
    assert_eq!(active(&listed), 47, "{listed:?}");

    for n in 0..45 {
        put_user(&app, &format!("stylist{n:02}@salon.example"), "/Office", false).await;
    }
    let (status, answer) = app.call("POST", &refresh, &key, None).await;
    assert_eq!((status, &answer["members_waiting"]), (200, &json!(45)), "{answer}");
    app.settle().await;
    let listed = members(&app, &key, organisation.id).await.items;
    let left = listed.iter().filter(|m| m.state == "left").count();
    assert_eq!((left, active(&listed)), (45, 2), "{listed:?}");
    app.stop().await;
}

async fn a_tenant_never_reaches_another_tenants_organisation_and_the_key_is_never_shown(db: Db) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    let (_, other) = app.tenant().await;
    workspace(&app, &all_scopes()).await;
    let organisation = connect_staff_unit(&app, &key).await;
    let path = format!("/api/v1/organisation-connections/{}", organisation.id);
    for (method, path) in [
        ("GET", path.clone()),
        ("PATCH", path.clone()),
        ("DELETE", path.clone()),
        ("POST", format!("{path}/refresh")),
        ("GET", format!("{path}/members")),
    ] {
        let body = (method == "PATCH").then(|| json!({"org_unit": null}));
        let (status, answer) = app.call(method, &path, &other, body).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
    }
    let (_, listed) = app.call("GET", "/api/v1/organisation-connections", &other, None).await;
    assert_eq!(listed["items"], json!([]));
    assert!(organisation_log(&app, &other).await.is_empty(), "nor its log");
    let (status, answer) =
        app.call("GET", "/api/v1/organisation-connections/log?limit=0", &key, None).await;
    assert_eq!((status, answer["errors"][0]["field"].as_str()), (422, Some("limit")), "{answer}");

    // The owner's answers never carry the key, and the database holds it sealed.
    let (_, answer) = app.call("GET", &path, &key, None).await;
    assert!(!answer.to_string().contains("PRIVATE KEY"));
    assert!(answer.get("service_account_key").is_none());
    let sealed: (String,) = match app.store.pool() {
        kalends_store::Pool::Postgres(pool) => {
            sqlx::query_as("SELECT sealed_key FROM organisation_connections").fetch_one(pool).await
        }
        kalends_store::Pool::Sqlite { read, .. } => {
            sqlx::query_as("SELECT sealed_key FROM organisation_connections").fetch_one(read).await
        }
    }
    .unwrap();
    assert!(sealed.0.starts_with("v1."), "sealed: {}", &sealed.0[..8]);
    assert!(!sealed.0.contains("PRIVATE KEY") && !sealed.0.contains(SERVICE_ACCOUNT));
    app.stop().await;
}

async fn the_console_connects_a_workspace_with_googles_refusals_in_place_refreshes_and_disconnects_it(
    db: Db,
) {
    let app = TestApp::start_public(db).await;
    let (browser, api_key, csrf) = crate::console::signed_in(&app).await;
    workspace(&app, &[DIRECTORY_SCOPE]).await;
    let page = browser.get("/dashboard/organisation").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Domain-wide delegation") && page.body.contains(DIRECTORY_SCOPE));
    let key = json_key(KEY).to_string();
    let post = |domain: &'static str| {
        let fields = [
            ("csrf", csrf.as_str()),
            ("service_account_key", key.as_str()),
            ("domain", domain),
            ("admin_email", "admin@salon.example"),
            ("org_unit", "Staff"),
        ];
        let browser = &browser;
        async move { browser.post("/dashboard/organisation", &fields).await }
    };

    // A domain that is not one: the error in place, what was typed kept, the key not echoed.
    let page = post("salon").await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("id=\"domain-error\""), "{}", page.body);
    assert!(page.body.contains("value=\"admin@salon.example\""));
    assert!(!page.body.contains("PRIVATE KEY"), "the key is never shown again");
    // Google refuses: the calendar scopes are not delegated yet.
    let page = post("salon.example").await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("id=\"service_account_key-error\""), "{}", page.body);
    assert!(page.body.contains(CLIENT_ID));

    delegate(&app, &all_scopes()).await;
    let page = post("salon.example").await;
    assert_eq!((page.status, page.location()), (303, "/dashboard/organisation?notice=connected"));
    let page = browser.get("/dashboard/organisation?notice=connected").await;
    assert!(page.body.contains("The Workspace is connected"), "{}", page.body);
    assert!(page.body.contains("ann@salon.example") && page.body.contains("bo@salon.example"));
    assert!(!page.body.contains("cy@salon.example"), "Cy is in /Office");
    assert!(page.body.contains("Syncing"));

    let (_, listed) = app.call("GET", "/api/v1/organisation-connections", &api_key, None).await;
    let id = listed["items"][0]["id"].as_str().unwrap().to_owned();
    let csrf_only = [("csrf", csrf.as_str())];
    // The administrator is one no more: the refusal is said above the forms, not under the
    // empty form of a new connection.
    put_user(&app, "admin@salon.example", "/", false).await;
    let page = browser.post(&format!("/dashboard/organisation/{id}/refresh"), &csrf_only).await;
    assert_eq!(page.status, 422);
    assert!(
        page.body.contains("Last error: admin@salon.example may not read the Workspace directory"),
        "said as the administrator reads it, without the field's name: {}",
        page.body
    );
    assert!(!page.body.contains("id=\"admin_email-error\""), "{}", page.body);
    put_user(&app, "admin@salon.example", "/", true).await;
    let page = browser.post(&format!("/dashboard/organisation/{id}/refresh"), &csrf_only).await;
    assert_eq!(page.location(), "/dashboard/organisation?notice=refreshed");
    let page = browser.post(&format!("/dashboard/organisation/{id}/disconnect"), &csrf_only).await;
    assert_eq!(page.location(), "/dashboard/organisation?notice=disconnected");
    let page = browser.get("/dashboard/organisation").await;
    assert!(!page.body.contains("bo@salon.example"));
    let connections = app.api(&api_key).connections().await.unwrap();
    assert!(connections.iter().all(|c| c.status == "revoked"));
    // The page's log says the console connected and disconnected it, and what that stopped.
    let log = &page.body[page.body.find("What was done").expect("the log is shown")..];
    assert!(log.contains("Disconnected Workspace salon.example"), "{log}");
    assert!(log.contains("Connected Workspace salon.example"), "{log}");
    assert!(log.contains("2 covered calendars stopped"), "{log}");
    assert!(log.contains("Refreshed Workspace salon.example"), "{log}");
    assert_eq!(log.matches("The console").count(), 3, "all three by the console: {log}");
    app.stop().await;
}

async fn covering_a_calendar_takes_its_first_listing_from_the_accounts_request_budget(db: Db) {
    // Google allows each user one request at once, then one every ten seconds; Kalends' budget
    // is one every fifteen (room for a request held up on its way). The covering lists Bo's
    // calendars, and his first import and push channel follow at once: were the listing outside
    // his budget, the first of them would meet a 429.
    let app = TestApp::start_public_with(db, |config| {
        config.sync.google_requests_per_minute_per_account = 4;
    })
    .await;
    app.set_sandbox_quota(6).await;
    let (_, key) = app.tenant().await;
    cover_one(&app, &key, "bo@salon.example").await;
    app.settle().await;
    let counts: Value = app.sandbox_json("/sandbox/_control/quota").await;
    let admitted = counts["admitted"].as_u64().unwrap();
    assert!(admitted >= 2, "the listing and what followed it: {counts}");
    assert_eq!(counts["limited"], 0, "no request over Google's quota: {counts}");
    app.stop().await;
}

async fn a_change_of_scope_administrator_or_key_is_checked_like_a_creation(db: Db) {
    let (app, _, key, organisation) = staff_unit_connected(db).await;
    let path = format!("/api/v1/organisation-connections/{}", organisation.id);
    let patch = |body: Value| {
        let (app, key, path) = (&app, &key, &path);
        async move { app.call("PATCH", path, key, Some(body)).await }
    };

    // Refused changes leave everything as it was.
    let (status, answer) = patch(json!({"admin_email": "ann@salon.example"})).await;
    assert_eq!((status, answer["errors"][0]["field"].as_str()), (422, Some("admin_email")));
    let (status, answer) = patch(json!({"service_account_key": json_key(OTHER_KEY)})).await;
    assert_eq!((status, answer["errors"][0]["field"].as_str()), (422, Some("service_account_key")));
    let (status, answer) = patch(json!({"domain": "other.example"})).await;
    assert_eq!(status, 422, "the domain is the connection's identity: {answer}");
    // A blank unit would widen the scope to everyone: refused, as null says that.
    let (status, answer) = patch(json!({"org_unit": " "})).await;
    assert_eq!((status, answer["errors"][0]["field"].as_str()), (422, Some("org_unit")));
    // An empty patch changes nothing: no read of the directory, nothing in the log.
    let log = "/api/v1/organisation-connections/log";
    let (_, before) = app.call("GET", log, &key, None).await;
    let (status, answer) = patch(json!({})).await;
    assert_eq!((status, answer["org_unit"].as_str()), (200, Some("/Staff")), "{answer}");
    assert_eq!(app.call("GET", log, &key, None).await.1["items"], before["items"]);
    let (_, unchanged) = app.call("GET", &path, &key, None).await;
    assert_eq!(
        (unchanged["org_unit"].as_str(), unchanged["members_count"].as_i64()),
        (Some("/Staff"), Some(2))
    );

    // The whole domain: the administrator and Cy are covered too; a suspended user is not.
    put_user(&app, "cy@salon.example", "/Office", false).await;
    let suspended = json!({"primary_email": "bo@salon.example", "org_unit_path": "/Staff/Juniors", "suspended": true});
    let url = app.url("/sandbox/_control/workspace/users");
    app.sandbox().post(url).json(&suspended).send().await.unwrap();
    let (status, answer) = patch(json!({"org_unit": null})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["org_unit"], Value::Null);
    let listed = members(&app, &key, organisation.id).await.items;
    assert_eq!(
        states(&listed),
        [
            ("admin@salon.example", "active"),
            ("ann@salon.example", "active"),
            ("bo@salon.example", "left"),
            ("cy@salon.example", "active"),
        ]
    );

    // The same key uploaded again (after a rotation in Google Cloud, say) is checked and kept.
    let (status, answer) = patch(json!({"service_account_key": json_key(KEY)})).await;
    assert_eq!(status, 200, "{answer}");
    assert!(!answer.to_string().contains("PRIVATE KEY"));

    // Each accepted change is in the log, in words and without the key; the refused ones are not.
    let log = organisation_log(&app, &key).await;
    let said: Vec<(&str, &str)> = log
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["detail"].as_str().unwrap()))
        .collect();
    assert_eq!(
        said,
        [
            ("changed", "the service account key replaced; 3 users in scope"),
            ("changed", "scope set to everyone in salon.example; 3 users in scope"),
            ("connected", "2 users in scope (the unit /Staff of salon.example)"),
        ]
    );
    assert!(!serde_json::to_string(&log).unwrap().contains("PRIVATE KEY"));
    assert!(log.iter().all(|e| e["domain"] == "salon.example" && e.get("tenant_id").is_none()));

    // Paged like every list, newest first.
    let first = "/api/v1/organisation-connections/log?limit=2";
    let (_, page) = app.call("GET", first, &key, None).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let next = format!("/api/v1/organisation-connections/log?limit=2&cursor={cursor}");
    let (_, page) = app.call("GET", &next, &key, None).await;
    assert_eq!(page["items"][0]["action"], "connected", "{page}");
    assert_eq!((page["items"].as_array().unwrap().len(), &page["next_cursor"]), (1, &Value::Null));
    app.stop().await;
}

/// The organisation is disconnected while Google's calendars fail, for longer than the hour the
/// tokens minted for the cleanups live. The organisation connection is gone, but each cleanup
/// kept its key: it mints another token and takes Kalends' events out.
async fn a_cleanup_that_outlasts_its_token_and_its_organisation_still_takes_the_events_out(db: Db) {
    let (app, key, organisation, _, _) = bo_booked(db).await;
    app.sandbox_faults(json!({"error_rate": 1.0, "path": "/google/calendar/v3/calendars/"})).await;
    let path = format!("/api/v1/organisation-connections/{}", organisation.id);
    assert_eq!(app.call("DELETE", &path, &key, None).await.0, 204);
    assert_eq!(events_of(&app, "bo@salon.example").await.len(), 1, "Google failed");

    // Counted first: the cleanup, retried meanwhile, may ask for its token at once.
    let minted = token_requests(&app).await;
    let expire = app.url("/sandbox/_control/expire-tokens");
    app.sandbox().post(expire).json(&json!({})).send().await.unwrap();
    app.sandbox_faults(json!({})).await;
    app.settle().await;
    assert!(events_of(&app, "bo@salon.example").await.is_empty());
    assert!(token_requests(&app).await > minted, "a token was minted for the cleanup");
    app.stop().await;
}
