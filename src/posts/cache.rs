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
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::diag::Diagnostic;
use crate::memory::FastMap;
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

/// A SHA-256 digest, kept as bytes: a cache holds five per post, and as
/// hex each was an allocation and twice the size.
pub type Digest = [u8; 32];

/// The stamp of every file in the blog folder, by the path the walk gave
/// it (compared as bytes: hashing a `Path` by its components costs more).
#[derive(Debug, Default)]
pub struct Stamps {
    by_path: FastMap<OsString, Stamp>,
    /// A digest of the stamps of the files that are not posts (images).
    pub others: Digest,
}

impl Stamps {
    pub fn new(by_path: FastMap<OsString, Stamp>, others: Digest) -> Stamps {
        Stamps { by_path, others }
    }

    pub fn get(&self, path: &Path) -> Option<&Stamp> {
        self.by_path.get(path.as_os_str())
    }
}

/// Parsed posts by their path relative to the blog folder.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct PostCache {
    /// A digest of what every entry depends on besides its own file; the
    /// caller decides it and drops the cache when it differs.
    pub context: String,
    /// Each tag and author once (a tag's description would otherwise be
    /// kept with each of its posts); posts refer to them by index.
    tags: Vec<StoredTag>,
    authors: Vec<StoredAuthor>,
    pub files: FastMap<String, CachedFile>,
    /// The tables as the model's values, shared by the posts taken from
    /// the cache (filled by [`PostCache::take_files`]).
    #[serde(skip)]
    shared_tags: Vec<Arc<Tag>>,
    #[serde(skip)]
    shared_authors: Vec<Arc<Author>>,
    #[serde(skip)]
    tag_ids: HashMap<StoredTag, u32>,
    #[serde(skip)]
    author_ids: HashMap<StoredAuthor, u32>,
}

/// One post file as the last build read it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedFile {
    pub meta: FileMeta,
    post: StoredPost,
}

/// What is known of a post file besides the post.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileMeta {
    pub stamp: Stamp,
    /// SHA-256 of the file's bytes: what the render cache is keyed by.
    pub hash: Digest,
    /// The local front matter `image` the loader checked, with its stamp
    /// then (`None`: not in the blog folder).
    pub image: Option<(PathBuf, Option<Stamp>)>,
    /// [`post_digest`] of the post.
    pub digest: Digest,
    pub problems: Vec<Diagnostic>,
}

impl FileMeta {
    /// Whether this entry still holds for `path` given the stamps of now.
    pub fn holds(&self, path: &Path, stamps: &Stamps) -> bool {
        stamps.get(path) == Some(&self.stamp)
            && self
                .image
                .as_ref()
                .is_none_or(|(image, then)| stamps.get(image) == then.as_ref())
    }
}

impl PostCache {
    /// The post of an entry; `None` if the entry refers to a tag or author
    /// this cache does not have (a damaged file).
    pub fn post(&self, file: &CachedFile) -> Option<Post> {
        let p = &file.post;
        let tags = (p.tags.iter()).map(|i| shared(&self.shared_tags, &self.tags, *i));
        let authors = (p.authors.iter()).map(|i| shared(&self.shared_authors, &self.authors, *i));
        Some(Post {
            source: p.source.clone(),
            permalink: p.permalink.clone(),
            url: p.url.clone(),
            date: p.date,
            title: p.title.clone(),
            description: p.description.clone(),
            tags: tags.collect::<Option<_>>()?,
            authors: authors.collect::<Option<_>>()?,
            draft: p.draft,
            unlisted: p.unlisted,
            image: p.image.clone(),
            body_line: p.body_line,
        })
    }

    /// Splits the cache into its entries and an empty cache with the same
    /// context and tables of tags and authors: an entry taken from the
    /// first goes back into the second as it is ([`PostCache::carry`]),
    /// without copying its strings or looking up its tags again.
    pub fn take_files(self) -> (PostCache, FastMap<String, CachedFile>) {
        let mut tables = PostCache {
            context: self.context,
            tags: self.tags,
            authors: self.authors,
            files: crate::memory::fast_map(self.files.len()),
            ..PostCache::default()
        };
        tables.tag_ids = ids(&tables.tags);
        tables.author_ids = ids(&tables.authors);
        tables.shared_tags = tables.tags.iter().map(|t| Arc::new(t.into())).collect();
        tables.shared_authors = (tables.authors.iter())
            .map(|a| Arc::new(a.into()))
            .collect();
        (tables, self.files)
    }

    /// The values of the tables that posts taken from this cache share.
    pub fn shared_values(&self) -> (&[Arc<Tag>], &[Arc<Author>]) {
        (&self.shared_tags, &self.shared_authors)
    }

    /// Puts back an entry taken by [`PostCache::take_files`] from the
    /// cache these tables come from.
    pub fn carry(&mut self, file: CachedFile) {
        self.files.insert(file.post.source.clone(), file);
    }

