//! Notifications end to end: the real binary, a real SQLite state file, a
//! real SMTP server process and a real HTTP receiver on 127.0.0.1.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::helpers::*;

const BEFORE: &str = "2025-07-10_e83322f_seed-added-as-draft";
const AFTER: &str = "2025-07-15_664ae73_seed-published";
const OPENAPI: &str = "https://developer.overheid.nl/blog/2025/07/10/openapi-31-in-zicht";
const NDS: &str =
    "https://developer.overheid.nl/blog/2025/07/15/nederlandse-digitaliseringsstrategie";

fn snapshot(name: &str) -> PathBuf {
    corpus_dir()
        .join("developer-overheid-history/snapshots")
        .join(name)
}

/// A blog whose `blog/` and `tags.yml` are replaced by a history snapshot.
fn use_snapshot(blog: &TestBlog, name: &str) {
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

fn history_blog(subscribers: &str) -> TestBlog {
    let blog = TestBlog::new("");
    std::fs::write(
        blog.toml(),
        format!(
            r#"title = "developer.overheid.nl"
site_url = "https://developer.overheid.nl"
source = "blog"
tags_file = "tags.yml"
output = "out"
language = "nl"
state = "state.db"

[email]
from = "developer.overheid.nl <noreply@developer.overheid.nl>"
transport = "file"
outbox = "outbox"
unsubscribe_url = "https://developer.overheid.nl/unsubscribe?s={{subscriber}}&t={{token}}"

{subscribers}"#
        ),
    )
    .unwrap();
    blog
}

fn notify(blog: &TestBlog, now: &str) -> (Run, serde_json::Value) {
    let run = blog.run(&["--now", now, "notify", "--json"]);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let summary = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "notify --json: {e}\nstdout: {}\nstderr: {}",
            run.stdout, run.stderr
        )
    });
    (run, summary)
}

#[test]
fn the_history_snapshots_announce_exactly_the_two_new_posts_to_the_matching_subscribers_once() {
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
id = "dimitri"
email = "dimitri-fans@example.org"
authors = ["dimitri-van-hees"]
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
    assert!(mail["nds@example.org"][0].contains("nederlandse-digitaliseringsstrategie"));
    assert_eq!(count("openapi@example.org"), 1);
    assert!(mail["openapi@example.org"][0].contains("openapi-31-in-zicht"));
    assert_eq!(count("ai@example.org"), 1);
    assert_eq!(count("dimitri-fans@example.org"), 1);
    assert_eq!(count("rust@example.org"), 0);
    assert_eq!(second["sent"], 6);
    let one = &mail["nds@example.org"][0];
    assert!(one.contains("Message-ID: <postbode.feeds."), "{one}");
    assert!(
        one.contains("List-Unsubscribe: <https://developer.overheid.nl/unsubscribe?s=nds-only&t="),
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

#[test]
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

#[test]
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
        run.stderr
            .contains("feeds.toml: error: subscriber x: webhook_env names POSTBODE_TEST_UNSET_VAR"),
        "{}",
        run.stderr
    );
}
