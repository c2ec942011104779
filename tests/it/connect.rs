//! Connecting Google and Microsoft calendars: settings links, the OAuth flow against the
//! in-process sandbox through the real crates, the settings page, tokens at rest and refresh.

use std::sync::Arc;

use kalends::api::connections::ConnectionOut;
use kalends::api::staff::StaffIn;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    Chromium, Db, TestApp, booking_in, eventually, fields, needs_peers, on_both_databases,
};

on_both_databases!(
    a_staff_member_connects_google_and_microsoft_and_disconnects_one,
    a_replayed_state_is_refused_and_stores_nothing,
    tokens_are_not_readable_in_the_database,
    a_revoked_grant_needs_reconnecting_and_reconnecting_restores_it,
    a_calendar_disconnected_with_its_events_removed_gets_its_bookings_back_when_connected_again,
    a_google_event_written_but_not_yet_recorded_is_removed_with_the_calendar,
    a_microsoft_event_written_but_not_yet_recorded_is_removed_with_the_calendar,
    an_event_recorded_after_the_disconnect_is_written_again_when_the_calendar_is_back,
    a_calendar_connected_again_while_its_cleanup_runs_gets_back_the_events_it_took,
    an_event_a_sync_is_still_writing_at_the_disconnect_leaves_with_the_calendar,
    an_event_a_sync_is_still_writing_leaves_the_calendar_of_a_deleted_staff_member,
    a_disconnect_answers_within_its_time_limit_while_a_sync_is_still_writing,
    an_event_whose_write_went_unanswered_leaves_with_the_calendar,
    a_disconnects_cleanup_does_not_wait_for_the_replay_into_the_next_calendar,
    an_unrecorded_event_in_a_former_destination_leaves_with_the_calendar,
    an_expiring_token_is_refreshed_once_and_ahead_of_time_by_concurrent_callers,
);
needs_peers!(
    "needs Chromium: run scripts/test";
    a_browser_connects_google_through_the_consent_page,
);

/// A browser: keeps cookies, follows redirects (and a twin that does not, same cookies).
pub(crate) struct Browser {
    follow: reqwest::Client,
    manual: reqwest::Client,
}

/// What a page answered: status, final URL, body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) url: String,
    pub(crate) body: String,
    pub(crate) location: Option<String>,
}

impl Browser {
    pub(crate) fn new() -> Self {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let build = |policy| {
            crate::helpers::client().cookie_provider(jar.clone()).redirect(policy).build().unwrap()
        };
        Browser {
            follow: build(reqwest::redirect::Policy::limited(10)),
            manual: build(reqwest::redirect::Policy::none()),
        }
    }

    pub(crate) async fn get(&self, url: &str) -> Answer {
        answer(self.follow.get(url).send().await.unwrap()).await
    }

    async fn get_manual(&self, url: &str) -> Answer {
        answer(self.manual.get(url).send().await.unwrap()).await
    }

    pub(crate) async fn post(&self, url: &str, form: &[(&str, &str)], follow: bool) -> Answer {
        let client = if follow { &self.follow } else { &self.manual };
        answer(client.post(url).form(form).send().await.unwrap()).await
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let url = response.url().to_string();
    let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
    Answer { status, url, body: response.text().await.unwrap(), location }
}

/// The `action` of the first form on a page, resolved against the page's URL.
fn form_action(page_url: &str, body: &str) -> String {
    let start = body.find("<form").expect("a form on the page");
    let action = &body[start..];
    let value = action.split("action=\"").nth(1).unwrap().split('"').next().unwrap();
    let value = value.replace("&amp;", "&");
    url::Url::parse(page_url).unwrap().join(&value).unwrap().to_string()
}

/// A tenant, a staff member, and a browser signed in to that staff member's settings.
pub(crate) async fn signed_in(app: &TestApp, email: &str) -> (String, Uuid, Browser) {
    let (_, key) = app.tenant().await;
    let api = app.api(&key);
    let staff = StaffIn { name: "Ann Lee".into(), email: Some(email.into()), ..StaffIn::default() };
    let staff_id = api.create_staff(&staff).await.unwrap().id;
    let link = api.settings_link(staff_id).await.unwrap();
    let browser = Browser::new();
    let page = browser.get(&link.url).await;
    assert_eq!(page.status, 200);
    assert!(page.url.ends_with("/settings"), "the link lands on /settings: {}", page.url);
    assert!(page.body.contains("No calendar is connected yet"));
    (key, staff_id, browser)
}

/// Clicks "Connect {provider}" and answers the sandbox's consent page; returns the page reached.
pub(crate) async fn connect(
    app: &TestApp,
    browser: &Browser,
    provider: &str,
    email: &str,
    decision: &str,
) -> Answer {
    connect_at(&app.base, browser, provider, email, decision).await
}

/// `connect` against Kalends at `base` (another process).
pub(crate) async fn connect_at(
    base: &str,
    browser: &Browser,
    provider: &str,
    email: &str,
    decision: &str,
) -> Answer {
    let consent = browser.get(&format!("{base}/connect/{provider}")).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.body.contains("Allow Kalends to manage your calendar?"), "{}", consent.body);
    let action = form_action(&consent.url, &consent.body);
    browser.post(&action, &[("email", email), ("decision", decision)], true).await
}

