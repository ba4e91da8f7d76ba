//! How a `notify` run behaves: the defaults suit a scheduled run, a feed
//! definition's `[delivery]` table adjusts them per blog, and the caller can
//! pass a progress hook (the CLI draws a bar with it; notify prints nothing).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::config::BlogConfig;

#[derive(Debug, Clone)]
pub struct Options {
    /// Plan only: read the state if there is one, touch nothing on disk,
    /// connect to nobody; `Summary::would_send` says what a run would send.
    pub dry_run: bool,
    pub backfill_since: Option<DateTime<Utc>>,
    /// How long to wait for another run holding the lock.
    pub lock_wait: Duration,
    /// Transient failures older than this become dead.
    pub max_age: TimeDelta,
    pub webhook_concurrency: usize,
    pub per_host_concurrency: usize,
    pub webhook_timeout: Duration,
    /// Attempts before a delivery is given up.
    pub max_attempts: u32,
    /// Start over when the state that existed is missing or empty
    /// (`--new-state`); without it that is an error, not a first run.
    pub new_state: bool,
    /// Set on SIGTERM/SIGINT (`run`, `notify`, `daemon`): claim no more
    /// work, send nothing new (also within a batch), record what is in
    /// flight and return.
    pub stop: Option<Arc<AtomicBool>>,
    /// The one clock of a run: `--now` when given, for everything a run
    /// dates (records, webhook timestamps, `Retry-After` dates).
    pub clock: Clock,
    /// Extra CA certificate for SMTP TLS (tests, private relays).
    pub smtp_ca_file: Option<PathBuf>,
    /// Told how many deliveries are done out of how many claimed so far.
    pub progress: Option<ProgressHook>,
    /// Send what is due without reading the blog or planning (a daemon
    /// woken because another worker planned deliveries).
    pub send_only: bool,
}

/// Where a run reads the time: the real clock, or a fixed instant
/// (`--now`, for tests and reproducible runs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Clock {
    #[default]
    Real,
    Fixed(DateTime<Utc>),
}

impl Clock {
    /// `--now` when given, the real clock otherwise.
    pub fn from_fixed(fixed: Option<DateTime<Utc>>) -> Clock {
        fixed.map_or(Clock::Real, Clock::Fixed)
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::Real => Utc::now(),
            Clock::Fixed(t) => *t,
        }
    }
}

/// Deliveries done out of those claimed so far in this run (the total grows
/// as batches are claimed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// A callback for [`Progress`], called from the send loop: keep it cheap.
#[derive(Clone)]
pub struct ProgressHook(Arc<dyn Fn(Progress) + Send + Sync>);

impl ProgressHook {
    pub fn new(f: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        ProgressHook(Arc::new(f))
    }

    pub(crate) fn report(&self, progress: Progress) {
        (self.0)(progress);
    }
}

impl fmt::Debug for ProgressHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProgressHook")
    }
}

impl Options {
    /// The defaults, with what the feed definition's `[delivery]` says.
    pub fn for_blog(config: &BlogConfig, base: &Options) -> Options {
        let d = &config.delivery;
        Options {
            max_age: d
                .max_age_hours
                .map_or(base.max_age, |h| TimeDelta::hours(i64::from(h))),
            max_attempts: d.max_attempts.unwrap_or(base.max_attempts),
            webhook_concurrency: d.webhook_concurrency.unwrap_or(base.webhook_concurrency),
            per_host_concurrency: d.per_host_concurrency.unwrap_or(base.per_host_concurrency),
            webhook_timeout: d
                .webhook_timeout_seconds
                .map_or(base.webhook_timeout, Duration::from_secs),
            lock_wait: d
                .lock_wait_seconds
                .map_or(base.lock_wait, Duration::from_secs),
            ..base.clone()
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dry_run: false,
            backfill_since: None,
            lock_wait: Duration::from_secs(60),
            max_age: TimeDelta::days(3),
            max_attempts: 12,
            webhook_concurrency: 64,
            per_host_concurrency: 16,
            webhook_timeout: Duration::from_secs(15),
            new_state: false,
            stop: None,
            clock: Clock::Real,
            smtp_ca_file: std::env::var_os(crate::notify::email::CA_FILE_ENV).map(Into::into),
            progress: None,
            send_only: false,
        }
    }
}
