//! Several workers on one PostgreSQL state, as replicas on several machines
//! run them: real `postbode` processes started at once, a real receiver on
//! 127.0.0.1, a database of their own. Every delivery arrives exactly once
//! and the work is spread; a worker killed mid-send repeats only what was on
//! its wire, with the same `webhook-id`; two runs of one blog plan a post
//! once; a migrated SQLite state announces nothing old; a database that goes
//! away mid-run loses nothing. All skip (one line) without a PostgreSQL
//! server, unless `POSTBODE_REQUIRE_POSTGRES=1`.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::*;
use crate::pg::{TestDatabase, available};
use crate::proxy::Proxy;
use crate::receiver::{Receiver, Reply};

const NOW: &str = "2025-06-01T00:00:00Z";
/// No process may take longer: a hung one fails the test instead of hanging it.
const LIMIT: Duration = Duration::from_secs(120);

/// A blog with `n` webhook subscribers (`/s<i>` on the receiver) and one
/// post, whose first run (on `db`) has recorded that post.
fn webhook_blog(receiver: &Receiver, n: usize, concurrency: usize, db: &TestDatabase) -> TestBlog {
    let mut toml = format!("[delivery]\nwebhook_concurrency = {concurrency}\n");
    for i in 0..n {
        toml.push_str(&format!(
            "\n[[subscribers]]\nid = \"s{i}\"\nwebhook = \"{}\"\n",
            receiver.url(&format!("/s{i}"))
        ));
    }
    let blog = TestBlog::new(&toml);
    post(&blog, 1);
    let first = run_with_db(&blog, db, &["notify"]);
    assert_eq!(first.code, 0, "first run: {}", first.stderr);
    assert_eq!(receiver.count(), 0, "a first run announces nothing");
    blog
}

fn post(blog: &TestBlog, n: usize) {
    blog.write(
        &format!("2025-01-01-post-{n}.md"),
        &format!("---\ntitle: Post {n}\ndate: 2025-01-01T00:00:{n:02}Z\n---\n\nPost {n}.\n"),
    );
}

fn run_with_db(blog: &TestBlog, db: &TestDatabase, args: &[&str]) -> Run {
    let mut all = vec!["--now", NOW];
    all.extend_from_slice(args);
    let toml = blog.toml();
    all.push(toml.to_str().unwrap());
    postbode_with_env(blog.path(), &all, &[("POSTBODE_DATABASE_URL", &db.url)])
}

/// `postbode --now NOW <args> <definition>` started in the background, its
/// stdout and stderr in files beside the blog.
fn spawn(blog: &TestBlog, db_url: &str, args: &[&str], name: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_postbode"))
        .args(["--now", NOW])
        .args(args)
        .arg(blog.toml())
        .current_dir(blog.path())
        .env_remove("POSTBODE_LOG")
        .env("POSTBODE_DATABASE_URL", db_url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(blog.path().join(format!("{name}.out"))).unwrap())
        .stderr(std::fs::File::create(blog.path().join(format!("{name}.err"))).unwrap())
        .spawn()
        .expect("postbode starts")
}

/// Waits (bounded) for `child`: its exit code (`None`: killed), stdout, stderr.
fn wait(blog: &TestBlog, mut child: Child, name: &str) -> (Option<i32>, String, String) {
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("{name} took over {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let read = |ext: &str| {
        std::fs::read_to_string(blog.path().join(format!("{name}.{ext}"))).unwrap_or_default()
    };
    let (out, err) = (read("out"), read("err"));
    assert!(!err.contains("panicked"), "{name}: {err}");
    (status.code(), out, err)
}

/// Arrivals per subscriber path: the webhook-ids it came with.
fn arrivals(receiver: &Receiver) -> HashMap<String, Vec<String>> {
    let mut by_path: HashMap<String, Vec<String>> = HashMap::new();
    for r in receiver.requests() {
        let id = r.header("webhook-id").expect("a webhook-id").to_string();
        by_path.entry(r.path.clone()).or_default().push(id);
    }
    by_path
}

