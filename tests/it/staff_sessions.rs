//! Staff sessions as a staff member and whoever else holds their link see them: a settings link
//! opens once, "Sign out" ends the session, and disconnecting a calendar, a new link or deleting
//! the staff member ends the sessions opened before; the cookies under an https public URL; the
//! OAuth callback of a flow left usable for the browser that started it.

use kalends::api::staff::StaffIn;
use reqwest::header::{COOKIE, SET_COOKIE, STRICT_TRANSPORT_SECURITY};
use uuid::Uuid;

use crate::connect::{Browser, connect};
use crate::helpers::{Db, TempDir, TestApp, config, on_both_databases};

on_both_databases!(
    a_settings_link_opens_once_and_a_second_opening_says_to_ask_for_a_new_one,
    signing_out_ends_the_session_and_its_old_cookie_opens_nothing,
    disconnecting_a_calendar_ends_the_staff_members_other_sessions,
    a_new_settings_link_ends_the_sessions_opened_before_it,
    deleting_a_staff_member_ends_their_sessions,
    under_an_https_address_the_session_cookies_are_host_only_and_secure_with_hsts,
    a_callback_from_another_browser_leaves_the_flow_to_the_browser_that_started_it,
);

/// A tenant with a staff member: the tenant's API key and the staff member's id.
async fn staff_member(app: &TestApp, email: &str) -> (String, Uuid) {
    let (_, key) = app.tenant().await;
    let staff = StaffIn { name: "Ann Lee".into(), email: Some(email.into()), ..StaffIn::default() };
    let id = app.api(&key).create_staff(&staff).await.unwrap().id;
    (key, id)
}

/// A fresh settings link for the staff member, as the host's API mints it.
async fn link(app: &TestApp, key: &str, staff_id: Uuid) -> String {
    app.api(key).settings_link(staff_id).await.unwrap().url
}

/// Opens `link` without following the redirect: the status and the session cookie it sets
/// (`name=value`).
async fn open(link: &str) -> (u16, Option<String>, String) {
    let client =
        crate::helpers::client().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let answer = client.get(link).send().await.unwrap();
    let status = answer.status().as_u16();
    let cookie = answer
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    (status, cookie, answer.text().await.unwrap())
}

