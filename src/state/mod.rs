//! What postbode must remember between runs, per blog: the posts it has seen
//! and announced, the outbox of deliveries (one row per post, subscriber and
//! channel), the runs, and the run lock that keeps two runs of one blog from
//! sending at the same time. All SQL lives below this module; the types here
//! carry no database types, so a PostgreSQL backend can sit beside
//! `sqlite.rs` without the callers noticing.
//!
//! The outbox follows the `sqlxmq` shape (see STYLE.md): deliveries are
//! inserted with "insert or ignore" in the transaction that marks the post
//! announced, and a worker claims due rows by updating them (lease, attempts
//! + 1) instead of holding a transaction open while it sends.

mod lock;
mod sqlite;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};

pub use sqlite::Store;

/// The database's file name, beside the feed definitions.
pub const DEFAULT_FILE_NAME: &str = "state.db";

/// Where the state of the blog defined in `definition` lives by default:
/// `feeds/example.toml` -> `feeds/state.db`, shared by every blog in the folder.
pub fn default_path(definition: &Path) -> PathBuf {
    definition.with_file_name(DEFAULT_FILE_NAME)
}

/// Database failures, each naming the database file.
#[derive(thiserror::Error, Debug)]
pub enum StateError {
    #[error("{path}: cannot create the state database's folder: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: cannot open the state database: {source}")]
    Open { path: PathBuf, source: BoxError },
    #[error("{path}: cannot migrate the state database: {source}")]
    Migrate { path: PathBuf, source: BoxError },
    #[error("{path}: {what}: {source}")]
    Query {
        path: PathBuf,
        what: &'static str,
        source: BoxError,
    },
    /// Another live run holds the blog's lock and did not let go in time.
    #[error("{path}: blog {blog} is busy: locked by {holder}")]
    Locked {
        path: PathBuf,
        blog: String,
        holder: String,
    },
    /// This run's lock was taken over (it looked dead to another run): stop
    /// sending, the other run owns the outbox now.
    #[error("{path}: run #{run_id} no longer holds the lock of blog {blog}")]
    LockLost {
        path: PathBuf,
        blog: String,
        run_id: i64,
    },
    #[error("{path}: delivery #{id} does not exist")]
    NoSuchDelivery { path: PathBuf, id: i64 },
    /// A stored value or an argument that makes no sense (an unreadable
    /// timestamp, a digest merging rows that are not pending).
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Database errors are boxed so that no backend's error type shows in the API.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A post as the database remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenPost {
    pub key: String,
    pub permalink: String,
    pub title: String,
    /// Passed to `record`: true marks the post announced without deliveries
    /// (first run), false records it as seen, not published (drafts). Read
    /// back from `seen_posts`: whether it was ever announced.
    pub announced: bool,
}

/// A newly published post and the deliveries planned for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    pub key: String,
    pub permalink: String,
    pub title: String,
    pub published_at: DateTime<Utc>,
    pub deliveries: Vec<NewDelivery>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub subscriber: String,
    /// "email" or "webhook".
    pub channel: String,
    /// JSON of `notify::Payload`, frozen when planned.
    pub payload: String,
    /// Digests: not due before this time.
    pub hold_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeliveryStatus {
    Pending,
    /// Claimed by a run (leased); back to due when the lease expires or the
    /// run dies.
    Sending,
    Retrying,
    Sent,
    Dead,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 5] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Sending,
        DeliveryStatus::Retrying,
        DeliveryStatus::Sent,
        DeliveryStatus::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Retrying => "retrying",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Dead => "dead",
        }
    }
}

impl std::fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DeliveryStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeliveryStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown delivery status {s:?}"))
    }
}

/// A delivery handed to a sender. `id` is the message's identity on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub id: i64,
    pub subscriber: String,
    pub channel: String,
    pub payload: String,
    /// Including the attempt this claim starts.
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    /// Digests: not to be sent before this.
    pub hold_until: Option<DateTime<Utc>>,
}

/// A delivery as `postbode status` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRow {
    pub id: i64,
    pub post_key: String,
    pub subscriber: String,
    pub channel: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// Proof that this run holds its blog's lock. Give it back with
