//! The pages through the whole router (`oneshot`), with a real SQLite
//! state in a temporary folder and mails written by the file transport:
//! what a reader sees, what the state holds afterwards, and which mails
//! went out.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use chrono::{Duration, Utc};
use tower::ServiceExt as _;

use super::*;
use crate::state::subscriptions::{Choices, Kind, Requested, Subscription};
use crate::token::{Claims, Purpose};

const SECRET: &str = "0123456789abcdef0123456789abcdef-test";
const PUBLIC: &str = "http://127.0.0.1:9/abonneren";
const FORM: &str = "application/x-www-form-urlencoded";

struct Env {
    dir: tempfile::TempDir,
    sites: Sites,
    app: Router,
    /// Each request comes from another client address unless a test says
    /// otherwise, so the per-client limit counts only where meant to.
    peers: AtomicU32,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Env {
    /// A blog `blog` with two tags and two authors, in `language`,
    /// its templates folder holding `overrides` (path, text).
    async fn new(language: &str, overrides: &[(&str, &str)]) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("blog")).unwrap();
        std::fs::write(
            root.join("blog/tags.yml"),
            "api:\n  label: API\n  description: Posts about <APIs>\ndata:\n  label: Open data\n",
        )
        .unwrap();
        std::fs::write(
            root.join("blog/authors.yml"),
            "anna:\n  name: Anna de Vries\n  title: Developer\npieter:\n  name: Pieter Jansen\n",
        )
        .unwrap();
        for (path, text) in overrides {
            let path = root.join("templates").join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let definition = format!(
            r#"title = "Voorbeeldblog"
site_url = "https://example.org"
source = "blog"
language = "{language}"
state = "state.db"
templates = "templates"

[email]
from = "Blog <noreply@example.org>"
transport = "file"
outbox = "outbox"

[serve]
public_url = "{PUBLIC}"
secret_env = "SECRET"
"#
        );
        let config = crate::config::parse(&definition, &root.join("blog.toml")).unwrap();
        let sites = prepare(&[config], &|_| Some(SECRET.to_string()))
            .await
            .unwrap();
        let app = router(sites.clone());
        Env {
            dir,
            sites,
            app,
            peers: AtomicU32::new(1),
        }
    }

    fn site(&self) -> Arc<Site> {
        self.sites.0["blog"].clone()
    }

    async fn send(&self, method: &str, uri: &str, headers: &[(&str, &str)], body: &str) -> Answer {
        let peer = Ipv4Addr::from(0x0a00_0000 + self.peers.fetch_add(1, Ordering::Relaxed));
        self.send_from(peer.into(), method, uri, headers, body)
            .await
    }

