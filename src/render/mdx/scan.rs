//! Finding tags and comments on a line, and skipping what only looks like
//! them: inline code, backslash escapes, a `<` that starts no tag.

use std::collections::HashMap;

use super::layout::Piece;
use super::{Pre, TAG_LIMIT, jsx_tag};
use crate::render::code;

impl Pre<'_, '_> {
    /// Scans one logical line (a tag or comment may carry it over several
    /// physical lines) from `start`, just after its indentation. Returns the
    /// offset of the next line.
    pub(super) fn scan_line(&mut self, start: usize, indent: &str) -> usize {
        let src = self.src;
        let b = src.as_bytes();
        let mut line_end = super::line_end(src, start);
        let physical = &src[start..line_end];
        if memchr::memchr2(b'<', b'{', physical.as_bytes()).is_none() {
            // The common case: plain Markdown.
            self.out.push_str(indent);
            self.out.push_str(physical);
            self.out.push('\n');
            return (line_end + 1).min(src.len());
        }

        let mut pieces: Vec<Piece> = Vec::new();
        let mut text = String::new();
        let mut i = start;
        let mut run = start;
        // Backtick run lengths known to have no closer on this physical line
        // (keeps lines full of backticks linear).
        let mut unclosed: HashMap<usize, usize> = HashMap::new();
        loop {
            if i > line_end {
                line_end = super::line_end(src, i);
            }
            let Some(off) = b[i..]
                .iter()
                .position(|&c| matches!(c, b'\n' | b'\\' | b'`' | b'<' | b'{'))
            else {
                i = b.len();
                break;
            };
            i += off;
            match b[i] {
                b'\n' => break,
                b'\\' => {
                    i += if b.get(i + 1).is_some_and(u8::is_ascii_punctuation) {
                        2
                    } else {
                        1
                    };
                }
                b'`' => {
                    let n = b[i..].iter().take_while(|&&c| c == b'`').count();
                    let after = i + n;
                    i = after;
                    if unclosed.get(&n) == Some(&line_end) {
                        continue;
                    }
                    match code::span_end(b, after, line_end, n) {
                        Some(end) => i = end,
                        None => {
                            unclosed.insert(n, line_end);
                        }
                    }
                }
                b'{' if src[i..].starts_with("{/*") => {
                    text.push_str(&src[run..i]);
                    i = self.skip_comment(i, "{/*", "*/}");
                    run = i;
                }
                b'{' => match self.expression(i) {
                    Some((end, shown)) => {
                        text.push_str(&src[run..i]);
                        text.push_str(&shown);
                        i = end;
                        run = i;
                    }
                    None => i += 1,
                },
                b'<' if src[i..].starts_with("<!--") => {
                    text.push_str(&src[run..i]);
                    i = self.skip_comment(i, "<!--", "-->");
                    run = i;
                }
                b'<' if self.budget > 0
                    && b.get(i + 1)
                        .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, b'/' | b'>')) =>
                {
                    match jsx_tag::parse(src, i, TAG_LIMIT) {
                        Some(tag) => {
                            text.push_str(&src[run..i]);
                            if !text.is_empty() {
                                pieces.push(Piece::Text(std::mem::take(&mut text)));
                            }
                            let piece = self.convert_tag(&tag, i);
                            pieces.push(Piece::Tag(piece));
                            i = tag.end;
                            run = i;
                        }
                        None => {
                            self.budget = self.budget.saturating_sub(TAG_LIMIT);
                            i += 1;
                        }
                    }
                }
                _ => i += 1,
            }
            if i >= b.len() {
                i = b.len();
                break;
            }
        }
        text.push_str(&src[run..i.min(src.len())]);
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        self.layout(pieces, indent);
        (i + 1).min(src.len())
    }

    /// A JSX expression in text at `src[i] == '{'`: its end and what a
    /// reader sees instead. MDX shows a string literal (`{' '}`, the JSX
    /// idiom for a space) as its text, and a constant the post exports as
    /// its value; it runs anything else, which a feed cannot: that is dropped
    /// with a warning. `{#id}` (a heading id), a brace in a link's URL and
    /// an unbalanced brace are not expressions here and stay text.
    fn expression(&mut self, i: usize) -> Option<(usize, String)> {
        let src = self.src;
        if src[i + 1..].starts_with('#') || self.budget == 0 || in_link_destination(src, i) {
            return None;
        }
        let Some(end) = jsx_tag::balanced(src.as_bytes(), i, src.len().min(i + TAG_LIMIT)) else {
            // As for tags: failed scans are paid from the budget.
            self.budget = self.budget.saturating_sub(TAG_LIMIT);
            return None;
        };
        let expr = &src[i + 1..end - 1];
        if let Some(value) = self.constants.get(expr.trim()) {
            return Some((end, escape_markdown(value)));
        }
        match jsx_tag::static_expr(expr) {
            Some(jsx_tag::Static::Text(t)) => Some((end, escape_markdown(&t))),
            // React renders `true`/`false` as nothing.
            Some(jsx_tag::Static::Bool(_)) => Some((end, String::new())),
            None if expr.trim().is_empty() => Some((end, String::new())),
            None => {
                let shown: String = expr.trim().chars().take(40).collect();
                self.warn(
                    i,
                    format!("the JSX expression `{{{shown}}}` needs JavaScript to show; it is left out of the feed"),
                );
                Some((end, String::new()))
            }
        }
    }

    /// Skips a comment starting at `i`; an unclosed one runs to the end, as
    /// an unclosed HTML comment does in CommonMark.
    fn skip_comment(&mut self, i: usize, open: &str, close: &str) -> usize {
        let from = i + open.len();
        match self.src[from..].find(close) {
            Some(k) => from + k + close.len(),
            None => {
                self.warn(i, format!("`{open}` comment is never closed"));
                self.src.len()
            }
        }
    }
}

/// Whether `src[i]` is inside `](…)` on its line: MDX reads a link's
/// destination before any expression in it.
fn in_link_destination(src: &str, i: usize) -> bool {
    let line_start = src[..i].rfind('\n').map_or(0, |n| n + 1);
    let before = &src[line_start..i];
    before
        .rfind("](")
        .is_some_and(|k| !before[k + 2..].contains([')', ' ', '\t']))
}

/// A string from JavaScript as Markdown text: punctuation escaped, so that
/// `{"<b>"}` or `{'*'}` shows as written.
fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
