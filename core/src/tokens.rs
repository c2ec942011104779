//! Secret URL tokens (derived from the secret key, stored only as hashes) and signed links and
//! session cookies (staff settings, the tenant console).
//!
//! A feed's token is HMAC-SHA256(secret key, purpose ‖ feed id ‖ nonce): 256 bits that nobody
//! can guess without the key, that Kalends can show again (it keeps the nonce, not the token),
//! and that a new nonce replaces for good. The database keeps SHA-256(token) for the lookup.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use secrecy::ExposeSecret as _;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::config::{SecretKey, SecretKeys};

/// Bytes of a fresh nonce.
pub const NONCE_LEN: usize = 32;

/// A fresh random nonce.
pub fn nonce() -> Vec<u8> {
    use rand::RngCore as _;
    let mut bytes = vec![0; NONCE_LEN];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// The URL token of a feed (43 URL-safe characters).
pub fn feed_token(key: &SecretKey, feed_id: Uuid, nonce: &[u8]) -> String {
    derive(key, b"kalends/feed/v1", feed_id, nonce)
}

/// The URL token of an availability widget (43 URL-safe characters): made like a feed's, for
/// another purpose, so neither kind of token ever opens the other.
pub fn widget_token(key: &SecretKey, widget_id: Uuid, nonce: &[u8]) -> String {
    derive(key, b"kalends/availability-widget/v1", widget_id, nonce)
}

/// The token of a stored URL as its owner sees it again: `make` with the current secret key, or
/// with a previous one if the URL was made before a rotation (holders keep the URL they have;
/// only its hash is stored, so it keeps answering whatever the keys). Once no configured key
/// made it, it cannot be shown any more: the current key's token stands in.
pub fn shown_token(
    keys: &SecretKeys,
    stored_hash: &[u8],
    make: impl Fn(&SecretKey) -> String,
) -> String {
    keys.all()
        .map(&make)
        .find(|token| token_hash(token) == stored_hash)
        .unwrap_or_else(|| make(keys.current()))
}

fn derive(key: &SecretKey, purpose: &[u8], id: Uuid, nonce: &[u8]) -> String {
    #[allow(clippy::expect_used)]
    let mut mac = Hmac::<Sha256>::new_from_slice(key.expose_secret())
        .expect("HMAC accepts keys of any length");
    mac.update(purpose);
    mac.update(id.as_bytes());
    mac.update(nonce);
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// What a signed link or session cookie says: for which tenant, about whom, until when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The tenant.
    pub tenant_id: Uuid,
    /// Whom it is about: the one-time id of a dashboard link, the session of a staff or
    /// dashboard cookie.
    pub subject_id: Uuid,
    /// When the link or session stops working.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// What a signed token is for; a token signed for one purpose never verifies for another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// `GET /settings/{token}`: the one-time link the host hands a staff member
    /// ([`SettingsLinkClaim`]).
    SettingsLink,
    /// The `kalends_session` cookie set by that link (its subject is the session's id).
    StaffSession,
    /// `GET /dashboard/{token}`: the one-time link to the tenant console.
    DashboardLink,
    /// The `kalends_console` cookie set by that link.
    DashboardSession,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::SettingsLink => b"kalends/settings-link/v2",
            Purpose::StaffSession => b"kalends/staff-session/v1",
            Purpose::DashboardLink => b"kalends/dashboard-link/v1",
            Purpose::DashboardSession => b"kalends/dashboard-session/v1",
        }
    }
}

impl Claim {
    /// `base64url(tenant ‖ subject ‖ expiry) . base64url(HMAC-SHA256(key, purpose ‖ payload))`.
    pub fn sign(&self, key: &SecretKey, purpose: Purpose) -> String {
        let mut payload = Vec::with_capacity(40);
        payload.extend_from_slice(self.tenant_id.as_bytes());
        payload.extend_from_slice(self.subject_id.as_bytes());
        payload.extend_from_slice(&self.expires_at.timestamp().to_be_bytes());
        signed(key, purpose, &payload)
    }

