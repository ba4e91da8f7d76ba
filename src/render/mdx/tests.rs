//! The MDX pass on small bodies, one feature each.

use super::super::urls::KeepUrls;
use super::*;

fn pre(src: &str) -> Preprocessed {
    preprocess(src, &mut KeepUrls, Mode::Render)
}

fn text(src: &str) -> String {
    pre(src).text
}

#[test]
fn imports_and_exports_are_dropped_even_over_several_lines() {
    let out = text(
        "import { Blockquote } from \"@x/y\";\nimport {\n  A,\n  B,\n} from 'z'\n\nexport const meta = {\n  a: 1,\n};\n\nHello.\n",
    );
    assert_eq!(out.trim(), "Hello.");
}

#[test]
fn an_import_without_a_blank_line_after_it_keeps_the_next_paragraph() {
    let out = text("import X from \"x\";\nThe text.\n");
    assert_eq!(out.trim(), "The text.");
}

#[test]
fn imports_inside_code_fences_stay() {
    let src = "```js\nimport x from \"y\";\n{/* not a comment */}\n<Foo />\n:::note\n```\n";
    assert_eq!(text(src), src);
}

#[test]
fn comments_are_dropped_also_over_several_lines_but_not_in_inline_code() {
    let out = text(
        "a {/* one */} b <!-- two --> c\n{/*\nmany\nlines\n*/}\nkeep `{/* code */}` and `<!-- x -->`\n",
    );
    assert!(out.contains("a  b  c"), "{out}");
    assert!(!out.contains("many"));
    assert!(out.contains("`{/* code */}`") && out.contains("`<!-- x -->`"));
}

#[test]
fn blockquote_components_become_blockquotes_with_an_attribution() {
    let out = text(
        "<Blockquote\n  variation=\"pink\"\n  attribution=\"— Someone & co\"\n>\nA *quoted* line.\n</Blockquote>\n",
    );
    assert!(
        out.contains("<blockquote>\n\nA *quoted* line.\n\n"),
        "{out}"
    );
    assert!(out.contains("<p><cite>— Someone &amp; co</cite></p></blockquote>"));
    let safe = pre("<Blockquote attribution=\"x\">\nq\n</Blockquote>").safe_html;
    assert!(
        safe.contains("<p><cite>x</cite></p></blockquote>"),
        "{safe:?}"
    );
}

#[test]
fn link_components_become_anchors_and_unknown_components_vanish() {
    let out = text("<Link href=\"/x\">\n  Read **more**\n  <Icon icon=\"arrow\" />\n</Link>\n");
    assert!(out.contains("<a href=\"/x\">\n\nRead **more**\n"), "{out}");
    assert!(out.contains("</a>"));
    assert!(!out.contains("Icon"));
    let to = text("See <Link to=\"/y\">this</Link> now.");
    assert!(to.contains("See <a href=\"/y\">this</a> now."), "{to}");
    let tabs = text("<Tabs>\n<TabItem value=\"a\">\nInside\n</TabItem>\n</Tabs>\n");
    assert_eq!(tabs.trim(), "<p><strong>a</strong></p>\n\nInside");
}

#[test]
fn jsx_attributes_on_html_tags_are_cleaned() {
    let out = text(
        "<div className=\"box\" style={{ width: '100%' }} onClick={() => go()} {...rest}>\n\nx\n\n</div>\n",
    );
    assert!(out.contains("<div class=\"box\">"), "{out}");
    assert!(!out.contains("style") && !out.contains("onClick") && !out.contains("rest"));
}

#[test]
fn iframes_become_links_to_what_they_embed() {
    let out = text(
        "<iframe\n  src=\"https://www.youtube.com/embed/x\"\n  title=\"A talk\"\n  allowFullScreen\n></iframe>\n",
    );
    assert!(
        out.contains("<a href=\"https://www.youtube.com/embed/x\">A talk</a>"),
        "{out}"
    );
    assert!(!out.contains("iframe"));
}

#[test]
fn a_paragraph_tag_around_markdown_becomes_a_div_around_a_paragraph() {
    let out = text("<p style={{ fontSize: '2rem' }}>**Big\nquestion?**</p>\n\nNext.\n");
    assert!(
        out.contains("<div>\n\n**Big\nquestion?**\n\n</div>"),
        "{out}"
    );
}

#[test]
fn a_one_line_block_element_renders_its_markdown_inline() {
    let out = text("<details>\n  <summary>Our `package.json`</summary>\n\nBody\n</details>\n");
    assert!(
        out.contains("<summary>Our <code>package.json</code></summary>"),
        "{out}"
    );
    assert!(out.contains("\n\nBody\n"));
}

