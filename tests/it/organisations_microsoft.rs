//! Organisation-wide connections against the in-process sandbox's Microsoft 365 tenant: an
//! administrator connects the organisation once with an application's credentials (app-only
//! access), the users in scope (the tenant, or a security group) become staff members whose
//! calendars receive their bookings at `/users/{id}/`, the directory is read again for joiners
//! and leavers, and every refusal names the field to fix with nothing stored.

use kalends::api::connections::ConnectionOut;
use kalends::api::organisation_connections::MemberOut;
use serde_json::{Value, json};

use uuid::Uuid;

use crate::helpers::{Db, TestApp, booking_in, on_both_databases};
use crate::organisations::{
    a_booking_follows, disconnecting_stops_every_covered_calendar, members, organisation_log, seen,
    states,
};

on_both_databases!(
    an_administrator_connects_a_microsoft_365_organisation_and_covered_calendars_follow_bookings,
    a_group_change_covers_a_joiner_and_cleans_up_a_leavers_calendar,
    microsoft_refusals_name_the_field_to_fix_and_nothing_is_stored,
    the_console_connects_a_microsoft_365_organisation_with_refusals_in_place,
    an_application_proves_itself_with_its_certificate_and_a_wrong_one_is_refused_by_name,
    a_secret_entra_refuses_costs_one_grant_and_the_new_secret_resumes_every_calendar,
    a_mailbox_whose_address_is_not_its_sign_in_name_is_cleaned_up_on_disconnect,
    a_calendar_two_connections_of_one_tenant_cover_keeps_taking_its_bookings,
    a_tenant_given_by_its_domain_name_is_kept_by_its_id_and_never_connected_twice,
    a_mailbox_graph_does_not_answer_keeps_no_other_joiner_from_being_covered,
    a_mailbox_whose_address_changes_is_followed_with_its_staff_member_and_calendar,
    a_new_address_refused_for_a_moment_is_followed_by_the_next_read,
    an_application_exchange_grants_calendars_with_rbac_for_applications_connects_its_group,
    a_cleanup_that_outlasts_the_application_token_still_takes_the_events_out,
    a_member_the_application_may_not_reach_for_now_is_not_asked_to_reconnect,
    exchange_grants_found_past_a_first_user_outside_the_roles_scope,
    a_member_taken_out_of_the_exchange_roles_scope_is_the_administrators_to_put_back,
    a_calendar_the_member_may_only_read_keeps_its_member_active,
    writing_taken_back_from_the_applications_exchange_role_is_the_administrators_to_give_back,
    a_leavers_cleanup_mints_with_the_secret_that_replaced_the_one_it_kept,
    a_whole_tenant_leaves_out_accounts_without_a_mailbox_until_they_are_licensed,
    licences_lapsing_across_the_organisation_are_named_and_stop_no_calendar_by_themselves,
    a_mailbox_on_the_organisations_own_exchange_server_is_no_member_until_it_moves_online,
    a_covered_mailbox_moved_on_premises_is_marked_and_leaves_at_the_next_read,
);

/// The test application's certificate with its private key, as the administrator pastes it, and
/// the certificate alone, as uploaded to the application in Entra.
const CERTIFICATE: &str = include_str!("../fixtures/entra/app-certificate.pem");
const UPLOADED: &str = include_str!("../fixtures/entra/app-certificate.cer.pem");
/// A certificate of another application.
const OTHER_CERTIFICATE: &str = include_str!("../fixtures/entra/other-certificate.pem");

/// The sandbox's tenant id.
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const APP: &str = "0d6c1f52-7a43-4b1e-9a58-7e6e616e7431";
const SECRET: &str = "Kx8Q~app-secret-value";
pub(crate) const GROUP: &str = "3b5f9d2e-1c4a-4e8b-9f6d-7a2c1e0b4d5f";
pub(crate) const EVERYTHING: &[&str] =
    &["Calendars.ReadWrite", "User.Read.All", "GroupMember.Read.All"];
/// What reads a group's members by name: the group, and its members as users.
pub(crate) const GROUP_READER: &[&str] = &["User.Read.All", "GroupMember.Read.All"];

/// Sets up the sandbox's tenant as its administrators would: the application with `roles`,
/// scoped to `access_group`; Ann, Bo and Cy, and a group of Ann and Bo.
pub(crate) async fn tenant(app: &TestApp, roles: &[&str], access_group: Option<&str>) {
    for name in ["ann@salon.example", "bo@salon.example", "cy@salon.example"] {
        control(app, "POST", "/users", json!({"user_principal_name": name})).await;
    }
    group(app, &["ann@salon.example", "bo@salon.example"]).await;
    register(app, roles, access_group).await;
}

pub(crate) async fn register(app: &TestApp, roles: &[&str], access_group: Option<&str>) {
    let registration = json!({
        "client_id": APP, "client_secret": SECRET, "roles": roles, "access_group": access_group,
    });
    control(app, "POST", "/apps", registration).await;
}

/// A tenant whose application reads the directory with `directory` (an application
/// permission) and reaches calendars through Exchange's `role` alone (RBAC for Applications,
/// scoped to the group): nothing about calendars is in any token. With the tenant's key and id.
async fn scoped_in_exchange(db: Db, directory: &[&str], role: &str) -> (TestApp, String, Uuid) {
    let app = TestApp::start_public(db).await;
    let (salon, key) = app.tenant().await;
    tenant(&app, directory, None).await;
    exchange_role(&app, directory, role).await;
    (app, key, salon.id)
}

/// Grants the application `role` (`Application Calendars.ReadWrite`, say) in Exchange Online
/// with RBAC for Applications, scoped to the group: nothing about it is in any token.
async fn exchange_role(app: &TestApp, roles: &[&str], role: &str) {
    let registration = json!({
        "client_id": APP, "client_secret": SECRET, "roles": roles,
        "exchange_roles": [{"role": role, "group": GROUP}],
    });
    control(app, "POST", "/apps", registration).await;
}

pub(crate) async fn group(app: &TestApp, members: &[&str]) {
    control(app, "PUT", &format!("/groups/{GROUP}"), json!({"members": members})).await;
}

async fn control(app: &TestApp, method: &str, path: &str, body: Value) {
    let url = app.url(&format!("/sandbox/_control/entra{path}"));
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let answer = app.sandbox().request(method, url).json(&body).send().await.unwrap();
    assert!(answer.status().is_success(), "{path}: {}", answer.status());
}

/// Sets up the sandbox's tenant and connects it for a group of `email` alone: one covered
/// calendar, theirs.
pub(crate) async fn cover_one(app: &TestApp, key: &str, email: &str) {
    tenant(app, EVERYTHING, None).await;
    group(app, &[email]).await;
    let (status, answer) = connect(app, key, body(Some(GROUP))).await;
    assert_eq!((status, &answer["members_count"]), (201, &json!(1)), "{answer}");
}

pub(crate) fn body(group_id: Option<&str>) -> Value {
    json!({
        "provider": "microsoft",
        "tenant_id": TENANT,
        "client_id": APP,
        "client_secret": SECRET,
        "group_id": group_id,
    })
}

async fn connect(app: &TestApp, key: &str, body: Value) -> (u16, Value) {
    app.call("POST", "/api/v1/organisation-connections", key, Some(body)).await
}

/// The live events of `email`'s mailbox in the sandbox.
async fn events_of(app: &TestApp, email: &str) -> Vec<Value> {
    let url = app.url(&format!("/sandbox/_control/microsoft/users/{email}/events"));
    let events: Vec<Value> = app.sandbox().get(url).send().await.unwrap().json().await.unwrap();
    events.into_iter().filter(|e| e["deleted"] != true).collect()
}

/// Connects the organisation with `body`, once its first read settled: its id and Bo's member.
async fn connected_with_bo(app: &TestApp, key: &str, body: Value) -> (Uuid, MemberOut) {
    let (status, organisation) = connect(app, key, body).await;
    assert_eq!(status, 201, "{organisation}");
    let id: Uuid = organisation["id"].as_str().unwrap().parse().unwrap();
    app.settle().await;
    let bo = members(app, key, id).await.items[1].clone();
    assert_eq!((bo.email.as_str(), bo.state.as_str()), ("bo@salon.example", "active"));
    (id, bo)
}

