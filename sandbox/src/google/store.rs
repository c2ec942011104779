//! What the emulated Google holds: calendars, their events as stored JSON, change sequences,
//! sync points, page cursors and push channels.

use std::collections::{BTreeMap, HashMap};

use axum::http::StatusCode;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::{ApiError, times};
use crate::Account;

/// Calendars and events of every Google account.
#[derive(Debug, Default)]
pub(crate) struct Data {
    /// By calendar id.
    pub(super) calendars: BTreeMap<String, Calendar>,
    /// Sync token -> (calendar id, change sequence it was issued at).
    pub(super) sync_tokens: HashMap<String, (String, u64)>,
    /// Page token -> what is left of a listing.
    pub(super) pages: HashMap<String, Page>,
    /// By channel id.
    pub(super) channels: BTreeMap<String, Channel>,
    /// Delivers push notifications.
    pub(super) http: reqwest::Client,
}

/// One calendar and its events.
#[derive(Debug)]
pub(super) struct Calendar {
    pub(super) id: String,
    /// The account that sees it.
    pub(super) owner: String,
    pub(super) summary: String,
    /// `owner`, `writer` or `reader`.
    pub(super) access_role: &'static str,
    pub(super) primary: bool,
    pub(super) time_zone: &'static str,
    /// The last change's sequence number (monotonic per calendar).
    pub(super) seq: u64,
    pub(super) events: BTreeMap<String, Stored>,
}

/// An event as stored, and the change sequence that last touched it.
#[derive(Clone, Debug)]
pub(super) struct Stored {
    pub(super) seq: u64,
    pub(super) body: Map<String, Value>,
}

impl Stored {
    /// `status`, `confirmed` when absent.
    pub(super) fn status(&self) -> &str {
        self.body.get("status").and_then(Value::as_str).unwrap_or("confirmed")
    }

    pub(super) fn is_cancelled(&self) -> bool {
        self.status() == "cancelled"
    }
}

/// Fields the server owns: a client's values are ignored.
const SERVER_FIELDS: [&str; 8] =
    ["kind", "etag", "id", "created", "updated", "htmlLink", "creator", "organizer"];

impl Data {
    /// Gives a new account its default calendars: the primary one (id = the address) and a
    /// read-only "Team holidays" calendar shared with it.
    pub(crate) fn create_account(&mut self, account: &Account) {
        let primary = Calendar::new(&account.email, &account.email, &account.email, "owner");
        let shared_id = format!("c_{}@group.calendar.google.com", uuid::Uuid::new_v4().simple());
        let shared = Calendar::new(&shared_id, &account.email, "Team holidays", "reader");
        self.calendars.insert(primary.id.clone(), Calendar { primary: true, ..primary });
        self.calendars.insert(shared.id.clone(), shared);
    }

    /// Follows an account whose address changed from `old` to `new`: its calendars are seen by
    /// the new address and its primary calendar's id becomes it, its events, sync tokens and
    /// channels going along. Stricter than Google is known to be: the old id names nothing
    /// afterwards, so a client holding it must follow the rename.
    pub(crate) fn rename_account(&mut self, old: &str, new: &str) {
        let (old, new) = (old.to_ascii_lowercase(), new.to_ascii_lowercase());
        for calendar in self.calendars.values_mut().filter(|c| c.owner == old) {
            calendar.owner.clone_from(&new);
        }
        if let Some(mut primary) = self.calendars.remove(&old) {
            primary.id.clone_from(&new);
            self.calendars.insert(new.clone(), primary);
        }
        let moved = |id: &mut String| {
            if *id == old {
                id.clone_from(&new);
            }
        };
        self.sync_tokens.values_mut().for_each(|(id, _)| moved(id));
        self.pages.values_mut().for_each(|page| moved(&mut page.calendar_id));
        for channel in self.channels.values_mut() {
            moved(&mut channel.calendar_id);
            moved(&mut channel.owner);
        }
    }

    /// The calendar `raw_id` names for `owner` (`primary` is an alias of the primary one).
    pub(super) fn calendar(&self, owner: &str, raw_id: &str) -> Result<&Calendar, ApiError> {
        let id = self.resolve(owner, raw_id);
        self.calendars.get(&id).filter(|c| c.owner == owner).ok_or_else(ApiError::not_found)
    }

    /// The same, mutable.
    pub(super) fn calendar_mut(
        &mut self,
        owner: &str,
        raw_id: &str,
    ) -> Result<&mut Calendar, ApiError> {
        let id = self.resolve(owner, raw_id);
        self.calendars.get_mut(&id).filter(|c| c.owner == owner).ok_or_else(ApiError::not_found)
    }

    /// The account's calendars, primary first.
    pub(super) fn calendars_of<'a>(&'a self, owner: &'a str) -> Vec<&'a Calendar> {
        let mut list: Vec<_> = self.calendars.values().filter(|c| c.owner == owner).collect();
        list.sort_by_key(|calendar| (!calendar.primary, calendar.id.clone()));
        list
    }

    fn resolve(&self, owner: &str, raw_id: &str) -> String {
        match raw_id {
            "primary" => owner.to_owned(),
            other => other.to_ascii_lowercase(),
        }
    }
}

