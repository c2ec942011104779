//! A webhook endpoint's fields (`/api/v1/webhook-endpoints` and the console's webhooks page):
//! the endpoint to create, the changes to one, and how long a rotated secret keeps signing.

use chrono::{DateTime, Utc};
use kalends_core::config::WebhooksConfig;
use kalends_core::webhooks::{EVENT_TYPES, is_event_type};
use kalends_providers::feed::forbidden_kind;
use kalends_service::webhooks::EndpointSpec;
use kalends_store::WebhookEndpointPatch;
use url::{Host, Url};

use super::FieldError;
use super::fields::Checker;

/// An endpoint to create, as submitted.
#[derive(Clone, Copy, Debug)]
pub struct EndpointFields<'a> {
    /// Where events are POSTed.
    pub url: &'a str,
    /// The event types it receives.
    pub event_types: &'a [String],
    /// A note for people.
    pub description: Option<&'a str>,
    /// Whether events are sent to it (default true).
    pub enabled: Option<bool>,
}

/// Changes to an endpoint as submitted: each field only when given.
#[derive(Clone, Copy, Debug, Default)]
pub struct EndpointChanges<'a> {
    /// A new URL.
    pub url: Option<&'a str>,
    /// New event types.
    pub event_types: Option<&'a [String]>,
    /// A new note (`Some(None)` clears it).
    pub description: Option<Option<&'a str>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
}

/// The endpoint to create, or every field's problem at once.
pub fn endpoint_spec(
    fields: EndpointFields<'_>,
    config: &WebhooksConfig,
) -> Result<EndpointSpec, Vec<FieldError>> {
    let mut c = Checker::default();
    let url = check_url(&mut c, fields.url, config);
    let event_types = check_event_types(&mut c, fields.event_types);
    let description = c.optional_text("description", fields.description, 500);
    c.finish(|| EndpointSpec {
        url: url.expect("checked"),
        description,
        event_types,
        enabled: fields.enabled.unwrap_or(true),
    })
}

/// The changes as the store takes them, or every field that is wrong.
pub fn endpoint_patch(
    changes: EndpointChanges<'_>,
    config: &WebhooksConfig,
) -> Result<WebhookEndpointPatch, Vec<FieldError>> {
    let mut c = Checker::default();
    let url = changes.url.and_then(|u| check_url(&mut c, u, config));
    let event_types = changes.event_types.map(|t| check_event_types(&mut c, t));
    let description = changes.description.map(|d| c.optional_text("description", d, 500));
    c.finish(|| WebhookEndpointPatch { url, description, event_types, enabled: changes.enabled })
}

/// Until when a secret replaced now keeps signing beside the new one.
pub fn rotated_until(config: &WebhooksConfig) -> DateTime<Utc> {
    let valid = config.rotated_secret_valid_secs;
    Utc::now() + chrono::Duration::seconds(i64::try_from(valid).unwrap_or(86_400))
}

/// Checks an endpoint URL as import URLs are checked: absolute `http(s)`, no credentials, and
/// not a loopback, private or link-local address unless the operator allows them, all or by
/// `webhooks.allowed_addresses` (every attempt's connected address is checked again when it is
/// sent).
fn check_url(c: &mut Checker, text: &str, config: &WebhooksConfig) -> Option<String> {
    let url = match Url::parse(text.trim()) {
        Ok(url) => url,
        Err(e) => {
            c.fail("url", format!("is not a valid absolute URL ({e})"));
            return None;
        }
    };
    let problem = if !matches!(url.scheme(), "https" | "http") {
        Some("the scheme must be https or http".to_owned())
    } else if !url.username().is_empty() || url.password().is_some() {
        Some("must not contain a user name or password".to_owned())
    } else if config.allow_private_networks {
        None
    } else {
        host_problem(&url, config)
    };
    match problem {
        Some(message) => {
            c.fail("url", message);
            None
        }
        None => Some(url.to_string()),
    }
}

/// What is wrong with the URL's host, when private networks are not allowed: none, a loopback
/// name, or an address of a kind no webhook may reach (unless `allowed_addresses` lists it).
fn host_problem(url: &Url, config: &WebhooksConfig) -> Option<String> {
    let allowed = |ip: std::net::IpAddr| {
        let port = url.port_or_known_default().unwrap_or(0);
        config.allowed_addresses.allows(std::net::SocketAddr::new(ip, port))
    };
    match url.host() {
        None => Some("must name a host".to_owned()),
        Some(Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            (name == "localhost" || name.ends_with(".localhost"))
                .then(|| "must not be a loopback address".to_owned())
        }
        Some(Host::Ipv4(ip)) if allowed(ip.into()) => None,
        Some(Host::Ipv6(ip)) if allowed(ip.into()) => None,
        Some(Host::Ipv4(ip)) => forbidden_kind(ip.into()).map(|k| format!("must not be {k}")),
        Some(Host::Ipv6(ip)) => forbidden_kind(ip.into()).map(|k| format!("must not be {k}")),
    }
}

/// Checks that every event type is known (and that there is one).
fn check_event_types(c: &mut Checker, types: &[String]) -> Vec<String> {
    if types.is_empty() {
        c.fail("event_types", "must name at least one event type");
    }
    for t in types.iter().filter(|t| !is_event_type(t)) {
        c.fail(
            "event_types",
            format!("unknown event type {t:?}; known: {}", EVENT_TYPES.join(", ")),
        );
    }
    let mut unique: Vec<String> = Vec::with_capacity(types.len());
    for t in types {
        if !unique.contains(t) {
            unique.push(t.clone());
        }
    }
    unique
}
