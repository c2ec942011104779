//! The tenant console (`/dashboard`), driven over HTTP as a browser without JavaScript drives it:
//! signing in by a one-time link, the overview, calendar sync, conflicts, blocks, settings, the
//! live-update stream, and what it refuses.

use std::sync::Arc;
use std::time::Duration;

use kalends::api::blocks::BlockIn;
use kalends::api::bookings::BookingIn;
use kalends::api::dashboard_link::DashboardLinkOut;
use kalends::api::resources::ResourceIn;
use kalends::api::staff::StaffIn;
use kalends_store::charts::{Buckets, Series};
use uuid::Uuid;

use crate::feeds::FakePlatform;
use crate::helpers::{Chromium, Db, TestApp, needs_peers, on_both_databases};
use crate::peer::peer;
use crate::smtp_sink::SmtpSink;

on_both_databases!(
    a_dashboard_link_signs_in_once_and_signing_out_ends_the_session,
    the_overview_shows_each_property_with_its_bookings_blocks_and_conflicts,
    adding_an_import_checks_the_address_first_and_a_bad_one_keeps_what_was_typed,
    an_import_is_paused_edited_and_resumed_from_the_console,
    a_feed_made_on_the_console_is_for_the_platform_chosen,
    a_conflict_is_resolved_with_a_note_from_the_console,
    blocks_are_added_and_removed_with_their_errors_in_place,
    settings_are_saved_with_the_apis_checks,
    another_tenants_objects_are_not_found_and_forms_need_the_session_token,
    a_change_reaches_an_open_console_as_a_live_event,
    news_of_a_change_reaches_an_open_console_before_its_next_look,
    a_staff_member_is_emailed_a_settings_link_that_opens_their_settings,
    rules_of_a_property_and_a_staff_member_are_saved_with_errors_in_place,
    the_overview_charts_count_syncs_imports_and_conflicts_by_the_hour_and_by_the_day,
);
needs_peers!(
    "needs Chromium and axe-core: run scripts/test";
    a_browser_runs_the_console_with_and_without_javascript_and_every_page_passes_axe,
);

async fn rules_of_a_property_and_a_staff_member_are_saved_with_errors_in_place(db: Db) {
    let app = TestApp::start_public(db).await;
    let (browser, key, csrf) = signed_in(&app).await;
    let api = app.api(&key);
    let room = property(&app, &key, "Sea view").await;
    stay(&app, &key, room, "Okafor", 5, 7).await;
    let path = format!("/dashboard/resources/{room}/rules");
    let form = browser.get(&path).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("Availability rules of Sea view"), "{}", form.body);

    let bad = [
        ("csrf", csrf.as_str()),
        ("turnover_days", "1"),
        ("min_nights", "0"),
        ("max_nights", "ten"),
        ("no_arrival_days.sun", "yes"),
        ("export_to_feeds", "yes"),
    ];
    let refused = browser.post(&path, &bad).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("id=\"max_nights-error\""), "a word is not a number");
    assert!(refused.body.contains("id=\"min_nights-error\""), "Rules::try_from's error in place");
    assert!(refused.body.contains("must be a whole number from 1 to 365"), "{}", refused.body);
    assert!(refused.body.contains("name=\"turnover_days\" inputmode=\"numeric\" value=\"1\""));
    assert!(refused.body.contains("name=\"max_nights\" inputmode=\"numeric\" value=\"ten\""));
    assert!(refused.body.contains("name=\"no_arrival_days.sun\" value=\"yes\" checked"));
    let rules_path = format!("/api/v1/resources/{room}/rules");
    let stored: serde_json::Value = api.send("GET", &rules_path, None, 200).await.unwrap();
    assert_eq!(stored, serde_json::json!({}), "nothing is saved");
    assert_eq!(browser.post(&path, &[("csrf", "wrong"), ("min_nights", "2")]).await.status, 403);

    let good = [("csrf", csrf.as_str()), ("turnover_days", "1"), ("min_nights", "2")];
    let saved = browser.post(&path, &[good[0], good[1], good[2], ("export_to_feeds", "yes")]).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert!(saved.location().contains("notice=rules-saved"), "{}", saved.location());
    let stored: serde_json::Value = api.send("GET", &rules_path, None, 200).await.unwrap();
    let expected =
        serde_json::json!({"turnover_days": 1, "min_nights": 2, "export_to_feeds": true});
    assert_eq!(stored, expected);
    let overview = browser.get("/dashboard").await;
    assert!(overview.body.contains("Closed by a rule"), "the legend names the new state");
    assert!(
        overview
            .body
            .contains("Not bookable: closed by a rule: turnover after a stay (turnover_days)"),
        "the turnover night after the stay names its rule: {}",
        overview.body
    );
    assert!(overview.body.contains("href=\"/dashboard/rules\""), "the overview links the rules");
    let index = browser.get("/dashboard/rules").await;
    assert!(index.body.contains(&format!("href=\"{path}\"")), "each property links its rules");

    let ann = StaffIn { name: "Ann".into(), ..StaffIn::default() };
    let ann = api.create_staff(&ann).await.unwrap().id;
    let staff_path = format!("/dashboard/staff/{ann}/rules");
    assert!(browser.get("/dashboard/staff").await.body.contains(&staff_path));
    assert!(browser.get("/dashboard/rules").await.body.contains(&staff_path));
    let backwards = [("csrf", csrf.as_str()), ("weekly_hours.mon", "18:00-09:00")];
    let refused = browser.post(&staff_path, &backwards).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("id=\"weekly_hours.mon-error\""), "{}", refused.body);
    assert!(refused.body.contains("value=\"18:00-09:00\""), "what was typed is kept");
    let hours = [
        ("csrf", csrf.as_str()),
        ("weekly_hours.mon", "09:00-12:30, 13:30-18:00"),
        ("buffer_after_minutes", "15"),
    ];
    assert_eq!(browser.post(&staff_path, &hours).await.status, 303);
    let stored: serde_json::Value =
        api.send("GET", &format!("/api/v1/staff/{ann}/rules"), None, 200).await.unwrap();
    let expected = serde_json::json!({"weekly_hours": {"mon": [["09:00", "12:30"], ["13:30", "18:00"]]},
        "buffer_after_minutes": 15});
    assert_eq!(stored, expected);
    let (_, other) = app.tenant().await;
    let theirs = property(&app, &other, "Not yours").await;
    let not_yours = browser.get(&format!("/dashboard/resources/{theirs}/rules")).await;
    assert_eq!(not_yours.status, 404, "another tenant's property is not found");
    app.stop().await;
}

