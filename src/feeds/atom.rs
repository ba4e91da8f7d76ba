//! Atom 1.0 (RFC 4287) for one channel, built with `atom_syndication`'s
//! builders so escaping and element order are the crate's business, not ours.
//!
//! Field mapping follows Docusaurus's `feed.ts` where it is right (id = the
//! page URL, categories = tag labels) and goes further where the W3C
//! validator or readers want more: a self link, full HTML content, published
//! dates, author URIs, and the post image as an enclosure link.

use atom_syndication::{
    CategoryBuilder, ContentBuilder, Entry, EntryBuilder, FeedBuilder, GeneratorBuilder, Link,
    LinkBuilder, Person, PersonBuilder, Text, WriteConfig,
};

use super::{Channel, Format, Item, author_email, image_media_type, summary, xml_safe};
use chrono::{DateTime, TimeDelta, Utc};

/// Appends the channel as Atom to `out`.
pub(super) fn write(channel: &Channel, out: &mut Vec<u8>) {
    let mut links = vec![
        link(&channel.page_url, "alternate", Some("text/html")),
        // The validator checks that the self link is where the file is served.
        link(
            &channel.feed_url(Format::Atom),
            "self",
            Some(Format::Atom.media_type()),
        ),
    ];
    if let Some(hub) = &channel.hub {
        links.push(link(hub, "hub", None));
    }

    // RFC 4287 §4.1.1: an entry without an author takes the feed's, and a feed
    // whose entries all have one needs none (adding one anyway would credit the
    // site in every reader for posts it did not write).
    let authors = if channel.items.iter().any(|i| i.post.authors.is_empty()) {
        vec![
            PersonBuilder::default()
                .name(xml_safe(&channel.fallback_author).into_owned())
                .build(),
        ]
    } else {
        Vec::new()
    };

    let updates = distinct_updates(&channel.items);
    let subtitle = (!channel.description.trim().is_empty())
        .then(|| Text::plain(xml_safe(&channel.description).into_owned()));

    let feed = FeedBuilder::default()
        .title(Text::plain(xml_safe(&channel.title).into_owned()))
        .id(channel.page_url.clone())
        .updated(
            updates
                .first()
                .copied()
                .unwrap_or(channel.updated())
                .fixed_offset(),
        )
        .authors(authors)
        .generator(
            GeneratorBuilder::default()
                .value(xml_safe(&channel.generator).into_owned())
                .build(),
        )
        .links(links)
        .subtitle(subtitle)
        .lang(channel.language.clone())
        .entries(
            channel
                .items
                .iter()
                .zip(&updates)
                .map(|(item, updated)| entry(item, *updated))
                .collect::<Vec<_>>(),
        )
        .build();

    let config = WriteConfig {
        write_document_declaration: true,
        indent_size: Some(2),
    };
    let out = feed
        .write_with_config(out, config)
        .expect("writing Atom into a Vec<u8> cannot fail");
    out.push(b'\n');
}

/// The W3C validator warns when two entries share an `updated` value, which
/// date-only posts of the same day do. Walking up from the oldest entry,
/// each `updated` is nudged one second past the next older one's; the
/// `published` date stays the post's own. Items are newest first.
fn distinct_updates(items: &[Item]) -> Vec<DateTime<Utc>> {
    let mut out: Vec<DateTime<Utc>> = Vec::with_capacity(items.len());
    let mut older: Option<DateTime<Utc>> = None;
    for item in items.iter().rev() {
        let mut updated = item.post.date;
        if let Some(o) = older.filter(|o| updated <= *o) {
            updated = o + TimeDelta::seconds(1);
        }
        out.push(updated);
        older = Some(updated);
    }
    out.reverse();
    out
}

