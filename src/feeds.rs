//! `GET /ical/{token}.ics`: the public, secret-URL feeds that Airbnb, Booking.com, VRBO, Google
//! Calendar, Outlook and phones subscribe to.
//!
//! A subscriber polls the same URL for years, so the answer is built for revalidation: the
//! `ETag` and `Last-Modified` come from one aggregate query (counts and latest changes), and a
//! matching `If-None-Match` / `If-Modified-Since` answers 304 without rendering anything. A full
//! answer is streamed page by page, so a feed of 10,000 bookings never sits in memory whole.

use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use chrono::{DateTime, Datelike as _, Duration, NaiveTime, Utc};
use kalends_core::domain::{
    Block, Booking, BookingSpan, BookingStatus, Feed, FeedProfile, Owner, Tenant,
};
use kalends_core::ical::Span;
use kalends_core::ical::write::{
    CalendarHead, EventOut, EventStatus, Method, write_event, write_head, write_tail,
};
use kalends_core::store::{BookingFilter, FeedStamp, FeedWindow, ImportedItem};
use kalends_core::{Store, StoreError, conflicts, tokens};
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;

use crate::api::AppState;
use crate::api::error::ApiError;

/// Rows read and rendered per chunk.
const PAGE: u32 = 500;

/// The public feed route.
pub fn router() -> Router<AppState> {
    Router::new().route("/ical/{file}", get(serve))
}

#[tracing::instrument(skip_all)]
async fn serve(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = file.strip_suffix(".ics").unwrap_or(&file);
    if token.len() != 43
        || !token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::not_found());
    }
    let feed = state
        .store
        .feed_by_token_hash(&tokens::token_hash(token))
        .await?
        .ok_or_else(ApiError::not_found)?;
    let tenant = state.store.tenant(feed.tenant_id).await?;
    let window = window(&tenant, &state, Utc::now());
    let stamp = state.store.feed_stamp(&feed, &window).await?;
    let validators = Validators::new(&feed, &tenant, &window, &stamp);
    let mut common = HeaderMap::new();
    validators.write(&mut common, state.config.feeds.cache_max_age_secs);
    if validators.fresh(&headers) {
        return Ok((StatusCode::NOT_MODIFIED, common).into_response());
    }
    common.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/calendar; charset=utf-8"));
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(4);
    let render = Render { store: state.store.clone(), feed, tenant, window, stamp };
    tokio::spawn(async move {
        if let Err(e) = render.run(&tx).await {
            // The status line is gone already; a truncated body (no END:VCALENDAR) is what
            // subscribers treat as a failed fetch, and they keep what they had.
            tracing::error!(error = %e, "rendering a feed failed midway");
        }
    });
    let body = Body::from_stream(tokio_stream_from(rx));
    Ok((StatusCode::OK, common, body).into_response())
}

fn tokio_stream_from(
    mut rx: mpsc::Receiver<Result<Bytes, Infallible>>,
) -> impl futures::Stream<Item = Result<Bytes, Infallible>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Today's window: cut-offs move once a day, so the feed only changes at midnight (UTC) or when
/// its data does.
fn window(tenant: &Tenant, state: &AppState, now: DateTime<Utc>) -> FeedWindow {
    let midnight = now.date_naive().and_time(NaiveTime::MIN).and_utc();
    let retention = i64::from(tenant.settings.cancelled_retention_days);
    FeedWindow {
        past_cutoff: midnight - Duration::days(i64::from(state.config.feeds.past_days)),
        cancelled_since: midnight - Duration::days(retention),
    }
}

/// `ETag` and `Last-Modified` of a feed's current content.
struct Validators {
    etag: String,
    last_modified: DateTime<Utc>,
}

impl Validators {
    fn new(feed: &Feed, tenant: &Tenant, window: &FeedWindow, stamp: &FeedStamp) -> Self {
        let mut hash = Sha256::new();
        hash.update(feed.id.as_bytes());
        hash.update(feed.updated_at.to_rfc3339().as_bytes());
        // The busy label, privacy and zone live in the settings and change the body too.
        hash.update(serde_json::to_vec(&tenant.settings).unwrap_or_default());
        for t in [
            Some(window.past_cutoff),
            Some(window.cancelled_since),
            stamp.latest,
            stamp.first,
            stamp.last,
        ] {
            hash.update(t.map(|t| t.timestamp_micros()).unwrap_or(0).to_le_bytes());
        }
        hash.update(stamp.items.to_le_bytes());
        let digest = hash.finalize();
        let etag = format!("\"{}\"", hex(&digest[..16]));
        let last_modified = stamp.latest.map_or(feed.updated_at, |l| l.max(feed.updated_at));
        Self { etag, last_modified }
    }

