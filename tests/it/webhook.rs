//! Webhook messages and the webhook client: the shape of each format (the
//! Standard Webhooks signature checked independently), then sending to the
//! real HTTP receiver on 127.0.0.1 (`receiver.rs`): retries, refusals,
//! timeouts, redirects and many requests in flight.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use postbode::config::subscribers::{Language, WebhookFormat};
use postbode::net::USER_AGENT;
use postbode::notify::webhook::{
    PreparedRequest, WebhookClient, WebhookError, display_url, host_key, prepare, prepare_in,
};
use postbode::notify::{BlogInfo, Payload, PostSnapshot, SendError, TagSnapshot};
use postbode::templates::Templates;
use secrecy::SecretString;
use serde_json::Value;
use sha2::Sha256;

use crate::receiver::{Receiver, Reply};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 7, 15, 8, 0, 0).unwrap()
}

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The part of a Slack-style URL that is the secret.
const TOKEN: &str = "XOXsecretTOKEN123";

fn post(n: usize) -> PostSnapshot {
    PostSnapshot {
        title: format!("Post {n}: API's & <REST>"),
        url: format!("https://developer.overheid.nl/blog/2025/07/15/post-{n}"),
        summary: Some("Een *samenvatting* met [haken] & meer.".into()),
        date: Utc.with_ymd_and_hms(2025, 7, 15, 0, 0, 0).unwrap(),
        tags: vec![
            TagSnapshot {
                key: "api".into(),
                label: "API".into(),
                url: "https://developer.overheid.nl/blog/tags/api".into(),
            },
            TagSnapshot {
                key: "rest".into(),
                label: "REST".into(),
                url: "https://developer.overheid.nl/blog/tags/rest".into(),
            },
        ],
        authors: vec!["Ann de Vries".into(), "Bo Jansen".into()],
        image: Some("https://developer.overheid.nl/img/post.png".into()),
    }
}

fn payload(posts: usize) -> Payload {
    Payload {
        blog: BlogInfo {
            name: "blog".into(),
            title: "Developer Overheid".into(),
            url: "https://developer.overheid.nl/blog".into(),
            feed_url: "https://developer.overheid.nl/blog/atom.xml".into(),
        },
        posts: (1..=posts).map(post).collect(),
    }
}

fn templates() -> Templates {
    Templates::load(None).unwrap()
}

fn secret_url() -> SecretString {
    SecretString::from(format!("https://hooks.example.com/services/T0/B0/{TOKEN}"))
}

fn make(payload: &Payload, format: WebhookFormat, secret: Option<&str>) -> PreparedRequest {
    let secret = secret.map(SecretString::from);
    prepare(
        payload,
        format,
        &secret_url(),
        secret.as_ref(),
        &templates(),
        "msg_42",
        now(),
    )
    .unwrap()
}

fn body(req: &PreparedRequest) -> Value {
    serde_json::from_slice(&req.body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&req.body)))
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v:#}"))
}

/// Length as Slack and Discord count it, at most.
fn len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// Recomputes a Standard Webhooks signature from scratch.
fn expected_signature(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = BASE64.decode(key).unwrap();
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(&signed);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

#[test]
fn the_json_format_is_the_documented_contract() {
    let req = make(&payload(1), WebhookFormat::Json, Some(SECRET));
    let v = body(&req);
    assert_eq!(v["type"], "post.published");
    assert_eq!(v["timestamp"], "2025-07-15T08:00:00Z");
    assert_eq!(v["blog"]["name"], "blog");
    assert_eq!(v["blog"]["title"], "Developer Overheid");
    assert_eq!(
        v["blog"]["feed_url"],
        "https://developer.overheid.nl/blog/atom.xml"
    );
    let p = &v["posts"][0];
    assert_eq!(v["post"], *p);
    assert_eq!(p["title"], "Post 1: API's & <REST>");
    assert_eq!(
        p["url"],
        "https://developer.overheid.nl/blog/2025/07/15/post-1"
    );
    assert_eq!(p["summary"], "Een *samenvatting* met [haken] & meer.");
    assert_eq!(p["date"], "2025-07-15T00:00:00Z");
    assert_eq!(
        p["tags"][0],
        serde_json::json!({"key": "api", "label": "API", "url": "https://developer.overheid.nl/blog/tags/api"})
    );
    assert_eq!(
        p["authors"],
        serde_json::json!(["Ann de Vries", "Bo Jansen"])
    );
    assert_eq!(p["image"], "https://developer.overheid.nl/img/post.png");

    assert_eq!(req.header("content-type"), Some("application/json"));
    assert!(req.header("user-agent").unwrap().starts_with("postbode/"));
    assert_eq!(req.header("webhook-id"), Some("msg_42"));
    assert_eq!(req.header("webhook-timestamp"), Some("1752566400"));
}

#[test]
fn absent_summary_and_image_are_null_and_a_digest_has_no_single_post() {
    let mut p = payload(3);
    p.posts[0].summary = None;
    p.posts[0].image = None;
    let v = body(&make(&p, WebhookFormat::Json, None));
    assert_eq!(v["type"], "posts.digest");
    assert!(v.get("post").is_none());
    assert_eq!(v["posts"].as_array().unwrap().len(), 3);
    assert!(v["posts"][0]["summary"].is_null());
    assert!(v["posts"][0]["image"].is_null());
    assert_eq!(v["posts"][2]["title"], "Post 3: API's & <REST>");
}

#[test]
fn the_signature_verifies_independently_and_tampering_breaks_it() {
    let req = make(&payload(1), WebhookFormat::Json, Some(SECRET));
    let id = req.header("webhook-id").unwrap();
    let ts = req.header("webhook-timestamp").unwrap();
    let sig = req.header("webhook-signature").unwrap();
    assert_eq!(sig, expected_signature(SECRET, id, ts, &req.body));

    let mut tampered = req.body.clone();
    tampered[10] ^= 1;
    assert_ne!(sig, expected_signature(SECRET, id, ts, &tampered));
    assert_ne!(sig, expected_signature(SECRET, id, "1752566401", &req.body));
    assert_ne!(sig, expected_signature(SECRET, "msg_43", ts, &req.body));
    // The same secret without its prefix is the same key.
    let bare = make(&payload(1), WebhookFormat::Json, Some(&SECRET[6..]));
    assert_eq!(bare.header("webhook-signature"), Some(sig));
}

#[test]
fn a_secret_that_is_not_base64_signs_with_its_raw_bytes() {
    let secret = "not base64: a shared password!";
    let req = make(&payload(1), WebhookFormat::Json, Some(secret));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(b"msg_42.1752566400.");
    mac.update(&req.body);
    let expected = format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()));
    assert_eq!(req.header("webhook-signature"), Some(expected.as_str()));
}

