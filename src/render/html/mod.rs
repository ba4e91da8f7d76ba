//! Markdown (after the MDX pass) to HTML with pulldown-cmark, and the
//! sanitiser. The event stream is adjusted on the way: link and image URLs go
//! through [`UrlMap`], task-list checkboxes become ☐/☑ (feed readers drop
//! `<input>`), bare URLs become links (GFM autolink literals, which
//! Docusaurus's remark-gfm does and pulldown-cmark does not), and footnotes
//! are written the way remark-gfm writes them, ids included, so a link into
//! the post page lands on the same footnote there.
//!
//! `autolink` and `footnotes` are the two GFM features written by hand;
//! `sanitize` holds the sanitiser and what it keeps.

mod autolink;
mod footnotes;
mod sanitize;

use std::collections::HashSet;

use pulldown_cmark::{
    Alignment, CodeBlockKind, CowStr, Event, LinkType, Options, Parser, Tag, TagEnd,
    TextMergeStream,
};

use super::urls::UrlMap;
use footnotes::Footnotes;
pub(crate) use sanitize::{MAX_SANITIZED_NESTING, sanitize};

/// GFM as Docusaurus enables it; heading attributes so `## Title {#id}`
/// does not show its `{#id}`.
pub(crate) const OPTIONS: Options = Options::ENABLE_TABLES
    .union(Options::ENABLE_FOOTNOTES)
    .union(Options::ENABLE_STRIKETHROUGH)
    .union(Options::ENABLE_TASKLISTS)
    .union(Options::ENABLE_HEADING_ATTRIBUTES);

/// HTML elements without content (void elements): they never open an
/// element whose end tag would follow.
pub(crate) const VOID_ELEMENTS: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

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
                sanitize::track_nesting(h, &mut self.html_depth, &mut self.max_html_depth);
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
                let kind = match kind {
                    CodeBlockKind::Fenced(info) => {
                        let (lang, title) = code_info(&info);
                        if let Some(title) = title {
                            // Docusaurus shows `title="x.js"` in a bar above
                            // the code: a caption line here.
                            let mut html = String::from("<p class=\"code-title\"><code>");
                            crate::text::escape_html_into(&title, &mut html);
                            html.push_str("</code></p>\n");
                            self.push(Event::Html(html.into()));
                        }
                        CodeBlockKind::Fenced(lang.to_owned().into())
                    }
                    indented => indented,
                };
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
                    self.notes.define(label, events);
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
}

/// A fence's info string (`js title="babel.config.js" {1,3}`): the
/// language, which is the first word unless that is metadata, and the
/// `title`, quoted or not.
fn code_info(info: &str) -> (&str, Option<String>) {
    let first = info.split_whitespace().next().unwrap_or("");
    let lang = if first.contains(['=', '{']) {
        ""
    } else {
        first
    };
    let title = info.find("title=").and_then(|i| {
        let before_ok = i == 0 || info[..i].ends_with(char::is_whitespace);
        let rest = &info[i + "title=".len()..];
        let value = match rest.chars().next()? {
            q @ ('"' | '\'') => rest[1..].split(q).next()?,
            _ => rest.split_whitespace().next()?,
        };
        (before_ok && !value.trim().is_empty()).then(|| value.trim().to_owned())
    });
    (lang, title)
}

#[cfg(test)]
mod tests;