/// A browser without JavaScript: keeps cookies, does not follow redirects.
pub(crate) struct Browser {
    client: reqwest::Client,
    base: String,
}

/// A page as the browser got it.
pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn location(&self) -> &str {
        self.headers.get("location").map_or("", |v| v.to_str().unwrap())
    }

    /// The CSRF token of the page's forms.
    fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").expect("a form with a CSRF token");
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        let client = crate::helpers::client()
            .cookie_provider(Arc::new(reqwest::cookie::Jar::default()))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser { client, base: app.base.clone() }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.base) }
    }

    pub(crate) async fn get(&self, path: &str) -> Page {
        page(self.client.get(self.url(path)).send().await.unwrap()).await
    }

    pub(crate) async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        page(self.client.post(self.url(path)).form(form).send().await.unwrap()).await
    }
}

async fn page(response: reqwest::Response) -> Page {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    Page { status, headers, body: response.text().await.unwrap() }
}

/// A tenant with a signed-in console: the browser, the API key and the CSRF token.
pub(crate) async fn signed_in(app: &TestApp) -> (Browser, String, String) {
    let (_, key) = app.tenant().await;
    signed_in_as(app, &key).await
}

/// A browser signed in to the console of the tenant whose API key is `key`: the browser, the
/// key and the session's CSRF token.
pub(crate) async fn signed_in_as(app: &TestApp, key: &str) -> (Browser, String, String) {
    let key = key.to_owned();
    let link = dashboard_link(app, &key).await;
    let browser = Browser::new(app);
    let opened = browser.get(&link.url).await;
    assert_eq!((opened.status, opened.location()), (303, "/dashboard"));
    let overview = browser.get("/dashboard").await;
    assert_eq!(overview.status, 200, "{}", overview.body);
    let csrf = overview.csrf();
    (browser, key, csrf)
}

async fn dashboard_link(app: &TestApp, key: &str) -> DashboardLinkOut {
    app.api(key).send("POST", "/api/v1/dashboard-link", None, 200).await.unwrap()
}

async fn property(app: &TestApp, key: &str, name: &str) -> Uuid {
    let resource = ResourceIn { name: name.into(), ..ResourceIn::default() };
    app.api(key).create_resource(&resource).await.unwrap().id
}

fn in_days(n: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(n)).to_string()
}

/// The night `n` days from now as the console says it: `the night of Fri 27 Nov`, with the year
/// when it is not this one.
fn night_of(n: i64) -> String {
    use chrono::Datelike as _;
    let today = chrono::Utc::now().date_naive();
    let day = today + chrono::Duration::days(n);
    let year = if day.year() == today.year() { String::new() } else { format!(" {}", day.year()) };
    format!("the night of {}{year}", day.format("%a %-d %b"))
}

async fn stay(app: &TestApp, key: &str, room: Uuid, title: &str, from: i64, to: i64) -> Uuid {
    let booking = BookingIn {
        resource_id: Some(room),
        title: title.into(),
        start_date: Some(in_days(from)),
        end_date: Some(in_days(to)),
        ..BookingIn::default()
    };
    app.api(key).create_booking(&booking).await.unwrap().id
}

async fn a_dashboard_link_signs_in_once_and_signing_out_ends_the_session(db: Db) {
    let app = TestApp::start_public(db).await;
    let (_, key) = app.tenant().await;
    let link = dashboard_link(&app, &key).await;
    assert!(link.url.starts_with(&format!("{}/dashboard/", app.base)), "{}", link.url);
    let browser = Browser::new(&app);
    assert_eq!(browser.get("/dashboard").await.status, 401, "no session yet");
    let opened = browser.get(&link.url).await;
    assert_eq!((opened.status, opened.location()), (303, "/dashboard"));
    let cookie = opened.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let overview = browser.get("/dashboard").await;
    assert_eq!(overview.status, 200);
    assert!(overview.body.contains("Guesthouse"), "the tenant's name shows");
    let again = Browser::new(&app).get(&link.url).await;
    assert_eq!(again.status, 410, "a link works once");
    assert!(again.body.contains("used already"));
    let forged = Browser::new(&app).get("/dashboard/not-a-link").await;
    assert_eq!(forged.status, 404);

    let refused = browser.post("/dashboard/sign-out", &[("csrf", "wrong")]).await;
    assert_eq!(refused.status, 403, "signing out needs the form's token");
    let out = browser.post("/dashboard/sign-out", &[("csrf", &overview.csrf())]).await;
    assert_eq!(out.status, 200);
    assert!(out.body.contains("signed out"));
    assert_eq!(browser.get("/dashboard").await.status, 401, "the session ended");
    app.stop().await;
}

