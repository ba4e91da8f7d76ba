//! What a rebuild reuses from the last build of the same output folder,
//! kept beside its manifest: the parsed posts (`posts::cache`), what
//! rendering each post depended on and produced, and a digest of the inputs
//! of every feed file. After a one-post edit, only that post is read and
//! rendered again, and only the feeds that show it are serialised.
//!
//! Everything here is a cache: a missing, unreadable or foreign file (other
//! program, feed definition, `tags.yml` or `authors.yml`) is an empty cache,
//! and a build with `--force` ignores it. What a build writes does not depend
//! on what it found here (`tests/it/incremental.rs` checks byte for byte).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::config::BlogConfig;
use crate::diag::Diagnostic;
use crate::memory::FastMap;
use crate::model::Post;
use crate::posts::cache::{Digest, LastPosts, PostCache, PostsOnDisk, Stamp};

/// The cache is postcard, not JSON: a 10,000-post blog's cache is read and
/// written on every rebuild, and JSON cost a third of a one-post edit. The
/// format is not self-describing, so the first bytes say which layout
/// follows; a cache of another layout is an empty one.
const CACHE_MAGIC: &[u8] = b"postbode build cache 4\n";

/// What a build keeps for the next one. The posts are written with it
/// ([`BuildCache::write`]) but not held twice: they are the build's.
#[derive(Debug, Default)]
pub struct BuildCache {
    /// The program, the feed definition, the tags and authors files: a
    /// cache made under other ones is not used.
    pub context: String,
    pub posts: PostCache,
    /// By post source path.
    pub renders: FastMap<String, RenderRecord>,
    /// Digest of the inputs of each feed file and its size, by its path in
    /// the output.
    pub feeds: FastMap<String, (Digest, u64)>,
}

/// [`BuildCache`] as its file holds it.
#[derive(Deserialize)]
struct OnDisk {
    context: String,
    posts: LastPosts,
    renders: FastMap<String, RenderRecord>,
    feeds: FastMap<String, (Digest, u64)>,
}

/// [`OnDisk`] as written, borrowed (same fields, same order).
#[derive(Serialize)]
struct OnDiskRef<'a> {
    context: &'a str,
    posts: PostsOnDisk<'a>,
    renders: &'a FastMap<String, RenderRecord>,
    feeds: &'a FastMap<String, (Digest, u64)>,
}

/// One rendered post: what its HTML depended on, a digest of what came
/// out, and what it reported and published.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenderRecord {
    /// SHA-256 of the post file; `None` for a post not cached, whose
    /// record only lives for this build.
    pub file_hash: Option<Digest>,
    /// Digest of the stamps of every file in the blog folder that is not a
    /// post (images): an image the post names may have appeared, changed
    /// or gone.
    pub files_digest: Digest,
    /// Every link to a post file the renderer asked about, with its answer.
    pub links: Vec<(PathBuf, Option<String>)>,
    /// Digest of the HTML, summary and image URL.
    pub output: Digest,
    pub warnings: Vec<Diagnostic>,
    /// `(public name, real path)` of each file it published under `assets/`.
    pub assets: Vec<(String, PathBuf)>,
    /// Where its content is in the [`Pack`].
    #[serde(default)]
    pub at: Option<(u64, u64)>,
}

impl BuildCache {
    pub fn empty(context: String) -> BuildCache {
        BuildCache {
            context,
            ..BuildCache::default()
        }
    }

    /// The cache of the last build, if it was made in `context`, and the
    /// posts it holds.
    pub fn read(path: &Path, context: &str) -> (BuildCache, LastPosts) {
        let cache = std::fs::read(path).ok().and_then(|bytes| {
            let body = bytes.strip_prefix(CACHE_MAGIC)?;
            postcard::from_bytes::<OnDisk>(body).ok()
        });
        match cache {
            Some(c) if c.context == context && c.posts.context == context => {
                let cache = BuildCache {
                    context: c.context,
                    posts: PostCache::default(),
                    renders: c.renders,
                    feeds: c.feeds,
                };
                (cache, c.posts)
            }
            _ => (BuildCache::empty(context.to_owned()), LastPosts::default()),
        }
    }