/// `GET /settings` with exactly `cookie`: its status and body.
async fn settings_with(app: &TestApp, cookie: &str) -> (u16, String) {
    let answer = app.http.get(app.url("/settings")).header(COOKIE, cookie).send().await.unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

/// Whether the session `cookie` still opens the settings page (a signed-out one answers 401
/// asking for the link again).
async fn still_signed_in(app: &TestApp, cookie: &str) -> bool {
    let (status, body) = settings_with(app, cookie).await;
    match status {
        200 => true,
        401 => {
            assert!(body.contains("open your settings link again"), "{body}");
            false
        }
        other => panic!("GET /settings answered {other}: {body}"),
    }
}

/// The CSRF token of a page's forms.
pub(crate) fn csrf_of(body: &str) -> String {
    let at = body.find("name=\"csrf\" value=\"").expect("a form with a CSRF token");
    let rest = &body[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

async fn a_settings_link_opens_once_and_a_second_opening_says_to_ask_for_a_new_one(db: Db) {
    let app = TestApp::start_public(db).await;
    let (key, ann) = staff_member(&app, "ann@example.com").await;
    let url = link(&app, &key, ann).await;

    let (status, cookie, _) = open(&url).await;
    assert_eq!(status, 303, "the first opening signs in");
    let cookie = cookie.expect("a session cookie");
    assert!(still_signed_in(&app, &cookie).await);

    // The same link forwarded to someone else: no second session.
    let (status, again, body) = open(&url).await;
    assert_eq!(status, 410, "{body}");
    assert!(again.is_none(), "no cookie for a used link");
    assert!(body.contains("This link was already used"), "{body}");
    assert!(body.contains("ask for a new one"), "{body}");
    assert!(still_signed_in(&app, &cookie).await, "the first browser keeps its session");
    // The page saying so is framed by no one, kept by no cache, and runs nothing.
    let used = app.http.get(&url).send().await.unwrap();
    let header =
        |name: &str| used.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(header("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(header("cache-control").as_deref(), Some("no-store"));
    let policy = header("content-security-policy").unwrap_or_default();
    assert!(policy.contains("default-src 'none'") && policy.contains("form-action 'self';"));
    app.stop().await;
}

async fn signing_out_ends_the_session_and_its_old_cookie_opens_nothing(db: Db) {
    let app = TestApp::start_public(db).await;
    let (key, ann) = staff_member(&app, "ann@example.com").await;
    let url = link(&app, &key, ann).await;
    let browser = Browser::new();
    let (_, cookie, _) = open(&url).await;
    let cookie = cookie.unwrap();

    let page = settings_with(&app, &cookie).await.1;
    assert!(page.contains("Sign out"), "the settings page offers to sign out");
    let csrf = csrf_of(&page);
    let client = &app.http;
    let forged = client
        .post(app.url("/settings/sign-out"))
        .header(COOKIE, &cookie)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403, "signing out needs the form's token");
    assert!(still_signed_in(&app, &cookie).await);

    let out = client
        .post(app.url("/settings/sign-out"))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    let expired = out.headers().get(SET_COOKIE).unwrap().to_str().unwrap().to_owned();
    assert!(expired.contains("Max-Age=0"), "the browser forgets the cookie: {expired}");
    assert!(out.text().await.unwrap().contains("You are signed out"));
    // Whoever kept the cookie (a copy, another tab) is signed out too.
    assert!(!still_signed_in(&app, &cookie).await, "the old cookie no longer opens settings");
    let start = browser.get(&app.url("/connect/google")).await;
    assert_eq!(start.status, 401);
    app.stop().await;
}

async fn disconnecting_a_calendar_ends_the_staff_members_other_sessions(db: Db) {
    let app = TestApp::start_public(db).await;
    let (key, ann) = staff_member(&app, "ann@example.com").await;
    // Two links minted before either is opened: two sessions side by side (Ann's and the one a
    // forwarded link gave someone else).
    let (mine, forwarded) = (link(&app, &key, ann).await, link(&app, &key, ann).await);
    let browser = Browser::new();
    assert_eq!(browser.get(&mine).await.status, 200);
    let (_, other, _) = open(&forwarded).await;
    let other = other.unwrap();
    let page = connect(&app, &browser, "google", "ann@example.com", "allow").await;
    assert!(page.body.contains("Google Calendar is connected"), "{}", page.body);
    let google = app.api(&key).connections().await.unwrap()[0].id;

    // Ann disconnects Google herself: the other session ends, hers goes on.
    let confirm =
        browser.get(&app.url(&format!("/settings/connections/{google}/disconnect"))).await;
    let csrf = csrf_of(&confirm.body);
    let done = browser
        .post(
            &app.url(&format!("/settings/connections/{google}/disconnect")),
            &[("csrf", csrf.as_str())],
            true,
        )
        .await;
    assert!(done.body.contains("The calendar is disconnected"), "{}", done.body);
    assert!(!still_signed_in(&app, &other).await, "the other session ended");

    // The host disconnects her new calendar through the API: her session ends as well.
    let page = connect(&app, &browser, "microsoft", "ann@example.com", "allow").await;
    assert!(page.body.contains("Microsoft Outlook is connected"), "{}", page.body);
    let list = app.api(&key).connections().await.unwrap();
    let microsoft = list.iter().find(|c| c.provider == "microsoft").unwrap().id;
    app.api(&key).disconnect(microsoft).await.unwrap();
    let after = browser.get(&app.url("/settings")).await;
    assert_eq!(after.status, 401, "{}", after.body);
    assert!(after.body.contains("open your settings link again"));
    app.stop().await;
}

async fn a_new_settings_link_ends_the_sessions_opened_before_it(db: Db) {
    let app = TestApp::start_public(db).await;
    let (key, ann) = staff_member(&app, "ann@example.com").await;
    let (_, old, _) = open(&link(&app, &key, ann).await).await;
    let old = old.unwrap();
    assert!(still_signed_in(&app, &old).await);

    // The host mints a new link (Ann asked for one): the session opened before ends...
    let fresh = link(&app, &key, ann).await;
    assert!(!still_signed_in(&app, &old).await, "a new link ends the older session");
    // ...and the new link opens a session of its own.
    let (status, new, _) = open(&fresh).await;
    assert_eq!(status, 303);
    let new = new.unwrap();
    assert!(still_signed_in(&app, &new).await);

    // The console's "E-mail a settings link" ends it too once the e-mail job has run.
    let (browser, console_key, csrf) = crate::console::signed_in_as(&app, &key).await;
    assert_eq!(console_key, key);
    let sent = browser
        .post(&format!("/dashboard/staff/{ann}/email-settings-link"), &[("csrf", &csrf)])
        .await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    app.settle().await;
    assert!(!still_signed_in(&app, &new).await, "an e-mailed link ends the older session");
    app.stop().await;
}

async fn deleting_a_staff_member_ends_their_sessions(db: Db) {
    let app = TestApp::start_public(db).await;
    let (key, ann) = staff_member(&app, "ann@example.com").await;
    let (_, cookie, _) = open(&link(&app, &key, ann).await).await;
    let cookie = cookie.unwrap();
    assert!(still_signed_in(&app, &cookie).await);
    app.api(&key).delete_staff(ann).await.unwrap();
    assert!(!still_signed_in(&app, &cookie).await);
    app.stop().await;
}

async fn under_an_https_address_the_session_cookies_are_host_only_and_secure_with_hsts(db: Db) {
    let dir = TempDir::new();
    let mut settings = config(db, &dir).await;
    settings.public_url = "https://kalends.example".into();
    let app = TestApp::start_with(settings, dir).await;
    let (key, ann) = staff_member(&app, "ann@example.com").await;
    let url = link(&app, &key, ann).await;
    assert!(url.starts_with("https://kalends.example/settings/"), "{url}");
    let here = url.replace("https://kalends.example", &app.base);

    let client =
        crate::helpers::client().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let opened = client.get(&here).send().await.unwrap();
    assert_eq!(opened.status(), 303);
    let hsts = opened.headers().get(STRICT_TRANSPORT_SECURITY).map(|v| v.to_str().unwrap());
    assert_eq!(hsts, Some("max-age=31536000; includeSubDomains"));
    let set = opened.headers().get(SET_COOKIE).unwrap().to_str().unwrap().to_owned();
    assert!(set.starts_with("__Host-kalends_session="), "{set}");
    assert!(set.contains("; Secure") && set.contains("Path=/"), "{set}");
    assert!(!set.to_ascii_lowercase().contains("domain="), "{set}");
    // The browser sends it back under the same name (over https; here by hand).
    let cookie = set.split(';').next().unwrap();
    assert!(still_signed_in(&app, cookie).await, "the __Host- cookie is read back");
    let plain = cookie.replacen("__Host-", "", 1);
    assert!(!still_signed_in(&app, &plain).await, "the name without the prefix is not read");

    let console: serde_json::Value =
        app.api(&key).send("POST", "/api/v1/dashboard-link", None, 200).await.unwrap();
    let console = console["url"].as_str().unwrap().replace("https://kalends.example", &app.base);
    let opened = client.get(&console).send().await.unwrap();
    let set = opened.headers().get(SET_COOKIE).unwrap().to_str().unwrap().to_owned();
    assert!(set.starts_with("__Host-kalends_console="), "{set}");
    assert!(set.contains("; Secure") && set.contains("Path=/"), "{set}");
    let cookie = set.split(';').next().unwrap();
    let overview = client.get(app.url("/dashboard")).header(COOKIE, cookie).send().await.unwrap();
    assert_eq!(overview.status(), 200, "the console's __Host- cookie is read back");

    // Every answer carries HSTS, the API's too.
    let health = client.get(app.url("/healthz")).send().await.unwrap();
    assert!(health.headers().contains_key(STRICT_TRANSPORT_SECURITY));
    app.stop().await;

    // Under plain http: no prefix, no Secure, no HSTS.
    let app = TestApp::start_public(db).await;
    let (key, ann) = staff_member(&app, "ann@example.com").await;
    let opened = client.get(link(&app, &key, ann).await).send().await.unwrap();
    assert!(!opened.headers().contains_key(STRICT_TRANSPORT_SECURITY));
    let set = opened.headers().get(SET_COOKIE).unwrap().to_str().unwrap().to_owned();
    assert!(set.starts_with("kalends_session=") && !set.contains("Secure"), "{set}");
    app.stop().await;
}

async fn a_callback_from_another_browser_leaves_the_flow_to_the_browser_that_started_it(db: Db) {
    let app = TestApp::start_public(db).await;
    let (key, ann) = staff_member(&app, "ann@example.com").await;
    let browser = Browser::new();
    assert_eq!(browser.get(&link(&app, &key, ann).await).await.status, 200);
    let callback = crate::connect::consent_callback(&app, &browser, "google").await;

    // Someone who saw the callback address (its state) hits it first, without Ann's session...
    let stranger = Browser::new();
    let spoiled = stranger.get(&callback).await;
    assert_eq!(spoiled.status, 400, "{}", spoiled.body);
    // ...and with a session of their own (Bob's).
    let (bob_key, bob_id) = staff_member(&app, "bob@example.com").await;
    assert_eq!(stranger.get(&link(&app, &bob_key, bob_id).await).await.status, 200);
    let spoiled = stranger.get(&callback).await;
    assert_eq!(spoiled.status, 400);
    assert!(spoiled.body.contains("belongs to another session"), "{}", spoiled.body);
    assert!(app.api(&key).connections().await.unwrap().is_empty());

    // Ann's own browser then finishes her flow.
    let finished = browser.get(&callback).await;
    assert!(finished.url.ends_with("/settings?notice=connected-google"), "{}", finished.url);
    assert_eq!(app.api(&key).connections().await.unwrap().len(), 1);
    app.stop().await;
}
