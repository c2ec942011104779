import base64
import hashlib
import hmac
import time

TOLERANCE_SECS = 5 * 60


def verify_webhook(secret: str, headers: dict, body: bytes, now: float | None = None) -> bool:
    """Whether a Kalends webhook (Standard Webhooks v1) was signed with `secret` ("whsec_...").

    `headers` are the request's headers with lower-case names; `body` is the raw body, exactly as
    received (parse the JSON only after this returns True).
    """
    msg_id = headers["webhook-id"]
    timestamp = headers["webhook-timestamp"]
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > TOLERANCE_SECS:
        return False  # too old or from the future: a replay
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    # One "v1,<base64>" per valid secret, space-separated (two while a rotated secret is valid).
    for candidate in headers["webhook-signature"].split(" "):
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return True
    return False
