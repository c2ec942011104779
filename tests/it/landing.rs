//! The pages anyone may open: the landing page at `/` and the API reference at `/api/v1/docs`.

use crate::helpers::{Chromium, Db, TestApp, needs_peers};
use crate::peer::peer;

needs_peers!(
    "needs Chromium and axe-core: run scripts/test";
    a_browser_shows_the_landing_page_and_the_api_reference_and_both_pass_axe,
);

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.http.get(app.url(path)).send().await.unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response.headers().get(name).map_or("", |v| v.to_str().unwrap())
}

#[tokio::test]
async fn the_landing_page_says_what_the_server_is_and_where_to_go_and_names_no_tenant() {
    let app = TestApp::start_public(Db::Sqlite).await;
    let (tenant, _) = app.tenant().await;
    let response = get(&app, "/").await;
    assert_eq!(response.status(), 200);
    let policy = header(&response, "content-security-policy").to_owned();
    assert!(
        policy.contains("script-src 'self';") && policy.contains("default-src 'none'"),
        "{policy}"
    );
    assert!(!policy.contains("unsafe"), "{policy}");
    assert_eq!(header(&response, "x-frame-options"), "DENY");
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    assert_eq!(header(&response, "referrer-policy"), "no-referrer");
    let body = response.text().await.unwrap();
    assert!(body.contains(&format!("Kalends {}", env!("CARGO_PKG_VERSION"))), "{body}");
    assert!(body.contains("calendar connector"), "{body}");
    for link in [
        "href=\"/api/v1/docs\"",
        "href=\"/api/v1/openapi.json\"",
        "href=\"/healthz\"",
        "href=\"/readyz\"",
    ] {
        assert!(body.contains(link), "{link} in {body}");
    }
    assert!(
        body.contains("kalends dashboard-link") && body.contains("POST /api/v1/dashboard-link")
    );
    assert!(!body.contains(&tenant.settings.name) && !body.contains(&tenant.id.to_string()));
    for link in ["/healthz", "/readyz", "/api/v1/openapi.json", "/api/v1/docs"] {
        assert_eq!(get(&app, link).await.status(), 200, "{link} is there");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_api_reference_is_served_from_the_binary_under_the_strict_policy() {
    let app = TestApp::start_public(Db::Sqlite).await;
    let page = get(&app, "/api/v1/docs").await;
    assert_eq!(page.status(), 200);
    let policy = header(&page, "content-security-policy").to_owned();
    assert!(policy.contains("script-src 'self';") && !policy.contains("unsafe"), "{policy}");
    let body = page.text().await.unwrap();
    let assets: Vec<&str> =
        body.split(['"', '\'']).filter(|part| part.starts_with("/assets/")).collect();
    assert_eq!(assets.len(), 4, "two Swagger UI files and Kalends's two: {body}");
    for asset in assets {
        let response = get(&app, asset).await;
        assert_eq!(response.status(), 200, "{asset}");
        let cache = header(&response, "cache-control").to_owned();
        assert!(
            cache.contains("max-age=31536000") && cache.contains("immutable"),
            "{asset}: {cache}"
        );
        assert_eq!(header(&response, "x-content-type-options"), "nosniff");
        assert!(response.bytes().await.unwrap().len() > 100, "{asset} has a body");
    }
    app.stop().await;
}

/// Opens the booking operations of the API reference (GET, POST, PUT and PATCH), a DELETE and
/// the schemas: each kind of thing a reader unfolds is checked too. Not every operation: on a
/// test machine running the whole suite, unfolding all of them takes Chromium minutes.
const UNFOLD: &str = "var ops = Array.prototype.slice.call(\
    document.querySelectorAll('.opblock-summary-control'), 0, 6); \
    var del = document.querySelector('.opblock-delete .opblock-summary-control'); \
    if (del) ops.push(del); ops.forEach(function (b) { b.click() }); \
    var models = document.querySelector('.models-control'); if (models) models.click();";

/// Headless Chromium (`tests/peers/browser_pages.py`) opens `/` and `/api/v1/docs`: both load
/// with no Content-Security-Policy report, the reference lists the booking routes it read from
/// the OpenAPI document, and axe-core finds no serious or critical violation on either (on the
/// reference, again with operations and schemas unfolded).
async fn a_browser_shows_the_landing_page_and_the_api_reference_and_both_pass_axe() {
    let chromium = Chromium::find();
    let axe = peer("KALENDS_TEST_AXE");
    let app = TestApp::start_public(Db::Sqlite).await;
    let run = serde_json::json!({
        "base": app.base, "axe": axe,
        "pages": [
            {"path": "/", "wait_for": "API reference"},
            {"path": "/api/v1/docs", "wait_for": "/api/v1/bookings", "then": UNFOLD},
        ],
    });
    let seen = chromium.run("browser_pages.py", [run.to_string()]).await;
    for page in ["/", "/api/v1/docs"] {
        let page = &seen[page];
        assert_eq!(page["shown"], true, "{page:#}");
        assert_eq!(page["console_errors"], serde_json::json!([]), "{page:#}");
        assert_eq!(page["axe"], serde_json::json!([]), "{page:#}");
        assert_eq!(page["axe_then"], serde_json::json!([]), "{page:#}");
    }
    let reference = seen["/api/v1/docs"]["text"].as_str().unwrap();
    for route in ["/api/v1/bookings", "/api/v1/bookings/{id}", "/api/v1/dashboard-link"] {
        assert!(reference.contains(route), "{route} is listed: {reference}");
    }
    app.stop().await;
}
