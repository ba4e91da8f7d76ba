//! Markdown to HTML and the sanitiser, on small documents.

use super::super::urls::KeepUrls;
use std::borrow::Cow;
use std::collections::HashSet;

use super::sanitize::class_filter;
use super::*;

fn md(s: &str) -> String {
    render_markdown(s, &mut KeepUrls, None, false).html
}

fn raw(s: &str, safe: &[&str]) -> bool {
    let safe: HashSet<String> = safe.iter().map(|s| s.to_string()).collect();
    render_markdown(s, &mut KeepUrls, Some(&safe), false).raw_html
}

/// Prefixes every URL, to see which ones pass through the map.
struct Prefix;
impl UrlMap for Prefix {
    fn map(&mut self, _: &str, _: &str, v: &str, _: Option<usize>) -> Option<String> {
        (!v.starts_with("javascript")).then(|| format!("https://p.example/{v}"))
    }
}

#[test]
fn gfm_tables_strikethrough_and_fenced_code_render() {
    let out = md("| a | b |\n|:--|--:|\n| 1 | 2 |\n\n~~old~~\n\n```mermaid\ngraph TD\n```\n");
    assert!(
        out.contains("<table>") && out.contains("<td>2</td>"),
        "{out}"
    );
    assert!(!out.contains("style="));
    assert!(out.contains("<del>old</del>"));
    assert!(out.contains("<pre><code class=\"language-mermaid\">graph TD"));
}

#[test]
fn task_list_items_show_ballot_boxes() {
    let out = md("- [ ] todo\n- [x] done\n");
    assert!(out.contains("☐ todo") && out.contains("☑ done"), "{out}");
    assert!(!out.contains("<input"));
}

#[test]
fn footnotes_are_numbered_and_collected_at_the_end() {
    let out = md("B[^b] and A[^a] and B again[^b].\n\n[^a]: Note A.\n[^b]: Note B.\n");
    let b_ref =
        out.find("<sup><a href=\"#user-content-fn-b\" id=\"user-content-fnref-b\">1</a></sup>");
    assert!(b_ref.is_some(), "{out}");
    assert!(out.contains("<sup><a href=\"#user-content-fn-b\">1</a></sup>"));
    let section = out.find("<div class=\"footnotes\">").unwrap();
    let b_def = out.find("<li id=\"user-content-fn-b\">").unwrap();
    let a_def = out.find("<li id=\"user-content-fn-a\">").unwrap();
    assert!(section < b_def && b_def < a_def);
    assert!(out.contains("Note B. <a href=\"#user-content-fnref-b\">↩</a></p>"));
}

#[test]
fn link_and_image_urls_go_through_the_map_and_bad_ones_are_dropped() {
    let out = render_markdown(
        "[a](x.md) ![i](img.png) [bad](javascript:alert(1)) ![bad](javascript:x) <mail@x.nl>",
        &mut Prefix,
        None,
        false,
    )
    .html;
    assert!(out.contains("href=\"https://p.example/x.md\""), "{out}");
    assert!(out.contains("src=\"https://p.example/img.png\""));
    assert!(!out.contains("javascript"));
    assert!(out.contains(">bad<") || out.contains("bad "));
    assert!(out.contains("href=\"mailto:mail@x.nl\""));
}

#[test]
fn bare_urls_become_links_without_trailing_punctuation() {
    let out = md("See https://example.org/a_(b). And (https://x.nl/y), `https://code.nl`.");
    assert!(
        out.contains("<a href=\"https://example.org/a_(b)\">https://example.org/a_(b)</a>."),
        "{out}"
    );
    assert!(out.contains("(<a href=\"https://x.nl/y\">https://x.nl/y</a>),"));
    assert!(out.contains("<code>https://code.nl</code>"));
    let linked = md("[https://a.nl](https://a.nl)");
    assert_eq!(linked.matches("<a ").count(), 1);
}

