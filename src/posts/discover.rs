//! Which files are posts. Docusaurus globs `**/*.{md,mdx}` in the blog folder,
//! skipping `_`-prefixed files and folders (its `GlobExcludeDefault`) and, as
//! globby does by default, dot-files and dot-folders.

use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::diag::Diagnostic;

/// A post file: its absolute path and its path relative to the blog folder
/// with `/` separators (the form Docusaurus's file-name rules read).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PostFile {
    pub relative: String,
    pub path: PathBuf,
}

pub fn post_files(blog_dir: &Path, problems: &mut Vec<Diagnostic>) -> Vec<PostFile> {
    let mut files = Vec::new();
    let walker = WalkDir::new(blog_dir)
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !is_hidden_or_private(e.file_name()));
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = e.path().unwrap_or(blog_dir).to_path_buf();
                problems.push(Diagnostic::error(path, format!("cannot read: {e}")));
                continue;
            }
        };
        if !entry.file_type().is_file() || !is_markdown(entry.path()) {
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
    files.sort();
    files
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
        let found: Vec<String> = post_files(root, &mut problems)
            .into_iter()
            .map(|f| f.relative)
            .collect();
        assert_eq!(
            found,
            ["2025-01-03-b.mdx", "2025/01/02-a.md", "folder/index.md"]
        );
        assert!(problems.is_empty());
    }
}