async fn the_overview_shows_each_property_with_its_bookings_blocks_and_conflicts(db: Db) {
    let app = TestApp::start_public(db).await;
    let (browser, key, _) = signed_in(&app).await;
    let cottage = property(&app, &key, "Sea View Cottage").await;
    let garden = property(&app, &key, "Garden Room").await;
    stay(&app, &key, cottage, "Smith family", 2, 5).await;
    stay(&app, &key, cottage, "Jones", 4, 6).await;
    let block = BlockIn {
        resource_id: Some(garden),
        start_date: Some(in_days(1)),
        end_date: Some(in_days(3)),
        reason: Some("Painting".into()),
        ..BlockIn::default()
    };
    app.api(&key).create_block(&block).await.unwrap();
    let conflict = app.api(&key).conflicts("open").await.unwrap().remove(0);

    let overview = browser.get("/dashboard").await;
    assert_eq!(overview.status, 200);
    let body = &overview.body;
    for name in ["Sea View Cottage", "Garden Room", "Smith family", "Painting"] {
        assert!(body.contains(name), "{name} shows on the timeline");
    }
    assert!(body.contains("td class=\"cell booking conflict\""), "the double booking is marked");
    assert!(body.contains(&format!("/dashboard/conflicts#c-{}", conflict.id)), "and links to it");
    assert!(body.contains("td class=\"cell block\""));
    let tooltip = format!("title=\"{}: Booked: Smith family\"", night_of(2));
    assert!(body.contains(&tooltip), "a day of a property is a night: {tooltip}");
    let wide = browser.get("/dashboard?days=90").await;
    let weekend_days = wide.body.matches("<th class=\"weekend\" scope=\"col\"").count();
    assert!(weekend_days >= 24, "90 days hold at least 24 weekend days: {weekend_days}");
    let staff = browser.get("/dashboard?view=staff").await;
    assert!(staff.body.contains("No staff members yet"));
    app.stop().await;
}

/// How many of each series the tenant had in `buckets`, in all.
async fn chart_totals(app: &TestApp, tenant_id: Uuid, buckets: Buckets) -> Vec<(Series, i64)> {
    let mut totals = Vec::new();
    for series in Series::ALL {
        let counts = app.store.chart_series(tenant_id, series, &buckets).await.unwrap();
        assert_eq!(counts.len(), buckets.count());
        totals.push((series, counts.iter().sum()));
    }
    totals
}

/// The demo (bookings synced to the sandbox's Google, a feed import, a double booking), a failed
/// import run and a resolved conflict, counted by the store's chart series (on both databases)
/// in the last 24 hours and the last 30 days, and drawn on the overview with a text for each
/// chart; a week ago and another tenant count nothing.
async fn the_overview_charts_count_syncs_imports_and_conflicts_by_the_hour_and_by_the_day(db: Db) {
    let mut config = None;
    let app = TestApp::start_public_with(db, |c| {
        c.import.allow_private_networks = true;
        config = Some(c.clone());
    })
    .await;
    let secret = config.unwrap().secret_key().unwrap().0;
    let (tenant, key) = app.tenant().await;
    let sandbox = format!("{}/sandbox", app.base);
    let api_key = key.clone().into();
    let demo = demo_sandbox(&app, &sandbox);
    kalends::demo::seed(&app.store, &tenant, &secret, &api_key, demo, "ann@example.com")
        .await
        .unwrap();
    app.settle().await;
    let room = property(&app, &key, "Garden Room").await;
    let closed = serde_json::json!({"resource_id": room, "platform": "airbnb",
        "url": "http://127.0.0.1:9/calendar.ics"});
    let (status, import) = app.call("POST", "/api/v1/imports", &key, Some(closed)).await;
    assert_eq!(status, 201, "{import}");
    let run = format!("/api/v1/imports/{}/run", import["id"].as_str().unwrap());
    app.call("POST", &run, &key, None).await;
    let conflict = app.api(&key).conflicts("open").await.unwrap().remove(0);
    app.api(&key).resolve_conflict(conflict.id, "Seen").await.unwrap();

    let now = chrono::Utc::now();
    let hours = Buckets::ending_at(now, chrono::Duration::hours(1), 24);
    let today = now.with_timezone(&tenant.settings.time_zone.tz()).date_naive();
    let days = Buckets::days_until(today, 30, tenant.settings.time_zone);
    for buckets in [&hours, &days] {
        let totals = chart_totals(&app, tenant.id, buckets.clone()).await;
        let total = |series: Series| totals.iter().find(|(s, _)| *s == series).unwrap().1;
        assert!(total(Series::BookingsSynced) >= 1, "{totals:?}");
        assert!(total(Series::ImportRuns) >= 2, "the demo's and the failed one: {totals:?}");
        assert!(total(Series::ImportFailures) >= 1, "{totals:?}");
        assert!(total(Series::ImportFailures) <= total(Series::ImportRuns), "{totals:?}");
        assert!(total(Series::ConflictsOpened) >= 1, "{totals:?}");
        assert_eq!(total(Series::ConflictsResolved), 1, "{totals:?}");
    }
    let week_ago =
        Buckets::ending_at(now - chrono::Duration::days(7), chrono::Duration::hours(1), 24);
    let (other, _) = app.tenant().await;
    for (tenant_id, buckets) in [(tenant.id, week_ago), (other.id, days.clone())] {
        let totals = chart_totals(&app, tenant_id, buckets).await;
        assert!(totals.iter().all(|(_, n)| *n == 0), "{totals:?}");
    }

    let (browser, _, _) = signed_in_as(&app, &key).await;
    let overview = browser.get("/dashboard").await.body;
    assert_eq!(overview.matches("<svg role=\"img\"").count(), 10, "five series, two windows");
    assert!(
        overview.contains("Conflicts resolved in the last 24 hours: 1, most at "),
        "{overview}"
    );
    assert!(overview.contains("Conflicts resolved in the last 30 days: 1, most at "));
    app.stop().await;
}

