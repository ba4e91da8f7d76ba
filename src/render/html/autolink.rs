//! GFM autolink literals: a bare `https://…` in text becomes a link, as
//! Docusaurus's remark-gfm does and pulldown-cmark does not.

use std::sync::LazyLock;

use pulldown_cmark::{CowStr, Event, LinkType, Tag, TagEnd};
use regex::Regex;

use super::Renderer;

impl<'e> Renderer<'e, '_> {
    /// Splits bare `http(s)://` URLs out of a text into links.
    pub(super) fn autolink(&mut self, text: CowStr<'e>) {
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
