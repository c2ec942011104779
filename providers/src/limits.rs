//! Request budgets: a token bucket per account keeps each account under the provider's per-user
//! quota (whichever of its connections a request goes through, [`Account`]), one per provider
//! keeps the whole project under its quota, and a 429 slows that one account down (for its
//! `Retry-After`), not everyone. A bucket holds [`BURST_SECONDS`] of
//! its budget: a burst that size goes at once, then requests go at the budget's pace.
//!
//! With Redis (the job queue's), the buckets are shared by every process: one Lua script checks
//! and takes from both buckets at once (GCRA: each bucket is one "theoretical arrival time" key,
//! expiring when idle), and a 429 cools the account in every worker. Without Redis (SQLite or
//! PostgreSQL queues: one process, or a few), the buckets are this process's own. Should Redis
//! fail or not answer within 250 ms, a process uses its own buckets for 30 s rather than stop
//! calling providers. The scripts need a single Redis (not a cluster: the keys of one call are
//! not in one hash slot) of version 5 or later (they write after `TIME`).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use redis::Script;
use redis::aio::ConnectionManager;
use sha2::{Digest, Sha256};

use crate::ProviderError;
use crate::calendar::Provider;

tokio::task_local! {
    /// The budgets and the account of the call running ([`RateLimits::within`]): what a
    /// listing's further pages take from ([`another_request`]).
    static CALL: (Arc<RateLimits>, Account);
}

/// Whose budget a request takes from: one account at its provider, whichever connection it goes
/// through. A provider's quota is its user's, and one account may be connected more than once
/// (two staff members sharing the front desk's calendar, a staff member and their organisation);
/// each connection with a budget of its own sent the account twice its quota. Named by a digest
/// of the provider and the address, so the shared buckets' Redis keys carry no address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Account {
    provider: Provider,
    digest: [u8; 16],
}

impl Account {
    /// The account `address` at `provider`, however the address is capitalised.
    pub fn new(provider: Provider, address: &str) -> Self {
        let full = Sha256::new()
            .chain_update(provider.as_str())
            .chain_update(b"\0")
            .chain_update(address.trim().to_lowercase())
            .finalize();
        let mut digest = [0; 16];
        digest.copy_from_slice(&full[..16]);
        Self { provider, digest }
    }

    /// The provider whose quota the account is under.
    pub fn provider(self) -> Provider {
        self.provider
    }
}

/// The digest, in hex: what names the account's buckets in Redis.
impl std::fmt::Display for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.digest.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

/// Takes one more request from the running call's account budget, waiting as
/// [`RateLimits::acquire`] does: each further page of a listing is a request the provider counts
/// like the first. Outside a budgeted call (asking who an account is, before its address is
/// known; an organisation's first listing of a user's calendars) there is nothing to take from.
pub(crate) async fn another_request() -> Result<(), ProviderError> {
    let Ok((limits, account)) = CALL.try_with(Clone::clone) else {
        return Ok(());
    };
    limits.take(account).await
}

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
    per_account: DefaultKeyedRateLimiter<Account>,
    per_project: DefaultDirectRateLimiter,
}

/// Request budgets of every provider and account.
pub struct RateLimits {
    budgets: Budgets,
    google: ProviderLimits,
    microsoft: ProviderLimits,
    caldav: ProviderLimits,
    /// Accounts the provider told to wait (429 / rate-limit 403), until when.
    cooling: Mutex<HashMap<Account, Instant>>,
    /// The buckets every process shares, when there is a Redis.
    shared: Option<Shared>,
}

/// Buckets in Redis.
struct Shared {
    redis: ConnectionManager,
    /// Key prefix (the queue's name), so deployments sharing a Redis keep their own budgets.
    prefix: String,
    take: Script,
    cool: Script,
    /// Whether the last Redis error was already logged (one warning per outage).
    failing: AtomicBool,
    /// After a Redis failure, this process's own buckets are used until then (so an outage
    /// does not stall every call on Redis's reconnect attempts).
    own_until: Mutex<Option<Instant>>,
}

