//! The token endpoints of both identity services: code exchange with PKCE, refresh (Microsoft
//! rotates refresh tokens, Google does not), revocation, and their error bodies.

use std::collections::HashMap;

use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::{ClientRegistration, Sandbox, State as SandboxState, random_token};
use crate::Provider;

/// How long an authorization code lives (both services: about 10 minutes).
pub(crate) const CODE_LIFETIME_MINUTES: i64 = 10;

/// Codes, grants and tokens issued so far.
#[derive(Debug, Default)]
pub(crate) struct OAuthState {
    codes: HashMap<String, IssuedCode>,
    grants: HashMap<String, Grant>,
    refresh_tokens: HashMap<String, String>,
    access_tokens: HashMap<String, AccessGrant>,
}

/// An authorization code waiting to be exchanged once.
#[derive(Debug, Clone)]
pub(crate) struct IssuedCode {
    pub(crate) provider: Provider,
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) challenge: Option<(String, String)>,
    pub(crate) scopes: Vec<String>,
    pub(crate) email: String,
    pub(crate) offline: bool,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) redeemed: bool,
}

/// A user's consent to one client.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Grant {
    pub(crate) id: String,
    pub(crate) provider: Provider,
    pub(crate) email: String,
    pub(crate) client_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) revoked: bool,
    pub(crate) refreshes: u64,
}

#[derive(Debug, Clone)]
struct AccessGrant {
    grant_id: String,
    expires_at: DateTime<Utc>,
}

impl OAuthState {
    /// Stores a code issued by the consent page and returns it.
    pub(crate) fn issue_code(&mut self, code: IssuedCode) -> String {
        let value = format!("4/{}", random_token(32));
        self.codes.insert(value.clone(), code);
        value
    }

