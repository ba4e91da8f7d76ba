//! The feeds index (`index.html`): a plain HTML page for people who land on
//! the feed folder, listing every channel with its feed addresses and latest
//! posts. Browsers no longer apply XSLT to feeds reliably, so this page, not a
//! styled feed, is what we point people at.
//!
//! The markup lives in `templates/feeds-index.html`, embedded at compile time
//! so the binary needs no files next to it; minijinja escapes every value.

use minijinja::value::Serde;
use serde::Serialize;

use super::{Channel, ChannelKind, Format};

const TEMPLATE_NAME: &str = "feeds-index.html";
const TEMPLATE: &str = include_str!("../../templates/feeds-index.html");

/// How many recent posts each channel shows.
pub const LATEST: usize = 5;

#[derive(Serialize)]
struct Page<'a> {
    title: &'a str,
    description: &'a str,
    /// The language of the caller's title and description, taken from the
    /// first channel; the page's own words are English.
    lang: Option<&'a str>,
    /// `<link rel=alternate>` in the head, for the blog channels only: a
    /// browser or reader offers these when someone subscribes to the page.
    autodiscovery: Vec<FeedLink>,
    channels: Vec<ChannelView<'a>>,
    /// The page where readers subscribe by email (`[serve]`), if any.
    subscribe_url: Option<&'a str>,
}

#[derive(Serialize)]
struct ChannelView<'a> {
    title: &'a str,
    description: &'a str,
    page_url: &'a str,
    lang: Option<&'a str>,
    feeds: Vec<FeedLink>,
    latest: Vec<PostView<'a>>,
}

#[derive(Serialize)]
struct FeedLink {
    label: &'static str,
    title: String,
    media_type: &'static str,
    url: String,
}

#[derive(Serialize)]
struct PostView<'a> {
    title: &'a str,
    url: &'a str,
    /// Machine-readable, for `<time datetime>`.
    datetime: String,
    /// What a person reads: ISO dates need no translation.
    date: String,
}

/// Renders the index page for `channels` in the given `formats`, linking
/// to `subscribe_url` (the email sign-up page) when there is one.
pub fn render_index_html(
    title: &str,
    description: &str,
    channels: &[&Channel],
    formats: &[Format],
    subscribe_url: Option<&str>,
) -> Vec<u8> {
    let feed_links = |channel: &Channel| -> Vec<FeedLink> {
        formats
            .iter()
            .map(|&format| FeedLink {
                label: format.label(),
                title: format!("{} ({})", channel.title, format.label()),
                media_type: format.media_type(),
                url: channel.feed_url(format),
            })
            .collect()
    };
    let page = Page {
        title,
        description,
        subscribe_url,
        lang: channels.first().and_then(|c| c.language.as_deref()),
        autodiscovery: channels
            .iter()
            .filter(|c| c.kind == ChannelKind::Blog)
            .flat_map(|c| feed_links(c))
            .collect(),
        channels: channels
            .iter()
            .map(|channel| ChannelView {
                title: &channel.title,
                description: &channel.description,
                page_url: &channel.page_url,
                lang: channel.language.as_deref(),
                feeds: feed_links(channel),
                latest: channel
                    .items
                    .iter()
                    .take(LATEST)
                    .map(|item| PostView {
                        title: &item.post.title,
                        url: &item.post.url,
                        datetime: item.post.date.to_rfc3339(),
                        date: item.post.date.format("%Y-%m-%d").to_string(),
                    })
                    .collect(),
            })
            .collect(),
    };

    let env = crate::templates::environment();
    let html = env
        .template_from_named_str(TEMPLATE_NAME, TEMPLATE)
        .and_then(|template| template.render(Serde(&page)))
        .expect("the embedded feeds index template renders (covered by tests)");
    html.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{channel, posts};
    use super::*;

    fn page() -> String {
        let posts = posts();
        let blog = channel(&posts, ChannelKind::Blog);
        let mut tag = channel(&posts, ChannelKind::Tag);
        tag.title = "Blog – tag: <API>".into();
        tag.page_url = "https://developer.example.nl/blog/tags/api".into();
        tag.feed_base_url = tag.page_url.clone();
        tag.items.truncate(1);
        let html = render_index_html(
            "Feeds & meer",
            "Alles van de blog",
            &[&blog, &tag],
            &Format::ALL,
            None,
        );
        String::from_utf8(html).unwrap()
    }

    #[test]
    fn index_page_is_html5_with_one_h1_and_a_section_per_channel() {
        let html = page();
        assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
        assert_eq!(html.matches("<h1").count(), 1);
        assert_eq!(html.matches("<section").count(), 2);
        assert_eq!(html.matches("<h2").count(), 2);
        assert!(html.contains("<h1 lang=\"nl\">Feeds &amp; meer</h1>"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("&#x2f;"), "URLs stay readable in the source");
    }

    #[test]
    fn index_page_links_every_feed_by_its_full_url() {
        let html = page();
        for url in [
            "https://developer.example.nl/blog/atom.xml",
            "https://developer.example.nl/blog/rss.xml",
            "https://developer.example.nl/blog/feed.json",
            "https://developer.example.nl/blog/tags/api/atom.xml",
        ] {
            assert!(html.contains(&format!("<code>{url}</code>")), "{url}");
        }
        // Autodiscovery only for the blog channel.
        assert_eq!(html.matches("<link rel=\"alternate\"").count(), 3);
    }

    #[test]
    fn index_page_lists_latest_posts_with_dates_and_escapes_titles() {
        let html = page();
        assert!(html.contains(
            "<a href=\"https://developer.example.nl/blog/2026/08/18/graphql-2\">GraphQL &lt;deel 2&gt;: flexibel &amp; snel</a> <time datetime=\"2026-08-18T00:00:00+00:00\">2026-08-18</time>"
        ));
        assert!(html.contains("Blog – tag: &lt;API&gt;"));
        assert_eq!(html.matches("<time").count(), 3 + 1);
    }

    #[test]
    fn index_page_links_the_subscribe_page_only_when_there_is_one() {
        let posts = posts();
        let blog = channel(&posts, ChannelKind::Blog);
        let url = "https://example.org/abonneren/blog/subscribe";
        let with = String::from_utf8(render_index_html(
            "t",
            "",
            &[&blog],
            &Format::ALL,
            Some(url),
        ))
        .unwrap();
        assert!(with.contains(&format!("<a href=\"{url}\">")), "{with}");
        assert!(!page().contains("/subscribe"));
    }

    #[test]
    fn index_page_shows_at_most_five_posts_per_channel() {
        let mut posts = posts();
        let extra = posts.clone();
        posts.extend(extra.clone());
        posts.extend(extra);
        let blog = channel(&posts, ChannelKind::Blog);
        assert_eq!(blog.items.len(), 9);
        let html =
            String::from_utf8(render_index_html("t", "", &[&blog], &Format::ALL, None)).unwrap();
        assert_eq!(html.matches("<time").count(), 5);
        assert!(!html.contains("<p lang=\"nl\"></p>"));
    }
}
