//! `postbode run`: build the feeds, then notify – the one command for cron,
//! a systemd timer or a Kubernetes CronJob.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use super::build::build_blog;
use super::notify::{notify_blog, show};
use crate::cli::output::JsonPerBlog;
use crate::cli::{Outcome, StateChoice, for_each_blog, stop_on_signals, stopped, with_source};
use crate::config::BlogConfig;
use crate::notify::{Clock, Options, Posts, Summary};
use crate::pipeline::BuildOptions;

/// SIGTERM/SIGINT stop the run cleanly (see `stop_on_signals`): a build
/// in progress finishes, nothing new is sent, and the blogs after it are
/// not started.
pub async fn run(
    files: &[PathBuf],
    now: DateTime<Utc>,
    clock: Clock,
    build: BuildOptions,
    backfill: Option<DateTime<Utc>>,
    json: bool,
    state: StateChoice<'_>,
) -> Outcome {
    let Some(stop) = stop_on_signals() else {
        return Outcome::Fatal;
    };
    let opts = Options {
        backfill_since: backfill,
        clock,
        stop: Some(stop.clone()),
        new_state: state.new_state,
        ..Options::default()
    };
    let mut doc = JsonPerBlog::default();
    let outcome = for_each_blog(files, state.path, async |c| {
        if stopped(&stop) {
            return Outcome::Ok;
        }
        // One fetch for both halves: the feeds and the notifications see the
        // same commit.
        with_source(c, async |c| {
            let (outcome, summary) = run_blog(c, now, build, &opts).await;
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

/// One scheduled run of one blog: the feeds first, so notifications link to
/// pages that exist, then the notifications, from the posts the build read
/// (each post file is read once a run, and what is announced is what the
/// feeds show).
pub async fn run_blog(
    config: &BlogConfig,
    now: DateTime<Utc>,
    build: BuildOptions,
    opts: &Options,
) -> (Outcome, Option<Summary>) {
    let build = BuildOptions {
        keep_posts: true,
        ..build
    };
    let (built, posts) = build_blog(config, now, build).await;
    if built == Outcome::Fatal {
        return (built, None);
    }
    let posts = match posts {
        Some(posts) => Posts::Built(posts),
        // Not handed over (a build asked to keep them always does).
        None => Posts::Read,
    };
    let (notified, summary) = notify_blog(config, now, opts, posts).await;
    (built.max(notified), summary)
}
