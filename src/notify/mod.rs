//! Telling subscribers about new posts: who (config), what to send (the
//! snapshot of a post taken when it was planned), and the senders (email and
//! webhooks). Planning lives in `plan.rs`, bookkeeping in `state/`.

pub mod deliver;
pub mod email;
pub mod plan;
pub mod webhook;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::Post;

/// What a notification says about a post, frozen when the delivery is
/// planned: a retry next week sends the same words even if the post was
/// edited since.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostSnapshot {
    pub title: String,
    pub url: String,
    pub summary: Option<String>,
    pub date: DateTime<Utc>,
    pub tags: Vec<TagSnapshot>,
    pub authors: Vec<String>,
    /// Absolute URL of the post image.
    pub image: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagSnapshot {
    pub key: String,
    pub label: String,
    /// Absolute URL of the tag page.
    pub url: String,
}

/// The blog a message comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlogInfo {
    /// The feed definition's name (`example` for `feeds/example.toml`).
    pub name: String,
    pub title: String,
    /// Absolute URL of the blog's page.
    pub url: String,
    /// Absolute URL of the blog's Atom feed.
    pub feed_url: String,
}

/// One message to send: a single post, or (digest) several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    pub blog: BlogInfo,
    pub posts: Vec<PostSnapshot>,
}

/// Why a send failed, as the retry policy needs to know it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later: connection refused or reset, timeouts, SMTP
    /// 4xx, HTTP 408/429/5xx. `retry_after` honours the receiver's wish.
    #[error("{reason}")]
    Transient {
        reason: String,
        retry_after: Option<std::time::Duration>,
    },
    /// Trying again will not help: SMTP 5xx, HTTP 4xx.
    #[error("{reason}")]
    Permanent { reason: String },
    /// HTTP 410: the receiver is gone for good; the subscriber is disabled.
    #[error("{reason}")]
    Gone { reason: String },
}

impl PostSnapshot {
    pub fn of(post: &Post, site_url: &str, summary: Option<String>, image: Option<String>) -> Self {
        PostSnapshot {
            title: post.title.clone(),
            url: post.url.clone(),
            summary,
            date: post.date,
            tags: post
                .tags
                .iter()
                .map(|t| TagSnapshot {
                    key: t.key.clone(),
                    label: t.label.clone(),
                    url: format!("{site_url}{}", t.permalink),
                })
                .collect(),
            authors: post
                .authors
                .iter()
                .map(|a| a.display_name().to_string())
                .collect(),
            image,
        }
    }
}