/// Every one of `n` subscribers got the post at least once, always with the
/// same id; returns how many arrivals were repeats.
fn check_all_arrived(receiver: &Receiver, n: usize, what: &str) -> usize {
    let got = arrivals(receiver);
    let mut repeats = 0;
    for i in 0..n {
        let ids = got
            .get(&format!("/s{i}"))
            .unwrap_or_else(|| panic!("{what}: the delivery to s{i} was lost"));
        assert!(
            ids.iter().all(|id| id == &ids[0]),
            "{what}: s{i} got different ids: {ids:?}"
        );
        repeats += ids.len() - 1;
    }
    assert_eq!(got.len(), n, "{what}: unexpected receivers");
    repeats
}

fn sent(summary_json: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(summary_json)
        .unwrap_or_else(|e| panic!("notify --json: {e}: {summary_json}"));
    v["sent"].as_u64().unwrap_or(0)
}

fn statuses(db: &TestDatabase) -> Vec<String> {
    db.query_strings("SELECT status || ':' || COUNT(*) FROM deliveries GROUP BY status ORDER BY 1")
}

#[test]
fn four_notify_processes_share_20000_webhook_deliveries_and_each_arrives_once() {
    if !available() {
        return;
    }
    const N: usize = 20_000;
    let receiver = Receiver::start();
    let db = TestDatabase::create();
    let blog = webhook_blog(&receiver, N, 32, &db);
    post(&blog, 2);
    let workers: Vec<Child> = (0..4)
        .map(|w| spawn(&blog, &db.url, &["notify", "--json"], &format!("w{w}")))
        .collect();
    let mut shares = Vec::new();
    for (w, child) in workers.into_iter().enumerate() {
        let (code, out, err) = wait(&blog, child, &format!("w{w}"));
        assert_eq!(code, Some(0), "worker {w}: {err}");
        shares.push(sent(&out));
    }
    assert_eq!(check_all_arrived(&receiver, N, "four workers"), 0);
    assert_eq!(shares.iter().sum::<u64>(), N as u64, "{shares:?}");
    assert!(
        shares.iter().all(|&s| s > 0),
        "every worker sends a share: {shares:?}"
    );
    eprintln!("four workers, {N} webhooks: shares {shares:?}");
    assert_eq!(statuses(&db), vec![format!("sent:{N}")]);
}

#[test]
fn a_worker_killed_mid_send_repeats_only_what_was_on_its_wire_with_the_same_id() {
    if !available() {
        return;
    }
    const N: usize = 20_000;
    const CONCURRENCY: usize = 16;
    let receiver = Receiver::start();
    let db = TestDatabase::create();
    let blog = webhook_blog(&receiver, N, CONCURRENCY, &db);
    post(&blog, 2);
    let mut workers: Vec<Child> = (0..4)
        .map(|w| spawn(&blog, &db.url, &["notify", "--json"], &format!("w{w}")))
        .collect();
    wait_for("a fifth of the deliveries", LIMIT, || {
        receiver.count() >= N / 5
    });
    let mut victim = workers.remove(0);
    victim.kill().unwrap();
    victim.wait().unwrap();
    let at = receiver.count();
    for (w, child) in workers.into_iter().enumerate() {
        let name = format!("w{}", w + 1);
        let (code, _, err) = wait(&blog, child, &name);
        assert_eq!(code, Some(0), "{name}: {err}");
    }
    // The survivors took the killed worker's rows over: nothing is left.
    let repeats = check_all_arrived(&receiver, N, "after a SIGKILL");
    eprintln!("SIGKILL after {at} arrivals: {repeats} repeated (at most {CONCURRENCY})");
    assert!(
        repeats <= CONCURRENCY,
        "{repeats} repeats, but at most {CONCURRENCY} were on the killed worker's wire"
    );
    assert_eq!(statuses(&db), vec![format!("sent:{N}")]);
}

