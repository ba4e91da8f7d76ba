//! One invocation: finds the feed definitions, runs the command for each blog
//! and turns what happened into an exit code (0 good, 1 problems, 2 could not
//! run), ripgrep style: one broken blog does not stop the others.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

pub mod args;

use crate::config::{self, BlogConfig};
use crate::diag::Diagnostic;
use crate::model::Post;
use crate::notify;
use crate::posts;
use crate::state::Store;
use args::{Cli, Command};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Ok,
    Problems,
    Fatal,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::Problems => 1,
            Outcome::Fatal => 2,
        }
    }
}

pub fn run(cli: Cli) -> Outcome {
    let now = cli.now.unwrap_or_else(Utc::now);
    match cli.command {
        Command::Build { feed_files, force } => for_each_blog(&feed_files, |c| {
            with_source(c, |c| crate::pipeline::build(c, now, force))
        }),
        Command::Check { feed_files } => {
            for_each_blog(&feed_files, |c| with_source(c, |c| check(c, now)))
        }
        Command::Run {
            feed_files,
            backfill,
            json,
            state,
        } => {
            let opts = notify::Options {
                backfill_since: backfill,
                ..notify::Options::default()
            };
            for_each_blog(&feed_files, |c| {
                // One fetch for both halves: the feeds and the notifications
                // see the same commit.
                with_source(&with_state(c, state.as_deref()), |c| {
                    run_blog(c, now, &opts, json).0
                })
            })
        }
        Command::Daemon {
            feed_files,
            every,
            listen,
            state,
        } => daemon(&feed_files, every, listen, state.as_deref(), cli.now),
        Command::Notify {
            feed_files,
            dry_run,
            backfill,
            json,
            state,
        } => {
            let opts = notify::Options {
                dry_run,
                backfill_since: backfill,
                ..notify::Options::default()
            };
            for_each_blog(&feed_files, |c| {
                let c = with_state(c, state.as_deref());
                with_source(&c, |c| notify(c, now, &opts, json))
            })
        }
        Command::Preview {
            feed_file,
            post,
            subscriber,
        } => {
            let files: Vec<PathBuf> = feed_file.into_iter().collect();
            for_each_blog(&files, |c| {
                with_source(c, |c| preview(c, now, &post, &subscriber))
            })
        }
        Command::Status {
            feed_files,
            json,
            state,
        } => for_each_blog(&feed_files, |c| {
            status(&with_state(c, state.as_deref()), json)
        }),
        Command::Retry {
            feed_files,
            dead,
            state,
        } => {
            if !dead {
                eprintln!("postbode: say which deliveries to retry: `postbode retry --dead`");
                return Outcome::Fatal;
            }
            for_each_blog(&feed_files, |c| {
                retry_dead(&with_state(c, state.as_deref()), now)
            })
        }
        Command::Posts { feed_file, json } => {
            let files: Vec<PathBuf> = feed_file.into_iter().collect();
            for_each_blog(&files, |c| with_source(c, |c| print_posts(c, now, json)))
        }
    }
}

/// Runs `f` for each feed definition (all of `feeds/*.toml` when none are
/// named) and returns the worst outcome.
fn for_each_blog(files: &[PathBuf], mut f: impl FnMut(&BlogConfig) -> Outcome) -> Outcome {
    let files = match feed_files(files) {
        Ok(f) => f,
        Err(message) => {
            eprintln!("postbode: {message}");
            return Outcome::Fatal;
        }
    };
    let mut worst = Outcome::Ok;
    for file in files {
        let outcome = match config::load(&file) {
            Ok(c) => f(&c),
            Err(e) => {
                eprintln!("postbode: {e}");
                Outcome::Fatal
            }
        };
        worst = worst.max(outcome);
    }
    worst
}

/// Runs `f` on the config with its posts on disk: a git source is cloned
/// or fetched first. A failed fetch with an earlier checkout is a warning and
/// the run goes on with that checkout (exit 1); a failed first clone stops
/// this blog (exit 2).
fn with_source(config: &BlogConfig, f: impl FnOnce(&BlogConfig) -> Outcome) -> Outcome {
    match crate::source::resolve(config) {
        Ok(resolved) => {
            let stale = match &resolved.stale {
                Some(e) => {
                    eprintln!("{}: warning: {e}", config.file.display());
                    Outcome::Problems
                }
                None => Outcome::Ok,
            };
            f(&resolved.config).max(stale)
        }
        Err(e) => {
            eprintln!("postbode: {}: {e}", config.file.display());
            Outcome::Fatal
        }
    }
}

