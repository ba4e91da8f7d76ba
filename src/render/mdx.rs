//! The MDX layer, removed in one pass over the lines before the Markdown
//! parser sees the text: ESM `import`/`export`, `{/* comments */}` and
//! `<!-- comments -->`, JSX components (`<Blockquote>`, `<Link>`, unknown
//! ones), JSX attribute syntax on HTML tags (`className`, `style={{...}}`),
//! admonitions (`:::tip Title` ... `:::`) and leaf directives
//! (`::video-vimeo[label]{id=1}`). Fenced code and inline code are copied
//! untouched.
//!
//! MDX renders the children of a block-level tag as Markdown, while
//! CommonMark swallows everything up to the next blank line into a raw HTML
//! block. So block-level tags are put on lines of their own with blank lines
//! around them; see `Pre::layout`.
//!
//! The HTML this pass writes from checked, escaped values is remembered: if
//! every raw HTML event the Markdown parser later reports is one of those,
//! the (slow) sanitiser can be skipped.

use std::collections::{HashMap, HashSet};

use super::directives::{self, Container};
use super::esm;
use super::html;
use super::tags::{self, Static, Tag, Value};
use super::urls::UrlMap;

/// Rendering keeps markup; the summary wants text only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Render,
    Summary,
}

/// The Markdown that is left, and what was found on the way.
#[derive(Debug)]
pub(crate) struct Preprocessed {
    pub text: String,
    /// HTML lines and tags this pass wrote from checked values; raw HTML
    /// equal to one of these needs no sanitising.
    pub safe_html: HashSet<String>,
    /// Byte offset in the source and message.
    pub warnings: Vec<(usize, String)>,
}

/// A tag longer than this is not a tag (keeps a stray `<` cheap).
const TAG_LIMIT: usize = 8 * 1024;
/// Nesting deeper than this is not tracked: no real post gets near it, and it
/// keeps per-line work bounded on hostile input.
const MAX_DEPTH: usize = 64;

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

/// Elements without content, which never open a frame.
const VOID_TAGS: &[&str] = &[
    "area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr",
];

/// Attributes holding a URL, rewritten through [`UrlMap`].
const URL_ATTRS: &[&str] = &["href", "src", "poster", "cite"];

/// Removes the MDX layer from a post body; URLs in tags go through `urls`.
pub(crate) fn preprocess(src: &str, urls: &mut dyn UrlMap, mode: Mode) -> Preprocessed {
    let mut pre = Pre {
        src,
        urls,
        mode,
        out: String::with_capacity(src.len() + src.len() / 8 + 64),
        safe: HashSet::new(),
        stack: Vec::new(),
        next_id: 0,
        fence: None,
        esm_ok: true,
        budget: src.len().saturating_mul(2).saturating_add(1 << 20),
        warnings: Vec::new(),
    };
    pre.run();
    Preprocessed {
        safe_html: pre.safe,
        text: pre.out,
        warnings: pre.warnings,
    }
}

/// A code fence: its character and length.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fence {
    ch: u8,
    len: usize,
    /// Indentation removed from the opening line (see [`Pre::dedent`]).
    dedent: usize,
}

impl Fence {
    /// The fence opened by a (left-trimmed) line, if any.
    pub(crate) fn open(line: &str) -> Option<Fence> {
        let b = line.as_bytes();
        let ch = *b.first()?;
        if ch != b'`' && ch != b'~' {
            return None;
        }
        let len = b.iter().take_while(|&&c| c == ch).count();
        // CommonMark: a backtick fence's info string has no backticks.
        let ok = len >= 3 && (ch == b'~' || !line[len..].contains('`'));
        ok.then_some(Fence { ch, len, dedent: 0 })
    }

    pub(crate) fn closed_by(self, line: &str) -> bool {
        let b = line.trim().as_bytes();
        b.len() >= self.len && b.iter().all(|&c| c == self.ch)
    }
}

