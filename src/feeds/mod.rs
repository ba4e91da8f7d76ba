//! Feeds: renders one channel — the whole blog, one tag or one author — as
//! Atom, RSS 2.0 or JSON Feed 1.1, lists all channels as OPML and as an HTML
//! index page, and writes the results atomically.
//!
//! Like Zola's single `render_feeds`, blog, tag and author feeds share one code
//! path: a [`Channel`] carries everything that differs between them. Which
//! posts go into a channel, in which order and how many, is decided by the
//! caller; this module only turns a channel into deterministic bytes (the same
//! input gives the same bytes, so an unchanged feed is never rewritten and
//! readers never see a spurious update).

mod atom;
pub mod channels;
mod index;
mod json;
pub mod manifest;
mod opml;
mod output;
mod rss;
#[cfg(test)]
mod test_support;
pub mod websub;

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::{Author, Post};

pub use crate::model::Format;
pub use index::{LATEST as INDEX_LATEST, render_index_html};
pub use opml::render_opml;
pub use output::OutputDir;

/// Which selection of posts a channel is: it only changes wording, never
/// the code path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Blog,
    Tag,
    Author,
}

/// One feed in all its formats: the blog, one tag or one author.
#[derive(Debug, Clone)]
pub struct Channel<'a> {
    pub kind: ChannelKind,
    /// e.g. "developer.overheid.nl Blog", "… – tag: API", "… – Joost Farla".
    pub title: String,
    pub description: String,
    /// The HTML page (rel=alternate): the blog, a tag page or an author page.
    /// Also the channel's Atom id, so it must be a full URL that never changes.
    pub page_url: String,
    /// Output directory relative to the output root: "", "tags/api", "authors/joost-farla".
    pub dir: String,
    /// Public URL of `dir`, no trailing slash: "https://x/blog/tags/api".
    pub feed_base_url: String,
    /// BCP 47 language of the posts, e.g. "nl".
    pub language: Option<String>,
    /// e.g. "postbode 0.1.0".
    pub generator: String,
    /// Who the channel is from when a post names no author, usually the site
    /// title: Atom (RFC 4287 §4.1.1) requires an author for every entry.
    pub fallback_author: String,
    /// WebSub hub URL, announced as rel=hub.
    pub hub: Option<String>,
    /// Already selected, sorted newest first and limited.
    pub items: Vec<Item<'a>>,
}

/// One post as it appears in a channel, with everything that needs the site
/// build (rendered HTML, absolute URLs) already resolved.
#[derive(Debug, Clone)]
pub struct Item<'a> {
    pub post: &'a Post,
    /// The full post as safe HTML with absolute URLs.
    pub content_html: &'a str,
    /// Plain text.
    pub summary: Option<&'a str>,
    /// Absolute URL of the post's image.
    pub image_url: Option<&'a str>,
    /// Absolute author page or profile URL per `post.authors` entry, same order.
    pub author_urls: Vec<Option<String>>,
}

impl Channel<'_> {
    /// The public URL of this channel in `format`: what its self link says.
    pub fn feed_url(&self, format: Format) -> String {
        format!(
            "{}/{}",
            self.feed_base_url.trim_end_matches('/'),
            format.file_name()
        )
    }

    /// Where this channel in `format` goes, relative to the output root, with
    /// `/` separators: the key for [`OutputDir::write_if_changed`] and the
    /// `keep` set of [`OutputDir::remove_stale`].
    pub fn rel_path(&self, format: Format) -> String {
        feed_path(&self.dir, format)
    }

    /// The date of the newest item. Feeds never carry the build time, so a
    /// rebuild without new posts gives identical bytes; an empty channel gets
    /// the Unix epoch for the same reason.
    pub fn updated(&self) -> DateTime<Utc> {
        self.items
            .iter()
            .map(|item| item.post.date)
            .max()
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
    }

    /// A rough output size, so the output buffer is allocated once.
    fn size_hint(&self) -> usize {
        4096 + self
            .items
            .iter()
            .map(|item| item.content_html.len() + item.content_html.len() / 8 + 2048)
            .sum::<usize>()
    }
}

/// Where the feed in `format` of the channel in folder `dir` goes,
/// relative to the output root, with `/` separators.
pub fn feed_path(dir: &str, format: Format) -> String {
    let dir = dir.trim_matches('/');
    if dir.is_empty() {
        format.file_name().to_owned()
    } else {
        format!("{dir}/{}", format.file_name())
    }
}

/// Renders `channel` in `format`. The bytes depend on nothing but the input.
pub fn render(channel: &Channel, format: Format) -> Vec<u8> {
    let mut out = Vec::with_capacity(channel.size_hint());
    match format {
        Format::Atom => atom::write(channel, &mut out),
        Format::Rss => rss::write(channel, &mut out),
        Format::Json => json::write(channel, &mut out),
    }
    out
}

/// The media type of an image, guessed from the extension of its URL path.
/// `None` for anything else: a wrong type is worse than none.
fn image_media_type(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let file = path.rsplit('/').next().unwrap_or(path);
    let (_, ext) = file.rsplit_once('.')?;
    Some(match ext.to_ascii_lowercase().as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "avif" => "image/avif",
        _ => return None,
    })
}

