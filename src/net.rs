//! What every outgoing connection shares: the User-Agent postbode sends and
//! the one TLS set-up (rustls with ring, the provider lettre and sqlx use
//! too), so webhooks, WebSub pings and SMTP trust the same roots.

use std::sync::Arc;

/// Sent with every HTTP request (webhooks, WebSub pings).
pub const USER_AGENT: &str = concat!(
    "postbode/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/developer-overheid-nl/postbode)"
);

/// The crypto provider for every TLS connection.
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Makes ring the process-wide default: reqwest is built without a default
/// provider. Installing twice is harmless: the first one stays.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
