//! What `/metrics` reports: runs by outcome, deliveries by what happened,
//! posts announced, the last run's duration and the time of the last run
//! without problems, in the Prometheus text format.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::diag::Outcome;
use crate::notify::Summary;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

/// What `/metrics` reports.
pub struct Metrics {
    registry: Mutex<Registry>,
    runs: Family<OutcomeLabel, Counter>,
    deliveries: Family<StatusLabel, Counter>,
    new_posts: Counter,
    last_run_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    last_success: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("postbode");
        let runs = Family::<OutcomeLabel, Counter>::default();
        let deliveries = Family::<StatusLabel, Counter>::default();
        let new_posts = Counter::default();
        let last_run_seconds = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        let last_success = Gauge::default();
        registry.register(
            "runs",
            "Scheduled runs by outcome (ok, problems, fatal)",
            runs.clone(),
        );
        registry.register(
            "deliveries",
            "Deliveries by what happened (sent, retrying, dead)",
            deliveries.clone(),
        );
        registry.register("new_posts", "Posts announced", new_posts.clone());
        registry.register(
            "last_run_duration_seconds",
            "How long the last run took",
            last_run_seconds.clone(),
        );
        registry.register(
            "last_success_timestamp_seconds",
            "Unix time of the last run that finished without problems",
            last_success.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            runs,
            deliveries,
            new_posts,
            last_run_seconds,
            last_success,
        }
    }
}

impl Metrics {
    pub fn record_run(&self, outcome: Outcome, took: Duration, summaries: &[Summary]) {
        let name = outcome.name();
        self.runs
            .get_or_create(&OutcomeLabel {
                outcome: name.into(),
            })
            .inc();
        for s in summaries {
            for (status, n) in [("sent", s.sent), ("retrying", s.retrying), ("dead", s.dead)] {
                self.deliveries
                    .get_or_create(&StatusLabel {
                        status: status.into(),
                    })
                    .inc_by(n as u64);
            }
            self.new_posts.inc_by(s.new_posts.len() as u64);
        }
        self.last_run_seconds.set(took.as_secs_f64());
        if outcome == Outcome::Ok {
            let now = chrono::Utc::now().timestamp();
            self.last_success.set(now);
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out
    }
}
