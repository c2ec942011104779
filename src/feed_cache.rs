//! What the feed endpoint remembers between requests: the validators of recently asked feeds (for
//! a short time), the rendered bodies of recent feed versions and the rendered events of recent
//! feeds (each within a memory budget).
//!
//! Subscribers poll every few minutes to hours, so answering a revalidation from a copy at most
//! `validator_ttl` old never shows anyone stale data they would otherwise have seen; and OTAs that
//! re-download whole feeds without validators get a stored body instead of a fresh rendering
//! while the feed's version is unchanged. After a change, a feed's new body reuses the events
//! kept from its last rendering for every booking whose stamp (version and last change) is the
//! same, under the same context (the feed, the tenant's settings, the zone): only the changed
//! bookings are read whole and rendered again.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use kalends_core::domain::{Feed, Tenant};
use kalends_store::{FeedWindow, OwnerRules};
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
    /// For a resource's feed that exports the nights its rules close: the rules, and the
    /// resource's date when they were read (the notice and the window count from it).
    pub closing: Option<Closing>,
}

/// The rules a resource's feed exports, as of one day.
#[derive(Debug)]
pub struct Closing {
    /// The resource, its rules and its zone.
    pub owned: OwnerRules,
    /// The resource's date.
    pub today: NaiveDate,
}

/// When a URL was looked up, and what was found.
type Remembered<T> = (Instant, Arc<T>);

/// What was read about secret URLs (by the hash of their token), each kept for a short time: a
/// feed's validators here, an availability widget's in `crate::widget_lookup`.
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

/// One booking's `VEVENT` as a feed rendered it.
#[derive(Clone, Debug)]
pub struct RenderedEvent {
    /// The stamp of the row it was rendered from (`Store::feed_stamps`).
    pub stamp: Arc<str>,
    /// The `VEVENT`, CRLF-terminated.
    pub text: Arc<str>,
    /// The years (UTC) its span starts and ends in, for the head's `VTIMEZONE`.
    pub years: (i32, i32),
}

/// Bytes counted for each kept event besides its stamp and text: its map entry (id, two
/// pointers, the years, the table's spare room) and the two shared strings' headers.
pub const EVENT_OVERHEAD: usize = 128;

/// The rendered events of one feed, valid while its context is the same.
#[derive(Debug)]
pub struct FeedEvents {
    /// A digest of everything besides the booking that the feed's events show: the feed, the
    /// tenant's settings, the zone.
    pub context: [u8; 32],
    /// By booking id.
    pub events: HashMap<Uuid, RenderedEvent>,
}

impl FeedEvents {
    /// The memory the events take, as counted against the budget.
    fn size(&self) -> usize {
        let each = |e: &RenderedEvent| e.stamp.len() + e.text.len() + EVENT_OVERHEAD;
        self.events.values().map(each).sum()
    }
}

/// The caches of the feed endpoint.
#[derive(Debug)]
pub struct FeedCache {
    validators: Recent<Known>,
    bodies: Mutex<Budgeted<(String, Arc<[Bytes]>)>>,
    events: Mutex<Budgeted<Arc<FeedEvents>>>,
}

/// One value per feed within a memory budget; the least recently stored go first.
#[derive(Debug)]
struct Budgeted<T> {
    budget: usize,
    used: usize,
    by_feed: HashMap<Uuid, (T, usize)>,
    order: VecDeque<Uuid>,
}

impl FeedCache {
    /// Validators live `ttl`; rendered bodies share `budget` bytes, rendered events `events`.
    pub fn new(ttl: Duration, budget: usize, events: usize) -> Self {
        Self {
            validators: Recent::new(ttl),
            bodies: Mutex::new(Budgeted::new(budget)),
            events: Mutex::new(Budgeted::new(events)),
        }
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
        if let Ok(mut events) = self.events.lock() {
            events.remove(feed_id);
        }
    }

    /// The stored body of this version of a feed.
    pub fn body(&self, feed_id: Uuid, etag: &str) -> Option<Arc<[Bytes]>> {
        let bodies = self.bodies.lock().ok()?;
        let ((tag, body), _) = bodies.by_feed.get(&feed_id)?;
        (tag == etag).then(|| body.clone())
    }

    /// Stores a rendered body, evicting the oldest ones beyond the budget. Bodies larger than a
    /// quarter of the budget are not stored.
    pub fn keep_body(&self, feed_id: Uuid, etag: String, chunks: Vec<Bytes>) {
        let size: usize = chunks.iter().map(Bytes::len).sum();
        if let Ok(mut bodies) = self.bodies.lock() {
            bodies.keep(feed_id, (etag, chunks.into()), size);
        }
    }

    /// The events last rendered for a feed, if rendered under this context.
    pub fn events(&self, feed_id: Uuid, context: &[u8; 32]) -> Option<Arc<FeedEvents>> {
        let events = self.events.lock().ok()?;
        let (kept, _) = events.by_feed.get(&feed_id)?;
        (kept.context == *context).then(|| kept.clone())
    }

    /// Stores the events a feed was just rendered with (replacing its earlier ones), evicting the
    /// oldest feeds' beyond the budget. Those larger than a quarter of the budget are not kept.
    pub fn keep_events(&self, feed_id: Uuid, kept: FeedEvents) {
        let size = kept.size();
        if let Ok(mut events) = self.events.lock() {
            events.keep(feed_id, Arc::new(kept), size);
        }
    }
}

impl<T> Budgeted<T> {
    fn new(budget: usize) -> Self {
        Self { budget, used: 0, by_feed: HashMap::new(), order: VecDeque::new() }
    }

    /// Stores `value` of `size` bytes for a feed in place of its earlier one, evicting the
    /// oldest beyond the budget; a value over a quarter of the budget only drops the earlier one.
    fn keep(&mut self, feed_id: Uuid, value: T, size: usize) {
        self.remove(feed_id);
        if size > self.budget / 4 {
            return;
        }
        while self.used + size > self.budget {
            let Some(oldest) = self.order.pop_front() else { break };
            self.remove(oldest);
        }
        self.used += size;
        self.order.push_back(feed_id);
        self.by_feed.insert(feed_id, (value, size));
    }

    fn remove(&mut self, feed_id: Uuid) {
        if let Some((_, size)) = self.by_feed.remove(&feed_id) {
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
        let cache = FeedCache::new(Duration::from_secs(2), 40, 0);
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