/// Starts connecting `provider` in `browser` and allows on the sandbox's consent page without
/// following its redirect: the callback address (with the flow's `state`) the browser was sent to.
pub(crate) async fn consent_callback(app: &TestApp, browser: &Browser, provider: &str) -> String {
    let consent = browser.get(&app.url(&format!("/connect/{provider}"))).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    let action = form_action(&consent.url, &consent.body);
    let email = "ann@example.com";
    let redirect = browser.post(&action, &[("email", email), ("decision", "allow")], false).await;
    let callback = redirect.location.expect("the sandbox redirects to the callback");
    assert!(callback.contains(&format!("/oauth/{provider}/callback?code=")), "{callback}");
    callback
}

async fn connections(app: &TestApp, key: &str) -> Vec<ConnectionOut> {
    app.api(key).connections().await.unwrap()
}

async fn a_staff_member_connects_google_and_microsoft_and_disconnects_one(db: Db) {
    let app = TestApp::start_public(db).await;
    let (key, staff_id, browser) = signed_in(&app, "ann@example.com").await;

    let page = connect(&app, &browser, "google", "ann@example.com", "allow").await;
    assert_eq!(page.status, 200);
    assert!(page.url.ends_with("/settings?notice=connected-google"), "{}", page.url);
    assert!(page.body.contains("Google Calendar is connected"));
    assert!(page.body.contains("ann@example.com"));
    let page = connect(&app, &browser, "microsoft", "ann.lee@contoso.example", "allow").await;
    assert!(page.body.contains("Microsoft Outlook is connected"), "{}", page.body);
    assert!(page.body.contains("ann.lee@contoso.example"));
    assert!(page.body.contains("Birthdays"), "the Microsoft calendars are listed");

    let list = connections(&app, &key).await;
    assert_eq!(list.len(), 2);
    let google = list.iter().find(|c| c.provider == "google").unwrap();
    let microsoft = list.iter().find(|c| c.provider == "microsoft").unwrap();
    assert_eq!(google.staff_id, staff_id);
    assert_eq!(google.status, "active");
    assert!(google.is_default, "the first connection is the default");
    assert!(!microsoft.is_default);
    assert_eq!(
        google.destination_calendar_id.as_deref(),
        Some("ann@example.com"),
        "the primary calendar"
    );
    assert_eq!(google.busy_calendar_ids, ["ann@example.com"]);

    let google_id = google.id;
    let (status, calendars) =
        app.call("GET", &format!("/api/v1/connections/{google_id}/calendars"), &key, None).await;
    assert_eq!(status, 200, "{calendars}");
    let names: Vec<&str> = calendars["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{calendars}");
    let (status, test) =
        app.call("POST", &format!("/api/v1/connections/{google_id}/test"), &key, None).await;
    assert_eq!((status, &test["ok"]), (200, &json!(true)), "{test}");

    // The staff member makes Microsoft the default from the page, then disconnects Google.
    let microsoft_id = microsoft.id;
    let settings = browser.get(&app.url("/settings")).await;
    let csrf = settings
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let made = browser
        .post(
            &app.url(&format!("/settings/connections/{microsoft_id}/default")),
            &[("csrf", &csrf)],
            true,
        )
        .await;
    assert!(made.body.contains("That calendar is now your default"), "{}", made.body);
    let confirm =
        browser.get(&app.url(&format!("/settings/connections/{google_id}/disconnect"))).await;
    assert!(confirm.body.contains("Also remove the events Kalends added"), "{}", confirm.body);
    let done = browser
        .post(
            &app.url(&format!("/settings/connections/{google_id}/disconnect")),
            &[("csrf", &csrf), ("remove_events", "yes")],
            true,
        )
        .await;
    assert!(done.body.contains("The calendar is disconnected"), "{}", done.body);
    assert!(
        !done.body.contains("ann@example.com · last sync"),
        "a disconnected calendar leaves the page"
    );

    let list = connections(&app, &key).await;
    let google = list.iter().find(|c| c.provider == "google").unwrap();
    assert_eq!(google.status, "revoked");
    let microsoft = list.iter().find(|c| c.provider == "microsoft").unwrap();
    assert!(microsoft.is_default);
    let grants: Value = app.sandbox_json("/sandbox/_control/grants").await;
    let google_grant =
        grants.as_array().unwrap().iter().find(|g| g["provider"] == "google").unwrap();
    assert_eq!(google_grant["revoked"], true, "Google was asked to revoke the grant");
    app.stop().await;
}

