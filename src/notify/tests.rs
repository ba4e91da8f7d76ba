//! A whole run through [`run`]: a dry run reads the state but leaves every
//! byte on disk as it was, and creates no state when there is none.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::TimeZone as _;

use super::*;

const FEEDS: &str = r#"title = "Test blog"
site_url = "https://example.org"
source = "blog"
output = "out"
language = "en"

[email]
from = "Test blog <noreply@example.org>"
transport = "file"
outbox = "outbox"

[[subscribers]]
id = "all"
email = "all@example.org"
"#;

fn write_post(dir: &Path, name: &str, title: &str, date: &str) {
    let text = format!("---\ntitle: {title}\ndate: {date}\n---\n\nSome words.\n");
    std::fs::write(dir.join("blog").join(name), text).unwrap();
}

/// Every file under `dir` with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
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

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 7, day, 12, 0, 0).unwrap()
}

#[tokio::test]
async fn a_dry_run_changes_no_byte_on_disk_and_creates_no_state() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("blog")).unwrap();
    std::fs::write(dir.path().join("feeds.toml"), FEEDS).unwrap();
    write_post(dir.path(), "2025-07-01-first.md", "First", "2025-07-01");
    let config = crate::config::load(&dir.path().join("feeds.toml")).unwrap();
    let dry = Options {
        dry_run: true,
        ..Options::default()
    };

    // No state yet: a first run in which nothing is new, and no file.
    let before = files(dir.path());
    let summary = run(&config, at(2), &dry, Posts::Read, &mut Vec::new())
        .await
        .unwrap();
    assert!(summary.dry_run && summary.first_run, "{summary:?}");
    assert!(
        !config.state.file().unwrap().exists(),
        "a dry run created {:?}",
        config.state
    );
    assert_eq!(files(dir.path()), before);

    // A real first run records the post; a new one then shows in a dry run.
    let real = run(
        &config,
        at(2),
        &Options::default(),
        Posts::Read,
        &mut Vec::new(),
    )
    .await
    .unwrap();
    assert!(real.first_run && real.planned == 0, "{real:?}");
    assert!(config.state.file().unwrap().exists());
    write_post(dir.path(), "2025-07-03-second.md", "Second", "2025-07-03");
    let before = files(dir.path());
    let summary = run(&config, at(4), &dry, Posts::Read, &mut Vec::new())
        .await
        .unwrap();
    assert!(!summary.first_run, "{summary:?}");
    assert_eq!(summary.planned, 1, "{summary:?}");
    assert_eq!(
        summary.would_send,
        [WouldSend {
            post_url: "https://example.org/blog/2025/07/03/second".into(),
            subscriber: "all".into(),
            channel: "email".into(),
        }]
    );
    assert_eq!(
        files(dir.path()),
        before,
        "the dry run changed files on disk"
    );

    // Nothing was recorded: the real run still sends it.
    let real = run(
        &config,
        at(4),
        &Options::default(),
        Posts::Read,
        &mut Vec::new(),
    )
    .await
    .unwrap();
    assert_eq!((real.planned, real.sent), (1, 1), "{real:?}");
    assert!(real.would_send.is_empty());
}

/// A run records only the posts the state does not hold as they are: a
/// retitled post still gets its new title (the filter must not hide it).
#[tokio::test]
async fn a_retitled_post_is_recorded_again_and_an_unchanged_one_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("blog")).unwrap();
    std::fs::write(dir.path().join("feeds.toml"), FEEDS).unwrap();
    write_post(dir.path(), "2025-07-01-first.md", "First", "2025-07-01");
    write_post(dir.path(), "2025-07-01-second.md", "Second", "2025-07-01");
    let config = crate::config::load(&dir.path().join("feeds.toml")).unwrap();
    let real = Options::default();
    let titles = async || {
        let store = Store::open_existing(&config.state).await.unwrap();
        let seen = store.seen_posts(&config.name).await.unwrap();
        store.close().await;
        seen.into_iter()
            .map(|s| (s.permalink, s.title))
            .collect::<BTreeMap<_, _>>()
    };
    run(&config, at(2), &real, Posts::Read, &mut Vec::new())
        .await
        .unwrap();
    let first = titles().await;
    assert_eq!(
        first.values().cloned().collect::<Vec<_>>(),
        ["First", "Second"]
    );

    write_post(
        dir.path(),
        "2025-07-01-first.md",
        "First, revised",
        "2025-07-01",
    );
    let summary = run(&config, at(3), &real, Posts::Read, &mut Vec::new())
        .await
        .unwrap();
    assert_eq!(
        summary.planned, 0,
        "a retitled post is not news: {summary:?}"
    );
    let second = titles().await;
    assert_eq!(
        second.values().cloned().collect::<Vec<_>>(),
        ["First, revised", "Second"]
    );
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        second.keys().collect::<Vec<_>>()
    );
}