    async fn send_from(
        &self,
        peer: IpAddr,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .extension(ConnectInfo(SocketAddr::new(peer, 40000)));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = self
            .app
            .clone()
            .oneshot(request.body(Body::from(body.to_string())).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        Answer {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    async fn get(&self, uri: &str) -> Answer {
        self.send("GET", uri, &[], "").await
    }

    /// A form post from the page itself (as a browser sends it).
    async fn post(&self, uri: &str, body: &str) -> Answer {
        let headers = [
            ("content-type", FORM),
            ("origin", "http://127.0.0.1:9"),
            ("sec-fetch-site", "same-origin"),
        ];
        self.send("POST", uri, &headers, body).await
    }

    /// The sign-up form's fields with a fresh CSRF token, then `extra`.
    async fn subscribe_body(&self, extra: &str) -> String {
        let page = self.get("/blog/subscribe").await;
        format!("csrf={}&{extra}", csrf(&page.body))
    }

    /// A confirmed subscription, as if made long ago.
    async fn confirmed(&self, address: &str, choices: &Choices) -> Subscription {
        let store = &self.site().store;
        let added = store.add_confirmed("blog", Kind::Email, address, None, choices, Utc::now());
        added.await.unwrap().unwrap()
    }

    async fn rows(&self) -> Vec<Subscription> {
        self.site().store.subscriptions("blog").await.unwrap()
    }

    /// Every mail written so far, as (text body, raw).
    async fn mails(&self) -> Vec<String> {
        mail::settled().await;
        let outbox = self.dir.path().join("outbox");
        let Ok(entries) = std::fs::read_dir(&outbox) else {
            return Vec::new();
        };
        let mut mails: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        mails.sort();
        mails.iter().map(|p| text_of(p)).collect()
    }

    fn token(
        &self,
        purpose: Purpose,
        subscriber: &str,
        key: u64,
        expires_in: Option<Duration>,
    ) -> String {
        self.site().signer.sign(&Claims {
            purpose,
            subscriber: subscriber.into(),
            key,
            expires: expires_in.map(|d| Utc::now() + d),
        })
    }
}

/// Every post, at once, in `language`.
fn every_post(language: &str) -> Choices {
    Choices {
        digest: "none".into(),
        language: language.into(),
        ..Choices::default()
    }
}

fn text_of(path: &Path) -> String {
    let raw = std::fs::read(path).unwrap();
    let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
    format!(
        "Subject: {}\n{}",
        message.subject().unwrap_or_default(),
        message.body_text(0).unwrap()
    )
}

/// The value of the `csrf` field of a page.
fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

/// The path (from `/blog/`) of the first link to `kind` in `text`.
fn link(text: &str, kind: &str) -> String {
    let start = text
        .find(&format!("{PUBLIC}/blog/{kind}/"))
        .unwrap_or_else(|| panic!("no {kind} link in {text}"));
    let url: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '<')
        .collect();
    url.trim_start_matches(PUBLIC).to_string()
}

#[tokio::test]
async fn a_reader_subscribes_confirms_changes_choices_and_leaves_with_one_click() {
    let env = Env::new("nl-NL", &[]).await;
    let form = env.get("/blog/subscribe").await;
    assert_eq!(form.status, StatusCode::OK);
    for needle in [
        "<html lang=\"nl\">",
        "type=\"email\" id=\"email\" name=\"email\"",
        "name=\"scope\" value=\"all\"",
        "name=\"scope\" value=\"some\"",
        "name=\"tags\" value=\"api\"",
        "Posts about &lt;APIs&gt;",
        "name=\"authors\" value=\"anna\"",
        "Anna de Vries",
        "name=\"digest\" value=\"weekly\"",
        "id=\"website\" name=\"website\" value=\"\" tabindex=\"-1\" autocomplete=\"off\"",
        "id=\"subscribe\"",
        "<label for=\"email\">",
        "<legend>",
    ] {
        assert!(form.body.contains(needle), "{needle} in {}", form.body);
    }
    assert!(!form.body.contains("<script"));

    let body = format!(
        "csrf={}&email=Reader%40Example.org&scope=some&tags=api&authors=anna&digest=weekly&website=",
        csrf(&form.body)
    );
    let answer = env.post("/blog/subscribe", &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(answer.body.contains("Kijk in uw mailbox"));
    let rows = env.rows().await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].confirmed_at.is_none());
    assert_eq!(rows[0].choices.tags, ["api"]);
    assert_eq!(rows[0].choices.digest, "weekly");

    let mails = env.mails().await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0].contains("Subject: Bevestig uw aanmelding voor Voorbeeldblog"));
    let confirm = link(&mails[0], "confirm");

    // Opening the link (a mail scanner does) changes nothing.
    let page = env.get(&confirm).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"confirm\""));
    assert!(env.rows().await[0].confirmed_at.is_none());

    let confirmed = env
        .post(&confirm, &format!("csrf={}", csrf(&page.body)))
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    assert!(env.rows().await[0].confirmed_at.is_some());
    let manage = link(&confirmed.body, "manage");

    let page = env.get(&manage).await;
    assert_eq!(page.status, StatusCode::OK);
    for needle in [
        "value=\"some\" checked",
        "value=\"api\" checked",
        "value=\"anna\" checked",
        "value=\"weekly\" checked",
        "id=\"save\"",
        "id=\"unsubscribe\"",
    ] {
        assert!(page.body.contains(needle), "{needle} in {}", page.body);
    }
    assert!(!page.body.contains("value=\"data\" checked"));
    let saved = env
        .post(
            &manage,
            &format!(
                "csrf={}&action=save&scope=some&tags=data&digest=daily",
                csrf(&page.body)
            ),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert!(saved.body.contains("role=\"status\""));
    let row = &env.rows().await[0];
    assert_eq!(row.choices.tags, ["data"]);
    assert!(row.choices.authors.is_empty());
    assert_eq!(row.choices.digest, "daily");

    // RFC 8058: the mail provider POSTs without token or origin.
    let unsubscribe = format!(
        "/blog/unsubscribe/{}",
        env.token(
            Purpose::Unsubscribe,
            &row.subscriber_id(),
            row.manage_key,
            None
        )
    );
    for _ in 0..2 {
        let left = env
            .send(
                "POST",
                &unsubscribe,
                &[("content-type", FORM)],
                "List-Unsubscribe=One-Click",
            )
            .await;
        assert_eq!(left.status, StatusCode::OK, "{}", left.body);
        assert!(left.body.contains("U bent afgemeld"));
        assert!(env.rows().await.is_empty());
    }
    assert_eq!(env.mails().await.len(), 1, "no other mail went out");
}

