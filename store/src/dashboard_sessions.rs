//! Sessions of the tenant console: opened once per dashboard link, ended by signing out or by
//! their expiry.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Store, StoreError, now, with_pool, with_read_pool};

impl Store {
    /// Opens a console session for the dashboard link `link_id`; a link opened before answers
    /// [`StoreError::LinkUsed`], a tenant that is gone [`StoreError::NotFound`].
    pub async fn open_dashboard_session(
        &self,
        tenant_id: Uuid,
        link_id: Uuid,
        expires_at: DateTime<Utc>,
    ) -> Result<Uuid, StoreError> {
        let id = Uuid::now_v7();
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO dashboard_sessions (id, tenant_id, link_id, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(tenant_id)
            .bind(link_id)
            .bind(now())
            .bind(expires_at)
            .execute(pool)
            .await
            .map(|_| ())
        })
        .map_err(|e| match StoreError::from(e) {
            StoreError::ForeignKey => StoreError::NotFound,
            other => other,
        })?;
        Ok(id)
    }

    /// Whether the tenant's console session is open: not signed out, not expired.
    pub async fn dashboard_session_open(
        &self,
        tenant_id: Uuid,
        session_id: Uuid,
    ) -> Result<bool, StoreError> {
        let found: Option<(Uuid,)> = with_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id FROM dashboard_sessions WHERE id = $1 AND tenant_id = $2 \
                 AND signed_out_at IS NULL AND expires_at > $3",
            )
            .bind(session_id)
            .bind(tenant_id)
            .bind(now())
            .fetch_optional(pool)
            .await
        })?;
        Ok(found.is_some())
    }

    /// Ends a console session now (signing out).
    pub async fn close_dashboard_session(
        &self,
        tenant_id: Uuid,
        session_id: Uuid,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE dashboard_sessions SET signed_out_at = $1 \
                 WHERE id = $2 AND tenant_id = $3 AND signed_out_at IS NULL",
            )
            .bind(now())
            .bind(session_id)
            .bind(tenant_id)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }
}
