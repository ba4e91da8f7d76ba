//! OPML 2.0 (`feeds.opml`): every channel once, as one subscription list, so
//! a reader can import all tag and author feeds at once without getting each
//! post three times. Each outline points at the channel's preferred format
//! (Atom, else RSS, else JSON Feed); OPML has no way to list alternates, so
//! the other formats are on the feeds index page. Written with
//! quick-xml (the writer `rss` and `atom_syndication` use), which escapes
//! attribute values; titles come from tag and author names we do not control.

use std::io;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use super::{Channel, Format, xml_safe};

/// Renders the list; it carries no creation date, so it only changes when a
/// channel does.
pub fn render_opml(title: &str, channels: &[&Channel], formats: &[Format]) -> Vec<u8> {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    write(&mut writer, title, channels, formats).expect("writing OPML into a Vec<u8> cannot fail");
    let mut out = writer.into_inner();
    out.push(b'\n');
    out
}

fn write(
    writer: &mut Writer<Vec<u8>>,
    title: &str,
    channels: &[&Channel],
    formats: &[Format],
) -> io::Result<()> {
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    writer
        .create_element("opml")
        .with_attribute(("version", "2.0"))
        .write_inner_content(|w| {
            w.create_element("head").write_inner_content(|w| {
                w.create_element("title")
                    .write_text_content(BytesText::new(&xml_safe(title)))?;
                Ok(())
            })?;
            w.create_element("body").write_inner_content(|w| {
                let Some(format) = preferred(formats) else {
                    return Ok(());
                };
                for channel in channels {
                    let name = xml_safe(&channel.title);
                    let description = xml_safe(&channel.description);
                    let feed_url = channel.feed_url(format);
                    // OPML 2.0: type="rss" marks a feed subscription, whatever
                    // the feed's actual format; `version` is for RSS only.
                    let mut outline = w
                        .create_element("outline")
                        .with_attribute(("type", "rss"))
                        .with_attribute(("text", name.as_ref()))
                        .with_attribute(("title", name.as_ref()))
                        .with_attribute(("description", description.as_ref()))
                        .with_attribute(("xmlUrl", feed_url.as_str()))
                        .with_attribute(("htmlUrl", channel.page_url.as_str()));
                    if format == Format::Rss {
                        outline = outline.with_attribute(("version", "RSS2"));
                    }
                    outline.write_empty()?;
                }
                Ok(())
            })?;
            Ok(())
        })?;
    Ok(())
}

/// The format readers handle best among those configured.
fn preferred(formats: &[Format]) -> Option<Format> {
    [Format::Atom, Format::Rss, Format::Json]
        .into_iter()
        .find(|f| formats.contains(f))
}

#[cfg(test)]
mod tests {
    use super::super::ChannelKind;
    use super::super::test_support::{channel, posts};
    use super::*;
    use quick_xml::Reader;
    use quick_xml::events::Event;

    /// The attributes of every outline, as an independent reader sees them.
    fn outlines(xml: &[u8]) -> Vec<Vec<(String, String)>> {
        let mut reader = Reader::from_reader(xml);
        let mut found = Vec::new();
        let mut buf = Vec::new();
        loop {
            match reader.read_event_into(&mut buf).expect("well-formed OPML") {
                Event::Empty(e) if e.name().as_ref() == b"outline" => found.push(
                    e.attributes()
                        .map(|a| {
                            let a = a.unwrap();
                            let key = String::from_utf8(a.key.as_ref().to_vec()).unwrap();
                            let value = a
                                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                .unwrap()
                                .into_owned();
                            (key, value)
                        })
                        .collect(),
                ),
                Event::Eof => break,
                _ => {}
            }
            buf.clear();
        }
        found
    }

    #[test]
    fn opml_lists_each_channel_once_in_its_preferred_format() {
        let posts = posts();
        let blog = channel(&posts, ChannelKind::Blog);
        let mut tag = channel(&posts, ChannelKind::Tag);
        tag.title = "Blog – tag: \"API\" & <co>".into();
        tag.page_url = "https://developer.example.nl/blog/tags/api".into();
        tag.feed_base_url = tag.page_url.clone();

        let all = [Format::Atom, Format::Rss, Format::Json];
        let bytes = render_opml("Alle feeds", &[&blog, &tag], &all);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">")
        );
        assert!(text.contains("<title>Alle feeds</title>"));

        let found = outlines(&bytes);
        assert_eq!(found.len(), 2, "one outline per channel: {text}");
        let get = |o: &Vec<(String, String)>, k: &str| {
            o.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone())
        };
        let last = &found[1];
        assert_eq!(get(last, "type").as_deref(), Some("rss"));
        assert_eq!(
            get(last, "text").as_deref(),
            Some("Blog – tag: \"API\" & <co>")
        );
        assert_eq!(get(last, "title"), get(last, "text"));
        assert_eq!(
            get(last, "xmlUrl").as_deref(),
            Some("https://developer.example.nl/blog/tags/api/atom.xml")
        );
        assert_eq!(
            get(last, "htmlUrl").as_deref(),
            Some("https://developer.example.nl/blog/tags/api")
        );
        assert_eq!(get(last, "version"), None, "version is for RSS outlines");

        // Without Atom, RSS is preferred, and says so.
        let rss = outlines(&render_opml("x", &[&blog], &[Format::Json, Format::Rss]));
        assert!(get(&rss[0], "xmlUrl").unwrap().ends_with("/rss.xml"));
        assert_eq!(get(&rss[0], "version").as_deref(), Some("RSS2"));
        let json = outlines(&render_opml("x", &[&blog], &[Format::Json]));
        assert!(get(&json[0], "xmlUrl").unwrap().ends_with("/feed.json"));
    }

    #[test]
    fn opml_is_deterministic() {
        let posts = posts();
        let blog = channel(&posts, ChannelKind::Blog);
        assert_eq!(
            render_opml("x", &[&blog], &Format::ALL),
            render_opml("x", &[&blog], &Format::ALL)
        );
    }
}
