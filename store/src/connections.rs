//! Calendar connections and their sealed tokens; the single-use states of connect flows.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use kalends_core::webhooks::WebhookEvent;

use super::booking_events::{BEHIND, LEFT_DELETED};
use super::sealed_tokens::context;
use super::{
    Lease, LeaseKey, Pool, Store, StoreError, corrupt, invalid, now, outbox, with_pool,
    with_read_pool,
};
use kalends_core::alerts::{DeadGrant, connection_needs_reauth};
use kalends_core::domain::{
    Connection, ConnectionCalendar, ConnectionStatus, ConnectionTokens, Provider,
};
use kalends_core::job::Job;
use kalends_core::seal::Sealer;

/// A newly authorized account, as the callback saves it.
#[derive(Clone, Debug)]
pub struct NewConnection {
    /// The staff member who connected it.
    pub staff_id: Uuid,
    /// Google or Microsoft.
    pub provider: Provider,
    /// The account's address.
    pub account_email: String,
    /// Its calendars.
    pub calendars: Vec<ConnectionCalendar>,
    /// Its tokens.
    pub tokens: ConnectionTokens,
    /// Busy times only: no destination, never the default (see `Connection::busy_only`).
    pub busy_only: bool,
}

/// A change of a connection's choices.
#[derive(Clone, Debug, Default)]
pub struct ConnectionPatch {
    /// Where bookings are written (must be one of its writable calendars).
    pub destination_calendar_id: Option<String>,
    /// Calendars whose busy times count (each must be one of its calendars).
    pub busy_calendar_ids: Option<Vec<String>>,
    /// Make it the staff member's default (`false` is refused: choose another default instead).
    pub is_default: Option<bool>,
}

