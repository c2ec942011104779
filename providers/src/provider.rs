//! `CalendarProvider`: what the jobs and the front need from a calendar service, over the closed
//! set of providers (enum dispatch). Provider-neutral types only cross it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::caldav::CaldavCalendar;
use crate::calendar::{
    AccessToken, AccountIdentity, BusyInterval, ChangeSet, EventDraft, Provider, RemoteCalendar,
    RemoteEvent, Subscription, SubscriptionRequest, TimeZone, TokenSet, Window,
};
use crate::error::ProviderError;
use crate::google::GoogleCalendar;
use crate::google::workspace::{KeyRefusals, Workspace, WorkspaceError};
use crate::microsoft::MicrosoftCalendar;
use crate::microsoft::tenant::{AppTokens, Tenant, TenantError};
use crate::oauth::{Authorization, OAuthClient, OAuthSettings, OAuthSetupError};
use crate::outbound::AddressPolicy;

/// Google: scopes Kalends asks for.
pub const GOOGLE_SCOPES: [&str; 4] = [
    "https://www.googleapis.com/auth/calendar.events",
    "https://www.googleapis.com/auth/calendar.readonly",
    "openid",
    "email",
];

/// Microsoft: scopes Kalends asks for (one resource, Graph, plus the OpenID ones).
pub const MICROSOFT_SCOPES: [&str; 5] =
    ["offline_access", "Calendars.ReadWrite", "User.Read", "openid", "email"];

/// A calendar service Kalends talks to.
#[derive(Clone, Debug)]
pub enum CalendarProvider {
    /// Google Calendar (oauth2 + google-calendar3).
    Google {
        /// OAuth client.
        oauth: OAuthClient,
        /// Calendar v3 client.
        api: Box<GoogleCalendar>,
    },
    /// Microsoft Graph (oauth2 + graph-rs-sdk).
    Microsoft {
        /// OAuth client.
        oauth: OAuthClient,
        /// Graph client.
        api: Box<MicrosoftCalendar>,
    },
    /// CalDAV (libdav): iCloud and any CalDAV server, with an app password instead of OAuth.
    Caldav {
        /// CalDAV client.
        api: Box<CaldavCalendar>,
    },
}

/// Why the providers could not be set up from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ProvidersError {
    /// A provider's client id came without its secret.
    #[error("{0}.client_secret is required with {0}.client_id")]
    MissingSecret(&'static str),
    /// A provider's OAuth client could not be built.
    #[error("{provider}")]
    OAuth {
        /// `google` or `microsoft`.
        provider: &'static str,
        /// What failed.
        #[source]
        source: OAuthSetupError,
    },
    /// A provider's calendar API client could not be built.
    #[error("{provider}")]
    Api {
        /// `google` or `microsoft`.
        provider: &'static str,
        /// What failed.
        #[source]
        source: ProviderError,
    },
}

impl ProvidersError {
    fn oauth(provider: &'static str) -> impl Fn(OAuthSetupError) -> Self {
        move |source| Self::OAuth { provider, source }
    }

    fn api(provider: &'static str) -> impl Fn(ProviderError) -> Self {
        move |source| Self::Api { provider, source }
    }
}

/// Google's OAuth client and endpoints.
#[derive(Clone, Debug)]
pub struct GoogleSettings {
    /// OAuth client id; `None` leaves Google unavailable.
    pub client_id: Option<String>,
    /// OAuth client secret (required with a client id).
    pub client_secret: Option<SecretString>,
    /// Authorization endpoint.
    pub auth_url: String,
    /// Token endpoint.
    pub token_url: String,
    /// Revocation endpoint.
    pub revoke_url: String,
    /// Calendar API base URL (with its trailing slash).
    pub api_base_url: String,
    /// Admin SDK Directory API base URL (with its trailing slash).
    pub directory_base_url: String,
}

