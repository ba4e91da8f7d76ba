//! Shared test plumbing: where things are, running the binary, temporary
//! blogs with their feed definitions, and the real SMTP server
//! (`tests/tools/smtp_server.py`) with a throwaway CA for its TLS.

#![allow(dead_code)]

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

pub fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// How to get the shared corpus, for the line a skipped test prints.
pub const CORPUS_HINT: &str = "needs the shared corpus (../shared/corpus or POSTBODE_CORPUS)";

/// The shared corpus of real posts: `../shared/corpus` beside the checkout,
/// or `POSTBODE_CORPUS`. Only the contract with Docusaurus needs it; every
/// other test runs on `tests/data/`. Without it the caller is skipped with
/// one line on stderr (written past the test harness's capture, so that
/// `cargo test` shows it), unless `POSTBODE_REQUIRE_CORPUS` is set (as
/// `.ci/run` does): then its absence is a failure, so CI always checks the
/// contract.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("POSTBODE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_dir().join("../shared/corpus"));
    if dir
        .join("developer-overheid/docusaurus-metadata.json")
        .exists()
    {
        return Some(dir);
    }
    assert!(
        std::env::var_os("POSTBODE_REQUIRE_CORPUS").is_none(),
        "the shared corpus is missing at {} (set POSTBODE_CORPUS)",
        dir.display()
    );
    skip(CORPUS_HINT);
    None
}

/// Says on stderr that the running test is skipped and why: written past
/// the test harness's capture, so that `cargo test` shows it.
pub fn skip(why: &str) {
    use std::io::Write as _;
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let _ = writeln!(std::io::stderr(), "skipped {test}: {why}");
}

/// A state of the sample blog in `tests/data/history/` (`before`: a draft
/// and three published posts; `after`: the draft published at a dated path,
/// a newly published post, two new drafts): its `blog/` and `tags.yml`.
pub fn history(state: &str) -> PathBuf {
    repo_dir().join("tests/data/history").join(state)
}

/// Python with the test tools (feedparser for `feedcheck.py`, aiosmtpd for
/// `smtp_server.py`, dkimpy and PyNaCl for `dkim_verify.py`): `POSTBODE_TEST_PYTHON`, or the project's `.venv`,
/// which is created on first use (as `.ci/run` does) so that `cargo test`
/// works on a fresh clone.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if let Some(py) = std::env::var_os("POSTBODE_TEST_PYTHON") {
                return PathBuf::from(py);
            }
            let venv = repo_dir().join(".venv");
            let py = venv.join("bin/python");
            let has_tools = |py: &Path| {
                Command::new(py)
                    .args(["-c", "import feedparser, aiosmtpd, dkim, nacl"])
                    .output()
                    .is_ok_and(|o| o.status.success())
            };
            if !has_tools(&py) {
                let ok = Command::new("python3")
                    .args(["-m", "venv"])
                    .arg(&venv)
                    .status()
                    .is_ok_and(|s| s.success())
                    && Command::new(&py)
                        .args([
                            "-m",
                            "pip",
                            "install",
                            "-q",
                            "--disable-pip-version-check",
                            "-r",
                        ])
                        .arg(repo_dir().join("tests/tools/requirements.txt"))
                        .status()
                        .is_ok_and(|s| s.success());
                assert!(
                    ok,
                    "could not create {} with the tools of tests/tools/requirements.txt; run .ci/run",
                    venv.display()
                );
            }
            py
        })
        .clone()
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

pub fn postbode(args: &[&str]) -> Run {
    postbode_in(&repo_dir(), args)
}

pub fn postbode_in(dir: &Path, args: &[&str]) -> Run {
    postbode_with_env(dir, args, &[])
}

/// `postbode_in` with extra environment variables for the child only (SMTP
/// logins, webhook secrets, `POSTBODE_SMTP_CA_FILE`).
pub fn postbode_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    Command::new(env!("CARGO_BIN_EXE_postbode"))
        .args(args)
        .current_dir(dir)
        .env_remove("POSTBODE_LOG")
        .env_remove("POSTBODE_SMTP_CA_FILE")
        .env_remove("POSTBODE_DATABASE_URL")
        .envs(env.iter().copied())
        .output()
        .expect("run postbode")
        .into()
}

pub fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(from).unwrap();
        let target = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every file below `dir` (relative path with `/`) with its bytes: to show
/// that a command changed nothing, or exactly what it changed.
pub fn tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            (rel, std::fs::read(e.path()).unwrap())
        })
        .collect()
}

/// A blog in a temporary folder with a feed definition beside it. Its state
/// is the definition's `state`, or, in a test run by `on_both_stores!` on
/// PostgreSQL, a database of its own (given to every command as
/// `POSTBODE_DATABASE_URL`).
pub struct TestBlog {
    pub dir: tempfile::TempDir,
    pub db: Option<crate::pg::TestDatabase>,
}

pub const SITE: &str = "https://example.org";

/// Feed lines for a blog with a state and one email reader whose mail goes
/// to a file outbox (no server needed).
pub const ONE_READER_BY_FILE: &str = r#"state = "state.db"

[email]
from = "Test blog <noreply@example.org>"
transport = "file"
outbox = "outbox"
unsubscribe_url = "https://example.org/unsubscribe?s={subscriber}&t={token}"

[[subscribers]]
id = "reader"
email = "reader@example.org"
"#;