#[test]
fn admonitions_become_titled_asides() {
    let out = text(":::tip Custom title\nSome *text*.\n:::\n");
    assert!(
        out.contains("<div class=\"admonition admonition-tip\">\n\n<p><strong>Custom title</strong></p>\n\nSome *text*.\n\n</div>"),
        "{out}"
    );
    let bracket = text(":::success[**TL;DR**]\nx\n:::\n");
    assert!(
        bracket.contains("<p><strong>TL;DR</strong></p>"),
        "{bracket}"
    );
    let plain = text(":::note\nx\n:::\n");
    assert!(plain.contains("<strong>Note</strong>"));
    let odd = text(":::Oproep\nx\n:::\n");
    assert!(odd.contains("admonition-oproep") && odd.contains("<strong>Oproep</strong>"));
    let safe = pre(":::info\nx\n:::").safe_html;
    assert!(safe.contains("<div class=\"admonition admonition-info\">"));
    assert!(safe.contains("<p><strong>Info</strong></p>") && safe.contains("</div>"));
}

#[test]
fn nested_admonitions_close_in_order() {
    let out = text("::::note Outer\n:::warning Inner\ninner\n:::\nouter\n::::\n");
    let inner_end = out.find("</div>").unwrap();
    assert!(out[..inner_end].contains("inner") && !out[..inner_end].contains("outer"));
    assert_eq!(out.matches("</div>").count(), 2);
    assert!(!out.contains(":::"));
}

#[test]
fn unclosed_admonitions_and_components_are_closed_and_reported() {
    let p = pre(":::note\ntext\n\n<Blockquote>\nquote\n");
    assert!(p.text.contains("</blockquote>") && p.text.contains("</div>"));
    assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
}

#[test]
fn video_directives_become_links_and_unknown_ones_their_label() {
    let out = text(
        "::video-vimeo[A film]{id=123456}\n\n::video-youtube[]{id=\"abc_D-1\"}\n\n::other[Just text]\n",
    );
    assert!(out.contains("[A film](https://vimeo.com/123456)"), "{out}");
    assert!(out.contains(
        "[https://www.youtube.com/watch?v=abc_D-1](https://www.youtube.com/watch?v=abc_D-1)"
    ));
    assert!(out.contains("Just text") && !out.contains("::"));
}

#[test]
fn indented_children_of_components_are_dedented() {
    let out = text("<Details>\n    Indented text\n    more\n</Details>\n");
    assert!(out.contains("\nIndented text\nmore\n"), "{out}");
}

#[test]
fn code_inside_indented_children_keeps_its_own_indentation() {
    let out =
        text("<details>\n  <summary>S</summary>\n\n```json\n{\n  \"a\": 1\n}\n```\n</details>\n");
    assert!(out.contains("```json\n{\n  \"a\": 1\n}\n```"), "{out}");
    let nested = text("<Tabs>\n  ```sh\n    deep\n  ```\n</Tabs>\n");
    assert!(nested.contains("```sh\n  deep\n```"), "{nested}");
}

#[test]
fn the_summary_mode_keeps_text_and_drops_markup() {
    let p = preprocess(
        ":::tip Title\nTip text.\n:::\n<p>Para</p>\n<Blockquote attribution=\"A\">\nQ\n</Blockquote>",
        &mut KeepUrls,
        Mode::Summary,
    );
    assert!(!p.text.contains('<'), "{}", p.text);
    assert!(!p.text.contains("Title"));
    assert!(p.text.contains("Tip text.") && p.text.contains("Para") && p.text.contains('Q'));
}

#[test]
fn only_html_written_by_this_pass_is_vouched_for() {
    let p = pre(
        "<img src=x onerror=alert(1)>\n\nSee <Link href=\"/x\">a</Link>.\n\n<p>Raw <b>html</b></p>\n",
    );
    assert!(p.safe_html.contains("<a href=\"/x\">") && p.safe_html.contains("</a>"));
    assert!(
        p.safe_html
            .iter()
            .all(|h| !h.contains("img") && !h.contains("<b>") && !h.contains("<p>")),
        "{:?}",
        p.safe_html
    );
}

#[test]
fn hostile_inputs_do_not_panic_and_stay_linear() {
    let nasty = [
        "<".repeat(10_000),
        "<a b=\"".repeat(5_000),
        "`".repeat(10_000),
        "` x ``".repeat(5_000),
        ":::note\n".repeat(1_000),
        ":::\n".repeat(1_000),
        "<div>\n".repeat(2_000),
        "<Foo\n".repeat(1_000),
        "{/*".repeat(1_000),
        "::video-vimeo[".to_owned(),
        "é<Ünicode attr=\"é\">".repeat(100),
        "import {\n".repeat(100),
        "</Blockquote></Link></div>\n".repeat(100),
        "\\".repeat(101),
        "<>\n</>\n<\n>".to_owned(),
    ];
    for s in nasty {
        let _ = pre(&s);
        let _ = preprocess(&s, &mut KeepUrls, Mode::Summary);
    }
}
