//! The pages' own stylesheet and scripts, served by Kalends itself so that every page can send
//! a strict Content-Security-Policy (no inline style or script, nothing from elsewhere).
//! htmx 2.0.11 is vendored (`src/pages/assets/htmx.min.js`, Zero-Clause BSD: `htmx.LICENSE`).

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;

/// The stylesheet every page links.
pub const STYLESHEET: &str = "/assets/kalends.css";
/// htmx: upgrades the console's links and forms to partial updates.
pub const HTMX: &str = "/assets/htmx.min.js";
/// The console's own script: copy buttons and live updates.
pub const CONSOLE_JS: &str = "/assets/console.js";

const CSS: &str = include_str!("assets/kalends.css");
const HTMX_JS: &str = include_str!("assets/htmx.min.js");
const CONSOLE: &str = include_str!("assets/console.js");

/// The asset routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(STYLESHEET, get(|| async { asset("text/css; charset=utf-8", CSS) }))
        .route(HTMX, get(|| async { asset("text/javascript; charset=utf-8", HTMX_JS) }))
        .route(CONSOLE_JS, get(|| async { asset("text/javascript; charset=utf-8", CONSOLE) }))
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
}
