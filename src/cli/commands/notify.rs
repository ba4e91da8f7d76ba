//! `postbode notify`: announce newly published posts and send every due
//! delivery (retries included); `--dry-run` shows what would be sent.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::cli::output::{self, JsonPerBlog};
use crate::cli::{Outcome, StateChoice, for_each_blog, stop_on_signals, stopped, with_source};
use crate::config::BlogConfig;
use crate::notify::{self, Options, Posts, Summary};

/// `opts` as the arguments say; SIGTERM/SIGINT stop the run cleanly (see
/// `stop_on_signals`), and the blogs after it are not started.
pub async fn run(
    files: &[PathBuf],
    now: DateTime<Utc>,
    mut opts: Options,
    json: bool,
    state: StateChoice<'_>,
) -> Outcome {
    let Some(stop) = stop_on_signals() else {
        return Outcome::Fatal;
    };
    opts.stop = Some(stop.clone());
    opts.new_state = state.new_state;
    let mut doc = JsonPerBlog::default();
    let outcome = for_each_blog(files, state.path, async |c| {
        if stopped(&stop) {
            return Outcome::Ok;
        }
        with_source(c, async |c| {
            let (outcome, summary) = notify_blog(c, now, &opts, Posts::Read).await;
            if let Some(s) = summary {
                show(&s, json, &mut doc);
            }
            outcome
        })
        .await
    })
    .await;
    outcome.max(doc.print())
}

/// Notifies one blog and prints its problems; the summary is the caller's
/// to print (`run` and `daemon` share this; `posts` says whether a build
/// of the same run read the posts already).
pub async fn notify_blog(
    config: &BlogConfig,
    now: DateTime<Utc>,
    opts: &Options,
    posts: Posts,
) -> (Outcome, Option<Summary>) {
    let mut problems = Vec::new();
    let (bar, hook) = output::progress_bar();
    let mut opts = opts.clone();
    opts.progress = hook;
    let result = notify::run(config, now, &opts, posts, &mut problems).await;
    bar.finish_and_clear();
    let outcome = output::problems(problems);
    match result {
        Ok(summary) => {
            let dead = if summary.dead_total > 0 {
                Outcome::Problems
            } else {
                Outcome::Ok
            };
            (
                outcome.max(dead).max(delivery_outcome(&summary)),
                Some(summary),
            )
        }
        Err(e) => {
            output::error(format_args!("{}: {e}", config.name));
            (Outcome::Fatal, None)
        }
    }
}

/// 2 when the mail configuration makes sending impossible (a permanent
/// connection error: a refused login, an unknown host, a bad TLS set-up),
/// 1 when deliveries were due and none could be sent (the mail server is
/// down): a run that sent nothing must not look fine to cron or systemd.
fn delivery_outcome(summary: &Summary) -> Outcome {
    if summary.mail_server.as_ref().is_some_and(|f| f.permanent) {
        Outcome::Fatal
    } else if summary.nothing_sent() {
        Outcome::Problems
    } else {
        Outcome::Ok
    }
}

/// Why the run ended as `delivery_outcome` says, for the summary line.
fn why(summary: &Summary) -> String {
    match &summary.mail_server {
        Some(f) if f.permanent => format!(
            "; email cannot be sent until the configuration is fixed ({}; `postbode check` names the setting)",
            f.reason
        ),
        Some(f) if summary.nothing_sent() => {
            format!(
                "; nothing could be sent ({}); they are retried on the next run",
                f.reason
            )
        }
        _ if summary.nothing_sent() => {
            "; nothing could be sent (see `postbode status`); they are retried on the next run"
                .to_string()
        }
        _ => String::new(),
    }
}

/// The summary as one line on stderr, or as JSON collected for stdout.
/// "first run: 5 published posts recorded without announcing them, " – so
/// "0 new posts" on a first run does not read as if nothing was seen.
fn first_run(summary: &Summary) -> String {
    if !summary.first_run {
        return String::new();
    }
    if summary.recorded_quietly == 0 {
        return "first run: ".into();
    }
    format!(
        "first run: {} recorded without announcing (--backfill DATE announces them), ",
        output::count(
            summary.recorded_quietly as u64,
            "published post",
            "published posts"
        )
    )
}

pub fn show(summary: &Summary, json: bool, doc: &mut JsonPerBlog) {
    if json {
        doc.push(summary);
        return;
    }
    output::stdout(|out| {
        for w in &summary.would_send {
            writeln!(
                out,
                "would send {} to {} ({})",
                w.post_url, w.subscriber, w.channel
            )?;
        }
        Ok(())
    });
    output::note(format_args!(
        "{}: {}{}, {} planned, {} sent, {} retrying, {} dead ({} dead in total){}{}",
        summary.blog,
        first_run(summary),
        output::count(summary.new_posts.len() as u64, "new post", "new posts"),
        output::count(summary.planned as u64, "delivery", "deliveries"),
        summary.sent,
        summary.retrying,
        summary.dead,
        summary.dead_total,
        why(summary),
        if summary.dry_run {
            " [dry run: nothing sent or recorded]"
        } else {
            ""
        },
    ));
}
