//! Exported feeds: what they cover and the hash of their URL token.

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::{Page, Store, StoreError, corrupt, invalid, now, with_pool, with_read_pool};
use kalends_core::config::SecretKey;
use kalends_core::domain::{Feed, FeedProfile, FeedScope, NewFeed, Owner, Platform, Tenant};
use kalends_core::tokens;

#[derive(sqlx::FromRow)]
struct FeedRow {
    id: Uuid,
    tenant_id: Uuid,
    scope: String,
    resource_id: Option<Uuid>,
    staff_id: Option<Uuid>,
    profile: String,
    name: String,
    platform: Option<String>,
    include_tentative: bool,
    nonce: Vec<u8>,
    token_hash: Vec<u8>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct LookupRow {
    #[sqlx(flatten)]
    feed: FeedRow,
    content_version: i64,
    content_changed_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, tenant_id, scope, resource_id, staff_id, profile, name, platform, \
                       include_tentative, nonce, token_hash, created_at, updated_at";

impl TryFrom<FeedRow> for Feed {
    type Error = StoreError;
    fn try_from(r: FeedRow) -> Result<Self, StoreError> {
        let bad = |what: &str| corrupt(format!("feed {} has an unknown {what}", r.id));
        let scope = match (r.scope.as_str(), Owner::from_columns(r.resource_id, r.staff_id)) {
            ("tenant", None) => FeedScope::Tenant,
            ("resource" | "staff", Some(owner)) => FeedScope::Owner(owner),
            _ => return Err(bad("scope")),
        };
        let platform = match r.platform.as_deref() {
            None => None,
            Some(p) => Some(Platform::parse(p).ok_or_else(|| bad("platform"))?),
        };
        Ok(Feed {
            id: r.id,
            tenant_id: r.tenant_id,
            data: NewFeed {
                scope,
                profile: FeedProfile::parse(&r.profile).ok_or_else(|| bad("profile"))?,
                name: r.name,
                platform,
                include_tentative: r.include_tentative,
            },
            nonce: r.nonce,
            token_hash: r.token_hash,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

impl Store {
    /// Publishes a feed; its resource or staff member must belong to the tenant.
    pub async fn create_feed(
        &self,
        tenant: &Tenant,
        new: NewFeed,
        key: &SecretKey,
    ) -> Result<Feed, StoreError> {
        if let Some(owner) = new.scope.owner() {
            self.check_owner(tenant.id, owner, "scope_id").await?;
        }
        let (id, at, nonce) = (Uuid::now_v7(), now(), tokens::nonce());
        let hash = tokens::token_hash(&tokens::feed_token(key, id, &nonce));
        let (resource_id, staff_id) = new.scope.owner().map_or((None, None), Owner::columns);
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO feeds (id, tenant_id, scope, resource_id, staff_id, profile, name, platform, \
                 include_tentative, nonce, token_hash, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
            )
            .bind(id)
            .bind(tenant.id)
            .bind(new.scope.kind())
            .bind(resource_id)
            .bind(staff_id)
            .bind(new.profile.as_str())
            .bind(&new.name)
            .bind(new.platform.map(Platform::as_str))
            .bind(new.include_tentative)
            .bind(&nonce)
            .bind(&hash)
            .bind(at)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(Feed {
            id,
            tenant_id: tenant.id,
            data: new,
            nonce,
            token_hash: hash,
            created_at: at,
            updated_at: at,
        })
    }

    /// Fails with a field error unless the resource or staff member exists in the tenant.
    pub(crate) async fn check_owner(
        &self,
        tenant_id: Uuid,
        owner: Owner,
        field: &str,
    ) -> Result<(), StoreError> {
        let found = match owner {
            Owner::Resource(id) => self.resource(tenant_id, id).await.map(|_| ()),
            Owner::Staff(id) => self.staff(tenant_id, id).await.map(|_| ()),
        };
        match (found, owner) {
            (Err(StoreError::NotFound), Owner::Resource(_)) => {
                Err(invalid(field, "no resource with this id"))
            }
            (Err(StoreError::NotFound), Owner::Staff(_)) => {
                Err(invalid(field, "no staff member with this id"))
            }
            (other, _) => other,
        }
    }

    /// One feed.
    pub async fn feed(&self, tenant_id: Uuid, id: Uuid) -> Result<Feed, StoreError> {
        self.one_of::<FeedRow, _>("feeds", COLUMNS, tenant_id, id).await
    }

    /// The feed whose URL token hashes to `hash`, with its tenant's content version and when that
    /// last changed: together with the feed's own settings they decide whether a subscriber's
    /// copy is current, in one indexed read.
    pub async fn feed_lookup(
        &self,
        hash: &[u8],
    ) -> Result<Option<(Feed, i64, Option<DateTime<Utc>>)>, StoreError> {
        let columns: String =
            COLUMNS.split(", ").map(|c| format!("f.{c}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT {columns}, {} FROM feeds f WHERE f.token_hash = $1",
            super::tenants::content_version_columns("f.tenant_id")
        );
        let row: Option<LookupRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(hash).fetch_optional(pool).await
        })?;
        row.map(|r| Ok((Feed::try_from(r.feed)?, r.content_version, r.content_changed_at)))
            .transpose()
    }

    /// The feed whose URL token hashes to `hash`, if any.
    pub async fn feed_by_token_hash(&self, hash: &[u8]) -> Result<Option<Feed>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM feeds WHERE token_hash = $1");
        let row: Option<FeedRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(hash).fetch_optional(pool).await
        })?;
        row.map(Feed::try_from).transpose()
    }

    /// A page of the tenant's feeds.
    pub async fn list_feeds(
        &self,
        tenant_id: Uuid,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Page<Feed>, StoreError> {
        self.page_of::<FeedRow, Feed>("feeds", COLUMNS, tenant_id, after, limit, |f| f.id).await
    }

    /// Gives a feed a new URL; the old one stops working at once.
    pub async fn rotate_feed(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        key: &SecretKey,
    ) -> Result<Feed, StoreError> {
        let nonce = tokens::nonce();
        let hash = tokens::token_hash(&tokens::feed_token(key, id, &nonce));
        let changed = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE feeds SET nonce = $1, token_hash = $2, updated_at = $3 \
                 WHERE tenant_id = $4 AND id = $5",
            )
            .bind(&nonce)
            .bind(&hash)
            .bind(now())
            .bind(tenant_id)
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        self.feed(tenant_id, id).await
    }

    /// Deletes a feed; its URL answers 404 from now on.
    pub async fn delete_feed(&self, tenant_id: Uuid, id: Uuid) -> Result<(), StoreError> {
        self.delete_of("feeds", tenant_id, id).await
    }
}
