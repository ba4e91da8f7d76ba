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

/// What a build knows of each post file it read or took from the last
/// cache, by path relative to the blog folder. The posts themselves are the
/// build's (`Blog::posts`): the cache keeps no second copy of their strings
/// (at 50,000 posts that copy was some 45 MB), and writes each with its
/// post ([`PostCache::with_posts`]).
#[derive(Debug, Default)]
pub struct PostCache {
    pub files: FastMap<String, FileMeta>,
}

impl PostCache {
    /// The cache as it is written: `context`, then each file with its post
    /// from `posts` (a file whose post is not among them, left out for a
    /// duplicate permalink, is read again next time), tags and authors
    /// stored once and referred to by index.
    pub fn with_posts<'a>(&'a self, context: &'a str, posts: &'a [Post]) -> PostsOnDisk<'a> {
        let files: Vec<(&FileMeta, &Post)> = (posts.iter())
            .filter_map(|p| Some((self.files.get(&p.source)?, p)))
            .collect();
        let mut tags = Table::default();
        let mut authors = Table::default();
        for (_, post) in &files {
            post.tags.iter().for_each(|t| tags.add(t));
            post.authors.iter().for_each(|a| authors.add(a));
        }
        PostsOnDisk {
            context,
            tags,
            authors,
            files,
        }
    }
}

/// Each distinct value once, by the address of its shared value (posts
/// share one value per tag and author; one not shared is only stored
/// twice).
struct Table<'a, T> {
    values: Vec<&'a T>,
    ids: FastMap<*const T, u32>,
}

impl<T> Default for Table<'_, T> {
    fn default() -> Self {
        Table {
            values: Vec::new(),
            ids: FastMap::default(),
        }
    }
}

impl<'a, T> Table<'a, T> {
    fn add(&mut self, value: &'a Arc<T>) {
        let next = self.values.len() as u32;
        self.ids.entry(Arc::as_ptr(value)).or_insert_with(|| {
            self.values.push(value);
            next
        });
    }

    fn ids(&'a self, values: &'a [Arc<T>]) -> Ids<'a, T> {
        Ids {
            values,
            table: self,
        }
    }
}

/// [`PostCache`] with its posts, as [`LastPosts`] reads it back.
pub struct PostsOnDisk<'a> {
    context: &'a str,
    tags: Table<'a, Tag>,
    authors: Table<'a, Author>,
    files: Vec<(&'a FileMeta, &'a Post)>,
}

impl Serialize for PostsOnDisk<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let tags: Vec<StoredTagRef> = self.tags.values.iter().map(|t| tag_ref(t)).collect();
        let authors: Vec<StoredAuthorRef> = (self.authors.values.iter())
            .map(|a| author_ref(a))
            .collect();
        let files = (self.files.iter()).map(|(meta, p)| (meta, self.stored(p)));
        let mut out = s.serialize_struct("LastPosts", 4)?;
        out.serialize_field("context", self.context)?;
        out.serialize_field("tags", &tags)?;
        out.serialize_field("authors", &authors)?;
        out.serialize_field("files", &Seq(std::cell::Cell::new(Some(files))))?;
        out.end()
    }
}

impl<'a> PostsOnDisk<'a> {
    fn stored(&'a self, p: &'a Post) -> StoredPostRef<'a> {
        StoredPostRef {
            source: &p.source,
            permalink: &p.permalink,
            url: &p.url,
            date: p.date,
            title: &p.title,
            description: p.description.as_deref(),
            tags: self.tags.ids(&p.tags),
            authors: self.authors.ids(&p.authors),
            draft: p.draft,
            unlisted: p.unlisted,
            image: p.image.as_deref(),
            body_line: p.body_line,
        }
    }
}

/// A sequence serialised straight from an iterator of known length, once.
struct Seq<I>(std::cell::Cell<Option<I>>);

impl<I: ExactSizeIterator<Item = T>, T: Serialize> Serialize for Seq<I> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let items = (self.0.take()).ok_or_else(|| S::Error::custom("serialised twice"))?;
        let mut seq = s.serialize_seq(Some(items.len()))?;
        for item in items {
            seq.serialize_element(&item)?;
        }
        seq.end()
    }
}

/// The indexes of a post's tags or authors in their table.
struct Ids<'a, T> {
    values: &'a [Arc<T>],
    table: &'a Table<'a, T>,
}

impl<T> Serialize for Ids<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Every value was added to the table before serialising.
        s.collect_seq(self.values.iter().map(|v| self.table.ids[&Arc::as_ptr(v)]))
    }
}

