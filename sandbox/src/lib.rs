//! The provider sandbox: a faithful local emulator of Google's OAuth endpoints and Calendar v3,
//! and of the Microsoft identity platform and Graph's calendar endpoints.
//!
//! It is what a newcomer connects to on first run (mounted in-process under `/sandbox` when no
//! real client id is configured, or alone with `kalends sandbox`) and what every provider test runs
//! against, through the real crates. Paths below each provider prefix are the real services' paths:
//!
//! | prefix | emulates |
//! |---|---|
//! | `/google/o/oauth2/v2/auth`, `/google/token`, `/google/revoke` | accounts.google.com, oauth2.googleapis.com |
//! | `/google/calendar/v3/` | www.googleapis.com/calendar/v3/ |
//! | `/microsoft/{tenant}/oauth2/v2.0/{authorize,token}` | login.microsoftonline.com |
//! | `/microsoft/v1.0/` | graph.microsoft.com/v1.0 |
//! | `/microsoft/{tenant}/oauth2/v2.0/token` (client credentials), `/microsoft/v1.0/users`, `/groups/{id}/members`, `/users/{id}/…` | a Microsoft 365 tenant's app-only access and directory ([`entra`]) |
//! | `/google/token` (JWT-bearer grant), `/google/admin/directory/v1/` | a Google Workspace's domain-wide delegation and directory ([`workspace`]) |
//! | `/ota/airbnb/{listing}.ics` | an Airbnb calendar export (the first run's demo imports it) |
//! | `/_control/` | the test control API (faults, expiry, revocation, seeding, read-back), behind `Authorization: Bearer <control token>` |
//!
//! State lives in memory; it is a test double of remote services, not a store.

mod consent;
mod control;
pub mod entra;
mod faults;
mod google;
mod microsoft;
mod oauth;
mod ota;
mod quota;
pub mod workspace;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

pub use faults::Faults;
pub use quota::{Quota, QuotaView};

/// The sandbox's OAuth client for Google, used when no real client id is configured.
pub const GOOGLE_CLIENT_ID: &str = "kalends-sandbox.apps.googleusercontent.com";
/// Its secret (not a secret: the sandbox is local).
pub const GOOGLE_CLIENT_SECRET: &str = "sandbox-google-secret";
/// The sandbox's Microsoft application (client) id.
pub const MICROSOFT_CLIENT_ID: &str = "5a1d6b0c-4b1e-4c6a-9d2f-6b616c656e64";
/// Its secret.
pub const MICROSOFT_CLIENT_SECRET: &str = "sandbox-microsoft-secret";

/// Which emulated service an account, a grant or a request belongs to (`google`, `microsoft` in
/// the control API).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Provider {
    /// Google's OAuth endpoints and Calendar v3.
    Google,
    /// The Microsoft identity platform and Graph.
    Microsoft,
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Google => "google",
            Self::Microsoft => "microsoft",
        })
    }
}

/// Where a client finds the sandbox's endpoints when the sandbox is served at a root URL: the
/// values of the `google.*` and `microsoft.*` settings that point Kalends at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// Google's authorization endpoint (`google.auth_url`).
    pub google_auth_url: String,
    /// Google's token endpoint (`google.token_url`).
    pub google_token_url: String,
    /// Google's revocation endpoint (`google.revoke_url`).
    pub google_revoke_url: String,
    /// Google Calendar v3, with its trailing slash (`google.api_base_url`).
    pub google_api_base_url: String,
    /// The Admin SDK directory, with its trailing slash (`google.directory_base_url`).
    pub google_directory_base_url: String,
    /// The Microsoft identity platform authority (`microsoft.authority_url`).
    pub microsoft_authority_url: String,
    /// Microsoft Graph (`microsoft.graph_base_url`).
    pub microsoft_graph_base_url: String,
}

impl Endpoints {
    /// The endpoints of a sandbox served at `root`, such as `http://127.0.0.1:8080/sandbox`.
    pub fn under(root: &str) -> Self {
        let root = root.trim_end_matches('/');
        Self {
            google_auth_url: format!("{root}/google/o/oauth2/v2/auth"),
            google_token_url: format!("{root}/google/token"),
            google_revoke_url: format!("{root}/google/revoke"),
            google_api_base_url: format!("{root}/google/calendar/v3/"),
            google_directory_base_url: format!("{root}/google/admin/directory/v1/"),
            microsoft_authority_url: format!("{root}/microsoft"),
            microsoft_graph_base_url: format!("{root}/microsoft/v1.0"),
        }
    }
}

/// A registered OAuth client.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClientRegistration {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`.
    pub client_secret: String,
    /// Redirect URIs that must match exactly.
    pub redirect_uris: Vec<String>,
}

/// How a sandbox starts.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Google's registered client.
    pub google: ClientRegistration,
    /// Microsoft's registered client.
    pub microsoft: ClientRegistration,
    /// Lifetime of issued access tokens.
    pub access_token_lifetime: Duration,
    /// Bearer token the control API (`/_control/`) requires: it can fake faults, mint tokens and
    /// read every calendar, so nobody without it may use it.
    pub control_token: SecretString,
}

