//! Email messages as `notify` builds them, read back by an independent
//! parser (`mail-parser`): headers, both parts in both languages, digests,
//! unsubscribe links; the file outbox; and the fixtures the SMTP tests
//! (`smtp.rs`) share.

use std::path::Path;

use chrono::{DateTime, TimeZone as _, Utc};
use lettre::Message;
use mail_parser::MessageParser;
use postbode::config::subscribers::{
    Digest, EmailConfig, EmailTransport, Filter, Language, Subscriber, Target,
};
use postbode::notify::SendError;
use postbode::notify::email::{EmailError, Mailer, build_message, message_id, unsubscribe_token};
use postbode::notify::{BlogInfo, Payload, PostSnapshot, TagSnapshot};
use postbode::templates::Templates;

pub const UNSUBSCRIBE: &str = "https://blog.example.org/afmelden?s={subscriber}&t={token}";

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 7, 15, 8, 0, 0).unwrap()
}

pub fn config(transport: EmailTransport, outbox: &Path) -> EmailConfig {
    EmailConfig {
        from: "Developer Overheid <noreply@Example.org>".into(),
        transport,
        smtp_url: None,
        username_env: None,
        password_env: None,
        outbox: outbox.to_path_buf(),
        reply_to: Some("redactie@example.org".into()),
        unsubscribe_url: Some(UNSUBSCRIBE.into()),
        dkim: None,
    }
}

pub fn post(n: u32) -> PostSnapshot {
    PostSnapshot {
        title: format!("Café <API> & \"REST\" {n}"),
        url: format!("https://blog.example.org/blog/post-{n}"),
        summary: Some(format!("Waarom we overstappen, deel {n}. Één ding vooral.")),
        date: Utc.with_ymd_and_hms(2025, 7, 14, 9, 30, 0).unwrap(),
        tags: vec![
            TagSnapshot {
                key: "api".into(),
                label: "API".into(),
                url: "https://blog.example.org/blog/tags/api".into(),
            },
            TagSnapshot {
                key: "rest".into(),
                label: "REST".into(),
                url: "https://blog.example.org/blog/tags/rest".into(),
            },
        ],
        authors: vec!["Ada Lovelace".into(), "Bob".into(), "Chris".into()],
        image: Some(format!("https://blog.example.org/img/{n}.png")),
    }
}

pub fn payload(posts: u32) -> Payload {
    Payload {
        blog: BlogInfo {
            name: "example".into(),
            title: "Developer Overheid".into(),
            url: "https://blog.example.org/blog".into(),
            feed_url: "https://blog.example.org/feeds/atom.xml".into(),
        },
        posts: (1..=posts).map(post).collect(),
    }
}

pub fn subscriber(id: &str, address: &str, language: Language) -> Subscriber {
    Subscriber {
        id: id.into(),
        target: Target::Email {
            address: address.into(),
        },
        filter: Filter::default(),
        digest: Digest::None,
        language,
        origin: Default::default(),
    }
}

pub fn build(cfg: &EmailConfig, payload: &Payload, sub: &Subscriber, id: &str) -> Message {
    let templates = Templates::load(None).unwrap();
    build_message(cfg, &templates, payload, sub, id, now(), None).unwrap()
}

/// The message as a receiver parses it (independent parser), and its
/// text and HTML parts with plain newlines.
pub fn parsed(raw: &[u8]) -> (mail_parser::Message<'_>, String, String) {
    let message = MessageParser::default().parse(raw).unwrap();
    let text = message.body_text(0).unwrap().replace("\r\n", "\n");
    let html = message.body_html(0).unwrap().replace("\r\n", "\n");
    (message, text, html)
}

