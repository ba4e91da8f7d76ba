//! The build manifest: what the last build of a blog read (a stat-only
//! fingerprint of its files), for which span of `now` its published set
//! holds, and the problems it reported. An unchanged blog is then not read
//! again: the next build repeats the problems and stops.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::BlogConfig;
use crate::diag::Diagnostic;
use crate::model::Post;
use crate::posts::cache::{Stamp, Stamps};
use crate::posts::confined::Roots;

/// Where earlier versions kept the manifest and the lock: in the published
/// folder. Removed when found.
const LEGACY: [&str; 2] = [".postbode-build.json", ".postbode.lock"];

/// What postbode keeps between builds of one output folder – the manifest
/// and the lock – beside the state, never in the published folder (the
/// manifest holds local paths and problem messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildFiles {
    pub dir: PathBuf,
    /// File name of the manifest in `dir`.
    pub manifest: String,
    /// File names of the build cache and of the rendered posts it refers
    /// to, in `dir` (see `pipeline::cache`).
    pub cache: String,
    pub pack: String,
    pub lock: PathBuf,
    /// Present while a build writes: found at the start of the next, the
    /// last one did not finish.
    pub writing: PathBuf,
}

impl BuildFiles {
    /// `<state folder>/postbode-build/<blog>-<hash of the output folder>.json`
    /// (and `.lock`): the hash keeps two definitions with one name apart, and
    /// two blogs writing one folder take turns on one lock.
    pub fn of(config: &BlogConfig) -> BuildFiles {
        let base = match config.state.file() {
            Some(file) => file
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf(),
            // A database server is no folder: the machine's cache folder
            // (the one git checkouts use) holds the build's files.
            None => crate::source::cache_base(|k| std::env::var_os(k))
                .unwrap_or_else(|_| PathBuf::from(".")),
        };
        let dir = base.join("postbode-build");
        let output = std::path::absolute(&config.output).unwrap_or_else(|_| config.output.clone());
        let hash = hex::encode(Sha256::digest(output.as_os_str().as_encoded_bytes()));
        let stem = format!("{}-{}", config.name, &hash[..12]);
        BuildFiles {
            lock: dir.join(format!("{stem}.lock")),
            writing: dir.join(format!("{stem}.writing")),
            manifest: format!("{stem}.json"),
            cache: format!("{stem}.cache"),
            pack: format!("{stem}.pack"),
            dir,
        }
    }

    /// Takes the lock, waiting for another build of the same folder: two
    /// overlapping runs (a slow cron run and the next one) take turns, so one
    /// never removes what the other writes.
    pub fn lock(&self) -> std::io::Result<std::fs::File> {
        std::fs::create_dir_all(&self.dir)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock)?;
        file.lock()?;
        Ok(file)
    }

    pub fn read(&self) -> Option<Manifest> {
        read(&self.dir.join(&self.manifest))
    }
}

/// Removes the manifest and lock that earlier versions left in the output
/// folder.
pub fn remove_legacy(output: &Path) -> std::io::Result<()> {
    for name in LEGACY {
        match std::fs::remove_file(output.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

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
/// authors files. Stat-only, so an unchanged rebuild reads no post. Also
/// returns the stamp of every file, taken before the build reads any: what
/// the caches of a rebuild check their entries against.
pub fn fingerprint(config: &BlogConfig) -> std::io::Result<(String, Stamps)> {
    let mut hasher = Sha256::new();
    hasher.update(std::fs::read(&config.file)?);
    let mut files: Vec<(PathBuf, Option<Stamp>)> = config
        .tags_file
        .iter()
        .chain(config.authors_file.iter())
        .map(|f| (f.clone(), std::fs::metadata(f).ok().map(|m| Stamp::of(&m))))
        .collect();
    // Links are followed only while they stay inside the blog folder, as
    // the loader does: a link to `/proc` or a large folder elsewhere is
    // never walked.
    let roots = Roots::of_blog(config);
    let walk = walkdir::WalkDir::new(&config.source)
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| !e.path_is_symlink() || roots.locate(e.path()).is_ok());
    let mut entries = Vec::new();
    for entry in walk {
        match entry {
            Ok(e) if e.file_type().is_file() => entries.push(e),
            Ok(_) => {}
            // Unreadable entries are reported by the real read; here they
            // only make the fingerprint differ.
            Err(e) => hasher.update(e.to_string().as_bytes()),
        }
    }
    // The walk only lists (file types come with the directory entries);
    // the one stat per file, most of an unchanged build, runs in parallel.
    // With links followed, an entry's metadata is the target's.
    files.par_extend(entries.into_par_iter().map(|e| {
        let stamp = e.metadata().ok().map(|m| Stamp::of(&m));
        (e.into_path(), stamp)
    }));
    // By bytes: `Path`'s own order compares component by component, which
    // was a tenth of an edit rebuild. Any fixed order makes the digest.
    files.par_sort_unstable_by(|(a, sa), (b, sb)| {
        (a.as_os_str().as_encoded_bytes())
            .cmp(b.as_os_str().as_encoded_bytes())
            .then(sa.cmp(sb))
    });
    let mut stamps = crate::memory::fast_map(files.len());
    let mut others = Sha256::new();
    for (f, stamp) in files {
        let name = f.as_os_str().as_encoded_bytes();
        hasher.update(name);
        let post = matches!(f.extension().and_then(|e| e.to_str()), Some("md" | "mdx"));
        if !post {
            others.update(name);
            others.update([0]);
        }
        if let Some(stamp) = stamp {
            let mut bytes = [0; 24];
            bytes[..8].copy_from_slice(&stamp.len.to_le_bytes());
            bytes[8..].copy_from_slice(&stamp.mtime_ns.to_le_bytes());
            hasher.update(bytes);
            if !post {
                others.update(bytes);
            }
            stamps.insert(f.into_os_string(), stamp);
        }
        hasher.update([0]);
    }
    let others = others.finalize().into();
    Ok((hex::encode(hasher.finalize()), Stamps::new(stamps, others)))
}

fn read(path: &Path) -> Option<Manifest> {
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
        let before = fingerprint(&config).unwrap().0;
        std::fs::write(elsewhere.join("2025-01-02-b.md"), "b").unwrap();
        assert_eq!(fingerprint(&config).unwrap().0, before);
        std::fs::write(blog.join("2025-01-02-b.md"), "b").unwrap();
        assert_ne!(fingerprint(&config).unwrap().0, before);
    }
}
