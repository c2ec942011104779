//! The public availability calendar a business embeds in its own website, over real HTTP.

use axum::http::header;
use chrono::{Datelike as _, Months, NaiveDate, Utc};
use kalends::api::availability_widgets::AvailabilityWidgetOut;
use kalends::api::blocks::BlockIn;
use kalends::api::bookings::{BookingIn, CustomerIn};
use kalends::api::resources::{ResourceIn, ResourcePatch};
use kalends_core::Config;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Db, TestApp, fields, on_both_databases};

/// The first day of the month after next: always within the months the page shows.
fn later_month() -> NaiveDate {
    let today = Utc::now().date_naive();
    today.with_day(1).unwrap().checked_add_months(Months::new(2)).unwrap()
}

/// Day `n` of [`later_month`], as the API writes dates.
fn on(n: u32) -> String {
    later_month().with_day(n).unwrap().format("%Y-%m-%d").to_string()
}

/// A tenant's published calendar of its room "Sea view".
struct Published {
    app: TestApp,
    key: String,
    room: Uuid,
    widget: AvailabilityWidgetOut,
}

/// Kalends (on a port known in advance, so the URLs it hands out reach it) with a published
/// calendar.
async fn published(db: Db, tweak: impl FnOnce(&mut Config)) -> Published {
    let app = TestApp::start_public_with(db, tweak).await;
    let (_, key) = app.tenant().await;
    let room = room(&app, &key).await;
    let widget = widget(&app, &key, room).await;
    Published { app, key, room, widget }
}

async fn room(app: &TestApp, key: &str) -> Uuid {
    let room = ResourceIn {
        name: "Sea view".into(),
        time_zone: Some("Europe/Amsterdam".into()),
        ..ResourceIn::default()
    };
    app.api(key).create_resource(&room).await.unwrap().id
}

async fn widget(app: &TestApp, key: &str, room: Uuid) -> AvailabilityWidgetOut {
    let body = json!({"resource_id": room});
    app.api(key).send("POST", "/api/v1/availability-widgets", Some(body), 201).await.unwrap()
}

/// The Smith family's stay, with everything personal a booking can carry.
async fn smiths_stay(app: &TestApp, key: &str, room: Uuid, from: u32, to: u32) {
    let booking = BookingIn {
        title: "Smith family".into(),
        description: Some("Honeymoon, allergic to nuts".into()),
        resource_id: Some(room),
        start_date: Some(on(from)),
        end_date: Some(on(to)),
        customer: Some(CustomerIn {
            name: "Ann Smith".into(),
            email: Some("ann@example.com".into()),
            phone: Some("+27 82 000 0000".into()),
        }),
        ..BookingIn::default()
    };
    app.api(key).create_booking(&booking).await.unwrap();
}

/// `GET url` with `headers`: status, response headers and body.
async fn get(
    app: &TestApp,
    url: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = app.http.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, response.text().await.unwrap())
}

/// The month page of [`later_month`].
async fn month_page(app: &TestApp, widget: &AvailabilityWidgetOut) -> String {
    let url = format!("{}?month={}", widget.url, later_month().format("%Y-%m"));
    let (status, _, page) = get(app, &url, &[]).await;
    assert_eq!(status, 200, "{page}");
    page
}

/// Each day cell of a month page as (day of month, its class, what it says in words).
fn day_cells(page: &str) -> Vec<(u32, String, String)> {
    page.split("<td class=\"")
        .skip(1)
        .filter(|cell| !cell.starts_with("out"))
        .map(|cell| {
            let class = cell.split('"').next().unwrap().to_owned();
            let day = between(cell, "<span class=\"n\">", "<").parse().unwrap();
            let words = between(cell, "<span class=\"vh\">, ", "<").to_owned();
            (day, class, words)
        })
        .collect()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let rest =
        &text[text.find(start).unwrap_or_else(|| panic!("no {start} in {text}")) + start.len()..];
    &rest[..rest.find(end).unwrap()]
}

/// The days of the month page that are not free, as (day, class).
fn taken_days(page: &str) -> Vec<(u32, String)> {
    day_cells(page).into_iter().filter(|(_, c, _)| c != "free").map(|(d, c, _)| (d, c)).collect()
}

