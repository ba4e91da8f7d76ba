//! Media a feed reader cannot play: `<video>`/`<audio>` with their
//! `<source>`s, `<iframe>` embeds (YouTube, CodePen, maps) and embed
//! components (`<Tweet id>`, `<YouTube id>`, `<Vimeo id>`). Readers run no
//! scripts and ammonia drops these elements, so each becomes a link to the
//! media (its poster as the link's image when there is one); the fallback
//! text inside stays. A link never lands inside another link.

use super::jsx_tag::Tag;
use super::layout::TagPiece;
use super::{MediaState, Pre};
use crate::text::escape_html_into;

/// Component names that embed media rather than link to a page.
const EMBED_WORDS: &[&str] = &[
    "tweet", "twitter", "youtube", "vimeo", "video", "audio", "player", "embed", "iframe",
];

impl Pre<'_, '_> {
    /// `<video>`, `<audio>`, `<source>`, `<iframe>`: true when handled.
    pub(super) fn convert_media_tag(
        &mut self,
        tag: &Tag,
        name: &str,
        at: usize,
        piece: &mut TagPiece,
    ) -> bool {
        if !matches!(name, "video" | "audio" | "source" | "iframe") {
            return false;
        }
        piece.block = true;
        piece.out_name = name.to_owned();
        if tag.closing {
            if name == "video" || name == "audio" {
                self.close_element(name);
                // A poster no source took is still worth showing.
                if let Some(media) = self.media.take()
                    && !media.linked
                    && let Some(poster) = media.poster
                {
                    piece.html = format!("<p>{}</p>", image(&poster, &media.label));
                }
            }
            return true;
        }
        let src = self.media_url(tag, "src");
        match name {
            "video" | "audio" => {
                let poster = self.media_url(tag, "poster");
                let label = tag
                    .text_attr("title")
                    .or_else(|| tag.text_attr("aria-label"))
                    .filter(|t| !t.trim().is_empty())
                    .unwrap_or_else(|| name.to_owned());
                if let Some(url) = &src {
                    piece.html = self.media_link(url, poster.as_deref(), &label, None);
                }
                if !tag.self_closing {
                    self.media = Some(MediaState {
                        poster: poster.filter(|_| src.is_none()),
                        label,
                        linked: src.is_some(),
                    });
                    piece.frame = self.push_element(name, String::new(), false, at);
                }
            }
            // `<source srcset>` in a `<picture>` goes with its `<img>`.
            "source" => {
                if let (Some(url), Some(media)) = (&src, self.media.take()) {
                    let label = media.label.clone();
                    let poster = media.poster.clone();
                    piece.html = self.media_link(url, poster.as_deref(), &label, None);
                    self.media = Some(MediaState {
                        poster: None,
                        linked: true,
                        ..media
                    });
                }
            }
            _ => {
                let title = tag.text_attr("title").filter(|t| !t.trim().is_empty());
                match &src {
                    Some(url) => {
                        piece.html = self.media_link(url, None, "", title.as_deref());
                    }
                    None => self.warn(
                        at,
                        "<iframe> without a usable `src`: nothing of it is shown in the feed"
                            .to_owned(),
                    ),
                }
            }
        }
        true
    }

    /// Where a component that is not an embed links to (`href`, `to`).
    pub(super) fn component_link(&mut self, tag: &Tag) -> Option<String> {
        let lower = tag.name.to_ascii_lowercase();
        if EMBED_WORDS.iter().any(|w| lower.contains(w)) {
            return None;
        }
        let attr = tag
            .attrs
            .iter()
            .find(|a| a.name == "href" || a.name == "to")?;
        let value = tag.text_attr(attr.name)?;
        self.urls.map("a", "href", &value, Some(attr.at))
    }

    /// Embed components: `<Tweet id>`, `<YouTube id>`, `<Vimeo id>`, and any
    /// other with a `src`/`url`: the URL of what they show, if they have one.
    pub(super) fn embed_url(&mut self, tag: &Tag) -> Option<String> {
        let lower = tag.name.to_ascii_lowercase();
        let id = ["id", "videoId", "youtubeId", "tweetId", "vimeoId"]
            .iter()
            .find_map(|a| tag.text_attr(a))
            .filter(|id| {
                !id.is_empty()
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        let from_id = match id {
            Some(id) if lower.contains("tweet") || lower.contains("twitter") => {
                Some(format!("https://twitter.com/i/status/{id}"))
            }
            Some(id) if lower.contains("youtube") => {
                Some(format!("https://www.youtube.com/watch?v={id}"))
            }
            Some(id) if lower.contains("vimeo") => Some(format!("https://vimeo.com/{id}")),
            _ => None,
        };
        if from_id.is_some() {
            return from_id;
        }
        if let Some(link) = tag.text_attr("tweetLink") {
            return Some(format!(
                "https://twitter.com/{}",
                link.trim_start_matches('/')
            ));
        }
        ["src", "url", "href", "videoUrl"]
            .iter()
            .find_map(|a| self.media_url(tag, a))
    }

    /// A block with a link to `url`: the poster as its image, else `text`,
    /// else the URL. Inside an open link only the text is written, and the
    /// link follows the one it sits in.
    pub(super) fn media_link(
        &mut self,
        url: &str,
        poster: Option<&str>,
        alt: &str,
        text: Option<&str>,
    ) -> String {
        let mut shown = String::new();
        match (poster, text) {
            (Some(poster), _) if self.anchors == 0 => shown.push_str(&image(poster, alt)),
            (_, Some(t)) => escape_html_into(t.trim(), &mut shown),
            // Inside a link a bare URL would be turned into a link again.
            _ if self.anchors > 0 => escape_html_into(short(url), &mut shown),
            _ => escape_html_into(url, &mut shown),
        }
        if self.anchors > 0 {
            // The embed's own link follows the one it sits in.
            let mut link = String::from(" <a href=\"");
            escape_html_into(url, &mut link);
            link.push_str("\">");
            escape_html_into(short(url), &mut link);
            link.push_str("</a>");
            self.pending_links.push_str(&link);
            return shown;
        }
        let mut html = String::from("<p><a href=\"");
        escape_html_into(url, &mut html);
        html.push_str("\">");
        html.push_str(&shown);
        html.push_str("</a></p>");
        html
    }

    /// Writes the links of embeds met inside the link that `html` closes.
    pub(super) fn after_anchor(&mut self, html: &mut String) {
        if self.anchors == 0 && !self.pending_links.is_empty() {
            html.push_str(&std::mem::take(&mut self.pending_links));
        }
    }

    fn media_url(&mut self, tag: &Tag, attr: &str) -> Option<String> {
        let at = tag.attrs.iter().find(|a| a.name == attr)?.at;
        let value = tag.text_attr(attr)?;
        let kind = if attr == "poster" { "poster" } else { "src" };
        self.urls.map("video", kind, &value, Some(at))
    }
}

/// A URL as link text: without its scheme, so it is not linked again.
fn short(url: &str) -> &str {
    url.split_once("://").map_or(url, |(_, rest)| rest)
}

fn image(src: &str, alt: &str) -> String {
    let mut html = String::from("<img src=\"");
    escape_html_into(src, &mut html);
    html.push_str("\" alt=\"");
    escape_html_into(alt, &mut html);
    html.push_str("\">");
    html
}
