//! What a Docusaurus page shows, class by class, against what the feed
//! shows for the same MDX (issue #11): expressions, Markdown inside JSX,
//! tabs, media, code titles, list summaries, static images, transcripts.

use super::*;

const SITE: Site = Site {
    site_url: "https://example.org",
};

struct NoPosts;
impl LinkResolver for NoPosts {
    fn url_for_file(&self, _: &Path) -> Option<String> {
        None
    }
}

fn render_in(dir: &Path, static_dir: Option<&Path>, body: &str) -> Rendered {
    let path = dir.join("blog/2025/post.mdx");
    let roots = crate::posts::confined::Roots::new([dir.join("blog")])
        .with_static_dir(static_dir.map(Path::to_path_buf));
    let assets = Assets::new("https://example.org/blog/assets", roots);
    let src = Document {
        path: &path,
        display_path: Path::new("blog/2025/post.mdx"),
        url: "https://example.org/blog/2025/post",
        body,
        body_line: 5,
    };
    render_html(&src, &SITE, &NoPosts, &assets)
}

fn render(body: &str) -> Rendered {
    render_in(Path::new("/nonexistent"), None, body)
}

/// The text a reader sees: tags removed, white space collapsed.
fn text(html: &str) -> String {
    let re = regex::Regex::new(r"<[^>]*>").unwrap();
    re.replace_all(html, " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" ,", ",")
        .replace(" .", ".")
}

fn no_empty_elements(html: &str) {
    for empty in ["<p></p>", "<div></div>", "<p> </p>", "<a></a>"] {
        assert!(!html.contains(empty), "{empty} in {html}");
    }
    let after_first = html.split("<a ").skip(1);
    for part in after_first {
        let before_close = part.split("</a>").next().unwrap_or("");
        assert!(!before_close.contains("<a "), "nested links: {html}");
    }
}

#[test]
fn string_expressions_show_as_text_and_other_expressions_are_dropped_with_a_warning() {
    let url = render("[a list](https://example.org/items/{id}) {' '}\n").html;
    assert!(
        url.contains("href=\"https://example.org/items/%7Bid%7D\""),
        "{url}"
    );
    let r = render(
        "See the Pen{' '}\n<a href=\"https://codepen.io/a/pen/b\">Loading Screen</a> by us,\nat{\" \"}<code>App.js</code>, {`plain`} {'it\\'s'} {count}.\n\n<figure>\n  <img src=\"https://example.org/a.png\" alt=\"a\" />\n  <figcaption>Photo{' '}<a href=\"https://example.org/by\">by us</a></figcaption>\n</figure>\n",
    );
    assert!(
        !r.html.contains("{'") && !r.html.contains("{\""),
        "{}",
        r.html
    );
    let shown = text(&r.html);
    assert!(
        shown.contains("See the Pen Loading Screen by us, at App.js, plain it's."),
        "{shown}"
    );
    assert!(shown.contains("Photo by us"), "{shown}");
    let w = &r.warnings;
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].message.contains("{count}"), "{w:?}");
    // Line 3 of the body, which starts on line 5 of the file.
    assert_eq!((w[0].line, w[0].column), (Some(7), Some(49)));
}

#[test]
fn markdown_inside_inline_and_block_jsx_is_rendered() {
    let r = render(
        "<img src=\"https://example.org/a.png\" alt=\"a\" />\n<small>Source: [W3C](https://www.w3.org/a)</small>\n\n<small>\nSource: [WHATWG](https://whatwg.org/b)\n</small>\n\n<center>\n  <img src=\"https://example.org/b.png\" />\n  <small>Photo: [Someone](https://example.org/c)</small>\n</center>\n\nCall <code>[application:didReceive:](https://developer.apple.com/d)</code> first.\n",
    );
    let html = &r.html;
    assert!(!html.contains("]("), "raw Markdown link: {html}");
    for (url, label) in [
        ("https://www.w3.org/a", "W3C"),
        ("https://whatwg.org/b", "WHATWG"),
        ("https://example.org/c", "Someone"),
        ("https://developer.apple.com/d", "application:didReceive:"),
    ] {
        assert!(
            html.contains(&format!("<a href=\"{url}\">{label}</a>")),
            "{label}: {html}"
        );
    }
    no_empty_elements(html);
}

