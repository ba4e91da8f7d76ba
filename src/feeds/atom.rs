//! Atom 1.0 (RFC 4287) for one channel, built with `atom_syndication`'s
//! builders so escaping and element order are the crate's business, not ours
//! – except for the entries' content, the one large part, which is escaped
//! straight into the output (see [`splice_contents`]).
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
    write_with(channel, out, Contents::Spliced);
}

/// How entries' content gets into the document.
#[derive(Clone, Copy, PartialEq)]
enum Contents {
    /// Handed to the crate, which escapes a copy of each (kept to check
    /// that splicing gives the same bytes).
    #[cfg_attr(not(test), allow(dead_code))]
    ThroughTheCrate,
    /// A marker handed to the crate, replaced afterwards.
    Spliced,
}

fn write_with(channel: &Channel, out: &mut Vec<u8>, contents: Contents) {
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
                .enumerate()
                .map(|(i, (item, updated))| {
                    let content = match contents {
                        Contents::ThroughTheCrate => xml_safe(item.content_html).into_owned(),
                        Contents::Spliced => marker(i),
                    };
                    entry(item, *updated, content)
                })
                .collect::<Vec<_>>(),
        )
        .build();

    let config = WriteConfig {
        write_document_declaration: true,
        indent_size: Some(2),
    };
    if contents == Contents::ThroughTheCrate {
        let out = feed
            .write_with_config(out, config)
            .expect("writing Atom into a Vec<u8> cannot fail");
        out.push(b'\n');
        return;
    }
    let skeleton = feed
        .write_with_config(
            Vec::with_capacity(4096 + 2048 * channel.items.len()),
            config,
        )
        .expect("writing Atom into a Vec<u8> cannot fail");
    splice_contents(&skeleton, channel, out);
    out.push(b'\n');
}

/// The content `atom_syndication` is given for entry `i`: text it writes
/// as it is (private-use characters and hex digits need no escaping), with
/// a number no post can foresee, drawn once per process.
fn marker(i: usize) -> String {
    static NONCE: std::sync::LazyLock<u64> = std::sync::LazyLock::new(|| {
        use std::hash::{BuildHasher, Hasher};
        std::hash::RandomState::new().build_hasher().finish()
    });
    format!("\u{E000}{:016x}:{i}\u{E000}", *NONCE)
}

/// Copies the crate's document to `out` with each entry's marker replaced
/// by the entry's content, escaped as the crate escapes text. The crate
/// would copy each post's HTML (already copied once by `xml_safe`) into an
/// owned string and escape it into another: Atom cost almost three times
/// RSS, and the content is most of a feed's bytes.
fn splice_contents(skeleton: &[u8], channel: &Channel, out: &mut Vec<u8>) {
    let mut rest = skeleton;
    for (i, item) in channel.items.iter().enumerate() {
        let marker = marker(i);
        // Markers come in entry order, and nothing else in the document
        // holds one: no post can know the nonce.
        let at = memchr::memmem::find(rest, marker.as_bytes())
            .expect("atom_syndication writes every entry's content");
        out.extend_from_slice(&rest[..at]);
        escape_text(&xml_safe(item.content_html), out);
        rest = &rest[at + marker.len()..];
    }
    out.extend_from_slice(rest);
}

/// Appends `text` escaped as quick-xml escapes text (`escape::escape`):
/// the five characters XML predefines, nothing else.
fn escape_text(text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + bytes.len() / 4);
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        let entity: &[u8] = match b {
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'&' => b"&amp;",
            b'\'' => b"&apos;",
            b'"' => b"&quot;",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(entity);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
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

fn entry(item: &Item, updated: DateTime<Utc>, content: String) -> Entry {
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
                .value(content)
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

    #[test]
    fn spliced_contents_are_the_bytes_the_crate_writes_itself() {
        let posts = posts();
        let mut channel = channel(&posts, ChannelKind::Blog);
        // Text that looks like a marker is content like any other.
        let lookalike = format!("<p>{}</p>", marker(0).replace(char::is_alphanumeric, "0"));
        let own_marker = marker(1);
        channel.items[0].content_html = &lookalike;
        channel.items[1].content_html = &own_marker;
        let mut spliced = Vec::new();
        write_with(&channel, &mut spliced, Contents::Spliced);
        let mut crate_only = Vec::new();
        write_with(&channel, &mut crate_only, Contents::ThroughTheCrate);
        assert_eq!(
            String::from_utf8(spliced.clone()).unwrap(),
            String::from_utf8(crate_only).unwrap()
        );
        let feed = parse(&spliced);
        let content = |i: usize| feed.entries[i].content.as_ref().unwrap().body.clone();
        assert_eq!(content(0).as_deref(), Some(lookalike.as_str()));
        assert_eq!(content(1).as_deref(), Some(own_marker.as_str()));
        assert_eq!(content(2).as_deref(), Some(&*xml_safe(HTML[2])));
    }

    #[test]
    fn text_is_escaped_exactly_as_quick_xml_escapes_it() {
        let cases = [
            "",
            "plain",
            r#"<p class="a" title='b'>x &amp; y > z</p>"#,
            r#"&&&<<<>>>'''"""#,
            "\u{E000}é ✓ 𝄞 <b>",
            "trailing <",
        ];
        for text in cases {
            let mut ours = Vec::new();
            escape_text(text, &mut ours);
            let theirs = quick_xml::escape::escape(text);
            assert_eq!(String::from_utf8(ours).unwrap(), theirs, "{text:?}");
        }
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
