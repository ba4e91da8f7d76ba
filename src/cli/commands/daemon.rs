//! `postbode daemon`: `run` (or, with `--no-build`, `notify`) for every
//! blog on an interval until SIGTERM or SIGINT, optionally serving
//! `/healthz` and `/metrics`. On a PostgreSQL state it also listens for
//! deliveries other workers planned and sends them at once. It exits 2 when the
//! last run before the stop could not run (a lost state, say), else 0.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use tokio::sync::mpsc;

use super::notify::{notify_blog, show};
use super::run::run_blog;
use crate::cli::output::{self, JsonPerBlog};
use crate::cli::{Outcome, StateChoice, for_each_blog, with_source};
use crate::config::StateLocation;
use crate::notify::{Clock, Options, Posts};
use crate::pipeline::BuildOptions;
use crate::server::schedule::Round;
use crate::server::{Health, Metrics, Stop, http, schedule};
use crate::state::Store;

pub async fn run(
    files: &[PathBuf],
    every: Duration,
    [listen, serve]: [Option<SocketAddr>; 2],
    build: Option<BuildOptions>,
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
    if let Some(addr) = serve
        && super::serve::start(files, state.path, addr).await.is_none()
    {
        return Outcome::Fatal;
    }
    let opts = Options {
        stop: Some(stop.clone()),
        new_state: state.new_state,
        clock: Clock::from_fixed(fixed_now),
        ..Options::default()
    };
    let (wake, _listeners) = listen_for_plans(files, state.path).await;
    let last = schedule::run_loop(every, &stop, &health, &metrics, wake, async |round| {
        let now = fixed_now.unwrap_or_else(Utc::now);
        let mut summaries = Vec::new();
        let outcome = for_each_blog(files, state.path, async |c| {
            if stop.load(Ordering::SeqCst) {
                return Outcome::Ok;
            }
            let mut shown = |(outcome, summary): (Outcome, Option<_>)| {
                if let Some(s) = summary {
                    show(&s, false, &mut JsonPerBlog::default());
                    summaries.push(s);
                }
                outcome
            };
            match &round {
                Round::Scheduled => {
                    metrics.watch(&c.name, &c.state);
                    with_source(c, async |c| match build {
                        Some(build) => shown(run_blog(c, now, build, &opts).await),
                        None => shown(notify_blog(c, now, &opts, Posts::Read).await),
                    })
                    .await
                }
                // Another worker planned: send what is due now. No fetch,
                // no reading of posts: what is sent was frozen when planned.
                Round::Planned(blogs) if blogs.contains(&c.name) => {
                    let opts = Options {
                        send_only: true,
                        ..opts.clone()
                    };
                    shown(notify_blog(c, now, &opts, Posts::Read).await)
                }
                Round::Planned(_) => Outcome::Ok,
            }
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

/// One receiver of the names of blogs whose deliveries any worker planned,
/// fed by a `LISTEN` on every PostgreSQL state the blogs use (SQLite states
/// have no other writers to hear from). `None` when there is nothing to
/// listen to; a state that cannot be reached now is left to the schedule
/// (its runs will say why). The stores are kept open for the listeners.
async fn listen_for_plans(
    files: &[PathBuf],
    state: Option<&std::path::Path>,
) -> (Option<mpsc::Receiver<String>>, Vec<Store>) {
    let mut urls = Vec::new();
    let _ = for_each_blog(files, state, async |c| {
        if matches!(c.state, StateLocation::Postgres(_)) && !urls.contains(&c.state) {
            urls.push(c.state.clone());
        }
        Outcome::Ok
    })
    .await;
    let (tx, rx) = mpsc::channel(64);
    let mut stores = Vec::new();
    for url in urls {
        let listening = async {
            let store = Store::open(&url).await?;
            let planned = store.planned().await?;
            Ok::<_, crate::state::StateError>((store, planned))
        };
        match listening.await {
            Ok((store, Some(mut planned))) => {
                let tx = tx.clone();
                tokio::spawn(async move {
                    while let Some(blog) = planned.recv().await {
                        if tx.send(blog).await.is_err() {
                            return;
                        }
                    }
                });
                stores.push(store);
            }
            Ok((store, None)) => stores.push(store),
            Err(e) => tracing::warn!("not listening for planned deliveries: {e}"),
        }
    }
    let rx = (!stores.is_empty()).then_some(rx);
    (rx, stores)
}
