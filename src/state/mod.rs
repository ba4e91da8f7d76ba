//! What postbode must remember between runs, per blog: the posts it has seen
//! and announced, the outbox of deliveries (one row per post, subscriber and
//! channel), the runs, and the run lock that keeps two runs of one blog from
//! sending at the same time.
//!
//! The contract is the [`StateStore`] trait (`store.rs`); each database is one
//! implementation of it in its own folder (`sqlite/`). The types here carry
//! no backend's types (the row types derive sqlx's `FromRow`, which is
//! generic over the database), and [`Store`], the name the rest of the crate
//! uses, is an enum with one variant per backend that forwards every call,
//! so the callers never see which database they talk to.
//!
//! The outbox follows the `sqlxmq` shape (see STYLE.md): deliveries are
//! inserted with "insert or ignore" in the transaction that marks the post
//! announced, and a worker claims due rows by updating them (lease, attempts
//! + 1) instead of holding a transaction open while it sends.
//!
//! # Adding a backend (PostgreSQL)
//!
//! 1. A folder beside `sqlite/` (`postgres/`) with a `PgStore` that owns its
//!    pool and its own migrations, and `impl StateStore for PgStore`. Claims
//!    become `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)`, so
//!    workers on several machines never lease the same row; the run lock can
//!    be a session advisory lock held by a connection that the [`RunGuard`]
//!    keeps (its `_hold` field is any `Debug + Send + Sync` value), so a dead
//!    worker's lock goes with its session. Leases then expire by time alone
//!    (`lease_until`), which is what lets several workers share a blog.
//! 2. A variant `Store::Postgres(PgStore)`, one arm in `store.rs`'s
//!    `dispatch!` macro, and a branch in `Store::open` chosen by the location
//!    (a `postgres://` URL instead of a file path).
//! 3. A `TestStore` impl (a fresh database per test) and one `@store` line
//!    in `tests/mod.rs`'s `for_each_store!`: every behaviour is one generic
//!    test body, and each runs against every store.

#[macro_use]
mod backend;
pub mod migrate;
mod payloads;
mod postgres;
mod sqlite;
mod store;
pub mod subscriptions;

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use payloads::{ClaimedRef, distinct_payloads, payload_ids, payload_sha256, with_payloads};
pub use postgres::{PLANNED_CHANNEL, PgStore};
pub use sqlite::SqliteStore;
pub use sqlite::marker_path;
pub use store::{StateStore, Store};

/// Database failures, each naming the database (a file path, or for a
/// server, its address without credentials).
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
    /// A state that existed is gone, empty or unreadable as one: carrying on
    /// would be a first run, which announces nothing (a post published
    /// meanwhile would never be announced).
    #[error(
        "{path}: the state database {why}, but postbode had a state here{evidence}. \
         Restore it from a backup, or start over with --new-state (posts published \
         since the last run will then not be announced)"
    )]
    Lost {
        path: PathBuf,
        why: &'static str,
        /// How we know it existed (" (its marker … is still there)").
        evidence: String,
    },
    /// `status` and `retry` read a state; they never create one.
    #[error(
        "{path}: there is no state database here: no run has recorded this blog yet \
         (or `state`/--state points elsewhere); `postbode run` creates it"
    )]
    Missing { path: PathBuf },
    /// The file is not a postbode state: a wrong `state`/--state path must
    /// not turn someone else's file into one.
    #[error(
        "{path}: this is not a postbode state database ({why}); point `state` or \
         --state at the right file, or move this one away"
    )]
    Foreign { path: PathBuf, why: String },
    #[error("{path}: cannot write the state's marker file: {source}")]
    Marker {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: delivery #{id} does not exist")]
    NoSuchDelivery { path: PathBuf, id: i64 },
    /// `retry --now` on a delivery that is not backing off (pending, sent,
    /// dead, being sent): there is nothing to bring forward.
    #[error(
        "{path}: delivery #{id} is {status}, not waiting for a retry; \
         `retry --now` brings forward only retrying deliveries{hint}"
    )]
    NotWaiting {
        path: PathBuf,
        id: i64,
        status: DeliveryStatus,
        /// What to do instead (" (`retry --dead` puts dead ones back)").
        hint: &'static str,
    },
    /// A stored value or an argument that makes no sense (a status this
    /// version does not know, a digest merging rows that are not pending).
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Database errors are boxed so that no backend's error type shows in the API.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A post as the database remembers it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
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

