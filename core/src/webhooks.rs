//! Outbound webhooks as the Standard Webhooks specification (v1) has them: the event types
//! Kalends sends, the body of an event, the signing secrets (`whsec_` + base64) and the
//! signature (`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`).
//!
//! What an endpoint is and how deliveries are stored is the store's (`store/webhooks.rs`); who
//! records which event is decided by the use cases (`service/`), in the transaction of the
//! change that caused it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac as _};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;

/// Every event type an endpoint can subscribe to. The names are part of the public contract
/// (docs/API.md, "Outbound webhooks").
pub const EVENT_TYPES: [&str; 19] = [
    "booking.synced",
    "booking.sync_failed",
    "booking.external_edit",
    "feed_import.failed",
    "feed_import.recovered",
    "feed_import.held",
    "feed_item.created",
    "feed_item.updated",
    "feed_item.removed",
    "feed_item.missing",
    "conflict.opened",
    "conflict.resolved",
    "connection.needs_reauth",
    "connection.reconnected",
    "organisation.failing",
    "organisation.recovered",
    "checklist_item.created",
    "checklist_item.overdue",
    "webhook.test",
];

/// Whether `name` is an event type Kalends sends.
pub fn is_event_type(name: &str) -> bool {
    EVENT_TYPES.contains(&name)
}

/// Random bytes in a new secret (the specification asks for 24 to 64).
const SECRET_BYTES: usize = 32;

/// The prefix of a signing secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// A new signing secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_secret() -> SecretString {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::fill(&mut bytes);
    SecretString::from(format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes)))
}

/// A secret that does not read as `whsec_` and base64.
#[derive(Debug, thiserror::Error)]
#[error("a webhook secret is not whsec_ followed by base64")]
pub struct BadSecret;

/// The HMAC key of a secret: the bytes its base64 stands for.
fn key_bytes(secret: &SecretString) -> Result<Vec<u8>, BadSecret> {
    let text = secret.expose_secret();
    let encoded = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
    STANDARD.decode(encoded).map_err(|_| BadSecret)
}

/// The `webhook-signature` header's value: one `v1,<base64>` per secret, space-separated (the
/// current secret first, then one still valid after a rotation).
pub fn signature(
    secrets: &[&SecretString],
    msg_id: &str,
    timestamp: i64,
    body: &str,
) -> Result<String, BadSecret> {
    let signed = format!("{msg_id}.{timestamp}.{body}");
    let mut parts = Vec::with_capacity(secrets.len());
    for secret in secrets {
        let key = key_bytes(secret)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length");
        mac.update(signed.as_bytes());
        parts.push(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())));
    }
    Ok(parts.join(" "))
}

/// Whether `header` (a `webhook-signature` value) holds a valid signature of the message by
/// `secret`: what a receiver checks (the tests use it as the Rust receiver).
pub fn verify(
    secret: &SecretString,
    msg_id: &str,
    timestamp: i64,
    body: &str,
    header: &str,
) -> Result<bool, BadSecret> {
    use subtle::ConstantTimeEq as _;
    let expected = signature(&[secret], msg_id, timestamp, body)?;
    Ok(header.split(' ').any(|part| bool::from(part.as_bytes().ct_eq(expected.as_bytes()))))
}

/// The `webhook-id` of an event: stable across every attempt and endpoint.
pub fn message_id(event_id: Uuid) -> String {
    format!("msg_{}", event_id.simple())
}

/// An event to record: its type and its `data`.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookEvent {
    /// One of [`EVENT_TYPES`].
    pub event_type: &'static str,
    /// The `data` object.
    pub data: Value,
}

impl WebhookEvent {
    /// An event of `event_type` with `data`.
    pub fn new(event_type: &'static str, data: Value) -> Self {
        debug_assert!(is_event_type(event_type), "{event_type}");
        Self { event_type, data }
    }

    /// The body sent, exactly: `{"type", "timestamp", "data"}`, the timestamp being `at`.
    pub fn body(&self, at: DateTime<Utc>) -> String {
        json!({
            "type": self.event_type,
            "timestamp": at.to_rfc3339_opts(SecondsFormat::Millis, true),
            "data": self.data,
        })
        .to_string()
    }
}

/// Who is sent which of `events`: each event, in order, with the endpoints (their ids, from
/// `endpoints`: each id with the event types it subscribed to) that subscribed to its type. An
/// event no endpoint wants is left out: it is not recorded at all.
pub fn recipients<'e>(
    endpoints: &[(Uuid, Vec<String>)],
    events: &'e [WebhookEvent],
) -> Vec<(&'e WebhookEvent, Vec<Uuid>)> {
    events
        .iter()
        .filter_map(|event| {
            let wanting: Vec<Uuid> = endpoints
                .iter()
                .filter(|(_, types)| types.iter().any(|t| t == event.event_type))
                .map(|(id, _)| *id)
                .collect();
            (!wanting.is_empty()).then_some((event, wanting))
        })
        .collect()
}

