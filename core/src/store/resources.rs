//! Resources: the bookable things (a property, a room, a rental item).

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::{Page, Store, StoreError, corrupt, now, with_pool, with_read_pool};
use crate::domain::{NewResource, Resource};

#[derive(sqlx::FromRow)]
struct ResourceRow {
    id: Uuid,
    external_id: Option<String>,
    name: String,
    time_zone: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, external_id, name, time_zone, created_at, updated_at";

impl TryFrom<ResourceRow> for Resource {
    type Error = StoreError;
    fn try_from(r: ResourceRow) -> Result<Self, StoreError> {
        let time_zone = r.time_zone.map(|z| z.parse()).transpose().map_err(corrupt)?;
        Ok(Resource {
            id: r.id,
            data: NewResource { external_id: r.external_id, name: r.name, time_zone },
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

impl Store {
    /// Adds a resource.
    pub async fn create_resource(
        &self,
        tenant_id: Uuid,
        new: NewResource,
    ) -> Result<Resource, StoreError> {
        let (id, at) = (Uuid::now_v7(), now());
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO resources (id, tenant_id, external_id, name, time_zone, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6)",
            )
            .bind(id)
            .bind(tenant_id)
            .bind(&new.external_id)
            .bind(&new.name)
            .bind(new.time_zone.map(String::from))
            .bind(at)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(Resource { id, data: new, created_at: at, updated_at: at })
    }

    /// One resource of the tenant.
    pub async fn resource(&self, tenant_id: Uuid, id: Uuid) -> Result<Resource, StoreError> {
        self.one_of::<ResourceRow, _>("resources", COLUMNS, tenant_id, id).await
    }

    /// The resource with this external id, if any.
    pub async fn resource_by_external_id(
        &self,
        tenant_id: Uuid,
        ext: &str,
    ) -> Result<Option<Resource>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM resources WHERE tenant_id = $1 AND external_id = $2");
        let row: Option<ResourceRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(ext)
                .fetch_optional(pool)
                .await
        })?;
        row.map(Resource::try_from).transpose()
    }

    /// A page of the tenant's resources after the cursor.
    pub async fn list_resources(
        &self,
        tenant_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Page<Resource>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM resources WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
        );
        let rows: Vec<ResourceRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(after)
                .bind(i64::from(limit) + 1)
                .fetch_all(pool)
                .await
        })?;
        let items = rows.into_iter().map(Resource::try_from).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, limit, |r| r.id))
    }

    /// Replaces a resource's fields.
    pub async fn update_resource(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        new: NewResource,
    ) -> Result<Resource, StoreError> {
        let done = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE resources SET external_id = $1, name = $2, time_zone = $3, updated_at = $4 \
                 WHERE tenant_id = $5 AND id = $6",
            )
            .bind(&new.external_id)
            .bind(&new.name)
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
        self.resource(tenant_id, id).await
    }

    /// Removes a resource that no booking refers to (otherwise a conflict: cancel or move them first).
    pub async fn delete_resource(&self, tenant_id: Uuid, id: Uuid) -> Result<(), StoreError> {
        let deleted = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM resources WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id)
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(|e| match StoreError::from(e) {
            StoreError::ForeignKey => StoreError::InUse { what: "resource" },
            other => other,
        })?;
        if deleted == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }
}