async fn json_days(app: &TestApp, widget: &AvailabilityWidgetOut) -> Value {
    let next = later_month().checked_add_months(Months::new(1)).unwrap();
    let url = format!("{}?from={}&to={}", widget.json_url, on(1), next.format("%Y-%m-%d"));
    let (status, _, body) = get(app, &url, &[]).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

async fn the_month_view_shows_booked_nights_busy_and_the_other_days_free(db: Db) {
    let Published { app, key, room, widget } = published(db, |_| {}).await;
    smiths_stay(&app, &key, room, 10, 12).await;
    let afternoon = json!({
        "title": "Viewing", "resource_id": room,
        "start": format!("{}T14:00:00+01:00", on(20)), "end": format!("{}T16:00:00+01:00", on(20)),
    });
    let (status, _) = app.call("POST", "/api/v1/bookings", &key, Some(afternoon)).await;
    assert_eq!(status, 201);

    let page = month_page(&app, &widget).await;
    assert_eq!(
        taken_days(&page),
        [(10, "busy".into()), (11, "busy".into()), (20, "partial".into())],
        "the nights of the 10th and 11th are taken, the 12th (check-out) is free; the 20th partly"
    );
    let cells = day_cells(&page);
    assert_eq!(
        cells.len() as u32,
        later_month().checked_add_months(Months::new(1)).unwrap().pred_opt().unwrap().day()
    );
    assert!(cells.iter().any(|(d, _, words)| *d == 10 && words == "busy"), "said in words too");
    assert!(cells.iter().any(|(d, _, words)| *d == 12 && words == "free"));
    assert!(page.contains("<caption>"), "{page}");
    assert!(page.contains("scope=\"col\""));
    assert!(page.contains(&later_month().format("%B %Y").to_string()));

    let days = json_days(&app, &widget).await;
    assert_eq!(days["time_zone"], "Europe/Amsterdam");
    assert_eq!(days["resource"]["name"], "Sea view");
    let taken: Vec<(String, String)> = days["days"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["state"] != "free")
        .map(|d| (d["date"].as_str().unwrap().to_owned(), d["state"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        taken,
        [(on(10), "busy".into()), (on(11), "busy".into()), (on(20), "partial".into())]
    );
    assert_eq!(days["busy"][0]["start"].as_str().unwrap()[..10], on(10));
    assert_eq!(days["busy"][0]["end"].as_str().unwrap()[..10], on(12));
    app.stop().await;
}

async fn a_rooms_calendar_shows_the_nights_its_house_is_booked_as_busy(db: Db) {
    let Published { app, key, room, widget } = published(db, |_| {}).await;
    let api = app.api(&key);
    let house = ResourceIn { name: "Whole villa".into(), ..ResourceIn::default() };
    let house = api.create_resource(&house).await.unwrap().id;
    let part_of = ResourcePatch { parent_id: Some(Some(house)), ..ResourcePatch::default() };
    api.patch_resource(room, &part_of).await.unwrap();
    smiths_stay(&app, &key, house, 10, 12).await;
    let page = month_page(&app, &widget).await;
    assert_eq!(taken_days(&page), [(10, "busy".into()), (11, "busy".into())]);
    assert!(!page.contains("Smith"), "{page}");
    app.stop().await;
}

async fn an_imported_ota_reservation_and_a_manual_block_count_as_busy(db: Db) {
    let Published { app, key, room, widget } =
        published(db, |c| c.import.allow_private_networks = true).await;
    let compact = |day: u32| on(day).replace('-', "");
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Airbnb Inc//Hosting Calendar 0.8.8//EN\r\n\
         BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:{}\r\nDTEND;VALUE=DATE:{}\r\nUID:res-9@airbnb.com\r\n\
         SUMMARY:Reserved - Jane Doe\r\nDESCRIPTION:Phone: +1 555 0100\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        compact(3),
        compact(5)
    );
    let platform = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let feed_url = format!("http://{}/calendar.ics", platform.local_addr().unwrap());
    let serve_ics =
        axum::Router::new().route("/calendar.ics", axum::routing::get(move || async move { ics }));
    tokio::spawn(async move { axum::serve(platform, serve_ics).await.unwrap() });
    let import = json!({"resource_id": room, "platform": "airbnb", "url": feed_url});
    let (status, import) = app.call("POST", "/api/v1/imports", &key, Some(import)).await;
    assert_eq!(status, 201, "{import}");
    let run = format!("/api/v1/imports/{}/run", import["id"].as_str().unwrap());
    let (status, run) = app.call("POST", &run, &key, None).await;
    assert_eq!((status, run["added"].as_u64()), (200, Some(1)), "{run}");
    let block = BlockIn {
        resource_id: Some(room),
        start_date: Some(on(25)),
        end_date: Some(on(27)),
        reason: Some("Owner's week with the Millers".into()),
        ..BlockIn::default()
    };
    app.api(&key).create_block(&block).await.unwrap();

    let page = month_page(&app, &widget).await;
    let busy = |days: &[u32]| days.iter().map(|d| (*d, "busy".to_owned())).collect::<Vec<_>>();
    assert_eq!(taken_days(&page), busy(&[3, 4, 25, 26]));
    let days = json_days(&app, &widget).await.to_string();
    for private in ["Jane Doe", "555 0100", "Millers", "Reserved", "airbnb", "block"] {
        assert!(!page.contains(private) && !days.contains(private), "{private} leaked");
    }
    app.stop().await;
}

async fn no_title_customer_or_id_of_a_booking_reaches_the_page_or_the_json(db: Db) {
    let Published { app, key, room, widget } = published(db, |_| {}).await;
    smiths_stay(&app, &key, room, 6, 9).await;
    let booking_id = app.api(&key).bookings("").await.unwrap().items[0].id.to_string();
    let page = month_page(&app, &widget).await;
    let days = json_days(&app, &widget).await.to_string();
    assert_eq!(taken_days(&page).len(), 3, "the stay is there");
    for private in [
        "Smith",
        "Ann",
        "ann@example.com",
        "+27 82",
        "Honeymoon",
        "nuts",
        &booking_id,
        &room.to_string(),
    ] {
        assert!(!page.contains(private), "the page shows {private}");
        assert!(!days.contains(private), "the JSON shows {private}");
    }
    assert!(!page.contains("<script") && !page.contains("style=") && !page.contains("<style"));
    app.stop().await;
}

async fn the_calendar_answers_304_until_a_booking_changes_it(db: Db) {
    let Published { app, key, room, widget } = published(db, |_| {}).await;
    let month = format!("{}?month={}", widget.url, later_month().format("%Y-%m"));
    for url in [month.as_str(), widget.json_url.as_str()] {
        let (status, headers, _) = get(&app, url, &[]).await;
        assert_eq!(status, 200);
        let etag = headers[header::ETAG].to_str().unwrap().to_owned();
        let cache = headers[header::CACHE_CONTROL].to_str().unwrap();
        assert!(cache.starts_with("public, max-age="), "{cache}");
        let (status, _, body) = get(&app, url, &[("If-None-Match", &etag)]).await;
        assert_eq!((status, body.as_str()), (304, ""), "{url}");
        smiths_stay(&app, &key, room, 1, 2).await;
        let (status, headers, _) = get(&app, url, &[("If-None-Match", &etag)]).await;
        assert_eq!(status, 200, "a new booking changes {url}");
        assert_ne!(headers[header::ETAG].to_str().unwrap(), etag);
    }
    app.stop().await;
}

async fn a_deleted_widget_and_another_tenants_widget_answer_404(db: Db) {
    let Published { app, key, room, widget } = published(db, |_| {}).await;
    let (_, other_key) = app.tenant().await;
    let path = format!("/api/v1/availability-widgets/{}", widget.id);
    let mine: AvailabilityWidgetOut = app.api(&key).send("GET", &path, None, 200).await.unwrap();
    assert_eq!(mine.url, widget.url, "the API shows the same address again");
    let listed: Value =
        app.api(&key).send("GET", "/api/v1/availability-widgets", None, 200).await.unwrap();
    assert_eq!(listed["items"][0]["id"], widget.id.to_string());

    let other = app.api(&other_key);
    assert_eq!(other.send::<Value>("GET", &path, None, 200).await.unwrap_err().status, 404);
    assert_eq!(other.send::<Value>("DELETE", &path, None, 204).await.unwrap_err().status, 404);
    let theirs = json!({"resource_id": room});
    let problem = other
        .send::<Value>("POST", "/api/v1/availability-widgets", Some(theirs), 201)
        .await
        .unwrap_err();
    assert_eq!((problem.status, fields(&problem)), (422, vec!["resource_id"]));
    assert_eq!(get(&app, &widget.url, &[]).await.0, 200, "still published");

    app.api(&key).send::<()>("DELETE", &path, None, 204).await.unwrap();
    let (status, headers, page) = get(&app, &widget.url, &[]).await;
    assert_eq!(status, 404);
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    assert!(page.contains("not published"), "{page}");
    assert_eq!(get(&app, &widget.json_url, &[]).await.0, 404);
    let openapi: Value =
        app.http.get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    for documented in ["/api/v1/availability-widgets", "/api/v1/availability-widgets/{id}"] {
        assert!(openapi["paths"].get(documented).is_some(), "{documented} is not in OpenAPI");
    }
    let guessed = widget.url.replace(&widget.url[widget.url.len() - 5..], "AAAAA");
    assert_eq!(get(&app, &guessed, &[]).await.0, 404);
    app.stop().await;
}

async fn a_bad_month_or_window_is_refused_with_a_clear_error(db: Db) {
    let Published { app, key, widget, .. } = published(db, |_| {}).await;
    for month in ["2026-13", "next", "1999-01"] {
        let (status, headers, page) =
            get(&app, &format!("{}?month={month}", widget.url), &[]).await;
        assert_eq!(status, 422, "{month}");
        assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
        assert!(page.contains("month must be a month from") && page.contains("YYYY-MM"), "{page}");
    }
    let cases = [
        ("?from=2030-01-01&to=2031-06-01", "to", "at most 366 days"),
        ("?from=2030-02-01&to=2030-01-01", "to", "after from"),
        ("?from=soon", "from", "YYYY-MM-DD"),
    ];
    for (query, field, says) in cases {
        let (status, headers, body) = get(&app, &format!("{}{query}", widget.json_url), &[]).await;
        assert_eq!(status, 422, "{query}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
        let problem: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
        assert!(problem["errors"][0]["message"].as_str().unwrap().contains(says), "{body}");
    }
    let (status, _, body) =
        get(&app, &format!("{}?from=2030-01-01&to=2031-01-02", widget.json_url), &[]).await;
    assert_eq!(status, 200, "366 days are allowed: {body}");
    let problem = app
        .api(&key)
        .send::<Value>("POST", "/api/v1/availability-widgets", Some(json!({})), 201)
        .await
        .unwrap_err();
    assert_eq!((problem.status, fields(&problem)), (422, vec!["resource_id"]));
    app.stop().await;
}

async fn the_page_is_framed_only_by_the_configured_ancestors_and_styled_by_kalends(db: Db) {
    let ancestors =
        |c: &mut Config| c.widget.frame_ancestors = "https://www.guesthouse.example".into();
    let Published { app, widget, .. } = published(db, ancestors).await;
    let (status, headers, page) = get(&app, &widget.url, &[]).await;
    assert_eq!(status, 200);
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'; style-src 'self';"), "{csp}");
    assert!(csp.ends_with("frame-ancestors https://www.guesthouse.example"), "{csp}");
    assert!(headers.get(header::X_FRAME_OPTIONS).is_none(), "a frame must be allowed");
    assert!(page.contains(&Utc::now().format("%B").to_string()), "the current month by default");
    assert!(page.contains("aria-current=\"date\""), "today is marked");

    let css_href = between(&page, "<link rel=\"stylesheet\" href=\"", "\"");
    let css_url = format!("{}/{css_href}", widget.url.rsplit_once('/').unwrap().0);
    let (status, headers, css) = get(&app, &css_url, &[]).await;
    assert_eq!(status, 200, "{css_url}");
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/css"));
    assert!(css.contains(".vh{") && css.contains("td.busy"));

    let next = between(&page, "rel=\"next nofollow\" href=\"", "\"").replace("&amp;", "&");
    let (status, _, next_page) = get(&app, &format!("{}{next}", widget.url), &[]).await;
    assert_eq!(status, 200, "the next-month link works");
    let next_month =
        Utc::now().date_naive().with_day(1).unwrap().checked_add_months(Months::new(1)).unwrap();
    assert!(next_page.contains(&next_month.format("%B %Y").to_string()));

    let (_, headers, _) = get(&app, &widget.json_url, &[]).await;
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*", "websites' scripts may read it");
    app.stop().await;
}

async fn a_calendar_asked_too_often_answers_429_with_retry_after(db: Db) {
    let Published { app, widget, .. } = published(db, |c| c.widget.rate_limit_per_minute = 2).await;
    for _ in 0..2 {
        assert_eq!(get(&app, &widget.url, &[]).await.0, 200);
    }
    let (status, headers, _) = get(&app, &widget.json_url, &[]).await;
    assert_eq!(status, 429);
    assert!(headers[header::RETRY_AFTER].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    app.stop().await;
}

async fn a_free_day_on_which_the_rules_let_no_stay_start_is_shown_as_no_check_in(db: Db) {
    let Published { app, key, room, widget } = published(db, |_| {}).await;
    let rules = json!({"turnover_days": 1, "min_nights": 2});
    let path = format!("/api/v1/resources/{room}/rules");
    app.api(&key).send::<Value>("PUT", &path, Some(rules), 200).await.unwrap();
    smiths_stay(&app, &key, room, 10, 12).await;
    smiths_stay(&app, &key, room, 15, 17).await;

    // The 12th and the 17th are kept for turnover; the 8th and 9th, and the 13th and 14th,
    // leave no room for two nights and the turnover before the next stay.
    let no_check_in = |d: u32| (d, "no_check_in".to_owned());
    let busy = |d: u32| (d, "busy".to_owned());
    let page = month_page(&app, &widget).await;
    assert_eq!(
        taken_days(&page),
        [no_check_in(8), no_check_in(9), busy(10), busy(11), no_check_in(12), no_check_in(13)]
            .into_iter()
            .chain([no_check_in(14), busy(15), busy(16), no_check_in(17)])
            .collect::<Vec<_>>()
    );
    assert!(day_cells(&page).iter().any(|(d, _, words)| *d == 13 && words == "free, no check-in"));
    assert!(page.contains("No check-in</li>"), "the legend names the new state: {page}");
    assert!(!page.contains("Smith") && !page.contains("ann@example.com"));

    let next = later_month().checked_add_months(Months::new(1)).unwrap();
    let stays = format!(
        "/api/v1/availability/stays?resource_id={room}&from={}&to={}",
        on(1),
        next.format("%Y-%m-%d")
    );
    let nights: Value = app.api(&key).send("GET", &stays, None, 200).await.unwrap();
    let days = json_days(&app, &widget).await;
    for (day, night) in
        days["days"].as_array().unwrap().iter().zip(nights["nights"].as_array().unwrap())
    {
        assert_eq!(day["date"], night["date"]);
        let free = night["state"] != "booked" && night["state"] != "blocked";
        let expected = match (free, night["can_check_in"].as_bool().unwrap()) {
            (false, _) => "busy",
            (true, true) => "free",
            (true, false) => "no_check_in",
        };
        assert_eq!(day["state"], expected, "{day} against {night}");
    }
    app.stop().await;
}

async fn a_calendar_without_rules_shows_no_check_in_state_and_no_legend_for_it(db: Db) {
    let Published { app, key, room, widget } = published(db, |_| {}).await;
    smiths_stay(&app, &key, room, 10, 12).await;
    let page = month_page(&app, &widget).await;
    assert_eq!(taken_days(&page), [(10, "busy".to_owned()), (11, "busy".to_owned())]);
    assert!(!page.contains("No check-in"), "{page}");
    app.stop().await;
}

on_both_databases!(
    the_month_view_shows_booked_nights_busy_and_the_other_days_free,
    a_rooms_calendar_shows_the_nights_its_house_is_booked_as_busy,
    an_imported_ota_reservation_and_a_manual_block_count_as_busy,
    no_title_customer_or_id_of_a_booking_reaches_the_page_or_the_json,
    the_calendar_answers_304_until_a_booking_changes_it,
    a_deleted_widget_and_another_tenants_widget_answer_404,
    a_bad_month_or_window_is_refused_with_a_clear_error,
    the_page_is_framed_only_by_the_configured_ancestors_and_styled_by_kalends,
    a_calendar_asked_too_often_answers_429_with_retry_after,
    a_free_day_on_which_the_rules_let_no_stay_start_is_shown_as_no_check_in,
    a_calendar_without_rules_shows_no_check_in_state_and_no_legend_for_it,
);