/// `data` of `conflict.opened` and `conflict.resolved`: the conflict as the API shows it, its
/// imported reservations with the `details` their feeds give (`details`: by item id).
pub fn conflict_data(
    c: &crate::conflict_record::Conflict,
    details: &[(Uuid, kalends_ical::ItemDetails)],
) -> Value {
    let (resource_id, staff_id) = c.owner.columns();
    let items: Vec<Value> = c
        .items
        .iter()
        .map(|item| {
            let mut out = json!(item);
            if let Some((_, known)) = details.iter().find(|(id, _)| *id == item.id) {
                out["details"] = json!(known);
            }
            out
        })
        .collect();
    json!({
        "id": c.id,
        "kind": c.kind.as_str(),
        "resource_id": resource_id,
        "staff_id": staff_id,
        "start": c.start,
        "end": c.end,
        "severity": c.severity.as_str(),
        "items": items,
        "suggestion": c.suggestion,
        "status": if c.open { "open" } else { "resolved" },
        "detected_at": c.detected_at,
        "resolved_at": c.resolved_at,
        "resolution": c.resolution,
    })
}

/// `data` of `booking.synced` and `booking.sync_failed`: which booking, at which version, in
/// which connected calendar; the event's id there, or the provider's words.
pub fn booking_sync_data(
    booking_id: Uuid,
    version: i64,
    connection_id: Uuid,
    provider: &str,
    remote_id: Option<&str>,
    error: Option<&str>,
) -> Value {
    json!({
        "booking_id": booking_id,
        "version": version,
        "connection_id": connection_id,
        "provider": provider,
        "remote_id": remote_id,
        "error": error,
    })
}

/// `data` of `booking.external_edit`: a staff member moved (to `moved_to`) or deleted the
/// booking's event in their own calendar, and what Kalends did (`restored` or `left`).
pub fn external_edit_data(
    booking_id: Uuid,
    connection_id: Uuid,
    staff_id: Uuid,
    edit: &str,
    moved_to: Option<Value>,
    action: &str,
) -> Value {
    json!({
        "booking_id": booking_id,
        "connection_id": connection_id,
        "staff_id": staff_id,
        "edit": edit,
        "moved_to": moved_to,
        "action": action,
    })
}

/// `data` of `connection.needs_reauth` and `connection.reconnected`.
pub fn connection_data(
    connection_id: Uuid,
    staff_id: Uuid,
    provider: &str,
    status: &str,
    error: Option<&str>,
) -> Value {
    json!({
        "connection_id": connection_id,
        "staff_id": staff_id,
        "provider": provider,
        "status": status,
        "error": error,
    })
}

/// `data` of `organisation.failing`: the organisation connection, what failed (`Reading the
/// directory`, `The calendar of bo@salon.example`) and what to change.
pub fn organisation_data(trouble: &crate::alerts::OrganisationTrouble<'_>) -> Value {
    let mut data = organisation_ref(&trouble.organisation);
    data.insert("what".into(), json!(trouble.what));
    data.insert("error".into(), json!(trouble.error));
    Value::Object(data)
}

/// `data` of `organisation.recovered`: the organisation connection, which the directory read
/// found working again (nothing failing), and since when its administrator had been told that
/// something failed.
pub fn organisation_recovered_data(
    organisation: &crate::alerts::OrganisationRef<'_>,
    failing_since: DateTime<Utc>,
) -> Value {
    let mut data = organisation_ref(organisation);
    data.insert("failing_since".into(), json!(failing_since));
    Value::Object(data)
}

/// What identifies an organisation connection in its events.
fn organisation_ref(
    organisation: &crate::alerts::OrganisationRef<'_>,
) -> serde_json::Map<String, Value> {
    let mut data = serde_json::Map::new();
    data.insert("organisation_connection_id".into(), json!(organisation.id));
    data.insert("provider".into(), json!(organisation.provider));
    data.insert("domain".into(), json!(organisation.domain));
    data
}

/// What identifies an import in its events: never its URL (a secret).
fn import_ref(import: &crate::domain::Import) -> serde_json::Map<String, Value> {
    let (resource_id, staff_id) = import.data.owner.columns();
    let mut data = serde_json::Map::new();
    data.insert("import_id".into(), json!(import.id));
    data.insert("resource_id".into(), json!(resource_id));
    data.insert("staff_id".into(), json!(staff_id));
    data.insert("platform".into(), json!(import.data.platform.as_str()));
    data.insert("name".into(), json!(import.data.name));
    data
}