async fn adding_an_import_checks_the_address_first_and_a_bad_one_keeps_what_was_typed(db: Db) {
    let app = TestApp::start_public_with(db, |c| c.import.allow_private_networks = true).await;
    let (browser, key, csrf) = signed_in(&app).await;
    let room = property(&app, &key, "Sea View Cottage").await;
    let airbnb = FakePlatform::airbnb().await;
    let room_id = room.to_string();
    let url = airbnb.url();
    let form = |action: &'static str, url: String, minutes: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("resource_id", room_id.clone()),
            ("platform", "airbnb".to_owned()),
            ("url", url),
            ("interval_minutes", minutes.to_owned()),
            ("action", action.to_owned()),
        ]
    };
    let post = |fields: Vec<(&'static str, String)>| {
        let browser = &browser;
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            browser.post("/dashboard/imports", &fields).await
        }
    };

    let checked = post(form("check", url.clone(), "30")).await;
    assert_eq!(checked.status, 200);
    assert!(checked.body.contains("The address works"), "{}", checked.body);
    assert!(checked.body.contains("2 busy dates would be stored"));
    assert!(checked.body.contains(&url.replace('&', "&amp;")), "the address stays in the form");
    let listed: serde_json::Value =
        app.api(&key).send("GET", "/api/v1/imports", None, 200).await.unwrap();
    assert_eq!(listed["items"], serde_json::json!([]), "checking saves nothing");

    let bad = post(form("save", "ftp://example.com/cal.ics".into(), "2")).await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("id=\"url-error\""), "the URL's error is in place");
    assert!(bad.body.contains("id=\"interval_minutes-error\""), "and the interval's");
    assert!(bad.body.contains("value=\"ftp://example.com/cal.ics\""), "what was typed is kept");

    let broken = post(form(
        "check",
        format!("{}/nothing-here.ics", url.split("/calendar").next().unwrap()),
        "30",
    ))
    .await;
    assert_eq!(broken.status, 200);
    assert!(broken.body.contains("This address does not work yet"));

    let saved = post(form("save", url.clone(), "30")).await;
    assert_eq!(saved.status, 303);
    assert!(saved.location().contains("notice=import-added"));
    let sync = browser.get(saved.location()).await;
    assert!(sync.body.contains("The import is saved"));
    let at = sync.body.find("/run\"").expect("a Run now button");
    let run = &sync.body[sync.body[..at].rfind("action=\"").unwrap() + 8..at + 4];
    let queued = browser.post(run, &[("csrf", &csrf)]).await;
    assert_eq!(queued.status, 303, "Run now answers at once");
    app.settle().await;
    let sync = browser.get(&format!("/dashboard/sync?resource_id={room}")).await;
    assert!(sync.body.contains("2 added"), "the first run's result shows: {}", sync.body);
    app.stop().await;
}

/// A feed made on the console says who reads it: one for Airbnb is Airbnb's (what came from
/// Airbnb left out, a cancellation gone at once) and shows Airbnb's steps alone; leaving the
/// choice out is an error in place.
async fn a_feed_made_on_the_console_is_for_the_platform_chosen(db: Db) {
    let app = TestApp::start_public(db).await;
    let (browser, key, csrf) = signed_in(&app).await;
    let room = property(&app, &key, "Sea View Cottage").await;
    let room_id = room.to_string();
    let fields = |platform: &'static str| {
        [
            ("csrf", csrf.clone()),
            ("scope_id", room_id.clone()),
            ("name", "Sea View for Airbnb".to_owned()),
            ("profile", "busy".to_owned()),
            ("platform", platform.to_owned()),
        ]
    };
    let browser = &browser;
    let post = |form: [(&'static str, String); 5]| async move {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        browser.post("/dashboard/feeds", &form).await
    };
    let unchosen = post(fields("")).await;
    assert_eq!(unchosen.status, 422, "{}", unchosen.body);
    assert!(unchosen.body.contains("id=\"platform-error\""), "{}", unchosen.body);
    assert!(unchosen.body.contains("choose who will read this feed"));

    let made = post(fields("airbnb")).await;
    assert_eq!(made.status, 303, "{}", made.body);
    let feeds: serde_json::Value =
        app.api(&key).send("GET", "/api/v1/feeds", None, 200).await.unwrap();
    assert_eq!(feeds["items"][0]["platform"], "airbnb", "{feeds}");
    let sync = browser.get(made.location()).await;
    assert!(sync.body.contains("How to add it to Airbnb"), "{}", sync.body);
    assert!(
        !sync.body.contains("How to add it to Booking.com"),
        "only the chosen platform's steps"
    );

    assert_eq!(post(fields("calendar")).await.status, 303);
    let feeds: serde_json::Value =
        app.api(&key).send("GET", "/api/v1/feeds", None, 200).await.unwrap();
    let platforms: Vec<&serde_json::Value> =
        feeds["items"].as_array().unwrap().iter().map(|f| &f["platform"]).collect();
    assert!(platforms.contains(&&serde_json::Value::Null), "a feed for calendars: {feeds}");
    app.stop().await;
}