#[test]
fn without_a_secret_there_is_no_signature_but_still_an_id_and_timestamp() {
    let req = make(&payload(1), WebhookFormat::Json, None);
    assert!(req.header("webhook-signature").is_none());
    assert_eq!(req.header("webhook-id"), Some("msg_42"));
    assert_eq!(req.header("webhook-timestamp"), Some("1752566400"));
}

#[test]
fn every_format_is_deterministic_and_carries_the_common_headers() {
    for format in [
        WebhookFormat::Json,
        WebhookFormat::Slack,
        WebhookFormat::Teams,
        WebhookFormat::Mattermost,
        WebhookFormat::Discord,
    ] {
        for n in [1, 3] {
            let a = make(&payload(n), format, Some(SECRET));
            let b = make(&payload(n), format, Some(SECRET));
            assert_eq!(a, b, "{format:?}");
            body(&a);
            assert_eq!(a.header("content-type"), Some("application/json"));
            assert_eq!(a.header("user-agent"), Some(USER_AGENT));
            assert_eq!(a.header("webhook-id"), Some("msg_42"));
            assert_eq!(
                a.header("webhook-signature").is_some(),
                format == WebhookFormat::Json
            );
        }
    }
}

#[test]
fn slack_gets_block_kit_with_escaped_mrkdwn_and_a_plain_fallback() {
    let v = body(&make(&payload(1), WebhookFormat::Slack, None));
    let text = str_at(&v, "/text");
    assert!(text.contains("Post 1: API's &amp; &lt;REST&gt;"), "{text}");
    assert!(text.contains("<https://developer.overheid.nl/blog|Developer Overheid>"));
    let blocks = v["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert_eq!(
        blocks[0]["text"]["text"],
        "Nieuw bericht op Developer Overheid"
    );
    assert_eq!(blocks[1]["type"], "section");
    assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
    assert_eq!(
        str_at(&v, "/blocks/1/text/text"),
        "*<https://developer.overheid.nl/blog/2025/07/15/post-1|Post 1: API's &amp; &lt;REST&gt;>*\n\
         Een *samenvatting* met [haken] &amp; meer."
    );
    assert_eq!(blocks[1]["accessory"]["type"], "image");
    assert_eq!(
        blocks[1]["accessory"]["image_url"],
        "https://developer.overheid.nl/img/post.png"
    );
    assert_eq!(blocks[1]["accessory"]["alt_text"], "Post 1: API's & <REST>");
    assert_eq!(blocks[2]["type"], "context");
    assert_eq!(
        str_at(&v, "/blocks/2/elements/0/text"),
        "15 juli 2025 · Ann de Vries en Bo Jansen · \
         <https://developer.overheid.nl/blog/tags/api|API>, <https://developer.overheid.nl/blog/tags/rest|REST>"
    );
    assert_eq!(blocks.len(), 3);
}

#[test]
fn slack_text_stays_within_block_kit_limits() {
    let mut p = payload(1);
    p.posts[0].title = "Lange titel & meer ".repeat(30);
    p.posts[0].summary = Some("Woorden & <tekens> ".repeat(600));
    let v = body(&make(&p, WebhookFormat::Slack, None));
    assert!(len(str_at(&v, "/blocks/0/text/text")) <= 150);
    let section = str_at(&v, "/blocks/1/text/text");
    assert!(len(section) <= 3000, "{}", len(section));
    assert!(section.ends_with('…'));
    assert!(section.len() > 2500, "the summary is cut, not dropped");
}

