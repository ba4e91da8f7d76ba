//! The plain-text summary of a post, for feed `summary`/`description`
//! fields and notification previews: the text before the truncate marker
//! (Docusaurus's excerpt), without markup, cut at a sentence end so it never
//! stops mid-sentence (or says so with `…`).

use std::sync::LazyLock;

use pulldown_cmark::{Event, Parser, Tag, TagEnd};
use regex::Regex;

use super::code::{self, Fence};
use super::html::OPTIONS;
use super::mdx::{self, Mode};
use super::urls::KeepUrls;

/// Longest summary, in characters.
pub(crate) const MAX_CHARS: usize = 300;

/// Without a marker only the start of a long body is read: a summary needs
/// a few sentences, not a 10 MB parse.
const LEAD_BYTES: usize = 16 * 1024;

/// Docusaurus's truncate markers, for `.md` and `.mdx`.
static MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"<!--\s*truncate\s*-->|\{/\*\s*truncate\s*\*/\}")
        .expect("the truncate pattern is valid")
});

/// Byte offset of the first truncate marker (`<!-- truncate -->` or
/// `{/* truncate */}`) outside code.
fn find_truncate(body: &str) -> Option<usize> {
    let mut fence: Option<Fence> = None;
    let mut pos = 0;
    for line in body.split_inclusive('\n') {
        let start = pos;
        pos += line.len();
        let trimmed = line.trim_start();
        if let Some(f) = fence {
            if f.closed_by(trimmed) {
                fence = None;
            }
            continue;
        }
        if let Some(f) = Fence::open(trimmed.trim_end()) {
            fence = Some(f);
            continue;
        }
        if !line.contains("truncate") {
            continue;
        }
        let spans = code::spans(line);
        if let Some(m) = MARKER
            .find_iter(line)
            .find(|m| !spans.iter().any(|&(a, b)| m.start() >= a && m.start() < b))
        {
            return Some(start + m.start());
        }
    }
    None
}

/// Plain-text summary from the text before the truncate marker, in whole
/// sentences; `None` when there is no text.
pub fn summary(body: &str) -> Option<String> {
    let head = match find_truncate(body) {
        Some(i) => &body[..i],
        None => lead(body),
    };
    let pre = mdx::preprocess(head, &mut KeepUrls, Mode::Summary);
    shorten(&plain_text(&pre.text), MAX_CHARS)
}

fn lead(body: &str) -> &str {
    if body.len() <= LEAD_BYTES {
        return body;
    }
    let mut from = LEAD_BYTES;
    while !body.is_char_boundary(from) {
        from -= 1;
    }
    match body[from..].find("\n\n") {
        Some(i) => &body[..from + i],
        None => &body[..from],
    }
}