#[test]
fn a_dutch_message_has_list_headers_and_both_parts() {
    let cfg = config(EmailTransport::File, Path::new("/unused"));
    let sub = subscriber("alice", "alice@example.net", Language::Nl);
    let id = message_id("example", 42, &cfg.from);
    assert_eq!(id, "postbode.example.42@example.org");
    let raw = build(&cfg, &payload(1), &sub, &id).formatted();
    let (m, text, html) = parsed(&raw);

    assert_eq!(
        m.subject(),
        Some("Nieuw op Developer Overheid: Café <API> & \"REST\" 1")
    );
    let from = m.from().unwrap().first().unwrap();
    assert_eq!(from.name(), Some("Developer Overheid"));
    assert_eq!(from.address(), Some("noreply@Example.org"));
    assert_eq!(
        m.to().unwrap().first().unwrap().address(),
        Some("alice@example.net")
    );
    assert_eq!(
        m.reply_to().unwrap().first().unwrap().address(),
        Some("redactie@example.org")
    );
    assert_eq!(m.message_id(), Some(id.as_str()));
    assert_eq!(m.date().unwrap().to_timestamp(), now().timestamp());
    assert_eq!(
        m.header_raw("List-Id").unwrap().trim(),
        "\"Developer Overheid\" <example.postbode.example.org>"
    );
    let token = unsubscribe_token("example", "alice", "alice@example.net");
    assert_eq!(token.len(), 32);
    let url = format!("https://blog.example.org/afmelden?s=alice&t={token}");
    assert_eq!(
        m.header_raw("List-Unsubscribe").unwrap().trim(),
        format!("<{url}>")
    );
    assert_eq!(
        m.header_raw("List-Unsubscribe-Post").unwrap().trim(),
        "List-Unsubscribe=One-Click"
    );
    assert_eq!(
        m.header_raw("Auto-Submitted").unwrap().trim(),
        "auto-generated"
    );
    assert_eq!(m.header_raw("Precedence").unwrap().trim(), "bulk");

    for needle in [
        "Nieuw op Developer Overheid:\n\nCafé <API> & \"REST\" 1\n",
        "Datum: 14 juli 2025\n",
        "Door: Ada Lovelace, Bob en Chris\n",
        "Tags: API, REST\n",
        "\nWaarom we overstappen, deel 1. Één ding vooral.\n",
        "Lees verder: https://blog.example.org/blog/post-1\n",
        "\n-- \nJe krijgt deze e-mail omdat",
        &format!("Afmelden: {url}\n"),
        "Liever een feedreader? https://blog.example.org/feeds/atom.xml\n",
    ] {
        assert!(text.contains(needle), "{needle:?} missing in\n{text}");
    }
    assert!(!text.contains("\n\n\n"), "runs of blank lines in\n{text}");
    for needle in [
        "<html lang=\"nl\">",
        "<h1 style=",
        "<a href=\"https://blog.example.org/blog/post-1\" style=\"color:#0645ad;\">Café &lt;API&gt; &amp; &quot;REST&quot; 1</a></h1>",
        "<time datetime=\"2025-07-14T09:30:00Z\">14 juli 2025</time> · door Ada Lovelace, Bob en Chris",
        "<a href=\"https://blog.example.org/blog/tags/rest\" style=\"color:#0645ad;\">REST</a>",
        "Lees „Café &lt;API&gt; &amp; &quot;REST&quot; 1”",
        &format!(
            "<a href=\"{}\" style=\"color:#0645ad;\">Afmelden</a>",
            url.replace('&', "&amp;")
        ),
    ] {
        assert!(html.contains(needle), "{needle:?} missing in\n{html}");
    }
    assert!(!html.contains("<script") && !html.contains("<table"));
}

#[test]
fn an_english_message_speaks_english() {
    let cfg = config(EmailTransport::File, Path::new("/unused"));
    let sub = subscriber("bob", "bob@example.net", Language::En);
    let raw = build(&cfg, &payload(1), &sub, "x.1@example.org").formatted();
    let (m, text, html) = parsed(&raw);
    assert_eq!(
        m.subject(),
        Some("New on Developer Overheid: Café <API> & \"REST\" 1")
    );
    for needle in [
        "Date: 14 July 2025\n",
        "By: Ada Lovelace, Bob and Chris\n",
        "Read more: https://blog.example.org/blog/post-1\n",
        "Unsubscribe: https://blog.example.org/afmelden?s=bob&t=",
    ] {
        assert!(text.contains(needle), "{needle:?} missing in\n{text}");
    }
    for needle in [
        "<html lang=\"en\">",
        "14 July 2025</time> · by Ada Lovelace, Bob and Chris",
        "Read “Café &lt;API&gt; &amp; &quot;REST&quot; 1”",
        "\">Unsubscribe</a>",
    ] {
        assert!(html.contains(needle), "{needle:?} missing in\n{html}");
    }
}

#[test]
fn a_digest_lists_every_post_under_one_subject() {
    let cfg = config(EmailTransport::File, Path::new("/unused"));
    for (language, subject, intro) in [
        (
            Language::Nl,
            "Developer Overheid: 2 nieuwe berichten",
            "2 nieuwe berichten op Developer Overheid:\n",
        ),
        (
            Language::En,
            "Developer Overheid: 2 new posts",
            "2 new posts on Developer Overheid:\n",
        ),
    ] {
        let sub = subscriber("carol", "carol@example.net", language);
        let raw = build(&cfg, &payload(2), &sub, "x.2@example.org").formatted();
        let (m, text, html) = parsed(&raw);
        assert_eq!(m.subject(), Some(subject));
        assert!(text.starts_with(intro), "{text}");
        for n in [1, 2] {
            assert!(text.contains(&format!("\nCafé <API> & \"REST\" {n}\n")));
            assert!(text.contains(&format!("https://blog.example.org/blog/post-{n}\n")));
            assert!(html.contains(&format!("href=\"https://blog.example.org/blog/post-{n}\"")));
        }
        assert_eq!(html.matches("<h2 ").count(), 2, "{html}");
        assert_eq!(html.matches("<h1 ").count(), 1, "{html}");
    }
}

