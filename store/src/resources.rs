//! Resources: the bookable things (a property, a room, a rental item), and their families: a
//! house rented whole or by its rooms is a parent with children, one level deep
//! ([`family_sql`], the one place a family is spelled out).

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::{Page, Pool, Store, StoreError, corrupt, invalid, now, with_pool, with_read_pool};
use kalends_core::domain::{NewResource, Resource, TimeZone};

#[derive(sqlx::FromRow)]
struct ResourceRow {
    id: Uuid,
    external_id: Option<String>,
    name: String,
    time_zone: Option<String>,
    parent_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, external_id, name, time_zone, parent_id, created_at, updated_at";

/// The statement reading [`zone_sql`] of resource `$2` of tenant `$1`: no row when there is
/// no such resource.
pub(crate) fn zone_of_one_sql() -> String {
    format!("SELECT {} FROM resources r WHERE r.tenant_id = $1 AND r.id = $2", zone_sql("r"))
}

/// The zone a resource's whole days are counted in, as SQL over the resource `alias`: its own,
/// else its house's (a room left without one is where its house is); `NULL` for the tenant's.
/// Every statement that places a resource's days reads its zone through this one text.
pub(crate) fn zone_sql(alias: &str) -> String {
    format!(
        "COALESCE({alias}.time_zone, \
         (SELECT house.time_zone FROM resources house WHERE house.id = {alias}.parent_id))"
    )
}

/// The families of the resources `resources` (a list of SQL values: `$2`, or `$2, $3`) of
/// tenant `tenant`, as rows `(id, kin)`: each of them (`own`), its parent (`parent`) and its
/// children (`child`). A room's siblings are not family: a booking of one room leaves the
/// others free. Every read that shares busy time within a family (busy items, feeds,
/// checklists, the locks of a checked booking write) goes through this one text, as a `WITH`
/// part or a subquery of the statement it serves.
pub(super) fn family_sql(tenant: &str, resources: &str) -> String {
    format!(
        "SELECT id, 'own' AS kin FROM resources WHERE tenant_id = {tenant} AND id IN ({resources}) \
         UNION ALL SELECT parent_id, 'parent' FROM resources WHERE tenant_id = {tenant} \
         AND id IN ({resources}) AND parent_id IS NOT NULL \
         UNION ALL SELECT id, 'child' FROM resources WHERE tenant_id = {tenant} \
         AND parent_id IN ({resources})"
    )
}

/// Checks, inside the write transaction `$tx`, that resource `$id` of tenant `$tenant_id` may
/// have `$parent_id` as its parent: another resource of the tenant that has no parent itself,
/// while `$id` has no rooms of its own. Returns the field error from the enclosing function.
/// On PostgreSQL both rows are locked first, so two edits cannot build two levels together.
macro_rules! check_parent {
    ($store:expr, $tx:expr, $tenant_id:expr, $id:expr, $parent_id:expr) => {{
        let (tenant_id, id, parent_id): (Uuid, Uuid, Option<Uuid>) = ($tenant_id, $id, $parent_id);
        if let Some(parent_id) = parent_id {
            if parent_id == id {
                return Err(invalid("parent_id", "a resource cannot be its own parent"));
            }
            if let Some(sql) = $store.resource_rows_lock_sql() {
                sqlx::query(sql)
                    .bind(tenant_id)
                    .bind(id)
                    .bind(parent_id)
                    .execute(&mut *$tx)
                    .await?;
            }
            let (found, nested, rooms): (i64, i64, i64) = sqlx::query_as(PARENT_CHECK)
                .bind(tenant_id)
                .bind(id)
                .bind(parent_id)
                .fetch_one(&mut *$tx)
                .await?;
            if let Some(message) = parent_refusal(found, nested, rooms) {
                return Err(invalid("parent_id", message));
            }
        }
    }};
}

/// What [`check_parent!`] reads: whether parent `$3` is a resource of tenant `$1`, whether it
/// has a parent itself, and how many rooms resource `$2` has.
const PARENT_CHECK: &str = "SELECT \
    (SELECT count(*) FROM resources WHERE tenant_id = $1 AND id = $3), \
    (SELECT count(*) FROM resources WHERE tenant_id = $1 AND id = $3 AND parent_id IS NOT NULL), \
    (SELECT count(*) FROM resources WHERE tenant_id = $1 AND parent_id = $2)";

/// Why a parent is refused, from what [`PARENT_CHECK`] counted.
fn parent_refusal(found: i64, nested: i64, rooms: i64) -> Option<&'static str> {
    if found == 0 {
        Some("no resource with this id")
    } else if nested > 0 {
        Some(
            "that resource is itself part of another; a parent must be a whole property (one level only)",
        )
    } else if rooms > 0 {
        Some("this resource has rooms of its own, so it cannot be part of another (one level only)")
    } else {
        None
    }
}

