//! Writes to a resource's or staff member's time, serialised per owner, so that a booking that
//! must not overlap (`?reject_conflicts=true`) is checked and saved as one unit: no other checked
//! booking, block or checklist refresh of the same owner can be written between its check and
//! its insert.
//!
//! PostgreSQL: every such write transaction first takes a transaction-scoped advisory lock per
//! owner, in ascending key order so that two writers never wait for each other in a cycle (a
//! booking write takes them in one statement with its reference checks, [`owner_locks_sql`]);
//! the check then runs in the next statement of the same transaction and, under READ COMMITTED,
//! sees everything the previous lock holder committed. A checked booking write also locks its
//! resource's family (a house and its rooms share their busy time), read in the same statement
//! as the locks. A write that is not checked takes no lock at all: it reads nothing the locks
//! guard, so a checked write it races is as if it had come first (its check saw the owners
//! without the unchecked booking, which may overlap by its writer's choice), and the conflict
//! pass after each write, which reads after its own commit, records the overlap whichever
//! commits last. SQLite: writes go through one
//! connection, and `BEGIN IMMEDIATE` takes the database's write lock before the check reads
//! anything, so not even another process on the same file can write in between.

use uuid::Uuid;

use super::{Pool, Store};
use kalends_core::availability::Rewrite;
use kalends_core::conflicts::Busy;
use kalends_core::domain::{BookingStatus, NewBooking, Owner, TimeZone};

/// What a replacement of a booking replaces: the version its writer read, and what the write
/// does to it as the notice and the booking window see it ([`Rewrite::between`]: the ends it
/// moves, and the owners that held it, to which it is not new).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replacing {
    /// The stored version; another write since makes the replacement a
    /// [`super::StoreError::VersionConflict`].
    pub version: i64,
    /// The ends the replacement moves and the owners that held the booking.
    pub rewrite: Rewrite,
}

/// What a booking write does when the booking would overlap another item of its resource or
/// staff.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overlap {
    /// Save it anyway; the detection pass after the write records the conflict.
    #[default]
    Allow,
    /// Save nothing and fail with [`super::StoreError::Collides`] (`?reject_conflicts=true`).
    Reject,
}

impl Store {
    /// The statement opening a write transaction on owners' time (see the module docs).
    pub(super) fn begin_owner_write(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite { .. } => "BEGIN IMMEDIATE",
            Pool::Postgres(_) => "BEGIN",
        }
    }

    /// The statement that locks one owner key until the transaction ends; `None` on SQLite,
    /// where the transaction itself holds the only write lock.
    pub(super) fn owner_lock_sql(&self) -> Option<&'static str> {
        match self.pool {
            Pool::Sqlite { .. } => None,
            Pool::Postgres(_) => Some("SELECT pg_advisory_xact_lock($1)"),
        }
    }
}

/// PostgreSQL: a scalar subquery taking the advisory locks of `keys` owner keys, bound from
/// `$first` on, and with `family` (a resource id, `$2`, of tenant `$1`) the keys of that
/// resource's family too ([`super::resources::family_sql`]), all in ascending key order
/// ([`owner_keys`]; [`lock_key_sql`] computes the same keys); it counts the locks taken. Booking
/// writes put it in the statement that also checks their references (`begin_booking_write!`):
/// a checked write of a room then waits for a writer of its house and the reverse, while a
/// tenant without families pays no statement more.
pub(super) fn owner_locks_sql(first: usize, keys: usize, family: Option<&str>) -> String {
    let mut sources = Vec::new();
    if keys > 0 {
        let rows = super::value_rows(first, keys, 1, |key| format!("({key})"));
        sources.push(format!("SELECT k FROM (VALUES {rows}) AS owners (k)"));
    }
    if let Some(resource) = family {
        let family = super::resources::family_sql("$1", resource);
        let key = lock_key_sql("id");
        sources.push(format!("SELECT {key} FROM ({family}) AS family WHERE kin <> 'own'"));
    }
    if sources.is_empty() {
        return "CAST(0 AS BIGINT)".to_owned();
    }
    format!(
        "(SELECT count(*) FROM (SELECT pg_advisory_xact_lock(k) FROM ({}) AS keys \
         ORDER BY k) AS held)",
        sources.join(" UNION ")
    )
}

