//! Webhook messages: what is POSTed for a payload in each wire format
//! (`prepare`, pure and deterministic, so `preview` can print exactly what
//! would be sent) and the HTTP client that sends it and tells the retry
//! policy what a failure means (`WebhookClient::send`).
//!
//! ## The `json` format (the documented contract)
//!
//! Built with serde, not a template, so its shape only changes on purpose:
//!
//! ```json
//! {
//!   "type": "post.published",          // "posts.digest" for several posts
//!   "timestamp": "2025-07-15T08:00:00Z", // when the message was made
//!   "blog": {"name": "…", "title": "…", "url": "https://…", "feed_url": "https://…/atom.xml"},
//!   "post": { …the post… },            // only for "post.published": posts[0]
//!   "posts": [{
//!     "title": "…", "url": "https://…", "summary": "…" | null,
//!     "date": "2025-07-15T00:00:00Z",
//!     "tags": [{"key": "api", "label": "API", "url": "https://…/tags/api"}],
//!     "authors": ["Ann de Vries"], "image": "https://…" | null
//!   }]
//! }
//! ```
//!
//! Signed as Standard Webhooks (<https://www.standardwebhooks.com/>) asks:
//! `webhook-id` (the delivery's id: the same on every retry, so a receiver
//! can drop duplicates), `webhook-timestamp` (Unix seconds) and
//! `webhook-signature: v1,<base64 HMAC-SHA256 over "{id}.{timestamp}.{body}">`.
//! The key is the secret without an optional `whsec_` prefix, base64-decoded
//! as the spec says; a secret that is not valid base64 is used as its raw
//! bytes instead (so a plain shared password also works, with receivers
//! that hash the configured string as is). Without a secret the id and
//! timestamp are still sent, the signature is not.
//!
//! ## Chat formats
//!
//! Slack, Teams (Workflows/Power Automate webhook with an Adaptive Card),
//! Mattermost and Discord bodies come from the minijinja templates
//! `webhook/<format>.json`, which a site may override; `chat.rs` documents
//! what they get. Whatever a template renders must be JSON, or the message
//! is not sent.
//!
//! Every format carries `User-Agent`, `Content-Type: application/json` and
//! `webhook-id`. Slack and Teams webhook URLs are secrets themselves: a URL
//! is only ever shown as `scheme://host/…`.

mod chat;
#[cfg(test)]
mod receiver;

use std::fmt;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::Sha256;

use crate::config::subscribers::{Language, WebhookFormat};
use crate::notify::{Payload, PostSnapshot, SendError};
use crate::templates::{TemplateError, Templates};

pub const USER_AGENT: &str = concat!(
    "postbode/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/developer-overheid-nl/postbode)"
);

/// How much of a failed response's body an error message quotes.
const BODY_IN_ERROR: usize = 200;
/// How much of any response body is read (so the connection can be reused);
/// the rest is dropped with the connection.
const BODY_READ_LIMIT: usize = 64 * 1024;

/// Why a message could not be made: nothing to do with the receiver, so a
/// retry would fail the same way.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("a webhook message needs at least one post")]
    NoPosts,
    #[error("the webhook URL is not an http(s) URL")]
    InvalidUrl,
    #[error("the message id {0:?} cannot be sent in an HTTP header")]
    InvalidMessageId(String),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("template {name} did not render JSON: {error}")]
    InvalidJson { name: String, error: String },
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

