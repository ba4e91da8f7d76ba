//! Markdown (after the MDX pass) to HTML with pulldown-cmark, and the
//! sanitiser. The event stream is adjusted on the way: link and image URLs go
//! through [`UrlMap`], task-list checkboxes become ☐/☑ (feed readers drop
//! `<input>`), bare URLs become links (GFM autolink literals, which
//! Docusaurus's remark-gfm does and pulldown-cmark does not), and footnotes
//! are written the way remark-gfm writes them, ids included, so a link into
//! the post page lands on the same footnote there.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use pulldown_cmark::{
    Alignment, CowStr, Event, LinkType, Options, Parser, Tag, TagEnd, TextMergeStream,
};
use regex::Regex;

use super::tags::escape_html;
use super::urls::{ALLOWED_SCHEMES, UrlMap};

/// GFM as Docusaurus enables it; heading attributes so `## Title {#id}`
/// does not show its `{#id}`.
pub(crate) const OPTIONS: Options = Options::ENABLE_TABLES
    .union(Options::ENABLE_FOOTNOTES)
    .union(Options::ENABLE_STRIKETHROUGH)
    .union(Options::ENABLE_TASKLISTS)
    .union(Options::ENABLE_HEADING_ATTRIBUTES);

/// html5ever's work grows with the square of element nesting (8,000 nested
/// `<div>` take 0.1 s, a million take hours), so a document nested deeper
/// than this is not sanitised: its raw HTML is shown as text instead.
pub(crate) const MAX_SANITIZED_NESTING: usize = 1000;

/// A rendered document, and whether it holds raw HTML that needs the
/// sanitiser.
pub(crate) struct Html {
    pub html: String,
    pub raw_html: bool,
    /// Deepest element nesting, Markdown structure plus raw HTML (roughly).
    pub nesting: usize,
}

/// Renders a document, footnotes last. Raw HTML equal to an entry of `safe`
/// (written by the MDX pass from checked values) does not count as raw;
/// with `escape_raw`, other raw HTML is written as text.
pub(crate) fn render_markdown(
    md: &str,
    urls: &mut dyn UrlMap,
    safe: Option<&HashSet<String>>,
    escape_raw: bool,
) -> Html {
    let mut r = Renderer {
        urls,
        safe,
        escape_raw,
        raw_html: false,
        depth: 0,
        max_depth: 0,
        html_depth: 0,
        max_html_depth: 0,
        events: Vec::new(),
        links: Vec::new(),
        skip_image: 0,
        in_code: false,
        in_link: 0,
        footnote: None,
        notes: Footnotes::default(),
    };
    // Merged, so that a URL split at a `_` is seen whole.
    for event in TextMergeStream::new(Parser::new_ext(md, OPTIONS)) {
        r.event(event);
    }
    let mut out = String::with_capacity(md.len() + md.len() / 2);
    pulldown_cmark::html::push_html(&mut out, r.events.into_iter());
    r.notes.write(&mut out, r.urls);
    Html {
        html: out,
        raw_html: r.raw_html,
        nesting: r.max_depth + r.max_html_depth,
    }
}

/// Renders one line of Markdown as inline HTML (without the `<p>`).
pub(crate) fn render_inline(md: &str, urls: &mut dyn UrlMap) -> String {
    let html = render_markdown(md, urls, None, false).html;
    let trimmed = html.trim_end();
    match trimmed
        .strip_prefix("<p>")
        .and_then(|h| h.strip_suffix("</p>"))
    {
        Some(inner) if !inner.contains("<p>") => inner.to_owned(),
        _ => trimmed.to_owned(),
    }
}

struct Renderer<'e, 'u> {
    urls: &'u mut dyn UrlMap,
    safe: Option<&'u HashSet<String>>,
    escape_raw: bool,
    raw_html: bool,
    /// Markdown element nesting, now and at most.
    depth: usize,
    max_depth: usize,
    /// Raw HTML element nesting, now and at most.
    html_depth: usize,
    max_html_depth: usize,
    events: Vec<Event<'e>>,
    /// Per open link: whether its start tag was kept.
    links: Vec<bool>,
    /// Depth inside a dropped image.
    skip_image: usize,
    in_code: bool,
    /// Inside a link or image: no autolinks there.
    in_link: usize,
    /// The footnote definition being collected.
    footnote: Option<(String, Vec<Event<'e>>)>,
    notes: Footnotes<'e>,
}

#[derive(Default)]
struct Footnotes<'e> {
    /// Label -> number, in order of first reference.
    numbers: HashMap<String, usize>,
    order: Vec<String>,
    defs: HashMap<String, Vec<Event<'e>>>,
}

