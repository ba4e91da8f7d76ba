//! The subscription pages behind the reverse proxies the README shows: a
//! real nginx and a real Caddy, each running the committed file of
//! `deploy/proxy/` (only the upstream address, and Caddy's site address,
//! changed to the test's), in front of the real `postbode serve` binary,
//! with `public_url` under the proxy's `/abonneren` prefix and mail going
//! to the real SMTP server (`tests/tools/smtp_server.py`). A wrong prefix,
//! a lost header or an exposed endpoint in a committed file fails here.
//!
//! Without `nginx` or `caddy` installed their test is skipped with a line
//! on stderr, unless `POSTBODE_REQUIRE_TOOLS` is set (as `.ci/run` does).

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::{SmtpServer, TestBlog, free_port, repo_dir, skip};

const SECRET: &str = "a-reverse-proxy-test-secret-of-32-bytes+";
const FORM: &str = "application/x-www-form-urlencoded";
/// The address postbode listens on in the committed files.
const UPSTREAM: &str = "127.0.0.1:8080";
/// The blog of `TestBlog` (its definition is `feeds.toml`).
const BLOG: &str = "feeds";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_committed_nginx_location_puts_the_pages_online_under_the_public_url() {
    let Some(nginx) = installed("nginx") else {
        return;
    };
    signs_up_through(Kind::Nginx(nginx)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_committed_caddyfile_puts_the_pages_online_under_the_public_url() {
    let Some(caddy) = installed("caddy") else {
        return;
    };
    signs_up_through(Kind::Caddy(caddy)).await;
}

/// A reader signs up through the proxy and gets the mail, whose link works
/// through the proxy too; the API answers there, the daemon's endpoints do
/// not; the sign-up limit counts the reader's own address, which the proxy
/// passes on, not one a client wrote into `X-Forwarded-For`.
async fn signs_up_through(kind: Kind) {
    postbode::net::install_crypto_provider();
    let maildir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(Some(maildir.path()), &[]);
    let (proxy_port, serve_port) = (free_port(), free_port());
    let origin = format!("http://127.0.0.1:{proxy_port}");
    let public = format!("{origin}/abonneren");
    let blog = TestBlog::new(&format!(
        "state = \"state.db\"\n\n[email]\nfrom = \"blog@example.org\"\ntransport = \"smtp\"\nsmtp_url = \"smtp://127.0.0.1:{}\"\n\n[serve]\npublic_url = \"{public}\"\nsecret_env = \"PAGES_SECRET\"\nwebhooks_api_token_env = \"PAGES_API_TOKEN\"\ntrust_forwarded_for = true\n",
        smtp.port
    ));
    let _serve = serve(&blog, serve_port);
    let _proxy = kind.start(proxy_port, serve_port);
    let page = |rest: &str| format!("{public}/{BLOG}/{rest}");
    let client = client_from(Ipv4Addr::LOCALHOST);

    let form = wait_for_page(&client, &page("subscribe")).await;
    // The form posts back through the proxy, as a browser would.
    let action = attribute(&form, "action");
    assert!(action.starts_with(&page("subscribe")), "{action}");
    let csrf = attribute(&form, "name=\"csrf\" value");
    let (status, answer) = sign_up(&client, &action, &origin, &csrf, "first", None).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("Check your mailbox"), "{answer}");
    let mail = wait_for_mail(&smtp, 1).await;
    assert_eq!(mail["rcpt_tos"][0], "first@example.org");
    let text = mail["text"].as_str().unwrap();
    let confirm = link(text, &page("confirm/"));
    let (status, body) = get(&client, &confirm).await;
    assert_eq!(status, 200, "the confirm link through the proxy: {body}");

    // The API, whose document sends its clients through the proxy too.
    let (status, body) = get(&client, &page("api/v1/openapi.json")).await;
    assert_eq!(status, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["servers"][0]["url"], page("api/v1"));
    // Only the pages and the API: the daemon's /healthz and /metrics are
    // on another listener, which the proxy does not forward to.
    for hidden in ["healthz", "metrics", &format!("{BLOG}/healthz")] {
        let (status, _) = get(&client, &format!("{public}/{hidden}")).await;
        assert_eq!(status, 404, "{public}/{hidden}");
    }

    // One machine (127.0.0.2) pretending to be ten others: the proxy
    // appends its real address, which is what postbode counts.
    let flooder = client_from(Ipv4Addr::new(127, 0, 0, 2));
    let limit = postbode::server::serve::pages::SIGNUPS_PER_HOUR;
    for n in 0..limit {
        let forged = format!("198.51.100.{n}");
        let (status, body) = sign_up(
            &flooder,
            &action,
            &origin,
            &csrf,
            &format!("flood{n}"),
            Some(&forged),
        )
        .await;
        assert_eq!(status, 200, "sign-up {n} of 127.0.0.2: {body}");
    }
    let (status, _) = sign_up(
        &flooder,
        &action,
        &origin,
        &csrf,
        "over",
        Some("203.0.113.9"),
    )
    .await;
    assert_eq!(status, 429, "a sign-up over the limit of 127.0.0.2");
    let other = client_from(Ipv4Addr::new(127, 0, 0, 3));
    let (status, body) = sign_up(&other, &action, &origin, &csrf, "other", None).await;
    assert_eq!(status, 200, "another machine is not limited: {body}");
}

/// Which proxy, and its executable.
enum Kind {
    Nginx(PathBuf),
    Caddy(PathBuf),
}

impl Kind {
    /// The proxy on 127.0.0.1:`port` in front of postbode on `upstream`,
    /// configured from its committed file.
    fn start(&self, port: u16, upstream: u16) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let upstream = format!("127.0.0.1:{upstream}");
        let log = dir.path().join("stderr.log");
        let mut command = match self {
            Kind::Nginx(nginx) => {
                // Run as root, nginx may serve as `nobody`: it must be able
                // to reach the temp folders it makes in `dir`.
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
                    .unwrap();
                let conf = dir.path().join("nginx.conf");
                std::fs::write(&conf, nginx_conf(dir.path(), port, &upstream)).unwrap();
                let mut c = Command::new(nginx);
                c.arg("-p").arg(dir.path()).arg("-c").arg(&conf).args([
                    "-e",
                    "stderr",
                    "-g",
                    "daemon off;",
                ]);
                c
            }
            Kind::Caddy(caddy) => {
                let conf = dir.path().join("Caddyfile");
                std::fs::write(&conf, caddyfile(port, &upstream)).unwrap();
                let mut c = Command::new(caddy);
                c.args(["run", "--adapter", "caddyfile", "--config"])
                    .arg(&conf)
                    .env("HOME", dir.path())
                    .env("XDG_DATA_HOME", dir.path().join("data"))
                    .env("XDG_CONFIG_HOME", dir.path().join("config"));
                c
            }
        };
        Running::spawn(&mut command, log, Some(dir))
    }
}