fn feed_files(given: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    let dir = Path::new("feeds");
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("no feed definition given and cannot read feeds/: {e}"))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err("no feed definition given and feeds/ has no *.toml files".into());
    }
    Ok(files)
}

/// Prints problems compiler-style on stderr; the outcome says whether any
/// was an error.
pub fn report(problems: &[Diagnostic]) -> Outcome {
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    for p in problems {
        let _ = writeln!(err, "{p}");
    }
    if problems.iter().any(Diagnostic::is_error) {
        Outcome::Problems
    } else {
        Outcome::Ok
    }
}

fn check(config: &BlogConfig, now: DateTime<Utc>) -> Outcome {
    let blog = posts::load(config);
    let mut problems = blog.problems;
    problems.extend(notify::subscribers(config).1);
    problems.extend(crate::pipeline::check_content(config, &blog.posts, now));
    sort_problems(&mut problems);
    let outcome = report(&problems);
    let published = blog.posts.iter().filter(|p| p.is_published(now)).count();
    let errors = problems.iter().filter(|p| p.is_error()).count();
    eprintln!(
        "{}: {} posts, {published} published, {errors} errors, {} warnings",
        config.file.display(),
        blog.posts.len(),
        problems.len() - errors
    );
    outcome
}

pub fn sort_problems(problems: &mut [Diagnostic]) {
    problems.sort_by(|a, b| (&a.path, a.line, a.column).cmp(&(&b.path, b.line, b.column)));
}

#[derive(Serialize)]
struct PostJson<'a> {
    source: &'a str,
    permalink: &'a str,
    url: &'a str,
    date: String,
    title: &'a str,
    description: Option<String>,
    tags: Vec<TagJson<'a>>,
    authors: Vec<AuthorJson<'a>>,
    draft: bool,
    unlisted: bool,
    published: bool,
}

#[derive(Serialize)]
struct TagJson<'a> {
    label: &'a str,
    permalink: &'a str,
}

#[derive(Serialize)]
struct AuthorJson<'a> {
    key: Option<&'a str>,
    name: Option<&'a str>,
}

fn post_json<'a>(config: &BlogConfig, post: &'a Post, now: DateTime<Utc>) -> PostJson<'a> {
    PostJson {
        source: &post.source,
        permalink: &post.permalink,
        url: &post.url,
        date: post.date.to_rfc3339_opts(SecondsFormat::Secs, true),
        title: &post.title,
        description: post.description.clone().or_else(|| {
            posts::read_body(config, post)
                .ok()
                .and_then(|b| crate::render::post_summary(None, &b))
        }),
        tags: post
            .tags
            .iter()
            .map(|t| TagJson {
                label: &t.label,
                permalink: &t.permalink,
            })
            .collect(),
        authors: post
            .authors
            .iter()
            .map(|a| AuthorJson {
                key: a.key.as_deref(),
                name: a.name.as_deref(),
            })
            .collect(),
        draft: post.draft,
        unlisted: post.unlisted,
        published: post.is_published(now),
    }
}

fn print_posts(config: &BlogConfig, now: DateTime<Utc>, json: bool) -> Outcome {
    let blog = posts::load(config);
    let mut problems = blog.problems;
    sort_problems(&mut problems);
    let outcome = report(&problems);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = if json {
        let items: Vec<PostJson> = blog
            .posts
            .iter()
            .map(|p| post_json(config, p, now))
            .collect();
        serde_json::to_writer_pretty(&mut out, &items)
            .map_err(std::io::Error::from)
            .and_then(|_| writeln!(out))
    } else {
        print_table(&mut out, &blog.posts, now)
    };
    if let Err(e) = written {
        eprintln!("postbode: cannot write to stdout: {e}");
        return Outcome::Fatal;
    }
    outcome
}

fn print_table(out: &mut impl Write, posts: &[Post], now: DateTime<Utc>) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<10}  {:<11}  {:<50}  TAGS",
        "DATE", "STATE", "PERMALINK"
    )?;
    for p in posts {
        let state = if p.draft {
            "draft"
        } else if p.unlisted {
            "unlisted"
        } else if p.date > now {
            "scheduled"
        } else {
            "published"
        };
        let tags: Vec<&str> = p.tags.iter().map(|t| t.label.as_str()).collect();
        writeln!(
            out,
            "{:<10}  {:<11}  {:<50}  {}",
            p.date.format("%Y-%m-%d"),
            state,
            p.permalink,
            tags.join(", ")
        )?;
        writeln!(out, "            {}", p.title)?;
    }
    Ok(())
}

