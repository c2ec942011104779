//! The first run's demo: on an empty embedded database, the "Demo" tenant gets two properties,
//! a staff member whose calendar is the sandbox's Google calendar (connected the way a person
//! connects one: settings link, "Connect Google", "Allow"), a front desk of two from the
//! sandbox's Microsoft 365 organisation (connected through the API the way its administrator
//! connects one: an application with its permissions consented, a group, the organisation
//! connection), bookings over the next weeks, a feed for the platforms, and an Airbnb import (the
//! sandbox's export) whose reservation collides with a direct booking, so the console opens on
//! something to look at: a timeline, synced calendars, an organisation, a feed to copy, an
//! import's runs, one conflict. Everything is labelled "(demo)"; `kalends serve --no-demo` starts
//! without it.

use chrono::{Duration, NaiveDate, Utc};
use kalends_core::config::SecretKey;
use kalends_core::domain::{
    BookingSpan, BookingStatus, Customer, FeedProfile, FeedScope, NewBooking, NewFeed, NewImport,
    NewResource, NewStaff, Owner, Platform, Staff, Tenant,
};
use kalends_service::{bookings, directory, feeds, imports, staff_sessions};
use kalends_store::Overlap;
use kalends_store::{Store, StoreError};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};
use uuid::Uuid;

/// The demo staff member's address on a first run, and her account in the sandbox.
pub const STAFF_EMAIL: &str = "ann@example.com";

/// The mounted provider sandbox the demo connects its calendars in.
#[derive(Clone, Copy, Debug)]
pub struct DemoSandbox<'a> {
    /// Its base URL (`.../sandbox`, on Kalends' own address).
    pub url: &'a str,
    /// The bearer token of its control API, which sets up its Microsoft 365 organisation.
    pub control_token: &'a SecretString,
}

/// Seeds the demo for `tenant`, whose API key is `api_key`. `sandbox`: the mounted provider
/// sandbox, whose Airbnb export the demo imports, whose Google calendar its staff member connects
/// and whose Microsoft 365 organisation gives its front desk (without a sandbox there is no
/// import, no conflict and no calendar). `staff_email`: her address and sandbox account
/// ([`STAFF_EMAIL`]; demo tenants sharing one sandbox need one each, or each calendar holds the
/// others' stays as busy time; the front desk's addresses share its domain).
pub async fn seed(
    store: &Store,
    tenant: &Tenant,
    key: &SecretKey,
    api_key: &SecretString,
    sandbox: Option<DemoSandbox<'_>>,
    staff_email: &str,
) -> Result<(), StoreError> {
    let place = |name: &str| NewResource {
        external_id: None,
        name: format!("{name} (demo)"),
        time_zone: None,
        parent_id: None,
    };
    let cottage = directory::create_resource(store, tenant.id, place("Sea View Cottage")).await?;
    let garden = directory::create_resource(store, tenant.id, place("Garden Room")).await?;
    let ann = NewStaff {
        external_id: None,
        name: "Ann Lee (demo housekeeping)".into(),
        email: staff_email.parse().ok(),
        time_zone: None,
    };
    let ann = directory::create_staff(store, tenant.id, ann).await?;
    let mut front_desk = None;
    if let Some(sandbox) = sandbox {
        // Without them the demo still stands: the staff page then shows no calendar connected.
        if let Err(e) = connect_sandbox_calendar(sandbox.url, key, tenant.id, &ann).await {
            tracing::warn!(error = %e, "the demo's staff member was not connected to the sandbox calendar");
        }
        match connect_sandbox_organisation(sandbox, api_key, staff_email).await {
            Ok(sam) => front_desk = Some(sam),
            Err(e) => {
                tracing::warn!(error = %e, "the demo's organisation was not connected in the sandbox");
            }
        }
    }
    let today = Utc::now().with_timezone(&tenant.settings.time_zone.tz()).date_naive();
    let stays = [
        (cottage.id, "Smith family (demo)", 1, 5, front_desk.into_iter().collect()),
        (cottage.id, "Garcia (demo)", 8, 12, vec![ann.id]),
        (garden.id, "Jones (demo)", 2, 5, vec![]),
        (garden.id, "Okafor (demo)", 12, 16, vec![ann.id]),
    ];
    for (room, title, from, to, staff) in stays {
        let new = stay(room, title, today, from, to, staff);
        bookings::create(store, tenant, new, Overlap::Allow).await?;
    }
    let feed = NewFeed {
        scope: FeedScope::Owner(Owner::Resource(cottage.id)),
        profile: FeedProfile::Busy,
        name: "Sea View Cottage for Airbnb (demo)".into(),
        platform: Some(Platform::Airbnb),
        include_tentative: true,
    };
    feeds::create(store, tenant, feed, key).await?;
    if let Some(DemoSandbox { url: sandbox, .. }) = sandbox {
        let import = NewImport {
            owner: Owner::Resource(garden.id),
            platform: Platform::Airbnb,
            url: format!("{sandbox}/ota/airbnb/garden-room.ics"),
            name: Some("Garden Room on Airbnb (demo)".into()),
            interval_minutes: 30,
            settings: Default::default(),
        };
        let import = imports::create(store, tenant, import).await?;
        imports::run_soon(store, tenant.id, import.id).await?;
    }
    Ok(())
}