/// `Store::finish_run`. Dropping it without finishing (an error path, a
/// panic) lets the next run in this process take the lock over at once; a
/// guard leaked by a process that died is recognised by its dead pid.
#[derive(Debug)]
pub struct RunGuard {
    pub run_id: i64,
    blog: String,
    _live: lock::LiveRun,
}

impl RunGuard {
    pub fn blog(&self) -> &str {
        &self.blog
    }
}

/// A holder on another host counts as alive while its heartbeat is younger
/// than this; call `Store::heartbeat` well within it (every 30 s, say).
pub const HEARTBEAT_STALE_AFTER: Duration = Duration::from_secs(120);

/// Longest error text kept per delivery: enough for an SMTP reply or the
/// start of an HTTP error body, not a whole HTML error page.
pub const MAX_ERROR_CHARS: usize = 2000;

const BACKOFF_BASE: Duration = Duration::from_secs(60);
const BACKOFF_CAP: Duration = Duration::from_secs(6 * 3600);

/// Delay before the next attempt after `attempts` failed ones: 1 min, 2 min,
/// 4 min, ... capped at 6 h, then spread by ±20 % so that deliveries which
/// failed together (a receiver down) do not all come back in the same second.
/// The cap applies before the jitter: a capped delay lies in 4.8–7.2 h.
pub fn backoff(attempts: u32) -> Duration {
    backoff_with(attempts, fastrand::f64())
}

/// `backoff` with the random draw (`unit` in [0, 1)) passed in, for tests.
fn backoff_with(attempts: u32, unit: f64) -> Duration {
    // attempts 0 and 1 both wait the base; 2^20 minutes is far past the cap,
    // and stopping there keeps the multiplication from overflowing.
    let doublings = attempts.saturating_sub(1).min(20);
    let nominal = BACKOFF_BASE.saturating_mul(1 << doublings).min(BACKOFF_CAP);
    nominal.mul_f64(0.8 + 0.4 * unit.clamp(0.0, 1.0))
}

/// Timestamps in the database: fixed-width RFC 3339 in UTC, so that text
/// order is time order.
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `t + d`, saturating at the end of year 9999 so the result still formats
/// as a four-digit year (and so still sorts as text).
fn after(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    let last =
        DateTime::<Utc>::from_timestamp(253_402_300_799, 0).unwrap_or(DateTime::<Utc>::MAX_UTC);
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .map_or(last, |t| t.min(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_minute_and_stops_at_six_hours() {
        let minutes = |attempts| backoff_with(attempts, 0.5).as_secs() / 60;
        assert_eq!(minutes(0), 1);
        assert_eq!(minutes(1), 1);
        assert_eq!(minutes(2), 2);
        assert_eq!(minutes(3), 4);
        assert_eq!(minutes(9), 256);
        assert_eq!(minutes(10), 360);
        assert_eq!(minutes(u32::MAX), 360);
    }

    #[test]
    fn backoff_jitter_stays_within_twenty_percent() {
        assert_eq!(backoff_with(1, 0.0), Duration::from_secs(48));
        assert_eq!(backoff_with(1, 1.0), Duration::from_secs(72));
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..1000 {
            let d = backoff(3);
            assert!(
                d >= Duration::from_secs(192) && d <= Duration::from_secs(288),
                "{d:?}"
            );
            seen.insert(d);
            let capped = backoff(40);
            assert!(
                capped >= Duration::from_secs(17_280) && capped <= Duration::from_secs(25_920),
                "{capped:?}"
            );
        }
        assert!(seen.len() > 100, "the jitter should vary: {seen:?}");
    }

    #[test]
    fn timestamps_sort_as_text_in_time_order() {
        let a = DateTime::parse_from_rfc3339("2025-07-15T08:00:00Z")
            .unwrap()
            .to_utc();
        let b = a + TimeDelta::microseconds(1);
        let c = a + TimeDelta::days(4000);
        assert!(ts(a) < ts(b) && ts(b) < ts(c));
        assert_eq!(ts(a), "2025-07-15T08:00:00.000000Z");
        assert_eq!(ts(after(a, Duration::MAX)), "9999-12-31T23:59:59.000000Z");
    }

    #[test]
    fn delivery_statuses_read_back_what_they_write() {
        for status in DeliveryStatus::ALL {
            assert_eq!(status.as_str().parse::<DeliveryStatus>(), Ok(status));
        }
        assert!("lost".parse::<DeliveryStatus>().is_err());
    }
}