    /// The claim of a token signed with `key` for `purpose` and not expired at `now`.
    pub fn verify(
        token: &str,
        key: &SecretKey,
        purpose: Purpose,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<Self> {
        let payload = verified(token, key, purpose, 40)?;
        let tenant_id = Uuid::from_slice(&payload[..16]).ok()?;
        let subject_id = Uuid::from_slice(&payload[16..32]).ok()?;
        let expires_at = unexpired(&payload[32..40], now)?;
        Some(Self { tenant_id, subject_id, expires_at })
    }

    /// Like [`Claim::verify`], with whichever of `keys` signed the token (a link or session
    /// made before a rotation of the secret key stays valid until it expires).
    pub fn verify_any<'k>(
        token: &str,
        keys: impl IntoIterator<Item = &'k SecretKey>,
        purpose: Purpose,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<Self> {
        keys.into_iter().find_map(|key| Self::verify(token, key, purpose, now))
    }
}

/// What a settings link says: whose settings, for which tenant, its own one-time id (so each
/// link minted is a new one, and opening it can be recorded once), until when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettingsLinkClaim {
    /// The tenant.
    pub tenant_id: Uuid,
    /// The staff member whose settings it opens.
    pub staff_id: Uuid,
    /// This link's id: opening it makes the one session it ever makes.
    pub link_id: Uuid,
    /// When the link stops working if nobody opened it.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

impl SettingsLinkClaim {
    /// `base64url(tenant ‖ staff ‖ link ‖ expiry) . base64url(HMAC-SHA256(key, purpose ‖
    /// payload))`, for [`Purpose::SettingsLink`].
    pub fn sign(&self, key: &SecretKey) -> String {
        let mut payload = Vec::with_capacity(56);
        payload.extend_from_slice(self.tenant_id.as_bytes());
        payload.extend_from_slice(self.staff_id.as_bytes());
        payload.extend_from_slice(self.link_id.as_bytes());
        payload.extend_from_slice(&self.expires_at.timestamp().to_be_bytes());
        signed(key, Purpose::SettingsLink, &payload)
    }

    /// The claim of a settings link signed with one of `keys` and not expired at `now`.
    pub fn verify_any<'k>(
        token: &str,
        keys: impl IntoIterator<Item = &'k SecretKey>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<Self> {
        let payload =
            keys.into_iter().find_map(|key| verified(token, key, Purpose::SettingsLink, 56))?;
        Some(Self {
            tenant_id: Uuid::from_slice(&payload[..16]).ok()?,
            staff_id: Uuid::from_slice(&payload[16..32]).ok()?,
            link_id: Uuid::from_slice(&payload[32..48]).ok()?,
            expires_at: unexpired(&payload[48..56], now)?,
        })
    }
}

/// A session's id as the database keeps it: SHA-256 of its 16 bytes (the cookie names the
/// session; a copy of the table names none).
pub fn session_hash(id: Uuid) -> Vec<u8> {
    Sha256::digest(id.as_bytes()).to_vec()
}