    fn write(&self, headers: &mut HeaderMap, max_age: u32) {
        let http_date = self.last_modified.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let pairs = [
            (header::ETAG, self.etag.clone()),
            (header::LAST_MODIFIED, http_date),
            (header::CACHE_CONTROL, format!("private, max-age={max_age}, must-revalidate")),
        ];
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
    }

    /// Whether the subscriber's copy is current (RFC 9110 §13.1: `If-None-Match` wins).
    fn fresh(&self, request: &HeaderMap) -> bool {
        if let Some(tags) = request.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
            return tags
                .split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == self.etag || t == "*");
        }
        let since = request.get(header::IF_MODIFIED_SINCE).and_then(|v| v.to_str().ok());
        since
            .and_then(|s| DateTime::parse_from_rfc2822(s).ok())
            .is_some_and(|since| self.last_modified.timestamp() <= since.timestamp())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Renders one feed into the channel, a page at a time.
struct Render {
    store: Store,
    feed: Feed,
    tenant: Tenant,
    window: FeedWindow,
    stamp: FeedStamp,
}

impl Render {
    async fn run(&self, tx: &mpsc::Sender<Result<Bytes, Infallible>>) -> Result<(), StoreError> {
        let zone = self.zone().await?;
        let first = self.stamp.first.map_or(Utc::now().year(), |t| t.year());
        let last = self.stamp.last.map_or(first, |t| t.year()).max(first);
        let mut out = String::with_capacity(64 * 1024);
        write_head(
            &mut out,
            &CalendarHead {
                method: Method::Publish,
                name: &self.feed.data.name,
                zone,
                zones: &[zone],
                years: first..=last,
                refresh: Some(chrono::TimeDelta::hours(1)),
            },
        );
        let mut after = None;
        loop {
            let page =
                self.store.list_bookings(self.feed.tenant_id, &self.booking_filter(after)).await?;
            for booking in &page.items {
                self.booking(&mut out, booking, zone);
            }
            if !send(tx, &mut out).await {
                return Ok(());
            }
            match page.next_cursor {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        self.blocks(tx, &mut out, zone).await?;
        self.imported(tx, &mut out, zone).await?;
        write_tail(&mut out);
        send(tx, &mut out).await;
        Ok(())
    }

    async fn zone(&self) -> Result<chrono_tz::Tz, StoreError> {
        Ok(match self.feed.data.scope.owner() {
            Some(owner) => self.store.owner_zone(&self.tenant, owner).await?.tz(),
            None => self.tenant.settings.time_zone.tz(),
        })
    }

    fn booking_filter(&self, after: Option<uuid::Uuid>) -> BookingFilter {
        let (resource_id, staff_id) =
            self.feed.data.scope.owner().map_or((None, None), Owner::columns);
        BookingFilter {
            from: Some(self.window.past_cutoff),
            resource_id,
            staff_id,
            after,
            cancelled_since: Some(self.window.cancelled_since),
            exclude_tentative: !self.feed.data.include_tentative,
            limit: PAGE,
            ..BookingFilter::default()
        }
    }

    fn busy(&self) -> bool {
        self.feed.data.profile == FeedProfile::Busy
    }

    fn booking(&self, out: &mut String, b: &Booking, zone: chrono_tz::Tz) {
        let span = span_of(&b.data.span);
        let uid = format!("{}@kalends", b.id);
        let status = match (b.data.status, self.busy()) {
            (BookingStatus::Cancelled, _) => EventStatus::Cancelled,
            (BookingStatus::Tentative, false) => EventStatus::Tentative,
            _ => EventStatus::Confirmed,
        };
        let details = (!self.busy()).then(|| booking_details(b));
        let summary = if self.busy() { &self.tenant.settings.busy_label } else { &b.data.title };
        write_event(
            out,
            &EventOut {
                uid: &uid,
                span: &span,
                zone: Some(zone),
                summary,
                description: details.as_deref().filter(|d| !d.is_empty()),
                location: if self.busy() { None } else { b.data.location.as_deref() },
                status,
                sequence: b.version,
                created: b.created_at,
                last_modified: b.updated_at,
                dtstamp: b.updated_at,
                transparent: false,
                url: None,
                organizer: None,
                attendees: &[],
                categories: &[],
            },
        );
    }

    async fn blocks(
        &self,
        tx: &mpsc::Sender<Result<Bytes, Infallible>>,
        out: &mut String,
        zone: chrono_tz::Tz,
    ) -> Result<(), StoreError> {
        let (resource_id, staff_id) =
            self.feed.data.scope.owner().map_or((None, None), Owner::columns);
        let mut after = None;
        loop {
            let page = self
                .store
                .list_blocks(self.feed.tenant_id, resource_id, staff_id, after, PAGE)
                .await?;
            for block in &page.items {
                self.block(out, block, zone);
            }
            if !send(tx, out).await {
                return Ok(());
            }
            match page.next_cursor {
                Some(next) => after = Some(next),
                None => return Ok(()),
            }
        }
    }

    fn block(&self, out: &mut String, block: &Block, zone: chrono_tz::Tz) {
        let span = span_of(&block.data.span);
        let uid = format!("block-{}@kalends", block.id);
        let summary = match (self.busy(), block.data.reason.as_deref()) {
            (false, Some(reason)) if !reason.is_empty() => reason,
            _ => &self.tenant.settings.busy_label,
        };
        write_event(
            out,
            &plain_event(&uid, &span, zone, summary, block.created_at, block.created_at),
        );
    }

    async fn imported(
        &self,
        tx: &mpsc::Sender<Result<Bytes, Infallible>>,
        out: &mut String,
        zone: chrono_tz::Tz,
    ) -> Result<(), StoreError> {
        let owner = self.feed.data.scope.owner();
        let mut after = None;
        loop {
            let page = self
                .store
                .list_imported_items(
                    self.feed.tenant_id,
                    owner,
                    self.feed.data.platform,
                    self.window.past_cutoff,
                    after,
                    PAGE,
                )
                .await?;
            for item in &page.items {
                self.imported_item(out, item, zone);
            }
            if !send(tx, out).await {
                return Ok(());
            }
            match page.next_cursor {
                Some(next) => after = Some(next),
                None => return Ok(()),
            }
        }
    }

    fn imported_item(&self, out: &mut String, item: &ImportedItem, zone: chrono_tz::Tz) {
        let uid = format!("import-{}@kalends", item.id);
        let summary = if self.busy() {
            self.tenant.settings.busy_label.clone()
        } else {
            conflicts::imported_label(item.platform, item.summary.as_deref())
        };
        write_event(
            out,
            &plain_event(&uid, &item.span, zone, &summary, item.updated_at, item.updated_at),
        );
    }
}

/// A busy event that is neither a booking nor personal: blocks and imported items.
fn plain_event<'a>(
    uid: &'a str,
    span: &'a Span,
    zone: chrono_tz::Tz,
    summary: &'a str,
    created: DateTime<Utc>,
    changed: DateTime<Utc>,
) -> EventOut<'a> {
    EventOut {
        uid,
        span,
        zone: Some(zone),
        summary,
        description: None,
        location: None,
        status: EventStatus::Confirmed,
        sequence: 0,
        created,
        last_modified: changed,
        dtstamp: changed,
        transparent: false,
        url: None,
        organizer: None,
        attendees: &[],
        categories: &[],
    }
}

/// The `details` profile's description: the booking's own text, then who the guest is.
fn booking_details(b: &Booking) -> String {
    let mut lines: Vec<String> = b.data.description.iter().cloned().collect();
    if let Some(c) = &b.data.customer {
        lines.push(format!("Guest: {}", c.name));
        if let Some(email) = &c.email {
            lines.push(format!("Email: {}", email.as_str()));
        }
        if let Some(phone) = &c.phone {
            lines.push(format!("Phone: {phone}"));
        }
    }
    lines.join("\n")
}

fn span_of(span: &BookingSpan) -> Span {
    match *span {
        BookingSpan::Timed { start, end, .. } => Span::Timed { start, end },
        BookingSpan::AllDay { start, end } => Span::AllDay { start, end },
    }
}

/// Sends what was rendered so far; `false` when the subscriber went away.
async fn send(tx: &mpsc::Sender<Result<Bytes, Infallible>>, out: &mut String) -> bool {
    if out.is_empty() {
        return true;
    }
    let chunk = Bytes::from(std::mem::take(out).into_bytes());
    tx.send(Ok(chunk)).await.is_ok()
}
