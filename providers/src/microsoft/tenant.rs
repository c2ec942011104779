//! A Microsoft 365 organisation connected once by its administrator: an application registered
//! in the organisation's Microsoft Entra tenant with application permissions an administrator
//! consented to (app-only access), whose client secret, or certificate, gets one token for the
//! organisation (the client-credentials grant, RFC 6749 §4.4; a certificate signs a client
//! assertion instead of sending a secret, RFC 7523 §2.2), and the directory (`/users`, or the members of the
//! security group the application is scoped to) that says who the staff are. Calendar calls
//! then go to `/users/{id}/…` with that token ([`AccessToken::for_mailbox`]).
//!
//! The grant goes through the oauth2 crate, as the staff's own sign-in does: graph-rs-sdk's
//! confidential client (graph-oauth 3) reaches only Microsoft's fixed cloud instances, never a
//! configured authority such as the sandbox's, and every endpoint stays configurable. The
//! directory is read through graph-rs-sdk ([`MicrosoftCalendar::directory`]). A certificate's
//! assertion is signed with jsonwebtoken (ring), as graph-rs-sdk's own certificate credential
//! would need OpenSSL.
//!
//! Every failure says what the administrator can do about it: a refused secret names where
//! secrets live, a missing permission names it and the admin consent, a user outside the
//! application's scope names the group.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, RequestTokenError, Scope,
    TokenResponse as _, TokenUrl,
};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

use super::MicrosoftCalendar;
use crate::ProviderError;
use crate::calendar::{AccessToken, RemoteCalendar};
use crate::refusal::Kept;

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

/// How much life (in seconds) a shared application token must have left to be handed out
/// again: more than a connection's refresh margin, so that a covered calendar whose token is
/// due gets a new one, not the one it is replacing.
const SHARED_TOKEN_MARGIN_SECS: i64 = 600;
const _: () = assert!(SHARED_TOKEN_MARGIN_SECS as u64 > crate::calendar::REFRESH_MARGIN.as_secs());

/// The application tokens of the organisations this process acts for, one per application
/// (its token endpoint, client id and credential), shared by every calendar it covers: one
/// client-credentials grant per organisation an hour rather than one per covered calendar.
/// Clones share the tokens; they are kept in memory only, until they run out.
#[derive(Clone, Default)]
pub struct AppTokens(Arc<Mutex<HashMap<[u8; 32], Slot>>>);

/// One application's token; its lock is held while a token is asked for, so that calendars
/// covered at the same time wait for one grant instead of each asking.
type Slot = Arc<tokio::sync::Mutex<Held>>;

/// What a slot holds: the shared token, and Entra's last refusal of the application's
/// credentials while it stands (told to the calendars asking instead of asking again: see
/// [`crate::refusal`]).
#[derive(Default)]
struct Held {
    token: Option<AppToken>,
    refused: Option<Kept<String>>,
}

impl Held {
    /// Whether the slot has anything worth keeping at `now`.
    fn lives(&self, now: DateTime<Utc>) -> bool {
        self.token.as_ref().is_some_and(|t| t.expires_at > now)
            || self.refused.as_ref().is_some_and(|kept| kept.standing(now).is_some())
    }
}

impl AppTokens {
    /// The slot of the application `key`, made on first use; slots nobody is using whose
    /// tokens ran out (or that never got one) and whose refusal no longer stands go.
    fn slot(&self, key: [u8; 32]) -> Slot {
        let mut slots = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Utc::now();
        slots.retain(|_, slot| {
            // Held elsewhere (about to be filled, or being filled): kept.
            Arc::strong_count(slot) > 1 || slot.try_lock().is_ok_and(|held| held.lives(now))
        });
        slots.entry(key).or_default().clone()
    }
}

impl std::fmt::Debug for AppTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppTokens")
    }
}

/// Which shared token a caller takes ([`Tenant::shared_token`]).
enum Reuse<'a> {
    /// The shared one, whichever it is.
    Any,
    /// The shared one unless it is this one (refused by Graph, or due for renewal).
    AnyBut(&'a SecretString),
    /// None, nor the refusal that stands: Entra is asked.
    Nothing,
}