#[test]
fn each_tab_is_a_section_headed_by_its_label_or_value() {
    let r = render(
        "import Tabs from '@theme/Tabs';\nimport TabItem from '@theme/TabItem';\n\n<Tabs groupId=\"pm\">\n  <TabItem value=\"npm\" label=\"npm (Node)\" default>\n\n```bash\nnpm install foo\n```\n\n  </TabItem>\n  <TabItem value=\"yarn\">\n\n```bash\nyarn add foo\n```\n\n  </TabItem>\n</Tabs>\n",
    );
    let html = &r.html;
    let npm = html.find("<p><strong>npm (Node)</strong></p>").expect(html);
    let npm_code = html.find("npm install foo").unwrap();
    let yarn = html.find("<p><strong>yarn</strong></p>").expect(html);
    let yarn_code = html.find("yarn add foo").unwrap();
    assert!(
        npm < npm_code && npm_code < yarn && yarn < yarn_code,
        "{html}"
    );
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    // The older way: labels in `<Tabs values>`.
    let r = render(
        "<Tabs values={[\n  {label: 'macOS', value: 'mac'},\n  { value: \"win\", label: \"Windows\" },\n]}>\n<TabItem value=\"mac\">\n\nbrew install foo\n\n</TabItem>\n<TabItem value=\"win\">\n\nwinget install foo\n\n</TabItem>\n</Tabs>\n",
    );
    assert!(
        r.html
            .contains("<p><strong>macOS</strong></p>\n<p>brew install foo</p>")
            && r.html
                .contains("<p><strong>Windows</strong></p>\n<p>winget install foo</p>"),
        "{}",
        r.html
    );
}

#[test]
fn media_become_links_with_their_poster_and_fallback_text_never_empty_or_nested() {
    let r = render(
        "Here it is in action:\n\n<video controls poster=\"/img/poster.png\">\n  <source src=\"/video/demo.mp4\" type=\"video/mp4\" />\n  Your browser cannot play this video.\n</video>\n\n<audio controls src=\"https://example.org/talk.mp3\"></audio>\n\n<iframe src=\"https://www.youtube.com/embed/abc123\" title=\"The talk\" allowFullScreen></iframe>\n\n<a href=\"https://codepen.io/us/pen/xyz\"><iframe src=\"https://codepen.io/us/embed/xyz\"></iframe></a>\n\n<Tweet id=\"1234567890\" />\n\n<YouTube id=\"dQw4w9WgXcQ\" />\n",
    );
    let html = &r.html;
    let action = html.find("Here it is in action:").unwrap();
    let video = html
        .find("<a href=\"https://example.org/video/demo.mp4\"><img src=\"https://example.org/img/poster.png\"")
        .expect(html);
    assert!(action < video, "{html}");
    assert!(
        html.contains("Your browser cannot play this video."),
        "{html}"
    );
    for link in [
        "<a href=\"https://example.org/talk.mp3\">",
        "<a href=\"https://www.youtube.com/embed/abc123\">The talk</a>",
        "<a href=\"https://codepen.io/us/pen/xyz\">codepen.io/us/embed/xyz</a> <a href=\"https://codepen.io/us/embed/xyz\">",
        "<a href=\"https://twitter.com/i/status/1234567890\">",
        "<a href=\"https://www.youtube.com/watch?v=dQw4w9WgXcQ\">",
    ] {
        assert!(html.contains(link), "{link}: {html}");
    }
    for gone in [
        "<video", "<audio", "<source", "<iframe", "<Tweet", "<YouTube",
    ] {
        assert!(!html.contains(gone), "{gone}: {html}");
    }
    no_empty_elements(html);
}

#[test]
fn a_component_with_a_link_target_links_its_children() {
    let r = render("<Button href=\"/docs/start\" variant=\"primary\">Get **started**</Button>\n");
    assert!(
        r.html.contains(
            "<a href=\"https://example.org/docs/start\">Get <strong>started</strong></a>"
        ),
        "{}",
        r.html
    );
    no_empty_elements(&r.html);
}

#[test]
fn a_component_that_cannot_be_shown_is_reported_where_it_is() {
    let r = render("Intro.\n\n<Chart data={points} />\n");
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    let w = &r.warnings[0];
    assert!(w.message.contains("<Chart />"), "{}", w.message);
    assert_eq!((w.line, w.column), (Some(7), Some(1)));
}

#[test]
fn a_code_block_title_is_a_caption_above_the_block() {
    let r = render(
        "```js title=\"babel.config.js\" {2}\nmodule.exports = {\n  presets: [],\n};\n```\n",
    );
    let html = &r.html;
    assert!(
        html.contains(
            "<p class=\"code-title\"><code>babel.config.js</code></p>\n<pre><code class=\"language-js\">module.exports = {\n  presets: [],\n};\n</code></pre>"
        ),
        "{html}"
    );
}

