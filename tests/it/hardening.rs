//! What an unlucky operator does to a blog, and what the published output
//! must survive: a moved or emptied blog folder, an output folder shared with
//! a site's own files, a reader of `status` that goes away.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::helpers::*;

const NOW: &str = "2026-01-01T00:00:00Z";

/// Every file below `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            (rel, std::fs::read(e.path()).unwrap())
        })
        .collect()
}

fn post(blog: &TestBlog, day: u32, tag: &str) {
    blog.write(
        &format!("2025-06-{day:02}-post-{day}.md"),
        &format!("---\ntitle: Post {day}\ntags: [{tag}]\n---\nText of post {day}.\n"),
    );
}

#[test]
fn a_moved_blog_folder_is_an_error_that_leaves_the_published_feeds_untouched() {
    let blog = TestBlog::example();
    let first = blog.run(&["--now", NOW, "build"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let published = snapshot(&blog.out());
    assert!(published.contains_key("atom.xml"));

    std::fs::rename(blog.blog(), blog.path().join("blog.moved")).unwrap();
    for command in ["build", "run"] {
        let run = blog.run(&["--now", NOW, command]);
        assert_eq!(run.code, 2, "{command}: {}", run.stderr);
        assert!(
            run.stderr.contains("does not exist"),
            "{command}: {}",
            run.stderr
        );
        assert_eq!(
            snapshot(&blog.out()),
            published,
            "{command} changed the output"
        );
    }
}

#[test]
fn a_blog_that_loses_more_than_half_of_its_posts_is_refused_unless_allowed() {
    let blog = TestBlog::new("");
    for day in 1..=4 {
        post(&blog, day, if day == 1 { "kept" } else { "gone" });
    }
    let first = blog.run(&["--now", NOW, "build"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let published = snapshot(&blog.out());

    for day in 2..=4 {
        std::fs::remove_file(blog.blog().join(format!("2025-06-{day:02}-post-{day}.md"))).unwrap();
    }
    let refused = blog.run(&["--now", NOW, "build"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("from 4 published posts to 1")
            && refused.stderr.contains("--allow-shrink"),
        "{}",
        refused.stderr
    );
    assert_eq!(snapshot(&blog.out()), published);

    let allowed = blog.run(&["--now", NOW, "build", "--allow-shrink"]);
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
    let atom = blog.read_out("atom.xml");
    assert_eq!(atom.matches("<entry>").count(), 1, "{atom}");
    assert!(!blog.out().join("tags/gone").exists());

    // Losing fewer than half is an ordinary edit.
    post(&blog, 5, "kept");
    post(&blog, 6, "kept");
    let grown = blog.run(&["--now", NOW, "build"]);
    assert_eq!(grown.code, 0, "{}", grown.stderr);
    std::fs::remove_file(blog.blog().join("2025-06-06-post-6.md")).unwrap();
    let edited = blog.run(&["--now", NOW, "build"]);
    assert_eq!(edited.code, 0, "{}", edited.stderr);
}

#[test]
fn a_build_removes_only_files_it_wrote_itself() {
    let blog = TestBlog::new("");
    post(&blog, 1, "kept");
    post(&blog, 2, "dropped");
    // The output folder is a site's build folder with files of its own.
    let site_files = ["assets/js/main.js", "docs/atom.xml", "tags/other/rss.xml"];
    for rel in site_files {
        let path = blog.out().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "the site's own").unwrap();
    }
    let first = blog.run(&["--now", NOW, "build"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(blog.out().join("tags/dropped/atom.xml").exists());

    blog.write(
        "2025-06-02-post-2.md",
        "---\ntitle: Post 2\ntags: [kept]\n---\nRetagged.\n",
    );
    let second = blog.run(&["--now", NOW, "build"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(
        !blog.out().join("tags/dropped").exists(),
        "the feeds of a tag no post has any more are removed"
    );
    for rel in site_files {
        assert_eq!(
            std::fs::read_to_string(blog.out().join(rel)).unwrap(),
            "the site's own",
            "{rel} was touched"
        );
    }
}

#[test]
fn status_to_a_reader_that_went_away_ends_quietly() {
    let blog = TestBlog::example();
    // `status` reads an existing state (it never creates one).
    assert_eq!(blog.run(&["notify"]).code, 0);
    let mut child = Command::new(env!("CARGO_BIN_EXE_postbode"))
        .current_dir(blog.path())
        .args(["status"])
        .arg(blog.toml())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Closing the read end before postbode writes makes its writes fail
    // with EPIPE, as in `postbode status | head -0`.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