impl TryFrom<ResourceRow> for Resource {
    type Error = StoreError;
    fn try_from(r: ResourceRow) -> Result<Self, StoreError> {
        let time_zone = r.time_zone.map(|z| z.parse()).transpose().map_err(corrupt)?;
        Ok(Resource {
            id: r.id,
            data: NewResource {
                external_id: r.external_id,
                name: r.name,
                time_zone,
                parent_id: r.parent_id,
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

impl Store {
    /// Adds a resource; a parent that cannot be one is a field error on `parent_id`.
    pub async fn create_resource(
        &self,
        tenant_id: Uuid,
        new: NewResource,
    ) -> Result<Resource, StoreError> {
        let (id, at) = (Uuid::now_v7(), now());
        with_pool!(self, |pool| {
            let mut tx = pool.begin_with(self.begin_owner_write()).await?;
            check_parent!(self, tx, tenant_id, id, new.parent_id);
            sqlx::query(
                "INSERT INTO resources (id, tenant_id, external_id, name, time_zone, parent_id, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            )
            .bind(id)
            .bind(tenant_id)
            .bind(&new.external_id)
            .bind(&new.name)
            .bind(new.time_zone.map(String::from))
            .bind(new.parent_id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })?;
        Ok(Resource { id, data: new, created_at: at, updated_at: at })
    }

    /// One resource of the tenant.
    pub async fn resource(&self, tenant_id: Uuid, id: Uuid) -> Result<Resource, StoreError> {
        self.one_of::<ResourceRow, _>("resources", COLUMNS, tenant_id, id).await
    }

    /// The zone the resource's whole days are counted in ([`zone_sql`]): `None` for the
    /// tenant's.
    pub async fn resource_zone(
        &self,
        tenant_id: Uuid,
        id: Uuid,
    ) -> Result<Option<TimeZone>, StoreError> {
        let sql = zone_of_one_sql();
        let row: Option<(Option<String>,)> = with_read_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        let (zone,) = row.ok_or(StoreError::NotFound)?;
        zone.map(|z| z.parse()).transpose().map_err(corrupt)
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

    /// Replaces a resource's fields; a parent that cannot be one is a field error on
    /// `parent_id`.
    pub async fn update_resource(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        new: NewResource,
    ) -> Result<Resource, StoreError> {
        let done = with_pool!(self, |pool| {
            let mut tx = pool.begin_with(self.begin_owner_write()).await?;
            check_parent!(self, tx, tenant_id, id, new.parent_id);
            let done = sqlx::query(
                "UPDATE resources SET external_id = $1, name = $2, time_zone = $3, parent_id = $4, \
                 updated_at = $5 WHERE tenant_id = $6 AND id = $7",
            )
            .bind(&new.external_id)
            .bind(&new.name)
            .bind(new.time_zone.map(String::from))
            .bind(new.parent_id)
            .bind(now())
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok::<_, StoreError>(done)
        })?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        self.resource(tenant_id, id).await
    }

    /// Removes a resource that no booking refers to (otherwise a conflict: cancel or move them
    /// first) and that has no rooms ([`StoreError::HasRooms`]: detach or delete them first).
    pub async fn delete_resource(&self, tenant_id: Uuid, id: Uuid) -> Result<(), StoreError> {
        let deleted = with_pool!(self, |pool| {
            sqlx::query(
                "DELETE FROM resources WHERE tenant_id = $1 AND id = $2 AND NOT EXISTS \
                 (SELECT 1 FROM resources WHERE tenant_id = $1 AND parent_id = $2)",
            )
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
        if deleted > 0 {
            return Ok(());
        }
        // Nothing deleted: either there is no such resource, or rooms still belong to it.
        self.resource(tenant_id, id).await?;
        Err(StoreError::HasRooms)
    }

    /// The families of `resources`: each of them, its parent and its children, once each and
    /// sorted ([`family_sql`], one statement for all of them).
    pub async fn families(
        &self,
        tenant_id: Uuid,
        resources: &[Uuid],
    ) -> Result<Vec<Uuid>, StoreError> {
        let mut ids = Vec::new();
        for chunk in resources.chunks(super::IDS_PER_QUERY) {
            let family = family_sql("$1", &super::placeholders(2, chunk.len()));
            let sql = format!("SELECT DISTINCT id FROM ({family}) AS family");
            let rows: Vec<(Uuid,)> = with_read_pool!(self, |pool| {
                let mut query = sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(tenant_id);
                for id in chunk {
                    query = query.bind(id);
                }
                query.fetch_all(pool).await
            })?;
            ids.extend(rows.into_iter().map(|(id,)| id));
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// PostgreSQL: the statement locking the rows of resources `$2` and `$3` of tenant `$1`
    /// until the transaction ends; `None` on SQLite, whose write transaction locks everything.
    fn resource_rows_lock_sql(&self) -> Option<&'static str> {
        match self.pool {
            Pool::Sqlite { .. } => None,
            Pool::Postgres(_) => Some(
                "SELECT id FROM resources WHERE tenant_id = $1 AND id IN ($2, $3) \
                 ORDER BY id FOR UPDATE",
            ),
        }
    }
}
