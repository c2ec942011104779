//! Organisation-wide connections: a Google Workspace its administrator connected once, its
//! service account's key sealed at rest, and the directory's users in scope (members), each a
//! staff member with a covered connection.

use chrono::{DateTime, Utc};
use kalends_core::seal::Sealer;
use secrecy::SecretString;
use uuid::Uuid;

use super::organisation_log::write_log_entry;
use super::{
    Actor, Lease, NewLogEntry, Store, StoreError, corrupt, now, with_pool, with_read_pool,
};

/// What a sealed service account key is bound to: its organisation connection.
pub(crate) fn context(id: Uuid) -> String {
    format!("organisation/{id}/key")
}

/// An organisation connection as the administrator set it up (never its key or secret).
///
/// Google: `domain`, `admin_email`, `org_unit` (the unit in scope), `service_account`.
/// Microsoft: `domain` is the tenant id, `org_unit` the security group in scope,
/// `service_account` the application (client) id, and there is no `admin_email`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrganisationConnection {
    /// Id.
    pub id: Uuid,
    /// Owner.
    pub tenant_id: Uuid,
    /// `google` or `microsoft`.
    pub provider: String,
    /// The Workspace's primary domain, or the Microsoft tenant id.
    pub domain: String,
    /// The administrator the directory is read as (Google).
    pub admin_email: Option<String>,
    /// The organisational unit (with the units below it) or security group in scope; `None`:
    /// everyone.
    pub org_unit: Option<String>,
    /// Only busy times are read; nothing is written into the members' calendars.
    pub busy_only: bool,
    /// The service account's address (from its key), or the application (client) id: safe to
    /// show.
    pub service_account: String,
    /// `active`, or `error` when the last directory read failed.
    pub status: String,
    /// The last failure, in words for the administrator.
    pub last_error: Option<String>,
    /// When the directory was last read.
    pub last_refreshed_at: Option<DateTime<Utc>>,
    /// Members whose calendars sync.
    pub members_count: i64,
    /// Members a background read owed since a read of more than a request should wait for
    /// has not saved yet (covered, refused, moved or stopped); 0 when none is owed.
    pub members_waiting: i64,
    /// Who asked for the read a background read owes (its log entry is theirs).
    pub read_owed_by: Option<Actor>,
    /// Connected at.
    pub created_at: DateTime<Utc>,
    /// Changed at.
    pub updated_at: DateTime<Utc>,
}

/// A new organisation connection, its key checked by the caller.
#[derive(Clone, Debug)]
pub struct NewOrganisationConnection {
    /// `google` or `microsoft`.
    pub provider: String,
    /// The Workspace's primary domain, or the Microsoft tenant id.
    pub domain: String,
    /// The administrator the directory is read as (Google).
    pub admin_email: Option<String>,
    /// The organisational unit or security group in scope.
    pub org_unit: Option<String>,
    /// Only busy times.
    pub busy_only: bool,
    /// The service account's address, or the application (client) id.
    pub service_account: String,
    /// The service account's JSON key as uploaded, or the client secret (sealed here).
    pub key: SecretString,
}

/// A change of an organisation connection's settings (a key checked by the caller).
#[derive(Clone, Debug, Default)]
pub struct OrganisationPatch {
    /// Another administrator.
    pub admin_email: Option<String>,
    /// Another unit (`Some(None)`: the whole domain).
    pub org_unit: Option<Option<String>>,
    /// A replacement key and its service account.
    pub key: Option<(SecretString, String)>,
    /// The other tier (busy times only, or bookings written too).
    pub busy_only: Option<bool>,
}

/// A directory user in scope, as Kalends knows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrganisationMember {
    /// The directory's id of the user.
    pub directory_id: String,
    /// The staff member they are.
    pub staff_id: Uuid,
    /// Their address.
    pub email: String,
    /// Their covered connection, while there is one.
    pub connection_id: Option<Uuid>,
    /// `active` (syncing), `failed` (their calendar cannot be reached: `last_error` says why),
    /// or `left` (no longer in scope; their calendar stopped syncing).
    pub state: String,
    /// Why their calendar cannot be reached.
    pub last_error: Option<String>,
}

/// How a covered connection's tokens are minted: the organisation's key, for the member.
#[derive(Clone)]
pub struct Coverage {
    /// `google` or `microsoft`.
    pub provider: String,
    /// The Workspace's domain, or the Microsoft tenant id.
    pub domain: String,
    /// The service account's address, or the application (client) id.
    pub service_account: String,
    /// The service account's JSON key, or the client secret, opened.
    pub key: SecretString,
    /// The member's address.
    pub email: String,
    /// The member's directory id (the mailbox an application's token acts on).
    pub directory_id: String,
    /// Only busy times.
    pub busy_only: bool,
}

/// A covered calendar's coverage as stored: the organisation's key still sealed as in
/// `organisation_connections` (bound to the organisation's id, so a cleanup's copy opens after
/// that row is gone), and the rest as [`Coverage`] has it.
#[derive(Clone, serde::Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct KeptCoverage {
    pub(crate) organisation_id: Uuid,
    pub(crate) sealed_key: String,
    pub(crate) provider: String,
    pub(crate) domain: String,
    pub(crate) service_account: String,
    pub(crate) email: String,
    pub(crate) directory_id: String,
    pub(crate) busy_only: bool,
}

