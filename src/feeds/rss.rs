//! RSS 2.0 for one channel, built with the `rss` crate's builders (its `atom`
//! feature writes the `atom:link rel="self"` the W3C validator asks for, and
//! the crate declares every namespace prefix an element uses).
//!
//! Choices the validator forces:
//! - authors go in `dc:creator`, never `<author>`, which must be an email;
//! - the `<description>` is always present, because `content:encoded`
//!   without one before it is a warning;
//! - the post image is a Media RSS `<media:content medium="image">`, not an
//!   `<enclosure>`: an enclosure needs its length in bytes (the validator
//!   rejects `0`), which postbode cannot know for images served by the site.

use ::rss::extension::atom::{AtomExtensionBuilder, Link};
use ::rss::extension::dublincore::DublinCoreExtensionBuilder;
use std::collections::BTreeMap;

use ::rss::extension::{Extension, ExtensionMap};
use ::rss::{CategoryBuilder, ChannelBuilder, GuidBuilder, Item, ItemBuilder};

use super::{Channel, Format, image_media_type, summary, xml_safe};
use crate::text::escape_html;

/// What `<docs>` points at: the specification the file follows.
const DOCS: &str = "https://www.rssboard.org/rss-specification";

/// Appends the channel as RSS 2.0 to `out`.
pub(super) fn write(channel: &Channel, out: &mut Vec<u8>) {
    let mut links = vec![atom_link(
        &channel.feed_url(Format::Rss),
        "self",
        Some(Format::Rss.media_type()),
    )];
    if let Some(hub) = &channel.hub {
        links.push(atom_link(hub, "hub", None));
    }
    // RSS requires a channel description; the title is a better stand-in
    // than nothing.
    let description = if channel.description.trim().is_empty() {
        &channel.title
    } else {
        &channel.description
    };
    // Both dates are the newest post's, never the build time, so unchanged
    // input gives unchanged bytes.
    let date = channel.updated().to_rfc2822();

    let rss = ChannelBuilder::default()
        .title(xml_safe(&channel.title).into_owned())
        .link(channel.page_url.clone())
        .description(xml_safe(description).into_owned())
        .language(channel.language.clone())
        .pub_date(date.clone())
        .last_build_date(date)
        .generator(xml_safe(&channel.generator).into_owned())
        .docs(DOCS.to_owned())
        .atom_ext(AtomExtensionBuilder::default().links(links).build())
        .namespaces(BTreeMap::from([("media".to_owned(), MEDIA_NS.to_owned())]))
        .items(channel.items.iter().map(item).collect::<Vec<_>>())
        .build();

    let out = rss
        .pretty_write_to(out, b' ', 2)
        .expect("writing RSS into a Vec<u8> cannot fail");
    out.push(b'\n');
}

fn item(item: &super::Item) -> Item {
    let post = item.post;
    // The description is read as HTML, so plain text is escaped; a post
    // without a summary is described by its title.
    let description = escape_html(summary(item).unwrap_or(&post.title));
    let media = item.image_url.map(media_content).unwrap_or_default();
    let creators: Vec<String> = post
        .authors
        .iter()
        .map(|a| xml_safe(a.display_name()).into_owned())
        .collect();
    let dublin_core = (!creators.is_empty()).then(|| {
        DublinCoreExtensionBuilder::default()
            .creators(creators)
            .build()
    });

    ItemBuilder::default()
        .title(xml_safe(&post.title).into_owned())
        .link(post.url.clone())
        .description(xml_safe(&description).into_owned())
        .categories(
            post.tags
                .iter()
                .map(|t| {
                    CategoryBuilder::default()
                        .name(xml_safe(&t.label).into_owned())
                        .build()
                })
                .collect::<Vec<_>>(),
        )
        .extensions(media)
        // isPermaLink defaults to true (RSS 2.0 spec), so the crate leaves the
        // attribute out; the URL is the permalink.
        .guid(
            GuidBuilder::default()
                .value(post.url.clone())
                .permalink(true)
                .build(),
        )
        .pub_date(post.date.to_rfc2822())
        .content(xml_safe(item.content_html).into_owned())
        .dublin_core_ext(dublin_core)
        .build()
}

/// The Media RSS namespace, for the post image.
const MEDIA_NS: &str = "http://search.yahoo.com/mrss/";

fn media_content(url: &str) -> ExtensionMap {
    let mut attrs = BTreeMap::from([
        ("url".to_owned(), url.to_owned()),
        ("medium".to_owned(), "image".to_owned()),
    ]);
    if let Some(media_type) = image_media_type(url) {
        attrs.insert("type".to_owned(), media_type.to_owned());
    }
    let content = Extension {
        name: "media:content".to_owned(),
        value: None,
        attrs,
        children: BTreeMap::new(),
    };
    BTreeMap::from([(
        "media".to_owned(),
        BTreeMap::from([("content".to_owned(), vec![content])]),
    )])
}