impl Reuse<'_> {
    fn accepts(&self, token: &AppToken) -> bool {
        match self {
            Self::Any => true,
            Self::AnyBut(refused) => {
                token.token.secret().expose_secret() != refused.expose_secret()
            }
            Self::Nothing => false,
        }
    }
}

/// An organisation's application, as its tenant's token endpoint and Graph reach it.
#[derive(Clone)]
pub struct Tenant {
    client: TokenClient,
    client_id: String,
    token_url: String,
    /// Its certificate, when it proves itself with one rather than with a secret.
    certificate: Option<Certificate>,
    http: reqwest::Client,
    graph: MicrosoftCalendar,
    /// Where its token is kept for the other calendars it covers, under `key`: a digest of the
    /// token endpoint, the client id and the credential (a new secret is another application).
    tokens: AppTokens,
    key: [u8; 32],
}

/// The assertion type of RFC 7523 §2.2, as Entra takes it.
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How long a client assertion is good for.
const ASSERTION_LIFETIME: chrono::Duration = chrono::Duration::minutes(10);

/// An application certificate: its private key signs the client assertions, its SHA-256
/// thumbprint (`x5t#S256`) tells Entra which of the application's certificates to check them with.
#[derive(Clone)]
struct Certificate {
    key: jsonwebtoken::EncodingKey,
    thumbprint: String,
}

impl Certificate {
    /// Whether `credential` is a certificate (PEM) rather than a client secret's value.
    fn given(credential: &str) -> bool {
        credential.trim_start().starts_with("-----BEGIN")
    }

    /// From a PEM bundle holding the certificate and its RSA private key, in either order.
    fn from_pem(text: &str) -> Result<Self, TenantError> {
        let bad = |why: &str| TenantError::BadCertificate(why.to_owned());
        let blocks = pem::parse_many(text).map_err(|_| bad("it is not PEM"))?;
        let certificate = blocks
            .iter()
            .find(|block| block.tag() == "CERTIFICATE")
            .ok_or_else(|| bad("it holds no CERTIFICATE block"))?;
        let private = blocks
            .iter()
            .find(|block| block.tag() == "PRIVATE KEY" || block.tag() == "RSA PRIVATE KEY")
            .ok_or_else(|| {
                bad("it holds no PRIVATE KEY block (export the key with the certificate)")
            })?;
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem::encode(private).as_bytes())
            .map_err(|_| bad("its private key is not an RSA key"))?;
        let digest = <sha2::Sha256 as sha2::Digest>::digest(certificate.contents());
        let thumbprint =
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, digest);
        Ok(Self { key, thumbprint })
    }

    /// A client assertion for `client_id` at `token_url`, good for a few minutes.
    fn assertion(&self, client_id: &str, token_url: &str) -> Result<String, TenantError> {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.x5t_s256 = Some(self.thumbprint.clone());
        let now = Utc::now();
        let claims = serde_json::json!({
            "aud": token_url,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now.timestamp(),
            "iat": now.timestamp(),
            "exp": (now + ASSERTION_LIFETIME).timestamp(),
        });
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| TenantError::BadCertificate(format!("it cannot sign: {e}")))
    }
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant").field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

/// The organisation's token and when it runs out.
#[derive(Clone, Debug)]
pub struct AppToken {
    /// The bearer token (for no mailbox yet: see [`AccessToken::for_mailbox`]).
    pub token: AccessToken,
    /// When Microsoft says it expires.
    pub expires_at: DateTime<Utc>,
    /// The application permissions it carries (its `roles` claim), when the token is a JWT
    /// Kalends can read; `None` when it is not.
    pub roles: Option<Vec<String>>,
    /// The id of the tenant that issued it (its `tid` claim), whichever name the authority was
    /// asked by (a domain name such as `contoso.onmicrosoft.com` stands for it).
    pub tenant_id: Option<String>,
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
    /// Whether the user has an Exchange Online mailbox (a licence with Exchange), and so a
    /// calendar: an account without one (a service account, an unlicensed user) is listed and
    /// left out of the staff.
    pub mailbox: bool,
}