/// Microsoft's identity platform app and endpoints.
#[derive(Clone, Debug)]
pub struct MicrosoftSettings {
    /// Application (client) id; `None` leaves Microsoft unavailable.
    pub client_id: Option<String>,
    /// Client secret (required with a client id).
    pub client_secret: Option<SecretString>,
    /// Directory tenant: `common`, `organizations`, `consumers` or a tenant id.
    pub tenant: String,
    /// Identity platform authority.
    pub authority_url: String,
    /// Microsoft Graph base URL.
    pub graph_base_url: String,
}

/// The endpoints every Google Workspace and Microsoft 365 tenant is reached at.
#[derive(Clone, Debug)]
struct WorkspaceEndpoints {
    token_url: String,
    directory_base_url: String,
    /// Microsoft's identity platform authority (a tenant's token endpoint is below it).
    authority_url: String,
    timeout: Duration,
}

/// Both providers, configured; `sandboxed` says which ones talk to the built-in sandbox.
#[derive(Clone, Debug)]
pub struct Providers {
    google: CalendarProvider,
    microsoft: CalendarProvider,
    caldav: CalendarProvider,
    /// Where a Google Workspace's service account gets its users' tokens and reads its directory.
    workspace_endpoints: WorkspaceEndpoints,
    /// The Microsoft organisations' application tokens, shared by the calendars each covers.
    app_tokens: AppTokens,
    /// The Workspaces' key-wide refusals that stand, told to the calendars each covers.
    key_refusals: KeyRefusals,
    /// Providers whose settings point at the provider sandbox instead of the real service.
    pub sandboxed: Vec<Provider>,
    /// Providers without a client id (and not sandboxed): connecting them is refused.
    pub unavailable: Vec<Provider>,
}

impl Providers {
    /// Builds both from explicit settings, with OAuth callbacks under `public_url`; a call to
    /// any of them (their token endpoints and directories included) that has not answered
    /// within `timeout` fails. The binary fills in the sandbox's client and endpoints for a
    /// provider it points at the sandbox, and lists it in `sandboxed`; a provider still without a
    /// client id is unavailable.
    pub fn new(
        public_url: &str,
        google: &GoogleSettings,
        microsoft: &MicrosoftSettings,
        sandboxed: Vec<Provider>,
        timeout: Duration,
    ) -> Result<Self, ProvidersError> {
        let public = public_url.trim_end_matches('/');
        let unavailable = [
            (Provider::Google, google.client_id.is_none()),
            (Provider::Microsoft, microsoft.client_id.is_none()),
        ]
        .into_iter()
        .filter_map(|(provider, missing)| missing.then_some(provider))
        .collect();
        Ok(Self {
            google: google_client(public, google, timeout)?,
            microsoft: microsoft_client(public, microsoft, timeout)?,
            caldav: CalendarProvider::Caldav {
                api: Box::new(
                    CaldavCalendar::new(timeout, AddressPolicy::default())
                        .map_err(ProvidersError::api("caldav"))?,
                ),
            },
            workspace_endpoints: WorkspaceEndpoints {
                token_url: google.token_url.clone(),
                directory_base_url: google.directory_base_url.clone(),
                authority_url: microsoft.authority_url.clone(),
                timeout,
            },
            app_tokens: AppTokens::default(),
            key_refusals: KeyRefusals::default(),
            sandboxed,
            unavailable,
        })
    }

    /// How long one call may go unanswered; a write left unanswered may land as long again later.
    pub fn timeout(&self) -> Duration {
        self.workspace_endpoints.timeout
    }

    /// The Google Workspace whose service account's JSON key is `key`, reached at the configured
    /// token and directory endpoints (Google's, or the sandbox's).
    pub fn workspace(&self, key: &serde_json::Value) -> Result<Workspace, WorkspaceError> {
        let endpoints = &self.workspace_endpoints;
        let workspace = Workspace::new(
            key,
            &endpoints.token_url,
            &endpoints.directory_base_url,
            endpoints.timeout,
        )?;
        Ok(workspace.sharing(&self.key_refusals))
    }

