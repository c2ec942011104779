//! `GET /ical/{token}.ics`: the public, secret-URL feeds that Airbnb, Booking.com, VRBO, Google
//! Calendar, Outlook and phones subscribe to.
//!
//! A subscriber polls the same URL for years, so the answer is built for revalidation: the
//! `ETag` and `Last-Modified` come from one aggregate query (counts and latest changes), and a
//! matching `If-None-Match` / `If-Modified-Since` answers 304 without rendering anything. A full
//! answer reads the bookings in one query (only the columns the feed shows) and renders them in
//! 64 KiB chunks; the body is sent once rendered whole (a rendering that fails is a 500, never a
//! calendar cut short), and kept by the body cache.
//! The rendered events are kept too: the next rendering of the feed (after a change) lists its
//! bookings' ids and stamps as one aggregated value, reads and renders only the bookings whose
//! stamp changed, and splices the kept events of the others.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use chrono::{DateTime, Datelike as _, Days, Duration, NaiveTime, Utc};
use kalends_core::availability::{RulesDraft, closed_runs};
use kalends_core::calendar_item::{Audience, CalendarItem};
use kalends_core::domain::{Block, Feed, Owner, Tenant, TimeZone, local_midnight};
use kalends_core::imports::ImportedItem;
use kalends_core::tokens;
use kalends_ical::write::{CalendarHead, Method, write_event, write_head, write_tail};
use kalends_service::availability;
use kalends_store::{Echoes, FeedBooking, FeedWindow};
use kalends_store::{Store, StoreError};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::api::error::ApiError;
use crate::client_addr::ClientAddr;
use crate::feed_cache::{Closing, FeedCache, FeedEvents, Known, RenderedEvent};
use crate::public_http::{fresh, hex, write_validators};
use crate::state::AppState;

/// How far ahead a resource's feed shows the nights its rules close, in days: booking platforms
/// open their calendars up to two years ahead.
const CLOSED_HORIZON_DAYS: u64 = 730;

/// Rows read and rendered per chunk.
const PAGE: u32 = 500;

/// Bookings changed since a feed's last rendering beyond which it is rendered whole again: the
/// changed ones are read by id, one bound parameter each.
const MAX_CHANGED: usize = 500;

/// The public feed route.
pub fn router() -> Router<AppState> {
    Router::new().route("/ical/{file}", get(serve))
}

#[tracing::instrument(skip_all)]
async fn serve(
    State(state): State<AppState>,
    Path(file): Path<String>,
    client: ClientAddr,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = file.strip_suffix(".ics").unwrap_or(&file);
    let well_formed = token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if token.len() != 43 || !well_formed {
        return Err(ApiError::not_found());
    }
    let hash = tokens::token_hash(token);
    if let Err(wait) = state.feed_limiter.check(&hash, client) {
        return Err(ApiError::rate_limited(wait, "this feed is polled too often; slow down"));
    }
    let known = match state.feed_cache.known(&hash) {
        Some(known) => known,
        None => state.feed_cache.remember(hash.clone(), look_up(&state, &hash).await?),
    };
    let mut common = HeaderMap::new();
    let max_age = state.config.feeds.cache_max_age_secs;
    let cache_control = format!("private, max-age={max_age}, must-revalidate");
    write_validators(&known.etag, known.last_modified, &cache_control, &mut common);
    if fresh(&known.etag, known.last_modified, &headers) {
        return Ok((StatusCode::NOT_MODIFIED, common).into_response());
    }
    common.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/calendar; charset=utf-8"));
    if let Some(chunks) = state.feed_cache.body(known.feed.id, &known.etag) {
        let stream = futures::stream::iter(
            (0..chunks.len()).map(move |i| Ok::<_, Infallible>(chunks[i].clone())),
        );
        return Ok((StatusCode::OK, common, Body::from_stream(stream)).into_response());
    }
    // Rendered whole before the status line: a feed that fails to render answers an error,
    // which subscribers treat as a failed fetch (they keep what they had), never a calendar
    // cut short under the validators, which a platform would read as every night open and
    // then revalidate as unchanged. Spawned, so that a subscriber hanging up does not waste
    // the rendering: the body cache keeps it for the next one.
    let (cache, store) = (state.feed_cache.clone(), state.store.clone());
    let rendered = tokio::spawn(async move {
        let render = Render { store, cache: cache.clone(), known: known.clone() };
        let chunks = render.run().await?;
        cache.keep_body(known.feed.id, known.etag.clone(), chunks.clone());
        Ok::<_, StoreError>(chunks)
    });
    let chunks = match rendered.await {
        Ok(Ok(chunks)) => chunks,
        Ok(Err(e)) => return Err(ApiError::internal(e)),
        Err(e) => return Err(ApiError::internal(e)),
    };
    let stream = futures::stream::iter(chunks.into_iter().map(Ok::<_, Infallible>));
    Ok((StatusCode::OK, common, Body::from_stream(stream)).into_response())
}

