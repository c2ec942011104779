//! What the feed endpoint remembers between requests: the validators of recently asked feeds (for
//! a short time) and the rendered bodies of recent feed versions (within a memory budget).
//!
//! Subscribers poll every few minutes to hours, so answering a revalidation from a copy at most
//! `validator_ttl` old never shows anyone stale data they would otherwise have seen; and OTAs that
//! re-download whole feeds without validators get a stored body instead of a fresh rendering
//! while the feed's version is unchanged.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use kalends_core::domain::{Feed, Tenant};
use kalends_core::store::FeedWindow;
use uuid::Uuid;

/// Validators lookups kept at most; the oldest half goes when full.
const MAX_VALIDATORS: usize = 50_000;

/// What the endpoint knows about a feed URL.
#[derive(Debug)]
pub struct Known {
    /// The feed.
    pub feed: Feed,
    /// Its tenant.
    pub tenant: Tenant,
    /// Which items it shows today.
    pub window: FeedWindow,
    /// Its current `ETag` (quoted).
    pub etag: String,
    /// Its current `Last-Modified`.
    pub last_modified: DateTime<Utc>,
}

/// When a URL was looked up, and what was found.
type Remembered<T> = (Instant, Arc<T>);

/// What was read about secret URLs (by the hash of their token), each kept for a short time: a
/// feed's validators here, an availability widget's in `crate::widget`.
#[derive(Debug)]
pub struct Recent<T> {
    ttl: Duration,
    map: Mutex<HashMap<Vec<u8>, Remembered<T>>>,
}

impl<T> Recent<T> {
    /// Entries live `ttl` (zero: nothing is kept).
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, map: Mutex::new(HashMap::new()) }
    }

    /// What is known about the URL with this token hash, if it is recent enough.
    pub fn known(&self, hash: &[u8]) -> Option<Arc<T>> {
        let map = self.map.lock().ok()?;
        map.get(hash).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, k)| k.clone())
    }

    /// Remembers what was just read about a URL.
    pub fn remember(&self, hash: Vec<u8>, known: T) -> Arc<T> {
        let known = Arc::new(known);
        if self.ttl.is_zero() {
            return known;
        }
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= MAX_VALIDATORS {
                let ttl = self.ttl;
                map.retain(|_, (at, _)| at.elapsed() < ttl);
            }
            map.insert(hash, (Instant::now(), known.clone()));
        }
        known
    }

    /// Forgets every URL whose entry matches `gone` (its object changed or was deleted).
    pub fn forget(&self, gone: impl Fn(&T) -> bool) {
        if let Ok(mut map) = self.map.lock() {
            map.retain(|_, (_, k)| !gone(k));
        }
    }
}

/// The caches of the feed endpoint.
#[derive(Debug)]
pub struct FeedCache {
    validators: Recent<Known>,
    bodies: Mutex<Bodies>,
}

#[derive(Debug, Default)]
struct Bodies {
    budget: usize,
    used: usize,
    by_feed: HashMap<Uuid, (String, Arc<[Bytes]>, usize)>,
    order: VecDeque<Uuid>,
}

impl FeedCache {
    /// Validators live `ttl`; rendered bodies share `budget` bytes.
    pub fn new(ttl: Duration, budget: usize) -> Self {
        let bodies = Bodies { budget, ..Bodies::default() };
        Self { validators: Recent::new(ttl), bodies: Mutex::new(bodies) }
    }

    /// What is known about the feed with this token hash, if it is recent enough.
    pub fn known(&self, hash: &[u8]) -> Option<Arc<Known>> {
        self.validators.known(hash)
    }

    /// Remembers what was just read about a feed URL.
    pub fn remember(&self, hash: Vec<u8>, known: Known) -> Arc<Known> {
        self.validators.remember(hash, known)
    }

    /// Forgets a feed whose URL changed or that was deleted (in this process at once; in other
    /// API processes within the validators' lifetime).
    pub fn forget(&self, feed_id: Uuid) {
        self.validators.forget(|k| k.feed.id == feed_id);
        if let Ok(mut bodies) = self.bodies.lock() {
            bodies.remove(feed_id);
        }
    }

    /// The stored body of this version of a feed.
    pub fn body(&self, feed_id: Uuid, etag: &str) -> Option<Arc<[Bytes]>> {
        let bodies = self.bodies.lock().ok()?;
        bodies.by_feed.get(&feed_id).filter(|(tag, _, _)| tag == etag).map(|(_, b, _)| b.clone())
    }

    /// Stores a rendered body, evicting the oldest ones beyond the budget. Bodies larger than a
    /// quarter of the budget are not stored.
    pub fn keep_body(&self, feed_id: Uuid, etag: String, chunks: Vec<Bytes>) {
        let size: usize = chunks.iter().map(Bytes::len).sum();
        let Ok(mut bodies) = self.bodies.lock() else { return };
        if size > bodies.budget / 4 {
            return;
        }
        bodies.remove(feed_id);
        while bodies.used + size > bodies.budget {
            let Some(oldest) = bodies.order.pop_front() else { break };
            bodies.remove(oldest);
        }
        bodies.used += size;
        bodies.order.push_back(feed_id);
        bodies.by_feed.insert(feed_id, (etag, chunks.into(), size));
    }
}

impl Bodies {
    fn remove(&mut self, feed_id: Uuid) {
        if let Some((_, _, size)) = self.by_feed.remove(&feed_id) {
            self.used -= size;
            self.order.retain(|id| *id != feed_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_beyond_the_budget_evict_the_oldest_and_a_new_version_replaces_the_old() {
        let cache = FeedCache::new(Duration::from_secs(2), 40);
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let chunk = || vec![Bytes::from_static(b"0123456789")];
        cache.keep_body(a, "v1".into(), chunk());
        cache.keep_body(b, "v1".into(), chunk());
        cache.keep_body(a, "v2".into(), chunk());
        assert!(cache.body(a, "v1").is_none(), "the old version is gone");
        assert!(cache.body(a, "v2").is_some());
        cache.keep_body(c, "v1".into(), chunk());
        cache.keep_body(Uuid::now_v7(), "v1".into(), chunk());
        assert!(cache.body(b, "v1").is_some(), "40 bytes fit the budget exactly");
        cache.keep_body(Uuid::now_v7(), "v1".into(), chunk());
        assert!(cache.body(b, "v1").is_none(), "the oldest body made room");
        assert!(cache.body(c, "v1").is_some());
        cache.keep_body(Uuid::now_v7(), "big".into(), vec![Bytes::from(vec![0u8; 11])]);
        assert!(cache.body(c, "v1").is_some(), "a body over a quarter of the budget is not kept");
    }
}
