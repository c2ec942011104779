//! API keys: random, shown once, stored as a SHA-256 hash.
//!
//! Keys carry 256 bits of randomness, so a fast hash is enough: there is nothing to brute-force.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::tenants::TenantRow;
use super::{Store, StoreError, now, with_pool, with_read_pool};
use crate::domain::Tenant;

const KEY_PREFIX: &str = "kal_";

fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// Mints a new API key for the tenant and returns it; only its hash is kept.
    pub async fn create_api_key(&self, tenant_id: Uuid) -> Result<SecretString, StoreError> {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        let key = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
        let prefix: String = key.chars().take(12).collect();
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO api_keys (id, tenant_id, key_hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(Uuid::now_v7())
            .bind(tenant_id)
            .bind(hash_key(&key))
            .bind(prefix)
            .bind(now())
            .execute(pool)
            .await
            .map(|_| ())
        })
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::NotFound,
            other => other,
        })?;
        Ok(SecretString::from(key))
    }

    /// The tenant a presented API key belongs to, if the key is valid and not revoked.
    pub async fn authenticate(&self, key: &SecretString) -> Result<Option<Tenant>, StoreError> {
        let key = key.expose_secret();
        if !key.starts_with(KEY_PREFIX) || key.len() > 128 {
            return Ok(None);
        }
        let hash = hash_key(key);
        let row: Option<TenantRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT t.id, t.settings, t.created_at FROM api_keys k JOIN tenants t ON t.id = k.tenant_id \
                 WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
            )
            .bind(&hash)
            .fetch_optional(pool)
            .await
        })?;
        row.map(Tenant::try_from).transpose()
    }
}