async fn an_import_is_paused_edited_and_resumed_from_the_console(db: Db) {
    // The scheduler looks once in five minutes: this test claims due imports itself.
    let app = TestApp::start_public_with(db, |c| {
        c.import.allow_private_networks = true;
        c.import.scheduler_interval_secs = 300;
    })
    .await;
    let (browser, key, csrf) = signed_in(&app).await;
    let room = property(&app, &key, "Sea View Cottage").await;
    let airbnb = FakePlatform::airbnb().await;
    let new = serde_json::json!({"resource_id": room, "platform": "airbnb", "url": airbnb.url()});
    let import: serde_json::Value =
        app.api(&key).send("POST", "/api/v1/imports", Some(new), 201).await.unwrap();
    let id = import["id"].as_str().unwrap().to_owned();
    let api_path = format!("/api/v1/imports/{id}");
    let page_path = format!("/dashboard/imports/{id}");

    let paused = browser.post(&format!("{page_path}/pause"), &[("csrf", &csrf)]).await;
    assert_eq!(paused.status, 303);
    assert!(paused.location().contains("notice=import-paused"), "{}", paused.location());
    let sync = browser.get(paused.location()).await;
    assert!(sync.body.contains("The import is paused"), "{}", sync.body);
    assert!(sync.body.contains("Paused since"), "the next run says it is paused");
    assert!(sync.body.contains(&format!("{page_path}/resume")), "a Resume button");
    assert_eq!(app.store.claim_due_imports(100).await.unwrap(), 0, "the scheduler leaves it alone");
    let shown: serde_json::Value = app.api(&key).send("GET", &api_path, None, 200).await.unwrap();
    assert!(shown["paused_at"].is_string(), "{shown}");
    assert_eq!(shown["last_run"], serde_json::Value::Null, "not run while paused");

    let edit = format!("{page_path}/edit");
    let refused = browser
        .post(
            &edit,
            &[
                ("csrf", &csrf),
                ("name", "Main listing"),
                ("platform", "airbnb"),
                ("url", "ftp://example.com/cal.ics"),
                ("interval_minutes", "2"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("id=\"url-error\""), "the URL's error is in place");
    assert!(refused.body.contains("id=\"interval_minutes-error\""), "and the interval's");
    assert!(refused.body.contains("value=\"ftp://example.com/cal.ics\""), "what was typed is kept");
    assert!(refused.body.contains("value=\"Main listing\""));
    let unchanged: serde_json::Value =
        app.api(&key).send("GET", &api_path, None, 200).await.unwrap();
    assert_eq!(unchanged["url"], import["url"], "nothing half-saved");
    assert_eq!(unchanged["name"], serde_json::Value::Null);

    let saved = browser
        .post(
            &edit,
            &[
                ("csrf", &csrf),
                ("name", "Main listing"),
                ("platform", "vrbo"),
                ("url", &airbnb.url()),
                ("interval_minutes", "60"),
            ],
        )
        .await;
    assert_eq!(
        (saved.status, saved.location()),
        (303, format!("{page_path}?notice=import-saved").as_str())
    );
    let page = browser.get(saved.location()).await;
    assert!(
        page.body.contains("The import&#39;s settings are saved")
            || page.body.contains("The import's settings are saved"),
        "{}",
        page.body
    );
    let changed: serde_json::Value = app.api(&key).send("GET", &api_path, None, 200).await.unwrap();
    assert_eq!(
        (&changed["name"], &changed["platform"], &changed["interval_minutes"]),
        (&serde_json::json!("Main listing"), &serde_json::json!("vrbo"), &serde_json::json!(60))
    );
    assert!(changed["paused_at"].is_string(), "editing does not resume it");

    let resumed = browser.post(&format!("{page_path}/resume"), &[("csrf", &csrf)]).await;
    assert!(resumed.location().contains("notice=import-resumed"), "{}", resumed.location());
    assert_eq!(app.store.claim_due_imports(100).await.unwrap(), 1, "the missed run is due at once");
    app.settle().await;
    let ran: serde_json::Value = app.api(&key).send("GET", &api_path, None, 200).await.unwrap();
    assert_eq!(ran["paused_at"], serde_json::Value::Null);
    assert_eq!(ran["last_run"]["added"], 2, "{ran}");
    app.stop().await;
}

async fn a_staff_member_is_emailed_a_settings_link_that_opens_their_settings(db: Db) {
    let sink = SmtpSink::start().await;
    let app = TestApp::start_public_with(db, |c| {
        c.smtp_url = Some(secrecy::SecretString::from(sink.url()));
    })
    .await;
    let (browser, key, csrf) = signed_in(&app).await;
    let ann = StaffIn {
        name: "Ann Lee".into(),
        email: Some("ann@example.com".into()),
        ..StaffIn::default()
    };
    let ann = app.api(&key).create_staff(&ann).await.unwrap();
    let bob = StaffIn { name: "Bob Stone".into(), ..StaffIn::default() };
    let bob = app.api(&key).create_staff(&bob).await.unwrap();
    let staff = browser.get("/dashboard/staff").await;
    let email_ann = format!("/dashboard/staff/{}/email-settings-link", ann.id);
    let email_bob = format!("/dashboard/staff/{}/email-settings-link", bob.id);
    assert!(staff.body.contains(&email_ann), "Ann has an address: a button to e-mail her");
    assert!(!staff.body.contains(&email_bob), "Bob has none: only a link to copy");

    let sent = browser.post(&email_ann, &[("csrf", &csrf)]).await;
    assert_eq!((sent.status, sent.location()), (303, "/dashboard/staff?notice=settings-link-sent"));
    let told = browser.get(sent.location()).await;
    assert!(told.body.contains("on its way by e-mail"), "{}", told.body);
    app.settle().await;
    let mails = sink.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["ann@example.com"]);
    let parsed = mail_parser::MessageParser::default().parse(&mails[0].data).unwrap();
    assert!(parsed.subject().unwrap().starts_with("Connect your calendar to"));
    let text = parsed.body_text(0).unwrap().into_owned();
    let at = text.find("/settings/").expect("a settings link in the e-mail");
    let start = text[..at].rfind("http").unwrap();
    let end = at + text[at..].find(|c: char| c.is_whitespace() || c == '"' || c == '<').unwrap();
    let link = &text[start..end];
    let opened = crate::helpers::client()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(link)
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 303, "the e-mailed link opens Ann's settings: {link}");

    let refused = browser.post(&email_bob, &[("csrf", &csrf)]).await;
    assert_eq!(refused.status, 422, "nobody to send it to");
    assert!(refused.body.contains("no e-mail address"), "{}", refused.body);
    app.stop().await;
}

