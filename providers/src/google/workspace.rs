//! A Google Workspace connected once by its administrator: a service account with domain-wide
//! delegation, whose key signs a JWT-bearer assertion for each user (yup-oauth2's service-account
//! flow, the authenticator of the Google client stack; `sub` is the user), and the Admin SDK
//! Directory, read as an administrator, that says who the users are.
//!
//! Every failure says what the administrator can do about it: a scope not delegated names the
//! Admin console's page and the client id, a user outside the directory names the user, a
//! directory reader who is no administrator names who to use instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use yup_oauth2::error::AuthErrorCode;
use yup_oauth2::{ServiceAccountAuthenticator, ServiceAccountKey};

use crate::ProviderError;
use crate::calendar::AccessToken;
use crate::outbound::{BodyError, MAX_API_ANSWER, read_capped};
use crate::refusal::Kept;

/// Reads and writes the events of a user's calendars.
pub const CALENDAR_SCOPE: &str = "https://www.googleapis.com/auth/calendar.events";
/// Lists the user's calendars (which to write to, which to read busy times from).
pub const CALENDAR_LIST_SCOPE: &str = "https://www.googleapis.com/auth/calendar.readonly";
/// Only when a user is busy (the busy-times-only tier).
pub const FREE_BUSY_SCOPE: &str = "https://www.googleapis.com/auth/calendar.freebusy";
/// Reads the directory's users.
pub const DIRECTORY_SCOPE: &str = "https://www.googleapis.com/auth/admin.directory.user.readonly";

/// Where Admin console grants domain-wide delegation, as the administrator finds it.
const DELEGATION_PAGE: &str = "Admin console under Security > Access and data control > API controls > Domain-wide delegation";

/// The Admin SDK's largest page of users.
const DIRECTORY_PAGE: u32 = 500;
/// The most pages one read of the directory follows (500,000 users): a directory that names a
/// next page for ever is refused, not read until memory runs out.
const DIRECTORY_PAGES: usize = 1000;

/// The refusals of Workspaces' keys that stand (the delegation not granted for the scopes, a
/// key Google no longer accepts: see [`crate::refusal`]), shared by the covered calendars of
/// every Workspace made with them ([`Workspace::covered_token`]); in memory only.
#[derive(Clone, Default)]
pub struct KeyRefusals(Arc<Mutex<HashMap<Slot, Kept<WorkspaceError>>>>);

/// A key (the digest of [`Workspace`]) and the scopes asked, space-separated.
type Slot = ([u8; 32], String);

impl KeyRefusals {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Slot, Kept<WorkspaceError>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The refusal that stands for `slot` (a key and the scopes asked), if any; those no longer
    /// standing go.
    fn standing(&self, slot: &Slot) -> Option<WorkspaceError> {
        let mut kept = self.lock();
        let now = Utc::now();
        kept.retain(|_, refusal| refusal.standing(now).is_some());
        kept.get(slot).and_then(|kept| kept.standing(now)).cloned()
    }

    /// Keeps `error` for `slot` when it holds for every user of the key: the delegation not
    /// granted for the scopes, or the key refused.
    fn keep(&self, slot: Slot, error: &WorkspaceError) {
        if matches!(error, WorkspaceError::NotDelegated { .. } | WorkspaceError::KeyRefused(_)) {
            self.lock().insert(slot, Kept::now(error.clone()));
        }
    }

    /// Forgets every refusal kept for the key `digest`.
    fn forget(&self, digest: &[u8; 32]) {
        self.lock().retain(|(key, _), _| key != digest);
    }
}

impl std::fmt::Debug for KeyRefusals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyRefusals")
    }
}

/// A Workspace, as its service account and its endpoints reach it.
#[derive(Clone)]
pub struct Workspace {
    key: ServiceAccountKey,
    client_id: String,
    directory_base_url: String,
    http: reqwest::Client,
    /// Where the refusals of its key are kept for its other covered calendars, under `digest`:
    /// of the token endpoint, the service account and its private key.
    refusals: KeyRefusals,
    digest: [u8; 32],
    /// The administrator's directory token, kept while it lasts: one read of the directory
    /// (its listing, then a lookup of each leaver) asks for it again and again.
    directory_token: Arc<tokio::sync::Mutex<Option<KeptToken>>>,
}

