//! The availability rules of resources and staff members: one JSON column on each (`rules`,
//! NULL when none is set), read with the owner's zone, since every rule is counted there.

use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::{Store, StoreError, corrupt, now, placeholders, with_pool, with_read_pool};
use kalends_core::availability::{Rules, RulesDraft};
use kalends_core::domain::{Owner, Tenant, TimeZone};

/// One owner's rules and the zone they are counted in (its own, else the tenant's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerRules {
    /// The resource or staff member.
    pub owner: Owner,
    /// Its rules (empty when none is set).
    pub rules: Rules,
    /// Its zone.
    pub zone: TimeZone,
}

impl OwnerRules {
    /// The owner's date at `now`, in its zone: the day its notice and window count from.
    pub fn today(&self, now: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDate {
        now.with_timezone(&self.zone.tz()).date_naive()
    }
}

/// A row of [`rules_sql`]: `(id, 'resource' | 'staff', rules, time_zone)`.
pub(super) type RulesRow = (Uuid, String, Option<String>, Option<String>);

/// The statement reading the rules and zones of `resources` resources (bound from `$2`) and
/// `staff` staff members (bound after them) of tenant `$1`.
pub(super) fn rules_sql(resources: usize, staff: usize) -> String {
    let mut parts = Vec::new();
    if resources > 0 {
        parts.push(format!(
            "SELECT o.id, 'resource', o.rules, {} FROM resources o \
             WHERE o.tenant_id = $1 AND o.id IN ({})",
            super::resources::zone_sql("o"),
            placeholders(2, resources)
        ));
    }
    if staff > 0 {
        parts.push(format!(
            "SELECT id, 'staff', rules, time_zone FROM staff WHERE tenant_id = $1 AND id IN ({})",
            placeholders(2 + resources, staff)
        ));
    }
    parts.join(" UNION ALL ")
}

/// Reads the rules of `$owners` (a `&[Owner]`) of tenant `$tenant` (a `&Tenant`) on `$executor`
/// (a pool, or `&mut *tx` inside a write); evaluates to `Result<Vec<OwnerRules>, StoreError>`,
/// the owners found, in the order asked.
macro_rules! fetch_rules {
    ($tenant:expr, $owners:expr, $executor:expr) => {{
        let (tenant, owners): (&kalends_core::domain::Tenant, &[kalends_core::domain::Owner]) =
            ($tenant, $owners);
        let (resources, staff) = $crate::rules::split(owners);
        if owners.is_empty() {
            Ok(Vec::new())
        } else {
            let sql = $crate::rules::rules_sql(resources.len(), staff.len());
            let mut query = sqlx::query_as::<_, $crate::rules::RulesRow>(sqlx::AssertSqlSafe(sql))
                .bind(tenant.id);
            for id in resources.iter().chain(&staff) {
                query = query.bind(*id);
            }
            match query.fetch_all($executor).await {
                Ok(rows) => $crate::rules::owner_rules_of(tenant, owners, rows),
                Err(e) => Err($crate::StoreError::from(e)),
            }
        }
    }};
}
pub(super) use fetch_rules;

/// Reads, on `$executor`, the rules of the house or rooms of resource `$resource` (a `Uuid`) of
/// tenant `$tenant` that have rules of their own: a booking of the resource is their busy time
/// too. Evaluates to `Result<Vec<OwnerRules>, StoreError>`, none for a resource without family.
macro_rules! fetch_kin_rules {
    ($tenant:expr, $resource:expr, $executor:expr) => {{
        let (tenant, resource): (&kalends_core::domain::Tenant, uuid::Uuid) = ($tenant, $resource);
        let sql = $crate::rules::kin_rules_sql();
        let query = sqlx::query_as::<_, $crate::rules::RulesRow>(sqlx::AssertSqlSafe(sql))
            .bind(tenant.id)
            .bind(resource);
        match query.fetch_all($executor).await {
            Ok(rows) => $crate::rules::owner_rules_of(tenant, &[], rows)
                .map(|found| found.into_iter().filter(|r| !r.rules.is_empty()).collect::<Vec<_>>()),
            Err(e) => Err($crate::StoreError::from(e)),
        }
    }};
}
pub(super) use fetch_kin_rules;

/// The statement of [`fetch_kin_rules!`]: the rows of [`rules_sql`] for the family of resource
/// `$2` of tenant `$1`, the resource itself left out ([`ruled_family_sql`]).
pub(super) fn kin_rules_sql() -> String {
    let columns = format!("o.id, 'resource', o.rules, {}", super::resources::zone_sql("o"));
    ruled_family_sql(&columns, 1, Some(2))
}

/// The `columns` of the resources (as `o`) with rules set of the families of `resources`
/// resources (bound from `$2`) of tenant `$1`, the one bound as `$not` left out.
fn ruled_family_sql(columns: &str, resources: usize, not: Option<usize>) -> String {
    let family = super::resources::family_sql("$1", &placeholders(2, resources));
    let not = not.map(|at| format!(" AND o.id <> ${at}")).unwrap_or_default();
    format!(
        "SELECT {columns} FROM resources o WHERE o.tenant_id = $1 AND o.rules IS NOT NULL \
         AND o.id IN (SELECT id FROM ({family}) AS family){not}"
    )
}

/// The resource ids and the staff ids of `owners`.
pub(super) fn split(owners: &[Owner]) -> (Vec<Uuid>, Vec<Uuid>) {
    let (mut resources, mut staff) = (Vec::new(), Vec::new());
    for owner in owners {
        match *owner {
            Owner::Resource(id) => resources.push(id),
            Owner::Staff(id) => staff.push(id),
        }
    }
    (resources, staff)
}

/// The rows of [`rules_sql`] as rules, in the order of `owners` (those not found left out).
pub(super) fn owner_rules_of(
    tenant: &Tenant,
    owners: &[Owner],
    rows: Vec<RulesRow>,
) -> Result<Vec<OwnerRules>, StoreError> {
    let mut found = Vec::with_capacity(rows.len());
    for (id, kind, rules, zone) in rows {
        let owner = owner_of(id, &kind);
        let zone = match zone {
            Some(zone) => zone.parse().map_err(corrupt)?,
            None => tenant.settings.time_zone,
        };
        found.push(OwnerRules { owner, rules: parse(rules.as_deref())?, zone });
    }
    found.sort_by_key(|r| owners.iter().position(|o| *o == r.owner));
    Ok(found)
}

/// The owner a row names by its id and its kind (`'resource'` or `'staff'`).
fn owner_of(id: Uuid, kind: &str) -> Owner {
    if kind == "resource" { Owner::Resource(id) } else { Owner::Staff(id) }
}

/// Stored rules as [`Rules`]; a stored value that no longer checks is corrupt.
fn parse(stored: Option<&str>) -> Result<Rules, StoreError> {
    let Some(json) = stored else { return Ok(Rules::default()) };
    let draft: RulesDraft =
        serde_json::from_str(json).map_err(|e| corrupt(format!("stored rules: {e}")))?;
    Rules::try_from(draft).map_err(|errors| corrupt(format!("stored rules: {}", errors[0])))
}

impl Store {
    /// The rules of a resource or staff member, with its zone ([`StoreError::NotFound`] when it
    /// is not the tenant's).
    pub async fn owner_rules(
        &self,
        tenant: &Tenant,
        owner: Owner,
    ) -> Result<OwnerRules, StoreError> {
        let mut found = self.rules_of(tenant, &[owner]).await?;
        found.pop().ok_or(StoreError::NotFound)
    }