async fn a_conflict_is_resolved_with_a_note_from_the_console(db: Db) {
    let app = TestApp::start_public(db).await;
    let (browser, key, csrf) = signed_in(&app).await;
    let room = property(&app, &key, "Sea View Cottage").await;
    stay(&app, &key, room, "Smith family", 2, 5).await;
    stay(&app, &key, room, "Jones", 4, 6).await;
    let conflict = app.api(&key).conflicts("open").await.unwrap().remove(0);

    let list = browser.get("/dashboard/conflicts").await;
    assert!(list.body.contains(&format!("id=\"c-{}\"", conflict.id)));
    assert!(list.body.contains("Smith family") && list.body.contains("Jones"));
    let overlap = format!("Sea View Cottage: {}", night_of(4));
    assert!(list.body.contains(&overlap), "the one night they share: {overlap}");
    let filtered = browser.get("/dashboard/conflicts?severity=low").await;
    assert!(!filtered.body.contains(&format!("id=\"c-{}\"", conflict.id)), "filters apply");

    let path = format!("/dashboard/conflicts/{}/resolve", conflict.id);
    let long = "x".repeat(2_001);
    let refused = browser.post(&path, &[("csrf", &csrf), ("note", &long)]).await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("id=\"note-error\""));
    let resolved =
        browser.post(&path, &[("csrf", &csrf), ("note", "Moved Jones to the Garden Room")]).await;
    assert_eq!(resolved.status, 303);
    let conflict = app.api(&key).conflict(conflict.id).await.unwrap();
    assert_eq!(conflict.status, "resolved");
    let history = browser.get("/dashboard/conflicts?status=resolved").await;
    assert!(history.body.contains("Moved Jones to the Garden Room"));
    app.stop().await;
}

async fn blocks_are_added_and_removed_with_their_errors_in_place(db: Db) {
    let app = TestApp::start_public(db).await;
    let (browser, key, csrf) = signed_in(&app).await;
    let room = property(&app, &key, "Sea View Cottage").await;
    let room_id = room.to_string();
    let bad = browser
        .post(
            "/dashboard/blocks",
            &[
                ("csrf", &csrf),
                ("resource_id", &room_id),
                ("start_date", "2031-02-10"),
                ("end_date", "2031-02-08"),
                ("reason", "Roof repair"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("value=\"Roof repair\""), "what was typed is kept");
    assert!(bad.body.contains("class=\"field-error\""), "{}", bad.body);
    assert!(app.api(&key).blocks("").await.unwrap().items.is_empty(), "nothing half-saved");

    let added = browser
        .post(
            "/dashboard/blocks",
            &[
                ("csrf", &csrf),
                ("resource_id", &room_id),
                ("start_date", "2031-02-08"),
                ("end_date", "2031-02-10"),
                ("reason", "Roof repair"),
            ],
        )
        .await;
    assert_eq!(added.status, 303);
    let blocks = app.api(&key).blocks("").await.unwrap().items;
    assert_eq!(blocks.len(), 1);
    let list = browser.get("/dashboard/blocks").await;
    assert!(list.body.contains("Roof repair"));
    assert!(list.body.contains("2 nights, 8–10 Feb 2031"), "{}", list.body);
    let removed = browser
        .post(&format!("/dashboard/blocks/{}/delete", blocks[0].id), &[("csrf", &csrf)])
        .await;
    assert_eq!(removed.status, 303);
    assert!(app.api(&key).blocks("").await.unwrap().items.is_empty());
    app.stop().await;
}

async fn settings_are_saved_with_the_apis_checks(db: Db) {
    let app = TestApp::start_public(db).await;
    let (browser, key, csrf) = signed_in(&app).await;
    let form = |hour: &'static str, zone: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("name", "Seaside Guesthouse".to_owned()),
            ("time_zone", zone.to_owned()),
            ("busy_label", "Closed".to_owned()),
            ("event_privacy", "busy".to_owned()),
            ("external_edit_policy", "accept".to_owned()),
            ("reminder_offsets_minutes", "1440, 120".to_owned()),
            ("all_day_reminder_hour", hour.to_owned()),
            ("reply_to", String::new()),
        ]
    };
    let post = |fields: Vec<(&'static str, String)>| {
        let browser = &browser;
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            browser.post("/dashboard/settings", &fields).await
        }
    };
    let bad = post(form("25", "Mars/Olympus")).await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("value=\"Seaside Guesthouse\""), "what was typed is kept");
    let before = app.api(&key).settings().await.unwrap();
    assert_eq!(before["name"], "Guesthouse", "nothing half-saved");
    let saved = post(form("8", "Africa/Johannesburg")).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let after = app.api(&key).settings().await.unwrap();
    assert_eq!(after["name"], "Seaside Guesthouse");
    assert_eq!(after["time_zone"], "Africa/Johannesburg");
    assert_eq!(after["event_privacy"], "busy");
    assert_eq!(after["reminder_offsets_minutes"], serde_json::json!([1440, 120]));
    assert_eq!(after["all_day_reminder_hour"], 8);
    app.stop().await;
}

async fn another_tenants_objects_are_not_found_and_forms_need_the_session_token(db: Db) {
    let app = TestApp::start_public(db).await;
    let (browser, _, csrf) = signed_in(&app).await;
    let (_, other) = app.tenant().await;
    let room = property(&app, &other, "Their Room").await;
    stay(&app, &other, room, "A", 2, 5).await;
    stay(&app, &other, room, "B", 4, 6).await;
    let theirs = app.api(&other).conflicts("open").await.unwrap().remove(0);
    let path = format!("/dashboard/conflicts/{}/resolve", theirs.id);
    assert_eq!(browser.post(&path, &[("csrf", &csrf), ("note", "")]).await.status, 404);
    assert_eq!(app.api(&other).conflict(theirs.id).await.unwrap().status, "open");
    assert_eq!(browser.get(&format!("/dashboard/sync?resource_id={room}")).await.status, 404);
    let overview = browser.get("/dashboard").await;
    assert!(!overview.body.contains("Their Room"));

    let no_token = browser.post("/dashboard/blocks", &[("resource_id", &room.to_string())]).await;
    assert_eq!(no_token.status, 403, "a post without the session's token is refused");

    for path in [
        "/dashboard",
        "/dashboard/sync",
        "/dashboard/conflicts",
        "/dashboard/staff",
        "/dashboard/blocks",
        "/dashboard/settings",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        let policy = page.headers["content-security-policy"].to_str().unwrap();
        assert!(
            policy.contains("script-src 'self'") && !policy.contains("unsafe"),
            "{path}: {policy}"
        );
        assert_eq!(page.headers["cache-control"], "no-store", "{path}");
    }
    app.stop().await;
}

