//! Rendering whole post bodies: Markdown and MDX together, safety, links,
//! assets, warnings, and every post of the real corpus.

use super::*;
use std::path::PathBuf;

const SITE: Site = Site {
    site_url: "https://example.org",
};
const ASSETS_URL: &str = "https://example.org/blog/assets";

struct Permalinks;
impl LinkResolver for Permalinks {
    fn url_for_file(&self, abs_path: &Path) -> Option<String> {
        let stem = abs_path.file_stem()?.to_string_lossy();
        Some(format!("https://example.org/blog/{stem}"))
    }
}

fn render_at(path: &Path, body: &str) -> (Rendered, Assets) {
    let root = path.parent().unwrap_or(Path::new("/"));
    let assets = Assets::new(ASSETS_URL, crate::posts::confined::Roots::new([root]));
    let src = Document {
        path,
        display_path: Path::new("blog/post.md"),
        url: "https://example.org/blog/2025/01/post",
        body,
        body_line: 4,
    };
    (render_html(&src, &SITE, &Permalinks, &assets), assets)
}

fn render(body: &str) -> Rendered {
    render_at(Path::new("/nonexistent/blog/post.md"), body).0
}

#[test]
fn markdown_and_mdx_render_together() {
    let out = render(
        "import { Blockquote } from \"x\";\n\nIntro.\n\n<!-- truncate -->\n\n:::tip Custom title\nUse **this**.\n:::\n\n<Blockquote\n  attribution=\"Someone\"\n>\nQuoted *text*.\n</Blockquote>\n",
    )
    .html;
    assert!(out.starts_with("<p>Intro.</p>"), "{out}");
    assert!(
        out.contains("<div class=\"admonition admonition-tip\">\n<p><strong>Custom title</strong></p>\n<p>Use <strong>this</strong>.</p>\n</div>"),
        "{out}"
    );
    assert!(
        out.contains(
            "<blockquote>\n<p>Quoted <em>text</em>.</p>\n<p><cite>Someone</cite></p></blockquote>"
        ),
        "{out}"
    );
    assert!(!out.contains("import") && !out.contains("truncate"));
}

#[test]
fn raw_html_is_sanitised_and_its_urls_made_absolute() {
    let out = render(
        "<div className=\"x\" style={{a: 1}}>\n\n<img src=\"/img/a.png\" onerror=\"alert(1)\" />\n\n<a href=\"javascript:alert(1)\">j</a> <a href=\"#part\">p</a>\n\n</div>\n\n<script>alert(2)</script>\n\n<video controls poster=\"/p.png\">\n  <source src=\"/v.mp4\" type=\"video/mp4\" />\n</video>\n",
    )
    .html;
    assert!(!out.contains("script") && !out.contains("onerror") && !out.contains("style"));
    assert!(!out.contains("javascript"), "{out}");
    assert!(out.contains("<div class=\"x\">"), "{out}");
    assert!(out.contains("src=\"https://example.org/img/a.png\""));
    assert!(out.contains("href=\"https://example.org/blog/2025/01/post#part\""));
    assert!(!out.contains("<video") && !out.contains("<source"), "{out}");
}

#[test]
fn markdown_without_raw_html_is_safe_without_the_sanitiser() {
    let out = render(
        "[x](javascript:alert(1)) ![y](data:text/html,z) `<script>` a < b\n\n```html\n<script>alert(1)</script>\n```\n",
    )
    .html;
    assert!(
        !out.contains("javascript") && !out.contains("data:"),
        "{out}"
    );
    assert!(!out.contains("<script"));
    assert!(out.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

#[test]
fn markdown_links_to_posts_use_their_permalink() {
    let out = render("See [other](../2024/other.md#part) and [page](./sub/page).").html;
    assert!(
        out.contains("href=\"https://example.org/blog/other#part\""),
        "{out}"
    );
    assert!(out.contains("href=\"https://example.org/blog/2025/01/sub/page\""));
}

#[test]
fn local_images_are_registered_as_assets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("img")).unwrap();
    std::fs::write(dir.path().join("img/pic.png"), b"png").unwrap();
    let post = dir.path().join("post.md");
    let (r, assets) = render_at(
        &post,
        "![a](./img/pic.png)\n\n<img src=\"img/pic.png\" />\n",
    );
    let files = assets.files();
    assert_eq!(files.len(), 1);
    let url = format!("{}/{}", ASSETS_URL, files[0].0);
    assert_eq!(r.html.matches(&url).count(), 2, "{}", r.html);
    assert!(r.warnings.is_empty());
}

#[test]
fn a_missing_local_image_is_a_warning_with_its_line() {
    let r = render("Text.\n\n![a](./img/gone.png)\n");
    assert_eq!(r.warnings.len(), 1);
    let w = &r.warnings[0];
    assert!(w.message.contains("./img/gone.png"));
    assert_eq!((w.line, w.column), (Some(6), Some(6)));
    assert!(
        r.html
            .contains("src=\"https://example.org/blog/2025/01/img/gone.png\"")
    );
}

#[test]
fn mdx_problems_are_warnings_at_their_line() {
    let r = render("Text.\n\n:::note\nnever closed\n");
    assert_eq!(r.warnings.len(), 1);
    assert_eq!(r.warnings[0].line, Some(6));
    assert!(r.html.contains("</div>"));
}