impl<'e> Renderer<'e, '_> {
    fn push(&mut self, event: Event<'e>) {
        match &mut self.footnote {
            Some((_, events)) => events.push(event),
            None => self.events.push(event),
        }
    }

    fn event(&mut self, mut event: Event<'e>) {
        match &event {
            Event::Start(_) => {
                self.depth += 1;
                self.max_depth = self.max_depth.max(self.depth);
            }
            Event::End(_) => self.depth = self.depth.saturating_sub(1),
            Event::Html(h) | Event::InlineHtml(h) => {
                track_nesting(h, &mut self.html_depth, &mut self.max_html_depth);
                if !self.is_vouched(h) {
                    if self.escape_raw {
                        event = Event::Text(h.clone());
                    } else {
                        self.raw_html = true;
                    }
                }
            }
            _ => {}
        }
        if self.skip_image > 0 {
            match event {
                Event::Start(Tag::Image { .. }) => self.skip_image += 1,
                Event::End(TagEnd::Image) => self.skip_image -= 1,
                _ => {}
            }
            return;
        }
        match event {
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) => {
                // pulldown-cmark adds `mailto:` to email autolinks itself.
                let dest = if link_type == LinkType::Email {
                    Some(dest_url)
                } else {
                    self.urls
                        .map("a", "href", &dest_url, None)
                        .map(CowStr::from)
                };
                self.links.push(dest.is_some());
                self.in_link += 1;
                if let Some(dest_url) = dest {
                    self.push(Event::Start(Tag::Link {
                        link_type,
                        dest_url,
                        title,
                        id,
                    }));
                }
            }
            Event::End(TagEnd::Link) => {
                self.in_link = self.in_link.saturating_sub(1);
                if self.links.pop().unwrap_or(true) {
                    self.push(Event::End(TagEnd::Link));
                }
            }
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }) => match self.urls.map("img", "src", &dest_url, None) {
                Some(dest) => {
                    self.in_link += 1;
                    self.push(Event::Start(Tag::Image {
                        link_type,
                        dest_url: dest.into(),
                        title,
                        id,
                    }));
                }
                None => self.skip_image = 1,
            },
            Event::End(TagEnd::Image) => {
                self.in_link = self.in_link.saturating_sub(1);
                self.push(Event::End(TagEnd::Image));
            }
            // Alignment would come out as `style`, which is not kept.
            Event::Start(Tag::Table(alignments)) => {
                let none = vec![Alignment::None; alignments.len()];
                self.push(Event::Start(Tag::Table(none)));
            }
            // Heading ids and classes are not needed in a feed.
            Event::Start(Tag::Heading { level, .. }) => {
                self.push(Event::Start(Tag::Heading {
                    level,
                    id: None,
                    classes: Vec::new(),
                    attrs: Vec::new(),
                }));
            }
            Event::Start(Tag::CodeBlock(kind)) => {
                self.in_code = true;
                self.push(Event::Start(Tag::CodeBlock(kind)));
            }
            Event::End(TagEnd::CodeBlock) => {
                self.in_code = false;
                self.push(Event::End(TagEnd::CodeBlock));
            }
            Event::TaskListMarker(done) => {
                self.push(Event::Text(if done { "☑ " } else { "☐ " }.into()));
            }
            Event::Start(Tag::FootnoteDefinition(label)) => {
                self.footnote = Some((label.to_string(), Vec::new()));
            }
            Event::End(TagEnd::FootnoteDefinition) => {
                if let Some((label, events)) = self.footnote.take() {
                    self.notes.defs.entry(label).or_insert(events);
                }
            }
            Event::FootnoteReference(label) => {
                let html = self.notes.reference(&label, self.urls);
                self.push(Event::InlineHtml(html.into()));
            }
            Event::Text(text) if !self.in_code && self.in_link == 0 && text.contains("://") => {
                self.autolink(text);
            }
            other => self.push(other),
        }
    }

    fn is_vouched(&self, html: &str) -> bool {
        let h = html.trim();
        // A bare line break or rule carries nothing to sanitise.
        let plain = matches!(
            h,
            "" | "<br>" | "<br/>" | "<br />" | "<hr>" | "<hr/>" | "<hr />"
        );
        plain || self.safe.is_some_and(|safe| safe.contains(h))
    }

    /// Splits bare `http(s)://` URLs out of a text into links.
    fn autolink(&mut self, text: CowStr<'e>) {
        static URL: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"https?://[^\s<>]+").expect("the autolink pattern is valid")
        });
        let mut last = 0;
        let mut pieces: Vec<Event<'e>> = Vec::new();
        for m in URL.find_iter(&text) {
            let before = text[..m.start()].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric()) {
                continue;
            }
            let url = trim_url(m.as_str());
            if url.len() <= "https://".len() {
                continue;
            }
            let end = m.start() + url.len();
            if m.start() > last {
                pieces.push(Event::Text(text[last..m.start()].to_owned().into()));
            }
            pieces.push(Event::Start(Tag::Link {
                link_type: LinkType::Autolink,
                dest_url: url.to_owned().into(),
                title: "".into(),
                id: "".into(),
            }));
            pieces.push(Event::Text(url.to_owned().into()));
            pieces.push(Event::End(TagEnd::Link));
            last = end;
        }
        if last == 0 {
            self.push(Event::Text(text));
            return;
        }
        if last < text.len() {
            pieces.push(Event::Text(text[last..].to_owned().into()));
        }
        for p in pieces {
            self.push(p);
        }
    }
}

