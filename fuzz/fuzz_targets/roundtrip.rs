//! AFL++ entry point of the `roundtrip` target; the checks are in `kalends_fuzz::roundtrip`.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        kalends_fuzz::roundtrip::check(data);
    });
}