fn with_state(config: &BlogConfig, state: Option<&Path>) -> BlogConfig {
    let mut c = config.clone();
    if let Some(s) = state {
        c.state = s.to_path_buf();
    }
    c
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("postbode: cannot start the async runtime: {e}");
            None
        }
    }
}

/// One scheduled run of one blog: the feeds first, so notifications link to
/// pages that exist, then the notifications.
fn run_blog(
    config: &BlogConfig,
    now: DateTime<Utc>,
    opts: &notify::Options,
    json: bool,
) -> (Outcome, Option<notify::Summary>) {
    let built = crate::pipeline::build(config, now, false);
    if built == Outcome::Fatal {
        return (built, None);
    }
    let (notified, summary) = notify_blog(config, now, opts, json);
    (built.max(notified), summary)
}

fn daemon(
    files: &[PathBuf],
    every: std::time::Duration,
    listen: Option<std::net::SocketAddr>,
    state: Option<&Path>,
    fixed_now: Option<DateTime<Utc>>,
) -> Outcome {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    if let Err(e) = crate::server::stop_on_signals(stop.clone()) {
        eprintln!("postbode: cannot handle signals: {e}");
        return Outcome::Fatal;
    }
    let metrics = Arc::new(crate::server::Metrics::default());
    if let Some(addr) = listen
        && let Err(e) = crate::server::serve(addr, metrics.clone())
    {
        eprintln!("postbode: cannot listen on {addr}: {e}");
        return Outcome::Fatal;
    }
    let opts = notify::Options {
        stop: Some(stop.clone()),
        ..notify::Options::default()
    };
    tracing::info!(every = ?every, "daemon started");
    while !stop.load(Ordering::SeqCst) {
        let started = std::time::Instant::now();
        let now = fixed_now.unwrap_or_else(Utc::now);
        let mut summaries = Vec::new();
        let outcome = for_each_blog(files, |c| {
            if stop.load(Ordering::SeqCst) {
                return Outcome::Ok;
            }
            with_source(&with_state(c, state), |c| {
                let (outcome, summary) = run_blog(c, now, &opts, false);
                summaries.extend(summary);
                outcome
            })
        });
        metrics.record_run(outcome, started.elapsed(), &summaries);
        tracing::info!(outcome = ?outcome, took = ?started.elapsed(), "run finished");
        crate::server::sleep_until(started + every, &stop);
    }
    tracing::info!("daemon stopped");
    Outcome::Ok
}

fn notify(config: &BlogConfig, now: DateTime<Utc>, opts: &notify::Options, json: bool) -> Outcome {
    notify_blog(config, now, opts, json).0
}

fn notify_blog(
    config: &BlogConfig,
    now: DateTime<Utc>,
    opts: &notify::Options,
    json: bool,
) -> (Outcome, Option<notify::Summary>) {
    let Some(rt) = runtime() else {
        return (Outcome::Fatal, None);
    };
    let mut problems = Vec::new();
    let bar = progress_bar();
    let mut opts = opts.clone();
    if let Some((_, hook)) = &bar {
        opts.progress = Some(hook.clone());
    }
    let result = rt.block_on(notify::run(config, now, &opts, &mut problems));
    if let Some((bar, _)) = bar {
        bar.finish_and_clear();
    }
    sort_problems(&mut problems);
    let mut outcome = report(&problems);
    match result {
        Ok(summary) => {
            if !json {
                for w in &summary.would_send {
                    println!(
                        "would send {} to {} ({})",
                        w.post_url, w.subscriber, w.channel
                    );
                }
            }
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&summary).unwrap_or_default()
                );
            } else {
                eprintln!(
                    "{}: {}{} new posts, {} deliveries planned, {} sent, {} retrying, {} dead ({} dead in total){}",
                    summary.blog,
                    if summary.first_run { "first run: " } else { "" },
                    summary.new_posts.len(),
                    summary.planned,
                    summary.sent,
                    summary.retrying,
                    summary.dead,
                    summary.dead_total,
                    if summary.dry_run {
                        " [dry run: nothing sent or recorded]"
                    } else {
                        ""
                    },
                );
            }
            if summary.dead_total > 0 {
                outcome = outcome.max(Outcome::Problems);
            }
            (outcome, Some(summary))
        }
        Err(e) => {
            eprintln!("postbode: {}: {e}", config.name);
            (Outcome::Fatal, None)
        }
    }
}

