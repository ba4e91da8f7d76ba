//! The daemon's schedule: one run every interval (measured start to start)
//! until SIGTERM or SIGINT, and a send-only run in between whenever another
//! worker planned deliveries (PostgreSQL's NOTIFY). A stop request lets the run in progress stop
//! claiming work and finish what is in flight; the loop then ends. What a
//! run does is the caller's (the CLI builds and notifies each blog and
//! prints its problems); the schedule keeps time, health and metrics.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::diag::Outcome;
use crate::notify::Summary;

use super::Metrics;

/// Set once on SIGTERM/SIGINT; the notify loop checks it before claiming
/// more work.
pub type Stop = Arc<AtomicBool>;

/// Sets `stop` on the first SIGTERM or SIGINT. Call from within the runtime.
pub fn stop_on_signals(stop: Stop) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("stopping: finishing what is in flight");
        stop.store(true, Ordering::SeqCst);
    });
    Ok(())
}

/// Whether the loop keeps up and its runs can run: healthy while the last
/// finished loop (or the start, before the first one finishes) is at most
/// twice the interval ago, and that loop did not end fatally (a lost state,
/// an unreadable feed definition: every later run fails the same way until
/// someone acts).
#[derive(Debug)]
pub struct Health {
    every: Duration,
    last: Mutex<Instant>,
    failed: AtomicBool,
}

impl Health {
    pub fn new(every: Duration) -> Health {
        Health {
            every,
            last: Mutex::new(Instant::now()),
            failed: AtomicBool::new(false),
        }
    }

    /// How the last loop ended: a fatal outcome makes the daemon unhealthy
    /// until a loop ends otherwise.
    pub fn record_outcome(&self, outcome: Outcome) {
        self.failed
            .store(outcome == Outcome::Fatal, Ordering::SeqCst);
    }

    pub fn loop_finished(&self) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// `Err` says why the daemon is not healthy.
    pub fn check(&self) -> Result<(), String> {
        if self.failed.load(Ordering::SeqCst) {
            return Err(
                "failing: the last run could not run (exit code 2); the log says why".to_string(),
            );
        }
        let age = self
            .last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed();
        if age > self.every * 2 {
            Err(format!(
                "stale: the last run finished {}s ago, the interval is {}s",
                age.as_secs(),
                self.every.as_secs_f64()
            ))
        } else {
            Ok(())
        }
    }
}

/// Why the loop runs `tick`: its interval came round (every blog: build
/// and notify), or other workers planned deliveries for these blogs (send
/// what is due, now rather than at the next round).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Round {
    Scheduled,
    Planned(BTreeSet<String>),
}

/// Runs `tick` every `every` (start to start) until `stop` is set, and in
/// between whenever `wake` names blogs whose deliveries were planned.
/// `tick` returns how the run went and the notify summaries, for the
/// metrics. Returns how the last scheduled run went (`Ok` when none ran).
pub async fn run_loop(
    every: Duration,
    stop: &Stop,
    health: &Health,
    metrics: &Metrics,
    mut wake: Option<mpsc::Receiver<String>>,
    mut tick: impl AsyncFnMut(Round) -> (Outcome, Vec<Summary>),
) -> Outcome {
    tracing::info!(every = ?every, "daemon started");
    let mut last = Outcome::Ok;
    let mut round = Round::Scheduled;
    let mut next_round = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        let scheduled = round == Round::Scheduled;
        if scheduled {
            next_round = started + every;
        }
        let (outcome, summaries) = tick(round).await;
        metrics.record_run(outcome, started.elapsed(), &summaries);
        if scheduled {
            health.record_outcome(outcome);
            health.loop_finished();
            last = outcome;
        }
        if outcome == Outcome::Fatal {
            tracing::error!(
                outcome = outcome.name(),
                took = ?started.elapsed(),
                "run could not run: unhealthy until a run succeeds (the error is logged above)"
            );
        } else {
            tracing::info!(outcome = outcome.name(), took = ?started.elapsed(), scheduled, "run finished");
        }
        round = match sleep_until(next_round, stop, wake.as_mut()).await {
            Some(blogs) => Round::Planned(blogs),
            None => Round::Scheduled,
        };
    }
    tracing::info!("daemon stopped");
    last
}

/// Sleeps until `deadline`, waking early when `stop` is set (`None`) or when
/// `wake` names blogs (`Some`, with every name waiting by then).
async fn sleep_until(
    deadline: Instant,
    stop: &AtomicBool,
    mut wake: Option<&mut mpsc::Receiver<String>>,
) -> Option<BTreeSet<String>> {
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        let nap = tokio::time::sleep((deadline - now).min(Duration::from_millis(100)));
        match wake.as_deref_mut() {
            Some(rx) => tokio::select! {
                _ = nap => {}
                got = rx.recv() => match got {
                    Some(blog) => {
                        let mut blogs = BTreeSet::from([blog]);
                        while let Ok(more) = rx.try_recv() {
                            blogs.insert(more);
                        }
                        return Some(blogs);
                    }
                    // The listener is gone: the schedule alone from now on.
                    None => wake = None,
                },
            },
            None => nap.await,
        }
    }
    None
}
