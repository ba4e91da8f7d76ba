//! Where the tags of a line go once converted. MDX renders the children of
//! a block-level tag as Markdown, while CommonMark swallows everything up to
//! the next blank line into a raw HTML block: so block-level tags are put on
//! lines of their own with blank lines around them.

use super::{Mode, Pre};

/// A tag found on a line, already converted (see `elements`).
#[derive(Debug)]
pub(super) struct TagPiece {
    pub(super) html: String,
    /// Written by this pass from checked, escaped values.
    pub(super) trusted: bool,
    /// Output element name ("" when the tag vanishes).
    pub(super) out_name: String,
    pub(super) closing: bool,
    /// Gets a line of its own at the start or end of a line.
    pub(super) block: bool,
    /// Gets a line of its own when the line holds nothing but tags.
    pub(super) flow: bool,
    pub(super) frame: Option<u32>,
}

/// A line cut into text and tags.
#[derive(Debug)]
pub(super) enum Piece {
    Text(String),
    Tag(TagPiece),
}

impl Pre<'_, '_> {
    /// Decides where the tags of a line go. A line of nothing but tags
    /// becomes a raw HTML line between blank lines; block tags at the start
    /// or end of a line of text get lines of their own; a line that is one
    /// block element (`<summary>Some *text*</summary>`) is rendered inline
    /// into one raw HTML line, as MDX does.
    pub(super) fn layout(&mut self, mut pieces: Vec<Piece>, indent: &str) {
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
            // At the start of a block, MDX reads a line of tags as flow
            // JSX, and what follows as Markdown again; CommonMark would take
            // an `<img />` or `<small>` line there as the start of an HTML
            // block that swallows the next lines raw.
            let block_start = self.out.is_empty() || self.out.ends_with("\n\n");
            if block_start || tags.iter().any(|t| t.flow) {
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
