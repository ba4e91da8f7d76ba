//! The sanitiser, and the limit on what it is given: ammonia with the
//! elements and attributes feed content may hold, after `<details>` has
//! been flattened into HTML 4.

use std::borrow::Cow;
use std::sync::LazyLock;

use super::VOID_ELEMENTS;
use crate::render::urls::ALLOWED_SCHEMES;

/// html5ever's work grows with the square of element nesting (8,000 nested
/// `<div>` take 0.1 s, a million take hours), so a document nested deeper
/// than this is not sanitised: its raw HTML is shown as text instead.
pub(crate) const MAX_SANITIZED_NESTING: usize = 1000;

/// Follows element nesting through raw HTML: opening tags that are not void
/// or self-closing go one deeper, closing tags one up. Rough (unclosed `<p>`
/// counts), which errs on the safe side.
pub(super) fn track_nesting(html: &str, depth: &mut usize, max: &mut usize) {
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
                if !self_closing && !VOID_ELEMENTS.contains(&name.as_str()) {
                    *depth += 1;
                    *max = (*max).max(*depth);
                }
            }
            _ => {}
        }
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
pub(super) fn class_filter(value: &str) -> Option<Cow<'_, str>> {
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
