//! Test fixtures shared by the feed writers' tests: three posts that between
//! them exercise every optional field (images, summaries, several or no
//! authors, markup and XML-hostile text), and a channel over them.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

use super::{Channel, ChannelKind, Item};
use crate::model::{Author, Post, Tag};

pub const SITE: &str = "https://developer.example.nl";

/// HTML per post, in the same order as [`posts`]. The third contains a CDATA
/// terminator and a control character, which must not break the XML.
pub const HTML: [&str; 3] = [
    r#"<p>De kernbelofte van <a href="https://graphql.org/">GraphQL</a> is flexibiliteit &amp; snelheid.</p><img src="https://developer.example.nl/img/graphql.png" alt="">"#,
    "<p>Spectral ligt onder vuur.</p>",
    "<p>Een ]]> in de tekst\u{7} en <code>a &lt; b</code>.</p>",
];

fn date(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).single().unwrap()
}

fn tag(label: &str, slug: &str) -> Arc<Tag> {
    Arc::new(Tag {
        key: slug.into(),
        label: label.into(),
        permalink: format!("/blog/tags/{slug}"),
        description: None,
        inline: false,
    })
}

fn author(key: Option<&str>, name: &str, email: Option<&str>) -> Arc<Author> {
    Arc::new(Author {
        key: key.map(Into::into),
        name: Some(name.into()),
        email: email.map(Into::into),
        ..Author::default()
    })
}

fn post(slug: &str, date: DateTime<Utc>, title: &str) -> Post {
    let permalink = format!("/blog/{}/{slug}", date.format("%Y/%m/%d"));
    Post {
        source: format!("{}-{slug}.md", date.format("%Y-%m-%d")),
        url: format!("{SITE}{permalink}"),
        permalink,
        date,
        title: title.into(),
        description: None,
        tags: Vec::new(),
        authors: Vec::new(),
        draft: false,
        unlisted: false,
        image: None,
        body_line: 1,
    }
}

/// Newest first, as channels get them.
pub fn posts() -> Vec<Post> {
    let mut graphql = post(
        "graphql-2",
        date(2026, 8, 18),
        "GraphQL <deel 2>: flexibel & snel",
    );
    graphql.tags = vec![tag("API", "api"), tag("GraphQL", "graphql")];
    graphql.authors = vec![author(
        Some("joost-farla"),
        "Joost Farla",
        Some("joost@example.nl"),
    )];
    graphql.image = Some("/img/graphql.png".into());

    let mut spectral = post("spectral", date(2026, 7, 31), "Spectral onder vuur");
    spectral.tags = vec![tag("API Design Rules", "api-design-rules")];
    spectral.authors = vec![
        author(Some("dimitri"), "Dimitri van Hees", Some("Dimitri <d@x>")),
        author(None, "Gast Auteur", None),
    ];

    let bare = post("kaal", date(2026, 7, 30), "Kaal bericht");
    vec![graphql, spectral, bare]
}

/// A channel over all `posts`, shaped like the blog channel of the site.
pub fn channel(posts: &[Post], kind: ChannelKind) -> Channel<'_> {
    let summaries = [Some("De kernbelofte & meer <3"), Some("Spectral."), None];
    let images = [
        Some("https://developer.example.nl/img/graphql.png"),
        None,
        None,
    ];
    let items = posts
        .iter()
        .enumerate()
        .map(|(i, post)| Item {
            post,
            content_html: HTML[i % 3],
            summary: summaries[i % 3],
            image_url: images[i % 3],
            author_urls: post
                .authors
                .iter()
                .map(|a| {
                    a.key
                        .as_ref()
                        .map(|key| format!("{SITE}/blog/authors/{key}"))
                })
                .collect(),
        })
        .collect();
    Channel {
        kind,
        title: "developer.example.nl Blog".into(),
        description: "Nieuws & achtergrond".into(),
        page_url: format!("{SITE}/blog"),
        dir: String::new(),
        feed_base_url: format!("{SITE}/blog"),
        language: Some("nl".into()),
        generator: "postbode 0.1.0".into(),
        fallback_author: "developer.example.nl".into(),
        hub: Some("https://hub.example.nl/".into()),
        items,
    }
}