    /// Drops the tags and authors no entry refers to any more, when they
    /// are most of the tables (carried tables keep those of edited posts).
    pub fn compact(&mut self) {
        let files = || self.files.values().map(|f| &f.post);
        let used_tags = used(self.tags.len(), files().flat_map(|p| &p.tags));
        let used_authors = used(self.authors.len(), files().flat_map(|p| &p.authors));
        let mostly_unused = |used: &[bool]| used.iter().filter(|u| !**u).count() * 2 > used.len();
        if !mostly_unused(&used_tags) && !mostly_unused(&used_authors) {
            return;
        }
        let (tags, authors) = (
            std::mem::take(&mut self.tags),
            std::mem::take(&mut self.authors),
        );
        self.tag_ids.clear();
        self.author_ids.clear();
        // Indexes change: posts made from here on make their own values.
        self.shared_tags.clear();
        self.shared_authors.clear();
        for file in self.files.values_mut() {
            for i in &mut file.post.tags {
                *i = intern(&mut self.tags, &mut self.tag_ids, tags[*i as usize].clone());
            }
            for i in &mut file.post.authors {
                *i = intern(
                    &mut self.authors,
                    &mut self.author_ids,
                    authors[*i as usize].clone(),
                );
            }
        }
    }

    pub fn insert(&mut self, post: &Post, meta: FileMeta) {
        let tags = (post.tags.iter())
            .map(|t| intern(&mut self.tags, &mut self.tag_ids, (&**t).into()))
            .collect();
        let authors = (post.authors.iter())
            .map(|a| intern(&mut self.authors, &mut self.author_ids, (&**a).into()))
            .collect();
        let stored = StoredPost {
            source: post.source.clone(),
            permalink: post.permalink.clone(),
            url: post.url.clone(),
            date: post.date,
            title: post.title.clone(),
            description: post.description.clone(),
            tags,
            authors,
            draft: post.draft,
            unlisted: post.unlisted,
            image: post.image.clone(),
            body_line: post.body_line,
        };
        let file = CachedFile { meta, post: stored };
        self.files.insert(post.source.clone(), file);
    }
}

/// The model's value of entry `i` of a table, shared when `shared` has it.
fn shared<S, T: for<'a> From<&'a S>>(shared: &[Arc<T>], table: &[S], i: u32) -> Option<Arc<T>> {
    let i = i as usize;
    (shared.get(i).cloned()).or_else(|| table.get(i).map(|v| Arc::new(T::from(v))))
}

/// Each value of `table` by its index.
fn ids<T: Clone + Eq + std::hash::Hash>(table: &[T]) -> HashMap<T, u32> {
    (table.iter().enumerate())
        .map(|(i, v)| (v.clone(), i as u32))
        .collect()
}

/// Which of `len` indexes `refs` names (an index out of range is ignored:
/// a damaged entry is never carried, see [`PostCache::post`]).
fn used<'a>(len: usize, refs: impl Iterator<Item = &'a u32>) -> Vec<bool> {
    let mut used = vec![false; len];
    for i in refs {
        if let Some(u) = used.get_mut(*i as usize) {
            *u = true;
        }
    }
    used
}

/// The index of `value` in `table`, added when new.
fn intern<T: Clone + Eq + std::hash::Hash>(
    table: &mut Vec<T>,
    ids: &mut HashMap<T, u32>,
    value: T,
) -> u32 {
    let next = table.len() as u32;
    *ids.entry(value.clone()).or_insert_with(|| {
        table.push(value);
        next
    })
}

/// A digest of every field of a post (by its `Debug` form): what feeds
/// may show of it besides its rendered content.
pub fn post_digest(post: &Post) -> Digest {
    use sha2::Digest as _;
    sha2::Sha256::digest(format!("{post:?}")).into()
}

/// The local file a front matter `image` names, as the loader resolves it
/// (joined, not normalised: `..` after a link is the file system's to
/// resolve).
pub fn local_image(post_path: &Path, image: Option<&str>) -> Option<PathBuf> {
    let image = image?.trim();
    let has_scheme = image
        .split_once(':')
        .is_some_and(|(scheme, _)| !scheme.is_empty() && !scheme.contains('/'));
    if image.is_empty() || image.starts_with(['/', '#']) || has_scheme {
        return None;
    }
    let relative = image.split(['?', '#']).next().unwrap_or(image);
    Some(post_path.parent()?.join(relative))
}

