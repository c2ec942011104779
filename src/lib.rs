//! Kalends: the binary's library. `main` parses arguments and calls [`cli::main`]; tests and
//! benchmarks start the same [`app`] in-process.

pub mod api;
pub mod app;
pub mod cli;
pub mod client_addr;
pub mod connections;
pub mod demo;
pub mod feed_cache;
pub mod feed_guides;
pub mod feeds;
pub mod ics_check;
pub mod input;
pub mod links;
pub mod ops;
pub mod pages;
pub mod public_http;
pub mod sandbox;
pub mod server;
pub mod state;
pub mod supervisor;
pub mod telemetry;
pub mod webhooks;
pub mod widget;
pub mod widget_lookup;
