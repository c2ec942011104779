//! `CalendarProvider`: what the jobs and the front need from a calendar service, over the closed
//! set of providers (enum dispatch). Provider-neutral types only cross it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use kalends_core::Config;
use secrecy::SecretString;

use crate::calendar::{
    AccessToken, AccountIdentity, BusyInterval, ChangeSet, EventDraft, Provider, RemoteCalendar,
    RemoteEvent, Subscription, SubscriptionRequest, TokenSet, Window,
};
use crate::error::ProviderError;
use crate::google::GoogleCalendar;
use crate::microsoft::MicrosoftCalendar;
use crate::oauth::{Authorization, OAuthClient, OAuthSettings, OAuthSetupError};
use crate::sandbox;

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

/// Both providers, configured; `sandboxed` says which ones talk to the built-in sandbox.
#[derive(Clone, Debug)]
pub struct Providers {
    google: CalendarProvider,
    microsoft: CalendarProvider,
    /// Providers without a configured client id, served by the in-process sandbox.
    pub sandboxed: Vec<Provider>,
    /// Providers without a client id while the sandbox is off: connecting them is refused.
    pub unavailable: Vec<Provider>,
}

impl Providers {
    /// Builds both from the configuration. A provider without a client id uses the sandbox
    /// mounted at `{public_url}/sandbox` when the sandbox is enabled, and is unavailable when not.
    pub fn from_config(config: &Config) -> Result<Self, ProvidersError> {
        let public = config.public_url.trim_end_matches('/').to_owned();
        let sandbox_root = format!("{public}/sandbox");
        let timeout = Duration::from_secs(30);
        let mut sandboxed = Vec::new();

        let g = &config.google;
        let (id, secret, auth, token, revoke, api) = match &g.client_id {
            Some(id) => (
                id.clone(),
                g.client_secret.clone().ok_or(ProvidersError::MissingSecret("google"))?,
                g.auth_url.clone(),
                g.token_url.clone(),
                g.revoke_url.clone(),
                g.api_base_url.clone(),
            ),
            None => {
                sandboxed.push(Provider::Google);
                (
                    sandbox::GOOGLE_CLIENT_ID.to_owned(),
                    SecretString::from(sandbox::GOOGLE_CLIENT_SECRET),
                    format!("{sandbox_root}/google/o/oauth2/v2/auth"),
                    format!("{sandbox_root}/google/token"),
                    format!("{sandbox_root}/google/revoke"),
                    format!("{sandbox_root}/google/calendar/v3/"),
                )
            }
        };
        let google = CalendarProvider::Google {
            oauth: OAuthClient::new(OAuthSettings {
                client_id: id,
                client_secret: secret,
                auth_url: auth,
                token_url: token,
                revoke_url: Some(revoke),
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
                GoogleCalendar::new(&api, timeout).map_err(ProvidersError::api("google"))?,
            ),
        };

        let m = &config.microsoft;
        let (id, secret, authority, graph) = match &m.client_id {
            Some(id) => (
                id.clone(),
                m.client_secret.clone().ok_or(ProvidersError::MissingSecret("microsoft"))?,
                m.authority_url.trim_end_matches('/').to_owned(),
                m.graph_base_url.clone(),
            ),
            None => {
                sandboxed.push(Provider::Microsoft);
                (
                    sandbox::MICROSOFT_CLIENT_ID.to_owned(),
                    SecretString::from(sandbox::MICROSOFT_CLIENT_SECRET),
                    format!("{sandbox_root}/microsoft"),
                    format!("{sandbox_root}/microsoft/v1.0"),
                )
            }
        };
        let tenant = &m.tenant;
        let microsoft = CalendarProvider::Microsoft {
            oauth: OAuthClient::new(OAuthSettings {
                client_id: id,
                client_secret: secret,
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
                MicrosoftCalendar::new(&graph, timeout)
                    .map_err(ProvidersError::api("microsoft"))?,
            ),
        };
        let unavailable =
            if config.sandbox_enabled() { Vec::new() } else { std::mem::take(&mut sandboxed) };
        Ok(Self { google, microsoft, sandboxed, unavailable })
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
        }
    }
}

impl CalendarProvider {
    /// Which provider this is.
    pub fn kind(&self) -> Provider {
        match self {
            Self::Google { .. } => Provider::Google,
            Self::Microsoft { .. } => Provider::Microsoft,
        }
    }

