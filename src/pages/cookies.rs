//! The session cookies and HTTPS: under an https public URL both session cookies (the staff
//! settings' and the console's) are `Secure` and named with the `__Host-` prefix (so the browser
//! takes them only from this host, over https, for `Path=/`, and no sibling domain can set or
//! shadow them), and every answer carries HSTS.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use super::cookie_value;
use crate::state::AppState;

/// What every answer says under an https public URL: browsers use https only, for a year.
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Whether Kalends is reached over https (its public URL says so).
pub fn secure(state: &AppState) -> bool {
    state.config.public_url.starts_with("https://")
}

/// The name a cookie goes by: `base`, with `__Host-` in front under https.
pub fn cookie_name(state: &AppState, base: &str) -> String {
    if secure(state) { format!("__Host-{base}") } else { base.to_owned() }
}

/// `Set-Cookie` for the session cookie `base` holding `value` for `max_age_secs` (0 forgets
/// it): HttpOnly, SameSite=Lax, `Path=/`, no `Domain`, and `Secure` under https.
pub fn set_cookie(state: &AppState, base: &str, value: &str, max_age_secs: i64) -> String {
    let secure = if secure(state) { "; Secure" } else { "" };
    let name = cookie_name(state, base);
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}")
}

/// The value of the session cookie `base` in a request, under the name it is set with.
pub fn read_cookie(state: &AppState, headers: &HeaderMap, base: &str) -> Option<String> {
    cookie_value(headers, &cookie_name(state, base))
}

/// Adds `Strict-Transport-Security` to every answer under an https public URL.
pub async fn strict_transport(State(state): State<AppState>, mut response: Response) -> Response {
    if secure(&state) {
        let hsts = HeaderValue::from_static(HSTS);
        response.headers_mut().insert(header::STRICT_TRANSPORT_SECURITY, hsts);
    }
    response
}
