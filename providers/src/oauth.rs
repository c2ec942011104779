//! OAuth 2.0 authorization code flow with PKCE (S256), refresh and revocation, on the `oauth2`
//! crate, for Google and the Microsoft identity platform alike.

use std::time::Duration;

use chrono::Utc;
use oauth2::basic::{
    BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse,
    BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse as _,
    TokenUrl,
};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::calendar::TokenSet;
use crate::error::{ProviderError, is_dead_grant};

/// The OpenID `id_token` that both services add to the token response when `openid` is asked.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct IdTokenField {
    /// A JWT; only its claims are read (it arrives straight from the token endpoint over TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

type TokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;

type Client = oauth2::Client<
    BasicErrorResponse,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Where and as whom to run the flow.
#[derive(Clone, Debug)]
pub struct OAuthSettings {
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: SecretString,
    /// Authorization endpoint.
    pub auth_url: String,
    /// Token endpoint.
    pub token_url: String,
    /// Revocation endpoint (Google); Microsoft has none.
    pub revoke_url: Option<String>,
    /// Our callback, registered with the provider.
    pub redirect_url: String,
    /// Scopes asked for.
    pub scopes: Vec<String>,
    /// Extra authorize parameters (`access_type=offline`, `prompt=consent`).
    pub extra_params: Vec<(String, String)>,
    /// Whole-request time limit.
    pub timeout: Duration,
}

/// A started authorization: where to send the browser, and what to keep server-side.
pub struct Authorization {
    /// The provider's consent URL.
    pub url: Url,
    /// The single-use `state` in the URL.
    pub state: String,
    /// The PKCE verifier to send with the code.
    pub pkce_verifier: SecretString,
}

/// Shows the consent page's host alone and no `state`: the state is what ties the callback to
/// the browser that began it.
impl std::fmt::Debug for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorization")
            .field("url", &kalends_core::redact::url_host_only(self.url.as_str()))
            .field("pkce_verifier", &self.pkce_verifier)
            .finish_non_exhaustive()
    }
}

/// The OAuth client of one provider.
#[derive(Clone)]
pub struct OAuthClient {
    client: Client,
    http: reqwest::Client,
    revoke_url: Option<String>,
    scopes: Vec<String>,
    extra_params: Vec<(String, String)>,
}

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient")
            .field("client_id", &self.client.client_id().as_str())
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// Why an OAuth client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum OAuthSetupError {
    /// A configured endpoint is not a URL.
    #[error("invalid {what}")]
    Url {
        /// Which endpoint (`auth URL`, `token URL`, `redirect URL`).
        what: &'static str,
        /// Why it does not parse.
        #[source]
        source: url::ParseError,
    },
    /// The HTTP client could not be built.
    #[error("HTTP client")]
    Http(#[source] reqwest::Error),
}

impl OAuthClient {
    /// Builds the client; fails on an invalid URL.
    pub fn new(settings: OAuthSettings) -> Result<Self, OAuthSetupError> {
        fn invalid(what: &'static str) -> impl Fn(url::ParseError) -> OAuthSetupError {
            move |source| OAuthSetupError::Url { what, source }
        }
        let client = oauth2::Client::new(ClientId::new(settings.client_id))
            .set_client_secret(ClientSecret::new(settings.client_secret.expose_secret().to_owned()))
            .set_auth_uri(AuthUrl::new(settings.auth_url).map_err(invalid("auth URL"))?)
            .set_token_uri(TokenUrl::new(settings.token_url).map_err(invalid("token URL"))?)
            .set_redirect_uri(
                RedirectUrl::new(settings.redirect_url).map_err(invalid("redirect URL"))?,
            )
            .set_auth_type(AuthType::RequestBody);
        // No redirects: a token endpoint that redirects is an attack (oauth2's own advice).
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .build()
            .map_err(OAuthSetupError::Http)?;
        Ok(Self {
            client,
            http,
            revoke_url: settings.revoke_url,
            scopes: settings.scopes,
            extra_params: settings.extra_params,
        })
    }

    /// The consent URL with a fresh `state` and PKCE S256 challenge.
    pub fn authorize(&self, login_hint: Option<&str>) -> Authorization {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request =
            self.client.authorize_url(CsrfToken::new_random).set_pkce_challenge(challenge);
        for scope in &self.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        for (key, value) in &self.extra_params {
            request = request.add_extra_param(key.clone(), value.clone());
        }
        if let Some(hint) = login_hint {
            request = request.add_extra_param("login_hint", hint.to_owned());
        }
        let (url, state) = request.url();
        Authorization {
            url,
            state: state.secret().clone(),
            pkce_verifier: SecretString::from(verifier.secret().clone()),
        }
    }