/// `deploy/proxy/nginx.conf` included in a server on 127.0.0.1:`port`,
/// forwarding to `upstream`; everything nginx writes stays in `dir`. One
/// process (`master_process off`): killing it leaves no worker behind.
fn nginx_conf(dir: &Path, port: u16, upstream: &str) -> String {
    let snippet = committed("nginx.conf").replace(UPSTREAM, upstream);
    let location = dir.join("postbode.conf");
    std::fs::write(&location, snippet).unwrap();
    let d = dir.display();
    format!(
        "master_process off;\npid {d}/nginx.pid;\nerror_log stderr;\nevents {{}}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  server {{\n    listen 127.0.0.1:{port};\n    include {};\n  }}\n}}\n",
        location.display()
    )
}

/// `deploy/proxy/Caddyfile` with the site on http://127.0.0.1:`port` (no
/// certificates, no admin endpoint) forwarding to `upstream`.
fn caddyfile(port: u16, upstream: &str) -> String {
    let site = "developer.overheid.nl {";
    let committed = committed("Caddyfile");
    assert!(committed.contains(site), "no `{site}` in the Caddyfile");
    let body = committed
        .replace(site, &format!("http://127.0.0.1:{port} {{"))
        .replace(UPSTREAM, upstream);
    format!("{{\n\tadmin off\n\tauto_https off\n}}\n\n{body}")
}