/// `data` of `feed_import.failed`, `feed_import.recovered` and `feed_import.held` (whose `error`
/// says what the held run would have removed).
pub fn import_status_data(
    import: &crate::domain::Import,
    run: &crate::domain::ImportRun,
    failures: u32,
) -> Value {
    let mut data = import_ref(import);
    data.insert("run_id".into(), json!(run.id));
    data.insert("finished_at".into(), json!(run.finished_at));
    data.insert("consecutive_failures".into(), json!(failures));
    data.insert("http_status".into(), json!(run.http_status));
    data.insert("error".into(), json!(run.error));
    Value::Object(data)
}

/// One item a feed brought, changed or took away, as `feed_item.*` carries it.
#[derive(Clone, Copy, Debug)]
pub struct FeedItemRef<'a> {
    /// The event's UID in the feed.
    pub uid: &'a str,
    /// Its RECURRENCE-ID (empty for a single event).
    pub recurrence_id: &'a str,
    /// What it is.
    pub kind: kalends_ical::ItemKind,
    /// Its SUMMARY.
    pub summary: Option<&'a str>,
    /// What the platform said of the reservation.
    pub details: &'a kalends_ical::ItemDetails,
    /// When it is busy.
    pub span: &'a crate::domain::Span,
}

/// `data` of `feed_item.created`, `.updated` and `.removed`.
pub fn feed_item_data(import: &crate::domain::Import, item: FeedItemRef<'_>) -> Value {
    let mut data = import_ref(import);
    data.insert("uid".into(), json!(item.uid));
    data.insert("recurrence_id".into(), json!(Some(item.recurrence_id).filter(|r| !r.is_empty())));
    data.insert("kind".into(), json!(item.kind));
    data.insert("summary".into(), json!(item.summary));
    data.insert("details".into(), json!(item.details));
    match item.span {
        crate::domain::Span::AllDay { start, end } => {
            data.insert("start_date".into(), json!(start));
            data.insert("end_date".into(), json!(end));
        }
        crate::domain::Span::Timed { start, end } => {
            data.insert("start".into(), json!(start));
            data.insert("end".into(), json!(end));
        }
    }
    Value::Object(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks reference implementations.
    #[test]
    fn signs_like_the_reference_implementation() {
        let secret = SecretString::from("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let body = r#"{"test": 2432232314}"#;
        let header = signature(&[&secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(header.unwrap(), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_rotated_secret_signs_beside_the_new_one() {
        let (new, old) = (new_secret(), new_secret());
        let header = signature(&[&new, &old], "msg_1", 1, "{}").unwrap();
        assert_eq!(header.split(' ').count(), 2);
        assert!(verify(&new, "msg_1", 1, "{}", &header).unwrap());
        assert!(verify(&old, "msg_1", 1, "{}", &header).unwrap());
        assert!(!verify(&new_secret(), "msg_1", 1, "{}", &header).unwrap());
        assert!(!verify(&new, "msg_1", 2, "{}", &header).unwrap());
    }

    #[test]
    fn new_secrets_are_whsec_and_24_or_more_random_bytes() {
        let secret = new_secret();
        assert!(secret.expose_secret().starts_with(SECRET_PREFIX));
        assert!(key_bytes(&secret).unwrap().len() >= 24);
        assert_ne!(secret.expose_secret(), new_secret().expose_secret());
    }

    #[test]
    fn an_event_goes_to_the_endpoints_subscribed_to_its_type_and_one_nobody_wants_is_dropped() {
        let (all, conflicts) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let types = |t: &[&str]| t.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        let endpoints = [
            (all, types(&["booking.synced", "conflict.opened"])),
            (conflicts, types(&["conflict.opened"])),
        ];
        let events = [
            WebhookEvent::new("booking.synced", json!({})),
            WebhookEvent::new("checklist_item.created", json!({})),
            WebhookEvent::new("conflict.opened", json!({})),
        ];
        let sent: Vec<(&str, Vec<Uuid>)> = recipients(&endpoints, &events)
            .into_iter()
            .map(|(event, to)| (event.event_type, to))
            .collect();
        assert_eq!(
            sent,
            [("booking.synced", vec![all]), ("conflict.opened", vec![all, conflicts])]
        );
    }

    #[test]
    fn the_body_has_type_timestamp_and_data() {
        let at = DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z").unwrap().to_utc();
        let body = WebhookEvent::new("webhook.test", json!({"a": 1})).body(at);
        let value: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            value,
            json!({"type": "webhook.test", "timestamp": "2026-11-23T10:00:00.000Z", "data": {"a": 1}})
        );
    }
}
