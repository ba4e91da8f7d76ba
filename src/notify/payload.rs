//! What a notification says: the blog it comes from and a snapshot of each
//! post, frozen when the delivery is planned and stored as JSON in its
//! outbox row, so a retry next week sends the same words even if the post
//! was edited since.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::BlogConfig;
use crate::model::Post;
use crate::posts;
use crate::render::{self, Assets, Document, Site};

/// A post as a notification shows it.
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

pub fn blog_info(config: &BlogConfig) -> BlogInfo {
    BlogInfo {
        name: config.name.clone(),
        title: config.title.clone(),
        url: config.site_link(&config.blog_route("")),
        feed_url: format!("{}/atom.xml", config.feeds_url),
    }
}

/// A post as a notification shows it: its summary and absolute image URL.
pub fn snapshot(config: &BlogConfig, post: &Post) -> PostSnapshot {
    let body = posts::read_body(config, post).unwrap_or_default();
    let summary = render::post_summary(post.description.as_deref(), &body);
    let path = config.source.join(&post.source);
    let assets_url = format!("{}/assets", config.feeds_url);
    let site = Site {
        site_url: &config.site_url,
    };
    let source = Document {
        path: &path,
        display_path: &path,
        url: &post.url,
        body: &body,
        body_line: post.body_line,
    };
    let assets = Assets::new(&assets_url, posts::confined::Roots::of_blog(config));
    let image = post
        .image
        .as_deref()
        .and_then(|i| render::resolve_image_url(i, &source, &site, &assets));
    PostSnapshot::of(post, &config.site_url, summary, image)
}
