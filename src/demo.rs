//! The first run's demo: on an empty embedded database, the "Demo" tenant gets two properties,
//! a staff member, bookings over the next weeks, a feed for the platforms, and an Airbnb import
//! (the sandbox's export) whose reservation collides with a direct booking, so the console
//! opens on something to look at: a timeline, a feed to copy, an import's runs, one conflict.
//! Everything is labelled "(demo)"; `kalends serve --no-demo` starts without it.

use chrono::{Duration, NaiveDate, Utc};
use kalends_core::config::SecretKey;
use kalends_core::domain::{
    BookingSpan, BookingStatus, Customer, FeedProfile, FeedScope, NewBooking, NewFeed, NewImport,
    NewResource, NewStaff, Owner, Platform, Tenant,
};
use kalends_core::service::{bookings, directory, feeds, imports};
use kalends_core::store::Overlap;
use kalends_core::{Store, StoreError};

/// Seeds the demo for `tenant`. `sandbox`: the base URL of the mounted provider sandbox, whose
/// Airbnb export the demo imports (without a sandbox there is no import, and no conflict).
pub async fn seed(
    store: &Store,
    tenant: &Tenant,
    key: &SecretKey,
    sandbox: Option<&str>,
) -> Result<(), StoreError> {
    let place = |name: &str| NewResource {
        external_id: None,
        name: format!("{name} (demo)"),
        time_zone: None,
    };
    let cottage = directory::create_resource(store, tenant.id, place("Sea View Cottage")).await?;
    let garden = directory::create_resource(store, tenant.id, place("Garden Room")).await?;
    let ann = NewStaff {
        external_id: None,
        name: "Ann Lee (demo housekeeping)".into(),
        email: "ann@example.com".parse().ok(),
        time_zone: None,
    };
    let ann = directory::create_staff(store, tenant.id, ann).await?;
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
        };
        let import = imports::create(store, tenant, import).await?;
        imports::run_soon(store, tenant.id, import.id).await?;
    }
    Ok(())
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
