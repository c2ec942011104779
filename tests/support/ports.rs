//! Ports for the processes a test starts (Kalends itself, Radicale, Xandikos).
//!
//! Self-contained (std only) so that any test crate can include it:
//! `#[path = "../../tests/support/ports.rs"] mod ports;`

/// A port nothing listens on now, for a process a test starts (or a server whose address must be
/// known before it starts), never handed out twice in this process. Drawn at random from below
/// the kernel's ephemeral range, from which every `bind` to port 0 and every outgoing connection
/// of the tests running beside it take theirs: a port the kernel handed out and freed again could
/// be one of those before the process binds it (the process then stops, "address in use").
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let (lowest, highest) = range();
    for _ in 0..1_000 {
        // Each `RandomState` is seeded afresh: a random number without a crate for it.
        let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
        let port = lowest + u16::try_from(random % u64::from(highest - lowest)).unwrap();
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Free on every address, so also where a process listens on all of them.
        if !handed_out.contains(&port) && std::net::TcpListener::bind(("0.0.0.0", port)).is_ok() {
            handed_out.push(port);
            return port;
        }
    }
    panic!("no free port in {lowest}..{highest} in a thousand tries");
}

/// Where [`free_port`] draws from: 10000 up to the start of the ephemeral range, or, on a
/// machine whose range starts lower than 20000, from its end up.
fn range() -> (u16, u16) {
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| {
            let mut ends = range.split_whitespace().map(|end| end.parse::<u16>().ok());
            Some((ends.next()??, ends.next()??))
        })
        .unwrap_or((32_768, 60_999));
    match ephemeral {
        (first, _) if first >= 20_000 => (10_000, first),
        (_, last) if last < 55_000 => (last + 1, 65_535),
        // The whole range is the kernel's: any port will do as well as another.
        _ => (10_000, 65_535),
    }
}