async fn a_change_reaches_an_open_console_as_a_live_event(db: Db) {
    use futures::StreamExt as _;
    let app = TestApp::start_public(db).await;
    let (browser, key, _) = signed_in(&app).await;
    let room = property(&app, &key, "Sea View Cottage").await;
    let response = browser.client.get(browser.url("/dashboard/events")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut stream = response.bytes_stream();
    // Let the stream take its first look before the change.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stay(&app, &key, room, "Walk-in", 1, 2).await;
    let mut seen = String::new();
    let arrived = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = stream.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if seen.contains("event: changed") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(arrived, Ok(true), "a change event arrives: {seen:?}");
    app.stop().await;
}

/// The stream looks for itself only every ten minutes here: a change that owes a job must
/// arrive by the news the relay tells (through Redis on PostgreSQL, within the process on
/// SQLite), and so must the import run's result when its job has run.
async fn news_of_a_change_reaches_an_open_console_before_its_next_look(db: Db) {
    use futures::StreamExt as _;
    let app = TestApp::start_public_with(db, |config| {
        if db == Db::Postgres {
            config.redis_url = Some(secrecy::SecretString::from(crate::helpers::redis_url()));
        }
        config.dashboard.live_poll_ms = 600_000;
        config.import.allow_private_networks = true;
    })
    .await;
    let (browser, key, _) = signed_in(&app).await;
    let room = property(&app, &key, "Sea View Cottage").await;
    let response = browser.client.get(browser.url("/dashboard/events")).send().await.unwrap();
    let mut stream = response.bytes_stream();
    // Whether a `changed` event arrives within `wait`.
    let mut changed_within = async |wait: Duration| {
        tokio::time::timeout(wait, async {
            let mut seen = String::new();
            while let Some(chunk) = stream.next().await {
                seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
                if seen.contains("event: changed") {
                    return;
                }
            }
        })
        .await
        .is_ok()
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    stay(&app, &key, room, "Walk-in", 1, 2).await;
    assert!(
        changed_within(Duration::from_secs(10)).await,
        "a booking (a sync owed) is told at once"
    );
    app.settle().await;
    // What the sync's own news brought is read; then the stream is quiet.
    while changed_within(Duration::from_millis(700)).await {}
    let airbnb = FakePlatform::airbnb().await;
    let body = serde_json::json!({"resource_id": room, "platform": "airbnb", "url": airbnb.url()});
    let import: serde_json::Value =
        app.api(&key).send("POST", "/api/v1/imports", Some(body), 201).await.unwrap();
    let run = format!("/dashboard/imports/{}/run", import["id"].as_str().unwrap());
    let csrf = browser.get("/dashboard/sync").await.csrf();
    assert_eq!(browser.post(&run, &[("csrf", &csrf)]).await.status, 303);
    assert!(
        changed_within(Duration::from_secs(10)).await,
        "the queued run's result is told when its job has run"
    );
    app.stop().await;
}

/// Headless Chromium (Python selenium, `tests/peers/browser_console.py`) drives the console of two
/// tenants seeded with the first run's demo: the first with JavaScript (sign in by link, add an
/// import after checking its address, Run now, the conflict it causes opened from the timeline
/// and resolved with a note, a block picked on the timeline, a booking made through the API
/// arriving without a reload,
/// sign out), the second with JavaScript turned off (the same flows by plain posts and redirects,
/// with the errors in place). Every page passes axe-core (no serious or critical violation), fits
/// 360 px without sideways scrolling (the timeline scrolls in its own box), and is usable by
/// keyboard. The screenshots land in `target/screenshots/`, or in `docs/screenshots/` (those
/// the README shows) when `KALENDS_UPDATE_SCREENSHOTS` is set or they are missing.
async fn a_browser_runs_the_console_with_and_without_javascript_and_every_page_passes_axe() {
    let chromium = Chromium::find();
    let axe = peer("KALENDS_TEST_AXE");
    let mut config = None;
    let app = TestApp::start_public_with(Db::Sqlite, |c| {
        c.import.allow_private_networks = true;
        config = Some(c.clone());
    })
    .await;
    // The key the app generated into its data folder at start, which the demo's feed is sealed with.
    let secret = config.unwrap().secret_key().unwrap().0;
    let sandbox = format!("{}/sandbox", app.base);
    let mut keys = Vec::new();
    let mut zone = None;
    // One sandbox account each: a calendar shared by both demos would hold the other's stays.
    for ann in ["ann@example.com", "ann@example.org"] {
        let (tenant, key) = app.tenant().await;
        zone = Some(tenant.settings.time_zone.tz());
        let api_key = key.clone().into();
        let demo = demo_sandbox(&app, &sandbox);
        kalends::demo::seed(&app.store, &tenant, &secret, &api_key, demo, ann).await.unwrap();
        keys.push(key);
    }
    app.settle().await;
    let airbnb = FakePlatform::airbnb().await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let docs = root.join("docs/screenshots");
    let shots = if std::env::var_os("KALENDS_UPDATE_SCREENSHOTS").is_some()
        || !docs.join("console-overview.png").exists()
    {
        docs
    } else {
        root.join("target/screenshots")
    };
    // The demo placed its stays from the tenants' own date, which near midnight is not UTC's.
    let today = chrono::Utc::now().with_timezone(&zone.unwrap()).date_naive();
    let run = serde_json::json!({
        "base": app.base, "keys": keys, "feed": airbnb.url(), "axe": axe, "shots": shots,
        "today": today.to_string(),
    });
    let seen = chromium.run("browser_console.py", [run.to_string()]).await;
    eprintln!("pages checked: {}; live update: {}", seen["pages_checked"], seen["js"]["live"]);
    for finding in ["axe", "narrow", "keyboard"] {
        assert_eq!(seen[finding], serde_json::json!([]), "{finding}: {:#}", seen[finding]);
    }
    assert_eq!(seen["axe_ran"], true, "axe-core checked the pages");
    assert!(seen["pages_checked"].as_array().unwrap().len() >= 10, "{}", seen["pages_checked"]);
    for flow in ["js", "nojs"] {
        let flow = &seen[flow];
        let checked = flow["import"]["checked"].as_str().unwrap();
        assert!(checked.contains("2 busy dates would be stored"), "{checked}");
        let result = flow["import"]["run_result"].as_str().unwrap();
        assert!(result.contains("2 added") || result.contains("not modified"), "{result}");
        assert_eq!(flow["conflict"]["resolved"], true);
        assert_eq!(flow["conflict"]["url_names_it"], true, "the timeline links to the conflict");
        assert_eq!(flow["block"]["added"], true);
        assert_eq!(flow["signed_out"], true);
    }
    let checklist = &seen["js"]["checklist"];
    // The cottage's stays and block are nights to close on MakeMyTrip; one tap marks one done.
    let items = checklist["items"].as_u64().unwrap();
    assert!(items >= 2, "{checklist}");
    assert_eq!(checklist["left_after_done"].as_u64(), Some(items - 1), "{checklist}");
    let first = checklist["first"].as_str().unwrap().to_lowercase();
    // "check-out on the 15th" within a month, "check-out on 1 december" across one.
    assert!(first.starts_with("close ") && first.contains("; check-out on "), "{first}");
    let webhooks = &seen["js"]["webhooks"];
    assert_eq!(webhooks["secret_shown"], true, "the new endpoint's secret is shown: {webhooks}");
    assert_eq!(webhooks["secret_shown_again"], false, "and only once: {webhooks}");
    assert_eq!(webhooks["listed"], true, "{webhooks}");
    let block = &seen["js"]["block"];
    assert_eq!(
        block["from_timeline"], true,
        "two nights picked on the timeline fill the form: {block}"
    );
    assert_eq!(block["from_timeline_property"], true, "{block}");
    let rules = &seen["js"]["rules"];
    let error = rules["error"].as_str().unwrap();
    assert!(error.contains("from 1 to 365"), "min_nights 0 is refused in place: {rules}");
    assert_eq!(rules["kept"], true, "everything typed is kept on the refused form: {rules}");
    assert_eq!(rules["saved"], true, "{rules}");
    assert_eq!(rules["legend"], true, "{rules}");
    let titles = rules["timeline_rule_titles"].as_array().unwrap();
    assert!(
        titles.iter().any(|t| t.as_str().unwrap().contains("closed by a rule: ")),
        "the timeline shows the nights the rules close, naming the rule: {rules}"
    );
    let live = &seen["js"]["live"];
    assert_eq!(live["same_page"], true, "the page was not reloaded: {live}");
    assert_eq!(live["same_address"], true, "{live}");
    // The stream looks every second (0.5 s is usual); the slack is for a test machine running
    // the whole suite on two cores.
    assert!(live["arrived_after_seconds"].as_f64().unwrap() <= 15.0, "{live}");
    let nojs = &seen["nojs"];
    assert_eq!(nojs["scripts_off"], true, "the second run had no JavaScript");
    // Each post ended in a redirect to the page that says what was done.
    for (done, notice) in [
        (&nojs["import"]["added_at"], "notice=import-added"),
        (&nojs["conflict"]["resolved_at"], "notice=conflict-resolved"),
        (&nojs["block"]["added_at"], "notice=block-added"),
    ] {
        assert!(done.as_str().unwrap().contains(notice), "{done} has {notice}");
    }
    for error in ["bad_address_error", "long_note_error", "bad_dates_error"] {
        let text = nojs["import"][error]
            .as_str()
            .or(nojs["conflict"][error].as_str())
            .or(nojs["block"][error].as_str());
        assert!(text.is_some_and(|t| !t.is_empty()), "{error} shows in place: {nojs}");
    }
    for key in &keys {
        let resolved = app.api(key).conflicts("resolved").await.unwrap();
        let note = resolved.iter().find_map(|c| c.note.as_deref());
        assert_eq!(note, Some("Moved the Airbnb guest to the Sea View Cottage"));
        let open = app.api(key).conflicts("open").await.unwrap();
        assert_eq!(open.len(), 1, "the demo's own stays: {open:#?}");
        let blocks = app.api(key).blocks("").await.unwrap().items;
        assert_eq!(blocks.len(), 1, "one block, even after a refused form");
        assert_eq!(blocks[0].reason.as_deref(), Some("Roof repair"));
    }
    let saved = seen["screenshots"].as_array().unwrap();
    assert_eq!(saved.len(), 10, "{saved:?}");
    for path in saved {
        let size = std::fs::metadata(path.as_str().unwrap()).unwrap().len();
        assert!(size > 10_000, "a real screenshot: {path} ({size} bytes)");
    }
    app.stop().await;
}

/// The test app's mounted sandbox, as the first run's demo is given it.
fn demo_sandbox<'a>(app: &'a TestApp, url: &'a str) -> Option<kalends::demo::DemoSandbox<'a>> {
    let control_token = app.sandbox_token.as_ref()?;
    Some(kalends::demo::DemoSandbox { url, control_token })
}
