//! `GET /api/v1/docs`: the OpenAPI document (`GET /api/v1/openapi.json`) rendered for people by
//! Swagger UI, vendored in `src/pages/assets/swagger-ui/` (its version, source, checksums and
//! licence are in the README there) and served from the binary.
//!
//! The page sends the console's policy unchanged (`script-src 'self'`, `style-src 'self'`, no
//! `'unsafe-eval'`): Swagger UI sets its few computed styles through the DOM, which the policy
//! allows, and needs no inline style or script; its start-up is a file of its own
//! (`src/pages/assets/api-docs.js`). "Try it out" is off: the reference describes, it does not
//! call.

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use maud::{DOCTYPE, html};

use super::dashboard::console_headers;
use crate::state::AppState;

/// The API reference's address.
pub const DOCS: &str = "/api/v1/docs";
/// The OpenAPI document's address (served by `src/api/mod.rs`).
pub const OPENAPI: &str = "/api/v1/openapi.json";

/// The vendored Swagger UI's version; its assets' addresses carry it, so they can be cached for a
/// year and a new version is a new address.
const SWAGGER_UI_VERSION: &str = "5.35.0";

const BUNDLE: &[u8] = include_bytes!("assets/swagger-ui/swagger-ui-bundle.js");
const BUNDLE_CSS: &[u8] = include_bytes!("assets/swagger-ui/swagger-ui.css");
const START: &str = include_str!("assets/api-docs.js");
const OWN_CSS: &str = include_str!("assets/api-docs.css");

/// A year: the assets below change only with Kalends, and their addresses change with them.
const FOREVER: &str = "public, max-age=31536000, immutable";

fn asset_path(file: &str) -> String {
    format!("/assets/swagger-ui-{SWAGGER_UI_VERSION}/{file}")
}

/// Kalends's own assets of the page change with Kalends: their addresses carry its version.
fn own_path(file: &str) -> String {
    format!("/assets/api-docs-{}/{file}", env!("CARGO_PKG_VERSION"))
}

/// The API reference's routes: the page and its four assets.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(DOCS, get(|| async { page() }))
        .route(&asset_path("swagger-ui-bundle.js"), get(|| async { asset(JS, BUNDLE) }))
        .route(&asset_path("swagger-ui.css"), get(|| async { asset(CSS, BUNDLE_CSS) }))
        .route(&own_path("start.js"), get(|| async { asset(JS, START.as_bytes()) }))
        .route(&own_path("api-docs.css"), get(|| async { asset(CSS, OWN_CSS.as_bytes()) }))
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    let headers = [
        (header::CONTENT_TYPE, content_type),
        (header::CACHE_CONTROL, FOREVER),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    (headers, body).into_response()
}

fn page() -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { "API reference · Kalends" }
                link rel="stylesheet" href=(asset_path("swagger-ui.css"));
                link rel="stylesheet" href=(own_path("api-docs.css"));
                script src=(asset_path("swagger-ui-bundle.js")) defer {}
                script src=(own_path("start.js")) defer {}
            }
            body {
                header.kalends-top {
                    a href="/" { "Kalends" }
                    " · API reference · "
                    a href=(OPENAPI) { "OpenAPI document (JSON)" }
                }
                main #api-docs data-openapi=(OPENAPI) {
                    noscript {
                        p {
                            "The API reference needs JavaScript. The same reference, as JSON, is "
                            a href=(OPENAPI) { "the OpenAPI document" } "."
                        }
                    }
                }
            }
        }
    };
    (console_headers(), Html(markup.into_string())).into_response()
}