#[test]
fn two_runs_of_copies_of_one_blog_started_together_plan_and_announce_a_post_once() {
    if !available() {
        return;
    }
    const N: usize = 3;
    let receiver = Receiver::start();
    let db = TestDatabase::create();
    let a = webhook_blog(&receiver, N, 4, &db);
    // The same definition and posts in another folder (another machine).
    let b = TestBlog::new("");
    std::fs::copy(a.toml(), b.toml()).unwrap();
    copy_dir(&a.blog(), &b.blog());
    post(&a, 2);
    post(&b, 2);
    let runs = [
        spawn(&a, &db.url, &["run", "--json"], "a"),
        spawn(&b, &db.url, &["run", "--json"], "b"),
    ];
    let mut planned = 0;
    for (blog, (child, name)) in [&a, &b].into_iter().zip(runs.into_iter().zip(["a", "b"])) {
        let (code, out, err) = wait(blog, child, name);
        assert_eq!(code, Some(0), "{name}: {err}");
        let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
        planned += summary["planned"].as_u64().unwrap_or(0);
        assert!(
            blog.out().join("atom.xml").exists(),
            "{name} built its feeds"
        );
    }
    assert_eq!(planned, N as u64, "planned once between the two");
    assert_eq!(check_all_arrived(&receiver, N, "two runs"), 0);
    assert_eq!(receiver.count(), N);
}

