//! `Retry-After` against a real receiver: a far-future date does not park a
//! delivery past its max age (it gets one last try at the max age), and an
//! HTTP date is read on the run's one clock (`--now`), as are the records.

use crate::helpers::*;
use crate::receiver::Receiver;

// Each of these runs twice: with an SQLite file and with PostgreSQL.
crate::on_both_stores!([
    a_far_future_retry_after_date_waits_only_until_the_deliverys_max_age,
    a_retry_after_at_or_past_the_max_age_fails_for_good_at_the_max_age,
    a_retry_after_date_is_read_on_the_runs_clock_and_so_are_the_timestamps,
]);

/// A blog with one webhook subscriber; the first run (at `start`) records
/// the post that is already there.
fn blog(receiver: &Receiver, max_age_hours: u32) -> TestBlog {
    let blog = TestBlog::new(&format!(
        "state = \"state.db\"\n[delivery]\nmax_age_hours = {max_age_hours}\n\n[[subscribers]]\nid = \"hook\"\nwebhook = \"{}\"\n",
        receiver.url("/hook")
    ));
    blog.write(
        "2025-07-01-old.md",
        "---\ntitle: Old\ndate: 2025-07-01\n---\n\nOld.\n",
    );
    assert_eq!(notify(&blog, "2025-07-10T00:00:00Z").code, 0);
    blog.write(
        "2025-07-15-new.md",
        "---\ntitle: New\ndate: 2025-07-15\n---\n\nNew.\n",
    );
    blog
}

fn notify(blog: &TestBlog, now: &str) -> Run {
    let run = blog.run(&["--now", now, "notify", "--json"]);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run
}

/// The one open delivery, as `status --json` shows it.
fn open_delivery(blog: &TestBlog) -> serde_json::Value {
    let run = blog.run(&["status", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("status --json: {e}: {}{}", run.stdout, run.stderr));
    let rows = doc["deliveries"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 1, "{doc}");
    rows[0].clone()
}

fn a_far_future_retry_after_date_waits_only_until_the_deliverys_max_age() {
    let receiver = Receiver::start();
    receiver.then(
        "/hook",
        429,
        &[("Retry-After", "Fri, 31 Dec 2100 23:59:59 GMT")],
    );
    let blog = blog(&receiver, 72);
    let run = notify(&blog, "2025-07-16T00:00:00Z");
    assert_eq!(run.code, 1, "due, and none could be sent: {}", run.stderr);
    let row = open_delivery(&blog);
    assert_eq!(row["status"], "retrying", "{row}");
    // Created at 2025-07-16T00:00:00Z; 72 hours later, not in 2100.
    let next = row["next_attempt_at"].as_str().unwrap();
    assert!(next.starts_with("2025-07-19T00:00:00"), "{row}");
    assert!(
        row["last_error"].as_str().unwrap().contains("max age"),
        "{row}"
    );

    // Not due before then; tried once more at the max age, and sent.
    assert_eq!(notify(&blog, "2025-07-18T23:00:00Z").code, 0);
    assert_eq!(receiver.requests_to("/hook").len(), 1);
    let run = notify(&blog, "2025-07-19T00:00:00Z");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let hooked = receiver.requests_to("/hook");
    assert_eq!(hooked.len(), 2);
    assert_eq!(hooked[1].status, 200);
    assert_eq!(
        hooked[0].header("webhook-id"),
        hooked[1].header("webhook-id")
    );
}

fn a_retry_after_at_or_past_the_max_age_fails_for_good_at_the_max_age() {
    let receiver = Receiver::start();
    for _ in 0..2 {
        receiver.then(
            "/hook",
            503,
            &[("Retry-After", "Fri, 31 Dec 2100 23:59:59 GMT")],
        );
    }
    let blog = blog(&receiver, 1);
    // Due, and none could be sent: 1.
    assert_eq!(notify(&blog, "2025-07-16T00:00:00Z").code, 1);
    // The last try, at the max age, fails too: dead, not parked.
    let run = notify(&blog, "2025-07-16T01:00:00Z");
    assert_eq!(run.code, 1, "dead deliveries are a problem: {}", run.stderr);
    let row = open_delivery(&blog);
    assert_eq!(row["status"], "dead", "{row}");
    assert_eq!(receiver.requests_to("/hook").len(), 2);
}

fn a_retry_after_date_is_read_on_the_runs_clock_and_so_are_the_timestamps() {
    let receiver = Receiver::start();
    // Ten minutes after `--now`: long past on the real clock.
    receiver.then(
        "/hook",
        503,
        &[("Retry-After", "Wed, 16 Jul 2025 00:10:00 GMT")],
    );
    let blog = blog(&receiver, 72);
    // Due, and none could be sent: 1.
    assert_eq!(notify(&blog, "2025-07-16T00:00:00Z").code, 1);
    let row = open_delivery(&blog);
    assert_eq!(row["status"], "retrying", "{row}");
    let next = row["next_attempt_at"].as_str().unwrap();
    assert!(next.starts_with("2025-07-16T00:10:00"), "{row}");
    // The webhook is dated by the same clock.
    let hooked = receiver.requests_to("/hook");
    assert_eq!(hooked[0].header("webhook-timestamp"), Some("1752624000"));
    assert_eq!(hooked[0].json()["timestamp"], "2025-07-16T00:00:00Z");

    assert_eq!(notify(&blog, "2025-07-16T00:05:00Z").code, 0);
    assert_eq!(receiver.requests_to("/hook").len(), 1, "not due yet");
    assert_eq!(notify(&blog, "2025-07-16T00:10:00Z").code, 0);
    assert_eq!(receiver.requests_to("/hook").len(), 2);
    // Sent: nothing open is left.
    let run = blog.run(&["status", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["deliveries"], serde_json::json!([]), "{}", run.stderr);
}
