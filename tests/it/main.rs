//! End-to-end tests of Kalends: one test binary, one module per concern.
//!
//! Tests that need PostgreSQL or Redis are `#[ignore]`d in a plain `cargo test`; `scripts/test`
//! starts throwaway servers, exports `KALENDS_TEST_POSTGRES_URL` / `KALENDS_TEST_REDIS_URL` and
//! runs them with `--include-ignored`. So are the tests that need a peer of `tests/peers/` (a
//! validator, Radicale or Xandikos, Chromium...): `helpers::needs_peers!` puts them in modules
//! named `peers*`, and `scripts/test` provides their peers or, with `--no-peers`, skips them by
//! that name. Run without their peer, they fail (`peer::peer`).

mod alert_emails;
mod api;
mod availability_rules;
mod backlog;
mod booking_recheck;
mod caldav;
mod caldav_client;
mod caldav_servers;
mod calendar_import;
mod chaos;
mod checklists;
mod combined_properties;
mod connect;
mod console;
mod console_webhooks;
mod docs;
mod feeds;
mod hardening_crash;
mod hardening_http;
mod hardening_imports;
mod hardening_lifecycle;
mod hardening_shared;
mod hardening_writes;
mod helpers;
mod hostile_servers;
mod ics_flagged;
mod ics_ranges;
mod import_settings;
mod invites;
mod landing;
mod monitoring;
mod organisations;
mod organisations_busy_only;
mod organisations_microsoft;
mod outbound_webhooks;
#[path = "../support/peer.rs"]
mod peer;
#[path = "../support/ports.rs"]
mod ports;
mod process;
mod queue;
#[path = "../support/smtp_sink.rs"]
mod smtp_sink;
mod split;
mod staff_sessions;
mod store;
mod sync;
mod webhook_crash;
mod webhook_examples;
mod webhooks;
mod widget;
mod zones;