/// One HTTP POST, ready to send (or to print).
#[derive(Clone, PartialEq, Eq)]
pub struct PreparedRequest {
    /// A secret for Slack and Teams: never log it; `redacted_url` is safe.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl PreparedRequest {
    /// `scheme://host[:port]/…`: the URL as it may be shown.
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for PreparedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedRequest")
            .field("url", &self.redacted_url())
            .field("headers", &self.headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

/// The message for `payload` in `format`, with Dutch labels in the chat
/// formats (the default language of a subscriber); see `prepare_in`.
pub fn prepare(
    payload: &Payload,
    format: WebhookFormat,
    url: &SecretString,
    secret: Option<&SecretString>,
    templates: &Templates,
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<PreparedRequest, WebhookError> {
    prepare_in(
        Language::Nl,
        payload,
        format,
        url,
        secret,
        templates,
        message_id,
        now,
    )
}

/// `prepare` with the labels of the chat formats ("New post on", "Read the
/// post") in `language`. The same inputs always give the same request.
#[allow(clippy::too_many_arguments)]
pub fn prepare_in(
    language: Language,
    payload: &Payload,
    format: WebhookFormat,
    url: &SecretString,
    secret: Option<&SecretString>,
    templates: &Templates,
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<PreparedRequest, WebhookError> {
    if payload.posts.is_empty() {
        return Err(WebhookError::NoPosts);
    }
    let url = url.expose_secret();
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        _ => return Err(WebhookError::InvalidUrl),
    }
    if message_id.is_empty() || !message_id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(WebhookError::InvalidMessageId(message_id.to_string()));
    }
    let mut headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        ("User-Agent".to_string(), USER_AGENT.to_string()),
        ("webhook-id".to_string(), message_id.to_string()),
    ];
    let body = match format {
        WebhookFormat::Json => {
            let body = json_body(payload, now);
            let timestamp = now.timestamp();
            headers.push(("webhook-timestamp".into(), timestamp.to_string()));
            if let Some(secret) = secret {
                headers.push((
                    "webhook-signature".into(),
                    signature(secret, message_id, timestamp, &body),
                ));
            }
            body
        }
        chat_format => {
            let name = format!("webhook/{}.json", chat_format.name());
            let ctx = chat::context(payload, chat_format, language, message_id, now);
            let ctx =
                serde_json::to_value(&ctx).expect("the chat context is plain data and serializes");
            let text = templates.render(&name, &ctx)?;
            let text = text.trim();
            serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| {
                WebhookError::InvalidJson {
                    name,
                    error: e.to_string(),
                }
            })?;
            text.as_bytes().to_vec()
        }
    };
    Ok(PreparedRequest {
        url: url.to_string(),
        headers,
        body,
    })
}

#[derive(Serialize)]
struct JsonBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: String,
    blog: JsonBlog<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    post: Option<JsonPost<'a>>,
    posts: Vec<JsonPost<'a>>,
}

#[derive(Serialize)]
struct JsonBlog<'a> {
    name: &'a str,
    title: &'a str,
    url: &'a str,
    feed_url: &'a str,
}

#[derive(Serialize, Clone)]
struct JsonPost<'a> {
    title: &'a str,
    url: &'a str,
    summary: Option<&'a str>,
    date: String,
    tags: Vec<JsonTag<'a>>,
    authors: &'a [String],
    image: Option<&'a str>,
}

#[derive(Serialize, Clone)]
struct JsonTag<'a> {
    key: &'a str,
    label: &'a str,
    url: &'a str,
}

impl<'a> JsonPost<'a> {
    fn of(p: &'a PostSnapshot) -> Self {
        JsonPost {
            title: &p.title,
            url: &p.url,
            summary: p.summary.as_deref(),
            date: p.date.to_rfc3339_opts(SecondsFormat::Secs, true),
            tags: p
                .tags
                .iter()
                .map(|t| JsonTag {
                    key: &t.key,
                    label: &t.label,
                    url: &t.url,
                })
                .collect(),
            authors: &p.authors,
            image: p.image.as_deref(),
        }
    }
}

fn json_body(payload: &Payload, now: DateTime<Utc>) -> Vec<u8> {
    let posts: Vec<JsonPost> = payload.posts.iter().map(JsonPost::of).collect();
    let single = posts.len() == 1;
    let body = JsonBody {
        kind: if single {
            "post.published"
        } else {
            "posts.digest"
        },
        timestamp: now.to_rfc3339_opts(SecondsFormat::Secs, true),
        blog: JsonBlog {
            name: &payload.blog.name,
            title: &payload.blog.title,
            url: &payload.blog.url,
            feed_url: &payload.blog.feed_url,
        },
        post: if single { posts.first().cloned() } else { None },
        posts,
    };
    serde_json::to_vec(&body).expect("the json body is plain data and serializes")
}

/// The key Standard Webhooks signs with: the secret without `whsec_`,
/// base64-decoded; raw bytes when it is not base64 (see the module docs).
fn signing_key(secret: &SecretString) -> Vec<u8> {
    let secret = secret.expose_secret();
    let secret = secret.strip_prefix("whsec_").unwrap_or(secret);
    BASE64
        .decode(secret)
        .unwrap_or_else(|_| secret.as_bytes().to_vec())
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

/// `host:port` of a webhook URL, so a caller can bound how many requests go
/// to one receiver at once. Not secret: no path, no query.
pub fn host_key(url: &SecretString) -> String {
    match url::Url::parse(url.expose_secret()) {
        Ok(u) => match (u.host_str(), u.port_or_known_default()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            (None, _) => "(no host)".into(),
        },
        Err(_) => "(invalid URL)".into(),
    }
}

/// `scheme://host[:port]/…`: all of a URL that may be shown.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("?");
            match u.port() {
                Some(port) => format!("{}://{host}:{port}/…", u.scheme()),
                None => format!("{}://{host}/…", u.scheme()),
            }
        }
        Err(_) => "(invalid URL)".into(),
    }
}