impl TenantUser {
    pub(super) fn from_entry(entry: super::wire::DirectoryEntry) -> Option<Self> {
        let mailbox = entry.has_mailbox();
        let email = entry.mail.filter(|mail| !mail.is_empty()).or(entry.user_principal_name)?;
        let name =
            entry.display_name.filter(|name| !name.is_empty()).unwrap_or_else(|| email.clone());
        let enabled = entry.account_enabled.unwrap_or(true);
        Some(Self { id: entry.id, email, name, enabled, mailbox })
    }
}

/// Why the organisation could not be used, each saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// The tenant, the application or its secret was refused.
    #[error(
        "Microsoft refused the application's credentials ({0}): check the tenant id, the application (client) id, and the client secret's value (not its id) or the certificate uploaded to the application, in the {APP_PAGE}"
    )]
    Refused(String),
    /// An application permission is missing, or no administrator consented to it.
    #[error(
        "the application lacks {0} (application permission) or admin consent: add it in the {APP_PAGE} > API permissions, then grant admin consent for the organisation{exchange}",
        exchange = in_exchange(.0)
    )]
    MissingPermission(&'static str),
    /// The mailbox is outside the group the Exchange administrator scoped the application to.
    #[error(
        "{0} is outside the application's access scope: add them to the security group the application is scoped to (application access policy or RBAC for Applications in Exchange Online)"
    )]
    OutsideScope(String),
    /// The mailbox is outside the scope of the Exchange role that alone lets the application
    /// into calendars (RBAC for Applications: its token carries no calendar permission).
    #[error(
        "{0} is outside the scope of the application's role in Exchange Online (RBAC for Applications): add them to the group the role assignment is scoped to, or widen its scope (Get-ManagementRoleAssignment -RoleAssignee <the application> shows it)"
    )]
    OutsideRole(String),
    /// A covered mailbox Graph no longer reaches (`MailboxNotEnabledForRESTAPI`).
    #[error(
        "{0} has no Exchange Online mailbox the calendar API reaches any more (moved to the organisation's own Exchange server, inactive, or its licence taken away): the next directory read takes them out of the organisation's members until it has one"
    )]
    NoMailbox(String),
    /// The security group named does not exist.
    #[error("the tenant has no group {0}: give the object id of a security group")]
    UnknownGroup(String),
    /// The certificate given cannot be used.
    #[error(
        "the certificate cannot be used: {0}; give the certificate and its private key, both in PEM (for example `cat app.crt app.key`)"
    )]
    BadCertificate(String),
    /// Anything else (a timeout, a 5xx: worth retrying).
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

impl Tenant {
    /// The application `client_id` of tenant `tenant_id`, proving itself with `credential` (a
    /// client secret's value, or a PEM bundle of its certificate and private key), its tokens
    /// asked at `{authority_url}/{tenant_id}/oauth2/v2.0/token` (Microsoft's, or the
    /// sandbox's), Graph reached through `graph`.
    pub fn new(
        tenant_id: &str,
        client_id: &str,
        credential: &SecretString,
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
        let certificate = if Certificate::given(credential.expose_secret()) {
            Some(Certificate::from_pem(credential.expose_secret())?)
        } else {
            None
        };
        let mut client = BasicClient::new(ClientId::new(client_id.to_owned()))
            .set_token_uri(TokenUrl::new(token_url.clone()).map_err(|e| invalid(e.to_string()))?)
            .set_auth_type(AuthType::RequestBody);
        if certificate.is_none() {
            client =
                client.set_client_secret(ClientSecret::new(credential.expose_secret().to_owned()));
        }
        // No redirects: a token endpoint that redirects is an attack (oauth2's own advice).
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        let mut digest = Sha256::new();
        for part in [token_url.as_str(), client_id, credential.expose_secret()] {
            digest.update(part.len().to_be_bytes());
            digest.update(part.as_bytes());
        }
        Ok(Self {
            client,
            client_id: client_id.to_owned(),
            token_url,
            certificate,
            http,
            graph,
            tokens: AppTokens::default(),
            key: digest.finalize().into(),
        })
    }

