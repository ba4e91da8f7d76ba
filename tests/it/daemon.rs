//! The daemon: runs on an interval, serves health and metrics, and stops
//! cleanly on SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::*;

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

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
    let metrics = http_get(port, "/metrics").unwrap();
    assert!(
        metrics.contains("postbode_runs_total{outcome=\"ok\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("postbode_deliveries_total{status=\"sent\"} 1"),
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
