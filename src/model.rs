//! The post model every later stage reads: what a blog post *is* once its
//! front matter, file name, `tags.yml` and `authors.yml` have been resolved.
//! Nothing here touches the file system; the loader in `posts/` fills it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A tag as Docusaurus resolves it: a key from `tags.yml` (or an inline label)
/// with its display label and the permalink of its tag page.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Tag {
    /// The key used in front matter (`api`), or the inline label itself.
    #[serde(skip)]
    pub key: String,
    pub label: String,
    /// Site-relative, e.g. `/blog/tags/ipv-6`.
    pub permalink: String,
    #[serde(skip)]
    pub description: Option<String>,
    /// True when the tag was not declared in the tags file.
    #[serde(skip)]
    pub inline: bool,
}

impl Tag {
    /// The folder name of this tag's feeds: the last segment of its permalink,
    /// so feed URLs line up with the site's tag pages.
    pub fn slug(&self) -> &str {
        self.permalink
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(&self.permalink)
    }
}

/// An author, from `authors.yml`, inline front matter, or the legacy
/// single-author fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Author {
    /// The `authors.yml` key; `None` for inline authors.
    pub key: Option<String>,
    pub name: Option<String>,
    #[serde(skip)]
    pub title: Option<String>,
    #[serde(skip)]
    pub url: Option<String>,
    #[serde(skip)]
    pub email: Option<String>,
    #[serde(skip)]
    pub image_url: Option<String>,
    /// Site-relative URL of the author's page on the blog, when
    /// `authors.yml` sets `page` (Docusaurus 3.5+ author pages).
    #[serde(skip)]
    pub page: Option<String>,
}

impl Author {
    /// What a reader sees: the name, else the key.
    pub fn display_name(&self) -> &str {
        self.name
            .as_deref()
            .or(self.key.as_deref())
            .unwrap_or("Unknown")
    }
}

/// One blog post as postbode understands it.
#[derive(Debug, Clone, Serialize)]
pub struct Post {
    /// Path relative to the blog folder, with `/` separators.
    pub source: String,
    /// Site-relative permalink, e.g. `/blog/2025/07/15/nds`.
    pub permalink: String,
    /// `site_url + permalink`: also the feed id of the post.
    pub url: String,
    pub date: DateTime<Utc>,
    pub title: String,
    /// Front matter `description`, verbatim (Docusaurus keeps the trailing newline).
    pub description: Option<String>,
    /// Shared: a blog's posts name the same few tags and authors, and a
    /// rebuild takes thousands of posts from its cache.
    pub tags: Vec<Arc<Tag>>,
    pub authors: Vec<Arc<Author>>,
    pub draft: bool,
    pub unlisted: bool,
    /// Front matter `image`, as written (relative, site-absolute or a URL).
    pub image: Option<String>,
    /// 1-based line in the file where the body starts, to report problems
    /// inside it at the right line. The body itself is not kept: a large blog
    /// would hold all of its text in memory while only the posts that some
    /// feed shows need it (`posts::read_body`).
    #[serde(skip)]
    pub body_line: usize,
}

impl Post {
    /// Docusaurus's `inFeed` rule plus ours: future-dated posts stay out
    /// until their date comes (Docusaurus would publish them at build time).
    pub fn is_published(&self, now: DateTime<Utc>) -> bool {
        !self.draft && !self.unlisted && self.date <= now
    }
}

/// A feed format, named in configuration as `atom`, `rss` or `json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Atom,
    Rss,
    Json,
}

impl Format {
    /// Every format, in the order feeds are listed to readers.
    pub const ALL: [Format; 3] = [Format::Atom, Format::Rss, Format::Json];

    /// The file name inside a channel's directory. `atom.xml` and `rss.xml`
    /// are the names Docusaurus uses, so existing subscriptions keep working.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Atom => "atom.xml",
            Format::Rss => "rss.xml",
            Format::Json => "feed.json",
        }
    }

    /// The media type to serve the file with and to announce in links.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Atom => "application/atom+xml",
            Format::Rss => "application/rss+xml",
            Format::Json => "application/feed+json",
        }
    }

    /// The name a person reads.
    pub fn label(self) -> &'static str {
        match self {
            Format::Atom => "Atom",
            Format::Rss => "RSS",
            Format::Json => "JSON Feed",
        }
    }
}