/// Reads a feed and its validators from the store (404 for an unknown or rotated token).
async fn look_up(state: &AppState, hash: &[u8]) -> Result<Known, ApiError> {
    let (feed, version, changed_at) =
        state.store.feed_lookup(hash).await?.ok_or_else(ApiError::not_found)?;
    let tenant = state.store.tenant(feed.tenant_id).await?;
    let now = Utc::now();
    let window = window(&feed, &tenant, state, now);
    let mut digest = Sha256::new();
    digest.update(feed.id.as_bytes());
    digest.update(feed.updated_at.timestamp_micros().to_le_bytes());
    // The busy label, privacy and zone live in the settings and change the body too.
    digest.update(serde_json::to_vec(&tenant.settings).unwrap_or_default());
    digest.update(version.to_le_bytes());
    for t in [window.past_cutoff, window.cancelled_since] {
        digest.update(t.timestamp().to_le_bytes());
    }
    let closing = closing(state, &feed, &tenant).await?;
    if let Some(closing) = &closing {
        digest.update(closing_digest(closing));
    }
    let etag = format!("\"{}\"", hex(&digest.finalize()[..16]));
    let changed = changed_at.map_or(feed.updated_at, |c| c.max(feed.updated_at));
    let last_modified = last_modified(changed, closing.as_ref(), utc_midnight(now));
    Ok(Known { feed, tenant, window, etag, last_modified, closing })
}

/// When a feed last changed: its data's last change; no earlier than when its window last moved
/// (`moved_at`, the last UTC midnight: past items and cancellations kept leave it then); and for
/// a feed closing nights no earlier than the resource's last midnight, when the notice and the
/// window moved. A client that revalidates by date alone (`If-Modified-Since`) then gets what
/// changed, not a 304.
fn last_modified(
    changed: DateTime<Utc>,
    closing: Option<&Closing>,
    moved_at: DateTime<Utc>,
) -> DateTime<Utc> {
    let changed = changed.max(moved_at);
    closing
        .map_or(changed, |Closing { owned, today }| changed.max(local_midnight(*today, owned.zone)))
}

/// What the closed nights of a feed depend on: the rules, and the resource's date (the notice
/// and the window count from it), which turns at the resource's midnight, not at UTC's.
fn closing_digest(Closing { owned, today }: &Closing) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update(serde_json::to_vec(&RulesDraft::from(&owned.rules)).unwrap_or_default());
    digest.update(today.to_string());
    digest.finalize().into()
}

/// The rules a resource's feed exports with the resource's date now; none for other feeds and
/// for resources whose rules are not exported.
async fn closing(
    state: &AppState,
    feed: &Feed,
    tenant: &Tenant,
) -> Result<Option<Closing>, StoreError> {
    let Some(owner @ Owner::Resource(_)) = feed.data.scope.owner() else { return Ok(None) };
    let owned = state.store.owner_rules(tenant, owner).await?;
    let today = owned.today(Utc::now());
    Ok(owned.rules.export_to_feeds().then_some(Closing { owned, today }))
}

/// The last UTC midnight: when a feed's window last moved.
fn utc_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    now.date_naive().and_time(NaiveTime::MIN).and_utc()
}

/// Today's window: cut-offs move once a day, so the feed only changes at midnight (UTC) or when
/// its data does.
/// A feed made for a platform keeps no cancelled booking: platforms read every event of an
/// imported calendar as closed nights, whatever its `STATUS`, and learn of a cancellation by
/// the event leaving.
fn window(feed: &Feed, tenant: &Tenant, state: &AppState, now: DateTime<Utc>) -> FeedWindow {
    let midnight = utc_midnight(now);
    let retention = match feed.data.platform {
        Some(_) => -1, // from tomorrow on: none
        None => i64::from(tenant.settings.cancelled_retention_days),
    };
    FeedWindow {
        past_cutoff: midnight - Duration::days(i64::from(state.config.feeds.past_days)),
        cancelled_since: midnight - Duration::days(retention),
    }
}

/// Renders one feed.
struct Render {
    store: Store,
    cache: Arc<FeedCache>,
    known: Arc<Known>,
}

/// The events of a feed as they are rendered, in chunks, with the years they cover.
struct Events {
    chunks: Vec<Bytes>,
    out: String,
    years: Option<(i32, i32)>,
}