/// A file of `deploy/proxy/`, which must forward to [`UPSTREAM`].
fn committed(name: &str) -> String {
    let path = repo_dir().join("deploy/proxy").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let forwards = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && l.contains(UPSTREAM))
        .count();
    assert_eq!(
        forwards,
        1,
        "{}: forwards to {UPSTREAM} once",
        path.display()
    );
    text
}

/// A running proxy, stopped when dropped; what it wrote to stderr is in
/// `log`.
struct Running {
    child: Child,
    log: PathBuf,
    /// The proxy's configuration and files, removed with it.
    _dir: Option<tempfile::TempDir>,
}

impl Running {
    fn spawn(command: &mut Command, log: PathBuf, dir: Option<tempfile::TempDir>) -> Running {
        let child = command
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("{command:?}: {e}"));
        Running {
            child,
            log,
            _dir: dir,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("{}:\n{log}", self.log.display());
        }
    }
}

/// `postbode serve` for `blog` on 127.0.0.1:`port`, stopped when dropped.
fn serve(blog: &TestBlog, port: u16) -> Running {
    let mut command = Command::new(env!("CARGO_BIN_EXE_postbode"));
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg(blog.toml())
        .current_dir(blog.path())
        .env_remove("POSTBODE_LOG")
        .env_remove("POSTBODE_DATABASE_URL")
        .env("PAGES_SECRET", SECRET)
        .env("PAGES_API_TOKEN", "a-token-the-test-never-uses")
        .envs(blog.state_env());
    Running::spawn(&mut command, blog.path().join("serve.log"), None)
}

/// The executable `name` (on the PATH or in /usr/sbin, where Debian puts
/// nginx), or `None`: the caller is skipped with a line on stderr, unless
/// `POSTBODE_REQUIRE_TOOLS` is set.
fn installed(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    if found.is_some() {
        return found;
    }
    let hint = format!("needs {name} (Debian: apt-get install nginx-light caddy)");
    assert!(
        std::env::var_os("POSTBODE_REQUIRE_TOOLS").is_none(),
        "POSTBODE_REQUIRE_TOOLS is set, but the reverse-proxy test {hint}"
    );
    skip(&hint);
    None
}

/// An HTTP client whose connections come from `from` (any 127.x address
/// is the loopback interface on Linux).
fn client_from(from: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(from))
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, String) {
    let response = client.get(url).send().await.unwrap();
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

/// The page at `url` once it answers 200 through the proxy (both
/// processes take a moment to start).
async fn wait_for_page(client: &reqwest::Client, url: &str) -> String {
    let mut last = String::new();
    for _ in 0..150 {
        match client.get(url).send().await {
            Ok(r) if r.status() == 200 => return r.text().await.unwrap(),
            Ok(r) => last = format!("{}", r.status()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} did not answer 200 through the proxy: {last}");
}

/// A POST of the subscribe form for `who@example.org`, as a browser on
/// `origin` sends it, with an `X-Forwarded-For` the client wrote itself.
async fn sign_up(
    client: &reqwest::Client,
    url: &str,
    origin: &str,
    csrf: &str,
    who: &str,
    forged: Option<&str>,
) -> (u16, String) {
    let mut request = client
        .post(url)
        .header("content-type", FORM)
        .header("origin", origin)
        .body(format!(
            "csrf={csrf}&email={who}%40example.org&scope=all&digest=none&website="
        ));
    if let Some(forged) = forged {
        request = request.header("x-forwarded-for", forged);
    }
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

/// The value of the first `{name}="…"` in `html` (no entity in it).
fn attribute(html: &str, name: &str) -> String {
    let (_, after) = html
        .split_once(&format!("{name}=\""))
        .unwrap_or_else(|| panic!("no {name} in:\n{html}"));
    after.split('"').next().unwrap_or_default().to_string()
}

/// The first word of a mail's text that starts with `prefix`.
fn link(text: &str, prefix: &str) -> String {
    text.split_whitespace()
        .map(|w| w.trim_matches(|c| c == '<' || c == '>'))
        .find(|w| w.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} in {text}"))
        .to_string()
}

async fn wait_for_mail(smtp: &SmtpServer, n: usize) -> serde_json::Value {
    for _ in 0..100 {
        if let Some(mail) = smtp.received().into_iter().nth(n - 1) {
            return mail;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("mail {n} never arrived at the SMTP server");
}