async fn a_replayed_state_is_refused_and_stores_nothing(db: Db) {
    let app = TestApp::start_public(db).await;
    let (key, _, browser) = signed_in(&app, "ann@example.com").await;
    let consent = browser.get(&app.url("/connect/google")).await;
    let action = form_action(&consent.url, &consent.body);
    let redirect =
        browser.post(&action, &[("email", "ann@example.com"), ("decision", "allow")], false).await;
    let callback = redirect.location.expect("the sandbox redirects to the callback");
    assert!(callback.contains("/oauth/google/callback?code="), "{callback}");

    let first = browser.get_manual(&callback).await;
    assert_eq!(first.location.as_deref(), Some("/settings?notice=connected-google"));
    let replay = browser.get(&callback).await;
    assert_eq!(replay.status, 400);
    assert!(replay.body.contains("expired or was already used"), "{}", replay.body);
    assert_eq!(connections(&app, &key).await.len(), 1);

    // Another browser (another staff member's session) cannot finish this one's flow.
    let consent = browser.get(&app.url("/connect/microsoft")).await;
    let action = form_action(&consent.url, &consent.body);
    let redirect =
        browser.post(&action, &[("email", "ann@example.com"), ("decision", "allow")], false).await;
    let (_, _, stranger) = signed_in(&app, "bob@example.com").await;
    let stolen = stranger.get(&redirect.location.unwrap()).await;
    assert_eq!(stolen.status, 400);
    assert!(stolen.body.contains("belongs to another session"), "{}", stolen.body);

    // Denying consent says so and stores nothing; a forged state stores nothing either.
    let denied = connect(&app, &browser, "microsoft", "ann@example.com", "deny").await;
    assert!(denied.body.contains("You declined access"), "{}", denied.body);
    let forged = browser.get(&app.url("/oauth/google/callback?code=4/abc&state=forged")).await;
    assert_eq!(forged.status, 400);
    assert_eq!(connections(&app, &key).await.len(), 1);
    app.stop().await;
}

async fn tokens_are_not_readable_in_the_database(db: Db) {
    let app = TestApp::start_public(db).await;
    let (key, _, browser) = signed_in(&app, "ann@example.com").await;
    connect(&app, &browser, "google", "ann@example.com", "allow").await;
    connect(&app, &browser, "microsoft", "ann@example.com", "allow").await;
    // A flow left half-way keeps its PKCE verifier sealed too.
    browser.get(&app.url("/connect/google")).await;
    assert_eq!(connections(&app, &key).await.len(), 2);

    let dump = raw_rows(&app).await;
    assert!(dump.contains("v1."), "sealed values are stored: {dump}");
    // The sandbox's access tokens start with ya29. and refresh tokens with 1//, like Google's.
    for needle in ["ya29.", "1//"] {
        assert!(!dump.contains(needle), "{needle} found in the raw rows");
    }
    app.stop().await;
}

/// Every row of `connections` and `oauth_states`, as text.
async fn raw_rows(app: &TestApp) -> String {
    use kalends_store::Pool;
    match app.store.pool() {
        Pool::Postgres(pool) => {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT row_to_json(c)::text FROM connections c UNION ALL SELECT row_to_json(o)::text FROM oauth_states o",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            rows.into_iter().map(|(r,)| r).collect::<Vec<_>>().join("\n")
        }
        Pool::Sqlite { read, .. } => {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT COALESCE(access_token, '') || ' ' || COALESCE(refresh_token, '') || ' ' || account_email FROM connections \
                 UNION ALL SELECT pkce_verifier FROM oauth_states",
            )
            .fetch_all(read)
            .await
            .unwrap();
            rows.into_iter().map(|(r,)| r).collect::<Vec<_>>().join("\n")
        }
    }
}

async fn a_revoked_grant_needs_reconnecting_and_reconnecting_restores_it(db: Db) {
    let app = TestApp::start_public(db).await;
    let (key, _, browser) = signed_in(&app, "ann@example.com").await;
    connect(&app, &browser, "microsoft", "ann@example.com", "allow").await;
    let id = connections(&app, &key).await[0].id;

    // Token expiry mid-session: the next call refreshes and succeeds.
    let sandbox = app.sandbox();
    sandbox.post(app.url("/sandbox/_control/expire-tokens")).json(&json!({})).send().await.unwrap();
    let (_, test) = app.call("POST", &format!("/api/v1/connections/{id}/test"), &key, None).await;
    assert_eq!(test["ok"], true, "an expired token is refreshed: {test}");

    // The user removes Kalends's access at Microsoft: invalid_grant -> needs_reauth.
    sandbox
        .post(app.url("/sandbox/_control/revoke"))
        .json(&json!({"provider": "microsoft", "email": "ann@example.com"}))
        .send()
        .await
        .unwrap();
    sandbox.post(app.url("/sandbox/_control/expire-tokens")).json(&json!({})).send().await.unwrap();
    let (_, test) = app.call("POST", &format!("/api/v1/connections/{id}/test"), &key, None).await;
    assert_eq!(test["ok"], false);
    let connection = app.api(&key).connection(id).await.unwrap();
    assert_eq!(connection.status, "needs_reauth", "{connection:?}");
    assert!(connection.last_error.as_ref().unwrap().contains("AADSTS50173"), "{connection:?}");
    let page = browser.get(&app.url("/settings")).await;
    assert!(page.body.contains("Needs reconnecting"));
    assert!(page.body.contains("Reconnect Microsoft"));

    let again = connect(&app, &browser, "microsoft", "ann@example.com", "allow").await;
    assert!(again.body.contains("Microsoft Outlook is connected"));
    let list = connections(&app, &key).await;
    assert_eq!(list.len(), 1, "the same connection is restored, not a second one");
    assert_eq!(list[0].id, id);
    assert_eq!(list[0].status, "active");
    assert_eq!(list[0].last_error, None);
    app.stop().await;
}