#[tokio::test]
async fn new_pending_and_confirmed_addresses_get_the_same_answer() {
    let env = Env::new("nl", &[]).await;
    let choices = every_post("nl");
    env.confirmed("known@example.org", &choices).await;
    let mut pages = Vec::new();
    for address in ["new@example.org", "new@example.org", "KNOWN@example.org"] {
        let body = env
            .subscribe_body(&format!("email={address}&scope=all&digest=none"))
            .await;
        let answer = env.post("/blog/subscribe", &body).await;
        assert_eq!(answer.status, StatusCode::OK);
        pages.push(answer.body);
    }
    assert_eq!(pages[0], pages[1]);
    assert_eq!(pages[0], pages[2]);
    let mails = env.mails().await;
    // The new address once (the second request falls in its quiet time),
    // the known one its manage link.
    assert_eq!(mails.len(), 2, "{mails:?}");
    let known = mails.iter().find(|m| m.contains("al aangemeld")).unwrap();
    let manage = link(known, "manage");
    assert_eq!(env.get(&manage).await.status, StatusCode::OK);
    let rows = env.rows().await;
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .any(|r| r.target == "known@example.org" && r.confirmed_at.is_some())
    );
}

#[tokio::test]
async fn bad_sign_ups_get_a_clear_4xx_and_change_nothing() {
    let env = Env::new("en", &[]).await;
    let good = "email=a%40example.org&scope=all&digest=none";
    let long_address = format!("email={}%40example.org&scope=all", "a".repeat(250));
    let huge = format!("{good}&padding={}", "x".repeat(17 * 1024));
    let same_origin = [("content-type", FORM), ("origin", "http://127.0.0.1:9")];
    type Case<'a> = (
        &'a str,
        String,
        Vec<(&'a str, &'a str)>,
        StatusCode,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "invalid address",
            "email=not-an-address&scope=all".into(),
            same_origin.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Enter a valid email address",
        ),
        (
            "empty address",
            "email=&scope=all".into(),
            same_origin.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Enter your email address",
        ),
        (
            "overlong address",
            long_address,
            same_origin.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "too long",
        ),
        (
            "unknown tag",
            format!("{good}&scope=some&tags=nope").replace("scope=all&", ""),
            same_origin.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "A topic you chose does not exist",
        ),
        (
            "unknown author",
            "email=a%40example.org&scope=some&authors=nobody".into(),
            same_origin.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "An author you chose",
        ),
        (
            "nothing chosen",
            "email=a%40example.org&scope=some".into(),
            same_origin.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Tick at least one topic",
        ),
        (
            "bad digest",
            "email=a%40example.org&scope=all&digest=hourly".into(),
            same_origin.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "how often",
        ),
        (
            "body over 16 KB",
            huge,
            same_origin.to_vec(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too much data",
        ),
        (
            "cross-site origin",
            good.into(),
            vec![("content-type", FORM), ("origin", "https://evil.example")],
            StatusCode::FORBIDDEN,
            "The form has expired",
        ),
        (
            "cross-site fetch",
            good.into(),
            vec![("content-type", FORM), ("sec-fetch-site", "cross-site")],
            StatusCode::FORBIDDEN,
            "The form has expired",
        ),
    ];
    for (what, fields, headers, status, words) in cases {
        let body = env.subscribe_body(&fields).await;
        let answer = env.send("POST", "/blog/subscribe", &headers, &body).await;
        assert_eq!(answer.status, status, "{what}: {}", answer.body);
        assert!(
            answer.body.contains(words),
            "{what}: {words} in {}",
            answer.body
        );
        assert!(env.rows().await.is_empty(), "{what}: nothing stored");
    }
    // A form with errors names them in a summary linked to the fields.
    let body = env.subscribe_body("email=x&scope=some&tags=nope").await;
    let answer = env.post("/blog/subscribe", &body).await;
    assert!(answer.body.contains("<title>Error: "), "{}", answer.body);
    assert!(answer.body.contains("<a href=\"#email\">"));
    assert!(answer.body.contains("<a href=\"#tags-0\">"));
    assert!(answer.body.contains("aria-invalid=\"true\""));
    assert!(answer.body.contains("value=\"x\""), "what was typed stays");

    for (what, body) in [
        ("wrong csrf", format!("csrf=forged.token&{good}")),
        ("no csrf", good.to_string()),
    ] {
        let answer = env.post("/blog/subscribe", &body).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{what}");
    }
    // A CSRF token of another form does not fit this one.
    let other = crate::server::serve::security::csrf_token(
        &env.site().signer,
        "confirm:serve:1",
        Utc::now(),
    );
    let answer = env
        .post("/blog/subscribe", &format!("csrf={other}&{good}"))
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);

    // The honeypot: the same page as a real sign-up, and nothing happens.
    let body = env.subscribe_body(&format!("{good}&website=spam")).await;
    let answer = env.post("/blog/subscribe", &body).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.contains("Check your mailbox"));
    assert!(env.rows().await.is_empty());
    assert!(env.mails().await.is_empty(), "no mail for any bad request");
}