impl Events {
    fn new() -> Self {
        Events { chunks: Vec::new(), out: String::with_capacity(CHUNK + 4096), years: None }
    }

    /// Counts an item's span (UTC) into the years the `VTIMEZONE` covers.
    fn covers(&mut self, start: DateTime<Utc>, end: DateTime<Utc>) {
        self.covers_years(start.year(), end.year());
    }

    fn covers_years(&mut self, first: i32, last: i32) {
        self.years = Some(match self.years {
            Some((a, b)) => (a.min(first), b.max(last)),
            None => (first, last),
        });
    }

    /// Appends a booking's rendered event.
    fn push(&mut self, event: &RenderedEvent) {
        self.out.push_str(&event.text);
        self.covers_years(event.years.0, event.years.1);
        self.flush_if_full();
    }

    /// Closes a chunk once it is big enough.
    fn flush_if_full(&mut self) {
        if self.out.len() >= CHUNK {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.out.is_empty() {
            let full = std::mem::replace(&mut self.out, String::with_capacity(CHUNK + 4096));
            self.chunks.push(Bytes::from(full.into_bytes()));
        }
    }
}

/// Where a span starts and ends (all-day items: midnight UTC), for the years a feed covers.
fn instants(span: &kalends_ical::Span) -> (DateTime<Utc>, DateTime<Utc>) {
    match *span {
        kalends_ical::Span::AllDay { start, end } => {
            (start.and_time(NaiveTime::MIN).and_utc(), end.and_time(NaiveTime::MIN).and_utc())
        }
        kalends_ical::Span::Timed { start, end } => (start, end),
    }
}

/// Bytes of rendered events per chunk.
const CHUNK: usize = 64 * 1024;

impl Render {
    /// Renders the feed whole, in chunks. The events are rendered first, so that the head's
    /// `VTIMEZONE` covers the years they span without a query of its own; then the head goes
    /// before them and the tail after.
    async fn run(&self) -> Result<Vec<Bytes>, StoreError> {
        let zone = self.zone().await?;
        let mut events = Events::new();
        self.bookings(&mut events, zone).await?;
        self.blocks(&mut events, zone).await?;
        self.imported(&mut events, zone).await?;
        self.closed(&mut events).await?;
        events.flush();
        let this_year = Utc::now().year();
        let (first, last) = events.years.unwrap_or((this_year, this_year));
        let mut head = String::with_capacity(16 * 1024);
        write_head(
            &mut head,
            &CalendarHead {
                method: Method::Publish,
                name: &self.known.feed.data.name,
                zone: zone.tz(),
                zones: &[zone.tz()],
                years: first..=last.max(first),
                refresh: Some(chrono::TimeDelta::hours(1)),
            },
        );
        let mut tail = String::new();
        write_tail(&mut tail);
        let chunks = std::iter::once(Bytes::from(head.into_bytes()))
            .chain(events.chunks)
            .chain(std::iter::once(Bytes::from(tail.into_bytes())));
        Ok(chunks.filter(|chunk| !chunk.is_empty()).collect())
    }

    /// Renders the bookings, reusing the events kept from the feed's last rendering under the
    /// same context for every booking whose stamp is unchanged (all of them read and rendered
    /// when none are kept, or when more than [`MAX_CHANGED`] changed), and keeps the new ones.
    async fn bookings(&self, events: &mut Events, zone: TimeZone) -> Result<(), StoreError> {
        let (feed, window) = (&self.known.feed, &self.known.window);
        let context = self.context(zone);
        let audience = Audience::Feed(feed.data.profile, &self.known.tenant.settings);
        let render = |b: &FeedBooking| {
            let item = CalendarItem::from_booking(&b.booking, zone, audience);
            let mut text = String::with_capacity(512);
            write_event(&mut text, &item.event(Some(zone.tz())));
            let years = (b.span.0.year(), b.span.1.year());
            RenderedEvent { stamp: b.stamp.as_str().into(), text: text.into(), years }
        };
        let mut kept = HashMap::new();
        if let Some(previous) = self.cache.events(feed.id, &context) {
            let stamps = self.store.feed_stamps(feed, window).await?;
            let listed = stamps.entries()?;
            let unchanged = |id: &Uuid, stamp: &str| {
                previous.events.get(id).filter(|e| &*e.stamp == stamp).cloned()
            };
            let changed: Vec<Uuid> = listed
                .iter()
                .filter(|(id, stamp)| unchanged(id, stamp).is_none())
                .map(|(id, _)| *id)
                .collect();
            if changed.len() <= MAX_CHANGED {
                let mut fresh = HashMap::with_capacity(changed.len());
                self.store
                    .feed_bookings(feed, window, Some(&changed), |b| {
                        fresh.insert(b.booking.id, render(&b));
                    })
                    .await?;
                // A changed booking that is no longer shown (changed again since the listing)
                // is left out, as a rendering a moment later would.
                for (id, stamp) in listed {
                    if let Some(event) = fresh.remove(&id).or_else(|| unchanged(&id, stamp)) {
                        events.push(&event);
                        kept.insert(id, event);
                    }
                }
                self.cache.keep_events(feed.id, FeedEvents { context, events: kept });
                return Ok(());
            }
        }
        self.store
            .feed_bookings(feed, window, None, |b| {
                let event = render(&b);
                events.push(&event);
                kept.insert(b.booking.id, event);
            })
            .await?;
        self.cache.keep_events(feed.id, FeedEvents { context, events: kept });
        Ok(())
    }

