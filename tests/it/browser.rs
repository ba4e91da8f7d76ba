//! The subscription pages end to end in a real browser: Debian's headless
//! Chromium, driven through chromedriver (WebDriver, `fantoccini`), against
//! the real `postbode serve` process, with mail going to the real SMTP
//! server (`tests/tools/smtp_server.py`). A reader subscribes to one tag,
//! confirms from the link in the mail, gets exactly one notification for a
//! post with that tag, leaves with the RFC 8058 one-click POST and gets
//! nothing after that. Every page is photographed at 390 and 1280 px into
//! `target/screenshots/` for a person to look at.
//!
//! Without `chromium` and `chromedriver` the test is skipped with a line on
//! stderr, unless `POSTBODE_REQUIRE_BROWSER` is set (as `.ci/run` does).

use std::io::{BufRead as _, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

use crate::helpers::*;

/// The secret `[serve]` signs its tokens with, as the test gives it.
const SECRET: &str = "browser-test-secret-of-at-least-32-bytes!";
const READER: &str = "reader@example.net";
/// The widths every page is photographed at: a phone and a desktop.
const WIDTHS: [u32; 2] = [390, 1280];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_subscribes_in_a_browser_confirms_gets_one_post_and_leaves_with_one_click() {
    let Some(tools) = browser_tools() else {
        return;
    };
    let mail = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(Some(mail.path()), &[]);
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let blog = TestBlog::new(&format!(
        "state = \"state.db\"\ntags_file = \"tags.yml\"\n\n\
         [email]\nfrom = \"Test blog <noreply@example.org>\"\ntransport = \"smtp\"\n\
         smtp_url = \"smtp://127.0.0.1:{}\"\n\n\
         [serve]\npublic_url = \"{public}\"\nsecret_env = \"POSTBODE_SECRET\"\n",
        smtp.port
    ));
    std::fs::write(
        blog.path().join("tags.yml"),
        "api:\n  label: API\n  description: Posts about our APIs.\n\
         rust:\n  label: Rust\n  description: Posts about Rust.\n",
    )
    .unwrap();
    let today = chrono::Utc::now().date_naive();
    let post = |slug: &str, tag: &str| {
        blog.write(
            &format!("{today}-{slug}.md"),
            &format!(
                "---\ntitle: Post {slug}\ndate: {today}\ntags: [{tag}]\n---\nText of {slug}.\n"
            ),
        );
    };
    post("existing", "api");
    // The first run records the posts there are: none of them is news.
    run(&blog);

    let _serve = Serve::start(&blog, port);
    let shots = Screenshots::new();
    let browser = Browser::start(&tools).await;
    let b = &browser.client;
    let subscribe = format!("{public}/feeds/subscribe");

    b.goto(&subscribe).await.unwrap();
    shots.take(b, "1-subscribe").await;
    b.find(Locator::Css("input[name=email]"))
        .await
        .unwrap()
        .send_keys(READER)
        .await
        .unwrap();
    // Only posts with the tag `api`, each at once.
    for choice in [
        "input[name=scope][value=some]",
        "input[name=tags][value=api]",
        "input[name=digest][value=none]",
    ] {
        let input = b.find(Locator::Css(choice)).await.unwrap();
        input.click().await.unwrap();
    }
    submit(b, "subscribe").await;
    assert_eq!(heading(b).await, "Check your mailbox");
    shots.take(b, "2-check-mailbox").await;

    let confirmation = wait_for_mail(&smtp, 1);
    assert_eq!(confirmation["rcpt_tos"], serde_json::json!([READER]));
    let text = confirmation["text"].as_str().unwrap();
    let confirm = link(text, &format!("{public}/feeds/confirm/"))
        .unwrap_or_else(|| panic!("no confirmation link in the mail:\n{text}"));

    // Opening the link (as a mail scanner would) only shows a button.
    b.goto(&confirm).await.unwrap();
    shots.take(b, "3-confirm").await;
    submit(b, "confirm").await;
    assert_eq!(heading(b).await, "Your sign-up is confirmed");
    shots.take(b, "4-confirmed").await;

    // A post with the tag chosen and one without: one message, about the first.
    post("about-apis", "api");
    post("about-rust", "rust");
    run(&blog);
    let got = mail_to(&smtp, READER);
    assert_eq!(got.len(), 2, "{got:#?}");
    let notification = &got[1];
    assert!(
        notification["subject"]
            .as_str()
            .unwrap()
            .contains("Post about-apis"),
        "{notification}"
    );
    assert_eq!(
        notification["list_unsubscribe_post"],
        "List-Unsubscribe=One-Click"
    );
    let header = notification["list_unsubscribe"].as_str().unwrap();
    let unsubscribe = header
        .strip_prefix('<')
        .and_then(|h| h.strip_suffix('>'))
        .unwrap_or_else(|| panic!("List-Unsubscribe is not one <URL>: {header}"));
    assert!(
        unsubscribe.starts_with(&format!("{public}/feeds/unsubscribe/")),
        "{unsubscribe}"
    );
    let text = notification["text"].as_str().unwrap();
    let manage = link(text, &format!("{public}/feeds/manage/"))
        .unwrap_or_else(|| panic!("no manage link in the notification:\n{text}"));

    // Looking at the manage and unsubscribe pages changes nothing…
    b.goto(&manage).await.unwrap();
    b.find(Locator::Id("save")).await.unwrap();
    shots.take(b, "5-manage").await;
    b.goto(unsubscribe).await.unwrap();
    b.find(Locator::Id("unsubscribe")).await.unwrap();
    shots.take(b, "6-unsubscribe").await;
    drop(browser);
    post("more-apis", "api");
    run(&blog);
    assert_eq!(mail_to(&smtp, READER).len(), 3, "a GET unsubscribed");

    // …the one-click POST a mail client sends unsubscribes, and says 200 again.
    for _ in 0..2 {
        let response = post_form(unsubscribe, "List-Unsubscribe=One-Click");
        assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
    }
    post("after-leaving", "api");
    run(&blog);
    assert_eq!(mail_to(&smtp, READER).len(), 3, "mail after unsubscribing");
    eprintln!("screenshots of the pages: {}", shots.dir.display());
}

/// `postbode run`, with the secret the links in its emails are signed with.
fn run(blog: &TestBlog) {
    let run = blog.run_with_env(&["run"], &[("POSTBODE_SECRET", SECRET)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// `chromium` and `chromedriver` on the PATH; `None` (with a line on stderr
/// that the test was skipped) without them, a failure with
/// `POSTBODE_REQUIRE_BROWSER`.
struct Tools {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

fn browser_tools() -> Option<Tools> {
    let find = |name: &str| {
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    };
    if let (Some(chromium), Some(chromedriver)) = (find("chromium"), find("chromedriver")) {
        return Some(Tools {
            chromium,
            chromedriver,
        });
    }
    let hint = "needs chromium and chromedriver (Debian: apt-get install chromium chromium-driver)";
    assert!(
        std::env::var_os("POSTBODE_REQUIRE_BROWSER").is_none(),
        "the browser test {hint}"
    );
    skip(hint);
    None
}

/// A running `postbode serve` for `blog` on 127.0.0.1:`port`, stopped when
/// dropped.
struct Serve(Child);

impl Serve {
    fn start(blog: &TestBlog, port: u16) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_postbode"))
            .arg("serve")
            .arg(blog.toml())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .current_dir(blog.path())
            .env_remove("POSTBODE_LOG")
            .env_remove("POSTBODE_DATABASE_URL")
            .env("POSTBODE_SECRET", SECRET)
            .envs(blog.state_env())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start postbode serve");
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut said = String::new();
        while !said.contains("serving the subscription pages") {
            let n = stderr.read_line(&mut said).unwrap();
            assert!(n > 0, "postbode serve did not start:\n{said}");
        }
        // Keep reading, so that the process never blocks on a full pipe;
        // what it logs shows up in the test's output.
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                eprintln!("postbode serve: {line}");
            }
        });
        Serve(child)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Headless Chromium with a fresh profile, through chromedriver on a free
/// loopback port.
struct Browser {
    client: Client,
    driver: Child,
    port: u16,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start(tools: &Tools) -> Browser {
        let port = free_port();
        let driver = Command::new(&tools.chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        wait_for("chromedriver", Duration::from_secs(20), || {
            http_get_once(port, "/status").is_some_and(|r| r.contains("\"ready\":true"))
        });
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--hide-scrollbars",
            // Containers give /dev/shm 64 MB, too little for Chromium.
            "--disable-dev-shm-usage",
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": tools.chromium, "args": args},
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a chromedriver session");
        let session = client.session_id().await.unwrap().unwrap();
        Browser {
            client,
            driver,
            port,
            session,
            _profile: profile,
        }
    }
}

impl Drop for Browser {
    /// Ends the session (chromedriver then quits Chromium) and chromedriver,
    /// also when the test failed half-way.
    fn drop(&mut self) {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                self.session
            );
            let _ = s.write_all(request.as_bytes());
            let _ = s.read_to_end(&mut Vec::new());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Full-page screenshots into `target/screenshots/`.
struct Screenshots {
    dir: PathBuf,
}

impl Screenshots {
    fn new() -> Screenshots {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .unwrap()
            .join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        Screenshots { dir }
    }

    /// `<name>-<width>.png` for every width, as tall as the page; asserts
    /// that nothing sticks out sideways on a phone.
    async fn take(&self, b: &Client, name: &str) {
        let measure = async |script: &str| -> u64 {
            b.execute(script, vec![]).await.unwrap().as_u64().unwrap()
        };
        for width in WIDTHS {
            // A short window first, so that the page's height is its
            // content's; the window is taller than its viewport by the
            // frame headless Chromium still draws.
            b.set_window_size(width, 400).await.unwrap();
            let frame = 400 - measure("return window.innerHeight").await;
            let height = measure("return document.documentElement.scrollHeight").await;
            b.set_window_size(width, (height + frame).min(8000) as u32)
                .await
                .unwrap();
            let inner = measure("return window.innerWidth").await;
            let scroll = measure("return document.documentElement.scrollWidth").await;
            assert_eq!(inner, u64::from(width), "the viewport of {name}");
            assert!(
                scroll <= inner,
                "{name} is {scroll} px wide in a {inner} px window"
            );
            let png = b.screenshot().await.unwrap();
            std::fs::write(self.dir.join(format!("{name}-{width}.png")), png).unwrap();
        }
    }
}

/// Clicks the button with this id and waits for the page that follows
/// (one without that button).
async fn submit(b: &Client, id: &str) {
    b.find(Locator::Id(id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let start = std::time::Instant::now();
    while b.find(Locator::Id(id)).await.is_ok() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "#{id} is still there after clicking it:\n{}",
            b.source().await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The text of the page's `h1`.
async fn heading(b: &Client) -> String {
    b.find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits until the server has `n` messages; returns the last.
fn wait_for_mail(smtp: &SmtpServer, n: usize) -> serde_json::Value {
    wait_for("the mail", Duration::from_secs(20), || {
        smtp.received().len() >= n
    });
    smtp.received().swap_remove(n - 1)
}

/// The messages the server has for `to`, in order.
fn mail_to(smtp: &SmtpServer, to: &str) -> Vec<serde_json::Value> {
    smtp.received()
        .into_iter()
        .filter(|m| m["rcpt_tos"] == serde_json::json!([to]))
        .collect()
}

/// The first URL in `text` that starts with `prefix`.
fn link(text: &str, prefix: &str) -> Option<String> {
    let start = text.find(prefix)?;
    let url: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, '>' | '"' | '<' | ')'))
        .collect();
    Some(url)
}

/// A form POST, as a mail client sends the one-click unsubscribe (no
/// cookies, no Origin); the whole response.
fn post_form(url: &str, body: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", url.port().unwrap())).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let request = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        url.path(),
        url.authority(),
        body.len()
    );
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}
