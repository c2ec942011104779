//! Work that must be the only one of its kind while it runs (a booking's sync, an import's run)
//! holds a store [`Lease`] and renews it as it goes: a lease that ran out under a live run would
//! let a second run start beside it.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kalends_store::{Lease, LeaseKey};
use kalends_store::{Store, StoreError};

/// The end of a lease of `length` taken or renewed now, in whole microseconds (what the
/// databases keep, so the holder can name its own lease when it renews it).
pub(crate) fn lease_end(length: Duration) -> DateTime<Utc> {
    let end = Utc::now() + chrono::Duration::from_std(length).unwrap_or_default();
    DateTime::from_timestamp_micros(end.timestamp_micros()).unwrap_or(end)
}

/// Runs `work` under `lease` on `key`, which the caller took until `held` (from [`lease_end`]),
/// renewing it for another `length` every third of `length`. `Ok(None)` when a renewal found
/// the lease no longer the caller's (the database was unreachable for a whole lease, and
/// another run may hold it now): `work` was dropped and must have recorded nothing. The lease is
/// not released: that is the caller's business.
///
/// `work` is boxed before anything awaits: a job's future is large, and held twice in the
/// caller's state (debug builds keep a moved-out local) it overflows small stacks (test threads).
pub(crate) fn hold<'a, T: Send + 'a>(
    store: &'a Store,
    lease: &'a Lease,
    key: LeaseKey<'a>,
    held: DateTime<Utc>,
    length: Duration,
    work: impl Future<Output = T> + Send + 'a,
) -> impl Future<Output = Result<Option<T>, StoreError>> + Send + 'a {
    let renew = move |held, until| store.renew_lease(lease, key, held, until);
    hold_with(renew, held, length, work)
}

/// [`hold`] for the leases on several `keys` taken together ([`Store::take_leases`]): renewed
/// together, and lost together when any one of them is.
pub(crate) fn hold_many<'a, T: Send + 'a>(
    store: &'a Store,
    lease: &'a Lease,
    keys: &'a [uuid::Uuid],
    held: DateTime<Utc>,
    length: Duration,
    work: impl Future<Output = T> + Send + 'a,
) -> impl Future<Output = Result<Option<T>, StoreError>> + Send + 'a {
    let renew = move |held, until| store.renew_leases(lease, keys, held, until);
    hold_with(renew, held, length, work)
}

fn hold_with<'a, T: Send + 'a, R>(
    renew_lease: impl Fn(DateTime<Utc>, DateTime<Utc>) -> R + Send + 'a,
    mut held: DateTime<Utc>,
    length: Duration,
    work: impl Future<Output = T> + Send + 'a,
) -> impl Future<Output = Result<Option<T>, StoreError>> + Send + 'a
where
    R: Future<Output = Result<bool, StoreError>> + Send + 'a,
{
    let mut work = Box::pin(work);
    async move {
        let mut renew = tokio::time::interval((length / 3).max(Duration::from_millis(10)));
        renew.tick().await;
        loop {
            tokio::select! {
                done = &mut work => return Ok(Some(done)),
                _ = renew.tick() => {
                    let until = lease_end(length);
                    if !renew_lease(held, until).await? {
                        return Ok(None);
                    }
                    held = until;
                }
            }
        }
    }
}