fn atom_link(href: &str, rel: &str, media_type: Option<&str>) -> Link {
    Link {
        href: href.to_owned(),
        rel: rel.to_owned(),
        mime_type: media_type.map(str::to_owned),
        ..Link::default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::ChannelKind;
    use super::super::test_support::{HTML, channel, posts};
    use super::*;

    fn render(channel: &Channel) -> Vec<u8> {
        super::super::render(channel, Format::Rss)
    }

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).expect("RSS is UTF-8")
    }

    #[test]
    fn rss_channel_has_self_link_dates_and_items_in_order() {
        let posts = posts();
        let bytes = render(&channel(&posts, ChannelKind::Blog));
        let feed = feed_rs::parser::parse(&bytes[..]).expect("feed-rs parses our RSS");

        assert_eq!(feed.feed_type, feed_rs::model::FeedType::RSS2);
        assert_eq!(feed.updated, Some(posts[0].date));
        assert_eq!(feed.language.as_deref(), Some("nl"));
        let hrefs: Vec<_> = feed.links.iter().map(|l| l.href.as_str()).collect();
        assert!(hrefs.contains(&"https://developer.example.nl/blog"));
        assert!(hrefs.contains(&"https://developer.example.nl/blog/rss.xml"));

        let ids: Vec<_> = feed.entries.iter().map(|e| e.id.as_str()).collect();
        let urls: Vec<_> = posts.iter().map(|p| p.url.as_str()).collect();
        assert_eq!(ids, urls);

        let first = &feed.entries[0];
        assert_eq!(first.published, Some(posts[0].date));
        assert_eq!(first.links[0].href, posts[0].url);
        let terms: Vec<_> = first.categories.iter().map(|c| c.term.as_str()).collect();
        assert_eq!(terms, ["API", "GraphQL"]);
        let names: Vec<_> = feed.entries[1]
            .authors
            .iter()
            .map(|a| a.name.as_deref())
            .collect();
        assert_eq!(names, [Some("Dimitri van Hees"), Some("Gast Auteur")]);
        let content = first.content.as_ref().and_then(|c| c.body.as_deref());
        assert_eq!(content, Some(HTML[0]));
        let image = &first.media[0].content[0];
        assert_eq!(
            image.url.as_ref().map(|u| u.as_str()),
            Some("https://developer.example.nl/img/graphql.png")
        );
    }

    #[test]
    fn rss_uses_rfc_822_dates_and_links_itself_and_the_hub() {
        let posts = posts();
        let xml = text(render(&channel(&posts, ChannelKind::Blog)));
        assert!(xml.contains("<pubDate>Tue, 18 Aug 2026 00:00:00 +0000</pubDate>"));
        assert!(xml.contains("<lastBuildDate>Tue, 18 Aug 2026 00:00:00 +0000</lastBuildDate>"));
        assert!(xml.contains(
            r#"<atom:link href="https://developer.example.nl/blog/rss.xml" rel="self" type="application/rss+xml"/>"#
        ));
        assert!(xml.contains(r#"<atom:link href="https://hub.example.nl/" rel="hub"/>"#));
        assert!(xml.contains(
            r#"<media:content medium="image" type="image/png" url="https://developer.example.nl/img/graphql.png">"#
        ), "{xml}");
        assert!(xml.contains(r#"xmlns:media="http://search.yahoo.com/mrss/""#));
    }

    #[test]
    fn rss_has_no_author_element_and_declares_every_prefix_it_uses() {
        let posts = posts();
        let xml = text(render(&channel(&posts, ChannelKind::Blog)));
        assert!(!xml.contains("<author>"));
        assert!(xml.contains("<dc:creator>Joost Farla</dc:creator>"));
        let root = xml
            .lines()
            .find(|l| l.starts_with("<rss"))
            .expect("rss root element");
        for (prefix, uri) in [
            ("atom", "http://www.w3.org/2005/Atom"),
            ("content", "http://purl.org/rss/1.0/modules/content/"),
            ("dc", "http://purl.org/dc/elements/1.1/"),
        ] {
            assert!(xml.contains(&format!("<{prefix}:")), "{prefix} used");
            assert!(
                root.contains(&format!(r#"xmlns:{prefix}="{uri}""#)),
                "{prefix} declared in {root}"
            );
        }
    }

    #[test]
    fn rss_description_is_escaped_summary_or_the_title() {
        let posts = posts();
        let xml = text(render(&channel(&posts, ChannelKind::Blog)));
        assert!(
            xml.contains("<description><![CDATA[De kernbelofte &amp; meer &lt;3]]></description>")
        );
        assert!(xml.contains("<description><![CDATA[Kaal bericht]]></description>"));
        // The CDATA terminator in the third post's HTML is split, not emitted.
        let feed = feed_rs::parser::parse(xml.as_bytes()).unwrap();
        let body = feed.entries[2]
            .content
            .as_ref()
            .and_then(|c| c.body.clone());
        assert_eq!(
            body.as_deref(),
            Some("<p>Een ]]> in de tekst en <code>a &lt; b</code>.</p>")
        );
    }

    #[test]
    fn rss_passes_the_rss_crates_own_validation_and_is_deterministic() {
        let posts = posts();
        let blog = channel(&posts, ChannelKind::Blog);
        let bytes = render(&blog);
        assert_eq!(bytes, render(&blog));
        let parsed = ::rss::Channel::read_from(&bytes[..]).expect("rss crate reads it back");
        assert_eq!(
            parsed.items()[0].guid().map(|g| g.is_permalink()),
            Some(true)
        );
        use ::rss::validation::Validate;
        assert!(parsed.items()[0].enclosure().is_none());
        parsed.validate().expect("valid per the rss crate");
    }
}