    /// Written atomically with `posts`, the build's (those of files the
    /// cache knows are kept); a failure only costs the next build its speed.
    pub fn write(&self, path: &Path, posts: &[Post]) {
        let Some(dir) = path.parent() else { return };
        let on_disk = OnDiskRef {
            context: &self.context,
            posts: self.posts.with_posts(&self.context, posts),
            renders: &self.renders,
            feeds: &self.feeds,
        };
        // Streamed to the file: built in memory first, the 40 MB cache of
        // a 50,000-post blog was the build's peak of memory.
        let written = (|| {
            let temp = tempfile::NamedTempFile::new_in(dir)?;
            let mut out = std::io::BufWriter::with_capacity(1 << 16, temp);
            std::io::Write::write_all(&mut out, CACHE_MAGIC)?;
            postcard::to_io(&on_disk, &mut out).map_err(std::io::Error::other)?;
            let temp = out.into_inner().map_err(|e| e.into_error())?;
            temp.persist(path).map_err(|e| e.error).map(drop)
        })();
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), error = %e, "cannot keep the build cache");
        }
    }
}

/// A digest of what every cached post and render depends on besides the
/// files of the blog folder: this program (its version and its file, so a
/// rebuilt binary starts afresh), the feed definition, and the tags and
/// authors files.
pub fn context(config: &BlogConfig) -> String {
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION"));
    let exe = std::env::current_exe().and_then(std::fs::metadata);
    if let Ok(meta) = exe {
        let stamp = Stamp::of(&meta);
        h.update(stamp.len.to_le_bytes());
        h.update(stamp.mtime_ns.to_le_bytes());
    }
    for file in std::iter::once(&config.file)
        .chain(config.tags_file.iter())
        .chain(config.authors_file.iter())
    {
        h.update(file.as_os_str().as_encoded_bytes());
        h.update([0]);
        // Only a regular file: a named pipe would block the build for ever
        // (the loader reports it).
        h.update(crate::posts::confined::read_regular(file).unwrap_or_default());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// The rendered content of posts, appended to one file beside the cache
/// and found by the `(offset, length)` in each [`RenderRecord`]: a rebuild
/// that serialises a feed again takes the unchanged posts' HTML from here
/// rather than reading and rendering their files. Each entry is checked
/// against the record's digest when read, so a damaged file only costs a
/// render. When more than half of it is dead, it is written anew.
pub struct Pack {
    path: PathBuf,
    file: std::fs::File,
    /// Its length when this build opened it: entries from here on were
    /// appended by this build.
    start: u64,
    /// Where the next entry goes: each append takes its range from here,
    /// so that threads write their entries at once, side by side.
    end: std::sync::atomic::AtomicU64,
}

/// What a pack entry holds, borrowed: HTML, summary, image URL.
pub type Parts<'a> = (&'a str, Option<&'a str>, Option<&'a str>);

/// What a pack entry holds.
pub struct Content {
    pub html: String,
    pub summary: Option<String>,
    pub image_url: Option<String>,
}

impl Pack {
    /// The pack at `path`; with `fresh`, an empty one (nothing refers to
    /// the old entries).
    pub fn open(path: PathBuf, fresh: bool) -> std::io::Result<Pack> {
        if fresh {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        // Not `append`: with O_APPEND, Linux ignores the offset of a
        // positioned write.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let start = file.metadata()?.len();
        Ok(Pack {
            path,
            file,
            start,
            end: std::sync::atomic::AtomicU64::new(start),
        })
    }

    /// Whether this build appended the entry at `at`: it holds what was
    /// rendered a moment ago and needs no check against its record.
    pub fn appended_now(&self, at: (u64, u64)) -> bool {
        at.0 >= self.start
    }

    pub fn get(&self, at: (u64, u64)) -> Option<Content> {
        use std::os::unix::fs::FileExt;
        let mut bytes = vec![0; usize::try_from(at.1).ok()?];
        self.file.read_exact_at(&mut bytes, at.0).ok()?;
        decode(&bytes)
    }

    /// Appends one entry and returns where it went. Threads of one build
    /// may append at once (each writes its own range); one build at a time
    /// appends (the build lock). An entry whose write failed is in no
    /// record: its range is dead space, dropped by [`Pack::compact`].
    pub fn append(&self, entry: &Parts) -> std::io::Result<(u64, u64)> {
        use std::os::unix::fs::FileExt;
        let bytes = encode(entry);
        let len = bytes.len() as u64;
        let offset = (self.end).fetch_add(len, std::sync::atomic::Ordering::Relaxed);
        self.file.write_all_at(&bytes, offset)?;
        Ok((offset, len))
    }

    /// Rewrites the pack with only the entries `records` refer to, when
    /// they are less than half of it.
    pub fn compact(self, records: &mut FastMap<String, RenderRecord>) {
        let live: u64 = records.values().filter_map(|r| r.at).map(|at| at.1).sum();
        let size = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        if size <= 2 * live + (1 << 20) {
            return;
        }
        let mut records: Vec<&mut RenderRecord> =
            records.values_mut().filter(|r| r.at.is_some()).collect();
        records.sort_by_key(|r| r.at);
        let Some(dir) = self.path.parent() else {
            return;
        };
        let rewritten = (|| -> std::io::Result<()> {
            use std::os::unix::fs::FileExt;
            let old = std::fs::File::open(&self.path)?;
            let temp = tempfile::NamedTempFile::new_in(dir)?;
            let mut out = std::io::BufWriter::with_capacity(1 << 20, temp);
            let mut offset = 0;
            let mut moved = Vec::with_capacity(records.len());
            for record in &records {
                let Some((from, len)) = record.at else {
                    continue;
                };
                let mut bytes = vec![0; usize::try_from(len).unwrap_or(0)];
                old.read_exact_at(&mut bytes, from)?;
                std::io::Write::write_all(&mut out, &bytes)?;
                moved.push((offset, len));
                offset += len;
            }
            let temp = out.into_inner().map_err(|e| e.into_error())?;
            temp.persist(&self.path).map_err(|e| e.error)?;
            for (record, at) in records.iter_mut().zip(moved) {
                record.at = Some(at);
            }
            Ok(())
        })();
        if let Err(e) = rewritten {
            // The old pack and the records still agree.
            tracing::warn!(path = %self.path.display(), error = %e, "cannot compact rendered posts");
        }
    }
}

/// `html`, `summary`, `image_url`, each as a flag byte (present or not)
/// and a little-endian `u64` length before the UTF-8 bytes.
fn encode(&(html, summary, image_url): &Parts) -> Vec<u8> {
    let parts = [Some(html), summary, image_url];
    let mut out = Vec::with_capacity(html.len() + 64);
    for part in parts {
        match part {
            Some(text) => {
                out.push(1);
                out.extend_from_slice(&(text.len() as u64).to_le_bytes());
                out.extend_from_slice(text.as_bytes());
            }
            None => out.push(0),
        }
    }
    out
}

fn decode(mut bytes: &[u8]) -> Option<Content> {
    let mut part = || -> Option<Option<String>> {
        let (&flag, rest) = bytes.split_first()?;
        if flag == 0 {
            bytes = rest;
            return Some(None);
        }
        let (len, rest) = rest.split_at_checked(8)?;
        let len = usize::try_from(u64::from_le_bytes(len.try_into().ok()?)).ok()?;
        let (text, rest) = rest.split_at_checked(len)?;
        bytes = rest;
        Some(Some(String::from_utf8(text.to_vec()).ok()?))
    };
    let html = part()??;
    let summary = part()?;
    let image_url = part()?;
    Some(Content {
        html,
        summary,
        image_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn entries_appended_by_many_threads_at_once_read_back_whole_and_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("posts.pack");
        let texts: Vec<String> = (0..2000)
            .map(|i| format!("<p>post {i}</p>").repeat(1 + i % 97))
            .collect();
        let pack = Pack::open(path.clone(), true).unwrap();
        let at: Vec<(u64, u64)> = (texts.par_iter().enumerate())
            .map(|(i, html)| {
                let summary = (i % 3 == 0).then(|| format!("summary {i}"));
                pack.append(&(html, summary.as_deref(), None)).unwrap()
            })
            .collect();
        for (i, (html, at)) in texts.iter().zip(&at).enumerate() {
            let c = pack.get(*at).expect("an entry where append said");
            assert_eq!(&c.html, html);
            assert_eq!(c.summary, (i % 3 == 0).then(|| format!("summary {i}")));
            assert!(pack.appended_now(*at));
        }
        let mut ranges = at.clone();
        ranges.sort();
        assert!(
            ranges.windows(2).all(|w| w[0].0 + w[0].1 <= w[1].0),
            "no overlap"
        );
        let end = ranges.last().map(|(o, l)| o + l).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            end,
            "no gap at the end"
        );

        // Opened again (the next build), the entries are still there, are
        // not this build's, and new ones go after them.
        drop(pack);
        let pack = Pack::open(path, false).unwrap();
        assert_eq!(pack.get(at[5]).unwrap().html, texts[5]);
        assert!(!pack.appended_now(at[5]));
        let next = pack
            .append(&("<p>new</p>", None, Some("https://x/i.png")))
            .unwrap();
        assert_eq!(next.0, end);
        assert_eq!(
            pack.get(next).unwrap().image_url.as_deref(),
            Some("https://x/i.png")
        );
    }
}
