//! The contract every state backend fulfils ([`StateStore`]) and the one type
//! the rest of the crate holds ([`Store`]): an enum with a variant per
//! backend whose methods forward to the trait. An enum rather than a
//! `Box<dyn …>` because the trait's methods return `impl Future`, which keeps
//! them `Send` for the tokio tasks that hold a store across `.await`s but
//! makes the trait unusable as a trait object.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use super::{
    Announcement, Claimed, DeliveryRow, DisabledSubscriber, Gauges, HistoryFilter, RunGuard,
    SeenPost, SentDelivery, Settlement, StateError,
};
use crate::config::StateLocation;

/// What postbode asks of a state database. Every method works on one blog's
/// rows (by name) or on one delivery (by id); ids are unique across blogs.
/// Times are passed in (`now`) so that tests, and a daemon's schedule,
/// control the clock.
pub trait StateStore: Send + Sync {
    /// Closes the connections; dropping the store also closes them, just not
    /// before this returns (SQLite checkpoints its write-ahead log here).
    fn close(&self) -> impl Future<Output = ()> + Send;

    /// Takes the blog's run lock, waiting up to `wait` for a live holder to
    /// let go (then `StateError::Locked`); a dead holder's lock is taken over
    /// at once and its run marked abandoned. Records the run.
    fn begin_run(
        &self,
        blog: &str,
        now: DateTime<Utc>,
        wait: Duration,
    ) -> impl Future<Output = Result<RunGuard, StateError>> + Send;