/// An SQLite state with history: posts seen, a dead delivery (its
/// subscriber answered 410), a weekly digest pending, and a retry.
#[test]
fn a_migrated_sqlite_state_announces_nothing_old_and_sends_its_pending_digest_once() {
    if !available() {
        return;
    }
    let receiver = Receiver::start();
    receiver.reply("/gone", Reply::status(410));
    let blog = TestBlog::new(&format!(
        r#"state = "state.db"
[email]
from = "Blog <noreply@example.org>"
transport = "file"
outbox = "outbox"
unsubscribe_url = "https://example.org/unsubscribe?s={{subscriber}}&t={{token}}"

[[subscribers]]
id = "gone"
webhook = "{}"

[[subscribers]]
id = "hook"
webhook = "{}"

[[subscribers]]
id = "weekly"
email = "weekly@example.org"
digest = "weekly"
"#,
        receiver.url("/gone"),
        receiver.url("/hook")
    ));
    let notify = |now: &str, env: &[(&str, &str)]| {
        let run = blog.run_with_env(&["--now", now, "notify", "--json"], env);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        run
    };
    post(&blog, 1);
    assert_eq!(notify("2025-06-02T08:00:00Z", &[]).code, 0);
    post(&blog, 2);
    // Monday: "hook" gets post 2, "gone" answers 410 (dead), the weekly
    // digest waits for the week to end.
    // Exit 1: a delivery is dead.
    assert_eq!(notify("2025-06-02T09:00:00Z", &[]).code, 1);
    let hooks_before = receiver.requests_to("/hook").len();
    assert_eq!(hooks_before, 1);
    let sqlite_status = blog.run(&["--now", "2025-06-02T09:00:00Z", "status", "--json"]);
    assert!(
        sqlite_status.stdout.contains("dead"),
        "{}",
        sqlite_status.stdout
    );

    // A reader who signed up (imported here), and one who left.
    let list = blog.path().join("list.txt");
    std::fs::write(&list, "reader@example.org\n").unwrap();
    let toml = blog.toml();
    let import = postbode(&[
        "subscribers",
        "import",
        toml.to_str().unwrap(),
        list.to_str().unwrap(),
    ]);
    assert_eq!(import.code, 0, "{}", import.stderr);

    let db = TestDatabase::create();
    let state = blog.path().join("state.db");
    let migrated = postbode(&[
        "state",
        "migrate",
        "--from",
        state.to_str().unwrap(),
        "--to",
        &db.url,
        "--json",
    ]);
    assert_eq!(migrated.code, 0, "{}", migrated.stderr);
    let copied: serde_json::Value = serde_json::from_str(&migrated.stdout).unwrap();
    assert_eq!(copied["posts"], 2, "{copied}");
    assert_eq!(copied["deliveries"], 3, "{copied}");
    assert_eq!(copied["disabled_subscribers"], 1, "{copied}");
    assert_eq!(copied["subscriptions"], 1, "{copied}");
    // Into a database that holds a state: refused, nothing changed.
    let again = postbode(&[
        "state",
        "migrate",
        "--from",
        state.to_str().unwrap(),
        "--to",
        &db.url,
    ]);
    assert_eq!(again.code, 2);
    assert!(
        again.stderr.contains("already holds a postbode state"),
        "{}",
        again.stderr
    );

    // On PostgreSQL, after the week ended: nothing old is announced, the
    // digest goes out once, the dead delivery stays dead.
    let pg = [("POSTBODE_DATABASE_URL", db.url.as_str())];
    let run = notify("2025-06-09T09:00:00Z", &pg);
    assert_eq!(run.code, 1, "the dead delivery came along: {}", run.stderr);
    let summary: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(summary["dead_total"], 1, "{summary}");
    assert_eq!(summary["planned"], 0, "{summary}");
    assert_eq!(summary["sent"], 1, "the digest: {summary}");
    assert_eq!(receiver.requests_to("/hook").len(), hooks_before);
    let digests = std::fs::read_dir(blog.path().join("outbox"))
        .unwrap()
        .count();
    assert_eq!(digests, 1);
    let rerun = notify("2025-06-09T10:00:00Z", &pg);
    let summary: serde_json::Value = serde_json::from_str(&rerun.stdout).unwrap();
    assert_eq!(summary["sent"], 0, "{summary}");
    assert_eq!(
        std::fs::read_dir(blog.path().join("outbox"))
            .unwrap()
            .count(),
        1
    );
    // The ids go on after the copied ones: a new post's deliveries get new ids.
    post(&blog, 3);
    notify("2025-06-09T11:00:00Z", &pg);
    let hook_ids: Vec<String> = receiver
        .requests_to("/hook")
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_string())
        .collect();
    assert_eq!(hook_ids.len(), 2);
    assert_ne!(hook_ids[0], hook_ids[1]);
    // The reader came along and got the new post (the digest waits).
    let mails: Vec<String> = std::fs::read_dir(blog.path().join("outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(mails.len(), 2);
    assert!(mails.iter().any(|m| m.contains("To: reader@example.org")));
}

#[test]
fn a_database_that_goes_away_mid_run_fails_the_run_and_the_next_run_finishes_the_work() {
    if !available() {
        return;
    }
    const N: usize = 200;
    const CONCURRENCY: usize = 4;
    let receiver = Receiver::start();
    let db = TestDatabase::create();
    let target = (
        "127.0.0.1",
        url::Url::parse(&db.url).unwrap().port().unwrap_or(5432),
    );
    let target = std::net::ToSocketAddrs::to_socket_addrs(&target)
        .unwrap()
        .next()
        .unwrap();
    let mut proxy = Proxy::start(target);
    let mut via = url::Url::parse(&db.url).unwrap();
    via.set_host(Some("127.0.0.1")).unwrap();
    via.set_port(Some(proxy.port)).unwrap();
    let via = via.to_string();
    let blog = webhook_blog(&receiver, N, CONCURRENCY, &db);
    for i in 0..N {
        receiver.reply(
            &format!("/s{i}"),
            Reply::status(200).delay(Duration::from_millis(20)),
        );
    }
    post(&blog, 2);
    let child = spawn(&blog, &via, &["notify"], "cut");
    wait_for("some deliveries", LIMIT, || receiver.count() >= 40);
    proxy.cut();
    let (code, _, err) = wait(&blog, child, "cut");
    assert_eq!(code, Some(2), "a lost database is an error: {err}");
    assert!(
        err.contains(&format!("127.0.0.1:{}", proxy.port)) && !err.contains("panicked"),
        "the error names the database: {err}"
    );
    let during = receiver.count();
    assert!(during < N, "the run stopped sending: {during}");
    // Nothing is recorded as sent that did not arrive.
    let arrived = arrivals(&receiver);
    for row in
        db.query_strings("SELECT subscriber FROM deliveries WHERE status = 'sent' ORDER BY id")
    {
        assert!(
            arrived.contains_key(&format!("/{row}")),
            "{row} marked sent, never arrived"
        );
    }

    proxy.restart();
    let next = spawn(&blog, &via, &["notify"], "next");
    let (code, _, err) = wait(&blog, next, "next");
    assert_eq!(code, Some(0), "{err}");
    let repeats = check_all_arrived(&receiver, N, "after the database came back");
    assert!(
        repeats <= CONCURRENCY,
        "{repeats} repeats: only what was on the wire when the database went may repeat"
    );
    assert_eq!(statuses(&db), vec![format!("sent:{N}")]);
}

/// Idle daemons (`--no-build`, a round an hour) are woken by the deliveries
/// another worker planned, and send their share at once instead of an hour
/// later.
#[test]
fn idle_daemons_are_woken_by_planned_deliveries_and_send_a_share() {
    if !available() {
        return;
    }
    // Several batches (1,000 rows each on PostgreSQL) for three senders.
    const N: usize = 6000;
    let receiver = Receiver::start();
    let db = TestDatabase::create();
    let blog = webhook_blog(&receiver, N, 4, &db);
    for i in 0..N {
        receiver.reply(
            &format!("/s{i}"),
            Reply::status(200).delay(Duration::from_millis(1)),
        );
    }
    let daemons: Vec<Child> = (0..2)
        .map(|d| {
            spawn(
                &blog,
                &db.url,
                &["daemon", "--every", "1h", "--no-build"],
                &format!("d{d}"),
            )
        })
        .collect();
    let pids: Vec<String> = daemons.iter().map(|d| d.id().to_string()).collect();
    // Each daemon's first round (at its start) finds nothing to send.
    wait_for("both daemons' first rounds", LIMIT, || {
        db.query_strings("SELECT pid::text FROM runs WHERE status = 'finished'")
            .iter()
            .filter(|p| pids.contains(p))
            .count()
            >= 2
    });
    post(&blog, 2);
    let planned_at = Instant::now();
    let planner = spawn(&blog, &db.url, &["notify"], "planner");
    wait_for("the first daemon's send", LIMIT, || {
        !sent_by(&db, &pids).is_empty()
    });
    let woke_after = planned_at.elapsed();
    let (code, _, err) = wait(&blog, planner, "planner");
    assert_eq!(code, Some(0), "{err}");
    wait_for("every delivery", LIMIT, || receiver.count() >= N);
    for mut d in daemons {
        let _ = Command::new("kill")
            .args(["-TERM", &d.id().to_string()])
            .status();
        let status = d.wait().unwrap();
        assert_eq!(status.code(), Some(0));
    }
    assert_eq!(check_all_arrived(&receiver, N, "woken daemons"), 0);
    let by_daemon = sent_by(&db, &pids);
    eprintln!(
        "planner and two daemons, {N} webhooks: daemons sent {by_daemon:?}, the first after {woke_after:?}"
    );
    assert_eq!(
        by_daemon.len(),
        2,
        "both daemons sent a share: {by_daemon:?}"
    );
}

/// What each of these processes sent, by pid, from their runs' summaries.
fn sent_by(db: &TestDatabase, pids: &[String]) -> HashMap<String, u64> {
    let mut by = HashMap::new();
    for row in
        db.query_strings("SELECT pid::text || ' ' || summary FROM runs WHERE status = 'finished'")
    {
        let (pid, summary) = row.split_once(' ').unwrap();
        let n = sent(summary);
        if pids.iter().any(|p| p == pid) && n > 0 {
            *by.entry(pid.to_string()).or_insert(0) += n;
        }
    }
    by
}
