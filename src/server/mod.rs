//! `postbode daemon`: the scheduled run in a loop, for hosts without cron.
//! It stops claiming work on SIGTERM/SIGINT, lets the delivery in flight
//! finish, records state and exits 0. With `--listen` it serves `/healthz`
//! and Prometheus `/metrics` on a small HTTP endpoint.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cli::Outcome;
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
        let name = match outcome {
            Outcome::Ok => "ok",
            Outcome::Problems => "problems",
            Outcome::Fatal => "fatal",
        };
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

    fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Sets `stop` on SIGTERM or SIGINT (a thread with its own small runtime,
/// so the runs themselves stay synchronous).
pub fn stop_on_signals(stop: Arc<AtomicBool>) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            rt.block_on(async {
                let mut term =
                    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::error!("cannot listen for SIGTERM: {e}");
                            return;
                        }
                    };
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
                tracing::info!("stopping: finishing what is in flight");
                stop.store(true, Ordering::SeqCst);
            });
        })?;
    Ok(())
}

/// Serves `/healthz` and `/metrics` until the process ends.
pub fn serve(listen: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind(listen))?;
    tracing::info!(%listen, "serving /healthz and /metrics");
    std::thread::Builder::new().name("metrics".into()).spawn(move || {
        rt.block_on(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    continue;
                };
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    // Read up to the end of the headers: a request may
                    // arrive in several segments.
                    let mut buf = Vec::with_capacity(1024);
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
                        match tokio::time::timeout(Duration::from_secs(5), socket.read(&mut chunk)).await {
                            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
                            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let n = buf.len();
                    let request = String::from_utf8_lossy(&buf[..n]);
                    let path = request.split_whitespace().nth(1).unwrap_or("/");
                    let (status, ctype, body) = match path {
                        "/healthz" => ("200 OK", "text/plain", "ok\n".to_string()),
                        "/metrics" => (
                            "200 OK",
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            metrics.encode(),
                        ),
                        _ => ("404 Not Found", "text/plain", "not found\n".to_string()),
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
    })?;
    Ok(())
}

/// Sleeps until `deadline`, waking early when `stop` is set.
pub fn sleep_until(deadline: Instant, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(100)));
    }
}