/// How long one try at the shared buckets may take before this process uses its own.
/// CalDAV, per account a minute: each account is its own server's guest (iCloud throttles
/// busy accounts with 503s), so a gentle fixed budget rather than a configured quota.
const CALDAV_PER_ACCOUNT: u32 = 300;
/// CalDAV, every account together (they live on many servers).
const CALDAV_PER_PROJECT: u32 = 100_000;

const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// The longest a call waits in place for an account's budget; a longer wait (a provider's
/// `Retry-After`, up to an hour) is handed back to the caller to retry later.
pub const LONGEST_WAIT: Duration = Duration::from_secs(10);

/// How long a process keeps to its own buckets after Redis failed.
const REDIS_BACK_OFF: Duration = Duration::from_secs(30);

/// Takes one request from an account's bucket and its provider's, or says how long to wait.
/// KEYS: account bucket, provider bucket, account cooling-off. ARGV: per bucket, the emission
/// interval in ms (60,000 / budget) and the burst ([`burst`]). Returns 0 (go) or the ms to wait.
const TAKE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local cooling = tonumber(redis.call('GET', KEYS[3]) or '0')
if cooling > now then return math.ceil(cooling - now) end
local wait = 0
local tats = {}
for i = 1, 2 do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat < now then tat = now end
  local next_tat = tat + interval
  local allowed_at = next_tat - interval * burst
  if allowed_at > now and allowed_at - now > wait then wait = allowed_at - now end
  tats[i] = next_tat
end
if wait > 0 then return math.ceil(wait) end
for i = 1, 2 do
  redis.call('SET', KEYS[i], string.format('%.3f', tats[i]), 'PX', math.ceil(tats[i] - now) + 1000)
end
return 0
";

/// Cools an account off for ARGV[1] ms (never shortening a longer cooling-off). KEYS: its key.
const COOL: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local until_ms = now + tonumber(ARGV[1])
if until_ms > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], string.format('%.3f', until_ms), 'PX', ARGV[1])
end
return 0
";

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").finish_non_exhaustive()
    }
}

/// How many seconds of its budget a bucket holds. A per-minute quota is no licence to send a
/// minute's requests in one second: the providers throttle bursts too, and the sandbox, stricter
/// when unsure, lets a user send ten seconds of its quota at once, then one request at its pace.
/// A bucket of the same shape keeps a burst of bookings quick, and sends a replay of thousands
/// at the quota's pace: requests arrive no earlier than they were sent, so a provider bucket
/// shaped like this one never finds them over the quota.
pub const BURST_SECONDS: u32 = 10;

/// The requests a bucket of `per_minute` lets through at once.
fn burst(per_minute: u32) -> u32 {
    (per_minute.saturating_mul(BURST_SECONDS) / 60).max(1)
}

