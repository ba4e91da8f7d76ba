//! `[serve]`: where a blog's subscription pages are reachable and the names
//! of the environment variables holding their secrets (never the secrets:
//! feed definitions live in git). Read by `postbode serve`, and by `notify`
//! for the manage and unsubscribe links in every email.

use serde::{Deserialize, Deserializer, de::Error as _};

/// The shortest secret accepted: 32 bytes, the size of the HMAC-SHA256 key
/// it becomes.
pub const MIN_SECRET_LEN: usize = 32;

/// `[serve]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a [serve] table (public_url = \"https://…\", secret_env = \"…\")"
)]
pub struct RawServe {
    #[serde(deserialize_with = "public_url")]
    pub public_url: String,
    pub secret_env: String,
    /// Bearer token of the webhook API; without it the API is off. The
    /// issue that asked for this spelled it `allow_webhooks_api_token_env`.
    #[serde(default, alias = "allow_webhooks_api_token_env")]
    pub webhooks_api_token_env: Option<String>,
    /// Behind a reverse proxy every request comes from the proxy's address;
    /// with this set, the per-client limit of sign-ups counts the address
    /// the proxy appended last to `X-Forwarded-For` instead. Only set it
    /// when the service is reachable through the proxy alone: anyone who
    /// can reach it directly can write that header.
    #[serde(default)]
    pub trust_forwarded_for: bool,
}

/// `[serve]` checked: `public_url` without trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    pub public_url: String,
    pub secret_env: String,
    pub webhooks_api_token_env: Option<String>,
    pub trust_forwarded_for: bool,
}

impl From<RawServe> for ServeConfig {
    fn from(raw: RawServe) -> ServeConfig {
        ServeConfig {
            public_url: raw.public_url,
            secret_env: raw.secret_env,
            webhooks_api_token_env: raw.webhooks_api_token_env,
            trust_forwarded_for: raw.trust_forwarded_for,
        }
    }
}

impl ServeConfig {
    /// The absolute URL of a page of blog `blog`: `page("example",
    /// "subscribe")` is `{public_url}/example/subscribe`.
    pub fn page(&self, blog: &str, rest: &str) -> String {
        format!(
            "{}/{blog}/{}",
            self.public_url,
            rest.trim_start_matches('/')
        )
    }

    /// The origin (`https://host[:port]`) forms must be posted from.
    pub fn origin(&self) -> String {
        url::Url::parse(&self.public_url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default()
    }

    /// The secret from its variable, or what is wrong with it.
    pub fn secret(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<u8>, String> {
        match env(&self.secret_env) {
            None => Err(format!(
                "serve: secret_env names {}, which is not set",
                self.secret_env
            )),
            Some(s) if s.len() < MIN_SECRET_LEN => Err(format!(
                "serve: the secret in {} is {} bytes; use at least {MIN_SECRET_LEN} random bytes \
                 (e.g. `openssl rand -hex 32`)",
                self.secret_env,
                s.len()
            )),
            Some(s) => Ok(s.into_bytes()),
        }
    }
}

/// An https URL (http only on loopback, for tests), without query or
/// fragment; the trailing slash is dropped.
fn public_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    let url = url::Url::parse(&text)
        .map_err(|e| D::Error::custom(format!("public_url {text:?} is not a URL ({e})")))?;
    match url.scheme() {
        "https" => {}
        "http" if super::subscribers::is_loopback(&url) => {}
        other => {
            return Err(D::Error::custom(format!(
                "public_url must use https (got {other}:); plain http only on localhost"
            )));
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(D::Error::custom(
            "public_url may not have a query or a fragment",
        ));
    }
    Ok(text.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(url: &str) -> Result<RawServe, toml::de::Error> {
        toml::from_str(&format!("public_url = {url:?}\nsecret_env = \"S\""))
    }

    #[test]
    fn public_url_must_be_https_except_on_loopback() {
        let ok: ServeConfig = raw("https://developer.overheid.nl/abonneren/")
            .unwrap()
            .into();
        assert_eq!(ok.public_url, "https://developer.overheid.nl/abonneren");
        assert_eq!(
            ok.page("blog", "/subscribe"),
            "https://developer.overheid.nl/abonneren/blog/subscribe"
        );
        assert_eq!(ok.origin(), "https://developer.overheid.nl");
        assert!(raw("http://127.0.0.1:8080").is_ok());
        let err = raw("http://example.org").unwrap_err().to_string();
        assert!(err.contains("must use https"), "{err}");
        assert!(raw("https://example.org/?a=1").is_err());
    }

    #[test]
    fn a_short_or_missing_secret_is_refused() {
        let cfg: ServeConfig = raw("https://example.org").unwrap().into();
        assert!(cfg.secret(&|_| None).unwrap_err().contains("not set"));
        assert!(
            cfg.secret(&|_| Some("short".into()))
                .unwrap_err()
                .contains("at least 32")
        );
        assert_eq!(cfg.secret(&|_| Some("x".repeat(32))).unwrap().len(), 32);
    }
}
