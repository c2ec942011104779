//! The checks behind the fuzz targets, one function per target, so that a crashing input can be
//! replayed outside AFL (`cargo run --bin <target> < input` in an uninstrumented build, see
//! `FUZZING.md`). Each function panics when a property a user relies on does not hold.

#![forbid(unsafe_code)]

pub mod api_json;
pub mod decode;
pub mod import;
pub mod roundtrip;