/// Ann disconnects her calendar (Kalends' events taken out of it), then connects it again: her
/// upcoming booking is written into it again, not taken as still there.
async fn a_calendar_disconnected_with_its_events_removed_gets_its_bookings_back_when_connected_again(
    db: Db,
) {
    let app = TestApp::start_public(db).await;
    let (key, ann, browser) = signed_in(&app, "ann@example.com").await;
    connect(&app, &browser, "google", "ann@example.com", "allow").await;
    let mut booking = booking_in("Massage", 6);
    booking.staff_ids = vec![ann];
    app.api(&key).create_booking(&booking).await.unwrap();
    let live = || async {
        let url = "/sandbox/_control/google/calendars/ann@example.com/ann@example.com/events";
        let events: Vec<Value> =
            app.sandbox().get(app.url(url)).send().await.unwrap().json().await.unwrap();
        events.into_iter().filter(|e| e["status"] != "cancelled").count()
    };
    let count = |n: usize| {
        let live = &live;
        eventually(std::time::Duration::from_secs(30), move || async move {
            (live().await == n).then_some(())
        })
    };
    count(1).await;

    let id = connections(&app, &key).await[0].id;
    let path = format!("/api/v1/connections/{id}?remove_events=true");
    assert_eq!(app.call("DELETE", &path, &key, None).await.0, 200);
    app.settle().await;
    count(0).await;
    // Her settings link again: a disconnect through the API ends her sessions.
    browser.get(&app.api(&key).settings_link(ann).await.unwrap().url).await;
    connect(&app, &browser, "google", "ann@example.com", "allow").await;
    assert_eq!(connections(&app, &key).await[0].id, id, "the same connection, back");
    count(1).await;
    app.stop().await;
}

async fn a_google_event_written_but_not_yet_recorded_is_removed_with_the_calendar(db: Db) {
    removed_with_the_calendar(db, "google", "ann@example.com", Late::NotYetRecorded).await;
}

async fn a_microsoft_event_written_but_not_yet_recorded_is_removed_with_the_calendar(db: Db) {
    let email = "ann.lee@contoso.example";
    removed_with_the_calendar(db, "microsoft", email, Late::NotYetRecorded).await;
}

async fn an_event_recorded_after_the_disconnect_is_written_again_when_the_calendar_is_back(db: Db) {
    removed_with_the_calendar(db, "google", "ann@example.com", Late::RecordedAfterTheDisconnect)
        .await;
}

/// Ann disconnects her Microsoft calendar, events removed, while a sync is still writing a new
/// booking into it (the provider slow to answer): the event it writes goes too. Microsoft has no
/// revocation that would stop the late write, so the cleanup waits for the sync to end.
async fn an_event_a_sync_is_still_writing_at_the_disconnect_leaves_with_the_calendar(db: Db) {
    let app = TestApp::start_public(db).await;
    let (key, ann, browser) = signed_in(&app, OUTLOOK).await;
    connect(&app, &browser, "microsoft", OUTLOOK, "allow").await;
    a_write_held_on_its_way_to_outlook(&app, &key, ann).await;

    // The provider answers once the disconnect has committed and its cleanup had time to look
    // through the calendar (were it not waiting for the sync).
    disconnected_before_the_write_lands(&app, &key).await;
    app.stop().await;
}

/// Disconnects Ann's only calendar with its events removed and, once that has committed and its
/// cleanup had time to look through the calendar, lifts the gate holding her event's creation
/// and waits until Outlook holds the event; then checks that the event left with the calendar.
async fn disconnected_before_the_write_lands(app: &TestApp, key: &str) {
    let id = connections(app, key).await[0].id;
    let path = format!("/api/v1/connections/{id}?remove_events=true");
    let disconnecting = app.call("DELETE", &path, key, None);
    let landed = async {
        eventually(std::time::Duration::from_secs(30), || async {
            let status = connections(app, key).await[0].status.clone();
            (status == "revoked").then_some(())
        })
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let lifted = app.sandbox().delete(app.url("/sandbox/_control/hold")).send().await;
        assert!(lifted.unwrap().status().is_success());
        eventually(std::time::Duration::from_secs(10), || async {
            let url = format!("/sandbox/_control/microsoft/users/{OUTLOOK}/events");
            let events: Vec<Value> = app.sandbox_json(&url).await;
            (!events.is_empty()).then_some(())
        })
        .await;
    };
    let ((status, answer), ()) = tokio::join!(disconnecting, landed);
    assert_eq!(status, 200, "{answer}");
    app.settle().await;
    let left = left_in_outlook(app).await;
    assert!(left.is_empty(), "the event left with the calendar, but these stay: {left:?}");
}

/// As above, but Ann is deleted as a staff member (which always takes Kalends' events out of
/// her calendars) while the sync is writing.
async fn an_event_a_sync_is_still_writing_leaves_the_calendar_of_a_deleted_staff_member(db: Db) {
    let app = TestApp::start_public(db).await;
    let (key, ann, browser) = signed_in(&app, OUTLOOK).await;
    connect(&app, &browser, "microsoft", OUTLOOK, "allow").await;
    a_write_held_on_its_way_to_outlook(&app, &key, ann).await;

    app.api(&key).delete_staff(ann).await.unwrap();
    // Time for the queued cleanup to look through the calendar (were it not waiting).
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let lifted = app.sandbox().delete(app.url("/sandbox/_control/hold")).send().await;
    assert!(lifted.unwrap().status().is_success());
    app.settle().await;
    let left = left_in_outlook(&app).await;
    assert!(
        left.is_empty(),
        "her calendar holds none of Kalends' events, but these stay: {left:?}"
    );
    app.stop().await;
}

