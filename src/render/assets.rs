//! The registry of local files (mostly images beside posts) that the rendered
//! HTML points at. A feed reader cannot resolve `./img/a.png` against a post
//! page the way a browser on the site would, so every such file gets a public,
//! content-addressed name under `assets_url` and the writer copies it there.
//! Rendering runs on several threads, so the registry sits behind a mutex.
//! Only regular files whose real path lies inside the blog folder are
//! registered (see `posts::confined`): an image linked to `/etc/shadow` is
//! refused, never copied.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use sha2::{Digest, Sha256};

use crate::posts::confined::{Refusal, Roots};

/// How many hex digits of the content hash go into a file name: enough to
/// tell versions apart, short enough to read.
const HASH_CHARS: usize = 10;

/// Local files to publish next to the feeds.
#[derive(Debug)]
pub struct Assets {
    base_url: String,
    roots: Roots,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Public file name per source path, so a file shared by many posts is
    /// read and hashed once.
    by_path: HashMap<PathBuf, String>,
    /// Public file name -> real source path (no links): what the writer copies.
    files: BTreeMap<String, PathBuf>,
}

impl Assets {
    /// `assets_url` is the public URL of the folder the files are copied to;
    /// only files inside `roots` are registered.
    pub fn new(assets_url: &str, roots: Roots) -> Self {
        Assets {
            base_url: assets_url.trim_end_matches('/').to_owned(),
            roots,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Registers a local file and returns its public URL,
    /// `<assets_url>/<stem>-<first 10 hex of sha256>.<ext>`.
    /// A file outside the roots, or not a regular file, is refused.
    pub fn register(&self, abs_path: &Path) -> Result<String, Refusal> {
        if let Some(name) = self.lock().by_path.get(abs_path) {
            return Ok(self.url_of(name));
        }
        // Read and hash outside the lock: other threads keep rendering.
        let (real, bytes) = self.roots.read_located(abs_path)?;
        let name = public_name(abs_path, &bytes);
        let mut inner = self.lock();
        inner.files.entry(name.clone()).or_insert(real);
        inner.by_path.insert(abs_path.to_path_buf(), name.clone());
        Ok(self.url_of(&name))
    }

    /// The site's static folder (Docusaurus's `static/`), if known.
    pub(crate) fn static_dir(&self) -> Option<&Path> {
        self.roots.static_dir()
    }

    /// `(file name, real source path)` pairs, sorted by name.
    pub fn files(&self) -> Vec<(String, PathBuf)> {
        self.lock()
            .files
            .iter()
            .map(|(name, path)| (name.clone(), path.clone()))
            .collect()
    }

    fn url_of(&self, name: &str) -> String {
        format!("{}/{name}", self.base_url)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves the maps consistent
        // (every insert is a single call), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `<stem>-<hash>.<ext>`, limited to characters that need no escaping in a
/// URL or on any file system.
fn public_name(path: &Path, content: &[u8]) -> String {
    let digest = hex::encode(Sha256::digest(content));
    let hash = &digest[..HASH_CHARS];
    let stem = path
        .file_stem()
        .map(|s| safe_chars(&s.to_string_lossy()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "file".to_owned());
    match path.extension().map(|e| safe_chars(&e.to_string_lossy())) {
        Some(ext) if !ext.is_empty() => format!("{stem}-{hash}.{ext}"),
        _ => format!("{stem}-{hash}"),
    }
}

fn safe_chars(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_files_get_a_content_hashed_public_url() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("diagram.png");
        std::fs::write(&path, b"png bytes").unwrap();
        let assets = Assets::new("https://example.org/blog/assets/", Roots::new([dir.path()]));
        let url = assets.register(&path).unwrap();
        let expected_hash = &hex::encode(Sha256::digest(b"png bytes"))[..10];
        assert_eq!(
            url,
            format!("https://example.org/blog/assets/diagram-{expected_hash}.png")
        );
        assert_eq!(
            assets.files(),
            vec![(
                format!("diagram-{expected_hash}.png"),
                path.canonicalize().unwrap()
            )]
        );
    }

    #[test]
    fn the_same_file_registered_twice_is_listed_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jpg");
        std::fs::write(&path, b"x").unwrap();
        let assets = Assets::new("https://example.org/a", Roots::new([dir.path()]));
        let first = assets.register(&path).unwrap();
        let second = assets.register(&path).unwrap();
        assert_eq!(first, second);
        assert_eq!(assets.files().len(), 1);
    }

    #[test]
    fn changed_content_changes_the_public_name() {
        let dir = tempfile::tempdir().unwrap();
        let one = dir.path().join("one/pic.png");
        let two = dir.path().join("two/pic.png");
        std::fs::create_dir_all(one.parent().unwrap()).unwrap();
        std::fs::create_dir_all(two.parent().unwrap()).unwrap();
        std::fs::write(&one, b"first").unwrap();
        std::fs::write(&two, b"second").unwrap();
        let assets = Assets::new("https://example.org/a", Roots::new([dir.path()]));
        assert_ne!(
            assets.register(&one).unwrap(),
            assets.register(&two).unwrap()
        );
        assert_eq!(assets.files().len(), 2);
    }

    #[test]
    fn unreadable_files_are_an_error() {
        let assets = Assets::new("https://example.org/a", Roots::new(["/"]));
        assert!(assets.register(Path::new("/nonexistent/x.png")).is_err());
        assert!(assets.files().is_empty());
    }

    #[test]
    fn a_file_linked_from_outside_the_blog_is_refused_and_not_listed() {
        let dir = tempfile::tempdir().unwrap();
        let blog = dir.path().join("blog");
        std::fs::create_dir_all(&blog).unwrap();
        std::fs::write(dir.path().join("shadow"), b"secret").unwrap();
        std::os::unix::fs::symlink(dir.path().join("shadow"), blog.join("x.png")).unwrap();
        let assets = Assets::new("https://example.org/a", Roots::new([&blog]));
        let err = assets.register(&blog.join("x.png")).unwrap_err();
        assert!(matches!(err, Refusal::Outside { .. }), "{err}");
        assert!(assets.files().is_empty());
    }

    #[test]
    fn odd_file_names_become_url_safe() {
        let name = public_name(Path::new("/x/my photo (1).PNG"), b"");
        assert!(name.starts_with("my-photo--1--"), "{name}");
        assert!(name.ends_with(".PNG"));
        let no_ext = public_name(Path::new("/x/README"), b"");
        assert!(no_ext.starts_with("README-") && !no_ext.contains('.'));
    }
}