    /// The Microsoft 365 tenant `tenant_id` as its application `client_id` (secret
    /// `client_secret`) reaches it, at the configured authority and Graph (Microsoft's, or the
    /// sandbox's).
    pub fn tenant(
        &self,
        tenant_id: &str,
        client_id: &str,
        client_secret: &secrecy::SecretString,
    ) -> Result<Tenant, TenantError> {
        let CalendarProvider::Microsoft { api, .. } = &self.microsoft else {
            return Err(TenantError::Provider(ProviderError::permanent(
                0,
                "Microsoft is not configured",
            )));
        };
        let endpoints = &self.workspace_endpoints;
        let tenant = Tenant::new(
            tenant_id,
            client_id,
            client_secret,
            &endpoints.authority_url,
            (**api).clone(),
            endpoints.timeout,
        )?;
        Ok(tenant.sharing(&self.app_tokens))
    }

    /// The same, with the operator's address rules for CalDAV servers (`import.*`: the
    /// private networks or single addresses an intranet server lives on, the tests' servers),
    /// the largest answer read (`import.max_bytes`) and the work a listing may take to read
    /// (`import.max_work_steps`).
    pub fn with_caldav_addresses(
        mut self,
        addresses: AddressPolicy,
        (max_bytes, max_work): (u64, u64),
    ) -> Result<Self, ProvidersError> {
        let api = CaldavCalendar::new(self.timeout(), addresses)
            .map_err(ProvidersError::api("caldav"))?
            .with_max_answer_bytes(max_bytes)
            .with_max_work(max_work);
        self.caldav = CalendarProvider::Caldav { api: Box::new(api) };
        Ok(self)
    }

    /// Whether staff members can connect `provider` (it has a client id, or the sandbox is on).
    pub fn is_available(&self, provider: Provider) -> bool {
        !self.unavailable.contains(&provider)
    }

    /// The client of one provider.
    pub fn get(&self, provider: Provider) -> &CalendarProvider {
        match provider {
            Provider::Google => &self.google,
            Provider::Microsoft => &self.microsoft,
            Provider::Caldav => &self.caldav,
        }
    }

    /// The CalDAV client (connecting discovers the account through it).
    pub fn caldav(&self) -> &CaldavCalendar {
        match &self.caldav {
            CalendarProvider::Caldav { api } => api,
            _ => unreachable!("the caldav slot holds the CalDAV client"),
        }
    }
}

/// The client id and secret of a provider; empty for one without a client id (it cannot be
/// connected, so they are never sent to a consent page).
fn client_credentials(
    provider: Provider,
    client_id: Option<&String>,
    client_secret: Option<&SecretString>,
) -> Result<(String, SecretString), ProvidersError> {
    let Some(id) = client_id else { return Ok((String::new(), SecretString::from(""))) };
    let secret = client_secret.cloned().ok_or(ProvidersError::MissingSecret(provider.as_str()))?;
    Ok((id.clone(), secret))
}

/// Google's OAuth client and Calendar v3 client.
fn google_client(
    public: &str,
    g: &GoogleSettings,
    timeout: Duration,
) -> Result<CalendarProvider, ProvidersError> {
    let (client_id, client_secret) =
        client_credentials(Provider::Google, g.client_id.as_ref(), g.client_secret.as_ref())?;
    Ok(CalendarProvider::Google {
        oauth: OAuthClient::new(OAuthSettings {
            client_id,
            client_secret,
            auth_url: g.auth_url.clone(),
            token_url: g.token_url.clone(),
            revoke_url: Some(g.revoke_url.clone()),
            redirect_url: format!("{public}/oauth/google/callback"),
            scopes: GOOGLE_SCOPES.map(str::to_owned).to_vec(),
            extra_params: vec![
                ("access_type".into(), "offline".into()),
                ("prompt".into(), "consent".into()),
                ("include_granted_scopes".into(), "true".into()),
            ],
            timeout,
        })
        .map_err(ProvidersError::oauth("google"))?,
        api: Box::new(
            GoogleCalendar::new(&g.api_base_url, timeout).map_err(ProvidersError::api("google"))?,
        ),
    })
}

