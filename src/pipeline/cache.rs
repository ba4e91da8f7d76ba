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

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::BlogConfig;
use crate::diag::Diagnostic;
use crate::posts::cache::{PostCache, Stamp, Stamps};

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct BuildCache {
    /// The program, the feed definition, the tags and authors files: a
    /// cache made under other ones is not used.
    pub context: String,
    pub posts: PostCache,
    /// By post source path.
    pub renders: HashMap<String, RenderRecord>,
    /// Digest of the inputs of each feed file and its size, by its path in
    /// the output.
    pub feeds: HashMap<String, (String, u64)>,
}

/// One rendered post: what its HTML depended on, a digest of what came
/// out, and what it reported and published.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenderRecord {
    /// SHA-256 of the post file.
    pub file_hash: String,
    /// Digest of the stamps of every file in the blog folder that is not a
    /// post (images): an image the post names may have appeared, changed
    /// or gone.
    pub files_digest: String,
    /// Every link to a post file the renderer asked about, with its answer.
    pub links: Vec<(PathBuf, Option<String>)>,
    /// Digest of the HTML, summary and image URL.
    pub output: String,
    pub warnings: Vec<Diagnostic>,
    /// `(public name, real path)` of each file it published under `assets/`.
    pub assets: Vec<(String, PathBuf)>,
}

impl BuildCache {
    pub fn empty(context: String) -> BuildCache {
        BuildCache {
            context,
            ..BuildCache::default()
        }
    }

    /// The cache of the last build, if it was made in `context`.
    pub fn read(path: &Path, context: &str) -> BuildCache {
        let cache = std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<BuildCache>(&bytes).ok());
        match cache {
            Some(c) if c.context == context && c.posts.context == context => c,
            _ => BuildCache::empty(context.to_owned()),
        }
    }

    /// Written atomically; a failure only costs the next build its speed.
    pub fn write(&self, path: &Path) {
        let Some(dir) = path.parent() else { return };
        let written = serde_json::to_vec(self).map_err(std::io::Error::other).and_then(|bytes| {
            let mut temp = tempfile::NamedTempFile::new_in(dir)?;
            std::io::Write::write_all(&mut temp, &bytes)?;
            temp.persist(path).map_err(|e| e.error).map(drop)
        });
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
        h.update(std::fs::read(file).unwrap_or_default());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// A digest of the stamps of the blog's files other than posts.
pub fn files_digest(stamps: &Stamps) -> String {
    let mut files: Vec<(&PathBuf, &Stamp)> = stamps
        .iter()
        .filter(|(path, _)| {
            !matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("md" | "mdx")
            )
        })
        .collect();
    files.sort();
    let mut h = Sha256::new();
    for (path, stamp) in files {
        h.update(path.as_os_str().as_encoded_bytes());
        h.update([0]);
        h.update(stamp.len.to_le_bytes());
        h.update(stamp.mtime_ns.to_le_bytes());
    }
    hex::encode(h.finalize())
}
