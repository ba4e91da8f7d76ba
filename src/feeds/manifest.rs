//! The build manifest: what the last build of a blog read (a stat-only
//! fingerprint of its files), for which span of `now` its published set
//! holds, and the problems it reported. An unchanged blog is then not read
//! again: the next build repeats the problems and stops.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::BlogConfig;
use crate::diag::Diagnostic;
use crate::model::Post;
use crate::posts::confined::Roots;

/// The manifest's file name in the output folder.
pub const MANIFEST: &str = ".postbode-build.json";

/// What the last build saw, so an unchanged rebuild can stop early.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub version: String,
    pub inputs: String,
    /// The set of published posts is the same for any `now` in
    /// `[valid_from, valid_until)`.
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub problems: Vec<Diagnostic>,
    /// Published posts in that build: a blog that suddenly has far fewer is
    /// more likely a moved folder than a decision.
    #[serde(default)]
    pub published: usize,
    /// Every file that build wrote or kept, relative to the output folder:
    /// the only files a later build may remove.
    #[serde(default)]
    pub files: BTreeSet<String>,
}

impl Manifest {
    /// Whether a build at `now` of inputs with this fingerprint would write
    /// exactly what the last one wrote.
    pub fn still_fresh(&self, inputs: &str, now: DateTime<Utc>) -> bool {
        self.version == env!("CARGO_PKG_VERSION")
            && self.inputs == inputs
            && self.valid_from.is_none_or(|t| t <= now)
            && self.valid_until.is_none_or(|t| now < t)
    }
}

/// The window of `now` values for which the published set stays what it is
/// at `now`: from the newest date already reached to the next future date.
pub fn validity(
    posts: &[Post],
    now: DateTime<Utc>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let dated = posts
        .iter()
        .filter(|p| !p.draft && !p.unlisted)
        .map(|p| p.date);
    let from = dated.clone().filter(|d| *d <= now).max();
    let until = dated.filter(|d| *d > now).min();
    (from, until)
}

/// A digest of everything a build reads: the feed definition, and name, size
/// and modification time of every file in the blog folder and its tags and
/// authors files. Stat-only, so an unchanged rebuild reads no post.
pub fn fingerprint(config: &BlogConfig) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(std::fs::read(&config.file)?);
    let mut files: Vec<PathBuf> = config
        .tags_file
        .iter()
        .chain(config.authors_file.iter())
        .cloned()
        .collect();
    // Links are followed only while they stay inside the blog folder, as
    // the loader does: a link to `/proc` or a large folder elsewhere is
    // never walked.
    let roots = Roots::of_blog(config);
    let walk = walkdir::WalkDir::new(&config.source)
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| !e.path_is_symlink() || roots.locate(e.path()).is_ok());
    for entry in walk {
        match entry {
            Ok(e) if e.file_type().is_file() => files.push(e.into_path()),
            Ok(_) => {}
            // Unreadable entries are reported by the real read; here they
            // only make the fingerprint differ.
            Err(e) => hasher.update(e.to_string().as_bytes()),
        }
    }
    files.sort();
    for f in files {
        hasher.update(f.as_os_str().as_encoded_bytes());
        if let Ok(m) = std::fs::metadata(&f) {
            hasher.update(m.len().to_le_bytes());
            if let Ok(t) = m.modified() {
                let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                hasher.update(d.as_nanos().to_le_bytes());
            }
        }
        hasher.update([0]);
    }
    Ok(hex::encode(hasher.finalize()))
}

pub fn read(path: &Path) -> Option<Manifest> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_does_not_walk_links_that_leave_the_blog_folder() {
        let dir = tempfile::tempdir().unwrap();
        let (blog, elsewhere) = (dir.path().join("blog"), dir.path().join("elsewhere"));
        std::fs::create_dir_all(&blog).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::write(blog.join("2025-01-01-a.md"), "a").unwrap();
        std::os::unix::fs::symlink(&elsewhere, blog.join("docs")).unwrap();
        let toml = dir.path().join("feeds.toml");
        std::fs::write(
            &toml,
            "title = \"T\"\nsite_url = \"https://example.org\"\nsource = \"blog\"\noutput = \"out\"\n",
        )
        .unwrap();
        let config = crate::config::load(&toml).unwrap();
        let before = fingerprint(&config).unwrap();
        std::fs::write(elsewhere.join("2025-01-02-b.md"), "b").unwrap();
        assert_eq!(fingerprint(&config).unwrap(), before);
        std::fs::write(blog.join("2025-01-02-b.md"), "b").unwrap();
        assert_ne!(fingerprint(&config).unwrap(), before);
    }
}