    /// The same application, its token shared through `tokens` with every other `Tenant` of it
    /// made with them.
    pub fn sharing(self, tokens: &AppTokens) -> Self {
        Self { tokens: tokens.clone(), ..self }
    }

    /// The application (client) id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Whether the application proves itself with a certificate.
    pub fn uses_certificate(&self) -> bool {
        self.certificate.is_some()
    }

    /// A token for the organisation: the one shared while it has some life left
    /// (`SHARED_TOKEN_MARGIN_SECS`), else a new one, shared from then; while a refusal of the
    /// credentials stands, that refusal.
    pub async fn app_token(&self) -> Result<AppToken, TenantError> {
        self.shared_token(Reuse::Any).await
    }

    /// A new token for the organisation, shared from now on: what a check of the application's
    /// permissions needs (an administrator who just consented to one, or replaced a refused
    /// secret, is not told what the token or the refusal before said).
    pub async fn new_app_token(&self) -> Result<AppToken, TenantError> {
        self.shared_token(Reuse::Nothing).await
    }

    /// A token other than `refused` (a covered calendar's token Graph answered 401, or one due
    /// for renewal): the shared one unless it is that one, else a new one; while a refusal of
    /// the credentials stands, that refusal.
    pub async fn app_token_instead_of(
        &self,
        refused: &SecretString,
    ) -> Result<AppToken, TenantError> {
        self.shared_token(Reuse::AnyBut(refused)).await
    }

    /// The shared token when it has some life left and `reuse` accepts it, or the refusal that
    /// stands, else a new one, shared from then (or its refusal, kept); the slot stays locked
    /// throughout, so calendars asking at once wait for one grant.
    async fn shared_token(&self, reuse: Reuse<'_>) -> Result<AppToken, TenantError> {
        let slot = self.tokens.slot(self.key);
        let mut held = slot.lock().await;
        let now = Utc::now();
        if !matches!(reuse, Reuse::Nothing) {
            let margin = chrono::Duration::seconds(SHARED_TOKEN_MARGIN_SECS);
            if let Some(token) = held.token.as_ref().filter(|t| t.expires_at - now > margin)
                && reuse.accepts(token)
            {
                return Ok(token.clone());
            }
            if let Some(refusal) = held.refused.as_ref().and_then(|kept| kept.standing(now)) {
                return Err(TenantError::Refused(refusal.clone()));
            }
        }
        match self.request_token().await {
            Ok(token) => {
                *held = Held { token: Some(token.clone()), refused: None };
                Ok(token)
            }
            Err(TenantError::Refused(refusal)) => {
                held.refused = Some(Kept::now(refusal.clone()));
                Err(TenantError::Refused(refusal))
            }
            Err(error) => Err(error),
        }
    }