struct Pre<'s, 'u> {
    src: &'s str,
    urls: &'u mut dyn UrlMap,
    mode: Mode,
    out: String,
    /// See [`Preprocessed::safe_html`].
    safe: HashSet<String>,
    stack: Vec<Frame>,
    next_id: u32,
    fence: Option<Fence>,
    /// At a place where ESM may start: the start, or after a blank line.
    esm_ok: bool,
    /// Bytes that failed tag parses may still cost; then `<` is just text.
    budget: usize,
    warnings: Vec<(usize, String)>,
}

/// An open container: an admonition or an element whose end tag is expected.
#[derive(Debug)]
struct Frame {
    id: u32,
    kind: FrameKind,
    /// Source offset of the opening, for "not closed" warnings.
    at: usize,
    /// Opened on a line of its own: its children may be indented, and that
    /// indentation is removed (MDX has no indented code blocks).
    flow: bool,
    dedent: Option<usize>,
}

#[derive(Debug)]
enum FrameKind {
    Admonition {
        colons: usize,
    },
    Element {
        name: String,
        /// What to write when it closes (JSX components only).
        close: String,
        jsx: bool,
    },
}

/// A tag found on a line, already converted.
#[derive(Debug)]
struct TagPiece {
    html: String,
    /// Written by this pass from checked, escaped values.
    trusted: bool,
    /// Output element name ("" when the tag vanishes).
    out_name: String,
    closing: bool,
    /// Gets a line of its own at the start or end of a line.
    block: bool,
    /// Gets a line of its own when the line holds nothing but tags.
    flow: bool,
    frame: Option<u32>,
}

#[derive(Debug)]
enum Piece {
    Text(String),
    Tag(TagPiece),
}

impl Pre<'_, '_> {
    fn run(&mut self) {
        let src = self.src;
        let mut pos = 0;
        while pos < src.len() {
            let line_end = src[pos..].find('\n').map_or(src.len(), |i| pos + i);
            let next = (line_end + 1).min(src.len());
            let raw = &src[pos..line_end];
            let line = match self.fence {
                // Code keeps its own indentation, less what its fence lost.
                Some(fence) => strip_columns(raw, fence.dedent),
                None => self.dedent(raw),
            };
            let line_start = line_end - line.len();
            let trimmed = line.trim_start_matches([' ', '\t']);
            let indent = &line[..line.len() - trimmed.len()];
            let content = trimmed.trim_end();

            if let Some(fence) = self.fence {
                if fence.closed_by(content) {
                    self.fence = None;
                }
                self.out.push_str(line);
                self.out.push('\n');
                pos = next;
                continue;
            }
            if content.is_empty() {
                self.out.push('\n');
                self.esm_ok = true;
                pos = next;
                continue;
            }
            if let Some(mut fence) = Fence::open(content) {
                fence.dedent = raw.len() - line.len();
                self.fence = Some(fence);
                self.out.push_str(line);
                self.out.push('\n');
                self.esm_ok = false;
                pos = next;
                continue;
            }
            if self.esm_ok
                && indent.is_empty()
                && self.stack.is_empty()
                && esm::is_statement_start(content)
            {
                pos = esm::statement_end(src, pos);
                continue;
            }
            self.esm_ok = false;
            if content.starts_with(":::") && self.container_directive(content, indent, line_start) {
                pos = next;
                continue;
            }
            if content.starts_with("::") && self.leaf_directive(content, indent) {
                pos = next;
                continue;
            }
            pos = self.scan_line(line_start + indent.len(), indent);
        }
        self.close_all();
    }