#[test]
fn front_matter_images_resolve_like_img_src() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cover.jpg"), b"jpg").unwrap();
    let post = dir.path().join("post.md");
    let assets = Assets::new(ASSETS_URL, crate::posts::confined::Roots::new([dir.path()]));
    let src = Document {
        path: &post,
        display_path: &post,
        url: "https://example.org/blog/p",
        body: "",
        body_line: 1,
    };
    let local = resolve_image_url("./cover.jpg", &src, &SITE, &assets).unwrap();
    assert!(local.starts_with("https://example.org/blog/assets/cover-"));
    assert_eq!(
        resolve_image_url("/img/x.png", &src, &SITE, &assets).as_deref(),
        Some("https://example.org/img/x.png")
    );
    assert_eq!(
        resolve_image_url("https://cdn.nl/x.png", &src, &SITE, &assets).as_deref(),
        Some("https://cdn.nl/x.png")
    );
    assert_eq!(
        resolve_image_url("javascript:x", &src, &SITE, &assets),
        None
    );
    assert_eq!(resolve_image_url("", &src, &SITE, &assets), None);
}

#[test]
fn a_ten_megabyte_body_renders() {
    let big =
        "A paragraph with **bold**, `code`, :::note, {/* c */} and <Icon />.\n\n".repeat(150_000);
    assert!(big.len() > 10_000_000);
    let out = render(&big);
    assert!(
        out.html
            .starts_with("<p>A paragraph with <strong>bold</strong>")
    );
    let raw = "Some <b>raw</b> HTML.\n\n".repeat(50_000);
    assert!(render(&raw).html.contains("<b>raw</b>"));
}

#[test]
fn invalid_nesting_and_hostile_html_stay_safe() {
    for nasty in [
        "<Blockquote>\n:::note\n</Blockquote>\n:::\n</Blockquote>",
        "::::tip\n:::\n<details>\n```\n",
        "<p>\n<div>\n</p></div></span>",
        "[x](<javascript:alert(1)>) ![y](\"><script>)",
        "[^1]\n\n[^1]: [^1]",
        "<Link href=\"javascript:alert(1)\">x</Link>",
        ":::note[<img src=x onerror=alert(1)>]\nx\n:::",
        "<!--",
        "{/*",
        &"<Blockquote>\n".repeat(20_000),
    ] {
        let r = render(nasty);
        assert!(!r.html.contains("<script"), "{nasty}: {}", r.html);
        assert!(!r.html.contains("onerror"), "{nasty}: {}", r.html);
        assert!(!r.html.contains("javascript"), "{nasty}: {}", r.html);
    }
}

#[test]
fn deeply_nested_raw_html_is_shown_as_text_instead_of_sanitised() {
    // html5ever needs time quadratic in the depth: 20,000 levels would
    // take seconds, a million hours.
    for deep in [
        "<div>\n".repeat(20_000),
        "<details><div>".repeat(10_000),
        format!("<b>x</b>\n\n{}", ">".repeat(20_000)),
    ] {
        let r = render(&deep);
        assert!(!r.html.contains("<div") && !r.html.contains("<b>"));
        assert!(r.warnings.iter().any(|w| w.message.contains("nested")));
    }
}

/// Renders every post of the real corpus, when it is there.
#[test]
fn corpus_posts_render_to_self_contained_safe_html() {
    let root = Path::new("/work/shared/corpus/developer-overheid/blog");
    if !root.is_dir() {
        return;
    }
    let assets = Assets::new(ASSETS_URL, crate::posts::confined::Roots::new([root]));
    let mut posts = 0;
    let (mut quotes, mut admonitions) = (0, 0);
    for entry in walkdir::WalkDir::new(root) {
        let path: PathBuf = entry.unwrap().into_path();
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let file = std::fs::read_to_string(&path).unwrap();
        let (body, body_line) = split_front_matter(&file);
        let src = Document {
            path: &path,
            display_path: &path,
            url: "https://example.org/blog/some/post",
            body,
            body_line,
        };
        let r = render_html(&src, &SITE, &Permalinks, &assets);
        let html = &r.html;
        let name = path.display();
        assert!(!html.contains("<script"), "{name}");
        assert!(!html.contains(" style="), "{name}");
        assert!(!html.contains("{/*"), "{name}");
        assert!(!html.contains("<p>import "), "{name}");
        assert!(!html.contains(":::"), "{name}");
        assert!(!html.contains("::video"), "{name}");
        for attr in [" href=\"", " src=\"", " poster=\""] {
            for (i, _) in html.match_indices(attr) {
                let url = &html[i + attr.len()..];
                assert!(
                    url.starts_with("https://")
                        || url.starts_with("http://")
                        || url.starts_with("mailto:"),
                    "{name}: relative URL {}",
                    &url[..url.len().min(60)]
                );
            }
        }
        if body.contains("<Blockquote") {
            assert!(html.contains("<blockquote>"), "{name}");
            quotes += 1;
        }
        if body.contains("\n:::") {
            assert!(html.contains("<div class=\"admonition"), "{name}");
            admonitions += 1;
        }
        assert!(summary(body).is_some(), "{name}");
        posts += 1;
    }
    assert!(posts >= 70 && quotes > 0 && admonitions > 0);
    assert!(!assets.files().is_empty());
}

/// The body after `---` front matter and the 1-based line it starts on.
fn split_front_matter(file: &str) -> (&str, usize) {
    let Some(rest) = file.strip_prefix("---\n") else {
        return (file, 1);
    };
    match rest.find("\n---\n") {
        Some(end) => {
            let body = &rest[end + 5..];
            let line = file[..file.len() - body.len()].matches('\n').count() + 1;
            (body, line)
        }
        None => (file, 1),
    }
}