/// As above, on a server whose requests have four seconds (`http.request_timeout_secs`): the
/// disconnect waits for the sync only part of that, answers in time that the calendar is not
/// cleaned up yet, and the queued retry removes the event once the sync is done.
async fn a_disconnect_answers_within_its_time_limit_while_a_sync_is_still_writing(db: Db) {
    let app = TestApp::start_public_with(db, |config| config.http.request_timeout_secs = 4).await;
    let (key, ann, browser) = signed_in(&app, OUTLOOK).await;
    connect(&app, &browser, "microsoft", OUTLOOK, "allow").await;
    a_write_held_on_its_way_to_outlook(&app, &key, ann).await;

    let id = connections(&app, &key).await[0].id;
    let path = format!("/api/v1/connections/{id}?remove_events=true");
    let (status, answer) = app.call("DELETE", &path, &key, None).await;
    assert_eq!(status, 200, "{answer}");
    let warning = answer["warning"].as_str().unwrap_or_default();
    assert!(warning.contains("a sync is still writing into the calendar"), "{answer}");
    assert!(warning.contains("Kalends keeps trying"), "{answer}");
    let lifted = app.sandbox().delete(app.url("/sandbox/_control/hold")).send().await;
    assert!(lifted.unwrap().status().is_success());
    app.settle().await;
    let left = left_in_outlook(&app).await;
    assert!(left.is_empty(), "the event left with the calendar, but these stay: {left:?}");
    app.stop().await;
}

/// Ann's new booking is on its way into her Outlook calendar when Microsoft stops answering (a
/// provider call has eight seconds here, `sync.provider_timeout_secs`), and Kalends gives up
/// waiting. She then disconnects the calendar with its events removed, and Microsoft carries out
/// the write after all. Her event leaves with the calendar: the booking keeps its sync lease for
/// as long again after the run, and the cleanup waits for it before it looks.
async fn an_event_whose_write_went_unanswered_leaves_with_the_calendar(db: Db) {
    let app = TestApp::start_public_with(db, |config| config.sync.provider_timeout_secs = 8).await;
    let (key, ann, browser) = signed_in(&app, OUTLOOK).await;
    connect(&app, &browser, "microsoft", OUTLOOK, "allow").await;
    let booking = a_write_held_on_its_way_to_outlook(&app, &key, ann).await;
    let api = app.api(&key);
    eventually(std::time::Duration::from_secs(30), || async {
        let sync = api.booking(booking).await.unwrap().sync.first()?.clone();
        sync.last_error.as_deref().is_some_and(|e| e.contains("no answer")).then_some(())
    })
    .await;

    // Microsoft carries out the write it held once the disconnect has committed.
    disconnected_before_the_write_lands(&app, &key).await;
    app.stop().await;
}

/// Ann's Outlook account.
const OUTLOOK: &str = "ann.lee@contoso.example";

/// A new booking of Ann's on its way into her Outlook calendar, the provider holding its
/// creation (`POST /me/calendars/{id}/events`) until the gate is lifted. Returns its id.
async fn a_write_held_on_its_way_to_outlook(app: &TestApp, key: &str, ann: Uuid) -> Uuid {
    app.settle().await;
    let control = app.sandbox();
    let hold = app.url("/sandbox/_control/hold");
    let gate = json!({"path": "/calendars/"});
    assert!(control.put(&hold).json(&gate).send().await.unwrap().status().is_success());
    let mut booking = booking_in("Massage", 6);
    booking.staff_ids = vec![ann];
    let id = app.api(key).create_booking(&booking).await.unwrap().id;
    eventually(std::time::Duration::from_secs(30), || async {
        let view: Value = control.get(&hold).send().await.unwrap().json().await.unwrap();
        (view["waiting"] == 1).then_some(())
    })
    .await;
    id
}

/// The titles of the events left in Ann's Outlook calendar.
async fn left_in_outlook(app: &TestApp) -> Vec<Value> {
    let url = format!("/sandbox/_control/microsoft/users/{OUTLOOK}/events");
    let events: Vec<Value> = app.sandbox_json(&url).await;
    events.iter().filter(|e| e["deleted"] != true).map(|e| e["subject"].clone()).collect()
}