/// PostgreSQL: the advisory lock key of the owner id `id` (an SQL expression), as
/// [`owner_keys`] computes it: the id's two 64-bit halves, read big-endian, folded together.
fn lock_key_sql(id: &str) -> String {
    let half = |from: u8| {
        format!(
            "CAST(CAST('x' || encode(substring(uuid_send({id}) from {from} for 8), 'hex') \
             AS bit(64)) AS bigint)"
        )
    };
    format!("({} # {})", half(1), half(9))
}

/// The advisory lock keys of `owners`: one 64-bit key per owner id (ids are unique across
/// resources and staff), ascending and without repeats, the one order every writer locks in.
pub(super) fn owner_keys(owners: &[Owner]) -> Vec<i64> {
    let mut keys: Vec<i64> = owners
        .iter()
        .map(|owner| {
            let (Owner::Resource(id) | Owner::Staff(id)) = *owner;
            lock_key(id)
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The advisory lock key of the row `id` (an owner, an organisation connection): its halves
/// folded together. A rare shared key only makes two holders wait on each other, never lets
/// two of one id through.
pub(super) fn lock_key(id: Uuid) -> i64 {
    let (high, low) = id.as_u64_pair();
    i64::from_ne_bytes((high ^ low).to_ne_bytes())
}

/// Starts a write transaction on `$store`'s `$pool` and locks `$owners` in it (see the module
/// docs); evaluates to the transaction.
macro_rules! begin_owner_write {
    ($store:expr, $pool:expr, $owners:expr) => {{
        let store: &$crate::Store = $store;
        let mut tx = $pool.begin_with(store.begin_owner_write()).await?;
        if let Some(sql) = store.owner_lock_sql() {
            for key in $crate::owner_writes::owner_keys($owners) {
                sqlx::query(sql).bind(key).execute(&mut *tx).await?;
            }
        }
        tx
    }};
}
pub(super) use begin_owner_write;

/// What `$candidate` (a [`Busy`]) would break among the items of `$owners` (a `&[Owner]`) of
/// `$tenant`: the items it overlaps (`kalends_core::conflict_plan::add_refusing_hits`), the
/// availability rules it breaks, its days counted in `$home`, the notice and the window judging
/// only the ends `$rewrite` moves as each owner sees them ([`Rewrite::seen_by`]: to an owner
/// that did not hold the booking, both ends are new unless it had begun), and the rules of its
/// resource's house or rooms it would make their bookings next to it break
/// (`kalends_core::availability::judge_neighbours`): the same judgement as the one after a
/// write (`service::conflicts`). Reads with `$executor` (re-evaluated for each statement:
/// `&mut *tx` inside a write, or a pool): the owners' rules in one statement, then each owner's
/// busy items around the booking as far as its rules reach, a resource's with its family's (a
/// booking of the house collides with one of a room), then for a resource its family's rules
/// in one statement (none for most) and the busy items of each house or room whose turnover or
/// buffers reach a neighbour, within two months of the booking (further for a neighbour that
/// lasts longer). Evaluates to `Result<(Vec<ConflictItem>, Vec<Violation>), StoreError>`.
macro_rules! judge_owners {
    ($executor:expr, $tenant:expr, $candidate:expr, $owners:expr, $home:expr, $rewrite:expr) => {{
        let (tenant, candidate, owners, home, rewrite): (
            &kalends_core::domain::Tenant,
            &kalends_core::conflicts::Busy,
            &[kalends_core::domain::Owner],
            kalends_core::domain::TimeZone,
            &kalends_core::availability::Rewrite,
        ) = ($tenant, $candidate, $owners, $home, $rewrite);
        let now = chrono::Utc::now();
        async {
            let ruled = $crate::rules::fetch_rules!(tenant, owners, $executor)?;
            let (mut hits, mut broken) = (Vec::new(), Vec::new());
            for &owner in owners {
                let rules = ruled.iter().find(|r| r.owner == owner && !r.rules.is_empty());
                let window = match rules {
                    Some(r) => kalends_core::availability::judge_reach(&r.rules, home, candidate),
                    None => (candidate.start, candidate.end),
                };
                let items = $crate::conflicts::fetch_busy_items!(
                    tenant.id,
                    owner,
                    Some(window),
                    $executor
                )?;
                kalends_core::conflict_plan::add_refusing_hits(candidate, &items, &mut hits);
                if let Some(r) = rules {
                    let moved = rewrite.seen_by(owner, candidate.start <= now);
                    let zones = (home, r.zone);
                    broken.extend(kalends_core::availability::judge(
                        &r.rules, zones, now, candidate, &items, moved,
                    ));
                }
            }
            // Its house's or rooms' bookings next to it, which it would make break their rules.
            let resource = owners.iter().find_map(|owner| match *owner {
                kalends_core::domain::Owner::Resource(id) => Some(id),
                kalends_core::domain::Owner::Staff(_) => None,
            });
            if let Some(resource) = resource {
                let kin = $crate::rules::fetch_kin_rules!(tenant, resource, $executor)?;
                for kin in kin.into_iter().filter(|k| k.rules.reach_neighbours()) {
                    // Read again, wider, when a neighbour lasts past the first reach.
                    let mut reach = kalends_core::availability::neighbours_reach(candidate, &[]);
                    let items = loop {
                        let items = $crate::conflicts::fetch_busy_items!(
                            tenant.id,
                            kin.owner,
                            Some(reach),
                            $executor
                        )?;
                        let needed =
                            kalends_core::availability::neighbours_reach(candidate, &items);
                        if needed == reach {
                            break items;
                        }
                        reach = needed;
                    };
                    broken.extend(kalends_core::availability::judge_neighbours(
                        &kin.rules, kin.zone, now, candidate, &items,
                    ));
                }
            }
            Ok::<_, $crate::StoreError>((hits, broken))
        }
        .await
    }};
}
pub(super) use judge_owners;

/// Inside a transaction from [`begin_owner_write!`]: returns [`super::StoreError::Collides`]
/// from the enclosing function when `$candidate` (an `Option<Busy>`: `None` checks nothing)
/// overlaps another item of `$owners`, or [`super::StoreError::BreaksRules`] when it breaks
/// one of their availability rules ([`judge_owners!`], the write being `$rewrite`).
macro_rules! reject_overlaps {
    ($tx:expr, $tenant:expr, $candidate:expr, $owners:expr, $home:expr, $rewrite:expr) => {{
        let candidate: Option<kalends_core::conflicts::Busy> = $candidate;
        if let Some(candidate) = candidate {
            let (hits, broken) = $crate::owner_writes::judge_owners!(
                &mut *$tx, $tenant, &candidate, $owners, $home, $rewrite
            )?;
            if !hits.is_empty() {
                return Err($crate::StoreError::Collides(hits));
            }
            if !broken.is_empty() {
                return Err($crate::StoreError::BreaksRules(broken));
            }
        }
    }};
}
pub(super) use reject_overlaps;

/// The busy item booking `id` would be, when `overlap` asks for a check: `None` for
/// [`Overlap::Allow`] and for a cancelled booking, which takes no time.
pub(super) fn candidate(
    overlap: Overlap,
    id: Uuid,
    new: &NewBooking,
    home: TimeZone,
) -> Option<Busy> {
    if overlap == Overlap::Allow || new.status == BookingStatus::Cancelled {
        return None;
    }
    Some(Busy::booking(id, new, home))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_keys_come_in_one_order_whatever_order_the_owners_are_named_in() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let forward = owner_keys(&[Owner::Resource(a), Owner::Staff(b), Owner::Staff(b)]);
        let backward = owner_keys(&[Owner::Staff(b), Owner::Resource(a)]);
        assert_eq!(forward, backward);
        assert_eq!(forward.len(), 2);
        assert!(forward.windows(2).all(|w| w[0] < w[1]));
    }
}