/// Drops characters XML 1.0 forbids (C0 controls other than tab, newline and
/// carriage return; U+FFFE, U+FFFF). quick-xml writes them verbatim, and one
/// stray control character in a post would make the whole feed unparseable.
/// Borrows when there is nothing to drop, which is almost always.
fn xml_safe(text: &str) -> Cow<'_, str> {
    fn forbidden(c: char) -> bool {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
    }
    // This runs over every post's HTML for every XML feed, so first a byte
    // scan the compiler can vectorise (a fold over fixed chunks, no early exit
    // inside a chunk): forbidden characters are ASCII controls or start with
    // 0xEF in UTF-8.
    fn suspect(b: u8) -> bool {
        (b < b' ' && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0xEF
    }
    let chunks = text.as_bytes().chunks(64);
    let suspicious = chunks
        .into_iter()
        .any(|chunk| chunk.iter().fold(false, |found, &b| found | suspect(b)));
    if suspicious && text.contains(forbidden) {
        Cow::Owned(text.chars().filter(|&c| !forbidden(c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

/// The author's email when it is a plain addr-spec: feed validators reject
/// anything else in an email field, and a missing email costs nothing.
fn author_email(author: &Author) -> Option<&str> {
    let email = author.email.as_deref()?.trim();
    let email = email.strip_prefix("mailto:").unwrap_or(email);
    let (local, domain) = email.split_once('@')?;
    let plain = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.contains(|c: char| c.is_whitespace() || "<>()[],;:\"\\".contains(c))
        && !domain.contains('@');
    plain.then_some(email)
}

/// The summary when it has any text.
fn summary<'a>(item: &Item<'a>) -> Option<&'a str> {
    item.summary.map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::test_support::{channel, posts};
    use super::*;
    use crate::text::escape_html;

    #[test]
    fn feed_urls_and_paths_follow_the_channel_directory() {
        let posts = posts();
        let blog = channel(&posts, ChannelKind::Blog);
        assert_eq!(blog.rel_path(Format::Atom), "atom.xml");
        assert_eq!(
            blog.feed_url(Format::Json),
            "https://developer.example.nl/blog/feed.json"
        );
        let mut tag = channel(&posts, ChannelKind::Tag);
        tag.dir = "tags/api".into();
        assert_eq!(tag.rel_path(Format::Rss), "tags/api/rss.xml");
    }

    #[test]
    fn updated_is_the_newest_item_date_or_the_epoch_when_empty() {
        let posts = posts();
        let mut blog = channel(&posts, ChannelKind::Blog);
        // Deliberately not sorted: the newest date wins, not the first item.
        blog.items.reverse();
        assert_eq!(blog.updated(), posts[0].date);
        blog.items.clear();
        assert_eq!(blog.updated().to_rfc3339(), "1970-01-01T00:00:00+00:00");
    }

    #[test]
    fn image_types_are_guessed_from_the_extension_only() {
        let cases = [
            ("https://x/img/a.PNG", Some("image/png")),
            ("https://x/img/a.jpg?w=300", Some("image/jpeg")),
            ("https://x/img/a.jpeg#top", Some("image/jpeg")),
            ("https://x/img/a.webp", Some("image/webp")),
            ("https://x/img/a.gif", Some("image/gif")),
            ("https://x/img/a.svg", Some("image/svg+xml")),
            ("https://x/img/a.tiff", None),
            ("https://x.nl/img/noext", None),
        ];
        for (url, expected) in cases {
            assert_eq!(image_media_type(url), expected, "{url}");
        }
    }

    #[test]
    fn characters_xml_forbids_are_dropped_and_clean_text_is_borrowed() {
        assert_eq!(xml_safe("a\u{0}b\u{b}c\td\ne\u{FFFF}"), "abc\td\ne");
        assert!(matches!(xml_safe("schoon ✓"), Cow::Borrowed(_)));
    }

    #[test]
    fn plain_text_is_escaped_for_html_contexts() {
        assert_eq!(
            escape_html(r#"AT&T <3 > "x" 'y'"#),
            "AT&amp;T &lt;3 &gt; &quot;x&quot; &#39;y&#39;"
        );
        assert!(matches!(escape_html("niets"), Cow::Borrowed(_)));
    }

    #[test]
    fn only_plain_email_addresses_are_published() {
        let with = |email: &str| Author {
            email: Some(email.into()),
            ..Author::default()
        };
        assert_eq!(author_email(&with("a@b.nl")), Some("a@b.nl"));
        assert_eq!(author_email(&with("mailto:a@b.nl")), Some("a@b.nl"));
        assert_eq!(author_email(&with("Jan <a@b.nl>")), None);
        assert_eq!(author_email(&with("not-an-email")), None);
        assert_eq!(author_email(&Author::default()), None);
    }

    #[test]
    fn formats_are_named_in_lowercase_in_configuration() {
        let json = serde_json::to_string(&Format::ALL).unwrap();
        assert_eq!(json, r#"["atom","rss","json"]"#);
        let back: Vec<Format> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Format::ALL);
    }
}
