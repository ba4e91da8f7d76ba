//! Each chat's markup and limits: how text is escaped so it stays text
//! (Slack mrkdwn, Markdown, Adaptive Card Markdown), how links and bold
//! are written, and how text is cut to fit a platform's limits, counted in
//! UTF-16 code units.

use crate::config::subscribers::WebhookFormat;

/// How a format marks up text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Markup {
    /// Slack mrkdwn: `<url|text>` links, `&<>` as entities.
    Slack,
    /// CommonMark-like Markdown; `mentions` breaks `@` mentions (Mattermost
    /// notifies on `@channel` in a webhook post); `quiet_links` writes
    /// `[text](<url>)`, which keeps Discord from adding a link preview.
    Markdown { mentions: bool, quiet_links: bool },
    /// Adaptive Card `TextBlock` text (Teams): the Markdown subset of
    /// <https://learn.microsoft.com/adaptive-cards/authoring-cards/text-features>
    /// (`**bold**`, `_italic_`, `- ` and `1. ` lists, `[text](url)`), drawn
    /// by Teams with a CommonMark renderer that also knows code spans,
    /// strikethrough, headings and quotes. A backslash keeps any of them
    /// text (CommonMark §2.4): before `\ * _ ` ~ [ ] ( ) <` anywhere, and
    /// before what only counts at the start of a line: `# - + > = |`, and
    /// the `.` or `)` after a number (`1. `). Brackets and parentheses are
    /// both escaped because the cards' own parser (iOS, Android) still
    /// starts a link at `[`; `\(` stops it there. The card's links come
    /// from its actions, so `link` and `bold` leave text as it is.
    Card,
    /// Text as is (cutting raw text to a length).
    Plain,
}

/// Where in its line a character falls: some markup only counts at the
/// start of a line (after spaces), or right after a number that starts one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum LinePos {
    #[default]
    Start,
    Number,
    Inside,
}

impl LinePos {
    fn after(self, c: char) -> LinePos {
        match c {
            '\n' | '\r' => LinePos::Start,
            ' ' | '\t' if self == LinePos::Start => LinePos::Start,
            '0'..='9' if self != LinePos::Inside => LinePos::Number,
            _ => LinePos::Inside,
        }
    }
}

impl Markup {
    /// Escapes `c`, the next character after `pos` (which it moves on).
    pub(super) fn escape_into(self, c: char, pos: &mut LinePos, out: &mut String) {
        let at = *pos;
        *pos = at.after(c);
        match self {
            Markup::Slack => match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                c => out.push(c),
            },
            Markup::Markdown { mentions, .. } => match c {
                '\\' | '*' | '_' | '~' | '`' | '|' | '[' | ']' | '<' | '>' => {
                    out.push('\\');
                    out.push(c);
                }
                '@' if mentions => out.push_str("@\u{200B}"),
                c => out.push(c),
            },
            Markup::Card => {
                let special = match c {
                    '\\' | '*' | '_' | '`' | '~' | '[' | ']' | '(' | ')' | '<' => true,
                    '#' | '-' | '+' | '>' | '=' | '|' => at == LinePos::Start,
                    '.' => at == LinePos::Number,
                    _ => false,
                };
                if special {
                    out.push('\\');
                }
                out.push(c);
            }
            Markup::Plain => out.push(c),
        }
    }

    pub(super) fn escape(self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() + 8);
        let mut pos = LinePos::Start;
        for c in text.chars() {
            self.escape_into(c, &mut pos, &mut out);
        }
        out
    }

    /// Whether the format writes links in text (else `link` gives the text).
    pub(super) fn has_links(self) -> bool {
        matches!(self, Markup::Slack | Markup::Markdown { .. })
    }

    /// A URL made safe to stand in this markup's link syntax.
    pub(super) fn url(self, url: &str) -> String {
        let mut out = String::with_capacity(url.len() + 8);
        for c in url.chars() {
            match (self, c) {
                (_, ' ') => out.push_str("%20"),
                (Markup::Slack, '|') => out.push_str("%7C"),
                (Markup::Slack, '&') => out.push_str("&amp;"),
                (Markup::Slack, '<') | (Markup::Markdown { .. }, '<') => out.push_str("%3C"),
                (Markup::Slack, '>') | (Markup::Markdown { .. }, '>') => out.push_str("%3E"),
                (Markup::Markdown { .. }, '(') => out.push_str("%28"),
                (Markup::Markdown { .. }, ')') => out.push_str("%29"),
                (_, c) => out.push(c),
            }
        }
        out
    }

    /// A link from already escaped text and a raw URL.
    pub(super) fn link(self, text_md: &str, url: &str, in_content: bool) -> String {
        match self {
            Markup::Slack => format!("<{}|{text_md}>", self.url(url)),
            Markup::Markdown { quiet_links, .. } if quiet_links && in_content => {
                format!("[{text_md}](<{}>)", self.url(url))
            }
            Markup::Markdown { .. } => format!("[{text_md}]({})", self.url(url)),
            Markup::Card | Markup::Plain => text_md.to_string(),
        }
    }

    pub(super) fn bold(self, text_md: &str) -> String {
        match self {
            Markup::Slack => format!("*{text_md}*"),
            Markup::Markdown { .. } => format!("**{text_md}**"),
            Markup::Card | Markup::Plain => text_md.to_string(),
        }
    }
}

/// A format's limits, in UTF-16 code units of the text as sent.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub max_posts: usize,
    pub title: usize,
    pub summary: usize,
    pub digest_summary: usize,
    pub authors: usize,
    pub tags: usize,
    /// Title link and summary together (a Slack section's text).
    pub section: Option<usize>,
    /// Everything about all posts together (Discord: 6000 over all embeds;
    /// Mattermost: 16383 a message), with room for the rest.
    pub budget: Option<usize>,
}