/// A connect flow in progress, as the callback takes it.
#[derive(Clone, Debug)]
pub struct OAuthFlow {
    /// Tenant of the staff member.
    pub tenant_id: Uuid,
    /// The staff member who started it.
    pub staff_id: Uuid,
    /// The provider it went to.
    pub provider: Provider,
    /// The PKCE verifier to send with the code.
    pub pkce_verifier: SecretString,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct ConnectionRow {
    id: Uuid,
    tenant_id: Uuid,
    staff_id: Uuid,
    provider: String,
    account_email: String,
    status: String,
    destination_calendar_id: Option<String>,
    busy_calendar_ids: String,
    calendars: String,
    is_default: bool,
    busy_only: bool,
    token_expires_at: Option<DateTime<Utc>>,
    last_sync_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, tenant_id, staff_id, provider, account_email, status, \
    destination_calendar_id, busy_calendar_ids, calendars, is_default, busy_only, \
    token_expires_at, last_sync_at, last_error, created_at, updated_at";

impl TryFrom<ConnectionRow> for Connection {
    type Error = StoreError;
    fn try_from(r: ConnectionRow) -> Result<Self, StoreError> {
        let bad = |what: &str| corrupt(format!("connection {} has an unreadable {what}", r.id));
        Ok(Connection {
            id: r.id,
            tenant_id: r.tenant_id,
            staff_id: r.staff_id,
            provider: r.provider.parse().map_err(|_| bad("provider"))?,
            account_email: r.account_email,
            status: ConnectionStatus::parse(&r.status).ok_or_else(|| bad("status"))?,
            destination_calendar_id: r.destination_calendar_id,
            busy_calendar_ids: serde_json::from_str(&r.busy_calendar_ids)
                .map_err(|_| bad("busy calendar list"))?,
            calendars: serde_json::from_str(&r.calendars).map_err(|_| bad("calendar list"))?,
            is_default: r.is_default,
            busy_only: r.busy_only,
            last_sync_at: r.last_sync_at,
            last_error: r.last_error,
            token_expires_at: r.token_expires_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// Whether `patch` may apply to `current`: its calendars its own, a destination one Kalends may
/// write into, the default only moved onto a live calendar that takes bookings.
fn check_patch(current: &Connection, patch: &ConnectionPatch) -> Result<(), StoreError> {
    if current.busy_only
        && (patch.is_default == Some(true) || patch.destination_calendar_id.is_some())
    {
        let field =
            if patch.is_default == Some(true) { "is_default" } else { "destination_calendar_id" };
        return Err(invalid(
            field,
            "this calendar is connected for busy times only: Kalends writes nothing into it",
        ));
    }
    let known = |cal: &str| current.calendars.iter().find(|c| c.id == cal);
    if let Some(destination) = &patch.destination_calendar_id {
        match known(destination) {
            None => {
                return Err(invalid(
                    "destination_calendar_id",
                    "not one of this account's calendars",
                ));
            }
            Some(c) if !c.writable => {
                return Err(invalid(
                    "destination_calendar_id",
                    "Kalends cannot write to this calendar",
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(busy) = &patch.busy_calendar_ids
        && let Some(unknown) = busy.iter().find(|id| known(id).is_none())
    {
        return Err(invalid(
            "busy_calendar_ids",
            format!("{unknown:?} is not one of this account's calendars"),
        ));
    }
    if patch.is_default == Some(false) {
        return Err(invalid("is_default", "make another connection the default instead"));
    }
    if patch.is_default == Some(true) && current.status == ConnectionStatus::Revoked {
        return Err(invalid("is_default", "a disconnected calendar cannot be the default"));
    }
    Ok(())
}

/// A new connection's destination and busy calendars: its primary calendar (or its first
/// writable one) for both; busy times only, its primary calendar read and none written.
fn first_choices(new: &NewConnection) -> (Option<String>, Vec<String>) {
    let primary = new
        .calendars
        .iter()
        .find(|c| c.primary && c.writable)
        .or_else(|| new.calendars.iter().find(|c| c.writable));
    let (destination, busy) = if new.busy_only {
        (None, new.calendars.iter().find(|c| c.primary))
    } else {
        (primary.map(|c| c.id.clone()), primary)
    };
    (destination, busy.map(|c| c.id.clone()).into_iter().collect())
}

/// The sealed token columns: access, refresh, expiry, version.
type TokenRow = (Option<String>, Option<String>, Option<DateTime<Utc>>, i64, Option<String>);

/// A connection's tokens, opened, with their version and, for a Microsoft calendar an
/// organisation covers, the mailbox its application's token acts on (the member's directory
/// id).
#[derive(Clone, Debug)]
pub struct KeptTokens {
    /// The tokens.
    pub tokens: ConnectionTokens,
    /// Their version (for `store_refreshed_tokens`).
    pub version: i64,
    /// The covered member's mailbox.
    pub mailbox: Option<String>,
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".into())
}

/// What saving a connection owes, decided by `service::connections::connected`; recorded in
/// the outbox in the save's own transaction.
#[derive(Clone, Debug)]
pub struct ConnectionOwed {
    /// Jobs owed, given the tenant and the connection's id.
    pub jobs: fn(Uuid, Uuid) -> Vec<Job>,
    /// An import of its busy times now (unless one is already waiting), with the next scheduled
    /// one at this time.
    pub import_now: Option<DateTime<Utc>>,
    /// A sync of each upcoming booking its calendar lacks, when it is its staff member's active
    /// default connection (first, oldest change first).
    pub replay: bool,
    /// The organisation member the calendar is covered for, saved active with it: a calendar
    /// saved without its member would pass, at the next read of the directory, for one its
    /// staff member connected themselves. `None`: connected by hand, so no organisation covers
    /// it from then on (see [`super::organisations::OWN_CALENDAR`]).
    pub covers: Option<CoveredMember>,
}

/// A directory user whose calendar an organisation covers ([`ConnectionOwed::covers`]).
#[derive(Clone, Debug)]
pub struct CoveredMember {
    /// The organisation connection.
    pub organisation_id: Uuid,
    /// The user's id in the directory.
    pub directory_id: String,
    /// Their address, lower-cased.
    pub email: String,
}

/// Records what saving connection `$id` owes ([`ConnectionOwed`]) in `$tx`; evaluates to the
/// number of bookings queued for its calendar.
macro_rules! record_connection_owed {
    ($tx:expr, $tenant_id:expr, $id:expr, $owed:expr, $at:expr) => {{
        let owed: &ConnectionOwed = $owed;
        let mut jobs = Vec::new();
        if owed.replay {
            let (staff_id, is_default, status, destination): (Uuid, bool, String, Option<String>) =
                sqlx::query_as(
                    "SELECT staff_id, is_default, status, destination_calendar_id \
                     FROM connections WHERE id = $1",
                )
                .bind($id)
                .fetch_one(&mut *$tx)
                .await?;
            if is_default && status == ConnectionStatus::Active.as_str() {
                let behind: Vec<(Uuid,)> = sqlx::query_as(BEHIND)
                    .bind($id)
                    .bind(staff_id)
                    .bind($tenant_id)
                    .bind($at)
                    .bind(destination.unwrap_or_default())
                    .bind(LEFT_DELETED)
                    .fetch_all(&mut *$tx)
                    .await?;
                let syncs = behind.into_iter().map(|(b,)| Job::replay_booking($tenant_id, b));
                jobs.extend(syncs);
            }
        }
        let replayed = jobs.len();
        match &owed.covers {
            Some(member) => {
                sqlx::query(super::organisations::COVERED_MEMBER)
                    .bind(member.organisation_id)
                    .bind(&member.directory_id)
                    .bind(&member.email)
                    .bind($at)
                    .bind($id)
                    .execute(&mut *$tx)
                    .await?;
            }
            // Connected by hand: no organisation covers it any more.
            None => {
                sqlx::query(super::organisations::OWN_AGAIN)
                    .bind($id)
                    .bind(super::organisations::OWN_CALENDAR)
                    .bind($at)
                    .execute(&mut *$tx)
                    .await?;
            }
        }
        jobs.extend((owed.jobs)($tenant_id, $id));
        if let Some(next) = owed.import_now {
            sqlx::query("UPDATE connections SET next_import_at = $1 WHERE id = $2")
                .bind(next)
                .bind($id)
                .execute(&mut *$tx)
                .await?;
            let marked = sqlx::query(
                "UPDATE connections SET import_requested_at = $1 \
                 WHERE id = $2 AND import_requested_at IS NULL",
            )
            .bind($at)
            .bind($id)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
            if marked == 1 {
                jobs.push(Job::ImportAvailability { tenant_id: $tenant_id, connection_id: $id });
            }
        }
        outbox::owe_jobs!($tx, &jobs, $at);
        replayed
    }};
}

/// Records in `$tx` what a connection that just lost its grant owes: its staff member's e-mail
/// (a `NotifyReauth` job) and the tenant's alert, after the digest window.
macro_rules! owe_reauth_notice {
    ($store:expr, $tx:expr, $tenant_id:expr, $id:expr, $last_error:expr, $at:expr) => {{
        let job = super::outbox::encode(&kalends_core::job::Job::NotifyReauth {
            tenant_id: $tenant_id,
            connection_id: $id,
        })?;
        sqlx::query(super::outbox::INSERT).bind(&job).bind($at).execute(&mut *$tx).await?;
        let (staff_name, account, provider, upcoming): (String, String, String, i64) =
            sqlx::query_as(
                "SELECT s.name, c.account_email, c.provider, (SELECT COUNT(*) \
                 FROM booking_staff bs JOIN bookings b ON b.id = bs.booking_id \
                 WHERE bs.staff_id = c.staff_id AND b.status <> 'cancelled' \
                 AND b.span_end > $2) FROM connections c JOIN staff s ON s.id = c.staff_id \
                 WHERE c.id = $1",
            )
            .bind($id)
            .bind($at)
            .fetch_one(&mut *$tx)
            .await?;
        let grant = DeadGrant {
            connection_id: $id,
            staff_name: &staff_name,
            provider: &provider,
            account: &account,
            error: $last_error,
            upcoming_bookings: upcoming,
        };
        let alert = connection_needs_reauth(&grant, $at, $store.alert_quiet_period());
        let due = $store.alert_digest_due($at);
        super::alerts::record_alerts!($tx, $tenant_id, &[alert], $at, due);
    }};
}

/// Takes, in `$tx` on PostgreSQL, the lock on staff member `$staff_id`'s row that every write
/// giving or taking their default calendar takes first, so that one sees what another committed
/// (the database refuses a second default, `connections_one_default`); on SQLite, whose one
/// writer runs them one after another, nothing. Not `FOR UPDATE`: that would also wait for every
/// transaction adding the staff member's bookings, sessions or blocks (their foreign keys' share
/// locks).
macro_rules! lock_defaults {
    ($store:expr, $tx:expr, $staff_id:expr) => {
        if matches!($store.pool, Pool::Postgres(_)) {
            sqlx::query("SELECT id FROM staff WHERE id = $1 FOR NO KEY UPDATE")
                .bind($staff_id)
                .execute(&mut *$tx)
                .await?;
        }
    };
}

impl Store {
    /// Saves a newly authorized account: a new connection, or (the same staff member, provider
    /// and account connecting again) fresh tokens and `active` for the existing one, with what
    /// it `owed`s in the same transaction. A calendar an organisation covers
    /// ([`ConnectionOwed::covers`]) that its staff member has connected themselves meanwhile is
    /// left theirs: [`StoreError::DuplicateConnection`]. The first active connection of a staff member
    /// becomes the default; the account's primary writable calendar becomes the destination and
    /// the busy calendar. Returns the connection and how many bookings were queued for it.
    pub async fn save_connection(
        &self,
        tenant_id: Uuid,
        new: NewConnection,
        sealer: &Sealer,
        owed: &ConnectionOwed,
    ) -> Result<(Connection, usize), StoreError> {
        match self.save_connection_once(tenant_id, &new, sealer, owed).await {
            // A staff member's own save found the account taken by a save that added it after
            // this one looked (an organisation covering that calendar at the same moment): saved
            // over it, as a reconnection is. A covered save refused so stays refused: the
            // calendar is the staff member's.
            Err(StoreError::DuplicateConnection) if owed.covers.is_none() => {
                self.save_connection_once(tenant_id, &new, sealer, owed).await
            }
            saved => saved,
        }
    }

    // Long on purpose: a reconnect and a new connection differ in their statement, and each must
    // commit together with what it owes, in one transaction per database.
    async fn save_connection_once(
        &self,
        tenant_id: Uuid,
        new: &NewConnection,
        sealer: &Sealer,
        owed: &ConnectionOwed,
    ) -> Result<(Connection, usize), StoreError> {
        let existing = self.connection_by_account(tenant_id, new).await?;
        let id = existing.as_ref().map_or_else(Uuid::now_v7, |c| c.id);
        let access = sealer.seal(&new.tokens.access_token, &context(id, "access"));
        let refresh =
            new.tokens.refresh_token.as_ref().map(|t| sealer.seal(t, &context(id, "refresh")));
        let at = now();
        // A connection that had lost its grant (or was disconnected) is back.
        let reconnected: Vec<WebhookEvent> = existing
            .as_ref()
            .filter(|c| c.status != ConnectionStatus::Active)
            .map(|c| {
                let provider = c.provider.to_string();
                let data = kalends_core::webhooks::connection_data(
                    id, c.staff_id, &provider, "active", None,
                );
                WebhookEvent::new("connection.reconnected", data)
            })
            .into_iter()
            .collect();
        let replayed = match existing {
            Some(_) => {
                // Back for bookings (after a disconnect, or a busy-times-only cover), it takes
                // the account's first writable calendar where it has no destination, and is
                // the default when the staff member has no other: a disconnect gave both away.
                let (destination, _) = first_choices(new);
                with_pool!(self, |pool| {
                    let mut tx = pool.begin().await?;
                    lock_defaults!(self, tx, new.staff_id);
                    let taken = sqlx::query(
                        "UPDATE connections SET status = 'active', access_token = $1, \
                         refresh_token = COALESCE($2, refresh_token), token_expires_at = $3, \
                         token_version = token_version + 1, refresh_lease_until = NULL, calendars = $4, \
                         last_error = NULL, updated_at = $5, next_import_at = $5, busy_only = $7, \
                         destination_calendar_id = CASE WHEN $7 THEN NULL \
                             ELSE COALESCE(destination_calendar_id, $8) END, \
                         is_default = NOT $7 AND (is_default OR NOT EXISTS (SELECT 1 FROM connections o \
                             WHERE o.staff_id = connections.staff_id AND o.id <> connections.id \
                             AND o.is_default)) \
                         WHERE id = $6 AND ($9 IS NULL OR status = 'revoked' OR EXISTS \
                             (SELECT 1 FROM organisation_members m \
                              WHERE m.connection_id = connections.id \
                              AND m.organisation_connection_id = $9 AND m.directory_id = $10))",
                    )
                    .bind(&access)
                    .bind(&refresh)
                    .bind(new.tokens.expires_at)
                    .bind(json(&new.calendars))
                    .bind(at)
                    .bind(id)
                    .bind(new.busy_only)
                    .bind(&destination)
                    .bind(owed.covers.as_ref().map(|m| m.organisation_id))
                    .bind(owed.covers.as_ref().map(|m| m.directory_id.as_str()))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    // Covered again only while the calendar is still the member's (or was
                    // disconnected): one its staff member connected themselves since the
                    // directory read began stays theirs. The staff lock above orders the two.
                    if taken == 0 {
                        return Err(StoreError::DuplicateConnection);
                    }
                    // A cleanup still owed from an earlier disconnect would now revoke the new
                    // grant (a Google revocation covers the client and the account) and remove
                    // the events the reconnected calendar is about to hold again. Back for busy
                    // times only, it holds none of them again: the cleanup removes them (its
                    // grant is the organisation's token of the time, not the new one), and the
                    // events it took over are no longer this calendar's to keep.
                    if new.busy_only {
                        sqlx::query("DELETE FROM booking_events WHERE connection_id = $1")
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                    } else {
                        sqlx::query("DELETE FROM connection_cleanups WHERE connection_id = $1")
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    let replayed = record_connection_owed!(tx, tenant_id, id, owed, at);
                    super::webhooks::record_webhook_events!(tx, tenant_id, &reconnected, at);
                    tx.commit().await?;
                    Ok::<_, StoreError>(replayed)
                })?
            }
            None => {
                let (destination, busy) = first_choices(new);
                with_pool!(self, |pool| {
                    let mut tx = pool.begin().await?;
                    lock_defaults!(self, tx, new.staff_id);
                    // The default when the staff member has none, decided in the statement:
                    // one read before it let calendars connected at once all become it.
                    sqlx::query(
                        "INSERT INTO connections (id, tenant_id, staff_id, provider, account_email, status, \
                         destination_calendar_id, busy_calendar_ids, calendars, is_default, access_token, \
                         refresh_token, token_expires_at, token_version, created_at, updated_at, \
                         next_import_at, busy_only) \
                         VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8, NOT $13 AND NOT EXISTS \
                         (SELECT 1 FROM connections o WHERE o.staff_id = $3 AND o.is_default), \
                         $9, $10, $11, 1, $12, $12, $12, $13)",
                    )
                    .bind(id)
                    .bind(tenant_id)
                    .bind(new.staff_id)
                    .bind(new.provider.as_str())
                    .bind(&new.account_email)
                    .bind(&destination)
                    .bind(json(&busy))
                    .bind(json(&new.calendars))
                    .bind(&access)
                    .bind(&refresh)
                    .bind(new.tokens.expires_at)
                    .bind(at)
                    .bind(new.busy_only)
                    .execute(&mut *tx)
                    .await?;
                    let replayed = record_connection_owed!(tx, tenant_id, id, owed, at);
                    super::webhooks::record_webhook_events!(tx, tenant_id, &reconnected, at);
                    tx.commit().await?;
                    Ok::<_, StoreError>(replayed)
                })?
            }
        };
        self.outbox_signal.notify_one();
        Ok((self.connection(tenant_id, id).await?, replayed))
    }

    async fn connection_by_account(
        &self,
        tenant_id: Uuid,
        new: &NewConnection,
    ) -> Result<Option<Connection>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM connections WHERE tenant_id = $1 AND staff_id = $2 \
             AND provider = $3 AND account_email = $4"
        );
        let row: Option<ConnectionRow> = with_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(new.staff_id)
                .bind(new.provider.as_str())
                .bind(&new.account_email)
                .fetch_optional(pool)
                .await
        })?;
        row.map(Connection::try_from).transpose()
    }

    /// One connection of the tenant.
    pub async fn connection(&self, tenant_id: Uuid, id: Uuid) -> Result<Connection, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM connections WHERE tenant_id = $1 AND id = $2");
        let row: ConnectionRow = with_read_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(id)
                .fetch_one(pool)
                .await
        })?;
        row.try_into()
    }

    /// The tenant's connections (of one staff member when given), oldest first.
    pub async fn list_connections(
        &self,
        tenant_id: Uuid,
        staff_id: Option<Uuid>,
    ) -> Result<Vec<Connection>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM connections WHERE tenant_id = $1 \
             AND ($2 IS NULL OR staff_id = $2) ORDER BY created_at, id"
        );
        let rows: Vec<ConnectionRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(staff_id)
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(Connection::try_from).collect()
    }

    /// The default, not disconnected, connection of each staff member assigned to a booking, in
    /// one query.
    pub async fn default_connections_of_booking(
        &self,
        tenant_id: Uuid,
        booking_id: Uuid,
    ) -> Result<Vec<Connection>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM connections WHERE tenant_id = $1 AND is_default AND status <> 'revoked' \
             AND staff_id IN (SELECT staff_id FROM booking_staff WHERE booking_id = $2) ORDER BY created_at, id"
        );
        let rows: Vec<ConnectionRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(tenant_id)
                .bind(booking_id)
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(Connection::try_from).collect()
    }

    /// The default connections (not disconnected) of these staff members, oldest first, in one
    /// query: a batch of syncs picks each booking's targets from them by its staff.
    pub async fn default_connections_of_staff(
        &self,
        tenant_id: Uuid,
        staff_ids: &[Uuid],
    ) -> Result<Vec<Connection>, StoreError> {
        if staff_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM connections WHERE tenant_id = $1 AND is_default AND status <> 'revoked' \
             AND staff_id IN ({}) ORDER BY created_at, id",
            super::placeholders(2, staff_ids.len())
        );
        let rows: Vec<ConnectionRow> = with_read_pool!(self, |pool| {
            let mut query = sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(tenant_id);
            for id in staff_ids {
                query = query.bind(id);
            }
            query.fetch_all(pool).await
        })?;
        rows.into_iter().map(Connection::try_from).collect()
    }