#[test]
fn a_slack_digest_lists_the_posts_within_fifty_blocks_and_says_how_many_more() {
    let v = body(&make(&payload(25), WebhookFormat::Slack, None));
    let blocks = v["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50);
    assert_eq!(
        blocks[0]["text"]["text"],
        "25 nieuwe berichten op Developer Overheid"
    );
    let sections: Vec<&Value> = blocks.iter().filter(|b| b["type"] == "section").collect();
    assert_eq!(sections.len(), 20);
    assert!(
        sections
            .iter()
            .all(|s| s.get("accessory").is_none() && len(str_at(s, "/text/text")) < 3000)
    );
    let last = str_at(blocks.last().unwrap(), "/elements/0/text");
    assert_eq!(
        last,
        "…en nog 5 berichten: <https://developer.overheid.nl/blog|Alle berichten>"
    );
}

#[test]
fn teams_gets_an_adaptive_card_for_a_workflows_webhook() {
    let v = body(&make(&payload(1), WebhookFormat::Teams, None));
    assert_eq!(v["type"], "message");
    let att = &v["attachments"][0];
    assert_eq!(
        att["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert!(att["contentUrl"].is_null());
    let card = &att["content"];
    assert_eq!(
        card["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    let texts: Vec<&str> = card["body"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "TextBlock")
        .map(|b| b["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "Nieuw bericht op Developer Overheid",
            "Post 1: API's & \\<REST>",
            "15 juli 2025 · Ann de Vries en Bo Jansen",
            "Een \\*samenvatting\\* met \\[haken\\] & meer.",
            "Tags: API, REST",
        ]
    );
    assert!(
        card["body"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["type"] == "Image"
                && b["url"] == "https://developer.overheid.nl/img/post.png")
    );
    assert_eq!(
        card["actions"][0],
        serde_json::json!({"type": "Action.OpenUrl", "title": "Lees het bericht",
            "url": "https://developer.overheid.nl/blog/2025/07/15/post-1"})
    );
}

/// What a CommonMark renderer (Teams draws card text with one) makes of
/// `md`: the text it shows, or the first markup it found instead.
fn rendered_text(md: &str) -> Result<String, String> {
    use pulldown_cmark::{Event, Options, Parser, Tag};
    let mut text = String::new();
    for event in Parser::new_ext(md, Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES) {
        match event {
            Event::Text(t) => text.push_str(&t),
            Event::SoftBreak | Event::HardBreak => text.push('\n'),
            Event::Start(Tag::Paragraph) => {
                if !text.is_empty() {
                    text.push('\n');
                }
            }
            Event::End(_) => {}
            other => return Err(format!("{other:?} in {md:?}")),
        }
    }
    Ok(text)
}

#[test]
fn teams_shows_markdown_in_titles_and_summaries_as_text() {
    let title = "**Bold** [link](https://evil.example) _x_ <b> `code` ~~weg~~";
    let summary =
        "# Kop\n- een\n+ twee\n1. drie\n> citaat\nAnn*s* ![img](https://evil.example/x.png)";
    let mut p = payload(1);
    p.posts[0].title = title.into();
    p.posts[0].summary = Some(summary.into());
    p.posts[0].authors = vec!["Ann *de* Vries".into(), "_Bo_".into()];
    p.posts[0].tags[0].label = "C#_[x](y)".into();
    p.blog.title = "Blog **vet**".into();
    let v = body(&make(&p, WebhookFormat::Teams, None));
    let texts: Vec<&str> = v["attachments"][0]["content"]["body"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "TextBlock")
        .map(|b| b["text"].as_str().unwrap())
        .collect();
    let shown: Vec<String> = texts
        .iter()
        .map(|t| rendered_text(t).unwrap_or_else(|e| panic!("markup in a TextBlock: {e}")))
        .collect();
    assert_eq!(
        shown,
        [
            "Nieuw bericht op Blog **vet**".to_string(),
            title.to_string(),
            "15 juli 2025 · Ann *de* Vries en _Bo_".to_string(),
            summary.to_string(),
            "Tags: C#_[x](y), REST".to_string(),
        ]
    );
    // A digest's containers too.
    let mut p = p.clone();
    p.posts.push(p.posts[0].clone());
    let v = body(&make(&p, WebhookFormat::Teams, None));
    for container in v["attachments"][0]["content"]["body"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "Container")
    {
        let title_block = container["items"][0]["text"].as_str().unwrap();
        assert_eq!(rendered_text(title_block).unwrap(), title);
    }
}

#[test]
fn a_teams_digest_has_a_clickable_container_per_post() {
    let v = body(&make(&payload(3), WebhookFormat::Teams, None));
    let card = &v["attachments"][0]["content"];
    let containers: Vec<&Value> = card["body"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "Container")
        .collect();
    assert_eq!(containers.len(), 3);
    assert_eq!(containers[2]["selectAction"]["type"], "Action.OpenUrl");
    assert_eq!(
        containers[2]["selectAction"]["url"],
        "https://developer.overheid.nl/blog/2025/07/15/post-3"
    );
    assert_eq!(
        containers[2]["items"][0]["text"],
        "Post 3: API's & \\<REST>"
    );
    assert_eq!(
        card["body"][0]["text"],
        "3 nieuwe berichten op Developer Overheid"
    );
    assert_eq!(
        card["actions"][0]["url"],
        "https://developer.overheid.nl/blog"
    );
}

#[test]
fn mattermost_gets_markdown_text_and_an_attachment() {
    let v = body(&make(&payload(1), WebhookFormat::Mattermost, None));
    assert_eq!(v["text"], "Nieuw bericht op **Developer Overheid**");
    let att = &v["attachments"][0];
    assert_eq!(
        att["fallback"],
        "Nieuw bericht op Developer Overheid: Post 1: API's & <REST>"
    );
    assert_eq!(att["title"], "Post 1: API's & <REST>");
    assert_eq!(
        att["title_link"],
        "https://developer.overheid.nl/blog/2025/07/15/post-1"
    );
    assert_eq!(
        att["text"],
        "Een \\*samenvatting\\* met \\[haken\\] & meer."
    );
    assert_eq!(att["author_name"], "Ann de Vries en Bo Jansen");
    assert_eq!(
        att["image_url"],
        "https://developer.overheid.nl/img/post.png"
    );
    assert_eq!(att["fields"][0]["value"], "15 juli 2025");
    assert_eq!(
        att["fields"][1]["value"],
        "[API](https://developer.overheid.nl/blog/tags/api), [REST](https://developer.overheid.nl/blog/tags/rest)"
    );
}

#[test]
fn a_mattermost_digest_is_a_markdown_list() {
    let v = body(&make(&payload(3), WebhookFormat::Mattermost, None));
    let text = str_at(&v, "/text");
    assert!(text.starts_with("#### 3 nieuwe berichten op **Developer Overheid**\n"));
    for n in 1..=3 {
        let item = format!(
            "\n- **[Post {n}: API's & \\<REST\\>](https://developer.overheid.nl/blog/2025/07/15/post-{n})** · 15 juli 2025"
        );
        assert!(text.contains(&item), "{item} in\n{text}");
    }
    assert!(v.get("attachments").is_none());
}

#[test]
fn mattermost_mentions_in_post_text_do_not_notify_anyone() {
    let mut p = payload(1);
    p.posts[0].summary = Some("Hallo @channel en @all".into());
    let v = body(&make(&p, WebhookFormat::Mattermost, None));
    assert_eq!(
        v["attachments"][0]["text"],
        "Hallo @\u{200B}channel en @\u{200B}all"
    );
}

#[test]
fn a_long_digest_renders_as_a_bounded_list_in_every_chat_format() {
    let mut p = payload(25);
    for post in &mut p.posts {
        post.title = "Een lange titel ".repeat(30);
        post.summary = Some("Een lange samenvatting ".repeat(200));
    }
    for (format, max_bytes) in [
        (WebhookFormat::Slack, 40_000),
        (WebhookFormat::Teams, 28_000),
        (WebhookFormat::Mattermost, 16_383 * 3),
        (WebhookFormat::Discord, 6_000 * 3),
    ] {
        let req = make(&p, format, None);
        let text = String::from_utf8(req.body.clone()).unwrap();
        body(&req);
        assert!(text.len() <= max_bytes, "{format:?}: {} bytes", text.len());
        assert!(text.contains("…en nog "), "{format:?} says how many more");
        assert!(text.contains("post-1"), "{format:?}");
        assert!(!text.contains("post-21\""), "{format:?}");
    }
    let v = body(&make(&p, WebhookFormat::Mattermost, None));
    assert!(len(str_at(&v, "/text")) <= 16_383);
}

#[test]
fn discord_gets_embeds_without_mentions() {
    let mut p = payload(1);
    p.posts[0].summary = Some("Ping @everyone".into());
    let v = body(&make(&p, WebhookFormat::Discord, None));
    assert_eq!(v["content"], "Nieuw bericht op **Developer Overheid**");
    assert_eq!(v["allowed_mentions"], serde_json::json!({"parse": []}));
    let e = &v["embeds"][0];
    assert_eq!(e["title"], "Post 1: API's & <REST>");
    assert_eq!(
        e["url"],
        "https://developer.overheid.nl/blog/2025/07/15/post-1"
    );
    assert_eq!(e["description"], "Ping @everyone");
    assert_eq!(e["timestamp"], "2025-07-15T00:00:00Z");
    assert_eq!(e["author"]["name"], "Ann de Vries en Bo Jansen");
    assert_eq!(
        e["image"]["url"],
        "https://developer.overheid.nl/img/post.png"
    );
    assert_eq!(e["fields"][0]["name"], "Tags");
    assert_eq!(e["footer"]["text"], "Developer Overheid");
}

#[test]
fn discord_embeds_stay_within_discords_limits_in_a_long_digest() {
    let long = |mut p: Payload| {
        for post in &mut p.posts {
            post.title = "Titel ".repeat(100);
            post.summary = Some("Samenvatting ".repeat(1000));
        }
        p
    };
    let single = body(&make(&long(payload(1)), WebhookFormat::Discord, None));
    let e = &single["embeds"][0];
    assert!(len(str_at(e, "/title")) <= 256);
    assert!(len(str_at(e, "/description")) <= 4096);
    assert!(len(str_at(e, "/description")) > 3000);

    let v = body(&make(&long(payload(12)), WebhookFormat::Discord, None));
    let embeds = v["embeds"].as_array().unwrap();
    assert_eq!(embeds.len(), 10);
    let total: usize = embeds
        .iter()
        .map(|e| {
            ["/title", "/description", "/author/name", "/footer/text"]
                .iter()
                .filter_map(|k| e.pointer(k).and_then(Value::as_str))
                .map(len)
                .sum::<usize>()
        })
        .sum();
    assert!(total <= 6000, "{total}");
    let content = str_at(&v, "/content");
    assert!(len(content) <= 2000);
    assert!(
        content.ends_with(
            "…en nog 2 berichten: [Alle berichten](<https://developer.overheid.nl/blog>)"
        )
    );
}

#[test]
fn english_subscribers_get_english_labels() {
    let req = prepare_in(
        Language::En,
        &payload(1),
        WebhookFormat::Teams,
        &secret_url(),
        None,
        &templates(),
        "msg_42",
        now(),
    )
    .unwrap();
    let v = body(&req);
    let card = &v["attachments"][0]["content"];
    assert_eq!(card["body"][0]["text"], "New post on Developer Overheid");
    assert_eq!(
        card["body"][2]["text"],
        "15 July 2025 · Ann de Vries and Bo Jansen"
    );
    assert_eq!(card["actions"][0]["title"], "Read the post");
}

#[test]
fn an_override_template_is_used_and_one_that_is_not_json_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("webhook")).unwrap();
    std::fs::write(
        dir.path().join("webhook/slack.json"),
        r#"{"text": {{ post.title_md ~ " " ~ post.url }}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("webhook/discord.json"),
        r#"{"content": "{{ post.title }}"}"#,
    )
    .unwrap();
    let templates = Templates::load(Some(dir.path())).unwrap();
    let go = |format| {
        prepare(
            &payload(1),
            format,
            &secret_url(),
            None,
            &templates,
            "msg_42",
            now(),
        )
    };
    let slack = body(&go(WebhookFormat::Slack).unwrap());
    assert_eq!(
        slack["text"],
        "Post 1: API's &amp; &lt;REST&gt; https://developer.overheid.nl/blog/2025/07/15/post-1"
    );
    let err = go(WebhookFormat::Discord).unwrap_err().to_string();
    assert!(
        err.starts_with("template webhook/discord.json did not render JSON"),
        "{err}"
    );
}

#[test]
fn messages_that_cannot_be_made_are_refused_before_sending() {
    let t = templates();
    let go = |p: &Payload, url: &str, id: &str| {
        prepare(
            p,
            WebhookFormat::Json,
            &SecretString::from(url.to_string()),
            None,
            &t,
            id,
            now(),
        )
        .unwrap_err()
    };
    assert!(matches!(
        go(&payload(0), "https://x.nl/h", "1"),
        WebhookError::NoPosts
    ));
    assert!(matches!(
        go(&payload(1), "ftp://x.nl/h", "1"),
        WebhookError::InvalidUrl
    ));
    assert!(matches!(
        go(&payload(1), "not a url", "1"),
        WebhookError::InvalidUrl
    ));
    assert!(matches!(
        go(&payload(1), "https://x.nl/h", "a\r\nb"),
        WebhookError::InvalidMessageId(_)
    ));
}

#[test]
fn the_url_is_never_shown_beyond_its_host() {
    let req = make(&payload(1), WebhookFormat::Slack, None);
    assert_eq!(display_url(&req.url), "https://hooks.example.com/…");
    assert!(!format!("{req:?}").contains(TOKEN));
    assert_eq!(
        display_url("http://127.0.0.1:8080/a/b?c"),
        "http://127.0.0.1:8080/…"
    );
}

#[test]
fn host_keys_name_host_and_port() {
    for (url, key) in [
        (
            "https://hooks.slack.com/services/T/B/X",
            "hooks.slack.com:443",
        ),
        ("http://127.0.0.1:8080/h", "127.0.0.1:8080"),
        ("http://HOOKS.Example.com/h", "hooks.example.com:80"),
        ("https://[::1]:9000/h", "[::1]:9000"),
        ("nonsense", "(invalid URL)"),
    ] {
        assert_eq!(host_key(&SecretString::from(url)), key, "{url}");
    }
}

// --- against the real receiver ------------------------------------------

fn client() -> WebhookClient {
    WebhookClient::new(Duration::from_secs(5), 3).unwrap()
}

/// Where `to` sends: the path and query of the webhook URL.
fn hook_path() -> String {
    format!("/services/T0/B0/{TOKEN}?x=1")
}

fn to(receiver: &Receiver, format: WebhookFormat, secret: Option<&str>) -> PreparedRequest {
    let secret = secret.map(SecretString::from);
    prepare(
        &payload(2),
        format,
        &SecretString::from(receiver.url(&hook_path())),
        secret.as_ref(),
        &templates(),
        "msg_7",
        now(),
    )
    .unwrap()
}

#[tokio::test]
async fn every_format_arrives_exactly_as_prepared() {
    let receiver = Receiver::start();
    let client = client();
    let formats = [
        WebhookFormat::Json,
        WebhookFormat::Slack,
        WebhookFormat::Teams,
        WebhookFormat::Mattermost,
        WebhookFormat::Discord,
    ];
    for format in formats {
        client
            .send(&to(&receiver, format, Some(SECRET)))
            .await
            .unwrap();
    }
    let got = receiver.requests();
    assert_eq!(got.len(), formats.len());
    for (format, r) in formats.into_iter().zip(&got) {
        let sent = to(&receiver, format, Some(SECRET));
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, format!("/services/T0/B0/{TOKEN}?x=1"));
        assert_eq!(r.body, sent.body, "{format:?}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("user-agent"), Some(USER_AGENT));
        assert_eq!(r.header("webhook-id"), Some("msg_7"));
        r.json();
    }
    // The receiver's side of Standard Webhooks: verify what arrived.
    let json = &got[0];
    let (id, ts) = (
        json.header("webhook-id").unwrap(),
        json.header("webhook-timestamp").unwrap(),
    );
    assert_eq!(
        json.header("webhook-signature").unwrap(),
        expected_signature(SECRET, id, ts, &json.body)
    );
    assert_eq!(json.json()["type"], "posts.digest");
    assert_eq!(got[1].json()["blocks"][0]["type"], "header");
    assert_eq!(
        got[2].json()["attachments"][0]["content"]["type"],
        "AdaptiveCard"
    );
    assert!(str_at(&got[3].json(), "/text").contains("2 nieuwe berichten"));
    assert_eq!(got[4].json()["embeds"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_busy_receiver_is_retried_after_the_time_it_asks_for() {
    let receiver = Receiver::start();
    receiver
        .reply(
            &hook_path(),
            Reply::status(503)
                .header("Retry-After", "7")
                .body("{\"error\": \"maintenance\"}"),
        )
        .reply(
            &hook_path(),
            Reply::status(429).header("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"),
        );
    let client = client();
    let req = to(&receiver, WebhookFormat::Json, None);
    match client.send(&req).await {
        Err(SendError::Transient {
            reason,
            retry_after,
        }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
            assert!(reason.contains("503"), "{reason}");
            assert!(reason.contains("maintenance"), "{reason}");
            assert!(reason.contains("http://127.0.0.1:"), "{reason}");
            assert!(!reason.contains(TOKEN), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // A date in the past: retry now.
    assert!(matches!(
        client.send(&req).await,
        Err(SendError::Transient { retry_after: Some(d), .. }) if d.is_zero()
    ));
    client.send(&req).await.unwrap();
    assert_eq!(receiver.count(), 3);
}

#[tokio::test]
async fn gone_and_refused_requests_are_not_retried() {
    let receiver = Receiver::start();
    let echo = format!(
        "no such hook: /services/T0/B0/{TOKEN}?x=1 {}",
        "x".repeat(400)
    );
    receiver
        .reply(&hook_path(), Reply::status(410).body("channel_is_archived"))
        .reply(&hook_path(), Reply::status(400).body(&echo));
    let client = client();
    let req = to(&receiver, WebhookFormat::Slack, None);
    match client.send(&req).await {
        Err(SendError::Gone { reason }) => {
            assert!(reason.contains("410"), "{reason}");
            assert!(reason.contains("channel_is_archived"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    match client.send(&req).await {
        Err(SendError::Permanent { reason }) => {
            assert!(
                reason.starts_with("HTTP 400 Bad Request from http://127.0.0.1:"),
                "{reason}"
            );
            assert!(!reason.contains(TOKEN), "{reason}");
            let quoted = reason.split_once(": ").unwrap().1;
            assert!(quoted.chars().count() <= 201, "{reason}");
            assert!(quoted.ends_with('…'));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_closed_port_is_a_transient_failure() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let req = PreparedRequest {
        url: format!("http://127.0.0.1:{port}/hook/{TOKEN}"),
        headers: vec![],
        body: b"{}".to_vec(),
    };
    match client().send(&req).await {
        Err(SendError::Transient {
            reason,
            retry_after: None,
        }) => {
            assert!(
                reason.starts_with(&format!("POST http://127.0.0.1:{port}/…: cannot connect")),
                "{reason}"
            );
            assert!(!reason.contains(TOKEN), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_is_a_transient_failure() {
    let receiver = Receiver::start();
    receiver.reply(
        &hook_path(),
        Reply::status(200).delay(Duration::from_secs(3)),
    );
    let client = WebhookClient::new(Duration::from_millis(300), 3).unwrap();
    let started = Instant::now();
    match client.send(&to(&receiver, WebhookFormat::Json, None)).await {
        Err(SendError::Transient { reason, .. }) => {
            assert!(reason.contains("timed out after 300ms"), "{reason}");
            assert!(!reason.contains(TOKEN), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_307_or_308_is_followed_with_the_post_and_its_body_up_to_three_hops() {
    let receiver = Receiver::start();
    let req = to(&receiver, WebhookFormat::Json, Some(SECRET));
    // A relative Location, then absolute ones to another loopback port.
    let other = Receiver::start();
    receiver.reply(
        &hook_path(),
        Reply::status(307).header("Location", "/moved"),
    );
    receiver.reply(
        "/moved",
        Reply::status(308).header("Location", &other.url("/hop2")),
    );
    other.reply(
        "/hop2",
        Reply::status(307).header("Location", &receiver.url("/final")),
    );
    client().send(&req).await.unwrap();
    let mut got = receiver.requests();
    got.extend(other.requests());
    let paths: Vec<&str> = got.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, [hook_path().as_str(), "/moved", "/final", "/hop2"]);
    for r in &got {
        assert_eq!(r.method, "POST", "{}", r.path);
        assert_eq!(r.body, req.body, "{}: the body is kept", r.path);
        assert_eq!(r.header("webhook-id"), Some("msg_7"));
        assert_eq!(
            r.header("webhook-signature"),
            req.header("webhook-signature")
        );
    }

    // A client built to follow none: the 308 itself is the (permanent) answer.
    receiver.reply(
        &hook_path(),
        Reply::status(308).header("Location", "/moved"),
    );
    let no_redirects = WebhookClient::new(Duration::from_secs(5), 0).unwrap();
    assert!(matches!(
        no_redirects.send(&req).await,
        Err(SendError::Permanent { reason }) if reason.starts_with("HTTP 308")
    ));
}

#[tokio::test]
async fn a_301_302_or_303_is_refused_and_never_turned_into_a_get() {
    for status in [301, 302, 303] {
        let receiver = Receiver::start();
        let target = format!("{}?{TOKEN}", receiver.url("/elsewhere/secret-path"));
        receiver.reply(
            &hook_path(),
            Reply::status(status).header("Location", &target),
        );
        let req = to(&receiver, WebhookFormat::Slack, None);
        match client().send(&req).await {
            Err(SendError::Permanent { reason }) => {
                let host = format!("http://{}/…", receiver.addr);
                assert!(reason.starts_with(&format!("HTTP {status} ")), "{reason}");
                assert!(
                    reason.contains(&format!("redirect to {host} not followed")),
                    "{reason}"
                );
                assert!(reason.contains("only 307 and 308"), "{reason}");
                assert!(!reason.contains(TOKEN), "{reason}");
                assert!(!reason.contains("secret-path"), "{reason}");
            }
            other => panic!("{status}: {other:?}"),
        }
        let got = receiver.requests();
        assert_eq!(got.len(), 1, "{status}: nothing followed: {got:?}");
        assert_eq!(got[0].method, "POST");
    }
}

#[tokio::test]
async fn a_redirect_to_plain_http_on_another_host_is_refused() {
    let receiver = Receiver::start();
    receiver.reply(
        &hook_path(),
        Reply::status(307).header("Location", &format!("http://hooks.example.net/in/{TOKEN}")),
    );
    let req = to(&receiver, WebhookFormat::Json, None);
    match client().send(&req).await {
        Err(SendError::Permanent { reason }) => {
            assert!(reason.starts_with("HTTP 307 Temporary Redirect from http://127.0.0.1:"));
            assert!(
                reason.contains("redirect to http://hooks.example.net/… not followed"),
                "{reason}"
            );
            assert!(reason.contains("plain http"), "{reason}");
            assert!(!reason.contains(TOKEN), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(receiver.count(), 1);
}

#[tokio::test]
async fn a_fourth_redirect_is_refused() {
    let receiver = Receiver::start();
    for (from, to) in [
        (hook_path().as_str(), "/1"),
        ("/1", "/2"),
        ("/2", "/3"),
        ("/3", "/4"),
    ] {
        receiver.reply(from, Reply::status(308).header("Location", to));
    }
    // Asking for more does not lift the bound.
    let client = WebhookClient::new(Duration::from_secs(5), 10).unwrap();
    match client.send(&to(&receiver, WebhookFormat::Json, None)).await {
        Err(SendError::Permanent { reason }) => {
            assert!(
                reason.starts_with("HTTP 308 Permanent Redirect from"),
                "{reason}"
            );
            assert!(reason.contains("at most 3 redirects"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let paths: Vec<String> = receiver.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, [hook_path(), "/1".into(), "/2".into(), "/3".into()]);
}

#[tokio::test]
async fn a_redirect_to_https_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key) = crate::helpers::test_pki(dir.path());
    let tls = Receiver::start_tls(&cert, &key);
    let receiver = Receiver::start();
    receiver.reply(
        &hook_path(),
        Reply::status(308).header("Location", &tls.url("/secure")),
    );
    // The test CA is not trusted: following shows as the handshake failing.
    match client()
        .send(&to(&receiver, WebhookFormat::Json, None))
        .await
    {
        Err(SendError::Transient { reason, .. }) => {
            assert!(
                reason.starts_with(&format!("POST https://127.0.0.1:{}/…", tls.addr.port())),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(tls.connections(), 1);
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_transient_failure() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key) = crate::helpers::test_pki(dir.path());
    let tls = Receiver::start_tls(&cert, &key);
    let req = PreparedRequest {
        url: tls.url(&hook_path()),
        headers: vec![],
        body: b"{}".to_vec(),
    };
    match client().send(&req).await {
        Err(SendError::Transient {
            reason,
            retry_after: None,
        }) => {
            assert!(
                reason.starts_with(&format!("POST https://127.0.0.1:{}/…", tls.addr.port())),
                "{reason}"
            );
            assert!(reason.to_lowercase().contains("certificate"), "{reason}");
            assert!(!reason.contains(TOKEN), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(tls.connections(), 1);
    assert!(tls.requests().is_empty(), "nothing was sent in the clear");
}

#[tokio::test]
async fn a_500_is_transient_and_a_404_is_permanent() {
    let receiver = Receiver::start();
    receiver
        .reply(&hook_path(), Reply::status(500).body("oops"))
        .reply(&hook_path(), Reply::status(404).body("no such hook"));
    let client = client();
    let req = to(&receiver, WebhookFormat::Json, None);
    assert!(matches!(
        client.send(&req).await,
        Err(SendError::Transient { reason, retry_after: None })
            if reason.starts_with("HTTP 500 Internal Server Error from http://127.0.0.1:")
                && reason.ends_with(": oops")
    ));
    assert!(matches!(
        client.send(&req).await,
        Err(SendError::Permanent { reason })
            if reason.starts_with("HTTP 404 Not Found from http://127.0.0.1:")
                && reason.ends_with(": no such hook")
    ));
}

#[tokio::test]
async fn a_429_asks_for_a_wait_in_seconds_or_until_a_date() {
    let receiver = Receiver::start();
    let soon = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(120));
    receiver
        .reply(&hook_path(), Reply::status(429).header("Retry-After", "30"))
        .reply(
            &hook_path(),
            Reply::status(429).header("Retry-After", &soon),
        );
    let client = client();
    let req = to(&receiver, WebhookFormat::Discord, None);
    match client.send(&req).await {
        Err(SendError::Transient {
            reason,
            retry_after,
        }) => {
            assert!(reason.starts_with("HTTP 429 Too Many Requests"), "{reason}");
            assert_eq!(retry_after, Some(Duration::from_secs(30)));
        }
        other => panic!("{other:?}"),
    }
    match client.send(&req).await {
        Err(SendError::Transient {
            retry_after: Some(wait),
            ..
        }) => assert!(
            wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
            "{wait:?}"
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_one_gigabyte_answer_is_not_read_past_its_first_kilobytes() {
    const GIGABYTE: u64 = 1 << 30;
    let receiver = Receiver::start();
    receiver
        .reply(&hook_path(), Reply::status(200).huge_body(GIGABYTE))
        .reply(&hook_path(), Reply::status(500).huge_body(GIGABYTE));
    let client = client();
    let req = to(&receiver, WebhookFormat::Json, None);
    let started = Instant::now();
    client.send(&req).await.unwrap();
    match client.send(&req).await {
        Err(SendError::Transient { reason, .. }) => {
            assert!(reason.starts_with("HTTP 500"), "{reason}");
            let quoted = reason.split_once(": ").unwrap().1;
            assert!(quoted.chars().count() <= 201, "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // A hang guard, not a speed goal: reading 1 GB would take far longer.
    assert!(started.elapsed() < Duration::from_secs(4));
    // What left the receiver is what fits in the socket buffers beside the
    // 64 KiB the client reads, not the gigabyte.
    let streamed = receiver.streamed();
    assert!(streamed < 64 << 20, "{streamed} bytes were streamed");
    assert_eq!(receiver.count(), 2);
}

/// Not a speed goal (those live in benches/): checks that many requests in
/// flight all arrive, and prints the rate for the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_posts_with_64_in_flight_all_arrive() {
    const TOTAL: usize = 2000;
    const IN_FLIGHT: usize = 64;
    let receiver = Receiver::start();
    let client = Arc::new(client());
    let req = Arc::new(to(&receiver, WebhookFormat::Json, Some(SECRET)));
    let limit = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..TOTAL {
        let permit = limit.clone().acquire_owned().await.unwrap();
        let (client, req) = (client.clone(), req.clone());
        tasks.spawn(async move {
            let result = client.send(&req).await;
            drop(permit);
            result
        });
    }
    let mut failed = 0;
    while let Some(result) = tasks.join_next().await {
        if result.unwrap().is_err() {
            failed += 1;
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "webhook client: {TOTAL} POSTs, {IN_FLIGHT} in flight, {:.2?}: {:.0} req/s",
        elapsed,
        TOTAL as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(failed, 0);
    assert_eq!(receiver.count(), TOTAL);
}

#[test]
fn a_delivery_answered_with_a_301_is_dead_and_one_answered_with_a_308_is_sent() {
    let receiver = Receiver::start();
    receiver.reply(
        "/moved-for-good",
        Reply::status(301).header("Location", "/new"),
    );
    receiver.reply("/kept", Reply::status(308).header("Location", "/kept-here"));
    let hook = |id: &str, path: &str| {
        format!(
            "\n[[subscribers]]\nid = \"{id}\"\nwebhook = \"{}\"\nformat = \"json\"\n",
            receiver.url(path)
        )
    };
    let blog = crate::helpers::TestBlog::new(&format!(
        "state = \"state.db\"\n{}{}",
        hook("moved", "/moved-for-good"),
        hook("kept", "/kept")
    ));
    blog.write("2025-07-01-hallo.md", "---\ntitle: Hallo\n---\nTekst.\n");
    let run = blog.run(&[
        "--now",
        "2025-07-16T00:00:00Z",
        "notify",
        "--json",
        "--backfill",
        "2025-06-01",
    ]);
    assert_eq!(run.code, 1, "a dead delivery: {}", run.stderr);
    let summary: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(summary["sent"], 1, "{summary}");
    assert_eq!(summary["dead"], 1, "{summary}");
    let got: Vec<(String, String)> = receiver
        .requests()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect();
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.iter().all(|(method, _)| method == "POST"), "{got:?}");
    assert!(got.iter().all(|(_, path)| path != "/new"), "{got:?}");
    let status = blog.run(&["status", "--json"]);
    let status: Value = serde_json::from_str(&status.stdout).unwrap();
    let rows = status["deliveries"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["subscriber"], "moved");
    assert_eq!(rows[0]["status"], "dead");
    let error = rows[0]["last_error"].as_str().unwrap();
    assert!(
        error.starts_with("HTTP 301 Moved Permanently from http://127.0.0.1:")
            && error.contains("not followed"),
        "{error}"
    );
    assert!(!error.contains("moved-for-good"), "{error}");
}
