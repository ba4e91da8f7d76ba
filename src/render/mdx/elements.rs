//! What each tag becomes: JSX components (`<Blockquote>`, `<Link>`,
//! `<Details>`, unknown ones) turn into plain HTML or vanish, HTML tags are
//! written back without their JSX (`className`, `style={{...}}`, handlers),
//! and an `<iframe>` becomes a link to what it embeds. Every URL goes
//! through [`UrlMap`](crate::render::urls::UrlMap).

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
            _ => (String::new(), String::new()),
        };
        if tag.self_closing {
            // `<Icon />` and friends vanish; a self-closing known component
            // has no children to show either.
            return;
        }
        piece.frame = self.push_element(tag.name, close, true, at);
        // Past the depth limit an opening tag is dropped with its end tag,
        // which keeps the nesting the sanitiser may see bounded.
        if piece.frame.is_some() {
            piece.html = open;
        }
    }

    fn convert_html(&mut self, tag: &Tag, at: usize, piece: &mut TagPiece) {
        let name = tag.name.to_ascii_lowercase();
        if name == "iframe" {
            self.convert_iframe(tag, piece);
            return;
        }
        piece.trusted = false;
        piece.block = BLOCK_TAGS.contains(&name.as_str());
        piece.flow = piece.block;
        if tag.closing {
            self.close_element(&name);
            piece.html = format!("</{name}>");
        } else {
            piece.html = self.serialize(tag, &name);
            let opens = !tag.self_closing && !VOID_ELEMENTS.contains(&name.as_str());
            if opens && piece.block {
                piece.frame = self.push_element(&name, String::new(), false, at);
            }
        }
        piece.out_name = name;
    }

    /// Feed readers do not run embeds (the sanitiser drops `<iframe>`), so
    /// an embedded video or map becomes a link to it.
    fn convert_iframe(&mut self, tag: &Tag, piece: &mut TagPiece) {
        piece.block = true;
        piece.out_name = "iframe".to_owned();
        if tag.closing {
            return;
        }
        let src = tag.attrs.iter().find(|a| a.name == "src");
        let url = src.and_then(|a| {
            let value = tag.text_attr("src")?;
            self.urls.map("a", "href", &value, Some(a.at))
        });
        if let Some(url) = url {
            let title = tag.text_attr("title").filter(|t| !t.trim().is_empty());
            let mut html = anchor_open(&url);
            escape_html_into(title.as_deref().unwrap_or(&url).trim(), &mut html);
            html.push_str("</a>");
            piece.html = html;
        }
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

/// `<a href="url">`, for a URL already checked by [`UrlMap`](crate::render::urls::UrlMap).
fn anchor_open(url: &str) -> String {
    let mut html = String::from("<a href=\"");
    escape_html_into(url, &mut html);
    html.push_str("\">");
    html
}
