//! The signature checks the guide hands to webhook receivers (Python, Node and Rust, in
//! `docs/src/integrators/examples/`) accept what Kalends signs and refuse what it did not: a
//! receiver that copies them verifies real deliveries.

use std::process::Command;

use kalends_core::webhooks::{new_secret, signature};
use secrecy::ExposeSecret as _;

use crate::helpers::needs_peers;
use crate::peer::peer;

/// The guide's Rust example, compiled as it is printed.
mod example {
    include!("../../docs/src/integrators/examples/verify_webhook.rs");
}

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/src/integrators/examples");

/// One signed delivery: the secret, the headers' values and the body.
struct Delivery {
    secret: String,
    id: &'static str,
    timestamp: i64,
    signatures: String,
    body: &'static str,
}

/// A delivery signed by Kalends with a new secret and, beside it, a rotated one (two `v1,`
/// signatures, the new secret's second).
fn signed_by_kalends() -> Delivery {
    let (old, new) = (new_secret(), new_secret());
    let body = r#"{"type":"booking.synced","timestamp":"2030-03-01T10:00:00Z","data":{}}"#;
    let (id, timestamp) = ("msg_2hV3b1Xq", 1_900_000_000);
    let signatures = signature(&[&old, &new], id, timestamp, body).unwrap();
    Delivery { secret: new.expose_secret().to_owned(), id, timestamp, signatures, body }
}

/// What the Rust example answers for `delivery` with `body`, checked at `now`.
fn rust_verdict(delivery: &Delivery, body: &str, now: i64) -> bool {
    let timestamp = delivery.timestamp.to_string();
    example::verify_webhook(
        &delivery.secret,
        delivery.id,
        &timestamp,
        &delivery.signatures,
        body.as_bytes(),
        now,
    )
}

#[test]
fn the_guides_rust_receiver_accepts_a_kalends_signature_and_nothing_else() {
    let delivery = signed_by_kalends();
    let now = delivery.timestamp + 10;
    assert!(rust_verdict(&delivery, delivery.body, now), "a real delivery is accepted");
    assert!(!rust_verdict(&delivery, &format!("{} ", delivery.body), now), "a changed body");
    assert!(!rust_verdict(&delivery, delivery.body, now + 600), "a replay ten minutes later");
    let other = Delivery { secret: new_secret().expose_secret().to_owned(), ..delivery };
    assert!(!rust_verdict(&other, other.body, now), "another endpoint's secret");
    // The example of the Standard Webhooks specification.
    assert!(example::verify_webhook(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265330",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        br#"{"test": 2432232314}"#,
        1_614_265_330,
    ));
}

needs_peers!(
    "needs Python and Node: run scripts/test";
    the_guides_python_and_node_receivers_accept_a_kalends_signature_and_nothing_else,
);

/// Runs `program` on `script` and returns the last line it printed.
fn run(mut command: Command, what: &str) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.status.success(), "{what} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().lines().last().unwrap_or_default().to_owned()
}

async fn the_guides_python_and_node_receivers_accept_a_kalends_signature_and_nothing_else() {
    let d = signed_by_kalends();
    // Three checks each: the delivery, the body changed by one byte, a replay ten minutes later.
    let cases = format!(
        "[[{body:?}, {now}], [{body:?} + \" \", {now}], [{body:?}, {late}]]",
        body = d.body,
        now = d.timestamp + 10,
        late = d.timestamp + 610,
    );
    let headers = format!(
        r#"{{"webhook-id": "{}", "webhook-timestamp": "{}", "webhook-signature": "{}"}}"#,
        d.id, d.timestamp, d.signatures
    );
    let mut python = Command::new(peer("KALENDS_TEST_PYTHON"));
    python.arg("-c").arg(format!(
        "exec(open('{EXAMPLES}/verify_webhook.py').read())\n\
         print([verify_webhook({secret:?}, {headers}, body.encode(), now=now) for body, now in {cases}])",
        secret = d.secret,
    ));
    assert_eq!(run(python, "the Python example"), "[True, False, False]");
    let mut node = Command::new("node");
    node.env("KALENDS_TEST_NODE_PATH", peer("KALENDS_TEST_NODE_PATH")).arg("-e").arg(format!(
        "const {{ verifyWebhook }} = require('{EXAMPLES}/verify_webhook.js');\n\
         console.log(JSON.stringify({cases}.map(([body, now]) => verifyWebhook({secret:?}, {headers}, Buffer.from(body), now))));",
        secret = d.secret,
    ));
    assert_eq!(run(node, "the Node example"), "[true,false,false]");
}