    /// The rules of several owners, in the order asked; owners not found are left out.
    pub async fn rules_of(
        &self,
        tenant: &Tenant,
        owners: &[Owner],
    ) -> Result<Vec<OwnerRules>, StoreError> {
        with_read_pool!(self, |pool| fetch_rules!(tenant, owners, pool))
    }

    /// The resources of the families of `resources` (their house, their rooms) that have rules
    /// of their own, `own` left out: a booking of `own` that was in `resources` is their busy
    /// time too, or was, so it may make their bookings break a turnover or a gap, or stop
    /// breaking one. One statement, which finds nothing for a resource with no family or none
    /// with rules.
    pub async fn ruled_kin(
        &self,
        tenant: &Tenant,
        resources: &[Uuid],
        own: Option<Uuid>,
    ) -> Result<Vec<Owner>, StoreError> {
        if resources.is_empty() {
            return Ok(Vec::new());
        }
        let sql = ruled_family_sql("o.id", resources.len(), own.map(|_| resources.len() + 2));
        let ids: Vec<Uuid> = with_read_pool!(self, |pool| {
            let mut query = sqlx::query_scalar(AssertSqlSafe(sql.as_str())).bind(tenant.id);
            for id in resources.iter().chain(&own) {
                query = query.bind(id);
            }
            query.fetch_all(pool).await
        })?;
        Ok(ids.into_iter().map(Owner::Resource).collect())
    }

    /// The resources and staff members of a tenant that have rules set, resources first: the
    /// owners whose bookings a change of zone may make break a rule, or stop breaking one.
    pub async fn ruled_owners(&self, tenant_id: Uuid) -> Result<Vec<Owner>, StoreError> {
        let rows: Vec<(Uuid, String)> = with_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, 'resource' FROM resources WHERE tenant_id = $1 AND rules IS NOT NULL \
                 UNION ALL \
                 SELECT id, 'staff' FROM staff WHERE tenant_id = $1 AND rules IS NOT NULL \
                 ORDER BY 2, 1",
            )
            .bind(tenant_id)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows.into_iter().map(|(id, kind)| owner_of(id, &kind)).collect())
    }

    /// Replaces the rules of a resource or staff member ([`StoreError::NotFound`] when it is not
    /// the tenant's). Bookings already saved keep their place; the next change of each is judged
    /// by the new rules.
    pub async fn set_owner_rules(
        &self,
        tenant_id: Uuid,
        owner: Owner,
        rules: &Rules,
    ) -> Result<(), StoreError> {
        let stored = match rules.is_empty() {
            true => None,
            false => Some(serde_json::to_string(&RulesDraft::from(rules)).map_err(corrupt)?),
        };
        let (table, id) = match owner {
            Owner::Resource(id) => ("resources", id),
            Owner::Staff(id) => ("staff", id),
        };
        let sql = format!(
            "UPDATE {table} SET rules = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4"
        );
        let done = with_pool!(self, |pool| {
            sqlx::query(AssertSqlSafe(sql.as_str()))
                .bind(stored)
                .bind(now())
                .bind(tenant_id)
                .bind(id)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        if done == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }
}
