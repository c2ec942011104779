//! The organisation log: what was done to the tenant's organisation connections, by whom and
//! when. Each entry is written in the transaction of the change it records, so a change is never
//! without its entry nor an entry without its change, and entries outlive the connection.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Page, Store, StoreError, now, with_pool, with_read_pool};

/// Who changed an organisation connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    /// A request made with this API key.
    ApiKey(Uuid),
    /// Someone signed in to the console.
    Console,
    /// The hourly read of the directory.
    Schedule,
}

impl Actor {
    /// The key's id, when a key asked.
    pub(crate) fn api_key_id(self) -> Option<Uuid> {
        match self {
            Actor::ApiKey(id) => Some(id),
            Actor::Console | Actor::Schedule => None,
        }
    }

    /// As stored (`actor` and `api_key_id`); `None` for what no actor was stored as.
    pub(crate) fn stored(actor: Option<&str>, api_key_id: Option<Uuid>) -> Option<Self> {
        match (actor?, api_key_id) {
            ("api_key", Some(id)) => Some(Actor::ApiKey(id)),
            ("console", _) => Some(Actor::Console),
            ("schedule", _) => Some(Actor::Schedule),
            _ => None,
        }
    }

    /// As stored and answered.
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::ApiKey(_) => "api_key",
            Actor::Console => "console",
            Actor::Schedule => "schedule",
        }
    }
}

/// What was done to an organisation connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrganisationAction {
    /// Connected (its credentials proven).
    Connected,
    /// Its administrator, scope or key changed.
    Changed,
    /// Its directory read again, with users joining or leaving the scope.
    Refreshed,
    /// Disconnected: every covered calendar stopped.
    Disconnected,
}

impl OrganisationAction {
    /// As stored and answered.
    pub fn as_str(self) -> &'static str {
        match self {
            OrganisationAction::Connected => "connected",
            OrganisationAction::Changed => "changed",
            OrganisationAction::Refreshed => "refreshed",
            OrganisationAction::Disconnected => "disconnected",
        }
    }
}

/// An entry to write with a change: what, by whom, and what it did in words.
#[derive(Clone, Debug)]
pub struct NewLogEntry {
    /// What was done.
    pub action: OrganisationAction,
    /// By whom.
    pub by: Actor,
    /// What it did, for the administrator ("2 covered calendars stopped; …"); no secret.
    pub detail: String,
}

/// An entry of the organisation log.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct OrganisationLogEntry {
    /// Id (UUIDv7: in time order).
    pub id: Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// The organisation connection (perhaps gone since).
    pub organisation_connection_id: Uuid,
    /// `google` or `microsoft`.
    pub provider: String,
    /// Its Workspace domain or Microsoft tenant id.
    pub domain: String,
    /// `connected`, `changed`, `refreshed` or `disconnected`.
    pub action: String,
    /// `api_key`, `console` or `schedule`.
    pub actor: String,
    /// The API key that asked.
    pub api_key_id: Option<Uuid>,
    /// That key's first characters, while the key is known.
    pub api_key_prefix: Option<String>,
    /// What it did, in words.
    pub detail: String,
}

/// Writes `$entry` (a [`NewLogEntry`]) for the organisation connection `$org` (its id, provider
/// and domain) in `$tx`, at `$at`.
macro_rules! write_log_entry {
    ($tx:expr, $tenant_id:expr, $org:expr, $entry:expr, $at:expr) => {{
        let (org_id, provider, domain): (uuid::Uuid, &str, &str) = $org;
        let entry: &$crate::NewLogEntry = $entry;
        sqlx::query(
            "INSERT INTO organisation_log (id, tenant_id, organisation_connection_id, provider, \
             domain, action, actor, api_key_id, detail, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(uuid::Uuid::now_v7())
        .bind($tenant_id)
        .bind(org_id)
        .bind(provider)
        .bind(domain)
        .bind(entry.action.as_str())
        .bind(entry.by.as_str())
        .bind(entry.by.api_key_id())
        .bind(&entry.detail)
        .bind($at)
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(crate) use write_log_entry;

impl Store {
    /// Writes `entry` for the organisation connection `organisation` on its own: for what is not
    /// one change in one transaction (a directory read, many members' each).
    pub async fn log_organisation(
        &self,
        organisation: (Uuid, Uuid, &str, &str),
        entry: &NewLogEntry,
    ) -> Result<(), StoreError> {
        let (tenant_id, id, provider, domain) = organisation;
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            write_log_entry!(tx, tenant_id, (id, provider, domain), entry, now());
            tx.commit().await?;
            Ok(())
        })
    }

    /// A page of the tenant's organisation log, newest first: `limit` entries older than the
    /// entry `before` (from the newest when `None`); the page's cursor is its last entry.
    pub async fn organisation_log(
        &self,
        tenant_id: Uuid,
        before: Option<Uuid>,
        limit: u32,
    ) -> Result<Page<OrganisationLogEntry>, StoreError> {
        let mut items: Vec<OrganisationLogEntry> = with_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT l.id, l.at, l.organisation_connection_id, l.provider, l.domain, l.action, \
                 l.actor, l.api_key_id, k.prefix AS api_key_prefix, l.detail FROM organisation_log l \
                 LEFT JOIN api_keys k ON k.id = l.api_key_id AND k.tenant_id = l.tenant_id \
                 WHERE l.tenant_id = $1 AND ($2 IS NULL OR l.id < $2) ORDER BY l.id DESC LIMIT $3",
            )
            .bind(tenant_id)
            .bind(before)
            .bind(i64::from(limit) + 1)
            .fetch_all(pool)
            .await
        })?;
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next_cursor = if more { items.last().map(|e| e.id) } else { None };
        Ok(Page { items, next_cursor })
    }
}