    /// The (provider, account) a live access token belongs to.
    pub(crate) fn account_of_access_token(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Option<(Provider, String)> {
        let access = self.access_tokens.get(token)?;
        let grant = self.grants.get(&access.grant_id)?;
        (access.expires_at > now && !grant.revoked).then(|| (grant.provider, grant.email.clone()))
    }

    /// The scopes granted to a live access token's grant (the consent's, or a delegated
    /// service account's).
    pub(crate) fn scopes_of_access_token(&self, token: &str) -> Option<Vec<String>> {
        let access = self.access_tokens.get(token)?;
        Some(self.grants.get(&access.grant_id)?.scopes.clone())
    }

    /// Makes every access token expire now (the "mass expiry" fault); `email` limits it.
    pub(crate) fn expire_access_tokens(
        &mut self,
        email: Option<&str>,
        now: DateTime<Utc>,
    ) -> usize {
        let grants = &self.grants;
        let mut expired = 0;
        for access in self.access_tokens.values_mut() {
            let matches = email.is_none_or(|email| {
                grants
                    .get(&access.grant_id)
                    .is_some_and(|grant| grant.email.eq_ignore_ascii_case(email))
            });
            if matches && access.expires_at > now {
                access.expires_at = now - Duration::seconds(1);
                expired += 1;
            }
        }
        expired
    }

    /// Moves an account's grants to its new address: the tokens issued before a rename go on
    /// acting for the same account.
    pub(crate) fn rename_account(&mut self, provider: Provider, old: &str, new: &str) {
        for grant in self.grants.values_mut() {
            if grant.provider == provider && grant.email.eq_ignore_ascii_case(old) {
                grant.email = new.to_owned();
            }
        }
    }

    /// Revokes every grant of an account (the user removed the app's access).
    pub(crate) fn revoke_account(&mut self, provider: Provider, email: &str) -> usize {
        let mut revoked = 0;
        for grant in self.grants.values_mut() {
            if grant.provider == provider
                && grant.email.eq_ignore_ascii_case(email)
                && !grant.revoked
            {
                grant.revoked = true;
                revoked += 1;
            }
        }
        revoked
    }

    /// Every grant, for read-back.
    pub(crate) fn grants(&self) -> Vec<Grant> {
        let mut grants: Vec<_> = self.grants.values().cloned().collect();
        grants.sort_by(|a, b| a.id.cmp(&b.id));
        grants
    }

    /// Issues an access token directly (control API: tests of calendar calls without consent).
    pub(crate) fn mint(
        &mut self,
        provider: Provider,
        email: &str,
        client_id: &str,
        lifetime: Duration,
        now: DateTime<Utc>,
    ) -> (String, String) {
        // What Kalends asks a staff member to allow (only Google's are checked).
        let scopes = match provider {
            Provider::Google => crate::google::KALENDS_SCOPES.map(str::to_owned).to_vec(),
            Provider::Microsoft => Vec::new(),
        };
        let grant_id = self.new_grant(provider, email, client_id, scopes);
        let refresh = self.new_refresh_token(&grant_id);
        (self.new_access_token(&grant_id, lifetime, now), refresh)
    }

    pub(crate) fn new_grant(
        &mut self,
        provider: Provider,
        email: &str,
        client_id: &str,
        scopes: Vec<String>,
    ) -> String {
        let id = random_token(12);
        self.grants.insert(
            id.clone(),
            Grant {
                id: id.clone(),
                provider,
                email: email.to_owned(),
                client_id: client_id.to_owned(),
                scopes,
                revoked: false,
                refreshes: 0,
            },
        );
        id
    }

    pub(crate) fn new_access_token(
        &mut self,
        grant_id: &str,
        lifetime: Duration,
        now: DateTime<Utc>,
    ) -> String {
        let token = format!("ya29.{}", random_token(48));
        self.access_tokens.insert(
            token.clone(),
            AccessGrant { grant_id: grant_id.to_owned(), expires_at: now + lifetime },
        );
        token
    }

    fn new_refresh_token(&mut self, grant_id: &str) -> String {
        let token = format!("1//{}", random_token(48));
        self.refresh_tokens.insert(token.clone(), grant_id.to_owned());
        token
    }
}

/// The token and revocation endpoints (under the fault layer).
pub(super) fn token_router() -> Router<Sandbox> {
    Router::new()
        .route("/google/token", post(google_token))
        .route("/google/revoke", post(google_revoke))
        .route("/microsoft/{tenant}/oauth2/v2.0/token", post(microsoft_token))
}

/// The token request, as both services accept it (form body).
#[derive(Debug, Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
    /// The JWT-bearer grant's signed assertion.
    assertion: Option<String>,
    /// A client assertion's type (RFC 7523 §2.2), instead of a client secret.
    client_assertion_type: Option<String>,
    /// The client assertion.
    client_assertion: Option<String>,
}