/// The calendar of the staff member `staff_id`, as the API lists it.
async fn connection_of(app: &TestApp, key: &str, staff_id: Uuid) -> ConnectionOut {
    let connections = app.api(key).connections().await.unwrap();
    connections.into_iter().find(|c| c.staff_id == staff_id).unwrap()
}

/// Books `title` for the staff member `staff_id` and lets it sync.
async fn book_for(app: &TestApp, key: &str, staff_id: Uuid, title: &str) -> Uuid {
    let mut booking = booking_in(title, 8);
    booking.staff_ids = vec![staff_id];
    let booked = app.api(key).create_booking(&booking).await.unwrap();
    app.settle().await;
    booked.id
}

/// How many client-credentials grants the tenant's token endpoint answered.
async fn app_tokens(app: &TestApp) -> u64 {
    let counts: Value = app.sandbox_json("/sandbox/_control/requests").await;
    counts["POST microsoft token client_credentials"].as_u64().unwrap_or(0)
}

async fn an_administrator_connects_a_microsoft_365_organisation_and_covered_calendars_follow_bookings(
    db: Db,
) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    tenant(&app, EVERYTHING, None).await;
    let (status, organisation) = connect(&app, &key, body(Some(GROUP))).await;
    assert_eq!(status, 201, "{organisation}");
    assert_eq!(organisation["provider"], "microsoft");
    assert_eq!(organisation["status"], "active");
    assert_eq!(organisation["members_count"], 2, "Ann and Bo are in the group; Cy is not");
    assert_eq!(
        (&organisation["tenant_id"], &organisation["client_id"], &organisation["group_id"]),
        (&json!(TENANT), &json!(APP), &json!(GROUP))
    );
    for google in ["domain", "admin_email", "service_account"] {
        assert!(organisation.get(google).is_none(), "{organisation}");
    }
    assert!(!organisation.to_string().contains(SECRET), "the secret is never shown");
    let id: Uuid = organisation["id"].as_str().unwrap().parse().unwrap();
    let listed = members(&app, &key, id).await.items;
    assert_eq!(states(&listed), [("ann@salon.example", "active"), ("bo@salon.example", "active")]);
    let connections = app.api(&key).connections().await.unwrap();
    assert!(connections.iter().all(|c| c.status == "active" && c.provider == "microsoft"));
    assert_eq!(
        app_tokens(&app).await,
        1,
        "one application token for the organisation, shared by the check, the directory and \
         both calendars"
    );

    // Bo's settings page says who connected his calendar.
    let link = app.api(&key).settings_link(listed[1].staff_id).await.unwrap();
    let page = crate::connect::Browser::new().get(&link.url).await;
    assert!(page.body.contains("Connected for you by your organisation (Microsoft 365)"));

    // A booking of Bo's lands in his mailbox through the organisation's application, moves
    // with it and goes with it; the application's token is kept until it expires.
    let minted = app_tokens(&app).await;
    let bo = listed[1].staff_id;
    a_booking_follows(&app, &key, bo, "subject", || events_of(&app, "bo@salon.example")).await;
    assert_eq!(app_tokens(&app).await, minted, "no new token while the last one lives");
    assert!(events_of(&app, "ann@salon.example").await.is_empty(), "Ann's mailbox is hers");

    let log = crate::organisations::organisation_log(&app, &key).await;
    assert_eq!((&log[0]["tenant_id"], log[0].get("domain")), (&json!(TENANT), None), "{log:?}");
    disconnecting_stops_every_covered_calendar(&app, &key, id, bo, || {
        events_of(&app, "bo@salon.example")
    })
    .await;
    app.stop().await;
}

/// Dee signs in as `dee.d@salon.onmicrosoft.com` and receives mail at `dee@salon.example`:
/// Graph reaches her mailbox by her id or her sign-in name, never by her address. Her bookings
/// go in, and disconnecting the organisation takes them out again.
async fn a_mailbox_whose_address_is_not_its_sign_in_name_is_cleaned_up_on_disconnect(db: Db) {
    const SIGN_IN: &str = "dee.d@salon.onmicrosoft.com";
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    tenant(&app, EVERYTHING, None).await;
    let dee = json!({"user_principal_name": SIGN_IN, "mail": "dee@salon.example"});
    control(&app, "POST", "/users", dee).await;
    group(&app, &[SIGN_IN]).await;
    let (status, organisation) = connect(&app, &key, body(Some(GROUP))).await;
    assert_eq!(status, 201, "{organisation}");
    let id: Uuid = organisation["id"].as_str().unwrap().parse().unwrap();
    let listed = members(&app, &key, id).await.items;
    assert_eq!(states(&listed), [("dee@salon.example", "active")]);

    let mut booking = booking_in("Cut and colour", 10);
    booking.staff_ids = vec![listed[0].staff_id];
    app.api(&key).create_booking(&booking).await.unwrap();
    seen(&|| events_of(&app, SIGN_IN), |e| e.len() == 1).await;
    let path = format!("/api/v1/organisation-connections/{id}");
    assert_eq!(app.call("DELETE", &path, &key, None).await.0, 204);
    seen(&|| events_of(&app, SIGN_IN), <[Value]>::is_empty).await;
    app.stop().await;
}

async fn a_mailbox_whose_address_changes_is_followed_with_its_staff_member_and_calendar(db: Db) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    cover_one(&app, &key, "bo@salon.example").await;
    let (_, listed) = app.call("GET", "/api/v1/organisation-connections", &key, None).await;
    let id: Uuid = listed["items"][0]["id"].as_str().unwrap().parse().unwrap();
    let bo = members(&app, &key, id).await.items[0].clone();

    // Bo's mailbox gets a new address; he signs in as before.
    let renamed = json!({"user_principal_name": "bo@salon.example", "mail": "bo.ng@salon.example"});
    control(&app, "POST", "/users", renamed).await;
    let path = format!("/api/v1/organisation-connections/{id}/refresh");
    let (status, answer) = app.call("POST", &path, &key, None).await;
    assert_eq!(status, 200, "{answer}");
    let listed = members(&app, &key, id).await.items;
    assert_eq!(states(&listed), [("bo.ng@salon.example", "active")]);
    assert_eq!(listed[0].staff_id, bo.staff_id, "the same staff member, not a second one");
    let staff = app.api(&key).staff(bo.staff_id).await.unwrap();
    assert_eq!(staff.email.as_deref(), Some("bo.ng@salon.example"));
    let connections = app.api(&key).connections().await.unwrap();
    let accounts: Vec<_> =
        connections.iter().map(|c| (c.account_email.as_str(), c.status.as_str())).collect();
    assert_eq!(accounts, [("bo.ng@salon.example", "active")]);
    let bo = bo.staff_id;
    a_booking_follows(&app, &key, bo, "subject", || events_of(&app, "bo@salon.example")).await;
    app.stop().await;
}

