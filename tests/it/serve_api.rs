//! The webhook subscription API of `postbode serve` over real HTTP on
//! 127.0.0.1 with a real state (an SQLite file, and PostgreSQL): what a
//! team's script sees when it adds, lists, reads and removes webhooks, and
//! that every refused request leaves the state as it was. Then the API
//! against its own OpenAPI document, with schemathesis.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use postbode::config::{BlogConfig, StateLocation};
use postbode::state::Store;
use postbode::state::subscriptions::{Choices, Kind, Subscription};
use serde_json::{Value, json};

use crate::helpers::{TestBlog, free_port, python, repo_dir};
use crate::notify::use_snapshot;
use crate::receiver::Receiver;

const TOKEN: &str = "team-token-0123456789abcdef";
const SECRET: &str = "0123456789abcdef0123456789abcdef";
/// The part of a Slack URL that is the secret.
const SLACK_PATH: &str = "services/T0001/B0002/XOXsecretTOKEN";
const SIGNING: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A blog with tags and authors and a `[serve]` table (the API switched on
/// when `with_api`), whose public URL is `port` on 127.0.0.1.
fn blog(port: u16, with_api: bool) -> TestBlog {
    let token = if with_api {
        "webhooks_api_token_env = \"TEAM_TOKEN\"\n"
    } else {
        ""
    };
    let blog = TestBlog::new(&format!(
        "tags_file = \"tags.yml\"\nauthors_file = \"authors.yml\"\n\
         [serve]\npublic_url = \"http://127.0.0.1:{port}\"\nsecret_env = \"SERVE_SECRET\"\n{token}"
    ));
    std::fs::write(
        blog.path().join("tags.yml"),
        "api:\n  label: API\nrest:\n  label: REST\nopen-source:\n  label: Open source\n",
    )
    .unwrap();
    std::fs::write(
        blog.path().join("authors.yml"),
        "ann:\n  name: Ann de Vries\nbo:\n  name: Bo Jansen\n",
    )
    .unwrap();
    blog
}

fn config(blog: &TestBlog) -> BlogConfig {
    let text = std::fs::read_to_string(blog.toml()).unwrap();
    let mut config = postbode::config::parse(&text, &blog.toml()).unwrap();
    if let Some(db) = &blog.db {
        config.state = StateLocation::parse(&db.url);
    }
    config
}

/// The service, running on a runtime of its own, and a client for it.
struct Service {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
    base: String,
    store: Store,
    blog: String,
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A problem document with this status: the media type, the fields of
    /// RFC 9457, and the version header every answer has.
    fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(self.header("api-version"), Some("1.0.0"));
        let p = self.json();
        assert_eq!(p["status"], status);
        assert!(p["title"].is_string() && p["detail"].is_string(), "{p}");
        p
    }

    /// The names in `invalidParams`.
    fn invalid(&self) -> Vec<String> {
        self.problem(422)["invalidParams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    }
}

impl Service {
    fn start(blog: &TestBlog, port: u16) -> Service {
        postbode::net::install_crypto_provider();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let config = config(blog);
        let env = |name: &str| match name {
            "TEAM_TOKEN" => Some(TOKEN.to_string()),
            "SERVE_SECRET" => Some(SECRET.to_string()),
            _ => None,
        };
        let (store, sites) = rt.block_on(async {
            let sites = postbode::server::serve::prepare(std::slice::from_ref(&config), &env)
                .await
                .unwrap();
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            postbode::server::serve::start(addr, sites.clone())
                .await
                .unwrap();
            (Store::open(&config.state).await.unwrap(), sites)
        });
        drop(sites);
        Service {
            rt,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: format!("http://127.0.0.1:{port}"),
            store,
            blog: config.name,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}/api/v1{path}", self.base, self.blog)
    }

    /// A request with the team's token (`token: None`: without one).
    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some((content_type, bytes)) = body {
            request = request.header("content-type", content_type).body(bytes);
        }
        self.rt.block_on(async {
            let response = request.send().await.expect("the service answers");
            Answer {
                status: response.status().as_u16(),
                headers: response.headers().clone(),
                text: response.text().await.unwrap(),
            }
        })
    }

    fn get(&self, path: &str) -> Answer {
        self.call("GET", path, Some(TOKEN), None)
    }

    fn post(&self, body: &Value) -> Answer {
        let bytes = serde_json::to_vec(body).unwrap();
        self.call(
            "POST",
            "/subscriptions",
            Some(TOKEN),
            Some(("application/json", bytes)),
        )
    }

    fn delete(&self, path: &str) -> Answer {
        self.call("DELETE", path, Some(TOKEN), None)
    }

    /// Every subscription of the blog in the state, read directly.
    fn state(&self) -> Vec<Subscription> {
        self.rt
            .block_on(self.store.subscriptions(&self.blog))
            .unwrap()
    }
}

fn slack_url() -> String {
    format!("https://hooks.slack.example/{SLACK_PATH}")
}

fn a_team_manages_its_webhooks_and_every_refusal_leaves_the_state_alone() {
    let port = free_port();
    let blog = blog(port, true);
    let api = Service::start(&blog, port);

    // A reader's email subscription: the API must not show or remove it.
    let email = api
        .rt
        .block_on(api.store.add_confirmed(
            &api.blog,
            Kind::Email,
            "reader@example.org",
            None,
            &Choices::default(),
            Utc::now(),
        ))
        .unwrap()
        .unwrap();

    // Create: 201, Location, the resource without its secret parts.
    let created = api.post(&json!({
        "url": slack_url(),
        "format": "slack",
        "label": "Team API",
        "tags": ["api", "rest"],
        "authors": ["ann"],
        "digest": "daily",
    }));
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.header("api-version"), Some("1.0.0"));
    assert_eq!(created.header("content-type"), Some("application/json"));
    let sub = created.json();
    let id = sub["id"].as_i64().unwrap();
    assert_eq!(
        created.header("location"),
        Some(api.url(&format!("/subscriptions/{id}")).as_str())
    );
    assert_eq!(sub["url"], "https://hooks.slack.example/…");
    assert_eq!(sub["format"], "slack");
    assert_eq!(sub["signed"], false);
    assert_eq!(sub["label"], "Team API");
    assert_eq!(sub["tags"], json!(["api", "rest"]));
    assert_eq!(sub["authors"], json!(["ann"]));
    assert_eq!(sub["digest"], "daily");
    assert_eq!(sub["language"], "en", "the blog's language is the default");
    assert!(!created.text.contains("XOXsecret"), "{}", created.text);

    // List and read: the URL masked there too.
    let list = api.get("/subscriptions");
    assert_eq!(list.status, 200);
    assert_eq!(list.header("api-version"), Some("1.0.0"));
    assert_eq!(list.json()["subscriptions"], json!([sub]));
    assert!(!list.text.contains("XOXsecret") && !list.text.contains("reader@"));
    let one = api.get(&format!("/subscriptions/{id}"));
    assert_eq!(one.status, 200);
    assert_eq!(one.json(), sub);
    // The state has the whole URL, for sending.
    let stored = api.state();
    assert_eq!(stored.len(), 2);
    let row = stored.iter().find(|s| s.id == id).unwrap();
    assert_eq!(row.webhook.as_ref().unwrap().url, slack_url());
    assert!(row.confirmed_at.is_some(), "a webhook is active at once");

    // Refusals, each with the state unchanged.
    let before = api.state();
    let refused = |answer: Answer, status: u16| {
        let p = answer.problem(status);
        assert_eq!(api.state(), before, "a refused request changed the state");
        p
    };
    let p = refused(api.post(&json!({"url": slack_url()})), 409);
    assert!(p["detail"].as_str().unwrap().contains("already"), "{p}");
    // The same receiver spelled differently is the same subscription.
    refused(
        api.post(&json!({"url": format!("https://Hooks.Slack.Example/{SLACK_PATH}")})),
        409,
    );
    for url in [
        "http://hooks.example.org/x",
        "not a url",
        "ftp://example.org/x",
        "https://user:pw@example.org/x",
        "https://example.org/x#part",
    ] {
        let answer = api.post(&json!({ "url": url }));
        assert_eq!(answer.invalid(), ["url"], "{url}: {}", answer.text);
        assert!(
            !answer.text.contains("hooks.example.org"),
            "{}",
            answer.text
        );
        refused(answer, 422);
    }
    let answer = api.post(&json!({"url": "https://other.example/x", "tags": ["api", "nope"]}));
    assert_eq!(answer.invalid(), ["tags[1]"]);
    refused(answer, 422);
    let answer = api.post(&json!({
        "url": "https://other.example/x",
        "authors": ["zed"],
        "secret": "not base64!",
        "label": "x".repeat(101),
        "format": "xml",
        "colour": "blue",
    }));
    let mut names = answer.invalid();
    names.sort();
    assert_eq!(names, ["authors[0]", "colour", "format", "label", "secret"]);
    refused(answer, 422);
    refused(api.post(&json!({"format": "json"})), 422);
    refused(api.post(&json!(["https://other.example/x"])), 422);

    let body = br#"{"url": "https://other.example/x""#.to_vec();
    let json_type = "application/json";
    let p = refused(
        api.call(
            "POST",
            "/subscriptions",
            Some(TOKEN),
            Some((json_type, body)),
        ),
        400,
    );
    assert_eq!(p["invalidParams"][0]["name"], "body");
    let body = br#"{"url": "https://other.example/x"}"#.to_vec();
    refused(
        api.call(
            "POST",
            "/subscriptions",
            Some(TOKEN),
            Some(("text/plain", body.clone())),
        ),
        415,
    );
    refused(
        api.call("POST", "/subscriptions", Some(TOKEN), Some(("", body))),
        415,
    );
    let big =
        serde_json::to_vec(&json!({"url": "https://other.example/x", "label": "x".repeat(17_000)}))
            .unwrap();
    refused(
        api.call(
            "POST",
            "/subscriptions",
            Some(TOKEN),
            Some((json_type, big)),
        ),
        413,
    );

    // No token, a wrong one, another scheme: 401 asking for a bearer token.
    let good = serde_json::to_vec(&json!({"url": "https://other.example/x"})).unwrap();
    for token in [None, Some("wrong"), Some(&TOKEN[..TOKEN.len() - 1])] {
        for (method, path) in [
            ("GET", "/subscriptions".to_string()),
            ("GET", format!("/subscriptions/{id}")),
            ("DELETE", format!("/subscriptions/{id}")),
        ] {
            let answer = api.call(method, &path, token, None);
            assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
            refused(answer, 401);
        }
        let body = Some((json_type, good.clone()));
        refused(api.call("POST", "/subscriptions", token, body), 401);
    }
    let basic = api.rt.block_on(async {
        api.client
            .get(api.url("/subscriptions"))
            .basic_auth("team", Some(TOKEN))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(basic, 401);

    // What is not a webhook of this API is not there.
    refused(api.get(&format!("/subscriptions/{}", email.id)), 404);
    refused(api.delete(&format!("/subscriptions/{}", email.id)), 404);
    refused(api.get("/subscriptions/999999"), 404);
    refused(api.get("/subscriptions/abc"), 404);
    refused(api.get("/subscriptions/"), 404);
    refused(api.get(&format!("/subscriptions/{id}/")), 404);
    refused(api.get("/nothing"), 404);
    let answer = api.call("PUT", &format!("/subscriptions/{id}"), Some(TOKEN), None);
    assert_eq!(answer.header("allow"), Some("GET, DELETE"));
    refused(answer, 405);

    // A loopback receiver may be plain http; a signing secret is kept for
    // json and said to be there, never shown.
    let local = api.post(&json!({
        "url": "http://127.0.0.1:9/hook",
        "secret": SIGNING,
        "language": "nl",
    }));
    assert_eq!(local.status, 201, "{}", local.text);
    let local = local.json();
    assert_eq!(local["signed"], true);
    assert_eq!(local["format"], "json");
    assert_eq!(local["language"], "nl");
    assert_eq!(local["tags"], json!([]));
    assert!(!local.to_string().contains("whsec_"));
    let local_id = local["id"].as_i64().unwrap();

    // Delete: 204, then gone; the email subscription stays.
    let deleted = api.delete(&format!("/subscriptions/{id}"));
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.header("api-version"), Some("1.0.0"));
    assert!(deleted.text.is_empty());
    api.delete(&format!("/subscriptions/{id}")).problem(404);
    api.get(&format!("/subscriptions/{id}")).problem(404);
    let left: Vec<i64> = api.state().iter().map(|s| s.id).collect();
    assert_eq!(left, [email.id, local_id]);
    let list = api.get("/subscriptions").json();
    assert_eq!(list["subscriptions"].as_array().unwrap().len(), 1);
}

/// The sample blog of `tests/data/history` (`before` or `after`), served
/// with the API on `port`, without subscribers of its own.
fn history_blog(port: u16) -> TestBlog {
    let blog = TestBlog::new("");
    std::fs::write(
        blog.toml(),
        format!(
            "title = \"voorbeeld.example.org\"\nsite_url = \"https://voorbeeld.example.org\"\n\
             source = \"blog\"\ntags_file = \"tags.yml\"\noutput = \"out\"\nlanguage = \"nl\"\n\
             [serve]\npublic_url = \"http://127.0.0.1:{port}\"\nsecret_env = \"SERVE_SECRET\"\n\
             webhooks_api_token_env = \"TEAM_TOKEN\"\n"
        ),
    )
    .unwrap();
    blog
}

fn notify(blog: &TestBlog, now: &str) {
    let env = [("SERVE_SECRET", SECRET), ("TEAM_TOKEN", TOKEN)];
    let run = blog.run_with_env(&["--now", now, "notify"], &env);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
}

fn a_webhook_added_through_the_api_is_told_about_the_next_matching_post() {
    let port = free_port();
    let blog = history_blog(port);
    use_snapshot(&blog, "before");
    notify(&blog, "2025-07-11T00:00:00Z");

    let receiver = Receiver::start();
    let api = Service::start(&blog, port);
    let added = api.post(&json!({
        "url": receiver.url("/nds"),
        "secret": SIGNING,
        "tags": ["nds"],
    }));
    assert_eq!(added.status, 201, "{}", added.text);
    // A second one, removed again before the post: it gets nothing.
    let removed = api.post(&json!({"url": receiver.url("/gone"), "format": "slack"}));
    assert_eq!(removed.status, 201, "{}", removed.text);
    let gone = removed.json()["id"].as_i64().unwrap();
    assert_eq!(api.delete(&format!("/subscriptions/{gone}")).status, 204);

    use_snapshot(&blog, "after");
    notify(&blog, "2025-07-16T00:00:00Z");
    let got = receiver.requests_to("/nds");
    assert_eq!(got.len(), 1, "only the new post tagged nds: {got:?}");
    let message = &got[0];
    let text = String::from_utf8_lossy(&message.body);
    assert!(text.contains("/blog/2025/07/15/data-strategie"), "{text}");
    let signed = crate::notify::signature_is_valid(
        SIGNING,
        message.header("webhook-id").unwrap(),
        message.header("webhook-timestamp").unwrap(),
        &message.body,
        message.header("webhook-signature").unwrap(),
    );
    assert!(signed, "signed with the secret given to the API");
    assert!(receiver.requests_to("/gone").is_empty());
}

crate::on_both_stores!([
    a_team_manages_its_webhooks_and_every_refusal_leaves_the_state_alone,
    a_webhook_added_through_the_api_is_told_about_the_next_matching_post,
]);

#[test]
fn the_openapi_document_describes_this_blogs_api_without_a_token() {
    let port = free_port();
    let blog = blog(port, true);
    let api = Service::start(&blog, port);
    let doc = api.call("GET", "/openapi.json", None, None);
    assert_eq!(doc.status, 200);
    assert_eq!(doc.header("content-type"), Some("application/json"));
    assert_eq!(doc.header("api-version"), Some("1.0.0"));
    let doc = doc.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], "1.0.0");
    assert_eq!(doc["info"]["contact"]["url"], "https://example.org/");
    assert_eq!(doc["servers"][0]["url"], api.url(""));
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["TagKey"]["enum"],
        json!(["api", "open-source", "rest"])
    );
    assert_eq!(schemas["AuthorKey"]["enum"], json!(["ann", "bo"]));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert_eq!(
        paths,
        ["/openapi.json", "/subscriptions", "/subscriptions/{id}"]
    );

    // Valid OpenAPI 3.1, as an independent validator reads it.
    let Some(py) = python_with("openapi_spec_validator") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let check = Command::new(py)
        .args(["-m", "openapi_spec_validator", "--schema", "3.1"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "openapi-spec-validator refuses the document:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn a_blog_without_an_api_token_has_no_api() {
    let port = free_port();
    let blog = blog(port, false);
    let api = Service::start(&blog, port);
    api.call("GET", "/openapi.json", None, None).problem(404);
    api.get("/subscriptions").problem(404);
    let body = serde_json::to_vec(&json!({"url": "https://example.org/x"})).unwrap();
    api.call(
        "POST",
        "/subscriptions",
        Some(TOKEN),
        Some(("application/json", body)),
    )
    .problem(404);
    assert!(api.state().is_empty());
}

/// Python with the module `module` (installed from
/// `tests/tools/requirements.txt`), or `None`: the caller is skipped, with a
/// line on stderr, unless `POSTBODE_REQUIRE_TOOLS` is set (as `.ci/run`
/// does), which makes a missing tool a failure.
fn python_with(module: &str) -> Option<PathBuf> {
    let py = python();
    let has = Command::new(&py)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if has {
        return Some(py);
    }
    let hint = format!(
        "{} has no {module} (python -m pip install -r tests/tools/requirements.txt)",
        py.display()
    );
    assert!(
        std::env::var_os("POSTBODE_REQUIRE_TOOLS").is_none(),
        "POSTBODE_REQUIRE_TOOLS is set, but {hint}"
    );
    eprintln!("skipped a test of the API's OpenAPI document: {hint}");
    None
}

/// The API answers as its document says: schemathesis generates requests
/// from `openapi.json` (valid and invalid ones, every check it has:
/// status codes, headers, schemas, auth, methods, resources after delete),
/// bounded in examples and time.
#[test]
fn the_api_answers_as_its_openapi_document_says() {
    let Some(py) = python_with("schemathesis") else {
        return;
    };
    let port = free_port();
    let blog = blog(port, true);
    let api = Service::start(&blog, port);
    let work = tempfile::tempdir().unwrap();
    // Files, not pipes: a long report must not stall it on a full pipe.
    let out = work.path().join("out.txt");
    let mut child = Command::new(py)
        .args(["-m", "schemathesis.cli", "--config-file"])
        .arg(repo_dir().join("tests/tools/schemathesis.toml"))
        .arg("run")
        .arg(api.url("/openapi.json"))
        .args(["--checks", "all"])
        .args(["--header", &format!("Authorization: Bearer {TOKEN}")])
        .args(["--max-examples", "30", "--seed", "1"])
        .args(["--generation-database", "none", "--workers", "1"])
        .args(["--request-timeout", "10", "--no-color"])
        // Reports and Hypothesis' files go there, not into the checkout.
        .current_dir(work.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(work.path().join("err.txt")).unwrap())
        .spawn()
        .expect("python starts");
    // A bound of our own as well, in case its time budget is not kept.
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("schemathesis ran for more than 5 minutes");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    let stderr = std::fs::read_to_string(work.path().join("err.txt")).unwrap_or_default();
    // Its reports quote whole generated bodies: long lines are cut.
    let short = |text: &str| {
        text.lines()
            .map(|l| l.chars().take(300).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        status.success(),
        "schemathesis found the API at odds with its document:\n{}\n{}",
        short(&stdout),
        short(&stderr)
    );
    // It did test the operations, not only load the document.
    assert!(stdout.contains("No issues found"), "{}", short(&stdout));
    let summary = stdout.find("SUMMARY").map_or("", |at| &stdout[at..]);
    println!("schemathesis:\n{summary}");
    let _ = &api;
}
