//! What `/metrics` reports, in the Prometheus text format: what this
//! process did (counters: runs by outcome, deliveries by what happened,
//! posts announced; the last run's duration and the time of the last run
//! without problems), and what the state holds (gauges, per blog:
//! deliveries by status, disabled subscribers). The gauges are read from
//! the state at scrape time, not counted along, so they are right in every
//! replica that shares a state, after a restart, and for runs and
//! `retry`s that other processes did.

use crate::config::StateLocation;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::diag::Outcome;
use crate::notify::Summary;
use crate::state::Store;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BlogStatusLabel {
    blog: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BlogLabel {
    blog: String,
}

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
    /// The blogs whose state the gauges read: name -> state file.
    watched: Mutex<BTreeMap<String, StateLocation>>,
    outbox: Family<BlogStatusLabel, Gauge>,
    disabled: Family<BlogLabel, Gauge>,
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
        let outbox = Family::<BlogStatusLabel, Gauge>::default();
        let disabled = Family::<BlogLabel, Gauge>::default();
        registry.register(
            "outbox_deliveries",
            "Deliveries in the state by status (pending, held for a digest, sending, \
             retrying, sent, dead), read at scrape time",
            outbox.clone(),
        );
        registry.register(
            "disabled_subscribers",
            "Subscribers switched off (HTTP 410 or by hand), read at scrape time",
            disabled.clone(),
        );
        Metrics {
            watched: Mutex::new(BTreeMap::new()),
            outbox,
            disabled,
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

    /// Reads this blog's state for the gauges from now on.
    pub fn watch(&self, blog: &str, state: &StateLocation) {
        let mut watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        if watched.get(blog).is_none_or(|p| p != state) {
            watched.insert(blog.to_string(), state.clone());
        }
    }

    /// Sets the gauges from each watched state as it is now. A state that
    /// cannot be read (missing, locked past the busy timeout) keeps its last
    /// values and is logged: the run's own error says more.
    pub async fn read_states(&self, now: chrono::DateTime<chrono::Utc>) {
        let watched: Vec<(String, StateLocation)> = self
            .watched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(b, p)| (b.clone(), p.clone()))
            .collect();
        for (blog, path) in watched {
            let read = async {
                let store = Store::open_existing(&path).await?;
                let gauges = store.gauges(&blog, now).await;
                store.close().await;
                gauges
            };
            match read.await {
                Ok(g) => {
                    for (status, n) in &g.deliveries {
                        let label = BlogStatusLabel {
                            blog: blog.clone(),
                            status: (*status).to_string(),
                        };
                        self.outbox
                            .get_or_create(&label)
                            .set(i64::try_from(*n).unwrap_or(i64::MAX));
                    }
                    self.disabled
                        .get_or_create(&BlogLabel { blog: blog.clone() })
                        .set(i64::try_from(g.disabled_subscribers).unwrap_or(i64::MAX));
                }
                Err(e) => tracing::warn!(blog, "metrics: cannot read the state: {e}"),
            }
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