/// A read that cannot reach a renamed mailbox leaves the member under the old address, so the
/// next read still sees the rename and moves the same calendar: no second connection appears.
async fn a_new_address_refused_for_a_moment_is_followed_by_the_next_read(db: Db) {
    const ACCESS: &str = "5a1e7c3b-2d4f-4a6e-8b9c-0d1e2f3a4b5c";
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    tenant(&app, EVERYTHING, Some(ACCESS)).await;
    let reachable = |who: &'static [&'static str]| {
        let app = &app;
        async move { control(app, "PUT", &format!("/groups/{ACCESS}"), json!({"members": who})).await }
    };
    reachable(&["ann@salon.example", "bo@salon.example"]).await;
    group(&app, &["bo@salon.example"]).await;
    let (status, organisation) = connect(&app, &key, body(Some(GROUP))).await;
    assert_eq!((status, &organisation["members_count"]), (201, &json!(1)), "{organisation}");
    let id: Uuid = organisation["id"].as_str().unwrap().parse().unwrap();
    let bo = members(&app, &key, id).await.items[0].clone();

    // Bo's mailbox gets a new address while the Exchange administrator has him out of the
    // application's reach.
    let renamed = json!({"user_principal_name": "bo@salon.example", "mail": "bo.ng@salon.example"});
    control(&app, "POST", "/users", renamed).await;
    reachable(&["ann@salon.example"]).await;
    let path = format!("/api/v1/organisation-connections/{id}/refresh");
    assert_eq!(app.call("POST", &path, &key, None).await.0, 200);
    let listed = members(&app, &key, id).await.items;
    assert_eq!(states(&listed), [("bo@salon.example", "failed")], "not moved yet");

    reachable(&["ann@salon.example", "bo@salon.example"]).await;
    assert_eq!(app.call("POST", &path, &key, None).await.0, 200);
    let listed = members(&app, &key, id).await.items;
    assert_eq!(states(&listed), [("bo.ng@salon.example", "active")]);
    assert_eq!(listed[0].staff_id, bo.staff_id);
    let connections = app.api(&key).connections().await.unwrap();
    let accounts: Vec<_> =
        connections.iter().map(|c| (c.account_email.as_str(), c.status.as_str())).collect();
    assert_eq!(accounts, [("bo.ng@salon.example", "active")], "the same calendar, once");
    a_booking_follows(&app, &key, bo.staff_id, "subject", || events_of(&app, "bo@salon.example"))
        .await;
    app.stop().await;
}

/// The same tenant connected twice (once by its id, once by a domain name that stood for it
/// when the two were not yet told apart): a member both cover must keep syncing, whichever
/// membership the calendar's mailbox is read from.
async fn a_calendar_two_connections_of_one_tenant_cover_keeps_taking_its_bookings(db: Db) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    cover_one(&app, &key, "bo@salon.example").await;
    let (_, listed) = app.call("GET", "/api/v1/organisation-connections", &key, None).await;
    let first: Uuid = listed["items"][0]["id"].as_str().unwrap().parse().unwrap();
    let second = Uuid::now_v7();
    let twin = "INSERT INTO organisation_connections (id, tenant_id, provider, domain, \
                admin_email, org_unit, busy_only, sealed_key, service_account, status, \
                created_at, updated_at) SELECT $2, tenant_id, provider, 'salon.onmicrosoft.com', \
                admin_email, org_unit, busy_only, sealed_key, service_account, status, \
                created_at, updated_at FROM organisation_connections WHERE id = $1";
    assert_eq!(crate::helpers::execute_with_ids(&app.store, twin, &[first, second]).await, 1);
    let members_too = "INSERT INTO organisation_members (organisation_connection_id, \
                       directory_id, tenant_id, staff_id, email, connection_id, state, \
                       last_error, updated_at) SELECT $2, directory_id, tenant_id, staff_id, \
                       email, connection_id, state, last_error, updated_at \
                       FROM organisation_members WHERE organisation_connection_id = $1";
    assert_eq!(
        crate::helpers::execute_with_ids(&app.store, members_too, &[first, second]).await,
        1
    );

    let bo = members(&app, &key, first).await.items[0].staff_id;
    let mut booking = booking_in("Cut and colour", 10);
    booking.staff_ids = vec![bo];
    app.api(&key).create_booking(&booking).await.unwrap();
    seen(&|| events_of(&app, "bo@salon.example"), |e| e.len() == 1).await;
    app.stop().await;
}

/// Entra's authority answers for a tenant by its id or by any of its domain names. Kalends keeps
/// the id its token names, so the same organisation given under its other name is refused as
/// connected already, on the field the administrator typed it in.
async fn a_tenant_given_by_its_domain_name_is_kept_by_its_id_and_never_connected_twice(db: Db) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    tenant(&app, EVERYTHING, None).await;
    group(&app, &["bo@salon.example"]).await;
    let mut by_name = body(Some(GROUP));
    by_name["tenant_id"] = json!("Salon.onmicrosoft.com");
    let (status, answer) = connect(&app, &key, by_name).await;
    assert_eq!((status, &answer["tenant_id"]), (201, &json!(TENANT)), "{answer}");
    assert_eq!(answer["members_count"], 1, "{answer}");

    let (status, answer) = connect(&app, &key, body(Some(GROUP))).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["errors"][0]["field"], "tenant_id", "{answer}");
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("Microsoft 365 organisation is connected already"), "{message}");
    let (_, listed) = app.call("GET", "/api/v1/organisation-connections", &key, None).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");

    // One stored by its name before creations kept the id is kept by the id at its next read.
    let id: Uuid = listed["items"][0]["id"].as_str().unwrap().parse().unwrap();
    let named =
        "UPDATE organisation_connections SET domain = 'salon.onmicrosoft.com' WHERE id = $1";
    assert_eq!(crate::helpers::execute_with_id(&app.store, named, id).await, 1);
    let refresh = format!("/api/v1/organisation-connections/{id}/refresh");
    let (status, answer) = app.call("POST", &refresh, &key, None).await;
    assert_eq!((status, &answer["tenant_id"]), (200, &json!(TENANT)), "{answer}");
    let (status, answer) = connect(&app, &key, body(Some(GROUP))).await;
    assert_eq!(status, 422, "{answer}");
    app.stop().await;
}

async fn a_secret_entra_refuses_costs_one_grant_and_the_new_secret_resumes_every_calendar(db: Db) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    tenant(&app, EVERYTHING, None).await;
    let (status, organisation) = connect(&app, &key, body(None)).await;
    assert_eq!((status, &organisation["members_count"]), (201, &json!(3)), "{organisation}");
    let id: Uuid = organisation["id"].as_str().unwrap().parse().unwrap();
    let staff: Vec<Uuid> = members(&app, &key, id).await.items.iter().map(|m| m.staff_id).collect();
    // What connecting queued (imports, push subscriptions) has run: no job asks Entra between
    // the count below and the booking.
    app.settle().await;

    // The administrator replaces the application's secret at Entra, and its token runs out:
    // a booking of all three asks for a new one for each of their calendars.
    let rotated = json!({"client_id": APP, "client_secret": "a new secret", "roles": EVERYTHING});
    control(&app, "POST", "/apps", rotated).await;
    let expire = app.url("/sandbox/_control/expire-tokens");
    app.sandbox().post(expire).json(&json!({})).send().await.unwrap();
    let asked = app_tokens(&app).await;
    let mut booking = booking_in("Team colour day", 6);
    booking.staff_ids = staff;
    app.api(&key).create_booking(&booking).await.unwrap();
    app.settle().await;

    let listed = members(&app, &key, id).await.items;
    assert!(listed.iter().all(|m| m.state == "failed"), "{listed:?}");
    for member in &listed {
        let error = member.last_error.as_deref().unwrap_or_default();
        assert!(error.contains("client secret"), "{}: {error}", member.email);
    }
    assert_eq!(
        app_tokens(&app).await - asked,
        1,
        "Entra is asked once: the calendars behind the first refusal are told the same"
    );

    // Given the new secret, the organisation is checked at once (no refusal kept stands in
    // the way) and every calendar gets the booking it missed.
    let path = format!("/api/v1/organisation-connections/{id}");
    let named = json!({"client_secret": "a new secret", "group_id": "Staff team"});
    let (status, answer) = app.call("PATCH", &path, &key, Some(named)).await;
    assert_eq!((status, &answer["errors"][0]["field"]), (422, &json!("group_id")), "{answer}");
    let blank = json!({"client_secret": "a new secret", "group_id": ""});
    let (status, answer) = app.call("PATCH", &path, &key, Some(blank)).await;
    assert_eq!((status, &answer["errors"][0]["field"]), (422, &json!("group_id")), "{answer}");
    let (status, answer) =
        app.call("PATCH", &path, &key, Some(json!({"client_secret": "a new secret"}))).await;
    assert_eq!(status, 200, "{answer}");
    for email in ["ann@salon.example", "bo@salon.example", "cy@salon.example"] {
        seen(&|| events_of(&app, email), |e| e.len() == 1).await;
    }
    let listed = members(&app, &key, id).await.items;
    assert!(listed.iter().all(|m| m.state == "active" && m.last_error.is_none()), "{listed:?}");
    app.stop().await;
}

