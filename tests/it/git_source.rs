//! Posts from a git repository: a local bare repository (never the network)
//! with dated commits, cloned on the first run and fetched on the next.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::helpers::*;

const BEFORE: &str = "before";
const AFTER: &str = "after";
const OPENAPI: &str = "https://voorbeeld.example.org/blog/2025/07/10/openapi-31-komt-eraan";

fn snapshot(name: &str) -> PathBuf {
    history(name)
}

fn git(dir: &Path, args: &[&str], date: &str) {
    let out = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.org"])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Replaces the work tree's `blog/` and `tags.yml` with a snapshot, commits
/// everything at `date` and pushes to `main`.
fn commit_snapshot(work: &Path, name: &str, skip: &[&str], date: &str) {
    let _ = std::fs::remove_dir_all(work.join("blog"));
    copy_dir(&snapshot(name).join("blog"), &work.join("blog"));
    for s in skip {
        std::fs::remove_file(work.join("blog").join(s)).unwrap();
    }
    std::fs::copy(snapshot(name).join("tags.yml"), work.join("tags.yml")).unwrap();
    git(work, &["add", "-A"], date);
    git(work, &["commit", "-q", "-m", name], date);
    git(work, &["push", "-q", "origin", "main"], date);
}

fn outbox(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in std::fs::read_dir(dir).into_iter().flatten() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        let to = text
            .lines()
            .find_map(|l| l.strip_prefix("To: "))
            .unwrap_or_default()
            .to_string();
        out.entry(to).or_default().push(text);
    }
    out
}

struct GitBlog {
    blog: TestBlog,
    remote: PathBuf,
    work: PathBuf,
    cache: PathBuf,
}

impl GitBlog {
    fn new() -> GitBlog {
        let blog = TestBlog::new("");
        let remote = blog.path().join("remote.git");
        let work = blog.path().join("work");
        let cache = blog.path().join("cache");
        std::fs::create_dir_all(&remote).unwrap();
        std::fs::create_dir_all(&work).unwrap();
        git(&remote, &["init", "-q", "--bare"], "2025-07-01T00:00:00Z");
        git(&work, &["init", "-q"], "2025-07-01T00:00:00Z");
        git(
            &work,
            &["remote", "add", "origin", remote.to_str().unwrap()],
            "2025-07-01T00:00:00Z",
        );
        std::fs::write(
            blog.toml(),
            format!(
                r#"title = "voorbeeld.example.org"
site_url = "https://voorbeeld.example.org"
source = {{ git = "file://{}", branch = "main", path = "blog" }}
tags_file = "tags.yml"
output = "out"
language = "nl"
state = "state.db"

[email]
from = "voorbeeld.example.org <noreply@voorbeeld.example.org>"
transport = "file"
outbox = "outbox"
unsubscribe_url = "https://voorbeeld.example.org/unsubscribe?s={{subscriber}}&t={{token}}"

[[subscribers]]
id = "all"
email = "all@example.org"
"#,
                remote.display()
            ),
        )
        .unwrap();
        GitBlog {
            blog,
            remote,
            work,
            cache,
        }
    }

    fn run(&self, now: &str) -> Run {
        let run = self.blog.run_with_env(
            &["--now", now, "run", "--json"],
            &[("POSTBODE_CACHE_DIR", self.cache.to_str().unwrap())],
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        run
    }
}

fn summary(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("run --json: {e}\n{}\n{}", run.stdout, run.stderr))
}

#[test]
fn a_post_pushed_to_the_git_source_is_fetched_put_in_the_feeds_and_announced_once() {
    let g = GitBlog::new();
    commit_snapshot(&g.work, BEFORE, &[], "2025-07-10T16:03:56+02:00");

    let run = g.run("2025-07-11T00:00:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let first = summary(&run);
    assert_eq!(first["first_run"], true);
    assert_eq!(first["sent"], 0);
    assert!(!g.blog.read_out("atom.xml").contains(OPENAPI));
    assert!(
        g.blog
            .read_out("atom.xml")
            .contains("cloudevents-consultatie")
    );
    // The clone is in the cache folder, not beside the feed definition.
    let checkouts: Vec<_> = std::fs::read_dir(&g.cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with('.') && !n.ends_with(".lock"))
        .collect();
    assert_eq!(checkouts.len(), 1, "{checkouts:?}");
    assert!(checkouts[0].starts_with("remote-"), "{checkouts:?}");

    // The OpenAPI post, published (without the NDS post of the same commit).
    commit_snapshot(
        &g.work,
        AFTER,
        &["2025/07/15-data-strategie.md"],
        "2025-07-15T14:28:20+02:00",
    );
    let run = g.run("2025-07-16T00:00:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let second = summary(&run);
    assert_eq!(second["new_posts"], serde_json::json!([OPENAPI]));
    assert_eq!(second["sent"], 1);
    assert!(g.blog.read_out("atom.xml").contains(OPENAPI));
    let mail = outbox(&g.blog.path().join("outbox"));
    assert_eq!(mail["all@example.org"].len(), 1);
    assert!(mail["all@example.org"][0].contains("openapi-31-komt-eraan"));

    let run = g.run("2025-07-17T00:00:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(summary(&run)["sent"], 0, "a rerun announces nothing");
    assert_eq!(outbox(&g.blog.path().join("outbox")).len(), 1);
}

#[test]
fn a_failed_fetch_uses_the_last_checkout_and_a_failed_first_clone_names_the_url() {
    let g = GitBlog::new();
    // Nothing pushed yet: the first clone fails.
    let run = g.run("2025-07-11T00:00:00Z");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("cannot clone"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("file://{}", g.remote.display())),
        "{}",
        run.stderr
    );

    commit_snapshot(&g.work, BEFORE, &[], "2025-07-10T16:03:56+02:00");
    assert_eq!(g.run("2025-07-11T00:00:00Z").code, 0);
    // The remote goes away: the run goes on with the last checkout.
    std::fs::remove_dir_all(&g.remote).unwrap();
    let run = g.run("2025-07-12T00:00:00Z");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("cannot fetch"), "{}", run.stderr);
    assert!(run.stderr.contains("last checkout"), "{}", run.stderr);
    assert!(
        g.blog
            .read_out("atom.xml")
            .contains("cloudevents-consultatie")
    );
}

#[test]
fn a_run_waits_while_another_run_uses_the_same_checkout() {
    let g = GitBlog::new();
    commit_snapshot(&g.work, BEFORE, &[], "2025-07-10T16:03:56+02:00");
    assert_eq!(g.run("2025-07-11T00:00:00Z").code, 0);
    let lock_path = std::fs::read_dir(&g.cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "lock"))
        .expect("a lock file beside the checkout");

    // Another run holds the checkout (as a slow run fetching or reading).
    let held = std::fs::OpenOptions::new()
        .write(true)
        .open(&lock_path)
        .unwrap();
    held.lock().unwrap();
    let mut waiting = Command::new(env!("CARGO_BIN_EXE_postbode"))
        .current_dir(g.blog.path())
        .env("POSTBODE_CACHE_DIR", &g.cache)
        .args(["--now", "2025-07-12T00:00:00Z", "build"])
        .arg(g.blog.toml())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        waiting.try_wait().unwrap().is_none(),
        "the second run must wait for the checkout"
    );
    drop(held);
    let status = waiting.wait().unwrap();
    assert!(status.success(), "{status}");
}
