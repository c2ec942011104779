//! `sqlx::migrate!` embeds the migrations at compile time: rebuild when one is added or changed
//! (otherwise a new migration file is silently left out of the binary).
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
