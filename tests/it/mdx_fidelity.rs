//! Feed content as complete and as readable as the blog's own pages, post
//! by post, on the real corpus and the example blog: no JSX expression or
//! Markdown shown as source, no empty or nested elements, no relative URL,
//! every embedded video, audio or iframe reachable by a link, and at least
//! 97 % of each post's prose words in its feed HTML.

use std::collections::HashMap;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::helpers::*;

const NOW: &str = "2026-11-29T00:00:00Z";
/// Share of a post's prose words its feed HTML must show.
const MIN_WORDS: f64 = 0.97;

/// The example's published posts: file -> permalink (`examples/README.md`).
const EXAMPLE_POSTS: &[(&str, &str)] = &[
    ("2025/11/20-demodag.mdx", "/blog/2025/11/20/demodag"),
    (
        "2025/10/2-gateway-release.mdx",
        "/blog/2025/10/2/gateway-release",
    ),
    (
        "2025/08/14-meetup-recap.mdx",
        "/blog/2025/08/14/meetup-recap",
    ),
    (
        "2025/07/3-legacy-author.md",
        "/blog/2025/07/3/legacy-author",
    ),
    ("custom-slug-override.md", "/blog/custom/slug-override"),
    (
        "2025-05-20-folder-post/index.md",
        "/blog/2025/05/20/folder-post",
    ),
    ("2025-04-02-flat-file.mdx", "/blog/2025/04/02/flat-file"),
    ("2025/03/7-first-post.md", "/blog/2025/03/7/first-post"),
];

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("test pattern")
}