/// A token kept for `user` until `expires_at`.
struct KeptToken {
    user: String,
    token: AccessToken,
    expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspace")
            .field("service_account", &self.key.client_email)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// A user's access token, minted for the scopes asked, and when it runs out.
#[derive(Debug)]
pub struct UserToken {
    /// The bearer token.
    pub token: AccessToken,
    /// When Google says it expires.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A user of the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryUser {
    /// The directory's id for the user (stable across renames).
    pub id: String,
    /// The primary e-mail address.
    pub email: String,
    /// The full name.
    pub name: String,
    /// The organisational unit, `/Staff` say.
    pub org_unit_path: String,
    /// Suspended users are listed; they get no token.
    pub suspended: bool,
}

/// Why the Workspace could not be used, each saying what to do.
#[derive(Clone, Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// The uploaded key is not a usable service account key.
    #[error("the service account key is not usable: {0}")]
    BadKey(String),
    /// The key was deleted, or its service account was.
    #[error(
        "Google does not accept the key of {0}: it was deleted, or its service account was; create a new JSON key for the service account and upload it"
    )]
    KeyRefused(String),
    /// Domain-wide delegation does not cover these scopes.
    #[error(
        "domain-wide delegation is not granted for scope {scopes}: add it in the {DELEGATION_PAGE}, for client id {client_id}"
    )]
    NotDelegated {
        /// The scopes asked, space-separated.
        scopes: String,
        /// The service account's client id, as the Admin console asks for it.
        client_id: String,
    },
    /// The user is not in the Workspace (or is suspended).
    #[error("{0} is not an active user of this Google Workspace")]
    UnknownUser(String),
    /// The directory refused this reader.
    #[error(
        "{0} may not read the Workspace directory: name a Workspace administrator as the administrator e-mail"
    )]
    NotAdmin(String),
    /// The administrator's rights do not reach this user (a delegated administrator's role
    /// given for other organisational units).
    #[error(
        "{0} may not read this user in the directory: its administrator rights do not reach their organisational unit"
    )]
    NotReadable(String),
    /// The directory knows no such domain (Google's 404 "Domain not found.").
    #[error(
        "Google does not know the domain {0}: name the Workspace's primary domain, or one of its secondary domains, as the Admin console lists them under Account > Domains"
    )]
    UnknownDomain(String),
    /// The directory refused the organisational unit asked for.
    #[error(
        "Google refused the organisational unit {0}: name it by its path as the Admin console shows it under Directory > Organizational units, such as /Staff"
    )]
    BadUnit(String),
    /// Anything else the provider said (a timeout, a 5xx: worth retrying; or a refusal no
    /// other variant names, which is not).
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