impl std::fmt::Debug for KeptCoverage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptCoverage")
            .field("organisation_id", &self.organisation_id)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Coverage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coverage").field("email", &self.email).finish_non_exhaustive()
    }
}

#[derive(sqlx::FromRow)]
struct OrganisationRow {
    id: Uuid,
    tenant_id: Uuid,
    provider: String,
    domain: String,
    admin_email: Option<String>,
    org_unit: Option<String>,
    busy_only: bool,
    service_account: String,
    status: String,
    last_error: Option<String>,
    last_refreshed_at: Option<DateTime<Utc>>,
    members_count: i64,
    read_owed_members: Option<i64>,
    members_done: i64,
    read_owed_by: Option<String>,
    read_owed_by_key: Option<Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<OrganisationRow> for OrganisationConnection {
    fn from(r: OrganisationRow) -> Self {
        Self {
            id: r.id,
            tenant_id: r.tenant_id,
            provider: r.provider,
            domain: r.domain,
            admin_email: r.admin_email,
            org_unit: r.org_unit,
            busy_only: r.busy_only,
            service_account: r.service_account,
            status: r.status,
            last_error: r.last_error,
            last_refreshed_at: r.last_refreshed_at,
            members_count: r.members_count,
            members_waiting: r.read_owed_members.map_or(0, |n| (n - r.members_done).max(0)),
            read_owed_by: Actor::stored(r.read_owed_by.as_deref(), r.read_owed_by_key),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    directory_id: String,
    staff_id: Uuid,
    email: String,
    connection_id: Option<Uuid>,
    state: String,
    last_error: Option<String>,
}

/// The columns of an organisation connection, with its count of syncing members (`active`
/// as [`MEMBERS`] shows them, their calendar working) and, while a background read is owed,
/// of the members it has saved so far (covered, refused, moved or stopped).
const SELECT: &str = "SELECT o.id, o.tenant_id, o.provider, o.domain, o.admin_email, o.org_unit, \
     o.busy_only, o.service_account, o.status, o.last_error, o.last_refreshed_at, \
     (SELECT COUNT(*) FROM organisation_members m \
      LEFT JOIN connections c ON c.id = m.connection_id \
      WHERE m.organisation_connection_id = o.id AND m.state = 'active' \
      AND (c.status IS NULL OR c.status = 'active')) AS members_count, \
     o.read_owed_members, \
     (SELECT COUNT(*) FROM organisation_members m \
      WHERE m.organisation_connection_id = o.id AND o.read_owed_since IS NOT NULL \
      AND m.updated_at >= o.read_owed_since) AS members_done, \
     o.read_owed_by, o.read_owed_by_key, o.created_at, o.updated_at \
     FROM organisation_connections o";

/// The mailbox an organisation's application token acts on for the connection `c` (SQL text):
/// the directory id of the member a Microsoft organisation covers it for (active first; not one
/// who left), else `NULL`.
/// Graph reaches `/users/{id}`, never a mail address. One row at most, whatever the members say
/// (the same tenant connected under its id and under a domain name would make two), so that the
/// statement reading it never fails.
macro_rules! member_mailbox {
    () => {
        "(SELECT m.directory_id FROM organisation_members m \
         JOIN organisation_connections o ON o.id = m.organisation_connection_id \
         WHERE m.connection_id = c.id AND m.state <> 'left' AND o.provider = 'microsoft' \
         ORDER BY CASE WHEN m.state = 'active' THEN 0 ELSE 1 END, m.updated_at DESC, \
         m.directory_id LIMIT 1)"
    };
}
pub(crate) use member_mailbox;

/// Why a member is not covered when their staff member connected the calendar at their
/// directory address themselves, after the address: the calendar stays theirs.
pub const OWN_CALENDAR: &str =
    " connected this calendar themselves: it stays theirs, and the organisation does not cover it";

/// Lets go of connection `$1`, which its staff member has just connected themselves, for every
/// organisation member it was covered for (`$2` [`OWN_CALENDAR`], `$3` now): a member still in
/// scope is `failed`, saying so, and the organisation no longer changes, cleans up or
/// disconnects that calendar.
pub(super) const OWN_AGAIN: &str = "UPDATE organisation_members SET connection_id = NULL, \
     state = CASE WHEN state = 'left' THEN 'left' ELSE 'failed' END, \
     last_error = CASE WHEN state = 'left' THEN last_error ELSE email || $2 END, updated_at = $3 \
     WHERE connection_id = $1";

/// What an organisation member's row becomes when it is saved again: its staff member, address,
/// state and error as given, its calendar unless none is given.
macro_rules! member_update {
    () => {
        " ON CONFLICT (organisation_connection_id, directory_id) DO UPDATE SET \
         staff_id = excluded.staff_id, email = excluded.email, \
         connection_id = COALESCE(excluded.connection_id, organisation_members.connection_id), \
         state = excluded.state, last_error = excluded.last_error, \
         updated_at = excluded.updated_at"
    };
}

/// Saves member `$2` (address `$3`) of organisation `$1` active, at `$4`, with the calendar
/// connection `$5` covered for them (its tenant and staff member): in the connection's own
/// transaction ([`super::ConnectionOwed::covers`]).
pub(super) const COVERED_MEMBER: &str = concat!(
    "INSERT INTO organisation_members (organisation_connection_id, directory_id, tenant_id, \
     staff_id, email, connection_id, state, last_error, updated_at) \
     SELECT $1, $2, c.tenant_id, c.staff_id, $3, c.id, 'active', NULL, $4 \
     FROM connections c WHERE c.id = $5",
    member_update!()
);

/// A member's state as shown: `active` only while their connection works.
const MEMBERS: &str = "SELECT m.directory_id, m.staff_id, m.email, m.connection_id, \
     CASE WHEN m.state = 'active' AND c.status IS NOT NULL AND c.status <> 'active' \
          THEN 'failed' ELSE m.state END AS state, \
     COALESCE(m.last_error, CASE WHEN m.state = 'active' THEN c.last_error END) AS last_error \
     FROM organisation_members m LEFT JOIN connections c ON c.id = m.connection_id";

/// Takes organisation connection `$id`'s advisory lock in `$tx`, so that what tells its
/// administrator runs one at a time per organisation (PostgreSQL; SQLite writes one at a time
/// anyway).
macro_rules! lock_organisation {
    ($store:expr, $tx:expr, $id:expr) => {
        if let Some(lock) = $store.owner_lock_sql() {
            let key = $crate::owner_writes::lock_key($id);
            sqlx::query(lock).bind(key).execute(&mut *$tx).await?;
        }
    };
}
pub(crate) use lock_organisation;

/// Raises in `$tx` the `organisation_failing` alert and the `organisation.failing` webhook event
/// of the organisation connection that `$query` reads as `(id, tenant_id, provider, domain,
/// what failed)`, failing with `$error`; nothing when it reads none (a calendar no organisation
/// covers). Each caller raises it once per failing streak.
macro_rules! tell_administrator {
    ($store:expr, $tx:expr, $query:expr, $error:expr, $at:expr) => {{
        let found: Option<(uuid::Uuid, uuid::Uuid, String, String, String)> =
            $query.fetch_optional(&mut *$tx).await?;
        if let Some((organisation_id, tenant_id, provider, domain, what)) = found {
            // Members saved together would each see no alert of the others' yet, and raise one
            // each.
            $crate::organisations::lock_organisation!($store, $tx, organisation_id);
            let organisation = kalends_core::alerts::OrganisationRef {
                id: organisation_id,
                provider: &provider,
                domain: &domain,
            };
            let trouble = kalends_core::alerts::OrganisationTrouble {
                organisation,
                what: &what,
                error: $error,
            };
            // The quiet period does not reach back past the last e-mail saying it works again.
            let recovered: Option<(Option<chrono::DateTime<chrono::Utc>>,)> = sqlx::query_as(
                "SELECT MAX(created_at) FROM alerts WHERE tenant_id = $1 \
                 AND kind = 'organisation_recovered' AND object_id = $2",
            )
            .bind(tenant_id)
            .bind(organisation_id)
            .fetch_optional(&mut *$tx)
            .await?;
            let quiet_from = $at - $store.alert_quiet_period();
            let quiet_from = match recovered.and_then(|(at,)| at) {
                Some(recovered) => quiet_from.max(recovered),
                None => quiet_from,
            };
            let alert = kalends_core::alerts::organisation_failing(&trouble, $at, quiet_from);
            let due = $store.alert_digest_due($at);
            $crate::alerts::record_alerts!($tx, tenant_id, &[alert], $at, due);
            let data = kalends_core::webhooks::organisation_data(&trouble);
            let event = kalends_core::webhooks::WebhookEvent::new("organisation.failing", data);
            $crate::webhooks::record_webhook_events!($tx, tenant_id, &[event], $at);
            // The streak the directory read that finds nothing failing ends.
            sqlx::query(
                "INSERT INTO organisation_troubles (organisation_connection_id, since) \
                 VALUES ($1, $2) ON CONFLICT (organisation_connection_id) DO NOTHING",
            )
            .bind(organisation_id)
            .bind($at)
            .execute(&mut *$tx)
            .await?;
        }
    }};
}
pub(crate) use tell_administrator;

/// Tells, in `$tx`, the administrator of organisation `$id` whose directory read has just been
/// recorded as working that it works again (the `organisation_recovered` alert, to those told of
/// the failure, and the `organisation.recovered` webhook event), when they were told it failed
/// and nothing fails any more ([`TROUBLE_ENDED`]); nothing otherwise.
macro_rules! end_trouble {
    ($store:expr, $tx:expr, $id:expr, $at:expr) => {{
        let streak: Option<(chrono::DateTime<chrono::Utc>,)> = sqlx::query_as(
            "SELECT since FROM organisation_troubles WHERE organisation_connection_id = $1",
        )
        .bind($id)
        .fetch_optional(&mut *$tx)
        .await?;
        if streak.is_some() {
            // After the members and calendars a failure may be telling about meanwhile.
            $crate::organisations::lock_organisation!($store, $tx, $id);
            let ended: Option<(chrono::DateTime<chrono::Utc>,)> = sqlx::query_as(TROUBLE_ENDED)
                .bind($id)
                .bind(OWN_CALENDAR)
                .fetch_optional(&mut *$tx)
                .await?;
            let organisation: Option<(uuid::Uuid, String, String)> = match ended {
                Some(_) => {
                    sqlx::query_as(
                        "SELECT tenant_id, provider, domain FROM organisation_connections \
                         WHERE id = $1",
                    )
                    .bind($id)
                    .fetch_optional(&mut *$tx)
                    .await?
                }
                None => None,
            };
            if let (Some((failing_since,)), Some((tenant_id, provider, domain))) =
                (ended, organisation)
            {
                let organisation = kalends_core::alerts::OrganisationRef {
                    id: $id,
                    provider: &provider,
                    domain: &domain,
                };
                let alert =
                    kalends_core::alerts::organisation_recovered(&organisation, failing_since, $at);
                let due = $store.alert_digest_due($at);
                $crate::alerts::record_alerts!($tx, tenant_id, &[alert], $at, due);
                let data = kalends_core::webhooks::organisation_recovered_data(
                    &organisation,
                    failing_since,
                );
                let event =
                    kalends_core::webhooks::WebhookEvent::new("organisation.recovered", data);
                $crate::webhooks::record_webhook_events!($tx, tenant_id, &[event], $at);
            }
        }
    }};
}

/// Ends organisation `$1`'s failing streak ([`tell_administrator!`]) when nothing fails any
/// more, as its directory read has just recorded it: the read itself, every member in scope
/// (but those whose staff member connected the calendar themselves, `$2` [`OWN_CALENDAR`]), and
/// every calendar it covers for a member who has not left ([`CALENDAR_REFUSED`] tells of those).
/// Returns when the streak began.
const TROUBLE_ENDED: &str = "DELETE FROM organisation_troubles WHERE organisation_connection_id = $1 \
     AND EXISTS (SELECT 1 FROM organisation_connections o WHERE o.id = $1 AND o.status = 'active') \
     AND NOT EXISTS (SELECT 1 FROM organisation_members m WHERE m.organisation_connection_id = $1 \
         AND m.state = 'failed' AND COALESCE(m.last_error, '') NOT LIKE '%' || $2) \
     AND NOT EXISTS (SELECT 1 FROM organisation_members m JOIN connections c ON c.id = m.connection_id \
         WHERE m.organisation_connection_id = $1 AND m.state <> 'left' AND c.status <> 'active') \
     RETURNING since";

/// The organisation connection `$1` whose directory read was refused, as
/// [`tell_administrator!`] reads it.
const DIRECTORY_REFUSED: &str = "SELECT id, tenant_id, provider, domain, \
     'Reading the directory' FROM organisation_connections WHERE id = $1";

/// A covered member's organisation connection, and their calendar as what failed, as
/// [`tell_administrator!`] reads them: the members `$filter` names.
macro_rules! member_refused {
    ($filter:literal) => {
        concat!(
            "SELECT o.id, o.tenant_id, o.provider, o.domain, 'The calendar of ' || m.email \
             FROM organisation_members m \
             JOIN organisation_connections o ON o.id = m.organisation_connection_id WHERE ",
            $filter
        )
    };
}

/// The member `$2` of the organisation connection `$1`.
const MEMBER_REFUSED: &str =
    member_refused!("m.organisation_connection_id = $1 AND m.directory_id = $2");

/// The member whose covered calendar is the connection `$1` (none for a calendar of the staff
/// member's own).
pub(crate) const CALENDAR_REFUSED: &str =
    member_refused!("m.connection_id = $1 AND m.state <> 'left'");

/// How a directory read went, as [`Store::record_organisation_refresh`] keeps it.
#[derive(Clone, Copy, Debug)]
pub enum DirectoryRead<'a> {
    /// Every member is in line with the directory.
    Done,
    /// Not answered (the provider down or throttling for now): why, in words for the
    /// administrator. The next read tries again.
    Failed(&'a str),
    /// Refused: the administrator must change something, which they are told
    /// (`organisation_failing`, once within the quiet period): why, in their words.
    Refused(&'a str),
    /// Its credentials and directory proven, `members` were left to a background read, which
    /// [`Store::organisations_due`] lists until a whole read is recorded, and whose log entry
    /// is `by` the one who asked.
    Owed {
        /// How many.
        members: usize,
        /// Who asked.
        by: Actor,
    },
}

/// What Kalends keeps per calendar of a connection, under the calendar's id.
const CALENDAR_TABLES: [&str; 4] =
    ["booking_events", "calendar_busy", "calendar_cursors", "calendar_channels"];

/// Moves everything connection `$connection_id` keeps under calendar `$old_id` to `$new_id`
/// (the same calendar, renamed with its account), in transaction `$tx`: the destination, the
/// busy calendars (JSON, the id replaced where it is a whole element), and [`CALENDAR_TABLES`].
/// What is read from a calendar (busy times, where a listing stopped) already kept under the
/// new id gives way; a push channel opened on the old id is renewed at once, on the new.
macro_rules! move_calendar {
    ($tx:ident, $connection_id:expr, $old_id:expr, $new_id:expr, $at:expr) => {{
        let quoted = |id: &str| serde_json::to_string(id).unwrap_or_default();
        sqlx::query(
            "UPDATE connections SET busy_calendar_ids = REPLACE(busy_calendar_ids, $1, $2), \
             destination_calendar_id = CASE WHEN destination_calendar_id = $3 THEN $4 \
                 ELSE destination_calendar_id END \
             WHERE id = $5",
        )
        .bind(quoted($old_id))
        .bind(quoted($new_id))
        .bind($old_id)
        .bind($new_id)
        .bind($connection_id)
        .execute(&mut *$tx)
        .await?;
        for table in ["calendar_busy", "calendar_cursors"] {
            let sql = format!("DELETE FROM {table} WHERE connection_id = $1 AND calendar_id = $2");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind($connection_id)
                .bind($new_id)
                .execute(&mut *$tx)
                .await?;
        }
        sqlx::query(
            "UPDATE calendar_channels SET expires_at = $1 \
             WHERE connection_id = $2 AND calendar_id = $3",
        )
        .bind($at)
        .bind($connection_id)
        .bind($old_id)
        .execute(&mut *$tx)
        .await?;
        for table in CALENDAR_TABLES {
            let sql = format!(
                "UPDATE {table} SET calendar_id = $1 WHERE connection_id = $2 AND calendar_id = $3"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind($new_id)
                .bind($connection_id)
                .bind($old_id)
                .execute(&mut *$tx)
                .await?;
        }
    }};
}

/// A member whose primary address changed in the directory (see
/// [`Store::follow_member_address`]).
#[derive(Clone, Debug)]
pub struct Readdressed {
    /// Their organisation connection.
    pub organisation_id: Uuid,
    /// Their id in the directory (unchanged).
    pub directory_id: String,
    /// Their staff member.
    pub staff_id: Uuid,
    /// The address Kalends knew, and the new one (lower case).
    pub old: String,
    /// The new address.
    pub new: String,
    /// Their covered calendar.
    pub connection_id: Option<Uuid>,
    /// A calendar of that connection whose id changed with the address: (old id, new id).
    pub calendar: Option<(String, String)>,
    /// The covered calendar's `account_email` stays the old address: the staff member connected
    /// the new one themselves, and the covered calendar is being given up. Its calendar still
    /// moves, so that Kalends' events can be taken out of it.
    pub keep_account: bool,
}

impl Store {
    /// Saves a new organisation connection with its key sealed, held until `held_until` for
    /// its caller (see [`Lease::ORGANISATION`]); [`StoreError::DuplicateOrganisation`] when the
    /// tenant connected that Workspace or Microsoft 365 organisation already (or does at the
    /// same moment).
    pub async fn create_organisation_connection(
        &self,
        tenant_id: Uuid,
        new: NewOrganisationConnection,
        sealer: &Sealer,
        entry: &NewLogEntry,
        held_until: DateTime<Utc>,
    ) -> Result<OrganisationConnection, StoreError> {
        let (id, at) = (Uuid::now_v7(), now());
        let sealed = sealer.seal(&new.key, &context(id));
        let domain = new.domain.to_ascii_lowercase();
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO organisation_connections (id, tenant_id, provider, domain, admin_email, \
                 org_unit, busy_only, sealed_key, service_account, status, created_at, updated_at, \
                 held_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'active', $10, $10, $11)",
            )
            .bind(id)
            .bind(tenant_id)
            .bind(&new.provider)
            .bind(&domain)
            .bind(&new.admin_email)
            .bind(&new.org_unit)
            .bind(new.busy_only)
            .bind(&sealed)
            .bind(&new.service_account)
            .bind(at)
            .bind(held_until)
            .execute(&mut *tx)
            .await?;
            write_log_entry!(
                tx,
                tenant_id,
                (id, new.provider.as_str(), domain.as_str()),
                entry,
                at
            );
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })?;
        self.organisation_connection(tenant_id, id).await
    }

    /// One organisation connection of the tenant.
    pub async fn organisation_connection(
        &self,
        tenant_id: Uuid,
        id: Uuid,
    ) -> Result<OrganisationConnection, StoreError> {
        let sql = format!("{SELECT} WHERE o.tenant_id = $1 AND o.id = $2");
        let row: OrganisationRow = with_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(id)
                .fetch_one(pool)
                .await
        })?;
        Ok(row.into())
    }

