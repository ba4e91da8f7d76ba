//! Bad input gets a clear message with file, line and column, never a panic,
//! and the good posts are still published.

use crate::helpers::*;

const NOW: &str = "2026-01-01T00:00:00Z";

fn blog_with_one_good_post() -> TestBlog {
    let blog = TestBlog::new("");
    blog.write("authors.yml", "anna:\n  name: Anna de Vries\n");
    blog.write("tags.yml", "api:\n  label: API\n");
    blog.write(
        "2025-01-01-good.md",
        "---\ntags: [api]\nauthors: [anna]\n---\n\n# Good post\n\nFine.\n\n<!-- truncate -->\n\nMore.\n",
    );
    blog
}

fn published_sources(blog: &TestBlog) -> Vec<String> {
    blog.posts_json(NOW)
        .into_iter()
        .filter(|p| p["published"] == true)
        .map(|p| p["source"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_kind_of_bad_post_is_reported_by_check_with_its_place_and_the_rest_survives() {
    let blog = blog_with_one_good_post();
    blog.write(
        "2025-01-02-broken-yaml.md",
        "---\ntitle: ok\ntags: [api\n---\n\nBody\n",
    );
    blog.write(
        "2025-01-03-tags-number.md",
        "---\ntitle: T\ntags: 5\n---\n\nBody\n",
    );
    blog.write(
        "2025-01-04-bad-date.md",
        "---\ntitle: T\ndate: 2025-02-30\n---\n\nBody\n",
    );
    blog.write("2025-13-45-bad-name-date.md", "# Impossible date\n");
    blog.write("2025-01-06-dup.md", "---\nslug: /same\n---\n# A\n");
    blog.write("2025-01-07-dup.md", "---\nslug: /same\n---\n# B\n");
    blog.write(
        "2025-01-08-unclosed.md",
        "---\ntitle: never closed\n\nBody\n",
    );
    std::fs::write(
        blog.blog().join("2025-01-09-latin1.md"),
        b"---\ntitle: T\n---\n\nCaf\xe9 au lait\n",
    )
    .unwrap();
    let huge = format!(
        "---\ntitle: Huge\n---\n\n{}",
        "lorem ipsum dolor sit amet\n".repeat(400_000)
    );
    blog.write("2025-01-10-huge.md", &huge);
    std::os::unix::fs::symlink(
        blog.blog().join("nowhere"),
        blog.blog().join("2025-01-11-dangling.md"),
    )
    .unwrap();

    let run = blog.run(&["--now", NOW, "check"]);
    assert_eq!(run.code, 1, "check exits 1 on errors\n{}", run.stderr);
    let err = &run.stderr;
    let expect = [
        (
            "2025-01-02-broken-yaml.md:3:7: error: tags: unclosed bracket",
            "broken YAML with its line",
        ),
        (
            "2025-01-03-tags-number.md:3:7: error: tags: ",
            "tags: 5 with its line",
        ),
        (
            "2025-01-04-bad-date.md:3:7: error: date:",
            "invalid date with line and column",
        ),
        (
            "2025-13-45-bad-name-date.md: error: the date 2025-13-45",
            "impossible date in a file name",
        ),
        (
            "2025-01-07-dup.md: error: permalink /blog/same is already used by 2025-01-06-dup.md",
            "duplicate permalink",
        ),
        (
            "2025-01-08-unclosed.md:1:1: error: front matter",
            "unclosed front matter",
        ),
        (
            "2025-01-09-latin1.md:5:4: error: invalid UTF-8",
            "invalid UTF-8 with line and column",
        ),
        ("2025-01-10-huge.md: error: post is", "a 10 MB post"),
        ("2025-01-11-dangling.md", "an unreadable file"),
    ];
    for (needle, what) in expect {
        assert!(
            err.contains(needle),
            "{what}: expected {needle:?} in\n{err}"
        );
    }
    assert!(!err.contains("panicked"), "{err}");

    let published = published_sources(&blog);
    assert!(
        published.contains(&"2025-01-01-good.md".to_string()),
        "{published:?}"
    );
    assert!(
        published.contains(&"2025-01-06-dup.md".to_string()),
        "the first of two duplicates stays"
    );
    for bad in [
        "broken-yaml",
        "tags-number",
        "bad-date",
        "07-dup",
        "unclosed",
        "latin1",
        "huge",
    ] {
        assert!(
            !published.iter().any(|p| p.contains(bad)),
            "{bad} must not be published: {published:?}"
        );
    }
}

#[test]
fn an_unknown_author_or_tag_key_is_a_warning_and_the_post_is_still_published() {
    let blog = blog_with_one_good_post();
    blog.write(
        "2025-02-01-unknown.md",
        "---\nauthors: [anna, ghost-writer]\ntags: [api, mystery-tag]\n---\n\n# Unknown keys\n",
    );
    let run = blog.run(&["--now", NOW, "check"]);
    assert_eq!(run.code, 0, "warnings alone exit 0\n{}", run.stderr);
    assert!(
        run.stderr
            .contains("2025-02-01-unknown.md:2:10: warning: authors: \"ghost-writer\""),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("2025-02-01-unknown.md:3:7: warning: tags: \"mystery-tag\""),
        "{}",
        run.stderr
    );
    let post = blog
        .posts_json(NOW)
        .into_iter()
        .find(|p| p["source"] == "2025-02-01-unknown.md")
        .unwrap();
    assert_eq!(post["published"], true);
    assert_eq!(post["authors"][1]["name"], "ghost-writer");
    assert_eq!(post["tags"][1]["permalink"], "/blog/tags/mystery-tag");
}

#[test]
fn a_broken_feed_definition_exits_2_and_names_the_key() {
    let blog = TestBlog::new("colour = \"blue\"\n");
    let run = blog.run(&["check"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("feeds.toml:6:1"), "{}", run.stderr);
    assert!(run.stderr.contains("colour"), "{}", run.stderr);
}

#[test]
fn a_bad_value_in_a_feed_definition_exits_2_with_its_line_column_and_a_sentence() {
    // The definition's first five lines are the helper's; these start at 6.
    let cases = [
        (
            "timezone = \"Europe/Amsterdm\"\n",
            "feeds.toml:6:12: timezone: unknown time zone \"Europe/Amsterdm\" (did you mean \"Europe/Amsterdam\"?)",
        ),
        (
            "subscribers = 5\n",
            "feeds.toml:6:15: subscribers: expected a file name (\"subscribers.toml\") or [[subscribers]] tables, found 5",
        ),
        (
            "email = \"me@example.org\"\n",
            "feeds.toml:6:9: email: expected an [email] table (from = \"Blog <noreply@example.org>\", transport = \"smtp\" or \"file\"), found \"me@example.org\"",
        ),
        (
            "[email]\nfrom = \"a@example.org\"\ntransport = \"smtps\"\n",
            "feeds.toml:8:13: email.transport: unknown value \"smtps\" (expected smtp or file)",
        ),
        (
            "[[subscribers]]\nid = \"a\"\nemial = \"a@example.org\"\n",
            "feeds.toml:8:1: subscribers: unknown key \"emial\" (did you mean \"email\"?)",
        ),
    ];
    for (extra, expected) in cases {
        let blog = TestBlog::new(extra);
        let run = blog.run(&["check"]);
        assert_eq!(run.code, 2, "{extra}\n{}", run.stderr);
        let line = format!("postbode: {}/{expected}\n", blog.path().display());
        assert_eq!(run.stderr, line, "for {extra:?}");
    }
}

#[test]
fn a_mistake_in_a_separate_subscribers_file_is_reported_in_that_file() {
    let blog = TestBlog::new("subscribers = \"subscribers.toml\"\n");
    std::fs::write(
        blog.path().join("subscribers.toml"),
        "[[subscribers]]\nid = \"a\"\nemail = \"a@example.org\"\n\n[[subscribers]]\nid = \"b\"\nemail = \"b@example.org\"\ndigest = \"hourly\"\n",
    )
    .unwrap();
    let run = blog.run(&["check"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let file = blog.path().join("subscribers.toml");
    let expected = format!(
        "{}:8:10: error: subscriber b: unknown digest \"hourly\" (none, daily or weekly)",
        file.display()
    );
    assert!(run.stderr.contains(&expected), "{}", run.stderr);

    std::fs::write(
        &file,
        "[[subscribers]]\nid = \"a\"\nemial = \"a@example.org\"\n",
    )
    .unwrap();
    let run = blog.run(&["check"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let expected = format!(
        "{}:3:1: error: subscribers: unknown key \"emial\" (did you mean \"email\"?)",
        file.display()
    );
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
}
