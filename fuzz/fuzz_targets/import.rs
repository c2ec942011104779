//! AFL++ entry point of the `import` target; the checks are in `kalends_fuzz::import`.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        kalends_fuzz::import::check(data);
    });
}