/// A fresh random (version 4) id: 122 bits nobody can guess, for a session.
pub fn random_id() -> Uuid {
    use rand::RngCore as _;
    let mut bytes = [0; 16];
    rand::rng().fill_bytes(&mut bytes);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// `base64url(payload) . base64url(HMAC-SHA256(key, purpose ‖ payload))`.
fn signed(key: &SecretKey, purpose: Purpose, payload: &[u8]) -> String {
    let tag = mac(key, purpose, payload);
    format!("{}.{}", URL_SAFE_NO_PAD.encode(payload), URL_SAFE_NO_PAD.encode(tag))
}

/// The payload of a token signed with `key` for `purpose`, if it is `len` bytes long.
fn verified(token: &str, key: &SecretKey, purpose: Purpose, len: usize) -> Option<Vec<u8>> {
    use subtle::ConstantTimeEq as _;
    let (payload, tag) = token.split_once('.')?;
    let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    (payload.len() == len && bool::from(mac(key, purpose, &payload).ct_eq(&tag))).then_some(payload)
}

/// The expiry written as 8 big-endian bytes of Unix seconds, if it is after `now`.
fn unexpired(
    bytes: &[u8],
    now: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let seconds = i64::from_be_bytes(bytes.try_into().ok()?);
    chrono::DateTime::from_timestamp(seconds, 0).filter(|at| *at > now)
}

fn mac(key: &SecretKey, purpose: Purpose, payload: &[u8]) -> Vec<u8> {
    #[allow(clippy::expect_used)]
    let mut mac = Hmac::<Sha256>::new_from_slice(key.expose_secret())
        .expect("HMAC accepts keys of any length");
    mac.update(purpose.label());
    mac.update(payload);
    mac.finalize().into_bytes().to_vec()
}

/// The token of a booking's public invite link (`/invite/{token}.ics`):
/// `base64url(booking id ‖ HMAC-SHA256(key, purpose ‖ booking id))`, 64 characters. Nothing is
/// stored: the link verifies itself, and without the key nobody can make one.
pub fn invite_token(key: &SecretKey, booking_id: Uuid) -> String {
    let mut bytes = booking_id.as_bytes().to_vec();
    bytes.extend_from_slice(&invite_mac(key, booking_id));
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The booking an invite token was made for, if it was made with `key`.
pub fn verify_invite_token(key: &SecretKey, token: &str) -> Option<Uuid> {
    use subtle::ConstantTimeEq as _;
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    if bytes.len() != 48 {
        return None;
    }
    let booking_id = Uuid::from_slice(&bytes[..16]).ok()?;
    bool::from(invite_mac(key, booking_id).ct_eq(&bytes[16..])).then_some(booking_id)
}

fn invite_mac(key: &SecretKey, booking_id: Uuid) -> Vec<u8> {
    #[allow(clippy::expect_used)]
    let mut mac = Hmac::<Sha256>::new_from_slice(key.expose_secret())
        .expect("HMAC accepts keys of any length");
    mac.update(b"kalends/invite/v1");
    mac.update(booking_id.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// What the database keeps of a token.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use secrecy::SecretBox;

    use super::*;

    fn key(byte: u8) -> SecretKey {
        SecretBox::new(Box::new([byte; 32]))
    }

    #[test]
    fn the_same_feed_and_nonce_give_the_same_token_and_a_new_nonce_a_new_one() {
        let (id, n) = (Uuid::now_v7(), nonce());
        let token = feed_token(&key(1), id, &n);
        assert_eq!(token.len(), 43);
        assert_eq!(token, feed_token(&key(1), id, &n));
        assert_ne!(token, feed_token(&key(1), id, &nonce()));
        assert_ne!(token, feed_token(&key(2), id, &n), "another key, another token");
    }

    #[test]
    fn a_widget_token_is_not_the_feed_token_of_the_same_id_and_nonce() {
        let (id, n) = (Uuid::now_v7(), nonce());
        let token = widget_token(&key(1), id, &n);
        assert_eq!(token.len(), 43);
        assert_eq!(token, widget_token(&key(1), id, &n));
        assert_ne!(token, feed_token(&key(1), id, &n));
    }

    #[test]
    fn a_signed_link_verifies_until_it_expires_and_only_for_its_purpose() {
        let now = chrono::Utc::now();
        let claim = Claim {
            tenant_id: Uuid::now_v7(),
            subject_id: Uuid::now_v7(),
            expires_at: now + chrono::Duration::minutes(15),
        };
        let token = claim.sign(&key(1), Purpose::DashboardLink);
        let verified = Claim::verify(&token, &key(1), Purpose::DashboardLink, now).unwrap();
        assert_eq!(verified.subject_id, claim.subject_id);
        assert_eq!(verified.expires_at.timestamp(), claim.expires_at.timestamp());
        assert!(Claim::verify(&token, &key(1), Purpose::DashboardSession, now).is_none());
        assert!(Claim::verify(&token, &key(2), Purpose::DashboardLink, now).is_none());
        let later = now + chrono::Duration::minutes(16);
        assert!(Claim::verify(&token, &key(1), Purpose::DashboardLink, later).is_none());
        let mut forged = token.clone();
        forged.replace_range(0..1, if token.starts_with('A') { "B" } else { "A" });
        assert!(Claim::verify(&forged, &key(1), Purpose::DashboardLink, now).is_none());
    }

    #[test]
    fn a_settings_link_names_its_staff_member_and_its_own_id_and_nothing_else_opens_as_one() {
        let now = chrono::Utc::now();
        let link = SettingsLinkClaim {
            tenant_id: Uuid::now_v7(),
            staff_id: Uuid::now_v7(),
            link_id: random_id(),
            expires_at: now + chrono::Duration::minutes(15),
        };
        let token = link.sign(&key(1));
        let opened = SettingsLinkClaim::verify_any(&token, [&key(2), &key(1)], now).unwrap();
        assert_eq!((opened.staff_id, opened.link_id), (link.staff_id, link.link_id));
        assert!(SettingsLinkClaim::verify_any(&token, [&key(2)], now).is_none());
        let later = now + chrono::Duration::minutes(16);
        assert!(SettingsLinkClaim::verify_any(&token, [&key(1)], later).is_none());
        let session = Claim {
            tenant_id: link.tenant_id,
            subject_id: link.staff_id,
            expires_at: opened.expires_at,
        };
        let cookie = session.sign(&key(1), Purpose::StaffSession);
        assert!(SettingsLinkClaim::verify_any(&cookie, [&key(1)], now).is_none());
        assert!(Claim::verify(&token, &key(1), Purpose::StaffSession, now).is_none());
    }

    #[test]
    fn an_invite_link_names_its_booking_and_cannot_be_forged() {
        let booking = Uuid::now_v7();
        let token = invite_token(&key(1), booking);
        assert_eq!(token.len(), 64);
        assert_eq!(verify_invite_token(&key(1), &token), Some(booking));
        assert_eq!(verify_invite_token(&key(2), &token), None);
        let other = invite_token(&key(1), Uuid::now_v7());
        let forged = format!("{}{}", &other[..22], &token[22..]);
        assert_eq!(verify_invite_token(&key(1), &forged), None);
        assert_eq!(verify_invite_token(&key(1), "short"), None);
    }

    #[test]
    fn the_stored_hash_does_not_reveal_the_token() {
        let token = feed_token(&key(1), Uuid::now_v7(), &nonce());
        let hash = token_hash(&token);
        assert_eq!(hash.len(), 32);
        assert!(!URL_SAFE_NO_PAD.encode(&hash).contains(&token));
    }
}