/// Why the demo's calendar was not connected. Logged, so it names no URL in full: the flow's
/// URLs carry a settings link's token, an OAuth `state` and `code`.
#[derive(Debug, thiserror::Error)]
enum ConnectError {
    /// A request of the flow failed (its URL left out).
    #[error("request failed: {0}")]
    Http(reqwest::Error),
    /// The flow ended somewhere else than the settings page saying it is connected: where, as
    /// [`ended_at`] says it.
    #[error("the connect flow ended at {0} (HTTP {1})")]
    NotConnected(String, u16),
    /// The organisation was connected without the member expected.
    #[error("the organisation covers no {0}")]
    NotCovered(String),
}

impl From<reqwest::Error> for ConnectError {
    fn from(error: reqwest::Error) -> Self {
        Self::Http(error.without_url())
    }
}

/// Where a flow ended, for the log: the page's path and its `notice`, never the rest of its
/// query (a callback's `code` and `state`, a consent page's `state`).
fn ended_at(url: &reqwest::Url) -> String {
    match url.query_pairs().find(|(name, _)| name == "notice") {
        Some((_, notice)) => format!("{}?notice={notice}", url.path()),
        None => url.path().to_owned(),
    }
}

/// Connects a Microsoft 365 organisation of the sandbox through the API, as its administrator
/// does: an application with `Calendars.ReadWrite`, `User.Read.All` and `GroupMember.Read.All`
/// consented, two
/// front-desk users in a security group of their own, and the organisation connected for that
/// group (fresh ids each time, so that demos sharing a sandbox keep apart; the users' domain is
/// `staff_email`'s). Returns the staff id of the first, Sam.
async fn connect_sandbox_organisation(
    sandbox: DemoSandbox<'_>,
    api_key: &SecretString,
    staff_email: &str,
) -> Result<Uuid, ConnectError> {
    let domain = staff_email.rsplit_once('@').map_or("example.com", |(_, domain)| domain);
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(20)).build()?;
    let control = sandbox.control_token.expose_secret();
    // What the administrator does in Entra, through the sandbox's control API.
    let set_up = |method: reqwest::Method, path: &str, body: Value| {
        let request = http.request(method, format!("{}/_control/entra{path}", sandbox.url));
        async move { request.bearer_auth(control).json(&body).send().await?.error_for_status() }
    };
    let sam = format!("sam@{domain}");
    let members = [(sam.clone(), "Sam Park"), (format!("lea@{domain}"), "Lea Roux")];
    for (address, name) in &members {
        let user = json!({"user_principal_name": address,
            "display_name": format!("{name} (demo front desk)")});
        set_up(reqwest::Method::POST, "/users", user).await?;
    }
    let group = Uuid::new_v4().to_string();
    let addresses: Vec<&str> = members.iter().map(|(address, _)| address.as_str()).collect();
    set_up(reqwest::Method::PUT, &format!("/groups/{group}"), json!({"members": addresses}))
        .await?;
    let (client_id, client_secret) = (Uuid::new_v4().to_string(), Uuid::new_v4().to_string());
    let registration = json!({"client_id": client_id, "client_secret": client_secret,
        "roles": ["Calendars.ReadWrite", "User.Read.All", "GroupMember.Read.All"]});
    let registered: Value =
        set_up(reqwest::Method::POST, "/apps", registration).await?.json().await?;

    let api =
        format!("{}/api/v1/organisation-connections", sandbox.url.trim_end_matches("/sandbox"));
    let organisation = json!({"provider": "microsoft", "tenant_id": registered["tenant_id"],
        "client_id": client_id, "client_secret": client_secret, "group_id": group});
    let answer = http.post(&api).bearer_auth(api_key.expose_secret()).json(&organisation);
    let created: Value = answer.send().await?.error_for_status()?.json().await?;
    let id = created["id"].as_str().unwrap_or_default();
    let listed = http.get(format!("{api}/{id}/members")).bearer_auth(api_key.expose_secret());
    let listed: Value = listed.send().await?.error_for_status()?.json().await?;
    listed["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|member| member["email"] == sam.as_str() && member["state"] == "active")
        .and_then(|member| member["staff_id"].as_str()?.parse().ok())
        .ok_or(ConnectError::NotCovered(sam))
}