impl Calendar {
    fn new(id: &str, owner: &str, summary: &str, access_role: &'static str) -> Self {
        Self {
            id: id.to_ascii_lowercase(),
            owner: owner.to_owned(),
            summary: summary.to_owned(),
            access_role,
            primary: false,
            time_zone: "UTC",
            seq: 0,
            events: BTreeMap::new(),
        }
    }

    /// Google's 403 when the account may only read this calendar.
    pub(super) fn require_writer(&self) -> Result<(), ApiError> {
        if matches!(self.access_role, "owner" | "writer") {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "requiredAccessLevel",
            "You need to have writer access to this calendar.",
        ))
    }

    /// The calendar's version tag (changes with every event change).
    pub(super) fn etag(&self) -> String {
        format!("\"{}\"", 1_000_000 + self.seq)
    }

    /// A stored event, cancelled ones included.
    pub(super) fn event(&self, id: &str) -> Result<&Stored, ApiError> {
        self.events.get(id).ok_or_else(ApiError::not_found)
    }

    /// `events.insert`: a new event, with the client's id when it gave a valid one.
    pub(super) fn insert(
        &mut self,
        mut body: Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        let id = match body.get("id") {
            Some(Value::String(id)) => valid_event_id(id)?,
            Some(_) => return Err(invalid_id()),
            None => random_event_id(),
        };
        if self.events.contains_key(&id) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "duplicate",
                "The requested identifier already exists.",
            ));
        }
        strip_server_fields(&mut body);
        times::validate(&body)?;
        let created = times::timestamp(now);
        body.insert("id".into(), id.clone().into());
        body.insert("created".into(), created.into());
        body.entry("iCalUID").or_insert_with(|| format!("{id}@google.com").into());
        body.entry("sequence").or_insert_with(|| 0.into());
        body.entry("reminders").or_insert_with(|| json!({"useDefault": true}));
        body.entry("eventType").or_insert_with(|| "default".into());
        Ok(self.store(id, body, now))
    }

    /// `events.update` (PUT): replaces what the client may set; a cancelled event comes back
    /// (`status` defaults to `confirmed`).
    pub(super) fn replace(
        &mut self,
        id: &str,
        mut body: Map<String, Value>,
        if_match: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        let old = self.writable_event(id, if_match)?.body.clone();
        strip_server_fields(&mut body);
        body.remove("iCalUID");
        times::validate(&body)?;
        for kept in ["created", "iCalUID", "eventType"] {
            if let Some(value) = old.get(kept) {
                body.insert(kept.into(), value.clone());
            }
        }
        body.entry("reminders").or_insert_with(|| json!({"useDefault": true}));
        body.insert("sequence".into(), next_sequence(&old, &body).into());
        body.insert("id".into(), id.into());
        Ok(self.store(id.to_owned(), body, now))
    }

    /// `events.patch`: merges the client's fields into the event (RFC 7386; `null` clears).
    pub(super) fn patch(
        &mut self,
        id: &str,
        mut patch: Map<String, Value>,
        if_match: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        let old = self.writable_event(id, if_match)?.body.clone();
        strip_server_fields(&mut patch);
        patch.remove("iCalUID");
        let mut body = old.clone();
        merge(&mut body, patch);
        times::validate(&body)?;
        body.insert("sequence".into(), next_sequence(&old, &body).into());
        Ok(self.store(id.to_owned(), body, now))
    }

    /// `events.delete`: the event stays, cancelled, and its id stays taken; deleting it again
    /// is Google's 410 `deleted`.
    pub(super) fn delete(
        &mut self,
        id: &str,
        if_match: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let stored = self.writable_event(id, if_match)?;
        if stored.is_cancelled() {
            return Err(ApiError::new(StatusCode::GONE, "deleted", "Resource has been deleted"));
        }
        let mut body = stored.body.clone();
        body.insert("status".into(), "cancelled".into());
        self.store(id.to_owned(), body, now);
        Ok(())
    }

    /// An event a write may touch: it exists, is not deleted, and `If-Match` (if sent) matches.
    fn writable_event(&self, id: &str, if_match: Option<&str>) -> Result<&Stored, ApiError> {
        let stored = self.event(id)?;
        if let Some(expected) = if_match {
            let etag = stored.body.get("etag").and_then(Value::as_str).unwrap_or_default();
            if expected != "*" && expected != etag {
                return Err(ApiError::new(
                    StatusCode::PRECONDITION_FAILED,
                    "conditionNotMet",
                    "Precondition Failed",
                )
                .at("header", "If-Match"));
            }
        }
        Ok(stored)
    }

    /// Stamps the server fields, bumps the change sequence and stores the event.
    fn store(&mut self, id: String, mut body: Map<String, Value>, now: DateTime<Utc>) -> Value {
        self.seq += 1;
        let micros = u64::try_from(now.timestamp_micros()).unwrap_or_default();
        body.insert("kind".into(), "calendar#event".into());
        body.insert("etag".into(), format!("\"{}\"", micros * 10 + self.seq % 10).into());
        body.insert("updated".into(), times::timestamp(now).into());
        body.insert("htmlLink".into(), self.html_link(&id).into());
        body.entry("status").or_insert_with(|| "confirmed".into());
        body.insert("creator".into(), json!({"email": self.owner, "self": true}));
        body.insert("organizer".into(), self.organizer());
        mark_own_attendee(&mut body, &self.owner);
        let stored = Stored { seq: self.seq, body };
        let value = Value::Object(stored.body.clone());
        self.events.insert(id, stored);
        value
    }

    fn organizer(&self) -> Value {
        if self.primary {
            json!({"email": self.id, "self": true})
        } else {
            json!({"email": self.id, "displayName": self.summary, "self": true})
        }
    }

    fn html_link(&self, id: &str) -> String {
        let eid =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{id} {}", self.id));
        format!("https://www.google.com/calendar/event?eid={eid}")
    }
}