fn entry(item: &Item, updated: DateTime<Utc>) -> Entry {
    let post = item.post;
    let date = post.date.fixed_offset();

    let mut links = vec![link(&post.url, "alternate", Some("text/html"))];
    if let Some(image) = item.image_url {
        // RFC 4287 §4.2.7.2: length is advisory for enclosures, so leaving it
        // out is valid (unlike RSS).
        links.push(link(image, "enclosure", image_media_type(image)));
    }

    let authors: Vec<Person> = post
        .authors
        .iter()
        .enumerate()
        .map(|(i, author)| {
            PersonBuilder::default()
                .name(xml_safe(author.display_name()).into_owned())
                .uri(item.author_urls.get(i).cloned().flatten())
                .email(author_email(author).map(str::to_owned))
                .build()
        })
        .collect();

    let categories: Vec<_> = post
        .tags
        .iter()
        .map(|tag| {
            CategoryBuilder::default()
                .term(xml_safe(&tag.label).into_owned())
                .label(xml_safe(&tag.label).into_owned())
                .build()
        })
        .collect();

    EntryBuilder::default()
        .title(Text::plain(xml_safe(&post.title).into_owned()))
        .id(post.url.clone())
        .updated(updated.fixed_offset())
        .published(date)
        .authors(authors)
        .categories(categories)
        .links(links)
        .summary(summary(item).map(|s| Text::plain(xml_safe(s).into_owned())))
        .content(
            ContentBuilder::default()
                .content_type("html".to_owned())
                .value(xml_safe(item.content_html).into_owned())
                .build(),
        )
        .build()
}