/// The posts of the last build's cache, as read. A post taken from it
/// moves its strings into the model's [`Post`]: nothing is copied.
#[derive(Debug, Default, Deserialize)]
pub struct LastPosts {
    /// What the entries were made under (see `pipeline::cache::context`).
    pub context: String,
    tags: Vec<StoredTag>,
    authors: Vec<StoredAuthor>,
    files: Vec<(FileMeta, StoredPost)>,
}

/// One post file as the last build read it.
#[derive(Debug)]
pub struct LastFile {
    pub meta: FileMeta,
    post: StoredPost,
}

/// The tags and authors of [`LastPosts`] as the model's values, shared by
/// every post taken from it.
#[derive(Debug, Default)]
pub struct Tables {
    tags: Vec<Arc<Tag>>,
    authors: Vec<Arc<Author>>,
}

/// [`LastPosts`] taken apart: its entries by path, and the values their
/// posts share.
#[derive(Debug, Default)]
pub struct Last {
    pub tables: Tables,
    pub files: FastMap<String, LastFile>,
}

impl LastPosts {
    pub fn take(self) -> Last {
        let tables = Tables {
            tags: self.tags.iter().map(|t| Arc::new(t.into())).collect(),
            authors: self.authors.iter().map(|a| Arc::new(a.into())).collect(),
        };
        let mut files = crate::memory::fast_map(self.files.len());
        for (meta, post) in self.files {
            files.insert(post.source.clone(), LastFile { meta, post });
        }
        Last { tables, files }
    }
}

impl Tables {
    /// The post of an entry and its meta; `None` if the entry refers to a
    /// tag or author the tables do not have (a damaged file).
    pub fn post(&self, file: LastFile) -> Option<(Post, FileMeta)> {
        let LastFile { meta, post: p } = file;
        let tags = (p.tags.iter()).map(|i| self.tags.get(*i as usize).cloned());
        let authors = (p.authors.iter()).map(|i| self.authors.get(*i as usize).cloned());
        let post = Post {
            tags: tags.collect::<Option<_>>()?,
            authors: authors.collect::<Option<_>>()?,
            source: p.source,
            permalink: p.permalink,
            url: p.url,
            date: p.date,
            title: p.title,
            description: p.description,
            draft: p.draft,
            unlisted: p.unlisted,
            image: p.image,
            body_line: p.body_line,
        };
        Some((post, meta))
    }

    /// The values posts taken from the cache share.
    pub fn values(&self) -> (&[Arc<Tag>], &[Arc<Author>]) {
        (&self.tags, &self.authors)
    }
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

/// A digest of every field of a post (by its `Debug` form): what feeds
/// may show of it besides its rendered content.
pub fn post_digest(post: &Post) -> Digest {
    use sha2::Digest as _;
    /// Hashes the text as it is formatted, without a copy of the whole.
    struct Hashing(sha2::Sha256);
    impl std::fmt::Write for Hashing {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.update(s.as_bytes());
            Ok(())
        }
    }
    let mut h = Hashing(sha2::Sha256::new());
    // Writing to a hasher cannot fail.
    let _ = std::fmt::Write::write_fmt(&mut h, format_args!("{post:?}"));
    h.0.finalize().into()
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
#[derive(Debug, Deserialize)]
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

/// [`StoredPost`] as written, borrowed from the post (same fields, same
/// order: the format is not self-describing).
#[derive(Serialize)]
struct StoredPostRef<'a> {
    source: &'a str,
    permalink: &'a str,
    url: &'a str,
    date: DateTime<Utc>,
    title: &'a str,
    description: Option<&'a str>,
    tags: Ids<'a, Tag>,
    authors: Ids<'a, Author>,
    draft: bool,
    unlisted: bool,
    image: Option<&'a str>,
    body_line: usize,
}

#[derive(Debug, Deserialize)]
struct StoredTag {
    key: String,
    label: String,
    permalink: String,
    description: Option<String>,
    inline: bool,
}

#[derive(Serialize)]
struct StoredTagRef<'a> {
    key: &'a str,
    label: &'a str,
    permalink: &'a str,
    description: Option<&'a str>,
    inline: bool,
}

#[derive(Debug, Deserialize)]
struct StoredAuthor {
    key: Option<String>,
    name: Option<String>,
    title: Option<String>,
    url: Option<String>,
    email: Option<String>,
    image_url: Option<String>,
    page: Option<String>,
}