/// Drops what the server sets itself.
fn strip_server_fields(body: &mut Map<String, Value>) {
    for field in SERVER_FIELDS {
        body.remove(field);
    }
}

/// `sequence` goes up when the time (or recurrence) changes; a higher client value wins.
fn next_sequence(old: &Map<String, Value>, new: &Map<String, Value>) -> i64 {
    let current = old.get("sequence").and_then(Value::as_i64).unwrap_or(0);
    let moved =
        ["start", "end", "recurrence"].iter().any(|field| old.get(*field) != new.get(*field));
    let asked = new.get("sequence").and_then(Value::as_i64).unwrap_or(0);
    (current + i64::from(moved)).max(asked)
}

/// Google marks the attendee entry of the calendar's owner with `self: true`.
fn mark_own_attendee(body: &mut Map<String, Value>, owner: &str) {
    let Some(Value::Array(attendees)) = body.get_mut("attendees") else { return };
    for attendee in attendees.iter_mut().filter_map(Value::as_object_mut) {
        let own = attendee
            .get("email")
            .and_then(Value::as_str)
            .is_some_and(|email| email.eq_ignore_ascii_case(owner));
        if own {
            attendee.insert("self".into(), true.into());
        }
        attendee.entry("responseStatus").or_insert_with(|| "needsAction".into());
    }
}

/// RFC 7386 merge patch.
pub(super) fn merge(target: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.remove(&key);
            }
            Value::Object(inner) => {
                let slot = target.entry(key).or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                if let Value::Object(existing) = slot {
                    merge(existing, inner);
                }
            }
            other => {
                target.insert(key, other);
            }
        }
    }
}

/// Google's rule for client ids: base32hex (`0-9a-v`), 5 to 1024 characters.
fn valid_event_id(id: &str) -> Result<String, ApiError> {
    let alphabet = |b: u8| b.is_ascii_digit() || (b'a'..=b'v').contains(&b);
    if (5..=1024).contains(&id.len()) && id.bytes().all(alphabet) {
        Ok(id.to_owned())
    } else {
        Err(invalid_id())
    }
}

fn invalid_id() -> ApiError {
    ApiError::invalid("Invalid resource id value.")
}

/// A server-chosen id: 26 base32hex characters.
fn random_event_id() -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    (0..26).map(|_| ALPHABET[rand::random_range(0..32)] as char).collect()
}

/// What is left of a listing after a page.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    pub(super) calendar_id: String,
    pub(super) ids: Vec<String>,
    pub(super) snapshot: u64,
    pub(super) max_results: usize,
}

/// A notification channel on one calendar's events.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Channel {
    pub(super) id: String,
    pub(super) resource_id: String,
    pub(super) resource_uri: String,
    pub(super) calendar_id: String,
    pub(super) owner: String,
    pub(super) address: String,
    #[serde(skip)]
    pub(super) token: Option<String>,
    pub(super) expiration: DateTime<Utc>,
    /// The last `X-Goog-Message-Number` sent.
    pub(super) message_number: u64,
    pub(super) stopped: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_must_be_base32hex_of_five_to_1024_characters() {
        assert!(valid_event_id("abcde").is_ok());
        assert!(valid_event_id("0123456789abcdefghijklmnopqrstuv").is_ok());
        assert_eq!(valid_event_id("abcd"), Err(invalid_id()));
        assert_eq!(valid_event_id("abcdw"), Err(invalid_id()));
        assert_eq!(valid_event_id("ABCDE"), Err(invalid_id()));
        assert_eq!(valid_event_id(&"a".repeat(1025)), Err(invalid_id()));
        assert!(valid_event_id(&random_event_id()).is_ok());
    }

    #[test]
    fn a_merge_patch_sets_clears_and_merges_nested_objects() {
        let mut target =
            json!({"a": 1, "b": {"x": 1, "y": 2}, "c": 3}).as_object().unwrap().clone();
        let patch =
            json!({"a": null, "b": {"y": null, "z": 3}, "d": [1]}).as_object().unwrap().clone();
        merge(&mut target, patch);
        assert_eq!(Value::Object(target), json!({"b": {"x": 1, "z": 3}, "c": 3, "d": [1]}));
    }
}
