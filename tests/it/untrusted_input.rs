//! What a hostile or careless blog can put in front of postbode: symbolic
//! links to private files and folders, a FIFO posing as a post, a post with
//! 20,000 tags, tag permalinks that climb out of the output folder, and YAML
//! or MDX that hits a limit. Nothing private is published or emailed, every
//! refusal names its file, and the rest of the blog is still built.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::*;

const NOW: &str = "2026-01-01T00:00:00Z";
const SECRET: &str = "POSTBODE-SECRET-7f3a9c";

/// `[email]` writing `.eml` files to `outbox/`, one subscriber, state in
/// `state.db`.
const EMAIL: &str = "state = \"state.db\"\n\n[email]\nfrom = \"Blog <noreply@example.org>\"\ntransport = \"file\"\noutbox = \"outbox\"\n\n[[subscribers]]\nid = \"all\"\nemail = \"all@example.org\"\n";

/// Every file below `dir` (not following links) whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    if !dir.exists() {
        return Vec::new();
    }
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            let bytes = std::fs::read(e.path()).unwrap();
            bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        })
        .map(|e| e.path().display().to_string())
        .collect()
}

fn folder_bytes(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

/// Runs postbode on the blog, killing it after `limit`: `None` when it did
/// not finish in time.
fn run_within(blog: &TestBlog, args: &[&str], limit: Duration) -> Option<Run> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_postbode"))
        .args(args)
        .arg(blog.toml())
        .current_dir(blog.path())
        .env_remove("POSTBODE_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run postbode");
    let start = Instant::now();
    while start.elapsed() < limit {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap().into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn post(blog: &TestBlog, name: &str, title: &str) {
    blog.write(
        name,
        &format!("---\ntitle: {title}\ntags: [ok]\n---\nText of {title}.\n"),
    );
}

#[test]
fn a_post_linked_to_a_private_file_is_neither_published_nor_emailed() {
    let blog = TestBlog::new(EMAIL);
    post(&blog, "2025-06-01-first.md", "First");
    let first = blog.run(&["--now", NOW, "run", "--backfill", "2025-01-01"]);
    assert_eq!(first.code, 0, "{}", first.stderr);

    let secret = blog.path().join("private.md");
    std::fs::write(
        &secret,
        format!("---\ntitle: Private\n---\nThe password is {SECRET}.\n"),
    )
    .unwrap();
    symlink(&secret, blog.blog().join("2025-09-20-private.md")).unwrap();
    // The process environment: where SMTP passwords and webhook secrets live.
    symlink("/proc/self/environ", blog.blog().join("2025-09-21-env.md")).unwrap();
    post(&blog, "2025-09-22-second.md", "Second");
    let run = blog.run_with_env(&["--now", NOW, "run"], &[("POSTBODE_TEST_SECRET", SECRET)]);
    assert!(run.code <= 1, "{}", run.stderr);
    for link in ["2025-09-20-private.md", "2025-09-21-env.md"] {
        assert!(
            run.stderr
                .lines()
                .any(|l| l.contains(link) && l.contains("not read")),
            "no warning names {link}:\n{}",
            run.stderr
        );
    }
    assert_eq!(files_containing(&blog.out(), SECRET), Vec::<String>::new());
    let outbox = blog.path().join("outbox");
    assert_eq!(files_containing(&outbox, SECRET), Vec::<String>::new());
    // The rest of the blog is built and announced.
    assert!(blog.read_out("atom.xml").contains("Second"));
    assert_eq!(files_containing(&outbox, "Second").len(), 1);
}

#[test]
fn an_image_linked_outside_the_blog_is_not_copied_and_its_reference_is_named() {
    let blog = TestBlog::new("");
    let private = blog.path().join("shadow");
    std::fs::write(&private, SECRET).unwrap();
    std::fs::create_dir_all(blog.blog().join("img")).unwrap();
    symlink(&private, blog.blog().join("img/x.png")).unwrap();
    symlink(&private, blog.blog().join("img/cover.png")).unwrap();
    blog.write(
        "2025-06-01-pics.md",
        "---\ntitle: Pics\nimage: ./img/cover.png\n---\nIntro.\n\n![x](./img/x.png)\n\n![y](../shadow)\n",
    );
    let run = blog.run(&["--now", NOW, "build"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(files_containing(&blog.out(), SECRET), Vec::<String>::new());
    let post = blog.blog().join("2025-06-01-pics.md");
    for (at, what) in [
        ("7:6", "./img/x.png"),
        ("9:6", "../shadow"),
        ("3:8", "./img/cover.png"),
    ] {
        let place = format!("{}:{at}", post.display());
        assert!(
            run.stderr
                .lines()
                .any(|l| l.contains(&place) && l.contains(what) && l.contains("not published")),
            "no warning at {place} for {what}:\n{}",
            run.stderr
        );
    }
}

#[test]
fn a_folder_linked_outside_the_blog_is_not_walked() {
    let blog = TestBlog::new("");
    post(&blog, "2025-06-01-kept.md", "Kept");
    let elsewhere = blog.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(
        elsewhere.join("2025-06-02-doc.md"),
        format!("---\ntitle: Doc\n---\n{SECRET}\n"),
    )
    .unwrap();
    symlink(&elsewhere, blog.blog().join("docs")).unwrap();
    let run = blog.run(&["--now", NOW, "build"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(files_containing(&blog.out(), SECRET), Vec::<String>::new());
    let link = blog.blog().join("docs");
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains(&link.display().to_string()) && l.contains("folder")),
        "{}",
        run.stderr
    );
    assert!(blog.read_out("atom.xml").contains("Kept"));
}

#[test]
fn a_fifo_named_like_a_post_is_skipped_with_a_warning_and_the_build_ends() {
    let blog = TestBlog::new("tags_file = \"tags.yml\"\n");
    post(&blog, "2025-06-01-kept.md", "Kept");
    let fifo = blog.blog().join("2025-01-01-x.md");
    // A configured file may live anywhere, but must be a regular file too.
    let tags_fifo = blog.path().join("tags.yml");
    for path in [&fifo, &tags_fifo] {
        let made = Command::new("mkfifo").arg(path).status().unwrap();
        assert!(made.success());
    }
    for command in ["check", "build"] {
        let run = run_within(&blog, &["--now", NOW, command], Duration::from_secs(60))
            .unwrap_or_else(|| panic!("{command} did not finish within a minute"));
        assert!(run.code <= 1, "{command}: {}", run.stderr);
        for (path, says) in [(&fifo, "not a regular file"), (&tags_fifo, "named pipe")] {
            let path = path.display().to_string();
            assert!(
                run.stderr
                    .lines()
                    .any(|l| l.contains(&path) && l.contains(says)),
                "{command}: {}",
                run.stderr
            );
        }
    }
    assert!(blog.read_out("atom.xml").contains("Kept"));
}

#[test]
fn links_that_stay_inside_the_blog_keep_working() {
    let blog = TestBlog::new("");
    blog.write(
        "2025-06-01-real.md",
        "---\ntitle: Real\n---\nSee ![d](./img/alias.png)\n",
    );
    blog.write("img/real.png", "png bytes");
    symlink("real.png", blog.blog().join("img/alias.png")).unwrap();
    symlink(
        "2025-06-01-real.md",
        blog.blog().join("2025-06-02-alias.md"),
    )
    .unwrap();
    // `_shared` is skipped as private; the link makes its posts public.
    blog.write(
        "_shared/2024-03-01-older.md",
        "---\ntitle: Older\n---\nOld.\n",
    );
    symlink("_shared", blog.blog().join("shared")).unwrap();
    let run = blog.run(&["--now", NOW, "build"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("not read"), "{}", run.stderr);
    let atom = blog.read_out("atom.xml");
    assert!(atom.contains("/blog/2025/06/02/alias"), "{atom}");
    assert!(atom.contains("/blog/2025/06/01/real"), "{atom}");
    assert!(atom.contains("Older"), "{atom}");
    let assets: Vec<_> = std::fs::read_dir(blog.out().join("assets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(assets.len(), 1, "{assets:?}");
    assert!(assets[0].starts_with("alias-"), "{assets:?}");
}

#[test]
fn a_post_with_twenty_thousand_tags_and_a_thousand_authors_gives_bounded_output() {
    let blog = TestBlog::new("by_tag = true\nby_author = true\n");
    let tags: Vec<String> = (0..20_000).map(|i| format!("tag-{i}")).collect();
    let authors: Vec<String> = (0..1_000)
        .map(|i| format!("  - name: Author {i}\n"))
        .collect();
    blog.write(
        "2025-06-01-tags.md",
        &format!(
            "---\ntitle: Tags\ntags: [{}]\nauthors:\n{}---\n{}\n",
            tags.join(", "),
            authors.concat(),
            "Some text. ".repeat(2_000)
        ),
    );
    let run = run_within(&blog, &["--now", NOW, "build"], Duration::from_secs(120))
        .expect("the build finishes within two minutes");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let post = blog.blog().join("2025-06-01-tags.md").display().to_string();
    for warning in [
        "the post has 20000 tags; only the first 100 are kept",
        "the post has 1000 authors; only the first 100 are kept",
    ] {
        assert!(
            run.stderr
                .lines()
                .any(|l| l.starts_with(&format!("{post}:")) && l.contains(warning)),
            "{warning}:\n{}",
            run.stderr
        );
    }
    // 201 channels (the blog, 100 tags, 100 authors) in 3 formats, each
    // with the one post: tens of megabytes, where uncapped it was gigabytes.
    let size = folder_bytes(&blog.out());
    assert!(size < 40_000_000, "the output is {size} bytes");
    assert!(blog.out().join("tags/tag-99/atom.xml").exists());
    assert!(!blog.out().join("tags/tag-100").exists());
}

/// A blog whose `tags.yml` gives tags permalinks that are not folder names.
fn bad_permalink_blog() -> TestBlog {
    let blog = TestBlog::new("tags_file = \"tags.yml\"\nby_tag = true\n");
    std::fs::write(
        blog.path().join("tags.yml"),
        "ok:\n  label: OK\nup:\n  label: Up\n  permalink: /..\ndot:\n  label: Dot\n  permalink: .\n",
    )
    .unwrap();
    blog.write(
        "2025-06-01-a.md",
        "---\ntitle: A\ntags:\n  - ok\n  - up\n  - dot\n  - {label: Out, permalink: /../../x}\n---\nText.\n",
    );
    blog
}

#[test]
fn tag_permalinks_that_are_not_folder_names_are_errors_in_check_and_build_alike() {
    let blog = bad_permalink_blog();
    let tags_yml = blog.path().join("tags.yml").display().to_string();
    let post = blog.blog().join("2025-06-01-a.md").display().to_string();
    let expected = [
        (format!("{tags_yml}:5:14:"), "\"/..\""),
        (format!("{tags_yml}:8:14:"), "\".\""),
        (format!("{post}:4:3:"), "\"/../../x\""),
    ];
    for command in ["check", "build"] {
        let run = blog.run(&["--now", NOW, command]);
        assert_eq!(run.code, 1, "{command}: {}", run.stderr);
        for (place, permalink) in &expected {
            assert!(
                run.stderr
                    .lines()
                    .any(|l| l.starts_with(place.as_str()) && l.contains(permalink)),
                "{command}: no error at {place} for {permalink}:\n{}",
                run.stderr
            );
        }
    }
    // The rest of the blog is built; the rejected tags have no feed and no
    // link to one.
    assert!(blog.read_out("atom.xml").contains(">A<"));
    assert!(blog.out().join("tags/ok/atom.xml").exists());
    assert!(!blog.out().join("tags/atom.xml").exists());
    assert!(!blog.path().join("atom.xml").exists());
    for listing in ["feeds.opml", "index.html"] {
        let text = blog.read_out(listing);
        assert!(text.contains("tags/ok/atom.xml"), "{listing}: {text}");
        assert!(!text.contains("tags/atom.xml"), "{listing}: {text}");
        assert!(!text.contains("tags/./"), "{listing}: {text}");
        assert!(!text.contains("tags/../"), "{listing}: {text}");
    }
}

#[test]
fn limits_in_yaml_and_mdx_are_sentences_with_a_place_not_rust_internals() {
    let blog = TestBlog::new("");
    let many: Vec<&str> = vec!["a"; 260_000];
    blog.write(
        "2025-06-01-huge.md",
        &format!(
            "---\ntitle: Huge\nkeywords: [{}]\n---\nText.\n",
            many.join(",")
        ),
    );
    blog.write(
        "2025-06-02-shape.md",
        "---\ntitle: Shape\ntags:\n  - {label: no permalink}\n---\nText.\n",
    );
    blog.write(
        "2025-06-03-deep.mdx",
        &format!(
            "---\ntitle: Deep\n---\n{}Text{}\n",
            "<Box>\n".repeat(70),
            "\n</Box>".repeat(70)
        ),
    );
    let run = blog.run(&["--now", NOW, "check"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    for internal in ["Nodes {", "budget breached", "untagged enum", "TagEntry"] {
        assert!(
            !run.stderr.contains(internal),
            "{internal}:\n{}",
            run.stderr
        );
    }
    let line_of = |file: &str| {
        let path = blog.blog().join(file).display().to_string();
        run.stderr
            .lines()
            .find(|l| l.starts_with(&format!("{path}:")))
            .unwrap_or_else(|| panic!("nothing about {file}:\n{}", run.stderr))
            .to_owned()
    };
    assert!(line_of("2025-06-01-huge.md").contains("too large"));
    assert!(line_of("2025-06-02-shape.md").contains("a tag must be a name"));
    let deep = line_of("2025-06-03-deep.mdx");
    assert!(deep.contains("nested more than 64 levels"), "{deep}");
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.org"])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_symlink_committed_to_a_git_source_publishes_nothing_outside_the_blog_folder() {
    let blog = TestBlog::new("");
    let (remote, work) = (blog.path().join("remote.git"), blog.path().join("work"));
    std::fs::create_dir_all(&remote).unwrap();
    std::fs::create_dir_all(work.join("blog")).unwrap();
    git(&remote, &["init", "-q", "--bare"]);
    git(&work, &["init", "-q"]);
    git(
        &work,
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    std::fs::write(
        work.join("blog/2025-06-01-kept.md"),
        "---\ntitle: Kept\n---\nText.\n",
    )
    .unwrap();
    // Beside the blog folder in the same repository: still not the blog.
    std::fs::write(
        work.join("notes.md"),
        format!("---\ntitle: Notes\n---\n{SECRET}\n"),
    )
    .unwrap();
    symlink("../notes.md", work.join("blog/2025-09-20-notes.md")).unwrap();
    symlink("/proc/self/environ", work.join("blog/2025-09-21-env.md")).unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "posts"]);
    git(&work, &["push", "-q", "origin", "main"]);
    std::fs::write(
        blog.toml(),
        format!(
            "title = \"T\"\nsite_url = \"{SITE}\"\nsource = {{ git = \"file://{}\", branch = \"main\", path = \"blog\" }}\noutput = \"out\"\n",
            remote.display()
        ),
    )
    .unwrap();
    let cache = blog.path().join("cache");
    let run = blog.run_with_env(
        &["--now", NOW, "build"],
        &[
            ("POSTBODE_CACHE_DIR", cache.to_str().unwrap()),
            ("POSTBODE_TEST_SECRET", SECRET),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(files_containing(&blog.out(), SECRET), Vec::<String>::new());
    for link in ["2025-09-20-notes.md", "2025-09-21-env.md"] {
        assert!(
            run.stderr
                .lines()
                .any(|l| l.contains(link) && l.contains("not read")),
            "no warning names {link}:\n{}",
            run.stderr
        );
    }
    assert!(blog.read_out("atom.xml").contains("Kept"));
}