    /// The tenant's organisation connections, oldest first.
    pub async fn list_organisation_connections(
        &self,
        tenant_id: Uuid,
    ) -> Result<Vec<OrganisationConnection>, StoreError> {
        let sql = format!("{SELECT} WHERE o.tenant_id = $1 ORDER BY o.id");
        let rows: Vec<OrganisationRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(tenant_id).fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The organisation's service account key, opened (sealed again with the current secret key
    /// when an earlier one sealed it).
    pub async fn organisation_key(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        sealer: &Sealer,
    ) -> Result<SecretString, StoreError> {
        let (sealed,): (String,) = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT sealed_key FROM organisation_connections WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant_id)
            .bind(id)
            .fetch_one(pool)
            .await
        })?;
        self.open_key(id, &sealed, sealer).await
    }

    async fn open_key(
        &self,
        id: Uuid,
        sealed: &str,
        sealer: &Sealer,
    ) -> Result<SecretString, StoreError> {
        let key = sealer
            .open(sealed, &context(id))
            .map_err(|e| corrupt(format!("organisation connection {id}: {e}")))?;
        if !sealer.is_current(sealed) {
            let resealed = sealer.seal(&key, &context(id));
            with_pool!(self, |pool| {
                sqlx::query(
                    "UPDATE organisation_connections SET sealed_key = $1 \
                     WHERE id = $2 AND sealed_key = $3",
                )
                .bind(&resealed)
                .bind(id)
                .bind(sealed)
                .execute(pool)
                .await
                .map(|_| ())
            })?;
        }
        Ok(key)
    }

    /// Changes the administrator, the unit or the key.
    pub async fn update_organisation_connection(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        patch: OrganisationPatch,
        sealer: &Sealer,
        entry: &NewLogEntry,
    ) -> Result<OrganisationConnection, StoreError> {
        let current = self.organisation_connection(tenant_id, id).await?;
        let admin_email = patch.admin_email.or(current.admin_email);
        let org_unit = patch.org_unit.unwrap_or(current.org_unit);
        let busy_only = patch.busy_only.unwrap_or(current.busy_only);
        let (sealed, service_account) = match &patch.key {
            Some((key, account)) => (Some(sealer.seal(key, &context(id))), account.clone()),
            None => (None, current.service_account),
        };
        let at = now();
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let updated = sqlx::query(
                "UPDATE organisation_connections SET admin_email = $1, org_unit = $2, \
                 sealed_key = COALESCE($3, sealed_key), service_account = $4, updated_at = $5, \
                 busy_only = $8 WHERE tenant_id = $6 AND id = $7",
            )
            .bind(&admin_email)
            .bind(&org_unit)
            .bind(&sealed)
            .bind(&service_account)
            .bind(at)
            .bind(tenant_id)
            .bind(id)
            .bind(busy_only)
            .execute(&mut *tx)
            .await?;
            // Deleted since it was read: no change, and no entry for one.
            if updated.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            let org = (id, current.provider.as_str(), current.domain.as_str());
            write_log_entry!(tx, tenant_id, org, entry, at);
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })?;
        self.organisation_connection(tenant_id, id).await
    }

    /// Records how the last directory read went (see [`DirectoryRead`]).
    pub async fn record_organisation_refresh(
        &self,
        id: Uuid,
        read: DirectoryRead<'_>,
    ) -> Result<(), StoreError> {
        let at = now();
        // The error kept, the read's time when whole, what is owed, and a refusal to tell of.
        let (error, refreshed, owed, refused) = match read {
            DirectoryRead::Done => (None, Some(at), None, None),
            DirectoryRead::Failed(error) => (Some(error), None, None, None),
            DirectoryRead::Refused(error) => (Some(error), None, None, Some(error)),
            DirectoryRead::Owed { members, by } => {
                let members = i64::try_from(members).unwrap_or(i64::MAX);
                (None, None, Some((at, members, by)), None)
            }
        };
        with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            // Told once per failing streak, and again when the refusal changes.
            let before: Option<(String, Option<String>)> = match refused {
                Some(_) => {
                    sqlx::query_as(
                        "SELECT status, last_error FROM organisation_connections WHERE id = $1",
                    )
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
                }
                None => None,
            };
            sqlx::query(
                "UPDATE organisation_connections SET status = $1, last_error = $2, \
                 last_refreshed_at = COALESCE($3, last_refreshed_at), updated_at = $4, \
                 read_owed_since = $5, read_owed_members = $6, read_owed_by = $7, \
                 read_owed_by_key = $8 WHERE id = $9",
            )
            .bind(if error.is_some() { "error" } else { "active" })
            .bind(error)
            .bind(refreshed)
            .bind(at)
            .bind(owed.map(|(since, ..)| since))
            .bind(owed.map(|(_, members, _)| members))
            .bind(owed.map(|(.., by)| by.as_str()))
            .bind(owed.and_then(|(.., by)| by.api_key_id()))
            .bind(id)
            .execute(&mut *tx)
            .await?;
            let told = before
                .is_some_and(|(status, last)| status == "error" && last.as_deref() == refused);
            if let Some(error) = refused.filter(|_| !told) {
                let query = sqlx::query_as(DIRECTORY_REFUSED).bind(id);
                tell_administrator!(self, tx, query, error, at);
            }
            // Not a read that left members to a background read: they are not covered yet.
            if matches!(read, DirectoryRead::Done) {
                end_trouble!(self, tx, id, at);
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }
        .await)?;
        Ok(())
    }

    /// Keeps the Microsoft 365 organisation connection `id` by its tenant's id `tid` (the id
    /// its token names) when it was stored by another of the tenant's names; `false`, unchanged,
    /// when the organisation is connected under that id already.
    pub async fn keep_organisation_by_tenant_id(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        tid: &str,
    ) -> Result<bool, StoreError> {
        let renamed = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE organisation_connections SET domain = $1 \
                 WHERE tenant_id = $2 AND id = $3 AND provider = 'microsoft'",
            )
            .bind(tid.to_ascii_lowercase())
            .bind(tenant_id)
            .bind(id)
            .execute(pool)
            .await
            .map(|_| ())
        });
        match renamed {
            Ok(()) => Ok(true),
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Holds the organisation connection until `until` for one read or change
    /// ([`Lease::ORGANISATION`]); `false` while another holds it, or when there is no such
    /// connection in the tenant.
    pub async fn hold_organisation(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.take_lease(&Lease::ORGANISATION, id.into(), &[tenant_id.into()], until).await
    }

    /// Asks the read or change holding organisation connection `id` of `tenant_id` to stop before
    /// its next member, for a disconnect waiting to take it ([`Self::organisation_stop_asked`]);
    /// with `asked` false, withdraws that (the disconnect gave up waiting).
    pub async fn ask_organisation_stop(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        asked: bool,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE organisation_connections SET stop_asked_at = $1 \
                 WHERE tenant_id = $2 AND id = $3",
            )
            .bind(asked.then(now))
            .bind(tenant_id)
            .bind(id)
            .execute(pool)
            .await
            .map(|_| ())
        })
        .map_err(Into::into)
    }

    /// Whether a disconnect asked, at `since` or later, for the read or change holding
    /// organisation connection `id` to stop ([`Self::ask_organisation_stop`]); also when the
    /// connection is gone.
    pub async fn organisation_stop_asked(
        &self,
        id: Uuid,
        since: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let asked: Option<(Option<DateTime<Utc>>,)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT stop_asked_at FROM organisation_connections WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(match asked {
            Some((asked,)) => asked.is_some_and(|at| at >= since),
            None => true,
        })
    }

    /// Lets the organisation connection go after a read or change.
    pub async fn release_organisation(&self, id: Uuid) -> Result<(), StoreError> {
        self.release_lease(&Lease::ORGANISATION, id.into()).await
    }

    /// The organisation connections whose directory was last read (or tried) before `before`,
    /// and those a background read is owed to (its job lost, or dropped while another read or
    /// change held the connection), oldest first, at most `limit`.
    pub async fn organisations_due(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
        with_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT tenant_id, id FROM organisation_connections \
                 WHERE (COALESCE(last_refreshed_at, created_at) < $1 AND updated_at < $1) \
                 OR read_owed_since IS NOT NULL \
                 ORDER BY COALESCE(last_refreshed_at, created_at) LIMIT $2",
            )
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })
        .map_err(Into::into)
    }

    /// Forgets the organisation connection, its key and its members (their connections are the
    /// caller's to disconnect first), with `entry` in the log.
    pub async fn delete_organisation_connection(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        entry: &NewLogEntry,
    ) -> Result<(), StoreError> {
        let at = now();
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let gone: Option<(String, String)> = sqlx::query_as(
                "DELETE FROM organisation_connections WHERE tenant_id = $1 AND id = $2 \
                 RETURNING provider, domain",
            )
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((provider, domain)) = gone else {
                return Err(StoreError::NotFound);
            };
            write_log_entry!(tx, tenant_id, (id, provider.as_str(), domain.as_str()), entry, at);
            tx.commit().await?;
            Ok(())
        })
    }

    /// The organisation's members, by address.
    pub async fn organisation_members(
        &self,
        tenant_id: Uuid,
        id: Uuid,
    ) -> Result<Vec<OrganisationMember>, StoreError> {
        let sql = format!(
            "{MEMBERS} WHERE m.tenant_id = $1 AND m.organisation_connection_id = $2 \
             ORDER BY m.email"
        );
        let rows: Vec<MemberRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(id)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows
            .into_iter()
            .map(|r| OrganisationMember {
                directory_id: r.directory_id,
                staff_id: r.staff_id,
                email: r.email,
                connection_id: r.connection_id,
                state: r.state,
                last_error: r.last_error,
            })
            .collect())
    }

    /// Saves what a directory read found of one user: in scope (`active` with their connection,
    /// or `failed` with why), or `left`.
    pub async fn save_organisation_member(
        &self,
        tenant_id: Uuid,
        organisation_id: Uuid,
        member: &OrganisationMember,
    ) -> Result<(), StoreError> {
        let at = now();
        let failing = member.state == "failed";
        with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            // A member who fails now, and did not before, is the administrator's to act on.
            let was: Option<(String,)> = if failing {
                sqlx::query_as(
                    "SELECT state FROM organisation_members \
                     WHERE organisation_connection_id = $1 AND directory_id = $2",
                )
                .bind(organisation_id)
                .bind(&member.directory_id)
                .fetch_optional(&mut *tx)
                .await?
            } else {
                None
            };
            sqlx::query(concat!(
                "INSERT INTO organisation_members (organisation_connection_id, directory_id, \
                     tenant_id, staff_id, email, connection_id, state, last_error, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                member_update!()
            ))
            .bind(organisation_id)
            .bind(&member.directory_id)
            .bind(tenant_id)
            .bind(member.staff_id)
            .bind(&member.email)
            .bind(member.connection_id)
            .bind(&member.state)
            .bind(&member.last_error)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            // A staff member who connected the calendar themselves is not the administrator's
            // to act on (their own calendar works).
            let own = member.last_error.as_deref().is_some_and(|e| e.ends_with(OWN_CALENDAR));
            if failing && !own && was.is_none_or(|(state,)| state != "failed") {
                let query =
                    sqlx::query_as(MEMBER_REFUSED).bind(organisation_id).bind(&member.directory_id);
                let error = member.last_error.as_deref().unwrap_or_default();
                tell_administrator!(self, tx, query, error, at);
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        }
        .await)?;
        Ok(())
    }

    /// Follows a member whose primary address changed in the directory, in one transaction:
    /// the member's address; their staff member's, where it was the old one (an address the
    /// host gave them stays); their covered calendar's `account_email`; and, where the provider
    /// names the account's calendar by its address (Google's primary calendar), everything
    /// Kalends keeps under that calendar's id: the destination, the busy calendars, the events
    /// written, the busy times read, the sync cursor and the push channel. A calendar the staff
    /// member connected themselves under the new address meanwhile:
    /// [`StoreError::DuplicateConnection`], nothing changed.
    pub async fn follow_member_address(
        &self,
        tenant_id: Uuid,
        readdressed: &Readdressed,
    ) -> Result<(), StoreError> {
        let Readdressed {
            organisation_id, directory_id, staff_id, old, new, connection_id, ..
        } = readdressed;
        let at = now();
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "UPDATE organisation_members SET email = $1, updated_at = $2 \
                 WHERE tenant_id = $3 AND organisation_connection_id = $4 AND directory_id = $5",
            )
            .bind(new)
            .bind(at)
            .bind(tenant_id)
            .bind(organisation_id)
            .bind(directory_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE staff SET email = $1, updated_at = $2 \
                 WHERE tenant_id = $3 AND id = $4 AND LOWER(email) = LOWER($5)",
            )
            .bind(new)
            .bind(at)
            .bind(tenant_id)
            .bind(staff_id)
            .bind(old)
            .execute(&mut *tx)
            .await?;
            if let Some(connection_id) = connection_id {
                sqlx::query(
                    "UPDATE connections SET account_email = $1, updated_at = $2 \
                     WHERE tenant_id = $3 AND id = $4 AND NOT $5",
                )
                .bind(new)
                .bind(at)
                .bind(tenant_id)
                .bind(connection_id)
                .bind(readdressed.keep_account)
                .execute(&mut *tx)
                .await?;
                if let Some((old_id, new_id)) = &readdressed.calendar {
                    move_calendar!(tx, connection_id, old_id, new_id, at);
                }
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })
    }

    /// The staff member's connections an organisation covers, each with the organisation's name
    /// as staff know it: its Workspace's domain, or "Microsoft 365" (a tenant id means nothing
    /// to them). A member failing for now keeps theirs, as [`Self::coverage`] does: the
    /// administrator is the one to act.
    pub async fn covered_connections(
        &self,
        tenant_id: Uuid,
        staff_id: Uuid,
    ) -> Result<Vec<(Uuid, String)>, StoreError> {
        with_read_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT m.connection_id, \
                 CASE WHEN o.provider = 'microsoft' THEN 'Microsoft 365' ELSE o.domain END \
                 FROM organisation_members m \
                 JOIN organisation_connections o ON o.id = m.organisation_connection_id \
                 WHERE m.tenant_id = $1 AND m.staff_id = $2 AND m.state <> 'left' \
                 AND m.connection_id IS NOT NULL",
            )
            .bind(tenant_id)
            .bind(staff_id)
            .fetch_all(pool)
            .await
        })
        .map_err(Into::into)
    }

    /// How the covered connection's tokens are minted, while its member is in scope (or failed
    /// there for now: the organisation's administrator, not the staff member, is the one to
    /// act, and the calendar stays the organisation's); `None` for a connection no organisation
    /// covers. The scopes are the calendar's own tier: while an
    /// organisation moves to the other, a calendar not moved yet keeps the scopes it works with.
    pub async fn coverage(
        &self,
        connection_id: Uuid,
        sealer: &Sealer,
    ) -> Result<Option<Coverage>, StoreError> {
        match self.sealed_coverage(connection_id).await? {
            Some(kept) => Ok(Some(self.opened_coverage(kept, sealer).await?)),
            None => Ok(None),
        }
    }

    /// [`Self::coverage`] with the key still sealed: what a cleanup of the connection keeps.
    pub(crate) async fn sealed_coverage(
        &self,
        connection_id: Uuid,
    ) -> Result<Option<KeptCoverage>, StoreError> {
        with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT o.id AS organisation_id, o.sealed_key, o.provider, o.domain, \
                 o.service_account, m.email, m.directory_id, c.busy_only \
                 FROM organisation_members m \
                 JOIN organisation_connections o ON o.id = m.organisation_connection_id \
                 JOIN connections c ON c.id = m.connection_id \
                 WHERE m.connection_id = $1 AND m.state <> 'left' \
                 ORDER BY CASE WHEN m.state = 'active' THEN 0 ELSE 1 END, m.updated_at DESC \
                 LIMIT 1",
            )
            .bind(connection_id)
            .fetch_optional(pool)
            .await
        })
        .map_err(Into::into)
    }

    /// A coverage with its key opened (and sealed again under the current secret key when an
    /// older one sealed it, where the organisation's row still holds it).
    pub(crate) async fn opened_coverage(
        &self,
        kept: KeptCoverage,
        sealer: &Sealer,
    ) -> Result<Coverage, StoreError> {
        let key = self.open_key(kept.organisation_id, &kept.sealed_key, sealer).await?;
        Ok(Coverage {
            provider: kept.provider,
            domain: kept.domain,
            service_account: kept.service_account,
            key,
            email: kept.email,
            directory_id: kept.directory_id,
            busy_only: kept.busy_only,
        })
    }
}
