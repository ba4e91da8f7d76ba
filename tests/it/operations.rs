//! The operator's view of the outbox, through the real binary and a real
//! SQLite state: `history` (what was sent, when, to whom by id, with the
//! message id), `status` with next attempt and digest due times and a row
//! `retry --dead` put back that reads right, `retry --due-now` for a
//! delivery backing off after the receiver was fixed, and the daemon's
//! gauges read from the state at scrape time over HTTP.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::*;
use crate::receiver::Receiver;

// Each of these runs twice: with an SQLite file and with PostgreSQL.
crate::on_both_stores!([
    history_lists_what_was_sent_newest_first_to_whom_by_id_over_which_channel_with_the_message_id,
    status_shows_when_each_delivery_is_tried_next_and_when_a_digest_is_due,
    after_retry_dead_a_row_reads_pending_with_its_earlier_attempts_and_the_error_from_before_the_retry,
    retry_due_now_brings_a_backing_off_delivery_forward_and_says_clearly_what_it_cannot,
    the_daemons_metrics_have_gauges_of_deliveries_by_status_and_disabled_subscribers_read_from_the_state,
]);

const EMAIL: &str = "[email]\nfrom = \"Blog <noreply@example.org>\"\noutbox = \"outbox\"\n";

/// A blog with its state in `state.db`, one old post, and these extra
/// TOML lines.
fn blog_with(extra: &str) -> TestBlog {
    let blog = TestBlog::new(&format!("state = \"state.db\"\n{extra}"));
    blog.write("2025-01-01-old.md", "# Old post\n\nText.\n");
    blog
}

fn hook(id: &str, url: &str) -> String {
    format!("\n[[subscribers]]\nid = \"{id}\"\nwebhook = \"{url}\"\nformat = \"slack\"\n")
}

fn reader(id: &str, extra: &str) -> String {
    format!("\n[[subscribers]]\nid = \"{id}\"\nemail = \"{id}@example.org\"\n{extra}\n")
}

fn notify(blog: &TestBlog, now: &str) -> (Run, serde_json::Value) {
    let run = blog.run(&["--now", now, "notify", "--json"]);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let summary = serde_json::from_str(&run.stdout).unwrap_or(serde_json::Value::Null);
    (run, summary)
}

fn json_of(blog: &TestBlog, args: &[&str]) -> (Run, serde_json::Value) {
    let run = blog.run(args);
    let doc = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}\n{}\n{}", run.stdout, run.stderr));
    (run, doc)
}

fn status_rows(blog: &TestBlog, now: &str) -> Vec<serde_json::Value> {
    let (_, doc) = json_of(blog, &["--now", now, "status", "--json"]);
    doc["deliveries"].as_array().unwrap().clone()
}