#[tokio::test]
async fn a_flood_of_sign_ups_from_one_client_gets_429_with_retry_after() {
    let env = Env::new("en", &[]).await;
    let flooder: IpAddr = "192.0.2.7".parse().unwrap();
    let headers = [("content-type", FORM), ("origin", "http://127.0.0.1:9")];
    for n in 0..pages::SIGNUPS_PER_HOUR {
        let body = env
            .subscribe_body(&format!("email=x&scope=all&n={n}"))
            .await;
        let answer = env
            .send_from(flooder, "POST", "/blog/subscribe", &headers, &body)
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let body = env.subscribe_body("email=a%40example.org&scope=all").await;
    let answer = env
        .send_from(flooder, "POST", "/blog/subscribe", &headers, &body)
        .await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = answer.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3000..=3600).contains(&wait), "{wait}");
    assert!(answer.body.contains("Too many sign-ups"));
    assert!(env.rows().await.is_empty());
    assert!(env.mails().await.is_empty());
    // Another client is not held up.
    let answer = env.post("/blog/subscribe", &body).await;
    assert_eq!(answer.status, StatusCode::OK);
    // The form itself still shows.
    assert_eq!(env.get("/blog/subscribe").await.status, StatusCode::OK);
}

#[tokio::test]
async fn forged_expired_and_reused_links_are_refused_without_a_change() {
    let env = Env::new("en", &[]).await;
    let site = env.site();
    let choices = every_post("en");
    let Requested::Pending {
        subscription: s, ..
    } = site
        .store
        .request_email(
            "blog",
            "p@example.org",
            &choices,
            Utc::now(),
            Duration::minutes(10),
        )
        .await
        .unwrap()
    else {
        panic!("a new sign-up is pending")
    };
    let id = s.subscriber_id();
    let key = s.confirm_key.unwrap();
    let good = env.token(Purpose::Confirm, &id, key, Some(Duration::hours(48)));
    let expired = env.token(Purpose::Confirm, &id, key, Some(Duration::seconds(-1)));
    let forged = Signer::new(b"another secret of at least 32 bytes!", "blog").sign(&Claims {
        purpose: Purpose::Confirm,
        subscriber: id.clone(),
        key,
        expires: None,
    });
    let wrong_key = env.token(Purpose::Confirm, &id, key ^ 1, Some(Duration::hours(1)));
    for (token, status) in [
        (&forged, StatusCode::BAD_REQUEST),
        (&"junk".to_string(), StatusCode::BAD_REQUEST),
        (&expired, StatusCode::GONE),
    ] {
        let uri = format!("/blog/confirm/{token}");
        assert_eq!(env.get(&uri).await.status, status);
        let page = env.get("/blog/subscribe").await;
        let answer = env.post(&uri, &format!("csrf={}", csrf(&page.body))).await;
        assert_eq!(answer.status, status, "{}", answer.body);
    }
    let expired_page = env.get(&format!("/blog/confirm/{expired}")).await;
    assert!(
        expired_page.body.contains("/blog/subscribe"),
        "offers to sign up again"
    );

    // A wrong key, and a good token with a CSRF token of another form.
    let uri = format!("/blog/confirm/{wrong_key}");
    let page = env.get(&uri).await;
    assert_eq!(
        env.post(&uri, &format!("csrf={}", csrf(&page.body)))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let uri = format!("/blog/confirm/{good}");
    let other = env.get("/blog/subscribe").await;
    assert_eq!(
        env.post(&uri, &format!("csrf={}", csrf(&other.body)))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert!(
        env.rows().await[0].confirmed_at.is_none(),
        "nothing confirmed so far"
    );

    let page = env.get(&uri).await;
    let form = format!("csrf={}", csrf(&page.body));
    assert_eq!(env.post(&uri, &form).await.status, StatusCode::OK);
    let confirmed_at = env.rows().await[0].confirmed_at;
    assert!(confirmed_at.is_some());
    let again = env.post(&uri, &form).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("already confirmed"));
    assert_eq!(env.rows().await[0].confirmed_at, confirmed_at);

    // Manage and unsubscribe links: another key, or a confirm token.
    let row = env.rows().await.remove(0);
    let stale = env.token(Purpose::Manage, &id, row.manage_key ^ 1, None);
    assert_eq!(
        env.get(&format!("/blog/manage/{stale}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        env.get(&format!("/blog/manage/{good}")).await.status,
        StatusCode::BAD_REQUEST
    );
    let stale = env.token(Purpose::Unsubscribe, &id, row.manage_key ^ 1, None);
    let one_click = [("content-type", FORM)];
    let answer = env
        .send(
            "POST",
            &format!("/blog/unsubscribe/{stale}"),
            &one_click,
            "List-Unsubscribe=One-Click",
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let answer = env
        .send(
            "POST",
            &format!("/blog/unsubscribe/{forged}"),
            &one_click,
            "List-Unsubscribe=One-Click",
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    // Without the one-click body, the page's CSRF token is needed.
    let manage = env.token(Purpose::Manage, &id, row.manage_key, None);
    let answer = env
        .send(
            "POST",
            &format!("/blog/unsubscribe/{manage}"),
            &one_click,
            "List-Unsubscribe=Yes",
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(env.rows().await, vec![row]);
    assert!(env.mails().await.is_empty());
}

#[tokio::test]
async fn the_manage_page_unsubscribes_and_refuses_bad_choices() {
    let env = Env::new("en", &[]).await;
    let choices = Choices {
        tags: vec!["api".into()],
        digest: "none".into(),
        language: "nl".into(),
        ..Choices::default()
    };
    let s = env.confirmed("m@example.org", &choices).await;
    let uri = format!(
        "/blog/manage/{}",
        env.token(Purpose::Manage, &s.subscriber_id(), s.manage_key, None)
    );
    // In the reader's own language, unless asked otherwise.
    let page = env.get(&uri).await;
    assert!(page.body.contains("<html lang=\"nl\">"));
    assert!(
        env.get(&format!("{uri}?lang=en"))
            .await
            .body
            .contains("<html lang=\"en\">")
    );
    let bad = env
        .post(
            &uri,
            &format!("csrf={}&action=save&scope=some&tags=nope", csrf(&page.body)),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(env.rows().await[0].choices, choices);
    let bad = env.post(&uri, "csrf=nope&action=unsubscribe").await;
    assert_eq!(bad.status, StatusCode::FORBIDDEN);
    assert_eq!(env.rows().await.len(), 1);

    let gone = env
        .post(
            &uri,
            &format!("csrf={}&action=unsubscribe", csrf(&page.body)),
        )
        .await;
    assert_eq!(gone.status, StatusCode::OK);
    assert!(gone.body.contains("afgemeld"));
    assert!(env.rows().await.is_empty());
    assert_eq!(env.get(&uri).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_unsubscribe_link_shows_a_page_and_its_form_unsubscribes() {
    let env = Env::new("en", &[]).await;
    let choices = every_post("en");
    let s = env.confirmed("u@example.org", &choices).await;
    let uri = format!(
        "/blog/unsubscribe/{}",
        env.token(Purpose::Unsubscribe, &s.subscriber_id(), s.manage_key, None)
    );
    let page = env.get(&uri).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"unsubscribe\""));
    assert_eq!(
        env.rows().await.len(),
        1,
        "opening the link changes nothing"
    );
    let done = env.post(&uri, &format!("csrf={}", csrf(&page.body))).await;
    assert_eq!(done.status, StatusCode::OK);
    assert!(env.rows().await.is_empty());
    let again = env.post(&uri, &format!("csrf={}", csrf(&page.body))).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, done.body);
}

#[tokio::test]
async fn a_feed_definition_subscriber_unsubscribes_by_opting_out() {
    let env = Env::new("en", &[]).await;
    let uri = format!(
        "/blog/unsubscribe/{}",
        env.token(Purpose::Unsubscribe, "anna", 0, None)
    );
    let multipart = "--b\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b--\r\n";
    for _ in 0..2 {
        let answer = env
            .send(
                "POST",
                &uri,
                &[("content-type", "multipart/form-data; boundary=b")],
                multipart,
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }
    assert_eq!(env.site().store.opt_outs("blog").await.unwrap(), ["anna"]);
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_no_inline_script() {
    let env = Env::new("en", &[]).await;
    let page = env.get("/blog/subscribe").await;
    let bad = env.post("/blog/subscribe", "csrf=x").await;
    let unknown = env.get("/nope/subscribe").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    for answer in [&page, &bad, &unknown] {
        let csp = answer.headers["content-security-policy"].to_str().unwrap();
        for part in [
            "default-src 'none'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(part), "{part} in {csp}");
        }
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(answer.headers["x-content-type-options"], "nosniff");
        assert_eq!(answer.headers["referrer-policy"], "no-referrer");
        assert_eq!(answer.headers["x-frame-options"], "DENY");
    }
    // The inline stylesheet is allowed by its hash, and nothing else.
    use base64::Engine as _;
    use sha2::Digest as _;
    let css = page
        .body
        .split("<style>")
        .nth(1)
        .unwrap()
        .split("</style>")
        .next()
        .unwrap();
    let hash =
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(css.as_bytes()));
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains(&format!("style-src 'sha256-{hash}'")), "{csp}");
    assert_eq!(page.headers["cache-control"], "no-store");
    assert!(!page.body.contains("<script") && !page.body.contains(" style=\""));
}

#[tokio::test]
async fn pages_speak_the_blogs_language_or_the_one_asked_for() {
    let env = Env::new("en-GB", &[]).await;
    let page = env.get("/blog/subscribe").await;
    assert!(page.body.contains("<html lang=\"en\">") && page.body.contains(">Subscribe</button>"));
    let page = env.get("/blog/subscribe?lang=nl").await;
    assert!(page.body.contains("<html lang=\"nl\">") && page.body.contains(">Aanmelden</button>"));
    assert!(
        page.body
            .contains(&format!("action=\"{PUBLIC}/blog/subscribe?lang=nl\""))
    );
}

#[tokio::test]
async fn the_operator_s_privacy_paragraph_replaces_the_built_in_one() {
    let privacy = "<p>Beheerd door Gemeente Voorbeeld, privacy@example.org.</p>\n";
    let env = Env::new("nl", &[("pages/nl/privacy.html", privacy)]).await;
    let page = env.get("/blog/subscribe").await;
    assert!(page.body.contains(privacy.trim_end()));
    assert!(!page.body.contains("We bewaren alleen"));
}

#[tokio::test]
async fn unconfirmed_sign_ups_are_erased_after_seven_days() {
    let env = Env::new("nl", &[]).await;
    let store = &env.site().store;
    let choices = every_post("nl");
    let now = Utc::now();
    for (address, age) in [("old@example.org", 8), ("new@example.org", 6)] {
        store
            .request_email(
                "blog",
                address,
                &choices,
                now - Duration::days(age),
                Duration::minutes(10),
            )
            .await
            .unwrap();
    }
    pages::purge(&env.sites, now).await;
    let left: Vec<String> = env.rows().await.into_iter().map(|r| r.target).collect();
    assert_eq!(left, ["new@example.org"]);
}
