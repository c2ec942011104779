//! `GET /`: what this server is, for whoever opens its address in a browser. It names no tenant
//! and reads nothing from the store, so it says the same to everyone and costs nothing to serve.

use axum::Router;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, html};

use super::api_docs::{DOCS, OPENAPI};
use super::dashboard::console_headers;
use super::head;
use crate::state::AppState;

/// The landing page's route.
pub(super) fn router() -> Router<AppState> {
    Router::new().route("/", get(|| async { show() }))
}

fn show() -> Response {
    let version = env!("CARGO_PKG_VERSION");
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head("A calendar connector", html! {}))
            body {
                a.skip href="#content" { "Skip to content" }
                header.top {
                    span.logo { "Kalends" }
                    span.where { "version " (version) }
                }
                main #content {
                    section.card {
                        h1 { "Kalends " (version) }
                        p.lead {
                            "A calendar connector that runs beside a booking system: it puts "
                            "bookings on staff calendars (Google, Microsoft, CalDAV), publishes "
                            "iCalendar feeds for booking platforms, imports their busy dates, "
                            "and finds double bookings."
                        }
                    }
                    (for_developers())
                    (console_access())
                    (operations())
                }
            }
        }
    };
    (console_headers(), Html(markup.into_string())).into_response()
}

fn for_developers() -> Markup {
    html! {
        section.card aria-labelledby="api" {
            h2 #api { "The API" }
            ul {
                li { a href=(DOCS) { "API reference" } " (in the browser)" }
                li { a href=(OPENAPI) { "OpenAPI document" } " (JSON, for code generators)" }
            }
            p { "Every API call carries a tenant's API key: " code { "Authorization: Bearer …" } }
        }
    }
}

fn console_access() -> Markup {
    html! {
        section.card aria-labelledby="console" {
            h2 #console { "The console" }
            p {
                "Each tenant has a console at " code { "/dashboard" } ". It opens through a "
                "one-time link, made in either of two ways:"
            }
            ul {
                li { "on this server: " code { "kalends dashboard-link TENANT_ID" } }
                li {
                    "by the booking system, with the tenant's API key: "
                    code { "POST /api/v1/dashboard-link" }
                }
            }
        }
    }
}

fn operations() -> Markup {
    html! {
        section.card aria-labelledby="ops" {
            h2 #ops { "Health" }
            ul {
                li { a href="/healthz" { "Liveness" } " (" code { "/healthz" } ")" }
                li { a href="/readyz" { "Readiness" } " (" code { "/readyz" } ")" }
            }
        }
    }
}