/// The group of Ann and Bo connected, and a booking of Bo's in his calendar: the organisation's
/// id.
async fn bo_booked_in_the_group(app: &TestApp, key: &str) -> Uuid {
    tenant(app, EVERYTHING, None).await;
    let (status, organisation) = connect(app, key, body(Some(GROUP))).await;
    assert_eq!(status, 201, "{organisation}");
    let id: Uuid = organisation["id"].as_str().unwrap().parse().unwrap();
    let bo = members(app, key, id).await.items[1].clone();
    let mut booking = booking_in("Trim", 8);
    booking.staff_ids = vec![bo.staff_id];
    app.api(key).create_booking(&booking).await.unwrap();
    seen(&|| events_of(app, "bo@salon.example"), |e| e.len() == 1).await;
    id
}

async fn a_group_change_covers_a_joiner_and_cleans_up_a_leavers_calendar(db: Db) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    let id = bo_booked_in_the_group(&app, &key).await;

    // Cy joins the group, Bo leaves it: on the next read Cy is covered, and Bo's calendar
    // stops with Kalends' events taken out of it.
    group(&app, &["ann@salon.example", "cy@salon.example"]).await;
    let path = format!("/api/v1/organisation-connections/{id}/refresh");
    let (status, answer) = app.call("POST", &path, &key, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["members_count"], 2, "Ann and Cy");
    let listed = members(&app, &key, id).await.items;
    assert_eq!(
        states(&listed),
        [
            ("ann@salon.example", "active"),
            ("bo@salon.example", "left"),
            ("cy@salon.example", "active")
        ]
    );
    seen(&|| events_of(&app, "bo@salon.example"), <[Value]>::is_empty).await;
    app.stop().await;
}

/// A covered member's mailbox moves to the organisation's own Exchange server: their next
/// booking finds it gone, their calendar says so to the administrator, and the next directory
/// read takes them out of the members, saying why.
async fn a_covered_mailbox_moved_on_premises_is_marked_and_leaves_at_the_next_read(db: Db) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    let id = bo_booked_in_the_group(&app, &key).await;
    let bo = json!({"user_principal_name": "bo@salon.example", "on_premises": true});
    control(&app, "POST", "/users", bo).await;
    let bo = members(&app, &key, id).await.items[1].clone();
    let mut booking = booking_in("Colour", 9);
    booking.staff_ids = vec![bo.staff_id];
    app.api(&key).create_booking(&booking).await.unwrap();
    app.settle().await;
    let connections = app.api(&key).connections().await.unwrap();
    let calendar = connections.iter().find(|c| c.staff_id == bo.staff_id).unwrap();
    let why = calendar.last_error.as_deref().unwrap_or_default();
    assert_eq!(calendar.status, "error", "{why}");
    assert!(why.contains("has no Exchange Online mailbox the calendar API reaches"), "{why}");

    let refresh = format!("/api/v1/organisation-connections/{id}/refresh");
    let (status, answer) = app.call("POST", &refresh, &key, None).await;
    assert_eq!((status, &answer["members_count"]), (200, &json!(1)), "{answer}");
    let listed = members(&app, &key, id).await.items;
    assert_eq!(states(&listed), [("ann@salon.example", "active"), ("bo@salon.example", "left")]);
    let why = listed[1].last_error.as_deref().unwrap_or_default();
    assert!(why.starts_with("no Exchange Online mailbox the calendar API reaches"), "{why}");
    let log = organisation_log(&app, &key).await;
    let detail = log[0]["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("0 users joined; 1 user left (bo@salon.example)"), "{detail}");
    app.stop().await;
}

async fn microsoft_refusals_name_the_field_to_fix_and_nothing_is_stored(db: Db) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    tenant(&app, &["Calendars.Read", "User.Read.All"], None).await;
    let refused =
        |answer: &Value, field: &str, words: &str| {
            let errors = answer["errors"].as_array().cloned().unwrap_or_default();
            assert!(
                errors.iter().any(|e| e["field"] == field
                    && e["message"].as_str().is_some_and(|m| m.contains(words))),
                "{field}: {words}: {answer}"
            );
        };

    // The form's own checks: what is missing, and Google's fields on a Microsoft connection.
    let (status, answer) = connect(
        &app,
        &key,
        json!({"provider": "microsoft", "domain": "salon.example", "client_id": "not an id"}),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    refused(&answer, "tenant_id", "required");
    refused(&answer, "client_id", "application (client) id");
    refused(&answer, "client_secret", "required");
    refused(&answer, "domain", "a Google field");
    let mut long = body(None);
    long["client_secret"] = json!("s".repeat(100_000));
    let (status, answer) = connect(&app, &key, long).await;
    assert_eq!(status, 422, "{answer}");
    refused(&answer, "client_secret", "longer than 16 KiB");

    // Entra's refusals, each on the field to fix.
    let mut wrong = body(None);
    wrong["client_secret"] = json!("the secret's id, not its value");
    let (status, answer) = connect(&app, &key, wrong).await;
    assert_eq!(status, 422, "{answer}");
    refused(&answer, "client_secret", "client secret's value");
    let mut wrong = body(None);
    wrong["tenant_id"] = json!("00000000-0000-0000-0000-000000000000");
    refused(&connect(&app, &key, wrong).await.1, "tenant_id", "AADSTS90002");
    // Reading calendars is not writing bookings: the missing permission is named.
    let (status, answer) = connect(&app, &key, body(None)).await;
    assert_eq!(status, 422, "{answer}");
    refused(&answer, "client_id", "lacks Calendars.ReadWrite");
    refused(&answer, "client_id", "admin consent");
    // The busy-times-only tier reads no more than free/busy; with no calendar permission at all,
    // the one it needs is named.
    register(&app, &["User.Read.All"], None).await;
    let mut busy_only = body(None);
    busy_only["busy_only"] = json!(true);
    refused(&connect(&app, &key, busy_only).await.1, "client_id", "lacks Calendars.Read (");
    // A group needs a permission to read its members.
    register(&app, &["Calendars.ReadWrite", "User.Read.All"], None).await;
    refused(&connect(&app, &key, body(Some(GROUP))).await.1, "client_id", "GroupMember.Read.All");
    // Reading the group is not reading its members: Graph lists them by their ids alone.
    register(&app, &["Calendars.ReadWrite", "GroupMember.Read.All"], None).await;
    refused(&connect(&app, &key, body(Some(GROUP))).await.1, "client_id", "lacks User.Read.All");
    register(&app, EVERYTHING, None).await;
    let unknown = "0e6c1f52-0000-4b1e-9a58-7e6e616e7431";
    refused(&connect(&app, &key, body(Some(unknown))).await.1, "group_id", "no group");
    // A group named by its name, not its object id: said before anything is asked.
    refused(&connect(&app, &key, body(Some("Staff team"))).await.1, "group_id", "not its name");

    let (_, listed) = app.call("GET", "/api/v1/organisation-connections", &key, None).await;
    assert_eq!(listed["items"], json!([]), "nothing was stored");
    assert!(app.api(&key).staff_list().await.unwrap().items.is_empty());

    // The application scoped to the group, connected for the whole tenant: Cy, outside the
    // application's scope, is a failing member saying so; Ann and Bo sync. A guest invited
    // from another organisation is no staff member of this one.
    register(&app, EVERYTHING, Some(GROUP)).await;
    let guest = json!({
        "user_principal_name": "dee_partner.example#EXT#@salon.onmicrosoft.com",
        "mail": "dee@partner.example",
        "user_type": "Guest",
    });
    control(&app, "POST", "/users", guest).await;
    let (status, organisation) = connect(&app, &key, body(None)).await;
    assert_eq!(status, 201, "{organisation}");
    let id: Uuid = organisation["id"].as_str().unwrap().parse().unwrap();
    let listed = members(&app, &key, id).await.items;
    assert!(!listed.iter().any(|m| m.email.contains("partner")), "{listed:?}");
    let staff = app.api(&key).staff_list().await.unwrap().items;
    assert_eq!(staff.len(), 3, "Ann, Bo and Cy: {staff:?}");
    let cy = listed.iter().find(|m| m.email == "cy@salon.example").unwrap();
    assert_eq!(cy.state, "failed");
    assert!(cy.last_error.as_deref().unwrap().contains("outside the application's access scope"));
    assert_eq!(listed.iter().filter(|m| m.state == "active").count(), 2);
    // Read again with Cy still outside: the log does not say her calendar was covered.
    let path = format!("/api/v1/organisation-connections/{id}/refresh");
    let (status, answer) = app.call("POST", &path, &key, None).await;
    assert_eq!(status, 200, "{answer}");
    let log = crate::organisations::organisation_log(&app, &key).await;
    assert_eq!(log[0]["action"], "refreshed", "{log:?}");
    let detail = log[0]["detail"].as_str().unwrap();
    assert!(detail.starts_with("0 users joined; 0 users left; "), "{detail}");
    assert!(!detail.contains("covered again"), "{detail}");
    app.stop().await;
}