fn history(blog: &TestBlog, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["history", "--json"];
    args.extend_from_slice(extra);
    let (run, doc) = json_of(blog, &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    doc.as_array()
        .unwrap_or_else(|| panic!("one JSON array: {doc}"))
        .clone()
}

fn history_lists_what_was_sent_newest_first_to_whom_by_id_over_which_channel_with_the_message_id() {
    let receiver = Receiver::start();
    let blog = blog_with(&format!(
        "{EMAIL}{}{}",
        hook("chat", &receiver.url("/hook")),
        reader("reader", "")
    ));
    assert_eq!(notify(&blog, "2025-01-02T00:00:00Z").0.code, 0);
    blog.write("2025-02-01-second.md", "# Second post\n\nText.\n");
    assert_eq!(notify(&blog, "2025-02-02T00:00:00Z").0.code, 0);
    blog.write("2025-03-01-third.md", "# Third post\n\nText.\n");
    assert_eq!(notify(&blog, "2025-03-02T00:00:00Z").0.code, 0);

    let all = history(&blog, &[]);
    assert_eq!(all.len(), 4, "{all:?}");
    let sent_at: Vec<&str> = all.iter().map(|r| r["sent_at"].as_str().unwrap()).collect();
    assert!(
        sent_at[0].starts_with("2025-03-02"),
        "newest first: {sent_at:?}"
    );
    assert!(
        sent_at[3].starts_with("2025-02-02"),
        "newest first: {sent_at:?}"
    );
    assert!(sent_at.windows(2).all(|w| w[0] >= w[1]), "{sent_at:?}");
    let text = serde_json::Value::Array(all.clone()).to_string();
    assert!(
        !text.contains("reader@example.org"),
        "ids, never addresses: {text}"
    );
    let chat: Vec<&serde_json::Value> = all.iter().filter(|r| r["subscriber"] == "chat").collect();
    assert_eq!(chat.len(), 2);
    assert!(chat.iter().all(|r| r["channel"] == "webhook"), "{chat:?}");
    assert!(
        all.iter()
            .filter(|r| r["subscriber"] == "reader")
            .all(|r| r["channel"] == "email")
    );
    // The message id is what the receiver saw.
    let seen: Vec<String> = receiver
        .requests_to("/hook")
        .iter()
        .map(|r| r.header("webhook-id").unwrap_or_default().to_string())
        .collect();
    for r in &chat {
        let id = r["message_id"].as_str().unwrap();
        assert!(seen.iter().any(|s| s == id), "{id} not in {seen:?}");
    }

    // Filters: by subscriber, by post (permalink with a trailing slash, or
    // the URL), since a date.
    assert_eq!(history(&blog, &["--subscriber", "chat"]).len(), 2);
    let second = all.iter().find(|r| r["title"] == "Second post").unwrap()["permalink"]
        .as_str()
        .unwrap()
        .to_string();
    let by_post = history(&blog, &["--post", &format!("{second}/")]);
    assert_eq!(by_post.len(), 2, "{by_post:?}");
    assert!(by_post.iter().all(|r| r["permalink"] == second.as_str()));
    let by_url = history(&blog, &["--post", &format!("{SITE}{second}")]);
    assert_eq!(by_url.len(), 2, "{by_url:?}");
    let since = history(&blog, &["--since", "2025-03-01"]);
    assert_eq!(since.len(), 2, "{since:?}");
    assert!(since.iter().all(|r| r["title"] == "Third post"));

    // The table for people.
    let run = blog.run(&["history", "--subscriber", "reader"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with("SENT") && lines[0].contains("SUBSCRIBER"),
        "{}",
        run.stdout
    );
    assert!(lines[0].contains("CHANNEL") && lines[0].contains("MESSAGE ID"));
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert!(lines[1].starts_with("2025-03-02") && lines[1].contains("reader"));
    assert!(lines[1].contains("email") && lines[1].contains("third"));
    assert!(!run.stdout.contains("@example.org>"), "{}", run.stdout);
    assert!(run.stderr.contains("2 deliveries sent"), "{}", run.stderr);
}

fn status_shows_when_each_delivery_is_tried_next_and_when_a_digest_is_due() {
    let receiver = Receiver::start();
    receiver.then("/hook", 503, &[]);
    let blog = blog_with(&format!(
        "{EMAIL}{}{}",
        hook("chat", &receiver.url("/hook")),
        reader("weekly", "digest = \"weekly\"")
    ));
    assert_eq!(notify(&blog, "2025-07-11T00:00:00Z").0.code, 0);
    blog.write("2025-07-15-new.md", "# New post\n\nText.\n");
    // Wednesday 16 July: the hook fails, the digest waits for the week's end.
    let (run, s) = notify(&blog, "2025-07-16T00:00:00Z");
    // Due deliveries and none sent: exit 1, so cron notices.
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        (s["retrying"].as_u64(), s["sent"].as_u64()),
        (Some(1), Some(0)),
        "{s}"
    );

    let now = "2025-07-16T00:00:30Z";
    let rows = status_rows(&blog, now);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let retrying = rows.iter().find(|r| r["subscriber"] == "chat").unwrap();
    assert_eq!(retrying["status"], "retrying");
    let next = retrying["next_attempt_at"].as_str().unwrap();
    assert!(next > now && next.starts_with("2025-07-16"), "{retrying}");
    let held = rows.iter().find(|r| r["subscriber"] == "weekly").unwrap();
    assert_eq!(held["status"], "held", "{held}");
    let due = held["hold_until"].as_str().unwrap();
    assert!(due > "2025-07-20", "held until the week ends: {held}");
    assert_eq!(held["next_attempt_at"], held["hold_until"], "{held}");

    let run = blog.run(&["--now", now, "status"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.lines().next().unwrap().contains("NEXT ATTEMPT"),
        "{}",
        run.stdout
    );
    let line = |who: &str| {
        run.stdout
            .lines()
            .find(|l| l.contains(who))
            .unwrap_or_else(|| panic!("no {who} in\n{}", run.stdout))
            .to_string()
    };
    assert!(line("chat").contains(&next[..10]), "{}", line("chat"));
    assert!(line("weekly").contains("held"), "{}", line("weekly"));
    assert!(line("weekly").contains(&due[..10]), "{}", line("weekly"));
    assert!(
        run.stderr
            .contains("feeds: 2 open deliveries (1 held for a digest, 1 retrying)"),
        "{}",
        run.stderr
    );
}

fn after_retry_dead_a_row_reads_pending_with_its_earlier_attempts_and_the_error_from_before_the_retry()
 {
    let receiver = Receiver::start();
    receiver.then("/down", 503, &[]).then("/down", 503, &[]);
    let blog = blog_with(&format!(
        "[delivery]\nmax_age_hours = 1\n{}",
        hook("chat", &receiver.url("/down"))
    ));
    assert_eq!(notify(&blog, "2025-01-02T00:00:00Z").0.code, 0);
    blog.write("2025-02-01-second.md", "# Second post\n\nText.\n");
    assert_eq!(notify(&blog, "2025-02-02T00:00:00Z").1["retrying"], 1);
    let (_, later) = notify(&blog, "2025-02-02T03:00:00Z");
    assert_eq!(later["dead"], 1, "{later}");

    let now = "2025-02-02T04:00:00Z";
    let run = blog.run(&["--now", now, "retry", "--dead"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows = status_rows(&blog, now);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row["status"], "pending", "{row}");
    assert_eq!(row["attempts"], 0, "{row}");
    assert_eq!(row["previous_attempts"], 2, "{row}");
    assert_eq!(row["last_error"], serde_json::Value::Null, "{row}");
    assert!(
        row["last_error_before_retry"]
            .as_str()
            .unwrap()
            .contains("503"),
        "{row}"
    );

    let run = blog.run(&["--now", now, "status"]);
    let line = run.stdout.lines().find(|l| l.contains("chat")).unwrap();
    assert!(!line.contains("retrying"), "{line}");
    assert!(line.contains("pending"), "{line}");
    assert!(line.contains("0 (+2 before retry)"), "{line}");
    assert!(line.contains("last error before retry: "), "{line}");
    assert!(
        run.stderr.contains("1 open delivery (1 pending)"),
        "{}",
        run.stderr
    );

    // It is sent with the next notify, and the history counts every attempt.
    let (run, s) = notify(&blog, "2025-02-02T04:01:00Z");
    assert_eq!(
        (run.code, s["sent"].as_u64()),
        (0, Some(1)),
        "{}",
        run.stderr
    );
    let sent = history(&blog, &[]);
    assert_eq!(sent[0]["attempts"], 3, "{sent:?}");
}

fn retry_due_now_brings_a_backing_off_delivery_forward_and_says_clearly_what_it_cannot() {
    let receiver = Receiver::start();
    receiver.then("/hook", 503, &[("Retry-After", "3600")]);
    let blog = blog_with(&hook("chat", &receiver.url("/hook")));
    assert_eq!(notify(&blog, "2025-01-02T00:00:00Z").0.code, 0);
    blog.write("2025-02-01-second.md", "# Second post\n\nText.\n");
    assert_eq!(notify(&blog, "2025-02-02T00:00:00Z").1["retrying"], 1);
    let id = status_rows(&blog, "2025-02-02T00:00:01Z")[0]["id"]
        .as_i64()
        .unwrap();
    // Backing off for an hour: a notify a minute later sends nothing.
    assert_eq!(notify(&blog, "2025-02-02T00:01:00Z").1["sent"], 0);

    let run = blog.run(&[
        "--now",
        "2025-02-02T00:02:00Z",
        "retry",
        "--due-now",
        &id.to_string(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("delivery #{id} is due now")),
        "{}",
        run.stderr
    );
    let row = &status_rows(&blog, "2025-02-02T00:02:00Z")[0];
    assert_eq!(
        row["next_attempt_at"].as_str().unwrap(),
        "2025-02-02T00:02:00Z",
        "{row}"
    );
    let (run, s) = notify(&blog, "2025-02-02T00:02:10Z");
    assert_eq!(
        (run.code, s["sent"].as_u64()),
        (0, Some(1)),
        "{}",
        run.stderr
    );

    // An unknown id, and a delivery that is not waiting (sent): errors
    // that say what is wrong, exit 2, nothing changed.
    let run = blog.run(&["retry", "--due-now", "9999"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("delivery #9999 does not exist"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("postbode status"), "{}", run.stderr);
    let run = blog.run(&["retry", "--due-now", &id.to_string()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("delivery #{id} is sent, not waiting for a retry")),
        "{}",
        run.stderr
    );
    let run = blog.run(&["retry", "--due-now", "--state", "state.db"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--due-now --all"), "{}", run.stderr);
    let run = blog.run(&["retry", "--due-now", "x"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("the ID column of `postbode status`"),
        "{}",
        run.stderr
    );

    // --all: every delivery backing off.
    receiver.then("/hook", 503, &[("Retry-After", "3600")]);
    blog.write("2025-03-01-third.md", "# Third post\n\nText.\n");
    assert_eq!(notify(&blog, "2025-03-02T00:00:00Z").1["retrying"], 1);
    let run = blog.run(&[
        "--now",
        "2025-03-02T00:01:00Z",
        "retry",
        "--due-now",
        "--all",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("1 retrying delivery due now"),
        "{}",
        run.stderr
    );
    assert_eq!(notify(&blog, "2025-03-02T00:01:10Z").1["sent"], 1);
}

/// Waits (bounded) until `/metrics` has every line in `want`.
fn metrics_with(port: u16, want: &[&str]) -> String {
    let start = Instant::now();
    loop {
        let metrics = http_get(port, "/metrics").unwrap_or_default();
        if want.iter().all(|w| metrics.lines().any(|l| l == *w)) {
            return metrics;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {want:?} in\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn the_daemons_metrics_have_gauges_of_deliveries_by_status_and_disabled_subscribers_read_from_the_state()
 {
    let receiver = Receiver::start();
    receiver.then("/gone", 410, &[]);
    // Far-future dates: the gauges count "held" against the real clock.
    let blog = TestBlog::new(&format!(
        "state = \"state.db\"\n{EMAIL}{}{}",
        hook("chat", &receiver.url("/gone")),
        reader("weekly", "digest = \"weekly\"")
    ));
    blog.write("2099-01-01-old.md", "# Old post\n\nText.\n");
    assert_eq!(notify(&blog, "2099-01-02T00:00:00Z").0.code, 0);
    blog.write("2099-02-03-new.md", "# New post\n\nText.\n");
    let (_, s) = notify(&blog, "2099-02-04T00:00:00Z");
    assert_eq!(s["dead"], 1, "{s}");

    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_postbode"))
        .args([
            "--now",
            "2099-02-04T00:10:00Z",
            "daemon",
            "--every",
            "1h",
            "--listen",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .arg(blog.toml())
        .current_dir(blog.path())
        .envs(blog.state_env())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let gauge = |status: &str, n: u64| {
        format!("postbode_outbox_deliveries{{blog=\"feeds\",status=\"{status}\"}} {n}")
    };
    let metrics = metrics_with(
        port,
        &[
            &gauge("dead", 1),
            &gauge("held", 1),
            &gauge("pending", 0),
            &gauge("retrying", 0),
            "postbode_disabled_subscribers{blog=\"feeds\"} 1",
        ],
    );
    assert!(
        metrics.contains("# TYPE postbode_outbox_deliveries gauge"),
        "{metrics}"
    );
    // The counters of this process stay.
    assert!(metrics.contains("postbode_new_posts_total"), "{metrics}");

    // Another process changes the state: the next scrape shows it, without
    // a run of this daemon (its next is an hour away).
    let run = blog.run(&["--now", "2099-02-04T00:20:00Z", "retry", "--dead"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    metrics_with(
        port,
        &[
            &gauge("dead", 0),
            &gauge("pending", 1),
            &gauge("held", 1),
            "postbode_disabled_subscribers{blog=\"feeds\"} 0",
        ],
    );

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let stopped = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if stopped.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            panic!("the daemon did not stop within 15 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
