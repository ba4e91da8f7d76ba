//! The list headers every notification carries, which lettre has no types
//! for: `List-Id` (RFC 2919), `List-Unsubscribe` (RFC 2369) with RFC 8058
//! one-click, `Auto-Submitted` (RFC 3834) and `Precedence: bulk`.

use std::fmt::Write as _;

use email_encoding::headers::rfc2047;
use email_encoding::headers::writer::EmailWriter;
use lettre::message::header::{Header, HeaderName, HeaderValue};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `List-Id: "Blog title" <example.postbode.example.org>` (RFC 2919).
#[derive(Debug, Clone)]
pub(super) struct ListId {
    pub title: String,
    pub id: String,
}

impl Header for ListId {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Id")
    }

    fn parse(s: &str) -> Result<Self, BoxError> {
        let (title, id) = s.rsplit_once('<').ok_or("List-Id without <id>")?;
        Ok(ListId {
            title: title.trim().trim_matches('"').to_string(),
            id: id.trim_end().trim_end_matches('>').to_string(),
        })
    }

    fn display(&self) -> HeaderValue {
        let title: String = self.title.chars().filter(|c| !c.is_control()).collect();
        let title = title.trim();
        let raw = format!("{title} <{}>", self.id);
        if title.is_empty() {
            HeaderValue::new(Self::name(), format!("<{}>", self.id))
        } else if title.is_ascii() {
            // A quoted string, so specials in the title (`:` `,` `<`) stay text.
            let quoted = title.replace('\\', "\\\\").replace('"', "\\\"");
            HeaderValue::new(Self::name(), format!("\"{quoted}\" <{}>", self.id))
        } else {
            // RFC 2047 encoded words cannot sit inside a quoted string, so
            // the whole phrase becomes encoded words, folded to keep lines
            // under 78 characters (RFC 5322 §2.1.1); the id gets a line of
            // its own, as the last word may fill its line. Writing to a
            // String cannot fail.
            let mut value = String::new();
            {
                let mut w = EmailWriter::new(&mut value, "List-Id: ".len(), 0, false);
                let _ = rfc2047::encode(title, &mut w);
                let _ = w.new_line();
                w.space();
                let _ = write!(w, "<{}>", self.id);
            }
            HeaderValue::dangerous_new_pre_encoded(Self::name(), raw, value)
        }
    }
}

/// `List-Unsubscribe: <url>` (RFC 2369).
#[derive(Debug, Clone)]
pub(super) struct ListUnsubscribe(pub String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, BoxError> {
        Ok(ListUnsubscribe(
            s.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .into(),
        ))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// A header whose value never changes, as a unit struct lettre can set.
macro_rules! fixed_header {
    ($(#[$doc:meta])* $name:ident, $header:literal, $value:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub(super) struct $name;

        impl Header for $name {
            fn name() -> HeaderName {
                HeaderName::new_from_ascii_str($header)
            }

            fn parse(_: &str) -> Result<Self, BoxError> {
                Ok($name)
            }

            fn display(&self) -> HeaderValue {
                HeaderValue::new(Self::name(), $value.into())
            }
        }
    };
}

fixed_header!(
    /// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
    ListUnsubscribePost,
    "List-Unsubscribe-Post",
    "List-Unsubscribe=One-Click"
);

fixed_header!(
    /// `Auto-Submitted: auto-generated` (RFC 3834).
    AutoSubmitted,
    "Auto-Submitted",
    "auto-generated"
);

fixed_header!(
    /// `Precedence: bulk`: no standard (RFC 2076 only lists it), but what
    /// many vacation responders and list-aware filters still look for
    /// besides `Auto-Submitted`.
    PrecedenceBulk,
    "Precedence",
    "bulk"
);

#[cfg(test)]
mod tests {
    use mail_parser::MessageParser;

    use super::*;

    #[test]
    fn a_blog_title_with_accents_or_quotes_survives_in_list_id() {
        for title in [
            "Blog \"quoted\", with: specials",
            "Één blog – ünïcode, and a very long title that needs more than one encoded word",
        ] {
            let header = ListId {
                title: title.into(),
                id: "example.postbode.example.org".into(),
            };
            let mut headers = lettre::message::header::Headers::new();
            headers.set(header);
            let raw = format!("{headers}Subject: x\r\n\r\nbody\r\n");
            let m = MessageParser::default().parse(raw.as_bytes()).unwrap();
            let list = m.list_id().as_address().and_then(|a| a.first());
            assert_eq!(list.and_then(|a| a.name()), Some(title), "{raw}");
            assert_eq!(
                list.and_then(|a| a.address()),
                Some("example.postbode.example.org"),
                "{raw}"
            );
            assert!(raw.lines().all(|l| l.len() <= 78), "{raw}");
        }
    }
}