/// The words of the Markdown: no code blocks, images, HTML or footnotes;
/// blocks joined by a space. Headings only when there is nothing else.
fn plain_text(md: &str) -> String {
    let mut text = String::new();
    let mut headings = String::new();
    let mut skip = 0usize;
    let mut in_heading = false;
    // Items seen per open list: items after the first are set apart.
    let mut items: Vec<usize> = Vec::new();
    for event in Parser::new_ext(md, OPTIONS) {
        match event {
            Event::Start(Tag::List(_)) => items.push(0),
            Event::End(TagEnd::List(_)) => {
                items.pop();
                // A list ends what it enumerates: the summary may stop here
                // rather than before the list.
                if items.is_empty() && skip == 0 {
                    end_list(&mut text);
                }
            }
            Event::Start(Tag::Item) if skip == 0 => {
                if let Some(n) = items.last_mut() {
                    if *n > 0 {
                        separate_item(&mut text);
                    }
                    *n += 1;
                }
            }
            Event::Start(
                Tag::CodeBlock(_) | Tag::Image { .. } | Tag::FootnoteDefinition(_) | Tag::HtmlBlock,
            ) => skip += 1,
            Event::End(
                TagEnd::CodeBlock | TagEnd::Image | TagEnd::FootnoteDefinition | TagEnd::HtmlBlock,
            ) => skip = skip.saturating_sub(1),
            Event::Start(Tag::Heading { .. }) => in_heading = true,
            Event::End(TagEnd::Heading(_)) => {
                in_heading = false;
                headings.push(' ');
            }
            Event::Text(t) | Event::Code(t) if skip == 0 => {
                if in_heading {
                    headings.push_str(&t);
                } else {
                    text.push_str(&t);
                }
            }
            Event::SoftBreak
            | Event::HardBreak
            | Event::End(
                TagEnd::Paragraph | TagEnd::Item | TagEnd::TableCell | TagEnd::BlockQuote(_),
            ) => text.push(' '),
            _ => {}
        }
    }
    let chosen = if text.trim().is_empty() {
        headings
    } else {
        text
    };
    chosen.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// "A; B" rather than "A B": list items run together read as one sentence.
fn separate_item(text: &mut String) {
    let kept = text.trim_end().len();
    text.truncate(kept);
    if !text.is_empty() && !text.ends_with(['.', ';', ':', '!', '?', ',', '…']) {
        text.push(';');
    }
    text.push(' ');
}

fn end_list(text: &mut String) {
    let kept = text.trim_end().len();
    text.truncate(kept);
    if !text.is_empty() && !text.ends_with(['.', '!', '?', '…', ':']) {
        text.push('.');
    }
    text.push(' ');
}

/// Cuts `text` to at most `max` characters at a sentence end; without one,
/// at a word boundary with `…`.
pub(crate) fn shorten(text: &str, max: usize) -> Option<String> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let ends = sentence_ends(text);
    let limit = text.char_indices().nth(max).map_or(text.len(), |(i, _)| i);
    if limit == text.len() && ends.last() == Some(&text.len()) {
        return Some(text.to_owned());
    }
    if let Some(&end) = ends.iter().rev().find(|&&e| e <= limit) {
        return Some(text[..end].to_owned());
    }
    // No sentence end in reach: cut at a word, leaving room for the `…`.
    let room = text
        .char_indices()
        .nth(max.saturating_sub(1))
        .map_or(text.len(), |(i, _)| i);
    let cut = match text[..room].rfind(char::is_whitespace) {
        Some(i) if i > 0 && room < text.len() => i,
        _ => room,
    };
    let kept = text[..cut].trim_end_matches(|c: char| {
        c.is_whitespace() || matches!(c, ',' | ';' | ':' | '-' | '–' | '—' | '(')
    });
    Some(format!("{kept}…"))
}

/// Byte offsets just after each sentence end: `.`, `!`, `?` or `…`, with any
/// closing quotes or brackets, before a space or the end. A `.` after a
/// single letter or inside an abbreviation (`J.F.`, `o.a.`), or before a
/// lower-case word, does not end a sentence.
fn sentence_ends(text: &str) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if !matches!(c, '.' | '!' | '?' | '…') {
            continue;
        }
        let mut end = i + c.len_utf8();
        while let Some(&(j, d)) = chars.peek() {
            if matches!(d, '"' | '\'' | '”' | '’' | ')' | ']' | '»' | '*' | '_') {
                end = j + d.len_utf8();
                chars.next();
            } else {
                break;
            }
        }
        let rest = &text[end..];
        if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
            continue;
        }
        let next_word = rest.trim_start().chars().next();
        if matches!(c, '.' | '…') && next_word.is_some_and(char::is_lowercase) {
            continue;
        }
        if c == '.' && is_abbreviation(&text[..i]) {
            continue;
        }
        ends.push(end);
    }
    ends
}

