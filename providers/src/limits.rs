//! Request budgets: a token bucket per connected account keeps each account under the provider's
//! per-user quota, one per provider keeps the whole project under its quota, and a 429 slows that
//! one account down (for its `Retry-After`), not everyone.
//!
//! Budgets are per process: with several worker processes each gets the full budget, so set
//! them to the quota divided by the number of workers.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use uuid::Uuid;

use crate::calendar::Provider;

/// Requests per minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budgets {
    /// Google, per user (Calendar API quota: 600 a minute per user per project).
    pub google_per_account: u32,
    /// Google, the whole project (10,000 a minute).
    pub google_per_project: u32,
    /// Microsoft, per mailbox (Outlook: 10,000 per 10 minutes per app and mailbox).
    pub microsoft_per_account: u32,
    /// Microsoft, the whole app.
    pub microsoft_per_project: u32,
}

impl Default for Budgets {
    fn default() -> Self {
        Self {
            google_per_account: 600,
            google_per_project: 10_000,
            microsoft_per_account: 1_000,
            microsoft_per_project: 20_000,
        }
    }
}

/// The limiters of one provider.
struct ProviderLimits {
    per_account: DefaultKeyedRateLimiter<Uuid>,
    per_project: DefaultDirectRateLimiter,
}

/// Request budgets of every provider and account.
pub struct RateLimits {
    google: ProviderLimits,
    microsoft: ProviderLimits,
    /// Accounts the provider told to wait (429 / rate-limit 403), until when.
    cooling: Mutex<HashMap<Uuid, Instant>>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").finish_non_exhaustive()
    }
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

impl ProviderLimits {
    fn new(per_account: u32, per_project: u32) -> Self {
        Self {
            per_account: RateLimiter::keyed(per_minute(per_account)),
            per_project: RateLimiter::direct(per_minute(per_project)),
        }
    }
}

impl RateLimits {
    /// Limits with these budgets.
    pub fn new(budgets: Budgets) -> Self {
        Self {
            google: ProviderLimits::new(budgets.google_per_account, budgets.google_per_project),
            microsoft: ProviderLimits::new(
                budgets.microsoft_per_account,
                budgets.microsoft_per_project,
            ),
            cooling: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until one more request of this account fits every budget.
    pub async fn acquire(&self, provider: Provider, connection_id: Uuid) {
        let until = self.cooling_until(connection_id);
        if let Some(until) = until {
            tokio::time::sleep_until(until.into()).await;
        }
        let limits = match provider {
            Provider::Google => &self.google,
            Provider::Microsoft => &self.microsoft,
        };
        limits.per_account.until_key_ready(&connection_id).await;
        limits.per_project.until_ready().await;
    }

    /// The provider asked this account to wait `for_how_long`: its next requests wait too.
    pub fn slow_down(&self, connection_id: Uuid, for_how_long: Duration) {
        let until = Instant::now() + for_how_long.min(Duration::from_secs(3600));
        let mut cooling = self.cooling.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = cooling.entry(connection_id).or_insert(until);
        *entry = (*entry).max(until);
    }

    fn cooling_until(&self, connection_id: Uuid) -> Option<Instant> {
        let mut cooling = self.cooling.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        cooling.retain(|_, until| *until > now);
        cooling.get(&connection_id).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_account_over_its_budget_waits_and_another_account_does_not() {
        let limits = RateLimits::new(Budgets { google_per_account: 60, ..Budgets::default() });
        let (busy, idle) = (Uuid::now_v7(), Uuid::now_v7());
        let start = Instant::now();
        for _ in 0..60 {
            limits.acquire(Provider::Google, busy).await;
        }
        assert!(start.elapsed() < Duration::from_millis(200), "a burst of the budget goes at once");
        limits.acquire(Provider::Google, busy).await;
        assert!(
            start.elapsed() >= Duration::from_millis(900),
            "the 61st waits for a token (one a second)"
        );
        let other = Instant::now();
        limits.acquire(Provider::Google, idle).await;
        assert!(other.elapsed() < Duration::from_millis(150), "another account has its own budget");
    }

    #[tokio::test]
    async fn a_rate_limited_account_cools_down_alone() {
        let limits = RateLimits::new(Budgets::default());
        let (told, other) = (Uuid::now_v7(), Uuid::now_v7());
        limits.slow_down(told, Duration::from_millis(300));
        let start = Instant::now();
        limits.acquire(Provider::Microsoft, other).await;
        assert!(start.elapsed() < Duration::from_millis(150), "another account is not slowed");
        limits.acquire(Provider::Microsoft, told).await;
        assert!(start.elapsed() >= Duration::from_millis(290), "{:?}", start.elapsed());
    }
}