#[derive(Serialize)]
struct StoredAuthorRef<'a> {
    key: Option<&'a str>,
    name: Option<&'a str>,
    title: Option<&'a str>,
    url: Option<&'a str>,
    email: Option<&'a str>,
    image_url: Option<&'a str>,
    page: Option<&'a str>,
}

fn tag_ref(t: &Tag) -> StoredTagRef<'_> {
    StoredTagRef {
        key: &t.key,
        label: &t.label,
        permalink: &t.permalink,
        description: t.description.as_deref(),
        inline: t.inline,
    }
}

fn author_ref(a: &Author) -> StoredAuthorRef<'_> {
    StoredAuthorRef {
        key: a.key.as_deref(),
        name: a.name.as_deref(),
        title: a.title.as_deref(),
        url: a.url.as_deref(),
        email: a.email.as_deref(),
        image_url: a.image_url.as_deref(),
        page: a.page.as_deref(),
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

    /// `posts` written as a cache knowing each of them, and read back.
    fn written_and_read(posts: &[Post]) -> (Vec<u8>, LastPosts) {
        let mut cache = PostCache::default();
        for p in posts {
            cache.files.insert(p.source.clone(), meta_of(p));
        }
        let bytes = postcard::to_allocvec(&cache.with_posts("ctx", posts)).unwrap();
        let back = postcard::from_bytes(&bytes).unwrap();
        (bytes, back)
    }

    #[test]
    fn a_stored_post_comes_back_with_every_field() {
        let post = sample_post();
        let mut second = post.clone();
        second.source = "2025/01/b.md".into();
        let (bytes, back) = written_and_read(&[post.clone(), second]);
        let about = bytes.windows(10).filter(|w| w == b"about APIs").count();
        assert_eq!(about, 1, "the tag is stored once");
        assert_eq!(back.context, "ctx");
        let Last { tables, mut files } = back.take();
        let (back, meta) = tables.post(files.remove("2025/01/a.md").unwrap()).unwrap();
        assert_eq!(format!("{back:?}"), format!("{post:?}"));
        assert_eq!(meta.digest, post_digest(&post));
        let (b, _) = tables.post(files.remove("2025/01/b.md").unwrap()).unwrap();
        assert!(
            Arc::ptr_eq(&b.tags[0], &back.tags[0]),
            "posts share the tag"
        );
    }

    #[test]
    fn a_post_digest_is_the_sha256_of_its_debug_form_and_follows_every_field() {
        use sha2::Digest as _;
        let post = sample_post();
        let whole: Digest = sha2::Sha256::digest(format!("{post:?}")).into();
        assert_eq!(
            post_digest(&post),
            whole,
            "as earlier builds' caches hold it"
        );
        let mut retagged = post.clone();
        Arc::make_mut(&mut retagged.tags[0]).label = "Other".into();
        let mut moved = post.clone();
        moved.body_line += 1;
        assert_ne!(post_digest(&retagged), whole);
        assert_ne!(post_digest(&moved), whole);
    }

    #[test]
    fn only_the_tags_and_authors_of_posts_kept_are_stored() {
        let post = sample_post();
        let mut edited = post.clone();
        edited.source = "2025/01/b.md".into();
        let mut posts = vec![post.clone(), edited];
        // A post edited again and again gets a new inline tag each time.
        for i in 0..5 {
            Arc::make_mut(&mut posts[1].tags[0]).label = format!("Tag {i}");
            let (_, back) = written_and_read(&posts);
            assert_eq!(back.tags.len(), 2, "{:?}", back.tags);
            let Last { tables, mut files } = back.take();
            let (b, _) = tables.post(files.remove("2025/01/b.md").unwrap()).unwrap();
            assert_eq!(b.tags[0].label, format!("Tag {i}"));
            posts[1] = b;
            let (a, _) = tables.post(files.remove("2025/01/a.md").unwrap()).unwrap();
            assert_eq!(format!("{a:?}"), format!("{post:?}"));
            posts[0] = a;
        }
        // A post the cache does not know of (left out for its permalink) is
        // not written; a damaged index gives no post.
        let cache = PostCache::default();
        let bytes = postcard::to_allocvec(&cache.with_posts("ctx", &posts)).unwrap();
        let back: LastPosts = postcard::from_bytes(&bytes).unwrap();
        assert!(back.files.is_empty() && back.tags.is_empty());
        let (_, mut back) = written_and_read(&posts[..1]);
        back.files[0].1.tags = vec![7];
        let Last { tables, mut files } = back.take();
        assert!(tables.post(files.remove("2025/01/a.md").unwrap()).is_none());
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