impl TestBlog {
    /// An empty blog: `blog/` and `feeds.toml` (site https://example.org, blog
    /// at /blog, output `out/`), plus any extra TOML lines.
    pub fn new(extra_toml: &str) -> TestBlog {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("blog")).unwrap();
        let toml = format!(
            "title = \"Test blog\"\nsite_url = \"{SITE}\"\nsource = \"blog\"\noutput = \"out\"\nlanguage = \"en\"\n{extra_toml}"
        );
        std::fs::write(dir.path().join("feeds.toml"), toml).unwrap();
        let db = (crate::pg::backend() == crate::pg::Backend::Postgres)
            .then(crate::pg::TestDatabase::create);
        TestBlog { dir, db }
    }

    /// The real developer.overheid.nl blog from the shared corpus, read in
    /// place (site https://developer.overheid.nl, root `tags.yml`); `None`
    /// (the test is skipped) without the corpus.
    pub fn corpus() -> Option<TestBlog> {
        let corpus = corpus_dir()?.join("developer-overheid");
        let blog = TestBlog::new("");
        std::fs::write(
            blog.toml(),
            format!(
                "title = \"developer.overheid.nl\"\nsite_url = \"https://developer.overheid.nl\"\nsource = \"{}\"\ntags_file = \"{}\"\noutput = \"out\"\nlanguage = \"nl\"\n",
                corpus.join("blog").display(),
                corpus.join("tags.yml").display()
            ),
        )
        .unwrap();
        Some(blog)
    }

    /// A copy of the bundled example blog, with the site's `static/`
    /// folder beside it as in a Docusaurus site.
    pub fn example() -> TestBlog {
        let blog = TestBlog::new("");
        copy_dir(&repo_dir().join("examples/blog"), &blog.blog());
        copy_dir(
            &repo_dir().join("examples/static"),
            &blog.path().join("static"),
        );
        blog
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn blog(&self) -> PathBuf {
        self.dir.path().join("blog")
    }

    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    pub fn toml(&self) -> PathBuf {
        self.dir.path().join("feeds.toml")
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.blog().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_env(args, &[])
    }

    /// `run` with extra environment variables for the postbode process.
    pub fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let toml = self.toml();
        let mut all: Vec<&str> = args.to_vec();
        all.push(toml.to_str().unwrap());
        let mut env = env.to_vec();
        if let Some(db) = &self.db {
            env.push(("POSTBODE_DATABASE_URL", &db.url));
        }
        postbode_with_env(self.path(), &all, &env)
    }

    /// The environment that points a process started by hand at this
    /// blog's state (`POSTBODE_DATABASE_URL` on PostgreSQL; none for a file).
    pub fn state_env(&self) -> Vec<(&'static str, String)> {
        self.db
            .iter()
            .map(|db| ("POSTBODE_DATABASE_URL", db.url.clone()))
            .collect()
    }

    pub fn read_out(&self, rel: &str) -> String {
        std::fs::read_to_string(self.out().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    pub fn posts_json(&self, now: &str) -> Vec<serde_json::Value> {
        let run = self.run(&["--now", now, "posts", "--json"]);
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("posts --json: {e}\n{}\n{}", run.stdout, run.stderr))
    }
}

/// Runs the independent feed checker (feedparser plus the W3C validator's
/// rules) over an output folder; returns its JSON report.
pub fn feedcheck(out: &Path, feeds_url: &str) -> serde_json::Value {
    let output = Command::new(python())
        .arg(repo_dir().join("tests/tools/feedcheck.py"))
        .arg(out)
        .args(["--feeds-url", feeds_url, "--json"])
        .output()
        .expect("run feedcheck");
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "feedcheck output is not JSON ({e}):\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// A running `tests/tools/smtp_server.py`, stopped when dropped.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    maildir: PathBuf,
}

impl SmtpServer {
    /// With `maildir`, every message is saved there (and parsed); `args`
    /// are the server's options (`--starttls CERT KEY`, `--auth USER:PASS`…).
    pub fn start(maildir: Option<&Path>, args: &[&str]) -> SmtpServer {
        let mut command = Command::new(python());
        command.arg(repo_dir().join("tests/tools/smtp_server.py"));
        if let Some(dir) = maildir {
            command.arg("--maildir").arg(dir);
        }
        let mut child = command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .strip_prefix("PORT ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("smtp_server.py did not start: {line:?}"));
        SmtpServer {
            child,
            port,
            maildir: maildir.map(Path::to_path_buf).unwrap_or_default(),
        }
    }

    /// What arrived, in order: the `<n>.json` summaries (see the server's
    /// docs for the fields).
    pub fn received(&self) -> Vec<serde_json::Value> {
        let mut n = 1;
        let mut out = Vec::new();
        while let Ok(text) = std::fs::read_to_string(self.maildir.join(format!("{n}.json"))) {
            out.push(serde_json::from_str(&text).unwrap());
            n += 1;
        }
        out
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh CA and a certificate for localhost and 127.0.0.1 signed by it,
/// as PEM files in `dir`: (ca, cert, key).
pub fn test_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "postbode test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf
        .signed_by(&leaf_key, &Issuer::from_params(&ca, &ca_key))
        .unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&paths.0, ca_cert.pem()).unwrap();
    std::fs::write(&paths.1, leaf_cert.pem()).unwrap();
    std::fs::write(&paths.2, leaf_key.serialize_pem()).unwrap();
    paths
}

// HTTP and timing for tests of the daemon's endpoints.

pub fn http_get(port: u16, path: &str) -> Option<String> {
    // A loaded CI machine can refuse or reset a connection now and then: try
    // a few times before calling the endpoint broken.
    for _ in 0..20 {
        if let Some(response) = http_get_once(port, path) {
            return Some(response);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    None
}

pub fn http_get_once(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    std::io::Write::write_all(&mut s, request.as_bytes()).ok()?;
    let mut out = Vec::new();
    let _ = std::io::Read::read_to_end(&mut s, &mut out);
    let text = String::from_utf8(out).ok()?;
    text.starts_with("HTTP/1.1 ").then_some(text)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_for(what: &str, timeout: std::time::Duration, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