/// RFC 7523's client assertion type.
const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A token-endpoint failure: (status, error, description, AADSTS number).
struct Refusal(StatusCode, &'static str, String, Option<u32>);

async fn google_token(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    token(&sandbox, Provider::Google, &headers, form)
}

async fn microsoft_token(
    State(sandbox): State<Sandbox>,
    Path(tenant): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    if form.grant_type.as_deref() == Some("client_credentials") {
        let mut state = sandbox.lock();
        state.count("POST microsoft token client_credentials");
        let (id, secret) = basic_credentials(&headers).unwrap_or_else(|| {
            (
                form.client_id.clone().unwrap_or_default(),
                form.client_secret.clone().unwrap_or_default(),
            )
        });
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
        let endpoint = format!("{host}{}", uri.path());
        let proof = match (form.client_assertion_type.as_deref(), &form.client_assertion) {
            (Some(CLIENT_ASSERTION_TYPE), Some(jwt)) => {
                crate::entra::Proof::Assertion { jwt, endpoint: &endpoint }
            }
            _ => crate::entra::Proof::Secret(&secret),
        };
        let granted = crate::entra::client_credentials(
            &mut state,
            &tenant,
            &id,
            proof,
            form.scope.as_deref(),
        );
        return match granted {
            Ok(body) => ok_token(body),
            Err(crate::entra::Refused(status, error, description, code)) => refusal_response(
                Provider::Microsoft,
                Refusal(status, error, description, Some(code)),
            ),
        };
    }
    token(&sandbox, Provider::Microsoft, &headers, form)
}

fn token(sandbox: &Sandbox, provider: Provider, headers: &HeaderMap, form: TokenForm) -> Response {
    let mut state = sandbox.lock();
    state.count(&format!("POST {provider} token"));
    // A service account signs its own assertion: no client authenticates beside it.
    if provider == Provider::Google
        && form.grant_type.as_deref() == Some(crate::workspace::JWT_BEARER)
    {
        state.count("POST google token jwt-bearer");
        return match crate::workspace::jwt_bearer(&mut state, form.assertion.as_deref()) {
            Ok(body) => ok_token(body),
            Err(crate::workspace::Refused(status, error, description)) => {
                refusal_response(provider, Refusal(status, error, description, None))
            }
        };
    }
    let result =
        authenticate_client(&state, provider, headers, &form).and_then(|client| {
            match form.grant_type.as_deref() {
                Some("authorization_code") => exchange(&mut state, provider, &client, &form),
                Some("refresh_token") => refresh(&mut state, provider, &client, &form),
                Some(other) => Err(Refusal(
                    StatusCode::BAD_REQUEST,
                    "unsupported_grant_type",
                    format!("Invalid grant_type: {other}"),
                    Some(70003),
                )),
                None => Err(Refusal(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Missing required parameter: grant_type".into(),
                    Some(900144),
                )),
            }
        });
    match result {
        Ok(body) => ok_token(body),
        Err(refusal) => refusal_response(provider, refusal),
    }
}

/// A token answer: never cached.
fn ok_token(body: serde_json::Value) -> Response {
    let no_cache = [(header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")];
    (StatusCode::OK, no_cache, Json(body)).into_response()
}

/// client_secret_basic or client_secret_post, as both services accept either.
fn authenticate_client(
    state: &SandboxState,
    provider: Provider,
    headers: &HeaderMap,
    form: &TokenForm,
) -> Result<ClientRegistration, Refusal> {
    let (id, secret) = basic_credentials(headers)
        .or_else(|| Some((form.client_id.clone()?, form.client_secret.clone().unwrap_or_default())))
        .unwrap_or_default();
    let client = match provider {
        Provider::Google => &state.config.google,
        Provider::Microsoft => &state.config.microsoft,
    };
    if id != client.client_id {
        return Err(Refusal(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            match provider {
                Provider::Google => "The OAuth client was not found.".into(),
                Provider::Microsoft => format!(
                    "AADSTS700016: Application with identifier '{id}' was not found in the directory."
                ),
            },
            Some(700016),
        ));
    }
    if secret != client.client_secret {
        return Err(Refusal(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            match provider {
                Provider::Google => "Unauthorized".into(),
                Provider::Microsoft => "AADSTS7000215: Invalid client secret provided.".into(),
            },
            Some(7000215),
        ));
    }
    Ok(client.clone())
}

/// The client id and secret of `Authorization: Basic` (each form-encoded, RFC 6749 2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| STANDARD.decode(encoded).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            Some((form_decode(id), form_decode(secret)))
        })
}

