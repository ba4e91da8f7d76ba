//! The output folder: writes feeds atomically and only when their bytes
//! change, copies assets once, and clears out feeds of tags and authors that
//! no longer exist.
//!
//! Atomic means a reader (or the web server) sees either the old file or the
//! new one, never half of one: each file is written to a temporary file in the
//! same directory and renamed over the target (`rename(2)` is atomic within a
//! file system). Skipping unchanged files keeps their mtime, so `ETag` and
//! `Last-Modified` stay put and conditional requests from readers get 304s.

use std::collections::{BTreeSet, HashSet};
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use tempfile::NamedTempFile;
use walkdir::WalkDir;

use crate::posts::confined::{Refusal, open_regular};

/// Temporary files start with this, so a crash's leftovers are recognisably
/// ours and [`OutputDir::remove_stale`] can clear them.
const TEMP_PREFIX: &str = ".postbode-";
const TEMP_SUFFIX: &str = ".tmp";

/// The root folder all feeds are written under.
#[derive(Debug, Clone)]
pub struct OutputDir {
    root: PathBuf,
}

impl OutputDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Atomic write (a temporary file in the target directory, then rename),
    /// skipped when the file already has exactly these bytes, which leaves
    /// its mtime untouched. Creates parent directories. Returns `Ok(true)`
    /// when it wrote.
    pub fn write_if_changed(&self, rel: &str, bytes: &[u8]) -> io::Result<bool> {
        let target = self.target(rel)?;
        if has_contents(&target, bytes)? {
            return Ok(false);
        }
        let mut temp = temp_file_for(&target)?;
        temp.write_all(bytes)?;
        // No fsync: an interrupted build is repaired by the next one, which
        // sees different bytes and writes again; syncing ~2000 files would
        // cost more than it protects.
        temp.persist(&target).map_err(|e| e.error)?;
        Ok(true)
    }

    /// The names of the regular files directly in folder `rel` (none when
    /// it is missing): one listing instead of a stat per file, for the
    /// thousands of images in `assets/`. A link is not a regular file.
    pub fn regular_files_in(&self, rel: &str) -> io::Result<HashSet<OsString>> {
        let entries = match fs::read_dir(self.target(rel)?) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HashSet::new()),
            Err(e) => return Err(e),
        };
        let mut names = HashSet::new();
        for entry in entries {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                names.insert(entry.file_name());
            }
        }
        Ok(names)
    }

    /// Copies `from` atomically unless the target already exists with the
    /// same size: assets have content-hashed names, so same name and size
    /// means same file. Returns `Ok(true)` when it copied. `from` must be a
    /// regular file reached without a link (the renderer registers real
    /// paths): a link or FIFO put in its place since is refused, not read.
    pub fn copy_if_missing(&self, rel: &str, from: &Path) -> io::Result<bool> {
        let target = self.target(rel)?;
        let mut source = open_regular(from).map_err(|e| match e {
            Refusal::Io(e) => e,
            refused => io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: {refused}", from.display()),
            ),
        })?;
        // A name no file has yet is created in place, without a temporary
        // file and a rename (half the directory operations, which are most
        // of the cost of thousands of small images): no published feed
        // names it before this build's feeds are written, after the copy,
        // and a copy cut short leaves a file of another size, which the
        // next build replaces.
        match new_file(&target) {
            Ok(mut file) => {
                return match io::copy(&mut source, &mut file) {
                    Ok(_) => Ok(true),
                    Err(e) => {
                        let _ = fs::remove_file(&target);
                        Err(e)
                    }
                };
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let size = source.metadata()?.len();
        // Not following a link: one in the file's place is replaced.
        match fs::symlink_metadata(&target) {
            Ok(meta) if meta.is_file() && meta.len() == size => return Ok(false),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut temp = temp_file_for(&target)?;
        io::copy(&mut source, &mut temp)?;
        temp.persist(&target).map_err(|e| e.error)?;
        Ok(true)
    }

    /// Removes the files an earlier build wrote (`written_before`, from its
    /// manifest) that this build no longer writes (`keep`), then the
    /// directories that left empty, and with `sweep` temporary files a
    /// crashed write left behind (that looks at every file of the output:
    /// worth it only after a build that did not finish). Paths are relative
    /// to the root with `/`. Nothing else is ever touched: the folder may be
    /// shared with a site's own files (a Docusaurus build has its own
    /// `assets/` and `atom.xml`). Returns what it removed, sorted.
    pub fn remove_stale(
        &self,
        keep: &BTreeSet<String>,
        written_before: &BTreeSet<String>,
        sweep: bool,
    ) -> io::Result<Vec<String>> {
        if !self.root.is_dir() {
            return Ok(Vec::new());
        }
        let mut removed = Vec::new();
        for rel in written_before.difference(keep) {
            let Ok(path) = self.target(rel) else {
                continue; // a manifest that names a path outside: not ours
            };
            match fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_file() => {
                    fs::remove_file(&path)?;
                    removed.push(rel.clone());
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let walk = sweep.then(|| WalkDir::new(&self.root).min_depth(1));
        for entry in walk.into_iter().flatten() {
            let entry = entry?;
            // The name first: this runs over every file of the output.
            let name = entry.file_name().to_str().unwrap_or_default();
            if !(name.starts_with(TEMP_PREFIX)
                && name.ends_with(TEMP_SUFFIX)
                && entry.file_type().is_file())
            {
                continue;
            }
            let Some(rel) = rel_string(&self.root, entry.path()) else {
                continue; // not UTF-8, so not a name we write
            };
            fs::remove_file(entry.path())?;
            removed.push(rel);
        }
        removed.sort();
        for rel in &removed {
            self.remove_empty_parents(Path::new(rel))?;
        }
        Ok(removed)
    }

    /// Removes the directories above `rel` that are now empty, stopping at
    /// the first one that is not (and never removing the root).
    fn remove_empty_parents(&self, rel: &Path) -> io::Result<()> {
        let mut dir = rel.parent();
        while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
            let path = self.root.join(d);
            match fs::read_dir(&path).map(|mut entries| entries.next().is_none()) {
                Ok(true) => fs::remove_dir(&path)?,
                Ok(false) => break,
                // Already gone: removed via another stale file below it.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            dir = d.parent();
        }
        Ok(())
    }

    /// `rel` under the root, refusing anything that could escape it.
    fn target(&self, rel: &str) -> io::Result<PathBuf> {
        let path = Path::new(rel);
        let plain = !rel.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
        if !plain {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("output path must be relative and stay inside the output folder: {rel:?}"),
            ));
        }
        Ok(self.root.join(path))
    }
}

/// True when `path` is a file holding exactly `bytes`. The size check first
/// means a changed feed is usually detected without reading it; the compare
/// streams through a small buffer rather than reading a whole feed into a
/// fresh allocation.
fn has_contents(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if !meta.is_file() || meta.len() != bytes.len() as u64 {
        return Ok(false);
    }
    let mut buf = vec![0; 64 * 1024];
    let mut rest = bytes;
    loop {
        let n = match file.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(rest.is_empty());
        }
        match rest.split_at_checked(n) {
            Some((head, tail)) if head == &buf[..n] => rest = tail,
            _ => return Ok(false),
        }
    }
}

