//! Notifications end to end: the real binary, a real state (an SQLite file,
//! and again a PostgreSQL database), a real SMTP server process and a real
//! HTTP receiver on 127.0.0.1.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::helpers::*;
use crate::receiver::Receiver;

// Each of these runs twice: with an SQLite file and with PostgreSQL.
crate::on_both_stores!([
    the_sample_blog_history_announces_exactly_the_two_new_posts_to_the_matching_subscribers_once,
    dry_run_shows_what_would_be_sent_and_records_nothing,
    backfill_sends_posts_published_since_a_date_on_the_first_run,
    the_announcements_go_over_smtp_with_starttls_and_a_login_to_a_real_server,
    every_webhook_format_gets_the_body_its_receiver_needs_and_json_is_signed,
    a_503_with_retry_after_is_retried_on_the_next_run_with_the_same_webhook_id,
    a_410_kills_the_delivery_and_disables_the_subscriber_until_retry_dead_enables_it,
    a_weekly_digest_waits_for_the_week_to_end_and_lists_every_new_post_in_one_message,
    a_delivery_still_failing_after_the_configured_age_becomes_dead_and_the_run_exits_1,
    confirmed_sign_ups_are_announced_to_with_signed_links_and_who_left_gets_nothing,
]);

const BEFORE: &str = "before";
const AFTER: &str = "after";
const OPENAPI: &str = "https://voorbeeld.example.org/blog/2025/07/10/openapi-31-komt-eraan";
const NDS: &str = "https://voorbeeld.example.org/blog/2025/07/15/data-strategie";

fn snapshot(name: &str) -> PathBuf {
    history(name)
}

/// A blog whose `blog/` and `tags.yml` are replaced by a state of the
/// sample blog in `tests/data/history/`.
pub(crate) fn use_snapshot(blog: &TestBlog, name: &str) {
    let _ = std::fs::remove_dir_all(blog.blog());
    copy_dir(&snapshot(name).join("blog"), &blog.blog());
    std::fs::copy(
        snapshot(name).join("tags.yml"),
        blog.path().join("tags.yml"),
    )
    .unwrap();
}

/// Every `.eml` in the outbox: recipient -> subjects.
fn outbox(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        let header = |name: &str| {
            text.lines()
                .find(|l| {
                    l.to_ascii_lowercase()
                        .starts_with(&format!("{}:", name.to_ascii_lowercase()))
                })
                .map(|l| l[name.len() + 1..].trim().to_string())
                .unwrap_or_default()
        };
        out.entry(header("To")).or_default().push(text.clone());
    }
    out
}

/// `[email]` writing `.eml` files to `outbox/`.
const FILE_EMAIL: &str = r#"[email]
from = "voorbeeld.example.org <noreply@voorbeeld.example.org>"
transport = "file"
outbox = "outbox"
unsubscribe_url = "https://voorbeeld.example.org/unsubscribe?s={subscriber}&t={token}"
"#;

fn history_blog(subscribers: &str) -> TestBlog {
    history_blog_with(FILE_EMAIL, subscribers)
}

/// The sample blog's feed definition (blog name `feeds`, state in
/// `state.db`) with this `[email]` section and these subscribers.
fn history_blog_with(email: &str, subscribers: &str) -> TestBlog {
    let blog = TestBlog::new("");
    std::fs::write(
        blog.toml(),
        format!(
            r#"title = "voorbeeld.example.org"
site_url = "https://voorbeeld.example.org"
source = "blog"
tags_file = "tags.yml"
output = "out"
language = "nl"
state = "state.db"

{email}
{subscribers}"#
        ),
    )
    .unwrap();
    blog
}

fn notify(blog: &TestBlog, now: &str) -> (Run, serde_json::Value) {
    notify_with_env(blog, now, &[])
}

/// `notify --json` with extra environment variables for the process.
fn notify_with_env(blog: &TestBlog, now: &str, env: &[(&str, &str)]) -> (Run, serde_json::Value) {
    let run = blog.run_with_env(&["--now", now, "notify", "--json"], env);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let summary = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "notify --json: {e}\nstdout: {}\nstderr: {}",
            run.stdout, run.stderr
        )
    });
    (run, summary)
}

