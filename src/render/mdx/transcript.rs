//! A `<code>` element on lines of its own, as blogs write terminal
//! transcripts (`<code style={{display: 'block', whiteSpace: 'pre'}}>`,
//! lines ending in `<br/>`, `\#` escaping a would-be heading). The page
//! shows one block of lines with Markdown escapes undone; CommonMark would
//! keep it raw (backslashes and all) or, read as MDX children, split it into
//! paragraphs inside `<code>`. Here it becomes `<pre><code>`, a line a line.

use super::{Mode, Pre, TAG_LIMIT, jsx_tag};

/// A transcript longer than this many lines is not one (keeps a missing
/// `</code>` cheap).
const MAX_LINES: usize = 500;

impl Pre<'_, '_> {
    /// Reads a `<code …>` line at `start` up to its `</code>` line; returns
    /// where the next line starts, or `None` when this is no such block.
    pub(super) fn transcript(&mut self, start: usize, indent: &str) -> Option<usize> {
        let src = self.src;
        let tag = jsx_tag::parse(src, start, TAG_LIMIT)?;
        if tag.name != "code" || tag.closing || tag.self_closing {
            return None;
        }
        let line_end = src[tag.end..].find('\n').map_or(src.len(), |i| tag.end + i);
        if !src[tag.end..line_end].trim().is_empty() || line_end == src.len() {
            return None;
        }
        let mut lines = Vec::new();
        let mut pos = line_end + 1;
        let close = loop {
            if lines.len() > MAX_LINES || pos >= src.len() {
                return None;
            }
            let end = src[pos..].find('\n').map_or(src.len(), |i| pos + i);
            let line = &src[pos..end];
            if line.trim() == "</code>" {
                break end;
            }
            // `$ last command</code>`: the last line and the end together.
            if let Some(last) = line.trim_end().strip_suffix("</code>") {
                lines.push(last.trim_start_matches([' ', '\t']));
                break end;
            }
            if line.trim().is_empty() {
                // A blank line ends the element in MDX's reading: not ours.
                return None;
            }
            lines.push(line.trim_start_matches([' ', '\t']));
            pos = end + 1;
        };
        if self.mode == Mode::Render {
            let mut html = String::from("<pre><code>");
            for (n, line) in lines.iter().enumerate() {
                if n > 0 {
                    html.push('\n');
                }
                let inner = self.render_inline(line);
                html.push_str(strip_break(&inner));
            }
            html.push_str("</code></pre>");
            self.isolated(indent, &html, false);
        }
        Some((close + 1).min(src.len()))
    }
}

/// The line break a line ends with is the newline `<pre>` keeps anyway.
fn strip_break(html: &str) -> &str {
    let t = html.trim_end();
    ["<br>", "<br/>", "<br />"]
        .iter()
        .find_map(|b| t.strip_suffix(b))
        .unwrap_or(t)
        .trim_end()
}
