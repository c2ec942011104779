//! Where a test finds its peer (tests/peers/README.md: the iCalendar validators, Radicale and
//! Xandikos, Python `standardwebhooks`, headless Chromium, axe-core): in a variable that
//! `scripts/test` exports after installing it. A test that needs a peer is `#[ignore]`d, so a
//! plain `cargo test` reports it as ignored; when it runs without its peer it fails, it never
//! passes without checking.
//!
//! Self-contained (std only) so that any test crate can include it:
//! `#[path = "../../tests/support/peer.rs"] mod peer;`

#![allow(dead_code)]

/// The value of `var` (a peer's path, as `scripts/test` exports it); the test fails with one line
/// naming `var` and `scripts/test` when it is unset or empty.
#[track_caller]
pub fn peer(var: &str) -> String {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!(
            "{var} is not set: this test needs a peer that scripts/test installs and exports (tests/peers/README.md); run it with scripts/test"
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[should_panic(
        expected = "KALENDS_TEST_NO_SUCH_PEER is not set: this test needs a peer that scripts/test installs"
    )]
    fn a_test_without_its_peer_fails_naming_the_variable_and_scripts_test() {
        super::peer("KALENDS_TEST_NO_SUCH_PEER");
    }
}
