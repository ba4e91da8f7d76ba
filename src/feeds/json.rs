//! JSON Feed 1.1 (<https://jsonfeed.org/version/1.1>) for one channel, as
//! serde structs that borrow from the channel: nothing is copied, and absent
//! values are left out rather than written as `null`, as the spec prefers.

use chrono::SecondsFormat;
use serde::Serialize;

use super::{Channel, Format, Item, summary};

const VERSION: &str = "https://jsonfeed.org/version/1.1";

#[derive(Serialize)]
struct JsonFeed<'a> {
    version: &'static str,
    title: &'a str,
    home_page_url: &'a str,
    feed_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hubs: Vec<Hub<'a>>,
    items: Vec<JsonItem<'a>>,
}

#[derive(Serialize)]
struct Hub<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    url: &'a str,
}

#[derive(Serialize)]
struct JsonItem<'a> {
    id: &'a str,
    url: &'a str,
    title: &'a str,
    content_html: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<&'a str>,
    date_published: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authors: Vec<JsonAuthor<'a>>,
}

#[derive(Serialize)]
struct JsonAuthor<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
}

/// Appends the channel as JSON Feed 1.1 to `out`.
pub(super) fn write(channel: &Channel, out: &mut Vec<u8>) {
    let feed = JsonFeed {
        version: VERSION,
        title: &channel.title,
        home_page_url: &channel.page_url,
        feed_url: channel.feed_url(Format::Json),
        description: Some(channel.description.as_str()).filter(|d| !d.trim().is_empty()),
        language: channel.language.as_deref(),
        hubs: channel
            .hub
            .iter()
            .map(|url| Hub {
                kind: "WebSub",
                url,
            })
            .collect(),
        items: channel.items.iter().map(item).collect(),
    };
    // serde_json's pretty printer indents with two spaces.
    serde_json::to_writer_pretty(&mut *out, &feed)
        .expect("serializing plain structs into a Vec<u8> cannot fail");
    out.push(b'\n');
}

fn item<'b>(item: &'b Item<'_>) -> JsonItem<'b> {
    let post = item.post;
    JsonItem {
        id: &post.url,
        url: &post.url,
        title: &post.title,
        content_html: item.content_html,
        summary: summary(item),
        image: item.image_url,
        // RFC 3339 with a `Z`, as the spec's examples write it.
        date_published: post.date.to_rfc3339_opts(SecondsFormat::Secs, true),
        tags: post.tags.iter().map(|t| t.label.as_str()).collect(),
        authors: post
            .authors
            .iter()
            .enumerate()
            .map(|(i, author)| JsonAuthor {
                name: author.display_name(),
                url: item.author_urls.get(i).and_then(|u| u.as_deref()),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::ChannelKind;
    use super::super::test_support::{HTML, channel, posts};
    use super::*;

    fn render(channel: &Channel) -> Vec<u8> {
        super::super::render(channel, Format::Json)
    }

    #[test]
    fn json_feed_parses_back_with_ids_links_dates_tags_and_authors() {
        let posts = posts();
        let bytes = render(&channel(&posts, ChannelKind::Blog));
        let feed = feed_rs::parser::parse(&bytes[..]).expect("feed-rs parses our JSON Feed");

        assert_eq!(feed.feed_type, feed_rs::model::FeedType::JSON);
        let hrefs: Vec<_> = feed.links.iter().map(|l| l.href.as_str()).collect();
        assert_eq!(
            hrefs,
            [
                "https://developer.example.nl/blog",
                "https://developer.example.nl/blog/feed.json"
            ]
        );
        let ids: Vec<_> = feed.entries.iter().map(|e| e.id.as_str()).collect();
        let urls: Vec<_> = posts.iter().map(|p| p.url.as_str()).collect();
        assert_eq!(ids, urls);

        let first = &feed.entries[0];
        assert_eq!(first.published, Some(posts[0].date));
        assert_eq!(first.links[0].href, posts[0].url);
        let tags: Vec<_> = first.categories.iter().map(|c| c.term.as_str()).collect();
        assert_eq!(tags, ["API", "GraphQL"]);
        assert_eq!(first.authors[0].name.as_deref(), Some("Joost Farla"));
        assert_eq!(
            first.authors[0].uri.as_deref(),
            Some("https://developer.example.nl/blog/authors/joost-farla")
        );
        let content = first.content.as_ref().and_then(|c| c.body.as_deref());
        assert_eq!(content, Some(HTML[0]));
    }

    #[test]
    fn json_feed_is_version_1_1_pretty_printed_and_omits_absent_fields() {
        let posts = posts();
        let blog = channel(&posts, ChannelKind::Blog);
        let bytes = render(&blog);
        assert_eq!(bytes, render(&blog));
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("{\n  \"version\": \"https://jsonfeed.org/version/1.1\",\n"));
        assert!(text.ends_with("}\n"));
        assert!(!text.contains("null"));

        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value["feed_url"],
            "https://developer.example.nl/blog/feed.json"
        );
        assert_eq!(value["hubs"][0]["type"], "WebSub");
        assert_eq!(value["items"][0]["date_published"], "2026-08-18T00:00:00Z");
        assert_eq!(
            value["items"][0]["image"],
            "https://developer.example.nl/img/graphql.png"
        );
        let bare = &value["items"][2];
        for absent in ["summary", "image", "tags", "authors"] {
            assert!(bare.get(absent).is_none(), "{absent} left out");
        }
        assert!(value["items"][1]["authors"][1].get("url").is_none());
    }
}
