//! WebSub: feeds announce the hub, and a build that changed feed files pings
//! it (`hub.mode=publish`, one `hub.url` per changed feed), with retries.

use std::collections::BTreeSet;

use crate::helpers::*;
use crate::receiver::Receiver;

const NOW: &str = "2026-01-01T00:00:00Z";

fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn hub_blog(hub: &Receiver, extra: &str) -> TestBlog {
    let blog = TestBlog::example();
    let toml = std::fs::read_to_string(blog.toml()).unwrap();
    std::fs::write(
        blog.toml(),
        format!("{toml}websub_hub = \"{}\"\n{extra}", hub.url("/hub")),
    )
    .unwrap();
    blog
}

#[test]
fn a_build_that_changes_feeds_pings_the_hub_once_per_changed_feed_and_an_unchanged_one_does_not() {
    let hub = Receiver::start();
    let blog = hub_blog(&hub, "");
    let run = blog.run(&["--now", NOW, "build"]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    let atom = blog.read_out("atom.xml");
    assert!(
        atom.contains(&format!(r#"<link href="{}" rel="hub"/>"#, hub.url("/hub"))),
        "{atom}"
    );

    let pings = hub.requests_to("/hub");
    let mut topics = BTreeSet::new();
    for p in &pings {
        assert_eq!(p.method, "POST");
        assert_eq!(
            p.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        let fields = form(&p.body);
        assert_eq!(fields.len(), 2, "{fields:?}");
        assert_eq!(fields[0], ("hub.mode".into(), "publish".into()));
        assert_eq!(fields[1].0, "hub.url");
        assert!(
            topics.insert(fields[1].1.clone()),
            "pinged twice: {fields:?}"
        );
    }
    // Every feed file written, and nothing else (no OPML, no index.html).
    let feed_files: BTreeSet<String> = walkdir::WalkDir::new(blog.out())
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| {
            matches!(
                e.file_name().to_str(),
                Some("atom.xml" | "rss.xml" | "feed.json")
            )
        })
        .map(|e| {
            let rel = e.path().strip_prefix(blog.out()).unwrap();
            format!("https://example.org/blog/{}", rel.display())
        })
        .collect();
    assert_eq!(topics, feed_files);
    assert!(topics.contains("https://example.org/blog/atom.xml"));

    // Unchanged: neither the early stop nor a forced rebuild pings.
    assert_eq!(blog.run(&["--now", NOW, "build"]).code, 0);
    assert_eq!(blog.run(&["--now", NOW, "build", "--force"]).code, 0);
    assert_eq!(hub.requests_to("/hub").len(), pings.len());
}

#[test]
fn a_hub_answering_500_is_retried_and_a_hub_that_keeps_failing_makes_the_run_exit_1() {
    let hub = Receiver::start();
    hub.then("/hub", 500, &[]).then("/hub", 204, &[]);
    // One feed file, so the script meets exactly one topic.
    let blog = hub_blog(
        &hub,
        "formats = [\"atom\"]\nby_tag = false\nby_author = false\n",
    );
    let run = blog.run(&["--now", NOW, "build"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let pings = hub.requests_to("/hub");
    assert_eq!(
        pings.iter().map(|p| p.status).collect::<Vec<_>>(),
        [500, 204]
    );
    assert_eq!(pings[0].body, pings[1].body);

    hub.then("/hub", 500, &[])
        .then("/hub", 503, &[])
        .then("/hub", 500, &[]);
    blog.write("2025-12-01-new.md", "---\ntitle: New\n---\nA new post.\n");
    let run = blog.run(&["--now", NOW, "build"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("websub"), "{}", run.stderr);
    assert!(run.stderr.contains("500"), "{}", run.stderr);
    assert_eq!(hub.requests_to("/hub").len(), 5, "three attempts, no more");
    // The feed itself was still written.
    assert!(blog.read_out("atom.xml").contains("A new post"));
}