/// Ann's Microsoft calendar is her default and holds her booking; her Google calendar is
/// connected too. She disconnects Microsoft with its events removed while Outlook fails for a
/// moment, so the queued retry does the cleanup; meanwhile her booking is replayed into Google,
/// whose answer is slow. The cleanup does not wait for that replay, which began after the
/// disconnect and cannot write into Outlook: her event leaves Outlook before Google answers.
async fn a_disconnects_cleanup_does_not_wait_for_the_replay_into_the_next_calendar(db: Db) {
    let app = TestApp::start_public(db).await;
    let (key, ann, browser) = signed_in(&app, "ann@example.com").await;
    connect(&app, &browser, "microsoft", OUTLOOK, "allow").await;
    connect(&app, &browser, "google", "ann@example.com", "allow").await;
    let mut booking = booking_in("Massage", 6);
    booking.staff_ids = vec![ann];
    app.api(&key).create_booking(&booking).await.unwrap();
    app.settle().await;
    let left = left_in_outlook(&app).await;
    assert_eq!(left.len(), 1, "the booking is in her default calendar");
    let list = connections(&app, &key).await;
    let microsoft = list.iter().find(|c| c.provider == "microsoft").unwrap();
    assert!(microsoft.is_default);

    let control = app.sandbox();
    let (hold, faults) = (app.url("/sandbox/_control/hold"), app.url("/sandbox/_control/faults"));
    let google_writes = json!({"path": "/calendars/ann@example.com/events"});
    assert!(control.put(&hold).json(&google_writes).send().await.unwrap().status().is_success());
    let outlook_fails = json!({"error_rate": 1.0, "path": "calendarView"});
    assert!(control.put(&faults).json(&outlook_fails).send().await.unwrap().status().is_success());
    let path = format!("/api/v1/connections/{}?remove_events=true", microsoft.id);
    let (status, answer) = app.call("DELETE", &path, &key, None).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["warning"].as_str().is_some(), "the cleanup is retried: {answer}");
    control.put(&faults).json(&json!({})).send().await.unwrap();

    eventually(std::time::Duration::from_secs(30), || async {
        left_in_outlook(&app).await.is_empty().then_some(())
    })
    .await;
    let view: Value = control.get(&hold).send().await.unwrap().json().await.unwrap();
    assert_eq!(view["waiting"], 1, "Google had not answered the replay yet: {view}");
    assert!(control.delete(&hold).send().await.unwrap().status().is_success());
    app.settle().await;
    let google = "/sandbox/_control/google/calendars/ann@example.com/ann@example.com/events";
    let events: Vec<Value> = app.sandbox_json(google).await;
    assert_eq!(events.len(), 1, "the booking moved to Google: {events:?}");
    app.stop().await;
}

/// Ann's booking went into her primary calendar, but its record was not written yet (the push
/// still under way) when her destination moved to another calendar; then she disconnects with
/// the events removed. The new destination's listing cannot show the event: the cleanup finds
/// it in the calendar it was written to by the id Kalends gave it.
async fn an_unrecorded_event_in_a_former_destination_leaves_with_the_calendar(db: Db) {
    let app = TestApp::start_public(db).await;
    let email = "ann@example.com";
    let (key, ann, browser) = signed_in(&app, email).await;
    connect(&app, &browser, "google", email, "allow").await;
    let mut booking = booking_in("Massage", 6);
    booking.staff_ids = vec![ann];
    app.api(&key).create_booking(&booking).await.unwrap();
    app.settle().await;
    let url = format!("/sandbox/_control/google/calendars/{email}/{email}/events");
    let live = || async {
        let events: Vec<Value> = app.sandbox_json(&url).await;
        events.iter().filter(|e| e["status"] != "cancelled").count()
    };
    assert_eq!(live().await, 1, "the booking is in her primary calendar");

    // As only a race leaves it: the destination moved to another of her calendars, the event's
    // record not yet written.
    let id = connections(&app, &key).await[0].id;
    let (_, calendars) =
        app.call("GET", &format!("/api/v1/connections/{id}/calendars"), &key, None).await;
    let other = calendars["items"].as_array().unwrap().iter().find(|c| c["id"] != email).unwrap();
    let moved = format!(
        "UPDATE connections SET destination_calendar_id = '{}'",
        other["id"].as_str().unwrap()
    );
    crate::helpers::execute_either(&app.store, &moved, &moved).await;
    let unrecorded = "UPDATE booking_events SET remote_id = NULL, remote_etag = NULL, \
                      state = 'pending' WHERE connection_id = $1";
    assert_eq!(crate::helpers::execute_with_id(&app.store, unrecorded, id).await, 1);

    let path = format!("/api/v1/connections/{id}?remove_events=true");
    let (status, answer) = app.call("DELETE", &path, &key, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["events_removed"], 1, "{answer}");
    assert_eq!(live().await, 0, "the event left with the calendar");
    app.stop().await;
}

/// How a push under way at the disconnect left its record of the event it wrote.
enum Late {
    /// Not recorded yet: a run records its events once it is done.
    NotYetRecorded,
    /// Recorded after the disconnect, just before the cleanup removed the event.
    RecordedAfterTheDisconnect,
}

