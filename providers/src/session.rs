//! Access tokens for a connection: refreshed before they expire (a margin, not after a 401), by
//! one worker at a time (a lease in the database), stored atomically (Microsoft's rotated refresh
//! token included), and a dead grant turns the connection into `needs_reauth`.
//!
//! Where the tokens are kept is the caller's: a [`TokenStore`] (Kalends keeps them sealed in its
//! database, `kalends_jobs::SealedTokenStore`). This crate never opens a database.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kalends_core::domain::{Connection, ConnectionTokens};
use secrecy::{ExposeSecret as _, SecretString};
use uuid::Uuid;

use crate::calendar::{AccessToken, Provider, REFRESH_MARGIN};
use crate::error::ProviderError;
use crate::google::workspace::{self, WorkspaceError};
use crate::limits::{Account, Budgets, RateLimits};
use crate::microsoft::tenant::{self, TenantError};
use crate::provider::{CalendarProvider, Providers};

/// How long one refresh may hold the lease.
const LEASE: Duration = Duration::from_secs(30);
/// How often a worker waiting for another's refresh looks again.
const WAIT_STEP: Duration = Duration::from_millis(100);
/// How long a minted token is taken to last when the token endpoint does not say.
const DEFAULT_LIFETIME: chrono::Duration = chrono::Duration::minutes(55);

/// Why the place that keeps the tokens failed (a database error, in Kalends).
pub type TokenStoreError = Box<dyn std::error::Error + Send + Sync>;

/// Where the tokens of connections are kept, with a version each and a refresh lease so that one
/// worker at a time refreshes a connection's token.
#[async_trait::async_trait]
pub trait TokenStore: Send + Sync + std::fmt::Debug {
    /// The connection's tokens, their version and the mailbox they act on; `None` when it has
    /// none (disconnected).
    async fn tokens(&self, connection: Uuid) -> Result<Option<StoredTokens>, TokenStoreError>;

    /// Takes the refresh lease of `connection` until `until` if its tokens are still at
    /// `version` and no one else holds the lease; whether it was taken.
    async fn lease_refresh(
        &self,
        connection: Uuid,
        version: i64,
        until: DateTime<Utc>,
    ) -> Result<bool, TokenStoreError>;

    /// Gives the refresh lease back without new tokens.
    async fn release_refresh(&self, connection: Uuid) -> Result<(), TokenStoreError>;

    /// Keeps the refreshed tokens (a new version) and gives the lease back, atomically.
    async fn save_refreshed(
        &self,
        connection: Uuid,
        tokens: &ConnectionTokens,
    ) -> Result<(), TokenStoreError>;

    /// The grant of the tokens at `version` is dead: the connection needs its staff member to
    /// connect again, for `reason`, unless newer tokens were stored meanwhile (the staff member
    /// reconnected while the refusal was on its way: the new grant is not the dead one).
    async fn grant_dead(
        &self,
        connection: Uuid,
        version: i64,
        reason: &str,
    ) -> Result<(), TokenStoreError>;

    /// The organisation whose administrator granted the connection's calendar, when it is one
    /// an organisation-wide connection covers: its tokens are minted for the user, not
    /// refreshed. `None` for a connection of the staff member's own.
    async fn delegation(&self, _connection: Uuid) -> Result<Option<Delegation>, TokenStoreError> {
        Ok(None)
    }

    /// The organisation refused the connection's tokens at `version` (the delegation was taken
    /// back, the user left the Workspace): its administrator, not the staff member, must act, for
    /// `reason`; nothing changes when newer tokens were stored meanwhile.
    async fn delegation_refused(
        &self,
        connection: Uuid,
        version: i64,
        reason: &str,
    ) -> Result<(), TokenStoreError> {
        self.grant_dead(connection, version, reason).await
    }
}

/// A connection's tokens as kept.
#[derive(Clone, Debug)]
pub struct StoredTokens {
    /// The tokens.
    pub tokens: ConnectionTokens,
    /// Their version (one more at each refresh).
    pub version: i64,
    /// The mailbox an organisation's application token acts on for the connection (a covered
    /// Microsoft calendar: its member's directory id); `None` for a token of the holder's own.
    /// Read with the tokens: asking for it apart cost every Microsoft token read a statement.
    pub mailbox: Option<String>,
}

