//! The MDX layer, removed in one pass over the lines before the Markdown
//! parser sees the text: ESM `import`/`export`, `{/* comments */}` and
//! `<!-- comments -->`, JSX components (`<Blockquote>`, `<Link>`, unknown
//! ones), JSX attribute syntax on HTML tags (`className`, `style={{...}}`),
//! admonitions (`:::tip Title` ... `:::`) and leaf directives
//! (`::video-vimeo[label]{id=1}`). Fenced code and inline code are copied
//! untouched.
//!
//! MDX renders the children of a block-level tag as Markdown, CommonMark
//! does not: block-level tags get lines of their own (see `layout`).
//!
//! The HTML this pass writes from checked, escaped values is remembered: if
//! every raw HTML event the Markdown parser later reports is one of those,
//! the (slow) sanitiser can be skipped.
//!
//! The pass, one file each: `scan` finds tags and comments on a line,
//! `elements` decides what each JSX component or HTML tag becomes, `layout`
//! places them, `stack` tracks what is open, `directives` reads and writes
//! admonitions and leaf directives, `esm` skips imports and exports,
//! `media` turns video, audio and embeds into links, `transcript` keeps a
//! `<code>` block's lines, and `jsx_tag` parses one tag.

mod directives;
mod elements;
mod esm;
mod jsx_tag;
mod layout;
mod media;
mod scan;
mod stack;
mod transcript;

use std::collections::{HashMap, HashSet};

use super::code::Fence;
use super::html;
use super::urls::UrlMap;
use stack::Frame;

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
        too_deep: false,
        media: None,
        anchors: 0,
        pending_links: String::new(),
        constants: HashMap::new(),
        tab_labels: HashMap::new(),
    };
    pre.run();
    Preprocessed {
        safe_html: pre.safe,
        text: pre.out,
        warnings: pre.warnings,
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
    /// The nesting limit was reported (once per post is enough).
    too_deep: bool,
    /// The `<video>`/`<audio>` whose `<source>`s are being read.
    media: Option<MediaState>,
    /// Open `<a>`/`<Link>` elements: an embed inside one gives its text,
    /// not a link of its own (HTML forbids links in links).
    anchors: usize,
    /// Links to embeds found inside an open link, written after it closes.
    pending_links: String,
    /// `export const name = 'text'`: what `{name}` shows.
    constants: HashMap<String, String>,
    /// Tab value -> label, from `<Tabs values={[…]}>`.
    tab_labels: HashMap<String, String>,
}

/// An open `<video>` or `<audio>`.
#[derive(Debug)]
struct MediaState {
    /// Not yet shown: goes into the first source's link.
    poster: Option<String>,
    /// The link's image description.
    label: String,
    /// A link to the media has been written.
    linked: bool,
}

impl Pre<'_, '_> {
    fn run(&mut self) {
        let src = self.src;
        let mut pos = 0;
        while pos < src.len() {
            let line_end = line_end(src, pos);
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
                    self.esm_ok = true;
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
                let end = esm::statement_end(src, pos);
                if let Some((name, value)) = esm::constant(&src[pos..end]) {
                    self.constants.insert(name.to_owned(), value);
                }
                pos = end;
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
            if content.starts_with("<code")
                && let Some(end) = self.transcript(line_start + indent.len(), indent)
            {
                pos = end;
                continue;
            }
            pos = self.scan_line(line_start + indent.len(), indent);
            // An ATX heading is one line: ESM may follow it.
            self.esm_ok = is_atx_heading(content);
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
            let d = *frame.dedent.get_or_insert(indent_len(rest));
            rest = strip_columns(rest, d);
        }
        rest
    }

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

    /// An element or admonition opened more than [`MAX_DEPTH`] deep is left
    /// out (its content stays); the first one in a post is reported.
    fn too_deep(&mut self, at: usize) {
        if !self.too_deep {
            self.too_deep = true;
            self.warn(
                at,
                format!("components and admonitions are nested more than {MAX_DEPTH} levels deep here; the deeper ones are left out (their text is kept). Nest less deeply"),
            );
        }
    }

    /// Renders a line of Markdown to inline HTML, links resolved.
    fn render_inline(&mut self, md: &str) -> String {
        html::render_inline(md, &mut *self.urls)
    }
}

/// `# Title` .. `###### Title`.
/// Where the line holding `from` ends (its `\n`, or the end of `src`).
/// `memchr`, not `str::find`: every line of every post is searched twice,
/// and the standard search (with `contains` of `<` or `{` in `scan_line`)
/// took 4–5% of a full build's CPU, memchr about half of that.
fn line_end(src: &str, from: usize) -> usize {
    memchr::memchr(b'\n', &src.as_bytes()[from..]).map_or(src.len(), |i| from + i)
}

fn is_atx_heading(line: &str) -> bool {
    let hashes = line.bytes().take_while(|&b| b == b'#').count();
    (1..=6).contains(&hashes) && line[hashes..].starts_with([' ', '\t'])
}

/// `line` without up to `n` leading spaces or tabs.
fn strip_columns(line: &str, n: usize) -> &str {
    &line[indent_len(line).min(n)..]
}

/// Bytes of leading spaces and tabs.
fn indent_len(line: &str) -> usize {
    line.len() - line.trim_start_matches([' ', '\t']).len()
}

/// At most three columns: four would make an indented code block.
fn block_indent(indent: &str) -> &'static str {
    let cols: usize = indent.bytes().map(|b| if b == b'\t' { 4 } else { 1 }).sum();
    &"   "[..cols.min(3)]
}

#[cfg(test)]
mod tests;