/// Connects `staff` to the sandbox's Google calendar (the sandbox at `sandbox`, mounted on
/// Kalends's own address) as a person does it: their settings link, "Connect Google", "Allow"
/// on the consent page; the OAuth callback then stores the connection as for a real account.
async fn connect_sandbox_calendar(
    sandbox: &str,
    key: &SecretKey,
    tenant_id: uuid::Uuid,
    staff: &Staff,
) -> Result<(), ConnectError> {
    let base = sandbox.trim_end_matches("/sandbox");
    // A one-time link, opened once below (the console mints Ann's next one).
    let link = staff_sessions::sign_link(key, base, tenant_id, staff.id, Duration::minutes(5)).url;
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .timeout(std::time::Duration::from_secs(20))
        .build()?;
    browser.get(&link).send().await?.error_for_status()?;
    let consent = browser.get(format!("{base}/connect/google")).send().await?.error_for_status()?;
    let page = consent.url().clone();
    let body = consent.text().await?;
    let action = body
        .split("<form")
        .nth(1)
        .and_then(|form| form.split("action=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .map(|action| action.replace("&amp;", "&"))
        .and_then(|action| page.join(&action).ok())
        .ok_or_else(|| ConnectError::NotConnected(ended_at(&page), 200))?;
    let email = staff.data.email.as_ref().map_or(STAFF_EMAIL, |e| e.as_str());
    let done = browser.post(action).form(&[("email", email), ("decision", "allow")]).send().await?;
    let (status, reached) = (done.status().as_u16(), ended_at(done.url()));
    if reached.ends_with("notice=connected-google") {
        Ok(())
    } else {
        Err(ConnectError::NotConnected(reached, status))
    }
}

fn stay(
    room: uuid::Uuid,
    title: &str,
    today: NaiveDate,
    from: i64,
    to: i64,
    staff_ids: Vec<uuid::Uuid>,
) -> NewBooking {
    let (start, end) = (today + Duration::days(from), today + Duration::days(to));
    NewBooking {
        external_id: None,
        resource_id: Some(room),
        staff_ids,
        status: BookingStatus::Confirmed,
        title: title.into(),
        description: None,
        location: None,
        customer: Some(Customer {
            name: title.trim_end_matches(" (demo)").into(),
            email: None,
            phone: None,
        }),
        span: BookingSpan::AllDay { start, end },
    }
}

#[cfg(test)]
mod tests {
    use super::{ConnectError, ended_at};

    #[tokio::test]
    async fn a_failed_request_of_the_demo_s_flow_is_logged_without_its_url() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let link = format!("http://{closed}/settings/link-token-0123?code=c0de");
        let error = reqwest::get(link).await.expect_err("nothing listens there");
        let logged = ConnectError::from(error).to_string();
        assert!(logged.starts_with("request failed"), "{logged}");
        assert!(!logged.contains("link-token") && !logged.contains("c0de"), "{logged}");
    }

    #[test]
    fn where_the_demo_s_flow_ended_is_told_by_its_path_and_notice_alone() {
        let callback = "http://kalends.test/oauth/google/callback?code=c0de&state=s7ate";
        assert_eq!(ended_at(&callback.parse().unwrap()), "/oauth/google/callback");
        let denied = "http://kalends.test/settings?notice=denied&state=s7ate";
        assert_eq!(ended_at(&denied.parse().unwrap()), "/settings?notice=denied");
    }
}
