//! The subscription pages over real HTTP on 127.0.0.1: the service as
//! `postbode serve` starts it (`server::serve::{prepare, start}`), a real
//! SQLite state, and the confirmation mail through a real SMTP server
//! (aiosmtpd); and the feeds index that links to the subscribe page.

use std::time::Duration;

use postbode::server::serve::{prepare, start};
use postbode::state::Store;
use postbode::token::{Claims, Purpose, Signer};

use crate::helpers::{SmtpServer, TestBlog, free_port};

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