/// Sends prepared webhook requests over a shared connection pool.
#[derive(Debug, Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    timeout: Duration,
}

impl WebhookClient {
    /// `timeout` bounds a whole request (connecting at most 10 s of it);
    /// `max_redirects` 0 follows none (a 3xx is then a permanent failure).
    pub fn new(timeout: Duration, max_redirects: usize) -> Result<Self, WebhookError> {
        // reqwest is built without a default crypto provider; ring is the
        // one the rest of postbode (lettre, sqlx) uses. Installing twice is
        // harmless: the first one stays.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let redirects = if max_redirects == 0 {
            reqwest::redirect::Policy::none()
        } else {
            reqwest::redirect::Policy::limited(max_redirects)
        };
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(redirects)
            .http1_only()
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| WebhookError::Client(error_chain(&e.without_url())))?;
        Ok(WebhookClient { http, timeout })
    }

    /// POSTs `req`. 2xx is success; 408, 429, 5xx and network trouble are
    /// worth retrying (honouring `Retry-After`); 410 means the receiver is
    /// gone; any other answer is permanent. Errors never contain the URL
    /// beyond `scheme://host/…`.
    pub async fn send(&self, req: &PreparedRequest) -> Result<(), SendError> {
        let shown = req.redacted_url();
        let url = url::Url::parse(&req.url).map_err(|_| SendError::Permanent {
            reason: "the webhook URL is not a valid URL".into(),
        })?;
        let mut builder = self.http.post(url);
        for (name, value) in &req.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let mut response = match builder.body(req.body.clone()).send().await {
            Ok(r) => r,
            Err(e) => return Err(self.transport_error(e, &shown, &req.url)),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        // Read the body (bounded) so the connection goes back to the pool,
        // and to quote it when the receiver says no.
        let mut body = Vec::new();
        while body.len() < BODY_READ_LIMIT {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
        if status.is_success() {
            return Ok(());
        }
        let mut reason = format!("HTTP {status} from {shown}");
        let snippet = body_snippet(&body);
        if !snippet.is_empty() {
            reason.push_str(": ");
            reason.push_str(&snippet);
        }
        let reason = scrub(reason, &req.url, &shown);
        Err(classify(status.as_u16(), reason, retry_after))
    }

    fn transport_error(&self, e: reqwest::Error, shown: &str, url: &str) -> SendError {
        let what = if e.is_timeout() {
            format!("timed out after {:?}", self.timeout)
        } else if e.is_connect() {
            "cannot connect".into()
        } else if e.is_redirect() {
            "too many redirects".into()
        } else {
            "request failed".into()
        };
        let permanent = e.is_redirect() || e.is_builder();
        let reason = scrub(
            format!("POST {shown}: {what}: {}", error_chain(&e.without_url())),
            url,
            shown,
        );
        if permanent {
            SendError::Permanent { reason }
        } else {
            SendError::Transient {
                reason,
                retry_after: None,
            }
        }
    }
}

/// What an HTTP status means for the retry policy.
fn classify(status: u16, reason: String, retry_after: Option<Duration>) -> SendError {
    match status {
        408 | 429 | 500..=599 => SendError::Transient {
            reason,
            retry_after,
        },
        410 => SendError::Gone { reason },
        _ => SendError::Permanent { reason },
    }
}

/// `Retry-After` as delta-seconds (Discord sends fractions) or an HTTP date
/// (RFC 9110 §10.2.3); a date in the past means now.
fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    // IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) is RFC 2822 syntax.
    let date = DateTime::parse_from_rfc2822(value).ok()?;
    Some((date.to_utc() - now).to_std().unwrap_or(Duration::ZERO))
}

/// Up to `BODY_IN_ERROR` characters of a response body, on one line.
fn body_snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let words: Vec<&str> = text.split_whitespace().collect();
    let line = words.join(" ");
    match line.char_indices().nth(BODY_IN_ERROR) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// An error and its sources, `a: b: c`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Takes the URL (and its path and query) out of a message, should a
/// receiver's body or an error from below echo it.
fn scrub(mut text: String, url: &str, shown: &str) -> String {
    if !url.is_empty() && text.contains(url) {
        text = text.replace(url, shown);
    }
    if let Ok(u) = url::Url::parse(url) {
        let full = u.as_str();
        if text.contains(full) {
            text = text.replace(full, shown);
        }
        let rest = &u[url::Position::BeforePath..];
        if rest.len() > 1 && text.contains(rest) {
            text = text.replace(rest, "/…");
        }
    }
    text
}

#[cfg(test)]
mod tests;