/// [`Post`] with every field kept (the model's own serde form leaves out
/// what feeds and notifications do not show), tags and authors by index.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredPost {
    source: String,
    permalink: String,
    url: String,
    date: DateTime<Utc>,
    title: String,
    description: Option<String>,
    tags: Vec<u32>,
    authors: Vec<u32>,
    draft: bool,
    unlisted: bool,
    image: Option<String>,
    body_line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct StoredTag {
    key: String,
    label: String,
    permalink: String,
    description: Option<String>,
    inline: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct StoredAuthor {
    key: Option<String>,
    name: Option<String>,
    title: Option<String>,
    url: Option<String>,
    email: Option<String>,
    image_url: Option<String>,
    page: Option<String>,
}

impl From<&Tag> for StoredTag {
    fn from(t: &Tag) -> Self {
        StoredTag {
            key: t.key.clone(),
            label: t.label.clone(),
            permalink: t.permalink.clone(),
            description: t.description.clone(),
            inline: t.inline,
        }
    }
}

impl From<&StoredTag> for Tag {
    fn from(t: &StoredTag) -> Self {
        Tag {
            key: t.key.clone(),
            label: t.label.clone(),
            permalink: t.permalink.clone(),
            description: t.description.clone(),
            inline: t.inline,
        }
    }
}

impl From<&Author> for StoredAuthor {
    fn from(a: &Author) -> Self {
        StoredAuthor {
            key: a.key.clone(),
            name: a.name.clone(),
            title: a.title.clone(),
            url: a.url.clone(),
            email: a.email.clone(),
            image_url: a.image_url.clone(),
            page: a.page.clone(),
        }
    }
}

impl From<&StoredAuthor> for Author {
    fn from(a: &StoredAuthor) -> Self {
        Author {
            key: a.key.clone(),
            name: a.name.clone(),
            title: a.title.clone(),
            url: a.url.clone(),
            email: a.email.clone(),
            image_url: a.image_url.clone(),
            page: a.page.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_post() -> Post {
        Post {
            source: "2025/01/a.md".into(),
            permalink: "/blog/a".into(),
            url: "https://x/blog/a".into(),
            date: DateTime::<Utc>::UNIX_EPOCH,
            title: "A".into(),
            description: Some("d\n".into()),
            tags: vec![Arc::new(Tag {
                key: "api".into(),
                label: "API".into(),
                permalink: "/blog/tags/api".into(),
                description: Some("about APIs".into()),
                inline: true,
            })],
            authors: vec![Arc::new(Author {
                key: Some("jan".into()),
                name: Some("Jan".into()),
                title: Some("t".into()),
                url: Some("https://jan".into()),
                email: Some("j@x.nl".into()),
                image_url: Some("/j.png".into()),
                page: Some("/blog/authors/jan".into()),
            })],
            draft: true,
            unlisted: true,
            image: Some("./img/a.png".into()),
            body_line: 7,
        }
    }

    fn meta_of(post: &Post) -> FileMeta {
        FileMeta {
            stamp: Stamp {
                len: 1,
                mtime_ns: 2,
            },
            hash: [7; 32],
            image: None,
            digest: post_digest(post),
            problems: Vec::new(),
        }
    }

    #[test]
    fn a_stored_post_comes_back_with_every_field() {
        let post = sample_post();
        let mut cache = PostCache::default();
        cache.insert(&post, meta_of(&post));
        let mut second = post.clone();
        second.source = "2025/01/b.md".into();
        cache.insert(&second, meta_of(&second));
        let bytes = postcard::to_allocvec(&cache).unwrap();
        let about = bytes.windows(10).filter(|w| w == b"about APIs").count();
        assert_eq!(about, 1, "the tag is stored once");
        let back: PostCache = postcard::from_bytes(&bytes).unwrap();
        let back = back.post(&back.files["2025/01/a.md"]).unwrap();
        assert_eq!(format!("{back:?}"), format!("{post:?}"));
    }

    #[test]
    fn carried_entries_keep_their_tags_and_unused_ones_are_dropped_in_time() {
        let post = sample_post();
        let mut last = PostCache::default();
        last.insert(&post, meta_of(&post));
        // A post edited again and again gets a new inline tag each time.
        let mut edited = post.clone();
        edited.source = "2025/01/b.md".into();
        for i in 0..5 {
            let (mut next, mut files) = last.take_files();
            next.carry(files.remove("2025/01/a.md").unwrap());
            Arc::make_mut(&mut edited.tags[0]).label = format!("Tag {i}");
            next.insert(&edited, meta_of(&edited));
            next.compact();
            last = next;
        }
        let back = last.post(&last.files["2025/01/a.md"]).unwrap();
        assert_eq!(format!("{back:?}"), format!("{post:?}"));
        let back = last.post(&last.files["2025/01/b.md"]).unwrap();
        assert_eq!(back.tags[0].label, "Tag 4");
        assert!(last.tags.len() <= 4, "{:?}", last.tags);
    }

    #[test]
    fn only_relative_front_matter_images_are_local_files() {
        let post = Path::new("/b/2025/a.md");
        assert_eq!(
            local_image(post, Some("img/a.png?x")),
            Some(PathBuf::from("/b/2025/img/a.png"))
        );
        for not_local in ["/img/a.png", "https://x/a.png", "#top", "", "data:x"] {
            assert_eq!(local_image(post, Some(not_local)), None, "{not_local}");
        }
    }
}