fn form_decode(value: &str) -> String {
    url::form_urlencoded::parse(format!("v={value}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn exchange(
    state: &mut SandboxState,
    provider: Provider,
    client: &ClientRegistration,
    form: &TokenForm,
) -> Result<serde_json::Value, Refusal> {
    let now = Utc::now();
    let invalid = |text: &str, aadsts: u32| {
        Err(Refusal(StatusCode::BAD_REQUEST, "invalid_grant", text.to_owned(), Some(aadsts)))
    };
    let Some(code) = form.code.as_deref().and_then(|code| state.oauth.codes.get_mut(code)) else {
        return match provider {
            Provider::Google => invalid("Malformed auth code.", 0),
            Provider::Microsoft => {
                invalid("AADSTS9002313: Invalid request. Request is malformed or invalid.", 9002313)
            }
        };
    };
    if code.redeemed {
        return match provider {
            Provider::Google => invalid("Bad Request", 0),
            Provider::Microsoft => invalid(
                "AADSTS54005: OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
                54005,
            ),
        };
    }
    if code.expires_at <= now {
        return invalid(
            "AADSTS70008: The provided authorization code or refresh token has expired due to inactivity.",
            70008,
        );
    }
    if code.provider != provider
        || code.client_id != client.client_id
        || form.redirect_uri.as_deref() != Some(code.redirect_uri.as_str())
    {
        return match provider {
            Provider::Google => Err(Refusal(
                StatusCode::BAD_REQUEST,
                "redirect_uri_mismatch",
                "Bad Request".into(),
                None,
            )),
            Provider::Microsoft => invalid(
                "AADSTS50148: The redirect URI specified in the request does not match the redirect URI configured for the authorization code.",
                50148,
            ),
        };
    }
    check_pkce(provider, code.challenge.as_ref(), form.code_verifier.as_deref())?;
    code.redeemed = true;
    let code = code.clone();
    let grant_id =
        state.oauth.new_grant(provider, &code.email, &code.client_id, code.scopes.clone());
    let lifetime =
        Duration::from_std(state.config.access_token_lifetime).unwrap_or(Duration::hours(1));
    let access = state.oauth.new_access_token(&grant_id, lifetime, now);
    let refresh = code.offline.then(|| state.oauth.new_refresh_token(&grant_id));
    let name = state.ensure_account(provider, &code.email).name;
    Ok(token_body(
        provider,
        &access,
        refresh.as_deref(),
        &code.scopes,
        lifetime,
        Some((&code.email, &name, &code.client_id)),
    ))
}

/// PKCE as both services check it: a challenge needs a matching verifier, and (Google) a verifier
/// without a challenge is refused too.
fn check_pkce(
    provider: Provider,
    challenge: Option<&(String, String)>,
    verifier: Option<&str>,
) -> Result<(), Refusal> {
    let refuse = |google: &str, microsoft: &str, aadsts| {
        let text = match provider {
            Provider::Google => google.to_owned(),
            Provider::Microsoft => microsoft.to_owned(),
        };
        Err(Refusal(StatusCode::BAD_REQUEST, "invalid_grant", text, Some(aadsts)))
    };
    match (challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => refuse(
            "code_verifier or verifier is not needed.",
            "AADSTS501481: The Code_Verifier does not match the code_challenge supplied in the authorization request.",
            501481,
        ),
        (Some(_), None) => refuse(
            "Missing code verifier.",
            "AADSTS50148: The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.",
            50148,
        ),
        (Some((challenge, method)), Some(verifier)) => {
            let computed = if method == "S256" {
                URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
            } else {
                verifier.to_owned()
            };
            if &computed == challenge {
                Ok(())
            } else {
                refuse(
                    "Invalid code verifier.",
                    "AADSTS50148: The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.",
                    50148,
                )
            }
        }
    }
}

fn refresh(
    state: &mut SandboxState,
    provider: Provider,
    client: &ClientRegistration,
    form: &TokenForm,
) -> Result<serde_json::Value, Refusal> {
    let now = Utc::now();
    let grant = form
        .refresh_token
        .as_deref()
        .and_then(|token| state.oauth.refresh_tokens.get(token))
        .and_then(|grant_id| state.oauth.grants.get(grant_id))
        .filter(|grant| grant.client_id == client.client_id)
        .cloned();
    let Some(grant) = grant.filter(|grant| !grant.revoked) else {
        return Err(match provider {
            Provider::Google => Refusal(StatusCode::BAD_REQUEST, "invalid_grant", "Token has been expired or revoked.".into(), None),
            Provider::Microsoft => Refusal(StatusCode::BAD_REQUEST, "invalid_grant", "AADSTS50173: The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.".into(), Some(50173)),
        });
    };
    if let Some(stored) = state.oauth.grants.get_mut(&grant.id) {
        stored.refreshes += 1;
    }
    let lifetime =
        Duration::from_std(state.config.access_token_lifetime).unwrap_or(Duration::hours(1));
    let access = state.oauth.new_access_token(&grant.id, lifetime, now);
    // Microsoft hands out a new refresh token on every use and keeps the old one working;
    // Google never rotates.
    let rotated =
        (provider == Provider::Microsoft).then(|| state.oauth.new_refresh_token(&grant.id));
    let scopes = match form.scope.as_deref() {
        Some(asked) => asked.split(' ').map(str::to_owned).collect(),
        None => grant.scopes.clone(),
    };
    Ok(token_body(provider, &access, rotated.as_deref(), &scopes, lifetime, None))
}

fn token_body(
    provider: Provider,
    access: &str,
    refresh: Option<&str>,
    scopes: &[String],
    lifetime: Duration,
    identity: Option<(&str, &str, &str)>,
) -> serde_json::Value {
    let mut body = serde_json::json!({
        "access_token": access,
        "expires_in": lifetime.num_seconds(),
        "scope": scopes.join(" "),
        "token_type": "Bearer",
    });
    if provider == Provider::Microsoft {
        body["ext_expires_in"] = lifetime.num_seconds().into();
    }
    if let Some(refresh) = refresh {
        body["refresh_token"] = refresh.into();
    }
    if let Some((email, name, client_id)) = identity
        && scopes.iter().any(|scope| scope == "openid")
    {
        body["id_token"] = id_token(provider, email, name, client_id).into();
    }
    body
}

/// An OpenID Connect id_token (signed with a sandbox key; clients of the code flow read the
/// claims straight from the token endpoint's TLS answer and do not need the signature).
fn id_token(provider: Provider, email: &str, name: &str, client_id: &str) -> String {
    let now = Utc::now().timestamp();
    let issuer = match provider {
        Provider::Google => "https://accounts.google.com".to_owned(),
        Provider::Microsoft => {
            "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0".to_owned()
        }
    };
    let subject = URL_SAFE_NO_PAD.encode(Sha256::digest(email.as_bytes()));
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT","kid":"sandbox"}"#);
    let claims = serde_json::json!({
        "iss": issuer, "aud": client_id, "sub": subject, "email": email, "email_verified": true,
        "name": name, "preferred_username": email, "iat": now, "exp": now + 3600,
    });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signature =
        URL_SAFE_NO_PAD.encode(Sha256::digest(format!("{header}.{payload}.sandbox").as_bytes()));
    format!("{header}.{payload}.{signature}")
}

fn refusal_response(
    provider: Provider,
    Refusal(status, error, description, aadsts): Refusal,
) -> Response {
    let body = match provider {
        Provider::Google => serde_json::json!({"error": error, "error_description": description}),
        Provider::Microsoft => {
            let now = Utc::now();
            let trace = uuid::Uuid::new_v4();
            let correlation = uuid::Uuid::new_v4();
            serde_json::json!({
                "error": error,
                "error_description": format!("{description}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {}", now.format("%Y-%m-%d %H:%M:%SZ")),
                "error_codes": aadsts.map(|code| vec![code]).unwrap_or_default(),
                "timestamp": now.format("%Y-%m-%d %H:%M:%SZ").to_string(),
                "trace_id": trace, "correlation_id": correlation,
                "error_uri": format!("https://login.microsoftonline.com/error?code={}", aadsts.unwrap_or(0)),
            })
        }
    };
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// `token` for Google's revocation endpoint, from the query or the form body.
#[derive(Debug, Deserialize)]
struct RevokeParams {
    token: Option<String>,
}

async fn google_revoke(
    State(sandbox): State<Sandbox>,
    Query(query): Query<RevokeParams>,
    body: String,
) -> Response {
    let form: RevokeParams = serde_urlencoded_token(&body);
    let token = query.token.or(form.token).unwrap_or_default();
    let mut state = sandbox.lock();
    state.count("POST google revoke");
    let oauth = &mut state.oauth;
    let grant_id = oauth
        .refresh_tokens
        .get(&token)
        .cloned()
        .or_else(|| oauth.access_tokens.get(&token).map(|access| access.grant_id.clone()));
    match grant_id.and_then(|id| oauth.grants.get_mut(&id)) {
        Some(grant) if !grant.revoked => {
            // Revoking either token ends the whole grant.
            grant.revoked = true;
            (StatusCode::OK, Json(serde_json::json!({}))).into_response()
        }
        _ => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": "invalid_token", "error_description": "Token expired or revoked"})),
        )
            .into_response(),
    }
}

fn serde_urlencoded_token(body: &str) -> RevokeParams {
    RevokeParams {
        token: url::form_urlencoded::parse(body.as_bytes())
            .find(|(key, _)| key == "token")
            .map(|(_, value)| value.into_owned()),
    }
}