    /// Tells other runs that this one is alive, and renews the leases of
    /// the deliveries it claimed to `now + lease`: a run keeps what it is
    /// sending for as long as it lives. Fails with `LockLost` when another
    /// run has taken the lock over (or, on a server, this run's session
    /// ended).
    fn heartbeat(
        &self,
        run: &RunGuard,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> impl Future<Output = Result<(), StateError>> + Send;

    /// Releases the lock (unless another run took it over) and stores the
    /// run's summary (JSON).
    fn finish_run(
        &self,
        run: RunGuard,
        now: DateTime<Utc>,
        summary_json: &str,
    ) -> impl Future<Output = Result<(), StateError>> + Send;

    /// Whether any post was ever recorded for this blog (if not, this is a
    /// first run, which announces nothing).
    fn has_history(&self, blog: &str) -> impl Future<Output = Result<bool, StateError>> + Send;

    /// Every recorded post of the blog, by key.
    fn seen_posts(
        &self,
        blog: &str,
    ) -> impl Future<Output = Result<Vec<SeenPost>, StateError>> + Send;

    /// In one transaction: records `seen` posts (see `SeenPost::announced`),
    /// marks `announce`d posts announced and inserts their deliveries, each
    /// at most once per (post, subscriber, channel). Returns how many
    /// deliveries were new.
    fn record(
        &self,
        blog: &str,
        now: DateTime<Utc>,
        seen: &[SeenPost],
        announce: &[Announcement],
    ) -> impl Future<Output = Result<usize, StateError>> + Send;

    /// Leases up to `limit` due deliveries to `run`, by id: pending or
    /// retrying rows whose next attempt and hold time have come, and rows
    /// still `sending` whose lease expired or whose run no longer holds the
    /// lock (it died mid-send; the receiver drops the duplicate by id).
    /// Each claim counts an attempt. Fails with `LockLost` when `run` no
    /// longer holds the blog's lock.
    fn claim_due(
        &self,
        blog: &str,
        run: &RunGuard,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Claimed>, StateError>> + Send;

    /// Settles a delivery as sent; `NoSuchDelivery` for an unknown id.
    fn mark_sent(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StateError>> + Send;

    /// Many sent deliveries in one transaction: a fast sender would
    /// otherwise spend its time committing one row at a time.
    fn mark_sent_many(
        &self,
        ids: &[i64],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StateError>> + Send;

    /// A failed attempt: `retrying` at `next_attempt_at` (none: due at
    /// `now`), or `dead` for good. Keeps the first `MAX_ERROR_CHARS`
    /// characters of the error.
    fn mark_failed(
        &self,
        id: i64,
        now: DateTime<Utc>,
        error: &str,
        next_attempt_at: Option<DateTime<Utc>>,
        dead: bool,
    ) -> impl Future<Output = Result<(), StateError>> + Send;

    /// Records many outcomes in one transaction, all or none: each as
    /// `mark_sent`, `mark_failed` or `release` would. Unknown ids are
    /// skipped (a row `retry` or a digest merge touched meanwhile).
    fn settle(
        &self,
        outcomes: &[Settlement],
    ) -> impl Future<Output = Result<(), StateError>> + Send;

    /// Gives a claimed row back as if it had not been claimed (shutdown):
    /// due at once, the attempt not counted. Rows not `sending` are left alone.
    fn release(&self, id: i64) -> impl Future<Output = Result<(), StateError>> + Send;

    /// Switches a subscriber off (the first reason is kept) and marks its
    /// waiting deliveries dead, so later runs do not send to a receiver that
    /// said it is gone. Rows being sent right now are the caller's to settle.
    fn disable_subscriber(
        &self,
        blog: &str,
        subscriber: &str,
        now: DateTime<Utc>,
        reason: &str,
    ) -> impl Future<Output = Result<(), StateError>> + Send;

    /// (subscriber, reason) pairs, by subscriber.
    fn disabled_subscribers(
        &self,
        blog: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, StateError>> + Send;

    /// Deliveries not sent (pending, sending, retrying, dead), oldest first.
    fn open_deliveries(
        &self,
        blog: &str,
    ) -> impl Future<Output = Result<Vec<DeliveryRow>, StateError>> + Send;

    /// Deliveries per status; every status is present, zero or not.
    fn counts(
        &self,
        blog: &str,
    ) -> impl Future<Output = Result<BTreeMap<String, u64>, StateError>> + Send;

    /// `retry --dead`: dead deliveries pending again, due now, with a fresh
    /// attempt count (the old one kept as `previous_attempts`, the last
    /// error kept). Returns how many.
    fn retry_dead(
        &self,
        blog: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StateError>> + Send;

    /// `retry --now`: retrying deliveries due at `now` instead of at the
    /// end of their backoff; one (`id`) or all of the blog's. Returns how
    /// many moved. For an id: `NoSuchDelivery` when the blog has no such
    /// delivery, `NotWaiting` when it is not retrying.
    fn retry_now(
        &self,
        blog: &str,
        id: Option<i64>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StateError>> + Send;

    /// What was sent, newest first (`history`).
    fn history(
        &self,
        blog: &str,
        filter: &HistoryFilter,
    ) -> impl Future<Output = Result<Vec<SentDelivery>, StateError>> + Send;

    /// Deliveries by status (held digests apart) and disabled subscribers,
    /// for the daemon's gauges.
    fn gauges(
        &self,
        blog: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Gauges, StateError>> + Send;

    /// Digests: the subscriber's pending rows that wait for a hold time, due
    /// or not, by id. Not claimed: the caller merges them with `merge_into`.
    fn held_for(
        &self,
        blog: &str,
        subscriber: &str,
    ) -> impl Future<Output = Result<Vec<Claimed>, StateError>> + Send;

    /// Digests: `keep` carries `payload` (the merged message) from now on;
    /// the `merged` rows, which must be pending rows of the same blog and
    /// subscriber, are settled as `sent` with last_error
    /// "merged into digest #<keep>" and no sent_at (they were not sent on
    /// their own). All or nothing: otherwise `Invalid`, and nothing changes.
    fn merge_into(
        &self,
        keep: i64,
        merged: &[i64],
        payload: &str,
    ) -> impl Future<Output = Result<(), StateError>> + Send;

    /// Disabled subscribers with since when, why and the fingerprint of
    /// the target they were disabled with, for `status` and re-enabling.
    fn disabled_subscriber_rows(
        &self,
        blog: &str,
    ) -> impl Future<Output = Result<Vec<DisabledSubscriber>, StateError>> + Send;

    /// Remembers the target fingerprint (subscriber id, SHA-256 hex) of
    /// disabled subscribers whose fingerprint is not known yet; others are
    /// left alone. Returns how many were noted.
    fn note_disabled_targets(
        &self,
        blog: &str,
        targets: &[(String, String)],
    ) -> impl Future<Output = Result<u64, StateError>> + Send;

    /// Switches a disabled subscriber back on (its dead deliveries stay
    /// dead: `retry_dead` revives those). Whether it was disabled.
    fn enable_subscriber(
        &self,
        blog: &str,
        subscriber: &str,
    ) -> impl Future<Output = Result<bool, StateError>> + Send;

    /// `retry --dead`: every disabled subscriber of the blog back on.
    /// Returns how many.
    fn enable_all_subscribers(
        &self,
        blog: &str,
    ) -> impl Future<Output = Result<u64, StateError>> + Send;
}

/// The state database, whichever backend holds it. Cheap to clone: clones
/// share one connection pool.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// Forwards a call to the backend of `$store`; a new backend is one more arm.
macro_rules! dispatch {
    ($store:expr, $backend:ident => $call:expr) => {
        match $store {
            Store::Sqlite($backend) => $call,
            Store::Postgres($backend) => $call,
        }
    };
}

impl Store {
    /// Opens (creating the folder and the file when missing) and migrates.
    pub async fn open(at: &StateLocation) -> Result<Store, StateError> {
        match at {
            StateLocation::File(path) => SqliteStore::open(path).await.map(Store::Sqlite),
            StateLocation::Postgres(url) => PgStore::open(url).await.map(Store::Postgres),
        }
    }

    /// Opens an existing state for reading only, for `--dry-run`: nothing is
    /// created, migrated or written. `None` when there is no state yet (a
    /// first run).
    pub async fn open_read_only(at: &StateLocation) -> Result<Option<Store>, StateError> {
        Ok(match at {
            StateLocation::File(path) => {
                SqliteStore::open_read_only(path).await?.map(Store::Sqlite)
            }
            StateLocation::Postgres(url) => {
                PgStore::open_read_only(url).await?.map(Store::Postgres)
            }
        })
    }

    /// For `run`, `notify` and the daemon: opens the state, creating it only
    /// on a real first run, or when `new_state` says to start over. A state
    /// file that existed (its marker `<state>.id` is there, or this process
    /// opened it) and is now missing or empty is `StateError::Lost`; a file
    /// that is not a postbode state is `StateError::Foreign`. A database
    /// server keeps its own data safe (backups, replicas): it is opened and
    /// migrated.
    pub async fn open_for_run(at: &StateLocation, new_state: bool) -> Result<Store, StateError> {
        match at {
            StateLocation::File(path) => SqliteStore::open_for_run(path, new_state)
                .await
                .map(Store::Sqlite),
            StateLocation::Postgres(url) => PgStore::open(url).await.map(Store::Postgres),
        }
    }

    /// For `status` and `retry`: an existing state, never a new one
    /// (`StateError::Missing` when there is none, `Lost` when it vanished).
    pub async fn open_existing(at: &StateLocation) -> Result<Store, StateError> {
        match at {
            StateLocation::File(path) => SqliteStore::open_existing(path).await.map(Store::Sqlite),
            StateLocation::Postgres(url) => PgStore::open_existing(url).await.map(Store::Postgres),
        }
    }

    /// For `notify --dry-run`: the state read-only (`None` on a real first
    /// run), with the same `Lost`/`Foreign` errors as `open_for_run`.
    pub async fn open_for_dry_run(
        at: &StateLocation,
        new_state: bool,
    ) -> Result<Option<Store>, StateError> {
        Ok(match at {
            StateLocation::File(path) => SqliteStore::open_for_dry_run(path, new_state)
                .await?
                .map(Store::Sqlite),
            StateLocation::Postgres(url) => {
                PgStore::open_read_only(url).await?.map(Store::Postgres)
            }
        })
    }

    /// Whether runs of one blog work at once and share its outbox (a
    /// server database), rather than one at a time (an SQLite file).
    pub fn shares_runs(&self) -> bool {
        matches!(self, Store::Postgres(_))
    }

    /// Blog names as their deliveries are planned by any worker, where the
    /// backend can tell (PostgreSQL's `LISTEN`); `None` for SQLite, whose
    /// only writers are this machine's runs.
    pub async fn planned(&self) -> Result<Option<tokio::sync::mpsc::Receiver<String>>, StateError> {
        match self {
            Store::Sqlite(_) => Ok(None),
            Store::Postgres(pg) => pg.planned().await.map(Some),
        }
    }

    /// See [`StateStore::disabled_subscriber_rows`].
    pub async fn disabled_subscriber_rows(
        &self,
        blog: &str,
    ) -> Result<Vec<DisabledSubscriber>, StateError> {
        dispatch!(self, s => s.disabled_subscriber_rows(blog).await)
    }

    /// See [`StateStore::note_disabled_targets`].
    pub async fn note_disabled_targets(
        &self,
        blog: &str,
        targets: &[(String, String)],
    ) -> Result<u64, StateError> {
        dispatch!(self, s => s.note_disabled_targets(blog, targets).await)
    }

    /// See [`StateStore::enable_subscriber`].
    pub async fn enable_subscriber(
        &self,
        blog: &str,
        subscriber: &str,
    ) -> Result<bool, StateError> {
        dispatch!(self, s => s.enable_subscriber(blog, subscriber).await)
    }

    /// See [`StateStore::enable_all_subscribers`].
    pub async fn enable_all_subscribers(&self, blog: &str) -> Result<u64, StateError> {
        dispatch!(self, s => s.enable_all_subscribers(blog).await)
    }

    /// See [`StateStore::close`].
    pub async fn close(&self) {
        dispatch!(self, s => s.close().await)
    }

    /// See [`StateStore::begin_run`].
    pub async fn begin_run(
        &self,
        blog: &str,
        now: DateTime<Utc>,
        wait: Duration,
    ) -> Result<RunGuard, StateError> {
        dispatch!(self, s => s.begin_run(blog, now, wait).await)
    }

    /// See [`StateStore::heartbeat`].
    pub async fn heartbeat(
        &self,
        run: &RunGuard,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<(), StateError> {
        dispatch!(self, s => s.heartbeat(run, now, lease).await)
    }

    /// See [`StateStore::finish_run`].
    pub async fn finish_run(
        &self,
        run: RunGuard,
        now: DateTime<Utc>,
        summary_json: &str,
    ) -> Result<(), StateError> {
        dispatch!(self, s => s.finish_run(run, now, summary_json).await)
    }

    /// See [`StateStore::has_history`].
    pub async fn has_history(&self, blog: &str) -> Result<bool, StateError> {
        dispatch!(self, s => s.has_history(blog).await)
    }

    /// See [`StateStore::seen_posts`].
    pub async fn seen_posts(&self, blog: &str) -> Result<Vec<SeenPost>, StateError> {
        dispatch!(self, s => s.seen_posts(blog).await)
    }

    /// See [`StateStore::record`].
    pub async fn record(
        &self,
        blog: &str,
        now: DateTime<Utc>,
        seen: &[SeenPost],
        announce: &[Announcement],
    ) -> Result<usize, StateError> {
        dispatch!(self, s => s.record(blog, now, seen, announce).await)
    }

    /// See [`StateStore::claim_due`].
    pub async fn claim_due(
        &self,
        blog: &str,
        run: &RunGuard,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Claimed>, StateError> {
        dispatch!(self, s => s.claim_due(blog, run, now, lease, limit).await)
    }

    /// See [`StateStore::mark_sent`].
    pub async fn mark_sent(&self, id: i64, now: DateTime<Utc>) -> Result<(), StateError> {
        dispatch!(self, s => s.mark_sent(id, now).await)
    }

    /// See [`StateStore::mark_sent_many`].
    pub async fn mark_sent_many(&self, ids: &[i64], now: DateTime<Utc>) -> Result<(), StateError> {
        dispatch!(self, s => s.mark_sent_many(ids, now).await)
    }

    /// See [`StateStore::mark_failed`].
    pub async fn mark_failed(
        &self,
        id: i64,
        now: DateTime<Utc>,
        error: &str,
        next_attempt_at: Option<DateTime<Utc>>,
        dead: bool,
    ) -> Result<(), StateError> {
        dispatch!(self, s => s.mark_failed(id, now, error, next_attempt_at, dead).await)
    }

    /// See [`StateStore::settle`].
    pub async fn settle(&self, outcomes: &[Settlement]) -> Result<(), StateError> {
        dispatch!(self, s => s.settle(outcomes).await)
    }

    /// See [`StateStore::release`].
    pub async fn release(&self, id: i64) -> Result<(), StateError> {
        dispatch!(self, s => s.release(id).await)
    }

    /// See [`StateStore::disable_subscriber`].
    pub async fn disable_subscriber(
        &self,
        blog: &str,
        subscriber: &str,
        now: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), StateError> {
        dispatch!(self, s => s.disable_subscriber(blog, subscriber, now, reason).await)
    }

    /// See [`StateStore::disabled_subscribers`].
    pub async fn disabled_subscribers(
        &self,
        blog: &str,
    ) -> Result<Vec<(String, String)>, StateError> {
        dispatch!(self, s => s.disabled_subscribers(blog).await)
    }

    /// See [`StateStore::open_deliveries`].
    pub async fn open_deliveries(&self, blog: &str) -> Result<Vec<DeliveryRow>, StateError> {
        dispatch!(self, s => s.open_deliveries(blog).await)
    }

    /// See [`StateStore::counts`].
    pub async fn counts(&self, blog: &str) -> Result<BTreeMap<String, u64>, StateError> {
        dispatch!(self, s => s.counts(blog).await)
    }

    /// See [`StateStore::retry_dead`].
    pub async fn retry_dead(&self, blog: &str, now: DateTime<Utc>) -> Result<u64, StateError> {
        dispatch!(self, s => s.retry_dead(blog, now).await)
    }

    /// See [`StateStore::retry_now`].
    pub async fn retry_now(
        &self,
        blog: &str,
        id: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<u64, StateError> {
        dispatch!(self, s => s.retry_now(blog, id, now).await)
    }

    /// See [`StateStore::history`].
    pub async fn history(
        &self,
        blog: &str,
        filter: &HistoryFilter,
    ) -> Result<Vec<SentDelivery>, StateError> {
        dispatch!(self, s => s.history(blog, filter).await)
    }

    /// See [`StateStore::gauges`].
    pub async fn gauges(&self, blog: &str, now: DateTime<Utc>) -> Result<Gauges, StateError> {
        dispatch!(self, s => s.gauges(blog, now).await)
    }

    /// See [`StateStore::held_for`].
    pub async fn held_for(&self, blog: &str, subscriber: &str) -> Result<Vec<Claimed>, StateError> {
        dispatch!(self, s => s.held_for(blog, subscriber).await)
    }

    /// See [`StateStore::merge_into`].
    pub async fn merge_into(
        &self,
        keep: i64,
        merged: &[i64],
        payload: &str,
    ) -> Result<(), StateError> {
        dispatch!(self, s => s.merge_into(keep, merged, payload).await)
    }
}
