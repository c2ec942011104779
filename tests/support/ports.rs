//! Ports for the processes a test starts (Kalends itself, Radicale, Xandikos).
//!
//! Self-contained (std only) so that any test crate can include it:
//! `#[path = "../../tests/support/ports.rs"] mod ports;`

/// A port nothing listens on now, for a process a test starts. Drawn at random from below the
/// kernel's ephemeral range, from which every `bind` to port 0 and every outgoing connection of
/// the tests running beside it take theirs: a port the kernel handed out and freed again could
/// be one of those before the process binds it (the process then stops, "address in use").
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    const LOWEST: u16 = 10_000;
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .filter(|first| *first > LOWEST + 1_000)
        .unwrap_or(32_768);
    for _ in 0..1_000 {
        // Each `RandomState` is seeded afresh: a random number without a crate for it.
        let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
        let port = LOWEST + u16::try_from(random % u64::from(ephemeral - LOWEST)).unwrap();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port below {ephemeral} in a thousand tries");
}
