const crypto = require("node:crypto");

const TOLERANCE_SECS = 5 * 60;

// Whether a Kalends webhook (Standard Webhooks v1) was signed with `secret` ("whsec_...").
// `headers` are the request's headers with lower-case names (as Node gives them); `body` is the
// raw body as a Buffer, exactly as received (parse the JSON only after this returns true).
function verifyWebhook(secret, headers, body, now = Date.now() / 1000) {
  const msgId = headers["webhook-id"];
  const timestamp = headers["webhook-timestamp"];
  if (Math.abs(now - Number.parseInt(timestamp, 10)) > TOLERANCE_SECS) {
    return false; // too old or from the future: a replay
  }
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = crypto
    .createHmac("sha256", key)
    .update(Buffer.concat([Buffer.from(`${msgId}.${timestamp}.`), body]))
    .digest();
  // One "v1,<base64>" per valid secret, space-separated (two while a rotated secret is valid).
  return headers["webhook-signature"].split(" ").some((candidate) => {
    const [version, signature] = candidate.split(",", 2);
    const offered = Buffer.from(signature ?? "", "base64");
    return version === "v1" && offered.length === expected.length && crypto.timingSafeEqual(offered, expected);
  });
}

module.exports = { verifyWebhook };
