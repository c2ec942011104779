//! Provider tokens as the store takes and gives them, and what each sealed token is bound to.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use uuid::Uuid;

/// Tokens as the store takes and gives them (sealed in between).
#[derive(Clone, Debug)]
pub struct StoredTokens {
    /// Bearer token.
    pub access_token: SecretString,
    /// Refresh token; `None` on a refresh means "keep the one stored" (Google never rotates).
    pub refresh_token: Option<SecretString>,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
}

/// What a sealed token is bound to: its connection and its column.
pub(crate) fn context(id: Uuid, field: &str) -> String {
    format!("connection/{id}/{field}")
}
