//! Building the message for one delivery with lettre: subject and both
//! bodies from the subscriber's language's templates, the list headers, and
//! a `Message-ID` derived from the outbox row (stable across retries), with
//! the unsubscribe link and its token.

use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::{ContentTransferEncoding, ContentType, MIME_VERSION_1_0};
use lettre::message::{Body, Mailbox, MultiPart};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::EmailError;
use super::headers::{AutoSubmitted, ListId, ListUnsubscribe, ListUnsubscribePost, PrecedenceBulk};
use super::links::Links;
use crate::config::subscribers::{EmailConfig, Subscriber, Target, is_loopback};
use crate::notify::Payload;
use crate::templates::Templates;

/// What RFC 3986 leaves unencoded: the unreserved characters.
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The `Message-ID` (without angle brackets) of a delivery:
/// `postbode.<blog>.<delivery id>@<domain of from>`. Stable across retries,
/// so a receiver can drop a duplicate.
pub fn message_id(blog: &str, delivery_id: i64, from: &str) -> String {
    format!(
        "postbode.{}.{delivery_id}@{}",
        atom(blog),
        from_domain(from)
    )
}

/// The token in an unsubscribe URL: the first 32 hex digits of
/// SHA-256(`postbode-unsubscribe:<blog>:<subscriber>:<address>`). It lets
/// an unsubscribe endpoint tell a real link from a guessed subscriber id.
/// It is unkeyed: whoever knows the blog, the subscriber id and the address
/// can compute it, so it proves no more than knowing those three.
pub fn unsubscribe_token(blog: &str, subscriber: &str, address: &str) -> String {
    let digest = Sha256::digest(format!(
        "postbode-unsubscribe:{blog}:{subscriber}:{address}"
    ));
    let mut token = hex::encode(digest);
    token.truncate(32);
    token
}

/// `template` (the configured `unsubscribe_url`) with `{subscriber}` and
/// `{token}` filled in, percent-encoded.
pub fn unsubscribe_url(template: &str, blog: &str, subscriber: &str, address: &str) -> String {
    template
        .replace(
            "{subscriber}",
            &utf8_percent_encode(subscriber, NOT_UNRESERVED).to_string(),
        )
        .replace("{token}", &unsubscribe_token(blog, subscriber, address))
}

/// Builds the message telling `subscriber` (at its address) about
/// `payload`: subject and both bodies from the subscriber's language's
/// templates, list headers, and the given `Message-ID` and `Date`.
pub fn build_message(
    cfg: &EmailConfig,
    templates: &Templates,
    payload: &Payload,
    subscriber: &Subscriber,
    message_id: &str,
    date: DateTime<Utc>,
    links: Option<&Links>,
) -> Result<Message, EmailError> {
    if payload.posts.is_empty() {
        return Err(EmailError::NoPosts);
    }
    let Target::Email { address: to } = &subscriber.target else {
        return Err(EmailError::NotEmail(subscriber.id.clone()));
    };
    let from = mailbox("from", &cfg.from)?;
    let recipient = mailbox("to", to)?;
    let blog = &payload.blog;
    // The service's signed links when the blog has [serve]; else the
    // operator's own endpoint, if any.
    let unsubscribe = match links {
        Some(links) => Some(links.unsubscribe(&blog.name, subscriber)),
        None => cfg
            .unsubscribe_url
            .as_deref()
            .map(|template| unsubscribe_url(template, &blog.name, &subscriber.id, to)),
    };
    let manage = links.and_then(|l| l.manage(&blog.name, subscriber));
    let language = subscriber.language.code();
    let ctx = json!({
        "blog": blog,
        "posts": payload.posts,
        // A digest that happens to hold one post reads as a single post.
        "digest": payload.posts.len() > 1,
        "subscriber": { "id": subscriber.id },
        "unsubscribe_url": unsubscribe,
        "manage_url": manage,
        "language": language,
    });
    let subject = one_line(&templates.render(&format!("email/{language}/subject.txt"), &ctx)?);
    let text = templates.render(&format!("email/{language}/body.txt"), &ctx)?;
    let html = templates.render(&format!("email/{language}/body.html"), &ctx)?;

    let mut builder = Message::builder()
        .from(from)
        .to(recipient)
        .subject(subject)
        .date(date.into())
        .message_id(Some(format!("<{message_id}>")))
        .header(ListId {
            title: blog.title.clone(),
            id: format!("{}.postbode.{}", atom(&blog.name), from_domain(&cfg.from)),
        })
        // RFC 3834: keeps vacation responders from answering a notification.
        .header(AutoSubmitted)
        .header(PrecedenceBulk);
    if let Some(reply_to) = &cfg.reply_to {
        builder = builder.reply_to(mailbox("reply_to", reply_to)?);
    }
    if let Some(url) = unsubscribe {
        // RFC 8058 one-click needs an HTTPS URI to POST to (plain http
        // only on loopback, where the tests serve); a mailto: link gets
        // the plain header only.
        let one_click = url.starts_with("https://") || is_loopback_http(&url);
        builder = builder.header(ListUnsubscribe(url));
        if one_click {
            builder = builder.header(ListUnsubscribePost);
        }
    }
    let parts = MultiPart::alternative_plain_html(text, html);
    // lettre keeps a multipart's Content-Type with the body, where a DKIM
    // signature (which covers the message's own headers) cannot reach it:
    // the message takes it over and carries the parts, already encoded
    // (7-bit: lettre encodes each part as quoted-printable or base64 when
    // needed), as its body.
    let content_type = parts
        .headers()
        .get::<ContentType>()
        .ok_or(EmailError::NoContentType)?;
    let whole = parts.formatted();
    let body = whole
        .get(parts.headers().to_string().len() + 2..)
        .unwrap_or_default()
        .to_vec();
    Ok(builder
        .header(MIME_VERSION_1_0)
        .header(content_type)
        .body(Body::dangerous_pre_encoded(
            body,
            ContentTransferEncoding::SevenBit,
        ))?)
}

fn is_loopback_http(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| u.scheme() == "http" && is_loopback(&u))
}

fn mailbox(field: &'static str, value: &str) -> Result<Mailbox, EmailError> {
    value.parse().map_err(|source| EmailError::Address {
        field,
        value: value.to_string(),
        source,
    })
}

/// A subject is one header line: template newlines and runs of spaces become
/// single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The domain of `from` (`Name <a@b.example>` or `a@b.example`), lowercase;
/// `localhost` if it has none.
fn from_domain(from: &str) -> String {
    match from.parse::<Mailbox>() {
        Ok(mailbox) => mailbox.email.domain().to_ascii_lowercase(),
        Err(_) => from
            .rsplit_once('@')
            .map(|(_, d)| d.trim_end_matches('>').trim().to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "localhost".to_string()),
    }
}

/// `name` as a dot-atom part of a `Message-ID` or `List-Id`.
fn atom(name: &str) -> String {
    let atom: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if atom.is_empty() {
        "blog".to_string()
    } else {
        atom
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_and_tokens_are_stable_and_safe() {
        assert_eq!(
            message_id("my blog", 7, "noreply@example.org"),
            "postbode.my-blog.7@example.org"
        );
        assert_eq!(message_id("b", 1, "nobody"), "postbode.b.1@localhost");
        assert_eq!(
            unsubscribe_token("b", "s", "a@x"),
            unsubscribe_token("b", "s", "a@x")
        );
        assert_ne!(
            unsubscribe_token("b", "s", "a@x"),
            unsubscribe_token("b", "s", "b@x")
        );
    }
}
