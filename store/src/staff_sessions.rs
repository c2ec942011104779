//! Sessions of the staff settings page: opened once per settings link, ended by signing out,
//! by what `kalends_service::staff_sessions` says ends them, or by their expiry. A session is
//! found by the hash of its id ([`kalends_core::tokens::session_hash`]), never by the id itself.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Store, StoreError, now, with_pool, with_read_pool};

/// A session to open: whose, from which link, named by which hash, until when.
#[derive(Clone, Debug)]
pub struct NewStaffSession<'a> {
    /// The tenant.
    pub tenant_id: Uuid,
    /// The staff member it signs in.
    pub staff_id: Uuid,
    /// The one-time id of the settings link that opens it.
    pub link_id: Uuid,
    /// SHA-256 of the session's id.
    pub id_hash: &'a [u8],
    /// When it ends if nothing ends it sooner.
    pub expires_at: DateTime<Utc>,
}

impl Store {
    /// Opens a staff session; a link opened before answers [`StoreError::LinkUsed`], a staff
    /// member who is gone [`StoreError::NotFound`].
    pub async fn open_staff_session(
        &self,
        session: &NewStaffSession<'_>,
    ) -> Result<(), StoreError> {
        let opened = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO staff_sessions (id_hash, tenant_id, staff_id, link_id, created_at, \
                 expires_at) SELECT $1, tenant_id, id, $3, $4, $5 FROM staff \
                 WHERE id = $2 AND tenant_id = $6",
            )
            .bind(session.id_hash)
            .bind(session.staff_id)
            .bind(session.link_id)
            .bind(now())
            .bind(session.expires_at)
            .bind(session.tenant_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        if opened == 1 { Ok(()) } else { Err(StoreError::NotFound) }
    }

    /// The staff member an open session (not ended, not expired) of the tenant signs in.
    pub async fn staff_session(
        &self,
        tenant_id: Uuid,
        id_hash: &[u8],
    ) -> Result<Option<Uuid>, StoreError> {
        let found: Option<(Uuid,)> = with_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT staff_id FROM staff_sessions WHERE id_hash = $1 AND tenant_id = $2 \
                 AND ended_at IS NULL AND expires_at > $3",
            )
            .bind(id_hash)
            .bind(tenant_id)
            .bind(now())
            .fetch_optional(pool)
            .await
        })?;
        Ok(found.map(|(staff_id,)| staff_id))
    }

    /// Ends the staff member's open sessions now, all but the one whose hash is `kept` (none
    /// when it is empty); returns how many ended.
    pub async fn end_staff_sessions(
        &self,
        tenant_id: Uuid,
        staff_id: Uuid,
        kept: &[u8],
    ) -> Result<u64, StoreError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE staff_sessions SET ended_at = $1 WHERE tenant_id = $2 AND staff_id = $3 \
                 AND ended_at IS NULL AND id_hash <> $4",
            )
            .bind(now())
            .bind(tenant_id)
            .bind(staff_id)
            .bind(kept)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?)
    }

    /// Ends one staff session now (signing out).
    pub async fn end_staff_session(
        &self,
        tenant_id: Uuid,
        id_hash: &[u8],
    ) -> Result<(), StoreError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE staff_sessions SET ended_at = $1 \
                 WHERE id_hash = $2 AND tenant_id = $3 AND ended_at IS NULL",
            )
            .bind(now())
            .bind(id_hash)
            .bind(tenant_id)
            .execute(pool)
            .await
            .map(|_| ())
        })?)
    }
}