/// Microsoft's OAuth client (identity platform, `tenant` under `authority_url`) and Graph client.
fn microsoft_client(
    public: &str,
    m: &MicrosoftSettings,
    timeout: Duration,
) -> Result<CalendarProvider, ProvidersError> {
    let (client_id, client_secret) =
        client_credentials(Provider::Microsoft, m.client_id.as_ref(), m.client_secret.as_ref())?;
    let authority = m.authority_url.trim_end_matches('/');
    let tenant = &m.tenant;
    Ok(CalendarProvider::Microsoft {
        oauth: OAuthClient::new(OAuthSettings {
            client_id,
            client_secret,
            auth_url: format!("{authority}/{tenant}/oauth2/v2.0/authorize"),
            token_url: format!("{authority}/{tenant}/oauth2/v2.0/token"),
            revoke_url: None,
            redirect_url: format!("{public}/oauth/microsoft/callback"),
            scopes: MICROSOFT_SCOPES.map(str::to_owned).to_vec(),
            extra_params: vec![("response_mode".into(), "query".into())],
            timeout,
        })
        .map_err(ProvidersError::oauth("microsoft"))?,
        api: Box::new(
            MicrosoftCalendar::new(&m.graph_base_url, timeout)
                .map_err(ProvidersError::api("microsoft"))?,
        ),
    })
}

impl CalendarProvider {
    /// Which provider this is.
    pub fn kind(&self) -> Provider {
        match self {
            Self::Google { .. } => Provider::Google,
            Self::Microsoft { .. } => Provider::Microsoft,
            Self::Caldav { .. } => Provider::Caldav,
        }
    }

    /// The OAuth client; CalDAV has none (an app password instead).
    fn oauth(&self) -> Result<&OAuthClient, ProviderError> {
        match self {
            Self::Google { oauth, .. } | Self::Microsoft { oauth, .. } => Ok(oauth),
            Self::Caldav { .. } => {
                Err(ProviderError::permanent(0, "CalDAV connects with an app password, not OAuth"))
            }
        }
    }

    /// Starts an authorization: the consent URL with a fresh state and PKCE challenge; `None`
    /// for CalDAV, which connects through a form.
    pub fn authorize(&self, login_hint: Option<&str>) -> Option<Authorization> {
        self.oauth().ok().map(|oauth| oauth.authorize(login_hint))
    }

    /// Exchanges the callback's code for tokens.
    pub async fn exchange_code(
        &self,
        code: &str,
        pkce_verifier: &SecretString,
    ) -> Result<TokenSet, ProviderError> {
        self.oauth()?.exchange_code(code, pkce_verifier).await
    }

    /// New tokens from the refresh token (Microsoft rotates it: store the new one). A CalDAV
    /// password has nothing to refresh: asked after a 401, the password is dead.
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<TokenSet, ProviderError> {
        match self {
            Self::Caldav { .. } => Err(crate::caldav::refused_password()),
            _ => self.oauth()?.refresh(refresh_token).await,
        }
    }

    /// Revokes the grant where the provider allows it (Google); `Ok(false)` where it has no
    /// endpoint (Microsoft: forgetting the tokens is all a third-party app can do; CalDAV: the
    /// staff member revokes the app password at their provider).
    pub async fn revoke(&self, token: &SecretString) -> Result<bool, ProviderError> {
        match self {
            Self::Caldav { .. } => Ok(false),
            _ => self.oauth()?.revoke(token).await,
        }
    }