    /// Removes the indentation of children of flow elements.
    fn dedent<'l>(&mut self, line: &'l str) -> &'l str {
        if line.trim().is_empty() {
            return line;
        }
        let mut rest = line;
        for frame in self.stack.iter_mut().filter(|f| f.flow) {
            let ws = rest.len() - rest.trim_start_matches([' ', '\t']).len();
            let d = *frame.dedent.get_or_insert(ws);
            rest = &rest[d.min(ws)..];
        }
        rest
    }

    // ---- output helpers -------------------------------------------------

    fn ensure_blank_line(&mut self) {
        if self.out.is_empty() || self.out.ends_with("\n\n") {
            return;
        }
        if self.out.ends_with('\n') {
            self.out.push('\n');
        } else {
            self.out.push_str("\n\n");
        }
    }

    /// Writes `html` on a line of its own, between blank lines, so that
    /// Markdown before and after it is still Markdown.
    fn isolated(&mut self, indent: &str, html: &str, trusted: bool) {
        self.ensure_blank_line();
        if !html.is_empty() {
            self.out.push_str(block_indent(indent));
            self.out.push_str(html);
            self.out.push('\n');
            if trusted {
                self.vouch(html);
            }
        }
        self.out.push('\n');
    }

    /// Remembers HTML written from checked values, as a whole line and tag
    /// by tag (the parser reports a line of a raw HTML block whole, inline
    /// HTML one tag at a time). Escaped values hold no `<` or `>`.
    fn vouch(&mut self, html: &str) {
        let html = html.trim();
        if html.is_empty() || self.mode == Mode::Summary {
            return;
        }
        self.safe.insert(html.to_owned());
        let mut rest = html;
        while let Some(open) = rest.find('<') {
            let Some(close) = rest[open..].find('>') else {
                break;
            };
            self.safe.insert(rest[open..open + close + 1].to_owned());
            rest = &rest[open + close + 1..];
        }
    }

    fn warn(&mut self, at: usize, message: String) {
        self.warnings.push((at, message));
    }

    // ---- directives -----------------------------------------------------

    /// `:::kind[Title]`, `:::kind Title` or a closing `:::`. Returns false
    /// when the line is not a directive after all (it stays text).
    fn container_directive(&mut self, content: &str, indent: &str, at: usize) -> bool {
        match directives::container(content) {
            Some(Container::Close { colons }) => self.close_admonition(colons, indent, at),
            Some(Container::Open {
                colons,
                kind,
                title,
            }) if self.stack.len() < MAX_DEPTH => {
                self.open_admonition(kind, title, colons, indent, at);
            }
            _ => return false,
        }
        true
    }

    fn open_admonition(&mut self, kind: &str, title: &str, colons: usize, indent: &str, at: usize) {
        let class: String = kind
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let title = directives::title(kind, title);
        if self.mode == Mode::Render {
            let open = format!("<div class=\"admonition admonition-{class}\">");
            self.isolated(indent, &open, true);
            let rendered = self.render_inline(&title);
            let line = format!("<p><strong>{rendered}</strong></p>");
            self.isolated(indent, &line, !title.contains('<'));
        } else {
            self.ensure_blank_line();
        }
        self.push_frame(FrameKind::Admonition { colons }, at, false);
    }

    fn close_admonition(&mut self, colons: usize, indent: &str, at: usize) {
        let Some(idx) = self
            .stack
            .iter()
            .rposition(|f| matches!(f.kind, FrameKind::Admonition { .. }))
        else {
            self.warn(at, "`:::` closes no admonition".to_owned());
            return;
        };
        // Directives: a fence closes only a container opened with at most
        // as many colons; a shorter one inside a longer one is not a close.
        if let FrameKind::Admonition { colons: open } = self.stack[idx].kind
            && open > colons
        {
            return;
        }
        let closes = self.pop_to(idx);
        let html = match self.mode {
            Mode::Render => format!("{closes}</div>"),
            Mode::Summary => String::new(),
        };
        self.isolated(indent, &html, true);
    }

    /// `::video-vimeo[label]{id=123}` and friends, on a line of their own.
    fn leaf_directive(&mut self, content: &str, indent: &str) -> bool {
        let Some(leaf) = directives::leaf(content) else {
            return false;
        };
        let text = match leaf.url {
            Some(url) if self.mode == Mode::Render => {
                let shown = if leaf.label.is_empty() {
                    url.as_str()
                } else {
                    leaf.label
                };
                format!("[{shown}]({url})")
            }
            _ => leaf.label.to_owned(),
        };
        self.ensure_blank_line();
        if !text.is_empty() {
            self.out.push_str(block_indent(indent));
            self.out.push_str(&text);
            self.out.push_str("\n\n");
        }
        true
    }

    // ---- lines with tags and comments ---------------------------------

    /// Scans one logical line (a tag or comment may carry it over several
    /// physical lines) from `start`, just after its indentation. Returns the
    /// offset of the next line.
    fn scan_line(&mut self, start: usize, indent: &str) -> usize {
        let src = self.src;
        let b = src.as_bytes();
        let mut line_end = src[start..].find('\n').map_or(src.len(), |i| start + i);
        let physical = &src[start..line_end];
        if !physical.contains('<') && !physical.contains("{/*") {
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
                line_end = src[i..].find('\n').map_or(src.len(), |k| i + k);
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
                    match closing_backticks(b, after, line_end, n) {
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
                b'<' if src[i..].starts_with("<!--") => {
                    text.push_str(&src[run..i]);
                    i = self.skip_comment(i, "<!--", "-->");
                    run = i;
                }
                b'<' if self.budget > 0
                    && b.get(i + 1)
                        .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, b'/' | b'>')) =>
                {
                    match tags::parse(src, i, TAG_LIMIT) {
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

    fn convert_tag(&mut self, tag: &Tag, at: usize) -> TagPiece {
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
                    tags::escape_html(who.trim(), &mut close);
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
                    Some(url) => {
                        let mut open = String::from("<a href=\"");
                        tags::escape_html(&url, &mut open);
                        open.push_str("\">");
                        (open, "</a>".to_owned())
                    }
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
            let opens = !tag.self_closing && !VOID_TAGS.contains(&name.as_str());
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
            let mut html = String::from("<a href=\"");
            tags::escape_html(&url, &mut html);
            html.push_str("\">");
            tags::escape_html(title.as_deref().unwrap_or(&url).trim(), &mut html);
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
                Value::Expr(e) => match tags::static_expr(e) {
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

    // ---- the stack ------------------------------------------------------

    fn push_frame(&mut self, kind: FrameKind, at: usize, flow: bool) -> Option<u32> {
        if self.stack.len() >= MAX_DEPTH {
            return None;
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.stack.push(Frame {
            id,
            kind,
            at,
            flow,
            dedent: None,
        });
        Some(id)
    }

    fn push_element(&mut self, name: &str, close: String, jsx: bool, at: usize) -> Option<u32> {
        let kind = FrameKind::Element {
            name: name.to_owned(),
            close,
            jsx,
        };
        self.push_frame(kind, at, false)
    }

    /// Closes the innermost open element called `name` (not looking past an
    /// admonition) and any left open inside it; returns the HTML to write.
    fn close_element(&mut self, name: &str) -> Option<String> {
        let floor = self
            .stack
            .iter()
            .rposition(|f| matches!(f.kind, FrameKind::Admonition { .. }))
            .map_or(0, |i| i + 1);
        let idx = self.stack[floor..]
            .iter()
            .rposition(|f| matches!(&f.kind, FrameKind::Element { name: n, .. } if n == name))?
            + floor;
        Some(self.pop_to(idx))
    }

    /// Pops frames down to and including `idx`, returning the end tags of
    /// the JSX elements among them.
    fn pop_to(&mut self, idx: usize) -> String {
        let mut html = String::new();
        while self.stack.len() > idx {
            let is_target = self.stack.len() - 1 == idx;
            let Some(frame) = self.stack.pop() else {
                break;
            };
            if let FrameKind::Element { close, jsx, name } = frame.kind
                && jsx
            {
                if self.mode == Mode::Render {
                    html.push_str(&close);
                }
                if !is_target {
                    self.warn(frame.at, format!("<{name}> is not closed"));
                }
            }
        }
        html
    }

    fn close_all(&mut self) {
        while let Some(frame) = self.stack.pop() {
            match frame.kind {
                FrameKind::Admonition { .. } => {
                    self.warn(frame.at, "admonition is not closed with `:::`".to_owned());
                    if self.mode == Mode::Render {
                        self.isolated("", "</div>", true);
                    }
                }
                FrameKind::Element { name, close, jsx } if jsx => {
                    self.warn(frame.at, format!("<{name}> is not closed"));
                    if self.mode == Mode::Render {
                        self.isolated("", &close, true);
                    }
                }
                FrameKind::Element { .. } => {}
            }
        }
    }

    fn mark_flow(&mut self, id: Option<u32>) {
        if let Some(id) = id
            && let Some(frame) = self.stack.iter_mut().rev().find(|f| f.id == id)
        {
            frame.flow = true;
        }
    }

    // ---- layout -------------------------------------------------------

    /// Decides where the tags of a line go. A line of nothing but tags
    /// becomes a raw HTML line between blank lines; block tags at the start
    /// or end of a line of text get lines of their own; a line that is one
    /// block element (`<summary>Some *text*</summary>`) is rendered inline
    /// into one raw HTML line, as MDX does.
    fn layout(&mut self, mut pieces: Vec<Piece>, indent: &str) {
        let is_blank = |p: &Piece| matches!(p, Piece::Text(t) if t.trim().is_empty());
        if !pieces.iter().any(|p| matches!(p, Piece::Tag(_))) {
            let text: String = pieces
                .iter()
                .map(|p| match p {
                    Piece::Text(t) => t.as_str(),
                    Piece::Tag(_) => "",
                })
                .collect();
            if text.trim().is_empty() {
                // A line that was only comments: keep the block break.
                self.out.push('\n');
            } else {
                self.out.push_str(indent);
                self.out.push_str(&text);
                self.out.push('\n');
            }
            return;
        }
        if pieces
            .iter()
            .all(|p| is_blank(p) || matches!(p, Piece::Tag(_)))
        {
            let tags: Vec<TagPiece> = pieces
                .into_iter()
                .filter_map(|p| match p {
                    Piece::Tag(t) => Some(t),
                    Piece::Text(_) => None,
                })
                .collect();
            if tags.iter().any(|t| t.flow) {
                self.isolated_tags(tags, indent);
            } else {
                self.out.push_str(indent);
                for t in &tags {
                    self.out.push_str(&t.html);
                }
                self.out.push('\n');
                self.vouch_each(&tags);
            }
            return;
        }

        // Text with tags: find the block tags at either end.
        let first = pieces.iter().position(|p| !is_blank(p)).unwrap_or(0);
        let last = pieces.iter().rposition(|p| !is_blank(p)).unwrap_or(0);
        let mut lead = first;
        while lead <= last && matches!(&pieces[lead], Piece::Tag(t) if t.block) {
            lead += 1;
        }
        let mut trail = last + 1;
        while trail > lead && matches!(&pieces[trail - 1], Piece::Tag(t) if t.block) {
            trail -= 1;
        }
        let tail: Vec<Piece> = pieces.drain(trail..).collect();
        let middle: Vec<Piece> = pieces.drain(lead..).collect();
        let head: Vec<TagPiece> = pieces.into_iter().filter_map(tag_of).collect();
        let tail: Vec<TagPiece> = tail.into_iter().filter_map(tag_of).collect();

        if let ([open], [close]) = (head.as_slice(), tail.as_slice())
            && !open.closing
            && close.closing
            && !open.out_name.is_empty()
            && open.out_name == close.out_name
        {
            self.single_element(open, &middle, close, indent);
            return;
        }
        if !head.is_empty() {
            self.isolated_tags(head, indent);
        }
        self.out.push_str(indent);
        self.out.push_str(joined_pieces(&middle).trim_start());
        self.out.push('\n');
        for p in &middle {
            if let Piece::Tag(t) = p
                && t.trusted
            {
                self.vouch(&t.html);
            }
        }
        if !tail.is_empty() {
            self.isolated_tags(tail, indent);
        }
    }

    fn isolated_tags(&mut self, mut tags: Vec<TagPiece>, indent: &str) {
        for t in &mut tags {
            self.mark_flow(t.frame);
            // A `<p>` that wraps Markdown paragraphs would nest `<p>` in `<p>`.
            if !t.trusted && t.out_name == "p" && !t.html.is_empty() {
                t.html = if t.closing {
                    "</div>".to_owned()
                } else {
                    t.html.replacen("<p", "<div", 1)
                };
            }
        }
        let line: String = tags.iter().map(|t| t.html.as_str()).collect();
        let all_trusted = tags.iter().all(|t| t.trusted);
        self.isolated(indent, &line, all_trusted);
        if !all_trusted {
            self.vouch_each(&tags);
        }
    }

    fn vouch_each(&mut self, tags: &[TagPiece]) {
        for t in tags.iter().filter(|t| t.trusted) {
            self.vouch(&t.html);
        }
    }

    fn single_element(
        &mut self,
        open: &TagPiece,
        middle: &[Piece],
        close: &TagPiece,
        indent: &str,
    ) {
        let content = joined_pieces(middle);
        if self.mode == Mode::Summary {
            self.isolated(indent, content.trim(), false);
            return;
        }
        let inner = self.render_inline(&content);
        let line = format!("{}{}{}", open.html, inner, close.html);
        // Markdown without `<` renders to safe HTML; with tags inside, the
        // sanitiser decides.
        let trusted = open.trusted && close.trusted && !content.contains('<');
        self.isolated(indent, &line, trusted);
    }

    /// Renders a line of Markdown to inline HTML, links resolved.
    fn render_inline(&mut self, md: &str) -> String {
        html::render_inline(md, &mut *self.urls)
    }
}

fn tag_of(p: Piece) -> Option<TagPiece> {
    match p {
        Piece::Tag(t) => Some(t),
        Piece::Text(_) => None,
    }
}

fn joined_pieces(pieces: &[Piece]) -> String {
    let mut line = String::new();
    for p in pieces {
        match p {
            Piece::Text(t) => line.push_str(t),
            Piece::Tag(t) => line.push_str(&t.html),
        }
    }
    line
}

/// `line` without up to `n` leading spaces or tabs.
fn strip_columns(line: &str, n: usize) -> &str {
    let ws = line.len() - line.trim_start_matches([' ', '\t']).len();
    &line[ws.min(n)..]
}

/// At most three columns: four would make an indented code block.
fn block_indent(indent: &str) -> &'static str {
    let cols: usize = indent.bytes().map(|b| if b == b'\t' { 4 } else { 1 }).sum();
    &"   "[..cols.min(3)]
}

/// End of the backtick run of exactly `n` that closes a code span opened
/// before `from`, within the physical line.
fn closing_backticks(b: &[u8], from: usize, line_end: usize, n: usize) -> Option<usize> {
    let mut j = from;
    while j < line_end {
        let k = b[j..line_end].iter().position(|&c| c == b'`')? + j;
        let m = b[k..line_end].iter().take_while(|&&c| c == b'`').count();
        if m == n {
            return Some(k + m);
        }
        j = k + m;
    }
    None
}

#[cfg(test)]
mod tests {
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
        assert_eq!(tabs.trim(), "Inside");
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
        let out = text(
            "<details>\n  <summary>S</summary>\n\n```json\n{\n  \"a\": 1\n}\n```\n</details>\n",
        );
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
}