/// How a covered connection's tokens are minted: a Google Workspace's service account acting
/// for the user (domain-wide delegation), or a Microsoft 365 application's own token (app-only
/// access), addressed to the user's mailbox.
#[derive(Clone)]
pub struct Delegation {
    /// Whose credentials mint the tokens.
    pub grant: OrganisationGrant,
    /// The user whose calendar it is: their address (Google), their directory id (Microsoft).
    pub subject: String,
    /// Only busy times (the free/busy scope), no events written.
    pub busy_only: bool,
}

/// An organisation's credentials, as its administrator gave them (`Debug` shows no secret).
#[derive(Clone, Debug)]
pub enum OrganisationGrant {
    /// A Google Workspace's service account.
    Workspace {
        /// Its JSON key, as uploaded.
        key: SecretString,
    },
    /// An application registered in a Microsoft 365 tenant.
    Microsoft {
        /// The tenant (directory) id.
        tenant_id: String,
        /// The application (client) id.
        client_id: String,
        /// The client secret.
        secret: SecretString,
    },
}

impl std::fmt::Debug for Delegation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.grant {
            OrganisationGrant::Workspace { .. } => "google",
            OrganisationGrant::Microsoft { .. } => "microsoft",
        };
        f.debug_struct("Delegation")
            .field("grant", &kind)
            .field("subject", &self.subject)
            .field("busy_only", &self.busy_only)
            .finish_non_exhaustive()
    }
}

impl Delegation {
    /// The scopes its tokens are asked with.
    pub fn scopes(&self) -> &'static [&'static str] {
        delegated_scopes(self.busy_only)
    }
}

/// The scopes a Workspace user's token is minted with: the calendar's, or free/busy only.
pub fn delegated_scopes(busy_only: bool) -> &'static [&'static str] {
    if busy_only { BUSY_ONLY_SCOPES } else { CALENDAR_SCOPES }
}

/// What a covered connection's token may do: write events, list calendars.
pub const CALENDAR_SCOPES: &[&str] = &[workspace::CALENDAR_SCOPE, workspace::CALENDAR_LIST_SCOPE];
/// The busy-times-only tier: free/busy, nothing else.
pub const BUSY_ONLY_SCOPES: &[&str] = &[workspace::FREE_BUSY_SCOPE];

/// Why a connection could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The provider refused or failed.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The place that keeps the tokens (or the caller's database) failed.
    #[error("database: {0}")]
    Store(TokenStoreError),
    /// The connection has no tokens any more (disconnected).
    #[error("the calendar is disconnected")]
    Disconnected,
}

impl ConnectionError {
    /// A failure of the caller's database, met while using a connection.
    pub fn store(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Store(Box::new(error))
    }

    /// Whether retrying later can help.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Provider(error) => error.is_retryable(),
            Self::Store(_) => true,
            Self::Disconnected => false,
        }
    }
}

/// Hands out working access tokens for connections.
#[derive(Clone, Debug)]
pub struct Credentials {
    tokens: Arc<dyn TokenStore>,
    providers: Arc<Providers>,
    margin: Duration,
    limits: Arc<RateLimits>,
    /// The tokens this run already read, when it keeps them ([`Self::for_one_run`]): one slot
    /// per connection, each with its own lock.
    run_tokens: Option<Arc<std::sync::Mutex<HashMap<Uuid, TokenSlot>>>>,
}

/// A run's kept token of one connection, locked while it is read or refreshed.
type TokenSlot = Arc<tokio::sync::Mutex<Option<KeptToken>>>;

/// An access token as stored: its version and when it expires.
#[derive(Clone, Debug)]
struct KeptToken {
    token: AccessToken,
    version: i64,
    expires_at: DateTime<Utc>,
}

impl Credentials {
    /// Tokens kept in `tokens`, refreshed through `providers`.
    pub fn new(tokens: Arc<dyn TokenStore>, providers: Arc<Providers>) -> Self {
        Self {
            tokens,
            providers,
            margin: REFRESH_MARGIN,
            limits: Arc::new(RateLimits::new(Budgets::default())),
            run_tokens: None,
        }
    }