/// A calendar disconnected with its events removed while a push was writing into it (her
/// staff member changing their mind right after a booking): the event goes with the calendar
/// however far its record got, and comes back when the calendar is connected again. The
/// booking is five years ahead, further than the cleanup looks by default.
async fn removed_with_the_calendar(db: Db, provider: &str, email: &str, late: Late) {
    let app = TestApp::start_public(db).await;
    let (key, ann, browser) = signed_in(&app, email).await;
    connect(&app, &browser, provider, email, "allow").await;
    let mut booking = crate::helpers::booking_body("Massage", 1);
    let day = (chrono::Utc::now() + chrono::Duration::days(5 * 365)).date_naive();
    booking["start"] = json!(format!("{day}T10:00:00+01:00"));
    booking["end"] = json!(format!("{day}T11:00:00+01:00"));
    booking["staff_ids"] = json!([ann]);
    assert_eq!(app.call("POST", "/api/v1/bookings", &key, Some(booking)).await.0, 201);
    app.settle().await;
    let url = match provider {
        "google" => format!("/sandbox/_control/google/calendars/{email}/{email}/events"),
        _ => format!("/sandbox/_control/microsoft/users/{email}/events"),
    };
    let live = || async {
        let events: Vec<Value> = app.sandbox_json(&url).await;
        // Google keeps a deleted event as cancelled; the Microsoft sandbox marks it deleted.
        events.iter().filter(|e| e["status"] != "cancelled" && e["deleted"] != true).count()
    };
    assert_eq!(live().await, 1, "the booking is in the calendar");
    let id = connections(&app, &key).await[0].id;
    match late {
        Late::NotYetRecorded => {
            let unrecorded = "UPDATE booking_events SET remote_id = NULL, remote_etag = NULL, \
                              state = 'pending' WHERE connection_id = $1";
            assert_eq!(crate::helpers::execute_with_id(&app.store, unrecorded, id).await, 1);
        }
        Late::RecordedAfterTheDisconnect => {
            crate::helpers::execute_either(
                &app.store,
                "UPDATE booking_events SET updated_at = '2099-01-01T00:00:00Z'",
                "UPDATE booking_events SET updated_at = '2099-01-01 00:00:00+00:00'",
            )
            .await;
        }
    }

    let path = format!("/api/v1/connections/{id}?remove_events=true");
    let (status, answer) = app.call("DELETE", &path, &key, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["events_removed"], 1, "{answer}");
    assert_eq!(live().await, 0, "the event left with the calendar");

    browser.get(&app.api(&key).settings_link(ann).await.unwrap().url).await;
    connect(&app, &browser, provider, email, "allow").await;
    app.settle().await;
    assert_eq!(live().await, 1, "the booking is back in the calendar connected again");
    app.stop().await;
}