    /// Exchanges a code (with its PKCE verifier) for tokens.
    pub async fn exchange_code(
        &self,
        code: &str,
        pkce_verifier: &SecretString,
    ) -> Result<TokenSet, ProviderError> {
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.expose_secret().to_owned()))
            .request_async(&self.http)
            .await
            .map_err(classify)?;
        Ok(token_set(&response))
    }

    /// Uses the refresh token; Microsoft answers with a new refresh token, Google with none.
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<TokenSet, ProviderError> {
        let token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let response = self
            .client
            .exchange_refresh_token(&token)
            .request_async(&self.http)
            .await
            .map_err(classify)?;
        Ok(token_set(&response))
    }

    /// Revokes a token where the provider has an endpoint (Google: revoking the refresh token
    /// ends the grant). A raw form POST: the oauth2 crate refuses non-https revocation URLs,
    /// which the sandbox uses. `Ok(false)` when the provider has no revocation endpoint.
    pub async fn revoke(&self, token: &SecretString) -> Result<bool, ProviderError> {
        let Some(url) = &self.revoke_url else {
            return Ok(false);
        };
        let response = self
            .http
            .post(url)
            .form(&[("token", token.expose_secret())])
            .send()
            .await
            .map_err(|error| ProviderError::from_transport(&error))?;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        match status {
            200 => Ok(true),
            // Already revoked or expired: the grant is gone either way.
            400 if body.contains("invalid_token") => Ok(true),
            _ => Err(ProviderError::from_status(status, None, body, None)),
        }
    }
}

fn token_set(response: &TokenResponse) -> TokenSet {
    let lifetime = response
        .expires_in()
        .unwrap_or(Duration::from_secs(3600))
        .min(Duration::from_secs(86_400 * 365));
    TokenSet {
        access_token: SecretString::from(response.access_token().secret().clone()),
        refresh_token: response
            .refresh_token()
            .map(|token| SecretString::from(token.secret().clone())),
        expires_at: Utc::now() + chrono::Duration::from_std(lifetime).unwrap_or_default(),
        scopes: response
            .scopes()
            .map(|scopes| scopes.iter().map(|scope| scope.to_string()).collect())
            .unwrap_or_default(),
        id_token_email: response.extra_fields().id_token.as_deref().and_then(id_token_email),
    }
}

/// The `email` (or `preferred_username`) claim of a JWT, without checking its signature: the
/// token came straight from the token endpoint over TLS (OpenID Connect Core §3.1.3.7).
pub fn id_token_email(jwt: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    ["email", "preferred_username", "upn"]
        .iter()
        .find_map(|claim| claims.get(claim)?.as_str())
        .filter(|email| email.contains('@'))
        .map(str::to_owned)
}

pub(crate) type TokenError =
    RequestTokenError<oauth2::HttpClientError<reqwest::Error>, BasicErrorResponse>;

/// Token-endpoint failures, classified: a dead grant means "connect again".
pub(crate) fn classify(error: TokenError) -> ProviderError {
    match error {
        RequestTokenError::ServerResponse(response) => {
            let code = response.error().to_string();
            let description = response.error_description().cloned().unwrap_or_default();
            // Microsoft appends trace and correlation ids after a CRLF; keep the sentence.
            let message = first_line(&description, &code);
            if is_dead_grant(&code, &description) {
                ProviderError::DeadGrant { message }
            } else if matches!(response.error(), BasicErrorResponseType::Extension(e) if e == "temporarily_unavailable" || e == "server_error")
            {
                ProviderError::transient(message)
            } else {
                ProviderError::permanent(400, format!("{code}: {message}"))
            }
        }
        RequestTokenError::Request(error) => ProviderError::transient(format!(
            "token endpoint unreachable: {}",
            strip_query(&error.to_string())
        )),
        RequestTokenError::Parse(_, _) => {
            ProviderError::transient("the token endpoint answered something that is not a token")
        }
        RequestTokenError::Other(text) => ProviderError::transient(text),
    }
}

fn first_line(description: &str, fallback: &str) -> String {
    description
        .lines()
        .next()
        .filter(|line| !line.trim().is_empty())
        .unwrap_or(fallback)
        .trim()
        .to_owned()
}

fn strip_query(text: &str) -> String {
    match text.find('?') {
        Some(at) => format!("{}?…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_started_authorization_s_debug_shows_neither_its_state_nor_its_verifier() {
        let client = OAuthClient::new(OAuthSettings {
            client_id: "kalends".into(),
            client_secret: SecretString::from("client-secret"),
            auth_url: "https://accounts.example/o/oauth2/auth".into(),
            token_url: "https://oauth2.example/token".into(),
            revoke_url: None,
            redirect_url: "https://kalends.example/oauth/google/callback".into(),
            scopes: vec!["calendar".into()],
            extra_params: Vec::new(),
            timeout: Duration::from_secs(5),
        })
        .unwrap();
        let started = client.authorize(Some("ann@example.com"));
        let shown = format!("{started:?}");
        assert!(shown.contains("accounts.example"), "{shown}");
        for secret in [started.state.as_str(), started.pkce_verifier.expose_secret()] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn the_email_is_read_from_an_id_token() {
        use base64::Engine as _;
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"email":"ann@example.com","sub":"1"}"#);
        assert_eq!(
            id_token_email(&format!("e30.{claims}.sig")).as_deref(),
            Some("ann@example.com")
        );
        assert_eq!(id_token_email("not a jwt"), None);
    }
}
