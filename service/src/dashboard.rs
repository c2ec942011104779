//! The tenant console's access: a signed one-time link (minted by the CLI or the host through
//! the API), a session opened by it, signing out.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use kalends_core::config::{SecretKey, SecretKeys};
use kalends_core::tokens::{Claim, Purpose};
use kalends_store::{Store, StoreError};

/// A link to the console, for the host's admin screen or a person.
#[derive(Clone, Debug)]
pub struct DashboardLink {
    /// `{public_url}/dashboard/{token}`.
    pub url: String,
    /// When it stops working if nobody opened it.
    pub expires_at: DateTime<Utc>,
}

/// Why a dashboard link opened no session.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Not signed by this Kalends, altered, or expired.
    #[error("this link is not valid or has expired")]
    Invalid,
    /// Opened before: a link works once.
    #[error("this link was used already")]
    Used,
    /// The tenant it was made for is gone.
    #[error("the business this link was made for no longer exists")]
    NoTenant,
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
}

/// Mints a one-time console link for the tenant, valid for `lifetime`.
pub async fn link(
    store: &Store,
    key: &SecretKey,
    public_url: &str,
    tenant_id: Uuid,
    lifetime: Duration,
) -> Result<DashboardLink, StoreError> {
    store.tenant(tenant_id).await?;
    let expires_at = Utc::now() + lifetime;
    let claim = Claim { tenant_id, subject_id: Uuid::now_v7(), expires_at };
    let token = claim.sign(key, Purpose::DashboardLink);
    Ok(DashboardLink { url: format!("{public_url}/dashboard/{token}"), expires_at })
}

/// Opens a session for a dashboard link; returns the session's claim (the cookie's content).
pub async fn open(
    store: &Store,
    keys: &SecretKeys,
    token: &str,
    lifetime: Duration,
) -> Result<Claim, LinkError> {
    let link = Claim::verify_any(token, keys.all(), Purpose::DashboardLink, Utc::now())
        .ok_or(LinkError::Invalid)?;
    let expires_at = Utc::now() + lifetime;
    let session = store
        .open_dashboard_session(link.tenant_id, link.subject_id, expires_at)
        .await
        .map_err(|e| match e {
        StoreError::LinkUsed => LinkError::Used,
        StoreError::NotFound => LinkError::NoTenant,
        other => LinkError::Store(other),
    })?;
    Ok(Claim { tenant_id: link.tenant_id, subject_id: session, expires_at })
}

/// The session a console cookie names, if it is signed, unexpired and not signed out.
pub async fn session(
    store: &Store,
    keys: &SecretKeys,
    cookie: &str,
) -> Result<Option<Claim>, StoreError> {
    let Some(claim) = Claim::verify_any(cookie, keys.all(), Purpose::DashboardSession, Utc::now())
    else {
        return Ok(None);
    };
    let open = store.dashboard_session_open(claim.tenant_id, claim.subject_id).await?;
    Ok(open.then_some(claim))
}

/// Ends a console session now.
pub async fn sign_out(store: &Store, session: &Claim) -> Result<(), StoreError> {
    store.close_dashboard_session(session.tenant_id, session.subject_id).await
}
