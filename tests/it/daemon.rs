//! The daemon: runs on an interval, serves health and metrics, and stops
//! cleanly on SIGTERM.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::*;

#[test]
fn the_daemon_runs_every_interval_announces_new_posts_and_stops_on_sigterm() {
    let blog = TestBlog::new(
        "state = \"state.db\"\n\n[email]\nfrom = \"Blog <noreply@example.org>\"\noutbox = \"outbox\"\n\n[[subscribers]]\nid = \"all\"\nemail = \"all@example.org\"\n",
    );
    blog.write("2025-01-01-old.md", "# Old post\n\nText.\n");
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_postbode"))
        .args([
            "--log-format",
            "json",
            "daemon",
            "--every",
            "1s",
            "--listen",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .arg(blog.toml())
        .current_dir(blog.path())
        .env("POSTBODE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the first run", Duration::from_secs(20), || {
        blog.out().join("atom.xml").exists()
    });
    wait_for("/healthz", Duration::from_secs(10), || {
        http_get(port, "/healthz")
            .is_some_and(|r| r.starts_with("HTTP/1.1 200") && r.ends_with("ok\n"))
    });
    // A post published while the daemon runs is announced by a later cycle.
    blog.write("2025-02-01-new.md", "# New post\n\nFresh.\n");
    let outbox = blog.path().join("outbox");
    wait_for("the new post's email", Duration::from_secs(20), || {
        std::fs::read_dir(&outbox).is_ok_and(|d| d.count() == 1)
    });
    // The email is written during a run, the metrics after it.
    let mut metrics = String::new();
    wait_for("the metrics of that run", Duration::from_secs(20), || {
        metrics = http_get(port, "/metrics").unwrap_or_default();
        metrics.contains("postbode_deliveries_total{status=\"sent\"} 1")
    });
    assert!(
        metrics.contains("postbode_runs_total{outcome=\"ok\"}"),
        "{metrics}"
    );

    let stopped = Instant::now();
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(15),
            "the daemon did not stop within 15 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status:?}");
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert!(
        logs.lines()
            .any(|l| l.starts_with('{') && l.contains("daemon stopped")),
        "JSON logs: {logs}"
    );
    assert!(
        !logs.contains("all@example.org"),
        "no full email addresses at info level"
    );
    // Nothing is sent twice afterwards.
    let run = blog.run(&["notify", "--json"]);
    let summary: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(summary["sent"], 0, "{summary}");
}

#[test]
fn a_run_killed_mid_send_is_taken_over_at_once_and_the_message_keeps_its_id() {
    let receiver = crate::receiver::Receiver::start();
    // The first request hangs long enough for the sender to be killed.
    receiver.then("/hook", 200, &[("X-Test-Delay-Ms", "3000")]);
    let blog = TestBlog::new(&format!(
        "state = \"state.db\"\n\n[[subscribers]]\nid = \"hook\"\nwebhook = \"{}\"\nformat = \"json\"\n",
        receiver.url("/hook")
    ));
    blog.write("2025-01-01-old.md", "# Old post\n\nText.\n");
    assert_eq!(
        blog.run(&["--now", "2025-06-01T00:00:00Z", "notify"]).code,
        0
    );
    blog.write("2025-06-02-new.md", "# New post\n\nText.\n");
    let mut child = Command::new(env!("CARGO_BIN_EXE_postbode"))
        .args(["--now", "2025-06-03T00:00:00Z", "notify"])
        .arg(blog.toml())
        .current_dir(blog.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the request in flight", Duration::from_secs(20), || {
        !receiver.requests_to("/hook").is_empty()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    // Restarted right away: the dead run's lease does not make it wait, and
    // the message goes out again under the same id for the receiver to drop.
    let started = Instant::now();
    let run = blog.run(&["--now", "2025-06-03T00:01:00Z", "notify", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "waited for a dead run's lock"
    );
    let summary: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(summary["sent"], 1, "{summary}");
    let ids: std::collections::BTreeSet<String> = receiver
        .requests_to("/hook")
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_string())
        .collect();
    assert_eq!(
        ids.len(),
        1,
        "one message identity across the crash: {ids:?}"
    );
    let again = blog.run(&["--now", "2025-06-03T00:02:00Z", "notify", "--json"]);
    let summary: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(summary["sent"], 0, "delivered once: {summary}");
}

#[test]
fn two_concurrent_runs_send_nothing_twice() {
    let receiver = crate::receiver::Receiver::start();
    receiver.then("/a", 200, &[("X-Test-Delay-Ms", "500")]);
    let blog = TestBlog::new(&format!(
        "state = \"state.db\"\n\n[[subscribers]]\nid = \"a\"\nwebhook = \"{}\"\n\n[[subscribers]]\nid = \"b\"\nwebhook = \"{}\"\n",
        receiver.url("/a"),
        receiver.url("/b")
    ));
    blog.write("2025-01-01-old.md", "# Old post\n\nText.\n");
    assert_eq!(blog.run(&["--now", "2025-06-01T00:00:00Z", "run"]).code, 0);
    blog.write("2025-06-02-one.md", "# One\n\nText.\n");
    blog.write("2025-06-02-two.md", "# Two\n\nText.\n");
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_postbode"))
            .args(["--now", "2025-06-03T00:00:00Z", "run"])
            .arg(blog.toml())
            .current_dir(blog.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (spawn(), spawn());
    let (a, b) = (
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    );
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let mut got: Vec<String> = receiver
        .requests()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.path,
                r.json()["post"]["title"].as_str().unwrap_or("?")
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        ["/a One", "/a Two", "/b One", "/b Two"],
        "each delivery exactly once"
    );
}

#[test]
fn run_on_the_example_writes_feeds_and_outbox_mail_and_a_rerun_sends_nothing() {
    let blog = TestBlog::example();
    std::fs::write(
        blog.toml(),
        std::fs::read_to_string(repo_dir().join("feeds/example.toml"))
            .unwrap()
            .replace("../examples/blog", "blog")
            .replace("../examples/out", "out")
            .replace("../examples/outbox", "outbox")
            .replace("../examples/state.db", "state.db"),
    )
    .unwrap();
    let run = blog.run(&[
        "--now",
        "2026-01-01T00:00:00Z",
        "run",
        "--backfill",
        "2025-01-01",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(blog.out().join("atom.xml").exists() && blog.out().join("tags/api/rss.xml").exists());
    let mails = std::fs::read_dir(blog.path().join("outbox"))
        .unwrap()
        .count();
    assert!(
        mails >= 6,
        "one mail per post for `everyone`, plus the api team's: {mails}"
    );
    let again = blog.run(&["--now", "2026-01-01T01:00:00Z", "run"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        std::fs::read_dir(blog.path().join("outbox"))
            .unwrap()
            .count(),
        mails
    );
}
