//! A Microsoft 365 organisation connected once by its administrator: an application registered
//! in the organisation's Microsoft Entra tenant with application permissions an administrator
//! consented to (app-only access), whose client secret gets one token for the organisation (the
//! client-credentials grant, RFC 6749 §4.4), and the directory (`/users`, or the members of the
//! security group the application is scoped to) that says who the staff are. Calendar calls
//! then go to `/users/{id}/…` with that token ([`AccessToken::for_mailbox`]).
//!
//! The grant goes through the oauth2 crate, as the staff's own sign-in does: graph-rs-sdk's
//! confidential client (graph-oauth 3) reaches only Microsoft's fixed cloud instances, never a
//! configured authority such as the sandbox's, and every endpoint stays configurable. The
//! directory is read through graph-rs-sdk ([`MicrosoftCalendar::directory`]).
//!
//! Every failure says what the administrator can do about it: a refused secret names where
//! secrets live, a missing permission names it and the admin consent, a user outside the
//! application's scope names the group.

use std::time::Duration;

use chrono::{DateTime, Utc};
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, RequestTokenError, Scope,
    TokenResponse as _, TokenUrl,
};
use secrecy::{ExposeSecret as _, SecretString};

use super::MicrosoftCalendar;
use crate::ProviderError;
use crate::calendar::{AccessToken, RemoteCalendar};

/// The scope of the client-credentials grant for Graph: the permissions consented to.
pub const GRAPH_DEFAULT_SCOPE: &str = "https://graph.microsoft.com/.default";
/// The application permission that writes bookings into calendars.
pub const CALENDAR_PERMISSION: &str = "Calendars.ReadWrite";
/// The application permission the busy-times-only tier needs: Graph's `getSchedule` asks for
/// it (no narrower application permission reads free/busy), and nothing is written.
pub const READ_PERMISSION: &str = "Calendars.Read";
/// The application permission that reads the tenant's users.
pub const USERS_PERMISSION: &str = "User.Read.All";
/// The application permission that reads a group's members.
pub const GROUP_PERMISSION: &str = "GroupMember.Read.All";

/// Where the administrator finds an application's permissions and secrets.
const APP_PAGE: &str =
    "Microsoft Entra admin center under Identity > Applications > App registrations";

type TokenClient =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// An organisation's application, as its tenant's token endpoint and Graph reach it.
#[derive(Clone)]
pub struct Tenant {
    client: TokenClient,
    client_id: String,
    http: reqwest::Client,
    graph: MicrosoftCalendar,
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant").field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

/// The organisation's token and when it runs out.
#[derive(Debug)]
pub struct AppToken {
    /// The bearer token (for no mailbox yet: see [`AccessToken::for_mailbox`]).
    pub token: AccessToken,
    /// When Microsoft says it expires.
    pub expires_at: DateTime<Utc>,
    /// The application permissions it carries (its `roles` claim), when the token is a JWT
    /// Kalends can read; `None` when it is not.
    pub roles: Option<Vec<String>>,
}

/// A user of the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantUser {
    /// The directory's object id (stable across renames): the mailbox calls are addressed to.
    pub id: String,
    /// `mail`, else `userPrincipalName`.
    pub email: String,
    /// `displayName`.
    pub name: String,
    /// `accountEnabled`: a disabled account is listed and left out of the staff.
    pub enabled: bool,
}

impl TenantUser {
    pub(super) fn from_entry(entry: super::wire::DirectoryEntry) -> Option<Self> {
        let email = entry.mail.filter(|mail| !mail.is_empty()).or(entry.user_principal_name)?;
        let name =
            entry.display_name.filter(|name| !name.is_empty()).unwrap_or_else(|| email.clone());
        Some(Self { id: entry.id, email, name, enabled: entry.account_enabled.unwrap_or(true) })
    }
}

/// Why the organisation could not be used, each saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// The tenant, the application or its secret was refused.
    #[error(
        "Microsoft refused the application's credentials ({0}): check the tenant id, the application (client) id and the client secret's value (not its id) in the {APP_PAGE}"
    )]
    Refused(String),
    /// An application permission is missing, or no administrator consented to it.
    #[error(
        "the application lacks {0} (application permission) or admin consent: add it in the {APP_PAGE} > API permissions, then grant admin consent for the organisation"
    )]
    MissingPermission(&'static str),
    /// The mailbox is outside the group the Exchange administrator scoped the application to.
    #[error(
        "{0} is outside the application's access scope: add them to the security group the application is scoped to (application access policy or RBAC for Applications in Exchange Online)"
    )]
    OutsideScope(String),
    /// The security group named does not exist.
    #[error("the tenant has no group {0}: give the object id of a security group")]
    UnknownGroup(String),
    /// Anything else (a timeout, a 5xx: worth retrying).
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

