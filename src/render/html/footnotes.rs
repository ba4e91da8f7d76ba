//! Footnotes written the way remark-gfm writes them, ids included, so a
//! link into the post page lands on the same footnote there: numbered in
//! order of first reference and collected at the end, each with a link back.

use std::collections::HashMap;

use pulldown_cmark::Event;

use crate::render::urls::UrlMap;
use crate::text::escape_html_into;

#[derive(Default)]
pub(super) struct Footnotes<'e> {
    /// Label -> number, in order of first reference.
    numbers: HashMap<String, usize>,
    order: Vec<String>,
    defs: HashMap<String, Vec<Event<'e>>>,
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

impl<'e> Footnotes<'e> {
    /// Keeps a definition; of two with one label, the first counts.
    pub(super) fn define(&mut self, label: String, events: Vec<Event<'e>>) {
        self.defs.entry(label).or_insert(events);
    }

    pub(super) fn reference(&mut self, label: &str, urls: &mut dyn UrlMap) -> String {
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
        let mut html = String::from("<sup>");
        open_link(&mut html, urls, &format!("user-content-fn-{id}"));
        if first {
            html.push_str(&format!(" id=\"user-content-fnref-{id}\""));
        }
        html.push_str(&format!(">{n}</a></sup>"));
        html
    }

    /// The referenced definitions, numbered, each with a link back.
    pub(super) fn write(mut self, out: &mut String, urls: &mut dyn UrlMap) {
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
            let mut backref = String::from(" ");
            open_link(&mut backref, urls, &format!("user-content-fnref-{id}"));
            backref.push_str(">↩</a>");
            match body.rfind("</p>") {
                Some(i) => body.insert_str(i, &backref),
                None => body.push_str(&backref),
            }
            out.push_str(&format!("<li id=\"user-content-fn-{id}\">\n{body}</li>\n"));
        }
        out.push_str("</ol>\n</div>\n");
    }
}

/// Writes `<a href="…"`, without the closing `>`, linking to `#{id}` on the
/// post page.
fn open_link(out: &mut String, urls: &mut dyn UrlMap, id: &str) {
    let href = urls
        .map("a", "href", &format!("#{id}"), None)
        .unwrap_or_default();
    out.push_str("<a href=\"");
    escape_html_into(&href, out);
    out.push('"');
}
