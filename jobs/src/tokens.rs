//! The provider tokens of connections, kept sealed in Kalends' database: the [`TokenStore`] the
//! providers' [`Credentials`](kalends_providers::session::Credentials) refresh through.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kalends_core::domain::{ConnectionStatus, ConnectionTokens};
use kalends_core::seal::Sealer;
use kalends_providers::session::TokenStoreError;
use kalends_providers::session::{Delegation, StoredTokens, TokenStore};
use kalends_store::Store;
use uuid::Uuid;

/// Tokens sealed with `sealer` in `store` (each bound to its connection and column), with the
/// store's version and refresh lease.
#[derive(Clone, Debug)]
pub struct SealedTokenStore {
    store: Store,
    sealer: Sealer,
}

impl SealedTokenStore {
    /// Tokens in `store`, sealed with `sealer`.
    pub fn new(store: Store, sealer: Sealer) -> Self {
        Self { store, sealer }
    }
}

#[async_trait]
impl TokenStore for SealedTokenStore {
    async fn tokens(&self, connection: Uuid) -> Result<Option<StoredTokens>, TokenStoreError> {
        let kept = self.store.connection_tokens(connection, &self.sealer).await?;
        Ok(kept.map(|k| StoredTokens { tokens: k.tokens, version: k.version, mailbox: k.mailbox }))
    }

    async fn lease_refresh(
        &self,
        connection: Uuid,
        version: i64,
        until: DateTime<Utc>,
    ) -> Result<bool, TokenStoreError> {
        Ok(self.store.lease_token_refresh(connection, version, until).await?)
    }

    async fn release_refresh(&self, connection: Uuid) -> Result<(), TokenStoreError> {
        Ok(self.store.release_token_refresh(connection).await?)
    }

    async fn save_refreshed(
        &self,
        connection: Uuid,
        tokens: &ConnectionTokens,
    ) -> Result<(), TokenStoreError> {
        Ok(self.store.store_refreshed_tokens(connection, tokens, &self.sealer).await?)
    }

    async fn grant_dead(
        &self,
        connection: Uuid,
        version: i64,
        reason: &str,
    ) -> Result<(), TokenStoreError> {
        let status = ConnectionStatus::NeedsReauth;
        Ok(self.store.mark_tokens_refused(connection, version, status, reason).await?)
    }

    async fn delegation(&self, connection: Uuid) -> Result<Option<Delegation>, TokenStoreError> {
        let coverage = self.store.coverage(connection, &self.sealer).await?;
        Ok(coverage.map(kalends_service::organisations::delegation))
    }

    async fn delegation_refused(
        &self,
        connection: Uuid,
        version: i64,
        reason: &str,
    ) -> Result<(), TokenStoreError> {
        // The organisation's administrator acts, not the staff member: no reconnect e-mail.
        let status = ConnectionStatus::Error;
        Ok(self.store.mark_tokens_refused(connection, version, status, reason).await?)
    }
}