    /// The same, keeping each connection's token once read for the calls of one run of work (a
    /// batch of bookings writing into a few calendars reads each token once, not once per
    /// event). A token kept is still refreshed within the margin, and a 401 reads the stored
    /// one again (or takes the one another call of the run refreshed meanwhile); the next run
    /// reads afresh, so a token changed meanwhile (a reconnect, another worker's refresh) is used
    /// from the next run on. A calendar disconnected during the run gets the run's remaining
    /// calls with the kept token until the provider refuses it (the grant is revoked on
    /// disconnect); the refusal then finds the connection without tokens.
    pub fn for_one_run(&self) -> Self {
        Self { run_tokens: Some(Arc::default()), ..self.clone() }
    }

    /// The same with another refresh margin (tests).
    pub fn with_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// The same with other request budgets.
    pub fn with_budgets(mut self, budgets: Budgets) -> Self {
        self.limits = Arc::new(RateLimits::new(budgets));
        self
    }

    /// The same with request budgets every process shares through this Redis (keys under
    /// `prefix`).
    pub fn with_shared_budgets(
        mut self,
        budgets: Budgets,
        redis: redis::aio::ConnectionManager,
        prefix: &str,
    ) -> Self {
        self.limits = Arc::new(RateLimits::shared(budgets, redis, prefix));
        self
    }

    /// The providers these credentials refresh through.
    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    /// A token with at least the margin left, refreshing it first when needed.
    pub async fn access_token(
        &self,
        connection: &Connection,
    ) -> Result<AccessToken, ConnectionError> {
        self.token(connection, None).await
    }

