//! What an unlucky operator does to a blog, and what the published output
//! must survive: a moved or emptied blog folder, an output folder shared with
//! a site's own files, a reader of `status` that goes away.

use std::process::{Command, Stdio};

use crate::helpers::*;

const NOW: &str = "2026-01-01T00:00:00Z";

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
    let published = tree(&blog.out());
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
        assert_eq!(tree(&blog.out()), published, "{command} changed the output");
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
    let published = tree(&blog.out());

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
    assert_eq!(tree(&blog.out()), published);

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

#[test]
fn the_published_folder_holds_no_internal_files() {
    let blog = TestBlog::example();
    // What an earlier version left in the published folder.
    std::fs::create_dir_all(blog.out()).unwrap();
    std::fs::write(blog.out().join(".postbode-build.json"), "{}").unwrap();
    std::fs::write(blog.out().join(".postbode.lock"), "").unwrap();
    let run = blog.run(&["--now", NOW, "build"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let hidden: Vec<String> = tree(&blog.out())
        .into_keys()
        .filter(|rel| rel.split('/').any(|part| part.starts_with('.')))
        .collect();
    assert!(hidden.is_empty(), "internal files published: {hidden:?}");
    // The manifest lives beside the state, and still makes a rebuild cheap.
    let internal = blog.path().join("postbode-build");
    let manifests: Vec<_> = std::fs::read_dir(&internal)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert_eq!(manifests.len(), 1, "{manifests:?}");
    assert!(manifests[0].starts_with("feeds-"), "{manifests:?}");
    let again = blog.run(&["--now", NOW, "build"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
}

#[test]
fn an_emptied_output_folder_is_written_again_though_no_post_changed() {
    let blog = TestBlog::example();
    assert_eq!(blog.run(&["--now", NOW, "build"]).code, 0);
    std::fs::remove_dir_all(blog.out()).unwrap();
    let run = blog.run(&["--now", NOW, "build"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(blog.out().join("atom.xml").is_file());
}
