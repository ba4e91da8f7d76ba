//! `postbode daemon`: `run` for every blog on an interval until SIGTERM or
//! SIGINT, optionally serving `/healthz` and `/metrics`. It exits 2 when the
//! last run before the stop could not run (a lost state, say), else 0.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::notify::show;
use super::run::run_blog;
use crate::cli::output::{self, JsonPerBlog};
use crate::cli::{Outcome, StateChoice, for_each_blog, with_source};
use crate::notify::{Clock, Options};
use crate::pipeline::BuildOptions;
use crate::server::{Health, Metrics, Stop, http, schedule};

pub async fn run(
    files: &[PathBuf],
    every: Duration,
    listen: Option<SocketAddr>,
    build: BuildOptions,
    state: StateChoice<'_>,
    fixed_now: Option<DateTime<Utc>>,
) -> Outcome {
    let stop: Stop = Arc::new(AtomicBool::new(false));
    if let Err(e) = schedule::stop_on_signals(stop.clone()) {
        output::error(format_args!("cannot handle signals: {e}"));
        return Outcome::Fatal;
    }
    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(Health::new(every));
    if let Some(addr) = listen
        && let Err(e) = http::serve(addr, health.clone(), metrics.clone()).await
    {
        output::error(format_args!("cannot listen on {addr}: {e}"));
        return Outcome::Fatal;
    }
    let opts = Options {
        stop: Some(stop.clone()),
        new_state: state.new_state,
        clock: Clock::from_fixed(fixed_now),
        ..Options::default()
    };
    let last = schedule::run_loop(every, &stop, &health, &metrics, async || {
        let now = fixed_now.unwrap_or_else(Utc::now);
        let mut summaries = Vec::new();
        let outcome = for_each_blog(files, state.path, async |c| {
            if stop.load(Ordering::SeqCst) {
                return Outcome::Ok;
            }
            metrics.watch(&c.name, &c.state);
            with_source(c, async |c| {
                let (outcome, summary) = run_blog(c, now, build, &opts).await;
                if let Some(s) = summary {
                    show(&s, false, &mut JsonPerBlog::default());
                    summaries.push(s);
                }
                outcome
            })
            .await
        })
        .await;
        (outcome, summaries)
    })
    .await;
    // A stop after a run that could not run (a lost state, say) is not a
    // clean exit: a supervisor sees why the daemon was unhealthy.
    if last == Outcome::Fatal {
        output::error("stopped while the last run could not run; its error is above");
        return Outcome::Fatal;
    }
    Outcome::Ok
}
