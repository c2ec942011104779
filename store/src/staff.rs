//! Staff members.

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::{Page, Store, StoreError, corrupt, now, outbox, with_pool, with_read_pool};
use kalends_core::domain::{NewStaff, Staff};
use kalends_core::job::Job;

#[derive(sqlx::FromRow)]
struct StaffRow {
    id: Uuid,
    external_id: Option<String>,
    name: String,
    email: Option<String>,
    time_zone: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, external_id, name, email, time_zone, created_at, updated_at";

impl TryFrom<StaffRow> for Staff {
    type Error = StoreError;
    fn try_from(r: StaffRow) -> Result<Self, StoreError> {
        Ok(Staff {
            id: r.id,
            data: NewStaff {
                external_id: r.external_id,
                name: r.name,
                email: r.email.map(|e| e.parse()).transpose().map_err(corrupt)?,
                time_zone: r.time_zone.map(|z| z.parse()).transpose().map_err(corrupt)?,
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

impl Store {
    /// Adds a staff member.
    pub async fn create_staff(&self, tenant_id: Uuid, new: NewStaff) -> Result<Staff, StoreError> {
        let (id, at) = (Uuid::now_v7(), now());
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO staff (id, tenant_id, external_id, name, email, time_zone, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            )
            .bind(id)
            .bind(tenant_id)
            .bind(&new.external_id)
            .bind(&new.name)
            .bind(new.email.as_ref().map(|e| e.as_str()))
            .bind(new.time_zone.map(String::from))
            .bind(at)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(Staff { id, data: new, created_at: at, updated_at: at })
    }

    /// One staff member of the tenant.
    pub async fn staff(&self, tenant_id: Uuid, id: Uuid) -> Result<Staff, StoreError> {
        self.one_of::<StaffRow, _>("staff", COLUMNS, tenant_id, id).await
    }

    /// The staff member with this external id, if any.
    pub async fn staff_by_external_id(
        &self,
        tenant_id: Uuid,
        ext: &str,
    ) -> Result<Option<Staff>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM staff WHERE tenant_id = $1 AND external_id = $2");
        let row: Option<StaffRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(ext)
                .fetch_optional(pool)
                .await
        })?;
        row.map(Staff::try_from).transpose()
    }

    /// The oldest staff member with this e-mail address (letter case aside), if any.
    pub async fn staff_by_email(
        &self,
        tenant_id: Uuid,
        email: &str,
    ) -> Result<Option<Staff>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM staff WHERE tenant_id = $1 AND LOWER(email) = LOWER($2) \
             ORDER BY id LIMIT 1"
        );
        let row: Option<StaffRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(email)
                .fetch_optional(pool)
                .await
        })?;
        row.map(Staff::try_from).transpose()
    }

    /// A page of the tenant's staff after the cursor.
    pub async fn list_staff(
        &self,
        tenant_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Page<Staff>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM staff WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
        );
        let rows: Vec<StaffRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(after)
                .bind(i64::from(limit) + 1)
                .fetch_all(pool)
                .await
        })?;
        let items = rows.into_iter().map(Staff::try_from).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, limit, |s| s.id))
    }

    /// Replaces a staff member's fields.
    pub async fn update_staff(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        new: NewStaff,
    ) -> Result<Staff, StoreError> {
        let done = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE staff SET external_id = $1, name = $2, email = $3, time_zone = $4, updated_at = $5 \
                 WHERE tenant_id = $6 AND id = $7",
            )
            .bind(&new.external_id)
            .bind(&new.name)
            .bind(new.email.as_ref().map(|e| e.as_str()))
            .bind(new.time_zone.map(String::from))
            .bind(now())
            .bind(tenant_id)
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        self.staff(tenant_id, id).await
    }

    /// Removes a staff member; their bookings lose them, get a new version and are re-synced.
    ///
    /// Their calendar connections go with them, but not before the provider is cleaned up: in the
    /// same transaction each connection that still has tokens owes a `clean_up_connection` job
    /// (its events removed, its push channels stopped, its grant revoked) holding what that
    /// needs, sealed; the staff member and everything else of theirs is gone at once.
    pub async fn delete_staff(&self, tenant_id: Uuid, id: Uuid) -> Result<(), StoreError> {
        let at = now();
        let mut cleanups = Vec::new();
        for connection in self.list_connections(tenant_id, Some(id)).await? {
            let parts = self.cleanup_parts(connection.id).await?;
            let cleanup_id = Uuid::now_v7();
            let job = outbox::encode(&Job::CleanUpConnection { tenant_id, cleanup_id })?;
            cleanups.push((connection.id, cleanup_id, parts, job));
        }
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            for (connection_id, cleanup_id, parts, job) in &cleanups {
                let owed = sqlx::query(super::cleanups::INSERT)
                    .bind(cleanup_id)
                    .bind(true)
                    .bind(&parts.events)
                    .bind(&parts.channels)
                    .bind(at)
                    .bind(connection_id)
                    .bind(&parts.coverage)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if owed == 1 {
                    sqlx::query(outbox::INSERT).bind(job).bind(at).execute(&mut *tx).await?;
                }
            }
            let bookings: Vec<(Uuid,)> = sqlx::query_as(
                "SELECT booking_id FROM booking_staff WHERE tenant_id = $1 AND staff_id = $2",
            )
            .bind(tenant_id)
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            let deleted = sqlx::query("DELETE FROM staff WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                return Err(StoreError::NotFound);
            }
            for (booking_id,) in bookings {
                sqlx::query(
                    "UPDATE bookings SET version = version + 1, updated_at = $1 WHERE id = $2",
                )
                .bind(at)
                .bind(booking_id)
                .execute(&mut *tx)
                .await?;
                let job = Job::sync_booking(tenant_id, booking_id);
                sqlx::query(outbox::INSERT)
                    .bind(outbox::encode(&job)?)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })?;
        self.outbox_signal.notify_one();
        Ok(())
    }
}