impl TryFrom<String> for DeliveryStatus {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
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

// The row types below derive `FromRow` generically (for any sqlx database),
// so every backend reads them the same way: statuses are stored as their
// names, attempts as a 64-bit integer.

/// `retry --now ID`: Ok when the delivery (its stored status, `None` when
/// the blog has no such id) is retrying; else why not, and what to do.
fn check_waiting(
    status: Option<String>,
    id: i64,
    path: &std::path::Path,
) -> Result<(), StateError> {
    let path = || path.to_path_buf();
    let status: DeliveryStatus = status
        .ok_or_else(|| StateError::NoSuchDelivery { path: path(), id })?
        .parse()
        .map_err(|message| StateError::Invalid {
            path: path(),
            message,
        })?;
    let hint = match status {
        DeliveryStatus::Retrying => return Ok(()),
        DeliveryStatus::Dead => " (`postbode retry --dead` puts dead ones back)",
        DeliveryStatus::Pending => {
            " (a pending one goes out with the next notify, or when its digest is due)"
        }
        _ => "",
    };
    Err(StateError::NotWaiting {
        path: path(),
        id,
        status,
        hint,
    })
}

/// A subscriber switched off by a receiver (HTTP 410) or by hand, as
/// `postbode status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DisabledSubscriber {
    pub subscriber: String,
    pub disabled_at: DateTime<Utc>,
    pub reason: String,
    /// SHA-256 (hex) of the target it was disabled with; `None` when not
    /// known. See `notify`'s re-enabling of changed targets.
    pub target_sha256: Option<String>,
}

/// A delivery handed to a sender. `id` is the message's identity on the wire.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Claimed {
    pub id: i64,
    pub subscriber: String,
    pub channel: String,
    pub payload: String,
    /// Including the attempt this claim starts.
    #[sqlx(try_from = "i64")]
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    /// Digests: not to be sent before this.
    pub hold_until: Option<DateTime<Utc>>,
}

/// What became of one claimed delivery, for [`StateStore::settle`], which
/// records many at once (group commit: the sender's outcomes are written as
/// soon as they are known, in one transaction per gathering).
#[derive(Debug, Clone, PartialEq)]
pub enum Settlement {
    /// As `mark_sent`.
    Sent { id: i64, at: DateTime<Utc> },
    /// As `mark_failed`.
    Failed {
        id: i64,
        at: DateTime<Utc>,
        error: String,
        next_attempt_at: Option<DateTime<Utc>>,
        dead: bool,
    },
    /// As `release`: given back unsent (shutdown), the attempt not counted.
    Released { id: i64 },
}

impl Settlement {
    pub fn id(&self) -> i64 {
        match self {
            Settlement::Sent { id, .. }
            | Settlement::Failed { id, .. }
            | Settlement::Released { id } => *id,
        }
    }
}

/// A delivery as `postbode status` shows it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: i64,
    pub post_key: String,
    pub subscriber: String,
    pub channel: String,
    #[sqlx(try_from = "String")]
    pub status: DeliveryStatus,
    #[sqlx(try_from = "i64")]
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Digests: not due before this time.
    pub hold_until: Option<DateTime<Utc>>,
    /// Attempts made before `retry --dead` started the delivery over.
    #[sqlx(try_from = "i64")]
    pub previous_attempts: u32,
}

impl DeliveryRow {
    /// Put back by `retry --dead` and not tried since: `last_error` is
    /// the error from before the retry, not a new one.
    pub fn restarted(&self) -> bool {
        self.previous_attempts > 0 && self.attempts == 0
    }
}

/// A delivery that was sent, as `postbode history` shows it: what (the
/// post), when, to whom (the subscriber's id, never its address), over
/// which channel, and the row's id (the message's identity on the wire).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SentDelivery {
    pub id: i64,
    pub post_key: String,
    pub permalink: String,
    pub title: String,
    pub subscriber: String,
    pub channel: String,
    pub sent_at: DateTime<Utc>,
    /// Including the one that succeeded (and any before a `retry --dead`).
    #[sqlx(try_from = "i64")]
    pub attempts: u32,
    /// Sent as part of this digest's message (the row whose id the message
    /// carries), not on its own.
    pub digest_id: Option<i64>,
}

