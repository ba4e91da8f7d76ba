//! Posts as the last build read them, so that a rebuild after a one-post
//! edit reads and parses that one file, not the whole blog (reading 10,000
//! posts costs some 0.7 s of CPU, most of it in YAML and file system calls).
//!
//! An entry is reused only while its file has the size and modification
//! time the build saw before reading it (`Stamp`s are taken by the stat-only
//! fingerprint at the start of a build, so a file changed during a build is
//! read again next time), and while everything else a post depends on – the
//! feed definition, `tags.yml`, `authors.yml`, the program itself – is what
//! `context` says. Posts whose date comes from git history or the file's
//! time, and posts with errors, are never cached.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::diag::Diagnostic;
use crate::model::{Author, Post, Tag};

/// Size and modification time (nanoseconds since the epoch) of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Stamp {
    pub len: u64,
    pub mtime_ns: u128,
}

impl Stamp {
    pub fn of(meta: &std::fs::Metadata) -> Stamp {
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .unwrap_or_default()
            .as_nanos();
        Stamp {
            len: meta.len(),
            mtime_ns,
        }
    }
}

/// The stamp of every file in the blog folder, by the path the walk gave it.
pub type Stamps = HashMap<PathBuf, Stamp>;

/// Parsed posts by their path relative to the blog folder.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct PostCache {
    /// A digest of what every entry depends on besides its own file; the
    /// caller decides it and drops the cache when it differs.
    pub context: String,
    pub files: HashMap<String, CachedFile>,
}

/// One post file as the last build read it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedFile {
    pub stamp: Stamp,
    /// SHA-256 of the file's bytes, hex: what the render cache is keyed by.
    pub hash: String,
    /// The local front matter `image` the loader checked, with its stamp
    /// then (`None`: not in the blog folder).
    pub image: Option<(PathBuf, Option<Stamp>)>,
    pub post: StoredPost,
    pub problems: Vec<Diagnostic>,
}

impl CachedFile {
    /// Whether this entry still holds for `path` given the stamps of now.
    pub fn holds(&self, path: &Path, stamps: &Stamps) -> bool {
        stamps.get(path) == Some(&self.stamp)
            && self
                .image
                .as_ref()
                .is_none_or(|(image, then)| stamps.get(image) == then.as_ref())
    }
}

/// The local file a front matter `image` names, as the loader resolves it.
pub fn local_image(post_path: &Path, image: Option<&str>) -> Option<PathBuf> {
    let image = image?.trim();
    let has_scheme = image
        .split_once(':')
        .is_some_and(|(scheme, _)| !scheme.is_empty() && !scheme.contains('/'));
    if image.is_empty() || image.starts_with(['/', '#']) || has_scheme {
        return None;
    }
    let relative = image.split(['?', '#']).next().unwrap_or(image);
    Some(crate::paths::normalize_path(&post_path.parent()?.join(relative)))
}

/// [`Post`] with every field kept: the model's own serde form leaves out
/// what feeds and notifications do not show.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredPost {
    source: String,
    permalink: String,
    url: String,
    date: DateTime<Utc>,
    title: String,
    description: Option<String>,
    tags: Vec<StoredTag>,
    authors: Vec<StoredAuthor>,
    draft: bool,
    unlisted: bool,
    image: Option<String>,
    body_line: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredTag {
    key: String,
    label: String,
    permalink: String,
    description: Option<String>,
    inline: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredAuthor {
    key: Option<String>,
    name: Option<String>,
    title: Option<String>,
    url: Option<String>,
    email: Option<String>,
    image_url: Option<String>,
    page: Option<String>,
}

impl From<&Post> for StoredPost {
    fn from(p: &Post) -> Self {
        StoredPost {
            source: p.source.clone(),
            permalink: p.permalink.clone(),
            url: p.url.clone(),
            date: p.date,
            title: p.title.clone(),
            description: p.description.clone(),
            tags: p
                .tags
                .iter()
                .map(|t| StoredTag {
                    key: t.key.clone(),
                    label: t.label.clone(),
                    permalink: t.permalink.clone(),
                    description: t.description.clone(),
                    inline: t.inline,
                })
                .collect(),
            authors: p
                .authors
                .iter()
                .map(|a| StoredAuthor {
                    key: a.key.clone(),
                    name: a.name.clone(),
                    title: a.title.clone(),
                    url: a.url.clone(),
                    email: a.email.clone(),
                    image_url: a.image_url.clone(),
                    page: a.page.clone(),
                })
                .collect(),
            draft: p.draft,
            unlisted: p.unlisted,
            image: p.image.clone(),
            body_line: p.body_line,
        }
    }
}

impl From<StoredPost> for Post {
    fn from(p: StoredPost) -> Self {
        Post {
            source: p.source,
            permalink: p.permalink,
            url: p.url,
            date: p.date,
            title: p.title,
            description: p.description,
            tags: p
                .tags
                .into_iter()
                .map(|t| Tag {
                    key: t.key,
                    label: t.label,
                    permalink: t.permalink,
                    description: t.description,
                    inline: t.inline,
                })
                .collect(),
            authors: p
                .authors
                .into_iter()
                .map(|a| Author {
                    key: a.key,
                    name: a.name,
                    title: a.title,
                    url: a.url,
                    email: a.email,
                    image_url: a.image_url,
                    page: a.page,
                })
                .collect(),
            draft: p.draft,
            unlisted: p.unlisted,
            image: p.image,
            body_line: p.body_line,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_post_comes_back_with_every_field() {
        let post = Post {
            source: "2025/01/a.md".into(),
            permalink: "/blog/a".into(),
            url: "https://x/blog/a".into(),
            date: DateTime::<Utc>::UNIX_EPOCH,
            title: "A".into(),
            description: Some("d\n".into()),
            tags: vec![Tag {
                key: "api".into(),
                label: "API".into(),
                permalink: "/blog/tags/api".into(),
                description: Some("about APIs".into()),
                inline: true,
            }],
            authors: vec![Author {
                key: Some("jan".into()),
                name: Some("Jan".into()),
                title: Some("t".into()),
                url: Some("https://jan".into()),
                email: Some("j@x.nl".into()),
                image_url: Some("/j.png".into()),
                page: Some("/blog/authors/jan".into()),
            }],
            draft: true,
            unlisted: true,
            image: Some("./img/a.png".into()),
            body_line: 7,
        };
        let json = serde_json::to_string(&StoredPost::from(&post)).unwrap();
        let back: Post = serde_json::from_str::<StoredPost>(&json).unwrap().into();
        assert_eq!(format!("{back:?}"), format!("{post:?}"));
    }

    #[test]
    fn only_relative_front_matter_images_are_local_files() {
        let post = Path::new("/b/2025/a.md");
        assert_eq!(
            local_image(post, Some("./img/a.png?x")),
            Some(PathBuf::from("/b/2025/img/a.png"))
        );
        for not_local in ["/img/a.png", "https://x/a.png", "#top", "", "data:x"] {
            assert_eq!(local_image(post, Some(not_local)), None, "{not_local}");
        }
    }
}