    /// Who the account is: the id_token's e-mail when the exchange carried one, else asked.
    pub async fn account(
        &self,
        token: &AccessToken,
        id_token_email: Option<&str>,
    ) -> Result<AccountIdentity, ProviderError> {
        match self {
            Self::Google { api, .. } => Ok(AccountIdentity {
                email: match id_token_email {
                    Some(email) => email.to_owned(),
                    None => api.primary_email(token).await?,
                },
                name: None,
            }),
            Self::Microsoft { api, .. } => api.me(token).await,
            Self::Caldav { .. } => {
                let account = crate::caldav::Account::from_token(token)?;
                Ok(AccountIdentity { email: account.username, name: None })
            }
        }
    }

    /// The account's calendars.
    pub async fn list_calendars(
        &self,
        token: &AccessToken,
    ) -> Result<Vec<RemoteCalendar>, ProviderError> {
        match self {
            Self::Google { api, .. } => api.list_calendars(token).await,
            Self::Microsoft { api, .. } => api.list_calendars(token).await,
            Self::Caldav { api } => api.list_calendars(token).await,
        }
    }

    /// Creates or updates the booking's event, idempotently (event id / transactionId).
    /// `etag` is the one the last write answered (CalDAV's `If-Match`; the others ignore it).
    pub async fn upsert_event(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        draft: &EventDraft,
        remote_id: Option<&str>,
        etag: Option<&str>,
    ) -> Result<RemoteEvent, ProviderError> {
        match self {
            Self::Google { api, .. } => {
                api.upsert_event(token, calendar_id, draft, remote_id).await
            }
            Self::Microsoft { api, .. } => {
                api.upsert_event(token, calendar_id, draft, remote_id).await
            }
            Self::Caldav { api } => {
                api.upsert_event(token, calendar_id, draft, remote_id, etag).await
            }
        }
    }

    /// One event; `None` when it is gone.
    pub async fn get_event(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        id: &str,
    ) -> Result<Option<RemoteEvent>, ProviderError> {
        match self {
            Self::Google { api, .. } => api.get_event(token, calendar_id, id).await,
            Self::Microsoft { api, .. } => api.get_event(token, id).await,
            Self::Caldav { api } => api.get_event(token, calendar_id, id).await,
        }
    }

    /// Deletes an event: `true` when it removed it, `false` when it was gone already (which
    /// counts as deleted). `etag` as for [`Self::upsert_event`].
    pub async fn delete_event(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        id: &str,
        etag: Option<&str>,
    ) -> Result<bool, ProviderError> {
        match self {
            Self::Google { api, .. } => api.delete_event(token, calendar_id, id).await,
            Self::Microsoft { api, .. } => api.delete_event(token, id).await,
            Self::Caldav { api } => api.delete_event(token, calendar_id, id, etag).await,
        }
    }

    /// The events Kalends created in a calendar within a window.
    pub async fn list_kalends_events(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        window: Window,
    ) -> Result<Vec<RemoteEvent>, ProviderError> {
        match self {
            Self::Google { api, .. } => api.list_kalends_events(token, calendar_id, window).await,
            Self::Microsoft { api, .. } => {
                api.list_kalends_events(token, calendar_id, window).await
            }
            Self::Caldav { api } => api.list_kalends_events(token, calendar_id, window).await,
        }
    }

    /// Changes since `cursor` (a full listing of `window` without one), or "full sync required".
    /// Times without a zone are read in `floating` (the staff member's; only CalDAV has them:
    /// Google and Graph give every time its zone).
    pub async fn changes(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        cursor: Option<&str>,
        window: Window,
        floating: TimeZone,
    ) -> Result<ChangeSet, ProviderError> {
        match self {
            Self::Google { api, .. } => api.changes(token, calendar_id, cursor, window).await,
            Self::Microsoft { api, .. } => api.changes(token, cursor, window).await,
            Self::Caldav { api } => api.changes(token, calendar_id, cursor, window, floating).await,
        }
    }

