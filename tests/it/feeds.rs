//! Feeds as a feed reader sees them: built by the real binary, parsed by an
//! independent checker (Python feedparser plus the W3C validator's rules).

use std::path::Path;

use serde_json::Value;

use crate::helpers::*;

const NOW: &str = "2026-01-01T00:00:00Z";
const FEEDS_URL: &str = "https://example.org/blog";

fn build(blog: &TestBlog, now: &str) -> Run {
    let run = blog.run(&["--now", now, "build"]);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run
}

/// Entry ids per feed file, checking that the checker found no problem.
fn checked_entries(out: &Path, feeds_url: &str) -> serde_json::Map<String, Value> {
    let report = feedcheck(out, feeds_url);
    let problems = report["problems"].as_array().cloned().unwrap_or_default();
    assert!(
        problems.is_empty(),
        "feedcheck found problems:\n{problems:#?}"
    );
    report["entries"].as_object().cloned().unwrap_or_default()
}

fn ids(entries: &serde_json::Map<String, Value>, file: &str) -> Vec<String> {
    entries
        .get(file)
        .unwrap_or_else(|| {
            panic!(
                "{file} not written; have {:?}",
                entries.keys().collect::<Vec<_>>()
            )
        })
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn post_url(path: &str) -> String {
    format!("{SITE}{path}")
}

#[test]
fn the_example_blog_gets_valid_feeds_for_the_blog_every_tag_and_every_author() {
    let blog = TestBlog::example();
    let run = build(&blog, NOW);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let entries = checked_entries(&blog.out(), FEEDS_URL);

    let newest_first = [
        "/blog/2025/11/20/demodag",
        "/blog/2025/10/2/gateway-release",
        "/blog/2025/08/14/meetup-recap",
        "/blog/2025/07/3/legacy-author",
        "/blog/custom/slug-override",
        "/blog/2025/05/20/folder-post",
        "/blog/2025/04/02/flat-file",
        "/blog/2025/03/7/first-post",
    ]
    .map(post_url);
    for file in ["atom.xml", "rss.xml", "feed.json"] {
        assert_eq!(ids(&entries, file), newest_first, "{file}");
    }
    // ipv6 -> ipv-6, as Docusaurus's kebabCase makes it.
    assert_eq!(
        ids(&entries, "tags/ipv-6/atom.xml"),
        [post_url("/blog/2025/08/14/meetup-recap")]
    );
    assert!(ids(&entries, "tags/api/rss.xml").contains(&post_url("/blog/2025/03/7/first-post")));
    assert!(
        ids(&entries, "authors/anna-de-vries/feed.json")
            .contains(&post_url("/blog/2025/04/02/flat-file"))
    );
    // Drafts, unlisted and future posts are in no feed at all.
    for (file, list) in &entries {
        for id in list.as_array().unwrap() {
            let id = id.as_str().unwrap();
            for hidden in ["draft-post", "unlisted-post", "future-post"] {
                assert!(!id.contains(hidden), "{hidden} is in {file}");
            }
        }
    }
    assert!(
        !blog.out().join("tags/toegankelijkheid").exists(),
        "a tag with only a draft gets no feed"
    );

    let opml = blog.read_out("feeds.opml");
    assert!(
        opml.contains("xmlUrl=\"https://example.org/blog/tags/api/atom.xml\""),
        "{opml}"
    );
    let index = blog.read_out("index.html");
    assert!(
        index.contains("https://example.org/blog/rss.xml"),
        "{index}"
    );
    assert!(
        index.contains("Terugblik: IPv6-meetup in het stadhuis"),
        "index lists latest posts"
    );
}

#[test]
fn mdx_features_become_safe_self_contained_html_in_the_feed() {
    let blog = TestBlog::example();
    assert_eq!(build(&blog, NOW).code, 0);
    let feed: Value = serde_json::from_str(&blog.read_out("feed.json")).unwrap();
    let items = feed["items"].as_array().unwrap();
    let html = |path: &str| -> String {
        items
            .iter()
            .find(|i| i["id"] == post_url(path))
            .unwrap_or_else(|| panic!("{path} not in feed.json"))["content_html"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let all: String = items
        .iter()
        .map(|i| i["content_html"].as_str().unwrap())
        .collect();
    for forbidden in [
        "<script",
        " style=",
        "javascript:",
        "{/*",
        "import ",
        "export const",
        ":::",
        "::video",
        "<!--",
        "<Link",
        "<Blockquote",
        "<Icon",
    ] {
        assert!(
            !all.contains(forbidden),
            "{forbidden:?} left in feed content"
        );
    }
    let flat = html("/blog/2025/04/02/flat-file");
    assert!(
        flat.contains("<blockquote"),
        "Blockquote component -> blockquote: {flat}"
    );
    assert!(
        flat.contains(&post_url("/blog/2025/03/7/first-post")),
        "a link to a .md file points at that post: {flat}"
    );
    let folder = html("/blog/2025/05/20/folder-post");
    assert!(
        folder.contains("<pre><code class=\"language-mermaid\">"),
        "mermaid stays a code block: {folder}"
    );
    assert!(
        folder.contains("src=\"https://example.org/blog/assets/diagram-"),
        "images beside posts are copied: {folder}"
    );
    let copied: Vec<_> = std::fs::read_dir(blog.out().join("assets"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(copied.len(), 1, "{copied:?}");
    let legacy = html("/blog/2025/07/3/legacy-author");
    assert!(
        legacy.contains("<sup") && legacy.contains("footnote"),
        "footnotes: {legacy}"
    );
    assert!(all.contains("<table"), "GFM tables");
    assert!(
        all.contains("<del>") || all.contains("<s>"),
        "strikethrough"
    );
    assert!(all.contains("admonition"), "admonitions are titled blocks");
    assert!(
        all.contains("https://vimeo.com/123456789"),
        "video directive becomes a link"
    );
    assert!(
        all.contains("<div class=\"details\">") && all.contains("<p><strong>Why did the migration"),
        "details become an always-open block"
    );
    // The front matter image as the item image, absolute.
    let item = items
        .iter()
        .find(|i| i["id"] == post_url("/blog/2025/05/20/folder-post"))
        .unwrap();
    assert!(
        item["image"]
            .as_str()
            .unwrap()
            .starts_with("https://example.org/blog/assets/diagram-"),
        "{item}"
    );
}

#[test]
fn the_real_corpus_builds_valid_feeds_with_no_relative_url() {
    let Some(blog) = TestBlog::corpus() else {
        return;
    };
    let corpus = corpus_dir().expect("TestBlog::corpus found it");
    let corpus = corpus.join("developer-overheid");
    let run = build(&blog, "2026-11-29T00:00:00Z");
    // The corpus has real broken references (two images absent from the
    // snapshot): warnings, not errors.
    assert_eq!(run.code, 0, "{}", run.stderr);
    let entries = checked_entries(&blog.out(), "https://developer.overheid.nl/blog");
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(corpus.join("reference-feeds/feed.json")).unwrap(),
    )
    .unwrap();
    let want: Vec<String> = reference["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ids(&entries, "feed.json"),
        want,
        "same 20 items, same ids as Docusaurus's feed"
    );
    assert!(
        entries.len() > 100,
        "tag and author feeds: {}",
        entries.len()
    );
}

#[test]
fn a_draft_is_in_no_feed_until_it_is_published() {
    let (before, after) = (history("before"), history("after"));
    let blog = TestBlog::new(&format!(
        "tags_file = \"{}\"\n",
        before.join("tags.yml").display()
    ));
    std::fs::copy(
        before.join("blog/authors.yml"),
        blog.blog().join("authors.yml"),
    )
    .unwrap();
    blog.write(
        "2025/07/10-other.md",
        "---\ntags: [api]\n---\n# Other\n\nText.\n",
    );
    std::fs::create_dir_all(blog.blog().join("draft")).unwrap();
    let draft = blog.blog().join("draft/data-strategie.md");
    std::fs::copy(before.join("blog/draft/data-strategie.md"), &draft).unwrap();
    assert_eq!(build(&blog, "2025-07-12T00:00:00Z").code, 0);
    let atom = blog.read_out("atom.xml");
    assert!(!atom.contains("data-strategie"), "the draft is in no feed");
    assert!(!blog.out().join("tags/nds").exists());

    std::fs::remove_file(&draft).unwrap();
    std::fs::create_dir_all(blog.blog().join("2025/07")).unwrap();
    std::fs::copy(
        after.join("blog/2025/07/15-data-strategie.md"),
        blog.blog().join("2025/07/15-data-strategie.md"),
    )
    .unwrap();
    assert_eq!(build(&blog, "2025-07-16T00:00:00Z").code, 0);
    let entries = checked_entries(&blog.out(), FEEDS_URL);
    let url = post_url("/blog/2025/07/15/data-strategie");
    assert_eq!(ids(&entries, "atom.xml")[0], url);
    assert!(ids(&entries, "tags/nds/rss.xml").contains(&url));
}

#[test]
fn a_future_post_appears_when_its_date_comes_even_if_no_file_changed() {
    let blog = TestBlog::new("");
    blog.write("2025-01-01-old.md", "# Old\n\nText.\n");
    blog.write("2030-06-01-later.md", "# Later\n\nText.\n");
    assert_eq!(build(&blog, "2029-01-01T00:00:00Z").code, 0);
    assert!(!blog.read_out("atom.xml").contains("later"));
    assert_eq!(build(&blog, "2030-06-01T00:00:00Z").code, 0);
    assert!(
        blog.read_out("atom.xml")
            .contains(&post_url("/blog/2030/06/01/later"))
    );
}

#[test]
fn builds_are_deterministic_and_an_unchanged_rebuild_touches_nothing() {
    let a = TestBlog::example();
    let b = TestBlog::example();
    assert_eq!(build(&a, NOW).code, 0);
    assert_eq!(build(&b, NOW).code, 0);
    let files = |blog: &TestBlog| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = walkdir::WalkDir::new(blog.out())
            .into_iter()
            .map(|e| e.unwrap())
            .filter(|e| {
                e.file_type().is_file() && !e.file_name().to_string_lossy().starts_with('.')
            })
            .map(|e| {
                (
                    e.path()
                        .strip_prefix(blog.out())
                        .unwrap()
                        .display()
                        .to_string(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let (fa, fb) = (files(&a), files(&b));
    assert_eq!(
        fa.iter().map(|f| &f.0).collect::<Vec<_>>(),
        fb.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for ((name, x), (_, y)) in fa.iter().zip(&fb) {
        assert!(x == y, "{name} differs between two builds of the same blog");
    }
    let mtime = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let before = mtime(&a.out().join("atom.xml"));
    std::thread::sleep(std::time::Duration::from_millis(20));
    // Forced: everything is rendered again, and still nothing is rewritten.
    assert_eq!(a.run(&["--now", NOW, "build", "--force"]).code, 0);
    assert_eq!(mtime(&a.out().join("atom.xml")), before);
    // Edit one post: only the feeds that show it change.
    let tag_rust = mtime(&a.out().join("tags/rust/atom.xml"));
    let p = a.blog().join("2025/03/7-first-post.md");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, text.replacen("Welkom", "Hartelijk welkom", 1)).unwrap();
    assert_eq!(build(&a, NOW).code, 0);
    assert!(a.read_out("atom.xml").contains("Hartelijk welkom"));
    assert_eq!(
        mtime(&a.out().join("tags/rust/atom.xml")),
        tag_rust,
        "an unrelated tag feed is untouched"
    );
}

#[test]
fn a_failed_write_leaves_the_previous_feeds_intact_and_no_temporary_files() {
    let blog = TestBlog::example();
    assert_eq!(build(&blog, NOW).code, 0);
    let before = blog.read_out("atom.xml");
    // A new tag whose feed folder cannot be created (a file is in the way).
    blog.write(
        "2025-12-01-new.md",
        "---\ntags: [blocked]\n---\n# New post\n\nText.\n",
    );
    std::fs::write(blog.out().join("tags/blocked"), "not a folder").unwrap();
    let run = build(&blog, NOW);
    assert_eq!(run.code, 2, "cannot write -> exit 2\n{}", run.stderr);
    assert!(run.stderr.contains("cannot write"), "{}", run.stderr);
    let after = blog.read_out("atom.xml");
    assert!(
        after == before || after.contains("New post"),
        "atom.xml is either the old or the new feed, never half"
    );
    for e in walkdir::WalkDir::new(blog.out()) {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !name.starts_with(".tmp"),
            "temporary file left behind: {name}"
        );
    }
}

/// `examples/next-to-docusaurus.toml`, built where it sits beside a copy of
/// the example blog: the feeds land in `static/feeds/blog/` (which
/// `docusaurus build` copies to `/feeds/blog/`, away from Docusaurus's own
/// `/blog/atom.xml` and `/blog/rss.xml`), and every self link points at
/// `feeds_url`.
#[test]
fn the_next_to_docusaurus_example_writes_its_feeds_under_feeds_blog_with_matching_self_links() {
    let site = tempfile::tempdir().unwrap();
    let toml = site.path().join("next-to-docusaurus.toml");
    std::fs::copy(repo_dir().join("examples/next-to-docusaurus.toml"), &toml).unwrap();
    copy_dir(&repo_dir().join("examples/blog"), &site.path().join("blog"));
    copy_dir(
        &repo_dir().join("examples/static"),
        &site.path().join("static"),
    );
    let run = postbode_in(
        site.path(),
        &["--now", NOW, "build", toml.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);

    let feeds_url = "https://example.org/feeds/blog";
    let out = site.path().join("static/feeds/blog");
    for file in ["atom.xml", "rss.xml", "feed.json", "tags/api/atom.xml"] {
        assert!(out.join(file).is_file(), "{file} not in static/feeds/blog/");
    }
    // Nothing where Docusaurus writes its own feeds.
    assert!(!site.path().join("static/blog").exists());
    assert!(!site.path().join("build").exists());
    let read = |rel: &str| std::fs::read_to_string(out.join(rel)).unwrap();
    assert!(
        read("atom.xml").contains(&format!("<link href=\"{feeds_url}/atom.xml\" rel=\"self\"")),
        "{}",
        read("atom.xml")
    );
    assert!(read("rss.xml").contains(&format!("href=\"{feeds_url}/rss.xml\" rel=\"self\"")));
    let json: Value = serde_json::from_str(&read("feed.json")).unwrap();
    assert_eq!(json["feed_url"], format!("{feeds_url}/feed.json"));
    // Posts still link to the blog's own pages under /blog.
    assert!(
        json["items"][0]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://example.org/blog/"),
        "{json}"
    );
    // The independent checker agrees: every self link is under feeds_url.
    let entries = checked_entries(&out, feeds_url);
    assert!(entries.contains_key("tags/api/rss.xml"), "{entries:?}");
}
