//! A small deterministic generator (xorshift), so that every run of a benchmark writes the same
//! data. Included with `#[path = "common/rng.rs"] mod rng;`.

/// The generator's state; start it from any non-zero seed.
pub struct Rng(pub u64);

impl Rng {
    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}