    fn oauth(&self) -> &OAuthClient {
        match self {
            Self::Google { oauth, .. } | Self::Microsoft { oauth, .. } => oauth,
        }
    }

    /// Starts an authorization: the consent URL with a fresh state and PKCE challenge.
    pub fn authorize(&self, login_hint: Option<&str>) -> Authorization {
        self.oauth().authorize(login_hint)
    }

    /// Exchanges the callback's code for tokens.
    pub async fn exchange_code(
        &self,
        code: &str,
        pkce_verifier: &SecretString,
    ) -> Result<TokenSet, ProviderError> {
        self.oauth().exchange_code(code, pkce_verifier).await
    }

    /// New tokens from the refresh token (Microsoft rotates it: store the new one).
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<TokenSet, ProviderError> {
        self.oauth().refresh(refresh_token).await
    }

    /// Revokes the grant where the provider allows it (Google); `Ok(false)` where it has no
    /// endpoint (Microsoft: forgetting the tokens is all a third-party app can do).
    pub async fn revoke(&self, token: &SecretString) -> Result<bool, ProviderError> {
        self.oauth().revoke(token).await
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
        }
    }

    /// Creates or updates the booking's event, idempotently (event id / transactionId).
    pub async fn upsert_event(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        draft: &EventDraft,
        remote_id: Option<&str>,
    ) -> Result<RemoteEvent, ProviderError> {
        match self {
            Self::Google { api, .. } => {
                api.upsert_event(token, calendar_id, draft, remote_id).await
            }
            Self::Microsoft { api, .. } => {
                api.upsert_event(token, calendar_id, draft, remote_id).await
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
        }
    }

    /// Deletes an event; one that is already gone counts as deleted.
    pub async fn delete_event(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        id: &str,
    ) -> Result<(), ProviderError> {
        match self {
            Self::Google { api, .. } => api.delete_event(token, calendar_id, id).await,
            Self::Microsoft { api, .. } => api.delete_event(token, id).await,
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
            Self::Microsoft { api, .. } => api.list_kalends_events(token, window).await,
        }
    }

    /// Changes since `cursor` (a full listing of `window` without one), or "full sync required".
    pub async fn changes(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        cursor: Option<&str>,
        window: Window,
    ) -> Result<ChangeSet, ProviderError> {
        match self {
            Self::Google { api, .. } => api.changes(token, calendar_id, cursor, window).await,
            Self::Microsoft { api, .. } => api.changes(token, cursor, window).await,
        }
    }

    /// A calendar's single (non-recurring) events from `from` on, however far ahead (Microsoft:
    /// of the default calendar, the only one Graph imports; Google: ending after `from`).
    pub async fn single_events_from(
        &self,
        token: &AccessToken,
        calendar_id: &str,
        from: DateTime<Utc>,
    ) -> Result<Vec<RemoteEvent>, ProviderError> {
        match self {
            Self::Google { api, .. } => api.single_events_from(token, calendar_id, from).await,
            Self::Microsoft { api, .. } => api.single_events_from(token, from).await,
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
        }
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
        }
    }

    /// Extends push notifications: Microsoft renews the subscription in place; Google channels
    /// cannot be renewed, so a new one starts and the old one stops.
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
            Self::Microsoft { api, .. } => api.renew(token, &current.id, request.expires_at).await,
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
        }
    }
}

/// A window from `start` lasting `days`.
pub fn window_from(start: DateTime<Utc>, days: i64) -> Window {
    Window { start, end: start + chrono::Duration::days(days) }
}