    /// A calendar's single (non-recurring) events from `from` on, however far ahead (Microsoft:
    /// of the default calendar, the only one Graph imports; Google: ending after `from`).
    pub async fn single_events_from(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        from: DateTime<Utc>,
        floating: TimeZone,
    ) -> Result<Vec<RemoteEvent>, ProviderError> {
        match self {
            Self::Google { api, .. } => api.single_events_from(token, calendar_id, from).await,
            Self::Microsoft { api, .. } => api.single_events_from(token, from).await,
            Self::Caldav { api } => {
                api.single_events_from(token, calendar_id, from, floating).await
            }
        }
    }

    /// Busy intervals of the given calendars (Google) or of the account (Microsoft).
    pub async fn free_busy(
        &self,
        token: &AccessToken,
        calendar_ids: &[String],
        account_email: &str,
        window: Window,
    ) -> Result<Vec<BusyInterval>, ProviderError> {
        match self {
            Self::Google { api, .. } => api.free_busy(token, calendar_ids, window).await,
            Self::Microsoft { api, .. } => api.free_busy(token, account_email, window).await,
            Self::Caldav { api } => api.free_busy(token, calendar_ids, window).await,
        }
    }

    /// Asks the next day's free/busy and forgets the answer: what proves that a token for
    /// free/busy alone (which may list nothing) reaches the calendar.
    pub async fn reaches_free_busy(
        &self,
        token: &AccessToken,
        calendar_ids: &[String],
        account_email: &str,
    ) -> Result<(), ProviderError> {
        let start = Utc::now();
        let window = Window { start, end: start + chrono::Duration::days(1) };
        self.free_busy(token, calendar_ids, account_email, window).await.map(|_| ())
    }

    /// Starts push notifications.
    pub async fn subscribe(
        &self,
        token: &AccessToken,
        request: &SubscriptionRequest,
    ) -> Result<Subscription, ProviderError> {
        match self {
            Self::Google { api, .. } => api.watch(token, request).await,
            Self::Microsoft { api, .. } => api.subscribe(token, request).await,
            Self::Caldav { .. } => Err(no_push()),
        }
    }

    /// Extends push notifications: Microsoft renews the subscription in place (or makes a new
    /// one when it is gone); Google channels cannot be renewed, so a new one starts and the old
    /// one stops.
    pub async fn renew(
        &self,
        token: &AccessToken,
        current: &Subscription,
        request: &SubscriptionRequest,
    ) -> Result<Subscription, ProviderError> {
        match self {
            Self::Google { api, .. } => {
                let next = api.watch(token, request).await?;
                api.stop(token, current).await?;
                Ok(next)
            }
            Self::Microsoft { api, .. } => {
                match api.renew(token, &current.id, request.expires_at).await {
                    // Gone at Microsoft (it ran out, or was removed there): a new one takes its
                    // place, or notifications would never come back.
                    Err(ProviderError::NotFound { .. }) => api.subscribe(token, request).await,
                    renewed => renewed,
                }
            }
            Self::Caldav { .. } => Err(no_push()),
        }
    }

    /// Stops push notifications; one already gone counts as stopped.
    pub async fn unsubscribe(
        &self,
        token: &AccessToken,
        subscription: &Subscription,
    ) -> Result<(), ProviderError> {
        match self {
            Self::Google { api, .. } => api.stop(token, subscription).await,
            Self::Microsoft { api, .. } => api.unsubscribe(token, &subscription.id).await,
            Self::Caldav { .. } => Ok(()),
        }
    }
}

/// CalDAV has no push notifications Kalends can receive: its busy times are imported on
/// schedule.
fn no_push() -> ProviderError {
    ProviderError::permanent(0, "CalDAV servers send no push notifications")
}

/// A window from `start` lasting `days`.
pub fn window_from(start: DateTime<Utc>, days: i64) -> Window {
    Window { start, end: start + chrono::Duration::days(days) }
}
