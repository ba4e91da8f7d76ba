//! What each tag becomes: JSX components (`<Blockquote>`, `<Link>`,
//! `<Details>`, unknown ones) turn into plain HTML or vanish, HTML tags are
//! written back without their JSX (`className`, `style={{...}}`, handlers),
//! and media become links (see `media`). A tab of `<Tabs>` gets its label as
//! a bold line, as the tab bar shows it on the page. Every URL goes through
//! [`UrlMap`](crate::render::urls::UrlMap).

use std::sync::LazyLock;

use regex::Regex;

use super::jsx_tag::{Static, Tag, Value, static_expr};
use super::layout::TagPiece;
use super::{Mode, Pre};
use crate::render::html::VOID_ELEMENTS;
use crate::text::escape_html_into;

/// CommonMark's HTML block tags (type 6) and the media tags that act like
/// them: these start a raw HTML block, so they get lines of their own.
#[rustfmt::skip]
const BLOCK_TAGS: &[&str] = &[
    "address", "article", "aside", "audio", "blockquote", "body", "caption", "center", "col",
    "colgroup", "dd", "details", "dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption",
    "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "iframe",
    "legend", "li", "main", "menu", "nav", "ol", "p", "picture", "section", "source", "summary",
    "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul", "video",
];

/// Components that only decorate (an icon beside a link): leaving them out
/// loses nothing a reader needs, so it is not reported.
const DECORATIVE: &[&str] = &["Icon", "Truncate", "TOCInline", "Emoji"];

/// Attributes holding a URL, rewritten through [`UrlMap`](crate::render::urls::UrlMap).
const URL_ATTRS: &[&str] = &["href", "src", "poster", "cite"];

impl Pre<'_, '_> {
    pub(super) fn convert_tag(&mut self, tag: &Tag, at: usize) -> TagPiece {
        let mut piece = TagPiece {
            html: String::new(),
            trusted: true,
            out_name: String::new(),
            closing: tag.closing,
            block: false,
            flow: true,
            frame: None,
        };
        if tag.name.is_empty() {
            // JSX fragment `<>`: its children stay.
            return piece;
        }
        if tag.is_component() {
            self.convert_component(tag, at, &mut piece);
        } else {
            self.convert_html(tag, at, &mut piece);
        }
        if self.mode == Mode::Summary {
            piece.html.clear();
        }
        piece
    }

    fn convert_component(&mut self, tag: &Tag, at: usize, piece: &mut TagPiece) {
        let (out_name, block) = match tag.name {
            "Blockquote" => ("blockquote", true),
            "Details" => ("details", true),
            "Summary" => ("summary", true),
            "Tabs" | "TabItem" => ("", true),
            "Link" => ("a", false),
            _ => ("", false),
        };
        piece.out_name = out_name.to_owned();
        piece.block = block;
        if tag.closing {
            piece.html = self.close_element(tag.name).unwrap_or_default();
            if piece.html.ends_with("</a>") {
                self.anchors = self.anchors.saturating_sub(1);
                self.after_anchor(&mut piece.html);
            }
            return;
        }
        let (open, close) = match tag.name {
            "Blockquote" => {
                let mut close = String::new();
                if let Some(who) = tag
                    .text_attr("attribution")
                    .filter(|w| !w.trim().is_empty())
                {
                    close.push_str("<p><cite>");
                    escape_html_into(who.trim(), &mut close);
                    close.push_str("</cite></p>");
                }
                close.push_str("</blockquote>");
                ("<blockquote>".to_owned(), close)
            }
            // HTML 4 has no details/summary (the W3C validator flags them).
            "Details" => ("<div class=\"details\">".to_owned(), "</div>".to_owned()),
            "Summary" => ("<p><strong>".to_owned(), "</strong></p>".to_owned()),
            "Link" => {
                let target = tag
                    .attrs
                    .iter()
                    .find(|a| a.name == "href" || a.name == "to")
                    .and_then(|a| tag.text_attr(a.name).map(|v| (v, a.at)));
                match target.and_then(|(v, a)| self.urls.map("a", "href", &v, Some(a))) {
                    Some(url) => (anchor_open(&url), "</a>".to_owned()),
                    None => (String::new(), String::new()),
                }
            }
            // Docusaurus shows `label`, else the label `<Tabs values>` gives
            // the tab's value, else the value.
            "TabItem" => match tag
                .text_attr("label")
                .or_else(|| {
                    let value = tag.text_attr("value")?;
                    Some(self.tab_labels.get(&value).cloned().unwrap_or(value))
                })
                .filter(|l| !l.trim().is_empty())
            {
                Some(label) => {
                    let mut html = String::from("<p><strong>");
                    escape_html_into(label.trim(), &mut html);
                    html.push_str("</strong></p>");
                    (html, String::new())
                }
                None => (String::new(), String::new()),
            },
            "Tabs" => {
                if let Some(Value::Expr(values)) = tag.attr("values") {
                    self.tab_labels.extend(tab_values(values));
                }
                (String::new(), String::new())
            }
            _ => return self.convert_unknown(tag, at, piece),
        };
        if tag.self_closing {
            // A self-closing known component has no children to show.
            return;
        }
        piece.frame = self.push_element(tag.name, close, true, at);
        // Past the depth limit an opening tag is dropped with its end tag,
        // which keeps the nesting the sanitiser may see bounded.
        if piece.frame.is_some() {
            if open.starts_with("<a ") {
                self.anchors += 1;
            }
            piece.html = open;
        }
    }