pub(super) fn style(format: WebhookFormat) -> (Markup, Limits) {
    match format {
        WebhookFormat::Slack => (
            Markup::Slack,
            Limits {
                // 50 blocks a message: header, two per post, one for "more".
                max_posts: 20,
                title: 150,
                summary: 2900,
                digest_summary: 300,
                authors: 300,
                tags: 1000,
                section: Some(3000),
                budget: None,
            },
        ),
        WebhookFormat::Discord => (
            Markup::Markdown {
                mentions: false,
                quiet_links: true,
            },
            Limits {
                max_posts: 10,
                title: 256,
                summary: 4096,
                digest_summary: 300,
                authors: 256,
                tags: 1024,
                section: None,
                budget: Some(5600),
            },
        ),
        WebhookFormat::Mattermost => (
            Markup::Markdown {
                mentions: true,
                quiet_links: false,
            },
            Limits {
                max_posts: 20,
                title: 300,
                summary: 3000,
                digest_summary: 200,
                authors: 300,
                tags: 1000,
                section: None,
                budget: Some(15000),
            },
        ),
        // Teams takes messages up to about 28 KB, JSON and all.
        WebhookFormat::Teams | WebhookFormat::Json => (
            Markup::Card,
            Limits {
                max_posts: 20,
                title: 200,
                summary: 3000,
                digest_summary: 300,
                authors: 300,
                tags: 1000,
                section: None,
                budget: Some(14000),
            },
        ),
    }
}

pub(super) fn units(text: &str) -> usize {
    text.encode_utf16().count()
}

/// Cuts `text` so that its marked-up form fits in `max` UTF-16 code units,
/// ending in `…` and at a word boundary when one is in the second half.
/// Returns the cut text as is and marked up.
pub(super) fn fit(text: &str, max: usize, markup: Markup) -> (String, String) {
    let escaped = markup.escape(text);
    if units(&escaped) <= max {
        return (text.to_string(), escaped);
    }
    if max == 0 {
        return (String::new(), String::new());
    }
    let budget = max - 1; // room for the ellipsis
    let mut used = 0;
    let mut end = 0; // byte index in `text`
    let mut last_space = None;
    let mut one = String::new();
    let mut pos = LinePos::Start;
    for (i, c) in text.char_indices() {
        one.clear();
        markup.escape_into(c, &mut pos, &mut one);
        let cost = units(&one);
        if used + cost > budget {
            break;
        }
        if c.is_whitespace() {
            last_space = Some(i);
        }
        used += cost;
        end = i + c.len_utf8();
    }
    let cut = match last_space {
        Some(space) if space * 2 >= end => space,
        _ => end,
    };
    let mut raw = text[..cut].trim_end().to_string();
    raw.push('…');
    let escaped = markup.escape(&raw);
    (raw, escaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MD: Markup = Markup::Markdown {
        mentions: true,
        quiet_links: false,
    };

    #[test]
    fn each_markup_escapes_what_would_otherwise_become_markup() {
        let text = "AT&T <b> *bold* [x](y) @channel";
        assert_eq!(
            Markup::Slack.escape(text),
            "AT&amp;T &lt;b&gt; *bold* [x](y) @channel"
        );
        assert_eq!(
            MD.escape(text),
            "AT&T \\<b\\> \\*bold\\* \\[x\\](y) @\u{200B}channel"
        );
        assert_eq!(Markup::Plain.escape(text), text);
        assert_eq!(
            Markup::Card
                .escape("**Bold** [link](https://evil.example) _x_ <b> `c` ~~s~~ a\\b 1. x-y"),
            "\\*\\*Bold\\*\\* \\[link\\]\\(https://evil.example\\) \\_x\\_ \\<b> \\`c\\` \\~\\~s\\~\\~ a\\\\b 1. x-y"
        );
        // Lists, headings and quotes only begin a line.
        assert_eq!(
            Markup::Card
                .escape("# Kop\n- een\n  + twee\n1. drie\n12) vier\n> citaat\n== x\n2025 was goed"),
            "\\# Kop\n\\- een\n  \\+ twee\n1\\. drie\n12\\) vier\n\\> citaat\n\\== x\n2025 was goed"
        );
        assert_eq!(
            Markup::Slack.link("a &amp; b", "https://x.nl/a|b?c=1&d=2", false),
            "<https://x.nl/a%7Cb?c=1&amp;d=2|a &amp; b>"
        );
        assert_eq!(
            MD.link("t", "https://x.nl/wiki/A_(b)", false),
            "[t](https://x.nl/wiki/A_%28b%29)"
        );
    }

    #[test]
    fn text_is_cut_to_the_limit_at_a_word_with_an_ellipsis() {
        let (raw, md) = fit("one two three four", 12, Markup::Plain);
        assert_eq!(raw, "one two…");
        assert_eq!(md, raw);
        // Escaping counts: `&` costs five units in Slack.
        let (raw, md) = fit("&&&&&&&&", 12, Markup::Slack);
        assert_eq!(raw, "&&…");
        assert_eq!(md, "&amp;&amp;…");
        assert!(units(&md) <= 12);
        // No word boundary near the end: cut inside the word.
        let (raw, _) = fit("abcdefghijklmnop", 5, Markup::Plain);
        assert_eq!(raw, "abcd…");
        // UTF-16: an emoji counts twice.
        let (raw, _) = fit("😀😀😀😀", 6, Markup::Plain);
        assert_eq!(raw, "😀😀…");
        let (raw, _) = fit("short", 150, Markup::Plain);
        assert_eq!(raw, "short");
    }
}