impl Tenant {
    /// The application `client_id` of tenant `tenant_id`, its tokens asked at
    /// `{authority_url}/{tenant_id}/oauth2/v2.0/token` (Microsoft's, or the sandbox's), Graph
    /// reached through `graph`.
    pub fn new(
        tenant_id: &str,
        client_id: &str,
        client_secret: &SecretString,
        authority_url: &str,
        graph: MicrosoftCalendar,
        timeout: Duration,
    ) -> Result<Self, TenantError> {
        let invalid = |why: String| TenantError::Provider(ProviderError::permanent(0, why));
        if tenant_id.is_empty()
            || !tenant_id.chars().all(|c| c.is_ascii_alphanumeric() || "-.".contains(c))
        {
            return Err(invalid(format!("{tenant_id:?} is not a tenant id")));
        }
        let token_url =
            format!("{}/{tenant_id}/oauth2/v2.0/token", authority_url.trim_end_matches('/'));
        let client = BasicClient::new(ClientId::new(client_id.to_owned()))
            .set_client_secret(ClientSecret::new(client_secret.expose_secret().to_owned()))
            .set_token_uri(TokenUrl::new(token_url).map_err(|e| invalid(e.to_string()))?)
            .set_auth_type(AuthType::RequestBody);
        // No redirects: a token endpoint that redirects is an attack (oauth2's own advice).
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Self { client, client_id: client_id.to_owned(), http, graph })
    }

    /// The application (client) id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// A token for the organisation: the client-credentials grant for Graph's `.default` scope.
    pub async fn app_token(&self) -> Result<AppToken, TenantError> {
        let answer = self
            .client
            .exchange_client_credentials()
            .add_scope(Scope::new(GRAPH_DEFAULT_SCOPE.to_owned()))
            .request_async(&self.http)
            .await;
        match answer {
            Ok(response) => {
                let lifetime = response.expires_in().unwrap_or(Duration::from_secs(3599));
                let lifetime = chrono::Duration::from_std(lifetime).unwrap_or_default();
                let text = response.access_token().secret().clone();
                let roles = roles_of(&text);
                let secret = SecretString::from(text);
                let expires_at = Utc::now() + lifetime;
                Ok(AppToken { token: AccessToken::from(secret), expires_at, roles })
            }
            Err(RequestTokenError::ServerResponse(response)) if !matches!(response.error(), BasicErrorResponseType::Extension(e) if e == "temporarily_unavailable" || e == "server_error") =>
            {
                let description = response.error_description().cloned().unwrap_or_default();
                let first = description.lines().next().unwrap_or_default().trim().to_owned();
                Err(TenantError::Refused(if first.is_empty() {
                    response.error().to_string()
                } else {
                    first
                }))
            }
            Err(error) => Err(TenantError::Provider(crate::oauth::classify(error))),
        }
    }

    /// The users in scope: the tenant's, or the members of `group`.
    pub async fn directory(
        &self,
        token: &AccessToken,
        group: Option<&str>,
    ) -> Result<Vec<TenantUser>, TenantError> {
        match self.graph.directory(token, group).await {
            Ok(users) => Ok(users),
            Err(ProviderError::Permanent { status: 403, .. }) => {
                Err(TenantError::MissingPermission(if group.is_some() {
                    GROUP_PERMISSION
                } else {
                    USERS_PERMISSION
                }))
            }
            Err(ProviderError::NotFound { .. }) if group.is_some() => {
                Err(TenantError::UnknownGroup(group.unwrap_or_default().to_owned()))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The calendars of `user`'s mailbox, which proves the application may reach it.
    pub async fn calendars(
        &self,
        token: &AccessToken,
        user: &TenantUser,
    ) -> Result<Vec<RemoteCalendar>, TenantError> {
        let token = token.clone().for_mailbox(&user.id);
        self.graph
            .list_calendars(&token)
            .await
            .map_err(|error| refusal(error, &user.email, CALENDAR_PERMISSION))
    }
}

/// The `roles` claim of an application token, read without checking its signature: the token
/// came straight from the token endpoint over TLS, and is only read to tell the administrator
/// which permission is missing before anything is stored (Graph still decides every call).
fn roles_of(token: &str) -> Option<Vec<String>> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let roles =
        claims.get("roles").and_then(serde_json::Value::as_array).map_or_else(Vec::new, |roles| {
            roles.iter().filter_map(serde_json::Value::as_str).map(str::to_owned).collect()
        });
    Some(roles)
}

/// A Graph refusal of a mailbox call, in the administrator's terms: the access policy's 403 is
/// the scope, any other 403 a missing permission (`permission`, the one the call needs).
pub fn refusal(error: ProviderError, user: &str, permission: &'static str) -> TenantError {
    match error {
        ProviderError::Permanent { status: 403, message } if message.contains("AccessPolicy") => {
            TenantError::OutsideScope(user.to_owned())
        }
        ProviderError::Permanent { status: 403, .. } => TenantError::MissingPermission(permission),
        other => TenantError::Provider(other),
    }
}

#[cfg(test)]
mod tests;