async fn the_console_connects_a_microsoft_365_organisation_with_refusals_in_place(db: Db) {
    let app = TestApp::start_public(db).await;
    let (browser, _api_key, csrf) = crate::console::signed_in(&app).await;
    tenant(&app, EVERYTHING, None).await;
    let page = browser.get("/dashboard/organisation").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Connect a Microsoft 365 organisation"));
    assert!(page.body.contains("Grant admin consent") && page.body.contains("Calendars.ReadWrite"));
    let post = |secret: &'static str| {
        let fields = [
            ("csrf", csrf.as_str()),
            ("provider", "microsoft"),
            ("tenant_id", TENANT),
            ("client_id", APP),
            ("client_secret", secret),
            ("group_id", GROUP),
        ];
        let browser = &browser;
        async move { browser.post("/dashboard/organisation", &fields).await }
    };

    // Entra refuses the secret: the error beside it, the ids kept, the secret not echoed.
    let page = post("the-secret-id").await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("id=\"client_secret-error\""), "{}", page.body);
    assert!(page.body.contains(&format!("value=\"{APP}\"")));
    assert!(!page.body.contains("the-secret-id"), "the secret is never shown again");

    let page = post(SECRET).await;
    assert_eq!(
        (page.status, page.location()),
        (303, "/dashboard/organisation?notice=connected-microsoft")
    );
    let page = browser.get("/dashboard/organisation?notice=connected-microsoft").await;
    assert!(page.body.contains("The Microsoft 365 organisation is connected"), "{}", page.body);
    assert!(page.body.contains("ann@salon.example") && page.body.contains("bo@salon.example"));
    assert!(!page.body.contains("cy@salon.example"), "Cy is not in the group");
    assert!(!page.body.contains(SECRET));
    app.stop().await;
}

async fn an_application_proves_itself_with_its_certificate_and_a_wrong_one_is_refused_by_name(
    db: Db,
) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    tenant(&app, EVERYTHING, None).await;
    group(&app, &["bo@salon.example"]).await;
    // The application has a certificate uploaded and no secret at all.
    let registration = json!({"client_id": APP, "certificate": UPLOADED, "roles": EVERYTHING});
    control(&app, "POST", "/apps", registration).await;
    let with = |certificate: &str| {
        let mut body = body(Some(GROUP));
        body.as_object_mut().unwrap().remove("client_secret");
        body["client_certificate"] = json!(certificate);
        body
    };
    let refused = |answer: &Value, words: &str| {
        assert_eq!(answer["errors"][0]["field"], "client_certificate", "{answer}");
        let message = answer["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(words), "{message}");
        assert!(!answer.to_string().contains("PRIVATE KEY"), "the key is never echoed");
    };

    // Another application's certificate, something that is not one, and both a secret and a
    // certificate: each refused on the field, nothing stored.
    let (status, answer) = connect(&app, &key, with(OTHER_CERTIFICATE)).await;
    assert_eq!(status, 422);
    refused(&answer, "AADSTS700027");
    let not_pem = with("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----");
    refused(&connect(&app, &key, not_pem).await.1, "the certificate cannot be used");
    let mut both = with(CERTIFICATE);
    both["client_secret"] = json!(SECRET);
    refused(&connect(&app, &key, both).await.1, "not both");
    let (_, listed) = app.call("GET", "/api/v1/organisation-connections", &key, None).await;
    assert_eq!(listed["items"], json!([]), "nothing was stored");

    // The right one: the organisation is connected and a booking of Bo's reaches his mailbox.
    let (status, organisation) = connect(&app, &key, with(CERTIFICATE)).await;
    assert_eq!((status, &organisation["members_count"]), (201, &json!(1)), "{organisation}");
    assert!(!organisation.to_string().contains("PRIVATE KEY"));
    let id: Uuid = organisation["id"].as_str().unwrap().parse().unwrap();
    let bo = members(&app, &key, id).await.items[0].staff_id;
    a_booking_follows(&app, &key, bo, "subject", || events_of(&app, "bo@salon.example")).await;

    // A certificate of another application given as the replacement is refused as at creation.
    let path = format!("/api/v1/organisation-connections/{id}");
    let change = json!({"client_certificate": OTHER_CERTIFICATE});
    let (status, answer) = app.call("PATCH", &path, &key, Some(change)).await;
    assert_eq!(status, 422);
    refused(&answer, "AADSTS700027");
    let (status, _) =
        app.call("PATCH", &path, &key, Some(json!({"client_certificate": CERTIFICATE}))).await;
    assert_eq!(status, 200);
    app.stop().await;
}

async fn a_mailbox_graph_does_not_answer_keeps_no_other_joiner_from_being_covered(db: Db) {
    // More joiners than are covered at once, the first of them a mailbox Graph fails for (one
    // being set up, say): the others are covered all the same, and the next read covers it.
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    tenant(&app, EVERYTHING, None).await;
    for n in 1..=9 {
        let name = format!("d{n}@salon.example");
        control(&app, "POST", "/users", json!({"user_principal_name": name})).await;
    }
    let url = app.url("/sandbox/_control/entra/users");
    let ann = json!({"user_principal_name": "ann@salon.example"});
    let ann: Value = app.sandbox().post(url).json(&ann).send().await.unwrap().json().await.unwrap();
    let failing =
        json!({"error_rate": 1.0, "path": format!("/users/{}", ann["id"].as_str().unwrap())});
    let faults = app.url("/sandbox/_control/faults");
    assert!(app.sandbox().put(&faults).json(&failing).send().await.unwrap().status().is_success());

    let (status, organisation) = connect(&app, &key, body(None)).await;
    assert_eq!((status, &organisation["members_count"]), (201, &json!(11)), "{organisation}");
    let id: Uuid = organisation["id"].as_str().unwrap().parse().unwrap();
    let listed = members(&app, &key, id).await.items;
    assert!(!listed.iter().any(|m| m.email == "ann@salon.example" && m.state == "active"));
    let (_, shown) =
        app.call("GET", &format!("/api/v1/organisation-connections/{id}"), &key, None).await;
    assert!(shown["last_error"].is_string(), "the administrator sees why: {shown}");

    assert!(
        app.sandbox().put(&faults).json(&json!({})).send().await.unwrap().status().is_success()
    );
    let refresh = format!("/api/v1/organisation-connections/{id}/refresh");
    let (status, answer) = app.call("POST", &refresh, &key, None).await;
    assert_eq!((status, &answer["members_count"]), (200, &json!(12)), "{answer}");
    app.stop().await;
}