    /// A digest of what the feed's events show besides the bookings themselves: the feed (its
    /// profile; any edit changes its `updated_at`), the tenant's settings (busy label, privacy)
    /// and the zone timed events are written in.
    fn context(&self, zone: TimeZone) -> [u8; 32] {
        let feed = &self.known.feed;
        let mut digest = Sha256::new();
        digest.update(feed.id.as_bytes());
        digest.update(feed.updated_at.timestamp_micros().to_le_bytes());
        digest.update(feed.data.profile.as_str());
        digest.update(serde_json::to_vec(&self.known.tenant.settings).unwrap_or_default());
        digest.update(zone.tz().name());
        digest.finalize().into()
    }

    async fn zone(&self) -> Result<TimeZone, StoreError> {
        Ok(match self.known.feed.data.scope.owner() {
            Some(owner) => self.store.owner_zone(&self.known.tenant, owner).await?,
            None => self.known.tenant.settings.time_zone,
        })
    }

    /// Whose blocks and imported items the feed shows: its owner's (everyone's for the tenant's
    /// feed) and, for a resource, its house's and its rooms' too: a room sold whole with its
    /// house on one platform is closed on the others as well.
    async fn owners(&self) -> Result<Vec<Option<Owner>>, StoreError> {
        Ok(match self.known.feed.data.scope.owner() {
            Some(Owner::Resource(id)) => {
                let family = self.store.families(self.known.feed.tenant_id, &[id]).await?;
                family.into_iter().map(|id| Some(Owner::Resource(id))).collect()
            }
            owner => vec![owner],
        })
    }

