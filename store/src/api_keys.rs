//! API keys: random, shown once, stored as a SHA-256 hash.
//!
//! Keys carry 256 bits of randomness, so a fast hash is enough: there is nothing to brute-force.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::tenants::TenantRow;
use super::{Pool, Store, StoreError, now, with_pool, with_read_pool};
use kalends_core::domain::Tenant;

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
            StoreError::ForeignKey => StoreError::NotFound,
            other => other,
        })?;
        Ok(SecretString::from(key))
    }

    /// The tenant a presented API key belongs to, if the key is valid and not revoked.
    pub async fn authenticate(&self, key: &SecretString) -> Result<Option<Tenant>, StoreError> {
        Ok(self.authenticate_key(key).await?.map(|(tenant, _)| tenant))
    }

    /// Like [`Store::authenticate`], with the id of the presented key.
    pub async fn authenticate_key(
        &self,
        key: &SecretString,
    ) -> Result<Option<(Tenant, Uuid)>, StoreError> {
        let key = key.expose_secret();
        if !key.starts_with(KEY_PREFIX) || key.len() > 128 {
            return Ok(None);
        }
        let hash = hash_key(key);
        let row: Option<KeyRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT k.id AS key_id, t.id, t.settings, t.created_at FROM api_keys k \
                 JOIN tenants t ON t.id = k.tenant_id WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
            )
            .bind(&hash)
            .fetch_optional(pool)
            .await
        })?;
        row.map(|row| Ok((Tenant::try_from(row.tenant)?, row.key_id))).transpose()
    }
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    key_id: Uuid,
    #[sqlx(flatten)]
    tenant: TenantRow,
}

/// An API key as its tenant may see it: never the key itself.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ApiKeyInfo {
    /// The key's id.
    pub id: Uuid,
    /// The first characters of the key (`kal_` and 8 more), to tell keys apart.
    pub prefix: String,
    /// When it was minted.
    pub created_at: DateTime<Utc>,
    /// When it was revoked; `None` while it works.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What revoking a key did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// The key stops working now (or had been revoked at this time already).
    Revoked(DateTime<Utc>),
    /// Refused: it is the tenant's last active key, and the caller asked to keep one.
    LastActiveKey,
}

impl Store {
    /// The tenant's keys, oldest first, revoked ones included.
    pub async fn list_api_keys(&self, tenant_id: Uuid) -> Result<Vec<ApiKeyInfo>, StoreError> {
        let rows = with_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, prefix, created_at, revoked_at FROM api_keys WHERE tenant_id = $1 \
                 ORDER BY id",
            )
            .bind(tenant_id)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Revokes the tenant's key `key_id`: it answers 401 from the next request on. Revoking a
    /// revoked key changes nothing. With `keep_one`, the tenant's last active key is refused, so
    /// an API client cannot lock its tenant out (only an operator can mint keys).
    /// `NotFound` when the tenant has no such key.
    pub async fn revoke_api_key(
        &self,
        tenant_id: Uuid,
        key_id: Uuid,
        keep_one: bool,
    ) -> Result<Revocation, StoreError> {
        let at = now();
        let changed = match &self.pool {
            // One statement on the single writer: the count and the update cannot interleave.
            Pool::Sqlite { write, .. } => sqlx::query(REVOKE_SQL)
                .bind(tenant_id)
                .bind(key_id)
                .bind(at)
                .bind(keep_one)
                .execute(write)
                .await?
                .rows_affected(),
            // Two clients revoking each other's key at once must not both see the other active:
            // they queue on the tenant's row.
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT id FROM tenants WHERE id = $1 FOR UPDATE")
                    .bind(tenant_id)
                    .execute(&mut *tx)
                    .await?;
                let changed = sqlx::query(REVOKE_SQL)
                    .bind(tenant_id)
                    .bind(key_id)
                    .bind(at)
                    .bind(keep_one)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                changed
            }
        };
        if changed == 1 {
            return Ok(Revocation::Revoked(at));
        }
        let found = self.list_api_keys(tenant_id).await?.into_iter().find(|k| k.id == key_id);
        match found {
            None => Err(StoreError::NotFound),
            Some(ApiKeyInfo { revoked_at: Some(at), .. }) => Ok(Revocation::Revoked(at)),
            Some(_) => Ok(Revocation::LastActiveKey),
        }
    }
}

/// Sets `revoked_at` of an active key, unless `keep_one` and no other active key remains.
const REVOKE_SQL: &str = "UPDATE api_keys SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 \
     AND revoked_at IS NULL AND (NOT $4 OR EXISTS (SELECT 1 FROM api_keys o \
     WHERE o.tenant_id = $1 AND o.id <> $2 AND o.revoked_at IS NULL))";