fn per_minute(n: u32) -> Quota {
    let burst = NonZeroU32::new(burst(n)).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)).allow_burst(burst)
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
    /// Limits with these budgets, this process's own.
    pub fn new(budgets: Budgets) -> Self {
        Self {
            budgets,
            shared: None,
            google: ProviderLimits::new(budgets.google_per_account, budgets.google_per_project),
            microsoft: ProviderLimits::new(
                budgets.microsoft_per_account,
                budgets.microsoft_per_project,
            ),
            caldav: ProviderLimits::new(CALDAV_PER_ACCOUNT, CALDAV_PER_PROJECT),
            cooling: Mutex::new(HashMap::new()),
        }
    }

    /// The same budgets shared with every process using this Redis under `prefix`.
    pub fn shared(budgets: Budgets, redis: ConnectionManager, prefix: &str) -> Self {
        Self {
            shared: Some(Shared {
                redis,
                prefix: prefix.to_owned(),
                take: Script::new(TAKE),
                cool: Script::new(COOL),
                failing: AtomicBool::new(false),
                own_until: Mutex::new(None),
            }),
            ..Self::new(budgets)
        }
    }

    /// Waits until one more request of this account fits every budget; when that would take
    /// longer than [`LONGEST_WAIT`] (the provider told the account to wait), returns how long
    /// instead, so the job is retried later rather than holding a worker meanwhile.
    pub async fn acquire(&self, account: Account) -> Result<(), Duration> {
        let provider = account.provider;
        if let Some(shared) = &self.shared {
            let (per_account, project) = match provider {
                Provider::Google => {
                    (self.budgets.google_per_account, self.budgets.google_per_project)
                }
                Provider::Microsoft => {
                    (self.budgets.microsoft_per_account, self.budgets.microsoft_per_project)
                }
                Provider::Caldav => (CALDAV_PER_ACCOUNT, CALDAV_PER_PROJECT),
            };
            loop {
                match shared.take(account, per_account, project).await {
                    Ok(0) => return Ok(()),
                    Ok(wait_ms) if Duration::from_millis(wait_ms) > LONGEST_WAIT => {
                        return Err(Duration::from_millis(wait_ms));
                    }
                    Ok(wait_ms) => {
                        tokio::time::sleep(Duration::from_millis(wait_ms.min(60_000))).await;
                    }
                    // Redis is down: this process's own buckets meanwhile.
                    Err(()) => break,
                }
            }
        }
        if let Some(until) = self.cooling_until(account) {
            let wait = until.saturating_duration_since(Instant::now());
            if wait > LONGEST_WAIT {
                return Err(wait);
            }
            tokio::time::sleep_until(until.into()).await;
        }
        let limits = match provider {
            Provider::Google => &self.google,
            Provider::Microsoft => &self.microsoft,
            Provider::Caldav => &self.caldav,
        };
        limits.per_account.until_key_ready(&account).await;
        limits.per_project.until_ready().await;
        Ok(())
    }

    /// Takes one request of the account from its budgets ([`Self::acquire`]); a wait longer than
    /// a job should sit idle comes back as a transient error saying when to retry.
    pub async fn take(&self, account: Account) -> Result<(), ProviderError> {
        self.acquire(account).await.map_err(|wait| ProviderError::Transient {
            message: format!("this account was told to wait {}s more", wait.as_secs()),
            retry_after: Some(wait),
            unanswered: false,
        })
    }

    /// Takes the account's first request of `call` from its budgets, and runs `call` with them
    /// at hand for its further requests ([`another_request`]).
    pub async fn within<T>(
        self: &Arc<Self>,
        account: Account,
        call: impl Future<Output = T>,
    ) -> Result<T, ProviderError> {
        self.take(account).await?;
        Ok(CALL.scope((self.clone(), account), call).await)
    }

    /// The provider asked this account to wait `for_how_long`: its next requests wait too (in
    /// every process, with Redis).
    pub async fn slow_down(&self, account: Account, for_how_long: Duration) {
        let for_how_long = for_how_long.min(Duration::from_secs(3600));
        if let Some(shared) = &self.shared {
            shared.cool(account, for_how_long).await;
        }
        let until = Instant::now() + for_how_long;
        let mut cooling = self.cooling.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = cooling.entry(account).or_insert(until);
        *entry = (*entry).max(until);
    }

    fn cooling_until(&self, account: Account) -> Option<Instant> {
        let mut cooling = self.cooling.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        cooling.retain(|_, until| *until > now);
        cooling.get(&account).copied()
    }
}

impl Shared {
    /// A key of `account`'s provider: its account bucket, cooling-off, or the provider's own.
    fn key(&self, account: Account, what: &str) -> String {
        format!("{}:limits:{}:{what}", self.prefix, account.provider.as_str())
    }

    /// Whether Redis failed recently (this process uses its own buckets meanwhile).
    fn resting(&self) -> bool {
        let until = self.own_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        until.is_some_and(|until| Instant::now() < until)
    }