/// The administrator scoped the application in Exchange Online with RBAC for Applications and
/// consented to no calendar permission in Entra (the two add up, so a consent would reach every
/// mailbox): Kalends asks Graph for a member's calendar rather than reading the token. A role
/// that only reads is refused for the tier that writes bookings, at creation and at a change
/// of tier, and connects busy times only; once Exchange grants writing, the group's calendars
/// follow their bookings.
async fn an_application_exchange_grants_calendars_with_rbac_for_applications_connects_its_group(
    db: Db,
) {
    let (app, key, _) = scoped_in_exchange(db, GROUP_READER, "Application Calendars.Read").await;
    let (status, answer) = connect(&app, &key, body(Some(GROUP))).await;
    assert_eq!(status, 422, "{answer}");
    let error = &answer["errors"][0];
    assert_eq!(error["field"], "client_id", "{answer}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("lacks Calendars.ReadWrite"), "{message}");
    assert!(message.contains("role Application Calendars.ReadWrite with RBAC for Applications"));
    let (_, listed) = app.call("GET", "/api/v1/organisation-connections", &key, None).await;
    assert_eq!(listed["items"], json!([]), "nothing is stored");

    // Reading is what busy times only need.
    let mut busy_only = body(Some(GROUP));
    busy_only["busy_only"] = json!(true);
    let (status, organisation) = connect(&app, &key, busy_only).await;
    assert_eq!(status, 201, "{organisation}");
    let id: Uuid = organisation["id"].as_str().unwrap().parse().unwrap();
    let path = format!("/api/v1/organisation-connections/{id}");
    let writing = json!({"busy_only": false});
    let (status, answer) = app.call("PATCH", &path, &key, Some(writing.clone())).await;
    assert_eq!((status, &answer["errors"][0]["field"]), (422, &json!("client_id")), "{answer}");

    exchange_role(&app, GROUP_READER, "Application Calendars.ReadWrite").await;
    let (status, answer) = app.call("PATCH", &path, &key, Some(writing)).await;
    assert_eq!((status, &answer["busy_only"]), (200, &json!(false)), "{answer}");
    let listed = members(&app, &key, id).await.items;
    assert_eq!(states(&listed), [("ann@salon.example", "active"), ("bo@salon.example", "active")]);
    let bo = listed[1].staff_id;
    a_booking_follows(&app, &key, bo, "subject", || events_of(&app, "bo@salon.example")).await;
    disconnecting_stops_every_covered_calendar(&app, &key, id, bo, || {
        events_of(&app, "bo@salon.example")
    })
    .await;
    app.stop().await;
}

/// The organisation is disconnected while Graph fails for its mailboxes, for longer than the
/// hour the application's token lives. The organisation connection is gone, but the cleanup
/// kept its secret: it asks Entra for another token and takes Kalends' events out.
async fn a_cleanup_that_outlasts_the_application_token_still_takes_the_events_out(db: Db) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    cover_one(&app, &key, "bo@salon.example").await;
    let (_, listed) = app.call("GET", "/api/v1/organisation-connections", &key, None).await;
    let id: Uuid = listed["items"][0]["id"].as_str().unwrap().parse().unwrap();
    let bo = members(&app, &key, id).await.items[0].staff_id;
    let mut booking = booking_in("Trim", 8);
    booking.staff_ids = vec![bo];
    app.api(&key).create_booking(&booking).await.unwrap();
    seen(&|| events_of(&app, "bo@salon.example"), |e| e.len() == 1).await;

    app.sandbox_faults(json!({"error_rate": 1.0, "path": "/microsoft/v1.0/users/"})).await;
    let path = format!("/api/v1/organisation-connections/{id}");
    assert_eq!(app.call("DELETE", &path, &key, None).await.0, 204);
    assert_eq!(events_of(&app, "bo@salon.example").await.len(), 1, "Graph failed");

    // Counted first: the cleanup, retried meanwhile, may ask for its token at once.
    let minted = app_tokens(&app).await;
    let expire = app.url("/sandbox/_control/expire-tokens");
    app.sandbox().post(expire).json(&json!({})).send().await.unwrap();
    app.sandbox_faults(json!({})).await;
    app.settle().await;
    assert!(events_of(&app, "bo@salon.example").await.is_empty());
    assert!(app_tokens(&app).await > minted, "a token was asked for the cleanup");
    app.stop().await;
}

/// Bo is taken out of the group the Exchange administrator scoped the application to. His
/// next booking's write is refused: his calendar is in `error` and his member `failed`, both
/// saying so in the administrator's words, and a directory read keeps him so. When the token
/// runs out the organisation's application is asked again, not Bo: nobody tells him to
/// reconnect a calendar he never connected. Back in the group, his bookings reach it.
async fn a_member_the_application_may_not_reach_for_now_is_not_asked_to_reconnect(db: Db) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    tenant(&app, EVERYTHING, Some(GROUP)).await;
    let (id, bo) = connected_with_bo(&app, &key, body(None)).await;
    let outside = "bo@salon.example is outside the application's access scope";

    // The token has run out too: the write is refused after the application's new token.
    group(&app, &["ann@salon.example"]).await;
    let expire = app.url("/sandbox/_control/expire-tokens");
    app.sandbox().post(&expire).json(&json!({})).send().await.unwrap();
    book_for(&app, &key, bo.staff_id, "Trim").await;
    let connection = connection_of(&app, &key, bo.staff_id).await;
    assert_eq!(connection.status, "error", "{connection:?}");
    assert!(connection.last_error.as_deref().unwrap().starts_with(outside), "{connection:?}");
    let refresh = format!("/api/v1/organisation-connections/{id}/refresh");
    assert_eq!(app.call("POST", &refresh, &key, None).await.0, 200);
    let member = members(&app, &key, id).await.items[1].clone();
    assert_eq!(member.state, "failed");
    assert!(member.last_error.as_deref().unwrap().starts_with(outside), "{member:?}");

    app.sandbox().post(&expire).json(&json!({})).send().await.unwrap();
    book_for(&app, &key, bo.staff_id, "Wash").await;
    let connection = connection_of(&app, &key, bo.staff_id).await;
    assert_eq!(connection.status, "error", "Bo is not asked to reconnect: {connection:?}");

    group(&app, &["ann@salon.example", "bo@salon.example"]).await;
    assert_eq!(app.call("POST", &refresh, &key, None).await.0, 200);
    assert_eq!(members(&app, &key, id).await.items[1].state, "active");
    seen(&|| events_of(&app, "bo@salon.example"), |e| e.len() == 2).await;
    app.stop().await;
}

/// No group given, and the Exchange role scoped to Bo and Cy: Ann, the directory's first user,
/// is outside it. Kalends asks the next members before blaming the permission; the connection
/// is made, with Ann `failed` for want of the role.
async fn exchange_grants_found_past_a_first_user_outside_the_roles_scope(db: Db) {
    let (app, key, _) =
        scoped_in_exchange(db, &["User.Read.All"], "Application Calendars.ReadWrite").await;
    group(&app, &["bo@salon.example", "cy@salon.example"]).await;
    let (status, organisation) = connect(&app, &key, body(None)).await;
    assert_eq!(status, 201, "{organisation}");
    let id: Uuid = organisation["id"].as_str().unwrap().parse().unwrap();
    let listed = members(&app, &key, id).await.items;
    assert_eq!(
        states(&listed),
        [
            ("ann@salon.example", "failed"),
            ("bo@salon.example", "active"),
            ("cy@salon.example", "active")
        ]
    );
    let said = listed[0].last_error.as_deref().unwrap();
    let outside = "ann@salon.example is outside the scope of the application's role in Exchange";
    assert!(said.starts_with(outside), "{said}");
    app.stop().await;
}

