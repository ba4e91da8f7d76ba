//! The state as an unlucky operator meets it: a subscriber a receiver
//! switched off (HTTP 410) shows in `status` and comes back with
//! `retry --dead` or a new target; a state that existed and was lost (0
//! bytes, deleted, deleted under a running daemon) is an error, never a
//! silent first run that announces nothing; `status` and `retry` never
//! create a state.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::*;
use crate::receiver::Receiver;

/// A blog whose state is `state.db` beside `feeds.toml`, with one old post
/// and these extra TOML lines (subscribers).
fn blog_with(extra: &str) -> TestBlog {
    let blog = TestBlog::new(&format!("state = \"state.db\"\n{extra}"));
    blog.write("2025-01-01-old.md", "# Old post\n\nText.\n");
    blog
}

fn hook(id: &str, url: &str) -> String {
    format!("\n[[subscribers]]\nid = \"{id}\"\nwebhook = \"{url}\"\nformat = \"slack\"\n")
}

fn state(blog: &TestBlog) -> PathBuf {
    blog.path().join("state.db")
}

fn marker(blog: &TestBlog) -> PathBuf {
    blog.path().join("state.db.id")
}

/// Removes the state file and its write-ahead log, as `rm state.db*` would
/// (the marker stays unless `with_marker`).
fn delete_state(blog: &TestBlog, with_marker: bool) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = state(blog).into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
    if with_marker {
        let _ = std::fs::remove_file(marker(blog));
    }
}

fn notify(blog: &TestBlog, now: &str, extra: &[&str]) -> (Run, serde_json::Value) {
    let mut args = vec!["--now", now, "notify", "--json"];
    args.extend_from_slice(extra);
    let run = blog.run(&args);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let summary = serde_json::from_str(&run.stdout).unwrap_or(serde_json::Value::Null);
    (run, summary)
}

fn status_json(blog: &TestBlog) -> (Run, serde_json::Value) {
    let run = blog.run(&["status", "--json"]);
    let doc = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("status --json: {e}\n{}\n{}", run.stdout, run.stderr));
    (run, doc)
}

/// Says which file, that it is lost, and both ways out.
fn assert_names_the_lost_state(stderr: &str) {
    assert!(stderr.contains("state.db"), "{stderr}");
    assert!(stderr.contains("Restore it from a backup"), "{stderr}");
    assert!(stderr.contains("--new-state"), "{stderr}");
    assert!(stderr.contains("will then not be announced"), "{stderr}");
}

