//! Customer invitations: rendering and handing to an SMTP server on loopback, one at a time (one
//! worker), against the SMTP sink of `tests/support/`.
//!
//! `cargo bench --bench invites` measures:
//! - `render`: the `.ics` and the whole MIME message (text, HTML, calendar part, attachment);
//! - `render_and_send`: the same, sent over SMTP (pooled connection), as `notify_customer` does;
//! - `render_and_send_8_at_once`: eight at once, as one worker with the default
//!   `jobs.concurrency` runs them (the time is for eight messages);
//! - `send_prebuilt`: sending an already built message: the transport's own ceiling, the
//!   baseline the others are read against.
//!
//! Messages per second = 1 / the median time.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use kalends_core::Config;
use kalends_core::domain::{
    Booking, BookingSpan, BookingStatus, Customer, NewBooking, Tenant, TenantSettings, TimeZone,
};
use kalends_core::invite::{Invite, InviteKind};
use kalends_ical::write::Party;
use kalends_service::customer_mail::{CustomerMail, Outcome};
use kalends_service::mail::{InviteEmail, Mailer, invite_message};
use kalends_store::MessageKind;
use secrecy::SecretString;
use uuid::Uuid;

#[path = "../tests/support/smtp_sink.rs"]
mod smtp_sink;

fn booking() -> Booking {
    let start = Utc::now() + chrono::Duration::days(30);
    Booking {
        id: Uuid::now_v7(),
        tenant_id: Uuid::now_v7(),
        data: NewBooking {
            external_id: None,
            resource_id: None,
            staff_ids: vec![],
            status: BookingStatus::Confirmed,
            title: "Deep tissue massage (90 min)".into(),
            description: Some(
                "Please arrive 10 minutes early.\nParking behind the building.".into(),
            ),
            location: Some("Sea Breeze Spa, 12 Beach Road, Cape Town".into()),
            customer: Some(Customer {
                name: "Ann Lee".into(),
                email: Some("ann@example.com".parse().unwrap()),
                phone: None,
            }),
            span: BookingSpan::timed(
                start,
                start + chrono::Duration::minutes(90),
                "Africa/Johannesburg".parse().unwrap(),
            )
            .unwrap(),
        },
        version: 1,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

fn tenant() -> Tenant {
    Tenant {
        id: Uuid::now_v7(),
        settings: TenantSettings { name: "Sea Breeze Spa".into(), ..Default::default() },
        created_at: Utc::now(),
    }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let sink = runtime.block_on(smtp_sink::SmtpSink::start());
    let config = Config {
        smtp_url: Some(SecretString::from(sink.url())),
        mail_from: "Sea Breeze <bookings@seabreeze.example>".into(),
        ..Default::default()
    };
    let key = Arc::new(secrecy::SecretBox::new(Box::new([7u8; 32])));
    let mail = runtime.block_on(async { CustomerMail::from_config(&config, key).unwrap() });
    let (tenant, booking) = (tenant(), booking());
    let zone: TimeZone = "Africa/Johannesburg".parse().unwrap();

    let mut group = c.benchmark_group("invites");
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("render", |b| {
        b.iter(|| {
            let ics = mail.render_invite(&tenant, &booking, zone, MessageKind::Request, 1).unwrap();
            let message = invite_message(&email(&booking, zone)).unwrap();
            (ics, message)
        })
    });
    group.bench_function("render_and_send", |b| {
        b.to_async(&runtime).iter(|| async {
            let outcome =
                mail.send_invite(&tenant, &booking, zone, MessageKind::Request, 1, false).await;
            assert!(matches!(outcome, Outcome::Sent { .. }), "{outcome:?}");
        })
    });
    // One worker runs `jobs.concurrency` (8) jobs at once, over lettre's connection pool.
    group.bench_function("render_and_send_8_at_once", |b| {
        b.to_async(&runtime).iter(|| async {
            let sends = (0..8)
                .map(|_| mail.send_invite(&tenant, &booking, zone, MessageKind::Request, 1, false));
            for outcome in futures::future::join_all(sends).await {
                assert!(matches!(outcome, Outcome::Sent { .. }), "{outcome:?}");
            }
        })
    });
    let mailer = runtime.block_on(async {
        Mailer::smtp(&SecretString::from(sink.url()), Duration::from_secs(30)).unwrap()
    });
    let prebuilt = invite_message(&email(&booking, zone)).unwrap();
    group.bench_function("send_prebuilt", |b| {
        b.to_async(&runtime).iter(|| async { mailer.send(prebuilt.clone()).await.unwrap() });
    });
    group.finish();
    // lettre's pools shut down through the runtime that built them.
    runtime.block_on(async move {
        drop(mail);
        drop(mailer);
    });
}

fn email<'a>(booking: &'a Booking, zone: TimeZone) -> InviteEmail<'a> {
    InviteEmail {
        invite: Invite {
            booking,
            kind: InviteKind::Request,
            sequence: 1,
            dtstamp: Utc::now(),
            zone,
            organizer: Party {
                email: "bookings@seabreeze.example",
                name: Some("Sea Breeze Spa"),
                rsvp: false,
            },
            attendee: Party { email: "ann@example.com", name: Some("Ann Lee"), rsvp: true },
            url: Some("https://kalends.example/invite/abc.ics"),
        },
        first: false,
        tenant_name: "Sea Breeze Spa",
        reply_to: None,
        customer_zone: None,
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