fn the_sample_blog_history_announces_exactly_the_two_new_posts_to_the_matching_subscribers_once() {
    let blog = history_blog(
        r#"
[[subscribers]]
id = "all"
email = "all@example.org"

[[subscribers]]
id = "nds-only"
email = "nds@example.org"
tags = ["NDS"]

[[subscribers]]
id = "openapi-not-nds"
email = "openapi@example.org"
tags = ["openapi"]
exclude_tags = ["nds"]

[[subscribers]]
id = "ai-and-llm"
email = "ai@example.org"
all_tags = ["artificial intelligence", "llm"]

[[subscribers]]
id = "sanne"
email = "sanne-fans@example.org"
authors = ["sanne-de-vries"]
language = "en"

[[subscribers]]
id = "rust"
email = "rust@example.org"
tags = ["rust"]
"#,
    );
    use_snapshot(&blog, BEFORE);
    let (run, first) = notify(&blog, "2025-07-11T00:00:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(first["first_run"], true);
    assert_eq!(
        first["sent"], 0,
        "the first run over an existing blog sends nothing"
    );
    assert!(outbox(&blog.path().join("outbox")).is_empty());

    use_snapshot(&blog, AFTER);
    let (run, second) = notify(&blog, "2025-07-16T00:00:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut new_posts: Vec<String> = second["new_posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    new_posts.sort();
    assert_eq!(
        new_posts,
        [OPENAPI, NDS],
        "exactly the two published posts, not the new drafts"
    );
    let mail = outbox(&blog.path().join("outbox"));
    let count = |to: &str| mail.get(to).map_or(0, Vec::len);
    assert_eq!(count("all@example.org"), 2);
    assert_eq!(count("nds@example.org"), 1);
    assert!(mail["nds@example.org"][0].contains("data-strategie"));
    assert_eq!(count("openapi@example.org"), 1);
    assert!(mail["openapi@example.org"][0].contains("openapi-31-komt-eraan"));
    assert_eq!(count("ai@example.org"), 1);
    assert_eq!(count("sanne-fans@example.org"), 1);
    assert_eq!(count("rust@example.org"), 0);
    assert_eq!(second["sent"], 6);
    let one = &mail["nds@example.org"][0];
    assert!(one.contains("Message-ID: <postbode.feeds."), "{one}");
    assert!(
        one.contains("List-Unsubscribe: <https://voorbeeld.example.org/unsubscribe?s=nds-only&t="),
        "{one}"
    );
    assert!(
        one.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{one}"
    );
    assert!(one.contains("multipart/alternative"), "{one}");

    let (run, third) = notify(&blog, "2025-07-17T00:00:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(third["sent"], 0, "a rerun sends nothing");
    assert_eq!(third["new_posts"].as_array().unwrap().len(), 0);
    assert_eq!(
        outbox(&blog.path().join("outbox"))
            .values()
            .map(Vec::len)
            .sum::<usize>(),
        6
    );
}

fn dry_run_shows_what_would_be_sent_and_records_nothing() {
    let blog = history_blog("[[subscribers]]\nid = \"all\"\nemail = \"all@example.org\"\n");
    use_snapshot(&blog, BEFORE);
    assert_eq!(notify(&blog, "2025-07-11T00:00:00Z").0.code, 0);
    use_snapshot(&blog, AFTER);
    let run = blog.run(&["--now", "2025-07-16T00:00:00Z", "notify", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains(&format!("would send {NDS} to all (email)")),
        "{}",
        run.stdout
    );
    assert!(outbox(&blog.path().join("outbox")).is_empty());
    // Nothing was recorded: the real run still announces both.
    let (_, summary) = notify(&blog, "2025-07-16T00:00:00Z");
    assert_eq!(summary["sent"], 2);
}

fn backfill_sends_posts_published_since_a_date_on_the_first_run() {
    let blog = history_blog("[[subscribers]]\nid = \"all\"\nemail = \"all@example.org\"\n");
    use_snapshot(&blog, AFTER);
    let run = blog.run(&[
        "--now",
        "2025-07-16T00:00:00Z",
        "notify",
        "--json",
        "--backfill",
        "2025-07-10",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let summary: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(summary["sent"], 2, "{summary}");
}

#[test]
fn check_names_invalid_subscribers() {
    let blog = history_blog(
        "[[subscribers]]\nid = \"x\"\nwebhook_env = \"POSTBODE_TEST_UNSET_VAR\"\n\n[[subscribers]]\nid = \"x\"\nemail = \"a@example.org\"\n",
    );
    use_snapshot(&blog, BEFORE);
    let run = blog.run(&["--now", "2025-07-11T00:00:00Z", "check"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "feeds.toml:17:15: error: subscriber x: webhook_env names POSTBODE_TEST_UNSET_VAR"
        ),
        "{}",
        run.stderr
    );
}

// --- Real transports: SMTP with STARTTLS and a login, webhooks to a real
// HTTP receiver, failures and retries, preview ---

const NDS_PATH: &str = "/blog/2025/07/15/data-strategie";
const NDS_TITLE: &str = "Eén gemeente, één aanpak: wat de NDS van developers vraagt";
const OPENAPI_TITLE: &str = "OpenAPI 3.1 komt eraan: wat het ons oplevert";
/// A Standard Webhooks secret: `whsec_` + base64 of the key.
const SECRET: &str = "whsec_cG9zdGJvZGUgdGVzdCBzaWduaW5nIGtleSwgMzIgYg==";
const SECRET_ENV: (&str, &str) = ("POSTBODE_TEST_WEBHOOK_SECRET", SECRET);

/// One `[[subscribers]]` table for a webhook at `url` in `format`, plus any
/// extra TOML lines.
fn hook(id: &str, format: &str, url: &str, extra: &str) -> String {
    format!(
        "\n[[subscribers]]\nid = \"{id}\"\nwebhook = \"{url}\"\nformat = \"{format}\"\n{extra}\n"
    )
}

/// Checks a Standard Webhooks signature the way a receiver does: HMAC-SHA256
/// over `{id}.{timestamp}.{body}` with the base64-decoded secret (minus
/// `whsec_`), against any of the space-separated `v1,` signatures.
pub(crate) fn signature_is_valid(
    secret: &str,
    id: &str,
    timestamp: &str,
    body: &[u8],
    header: &str,
) -> bool {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use hmac::{Hmac, Mac as _};
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    header.split(' ').any(|s| s == expected)
}

/// A signed `json` request as a receiver must check it: signature valid with
/// the secret, and the timestamp the run's one clock (`--now` in these
/// tests), the same instant as the body's `timestamp`.
fn assert_signed(req: &crate::receiver::Request) {
    let id = req.header("webhook-id").expect("webhook-id");
    let timestamp = req.header("webhook-timestamp").expect("webhook-timestamp");
    let signature = req.header("webhook-signature").expect("webhook-signature");
    assert!(
        signature_is_valid(SECRET, id, timestamp, &req.body, signature),
        "bad signature {signature} for {id}.{timestamp}.{}",
        String::from_utf8_lossy(&req.body)
    );
    let sent_at: i64 = timestamp.parse().unwrap();
    let dated = req.json()["timestamp"].as_str().unwrap().to_string();
    let dated = chrono::DateTime::parse_from_rfc3339(&dated).unwrap();
    assert_eq!(sent_at, dated.timestamp(), "webhook-timestamp vs body");
}

/// Which of the two new posts a message is about.
fn post_of(body: &[u8]) -> &'static str {
    let text = String::from_utf8_lossy(body);
    match (text.contains(OPENAPI), text.contains(NDS)) {
        (true, false) => OPENAPI,
        (false, true) => NDS,
        _ => panic!("not about exactly one of the two posts: {text}"),
    }
}

fn the_announcements_go_over_smtp_with_starttls_and_a_login_to_a_real_server() {
    let pki = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_pki(pki.path());
    let server = SmtpServer::start(
        Some(&pki.path().join("mail")),
        &[
            "--starttls",
            cert.to_str().unwrap(),
            key.to_str().unwrap(),
            "--auth",
            "postbode:s3cret",
        ],
    );
    let blog = history_blog_with(
        &format!(
            r#"[email]
from = "voorbeeld.example.org <noreply@voorbeeld.example.org>"
transport = "smtp"
smtp_url = "smtp://localhost:{}?tls=required"
username_env = "POSTBODE_TEST_SMTP_USER"
password_env = "POSTBODE_TEST_SMTP_PASSWORD"
unsubscribe_url = "https://voorbeeld.example.org/unsubscribe?s={{subscriber}}&t={{token}}"
"#,
            server.port
        ),
        r#"
[[subscribers]]
id = "all"
email = "all@example.org"

[[subscribers]]
id = "nds-only"
email = "nds@example.org"
tags = ["nds"]

[[subscribers]]
id = "sanne"
email = "sanne-fans@example.org"
authors = ["sanne-de-vries"]
language = "en"
"#,
    );
    let env = [
        ("POSTBODE_TEST_SMTP_USER", "postbode"),
        ("POSTBODE_TEST_SMTP_PASSWORD", "s3cret"),
        ("POSTBODE_SMTP_CA_FILE", ca.to_str().unwrap()),
    ];
    use_snapshot(&blog, BEFORE);
    let (run, first) = notify_with_env(&blog, "2025-07-11T00:00:00Z", &env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(first["sent"], 0);
    assert!(server.received().is_empty());

    use_snapshot(&blog, AFTER);
    let (run, second) = notify_with_env(&blog, "2025-07-16T00:00:00Z", &env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(second["sent"], 4, "{second}");
    assert_eq!(second["retrying"], 0, "{second}");
    assert_eq!(second["dead"], 0, "{second}");

    let got = server.received();
    let mut arrived: Vec<(String, String)> = got
        .iter()
        .map(|m| {
            (
                m["rcpt_tos"][0].as_str().unwrap().to_string(),
                m["subject"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    arrived.sort();
    let nl = |title: &str| format!("Nieuw op voorbeeld.example.org: {title}");
    assert_eq!(
        arrived,
        [
            ("all@example.org".to_string(), nl(NDS_TITLE)),
            ("all@example.org".to_string(), nl(OPENAPI_TITLE)),
            ("nds@example.org".to_string(), nl(NDS_TITLE)),
            (
                "sanne-fans@example.org".to_string(),
                format!("New on voorbeeld.example.org: {OPENAPI_TITLE}")
            ),
        ]
    );
    let mut ids = Vec::new();
    for m in &got {
        let to = m["rcpt_tos"][0].as_str().unwrap();
        assert_eq!(m["rcpt_tos"].as_array().unwrap().len(), 1, "{m}");
        assert_eq!(m["to"], to, "{m}");
        assert_eq!(m["tls"], true, "{m}");
        assert_eq!(m["authenticated"], true, "{m}");
        assert_eq!(m["mail_from"], "noreply@voorbeeld.example.org", "{m}");
        assert_eq!(m["content_type"], "multipart/alternative", "{m}");
        let url = if m["subject"].as_str().unwrap().ends_with(NDS_TITLE) {
            NDS
        } else {
            OPENAPI
        };
        let text = m["text"].as_str().unwrap();
        let html = m["html"].as_str().unwrap();
        assert!(text.contains(url), "{url} not in the text part:\n{text}");
        assert!(
            html.contains(&format!("href=\"{url}\"")),
            "{url} not linked in the HTML part:\n{html}"
        );
        let id = m["message_id"].as_str().unwrap();
        let n = id
            .strip_prefix("<postbode.feeds.")
            .and_then(|r| r.strip_suffix("@voorbeeld.example.org>"))
            .unwrap_or_else(|| panic!("Message-ID {id}"));
        assert!(n.parse::<u64>().is_ok(), "Message-ID {id}");
        ids.push(id.to_string());
        let subscriber = match to {
            "all@example.org" => "all",
            "nds@example.org" => "nds-only",
            _ => "sanne",
        };
        let token = postbode::notify::email::unsubscribe_token("feeds", subscriber, to);
        assert_eq!(
            m["list_unsubscribe"],
            format!("<https://voorbeeld.example.org/unsubscribe?s={subscriber}&t={token}>"),
            "{m}"
        );
        assert_eq!(
            m["list_unsubscribe_post"], "List-Unsubscribe=One-Click",
            "{m}"
        );
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "one Message-ID per delivery: {ids:?}");

    let (run, third) = notify_with_env(&blog, "2025-07-17T00:00:00Z", &env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(third["sent"], 0, "a rerun sends nothing");
    assert_eq!(server.received().len(), 4);
}

fn every_webhook_format_gets_the_body_its_receiver_needs_and_json_is_signed() {
    let receiver = Receiver::start();
    let subscribers = [
        hook(
            "json",
            "json",
            &receiver.url("/json"),
            &format!("secret_env = \"{}\"", SECRET_ENV.0),
        ),
        hook("slack", "slack", &receiver.url("/slack"), ""),
        hook("teams", "teams", &receiver.url("/teams"), ""),
        hook("mattermost", "mattermost", &receiver.url("/mattermost"), ""),
        hook("discord", "discord", &receiver.url("/discord"), ""),
    ]
    .concat();
    let blog = history_blog(&subscribers);
    use_snapshot(&blog, BEFORE);
    let (run, first) = notify_with_env(&blog, "2025-07-11T00:00:00Z", &[SECRET_ENV]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(first["sent"], 0);
    assert!(receiver.requests().is_empty());

    use_snapshot(&blog, AFTER);
    let (run, second) = notify_with_env(&blog, "2025-07-16T00:00:00Z", &[SECRET_ENV]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(second["sent"], 10, "{second}");
    let all = receiver.requests();
    assert_eq!(all.len(), 10);
    let mut ids: Vec<&str> = all
        .iter()
        .map(|r| {
            r.header("webhook-id")
                .expect("every format has a webhook-id")
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10, "one id per delivery");
    for r in &all {
        assert_eq!(r.method, "POST");
        assert_eq!(r.header("content-type"), Some("application/json"), "{r:?}");
        assert!(
            r.header("user-agent")
                .is_some_and(|ua| ua.starts_with("postbode/")),
            "{r:?}"
        );
    }

    // Each subscriber hears of both posts, once each.
    for path in ["/json", "/slack", "/teams", "/mattermost", "/discord"] {
        let mut posts: Vec<&str> = receiver
            .requests_to(path)
            .iter()
            .map(|r| post_of(&r.body))
            .collect();
        posts.sort();
        assert_eq!(posts, [OPENAPI, NDS], "{path}");
    }
    for r in receiver.requests_to("/json") {
        assert_signed(&r);
        let body = r.json();
        let url = post_of(&r.body);
        assert_eq!(body["type"], "post.published", "{body}");
        assert_eq!(body["post"]["url"], url, "{body}");
        assert_eq!(body["posts"].as_array().unwrap().len(), 1, "{body}");
        assert_eq!(body["posts"][0]["url"], url, "{body}");
        assert_eq!(body["blog"]["name"], "feeds", "{body}");
        assert_eq!(
            body["blog"]["feed_url"], "https://voorbeeld.example.org/blog/atom.xml",
            "{body}"
        );
    }
    for r in receiver.requests_to("/slack") {
        let body = r.json();
        assert!(
            body["text"].as_str().is_some_and(|t| !t.is_empty()),
            "Slack needs a text fallback: {body}"
        );
        let blocks = body["blocks"].as_array().expect("Block Kit blocks");
        assert!(blocks.iter().all(|b| b["type"].is_string()), "{body}");
        assert!(
            blocks.iter().any(|b| b["text"]["text"]
                .as_str()
                .is_some_and(|t| t.contains(post_of(&r.body)))),
            "no block links the post: {body}"
        );
        assert!(r.header("webhook-signature").is_none());
    }
    for r in receiver.requests_to("/teams") {
        let body = r.json();
        let card = &body["attachments"][0];
        assert_eq!(
            card["contentType"], "application/vnd.microsoft.card.adaptive",
            "{body}"
        );
        assert_eq!(card["content"]["type"], "AdaptiveCard", "{body}");
        assert_eq!(
            card["content"]["actions"][0]["url"],
            post_of(&r.body),
            "{body}"
        );
    }
    for r in receiver.requests_to("/mattermost") {
        let body = r.json();
        assert!(
            body["text"].as_str().is_some_and(|t| !t.is_empty()),
            "Mattermost needs text: {body}"
        );
        assert_eq!(
            body["attachments"][0]["title_link"],
            post_of(&r.body),
            "{body}"
        );
    }
    for r in receiver.requests_to("/discord") {
        let body = r.json();
        assert_eq!(body["embeds"][0]["url"], post_of(&r.body), "{body}");
        assert!(body["embeds"][0]["title"].is_string(), "{body}");
    }

    let (run, third) = notify_with_env(&blog, "2025-07-17T00:00:00Z", &[SECRET_ENV]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(third["sent"], 0, "a rerun sends nothing");
    assert_eq!(receiver.requests().len(), 10);
}

/// The deliveries in `postbode status --json` of a blog.
fn status_json(blog: &TestBlog) -> (Run, Vec<serde_json::Value>) {
    let run = blog.run(&["status", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("status --json: {e}\n{}\n{}", run.stdout, run.stderr));
    let rows = doc["deliveries"].as_array().cloned().unwrap_or_default();
    (run, rows)
}

fn a_503_with_retry_after_is_retried_on_the_next_run_with_the_same_webhook_id() {
    let receiver = Receiver::start();
    receiver.then("/hook", 503, &[("Retry-After", "1")]);
    let subscribers = [
        hook(
            "hook",
            "json",
            &receiver.url("/hook"),
            &format!("secret_env = \"{}\"", SECRET_ENV.0),
        ),
        hook("chat", "slack", &receiver.url("/chat"), ""),
    ]
    .concat();
    let blog = history_blog(&subscribers);
    use_snapshot(&blog, BEFORE);
    assert_eq!(
        notify_with_env(&blog, "2025-07-11T00:00:00Z", &[SECRET_ENV])
            .0
            .code,
        0
    );
    use_snapshot(&blog, AFTER);
    let (run, second) = notify_with_env(&blog, "2025-07-16T00:00:00Z", &[SECRET_ENV]);
    assert_eq!(run.code, 0, "a retry is not a problem yet: {}", run.stderr);
    assert_eq!(second["sent"], 3, "{second}");
    assert_eq!(second["retrying"], 1, "{second}");
    assert_eq!(second["dead"], 0, "{second}");
    let hooked = receiver.requests_to("/hook");
    assert_eq!(hooked.len(), 2);
    let failed = hooked.iter().find(|r| r.status == 503).unwrap().clone();
    assert_signed(&failed);

    let run = blog.run(&["status"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("retrying"))
        .unwrap_or_else(|| panic!("no retrying delivery in\n{}", run.stdout));
    assert!(line.contains("hook"), "{line}");
    assert!(line.contains("HTTP 503"), "{line}");
    let (_, rows) = status_json(&blog);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["subscriber"], "hook");
    assert_eq!(rows[0]["status"], "retrying");
    assert_eq!(rows[0]["attempts"], 1);
    let error = rows[0]["last_error"].as_str().unwrap();
    assert!(error.contains("HTTP 503"), "{error}");
    assert!(
        !error.contains("/hook"),
        "the URL's path is kept out: {error}"
    );

    let (run, third) = notify_with_env(&blog, "2025-07-16T01:00:00Z", &[SECRET_ENV]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(third["sent"], 1, "{third}");
    assert_eq!(third["retrying"], 0, "{third}");
    assert_eq!(third["new_posts"].as_array().unwrap().len(), 0);
    let all = receiver.requests();
    assert_eq!(all.len(), 5, "only the failed delivery is sent again");
    let resent = all.last().unwrap();
    assert_eq!(resent.path, "/hook");
    assert_eq!(resent.status, 200);
    assert_eq!(
        resent.header("webhook-id"),
        failed.header("webhook-id"),
        "a retry keeps its webhook-id so the receiver can drop duplicates"
    );
    assert_eq!(post_of(&resent.body), post_of(&failed.body));
    assert_signed(resent);
    let (run, rows) = status_json(&blog);
    assert_eq!(run.code, 0);
    assert!(rows.is_empty(), "{rows:?}");
}

fn a_410_kills_the_delivery_and_disables_the_subscriber_until_retry_dead_enables_it() {
    let receiver = Receiver::start();
    receiver.then("/gone", 410, &[]);
    let subscribers = [
        hook(
            "gone",
            "discord",
            &receiver.url("/gone"),
            "tags = [\"nds\"]",
        ),
        hook("stay", "mattermost", &receiver.url("/stay"), ""),
    ]
    .concat();
    let blog = history_blog(&subscribers);
    use_snapshot(&blog, BEFORE);
    assert_eq!(notify(&blog, "2025-07-11T00:00:00Z").0.code, 0);
    use_snapshot(&blog, AFTER);
    let (run, second) = notify(&blog, "2025-07-16T00:00:00Z");
    assert_eq!(run.code, 1, "a dead delivery is a problem: {}", run.stderr);
    assert_eq!(second["sent"], 2, "{second}");
    assert_eq!(second["dead"], 1, "{second}");
    assert_eq!(second["dead_total"], 1, "{second}");
    let gone = receiver.requests_to("/gone");
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].status, 410);

    let run = blog.run(&["status"]);
    assert_eq!(
        run.code, 1,
        "status reports dead deliveries: {}",
        run.stderr
    );
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("dead"))
        .unwrap_or_else(|| panic!("no dead delivery in\n{}", run.stdout));
    assert!(line.contains("gone") && line.contains("410"), "{line}");
    let (_, rows) = status_json(&blog);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["subscriber"], "gone");
    assert_eq!(rows[0]["status"], "dead");

    // A new post is not sent to the disabled subscriber.
    blog.write(
        "2025/07/17-nog-een-nds-bericht.md",
        "---\ntags: [nds]\n---\n# Nog een NDS-bericht\n\nTekst.\n",
    );
    let (run, third) = notify(&blog, "2025-07-18T00:00:00Z");
    assert_eq!(run.code, 1, "the dead delivery is still there");
    assert_eq!(
        third["new_posts"],
        serde_json::json!(["https://voorbeeld.example.org/blog/2025/07/17/nog-een-nds-bericht"])
    );
    assert_eq!(third["planned"], 1, "{third}");
    assert_eq!(third["sent"], 1, "{third}");
    assert_eq!(receiver.requests_to("/gone").len(), 1);
    assert_eq!(receiver.requests_to("/stay").len(), 3);

    let run = blog.run(&["--now", "2025-07-18T00:30:00Z", "retry", "--dead"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("1 dead delivery put back"),
        "{}",
        run.stderr
    );
    let (run, fourth) = notify(&blog, "2025-07-18T01:00:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(fourth["sent"], 1, "{fourth}");
    assert_eq!(fourth["dead_total"], 0, "{fourth}");
    let gone_now = receiver.requests_to("/gone");
    assert_eq!(gone_now.len(), 2);
    assert_eq!(gone_now[1].status, 200);
    assert_eq!(
        gone_now[1].header("webhook-id"),
        gone[0].header("webhook-id")
    );
    assert_eq!(gone_now[1].json()["embeds"][0]["url"], NDS);
    assert!(status_json(&blog).1.is_empty());

    // Revived deliveries are sent, and `retry --dead` enabled the subscriber
    // again: it gets new posts too.
    blog.write(
        "2025/07/19-nds-vervolg.md",
        "---\ntags: [nds]\n---\n# NDS, het vervolg\n\nTekst.\n",
    );
    let (run, fifth) = notify(&blog, "2025-07-20T00:00:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        fifth["new_posts"],
        serde_json::json!(["https://voorbeeld.example.org/blog/2025/07/19/nds-vervolg"])
    );
    assert_eq!(fifth["sent"], 2, "{fifth}");
    assert_eq!(receiver.requests_to("/gone").len(), 3);
    assert_eq!(receiver.requests_to("/stay").len(), 4);
}

#[test]
fn preview_prints_the_email_and_the_webhook_request_and_sends_nothing() {
    let receiver = Receiver::start();
    let subscribers = [
        "\n[[subscribers]]\nid = \"mail\"\nemail = \"mail@example.org\"\n".to_string(),
        hook(
            "hook",
            "json",
            &receiver.url("/hook"),
            &format!("secret_env = \"{}\"", SECRET_ENV.0),
        ),
        hook("chat", "teams", &receiver.url("/chat"), ""),
    ]
    .concat();
    let blog = history_blog(&subscribers);
    use_snapshot(&blog, AFTER);
    let preview = |subscriber: &str| {
        let run = blog.run_with_env(
            &[
                "--now",
                "2025-07-16T00:00:00Z",
                "preview",
                "--post",
                NDS_PATH,
                "--subscriber",
                subscriber,
            ],
            &[SECRET_ENV],
        );
        assert_eq!(run.code, 0, "preview {subscriber}: {}", run.stderr);
        run.stdout
    };

    let mail = preview("mail");
    let m = mail_parser::MessageParser::default()
        .parse(mail.as_bytes())
        .unwrap();
    assert_eq!(
        m.subject(),
        Some(format!("Nieuw op voorbeeld.example.org: {NDS_TITLE}").as_str())
    );
    assert_eq!(
        m.to().unwrap().first().unwrap().address(),
        Some("mail@example.org")
    );
    assert_eq!(
        m.message_id(),
        Some("postbode.feeds.0@voorbeeld.example.org")
    );
    assert!(
        m.header_raw("List-Unsubscribe")
            .unwrap()
            .contains("https://voorbeeld.example.org/unsubscribe?s=mail&t="),
        "{mail}"
    );
    assert!(m.header_raw("List-Unsubscribe-Post").is_some(), "{mail}");
    assert!(mail.contains("multipart/alternative"), "{mail}");
    assert!(m.body_text(0).unwrap().contains(NDS), "{mail}");
    assert!(
        m.body_html(0).unwrap().contains(&format!("href=\"{NDS}\"")),
        "{mail}"
    );

    let request = preview("hook");
    let (head, body) = request
        .split_once("\n\n")
        .unwrap_or_else(|| panic!("no blank line after the headers:\n{request}"));
    let mut lines = head.lines();
    assert_eq!(
        lines.next(),
        Some(format!("POST http://127.0.0.1:{}/…", receiver.addr.port()).as_str()),
        "the URL is shown without its path: {request}"
    );
    let headers: Vec<(&str, &str)> = lines
        .map(|l| l.split_once(": ").unwrap_or_else(|| panic!("header {l:?}")))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("no {name} in\n{request}"))
    };
    assert_eq!(header("content-type"), "application/json");
    assert_eq!(
        header("webhook-id"),
        "postbode.feeds.0@voorbeeld.example.org"
    );
    let body = body.strip_suffix('\n').unwrap_or(body);
    assert!(
        signature_is_valid(
            SECRET,
            header("webhook-id"),
            header("webhook-timestamp"),
            body.as_bytes(),
            header("webhook-signature"),
        ),
        "{request}"
    );
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(json["type"], "post.published");
    assert_eq!(json["post"]["url"], NDS);
    assert!(!request.contains("/hook"), "{request}");

    let card = preview("chat");
    let (head, body) = card.split_once("\n\n").unwrap();
    assert!(head.starts_with("POST http://127.0.0.1:"), "{card}");
    let json: serde_json::Value = serde_json::from_str(body.trim_end()).unwrap();
    assert_eq!(
        json["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );

    assert!(receiver.requests().is_empty(), "preview sends nothing");
    assert!(outbox(&blog.path().join("outbox")).is_empty());
    assert!(
        !blog.path().join("state.db").exists(),
        "preview records nothing"
    );
}

fn a_weekly_digest_waits_for_the_week_to_end_and_lists_every_new_post_in_one_message() {
    let blog = history_blog(
        "[[subscribers]]\nid = \"weekly\"\nemail = \"weekly@example.org\"\ndigest = \"weekly\"\nlanguage = \"en\"\n",
    );
    use_snapshot(&blog, BEFORE);
    assert_eq!(notify(&blog, "2025-07-11T00:00:00Z").0.code, 0);
    use_snapshot(&blog, AFTER);
    // Wednesday 16 July: both posts are planned, held until Monday.
    let (run, held) = notify(&blog, "2025-07-16T00:00:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(held["planned"], 2);
    assert_eq!(held["sent"], 0, "nothing before the week ends");
    assert!(outbox(&blog.path().join("outbox")).is_empty());
    let (_, still) = notify(&blog, "2025-07-20T23:59:00Z");
    assert_eq!(still["sent"], 0);
    // The first run after the period: one message with both posts.
    let (run, monday) = notify(&blog, "2025-07-21T06:00:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(monday["sent"], 1, "{monday}");
    let mail = outbox(&blog.path().join("outbox"));
    let messages = &mail["weekly@example.org"];
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].contains("openapi-31-komt-eraan") && messages[0].contains("data-strategie")
    );
    let (_, after) = notify(&blog, "2025-07-28T06:00:00Z");
    assert_eq!(after["sent"], 0, "the digest is sent once");
}

fn a_delivery_still_failing_after_the_configured_age_becomes_dead_and_the_run_exits_1() {
    let receiver = Receiver::start();
    for _ in 0..4 {
        receiver.then("/down", 503, &[]);
    }
    let blog = history_blog(&format!(
        "[delivery]\nmax_age_hours = 2\n\n{}",
        hook("down", "slack", &receiver.url("/down"), "")
    ));
    use_snapshot(&blog, BEFORE);
    assert_eq!(notify(&blog, "2025-07-11T00:00:00Z").0.code, 0);
    use_snapshot(&blog, AFTER);
    let (run, first) = notify(&blog, "2025-07-16T00:00:00Z");
    assert_eq!(run.code, 1, "due, and none could be sent: {}", run.stderr);
    assert_eq!(first["retrying"], 2, "{first}");
    // Three hours later the receiver still fails: past max_age_hours.
    let (run, later) = notify(&blog, "2025-07-16T03:00:00Z");
    assert_eq!(later["dead"], 2, "{later}");
    assert_eq!(
        run.code, 1,
        "dead deliveries make the run exit 1\n{}",
        run.stderr
    );
    let (_, rows) = status_json(&blog);
    assert!(rows.iter().all(|r| r["status"] == "dead"), "{rows:?}");
}

const SERVE_SECRET: &str = "0123456789abcdef0123456789abcdef-test-secret";

/// The blog's state, opened in this process (the file, or the test's
/// PostgreSQL database).
fn open_state(blog: &TestBlog, rt: &tokio::runtime::Runtime) -> postbode::state::Store {
    let at = match &blog.db {
        Some(db) => postbode::config::StateLocation::parse(&db.url),
        None => postbode::config::StateLocation::File(blog.path().join("state.db")),
    };
    rt.block_on(postbode::state::Store::open(&at)).unwrap()
}

/// The plain-text part of a message, decoded.
fn body_text(raw: &str) -> String {
    let parsed = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .expect("a message");
    parsed.body_text(0).expect("a text part").into_owned()
}

fn confirmed_sign_ups_are_announced_to_with_signed_links_and_who_left_gets_nothing() {
    use postbode::state::subscriptions::{Choices, Kind, Requested};
    use postbode::token::{Purpose, Signer};

    let email = FILE_EMAIL.replace("unsubscribe_url", "# unsubscribe_url");
    let blog = history_blog_with(
        &email,
        r#"[serve]
public_url = "https://abonneren.example.org/"
secret_env = "TEST_SERVE_SECRET"

[[subscribers]]
id = "all"
email = "all@example.org"

[[subscribers]]
id = "left"
email = "left@example.org"
"#,
    );
    let env = [("TEST_SERVE_SECRET", SERVE_SECRET)];
    use_snapshot(&blog, BEFORE);
    let (run, _) = notify_with_env(&blog, "2025-07-11T00:00:00Z", &env);
    assert_eq!(run.code, 0, "{}", run.stderr);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = open_state(&blog, &rt);
    let nds = Choices {
        tags: vec!["nds".into()],
        authors: vec![],
        digest: "none".into(),
        language: "en".into(),
    };
    let at = "2025-07-12T00:00:00Z".parse().unwrap();
    let carol = rt
        .block_on(store.add_confirmed("feeds", Kind::Email, "carol@example.org", None, &nds, at))
        .unwrap()
        .unwrap();
    let quiet = chrono::TimeDelta::minutes(10);
    let Requested::Pending { .. } = rt
        .block_on(store.request_email(
            "feeds",
            "pending@example.org",
            &Choices::default(),
            at,
            quiet,
        ))
        .unwrap()
    else {
        panic!("pending")
    };
    assert!(rt.block_on(store.opt_out("feeds", "left", at)).unwrap());
    rt.block_on(store.close());

    use_snapshot(&blog, AFTER);
    let (run, summary) = notify_with_env(&blog, "2025-07-16T00:00:00Z", &env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mail = outbox(&blog.path().join("outbox"));
    let count = |to: &str| mail.get(to).map_or(0, Vec::len);
    assert_eq!(count("all@example.org"), 2);
    assert_eq!(count("carol@example.org"), 1, "only the post tagged nds");
    assert_eq!(count("pending@example.org"), 0, "not confirmed: nothing");
    assert_eq!(count("left@example.org"), 0, "unsubscribed through a link");
    assert_eq!(summary["sent"], 3);

    let signer = Signer::new(SERVE_SECRET.as_bytes(), "feeds");
    let now = chrono::Utc::now();
    let token_in = |text: &str, prefix: &str| -> String {
        let start = text
            .find(prefix)
            .unwrap_or_else(|| panic!("{prefix} in {text}"))
            + prefix.len();
        text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect()
    };
    let letter = &mail["carol@example.org"][0];
    assert!(letter.contains("data-strategie"), "{letter}");
    assert!(
        letter.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{letter}"
    );
    let header = "List-Unsubscribe: <https://abonneren.example.org/feeds/unsubscribe/";
    let claims = signer
        .verify(&token_in(letter, header), Purpose::Unsubscribe, now)
        .expect("a token the service accepts");
    assert_eq!(claims.subscriber, carol.subscriber_id());
    assert_eq!(claims.key, carol.manage_key);
    assert!(
        !letter.contains("carol@example.org/"),
        "no address in a link"
    );
    let manage = signer
        .verify(
            &token_in(
                &body_text(letter),
                "https://abonneren.example.org/feeds/manage/",
            ),
            Purpose::Manage,
            now,
        )
        .expect("a manage link");
    assert_eq!(manage.subscriber, carol.subscriber_id());

    // A subscriber of the definition: an unsubscribe link, no manage link.
    let plain = &mail["all@example.org"][0];
    let claims = signer
        .verify(&token_in(plain, header), Purpose::Unsubscribe, now)
        .unwrap();
    assert_eq!((claims.subscriber.as_str(), claims.key), ("all", 0));
    assert!(!body_text(plain).contains("/feeds/manage/"), "{plain}");

    // Without its secret the run refuses to send links the service would
    // not accept.
    let run = blog.run(&["--now", "2025-07-17T00:00:00Z", "notify"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("TEST_SERVE_SECRET"), "{}", run.stderr);
}
