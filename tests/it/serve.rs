//! The subscription pages over real HTTP on 127.0.0.1: the `postbode serve`
//! binary with mails in a file outbox, and the service started in-process
//! (`server::serve::{prepare, start}`) with the confirmation mail through a
//! real SMTP server (aiosmtpd); a real SQLite state in both. And the feeds
//! index that links to the subscribe page.

use std::time::Duration;

use postbode::server::serve::{prepare, start};
use postbode::state::Store;
use postbode::token::{Claims, Purpose, Signer};

use crate::helpers::{SmtpServer, TestBlog, free_port};

/// A `postbode serve` process, killed when dropped.
struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first `{origin}/{blog}/{kind}/…` link in `text`.
fn link(text: &str, prefix: &str) -> String {
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} in {text}"));
    text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"')
        .collect()
}

const SECRET: &str = "an-http-test-secret-of-at-least-32-bytes";
const FORM: &str = "application/x-www-form-urlencoded";

/// The value of the `csrf` field of a page.
fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

async fn call(client: &reqwest::Client, request: reqwest::RequestBuilder) -> Answer {
    let response = client.execute(request.build().unwrap()).await.unwrap();
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.text().await.unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_signs_up_over_http_confirms_from_the_smtp_mail_and_leaves_with_one_click() {
    postbode::net::install_crypto_provider();
    let maildir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(Some(maildir.path()), &[]);
    let port = free_port();
    let origin = format!("http://127.0.0.1:{port}");
    let blog = TestBlog::new(&format!(
        r#"state = "state.db"

[email]
from = "Test blog <blog@example.org>"
transport = "smtp"
smtp_url = "smtp://127.0.0.1:{}"

[serve]
public_url = "{origin}"
secret_env = "UNUSED_HERE"
"#,
        smtp.port
    ));
    blog.write(
        "tags.yml",
        "api:\n  label: API\n  description: About APIs\n",
    );
    let text = std::fs::read_to_string(blog.toml()).unwrap();
    let config = postbode::config::parse(&text, &blog.toml()).unwrap();
    let name = config.name.clone();
    let state = config.state.clone();
    let sites = prepare(&[config], &|_| Some(SECRET.to_string()))
        .await
        .unwrap();
    start(format!("127.0.0.1:{port}").parse().unwrap(), sites)
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let url = |rest: &str| format!("{origin}/{name}/{rest}");

    let form = call(&client, client.get(url("subscribe"))).await;
    assert_eq!(form.status, 200);
    assert_eq!(form.headers["x-frame-options"], "DENY");
    assert!(form.body.contains("name=\"tags\" value=\"api\""));
    let body = format!(
        "csrf={}&email=reader%40example.org&scope=some&tags=api&digest=none&website=",
        csrf(&form.body)
    );
    let posted = client
        .post(url("subscribe"))
        .header("content-type", FORM)
        .header("origin", &origin)
        .body(body);
    let answer = call(&client, posted).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.contains("Check your mailbox"));

    let mut waited = 0;
    while smtp.received().is_empty() {
        assert!(waited < 100, "the confirmation mail never arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    let mail = &smtp.received()[0];
    assert_eq!(mail["rcpt_tos"][0], "reader@example.org");
    assert_eq!(mail["subject"], "Confirm your sign-up for Test blog");
    let text = mail["text"].as_str().unwrap();
    let start = text.find(&url("confirm/")).expect("a confirm link");
    let confirm: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();

    let store = Store::open(&state).await.unwrap();
    let page = call(&client, client.get(&confirm)).await;
    assert_eq!(page.status, 200);
    assert!(
        store.subscriptions(&name).await.unwrap()[0]
            .confirmed_at
            .is_none()
    );
    let posted = client
        .post(&confirm)
        .header("content-type", FORM)
        .header("origin", &origin)
        .body(format!("csrf={}", csrf(&page.body)));
    let confirmed = call(&client, posted).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    let row = store.subscriptions(&name).await.unwrap().remove(0);
    assert!(row.confirmed_at.is_some());
    assert_eq!(row.choices.tags, ["api"]);

    let token = Signer::new(SECRET.as_bytes(), &name).sign(&Claims {
        purpose: Purpose::Unsubscribe,
        subscriber: row.subscriber_id(),
        key: row.manage_key,
        expires: None,
    });
    for _ in 0..2 {
        let one_click = client
            .post(url(&format!("unsubscribe/{token}")))
            .header("content-type", FORM)
            .body("List-Unsubscribe=One-Click");
        let answer = call(&client, one_click).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(store.subscriptions(&name).await.unwrap().is_empty());
    }
    assert_eq!(smtp.received().len(), 1, "one mail in all");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serve_binary_takes_a_sign_up_to_its_confirmation_and_lets_the_reader_leave() {
    let port = free_port();
    let origin = format!("http://127.0.0.1:{port}");
    let blog = TestBlog::new(&format!(
        "state = \"state.db\"\n\n[email]\nfrom = \"blog@example.org\"\ntransport = \"file\"\noutbox = \"outbox\"\n\n[serve]\npublic_url = \"{origin}\"\nsecret_env = \"PAGES_SECRET\"\n"
    ));
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_postbode"));
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg(blog.toml())
        .current_dir(blog.path())
        .env("PAGES_SECRET", SECRET)
        .envs(blog.state_env())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let _served = Served(command.spawn().unwrap());
    let client = reqwest::Client::new();
    let url = |rest: &str| format!("{origin}/feeds/{rest}");
    let mut form = None;
    for _ in 0..100 {
        if let Ok(response) = client.get(url("subscribe")).send().await {
            form = Some(response.text().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let form = form.expect("postbode serve answers");
    let post = |to: String, body: String| {
        client
            .post(to)
            .header("content-type", FORM)
            .header("origin", &origin)
            .body(body)
    };
    let body = format!(
        "csrf={}&email=r%40example.org&scope=all&digest=daily",
        csrf(&form)
    );
    let answer = call(&client, post(url("subscribe"), body)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    let outbox = blog.path().join("outbox");
    let mut mail = None;
    for _ in 0..100 {
        if let Some(Ok(entry)) = std::fs::read_dir(&outbox).ok().and_then(|mut d| d.next()) {
            mail = Some(std::fs::read(entry.path()).unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let raw = mail.expect("a confirmation mail in the outbox");
    let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let confirm = link(&parsed.body_text(0).unwrap(), &url("confirm/"));
    let page = call(&client, client.get(&confirm)).await;
    let confirmed = call(&client, post(confirm, format!("csrf={}", csrf(&page.body)))).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    let manage = link(&confirmed.body, &url("manage/"));
    let page = call(&client, client.get(&manage)).await;
    assert!(
        page.body.contains("value=\"daily\" checked"),
        "{}",
        page.body
    );
    let body = format!("csrf={}&action=unsubscribe", csrf(&page.body));
    let left = call(&client, post(manage.clone(), body)).await;
    assert_eq!(left.status, 200, "{}", left.body);
    assert_eq!(call(&client, client.get(&manage)).await.status, 404);
}

#[test]
fn the_feeds_index_links_to_the_subscribe_page_of_a_served_blog() {
    let blog = TestBlog::new(
        "[serve]\npublic_url = \"https://example.org/abonneren/\"\nsecret_env = \"UNUSED\"\n",
    );
    blog.write(
        "2025-01-01-hello.md",
        "---\ntitle: Hello\n---\nFirst post.\n",
    );
    let run = blog.run(&["build"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let index = blog.read_out("index.html");
    assert!(
        index.contains("href=\"https://example.org/abonneren/feeds/subscribe\""),
        "{index}"
    );
}
