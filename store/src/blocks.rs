//! Blocks: manual unavailability of a resource or a staff member.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::owner_writes::begin_owner_write;
use super::{Page, Store, StoreError, corrupt, invalid, now, outbox, with_pool, with_read_pool};
use kalends_core::domain::{Block, BookingSpan, Instants, NewBlock, Owner, Tenant, TimeZone};
use kalends_core::job::Job;

#[derive(sqlx::FromRow)]
struct BlockRow {
    id: Uuid,
    resource_id: Option<Uuid>,
    staff_id: Option<Uuid>,
    start_at: Option<DateTime<Utc>>,
    end_at: Option<DateTime<Utc>>,
    start_date: Option<NaiveDate>,
    end_date: Option<NaiveDate>,
    reason: Option<String>,
    created_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, resource_id, staff_id, start_at, end_at, start_date, end_date, reason, created_at";

impl TryFrom<BlockRow> for Block {
    type Error = StoreError;
    fn try_from(r: BlockRow) -> Result<Self, StoreError> {
        let span = match (r.start_at, r.end_at, r.start_date, r.end_date) {
            (Some(s), Some(e), None, None) => BookingSpan::timed(s, e, TimeZone::UTC),
            (None, None, Some(s), Some(e)) => BookingSpan::all_day(s, e),
            _ => return Err(corrupt(format!("block {} has an impossible span", r.id))),
        }
        .map_err(corrupt)?;
        Ok(Block {
            id: r.id,
            data: NewBlock {
                resource_id: r.resource_id,
                staff_id: r.staff_id,
                span,
                reason: r.reason,
            },
            created_at: r.created_at,
        })
    }
}

impl Store {
    /// Adds a block, with the jobs it owes; its resource or staff member must belong to the tenant.
    pub async fn create_block(
        &self,
        tenant: &Tenant,
        new: NewBlock,
        owed: &[Job],
    ) -> Result<Block, StoreError> {
        let home = self.block_home_zone(tenant, &new).await?;
        let (id, at) = (Uuid::now_v7(), now());
        let (span_start, span_end) = new.span.utc_range(home);
        let (start_at, end_at, start_date, end_date) = match new.span {
            BookingSpan::Timed { start, end, .. } => (Some(start), Some(end), None, None),
            BookingSpan::AllDay { start, end } => (None, None, Some(start), Some(end)),
        };
        // A block is what a booking checked with `?reject_conflicts=true` is checked against:
        // it waits for such a write of its owner to finish, and the other way round.
        let owners: Vec<Owner> =
            Owner::from_columns(new.resource_id, new.staff_id).into_iter().collect();
        with_pool!(self, |pool| {
            let mut tx = begin_owner_write!(self, pool, &owners);
            sqlx::query(
                "INSERT INTO blocks (id, tenant_id, resource_id, staff_id, start_at, end_at, start_date, end_date, \
                 span_start, span_end, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(id)
            .bind(tenant.id)
            .bind(new.resource_id)
            .bind(new.staff_id)
            .bind(start_at)
            .bind(end_at)
            .bind(start_date)
            .bind(end_date)
            .bind(span_start)
            .bind(span_end)
            .bind(&new.reason)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            outbox::owe_jobs!(tx, owed, at);
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })?;
        if !owed.is_empty() {
            self.outbox_signal.notify_one();
        }
        Ok(Block { id, data: new, created_at: at })
    }

    async fn block_home_zone(
        &self,
        tenant: &Tenant,
        new: &NewBlock,
    ) -> Result<TimeZone, StoreError> {
        let zone = match (new.resource_id, new.staff_id) {
            (Some(id), None) => self.resource_zone(tenant.id, id).await,
            (None, Some(id)) => self.staff(tenant.id, id).await.map(|s| s.data.time_zone),
            _ => {
                return Err(invalid("resource_id", "give exactly one of resource_id and staff_id"));
            }
        };
        match zone {
            Ok(zone) => Ok(zone.unwrap_or(tenant.settings.time_zone)),
            Err(StoreError::NotFound) if new.resource_id.is_some() => {
                Err(invalid("resource_id", "no resource with this id"))
            }
            Err(StoreError::NotFound) => Err(invalid("staff_id", "no staff member with this id")),
            Err(e) => Err(e),
        }
    }

    /// A page of the tenant's blocks, optionally of one resource or staff member.
    pub async fn list_blocks(
        &self,
        tenant_id: Uuid,
        resource_id: Option<Uuid>,
        staff_id: Option<Uuid>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Page<Block>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM blocks WHERE tenant_id = $1 AND ($2 IS NULL OR resource_id = $2) \
             AND ($3 IS NULL OR staff_id = $3) AND ($4 IS NULL OR id > $4) ORDER BY id LIMIT $5"
        );
        let rows: Vec<BlockRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(resource_id)
                .bind(staff_id)
                .bind(after)
                .bind(i64::from(limit) + 1)
                .fetch_all(pool)
                .await
        })?;
        let items = rows.into_iter().map(Block::try_from).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, limit, |b| b.id))
    }

    /// Removes a block, with the jobs `owed` names for its resource; the owner it blocked
    /// (`None`: gone meanwhile) and the instants it took.
    pub async fn delete_block(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        owed: impl Fn(Option<Uuid>) -> Vec<Job>,
    ) -> Result<(Option<Owner>, Instants), StoreError> {
        let at = now();
        let gone = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let gone: Option<RemovedRow> = sqlx::query_as(
                "DELETE FROM blocks WHERE tenant_id = $1 AND id = $2 \
                 RETURNING resource_id, staff_id, span_start, span_end",
            )
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((resource_id, ..)) = gone {
                outbox::owe_jobs!(tx, owed(resource_id), at);
            }
            tx.commit().await?;
            Ok::<_, StoreError>(gone)
        })?;
        let Some((resource_id, staff_id, start, end)) = gone else {
            return Err(StoreError::NotFound);
        };
        self.outbox_signal.notify_one();
        Ok((Owner::from_columns(resource_id, staff_id), (start, end)))
    }
}

/// The columns a block's removal reads back: its owner's and its instants.
type RemovedRow = (Option<Uuid>, Option<Uuid>, DateTime<Utc>, DateTime<Utc>);