#[test]
fn a_summary_sets_list_items_apart() {
    let got = post_summary(
        None,
        "This release has the following changes:\n\n- New app template is TypeScript by default\n- TypeScript declarations shipped\n- Faster builds.\n- One more\n\n<!-- truncate -->\n",
    )
    .unwrap();
    assert_eq!(
        got,
        "This release has the following changes: New app template is TypeScript by default; TypeScript declarations shipped; Faster builds. One more."
    );
}

#[test]
fn images_from_the_static_folder_get_their_site_url_and_a_missing_one_names_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path();
    std::fs::create_dir_all(site.join("blog/2025")).unwrap();
    std::fs::create_dir_all(site.join("static/img")).unwrap();
    std::fs::create_dir_all(site.join("static/blog/assets")).unwrap();
    std::fs::write(site.join("static/img/logo.png"), b"png").unwrap();
    std::fs::write(site.join("static/blog/assets/my pic.png"), b"png").unwrap();
    let static_dir = site.join("static");
    let r = render_in(
        site,
        Some(&static_dir),
        "![a](../../static/blog/assets/my%20pic.png)\n\n![b](/img/logo.png)\n\n![c](/img/gone.png)\n\n![d](../../static/img/lost.png)\n",
    );
    let html = &r.html;
    for src in [
        "https://example.org/blog/assets/my%20pic.png",
        "https://example.org/img/logo.png",
        "https://example.org/img/gone.png",
        "https://example.org/img/lost.png",
    ] {
        assert!(html.contains(&format!("src=\"{src}\"")), "{src}: {html}");
    }
    assert!(
        !html.contains("/blog/2025/"),
        "nothing under the post: {html}"
    );
    let messages: Vec<_> = r.warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[0].contains("gone.png") && messages[0].contains("static"));
    assert!(messages[1].contains("static/img/lost.png"), "{messages:?}");
    assert_eq!(r.warnings[1].line, Some(11));
}

#[test]
fn a_terminal_transcript_is_one_block_of_lines_without_escapes() {
    let r = render(
        "Run it:\n\n<code style={{display: 'block', whiteSpace: 'pre'}}>\n\\#!/usr/bin/env node<br/>\n$ npm run build &amp;&amp; echo *done*\n</code>\n\n<code>\n$ npm test</code>\n",
    );
    assert!(
        r.html.contains(
            "<pre><code>#!/usr/bin/env node\n$ npm run build &amp;&amp; echo <em>done</em></code></pre>"
        ),
        "{}",
        r.html
    );
    assert!(
        r.html.contains("<pre><code>$ npm test</code></pre>"),
        "{}",
        r.html
    );
    assert!(!r.html.contains("\\#") && !r.html.contains("<code><p>"));
}

#[test]
fn an_export_with_blank_lines_inside_or_after_a_heading_is_not_shown() {
    let r = render(
        "## Demo\nexport const Highlight = ({children}) => {\n  const color = 'red';\n\n  return <span>{children}</span>;\n};\n\nText <Highlight>here</Highlight>.\n",
    );
    assert!(
        !r.html.contains("export") && !r.html.contains("return"),
        "{}",
        r.html
    );
    assert!(text(&r.html).contains("Text here."), "{}", r.html);
}

#[test]
fn nesting_past_the_limit_keeps_the_text_and_says_so_where() {
    let deep = format!(
        "{}Deep text.\n{}",
        "<Box>\n".repeat(70),
        "</Box>\n".repeat(70)
    );
    let r = render(&deep);
    assert!(r.html.contains("Deep text."), "{}", r.html);
    let w: Vec<_> = r
        .warnings
        .iter()
        .filter(|w| w.message.contains("nested more than 64"))
        .collect();
    assert_eq!(w.len(), 1, "{:?}", r.warnings);
    assert_eq!(w[0].line, Some(5 + 64));
    let divs = format!(
        "{}Deep text.\n\n{}",
        "<div>\n\n".repeat(70),
        "</div>\n\n".repeat(70)
    );
    let r = render(&divs);
    assert!(r.html.contains("<p>Deep text.</p>"), "{}", r.html);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.message.contains("nested more than 64") && w.line.is_some()),
        "{:?}",
        r.warnings
    );
}