impl Workspace {
    /// The Workspace whose service account key (the JSON file Google Cloud hands out) is `key`,
    /// its token requests sent to `token_url` (Google's, or the sandbox's) whatever the key
    /// names, its directory read at `directory_base_url` (with its trailing slash).
    pub fn new(
        key: &Value,
        token_url: &str,
        directory_base_url: &str,
        timeout: std::time::Duration,
    ) -> Result<Self, WorkspaceError> {
        if key.get("type").and_then(Value::as_str) != Some("service_account") {
            return Err(WorkspaceError::BadKey(
                "it is not a service account key (its \"type\" is not \"service_account\")".into(),
            ));
        }
        let mut key: ServiceAccountKey = serde_json::from_value(key.clone())
            .map_err(|e| WorkspaceError::BadKey(format!("a field is missing or wrong: {e}")))?;
        let client_id = key.client_id.clone().filter(|id| !id.is_empty()).ok_or_else(|| {
            WorkspaceError::BadKey("it has no client_id (domain-wide delegation names it)".into())
        })?;
        if !key.private_key.contains("PRIVATE KEY-----") {
            return Err(WorkspaceError::BadKey("its private_key is not a PEM private key".into()));
        }
        key.token_uri = token_url.to_owned();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| ProviderError::permanent(0, format!("http client: {e}")))?;
        let mut digest = Sha256::new();
        for part in [key.token_uri.as_str(), key.client_email.as_str(), key.private_key.as_str()] {
            digest.update(part.len().to_be_bytes());
            digest.update(part.as_bytes());
        }
        Ok(Self {
            key,
            client_id,
            directory_base_url: directory_base_url.to_owned(),
            http,
            refusals: KeyRefusals::default(),
            digest: digest.finalize().into(),
            directory_token: Arc::default(),
        })
    }

    /// The same Workspace, the refusals of its key shared through `refusals` with every other
    /// `Workspace` made with them.
    pub fn sharing(self, refusals: &KeyRefusals) -> Self {
        Self { refusals: refusals.clone(), ..self }
    }

    /// The service account's address.
    pub fn service_account(&self) -> &str {
        &self.key.client_email
    }

    /// The client id domain-wide delegation is granted to.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// A token for `user` with `scopes`, signed by the service account.
    pub async fn user_token(
        &self,
        user: &str,
        scopes: &[&str],
    ) -> Result<UserToken, WorkspaceError> {
        let authenticator = ServiceAccountAuthenticator::builder(self.key.clone())
            .subject(user)
            .build()
            .await
            .map_err(|e| WorkspaceError::BadKey(format!("its private key cannot sign: {e}")))?;
        let token = authenticator.token(scopes).await.map_err(|e| self.judge(e, user, scopes))?;
        self.refusals.forget(&self.digest);
        // An answer without a token is not a refusal (a 429 or 5xx whose body is not the
        // token endpoint's error reads as one): worth another try.
        let secret = token.token().ok_or_else(|| {
            ProviderError::transient("Google's token endpoint answered without an access token")
        })?;
        let expires_at =
            token.expiration_time().and_then(|at| DateTime::from_timestamp(at.unix_timestamp(), 0));
        Ok(UserToken {
            token: AccessToken::from(SecretString::from(secret.to_owned())),
            expires_at,
        })
    }

    /// A token for `admin` to read the directory with: the one kept while it has a minute
    /// left, else a new one, kept.
    async fn directory_token(&self, admin: &str) -> Result<AccessToken, WorkspaceError> {
        let mut kept = self.directory_token.lock().await;
        let fresh = |k: &KeptToken| {
            k.user == admin && k.expires_at - chrono::Duration::seconds(60) > Utc::now()
        };
        if let Some(kept) = kept.as_ref().filter(|k| fresh(k)) {
            return Ok(kept.token.clone());
        }
        let minted = self.user_token(admin, &[DIRECTORY_SCOPE]).await?;
        *kept = minted.expires_at.map(|expires_at| KeptToken {
            user: admin.to_owned(),
            token: minted.token.clone(),
            expires_at,
        });
        Ok(minted.token)
    }

    /// A token for `user`, whose calendar the organisation covers, as [`Self::user_token`]
    /// gives it; except that while a refusal of this key and these `scopes` that holds for every
    /// user stands (kept for a minute), that refusal, without asking Google.
    pub async fn covered_token(
        &self,
        user: &str,
        scopes: &[&str],
    ) -> Result<UserToken, WorkspaceError> {
        let slot = (self.digest, scopes.join(" "));
        if let Some(refusal) = self.refusals.standing(&slot) {
            return Err(refusal);
        }
        let answer = self.user_token(user, scopes).await;
        if let Err(error) = &answer {
            self.refusals.keep(slot, error);
        }
        answer
    }

    /// What a refused token request means for the administrator.
    fn judge(&self, error: yup_oauth2::Error, user: &str, scopes: &[&str]) -> WorkspaceError {
        let yup_oauth2::Error::AuthError(refusal) = error else {
            // No answer, or one that was not a token endpoint's: worth another try.
            return ProviderError::transient(format!("Google's token endpoint: {error}")).into();
        };
        if passing(&refusal.error) {
            return ProviderError::transient(format!("Google's token endpoint: {refusal}")).into();
        }
        let description = refusal.error_description.clone().unwrap_or_default();
        match refusal.error {
            AuthErrorCode::UnauthorizedClient | AuthErrorCode::AccessDenied => {
                WorkspaceError::NotDelegated {
                    scopes: scopes.join(" "),
                    client_id: self.client_id.clone(),
                }
            }
            // "Invalid email or User ID", and at times "Not a valid email or user ID."
            AuthErrorCode::InvalidGrant
                if description.to_ascii_lowercase().contains("email or user id") =>
            {
                WorkspaceError::UnknownUser(user.to_owned())
            }
            AuthErrorCode::InvalidGrant
                if description.contains("account not found")
                    || description.contains("Invalid JWT Signature") =>
            {
                WorkspaceError::KeyRefused(self.key.client_email.clone())
            }
            _ => ProviderError::permanent(
                400,
                format!("Google refused the service account: {refusal}"),
            )
            .into(),
        }
    }

    /// The directory's users of `domain`, within `org_unit` (and the units below it) when one
    /// is named, read as `admin`.
    pub async fn directory(
        &self,
        admin: &str,
        domain: &str,
        org_unit: Option<&str>,
    ) -> Result<Vec<DirectoryUser>, WorkspaceError> {
        let token = self.directory_token(admin).await?;
        let url = format!("{}users", self.directory_base_url);
        let mut users = Vec::new();
        let mut page_token: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..DIRECTORY_PAGES {
            let mut query =
                vec![("domain", domain.to_owned()), ("maxResults", DIRECTORY_PAGE.to_string())];
            if let Some(unit) = org_unit {
                query.push(("query", unit_query(unit)));
            }
            if let Some(next) = &page_token {
                query.push(("pageToken", next.clone()));
            }
            let response = self
                .http
                .get(&url)
                .query(&query)
                .bearer_auth(token.secret().expose_secret())
                .send()
                .await
                .map_err(|e| ProviderError::transient(format!("the Workspace directory: {e}")))?;
            let status = response.status();
            if status == reqwest::StatusCode::FORBIDDEN {
                return Err(WorkspaceError::NotAdmin(admin.to_owned()));
            }
            if status == reqwest::StatusCode::NOT_FOUND {
                return Err(WorkspaceError::UnknownDomain(domain.to_owned()));
            }
            if !status.is_success() {
                let refusal = google_message(response).await;
                // Google names a unit the Workspace does not have "INVALID_OU_ID"; any other 400
                // is not the unit's fault, and is passed on in Google's words.
                if let Some(unit) = org_unit.filter(|_| refusal.contains("INVALID_OU_ID")) {
                    return Err(WorkspaceError::BadUnit(unit.to_owned()));
                }
                return Err(directory_refusal(status, &refusal));
            }
            let page: UsersPage = directory_answer(response).await?;
            users.extend(page.users.into_iter().map(DirectoryUser::from));
            match page.next_page_token {
                Some(next) if !next.is_empty() => {
                    if !seen.insert(next.clone()) {
                        let message = "the Workspace directory named the same page again";
                        return Err(ProviderError::permanent(0, message).into());
                    }
                    page_token = Some(next);
                }
                _ => return Ok(users),
            }
        }
        let message = format!("the Workspace directory did not end after {DIRECTORY_PAGES} pages");
        Err(ProviderError::permanent(0, message).into())
    }

    /// One user of the directory by their id (`users.get`, which also takes an address), read
    /// as `admin`, wherever they are in the Workspace; `None` when the directory has no such
    /// user (deleted).
    pub async fn user(
        &self,
        admin: &str,
        id: &str,
    ) -> Result<Option<DirectoryUser>, WorkspaceError> {
        let token = self.directory_token(admin).await?;
        let mut url = reqwest::Url::parse(&format!("{}users/", self.directory_base_url))
            .map_err(|e| ProviderError::permanent(0, format!("the directory's address: {e}")))?;
        // One path segment, escaped: an id is digits, but nothing here trusts that.
        url.path_segments_mut()
            .map_err(|()| ProviderError::permanent(0, "the directory's address has no path"))?
            .pop_if_empty()
            .push(id);
        let response = self
            .http
            .get(url)
            .bearer_auth(token.secret().expose_secret())
            .send()
            .await
            .map_err(|e| ProviderError::transient(format!("the Workspace directory: {e}")))?;
        let status = response.status();
        match status {
            reqwest::StatusCode::NOT_FOUND => return Ok(None),
            // An administrator whose rights do not reach this user (a delegated administrator
            // of some units): about the user, not about the administrator's standing.
            reqwest::StatusCode::FORBIDDEN => {
                return Err(WorkspaceError::NotReadable(admin.to_owned()));
            }
            status if !status.is_success() => {
                return Err(directory_refusal(status, &google_message(response).await));
            }
            _ => {}
        }
        let user: UserResource = directory_answer(response).await?;
        Ok(Some(DirectoryUser::from(user)))
    }
}

