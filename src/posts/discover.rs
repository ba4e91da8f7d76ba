//! Which files are posts. Docusaurus globs `**/*.{md,mdx}` in the blog folder,
//! skipping `_`-prefixed files and folders (its `GlobExcludeDefault`) and, as
//! globby does by default, dot-files and dot-folders. Links are followed
//! only while they stay inside the blog folder (see `confined`): a post
//! linked to another name in the blog works, a link to a private file or
//! folder outside is a warning and is never read.

use std::path::{Path, PathBuf};

use walkdir::{DirEntry, WalkDir};

use super::confined::Roots;
use crate::diag::Diagnostic;

/// A post file: its absolute path and its path relative to the blog folder
/// with `/` separators (the form Docusaurus's file-name rules read).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PostFile {
    pub relative: String,
    pub path: PathBuf,
}

pub fn post_files(blog_dir: &Path, roots: &Roots, problems: &mut Vec<Diagnostic>) -> Vec<PostFile> {
    let mut files = Vec::new();
    let mut refused = Vec::new();
    let walker = WalkDir::new(blog_dir)
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0
                || (!is_hidden_or_private(e.file_name()) && stays_inside(e, roots, &mut refused))
        });
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = e.path().unwrap_or(blog_dir).to_path_buf();
                // walkdir's own text repeats the path and says "IO error for
                // operation on"; say what is wrong instead.
                let message = match (e.loop_ancestor(), e.io_error()) {
                    (Some(ancestor), _) => format!(
                        "this link leads back to {}, a folder it is in; it is not followed",
                        ancestor.display()
                    ),
                    (_, Some(io)) if io.kind() == std::io::ErrorKind::NotFound => {
                        "this link leads to nothing (its target does not exist); remove it or fix its target".to_owned()
                    }
                    (_, Some(io)) => format!("cannot read: {io}"),
                    _ => format!("cannot read: {e}"),
                };
                problems.push(Diagnostic::error(path, message));
                continue;
            }
        };
        if !is_markdown(entry.path()) || entry.file_type().is_dir() {
            continue;
        }
        if !entry.file_type().is_file() {
            // A FIFO would block the read for ever, a device never ends.
            problems.push(Diagnostic::warning(
                entry.path(),
                "not read: this post is not a regular file (a named pipe, socket or device); replace it with a regular file",
            ));
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(blog_dir) else {
            continue;
        };
        let relative = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        files.push(PostFile {
            relative,
            path: entry.path().to_path_buf(),
        });
    }
    problems.append(&mut refused);
    files.sort();
    files
}

/// Whether the walk may enter or read `entry`: a link must lead inside the
/// blog folder. A refused folder or post file is reported; other refused
/// files (images) are reported where a post uses them.
fn stays_inside(entry: &DirEntry, roots: &Roots, refused: &mut Vec<Diagnostic>) -> bool {
    if !entry.path_is_symlink() {
        return true;
    }
    let is_dir = entry.file_type().is_dir();
    match roots.locate(entry.path()) {
        Ok(_) => true,
        Err(why) => {
            if is_dir {
                refused.push(Diagnostic::warning(
                    entry.path(),
                    format!("this folder is not read: {why}"),
                ));
            } else if is_markdown(entry.path()) {
                refused.push(Diagnostic::warning(
                    entry.path(),
                    format!("this post is not read: {why}"),
                ));
            }
            false
        }
    }
}

fn is_hidden_or_private(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with('_') || name.starts_with('.')
}

fn is_markdown(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("md") | Some("mdx")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_markdown_outside_private_and_hidden_folders_is_a_post() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "2025/01/02-a.md",
            "2025-01-03-b.mdx",
            "folder/index.md",
            "_drafts/x.md",
            "_partial.mdx",
            ".hidden/y.md",
            "authors.yml",
            "2025/.DS_Store",
            "img/pic.png",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        let mut problems = Vec::new();
        let found: Vec<String> = post_files(root, &Roots::new([root]), &mut problems)
            .into_iter()
            .map(|f| f.relative)
            .collect();
        assert_eq!(
            found,
            ["2025-01-03-b.mdx", "2025/01/02-a.md", "folder/index.md"]
        );
        assert!(problems.is_empty());
    }

    #[test]
    fn links_inside_are_followed_and_links_outside_dangling_or_looping_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("blog");
        std::fs::create_dir_all(root.join("_shared")).unwrap();
        std::fs::write(root.join("_shared/2025-01-01-a.md"), "a").unwrap();
        std::fs::write(dir.path().join("outside.md"), "secret").unwrap();
        let link = |to: &str, name: &str| std::os::unix::fs::symlink(to, root.join(name)).unwrap();
        link("_shared", "shared");
        link("../outside.md", "2025-01-02-out.md");
        link("missing.md", "2025-01-03-gone.md");
        link(".", "again");
        let mut problems = Vec::new();
        let found: Vec<String> = post_files(&root, &Roots::new([&root]), &mut problems)
            .into_iter()
            .map(|f| f.relative)
            .collect();
        assert_eq!(found, ["shared/2025-01-01-a.md"]);
        let mut said: Vec<String> = problems
            .iter()
            .map(|d| {
                let name = d.path.file_name().unwrap().to_string_lossy();
                format!("{name}: {}", d.message)
            })
            .collect();
        said.sort();
        assert_eq!(said.len(), 3, "{said:#?}");
        assert!(
            said[0].starts_with("2025-01-02-out.md: this post is not read: it leads"),
            "{said:#?}"
        );
        assert!(
            said[1].starts_with("2025-01-03-gone.md: this link leads to nothing"),
            "{said:#?}"
        );
        assert!(
            said[2].starts_with("again: this link leads back to"),
            "{said:#?}"
        );
    }
}