    /// Renders the blocks.
    async fn blocks(&self, events: &mut Events, zone: TimeZone) -> Result<(), StoreError> {
        for owner in self.owners().await? {
            let (resource_id, staff_id) = owner.map_or((None, None), Owner::columns);
            let mut after = None;
            loop {
                let page = self
                    .store
                    .list_blocks(self.known.feed.tenant_id, resource_id, staff_id, after, PAGE)
                    .await?;
                for block in &page.items {
                    // A block that ended before the cut-off leaves, as bookings and imports do.
                    if let Some((start, end)) = self.block(&mut events.out, block, zone) {
                        events.covers(start, end);
                        events.flush_if_full();
                    }
                }
                match page.next_cursor {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
        Ok(())
    }

    /// Writes a block unless it ended before the feed's cut-off; the instants it covers.
    fn block(
        &self,
        out: &mut String,
        block: &Block,
        zone: TimeZone,
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let (profile, settings) = (self.known.feed.data.profile, &self.known.tenant.settings);
        let item = CalendarItem::from_block(block, zone, profile, settings);
        let (start, end) = instants(&item.span);
        if end <= self.known.window.past_cutoff {
            return None;
        }
        write_event(out, &item.event(Some(zone.tz())));
        Some((start, end))
    }

    /// Renders the imported items.
    async fn imported(&self, events: &mut Events, zone: TimeZone) -> Result<(), StoreError> {
        let own = self.known.feed.data.scope.owner();
        for owner in self.owners().await? {
            let exclude = (self.known.feed.data.platform)
                .map(|platform| Echoes { platform, all: owner == own });
            let mut after = None;
            loop {
                let page = self
                    .store
                    .list_imported_items(
                        self.known.feed.tenant_id,
                        owner,
                        exclude,
                        self.known.window.past_cutoff,
                        after,
                        PAGE,
                    )
                    .await?;
                for item in &page.items {
                    let span = self.imported_item(&mut events.out, item, zone);
                    events.covers(span.0, span.1);
                    events.flush_if_full();
                }
                match page.next_cursor {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
        Ok(())
    }

    /// Renders the nights the resource's rules close, when its feed exports them: from the
    /// resource's today to [`CLOSED_HORIZON_DAYS`] ahead, one all-day event per run of one
    /// reason. Stamped with the start of that day, so that an event changes only with its run.
    async fn closed(&self, events: &mut Events) -> Result<(), StoreError> {
        let Some(Closing { owned, today }) = &self.known.closing else { return Ok(()) };
        let reach = (*today, *today + Days::new(CLOSED_HORIZON_DAYS));
        let tenant = &self.known.tenant;
        let platform = self.known.feed.data.platform;
        let nights =
            availability::stays_for_feed(&self.store, tenant, owned, *today, reach, platform)
                .await?;
        let at = local_midnight(*today, owned.zone);
        for run in closed_runs(&nights) {
            let item = CalendarItem::from_closed(owned.owner.id(), &run, owned.zone, at);
            write_event(&mut events.out, &item.event(Some(owned.zone.tz())));
            let (start, end) = instants(&item.span);
            events.covers(start, end);
            events.flush_if_full();
        }
        Ok(())
    }

    /// Writes an imported item; the instants it covers.
    fn imported_item(
        &self,
        out: &mut String,
        item: &ImportedItem,
        zone: TimeZone,
    ) -> (DateTime<Utc>, DateTime<Utc>) {
        let (profile, settings) = (self.known.feed.data.profile, &self.known.tenant.settings);
        let item = CalendarItem::from_imported(item, zone, profile, settings);
        write_event(out, &item.event(Some(zone.tz())));
        instants(&item.span)
    }
}

#[cfg(test)]
mod tests {
    use kalends_core::availability::{Rules, RulesDraft};
    use kalends_core::domain::{Owner, TimeZone};
    use kalends_store::OwnerRules;

    use chrono::{DateTime, Utc};

    use super::{Closing, closing_digest, last_modified, utc_midnight};

    fn closing(today: &str, rules: serde_json::Value) -> Closing {
        let draft: RulesDraft = serde_json::from_value(rules).unwrap();
        let owned = OwnerRules {
            owner: Owner::Resource(uuid::Uuid::nil()),
            rules: Rules::try_from(draft).unwrap(),
            zone: "UTC".parse::<TimeZone>().unwrap(),
        };
        Closing { owned, today: today.parse().unwrap() }
    }

    #[test]
    fn a_feed_closing_nights_is_modified_no_earlier_than_the_resources_last_midnight() {
        let rules = serde_json::json!({"min_notice_days": 2, "export_to_feeds": true});
        let today = closing("2030-03-04", rules);
        let yesterday: DateTime<Utc> = "2030-03-03T10:00:00Z".parse().unwrap();
        let midnight: DateTime<Utc> = "2030-03-04T00:00:00Z".parse().unwrap();
        // In a zone ahead of UTC the resource's day turns first.
        let window_moved: DateTime<Utc> = "2030-03-03T00:00:00Z".parse().unwrap();
        assert_eq!(
            last_modified(yesterday, Some(&today), window_moved),
            midnight,
            "the notice moved at midnight"
        );
        let later: DateTime<Utc> = "2030-03-04T09:00:00Z".parse().unwrap();
        assert_eq!(last_modified(later, Some(&today), midnight), later);
    }

    #[test]
    fn a_feed_unchanged_since_yesterday_is_modified_at_midnight_when_its_window_moved() {
        let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
        let midnight = utc_midnight(at("2030-03-02T09:00:00Z"));
        assert_eq!(midnight, at("2030-03-02T00:00:00Z"));
        // A cancellation whose retention ended at midnight left the feed then.
        let changed = at("2030-03-01T10:00:00Z");
        assert_eq!(last_modified(changed, None, midnight), midnight);
        let today = at("2030-03-02T08:00:00Z");
        assert_eq!(last_modified(today, None, midnight), today, "a change today is later");
    }

    #[test]
    fn a_feed_closing_nights_changes_its_etag_with_the_day_and_with_the_rules() {
        let rules = serde_json::json!({"min_notice_days": 2, "export_to_feeds": true});
        let monday = closing_digest(&closing("2030-03-04", rules.clone()));
        assert_eq!(monday, closing_digest(&closing("2030-03-04", rules.clone())));
        assert_ne!(monday, closing_digest(&closing("2030-03-05", rules)), "the notice moved");
        let longer = serde_json::json!({"min_notice_days": 3, "export_to_feeds": true});
        assert_ne!(monday, closing_digest(&closing("2030-03-04", longer)));
    }
}