/// The whole tenant is connected, and Exchange grants the application writing for the staff
/// group alone (RBAC for Applications). Bo is taken out of that group: Graph answers his next
/// booking's write with its plain 403, the one a calendar he may only read gets too. Kalends
/// asks Graph for his mailbox's calendars before blaming the calendar: refused as well, so his
/// calendar is in `error` and his member `failed`, saying in the administrator's words that he
/// is outside the role's scope, and nobody asks Bo to reconnect. Back in the group, the next
/// read puts him back and his bookings reach his calendar.
async fn a_member_taken_out_of_the_exchange_roles_scope_is_the_administrators_to_put_back(db: Db) {
    let (app, key, _) =
        scoped_in_exchange(db, &["User.Read.All"], "Application Calendars.ReadWrite").await;
    let (id, bo) = connected_with_bo(&app, &key, body(None)).await;
    let outside = "bo@salon.example is outside the scope of the application's role";

    group(&app, &["ann@salon.example"]).await;
    book_for(&app, &key, bo.staff_id, "Trim").await;
    let connection = connection_of(&app, &key, bo.staff_id).await;
    assert_eq!(connection.status, "error", "not needs_reauth: {connection:?}");
    assert!(connection.last_error.as_deref().unwrap().starts_with(outside), "{connection:?}");
    let refresh = format!("/api/v1/organisation-connections/{id}/refresh");
    assert_eq!(app.call("POST", &refresh, &key, None).await.0, 200);
    let member = members(&app, &key, id).await.items[1].clone();
    assert_eq!(member.state, "failed");
    assert!(member.last_error.as_deref().unwrap().starts_with(outside), "{member:?}");
    // His calendar is still the organisation's, and his settings page says so: nothing for
    // him to disconnect.
    let link = app.api(&key).settings_link(bo.staff_id).await.unwrap();
    let page = crate::connect::Browser::new().get(&link.url).await;
    assert!(page.body.contains("Connected for you by your organisation (Microsoft 365)"));
    assert!(!page.body.contains("/disconnect"), "{}", page.body);

    group(&app, &["ann@salon.example", "bo@salon.example"]).await;
    assert_eq!(app.call("POST", &refresh, &key, None).await.0, 200);
    assert_eq!(members(&app, &key, id).await.items[1].state, "active");
    seen(&|| events_of(&app, "bo@salon.example"), |e| e.len() == 1).await;
    app.stop().await;
}

/// The Exchange administrator narrows the application's role from writing to reading. Bo's
/// next booking is refused with Graph's plain 403; his mailbox still lists its calendars, but
/// his default calendar may not be written either, so his calendar is in `error` naming the
/// permission and the role that grants it, and nobody asks Bo to reconnect. The directory's
/// read keeps it so until writing is given back; then his booking reaches his calendar.
async fn writing_taken_back_from_the_applications_exchange_role_is_the_administrators_to_give_back(
    db: Db,
) {
    let (app, key, salon) =
        scoped_in_exchange(db, GROUP_READER, "Application Calendars.ReadWrite").await;
    let (id, bo) = connected_with_bo(&app, &key, body(Some(GROUP))).await;

    exchange_role(&app, GROUP_READER, "Application Calendars.Read").await;
    book_for(&app, &key, bo.staff_id, "Trim").await;
    let connection = connection_of(&app, &key, bo.staff_id).await;
    assert_eq!(connection.status, "error", "not needs_reauth: {connection:?}");
    let said = connection.last_error.as_deref().unwrap();
    assert!(said.starts_with("the application lacks Calendars.ReadWrite"), "{said}");
    assert!(said.contains("role Application Calendars.ReadWrite with RBAC for Applications"));

    // His busy times are still read (the role lets the application read): that does not say
    // writing works again.
    crate::organisations_busy_only::import_now(&app, salon, connection.id).await;
    let read = connection_of(&app, &key, bo.staff_id).await;
    assert_eq!(read.status, "error", "{read:?}");
    assert_eq!(read.last_error, connection.last_error);

    // The directory's read, which lists his calendars, asks whether it may write too before
    // covering his calendar again: it stays in `error`, his member `failed`.
    let refresh = format!("/api/v1/organisation-connections/{id}/refresh");
    assert_eq!(app.call("POST", &refresh, &key, None).await.0, 200);
    let connection = connection_of(&app, &key, bo.staff_id).await;
    assert_eq!(connection.status, "error", "{connection:?}");
    let member = members(&app, &key, id).await.items[1].clone();
    assert_eq!(member.state, "failed", "{member:?}");
    let said = member.last_error.as_deref().unwrap();
    assert!(said.starts_with("the application lacks Calendars.ReadWrite"), "{said}");

    exchange_role(&app, GROUP_READER, "Application Calendars.ReadWrite").await;
    assert_eq!(app.call("POST", &refresh, &key, None).await.0, 200);
    assert_eq!(connection_of(&app, &key, bo.staff_id).await.status, "active");
    seen(&|| events_of(&app, "bo@salon.example"), |e| e.len() == 1).await;
    app.stop().await;
}

/// Bo takes his bookings in a calendar the salon's front desk shared with him, which its owner
/// has made read-only since. Graph's plain 403 is about that calendar alone: his mailbox
/// answers, and his own calendar may be written, so his calendar stays `active`, he stays an
/// `active` member, and the booking says what Graph said, not that the administrator must act.
async fn a_calendar_the_member_may_only_read_keeps_its_member_active(db: Db) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    tenant(&app, EVERYTHING, Some(GROUP)).await;
    let front_desk = app.url("/sandbox/_control/microsoft/users/bo@salon.example/calendars/Front");
    let share = |can_edit: bool| {
        app.sandbox().put(front_desk.clone()).json(&json!({"can_edit": can_edit})).send()
    };
    assert!(share(true).await.unwrap().status().is_success());
    let (id, bo) = connected_with_bo(&app, &key, body(Some(GROUP))).await;
    let connection = connection_of(&app, &key, bo.staff_id).await;
    let path = format!("/api/v1/connections/{}", connection.id);
    let (status, calendars) = app.call("GET", &format!("{path}/calendars"), &key, None).await;
    assert_eq!(status, 200, "{calendars}");
    let shared = calendars["items"].as_array().unwrap().iter().find(|c| c["name"] == "Front");
    let target = json!({"destination_calendar_id": shared.unwrap()["id"]});
    let (status, answer) = app.call("PATCH", &path, &key, Some(target)).await;
    assert_eq!(status, 200, "{answer}");
    assert!(share(false).await.unwrap().status().is_success());

    let booked = book_for(&app, &key, bo.staff_id, "Trim").await;
    let sync = app.api(&key).booking(booked).await.unwrap().sync;
    assert_eq!(sync[0].state, "failed", "{sync:?}");
    let said = sync[0].last_error.as_deref().unwrap_or_default();
    assert!(said.contains("Access is denied"), "Graph's words: {sync:?}");
    let connection = connection_of(&app, &key, bo.staff_id).await;
    assert_eq!(connection.status, "active", "{connection:?}");
    let member = members(&app, &key, id).await.items[1].clone();
    assert_eq!((member.state.as_str(), member.last_error), ("active", None));
    app.stop().await;
}

/// Bo leaves the group while Graph fails, so his cleanup waits; meanwhile the administrator
/// replaces the application's secret (the old one deleted in Entra) and the tokens run out. The
/// cleanup mints with the organisation's secret as it is now, not the one it kept, and takes
/// Kalends' events out.
async fn a_leavers_cleanup_mints_with_the_secret_that_replaced_the_one_it_kept(db: Db) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    let id = bo_booked_in_the_group(&app, &key).await;

    app.sandbox_faults(json!({"error_rate": 1.0, "path": "/microsoft/v1.0/users/"})).await;
    group(&app, &["ann@salon.example"]).await;
    let path = format!("/api/v1/organisation-connections/{id}");
    assert_eq!(app.call("POST", &format!("{path}/refresh"), &key, None).await.0, 200);
    assert_eq!(events_of(&app, "bo@salon.example").await.len(), 1, "Graph failed");
    let rotated = json!({"client_id": APP, "client_secret": "a new secret", "roles": EVERYTHING});
    control(&app, "POST", "/apps", rotated).await;
    let (status, answer) =
        app.call("PATCH", &path, &key, Some(json!({"client_secret": "a new secret"}))).await;
    assert_eq!(status, 200, "{answer}");
    let expire = app.url("/sandbox/_control/expire-tokens");
    app.sandbox().post(expire).json(&json!({})).send().await.unwrap();
    app.sandbox_faults(json!({})).await;
    app.settle().await;
    assert!(events_of(&app, "bo@salon.example").await.is_empty());
    app.stop().await;
}

