// Cargo.toml: hmac = "0.12", sha2 = "0.10", base64 = "0.22", subtle = "2"
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

const TOLERANCE_SECS: i64 = 5 * 60;

/// Whether a Kalends webhook (Standard Webhooks v1) was signed with `secret` ("whsec_...").
/// `id`, `timestamp` and `signatures` are the `webhook-id`, `webhook-timestamp` and
/// `webhook-signature` headers; `body` is the raw body, exactly as received (parse the JSON only
/// after this returns true); `now` is the current Unix time in seconds.
pub fn verify_webhook(
    secret: &str,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> bool {
    let Ok(sent_at) = timestamp.parse::<i64>() else { return false };
    if (now - sent_at).abs() > TOLERANCE_SECS {
        return false; // too old or from the future: a replay
    }
    let Ok(key) = STANDARD.decode(secret.strip_prefix("whsec_").unwrap_or(secret)) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else { return false };
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = mac.finalize().into_bytes().to_vec();
    // One "v1,<base64>" per valid secret, space-separated (two while a rotated secret is valid).
    signatures.split(' ').any(|candidate| match candidate.split_once(',') {
        Some(("v1", signature)) => STANDARD
            .decode(signature)
            .is_ok_and(|offered| bool::from(offered.ct_eq(&expected))),
        _ => false,
    })
}
