//! Tenants and their settings.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Store, StoreError, corrupt, now, with_pool, with_read_pool};
use kalends_core::domain::{Tenant, TenantSettings};

#[derive(sqlx::FromRow)]
pub(super) struct TenantRow {
    pub(super) id: Uuid,
    pub(super) settings: String,
    pub(super) created_at: DateTime<Utc>,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = StoreError;
    fn try_from(row: TenantRow) -> Result<Self, StoreError> {
        let settings = serde_json::from_str(&row.settings).map_err(corrupt)?;
        Ok(Tenant { id: row.id, settings, created_at: row.created_at })
    }
}

/// A tenant's content version and when its content or settings last changed
/// (`content_version`, `content_changed_at`), as two columns of a query in which `tenant_id`
/// names the tenant. Every change that can alter an exported feed moves the version (triggers,
/// at commit on PostgreSQL); it is the sum of the tenant's counters in `content_versions`, whose
/// slots let concurrent writers of one tenant bump different rows (migration
/// `20261124000400`), so it moves with every change, never repeats, and costs one indexed read
/// of a few rows. The settings (busy label, privacy, zone) are in the body too: readers digest
/// them into the `ETag` themselves, and their last change counts for `Last-Modified` here.
pub(super) fn content_version_columns(tenant_id: &str) -> String {
    format!(
        "(SELECT CAST(COALESCE(SUM(v.version), 0) AS BIGINT) FROM content_versions v \
         WHERE v.tenant_id = {tenant_id}) AS content_version, \
         (SELECT MAX(c.at) FROM (\
         SELECT MAX(v.changed_at) AS at FROM content_versions v WHERE v.tenant_id = {tenant_id} \
         UNION ALL SELECT t.updated_at AS at FROM tenants t WHERE t.id = {tenant_id}) c) \
         AS content_changed_at"
    )
}

impl Store {
    /// Creates a tenant with `settings` (name and zone included).
    pub async fn create_tenant(&self, settings: TenantSettings) -> Result<Tenant, StoreError> {
        let id = Uuid::now_v7();
        let at = now();
        let json = serde_json::to_string(&settings).map_err(corrupt)?;
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO tenants (id, name, settings, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(id)
            .bind(&settings.name)
            .bind(&json)
            .bind(at)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(Tenant { id, settings, created_at: at })
    }

    /// The tenant with this id.
    pub async fn tenant(&self, id: Uuid) -> Result<Tenant, StoreError> {
        let row: TenantRow = with_read_pool!(self, |pool| {
            sqlx::query_as("SELECT id, settings, created_at FROM tenants WHERE id = $1")
                .bind(id)
                .fetch_one(pool)
                .await
        })?;
        row.try_into()
    }

    /// How many tenants exist (the first start of an empty database creates a demo tenant).
    pub async fn count_tenants(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = with_read_pool!(self, |pool| {
            sqlx::query_as("SELECT COUNT(*) FROM tenants").fetch_one(pool).await
        })?;
        Ok(n)
    }

    /// Replaces the tenant's settings.
    pub async fn update_tenant_settings(
        &self,
        id: Uuid,
        settings: &TenantSettings,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(settings).map_err(corrupt)?;
        let done = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE tenants SET name = $1, settings = $2, updated_at = $3 WHERE id = $4",
            )
            .bind(&settings.name)
            .bind(&json)
            .bind(now())
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        if done == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }
}