/// A successful directory answer, read up to [`MAX_API_ANSWER`] (a page of 500 users is well
/// under a mebibyte).
async fn directory_answer<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, WorkspaceError> {
    let body = read_capped(response, MAX_API_ANSWER).await.map_err(|error| match error {
        BodyError::TooLarge { limit } => {
            ProviderError::too_large("the Workspace directory's", limit)
        }
        BodyError::Transport(e) => {
            ProviderError::transient(format!("the Workspace directory: {e}"))
        }
    })?;
    serde_json::from_slice(&body).map_err(|e| {
        ProviderError::transient(format!("the Workspace directory's answer is unreadable: {e}"))
            .into()
    })
}

/// The directory's answer `status` other than a success or a refusal of the administrator, with
/// Google's `refusal`: passing when Google failed or throttled.
fn directory_refusal(status: reqwest::StatusCode, refusal: &str) -> WorkspaceError {
    let message = format!("the Workspace directory answered {status}: {refusal}");
    match status.is_server_error() || status.as_u16() == 429 {
        true => ProviderError::transient(message),
        false => ProviderError::permanent(status.as_u16(), message),
    }
    .into()
}

/// Whether the token endpoint's error says it failed for a moment: OAuth's `server_error` and
/// `temporarily_unavailable` (RFC 6749, section 5.2), and Google's `internal_failure`.
fn passing(code: &AuthErrorCode) -> bool {
    matches!(code.as_str(), "internal_failure" | "temporarily_unavailable" | "server_error")
}

