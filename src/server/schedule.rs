//! The daemon's schedule: one run every interval (measured start to start)
//! until SIGTERM or SIGINT. A stop request lets the run in progress stop
//! claiming work and finish what is in flight; the loop then ends. What a
//! run does is the caller's (the CLI builds and notifies each blog and
//! prints its problems); the schedule keeps time, health and metrics.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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

/// Runs `tick` every `every` until `stop` is set. `tick` returns how the
/// run went and the notify summaries, for the metrics. Returns how the last
/// run went (`Ok` when none ran).
pub async fn run_loop(
    every: Duration,
    stop: &Stop,
    health: &Health,
    metrics: &Metrics,
    mut tick: impl AsyncFnMut() -> (Outcome, Vec<Summary>),
) -> Outcome {
    tracing::info!(every = ?every, "daemon started");
    let mut last = Outcome::Ok;
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        let (outcome, summaries) = tick().await;
        metrics.record_run(outcome, started.elapsed(), &summaries);
        health.record_outcome(outcome);
        health.loop_finished();
        if outcome == Outcome::Fatal {
            tracing::error!(
                outcome = outcome.name(),
                took = ?started.elapsed(),
                "run could not run: unhealthy until a run succeeds (the error is logged above)"
            );
        } else {
            tracing::info!(outcome = outcome.name(), took = ?started.elapsed(), "run finished");
        }
        last = outcome;
        sleep_until(started + every, stop).await;
    }
    tracing::info!("daemon stopped");
    last
}

/// Sleeps until `deadline`, waking early when `stop` is set.
async fn sleep_until(deadline: Instant, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        tokio::time::sleep((deadline - now).min(Duration::from_millis(100))).await;
    }
}