impl SandboxConfig {
    /// The sandbox clients, with the callbacks of a Kalends served at `public_url`.
    pub fn for_public_url(public_url: &str) -> Self {
        let base = public_url.trim_end_matches('/');
        let client = |id: &str, secret: &str, provider: &str| ClientRegistration {
            client_id: id.into(),
            client_secret: secret.into(),
            redirect_uris: vec![format!("{base}/oauth/{provider}/callback")],
        };
        Self {
            google: client(GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET, "google"),
            microsoft: client(MICROSOFT_CLIENT_ID, MICROSOFT_CLIENT_SECRET, "microsoft"),
            access_token_lifetime: Duration::from_secs(3599),
            control_token: SecretString::from(random_token(24)),
        }
    }

    /// The same, with this control API token instead of a random one.
    pub fn with_control_token(self, control_token: SecretString) -> Self {
        Self { control_token, ..self }
    }
}

/// An emulated user account (one per provider and address).
#[derive(Clone, Debug, Serialize)]
pub struct Account {
    /// Sign-in address.
    pub email: String,
    /// Display name.
    pub name: String,
}

/// The sandbox: cheap to clone, every clone shares the state.
#[derive(Clone, Debug)]
pub struct Sandbox {
    state: Arc<Mutex<State>>,
}

/// Everything the sandbox knows.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) config: SandboxConfig,
    pub(crate) faults: Faults,
    /// Holds the requests of one path until a test releases them (`/_control/hold`).
    pub(crate) gate: Option<faults::Gate>,
    /// The per-user quota on the calendar APIs (`/_control/quota`).
    pub(crate) quotas: quota::Quotas,
    pub(crate) accounts: HashMap<(Provider, String), Account>,
    pub(crate) oauth: oauth::OAuthState,
    pub(crate) google: google::Data,
    pub(crate) microsoft: microsoft::Data,
    pub(crate) workspace: workspace::Data,
    pub(crate) entra: entra::Data,
    /// API requests served, by "METHOD path-template" (read back by tests).
    pub(crate) requests: HashMap<String, u64>,
}

impl Sandbox {
    /// A sandbox with no accounts (they appear on first consent or by seeding).
    pub fn new(config: SandboxConfig) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                config,
                faults: Faults::default(),
                gate: None,
                quotas: quota::Quotas::default(),
                accounts: HashMap::new(),
                oauth: oauth::OAuthState::default(),
                google: google::Data::default(),
                microsoft: microsoft::Data::default(),
                workspace: workspace::Data::default(),
                entra: entra::Data::default(),
                requests: HashMap::new(),
            })),
        }
    }

    /// The sandbox's routes, to serve at a root of its own or nest under a prefix.
    pub fn router(&self) -> Router {
        let apis = Router::new()
            .nest("/google/calendar/v3", google::router())
            .nest("/microsoft/v1.0", microsoft::router().merge(entra::router()))
            .nest("/google/admin/directory/v1", workspace::router())
            .merge(oauth::token_router())
            .layer(axum::middleware::from_fn_with_state(self.clone(), faults::inject));
        let routes = Router::new()
            .merge(apis)
            .merge(consent::router())
            .merge(ota::router())
            .nest(
                "/_control",
                control::router()
                    .layer(axum::middleware::from_fn_with_state(self.clone(), control::authorize)),
            )
            .with_state(self.clone());
        // An application's Graph call names the mailbox in its path (`/users/{id}/…`): Entra's
        // checks and the rewrite to the `/me/…` handlers must come before routing.
        let act_for = axum::middleware::from_fn_with_state(self.clone(), entra::act_for);
        Router::new().fallback_service(tower::Layer::layer(&act_for, routes))
    }

    /// The bearer token of the control API.
    pub fn control_token(&self) -> SecretString {
        self.lock().config.control_token.clone()
    }

    /// Locks the state (a poisoned lock is recovered: the state stays usable for tests).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sets the injected faults.
    pub fn set_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    /// How many API requests the route ("METHOD path-template", as `/_control/requests` lists
    /// them) has served.
    pub fn requests_served(&self, route: &str) -> u64 {
        self.lock().requests.get(route).copied().unwrap_or_default()
    }
}

impl State {
    /// The account, created with its default calendars on first use.
    pub(crate) fn ensure_account(&mut self, provider: Provider, email: &str) -> Account {
        let key = (provider, email.to_ascii_lowercase());
        if let Some(account) = self.accounts.get(&key) {
            return account.clone();
        }
        let account = Account { email: key.1.clone(), name: display_name(&key.1) };
        match provider {
            Provider::Google => self.google.create_account(&account),
            Provider::Microsoft => self.microsoft.create_account(&account),
        }
        self.accounts.insert(key, account.clone());
        account
    }

