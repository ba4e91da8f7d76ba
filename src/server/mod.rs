//! Long-running postbode: the daemon's schedule (a run every interval until
//! SIGTERM/SIGINT) and the HTTP endpoints it serves (`/healthz`,
//! Prometheus `/metrics`). Everything runs on the one tokio runtime `main`
//! builds; nothing here prints: the CLI passes in what one run does.

pub mod http;
pub mod metrics;
pub mod schedule;
pub mod serve;

pub use metrics::Metrics;
pub use schedule::{Health, Stop};
