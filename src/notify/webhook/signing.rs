//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>):
//! `v1,<base64 HMAC-SHA256 over "{id}.{timestamp}.{body}">`, so a receiver
//! can check a message came from us and was not replayed later.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// The key Standard Webhooks signs with: the secret without `whsec_`,
/// base64-decoded, as `config::subscribers::signing_key` reads it (which
/// refuses any other secret when the subscribers are resolved, so this
/// fallback to raw bytes is never reached for a checked subscriber).
fn signing_key(secret: &SecretString) -> Vec<u8> {
    let secret = secret.expose_secret();
    crate::config::subscribers::signing_key(secret).unwrap_or_else(|_| secret.as_bytes().to_vec())
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
pub fn signature(secret: &SecretString, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&signing_key(secret))
        .expect("HMAC takes a key of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}
