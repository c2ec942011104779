//! Server-rendered pages for people: the staff settings page and the OAuth connect flow.
//! They work without JavaScript, escape everything (maud), and never show a stack trace.
//!
//! A staff member arrives through a one-time link minted by the host (`/settings/{token}`),
//! which opens a server-side session (`service/src/staff_sessions.rs`) held in a signed,
//! HttpOnly, SameSite=Lax cookie; every form carries a CSRF token derived from that cookie, and
//! "Sign out" ends the session.

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use kalends_core::tokens::{Claim, Purpose};
use kalends_service::staff_sessions::{self, StaffSession};
use kalends_store::StoreError;
use maud::{DOCTYPE, Markup, html};
use secrecy::ExposeSecret as _;
use sha2::Sha256;

use crate::state::AppState;

mod api_docs;
mod assets;
mod caldav;
mod calendars;
mod connect;
mod cookies;
mod dashboard;
mod home;
mod settings;

use assets::STYLESHEET;
pub use cookies::strict_transport;
use cookies::{read_cookie, set_cookie};

/// Name of the session cookie (`__Host-` in front under https).
pub const SESSION_COOKIE: &str = "kalends_session";

/// The pages' routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(settings::router())
        .merge(connect::router())
        .merge(caldav::router())
        .merge(dashboard::router())
        .merge(assets::router())
        .merge(home::router())
        .merge(api_docs::router())
}

/// The signed-in staff member's session, from the session cookie.
#[derive(Clone, Debug)]
pub struct Session {
    /// Who and for which tenant (the store's open session).
    pub staff: StaffSession,
    /// The cookie's value (the CSRF token is derived from it).
    cookie: String,
}

impl Session {
    /// The session of a request, if its cookie names an open session.
    pub async fn from_headers(
        state: &AppState,
        headers: &HeaderMap,
    ) -> Result<Option<Self>, StoreError> {
        let Some(cookie) = read_cookie(state, headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        let staff = staff_sessions::session(&state.store, &state.secret_key, &cookie).await?;
        Ok(staff.map(|staff| Self { staff, cookie }))
    }

    /// The tenant.
    pub fn tenant_id(&self) -> uuid::Uuid {
        self.staff.tenant_id
    }

    /// The signed-in staff member.
    pub fn staff_id(&self) -> uuid::Uuid {
        self.staff.staff_id
    }

    /// The CSRF token forms of this session carry.
    pub fn csrf(&self, state: &AppState) -> String {
        csrf_token(state, &self.cookie)
    }

    /// Whether a submitted CSRF token is this session's (constant time).
    pub fn csrf_matches(&self, state: &AppState, submitted: Option<&str>) -> bool {
        csrf_matches(state, &self.cookie, submitted)
    }
}

/// The CSRF token of the session whose cookie is `cookie`: forms carry it, and a post without it
/// is refused (the cookie alone, which a browser sends along with any cross-site post, is not
/// enough).
pub fn csrf_token(state: &AppState, cookie: &str) -> String {
    #[allow(clippy::expect_used)]
    let mut mac = <Hmac<Sha256> as hmac::Mac>::new_from_slice(state.secret_key.expose_secret())
        .expect("HMAC accepts keys of any length");
    mac.update(b"kalends/csrf/v1");
    mac.update(cookie.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Whether `submitted` is the CSRF token of the session whose cookie is `cookie` (constant time).
pub fn csrf_matches(state: &AppState, cookie: &str, submitted: Option<&str>) -> bool {
    use subtle::ConstantTimeEq as _;
    submitted.is_some_and(|submitted| {
        bool::from(csrf_token(state, cookie).as_bytes().ct_eq(submitted.as_bytes()))
    })
}

/// `Set-Cookie` for a new staff session whose cookie carries `claim`.
pub fn session_cookie(state: &AppState, claim: &Claim) -> String {
    let value = claim.sign(&state.secret_key, Purpose::StaffSession);
    set_cookie(state, SESSION_COOKIE, &value, staff_sessions::SESSION_HOURS * 3600)
}

/// `Set-Cookie` that makes the browser forget its staff session cookie.
pub fn forget_session_cookie(state: &AppState) -> String {
    set_cookie(state, SESSION_COOKIE, "", 0)
}

pub(crate) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
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
    (status, page_headers(), Html(layout(title, None, body).into_string())).into_response()
}

/// The `<head>` of every page: its title, Kalends's stylesheet, no referrer, and `extra` (the
/// console's scripts).
pub fn head(title: &str, extra: Markup) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="referrer" content="no-referrer";
            title { (title) " · Kalends" }
            link rel="stylesheet" href=(STYLESHEET);
            (extra)
        }
    }
}

/// The page shell: head, styles, header.
pub fn layout(title: &str, heading: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, html! {}))
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

/// Headers every page answers with: no caching, no framing, and forms that post only to
/// Kalends (each of them answers with a redirect to its own pages).
pub fn page_headers() -> [(header::HeaderName, &'static str); 3] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    ]
}