    /// Asks the token endpoint: the client-credentials grant for Graph's `.default` scope, with
    /// the secret or a client assertion the certificate signed.
    async fn request_token(&self) -> Result<AppToken, TenantError> {
        let mut request = self
            .client
            .exchange_client_credentials()
            .add_scope(Scope::new(GRAPH_DEFAULT_SCOPE.to_owned()));
        if let Some(certificate) = &self.certificate {
            let assertion = certificate.assertion(&self.client_id, &self.token_url)?;
            request = request
                .add_extra_param("client_assertion_type", ASSERTION_TYPE)
                .add_extra_param("client_assertion", assertion);
        }
        let answer = request.request_async(&self.http).await;
        match answer {
            Ok(response) => {
                let lifetime = response.expires_in().unwrap_or(Duration::from_secs(3599));
                let lifetime = chrono::Duration::from_std(lifetime).unwrap_or_default();
                let text = response.access_token().secret().clone();
                let claims = claims_of(&text);
                let roles = claims.as_ref().map(roles_in);
                let tenant_id = claims
                    .as_ref()
                    .and_then(|claims| claims.get("tid")?.as_str())
                    .map(str::to_ascii_lowercase);
                let secret = SecretString::from(text);
                let expires_at = Utc::now() + lifetime;
                Ok(AppToken { token: AccessToken::from(secret), expires_at, roles, tenant_id })
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
            Ok((users, 0)) => Ok(users),
            // Members listed by their ids alone: the application reads the group, not users.
            Ok(_) => Err(TenantError::MissingPermission(USERS_PERMISSION)),
            Err(ProviderError::Permanent { status: 403, .. }) => {
                Err(TenantError::MissingPermission(if group.is_some() {
                    GROUP_PERMISSION
                } else {
                    USERS_PERMISSION
                }))
            }
            // Graph's 400 "Invalid object identifier" for an id that is none (a group's name).
            Err(ProviderError::NotFound { .. } | ProviderError::Permanent { status: 400, .. })
                if group.is_some() =>
            {
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

    /// Whether Graph lets the application into the calendars of the mailbox `id` (`email`),
    /// asked rather than read from the token: its calendars listed and, for `write`, its
    /// default calendar updated with nothing. What proves a permission that Exchange grants
    /// itself (RBAC for Applications) and no token carries.
    pub async fn reaches(
        &self,
        token: &AccessToken,
        id: &str,
        email: &str,
        write: bool,
    ) -> Result<(), TenantError> {
        let permission = if write { CALENDAR_PERMISSION } else { READ_PERMISSION };
        let token = token.clone().for_mailbox(id);
        let asked = async {
            self.graph.list_calendars(&token).await?;
            if write {
                self.graph.write_nothing(&token).await?;
            }
            Ok(())
        };
        asked.await.map_err(|error| refusal(error, email, permission))
    }
}

/// The other way to grant a calendar permission (no directory one): Exchange's own.
fn in_exchange(permission: &str) -> String {
    if permission.starts_with("Calendars.") {
        format!(
            " (or, in Exchange Online, assign the application the role Application {permission} with RBAC for Applications, scoped to the staff's group)"
        )
    } else {
        String::new()
    }
}

/// The claims of an application token, read without checking its signature: the token came
/// straight from the token endpoint over TLS, and is only read to tell the administrator which
/// permission is missing before anything is stored, and which tenant it is (Graph still decides
/// every call). `None` when the token is not a JWT.
fn claims_of(token: &str) -> Option<serde_json::Value> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The `roles` claim: the application permissions a token carries.
fn roles_in(claims: &serde_json::Value) -> Vec<String> {
    claims.get("roles").and_then(serde_json::Value::as_array).map_or_else(Vec::new, |roles| {
        roles.iter().filter_map(serde_json::Value::as_str).map(str::to_owned).collect()
    })
}

/// The application permission a tier needs in calendars: reading for busy times only
/// (`busy_only`), else writing.
pub fn permission(busy_only: bool) -> &'static str {
    if busy_only { READ_PERMISSION } else { CALENDAR_PERMISSION }
}

/// A Graph refusal to let the application `token` into the mailbox of `user` at all (its
/// calendars listed, its schedule asked), in the administrator's terms. A token that carries
/// no calendar permission reaches mailboxes through Exchange's role assignments alone (RBAC for
/// Applications), so its plain 403 is the mailbox outside the role's scope; otherwise as
/// [`refusal`] says.
pub fn mailbox_refusal(
    error: ProviderError,
    token: &AccessToken,
    user: &str,
    permission: &'static str,
) -> TenantError {
    let through_exchange = claims_of(token.secret().expose_secret()).is_some_and(|claims| {
        !roles_in(&claims).iter().any(|role| {
            [READ_PERMISSION, CALENDAR_PERMISSION].iter().any(|p| role.eq_ignore_ascii_case(p))
        })
    });
    match error {
        ProviderError::Permanent { status: 403, message }
            if through_exchange && !message.contains("AccessPolicy") =>
        {
            TenantError::OutsideRole(user.to_owned())
        }
        other => refusal(other, user, permission),
    }
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