    /// Runs `call` with a fresh token, within the account's and the provider's request budgets;
    /// on a 401 the token is refreshed once and the call retried; a rate-limit answer makes this
    /// account (only) wait its `Retry-After`. A dead grant marks the connection `needs_reauth`;
    /// a covered mailbox the organisation's grant no longer reaches (refused, or gone from
    /// Exchange Online) marks it `error`, for the next directory read to settle.
    pub async fn with_token<T, F, Fut>(
        &self,
        connection: &Connection,
        call: F,
    ) -> Result<T, ConnectionError>
    where
        F: Fn(AccessToken) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let (token, mut version) = self.token_with_version(connection, None).await?;
        let covered = token.mailbox().is_some();
        let account = Account::new(connection.provider, &connection.account_email);
        // The calls boxed: a provider call's future is large, and held inline (twice) it made
        // every caller's future larger still, which overflowed a debug build's thread stacks.
        let result = match self.budgeted(account, Box::pin(call(token))).await {
            Err(ProviderError::Unauthorized { .. }) => {
                let (token, renewed) = self.token_with_version(connection, Some(version)).await?;
                version = renewed;
                self.budgeted(account, Box::pin(call(token))).await
            }
            other => other,
        };
        match result {
            Err(ProviderError::NoMailbox { .. }) if covered => {
                let gone = TenantError::NoMailbox(connection.account_email.clone());
                Err(self.out_of_reach(connection, version, gone, 404).await?.into())
            }
            Err(error @ ProviderError::Permanent { status: 403, .. }) if covered => {
                match self.organisation_refusal(connection, &error, version).await {
                    Some((refusal, version)) => {
                        Err(self.out_of_reach(connection, version, refusal, 403).await?.into())
                    }
                    None => Err(error.into()),
                }
            }
            other => Ok(other?),
        }
    }

    /// Why Graph refused a covered mailbox a call (`error`, a 403, with the tokens at
    /// `version`), when the organisation's administrator is the one to act, and the version of
    /// the tokens that found it. The access policy says so in its words. Graph's plain 403 is
    /// the same for a calendar the member may only read as for a mailbox the application may no
    /// longer reach, so the mailbox is asked: its calendars listed (refused: the member outside
    /// the scope of the application's Exchange role) and, for the tier that writes, its default
    /// calendar written with nothing (refused: writing taken back). `None` when the mailbox
    /// answers (the 403 is about that calendar alone), or when asking it fails: the call's own
    /// refusal stands.
    async fn organisation_refusal(
        &self,
        connection: &Connection,
        error: &ProviderError,
        version: i64,
    ) -> Option<(TenantError, i64)> {
        let email = &connection.account_email;
        if matches!(error, ProviderError::Permanent { message, .. } if message.contains("AccessPolicy"))
        {
            return Some((TenantError::OutsideScope(email.clone()), version));
        }
        let CalendarProvider::Microsoft { api, .. } = self.providers.get(Provider::Microsoft)
        else {
            return None;
        };
        // A token minted meanwhile is newer: the refusal is recorded against it.
        let (token, version) = self.token_with_version(connection, None).await.ok()?;
        let account = Account::new(connection.provider, email);
        let permission = tenant::permission(connection.busy_only);
        let listed = self.budgeted(account, Box::pin(api.list_calendars(&token))).await;
        let refused = match listed {
            Err(refused @ ProviderError::Permanent { status: 403, .. }) => {
                tenant::mailbox_refusal(refused, &token, email, permission)
            }
            Ok(_) if !connection.busy_only => {
                match self.budgeted(account, Box::pin(api.write_nothing(&token))).await {
                    Err(refused @ ProviderError::Permanent { status: 403, .. }) => {
                        tenant::refusal(refused, email, permission)
                    }
                    _ => return None,
                }
            }
            _ => return None,
        };
        Some((refused, version))
    }

    /// A covered mailbox out of the organisation's reach (`refusal`) until its administrator
    /// acts or the next directory read settles it: said in their words on the connection
    /// (`error`, no e-mail to the staff member, who has nothing to do), and the refusal to
    /// answer with, under Graph's `status`.
    async fn out_of_reach(
        &self,
        connection: &Connection,
        version: i64,
        refusal: TenantError,
        status: u16,
    ) -> Result<ProviderError, ConnectionError> {
        let refusal = refusal.to_string();
        tracing::warn!(connection = %connection.id, "the organisation's application may not reach a covered mailbox");
        self.tokens
            .delegation_refused(connection.id, version, &refusal)
            .await
            .map_err(ConnectionError::Store)?;
        Ok(ProviderError::permanent(status, refusal))
    }

    /// Runs `call`, made for the account `address` outside a connection (the calendars listed
    /// while connecting it, a disconnected calendar's clean-up), within that account's request
    /// budgets: a staff member connecting an account whose calendar is being replayed at the
    /// quota waits their turn (up to [`crate::limits::LONGEST_WAIT`]) rather than meeting a 429.
    /// An account the provider told to wait longer gets the wait back as a transient error (a
    /// connect then fails, to be started again).
    pub async fn for_account<T>(
        &self,
        provider: Provider,
        address: &str,
        call: impl Future<Output = Result<T, ProviderError>>,
    ) -> Result<T, ProviderError> {
        self.budgeted(Account::new(provider, address), Box::pin(call)).await
    }

    /// Runs `call` once its request fits the account's budgets; a rate-limit answer makes the
    /// account (only) wait its `Retry-After`.
    async fn budgeted<T>(
        &self,
        account: Account,
        call: impl Future<Output = Result<T, ProviderError>>,
    ) -> Result<T, ProviderError> {
        let result = self.limits.within(account, call).await?;
        if let Err(error) = &result
            && let Some(wait) = error.retry_after()
        {
            self.limits.slow_down(account, wait).await;
        }
        result
    }

    async fn token(
        &self,
        connection: &Connection,
        stale: Option<i64>,
    ) -> Result<AccessToken, ConnectionError> {
        Ok(self.token_with_version(connection, stale).await?.0)
    }

    /// The current token and its version; `stale` forces a refresh unless the stored version
    /// already moved past it (another worker refreshed meanwhile).
    async fn token_with_version(
        &self,
        connection: &Connection,
        stale: Option<i64>,
    ) -> Result<(AccessToken, i64), ConnectionError> {
        let Some(run_tokens) = &self.run_tokens else {
            let stored = self.stored_token(connection, stale).await?;
            return Ok((stored.token, stored.version));
        };
        let slot = {
            let mut slots = run_tokens.lock().unwrap_or_else(PoisonError::into_inner);
            slots.entry(connection.id).or_default().clone()
        };
        // Held while reading: the run's parallel calls into this calendar wait for one read (and
        // after a 401, for one refresh).
        let mut kept = slot.lock().await;
        if let Some(token) = kept.as_ref()
            && self.fresh(token.expires_at)
            && stale.is_none_or(|stale| token.version > stale)
        {
            return Ok((token.token.clone(), token.version));
        }
        let stored = self.stored_token(connection, stale).await?;
        *kept = Some(stored.clone());
        Ok((stored.token, stored.version))
    }

    /// Whether a token expiring at `expires_at` has more than the margin left.
    fn fresh(&self, expires_at: DateTime<Utc>) -> bool {
        let margin = chrono::Duration::from_std(self.margin).unwrap_or_default();
        expires_at - margin > Utc::now()
    }

    /// [`Self::token_with_version`] from the database, refreshing under the lease when needed.
    async fn stored_token(
        &self,
        connection: &Connection,
        stale: Option<i64>,
    ) -> Result<KeptToken, ConnectionError> {
        let deadline = tokio::time::Instant::now() + LEASE + LEASE;
        loop {
            let StoredTokens { tokens, version, mailbox } = self
                .tokens
                .tokens(connection.id)
                .await
                .map_err(ConnectionError::Store)?
                .ok_or(ConnectionError::Disconnected)?;
            if self.fresh(tokens.expires_at) && stale.is_none_or(|stale| version > stale) {
                let token = addressed(connection, AccessToken::from(tokens.access_token), mailbox);
                return Ok(KeptToken { token, version, expires_at: tokens.expires_at });
            }
            let until = Utc::now() + chrono::Duration::from_std(LEASE).unwrap_or_default();
            let leased = self.tokens.lease_refresh(connection.id, version, until).await;
            if leased.map_err(ConnectionError::Store)? {
                let (token, expires_at) = self.refresh(connection, tokens, version).await?;
                let token = addressed(connection, token, mailbox);
                return Ok(KeptToken { token, version: version + 1, expires_at });
            }
            if tokio::time::Instant::now() > deadline {
                return Err(ProviderError::transient(
                    "another worker is still refreshing this calendar's token",
                )
                .into());
            }
            tokio::time::sleep(WAIT_STEP).await;
        }
    }

    /// Refreshes the tokens at `version` under the lease and stores the result atomically.
    async fn refresh(
        &self,
        connection: &Connection,
        current: ConnectionTokens,
        version: i64,
    ) -> Result<(AccessToken, DateTime<Utc>), ConnectionError> {
        let kept = &self.tokens;
        if let Some(delegation) =
            kept.delegation(connection.id).await.map_err(ConnectionError::Store)?
        {
            return self.mint(connection, &delegation, &current.access_token, version).await;
        }
        let Some(refresh_token) = current.refresh_token else {
            kept.release_refresh(connection.id).await.map_err(ConnectionError::Store)?;
            let message = "the provider gave no refresh token; connect again".to_owned();
            kept.grant_dead(connection.id, version, &message)
                .await
                .map_err(ConnectionError::Store)?;
            return Err(ProviderError::DeadGrant { message }.into());
        };
        let provider = self.providers.get(connection.provider);
        match provider.refresh(&refresh_token).await {
            Ok(tokens) => {
                let refreshed = ConnectionTokens {
                    access_token: tokens.access_token.clone(),
                    refresh_token: tokens.refresh_token,
                    expires_at: tokens.expires_at,
                };
                kept.save_refreshed(connection.id, &refreshed)
                    .await
                    .map_err(ConnectionError::Store)?;
                tracing::debug!(connection = %connection.id, "access token refreshed");
                Ok((AccessToken::from(tokens.access_token), tokens.expires_at))
            }
            Err(error) => {
                kept.release_refresh(connection.id).await.map_err(ConnectionError::Store)?;
                if let ProviderError::DeadGrant { message } = &error {
                    tracing::warn!(connection = %connection.id, provider = %connection.provider, "calendar grant is dead; the staff member must reconnect");
                    kept.grant_dead(connection.id, version, message)
                        .await
                        .map_err(ConnectionError::Store)?;
                }
                Err(error.into())
            }
        }
    }

    /// Mints a covered connection's token under the lease (the organisation's service account
    /// acting for the user) and stores it like a refreshed one. A refusal the administrator
    /// must fix marks the connection and fails for good; no answer fails for a retry.
    async fn mint(
        &self,
        connection: &Connection,
        delegation: &Delegation,
        replacing: &SecretString,
        version: i64,
    ) -> Result<(AccessToken, DateTime<Utc>), ConnectionError> {
        let kept = &self.tokens;
        let refused = match self.minted(delegation, replacing).await {
            Ok((token, expires_at)) => {
                let expires_at = expires_at.unwrap_or_else(|| Utc::now() + DEFAULT_LIFETIME);
                let tokens = ConnectionTokens {
                    access_token: token.secret().clone(),
                    refresh_token: None,
                    expires_at,
                };
                kept.save_refreshed(connection.id, &tokens)
                    .await
                    .map_err(ConnectionError::Store)?;
                tracing::debug!(connection = %connection.id, "access token minted for a covered calendar");
                return Ok((token, expires_at));
            }
            Err(Minting::Unanswered(error)) => {
                kept.release_refresh(connection.id).await.map_err(ConnectionError::Store)?;
                return Err(error.into());
            }
            Err(Minting::Refused(refused)) => refused,
        };
        kept.release_refresh(connection.id).await.map_err(ConnectionError::Store)?;
        let message = format!("the organisation refused this calendar's token: {refused}");
        tracing::warn!(connection = %connection.id, "the organisation refused a covered calendar's token");
        kept.delegation_refused(connection.id, version, &message)
            .await
            .map_err(ConnectionError::Store)?;
        Err(ProviderError::permanent(403, message).into())
    }

    /// A token minted through `delegation` instead of `replacing`, outside any connection (a
    /// covered calendar's cleanup, whose connection is gone): a refusal is a permanent error in
    /// the administrator's words, no answer a retryable one.
    pub async fn delegated_token(
        &self,
        delegation: &Delegation,
        replacing: &SecretString,
    ) -> Result<(AccessToken, DateTime<Utc>), ProviderError> {
        match self.minted(delegation, replacing).await {
            Ok((token, expires_at)) => {
                Ok((token, expires_at.unwrap_or_else(|| Utc::now() + DEFAULT_LIFETIME)))
            }
            Err(Minting::Unanswered(error)) => Err(error),
            Err(Minting::Refused(refused)) => Err(ProviderError::permanent(
                403,
                format!("the organisation refused this calendar's token: {refused}"),
            )),
        }
    }

    /// A token from the organisation's credentials instead of `replacing`: a Workspace user's,
    /// or the application's (the one its covered calendars share, unless that is `replacing`).
    async fn minted(
        &self,
        delegation: &Delegation,
        replacing: &SecretString,
    ) -> Result<(AccessToken, Option<DateTime<Utc>>), Minting> {
        match &delegation.grant {
            OrganisationGrant::Workspace { key } => {
                let key = serde_json::from_str(key.expose_secret()).map_err(|e| {
                    Minting::Refused(
                        WorkspaceError::BadKey(format!("it is not JSON: {e}")).to_string(),
                    )
                })?;
                let workspace = self.providers.workspace(&key).map_err(Minting::workspace)?;
                let minted = workspace
                    .covered_token(&delegation.subject, delegation.scopes())
                    .await
                    .map_err(Minting::workspace)?;
                Ok((minted.token, minted.expires_at))
            }
            OrganisationGrant::Microsoft { tenant_id, client_id, secret } => {
                let tenant =
                    self.providers.tenant(tenant_id, client_id, secret).map_err(Minting::tenant)?;
                let minted =
                    tenant.app_token_instead_of(replacing).await.map_err(Minting::tenant)?;
                Ok((minted.token, Some(minted.expires_at)))
            }
        }
    }
}

/// Why an organisation's credentials gave no token.
enum Minting {
    /// The provider did not answer: try again.
    Unanswered(ProviderError),
    /// Refused, in words for the administrator.
    Refused(String),
}

impl Minting {
    fn workspace(error: WorkspaceError) -> Self {
        match error {
            WorkspaceError::Provider(error) if error.is_retryable() => Self::Unanswered(error),
            refused => Self::Refused(refused.to_string()),
        }
    }

    fn tenant(error: TenantError) -> Self {
        match error {
            TenantError::Provider(error) if error.is_retryable() => Self::Unanswered(error),
            refused => Self::Refused(refused.to_string()),
        }
    }
}

/// The token as the calls use it: an organisation's application token names the covered member's
/// `mailbox` (Microsoft app-only access); any other token is its holder's own.
fn addressed(connection: &Connection, token: AccessToken, mailbox: Option<String>) -> AccessToken {
    match mailbox {
        Some(mailbox) if connection.provider == kalends_core::domain::Provider::Microsoft => {
            token.for_mailbox(mailbox)
        }
        _ => token,
    }
}