    /// The account behind a request's bearer token, or the provider's 401.
    #[allow(clippy::result_large_err, reason = "the refusal is the ready 401 response")]
    pub(crate) fn authenticate(
        &self,
        provider: Provider,
        headers: &HeaderMap,
        now: DateTime<Utc>,
    ) -> Result<Account, Response> {
        let token = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        let account = token.and_then(|token| self.oauth.account_of_access_token(token, now));
        match account.and_then(|(p, email)| {
            (p == provider).then(|| self.accounts.get(&(p, email)).cloned()).flatten()
        }) {
            Some(account) => Ok(account),
            None => Err(unauthorized(provider)),
        }
    }

    /// Counts a served API request.
    pub(crate) fn count(&mut self, route: &str) {
        *self.requests.entry(route.to_owned()).or_default() += 1;
    }
}

/// "ann.lee@example.com" -> "Ann Lee".
pub(crate) fn display_name(email: &str) -> String {
    let local = email.split('@').next().unwrap_or(email);
    local
        .split(['.', '_', '-', '+'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The provider's 401 for a missing, unknown or expired access token, in its own envelope.
pub(crate) fn unauthorized(provider: Provider) -> Response {
    match provider {
        Provider::Google => google_error(
            StatusCode::UNAUTHORIZED,
            "authError",
            "Invalid Credentials",
            Some(("header", "Authorization")),
        ),
        Provider::Microsoft => graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token has expired or is not yet valid.",
        ),
    }
}

/// Google's error envelope: `{"error":{"errors":[{domain,reason,message}],"code","message"}}`.
pub(crate) fn google_error(
    status: StatusCode,
    reason: &str,
    message: &str,
    location: Option<(&str, &str)>,
) -> Response {
    let domain = match reason {
        "userRateLimitExceeded" | "rateLimitExceeded" | "quotaExceeded" => "usageLimits",
        "fullSyncRequired" => "calendar",
        _ => "global",
    };
    let mut item = serde_json::json!({"domain": domain, "reason": reason, "message": message});
    if let Some((kind, name)) = location {
        item["locationType"] = kind.into();
        item["location"] = name.into();
    }
    let body = serde_json::json!({
        "error": {"errors": [item], "code": status.as_u16(), "message": message}
    });
    (status, axum::Json(body)).into_response()
}

/// Graph's error envelope: `{"error":{"code","message","innerError":{date,request-id}}}`.
pub(crate) fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                "request-id": uuid::Uuid::new_v4().to_string(),
                "client-request-id": uuid::Uuid::new_v4().to_string(),
            }
        }
    });
    (status, axum::Json(body)).into_response()
}

/// A random URL-safe string of `bytes` random bytes.
pub(crate) fn random_token(bytes: usize) -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut buffer = vec![0; bytes];
    rand::rng().fill_bytes(&mut buffer);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buffer)
}

/// A new sandbox served on a port of its own, for the sandbox's own tests: its address, a
/// client that sends its control token, and the sandbox.
#[cfg(test)]
pub(crate) async fn serve_for_tests() -> (String, reqwest::Client, Sandbox) {
    let sandbox = Sandbox::new(SandboxConfig::for_public_url("http://127.0.0.1:9"));
    let http = control_client(&sandbox);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = sandbox.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (base, http, sandbox)
}

/// A client that sends the sandbox's control token (API calls set their own `Authorization`), for
/// tests that drive the sandbox.
pub fn control_client(sandbox: &Sandbox) -> reqwest::Client {
    use secrecy::ExposeSecret as _;
    let bearer = format!("Bearer {}", sandbox.control_token().expose_secret());
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, bearer.parse().unwrap());
    reqwest::Client::builder().default_headers(headers).build().unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_control_api_answers_only_with_its_token() {
        let sandbox = Sandbox::new(SandboxConfig::for_public_url("http://127.0.0.1:9"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = sandbox.router();
        tokio::spawn(async move { axum::serve(listener, router).await });
        let faults = serde_json::json!({"rate_limit_rate": 1, "retry_after_secs": 1e300});
        let url = format!("{base}/_control/faults");
        let anyone = reqwest::Client::new();
        assert_eq!(anyone.put(&url).json(&faults).send().await.unwrap().status(), 401);
        let wrong = anyone.get(&url).bearer_auth("not-the-token").send().await.unwrap();
        assert_eq!(wrong.status(), 401);
        assert_eq!(wrong.headers()["www-authenticate"], "Bearer");
        assert_eq!(sandbox.lock().faults, Faults::default(), "nothing changed");
        let holder = control_client(&sandbox);
        assert_eq!(holder.put(&url).json(&faults).send().await.unwrap().status(), 200);
        assert_eq!(sandbox.lock().faults.rate_limit_rate, 1.0);
        // Each sandbox has its own random token.
        let other = SandboxConfig::for_public_url("http://127.0.0.1:9");
        use secrecy::ExposeSecret as _;
        assert_ne!(other.control_token.expose_secret(), sandbox.control_token().expose_secret());
    }

    #[test]
    fn display_names_come_from_the_address() {
        assert_eq!(display_name("ann.lee@example.com"), "Ann Lee");
        assert_eq!(display_name("bob@example.com"), "Bob");
    }
}