/// The directory query for the users of `unit` and the units below it, the unit quoted as
/// Google's query syntax asks (a quote or backslash in its name escaped with a backslash).
fn unit_query(unit: &str) -> String {
    let escaped = unit.replace('\\', "\\\\").replace('\'', "\\'");
    format!("orgUnitPath='{escaped}'")
}

/// The message of a Google error answer (`{"error": {"message": ...}}`), or what little can be
/// said when the body is not one; at most a few kilobytes of a hostile body are read.
async fn google_message(response: reqwest::Response) -> String {
    #[derive(Deserialize)]
    struct Body {
        error: Error,
    }
    #[derive(Deserialize)]
    struct Error {
        message: String,
    }
    let body = read_capped(response, 16 * 1024).await.unwrap_or_default();
    serde_json::from_slice::<Body>(&body)
        .map(|body| body.error.message)
        .unwrap_or_else(|_| "no reason given".to_owned())
}

/// A page of `users.list`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsersPage {
    #[serde(default)]
    users: Vec<UserResource>,
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserResource {
    id: String,
    primary_email: String,
    #[serde(default)]
    name: Option<Name>,
    #[serde(default)]
    org_unit_path: Option<String>,
    #[serde(default)]
    suspended: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Name {
    full_name: Option<String>,
}

impl From<UserResource> for DirectoryUser {
    fn from(user: UserResource) -> Self {
        Self {
            name: user.name.and_then(|n| n.full_name).unwrap_or_else(|| user.primary_email.clone()),
            id: user.id,
            email: user.primary_email,
            org_unit_path: user.org_unit_path.unwrap_or_else(|| "/".into()),
            suspended: user.suspended,
        }
    }
}

#[cfg(test)]
mod tests;