/// Ann disconnects her calendar with its events removed and connects it again while the
/// cleanup is still at work (the sandbox holds the removal of one event until she is back):
/// the cleanup stops, and what it had already removed is written into her calendar again.
async fn a_calendar_connected_again_while_its_cleanup_runs_gets_back_the_events_it_took(db: Db) {
    let app = TestApp::start_public(db).await;
    let (key, ann, browser) = signed_in(&app, "ann@example.com").await;
    connect(&app, &browser, "google", "ann@example.com", "allow").await;
    for day in [6, 7] {
        let mut booking = booking_in("Massage", day);
        booking.staff_ids = vec![ann];
        app.api(&key).create_booking(&booking).await.unwrap();
    }
    app.settle().await;
    let url = "/sandbox/_control/google/calendars/ann@example.com/ann@example.com/events";
    let live = || async {
        let events: Vec<Value> = app.sandbox_json(url).await;
        let live = events.into_iter().filter(|e| e["status"] != "cancelled");
        live.map(|e| e["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    let events = live().await;
    assert_eq!(events.len(), 2, "{events:?}");
    let control = app.sandbox();
    let hold = app.url("/sandbox/_control/hold");
    let gate = json!({"path": format!("/events/{}", events[1])});
    assert!(control.put(&hold).json(&gate).send().await.unwrap().status().is_success());

    let id = connections(&app, &key).await[0].id;
    let path = format!("/api/v1/connections/{id}?remove_events=true");
    let disconnecting = app.call("DELETE", &path, &key, None);
    let back_meanwhile = async {
        eventually(std::time::Duration::from_secs(30), || async {
            let view: Value = control.get(&hold).send().await.unwrap().json().await.unwrap();
            (view["waiting"] == 1).then_some(())
        })
        .await;
        browser.get(&app.api(&key).settings_link(ann).await.unwrap().url).await;
        connect(&app, &browser, "google", "ann@example.com", "allow").await;
        assert!(control.delete(&hold).send().await.unwrap().status().is_success());
    };
    let ((status, answer), ()) = tokio::join!(disconnecting, back_meanwhile);
    assert_eq!(status, 200, "{answer}");
    app.settle().await;
    eventually(std::time::Duration::from_secs(30), || async {
        (live().await.len() == 2).then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_settings_link_that_is_forged_or_expired_opens_nothing() {
    let app = TestApp::start_public(Db::Sqlite).await;
    let browser = Browser::new();
    let forged = browser.get(&app.url("/settings/AAAA.BBBB")).await;
    assert_eq!(forged.status, 401);
    assert!(forged.body.contains("This link has expired"));
    let no_session = browser.get(&app.url("/settings")).await;
    assert_eq!(no_session.status, 401);
    assert!(no_session.body.contains("open your settings link again"));
    let start = browser.get(&app.url("/connect/google")).await;
    assert_eq!(start.status, 401, "connecting needs a session");
    app.stop().await;
}

#[tokio::test]
async fn choices_that_are_not_the_accounts_calendars_are_refused_with_the_field() {
    let app = TestApp::start_public(Db::Sqlite).await;
    let (key, _, browser) = signed_in(&app, "ann@example.com").await;
    connect(&app, &browser, "google", "ann@example.com", "allow").await;
    let id = connections(&app, &key).await[0].id;
    let api = app.api(&key);
    let problem =
        api.patch_connection(id, json!({"busy_calendar_ids": ["nope"]})).await.unwrap_err();
    assert_eq!(problem.status, 422);
    assert_eq!(fields(&problem)[0], "busy_calendar_ids");
    let path = format!("/api/v1/connections/{id}/calendars");
    let (_, calendars) = app.call("GET", &path, &key, None).await;
    let holidays =
        calendars["items"].as_array().unwrap().iter().find(|c| c["writable"] == false).unwrap();
    let problem =
        api.patch_connection(id, json!({"destination_calendar_id": holidays["id"]})).await;
    let problem = problem.unwrap_err();
    assert_eq!(problem.status, 422, "a read-only calendar cannot receive bookings: {problem:?}");
    let both = json!({"busy_calendar_ids": [holidays["id"], "ann@example.com"]});
    let updated = api.patch_connection(id, both).await.unwrap();
    assert_eq!(updated.busy_calendar_ids.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn the_sandbox_refuses_a_code_with_the_wrong_pkce_verifier() {
    let app = TestApp::start_public(Db::Sqlite).await;
    let config = kalends_core::Config { public_url: app.base.clone(), ..Default::default() };
    let providers = kalends::sandbox::providers(&config).unwrap();
    for provider in kalends_core::domain::Provider::OAUTH {
        let client = providers.get(provider);
        let authorization = client.authorize(Some("ann@example.com")).unwrap();
        let browser = Browser::new();
        let consent = browser.get(authorization.url.as_str()).await;
        let action = form_action(&consent.url, &consent.body);
        let redirect = browser
            .post(&action, &[("email", "ann@example.com"), ("decision", "allow")], false)
            .await;
        let location = url::Url::parse(&redirect.location.unwrap()).unwrap();
        let code = location.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
        let wrong =
            secrecy::SecretString::from("a-verifier-that-was-never-challenged-0123456789abcdef");
        let refused = client.exchange_code(&code, &wrong).await.unwrap_err();
        assert!(refused.to_string().to_lowercase().contains("verifier"), "{provider}: {refused}");
        // The refusal was the verifier's: the right one redeems the code, once.
        client.exchange_code(&code, &authorization.pkce_verifier).await.unwrap();
        let spent = client.exchange_code(&code, &authorization.pkce_verifier).await;
        assert!(spent.is_err(), "{provider}: a code works once");
    }
    app.stop().await;
}

/// Headless Chromium (through Python selenium, `tests/peers/browser_connect.py`) opens a settings
/// link, clicks "Connect Google", clicks Allow on the sandbox's consent page and sees the
/// connection listed. The screenshot lands in `target/screenshots/settings-page.png`.
async fn a_browser_connects_google_through_the_consent_page() {
    let chromium = Chromium::find();
    let app = TestApp::start_public(Db::Sqlite).await;
    let (_, key) = app.tenant().await;
    let staff = StaffIn {
        name: "Ann Lee".into(),
        email: Some("ann@example.com".into()),
        ..StaffIn::default()
    };
    let staff = app.api(&key).create_staff(&staff).await.unwrap();
    let link = app.api(&key).settings_link(staff.id).await.unwrap();
    let screenshot = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/screenshots/settings-page.png");
    let result =
        chromium.run("browser_connect.py", [link.url.as_ref(), screenshot.as_os_str()]).await;
    assert_eq!(result["connected"], true);
    assert_eq!(result["connections"], 1);
    assert!(std::fs::metadata(&screenshot).unwrap().len() > 10_000, "a real screenshot was saved");
    assert_eq!(connections(&app, &key).await[0].status, "active");
    app.stop().await;
}

async fn an_expiring_token_is_refreshed_once_and_ahead_of_time_by_concurrent_callers(db: Db) {
    use kalends_store::Pool;
    let app = TestApp::start_public(db).await;
    let (key, _, browser) = signed_in(&app, "ann@example.com").await;
    connect(&app, &browser, "google", "ann@example.com", "allow").await;
    let id = connections(&app, &key).await[0].id;
    // Two minutes left: inside the five-minute margin, so the next use refreshes first.
    let soon = chrono::Utc::now() + chrono::Duration::minutes(2);
    let sql = "UPDATE connections SET token_expires_at = $1";
    match app.store.pool() {
        Pool::Postgres(pool) => {
            sqlx::query(sql).bind(soon).execute(pool).await.map(|_| ()).unwrap()
        }
        Pool::Sqlite { write, .. } => {
            sqlx::query(sql).bind(soon).execute(write).await.map(|_| ()).unwrap()
        }
    }
    let path = format!("/api/v1/connections/{id}/test");
    let calls = (0..8).map(|_| app.call("POST", &path, &key, None));
    for (status, test) in futures::future::join_all(calls).await {
        assert_eq!((status, &test["ok"]), (200, &json!(true)), "{test}");
    }
    let grants: Value = app.sandbox_json("/sandbox/_control/grants").await;
    assert_eq!(grants[0]["refreshes"], 1, "one refresh for eight concurrent callers: {grants}");
    let expires: chrono::DateTime<chrono::Utc> = match app.store.pool() {
        Pool::Postgres(pool) => sqlx::query_scalar("SELECT token_expires_at FROM connections")
            .fetch_one(pool)
            .await
            .unwrap(),
        Pool::Sqlite { read, .. } => sqlx::query_scalar("SELECT token_expires_at FROM connections")
            .fetch_one(read)
            .await
            .unwrap(),
    };
    assert!(
        expires > chrono::Utc::now() + chrono::Duration::minutes(50),
        "the new expiry is stored: {expires}"
    );
    app.stop().await;
}