    /// One try at taking a request: `Ok(0)` go, `Ok(ms)` wait, `Err` Redis failed, slow or
    /// resting after a failure (logged once per outage).
    async fn take(&self, account: Account, per_account: u32, per_project: u32) -> Result<u64, ()> {
        if self.resting() {
            return Err(());
        }
        let interval = |per_minute: u32| 60_000.0 / f64::from(per_minute.max(1));
        let mut invocation = self.take.prepare_invoke();
        invocation
            .key(self.key(account, &format!("account:{account}")))
            .key(self.key(account, "project"))
            .key(self.key(account, &format!("cooling:{account}")))
            .arg(interval(per_account))
            .arg(burst(per_account))
            .arg(interval(per_project))
            .arg(burst(per_project));
        let mut redis = self.redis.clone();
        self.noted(timed(invocation.invoke_async(&mut redis)).await)
    }

    async fn cool(&self, account: Account, for_how_long: Duration) {
        if self.resting() {
            return;
        }
        let mut invocation = self.cool.prepare_invoke();
        invocation
            .key(self.key(account, &format!("cooling:{account}")))
            .arg(u64::try_from(for_how_long.as_millis()).unwrap_or(u64::MAX).max(1));
        let mut redis = self.redis.clone();
        let _ = self.noted(timed(invocation.invoke_async(&mut redis)).await);
    }

    fn noted(&self, answer: redis::RedisResult<u64>) -> Result<u64, ()> {
        match answer {
            Ok(wait) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("shared request budgets are back in Redis");
                }
                Ok(wait)
            }
            Err(error) => {
                let mut until =
                    self.own_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                *until = Some(Instant::now() + REDIS_BACK_OFF);
                drop(until);
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%error, "shared request budgets unavailable in Redis; this process uses its own meanwhile");
                }
                Err(())
            }
        }
    }
}