    /// A component postbode does not know: an embed becomes a link to what
    /// it shows; otherwise its children stay and, when it has none, the
    /// operator is told what the reader misses.
    fn convert_unknown(&mut self, tag: &Tag, at: usize, piece: &mut TagPiece) {
        // `<Button href="/docs">Docs</Button>`: a link around its children.
        if !tag.self_closing
            && let Some(url) = self.component_link(tag)
        {
            piece.frame = self.push_element(tag.name, "</a>".to_owned(), true, at);
            if piece.frame.is_some() {
                piece.html = anchor_open(&url);
                self.anchors += 1;
            }
            return;
        }
        if let Some(url) = self.embed_url(tag) {
            let title = tag.text_attr("title").filter(|t| !t.trim().is_empty());
            piece.html = self.media_link(&url, None, "", title.as_deref());
            piece.block = true;
            piece.out_name = tag.name.to_owned();
        } else if tag.self_closing && !DECORATIVE.contains(&tag.name) {
            self.warn(
                at,
                format!(
                    "<{} /> is a component postbode cannot render; the feed leaves it out",
                    tag.name
                ),
            );
        }
        if !tag.self_closing {
            piece.frame = self.push_element(tag.name, String::new(), true, at);
        }
    }

    fn convert_html(&mut self, tag: &Tag, at: usize, piece: &mut TagPiece) {
        let name = tag.name.to_ascii_lowercase();
        if self.convert_media_tag(tag, &name, at, piece) {
            return;
        }
        if name == "a" && !tag.self_closing {
            self.anchors = if tag.closing {
                self.anchors.saturating_sub(1)
            } else {
                self.anchors + 1
            };
        }
        piece.trusted = false;
        piece.block = BLOCK_TAGS.contains(&name.as_str());
        piece.flow = piece.block;
        if tag.closing {
            self.close_element(&name);
            piece.html = format!("</{name}>");
            if name == "a" {
                self.after_anchor(&mut piece.html);
            }
        } else {
            piece.html = self.serialize(tag, &name);
            let opens = !tag.self_closing && !VOID_ELEMENTS.contains(&name.as_str());
            if opens && piece.block {
                piece.frame = self.push_element(&name, String::new(), false, at);
            }
        }
        piece.out_name = name;
    }

    /// Writes an HTML tag back without its JSX: no expressions, no `style`,
    /// no event handlers, `className` -> `class`, URLs made absolute.
    fn serialize(&mut self, tag: &Tag, name: &str) -> String {
        let mut s = String::with_capacity(tag.end.min(256));
        s.push('<');
        s.push_str(name);
        for attr in &tag.attrs {
            let attr_name = match attr.name {
                "" => continue,
                "className" => "class".to_owned(),
                "htmlFor" => "for".to_owned(),
                n => n.to_ascii_lowercase(),
            };
            if attr_name == "style" || attr_name.starts_with("on") {
                continue;
            }
            let value = match &attr.value {
                Value::Bare => None,
                Value::Text(t) => Some((*t).to_owned()),
                Value::Expr(e) => match static_expr(e) {
                    Some(Static::Text(t)) => Some(t),
                    Some(Static::Bool(true)) => None,
                    _ => continue,
                },
            };
            let value = match value {
                Some(v) if URL_ATTRS.contains(&attr_name.as_str()) => {
                    match self.urls.map(name, &attr_name, &v, Some(attr.at)) {
                        Some(url) => Some(url),
                        None => continue,
                    }
                }
                other => other,
            };
            s.push(' ');
            s.push_str(&attr_name);
            if let Some(v) = value {
                s.push_str("=\"");
                // Entities the author wrote stay entities: escape only what
                // would end the attribute.
                for c in v.chars() {
                    match c {
                        '"' => s.push_str("&quot;"),
                        '<' => s.push_str("&lt;"),
                        '>' => s.push_str("&gt;"),
                        _ => s.push(c),
                    }
                }
                s.push('"');
            }
        }
        s.push_str(if tag.self_closing { " />" } else { ">" });
        s
    }
}

/// `values={[{label: 'npm', value: 'npm'}, …]}` (the older way to label
/// tabs): value -> label, for entries written with string literals.
fn tab_values(expr: &str) -> Vec<(String, String)> {
    static ENTRY: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\{([^{}]*)\}").expect("valid regex"));
    static FIELD: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"(label|value)\s*:\s*('[^']*'|"[^"]*"|`[^`$]*`)"#).expect("valid regex")
    });
    ENTRY
        .captures_iter(expr)
        .filter_map(|entry| {
            let (mut label, mut value) = (None, None);
            for f in FIELD.captures_iter(&entry[1]) {
                let text = f[2][1..f[2].len() - 1].to_owned();
                if &f[1] == "label" {
                    label = Some(text);
                } else {
                    value = Some(text);
                }
            }
            Some((value?, label?))
        })
        .collect()
}

/// `<a href="url">`, for a URL already checked by [`UrlMap`](crate::render::urls::UrlMap).
pub(super) fn anchor_open(url: &str) -> String {
    let mut html = String::from("<a href=\"");
    escape_html_into(url, &mut html);
    html.push_str("\">");
    html
}