#[test]
fn a_subscriber_a_410_disabled_shows_in_status_and_comes_back_when_its_url_changes() {
    let receiver = Receiver::start();
    // A chat webhook URL is a secret: it must not end up in the state.
    let old = "/services/T0/B0/old-s3cr3t-token";
    let new = "/services/T0/B0/new-s3cr3t-token";
    receiver.then(old, 410, &[]);
    let blog = blog_with(&hook("chat", &receiver.url(old)));
    assert_eq!(notify(&blog, "2025-01-02T00:00:00Z", &[]).0.code, 0);
    blog.write("2025-02-01-second.md", "# Second post\n\nText.\n");
    let (run, second) = notify(&blog, "2025-02-02T00:00:00Z", &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(second["dead"], 1, "{second}");

    let run = blog.run(&["status"]);
    assert_eq!(
        run.code, 1,
        "a disabled subscriber is a problem: {}",
        run.stderr
    );
    let heading = run
        .stdout
        .lines()
        .position(|l| l.starts_with("DISABLED SUBSCRIBER"))
        .unwrap_or_else(|| panic!("no disabled subscribers in\n{}", run.stdout));
    let line = run.stdout.lines().nth(heading + 1).unwrap();
    assert!(line.starts_with("chat "), "{line}");
    // Since when: the time the 410 came back (the send's clock).
    let since = line.split_whitespace().nth(1).unwrap();
    assert!(
        since.len() == 10 && since.as_bytes()[4] == b'-',
        "since when: {line}"
    );
    assert!(line.contains("410"), "why: {line}");
    assert!(
        run.stderr.contains("1 disabled subscriber"),
        "{}",
        run.stderr
    );
    let (_, doc) = status_json(&blog);
    let disabled = doc["disabled_subscribers"].as_array().unwrap();
    assert_eq!(disabled.len(), 1, "{doc}");
    assert_eq!(disabled[0]["subscriber"], "chat");
    assert_eq!(disabled[0]["blog"], "feeds");
    assert!(
        disabled[0]["disabled_at"].as_str().unwrap().ends_with('Z'),
        "{doc}"
    );
    assert!(
        disabled[0]["reason"].as_str().unwrap().contains("410"),
        "{doc}"
    );
    assert!(!doc.to_string().contains("s3cr3t"), "{doc}");
    let raw = std::fs::read(state(&blog)).unwrap();
    assert!(
        !raw.windows(6).any(|w| w == b"s3cr3t"),
        "the state keeps a fingerprint of the URL, not the URL"
    );

    // The same URL: still off, the third post does not go there.
    blog.write("2025-03-01-third.md", "# Third post\n\nText.\n");
    let (_, third) = notify(&blog, "2025-03-02T00:00:00Z", &[]);
    assert_eq!(third["planned"], 0, "{third}");
    assert_eq!(receiver.requests_to(old).len(), 1);

    // A new URL in the feed definition: the next run enables it and says so.
    let toml = std::fs::read_to_string(blog.toml()).unwrap();
    std::fs::write(blog.toml(), toml.replace(old, new)).unwrap();
    blog.write("2025-04-01-fourth.md", "# Fourth post\n\nText.\n");
    let (run, fourth) = notify(&blog, "2025-04-02T00:00:00Z", &[]);
    assert_eq!(
        run.code, 1,
        "the old dead delivery is still there: {}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("subscriber enabled again: its target changed"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("s3cr3t"), "{}", run.stderr);
    assert_eq!(fourth["sent"], 1, "{fourth}");
    let got = receiver.requests_to(new);
    assert_eq!(got.len(), 1);
    assert!(
        got[0].json()["text"].to_string().contains("fourth"),
        "{:?}",
        got[0].json()
    );
    let (_, doc) = status_json(&blog);
    assert_eq!(doc["disabled_subscribers"], serde_json::json!([]), "{doc}");
}

#[test]
fn retry_dead_enables_the_disabled_subscribers_and_says_how_many() {
    let receiver = Receiver::start();
    receiver.then("/gone", 410, &[]);
    let blog = blog_with(&hook("chat", &receiver.url("/gone")));
    assert_eq!(notify(&blog, "2025-01-02T00:00:00Z", &[]).0.code, 0);
    blog.write("2025-02-01-second.md", "# Second post\n\nText.\n");
    assert_eq!(notify(&blog, "2025-02-02T00:00:00Z", &[]).0.code, 1);

    let run = blog.run(&["--now", "2025-02-03T00:00:00Z", "retry", "--dead"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("1 dead delivery put back, 1 disabled subscriber enabled again"),
        "{}",
        run.stderr
    );
    let (_, doc) = status_json(&blog);
    assert_eq!(doc["disabled_subscribers"], serde_json::json!([]), "{doc}");

    // The revived delivery and the next post both go to the subscriber.
    blog.write("2025-03-01-third.md", "# Third post\n\nText.\n");
    let (run, third) = notify(&blog, "2025-03-02T00:00:00Z", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(third["sent"], 2, "{third}");
    assert_eq!(receiver.requests_to("/gone").len(), 3);
}

#[test]
fn a_real_first_run_creates_the_state_and_its_marker() {
    let blog = blog_with("");
    let (run, first) = notify(&blog, "2025-01-02T00:00:00Z", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(first["first_run"], true);
    assert!(state(&blog).exists());
    let id = std::fs::read_to_string(marker(&blog)).unwrap();
    assert_eq!(id.trim().len(), 32, "{id:?}");
    let (run, again) = notify(&blog, "2025-01-03T00:00:00Z", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(again["first_run"], false);
    assert_eq!(std::fs::read_to_string(marker(&blog)).unwrap(), id);
}

#[test]
fn an_emptied_state_is_an_error_that_sends_nothing() {
    let receiver = Receiver::start();
    let blog = blog_with(&hook("chat", &receiver.url("/hook")));
    assert_eq!(notify(&blog, "2025-01-02T00:00:00Z", &[]).0.code, 0);
    // The state became 0 bytes (a full disk, a bad restore); a post
    // was published meanwhile.
    delete_state(&blog, false);
    std::fs::write(state(&blog), b"").unwrap();
    blog.write("2025-02-01-second.md", "# Second post\n\nText.\n");
    for command in ["notify", "run"] {
        let run = blog.run(&["--now", "2025-02-02T00:00:00Z", command]);
        assert_eq!(run.code, 2, "{command}: {}", run.stderr);
        assert!(run.stderr.contains("is empty (0 bytes)"), "{}", run.stderr);
        assert_names_the_lost_state(&run.stderr);
    }
    let run = blog.run(&["--now", "2025-02-02T00:00:00Z", "notify", "--dry-run"]);
    assert_eq!(run.code, 2, "a dry run says so too: {}", run.stderr);
    assert_eq!(receiver.count(), 0, "nothing sent");
    assert_eq!(
        std::fs::metadata(state(&blog)).unwrap().len(),
        0,
        "left as it was"
    );

    // Even without a marker, 0 bytes is not a first run.
    std::fs::remove_file(marker(&blog)).unwrap();
    let (run, _) = notify(&blog, "2025-02-02T00:00:00Z", &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(receiver.count(), 0);
}

#[test]
fn a_deleted_state_is_an_error_until_new_state_starts_over() {
    let receiver = Receiver::start();
    let blog = blog_with(&hook("chat", &receiver.url("/hook")));
    assert_eq!(notify(&blog, "2025-01-02T00:00:00Z", &[]).0.code, 0);
    delete_state(&blog, false);
    blog.write("2025-02-01-second.md", "# Second post\n\nText.\n");
    let (run, _) = notify(&blog, "2025-02-02T00:00:00Z", &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("is missing"), "{}", run.stderr);
    assert!(run.stderr.contains("state.db.id"), "{}", run.stderr);
    assert_names_the_lost_state(&run.stderr);
    assert!(!state(&blog).exists(), "no new state was made");
    assert_eq!(receiver.count(), 0);

    // Starting over on purpose: a first run, which announces nothing.
    let (run, fresh) = notify(&blog, "2025-02-02T00:00:00Z", &["--new-state"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(fresh["first_run"], true, "{fresh}");
    assert!(
        run.stderr.contains("starting a new state"),
        "{}",
        run.stderr
    );
    assert_eq!(receiver.count(), 0);
    // From then on it is the state.
    blog.write("2025-03-01-third.md", "# Third post\n\nText.\n");
    let (run, third) = notify(&blog, "2025-03-02T00:00:00Z", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(third["sent"], 1, "{third}");
}

#[test]
fn a_file_that_is_not_a_postbode_state_is_an_error_and_left_alone() {
    let blog = blog_with("");
    std::fs::write(state(&blog), "not a database\n").unwrap();
    for extra in [&[][..], &["--new-state"][..]] {
        let (run, _) = notify(&blog, "2025-01-02T00:00:00Z", extra);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(
            run.stderr.contains("is not a postbode state database"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(
        std::fs::read_to_string(state(&blog)).unwrap(),
        "not a database\n"
    );
    assert!(!marker(&blog).exists());
}

#[test]
fn status_and_retry_on_a_missing_state_say_so_and_create_nothing() {
    let blog = blog_with("");
    for args in [&["status"][..], &["status", "--json"], &["retry", "--dead"]] {
        let run = blog.run(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("there is no state database here"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("state.db"), "{}", run.stderr);
    }
    assert!(!state(&blog).exists());
    assert!(!marker(&blog).exists());

    // A state that was there and went: they say it was lost.
    assert_eq!(notify(&blog, "2025-01-02T00:00:00Z", &[]).0.code, 0);
    delete_state(&blog, false);
    for args in [&["status"][..], &["retry", "--dead"]] {
        let run = blog.run(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert_names_the_lost_state(&run.stderr);
    }
    assert!(!state(&blog).exists());
}

#[test]
fn a_daemon_whose_state_is_deleted_between_two_loops_turns_unhealthy_sends_nothing_and_exits_2() {
    let blog = blog_with(
        "\n[email]\nfrom = \"Blog <noreply@example.org>\"\noutbox = \"outbox\"\n\n[[subscribers]]\nid = \"all\"\nemail = \"all@example.org\"\n",
    );
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_postbode"))
        .args(["daemon", "--every", "1s", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg(blog.toml())
        .current_dir(blog.path())
        .env("POSTBODE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("a healthy daemon", Duration::from_secs(10), || {
        http_get_once(port, "/healthz").is_some_and(|r| r.starts_with("HTTP/1.1 200"))
    });
    // After the first run (a later one may be going: the state may go at
    // any moment).
    wait_for("the first run", Duration::from_secs(20), || {
        let metrics = http_get_once(port, "/metrics").unwrap_or_default();
        metrics.lines().any(|l| {
            l.strip_prefix("postbode_runs_total{outcome=\"ok\"} ")
                .and_then(|n| n.trim().parse::<f64>().ok())
                .is_some_and(|n| n >= 1.0)
        })
    });
    // Everything goes, marker included: the daemon remembers it had a state.
    delete_state(&blog, true);
    blog.write("2025-02-01-new.md", "# New post\n\nFresh.\n");
    let mut answer = String::new();
    wait_for("/healthz to fail", Duration::from_secs(20), || {
        answer = http_get_once(port, "/healthz").unwrap_or_default();
        answer.starts_with("HTTP/1.1 503")
    });
    assert!(answer.contains("the last run could not run"), "{answer}");
    // A few more loops fail the same way; none makes a new state (a run
    // that was going when the file went may leave an empty one behind,
    // which is just as lost).
    std::thread::sleep(Duration::from_millis(2500));
    let status = blog.run(&["status"]);
    assert_eq!(status.code, 2, "{}", status.stderr);
    assert!(
        std::fs::read_dir(blog.path().join("outbox")).map_or(true, |d| d.count() == 0),
        "nothing was sent"
    );

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let stopped = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(stopped.elapsed() < Duration::from_secs(15), "no stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert_eq!(status.code(), Some(2), "{logs}");
    assert!(logs.contains("is missing"), "{logs}");
    assert!(logs.contains("this process opened it before"), "{logs}");
    assert_names_the_lost_state(&logs);
    assert!(
        logs.contains("stopped while the last run could not run"),
        "{logs}"
    );
}