fn link(href: &str, rel: &str, media_type: Option<&str>) -> Link {
    LinkBuilder::default()
        .href(href.to_owned())
        .rel(rel.to_owned())
        .mime_type(media_type.map(str::to_owned))
        .build()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{HTML, channel, posts};
    use super::super::{ChannelKind, render as render_any};
    use super::*;

    fn render(channel: &Channel) -> Vec<u8> {
        render_any(channel, Format::Atom)
    }

    fn parse(bytes: &[u8]) -> feed_rs::model::Feed {
        feed_rs::parser::parse(bytes).expect("feed-rs parses our Atom")
    }

    #[test]
    fn posts_of_the_same_day_get_distinct_updated_values_but_keep_their_published_date() {
        let mut posts = posts();
        let day = posts[2].date;
        for p in &mut posts {
            p.date = day;
        }
        let feed = parse(&render(&channel(&posts, ChannelKind::Blog)));
        let updated: Vec<_> = feed.entries.iter().map(|e| e.updated.unwrap()).collect();
        assert_eq!(
            updated,
            [2, 1, 0].map(|s| day + TimeDelta::seconds(s)),
            "newest first, each one second apart"
        );
        assert!(feed.entries.iter().all(|e| e.published == Some(day)));
        assert_eq!(feed.updated, Some(updated[0]));
    }

    fn links<'a>(links: &'a [feed_rs::model::Link], rel: &str) -> Vec<&'a str> {
        links
            .iter()
            .filter(|l| l.rel.as_deref() == Some(rel))
            .map(|l| l.href.as_str())
            .collect()
    }

    #[test]
    fn atom_feed_carries_ids_links_and_the_newest_date() {
        let posts = posts();
        let bytes = render(&channel(&posts, ChannelKind::Blog));
        let feed = parse(&bytes);

        assert_eq!(feed.feed_type, feed_rs::model::FeedType::Atom);
        assert_eq!(feed.id, "https://developer.example.nl/blog");
        assert_eq!(
            feed.title.as_ref().map(|t| t.content.as_str()),
            Some("developer.example.nl Blog")
        );
        assert_eq!(feed.updated, Some(posts[0].date));
        assert_eq!(
            links(&feed.links, "self"),
            ["https://developer.example.nl/blog/atom.xml"]
        );
        assert_eq!(
            links(&feed.links, "alternate"),
            ["https://developer.example.nl/blog"]
        );
        assert_eq!(links(&feed.links, "hub"), ["https://hub.example.nl/"]);
        assert_eq!(feed.language.as_deref(), Some("nl"));

        let ids: Vec<_> = feed.entries.iter().map(|e| e.id.as_str()).collect();
        let urls: Vec<_> = posts.iter().map(|p| p.url.as_str()).collect();
        assert_eq!(ids, urls);
    }

    #[test]
    fn atom_entries_carry_dates_categories_authors_content_and_image() {
        let posts = posts();
        let feed = parse(&render(&channel(&posts, ChannelKind::Blog)));
        let first = &feed.entries[0];

        assert_eq!(
            first.title.as_ref().map(|t| t.content.as_str()),
            Some("GraphQL <deel 2>: flexibel & snel")
        );
        assert_eq!(first.published, Some(posts[0].date));
        assert_eq!(first.updated, Some(posts[0].date));
        assert_eq!(links(&first.links, "alternate"), [posts[0].url.as_str()]);
        let terms: Vec<_> = first.categories.iter().map(|c| c.term.as_str()).collect();
        assert_eq!(terms, ["API", "GraphQL"]);

        let author = &first.authors[0];
        assert_eq!(author.name.as_deref(), Some("Joost Farla"));
        assert_eq!(
            author.uri.as_deref(),
            Some("https://developer.example.nl/blog/authors/joost-farla")
        );
        assert_eq!(author.email.as_deref(), Some("joost@example.nl"));

        let content = first.content.as_ref().and_then(|c| c.body.as_deref());
        assert_eq!(content, Some(HTML[0]));
        assert_eq!(
            first.summary.as_ref().map(|s| s.content.as_str()),
            Some("De kernbelofte & meer <3")
        );
        let enclosure = first
            .links
            .iter()
            .find(|l| l.rel.as_deref() == Some("enclosure"))
            .expect("image enclosure");
        assert_eq!(
            enclosure.href,
            "https://developer.example.nl/img/graphql.png"
        );
        assert_eq!(enclosure.media_type.as_deref(), Some("image/png"));
    }

    #[test]
    fn atom_invalid_email_is_left_out_and_authorless_posts_fall_back_to_the_site() {
        let posts = posts();
        let bytes = render(&channel(&posts, ChannelKind::Blog));
        let feed = parse(&bytes);
        let second = &feed.entries[1];
        let names: Vec<_> = second.authors.iter().map(|a| a.name.as_deref()).collect();
        assert_eq!(names, [Some("Dimitri van Hees"), Some("Gast Auteur")]);
        assert!(second.authors.iter().all(|a| a.email.is_none()));
        assert!(second.authors[1].uri.is_none());

        // The third post has no author, so the feed names one.
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("<author>\n    <name>developer.example.nl</name>"));
    }

    #[test]
    fn atom_feed_without_authorless_posts_names_no_feed_author() {
        let posts = posts();
        let mut blog = channel(&posts, ChannelKind::Blog);
        blog.items.truncate(2);
        let feed = parse(&render(&blog));
        assert!(feed.authors.is_empty());
    }

    #[test]
    fn atom_content_survives_cdata_terminators_and_control_characters() {
        let posts = posts();
        let feed = parse(&render(&channel(&posts, ChannelKind::Blog)));
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
    fn atom_output_is_deterministic_and_ignores_the_clock() {
        let posts = posts();
        let blog = channel(&posts, ChannelKind::Blog);
        let first = render_any(&blog, Format::Atom);
        assert_eq!(first, render_any(&blog, Format::Atom));
        let text = String::from_utf8(first).unwrap();
        assert!(text.starts_with(
            "<?xml version=\"1.0\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"nl\">"
        ));
        assert!(text.contains("<updated>2026-08-18T00:00:00+00:00</updated>"));
    }

    #[test]
    fn empty_atom_channel_is_dated_at_the_epoch() {
        let posts = posts();
        let mut blog = channel(&posts, ChannelKind::Blog);
        blog.items.clear();
        let feed = parse(&render(&blog));
        assert_eq!(feed.updated.map(|d| d.timestamp()), Some(0));
        assert!(feed.entries.is_empty());
    }
}
