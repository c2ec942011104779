//! Availability widgets: the public, read-only calendars of a resource, by the hash of their URL
//! token.

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::{Page, Store, StoreError, now, with_pool, with_read_pool};
use kalends_core::config::SecretKey;
use kalends_core::domain::{Owner, Tenant};
use kalends_core::tokens;

/// A published availability calendar of one resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvailabilityWidget {
    /// Its id.
    pub id: Uuid,
    /// Whose it is.
    pub tenant_id: Uuid,
    /// The resource whose free and busy days it shows.
    pub resource_id: Uuid,
    /// With the secret key, makes the URL token (see [`tokens::widget_token`]).
    pub nonce: Vec<u8>,
    /// SHA-256 of the URL token.
    pub token_hash: Vec<u8>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// What the public route needs to answer for a widget URL, read in one indexed query.
#[derive(Clone, Debug)]
pub struct WidgetLookup {
    /// The widget.
    pub widget: AvailabilityWidget,
    /// Its resource's name (the business's own word for it, shown as the calendar's title).
    pub resource_name: String,
    /// Its tenant's content version: it moves with every change of a booking, block, imported
    /// item or resource, so it decides (with the tenant's settings) whether a copy is current.
    pub content_version: i64,
    /// When that version last moved.
    pub content_changed_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct WidgetRow {
    id: Uuid,
    tenant_id: Uuid,
    resource_id: Uuid,
    nonce: Vec<u8>,
    token_hash: Vec<u8>,
    created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct LookupRow {
    #[sqlx(flatten)]
    widget: WidgetRow,
    resource_name: String,
    content_version: i64,
    content_changed_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, tenant_id, resource_id, nonce, token_hash, created_at";

// `TryFrom` rather than `From`, for `Store::page_of`: a widget row always converts.
impl TryFrom<WidgetRow> for AvailabilityWidget {
    type Error = StoreError;
    fn try_from(r: WidgetRow) -> Result<Self, StoreError> {
        Ok(AvailabilityWidget {
            id: r.id,
            tenant_id: r.tenant_id,
            resource_id: r.resource_id,
            nonce: r.nonce,
            token_hash: r.token_hash,
            created_at: r.created_at,
        })
    }
}

impl Store {
    /// Publishes an availability widget of `resource_id`, which must belong to the tenant (a
    /// field error on `resource_id` otherwise).
    pub async fn create_widget(
        &self,
        tenant: &Tenant,
        resource_id: Uuid,
        key: &SecretKey,
    ) -> Result<AvailabilityWidget, StoreError> {
        self.check_owner(tenant.id, Owner::Resource(resource_id), "resource_id").await?;
        let (id, at, nonce) = (Uuid::now_v7(), now(), tokens::nonce());
        let hash = tokens::token_hash(&tokens::widget_token(key, id, &nonce));
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO availability_widgets (id, tenant_id, resource_id, nonce, token_hash, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(tenant.id)
            .bind(resource_id)
            .bind(&nonce)
            .bind(&hash)
            .bind(at)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(AvailabilityWidget {
            id,
            tenant_id: tenant.id,
            resource_id,
            nonce,
            token_hash: hash,
            created_at: at,
        })
    }

    /// One widget of the tenant.
    pub async fn widget(
        &self,
        tenant_id: Uuid,
        id: Uuid,
    ) -> Result<AvailabilityWidget, StoreError> {
        self.one_of::<WidgetRow, _>("availability_widgets", COLUMNS, tenant_id, id).await
    }

    /// A page of the tenant's widgets.
    pub async fn list_widgets(
        &self,
        tenant_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Page<AvailabilityWidget>, StoreError> {
        self.page_of::<WidgetRow, AvailabilityWidget>(
            "availability_widgets",
            COLUMNS,
            tenant_id,
            after,
            limit,
            |w| w.id,
        )
        .await
    }

    /// The widget whose URL token hashes to `hash`, with its resource's name and its tenant's
    /// content version.
    pub async fn widget_lookup(&self, hash: &[u8]) -> Result<Option<WidgetLookup>, StoreError> {
        let columns: String =
            COLUMNS.split(", ").map(|c| format!("w.{c}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT {columns}, r.name AS resource_name, {} \
             FROM availability_widgets w JOIN resources r ON r.id = w.resource_id \
             WHERE w.token_hash = $1",
            super::tenants::content_version_columns("w.tenant_id")
        );
        let row: Option<LookupRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(hash).fetch_optional(pool).await
        })?;
        row.map(|r| {
            Ok(WidgetLookup {
                widget: r.widget.try_into()?,
                resource_name: r.resource_name,
                content_version: r.content_version,
                content_changed_at: r.content_changed_at,
            })
        })
        .transpose()
    }

    /// Deletes a widget; its URL answers 404 from now on.
    pub async fn delete_widget(&self, tenant_id: Uuid, id: Uuid) -> Result<(), StoreError> {
        self.delete_of("availability_widgets", tenant_id, id).await
    }
}