#[test]
fn only_unvouched_raw_html_asks_for_the_sanitiser() {
    assert!(!raw(
        "```mermaid\nA <--> B\n```\n\nx `<b>` a < b [l](<https://a.nl/(x)>) <https://b.nl>",
        &[]
    ));
    assert!(!raw("a<br/>b\n\n<hr />\n", &[]));
    assert!(!raw(
        "<div class=\"a\">\n\nx\n\n</div>\n\nSee <a href=\"y\">z</a>.",
        &["<div class=\"a\">", "</div>", "<a href=\"y\">", "</a>"]
    ));
    assert!(raw("<img src=x onerror=alert(1)>", &[]));
    assert!(raw("text <span>x</span>", &["<span>"]));
    assert!(raw("<details>\n<summary>x</summary>\n</details>", &[]));
}

#[test]
fn nesting_counts_markdown_and_raw_html() {
    let nesting = |s: &str| render_markdown(s, &mut KeepUrls, None, false).nesting;
    assert_eq!(nesting("text"), 1);
    assert_eq!(nesting("> > > deep"), 4);
    // An HTML block (1) holding two open divs; br, img and span add nothing.
    assert_eq!(
        nesting("<div><div><br><img src=x/><span/></div>\n\n<p>"),
        1 + 2
    );
    assert!(nesting(&"<div>\n\n".repeat(5000)) >= 5000);
}

#[test]
fn escaping_raw_html_writes_it_as_text_but_keeps_vouched_html() {
    let safe: HashSet<String> = ["<div>".to_owned()].into();
    let out = render_markdown("<div>\n\n<b>x</b>", &mut KeepUrls, Some(&safe), true);
    assert!(!out.raw_html);
    assert!(
        out.html.contains("<div>") && out.html.contains("&lt;b&gt;x&lt;/b&gt;"),
        "{}",
        out.html
    );
}

#[test]
fn inline_rendering_has_no_paragraph() {
    assert_eq!(
        render_inline("Our `x` *y*", &mut KeepUrls),
        "Our <code>x</code> <em>y</em>"
    );
}

#[test]
fn the_sanitiser_removes_scripts_handlers_styles_and_relative_urls() {
    let out = sanitize(
        "<p style=\"color:red\" onclick=\"x()\">a</p><script>alert(1)</script><style>p{}</style>\
         <a href=\"javascript:alert(1)\">j</a><img src=\"rel.png\"><a href=\"https://ok.nl\" id=\"mine\">ok</a>",
    );
    assert!(!out.contains("script") && !out.contains("style") && !out.contains("onclick"));
    assert!(!out.contains("javascript") && !out.contains("rel.png") && !out.contains("mine"));
    assert!(out.contains("<a href=\"https://ok.nl\">ok</a>"), "{out}");
}

#[test]
fn the_sanitiser_keeps_what_posts_need() {
    let html = "<div class=\"admonition admonition-tip\"><p><strong>T</strong></p></div>\
        <pre><code class=\"language-rust\">x</code></pre>\
        <details open><summary>S</summary><p>d</p></details>\
        <video controls poster=\"https://a.nl/p.png\"><source src=\"https://a.nl/v.mp4\" type=\"video/mp4\"></video>\
        <figure><img src=\"https://a.nl/i.png\" alt=\"i\"><figcaption>c</figcaption></figure>\
        <div class=\"footnotes\"><ol><li id=\"user-content-fn-1\">n</li></ol></div>\
        <blockquote><p>q</p><p><cite>who</cite></p></blockquote><sup>1</sup>";
    let out = sanitize(html);
    for needle in [
        "<div class=\"admonition admonition-tip\">",
        "<code class=\"language-rust\">",
        "<div class=\"details\"><p><strong>S</strong></p>",
        "<img src=\"https://a.nl/i.png\" alt=\"i\">c",
        "<li id=\"user-content-fn-1\">",
        "<p><cite>who</cite></p>",
        "<sup>1</sup>",
    ] {
        assert!(out.contains(needle), "{needle} missing in {out}");
    }
    // HTML5-only elements are not valid feed content (W3C: "Non-html tag").
    for gone in [
        "<details",
        "<summary",
        "<video",
        "<source",
        "<figure",
        "<figcaption",
    ] {
        assert!(!out.contains(gone), "{gone} left in {out}");
    }
}

#[test]
fn odd_class_names_are_filtered() {
    assert_eq!(class_filter("a b-c"), Some(Cow::Borrowed("a b-c")));
    assert_eq!(class_filter("ok x\"y"), Some(Cow::Owned("ok".to_owned())));
    assert_eq!(class_filter("  "), None);
}
