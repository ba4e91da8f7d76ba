//! Webhook messages: what is POSTed for a payload in each wire format
//! (`prepare`, pure and deterministic, so `preview` can show exactly what
//! would be sent; signed by `signing.rs`), and the HTTP client that sends it
//! and tells the retry policy what a failure means (`client.rs`).
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
//! `webhook/<format>.json`, which a site may override; `chat/` documents
//! what they get. Whatever a template renders must be JSON, or the message
//! is not sent.
//!
//! Every format carries `User-Agent`, `Content-Type: application/json` and
//! `webhook-id`. Slack and Teams webhook URLs are secrets themselves: a URL
//! is only ever shown as `scheme://host/…` ([`display_url`]).

mod chat;
mod client;
mod signing;

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

pub use client::{MAX_REDIRECTS, WebhookClient, host_key};
pub use signing::signature;

use crate::config::subscribers::{Language, WebhookFormat};
use crate::notify::{Payload, PostSnapshot};
use crate::templates::{TemplateError, Templates};

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
    /// A secret for Slack and Teams: never log it; `display_url` is safe.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl PreparedRequest {
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
            .field("url", &display_url(&self.url))
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
        ("User-Agent".to_string(), crate::net::USER_AGENT.to_string()),
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
                    signing::signature(secret, message_id, timestamp, &body),
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

/// `scheme://host[:port]/…`: all of a webhook URL that may be shown (Slack
/// and Teams URLs are secrets themselves; the port tells two local
/// receivers apart and is no secret).
pub fn display_url(url: &str) -> String {
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
