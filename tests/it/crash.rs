//! Crash tests: a `notify` (email) or `run` (webhooks) killed at random
//! moments, on one state, a new post each time, against the real SMTP server
//! and the real HTTP receiver. After each SIGKILL a rerun must deliver what
//! was left: nothing lost, and the only repeats the messages on the wire at
//! that instant (at most the 4 SMTP connections' worth of emails, at most
//! `webhook_concurrency` webhooks), each repeat with the same `Message-ID` /
//! `webhook-id`. After SIGTERM the run exits 0 and nothing is ever repeated.
//!
//! The moments are drawn from a fixed seed (`POSTBODE_CRASH_SEED` replays
//! another) within the time a full run took, measured first. A SIGTERM is
//! sent no earlier than `TERM_AFTER`: before `main` has installed its signal
//! handler the default action (exit 143) applies to any program.
//! `webhook_concurrency` is 8 here rather than 64, so the duplicate bound
//! says something about 1,000 webhooks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::*;
use crate::receiver::Receiver;

const SEED: u64 = 0x706f_7374_626f_6465;
const EMAILS: usize = 300;
const WEBHOOKS: usize = 1000;
const KILLS: usize = 10;
/// The dispatcher's SMTP connections (`notify/dispatch.rs`).
const SMTP_CONNECTIONS: usize = 4;
const WEBHOOK_CONCURRENCY: usize = 8;
const NOW: &str = "2025-06-01T00:00:00Z";
const TERM_AFTER: Duration = Duration::from_millis(20);
/// No run may take longer: a hung run fails the test instead of hanging it.
const RUN_LIMIT: Duration = Duration::from_secs(60);