/// Deliveries done, as a bar on stderr: only on a terminal.
fn progress_bar() -> Option<(indicatif::ProgressBar, notify::ProgressHook)> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{spinner} {pos}/{len} deliveries {wide_bar} {eta}")
    {
        bar.set_style(style);
    }
    let shown = bar.clone();
    let hook = notify::ProgressHook::new(move |p| {
        shown.set_length(p.total);
        shown.set_position(p.done);
    });
    Some((bar, hook))
}

fn preview(config: &BlogConfig, _now: DateTime<Utc>, post_ref: &str, subscriber: &str) -> Outcome {
    let blog = posts::load(config);
    let Some(post) = blog
        .posts
        .iter()
        .find(|p| p.permalink == post_ref || p.url == post_ref || p.source == post_ref)
    else {
        eprintln!("postbode: no post with permalink {post_ref}");
        return Outcome::Fatal;
    };
    let (subscribers, problems) = notify::subscribers(config);
    report(&problems);
    let Some(sub) = subscribers.iter().find(|s| s.id == subscriber) else {
        eprintln!(
            "postbode: no valid subscriber {subscriber} in {}",
            config.file.display()
        );
        return Outcome::Fatal;
    };
    if !crate::notify::plan::matches(&sub.filter, post) {
        eprintln!(
            "postbode: note: the filters of {subscriber} do not match this post; it would not be sent"
        );
    }
    let templates = match crate::templates::Templates::load(config.templates.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("postbode: templates: {e}");
            return Outcome::Fatal;
        }
    };
    match notify::preview(config, post, sub, &templates, Utc::now()) {
        Ok(notify::Preview::Email(raw)) => {
            println!("{}", String::from_utf8_lossy(&raw));
            Outcome::Ok
        }
        Ok(notify::Preview::Webhook { url, headers, body }) => {
            println!("POST {url}");
            for (k, v) in &headers {
                println!("{k}: {v}");
            }
            println!();
            println!("{}", String::from_utf8_lossy(&body));
            Outcome::Ok
        }
        Err(e) => {
            eprintln!("postbode: {e}");
            Outcome::Fatal
        }
    }
}

fn status(config: &BlogConfig, json: bool) -> Outcome {
    let Some(rt) = runtime() else {
        return Outcome::Fatal;
    };
    let rows = rt.block_on(async {
        let store = Store::open(&config.state).await?;
        store.open_deliveries(&config.name).await
    });
    let rows = match rows {
        Ok(r) => r,
        Err(e) => {
            eprintln!("postbode: {e}");
            return Outcome::Fatal;
        }
    };
    if json {
        let items: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.id, "post": r.post_key, "subscriber": r.subscriber, "channel": r.channel,
                    "status": r.status.as_str(), "attempts": r.attempts,
                    "next_attempt_at": r.next_attempt_at, "last_error": r.last_error,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&items).unwrap_or_default()
        );
    } else {
        println!(
            "{:<6}  {:<9}  {:<8}  {:<20}  {:<40}  LAST ERROR",
            "ID", "STATUS", "ATTEMPTS", "SUBSCRIBER", "POST"
        );
        for r in &rows {
            println!(
                "{:<6}  {:<9}  {:<8}  {:<20}  {:<40}  {}",
                r.id,
                r.status.as_str(),
                r.attempts,
                r.subscriber,
                r.post_key,
                r.last_error.as_deref().unwrap_or("")
            );
        }
        eprintln!("{}: {} open deliveries", config.name, rows.len());
    }
    if rows.iter().any(|r| r.status.as_str() == "dead") {
        Outcome::Problems
    } else {
        Outcome::Ok
    }
}

fn retry_dead(config: &BlogConfig, now: DateTime<Utc>) -> Outcome {
    let Some(rt) = runtime() else {
        return Outcome::Fatal;
    };
    match rt.block_on(async {
        let store = Store::open(&config.state).await?;
        store.retry_dead(&config.name, now).await
    }) {
        Ok(n) => {
            eprintln!(
                "{}: {n} dead deliveries put back; the next notify sends them",
                config.name
            );
            Outcome::Ok
        }
        Err(e) => {
            eprintln!("postbode: {e}");
            Outcome::Fatal
        }
    }
}