/// Which sent deliveries `history` wants; `None` is "any".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryFilter {
    pub subscriber: Option<String>,
    /// A post's permalink, with or without a trailing slash.
    pub permalink: Option<String>,
    /// Sent at or after this time.
    pub since: Option<DateTime<Utc>>,
}

/// One blog's outbox and subscribers by state, read at one moment, for
/// gauges: every status is present (zero or not), and pending rows held
/// for a digest whose time has not come count as "held", not "pending".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gauges {
    pub deliveries: std::collections::BTreeMap<&'static str, u64>,
    pub disabled_subscribers: u64,
}

/// The status names `Gauges::deliveries` holds: the stored ones and "held".
pub const GAUGE_STATUSES: [&str; 6] = ["pending", "held", "sending", "retrying", "sent", "dead"];

/// What every backend's queries share: errors that name the database.
trait Located {
    /// How messages name the database (a file, or a URL without credentials).
    fn at(&self) -> PathBuf;

    fn err(&self, what: &'static str) -> impl Fn(sqlx::Error) -> StateError + '_ {
        move |e| StateError::Query {
            path: self.at(),
            what,
            source: Box::new(e),
        }
    }

    fn lock_lost(&self, run: &RunGuard) -> StateError {
        StateError::LockLost {
            path: self.at(),
            blog: run.blog.clone(),
            run_id: run.run_id,
        }
    }

    /// `NoSuchDelivery` when an update by id changed no row.
    fn one_row(&self, id: i64, affected: u64) -> Result<(), StateError> {
        if affected == 0 {
            return Err(StateError::NoSuchDelivery {
                path: self.at(),
                id,
            });
        }
        Ok(())
    }
}

/// `counts` from the (status, count) rows a backend read: every status
/// present, zero or not. A status this version does not know (a newer
/// postbode's) is an error rather than counted as another.
fn counts_from(
    rows: Vec<(String, i64)>,
    path: &std::path::Path,
) -> Result<std::collections::BTreeMap<String, u64>, StateError> {
    let mut counts: std::collections::BTreeMap<String, u64> = DeliveryStatus::ALL
        .iter()
        .map(|status| (status.as_str().to_string(), 0))
        .collect();
    for (status, n) in rows {
        let status: DeliveryStatus = status.parse().map_err(|message| StateError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        counts.insert(status.as_str().to_string(), n.max(0).unsigned_abs());
    }
    Ok(counts)
}

/// `gauges` from the (shown status, count) rows and the number of disabled
/// subscribers a backend read.
fn gauges_from(
    rows: Vec<(String, i64)>,
    disabled: i64,
    path: &std::path::Path,
) -> Result<Gauges, StateError> {
    let mut deliveries: std::collections::BTreeMap<&'static str, u64> =
        GAUGE_STATUSES.iter().map(|&s| (s, 0)).collect();
    for (status, n) in rows {
        let known = GAUGE_STATUSES
            .iter()
            .find(|&&s| s == status)
            .ok_or_else(|| StateError::Invalid {
                path: path.to_path_buf(),
                message: format!("unknown delivery status {status:?}"),
            })?;
        deliveries.insert(known, n.max(0).unsigned_abs());
    }
    Ok(Gauges {
        deliveries,
        disabled_subscribers: disabled.max(0).unsigned_abs(),
    })
}

/// Proof that this run holds its blog's lock. Give it back with
/// `finish_run`. Dropping it without finishing (an error path, a panic) must
/// let the next run take the lock over; how a backend notices is its own
/// business (SQLite: this process's list of live runs and the pid in the
/// lock row; a server database: the session that holds the lock).
#[derive(Debug)]
pub struct RunGuard {
    pub run_id: i64,
    blog: String,
    /// Whatever the backend keeps alive for as long as the run holds the
    /// lock; dropped with the guard.
    _hold: Box<dyn std::fmt::Debug + Send + Sync>,
}

/// A run whose liveness only its heartbeat can show (another host) counts as
/// alive while its heartbeat is younger than this; call `heartbeat` well
/// within it (every 30 s, say).
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

/// `t + d`, saturating at the end of year 9999 so the result still formats
/// as a four-digit year (and so still sorts as text).
pub fn after(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    let last =
        DateTime::<Utc>::from_timestamp(253_402_300_799, 0).unwrap_or(DateTime::<Utc>::MAX_UTC);
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .map_or(last, |t| t.min(last))
}

#[cfg(test)]
mod tests;
