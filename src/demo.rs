//! The first run's demo: on an empty embedded database, the "Demo" tenant gets two properties,
//! a staff member whose calendar is the sandbox's Google calendar (connected the way a person
//! connects one: settings link, "Connect Google", "Allow"), bookings over the next weeks, a feed
//! for the platforms, and an Airbnb import (the sandbox's export) whose reservation collides with
//! a direct booking, so the console opens on something to look at: a timeline, a synced
//! calendar, a feed to copy, an import's runs, one conflict. Everything is labelled "(demo)";
//! `kalends serve --no-demo` starts without it.

use chrono::{Duration, NaiveDate, Utc};
use kalends_core::config::SecretKey;
use kalends_core::domain::{
    BookingSpan, BookingStatus, Customer, FeedProfile, FeedScope, NewBooking, NewFeed, NewImport,
    NewResource, NewStaff, Owner, Platform, Staff, Tenant,
};
use kalends_service::{bookings, directory, feeds, imports, staff_sessions};
use kalends_store::Overlap;
use kalends_store::{Store, StoreError};

/// The demo staff member's address on a first run, and her account in the sandbox.
pub const STAFF_EMAIL: &str = "ann@example.com";

/// Seeds the demo for `tenant`. `sandbox`: the base URL of the mounted provider sandbox, whose
/// Airbnb export the demo imports and whose Google calendar its staff member connects (without a
/// sandbox there is no import, no conflict and no calendar). `staff_email`: her address and
/// sandbox account ([`STAFF_EMAIL`]; demo tenants sharing one sandbox need one each, or each
/// calendar holds the others' stays as busy time).
pub async fn seed(
    store: &Store,
    tenant: &Tenant,
    key: &SecretKey,
    sandbox: Option<&str>,
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
    if let Some(sandbox) = sandbox {
        // Without it the demo still stands: the staff page then shows no calendar connected.
        if let Err(e) = connect_sandbox_calendar(sandbox, key, tenant.id, &ann).await {
            tracing::warn!(error = %e, "the demo's staff member was not connected to the sandbox calendar");
        }
    }
    let today = Utc::now().with_timezone(&tenant.settings.time_zone.tz()).date_naive();
    let stays = [
        (cottage.id, "Smith family (demo)", 1, 5, vec![]),
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
    if let Some(sandbox) = sandbox {
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

/// Why the demo's calendar was not connected.
#[derive(Debug, thiserror::Error)]
enum ConnectError {
    /// A request of the flow failed.
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The flow ended somewhere else than the settings page saying it is connected.
    #[error("the connect flow ended at {0} (HTTP {1})")]
    NotConnected(String, u16),
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
        .ok_or_else(|| ConnectError::NotConnected(page.to_string(), 200))?;
    let email = staff.data.email.as_ref().map_or(STAFF_EMAIL, |e| e.as_str());
    let done = browser.post(action).form(&[("email", email), ("decision", "allow")]).send().await?;
    let (status, reached) = (done.status().as_u16(), done.url().to_string());
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