fn seed() -> u64 {
    std::env::var("POSTBODE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED)
}

/// One blog and state, receiving a new post per round.
struct Crash {
    blog: TestBlog,
    command: &'static str,
    posts: usize,
    rng: fastrand::Rng,
    /// Said in every failure, so it can be replayed.
    seed: u64,
}

impl Crash {
    fn new(command: &'static str, extra_toml: &str) -> Crash {
        let blog = TestBlog::new(&format!("state = \"state.db\"\n{extra_toml}"));
        let seed = seed();
        let mut crash = Crash {
            blog,
            command,
            posts: 0,
            rng: fastrand::Rng::with_seed(seed),
            seed,
        };
        // The first run on a state only records what is there.
        crash.add_post();
        let (code, stderr) = crash.finish(crash.start());
        assert_eq!(code, Some(0), "first run: {stderr}");
        crash
    }

    /// A new published post; returns its title.
    fn add_post(&mut self) -> String {
        self.posts += 1;
        let n = self.posts;
        let title = format!("Crash post {n}");
        self.blog.write(
            &format!("2025-01-01-crash-{n}.md"),
            &format!(
                "---\ntitle: {title}\ndate: 2025-01-01T00:{:02}:{:02}Z\n---\n\nPost {n}.\n",
                n / 60,
                n % 60
            ),
        );
        title
    }

    fn stderr_file(&self) -> PathBuf {
        self.blog.path().join("stderr.txt")
    }

    fn start(&self) -> Child {
        Command::new(env!("CARGO_BIN_EXE_postbode"))
            .args(["--now", NOW, self.command])
            .arg(self.blog.toml())
            .current_dir(self.blog.path())
            .env_remove("POSTBODE_LOG")
            .env_remove("POSTBODE_SMTP_CA_FILE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.stderr_file()).unwrap())
            .spawn()
            .expect("postbode starts")
    }

    /// Waits for `child` (bounded); its exit code (`None`: by a signal)
    /// and stderr.
    fn finish(&self, mut child: Child) -> (Option<i32>, String) {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > RUN_LIMIT {
                let _ = child.kill();
                panic!("a run took over {RUN_LIMIT:?} (seed {})", self.seed);
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let stderr = std::fs::read_to_string(self.stderr_file()).unwrap_or_default();
        assert!(!stderr.contains("panicked"), "{stderr}");
        (status.code(), stderr)
    }

    /// A whole run to the end, timed.
    fn full_run(&self) -> Duration {
        let started = Instant::now();
        let (code, stderr) = self.finish(self.start());
        assert_eq!(code, Some(0), "seed {}: {stderr}", self.seed);
        started.elapsed()
    }

    /// A moment within `span`, not before `earliest`.
    fn moment(&mut self, span: Duration, earliest: Duration) -> Duration {
        let span = span.max(earliest + Duration::from_millis(1));
        earliest + (span - earliest).mul_f64(self.rng.f64())
    }
}

/// Sends SIGTERM (the run may have ended already: then nothing happens).
fn sigterm(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

/// Deliveries seen by a receiver: (recipient, post) -> the ids it came with,
/// one entry per arrival.
type Arrivals = HashMap<(String, String), Vec<String>>;

/// Checks one round: every expected (recipient, post) arrived at least once,
/// always with the same id; returns how many arrived more than once.
fn check_round(arrivals: &Arrivals, recipients: &[String], post: &str, what: &str) -> usize {
    let mut duplicates = 0;
    for to in recipients {
        let ids = arrivals
            .get(&(to.clone(), post.to_string()))
            .unwrap_or_else(|| panic!("{what}: {post} to {to} was lost"));
        assert!(
            ids.iter().all(|id| id == &ids[0]),
            "{what}: {post} to {to} came with different ids: {ids:?}"
        );
        duplicates += ids.len() - 1;
    }
    let extra = arrivals.keys().filter(|(_, p)| p == post).count();
    assert_eq!(extra, recipients.len(), "{what}: unexpected recipients");
    duplicates
}

/// Reads the SMTP server's `<n>.json` summaries from `next` on.
fn read_mail(maildir: &Path, next: &mut usize, into: &mut Arrivals) {
    while let Ok(text) = std::fs::read_to_string(maildir.join(format!("{next}.json"))) {
        let mail: serde_json::Value = serde_json::from_str(&text).unwrap();
        let to = mail["rcpt_tos"][0].as_str().unwrap().to_string();
        let subject = mail["subject"].as_str().unwrap_or_default();
        let post = subject
            .split("Crash post ")
            .nth(1)
            .map(|n| {
                let n: String = n.chars().take_while(char::is_ascii_digit).collect();
                format!("Crash post {n}")
            })
            .unwrap_or_else(|| panic!("subject {subject:?}"));
        let id = mail["message_id"].as_str().unwrap().to_string();
        into.entry((to, post)).or_default().push(id);
        *next += 1;
    }
}

/// Reads the receiver's requests from `next` on.
fn read_hooks(receiver: &Receiver, next: &mut usize, into: &mut Arrivals) {
    let requests = receiver.requests();
    for r in &requests[*next..] {
        let title = r.json()["post"]["title"].as_str().unwrap().to_string();
        let id = r.header("webhook-id").unwrap().to_string();
        into.entry((r.path.clone(), title)).or_default().push(id);
    }
    *next = requests.len();
}

/// How a series of rounds went, for the failure message and the log.
#[derive(Default)]
struct Tally {
    duplicates: Vec<usize>,
    moments_ms: Vec<u128>,
}

/// `rounds` rounds of: a new post, a run interrupted by `signal` at a
/// random moment, a rerun; then checks each round with `read`.
#[allow(clippy::too_many_arguments)]
fn rounds(
    crash: &mut Crash,
    span: Duration,
    term: bool,
    recipients: &[String],
    what: &str,
    arrivals: &mut Arrivals,
    read: &mut dyn FnMut(&mut Arrivals),
) -> Tally {
    let mut tally = Tally::default();
    for round in 0..KILLS {
        let post = crash.add_post();
        let at = crash.moment(span, if term { TERM_AFTER } else { Duration::ZERO });
        let child = crash.start();
        let started = Instant::now();
        std::thread::sleep(at.saturating_sub(started.elapsed()));
        let mut child = child;
        if term {
            sigterm(&child);
            let (code, stderr) = crash.finish(child);
            assert_eq!(
                code,
                Some(0),
                "{what} round {round}: SIGTERM at {at:?} (seed {}): {stderr}",
                crash.seed
            );
        } else {
            let _ = child.kill();
            let _ = child.wait();
        }
        crash.full_run();
        read(arrivals);
        let duplicates = check_round(arrivals, recipients, &post, what);
        tally.duplicates.push(duplicates);
        tally.moments_ms.push(at.as_millis());
    }
    eprintln!(
        "{what} (seed {}, full run {span:?}): {} at {:?} ms: duplicates {:?}",
        crash.seed,
        if term { "SIGTERM" } else { "SIGKILL" },
        tally.moments_ms,
        tally.duplicates
    );
    tally
}

/// Emails: a state with `EMAILS` subscribers on the real SMTP server, one
/// full run timed, then `KILLS` rounds interrupted by SIGKILL or SIGTERM.
fn email_rounds(term: bool) -> (Tally, u64) {
    let maildir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(Some(maildir.path()), &[]);
    let recipients: Vec<String> = (0..EMAILS).map(|i| format!("r{i}@example.org")).collect();
    let subscribers: String = recipients
        .iter()
        .enumerate()
        .map(|(i, to)| format!("\n[[subscribers]]\nid = \"s{i}\"\nemail = \"{to}\"\n"))
        .collect();
    let mut crash = Crash::new(
        "notify",
        &format!(
            "[email]\nfrom = \"Blog <blog@example.org>\"\ntransport = \"smtp\"\nsmtp_url = \"smtp://127.0.0.1:{}\"\n{subscribers}",
            smtp.port
        ),
    );
    let mut arrivals = Arrivals::new();
    let mut next = 1;
    let mut read = |a: &mut Arrivals| read_mail(maildir.path(), &mut next, a);
    let first = crash.add_post();
    let span = crash.full_run();
    read(&mut arrivals);
    assert_eq!(check_round(&arrivals, &recipients, &first, "email"), 0);
    let tally = rounds(
        &mut crash,
        span,
        term,
        &recipients,
        "email",
        &mut arrivals,
        &mut read,
    );
    (tally, crash.seed)
}

/// Webhooks: a state with `WEBHOOKS` subscribers on the real receiver, sent
/// by `run` (so signals cross the build half too), one full run timed, then
/// `KILLS` rounds interrupted by SIGKILL or SIGTERM.
fn webhook_rounds(term: bool) -> (Tally, u64) {
    let receiver = Receiver::start();
    let recipients: Vec<String> = (0..WEBHOOKS).map(|i| format!("/h/{i}")).collect();
    let subscribers: String = recipients
        .iter()
        .enumerate()
        .map(|(i, path)| {
            format!(
                "\n[[subscribers]]\nid = \"w{i}\"\nwebhook = \"{}\"\n",
                receiver.url(path)
            )
        })
        .collect();
    let mut crash = Crash::new(
        "run",
        &format!("[delivery]\nwebhook_concurrency = {WEBHOOK_CONCURRENCY}\n{subscribers}"),
    );
    let mut arrivals = Arrivals::new();
    let mut next = 0;
    let mut read = |a: &mut Arrivals| read_hooks(&receiver, &mut next, a);
    let first = crash.add_post();
    let span = crash.full_run();
    read(&mut arrivals);
    assert_eq!(check_round(&arrivals, &recipients, &first, "webhook"), 0);
    let tally = rounds(
        &mut crash,
        span,
        term,
        &recipients,
        "webhook",
        &mut arrivals,
        &mut read,
    );
    (tally, crash.seed)
}

#[test]
fn emails_killed_at_random_moments_lose_nothing_and_repeat_at_most_what_was_on_the_wire() {
    let (killed, seed) = email_rounds(false);
    assert!(
        killed.duplicates.iter().all(|&d| d <= SMTP_CONNECTIONS),
        "seed {seed}: more emails repeated than were on the wire: {:?} (killed at {:?} ms)",
        killed.duplicates,
        killed.moments_ms
    );
}

#[test]
fn emails_stopped_by_sigterm_exit_0_lose_nothing_and_repeat_nothing() {
    let (termed, seed) = email_rounds(true);
    assert!(
        termed.duplicates.iter().all(|&d| d == 0),
        "seed {seed}: SIGTERM repeated emails: {:?} (at {:?} ms)",
        termed.duplicates,
        termed.moments_ms
    );
}

#[test]
fn webhooks_killed_at_random_moments_lose_nothing_and_repeat_at_most_the_concurrent_sends() {
    let (killed, seed) = webhook_rounds(false);
    assert!(
        killed.duplicates.iter().all(|&d| d <= WEBHOOK_CONCURRENCY),
        "seed {seed}: more webhooks repeated than were in flight: {:?} (killed at {:?} ms)",
        killed.duplicates,
        killed.moments_ms
    );
}

#[test]
fn webhooks_stopped_by_sigterm_exit_0_lose_nothing_and_repeat_nothing() {
    let (termed, seed) = webhook_rounds(true);
    assert!(
        termed.duplicates.iter().all(|&d| d == 0),
        "seed {seed}: SIGTERM repeated webhooks: {:?} (at {:?} ms)",
        termed.duplicates,
        termed.moments_ms
    );
}
