//! Sealing secrets at rest: OAuth tokens and PKCE verifiers are stored as
//! ChaCha20-Poly1305 ciphertexts under a key derived from the secret key, tagged with a key id.
//!
//! A sealed value reads `v1.<key id>.<base64url(nonce ‖ ciphertext)>`. The key id names the key
//! that sealed it, so a rotated secret key can still open older values while new ones use the
//! new key. The associated data binds a value to its row and field: a ciphertext copied into
//! another connection's row, or from the access-token column into the refresh-token column,
//! does not open.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac as _};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

use crate::config::SecretKey;

const NONCE_LEN: usize = 12;

/// Seals and opens secrets with the keys derived from the secret key(s).
#[derive(Clone)]
pub struct Sealer {
    /// The key that seals; the first to try when opening.
    current: SealingKey,
    /// Older keys that still open what they sealed.
    previous: Vec<SealingKey>,
}

#[derive(Clone)]
struct SealingKey {
    id: String,
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("key_id", &self.current.id)
            .field("previous", &self.previous.len())
            .finish()
    }
}

/// A value that does not open: wrong key, wrong row, or tampered with.
#[derive(Debug, thiserror::Error)]
#[error("a sealed secret could not be opened ({0})")]
pub struct SealError(&'static str);

impl Sealer {
    /// Derives the sealing key from the secret key (and keeps older keys for opening).
    pub fn new(current: &SecretKey, previous: &[SecretKey]) -> Self {
        Self {
            current: SealingKey::derive(current),
            previous: previous.iter().map(SealingKey::derive).collect(),
        }
    }

    /// The id of the key new values are sealed with.
    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    /// Seals `secret`, bound to `context` (e.g. "connection/<id>/access").
    pub fn seal(&self, secret: &SecretString, context: &str) -> String {
        use rand::RngCore as _;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload { msg: secret.expose_secret().as_bytes(), aad: context.as_bytes() };
        #[allow(clippy::expect_used)]
        let ciphertext = self
            .current
            .cipher
            .encrypt(&Nonce::from(nonce), payload)
            .expect("ChaCha20-Poly1305 encrypts any input shorter than 256 GiB");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&ciphertext);
        format!("v1.{}.{}", self.current.id, URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Whether `sealed` was sealed with the current key (otherwise re-seal it after opening, so
    /// that the previous key can be retired).
    pub fn is_current(&self, sealed: &str) -> bool {
        sealed.split('.').nth(1) == Some(self.current.id.as_str())
    }

    /// Opens a value sealed for the same `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<SecretString, SealError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some("v1"), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(SealError("unknown format"));
        };
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|key| key.id == key_id)
            .ok_or(SealError("sealed with a key that is not configured"))?;
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| SealError("not base64"))?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError("too short"));
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let payload = Payload { msg: ciphertext, aad: context.as_bytes() };
        let plain = key
            .cipher
            .decrypt(&nonce_of(nonce), payload)
            .map_err(|_| SealError("authentication failed"))?;
        String::from_utf8(plain).map(SecretString::from).map_err(|_| SealError("not UTF-8"))
    }
}

fn nonce_of(bytes: &[u8]) -> Nonce {
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(bytes);
    Nonce::from(nonce)
}

impl SealingKey {
    fn derive(secret: &SecretKey) -> Self {
        #[allow(clippy::expect_used)]
        let mut mac = <Hmac<Sha256> as hmac::Mac>::new_from_slice(secret.expose_secret())
            .expect("HMAC accepts keys of any length");
        mac.update(b"kalends/seal/v1");
        let key_bytes = mac.finalize().into_bytes();
        let id = Sha256::digest(key_bytes);
        Self {
            id: id[..4].iter().map(|byte| format!("{byte:02x}")).collect(),
            cipher: ChaCha20Poly1305::new(&Key::from(<[u8; 32]>::from(key_bytes))),
        }
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretBox;

    use super::*;

    fn key(byte: u8) -> SecretKey {
        SecretBox::new(Box::new([byte; 32]))
    }

    #[test]
    fn a_sealed_token_opens_only_with_its_key_and_context() {
        let sealer = Sealer::new(&key(1), &[]);
        let secret = SecretString::from("ya29.secret-access-token".to_owned());
        let sealed = sealer.seal(&secret, "connection/1/access");
        assert!(!sealed.contains("secret-access-token"));
        assert!(sealed.starts_with(&format!("v1.{}.", sealer.key_id())));
        let opened = sealer.open(&sealed, "connection/1/access").unwrap();
        assert_eq!(opened.expose_secret(), "ya29.secret-access-token");
        assert!(sealer.open(&sealed, "connection/2/access").is_err());
        assert!(sealer.open(&sealed, "connection/1/refresh").is_err());
        assert!(Sealer::new(&key(2), &[]).open(&sealed, "connection/1/access").is_err());
    }

    #[test]
    fn values_sealed_before_a_key_rotation_still_open() {
        let old = Sealer::new(&key(1), &[]);
        let sealed = old.seal(&SecretString::from("r".to_owned()), "c");
        let rotated = Sealer::new(&key(2), &[key(1)]);
        assert_ne!(rotated.key_id(), old.key_id());
        assert_eq!(rotated.open(&sealed, "c").unwrap().expose_secret(), "r");
        assert!(old.is_current(&sealed) && !rotated.is_current(&sealed));
        assert!(rotated.is_current(&rotated.seal(&SecretString::from("r".to_owned()), "c")));
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(rotated.open(&tampered, "c").is_err());
    }
}
