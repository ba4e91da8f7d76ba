//! Lexical path clean-up shared by the feed definition (relative paths are
//! joined to the definition's folder) and the renderer (links between
//! posts): one implementation, so a diagnostic, a link and a file walk name
//! the same file the same way (`blog/a.md`, never `feeds/../blog/a.md`).

use std::path::{Component, Path, PathBuf};

/// Removes `.` and `..` without touching the disk (lexically: symbolic links
/// are not followed), so a link resolver sees the same path its own file
/// walk produced. A `..` with nothing left to remove is kept in a relative
/// path (`../blog` stays `../blog`) and dropped at the root of an absolute
/// one (`/..` is `/`), as the operating system reads them.
pub fn normalize_path(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    // Normal components in `out` that a `..` may still remove.
    let mut depth = 0usize;
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if depth > 0 {
                    out.pop();
                    depth -= 1;
                } else if !out.has_root() {
                    out.push("..");
                }
            }
            Component::Normal(part) => {
                out.push(part);
                depth += 1;
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_are_removed_without_climbing_above_the_root() {
        for (path, expected) in [
            ("/a/b/./../c/d.png", "/a/c/d.png"),
            ("feeds/../blog/a.md", "blog/a.md"),
            ("/srv/feeds/../blog", "/srv/blog"),
            ("../blog", "../blog"),
            ("a/../../blog", "../blog"),
            ("../../x/./y", "../../x/y"),
            ("/../etc", "/etc"),
            ("feeds/..", "."),
            ("./out", "out"),
        ] {
            assert_eq!(
                normalize_path(Path::new(path)),
                PathBuf::from(expected),
                "{path}"
            );
        }
    }
}