/// Builds `blog` with every post in the feed; item id -> content HTML.
fn feed_html(blog: &TestBlog) -> HashMap<String, String> {
    let mut toml = std::fs::read_to_string(blog.toml()).unwrap();
    toml.push_str("limit = 1000\n");
    std::fs::write(blog.toml(), toml).unwrap();
    let run = blog.run(&["--now", NOW, "build"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let feed: Value = serde_json::from_str(&blog.read_out("feed.json")).unwrap();
    feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_owned(),
                i["content_html"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// What is wrong with one post's feed HTML, given its source.
fn problems(source: &str, html: &str, site_url: &str) -> Vec<String> {
    let mut found = Vec::new();
    let outside_code = without_code(html);
    for jsx in ["{'", "{\"", "{`"] {
        if outside_code.contains(jsx) {
            found.push(format!("JSX expression {jsx}…}} shown as text"));
        }
    }
    static MD_LINK: LazyLock<Regex> = LazyLock::new(|| re(r"\[[^\]\n]+\]\([^)\s]+\)"));
    if let Some(m) = MD_LINK.find(&outside_code) {
        found.push(format!("raw Markdown link {}", m.as_str()));
    }
    static EMPTY: LazyLock<Regex> = LazyLock::new(|| re(r"<(div|p)(\s[^>]*)?>\s*</(div|p)>"));
    if let Some(m) = EMPTY.find(html) {
        found.push(format!("empty element {}", m.as_str()));
    }
    if nested_links(html) {
        found.push("a link inside a link".to_owned());
    }
    static URL_ATTR: LazyLock<Regex> = LazyLock::new(|| re(r#"\s(?:href|src|poster)="([^"]*)""#));
    for c in URL_ATTR.captures_iter(html) {
        let url = &c[1];
        if !["https://", "http://", "mailto:", "tel:"]
            .iter()
            .any(|s| url.starts_with(s))
        {
            found.push(format!("relative URL {url}"));
        }
    }
    for media in media_sources(source, site_url) {
        if !html.contains(&format!("href=\"{media}\"")) {
            found.push(format!("no link to the media {media}"));
        }
    }
    let (shown, total, missing) = word_coverage(source, html);
    if total > 0 && (shown as f64) < MIN_WORDS * total as f64 {
        found.push(format!(
            "only {shown} of {total} prose words shown; missing {:?}",
            &missing[..missing.len().min(12)]
        ));
    }
    found
}

/// The HTML without `<pre>` and `<code>` elements, where anything goes.
fn without_code(html: &str) -> String {
    static CODE: LazyLock<Regex> =
        LazyLock::new(|| re(r"(?s)<pre[\s>].*?</pre>|<code[\s>].*?</code>"));
    CODE.replace_all(html, " ").into_owned()
}

fn nested_links(html: &str) -> bool {
    static A: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)<(/?)a[\s>]"));
    let mut depth = 0i32;
    for c in A.captures_iter(html) {
        depth += if c[1].is_empty() { 1 } else { -1 };
        if depth > 1 {
            return true;
        }
    }
    false
}

/// The `src` of every `<video>`, `<audio>`, `<source>` and `<iframe>` in
/// the source, outside code, as absolute URLs.
fn media_sources(source: &str, site_url: &str) -> Vec<String> {
    static MEDIA: LazyLock<Regex> =
        LazyLock::new(|| re(r#"(?s)<(?:video|audio|source|iframe)\b[^>]*?\ssrc=["']([^"']+)["']"#));
    MEDIA
        .captures_iter(&without_fences(source))
        .filter_map(|c| {
            let src = &c[1];
            if src.starts_with("https://") || src.starts_with("http://") {
                Some(src.to_owned())
            } else if let Some(rest) = src.strip_prefix("//") {
                Some(format!("https://{rest}"))
            } else {
                src.starts_with('/').then(|| format!("{site_url}{src}"))
            }
        })
        .collect()
}

/// Source without front matter and fenced code.
fn without_fences(source: &str) -> String {
    let body = match source.strip_prefix("---\n") {
        Some(rest) => rest.split_once("\n---\n").map_or(rest, |(_, b)| b),
        None => source,
    };
    let mut out = String::new();
    let mut fence: Option<String> = None;
    for line in body.lines() {
        let t = line.trim_start();
        match &fence {
            Some(f) => {
                if t.trim_end().starts_with(f.as_str())
                    && t.trim_end().chars().all(|c| c == f.chars().next().unwrap())
                {
                    fence = None;
                }
            }
            None if t.starts_with("```") || t.starts_with("~~~") => {
                let ch = t.chars().next().unwrap();
                fence = Some(t.chars().take_while(|&c| c == ch).collect());
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// The words a reader of the post page reads, from its source: no front
/// matter, title line, code fences, import/export statements, comments,
/// JSX or HTML tags with their attributes, JSX expressions, images, or
/// URLs (link text stays).
fn prose_words(source: &str) -> Vec<String> {
    let body = without_fences(source);
    let mut kept = String::new();
    let mut in_esm = false;
    let mut title_seen = false;
    for line in body.lines() {
        let t = line.trim();
        if in_esm {
            in_esm = !t.is_empty();
            continue;
        }
        if !line.starts_with([' ', '\t']) && (t.starts_with("import ") || t.starts_with("export "))
        {
            in_esm = true;
            continue;
        }
        if !title_seen && t.starts_with("# ") {
            title_seen = true;
            continue;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    static STRIP: LazyLock<Vec<(Regex, &str)>> = LazyLock::new(|| {
        vec![
            (re(r"(?s)\{/\*.*?\*/\}|<!--.*?-->"), " "),
            (re(r"!\[[^\]]*\]\([^)]*\)"), " "),
            (re(r"\]\([^)\s]*(\s+\x22[^\x22]*\x22)?\)"), "] "),
            // Directive and admonition names (`:::tip`, `::video-vimeo`);
            // their labels and titles are shown.
            (re(r"(?m)^\s*:{2,}[A-Za-z][\w-]*"), " "),
            // Ordered list numbers, task boxes, footnote marks and link
            // reference definitions are markup, not text.
            (re(r"(?m)^[\s>]*\d+[.)]\s"), " "),
            (re(r"\[[ xX]\]"), " "),
            (re(r"\[\^[^\]]+\]:?"), " "),
            (re(r"(?m)^\s*\[[^\]]+\]:\s*\S+.*$"), " "),
            (re(r"\{[^{}]*\}"), " "),
            (re(r"https?://\S+"), " "),
        ]
    });
    let mut text = strip_tags(&kept);
    for (pattern, with) in STRIP.iter() {
        text = pattern.replace_all(&text, *with).into_owned();
    }
    words(&decode_entities(&text))
}

/// Removes `<Tag attr={…}>` and `</Tag>`, with braces and quotes inside.
fn strip_tags(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut run = 0;
    while i < b.len() {
        if b[i] == b'<'
            && b.get(i + 1)
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'/')
        {
            let (mut j, mut depth, mut quote) = (i + 1, 0i32, None::<u8>);
            while j < b.len() {
                match (quote, b[j]) {
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), _) => {}
                    (None, c @ (b'"' | b'\'')) if depth == 0 => quote = Some(c),
                    (None, b'{') => depth += 1,
                    (None, b'}') => depth -= 1,
                    (None, b'>') if depth == 0 => break,
                    _ => {}
                }
                j += 1;
            }
            out.push_str(&text[run..i]);
            out.push(' ');
            i = (j + 1).min(b.len());
            run = i;
            continue;
        }
        i += 1;
    }
    out.push_str(&text[run.min(text.len())..]);
    out
}

fn decode_entities(text: &str) -> String {
    text.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// Lower-case runs of letters and digits.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// How many of the source's prose words the HTML's text shows (each
/// shown word counts once), how many there are, and the missing ones.
fn word_coverage(source: &str, html: &str) -> (usize, usize, Vec<String>) {
    let text = decode_entities(&re(r"<[^>]*>").replace_all(html, " "));
    let mut bag: HashMap<String, usize> = HashMap::new();
    for w in words(&text) {
        *bag.entry(w).or_default() += 1;
    }
    let prose = prose_words(source);
    let (shown, missing): (Vec<String>, Vec<String>) =
        prose.into_iter().partition(|w| match bag.get_mut(w) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        });
    (shown.len(), shown.len() + missing.len(), missing)
}

fn check_posts(
    blog_dir: &Path,
    posts: &[(String, String)],
    html: &HashMap<String, String>,
    site_url: &str,
) {
    let mut report = Vec::new();
    for (file, url) in posts {
        let source = std::fs::read_to_string(blog_dir.join(file)).unwrap();
        let Some(content) = html.get(url) else {
            report.push(format!("{file}: not in the feed as {url}"));
            continue;
        };
        for p in problems(&source, content, site_url) {
            report.push(format!("{file}: {p}"));
        }
    }
    assert!(
        report.is_empty(),
        "{} problems:\n{}",
        report.len(),
        report.join("\n")
    );
}

#[test]
fn every_example_post_reads_in_the_feed_as_on_its_page() {
    let blog = TestBlog::example();
    let html = feed_html(&blog);
    assert_eq!(html.len(), EXAMPLE_POSTS.len(), "{:?}", html.keys());
    let posts: Vec<(String, String)> = EXAMPLE_POSTS
        .iter()
        .map(|(f, p)| ((*f).to_owned(), format!("{SITE}{p}")))
        .collect();
    check_posts(&repo_dir().join("examples/blog"), &posts, &html, SITE);
}

#[test]
fn every_corpus_post_reads_in_the_feed_as_on_its_page() {
    let Some(blog) = TestBlog::corpus() else {
        return;
    };
    let corpus = corpus_dir().unwrap().join("developer-overheid");
    let html = feed_html(&blog);
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(corpus.join("docusaurus-metadata.json")).unwrap(),
    )
    .unwrap();
    let posts: Vec<(String, String)> = meta["posts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["inFeed"].as_bool() == Some(true))
        .map(|p| {
            (
                p["source"].as_str().unwrap().to_owned(),
                p["url"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(posts.len(), 68);
    check_posts(
        &corpus.join("blog"),
        &posts,
        &html,
        "https://developer.overheid.nl",
    );
}

/// The checks above would see each defect the issue lists.
#[test]
fn the_fidelity_checks_catch_each_kind_of_defect() {
    let source = "---\ntitle: T\n---\n\nimport X from 'x';\n\nOne two three four five six seven eight nine ten eleven twelve.\n\nThirteen [fourteen](https://a.example/x) fifteen sixteen.\n\n<video controls>\n  <source src=\"/v.mp4\" />\n</video>\n\n```js\nnot prose\n```\n";
    assert_eq!(prose_words(source).len(), 16, "{:?}", prose_words(source));
    let good = "<p>One two three four five six seven eight nine ten eleven twelve.</p><p>Thirteen <a href=\"https://a.example/x\">fourteen</a> fifteen sixteen.</p><p><a href=\"https://example.org/v.mp4\">video</a></p>";
    assert_eq!(problems(source, good, SITE), Vec::<String>::new());
    let lost_paragraph = good.replace(
        "<p>One two three four five six seven eight nine ten eleven twelve.</p>",
        "",
    );
    for (bad, what) in [
        (good.replace("Thirteen", "Thirteen{' '}"), "JSX expression"),
        (
            good.replace(
                "<a href=\"https://a.example/x\">fourteen</a>",
                "[fourteen](https://a.example/x)",
            ),
            "raw Markdown link",
        ),
        (format!("{good}<p> </p>"), "empty element"),
        (format!("{good}<div></div>"), "empty element"),
        (
            good.replace(
                "fourteen</a>",
                "<a href=\"https://b.example\">x</a>fourteen</a>",
            ),
            "a link inside a link",
        ),
        (good.replace("https://a.example/x", "../x"), "relative URL"),
        (
            good.replace("https://example.org/v.mp4", "https://example.org/other.mp4"),
            "no link to the media",
        ),
        (lost_paragraph, "prose words shown"),
    ] {
        let found = problems(source, &bad, SITE);
        assert!(
            found.iter().any(|p| p.contains(what)),
            "{what}: {found:?} for {bad}"
        );
    }
}
