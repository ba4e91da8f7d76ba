//! OPML 2.0 (`feeds.opml`): every channel in every format as one subscription
//! list, so a reader can import all tag and author feeds at once. Written with
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
                for channel in channels {
                    let name = xml_safe(&channel.title);
                    for &format in formats {
                        let text = format!("{name} ({})", format.label());
                        let feed_url = channel.feed_url(format);
                        // OPML 2.0: type="rss" marks a subscription, whatever
                        // the feed's actual format.
                        w.create_element("outline")
                            .with_attribute(("type", "rss"))
                            .with_attribute(("text", text.as_str()))
                            .with_attribute(("title", text.as_str()))
                            .with_attribute(("xmlUrl", feed_url.as_str()))
                            .with_attribute(("htmlUrl", channel.page_url.as_str()))
                            .write_empty()?;
                    }
                }
                Ok(())
            })?;
            Ok(())
        })?;
    Ok(())
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
    fn opml_lists_one_outline_per_channel_and_format() {
        let posts = posts();
        let blog = channel(&posts, ChannelKind::Blog);
        let mut tag = channel(&posts, ChannelKind::Tag);
        tag.title = "Blog – tag: \"API\" & <co>".into();
        tag.page_url = "https://developer.example.nl/blog/tags/api".into();
        tag.feed_base_url = tag.page_url.clone();

        let bytes = render_opml("Alle feeds", &[&blog, &tag], &[Format::Atom, Format::Rss]);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">")
        );
        assert!(text.contains("<title>Alle feeds</title>"));

        let found = outlines(&bytes);
        assert_eq!(found.len(), 4);
        let last = &found[3];
        let get = |k: &str| {
            last.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("type"), Some("rss"));
        assert_eq!(get("text"), Some("Blog – tag: \"API\" & <co> (RSS)"));
        assert_eq!(get("title"), get("text"));
        assert_eq!(
            get("xmlUrl"),
            Some("https://developer.example.nl/blog/tags/api/rss.xml")
        );
        assert_eq!(
            get("htmlUrl"),
            Some("https://developer.example.nl/blog/tags/api")
        );
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
