//! The staff settings page's access: a one-time settings link (minted by the host through the
//! API, the console, or e-mailed) opens a session; signing out ends it. What else ends a staff
//! member's sessions is decided here: a new settings link for them (the sessions opened before
//! it), a calendar of theirs disconnected (all but the session that did it), and deleting them
//! (their sessions go with them).

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use kalends_core::config::{SecretKey, SecretKeys};
use kalends_core::tokens::{Claim, Purpose, SettingsLinkClaim, random_id, session_hash};
use kalends_store::NewStaffSession;
use kalends_store::{Store, StoreError};

/// How long a staff session lasts after its link was opened.
pub const SESSION_HOURS: i64 = 12;

/// A link to a staff member's settings, for the host's screen, the console or an e-mail.
#[derive(Clone)]
pub struct SettingsLink {
    /// `{public_url}/settings/{token}`.
    pub url: String,
    /// When it stops working if nobody opened it.
    pub expires_at: DateTime<Utc>,
}

/// Shows the link's host alone: its token opens the staff member's settings.
impl std::fmt::Debug for SettingsLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettingsLink")
            .field("url", &kalends_core::redact::url_host_only(&self.url))
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Why a settings link opened no session.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Not signed by this Kalends, altered, or expired.
    #[error("this link is not valid or has expired")]
    Invalid,
    /// Opened before: a link works once.
    #[error("this link was already used")]
    Used,
    /// The staff member it was made for is gone.
    #[error("the staff member this link was made for no longer exists")]
    NoStaff,
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
}

/// A signed-in staff member, as their session cookie names them.
#[derive(Clone, Debug)]
pub struct StaffSession {
    /// The tenant.
    pub tenant_id: Uuid,
    /// The staff member.
    pub staff_id: Uuid,
    /// The session's id as the store keeps it.
    id_hash: Vec<u8>,
}

/// A session just opened: the staff member's and the cookie's content.
#[derive(Clone, Debug)]
pub struct Opened {
    /// The session.
    pub session: StaffSession,
    /// The claim the session cookie carries (its subject is the session's id).
    pub cookie: Claim,
}

/// Signs a one-time settings link for the staff member, valid for `lifetime`, ending nothing:
/// the reconnect e-mail a dead grant sends on its own (the staff member may be on the page,
/// connecting again). A link someone asked for is [`new_link`].
pub fn sign_link(
    key: &SecretKey,
    public_url: &str,
    tenant_id: Uuid,
    staff_id: Uuid,
    lifetime: Duration,
) -> SettingsLink {
    let expires_at = Utc::now() + lifetime;
    let claim = SettingsLinkClaim { tenant_id, staff_id, link_id: random_id(), expires_at };
    let url = format!("{}/settings/{}", public_url.trim_end_matches('/'), claim.sign(key));
    SettingsLink { url, expires_at }
}

/// Mints a settings link someone asked for (the host's API, the console, the console's e-mail):
/// the staff member's sessions opened before it end, so the holder of an older link's session
/// (a forwarded link) is signed out once a new one is asked for.
pub async fn new_link(
    store: &Store,
    key: &SecretKey,
    public_url: &str,
    tenant_id: Uuid,
    staff_id: Uuid,
    lifetime: Duration,
) -> Result<SettingsLink, StoreError> {
    let ended = store.end_staff_sessions(tenant_id, staff_id, &[]).await?;
    if ended > 0 {
        tracing::info!(%staff_id, ended, "a new settings link ended older staff sessions");
    }
    Ok(sign_link(key, public_url, tenant_id, staff_id, lifetime))
}

/// Opens the one session a settings link makes, for [`SESSION_HOURS`].
pub async fn open(store: &Store, keys: &SecretKeys, token: &str) -> Result<Opened, LinkError> {
    let link =
        SettingsLinkClaim::verify_any(token, keys.all(), Utc::now()).ok_or(LinkError::Invalid)?;
    let id = random_id();
    let id_hash = session_hash(id);
    let expires_at = Utc::now() + Duration::hours(SESSION_HOURS);
    let new = NewStaffSession {
        tenant_id: link.tenant_id,
        staff_id: link.staff_id,
        link_id: link.link_id,
        id_hash: &id_hash,
        expires_at,
    };
    store.open_staff_session(&new).await.map_err(|e| match e {
        StoreError::LinkUsed => LinkError::Used,
        StoreError::NotFound => LinkError::NoStaff,
        other => LinkError::Store(other),
    })?;
    let session = StaffSession { tenant_id: link.tenant_id, staff_id: link.staff_id, id_hash };
    Ok(Opened { session, cookie: Claim { tenant_id: link.tenant_id, subject_id: id, expires_at } })
}

/// The session a staff cookie names, if it is signed, unexpired and not ended.
pub async fn session(
    store: &Store,
    keys: &SecretKeys,
    cookie: &str,
) -> Result<Option<StaffSession>, StoreError> {
    let Some(claim) = Claim::verify_any(cookie, keys.all(), Purpose::StaffSession, Utc::now())
    else {
        return Ok(None);
    };
    let id_hash = session_hash(claim.subject_id);
    let staff = store.staff_session(claim.tenant_id, &id_hash).await?;
    Ok(staff.map(|staff_id| StaffSession { tenant_id: claim.tenant_id, staff_id, id_hash }))
}

/// Ends a staff session now.
pub async fn sign_out(store: &Store, session: &StaffSession) -> Result<(), StoreError> {
    store.end_staff_session(session.tenant_id, &session.id_hash).await
}

/// Ends the staff member's sessions after a calendar of theirs was disconnected, all but `kept`
/// (the session that disconnected it, if it was theirs): whoever else held a session of theirs
/// cannot connect another calendar in its place.
pub async fn end_on_disconnect(
    store: &Store,
    tenant_id: Uuid,
    staff_id: Uuid,
    kept: Option<&StaffSession>,
) -> Result<(), StoreError> {
    let kept = kept.filter(|s| s.tenant_id == tenant_id && s.staff_id == staff_id);
    let kept = kept.map_or(&[][..], |s| s.id_hash.as_slice());
    store.end_staff_sessions(tenant_id, staff_id, kept).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_settings_link_s_debug_shows_its_host_not_its_token() {
        let link = super::SettingsLink {
            url: "https://kalends.example/settings/v1.0123token".into(),
            expires_at: chrono::Utc::now(),
        };
        let shown = format!("{link:?}");
        assert!(shown.contains("kalends.example") && !shown.contains("0123token"), "{shown}");
    }
}