/// Follows element nesting through raw HTML: opening tags that are not void
/// or self-closing go one deeper, closing tags one up. Rough (unclosed `<p>`
/// counts), which errs on the safe side.
fn track_nesting(html: &str, depth: &mut usize, max: &mut usize) {
    const VOID: &[&str] = &[
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr",
    ];
    let b = html.as_bytes();
    let mut i = 0;
    while let Some(k) = b[i..].iter().position(|&c| c == b'<') {
        i += k + 1;
        match b.get(i) {
            Some(b'/') => *depth = depth.saturating_sub(1),
            Some(c) if c.is_ascii_alphabetic() => {
                let name_len = b[i..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .count();
                let name = html[i..i + name_len].to_ascii_lowercase();
                let end = b[i..]
                    .iter()
                    .position(|&c| c == b'>')
                    .map_or(b.len(), |e| i + e);
                let self_closing = end > 0 && b.get(end - 1) == Some(&b'/');
                if !self_closing && !VOID.contains(&name.as_str()) {
                    *depth += 1;
                    *max = (*max).max(*depth);
                }
            }
            _ => {}
        }
    }
}

/// GFM: trailing punctuation is not part of an autolink, nor is a `)`
/// without its `(`.
fn trim_url(url: &str) -> &str {
    let mut u = url;
    loop {
        let before = u;
        u = u.trim_end_matches(['.', ',', ':', ';', '!', '?', '\'', '"', '*', '_', '~']);
        if u.ends_with(')') && u.matches(')').count() > u.matches('(').count() {
            u = &u[..u.len() - 1];
        }
        if u == before {
            return u;
        }
    }
}

/// remark-gfm's footnote ids: `user-content-fn-<label>`.
fn note_id(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

impl Footnotes<'_> {
    fn reference(&mut self, label: &str, urls: &mut dyn UrlMap) -> String {
        let id = note_id(label);
        let first = !self.numbers.contains_key(label);
        let n = match self.numbers.get(label) {
            Some(&n) => n,
            None => {
                self.order.push(label.to_owned());
                let n = self.order.len();
                self.numbers.insert(label.to_owned(), n);
                n
            }
        };
        let href = urls
            .map("a", "href", &format!("#user-content-fn-{id}"), None)
            .unwrap_or_default();
        let mut html = String::from("<sup><a href=\"");
        escape_html(&href, &mut html);
        html.push('"');
        if first {
            html.push_str(&format!(" id=\"user-content-fnref-{id}\""));
        }
        html.push_str(&format!(">{n}</a></sup>"));
        html
    }

    /// The referenced definitions, numbered, each with a link back.
    fn write(mut self, out: &mut String, urls: &mut dyn UrlMap) {
        if !self.order.iter().any(|l| self.defs.contains_key(l)) {
            return;
        }
        out.push_str("<div class=\"footnotes\">\n<ol>\n");
        for label in std::mem::take(&mut self.order) {
            let Some(events) = self.defs.remove(&label) else {
                continue;
            };
            let id = note_id(&label);
            let mut body = String::new();
            pulldown_cmark::html::push_html(&mut body, events.into_iter());
            let back = urls
                .map("a", "href", &format!("#user-content-fnref-{id}"), None)
                .unwrap_or_default();
            let mut backref = String::from(" <a href=\"");
            escape_html(&back, &mut backref);
            backref.push_str("\">↩</a>");
            match body.rfind("</p>") {
                Some(i) => body.insert_str(i, &backref),
                None => body.push_str(&backref),
            }
            out.push_str(&format!("<li id=\"user-content-fn-{id}\">\n{body}</li>\n"));
        }
        out.push_str("</ol>\n</div>\n");
    }
}

/// The elements feed content may use: HTML 4's, as the W3C feed validator
/// accepts them (it flags HTML5 elements such as `details`, `video` or
/// `section` as "Non-html tag" and form controls as potentially dangerous).
/// Unlisted elements are dropped and their content kept, so a `<video>`
/// leaves its fallback text and link.
const FEED_TAGS: &[&str] = &[
    "a",
    "abbr",
    "acronym",
    "address",
    "b",
    "big",
    "blockquote",
    "br",
    "caption",
    "cite",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "dfn",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "samp",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "tt",
    "u",
    "ul",
    "var",
];

/// One sanitiser for all posts, built once.
static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::default();
    b.tags(FEED_TAGS.iter().copied().collect())
        // Footnote anchors; the filter keeps only their `user-content-` ids.
        .add_tag_attributes("a", ["id"])
        .add_tag_attributes("li", ["id"])
        .url_schemes(ALLOWED_SCHEMES.iter().copied().collect())
        // Every URL was made absolute before; one that was not is dropped
        // rather than left pointing nowhere.
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(None)
        .attribute_filter(|_element, attribute, value| match attribute {
            "class" => class_filter(value),
            "id" => value
                .starts_with("user-content-")
                .then_some(Cow::Borrowed(value)),
            _ => Some(Cow::Borrowed(value)),
        });
    for tag in ["code", "pre", "div", "span", "sup", "p"] {
        b.add_tag_attributes(tag, ["class"]);
    }
    b
});