    /// Changes a connection's choices; making one the default unsets the staff member's others
    /// in the same transaction. New busy calendars are imported at once.
    pub async fn update_connection(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        patch: ConnectionPatch,
    ) -> Result<Connection, StoreError> {
        let current = self.connection(tenant_id, id).await?;
        check_patch(&current, &patch)?;
        let busy = patch.busy_calendar_ids.as_ref().map(json);
        with_pool!(self, |pool| {
            async {
            let mut tx = pool.begin().await?;
            if patch.is_default == Some(true) {
                lock_defaults!(self, tx, current.staff_id);
                sqlx::query("UPDATE connections SET is_default = FALSE WHERE staff_id = $1 AND id <> $2")
                    .bind(current.staff_id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "UPDATE connections SET destination_calendar_id = COALESCE($1, destination_calendar_id), \
                 busy_calendar_ids = COALESCE($2, busy_calendar_ids), is_default = COALESCE($3, is_default), \
                 next_import_at = CASE WHEN $2 IS NULL THEN next_import_at ELSE $4 END, \
                 updated_at = $4 WHERE id = $5",
            )
            .bind(&patch.destination_calendar_id)
            .bind(&busy)
            .bind(patch.is_default)
            .bind(now())
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        }
        .await
        })?;
        self.connection(tenant_id, id).await
    }

    /// Refreshes the stored list of the account's calendars.
    pub async fn set_connection_calendars(
        &self,
        id: Uuid,
        calendars: &[ConnectionCalendar],
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("UPDATE connections SET calendars = $1, updated_at = $2 WHERE id = $3")
                .bind(json(&calendars))
                .bind(now())
                .bind(id)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// The connection's tokens, opened, with their version and mailbox, in one statement.
    /// `None` once disconnected.
    pub async fn connection_tokens(
        &self,
        id: Uuid,
        sealer: &Sealer,
    ) -> Result<Option<KeptTokens>, StoreError> {
        let row: Option<TokenRow> = with_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT c.access_token, c.refresh_token, c.token_expires_at, c.token_version, ",
                super::organisations::member_mailbox!(),
                " AS mailbox FROM connections c WHERE c.id = $1",
            ))
            .bind(id)
            .fetch_optional(pool)
            .await
        })?;
        let Some((Some(access), refresh, Some(expires_at), version, mailbox)) = row else {
            return Ok(None);
        };
        let open = |sealed: &str, field: &str| {
            sealer
                .open(sealed, &context(id, field))
                .map_err(|e| corrupt(format!("connection {id}: {e}")))
        };
        let tokens = ConnectionTokens {
            access_token: open(&access, "access")?,
            refresh_token: refresh.as_deref().map(|r| open(r, "refresh")).transpose()?,
            expires_at,
        };
        let stale = !sealer.is_current(&access)
            || refresh.as_deref().is_some_and(|r| !sealer.is_current(r));
        if stale {
            self.reseal_tokens(id, &access, &tokens, sealer).await?;
        }
        Ok(Some(KeptTokens { tokens, version, mailbox }))
    }

    /// Seals tokens opened with a previous secret key again with the current one, unless they
    /// changed meanwhile (a refresh seals with the current key anyway).
    async fn reseal_tokens(
        &self,
        id: Uuid,
        read_access: &str,
        tokens: &ConnectionTokens,
        sealer: &Sealer,
    ) -> Result<(), StoreError> {
        let access = sealer.seal(&tokens.access_token, &context(id, "access"));
        let refresh =
            tokens.refresh_token.as_ref().map(|t| sealer.seal(t, &context(id, "refresh")));
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE connections SET access_token = $1, refresh_token = $2 \
                 WHERE id = $3 AND access_token = $4",
            )
            .bind(&access)
            .bind(&refresh)
            .bind(id)
            .bind(read_access)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Takes the refresh lease of a connection until `until`, if its tokens are still at
    /// `version` (the ones the caller found stale); `false` when another worker holds the lease or
    /// already refreshed. Whoever holds it is the only one refreshing.
    pub async fn lease_token_refresh(
        &self,
        id: Uuid,
        version: i64,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.take_lease(&Lease::TOKEN_REFRESH, id.into(), &[LeaseKey::Int(version)], until).await
    }

    /// Stores refreshed tokens atomically (access, rotated refresh, expiry, version) and releases
    /// the lease. A `None` refresh token keeps the stored one.
    pub async fn store_refreshed_tokens(
        &self,
        id: Uuid,
        tokens: &ConnectionTokens,
        sealer: &Sealer,
    ) -> Result<(), StoreError> {
        let access = sealer.seal(&tokens.access_token, &context(id, "access"));
        let refresh =
            tokens.refresh_token.as_ref().map(|t| sealer.seal(t, &context(id, "refresh")));
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE connections SET access_token = $1, refresh_token = COALESCE($2, refresh_token), \
                 token_expires_at = $3, token_version = token_version + 1, refresh_lease_until = NULL, \
                 updated_at = $4 WHERE id = $5 AND access_token IS NOT NULL",
            )
            .bind(&access)
            .bind(&refresh)
            .bind(tokens.expires_at)
            .bind(now())
            .bind(id)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Releases a refresh lease without new tokens (the refresh failed).
    pub async fn release_token_refresh(&self, id: Uuid) -> Result<(), StoreError> {
        self.release_lease(&Lease::TOKEN_REFRESH, id.into()).await
    }

    /// Records why a call failed without touching the connection's status: whatever the status
    /// became meanwhile (another failure marked it, a reconnect restored it) stays.
    pub async fn note_connection_error(&self, id: Uuid, message: &str) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("UPDATE connections SET last_error = $1, updated_at = $2 WHERE id = $3")
                .bind(message)
                .bind(now())
                .bind(id)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Records a connection's state after a call: its status and last error (`None` clears it).
    /// A call that worked does not lift an organisation's refusal (`error`) off a calendar that
    /// takes bookings: every such call reads (busy times, a reconciliation, the calendars listed),
    /// and reading is not what was refused, or the call started before the refusal. The
    /// directory's read, which checks writing too, covers it again. A busy-times-only calendar
    /// needs nothing more than reading.
    pub async fn mark_connection(
        &self,
        id: Uuid,
        status: ConnectionStatus,
        last_error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.mark_connection_at(id, None, status, last_error).await
    }

    /// The same for a refusal of the connection's tokens at `version`: nothing changes when
    /// newer tokens were stored meanwhile (its staff member reconnected while the refusal of the
    /// old grant was on its way).
    pub async fn mark_tokens_refused(
        &self,
        id: Uuid,
        version: i64,
        status: ConnectionStatus,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.mark_connection_at(id, Some(version), status, Some(reason)).await
    }

    async fn mark_connection_at(
        &self,
        id: Uuid,
        version: Option<i64>,
        status: ConnectionStatus,
        last_error: Option<&str>,
    ) -> Result<(), StoreError> {
        let at = now();
        let synced = (status == ConnectionStatus::Active && last_error.is_none()).then_some(at);
        let reauth = status == ConnectionStatus::NeedsReauth;
        let fell = with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            // A connection that just lost its grant owes its staff member an e-mail.
            let previous: Option<(String, Uuid, Uuid, String)> = sqlx::query_as(
                "SELECT status, tenant_id, staff_id, provider FROM connections WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            // With `version`, only while the tokens are still those: newer ones mean the refusal
            // was of a grant the connection no longer holds (nothing changes, nothing is owed).
            let changed = sqlx::query(
                "UPDATE connections SET \
                 status = CASE WHEN $1 = 'active' AND status = 'error' AND NOT busy_only \
                     THEN status ELSE $1 END, \
                 last_error = CASE WHEN $1 = 'active' AND status = 'error' AND NOT busy_only \
                     THEN last_error ELSE $2 END, \
                 last_sync_at = COALESCE($3, last_sync_at), updated_at = $4 WHERE id = $5 \
                 AND status <> 'revoked' AND token_version = COALESCE($6, token_version)",
            )
            .bind(status.as_str())
            .bind(last_error)
            .bind(synced)
            .bind(at)
            .bind(id)
            .bind(version)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                return Ok::<_, StoreError>(false);
            }
            let fell = match &previous {
                Some((was, tenant_id, ..)) if reauth && was == "active" => Some(*tenant_id),
                _ => None,
            };
            let mut recorded = 0;
            if let Some((was, tenant_id, staff_id, provider)) = &previous {
                let events = status_events(id, *staff_id, provider, was, status, last_error);
                recorded = super::webhooks::record_webhook_events!(tx, *tenant_id, &events, at);
            }
            if let Some(tenant_id) = fell {
                owe_reauth_notice!(self, tx, tenant_id, id, last_error, at);
            }
            // A covered calendar the organisation's grant no longer reaches: its administrator
            // is told, the first time it fails so.
            let refused = status == ConnectionStatus::Error
                && previous.as_ref().is_some_and(|(was, ..)| was != "error");
            if refused {
                let error = last_error.unwrap_or_default();
                let query = sqlx::query_as(super::organisations::CALENDAR_REFUSED).bind(id);
                super::organisations::tell_administrator!(self, tx, query, error, at);
            }
            tx.commit().await?;
            Ok::<_, StoreError>(fell.is_some() || recorded > 0 || refused)
        }
        .await)?;
        if fell {
            self.outbox_signal.notify_one();
        }
        Ok(())
    }

    /// Disconnects: marks the connection `revoked`, hands the default to the staff member's
    /// oldest other active connection, forgets the imported busy times (their conflicts resolve)
    /// and its push channels, and takes its tokens out of the connection. In the same
    /// transaction the cleanup at the provider is owed (a `connection_cleanups` row holding the
    /// sealed tokens, the recorded events and the channels, and a `clean_up_connection` job due
    /// at `cleanup_at`): the tokens are forgotten for good only once that cleanup is done.
    /// Returns the connection and the cleanup's id (`None` when it had no tokens left).
    // Long on purpose: the revocation, the cleanup it owes and what the calendar stops counting
    // (its default, busy times, cursors, channels) are one transaction's statements, so that a
    // disconnect is never half done.
    pub async fn disconnect_connection(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        remove_events: bool,
        cleanup_at: DateTime<Utc>,
    ) -> Result<(Connection, Option<Uuid>), StoreError> {
        let current = self.connection(tenant_id, id).await?;
        let parts = self.cleanup_parts(id).await?;
        let cleanup_id = Uuid::now_v7();
        let job = super::outbox::encode(&kalends_core::job::Job::CleanUpConnection {
            tenant_id,
            cleanup_id,
        })?;
        let at = now();
        let owed = with_pool!(self, |pool| {
            async {
            let mut tx = pool.begin().await?;
            lock_defaults!(self, tx, current.staff_id);
            let owed = sqlx::query(super::cleanups::INSERT)
                .bind(cleanup_id)
                .bind(remove_events)
                .bind(&parts.events)
                .bind(&parts.channels)
                .bind(at)
                .bind(id)
                .bind(&parts.coverage)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            if owed {
                sqlx::query(super::outbox::INSERT_AT)
                    .bind(&job)
                    .bind(at)
                    .bind(cleanup_at)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM calendar_channels WHERE connection_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE connections SET status = 'revoked', access_token = NULL, refresh_token = NULL, \
                 token_expires_at = NULL, refresh_lease_until = NULL, is_default = FALSE, \
                 token_version = token_version + 1, updated_at = $1 WHERE id = $2",
            )
            .bind(at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            // The default, when it went with this calendar (as the row is now, not as it was
            // read before), passes to the oldest other calendar that takes bookings.
            sqlx::query(
                "UPDATE connections SET is_default = TRUE WHERE id = (SELECT id FROM connections \
                 WHERE staff_id = $1 AND status <> 'revoked' AND NOT busy_only AND id <> $2 \
                 ORDER BY created_at, id LIMIT 1) \
                 AND NOT EXISTS (SELECT 1 FROM connections o WHERE o.staff_id = $1 AND o.is_default)",
            )
            .bind(current.staff_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            // Its busy times stop counting; a reconnect imports them afresh.
            sqlx::query("DELETE FROM calendar_busy WHERE connection_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM calendar_cursors WHERE connection_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(owed)
        }
        .await
        })?;
        if owed {
            self.outbox_signal.notify_one();
        }
        Ok((self.connection(tenant_id, id).await?, owed.then_some(cleanup_id)))
    }

    /// Starts a connect flow: stores the hash of its `state` with the sealed PKCE verifier.
    pub async fn create_oauth_flow(
        &self,
        state: &str,
        flow: &OAuthFlow,
        sealer: &Sealer,
    ) -> Result<(), StoreError> {
        let hash = kalends_core::tokens::token_hash(state);
        let verifier = sealer.seal(&flow.pkce_verifier, &format!("oauth-state/{}", hex(&hash)));
        let at = now();
        with_pool!(self, |pool| {
            async {
            sqlx::query("DELETE FROM oauth_states WHERE expires_at < $1")
                .bind(at)
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO oauth_states (state_hash, tenant_id, staff_id, provider, pkce_verifier, \
                 expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&hash)
            .bind(flow.tenant_id)
            .bind(flow.staff_id)
            .bind(flow.provider.as_str())
            .bind(&verifier)
            .bind(flow.expires_at)
            .bind(at)
            .execute(pool)
            .await
            .map(|_| ())
        }
        .await
        })?;
        Ok(())
    }

    /// Takes the connect flow that `state` names if the staff member `staff_id` of `tenant_id`
    /// started it: it is deleted whether or not it is still valid, so a state works at most
    /// once; another staff member's flow is left as it is, for the browser that started it.
    /// `None` when unknown, used, expired or someone else's.
    pub async fn take_oauth_flow(
        &self,
        state: &str,
        tenant_id: Uuid,
        staff_id: Uuid,
        sealer: &Sealer,
    ) -> Result<Option<OAuthFlow>, StoreError> {
        let hash = kalends_core::tokens::token_hash(state);
        let row: Option<(Uuid, Uuid, String, String, DateTime<Utc>)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "DELETE FROM oauth_states WHERE state_hash = $1 AND tenant_id = $2 \
                 AND staff_id = $3 \
                 RETURNING tenant_id, staff_id, provider, pkce_verifier, expires_at",
            )
            .bind(&hash)
            .bind(tenant_id)
            .bind(staff_id)
            .fetch_optional(pool)
            .await
        })?;
        let Some((tenant_id, staff_id, provider, verifier, expires_at)) = row else {
            return Ok(None);
        };
        if expires_at <= now() {
            return Ok(None);
        }
        let pkce_verifier = sealer
            .open(&verifier, &format!("oauth-state/{}", hex(&hash)))
            .map_err(|e| corrupt(format!("oauth state: {e}")))?;
        Ok(Some(OAuthFlow {
            tenant_id,
            staff_id,
            provider: provider.parse().map_err(|_| corrupt("oauth state provider"))?,
            pkce_verifier,
            expires_at,
        }))
    }

    /// Whether `state` names a connect flow still waiting for its callback (anyone's).
    pub async fn oauth_flow_waiting(&self, state: &str) -> Result<bool, StoreError> {
        let hash = kalends_core::tokens::token_hash(state);
        let found: Option<(i32,)> = with_read_pool!(self, |pool| {
            sqlx::query_as("SELECT 1 FROM oauth_states WHERE state_hash = $1 AND expires_at > $2")
                .bind(&hash)
                .bind(now())
                .fetch_optional(pool)
                .await
        })?;
        Ok(found.is_some())
    }
}

/// The webhook event a connection's change of status owes: losing its grant, or getting it back.
fn status_events(
    id: Uuid,
    staff_id: Uuid,
    provider: &str,
    was: &str,
    status: ConnectionStatus,
    last_error: Option<&str>,
) -> Vec<WebhookEvent> {
    let event = match (was, status) {
        ("active", ConnectionStatus::NeedsReauth) => "connection.needs_reauth",
        ("needs_reauth", ConnectionStatus::Active) => "connection.reconnected",
        _ => return Vec::new(),
    };
    let data = kalends_core::webhooks::connection_data(
        id,
        staff_id,
        provider,
        status.as_str(),
        last_error,
    );
    vec![WebhookEvent::new(event, data)]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