/// A tenant connected whole lists every account of the directory, and some have no Exchange
/// Online mailbox (a scanner's service account, an unlicensed user): they have no calendar to
/// cover, so they are no members and the organisation is not failing for them. Once licensed,
/// the next read covers them; a member whose licence is taken away leaves.
async fn a_whole_tenant_leaves_out_accounts_without_a_mailbox_until_they_are_licensed(db: Db) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    tenant(&app, EVERYTHING, None).await;
    let scanner =
        |mailbox: bool| json!({"user_principal_name": "scanner@salon.example", "mailbox": mailbox});
    control(&app, "POST", "/users", scanner(false)).await;

    let (status, organisation) = connect(&app, &key, body(None)).await;
    assert_eq!((status, &organisation["members_count"]), (201, &json!(3)), "{organisation}");
    let id: Uuid = organisation["id"].as_str().unwrap().parse().unwrap();
    app.settle().await;
    let everyone = ["ann@salon.example", "bo@salon.example", "cy@salon.example"];
    let listed = members(&app, &key, id).await.items;
    assert_eq!(states(&listed), everyone.map(|email| (email, "active")));
    let path = format!("/api/v1/organisation-connections/{id}");
    let (_, shown) = app.call("GET", &path, &key, None).await;
    assert_eq!(shown["last_error"], Value::Null, "nothing is failing: {shown}");

    control(&app, "POST", "/users", scanner(true)).await;
    let bo = json!({"user_principal_name": "bo@salon.example", "mailbox": false});
    control(&app, "POST", "/users", bo).await;
    let refresh = format!("{path}/refresh");
    let (status, answer) = app.call("POST", &refresh, &key, None).await;
    assert_eq!((status, &answer["members_count"]), (200, &json!(3)), "{answer}");
    let listed = members(&app, &key, id).await.items;
    assert_eq!(
        states(&listed),
        [
            ("ann@salon.example", "active"),
            ("bo@salon.example", "left"),
            ("cy@salon.example", "active"),
            ("scanner@salon.example", "active"),
        ]
    );
    let bo = listed.iter().find(|m| m.email == "bo@salon.example").unwrap();
    let why = bo.last_error.as_deref().unwrap_or_default();
    assert!(why.starts_with("no Exchange Online licence any more"), "{why}");
    app.stop().await;
}

/// A licensed user whose mailbox Graph does not reach (kept on the organisation's own Exchange
/// server in a hybrid deployment, or still being set up after the licence was given) has no
/// calendar to cover: no member, no staff member, and nothing failing for them. Once the mailbox
/// is in Exchange Online, the next read covers them; a member back in the group with their
/// mailbox on premises stays out, saying why.
async fn a_mailbox_on_the_organisations_own_exchange_server_is_no_member_until_it_moves_online(
    db: Db,
) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    tenant(&app, EVERYTHING, None).await;
    let dee = |on_premises: bool| json!({"user_principal_name": "dee@salon.example", "on_premises": on_premises});
    control(&app, "POST", "/users", dee(true)).await;
    group(&app, &["ann@salon.example", "bo@salon.example", "dee@salon.example"]).await;

    let (status, organisation) = connect(&app, &key, body(Some(GROUP))).await;
    assert_eq!((status, &organisation["members_count"]), (201, &json!(2)), "{organisation}");
    let id: Uuid = organisation["id"].as_str().unwrap().parse().unwrap();
    let listed = members(&app, &key, id).await.items;
    assert_eq!(states(&listed), [("ann@salon.example", "active"), ("bo@salon.example", "active")]);
    let path = format!("/api/v1/organisation-connections/{id}");
    let (_, shown) = app.call("GET", &path, &key, None).await;
    assert_eq!(shown["last_error"], Value::Null, "nothing is failing: {shown}");
    let (_, staff) = app.call("GET", "/api/v1/staff", &key, None).await;
    let emails: Vec<&str> =
        staff["items"].as_array().unwrap().iter().filter_map(|s| s["email"].as_str()).collect();
    assert!(!emails.contains(&"dee@salon.example"), "no staff member for Dee yet: {emails:?}");

    // Dee's mailbox moves to Exchange Online; Bo leaves the group.
    control(&app, "POST", "/users", dee(false)).await;
    group(&app, &["ann@salon.example", "dee@salon.example"]).await;
    let refresh = format!("{path}/refresh");
    let (status, answer) = app.call("POST", &refresh, &key, None).await;
    assert_eq!((status, &answer["members_count"]), (200, &json!(2)), "{answer}");
    let log = organisation_log(&app, &key).await;
    let detail = log[0]["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("1 user joined (dee@salon.example); 1 user left"), "{detail}");

    // Bo comes back to the group, his mailbox now on premises: he stays out, and says why.
    let bo = json!({"user_principal_name": "bo@salon.example", "on_premises": true});
    control(&app, "POST", "/users", bo).await;
    group(&app, &["ann@salon.example", "bo@salon.example", "dee@salon.example"]).await;
    let (status, answer) = app.call("POST", &refresh, &key, None).await;
    assert_eq!((status, &answer["members_count"]), (200, &json!(2)), "{answer}");
    let (_, shown) = app.call("GET", &path, &key, None).await;
    assert_eq!(shown["last_error"], Value::Null, "nothing is failing: {shown}");
    let listed = members(&app, &key, id).await.items;
    assert_eq!(
        states(&listed),
        [
            ("ann@salon.example", "active"),
            ("bo@salon.example", "left"),
            ("dee@salon.example", "active")
        ]
    );
    let bo = listed.iter().find(|m| m.email == "bo@salon.example").unwrap();
    let why = bo.last_error.as_deref().unwrap_or_default();
    assert!(why.starts_with("no Exchange Online mailbox the calendar API reaches"), "{why}");
    let log = organisation_log(&app, &key).await;
    let detail = log[0]["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("0 users joined; 0 users left"), "{detail}");
    app.stop().await;
}

/// The organisation's subscription lapses: every member's Exchange plan is suspended at once.
/// The hourly read names the licences as the cause and stops no calendar by itself (a calendar
/// whose call finds its mailbox gone meanwhile is marked, not disconnected); renewed, the next
/// read finds everyone as they were.
async fn licences_lapsing_across_the_organisation_are_named_and_stop_no_calendar_by_themselves(
    db: Db,
) {
    let app = TestApp::start_public(db).await;
    let (salon, key) = app.tenant().await;
    tenant(&app, EVERYTHING, None).await;
    let staff = [
        "ann@salon.example",
        "bo@salon.example",
        "cy@salon.example",
        "di@salon.example",
        "ed@salon.example",
    ];
    let licensed =
        |name: &str, mailbox: bool| json!({"user_principal_name": name, "mailbox": mailbox});
    for name in &staff[3..] {
        control(&app, "POST", "/users", licensed(name, true)).await;
    }
    let (status, organisation) = connect(&app, &key, body(None)).await;
    assert_eq!((status, &organisation["members_count"]), (201, &json!(5)), "{organisation}");
    let id: Uuid = organisation["id"].as_str().unwrap().parse().unwrap();

    for name in staff {
        control(&app, "POST", "/users", licensed(name, false)).await;
    }
    let job =
        kalends_core::job::Job::RefreshOrganisation { tenant_id: salon.id, organisation_id: id };
    app.store.enqueue(&job).await.unwrap();
    app.settle().await;
    let listed = members(&app, &key, id).await.items;
    assert!(listed.iter().all(|m| m.state != "left"), "{listed:?}");
    let connections = app.api(&key).connections().await.unwrap();
    assert!(connections.iter().all(|c| c.status != "revoked"), "{connections:?}");
    let path = format!("/api/v1/organisation-connections/{id}");
    let (_, shown) = app.call("GET", &path, &key, None).await;
    let error = shown["last_error"].as_str().unwrap_or_default();
    assert!(error.starts_with("5 of the 5 members lost their Exchange Online licence"), "{shown}");

    for name in staff {
        control(&app, "POST", "/users", licensed(name, true)).await;
    }
    app.store.enqueue(&job).await.unwrap();
    app.settle().await;
    let (_, shown) = app.call("GET", &path, &key, None).await;
    assert_eq!(shown["last_error"], Value::Null, "{shown}");
    let listed = members(&app, &key, id).await.items;
    assert!(listed.iter().all(|m| m.state == "active"), "{listed:?}");
    app.stop().await;
}
