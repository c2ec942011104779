//! AFL++ entry point of the `api_json` target; the checks are in `kalends_fuzz::api_json`.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        kalends_fuzz::api_json::check(data);
    });
}