/// A Redis call that may take at most [`REDIS_TIMEOUT`].
async fn timed(call: impl Future<Output = redis::RedisResult<u64>>) -> redis::RedisResult<u64> {
    tokio::time::timeout(REDIS_TIMEOUT, call).await.unwrap_or_else(|_| {
        Err(redis::RedisError::from((redis::ErrorKind::Io, "no answer from Redis in time")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh account at `provider`.
    fn someone(provider: Provider) -> Account {
        Account::new(provider, &format!("{}@example.com", uuid::Uuid::now_v7()))
    }

    #[test]
    fn an_address_is_one_account_however_it_is_capitalised_and_at_each_provider_its_own() {
        let ann = Account::new(Provider::Google, "ann@example.com");
        assert_eq!(Account::new(Provider::Google, " Ann@Example.COM"), ann);
        assert_ne!(Account::new(Provider::Microsoft, "ann@example.com"), ann);
        assert_ne!(Account::new(Provider::Google, "bo@example.com"), ann);
        // A digest of the address, not the address: the same length however long it is.
        let long = Account::new(Provider::Google, &format!("{}@example.com", "a".repeat(300)));
        assert_eq!((ann.to_string().len(), long.to_string().len()), (32, 32), "{ann} {long}");
    }

    #[tokio::test]
    async fn an_account_over_its_budget_waits_and_another_account_does_not() {
        let limits = RateLimits::new(Budgets { google_per_account: 60, ..Budgets::default() });
        let (busy, idle) = (someone(Provider::Google), someone(Provider::Google));
        let start = Instant::now();
        for _ in 0..burst(60) {
            limits.acquire(busy).await.unwrap();
        }
        assert!(start.elapsed() < Duration::from_millis(200), "ten seconds' worth go at once");
        limits.acquire(busy).await.unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(900),
            "the next one waits for a token (one a second)"
        );
        let other = Instant::now();
        limits.acquire(idle).await.unwrap();
        assert!(other.elapsed() < Duration::from_millis(150), "another account has its own budget");
    }

    #[tokio::test]
    #[ignore = "needs Redis: run scripts/test"]
    async fn processes_sharing_a_redis_share_each_accounts_budget_and_cooling_off() {
        let url = std::env::var("KALENDS_TEST_REDIS_URL").expect("KALENDS_TEST_REDIS_URL");
        let redis = redis::Client::open(url).unwrap().get_connection_manager().await.unwrap();
        let prefix = format!("limits-test-{}", uuid::Uuid::now_v7().simple());
        let budgets = Budgets { google_per_account: 60, ..Budgets::default() };
        // Two processes' limits.
        let one = RateLimits::shared(budgets, redis.clone(), &prefix);
        let two = RateLimits::shared(budgets, redis, &prefix);
        let (busy, idle) = (someone(Provider::Google), someone(Provider::Google));
        let start = Instant::now();
        for n in 0..burst(60) {
            let limits = if n % 2 == 0 { &one } else { &two };
            limits.acquire(busy).await.unwrap();
        }
        assert!(start.elapsed() < Duration::from_millis(500), "the budget's burst goes at once");
        two.acquire(busy).await.unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(900),
            "the next request, from either process, waits for a token (one a second): {:?}",
            start.elapsed()
        );
        let other = Instant::now();
        one.acquire(idle).await.unwrap();
        assert!(other.elapsed() < Duration::from_millis(150), "another account has its own budget");

        // A 429 seen by one process slows that account in the other too.
        let (busy, idle) = (someone(Provider::Microsoft), someone(Provider::Microsoft));
        one.slow_down(busy, Duration::from_millis(400)).await;
        let cooling = Instant::now();
        two.acquire(idle).await.unwrap();
        assert!(cooling.elapsed() < Duration::from_millis(150), "another account is not slowed");
        two.acquire(busy).await.unwrap();
        assert!(cooling.elapsed() >= Duration::from_millis(350), "{:?}", cooling.elapsed());
    }

    #[tokio::test]
    async fn a_listings_further_pages_take_from_the_budget_of_the_call_they_belong_to() {
        let limits =
            Arc::new(RateLimits::new(Budgets { google_per_account: 60, ..Budgets::default() }));
        let account = someone(Provider::Google);
        let start = Instant::now();
        // The call's first request and nine more pages: the burst of ten.
        let pages = limits.within(account, async {
            for _ in 1..burst(60) {
                another_request().await.unwrap();
            }
        });
        pages.await.unwrap();
        assert!(start.elapsed() < Duration::from_millis(200), "the burst goes at once");
        limits.within(account, async {}).await.unwrap();
        assert!(start.elapsed() >= Duration::from_millis(900), "the next request waits its turn");
        let outside = Instant::now();
        for _ in 0..100 {
            another_request().await.unwrap();
        }
        assert!(outside.elapsed() < Duration::from_millis(100), "outside a call nothing is taken");
    }

    #[tokio::test]
    async fn a_rate_limited_account_cools_down_alone() {
        let limits = RateLimits::new(Budgets::default());
        let (told, other) = (someone(Provider::Microsoft), someone(Provider::Microsoft));
        limits.slow_down(told, Duration::from_millis(300)).await;
        let start = Instant::now();
        limits.acquire(other).await.unwrap();
        assert!(start.elapsed() < Duration::from_millis(150), "another account is not slowed");
        limits.acquire(told).await.unwrap();
        assert!(start.elapsed() >= Duration::from_millis(290), "{:?}", start.elapsed());
    }

    #[tokio::test]
    async fn an_account_told_to_wait_an_hour_gets_the_wait_back_instead_of_sleeping() {
        let limits = RateLimits::new(Budgets::default());
        let told = someone(Provider::Google);
        limits.slow_down(told, Duration::MAX).await;
        let start = Instant::now();
        let wait = limits.acquire(told).await.unwrap_err();
        assert!(start.elapsed() < Duration::from_millis(150), "it did not sleep");
        assert!(wait > Duration::from_secs(3590) && wait <= Duration::from_secs(3600), "{wait:?}");
    }
}