/// Creates `path`, failing if anything is there (a link included), readable
/// by a web server running as another user (0666 minus the umask). Its
/// folder is created only when missing: one system call per file, not two.
fn new_file(path: &Path) -> io::Result<File> {
    let create = || {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
    };
    match create() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir)?;
            }
            create()
        }
        created => created,
    }
}

/// A temporary file next to `target` (same directory, so the rename is
/// atomic), creating the directory when needed.
fn temp_file_for(target: &Path) -> io::Result<NamedTempFile> {
    let dir = target.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX).suffix(TEMP_SUFFIX);
    // NamedTempFile defaults to 0600, which a web server running as another
    // user cannot read; 0666 minus the umask is what File::create would give.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

fn rel_string(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn files(root: &Path) -> Vec<String> {
        WalkDir::new(root)
            .min_depth(1)
            .sort_by_file_name()
            .into_iter()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().is_file())
            .map(|e| rel_string(root, e.path()).unwrap())
            .collect()
    }

    fn keep(paths: &[&str]) -> BTreeSet<String> {
        paths.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn writing_the_same_bytes_twice_skips_the_second_write_and_keeps_the_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::new(dir.path());
        assert!(
            out.write_if_changed("tags/api/atom.xml", b"<feed/>")
                .unwrap()
        );

        let path = dir.path().join("tags/api/atom.xml");
        let past = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(past)
            .unwrap();

        assert!(
            !out.write_if_changed("tags/api/atom.xml", b"<feed/>")
                .unwrap()
        );
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), past);

        // Same size, different bytes: still rewritten.
        assert!(
            out.write_if_changed("tags/api/atom.xml", b"<feed2")
                .unwrap()
        );
        assert_eq!(fs::read(&path).unwrap(), b"<feed2");
        assert_ne!(fs::metadata(&path).unwrap().modified().unwrap(), past);
    }

    #[test]
    fn writes_leave_no_temporary_files_even_when_they_fail() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::new(dir.path());
        out.write_if_changed("atom.xml", b"one").unwrap();
        out.write_if_changed("atom.xml", b"two!").unwrap();
        // A directory where the file should go makes the rename fail.
        fs::create_dir_all(dir.path().join("rss.xml/blocker")).unwrap();
        assert!(out.write_if_changed("rss.xml", b"never").is_err());

        assert_eq!(files(dir.path()), ["atom.xml"]);
        assert_eq!(fs::read(dir.path().join("atom.xml")).unwrap(), b"two!");
    }

    #[cfg(unix)]
    #[test]
    fn written_files_are_readable_by_the_web_server() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::new(dir.path());
        out.write_if_changed("atom.xml", b"x").unwrap();
        let mode = fs::metadata(dir.path().join("atom.xml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o044, 0o044, "group and others can read ({mode:o})");
    }

    #[test]
    fn paths_that_escape_the_output_folder_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::new(dir.path().join("out"));
        for rel in ["../evil.xml", "/etc/passwd", "", "tags/../../x"] {
            let err = out.write_if_changed(rel, b"x").unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{rel}");
        }
        assert!(!dir.path().join("evil.xml").exists());
    }

    #[test]
    fn a_copy_source_replaced_by_a_link_or_fifo_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("secret"), b"secret").unwrap();
        let link = dir.path().join("x.png");
        std::os::unix::fs::symlink(dir.path().join("secret"), &link).unwrap();
        let fifo = dir.path().join("y.png");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        let out = OutputDir::new(dir.path().join("out"));
        assert!(out.copy_if_missing("assets/x.png", &link).is_err());
        let err = out.copy_if_missing("assets/y.png", &fifo).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(!dir.path().join("out/assets/x.png").exists());
        assert!(!dir.path().join("out/assets/y.png").exists());
    }

    #[test]
    fn copies_happen_once_per_name_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("logo.3f2a.png");
        fs::write(&src, b"png-bytes").unwrap();
        let out = OutputDir::new(dir.path().join("out"));

        assert!(out.copy_if_missing("assets/logo.3f2a.png", &src).unwrap());
        assert!(!out.copy_if_missing("assets/logo.3f2a.png", &src).unwrap());
        assert_eq!(
            fs::read(dir.path().join("out/assets/logo.3f2a.png")).unwrap(),
            b"png-bytes"
        );
        // A truncated earlier copy has another size, so it is replaced.
        fs::write(dir.path().join("out/assets/logo.3f2a.png"), b"png").unwrap();
        assert!(out.copy_if_missing("assets/logo.3f2a.png", &src).unwrap());
        assert_eq!(files(&dir.path().join("out")), ["assets/logo.3f2a.png"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_link_where_an_asset_goes_is_replaced_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a.png");
        fs::write(&src, b"png-bytes").unwrap();
        let outside = dir.path().join("outside.txt");
        fs::create_dir_all(dir.path().join("out/assets")).unwrap();
        std::os::unix::fs::symlink(&outside, dir.path().join("out/assets/a.png")).unwrap();
        let out = OutputDir::new(dir.path().join("out"));
        assert!(out.copy_if_missing("assets/a.png", &src).unwrap());
        assert!(!outside.exists(), "the copy went through the link");
        let target = dir.path().join("out/assets/a.png");
        assert!(!fs::symlink_metadata(&target).unwrap().is_symlink());
        assert_eq!(fs::read(target).unwrap(), b"png-bytes");
    }

    #[test]
    fn remove_stale_removes_only_files_an_earlier_build_wrote_and_their_empty_folders() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::new(dir.path());
        for rel in [
            "atom.xml",
            "feeds.opml",
            "index.html",
            "tags/api/atom.xml",
            "tags/old/atom.xml",
            "tags/old/feed.json",
            "authors/gone/rss.xml",
            "assets/old.1234.png",
            "assets/new.5678.png",
            // The site's own files, never written by postbode.
            "assets/js/main.js",
            "docs/atom.xml",
            "authors/gone/index.html",
            "tags/api/.postbode-abc123.tmp",
        ] {
            out.write_if_changed(rel, b"x").unwrap();
        }
        let before = keep(&[
            "atom.xml",
            "feeds.opml",
            "index.html",
            "tags/api/atom.xml",
            "tags/old/atom.xml",
            "tags/old/feed.json",
            "authors/gone/rss.xml",
            "assets/old.1234.png",
            "assets/new.5678.png",
            "../outside.xml",
        ]);
        let kept = keep(&[
            "atom.xml",
            "feeds.opml",
            "index.html",
            "tags/api/atom.xml",
            "assets/new.5678.png",
        ]);

        let removed = out.remove_stale(&kept, &before, true).unwrap();
        assert_eq!(
            removed,
            [
                "assets/old.1234.png",
                "authors/gone/rss.xml",
                "tags/api/.postbode-abc123.tmp",
                "tags/old/atom.xml",
                "tags/old/feed.json",
            ]
        );
        assert_eq!(
            files(dir.path()),
            [
                "assets/js/main.js",
                "assets/new.5678.png",
                "atom.xml",
                "authors/gone/index.html",
                "docs/atom.xml",
                "feeds.opml",
                "index.html",
                "tags/api/atom.xml",
            ]
        );
        assert!(!dir.path().join("tags/old").exists());
        assert!(dir.path().join("authors/gone").exists());
        assert!(out.remove_stale(&kept, &before, true).unwrap().is_empty());
    }

    #[test]
    fn without_a_manifest_nothing_but_temporary_files_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::new(dir.path());
        for rel in ["atom.xml", "assets/js/main.js", ".postbode-x.tmp"] {
            out.write_if_changed(rel, b"x").unwrap();
        }
        let removed = out.remove_stale(&keep(&[]), &keep(&[]), true).unwrap();
        assert_eq!(removed, [".postbode-x.tmp"]);
        assert_eq!(files(dir.path()), ["assets/js/main.js", "atom.xml"]);
    }

    #[test]
    fn remove_stale_on_a_missing_folder_removes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::new(dir.path().join("not-yet"));
        assert!(
            out.remove_stale(&BTreeSet::new(), &keep(&["atom.xml"]), true)
                .unwrap()
                .is_empty()
        );
    }
}