static DETAILS_OPEN: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"(?i)<details\b[^>]*>").expect("valid regex"));
static DETAILS_CLOSE: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"(?i)</details\s*>").expect("valid regex"));
static SUMMARY_OPEN: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"(?i)<summary\b[^>]*>").expect("valid regex"));
static SUMMARY_CLOSE: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"(?i)</summary\s*>").expect("valid regex"));

/// `<details><summary>` has no HTML 4 form: it becomes a block with a bold
/// first line, always open (feed readers run no scripts to open it).
fn flatten_details(html: &str) -> Cow<'_, str> {
    if !html.contains("<details") && !html.contains("<DETAILS") {
        return Cow::Borrowed(html);
    }
    let html = DETAILS_OPEN.replace_all(html, "<div class=\"details\">");
    let html = DETAILS_CLOSE.replace_all(&html, "</div>");
    let html = SUMMARY_OPEN.replace_all(&html, "<p><strong>");
    Cow::Owned(
        SUMMARY_CLOSE
            .replace_all(&html, "</strong></p>")
            .into_owned(),
    )
}

/// Keeps class names that are plain words (`language-rust`, `admonition`).
fn class_filter(value: &str) -> Option<Cow<'_, str>> {
    let ok = |c: &str| {
        c.len() <= 64
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if value.split_ascii_whitespace().all(ok) {
        return (!value.trim().is_empty()).then_some(Cow::Borrowed(value));
    }
    let kept: Vec<&str> = value.split_ascii_whitespace().filter(|c| ok(c)).collect();
    (!kept.is_empty()).then(|| Cow::Owned(kept.join(" ")))
}

/// Removes scripts, event handlers, styles and unknown tags.
pub(crate) fn sanitize(html: &str) -> String {
    CLEANER.clean(&flatten_details(html)).to_string()
}

#[cfg(test)]
mod tests {
    use super::super::urls::KeepUrls;
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
}