fn is_abbreviation(before: &str) -> bool {
    let word = before
        .rsplit(char::is_whitespace)
        .next()
        .unwrap_or("")
        .trim_start_matches(['(', '"', '\'', '“', '‘']);
    word.chars().count() == 1 || word.contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_markers_are_found_outside_code_only() {
        assert_eq!(find_truncate("Intro\n\n<!-- truncate -->\n\nMore"), Some(7));
        assert_eq!(find_truncate("Intro\n\n{/* truncate */}\n"), Some(7));
        assert_eq!(find_truncate("Intro <!--truncate--> inline"), Some(6));
        assert_eq!(find_truncate("```md\n<!-- truncate -->\n```\n"), None);
        assert_eq!(find_truncate("Use `<!-- truncate -->` to cut.\n"), None);
        assert_eq!(find_truncate("No marker, just truncate talk."), None);
        assert_eq!(
            find_truncate("`<!-- truncate -->` then <!-- truncate -->"),
            Some(25)
        );
    }

    #[test]
    fn the_summary_is_the_plain_text_before_the_marker() {
        let body = "First *para* with a [link](/x) and `code`.\n\n\
            ![img](./a.png)\n\n```js\nlet x;\n```\n\n\
            :::tip Title\nTip **text**.\n:::\n\n\
            import X from \"y\";\n\n\
            - one\n- two.\n\n<!-- truncate -->\n\nAfter the marker.\n";
        assert_eq!(
            summary(body).as_deref(),
            Some("First para with a link and code. Tip text. one; two.")
        );
    }

    #[test]
    fn without_a_marker_the_start_of_the_body_is_used() {
        assert_eq!(summary("Just this.\n").as_deref(), Some("Just this."));
    }

    #[test]
    fn no_text_means_no_summary() {
        assert_eq!(summary(""), None);
        assert_eq!(summary("```\ncode\n```\n<!-- truncate -->\ntext"), None);
        assert_eq!(summary("![only](x.png)\n\n<!-- truncate -->"), None);
    }

    #[test]
    fn long_text_is_cut_after_the_last_whole_sentence_that_fits() {
        let s1 = "This first sentence is here to take up some room in the summary.";
        let text = format!(
            "{s1} {s1} {s1} {s1} And the fifth one goes past the limit of three hundred characters."
        );
        let got = shorten(&text, MAX_CHARS).unwrap();
        assert_eq!(got, format!("{s1} {s1} {s1} {s1}"));
        assert!(got.chars().count() <= MAX_CHARS);
    }

    #[test]
    fn text_without_a_sentence_end_is_cut_at_a_word_with_an_ellipsis() {
        let text = "word ".repeat(100);
        let got = shorten(&text, MAX_CHARS).unwrap();
        assert!(got.ends_with("word…"), "{got}");
        assert!(got.chars().count() <= MAX_CHARS);
        let unbroken = "x".repeat(400);
        let got = shorten(&unbroken, MAX_CHARS).unwrap();
        assert_eq!(got.chars().count(), MAX_CHARS);
    }

    #[test]
    fn short_text_that_stops_mid_sentence_drops_the_fragment_or_gets_an_ellipsis() {
        assert_eq!(
            shorten("It made me wonder:", MAX_CHARS).as_deref(),
            Some("It made me wonder…")
        );
        // Whole sentences win over a trailing fragment.
        assert_eq!(
            shorten("Done. It made me wonder", MAX_CHARS).as_deref(),
            Some("Done.")
        );
        assert_eq!(
            shorten("Is it? Yes!", MAX_CHARS).as_deref(),
            Some("Is it? Yes!")
        );
        assert_eq!(
            shorten("Quoted “end.”", MAX_CHARS).as_deref(),
            Some("Quoted “end.”")
        );
    }

    #[test]
    fn abbreviations_and_initials_do_not_end_sentences() {
        let ends = sentence_ends("J.F. Kennedy spoke, o.a. about e. coli. Then more.");
        assert_eq!(ends.len(), 2, "{ends:?}");
        assert_eq!(sentence_ends("bijv. dit. Dat."), vec![10, 15]);
    }

    #[test]
    fn a_huge_body_without_a_marker_is_summarised_quickly() {
        let body = "A sentence here. ".repeat(700_000);
        let got = summary(&body).unwrap();
        assert!(got.chars().count() <= MAX_CHARS && got.ends_with("here."));
    }
}
