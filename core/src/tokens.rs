//! Secret URL tokens: derived from the secret key, stored only as hashes.
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

use crate::config::SecretKey;

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

fn derive(key: &SecretKey, purpose: &[u8], id: Uuid, nonce: &[u8]) -> String {
    #[allow(clippy::expect_used)]
    let mut mac = Hmac::<Sha256>::new_from_slice(key.expose_secret())
        .expect("HMAC accepts keys of any length");
    mac.update(purpose);
    mac.update(id.as_bytes());
    mac.update(nonce);
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
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
    fn the_stored_hash_does_not_reveal_the_token() {
        let token = feed_token(&key(1), Uuid::now_v7(), &nonce());
        let hash = token_hash(&token);
        assert_eq!(hash.len(), 32);
        assert!(!URL_SAFE_NO_PAD.encode(&hash).contains(&token));
    }
}
