//! Server-rendered pages for people: the staff settings page and the OAuth connect flow.
//! They work without JavaScript, escape everything (maud), and never show a stack trace.
//!
//! A staff member arrives through a signed link minted by the host (`/settings/{token}`), which
//! sets a signed, HttpOnly, SameSite=Lax session cookie; every form carries a CSRF token derived
//! from that cookie.

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use chrono::Utc;
use hmac::{Hmac, Mac as _};
use kalends_core::tokens::{Purpose, StaffClaim};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use secrecy::ExposeSecret as _;
use sha2::Sha256;

use crate::api::AppState;

mod caldav;
mod connect;
mod settings;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "kalends_session";
/// How long a session lasts after opening a settings link.
pub const SESSION_HOURS: i64 = 12;

/// The pages' routes.
pub fn router() -> Router<AppState> {
    Router::new().merge(settings::router()).merge(connect::router()).merge(caldav::router())
}

/// The signed-in staff member, from the session cookie.
#[derive(Clone, Debug)]
pub struct Session {
    /// Who and for which tenant.
    pub claim: StaffClaim,
    /// The cookie's value (the CSRF token is derived from it).
    cookie: String,
}

impl Session {
    /// The session of a request, if its cookie is valid.
    pub fn from_headers(state: &AppState, headers: &HeaderMap) -> Option<Self> {
        let cookie = cookie_value(headers, SESSION_COOKIE)?;
        let claim = StaffClaim::verify_any(
            &cookie,
            state.secret_key.all(),
            Purpose::StaffSession,
            Utc::now(),
        )?;
        Some(Self { claim, cookie })
    }

    /// The CSRF token forms of this session carry.
    pub fn csrf(&self, state: &AppState) -> String {
        #[allow(clippy::expect_used)]
        let mut mac = <Hmac<Sha256> as hmac::Mac>::new_from_slice(state.secret_key.expose_secret())
            .expect("HMAC accepts keys of any length");
        mac.update(b"kalends/csrf/v1");
        mac.update(self.cookie.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Whether a submitted CSRF token is this session's (constant time).
    pub fn csrf_matches(&self, state: &AppState, submitted: Option<&str>) -> bool {
        use subtle::ConstantTimeEq as _;
        submitted.is_some_and(|submitted| {
            bool::from(self.csrf(state).as_bytes().ct_eq(submitted.as_bytes()))
        })
    }
}

/// `Set-Cookie` for a new session.
pub fn session_cookie(state: &AppState, claim: &StaffClaim) -> String {
    let secure = if state.config.public_url.starts_with("https://") { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        claim.sign(&state.secret_key, Purpose::StaffSession),
        SESSION_HOURS * 3600
    )
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// A page explaining what went wrong and what to do, with a status.
pub fn problem_page(
    status: StatusCode,
    title: &str,
    detail: &str,
    back: Option<(&str, &str)>,
) -> Response {
    let body = html! {
        section.card.problem {
            h1 { (title) }
            p { (detail) }
            @if let Some((href, label)) = back { p { a.button href=(href) { (label) } } }
        }
    };
    (status, Html(layout(title, None, body).into_string())).into_response()
}

/// The page shell: head, styles, header.
pub fn layout(title: &str, heading: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · Kalends" }
                style { (PreEscaped(STYLES)) }
            }
            body {
                header.top {
                    span.logo { "Kalends" }
                    @if let Some(heading) = heading { span.where { (heading) } }
                }
                main { (body) }
            }
        }
    }
}

/// Headers every page answers with: no caching, no framing.
pub fn page_headers() -> [(header::HeaderName, &'static str); 3] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self' https: http:; base-uri 'none'; frame-ancestors 'none'",
        ),
    ]
}

const STYLES: &str = "\
:root{--ink:#1f2430;--muted:#667085;--line:#e4e7ec;--bg:#f6f7fb;--brand:#4f46e5;--ok:#067647;--warn:#b54708;--bad:#b42318}\
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}\
header.top{display:flex;gap:12px;align-items:center;padding:14px 28px;background:#fff;border-bottom:1px solid var(--line)}\
.logo{font-weight:700;font-size:18px;color:var(--brand);letter-spacing:-.02em}.where{color:var(--muted)}\
main{max-width:860px;margin:32px auto;padding:0 20px}h1{font-size:24px;margin:0 0 6px}h2{font-size:17px;margin:0}\
.lead{color:var(--muted);margin:0 0 24px}.card{background:#fff;border:1px solid var(--line);border-radius:12px;padding:20px 22px;margin-bottom:16px;box-shadow:0 1px 2px rgba(16,24,40,.04)}\
.flash{padding:12px 16px;border-radius:10px;margin-bottom:18px;border:1px solid}.flash.ok{background:#ecfdf3;border-color:#abefc6;color:var(--ok)}.flash.bad{background:#fef3f2;border-color:#fecdca;color:var(--bad)}\
.conn-head{display:flex;justify-content:space-between;align-items:flex-start;gap:12px;flex-wrap:wrap}\
.meta{color:var(--muted);font-size:13px;margin-top:2px}.badge{display:inline-block;font-size:12px;font-weight:600;padding:2px 10px;border-radius:999px;border:1px solid}\
.badge.active{color:var(--ok);background:#ecfdf3;border-color:#abefc6}.badge.needs_reauth,.badge.error{color:var(--warn);background:#fffaeb;border-color:#fedf89}.badge.revoked{color:var(--muted);background:#f2f4f7;border-color:var(--line)}\
.badge.default{color:var(--brand);background:#eef2ff;border-color:#c7d2fe;margin-left:6px}\
.error-text{color:var(--bad);font-size:13px;margin:8px 0 0}fieldset{border:0;padding:0;margin:14px 0 0}legend{font-weight:600;font-size:13px;margin-bottom:6px}\
label.check{display:flex;gap:8px;align-items:center;margin:4px 0}select{padding:7px 10px;border:1px solid var(--line);border-radius:8px;font:inherit;min-width:260px}form.caldav label{display:block;margin:10px 0;font-weight:600}form.caldav input:not([type=hidden]){display:block;margin-top:4px;padding:7px 10px;border:1px solid var(--line);border-radius:8px;font:inherit;width:100%;max-width:420px}details{margin-top:12px}summary{cursor:pointer;font-weight:600}\
.actions{display:flex;gap:10px;flex-wrap:wrap;margin-top:16px;align-items:center}\
.button,button{display:inline-flex;align-items:center;gap:8px;padding:8px 16px;border-radius:8px;border:1px solid var(--line);background:#fff;color:var(--ink);font:inherit;font-weight:600;text-decoration:none;cursor:pointer}\
.button.primary,button.primary{background:var(--brand);border-color:var(--brand);color:#fff}button.danger,.button.danger{color:var(--bad);border-color:#fecdca}\
.providers{display:grid;grid-template-columns:repeat(auto-fit,minmax(240px,1fr));gap:12px}.provider{display:flex;align-items:center;gap:12px;justify-content:center;padding:14px;font-size:15px}\
.dot{width:10px;height:10px;border-radius:50%;display:inline-block}.dot.google{background:#1a73e8}.dot.microsoft{background:#0067b8}.dot.caldav{background:#6e6e73}\
.empty{color:var(--muted);text-align:center;padding:26px}.sandbox-note{font-size:13px;color:var(--muted);margin-top:10px}\
.problem h1{color:var(--bad)}";