#[test]
fn without_an_unsubscribe_url_there_are_no_unsubscribe_headers_or_links() {
    let mut cfg = config(EmailTransport::File, Path::new("/unused"));
    cfg.unsubscribe_url = None;
    cfg.reply_to = None;
    let sub = subscriber("dave", "dave@example.net", Language::Nl);
    let raw = build(&cfg, &payload(1), &sub, "x.3@example.org").formatted();
    let (m, text, html) = parsed(&raw);
    assert!(m.header_raw("List-Unsubscribe").is_none());
    assert!(m.header_raw("List-Unsubscribe-Post").is_none());
    assert!(m.header_raw("Reply-To").is_none());
    assert!(!text.contains("Afmelden") && !html.contains("Afmelden"));
}

#[test]
fn a_mailto_unsubscribe_gets_no_one_click_header() {
    let mut cfg = config(EmailTransport::File, Path::new("/unused"));
    cfg.unsubscribe_url = Some("mailto:leave@example.org?subject={subscriber}".into());
    let sub = subscriber("erin x/y", "erin@example.net", Language::Nl);
    let raw = build(&cfg, &payload(1), &sub, "x.4@example.org").formatted();
    let (m, _, _) = parsed(&raw);
    assert_eq!(
        m.header_raw("List-Unsubscribe").unwrap().trim(),
        "<mailto:leave@example.org?subject=erin%20x%2Fy>"
    );
    assert!(m.header_raw("List-Unsubscribe-Post").is_none());
}

#[test]
fn a_message_without_posts_or_with_a_bad_address_is_an_error() {
    let cfg = config(EmailTransport::File, Path::new("/unused"));
    let sub = subscriber("f", "f@example.net", Language::Nl);
    let templates = Templates::load(None).unwrap();
    let none = build_message(&cfg, &templates, &payload(0), &sub, "i@x", now(), None);
    assert!(matches!(none, Err(EmailError::NoPosts)));
    let bad = build_message(
        &cfg,
        &templates,
        &payload(1),
        &subscriber("f", "not an address", Language::Nl),
        "i@x",
        now(),
        None,
    );
    assert!(
        matches!(&bad, Err(EmailError::Address { field: "to", .. })),
        "{bad:?}"
    );
}

#[tokio::test]
async fn a_password_is_never_sent_unencrypted_to_another_host() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(EmailTransport::Smtp, dir.path());
    cfg.smtp_url = Some("smtp://mail.example.org:25".into());
    cfg.username_env = Some("U".into());
    cfg.password_env = Some("P".into());
    let env = |k: &str| Some(format!("value of {k}"));
    let Err(err) = Mailer::connect(&cfg, &env).await else {
        panic!("connected")
    };
    assert!(matches!(&err, SendError::Permanent { reason } if reason.contains("unencrypted")));
    cfg.password_env = Some("UNSET".into());
    cfg.smtp_url = Some("smtps://mail.example.org".into());
    let env = |k: &str| (k == "U").then(|| "user".to_string());
    let Err(err) = Mailer::connect(&cfg, &env).await else {
        panic!("connected")
    };
    assert!(err.to_string().contains("UNSET"), "{err}");
}

#[tokio::test]
async fn the_file_outbox_keeps_one_eml_per_message_id() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox");
    let cfg = config(EmailTransport::File, &outbox);
    let mut mailer = Mailer::connect(&cfg, &|_| None).await.unwrap();
    let sub = subscriber("alice", "alice@example.net", Language::Nl);
    let first = build(&cfg, &payload(1), &sub, "postbode.example.1@example.org");
    let second = build(&cfg, &payload(2), &sub, "postbode.example.2@example.org");
    mailer.send(&first, "alice@example.net").await.unwrap();
    mailer.send(&second, "alice@example.net").await.unwrap();
    // A resend after a crash: same id, same file.
    mailer.send(&first, "alice@example.net").await.unwrap();
    mailer.close().await;

    let mut names: Vec<String> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "postbode.example.1@example.org.eml",
            "postbode.example.2@example.org.eml"
        ]
    );
    let saved = std::fs::read(outbox.join(&names[0])).unwrap();
    assert_eq!(saved, first.formatted());
    let (m, _, _) = parsed(&saved);
    assert_eq!(m.message_id(), Some("postbode.example.1@example.org"));
}
